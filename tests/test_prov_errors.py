"""Malformed OpenLineage events fail with a BadInputError naming the event and the field."""
from __future__ import annotations

import copy
import json
import re
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
        ("run", "run"),
        ("job", "job"),
        ("producer", "producer"),
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
    if field not in ("run.runId", "run"):
        assert RUN in message
    assert caught.value.fix


@pytest.mark.parametrize("value", ["yesterday", "2024-13-45T00:00:00Z", 1700000000, ""])
def test_bad_event_time(value) -> None:
    given = events()
    given[0]["eventTime"] = value
    with pytest.raises(BadInputError, match=rf"event #0 \(START job .* run {RUN}\): field 'eventTime'"):
        events_to_document(given)


def test_bad_event_type_and_non_object_event() -> None:
    given = events()
    given[0]["eventType"] = "FINISHED"
    with pytest.raises(BadInputError, match="'FINISHED', not one of START"):
        events_to_document(given)
    with pytest.raises(BadInputError, match="event #1 must be a JSON object, got list"):
        events_to_document([events()[0], []])


def test_dataset_without_name_is_named_by_position() -> None:
    given = events()
    del given[1]["outputs"][0]["name"]
    with pytest.raises(BadInputError, match=r"event #1 .*'outputs\.0\.name' is missing"):
        events_to_document(given)
    given = events()
    given[1]["inputs"] = {"namespace": "x"}
    with pytest.raises(BadInputError, match="'inputs' must be a list, got dict"):
        events_to_document(given)


def test_no_events() -> None:
    with pytest.raises(BadInputError, match="no OpenLineage run events"):
        events_to_document([])


def test_optional_parts_may_be_missing() -> None:
    given = events()
    for event in given:
        for key in ("schemaURL", "inputs", "outputs"):
            event.pop(key, None)
        event["run"].pop("facets")
        event["job"].pop("facets", None)
    doc = events_to_document(given)
    assert len(doc.get_records()) >= 2


def test_offsets_normalise_and_times_without_offset_are_refused_except_in_sealed_bundles() -> None:
    a, b, c = events(), copy.deepcopy(events()), copy.deepcopy(events())
    b[0]["eventTime"] = "2024-11-05T11:00:00+02:00"
    c[0]["eventTime"] = "2024-11-05T09:00:00Z"
    a[0]["eventTime"] = "2024-11-05T09:00:00"
    assert events_to_document(c) == events_to_document(b)
    with pytest.raises(BadInputError, match="field 'eventTime' must be an RFC 3339 date-time.*it has no time zone"):
        events_to_document(a)
    assert events_to_document(a, sealed=True) == events_to_document(b)  # a bundle sealed before the rule: UTC


# --- one validator on the real path: PROV, bundles, the transport ----------------------------------

def _bad_run_id(given: list[dict]) -> None:
    for event in given:
        event["run"]["runId"] = "run-1"


def _bad_facet(given: list[dict]) -> None:
    given[1]["inputs"][0]["facets"]["version"] = "blake3:" + "1" * 64


@pytest.mark.parametrize(
    ("change", "event", "field", "fix"),
    [
        (_bad_run_id, r"#0 \(START job .* run run-1\)", r"field 'run.runId' must be a UUID, got 'run-1'", "UUID"),
        (_bad_facet, rf"#1 \(COMPLETE job .* run {RUN}\)", r"field 'inputs.0.facets.version' must be an object, got str", "JSON object"),
    ],
    ids=["non-uuid-run-id", "non-object-facet"],
)
def test_prov_bundles_and_transport_refuse_naming_event_and_field(change, event: str, field: str, fix: str, tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    from prov_common.bundle import build_bundle
    from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport
    from prov_common.signing import SigningKey

    given = events()
    change(given)
    message = f"^OpenLineage event {event}: {field}"
    with pytest.raises(BadInputError, match=message) as caught:
        events_to_document(given)
    assert fix in caught.value.fix
    with pytest.raises(BadInputError, match=message):
        build_bundle(given, {}, SigningKey.generate())
    strict = ProvenanceTransport(ProvenanceConfig(store=str(tmp_path / "strict"), strict=True))
    with pytest.raises(BadInputError, match=field):  # refused at the first bad event, before it is staged
        for ev in given:
            strict.emit(ev)
    lenient = ProvenanceTransport(ProvenanceConfig(store=str(tmp_path / "lenient"), strict=False))
    for ev in given:
        lenient.emit(ev)  # the pipeline goes on; the refusal is logged (and recorded), naming the field
    assert re.search(field, caplog.text)


def test_job_event_is_not_a_run() -> None:
    job_event = {"eventTime": "2024-11-05T09:00:00Z", "producer": "https://x", "job": {"namespace": "ns", "name": "j"}}
    with pytest.raises(BadInputError, match="event #0 .*field 'eventType' is missing: a job or dataset event describes no run"):
        events_to_document([job_event])


@pytest.mark.parametrize("name", sorted(p.name for p in EVENTS.glob("*.jsonl")))
def test_events_of_every_producer_pass_the_one_validator_and_convert(name: str) -> None:
    from prov_common.lineage import parse_run_event

    given = [json.loads(line) for line in (EVENTS / name).read_text().splitlines() if line.strip()]
    assert given and all(parse_run_event(e) is e for e in given)
    assert events_to_document(given).get_records()


def test_a_run_id_that_is_not_one_key_segment_cannot_name_a_bundle() -> None:
    from prov_common.bundle import layout

    for bad in ("a/b", "..", "", "x" * 300):
        with pytest.raises(BadInputError, match="cannot name a bundle"):
            layout.check_run_id(bad)


def test_an_events_file_that_is_not_events_says_so_as_a_sentence_and_how_to_write_one(tmp_path: Path, capsys) -> None:
    """A line that is not JSON names the form of an events file (its fix was 'run tdprov prov --help', whose help
    does not say it), and a refusal whose text ends with a value ends its sentence before its fix: it read
    'got int Fix: pass ...'."""
    from prov_common.cli import main
    from prov_common.errors import BadInputError

    bad, listed = tmp_path / "bad.jsonl", tmp_path / "listed.jsonl"
    bad.write_text('{"a": 1}\nnot json\n')
    listed.write_text("[1, 2]\n")
    assert main(["prov", str(bad)]) == 2
    assert capsys.readouterr().err == (
        f"tdprov prov: {bad} line 2 is not JSON (Expecting value: line 1 column 1 (char 0)). Fix: write one OpenLineage "
        "run event per line, each a JSON object, as a transport's file or events.jsonl of a bundle holds them (or one "
        "JSON document: an event or a list of events)\n")
    assert main(["graph", str(listed), "-o", str(tmp_path / "g.svg")]) == 2
    assert capsys.readouterr().err.startswith(f"tdprov graph: OpenLineage event at {listed} item 1 must be a JSON object, got int. Fix: ")
    assert str(BadInputError("ends with a value 3", fix="x")) == "ends with a value 3. Fix: x"
    assert str(BadInputError("asks why?", fix="x")) == "asks why? Fix: x"
    assert str(BadInputError("said.", fix="x")) == "said. Fix: x"
