"""Task runs that end without succeeding or failing in their own process are sealed: a task that skips itself,
a task the scheduler fails after its worker died, a task the UI or API marks."""
from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_dags import harness  # noqa: F401  (sets AIRFLOW_HOME before Airflow is imported)
from airflow_dags.harness import airflow_db, store  # noqa: F401 (fixtures)
from airflow_dags.harness import bundles_of, child_env, events_of, run_dag, tdprov_env

import pendulum
from airflow.providers.common.compat.sdk import AirflowSkipException
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Asset

from prov_common.audit.engine import run_audit
from prov_common.audit.model import CHECK_UNFINISHED
from prov_common.hashing import hash_path
from prov_common.store import open_store

START = pendulum.datetime(2024, 1, 1, tz="UTC")
HERE = Path(__file__).resolve().parent


def _nothing_new() -> None:
    raise AirflowSkipException("no new data")


def test_a_task_that_skips_itself_is_sealed_with_its_inputs(tmp_path: Path, store: Path, ol_validator) -> None:
    """A task raising AirflowSkipException gets a COMPLETE bundle (as the OpenLineage provider records a skip)
    holding the inputs hashed at its start and no outputs; the audit finds no unfinished run."""
    raw, out = tmp_path / "in.csv", tmp_path / "out.csv"
    raw.write_text("a\n1\n")
    with DAG("tdprov_skips", start_date=START, schedule=None) as dag:
        PythonOperator(task_id="maybe", python_callable=_nothing_new, inlets=[str(raw)], outlets=[Asset(out.as_uri())])
    run = run_dag(dag, logical_date=START)
    assert [ti.state for ti in run.get_task_instances()] == ["skipped"]
    by_job = {s.job_name: s for s in bundles_of(store)}
    summary = by_job["tdprov_skips.maybe"]
    assert summary.state == "COMPLETE"
    assert [(i.name, i.version) for i in summary.inputs] == [(str(raw), hash_path(raw).digest)]
    assert not summary.outputs
    events = events_of(store, summary.run_id)
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    assert events[-1]["inputs"][0]["facets"]["version"]["datasetVersion"] == hash_path(raw).digest
    for event in events:
        ol_validator.validate_event(event)
    audit = run_audit(open_store(str(store)), stale_after=timedelta(0), report_dir=tmp_path / "report", progress=False)
    assert audit.check(CHECK_UNFINISHED).errors == []


KILLED_DAGS = ("tdprov_killed_fail", "tdprov_killed_complete", "tdprov_killed_unopened")
CHILDREN_GROUP = pytest.mark.xdist_group("test_airflow_task_states.children")


@pytest.fixture(scope="module")
def _killed_runs(_children: dict[str, Any]) -> dict[str, tuple[Path, Path]]:
    """Each of :data:`KILLED_DAGS` run once, in a process that dies in its task after staging the START (a killed
    worker), each with its own store and inlet: DAG id -> (store, inlet), and "home" -> (the tdprov home whose key
    signed them, None). Run by :func:`_children`; the tests that take them are :data:`CHILDREN_GROUP`, each reading its
    own DAG's."""
    return _children["killed"]


def _killed_task(runs: dict[str, tuple[Path, Path]], dag_id: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """The store and inlet of ``dag_id``'s killed run, its store set for the plugin in this process (and the tdprov
    home whose key signed its START)."""
    store, raw = runs[dag_id]
    for key, value in {**tdprov_env(store), "TDPROV_HOME": str(runs["home"][0])}.items():
        monkeypatch.setenv(key, value)
    return store, raw


EXIT_CASES: dict[str, dict[str, Any]] = {  # case -> its runs, its store's slow SECONDS, its settings and bound
    "outlived": {"run_ids": "01960000-0000-7000-8000-00000000e417", "seconds": 1.5, "timeout": 300, "env": {}},
    "outlasted": {"run_ids": "01960000-0000-7000-8000-00000000e418", "seconds": 60, "timeout": 50,
                  "env": {"AIRFLOW__TDPROV__FLUSH_TIMEOUT": "2"}},  # the index write would take 60 s
    "not_begun": {"run_ids": ",".join(f"01960000-0000-7000-8000-00000000e41{n}" for n in "9ab"), "seconds": 60,
                  "timeout": 50, "env": {"AIRFLOW__TDPROV__FLUSH_TIMEOUT": "0.7"}},
    "hung_check": {"run_ids": "01960000-0000-7000-8000-00000000e41c", "seconds": 600, "open": True, "timeout": 120,
                   "env": {"AIRFLOW__TDPROV__FLUSH_TIMEOUT": "2"}},
}


_BOTH = """
import json, os, sys
sys.path.insert(0, sys.argv[1])
import killed_task_run, task_process_exit
failed = killed_task_run.main(json.loads(sys.argv[2]))  # its forks come before this process loads the delivery
sys.stdout.flush()
sys.stderr.flush()
os._exit(failed or task_process_exit.main(sys.argv[3], json.loads(sys.argv[4])))
"""


@pytest.fixture(scope="module")
def _children(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One process imports Airflow for :data:`KILLED_DAGS` and :data:`EXIT_CASES` (each a fork of it) and runs
    killed_task_run.py's DAGs, then task_process_exit.py's cases (whose parent loads the listener's delivery, which the
    killed DAGs' parent does not), both signing with one tdprov home: "killed" -> what :func:`_killed_runs` returns,
    "exits" -> what :func:`_task_exits` returns."""
    home = tmp_path_factory.mktemp("children-home")
    killed, argv = {"home": (home, None)}, []
    for dag_id in KILLED_DAGS:
        folder = tmp_path_factory.mktemp(dag_id)
        raw = folder / "in.csv"
        raw.write_text("a\n1\n")
        killed[dag_id] = (folder / "store", raw)
        argv += [dag_id, str(raw), str(folder / "store")]
    results = tmp_path_factory.mktemp("exits") / "results.json"
    exits: dict[str, Any] = {"home": home}
    cases = []
    for name, case in EXIT_CASES.items():
        folder = tmp_path_factory.mktemp(name)
        exits[name] = (folder / "store", folder / "spool")
        cases.append({**case, "env": {**tdprov_env(folder / "store"), "AIRFLOW__TDPROV__SPOOL": str(folder / "spool"),
                                      **case["env"]}})
    done = subprocess.run([sys.executable, "-c", _BOTH, str(HERE / "airflow_dags"), json.dumps(argv), str(results),
                           json.dumps(cases)], env=child_env(TDPROV_HOME=str(home)), capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    for name, result in zip(EXIT_CASES, json.loads(results.read_text()), strict=True):
        exits[name] = (result, *exits[name])
    return {"killed": killed, "exits": exits}


@pytest.fixture(scope="module")
def _task_exits(_children: dict[str, Any]) -> dict[str, Any]:
    """Each of :data:`EXIT_CASES` run once by task_process_exit.py, each in its own task process, with its own store
    and spool: case -> (its result: exit code, stdout, stderr; its store; its spool), and "home" -> the tdprov home
    whose key signed their events. Run by :func:`_children`; the tests that take them are :data:`CHILDREN_GROUP`, each
    reading its own case's."""
    return _children["exits"]


def _task_exit(runs: dict[str, Any], case: str, monkeypatch: pytest.MonkeyPatch) -> tuple[dict, Path, Path, str]:
    """The result, store and spool of ``case``'s task process, and what it said (stdout and stderr); the tdprov home
    whose key signed its events is this process's, for a flush of what it spooled."""
    result, store, spool = runs[case]
    monkeypatch.setenv("TDPROV_HOME", str(runs["home"]))
    said = result["stdout"] + result["stderr"]
    assert result["returncode"] == 0, f"{case}: exit code {result['returncode']} (None: killed at its bound)\n{said[-3000:]}"
    return result, store, spool, said


@CHILDREN_GROUP
def test_a_task_process_ends_once_its_seal_that_outlived_the_bound_is_written(
        _task_exits: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """A task process (ended by Airflow's ``_fork_main``: ``os._exit`` after the atexit functions registered in it)
    whose seal goes on past the transport's bound, its index entry being written slowly: the task runner's
    ``before_stopping`` drain waits for the transport's writing thread too, so the run's bundle is listed once the
    process is gone."""
    _, store, _, said = _task_exit(_task_exits, "outlived", monkeypatch)
    assert "took more than 0.5s; it continues in the background" in said
    assert [(s.run_id, s.state) for s in bundles_of(store)] == [(EXIT_CASES["outlived"]["run_ids"], "COMPLETE")], said[-3000:]


@CHILDREN_GROUP
def test_a_task_process_whose_store_outlasts_flush_timeout_spools_what_is_left_and_names_it(
        _task_exits: dict, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The same with a store whose index write takes longer than ``[tdprov] flush_timeout``: once the bound is spent,
    what the seal had not written is spooled and named (run, event, spool) before ``os._exit`` ends the process, and
    ``tdprov flush`` delivers it: the run's bundle is listed, nothing lost."""
    from prov_common.cli import main

    _, store, spool, said = _task_exit(_task_exits, "outlasted", monkeypatch)  # within 50 s: the write would take 60
    run_id = EXIT_CASES["outlasted"]["run_ids"]
    warned = [line for line in said.splitlines() if "still under way after" in line]  # the START too, if it was slow
    assert len(warned) == 1 and f"the COMPLETE event of run {run_id}): handed to the outbox in {spool}" in warned[0], said
    assert not bundles_of(store)
    assert main(["flush", "--store", str(store), "--spool", str(spool)]) == 0, capsys.readouterr()
    assert [(s.run_id, s.state) for s in bundles_of(store)] == [(run_id, "COMPLETE")]
    assert [e["eventType"] for e in events_of(store, run_id)] == ["START", "COMPLETE"]


@CHILDREN_GROUP
def test_a_task_process_whose_flush_timeout_ends_with_events_not_begun_spools_them_and_names_them(
        _task_exits: dict, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Three runs' events queued for delivery, the first run's seal held in its index write past ``[tdprov]
    flush_timeout`` (0.7 s): the next events wait behind it in the transport's thread, and the last never leave the
    listener's queue. All are spooled as the process ends, the queued ones named in one warning with the flush fix
    (they were lost with ``os._exit``, while the warning said they were staged or spooled), and the writes under way
    named with the bound spent (0.7 s, not the 0 s the drain left); ``tdprov flush`` delivers every run's bundle, each
    with its START and COMPLETE."""
    from prov_common.cli import main

    _, store, spool, said = _task_exit(_task_exits, "not_begun", monkeypatch)  # within 50 s: the write would take 60
    runs = EXIT_CASES["not_begun"]["run_ids"].split(",")
    queued = [line for line in said.splitlines() if "not delivered within [tdprov] flush_timeout (0.7s)" in line]
    assert len(queued) == 1, said
    assert (f"COMPLETE event of run {runs[2]}): handed to the outbox in {spool}. Fix: run 'tdprov flush --store "
            f"{store}' once the store answers") in queued[0], said
    assert "they are staged or spooled" not in said
    settled = [line for line in said.splitlines() if "still under way after" in line]  # the drain spent the bound
    assert len(settled) == 1 and "still under way after 0.7s as this process ends" in settled[0], said
    assert "within 0s" not in said and f"did not finish its writes within 0.7s" in said, said
    assert main(["flush", "--store", str(store), "--spool", str(spool)]) == 0, capsys.readouterr()
    assert sorted((s.run_id, s.state) for s in bundles_of(store)) == [(run, "COMPLETE") for run in runs], said
    assert [[e["eventType"] for e in events_of(store, run)] for run in runs] == [["START", "COMPLETE"]] * 3


@CHILDREN_GROUP
def test_a_task_process_whose_store_hangs_in_the_check_of_its_open_runs_ends_within_flush_timeout(
        _task_exits: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """A task process that took a run for open (its START delivered, no end) checks at ``before_stopping`` whether
    another process sealed it; with a store that does not answer (a hung mount), that check waited the transport's own
    bound (10 s) before ``[tdprov] flush_timeout`` (2 s) was counted at all, so the process ended after 10 s. The whole
    end is one bound: the process ends within ``flush_timeout`` and names the check it left, with its run and the
    audit that answers for it, once (it also said the check "took more than 2s; it continues in the background")."""
    _, store, _, said = _task_exit(_task_exits, "hung_check", monkeypatch)
    run_id = EXIT_CASES["hung_check"]["run_ids"]
    times = {line.split()[0]: float(line.split()[-1]) for line in said.splitlines() if line.startswith(("stopping at",
                                                                                                       "ended at"))}
    assert 2 <= times["ended"] - times["stopping"] < 2 + 2, (times, said[-3000:])  # 10 s before: the check's own bound
    assert "took more than" not in said, said[-3000:]  # one warning for one cause: the check left, named below
    assert "writing the check" not in said, said[-3000:]  # a check writes nothing
    assert (f"tdprov: the check of the runs this process took for open ({run_id}) was still under way after 2.0s as "
            f"this process ends (store {store} does not answer)") in said, said[-3000:]


def _running_task_instance(session: Any, dag_id: str) -> Any:
    """The metadata DB's TaskInstance of the killed task, as the scheduler or the API server loads it."""
    from airflow.models.taskinstance import TaskInstance
    from sqlalchemy import select

    ti = session.scalars(select(TaskInstance).where(TaskInstance.dag_id == dag_id)).one()
    assert ti.state == "running"
    return ti


def _heartbeat_timeout(dag_id: str) -> None:
    """The scheduler fails the task of a worker that stopped heartbeating (``TaskInstance.handle_failure``)."""
    from airflow.models.dagbag import DBDagBag
    from airflow.utils.session import create_session

    with create_session() as session:
        ti = _running_task_instance(session, dag_id)
        ti.task = DBDagBag().get_dag_for_run(dag_run=ti.dag_run, session=session).get_task(ti.task_id)
        ti.handle_failure(error="Task did not heartbeat", session=session)


def _marked_success(dag_id: str) -> None:
    """The UI or API marks the task success: the listener is called with the DB's TaskInstance (no task)."""
    from airflow.listeners.listener import get_listener_manager
    from airflow.utils.session import create_session

    with create_session() as session:
        ti = _running_task_instance(session, dag_id)
        get_listener_manager().hook.on_task_instance_success(previous_state=None, task_instance=ti)


@CHILDREN_GROUP
@pytest.mark.parametrize(("set_state", "state"), [(_heartbeat_timeout, "FAIL"), (_marked_success, "COMPLETE")])
def test_a_state_set_outside_the_task_process_seals_its_start(tmp_path: Path, _killed_runs: dict, set_state: Any,
                                                              state: str, caplog: pytest.LogCaptureFixture,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The scheduler or the API server calls the listener with the metadata DB's TaskInstance: the START the task
    staged before its process died is sealed under the same run id, with the new state and the START's inputs."""
    dag_id = f"tdprov_killed_{state.lower()}"
    store, raw = _killed_task(_killed_runs, dag_id, monkeypatch)
    assert not (store / "index").exists()  # staged, not sealed
    set_state(dag_id)
    from airflow.listeners.listener import get_listener_manager

    get_listener_manager().hook.before_stopping(component=None)  # the scheduler or API server stops: delivered
    assert "could not record provenance" not in caplog.text
    summary = {s.job_name: s for s in bundles_of(store)}[f"{dag_id}.work"]
    assert summary.state == state
    assert [(i.name, i.version) for i in summary.inputs] == [(str(raw), hash_path(raw).digest)]
    events = events_of(store, summary.run_id)
    assert [e["eventType"] for e in events] == ["START", state]
    assert {e["run"]["runId"] for e in events} == {summary.run_id}
    assert len({json.dumps(e["run"]["facets"]["parent"], sort_keys=True) for e in events}) == 1
    audit = run_audit(open_store(str(store)), stale_after=timedelta(0), report_dir=tmp_path / "report", progress=False)
    assert audit.check(CHECK_UNFINISHED).errors == []


@CHILDREN_GROUP
def test_a_state_set_outside_the_task_process_is_kept_when_the_store_setting_cannot_be_opened(
        tmp_path: Path, _killed_runs: dict, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The API server marks a killed task success while its ``[tdprov] store`` cannot be opened: the COMPLETE is kept
    in the outbox with the warning every such event gets, as when the store cannot be reached; it was dropped
    ("could not deliver ... BadInputError"), as the check that the run is open let the setting's refusal escape."""
    from airflow.listeners.listener import get_listener_manager

    from prov_common.bundle.transport import UNOPENED_WARNED
    from prov_common.store import spool
    from prov_common.store.outbox import Outbox

    dag_id = "tdprov_killed_unopened"
    store, _raw = _killed_task(_killed_runs, dag_id, monkeypatch)
    (run_id,) = {key.split("/")[1] for key in open_store(str(store)).list("staging/")}  # the START the task staged
    UNOPENED_WARNED.clear()
    monkeypatch.setenv("AIRFLOW__TDPROV__STORE", "gs://b/unopened")
    monkeypatch.setenv("AIRFLOW__TDPROV__SPOOL", str(tmp_path / "spool"))
    _marked_success(dag_id)
    get_listener_manager().hook.before_stopping(component=None)
    assert "could not deliver" not in caplog.text
    assert "[tdprov] store = 'gs://b/unopened' cannot be opened" in caplog.text and "kept in the outbox" in caplog.text
    kept = [key for entry in Outbox(tmp_path / "spool").pending() for key in spool.read_keys(entry)]
    assert [key.split("/")[1] for key in kept] == [run_id], kept


def test_a_state_set_after_the_try_was_sealed_adds_nothing(tmp_path: Path, store: Path,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    """The UI marks a task failed after its try was sealed: the bundle stays as it is, and no event is staged
    after its seal (it would be in no bundle, and the audit would report it)."""
    from airflow.listeners.listener import get_listener_manager

    with DAG("tdprov_marked_later", start_date=START, schedule=None) as dag:
        PythonOperator(task_id="work", python_callable=lambda: None)
    run = run_dag(dag, logical_date=START)
    (ti,) = run.get_task_instances()  # detached from its session, as the API server's may be
    get_listener_manager().hook.on_task_instance_failed(previous_state=None, task_instance=ti,
                                                       error="TaskInstance's state was manually set to `failed`.")
    get_listener_manager().hook.before_stopping(component=None)
    assert "could not record provenance" not in caplog.text
    summary = {s.job_name: s for s in bundles_of(store)}["tdprov_marked_later.work"]
    assert [e["eventType"] for e in events_of(store, summary.run_id)] == ["START", "COMPLETE"]
    audit = run_audit(open_store(str(store)), stale_after=timedelta(0), report_dir=tmp_path / "report", progress=False)
    assert audit.check(CHECK_UNFINISHED).findings == []


def test_a_dag_run_state_set_after_the_run_was_sealed_adds_nothing(tmp_path: Path, store: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    """The UI or API marks a DAG run failed after it succeeded: the API server calls the listener, which staged a FAIL
    for the DAG run sealed COMPLETE (an event in no bundle, warned about as another producer's late event). Its bundle
    stays as it is and nothing is staged after its seal, as for a task's try."""
    from airflow.api_fastapi.core_api.datamodels.dag_run import DagRunMutableStates
    from airflow.api_fastapi.core_api.services.public.dag_run import patch_dag_run_state
    from airflow.listeners.listener import get_listener_manager
    from airflow.models.dagbag import DBDagBag
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    caplog.set_level(logging.INFO, logger="prov_airflow.listener")
    with DAG("tdprov_dag_marked_later", start_date=START, schedule=None) as dag:
        PythonOperator(task_id="work", python_callable=lambda: None)
    run = run_dag(dag, logical_date=START)
    summary = {s.job_name: s for s in bundles_of(store)}["tdprov_dag_marked_later"]
    staged = sorted((store / "staging" / summary.run_id).iterdir())
    with create_session() as session:
        dag_run = session.scalars(select(DagRun).where(DagRun.dag_id == run.dag_id, DagRun.run_id == run.run_id)).one()
        patch_dag_run_state(dag=DBDagBag().get_dag_for_run(dag_run=dag_run, session=session), dag_run=dag_run,
                            state=DagRunMutableStates.FAILED, session=session)
    get_listener_manager().hook.before_stopping(component=None)
    assert "could not record provenance" not in caplog.text and "in no bundle" not in caplog.text
    assert f"DAG run {summary.run_id} of tdprov_dag_marked_later is sealed already; its FAIL is not recorded" in caplog.text
    assert sorted((store / "staging" / summary.run_id).iterdir()) == staged
    assert [e["eventType"] for e in events_of(store, summary.run_id)] == ["COMPLETE"]


def test_a_process_stopping_names_what_it_staged_after_another_process_sealed_a_run_it_started(
        store: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The listener's process staged a run's START, another process sealed the run, and an event of it that came after
    was staged from memory (in no bundle); the process ends it no more: when it stops (the task runner's
    before_stopping, or at exit), it names that event, where it said nothing (only the audit named it)."""
    from airflow.listeners.listener import get_listener_manager

    from bundle_support import event, run_events
    from prov_airflow.emitter import listener_transport
    from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport

    start, complete = run_events()
    run_id = start["run"]["runId"]
    listener_transport().emit(start)
    assert ProvenanceTransport(ProvenanceConfig(store=str(store))).emit(complete).status == "written"
    listener_transport().emit(event(run_id, "RUNNING", "2026-03-01T10:00:03Z"))
    with caplog.at_level(logging.WARNING, logger="prov_common"):
        get_listener_manager().hook.before_stopping(component=None)
    [warned] = [r.getMessage() for r in caplog.records if run_id in r.getMessage()]
    assert warned.startswith(f"tdprov: run {run_id} was sealed by another process after this one staged its START: its "
                             f"RUNNING event timed 2026-03-01T10:00:03Z (staged as staging/{run_id}/20260301T100003"), warned
    assert "came after the sealing and is in no bundle ('tdprov audit' names it)" in warned, warned
