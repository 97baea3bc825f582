"""Events received from any producer: malformed ones get a clear error naming the event and the field."""
from __future__ import annotations

import copy
import json
import uuid

import pytest

from prov_common.errors import BadInputError
from prov_common.lineage import EVENT_TYPES, build_run_event, event_to_dict, event_to_json, parse_event
from prov_common.w3cprov import events_to_document

RUN_ID = str(uuid.uuid4())
# A minimal event as another producer (the Airflow provider, Spark, dbt) would write it.
FOREIGN = {
    "eventType": "COMPLETE",
    "eventTime": "2026-01-31T12:00:00.000Z",
    "producer": "https://github.com/OpenLineage/OpenLineage/tree/1.20.0/integration/spark",
    "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
    "run": {"runId": RUN_ID},
    "job": {"namespace": "spark", "name": "etl.join"},
    "inputs": [{"namespace": "s3://b", "name": "a.parquet"}],
    "outputs": [{"namespace": "s3://b", "name": "c.parquet", "facets": {}, "outputFacets": {}}],
}


def broken(change) -> dict:
    event = copy.deepcopy(FOREIGN)
    change(event)
    return event


def test_valid_events_pass_as_dict_and_text() -> None:
    assert parse_event(FOREIGN) is FOREIGN
    assert parse_event(json.dumps(FOREIGN)) == FOREIGN
    ours = build_run_event("START", run_id=RUN_ID, job_name="j")
    assert parse_event(event_to_json(ours)) == event_to_dict(ours)
    minimal = broken(lambda e: [e.pop("inputs"), e.pop("outputs"), e.pop("schemaURL")])
    assert parse_event(minimal)["job"]["name"] == "etl.join"


MALFORMED = [
    (lambda e: e.pop("eventType"), "field 'eventType' is missing"),
    (lambda e: e.update(eventType="DONE"), "field 'eventType' is 'DONE', not one of START"),
    (lambda e: e.update(eventType=3), "field 'eventType' must be a non-empty string, got 3"),
    (lambda e: e["run"].pop("runId"), "field 'run.runId' is missing"),
    (lambda e: e["run"].update(runId="run-1"), "field 'run.runId' must be a UUID"),
    (lambda e: e.update(run=[RUN_ID]), "field 'run' must be an object, got list"),
    (lambda e: e["job"].pop("name"), "field 'job.name' is missing"),
    (lambda e: e["job"].update(namespace=""), "field 'job.namespace' must be a non-empty string"),
    (lambda e: e.pop("job"), "field 'job' is missing"),
    (lambda e: e.pop("eventTime"), "field 'eventTime' is missing"),
    (lambda e: e.update(eventTime="yesterday"), "field 'eventTime' must be an RFC 3339 date-time"),
    (lambda e: e.update(eventTime="2026-01-31"), "field 'eventTime' must be an RFC 3339 date-time"),
    (lambda e: e.pop("producer"), "field 'producer' is missing"),
    (lambda e: e.update(inputs={"namespace": "x"}), "field 'inputs' must be a list, got dict"),
    (lambda e: e["inputs"][0].pop("name"), "field 'inputs.0.name' is missing"),
    (lambda e: e["outputs"][0].update(namespace=5), "field 'outputs.0.namespace' must be a non-empty string"),
    (lambda e: e["outputs"][0].update(facets=[]), "field 'outputs.0.facets' must be an object of facets"),
    (lambda e: e["outputs"][0]["outputFacets"].update(stats=1), "field 'outputs.0.outputFacets.stats' must be an object"),
    (lambda e: e["run"].update(facets={"parent": "x"}), "field 'run.facets.parent' must be an object"),
]


@pytest.mark.parametrize(("change", "message"), MALFORMED)
def test_malformed_events_name_the_event_and_field(change, message: str) -> None:
    with pytest.raises(BadInputError, match="OpenLineage event at events.jsonl:4 ") as info:
        parse_event(broken(change), where="events.jsonl:4")
    assert message in str(info.value)


def test_error_names_job_and_run_when_known() -> None:
    with pytest.raises(BadInputError) as info:
        parse_event(broken(lambda e: e["inputs"][0].pop("namespace")))
    text = str(info.value)
    assert f"(COMPLETE job spark/etl.join run {RUN_ID})" in text and "'inputs.0.namespace'" in text and "Fix:" in text


@pytest.mark.parametrize(("raw", "message"), [("{not json", "is not valid JSON"), ("[1, 2]", "must be a JSON object, got list"), (b"42", "got int")])
def test_not_an_object(raw, message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        parse_event(raw)


def test_event_text_giving_a_key_twice_is_refused_naming_the_key() -> None:
    """Event text (a staged event replayed from the outbox, another producer's JSON) whose object gives a key twice was
    read with its last value, where another reader takes the first: it is refused, naming the key."""
    text = json.dumps(FOREIGN).replace('"name": "etl.join"', '"name": "etl.join", "name": "etl.other"')
    with pytest.raises(BadInputError) as info:
        parse_event(text.encode(), where="#3")
    assert str(info.value).startswith("OpenLineage event #3 gives the key 'name' more than once in one object: ")
    assert info.value.fix and "each key of an object once" in info.value.fix


@pytest.mark.parametrize(("change", "message"), MALFORMED)
def test_prov_and_bundles_refuse_what_parse_event_refuses(change, message: str) -> None:
    """One validator: the path to PROV, bundles and verify checks events exactly as parse_event does."""
    with pytest.raises(BadInputError, match=r"^OpenLineage event #0 \(") as info:
        events_to_document([broken(change)])
    assert message in str(info.value) and info.value.fix


def test_event_types_are_openlineage_run_states() -> None:
    from openlineage.client.event_v2 import RunState

    assert EVENT_TYPES == tuple(state.value for state in RunState)


def test_lineage_package_loads_no_pandas() -> None:
    import subprocess
    import sys

    code = "import sys, prov_common.lineage, prov_common.w3cprov.events; print('pandas' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
