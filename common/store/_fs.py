"""Small file-system helpers shared by the local store and the spool."""
from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path


def fsync_dir(folder: Path | str, *, dir_fd: int | None = None) -> None:
    """Make new directory entries in ``folder`` (relative to the folder ``dir_fd``, if given: ``"."`` for that folder
    itself) durable (no-op where folders cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY, dir_fd=dir_fd)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def no_room_fix(exc: OSError, volume: str) -> str | None:
    """The fix for a write that found no room on ``volume``: a full disk or quota, or a file larger than the process's
    file-size limit ('ulimit -f', EFBIG: no folder to make writable, no store to wait for); None for other errors."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"free disk space on {volume}"
    if exc.errno == errno.EFBIG:
        return f"raise the file-size limit of this process ('ulimit -f') or free disk space on {volume}"
    return None
