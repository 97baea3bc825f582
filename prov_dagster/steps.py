"""How the steps of a Dagster run ended, as the Dagster instance recorded them, and the step runs ended accordingly.

The IO manager completes the run of a step whose function returns its outputs when the last of them is
handled. A step that can still work or fail after its last output (a generator, a dynamic output, asset
checks evaluated in the step, an output handed to another IO manager) or that hands it no asset output
(an asset check, an asset that returns ``MaterializeResult``, an optional output not emitted) is ended
when the IO manager is torn down, from what Dagster recorded of the step; a step of a failed or
canceled run that no process ended is ended by the run-status sensors.
"""
from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache, partial
from typing import Any

from dagster import AssetCheckKey, DagsterEventType
from dagster._core.execution.plan.objects import ErrorSource
from dagster._core.execution.stats import StepEventStatus

from prov_common.config import Settings
from prov_common.errors import StoreError, TdprovError
from prov_common.lineage.secret_text import REDACTED
from prov_common.once import Once
from prov_common.text import clause
from prov_dagster._compat import defined_configs, planned_step_job, planned_steps, reexecution
from prov_dagster.check_results import (AssetCheck, RunEvents, checked_versions, set_up_at, step_checks, unplaced,
                                        unrecorded_check_steps)
from prov_dagster.config import run_namespace
from prov_dagster.deps import writer_namespace, writer_store
from prov_dagster.metadata import BUNDLE_KEY, DIGEST_KEY
from prov_dagster.model import DatasetRecord, StepIdentity
from prov_dagster.naming import step_job
from prov_dagster.recorder import (Recorder, StepRun, asset_recorders, recorded_step_keys, recorder_for_namespace,
                                   seal_left, store_recorder)
from prov_dagster.transport import store_uri
from prov_dagster.step_times import attempt_times

log = logging.getLogger(__name__)

UNCONFIGURED_WARNED = Once()  # (store, signing key): check runs signed there with a closer's key, warned of once


@dataclass(frozen=True)
class StepOutcome:
    """What Dagster recorded of one step of a run."""

    status: StepEventStatus | None
    attempt: int  # the step's last attempt, from 0
    error: str | None = None  # why it failed: the error and its causes, " <- " between them
    interrupted: bool = False  # it failed because its run was stopped (canceled, terminated)
    started_at: datetime | None = None  # when its last attempt started (None: Dagster has no start)
    ended_at: datetime | None = None  # when its last attempt ended (None: Dagster has no end, e.g. it still runs)
    earlier: tuple[tuple[datetime | None, datetime | None], ...] = ()  # (start, end) of each attempt before it, from 0


def step_outcomes(instance: Any, run_id: str, steps: Collection[str] | None = None,
                  events: RunEvents | None = None) -> dict[str, StepOutcome]:
    """Step key -> :class:`StepOutcome` of every step of Dagster run ``run_id`` (or of ``steps``) that Dagster has
    stats for. Their failures are read from ``events`` (:meth:`RunEvents.recent`: a teardown's, those logged since
    this process set up for the run, where the steps it ran failed), else from the whole run's."""
    failures = _failures((events or RunEvents(instance, run_id)).recent(DagsterEventType.STEP_FAILURE))
    outcomes = {}
    for stat in instance.get_run_step_stats(run_id, sorted(steps) if steps is not None else None):
        attempt = max((stat.attempts or 1) - 1, 0)
        started, ended = attempt_times(stat, attempt)
        outcomes[stat.step_key] = StepOutcome(stat.status, attempt, *failures.get(stat.step_key, (None, False)),
                                              started_at=started, ended_at=ended,
                                              earlier=tuple(attempt_times(stat, a) for a in range(attempt)))
    return outcomes


def recorded_namespaces(instance: Any, run_id: str) -> dict[str, set[str]]:
    """Step key -> the ``dagster://`` namespaces the step recorded outputs in, as the metadata Dagster logged for
    its outputs in run ``run_id`` names them (``tdprov/namespace``): a step is a run of each namespace's job it
    recorded in, so one whose process died is closed in each."""
    found: dict[str, set[str]] = {}
    kinds = {DagsterEventType.HANDLED_OUTPUT, DagsterEventType.ASSET_MATERIALIZATION}
    for entry in instance.all_logs(run_id, of_type=kinds):
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        data = event.event_specific_data
        namespace = writer_namespace(getattr(getattr(data, "materialization", data), "metadata", None) or {})
        if namespace is not None:
            found.setdefault(event.step_key, set()).add(namespace)
    return found


def end_open_steps(recorder: Recorder, instance: Any, run_id: str, dagster_run: Any = None,
                   events: RunEvents | None = None, run_namespace: str | None = None) -> list[str]:
    """End the runs of the steps of Dagster run ``run_id`` that this process started and nothing ended:
    COMPLETE (with what the step read) for a step that succeeded, FAIL with its error for one that
    failed (a failed asset check fails its step only when it is blocking), with the results of the asset
    checks the step ran (:mod:`prov_dagster.check_results`) on the versions of their assets it read or wrote. An
    attempt that Dagster retries, a step stopped with its run, or one Dagster has no end for is left to the retry
    or to the run-status sensors. Each run ends when Dagster recorded the step's end. Returns the bundle locations.

    With ``dagster_run`` (the run itself), an asset check step that this process ran and that loaded nothing through
    tdprov, so no run was opened for it, is a run of its own too (:func:`_check_runs`), recorded in the store of the
    version it checked when this process recorded that version in another, its parent the Dagster run as a job of
    ``run_namespace`` (:func:`~prov_dagster.config.run_namespace`; None: its own). ``events``: the run's, as read for
    the teardown (default: read here, all of the run's steps')."""
    runs, events = recorder.open_steps(run_id), events or RunEvents(instance, run_id)
    unrecorded = _unrecorded(recorder, events, dagster_run) if dagster_run is not None else set()
    steps = {r.identity.step_key for r in runs} | unrecorded  # only their events are asked for
    outcomes = step_outcomes(instance, run_id, steps, events) if steps else {}
    checks = _checks_read(recorder, events, outcomes) if steps else {}
    runs += _check_runs(recorder, events, dagster_run, unrecorded, outcomes, checks, run_namespace)
    bundles = []
    for run in runs:
        outcome = outcomes.get(run.identity.step_key)
        if outcome is None or outcome.attempt != run.identity.attempt or outcome.interrupted:
            continue
        run.checks = checks.get(run.identity.step_key, [])
        if outcome.status == StepEventStatus.SUCCESS:
            bundles.append(run.complete(at=outcome.ended_at))
        elif outcome.status == StepEventStatus.FAILURE:
            bundles += _end_failed(run, outcome)
    _warn_unplaced(runs, checks)
    for other in {id(r.recorder): r.recorder for r in runs if r.recorder is not recorder}.values():
        other.wait()  # a check step's run recorded in the store of the version it checked: written before teardown ends
    return bundles


def _end_failed(run: StepRun, outcome: StepOutcome) -> list[str]:
    """End ``run``, whose step failed, with FAIL and the step's error: its bundle location. A FAIL that fails (the
    store refused it, or raised any other error, such as an ``OSError`` a backend let through) is named in a warning
    that says what the store holds of the run, with the fix, and the steps after it are ended still: recording never
    breaks the teardown by accident. Strict mode raises it, except for a run whose START the store did not take as its
    load was refused (``run.start_error``: strict mode raised it with the refusal, the step's error): the teardown would
    fail for an error the step's error already reports."""
    try:
        return [run.fail(error=outcome.error or f"step {run.identity.step_key} failed", at=outcome.ended_at)]
    except Exception as exc:  # noqa: BLE001 - recording never breaks the pipeline by accident
        if run.recorder.settings.strict and run.start_error is None:
            raise
        run.recorder.forget(run)
        known = isinstance(run.recorder.named(exc), TdprovError)
        of_store = _of_store(exc)
        error = exc.what.rstrip(".") if known else f"{type(exc).__name__}: {exc}"
        fix = exc.fix if known and exc.fix else _fail_fix(of_store, run.recorder.settings.store)
        if known and run.start_error is not None:  # the store refused it as it refused the START
            log.warning("tdprov: run %s of the failed step %r is not recorded: the store did not take its FAIL either "
                        "(%s), as the step's error says of its START. Fix: %s, then materialize the step again",
                        run.ol_run_id, run.identity.step_key, error, fix.rstrip("."))
        else:  # a FAIL the store may have staged before the error
            log.warning("tdprov: run %s of the failed step %r is not sealed: its FAIL could not be recorded (%s); what "
                        "the store took of the run stays staged there. Fix: %s, then %s", run.ol_run_id,
                        run.identity.step_key, error, fix.rstrip("."), seal_left(run.ol_run_id),
                        exc_info=None if of_store else exc)
        return []


def _of_store(exc: BaseException) -> bool:
    """Whether ``exc`` is an error of the store: tdprov's, or an ``OSError`` a backend let through (not a fault of
    tdprov's, which is logged with its traceback)."""
    return isinstance(exc, (StoreError, OSError))


def _fail_fix(of_store: bool, store: str | None) -> str:
    """The fix of a FAIL that failed with an error that gives none: the store's, for an error of the store
    (:func:`_of_store`); for any other error, a report of it (a fault of tdprov's)."""
    if of_store:
        return f"make the store {store} reachable and writable"
    return "report this error to tdprov's maintainers with the traceback logged below it"


def _unrecorded(recorder: Recorder, events: RunEvents, dagster_run: Any) -> set[str]:
    """The check steps of ``dagster_run`` this process ran that loaded nothing through tdprov
    (:func:`~prov_dagster.check_results.unrecorded_check_steps`); none, with a warning naming what is not recorded,
    when the instance cannot tell (strict mode: raised)."""
    try:
        return unrecorded_check_steps(events, recorded_step_keys(dagster_run.run_id))
    except Exception as exc:  # noqa: BLE001 - recording never breaks the pipeline by accident
        if recorder.settings.strict:
            raise
        log.warning("tdprov: could not read which asset check steps of run %s loaded nothing through tdprov from the "
                    "Dagster instance (%s); the results of such checks are not recorded", dagster_run.run_id, exc)
        return set()


def _check_runs(recorder: Recorder, events: RunEvents, dagster_run: Any, steps: set[str], outcomes: dict[str, StepOutcome],
                checks: dict[str, list[AssetCheck]], run_namespace: str | None = None) -> list[StepRun]:
    """A run for each check step of ``steps`` (loaded nothing through tdprov; they started in this process, so their
    starts are among the run's ``events`` read) that ended (not stopped), in the job a
    step of ``dagster_run`` is a run of (named by the checks it evaluated when the run's execution plan cannot be
    read), started when Dagster started it, with the version of each asset it checked
    as Dagster names it for its input (:func:`~prov_dagster.check_results.checked_versions`, which the check results
    say in ``params.input``); ``checks`` is updated so."""
    made, instance = [], events.instance
    plan = cache(lambda: planned_steps(instance, dagster_run))
    for step in sorted(steps):
        outcome = outcomes.get(step)
        if (outcome is None or outcome.interrupted or not checks.get(step)
                or outcome.status not in (StepEventStatus.SUCCESS, StepEventStatus.FAILURE)):
            continue
        try:
            records, checks[step], kept = checked_versions(instance, checks[step], partial(events.start_id, step))
        except Exception as exc:  # noqa: BLE001 - recording never breaks the pipeline by accident
            if recorder.settings.strict:
                raise
            log.warning("tdprov: the results of the asset checks of step %s are not recorded: the versions they "
                        "checked could not be read from the Dagster instance (%s)", step, exc)
            continue
        job = (planned_step_job(plan(), step, dagster_run.job_name, selected=True)
               if plan()  # else by the checks it evaluated
               else step_job(step, (), checks=[AssetCheckKey(c.key, c.result.name) for c in checks[step]]))
        identity = StepIdentity(dagster_run.run_id, dagster_run.job_name, step, outcome.attempt, job=job,
                                run_namespace=run_namespace, **reexecution(dagster_run))
        run = _checked_recorder(recorder, dagster_run.run_id, step, checks[step], kept).step(identity)
        run.started_at = outcome.started_at
        run.inputs.extend(records)
        made.append(run)
    return made


@dataclass(frozen=True)
class MadeUpCheck:
    """Where and with what a run-status sensor records a check step's run it makes up: ``recorder``, the versions the
    step checked (``inputs``) and the results of its checks on them (``checks``; none for a step whose run was stopped)."""

    recorder: Recorder
    inputs: tuple[DatasetRecord, ...] = ()
    checks: tuple[AssetCheck, ...] = ()


def check_step_recorder(recorder: Recorder, events: RunEvents, dagster_run: Any, step: str, outcome: StepOutcome,
                        error: str, *, stopped: bool = False,
                        launched: Mapping[tuple[str, str], Settings] | None = None) -> MadeUpCheck:
    """How a run-status sensor (``recorder``: its ``provenance`` resource's) records step ``step`` of ``dagster_run``
    when the step recorded nowhere and it makes up the step's run (``events``: the run's, read once for all its steps).
    A check step (it loaded nothing through tdprov and no teardown ended it; ``error``: why it did not finish) is
    recorded as the teardown records it: by its rule (:func:`_checked_recorder`), in the store its checked version's
    materialization names, with that version as its input (:func:`~prov_dagster.check_results.checked_versions`: the
    one Dagster says the check evaluated, else the asset's latest materialization before the step started) and the
    checks' results on it, a check with no evaluation as raised (``error``), or, ``stopped`` (its run was canceled)
    or marked interrupted by Dagster (the teardown leaves such a step to the sensors), with none: a check stopped
    before it ended has no outcome. ``launched``: the settings of the tdprov resources ``dagster_run`` was launched
    with (:func:`~prov_dagster.recorder.launched_settings`), whose key signs a check recorded in one's store. Any other
    step (an asset's own step, whose checks are of the asset it was to write) is ``recorder``'s with nothing, and so is
    a check step, with a warning, when its checks cannot be read (strict mode: raised)."""
    instance = events.instance
    try:
        found = step_checks(events, {step: outcome.error or error}, {step: outcome.started_at}, {step}).get(step, [])
        checks = [c for c in found if not c.own]
        if not checks:
            return MadeUpCheck(recorder)
        inputs, checks, kept = checked_versions(instance, checks, partial(events.start_id, step))
    except Exception as exc:  # noqa: BLE001 - recording never breaks the pipeline by accident
        if recorder.settings.strict:
            raise
        log.warning("tdprov: the run of step %s of Dagster run %s is recorded in store %s, the store of the sensor's "
                    "provenance resource: the asset checks it ran could not be read from the Dagster instance (%s), so "
                    "where the versions they checked are recorded is not known", step, dagster_run.run_id,
                    store_uri(recorder.settings.store), exc)
        return MadeUpCheck(recorder)
    maker = _checked_recorder(recorder, dagster_run.run_id, step, checks, kept, kept_by="the sensor's provenance resource",
                              launched=launched)
    stopped = stopped or outcome.interrupted  # in a failed run too: it did not raise
    results = [c for c in checks if c.result.status != "error"] if stopped else checks  # stopped: evaluated ones only
    return MadeUpCheck(maker, tuple(inputs), tuple(results))


def _checked_recorder(recorder: Recorder, run_id: str, step: str, checks: list[AssetCheck],
                      kept: Mapping[str, Mapping[str, Any]], *, kept_by: str = "the IO manager torn down",
                      launched: Mapping[tuple[str, str], Settings] | None = None) -> Recorder:
    """The recorder for the run of check step ``step`` that loaded nothing: the one of this process that recorded the
    version of a checked asset written in Dagster run ``run_id`` (its store holds that version's bundle, where another
    IO manager's teardown may come first), else one on the store the materialization of the first checked asset
    tdprov wrote names (``kept``: its metadata by asset, ``tdprov/store``; another process wrote it, or an earlier
    run), in its writer's namespace, signed with the key of the IO manager or resource of this process configured for
    that store (:func:`~prov_dagster.recorder.store_recorder`; ``launched`` given, of those the run was launched with),
    else, with a warning, with ``recorder``'s; else
    ``recorder`` (that of ``kept_by``), with a warning when that version's store is not known or cannot be opened from
    what Dagster recorded or in this process (:func:`_unopened`)."""
    owners = asset_recorders(run_id, {c.asset for c in checks})
    if owners:
        return recorder if recorder in owners else owners[0]
    asset, metadata = next(((c.asset, kept[c.asset]) for c in checks if DIGEST_KEY in kept.get(c.asset, {})), (None, {}))
    if asset is None:  # no version tdprov recorded: nothing to be apart from
        return recorder
    store, here = writer_store(metadata), store_uri(recorder.settings.store)
    namespace = writer_namespace(metadata) or recorder.namespace
    if store is not None and REDACTED not in store:
        if (store, namespace) == (here, recorder.namespace):
            return recorder
        found = store_recorder(store, namespace, launched)
        signer = kept_by if found is None else None  # no IO manager or resource of that store here: the closer's key
        found = found or recorder_for_namespace(replace(recorder.settings, store=store), namespace)
        if (unusable := _unopened(found)) is None:
            if signer is not None:
                key = recorder.settings.signing_key or "the per-user key"
                if UNCONFIGURED_WARNED.first(store, key):
                    log.warning("tdprov: the run of asset check step %s is recorded in store %s, where the version of %s it "
                                "checked is, signed with the key of %s (%s): no ProvenanceIOManager or ProvenanceResource "
                                "of that store is configured in this process, so readers of the store verify the run only if "
                                "they trust that key too (said once in this process for that store and key, whatever check "
                                "runs it signs there later). Fix: add the IO manager of that store to the resources of this "
                                "code location, or give its IO managers and the sensors' provenance resource one "
                                "signing_key", step, store, asset, signer, key)
            return found
        where = f"store {store}, which cannot be opened here ({clause(unusable)})"
    elif store is not None:
        where = f"store {store}, which cannot be opened from what Dagster recorded (its credentials are left out)"
    else:
        where = (f"a store its materialization does not name (tdprov/store; written by an older tdprov), bundle "
                 f"{getattr(metadata.get(BUNDLE_KEY), 'value', None) or 'not named'}")
    log.warning("tdprov: the run of asset check step %s is recorded in store %s, the store of %s: the version of %s it "
                "checked is recorded in %s. Fix: take the asset as the check's argument, loaded through "
                "ProvenanceIOManager", step, here, kept_by, asset, where)
    return recorder


def _unopened(recorder: Recorder) -> str | None:
    """Why the store of ``recorder`` cannot be opened in this process (a file where its folder should be), or None: a
    check's run sealed there would be lost, and the sensor that makes it up would stop closing its Dagster run's other
    steps."""
    try:
        recorder.transport().store  # noqa: B018 - opened (and kept) now
    except Exception as exc:  # noqa: BLE001 - recording never breaks the pipeline by accident
        return exc.what if isinstance(exc, TdprovError) else str(exc) or type(exc).__name__
    return None


def _checks_read(recorder: Recorder, events: RunEvents, outcomes: dict[str, StepOutcome]) -> dict[str, list[AssetCheck]]:
    """The asset checks of the steps of ``outcomes`` (:func:`~prov_dagster.check_results.step_checks`); none, with a
    warning, when they cannot be read: the step runs still end, without the checks' results (strict mode: raised)."""
    try:
        return step_checks(events, {k: o.error or f"step {k} failed" for k, o in outcomes.items()
                                    if o.status == StepEventStatus.FAILURE},
                           {k: o.started_at for k, o in outcomes.items()}, outcomes)
    except Exception as exc:  # noqa: BLE001 - recording never breaks the pipeline by accident
        if recorder.settings.strict:
            raise
        log.warning("tdprov: could not read the asset check results of run %s from the Dagster instance (%s); its step "
                    "runs are ended without them", events.run_id, exc)
        return {}


def _warn_unplaced(runs: list[StepRun], checks: dict[str, list[AssetCheck]]) -> None:
    """Name each asset check whose result none of its step's ``runs`` (one per namespace it recorded in) could carry."""
    records: dict[str, list[Any]] = {}
    for run in runs:
        if run.checks:
            records.setdefault(run.identity.step_key, []).extend([*run.inputs, *run.outputs])
    for step, recorded in records.items():
        for check in unplaced(recorded, checks[step]):
            log.warning("tdprov: the result of asset check %r on %s (%s) is not recorded: step %s read no version of %s "
                        "that tdprov recorded. Fix: take the asset as the check's argument, loaded through "
                        "ProvenanceIOManager", check.result.name, check.asset, check.result.status, step, check.asset)


def _failures(records: Iterable[Any]) -> dict[str, tuple[str, bool]]:
    """Step key -> (error message with its causes, whether the run was stopped) of the steps that failed, from their
    STEP_FAILURE ``records`` (``EventLogRecord``) in the order Dagster stored them (a step's last failure kept)."""
    failures: dict[str, tuple[str, bool]] = {}
    for record in records:
        event = record.event_log_entry.dagster_event
        data = event.step_failure_data if event is not None else None
        if event is not None and data is not None and data.error is not None:
            messages, error = [], data.error
            while error is not None:
                messages.append(error.message.strip())
                error = error.cause
            failures[event.step_key] = (" <- ".join(messages), data.error_source == ErrorSource.INTERRUPT)
    return failures


def teardown_events(context: Any, run: Any) -> RunEvents | None:
    """The events of Dagster run ``run`` (a resource's ``context``'s, :func:`~prov_dagster._compat.init_run`) that its
    teardown reads, each kind once: those its steps log, from where the run's event log stood when this process set up
    for it (see :class:`RunEvents`); None outside a run."""
    instance = getattr(context, "instance", None)
    return RunEvents(instance, run.run_id, since=set_up_at(run.run_id)) if run is not None and instance is not None else None


def close_open_steps(config: Any, context: Any, run: Any, events: RunEvents | None = None) -> None:
    """At the end of a resource's use in Dagster run ``run`` (the ``context``'s; or a step's process): end the runs that
    ``config``'s recorder started and nothing ended (steps that handed over no asset output, or could work after their
    last one), as Dagster recorded them (see :func:`end_open_steps`; ``events``: the run's, :func:`teardown_events`),
    then wait until every bundle is written. Never raises unless the settings are strict: it is told as a warning."""
    from prov_dagster.recorder import recorder_for

    recorder = recorder_for(config)
    instance = getattr(context, "instance", None)
    if run is not None and instance is not None:
        try:
            end_open_steps(recorder, instance, run.run_id, run, events,
                           run_namespace(defined_configs(getattr(context, "all_resource_defs", None) or {}, run)))
        except Exception as exc:  # noqa: BLE001 - recording never breaks the pipeline by accident
            if config.settings().strict:
                raise
            context.log.warning(f"tdprov: could not read how the steps of run {run.run_id} ended ({exc}); the lineage "
                                "runs of those it did not end yet stay open (the audit reports them as unfinished)")
    recorder.wait()
