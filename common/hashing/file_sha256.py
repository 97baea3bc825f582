"""SHA-256 of a file's bytes, the digest generic in-toto verifiers match (docs/bundles.md, "Subjects").

A writer records it as it writes: :class:`Sha256Follower` hashes a new local file from the page cache
while a native writer (pyarrow) appends to it, in a thread of its own; a reader that hashes a table
file records it with :func:`sha256_of` (or :func:`sha256_stream` of the file it is hashing), one that
copies a download (an S3 object spooled for its reader) with :func:`copy_sha256` as it copies, and one that
streams a download to its reader (a CSV or JSON-lines S3 object) with :func:`sha256_as_read` as it is read.
Only ``hashlib``: no pandas or pyarrow.
"""
from __future__ import annotations

import hashlib
import io
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Any

CHUNK = 1 << 20


class Sha256Follower:
    """The SHA-256 of a file that another writer is creating, read behind the writer as it appends.

    For a fresh file that only its writer touches (a private temporary file) and a writer that only
    appends (pyarrow's Parquet writer writes to an output stream, which cannot seek): the thread reads
    what has reached the page cache so far, waits briefly at the end of the data and, once
    :meth:`writer_done` says the writer closed the file, reads the rest. The writer runs at full speed
    in native code; the hash takes a second core. ``writer_done`` checks that the file's size is the
    number of bytes hashed, so a file changed behind the writer is refused instead of mis-recorded.

    ``poll_seconds``: how long it waits at the end of the data. Each wake-up costs CPU that the writer's core needs on
    a busy machine; 10 ms behind pyarrow (about 2 MB) is about 1 ms of hashing left once the writer closes the file.
    """

    def __init__(self, path: str | os.PathLike[str], *, poll_seconds: float = 0.01) -> None:
        self._file = open(path, "rb", buffering=0)  # opened now: the writer's truncation keeps the inode
        self._poll = poll_seconds
        self._done = threading.Event()
        self._hash = hashlib.sha256()
        self._error: BaseException | None = None
        self.size = 0
        self._thread = threading.Thread(target=self._follow, name="tdprov-sha256", daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        buffer = bytearray(CHUNK)
        view = memoryview(buffer)
        try:
            while True:
                finished = self._done.is_set()  # read before the data: what follows it is the whole rest
                while n := self._file.readinto(buffer):
                    self._hash.update(view[:n])
                    self.size += n
                if finished:
                    return
                self._done.wait(self._poll)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller by writer_done()
            self._error = exc

    def _stop(self) -> None:
        self._done.set()
        self._thread.join()

    def writer_done(self) -> str:
        """The writer has closed the file: hash the rest and return the lowercase hex SHA-256."""
        self._stop()
        try:
            if self._error is not None:
                raise self._error
            on_disk = os.fstat(self._file.fileno()).st_size
        finally:
            self._file.close()
        if on_disk != self.size:
            raise OSError(f"the file changed while it was hashed ({on_disk} bytes on disk, {self.size} hashed)")
        return self._hash.hexdigest()

    def cancel(self) -> None:
        """The writer failed: stop following and close the file (the digest is not wanted)."""
        self._stop()
        self._file.close()

    def __enter__(self) -> "Sha256Follower":
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._file.closed:
            self.cancel()


def sha256_stream(fileobj: IO[bytes], chunk_size: int = CHUNK) -> str:
    """Lowercase hex SHA-256 of everything a binary file object yields."""
    h = hashlib.sha256()
    while chunk := fileobj.read(chunk_size):
        h.update(chunk)
    return h.hexdigest()


def copy_sha256(source: IO[bytes], target: IO[bytes], chunk_size: int = CHUNK) -> str:
    """Copy everything ``source`` yields into ``target``: the lowercase hex SHA-256 of the bytes copied, each chunk
    hashed in a thread while the next one is read and written (a download is hashed as it arrives)."""
    h = hashlib.sha256()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tdprov-sha256") as hasher:
        hashed: Future[None] | None = None
        while chunk := source.read(chunk_size):
            target.write(chunk)
            if hashed is not None:
                hashed.result()  # one chunk in the thread at a time
            hashed = hasher.submit(h.update, chunk)
        if hashed is not None:
            hashed.result()
    return h.hexdigest()


class _Sha256Reader(io.RawIOBase):
    """The bytes of ``source``, as it gives them, hashed as they pass; at its end ``done(hex digest)``."""

    def __init__(self, source: IO[bytes], done: Callable[[str], None]) -> None:
        super().__init__()
        self._source = source
        self._done: Callable[[str], None] | None = done
        self._hash = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        wanted = len(buffer)
        data = self._source.read(wanted)
        n = len(data)
        if n:
            self._hash.update(data)
            memoryview(buffer).cast("B")[:n] = data
        elif wanted and self._done is not None:  # the end: every byte of the source went through the hash, in order
            done, self._done = self._done, None
            done(self._hash.hexdigest())
        return n

    def close(self) -> None:
        try:
            self._source.close()
        finally:
            super().close()


def sha256_as_read(source: IO[bytes], done: Callable[[str], None]) -> IO[bytes]:
    """``source`` (a stream read from its start, such as an S3 object's body) to be read through: a reader of it
    that reaches its end calls ``done`` with the lowercase hex SHA-256 of all its bytes; one that stops before
    (an error, a reader that gives up) never calls it."""
    return io.BufferedReader(_Sha256Reader(source, done), CHUNK)  # type: ignore[return-value]


def sha256_of(path_or_uri: Any) -> str:
    """Lowercase hex SHA-256 of the bytes of a local file or a registered URI (``s3://``)."""
    from prov_common.hashing.files import open_binary

    with open_binary(path_or_uri) as f:
        return sha256_stream(f)
