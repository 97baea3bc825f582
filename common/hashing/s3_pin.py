"""An S3 object read by every pass of one hashing, so the passes cannot read two contents.

Hashing a CSV or JSON-lines table reads the object more than once (the table digest, the SHA-256 of its
bytes beside it, a second pass); each read is a GET of its own. (A Parquet object is read once: its body is
spooled for the reader, and its SHA-256 taken in that copy: :meth:`PinnedS3Object.sha256`.) Were the object
overwritten between two reads, the digests recorded together would describe two contents. Here the first read
takes the object's ETag (and version, on a versioned bucket); every later read asks for that ETag (``IfMatch``)
and version, so it reads the same bytes or S3 refuses it (412 Precondition Failed), which is an
:class:`ObjectChangedError` naming the object. A shard is read at the ETag its listing gave it.
"""
from __future__ import annotations

import threading
from typing import IO, Any

from prov_common.errors import BadInputError
from prov_common.hashing.file_sha256 import sha256_stream
from prov_common.hashing.remote import Spool, is_spooled, readable_body, s3_client, s3_key, s3_object_params
from prov_common.store.s3 import NOT_FOUND_CODES, PRECONDITION_CODES, s3_error_code

_CHANGED_CODES = PRECONDITION_CODES | NOT_FOUND_CODES | {"NoSuchVersion"}


class ObjectChangedError(BadInputError):
    """An S3 object was overwritten (or removed) between two reads of one hashing, or since it was listed."""


class PinnedS3Object:
    """The S3 object at ``uri`` (``s3://bucket/key``, or a version of it), read by every pass of one hashing.

    ``etag``: the ETag its bytes must have (as a listing gave it); default: the one the first read finds.
    ``sha256``: the SHA-256 of its bytes is wanted (:meth:`sha256`); a read that is spooled takes it in its copy.
    :meth:`open` may be called from several threads (the SHA-256 is read beside the table pass)."""

    def __init__(self, uri: str, etag: str | None = None, *, sha256: bool = False) -> None:
        self.uri = uri
        self.etag = _quoted(etag) if etag else None
        self.version: str | None = None
        self.sha256_in_copy = sha256 and is_spooled(s3_key(uri))  # each read is spooled, its SHA-256 taken in the copy
        self._sha256: str | None = None  # taken in the copy of a spooled read
        self._listed = etag is not None
        self._lock = threading.Lock()

    def open(self) -> IO[bytes]:
        """A new read of the object from its start, of the bytes every other read of this object gets."""
        where: dict[str, Any] = s3_object_params(self.uri)
        with self._lock:  # of passes started together, the first read takes the ETag the others then ask for
            if self.etag is not None:
                where["IfMatch"] = self.etag
            if self.version is not None and "VersionId" not in where:
                where["VersionId"] = self.version
            try:
                answer = s3_client().get_object(**where)
            except Exception as exc:  # botocore's ClientError
                if self.etag is not None and s3_error_code(exc) in _CHANGED_CODES:
                    raise self._changed() from exc
                raise
            if self.etag is None:
                self.etag = answer.get("ETag")  # an S3-compatible store that gives none: later reads are not pinned
            if self.version is None and answer.get("VersionId") not in (None, "null"):  # "null": not versioned
                self.version = answer["VersionId"]
        body = readable_body(where["Key"], answer["Body"], sha256=self.sha256_in_copy)
        if isinstance(body, Spool) and body.sha256 is not None:  # every read is of the same bytes: the object's
            self._sha256 = body.sha256
        return body

    def sha256(self) -> str:
        """The SHA-256 (lowercase hex) of the object's bytes: with :attr:`sha256_in_copy`, the one taken in the copy
        a pass read (the passes and it are one GET); else, or before any pass, from a read of its own."""
        if self._sha256 is None:
            with self.open() as body:
                return self._sha256 or sha256_stream(body)
        return self._sha256

    def _changed(self) -> ObjectChangedError:
        first = "its listing named" if self._listed else "the first read found"
        return ObjectChangedError(
            f"{self.uri!r} changed while it was being hashed: S3 no longer holds the bytes with ETag {self.etag} that "
            f"{first} (overwritten or removed since), so its digests would describe two contents.",
            fix="hash it again once writes to it have stopped (writers that put each version under a new key, "
                "or a versioned bucket, never cause this).")


def _quoted(etag: str) -> str:
    """An ETag as S3 gives it in a header, in double quotes (a listing's stamp keeps it without them)."""
    return etag if etag.startswith('"') else f'"{etag}"'
