"""PROV of events built by tdprov itself: real hash, real Pandera result, real OpenLineage builders."""
from __future__ import annotations

import uuid

import pandas as pd
import pandera.pandas as pa
import pytest
import rdflib
from prov.constants import PROV, PROV_TYPE

from prov_common.hashing import hash_dataframe
from prov_common.lineage import DatasetRef, ParentRef, RunContext, build_run_event, event_to_dict
from prov_common.quality.validate import validate
from prov_common.w3cprov import events_to_document, ids, lineage_graph, serialize
from prov_common.w3cprov.ids import DCTERMS, TDPROV

# prov's RDF serialiser uses an rdflib API that rdflib deprecates; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:Dataset.default_context is deprecated:DeprecationWarning")

SCHEMA = pa.DataFrameSchema({"id": pa.Column(int, nullable=False), "age": pa.Column(int, pa.Check.ge(18))}, name="Adults")


def test_tdprov_events_convert_and_failed_checks_are_queryable(ol_validator) -> None:
    raw = pd.DataFrame({"id": [1, 2, 3], "age": [30, 12, 45]})
    clean = raw[raw.age > 20].reset_index(drop=True)
    raw_digest, clean_digest = hash_dataframe(raw), hash_dataframe(clean)
    raw_ref = DatasetRef.from_uri("/data/raw/people.parquet", digest=raw_digest, quality=validate(raw, SCHEMA))
    clean_ref = DatasetRef.from_uri("/data/clean/people.parquet", digest=clean_digest, quality=validate(clean, SCHEMA))
    context = RunContext(host="ci", libraries={"pandas": pd.__version__}, parameters={"min_age": 20}, git_commit="abc1234",
                         user="alice", owner="team:ml", orchestrator="dagster", orchestrator_version="1.13.0")
    run_id, parent_id = str(uuid.uuid4()), str(uuid.uuid4())
    parent = ParentRef(run_id=parent_id, job_namespace="dagster://demo", job_name="people_job")
    common = dict(run_id=run_id, job_name="people.clean", job_namespace="dagster://demo", parent=parent, context=context)
    events = [
        event_to_dict(build_run_event("START", inputs=[raw_ref], event_time="2024-06-01T10:00:00Z", **common)),
        event_to_dict(build_run_event("COMPLETE", inputs=[raw_ref], outputs=[clean_ref], event_time="2024-06-01T10:00:03Z", **common)),
    ]
    for event in events:
        ol_validator.validate_event(event)

    doc = events_to_document(events)
    raw_v = TDPROV[ids.version_local("file", "/data/raw/people.parquet", raw_digest.digest)]
    clean_v = TDPROV[ids.generation_local("file", "/data/clean/people.parquet", clean_digest.digest, run_id)]
    assert doc.get_record(raw_v) and doc.get_record(clean_v)
    run = doc.get_record(TDPROV[f"run-{run_id}"])[0]
    assert set(run.get_attribute(TDPROV["state"])) == {"COMPLETE"}
    assert {str(v) for v in run.get_attribute(DCTERMS["isPartOf"])} == {f"tdprov:run-{parent_id}"}
    people = [r for r in doc.get_records() if r.get_type() == PROV["Agent"] and PROV["Person"] in r.get_attribute(PROV_TYPE)]
    assert [set(p.get_attribute(TDPROV["name"])) for p in people] == [{"alice"}]

    graph = rdflib.Graph().parse(data=serialize(doc, "ttl"), format="turtle")
    failed = graph.query("""PREFIX dqv: <http://www.w3.org/ns/dqv#>
        SELECT DISTINCT ?v WHERE { ?m dqv:computedOn ?v ; dqv:value false }""")
    # the raw input has a 12-year-old (ge(18) fails); the clean output passes every check
    assert {str(row.v) for row in failed} == {str(graph.namespace_manager.expand_curie(f"tdprov:{raw_v.localpart}"))}

    picture = lineage_graph(doc)
    assert picture.nodes[f"tdprov:{raw_v.localpart}"].failed_checks
    assert not picture.nodes[f"tdprov:{clean_v.localpart}"].failed_checks
