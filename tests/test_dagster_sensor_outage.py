"""The run-status sensors when a store opens but does not answer (an S3 outage): the tick ends within the store's
time bounds with a warning naming the store and the fix, the run is left to a later tick, and a later tick with the
store back closes every step of it, with what the steps staged."""
from __future__ import annotations

import json
import re
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import dagster as dg
import pytest

from dagster._core.remote_origin import RegisteredCodeLocationOrigin

import dagster_steps_defs as steps
from conftest import free_port, s3_env
from prov_common.bundle import layout, list_bundles, read_bundle
from prov_common.bundle.events import parse_events_jsonl
from prov_common.signing import signing_key_from_settings
from prov_common.store import open_store
from prov_dagster import ProvenanceIOManager, ProvenanceResource, provenance_failure_sensor, provenance_store_sensor
from prov_dagster.sensors import close_left_runs, close_or_leave
from prov_dagster import recorder as recorder_module
from prov_dagster import sensors as sensors_module
from prov_dagster import steps as steps_module
from prov_dagster.naming import step_run_id
from s3_proxy import HangingProxy
from test_dagster_asset_checks import kept_elsewhere, raises_elsewhere
from test_dagster_defs import asset_of
from test_dagster_steps import digest_of, killed_run

TESTS = Path(__file__).resolve().parent
BOUNDS = {"TDPROV_STORE_CONNECT_TIMEOUT": "1", "TDPROV_STORE_READ_TIMEOUT": "1", "TDPROV_STORE_MAX_ATTEMPTS": "1"}
CLOSING_TAG = "tdprov/closing"  # the tag of a run a sensor left unclosed
BOUND = 20.0  # seconds: one call's bounds (1 s to connect, 1 s to read, one attempt) and Dagster's own work on a
# loaded machine; an unbounded call to the proxy never returns, and Dagster gives a sensor 60 s


@dg.asset
def breaks_here() -> None:
    raise ValueError("broken here")


def failure_tick(instance: dg.DagsterInstance, run: Any, store: str) -> float:
    """Seconds the failure sensor took on ``run`` of ``instance`` (its provenance resource on ``store``)."""
    [ended] = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    began = time.monotonic()
    with dg.build_run_status_sensor_context(
            sensor_name="provenance_failure_sensor", dagster_event=ended.dagster_event, dagster_instance=instance,
            dagster_run=run, resources={"provenance": ProvenanceResource(store=store)}) as context:
        provenance_failure_sensor(context)
    return time.monotonic() - began


def store_tick(instance: dg.DagsterInstance, store: str, location: str | None = None) -> Any:
    """One tick of the store sensor (its provenance resource on ``store``), in code location ``location`` (None: in
    none, as in a test)."""
    resources = {"provenance": ProvenanceResource(store=store)}
    if location is None:
        return provenance_store_sensor(dg.build_sensor_context(instance=instance, resources=resources))
    return provenance_store_sensor(dg.SensorEvaluationContext(
        instance_ref=None, instance=instance, resources=resources, repository_name="__repository__",
        code_location_origin=RegisteredCodeLocationOrigin(location)))


def left_warning(caplog: pytest.LogCaptureFixture) -> str:
    [message] = [r.getMessage() for r in caplog.records if "could not close Dagster run" in r.getMessage()]
    return message


def events_of(store: str, ol_run_id: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The events of a sealed bundle and its PROV document."""
    files = read_bundle(open_store(store), ol_run_id).files
    return parse_events_jsonl(files["events.jsonl"]), json.loads(files["prov.json"])


def prov_of_run(prov: dict[str, Any], ol_run_id: str) -> tuple[set[str], set[tuple[str, str]], str]:
    """(names of the datasets used, (name, digest) of the versions generated, state) of run ``ol_run_id`` in a PROV
    document (the quality measurements a run generates are not versions)."""
    activity, entities = f"tdprov:run-{ol_run_id}", prov["entity"]

    def name(version: str) -> str:
        return entities[entities[version]["tdprov:dataset"]["$"]]["tdprov:name"]

    used = {name(u["prov:entity"]) for u in prov.get("used", {}).values() if u["prov:activity"] == activity}
    generated = {(name(g["prov:entity"]), entities[g["prov:entity"]]["tdprov:digest"])
                 for g in prov.get("wasGeneratedBy", {}).values()
                 if g["prov:activity"] == activity and "tdprov:dataset" in entities[g["prov:entity"]]}
    return used, generated, prov["activity"][activity]["tdprov:state"]


class StoreProxy(HangingProxy):
    """A :class:`HangingProxy` whose :meth:`resume` also gives the store's calls their default bounds again: the ticks
    after it are about what they close, and a call bounded by :data:`BOUNDS` (1 s to read, one attempt) can time out on
    a store that answers, on a loaded machine."""

    def __init__(self, target: tuple[str, int], monkeypatch: pytest.MonkeyPatch) -> None:
        super().__init__(target)
        self._monkeypatch = monkeypatch

    def resume(self) -> None:
        """Forward again, the store's calls no longer bounded by :data:`BOUNDS`."""
        for name in BOUNDS:
            self._monkeypatch.delenv(name, raising=False)
        super().resume()


@contextmanager
def behind_proxy(s3_server: Any, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                 ended: bool) -> Iterator[tuple[dg.DagsterInstance, Any, str, StoreProxy]]:
    """(instance, run, store, proxy): a run whose step pair was killed after its first output, recorded in an S3 store
    reached through a proxy that can stop answering; the store's calls bounded by :data:`BOUNDS` from then on, until
    the proxy resumes.
    ``ended``: the run is reported failed (its end recorded, the time of its steps' FAIL)."""
    proxy = StoreProxy(("127.0.0.1", int(s3_server.endpoint.rsplit(":", 1)[1])), monkeypatch)
    store = f"s3://{s3_bucket}/prefix"
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", proxy.endpoint)
    monkeypatch.setenv("TDPROV_STORE", store)
    monkeypatch.setenv("TDPROV_SPOOL", str(tmp_path / "spool"))
    signing_key_from_settings()
    try:
        with dg.DagsterInstance.from_config(killed_run(tmp_path, "kill")) as instance:  # pair died after its first output
            [run] = instance.get_runs()
            if ended:
                instance.report_run_failed(run)  # as Dagster's run monitoring does: the run ends (its steps' FAIL time)
            run = instance.get_run_by_id(run.run_id)
            for name, value in BOUNDS.items():
                monkeypatch.setenv(name, value)
            yield instance, run, store, proxy
    finally:
        proxy.close()


@pytest.fixture
def killed_behind_proxy(s3_server: Any, s3_bucket: str, tmp_path: Path,
                        monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[dg.DagsterInstance, Any, str, StoreProxy]]:
    """:func:`behind_proxy` of a run reported failed."""
    with behind_proxy(s3_server, s3_bucket, tmp_path, monkeypatch, ended=True) as made:
        yield made


@pytest.fixture
def unended_behind_proxy(s3_server: Any, s3_bucket: str, tmp_path: Path,
                         monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[dg.DagsterInstance, Any, str, StoreProxy]]:
    """:func:`behind_proxy` of a run with no recorded end (nothing reported it failed)."""
    with behind_proxy(s3_server, s3_bucket, tmp_path, monkeypatch, ended=False) as made:
        yield made


def assert_pair_closed(instance: dg.DagsterInstance, run: Any, store: str) -> None:
    """The bundle of step pair holds what it staged (its input, its first output) and the sensor's FAIL, in events and
    PROV."""
    first = digest_of(instance, "first")
    pair = step_run_id(run.run_id, "pair")
    [summary] = [s for s in list_bundles(open_store(store)) if s.run_id == pair]
    assert summary.state == "FAIL" and [asset_of(store, i.name) for i in summary.inputs] == ["raw"]
    assert [(asset_of(store, o.name), o.version) for o in summary.outputs] == [("first", first)]
    events, prov = events_of(store, pair)
    assert [e["eventType"] for e in events] == ["START", "RUNNING", "FAIL"]  # what the killed step staged, and its FAIL
    assert prov_of_run(prov, pair) == ({"prefix-data/raw.parquet"}, {("prefix-data/first.parquet", first)}, "FAIL")


def test_a_killed_steps_store_that_hangs_leaves_the_run_to_a_later_tick_which_closes_it(
        killed_behind_proxy: Any, caplog: pytest.LogCaptureFixture) -> None:
    """The store answers while the run's step writes its first output and is killed, then accepts connections and
    never answers as the failure sensor ticks: the tick ends within the store's bounds with a warning naming the store
    and the fix, and tags the run; the store sensor's next tick with the store back seals the step with what it staged
    (it raised after its first call, and Dagster moved past the run: the step was never closed)."""
    instance, run, store, proxy = killed_behind_proxy
    proxy.hang()
    with caplog.at_level(logging.WARNING):
        took = failure_tick(instance, run, store)
    assert took < BOUND
    assert left_warning(caplog).startswith(
        f"tdprov: provenance_failure_sensor could not close Dagster run {run.run_id}: cannot check 'bundles/")
    assert (f"in S3 store {store} at {proxy.endpoint}: Read timeout on endpoint URL" in left_warning(caplog)
            and left_warning(caplog).endswith(
                "Its steps that are not closed are left as they are (what they staged stays in the store or the "
                "spool), and the run is tagged tdprov/closing=left: provenance_store_sensor closes them at its "
                "first tick once the store answers. Fix: check the endpoint (AWS_ENDPOINT_URL_S3) and network; "
                "spooled bundles are delivered by 'tdprov flush'"))
    assert instance.get_run_by_id(run.run_id).tags[CLOSING_TAG] == "left"
    caplog.clear()
    with caplog.at_level(logging.WARNING):  # the next run of the tick (here the same) waits for no call
        assert failure_tick(instance, run, store) < BOUND
    assert "Read timeout on endpoint URL" in left_warning(caplog) and " s ago, for an earlier run; not tried " \
        "again before 60 s) Its steps" in left_warning(caplog)

    proxy.resume()
    store_tick(instance, store, location="etl")  # a code location's: the run was launched in process, in none
    assert instance.get_run_by_id(run.run_id).tags[CLOSING_TAG] == "left"
    assert step_run_id(run.run_id, "pair") not in {s.run_id for s in list_bundles(open_store(store))}
    store_tick(instance, store)
    assert instance.get_run_by_id(run.run_id).tags[CLOSING_TAG] == "closed"
    store_tick(instance, store)  # nothing left: nothing sealed twice
    assert_pair_closed(instance, run, store)


def test_a_store_that_stops_answering_as_the_sensor_seals_leaves_the_run_to_a_later_tick_which_closes_it(
        killed_behind_proxy: Any, s3_bucket: str, caplog: pytest.LogCaptureFixture) -> None:
    """The store stops answering right after it took the sensor's FAIL of the killed step: the seal that follows
    cannot read what the step staged. The run is left (tagged, a warning naming the run) and the store sensor's tick
    with the store back seals it with the step's START, its output and one FAIL. It was sealed from the sensor's FAIL
    alone (the bundle spooled, then delivered): the step's input and output were in no record."""
    instance, run, store, proxy = killed_behind_proxy
    pair = step_run_id(run.run_id, "pair")
    proxy.hang_after(f"PUT /{s3_bucket}/prefix/staging/{pair}/".encode())
    with caplog.at_level(logging.WARNING):
        took = failure_tick(instance, run, store)
    assert took < BOUND
    assert left_warning(caplog) == (
        f"tdprov: provenance_failure_sensor could not close Dagster run {run.run_id}: 1 run of its steps could not be "
        f"sealed now: {pair} (step pair). Its steps that are not closed are left as they are (what they staged stays "
        "in the store or the spool), and the run is tagged tdprov/closing=left: provenance_store_sensor closes them at "
        "its first tick once the store answers. Fix: check that the store is reachable (the warning before names it)")
    [why] = [r.getMessage() for r in caplog.records if f"run {pair} is not sealed" in r.getMessage()]
    assert f"its staged events cannot be read (cannot list 'staging/{pair}/' in S3 store {store}" in why
    assert why.endswith(f"Fix: once the store answers, run 'tdprov flush', then 'tdprov store seal {pair}'; the "
                        "pipeline continues")
    assert instance.get_run_by_id(run.run_id).tags[CLOSING_TAG] == "left"

    proxy.resume()
    store_tick(instance, store)
    assert instance.get_run_by_id(run.run_id).tags[CLOSING_TAG] == "closed"
    assert_pair_closed(instance, run, store)


def test_a_run_closed_again_after_the_store_stopped_as_it_sealed_has_one_fail(
        unended_behind_proxy: Any, s3_bucket: str, caplog: pytest.LogCaptureFixture) -> None:
    """A run with no recorded end: its killed step's FAIL is stamped when the failure sensor closes it. The store stops
    answering right after it took that FAIL; the store sensor's tick with the store back seals the step with that FAIL,
    not with a second one stamped then (the bundle had START, RUNNING, FAIL, FAIL)."""
    instance, run, store, proxy = unended_behind_proxy
    pair = step_run_id(run.run_id, "pair")
    assert instance.get_run_record_by_id(run.run_id).end_time is None
    proxy.hang_after(f"PUT /{s3_bucket}/prefix/staging/{pair}/".encode())
    with caplog.at_level(logging.WARNING):
        assert close_or_leave(instance, run, ProvenanceResource(store=store), state="FAIL",
                              sensor_name="provenance_failure_sensor").unanswered
    assert "1 run of its steps could not be sealed now" in left_warning(caplog)

    [fail_stamp] = re.findall(rf"PUT /{s3_bucket}/prefix/staging/{pair}/(\w+)-\w+\.json".encode(), proxy.tripped)

    proxy.resume()
    store_tick(instance, store)
    assert instance.get_run_by_id(run.run_id).tags[CLOSING_TAG] == "closed"
    assert_pair_closed(instance, run, store)
    fail = events_of(store, pair)[0][-1]  # the FAIL staged then (in the store or the spool), not one stamped now
    assert layout.stamp(datetime.fromisoformat(fail["eventTime"])).encode() == fail_stamp


def test_a_checked_versions_store_that_stopped_leaves_the_run_to_a_later_tick_which_closes_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A check that loads nothing raised, and no teardown ended its step; the S3 server holding the version it checked
    stops before the failure sensor ticks (the sensor's own store, a folder, answers): the tick ends at once with a
    warning naming that store, and the store sensor's tick after the server is back seals the check's run there,
    as the sensor makes up a check's run (the sensor raised, and Dagster moved past the run: the check was never recorded)."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    for name, value in {**s3_env(f"http://127.0.0.1:{port}", tmp_path), **BOUNDS}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TDPROV_SPOOL", str(tmp_path / "spool"))
    bucket, other = f"kept-{uuid.uuid4().hex[:12]}", str(tmp_path / "other")  # moto keeps buckets across its servers
    kept = f"s3://{bucket}/kept"
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1").create_bucket(Bucket=bucket)
    monkeypatch.setattr(steps_module, "_check_runs", lambda *_: [])  # the check step's teardown never ran
    try:
        with dg.DagsterInstance.ephemeral() as instance:
            failed = dg.materialize([kept_elsewhere, raises_elsewhere], instance=instance, raise_on_error=False, resources={
                "io_manager": ProvenanceIOManager(store=other), "elsewhere": ProvenanceIOManager(store=kept)})
            assert not failed.success
            monkeypatch.setattr(recorder_module, "_recorders", {})  # the sensor's own process: no recorder on either store
            server.stop()
            with caplog.at_level(logging.WARNING):
                [ended] = instance.all_logs(failed.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
                began = time.monotonic()
                provenance_failure_sensor(dg.build_run_status_sensor_context(
                    sensor_name="provenance_failure_sensor", dagster_event=ended.dagster_event,
                    dagster_instance=instance, dagster_run=failed.dagster_run,
                    resources={"provenance": ProvenanceResource(store=other)}))
                took = time.monotonic() - began
            assert took < BOUND
            assert left_warning(caplog).startswith(
                f"tdprov: provenance_failure_sensor could not close Dagster run {failed.run_id}: cannot check 'bundles/")
            assert f"in S3 store {kept} at http://127.0.0.1:{port}: Could not connect to the endpoint URL" in left_warning(caplog)
            assert instance.get_run_by_id(failed.run_id).tags[CLOSING_TAG] == "left"
            caplog.clear()  # a failed run that needs the sensor's own store only is closed at once: it was left (the
            broke = dg.materialize([breaks_here], instance=instance, raise_on_error=False,  # settings failed a moment ago)
                                   resources={"io_manager": ProvenanceIOManager(store=other)})
            with caplog.at_level(logging.WARNING):
                assert failure_tick(instance, broke.dagster_run, other) < BOUND
            assert not [r for r in caplog.records if "could not close Dagster run" in r.getMessage()]
            assert CLOSING_TAG not in instance.get_run_by_id(broke.run_id).tags
            assert [(s.job_name, s.state) for s in list_bundles(open_store(other))] == [("breaks_here", "FAIL")]

            server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
            server.start()
            store_tick(instance, other)
            assert instance.get_run_by_id(failed.run_id).tags[CLOSING_TAG] == "closed"
        for name in BOUNDS:  # the test's own reads below are not the sensors' bounded calls: a loaded machine's 1 s read failed
            monkeypatch.delenv(name)
        assert sorted((s.job_name, s.state) for s in list_bundles(open_store(kept))) == [
            ("check:kept_elsewhere:raises_elsewhere", "FAIL"), ("kept_elsewhere", "COMPLETE")]
        assert [s.job_name for s in list_bundles(open_store(other))] == ["breaks_here"]
        [check] = [s for s in list_bundles(open_store(kept)) if s.job_name == "check:kept_elsewhere:raises_elsewhere"]
        events, prov = events_of(kept, check.run_id)
        assert [e["eventType"] for e in events] == ["START", "FAIL"]
        assert "ValueError: the check itself broke" in events[-1]["run"]["facets"]["errorMessage"]["message"]
        assert prov_of_run(prov, check.run_id) == ({"kept-data/kept_elsewhere.parquet"}, set(), "FAIL")
        assert check.job_namespace == "dagster://default"
    finally:
        server.stop()


def test_a_retry_that_cannot_close_its_failed_attempt_leaves_the_run_to_the_store_sensor(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    """The store is down as a step's attempt fails and its retry succeeds (each in a process of its own): the retry
    cannot tell whether the failed attempt's run was sealed, so it tags the Dagster run, and the store sensor's tick
    with the store back seals that run with what the attempt staged and its FAIL (it stayed staged, in no bundle, till
    'tdprov store seal --force').
    The retry's process asks the store whether the failed attempt's run was sealed, to close it: with the store
    down that question raised into the IO manager, and the retry failed because of tdprov. It runs, warns that the
    earlier run is left as it is, and spools what it records."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    bucket = f"retry-{uuid.uuid4().hex[:12]}"
    store = f"s3://{bucket}/store"
    for name, value in {**s3_env(f"http://127.0.0.1:{port}", tmp_path), **BOUNDS, "TDPROV_STORE": store,
                        "TDPROV_HOME": str(tmp_path / "home"), "TDPROV_SPOOL": str(tmp_path / "spool"),
                        "TDPROV_TEST_CRASH": "retry", "PAIR_DATA_ROOT": str(tmp_path / "data")}.items():
        monkeypatch.setenv(name, value)
    signing_key_from_settings()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1").create_bucket(Bucket=bucket)
    server.stop()  # down as the job runs
    monkeypatch.chdir(TESTS)  # step processes import dagster_steps_defs from the working directory
    (tmp_path / "dagster_home").mkdir()
    try:
        with dg.DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
            steps.materialize_raw(instance)
            result = dg.execute_job(dg.reconstructable(steps.get_pair_job_with_local_data), instance=instance)
            err = capfd.readouterr().err  # the step processes' stderr
            assert result.success, err[-3000:]
            failed = step_run_id(result.run_id, "pair")
            [warning] = [line for line in err.splitlines() if "cannot tell whether run" in line]
            assert warning.startswith(f"tdprov: cannot tell whether run {failed} (attempt 0 of step pair, which Dagster "
                                      "retried) was sealed: cannot check "), warning
            assert warning.endswith(f"It is left as it is, and the Dagster run is tagged {CLOSING_TAG}=after-run: once "
                                    "the run ended, provenance_store_sensor closes it at its first tick where the store "
                                    "answers; if it stays unsealed, 'tdprov audit' names it. Fix: once the store is "
                                    f"reachable, 'tdprov store seal --force {failed}' seals it"), warning
            assert len(list((tmp_path / "spool").glob("*.spool"))) > 1  # what the retry recorded, spooled
            assert instance.get_run_by_id(result.run_id).tags[CLOSING_TAG] == "after-run"

            server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
            server.start()
            store_tick(instance, store)
            assert instance.get_run_by_id(result.run_id).tags[CLOSING_TAG] == "closed"
        events, prov = events_of(store, failed)
        assert [e["eventType"] for e in events] == ["START", "RUNNING", "FAIL"]
        assert prov_of_run(prov, failed)[2] == "FAIL"
    finally:
        server.stop()


def test_runs_a_retry_left_that_never_finish_keep_no_finished_one_from_being_closed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs tagged ``tdprov/closing=after-run`` whose process was killed and that nothing reported failed never
    finish: the store sensor took the newest tagged runs (at most MAX_LEFT_PER_TICK) and then kept the finished ones, so
    as many such runs newer than a finished one kept it tagged, its earlier attempt unsealed, for good. A run reported
    failed later (as Dagster's run monitoring reports a run whose worker died) is closed by the failure sensor, which
    clears its tag."""
    monkeypatch.setattr(sensors_module, "MAX_LEFT_PER_TICK", 2)
    store = str(tmp_path / "store")
    with dg.DagsterInstance.ephemeral() as instance:
        ended = dg.materialize([breaks_here], instance=instance, raise_on_error=False,
                               resources={"io_manager": ProvenanceIOManager(store=store)})
        instance.add_run_tags(ended.run_id, {CLOSING_TAG: "after-run"})
        going = [instance.add_run(dg.DagsterRun(job_name="killed", run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.STARTED,
                                                tags={CLOSING_TAG: "after-run"})) for _ in range(2)]  # newer, never ended
        store_tick(instance, store)
        assert instance.get_run_by_id(ended.run_id).tags[CLOSING_TAG] == "closed"
        assert [(s.job_name, s.state) for s in list_bundles(open_store(store))] == [("breaks_here", "FAIL")]
        assert [instance.get_run_by_id(r.run_id).tags[CLOSING_TAG] for r in going] == ["after-run", "after-run"]

        instance.report_run_failed(going[0])
        failure_tick(instance, instance.get_run_by_id(going[0].run_id), store)
        assert [instance.get_run_by_id(r.run_id).tags[CLOSING_TAG] for r in going] == ["closed", "after-run"]


def test_a_store_that_another_sensor_found_down_meanwhile_ends_no_tick_of_the_store_sensor(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The store sensor's tick closes the runs the run-status sensors left. The first it comes to is left again (its
    namespace's variable is unset here), and meanwhile the failure sensor, evaluated in another thread of the same
    process, found its own store (another one) not answering: the tick took that for a failure of its own and ended,
    so the next left run, whose store answers, waited for the next tick. It is closed in the same tick now; the run of
    the unset variable stays left, and the failure sensor's run is left for its store."""
    port = free_port()  # nothing listens there: the failure sensor's store does not answer
    for name, value in {**s3_env(f"http://127.0.0.1:{port}", tmp_path), **BOUNDS}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TDPROV_SPOOL", str(tmp_path / "spool"))
    monkeypatch.delenv("TDPROV_TEST_TEAM", raising=False)
    monkeypatch.setattr(sensors_module, "_unanswered", {})  # no store failed before in this process
    store, down = str(tmp_path / "store"), f"s3://down-{uuid.uuid4().hex[:12]}/prefix"
    repository = dg.Definitions(resources={"io_manager": ProvenanceIOManager(store=store),
                                           "provenance": ProvenanceResource(store=store)}).get_repository_def()
    with dg.DagsterInstance.ephemeral() as instance:
        left = dg.materialize([breaks_here], instance=instance, raise_on_error=False,
                              resources={"io_manager": ProvenanceIOManager(store=store)})
        instance.add_run_tags(left.run_id, {CLOSING_TAG: "left"})
        unset = instance.add_run(dg.DagsterRun(  # newer: the tick comes to it first
            job_name="team_job", run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.FAILURE, tags={CLOSING_TAG: "left"},
            run_config={"resources": {"io_manager": {"config": {"namespace": {"env": "TDPROV_TEST_TEAM"}}}}}))
        failed = dg.materialize([breaks_here], instance=instance, raise_on_error=False,
                                resources={"io_manager": ProvenanceIOManager(store=store)})
        ticked = []

        def meanwhile(record: logging.LogRecord) -> bool:  # as the tick leaves the first run, the failure sensor ticks
            if not ticked and f"close Dagster run {unset.run_id}:" in record.getMessage():
                ticked.append(threading.Thread(target=failure_tick, args=(instance, failed.dagster_run, down)))
                ticked[0].start()
                ticked[0].join(BOUND * 2)
            return True

        sensors_module.log.addFilter(meanwhile)
        try:
            with caplog.at_level(logging.WARNING):
                closed = close_left_runs(instance, ProvenanceResource(store=store), repository_def=repository)
        finally:
            sensors_module.log.removeFilter(meanwhile)
        assert ticked and not ticked[0].is_alive()
        # the failure sensor's warning comes first: it was given as the tick's reached the logger, before its handlers
        store_down, namespace_unset = [r.getMessage() for r in caplog.records if "could not close" in r.getMessage()]
        assert store_down.startswith(f"tdprov: provenance_failure_sensor could not close Dagster run {failed.run_id}: ")
        assert f"in S3 store {down} at http://127.0.0.1:{port}: Could not connect to the endpoint URL" in store_down
        assert namespace_unset.startswith(
            f"tdprov: provenance_store_sensor could not close Dagster run {unset.run_id}: the namespace of a provenance "
            "IO manager or resource is the environment variable TDPROV_TEST_TEAM, which is not set in this process")
        assert closed == 1
        assert [instance.get_run_by_id(r.run_id).tags[CLOSING_TAG] for r in (left, unset, failed)] == [
            "closed", "left", "left"]
    assert [(s.job_name, s.state, s.run_id) for s in list_bundles(open_store(store))] == [
        ("breaks_here", "FAIL", step_run_id(left.run_id, "breaks_here"))]
