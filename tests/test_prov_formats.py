"""PROV serialisation: four formats round-trip, PROV-JSON is byte-deterministic, merges are unions, DQV is queryable."""
from __future__ import annotations

import json
import random
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import pytest
import rdflib
from lxml import etree
from prov.constants import PROV
from prov.model import ProvDocument

from prov_common.w3cprov import FORMATS, deserialize, events_to_document, merge_documents, serialize
from prov_common.w3cprov import ids
from prov_common.w3cprov.ids import NCNAME
from prov_common.w3cprov.links import link_runs

# prov's RDF serialiser uses an rdflib API that rdflib deprecates; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:Dataset.default_context is deprecated:DeprecationWarning")

EVENTS = Path(__file__).parent / "data" / "ol_events"
FILES = sorted(p.name for p in EVENTS.glob("*.jsonl"))


def load(name: str) -> list[dict]:
    return [json.loads(line) for line in (EVENTS / name).read_text().splitlines() if line.strip()]


def all_events() -> list[dict]:
    return [event for name in FILES for event in load(name)]


def _reordered(event):
    """The same JSON with every object's keys in reverse order."""
    if isinstance(event, dict):
        return {key: _reordered(event[key]) for key in reversed(list(event))}
    if isinstance(event, list):
        return [_reordered(item) for item in event]
    return event


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_round_trips(name: str, fmt: str) -> None:
    doc = events_to_document(load(name))
    data = serialize(doc, fmt)
    back = deserialize(data, fmt)
    assert back == doc
    assert len(back.get_records()) == len(doc.get_records()) > 5


def test_provn_contains_the_expected_statements() -> None:
    text = serialize(events_to_document(load("tdprov_step.jsonl")), "provn").decode()
    assert text.startswith("document\n") and text.rstrip().endswith("endDocument")
    written = ids.generation_local("file", "/data/clean/customers.parquet", "blake3:" + "a" * 64, "0193c111-2222-7333-8444-555566667777")
    read = ids.version_local("file", "/data/raw/customers.csv", "blake3:" + "1" * 64)
    for statement in ("activity(tdprov:run-0193c111-2222-7333-8444-555566667777, 2024-11-05T09:00:00",
                      f"used(tdprov:run-0193c111-2222-7333-8444-555566667777, tdprov:{read}",
                      f"wasGeneratedBy(tdprov:{written}", f"wasDerivedFrom(tdprov:{written}, tdprov:{read}",
                      f"specializationOf(tdprov:{written}", "actedOnBehalfOf(tdprov:engine-dagster",
                      "dqv:value=\"false\" %% xsd:boolean"):
        assert statement in text


def test_prov_json_is_byte_deterministic_under_shuffling_and_key_order() -> None:
    events = all_events()
    expected = serialize(events_to_document(events), "json")
    rng = random.Random(7)
    for _ in range(5):
        shuffled = [_reordered(e) for e in events]
        rng.shuffle(shuffled)
        assert serialize(events_to_document(shuffled), "json") == expected
    assert json.loads(expected)["prefix"]["tdprov"] == "https://github.com/tdprov/tdprov/ns#"


def test_prov_json_is_independent_of_the_hash_seed() -> None:
    code = ("import json,sys,hashlib;from prov_common.w3cprov import *;"
            f"ev=[json.loads(l) for n in {FILES!r} for l in open({str(EVENTS)!r}+'/'+n)];"
            "sys.stdout.write(hashlib.sha256(serialize(events_to_document(ev),'json')).hexdigest())")
    digests = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"}).stdout for seed in ("1", "2", "99")}
    assert len(digests) == 1


def test_changed_event_changes_the_bytes() -> None:
    events = load("tdprov_step.jsonl")
    before = serialize(events_to_document(events), "json")
    events[1]["outputs"][0]["facets"]["tdprov_pandera"]["checks"][1]["passed"] = False
    assert serialize(events_to_document(events), "json") != before


def test_merge_is_a_union_independent_of_order() -> None:
    docs = [events_to_document(load(name)) for name in FILES]
    whole = serialize(events_to_document(all_events()), "json")
    assert serialize(merge_documents(docs), "json") == whole
    assert serialize(merge_documents(reversed(docs)), "json") == whole
    assert serialize(merge_documents(docs + docs), "json") == whole
    merged = merge_documents(docs)
    assert len(merged.get_records()) == len({r for d in docs for r in d.get_records()})
    assert deserialize(serialize(merged, "xml"), "xml") == merged


def test_bundles_of_two_runs_share_dataset_and_version_records() -> None:
    producer = load("tdprov_step.jsonl")
    consumer = json.loads(json.dumps(producer))
    for event in consumer:
        event["run"]["runId"] = "0193c111-2222-7333-8444-000000000009"
        event["job"]["name"] = "customers.train"
        event["inputs"] = [dict(event["outputs"][0], inputFacets={})] if event["outputs"] else event["outputs"]
        event["outputs"] = []
    merged = merge_documents([events_to_document(producer), events_to_document(consumer)])
    read = ids.version_local("file", "/data/clean/customers.parquet", "blake3:" + "a" * 64)
    version = merged.get_record(events_to_document(producer).get_record(f"tdprov:{read}")[0].identifier)
    assert len(version) == 1  # one unified record for the dataset at the digest that both runs saw
    written = ids.generation_local("file", "/data/clean/customers.parquet", "blake3:" + "a" * 64, "0193c111-2222-7333-8444-555566667777")
    consumer_run = "run-0193c111-2222-7333-8444-000000000009"
    usages = {tuple(str(v.localpart) for _, v in r.formal_attributes[:2]) for r in merged.get_records() if r.get_type() == PROV["Usage"]}
    assert (consumer_run, read) in usages and (consumer_run, written) not in usages  # the consumer's bundle cannot know the writer
    linked = link_runs(merged)  # merging the store resolves the read to what the producer wrote
    usages = {tuple(str(v.localpart) for _, v in r.formal_attributes[:2]) for r in linked.get_records() if r.get_type() == PROV["Usage"]}
    assert (consumer_run, written) in usages


def test_prov_xml_is_well_formed_with_ncname_ids() -> None:
    root = etree.fromstring(serialize(events_to_document(all_events()), "xml"))
    prov_id = "{http://www.w3.org/ns/prov#}id"
    ids = [el.get(prov_id) for el in root.iter() if el.get(prov_id)]
    assert ids and all(NCNAME.match(i.split(":", 1)[1]) for i in ids)


def _prov_xsd() -> etree.XMLSchema:
    schema = files("prov") / "tests" / "schemas" / "prov.xsd"
    if not schema.is_file():  # pragma: no cover - the prov distribution ships its XSDs
        pytest.skip("prov's PROV-XML schema is not installed")
    return etree.XMLSchema(etree.parse(str(schema)))


def test_prov_xml_validates_against_the_prov_schema() -> None:
    schema = _prov_xsd()
    merged = serialize(events_to_document(all_events()), "xml")
    assert schema.validate(etree.fromstring(merged)), schema.error_log
    # the check bites: a local name with '/' (what a raw dataset name would give) fails the schema
    bad = ProvDocument()
    bad.add_namespace("ex", "https://example.com/")
    bad.entity("ex:s3/bucket/data.csv")
    assert not schema.validate(etree.fromstring(serialize(bad, "xml")))


FAILED_VERSIONS = """
PREFIX dqv: <http://www.w3.org/ns/dqv#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
SELECT DISTINCT ?version ?check WHERE {
  ?m a dqv:QualityMeasurement ; dqv:computedOn ?version ; dqv:value false ; dqv:isMeasurementOf ?metric .
  ?metric rdfs:label ?check .
}"""


def test_sparql_finds_every_version_that_failed_a_check() -> None:
    graph = rdflib.Graph()
    graph.parse(data=serialize(events_to_document(all_events()), "ttl"), format="turtle")
    rows = {(str(v).rsplit("#", 1)[1], str(c)) for v, c in graph.query(FAILED_VERSIONS)}
    out = ids.generation_local("file", "/data/clean/customers.parquet", "blake3:" + "a" * 64, "0193c111-2222-7333-8444-555566667777")
    assert (out, "greater_than_or_equal_to(18)") in rows
    assert (out, "pandera:CleanCustomers") in rows
    assert {c for v, c in rows if v.startswith("dataset-ANALYTICS.STAGING")} == {"unique_stg_customers_email"}
    assert {c for v, c in rows if v.startswith("dataset-ANALYTICS.MARTS")} == {"accepted_values_dim_customers_tier"}
    assert not any(c in {"not_nullable", "not_nullable(id)"} for _, c in rows)
    assert len(rows) == 5


def test_sparql_finds_nothing_when_every_check_passes() -> None:
    events = load("tdprov_step.jsonl")
    facet = events[1]["outputs"][0]["facets"]["tdprov_pandera"]
    facet["passed"] = True
    for check in facet["checks"]:
        check["passed"] = True
    events[1]["run"]["facets"]["test"]["tests"][0]["status"] = "pass"
    graph = rdflib.Graph().parse(data=serialize(events_to_document(events), "ttl"), format="turtle")
    assert list(graph.query(FAILED_VERSIONS)) == []


def test_unknown_format_is_bad_input() -> None:
    from prov_common.errors import BadInputError

    with pytest.raises(BadInputError, match="'yaml'"):
        serialize(ProvDocument(), "yaml")


def test_merge_refuses_records_that_disagree() -> None:
    from prov_common.errors import BadInputError

    first = load("tdprov_step.jsonl")
    second = json.loads(json.dumps(first))
    second[0]["eventTime"] = "2024-11-05T08:59:00Z"  # the same run recorded twice, differently
    with pytest.raises(BadInputError, match="disagree on prov:startTime"):
        merge_documents([events_to_document(first), events_to_document(second)])


def test_prov_xml_of_a_re_execution_and_a_check_that_raised_validates() -> None:
    """Mapping 7's wasInformedBy (a re-execution) and a measurement with no value (a check that raised) fit the schema."""
    event = load(FILES[0])[-1]
    event = json.loads(json.dumps(event))
    run = event["run"]
    run["facets"]["parent"] = {"_producer": "https://example.com", "_schemaURL": "https://example.com/p.json",
                               "run": {"runId": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a51"},
                               "job": {"namespace": "dagster://default", "name": "job:j"}}
    run["facets"]["tdprov_runContext"] = {"_producer": "https://example.com", "_schemaURL": "https://example.com/c.json",
                                          "reexecutionOf": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a52",
                                          "reexecutionRoot": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a53"}
    event.setdefault("inputs", [{"namespace": "file", "name": "/x.parquet"}])
    event["inputs"][0]["inputFacets"] = {"dataQualityAssertions": {
        "_producer": "https://example.com", "_schemaURL": "https://example.com/a.json",
        "assertions": [{"assertion": "crashes", "success": False, "description": "ValueError", "params": {"status": "error"}}]}}
    xml = serialize(events_to_document([event]), "xml")
    assert b"wasInformedBy" in xml and b"reexecutionRoot" in xml and b"<tdprov:status>error</tdprov:status>" in xml
    assert _prov_xsd().validate(etree.fromstring(xml)), _prov_xsd().error_log


def test_the_audit_record_is_read_by_outside_tools_and_names_the_store_id(tmp_path: Path) -> None:
    """The signed PROV record of an audit (audit/runs/*.prov.dsse.json) verifies with securesystemslib's DSSE, reads in
    the ``prov`` package, validates against prov.xsd as PROV-XML, and its Turtle (rdflib) names the store's id as its
    identity file ``_tdprov/store.json`` holds it: the record does not need tdprov to be read."""
    from securesystemslib.dsse import Envelope

    from intoto_support import sslib_key
    from prov_common.signing import default_signing_key
    from test_audit_support import Pipeline, audit

    pipe = Pipeline(str(tmp_path / "store"))
    result = audit(pipe.store, report_dir=tmp_path / "report")
    assert result.clean
    envelope = Envelope.from_dict(json.loads((tmp_path / "store" / result.prov_key).read_bytes()))
    envelope.verify([sslib_key(default_signing_key().public.to_pem())], 1)
    document = ProvDocument.deserialize(content=envelope.payload.decode(), format="json")
    schema = _prov_xsd()
    assert schema.validate(etree.fromstring(document.serialize(format="xml").encode())), schema.error_log
    graph = rdflib.Graph().parse(data=document.serialize(format="rdf", rdf_format="turtle"), format="turtle")
    store_id = json.loads((tmp_path / "store" / "_tdprov" / "store.json").read_bytes())["storeId"]
    named = {str(o) for o in graph.objects(None, rdflib.URIRef(ids.TDPROV.uri + "storeId"))}
    assert named == {store_id}, named
