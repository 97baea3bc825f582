"""The row set of a table or sharded digest, as a lineage-bundle attachment (what the integrations record; no I/O).

Light to import: every recorded output passes through :func:`without_rows`; the builders load with the first row set."""
from __future__ import annotations

from dataclasses import dataclass, replace

from prov_common.bundle.layout import dataset_stem
from prov_common.errors import BadInputError
from prov_common.hashing.model import FileDigest, TableDigest
from prov_common.hashing.shard_model import ShardedDigest

ROW_SET_SUFFIX = ".rowset"


def row_set_path(namespace: str, name: str, shown_as: str | None = None, version: str | None = None) -> str:
    """``rows/<dataset stem>.rowset``: where a dataset version's row set lives in its run's bundle (one file per
    dataset and version, see :func:`~prov_common.bundle.layout.dataset_stem`; readers follow the facet's
    ``rowDigestsFile``)."""
    return f"rows/{dataset_stem(namespace, name, shown_as, version)}{ROW_SET_SUFFIX}"


@dataclass(frozen=True)
class RowSet:
    """A built row set: its bundle path, bytes and root (which the version's content-hash facet records). The
    bytes are a read-only view, of a mapped temporary file for a sharded version's, else of the buffer they were
    built in, which nothing else holds (attached as they are, never copied:
    :meth:`~prov_common.bundle.transport.ProvenanceTransport.attach`)."""

    path: str
    data: memoryview
    root: str


def row_set_of(digest: TableDigest | ShardedDigest | FileDigest, namespace: str, dataset_name: str, *,
               shown_as: str | None = None) -> RowSet:
    """The row set of a table, or of all shards of a sharded dataset, hashed at row granularity, to be
    attached to the bundle of its run (the dataset ``namespace``/``dataset_name`` names its path; the path's
    readable part and errors show it as ``shown_as``, default ``dataset_name``)."""
    from prov_common.hashing.rows import digests_chunks
    from prov_common.rowset.format import build
    from prov_common.rowset.runs import build_from_runs

    shown = dataset_name if shown_as is None else shown_as

    if isinstance(digest, FileDigest):
        raise BadInputError(f"dataset {shown!r} is a file, not a table (Parquet, CSV or JSON lines): it has no rows.",
                            fix="record it at column granularity")
    if isinstance(digest, ShardedDigest) and digest.no_rows_because is not None:
        raise BadInputError(f"dataset {shown!r} has no row set: {digest.no_rows_because}.",
                            fix="record it at column granularity, or give all its shards the same columns")
    if not has_rows(digest):
        raise BadInputError(f"dataset {shown!r} was not hashed at row granularity.", fix="hash it with granularity='row'")
    if isinstance(digest, ShardedDigest):
        data, root = build_from_runs(digest.row_keys, digest.schema_fields())
    else:
        data, root = build(digests_chunks(digest.row_digests), digest.schema_fields())
    return RowSet(row_set_path(namespace, dataset_name, shown_as, digest.digest), memoryview(data).toreadonly(), root)


def without_rows(digest: TableDigest | ShardedDigest | FileDigest) -> TableDigest | ShardedDigest | FileDigest:
    """``digest`` without its row digests (a table) or row-set keys (sharded): what a recorder keeps once
    the row set stands for them (16 bytes a row held until the step ends otherwise, or the files of the
    shards' keys kept until then)."""
    if isinstance(digest, ShardedDigest):
        return replace(digest, row_keys=None)
    if isinstance(digest, TableDigest):
        return replace(digest, row_digests=None)
    return digest


def has_rows(digest: object) -> bool:
    """Whether ``digest`` was hashed at row granularity and has rows to make a row set of: a table with
    row digests, or a sharded version with row-set keys."""
    return getattr(digest, "row_keys" if isinstance(digest, ShardedDigest) else "row_digests", None) is not None
