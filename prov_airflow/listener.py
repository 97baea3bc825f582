"""The provenance listener: task instance and DAG run state changes -> OpenLineage events -> bundles.

It never fails, hangs or noticeably slows a task: every hook is guarded, hashing is bounded in time and
size (``[tdprov] hash_timeout`` / ``max_bytes``), datasets that could not be hashed are recorded without a
digest and the run is marked partial, and an unreachable store sends the bundle to the outbox.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import hookimpl

from prov_common.bounded import keep_newest
from prov_common.errors import StoreError, TdprovError
from prov_common.hashing.shard_model import LocalState

from prov_airflow import naming
from prov_airflow.capture import DatasetCapture, Named, capture_all, capture_named, named_items, start_states
from prov_airflow.outlets import after_execute, alias_events, annotate, is_alias, triggering_inputs
from prov_airflow.provider_names import note_assets
from prov_airflow.refs import resolve_inlets, resolve_outlets
from prov_airflow.runinfo import RunInfo, dag_run_info, task_run_info
from prov_airflow.settings import ListenerLimits, conf_flag
from prov_airflow.times import end_time, start_time
from prov_airflow.unwritten import FAILED, OUTSIDE, SKIPPED, TryOutlets, declared, outlets_facets, remember, split_written

if TYPE_CHECKING:  # the OpenLineage client loads with the first event, not with the plugin
    from prov_common.lineage.datasets import DatasetRef

log = logging.getLogger(__name__)

KEPT_DAG_RUNS = 1024
"""How many started DAG runs' triggering inputs a process keeps for their end (the earliest started go first)."""


def try_started(task_instance: Any, now: float) -> float | None:
    """When the try of ``task_instance`` started, for telling the outlets it wrote (epoch seconds): the earlier of
    ``now`` and its ``start_date``; ``None`` (every outlet counts as written) for a try resumed after a deferral,
    whose start the listener of this process did not see."""
    server = getattr(task_instance, "_ti_context_from_server", None)  # the Task SDK's run context (Airflow 3)
    if getattr(task_instance, "next_method", None) or getattr(server, "next_method", None):
        return None
    start = getattr(task_instance, "start_date", None)
    return min(now, start.timestamp()) if isinstance(start, datetime) and start.tzinfo is not None else now

class ProvenanceListener:
    """Airflow listener recording inlets (hashed at start) and outlets (hashed at success) of every task run.

    Only the outlets a try wrote are its outputs (:mod:`prov_airflow.unwritten`): none when it fails or skips
    itself, and not one that is not there or that it left as it found it (what each local outlet and S3 object
    holds is noted when the try starts)."""

    def __init__(self) -> None:
        self._inputs: dict[str, list[DatasetCapture]] = {}
        self._outputs: dict[str, tuple[list[DatasetCapture], list[Any]]] = {}
        self._started: dict[str, float] = {}
        self._before: dict[str, dict[str, LocalState]] = {}  # run id -> what its outlets held at its start
        self._resolved_outlets: dict[str, list[Any]] = {}  # run id -> its outlets, resolved once a try
        # DAG run id -> its triggering inputs, read at its START (the last KEPT_DAG_RUNS started)
        self._triggering: OrderedDict[str, list[DatasetRef]] = OrderedDict()
        self._lock = threading.Lock()

    # -- task instances (in the task process; the scheduler and the API server call the terminal ones
    #    with the metadata DB's TaskInstance when they set its state) ------------------------------
    @hookimpl(tryfirst=True)
    def on_task_instance_running(self, previous_state: Any, task_instance: Any) -> None:
        self._guard(_of("task running", task_instance), self._task_running, task_instance)

    @hookimpl(tryfirst=True)
    def on_task_instance_success(self, previous_state: Any, task_instance: Any) -> None:
        self._guard(_of("task success", task_instance), self._task_finished, task_instance, None)

    @hookimpl(tryfirst=True)
    def on_task_instance_failed(self, previous_state: Any, task_instance: Any, error: Any = None) -> None:
        self._guard(_of("task failed", task_instance), self._task_finished, task_instance,
                    error if error is not None else "task failed")

    @hookimpl(tryfirst=True)
    def on_task_instance_skipped(self, previous_state: Any, task_instance: Any) -> None:
        """A task that skipped itself (``AirflowSkipException``, a soft-failed sensor) ends as COMPLETE, as the
        OpenLineage provider records it: the inputs it saw, no outputs (it wrote none it declared)."""
        self._guard(_of("task skipped", task_instance), self._task_finished, task_instance, None, False)

    @hookimpl
    def before_stopping(self, component: Any) -> None:
        """End of a task process (or of a component): wait, bounded, for pending deliveries, name what was staged for
        a run this process took for open that another process sealed since (``emitter.name_late_events``), and wait
        for the writes left in the background (what is left is spooled, named: ``delivery.finish``)."""
        try:
            from prov_airflow.delivery import finish
            from prov_airflow.settings import conf_number

            finish(conf_number("flush_timeout"))
        except Exception as exc:  # noqa: BLE001
            log.warning("tdprov: could not flush pending provenance (%s)", exc)

    # -- DAG runs (on the scheduler, or in the dag.test() process) ------------------------------
    @hookimpl(tryfirst=True)
    def on_dag_run_running(self, dag_run: Any, msg: str) -> None:
        self._guard(_of_dag_run("DAG run running", dag_run), self._dag_run, dag_run, "START", None)

    @hookimpl(tryfirst=True)
    def on_dag_run_success(self, dag_run: Any, msg: str) -> None:
        self._guard(_of_dag_run("DAG run success", dag_run), self._dag_run, dag_run, "COMPLETE", None)

    @hookimpl(tryfirst=True)
    def on_dag_run_failed(self, dag_run: Any, msg: str) -> None:
        self._guard(_of_dag_run("DAG run failed", dag_run), self._dag_run, dag_run, "FAIL", msg or "DAG run failed")

    # -- implementation ------------------------------------------------------------------------
    @staticmethod
    def _guard(what: str, func: Any, *args: Any) -> None:
        try:
            if not conf_flag("listener_enabled"):
                return
            func(*args)
        except Exception as exc:  # noqa: BLE001 - provenance must never fail a task
            problem, fix = _problem_and_fix(exc)
            log.warning("tdprov: could not record provenance on %s (%s); the %s is not affected. Fix: %s",
                        what, problem, "DAG run" if what.startswith("DAG run") else "task", fix,
                        exc_info=log.isEnabledFor(logging.DEBUG))

    def _task_running(self, task_instance: Any) -> None:
        started = try_started(task_instance, time.time())  # the clock of this host, which stamps the files the try writes here
        info, task = task_run_info(task_instance)
        outlets, inlets = _outlets(task), _inlets(task)
        limits = ListenerLimits.from_conf()
        deadline = time.monotonic() + limits.timeout  # one budget: what the outlets hold, then the inlets' hashing
        before = start_states(outlets, limits, limits.timeout) if started is not None else None
        named_inlets = named_items(inlets)  # named once: hashed here, and noted below
        inputs = capture_named(named_inlets, limits, _options(task), seconds_left=deadline - time.monotonic())
        with self._lock:
            self._inputs[info.run_id] = inputs
            self._resolved_outlets[info.run_id] = outlets
            if started is not None:
                self._started.setdefault(info.run_id, started)  # a rescheduled sensor starts again: its first start
            if before is not None:
                self._before.setdefault(info.run_id, before)
        after_execute(task, lambda context: self._outlets_written(info, task, context))
        companion = naming.provider_feeds_bundles()  # the provider's own START then opens the run
        if companion:  # its events name an Asset or a File as it does: noted before its hooks run (provider_names)
            _note_provider_names(info.run_id, named_inlets + _named(outlets), "its declared inlets and outlets")
        self._emit(info, "RUNNING" if companion else "START", inputs, [], None, task, background=not companion,
                   event_time=None if companion else start_time(task_instance))

    def _task_finished(self, task_instance: Any, error: Any, wrote_outlets: bool = True) -> None:
        """Seal the task try: FAIL with ``error``, else COMPLETE, with its outlets when ``wrote_outlets``."""
        info, task = task_run_info(task_instance)
        if task is None:
            self._state_set_outside(info, error, end_time(task_instance))
            return
        with self._lock:
            inputs = self._inputs.pop(info.run_id, None)
            hashed = self._outputs.pop(info.run_id, None)
            started = self._started.pop(info.run_id, None)
            before = self._before.pop(info.run_id, None)
            outlets = self._resolved_outlets.pop(info.run_id, None)
        if inputs is None:  # the running hook ran in another process (or not at all): hash inputs now
            inputs = capture_all(_inlets(task), ListenerLimits.from_conf(), _options(task))
        outputs: list[DatasetCapture] = []
        outlets = _outlets(task) if outlets is None else outlets
        if error is None and wrote_outlets:
            outputs, not_written = hashed if hashed is not None else self._written(task, _named(outlets), started, before)
            if any(c.snapshot for c in outputs):
                outputs = self._snapshots(info, outputs)
            outcome = TryOutlets(tuple(not_written))
        else:
            reason = FAILED if error is not None else SKIPPED
            outcome = TryOutlets(tuple(declared(outlets, reason)), reason)
        if naming.provider_feeds_bundles():
            # The provider sends the terminal event, which seals the bundle; ours is staged just before it.
            remember(info.run_id, outcome)
            self._emit(info, "RUNNING", inputs, outputs, None, task, not_written=list(outcome.not_written))
        else:
            self._emit(info, "COMPLETE" if error is None else "FAIL", inputs, outputs, error, task, background=True,
                       not_written=list(outcome.not_written), event_time=end_time(task_instance))

    @staticmethod
    def _written(task: Any, outlets: list[Named], started: float | None,
                 before: dict[str, LocalState] | None) -> tuple[list[DatasetCapture], list[Any]]:
        """Hash ``outlets`` (:func:`_named`): those the try wrote, and those it did not (``before``: what the local
        ones held when it ``started``)."""
        return split_written(capture_named(outlets, ListenerLimits.from_conf(), _options(task), stamp=True), started,
                             before)

    @staticmethod
    def _snapshots(info: RunInfo, outputs: list[DatasetCapture]) -> list[DatasetCapture]:
        """``outputs``, each asking for a snapshot with the copy kept for it (:func:`~prov_airflow.rows.snapshot_outlets`).
        A store that cannot be used (its setting cannot be opened, it cannot be reached) keeps none: a warning names the
        run, the store's error and its fix, and the try's event still goes to the transport (kept in its outbox)."""
        from prov_airflow.emitter import listener_transport
        from prov_airflow.rows import snapshot_outlets
        from prov_common.store.errors import store_read

        transport = listener_transport()
        store, error = store_read(lambda: transport.store, transport.config.where_store_is_set())
        if store is None:
            log.warning("tdprov: no snapshot of the outlets of run %s of %s was kept (%s); the task is not affected and "
                        "its events go to the outbox", info.run_id, info.job_name, error)
            return outputs
        return snapshot_outlets(outputs, store, ListenerLimits.from_conf())

    def _state_set_outside(self, info: RunInfo, error: Any, ended: datetime) -> None:
        """The scheduler (a worker that stopped heartbeating) or the API server (a state set in the UI or API)
        ended the try (at ``ended``): seal what its task process staged with that state. Nothing is hashed here, as
        the task's data may not be reachable from this process; a try that never started or is sealed already is
        left as it is (an event after its seal would be in no bundle)."""
        if naming.provider_feeds_bundles():
            remember(info.run_id, TryOutlets(wrote_nothing_because=OUTSIDE))  # for the provider's terminal event
            return  # the provider's own terminal event seals the run
        self._emit(info, "COMPLETE" if error is None else "FAIL", [], [], error, None, background=True,
                   open_runs_only=True, event_time=ended)

    def _outlets_written(self, info: RunInfo, task: Any, context: Any) -> None:
        """After ``execute``: hash the outlets once (the declared ones and those the task added through an
        ``AssetAlias``), and put digest and bundle URI in the asset events of those the try wrote. Beside the
        OpenLineage provider, the provider's names of the assets added through an alias are noted too
        (:func:`_note_provider_names`: a failure there is a warning), as those of the declared ones were at the start."""
        from prov_airflow.links import bundle_of_run

        with self._lock:
            started = self._started.get(info.run_id)
            before = self._before.get(info.run_id)
            outlets = self._resolved_outlets.get(info.run_id)
        outlets = _outlets(task) if outlets is None else outlets  # resolved when the try started, in this process
        aliased = alias_events(context["outlet_events"])
        added = [asset for asset, _ in aliased]
        named = _named(outlets + added)  # once, for the hashing, the provider's names and the asset events
        if added and naming.provider_feeds_bundles():  # its COMPLETE names them too, as it names an Asset
            added_ids = {id(asset) for asset in added}
            _note_provider_names(info.run_id, [n for n in named if id(n.item) in added_ids],
                                 "the assets it added through an AssetAlias")
        outputs, not_written = self._written(task, named, started, before)
        with self._lock:
            self._outputs[info.run_id] = (outputs, not_written)
        annotate(context["outlet_events"], outlets, aliased, named, outputs, bundle_of_run(info.run_id), info.run_id)

    def _dag_run(self, dag_run: Any, event_type: str, error: Any) -> None:
        """Record the DAG run's state change, its inputs the versions whose asset events triggered it
        (:func:`~prov_airflow.outlets.triggering_inputs`); none for a run sealed already (a state set in the UI or API
        after it ended: an event after its seal would be in no bundle), unless the sealed bundle is of another DAG run
        at its logical date (given the same run id): this one's events are then kept staged and named as another
        run's (:func:`~prov_airflow.emitter.run_is_sealed`). They are read from the metadata DB at its
        START and kept for its end (:meth:`_triggers_of`)."""
        if naming.provider_feeds_bundles():
            return  # the provider records DAG runs itself
        from prov_airflow.emitter import listener_transport, run_is_sealed

        info = dag_run_info(dag_run)
        with self._lock:
            kept = self._triggering.pop(info.run_id, None)  # a START reads them again; an end takes them
        if run_is_sealed(listener_transport(), info.run_id, info.dag_run):
            log.info("tdprov: DAG run %s of %s is sealed already; its %s is not recorded", info.run_id, info.job_name,
                     event_type)
            return
        started = event_type == "START"
        self._emit(info, event_type, [], [], error, None, triggers=self._triggers_of(dag_run, info, started, kept),
                   event_time=start_time(dag_run) if started else end_time(dag_run))

    def _triggers_of(self, dag_run: Any, info: RunInfo, started: bool, kept: list[DatasetRef] | None
                     ) -> list[DatasetRef]:
        """The triggering inputs of ``dag_run`` (:func:`_triggers`): ``kept`` from its START when this process saw it,
        else read; those read at its START (``started``) are kept for its end, for the last :data:`KEPT_DAG_RUNS` DAG
        runs started (one whose end another process sees is not kept longer)."""
        if kept is not None and not started:
            return kept
        triggers = _triggers(dag_run, info)
        if triggers is None:
            return []
        if started:
            with self._lock:
                keep_newest(self._triggering, info.run_id, triggers, KEPT_DAG_RUNS)  # the earliest started let go
        return triggers

    @staticmethod
    def _emit(info: RunInfo, event_type: str, inputs: list[DatasetCapture], outputs: list[DatasetCapture],
              error: Any, task: Any, *, background: bool = False, open_runs_only: bool = False,
              not_written: list[Any] | None = None, event_time: datetime | None = None,
              triggers: list[DatasetRef] | None = None) -> None:
        """Build the event now (hashes are taken already), at ``event_time`` (None: now; START and the terminal
        event: the times Airflow recorded, :mod:`prov_airflow.times`); deliver it now, or in the background.
        ``not_written``: declared outlets the try did not write (the ``tdprov_outlets`` facet); ``triggers``: the
        versions that triggered a DAG run, recorded as its inputs.

        Background delivery keeps staging and sealing off the task's path; it is drained when the task
        process stops. Beside the OpenLineage provider, delivery is immediate: our event must be staged
        before the provider's terminal event seals the bundle. ``open_runs_only``: deliver only if the
        run staged events and is not sealed yet.
        """
        from prov_airflow.emitter import emit, listener_transport, run_is_open
        from prov_airflow.events import build_event, capture_ref, merge_refs
        from prov_airflow.lineage import lineage_of
        from prov_airflow.rows import attach_row_sets

        extra = lineage_of(task)
        attachments = extra.attachments.copy()
        inputs, outputs = attach_row_sets(attachments, inputs), attach_row_sets(attachments, outputs)
        partial = any(not c.complete for c in (*inputs, *outputs))
        event = build_event(
            info, event_type,
            merge_refs([capture_ref(c) for c in inputs], [*extra.inputs, *(triggers or [])]),
            merge_refs([capture_ref(c) for c in outputs], extra.outputs),
            error, partial=partial, run_facets={**extra.run_facets, **outlets_facets(not_written or [])} or None,
            event_time=event_time)
        if not background:
            emit(event, attachments)
            return
        from prov_airflow.delivery import DELIVERY

        transport = listener_transport()  # resolved now: the task's configuration and connections

        def deliver() -> None:
            if open_runs_only and not run_is_open(transport, info.run_id):
                log.info("tdprov: run %s of %s did not start or is sealed already; its %s is not recorded",
                         info.run_id, info.job_name, event_type)
                return
            emit(event, attachments, transport=transport)

        DELIVERY.submit(f"{event_type} event of run {info.run_id} ({info.job_name})", deliver)


def _of(what: str, task_instance: Any) -> str:
    """``what`` and the task instance try it concerns, for a log line: its task, DAG run, map index and try."""
    index = getattr(task_instance, "map_index", -1)
    mapped = f", map index {index}" if isinstance(index, int) and index >= 0 else ""
    return (f"{what} of {getattr(task_instance, 'dag_id', '?')}.{getattr(task_instance, 'task_id', '?')} (DAG run "
            f"{getattr(task_instance, 'run_id', '?')}{mapped}, try {getattr(task_instance, 'try_number', '?')})")


def _of_dag_run(what: str, dag_run: Any) -> str:
    """``what`` and the DAG run it concerns, for a log line."""
    return f"{what} of {getattr(dag_run, 'dag_id', '?')} (DAG run {getattr(dag_run, 'run_id', '?')})"


STORE_FIX = "check [tdprov] store (or the [tdprov] conn_id connection) and the messages above."
UNEXPECTED_FIX = ("this is an error in tdprov's listener, not in the configuration: report it with its traceback "
                  "(logged at DEBUG level); 'tdprov audit' names the run if it was left unsealed.")


def _problem_and_fix(exc: Exception) -> tuple[str, str]:
    """What went wrong in a hook and what to do: tdprov's own errors carry their fix (a store error without one
    points at the store settings); any other error is a defect of the listener, not of the user's settings."""
    if isinstance(exc, TdprovError):
        return f"{type(exc).__name__}: {exc.what}", exc.fix or (STORE_FIX if isinstance(exc, StoreError)
                                                              else "correct what the message names.")
    return f"{type(exc).__name__}: {exc}", UNEXPECTED_FIX


def _named(outlets: list[Any]) -> list[Named]:
    """The datasets ``outlets`` name (:func:`~prov_airflow.capture.named_items`), an alias left out: its assets come
    with its events (:func:`~prov_airflow.outlets.alias_events`)."""
    return named_items([item for item in outlets if not is_alias(item)])


def _triggers(dag_run: Any, info: RunInfo) -> list[DatasetRef] | None:
    """:func:`~prov_airflow.outlets.triggering_inputs` of ``dag_run``; when they cannot be read (the metadata DB), one
    warning, and ``None``: the DAG run is recorded without them."""
    try:
        return triggering_inputs(dag_run)
    except Exception as exc:  # noqa: BLE001 - the DAG run's own record must not be lost with them
        log.warning("tdprov: could not read the asset events that triggered DAG run %s of %s (%s: %s); it is recorded "
                    "without the versions that triggered it as inputs", info.run_id, info.job_name, type(exc).__name__,
                    exc)
        return None


def _inlets(task: Any) -> list[Any]:
    """The inlets of ``task``, each reference and alias resolved to its assets (:func:`~prov_airflow.refs.resolve_inlets`)."""
    return resolve_inlets(list(getattr(task, "inlets", None) or []))


def _note_provider_names(run_id: str, items: list[Named], which: str) -> None:
    """:func:`~prov_airflow.provider_names.note_assets` for the try ``run_id``; a failure there (the provider's
    translation of an ``Asset`` or a ``File`` raising) is one warning, so the try's inputs and outputs are still hashed
    and recorded (``which``: what ``items`` are, for the warning)."""
    try:
        note_assets(run_id, items)
    except Exception as exc:  # noqa: BLE001 - provenance must never fail a task nor drop what it hashed
        log.warning("tdprov: could not note the OpenLineage provider's names of %s of try %s (%s: %s); its inputs and "
                    "outputs are recorded as tdprov names them, and a dataset the provider names otherwise may be "
                    "listed twice in its bundle, the provider's entry without a version", which, run_id,
                    type(exc).__name__, exc)


def _outlets(task: Any) -> list[Any]:
    """The outlets of ``task``, each reference by name resolved to its asset (:func:`~prov_airflow.refs.resolve_outlets`)."""
    return resolve_outlets(list(getattr(task, "outlets", None) or []))


def _options(task: Any) -> Any:
    """Per-dataset options (granularity, snapshot) of ``task``'s inlets and outlets."""
    from prov_airflow.emitter import listener_snapshot
    from prov_airflow.rows import options_for

    store_snapshot = listener_snapshot()
    return lambda item: options_for(item, task, store_snapshot)


_LISTENER: ProvenanceListener | None = None


def get_listener() -> ProvenanceListener:
    """The process-wide listener instance registered by the plugin."""
    global _LISTENER
    if _LISTENER is None:
        _LISTENER = ProvenanceListener()
    return _LISTENER
