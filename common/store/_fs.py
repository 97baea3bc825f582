"""Small file-system helpers shared by the local store and the spool."""
from __future__ import annotations

import contextlib
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
