"""Small file-system helpers shared by the local store and the spool."""
from __future__ import annotations

import errno
import os
from pathlib import Path


FOLDERS_NOT_SYNCED = frozenset({errno.EINVAL, errno.EBADF, errno.EISDIR, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS,
                                errno.EROFS})
"""What a file system answers a folder's fsync with when it cannot sync folders (coreutils takes EINVAL, EBADF and
EISDIR so; FUSE file systems without a folder sync answer ENOSYS or EROFS): no failure of this write."""


def fsync_dir(folder: Path | str, *, dir_fd: int | None = None) -> None:
    """Make new directory entries in ``folder`` (relative to the folder ``dir_fd``, if given: ``"."`` for that folder
    itself) durable. Nothing is done where folders cannot be synced: a folder that cannot be opened for reading (refused
    by the platform or by its permissions), a file system that answers one of :data:`FOLDERS_NOT_SYNCED`. Any other
    ``OSError`` (EIO: the entries may never reach the disk) is raised, so the write it ends is not counted as done."""
    try:
        fd = os.open(folder, os.O_RDONLY, dir_fd=dir_fd)
    except PermissionError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in FOLDERS_NOT_SYNCED:
            raise
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
