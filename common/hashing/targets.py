"""One entry point for the datasets a pipeline names: a file or object, or a sharded dataset.

A local folder, an ``s3://bucket/prefix/`` (ending in ``/``) or a glob is one sharded version, hashed with
:func:`~prov_common.hashing.shards.hash_shards`; anything else is one file or object, hashed with
:func:`~prov_common.hashing.files.hash_path`. The Dagster resource and the Airflow listener both call it.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from prov_common.file_uri import is_file_uri, is_local_host, split_uri
from prov_common.hashing.model import ContentDigest, Granularity
from prov_common.hashing.shard_model import ShardedDigest, ShardRef


def local_target(target: str) -> str:
    """``target`` with a ``file://`` or ``file:/`` URI turned into its path (other targets, ``file:x.csv`` among
    them, unchanged)."""
    if not is_file_uri(target):
        return target
    parts = split_uri(target)
    host = "" if is_local_host(parts.netloc) else parts.netloc
    return (f"/{host}" if host else "") + unquote(parts.path)


def is_sharded_target(target: str) -> bool:
    """Whether ``target`` (a path, ``file://`` or ``s3://`` URI, or a glob) names a sharded dataset."""
    from prov_common.hashing.shard_list import is_sharded

    return is_sharded(local_target(target))


def is_not_found(exc: BaseException) -> bool:
    """Whether ``exc`` says the file or S3 object does not exist."""
    from prov_common.hashing.remote import S3ObjectMissingError
    from prov_common.store.s3 import NOT_FOUND_CODES, s3_error_code

    return isinstance(exc, (FileNotFoundError, S3ObjectMissingError)) or s3_error_code(exc) in NOT_FOUND_CODES


def folder_target(target: str) -> str:
    """``target``, or ``target + "/"`` when it is an ``s3://`` URI that names no object but a "folder" of
    keys below it (Airflow drops the trailing ``/`` of an ``Asset`` URI); see :func:`resolve_target`."""
    return resolve_target(target)[0]


def resolve_target(target: str) -> tuple[str, int | None]:
    """:func:`folder_target`'s answer, with the object's size when finding it out read it (else ``None``):
    a HEAD request, then a listing of one key, only for an ``s3://`` URI that names no object. A glob that names
    no object is a prefix when keys are under it (``s3://b/run[1]``, as a local folder of that name is that folder)."""
    from prov_common.hashing.remote import S3_SCHEMES, s3_object_size

    if urlsplit(target).scheme not in S3_SCHEMES or target.endswith("/"):
        return target, None
    try:  # an object whose key holds a wildcard is that object, as a local file is
        return target, s3_object_size(target)
    except Exception as exc:  # botocore's ClientError; anything but "not found" is left to the hashing
        if not is_not_found(exc):
            return target, None
    return no_object_target(target), None


def no_object_target(target: str) -> str:
    """What the ``s3://`` URI ``target``, which S3 says names no object (a HEAD answered 404), names: ``target + "/"``
    when keys are stored under it (one listing of at most one key), else ``target`` (no listing, as without
    s3:ListBucket: reported missing). :func:`resolve_target`'s answer after its HEAD, for a caller that sent it."""
    from prov_common.hashing.remote import is_s3_prefix

    return target + "/" if is_s3_prefix(target) else target


def listed_shards(target: str) -> list[ShardRef] | None:
    """The shards of ``target`` when it names a sharded dataset (one listing, no shard read), else ``None``;
    pass them to :func:`hash_dataset` so that it does not list again."""
    from prov_common.hashing.shard_list import list_shards

    local = local_target(target)
    return list_shards(local) if is_sharded_target(local) else None


def hash_dataset(target: str, *, scheduler: str | None = None, cache: bool = True, granularity: Granularity = "column",
                 shards: Sequence[ShardRef] | None = None, spill: str | None = None, spill_named: str = "spill",
                 spool: Path | None = None, **file_options: Any) -> ContentDigest | ShardedDigest:
    """The version digest of ``target``: a :class:`ShardedDigest` for a sharded dataset (its shards hashed
    where ``scheduler`` says, default ``$TDPROV_DASK_SCHEDULER``; with ``cache``, recorded digests of
    unchanged shards reused), else ``hash_path(target, **file_options)``. ``shards``: the sharded dataset's
    shards as :func:`listed_shards` found them (default: listed here). ``spill``, ``spill_named``: where the workers of
    a cluster reached by address put a sharded version's row-set keys, and the setting that names it; ``spool``: the
    spool folder whose hidden folder holds them on this machine (default the environment's; a Dagster resource's or
    the Airflow listener's, :func:`~prov_common.scratch.spool_folder`) (:func:`~prov_common.hashing.shards.hash_shards`).

    ``granularity="row"`` gives row digests where there are rows: a table file's, or those of all shards
    of a sharded dataset whose shards are tables with the same columns (else its ``no_rows_because``
    says why not); a file that is not a table is hashed as bytes, with no rows.
    """
    from prov_common.hashing.files import hash_path, table_format
    from prov_common.hashing.shards import hash_shards

    local = local_target(target)
    if is_sharded_target(local):
        return hash_shards(local, scheduler=scheduler, cache=cache, granularity=granularity, shards=shards, spill=spill,
                           spill_named=spill_named, spool=spool)
    if granularity != "column" and table_format(local) is not None:
        file_options["granularity"] = granularity
    return hash_path(local, **file_options)


def hash_dataset_here_if_unreachable(target: str, *, scheduler: str | None, setting: str, warn: Callable[[str], None],
                                     strict: str | None = None, **options: Any) -> ContentDigest | ShardedDigest:
    """:func:`hash_dataset` for a pipeline: where the Dask scheduler cannot be reached, the shards are hashed on this
    machine instead (the default rule: a LocalCluster for many large shards, else this process; the digest is the
    same), with a warning naming ``setting`` (where the scheduler was set), the address and the fix. An outage of
    the cluster never fails the step or leaves its data without a digest, unless strict mode is on: ``strict``
    names the setting that turned it on (``strict``, ``TDPROV_STRICT``), and then a
    :class:`~prov_common.hashing.shard_engine.SchedulerUnreachableError` naming both settings is raised instead.
    A sharded dataset is listed once, for both (unless ``shards`` gives its listing)."""
    from prov_common.hashing.shard_engine import SchedulerUnreachableError

    if options.get("shards") is None:
        options["shards"] = listed_shards(target)
    try:
        return hash_dataset(target, scheduler=scheduler, **options)
    except SchedulerUnreachableError as exc:
        unreachable = f"{setting} {exc.address!r} cannot be reached ({exc.reason})"
        if strict:
            raise SchedulerUnreachableError(
                exc.address, exc.reason, what=f"tdprov strict mode ({strict}): {unreachable}; the shards of {target} "
                "are not hashed.", fix=f"start the scheduler, set {setting} to a reachable address, 'local' or "
                f"'none', or turn {strict} off to have them hashed on this machine instead.") from exc
        warn(f"tdprov: {unreachable}; the shards of {target} are hashed on this machine instead (the same digest). "
             f"Fix: start the scheduler, or set {setting} to a reachable address, 'local' or 'none'")
        return hash_dataset(target, scheduler="auto", **options)
