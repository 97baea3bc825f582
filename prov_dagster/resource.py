"""``ProvenanceResource``: record what an asset or op reads and writes itself (files, S3 objects, DataFrames)."""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Union

import pandas as pd
from dagster import ConfigurableResource, DataVersion, InitResourceContext, MetadataValue

from prov_common.config import check_granularity
from prov_common.errors import BadInputError
from prov_common.hashing import hash_dataframe
from prov_common.hashing.targets import hash_dataset_here_if_unreachable
from prov_common.lineage.naming import dataset_from_uri
from prov_common.rowset import row_set_of, without_rows
from prov_common.scratch import spool_folder
from prov_dagster import _compat
from prov_dagster.config import ProvenanceConfig
from prov_dagster.masking import flags_metadata, inherited
from prov_dagster.metadata import (bundle_metadata, extent_metadata, quality_metadata, read_back_names, recorded_names,
                                   version_metadata)
from prov_dagster.model import DatasetRecord, StepIdentity
from prov_dagster.naming import dataset_name, direct_run_id
from prov_dagster.policy import marks_training
from prov_dagster.recorded_tables import schema_targets, step_assets
from prov_dagster.recorder import StepRun, configured, recorder_for, step_namespaces, written_in_run
from prov_dagster.snapshots import keep_snapshot, wants_snapshot
from prov_dagster.sources import declare_source, step_sources
from prov_dagster.validation import check_output, masked_samples, refuse, warn_written

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReadVersion:
    """A version :meth:`ProvenanceResource.read` hashed where the step read it, for ``record(inputs=[...])``.

    ``digest``: its version digest, as ``record()`` records it; ``uri``: its path or ``s3://`` URI (``None`` for a
    DataFrame)."""

    record: DatasetRecord

    @property
    def digest(self) -> str:
        """The version digest (what ``tdprov hash`` prints for the data as it was read)."""
        return self.record.version_id or ""

    @property
    def uri(self) -> str | None:
        """Where the version was read (``None``: a DataFrame)."""
        return self.record.uri


Data = Union[str, "os.PathLike[str]", pd.DataFrame]
Datasets = Union[Mapping[str, Union[Data, ReadVersion]], Iterable[Union[Data, ReadVersion]], None]


@dataclass(frozen=True)
class Recorded:
    """What :meth:`ProvenanceResource.record` recorded.

    ``digests``: dataset name (its URI where another dataset recorded has that name: one key in two buckets) ->
    digest; ``bundle``: where the step's lineage bundle is (``None`` when it
    could not be written: ``problem`` says why); ``data_version``: the single output's digest (``None``
    with several outputs); ``metadata``: ready for ``MaterializeResult(metadata=...)`` (with the Pandera outcome
    when one output was validated); ``quality``: each validated asset's Pandera outcome by asset name (see
    :meth:`metadata_for`).
    """

    digests: dict[str, str]
    bundle: str | None
    data_version: DataVersion | None
    metadata: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None
    quality: dict[str, dict[str, Any]] = field(default_factory=dict)

    def metadata_for(self, asset: str) -> dict[str, Any]:
        """``metadata`` with the Pandera outcome of ``asset`` (its name, as its key is written: ``raw/orders``), for
        its ``MaterializeResult(asset_key=..., metadata=...)`` in a step that validated several assets."""
        return {**self.metadata, **self.quality.get(asset, {})}


class ProvenanceResource(ConfigurableResource, ProvenanceConfig):
    """Records datasets that a step handles itself, in the same store and namespace as the IO manager.

    ``record(inputs=..., outputs=..., context=context)`` hashes each path, ``s3://`` URI or DataFrame
    (a folder, an ``s3://bucket/prefix/`` ending in ``/`` or a glob is one sharded version, its shards
    hashed where ``dask_scheduler`` says) and emits the step's START and COMPLETE events (one lineage bundle). Paths and URIs are named by
    their location (OpenLineage naming: ``file`` + absolute path, ``s3://bucket`` + key); the key of a
    mapping (``{"vendor/orders": "s3://bucket/orders.csv"}``) goes into the dataset's ``symlinks``
    facet, and names a DataFrame (``inmemory://`` + that name).
    With ``context`` (an asset or op context) the events belong to that step, together with what the
    IO manager loaded for it and the registered source each of its assets declares
    (``provenance_asset(source=...)``); without, they form a run of their own (job ``job_name``).
    """

    def setup_for_execution(self, context: InitResourceContext) -> None:
        """The store, data root and mask key are checked here, before any asset computes (``TDPROV_STORE`` and
        ``TDPROV_MASK_KEY`` included); then noted as this process's on its store (:func:`configured`)."""
        configured(self, settings=self.check_settings())

    def record(
        self,
        *,
        inputs: Datasets = None,
        outputs: Datasets = None,
        context: Any = None,
        job_name: str = "adhoc",
        snapshot: bool | None = None,
        granularity: str = "column",
    ) -> Recorded:
        """Record ``inputs`` and ``outputs``; with ``snapshot=True`` (default: the store's setting) keep a
        content-addressed copy of each output file, for ``tdprov checkout``; with ``granularity="row"``
        attach each output's row set (a table file, a DataFrame, or all shards of a sharded dataset whose
        shards are tables with the same columns), for ``tdprov contains``.

        With ``context``, an output table of an asset that declares a Pandera schema (the output named by its key,
        or the only one) is validated under the asset's quality policy: ``fail`` seals the run FAIL and raises
        ``dagster.Failure``; otherwise the outcome is in ``metadata`` for the asset's ``pandera`` check. ``metadata``
        also names the columns flagged personal or confidential (``tdprov/flagged_columns``: the step's assets'
        ``masked_columns`` and schema flags, their declared sources' flags and the flags of what the IO manager
        loaded for the step), which a step that loads the asset through the IO manager masks in its samples."""
        rows = check_granularity(granularity, "record()") == "row"
        asked = _items(inputs)
        read = self._records(asked, "input")
        given = _items(outputs)  # once: a generator of outputs is read here only
        written = self._records(given, "output", rows=rows)  # hashed before the run starts: an error leaves no START
        warn = context.log.warning if context is not None and hasattr(context, "log") else log.warning
        assets = step_assets(context)
        targets = schema_targets(assets, written, [data for _, data in given], warn)
        step = self._step(context, job_name)  # no event yet: an error before step.stage() below leaves no START
        warn = step.warn_once(warn)  # the sources declared and the masking read the same source records
        step.inputs.extend(read)
        sources = dict.fromkeys(wants.source for wants in assets.values() if wants.source is not None)
        # flagged by the assets the IO manager loaded for the step and by the sources its assets declare (inputs too)
        settings = self.settings()  # resolved once (environment and configuration) for the sources and the masking
        listing = step_sources(step, settings)  # the store's source records, read once for the sources and the masking
        loaded = {*inherited(context),
                  *(c for ref in sources for c in declare_source(step, settings, ref, warn, listing))}
        checks = [(t, check_output(t.frame, t.wants, {*t.wants.masked_columns, *loaded})) for t in targets]
        flagged = {*loaded, *(c for wants in assets.values() for c in wants.masked_columns)}
        step.training = step.training or _marked_training(context)
        step.stage()  # START (or RUNNING) with what the step read
        _warn_read_as_written([r for r, (_, data) in zip(read, asked) if not isinstance(data, ReadVersion)], written, warn)
        if context is not None:
            _warn_written_in_run(step, written, warn)
        policies: dict[int, tuple[str, str]] = {}  # output index -> the asset validated on it, its policy
        for target, checked in checks:
            record = written[target.index]
            checked, schema_flagged = masked_samples(checked, target.wants, settings, digest=record.version_id or "",
                                                     uri=record.uri, warn=warn, listing=listing)
            flagged |= schema_flagged
            written[target.index] = replace(record, quality=checked.quality)
            policies[target.index] = (target.asset, target.wants.policy)
            if checked.refused:
                step.outputs.extend(r for i, r in enumerate(written) if i != target.index)
                refuse(step, written[target.index], target.what, target.wants.policy)
            warn_written(target.what, checked, warn)
        if wants_snapshot(self, snapshot):
            written = [keep_snapshot(self, r, step.ol_run_id, log.warning) if r.uri is not None else r for r in written]
        for record in written:
            step.outputs.append(record)
        bundle = step.complete()
        recorder = recorder_for(self)
        recorder.wait()  # the bundle is written when record() returns
        names = recorded_names([*step.inputs, *written])
        read_back = read_back_names(step.inputs, written, names)  # a dataset read and written: its two versions
        digests = {read_back.get((r.name, r.dataset), names[r.name, r.dataset]): r.version_id
                   for r in step.inputs if r.version_id}
        digests.update({names[r.name, r.dataset]: r.version_id for r in written if r.version_id})
        version = DataVersion(written[0].version_id) if len(written) == 1 and written[0].version_id else None
        metadata = {f"tdprov/digest/{read_back[r.name, r.dataset]}": MetadataValue.text(r.version_id)
                    for r in step.inputs if r.version_id and (r.name, r.dataset) in read_back}
        metadata.update({f"tdprov/digest/{names[r.name, r.dataset]}": MetadataValue.text(r.version_id)
                         for r in written if r.version_id})
        if version is not None and written[0].uri is not None:  # where the asset's one version lives: deps=[...] of it
            metadata.update(version_metadata(written[0].digest, written[0].uri, step.recorder.namespace))
        metadata.update(extent_metadata(written, names))
        metadata.update(flags_metadata(flagged))  # a step that loads the asset masks them too
        quality = {asset: quality_metadata(written[index], policy) for index, (asset, policy) in policies.items()}
        if len(quality) == 1:  # the one output validated (named by the key, or the only one): what the pandera check reads
            metadata.update(*quality.values())
        status = recorder.status()
        metadata.update(bundle_metadata(bundle, status))
        return Recorded(digests=digests, bundle=None if status.problem else bundle, data_version=version, metadata=metadata,
                        problem=status.problem, quality=quality)

    def read(self, data: Data, *, name: str | None = None) -> ReadVersion:
        """Hash ``data`` (a path, ``s3://`` URI or DataFrame, as ``record(inputs=...)`` takes it; ``name`` names it
        as a mapping key does) now, where the step reads it, for ``record(inputs=[<this>], ...)`` once the step wrote
        its outputs: the version recorded as read is the one read, also of a file the step then rewrites in place,
        which ``record(inputs=[path], outputs=[path])`` would hash only once it was rewritten. Nothing is recorded
        until ``record()`` is called with it."""
        return ReadVersion(self._record(name, data, "input", unnamed_fix="name it: provenance.read(df, name='features/train')"))

    def _step(self, context: Any, job_name: str) -> StepRun:
        recorder = recorder_for(self)
        if context is None:
            return recorder.recording(StepIdentity(direct_run_id(), None, job_name))
        op_context = getattr(context, "op_execution_context", context)
        step = op_context.get_step_execution_context()
        run = recorder.recording(_compat.step_identity(step), elsewhere=partial(step_namespaces, step))
        run.declare(step)
        return run

    def _records(self, items: list[tuple[str | None, Data | ReadVersion]], role: str, *, rows: bool = False) -> list[DatasetRecord]:
        records = [self._record(name, data, role, rows) for name, data in items]
        return [replace(r, row_set=row_set_of(r.digest, *r.dataset, shown_as=r.name), digest=without_rows(r.digest)) if rows else r for r in records]

    def _record(self, name: str | None, data: Data | ReadVersion, role: str, rows: bool = False, *,
                unnamed_fix: str | None = None) -> DatasetRecord:
        """The version of ``data`` given as an ``input`` or ``output`` (``role``) by ``name`` (``None``: by its location);
        ``unnamed_fix``: the fix of a DataFrame given without a name (default: name it in ``record()``'s mapping)."""
        granularity = "row" if rows else "column"
        if isinstance(data, ReadVersion):
            if role != "input":
                raise BadInputError(
                    f"{role} {name or data.uri or data.record.name} is a version read (provenance.read()); "
                    "record() takes it among inputs only",
                    fix="pass the path, URI or DataFrame written as the output, and the read version in inputs=[...]",
                )
            return data.record if name is None else replace(data.record, name=name, namespace=None)
        if isinstance(data, pd.DataFrame):
            if name is None:
                raise BadInputError(
                    f"an {role} DataFrame was given without a name",
                    fix=unnamed_fix or f"pass DataFrames in a mapping: record({role}s={{'features/train': df}})",
                )
            return DatasetRecord(name=name, digest=hash_dataframe(data, granularity=granularity))
        if not isinstance(data, (str, os.PathLike)):
            raise BadInputError(
                f"{role} {name or ''} is a {type(data).__name__}; record() takes paths, s3:// URIs or DataFrames",
                fix="pass the file's path or URI, or the DataFrame",
            )
        uri = os.fspath(data)
        digest = hash_dataset_here_if_unreachable(uri, scheduler=self.dask_scheduler, warn=log.warning,
                                                  setting=self.scheduler_setting(), strict=self.strict_setting(),
                                                  spill=self.dask_spill, spill_named="dask_spill",
                                                  spool=spool_folder(self.settings()),
                                                  file_sha256=True, granularity=granularity)
        if name is None:
            namespace, name = dataset_from_uri(uri)
            return DatasetRecord(name=name, namespace=namespace, digest=digest, uri=uri)
        return DatasetRecord(name=name, digest=digest, uri=uri)


def _warn_written_in_run(step: StepRun, written: list[DatasetRecord], warn: Callable[[str], None]) -> None:
    """Warn of each location among ``written`` that another step of ``step``'s Dagster run wrote too (as this process
    recorded it, :func:`written_in_run`), naming the steps, the run and the location. Both versions stay recorded, each
    as its step made it; the earlier is no longer where it was written."""
    mine = step.identity
    earlier = [(key, record) for key, record in written_in_run(mine.dagster_run_id) if key != mine.step_key]
    for record in dict.fromkeys((r.dataset, r.uri) for r in written if r.uri is not None):
        dataset, uri = record
        others = {key: found.version_id for key, found in earlier if found.uri is not None and found.dataset == dataset}
        if others:
            wrote = ", ".join(f"step {key!r} (version {version})" for key, version in others.items())
            warn(f"tdprov: step {mine.step_key!r} of Dagster run {mine.dagster_run_id} writes {uri}, which {wrote} of the "
                 f"same run also wrote: both versions are recorded, each by its step, and the earlier one is no longer at "
                 f"{uri} (write each step's data to a location of its own, or record with snapshot=True to keep a copy "
                 "of each version for tdprov checkout)")


def _warn_read_as_written(hashed: list[DatasetRecord], written: list[DatasetRecord], warn: Callable[[str], None]) -> None:
    """Warn of each location that one ``record()`` call takes as an input (``hashed``: hashed by the call) and an
    output at the same digest: hashed once the step had written it, the version recorded as read is the one written,
    which the step did not read if it rewrote the location. Both stay recorded as given."""
    outputs = {(r.dataset, r.uri, r.version_id) for r in written if r.uri is not None}
    for _, uri, version in dict.fromkeys(k for k in ((r.dataset, r.uri, r.version_id) for r in hashed) if k in outputs):
        warn(f"tdprov: {uri} is both an input and an output of this record() call, hashed once the step wrote it, so "
             f"the version recorded as read ({version}) is the one written, which the step did not read if it rewrote "
             f"{uri}. Fix: hash it where the step reads it, before = provenance.read({uri!r}), and give "
             "record(inputs=[before], ...); if the step did not change it, give it as an input only")


def _items(datasets: Datasets) -> list[tuple[str | None, Data | ReadVersion]]:
    """``(name, data)`` of each dataset given to ``record()`` (``None``: named by its location)."""
    if datasets is None:
        return []
    if isinstance(datasets, (str, os.PathLike, pd.DataFrame, ReadVersion)):
        datasets = [datasets]
    return list(datasets.items()) if isinstance(datasets, Mapping) else [(None, d) for d in datasets]


def _marked_training(context: Any) -> bool:
    """Whether an asset of the definition of an asset ``context`` is marked as training (metadata or tag
    ``tdprov/training``): every asset of it, where :func:`step_assets` gives those the step materializes."""
    assets_def = getattr(context, "assets_def", None) if context is not None and getattr(context, "has_assets_def", False) else None
    if assets_def is None:
        return False
    return any(marks_training(assets_def.metadata_by_key.get(key), assets_def.tags_by_key.get(key), f"asset {dataset_name(key)!r}")
               for key in assets_def.keys)
