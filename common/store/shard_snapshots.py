"""Snapshots of the datasets pipelines name: a sharded version keeps each shard once (content-addressed),
indexed under the version's shard-tree digest, so ``checkout`` restores the whole folder."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from prov_common.errors import BadInputError, VerificationError
from prov_common.hashing.model import ContentDigest, TableDigest
from prov_common.hashing.shard_model import ShardedDigest
from prov_common.progress import bar
from prov_common.store.base import Store
from prov_common.store.snapshots import (NOT_THIS_VERSION, KeptSnapshot, SnapshotSet, keep_set, keep_set_file, keep_uri,
                                         local_copy)


def snapshot_shards(store: Store, version: ShardedDigest) -> KeptSnapshot:
    """Keep every shard of ``version`` (read again from ``version.location``; an S3 shard is fetched to a
    temporary file, one at a time) and index them under ``version.digest``.

    The shards listed now must be those that were hashed (same paths and sizes), else the dataset changed
    in between and nothing is indexed (a ``BadInputError``). Returns the index entry kept (see :func:`keep_set`)."""
    from prov_common.hashing.shard_list import list_shards

    refs = list_shards(version.location)
    if {(r.path, r.size) for r in refs} != {(s.path, s.size) for s in version.shards}:
        raise BadInputError(f"the shards of {version.location} changed after they were hashed as {version.digest}.",
                            fix="snapshot the dataset after its writer has finished")
    files = []
    for ref in bar(refs, desc="storing shards", unit="shard"):
        with local_copy(ref.location) as path:
            files.append((ref.path, *keep_set_file(store, path)))
    return keep_set(store, SnapshotSet(version.digest, tuple(files)))


def check_restored_shards(files: SnapshotSet, located: Mapping[str, Path], why: str) -> None:
    """The files of ``files``, read from ``located`` (relative path -> local file), hash as a sharded dataset to
    ``files.version``; a ``VerificationError`` naming the digest found and ``why``, otherwise (the index names
    other shards or paths than the version had)."""
    from prov_common.hashing.shard_model import ShardRef
    from prov_common.hashing.shard_tree import dataset_digest, in_tree_order
    from prov_common.hashing.shards import ShardOptions, hash_one_shard

    refs = [ShardRef(str(located[rel]), rel, size, "") for rel, _, size in files.files]
    found = dataset_digest(in_tree_order([hash_one_shard(ref, ShardOptions())
                                          for ref in bar(refs, desc="hashing restored shards", unit="shard")]))
    if found != files.version:
        raise VerificationError(f"the shards restored as {files.version} hash to {found}: {why}.", fix=NOT_THIS_VERSION)


def snapshot_dataset(store: Store, target: str, digest: ContentDigest | ShardedDigest | None = None) -> str:
    """Keep the dataset at ``target`` (a file, ``file://``/``s3://`` URI, folder, prefix or glob) in the store;
    returns the version digest it is indexed under. ``digest``: the version just recorded for it (else it
    is hashed here)."""
    return keep_dataset(store, target, digest).version


def keep_dataset(store: Store, target: str, digest: ContentDigest | ShardedDigest | None = None) -> KeptSnapshot:
    """:func:`snapshot_dataset`, returning what was kept (what a writer records in the version's facet)."""
    from prov_common.hashing.targets import hash_dataset, is_sharded_target

    if isinstance(digest, ShardedDigest) or (digest is None and is_sharded_target(target)):
        sharded = digest if isinstance(digest, ShardedDigest) else hash_dataset(target)
        assert isinstance(sharded, ShardedDigest)
        return snapshot_shards(store, sharded)
    return keep_uri(store, target, table_digest=digest.digest if isinstance(digest, TableDigest) else None)
