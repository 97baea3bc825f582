"""Results of hashing a sharded dataset (a folder, an S3 prefix or a glob of shards); no I/O here."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from prov_common.hashing.model import ColumnDigest


@dataclass(frozen=True)
class LocalState:
    """What a local file, folder or glob holds at one moment: the path in the dataset, size and stamp
    (modification time, inode, change time) of each shard, or of the file (path ``""``); empty when nothing is
    there. Of one S3 object (path ``""``), its stamp is its ETag and VersionId, and ``changed_at`` its LastModified.
    Two states are equal when they hold the same stamps: a write, a copy, a removed or added shard changes
    them; a hidden entry beside the shards (``_SUCCESS``) or a read does not."""

    stamps: frozenset[tuple[str, int, str]]
    changed_at: float | None = field(default=None, compare=False)  # the latest change time of those, epoch seconds

    @property
    def empty(self) -> bool:
        """Nothing is there: no file, no shard in the folder or glob."""
        return not self.stamps

    def status_only_change(self, later: LocalState) -> bool:
        """Whether ``later`` differs from this state in change times alone: the same shards, sizes, modification
        times and inodes (a chmod, chown or backup tool; also a rewrite in place that sets the old modification time
        back, so a hash read again must find the same bytes), the change of status alone that the hashing of one file
        reads once more rather than refuse (:func:`~prov_common.hashing.files.hash_path`)."""
        return self != later and _written(self) == _written(later)


def _written(state: LocalState) -> frozenset[tuple[str, int, str]]:
    """``state``'s stamps without their change times (a local stamp is ``<mtime_ns>:<inode>:<ctime_ns>``)."""
    return frozenset((path, size, stamp.rsplit(":", 1)[0]) for path, size, stamp in state.stamps)


@dataclass(frozen=True)
class ShardRef:
    """One shard as listed, before it is read.

    location: local absolute path or ``s3://bucket/key``; path: its path relative to the dataset (``/``
    separators), which names it in the dataset digest; size: bytes; stamp: what says the bytes did not
    change since a digest was recorded (``<mtime_ns>:<inode>`` locally, the ETag and version on S3).
    """

    location: str
    path: str
    size: int
    stamp: str
    mtime_ns: int | None = None  # local files only: a file written just now is not cached (see shard_cache)

    @property
    def etag(self) -> str | None:
        """The ETag the listing gave an S3 shard (it is read at that ETag, so its digest is of those bytes), else None;
        ``""`` when it gave an empty one (:attr:`unpinned`)."""
        return self.stamp.removeprefix("etag:") if self.stamp.startswith("etag:") else None

    @property
    def unpinned(self) -> bool:
        """An S3 shard listed with an empty ETag (an S3-compatible server's): its stamp names no bytes, so it is read
        as it is when read, and no digest recorded under that stamp is of its bytes."""
        return self.etag == ""


@dataclass(frozen=True)
class ShardDigest:
    """The canonical digest of one shard: a table digest for Parquet, CSV and JSON lines, else of its bytes."""

    path: str
    kind: Literal["table", "file"]
    digest: str
    size: int
    bytes: int
    rows: int | None = None
    columns: dict[str, str] = field(default_factory=dict)  # column name -> digest (tables)
    # at row granularity only (never cached): (name, logical type) of each column, and the row-set keys
    # of its rows (``prov_common.rowset.format.sorted_keys``: sorted uint64, 8 bytes a row) made where
    # the shard was hashed, as a ``prov_common.rowset.runs.KeyRun``: in a file of the recording process's
    # temporary folder when the shard was hashed on its machine, else (a remote Dask worker) in memory,
    # half of the row digests' bytes, already sorted
    row_schema: tuple[tuple[str, str], ...] = field(default=(), compare=False, repr=False)
    row_keys: Any = field(default=None, compare=False, repr=False)  # prov_common.rowset.runs.KeyRun
    # with hash_shards(file_sha256=True), the SHA-256 of the bytes of a shard read there (never cached: None for
    # a digest the shard-digest cache gave)
    sha256: str | None = field(default=None, compare=False, repr=False)
    # with hash_shards(file_sha256=True), the columns and index levels (name, logical type, role) of a table shard
    # read there (never cached: empty for a digest the cache gave), which a Croissant record set describes
    table: tuple[ColumnDigest, ...] = field(default=(), compare=False, repr=False)
    # the shard as the read its digest came from found it (a local file: size and stamp of that one open, which a
    # shard renamed over since its listing moves), under which the shard-digest cache keeps the digest (never cached)
    read_as: ShardRef | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (also what the shard-digest cache keeps)."""
        return {"path": self.path, "kind": self.kind, "digest": self.digest, "size": self.size, "bytes": self.bytes,
                "rows": self.rows, "columns": dict(self.columns)}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> "ShardDigest":
        """The inverse of :meth:`to_dict`; ``ValueError`` for a field of another type (a damaged cache record)."""
        kind, digest, rows, columns = doc["kind"], doc["digest"], doc.get("rows"), doc.get("columns") or {}
        if kind not in ("table", "file") or not isinstance(digest, str) or ":" not in digest \
                or not (rows is None or type(rows) is int) or not isinstance(columns, dict) \
                or not all(isinstance(k, str) and isinstance(v, str) for k, v in columns.items()):
            raise ValueError(f"not a shard digest: kind {kind!r}, digest {digest!r}, rows {rows!r}")
        return cls(doc["path"], kind, digest, int(doc["size"]), int(doc["bytes"]), rows, dict(columns))


@dataclass(frozen=True)
class ShardedDigest:
    """The digest of a sharded dataset version: the root of a Merkle tree over its shards, sorted by path.

    ``read`` names the shards whose bytes were read this time (the others' digests came from the cache);
    ``engine`` says where they were hashed (``in-process``, ``dask LocalCluster (2 workers)``, ``dask tcp://…``).
    """

    digest: str
    location: str
    shards: tuple[ShardDigest, ...]
    read: tuple[str, ...] = ()
    engine: str = "in-process"
    kind: Literal["shards"] = "shards"
    # at row granularity: the sorted row-set keys of every shard's rows (``prov_common.rowset.runs.KeyRuns``,
    # one sorted run a shard, see ShardDigest) under their one schema, or why there are none (a shard that
    # is not a table, or columns differ)
    row_keys: Any = field(default=None, compare=False, repr=False)
    row_schema: tuple[tuple[str, str], ...] = field(default=(), compare=False, repr=False)
    no_rows_because: str | None = field(default=None, compare=False)

    def schema_fields(self) -> list[tuple[str, str]]:
        """(name, logical type) of the columns every table shard shares (row granularity), in order."""
        return list(self.row_schema)

    @property
    def rows(self) -> int | None:
        """Rows of all table shards (None when no shard is a table)."""
        counts = [s.rows for s in self.shards if s.rows is not None]
        return sum(counts) if counts else None

    @property
    def bytes(self) -> int:
        """Canonical bytes hashed over all shards."""
        return sum(s.bytes for s in self.shards)


def extent_counts(digest: Any) -> tuple[int | None, int | None]:
    """(rows, shards) of a table, file or sharded digest: the rows of a table (or of all table shards) and
    the shard count of a sharded version; None where it has none."""
    rows = getattr(digest, "rows", None)
    return (rows if isinstance(rows, int) else None, len(digest.shards) if isinstance(digest, ShardedDigest) else None)


@dataclass(frozen=True)
class ShardsDiff:
    """Which shards differ between two sharded versions, by path; for a changed table shard whose column
    digests are known on both sides, which columns changed."""

    same: bool
    changed: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed_columns: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def summary(self) -> list[str]:
        """Lines for people (empty when the versions are the same)."""
        lines = []
        for title, paths in (("changed", self.changed), ("added", self.added), ("removed", self.removed)):
            for path in paths:
                cols = self.changed_columns.get(path)
                lines.append(f"{title} shard: {path}" + (f" (columns: {', '.join(cols)})" if cols else ""))
        return lines
