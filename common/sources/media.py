"""Media types of datasets, from a format name or a file name (no I/O).

Deterministic on every machine: a fixed table for the formats pipelines write, then Python's built-in
``mimetypes`` defaults (not the system's ``/etc/mime.types``), then ``application/octet-stream``.
"""
from __future__ import annotations

import mimetypes
import re
from functools import lru_cache
from pathlib import PurePosixPath

from prov_common.errors import BadInputError
from prov_common.hashing.remote import without_query

OCTET_STREAM = "application/octet-stream"
_KNOWN = {
    "parquet": "application/vnd.apache.parquet",
    "pq": "application/vnd.apache.parquet",
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
    "json": "application/json",
    "jsonl": "application/jsonl",
    "ndjson": "application/jsonl",
    "pkl": "application/x-pickle",
    "pickle": "application/x-pickle",
    "joblib": "application/x-pickle",
    "npy": "application/x-npy",
    "arrow": "application/vnd.apache.arrow.file",
    "feather": "application/vnd.apache.arrow.file",
    "txt": "text/plain",
}
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*\Z")


@lru_cache(maxsize=1)
def _builtin() -> mimetypes.MimeTypes:
    return mimetypes.MimeTypes()  # built-in table only: the same answer on every machine


def media_type_of_name(name: str) -> str:
    """The media type of a file called ``name`` (a path, URI or dataset name), by its extension: a path's and an S3
    key's whole name (``q?a=1.parquet``), another URI's without its query."""
    suffix = PurePosixPath(without_query(name)).suffix.lower().lstrip(".")
    if suffix in _KNOWN:
        return _KNOWN[suffix]
    guessed, _ = _builtin().guess_type("x." + suffix, strict=False) if suffix else (None, None)
    return guessed or OCTET_STREAM


def media_type(value: str, option: str = "--data-format") -> str:
    """``value`` as a media type: a media type as given (``text/csv``) or a format name (``csv``, ``parquet``)."""
    text = value.strip().lower()
    if _MEDIA_TYPE.match(text):
        return text
    if text.lstrip(".") in _KNOWN:
        return _KNOWN[text.lstrip(".")]
    guessed = media_type_of_name("x." + text.lstrip(".")) if re.fullmatch(r"\.?[a-z0-9]+", text) else OCTET_STREAM
    if guessed == OCTET_STREAM:
        raise BadInputError(f"{option} {value!r} is neither a media type nor a known format name.",
                            fix=f"pass a media type such as text/csv or application/vnd.apache.parquet, or one of: {', '.join(sorted(_KNOWN))}")
    return guessed


def media_type_of_path(location: str | None) -> str | None:
    """The media type of the file at ``location`` (path or URI) by its extension; None when it has none."""
    last = without_query(location or "").rstrip("/").rsplit("/", 1)[-1]
    return media_type_of_name(last) if "." in last.strip(".") else None
