"""Folders that refuse writes even to root (CI runs the suite as root, and root ignores file modes)."""
from __future__ import annotations

import os
import resource
import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def mount(args: list[str]) -> bool:
    """Run ``mount ARGS``; True when it worked."""
    return subprocess.run(["mount", *args], capture_output=True, check=False).returncode == 0


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """``folder``, with what it holds, refuses writes for the block.

    As root: a read-only bind mount of the folder on itself (EROFS, which root cannot override); the
    test is skipped only where mounting is impossible. Otherwise: mode 0555, restored afterwards.
    """
    if os.geteuid() != 0:
        mode = folder.stat().st_mode & 0o777
        folder.chmod(0o555)
        try:
            if os.access(folder, os.W_OK):
                pytest.skip("this user can write to a folder of mode 0555 and cannot mount")
            yield
        finally:
            folder.chmod(mode)
        return
    if not mount(["--bind", str(folder), str(folder)]):
        pytest.skip("cannot mount here (root without the right to mount)")
    try:
        if not mount(["-o", "remount,bind,ro", str(folder)]):
            pytest.skip("cannot remount a bind mount read-only here")
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=False)


@contextmanager
def small_tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (``"4k"``: one page) mounted on ``folder`` (made here) for the block: writes past it
    fail with ENOSPC, as on a full disk. Skipped where mounting is impossible; unmounted afterwards."""
    folder.mkdir(parents=True)
    if not mount(["-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)]):
        pytest.skip("cannot mount a small tmpfs here")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def small_files(limit: int) -> Callable[[], None]:
    """A ``preexec_fn`` for a child process in which writes past ``limit`` bytes fail with EFBIG (SIGXFSZ ignored):
    a full disk, safely (no device, no mount), which root cannot bypass as it bypasses file modes."""
    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return limited
