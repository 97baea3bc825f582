"""Datasets of a run, as OpenLineage input and output datasets with version, schema, hash and quality facets."""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from openlineage.client.event_v2 import InputDataset, OutputDataset
from openlineage.client.facet_v2 import (
    data_quality_assertions_dataset,
    data_quality_metrics_dataset,
    dataset_version_dataset,
    schema_dataset,
    test_run,
)
from openlineage.client.generated.base import DatasetFacet, InputDatasetFacet, OutputDatasetFacet

from prov_common import PRODUCER
from prov_common.hashing.model import ContentDigest, TableDigest
from prov_common.hashing.shard_model import ShardedDigest
from prov_common.lineage.facets import (
    CONTENT_HASH, CONTENT_KINDS, PANDERA, ContentHashDatasetFacet, PanderaCheck, PanderaDatasetFacet,
)
from prov_common.lineage.naming import clean_namespace, dataset_from_uri
from prov_common.lineage.redact import redact_identity
from prov_common.quality.model import QualityResult
from prov_common.sources.model import SourceRecord

if TYPE_CHECKING:  # pragma: no cover - the snapshots load when a step keeps a copy of its data
    from prov_common.store.snapshots import KeptSnapshot


@dataclass(frozen=True)
class CheckResult:
    """A check run on a dataset version, other than its Pandera schema (a Dagster asset check): ``status`` ``pass``,
    ``fail`` or ``error`` (the check raised, with no outcome); ``severity`` ``error`` or ``warn`` (None: not known);
    ``params``: JSON-safe details (its metadata, whether it blocks), recorded as the assertion's ``params``."""

    name: str
    status: str
    severity: str | None = None
    description: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in ("pass", "fail", "error"):
            raise ValueError(f"check {self.name!r}: status {self.status!r} is none of 'pass', 'fail', 'error'")

    def assertion(self) -> data_quality_assertions_dataset.Assertion:
        """The standard assertion: ``success`` is whether it passed (a check that raised has no outcome, and the field
        is required: false, with ``params.status`` ``error`` telling it apart from a failure)."""
        return data_quality_assertions_dataset.Assertion(
            assertion=self.name, success=self.status == "pass", column=None, severity=self.severity, name=self.name,
            description=self.description, params={**self.params, "status": self.status})


@dataclass(frozen=True)
class DatasetRef:
    """A dataset version that a run reads or writes.

    ``digest``: its content digest (becomes the ``version`` facet); ``quality``: its Pandera result;
    ``samples_file`` / ``row_digests_file``: names of the failure-sample and row-digest files kept in
    the lineage bundle; ``rows_root``: the Merkle root of the row set in ``row_digests_file``; ``severity``: ``error`` when a failed check fails the step, else ``warn``;
    ``snapshot``: the copy of this version the writer kept in the store before the event (``tdprov_contentHash.snapshot``);
    ``checks``: other checks run on this version (an input's go into its ``dataQualityAssertions`` facet, an output's
    into the run's ``test`` facet, beside the Pandera ones);
    ``facets`` / ``input_facets`` / ``output_facets``: any other facets, added as given.
    """

    namespace: str
    name: str
    digest: ContentDigest | ShardedDigest | None = None
    quality: QualityResult | None = None
    samples_file: str | None = None
    row_digests_file: str | None = None
    rows_root: str | None = None
    severity: str | None = None
    snapshot: KeptSnapshot | None = None
    checks: tuple[CheckResult, ...] = ()
    facets: Mapping[str, DatasetFacet] = field(default_factory=dict)
    input_facets: Mapping[str, InputDatasetFacet] = field(default_factory=dict)
    output_facets: Mapping[str, OutputDatasetFacet] = field(default_factory=dict)

    @classmethod
    def from_uri(cls, uri_or_path: str | os.PathLike[str], **kwargs: Any) -> DatasetRef:
        """A ref named by :func:`~prov_common.lineage.naming.dataset_from_uri` (credentials never kept)."""
        namespace, name = dataset_from_uri(uri_or_path)
        return cls(namespace=namespace, name=name, **kwargs)

    @property
    def label(self) -> str:
        """``namespace/name``, as used in test names."""
        return f"{self.namespace}/{self.name.lstrip('/')}" if self.namespace != "file" else self.name


def input_dataset(ref: DatasetRef) -> InputDataset:
    """An OpenLineage input; its Pandera result and its other checks go into the standard ``dataQualityAssertions``
    input facet."""
    input_facets: dict[str, InputDatasetFacet] = {}
    if ref.quality is not None or ref.checks:
        input_facets["dataQualityAssertions"] = assertions_facet(ref.quality, ref.severity, ref.checks)
    input_facets.update(ref.input_facets)
    return InputDataset(
        namespace=clean_namespace(ref.namespace), name=redact_identity(ref.name), facets=_dataset_facets(ref), inputFacets=input_facets
    )


def output_dataset(ref: DatasetRef) -> OutputDataset:
    """An OpenLineage output; its Pandera result goes into ``dataQualityMetrics`` and ``tdprov_pandera``
    (and, at run level, into the ``test`` facet: see :func:`quality_test_facet`)."""
    facets = _dataset_facets(ref)
    if ref.quality is not None:
        facets["dataQualityMetrics"] = metrics_facet(ref.quality, ref.digest)
    facets.update(ref.facets)
    return OutputDataset(
        namespace=clean_namespace(ref.namespace), name=redact_identity(ref.name), facets=facets, outputFacets=dict(ref.output_facets)
    )


def _dataset_facets(ref: DatasetRef) -> dict[str, DatasetFacet]:
    facets: dict[str, DatasetFacet] = {}
    if ref.digest is not None:
        facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(
            datasetVersion=ref.digest.digest, producer=PRODUCER
        )
        if isinstance(ref.digest, TableDigest) or (isinstance(ref.digest, ShardedDigest) and ref.digest.row_schema):
            facets["schema"] = schema_facet(ref.digest)  # a row set's schema is checked against it (docs/content-hash.md)
        facets[CONTENT_HASH] = content_hash_facet(ref.digest, ref.row_digests_file, ref.rows_root, ref.snapshot)
    if ref.quality is not None:
        facets[PANDERA] = pandera_facet(ref.quality, ref.samples_file)
    facets.update(ref.facets)
    return facets


def content_hash_facet(digest: ContentDigest | ShardedDigest, row_digests_file: str | None = None,
                       rows_root: str | None = None, snapshot: KeptSnapshot | None = None) -> ContentHashDatasetFacet:
    """``tdprov_contentHash`` of a table or file digest (per-column digests, never per-row ones), with the
    SHA-256 of the file's bytes when the producer recorded it and the root of its row set, if any; a
    sharded version gives its shard count (its shards' digests are in ``tdprov hash --json``, not the
    event) and the root of the row set of all its shards, if one was recorded. ``snapshot``: the copy of this
    version kept in the store (recorded only when it is of this version)."""
    facet = _content_hash_facet(digest, row_digests_file, rows_root)
    if snapshot is not None and snapshot.version == digest.digest:
        facet.snapshot = snapshot.to_facet()
    return facet


def _content_hash_facet(digest: ContentDigest | ShardedDigest, row_digests_file: str | None,
                        rows_root: str | None) -> ContentHashDatasetFacet:
    algorithm = digest.digest.split(":", 1)[0]
    if isinstance(digest, ShardedDigest):
        return ContentHashDatasetFacet(digest=digest.digest, algorithm=algorithm, kind="shards", rows=digest.rows,
                                       bytes=digest.bytes, columns=None, shardCount=len(digest.shards),
                                       granularity="row" if rows_root else None, rowDigestsFile=row_digests_file,
                                       rowsRoot=rows_root)
    if isinstance(digest, TableDigest):
        return ContentHashDatasetFacet(
            digest=digest.digest,
            algorithm=algorithm,
            kind="table",
            rows=digest.rows,
            bytes=digest.bytes,
            columns=digest.column_digests(),
            granularity=digest.granularity,
            rowDigestsFile=row_digests_file,
            fileSha256=digest.file_sha256,
            rowsRoot=rows_root,
        )
    return ContentHashDatasetFacet(digest=digest.digest, algorithm=algorithm, kind="file", bytes=digest.bytes, columns=None,
                                   fileSha256=digest.file_sha256)


def named_content_facet(digest: str, kind: str | None, *, rows: int | None = None,
                        size: int | None = None) -> ContentHashDatasetFacet:
    """``tdprov_contentHash`` of a version named by its digest without its data being read: what is known of it. A
    ``kind`` that is not one of :data:`~prov_common.lineage.facets.CONTENT_KINDS` is not known and left out, so that
    no one takes the digest for a hash of bytes it may not be; so are unknown ``rows`` and ``size`` (``bytes``)."""
    known = kind if kind in CONTENT_KINDS else None
    return ContentHashDatasetFacet(digest=digest, algorithm=digest.split(":", 1)[0], kind=known, rows=rows, bytes=size,
                                   columns=None)


def registered_content_facet(source: SourceRecord) -> ContentHashDatasetFacet:
    """``tdprov_contentHash`` of a registered source's version, from its source record alone (the file is not read):
    kind ``table`` with its rows when it was registered from a table, ``file`` with its size when from other bytes,
    and no kind when the record does not say (registered with ``--digest``). A table's ``bytes`` (the size of its
    canonical data) is not in the record: left out."""
    if source.rows is not None:
        return named_content_facet(source.digest, "table", rows=source.rows)
    return named_content_facet(source.digest, "file" if source.bytes is not None else None, size=source.bytes)


def schema_facet(digest: TableDigest | ShardedDigest) -> schema_dataset.SchemaDatasetFacet:
    """Standard ``schema`` facet: column names and canonical logical types, in order (of a sharded version: the
    columns its shards share, known at row granularity)."""
    return schema_dataset.SchemaDatasetFacet(
        fields=[
            schema_dataset.SchemaDatasetFacetFields(name=name, type=logical_type, ordinal_position=i, fields=None)
            for i, (name, logical_type) in enumerate(digest.schema_fields(), start=1)
        ],
        producer=PRODUCER,
    )


def pandera_facet(quality: QualityResult, samples_file: str | None = None) -> PanderaDatasetFacet:
    """``tdprov_pandera``: schema name and digest, and every check's outcome (no failure cases)."""
    return PanderaDatasetFacet(
        schemaName=quality.schema_name,
        schemaDigest=quality.schema_digest,
        passed=quality.passed,
        failureCount=quality.failure_count,
        rows=quality.rows,
        checks=[
            PanderaCheck(name=c.name, column=c.column, passed=c.passed, failureCount=c.failure_count, status=c.status)
            for c in quality.checks
        ],
        samplesFile=samples_file,
    )


def assertions_facet(
    quality: QualityResult | None, severity: str | None = None, checks: tuple[CheckResult, ...] = ()
) -> data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet:
    """Standard ``dataQualityAssertions`` input facet: one assertion per Pandera check (skipped checks: success false),
    then one per other check (:meth:`CheckResult.assertion`)."""
    return data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(
        assertions=[
            data_quality_assertions_dataset.Assertion(
                assertion=c.name,
                success=c.passed,
                column=c.column,
                severity=severity,
                name=f"{quality.schema_name}.{c.column}.{c.name}" if c.column else f"{quality.schema_name}.{c.name}",
                actual=str(c.failure_count),
                expected="0",
                params=None,
            )
            for c in (quality.checks if quality is not None else ())
        ] + [check.assertion() for check in checks],
        producer=PRODUCER,
    )


def metrics_facet(
    quality: QualityResult, digest: ContentDigest | None = None
) -> data_quality_metrics_dataset.DataQualityMetricsDatasetFacet:
    """Standard ``dataQualityMetrics``: rows, bytes, and per column the null and non-null counts."""
    return data_quality_metrics_dataset.DataQualityMetricsDatasetFacet(
        rowCount=quality.rows,
        bytes=digest.bytes if digest is not None else None,
        columnMetrics={
            column: data_quality_metrics_dataset.ColumnMetrics(nullCount=nulls, count=quality.rows - nulls, quantiles=None)
            for column, nulls in quality.null_counts.items()
        },
        producer=PRODUCER,
    )


def quality_test_facet(outputs: list[DatasetRef] | tuple[DatasetRef, ...]) -> test_run.TestRunFacet | None:
    """Run-level ``test`` facet with every check run on the outputs (Pandera's, then the others), or None when no output
    was checked."""
    tests = [
        test_run.TestExecution(
            name=f"{ref.label}:{c.column}:{c.name}" if c.column else f"{ref.label}:{c.name}",
            status=c.status,
            severity=ref.severity,
            type=c.name,
            expected="0",
            actual=str(c.failure_count),
            params={"dataset": ref.label, "schema": ref.quality.schema_name, **({"column": c.column} if c.column else {})},
        )
        for ref in outputs
        if ref.quality is not None
        for c in ref.quality.checks
    ] + [
        test_run.TestExecution(name=f"{ref.label}:{check.name}", status=check.status, severity=check.severity, type=check.name,
                               description=check.description, params={**check.params, "dataset": ref.label})
        for ref in outputs
        for check in ref.checks
    ]
    return test_run.TestRunFacet(tests=tests, producer=PRODUCER) if tests else None
