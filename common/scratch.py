"""Folders for large working files (a row set staged by another process and copied to be sealed, the sorted
row-set keys of a sharded version and the row set built of them): a hidden folder of the spool folder, on a disk,
where the temporary folder may be a tmpfs, whose files are memory; the temporary folder where nothing can be made
there (docs/content-hash.md, "Row sets"). The outbox takes no name that begins with ``.`` for an entry.

A hidden folder is named for the process that made it (:func:`prov_common.owner.mark`): one left by a process that
was killed before it could remove it is removed by the next folder made there or the next flush of that spool
(:func:`remove_orphans`); that of a live process never is.
"""
from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from prov_common.owner import gone, mark

if TYPE_CHECKING:
    from prov_common.config import Settings

# ``.tdprov-<kind>-<pid>-<boot>-<start>-<pid namespace>-<random>``: a hidden working folder and the process that made it
_OWNED = re.compile(r"\.tdprov-[a-z]+-(\d+)-([0-9a-f]+)-(\d+)-(\d+)-[a-z0-9_]+")


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
    try:
        found = list(within.iterdir()) if listed is None else list(listed)
    except OSError:
        return []
    removed = []
    for path in found:
        owner = _OWNED.fullmatch(path.name)
        if owner is None or not gone(int(owner[1]), *owner.group(2, 3, 4)) or not path.is_dir() or path.is_symlink():
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
