"""The plugin with S3 datasets, with Airflow's own example DAG, and beside the official OpenLineage provider."""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest
from airflow_dags import harness  # noqa: F401  (sets AIRFLOW_HOME before Airflow is imported)
from airflow_dags.harness import airflow_db, store  # noqa: F401 (fixtures)
from airflow_dags.harness import asset_events, bundles_of, child_env, events_of, run_dag, tdprov_env
from airflow_dags.preloaded import Preloaded

import pandas as pd
import pendulum
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Asset

from prov_airflow.operators.pandera import PanderaValidationOperator

from prov_common.bundle import read_bundle, verify_bundle
from prov_common.bundle.events import parse_events_jsonl
from prov_common.config import Settings
from prov_common.hashing import hash_path
from prov_common.signing import trust_from_settings
from prov_common.store import open_store

from ol_receiver import Receiver

if TYPE_CHECKING:
    from prov_common.audit.result import AuditResult

START = pendulum.datetime(2024, 1, 1, tz="UTC")
HERE = Path(__file__).resolve().parent
_RUN_JOBS = ["tdprov_with_ol_provider", "tdprov_with_ol_provider.check", "tdprov_with_ol_provider.check_warned",
             "tdprov_with_ol_provider.double", "tdprov_with_ol_provider.write"]  # ol_provider_run.py's DAG and its tasks
_LATE_JOBS = ["tdprov_provider_marked_later", "tdprov_provider_marked_later.work"]  # ol_provider_late.py's
# the tests reading documented_run share an xdist worker (scripts/test: --dist loadgroup), which runs its process once;
# the tests running a DAG script are in this group or in REMOTE_FILES_GROUP (about 20 s of CPU each), so that a few of
# them share each preloaded process (its imports cost about what two of its forked scripts cost)
DOCUMENTED_RUN_GROUP = pytest.mark.xdist_group("test_airflow_integration.documented_run")
REMOTE_FILES_GROUP = pytest.mark.xdist_group("test_airflow_integration.remote_files")


@pytest.fixture(scope="module")
def preloaded() -> Iterator[Preloaded]:
    """The DAG scripts' processes, each forked from one that imported Airflow once (for this module, on this worker)."""
    server = Preloaded(child_env())
    yield server
    server.close()


@REMOTE_FILES_GROUP
def test_a_script_that_outlives_its_bound_leaves_the_preloaded_process_to_the_next(tmp_path: Path,
                                                                                  preloaded: Preloaded) -> None:
    """A script still running at its bound fails its run with TimeoutError; the answers still owed for it (its pid, when
    the bound ran out in the preloaded process's imports, then its exit code) were read as the next script's, which
    failed with KeyError: 'pid' or waited for the first script's end (as did every later test of the module on that
    worker, none with its own failure). The next script runs and ends as its own. First of the module's tests that use
    the preloaded process: its bound runs out while that process still imports, so the restart replaces a process
    that had not paid all its imports yet (later, it would throw away a process that had, several seconds of CPU)."""
    slow, quick = tmp_path / "slow.py", tmp_path / "quick.py"
    slow.write_text("import time\ntime.sleep(600)\n")
    quick.write_text("import sys\nprint('ran', sys.argv[1])\nsys.exit(3)\n")
    with pytest.raises(TimeoutError, match="slow.py did not end in time"):
        preloaded.run(slow, [], child_env(), timeout=2)
    done = preloaded.run(quick, ["after"], child_env(), timeout=60)
    assert (done.returncode, done.stdout) == (3, "ran after\n"), (done.returncode, done.stdout, done.stderr)


@REMOTE_FILES_GROUP
def test_a_preloaded_script_finds_the_execution_api_built_and_the_parents_objects_frozen(tmp_path: Path,
                                                                                        preloaded: Preloaded) -> None:
    """Each forked script built dag.test()'s in-process execution API again on its first run, and its garbage
    collections walked (and so copied) every object the preloaded process had loaded: about 3 s of CPU a script. A
    script now finds the app built (for the latest API version alone) and the parent's objects frozen."""
    script = tmp_path / "inherited.py"
    script.write_text("import gc, json\n"
                      "from airflow.sdk.execution_time.supervisor import in_process_api_server\n"
                      "built = in_process_api_server.cache_info().currsize and in_process_api_server()._app\n"
                      "print(json.dumps({'frozen': gc.get_freeze_count(),\n"
                      "                  'versions': [v.value for v in built.versions] if built else None}))\n")
    done = preloaded.run(script, [], child_env(), timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    from airflow.sdk.api.datamodels._generated import API_VERSION

    got = json.loads(done.stdout)
    assert got["versions"] == [API_VERSION], f"the child had no execution API built for the latest version: {got}"
    assert got["frozen"] > 100_000, f"the preloaded process's objects are not frozen before the fork: {got}"


def _verify_all(store_uri: str) -> list:
    summaries = bundles_of(store_uri)
    opened, trust = open_store(store_uri), trust_from_settings(Settings.from_env())
    for summary in summaries:
        report = verify_bundle(opened, summary.run_id, trust)
        assert report.ok, report.findings
    return summaries


def test_s3_inlets_and_outlets_are_streamed_and_hashed(s3_store_uri: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__TDPROV__STORE", s3_store_uri)
    bucket = s3_store_uri.split("/")[2]
    source, target = f"s3://{bucket}/data/in.csv", f"s3://{bucket}/data/out.parquet"
    s3 = boto3.client("s3")
    s3.put_object(Bucket=bucket, Key="data/in.csv", Body=b"a,b\n1,x\n2,y\n")

    def transform() -> None:
        body = boto3.client("s3").get_object(Bucket=bucket, Key="data/in.csv")["Body"]
        frame = pd.read_csv(body)
        boto3.client("s3").put_object(Bucket=bucket, Key="data/out.parquet", Body=frame.to_parquet(index=False))

    s3.put_object(Bucket=bucket, Key="data/features.csv", Body=b"id,x\n1,0.5\n2,1.5\n")
    with DAG("tdprov_s3", start_date=START, schedule=None) as dag:
        PythonOperator(task_id="transform", python_callable=transform, inlets=[Asset(source)], outlets=[Asset(target)])
        PanderaValidationOperator(task_id="check", source=f"s3://{bucket}/data/features.csv",
                                  schema="airflow_dags.schemas:FEATURES")
    assert run_dag(dag, logical_date=START).state == "success"

    by_job = {s.job_name: s for s in _verify_all(s3_store_uri)}
    checked = events_of(s3_store_uri, by_job["tdprov_s3.check"].run_id)[-1]["inputs"][0]
    assert checked["facets"]["tdprov_pandera"]["passed"] is True
    summary = by_job["tdprov_s3.transform"]
    for key, ref in (("data/in.csv", summary.inputs[0]), ("data/out.parquet", summary.outputs[0])):
        local = tmp_path / Path(key).name
        local.write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        assert (ref.namespace, ref.name) == (f"s3://{bucket}", key)
        assert ref.version == hash_path(local).digest
        assert ref.version.split(":", 1)[1] not in s3.head_object(Bucket=bucket, Key=key)["ETag"]


def test_oversized_dataset_is_recorded_without_digest_and_marked_partial(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "store"
    monkeypatch.setenv("AIRFLOW__TDPROV__STORE", str(store))
    monkeypatch.setenv("AIRFLOW__TDPROV__MAX_BYTES", "16")
    big = tmp_path / "big.bin"
    with DAG("tdprov_too_big", start_date=START, schedule=None) as dag:
        PythonOperator(task_id="write", python_callable=lambda: big.write_bytes(b"x" * 1000), outlets=[str(big)])
    assert run_dag(dag, logical_date=START).state == "success"
    summary = {s.job_name: s for s in bundles_of(store)}["tdprov_too_big.write"]
    assert summary.outputs[0].version is None
    assert events_of(store, summary.run_id)[-1]["run"]["facets"]["tdprov_runContext"]["partial"] is True


def test_airflow_example_bash_operator_still_succeeds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "store"
    for key, value in tdprov_env(store).items():
        monkeypatch.setenv(key, value)
    from airflow.providers.standard.example_dags.example_bash_operator import dag

    run = run_dag(dag, logical_date=START)
    assert run.state == "success"
    jobs = Counter(s.job_name for s in _verify_all(str(store)))
    assert jobs["example_bash_operator"] == 1
    assert jobs["example_bash_operator.run_after_loop"] == 1 and jobs["example_bash_operator.runme_0"] == 1


@REMOTE_FILES_GROUP
def test_official_provider_sends_content_digests_to_its_other_backends(tmp_path: Path, ol_validator,
                                                                       preloaded: Preloaded) -> None:
    """A composite transport: tdprov's bundles, and an HTTP backend behind the standard ``transform``
    transport with ContentHashTransformer, which gets the provider's events with the dataset versions."""
    store, receiver = tmp_path / "store", Receiver()
    try:
        transport = {"type": "composite", "continue_on_failure": True, "transports": {
            "tdprov": {"type": "prov_common.bundle.transport.ProvenanceTransport", "store": str(store)},
            "marquez": {"type": "transform", "transformer_class": "prov_common.lineage.enrich.ContentHashTransformer",
                        "transport": {"type": "http", "url": receiver.url, "endpoint": "api/v1/lineage"}}}}
        env = child_env(AIRFLOW__OPENLINEAGE__TRANSPORT=json.dumps(transport), **tdprov_env(store))
        done = preloaded.run(HERE / "airflow_dags" / "ol_provider_run.py", [str(tmp_path)], env)
        assert done.returncode == 0, done.stderr[-3000:]
    finally:
        receiver.close()
    doubled, raw = tmp_path / "doubled.parquet", tmp_path / "raw.csv"
    got = [e for e in receiver.events if e.get("job", {}).get("name") == "tdprov_with_ol_provider.double"]
    assert got, [e.get("job") for e in receiver.events]
    complete = next(e for e in got if e["eventType"] == "COMPLETE")
    assert "openlineage" in complete["producer"] and "airflow" in complete["producer"]  # the provider's own event, enriched
    versions = {d["name"]: d["facets"].get("version", {}).get("datasetVersion") for d in complete["outputs"] + complete["inputs"]}
    assert versions[str(doubled)] == hash_path(doubled).digest and versions[str(raw)] == hash_path(raw).digest
    assert complete["outputs"][0]["facets"]["tdprov_contentHash"]["digest"] == hash_path(doubled).digest
    # the Pandera operator's quality facets reach the HTTP backend in the provider's own event
    checked = next(e for e in receiver.events if e.get("job", {}).get("name") == "tdprov_with_ol_provider.check"
                   and e["eventType"] == "COMPLETE")
    assert "openlineage" in checked["producer"] and "airflow" in checked["producer"]
    (read,) = [d for d in checked["inputs"] if d["name"] == str(raw)]
    assert read["facets"]["tdprov_pandera"]["passed"] is True
    assert read["inputFacets"]["dataQualityAssertions"]["assertions"]
    assert read["facets"]["version"]["datasetVersion"] == hash_path(raw).digest
    for event in got:
        ol_validator.validate_event(event)
    # and the bundles hold the same versions, one bundle per run (the transport given its store in its options)
    double = _one_bundle_per_run_with_both_producers(store, tmp_path)["tdprov_with_ol_provider.double"]
    assert {o.version for o in double.outputs} == {hash_path(doubled).digest}


def _one_bundle_per_run_with_both_producers(store: Path, tmp_path: Path, also: Sequence[str] = ()) -> dict:
    """The provider feeding ProvenanceTransport: one bundle per run of ol_provider_run.py's DAG (and of the jobs ``also``
    in the store), each verified, holding the provider's START/COMPLETE (one COMPLETE) and tdprov's events with the
    content digests. The summaries by job."""
    summaries = _verify_all(str(store))
    runs = Counter(s.run_id for s in summaries)
    assert all(count == 1 for count in runs.values())
    jobs = sorted(s.job_name for s in summaries)
    assert jobs == sorted([*_RUN_JOBS, *also])
    double = {s.job_name: s for s in summaries}["tdprov_with_ol_provider.double"]
    events = events_of(store, double.run_id)
    producers = {e["producer"] for e in events}
    assert any("openlineage" in p and "airflow" in p for p in producers)  # the provider's START/COMPLETE
    assert any("tdprov" in p for p in producers)  # our RUNNING events with the content hashes
    assert sorted(e["eventType"] for e in events).count("COMPLETE") == 1
    digests = {d["name"]: d["facets"]["tdprov_contentHash"]["digest"]
               for e in events for d in e.get("outputs", []) if "tdprov_contentHash" in d.get("facets", {})}
    assert digests[str(tmp_path / "doubled.parquet")] == hash_path(tmp_path / "doubled.parquet").digest
    assert double.outputs and any(o.version == digests[str(tmp_path / "doubled.parquet")] for o in double.outputs)
    _file_likes_named_once(store, tmp_path, {s.job_name: s for s in summaries})
    _attachments_held(store, {s.job_name: s for s in summaries}["tdprov_with_ol_provider.check_warned"].run_id)
    return {s.job_name: s for s in summaries}


def _attachments_held(store: Path, run_id: str) -> None:
    """The failing check's bundle (verified above, so holding every file its events name: no 'attachment not held')
    names its failure samples and row set in the provider's own terminal event, and holds both."""
    from prov_common.bundle.named_files import named_files
    from prov_common.w3cprov.events import fold_runs

    files = read_bundle(open_store(str(store)), run_id).files
    events = parse_events_jsonl(files["events.jsonl"])
    end = next(e for e in events if e["eventType"] in ("COMPLETE", "FAIL"))
    assert "openlineage" in end["producer"] and "airflow" in end["producer"], end["producer"]
    named = {n.what: n.path for n in named_files(fold_runs(events, sealed=True)[0])}
    assert set(named) == {"failure samples", "row set"} and set(named.values()) <= set(files), (named, sorted(files))


def _file_likes_named_once(store: Path, tmp_path: Path, by_job: dict) -> None:
    """The lineage ``File`` inlets/outlets (by path, by ``file:///`` URI), the ``file://localhost`` Asset and the Assets
    whose URI escapes its path (one declared, one added through an alias) that the provider names otherwise: both tasks
    end COMPLETE, and each file is one dataset, named as tdprov names it, with its digest, in every event of their
    bundles."""
    files = [tmp_path / f"{name}.csv" for name in ("raw", "by_path", "by_uri", "on_localhost", "escaped é")]
    expected = {("file", str(f)): hash_path(f).digest for f in files}
    aliased = tmp_path / "aliased é.csv"
    written = {**expected, ("file", str(aliased)): hash_path(aliased).digest}
    write, double = by_job["tdprov_with_ol_provider.write"], by_job["tdprov_with_ol_provider.double"]
    assert (write.state, double.state) == ("COMPLETE", "COMPLETE")
    assert {(o.namespace, o.name): o.version for o in write.outputs} == written
    assert len(write.outputs) == len(written)
    assert {(i.namespace, i.name): i.version for i in double.inputs} == expected and len(double.inputs) == len(expected)
    for summary in (write, double):
        files = read_bundle(open_store(str(store)), summary.run_id).files
        named = {(d["namespace"], d["name"]) for e in parse_events_jsonl(files["events.jsonl"])
                 for d in e.get("inputs", []) + e.get("outputs", [])}
        assert named <= set(written) | {("file", str(tmp_path / "doubled.parquet"))}, named
        assert not [p for p in files if p.startswith("refused/")]


@dataclass(frozen=True)
class _DocumentedRun:
    """ol_provider_late.py's process (ol_provider_run.py's DAG, then the DAG run marked failed after its seal) with the
    documented set-up, the home whose keys signed its bundles, and the audit of its store."""
    out: Path
    store: Path
    home: Path
    output: str  # stdout and stderr
    audit: AuditResult


@pytest.fixture(scope="module")
def _documented_once(tmp_path_factory: pytest.TempPathFactory, preloaded: Preloaded) -> _DocumentedRun:
    """The documented set-up: the transport names only its type and the store is set for the plugin in
    ``[tdprov] store`` (TDPROV_STORE unset), from a worker folder. One process runs both DAGs (the provider reads these
    settings once, when Airflow starts), once per module (the store set in the ``[tdprov] conn_id`` connection instead:
    :func:`test_provider_transport_without_options_writes_where_the_listeners_connection_names`)."""
    from datetime import timedelta

    from prov_common.audit.engine import run_audit

    out, home = tmp_path_factory.mktemp("documented"), tmp_path_factory.mktemp("documented-home")
    store, worker = out / "store", out / "worker"
    worker.mkdir()
    with pytest.MonkeyPatch.context() as build:
        build.setenv("TDPROV_HOME", str(home))
        env = child_env(AIRFLOW__OPENLINEAGE__TRANSPORT=json.dumps(
            {"type": "prov_common.bundle.transport.ProvenanceTransport"}), **tdprov_env(store))
        assert "TDPROV_STORE" not in env
        done = preloaded.run(HERE / "airflow_dags" / "ol_provider_late.py", [str(out)], env, cwd=worker)
        assert done.returncode == 0, done.stderr[-3000:]
        assert not (worker / ".tdprov").exists()
        audit = run_audit(open_store(str(store)), stale_after=timedelta(0), report_dir=out / "report", progress=False)
    return _DocumentedRun(out, store, home, done.stdout + done.stderr, audit)


@pytest.fixture
def documented_run(_documented_once: _DocumentedRun, monkeypatch: pytest.MonkeyPatch) -> _DocumentedRun:
    """The run of :func:`_documented_once`, with its home, for tests that only read it."""
    monkeypatch.setenv("TDPROV_HOME", str(_documented_once.home))
    return _documented_once


@DOCUMENTED_RUN_GROUP
def test_provider_transport_without_options_writes_where_the_listener_writes(documented_run: _DocumentedRun) -> None:
    """The provider's ProvenanceTransport takes the listener's settings: every bundle is sealed in that store, with the
    digests of the listener's events, nothing lands in the worker's ``./.tdprov`` (asserted by the fixture), and the
    audit names no run of the DAG (its one finding is the late event of the other DAG's run)."""
    from prov_common.audit.model import CHECK_UNFINISHED

    run = documented_run
    summaries = _one_bundle_per_run_with_both_producers(run.store, run.out, also=_LATE_JOBS)
    assert sorted(summaries) == sorted(_RUN_JOBS + _LATE_JOBS)
    doubled = run.out / "doubled.parquet"
    assert [o.version for o in summaries["tdprov_with_ol_provider.double"].outputs] == [hash_path(doubled).digest]
    late_run = summaries["tdprov_provider_marked_later"].run_id
    assert [f.run_id for f in run.audit.check(CHECK_UNFINISHED).errors] == [late_run]


def test_provider_transport_without_options_writes_where_the_listeners_connection_names(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The transport an OpenLineage configuration names by its type alone takes the plugin's settings (its configuration
    defaults) also when the store is set in the ``[tdprov] conn_id`` connection: a run's START and COMPLETE are sealed
    in one verified bundle in the connection's store, none in TDPROV_STORE's nor in the working folder's
    ``./.tdprov``."""
    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import Job, Run, RunEvent, RunState
    from openlineage.client.uuid import generate_new_uuid

    from prov_airflow.emitter import configuration_defaults
    from prov_common.bundle import defaults

    store, elsewhere, worker = tmp_path / "store", tmp_path / "env-store", tmp_path / "worker"
    worker.mkdir()
    monkeypatch.chdir(worker)
    monkeypatch.setattr(defaults, "_defaults_source", configuration_defaults)  # as the plugin sets it
    monkeypatch.setenv("AIRFLOW__TDPROV__CONN_ID", "tdprov_lineage")
    monkeypatch.setenv("AIRFLOW_CONN_TDPROV_LINEAGE", json.dumps({"conn_type": "tdprov", "host": str(store)}))
    monkeypatch.setenv("TDPROV_STORE", str(elsewhere))
    client = OpenLineageClient(config={"transport": {"type": "prov_common.bundle.transport.ProvenanceTransport"}})
    run_id = str(generate_new_uuid())
    for state in (RunState.START, RunState.COMPLETE):
        client.emit(RunEvent(eventType=state, eventTime="2026-01-01T00:00:00Z", run=Run(runId=run_id),
                             job=Job(namespace="ns", name="tdprov_conn_job"), producer="https://example.org/p"))
    client.transport.close()
    assert [(s.run_id, s.job_name, s.state) for s in _verify_all(str(store))] == [
        (run_id, "tdprov_conn_job", "COMPLETE")], "the bundle is not in the [tdprov] conn_id connection's store"
    assert not elsewhere.exists() and not (worker / ".tdprov").exists(), sorted(p.name for p in tmp_path.rglob("*"))


@REMOTE_FILES_GROUP
def test_openlineage_disabled_stops_the_provider_and_the_tdprov_listener_records_every_run(tmp_path: Path,
                                                                                          preloaded: Preloaded) -> None:
    """``OPENLINEAGE_DISABLED=true`` is the provider's switch: with its transport set to ProvenanceTransport it then
    emits nothing, and the tdprov listener, which delivers to the store itself, seals one bundle per run."""
    store = tmp_path / "store"
    env = child_env(AIRFLOW__OPENLINEAGE__TRANSPORT=json.dumps({"type": "prov_common.bundle.transport.ProvenanceTransport"}),
                    OPENLINEAGE_DISABLED="true", **tdprov_env(store))
    done = preloaded.run(HERE / "airflow_dags" / "ol_provider_run.py", [str(tmp_path)], env)
    assert done.returncode == 0, done.stderr[-3000:]
    summaries = _verify_all(str(store))
    assert sorted(s.job_name for s in summaries) == _RUN_JOBS
    for summary in summaries:
        assert all("tdprov" in e["producer"] for e in events_of(store, summary.run_id))  # the provider sent nothing
    doubled = {s.job_name: s for s in summaries}["tdprov_with_ol_provider.double"]
    assert [o.version for o in doubled.outputs] == [hash_path(tmp_path / "doubled.parquet").digest]


@DOCUMENTED_RUN_GROUP
def test_a_dag_run_the_provider_ends_again_after_its_seal_keeps_its_bundle_and_the_audit_names_the_late_event(
        documented_run: _DocumentedRun) -> None:
    """The provider feeds the bundles; the DAG run is sealed COMPLETE, then the UI or API marks it failed and the
    provider sends a FAIL for it, timed at the DAG run's end as the COMPLETE was: staged after the seal, in no bundle,
    and since its time was before the sealing no audit named it (the writer's log only). The bundle stays as it was
    (one, same run id and job), the FAIL is kept staged under that run id and job, and the audit names it late."""
    from prov_common.audit.model import CHECK_UNFINISHED
    from prov_common.bundle.staged import unverified_event

    store = documented_run.store
    by_job = {s.job_name: s for s in _verify_all(str(store))}
    assert sorted(j for j in by_job if j.split(".")[0] == "tdprov_provider_marked_later") == _LATE_JOBS
    dag_run = by_job["tdprov_provider_marked_later"]
    assert dag_run.state == "COMPLETE" and [e["eventType"] for e in events_of(store, dag_run.run_id)] == ["COMPLETE"]
    staged = [unverified_event(p.read_bytes()) for p in sorted((store / "staging" / dag_run.run_id).glob("*.json"))]
    assert sorted((e["eventType"], e["run"]["runId"], e["job"]["name"]) for e in staged) == [
        ("COMPLETE", dag_run.run_id, dag_run.job_name), ("FAIL", dag_run.run_id, dag_run.job_name)]
    assert f"run {dag_run.run_id} was sealed with 1 event before 1 more arrived" in documented_run.output
    [late] = documented_run.audit.check(CHECK_UNFINISHED).findings
    assert late.run_id == dag_run.run_id and "1 event was staged for it after that" in late.what, late.what


def test_a_test_process_builds_the_in_process_execution_api_for_the_version_its_task_sdk_speaks(store: Path) -> None:
    """The suite's processes build dag.test()'s execution API for the latest version alone (Cadwyn generating every
    version Airflow serves cost each new process about 4 s of CPU); the task SDK speaks that version and a run is
    recorded as before."""
    from airflow.sdk.api.datamodels._generated import API_VERSION
    from airflow.sdk.execution_time.supervisor import in_process_api_server

    with DAG("tdprov_latest_api", start_date=START, schedule=None) as dag:
        PythonOperator(task_id="work", python_callable=lambda: None)
    assert run_dag(dag, logical_date=START).state == "success"
    served = [v.value for v in in_process_api_server().app.versions]
    assert served == [API_VERSION], (f"dag.test()'s execution API serves {served}: tests/airflow_dags/execution_api.py "
                                     "no longer trims it on this Airflow/Cadwyn; update it to their internals")
    assert {s.job_name for s in bundles_of(store)} == {"tdprov_latest_api", "tdprov_latest_api.work"}


_REMOTE_FILES = {  # name: (URL, the provider's name of File(URL), the name the listener and the bundle give it)
    "hdfs": ("hdfs://nn:8020/corpus/part-0.csv", ("hdfs://nn:8020", "corpus/part-0.csv"),
             ("hdfs://nn:8020", "/corpus/part-0.csv")),
    "sftp": ("sftp://etl@files.example:2222/corpus/part-0.csv", ("sftp", "etl@files.example:2222/corpus/part-0.csv"),
             ("sftp://files.example:2222", "/corpus/part-0.csv")),
    "gsiftp": ("gsiftp://grid.example:2811/corpus/part-0.csv", ("gs://grid.example:2811", "corpus/part-0.csv"),
               ("gsiftp://grid.example:2811", "/corpus/part-0.csv")),
    "params": ("https://h.example/corpus/part-0.csv;v=2", ("https", "h.example/corpus/part-0.csv"),
               ("https://h.example", "/corpus/part-0.csv;v=2")),
}


@pytest.fixture(scope="module")
def _remote_files_run(tmp_path_factory: pytest.TempPathFactory, preloaded: Preloaded) -> tuple[Path, Path]:
    """The store of ol_provider_file.py's process, which runs one DAG per file of ``_REMOTE_FILES`` in turn (one process
    for all of them: Airflow and the provider start once in it, several seconds of CPU each), and the home whose keys
    signed its bundles."""
    out, home = tmp_path_factory.mktemp("remote-files"), tmp_path_factory.mktemp("remote-files-home")
    store = out / "store"
    env = child_env(AIRFLOW__OPENLINEAGE__TRANSPORT=json.dumps({"type": "prov_common.bundle.transport.ProvenanceTransport"}),
                    TDPROV_HOME=str(home), **tdprov_env(store))
    files = [f"{name}={url}" for name, (url, _, _) in _REMOTE_FILES.items()]
    done = preloaded.run(HERE / "airflow_dags" / "ol_provider_file.py", [str(out), *files], env)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return store, home


@REMOTE_FILES_GROUP  # one worker runs _remote_files_run's process once
@pytest.mark.parametrize("name", list(_REMOTE_FILES))
def test_a_remote_file_the_provider_names_otherwise_is_one_dataset(_remote_files_run: tuple[Path, Path], name: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The provider names a lineage ``File("hdfs://nn:8020/p")`` ``("hdfs://nn:8020", "p")`` and a
    ``File("sftp://user@host:port/p")`` ``("sftp", "user@host:port/p")`` (its own helper says so), where the
    OpenLineage naming spec and the listener name them ``("hdfs://nn:8020", "/p")`` and ``("sftp://host:port", "/p")``:
    the run's bundle names each once, as the listener does, in the provider's events and in tdprov's. It names a
    ``File("gsiftp://h/p")`` as the GCS object ``("gs://h", "p")`` (its scheme begins as ``gs``) and leaves a path's
    ``;params`` out, which no reading of its name undoes: the try's note of its declared ``File`` names it."""
    from airflow.providers.common.compat.lineage.entities import File
    from airflow.providers.openlineage.extractors.manager import ExtractorManager

    from airflow_dags.ol_provider_file import dag_id

    url, provider, named = _REMOTE_FILES[name]
    theirs = ExtractorManager.convert_to_ol_dataset(File(url=url))
    assert (theirs.namespace, theirs.name) == provider
    store, home = _remote_files_run
    monkeypatch.setenv("TDPROV_HOME", str(home))  # trust the key the process signed with
    (read,) = [s for s in _verify_all(str(store)) if s.job_name == f"{dag_id(name)}.read"]
    events = events_of(store, read.run_id)
    assert {"openlineage" in e["producer"] for e in events} == {True, False}  # the provider's events and tdprov's
    assert {(d["namespace"], d["name"]) for e in events for d in e.get("inputs", [])} == {named}
    assert [(i.namespace, i.name) for i in read.inputs] == [named]


@DOCUMENTED_RUN_GROUP
def test_a_failing_translation_of_the_providers_names_keeps_the_tries_inputs_and_outputs(tmp_path: Path,
                                                                                         preloaded: Preloaded) -> None:
    """Beside the provider, the provider's names of a try's assets are noted with its translation of an Asset, at the
    start and after execute. When that raised, the hook's catch-all took the whole step with it: the try's first
    RUNNING event, and after execute the output added through the alias and the digests in the outlets' asset events.
    Each failure is now one warning naming what is lost; the bundle holds the input and both outputs with their
    digests, and the outlets' asset events carry them."""
    from airflow_dags.ol_provider_untranslatable import DAG_ID

    store = tmp_path / "store"
    env = child_env(AIRFLOW__OPENLINEAGE__TRANSPORT=json.dumps({"type": "prov_common.bundle.transport.ProvenanceTransport"}),
                    **tdprov_env(store))
    done = preloaded.run(HERE / "airflow_dags" / "ol_provider_untranslatable.py", [str(tmp_path)], env)
    assert done.returncode == 0, done.stderr[-3000:]
    (write,) = [s for s in _verify_all(str(store)) if s.job_name == f"{DAG_ID}.write"]
    source, declared, aliased = (tmp_path / f"{name}.csv" for name in ("source", "declared", "aliased"))
    assert write.state == "COMPLETE"
    assert {(i.namespace, i.name): i.version for i in write.inputs} == {("file", str(source)): hash_path(source).digest}
    assert {(o.namespace, o.name): o.version for o in write.outputs} == {
        ("file", str(f)): hash_path(f).digest for f in (declared, aliased)}
    events = asset_events(DAG_ID, "write")
    assert {uri: events[uri]["extra"]["tdprov"]["digest"] for uri in (declared.as_uri(), aliased.as_uri())} == {
        f.as_uri(): hash_path(f).digest for f in (declared, aliased)}
    output = done.stdout + done.stderr
    assert output.count("could not note the OpenLineage provider's names") == 2, output[-3000:]
    assert f"cannot translate {aliased.as_uri()}" in output and f"cannot translate {source.as_uri()}" in output
