"""How a Dagster step's run ends: closed from the store by another process, by a step with no asset output, or
as Dagster recorded a step that can still work after its last output."""
from __future__ import annotations

import gc
import json
import logging
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest
from dagster import (
    AssetCheckResult,
    AssetKey,
    AssetOut,
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    Definitions,
    DynamicOut,
    DynamicOutput,
    EnvVar,
    MaterializeResult,
    Output,
    RetryPolicy,
    asset,
    asset_check,
    build_run_status_sensor_context,
    execute_job,
    graph_asset,
    materialize,
    multi_asset,
    op,
    reconstructable,
)

import dagster_steps_defs as steps
from counting_store import CountingStore
from store_support import flush_killed
from test_dagster_defs import asset_of
from test_reliability_proxy import FaultProxy, fault_proxy  # noqa: F401 - a fixture
from test_transport_outbox import outage  # noqa: F401 - a fixture
from prov_common.audit import run_audit
from prov_common.bundle import list_bundles, read_bundle
from prov_common.bundle.events import parse_events_jsonl
from prov_common.bundle.late import put_arrived
from prov_common.bundle.restaged import staged_already
from prov_common.bundle.staged import unverified_event
from prov_common.bundle.transport import staged_event_key
from prov_common.canonical_json import canonical_bytes
from prov_common.config import Settings
from prov_common.errors import StoreUnavailableError
from prov_common.signing import signing_key_from_settings
from prov_common.store import open_store
from prov_common.store.local import LocalStore
from prov_common.store.outbox import CLAIM, Outbox
from prov_common.store.spool import read_keys
from prov_dagster import ProvenanceIOManager, ProvenanceResource, close_failed_run, provenance_failure_sensor
from prov_dagster.sensors import close_left_runs
from prov_dagster.model import DatasetRecord, StepIdentity
from prov_dagster.naming import step_run_id
import prov_dagster.recorder as recorder_module
from prov_dagster.recorder import AFTER_RUN, CLOSING_TAG, Recorder, StepRun, leave_run

from dagster_support import delivered

TESTS = Path(__file__).resolve().parent



@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A local store the step processes find through the environment (their own signing key made once, here)."""
    path = str(tmp_path / "store")
    monkeypatch.setenv("TDPROV_STORE", path)
    monkeypatch.delenv("TDPROV_TEST_CRASH", raising=False)
    signing_key_from_settings()
    return path


def bundles(store: str) -> dict[str, Any]:
    """OpenLineage run id -> the index summary of its bundle."""
    delivered(store)
    return {s.run_id: s for s in list_bundles(open_store(store))}


def written(store: str, summary: Any) -> list[tuple[str, str | None]]:
    return [(asset_of(store, o.name), o.version) for o in summary.outputs]


def digest_of(instance: DagsterInstance, key: str) -> str:
    """The digest Dagster shows for the latest materialization of asset ``key``."""
    [record] = instance.fetch_materializations(AssetKey(key), limit=1).records
    return record.asset_materialization.metadata["tdprov/digest"].value


def check_events(store: str, ol_run_id: str, ol_validator: Any) -> list[str]:
    """The event types of a bundle, each event checked against the OpenLineage spec and tdprov's facet schemas."""
    delivered(store)
    events = parse_events_jsonl(read_bundle(open_store(store), ol_run_id).files["events.jsonl"])
    for event in events:
        ol_validator.validate_event(event, custom_schemas=True)
    return [e["eventType"] for e in events]


def _run_killed_in_pair(home: str, crash: str, namespace: str, launched: bool = False,
                        env_var: str | None = None) -> None:
    """The body of a killed run's process: raw and pair materialized into the Dagster home ``home``."""
    os.environ.update(TDPROV_TEST_CRASH=crash, TDPROV_TEST_NAMESPACE=namespace)
    if env_var is not None:
        os.environ[env_var] = namespace
    steps.NAMESPACE = namespace  # as dagster_steps_defs reads it at its import in a process of its own
    with DagsterInstance.from_config(home) as instance:
        if launched:  # the namespace given in the run's config
            materialize([steps.raw, steps.pair], instance=instance,
                        resources={"io_manager": ProvenanceIOManager.configure_at_launch()},
                        run_config={"resources": {"io_manager": {"config": {"namespace": namespace}}}})
        else:
            materialize([steps.raw, steps.pair], instance=instance, resources={"io_manager": ProvenanceIOManager(
                namespace=namespace if env_var is None else EnvVar(env_var))})


def killed_run(tmp_path: Path, crash: str, namespace: str = "default", launched: bool = False,
               env_var: str | None = None) -> str:
    """The Dagster home of a run of raw and pair, with a ProvenanceIOManager of ``namespace`` (``launched``: given at
    launch, in the run's config; ``env_var``: an ``EnvVar`` of that name, set to ``namespace`` in the run's process
    only), whose process was killed in pair (``TDPROV_TEST_CRASH``, see dagster_steps_defs).
    The process is forked from this one, as store_support forks a killed flusher: it starts with Dagster, pandas and
    tdprov imported (a new interpreter spent some 2.5 s of CPU importing them) and with no recorder on the test's
    store, which is new."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    process = multiprocessing.get_context("fork").Process(target=_run_killed_in_pair,
                                                          args=(str(home), crash, namespace, launched, env_var))
    process.start()
    process.join(300)
    hung = process.is_alive()
    if hung:  # ended, not left behind: a SIGKILL of ours, which must not pass for the death in pair
        process.kill()
        process.join()
    assert not hung, "the killed run's process did not end within 300 s"
    assert process.exitcode == -signal.SIGKILL  # the run's process died in pair (what it said: in the test's output)
    return str(home)


# -- an output written before the step's process died is in the bundle sealed by another process ----------
def test_the_failure_sensor_in_another_process_seals_the_output_a_killed_step_wrote(
    store: str, tmp_path: Path, ol_validator: Any
) -> None:
    with DagsterInstance.from_config(killed_run(tmp_path, "kill")) as instance:  # died after pair's first output
        [run] = instance.get_runs()
        first = digest_of(instance, "first")  # Dagster shows first as materialized
        [bundle] = close_failed_run(instance, run, ProvenanceResource(store=store), "the Dagster run failed")
        pair = bundles(store)[step_run_id(run.run_id, "pair")]
        assert bundle.rstrip("/").endswith(pair.run_id)
        assert pair.state == "FAIL" and [asset_of(store, i.name) for i in pair.inputs] == ["raw"]
        assert written(store, pair) == [("first", first)]
        events = check_events(store, pair.run_id, ol_validator)
        assert events == ["START", "RUNNING", "FAIL"]  # RUNNING: staged with first; one START, the step's own

        # a later run reads first: its input is the version the failed run generated, not an untraced one
        assert materialize([steps.raw, steps.pair, steps.uses_first], selection=["uses_first"], instance=instance,
                           resources={"io_manager": ProvenanceIOManager(store=store)}).success
    [reader] = [s for s in bundles(store).values() if s.job_name == "uses_first"]
    assert [(asset_of(store, i.name), i.version) for i in reader.inputs] == [("first", first)]
    audit = run_audit(open_store(store), Settings.from_env(store=store), progress=False)
    assert audit.check("completeness").status == "pass", [f.what for f in audit.errors]


def test_the_failure_sensor_lists_and_reads_a_killed_steps_staged_events_once_before_its_seal(
    store: str, tmp_path: Path, ol_validator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Closing a killed step listed its staging three times before the seal listed it again: to find it staged, to
    name its job (the run's execution plan cannot be read) and to look for a staged end. One listing serves all three;
    the bundle is as before, named by the job its staged events name. Each staged event is read once too (the job's
    name, the staged end and the seal read them up to three times); the seal checks what was read as it checks any
    staged event: an unsigned event planted in the staging is refused, kept under refused/."""
    with DagsterInstance.from_config(killed_run(tmp_path, "kill")) as instance:  # died after pair's first output
        [run] = instance.get_runs()
        prefix = f"staging/{step_run_id(run.run_id, 'pair')}/"
        start = unverified_event(open_store(store).get(min(open_store(store).list(prefix))))
        planted = {**start, "eventType": "RUNNING"}  # the step's START as RUNNING, signed by no one
        open_store(store).put(staged_event_key(planted), canonical_bytes(planted))

        def unreadable(snapshot_id: str) -> None:
            raise OSError(f"execution plan snapshot {snapshot_id} cannot be read: the run storage is down")
        monkeypatch.setattr(instance, "get_execution_plan_snapshot", unreadable)
        provenance = ProvenanceResource(store=store)
        counting = recorder_module.recorder_for(provenance).transport()._store = CountingStore(store)
        [bundle] = close_failed_run(instance, run, provenance, "the Dagster run failed")
    pair = bundles(store)[step_run_id(run.run_id, "pair")]
    assert bundle.rstrip("/").endswith(pair.run_id) and pair.state == "FAIL" and pair.job_name == "asset:first"
    assert check_events(store, pair.run_id, ol_validator) == ["START", "RUNNING", "FAIL"]
    assert counting.lists[f"staging/{pair.run_id}/"] == 2  # one listing to close it, one by the seal
    reads = {key: n for key, n in counting.gets.items() if key.startswith(prefix)}
    assert len(reads) == 3 and set(reads.values()) == {1}, reads  # START, RUNNING, the planted one (the FAIL: its own)
    refused = [json.loads(data) for path, data in read_bundle(open_store(store), pair.run_id).files.items()
               if path.startswith("refused/")]
    assert [(r["stagedAs"], r["cause"]) for r in refused] == [(staged_event_key(planted), "signature")]


def test_the_failure_sensor_seals_a_killed_step_in_the_namespace_it_recorded_in(
    store: str, tmp_path: Path, ol_validator: Any
) -> None:
    """A step whose IO manager records in namespace team_a, killed after its first output, closed by the sensor's
    ProvenanceResource of the default namespace: its team_a run (START, first) is sealed, and no run of the default
    namespace's job is made up (the sensor sealed a START and a FAIL there: a run of a job the step never ran as)."""
    with DagsterInstance.from_config(killed_run(tmp_path, "kill", "team_a")) as instance:
        [run] = instance.get_runs()
        first = digest_of(instance, "first")
        sealed = close_failed_run(instance, run, ProvenanceResource(store=store), "the Dagster run failed")
        assert close_failed_run(instance, run, ProvenanceResource(store=store), "the Dagster run failed") == []
    team_a, default = step_run_id(run.run_id, "pair", namespace="dagster://team_a"), step_run_id(run.run_id, "pair")
    found = bundles(store)
    pair = found[team_a]
    assert pair.job_namespace == "dagster://team_a" and pair.state == "FAIL"
    assert [asset_of(store, i.name) for i in pair.inputs] == ["raw"] and written(store, pair) == [("first", first)]
    assert check_events(store, team_a, ol_validator) == ["START", "RUNNING", "FAIL"]
    assert default not in found and [b.rstrip("/").rsplit("/", 1)[-1] for b in sealed] == [team_a]
    assert {s.job_namespace for s in found.values()} == {"dagster://team_a"}
    no_unfinished_run(store)


def test_the_failure_sensor_seals_a_step_killed_after_a_read_in_its_code_locations_namespace(
    store: str, tmp_path: Path, ol_validator: Any
) -> None:
    """A step killed after it loaded its input through an IO manager of namespace team_a staged only its team_a
    START, which no output's metadata names: the failure sensor finds team_a among the provenance resources of its
    code location and seals that run with what the step read; it left the run staged, in no bundle."""
    team_a_defs = Definitions(resources={"io_manager": ProvenanceIOManager(store=store, namespace="team_a"),
                                         "provenance": ProvenanceResource(store=store)})
    with DagsterInstance.from_config(killed_run(tmp_path, "kill-at-once", "team_a")) as instance:
        [run] = instance.get_runs()
        [started] = instance.all_logs(run.run_id, of_type=DagsterEventType.RUN_START)
        with build_run_status_sensor_context(
                sensor_name="provenance_failure_sensor", dagster_event=started.dagster_event, dagster_instance=instance,
                dagster_run=run, resources={"provenance": ProvenanceResource(store=store)},
                repository_def=team_a_defs.get_repository_def()) as context:
            provenance_failure_sensor(context)
    team_a = step_run_id(run.run_id, "pair", namespace="dagster://team_a")
    pair = bundles(store)[team_a]
    assert pair.state == "FAIL" and [asset_of(store, i.name) for i in pair.inputs] == ["raw"] and not pair.outputs
    assert check_events(store, team_a, ol_validator) == ["START", "FAIL"]
    no_unfinished_run(store)


def test_the_failure_sensor_seals_a_step_killed_after_a_read_in_the_namespace_its_run_was_launched_with(
    store: str, tmp_path: Path, ol_validator: Any
) -> None:
    """A step killed after it loaded its input through an IO manager configured at launch (run config: namespace
    team_a) staged only its team_a START: the failure sensor read its code location's namespaces as configured in
    code (the default), left that run staged and made up a START and a FAIL of its default namespace's job, a run the
    step never ran as. It reads the run's config as the steps did, and seals the team_a run with what the step read."""
    team_a_defs = Definitions(resources={"io_manager": ProvenanceIOManager.configure_at_launch(),
                                         "provenance": ProvenanceResource(store=store)})
    with DagsterInstance.from_config(killed_run(tmp_path, "kill-at-once", "team_a", launched=True)) as instance:
        [run] = instance.get_runs()
        [started] = instance.all_logs(run.run_id, of_type=DagsterEventType.RUN_START)
        with build_run_status_sensor_context(
                sensor_name="provenance_failure_sensor", dagster_event=started.dagster_event, dagster_instance=instance,
                dagster_run=run, resources={"provenance": ProvenanceResource(store=store)},
                repository_def=team_a_defs.get_repository_def()) as context:
            provenance_failure_sensor(context)
    team_a = step_run_id(run.run_id, "pair", namespace="dagster://team_a")
    found = bundles(store)
    assert step_run_id(run.run_id, "pair") not in found, sorted(found)
    pair = found[team_a]
    assert pair.state == "FAIL" and [asset_of(store, i.name) for i in pair.inputs] == ["raw"] and not pair.outputs
    assert check_events(store, team_a, ol_validator) == ["START", "FAIL"]
    no_unfinished_run(store)

def test_the_failure_sensor_leaves_a_run_whose_namespace_variable_is_unset_here_and_closes_it_where_it_is_set(
    store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, ol_validator: Any
) -> None:
    """A step killed after it loaded its input through an IO manager whose namespace is EnvVar("TDPROV_TEST_TEAM")
    (team_a in the run's process) staged only its team_a START. A failure sensor whose process has no such variable
    left that namespace out: it left the team_a run staged and made up a START and a FAIL of the default namespace's
    job, one step in two jobs. It now seals nothing, warns naming the variable, and tags the run left; the store
    sensor of a process where the variable is set seals the team_a run with what the step read."""
    monkeypatch.delenv("TDPROV_TEST_TEAM", raising=False)
    team_defs = Definitions(resources={"io_manager": ProvenanceIOManager(store=store, namespace=EnvVar("TDPROV_TEST_TEAM")),
                                       "provenance": ProvenanceResource(store=store)})
    repository = team_defs.get_repository_def()
    with DagsterInstance.from_config(killed_run(tmp_path, "kill-at-once", "team_a", env_var="TDPROV_TEST_TEAM")) as instance:
        [run] = instance.get_runs()
        [started] = instance.all_logs(run.run_id, of_type=DagsterEventType.RUN_START)
        with caplog.at_level(logging.WARNING), build_run_status_sensor_context(
                sensor_name="provenance_failure_sensor", dagster_event=started.dagster_event, dagster_instance=instance,
                dagster_run=run, resources={"provenance": ProvenanceResource(store=store)},
                repository_def=repository) as context:
            provenance_failure_sensor(context)
        team_a, default = step_run_id(run.run_id, "pair", namespace="dagster://team_a"), step_run_id(run.run_id, "pair")
        assert [(s.job_namespace, s.job_name) for s in bundles(store).values()] == [("dagster://team_a", "raw")]
        assert instance.get_run_by_id(run.run_id).tags[CLOSING_TAG] == "left"
        [warning] = [r.getMessage() for r in caplog.records if "could not close Dagster run" in r.getMessage()]
        assert "TDPROV_TEST_TEAM" in warning and "namespace" in warning, warning
        assert close_left_runs(instance, ProvenanceResource(store=store), repository_def=repository) == 0  # unset still
        assert instance.get_run_by_id(run.run_id).tags[CLOSING_TAG] == "left" and len(bundles(store)) == 1

        monkeypatch.setenv("TDPROV_TEST_TEAM", "team_a")  # a process that has it: the store sensor closes the run
        assert close_left_runs(instance, ProvenanceResource(store=store), repository_def=repository) == 1
        assert instance.get_run_by_id(run.run_id).tags[CLOSING_TAG] == "closed"
    found = bundles(store)
    assert default not in found and {s.job_namespace for s in found.values()} == {"dagster://team_a"}
    pair = found[team_a]
    assert pair.state == "FAIL" and [asset_of(store, i.name) for i in pair.inputs] == ["raw"] and not pair.outputs
    assert check_events(store, team_a, ol_validator) == ["START", "FAIL"]
    no_unfinished_run(store)


def test_close_failed_run_takes_one_namespace_given_as_a_string(store: str, tmp_path: Path, ol_validator: Any) -> None:
    """namespaces="team_a" names one namespace: it was taken as the namespaces t, e, a, m, _ and a (a string is an
    iterable of strings), and the step's team_a run, a START naming what it read, was left staged."""
    with DagsterInstance.from_config(killed_run(tmp_path, "kill-at-once", "team_a")) as instance:
        [run] = instance.get_runs()
        close_failed_run(instance, run, ProvenanceResource(store=store), "the Dagster run failed", namespaces="team_a")
    team_a = step_run_id(run.run_id, "pair", namespace="dagster://team_a")
    pair = bundles(store).get(team_a)
    assert pair is not None and pair.state == "FAIL" and [asset_of(store, i.name) for i in pair.inputs] == ["raw"]
    assert check_events(store, team_a, ol_validator) == ["START", "FAIL"]
    no_unfinished_run(store)


def test_a_retry_in_another_process_seals_the_output_the_failed_attempt_wrote(
    store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ol_validator: Any
) -> None:
    monkeypatch.setenv("TDPROV_TEST_CRASH", "retry")
    monkeypatch.chdir(TESTS)  # step processes import dagster_steps_defs from the working directory
    (tmp_path / "dagster_home").mkdir()
    with DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        steps.materialize_raw(instance, ProvenanceIOManager())
        result = execute_job(reconstructable(steps.get_pair_job), instance=instance)
        assert result.success
        pids = {e.pid for e in result.all_events if e.event_type_value in ("STEP_START", "STEP_RESTARTED") and e.step_key == "pair"}
        assert len(pids) == 2  # each attempt in a process of its own
        first = digest_of(instance, "first")
        [pair_stats] = instance.get_run_step_stats(result.run_id, step_keys=["pair"])
    found = bundles(store)
    failed, retried = found[step_run_id(result.run_id, "pair")], found[step_run_id(result.run_id, "pair", 1)]
    assert (failed.state, retried.state) == ("FAIL", "COMPLETE")
    assert written(store, failed) == [("first", first)]
    assert [(key, version) for key, version in written(store, retried) if key == "first"] == [("first", first)]
    assert sorted(key for key, _ in written(store, retried)) == ["first", "second"]
    assert check_events(store, failed.run_id, ol_validator) == ["START", "RUNNING", "FAIL"]
    for run, attempt in ((failed, 0), (retried, 1)):  # each attempt's run starts when Dagster started the attempt
        delivered(store)
        start = parse_events_jsonl(read_bundle(open_store(store), run.run_id).files["events.jsonl"])[0]["eventTime"]
        started = datetime.fromtimestamp(pair_stats.attempts_list[attempt].start_time, UTC)
        assert abs(datetime.fromisoformat(start) - started) <= timedelta(milliseconds=1), (attempt, start, started)


def _retried_twice(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> tuple[Any, str]:
    """Run the job of ``retried_twice`` (set up by :func:`_retried_on_a_faulty_store`) to its success, ``raw`` sealed
    before in this process: its result and its step processes' stderr."""
    with DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        steps.materialize_raw(instance)
        delivered(os.environ["TDPROV_STORE"])  # raw's bundle is the first written
        result = execute_job(reconstructable(steps.get_retried_twice_job), instance=instance)
    err = capfd.readouterr().err  # the step processes' stderr
    assert result.success, err[-3000:]
    return result, err


def listing_after_a_close_fails(failed: list[str]) -> Callable[[str, str], Any]:
    """A :class:`FaultProxy` rule: 503 to the first listing of a run's staged objects that follows an object staged for
    it after it was listed (a closer of a run another process started lists it, stages its end, and lists it again to
    seal it), once; the prefix it failed is appended to ``failed``."""
    listed: set[str] = set()
    staged_since: set[str] = set()

    def rule(method: str, path: str) -> Any:
        parts, query = urlsplit(path), parse_qs(urlsplit(path).query)
        names = parts.path.split("/")  # "", bucket, store prefix, "staging", run, object
        if method == "PUT" and "staging" in names[2:]:
            staged_since.add("/".join(names[2:names.index("staging", 2) + 2]) + "/")
        prefix = query.get("prefix", [""])[0]
        if failed or method != "GET" or query.get("list-type") != ["2"] or "/staging/" not in prefix:
            return None
        if prefix in listed and prefix in staged_since:
            failed.append(prefix)
            return ("status", 503, "SlowDown")
        listed.add(prefix)
        staged_since.discard(prefix)
        return None

    return rule


def _retried_on_a_faulty_store(s3_server: Any, fault_proxy: FaultProxy, fault: Any, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    """Set up a job with retried steps on a new S3 store behind ``fault_proxy`` answering with ``fault`` (its spool, data
    and Dagster home under ``tmp_path``, ``env`` added, the signing key made before any step process makes its own);
    the store's URI."""
    store = f"s3://{s3_server.create_bucket()}/store"
    for name, value in {"TDPROV_STORE": store, "TDPROV_SPOOL": str(tmp_path / "spool"),
                        "PAIR_DATA_ROOT": str(tmp_path / "data"), **env}.items():
        monkeypatch.setenv(name, value)
    signing_key_from_settings()
    fault_proxy.fault = fault
    monkeypatch.chdir(TESTS)  # step processes import dagster_steps_defs from the working directory
    (tmp_path / "dagster_home").mkdir()
    return store


def test_a_retry_seals_an_earlier_attempts_fail_that_a_retry_before_it_staged_and_could_not_seal(
    s3_server: Any, fault_proxy: FaultProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Attempts 0 and 1 of ``retried_twice`` fail, each in a process of its own. Attempt 1's process closes attempt 0
    with a FAIL, and the store does not answer the listing of the seal that follows (a 503), so that FAIL is staged and
    not sealed.
    Attempt 2's process seals attempt 0 with it: it added a second FAIL, stamped then (START, FAIL, FAIL)."""
    failed: list[str] = []
    store = _retried_on_a_faulty_store(s3_server, fault_proxy, listing_after_a_close_fails(failed), tmp_path, monkeypatch)
    result, err = _retried_twice(tmp_path, capfd)
    first, second = (step_run_id(result.run_id, "retried_twice", attempt) for attempt in (0, 1))
    assert failed == [f"store/staging/{first}/"]
    assert f"run {first} is not sealed: its staged events cannot be read (cannot list 'staging/{first}/'" in err
    delivered(store)
    events = parse_events_jsonl(read_bundle(open_store(store), first).files["events.jsonl"])
    assert [e["eventType"] for e in events] == ["START", "FAIL"]  # the FAIL attempt 1 staged, not one of attempt 2
    assert ("step retried_twice attempt 0 failed; Dagster retried it as attempt 1"
            in events[1]["run"]["facets"]["errorMessage"]["message"])
    found = bundles(store)
    assert [found[run].state for run in (first, second, step_run_id(result.run_id, "retried_twice", 2))] == [
        "FAIL", "FAIL", "COMPLETE"]


def second_bundle_refused(refused: list[str]) -> Callable[[str, str], Any]:
    """A :class:`FaultProxy` rule: 503 to every PUT of the second bundle folder written (the first is ``raw``'s); its run
    id is appended to ``refused`` once."""
    def rule(method: str, path: str) -> Any:
        names = urlsplit(path).path.split("/")  # "", bucket, store prefix, "bundles", run, file
        if method != "PUT" or "bundles" not in names[2:]:
            return None
        run = names[names.index("bundles", 2) + 1]
        seen.setdefault(run, None)
        if list(seen).index(run) != 1:
            return None
        refused[:] = [run]
        return ("status", 503, "SlowDown")

    seen: dict[str, None] = {}
    return rule


def test_a_retry_leaves_an_earlier_attempt_whose_bundle_waits_in_the_spool_to_its_delivery(
    s3_server: Any, fault_proxy: FaultProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Attempts 0 and 1 of ``retried_twice`` fail, each in a process of its own. Attempt 1's process seals attempt 0
    with a FAIL, and the store refuses the bundle's objects, so the bundle waits whole in the spool of this machine.
    Attempt 2's process asked the store alone whether attempt 0 was sealed, sealed it again and spooled that second
    bundle behind the first: the flush delivered the first and set the second aside as a conflict. It sees the bundle in
    the spool and leaves the attempt to its delivery: one bundle of attempt 0, one START and one FAIL."""
    spool = tmp_path / "spool"
    refused: list[str] = []
    store = _retried_on_a_faulty_store(s3_server, fault_proxy, second_bundle_refused(refused), tmp_path, monkeypatch)
    result, err = _retried_twice(tmp_path, capfd)
    first, second, third = (step_run_id(result.run_id, "retried_twice", attempt) for attempt in (0, 1, 2))
    assert refused == [first] and first not in bundles(store)
    bundle_entries = [p for p in Outbox(spool).pending() if any(k.startswith(f"bundles/{first}/")
                                                                for k in read_keys(p))]
    assert len(bundle_entries) == 1  # attempt 1's, and no second one
    fault_proxy.fault = None
    report = Outbox(spool, arrival=put_arrived, same=staged_already).flush()
    assert report.ok and report.failed == 0, report.set_aside
    assert not (spool / "failed").exists()
    delivered(store)
    events = parse_events_jsonl(read_bundle(open_store(store), first).files["events.jsonl"])
    assert [e["eventType"] for e in events] == ["START", "FAIL"]
    assert ("step retried_twice attempt 0 failed; Dagster retried it as attempt 1"
            in events[1]["run"]["facets"]["errorMessage"]["message"])
    assert len(list(open_store(store).list(f"staging/{first}/"))) == 2  # no FAIL staged after its seal
    found = bundles(store)
    assert [found[run].state for run in (first, second, third)] == ["FAIL", "FAIL", "COMPLETE"]


def test_a_retry_whose_close_of_its_failed_attempt_was_not_sealed_leaves_the_run_to_the_store_sensor(
    s3_server: Any, fault_proxy: FaultProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Attempt 0 of ``pair`` fails after its first output; its retry, in a process of its own, closes it with a FAIL,
    and the store does not answer the listing of the seal that follows (a 503), then succeeds. The retry tags the
    Dagster run, and the store sensor's tick seals attempt 0 with what it staged and that FAIL: it stayed staged, in no
    bundle, and nothing said a sensor should close it."""
    from test_dagster_sensor_outage import store_tick

    failed: list[str] = []
    store = _retried_on_a_faulty_store(s3_server, fault_proxy, listing_after_a_close_fails(failed), tmp_path, monkeypatch,
                                       TDPROV_TEST_CRASH="retry")
    with DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        steps.materialize_raw(instance)
        result = execute_job(reconstructable(steps.get_pair_job_with_local_data), instance=instance)
        err = capfd.readouterr().err  # the step processes' stderr
        assert result.success, err[-3000:]
        first = step_run_id(result.run_id, "pair")
        assert failed == [f"store/staging/{first}/"] and first not in bundles(store)
        assert instance.get_run_by_id(result.run_id).tags.get("tdprov/closing") == "after-run"
        fault_proxy.fault = None
        store_tick(instance, store)
        assert instance.get_run_by_id(result.run_id).tags["tdprov/closing"] == "closed"
    delivered(store)
    events = parse_events_jsonl(read_bundle(open_store(store), first).files["events.jsonl"])
    assert [e["eventType"] for e in events] == ["START", "RUNNING", "FAIL"]
    assert "step pair attempt 0 failed; Dagster retried it as attempt 1" in events[-1]["run"]["facets"]["errorMessage"]["message"]


def test_an_attempt_that_recorded_nowhere_is_one_start_and_one_fail_when_its_retry_and_the_sensor_both_close_it(
    store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ol_validator: Any
) -> None:
    """Attempt 0 of ``flaky`` fails before it loads or writes anything; its retry, in a process of its own, writes and
    fails too. The retry's process makes attempt 0's run up (a START and a FAIL); the failure sensor, in another
    process again, closes the failed run's steps: attempt 0's bundle holds one START and one FAIL, and nothing of it is
    left staged or refused."""
    monkeypatch.chdir(TESTS)  # step processes import dagster_steps_defs from the working directory
    (tmp_path / "dagster_home").mkdir()
    with DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        result = execute_job(reconstructable(steps.get_flaky_job), instance=instance, raise_on_error=False)
        assert not result.success
        pids = {e.pid for e in result.all_events if e.event_type_value in ("STEP_START", "STEP_RESTARTED")}
        assert len(pids) == 2  # each attempt in a process of its own
        provenance_failure_sensor(build_run_status_sensor_context(
            sensor_name="provenance_failure_sensor", dagster_event=result.get_run_failure_event(), dagster_instance=instance,
            dagster_run=result.dagster_run, resources={"provenance": ProvenanceResource()}))
    found = bundles(store)
    first, retried = step_run_id(result.run_id, "flaky"), step_run_id(result.run_id, "flaky", 1)
    assert (found[first].state, found[retried].state) == ("FAIL", "FAIL")
    assert check_events(store, first, ol_validator) == ["START", "FAIL"]
    assert check_events(store, retried, ol_validator)[0] == "START" and check_events(store, retried, ol_validator)[-1] == "FAIL"
    assert not list(Path(store).rglob("refused"))
    no_unfinished_run(store)


def _attempt_failed_in_an_outage(down: Any, tmp_path: Path) -> tuple[str, Settings, StepIdentity, Any]:
    """(store URI, settings, attempt, its step) of an attempt of step ``pair`` that read ``raw`` and failed while the
    store was down (its START waits in the spool); the store is back."""
    store_uri, restore = down
    settings = Settings(store=store_uri, spool=str(tmp_path / "spool"))
    attempt = StepIdentity(str(uuid.uuid4()), "pair_job", "pair")
    failed = Recorder(settings, "dagster://default").step(attempt)  # the failed attempt's process
    failed.input(DatasetRecord(name="raw", digest=None))
    failed.recorder.wait()
    restore()
    return store_uri, settings, attempt, failed


def _sealed_with_its_start(store_uri: str, run_id: str) -> list[dict[str, Any]]:
    """The events of run ``run_id``'s bundle, checked to be the attempt's START (naming ``raw``) and a FAIL."""
    delivered(store_uri)
    events = parse_events_jsonl(read_bundle(open_store(store_uri), run_id).files["events.jsonl"])
    assert [e["eventType"] for e in events] == ["START", "FAIL"]
    assert [i["name"] for i in events[0]["inputs"]] == ["raw"]
    return events


def test_a_retry_seals_the_failed_attempt_with_the_start_it_spooled(outage: Any, tmp_path: Path) -> None:
    """The failed attempt ran while the store was down, so its START (naming what it loaded) waits in the spool; the
    retry's process, with the store back, seals it with that START: it emitted a START of its own too, as if the
    attempt had recorded nothing, and the bundle held two (the failure sensor asks the same question)."""
    store_uri, settings, attempt, failed = _attempt_failed_in_an_outage(outage, tmp_path)
    retry = Recorder(settings, "dagster://default")  # the retry's process
    retry.step(replace(attempt, attempt=1))
    retry.wait()
    events = _sealed_with_its_start(store_uri, failed.ol_run_id)
    assert "attempt 0 failed; Dagster retried it as attempt 1" in events[1]["run"]["facets"]["errorMessage"]["message"]


def test_a_retry_sees_the_start_a_killed_flusher_left_claimed(outage: Any, tmp_path: Path) -> None:
    """The failed attempt's START waits in the spool, claimed by a flush that was killed before it put it: the retry's
    process asked the spool for waiting entries only, not claimed ones, so it emitted a START of its own and the
    bundle held two (the claim, given back by the retry's first delivery, was delivered too)."""
    store_uri, settings, attempt, failed = _attempt_failed_in_an_outage(outage, tmp_path)
    assert flush_killed(tmp_path / "spool", store_uri, lambda step: step.startswith("put ")) == -9
    assert [p.name.partition(CLAIM)[1] for p in (tmp_path / "spool").iterdir()] == [CLAIM]  # its START, claimed
    retry = Recorder(settings, "dagster://default")  # the retry's process
    retry.step(replace(attempt, attempt=1))
    retry.wait()
    _sealed_with_its_start(store_uri, failed.ol_run_id)
    assert list((tmp_path / "spool").iterdir()) == []


def test_a_step_process_names_what_it_staged_after_another_process_closed_its_run(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A step's process staged its START; another process (a sensor, 'tdprov store seal') sealed the run while the step
    went on; the output it then recorded was staged from memory, in no bundle, and the process never ends the run: the
    recorder's wait (the IO manager's teardown) names it, where the process said nothing (only the audit named it)."""
    import logging

    from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport

    store = str(tmp_path / "store")
    recorder = Recorder(Settings(store=store, spool=str(tmp_path / "spool")), "dagster://default")
    run = recorder.step(StepIdentity(str(uuid.uuid4()), "pair_job", "pair"))
    run.input(DatasetRecord(name="raw", digest=None))
    recorder.wait()
    assert ProvenanceTransport(ProvenanceConfig(store=store)).seal(run.ol_run_id).status == "written"
    run.output(DatasetRecord(name="pair", digest=None), expected=None)  # a RUNNING, staged from memory
    with caplog.at_level(logging.WARNING, logger="prov_common"):
        recorder.wait()
    [warned] = [r.getMessage() for r in caplog.records]
    assert warned.startswith(f"tdprov: run {run.ol_run_id} was sealed by another process after this one staged its "
                             "START: its RUNNING event timed "), warned
    assert "came after the sealing and is in no bundle ('tdprov audit' names it)" in warned, warned
    key = warned.partition("(staged as ")[2].partition(")")[0]
    events = read_bundle(open_store(store), run.ol_run_id).files["events.jsonl"]
    assert open_store(store).exists(key) and len(parse_events_jsonl(events)) == 1, (key, events)  # (its START alone)


class ListingFails(LocalStore):
    """A local store that does not answer listings (an outage that began after a closer staged an event)."""

    def list_info(self, prefix: str = "", **options: Any) -> Any:
        raise StoreUnavailableError(f"cannot list {prefix!r} in store {self.uri}: injected outage.")


def test_a_retry_reads_each_staged_event_once_to_seal_an_attempt_with_its_staged_end(tmp_path: Path) -> None:
    """Attempt 0 read ``raw`` and failed; a closer in another process staged its FAIL and could not list what it
    staged to seal it. The retry seals it with that FAIL, and reads each staged event once: it read every one to find
    the staged end, then each again to seal."""
    store = str(tmp_path / "store")
    settings = Settings(store=store, spool=str(tmp_path / "spool"))
    attempt = StepIdentity(str(uuid.uuid4()), "pair_job", "pair")
    failed = Recorder(settings, "dagster://default").step(attempt)  # the failed attempt's process
    failed.input(DatasetRecord(name="raw", digest=None))
    failed.recorder.wait()
    closer = Recorder(settings, "dagster://default")  # a closer in another process, whose store then stopped answering
    closer.transport()._store = ListingFails(store)
    StepRun(closer, attempt, started=True).fail(error="closed by the first closer")
    closer.wait()
    assert closer.unsealed(failed.ol_run_id)
    staged = sorted(open_store(store).list(f"staging/{failed.ol_run_id}/"))
    assert len(staged) == 2  # START, FAIL

    retry = Recorder(settings, "dagster://default")  # the retry's process
    counting = retry.transport()._store = CountingStore(store)
    retry.step(replace(attempt, attempt=1))
    retry.wait()
    delivered(store)
    events = parse_events_jsonl(read_bundle(open_store(store), failed.ol_run_id).files["events.jsonl"])
    assert [e["eventType"] for e in events] == ["START", "FAIL"]
    assert events[1]["run"]["facets"]["errorMessage"]["message"] == "closed by the first closer"
    assert {key: counting.gets[key] for key in staged} == dict.fromkeys(staged, 1)


def test_a_recorder_keeps_the_staged_events_it_read_for_seals_within_a_byte_bound_newest_first(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three attempts whose staged START (over 500 KB each) a closer read to find their job, the kept reads bounded
    at the two newest's bytes: the oldest read is let go (kept by count, 4,096 runs of up to 64 MiB each could stay),
    so its seal reads its START again, and the two newest are sealed from what was read."""
    from bundle_support import dataset, event

    store, settings = str(tmp_path / "store"), Settings(store=str(tmp_path / "store"), spool=str(tmp_path / "spool"))
    staging = Recorder(settings, "dagster://default").transport()  # the attempts' process
    recorder = Recorder(settings, "dagster://default")  # a closer in another process
    counting = recorder.transport()._store = CountingStore(store)
    attempts = [StepIdentity(str(uuid.uuid4()), "pair_job", "pair") for _ in range(3)]
    inputs = [dataset("s3://lake", f"raw/{n:05d}/" + "x" * 80) for n in range(4000)]
    starts = [event(a.ol_run_id, "START", "2026-03-01T10:00:00.000Z", inputs=inputs, job="pair_job.pair") for a in attempts]
    for start in starts:
        staging.emit(start)
    keys = [staged_event_key(start) for start in starts]
    sizes = [len(open_store(store).get(key)) for key in keys]
    assert min(sizes) > 500_000
    monkeypatch.setattr(recorder_module, "READ_KEPT_BYTES", sizes[1] + sizes[2])  # the two newest reads
    assert [recorder.staged_job(attempt) for attempt in attempts] == ["pair_job.pair"] * 3
    for attempt in reversed(attempts):  # the newest first: each seal takes (and lets go of) its read
        StepRun(recorder, attempt, started=True).fail(error="closed")
    recorder.wait()
    assert [counting.gets[key] for key in keys] == [2, 1, 1]
    assert [s.state for s in list_bundles(open_store(store))] == ["FAIL"] * 3


def test_a_recorder_counts_each_staged_event_it_keeps_for_a_seal_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bytes of the staged events a recorder keeps for seals are a running total: each read is sized as it is
    added and as its run is let go (every kept run's reads were sized again at each add, O(runs x reads): 500 runs of
    two reads, 500,000 sizes); past the byte bound the oldest runs are let go, and a run taken for its seal is no
    longer counted."""
    sizes: list[int] = []

    class Sized(bytes):  # a staged event's bytes, each sizing of it counted
        def __len__(self) -> int:
            sizes.append(1)
            return super().__len__()

    recorder = Recorder(Settings(store=str(tmp_path / "store")), "dagster://default")
    runs = [str(uuid.uuid4()) for _ in range(500)]
    for run in runs:
        for n in range(2):
            recorder._keep_read(run, recorder._read_of(run), f"staging/{run}/{n}.json", Sized(b"x" * 10))
    assert len(sizes) <= 2 * 2 * len(runs)
    assert recorder._taken_read(runs[0]) == {f"staging/{runs[0]}/{n}.json": b"x" * 10 for n in range(2)}
    monkeypatch.setattr(recorder_module, "READ_KEPT_BYTES", 45)  # the newest two runs' reads, and half of a third
    newest = str(uuid.uuid4())
    recorder._keep_read(newest, recorder._read_of(newest), "staging/newest.json", b"y" * 20)
    assert list(recorder._read) == [runs[-1], newest]  # 40 bytes kept: the older runs let go, oldest first


def _retried(recorder: Recorder, attempt: StepIdentity, left: Callable[[], None]) -> None:
    """Start attempt 1 of ``attempt``'s step in ``recorder`` (closing ``attempt``; ``left`` tags its Dagster run) and wait
    until what that closing emitted is delivered, without :meth:`Recorder.wait`."""
    delivered = threading.Event()
    recorder.step(replace(attempt, attempt=1), left=left)
    recorder.after_delivery(delivered.set)
    assert delivered.wait(20)


def _failed_attempts(store: str, settings: Settings, count: int) -> list[StepIdentity]:
    """``count`` attempts of step ``pair``, in Dagster runs of their own, that read ``raw`` and failed (staged only)."""
    attempts = [StepIdentity(str(uuid.uuid4()), "pair_job", "pair") for _ in range(count)]
    failed = Recorder(settings, "dagster://default")  # the failed attempts' process
    for attempt in attempts:
        failed.step(attempt).input(DatasetRecord(name="raw", digest=None))
    failed.wait()
    return attempts


def test_a_retry_never_waited_on_lets_go_of_the_attempts_it_closed_and_sealed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A recorder kept each earlier attempt its retries closed, with what tags the attempt's Dagster run (holding the
    step's context), until :meth:`Recorder.wait`: one never waited on (a process whose IO manager is never torn down)
    kept one a retried attempt. One seen sealed is let go, and no more than ``CLOSED_KEPT`` are kept."""
    monkeypatch.setattr(recorder_module, "CLOSED_KEPT", 1)
    store = str(tmp_path / "store")
    settings = Settings(store=store, spool=str(tmp_path / "spool"))
    retry = Recorder(settings, "dagster://default")  # the retries' process

    class Tag:
        def __call__(self) -> None:
            raise AssertionError("a sealed attempt is not tagged")

    tags = []
    for attempt in _failed_attempts(store, settings, 3):
        tag = Tag()
        tags.append(weakref.ref(tag))
        _retried(retry, attempt, tag)
        del tag
    gc.collect()
    assert sum(tag() is not None for tag in tags) <= 1
    assert {s.state for s in bundles(store).values()} == {"FAIL"} and len(bundles(store)) == 3


def _closed_past_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, count: int) -> tuple[str, list[StepIdentity], Recorder]:
    """With ``CLOSED_KEPT`` 1: a store, ``count`` failed attempts of one step and the recorder of the retries' process,
    whose store then stops answering listings (so it cannot seal the attempts it closes)."""
    monkeypatch.setattr(recorder_module, "CLOSED_KEPT", 1)
    store = str(tmp_path / "store")
    settings = Settings(store=store, spool=str(tmp_path / "spool"))
    attempts = _failed_attempts(store, settings, count)
    retry = Recorder(settings, "dagster://default")
    retry.transport()._store = ListingFails(store)
    return store, attempts, retry


def test_a_retry_never_waited_on_tags_the_attempts_it_could_not_seal_past_its_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past ``CLOSED_KEPT`` attempts a retry closed and could not seal (the store stopped answering the seal's listing),
    the oldest one's Dagster run is tagged then, so that the store sensor closes it; the others when the recorder is
    waited on."""
    store, attempts, retry = _closed_past_one(tmp_path, monkeypatch, 3)
    tagged: list[str] = []
    for attempt in attempts:
        _retried(retry, attempt, partial(tagged.append, attempt.ol_run_id))
    assert tagged == [attempt.ol_run_id for attempt in attempts[:2]]
    retry.wait()
    assert tagged == [attempt.ol_run_id for attempt in attempts]
    assert bundles(store) == {}


def test_wait_returns_once_the_dagster_run_of_an_attempt_past_its_bound_is_tagged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past ``CLOSED_KEPT`` attempts a retry closed and could not seal, the oldest one's Dagster run is tagged from the
    delivering thread (here in a real Dagster instance); :meth:`Recorder.wait` returned before that tag was written (an
    instance slow to answer), so a step process that ended then could end without it."""
    store, attempts, retry = _closed_past_one(tmp_path, monkeypatch, 2)

    def slowly(step_context: Any) -> None:
        time.sleep(0.5)  # an instance slow to answer
        leave_run(step_context)

    with DagsterInstance.ephemeral() as instance:
        runs = [instance.add_run(DagsterRun(job_name="pair_job", run_id=a.dagster_run_id)).run_id for a in attempts]
        contexts = [SimpleNamespace(instance=instance, run_id=run) for run in runs]  # what leave_run reads of a step's
        _retried(retry, attempts[0], partial(slowly, contexts[0]))
        retry.step(replace(attempts[1], attempt=1), left=partial(leave_run, contexts[1]))  # attempts[0] past the bound
        retry.wait()
        assert [instance.get_run_by_id(run).tags.get(CLOSING_TAG) for run in runs] == [AFTER_RUN, AFTER_RUN]
    assert bundles(store) == {}


def test_a_recorder_never_waited_on_lets_go_of_its_deliveries_and_wait_still_reports_the_failed_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A recorder kept each delivery it started in the background until :meth:`Recorder.wait`: one never waited on (a
    process whose IO manager is never torn down) kept one an event, and one whose deliveries all failed still kept each
    failed one. A delivery done is let go; of the failed ones ``wait`` reports how many, and the first and last error."""
    store = str(tmp_path / "store")
    recorder = Recorder(Settings(store=store, spool=str(tmp_path / "spool")), "dagster://default")

    def delivered() -> None:
        done = threading.Event()
        recorder.after_delivery(done.set)
        assert done.wait(20)

    for _ in range(5):
        recorder.step(StepIdentity(str(uuid.uuid4()), "pair_job", "pair")).input(DatasetRecord(name="raw", digest=None))
    delivered()
    assert recorder._pending == {}
    refusals = iter(range(1, 100))

    def refused(event: Any) -> None:
        raise RuntimeError(f"the store refused event {next(refusals)}")

    monkeypatch.setattr(recorder.transport(), "emit", refused)
    for _ in range(3):
        recorder.step(StepIdentity(str(uuid.uuid4()), "pair_job", "pair")).input(DatasetRecord(name="raw", digest=None))
    delivered()
    assert recorder._pending == {}
    with caplog.at_level("WARNING", logger=recorder_module.log.name):
        recorder.wait()
        recorder.step(StepIdentity(str(uuid.uuid4()), "pair_job", "pair")).input(DatasetRecord(name="raw", digest=None))
        recorder.wait()
        recorder.wait()
    assert [r.getMessage() for r in caplog.records] == [
        "tdprov: could not deliver 3 OpenLineage events: the first: the store refused event 1; the last: the store "
        "refused event 3",
        "tdprov: could not deliver an OpenLineage event: the store refused event 4"]
    assert recorder._pending == {}


def test_a_spool_folder_that_cannot_be_listed_stops_no_write_and_no_retry(tmp_path: Path) -> None:
    """The IO manager's metadata, and a retry closing the attempt before it, ask whether the spool holds records: a
    spool folder that cannot be listed (here a link to itself) raised OSError out of the write and the retry."""
    (tmp_path / "spool").symlink_to(tmp_path / "spool")
    store = str(tmp_path / "store")
    io_manager = ProvenanceIOManager(store=store, spool=str(tmp_path / "spool"))
    assert materialize([steps.raw], resources={"io_manager": io_manager}).success
    recorder = Recorder(Settings(store=store, spool=str(tmp_path / "spool")), "dagster://default")
    attempt = StepIdentity(str(uuid.uuid4()), "pair_job", "pair", 1)
    recorder.step(attempt)
    recorder.wait()
    assert bundles(store)[replace(attempt, attempt=0).ol_run_id].state == "FAIL"


# -- a step that hands no asset output to the IO manager is ended as Dagster recorded it --------------------
@asset
def orders() -> pd.DataFrame:
    return pd.DataFrame({"id": [1, 2, 3], "amount": [5.0, float(os.environ.get("TDPROV_TEST_AMOUNT", "1")), 7.0]})


@asset_check(asset=orders, blocking=True)
def no_negative_amounts(orders: pd.DataFrame) -> AssetCheckResult:
    return AssetCheckResult(passed=bool((orders.amount >= 0).all()))


@asset_check(asset=orders)
def amounts_below_100(orders: pd.DataFrame) -> AssetCheckResult:
    return AssetCheckResult(passed=bool((orders.amount < 100).all()))


@asset
def order_count(orders: pd.DataFrame) -> MaterializeResult:
    return MaterializeResult(metadata={"rows": len(orders)})


def unsealed(store: str) -> set[str]:
    """Run ids with events staged in the store and no sealed bundle."""
    staged = {key.split("/")[1] for key in open_store(store).list("staging/")}
    return staged - set(bundles(store))


def no_unfinished_run(store: str) -> None:
    """Nothing staged is left unsealed, even for an audit a week from now (staging older than a day is an error)."""
    assert unsealed(store) == set()
    later = datetime.now(UTC) + timedelta(days=7)
    audit = run_audit(open_store(store), Settings.from_env(store=store), progress=False, now=later)
    assert audit.check("unfinished").status == "pass", [f.what for f in audit.errors]


def test_an_asset_check_and_an_asset_without_an_io_manager_output_complete_with_what_they_read(
    store: str, monkeypatch: pytest.MonkeyPatch, ol_validator: Any
) -> None:
    with DagsterInstance.ephemeral() as instance:
        result = materialize([orders, no_negative_amounts, amounts_below_100, order_count], instance=instance,
                             resources={"io_manager": ProvenanceIOManager(store=store)})
        assert result.success and all(e.passed for e in result.get_asset_check_evaluations())
    by_step = {s.job_name: s for s in bundles(store).values()}
    assert set(by_step) == {"orders", "check:orders:no_negative_amounts", "check:orders:amounts_below_100", "order_count"}
    [(name, version)] = written(store, by_step["orders"])
    for step in ("check:orders:no_negative_amounts", "check:orders:amounts_below_100", "order_count"):
        summary = by_step[step]
        assert summary.state == "COMPLETE" and not summary.outputs
        assert [(asset_of(store, i.name), i.version) for i in summary.inputs] == [(name, version)]
        assert check_events(store, summary.run_id, ol_validator) == ["START", "COMPLETE"]
    no_unfinished_run(store)


def test_a_failed_blocking_check_fails_its_step_and_a_failed_non_blocking_check_completes(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TDPROV_TEST_AMOUNT", "-100")  # fails no_negative_amounts (blocking) and nothing else
    with DagsterInstance.ephemeral() as instance:
        result = materialize([orders, no_negative_amounts, amounts_below_100], instance=instance,
                             resources={"io_manager": ProvenanceIOManager(store=store)}, raise_on_error=False)
        assert not result.success  # Dagster fails the step of a blocking check that fails
        assert {e.check_name: e.passed for e in result.get_asset_check_evaluations()} == {
            "no_negative_amounts": False, "amounts_below_100": True}
    by_step = {s.job_name: s for s in bundles(store).values()}
    assert by_step["check:orders:no_negative_amounts"].state == "FAIL"
    assert by_step["check:orders:amounts_below_100"].state == "COMPLETE"
    assert [asset_of(store, i.name) for i in by_step["check:orders:no_negative_amounts"].inputs] == ["orders"]
    events = parse_events_jsonl(read_bundle(open_store(store), by_step["check:orders:no_negative_amounts"].run_id).files["events.jsonl"])
    assert "no_negative_amounts" in events[-1]["run"]["facets"]["errorMessage"]["message"]
    no_unfinished_run(store)


# the tests of checked_run run on one xdist worker (scripts/test: --dist loadgroup): its step processes start once
CHECKED_RUN_GROUP = pytest.mark.xdist_group("test_dagster_steps.checked_run")


@pytest.fixture(scope="module")
def checked_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Any, dict[str, tuple[datetime, datetime]]]:
    """``checked_job`` run once with a step process per step (the store, the run's result and the steps' times
    as Dagster recorded them), for the tests that read what it left."""
    root = tmp_path_factory.mktemp("checked")
    with pytest.MonkeyPatch.context() as patch:
        path = str(root / "store")
        patch.setenv("TDPROV_STORE", path)
        patch.delenv("TDPROV_TEST_CRASH", raising=False)
        patch.chdir(TESTS)  # step processes import dagster_steps_defs from the working directory
        signing_key_from_settings()
        (root / "dagster_home").mkdir()
        with DagsterInstance.from_config(str(root / "dagster_home")) as instance:
            result = execute_job(reconstructable(steps.get_checked_job), instance=instance)
            return path, result, dagster_times(instance, result.run_id) if result.success else {}


@CHECKED_RUN_GROUP
def test_steps_in_processes_of_their_own_end_when_their_process_does(checked_run: tuple[str, Any, Any]) -> None:
    store, result, _ = checked_run
    assert result.success and [e.passed for e in result.get_asset_check_evaluations()] == [True]
    by_step = {s.job_name: s for s in bundles(store).values()}
    assert {step: by_step[step].state for step in ("check:raw:raw_has_rows", "counted")} == {
        "check:raw:raw_has_rows": "COMPLETE", "counted": "COMPLETE"}
    assert all([asset_of(store, i.name) for i in by_step[step].inputs] == ["raw"] for step in ("check:raw:raw_has_rows", "counted"))
    no_unfinished_run(store)


@asset(io_manager_key="prov")
def keyed_orders() -> pd.DataFrame:
    return pd.DataFrame({"id": [1, 2], "amount": [5.0, 7.0]})


@asset_check(asset=keyed_orders)
def keyed_orders_positive(keyed_orders: pd.DataFrame) -> AssetCheckResult:
    return AssetCheckResult(passed=bool((keyed_orders.amount >= 0).all()))


@asset(io_manager_key="fs")
def keyed_copy(keyed_orders: pd.DataFrame, prov_resource: ProvenanceResource) -> pd.DataFrame:
    if os.environ.get("TDPROV_TEST_RAISE"):
        raise RuntimeError("the step failed before it recorded anything")
    return keyed_orders


@pytest.mark.parametrize("raise_in_step", [False, True], ids=["completes", "fails"])
def test_a_step_whose_outputs_go_elsewhere_records_its_read_and_ends(store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                     raise_in_step: bool) -> None:
    """An asset check of an asset kept by a ProvenanceIOManager under another key than 'io_manager' recorded nothing
    of its read (and its warning told to give the check an output IO manager, which checks have not); a step whose
    output goes to another IO manager and that uses a ProvenanceResource of another namespace had its read in that
    resource's run, which nothing ended. Both are ended as Dagster recorded the steps, with what they read."""
    from dagster import FilesystemIOManager

    if raise_in_step:
        monkeypatch.setenv("TDPROV_TEST_RAISE", "1")
    with DagsterInstance.ephemeral() as instance:
        result = materialize([keyed_orders, keyed_orders_positive, keyed_copy], instance=instance, raise_on_error=False,
                             resources={"io_manager": FilesystemIOManager(base_dir=str(tmp_path / "fs")),
                                        "fs": FilesystemIOManager(base_dir=str(tmp_path / "fs")),
                                        "prov": ProvenanceIOManager(store=store),
                                        "prov_resource": ProvenanceResource(store=store, namespace="team")})
        assert result.success is not raise_in_step
    by_step = {s.job_name: s for s in bundles(store).values()}
    assert by_step["check:keyed_orders:keyed_orders_positive"].state == "COMPLETE"
    assert by_step["keyed_copy"].state == ("FAIL" if raise_in_step else "COMPLETE")
    for step in ("check:keyed_orders:keyed_orders_positive", "keyed_copy"):
        assert [asset_of(store, i.name) for i in by_step[step].inputs] == ["keyed_orders"], step
    no_unfinished_run(store)


# -- a step that can still work (and fail) after its last output is one run, ended as Dagster recorded it ----
@asset
def grouped() -> pd.DataFrame:
    return pd.DataFrame({"g": ["a", "b", "c"], "v": [1, 2, 3]})


@op(out=DynamicOut())
def split(grouped: pd.DataFrame):  # noqa: ANN201 - Dagster reads the output from DynamicOut
    for group, part in grouped.groupby("g"):
        if group == "c" and os.environ.get("TDPROV_TEST_RAISE"):
            raise RuntimeError("split failed after its outputs a and b")
        yield DynamicOutput(part.reset_index(drop=True), mapping_key=group)


@op
def doubled(part: pd.DataFrame) -> pd.DataFrame:
    return part.assign(v=part.v * 2)


@op
def merged(parts: list) -> pd.DataFrame:
    return pd.concat(parts)


@graph_asset
def regrouped(grouped: pd.DataFrame) -> pd.DataFrame:
    return merged(split(grouped).map(doubled).collect())


@multi_asset(outs={"m1": AssetOut(), "m2": AssetOut()})
def after_last(grouped: pd.DataFrame):  # noqa: ANN201 - a generator multi-asset
    yield Output(grouped.assign(o=1), output_name="m1")
    yield Output(grouped.assign(o=2), output_name="m2")
    if os.environ.get("TDPROV_TEST_RAISE"):
        raise RuntimeError("after_last failed after its last output")


@multi_asset(outs={"k1": AssetOut(), "k2": AssetOut(io_manager_key="io2")})
def two_keys(grouped: pd.DataFrame):  # noqa: ANN201 - outputs to two ProvenanceIOManagers of one store
    yield Output(grouped.assign(o=1), output_name="k1")
    if os.environ.get("TDPROV_TEST_RAISE"):
        raise RuntimeError("two_keys failed after k1")
    yield Output(grouped.assign(o=2), output_name="k2")


def step_failed(result: Any, step_key: str) -> bool:
    [end] = [e.event_type_value for e in result.all_events
             if e.step_key == step_key and e.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE")]
    return end == "STEP_FAILURE"


# (step key, its run's job name, outputs written when the step completes and when it fails): the three steps run in one
# materialize per end (each a step of its own, with keys of its own), each checked in its own name
WORK_AFTER_LAST_OUTPUT = {
    "dynamic-output": ("regrouped.split", "regrouped.split", {False: ["a", "b", "c"], True: ["a", "b"]}),
    "generator-multi-asset": ("after_last", "asset:m1", {False: ["m1", "m2"], True: ["m1", "m2"]}),  # op named after no key
    "two-io-manager-keys": ("two_keys", "asset:k1", {False: ["k1", "k2"], True: ["k1"]}),
}


@pytest.mark.parametrize("raise_in_step", [False, True], ids=["completes", "fails"])
def test_a_step_that_can_work_after_its_last_output_is_one_run_ended_as_dagster_recorded_it(
    store: str, monkeypatch: pytest.MonkeyPatch, ol_validator: Any, raise_in_step: bool,
) -> None:
    """A dynamic output's mapping keys, a generator that raises after yielding its outputs, and outputs handed to two
    ProvenanceIOManagers of one store and namespace: one run per step, with every output it wrote, COMPLETE or FAIL
    with the step's error as Dagster recorded the step (each mapping key was a run of its own, and a step that failed
    after its last expected output was a COMPLETE run)."""
    if raise_in_step:
        monkeypatch.setenv("TDPROV_TEST_RAISE", "1")
    with DagsterInstance.ephemeral() as instance:
        result = materialize([grouped, regrouped, after_last, two_keys], instance=instance, raise_on_error=False,
                             resources={"io_manager": ProvenanceIOManager(store=store),
                                        "io2": ProvenanceIOManager(store=store, on_mismatch="warn")})
        links = {case: [e.event_specific_data.metadata["tdprov/bundle"].value for e in result.all_events
                        if e.step_key == step_key and e.event_type_value == "HANDLED_OUTPUT"]
                 for case, (step_key, _, _) in WORK_AFTER_LAST_OUTPUT.items()}
    found = bundles(store)
    for case, (step_key, job, outputs) in WORK_AFTER_LAST_OUTPUT.items():
        assert step_failed(result, step_key) is raise_in_step, case
        [run] = [s for s in found.values() if s.job_name == job]
        assert run.run_id == step_run_id(result.run_id, step_key), case
        assert run.state == ("FAIL" if raise_in_step else "COMPLETE"), case
        assert [asset_of(store, i.name) for i in run.inputs] == ["grouped"], case
        assert sorted(Path(asset_of(store, o.name)).name for o in run.outputs) == outputs[raise_in_step], case
        events = check_events(store, run.run_id, ol_validator)
        assert events[0] == "START" and set(events[1:-1]) <= {"RUNNING"} and events[-1] == run.state, (case, events)
        if raise_in_step:
            last = parse_events_jsonl(read_bundle(open_store(store), run.run_id).files["events.jsonl"])[-1]
            assert "failed after" in last["run"]["facets"]["errorMessage"]["message"], case
        # every output links the bundle its step's run was sealed in
        assert len(links[case]) == len(run.outputs), (case, links[case])
        assert all(link.rstrip("/").endswith(run.run_id) for link in links[case]), (case, links[case])
    no_unfinished_run(store)


@multi_asset(outs={"for_a": AssetOut(io_manager_key="team_a"), "for_b": AssetOut(io_manager_key="team_b")})
def two_teams(grouped: pd.DataFrame):  # noqa: ANN201 - outputs to ProvenanceIOManagers of two namespaces, one store
    yield Output(grouped.assign(o=1), output_name="for_a")
    yield Output(grouped.assign(o=2), output_name="for_b")


def test_a_step_whose_outputs_go_to_two_namespaces_is_a_run_of_each_namespaces_job(
        store: str, tmp_path: Path, ol_validator: Any) -> None:
    """A job is (namespace, name): a step that hands outputs to ProvenanceIOManagers of namespaces team_a and team_b
    (one store) is a run of dagster://team_a/two_teams and a run of dagster://team_b/two_teams, with run ids of their
    own; both had the one run id, so one bundle mixed the two jobs' events and team_a's COMPLETE was left staged."""
    resources = {"io_manager": ProvenanceIOManager(store=store)}
    for team in ("team_a", "team_b"):
        resources[team] = ProvenanceIOManager(store=store, namespace=team, data_root=str(tmp_path / team))
    with DagsterInstance.ephemeral() as instance:
        result = materialize([grouped, two_teams], instance=instance, resources=resources)
        links = {e.event_specific_data.metadata["tdprov/namespace"].value: e.event_specific_data.metadata["tdprov/bundle"].value
                 for e in result.all_events if e.step_key == "two_teams" and e.event_type_value == "HANDLED_OUTPUT"}
    runs = {s.job_namespace: s for s in bundles(store).values() if s.job_name == "asset:for_a"}  # op two_teams's 1st key
    assert sorted(runs) == ["dagster://team_a", "dagster://team_b"]
    assert runs["dagster://team_a"].run_id != runs["dagster://team_b"].run_id
    for team, output in (("team_a", "for_a"), ("team_b", "for_b")):
        run = runs[f"dagster://{team}"]
        assert run.state == "COMPLETE" and [o.name for o in run.outputs] == [str(tmp_path / team / f"{output}.parquet")]
        delivered(store)
        events = parse_events_jsonl(read_bundle(open_store(store), run.run_id).files["events.jsonl"])
        assert {(e["job"]["namespace"], e["job"]["name"]) for e in events} == {(f"dagster://{team}", "asset:for_a")}
        assert check_events(store, run.run_id, ol_validator)[-1] == "COMPLETE"
        assert links[f"dagster://{team}"].rstrip("/").endswith(run.run_id)
    no_unfinished_run(store)


def _teams(store: str, tmp_path: Path) -> dict[str, ProvenanceIOManager]:
    """The default IO manager and one of each namespace team_a and team_b, all recording in ``store``."""
    resources = {"io_manager": ProvenanceIOManager(store=store)}
    for team in ("team_a", "team_b"):
        resources[team] = ProvenanceIOManager(store=store, namespace=team, data_root=str(tmp_path / team))
    return resources


def flaky_teams(fails_for_good: bool) -> Any:
    """A step whose attempt 0 writes for team_b and fails; its retry writes for team_a, then fails or succeeds."""
    @multi_asset(name=f"flaky_teams_{'failing' if fails_for_good else 'retried'}", retry_policy=RetryPolicy(max_retries=1),
                 outs={"for_a": AssetOut(io_manager_key="team_a", is_required=False),
                       "for_b": AssetOut(io_manager_key="team_b", is_required=False)})
    def flaky(context, grouped: pd.DataFrame):  # noqa: ANN001, ANN202
        yield Output(grouped.assign(o=context.retry_number), output_name="for_b" if context.retry_number == 0 else "for_a")
        if context.retry_number == 0 or fails_for_good:
            raise RuntimeError(f"lost the connection in attempt {context.retry_number}")
    return flaky


@asset
def broken() -> pd.DataFrame:
    raise RuntimeError("the warehouse is down")


@pytest.mark.parametrize("fails_for_good", [True, False], ids=["last-attempt-failed", "last-attempt-succeeded"])
def test_the_failure_sensor_seals_an_earlier_attempt_in_a_namespace_the_last_one_did_not_record_in(
        store: str, tmp_path: Path, ol_validator: Any, monkeypatch: pytest.MonkeyPatch, fails_for_good: bool) -> None:
    """Attempt 0 wrote for team_b and failed; its retry wrote for team_a only, then failed for good (or succeeded,
    in a run another step failed), and could not seal attempt 0's team_b run (as in another process with the store
    down for a moment). The sensor looked at a failed step's last attempt only: attempt 1 staged nothing in team_b, so
    attempt 0's team_b run (START, RUNNING with for_b) was left staged, in no bundle."""
    monkeypatch.setattr(Recorder, "_close_elsewhere", lambda *_: False)  # the retry left it to the sensor
    step = flaky_teams(fails_for_good)
    with DagsterInstance.ephemeral() as instance:
        result = materialize([grouped, step, broken], instance=instance, resources=_teams(store, tmp_path),
                             raise_on_error=False)
        assert not result.success
        with build_run_status_sensor_context(
                sensor_name="provenance_failure_sensor", dagster_event=result.get_run_failure_event(),
                dagster_instance=instance, dagster_run=result.dagster_run,
                resources={"provenance": ProvenanceResource(store=store)}) as context:
            provenance_failure_sensor(context)
        [stat] = [s for s in instance.get_run_step_stats(result.run_id) if s.step_key == step.op.name]
    earlier = step_run_id(result.run_id, step.op.name, 0, namespace="dagster://team_b")
    found = bundles(store)
    run = found[earlier]
    assert run.state == "FAIL" and [o.name for o in run.outputs] == [str(tmp_path / "team_b" / "for_b.parquet")]
    delivered(store)
    events = parse_events_jsonl(read_bundle(open_store(store), earlier).files["events.jsonl"])
    assert [e["eventType"] for e in events] == check_events(store, earlier, ol_validator) == ["START", "RUNNING", "FAIL"]
    assert "attempt 0 failed; Dagster retried it as attempt 1" in events[-1]["run"]["facets"]["errorMessage"]["message"]
    assert datetime.fromisoformat(events[-1]["eventTime"]) == datetime.fromtimestamp(stat.attempts_list[0].end_time, UTC)
    ran = {(s.job_namespace, s.run_id) for s in found.values() if s.job_name == "asset:for_a"}
    last = step_run_id(result.run_id, step.op.name, 1, namespace="dagster://team_a")
    read = step_run_id(result.run_id, step.op.name, 0, namespace="dagster://team_a")  # attempt 0 read grouped for team_a
    assert ran == {("dagster://team_b", earlier), ("dagster://team_a", read), ("dagster://team_a", last)}  # none in default
    assert [asset_of(store, i.name) for i in found[read].inputs] == ["grouped"] and found[read].state == "FAIL"
    no_unfinished_run(store)


def flaky_writer(wrote: bool, retry_writes: tuple[str, ...] = ("for_a", "for_b")) -> Any:
    """A step that reads nothing: attempt 0 writes for team_b and fails (or fails before it writes anything); its retry
    writes ``retry_writes`` (for team_a, then for team_b) and succeeds."""
    @multi_asset(name=f"flaky_{'wrote' if wrote else 'nothing'}_{len(retry_writes)}", retry_policy=RetryPolicy(max_retries=1),
                 outs={"for_a": AssetOut(io_manager_key="team_a", is_required=False),
                       "for_b": AssetOut(io_manager_key="team_b", is_required=False)})
    def flaky(context):  # noqa: ANN001, ANN202
        frame = pd.DataFrame({"attempt": [context.retry_number]})
        if context.retry_number == 0:
            if wrote:
                yield Output(frame, output_name="for_b")
            raise RuntimeError("lost the connection in attempt 0")
        for output in retry_writes:
            yield Output(frame, output_name=output)
    return flaky


@pytest.mark.parametrize("wrote", [True, False], ids=["attempt-0-wrote-for-team_b", "attempt-0-recorded-nothing"])
def test_a_retry_makes_up_no_run_of_an_earlier_attempt_in_a_namespace_it_did_not_record_in(
        store: str, tmp_path: Path, ol_validator: Any, wrote: bool) -> None:
    """Attempt 0 wrote for team_b only; its retry, writing for team_a, sealed an attempt-0 run of team_a too, a START
    and a FAIL made up for an attempt that recorded nothing there. And an attempt that recorded nothing anywhere got a
    made-up run in each namespace its retry wrote for: one of two runs of the attempt. It is made up once, where the
    retry first records."""
    step = flaky_writer(wrote)
    with DagsterInstance.ephemeral() as instance:
        result = materialize([step], instance=instance, resources=_teams(store, tmp_path))
    found = bundles(store)
    ran = {(s.job_namespace, s.run_id): s.state for s in found.values() if s.job_name == "asset:for_a"}
    first = "dagster://team_b" if wrote else "dagster://team_a"
    failed = step_run_id(result.run_id, step.op.name, 0, namespace=first)
    assert ran == {(first, failed): "FAIL",
                   **{(f"dagster://{team}", step_run_id(result.run_id, step.op.name, 1, namespace=f"dagster://{team}")):
                      "COMPLETE" for team in ("team_a", "team_b")}}
    assert [o.name for o in found[failed].outputs] == ([str(tmp_path / "team_b" / "for_b.parquet")] if wrote else [])
    assert check_events(store, failed, ol_validator) == (["START", "RUNNING", "FAIL"] if wrote else ["START", "FAIL"])
    no_unfinished_run(store)


def test_a_retry_seals_an_earlier_attempts_run_in_a_namespace_the_retry_does_not_record_in(
        store: str, tmp_path: Path, ol_validator: Any) -> None:
    """Attempt 0 wrote for team_b and failed; its retry wrote for team_a only and succeeded, so no failure sensor ran.
    The retry sealed earlier attempts in the namespaces it recorded in only: attempt 0's team_b run (its START and the
    output it wrote) was left staged, in no bundle, for good."""
    step = flaky_writer(True, retry_writes=("for_a",))
    with DagsterInstance.ephemeral() as instance:
        result = materialize([step], instance=instance, resources=_teams(store, tmp_path))
    found = bundles(store)
    failed = step_run_id(result.run_id, step.op.name, 0, namespace="dagster://team_b")
    assert {(s.job_namespace, s.run_id): s.state for s in found.values() if s.job_name == "asset:for_a"} == {
        ("dagster://team_b", failed): "FAIL",
        ("dagster://team_a", step_run_id(result.run_id, step.op.name, 1, namespace="dagster://team_a")): "COMPLETE"}
    assert [o.name for o in found[failed].outputs] == [str(tmp_path / "team_b" / "for_b.parquet")]
    assert check_events(store, failed, ol_validator) == ["START", "RUNNING", "FAIL"]
    delivered(store)
    events = parse_events_jsonl(read_bundle(open_store(store), failed).files["events.jsonl"])
    assert "attempt 0 failed; Dagster retried it as attempt 1" in events[-1]["run"]["facets"]["errorMessage"]["message"]
    no_unfinished_run(store)


# -- a step's run is stamped with the times Dagster recorded for the step ------------------------------------
TOLERANCE = timedelta(milliseconds=1)  # Dagster keeps float epoch seconds; the events keep microseconds
SLOW = 0.25  # seconds a slow step takes: 250 times TOLERANCE, so a time taken at the wrong moment is far out of it


def dagster_times(instance: DagsterInstance, run_id: str) -> dict[str, tuple[datetime, datetime]]:
    """Step key -> (start, end) of the step as the Dagster instance recorded it."""
    return {s.step_key: (datetime.fromtimestamp(s.start_time, UTC), datetime.fromtimestamp(s.end_time, UTC))
            for s in instance.get_run_step_stats(run_id)}


def recorded_times_of(store: str, *step_keys: str) -> dict[str, tuple[datetime, datetime]]:
    """Step key -> (START's eventTime, the terminal event's eventTime) of the one sealed run of each of ``step_keys``
    (the step's job name, where it is not its step key), from one listing of the store."""
    runs, opened, times = list(bundles(store).values()), open_store(store), {}
    for step_key in step_keys:
        [run] = [s for s in runs if s.job_name == step_key]
        delivered(opened)
        events = parse_events_jsonl(read_bundle(opened, run.run_id).files["events.jsonl"])
        [start] = [e["eventTime"] for e in events if e["eventType"] == "START"]
        [end] = [e["eventTime"] for e in events if e["eventType"] in ("COMPLETE", "FAIL", "ABORT")]
        times[step_key] = datetime.fromisoformat(start), datetime.fromisoformat(end)
    return times


def recorded_times(store: str, step_key: str) -> tuple[datetime, datetime]:
    """(START's eventTime, the terminal event's eventTime) of the one sealed run of step ``step_key``."""
    return recorded_times_of(store, step_key)[step_key]


def same_time(recorded: datetime, dagster: datetime) -> bool:
    return abs(recorded - dagster) <= TOLERANCE


@asset
def counted_orders(orders: pd.DataFrame) -> MaterializeResult:
    return MaterializeResult(metadata={"rows": len(orders)})


@asset(deps=[counted_orders])
def slow_afterwards() -> None:
    time.sleep(SLOW)  # the in-process executor tears the IO manager down after this step


@pytest.mark.filterwarnings("error:InitResourceContext.dagster_run:DeprecationWarning")
def test_a_step_ended_at_teardown_ends_when_dagster_recorded_its_end_not_when_the_run_ends(store: str) -> None:
    """In-process, the IO manager is torn down when the whole run ends: a step it ends then (one returning
    MaterializeResult) was stamped with the end of the run, SLOW after the step's own end here. The teardown reads
    the Dagster run as Dagster supports it (``InitResourceContext.dagster_run`` is deprecated on Dagster 1.13): the
    deprecation, made an error here, stopped it from ending the step."""
    with DagsterInstance.ephemeral() as instance:
        result = materialize([orders, counted_orders, slow_afterwards], instance=instance,
                             resources={"io_manager": ProvenanceIOManager(store=store)})
        times = dagster_times(instance, result.run_id)
    _, end = recorded_times(store, "counted_orders")
    assert same_time(end, times["counted_orders"][1]), (end, times["counted_orders"])
    assert end < times["slow_afterwards"][0]  # a later step's reader sees this generation as ended before it started


@CHECKED_RUN_GROUP
def test_steps_in_processes_of_their_own_end_when_dagster_recorded_their_end(checked_run: tuple[str, Any, Any]) -> None:
    store, result, times = checked_run
    assert result.success
    jobs = {"raw": "raw", "raw_raw_has_rows": "check:raw:raw_has_rows", "counted": "counted"}  # step key -> its job
    recorded = recorded_times_of(store, *jobs.values())
    for step in ("raw_raw_has_rows", "counted"):  # ended when their step process tore the IO manager down
        _, end = recorded[jobs[step]]
        assert same_time(end, times[step][1]), (step, end, times[step])
    for step in ("raw", "raw_raw_has_rows", "counted"):  # started when Dagster started them, not at their first touch
        start, _ = recorded[jobs[step]]
        assert same_time(start, times[step][0]), (step, start, times[step])


@asset
def fails_at_once() -> pd.DataFrame:
    raise RuntimeError("the step failed before it touched the IO manager")


def test_the_failure_sensor_stamps_a_failed_step_with_its_start_and_end_in_dagster(store: str) -> None:
    """close_failed_run (the run-failure sensor, which runs 30 s or more after the run) stamped START and FAIL with
    the time of its own tick."""
    with DagsterInstance.ephemeral() as instance:
        result = materialize([fails_at_once], instance=instance, raise_on_error=False,
                             resources={"io_manager": ProvenanceIOManager(store=store)})
        assert not result.success and not bundles(store)  # the step touched nothing: nothing started its run
        times = dagster_times(instance, result.run_id)
        time.sleep(0.2)
        sealed = close_failed_run(instance, instance.get_run_by_id(result.run_id), ProvenanceResource(store=store),
                                  "the Dagster run failed")
        assert len(sealed) == 1
    start, end = recorded_times(store, "fails_at_once")
    assert same_time(start, times["fails_at_once"][0]) and same_time(end, times["fails_at_once"][1]), (start, end, times)


@asset
def slow_source() -> pd.DataFrame:
    time.sleep(SLOW)  # computes before it hands its output to the IO manager
    return pd.DataFrame({"a": [1, 2]})


def test_a_step_starts_when_dagster_started_it_not_when_it_first_touched_the_io_manager(store: str) -> None:
    """A source asset's run started at its output's handling: a SLOW step was recorded as a run of a few milliseconds
    that started SLOW late."""
    with DagsterInstance.ephemeral() as instance:
        result = materialize([slow_source, orders, counted_orders], instance=instance,
                             resources={"io_manager": ProvenanceIOManager(store=store)})
        times = dagster_times(instance, result.run_id)
    recorded = recorded_times_of(store, "slow_source", "orders", "counted_orders")
    for step in ("slow_source", "orders", "counted_orders"):
        start, end = recorded[step]
        assert same_time(start, times[step][0]), (step, start, times[step])
        assert start <= end <= times[step][1] + TOLERANCE, (step, start, end, times[step])
    start, end = recorded["slow_source"]
    assert end - start >= timedelta(seconds=SLOW)


def test_a_signed_end_of_an_earlier_attempt_copied_into_the_retry_is_no_end_of_it(tmp_path: Path) -> None:
    """The first attempt's signed FAIL, copied by a holder of the store's credentials into the staging of the retry
    that is still running: genuine, but the first attempt's. The retry's closer (the failure sensor, a later retry) must
    not take it as the retry's end (it would seal the retry with no end of its own, its FAIL never recorded), nor read
    the job the retry ran as from it."""
    from prov_common.bundle.transport import staged_event_key

    store_uri = str(tmp_path / "store")
    settings = Settings(store=store_uri, spool=str(tmp_path / "spool"))
    recorder = Recorder(settings, "dagster://default")
    first = StepIdentity(str(uuid.uuid4()), "pair_job", "pair", job="first_job")
    recorder.step(first).fail(error="boom", at=None)
    recorder.wait()
    store = open_store(store_uri)
    delivered(store)
    [fail] = [e for e in parse_events_jsonl(read_bundle(store, first.ol_run_id).files["events.jsonl"]) if e["eventType"] == "FAIL"]
    retry = replace(first, attempt=1, job="pair")
    recorder.step(retry).stage()
    recorder.wait()
    copied = dict(fail, run=dict(fail["run"], runId=retry.ol_run_id), eventTime="2000-01-01T00:00:00.000Z")  # listed first
    store.put(staged_event_key(copied), store.get(staged_event_key(fail)))
    assert recorder.staged_end(first) and not recorder.staged_end(retry)
    assert recorder.staged_job(retry) == "pair"


def test_a_step_process_ends_once_the_seal_that_outlived_its_bound_is_written(
    store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """A step process whose store writes the seal's index entry past the transport's bound (it goes on in the
    background, and ``Recorder.wait`` at the teardown returns without it) ends only when the entry is written: the
    process's exit waits for the transport's writing thread, so the run's bundle is listed as soon as Dagster's run is
    over, with nothing waited for in the test process and nothing spooled. One step process forked from the fork server
    shows it: it ends with os._exit, which runs no atexit hook (it ended at once, the seal lost without a word)."""
    monkeypatch.setenv("STEPS_SLOW_INDEX", "1.5")
    monkeypatch.setenv("TDPROV_SPOOL", str(tmp_path / "spool"))
    monkeypatch.chdir(TESTS)  # step processes import dagster_steps_defs from the working directory
    (tmp_path / "dagster_home").mkdir()
    with DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        result = execute_job(reconstructable(steps.get_raw_job), instance=instance)
        assert result.success
    assert "took more than 0.5s; it continues in the background" in capfd.readouterr().err  # the step process's
    found = {s.run_id: s for s in list_bundles(open_store(store))}  # not bundles(store): it waits in this process
    assert found[step_run_id(result.run_id, "raw")].state == "COMPLETE"
    assert not list((tmp_path / "spool").glob("**/*.json*"))


def test_a_step_process_whose_store_holds_its_seal_past_the_exit_bound_spools_it_names_it_and_ends(
    store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """The same with an index write that does not end (a hung local mount: 600 s): the step process waits for it
    ``TDPROV_EXIT_TIMEOUT`` (1 s here), spools what the seal had not put, names it with the flush fix, and ends (its exit
    joined the transport's thread with no bound: the run never ended); ``tdprov flush`` then delivers the bundle."""
    from prov_common.cli import main

    spool = tmp_path / "spool"
    monkeypatch.setenv("STEPS_SLOW_INDEX", "600")
    monkeypatch.setenv("TDPROV_EXIT_TIMEOUT", "1")
    monkeypatch.setenv("TDPROV_SPOOL", str(spool))
    monkeypatch.chdir(TESTS)  # step processes import dagster_steps_defs from the working directory
    (tmp_path / "dagster_home").mkdir()
    began = time.monotonic()
    with DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        result = execute_job(reconstructable(steps.get_raw_job), instance=instance)
        assert result.success
    assert time.monotonic() - began < 240  # the step process waited 600 s before
    said = capfd.readouterr().err
    run_id = step_run_id(result.run_id, "raw")
    warned = [line for line in said.splitlines() if "still under way after 1.0s as this process ends" in line]
    assert warned and all(f"handed to the outbox in {spool}. Fix: run 'tdprov flush --store {store}'" in line
                          for line in warned), said[-3000:]
    assert any(f"the COMPLETE event of run {run_id})" in line for line in warned), said[-3000:]
    assert not list(list_bundles(open_store(store)))
    assert main(["flush", "--store", store, "--spool", str(spool)]) == 0
    assert {s.run_id: s.state for s in list_bundles(open_store(store))} == {run_id: "COMPLETE"}


def _note_exit_wait(note: str) -> None:
    """In a forked child: make its exit wait (the highest rank) append this process's id to the file ``note``."""
    from prov_common import exiting

    def wait() -> None:
        with open(note, "a") as handle:
            handle.write(f"{os.getpid()}\n")

    exiting.ends_with(99, wait)


def test_a_child_forked_by_multiprocessing_after_tdprov_loaded_waits_for_its_writes_once_as_it_ends(tmp_path: Path) -> None:
    """A child multiprocessing forks from a process that loaded tdprov (or from a fork server that preloaded it) ends
    with os._exit: it ran no exit wait. It now runs it, once, among multiprocessing's exit finalizers."""
    note = tmp_path / "waited"
    child = multiprocessing.get_context("fork").Process(target=_note_exit_wait, args=(str(note),))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert note.read_text() == f"{child.pid}\n"


def test_a_child_forked_while_a_recorder_delivers_leaves_its_parents_deliveries_to_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    """A multiprocessing child forked by a step while its recorder delivers (a worker of a pool the asset starts) runs
    the exit wait as it ends: it waited for its parent's deliveries, which no thread of it runs, TDPROV_EXIT_TIMEOUT,
    then named them as its own. They are its parent's: the child ends at once."""
    monkeypatch.setenv("TDPROV_EXIT_TIMEOUT", "20")
    recorder, release = Recorder(Settings(store=str(tmp_path / "store")), "dagster://default"), threading.Event()
    recorder._submit(release.wait, 30)  # a delivery under way in this process
    child = multiprocessing.get_context("fork").Process(target=os.getpid)
    began = time.monotonic()
    child.start()
    try:
        child.join(60)
        assert child.exitcode == 0 and time.monotonic() - began < 10  # 20 s before
    finally:
        release.set()
        recorder.wait()
    assert "as this process ends" not in capfd.readouterr().err


def _deliver_note(recorder: Recorder, note: str) -> None:
    """In a forked child: have ``recorder`` (its parent's) deliver the appending of this process's id to ``note``."""
    recorder._submit(lambda: open(note, "a").write(f"{os.getpid()}\n"))


def test_a_child_forked_after_a_recorder_was_made_delivers_through_it(tmp_path: Path) -> None:
    """A child forked from a process whose recorder was made (a worker of a pool a step started) records through that
    recorder: its deliveries went to its parent's thread, which a forked child has not, and its exit wait skipped them
    as its parent's, so they were neither done nor named. The child delivers them with a thread of its own."""
    recorder, note = Recorder(Settings(store=str(tmp_path / "store")), "dagster://default"), tmp_path / "delivered"
    child = multiprocessing.get_context("fork").Process(target=_deliver_note, args=(recorder, str(note)))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert note.read_text() == f"{child.pid}\n"


_HUNG_STORE = """
import time
from prov_common.bundle import transport
from prov_common.config import Settings
from prov_common.store.local import LocalStore
from prov_dagster.recorder import recorder_for_namespace

class Hung(LocalStore):  # a hung local mount: a listing never ends
    def _list(self, prefix, start_after):
        time.sleep(600)

    def _list_info(self, prefix, start_after, tags_for=None):
        time.sleep(600)

opened = transport.open_store
transport.open_store = lambda *args, **kwargs: Hung(opened(*args, **kwargs).root)
recorder = recorder_for_namespace(Settings(store=sys.argv[1]), "default")
"""  # the end of a script (sys imported) whose store, sys.argv[1], then hangs: the recorder of it

_HUNG_RECORDER = """
import sys
from prov_dagster.model import StepIdentity
""" + _HUNG_STORE + """
recorder.seal_staged(sys.argv[2])  # as a retry closing an earlier attempt whose end is staged
queued = recorder.step(StepIdentity(sys.argv[3], None, "queued"))  # another step runs and ends behind it
queued.complete()  # its START and COMPLETE (recorder.deliver_step)
print(queued.ol_run_id)
time.sleep(0.2)
"""


def test_a_process_whose_store_holds_a_recorder_delivery_past_the_exit_bound_names_it_and_ends(tmp_path: Path) -> None:
    """A Dagster recorder delivers in a thread of its own, which the interpreter's exit joined with no bound: a seal from
    what was staged (a retry closing an earlier attempt) on a store that never answers (a hung local mount) kept a step
    process alive. Its exit waits for it within the exit bound the transport's writes get, then names it, with the
    fix. The bound is the setting TDPROV_EXIT_TIMEOUT (1 s here; 60 s by default). A delivery queued behind the one held
    up (another step's COMPLETE) is done again into the outbox, as the transport does with its writes: 'tdprov flush'
    delivers it."""
    from prov_common.cli import main

    run_id, store, spool = str(uuid.uuid4()), str(tmp_path / "store"), tmp_path / "spool"
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-c", _HUNG_RECORDER, store, run_id, str(uuid.uuid4())], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "TDPROV_SPOOL": str(spool), "TDPROV_EXIT_TIMEOUT": "1"})
    assert time.monotonic() - began < 30 and done.returncode == 0, done.stderr[-3000:]
    assert ("1 delivery still under way after 1s as this process ends" in done.stderr
            and f"the seal of run {run_id}; they are not delivered" in done.stderr
            and f"'tdprov store seal --force {run_id}'" in done.stderr), done.stderr[-3000:]
    queued = done.stdout.split()[-1]
    assert (f"2 deliveries queued behind them handed to the outbox in {spool}: the START event of run {queued}; the "
            f"COMPLETE event of run {queued}. Fix: "
            f"run 'tdprov flush --store {store}'" in done.stderr), done.stderr[-3000:]
    assert not list(list_bundles(open_store(store)))
    assert main(["flush", "--store", store, "--spool", str(spool)]) == 0
    assert {s.run_id: s.state for s in list_bundles(open_store(store))} == {queued: "COMPLETE"}


_HUNG_CHECK = """
import sys, time, uuid
from prov_common.config import Settings
from prov_common.store.local import LocalStore
from prov_dagster.model import DatasetRecord, StepIdentity
from prov_dagster.recorder import recorder_for_namespace

recorder = recorder_for_namespace(Settings(store=sys.argv[1]), "default")
run = recorder.step(StepIdentity(str(uuid.uuid4()), "pair_job", "pair"))
run.input(DatasetRecord(name="raw", digest=None))  # its START staged, no end: taken for open (left to a retry, a sensor)
recorder.wait()
LocalStore.exists = lambda self, key: time.sleep(600)  # then the mount hangs, on the check of the run taken for open
began = time.monotonic()
recorder.wait()  # the IO manager's teardown
print(run.ol_run_id, time.monotonic() - began, flush=True)
"""


def test_a_teardown_whose_store_hangs_on_the_check_of_the_runs_taken_for_open_waits_no_longer_than_the_exit_bound(
        tmp_path: Path) -> None:
    """The recorder's wait (the IO manager's teardown) checks the runs its process took for open (a START staged, no
    end) with the transport's own bound (10 s), though the process's exit waits for that check TDPROV_EXIT_TIMEOUT
    at most: a step process whose store hangs on it (a hung mount) was held 10 s at its teardown with a 1 s exit bound.
    The wait gives the check what is left of the exit bound; the exit then names the check as left, with the fix."""
    store = str(tmp_path / "store")
    done = subprocess.run([sys.executable, "-c", _HUNG_CHECK, store], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "TDPROV_SPOOL": str(tmp_path / "spool"), "TDPROV_EXIT_TIMEOUT": "1"})
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
    run_id, waited = done.stdout.split()[-2:]
    assert float(waited) < 3, (waited, done.stderr[-3000:])  # 10 s before: the transport's bound
    assert (f"tdprov: the check of the runs this process took for open ({run_id}) was still under way after 1.0s as "
            f"this process ends (store {store} does not answer)" in done.stderr
            and f"Fix: run 'tdprov audit --store {store}' once the store answers" in done.stderr), done.stderr[-3000:]


_QUEUED_SEAL = """
import sys
from bundle_support import run_events
from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport

start, complete = run_events()
closing = ProvenanceTransport(ProvenanceConfig(store=sys.argv[1]))
closing.emit(start)
ProvenanceTransport._seal_ended = lambda self, *args, **kwargs: None  # its process died once its COMPLETE was staged
closing.emit(complete)
closing.close()
# then the mount hangs
""" + _HUNG_STORE + """
recorder.seal_staged(sys.argv[2])  # held up
recorder.seal_staged(start["run"]["runId"])  # queued behind it as the process ends
print(start["run"]["runId"])
"""


def test_a_seal_from_staging_queued_as_the_process_ends_is_named_with_its_fix_and_its_run_is_not_lost(
        tmp_path: Path) -> None:
    """A seal from what was staged (a retry closing an earlier attempt whose COMPLETE is staged) that is still queued
    as the process ends cannot be spooled (it reads the store): it is named with the seal command, its run's staged
    events stay in the store, the audit names the run as never sealed, and 'tdprov store seal' seals START and COMPLETE
    once the store answers."""
    from prov_common.cli import main

    store, spool = str(tmp_path / "store"), tmp_path / "spool"
    done = subprocess.run([sys.executable, "-c", _QUEUED_SEAL, store, str(uuid.uuid4())], capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).parent,
                          env={**os.environ, "TDPROV_SPOOL": str(spool), "TDPROV_EXIT_TIMEOUT": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    run_id = done.stdout.split()[-1]
    assert ("2 deliveries still under way after 1s as this process ends" in done.stderr
            and f"the seal of run {run_id}; they are not delivered" in done.stderr
            and f"'tdprov store seal --force {run_id}'" in done.stderr), done.stderr[-3000:]
    result = run_audit(open_store(store), report_dir=tmp_path / "report", progress=False)
    assert [f for f in result.findings if f.check == "unfinished" and f.run_id == run_id], result.findings
    assert main(["store", "seal", "--store", store, run_id]) == 0
    sealed = parse_events_jsonl(read_bundle(open_store(store), run_id).files["events.jsonl"])
    assert [e["eventType"] for e in sealed] == ["START", "COMPLETE"]


def test_a_strict_teardown_whose_deliveries_used_the_exit_bound_still_checks_the_runs_taken_for_open(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Strict mode, a run taken for open (its START staged, no end), the exit bound used up by the deliveries before
    the check (TDPROV_EXIT_TIMEOUT at 1 ns here): the check got 0 s and the teardown raised "took more than 0s" for a
    store that answers at once. The check gets a floor; the teardown ends cleanly, the run still taken for open."""
    from prov_common.config import Settings
    from prov_dagster.model import DatasetRecord, StepIdentity
    from prov_dagster.recorder import recorder_for_namespace

    monkeypatch.setenv("TDPROV_EXIT_TIMEOUT", "1e-9")
    recorder = recorder_for_namespace(Settings(store=str(tmp_path / "store"), strict=True), "default")
    run = recorder.step(StepIdentity(str(uuid.uuid4()), "pair_job", "pair"))
    run.input(DatasetRecord(name="raw", digest=None))  # its START staged (strict: now), no end: taken for open
    recorder.wait()  # the IO manager's teardown
    assert recorder.transport()._taken_for_open() == [run.ol_run_id]



def test_the_failure_sensor_seals_the_output_of_a_step_stopped_by_sigterm(
    store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ol_validator: Any
) -> None:
    """A step process sent SIGTERM (a pod evicted) after its first output was written and staged: Dagster fails the
    step as interrupted and the run as failed; the IO manager's teardown leaves the step's run staged, and the failure
    sensor seals it FAIL with what the step read and the version it wrote, the one Dagster shows."""
    monkeypatch.chdir(TESTS)  # step processes import dagster_steps_defs from the working directory
    (tmp_path / "dagster_home").mkdir()
    with DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        steps.materialize_raw(instance, ProvenanceIOManager())
        result = execute_job(reconstructable(steps.get_stopped_job), instance=instance, raise_on_error=False)
        run = instance.get_run_by_id(result.run_id)
        [failure] = instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_FAILURE)
        assert failure.dagster_event.step_failure_data.error_source.value == "INTERRUPT"
        assert run.status.value == "FAILURE"
        stopped = step_run_id(run.run_id, "stopped")
        assert stopped not in bundles(store) and len(list(open_store(store).list(f"staging/{stopped}/"))) == 2
        kept = digest_of(instance, "kept")
        [bundle] = close_failed_run(instance, run, ProvenanceResource(store=store), "the Dagster run failed")
    summary = bundles(store)[stopped]
    assert bundle.rstrip("/").endswith(stopped) and summary.state == "FAIL"
    assert [asset_of(store, i.name) for i in summary.inputs] == ["raw"] and written(store, summary) == [("kept", kept)]
    assert check_events(store, stopped, ol_validator) == ["START", "RUNNING", "FAIL"]
    no_unfinished_run(store)
