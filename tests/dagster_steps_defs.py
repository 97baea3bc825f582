"""Assets whose steps end in ways other than "every output handled" (no tests in this module): a step
that dies or is retried after a first output, an asset check and an asset returning ``MaterializeResult``
that load an asset and hand no asset output to the IO manager.

Loaded by tests/test_dagster_steps.py in-process and in the processes Dagster starts for a run or a
step, so it is configured only through the environment: ``TDPROV_STORE`` (store, data next to it) and
``TDPROV_TEST_CRASH``: ``kill`` (``pair``'s process is killed once its first output is staged in the
store), ``kill-at-once`` (killed once it loaded ``raw``, before any output) or ``retry`` (``pair``'s first
attempt raises after its first output; Dagster retries it); ``TDPROV_TEST_NAMESPACE``: the namespace of the
``ProvenanceIOManager`` of a killed run (default ``default``); ``STEPS_SLOW_INDEX``: seconds each index entry's
write sleeps in the step processes Dagster starts (their transport's bound is 0.5 s: the seal goes on in the
background after the teardown).
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import time
import attr

import fork_env
import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetOut,
    AssetSelection,
    Definitions,
    MaterializeResult,
    Output,
    RetryPolicy,
    asset,
    asset_check,
    define_asset_job,
    multi_asset,
    multiprocess_executor,
)

from prov_common.bundle import layout
from prov_common.store import open_store
from prov_dagster import ProvenanceIOManager
from prov_dagster.naming import namespace_uri, step_run_id

NAMESPACE = os.environ.get("TDPROV_TEST_NAMESPACE", "default")


def _slow_index_writes(seconds: float) -> None:
    """Make this step process's store a LocalStore whose index writes (a seal's last) sleep ``seconds``, and its
    transport's bound 0.5 s."""
    from prov_common.bundle import transport
    from prov_common.store.local import LocalStore
    from prov_dagster import recorder

    class SlowIndex(LocalStore):
        def put(self, key, data):  # noqa: ANN001, ANN202 - LocalStore's signature
            if key.startswith("index/"):
                time.sleep(seconds)
            return super().put(key, data)

    opened, made = transport.open_store, recorder.make_transport

    def open_slow(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        store = opened(*args, **kwargs)
        return SlowIndex(store.root) if type(store) is LocalStore else store

    def make(settings, *args):  # noqa: ANN001, ANN002, ANN202 - make_transport's signature
        made_transport = made(settings, *args)
        made_transport.config = attr.evolve(made_transport.config, timeout=0.5)
        return made_transport

    transport.open_store, recorder.make_transport = open_slow, make


if os.environ.get("STEPS_SLOW_INDEX") and multiprocessing.parent_process() is not None:
    _slow_index_writes(float(os.environ["STEPS_SLOW_INDEX"]))


@asset
def raw() -> pd.DataFrame:
    return pd.DataFrame({"x": [1, 2, 3]})


@multi_asset(outs={"first": AssetOut(), "second": AssetOut()}, retry_policy=RetryPolicy(max_retries=1))
def pair(context, raw: pd.DataFrame):  # noqa: ANN001 - Dagster refuses a string annotation of context
    crash = os.environ.get("TDPROV_TEST_CRASH")
    if crash == "kill-at-once":
        _wait_until_staged(step_run_id(context.run_id, "pair", namespace=namespace_uri(NAMESPACE)), 1)  # START, raw
        os.kill(os.getpid(), signal.SIGKILL)
    yield Output(raw.assign(k=1), output_name="first")
    if crash == "kill":
        _wait_until_staged(step_run_id(context.run_id, "pair", namespace=namespace_uri(NAMESPACE)), 2)  # START, first
        os.kill(os.getpid(), signal.SIGKILL)  # the step's process dies (out of memory, a lost node)
    if crash == "retry" and context.retry_number == 0:
        raise RuntimeError("pair lost its connection after its first output")
    yield Output(raw.assign(k=2), output_name="second")


@multi_asset(outs={"kept": AssetOut(), "lost": AssetOut()})  # no retry policy: Dagster retries a stopped step that has one
def stopped(context, raw: pd.DataFrame):  # noqa: ANN001 - Dagster refuses a string annotation of context
    """``kept`` written and staged, then the step's process is sent SIGTERM (a pod evicted): Dagster fails the step
    as interrupted, which the IO manager's teardown leaves to the failure sensor."""
    yield Output(raw.assign(k=1), output_name="kept")
    _wait_until_staged(step_run_id(context.run_id, "stopped", namespace=namespace_uri(NAMESPACE)), 2)  # START, kept
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(30)  # interrupted before this ends
    yield Output(raw.assign(k=2), output_name="lost")


@asset
def uses_first(first: pd.DataFrame) -> pd.DataFrame:
    return first.head(1)


@asset_check(asset=raw)
def raw_has_rows(raw: pd.DataFrame) -> AssetCheckResult:
    return AssetCheckResult(passed=len(raw) > 0)


@asset
def counted(raw: pd.DataFrame) -> MaterializeResult:
    return MaterializeResult(metadata={"rows": len(raw)})


def _wait_until_staged(ol_run_id: str, events: int) -> None:
    store = open_store(os.environ["TDPROV_STORE"])
    deadline = time.monotonic() + 20
    while sum(1 for _ in store.list(layout.staging_prefix(ol_run_id))) < events and time.monotonic() < deadline:
        time.sleep(0.05)


# Step processes forked from the test process's fork server, which preloads Dagster, pandas and the like (not this
# module nor tdprov: they read the environment at their import); each takes the environment, standard output and error
# of the test that starts it (tests/fork_env.py), as a spawned one would, and imports this module anew.
pair_job = define_asset_job(  # pair alone: raw is materialized before, in the test's process (materialize_raw)
    "pair_job", selection=AssetSelection.assets("first", "second").without_checks(),
    executor_def=multiprocess_executor.configured({"start_method": {"forkserver": {"preload_modules": fork_env.PRELOAD}}}))
checked_job = define_asset_job("checked_job", selection=["raw", "counted"], executor_def=pair_job.executor_def)
# On the fork server too: the tests of how a step process ends (a fork server's child ends with os._exit, which runs no
# atexit hook: tdprov's wait for its writes runs among multiprocessing's exit finalizers there)
stopped_job = define_asset_job("stopped_job", selection=AssetSelection.assets("kept", "lost"), executor_def=pair_job.executor_def)
raw_job = define_asset_job("raw_job", selection=AssetSelection.assets(raw).without_checks(), executor_def=pair_job.executor_def)
defs = Definitions(assets=[raw, pair, stopped, uses_first, counted], asset_checks=[raw_has_rows],
                   jobs=[pair_job, checked_job, raw_job, stopped_job],
                   resources={"io_manager": ProvenanceIOManager()})


def get_pair_job():
    """``pair`` as a multiprocess job (one process per step attempt); ``raw``, which it loads, is materialized before
    (:func:`materialize_raw`)."""
    return defs.resolve_job_def("pair_job")


def get_stopped_job():
    """``stopped`` (see there) as a multiprocess job; ``raw`` is materialized before (:func:`materialize_raw`)."""
    return defs.resolve_job_def("stopped_job")


def get_raw_job():
    """``raw`` alone (not its check) as a multiprocess job: one step process forked from the fork server, the least
    that writes a seal there, ending with ``os._exit`` as a child of a fork server does."""
    return defs.resolve_job_def("raw_job")


def local_data_io_manager() -> ProvenanceIOManager:
    """A ProvenanceIOManager with its data in the folder ``$PAIR_DATA_ROOT``, apart from the store (which may be down)."""
    return ProvenanceIOManager(data_root=os.environ["PAIR_DATA_ROOT"])


def materialize_raw(instance, io_manager: ProvenanceIOManager | None = None) -> None:  # noqa: ANN001 - a DagsterInstance
    """``raw`` materialized in this process into ``instance`` with ``io_manager`` (default: its data in
    ``$PAIR_DATA_ROOT``): the upstream asset of a job of a retried step alone, which then spends no step process (a new
    interpreter) on it."""
    from dagster import materialize

    materialize([raw], instance=instance, resources={"io_manager": io_manager or local_data_io_manager()})


def get_pair_job_with_local_data():
    """``pair_job`` with its data in the folder ``$PAIR_DATA_ROOT``, apart from the store (which may be down); ``raw``
    is materialized before (:func:`materialize_raw`)."""
    return Definitions(assets=[raw, pair], jobs=[pair_job],
                       resources={"io_manager": local_data_io_manager()}).resolve_job_def("pair_job")


def get_checked_job():
    """``raw`` with its check and ``counted`` as a multiprocess job."""
    return defs.resolve_job_def("checked_job")


@asset(retry_policy=RetryPolicy(max_retries=1))
def flaky(context):  # noqa: ANN001, ANN201 - Dagster refuses a string annotation of context
    """Attempt 0 fails before it loads or writes anything; its retry writes, then fails too."""
    if context.retry_number == 0:
        raise RuntimeError("flaky failed at once")
    yield Output(pd.DataFrame({"x": [context.retry_number]}))
    raise RuntimeError("flaky failed after its output")


def get_flaky_job():
    """``flaky`` as a multiprocess job (each attempt in a process of its own)."""
    job = define_asset_job("flaky_job", selection=["flaky"], executor_def=pair_job.executor_def)
    return Definitions(assets=[flaky], jobs=[job], resources={"io_manager": ProvenanceIOManager()}).resolve_job_def("flaky_job")


@asset(retry_policy=RetryPolicy(max_retries=2))
def retried_twice(context, raw: pd.DataFrame) -> pd.DataFrame:  # noqa: ANN001 - Dagster refuses a string annotation
    """Attempts 0 and 1 fail after loading ``raw``; attempt 2 writes."""
    if context.retry_number < 2:
        raise RuntimeError(f"retried_twice lost its connection in attempt {context.retry_number}")
    return raw.assign(k=context.retry_number)


def get_retried_twice_job():
    """``retried_twice`` alone as a multiprocess job (each attempt in a process of its own), with its data in the
    folder ``$PAIR_DATA_ROOT``, apart from the store: ``raw``, which it loads, is materialized before
    (:func:`materialize_raw`)."""
    job = define_asset_job("retried_twice_job", selection=["retried_twice"], executor_def=pair_job.executor_def)
    return Definitions(assets=[raw, retried_twice], jobs=[job],
                       resources={"io_manager": local_data_io_manager()}).resolve_job_def("retried_twice_job")


@asset(io_manager_key="elsewhere")
def kept_apart() -> pd.DataFrame:
    return pd.DataFrame({"x": [1]})


@asset_check(asset=kept_apart)
def kept_apart_bare() -> AssetCheckResult:  # loads nothing through tdprov
    return AssetCheckResult(passed=True)


def get_kept_apart_job():
    """``kept_apart``, kept by the IO manager ``elsewhere`` on the store ``$TDPROV_TEST_KEPT`` (signed with the key
    ``$TDPROV_TEST_KEPT_KEY``, when set), and its check that loads nothing, as a multiprocess job whose ``io_manager`` is
    on ``TDPROV_STORE``."""
    job = define_asset_job("kept_apart_job", executor_def=pair_job.executor_def)
    kept = ProvenanceIOManager(store=os.environ["TDPROV_TEST_KEPT"], signing_key=os.environ.get("TDPROV_TEST_KEPT_KEY"))
    return Definitions(assets=[kept_apart], asset_checks=[kept_apart_bare], jobs=[job], resources={
        "io_manager": ProvenanceIOManager(), "elsewhere": kept}).resolve_job_def("kept_apart_job")
