"""Events built here carry through W3C PROV: an RDF query finds the version that failed a Pandera check."""
from __future__ import annotations

import uuid

import pandas as pd
import pandera.pandas as pa
import rdflib

from prov_common.hashing import hash_dataframe
from prov_common.lineage import DatasetRef, build_run_event, collect_run_context, event_to_dict
from prov_common.quality import validate
from prov_common.w3cprov import events_to_document, serialize

SCHEMA = pa.DataFrameSchema({"label": pa.Column(int, pa.Check.isin([0, 1]))}, name="Labels")
FAILED_VERSIONS = """
PREFIX dqv: <http://www.w3.org/ns/dqv#>
PREFIX tdprov: <https://github.com/tdprov/tdprov/ns#>
SELECT DISTINCT ?digest WHERE { ?m dqv:computedOn ?v ; tdprov:status "fail" . ?v tdprov:digest ?digest }
"""


def test_failed_check_is_queryable_in_prov() -> None:
    good, bad = pd.DataFrame({"label": [0, 1, 1]}), pd.DataFrame({"label": [0, 1, 7]})
    rid = str(uuid.uuid4())
    ctx = collect_run_context(orchestrator="dagster", owner="team:ml", parameters={"db_password": "hunter2"})
    refs = [
        DatasetRef.from_uri("s3://training/good.parquet", digest=hash_dataframe(good), quality=validate(good, SCHEMA)),
        DatasetRef.from_uri("s3://training/bad.parquet", digest=hash_dataframe(bad), quality=validate(bad, SCHEMA)),
    ]
    events = [
        event_to_dict(build_run_event("START", run_id=rid, job_name="labels", event_time="2026-01-31T12:00:00+00:00", context=ctx)),
        event_to_dict(build_run_event("COMPLETE", run_id=rid, job_name="labels", outputs=refs, event_time="2026-01-31T12:01:00+00:00", context=ctx)),
    ]
    turtle = serialize(events_to_document(events), "ttl")
    assert b"hunter2" not in (turtle if isinstance(turtle, bytes) else turtle.encode())
    graph = rdflib.Graph().parse(data=turtle, format="turtle")
    failed = {str(row.digest) for row in graph.query(FAILED_VERSIONS)}
    assert failed == {hash_dataframe(bad).digest}


MEASUREMENTS = """
PREFIX dqv: <http://www.w3.org/ns/dqv#>
PREFIX tdprov: <https://github.com/tdprov/tdprov/ns#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
SELECT ?m ?name ?status WHERE { ?m dqv:isMeasurementOf ?metric ; tdprov:status ?status ; tdprov:column "x" ; tdprov:source "pandera" .
                                ?metric rdfs:label ?name }
"""


def test_two_unnamed_checks_of_one_column_are_two_measurements() -> None:
    """pa.Check(lambda s: s > 0) and pa.Check(lambda s: s < 100) on x were one check '<lambda>' in the events, one
    measurement (failed) in PROV: the check that passed was lost."""
    schema = pa.DataFrameSchema({"x": pa.Column(int, checks=[pa.Check(lambda s: s > 0), pa.Check(lambda s: s < 100),
                                                               pa.Check.isin([1, 500])])}, name="Bounds")
    frame = pd.DataFrame({"x": [1, 500]})
    rid = str(uuid.uuid4())
    ref = DatasetRef.from_uri("s3://training/x.parquet", digest=hash_dataframe(frame), quality=validate(frame, schema))
    event = event_to_dict(build_run_event("COMPLETE", run_id=rid, job_name="bounds", outputs=[ref],
                                          event_time="2026-01-31T12:01:00+00:00"))
    facets = event["outputs"][0]["facets"]
    assert [(c["name"], c["status"]) for c in facets["tdprov_pandera"]["checks"] if "lambda" in c["name"]] == [
        ("<lambda>#0", "pass"), ("<lambda>#1", "fail")]
    graph = rdflib.Graph().parse(data=serialize(events_to_document([event]), "ttl"), format="turtle")
    found = sorted((str(row.name), str(row.status)) for row in graph.query(MEASUREMENTS))
    assert found == [("<lambda>#0", "pass"), ("<lambda>#1", "fail"), ("dtype('int64')", "pass"),
                     ("isin([1, 500])", "pass"), ("not_nullable", "pass")]
