"""An S3 object read by every pass of one hashing, so the passes cannot read two contents.

Hashing a table may read the object more than once (a second pass over a CSV or JSON-lines object whose
types change part way, a JSON-lines object read whole and then checked); each read is a GET of its own. The
SHA-256 of its bytes needs none: it is taken by the first read that reaches the object's end, as it goes (in the
copy a Parquet object is spooled into, or as a CSV or JSON-lines body streams to its reader:
:meth:`PinnedS3Object.sha256`). Were the object overwritten between two reads, the digests recorded together
would describe two contents. Here the first read
takes the object's ETag (and version, on a versioned bucket); every later read asks for that ETag (``IfMatch``)
and version, so it reads the same bytes or S3 refuses it (412 Precondition Failed), which is an
:class:`ObjectChangedError` naming the object; so is an answer of other bytes (its ``ETag`` header not the one asked
for: a server that ignores ``If-Match``). An answer given a weak ETag (``W/"..."``: a proxy that compresses or
transforms answers) is refused naming it, never taken for an overwrite. A shard is read at the ETag its listing gave
it; one listed with an ETag no request can send is refused naming it. An empty ETag (an S3-compatible server's
listing) pins nothing: that shard is read as an object no listing named, pinned by its first read.
"""
from __future__ import annotations

import threading
from typing import IO, Any

from prov_common.errors import BadInputError
from prov_common.hashing.file_sha256 import sha256_stream
from prov_common.hashing.remote import named_if_missing, readable_body, s3_client, s3_object_params
from prov_common.store.s3 import (FIX_WEAK_ETAG, NOT_FOUND_CODES, PRECONDITION_CODES, WEAK_ETAG_CAUSE, PinIgnoredError,
                                  get_pinned, quoted_etag, s3_error_code, unaskable_etag, weak_etag)
from prov_common.text import VALUE_AT_MOST, cut

_CHANGED_CODES = PRECONDITION_CODES | NOT_FOUND_CODES | {"NoSuchVersion"}


class ObjectChangedError(BadInputError):
    """An S3 object was overwritten (or removed) between two reads of one hashing, or since it was listed."""


class PinnedS3Object:
    """The S3 object at ``uri`` (``s3://bucket/key``, or a version of it), read by every pass of one hashing.

    ``etag``: the ETag its bytes must have (as a listing gave it); default (and for an empty one): the one the first
    read finds.
    ``sha256``: the SHA-256 of its bytes is wanted (:meth:`sha256`): each read hashes the bytes it passes on until
    one has reached the end. :meth:`open` may be called from several threads."""

    def __init__(self, uri: str, etag: str | None = None, *, sha256: bool = False) -> None:
        self.uri = uri
        self.etag = quoted_etag(etag) if etag else None
        self.version: str | None = None
        self._wants_sha256 = sha256
        self._sha256: str | None = None  # taken by the first read that reached the end
        self._listed = etag or None  # the ETag a listing gave it (an empty one names no bytes)
        self._lock = threading.Lock()

    def open(self) -> IO[bytes]:
        """A new read of the object from its start, of the bytes every other read of this object gets."""
        where: dict[str, Any] = s3_object_params(self.uri)
        client = s3_client()
        if self._listed is not None:
            self._refuse_unaskable(self._listed, client)
        with self._lock:  # of passes started together, the first read takes the ETag the others then ask for
            if self.version is not None and "VersionId" not in where:
                where["VersionId"] = self.version
            try:
                answer = get_pinned(client, self.etag, **where)
            except PinIgnoredError as exc:
                raise self._changed(exc) from exc
            except Exception as exc:  # botocore's ClientError
                if self.etag is not None and s3_error_code(exc) in _CHANGED_CODES:
                    raise self._weak() or self._changed() from exc
                with named_if_missing(self.uri):
                    raise
            if self.etag is None:
                self.etag = answer.get("ETag")  # an S3-compatible store that gives none: later reads are not pinned
            if self.version is None and answer.get("VersionId") not in (None, "null"):  # "null": not versioned
                self.version = answer["VersionId"]
        hashed = self._wants_sha256 and self._sha256 is None
        return readable_body(where["Key"], answer["Body"], sha256=self._read_whole if hashed else None)

    def _read_whole(self, sha256: str) -> None:
        self._sha256 = sha256  # every read is of the same bytes: the object's

    def sha256(self) -> str:
        """The SHA-256 (lowercase hex) of the object's bytes: the one a read of the passes took as it reached the
        end, with ``sha256`` (the passes and it are one GET); else, or before any pass, from a read of its own."""
        if self._sha256 is None:
            with self.open() as body:
                return self._sha256 or sha256_stream(body)
        return self._sha256

    def _refuse_unaskable(self, etag: str, client: Any) -> None:
        """Refuse the object, naming it, when ``etag``, which its listing gave it, cannot be asked for (``client``
        would refuse to send it: :func:`~prov_common.store.s3.unaskable_etag`)."""
        endpoint = getattr(client.meta, "endpoint_url", None)
        if unaskable := unaskable_etag(repr(self.uri), etag, f"the S3 endpoint{f' {endpoint}' if endpoint else ''}"):
            raise BadInputError(unaskable, fix="check what answers at the S3 endpoint (S3 gives each object an ETag of "
                                               "printable ASCII), then hash it again")

    def _weak(self) -> BadInputError | None:
        """The refusal of the object when the ETag its first read found is weak (``W/"..."``): no read can ask for it
        (S3 matches ``If-Match`` to a strong ETag only), so a later read's refusal says nothing of a write; else None."""
        if self._listed is not None or not weak_etag(self.etag):
            return None
        return BadInputError(f"{self.uri!r} cannot be read again as the bytes hashed: its first read was answered with the "
                             f"weak ETag {cut(self.etag, VALUE_AT_MOST)}, {WEAK_ETAG_CAUSE}, and a later read cannot ask "
                             "for those bytes by it (If-Match), so they were not hashed.",
                             fix=f"{FIX_WEAK_ETAG}; then hash it again")

    def _changed(self, ignored: PinIgnoredError | None = None) -> ObjectChangedError:
        """The refusal of the object, overwritten or removed since its ETag was taken; ``ignored``: a read answered
        with other bytes (or bytes given no ETag), as a server that ignores ``If-Match`` answers, or given a weak ETag."""
        first = "its listing named" if self._listed is not None else "the first read found"
        if ignored is None:
            return ObjectChangedError(
                f"{self.uri!r} changed while it was being hashed: S3 no longer holds the bytes with ETag {self.etag} that "
                f"{first} (overwritten or removed since), so its digests would describe two contents.", fix=_AGAIN)
        what = "changed while it was being hashed" if ignored.changed else "cannot be read as the bytes hashed"
        return ObjectChangedError(f"{self.uri!r} {what}: {ignored.reason}; so they are not the bytes {first}, and were "
                                  "not hashed.", fix=f"{ignored.fix}; then {_AGAIN}")


_AGAIN = ("hash it again once writes to it have stopped (writers that put each version under a new key, or a versioned "
          "bucket, never cause this).")
