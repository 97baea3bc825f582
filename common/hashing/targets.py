"""One entry point for the datasets a pipeline names: a file or object, or a sharded dataset.

A local folder, an ``s3://bucket/prefix/`` (ending in ``/``) or a glob is one sharded version, hashed with
:func:`~prov_common.hashing.shards.hash_shards`; anything else is one file or object, hashed with
:func:`~prov_common.hashing.files.hash_path`. The Dagster resource and the Airflow listener both call it.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from prov_common.hashing.model import ContentDigest
from prov_common.hashing.shard_model import ShardedDigest


def local_target(target: str) -> str:
    """``target`` with a ``file://`` URI turned into its path (other targets unchanged)."""
    parts = urlsplit(target)
    if parts.scheme != "file":
        return target
    host = parts.netloc if parts.netloc not in ("", "localhost") else ""
    return (f"/{host}" if host else "") + unquote(parts.path)


def is_sharded_target(target: str) -> bool:
    """Whether ``target`` (a path, ``file://`` or ``s3://`` URI, or a glob) names a sharded dataset."""
    from prov_common.hashing.shard_list import is_sharded

    return is_sharded(local_target(target))


def sharded_size(target: str) -> int:
    """Bytes of all shards of the sharded dataset ``target`` (one listing, no shard read)."""
    from prov_common.hashing.shard_list import list_shards

    return sum(ref.size for ref in list_shards(local_target(target)))


def hash_dataset(target: str, *, scheduler: str | None = None, **file_options: Any) -> ContentDigest | ShardedDigest:
    """The version digest of ``target``: a :class:`ShardedDigest` for a sharded dataset (its shards hashed
    where ``scheduler`` says, default ``$TDPROV_DASK_SCHEDULER``; recorded shard digests reused), else
    ``hash_path(target, **file_options)``."""
    from prov_common.hashing.files import hash_path
    from prov_common.hashing.shards import hash_shards

    local = local_target(target)
    if is_sharded_target(local):
        return hash_shards(local, scheduler=scheduler)
    return hash_path(local, **file_options)
