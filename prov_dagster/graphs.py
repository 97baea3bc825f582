"""What the steps of a graph-backed asset read, for the step that writes the asset.

Each op of a graph asset is a step, so a run of its own. A step whose outputs all go through a
``ProvenanceIOManager`` carries what it read on by identity: its run records the read and the output it
wrote, and the next step's run reads that output. A step that hands an output to another IO manager (in
memory, pickles), or hands on nothing (a ``Nothing`` output, optional outputs not emitted), breaks that
chain, so the IO manager puts every read of a step inside a graph on the step's ``LOADED_INPUT`` event
(``tdprov/read``: each version exactly as loaded, and whether the step's recorded outputs carry it on),
and the step that writes the asset takes the reads that are not carried on, of the graph's steps the
asset depends on, from the Dagster run's event log (from its parent runs for steps a re-execution did not
run again), as inputs of its own run. Those events are read newest first, back to the latest start of each of those
steps, and kept for the process's next graph asset of the run (:class:`_RunLog`): a run of many graph assets does not
read the whole run for each.
"""
from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any

from dagster import DagsterEventType, EventLogEntry, MetadataValue, OutputContext

from prov_common.hashing import ColumnDigest, TableDigest
from prov_dagster import _compat
from prov_dagster.model import DatasetRecord

READ_KEY = "tdprov/read"
_STARTS = (DagsterEventType.STEP_START, DagsterEventType.STEP_RESTARTED)
_KINDS = {*_STARTS, DagsterEventType.LOADED_INPUT, DagsterEventType.HANDLED_OUTPUT}
EVENTS_PAGE = 200  # events of _KINDS read at a time, newest first, back to the starts of a graph asset's steps
RUNS_KEPT = 8  # runs whose events read a process keeps (the newest), for its next graph asset of the run


def read_metadata(records: Sequence[DatasetRecord], *, carried: bool, flagged: Iterable[str] = ()) -> dict[str, Any]:
    """``LOADED_INPUT`` metadata naming the versions a step loaded, whether its recorded outputs carry
    them on, and the flagged columns they came with."""
    return {READ_KEY: MetadataValue.json({"carried": carried, "flagged": sorted(set(flagged)),
                                          "versions": [_record_json(r) for r in records]})}


def graph_reads(context: OutputContext) -> tuple[list[DatasetRecord], set[str]]:
    """The versions the graph's other steps that ``context``'s asset depends on read and did not carry on
    (in the order they were loaded, once each), and the flagged columns they came with."""
    pending = set(_compat.graph_steps_upstream(context))
    step_context = context.step_context
    instance, run_id = step_context.instance, step_context.run_id
    loaded: list[dict[str, Any]] = []
    while pending and run_id:
        ran = _reads_in_run(instance, run_id, pending)
        loaded += [read for reads in ran.values() for read in reads]
        pending -= ran.keys()
        run = instance.get_run_by_id(run_id)
        run_id = run.parent_run_id if run is not None else None
    records: dict[tuple[Any, ...], DatasetRecord] = {}
    for read in (r for r in loaded if not r["carried"]):
        for record in map(_record_from_json, read["versions"]):
            records.setdefault((record.namespace, record.name, record.uri, record.version_id), record)
    return list(records.values()), {c for r in loaded if not r["carried"] for c in r["flagged"]}


def _reads_in_run(instance: Any, run_id: str, steps: set[str]) -> dict[str, list[dict[str, Any]]]:
    """Node handle -> the ``tdprov/read`` values of the last attempt of each of ``steps`` that ran in Dagster
    run ``run_id`` (a dynamic op's steps, ``op[key]``, together); an attempt that handed over no output (its
    optional outputs not emitted) carried none of its reads on."""
    by_step: dict[str, list[dict[str, Any]]] = {}
    handed: set[str] = set()
    for entry in _log_of(run_id).since_starts(instance, steps):
        event = entry.dagster_event
        if event is None or event.step_key is None or _node(event.step_key) not in steps:
            continue
        if event.event_type in _STARTS:
            by_step[event.step_key] = []  # a retry loads again
            handed.discard(event.step_key)
        elif event.event_type == DagsterEventType.HANDLED_OUTPUT:
            handed.add(event.step_key)
        elif (value := event.event_specific_data.metadata.get(READ_KEY)) is not None:
            by_step.setdefault(event.step_key, []).append(value.value)
    ran: dict[str, list[dict[str, Any]]] = {}
    for step_key, reads in by_step.items():
        ran.setdefault(_node(step_key), []).extend(
            reads if step_key in handed else [{**read, "carried": False} for read in reads])
    return ran


def _node(step_key: str) -> str:
    """The node handle of a step (``op[key]``: ``op``)."""
    return step_key.split("[", 1)[0]


class _RunLog:
    """The starts, loaded inputs and handled outputs of one Dagster run that this process read, in the order Dagster
    stored them: from some event up to the newest one read. A graph asset's steps are the ops of the graph its asset
    depends on; each of their events of their last attempt comes after that attempt's start, and every step of a
    mapped op (``op[key]``) started after the start of the op that mapped it, which the asset depends on too. So the
    events back to the latest start of each of the asset's steps are the ones its reads are in."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.records: list[Any] = []  # ``EventLogRecord``: storage id and entry
        self.complete = False  # read back to the run's first event
        self.lock = threading.Lock()

    def since_starts(self, instance: Any, steps: set[str]) -> list[EventLogEntry]:
        """The run's events from the latest start of each of the nodes ``steps`` (all of them when one has none):
        those logged since the last call read, then older ones a page at a time while a start is missing."""
        with self.lock:
            self._read_newer(instance)
            while (first := self._first_of(steps)) is None and not self.complete:
                self._read_older(instance)
            return [r.event_log_entry for r in self.records[first or 0:]]

    def _first_of(self, steps: set[str]) -> int | None:
        """The position in ``records`` of the earliest latest start among ``steps``' (None: one has none there)."""
        missing = set(steps)
        for position in range(len(self.records) - 1, -1, -1):
            event = self.records[position].event_log_entry.dagster_event
            if event is not None and event.event_type in _STARTS and event.step_key is not None:
                missing.discard(_node(event.step_key))
                if not missing:
                    return position
        return None

    def _read_newer(self, instance: Any) -> None:
        if not self.records:  # nothing read yet: the newest page
            self._read_older(instance)
            return
        page = instance.get_records_for_run(self.run_id, cursor=_cursor(self.records[-1]), of_type=_KINDS)
        self.records.extend(page.records)

    def _read_older(self, instance: Any) -> None:
        cursor = _cursor(self.records[0]) if self.records else None
        page = instance.get_records_for_run(self.run_id, cursor=cursor, of_type=_KINDS, limit=EVENTS_PAGE, ascending=False)
        self.records[:0] = page.records[::-1]
        self.complete = not page.has_more


def _cursor(record: Any) -> str:
    """The event-log cursor at ``record`` (``EventLogRecord``)."""
    from dagster._core.storage.event_log.base import EventLogCursor  # loads SQLAlchemy: only with a record read

    return EventLogCursor.from_storage_id(record.storage_id).to_string()


_logs: dict[str, _RunLog] = {}
_logs_lock = threading.Lock()


def _log_of(run_id: str) -> _RunLog:
    """This process's :class:`_RunLog` of Dagster run ``run_id`` (the :data:`RUNS_KEPT` newest runs' kept)."""
    with _logs_lock:
        if run_id not in _logs:
            _logs[run_id] = _RunLog(run_id)
            while len(_logs) > RUNS_KEPT:
                _logs.pop(next(iter(_logs)))
        return _logs[run_id]


def forget_events(run_id: str) -> None:
    """Let go of what this process read of the events of Dagster run ``run_id`` (its teardown)."""
    with _logs_lock:
        _logs.pop(run_id, None)


def _record_json(record: DatasetRecord) -> dict[str, Any]:
    digest = record.digest
    assert isinstance(digest, TableDigest)
    return {
        "name": record.name, "namespace": record.namespace, "uri": record.uri, "partition": record.partition,
        "asset_namespace": record.asset_namespace,
        "digest": {"digest": digest.digest, "rows": digest.rows, "bytes": digest.bytes, "granularity": digest.granularity,
                   "file_sha256": digest.file_sha256,
                   "columns": [[c.name, c.logical_type, c.digest, c.role] for c in digest.columns]},
    }


def _record_from_json(value: dict[str, Any]) -> DatasetRecord:
    digest = dict(value["digest"])
    columns = tuple(ColumnDigest(*c) for c in digest.pop("columns"))
    return DatasetRecord(name=value["name"], namespace=value["namespace"], uri=value["uri"], partition=value["partition"],
                         asset_namespace=value["asset_namespace"], digest=TableDigest(columns=columns, **digest))
