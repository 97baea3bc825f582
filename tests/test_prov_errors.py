"""Malformed OpenLineage events fail with a BadInputError naming the event and the field."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from prov_common.errors import BadInputError
from prov_common.w3cprov import events_to_document

EVENTS = Path(__file__).parent / "data" / "ol_events"
RUN = "0193c111-2222-7333-8444-555566667777"


def events() -> list[dict]:
    return [json.loads(line) for line in (EVENTS / "tdprov_step.jsonl").read_text().splitlines()]


def _drop(event: dict, path: str) -> None:
    *parents, last = path.split(".")
    for key in parents:
        event = event[key]
    del event[last]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("eventType", "eventType"),
        ("eventTime", "eventTime"),
        ("run.runId", "run.runId"),
        ("run", "run.runId"),
        ("job", "job.namespace"),
        ("job.name", "job.name"),
        ("job.namespace", "job.namespace"),
    ],
)
def test_missing_required_field_names_event_and_field(path: str, field: str) -> None:
    given = events()
    _drop(given[1], path)
    with pytest.raises(BadInputError) as caught:
        events_to_document(given)
    message = str(caught.value)
    assert "event #1" in message and f"'{field}'" in message
    if field != "run.runId":
        assert RUN in message
    assert caught.value.fix


@pytest.mark.parametrize("value", ["yesterday", "2024-13-45T00:00:00Z", 1700000000, ""])
def test_bad_event_time(value) -> None:
    given = events()
    given[0]["eventTime"] = value
    with pytest.raises(BadInputError, match=r"event #0 \(runId .*\): field 'eventTime'"):
        events_to_document(given)


def test_bad_event_type_and_non_object_event() -> None:
    given = events()
    given[0]["eventType"] = "FINISHED"
    with pytest.raises(BadInputError, match="'FINISHED', not one of START"):
        events_to_document(given)
    with pytest.raises(BadInputError, match="event #1 is a list"):
        events_to_document([events()[0], []])


def test_dataset_without_name_is_named_by_position() -> None:
    given = events()
    del given[1]["outputs"][0]["name"]
    with pytest.raises(BadInputError, match=r"event #1 .*'outputs\[0\]\.name'"):
        events_to_document(given)
    given = events()
    given[1]["inputs"] = {"namespace": "x"}
    with pytest.raises(BadInputError, match="'inputs' is not a list"):
        events_to_document(given)


def test_no_events() -> None:
    with pytest.raises(BadInputError, match="no OpenLineage run events"):
        events_to_document([])


def test_optional_parts_may_be_missing() -> None:
    given = events()
    for event in given:
        for key in ("producer", "schemaURL", "inputs", "outputs"):
            event.pop(key, None)
        event["run"].pop("facets")
        event["job"].pop("facets", None)
    doc = events_to_document(given)
    assert len(doc.get_records()) >= 2


def test_timestamps_without_offset_are_utc_and_offsets_normalise() -> None:
    a, b = events(), copy.deepcopy(events())
    b[0]["eventTime"] = "2024-11-05T11:00:00+02:00"
    a[0]["eventTime"] = "2024-11-05T09:00:00"
    assert events_to_document(a) == events_to_document(b)
