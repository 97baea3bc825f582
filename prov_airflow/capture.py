"""Hash the datasets a task declares, where they live, within a time and size budget.

Never raises: every dataset yields a :class:`DatasetCapture`, hashed or with the reason it is not.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path, PurePath
from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from prov_common.hashing.model import ContentDigest  # no pandas: hashing loads it on first use
from prov_common.hashing.shard_model import ShardedDigest
from prov_common.hashing.remote import S3_SCHEMES, s3_object_size

from prov_airflow.settings import ListenerLimits

log = logging.getLogger(__name__)

Status = Literal["hashed", "missing", "too_large", "timeout", "error", "unsupported"]


@dataclass(frozen=True)
class DatasetCapture:
    """One declared dataset and what hashing it gave."""

    uri: str
    status: Status
    digest: ContentDigest | ShardedDigest | None = None
    message: str = ""
    row_set: Any = None  # prov_common.rowset.RowSet, at row granularity
    snapshot: bool = False  # keep a content-addressed copy (outlets)

    @property
    def complete(self) -> bool:
        return self.status == "hashed"


def to_uri(item: Any) -> str | None:
    """URI of an inlet/outlet: an ``Asset`` (``uri``), a lineage ``File`` (``url``), a path or a URI string."""
    if isinstance(item, PurePath):
        return Path(item).absolute().as_uri()
    value = getattr(item, "uri", None) or getattr(item, "url", None) or (item if isinstance(item, str) else None)
    if not isinstance(value, str) or not value:
        return None
    if "://" not in value:
        return Path(value).absolute().as_uri()
    return value


def local_path(uri: str) -> Path | None:
    """Filesystem path of a ``file://`` URI, ``None`` for other schemes."""
    parts = urlsplit(uri)
    if parts.scheme != "file":
        return None
    path = unquote(parts.path)
    if parts.netloc and parts.netloc not in ("", "localhost"):
        path = "/" + parts.netloc + path  # file://relative/x written without the third slash
    return Path(path)


def _size(uri: str) -> int | None:
    from prov_common.hashing.targets import is_sharded_target, sharded_size

    if is_sharded_target(uri):
        return sharded_size(uri)
    path = local_path(uri)
    if path is not None:
        return path.stat().st_size  # FileNotFoundError is reported as "missing"
    if urlsplit(uri).scheme in S3_SCHEMES:
        return s3_object_size(uri)
    return None


def _hash(uri: str, granularity: str = "column", scheduler: str | None = None) -> ContentDigest | ShardedDigest:
    """A file's or object's digest (at row granularity for a table, if asked), or a sharded dataset's."""
    from prov_common.hashing.files import table_format
    from prov_common.hashing.targets import hash_dataset  # s3:// objects are read through prov_common.hashing.remote

    path = local_path(uri)
    target = str(path) if path is not None else uri
    if granularity == "row" and table_format(target) is not None:
        return hash_dataset(target, file_sha256=True, granularity="row")
    return hash_dataset(target, scheduler=scheduler, file_sha256=True)


def _row_set(uri: str, digest: ContentDigest) -> Any:
    from prov_common.lineage.datasets import DatasetRef
    from prov_common.rowset import row_set_of

    return row_set_of(digest, DatasetRef.from_uri(uri).name)  # type: ignore[arg-type]


def hash_one(uri: str, limits: ListenerLimits, seconds_left: float, granularity: str = "column") -> DatasetCapture:
    """Hash one dataset in a daemon thread, giving up after ``seconds_left`` (the thread is abandoned);
    at row granularity a table's row set is built as well."""
    if local_path(uri) is None and urlsplit(uri).scheme not in S3_SCHEMES:
        return DatasetCapture(uri, "unsupported", message=f"scheme of {uri!r} is not hashed (file:// and s3:// are)")
    from prov_common.hashing.targets import folder_target, is_not_found

    result: dict[str, Any] = {}

    def work() -> None:
        try:
            target = folder_target(uri)  # an Asset("s3://bucket/prefix/") arrives without its "/"
            size = _size(target)
            if size is not None and size > limits.max_bytes:
                result["capture"] = DatasetCapture(
                    uri, "too_large",
                    message=f"{uri} has {size} bytes, above [tdprov] max_bytes={limits.max_bytes}; not hashed")
                return
            digest = _hash(target, granularity, limits.dask_scheduler)
            rows = _row_set(uri, digest) if getattr(digest, "row_digests", None) is not None else None
            result["capture"] = DatasetCapture(uri, "hashed", digest=digest, row_set=rows)
        except BaseException as exc:  # noqa: BLE001 - reported, never raised into the task
            status: Status = "missing" if is_not_found(exc) else "error"
            result["capture"] = DatasetCapture(uri, status, message=f"{type(exc).__name__}: {exc}")

    worker = threading.Thread(target=work, name=f"tdprov-hash {uri}", daemon=True)
    worker.start()
    worker.join(max(seconds_left, 0.0))
    if worker.is_alive():
        return DatasetCapture(uri, "timeout",
                              message=f"hashing {uri} took longer than [tdprov] hash_timeout={limits.timeout}s")
    return result["capture"]


def capture_all(items: list[Any], limits: ListenerLimits, options: Callable[[Any], Any] | None = None) -> list[DatasetCapture]:
    """Hash every declared dataset, sharing one time budget; logs each dataset that could not be hashed.

    ``options(item)`` gives a dataset's :class:`~prov_airflow.rows.DatasetOptions` (granularity, snapshot)."""
    deadline = time.monotonic() + limits.timeout
    captures: list[DatasetCapture] = []
    seen: set[str] = set()
    for item in items:
        uri = to_uri(item)
        if uri is None or uri in seen:
            continue
        seen.add(uri)
        wanted = options(item) if options is not None else None
        capture = hash_one(uri, limits, deadline - time.monotonic(), wanted.granularity if wanted else "column")
        if wanted is not None and wanted.snapshot:
            capture = dataclasses.replace(capture, snapshot=True)
        if not capture.complete:
            log.warning("tdprov: %s recorded without a content hash (%s): %s", uri, capture.status, capture.message)
        captures.append(capture)
    return captures


