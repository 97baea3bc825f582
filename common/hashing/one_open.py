"""A local file opened once for every pass of a table reader, so the passes cannot read two versions.

Hashing a CSV or JSON-lines file can take two passes (dtype inference, then the cast), and the SHA-256
of its bytes is read beside them. Were each pass to open the path again, a file replaced in between
(a writer publishing a new version by rename) would give a digest of neither version. Here the file is
opened once; each pass reads it from the start through a :class:`FileView` of that one descriptor (its
own position, ``os.pread``), so a rename meanwhile does not reach the passes. A file written in place
meanwhile (its size, modification time or change time moves) is refused: its bytes may mix two versions.
"""
from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import IO

from prov_common.errors import BadInputError

Opener = Callable[[], AbstractContextManager[IO[bytes]]]
Opened = Callable[[os.stat_result], None]  # told a local file's status as it was opened for a hash


class FileChangedError(BadInputError):
    """A local file's size, modification time or change time moved while it was read (:func:`opened_once`)."""

BUFFER_BYTES = 1 << 16
_HAS_PREADV = hasattr(os, "preadv")


class FileView(io.RawIOBase):
    """A read-only view of an open file descriptor with a position of its own; closing it leaves the
    descriptor open. Several views (in several threads) read one file independently."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if _HAS_PREADV:
            n = os.preadv(self._fd, [buffer], self._position)
        else:
            data = os.pread(self._fd, len(buffer), self._position)
            n = len(data)
            memoryview(buffer).cast("B")[:n] = data
        self._position += n
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: os.fstat(self._fd).st_size}[whence]
        if base + offset < 0:
            raise OSError(f"negative seek position {base + offset}")
        self._position = base + offset
        return self._position

    def tell(self) -> int:
        return self._position


def view(fd: int) -> IO[bytes]:
    """A buffered :class:`FileView` of ``fd``, at the start of the file."""
    return io.BufferedReader(FileView(fd), BUFFER_BYTES)  # type: ignore[return-value]


@contextmanager
def opened_once(f: IO[bytes], name: str, opened: Opened | None = None) -> Iterator[Opener]:
    """An opener for every pass over the open local file ``f`` (each call: a new view at its start); ``opened`` is
    told its status as the passes find it (what a record states of the bytes they read: size, times, inode).
    Raises :class:`FileChangedError` on leaving when the file's size, modification time or change time moved while
    it was read (a write into it: the change time also when the writer set the old modification time back, as
    ``rsync -t --inplace`` and ``cp -p`` do); a rename or removal of its path meanwhile is no change of the file
    (:func:`_changed`)."""
    fd = f.fileno()
    found = os.fstat(fd)
    before = _state(found)
    if opened is not None:
        opened(found)
    yield lambda: view(fd)
    if _changed(before, _state(os.fstat(fd))):
        raise FileChangedError(f"{name!r} changed while it was hashed: its bytes may mix two versions.",
                               fix="hash it again when it is no longer being written (writers that publish "
                                   "by renaming a finished file over it never cause this)")


def _state(st: os.stat_result) -> tuple[int, int, int, int]:
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_nlink


def _changed(before: tuple[int, int, int, int], after: tuple[int, int, int, int]) -> bool:
    """Whether the file was written between the two states: its size or modification time moved, or its change
    time, which no user can set back, while its link count stayed (removing a link, as renaming a new version
    over its path does, moves the change time alone)."""
    return before[:2] != after[:2] or (before[3] == after[3] and before[2] != after[2])
