"""Sensors: failed runs become FAIL bundles, canceled runs ABORT bundles; new bundles in the store trigger the audit.

Each sensor's Dagster name is its name here, and all are running as soon as the code location loads.
"""

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cache
from itertools import product
from typing import Any

from dagster import (
    DefaultSensorStatus,
    DagsterRunStatus,
    RunRequest,
    RunsFilter,
    RunStatusSensorContext,
    SensorEvaluationContext,
    SkipReason,
    run_status_sensor,
    sensor,
)
from dagster._core.execution.stats import StepEventStatus
from dagster._core.storage.dagster_run import FINISHED_STATUSES

from prov_common.bundle import IndexWatch, watch_index
from prov_common.bundle.watch import missing_store
from prov_common.errors import BadInputError, StoreError, StoreUnavailableError, TdprovError
from prov_common.store import open_store
from prov_common.text import counted
from prov_dagster._compat import (defined_assets, defined_configs, job_resource_defs, planned_step_job, planned_steps,
                                  reexecution, resource_configs)
from prov_dagster.audit import AUDIT_JOB_NAME, provenance_audit_job
from prov_dagster.check_results import RunEvents
from prov_dagster.config import UnreadNamespaceError, namespaces_in, run_namespace
from prov_dagster.model import Staging, StepIdentity
from prov_dagster.naming import mapped_step, namespace_uri
from prov_dagster.recorder import (AFTER_RUN, CLOSED, CLOSING_TAG, LEFT, SENSOR_SEALS, Recorder,
                                   StepRun, launched_settings, recorder_for, recorder_for_namespace, retried_error)
from prov_dagster.resource import ProvenanceResource
from prov_dagster.step_times import run_ended
from prov_dagster.transport import store_uri
from prov_dagster.steps import MadeUpCheck, check_step_recorder, recorded_namespaces, step_outcomes

MAX_BUNDLES_PER_TICK = 10_000
MAX_LEFT_PER_TICK = 100  # runs left unclosed that one tick of provenance_store_sensor tries again
REASONS = {"FAIL": "the Dagster run failed", "ABORT": "the Dagster run was canceled"}
UNANSWERED_SECONDS = 60.0  # as long as Dagster lets a sensor's evaluation take (DAGSTER_SENSOR_GRPC_TIMEOUT_SECONDS)
_unanswered: dict[str, tuple[float, StoreError]] = {}  # store (URI) -> when a closing's call to it failed, and why: the
# closings of this process that remember it skip that store for UNANSWERED_SECONDS (close_or_leave's ``remembered``)
log = logging.getLogger(__name__)


def close_failed_run(
    instance: Any, dagster_run: Any, provenance: ProvenanceResource, reason: str, *, state: str = "FAIL",
    namespaces: str | Iterable[str] = (), ready: Callable[[str], None] = lambda _: None, repository_def: Any = None,
    resources: Sequence[tuple[type, Mapping[str, Any]]] | None = None,
) -> list[str]:
    """Emit FAIL (``state="ABORT"``: ABORT, OpenLineage's state for a stopped run, e.g. a canceled one)
    for every step of ``dagster_run`` that started and did not succeed; returns the bundle locations.

    The terminal event joins the events the step already staged (the inputs it loaded, the outputs it
    wrote), so the step's bundle records what it read and wrote even though it crashed. Steps whose bundle is already
    sealed (e.g. a Pandera failure under the ``fail`` policy) are left alone. Each run is stamped as Dagster recorded
    the step: START when it started, the terminal event when it ended (a step with no end: when the Dagster run ended;
    a run with no end either: now); a run whose terminal event an earlier call staged and could not seal is sealed with
    it, never given a second one. Raises :class:`~prov_common.errors.StoreUnavailableError` when a store stopped
    answering as the runs were sealed: a run ended here that was neither sealed nor spooled whole (its staged events
    could not be read) waits, staged or spooled, for a later call.

    A step is a run of each namespace's job it records in: it is closed in each namespace where it staged events, in
    ``provenance``'s store: ``provenance``'s own, each one its outputs' metadata names (``tdprov/namespace``) and each
    of ``namespaces`` (a name or URI, or several; the sensors give the namespaces of their code location's provenance
    IO managers and resources: a step killed after a read staged a START that no output names). No run is made up in
    a namespace the step did not record in; a step that recorded in none (it failed before it loaded or wrote
    anything through tdprov) is a START and a FAIL of its own in ``provenance``'s namespace; a check step that loaded
    nothing, as the teardown records it (:func:`~prov_dagster.steps.check_step_recorder`: in the store of the version it
    checked, that version its input, its checks' results on it). An earlier attempt (one
    Dagster retried) whose run is still staged in one of those namespaces, where its retry recorded nothing, is
    sealed with a FAIL when Dagster recorded its end, whatever its step's last attempt did.

    Each run is of the job its step ran as (:func:`~prov_dagster.naming.step_job`), named from the run's execution
    plan or, when the plan cannot be read, from the job the run's staged events name; a run with none (made up) is
    then named by its step key (a mapped op's step by the op's: ``work`` for ``work[a]``), with a warning. The step
    of an op named after none of its assets' keys in a run that selected some of them is named by all its op's keys,
    read from its code location's ``repository_def`` (the plan gives the others none); without them, by the job its
    staged events name, else by the keys the run selected, with a warning.

    ``resources``: the code location's top-level resources as ``dagster_run`` was launched with them
    (:func:`~prov_dagster._compat.resource_configs`, read once by a caller that took ``namespaces`` from them too);
    default: read from ``repository_def`` when a check's run made up here needs the key of one's store.

    ``ready`` is called with a store's URI (:func:`~prov_dagster.transport.store_uri`) before the calls to it here,
    ``provenance``'s and each checked version's (a sensor raises there to skip a store that did not answer a moment
    ago); a :class:`~prov_common.errors.StoreError` from a checked version's store names it in ``store``.
    """
    recorder = recorder_for(provenance)
    ready(store_uri(recorder.settings.store))
    recorder.transport().store  # noqa: B018 - the store the recorder seals into, opened now (its errors are the sensor's)
    bundles, used = [], {recorder.namespace: recorder}
    ended_runs: list[StepRun] = []  # the runs ended here, each to be sealed (or spooled whole) before this returns
    apart: dict[int, Recorder] = {}  # recorders on the stores of versions that check steps recorded nowhere checked
    run_end = cache(lambda: run_ended(instance, dagster_run.run_id))  # asked only for a step with no end
    plan = cache(lambda: planned_steps(instance, dagster_run))  # read once, for the first step to close
    assets_defs = cache(lambda: defined_assets(repository_def))  # for a step of an op the run selected some keys of
    recorded = recorded_namespaces(instance, dagster_run.run_id)
    run_names_in = cache(lambda: run_namespace(defined_configs(job_resource_defs(repository_def, dagster_run.job_name),
                                                               dagster_run), required=True))  # as its steps named it
    events = RunEvents(instance, dagster_run.run_id)  # its check events read once, for the first step made up
    launched = cache(lambda: launched_settings(resource_configs(repository_def, dagster_run) if resources is None
                                               else resources))  # for a check made up
    everywhere = set(map(namespace_uri, (namespaces,) if isinstance(namespaces, str) else namespaces))

    def closer(namespace: str) -> Recorder:  # the process's recorder of ``namespace`` in the recorder's store
        return used.setdefault(namespace, recorder_for_namespace(recorder.settings, namespace))

    def end(run: StepRun, error: str, at: datetime | None, staging: Staging | None) -> str:
        """End ``run`` (``staging``: what is staged for it, None: nothing) with ``state``; one whose end an earlier
        closing staged (the store stopped answering before the seal) is sealed with it, so a run closed again has one
        end."""
        ended_runs.append(run)
        # a seal the store failed: the run is tagged for provenance_store_sensor (close_or_leave); another error is not
        if staging is not None and run.recorder.staged_end(run.identity, staging):
            return run.seal_staged(SENSOR_SEALS)
        ender = run.abort if state == "ABORT" else run.fail
        return ender(error=error, at=at, words=SENSOR_SEALS)

    @contextmanager
    def on(owner: Recorder) -> Iterator[None]:  # calls to ``owner``'s store: ready first, its errors naming it
        uri = store_uri(owner.settings.store)
        ready(uri)
        try:
            yield
        except StoreError as exc:
            exc.store = exc.store or uri
            raise

    def named(identity: StepIdentity, staging: Staging | None) -> StepIdentity:
        """``identity`` with the job it ran as, when the plan could not name it, and its Dagster run in the namespace
        its staged events name it in, as its step's process did (``staging``: what is staged for it)."""
        if staging is not None and (run_in := closer(identity.namespace).staged_parent_namespace(identity, staging)):
            identity = replace(identity, run_namespace=run_in)
        if identity.job is not None:
            return identity
        job = closer(identity.namespace).staged_job(identity, staging)
        if job is None and plan():  # planned: of an op the run selected some keys of, which the definitions do not name
            job = planned_step_job(plan(), identity.step_key, dagster_run.job_name, selected=True)
            log.warning("tdprov: Dagster run %s selected some of the assets of the op of step %s, the code location's "
                        "definitions name none of its keys and no staged event names its job: its run %s is named by "
                        "the assets the run selected, %s, which is another job than the step's if the first of its "
                        "op's keys in order was not selected", dagster_run.run_id, identity.step_key,
                        identity.ol_run_id, job)
        if job is None:  # a mapped op's step (work[a]) as the op's (work): mapping keys make runs, never jobs
            job = mapped_step(identity.step_key)[0]
            named_by = "step key" if identity.mapping_key is None else f"op's step key (mapping key {identity.mapping_key})"
            log.warning("tdprov: the execution plan of Dagster run %s cannot be read and no staged event of step %s names "
                        "its job: its run %s is named by its %s, %s, which is not the job it ran as if the step is an "
                        "op of an op job (job:<Dagster job name>:<step key>), of a graph-backed asset or an asset check",
                        dagster_run.run_id, identity.step_key, identity.ol_run_id, named_by, job)
        return replace(identity, job=job)

    for step_key, outcome in step_outcomes(instance, dagster_run.run_id, events=events).items():
        unfinished = outcome.status in (StepEventStatus.FAILURE, StepEventStatus.IN_PROGRESS, None)
        if not unfinished and not outcome.earlier:
            continue
        attempt = StepIdentity(dagster_run.run_id, dagster_run.job_name, step_key, outcome.attempt,  # job None: not planned
                               job=planned_step_job(plan(), step_key, dagster_run.job_name, assets_defs) if plan()
                               else None,
                               run_namespace=run_names_in(),
                               **reexecution(dagster_run))
        namespaces = sorted({recorder.namespace, *everywhere, *recorded.get(step_key, ())})
        for namespace, (number, (_, ended)) in product(namespaces, enumerate(outcome.earlier)):
            earlier = replace(attempt, attempt=number, namespace=namespace)  # Dagster retried it; the retry left it
            if recorder.sealed(earlier) or (staging := closer(namespace).staging(earlier)) is None:
                continue  # sealed, or not staged in a namespace the retry skipped
            # open here (its retry's FAIL could not be delivered): ended as that FAIL, the run's one end
            failed = (closer(namespace).open_run(earlier)
                      or StepRun(closer(namespace), named(earlier, staging), started=True, staged=True))
            bundles.append(end(failed, retried_error(step_key, number, number + 1), ended or run_end(), staging))
        if not unfinished:
            continue
        open_runs: list[tuple[StepIdentity, Staging]] = []  # each with what one listing found staged for it
        recorded_somewhere = False
        for namespace in namespaces:
            identity = replace(attempt, namespace=namespace)
            if recorder.sealed(identity):
                recorded_somewhere = True
            elif (staging := closer(namespace).staging(identity)) is not None:  # its START, staged by the step's process
                open_runs.append((identity, staging))
        ending: list[tuple[Recorder, StepIdentity, Staging | None]] = [
            (closer(identity.namespace), identity, staging) for identity, staging in open_runs]
        checked = MadeUpCheck(recorder)
        if not open_runs and not recorded_somewhere:  # recorded nowhere: a START now, when Dagster started the step
            checked = check_step_recorder(recorder, events, dagster_run, step_key, outcome, reason, stopped=state == "ABORT",
                                          launched=launched())
            maker = checked.recorder
            made = replace(attempt, namespace=maker.namespace)
            if maker is not recorder:  # a check step: in the store of the version it checked, unless a teardown sealed it
                apart[id(maker)] = maker
            with on(maker):
                ending = [] if maker is not recorder and maker.sealed(made) else [(maker, made, None)]
        made_up = not open_runs
        for owner, identity, staging in ending:
            with on(owner):
                step = owner.step(named(identity, staging), elsewhere=lambda: namespaces)
                if not step.started:
                    step.started, step.started_at = not made_up, outcome.started_at
                # its START staged by the step's process: a strict end that fails names the run left staged
                step.staged = step.staged or staging is not None
                if made_up:  # a check step's: the versions it checked and its checks' results, as the teardown records them
                    step.inputs.extend(checked.inputs)
                    step.checks = list(checked.checks)
                bundles.append(end(step, outcome.error or reason, outcome.ended_at or run_end(), staging))
    for each in [*used.values(), *apart.values()]:
        each.wait()
    unsealed = [run for run in ended_runs if run.recorder.unsealed(run.ol_run_id)]
    for run in unsealed:  # a store that stopped answering as they were sealed (the transport's warning names it)
        run.recorder.reopen(run)  # the next call ends the same run again
    if unsealed:
        error = StoreUnavailableError(
            f"{counted(len(unsealed), 'run')} of its steps could not be sealed now: "
            f"{', '.join(f'{r.ol_run_id} (step {r.identity.step_key})' for r in unsealed)}.",
            fix="check that the store is reachable (the warning before names it)")
        error.store = store_uri(unsealed[0].recorder.settings.store)
        raise error
    return bundles


@dataclass(frozen=True)
class Closing:
    """What :func:`close_or_leave` did with a Dagster run: closed it (``left`` None), sealing ``bundles`` (their
    locations), or left it, tagged ``tdprov/closing=left`` with a warning, for ``left``: the
    :class:`~prov_common.errors.StoreError` of a store that did not answer, or the
    :class:`~prov_dagster.config.UnreadNamespaceError` of a namespace whose variable is unset in this process."""

    bundles: list[str] = field(default_factory=list)
    left: StoreError | UnreadNamespaceError | None = None

    @property
    def unanswered(self) -> bool:
        """Whether the run was left because a store it needs did not answer (a later call may close it)."""
        return isinstance(self.left, StoreError)


def close_or_leave(instance: Any, dagster_run: Any, provenance: ProvenanceResource, *, state: str, sensor_name: str,
                   repository_def: Any = None, remembered: bool = True) -> Closing:
    """:func:`close_failed_run` for a run-status sensor (``state``: FAIL or ABORT): the bundles sealed, or why the run
    was left (:class:`Closing`). It is left when a store it needs cannot be read or written (S3 that does not answer:
    each call is bounded by ``TDPROV_STORE_CONNECT_TIMEOUT``, ``TDPROV_STORE_READ_TIMEOUT`` and
    ``TDPROV_STORE_MAX_ATTEMPTS``, and the first that fails ends the closing). Dagster
    moves its run-status sensors past a run whatever they did, so such a run is tagged ``tdprov/closing=left`` with a
    warning naming the store and the fix, and :func:`close_left_runs` closes it at a later tick; its steps' staged
    events stay where they are, and the steps closed before the store stopped answering are not closed twice.
    ``remembered``: for :data:`UNANSWERED_SECONDS` after a closing's call to a store failed, a run that needs that
    store is left at once as the closing comes to it (one tick closing many runs waits for one failing call, not one
    per run; runs that need only other stores are closed). A run of a job whose provenance IO manager or resource has
    its namespace from an ``EnvVar`` that is unset in this process is left so too, with a warning naming the variable
    (:class:`~prov_dagster.config.UnreadNamespaceError`): its steps' runs are of the job of the namespace they read,
    which no default may stand for, so a process that has the variable closes it. Strict settings: tagged, then
    raised."""
    settings = provenance.settings()

    def ready(store: str) -> None:  # raises _Remembered for a store that did not answer a moment ago
        failed = _unanswered.get(store) if remembered else None
        if failed is not None and time.monotonic() - failed[0] < UNANSWERED_SECONDS:
            raise _Remembered(*failed)

    # the code location's top-level resources as the run was launched with them, read once: the namespaces of its
    # provenance IO managers and resources (one set by an EnvVar read from this environment; unset, the run is left:
    # UnreadNamespaceError) are closed, and a check's run made up in one's store is signed with its key
    resources = resource_configs(repository_def, dagster_run)
    try:
        bundles = close_failed_run(instance, dagster_run, provenance, REASONS[state], state=state,
                                   namespaces=namespaces_in(resources, required=True), ready=ready,
                                   repository_def=repository_def, resources=resources)
    except UnreadNamespaceError as exc:
        _leave(instance, dagster_run, sensor_name, exc, settings.strict,
               later="its first tick in a process where that variable is set")
        return Closing(left=exc)
    except _Remembered as skipped:
        _leave(instance, dagster_run, sensor_name, skipped.error, settings.strict,
               f" (found {time.monotonic() - skipped.at:.0f} s ago, for an earlier run; not tried again before "
               f"{UNANSWERED_SECONDS:.0f} s)")
        return Closing(left=skipped.error)
    except StoreError as exc:
        _unanswered[exc.store or store_uri(settings.store)] = (time.monotonic(), exc)
        _leave(instance, dagster_run, sensor_name, exc, settings.strict)
        return Closing(left=exc)
    _unanswered.pop(store_uri(settings.store), None)
    if dagster_run.tags.get(CLOSING_TAG) in (LEFT, AFTER_RUN):
        instance.add_run_tags(dagster_run.run_id, {CLOSING_TAG: CLOSED})
    return Closing(bundles)


class _Remembered(Exception):  # noqa: N818 - not an error: a store skipped for its failure a moment ago
    """A store a closing skips: its call failed at ``at`` (``time.monotonic()``) with ``error``."""

    def __init__(self, at: float, error: StoreError) -> None:
        super().__init__(error.what)
        self.at, self.error = at, error


def _leave(instance: Any, dagster_run: Any, sensor_name: str, exc: TdprovError, strict: bool, when: str = "",
           later: str = "its first tick once the store answers") -> None:
    """Tag ``dagster_run`` as left unclosed (``exc``: why, naming the store or the variable) and say so, with the fix
    and when provenance_store_sensor closes it (``later``); strict: raise."""
    instance.add_run_tags(dagster_run.run_id, {CLOSING_TAG: LEFT})
    log.warning("tdprov: %s could not close Dagster run %s: %s%s Its steps that are not closed are left as they are "
                "(what they staged stays in the store or the spool), and the run is tagged %s=%s: "
                "provenance_store_sensor closes them at %s. Fix: %s",
                sensor_name, dagster_run.run_id, exc.what, when, CLOSING_TAG, LEFT, later,
                exc.fix or "check that the store is reachable")
    if strict:
        raise exc


def close_left_runs(instance: Any, provenance: ProvenanceResource, *, location: str | None = None,
                    repository: str | None = None, repository_def: Any = None) -> int:
    """Close the runs a run-status sensor left (:func:`close_or_leave`), and those a retry left once they ended (an
    earlier attempt it could not close, ``tdprov/closing=after-run``: :meth:`~prov_dagster.recorder.Recorder.step`), of
    code location ``location`` and repository ``repository``, at most :data:`MAX_LEFT_PER_TICK`; stops at the first
    whose store still does not answer to its own closing (:attr:`Closing.unanswered`: the others wait for the next
    tick; a store another closing of this process found down meanwhile stops nothing here), and passes over one whose
    namespace variable is unset here (left again, with a warning). A run is matched as Dagster matches the runs of a
    run-status sensor (:func:`left_here`). Returns how many were closed."""
    closed = 0
    ended = RunsFilter(tags={CLOSING_TAG: AFTER_RUN}, statuses=FINISHED_STATUSES)  # asked of the instance: runs that never
    # end (killed, reported failed by nothing) would fill the limit and keep ended ones out for good
    left = [*instance.get_runs(filters=RunsFilter(tags={CLOSING_TAG: LEFT}), limit=MAX_LEFT_PER_TICK),
            *instance.get_runs(filters=ended, limit=MAX_LEFT_PER_TICK)]  # a retry left an earlier attempt: once the run ended
    for run in left[:MAX_LEFT_PER_TICK]:
        if not left_here(run, location, repository):
            continue  # another code location's sensors close it, with their resources
        state = "ABORT" if run.status == DagsterRunStatus.CANCELED else "FAIL"
        closing = close_or_leave(instance, run, provenance, state=state, sensor_name="provenance_store_sensor",
                                 repository_def=repository_def, remembered=False)
        if closing.unanswered:  # a store did not answer: the others wait too
            break
        if closing.left is not None:
            continue  # its namespace variable is unset here: left again, for a process that has it
        closed += 1
    return closed


def left_here(dagster_run: Any, location: str | None, repository: str | None) -> bool:
    """Whether ``dagster_run`` is a run the run-status sensors of code location ``location`` and repository
    ``repository`` close (both None: sensors evaluated outside any code location, as in a test): one launched from that
    repository; one launched in process (``materialize``, ``execute_job``: no origin) only by sensors outside any code
    location, as Dagster gives it to no code location's run-status sensor (each store sensor would have closed it with
    its own resources)."""
    origin = dagster_run.remote_job_origin
    if origin is None:
        return location is None and repository is None
    return (origin.repository_origin.code_location_origin.location_name, origin.repository_origin.repository_name) == (
        location, repository)


def _run_closer(status: DagsterRunStatus, name: str, state: str) -> Any:
    @run_status_sensor(
        run_status=status,
        name=name,
        description=f"Turns {status.value.lower()} runs into {state} lineage bundles, one per unfinished step.",
        monitor_all_code_locations=False,
        default_status=DefaultSensorStatus.RUNNING,
    )
    def _closer(context: RunStatusSensorContext, provenance: ProvenanceResource) -> None:
        if context.dagster_run.job_name == AUDIT_JOB_NAME:
            return
        closing = close_or_leave(context.instance, context.dagster_run, provenance, state=state, sensor_name=name,
                                 repository_def=getattr(context, "repository_def", None))
        if closing.left is None:
            context.log.info(f"tdprov: {counted(len(closing.bundles), state + ' bundle')} for run "
                             f"{context.dagster_run.run_id}: {closing.bundles}")

    return _closer


provenance_failure_sensor = _run_closer(DagsterRunStatus.FAILURE, "provenance_failure_sensor", "FAIL")
provenance_canceled_sensor = _run_closer(DagsterRunStatus.CANCELED, "provenance_canceled_sensor", "ABORT")


@sensor(
    name="provenance_store_sensor",
    job=provenance_audit_job,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Starts the provenance audit when new lineage bundles arrive in the store (from any producer).",
)
def provenance_store_sensor(context: SensorEvaluationContext, provenance: ProvenanceResource) -> Any:
    """One run request per batch of new bundles (at most MAX_BUNDLES_PER_TICK), each bundle in one batch only:
    the cursor (an :class:`IndexWatch`) re-lists the last few minutes of the index, as writers finish out of
    order, and remembers the bundles it took there. The audit itself is incremental (it starts from the log's
    last checkpoint). A store location where nothing is skips with a reason that says so. Then it closes the
    failed and canceled runs of its code location that the run-status sensors left because a store did not answer
    (:func:`close_left_runs`: after the index was read, so that a store that does not answer costs one call)."""
    store = open_store(settings=provenance.settings())
    damaged = False
    try:
        cursor = IndexWatch.parse(context.cursor)
    except BadInputError as exc:
        context.log.warning(
            f"tdprov: provenance_store_sensor's {exc.what} The sensor starts again from the first bundle in the index, "
            "so none is skipped: the bundles it took before are taken "
            f"again, in one more audit request per {MAX_BUNDLES_PER_TICK} bundles (the audit starts from its last "
            "checkpoint, so it examines none twice). Nothing to fix; to start elsewhere, set the cursor in the UI")
        cursor, damaged = IndexWatch(), True
    new, watch = watch_index(store, cursor, MAX_BUNDLES_PER_TICK)
    if watch != cursor or damaged:
        context.update_cursor(watch.to_text())
    origin = getattr(context, "code_location_origin", None)
    close_left_runs(context.instance, provenance, location=origin.location_name if origin is not None else None,
                    repository=getattr(context, "repository_name", None),
                    repository_def=getattr(context, "repository_def", None))
    if new:
        return RunRequest(run_key=new[-1], tags={"tdprov/new_bundles": str(len(new))})
    return SkipReason(missing_store(store) or f"no new bundles in {provenance.settings().store}")
