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
from collections.abc import Iterator
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
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)  # umask applies
        try:
            with os.fdopen(fd, "wb") as out:
                if mode is not None:
                    os.fchmod(out.fileno(), stat.S_IMODE(mode))  # as a write in place would keep them
                yield out
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):  # a cleanup that fails must not hide why the write failed
                os.unlink(tmp)
            raise
    except OSError as exc:
        code = exc.errno
        raise OSError(code, os.strerror(code) if code else exc.strerror or str(exc), os.fspath(path)) from exc
