"""Store backend on S3 or any S3-compatible service (MinIO, Ceph, R2) through boto3.

Writes are conditional (``If-None-Match: *``), so S3 itself refuses a second writer. Every call is
bounded in time (short timeouts, few retries): an outage becomes :class:`StoreUnavailableError`
within seconds and never hangs a pipeline.
"""
from __future__ import annotations

import contextlib
import io
import math
import os
import threading
import time
from urllib.parse import quote
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, BinaryIO

from prov_common.errors import BadInputError, ObjectConflictError, StoreError, StoreUnavailableError
from prov_common.store._base import BaseStore, ObjectInfo, Source
from prov_common.store.errors import (FIX_NOT_WRITE_ONCE, FLUSH_NOTE, RETRY_LATER, ObjectNotFoundError,
                                     UnreadableObjectError)
from prov_common.store.location import split_s3
from prov_common.text import VALUE_AT_MOST, cut, pasteable, shell_word

if TYPE_CHECKING:
    from prov_common.store.protection import BucketProtection

_UNAVAILABLE_CODES = {
    "SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "Throttling", "ThrottlingException",
    "RequestThrottled", "TooManyRequests", "RequestLimitExceeded", "BandwidthLimitExceeded", "503", "500",
}
#: The codes of an S3 error saying the credentials themselves were refused (an unknown key id, a wrong secret, an
#: expired or invalid session token): no permission granted to them would help.
CREDENTIAL_CODES = frozenset({"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken",
                              "TokenRefreshRequired"})
FIX_CREDENTIALS = ("check the AWS credentials this process uses (AWS_PROFILE, or AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY "
                   "and AWS_SESSION_TOKEN): fix the key id or secret, or renew them if they expired")
#: The codes (or HTTP statuses, :func:`s3_error_code`) of an S3 error saying the object is not there, and that a
#: condition (``If-None-Match``, ``If-Match``) did not hold.
NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
#: The codes of an S3 error saying these credentials lack a permission.
DENIED_CODES = frozenset({"AccessDenied", "Forbidden", "AllAccessDisabled"})
#: The codes botocore gives a refusal answered without a body, as S3 answers a HEAD request: its HTTP status alone,
#: which does not tell refused credentials (``InvalidAccessKeyId``, ``ExpiredToken``) from a missing permission.
BODYLESS_REFUSALS = frozenset({"400", "403"})
#: The other cause of a refusal answered ``400`` without a body (S3 answers a missing permission ``403``), and its fix.
_MALFORMED = " (S3 answers an expired or invalid session token so), or S3 could not take the request as sent"
FIX_MALFORMED = ("check the store URI and the endpoint and region the requests are sent to and signed for "
                 "(AWS_ENDPOINT_URL_S3, AWS_REGION)")
PRECONDITION_CODES = frozenset({"PreconditionFailed", "412"})
_CONFLICT_RETRIES = 5
PROBE_KEY = "_tdprov/conditional-write-probe"
PROBE_BYTES = b"tdprov conditional write probe: this object is never overwritten\n"
PROBE_OVERWRITE = b"overwrite attempt: must be refused\n"
PROBE_LIMIT = max(len(PROBE_BYTES), len(PROBE_OVERWRITE))  # no probe leaves more at PROBE_KEY: it is read no further

S3ClientFactory = Callable[[Any], Any]
"""Makes an S3 client from a botocore ``Config`` (see :class:`S3Store`)."""


@dataclass(frozen=True)
class S3Options:
    """Time bounds of S3 calls: ``TDPROV_STORE_CONNECT_TIMEOUT``, ``TDPROV_STORE_READ_TIMEOUT`` (seconds)
    and ``TDPROV_STORE_MAX_ATTEMPTS`` (attempts per call, retries included)."""

    connect_timeout: float = 3.0
    read_timeout: float = 10.0
    max_attempts: int = 3

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "S3Options":
        env = os.environ if environ is None else environ
        defaults = cls()

        def number(name: str, default: float, kind: type) -> Any:
            raw = env.get(name)
            if not raw:
                return default
            try:
                value = kind(raw)
            except ValueError:
                raise BadInputError(f"{name}={raw!r} is not a number.", fix=f"set {name} to e.g. {default}") from None
            if not math.isfinite(value) or value <= 0:
                raise BadInputError(f"{name}={raw!r} must be a finite number above 0.", fix=f"set {name} to e.g. {default}")
            return value

        return cls(
            connect_timeout=number("TDPROV_STORE_CONNECT_TIMEOUT", defaults.connect_timeout, float),
            read_timeout=number("TDPROV_STORE_READ_TIMEOUT", defaults.read_timeout, float),
            max_attempts=number("TDPROV_STORE_MAX_ATTEMPTS", defaults.max_attempts, int),
        )


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` -> (bucket, key prefix ending with '/' or '')."""
    parts = split_s3(uri)
    prefix = parts.path.strip("/")
    if prefix:
        from prov_common.store.keys import validate_key

        validate_key(prefix)
    return parts.netloc, prefix + "/" if prefix else ""


def unaskable_etag(name: str, etag: str, where: str) -> str | None:
    """What is wrong with object ``name`` that ``where`` (an S3 endpoint) listed with ``etag`` when no request can ask
    for that ETag (``IfMatch``): characters an HTTP header cannot hold, which the HTTP client refuses to send; None
    when a request can. The one rule of the store's reads and of a shard's (:mod:`prov_common.hashing.s3_pin`)."""
    if etag.isascii() and etag.isprintable():
        return None
    return (f"{name} was listed with an ETag no request can ask for ({cut(repr(etag), VALUE_AT_MOST)}): {where} gave it "
            "characters an HTTP header cannot hold, so its bytes cannot be read as they were listed")


def quoted_etag(etag: str) -> str:
    """An ETag as S3 gives it in a header, in double quotes (a listing's stamp keeps it without them)."""
    return etag if etag.startswith('"') else f'"{etag}"'


def weak_etag(etag: str | None) -> bool:
    """Whether ``etag`` is weak (``W/"..."``), which S3 never gives (a proxy's, that altered the answer): it names no
    bytes for certain, and no ``If-Match`` can ask for it."""
    return etag is not None and etag.startswith("W/")


class PinIgnoredError(Exception):
    """A read pinned to ETag ``asked`` (``If-Match``) was answered with other bytes (ETag ``answered``), with bytes
    given no ETag (``answered`` None): the server, or a proxy before it, ignored the condition; or with bytes given a
    weak ETag (``W/"..."``): a proxy before the server altered the answer."""

    def __init__(self, asked: str, answered: str | None) -> None:
        self.asked, self.answered = asked, answered
        super().__init__(self.reason)

    @property
    def weak(self) -> bool:
        """Whether the answer's ETag is weak (:func:`weak_etag`)."""
        return weak_etag(self.answered)

    @property
    def changed(self) -> bool:
        """Whether the answer named other bytes than those asked for (else it named none for certain)."""
        return self.answered is not None and not self.weak

    @property
    def reason(self) -> str:
        """What happened, as a clause."""
        asked = f"a read of the bytes with ETag {quoted_etag(self.asked)} (If-Match) was answered with"
        if self.answered is None:
            return (f"{asked} bytes given no ETag, so they cannot be told from others: the endpoint (or a proxy before "
                    "it) may ignore the condition")
        if self.weak:
            return (f"{asked} bytes with the weak ETag {cut(self.answered, VALUE_AT_MOST)}, {WEAK_ETAG_CAUSE}, and a weak "
                    "ETag does not prove they are the bytes asked for")
        answered = quoted_etag(cut(self.answered.strip('"'), VALUE_AT_MOST))
        return (f"{asked} bytes with ETag {answered}: the endpoint (or a proxy before it) ignored the condition, which "
                "would have refused the read")

    @property
    def fix(self) -> str:
        """The fix's first words: :data:`FIX_WEAK_ETAG` for a weak ETag, else :data:`FIX_HONOUR_IF_MATCH`."""
        return FIX_WEAK_ETAG if self.weak else FIX_HONOUR_IF_MATCH


FIX_HONOUR_IF_MATCH = "read through an S3 endpoint (and proxies) that honour conditional reads (If-Match), as S3 does"
"""The fix's first words for a :class:`PinIgnoredError` of an endpoint that ignored the condition."""
WEAK_ETAG_CAUSE = ("which S3 never gives: a proxy (or CDN) before the endpoint altered the answer (compressed or "
                   "otherwise transformed it)")
"""Why an answer's ETag is weak (``W/"..."``), as a clause after it."""
FIX_WEAK_ETAG = ("reach S3 without the proxy that alters its answers, or turn off that proxy's compression and "
                 "transformation of them")
"""The fix's first words for a :class:`PinIgnoredError` of an answer given a weak ETag."""


def get_pinned(client: Any, etag: str | None, **params: Any) -> Any:
    """``client.get_object(**params)``, at the bytes with ``etag`` (quoted or not) when given: S3 answers them or
    refuses (412 Precondition Failed, raised as botocore's error). The answer's own ``ETag`` header is checked
    against it too, at no cost (it comes with the bytes): a server that ignores ``If-Match`` answers whatever the key
    holds, and an answer of other bytes, or of none named, is refused (:class:`PinIgnoredError`, its body closed), as
    is one given a weak ETag (``W/"..."``, a proxy's that altered the answer), which proves no bytes.
    The one pinned read of the store's reads and of a hashing's (:mod:`prov_common.hashing.s3_pin`)."""
    if not etag:
        return client.get_object(**params)
    answer = client.get_object(**params, IfMatch=quoted_etag(etag))
    answered = answer.get("ETag")
    if not isinstance(answered, str) or answered.strip('"') != etag.strip('"'):
        answer["Body"].close()
        raise PinIgnoredError(etag, answered if isinstance(answered, str) else None)
    return answer


MARKER_LISTING = 100
"""How many version entries :meth:`S3Store.delete_marker` lists of a key (one request)."""


@dataclass(frozen=True)
class DeleteMarker:
    """The delete markers hiding object ``key`` (the bucket's key, prefix included) of a versioned bucket: the version
    ids of every marker over its newest version, newest first (a delete repeated without a version id puts one more),
    and the version id, ETag (unquoted) and size (None: not listed) of each version kept under them, newest first.
    ``complete``: whether those are all of the key's (its listing ended within one request): a key deleted or
    overwritten more often keeps more."""

    bucket: str
    key: str
    markers: tuple[str, ...]
    kept: tuple[tuple[str, str, int | None], ...]
    complete: bool = True

    @property
    def restore(self) -> str | None:
        """The version that removing the markers makes the object again; None when no version is kept."""
        return self.kept[0][0] if self.kept else None

    def fix(self, then: str, etag: str | None = None, found: "SealedVersion | None" = None) -> str:
        """What restores the object: removing the markers makes the version under them the object again; ``then``: what
        to do after. ``etag``: that of the bytes the object held when first listed: when the version under the markers
        has another (the object was overwritten before it was deleted), the version kept with it is copied back instead;
        ``found``: alike, the version a reader found holding the bytes sealed, by their digest. With neither, nothing
        vouches for the version under the markers: the fix names it (the newest of those kept) and no sealed bytes.
        The commands come last, each value as a shell takes it (:func:`shell_word`): a version id is the store's text."""
        ids = ", ".join(pasteable(marker) for marker in self.markers)
        some = (f"{'at least ' if self.restore is None and not self.complete else ''}{len(self.markers)} delete markers "
                f"(version ids {ids}) hide" if len(self.markers) > 1 else f"a delete marker (version id {ids}) hides")
        listed = etag.strip('"') if etag else None
        sealed = next((version for version, tag, _ in self.kept if tag == listed), None)
        if not self.complete and (self.restore is None or (listed and self.kept[0][1] != listed and sealed is None)):
            return self._past_listing(some, then, listed)
        if self.restore is None:
            return f"{some} the object and no earlier version of it is kept: restore it from a backup or replica of the store; {then}"
        them, are = ("them", "markers are") if len(self.markers) > 1 else ("the marker", "marker is")
        if found is not None and found.version != self.restore:
            return self._not_under(some, them, then, found)
        if listed and self.kept[0][1] != listed:
            under = (f"{some} the object on this versioned bucket, and the version under {them.replace('the marker', 'it')} "
                     f"({pasteable(self.restore)}) is not the one first listed (ETag {quoted_etag(listed)})")
            if sealed is None:
                return f"{under}, and no version kept holds those bytes: restore them from a backup or replica of the store; {then}"
            return (f"{under}: version {pasteable(sealed)} holds those bytes; copy it back as the object, {then}. It is "
                    f"copied back by: {self._copy_command(sealed)}")
        commands = " && ".join(self._aws("delete-object", "--key", self.key, "--version-id", marker) for marker in self.markers)
        vouched = bool(listed) or found is not None  # by the ETag first listed, or the digest of the bytes sealed
        kept = f"the {len(self.kept)}" if self.complete else f"at least {len(self.kept)}"
        newest = "" if vouched or len(self.kept) == 1 else f" (the newest of {kept} versions kept)"
        return (f"{some} the object on this versioned bucket: remove {them}, which makes version {pasteable(self.restore)}"
                f"{newest} the object again{', with its sealed bytes and ETag' if vouched else ''}; {then}. The {are} "
                f"removed by: {commands}")

    def _not_under(self, some: str, them: str, then: str, found: "SealedVersion") -> str:
        """The fix when the version under the markers does not hold the bytes sealed (by their digest, ``found``): the
        version that does, copied back; or that none of those read does (or, none read, that none listed is of the size
        sealed), and where the rest are listed."""
        under = (f"{some} the object on this versioned bucket, and the version under {them.replace('the marker', 'it')} "
                 f"({pasteable(self.restore or '')}) does not hold the bytes sealed ({found.digest})")
        if found.version is not None:
            return (f"{under}: version {pasteable(found.version)} holds them; copy it back as the object, {then}. It is "
                    f"copied back by: {self._copy_command(found.version)}")
        if found.complete:
            return f"{under}, and no version kept holds them: restore them from a backup or replica of the store; {then}"
        none = (f"none of the {found.read} versions read holds them" if found.read or found.size is None else
                f"no version of those one listing of the key shows is of their size ({found.size:,} bytes)")
        return f"{under}, and {none}: find the version with those bytes among all of them {self._find_and_copy('them', then)}"

    def _copy_command(self, version: str) -> str:
        """The ``aws s3api copy-object`` command that copies ``version`` of the object back as the object (its
        ``--copy-source`` URL-encoded, as the command takes it; ending at ``versionId=`` when ``version`` is "")."""
        source = quote(f"{self.bucket}/{self.key}", safe="/") + "?versionId=" + quote(version, safe="")
        return self._aws("copy-object", "--key", self.key, "--copy-source", source)

    def _past_listing(self, some: str, then: str, listed: str | None) -> str:
        """The fix when the version to restore is not among those one listing of the key shows (:attr:`complete` False):
        no version listed under the markers, or none with the ETag first listed (``listed``); the rest are listed by the
        command given, and nothing is said to be lost."""
        shown = ("and the versions under them are past what one listing of the key shows" if self.restore is None else
                 f"and no version of those one listing of the key shows has the ETag first listed ({quoted_etag(listed or '')})")
        return (f"{some} the object on this versioned bucket, {shown}: find the version "
                f"{'under the delete markers' if listed is None else 'with that ETag'} in the listing of all of them "
                f"{self._find_and_copy('it', then)}")

    def _find_and_copy(self, lost: str, then: str) -> str:
        """The end of a fix whose version is to be found among all those of the key: the command that lists them, the
        one that copies the version found back, and the backup that restores ``lost`` (``it``, ``them``) else."""
        return (f"({self._aws('list-object-versions', '--prefix', self.key)}) and copy it back as the object "
                f"({self._copy_command('')} followed by its version id), or restore {lost} from a backup or replica of "
                f"the store; {then}")

    def _aws(self, command: str, *words: str) -> str:
        """``aws s3api COMMAND --bucket BUCKET WORDS``, each value as a shell takes it (:func:`shell_word`)."""
        return " ".join((f"aws s3api {command}", *(shell_word(word) for word in ("--bucket", self.bucket, *words))))


def _all_of_key(page: dict[str, Any], full: str) -> bool:
    """Whether one page of ``ListObjectVersions`` of the prefix ``full`` holds every entry of the key ``full``: past one
    request, the key's own entries end within the page only when another key's follow them."""
    return not page.get("IsTruncated") or any(e["Key"] != full for e in (*page.get("DeleteMarkers", ()), *page.get("Versions", ())))


@dataclass(frozen=True)
class KeptVersions:
    """The earlier versions of object ``key`` (the bucket's key, prefix included) that a versioned bucket keeps: the
    version id, ETag (unquoted) and size (None: not listed) of each, newest first, as one listing of at most
    :data:`MARKER_LISTING` entries shows them (:meth:`S3Store.kept_versions`, or a :class:`DeleteMarker`'s); ``complete``:
    whether those are all of the key's."""

    bucket: str
    key: str
    kept: tuple[tuple[str, str, int | None], ...]
    complete: bool = True

    def find_and_copy(self, then: str) -> str:
        """How to go past what was read: the command that lists every version of the key and the one that copies the
        version found back as the object, or a backup; ``then``: what to do after."""
        return DeleteMarker(self.bucket, self.key, (), self.kept, self.complete)._find_and_copy("it", then)


@dataclass(frozen=True)
class SealedVersion:
    """Which version kept under a key's delete markers holds the bytes sealed there, found by their ``digest``: its
    version id (None: none of those read), how many versions were ``read``, whether they are all those kept
    (``complete``), and the ``size`` sealed (None: not known), which a version read is of."""

    digest: str
    version: str | None
    read: int
    complete: bool
    size: int | None = None


class S3Store(BaseStore):
    """Write-once objects under ``s3://bucket/prefix``.

    The client comes from the standard AWS environment (``AWS_ENDPOINT_URL_S3``, ``AWS_PROFILE``,
    ``AWS_REGION``, credentials chain) unless ``client`` is given, or ``client_factory``: a callable
    that makes the S3 client from the botocore ``Config`` holding the store's time bounds (e.g. from an
    orchestrator's own AWS session; never through ``os.environ``).
    """

    def __init__(self, uri: str, *, options: S3Options | None = None, client: Any = None,
                 client_factory: S3ClientFactory | None = None) -> None:
        self.bucket, self.prefix = parse_s3_uri(uri)
        self.uri = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        self.options = options or S3Options.from_env()
        self.client = client or (client_factory or fresh_s3_client)(client_config(self.options))
        self._listed: dict[str, str] = {}  # key -> the ETag a listing gave it: reads get those bytes or fail (pin_listing)
        self._listed_without_etag = False  # a listing gave an object no ETag: one a PutObject answers is none a listing shows

    def pin_listing(self, tags: Mapping[str, str] | None) -> list[str]:
        """From now on read each key of ``tags`` (key -> listed fingerprint ``size:ETag``) only as those bytes (``IfMatch``),
        so that what a reader checks is what it listed; ``None``: read whatever is there again. An ETag is the bytes'
        digest: bytes swapped in between a listing and a read, then put back, would show the listed fingerprint again.
        The keys listed with no ETag, which are read as they are when read (nothing to ask for)."""
        self._listed = {key: tag.partition(":")[2] for key, tag in (tags or {}).items()}
        return [key for key, etag in self._listed.items() if not etag]

    def _get_object(self, key: str, **extra: Any) -> Any:
        """GetObject of ``key``, at its listed ETag when :meth:`pin_listing` pinned it."""
        etag = self._listed.get(key)
        if etag and (unaskable := unaskable_etag(f"'{key}'", etag, self.describe())):
            raise UnreadableObjectError(unaskable, fix="check what answers at the store's endpoint (S3 gives each object an "
                                                       "ETag of printable ASCII); the next audit verifies it again")
        try:
            return get_pinned(self.client, etag, Bucket=self.bucket, Key=self.prefix + key, **extra)
        except PinIgnoredError as exc:
            what = "changed after it was listed" if exc.changed else "cannot be read as it was listed"
            raise UnreadableObjectError(f"'{key}' {what} in {self.describe()}: {exc.reason}",
                                        fix=f"{exc.fix}; the next audit verifies it again") from exc
        except Exception as exc:  # noqa: BLE001
            if etag and s3_error_code(exc) in PRECONDITION_CODES:
                raise UnreadableObjectError(
                    f"'{key}' changed after it was listed: {self.describe()} no longer holds the bytes with ETag {etag} that "
                    "the listing showed, so they were replaced while being read",
                    fix="find out who rewrites the store's objects; the next audit verifies it again") from exc
            raise

    def describe(self) -> str:
        endpoint = getattr(getattr(self.client, "meta", None), "endpoint_url", None)
        return f"S3 store {self.uri}" + (f" at {endpoint}" if endpoint else "")

    # -- primitives ---------------------------------------------------------------------------
    def _create(self, key: str, source: Source) -> bool:
        for attempt in range(_CONFLICT_RETRIES):
            try:
                with source.open() as body:
                    answer = self.client.put_object(
                        Bucket=self.bucket, Key=self.prefix + key, Body=body, IfNoneMatch="*",
                        ContentLength=source.size(),
                    )
                etag = answer.get("ETag") if isinstance(answer, dict) else None
                source.created_tag = (etag.strip('"') if isinstance(etag, str) and etag.strip('"') and not weak_etag(etag)
                                      and not self._listed_without_etag else None)
                source.created_at = _answered_at(answer)
                return True
            except Exception as exc:  # noqa: BLE001 - translated below
                code = s3_error_code(exc)
                if code in PRECONDITION_CODES:
                    return False
                if code == "ConditionalRequestConflict" and attempt + 1 < _CONFLICT_RETRIES:
                    time.sleep(0.05 * 2**attempt)  # a concurrent conditional write is in flight
                    continue
                raise self._translate(exc, "write", key) from exc
        return False  # pragma: no cover

    @contextlib.contextmanager
    def _open(self, key: str) -> Iterator[BinaryIO]:
        try:
            body = self._get_object(key)["Body"]
        except UnreadableObjectError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise self._translate(exc, "read", key) from exc
        try:
            yield _GuardedStream(body, self, key)
        finally:
            body.close()

    @contextlib.contextmanager
    def _open_range(self, key: str, start: int, length: int) -> Iterator[BinaryIO]:
        """One ranged GET: only the asked bytes cross the network."""
        try:
            body = self._get_object(key, Range=f"bytes={start}-{start + max(length, 1) - 1}")["Body"]
        except UnreadableObjectError:
            raise
        except Exception as exc:  # noqa: BLE001
            if s3_error_code(exc) in ("InvalidRange", "416"):
                yield io.BytesIO(b"")
                return
            raise self._translate(exc, "read", key) from exc
        try:
            yield _GuardedStream(body, self, key)
        finally:
            body.close()

    def retained_versions(self, key: str, versions: Iterable[str]) -> Generator[tuple[str, BinaryIO], None, None]:
        """The version id and a stream of each of ``versions`` of ``key`` (version ids, such as those
        :meth:`kept_versions` lists, in their order): each is read as the caller reads it (never whole) and closed when the
        next is asked for or the iteration ends."""
        for version in versions:
            try:
                body = self.client.get_object(Bucket=self.bucket, Key=self.prefix + key, VersionId=version)["Body"]
            except Exception as exc:  # noqa: BLE001
                raise self._translate(exc, "read a retained version of", key) from exc
            with _GuardedStream(body, self, key) as stream:
                yield version, stream

    def kept_versions(self, key: str) -> KeptVersions:
        """The versions of ``key`` kept under its current object or delete marker, newest first, from one request of at
        most :data:`MARKER_LISTING` entries (the key's own come first): a key overwritten 10,000 times is not listed
        whole; :attr:`KeptVersions.complete` says whether more are kept."""
        full = self.prefix + key
        try:
            page = self.client.list_object_versions(Bucket=self.bucket, Prefix=full, MaxKeys=MARKER_LISTING)
            listed = sorted((v for v in page.get("Versions", ()) if v["Key"] == full), key=lambda v: v["LastModified"], reverse=True)
            kept = tuple((v["VersionId"], str(v.get("ETag", "")).strip('"'), v.get("Size")) for v in listed if not v.get("IsLatest"))
            complete = _all_of_key(page, full)
        except Exception as exc:  # noqa: BLE001
            raise self._translate(exc, "list versions of", key) from exc
        return KeptVersions(self.bucket, full, kept, complete)

    def delete_marker(self, key: str) -> "DeleteMarker | None":
        """The delete marker that hides ``key`` in a versioned bucket (its newest entry), with the newest version under it;
        None when its newest entry is no delete marker, or the versions cannot be listed. One request of at most
        :data:`MARKER_LISTING` entries (the key's own come first)."""
        full = self.prefix + key
        try:  # the listing read too: a server's entry without a field, or of another type, tells nothing
            page = self.client.list_object_versions(Bucket=self.bucket, Prefix=full, MaxKeys=MARKER_LISTING)
            marks = sorted((m for m in page.get("DeleteMarkers", ()) if m["Key"] == full), key=lambda m: m["LastModified"], reverse=True)
            if not (marks and marks[0].get("IsLatest") and isinstance(marks[0]["VersionId"], str)):
                return None
            kept = sorted((v for v in page.get("Versions", ()) if v["Key"] == full), key=lambda v: v["LastModified"], reverse=True)
            # every marker over the newest version hides it (one of the same time too: removing it changes nothing else)
            over = tuple(m["VersionId"] for m in marks if not kept or m["LastModified"] >= kept[0]["LastModified"])
            versions = tuple((v["VersionId"], v.get("ETag", "")) for v in kept)
            sizes = tuple(v.get("Size") for v in kept)
            complete = _all_of_key(page, full)
        except Exception:  # noqa: BLE001 - only the words of a finding depend on it
            return None
        if not all(isinstance(marker, str) for marker in over) or not all(isinstance(v, str) and isinstance(t, str) for v, t in versions):
            return None
        if not all(size is None or isinstance(size, int) for size in sizes):
            return None
        return DeleteMarker(self.bucket, full, over, tuple((v, t.strip('"'), size) for (v, t), size in zip(versions, sizes)),
                            complete)

    def _exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.prefix + key)
            return True
        except Exception as exc:  # noqa: BLE001
            error = self._translate(self._named_refusal(exc, key), "check", key)
            if isinstance(error, ObjectNotFoundError):
                return False
            raise error from exc

    def _list(self, prefix: str, start_after: str | None) -> Iterator[str]:
        return (info.key for info in self._list_info(prefix, start_after))

    def _list_info(self, prefix: str, start_after: str | None, tags_for: Callable[[str], bool] | None = None) -> Iterator[ObjectInfo]:
        """One ListObjectsV2 request per 1,000 keys; each item's ETag and size come with it (``tags_for`` costs nothing here).
        An item listed with no ETag (an S3-compatible endpoint's) tells that the ETag a PutObject answers is not the tag
        this store's listings give: :meth:`put_listed` tells no fingerprint from then on."""
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self.prefix + prefix}
        if start_after:
            kwargs["StartAfter"] = self.prefix + start_after
        paginator = self.client.get_paginator("list_objects_v2")
        strip = len(self.prefix)
        try:
            for page in paginator.paginate(**kwargs):
                for item in page.get("Contents", ()):
                    info = ObjectInfo(item["Key"][strip:], int(item.get("Size", 0)), str(item.get("ETag", "")).strip('"'),
                                      item.get("LastModified"))
                    if not info.tag:
                        self._listed_without_etag = True
                    yield info
        except Exception as exc:  # noqa: BLE001
            raise self._translate(exc, "list", prefix or "/") from exc

    def check_write_once(self) -> None:
        """Prove that the endpoint honours ``If-None-Match: *`` (some older S3-compatible servers
        ignore it and would let a second writer overwrite); StoreError if it does not.

        Two small writes to ``_tdprov/conditional-write-probe``; the object keeps its first bytes (or, where an
        earlier probe's overwrite was accepted, the bytes that overwrite left).
        """
        key = PROBE_KEY
        kept = PROBE_BYTES
        try:
            self.put(key, PROBE_BYTES)
        except ObjectConflictError:  # overwritten by an earlier probe, on a server that ignored the condition then
            kept = self.get(key, PROBE_LIMIT)
        created = self._create(key, Source(data=PROBE_OVERWRITE))
        self._wrote(key)
        if created or self.get(key, PROBE_LIMIT) != kept:
            raise StoreError(
                f"{self.describe()} accepted an overwrite of '{key}' despite If-None-Match: *; "
                "objects would not be write-once there.",
                fix=FIX_NOT_WRITE_ONCE,
            )

    def protection(self, versioning: str | None = None) -> "BucketProtection":
        """The bucket's versioning and Object Lock default retention (two requests: :func:`read_protection`; the
        Object Lock's alone when ``versioning`` is given, as :meth:`versioning` read it). An endpoint that does not
        answer (a network error, or S3's 5xx or throttling past the retries) is :class:`StoreUnavailableError`, as for
        every read of the store; any other error is raised as botocore raised it, for the caller to name the
        permission to grant (:func:`protection_refused`)."""
        from prov_common.store.protection import read_protection

        with self.answering("read the versioning and Object Lock of bucket" if versioning is None else "read the Object Lock of bucket"):
            return read_protection(self.client, self.bucket, versioning)

    def versioning(self) -> str:
        """The bucket's versioning (one request: :func:`read_versioning`), unanswered or refused as :meth:`protection`."""
        from prov_common.store.protection import read_versioning

        with self.answering("read the versioning of bucket"):
            return read_versioning(self.client, self.bucket)

    @contextlib.contextmanager
    def answering(self, action: str) -> Iterator[None]:
        """Runs requests about the store's bucket (``action``: what they do, as the error says it: ``cannot ACTION
        'bucket' in STORE``): an endpoint that does not answer (a network error, or S3's 5xx or throttling past the
        retries) is :class:`StoreUnavailableError`, as for every read of the store; any other error is raised as
        botocore raised it, for the caller to name."""
        try:
            yield
        except Exception as exc:  # noqa: BLE001 - only an unavailable endpoint is translated
            error = self._translate(exc, action, self.bucket, of_bucket=True)
            if isinstance(error, StoreUnavailableError):
                raise error from exc
            raise

    # -- errors -------------------------------------------------------------------------------
    def _named_refusal(self, exc: Exception, key: str) -> Exception:
        """``exc``, the error of a HEAD request of ``key``; for a refusal S3 answered without a body (a HEAD's answer
        has none, so botocore knows its status alone: :data:`BODYLESS_REFUSALS`), the error of one ranged GET of the
        key's first byte instead when that one names S3's code of refused credentials or of a missing permission."""
        if s3_error_code(exc) not in BODYLESS_REFUSALS:
            return exc
        try:
            self.client.get_object(Bucket=self.bucket, Key=self.prefix + key, Range="bytes=0-0")["Body"].close()
        except Exception as named:  # noqa: BLE001 - only the words of the HEAD's error depend on it
            if s3_error_code(named) in CREDENTIAL_CODES | DENIED_CODES:
                return named
        return exc

    def bucket_refusal(self, exc: Exception) -> Exception:
        """``exc``, the error of a HEAD request of the store's bucket (``head_bucket``), named as the store's reads name
        theirs: a 404 (a HEAD's answer has no body) as the bucket missing, a refusal by the code a ranged GET in the
        store is answered with (:meth:`_named_refusal`)."""
        return self._translate(self._named_refusal(exc, PROBE_KEY), "reach bucket", self.bucket, of_bucket=True)

    def _translate(self, exc: Exception, action: str, key: str, *, of_bucket: bool = False) -> Exception:
        """Map a boto3/botocore error to the tdprov error that says what to do; ``of_bucket``: of a request about the
        bucket, whose "not found" is the bucket's."""
        from botocore.exceptions import (BotoCoreError, ClientError, NoCredentialsError, ParamValidationError,
                                         PartialCredentialsError)

        where = f"cannot {action} '{key}' in {self.describe()}"
        if isinstance(exc, ParamValidationError):  # refused before any request: the name, never the network
            return BadInputError(f"{where}: {exc}", fix="check the bucket name and prefix of the store URI (s3://bucket/prefix)")
        if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
            return StoreError(f"{where}: no AWS credentials.", fix="set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
        if isinstance(exc, BotoCoreError):
            return self._unanswered(StoreUnavailableError(
                f"{where}: {exc}.", fix=f"check the endpoint (AWS_ENDPOINT_URL_S3) and network; {FLUSH_NOTE}"))
        if not isinstance(exc, ClientError):
            return exc
        code = s3_error_code(exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        message = exc.response.get("Error", {}).get("Message") or code
        if code == "NoSuchBucket" or (of_bucket and code in NOT_FOUND_CODES):
            return StoreError(f"{where}: bucket '{self.bucket}' does not exist.", fix="create the bucket or fix the store URI")
        if code in NOT_FOUND_CODES:
            return ObjectNotFoundError(f"no object '{key}' in {self.describe()}.", fix="check the key with 'tdprov runs' or the store listing")
        if code in CREDENTIAL_CODES:
            return StoreError(f"{where}: the credentials were refused ({code}).", fix=FIX_CREDENTIALS)
        grant = f"grant s3:GetObject, s3:PutObject and s3:ListBucket on {self.bucket}/{self.prefix}* to these credentials"
        if code in BODYLESS_REFUSALS:  # an answer without a body (a HEAD's) tells no cause: both, and both fixes
            cause, other = ((", or they lack a permission", grant) if code == "403" else (_MALFORMED, FIX_MALFORMED))
            return StoreError(f"{where}: refused ({code}) with no error code, as S3 answers a HEAD request: the "
                              f"credentials were refused{cause}.", fix=f"{FIX_CREDENTIALS}; else {other}")
        if code in DENIED_CODES:
            return StoreError(f"{where}: access denied ({code}).", fix=grant)
        if code in _UNAVAILABLE_CODES or status >= 500 or status == 429:
            return self._unanswered(StoreUnavailableError(f"{where}: {code} ({message}).", fix=f"{RETRY_LATER}; {FLUSH_NOTE}"))
        return StoreError(f"{where}: {code} ({message}).", fix="check the store URI, bucket settings and credentials")


class _GuardedStream:
    """A streaming body whose network errors become tdprov store errors."""

    def __init__(self, body: Any, store: S3Store, key: str) -> None:
        self._body, self._store, self._key = body, store, key

    def read(self, n: int = -1) -> bytes:
        try:
            return self._body.read(None if n is None or n < 0 else n)
        except Exception as exc:  # noqa: BLE001
            raise self._store._translate(exc, "read", self._key) from exc

    def __enter__(self) -> "_GuardedStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self._body.close()


def refused_fix(exc: BaseException, grant: str) -> str | None:
    """The fix of ``exc`` when it is S3's refusal, as the store's errors give it: to check or renew the credentials S3
    refused (:data:`CREDENTIAL_CODES`), ``grant`` (the permission to give) for one they lack (:data:`DENIED_CODES`),
    both for a refusal answered with no code (a HEAD's bare ``403``); None for any other error."""
    code = s3_error_code(exc)
    if code in CREDENTIAL_CODES:
        return FIX_CREDENTIALS
    if code in DENIED_CODES:
        return grant
    return f"{FIX_CREDENTIALS}; else {grant}" if code == "403" else None


def _answered_at(answer: object) -> datetime | None:
    """The time by the server's clock that an answer's ``Date`` header gives (to the second); None without one."""
    headers = answer.get("ResponseMetadata", {}).get("HTTPHeaders", {}) if isinstance(answer, dict) else {}
    try:
        return parsedate_to_datetime(headers["date"]).astimezone(timezone.utc)
    except (KeyError, TypeError, ValueError):
        return None


def s3_error_code(exc: BaseException) -> str:
    """The S3 error code of a botocore ``ClientError`` (``NoSuchKey``, ``PreconditionFailed``), else its HTTP status
    (``"404"``); ``""`` for an exception that carries no S3 response."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code") or response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))


def client_config(options: S3Options) -> Any:
    """The botocore ``Config`` of the store's S3 calls: its time bounds and retries."""
    from botocore.config import Config

    return Config(
        connect_timeout=options.connect_timeout,
        read_timeout=options.read_timeout,
        retries={"total_max_attempts": options.max_attempts, "mode": "standard"},
        tcp_keepalive=True,
    )


_LOADERS: dict[Any, Any] = {}  # botocore data path -> the loader of its service models, shared by this process's sessions
_LOADERS_LOCK = threading.Lock()


def fresh_s3_client(config: Any = None) -> Any:
    """An S3 client of a fresh boto3 session (``config``: a botocore ``Config``, or None for boto3's defaults): the
    standard AWS environment and credentials chain, read anew for each client. Only botocore's loader of its data files (the service models, read-only, cached once loaded) is shared:
    a session of its own would parse them again, most of the time it takes to make a client. Its answers' timestamps
    are read by :func:`~prov_common.store.s3_time.parse_s3_timestamp` (botocore's values, without dateutil's parser)."""
    import boto3
    import botocore.session
    from botocore.loaders import create_loader

    from prov_common.store.s3_time import use_s3_timestamp_parser

    core = use_s3_timestamp_parser(botocore.session.Session())
    path = core.get_config_variable("data_path")
    with _LOADERS_LOCK:
        loader = _LOADERS.get(path)
        if loader is None:
            loader = _LOADERS[path] = create_loader(path)
        core.register_component("data_loader", loader)
        session = boto3.session.Session(botocore_session=core)
        loader.search_paths[:] = list(dict.fromkeys(loader.search_paths))  # boto3 adds its data folder for each session
    return session.client("s3", config=config)
