"""Logic shared by the store backends: write-once comparison, streaming to files, descriptions."""
from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from prov_common.errors import BadInputError, ObjectConflictError, StoreUnavailableError
from prov_common.store.buffers import Buffer, byte_view, checked_buffer, open_buffer
from prov_common.store.errors import TOO_LARGE_FIX, ObjectTooLargeError
from prov_common.store.keys import validate_key, validate_prefix
from prov_common.store import listing_memo
from prov_common.store.listing_memo import ListingMemo, no_tags

if TYPE_CHECKING:
    from prov_common.store.base import Store

CHUNK = 1 << 20
WRITE_PROBE = "write-probe"  # under each prefix checked by ``check_writable`` (object stores)
WRITE_PROBE_BYTES = b"tdprov write probe: whoever can create this object may write here\n"


@dataclass(frozen=True)
class ObjectInfo:
    """One listed object: its key, its size, and a tag that changes when its bytes are replaced
    (S3: the ETag; a local folder: the file's modification time and inode); ``stored``: when the store took it, by the
    store's clock, which no writer sets (S3: LastModified; a local folder: the file's change time), where the listing
    says (None otherwise)."""

    key: str
    size: int
    tag: str
    stored: datetime | None = field(default=None, compare=False)

    @property
    def fingerprint(self) -> str:
        return f"{self.size}:{self.tag}"


class Source:
    """Bytes to store, in memory (bytes, or a view of a bytearray's, never copied whole) or in a file, that can
    be opened more than once."""

    def __init__(self, data: Buffer | None = None, path: Path | None = None) -> None:
        self.data = None if data is None else byte_view(data)
        self.path = path
        self.created_tag: str | None = None  # set by a backend that created an object of these bytes: the tag its listing gives it
        self.created_at: datetime | None = None  # set by a backend that created it, when it tells: its time, by the store's clock

    def open(self) -> BinaryIO:
        if self.data is not None:
            return open_buffer(self.data)  # type: ignore[return-value]
        assert self.path is not None
        try:
            return open(self.path, "rb")
        except OSError as exc:
            raise BadInputError(f"cannot read file '{self.path}': {exc.strerror}.", fix="pass a readable file") from exc

    def size(self) -> int:
        return len(self.data) if self.data is not None else os.path.getsize(self.path)  # type: ignore[arg-type]


def same_content(a: BinaryIO, b: BinaryIO) -> bool:
    """True when two binary streams hold the same bytes (compared chunk by chunk)."""
    while True:
        chunk_a = a.read(CHUNK)
        chunk_b = _read_exactly(b, len(chunk_a)) if chunk_a else b.read(1)
        if chunk_a != chunk_b:
            return False
        if not chunk_a:
            return True


def _read_exactly(stream: BinaryIO, n: int) -> bytes:
    parts, left = [], n
    while left:
        part = stream.read(left)
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


class BaseStore(ABC):
    """Write-once semantics on top of a backend's create-if-absent and open primitives."""

    uri: str
    _memo: ListingMemo | None = None  # the listings of the job under way (:meth:`memo_listings`)
    clock_offset: timedelta | None = None
    """How far the store's clock is ahead of this machine's (behind when negative), as its answer to the newest object
    this process created in it told (S3: the ``Date`` of the PutObject; a local folder: the written file's modification
    time, the clock of the file system, e.g. an NFS server's); None before the first create, or when the backend cannot
    tell. Costs no request: it comes from the creates the store answers anyway."""
    unanswered_at: float | None = None
    """The ``time.monotonic()`` of the latest call this store could not get answered (a timeout, a connection refused, a
    server error past the retries: :class:`~prov_common.errors.StoreUnavailableError`); None when none was. A transport
    closing, or a process ending, with writes queued behind a store that stopped answering spools them at once rather
    than let each wait its own timeout (:meth:`~prov_common.bundle.transport.ProvenanceTransport.settle`)."""

    # -- backend primitives -------------------------------------------------------------------
    @abstractmethod
    def _create(self, key: str, source: Source) -> bool:
        """Create ``key`` atomically if absent; True if created, False if an object already exists."""

    @abstractmethod
    def _open(self, key: str) -> contextlib.AbstractContextManager[BinaryIO]:
        """Open an existing object for streaming reads (raises ObjectNotFoundError)."""

    @abstractmethod
    def _exists(self, key: str) -> bool: ...

    @abstractmethod
    def _list(self, prefix: str, start_after: str | None) -> Iterator[str]: ...

    def _list_info(self, prefix: str, start_after: str | None, tags_for: Callable[[str], bool] | None = None) -> Iterator[ObjectInfo]:
        """Backends whose listing says more override this; here size and tag are unknown."""
        return (ObjectInfo(key, -1, "") for key in self._list(prefix, start_after))

    @abstractmethod
    def describe(self) -> str:
        """One line naming the store for messages, e.g. ``local folder /data/.tdprov``."""

    def _unanswered(self, error: StoreUnavailableError) -> StoreUnavailableError:
        """``error``, noted as the store's latest call not answered (:attr:`unanswered_at`)."""
        self.unanswered_at = time.monotonic()
        return error

    # -- Store protocol -----------------------------------------------------------------------
    def put(self, key: str, data: Buffer) -> bool:
        """Create ``key`` with ``data`` (a bytearray or memoryview is read in place, not copied); False if it already
        holds these bytes; ObjectConflictError if others."""
        return self.put_listed(key, data)[0]

    def put_listed(self, key: str, data: Buffer) -> tuple[bool, str | None]:
        """Like :meth:`put`, with the fingerprint (``size:tag``, :attr:`ObjectInfo.fingerprint`) that this store's listing
        gives the object this call created, as the backend saw it created (S3: the ETag its PutObject answered, none once a
        listing of the store gave an object no ETag; a local folder: the stat of the file it linked in place); None when
        the call created nothing, or the backend cannot tell."""
        source = Source(data=checked_buffer(data, f"data for store key {key!r}", "encode it first"))
        created = self._put(validate_key(key), source)
        return created, f"{source.size()}:{source.created_tag}" if created and source.created_tag else None

    def put_file(self, key: str, path: Path) -> bool:
        """Like :meth:`put`, streaming the bytes of the file at ``path``."""
        return self._put(validate_key(key), Source(path=Path(path)))

    def get(self, key: str, limit: int | None = None) -> bytes:
        """The bytes of ``key`` (ObjectNotFoundError if absent). ``limit``: an object larger than ``limit``
        bytes raises ObjectTooLargeError after reading ``limit + 1`` of them (never more into memory)."""
        with self._open(validate_key(key)) as stream:
            if limit is None:
                return stream.read()
            data = _read_at_most(stream, limit + 1)
        if len(data) > limit:
            raise ObjectTooLargeError(f"object '{key}' in {self.describe()} is larger than {limit:,} bytes.", fix=TOO_LARGE_FIX)
        return data

    def get_range(self, key: str, start: int, length: int) -> bytes:
        """``length`` bytes of ``key`` from offset ``start`` (fewer at the end of the object)."""
        with self._open_range(validate_key(key), start, length) as stream:
            return stream.read(length)

    def _open_range(self, key: str, start: int, length: int) -> contextlib.AbstractContextManager[BinaryIO]:
        """A stream positioned at ``start``; backends that can ask for a byte range override this."""
        return _skipped(self._open(key), start)

    def get_file(self, key: str, path: Path) -> None:
        """Stream ``key`` into the file ``path``, replacing it atomically only once complete."""
        validate_key(key)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as out, self._open(key) as stream:
                while chunk := stream.read(CHUNK):
                    out.write(chunk)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):  # a cleanup that fails must not hide why the download failed
                os.unlink(tmp)
            raise

    def exists(self, key: str) -> bool:
        """True when an object exists under ``key``."""
        return self._exists(validate_key(key))

    def list(self, prefix: str = "", *, start_after: str | None = None) -> Iterator[str]:
        """Keys starting with ``prefix`` in lexicographic order, only those ``> start_after`` if given."""
        prefix = validate_prefix(prefix)
        if self._memo is None:
            return self._list(prefix, start_after)
        return (info.key for info in self._memoized(prefix, start_after, no_tags))

    def list_info(self, prefix: str = "", *, start_after: str | None = None,
                  tags_for: Callable[[str], bool] | None = None) -> Iterator[ObjectInfo]:
        """Like :meth:`list`, with each object's size and tag (what the listing itself says, no reads).
        ``tags_for``: the keys whose size and tag the caller needs, where the backend pays for each (a
        local file's stat); the others may come with size -1 and an empty tag."""
        prefix = validate_prefix(prefix)
        if self._memo is None:
            return self._list_info(prefix, start_after, tags_for)
        return self._memoized(prefix, start_after, tags_for)

    @contextlib.contextmanager
    def memo_listings(self) -> Iterator[None]:
        """Within this block, a listing taken in full answers every later listing of its keys until this store writes
        one of them (:class:`~prov_common.store.listing_memo.ListingMemo`); after it, every listing asks the store
        again. Blocks nest: the outermost one's listings are kept."""
        if self._memo is not None:
            yield
            return
        self._memo = ListingMemo()
        try:
            yield
        finally:
            self._memo = None

    def forget_listings(self, prefix: str) -> None:
        """Have the next listing of ``prefix`` within :meth:`memo_listings` ask the store, not a listing kept before
        another writer wrote there (:meth:`~prov_common.store.listing_memo.ListingMemo.forget`)."""
        if self._memo is not None:
            self._memo.forget(validate_prefix(prefix))

    def _memoized(self, prefix: str, start_after: str | None, tags_for: Callable[[str], bool] | None) -> Iterator[ObjectInfo]:
        """The listing from :attr:`_memo` when it holds one; else from the backend, kept once listed to its end (a
        reader that stops early keeps nothing, and costs no more requests than without a memo)."""
        memo = self._memo
        if memo is None:  # read after the job ended (a listing is read when iterated): the store answers, as after it
            yield from self._list_info(prefix, start_after, tags_for)
            return
        if (kept := memo.answer(prefix, start_after, tags_for)) is not None:
            yield from kept
            return
        mark, infos = memo.started(), []
        for info in self._list_info(prefix, start_after, tags_for):
            if infos is not None:
                infos.append(info)
                if len(infos) > listing_memo.MAX_KEPT_OBJECTS:  # too large to keep: not held in memory while it is read either
                    infos = None
            yield info
        if infos is not None:
            memo.keep(prefix, start_after, tags_for, infos, mark)

    def check_writable(self, prefix: str) -> None:
        """Raise StoreError unless these credentials may create objects under ``prefix``: puts ``<prefix>write-probe``,
        always the same bytes, so it is created once and refused as existing after that. A put is refused for lack of
        permission before an existing object is looked at (S3: 403 before 412), so that refusal proves the access and
        the object is not read back (one request a prefix). Backends that can check without an object override this."""
        self._put(validate_prefix(prefix) + WRITE_PROBE, Source(data=WRITE_PROBE_BYTES), compare=False)

    def refuses_rewrite(self, key: str, data: bytes) -> bool:
        """Whether a second create of ``key``, which holds ``data``, is refused: one create of those same bytes, so
        that a store that accepts it (no write-once) is left holding what it held."""
        key = validate_key(key)
        try:
            return not self._create(key, Source(data=bytes(data)))
        finally:
            self._wrote(key)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.uri!r})"

    # -- shared logic -------------------------------------------------------------------------
    def _put(self, key: str, source: Source, *, compare: bool = True) -> bool:
        """Create ``key`` from ``source`` if absent (True); else False once the object there holds the same bytes
        (ObjectConflictError if not), or at once when ``compare`` is False (a write probe, whose refusal is the answer)."""
        try:
            if self._create(key, source):
                if source.created_at is not None:
                    self.clock_offset = source.created_at - datetime.now(timezone.utc)
                self._wrote(key, created=True)
                return True
            if compare:
                self._check_same(key, source)
        except BaseException:
            self._wrote(key)
            raise
        self._wrote(key, held=True)
        return False

    def _wrote(self, key: str, *, held: bool = False, created: bool = False) -> None:
        """A write of ``key`` was made, refused or failed: no kept listing may hide it (:meth:`memo_listings`);
        ``held``: refused as ``key`` holds those bytes already; ``created``: made by this create-if-absent."""
        if self._memo is not None:
            self._memo.wrote(key, held=held, created=created)

    def _check_same(self, key: str, source: Source) -> None:
        with self._open(key) as existing, source.open() as new:
            if same_content(existing, new):
                return
        raise ObjectConflictError(
            f"object '{key}' already exists in {self.describe()} with other bytes; objects are written once.",
            fix="write the new content under a new key (e.g. a new run id); never rewrite a stored object",
        )


def _read_at_most(stream: BinaryIO, count: int) -> bytes:
    """Up to ``count`` bytes of ``stream``: a file's in one read of its size (and one more byte, to see it grow), else
    in parts that start small and double (to :data:`CHUNK`). One ``read(count)`` would allocate ``count`` bytes first,
    64 MiB for each small staged event read under a 64 MiB limit; parts of a large file would be held twice when joined."""
    parts: list[bytes] = []
    known = _file_size(stream)
    size = 64 << 10 if known is None else known + 1
    while count > 0 and (part := stream.read(min(size, count))):
        parts.append(part)
        count -= len(part)
        size = min(size * 2, CHUNK)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _file_size(stream: BinaryIO) -> int | None:
    """The size of the regular file ``stream`` reads (None when it reads no file)."""
    try:
        st = os.fstat(stream.fileno())
    except (AttributeError, OSError, ValueError):  # no file descriptor (an S3 body: io.UnsupportedOperation)
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None


@contextlib.contextmanager
def _skipped(opened: contextlib.AbstractContextManager[BinaryIO], start: int) -> Iterator[BinaryIO]:
    """``opened``, moved to ``start`` (seek when the stream can, else read and drop)."""
    with opened as stream:
        if hasattr(stream, "seek") and getattr(stream, "seekable", lambda: False)():
            stream.seek(start)
        else:
            while start > 0 and (chunk := stream.read(min(start, CHUNK))):
                start -= len(chunk)
        yield stream


def put_listed(store: Store, key: str, data: Buffer) -> tuple[bool, str | None]:
    """:meth:`BaseStore.put_listed` of ``store``: whether it created ``key``, and the fingerprint its listing gives the object
    created; a store of another kind creates as its ``put`` does and tells none."""
    return store.put_listed(key, data) if isinstance(store, BaseStore) else (store.put(key, data), None)
