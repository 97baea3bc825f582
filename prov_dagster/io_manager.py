"""``ProvenanceIOManager``: pandas assets stored as Parquet, hashed, validated, versioned by content and recorded."""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Literal

import pandas as pd
import pyarrow as pa
from dagster import (
    AssetKey,
    DagsterEventType,
    ConfigurableIOManager,
    InitResourceContext,
    InputContext,
    OutputContext,
)
from pydantic import Field

from prov_common.errors import BadInputError, VerificationError
from prov_common.hashing import TableDigest, hash_dataframe
from prov_common.rowset.capture import row_set_of, without_rows
from prov_dagster import _compat
from prov_dagster.backfills import PartitionRangeError, range_refusal
from prov_dagster.check_results import RunEvents, note_set_up
from prov_dagster.config import ProvenanceConfig
from prov_dagster.deps import latest_metadata, writer_namespace
from prov_dagster.digests import digest_of
from prov_dagster.masking import FLAGGED_KEY, flags_metadata, forget_run, inherit, inherited, recorded_flags
from prov_dagster.metadata import DIGEST_KEY, output_metadata
from prov_dagster.graphs import forget_events, graph_reads, read_metadata
from prov_dagster.parquet_frames import parquet_table
from prov_dagster.naming import data_relpath, dataset_name, located_dataset, op_output_relpath
from prov_dagster.owners import other_owner, refuse_other_owner
from prov_dagster.policy import AssetProvenance, raw_value
from prov_dagster.model import DatasetRecord
from prov_dagster.recorder import Recorder, configured, recorder_for
from prov_dagster.snapshots import keep_snapshot, restore_fix, wants_snapshot
from prov_dagster.steps import close_open_steps, teardown_events
from prov_dagster.sources import SourceListing, declare_source, step_sources
from prov_dagster.validation import check_output, masked_samples, refuse, warn_written
from prov_dagster.storage import DataLocation, MissingDataError, free_replaced

DIGEST_METADATA_KEY = DIGEST_KEY
DATA_VERSION_TAG = "dagster/data_version"  # the tag of a materialization that holds its data version
DATA_VERSION_IS_USER_PROVIDED_TAG = "dagster/data_version_is_user_provided"  # "true": the step gave it, not Dagster


class ProvenanceIOManager(ConfigurableIOManager, ProvenanceConfig):
    """Stores pandas DataFrame assets as Parquet and records their provenance.

    Works with no arguments: the store comes from ``TDPROV_STORE`` (default ``./.tdprov``) and the data
    goes next to it (``./.tdprov-data``). On output it hashes the DataFrame, validates it against the
    asset's Pandera schema (``metadata={"pandera_schema": ...}``), writes the Parquet, sets the content
    digest as the asset's data version and records the step in a signed lineage bundle. On input it
    re-hashes the file and refuses data whose digest is not the one recorded.
    """

    on_mismatch: Literal["error", "warn"] = Field(
        default="error",
        description="What a loaded file whose digest differs from the recorded one does: 'error' refuses it, 'warn' logs and records it.",
    )

    def setup_for_execution(self, context: InitResourceContext) -> None:
        """The store, data root and mask key are checked here, before any asset computes (``TDPROV_STORE`` and
        ``TDPROV_MASK_KEY`` included); then noted as this process's on its store (:func:`configured`), and where the
        run's event log stands, so that the teardown reads only the events logged since
        (:func:`~prov_dagster.check_results.note_set_up`)."""
        configured(self, settings=self.check_settings())
        run, instance = _compat.init_run(context), getattr(context, "instance", None)
        if run is not None and instance is not None:
            note_set_up(instance, run.run_id)

    # -- output -----------------------------------------------------------------------------------
    def handle_output(self, context: OutputContext, obj: Any) -> None:
        if obj is None:  # an asset that wrote its data itself (e.g. through ProvenanceResource), or no value
            recorder = recorder_for(self)
            recorder.step_for(context).no_output(output_name=context.name, expected=_expected(context, recorder))
            return
        try:
            place = _output_place(context)
        except PartitionRangeError as exc:  # recorded like the other refusals: the step's run is sealed FAIL
            recorder_for(self).step_for(context).fail(error=exc)
            raise
        df = _as_dataframe(obj, place)
        wants = AssetProvenance.from_metadata(context.definition_metadata, place.label, _compat.asset_tags(context))
        owner = {"namespace": self.namespace_uri(), **place.sidecar}
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="tdprov-hash") as pool:
            table = parquet_table(df, place.what)  # a frame Parquet would not give back is refused before any record
            hashing = pool.submit(_digest_for, df, wants.granularity, table,  # releases the GIL: overlaps what follows
                                  _compat.run_context(context))
            step = recorder_for(self).step_for(context)
            step.training = step.training or wants.training
            location = self.data_location()
            listing = step_sources(step, self.settings())  # the store's source records, read once for the source and the masking
            warn = step.warn_once(context.log.warning)  # the two may say the same of them
            flagged = {*wants.masked_columns, *self._start_step(context, step, wants.source, listing, warn),
                       *self._graph_reads(context, step), *inherited(context)}
            previous = _sidecar_meanwhile(pool, location, place.relpath)  # the file's owner
            checked = check_output(df, wants, flagged)
            refused = checked.refused
            if not refused and (theirs := other_owner(previous(), owner)) is not None:
                raise refuse_other_owner(location.uri(place.relpath), theirs, owner)
            # bad data under the 'fail' policy is never written, nor a frame the hashing refuses: the file takes its
            # place only once the digest is taken (the hashing overlaps the write; its refusal raises here)
            stored = None if refused else location.write_table(place.relpath, table, before_replace=hashing.result)
            digest = hashing.result()
        if stored is not None:  # the SHA-256 of the file's bytes goes with the table digest (in-toto subjects)
            digest = replace(digest, file_sha256=stored.sha256)
        checked, schema_flagged = masked_samples(checked, wants, self.settings(), digest=digest.digest,
                                                 uri=location.uri(place.relpath), warn=warn, listing=listing)
        flagged |= schema_flagged
        record = place.record(location, digest, quality=checked.quality, owners=wants.owners)
        row_set = row_set_of(digest, *record.dataset, shown_as=record.name) if wants.granularity == "row" and not refused else None
        record = replace(record, digest=without_rows(digest), row_set=row_set)  # the row set stands for the rows from here on
        if refused:
            refuse(step, record, place.what, wants.policy)
        location.write_sidecar(place.relpath, {**owner, "digest": record.version_id, "run": step.ol_run_id,
                                               **_sidecar_flags(place, flagged)})
        if wants_snapshot(self, wants.snapshot):
            record = keep_snapshot(self, record, step.ol_run_id, context.log.warning)
        warn_written(place.what, checked, context.log.warning)
        if place.asset_key is not None:
            _compat.set_output_data_version(context, place.asset_key, record.version_id)
        bundle = step.output(record, output_name=context.name, expected=_expected(context, step.recorder))
        recorder_for(self).after_delivery(free_replaced)  # the previous version's blocks, once the record is sealed
        context.add_output_metadata({**output_metadata(record, wants.policy, bundle, step.recorder.status(), step.recorder.namespace),
                                     **flags_metadata(flagged)})

    def _graph_reads(self, context: OutputContext, step: Any) -> set[str]:
        """An asset written by an op inside a graph: add to the step's run what the graph's other steps read
        and carried on in no recorded output (see :mod:`prov_dagster.graphs`); returns the columns those
        reads flag."""
        if not _compat.inside_graph(context) or not context.has_asset_key:
            return set()
        try:
            records, flagged = graph_reads(context)
        except Exception as exc:  # noqa: BLE001 - recording never breaks the pipeline by accident
            if self.settings().strict:
                raise
            context.log.warning(f"tdprov: could not read what the steps of graph asset {dataset_name(context.asset_key)!r} "
                                f"read from the Dagster run's event log ({exc}); the asset's run records only its own step's inputs")
            return set()
        known = {(i.namespace, i.name, i.uri, i.version_id) for i in step.inputs}
        step.inputs.extend(r for r in records if (r.namespace, r.name, r.uri, r.version_id) not in known)
        return flagged

    def teardown_after_execution(self, context: Any) -> None:
        """The run (or this step's process) is done: end the runs of the steps that handed over no asset
        output (asset checks, ``MaterializeResult``) or could work after their last one (generators, dynamic
        outputs) as Dagster recorded them, then wait until every bundle is written."""
        run = _compat.init_run(context)
        events = teardown_events(context, run)  # each kind of the run's events read once, for both
        close_open_steps(self, context, run, events)
        if events is not None:
            for warning in _versions_not_digests(events, recorder_for(self).step_keys(events.run_id)):
                context.log.warning(warning)
        free_replaced()
        if run is not None:
            forget_run(run.run_id)
            forget_events(run.run_id)

    def _start_step(self, context: OutputContext, step: Any, source_ref: str | None,
                    listing: SourceListing, warn: Callable[[str], None]) -> tuple[str, ...]:
        """START the step's run (or stage what it read since); an asset's declared source becomes one of its inputs
        (once per step; ``listing``: the store's source records; ``warn``: what the source's records say).

        Returns the columns the declared source's record flags as personal or confidential.
        """
        flagged = declare_source(step, self.settings(), source_ref, warn, listing) if source_ref is not None else ()
        step.stage()
        return flagged

    # -- input ------------------------------------------------------------------------------------
    def load_input(self, context: InputContext) -> Any:
        if not context.has_asset_key and context.upstream_output is None:
            raise BadInputError(
                f"input {context.name!r} comes from neither an asset nor an op output",
                fix="ProvenanceIOManager loads assets and op outputs it stored; give this input another input manager",
            )
        places = _input_places(context)
        if not places:  # mapped to no partition (a self-dependent asset's first partition): nothing read, as Dagster's IO managers
            return None
        step = self._reading_step(context, places[0])
        read: list[DatasetRecord] = []  # the versions read so far (a refused one included)
        try:
            loaded = self._load_all(context, places, read)
        except BaseException as refusal:
            if step is not None:  # the step fails: recorded as Dagster records it, never left without a run
                _record_refusal(step, places, read, refusal)
            raise
        records = [record for _, record in loaded.values()]
        if step is not None:
            step.input(*records)  # one event for a window of partitions
        if _compat.inside_graph(context):  # for the step that writes the graph's asset (prov_dagster.graphs)
            handed = _compat.output_io_managers(context) or []  # a Nothing output hands over nothing: it carries no read on
            carried = step is not None and bool(handed) and all(isinstance(m, ProvenanceIOManager) for m in handed)
            _compat.set_loaded_input_metadata(context, read_metadata(records, carried=carried, flagged=inherited(context)))
        frames = {p: df for p, (df, _) in loaded.items()}
        return frames[places[0].partition] if len(places) == 1 else frames

    def _load_all(self, context: InputContext, places: list[_Place],
                  read: list[DatasetRecord]) -> dict[str | None, tuple[pd.DataFrame, DatasetRecord]]:
        """Each place loaded, by partition, the version of each read added to ``read``; with the input metadata
        ``allow_missing_partitions`` (as Dagster's ``UPathIOManager`` reads it) a partition of several whose data file
        does not exist is skipped and logged."""
        if len(places) == 1 or not _allows_missing(context):  # one partition is loaded or refused, as Dagster does
            return {p.partition: self._load_one(context, p, read) for p in places}
        loaded, missing = {}, []
        for place in places:
            try:
                loaded[place.partition] = self._load_one(context, place, read)
            except MissingDataError:
                missing.append(place.partition)
        if missing:
            context.log.warning(f"tdprov: {places[0].label} has no data for partitions {', '.join(map(repr, missing))}; "
                                "skipped (allow_missing_partitions), and only the partitions loaded are recorded as inputs")
        return loaded

    def _reading_step(self, context: InputContext, place: _Place) -> Any | None:
        """The run of the step that reads: Dagster loads an input with the IO manager of its writer, but the
        read belongs to the reading step's run, in the store and namespace of the step's own
        ``ProvenanceIOManager`` (the first of its outputs'), else (an asset check, a step whose outputs go to
        another IO manager) of this IO manager, whose teardown ends the run as Dagster recorded the step (a
        ``ProvenanceResource`` of the same settings records into that run); None inside a graph asset, where the
        step that writes the asset records it."""
        resources = _compat.step_resources(context)
        own = self if resources is None else next(
            (r for r in resources if isinstance(r, ProvenanceIOManager)), None)  # outputs' IO managers come first
        if own is None and _compat.inside_graph(context):
            context.log.info(f"tdprov: step {_compat.run_context(context)[2]!r} reads {place.what} and records none of its "
                             "outputs; the read goes into the run of the step that writes the graph's asset")
            return None
        return recorder_for(own or self).step_for(context)

    def _load_one(self, context: InputContext, place: _Place,
                  read: list[DatasetRecord]) -> tuple[pd.DataFrame, DatasetRecord]:
        """The data at ``place``, checked against its recorded digest, and the version it is (an asset key in
        the namespace its writer gave it), added to ``read`` before the check: a refused version was read too."""
        location = self.data_location()
        loaded = location.read_table(place.relpath)
        df = loaded.table.to_pandas()
        found = replace(hash_dataframe(df), file_sha256=loaded.sha256)
        recorded = self._recorded(context, place.asset_key, place.partition) if place.asset_key is not None else {}
        digest_value = recorded.get(DIGEST_METADATA_KEY)
        sidecar = self._sidecar(context, place, location) if digest_value is None else {}  # no Dagster history, an op output
        if (theirs := other_owner(sidecar, place.sidecar, loading=True)) is not None:
            raise refuse_other_owner(location.uri(place.relpath), theirs, place.sidecar, loading=True)
        inherit(context, recorded_flags(recorded) or recorded_flags(sidecar))
        if place.asset_key is None:
            record = place.record(location, found)
        else:  # the writer's namespace: another code location's asset read as a SourceAsset was written in its own
            writer = writer_namespace(recorded) or _sidecar_namespace(sidecar)
            record = place.record(location, found, asset_namespace=writer or self.namespace_uri())
        read.append(record)
        expected = (str(getattr(digest_value, "value", digest_value)) if digest_value is not None else None) or sidecar.get("digest")
        if expected is not None and expected != found.digest:
            self._mismatch(context, place, location.uri(place.relpath), expected, found)
        return df, record

    def _sidecar(self, context: InputContext, place: _Place, location: DataLocation) -> Mapping[str, Any]:
        """The sidecar of the data at ``place`` ({} when there is none). A damaged one leaves nothing to check the data
        against: refused as a digest mismatch is, or (``on_mismatch='warn'``) loaded anyway with a warning."""
        try:
            return location.read_sidecar(place.relpath) or {}
        except BadInputError as exc:
            what = f"{place.what}: {exc.what} The data cannot be checked against the digest recorded."
            if self.on_mismatch == "warn":
                context.log.warning(what + " (on_mismatch='warn': loading it anyway; the digest found is recorded)")
                return {}
            raise VerificationError(what, fix=f"{exc.fix}, or set on_mismatch='warn' on the IO manager to load it anyway") from exc

    def _recorded(self, context: InputContext, key: AssetKey, partition: str | None) -> Mapping[str, Any]:
        """The metadata of the latest materialization of ``key`` (and ``partition``): digest, flagged columns."""
        try:
            instance = context.instance
        except Exception:  # built without an instance (direct IO manager tests)
            return {}
        return latest_metadata(instance, key, partition)

    def _mismatch(self, context: InputContext, place: _Place, uri: str, expected: str, found: TableDigest) -> None:
        what = f"{place.what} at {uri} does not hold the recorded data: expected digest {expected}, found {found.digest}."
        if self.on_mismatch == "warn":
            context.log.warning(what + " (on_mismatch='warn': loading it anyway; the digest found is recorded)")
            return
        raise VerificationError(what, fix=f"{restore_fix(self, expected, uri)}, or set on_mismatch='warn' on the IO manager "
                                          "to load it anyway")


def _record_refusal(step: Any, places: list["_Place"], read: list[DatasetRecord], refusal: BaseException) -> None:
    """Start the run of ``step``, whose load of ``places`` was refused (or failed) with ``refusal`` after it read the
    versions ``read``, so that it is ended as Dagster records the step. A store that cannot take its START (strict
    mode raises) does not take the refusal's place: the data problem is what the step fails with, the store's named
    in it."""
    try:
        step.refused_load(*{dataset_name(p.asset_key) for p in places if p.asset_key is not None}, read=read)
    except Exception as exc:  # noqa: BLE001 - the refusal is raised, this named in it
        step.start_error = str(exc) or type(exc).__name__  # reported: the teardown does not raise it again
        refusal.add_note(f"tdprov: the failed step's run {step.ol_run_id} could not be recorded either: {step.start_error}")


def _sidecar_namespace(sidecar: Mapping[str, Any]) -> str | None:
    """The namespace a data file's sidecar says its writer had (None in sidecars written before it was recorded)."""
    namespace = sidecar.get("namespace")
    return namespace if isinstance(namespace, str) and namespace else None


def _allows_missing(context: InputContext) -> bool:
    """Whether the input declares ``AssetIn(metadata={"allow_missing_partitions": True})``."""
    return bool(raw_value((context.definition_metadata or {}).get("allow_missing_partitions")))


def _expected(context: OutputContext, recorder: Recorder) -> tuple[str, ...] | None:
    """The outputs of ``context``'s step after which its run completes, ``None`` when it is ended at teardown (see
    :func:`_compat.expected_outputs`): the run of ``recorder`` holds the outputs of every ``ProvenanceIOManager``
    with its store and namespace."""
    return _compat.expected_outputs(context, lambda other: isinstance(other, ProvenanceIOManager) and recorder_for(other) is recorder)


RECORDED_VERSION_FIX = ("return MaterializeResult(metadata=<record() result>.metadata, "
                        "data_version=<record() result>.data_version)")  # an asset that records with the resource


def _handed_over(events: RunEvents, materialization: Any) -> bool:
    """Whether the asset materialization ``materialization`` (a :meth:`RunEvents.recent` record) is of a value its step
    handed to an IO manager (an ``Output``), not a ``MaterializeResult``: a ``HANDLED_OUTPUT`` of its step is logged
    between the ``STEP_OUTPUT`` before it and the step's next one."""
    step, at = materialization.event_log_entry.step_key, materialization.storage_id
    logged = [(r.storage_id, r.event_log_entry.dagster_event.event_type) for r in events.recent(
        DagsterEventType.STEP_OUTPUT, DagsterEventType.HANDLED_OUTPUT) if r.event_log_entry.step_key == step]
    after = max((i for i, kind in logged if kind == DagsterEventType.STEP_OUTPUT and i < at), default=-1)
    before = min((i for i, kind in logged if kind == DagsterEventType.STEP_OUTPUT and i > at), default=float("inf"))
    return any(kind == DagsterEventType.HANDLED_OUTPUT and after < i < before for i, kind in logged)


def _versions_not_digests(events: RunEvents, step_keys: set[str]) -> list[str]:
    """A warning for each materialization of the Dagster run of ``events``, by the steps ``step_keys`` (this process
    ran them: their materializations are among the run's recent ones), whose data version is not the content digest
    the IO manager recorded: the asset's ``Output(data_version=...)`` (or ``MaterializeResult(data_version=...)``) set
    it, and Dagster keeps that over the IO manager's, or the asset gave none (a ``MaterializeResult`` without its
    record's) and Dagster computed one."""
    warnings = []
    for record in events.recent(DagsterEventType.ASSET_MATERIALIZATION) if step_keys else ():
        event = record.event_log_entry.dagster_event
        if event is None or event.step_key not in step_keys:
            continue
        materialization = event.event_specific_data.materialization
        recorded = materialization.metadata.get(DIGEST_METADATA_KEY)
        version = (materialization.tags or {}).get(DATA_VERSION_TAG)
        digest = str(getattr(recorded, "value", recorded)) if recorded is not None else None
        if digest is not None and version is not None and version != digest:
            asset = dataset_name(materialization.asset_key) + (f" partition {materialization.partition!r}" if materialization.partition else "")
            if (materialization.tags or {}).get(DATA_VERSION_IS_USER_PROVIDED_TAG) != "true":
                # none given (a MaterializeResult without the record's): Dagster's own, of code and input versions
                why, fix = "which Dagster computed (the asset gave none)", RECORDED_VERSION_FIX
            elif _handed_over(events, record):
                why, fix = "set by its Output(data_version=...)", ("leave data_version out of the Output (the IO manager "
                                                                   "versions by content)")
            else:  # a MaterializeResult: no IO manager took a value
                why, fix = "set by its MaterializeResult(data_version=...)", RECORDED_VERSION_FIX
            warnings.append(
                f"tdprov: asset {asset!r} has data version {version!r}, {why}, not its content digest {digest} (recorded "
                f"as {DIGEST_METADATA_KEY} and in its lineage bundle); {fix} to make the digest its data version")
    return warnings


def _digest_for(df: pd.DataFrame, granularity: str, table: pa.Table, step: Any) -> TableDigest:
    """The asset's digest at ``granularity`` (with row digests at row granularity): the one ``provenance_asset``
    already took in this ``step`` (:func:`_compat.run_context`), else hashed now; ``table``: ``df`` as it is written,
    whose date-time columns are hashed as Arrow made them (not converted twice).

    One thread: it runs beside the Parquet write, which keeps a core busy; a second hash thread would
    take that core from the write (measured in benchmarks/results/dagster.md).
    """
    return digest_of(df, threads=1, arrow=table, granularity="row" if granularity == "row" else "column", step=step)


@dataclass(frozen=True)
class _Place:
    """Where an asset (partition) or an op output that is no asset lives in the data root, and its name."""

    label: str  # in messages: "asset 'raw/orders'", "output 'result' of step 'features.clean_rows'"
    relpath: str
    asset_key: AssetKey | None = None
    partition: str | None = None

    @property
    def what(self) -> str:
        return self.label + (f" partition {self.partition!r}" if self.partition is not None else "")

    @property
    def sidecar(self) -> dict[str, Any]:
        """What the data file's sidecar says it is."""
        if self.asset_key is None:
            return {"output": self.label}
        return {"asset": dataset_name(self.asset_key), "partition": self.partition}

    def record(self, location: DataLocation, digest: TableDigest, **fields: Any) -> DatasetRecord:
        """The version ``digest`` of the data here: an asset by its key, an op output by its location only."""
        uri = location.uri(self.relpath)
        if self.asset_key is not None:
            return DatasetRecord(name=dataset_name(self.asset_key), digest=digest, uri=uri, partition=self.partition, **fields)
        namespace, name = located_dataset(uri, self.relpath)
        return DatasetRecord(name=name, namespace=namespace, digest=digest, uri=uri, **fields)


def _output_place(context: OutputContext) -> _Place:
    """Where ``context``'s output goes: its asset's file, else a file of its own per run, step and output."""
    if context.has_asset_key:
        key = context.asset_key
        partition = _single_partition(context)
        return _Place(f"asset {dataset_name(key)!r}", data_relpath(key, partition), key, partition)
    return _op_output_place(context.name, context.step_key, context.get_identifier())


def _op_output_place(name: str, step_key: str, identifier: Sequence[str]) -> _Place:
    """Where an op output that is no asset lives: a file of its own per run, step and output (Dagster's identifier)."""
    return _Place(f"output {name!r} of step {step_key!r}", op_output_relpath(identifier))


def _input_places(context: InputContext) -> list[_Place]:
    """Where ``context``'s input is: its asset's file per partition it loads, else the file its op output went to."""
    if not context.has_asset_key:
        upstream = context.upstream_output
        assert upstream is not None
        return [_op_output_place(upstream.name, upstream.step_key, context.get_identifier())]
    key = context.asset_key
    partitions = list(context.asset_partition_keys) if context.has_asset_partitions else [None]
    return [_Place(f"asset {dataset_name(key)!r}", data_relpath(key, p), key, p) for p in partitions]


def _sidecar_meanwhile(pool: ThreadPoolExecutor, location: DataLocation, relpath: str) -> Callable[[], Any]:
    """What gives the sidecar of the data file at ``relpath`` (see :func:`_recorded_sidecar`): a local one read at once
    (a few tens of microseconds, less than starting a thread), one on S3 read in ``pool`` while the step hashes and
    validates (a request's round trip)."""
    if location.is_s3:
        return pool.submit(_recorded_sidecar, location, relpath).result
    found = _recorded_sidecar(location, relpath)
    return lambda: found


def _recorded_sidecar(location: DataLocation, relpath: str) -> Any:
    """The sidecar of the data file at ``relpath`` as recorded, any JSON (its owner fields count even when its digest
    is damaged), or None when there is none or it is no JSON (it then names no owner: see :mod:`prov_dagster.owners`)."""
    try:
        return location.read_sidecar(relpath, as_record=False)
    except ValueError:  # not JSON: written by something else
        return None


def _sidecar_flags(place: _Place, flagged: set[str]) -> dict[str, Any]:
    """The flagged columns an op output carries on, in its sidecar (an asset records them on its materialization)."""
    return {FLAGGED_KEY: sorted(flagged)} if place.asset_key is None and flagged else {}


def _single_partition(context: OutputContext) -> str | None:
    if not context.has_asset_partitions:
        return None
    keys = list(context.asset_partition_keys)
    if len(keys) != 1:
        raise range_refusal(dataset_name(context.asset_key), keys, _compat.backfill_policy(context))
    return keys[0]


def _as_dataframe(obj: Any, place: _Place) -> pd.DataFrame:
    if isinstance(obj, pd.DataFrame):
        return obj
    fix = ("return a pandas DataFrame, or record files and other data with ProvenanceResource.record(...)"
           if place.asset_key is not None else
           "return a pandas DataFrame, or give the output another IO manager (Out(io_manager_key=...))")
    raise BadInputError(f"{place.label} returned {type(obj).__module__}.{type(obj).__qualname__}, not a pandas DataFrame",
                        fix=fix)

