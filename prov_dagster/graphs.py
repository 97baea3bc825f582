"""What the steps of a graph-backed asset read, for the step that writes the asset.

Each op of a graph asset is a step, so a run of its own. A step whose outputs all go through a
``ProvenanceIOManager`` carries what it read on by identity: its run records the read and the output it
wrote, and the next step's run reads that output. A step that hands an output to another IO manager (in
memory, pickles), or hands on nothing (a ``Nothing`` output, optional outputs not emitted), breaks that
chain, so the IO manager puts every read of a step inside a graph on the step's ``LOADED_INPUT`` event
(``tdprov/read``: each version exactly as loaded, and whether the step's recorded outputs carry it on),
and the step that writes the asset takes the reads that are not carried on, of the graph's steps the
asset depends on, from the Dagster run's event log (from its parent runs for steps a re-execution did not
run again), as inputs of its own run.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from dagster import DagsterEventType, MetadataValue, OutputContext

from prov_common.hashing import ColumnDigest, TableDigest
from prov_dagster import _compat
from prov_dagster.model import DatasetRecord

READ_KEY = "tdprov/read"
_STARTS = (DagsterEventType.STEP_START, DagsterEventType.STEP_RESTARTED)


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
    for entry in instance.all_logs(run_id, of_type={*_STARTS, DagsterEventType.LOADED_INPUT, DagsterEventType.HANDLED_OUTPUT}):
        event = entry.dagster_event
        if event is None or event.step_key is None or event.step_key.split("[", 1)[0] not in steps:
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
        ran.setdefault(step_key.split("[", 1)[0], []).extend(
            reads if step_key in handed else [{**read, "carried": False} for read in reads])
    return ran


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
