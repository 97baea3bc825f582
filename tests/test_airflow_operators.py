"""Operators, TaskFlow decorator, sensor and trigger of the tdprov Airflow integration, run by dag.test()."""
from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from airflow_dags import harness  # noqa: F401  (sets AIRFLOW_HOME before Airflow is imported)
from airflow_dags.harness import airflow_db, store  # noqa: F401 (fixtures)
from airflow_dags.harness import bundles_of, events_of, run_dag

import pandas as pd
import pendulum
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

from prov_airflow import naming
from prov_airflow.decorators.provenance import provenance_task
from prov_airflow.operators.audit import ProvenanceAuditOperator
from prov_airflow.operators.pandera import PanderaValidationOperator
from prov_airflow.sensors.bundle import LineageBundleSensor
from prov_airflow.triggers.bundle import LineageBundleTrigger
from prov_common.hashing import hash_dataframe, hash_path

START = pendulum.datetime(2024, 1, 1, tz="UTC")
SCHEMA = "airflow_dags.schemas:FEATURES"
GOOD = pd.DataFrame({"id": [1, 2, 3], "x": [0.5, 1.5, 2.5]})
BAD = pd.DataFrame({"id": [1, 1, -3], "x": [0.5, 99.0, 2.5]})


def _by_job(store: Path) -> dict:
    return {s.job_name: s for s in bundles_of(store)}


def _input_facets(store: Path, summary) -> dict:
    return events_of(store, summary.run_id)[-1]["inputs"][0]


def test_pandera_operator_records_failures_and_fails_or_warns(tmp_path: Path, store: Path, ol_validator) -> None:
    """One DAG run, a task per ``on_failure``: ``fail`` fails its try, ``warn`` completes it; both record the failed
    checks, with their samples in the bundle."""
    from prov_common.bundle import read_bundle
    from prov_common.store import open_store

    bad = tmp_path / "bad.csv"
    BAD.to_csv(bad, index=False)
    dag_id = "tdprov_pandera_fail_or_warn"
    with DAG(dag_id, start_date=START, schedule=None) as dag:
        for on_failure in ("fail", "warn"):
            PanderaValidationOperator(task_id=on_failure, source=str(bad), schema=SCHEMA, on_failure=on_failure)
    run = run_dag(dag, logical_date=START)
    assert run.state == "failed"
    states, by_job = {ti.task_id: ti.state for ti in run.get_task_instances()}, _by_job(store)
    for on_failure, expected in (("fail", ("failed", "FAIL")), ("warn", ("success", "COMPLETE"))):
        summary = by_job[f"{dag_id}.{on_failure}"]
        assert (states[on_failure], summary.state) == expected, on_failure
        dataset = _input_facets(store, summary)
        for event in events_of(store, summary.run_id):
            ol_validator.validate_event(event)
        assert dataset["name"] == str(bad), on_failure
        assert dataset["facets"]["version"]["datasetVersion"] == hash_path(bad).digest, on_failure
        pandera = dataset["facets"]["tdprov_pandera"]
        assert pandera["passed"] is False and pandera["schemaName"] == "features", on_failure
        failed = {(c["column"], c["name"]) for c in pandera["checks"] if not c["passed"]}
        assert {c for c, _ in failed} >= {"id", "x"}, on_failure
        assert dataset["inputFacets"]["dataQualityAssertions"]["assertions"], on_failure
        # failure samples travel in the bundle, not in the event
        files = read_bundle(open_store(str(store)), summary.run_id).files
        assert pandera["samplesFile"] in files, on_failure


def test_pandera_operator_names_a_missing_column_before_the_checks_that_could_not_run(tmp_path: Path, store: Path) -> None:
    """A table without column x failed 'column_in_dataframe' on 'x', and the task's failure listed x's other checks,
    which did not run, as failures of 0 cases beside it. It says it as Dagster's pandera check does: the checks that
    failed first, then those that could not run, said so."""
    bad = tmp_path / "no_x.csv"
    pd.DataFrame({"id": [-1, 2]}).to_csv(bad, index=False)
    with DAG("tdprov_pandera_no_x", start_date=START, schedule=None) as dag:
        PanderaValidationOperator(task_id="check", source=str(bad), schema=SCHEMA)
    assert run_dag(dag, logical_date=START).state == "failed"
    summary = _by_job(store)["tdprov_pandera_no_x.check"]
    said = events_of(store, summary.run_id)[-1]["run"]["facets"]["errorMessage"]["message"]
    assert said == (
        f"AirflowException: {bad} failed Pandera schema 'features': 2 failure cases [id: greater_than_or_equal_to(0) (1), "
        "x: column_in_dataframe (1), x: dtype('float64') (not run), x: not_nullable (not run), "
        "x: in_range(0.0, 10.0) (not run)]"), said


def test_pandera_operator_passes_from_xcom_and_feeds_the_openlineage_provider(tmp_path: Path, store: Path) -> None:
    good = tmp_path / "good.parquet"
    GOOD.to_parquet(good, index=False)
    with DAG("tdprov_pandera_xcom", start_date=START, schedule=None) as dag:
        make = PythonOperator(task_id="make", python_callable=lambda: GOOD)
        check = PanderaValidationOperator(task_id="check", xcom_task_id="make", schema=SCHEMA)
        make >> check
    assert run_dag(dag, logical_date=START).state == "success"
    dataset = _input_facets(store, _by_job(store)["tdprov_pandera_xcom.check"])
    assert (dataset["namespace"], dataset["name"]) == ("xcom://tdprov_pandera_xcom", "/make/return_value")
    assert dataset["facets"]["tdprov_pandera"]["passed"] is True
    assert dataset["facets"]["version"]["datasetVersion"] == hash_dataframe(GOOD).digest


    # the official OpenLineage provider asks the operator itself: same facets
    operator = PanderaValidationOperator(task_id="direct", source=str(good), schema=SCHEMA)
    operator.execute({})
    lineage = operator.get_openlineage_facets_on_complete(None)
    assert lineage.inputs[0].facets["tdprov_pandera"].passed is True
    assert lineage.inputs[0].facets["version"].datasetVersion == hash_path(good).digest
    assert lineage.inputs[0].inputFacets["dataQualityAssertions"].assertions


def test_provenance_task_decorator_links_xcom_frames(store: Path) -> None:
    with DAG("tdprov_taskflow", start_date=START, schedule=None) as dag:
        @provenance_task
        def make() -> pd.DataFrame:
            return GOOD

        @provenance_task(schema=SCHEMA)
        def scale(frame: pd.DataFrame) -> pd.DataFrame:
            return frame.assign(x=frame["x"] * 2)

        scale(make())
    assert run_dag(dag, logical_date=START).state == "success"
    by_job = _by_job(store)
    made, scaled = by_job["tdprov_taskflow.make"], by_job["tdprov_taskflow.scale"]
    assert made.outputs[0].version == hash_dataframe(GOOD).digest
    assert scaled.inputs[0].name == made.outputs[0].name and scaled.inputs[0].version == made.outputs[0].version
    assert scaled.outputs[0].version == hash_dataframe(GOOD.assign(x=GOOD["x"] * 2)).digest
    output = events_of(store, scaled.run_id)[-1]["outputs"][0]
    assert output["facets"]["tdprov_pandera"]["passed"] is True


def test_provenance_task_fails_on_schema_violation(store: Path) -> None:
    with DAG("tdprov_taskflow_bad", start_date=START, schedule=None) as dag:
        @provenance_task(schema=SCHEMA)
        def bad() -> pd.DataFrame:
            return BAD

        bad()
    assert run_dag(dag, logical_date=START).state == "failed"
    summary = _by_job(store)["tdprov_taskflow_bad.bad"]
    assert summary.state == "FAIL"
    output = events_of(store, summary.run_id)[-1]["outputs"][0]
    assert output["facets"]["tdprov_pandera"]["passed"] is False


def _produce(store: Path, dag_id: str, tmp_path: Path) -> None:
    out = tmp_path / f"{dag_id}.csv"
    with DAG(dag_id, start_date=START, schedule=None) as dag:
        PythonOperator(task_id="write", python_callable=lambda: GOOD.to_csv(out, index=False), outlets=[str(out)])
    assert run_dag(dag, logical_date=START).state == "success"


def test_sensor_poke_and_deferrable_find_the_bundle_and_audit_verifies(tmp_path: Path, store: Path) -> None:
    _produce(store, "tdprov_upstream", tmp_path)
    report = tmp_path / "report.json"
    with DAG("tdprov_waits", start_date=START, schedule=None) as dag:
        poke = LineageBundleSensor(task_id="poke", job="tdprov_upstream.write", since="2000-01-01T00:00:00+00:00",
                                   mode="poke", poke_interval=0.1, timeout=30)
        deferred = LineageBundleSensor(task_id="deferred", dataset=str(tmp_path / "tdprov_upstream.csv"),
                                       since="2000-01-01T00:00:00+00:00", deferrable=True, poke_interval=0.1)
        verify = ProvenanceAuditOperator(task_id="verify", mode="verify", report_dir=str(report))
        audit = ProvenanceAuditOperator(task_id="audit", report_dir=str(tmp_path / "audit"))
        [poke, deferred] >> verify >> audit
    assert run_dag(dag, logical_date=START).state == "success"
    assert json.loads(report.read_text())["ok"] is True
    assert json.loads(report.read_text())["bundles"] >= 2
    assert list((tmp_path / "audit").rglob("*.json")), "the audit wrote no report"
    # a re-hash not asked for names the operator's parameter, not the CLI's --rehash (it said 'pass --rehash')
    [rehash] = [c for c in json.loads((tmp_path / "audit" / "report.json").read_text())["checks"] if c["name"] == "rehash"]
    assert rehash["detail"] == "not run: set rehash=True on the ProvenanceAuditOperator to hash the data where it lives", rehash

    # a changed byte in a bundle is a finding: the audit task fails and names the object
    upstream = _by_job(store)["tdprov_upstream.write"]
    events = next(store.rglob(f"*{upstream.run_id}*/events.jsonl"))
    events.chmod(0o644)
    events.write_bytes(events.read_bytes().replace(b"COMPLETE", b"COMPLETX"))
    with DAG("tdprov_audit_finds", start_date=START, schedule=None) as dag:
        ProvenanceAuditOperator(task_id="verify", mode="verify", report_dir=str(tmp_path / "bad.json"))
        ProvenanceAuditOperator(task_id="audit", full=True, report_dir=str(tmp_path / "bad-audit"))
    run = run_dag(dag, logical_date=START)
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {"verify": "failed", "audit": "failed"}
    findings = json.loads((tmp_path / "bad.json").read_text())["findings"]
    assert any(f["key"].endswith("events.jsonl") and f["runId"] == upstream.run_id for f in findings)
    audit_text = "".join(p.read_text() for p in (tmp_path / "bad-audit").rglob("*.json"))
    assert upstream.run_id in audit_text and "events.jsonl" in audit_text


@pytest.mark.parametrize("damage", ["tampered", "missing"])
def test_verify_mode_checks_index_entries_as_the_cli_does(tmp_path: Path, store: Path, damage: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from bundle_support import raw_delete, raw_put

    from prov_common.cli import main

    _produce(store, f"tdprov_index_{damage}", tmp_path)
    summary = _by_job(store)[f"tdprov_index_{damage}.write"]
    assert main(["verify", "--store", str(store)]) == 0
    if damage == "tampered":  # the unsigned index entry (what 'tdprov runs' shows) no longer matches its bundle
        raw_put(str(store), summary.cursor, (store / summary.cursor).read_bytes().replace(b'"COMPLETE"', b'"FAIL"'))
    else:
        raw_delete(str(store), summary.cursor)
    problem = {"tampered": "inconsistent", "missing": "missing"}[damage]
    capsys.readouterr()
    assert main(["verify", "--store", str(store)]) == 1
    assert f"{summary.cursor}: {problem}" in capsys.readouterr().out

    report = tmp_path / "verify.json"
    with DAG(f"tdprov_verify_index_{damage}", start_date=START, schedule=None) as dag:
        ProvenanceAuditOperator(task_id="verify", mode="verify", report_dir=str(report))
    assert run_dag(dag, logical_date=START).state == "failed"
    found = json.loads(report.read_text())
    assert found["ok"] is False
    assert {(f["key"], f["problem"], f["runId"]) for f in found["findings"]} == {(summary.cursor, problem, summary.run_id)}


def test_sensor_times_out_without_a_matching_bundle(store: Path) -> None:
    with DAG("tdprov_waits_forever", start_date=START, schedule=None) as dag:
        LineageBundleSensor(task_id="poke", job="no.such.job", mode="poke", poke_interval=0.1, timeout=0.5)
    assert run_dag(dag, logical_date=START).state == "failed"


def _one_taken_one_told(caplog: pytest.LogCaptureFixture, dag_id: str, told: str, refused: tuple[str, dict],
                        taken: tuple[str, dict]) -> dict:
    """Run DAG ``dag_id`` of two bundle sensors (task id and arguments each) looking from 2000 on: ``refused`` polls for
    half a second and fails, ``taken`` succeeds, and the matching warns ``told`` once however often it was poked. What
    ``taken`` pushed."""
    since = "2000-01-01T00:00:00+00:00"
    with DAG(dag_id, start_date=START, schedule=None) as dag:
        LineageBundleSensor(task_id=refused[0], since=since, mode="poke", poke_interval=0.1, timeout=0.5, **refused[1])
        LineageBundleSensor(task_id=taken[0], since=since, poke_interval=0.1, timeout=30, **taken[1])
    with caplog.at_level("WARNING", logger="prov_airflow.matching"):
        run = run_dag(dag, logical_date=START)
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {refused[0]: "failed", taken[0]: "success"}, states
    assert caplog.text.count(told) == 1, caplog.text  # poked about five times, told once
    (waited,) = [ti for ti in run.get_task_instances() if ti.task_id == taken[0]]
    return waited.xcom_pull(task_ids=taken[0])


def test_sensor_waits_for_its_own_namespaces_job_not_another_of_that_name(store: Path,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    """A job is its namespace and name: a staging deployment's run of the job 'tdprov_shared.write' in the same store
    made the sensor of this deployment (namespace 'default') succeed, pushing the other run's bundle. It matches that
    job when named 'staging/tdprov_shared.write', as 'tdprov runs' shows it; the bare name's sensor says so, once."""
    from test_audit_support import dataset, digest, run_events, seal

    from prov_common.store import open_store

    events = run_events("tdprov_shared.write", [], [dataset("/data/shared.csv", digest("staging"))])
    for event in events:
        event["job"]["namespace"] = "staging"
    staging = seal(open_store(str(store)), events)
    told = (f"run {staging} of job staging/tdprov_shared.write has the name asked for, but of namespace 'staging', not "
            "this deployment's 'default': not taken. Fix: to wait for that job, name it job='staging/tdprov_shared.write'")
    pushed = _one_taken_one_told(caplog, "tdprov_waits_for_a_namespace", told, ("own", {"job": "tdprov_shared.write"}),
                                 ("theirs", {"job": "staging/tdprov_shared.write", "mode": "poke"}))
    assert (pushed["run_id"], pushed["job"], pushed["job_namespace"]) == (staging, "tdprov_shared.write", "staging"), pushed


def test_sensor_with_job_dag_waits_for_that_dag_s_task_not_another_named_alike(
        store: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Task 'daily.load' (task group 'daily') of DAG 'tdprov_sclash' is job 'tdprov_sclash.daily.load', as task 'load' of
    DAG 'tdprov_sclash.daily' is: a sensor waiting for the latter by its job was satisfied by the former's bundle. With
    job_dag= it takes a run of that DAG alone, told by the parent run the bundle's signed events name (the other is
    named once and not taken); job_dag= of the other DAG waits for it (deferrable, the trigger); job_dag= alone is
    refused when the DAG is parsed."""
    from airflow.sdk import TaskGroup

    with DAG("tdprov_sclash", start_date=START, schedule=None) as upstream:
        with TaskGroup("daily"):
            PythonOperator(task_id="load", python_callable=lambda: None)
    assert run_dag(upstream, logical_date=START).state == "success"
    [theirs] = [s for s in bundles_of(store) if s.job_name == "tdprov_sclash.daily.load"]
    [dag_run] = [s for s in bundles_of(store) if s.job_name == "tdprov_sclash"]
    from prov_airflow.matching import BundleQuery
    from prov_common.store import open_store

    from prov_common.bundle.storage import sealed_run

    dag_run_of = sealed_run(open_store(str(store)), dag_run.run_id)[1]
    assert BundleQuery(job="tdprov_sclash", job_dag="tdprov_sclash").of_job_dag(dag_run, dag_run_of) is None
    job = "tdprov_sclash.daily.load"
    told = (f"run {theirs.run_id} of job default/tdprov_sclash.daily.load is of a run of DAG 'tdprov_sclash', not of DAG "
            "'tdprov_sclash.daily': not taken")
    pushed = _one_taken_one_told(caplog, "tdprov_sclash_waits", told, ("mine", {"job": job, "job_dag": "tdprov_sclash.daily"}),
                                 ("theirs", {"job": job, "job_dag": "tdprov_sclash", "deferrable": True}))
    assert pushed["run_id"] == theirs.run_id
    from prov_common.errors import BadInputError

    with pytest.raises(BadInputError, match="job_dag='tdprov_sclash' is given without job="):
        LineageBundleSensor(task_id="alone", dataset="/x.csv", job_dag="tdprov_sclash")


def test_sensor_with_job_alone_says_which_dag_s_run_it_took(store: Path, caplog: pytest.LogCaptureFixture) -> None:
    """job= without job_dag= takes a run of either of two DAGs' tasks named alike (task 'daily.load' of DAG
    'tdprov_jclash', task 'load' of DAG 'tdprov_jclash.daily'), and said only the job: it names the DAG whose task's
    run it took, its DAG run, and the job_dag= that waits for that DAG's task alone (deferrable: the trigger's log)."""
    from airflow.sdk import TaskGroup

    with DAG("tdprov_jclash", start_date=START, schedule=None) as upstream:
        with TaskGroup("daily"):
            PythonOperator(task_id="load", python_callable=lambda: None)
    assert run_dag(upstream, logical_date=START).state == "success"
    summaries = {s.job_name: s for s in bundles_of(store)}
    theirs, dag_run = summaries["tdprov_jclash.daily.load"], summaries["tdprov_jclash"]
    with DAG("tdprov_jclash_waits", start_date=START, schedule=None) as dag:
        LineageBundleSensor(task_id="poked", job="tdprov_jclash.daily.load", since="2000-01-01T00:00:00+00:00",
                            mode="poke", poke_interval=0.1, timeout=30)
        LineageBundleSensor(task_id="deferred", job="tdprov_jclash.daily.load", since="2000-01-01T00:00:00+00:00",
                            deferrable=True, poke_interval=0.1, timeout=30)
    with caplog.at_level("INFO", logger="prov_airflow.matching"):
        run = run_dag(dag, logical_date=START)
    assert {ti.task_id: ti.state for ti in run.get_task_instances()} == {"poked": "success", "deferred": "success"}
    told = (f"tdprov: took run {theirs.run_id} of job default/tdprov_jclash.daily.load: a try of task 'daily.load' of "
            f"DAG 'tdprov_jclash' (its DAG run {dag_run.run_id}). job= alone also takes a task of another DAG named "
            "alike; job_dag='tdprov_jclash' waits for this DAG's task only")
    assert caplog.text.count(told) == 2, caplog.text


def test_bundle_sensor_tells_a_candidate_s_dag_from_the_events_its_verification_read(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A candidate's DAG (job_dag=, and the note of a job= taken alone) is told from the signed events.jsonl that
    verifying the candidate read: it was read from the store again for its parent run."""
    import uuid

    from counting_store import CountingStore
    from test_audit_support import run_events, seal

    from prov_airflow.matching import BundleQuery, find_bundle
    from prov_common.signing import trust_from_settings

    counting = CountingStore(tmp_path / "store")
    parent = str(uuid.uuid4())
    events = run_events("tdprov_told.daily.load", [], [])
    for e in events:
        e["run"]["facets"] = {"parent": {"_producer": "https://example.com", "_schemaURL": "https://example.com",
                                         "run": {"runId": parent}, "job": {"namespace": "tests", "name": "tdprov_told"}}}
    run_id = seal(counting, events)
    events_key = f"bundles/{run_id}/events.jsonl"
    trust = trust_from_settings()
    for query, found in ((BundleQuery(job="tdprov_told.daily.load", job_dag="tdprov_told"), run_id),
                         (BundleQuery(job="tdprov_told.daily.load", job_dag="tdprov_told.daily"), None),
                         (BundleQuery(job="tdprov_told.daily.load"), run_id)):
        counting.gets.clear()
        with caplog.at_level("INFO", logger="prov_airflow.matching"):
            summary = find_bundle(counting, query, trust)
        assert (summary.run_id if summary else None) == found, query
        assert counting.gets[events_key] == 1, (query, counting.gets)
    assert (f"tdprov: took run {run_id} of job tests/tdprov_told.daily.load: a try of task 'daily.load' of DAG "
            f"'tdprov_told' (its DAG run {parent})") in caplog.text, caplog.text
    assert (f"run {run_id} of job tests/tdprov_told.daily.load is of a run of DAG 'tdprov_told', not of DAG "
            "'tdprov_told.daily': not taken") in caplog.text, caplog.text


def test_bundle_sensor_tells_a_candidate_s_dag_from_its_signed_job_not_its_index_entry(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """job_dag= was checked against the job name of the candidate's index entry, which is not signed: a sound bundle
    whose entry was altered to name another job that the query also matches (job 'ns/name' is namespace 'ns' and name
    'name', or a name holding the slash) was taken as the DAG's run and its signed summary pushed unchecked. The DAG is
    told from the signed job and the parent run its signed events name: here a task of no DAG is not taken, whatever
    its entry says, and the altered entry is named."""
    import uuid

    from test_audit_support import run_events, seal

    from prov_airflow.matching import BundleQuery, find_bundle
    from prov_common.bundle.storage import list_bundles
    from prov_common.signing import trust_from_settings
    from prov_common.store import open_store

    store = open_store(str(tmp_path / "store"))
    events = run_events("tdprov_slash.x/tdprov_slash", [], [])
    for e in events:
        e["run"]["facets"] = {"parent": {"_producer": "https://example.com", "_schemaURL": "https://example.com",
                                         "run": {"runId": str(uuid.uuid4())}, "job": {"namespace": "tests", "name": "tdprov_slash.x"}}}
    run_id = seal(store, events)
    query, trust = BundleQuery(job="tdprov_slash.x/tdprov_slash", job_dag="tdprov_slash"), trust_from_settings()
    with caplog.at_level("INFO", logger="prov_airflow.matching"):
        assert find_bundle(store, query, trust) is None
        [summary] = list(list_bundles(store))
        entry = tmp_path / "store" / summary.cursor
        altered = json.loads(entry.read_text())
        altered["job"] = {"namespace": "tdprov_slash.x", "name": "tdprov_slash"}  # the DAG's own run, by the query's job
        entry.write_text(json.dumps(altered))
        assert query.matches(next(iter(list_bundles(store))))  # the entry matches the query: it is checked
        assert find_bundle(store, query, trust) is None
    told = (f"run {run_id} of job tests/tdprov_slash.x/tdprov_slash is of no DAG, not of DAG 'tdprov_slash': not taken")
    assert caplog.text.count(told) == 2, caplog.text
    assert f"the index entry of run {run_id} is not what its signed bundle says" in caplog.text, caplog.text


def test_bundle_sensor_skips_a_bundle_whose_events_are_json_but_not_events(tmp_path: Path,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    """The run a candidate is of was parsed from the events its verification read, whether or not the bundle verifies:
    events altered into JSON that is not an object ('[1]') broke the sensor's poll with an AttributeError. A bundle
    that does not verify is skipped with its warning, its events not parsed; one such line is a BadInputError."""
    from counting_store import CountingStore
    from test_audit_support import run_events, seal

    from prov_airflow.matching import BundleQuery, find_bundle
    from prov_common.bundle.storage import events_run
    from prov_common.errors import BadInputError
    from prov_common.signing import trust_from_settings

    counting = CountingStore(tmp_path / "store")
    run_id = seal(counting, run_events("tdprov_odd.load", [], []))
    (tmp_path / "store" / "bundles" / run_id / "events.jsonl").write_bytes(b"[1]\n")
    with caplog.at_level("WARNING", logger="prov_airflow.matching"):
        assert find_bundle(counting, BundleQuery(job="tdprov_odd.load"), trust_from_settings()) is None
    assert f"run {run_id} matches, but its bundle does not verify" in caplog.text, caplog.text
    with pytest.raises(BadInputError, match=f"^sealed events.jsonl of run {run_id} line 2 is not a JSON object"):
        events_run(run_id, b"\n[1]\n")


def test_sensor_with_dataset_and_digest_waits_for_that_dataset_at_that_digest(tmp_path: Path, store: Path) -> None:
    """dataset= and digest= name one version: a run that wrote the dataset at another digest, and the digest to
    another dataset, is no match (poke times out); the dataset at its own digest is (deferrable, the trigger)."""
    x, y = tmp_path / "x.csv", tmp_path / "y.csv"

    def write() -> None:
        x.write_text("k\n1\n")
        y.write_text("k\n9\n")

    with DAG("tdprov_two_outputs", start_date=START, schedule=None) as dag:
        PythonOperator(task_id="write", python_callable=write, outlets=[str(x), str(y)])
    assert run_dag(dag, logical_date=START).state == "success"
    since = "2000-01-01T00:00:00+00:00"
    with DAG("tdprov_waits_for_a_version", start_date=START, schedule=None) as dag:
        LineageBundleSensor(task_id="x_at_y_digest", dataset=str(x), digest=hash_path(y).digest, since=since,
                            mode="poke", poke_interval=0.1, timeout=0.5)
        LineageBundleSensor(task_id="x_at_x_digest", dataset=str(x), digest=hash_path(x).digest, since=since,
                            deferrable=True, poke_interval=0.1)
    states = {ti.task_id: ti.state for ti in run_dag(dag, logical_date=START).get_task_instances()}
    assert states == {"x_at_y_digest": "failed", "x_at_x_digest": "success"}


def test_bundle_query_takes_dataset_and_digest_from_one_output() -> None:
    from prov_airflow.matching import BundleQuery
    from prov_common.bundle.model import BundleSummary, DatasetRef

    aa, bb = "blake3:" + "aa" * 32, "blake3:" + "bb" * 32
    summary = BundleSummary("r", "default", "d.t", "COMPLETE", None, "2024-01-01T00:00:00Z",
                            outputs=(DatasetRef("file", "/x.csv", aa), DatasetRef("file", "/y.csv", bb)))
    assert not BundleQuery(dataset="/x.csv", digest=bb).matches(summary)
    assert BundleQuery(dataset="/x.csv", digest=aa).matches(summary)
    assert BundleQuery(digest=bb).matches(summary)  # a content query: any output
    assert BundleQuery(dataset="/y.csv").matches(summary)
    assert not BundleQuery(dataset="/z.csv").matches(summary)


def test_bundle_query_takes_an_output_another_producer_named_in_s3a_as_the_s3_object() -> None:
    """A producer that names objects in Hadoop's namespaces (Spark's ``("s3a://lake", "raw/x.csv")``) records the
    object that tdprov names ``("s3://lake", "raw/x.csv")``, as 'tdprov lineage' finds it; the sensor compared the
    pair as written, so ``dataset="s3a://lake/raw/x.csv"`` (or the ``s3://`` URI) never matched that run's bundle
    and the wait timed out; so did a prefix recorded with its trailing ``/``."""
    from prov_airflow.matching import BundleQuery
    from prov_common.bundle.model import BundleSummary, DatasetRef

    aa = "blake3:" + "aa" * 32
    summary = BundleSummary("r", "spark", "ingest", "COMPLETE", None, "2024-01-01T00:00:00Z",
                            outputs=(DatasetRef("s3a://lake", "raw/x.csv", aa), DatasetRef("gcs://bucket", "y.csv", aa),
                                     DatasetRef("s3://lake", "shards/", aa)))  # a prefix as tdprov once named it
    for uri in ("s3a://lake/raw/x.csv", "s3://lake/raw/x.csv", "gs://bucket/y.csv", "s3://lake/shards/"):
        assert BundleQuery(dataset=uri).matches(summary)
        assert BundleQuery(dataset=uri, digest=aa).matches(summary)
    assert not BundleQuery(dataset="s3://lake/raw").matches(summary)
    assert not BundleQuery(dataset="s3://other/raw/x.csv").matches(summary)


def test_sensor_takes_a_digest_in_upper_case_or_as_tdprov_runs_prints_it(tmp_path: Path, store: Path) -> None:
    """A digest's hex digits in either case are one digest, and its first 12 hex digits (as ``tdprov runs`` prints
    them, here from a template) name it: the sensor (poke) and the trigger match the version; a digest
    too short to name one is refused when the DAG is written, naming it and the rule."""
    from prov_common.errors import BadInputError

    x = tmp_path / "x.csv"
    with DAG("tdprov_writes_x", start_date=START, schedule=None) as dag:
        PythonOperator(task_id="write", python_callable=lambda: x.write_text("k\n1\n"), outlets=[str(x)])
    assert run_dag(dag, logical_date=START).state == "success"
    algo, hexes = hash_path(x).digest.split(":")
    since = "2000-01-01T00:00:00+00:00"
    with DAG("tdprov_waits_for_a_digest_as_given", start_date=START, schedule=None,
             params={"short": f"{algo}:{hexes[:12]}"}) as dag:
        LineageBundleSensor(task_id="upper", dataset=str(x), digest=f"{algo}:{hexes.upper()}", since=since,
                            mode="poke", poke_interval=0.1, timeout=1)
        LineageBundleSensor(task_id="short", digest="{{ params.short }}", since=since, mode="poke",
                            poke_interval=0.1, timeout=1)
    states = {ti.task_id: ti.state for ti in run_dag(dag, logical_date=START).get_task_instances()}
    assert states == {"upper": "success", "short": "success"}

    async def wait(digest: str) -> dict:
        return (await anext(LineageBundleTrigger({"digest": digest, "since": since}, poll_interval=0.05).run())).payload

    for digest in (f"{algo.upper()}:{hexes.upper()}", hexes[:12].upper()):
        assert asyncio.run(asyncio.wait_for(wait(digest), timeout=5))["status"] == "success", digest
    with pytest.raises(BadInputError, match=f"digest='{algo}:{hexes[:8]}' is not a content digest") as refused:
        LineageBundleSensor(task_id="too_short", digest=f"{algo}:{hexes[:8]}")
    assert "at least its first 12 hex digits" in refused.value.fix


def _seal_later(store: Path, job: str, delay: float, after_staged: bool = False) -> threading.Thread:
    """Seal a COMPLETE bundle of ``job`` (of this deployment's namespace) ``delay`` seconds from now (or from when the
    first event of another run is staged in the store), from another thread: another writer."""
    def produce() -> None:
        import uuid

        from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport
        from prov_common.lineage.events import build_run_event

        deadline = time.monotonic() + 120
        while after_staged and not any(store.glob("staging/*")) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(delay)
        ProvenanceTransport(ProvenanceConfig(store=str(store))).emit(
            build_run_event("COMPLETE", run_id=str(uuid.uuid4()), job_name=job, job_namespace=naming.namespace()))

    thread = threading.Thread(target=produce)
    thread.start()
    return thread


def test_sensor_in_reschedule_mode_waits_for_a_later_bundle(store: Path) -> None:
    with DAG("tdprov_reschedule", start_date=START, schedule=None) as dag:
        LineageBundleSensor(task_id="wait", job="tdprov_later.write", since="2000-01-01T00:00:00+00:00",
                            mode="reschedule", poke_interval=1, timeout=60)
    # after the first poke: dag.test() sleeps a second while a rescheduled task is not due, so the second poke, a
    # second or more after the first, finds it
    producer = _seal_later(store, "tdprov_later.write", 0.5, after_staged=True)
    started = time.monotonic()
    run = run_dag(dag, logical_date=START)
    producer.join()
    assert run.state == "success"
    assert time.monotonic() - started >= 0.5
    # each poke was a new start of the same try (the slot was given back in between): one bundle, all pokes
    events = events_of(store, _by_job(store)["tdprov_reschedule.wait"].run_id)
    assert [e["eventType"] for e in events].count("START") >= 2 and events[-1]["eventType"] == "COMPLETE"


def test_trigger_runs_to_completion_when_a_bundle_appears(tmp_path: Path, store: Path) -> None:
    trigger = LineageBundleTrigger({"job": "tdprov_late.write", "since": "2000-01-01T00:00:00+00:00"},
                                   poll_interval=0.05)
    classpath, kwargs = trigger.serialize()
    assert classpath == "prov_airflow.triggers.bundle.LineageBundleTrigger"

    async def wait() -> dict:
        return (await anext(LineageBundleTrigger(**kwargs).run())).payload

    started = time.monotonic()
    producer = _seal_later(store, "tdprov_late.write", 0.5)
    payload = asyncio.run(asyncio.wait_for(wait(), timeout=30))
    producer.join()
    assert payload["status"] == "success" and payload["bundle"]["job"] == "tdprov_late.write"
    assert time.monotonic() - started >= 0.5


def test_sensor_and_trigger_take_no_index_entry_without_a_verifying_bundle(tmp_path: Path, store: Path,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    """An index entry is unsigned: one added behind tdprov's back, naming a job no run sealed, succeeds
    neither the sensor nor the trigger; their logs name the run and why, once however often they poll."""
    import uuid

    _produce(store, "tdprov_forge_up", tmp_path)
    real = _by_job(store)["tdprov_forge_up.write"]
    entry = json.loads((store / real.cursor).read_text())
    forged = str(uuid.uuid4())
    entry.update(runId=forged, job={**entry["job"], "name": "tdprov_forged.write"})
    (store / real.cursor.replace(real.run_id, forged)).write_text(json.dumps(entry))
    query = {"job": "tdprov_forged.write", "since": "2000-01-01T00:00:00+00:00"}
    told = f"tdprov: run {forged} matches, but its bundle does not verify"
    with DAG("tdprov_waits_for_forged", start_date=START, schedule=None) as dag:
        LineageBundleSensor(task_id="poke", **query, mode="poke", poke_interval=0.1, timeout=0.5)
    with caplog.at_level("WARNING", logger="prov_airflow.matching"):
        assert run_dag(dag, logical_date=START).state == "failed"
    assert caplog.text.count(told) == 1  # poked about five times, warned once
    caplog.clear()

    async def wait() -> dict:
        return (await anext(LineageBundleTrigger(query, poll_interval=0.05).run())).payload

    with caplog.at_level("WARNING", logger="prov_airflow.matching"), pytest.raises(TimeoutError):
        asyncio.run(asyncio.wait_for(wait(), timeout=1.5))
    assert told in caplog.text and "missing" in caplog.text
    assert caplog.text.count(told) == 1  # polled every 50 ms, warned once
    with DAG("tdprov_waits_for_real", start_date=START, schedule=None) as dag:  # the real run's bundle still counts
        LineageBundleSensor(task_id="poke", job="tdprov_forge_up.write", since=query["since"], mode="poke", poke_interval=0.1, timeout=30)
    assert run_dag(dag, logical_date=START).state == "success"


def _seal_now(store: Path | str, job: str, spool: Path | None = None) -> str:
    """Seal a COMPLETE bundle of ``job`` (of this deployment's namespace; through ``spool`` when the store cannot be
    written); its run id."""
    import uuid

    from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport
    from prov_common.lineage.events import build_run_event

    run_id = str(uuid.uuid4())
    config = ProvenanceConfig(store=str(store), **({"spool": str(spool)} if spool else {"strict": True}))
    ProvenanceTransport(config).emit(build_run_event("COMPLETE", run_id=run_id, job_name=job, job_namespace=naming.namespace()))
    return run_id


def test_sensor_and_trigger_take_no_bundle_sealed_before_since_and_delivered_late(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bundle sealed before ``since`` and delivered from the spool after it (indexed after ``since``) is old data:
    neither the sensor nor the trigger takes it; a bundle sealed after ``since`` is taken."""
    from datetime import datetime, timezone

    from prov_common.store import open_store
    from prov_common.store.outbox import Outbox

    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the store's folder should be: every write is spooled")
    store = blocked / "store"
    monkeypatch.setenv("AIRFLOW__TDPROV__STORE", str(store))
    spooled = _seal_now(store, "tdprov_spooled.write", tmp_path / "spool")
    time.sleep(0.01)
    since = datetime.now(timezone.utc).isoformat()  # the waiting DAG run starts
    time.sleep(0.01)
    blocked.unlink()
    Outbox(tmp_path / "spool").flush(open_store(str(store)))
    [late] = bundles_of(store)
    assert late.run_id == spooled and late.sealed_at < since.replace("+00:00", "Z") < late.cursor.split("/")[-1]

    with DAG("tdprov_waits_for_new_data", start_date=START, schedule=None) as dag:
        LineageBundleSensor(task_id="poke", job="tdprov_spooled.write", since=since, mode="poke", poke_interval=0.1, timeout=0.5)
    assert run_dag(dag, logical_date=START).state == "failed"

    async def wait() -> dict:
        return (await anext(LineageBundleTrigger({"job": "tdprov_spooled.write", "since": since}, poll_interval=0.05).run())).payload

    with pytest.raises(TimeoutError):
        asyncio.run(asyncio.wait_for(wait(), timeout=1))
    fresh = _seal_now(store, "tdprov_spooled.write")
    assert asyncio.run(asyncio.wait_for(wait(), timeout=10))["bundle"]["run_id"] == fresh
    with DAG("tdprov_waits_for_new_data_again", start_date=START, schedule=None) as dag:
        LineageBundleSensor(task_id="poke", job="tdprov_spooled.write", since=since, mode="poke", poke_interval=0.1, timeout=10)
    assert run_dag(dag, logical_date=START).state == "success"


@contextmanager
def _store_healed_after(store: Path, failure: str) -> Iterator[None]:
    """Within it, ``store`` (a file where its folder should be) is made a store holding a sealed bundle of
    ``tdprov_outage.write`` once the sensor has logged the listing failure ``failure`` (``"(2/5 failed in a row)"``):
    after that many failed pokes, however long Airflow takes to start the task (a fixed wait raced its first run)."""
    failed = threading.Event()

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if failure in record.getMessage():
                failed.set()

    def recover() -> None:
        failed.wait(60)
        store.unlink()
        _seal_now(store, "tdprov_outage.write")

    watch = Watch()
    logging.getLogger("prov_airflow.matching").addHandler(watch)
    healer = threading.Thread(target=recover)
    healer.start()
    try:
        yield
    finally:
        failed.set()
        healer.join()
        logging.getLogger("prov_airflow.matching").removeHandler(watch)


def test_sensor_and_trigger_tolerate_failed_listings_by_one_rule(tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    """A store that cannot be listed for a while (here: a file where its folder should be) fails the wait only after
    ``max_errors`` failed listings in a row, in poke mode as in the triggerer; each failure is logged."""
    store.write_text("not a folder")
    with DAG("tdprov_waits_out_an_outage", start_date=START, schedule=None) as dag:
        LineageBundleSensor(task_id="poke", job="tdprov_outage.write", since="2000-01-01T00:00:00+00:00",
                            mode="poke", poke_interval=0.2, timeout=30)

    with _store_healed_after(store, "(2/5 failed in a row)"), caplog.at_level("WARNING", logger="prov_airflow.matching"):
        assert run_dag(dag, logical_date=START).state == "success"
    assert "tdprov: cannot list bundles (1/5 failed in a row)" in caplog.text and "is not a folder" in caplog.text

    down = tmp_path / "down"
    down.write_text("not a folder")
    with DAG("tdprov_waits_on_a_store_down", start_date=START, schedule=None) as dag:
        LineageBundleSensor(task_id="poke", job="tdprov_outage.write", mode="poke", poke_interval=0.05, timeout=30,
                            max_errors=3)
    caplog.clear()
    monkeypatch.setenv("AIRFLOW__TDPROV__STORE", str(down))
    with caplog.at_level("WARNING", logger="prov_airflow.matching"):
        assert run_dag(dag, logical_date=START).state == "failed"
    assert "(3/3 failed in a row)" in caplog.text and "(4/3" not in caplog.text

    async def wait(max_errors: int) -> dict:
        return (await anext(LineageBundleTrigger({"job": "tdprov_outage.write"}, poll_interval=0.05,
                                                 max_errors=max_errors).run())).payload

    event = asyncio.run(asyncio.wait_for(wait(3), timeout=10))
    assert event["status"] == "error" and "is not a folder" in event["message"]


def test_sensor_in_reschedule_mode_tolerates_failed_listings_by_the_same_rule(
        tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """In reschedule mode one failed listing failed the try: each poke starts afresh. The count of failed listings in a
    row is kept in the task's state store between pokes, so the rule is the one of poke mode and the triggerer."""
    store.write_text("not a folder")
    with DAG("tdprov_reschedule_outage", start_date=START, schedule=None) as dag:
        LineageBundleSensor(task_id="wait", job="tdprov_outage.write", since="2000-01-01T00:00:00+00:00",
                            mode="reschedule", poke_interval=1, timeout=60)

    # two pokes, in two starts of the task, fail to list the store before it is healed
    with _store_healed_after(store, "(2/5 failed in a row)"), caplog.at_level("WARNING", logger="prov_airflow.matching"):
        state = run_dag(dag, logical_date=START).state
    assert state == "success" and "(1/5 failed in a row)" in caplog.text and "(2/5 failed in a row)" in caplog.text, caplog.text

    down = tmp_path / "down"
    down.write_text("not a folder")
    # no wait between pokes (each is due at once: dag.test() runs it without its one-second sleep); the count of
    # failures, not time, ends this wait
    with DAG("tdprov_reschedule_store_down", start_date=START, schedule=None) as dag:
        LineageBundleSensor(task_id="wait", job="tdprov_outage.write", mode="reschedule", poke_interval=0, timeout=60,
                            max_errors=2)
    caplog.clear()
    monkeypatch.setenv("AIRFLOW__TDPROV__STORE", str(down))
    with caplog.at_level("WARNING", logger="prov_airflow.matching"):
        assert run_dag(dag, logical_date=START).state == "failed"
    assert "(2/2 failed in a row)" in caplog.text and "(3/2" not in caplog.text, caplog.text


def test_sensor_in_reschedule_mode_counts_failed_listings_afresh_in_a_new_try(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The count of failed listings in the task's state store outlived a try that ended other than through a poke's
    exception (a task timeout, a lost worker): the next try then failed after fewer than ``max_errors`` failures."""
    from datetime import timedelta

    from airflow.sdk.exceptions import AirflowTaskTimeout

    class EndsAbnormally(LineageBundleSensor):
        def poke(self, context: dict) -> object:
            answer = super().poke(context)  # a failed listing, counted and kept
            if context["ti"].try_number == 1:  # the first try ends here, not through an Exception of the poke
                raise AirflowTaskTimeout("the try ran out of time")
            return answer

    down = tmp_path / "down"
    down.write_text("not a folder")
    monkeypatch.setenv("AIRFLOW__TDPROV__STORE", str(down))
    with DAG("tdprov_reschedule_new_try", start_date=START, schedule=None) as dag:  # pokes due at once, as above
        EndsAbnormally(task_id="wait", job="tdprov_outage.write", mode="reschedule", poke_interval=0, timeout=60,
                       max_errors=2, retries=1, retry_delay=timedelta(seconds=0))
    with caplog.at_level("WARNING", logger="prov_airflow.matching"):
        assert run_dag(dag, logical_date=START).state == "failed"
    # try 1: one failure, then the timeout; try 2: counted from zero, so two failures before the sensor fails
    assert caplog.text.count("(1/2 failed in a row)") == 2 and caplog.text.count("(2/2 failed in a row)") == 1, caplog.text


def test_sensor_and_trigger_name_a_store_location_where_nothing_is(tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    """A typo in the store's location (here the sensor's connection) looks like a quiet store: the log says there is
    no store there and what to check, once per wait; the wait goes on (the store may be created by the first run)
    until the sensor's timeout, and creates nothing."""
    typo = tmp_path / "lineage-stroe"
    monkeypatch.setenv("AIRFLOW_CONN_TDPROV_TYPO", json.dumps({"conn_type": "tdprov", "host": str(typo)}))
    with DAG("tdprov_waits_on_a_typo", start_date=START, schedule=None) as dag:
        LineageBundleSensor(task_id="poke", job="tdprov_typo.write", tdprov_conn_id="tdprov_typo", mode="poke",
                            poke_interval=0.1, timeout=0.5)
    with caplog.at_level("WARNING", logger="prov_airflow.matching"):
        assert run_dag(dag, logical_date=START).state == "failed"
    told = f"tdprov: no tdprov store at {typo} (no _tdprov/store.json"
    assert caplog.text.count(told) == 1 and "TDPROV_STORE" in caplog.text
    caplog.clear()

    async def wait() -> dict:
        return (await anext(LineageBundleTrigger({"job": "tdprov_typo.write"}, "tdprov_typo", poll_interval=0.05).run())).payload

    with caplog.at_level("WARNING", logger="prov_airflow.matching"), pytest.raises(TimeoutError):
        asyncio.run(asyncio.wait_for(wait(), timeout=0.5))
    assert caplog.text.count(told) == 1
    assert not typo.exists() and store.exists()  # the DAG run itself was recorded in the store meant


def test_trigger_refuses_a_bad_connection_on_every_poll(store: Path, monkeypatch: pytest.MonkeyPatch,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    """The trigger polls with one hook: a connection refused on the first poll (an extra of another type, a connection
    not defined) was read as no connection on the next, which then listed the [tdprov] store and reset the count of
    failed listings, so the wait went on against the wrong store until its timeout. It fails after ``max_errors``."""
    monkeypatch.setenv("AIRFLOW_CONN_TDPROV_TYPED", json.dumps({"conn_type": "tdprov", "extra": {"store": 5}}))

    async def wait(conn_id: str) -> dict:
        return (await anext(LineageBundleTrigger({"job": "tdprov_typed.write"}, conn_id, poll_interval=0.05,
                                                 max_errors=2).run())).payload

    for conn_id, said in (("tdprov_typed", "'store' in the extra of Airflow connection 'tdprov_typed' is 5, not text."),
                          ("tdprov_undefined", "Airflow connection 'tdprov_undefined' (type tdprov) is not defined")):
        caplog.clear()
        with caplog.at_level("WARNING", logger="prov_airflow.matching"):
            event = asyncio.run(asyncio.wait_for(wait(conn_id), timeout=10))
        assert event["status"] == "error" and said in event["message"], event
        assert caplog.text.count(said) == 2 and "(2/2 failed in a row)" in caplog.text, caplog.text


def test_sensor_and_trigger_name_where_their_keys_are_set_when_they_cannot_be_read(
        tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Trusted keys the sensor or trigger cannot read had the CLI's fix (--trusted-keys or TDPROV_TRUSTED_KEYS), a
    setting Airflow's do not use: it names where they are set (the connection's extra), or, with none set, where the
    signing key is whose public key local trust takes."""
    big = tmp_path / "team.pub"
    big.write_bytes(b"x" * (64 * 1024 + 1))  # larger than a key file
    bad = tmp_path / "bad.key"
    bad.write_bytes(b"not a key\n")
    for conn_id, extra in (("tdprov_trusted", {"trusted_keys": str(big)}), ("tdprov_own", {"signing_key": str(bad)})):
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "tdprov", "host": str(store),
                                                                           "extra": extra}))
    told = {"tdprov_trusted": "Fix: check the path given by trusted_keys in the extra of Airflow connection "
                              "'tdprov_trusted'",
            "tdprov_own": "Fix: point signing_key in the extra of Airflow connection 'tdprov_own' at the private key "
                          "file that 'tdprov keygen' wrote"}
    with DAG("tdprov_waits_with_keys_unread", start_date=START, schedule=None) as dag:
        for conn_id in told:
            LineageBundleSensor(task_id=conn_id, job="tdprov_keys.write", tdprov_conn_id=conn_id, mode="poke",
                                poke_interval=0.05, timeout=30, max_errors=1)
    with caplog.at_level("WARNING", logger="prov_airflow.matching"):
        assert run_dag(dag, logical_date=START).state == "failed"
    for fix in told.values():
        assert fix in caplog.text, caplog.text
    assert "TDPROV_TRUSTED_KEYS" not in caplog.text and "TDPROV_SIGNING_KEY" not in caplog.text, caplog.text

    async def wait(conn_id: str) -> dict:
        return (await anext(LineageBundleTrigger({"job": "tdprov_keys.write"}, conn_id, poll_interval=0.05,
                                                 max_errors=1).run())).payload

    for conn_id, fix in told.items():
        event = asyncio.run(asyncio.wait_for(wait(conn_id), timeout=10))
        assert event["status"] == "error" and event["message"].endswith(fix), event


def test_audit_operator_publishes_the_checkpoint_and_keeps_it_in_a_variable(tmp_path: Path, store: Path) -> None:
    """The checkpoint goes to XCom and to an Airflow Variable; the Variable is a witness of the next
    audit, so a roll back is found even after the auditor's own memory was lost."""
    from airflow.models import Variable

    from prov_common.audit.memory import memory_path
    from prov_common.store import open_store
    from prov_common.tlog.model import sha256_digest

    _produce(store, "tdprov_witness_up", tmp_path)
    pulled = tmp_path / "pulled.json"

    def pull(ti) -> None:
        pulled.write_text(json.dumps(ti.xcom_pull(task_ids="audit", key="checkpoint")))

    with DAG("tdprov_witness", start_date=START, schedule=None) as dag:
        audit = ProvenanceAuditOperator(task_id="audit", report_dir=str(tmp_path / "audit"), witness_variable="tdprov_checkpoint")
        audit >> PythonOperator(task_id="pull", python_callable=pull)
    assert run_dag(dag, logical_date=START).state == "success"
    published = json.loads(pulled.read_text())
    head = sorted((store / "log" / "checkpoints").iterdir())[-1]
    assert published["treeSize"] == int(head.stem) and published["checkpointDigest"] == sha256_digest(head.read_bytes())
    kept = json.loads(Variable.get("tdprov_checkpoint"))
    assert (kept["checkpoint"], kept["store"]) == (published, open_store(str(store)).uri)

    head.unlink()
    memory_path(open_store(str(store)).uri).unlink()
    with DAG("tdprov_witness_again", start_date=START, schedule=None) as dag:
        ProvenanceAuditOperator(task_id="audit", report_dir=str(tmp_path / "audit2"), witness_variable="tdprov_checkpoint")
    assert run_dag(dag, logical_date=START).state == "failed"
    report = json.loads(next((tmp_path / "audit2").rglob("report.json")).read_text())
    log = next(c for c in report["checks"] if c["name"] == "log")
    assert any("Airflow Variable 'tdprov_checkpoint'" in f["what"] for f in log["findings"]), log["findings"]
    assert json.loads(Variable.get("tdprov_checkpoint"))["checkpoint"] == published  # not overwritten over the gap


def test_witness_variable_of_another_store_is_refused(tmp_path: Path, store: Path) -> None:
    """The Variable keeps the store its checkpoint is of: an audit of another store refuses it (a finding
    naming the Variable) instead of comparing two stores' logs."""
    from airflow.models import Variable

    _produce(store, "tdprov_witness_store_up", tmp_path)
    Variable.set("tdprov_other_checkpoint", json.dumps({"store": "s3://some-other-store/", "keptAt": "2026-01-01T00:00:00Z",
                                                         "auditId": "x", "checkpoint": {"treeSize": 1, "rootHash": "00", "checkpointDigest": "00"}}))
    with DAG("tdprov_witness_other", start_date=START, schedule=None) as dag:
        ProvenanceAuditOperator(task_id="audit", report_dir=str(tmp_path / "a1"), witness_variable="tdprov_other_checkpoint")
    assert run_dag(dag, logical_date=START).state == "failed"
    report = json.loads(next((tmp_path / "a1").rglob("report.json")).read_text())
    whats = [f["what"] for c in report["checks"] for f in c["findings"]]
    assert any("Airflow Variable 'tdprov_other_checkpoint' names another store" in w and "s3://some-other-store/" in w
               for w in whats), whats


def test_witness_variable_of_the_older_form_is_read_as_this_stores(tmp_path: Path, store: Path) -> None:
    """A Variable holding only the published checkpoint, as written before the store was kept with it, is
    read as this store's checkpoint and rewritten in the new form."""
    from airflow.models import Variable

    from prov_common.store import open_store

    _produce(store, "tdprov_witness_plain_up", tmp_path)
    with DAG("tdprov_witness_first", start_date=START, schedule=None) as dag:
        ProvenanceAuditOperator(task_id="audit", report_dir=str(tmp_path / "a2"), witness_variable="tdprov_plain_checkpoint")
    assert run_dag(dag, logical_date=START).state == "success"
    published = json.loads(Variable.get("tdprov_plain_checkpoint"))["checkpoint"]
    Variable.set("tdprov_plain_checkpoint", json.dumps(published))  # the older form: the checkpoint alone
    _produce(store, "tdprov_witness_store_more", tmp_path)
    with DAG("tdprov_witness_older_form", start_date=START, schedule=None) as dag:
        ProvenanceAuditOperator(task_id="audit", report_dir=str(tmp_path / "a3"), witness_variable="tdprov_plain_checkpoint")
    assert run_dag(dag, logical_date=START).state == "success"
    kept = json.loads(Variable.get("tdprov_plain_checkpoint"))
    assert kept["store"] == open_store(str(store)).uri and kept["checkpoint"]["treeSize"] > published["treeSize"]


def test_audit_mode_returns_a_report_location_that_opens(tmp_path: Path, store: Path) -> None:
    """Without ``report_dir`` the report goes into the store; the operator returned its store-relative key
    (``audit/reports/.../report.json``), which opens nowhere. It returns the store's location joined with the key."""
    _produce(store, "tdprov_audit_location", tmp_path)
    seen = tmp_path / "returned.txt"
    with DAG("tdprov_audit_location_check", start_date=START, schedule=None) as dag:
        audit = ProvenanceAuditOperator(task_id="audit")
        keep = PythonOperator(task_id="keep", python_callable=lambda ti: seen.write_text(ti.xcom_pull(task_ids="audit")))
        audit >> keep
    assert run_dag(dag, logical_date=START).state == "success"
    location = seen.read_text()
    assert location.startswith(str(store)) and location.endswith("/report.json")
    assert json.loads(Path(location).read_text())["summary"]["clean"] is True


@pytest.mark.parametrize("validates", ["decorator", "operator"])
def test_a_mask_key_file_that_is_missing_fails_a_validating_task_before_its_work(
        tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture,
        validates: str) -> None:
    """``TDPROV_MASK_KEY`` naming no file fails a task that validates when it starts (its callable never runs),
    not only when a check first fails, which ``on_failure='warn'`` would let through."""
    missing = tmp_path / "secrets" / "mask.key"
    monkeypatch.setenv("TDPROV_MASK_KEY", str(missing))
    ran: list[str] = []
    good = tmp_path / "good.csv"
    GOOD.to_csv(good, index=False)
    with DAG(f"tdprov_mask_key_{validates}", start_date=START, schedule=None) as dag:
        if validates == "decorator":
            @provenance_task(schema=SCHEMA, on_failure="warn")
            def make() -> pd.DataFrame:
                ran.append("make")
                return GOOD

            make()
        else:
            PanderaValidationOperator(task_id="check", source=str(good), schema=SCHEMA, on_failure="warn")
    capfd.readouterr()
    assert run_dag(dag, logical_date=START).state == "failed"
    said = "".join(capfd.readouterr())  # the task's log
    assert ran == [] and f"TDPROV_MASK_KEY names {str(missing)!r}" in said and "head -c 32 /dev/urandom" in said
