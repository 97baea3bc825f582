"""Versions no recorded run generated that are a file a run wrote under another name: the same file reached through a
symbolic link (``lnk/x.csv`` and ``real/x.csv``, ``lnk -> real``) is two datasets, since names are kept as written.

Found on the auditor's machine (``os.path.realpath`` of both names, and the same digest), for the fix of a
completeness finding: the producing run is recorded, only under the other name.
"""
from __future__ import annotations

import os
from collections.abc import Iterable

from prov_common.audit.lineage import LineageIndex, version_of
from prov_common.audit.model import DatasetUse
from prov_common.w3cprov.identity import VersionKey


def same_file_writers(index: LineageIndex, datasets: Iterable[DatasetUse]) -> dict[VersionKey, str]:
    """For each ``file`` version in ``datasets`` that is, on this machine, the same file as a version at the same digest
    that a run in ``index`` wrote under another name: the fix that says so, by version."""
    wanted = {version_of(d): d for d in datasets if d.namespace == "file" and d.version}
    digests = {key[2] for key in wanted}
    written: dict[str, list[tuple[str, str, str]]] = {}
    for key in index.generated:
        if key[0] == "file" and key[2] in digests and index.holds_content(key):
            written.setdefault(key[2], []).append(key)
    out: dict[VersionKey, str] = {}
    for key, d in wanted.items():
        others = [other for other in written.get(key[2], ()) if other[1] != d.name]
        if not others:  # no written version to compare with: no file system look-up (it may be a mount not here)
            continue
        real = os.path.realpath(d.name)
        for other in others:
            if os.path.realpath(other[1]) == real:
                run, use = index.generated[other][0]
                out[key] = (f"{d.label} is the same file as {use.label}, written by run {run.run_id} ({run.job}), named through a "
                            "symbolic link: name it one way (tdprov keeps paths as written), then re-run the run that read it")
                break
    return out
