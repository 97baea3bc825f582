"""Whether the process that made a file or folder is gone: the outbox names a claim's or an unfinished entry's
process by its pid (:func:`alive`), a working folder of the spool folder (:mod:`prov_common.scratch`) by
:func:`mark`, its pid, this boot, the process's start and its pid namespace, so that a pid reused since, or a folder
left before a reboot, is not taken for a live owner, nor the live process of another container sharing the folder
for a dead one."""
from __future__ import annotations

import functools
import os
from pathlib import Path

UNKNOWN = "0"  # a boot or start this system does not tell (no /proc): the pid alone then says


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (one of another user does, and so does a pid reused since)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@functools.cache
def _boot() -> str:
    """The first 8 hex digits of this boot's id (Linux), else :data:`UNKNOWN`."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip().replace("-", "")[:8] or UNKNOWN
    except OSError:
        return UNKNOWN


def _started(pid: int) -> str:
    """When process ``pid`` started, in clock ticks since boot (field 22 of ``/proc/<pid>/stat``), else
    :data:`UNKNOWN`."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return UNKNOWN
    fields = stat[stat.rfind(b")") + 2:].split()  # the command name, in parentheses, may hold spaces
    return fields[19].decode() if len(fields) > 19 and fields[19].isdigit() else UNKNOWN


def _namespace() -> str:
    """This process's pid namespace (the inode of ``/proc/self/ns/pid``: a container has its own), else
    :data:`UNKNOWN`."""
    try:
        number = os.readlink("/proc/self/ns/pid").partition("[")[2].rstrip("]")
    except OSError:
        return UNKNOWN
    return number if number.isdigit() else UNKNOWN


def mark() -> str:
    """This process, as a name carries it: ``<pid>-<boot>-<start>-<pid namespace>`` (:func:`gone` reads it)."""
    pid = os.getpid()
    return f"{pid}-{_boot()}-{_started(pid)}-{_namespace()}"


def seen_here(namespace: str) -> bool:
    """Whether the processes of pid namespace ``namespace`` (of a :func:`mark`) are seen from this process: it is this
    process's, or either is :data:`UNKNOWN`."""
    return UNKNOWN in (namespace, _namespace()) or namespace == _namespace()


def gone(pid: int, boot: str, started: str, namespace: str) -> bool:
    """Whether the process of a :func:`mark` has ended: it was of another boot, or of this pid namespace and its pid
    runs no process, or a process started since has its pid. False while it may run: a process of another pid
    namespace (another container) is not seen from here, and a part this system does not tell is taken as
    matching."""
    here = _boot()
    if UNKNOWN not in (boot, here) and boot != here:
        return True
    if not seen_here(namespace):
        return False
    if not alive(pid):
        return True
    now = _started(pid)
    return UNKNOWN not in (started, now) and started != now
