"""Open only regular files for reading: a named pipe, device or socket where a file belongs (put there by
accident or by an attacker) would block a reader forever or feed it without end."""
from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO


READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
"""How a file is opened for :func:`regular_stream` (:func:`open_read`): without blocking on a named pipe that has no
writer."""


class NotRegularFileError(OSError):
    """The path is a named pipe, device or socket (not a regular file: ``kind`` says which, as :func:`kind_of`), or a
    file larger than its reader allows (``kind`` None)."""

    def __init__(self, message: str, kind: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind


def open_regular(path: str | os.PathLike[str]) -> BinaryIO:
    """``path`` opened for binary reading, only if it is (or a symlink leads to) a regular file.

    Opens without blocking (a named pipe with no writer would hang ``open``), then checks the opened
    file itself, so nothing can be swapped in between. Raises :class:`NotRegularFileError` naming what
    it is; the ``OSError`` of ``open`` otherwise (missing, a folder, not readable)."""
    return regular_stream(open_read(path), path)


def open_read(name: str | os.PathLike[str], shown: str | os.PathLike[str] | None = None, *, dir_fd: int | None = None,
              follow_symlinks: bool = True) -> int:
    """A descriptor of ``name`` (in the folder ``dir_fd``, if given; a link not followed unless ``follow_symlinks``)
    opened with :data:`READ_FLAGS`, for :func:`regular_stream`. A socket cannot be opened, and ``open``'s ENXIO ("No
    such device or address") names no cause: it raises :class:`NotRegularFileError` naming it (``shown``: what it is
    called there, default ``name``)."""
    try:
        return os.open(name, READ_FLAGS | (0 if follow_symlinks else os.O_NOFOLLOW), dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ENXIO and stat.S_ISSOCK(os.stat(name, dir_fd=dir_fd, follow_symlinks=follow_symlinks).st_mode):
            raise NotRegularFileError(f"{name if shown is None else shown} is a socket, not a regular file", "a socket") from exc
        raise


def regular_stream(fd: int, path: str | os.PathLike[str]) -> BinaryIO:
    """The file ``fd`` (opened with :data:`READ_FLAGS`) as a binary stream, only if it is a regular file (``path``:
    what it is called in a refusal); closed on a refusal, as :func:`open_regular` does."""
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):  # as open() says of a folder
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        if not stat.S_ISREG(mode):
            raise NotRegularFileError(f"{path} is {kind_of(mode)}, not a regular file", kind_of(mode))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike[str], limit: int | None = None) -> bytes:
    """The bytes of the regular file ``path`` (:func:`open_regular`); with ``limit``, a file larger than
    ``limit`` bytes raises :class:`NotRegularFileError` instead of being read whole."""
    with open_regular(path) as stream:
        data = stream.read() if limit is None else stream.read(limit + 1)
    if limit is not None and len(data) > limit:
        raise NotRegularFileError(f"{Path(path)} is larger than {limit:,} bytes")
    return data


def kind_of(mode: int) -> str:
    """What a file of ``st_mode`` ``mode`` that is not a regular file is, for a message: ``a named pipe``, ``a device``."""
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a file"
