"""Store key rules: relative ``/``-separated paths that can never leave their prefix."""
from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from prov_common.errors import BadInputError
from prov_common.hashing.remote import S3_SCHEMES, s3_version, versioned_uri, without_query

MAX_KEY_LENGTH = 1024  # S3's limit, in bytes (keys are ASCII)
MAX_SEGMENT_LENGTH = 255  # file name limit of common file systems
_SEGMENT = re.compile(r"[A-Za-z0-9_~=+@,:%-][A-Za-z0-9._~=+@,:%-]*\Z")
_PATH_SAFE = "/!$&'()*+,;=:@"  # kept in a URI's path as they are (RFC 3986 pchar), beside quote's own -._~
_FIX = (
    "use a relative '/'-separated key whose segments use only letters, digits and ._~=+@,:%- "
    "and do not start with '.', e.g. 'bundles/2026/run-1/manifest.json'"
)


def validate_key(key: object) -> str:
    """Return ``key`` if it is a valid object key, else raise :class:`BadInputError` naming it.

    A key is relative, '/'-separated, has no empty, ``.`` or ``..`` segment and no backslash, and
    each segment starts with a character other than ``.`` (hidden names are reserved for the local
    store's temporary files). So no run id or dataset name can write outside its prefix.
    """
    if not isinstance(key, str) or not key:
        raise BadInputError(f"store key {key!r} is empty or not a string.", fix=_FIX)
    if len(key) > MAX_KEY_LENGTH:
        raise BadInputError(f"store key {key[:60]!r}... is longer than {MAX_KEY_LENGTH} characters.", fix=_FIX)
    for segment in key.split("/"):
        if not _SEGMENT.match(segment) or len(segment) > MAX_SEGMENT_LENGTH:
            raise BadInputError(f"store key {key!r} has an unsafe segment {segment!r}.", fix=_FIX)
    return key


def validate_prefix(prefix: str) -> str:
    """Validate a listing prefix: '' or a key, optionally ending with '/' (a partial last segment is allowed)."""
    if prefix == "":
        return prefix
    validate_key(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix


def join_key(*parts: str) -> str:
    """Join key parts with '/' and validate the result."""
    return validate_key("/".join(p.strip("/") for p in parts if p))


def object_uri(store_uri: str, key: str) -> str:
    """The URI of object ``key`` in the store at ``store_uri``: ``s3://bucket/prefix/key`` or ``file:///abs/key``; a
    key of a folder (``bundles/<run id>/``) keeps its trailing ``/`` in either form."""
    if "://" in store_uri and not store_uri.startswith("file://"):
        return store_uri.rstrip("/") + "/" + key
    root = store_uri[len("file://"):] if store_uri.startswith("file://") else store_uri
    uri = (Path(root).resolve() / key).as_uri()
    return uri + "/" if key.endswith("/") else uri


def location_uri(location: str | None) -> str | None:
    """A local path as ``file://`` URI; URIs as they are; None for none or a relative path."""
    if not location:
        return None
    if "://" in location:
        return location
    return PurePosixPath(location).as_uri() if location.startswith("/") else None


def location_iri(location: str | None) -> str | None:
    """:func:`location_uri` as an RFC 3986 URI: an S3 key is literal, so every character of it that a URI would
    read otherwise (a space, ``#``, ``?``, ``%``, non-ASCII letters) is percent-encoded (UTF-8), and
    ``s3://b/k #1.csv`` names object ``k #1.csv``, not ``k `` with a fragment; S3's own ``?versionId=<id>`` stays a
    query. Other URIs are as given."""
    uri = location_uri(location)
    if uri is None or uri.split("://", 1)[0].lower() not in S3_SCHEMES:
        return uri
    scheme, rest = without_query(uri).split("://", 1)
    bucket, slash, key = rest.partition("/")
    version = s3_version(uri)
    literal = f"{scheme}://{bucket}{slash}{quote(key, safe=_PATH_SAFE)}"
    return versioned_uri(literal, version) if version else literal
