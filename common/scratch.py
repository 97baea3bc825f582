"""Folders for large working files (a row set staged by another process and copied to be sealed, the sorted
row-set keys of a sharded version and the row set built of them): a hidden folder of the spool folder, on a disk,
where the temporary folder may be a tmpfs, whose files are memory; the temporary folder where nothing can be made
there (docs/content-hash.md, "Row sets"). The outbox takes no name that begins with ``.`` for an entry.

A hidden folder is named for the process that made it (:func:`prov_common.owner.mark`): one left by a process that
was killed before it could remove it is removed by the next folder made there or the next flush of that spool
(:func:`remove_orphans`); that of a live process never is.

A folder shared by several machines (a shared Dask spill folder) holds visible working folders named for their machine
too, and when they were made (:func:`shared_scratch_folder`): one of this machine whose process has ended is removed
as above, one of another machine (whose processes are not seen from here) only once older than
:data:`SHARED_MAX_AGE` (:func:`remove_shared_orphans`).
"""
from __future__ import annotations

import re
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from prov_common.owner import gone, mark, seen_here

if TYPE_CHECKING:
    from prov_common.config import Settings

# ``.tdprov-<kind>-<pid>-<boot>-<start>-<pid namespace>-<random>``: a hidden working folder and the process that made it
_OWNED = re.compile(r"\.tdprov-[a-z]+-(\d+)-([0-9a-f]+)-(\d+)-(\d+)-[a-z0-9_]+")
# ``tdprov-<kind>-<pid>-<boot>-<start>-<pid namespace>-<seconds since 1970>-<host>-<random>``: a working folder of a
# folder several machines share, the process and machine that made it and when
_SHARED = re.compile(r"tdprov-[a-z]+-(\d+)-([0-9a-f]+)-(\d+)-(\d+)-(\d+)-(.+)-[a-z0-9_]+")
SHARED_MAX_AGE = 7 * 24 * 3600  # seconds: a shared folder's working folder of another machine is removed once older


def places(beside: Path | None) -> tuple[Path | None, ...]:
    """Where a working folder is made, in order: ``beside`` (the spool folder), then the temporary folder (None)."""
    return (beside, None) if beside is not None else (None,)


def scratch_folder(prefix: str, within: Path | None) -> tempfile.TemporaryDirectory[str]:
    """A new folder named ``prefix...``: a hidden one in ``within`` (made if need be), else in the temporary folder.
    An :class:`OSError` where it cannot be made."""
    if within is None:
        return tempfile.TemporaryDirectory(prefix=prefix)
    within.mkdir(parents=True, exist_ok=True)
    remove_orphans(within)
    return tempfile.TemporaryDirectory(prefix=f".{prefix}{mark()}-", dir=within)


def remove_orphans(within: Path, listed: Iterable[Path] | None = None) -> list[Path]:
    """Remove the hidden working folders of ``within`` (among ``listed``, its listing, when given) whose process has
    ended (:func:`prov_common.owner.gone`: killed before it could remove them); the folders removed. One of a live
    process, or whose name names no process, stays; one that cannot be removed now is left for the next call."""
    def ended(name: str) -> bool:
        owner = _OWNED.fullmatch(name)
        return owner is not None and gone(int(owner[1]), *owner.group(2, 3, 4))

    return _remove_folders(within, listed, ended)


def _host() -> str:
    """This machine's host name as a folder name carries it (lower case, at most 64 characters, ``_`` for any
    character a host name has not)."""
    return re.sub(r"[^a-z0-9.-]", "_", socket.gethostname().lower())[:64] or "_"


def shared_scratch_folder(prefix: str, within: Path) -> tempfile.TemporaryDirectory[str]:
    """A new folder ``prefix<process>-<time>-<host>-...`` in ``within``, a folder several machines may share (a shared
    Dask spill folder), after removing the orphans there (:func:`remove_shared_orphans`). An :class:`OSError` where it
    cannot be made."""
    remove_shared_orphans(within)
    return tempfile.TemporaryDirectory(prefix=f"{prefix}{mark()}-{int(time.time())}-{_host()}-", dir=within)


def remove_shared_orphans(within: Path, max_age: float = SHARED_MAX_AGE) -> list[Path]:
    """Remove the working folders of ``within``, a folder several machines may share, that were left behind: one made
    on this machine (by its host name) whose process has ended (:func:`prov_common.owner.gone`), one made on another
    machine, or in another pid namespace under this host name (a container of the host's network), once it is older
    than ``max_age`` seconds (its processes are not seen from here); the folders removed.
    Those of live processes here, younger ones of other machines and any named otherwise stay."""
    here, now = _host(), time.time()

    def ended(name: str) -> bool:
        owner = _SHARED.fullmatch(name)
        if owner is None:
            return False
        if owner[6] == here and seen_here(owner[4]):
            return gone(int(owner[1]), *owner.group(2, 3, 4))
        return now - int(owner[5]) > max_age  # another machine's, or a container's of this host name

    return _remove_folders(within, None, ended)


def _remove_folders(within: Path, listed: Iterable[Path] | None, ended: Callable[[str], bool]) -> list[Path]:
    """Remove the folders of ``within`` (among ``listed``, when given) whose name ``ended`` says were left behind;
    the folders removed. One that cannot be removed now is left for the next call."""
    try:
        found = list(within.iterdir()) if listed is None else list(listed)
    except OSError:
        return []
    removed = []
    for path in found:
        if not ended(path.name) or not path.is_dir() or path.is_symlink():
            continue
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            removed.append(path)
    return removed


def first_scratch_folder(prefix: str, beside: Path | None) -> tempfile.TemporaryDirectory[str] | None:
    """:func:`scratch_folder` in the first of :func:`places` where one can be made; None where none can."""
    for within in places(beside):
        try:
            return scratch_folder(prefix, within)
        except OSError:  # a full disk, a folder of another user, a path through a file: the next place
            continue
    return None


def spool_folder(settings: Settings | None = None) -> Path | None:
    """The spool folder of ``settings`` (a Dagster resource's, the Airflow listener's) as their transport's outbox
    takes it: ``settings.spool``, else ``$TDPROV_SPOOL``, else ``<TDPROV_HOME>/spool`` (also where the setting names no
    local folder, which the transport warns about); None where nothing names a local folder."""
    from prov_common.errors import BadInputError
    from prov_common.store.outbox import default_spool_dir, home_spool_dir

    for spool in (lambda: default_spool_dir(settings), home_spool_dir):
        try:
            return spool()
        except BadInputError:
            continue
    return None
