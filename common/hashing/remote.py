"""Data that lives in S3: the ``s3://`` (and ``s3a://``) reader of ``hash_path``, and one boto3 client
per endpoint and credentials, reused by everything that reads or writes data objects.

boto3 is imported on first use, and follows the standard ``AWS_*`` environment (any S3-compatible
endpoint through ``AWS_ENDPOINT_URL_S3``). The ETag is never used as a digest: the bytes are read.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from pathlib import PurePosixPath
from typing import IO, Any
from urllib.parse import quote, unquote

from prov_common.errors import BadInputError
from prov_common.hashing.file_sha256 import copy_sha256, sha256_as_read

S3_SCHEMES = ("s3", "s3a")  # read through boto3
S3_NAMED_SCHEMES = frozenset({*S3_SCHEMES, "s3n"})  # URIs of S3 objects, as datasets are named (s3n is named, not read)
SEEKABLE_SUFFIXES = frozenset({".parquet", ".pq"})  # readers of these seek, so the object is spooled first
SPOOL_IN_MEMORY = 64 << 20  # bytes of a spooled object kept in memory before it goes to a temporary file

# The environment that decides which endpoint a client talks to and as whom: a change gives a new client.
_CLIENT_ENV = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
               "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_CONFIG_FILE",
               "AWS_SHARED_CREDENTIALS_FILE")


@lru_cache(maxsize=8)
def _client(environment: tuple[str | None, ...]) -> Any:
    from prov_common.store.s3 import fresh_s3_client

    return fresh_s3_client()  # a session of its own: the default one is not thread-safe


_CLIENTS_FROM: ContextVar[Callable[[], Any] | None] = ContextVar("tdprov_s3_clients_from", default=None)


@contextmanager
def s3_clients_from(make_client: Callable[[], Any]) -> Iterator[None]:
    """Within this block (this thread's context), data objects are read with the client ``make_client()``
    gives (e.g. an Airflow AWS connection's session) instead of one from the AWS environment. The client
    is made once per process on first use. Work handed to other processes (Dask workers) does not see it."""
    made: dict[int, Any] = {}

    def client() -> Any:
        pid = os.getpid()
        if pid not in made:
            made[pid] = make_client()
        return made[pid]

    token = _CLIENTS_FROM.set(client)
    try:
        yield
    finally:
        _CLIENTS_FROM.reset(token)


def s3_client() -> Any:
    """A boto3 S3 client: the one of the enclosing :func:`s3_clients_from`, else one for the current AWS
    environment, one per endpoint and credentials, reused (making one is slow). A forked process (Airflow and
    Celery fork task processes) makes its own: pooled connections do not carry over."""
    chosen = _CLIENTS_FROM.get()
    if chosen is not None:
        return chosen()
    return _client((os.getpid(), *(os.environ.get(name) for name in _CLIENT_ENV)))


def uses_environment_clients() -> bool:
    """Whether :func:`s3_client` follows the AWS environment here (no :func:`s3_clients_from` is in force)."""
    return _CLIENTS_FROM.get() is None


_VERSION_QUERY = re.compile(r"\?versionId=([^/*?\[&=]+)\Z")


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> ``(bucket, key)``, the key as :func:`s3_key` reads it."""
    scheme, _, rest = uri.partition("://")
    bucket = rest.partition("/")[0]
    key = s3_key(uri)
    if scheme.lower() not in S3_SCHEMES or not bucket or not key:
        raise BadInputError(f"{uri!r} is not an S3 object URI.", fix="write it as s3://bucket/path/to/object")
    return bucket, key


def without_query(path_or_uri: str) -> str:
    """``path_or_uri`` as far as it names a file or object: a local path and an S3 URI as written (``?`` and ``#``
    are part of a file's name and of an S3 key), but for S3's own ``?versionId=<id>``; another URI without its query."""
    scheme = path_or_uri.partition("://")[0].lower() if "://" in path_or_uri else ""
    if scheme in S3_SCHEMES:
        version = _VERSION_QUERY.search(path_or_uri)
        return path_or_uri[:version.start()] if version else path_or_uri
    return path_or_uri.split("?", 1)[0] if scheme else path_or_uri


_NO_VERSION_CODES = frozenset({"NoSuchVersion", "InvalidArgument"})  # S3's answers to a version id it holds no version of
# (InvalidArgument: an id not of S3's form, which real S3 refuses with 400 before looking)


class S3ObjectMissingError(BadInputError):
    """The object (version) an ``s3://`` URI names is not in its bucket (S3 answered NoSuchKey or NoSuchVersion, or 404
    to a HEAD)."""


def missing_in_s3(uri: str, exc: BaseException) -> BadInputError | None:
    """The refusal to read ``uri`` that names what S3 lacks, when ``exc`` (botocore's error for a read of it) says
    that the object or the version the URI names (:class:`S3ObjectMissingError`) or its bucket is not there; else None. The fix gives the URI
    meant where keys are stored under ``<uri>/`` (a prefix, named without its '/'), or under the key with one '/'
    between names (one written with '//')."""
    from prov_common.store.s3 import NOT_FOUND_CODES, s3_error_code

    code = s3_error_code(exc)
    bucket, key = split_s3_uri(uri)
    if code == "NoSuchBucket":
        return BadInputError(f"cannot read {uri!r}: S3 has no bucket {bucket!r}.",
                             fix="check the bucket name (and AWS_ENDPOINT_URL_S3, for an S3-compatible store)")
    version = s3_version(uri)
    if version is not None and code in _NO_VERSION_CODES:
        return S3ObjectMissingError(
            f"cannot read {uri!r}: bucket {bucket!r} holds no version {version!r} of object {key!r}"
            f"{' (S3 refused the id as invalid)' if code == 'InvalidArgument' else ''}.",
            fix=f"list the object's versions with 'aws s3api list-object-versions --bucket {shlex.quote(bucket)} --prefix "
                f"{shlex.quote(key)}' and give one of their VersionId values, or {without_query(uri)} for the object as it is now")
    if code not in NOT_FOUND_CODES:
        return None
    what = f"cannot read {uri!r}: bucket {bucket!r} holds no object {key!r}"
    if version is None and is_s3_prefix(uri):
        return S3ObjectMissingError(f"{what}, but keys under {key + '/'!r}.",
                                    fix=f"to hash them as one sharded dataset, end the URI with '/': {uri}/")
    meant = single_slashed(without_query(uri))
    if "//" in key and version is None:
        return doubled_slash_refusal(what, meant + ("/" if is_s3_prefix(meant) else ""), S3ObjectMissingError)
    return S3ObjectMissingError(f"{what}.", fix="check the key; a prefix of objects is hashed with a URI that ends in '/'")


def refused_in_s3(uri: str, exc: BaseException) -> BadInputError | None:
    """The refusal to read ``uri`` naming the request S3 refused and the permission to grant (``s3:GetObjectVersion``
    for a version the URI names: :func:`~prov_common.store.protection.request_grant`), or the credentials to check,
    when ``exc`` (botocore's error for a read of it) is S3's refusal; else None."""
    from prov_common.store.protection import request_grant
    from prov_common.store.s3 import refused_fix, s3_error_code

    request = getattr(exc, "operation_name", "") or "GetObject"
    fix = refused_fix(exc, request_grant(request, version=s3_version(uri) is not None))
    return None if fix is None else BadInputError(f"cannot read {uri!r}: {request} was refused with {s3_error_code(exc)}.", fix=fix)


@contextmanager
def named_if_missing(uri: str) -> Iterator[None]:
    """Within this block, botocore's error for a request about ``uri`` (a GET, a HEAD) that says what S3 lacks, or that
    S3 refused it, is raised as :func:`missing_in_s3`'s or :func:`refused_in_s3`'s refusal, the error its cause; any
    other error as it is."""
    try:
        yield
    except Exception as exc:  # botocore's ClientError
        named = missing_in_s3(uri, exc) or refused_in_s3(uri, exc)
        if named is None:
            raise
        raise named from exc


def is_s3_prefix(uri: str) -> bool:
    """Whether keys are stored under ``<uri>/`` (one listing of at most one key); False when S3 cannot be asked
    (e.g. no ``s3:ListBucket``)."""
    bucket, key = split_s3_uri(uri)
    try:
        listed = s3_client().list_objects_v2(Bucket=bucket, Prefix=key + "/", MaxKeys=1)
    except Exception:  # noqa: BLE001 - botocore's errors: denied, endpoint down
        return False
    return bool(listed.get("KeyCount", 0))


def doubled_slash_refusal(what: str, meant: str, error: type[BadInputError] = BadInputError) -> BadInputError:
    """The refusal ``what`` (what S3 does not hold, as a clause) of a URI whose key holds '//', which S3 takes as written
    (``s3://b/x//k`` is not ``s3://b/x/k``); ``meant``: the URI with one '/' between names (:func:`single_slashed`)."""
    return error(f"{what}: its key holds '//', which S3 takes as written.",
                 fix=f"write {meant} if that is meant (one '/' between names)")


def single_slashed(uri: str) -> str:
    """``uri`` (an ``s3://`` URI) with every run of '/' in its key made one '/' (``s3://b/x//k`` -> ``s3://b/x/k``):
    the URI meant where S3, which takes a key as written, holds nothing under the one written."""
    scheme, _, rest = uri.partition("://")
    bucket, _, key = rest.partition("/")
    return f"{scheme}://{bucket}/{re.sub('/{2,}', '/', key)}"


def s3_key(uri: str) -> str:
    """The object key of ``s3://bucket/key`` as S3 takes it: everything after the bucket as written (``%``, ``#``
    and ``?`` are part of the key, which S3 does not decode), without a trailing ``?versionId=<id>``
    (:func:`s3_version`); ``""`` for a bucket alone. A key that begins with ``/`` (``s3://bucket//key``) is refused:
    dataset names drop that ``/`` (``s3://bucket/key`` is another object), so it could not be named apart."""
    key = without_query(uri).partition("://")[2].partition("/")[2]
    if key.startswith("/"):
        raise BadInputError(
            f"{uri!r} names an S3 key that begins with '/' ({key!r}): tdprov names it like the key without the '/', "
            "which is another object, so it cannot record it.",
            fix=f"write s3://<bucket>/{key.lstrip('/')} if that object is meant; else copy the object to a key without the leading '/'")
    return key


def s3_version(uri: str) -> str | None:
    """The object version an ``s3://bucket/key?versionId=<id>`` URI names (S3's own form; Airflow keeps it in an
    ``Asset`` URI), else None: such a URI is that version of one object, not a glob. ``<id>`` is percent-encoded
    (:func:`versioned_uri`): S3's ids hold ``/``, ``+`` and ``=``."""
    found = _VERSION_QUERY.search(uri) if uri.split("://", 1)[0].lower() in S3_SCHEMES else None
    return unquote(found.group(1)) if found else None


def versioned_uri(uri: str, version: str) -> str:
    """``uri`` (an S3 object's, without a query) at object version ``version``: ``<uri>?versionId=<id>``, the id
    percent-encoded, as :func:`s3_version` reads it back."""
    return f"{uri}?versionId={quote(version, safe='')}"


def s3_object_params(uri: str) -> dict[str, str]:
    """``Bucket``, ``Key`` (and ``VersionId``, when the URI names one) of the object at ``uri``: the parameters
    of a boto3 ``get_object`` or ``head_object`` call."""
    bucket, key = split_s3_uri(uri)
    version = s3_version(uri)
    return {"Bucket": bucket, "Key": key, **({"VersionId": version} if version else {})}


def s3_head(uri: str) -> dict[str, Any]:
    """S3's answer to a HEAD request for the object (version) at ``uri`` (``ContentLength``, ``ETag``, ...)."""
    return s3_client().head_object(**s3_object_params(uri))


def s3_object_size(uri: str) -> int:
    """Size in bytes of the object (version) at ``uri`` (a HEAD request)."""
    return int(s3_head(uri)["ContentLength"])


def s3_last_modified(uri: str) -> float:
    """When the object (version) at ``uri`` was last written, S3's ``LastModified`` in epoch seconds (a HEAD request)."""
    return s3_head(uri)["LastModified"].timestamp()


def is_s3_object(uri: str) -> bool:
    """Whether an object (version) is stored at ``uri`` (a HEAD request); False when S3 says there is none, or
    cannot be asked."""
    try:
        s3_object_size(uri)
    except Exception:  # noqa: BLE001 - botocore's errors: not found, denied, endpoint down
        return False
    return True


def open_s3(uri: str) -> IO[bytes]:
    """Stream the object (version) at ``s3://bucket/key``; Parquet, which readers seek in, is spooled to a
    temporary file first."""
    where = s3_object_params(uri)
    with named_if_missing(uri):
        answer = s3_client().get_object(**where)
    return readable_body(where["Key"], answer["Body"])


def is_spooled(key: str) -> bool:
    """Whether :func:`readable_body` spools the body of the object ``key`` (Parquet, which readers seek in)."""
    return PurePosixPath(key).suffix.lower() in SEEKABLE_SUFFIXES


def readable_body(key: str, body: Any, *, sha256: Callable[[str], None] | None = None) -> IO[bytes]:
    """The ``Body`` of a ``get_object`` answer for ``key`` as readers of it need it: as it streams, or for
    Parquet, which readers seek in, copied into a temporary spool first (in memory up to
    :data:`SPOOL_IN_MEMORY`). ``sha256``: called with the SHA-256 of the body's bytes (lowercase hex), taken
    in the copy of a spooled body, or as a streamed one is read to its end (not called when it is not)."""
    if not is_spooled(key):
        return body if sha256 is None else sha256_as_read(body, sha256)
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
    try:
        with body:
            if sha256 is not None:
                sha256(copy_sha256(body, spool))
            else:
                shutil.copyfileobj(body, spool, 1 << 20)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool  # type: ignore[return-value]
