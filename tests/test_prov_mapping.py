"""OpenLineage events -> PROV: the records that come out, for tdprov events and other producers' events."""
from __future__ import annotations

import copy
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from prov.constants import PROV, PROV_LABEL, PROV_ROLE, PROV_TYPE
from prov.model import ProvDocument

from prov_common.w3cprov import events_to_document
from prov_common.w3cprov import ids
from prov_common.w3cprov.ids import DCTERMS, DQV, NCNAME, TDPROV

EVENTS = Path(__file__).parent / "data" / "ol_events"
D_IN = "blake3:" + "1" * 64
D_OUT = "blake3:" + "a" * 64
TD_RUN = "0193c111-2222-7333-8444-555566667777"
V_IN = ids.version_local("file", "/data/raw/customers.csv", D_IN)  # what the run read: the dataset at a digest
V_OUT = ids.version_local("file", "/data/clean/customers.parquet", D_OUT)
W_OUT = ids.generation_local("file", "/data/clean/customers.parquet", D_OUT, TD_RUN)  # what the run wrote


def load(name: str) -> list[dict]:
    return [json.loads(line) for line in (EVENTS / name).read_text().splitlines() if line.strip()]


def records(doc: ProvDocument, kind: str) -> list:
    return [r for r in doc.get_records() if r.get_type() == PROV[kind]]


def by_id(doc: ProvDocument, local: str):
    found = doc.get_record(TDPROV[local])
    assert found, f"no record {local}"
    return found[0]


def attr(record, name) -> set:
    return set(record.get_attribute(name))


def relation_pairs(doc: ProvDocument, kind: str) -> set[tuple[str, ...]]:
    pairs = set()
    for record in records(doc, kind):
        pairs.add(tuple(str(value.localpart) if value is not None else None for _, value in record.formal_attributes[:2]))
    return pairs


@pytest.fixture(scope="module")
def tdprov_doc() -> ProvDocument:
    return events_to_document(load("tdprov_step.jsonl"))


def test_foreign_events_are_valid_openlineage(ol_validator) -> None:
    for path in sorted(EVENTS.glob("*.jsonl")):
        for event in load(path.name):
            ol_validator.validate_event(event)


def test_run_is_an_activity_with_times_and_final_state(tdprov_doc) -> None:
    run = by_id(tdprov_doc, f"run-{TD_RUN}")
    assert run.get_type() == PROV["Activity"]
    assert run.get_startTime() == datetime(2024, 11, 5, 9, 0, 0, tzinfo=timezone.utc)
    assert run.get_endTime() == datetime(2024, 11, 5, 9, 0, 4, 500000, tzinfo=timezone.utc)
    assert attr(run, TDPROV["state"]) == {"COMPLETE"}
    assert attr(run, TDPROV["library"]) == {"pandas==3.1.0", "pyarrow==26.0.0"}
    assert attr(run, TDPROV["parameters"]) == {'{"db_password":"***","min_age":18}'}
    assert attr(run, TDPROV["host"]) == {"worker-3"}


def test_versions_specialise_datasets_and_carry_the_content_hash(tdprov_doc) -> None:
    written = by_id(tdprov_doc, W_OUT)
    assert TDPROV["WrittenVersion"] in attr(written, PROV_TYPE)
    assert TDPROV["DatasetVersion"] in attr(by_id(tdprov_doc, V_OUT), PROV_TYPE)
    assert attr(written, TDPROV["digest"]) == {D_OUT}
    assert attr(written, TDPROV["rows"]) == {2}
    assert "age=blake3:" + "5" * 64 in attr(written, TDPROV["columnDigest"])
    specs = relation_pairs(tdprov_doc, "Specialization")
    datasets = {r.identifier.localpart: r for r in records(tdprov_doc, "Entity") if TDPROV["Dataset"] in attr(r, PROV_TYPE)}
    out = next(k for k, r in datasets.items() if attr(r, TDPROV["name"]) == {"/data/clean/customers.parquet"})
    assert (W_OUT, V_OUT) in specs and (V_OUT, out) in specs  # written by the run -> dataset at the digest -> dataset
    assert (V_IN, next(k for k in datasets if k != out)) in specs
    # identifiers name the dataset and the digest (and, for what a run wrote, the run)
    assert V_OUT.startswith("version-data_clean_customers.parquet-") and V_OUT.endswith("blake3-" + "a" * 64)
    assert W_OUT == f"{V_OUT}-by-run-{TD_RUN}"


def test_usage_generation_and_derivation_via_the_run(tdprov_doc) -> None:
    v_in, v_out, run = V_IN, W_OUT, f"run-{TD_RUN}"
    assert (run, v_in) in relation_pairs(tdprov_doc, "Usage")
    assert (v_out, run) in relation_pairs(tdprov_doc, "Generation")
    derivation = records(tdprov_doc, "Derivation")
    assert len(derivation) == 1
    values = {str(k.localpart): str(v.localpart) for k, v in derivation[0].formal_attributes if v is not None}
    assert values == {"generatedEntity": v_out, "usedEntity": v_in, "activity": run}


def test_agents_plan_and_delegation(tdprov_doc) -> None:
    run = TDPROV[f"run-{TD_RUN}"]
    associations = records(tdprov_doc, "Association")
    roles = {}
    for association in associations:
        formal = dict(association.formal_attributes)
        assert formal[PROV["activity"]] == run
        plan = by_id(tdprov_doc, formal[PROV["plan"]].localpart)
        assert PROV["Plan"] in attr(plan, PROV_TYPE)
        assert attr(plan, TDPROV["gitCommit"]) == {"9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d"}
        agent = by_id(tdprov_doc, formal[PROV["agent"]].localpart)
        roles[next(iter(attr(association, PROV_ROLE))).localpart] = agent
    assert set(roles) == {"orchestrator", "owner", "user"}
    assert PROV["SoftwareAgent"] in attr(roles["orchestrator"], PROV_TYPE)
    assert attr(roles["orchestrator"], PROV_LABEL) == {"dagster 1.13.0"}
    assert PROV["Person"] in attr(roles["user"], PROV_TYPE)
    assert PROV["Organization"] in attr(roles["owner"], PROV_TYPE)
    delegations = relation_pairs(tdprov_doc, "Delegation")
    engine = roles["orchestrator"].identifier.localpart
    assert delegations == {(engine, roles["user"].identifier.localpart), (engine, roles["owner"].identifier.localpart)}
    # the plan at this code version specialises the job's plan
    plan = dict(associations[0].formal_attributes)[PROV["plan"]]
    assert any(pair[0] == plan.localpart and pair[1].startswith("job-") for pair in relation_pairs(tdprov_doc, "Specialization"))


def test_parent_run_is_linked_with_dcterms_is_part_of(tdprov_doc) -> None:
    run = by_id(tdprov_doc, f"run-{TD_RUN}")
    parent = next(iter(attr(run, DCTERMS["isPartOf"])))
    assert parent.localpart == "run-0193c111-0000-7000-8000-000000000000"
    parent_record = by_id(tdprov_doc, parent.localpart)
    assert parent_record.get_type() == PROV["Activity"]
    assert attr(parent_record, PROV_LABEL) == {"customers_job"}


def test_quality_results_are_dqv_measurements_on_the_version(tdprov_doc) -> None:
    measurements = [r for r in records(tdprov_doc, "Entity") if DQV["QualityMeasurement"] in attr(r, PROV_TYPE)]
    found = {}
    for m in measurements:
        target = next(iter(attr(m, DQV["computedOn"]))).localpart
        metric = by_id(tdprov_doc, next(iter(attr(m, DQV["isMeasurementOf"]))).localpart)
        assert DQV["Metric"] in attr(metric, PROV_TYPE)
        found[(next(iter(attr(m, TDPROV["source"]))), next(iter(attr(metric, PROV_LABEL))), target)] = attr(m, DQV["value"])
    v_in, v_out = V_IN, W_OUT
    assert found == {
        ("pandera", "pandera:CleanCustomers", v_out): {False},
        ("pandera", "greater_than_or_equal_to(18)", v_out): {False},
        ("pandera", "not_nullable", v_out): {True},
        ("dataQualityAssertions", "not_nullable(id)", v_in): {True},
        ("test", "CleanCustomers", v_out): {False},
    }


def test_every_identifier_is_an_ncname(tdprov_doc) -> None:
    for path in sorted(EVENTS.glob("*.jsonl")):
        doc = events_to_document(load(path.name))
        for record in doc.get_records():
            if record.identifier is not None:
                assert record.identifier.namespace == TDPROV
                assert NCNAME.match(record.identifier.localpart), record.identifier


def test_identifiers_are_stable_across_runs() -> None:
    first = load("tdprov_step.jsonl")
    second = copy.deepcopy(first)
    for event in second:
        event["run"]["runId"] = "0193c111-2222-7333-8444-999999999999"
    ids_first = {r.identifier for r in events_to_document(first).get_records() if r.identifier}
    ids_second = {r.identifier for r in events_to_document(second).get_records() if r.identifier}
    shared = ids_first & ids_second
    for local in (V_IN, V_OUT):  # the datasets at their digests are the same entities in both runs
        assert TDPROV[local] in shared
    assert {i.localpart.split("-")[0] for i in shared} >= {"dataset", "job", "plan", "agent", "engine", "metric", "version"}
    assert not any(i.localpart.startswith("measurement-") for i in shared)  # measurements belong to their run
    assert TDPROV[W_OUT] in ids_first and TDPROV[W_OUT] not in ids_second  # what each run wrote is its own: one generation


def test_airflow_provider_events(ol_validator) -> None:
    doc = events_to_document(load("airflow_task.jsonl"))
    run = by_id(doc, "run-01941f29-7c00-7087-8e1f-2c4a4cb9d9a1")
    assert attr(run, TDPROV["state"]) == {"COMPLETE"}
    assert attr(run, TDPROV["nominalStartTime"]) == {"2024-11-02T03:00:00Z"}
    assert next(iter(attr(run, DCTERMS["isPartOf"]))).localpart == "run-01941f29-6f00-7cc5-9a4e-0f1d1c0e5b22"
    # version-less datasets still convert: used / generated / derived directly on the dataset entities
    usage = relation_pairs(doc, "Usage")
    generation = relation_pairs(doc, "Generation")
    assert len(usage) == 1 and len(generation) == 1
    (used,) = [pair[1] for pair in usage]
    (made,) = [pair[0] for pair in generation]
    assert used.startswith("dataset-shop.public.orders-") and made.startswith("dataset-shop.analytics.daily_orders-")
    assert (made, used) in relation_pairs(doc, "Derivation")
    engine = [a for a in records(doc, "Agent") if PROV["SoftwareAgent"] in attr(a, PROV_TYPE)]
    assert [attr(a, PROV_LABEL) for a in engine] == [{"Airflow 2.10.4"}]
    owner = [a for a in records(doc, "Agent") if attr(a, TDPROV["name"]) == {"team:analytics"}]
    assert len(owner) == 1
    job = [r for r in records(doc, "Entity") if attr(r, TDPROV["name"]) == {"orders_etl.aggregate"}][0]
    assert attr(job, TDPROV["integration"]) == {"AIRFLOW"}
    assert (job.identifier.localpart, owner[0].identifier.localpart) in relation_pairs(doc, "Attribution")


def test_spark_failed_run_with_non_digest_versions() -> None:
    doc = events_to_document(load("spark_failed.jsonl"))
    run = by_id(doc, "run-0193a7b2-1d4c-7a55-b2b1-7f0c9f3e2d10")
    assert attr(run, TDPROV["state"]) == {"FAIL"}
    assert "SparkException" in next(iter(attr(run, TDPROV["errorMessage"])))
    versions = {r.identifier.localpart: attr(r, TDPROV["version"]) for r in records(doc, "Entity")
                if TDPROV["DatasetVersion"] in attr(r, PROV_TYPE)}
    assert sorted(v for vs in versions.values() for v in vs) == ["41", "7"]
    assert all(local.startswith("version-") for local in versions)


def test_dbt_assertions_and_test_facet() -> None:
    doc = events_to_document(load("dbt_model.jsonl"))
    failed = {}
    for m in records(doc, "Entity"):
        if DQV["QualityMeasurement"] in attr(m, PROV_TYPE):
            source = next(iter(attr(m, TDPROV["source"])))
            metric = by_id(doc, next(iter(attr(m, DQV["isMeasurementOf"]))).localpart)
            failed[f"{source}:{next(iter(attr(metric, PROV_LABEL)))}"] = attr(m, DQV["value"])
    assert failed["dataQualityAssertions:unique_stg_customers_email"] == {False}
    assert failed["dataQualityAssertions:not_null_stg_customers_customer_id"] == {True}
    assert failed["test:accepted_values_dim_customers_tier"] == {False}
    assert failed["dataQualityMetrics:rowCount"] == {1200}
    assert failed["dataQualityMetrics:distinctCount"] == {1200}
    plan = [r for r in records(doc, "Entity") if attr(r, TDPROV["codeVersion"])]
    assert [attr(p, TDPROV["codeVersion"]) for p in plan] == [{"4f2c1e9"}]
    assert attr(plan[0], TDPROV["sourceRepoUrl"]) == {"https://github.com/acme/jaffle_shop.git"}


def test_running_run_and_unknown_facets() -> None:
    (start, _) = load("tdprov_step.jsonl")
    start = copy.deepcopy(start)
    start["run"]["facets"]["someVendor_custom"] = {"weird": [1, {"x": None}]}
    start["inputs"][0]["facets"] = {"version": {"datasetVersion": ["not", "text"]}, "schema": {"fields": "nonsense"}}
    doc = events_to_document([start])
    run = by_id(doc, f"run-{TD_RUN}")
    assert attr(run, TDPROV["state"]) == {"RUNNING"}
    assert run.get_endTime() is None
    assert len(relation_pairs(doc, "Usage")) == 1


def test_minimal_event_converts() -> None:
    event = {"eventType": "COMPLETE", "eventTime": "2024-01-01T00:00:00Z", "producer": "https://example.org/etl",
             "run": {"runId": TD_RUN.upper()}, "job": {"namespace": "ns", "name": "j"}}
    doc = events_to_document([event])
    (run,) = records(doc, "Activity")
    assert NCNAME.match(run.identifier.localpart) and run.identifier.localpart == f"run-{TD_RUN}"
    assert attr(run, TDPROV["runId"]) == {TD_RUN.upper()}
    assert run.get_startTime() is None and run.get_endTime() is not None  # no START: the start is not known


def test_dataset_ownership_and_run_without_agents() -> None:
    event = {"eventType": "COMPLETE", "eventTime": "2024-01-01T00:00:00Z", "producer": "https://example.org/etl",
             "run": {"runId": TD_RUN}, "job": {"namespace": "ns", "name": "j"},
             "outputs": [{"namespace": "s3://b", "name": "k", "facets": {"ownership": {"owners": [{"name": "team:data"}, {"bad": 1}]}}}]}
    doc = events_to_document([event])
    (attribution,) = records(doc, "Attribution")
    entity, agent = (v for _, v in attribution.formal_attributes)
    assert entity.localpart.startswith("dataset-k-") and PROV["Organization"] in attr(by_id(doc, agent.localpart), PROV_TYPE)
    assert records(doc, "Association") == []  # PROV-O's Association needs an agent: the run names its job by tdprov:job
    (run,) = records(doc, "Activity")
    assert next(iter(attr(run, ids.TDPROV["job"]))).localpart.startswith("job-j-")
    (association,) = records(events_to_document([event], "tdprov-prov/4"), "Association")  # mappings 2 to 4: as they were
    formal = dict(association.formal_attributes)
    assert formal[PROV["agent"]] is None and formal[PROV["plan"]].localpart.startswith("job-j-")
