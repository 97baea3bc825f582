"""Write a local file whole or not at all: the new content goes to a temporary file beside it, which then
replaces it in one rename. A write that fails (a full disk, a file size limit) leaves the file as it was,
and the error names the file.

A path that leads to something other than a regular file (``/dev/stdout``, a named pipe, a device) is
written in place instead: renaming over it would replace the device or pipe itself.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO


@contextlib.contextmanager
def replacing(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A binary file to write the new content of ``path`` into; it replaces ``path`` once the block ends
    without an error (a symlink stays one: the file it leads to is replaced). On an error nothing is left
    behind and ``path`` is untouched; an ``OSError`` is raised again naming ``path`` (``filename``)."""
    try:
        mode: int | None = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    try:
        if mode is not None and not stat.S_ISREG(mode):
            with open(path, "wb") as out:
                yield out
            return
        target = Path(os.path.realpath(path))
        with part_file(target, 0o666, lambda tmp: os.replace(tmp, target)) as (_, out):  # umask applies
            if mode is not None:
                os.fchmod(out.fileno(), stat.S_IMODE(mode))  # as a write in place would keep them
            yield out
    except OSError as exc:
        code = exc.errno
        raise OSError(code, os.strerror(code) if code else exc.strerror or str(exc), os.fspath(path)) from exc


@contextlib.contextmanager
def part_file(final: Path, mode: int, place: Callable[[Path], object] | None = None) -> Iterator[tuple[Path, BinaryIO]]:
    """A new temporary file beside ``final`` (``.<name>.<random>.part``), created with ``mode`` (the umask applies),
    and a binary file to write it through; once the block ends without an error it is flushed and synced to disk,
    then handed to ``place`` (which gives it its name), if given. When the block, the sync or ``place`` raises, the
    temporary file is removed and the error raised again."""
    tmp = final.with_name(f".{final.name}.{secrets.token_hex(4)}.part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), mode)
    try:
        with os.fdopen(fd, "wb") as out:
            yield tmp, out
            out.flush()
            os.fsync(out.fileno())
        if place is not None:
            place(tmp)
    except BaseException:
        with contextlib.suppress(OSError):  # a cleanup that fails must not hide why the write failed
            os.unlink(tmp)
        raise
