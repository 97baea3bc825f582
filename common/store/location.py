"""Where a store or a data root is: a local folder or ``s3://bucket/prefix``, read from a setting's text (no I/O).

One reading for every place that takes such a setting (``open_store``, the Dagster IO manager's data root), so
that a URI one of them refuses is never taken by another as a relative folder named after its scheme.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult, unquote, urlsplit

from prov_common.errors import BadInputError
from prov_common.file_uri import URI_SCHEME, is_local_host

SCHEME = URI_SCHEME
"""A URI scheme at the start of a setting (:data:`~prov_common.file_uri.URI_SCHEME`)."""
BUCKET = re.compile(r"[A-Za-z0-9.\-_]{1,255}")
"""The bucket names boto3 sends at all (its own check, before any request)."""
FORMS = "a folder path, file:///absolute/path or s3://bucket/prefix (S3-compatible services via AWS_ENDPOINT_URL_S3)"


@dataclass(frozen=True)
class Location:
    """A parsed location: ``uri`` is a local path (a ``file://`` URI resolved) or ``s3://bucket/prefix`` with the
    scheme in lower case."""

    uri: str

    @property
    def is_s3(self) -> bool:
        return self.uri.startswith("s3://")


def parse_location(uri: str | os.PathLike[str], setting: str = "store URI") -> Location:
    """Read ``uri``: a plain path, ``file://`` or ``s3://bucket/prefix`` (scheme in any case); anything else,
    ``s3://`` without a bucket or ``s3:/`` with one slash is a :class:`BadInputError` naming ``setting``."""
    text = os.fspath(uri)
    if not isinstance(text, str) or not text.strip():
        raise BadInputError(f"{setting} is empty.", fix=f"give {FORMS}")
    found = SCHEME.match(text)
    if found is None:
        return Location(text)
    scheme = found.group(1).lower()
    if scheme == "file":
        return Location(local_store_path(text, setting))
    if scheme != "s3":
        raise BadInputError(f"{setting} '{text}' has the unsupported scheme '{found.group(1)}'.", fix=f"give {FORMS}")
    rest = text[found.end():]
    if not rest.startswith("/"):  # looked at before urlsplit, which drops a tab or newline: s3:/\t/bucket
        raise _not_s3(text, setting)
    bucket = split_s3(text, setting).netloc
    if not BUCKET.fullmatch(bucket):
        raise BadInputError(f"{setting} '{text}' names the bucket '{bucket}', which is not a bucket name.",
                            fix="S3 bucket names hold letters, digits, '.', '-' and '_' only, e.g. s3://my-bucket/tdprov")
    return Location(f"s3:/{rest}")


def absolute_location(uri: str, setting: str = "store URI") -> str:
    """A store setting as its store names itself (``Store.uri``), for a location shown to someone in another
    process or folder: a local folder by its absolute path (``./.tdprov`` is a folder of whatever working folder
    reads it), ``s3://bucket/prefix`` as it is."""
    location = parse_location(uri, setting)
    return location.uri if location.is_s3 else str(Path(location.uri).expanduser().absolute())


def split_s3(uri: str, setting: str = "store URI") -> SplitResult:
    """The parts of ``s3://bucket/prefix`` (scheme in any case); one without a bucket (``s3:/`` with one slash
    too), with a query or a fragment, or with credentials is a :class:`BadInputError` naming ``setting``."""
    parts = urlsplit(uri)
    if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise _not_s3(uri, setting)
    if "@" in parts.netloc:
        raise BadInputError(f"{setting} has credentials in it.",
                            fix="remove them; use AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
    return parts


def _not_s3(uri: str, setting: str) -> BadInputError:
    return BadInputError(f"{setting} '{uri}' is not of the form s3://bucket/prefix.", fix="e.g. s3://my-bucket/tdprov")


def local_folder(value: str, setting: str) -> str:
    """A setting that names a local folder (``TDPROV_SPOOL``, ``TDPROV_HOME``): a plain path as it is, a ``file://``
    URI read as a store's is (:func:`local_store_path`); another URI (``s3://``, ``ftp://``) is a
    :class:`BadInputError` naming ``setting``, never taken as a folder named after its scheme under whatever the
    working folder of the process is."""
    found = SCHEME.match(value)
    if found is None:
        return value
    if found.group(1).lower() == "file":
        return local_store_path(value, setting)
    raise BadInputError(f"{setting} '{value}' is a URI with the scheme '{found.group(1)}'; it names a folder on this machine.",
                        fix=f"set {setting} to a folder path or file:///absolute/path")


def local_store_path(uri: str, what: str = "store URI") -> str:
    """The folder a ``file://`` URI names (a plain path as it is): never a remote host, never empty
    (``file://`` alone would be the current folder, wherever the process happens to run). ``what``
    names the URI in errors (a store's, a data root's)."""
    if not uri.lower().startswith("file:/"):
        return uri
    parts = urlsplit(uri)
    if not is_local_host(parts.netloc):
        raise BadInputError(f"{what} '{uri}' names a remote host.", fix="use file:///absolute/path or a plain path")
    path = unquote(parts.path)
    if not path:
        raise BadInputError(f"{what} '{uri}' names no folder.", fix="use file:///absolute/path or a plain path")
    return path
