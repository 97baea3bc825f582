"""The listener never fails or hangs a task; outages go to the outbox; strict mode fails operators only."""
from __future__ import annotations

import json
import logging
import os
import socket
import time
from pathlib import Path

import pytest
from airflow_dags import harness  # noqa: F401  (sets AIRFLOW_HOME before Airflow is imported)
from airflow_dags.harness import airflow_db  # noqa: F401 (fixtures)
from airflow_dags.harness import bundles_of, events_of, run_dag

import pandas as pd
import pendulum
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

from prov_airflow.hooks.provenance import ProvenanceHook
from prov_airflow.operators.pandera import PanderaValidationOperator
from prov_common.bundle import verify_bundle
from prov_common.cli import main
from prov_common.config import Settings
from prov_common.signing import trust_from_settings
from prov_common.store import open_store
from prov_common.store.outbox import Outbox

START = pendulum.datetime(2024, 1, 1, tz="UTC")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_hook_reads_tdprov_connection_and_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_TDPROV_TEST", json.dumps({
        "conn_type": "tdprov", "host": "s3://lineage/prod",
        "extra": {"spool": "/var/spool/tdprov", "strict": True, "trusted_keys": ["/keys/a.pub"], "aws_conn_id": "aws_t"}}))
    monkeypatch.setenv("AIRFLOW_CONN_AWS_T", json.dumps({
        "conn_type": "aws", "login": "AKIAIOSFODNN7EXAMPLE", "password": "s3cr3t",
        "extra": {"endpoint_url": "http://127.0.0.1:9000", "region_name": "eu-west-1"}}))
    monkeypatch.setenv("AIRFLOW__TDPROV__SIGNING_KEY", "/keys/airflow.key")  # [tdprov] fills what the connection lacks
    hook = ProvenanceHook("tdprov_test")
    assert hook.get_settings() == Settings(store="s3://lineage/prod", signing_key="/keys/airflow.key",
                                           trusted_keys=("/keys/a.pub",), spool="/var/spool/tdprov", strict=True)
    assert hook.aws_conn_id == "aws_t"  # the store's S3 client comes from its session (test_airflow_aws.py)
    # no connection: [tdprov] over TDPROV_* ; an unknown connection is a clear error
    monkeypatch.setenv("TDPROV_STORE", "/from/env")
    monkeypatch.setenv("AIRFLOW__TDPROV__STORE", "/from/airflow")
    assert ProvenanceHook(None).get_settings().store == "/from/airflow"
    with pytest.raises(Exception, match="'nope'.*not defined"):
        ProvenanceHook("nope").get_settings()


def test_store_outage_spools_and_flush_delivers_once(s3_store_uri: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    spool, out = tmp_path / "spool", tmp_path / "out.csv"
    monkeypatch.setenv("AIRFLOW__TDPROV__STORE", s3_store_uri)
    monkeypatch.setenv("AIRFLOW__TDPROV__SPOOL", str(spool))
    endpoint = os.environ["AWS_ENDPOINT_URL_S3"]
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{_closed_port()}")  # the store is down
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with DAG("tdprov_outage", start_date=START, schedule=None) as dag:
        PythonOperator(task_id="write", python_callable=lambda: out.write_text("a\n1\n"), outlets=[str(out)])
    started = time.monotonic()
    assert run_dag(dag, logical_date=START).state == "success"
    assert time.monotonic() - started < 90
    assert any(spool.rglob("*")), "nothing was spooled"

    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)  # the store is back
    store = open_store(s3_store_uri)
    Outbox(spool).flush(store)
    Outbox(spool).flush(store)  # a second flush delivers nothing twice
    # the DAG run's COMPLETE met the outage in a process that staged no START of it (dag.test() emits none): sealed from
    # what this process saw, it could leave out what another staged, so it waits, staged, for 'tdprov store seal'
    waiting = {key.split("/")[1] for key in store.list("staging/")} - {s.run_id for s in bundles_of(s3_store_uri)}
    assert len(waiting) == 1
    assert main(["store", "seal", *waiting, "--store", s3_store_uri]) == 0
    summaries = bundles_of(s3_store_uri)
    assert sorted(s.job_name for s in summaries) == ["tdprov_outage", "tdprov_outage.write"]
    trust = trust_from_settings(Settings.from_env())
    assert all(verify_bundle(store, s.run_id, trust).ok for s in summaries)


def test_hashing_that_would_hang_is_abandoned_and_marked_partial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    """An S3 endpoint that takes the request and never answers would hold the hashing without a bound: it is abandoned
    after [tdprov] hash_timeout and the run marked partial. A named pipe (reading it blocked until someone wrote, so
    it was abandoned too, its reader left blocked) is refused at once, as not a regular file, and never read."""
    store, fifo = tmp_path / "store", tmp_path / "never-ending.bin"
    os.mkfifo(fifo)
    monkeypatch.setenv("AIRFLOW__TDPROV__STORE", str(store))
    monkeypatch.setenv("AIRFLOW__TDPROV__HASH_TIMEOUT", "1")
    with socket.socket() as silent:  # listens, and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{silent.getsockname()[1]}")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        with DAG("tdprov_hang", start_date=START, schedule=None) as dag:
            PythonOperator(task_id="reads", python_callable=lambda: None,
                           inlets=[str(fifo), "s3://silent-bucket/never.bin"])
        started = time.monotonic()
        assert run_dag(dag, logical_date=START).state == "success"
        assert time.monotonic() - started < 60
    summary = {s.job_name: s for s in bundles_of(store)}["tdprov_hang.reads"]
    assert summary.state == "COMPLETE" and [d.version for d in summary.inputs] == [None, None]
    assert events_of(store, summary.run_id)[-1]["run"]["facets"]["tdprov_runContext"]["partial"] is True
    said = [r.getMessage() for r in caplog.records if "recorded without a content hash" in r.getMessage()]
    assert [m.split(" recorded without")[0] for m in said] == [f"tdprov: {fifo.as_uri()}", "tdprov: s3://silent-bucket/never.bin"]
    assert f"(error): BadInputError: {str(fifo)!r} is a named pipe, not a regular file, so it has no content" in said[0]
    assert "(timeout): hashing s3://silent-bucket/never.bin took longer than [tdprov] hash_timeout=1.0s" in said[1]


def test_an_s3_outlet_whose_endpoint_hangs_does_not_hold_up_the_task_start(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, s3_fault, caplog: pytest.LogCaptureFixture) -> None:
    """The start hook's HEAD of an S3 object outlet (to note its ETag and VersionId) had no bound: an endpoint that
    takes the request and never answers held the task's start for botocore's timeouts and retries (60 s each). It
    shares the start hook's [tdprov] hash_timeout with the inlets' hashing, so the task starts within it."""
    monkeypatch.setenv("AIRFLOW__TDPROV__STORE", str(tmp_path / "store"))
    monkeypatch.setenv("AIRFLOW__TDPROV__HASH_TIMEOUT", "2")
    s3_fault("hang")  # the data's endpoint (the AWS environment); the store is a local folder
    ran: list[float] = []
    with DAG("tdprov_hang_outlet", start_date=START, schedule=None) as dag:
        PythonOperator(task_id="writes", python_callable=lambda: ran.append(time.monotonic()),
                       outlets=["s3://silent-bucket/out.csv"])
    began = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="prov_airflow.capture"):
        assert run_dag(dag, logical_date=START).state == "success"
    assert ran and ran[0] - began < 30, ran  # unbounded: over 60 s
    assert ("tdprov: what s3://silent-bucket/out.csv held when the try started was not noted within [tdprov] "
            "hash_timeout=2.0s") in caplog.text
    summary = {s.job_name: s for s in bundles_of(tmp_path / "store")}["tdprov_hang_outlet.writes"]
    assert summary.state == "COMPLETE" and [(d.name, d.version) for d in summary.outputs] == [("out.csv", None)]


def test_a_missing_s3_inlet_or_outlet_is_logged_as_tdprov_hash_words_it(
        s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
        caplog: pytest.LogCaptureFixture) -> None:
    """An s3:// inlet or outlet that is not there was logged with S3's raw answer to the HEAD that looked for it
    ('ClientError: An error occurred (404) when calling the HeadObject operation: Not Found'); the inlet's warning
    words it as ``tdprov hash`` refuses it, naming the bucket, the key and the fix, and it is still recorded as
    missing. The outlet is no output of the try: its warning says it is not there after the try."""
    store = tmp_path / "store"
    monkeypatch.setenv("AIRFLOW__TDPROV__STORE", str(store))
    inlet, outlet = f"s3://{s3_bucket}/data/never.csv", f"s3://{s3_bucket}/data/out.csv"
    with DAG("tdprov_s3_missing", start_date=START, schedule=None) as dag:
        PythonOperator(task_id="writes_nothing", python_callable=lambda: None, inlets=[inlet], outlets=[outlet])
    with caplog.at_level(logging.WARNING, logger="prov_airflow.capture"):
        assert run_dag(dag, logical_date=START).state == "success"
    said = [r.getMessage() for r in caplog.records if "recorded without a content hash" in r.getMessage()]
    capsys.readouterr()
    assert main(["hash", inlet]) == 2
    refusal = capsys.readouterr().err.strip().partition("cannot read ")[2]
    assert refusal.startswith(f"{inlet!r}: bucket '{s3_bucket}' holds no object "), refusal
    assert said == [f"tdprov: {inlet} recorded without a content hash (missing): S3ObjectMissingError: cannot read {refusal}"]
    messages = [r.getMessage() for r in caplog.records]
    assert f"tdprov: outlet {outlet} is not there after the try (no file; no shard in a folder or glob; no object): not " \
           "recorded as its output" in messages, messages
    assert not any("HeadObject" in message for message in messages), messages


def test_strict_mode_fails_the_operator_never_the_listener(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store should be")
    table = tmp_path / "t.csv"
    pd.DataFrame({"id": [1], "x": [1.0]}).to_csv(table, index=False)
    monkeypatch.setenv("AIRFLOW__TDPROV__STORE", str(blocker))
    monkeypatch.setenv("AIRFLOW__TDPROV__STRICT", "True")
    with DAG("tdprov_strict", start_date=START, schedule=None) as dag:
        PythonOperator(task_id="plain", python_callable=lambda: None, outlets=[str(table)])
        PanderaValidationOperator(task_id="check", source=str(table), schema="airflow_dags.schemas:FEATURES")
    run = run_dag(dag, logical_date=START)
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {"plain": "success", "check": "failed"}

    # control: the same DAG without strict mode succeeds (the store problem is only logged)
    monkeypatch.setenv("AIRFLOW__TDPROV__STRICT", "False")
    run = run_dag(dag, logical_date=pendulum.datetime(2024, 1, 2, tz="UTC"))
    assert {ti.task_id: ti.state for ti in run.get_task_instances()} == {"plain": "success", "check": "success"}


def test_a_strict_operator_whose_store_is_down_says_nothing_was_spooled(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, s3_fault, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A strict Pandera task whose own connection's S3 store answers 503 SlowDown: its error quoted the connection
    check's output, the store's fix ending "spooled bundles are delivered by 'tdprov flush'", though strict mode spools
    nothing; it gives the store's error in strict mode's words, as a strict write does, naming where strict is set."""
    store = s3_fault("503 SlowDown")
    monkeypatch.setenv("AIRFLOW__TDPROV__STORE", str(tmp_path / "store"))  # the listener's, which takes the run
    monkeypatch.setenv("AIRFLOW__TDPROV__SPOOL", str(tmp_path / "spool"))
    monkeypatch.setenv("AIRFLOW_CONN_TDPROV_DOWN", json.dumps({"conn_type": "tdprov", "host": store,
                                                               "extra": {"strict": True}}))
    table = tmp_path / "t.csv"
    pd.DataFrame({"id": [1], "x": [1.0]}).to_csv(table, index=False)
    with DAG("tdprov_strict_down", start_date=START, schedule=None) as dag:
        PanderaValidationOperator(task_id="check", source=str(table), schema="airflow_dags.schemas:FEATURES",
                                  tdprov_conn_id="tdprov_down")
    capsys.readouterr()
    assert run_dag(dag, logical_date=START).state == "failed"
    out, err = capsys.readouterr()
    said = [line for line in (caplog.text + out + err).splitlines() if "tdprov strict mode" in line]
    assert said and not [line for line in said if "tdprov flush" in line], said
    assert all(("tdprov strict mode (strict in the extra of Airflow connection 'tdprov_down'): store "
                f"{store} cannot be used: cannot list '/' in S3 store {store}") in line for line in said), said
    assert all(line.endswith("SlowDown (injected fault). Fix: nothing was spooled (strict mode): retry when "
                             "the store is back, or run without strict mode to spool") for line in said), said


def test_a_strict_transports_check_past_its_bound_leaves_the_task_end_waiting_for_its_writes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A strict operator's transport raised from the check of the runs it took for open once the check outlived its
    bound, and the raise skipped the rest of ``finish`` (``before_stopping`` only logged it): the write the check
    waited behind, which the store took well within ``flush_timeout``, was never waited for and was lost with the task
    process's ``os._exit``. The check's timeout is now a warning, and the end waits for the write within the bound."""
    from bundle_support import run_events, strict_on_slow_writes

    from prov_airflow import delivery, emitter
    from prov_common.bundle import layout
    from prov_common.errors import StoreUnavailableError

    store, strict = strict_on_slow_writes(tmp_path, monkeypatch, 0.6)  # each write past the bound (0.2 s)
    monkeypatch.setitem(emitter._transports, ("a strict operator's settings", None), strict)
    start = run_events()[0]
    with pytest.raises(StoreUnavailableError):
        strict.emit(start)  # strict: raises past its bound, and the write goes on in the background
    with caplog.at_level(logging.WARNING):
        assert delivery.finish(5.0) is True, caplog.text
    assert "tdprov: the check of the runs this process took for open took more than 0.2s" in caplog.text, caplog.text
    staged = [key for key in open_store(str(store)).list(f"{layout.STAGING}/") if key.endswith(".json")]
    assert [key.split("/")[1] for key in staged] == [start["run"]["runId"]], staged


def _queued_in_child(delivery, said) -> None:  # noqa: ANN001 - a Delivery and a multiprocessing Connection
    """In a forked child: whether ``delivery`` drains at once, and the jobs it holds."""
    said.send((delivery.drain(0.5), [what for what, _ in delivery.take_waiting()]))


def test_a_child_forked_while_the_listener_delivers_leaves_its_parents_jobs_to_it() -> None:
    """A child a process forks with jobs in the listener's queue (a scheduler's worker, whose exit drains the queue as
    a multiprocessing child's now does) held them with no thread to run them: its exit waited for them
    TDPROV_EXIT_TIMEOUT, then spooled its parent's events as left. The child's queue starts empty."""
    import multiprocessing
    import threading

    from prov_airflow.delivery import Delivery

    delivery, release = Delivery(), threading.Event()
    delivery.submit("held", lambda: release.wait(30))
    delivery.submit("queued", lambda: None)
    ours, theirs = multiprocessing.Pipe()
    child = multiprocessing.get_context("fork").Process(target=_queued_in_child, args=(delivery, theirs))
    child.start()
    try:
        assert ours.poll(30) and ours.recv() == (True, [])
    finally:
        release.set()
        child.join(30)
        if child.is_alive():  # it deadlocked on the parent's lock
            child.kill()
            child.join()
    assert child.exitcode == 0 and delivery.drain(5)


def test_a_job_not_begun_when_the_drain_runs_out_is_the_callers_never_the_threads() -> None:
    """The delivery thread ends the job it runs as the drain's bound runs out, before the queue's jobs are taken for
    the outbox: it begins none of them (it took the next, which then ran against the ended transport, spooled but never
    waited for by ``finish``, and ``os._exit`` could cut it short); the caller takes it, in order."""
    import threading

    from prov_airflow.delivery import Delivery

    delivery, release, ran = Delivery(), threading.Event(), []

    def job(what: str, hold: bool = False) -> None:
        ran.append((what, threading.current_thread().name))
        if hold:
            release.wait(30)

    delivery.submit("first", lambda: job("first", hold=True))
    delivery.submit("second", lambda: job("second"))
    assert not delivery.drain(0.2)  # the first still runs
    release.set()  # it ends before the queue is taken
    time.sleep(0.3)
    taken = delivery.take_waiting()
    assert [what for what, _ in taken] == ["second"]
    assert ran == [("first", "tdprov-delivery")]
    delivery.submit("third", lambda: job("third"))  # taken, the queue runs again
    assert delivery.drain(5)
    assert ran == [("first", "tdprov-delivery"), ("third", "tdprov-delivery")]


_TWO_HOOKS = """
import atexit, json, os, sys, time
# registered before tdprov's exit hook, so run after it and every other: what follows (the interpreter's teardown of
# Airflow's modules) is CPU alone, many seconds on a loaded machine, and no wait of tdprov's
atexit.register(lambda: print("exit waits ended at", time.time(), flush=True))
from prov_airflow import delivery  # its exit hook is registered before the transport's, which Python runs first
from prov_common.bundle import transport
from prov_common.store.local import LocalStore
from bundle_support import run_events
from prov_airflow.settings import conf_number
conf_number("flush_timeout")  # Airflow's configuration imported now (seconds), not in the exits measured

class Held(LocalStore):  # a hung local mount: a write never ends
    def put(self, key, data):
        time.sleep(600)

ended = []
for case in json.loads(sys.argv[1]):  # each in a process forked from this one, which ends at its own exit
    pid = os.fork()
    if pid == 0:
        said = os.open(case["said"], os.O_WRONLY | os.O_CREAT)
        os.dup2(said, 1)
        os.dup2(said, 2)
        os.environ.update(case["env"])
        transport.open_store = lambda *args, **kwargs: Held(case["store"])
        held = transport.ProvenanceTransport(transport.ProvenanceConfig(store=case["store"], spool=case["spool"],
                                                                        timeout=0.2))
        held.emit(run_events()[0])  # goes on in the background past its bound
        delivery.DELIVERY.submit("a held delivery", lambda: time.sleep(600))
        if case["queued"]:
            delivery.DELIVERY.submit("the queued event", lambda: None)  # behind the held delivery
        print("set at", time.time(), flush=True)
        sys.exit(0)
    ended.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
print(json.dumps(ended), flush=True)
os._exit(0)  # this process ran no case: nothing of its own to wait for at exit
"""
EXIT_CASES = {  # case -> its settings, and whether an event waits in the delivery's queue behind the held delivery
    # a process other than a task's waits TDPROV_EXIT_TIMEOUT; flush_timeout three times it: two bounds waited (8 s,
    # or 16 s with flush_timeout's) stand apart from one (4 s) by more than a loaded machine's slower exit hooks (well
    # under a second at load 16; the interpreter's teardown after them, 15 s there, is not counted)
    "one_bound": ({"TDPROV_EXIT_TIMEOUT": "4", "AIRFLOW__TDPROV__FLUSH_TIMEOUT": "12"}, False),
    "exit_bound": ({"TDPROV_EXIT_TIMEOUT": "1", "AIRFLOW__TDPROV__FLUSH_TIMEOUT": "30"}, True),
}


@pytest.fixture(scope="module")
def _exits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[float, int, str]]:
    """Each of :data:`EXIT_CASES` in a process forked from one that imported the listener's delivery and Airflow's
    configuration once, with a write and a delivery held as it exits: case -> (seconds its exit waited after its
    scenario, up to the end of its exit hooks, its exit code, what it wrote). The tests that take them are in one xdist
    group."""
    import subprocess
    import sys

    tests, cases = Path(__file__).parent, []
    for name, (settings, queued) in EXIT_CASES.items():
        folder = tmp_path_factory.mktemp(name)
        cases.append({"env": settings, "queued": queued, "store": str(folder / "store"), "spool": str(folder / "spool"),
                      "said": str(folder / "said.txt")})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tests), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", _TWO_HOOKS, json.dumps(cases)], capture_output=True, text=True,
                          timeout=240, env=env)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    ended = json.loads(done.stdout.strip().splitlines()[-1])
    exits = {}
    for name, case, code in zip(EXIT_CASES, cases, ended, strict=True):
        said = Path(case["said"]).read_text()  # Airflow's logging writes to stdout
        exits[name] = (_said_at(said, "exit waits ended at ") - _said_at(said, "set at "), code, said)
    return exits


def _said_at(said: str, words: str) -> float:
    """The time the line of ``said`` that begins with ``words`` ends with."""
    at = [float(line.split()[-1]) for line in said.splitlines() if line.startswith(words)]
    assert at, f"no line {words!r} in what the process wrote: {said[-3000:]}"
    return at[0]


@pytest.mark.xdist_group("test_airflow_reliability.exits")
def test_an_airflow_process_exit_waits_one_bound_in_all(_exits: dict) -> None:
    """At a normal interpreter exit the transport's exit hook (registered at its import, after the delivery's, so run
    before it) waited its own bound (TDPROV_EXIT_TIMEOUT) for the writes under way, and the delivery's hook then drained
    its queue for [tdprov] flush_timeout: two bounds. The process's exit waits one, the delivery's (the drain and the
    writes within TDPROV_EXIT_TIMEOUT), and names what it left."""
    waited, code, said = _exits["one_bound"]
    assert code == 0 and waited < 7.5, (waited, said[-3000:])  # two bounds: 8 s and more (16 s, flush_timeout's)
    assert "1 write still under way after 4.0s as this process ends (the START event of run" in said, said[-3000:]


@pytest.mark.xdist_group("test_airflow_reliability.exits")
def test_a_process_other_than_a_task_waits_the_exit_bound_of_every_process_at_exit(_exits: dict) -> None:
    """A process other than a task's that loads the listener's delivery (a script running dag.test(), a scheduler)
    waited [tdprov] flush_timeout at its exit, the bound of a task process's end, not TDPROV_EXIT_TIMEOUT, the setting
    documented to bound how long a process's exit waits (30 s here for 1 s set). It now waits TDPROV_EXIT_TIMEOUT, and
    the warning of what it spooled names that setting."""
    waited, code, said = _exits["exit_bound"]
    # 30 s before; the 1 s bound and the exit hooks after it took 1.0 s at load 16 (the interpreter's teardown after
    # them is not counted), so 20 s tells them apart
    assert code == 0 and waited < 20, (waited, said[-3000:])
    assert "1 write still under way after 1.0s as this process ends (the START event of run" in said, said[-3000:]
    assert "1 event not delivered within TDPROV_EXIT_TIMEOUT (1s) as this process ends (the queued event)" in said, said


def test_an_outlet_snapshot_with_a_store_that_cannot_be_opened_still_records_the_try(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """[tdprov] store names a file and snapshots are on: the listener opened the store to keep the outlet's snapshot,
    its error escaped the task's end and the try's COMPLETE was never recorded (only 'could not record provenance' was
    logged). Now no snapshot is kept, a warning names the run, the error and the fix naming [tdprov] store, and the
    COMPLETE goes to the outbox with the START: once the store is a folder, flush and seal record the try."""
    blocker, spool, table = tmp_path / "not-a-folder", tmp_path / "spool", tmp_path / "t.csv"
    blocker.write_text("a file where the store should be")
    monkeypatch.setenv("AIRFLOW__TDPROV__STORE", str(blocker))
    monkeypatch.setenv("AIRFLOW__TDPROV__SPOOL", str(spool))
    monkeypatch.setenv("AIRFLOW__TDPROV__SNAPSHOT", "True")
    with DAG("tdprov_snapshot_unopened", start_date=START, schedule=None) as dag:
        PythonOperator(task_id="writes", outlets=[str(table)],
                       python_callable=lambda: pd.DataFrame({"id": [1]}).to_csv(table, index=False))
    with caplog.at_level(logging.WARNING, logger="prov_airflow"):
        run = run_dag(dag, logical_date=START)
    assert {ti.task_id: ti.state for ti in run.get_task_instances()} == {"writes": "success"}
    said = [r.getMessage() for r in caplog.records]
    assert not [m for m in said if "could not record provenance" in m], said
    [warned] = [m for m in said if "no snapshot of the outlets of run" in m]
    assert (f"of tdprov_snapshot_unopened.writes was kept (store path '{blocker}' exists and is not a folder. Fix: point "
            "[tdprov] store at a folder); the task is not affected" in warned), warned
    blocker.unlink()
    assert main(["flush", "--spool", str(spool), "--store", str(blocker)]) == 0
    store = open_store(str(blocker))
    waiting = {key.split("/")[1] for key in store.list("staging/")} - {s.run_id for s in bundles_of(str(blocker))}
    assert main(["store", "seal", *waiting, "--store", str(blocker)]) == 0
    [task] = [s for s in bundles_of(str(blocker)) if s.job_name == "tdprov_snapshot_unopened.writes"]
    assert task.state == "COMPLETE" and [o.name for o in task.outputs] == [str(table)]


def test_the_listeners_events_left_in_its_queue_as_the_process_ends_are_named_by_their_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The events still in the listener's queue when a task's end runs out of ``[tdprov] flush_timeout`` are spooled and
    named in one warning (a real ``dag.test()``, its task's events queued behind a held delivery): the listener named
    each only by its type and job ("COMPLETE event of DAG.TASK"), the same for every try and map index, so one that
    could not be spooled named no run. Each is named by its run (and job)."""
    import threading

    from prov_airflow import delivery, emitter

    store, spool, out = tmp_path / "store", tmp_path / "spool", tmp_path / "out.csv"
    monkeypatch.setenv("AIRFLOW__TDPROV__STORE", str(store))
    monkeypatch.setenv("AIRFLOW__TDPROV__SPOOL", str(spool))
    monkeypatch.setenv("AIRFLOW__TDPROV__FLUSH_TIMEOUT", "0.3")  # the task's end (before_stopping) waits no longer
    monkeypatch.setattr(emitter, "_transports", {})  # only this test's transports are ended at the bound
    release = threading.Event()
    delivery.DELIVERY.submit("a held delivery", lambda: release.wait(30))  # the task's events queue behind it
    try:
        with DAG("tdprov_queued_named", start_date=START, schedule=None) as dag:
            PythonOperator(task_id="write", python_callable=lambda: out.write_text("a\n1\n"), outlets=[str(out)])
        with caplog.at_level(logging.WARNING):
            assert run_dag(dag, logical_date=START).state == "success"
    finally:
        release.set()
    assert main(["flush", "--store", str(store), "--spool", str(spool)]) == 0
    task = [s.run_id for s in bundles_of(store) if s.job_name == "tdprov_queued_named.write"]
    assert len(task) == 1, bundles_of(store)
    warned = [r.getMessage() for r in caplog.records if "not delivered within [tdprov] flush_timeout" in r.getMessage()]
    assert len(warned) == 1, caplog.text
    for event in ("START", "COMPLETE"):
        assert f"{event} event of run {task[0]} (tdprov_queued_named.write)" in warned[0], warned[0]
