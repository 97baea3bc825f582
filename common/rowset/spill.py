"""Where the Dask workers of a cluster reached by address put each shard's sorted row-set keys: the shared spill
location of ``spill=`` or ``$TDPROV_DASK_SPILL``, a folder both they and the recording process reach (a shared
file system) or ``s3://bucket/prefix``, so that only a run's location and size travel back to the recording
process, never its keys (docs/content-hash.md, "Row sets").

A version's runs go in a folder of their own there, named for this machine, process and time
(:func:`~prov_common.scratch.shared_scratch_folder`), or under a prefix ``tdprov-rowkeys-<random>/`` (S3), removed
once its row set is built (a folder) or once the runs were copied to this machine's spill folder (S3), and on failure.
"""
from __future__ import annotations

import logging
import os
import secrets
import shutil
from typing import IO, Any

from prov_common.config import unset
from prov_common.errors import BadInputError, StoreError
from prov_common.store.buffers import ViewReader
from prov_common.store.location import local_folder

log = logging.getLogger(__name__)

ENV = "TDPROV_DASK_SPILL"
PREFIX = "tdprov-rowkeys-"  # a version's folder or prefix of runs, here and in the temporary folder
COPY_CHUNK = 1 << 20  # bytes of a run held at a time while it is copied from S3


def is_s3_spill(location: str | None) -> bool:
    return location is not None and location.lower().startswith("s3://")


def spill_setting(spill: str | None, setting: str = "spill") -> str:
    """The setting the shared spill location is taken from, as messages name it: ``setting`` (where ``spill`` was
    configured: ``dask_spill``, ``[tdprov] dask_spill``) when ``spill`` is given, else ``TDPROV_DASK_SPILL``."""
    return ENV if unset(spill) else setting


def shared_spill(spill: str | None, setting: str = "spill") -> str | None:
    """The shared spill location from ``spill``, else ``$TDPROV_DASK_SPILL``; None when neither is set. An ``s3://``
    URI names a bucket and prefix; anything else names an existing folder (a path or ``file://`` URI). Anything else is
    a :class:`BadInputError` naming the setting (:func:`spill_setting`). A ``spill`` that is
    :func:`~prov_common.config.unset` (blank) is not given: the environment applies."""
    given = ((os.environ.get(ENV) or "") if unset(spill) else str(spill)).strip()
    if not given:
        return None
    setting = spill_setting(spill, setting)
    if is_s3_spill(given):
        if not given[5:].split("/", 1)[0]:
            raise BadInputError(f"{setting} {given!r} names no bucket.", fix="write it as s3://bucket/prefix")
        return given.rstrip("/") + "/"
    folder = local_folder(given, setting)
    if not os.path.isdir(folder):
        raise BadInputError(f"{setting} {given!r} is not a folder on this machine.",
                            fix="give a folder the Dask workers and this process both reach (a shared file system), "
                                "or s3://bucket/prefix")
    return folder


def version_prefix(location: str) -> str:
    """A new prefix under the ``s3://`` spill ``location`` for the runs of one version."""
    return f"{location}{PREFIX}{secrets.token_hex(8)}/"


def _bucket_key(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[len("s3://"):].partition("/")
    return bucket, key


def put_run(prefix: str, data: memoryview) -> str:
    """Store a run's bytes as a new object under ``prefix`` (an ``s3://`` version prefix); its URI."""
    from prov_common.hashing.remote import s3_client

    uri = f"{prefix}{secrets.token_hex(12)}.keys"
    bucket, key = _bucket_key(uri)
    s3_client().put_object(Bucket=bucket, Key=key, Body=ViewReader(data), ContentLength=len(data))
    return uri


def read_range(uri: str, start: int, out: memoryview) -> int:
    """Read bytes ``start ..`` of the object at ``uri`` into ``out`` (one ranged GET); how many were read."""
    from prov_common.hashing.remote import s3_client

    if not len(out):
        return 0
    bucket, key = _bucket_key(uri)
    body = s3_client().get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{start + len(out) - 1}")["Body"]
    return _read_into(body, out)


def copy_run(uri: str, path: str) -> int:
    """Copy the object at ``uri`` into the new file ``path``, :data:`COPY_CHUNK` bytes at a time; its size. A run that
    cannot be read back (deleted by a lifecycle rule, access denied) is a :class:`StoreError` naming it, not botocore's."""
    from botocore.exceptions import BotoCoreError, ClientError

    from prov_common.hashing.remote import s3_client
    from prov_common.store.s3 import s3_error_code

    bucket, key = _bucket_key(uri)
    try:
        body = s3_client().get_object(Bucket=bucket, Key=key)["Body"]
        with open(path, "xb") as f:
            shutil.copyfileobj(body, f, COPY_CHUNK)
            return f.tell()
    except (ClientError, BotoCoreError) as exc:
        if os.path.exists(path):  # cut off mid-copy: no partial run is left
            os.unlink(path)
        raise StoreError(f"the row-set keys a Dask worker spilled to {uri} cannot be read back "
                         f"({s3_error_code(exc) or type(exc).__name__})",
                         fix="hash the dataset again; keep the spill location's objects until a hashing ends (no "
                             "lifecycle rule that expires them sooner) and let this process read them") from exc


def _read_into(body: IO[bytes] | Any, out: memoryview) -> int:
    at = 0
    while at < len(out):
        chunk = body.read(min(COPY_CHUNK, len(out) - at))
        if not chunk:
            break
        out[at:at + len(chunk)] = chunk
        at += len(chunk)
    return at


def remove_prefix(prefix: str) -> None:
    """Delete every object under the ``s3://`` ``prefix`` (a version's runs); what cannot be deleted is logged (a
    bucket that does not exist holds nothing to delete: the workers that could not put their runs there said so)."""
    from prov_common.hashing.remote import s3_client
    from prov_common.store.s3 import s3_error_code

    bucket, key = _bucket_key(prefix)
    client = s3_client()
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
    except Exception as exc:  # noqa: BLE001 - botocore's errors: the row set is built; only the spill is left
        if s3_error_code(exc) == "NoSuchBucket":
            return
        log.warning("tdprov: could not remove the row-set keys spilled under %s (%s: %s). Fix: delete them, or set a "
                    "lifecycle rule that expires that prefix", prefix, type(exc).__name__, exc)
