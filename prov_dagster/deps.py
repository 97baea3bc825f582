"""Declared upstream assets that a step did not load through the IO manager, recorded as inputs of its run.

An asset that reads its upstream itself (``@asset(deps=[rows])``), an input loaded by another IO manager, and
an observable source are reads that no ``load_input`` of a ``ProvenanceIOManager`` sees. Dagster still knows
which version the step used: the event it tags as ``dagster/input_event_pointer/<key>`` (with
``dagster/input_data_version/<key>``), fetched when the step started; for a partitioned upstream, which Dagster
tags no event for, the latest materialization of each mapped partition stored before the step started (so a
backfill during the step is not taken for what it read). When the step's run ends, each such upstream becomes an
input of the run: the dataset and digest that event's tdprov metadata recorded (``tdprov/data``,
``tdprov/digest``), its asset key in the namespace its writer gave it (``tdprov/namespace``), or, with no tdprov
record there, the asset key without a version, which the audit reports.

Nothing here reads the Dagster instance for a step whose upstream assets were all loaded through the IO manager.
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, partial
from typing import Any

from dagster import AssetKey, AssetRecordsFilter, DagsterEventType

from prov_common.lineage.datasets import named_content_facet
from prov_dagster import _compat
from prov_dagster.metadata import DATA_KEY, DIGEST_KEY, DIGEST_KIND_KEY, NAMESPACE_KEY, STORE_KEY
from prov_dagster.model import DatasetRecord
from prov_dagster.naming import dataset_name


@dataclass(frozen=True)
class DeclaredDeps:
    """The upstream asset keys a step's assets declare, and the step context that knows which versions it used."""

    keys: tuple[AssetKey, ...] = ()
    step_context: Any = None

    def unloaded(self, inputs: Sequence[DatasetRecord], refused: Collection[str] = ()) -> list[DatasetRecord]:
        """The versions of the declared upstream assets that ``inputs`` (what the step's run recorded) do not name,
        as Dagster says the step used them; reads the Dagster instance only when there are such assets. An asset of
        ``refused`` (names of assets whose load the IO manager refused) is left out (with no warning): the step used
        none of the versions Dagster has of it (what it read and refused is among ``inputs``)."""
        named = {r.name for r in inputs if r.namespace is None}  # asset keys loaded by the IO manager or named in record()
        missing = [key for key in self.keys if dataset_name(key) not in named]
        if not missing:
            return []
        places = {r.dataset for r in inputs}
        context = self.step_context
        started = cache(partial(step_start_id, context.instance, context.run_id, context.step.key))  # read once, if needed
        out = []
        for key in missing:
            for record, event in self._versions(key, started):
                if record.dataset in places:
                    continue  # recorded already by its location (record(inputs=[path]))
                if record.name in refused:
                    continue
                if record.version is None:
                    written = _compat.is_materializable(self.step_context, key)
                    self.step_context.log.warning(_unversioned(self.step_context.step.key, record, written=written,
                                                               event=event))
                places.add(record.dataset)
                out.append(record)
        return out

    def _versions(self, key: AssetKey, started: Callable[[], int | None]) -> list[tuple[DatasetRecord, str | None]]:
        """The versions of ``key`` the step used, each with the kind of Dagster event it comes from (``MATERIALIZED``,
        ``OBSERVED``; None: Dagster holds none); ``started`` gives the step's STEP_START storage id (a partitioned
        upstream's latest materialization before it)."""
        instance = self.step_context.instance
        partitions = _compat.upstream_partitions(self.step_context, key)
        if partitions is not None:
            before = started()
            found = [(partition, latest_event(instance, key, partition, before=before)) for partition in partitions]
            return [(declared_version(key, partition, event.metadata if event is not None else {}),
                     MATERIALIZED if event is not None else None) for partition, event in found]
        pointer = _compat.upstream_pointer(self.step_context, key)
        if pointer is None:
            return [(declared_version(key, None, {}), None)]
        return [(declared_version(key, None, event_metadata(instance, key, *pointer)), MATERIALIZED if pointer[1] else OBSERVED)]


NO_DEPS = DeclaredDeps()
MATERIALIZED, OBSERVED = "materialized", "observed"  # the kinds of Dagster event a declared version comes from


def declared_deps(step_context: Any | None) -> DeclaredDeps:
    """The declared upstream assets of the step running ``step_context`` (:data:`NO_DEPS` outside a run, for a
    step that is no asset or whose assets declare none); no I/O."""
    keys = _compat.declared_upstream(step_context) if step_context is not None else ()
    return DeclaredDeps(keys, step_context) if keys else NO_DEPS


def event_metadata(instance: Any, key: AssetKey, storage_id: int, materialized: bool) -> Mapping[str, Any]:
    """The metadata of the materialization (or observation) of ``key`` stored as ``storage_id``."""
    query = AssetRecordsFilter(asset_key=key, storage_ids=[storage_id])
    fetch = instance.fetch_materializations if materialized else instance.fetch_observations
    records = fetch(query, limit=1).records
    event = records[0].asset_event if records else None
    return event.metadata if event is not None else {}


def latest_metadata(instance: Any, key: AssetKey, partition: str | None = None, *,
                    before: int | None = None) -> Mapping[str, Any]:
    """The metadata of the latest materialization of ``key`` (of ``partition``, when given; stored before the event
    log's storage id ``before``, when given); empty when there is none."""
    event = latest_event(instance, key, partition, before=before)
    return event.metadata if event is not None else {}


def latest_event(instance: Any, key: AssetKey, partition: str | None = None, *, before: int | None = None) -> Any | None:
    """The latest ``AssetMaterialization`` of ``key`` as :func:`latest_metadata` selects it; None when there is none."""
    query = AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition is not None else None,
                               before_storage_id=before)
    records = instance.fetch_materializations(query, limit=1).records
    return records[0].asset_materialization if records else None


STARTS_PAGE = 100  # STEP_START events read at a time, newest first, looking for a step's


def step_start_id(instance: Any, run_id: str, step_key: str) -> int | None:
    """The event-log storage id of the (latest) STEP_START of step ``step_key`` of Dagster run ``run_id``; ``None``
    when the log holds none. The starts are read newest first, :data:`STARTS_PAGE` at a time, until the step's: a step
    that asks for its own start while it runs reads those of the steps that started after it only."""
    cursor = None
    while True:
        page = instance.get_records_for_run(run_id, cursor=cursor, of_type=DagsterEventType.STEP_START,
                                            limit=STARTS_PAGE, ascending=False)
        found = next((r.storage_id for r in page.records if r.event_log_entry.step_key == step_key), None)
        if found is not None or not page.has_more:
            return found
        cursor = page.cursor


def declared_version(key: AssetKey, partition: str | None, metadata: Mapping[str, Any]) -> DatasetRecord:
    """The version of ``key`` (``partition``) that ``metadata`` records: by its data location and digest when tdprov
    wrote it, with the kind of that digest when recorded (no kind: metadata written before it was) and its asset key in
    the namespace of its writer (when recorded: the reading step's otherwise), else the asset key without a version."""
    digest, where = _text(metadata.get(DIGEST_KEY)), _text(metadata.get(DATA_KEY))
    if digest is None or where is None:
        return DatasetRecord(name=dataset_name(key), digest=None, partition=partition)
    content = named_content_facet(digest, _text(metadata.get(DIGEST_KIND_KEY)))
    return DatasetRecord(name=dataset_name(key), digest=None, version=digest, uri=where, partition=partition, content=content,
                         asset_namespace=writer_namespace(metadata))


def writer_namespace(metadata: Mapping[str, Any]) -> str | None:
    """The ``dagster://`` namespace a materialization's writer gave its asset key (``tdprov/namespace``); None when
    it records none (not written by tdprov, or by a tdprov older than the key)."""
    return _text(metadata.get(NAMESPACE_KEY))


def writer_store(metadata: Mapping[str, Any]) -> str | None:
    """The store a materialization's version is recorded in (``tdprov/store``); None when it names none (not written
    by tdprov, or by a tdprov older than the key)."""
    return _text(metadata.get(STORE_KEY))


def _text(value: Any) -> str | None:
    found = getattr(value, "value", value)
    return str(found) if found else None


def _unversioned(step_key: str, record: DatasetRecord, *, written: bool, event: str | None) -> str:
    """The warning for an upstream asset recorded without a version; ``event``: the kind of Dagster event the step used
    (None: Dagster holds none); ``written``: the run's asset graph materializes it (a job leaves out the assets it does
    not select: only an event tells that another IO manager wrote it, or that none did), else it is external or an
    observable source."""
    partition = f" partition {record.partition!r}" if record.partition is not None else ""
    read = f"record the data this step read with ProvenanceResource.record(inputs={{{record.name!r}: <path or URI>}}, context=context)"
    source = "register it as a source (tdprov source add) and declare it with provenance_asset(source=...)"
    materialize = f"materialize {record.name!r}{partition} through the ProvenanceIOManager before this step"
    wiped = "never materialized, or its history was wiped ('dagster asset wipe')"
    if event is None and written:
        why = f"Dagster holds no materialization of it: it was {wiped}"
        fix = f"{materialize}, or {read}"
    elif event is None:  # a job knows the assets it does not select, and every observable source, as external alike
        why = f"it is an external asset or an observable source, which no step writes, or an asset Dagster holds no " \
              f"materialization of: {wiped}"
        fix = f"{read}, or {source}; for an asset, {materialize}"
    elif written or event == MATERIALIZED:
        why = "another IO manager wrote it"
        fix = ("write it through the ProvenanceIOManager or record it with ProvenanceResource.record(outputs=..., "
               "context=context) to record its content digest")
    else:
        why = "it is an external asset or an observable source, which no step writes"
        fix = f"{read}, or {source}"
    return (f"tdprov: step {step_key!r} depends on asset {record.name!r}{partition}, which no tdprov record versions "
            f"({why}); it is recorded as an input without a version, which the audit reports. Fix: {fix}")

