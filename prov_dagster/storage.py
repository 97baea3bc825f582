"""Where asset data lives: Parquet files in a local folder or under ``s3://bucket/prefix``.

Each data file has a small JSON sidecar (``<file>.tdprov.json``) with the digest recorded when it was
written, so a later load can tell whether the bytes still hold what was recorded.
"""
from __future__ import annotations

import atexit
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, TypeVar
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.parquet as pq

from prov_common.canonical_json import loads
from prov_common.errors import BadInputError, StoreError, StoreUnavailableError
from prov_common.hashing.file_sha256 import Sha256Follower
from prov_common.hashing.remote import s3_client
from prov_common.store.location import parse_location

T = TypeVar("T")

SIDECAR_SUFFIX = ".tdprov.json"
NAME_MAX_BYTES = 255
"""Bytes one file or folder name may hold (ext4, XFS, Btrfs, APFS: 255)."""
_TEMP_RANDOM_CHARS = 8  # the random part of a name tempfile.mkstemp makes
NAME_ADDED_BYTES = len(f".{SIDECAR_SUFFIX}.") + _TEMP_RANDOM_CHARS
"""Bytes the longest name written beside a data file adds to the file's own name: its sidecar's temporary file,
``.<name>.tdprov.json.XXXXXXXX`` (see :meth:`DataLocation._local_atomic`)."""


def default_data_root(store_uri: str, setting: str = "store") -> str:
    """Data next to the store: ``./.tdprov`` -> ``./.tdprov-data``; ``s3://b/p`` -> ``s3://b/p-data``.
    A store URI that is neither is refused, naming ``setting`` (see :func:`parse_location`)."""
    store = parse_location(store_uri, setting)
    if store.is_s3:
        bucket, _, prefix = store.uri[5:].partition("/")
        prefix = prefix.strip("/")
        return f"s3://{bucket}/{prefix}-data" if prefix else f"s3://{bucket}/tdprov-data"
    path = Path(store.uri).expanduser()
    return str(path.parent / f"{path.name}-data")


MISSING_FIX = "materialize the upstream asset (or partition) first, or point data_root at where it was written"
DAMAGED_FIX = ("re-materialize the upstream asset (or partition), or restore the file: 'tdprov checkout DIGEST -o FILE --force' "
               "when the store keeps a snapshot of the version recorded")
SIDECAR_FIX = "re-materialize the upstream asset (or partition): its sidecar is written again with its data"


class MissingDataError(BadInputError):
    """A data file (or S3 object) to load does not exist."""


class StoredFile(NamedTuple):
    """A data file as written: its location and the hex SHA-256 of its bytes."""

    uri: str
    sha256: str


class LoadedTable(NamedTuple):
    """A Parquet file as read: the table and the hex SHA-256 of the file's bytes."""

    table: pa.Table
    sha256: str


@dataclass(frozen=True)
class DataLocation:
    """A root folder (local path or ``s3://bucket/prefix``) holding Parquet files by relative path."""

    root: str

    def __post_init__(self) -> None:  # a file:// root is the folder it names; an unsupported scheme is refused
        object.__setattr__(self, "root", parse_location(self.root, "data_root").uri)

    @property
    def is_s3(self) -> bool:
        return self.root.startswith("s3://")

    def uri(self, relpath: str) -> str:
        """Full location of ``relpath`` (absolute local path or ``s3://`` URI)."""
        if self.is_s3:
            return f"{self.root.rstrip('/')}/{relpath}"
        return str((Path(self.root).expanduser() / relpath).absolute())

    def check_folder(self, setting: str) -> None:
        """Refuse a local root that is a file or lies under one (``setting`` names it in the message): the asset's
        data could never be written there, and the step failed only after the asset computed."""
        if self.is_s3:
            return
        path = Path(self.root).expanduser().absolute()
        for place in (path, *path.parents):  # the folder, or the nearest one that exists, is created under
            if os.path.lexists(place):
                if not place.is_dir():
                    raise BadInputError(f"{setting} {self.root!r} cannot be a folder: {place} is a file.",
                                        fix=f"give {setting} a folder (created when missing) or s3://bucket/prefix")
                return

    # -- tables -------------------------------------------------------------------------------
    def write_table(self, relpath: str, table: pa.Table, before_replace: Callable[[], object] | None = None) -> StoredFile:
        """Write ``table`` as Parquet at ``relpath`` (replacing the previous file); the SHA-256 of the
        bytes is taken on their way out: from the buffer sent to S3 (during the upload), or read from the
        page cache right behind pyarrow's native writer into a private temporary file, renamed into place
        once hashed.

        ``before_replace`` is called once the bytes are made and before they take the file's place (the S3 upload, the
        rename): when it raises, nothing is written and the previous file stays as it was."""
        if self.is_s3:
            sink = pa.BufferOutputStream()
            pq.write_table(table, sink)
            body = sink.getvalue().to_pybytes()
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tdprov-sha256") as pool:
                of_bytes = pool.submit(lambda: hashlib.sha256(body).hexdigest())  # overlaps the upload
                if before_replace is not None:
                    before_replace()
                self._s3_put(relpath, body)
                return StoredFile(self.uri(relpath), of_bytes.result())

        def write(tmp: str) -> str:
            with Sha256Follower(tmp) as follower:
                pq.write_table(table, tmp)
                sha256 = follower.writer_done()
            if before_replace is not None:
                before_replace()
            return sha256

        return StoredFile(self.uri(relpath), self._local_atomic(relpath, write))

    def read_table(self, relpath: str) -> LoadedTable:
        """Read the Parquet file at ``relpath``, with the SHA-256 of its bytes (read once)."""
        if self.is_s3:
            data = self._s3_get(relpath)
        else:
            path = Path(self.uri(relpath))
            if not path.exists():
                raise MissingDataError(f"data file {path} does not exist", fix=MISSING_FIX)
            data = path.read_bytes()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tdprov-sha256") as pool:
            of_bytes = pool.submit(lambda: hashlib.sha256(data).hexdigest())  # overlaps the Parquet decoding
            try:
                table = pq.read_table(pa.BufferReader(data))
            except (pa.ArrowException, OSError) as exc:  # truncated, emptied or replaced by something else
                raise BadInputError(f"data file {self.uri(relpath)} is not a Parquet file that can be read ({exc}).",
                                    fix=DAMAGED_FIX) from exc
            return LoadedTable(table, of_bytes.result())

    # -- sidecars -----------------------------------------------------------------------------
    def write_sidecar(self, relpath: str, record: dict[str, Any]) -> None:
        data = json.dumps(record, sort_keys=True, indent=1).encode()
        key = relpath + SIDECAR_SUFFIX
        if self.is_s3:
            self._s3_put(key, data)
        else:
            self._local_atomic(key, lambda tmp: Path(tmp).write_bytes(data))

    def read_sidecar(self, relpath: str, *, as_record: bool = True) -> Any:
        """The sidecar of the data file at ``relpath`` (None when there is none). One that is not JSON raises
        BadInputError naming it; so does (``as_record``) one that is not a JSON object whose ``digest`` is text
        (emptied, cut short, or another kind of JSON). Not ``as_record``, any JSON is given as it is: the owner fields
        of a sidecar whose digest is damaged still say whose file it is."""
        key = relpath + SIDECAR_SUFFIX
        try:
            data = self._s3_get(key) if self.is_s3 else Path(self.uri(key)).read_bytes()
        except (BadInputError, FileNotFoundError):
            return None
        try:
            record = loads(data)
        except ValueError as exc:  # not JSON, not UTF-8, nested without end
            raise BadInputError(f"sidecar {self.uri(key)} is not JSON ({exc}).", fix=SIDECAR_FIX) from exc
        if as_record and (not isinstance(record, dict) or not isinstance(record.get("digest", ""), str)):
            raise BadInputError(f"sidecar {self.uri(key)} is not the record tdprov writes (a JSON object with a digest).",
                                fix=SIDECAR_FIX)
        return record

    # -- backends -----------------------------------------------------------------------------
    def _local_atomic(self, relpath: str, write: Callable[[str], T]) -> T:
        """``write`` a private temporary file, then move it over ``relpath``; the version it replaces is
        freed in the background (see :func:`_replace_freeing_later`)."""
        target = Path(self.uri(relpath))
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        os.close(fd)
        try:
            result = write(tmp)
            _replace_freeing_later(tmp, target)
            return result
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def _bucket_key(self, relpath: str) -> tuple[str, str]:
        parsed = urlparse(self.root)
        prefix = parsed.path.strip("/")
        return parsed.netloc, f"{prefix}/{relpath}" if prefix else relpath

    def _s3_put(self, relpath: str, data: bytes) -> None:
        bucket, key = self._bucket_key(relpath)
        try:
            s3_client().put_object(Bucket=bucket, Key=key, Body=data)
        except Exception as exc:  # botocore errors are many; all mean the same here
            raise _s3_error(exc, bucket, key) from exc

    def _s3_get(self, relpath: str) -> bytes:
        bucket, key = self._bucket_key(relpath)
        client = s3_client()
        try:
            return client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except client.exceptions.NoSuchKey as exc:
            raise MissingDataError(f"data object s3://{bucket}/{key} does not exist", fix=MISSING_FIX) from exc
        except Exception as exc:
            raise _s3_error(exc, bucket, key) from exc


_reclaimer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tdprov-reclaim")  # joined at exit
_replaced: list[Path] = []  # old versions with their hidden second name, not yet handed to the reclaimer
_replaced_lock = threading.Lock()
OLD_SUFFIX = ".old"


def _replace_freeing_later(tmp: str, target: Path) -> None:
    """Move ``tmp`` over ``target`` atomically; the blocks of the version it replaces are freed later,
    by :func:`free_replaced`. Freeing takes 10-40 ms for a 100 MB file, and 15-20 ms even for a
    one-block sidecar on a filesystem mounted with ``discard`` (ext4 then discards the freed blocks
    synchronously), which a plain rename spends in the step.

    The old version keeps a hidden second name, ``.<name>.old``, until it is freed; one left by a
    process that died in between is removed by the next write of the same file.
    """
    keep = target.with_name(f".{target.name}{OLD_SUFFIX}")
    _unlink_quietly(keep)
    try:
        os.link(target, keep)
    except OSError:  # no previous version, or a filesystem without hard links: free it in the rename
        os.replace(tmp, target)
        return
    try:
        os.replace(tmp, target)
    finally:
        with _replaced_lock:
            _replaced.append(keep)


def free_replaced() -> None:
    """Free the versions replaced so far, in a background thread (inline once the interpreter is exiting).

    The IO manager calls it once the step's bundle is written, so that freeing (disk work that can hold
    up other writes) never delays sealing the record; any write's caller may call it at any time.
    """
    with _replaced_lock:
        paths = _replaced[:]
        _replaced.clear()
    for path in paths:
        try:
            _reclaimer.submit(_unlink_quietly, path)
        except RuntimeError:  # the reclaimer was shut down at exit
            _unlink_quietly(path)


atexit.register(free_replaced)


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _s3_error(exc: Exception, bucket: str, key: str) -> StoreError | BadInputError:
    from botocore.exceptions import ClientError, ParamValidationError

    if isinstance(exc, ParamValidationError):  # refused before any request: the name, never the network
        return BadInputError(f"S3 location s3://{bucket}/{key} is not valid: {exc}",
                             fix="check the bucket name and key of data_root (s3://bucket/prefix)")
    if isinstance(exc, ClientError):
        return StoreError(
            f"S3 refused s3://{bucket}/{key}: {exc}",
            fix="check the bucket exists and the credentials may read and write it",
        )
    return StoreUnavailableError(
        f"S3 endpoint unreachable for s3://{bucket}/{key}: {exc}",
        fix="check AWS_ENDPOINT_URL_S3 and the network, then retry",
    )

