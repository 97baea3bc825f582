"""Folders for large working files (a row set staged by another process and copied to be sealed, the sorted
row-set keys of a sharded version and the row set built of them): a hidden folder of the spool folder, on a disk,
where the temporary folder may be a tmpfs, whose files are memory; the temporary folder where nothing can be made
there (docs/content-hash.md, "Row sets"). The outbox takes no name that begins with ``.`` for an entry.
"""
from __future__ import annotations

import tempfile
from pathlib import Path


def places(beside: Path | None) -> tuple[Path | None, ...]:
    """Where a working folder is made, in order: ``beside`` (the spool folder), then the temporary folder (None)."""
    return (beside, None) if beside is not None else (None,)


def scratch_folder(prefix: str, within: Path | None) -> tempfile.TemporaryDirectory[str]:
    """A new folder named ``prefix...``: a hidden one in ``within`` (made if need be), else in the temporary folder.
    An :class:`OSError` where it cannot be made."""
    if within is None:
        return tempfile.TemporaryDirectory(prefix=prefix)
    within.mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(prefix=f".{prefix}", dir=within)


def first_scratch_folder(prefix: str, beside: Path | None) -> tempfile.TemporaryDirectory[str] | None:
    """:func:`scratch_folder` in the first of :func:`places` where one can be made; None where none can."""
    for within in places(beside):
        try:
            return scratch_folder(prefix, within)
        except OSError:  # a full disk, a folder of another user, a path through a file: the next place
            continue
    return None


def spool_folder() -> Path | None:
    """The spool folder of this process's settings (``$TDPROV_SPOOL``, else ``<TDPROV_HOME>/spool``), where no
    settings are given; None where neither names a local folder."""
    from prov_common.errors import BadInputError
    from prov_common.store.outbox import default_spool_dir, home_spool_dir

    for spool in (default_spool_dir, home_spool_dir):
        try:
            return spool()
        except BadInputError:
            continue
    return None
