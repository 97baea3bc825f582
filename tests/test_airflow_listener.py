"""The tdprov Airflow plugin, loaded from its entry point, records dag.test() runs as verified bundles."""
from __future__ import annotations

import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from airflow_dags import harness  # noqa: F401  (sets AIRFLOW_HOME before Airflow is imported)
from airflow_dags.harness import airflow_db, store  # noqa: F401 (fixtures)
from airflow_dags.harness import bundles_of, events_of, run_dag
from shards_support import cli

import pandas as pd
import pendulum
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Asset

from prov_common.bundle import verify_bundle
from prov_common.config import Settings
from prov_common.hashing import hash_path
from prov_common.signing import trust_from_settings
from prov_common.store import open_store

START = pendulum.datetime(2024, 1, 1, tz="UTC")
TDPROV = Path(sys.executable).parent / "tdprov"


def _write_raw(path: str) -> None:
    pd.DataFrame({"id": [1, 2, 3], "x": [0.5, 1.5, 2.5]}).to_csv(path, index=False)


def _features(src: str, dst: str) -> None:
    df = pd.read_csv(src)
    df["x2"] = df["x"] * 2
    df.to_parquet(dst, index=False)


def _export(src: str, dst: str) -> None:
    Path(dst).write_bytes(pd.read_parquet(src).to_json().encode())


def _fail() -> None:
    raise ValueError("boom on purpose")


def test_plugin_is_loaded_from_its_entry_point() -> None:
    from airflow import plugins_manager
    from airflow.listeners.listener import get_listener_manager
    from airflow.sdk.listener import get_listener_manager as sdk_listener_manager

    from prov_airflow.listener import get_listener

    plugins, _ = plugins_manager._get_plugins()
    ours = [p for p in plugins if p.name == "tdprov"]
    assert len(ours) == 1
    assert type(ours[0].source).__name__ == "EntryPointSource"
    assert "prov_airflow.plugin" in str(ours[0].source)
    assert get_listener() in get_listener_manager().pm.get_plugins()
    assert get_listener() in sdk_listener_manager().pm.get_plugins()


def test_provider_info_registers_connection_type_config_and_decorator() -> None:
    from airflow.providers_manager import ProvidersManager
    from airflow.sdk import task
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    from prov_airflow.decorators.provenance import provenance_task

    assert "tdprov" in ProvidersManager().providers
    hook = ProvidersManagerTaskRuntime().hooks["tdprov"]
    assert hook.hook_class_name == "prov_airflow.hooks.provenance.ProvenanceHook"
    options = dict(ProvidersManager().provider_configs)["tdprov"]["tdprov"]["options"]
    assert {"store", "signing_key", "trusted_keys", "spool", "strict"} <= set(options)
    assert task.provenance is provenance_task


def test_dag_run_gives_one_verified_bundle_per_task_and_run(tmp_path: Path, store: Path, ol_validator) -> None:
    raw, feats, model = tmp_path / "raw.csv", tmp_path / "features.parquet", tmp_path / "model.bin"
    with DAG("tdprov_chain", start_date=START, schedule=None) as dag:
        extract = PythonOperator(task_id="extract", python_callable=_write_raw, op_args=[str(raw)],
                                 outlets=[Asset(raw.as_uri())])
        transform = PythonOperator(task_id="transform", python_callable=_features, op_args=[str(raw), str(feats)],
                                   inlets=[Asset(raw.as_uri())], outlets=[Asset(feats.as_uri())])
        export = PythonOperator(task_id="export", python_callable=_export, op_args=[str(feats), str(model)],
                                inlets=[str(feats)], outlets=[str(model)])  # plain paths work too
        extract >> transform >> export
    run = run_dag(dag, logical_date=START)
    assert run.state == "success"

    summaries = bundles_of(store)
    jobs = sorted(s.job_name for s in summaries)
    assert jobs == ["tdprov_chain", "tdprov_chain.export", "tdprov_chain.extract", "tdprov_chain.transform"]
    trust = trust_from_settings(Settings.from_env())
    opened = open_store(str(store))
    for summary in summaries:
        report = verify_bundle(opened, summary.run_id, trust)
        assert report.ok, report.findings

    by_job = {s.job_name: s for s in summaries}
    versions = {o.name: o.version for s in summaries for o in s.outputs}
    hashed = subprocess.run([str(TDPROV), "hash", str(raw), str(feats), str(model)], capture_output=True,
                            text=True, check=True).stdout.split("\n")
    assert [line.split("  ", 1) for line in hashed if line] == [[versions[str(p)], str(p)] for p in (raw, feats, model)]
    assert hash_path(feats).kind == "table" and hash_path(model).kind == "file"
    # inputs were hashed at task start: the version read is the version written upstream
    assert by_job["tdprov_chain.transform"].inputs[0].version == versions[str(raw)]

    # lineage of the last output reaches the first, through the recorded runs
    tree = subprocess.run([str(TDPROV), "lineage", str(model), "--store", str(store), "--json"],
                          capture_output=True, text=True, check=True).stdout
    assert versions[str(raw)] in tree and versions[str(feats)] in tree and "tdprov_chain.transform" in tree

    # task runs are children of the DAG run, with the OpenLineage provider's ids
    from airflow.providers.openlineage.plugins.adapter import OpenLineageAdapter

    dag_run_id = OpenLineageAdapter.build_dag_run_id("tdprov_chain", START, run.clear_number)
    assert by_job["tdprov_chain"].run_id == dag_run_id
    task_id = OpenLineageAdapter.build_task_instance_run_id("tdprov_chain", "export", 1, START, -1)
    assert by_job["tdprov_chain.export"].run_id == task_id
    events = events_of(store, task_id)
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    for summary in summaries:  # every event we emitted is valid OpenLineage
        for event in events_of(store, summary.run_id):
            ol_validator.validate_event(event)
    assert events[-1]["run"]["facets"]["parent"]["run"]["runId"] == dag_run_id
    assert events[-1]["outputs"][0]["facets"]["tdprov_contentHash"]["digest"] == versions[str(model)]


def test_failing_task_gives_a_fail_bundle(store: Path) -> None:
    with DAG("tdprov_failing", start_date=START, schedule=None) as dag:
        PythonOperator(task_id="explode", python_callable=_fail)
    run = run_dag(dag, logical_date=START)
    assert run.state == "failed"
    by_job = {s.job_name: s for s in bundles_of(store)}
    assert by_job["tdprov_failing.explode"].state == "FAIL"
    assert by_job["tdprov_failing"].state == "FAIL"
    events = events_of(store, by_job["tdprov_failing.explode"].run_id)
    assert "boom on purpose" in events[-1]["run"]["facets"]["errorMessage"]["message"]


def test_events_carry_the_start_and_end_dates_airflow_recorded(tmp_path: Path, store: Path) -> None:
    """START is the task instance's start_date (the OpenLineage provider's START time), the terminal event its end_date,
    for a try that completes and one that fails; the DAG run ends at its end_date. They were the listener's own clock:
    its START came after it had hashed the task's inlets."""
    raw = tmp_path / "raw.csv"
    _write_raw(str(raw))
    with DAG("tdprov_times", start_date=START, schedule=None) as dag:
        PythonOperator(task_id="work", python_callable=_features, op_args=[str(raw), str(tmp_path / "f.parquet")],
                       inlets=[Asset(raw.as_uri())])
        PythonOperator(task_id="explode", python_callable=_fail, inlets=[Asset(raw.as_uri())])
    run = run_dag(dag, logical_date=START)
    assert run.state == "failed"
    by_job, times = {s.job_name: s for s in bundles_of(store)}, {}
    tis = {ti.task_id: ti for ti in run.get_task_instances()}
    for task_id in tis:
        events = events_of(store, by_job[f"tdprov_times.{task_id}"].run_id)
        times[task_id] = [(e["eventType"], datetime.fromisoformat(e["eventTime"])) for e in events]
    assert times["work"] == [("START", tis["work"].start_date), ("COMPLETE", tis["work"].end_date)]
    # dag.test() sets a failed try's end_date again after its task process reported it, so it is later than the
    # end_date Airflow stored from the task (and that the task process gave its listeners)
    [(start, started), (fail, failed)] = times["explode"]
    assert (start, started, fail) == ("START", tis["explode"].start_date, "FAIL")
    assert started < failed <= tis["explode"].end_date
    [(state, ended)] = [(e["eventType"], e["eventTime"]) for e in events_of(store, by_job["tdprov_times"].run_id)]
    assert (state, datetime.fromisoformat(ended)) == ("FAIL", run.end_date)


def test_missing_outlet_is_named_not_recorded_and_task_result_unchanged(tmp_path: Path, store: Path) -> None:
    """A declared outlet that is not there after the try is no output of it: the ``tdprov_outlets`` facet names it."""
    ghost = tmp_path / "never-written.parquet"
    with DAG("tdprov_missing", start_date=START, schedule=None) as dag:
        PythonOperator(task_id="forgets", python_callable=lambda: None, outlets=[Asset(ghost.as_uri())])
    run = run_dag(dag, logical_date=START)
    assert run.state == "success"
    by_job = {s.job_name: s for s in bundles_of(store)}
    summary = by_job["tdprov_missing.forgets"]
    assert summary.state == "COMPLETE"
    assert summary.outputs == ()
    complete = events_of(store, summary.run_id)[-1]
    assert complete["outputs"] == []
    assert not complete["run"]["facets"]["tdprov_runContext"].get("partial")  # nothing failed to hash
    assert complete["run"]["facets"]["tdprov_outlets"]["notWritten"] == [
        {"namespace": "file", "name": str(ghost), "reason": "missing"}]


def test_a_logical_asset_is_recorded_by_name_never_as_a_file_of_that_name(tmp_path: Path, store: Path,
                                                                          monkeypatch) -> None:
    """``Asset(name="daily_report")`` (a URI with no scheme) names no data: it is recorded as the logical asset
    ``airflow-asset`` / ``daily_report``, without a digest and without marking the run partial, even when a file
    of that name is in the worker's working folder (that file is never hashed nor claimed)."""
    from airflow_dags.harness import asset_events

    from prov_airflow.capture import capture_all
    from prov_airflow.settings import ListenerLimits

    monkeypatch.chdir(tmp_path)
    (tmp_path / "daily_report").write_text("an unrelated file in the working folder\n")
    report = Asset(name="daily_report")
    with DAG("tdprov_logical_asset", start_date=START, schedule=None) as dag:
        (PythonOperator(task_id="produce", python_callable=lambda: None, outlets=[report])
         >> PythonOperator(task_id="consume", python_callable=lambda: None, inlets=[report]))
    assert run_dag(dag, logical_date=START).state == "success"
    by_job = {s.job_name: s for s in bundles_of(store)}
    assert [(o.namespace, o.name, o.version) for o in by_job["tdprov_logical_asset.produce"].outputs] == [
        ("airflow-asset", "daily_report", None)]
    assert [(i.namespace, i.name, i.version) for i in by_job["tdprov_logical_asset.consume"].inputs] == [
        ("airflow-asset", "daily_report", None)]
    assert "digest" not in asset_events("tdprov_logical_asset")["daily_report"]["extra"]["tdprov"]
    [capture] = capture_all([report], ListenerLimits())
    assert (capture.status, capture.complete, capture.digest) == ("logical", True, None)
    from prov_airflow.matching import BundleQuery, find_bundle
    from prov_common.signing import trust_from_settings
    from prov_common.store import open_store

    trust = trust_from_settings()  # the bundle sensor's query names a logical asset as airflow-asset:<name>
    found = find_bundle(open_store(str(store)), BundleQuery(dataset="airflow-asset:daily_report"), trust)
    assert found is not None and found.job_name == "tdprov_logical_asset.produce"
    assert find_bundle(open_store(str(store)), BundleQuery(dataset="airflow-asset:weekly_report"), trust) is None


def test_training_tasks_are_marked_explicitly(tmp_path: Path, store: Path) -> None:
    """``@task.provenance(training=True)`` and the ``tdprov_training`` param give jobType TRAINING, which the
    audit's training sections follow and name as the rule; an unmarked task is not guessed from a neutral name."""
    from airflow.sdk import task

    from prov_airflow.decorators.provenance import provenance_task
    from prov_common.audit.engine import run_audit
    from prov_common.audit.model import RULE_JOB_TYPE

    raw, fitted, other = tmp_path / "raw.csv", tmp_path / "weights.bin", tmp_path / "other.bin"
    with DAG("tdprov_marks", start_date=START, schedule=None) as dag:
        write = PythonOperator(task_id="write", python_callable=_write_raw, op_args=[str(raw)], outlets=[Asset(raw.as_uri())])

        @provenance_task(training=True, inlets=[Asset(raw.as_uri())], outlets=[Asset(fitted.as_uri())])
        def fit_weights() -> None:
            fitted.write_bytes(raw.read_bytes()[::-1])

        @task(params={"tdprov_training": True}, inlets=[Asset(raw.as_uri())], outlets=[Asset(other.as_uri())])
        def estimate() -> None:
            other.write_bytes(b"estimated")

        write >> [fit_weights(), estimate()]
    assert run_dag(dag, logical_date=START).state == "success"
    by_job = {s.job_name: s.run_id for s in bundles_of(store)}
    for job in ("tdprov_marks.fit_weights", "tdprov_marks.estimate"):
        assert events_of(store, by_job[job])[-1]["job"]["facets"]["jobType"]["jobType"] == "TRAINING"
    assert events_of(store, by_job["tdprov_marks.write"])[-1]["job"]["facets"]["jobType"]["jobType"] == "TASK"
    result = run_audit(open_store(str(store)), Settings.from_env(), full=True, report_dir=tmp_path / "report", progress=False)
    rules = {r.job_name: r.training_rule for r in result.index.runs.values()}
    assert rules["tdprov_marks.fit_weights"] == rules["tdprov_marks.estimate"] == RULE_JOB_TYPE
    assert rules["tdprov_marks.write"] is None


def test_outlet_files_are_subjects_that_a_generic_in_toto_verifier_matches(tmp_path: Path, store: Path) -> None:
    from intoto_support import file_sha256, subjects_matching, verified_statement
    from prov_common.bundle import read_bundle
    from prov_common.signing import signing_key_from_settings

    raw, model = tmp_path / "raw.csv", tmp_path / "model.bin"
    with DAG("tdprov_intoto", start_date=START, schedule=None) as dag:
        extract = PythonOperator(task_id="extract", python_callable=_write_raw, op_args=[str(raw)], outlets=[Asset(raw.as_uri())])
        export = PythonOperator(task_id="export", python_callable=lambda: model.write_bytes(b"\x00weights\xff"),
                                inlets=[str(raw)], outlets=[str(model)])
        extract >> export
    assert run_dag(dag, logical_date=START).state == "success"

    opened = open_store(str(store))
    public = signing_key_from_settings(Settings.from_env()).public.to_pem()
    statements = {s.job_name: verified_statement(read_bundle(opened, s.run_id).statement_bytes, public)
                  for s in bundles_of(store)}
    [csv_subject] = subjects_matching(statements["tdprov_intoto.extract"], file_sha256(raw))
    assert csv_subject["name"] == raw.as_uri()
    assert csv_subject["digest"]["tdprovTable-blake3"] == hash_path(raw).digest.split(":", 1)[1]
    [model_subject] = subjects_matching(statements["tdprov_intoto.export"], file_sha256(model))
    assert model_subject["digest"] == {"sha256": file_sha256(model), "blake3": hash_path(model).digest.split(":", 1)[1]}
    # the task that read the CSV names the same bytes among its inputs
    assert [i["digest"]["sha256"] for i in statements["tdprov_intoto.export"]["predicate"]["inputs"]] == [file_sha256(raw)]


def test_a_dataset_named_in_two_uri_forms_is_hashed_once(tmp_path: Path) -> None:
    """Two inlets that name one dataset (``file:///d/x.csv`` and ``file://localhost/d/x.csv``, as ``s3://b/k`` and
    ``s3a://b/k`` do) are one capture: the data is hashed once, under the form named first."""
    from prov_airflow.capture import capture_all
    from prov_airflow.settings import ListenerLimits

    data = tmp_path / "x.csv"
    data.write_text("a\n1\n")
    captures = capture_all([Asset(data.as_uri()), Asset("file://localhost" + str(data)), str(data)], ListenerLimits())
    assert [(c.uri, c.status, c.digest.digest) for c in captures] == [(data.as_uri(), "hashed", hash_path(data).digest)]


def test_outlets_that_name_one_dataset_each_get_its_digest(tmp_path: Path, store: Path) -> None:
    """Outlets ``file:///d/y.csv`` and ``file://localhost/d/y.csv`` are one output, hashed once, and the asset event
    of each carries its digest."""
    from airflow_dags.harness import asset_events

    data = tmp_path / "y.csv"
    forms = [Asset(data.as_uri()), Asset("file://localhost" + str(data))]
    with DAG("tdprov_two_outlet_forms", start_date=START, schedule=None) as dag:
        PythonOperator(task_id="writes", python_callable=lambda: data.write_text("a\n1\n"), outlets=forms)
    assert run_dag(dag, logical_date=START).state == "success"
    [summary] = [s for s in bundles_of(store) if s.job_name == "tdprov_two_outlet_forms.writes"]
    assert [(o.name, o.version) for o in summary.outputs] == [(str(data), hash_path(data).digest)]
    events = asset_events("tdprov_two_outlet_forms")
    assert {uri: events[uri]["extra"]["tdprov"].get("digest") for uri in (f.uri for f in forms)} == {
        f.uri: hash_path(data).digest for f in forms}


def test_the_asset_events_take_each_outlets_dataset_as_its_hashing_named_it(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The asset events' facts matched each outlet to its capture by naming it again (``to_uri``, ``named_key``) after
    the hashing had: the names the hashing used serve both. Two forms of one dataset each carry its digest, the task's
    own ``extra`` kept; an outlet the try did not write gets nothing."""
    from types import SimpleNamespace

    import prov_airflow.outlets
    from prov_airflow.capture import capture_named, named_items
    from prov_airflow.outlets import annotate
    from prov_airflow.settings import ListenerLimits

    data = tmp_path / "y.csv"
    data.write_text("a\n1\n")
    forms = [Asset(data.as_uri()), Asset("file://localhost" + str(data)), Asset((tmp_path / "unwritten.csv").as_uri())]
    named = named_items(forms)
    written = [c for c in capture_named(named, ListenerLimits()) if c.status == "hashed"]
    events = {form: SimpleNamespace(extra={"own": i}) for i, form in enumerate(forms)}
    for name in ("to_uri", "named_key", "dataset_key"):  # named once, by the hashing
        monkeypatch.setattr(prov_airflow.outlets, name, lambda *a, **k: pytest.fail("named again"), raising=False)
    assert annotate(events, forms, [], named, written, "s3://b/bundles/r", "r") == 2
    facts = {"bundle": "s3://b/bundles/r", "runId": "r", "digest": hash_path(data).digest, "rows": 1}
    assert [e.extra for e in events.values()] == [{"own": 0, "tdprov": facts}, {"own": 1, "tdprov": facts}, {"own": 2}]


def _run_with_unnamable_datasets(dag_id: str, unnamable: str, tmp_path: Path, store: Path) -> None:
    """Run a task with inlets ``<unnamable>/in`` and a local file, outlets a local file and ``<unnamable>/out``; assert
    that it completes and that its bundle records the two local files with their digests."""
    raw, out = tmp_path / "in.csv", tmp_path / "out.csv"
    raw.write_text("a\n1\n")
    with DAG(dag_id, start_date=START, schedule=None) as dag:
        PythonOperator(task_id="t", python_callable=lambda: out.write_text("b\n2\n"),
                       inlets=[Asset(f"{unnamable}/in"), Asset(raw.as_uri())], outlets=[Asset(out.as_uri()), Asset(f"{unnamable}/out")])
    assert run_dag(dag, logical_date=START).state == "success"
    [task] = [s for s in bundles_of(store) if s.job_name == f"{dag_id}.t"]
    assert task.state == "COMPLETE"
    assert [(i.name, i.version) for i in task.inputs] == [(str(raw), hash_path(raw).digest)]
    assert [(o.name, o.version) for o in task.outputs] == [(str(out), hash_path(out).digest)]


def test_a_dataset_uri_that_names_no_dataset_leaves_the_tasks_other_datasets_recorded(
        tmp_path: Path, store: Path, caplog) -> None:
    """Airflow takes ``Asset("x://h:port/in")`` (a port that is no number), which the OpenLineage naming refuses: the
    listener's capture raised on it, so the task was recorded with no run at all. It is left out with a warning
    naming it, and the task's other inlets and outlets are recorded."""
    _run_with_unnamable_datasets("tdprov_unnamable_uri", "x://h:port", tmp_path, store)
    warned = [r.getMessage() for r in caplog.records if "x://h:port/in" in r.getMessage()]
    assert len(warned) == 1 and "names no dataset tdprov can record" in warned[0] and "Port could not be cast" in warned[0], warned


def test_a_file_uri_whose_port_is_no_number_leaves_the_tasks_other_datasets_recorded(
        tmp_path: Path, store: Path, caplog) -> None:
    """``Asset("file://h:port/out")`` as an outlet: the look at what the outlets hold when the try starts read it as a
    local path and raised ('cannot be read as a URI'), so the task's start was not recorded and its run lost its
    inputs. It is left out with the warning of any dataset tdprov cannot name, and the other datasets are recorded."""
    _run_with_unnamable_datasets("tdprov_unnamable_file_uri", "file://h:port", tmp_path, store)
    assert not [r for r in caplog.records if "could not record provenance" in r.getMessage()]
    warned = [r.getMessage() for r in caplog.records if "file://h:port/out" in r.getMessage()]
    assert len(warned) == 1 and "names no dataset tdprov can record" in warned[0], warned


def test_a_task_named_like_another_dags_task_is_named_as_another_run_not_folded_into_it(
        tmp_path: Path, store: Path, caplog) -> None:
    """Airflow (and its OpenLineage provider) names task 'load' of DAG 'etl.daily' and task 'daily.load' (task group
    'daily') of DAG 'etl' alike: one job and, at one logical date, one run id. The second task's run was warned of as
    events that came after the seal, with 're-run the step' (which gives the same run id again). It is named as another
    run given the same run id, with the fix, by the listener and the audit, and the first task's bundle holds its own run
    alone."""
    from airflow.providers.openlineage.plugins.adapter import OpenLineageAdapter
    from airflow.sdk import TaskGroup

    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    with DAG("tdprov_etl.daily", start_date=START, schedule=None) as first:
        PythonOperator(task_id="load", python_callable=_write_raw, op_args=[str(one)], outlets=[Asset(one.as_uri())])
    with DAG("tdprov_etl", start_date=START, schedule=None) as second:
        with TaskGroup("daily"):
            PythonOperator(task_id="load", python_callable=_write_raw, op_args=[str(two)], outlets=[Asset(two.as_uri())])
    with caplog.at_level("WARNING"):
        runs = [run_dag(dag, logical_date=START) for dag in (first, second)]
    assert [r.state for r in runs] == ["success", "success"]
    run_id = OpenLineageAdapter.build_task_instance_run_id("tdprov_etl.daily", "load", 1, START, -1)
    assert run_id == OpenLineageAdapter.build_task_instance_run_id("tdprov_etl", "daily.load", 1, START, -1)
    parent, other = (OpenLineageAdapter.build_dag_run_id(r.dag_id, START, r.clear_number) for r in runs)

    task = {s.run_id: s for s in bundles_of(store)}[run_id]
    assert task.job_name == "tdprov_etl.daily.load" and [o.name for o in task.outputs] == [str(one)]
    assert [e["run"]["facets"]["parent"]["run"]["runId"] for e in events_of(store, run_id)] == [parent, parent]
    warned = [r.getMessage() for r in caplog.records if "was given the same run id, so its" in r.getMessage()]  # its end
    assert len(warned) == 1, warned
    assert f"sealed already as the run of job default/tdprov_etl.daily.load with parent run {parent}" in warned[0]
    assert f"with parent run {other}" in warned[0] and "rename a DAG or task group" in warned[0]
    assert not [r for r in caplog.records if "more arrived" in r.getMessage() or "sealed without" in r.getMessage()]
    [started] = [r.getMessage() for r in caplog.records if "START event timed" in r.getMessage()]  # its START, warned as
    assert f"is of another run, of job default/tdprov_etl.daily.load with parent run {other} " in started  # it came
    assert "rename a DAG or task group" in started and "re-run the step" not in started, started

    from prov_common.audit import run_audit
    from prov_common.audit.model import CHECK_UNFINISHED

    audit = run_audit(open_store(str(store)), Settings.from_env(store=str(store)), report_dir=tmp_path / "report", progress=False)
    (found,) = [f for f in audit.check(CHECK_UNFINISHED).findings if f.run_id == run_id]
    assert f"as a run whose parent is run {parent}, and 2 events of another run, whose parent is run {other}," in found.what
    assert "rename a DAG or task group" in found.fix and "re-run the step" not in found.fix


def test_a_dag_run_and_a_mapped_task_given_its_run_id_are_named_two_runs(tmp_path: Path, store: Path, caplog) -> None:
    """The provider makes a DAG run's run id from '<dag_id>.<clear number>' and a task try's from
    '<dag_id>.<task_id>.<try>.<map index>': the DAG run of DAG 'tdprov_m.load.1' and try 1 of mapped task 'load' of DAG
    'tdprov_m' (map index 0) have one run id. The DAG run's events name no parent, so the task's events were warned of as
    events that came late to the DAG run's bundle ('re-run the step', which gives the same run id again). They are named
    as another run's, of another job, with the fix, by the listener and the audit; the DAG run's bundle stays its own."""
    from airflow.providers.openlineage.plugins.adapter import OpenLineageAdapter

    two = tmp_path / "two.csv"
    with DAG("tdprov_m.load.1", start_date=START, schedule=None) as first:
        PythonOperator(task_id="noop", python_callable=lambda: None)
    with DAG("tdprov_m", start_date=START, schedule=None) as second:
        PythonOperator.partial(task_id="load", python_callable=_write_raw, outlets=[Asset(two.as_uri())]
                               ).expand(op_args=[[str(two)]])
    with caplog.at_level("WARNING"):
        runs = [run_dag(dag, logical_date=START) for dag in (first, second)]
    assert [r.state for r in runs] == ["success", "success"]
    run_id = OpenLineageAdapter.build_dag_run_id("tdprov_m.load.1", START, 0)
    assert run_id == OpenLineageAdapter.build_task_instance_run_id("tdprov_m", "load", 1, START, 0)
    other = OpenLineageAdapter.build_dag_run_id("tdprov_m", START, runs[1].clear_number)

    dag_run = {s.run_id: s for s in bundles_of(store)}[run_id]
    assert (dag_run.job_name, dag_run.outputs) == ("tdprov_m.load.1", ())
    assert {e["job"]["name"] for e in events_of(store, run_id)} == {"tdprov_m.load.1"}
    messages = [r.getMessage() for r in caplog.records if run_id in r.getMessage()]
    assert not [m for m in messages if "re-run the step" in m or "more arrived" in m], messages
    [started] = [m for m in messages if "START event timed" in m]
    assert (f"sealed already as the run of job default/tdprov_m.load.1 with no parent run in Airflow DAG run "
            f"{runs[0].run_id}; its START event timed" in started
            and f"is of another run, of job default/tdprov_m.load with parent run {other} of job default/tdprov_m" in started)
    [ended] = [m for m in messages if "was given the same run id, so its" in m]
    assert (f"sealed already as the run of job default/tdprov_m.load.1 with no parent run; another run, of job "
            f"default/tdprov_m.load with parent run {other}," in ended), ended
    assert all("rename a DAG whose id ends in '.<number>'" in m for m in (started, ended))

    from prov_common.audit import run_audit
    from prov_common.audit.model import CHECK_UNFINISHED

    audit = run_audit(open_store(str(store)), Settings.from_env(store=str(store)), report_dir=tmp_path / "report", progress=False)
    (found,) = [f for f in audit.check(CHECK_UNFINISHED).findings if f.run_id == run_id]
    assert (f"as a run of job default/tdprov_m.load.1 with no parent run, and 2 events of another run, of job "
            f"default/tdprov_m.load with parent run {other}, were staged") in found.what, found.what
    assert "rename a DAG whose id ends in '.<number>'" in found.fix and "re-run the step" not in found.fix


def _fail_first_try(marker: str) -> None:
    if not Path(marker).exists():
        Path(marker).touch()
        raise ValueError("first try fails on purpose")


def test_a_retried_task_keeps_each_try_apart_and_show_names_why_the_failed_one_failed(tmp_path: Path, store: Path,
                                                                                       capsys: pytest.CaptureFixture) -> None:
    """A task retried after a failure: each try is its own run (the provider's run id of its try number), the failed
    one kept as FAIL with no outputs. 'tdprov show' printed the two alike but for the state: the failed try's error
    message, recorded in its errorMessage facet and PROV, was in no line of it (nor in --json)."""
    import json
    from datetime import timedelta

    from airflow.providers.openlineage.plugins.adapter import OpenLineageAdapter

    out = tmp_path / "out.csv"
    with DAG("tdprov_retried", start_date=START, schedule=None) as dag:
        PythonOperator(task_id="flaky", python_callable=lambda: (_fail_first_try(str(tmp_path / "marker")), _write_raw(str(out))),
                       outlets=[Asset(out.as_uri())], retries=1, retry_delay=timedelta(0))
    assert run_dag(dag, logical_date=START).state == "success"
    first, second = (OpenLineageAdapter.build_task_instance_run_id("tdprov_retried", "flaky", n, START, -1) for n in (1, 2))
    by_run = {s.run_id: s for s in bundles_of(store)}
    assert (by_run[first].state, by_run[first].outputs) == ("FAIL", ())
    assert by_run[second].state == "COMPLETE" and [o.name for o in by_run[second].outputs] == [str(out)]

    def show(run_id: str, *json_flag: str) -> str:
        return _tdprov(["show", run_id, "--store", str(store), *json_flag], capsys)

    assert "\n  error ValueError: first try fails on purpose\n" in show(first)
    assert "error" not in show(second).split("inputs:")[0]
    assert json.loads(show(first, "--json"))["error"] == "ValueError: first try fails on purpose"
    assert json.loads(show(second, "--json"))["error"] is None


def _tdprov(args: list[str], capsys: pytest.CaptureFixture) -> str:
    """What ``tdprov ARGS`` prints, run in this process (the console script's real process: the first test)."""
    code, out = cli(args, capsys)
    assert code == 0, (args, code, out)
    return out


def _fail_first_try_of(index: int, failing: int, marker: str) -> None:
    if index == failing:
        _fail_first_try(marker)


def test_mapped_instances_and_tries_carry_the_providers_airflow_facet_and_show_names_them(
        tmp_path: Path, store: Path, ol_validator, capsys: pytest.CaptureFixture) -> None:
    """The instances of a mapped task, and the tries of one that failed first, were told apart only by run id, state and
    times: the events carried no try number nor map index. Each event now has the OpenLineage provider's ``airflow``
    run facet (taskInstance ``try_number``, ``map_index``, valid against the provider's facet schema), and 'tdprov
    show' names the try and map index of the run, as 'tdprov runs' does (text and --json)."""
    import json
    from datetime import timedelta

    from airflow.providers.openlineage import facets as provider_facets
    from airflow.providers.openlineage.plugins.adapter import OpenLineageAdapter

    with DAG("tdprov_mapped", start_date=START, schedule=None) as dag:
        PythonOperator.partial(task_id="part", python_callable=_fail_first_try_of, retries=1, retry_delay=timedelta(0)
                               ).expand(op_args=[[0, 1, str(tmp_path / "marker")], [1, 1, str(tmp_path / "marker")]])
    assert run_dag(dag, logical_date=START).state == "success"
    tries = {(n, i): OpenLineageAdapter.build_task_instance_run_id("tdprov_mapped", "part", n, START, i)
             for n, i in ((1, 0), (1, 1), (2, 1))}
    states = {s.run_id: s.state for s in bundles_of(store)}
    assert {key: states[run_id] for key, run_id in tries.items()} == {(1, 0): "COMPLETE", (1, 1): "FAIL", (2, 1): "COMPLETE"}

    schema = json.loads((Path(provider_facets.__file__).parent / "AirflowRunFacet.json").read_text())
    for (number, index), run_id in tries.items():
        for event in events_of(store, run_id):
            ol_validator.validate_event(event)
            facet = event["run"]["facets"]["airflow"]
            assert ol_validator.schema_problems(schema, {"airflow": facet}) == []
            assert {k: facet["taskInstance"][k] for k in ("try_number", "map_index")} == {"try_number": number, "map_index": index}
            assert (facet["dag"]["dag_id"], facet["task"]["task_id"], facet["taskUuid"]) == ("tdprov_mapped", "part", run_id)
        shown = _tdprov(["show", run_id, "--store", str(store)], capsys)
        assert f"\n  airflow task instance try {number}, map index {index}\n" in shown
        shown_json = _tdprov(["show", run_id, "--store", str(store), "--json"], capsys)
        assert json.loads(shown_json)["taskInstance"] == {"try_number": number, "map_index": index}
    listed = _tdprov(["runs", "--store", str(store)], capsys)
    lines = {line.split()[0]: line for line in listed.splitlines()}
    assert re.split(r"\s{2,}", lines["RUN"])[:5] == ["RUN ID", "JOB", "STATE", "TASK INSTANCE", "ENDED"]
    for (number, index), run_id in tries.items():  # 'runs' tells them apart too (an index entry's taskInstance)
        assert f" try {number}, map index {index} " in lines[run_id]
    listed_json = {r["runId"]: r for r in json.loads(_tdprov(["runs", "--store", str(store), "--json"], capsys))}
    assert {key: listed_json[run_id]["taskInstance"] for key, run_id in tries.items()} == {
        (1, 0): {"try_number": 1, "map_index": 0}, (1, 1): {"try_number": 1, "map_index": 1}, (2, 1): {"try_number": 2, "map_index": 1}}


def test_a_dag_run_triggered_with_an_openlineage_parent_names_it_as_the_provider_does(store: Path, ol_validator) -> None:
    """A DAG run whose conf carries the ``openlineage`` parent (and root) of the run that triggered it is that run's
    child, and its task runs are of that root, in tdprov's events as in the OpenLineage provider's own (its helpers
    build the facets compared with)."""
    from airflow.providers.openlineage.plugins.adapter import OpenLineageAdapter
    from airflow.providers.openlineage.utils.utils import get_dag_parent_run_facet, get_task_parent_run_facet
    from openlineage.client.serde import Serde

    conf = {"openlineage": {"parentRunId": "0195f1a6-5b7e-7c1a-9d3e-2f4a5b6c7d8e", "parentJobNamespace": "upstream",
                            "parentJobName": "trigger.load", "rootParentRunId": "0195f1a6-5b7e-7c1a-9d3e-2f4a5b6c7d8f",
                            "rootParentJobNamespace": "upstream", "rootParentJobName": "trigger"}}
    with DAG("tdprov_triggered", start_date=START, schedule=None) as dag:
        PythonOperator(task_id="work", python_callable=lambda: None)
    run = run_dag(dag, logical_date=START, run_conf=conf)
    by_job = {s.job_name: s for s in bundles_of(store)}
    dag_run_id = OpenLineageAdapter.build_dag_run_id("tdprov_triggered", START, run.clear_number)
    expected = {
        "tdprov_triggered.work": Serde.to_dict(get_task_parent_run_facet(dag_run_id, "tdprov_triggered", "default",
                                                                        dr_conf=conf)["parent"]),
        "tdprov_triggered": Serde.to_dict(get_dag_parent_run_facet(conf)["parent"]),
    }
    for job, facet in expected.items():
        for event in events_of(store, by_job[job].run_id):
            ol_validator.validate_event(event)
            assert _runs_named(event["run"]["facets"]["parent"]) == _runs_named(facet), (job, event["eventType"])


def _runs_named(parent: dict) -> list[tuple[str, str, str]]:
    """The parent and root runs a ``parent`` facet names, as (job namespace, job name, run id)."""
    return [(p["job"]["namespace"], p["job"]["name"], p["run"]["runId"]) for p in (parent, parent["root"])]
