"""The asset checks a step ran, as the Dagster instance recorded them, as check results on the dataset versions they
checked.

A check's ``AssetCheckResult`` becomes Dagster's ``ASSET_CHECK_EVALUATION`` event, which names the check, its asset,
whether it passed, its severity, description and metadata, and whether it blocks; a check that raised has its
``ASSET_CHECK_EVALUATION_PLANNED`` event and its step's failure instead. The IO manager's teardown reads both when it
ends the step's run (:func:`~prov_dagster.steps.end_open_steps`, through :class:`RunEvents`: the check events once,
the events of every step only when a step to end has checks), and each result goes with the version of the checked
asset that the step read (or wrote): the standard ``dataQualityAssertions`` facet of that input, or the run's
``test`` facet for an output.
"""
from __future__ import annotations

import json
import logging
import math
import os
import threading
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from dagster import DagsterEventType

from prov_common.canonical_json import INT_LIMIT
from prov_common.lineage.datasets import CheckResult
from prov_common.lineage.validate import MAX_NESTING
from prov_dagster.checks import CHECK_NAME
from prov_dagster.deps import declared_version, event_metadata, latest_metadata
from prov_dagster.model import DatasetRecord
from prov_dagster.naming import dataset_name

log = logging.getLogger(__name__)

MAX_VALUE = 4096
"""Characters of JSON one metadata value may take in an event; a larger one is recorded as a note saying its size
(events stay small: sinks cap them near 1 MB)."""
_CHECKS = (DagsterEventType.ASSET_CHECK_EVALUATION, DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED)


class RunEvents:
    """The events of one Dagster run that ending its steps reads, each set of kinds read once, when first asked for: a
    teardown reads the check events (one or two a check) and the events of every step (starts, planned
    materializations: one or more a step) only when a step it ends evaluated checks.

    ``since``: where the run's event log stood when this process set up for the run (:func:`set_up_at`), before any
    of its steps started here. The starts and materializations of the steps this process ran come after it, and only
    those are read (:meth:`recent`): a step's process of the multiprocess executor reads the events of the steps that
    started beside or after its own, not the whole run's. None (not known, e.g. a run-status sensor's): all of them."""

    def __init__(self, instance: Any, run_id: str, since: str | None = None) -> None:
        self.instance, self.run_id, self.since = instance, run_id, since
        self._read: dict[tuple[str, frozenset[DagsterEventType]], list[Any]] = {}  # (how, kinds) -> the events read

    def of(self, *kinds: DagsterEventType) -> list[Any]:
        """The run's events of ``kinds`` (``EventLogEntry``), in the order Dagster stored them."""
        return self._once("all", kinds, lambda of_type: self.instance.all_logs(self.run_id, of_type=of_type))

    def recent(self, *kinds: DagsterEventType) -> list[Any]:
        """The run's events of ``kinds`` stored after ``since`` (``EventLogRecord``: storage id and entry), in the order
        Dagster stored them: every one a step this process ran logged, not only those."""
        return self._once("recent", kinds, lambda of_type: self.instance.get_records_for_run(
            self.run_id, cursor=self.since, of_type=of_type).records)

    def _once(self, how: str, kinds: Iterable[DagsterEventType], read: Callable[[set[DagsterEventType]], Iterable[Any]]
              ) -> list[Any]:
        """The events of ``kinds`` that ``read`` gives, read the first time ``how`` asks for them."""
        key = (how, frozenset(kinds))
        if key not in self._read:
            self._read[key] = list(read(set(key[1])))
        return self._read[key]

    def checks(self) -> list[Any]:
        """The run's asset check events (planned and evaluated) that name a step."""
        return [e for e in self.of(*_CHECKS) if e.dagster_event is not None and e.dagster_event.step_key is not None]

    def start_id(self, step_key: str) -> int | None:
        """The event-log storage id of the latest STEP_START of step ``step_key`` among the :meth:`recent` ones (all of
        its starts for a step that started in this process); ``None`` when there is none."""
        return max((r.storage_id for r in self.recent(DagsterEventType.STEP_START)
                    if r.event_log_entry.step_key == step_key), default=None)


_set_up: dict[str, str | None] = {}  # Dagster run id -> where its event log stood when this process first set up for it
_set_up_lock = threading.Lock()
SET_UP_KEPT = 64  # runs whose set-up point a process keeps (the newest)


def note_set_up(instance: Any, run_id: str) -> None:
    """Remember where the event log of Dagster run ``run_id`` stands now, when a resource of this process is set up
    for the run (before any of its steps starts here), unless an earlier set-up did: one read of one event. Nothing
    is remembered when the log cannot be read (its teardown then reads every step's events)."""
    if run_id in _set_up:
        return
    try:
        latest = instance.get_records_for_run(run_id, limit=1, ascending=False)
    except Exception as exc:  # noqa: BLE001 - recording never breaks the pipeline by accident
        log.debug("tdprov: could not read the event log of run %s at set-up (%s); its teardown reads all its steps' "
                  "events", run_id, exc)
        return
    with _set_up_lock:
        _set_up.setdefault(run_id, latest.cursor if latest.records else None)
        while len(_set_up) > SET_UP_KEPT:
            _set_up.pop(next(iter(_set_up)))


def set_up_at(run_id: str) -> str | None:
    """The event-log cursor :func:`note_set_up` remembered for Dagster run ``run_id`` (None: not known)."""
    with _set_up_lock:
        return _set_up.get(run_id)


@dataclass(frozen=True)
class AssetCheck:
    """The result of one asset check of a step, with the asset it checked (its key as users type it); ``key``: that
    asset's key, ``target``: the event-log storage id of the materialization Dagster says the check evaluated (None:
    not known, e.g. the check raised); ``own``: the step was to write that asset (the check is one of its
    ``check_specs``)."""

    asset: str
    result: CheckResult
    key: Any = field(default=None, compare=False)
    target: int | None = field(default=None, compare=False)
    own: bool = field(default=False, compare=False)


def step_checks(events: RunEvents, failed: Mapping[str, str], since: Mapping[str, datetime | None],
                steps: Collection[str]) -> dict[str, list[AssetCheck]]:
    """Step key -> the asset checks each of ``steps`` ran in the Dagster run of ``events``, in the order Dagster planned
    them (a step that ran none is left out, and its run's other events are not read for it).

    An evaluation is the check's result (from the step's last attempt: at or after ``since[step key]``, when known); a
    check planned in a step that failed (``failed``: step key -> its error) with no evaluation raised: status ``error``,
    that error its description. A check planned in a step that succeeded without an evaluation did not run, and is left out."""
    planned: dict[str, dict[tuple[str, str], AssetCheck | None]] = {}
    keys: dict[str, Any] = {}  # asset -> its key
    for entry in events.checks():
        event, step = entry.dagster_event, entry.dagster_event.step_key
        if step not in steps:
            continue
        data = event.event_specific_data
        key = (dataset_name(data.asset_key), data.check_name)
        checks = planned.setdefault(step, {})
        if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED:
            checks.setdefault(key, None)
        elif (start := since.get(step)) is None or entry.timestamp >= start.timestamp():
            target = getattr(data.target_materialization_data, "storage_id", None)
            checks[key] = AssetCheck(key[0], _evaluated(data), data.asset_key, target)
        keys[key[0]] = data.asset_key
    writes: dict[str, set[str]] = {}  # step -> the assets it was to write
    for entry in events.of(DagsterEventType.ASSET_MATERIALIZATION_PLANNED) if planned else ():
        if (event := entry.dagster_event) is not None and event.step_key in planned:
            writes.setdefault(event.step_key, set()).add(dataset_name(event.event_specific_data.asset_key))
    found: dict[str, list[AssetCheck]] = {}
    for step, checks in planned.items():
        for (asset, name), check in checks.items():
            if check is None and step in failed:
                check = AssetCheck(asset, CheckResult(name, "error", description=failed[step]), keys[asset])
            if check is not None:
                found.setdefault(step, []).append(replace(check, own=asset in writes.get(step, ())))
    return found


def _evaluated(data: Any) -> CheckResult:
    """The check result of an ``AssetCheckEvaluation``."""
    severity = getattr(getattr(data, "severity", None), "value", None)
    params: dict[str, Any] = {"blocking": bool(getattr(data, "blocking", False))}
    if data.metadata:
        params["metadata"] = {str(k): _bounded(_json_safe(getattr(v, "value", v), 0)) for k, v in sorted(data.metadata.items())}
    if getattr(data, "partition", None) is not None:
        params["partition"] = str(data.partition)
    return CheckResult(data.check_name, "pass" if data.passed else "fail",
                       severity=severity.lower() if isinstance(severity, str) else None,
                       description=data.description or None, params=params)


def _json_safe(value: Any, depth: int) -> Any:
    """``value`` (a Dagster metadata value's ``value``) as JSON: numbers canonical JSON writes as such (a float that is
    not finite or an integer past 2**53 - 1 as its text), mappings with text keys, lists; anything else as its text."""
    if depth > MAX_NESTING // 2:
        return "*** (nested too deep to record)"
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if -INT_LIMIT <= value <= INT_LIMIT else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v, depth + 1) for v in value]
    return str(value)


def _bounded(value: Any) -> Any:
    """``value``, or a note of its size when its JSON is longer than :data:`MAX_VALUE` characters."""
    size = len(json.dumps(value, ensure_ascii=False))
    return value if size <= MAX_VALUE else f"*** ({size} characters of JSON: not recorded, events stay small)"


def checks_on(record: DatasetRecord, checks: Iterable[AssetCheck], records: Iterable[DatasetRecord] = ()) -> tuple[CheckResult, ...]:
    """The results of ``checks`` on the asset that ``record`` is a version of (none: ``record`` names no asset). A
    check that names a partition (``params.partition``) is of that partition: when ``records`` (all the step read or
    wrote) hold it, its result goes on that one only, not on each partition of the asset the step loaded; a partition
    none of them is (a check partitioned otherwise than its asset) names what it checked as a whole."""
    if record.namespace is not None:
        return ()
    held = {(r.name, r.partition) for r in records if r.namespace is None}
    return tuple(c.result for c in checks if c.asset == record.name
                 and ((partition := c.result.params.get("partition")) is None or (c.asset, partition) not in held
                      or record.partition == partition))


def unplaced(records: Iterable[DatasetRecord], checks: Iterable[AssetCheck]) -> list[AssetCheck]:
    """The ``checks`` on an asset none of ``records`` is a version of and that the step was not to write: what the
    step read of it, if anything, was not recorded, so their results have no version to go with (a check of the
    step's own asset has none when the step wrote none, e.g. it failed first: nothing to fix there)."""
    assets = {r.name for r in records if r.namespace is None}
    return [c for c in checks if c.asset not in assets and not c.own]


NOT_LOADED = "taken from Dagster: the check loaded no version through tdprov"
"""``params.input`` of a check whose step loaded nothing through tdprov (its run's input is the version Dagster says
the check evaluated, else the asset's latest materialization before the step started)."""


def unrecorded_check_steps(events: RunEvents, recorded: set[str]) -> set[str]:
    """The steps of the Dagster run of ``events`` that ran asset checks in this process (their ``STEP_START`` is its
    event), that materialized no asset and that no tdprov run of this process recorded (``recorded``: step keys): a
    check step that loaded nothing through tdprov, which no ``load_input`` opened a run for (tdprov's own Pandera check,
    which reads the result a run recorded, is none). An asset's own step that was to materialize its asset and
    evaluated no check either (it failed first) is none: its checks did not run. The run's check events are read first:
    the starts, then materializations, stored since this process set up for the run (:meth:`RunEvents.recent`) are
    read only while a check step this process did not record is left."""
    checking, evaluated = set(), set()
    for entry in events.checks():
        event = entry.dagster_event
        if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluated.add(event.step_key)
        if event.event_specific_data.check_name != CHECK_NAME:  # tdprov's own Pandera check reads what is recorded
            checking.add(event.step_key)
    if not checking - recorded:
        return set()
    here = os.getpid()
    starts = [r.event_log_entry for r in events.recent(DagsterEventType.STEP_START)]
    candidates = {e.dagster_event.step_key for e in starts
                  if e.dagster_event is not None and e.dagster_event.pid == here} & (checking - recorded)
    if candidates:  # they started here: their materializations are recent too
        candidates -= _step_keys(r.event_log_entry for r in events.recent(DagsterEventType.ASSET_MATERIALIZATION))
    if candidates:  # the planned ones are read once for step_checks too
        candidates -= _step_keys(events.of(DagsterEventType.ASSET_MATERIALIZATION_PLANNED)) - evaluated
    return candidates


def _step_keys(entries: Iterable[Any]) -> set[str]:
    """The keys of the steps that logged ``entries``."""
    return {e.dagster_event.step_key for e in entries if e.dagster_event is not None}


def checked_versions(instance: Any, checks: Iterable[AssetCheck], started: Callable[[], int | None]
                     ) -> tuple[list[DatasetRecord], list[AssetCheck], dict[str, Mapping[str, Any]]]:
    """For a check step that loaded nothing through tdprov: the version of each asset ``checks`` checked, as
    :mod:`prov_dagster.deps` records an upstream asset (the materialization Dagster says the check evaluated; with
    none named, e.g. a check that raised, the asset's latest one stored before the step started, of the check's
    partition: ``started`` gives the event-log storage id of its STEP_START, asked then only), the checks, each
    saying so in ``params.input`` (:data:`NOT_LOADED`), and the metadata of each asset's materialization read, by
    asset (what says where its version is recorded)."""
    records: dict[str, DatasetRecord] = {}
    kept: dict[str, Mapping[str, Any]] = {}
    said = []
    for check in checks:
        partition = check.result.params.get("partition")
        if check.asset not in records and check.key is not None:
            kept[check.asset] = (event_metadata(instance, check.key, check.target, True) if check.target is not None
                                 else latest_metadata(instance, check.key, partition, before=started()))
            records[check.asset] = declared_version(check.key, partition, kept[check.asset])
        said.append(replace(check, result=replace(check.result, params={**check.result.params, "input": NOT_LOADED})))
    return list(records.values()), said, kept
