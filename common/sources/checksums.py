"""SHA-256 of a dataset version's bytes, read where the data lives (local path, ``file://`` or ``s3://``).

A checksum is given only for bytes that still are the recorded version: the data is hashed the way
tdprov hashed it when it was recorded (tables by their canonical table digest, other files by their
bytes; a sharded version -- a folder, an S3 prefix or a glob -- by its shard tree, reusing the digests
of shards unchanged since they were hashed) and must give the version digest, without changing while read. A
single file's SHA-256 must also be the one its run signed: a table written again with other bytes (another
compression) is still the version, but not the bytes the signature vouches for. Otherwise the answer says
why there is no checksum.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Schema = tuple[tuple[str, str], ...]  # (name, logical type) of each column, or index level, in order


@dataclass(frozen=True)
class ShardFacts:
    """One shard of a sharded version: its path in the dataset, location (path or ``s3://`` URI), canonical
    digest (a leaf of the version's shard tree), the SHA-256 (hex) and size of its bytes, and, for a table shard,
    its columns and index levels (as :class:`FileFacts` has them)."""

    path: str
    location: str
    digest: str
    sha256: str
    size: int
    columns: Schema = ()
    index_levels: Schema = ()


@dataclass(frozen=True)
class FileFacts:
    """What the bytes at a location are: their SHA-256 (hex) and size, or, for a sharded version, each
    shard's; or why they could not be vouched for. ``columns``: (name, logical type) of each column of a single
    file read as a table, in order; ``index_levels``: those of its index levels (``__index__:<name or level>``)."""

    sha256: str | None = None
    size: int | None = None
    problem: str | None = None
    shards: tuple[ShardFacts, ...] = ()
    columns: Schema = ()
    index_levels: Schema = ()


def file_facts(location: str, version: str, signed_sha256: str | None = None) -> FileFacts:
    """SHA-256 and size of the bytes at ``location`` (of each shard, for a sharded version) when they hash
    to ``version``, did not change while read and, for one file, are the bytes whose SHA-256 the generating
    run signed (``signed_sha256``; None: it signed none); else the problem."""
    from prov_common.hashing.targets import folder_target, is_sharded_target, local_target

    try:
        target = local_target(location)
        sharded = folder_target(target)
        if is_sharded_target(sharded):
            return _shard_facts(location, sharded, version)
        return _one_file_facts(location, target, version, signed_sha256)
    except Exception as exc:  # noqa: BLE001 - unreachable data is described, never fatal to a record
        return FileFacts(problem=f"the data at {location} could not be read ({exc})")


def _one_file_facts(location: str, target: str, version: str, signed_sha256: str | None) -> FileFacts:
    """:func:`file_facts` of one file or object: its digest and SHA-256 come from one opening of it (one read for
    bytes), between two looks at its size and stamp (:func:`_stamp`)."""
    from prov_common.hashing import hash_path

    before = _stamp(target)
    found = hash_path(target, file_sha256=True)
    if found.digest != version:
        found = hash_path(target, as_bytes=True, file_sha256=True)
    if found.digest != version:
        return FileFacts(problem=f"the data at {location} no longer hashes to {version} (it hashes to {found.digest})")
    if _stamp(target) != before:
        return FileFacts(problem=f"the data at {location} changed while it was read; make the record again")
    if signed_sha256 is not None and found.file_sha256 != signed_sha256:
        return FileFacts(problem=f"the file at {location} was written again since its run recorded it: the same "
                                 f"{'table' if found.kind == 'table' else 'content'}, other bytes (sha256 {found.file_sha256}, "
                                 f"signed sha256 {signed_sha256})")
    return FileFacts(found.file_sha256, before[0], **_schema(found.columns if found.kind == "table" else ()))


def _schema(table: tuple[Any, ...]) -> dict[str, Schema]:
    """``columns`` and ``index_levels`` of a table from its column digests (``ColumnDigest``), by their role."""
    return {"columns": tuple((c.name, c.logical_type) for c in table if c.role == "column"),
            "index_levels": tuple((c.name, c.logical_type) for c in table if c.role == "index")}


def _stamp(target: str) -> tuple[int, str]:
    """Size and stamp of the file or object at ``target`` now: a local file's modification time, inode and change
    time; an S3 object's ETag and version id (a HEAD request). Any write between two stamps changes it."""
    from prov_common.hashing.remote import s3_head
    from prov_common.hashing.shard_list import is_s3, local_ref

    if is_s3(target):
        head = s3_head(target)
        return int(head["ContentLength"]), f"{head.get('ETag')}:{head.get('VersionId')}"
    ref = local_ref(target)
    return ref.size, ref.stamp


def _shard_facts(location: str, target: str, version: str) -> FileFacts:
    """Each shard of the sharded dataset at ``target`` (listed once, hashed with the shard-digest cache)
    with the SHA-256 of its bytes and a table shard's columns, when the shards hash to ``version`` and did not
    change while read. A shard hashed here gives them from that read; one whose digest the cache gave is read for
    them (:func:`_read_again`)."""
    from prov_common.hashing.shard_list import list_shards
    from prov_common.hashing.shards import hash_shards

    refs = list_shards(target)
    found = hash_shards(target, shards=refs, file_sha256=True)
    if found.digest != version:
        found = hash_shards(target, shards=refs, as_bytes=True, file_sha256=True)
    if found.digest != version:
        return FileFacts(problem=f"the data at {location} no longer hashes to {version} "
                                 f"(its {len(refs)} shards hash to {found.digest})")
    hashed = {s.path: s for s in found.shards}
    read = {r.path: _read_again(r, hashed[r.path]) for r in refs}
    if {(r.path, r.stamp) for r in list_shards(target)} != {(r.path, r.stamp) for r in refs} or any(d is None for d, _ in read.values()):
        return FileFacts(problem=f"the shards at {location} changed while they were read; make the record again")
    return FileFacts(shards=tuple(ShardFacts(r.path, r.location, hashed[r.path].digest, str(read[r.path][0]), r.size,
                                             **_schema(read[r.path][1])) for r in sorted(refs, key=lambda r: r.path)))


def _read_again(ref: Any, found: Any) -> tuple[str | None, tuple[Any, ...]]:
    """SHA-256 and columns (``ColumnDigest``) of a shard (``ShardRef``) hashed as ``found`` (``ShardDigest``): from that
    hashing, else (its digest from the cache) from reading it once more, a table shard as a table, so that its columns
    are known; the SHA-256 is None when the table read no longer has the digest (the shard changed)."""
    from prov_common.hashing import hash_path
    from prov_common.hashing.file_sha256 import sha256_of

    if found.sha256:
        return found.sha256, found.table
    if found.kind != "table":
        return sha256_of(ref.location), ()
    again = hash_path(ref.location, file_sha256=True, etag=ref.etag)
    return (again.file_sha256 if again.digest == found.digest else None), again.columns
