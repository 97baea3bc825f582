"""Sorted runs of row-set keys (one per shard of a sharded version, sorted where the shard was hashed),
kept in a file where that is possible, and the row set of all of them built one bucket range at a time,
so that the recording process never holds more than one range of keys (docs/content-hash.md, "Row sets").

A run spilled to a file holds its keys as native uint64, nothing else; the run itself carries its row
count and an index of where each of the :data:`CELLS` key ranges (top :data:`INDEX_BITS` bits) starts,
so that a merge reads each range of each run with one positional read.
"""
from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from prov_common.mapped import map_file
from prov_common.once import Once
from prov_common.rowset import spill
from prov_common.rowset.format import WIDTH, BufferSink, bits_for, file_size, write_row_set
from prov_common.scratch import first_scratch_folder, shared_scratch_folder, spool_folder

INDEX_BITS = 8
CELLS = 1 << INDEX_BITS  # a run's index: where each 1/256 of the key space starts (2 KiB a run)
RANGE_KEYS = 1 << 19  # keys merged at a time (4 MiB), or one cell when a cell holds more
SPILL_PREFIX = spill.PREFIX

log = logging.getLogger(__name__)
PUT_WARNED = Once()  # (version prefix,): a shared spill location a worker could not put a run under


@dataclass(frozen=True, eq=False)
class KeyRun:
    """The sorted row-set keys of one shard: in ``path`` (a spilled run), in the object ``uri`` (a run a Dask worker
    elsewhere put in the shared ``s3://`` spill location, :mod:`~prov_common.rowset.spill`) or in ``keys`` (a run that
    could not be spilled). ``index[c]``: the first key of cell ``c``; ``index[-1]``: rows."""

    index: np.ndarray = field(repr=False)  # int64, CELLS + 1 entries
    path: str | None = None
    keys: Any = field(default=None, repr=False)  # numpy uint64, when not spilled
    uri: str | None = None

    @property
    def rows(self) -> int:
        return int(self.index[-1])

    def read_into(self, lo: int, hi: int, out: np.ndarray) -> None:
        """Keys ``lo .. hi`` of the run into ``out`` (uint64, ``hi - lo`` long)."""
        if self.path is None and self.uri is None:
            out[:] = self.keys[lo:hi]
            return
        if self.uri is not None:
            got = spill.read_range(self.uri, 8 * lo, memoryview(out).cast("B"))
        else:
            with open(str(self.path), "rb") as f:
                f.seek(8 * lo)
                got = f.readinto(memoryview(out).cast("B"))
        if got != 8 * (hi - lo):
            raise OSError(f"spilled row-set keys {self.path or self.uri} end after {lo * 8 + (got or 0)} bytes, "
                          f"not {hi * 8}: changed while the row set was built")


def key_run(keys: np.ndarray, spill_dir: str | None) -> KeyRun:
    """The run of sorted ``keys``, written to a new file in ``spill_dir`` when that folder is on this machine
    (the recording process's spill folder, :func:`spill_folder`: in that process, or on a worker of a LocalCluster;
    or a shared spill folder), or to a new object under ``spill_dir`` when it is an ``s3://`` prefix (the shared
    spill location of a cluster reached by address), else kept in memory (a worker elsewhere without a shared spill
    location, or a folder or prefix that cannot be written: the keys then travel as before)."""
    starts = np.arange(CELLS, dtype=np.uint64) << np.uint64(64 - INDEX_BITS)
    index = np.append(np.searchsorted(keys, starts, side="left"), len(keys)).astype(np.int64)
    if spill_dir is not None and spill.is_s3_spill(spill_dir):
        data = memoryview(np.ascontiguousarray(keys, dtype=np.uint64)).cast("B")
        try:
            return KeyRun(index, uri=spill.put_run(spill_dir, data))
        except Exception as exc:  # noqa: BLE001 - botocore's errors: the keys travel back instead, as without the setting
            if PUT_WARNED.first(spill_dir):  # once a version's prefix in each worker (the recording process warns too)
                log.warning("tdprov: could not put row-set keys under %s (%s: %s); they go back to the recording "
                            "process in memory", spill_dir, type(exc).__name__, exc)
            return KeyRun(index, keys=keys)
    if spill_dir is None or not os.path.isdir(spill_dir):
        return KeyRun(index, keys=keys)
    path = None
    try:
        fd, path = tempfile.mkstemp(dir=spill_dir, suffix=".keys")
        with open(fd, "wb") as f:
            f.write(memoryview(np.ascontiguousarray(keys, dtype=np.uint64)).cast("B"))
    except OSError:
        if path is not None:
            _unlink(path)
        return KeyRun(index, keys=keys)
    return KeyRun(index, path=path)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


@dataclass(frozen=True, eq=False)
class KeyRuns:
    """The sorted key runs of all shards of a version (``ShardedDigest.row_keys``), with the folder their files are
    in (:func:`spill_folder`): the folder is removed when the last reference to this goes (or at exit)."""

    runs: tuple[KeyRun, ...]
    folder: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    @property
    def rows(self) -> int:
        return sum(r.rows for r in self.runs)


def spill_folder(within: str | None = None, spool: Path | None = None) -> tempfile.TemporaryDirectory[str] | None:
    """A new folder for the key runs of one version and the row set built of them (removed with its
    :class:`KeyRuns`): in the folder ``within`` (a shared spill folder, named for this machine and process, where
    those left by killed processes are removed: :func:`~prov_common.scratch.shared_scratch_folder`), else a hidden one in the spool folder
    ``spool`` (default: the environment's, :func:`~prov_common.scratch.spool_folder`), on a disk where the temporary
    folder may be a tmpfs (:mod:`~prov_common.scratch`), else in the temporary folder; None when none can be made (the
    runs are then kept in memory)."""
    if within is None:
        return first_scratch_folder(SPILL_PREFIX, spool if spool is not None else spool_folder())
    try:
        return shared_scratch_folder(SPILL_PREFIX, Path(within))
    except OSError:
        return None


def copied_here(runs: list[KeyRun], folder: str) -> list[KeyRun]:
    """``runs`` with each run in an ``s3://`` spill location copied to a new file of ``folder`` (this process's spill
    folder), a part at a time, so that the row set is merged from local files and the objects can go (the caller
    removes them); a run that cannot be written there (a full disk) is read into memory instead, as it travelled
    before."""
    out = []
    for run in runs:
        if run.uri is None:
            out.append(run)
            continue
        path = os.path.join(folder, os.path.basename(run.uri))
        try:
            size = spill.copy_run(run.uri, path)
        except OSError:  # no room here: the keys are read into memory, as they travelled before
            _unlink(path)
            keys = np.empty(run.rows, dtype=np.uint64)
            run.read_into(0, run.rows, keys)
            out.append(KeyRun(run.index, keys=keys))
            continue
        if size != 8 * run.rows:
            _unlink(path)
            raise OSError(f"spilled row-set keys {run.uri} hold {size} bytes, not {8 * run.rows}: changed while the row "
                          "set was built")
        out.append(KeyRun(run.index, path=path))
    return out


def merged_ranges(runs: KeyRuns, bits: int) -> Iterator[tuple[np.ndarray, int]]:
    """The keys of all runs, sorted, one range of whole buckets (of a row set of ``bits``) at a time:
    ``(keys, end bucket)``, as :func:`~prov_common.rowset.format.write_row_set` takes them. A range is a
    run of cells holding about :data:`RANGE_KEYS` keys together (at least one cell, and whole buckets)."""
    step = 1 << max(0, INDEX_BITS - bits)  # cells of one bucket, when a bucket spans several
    counts = np.zeros(CELLS + 1, dtype=np.int64)
    for run in runs.runs:
        counts += run.index
    lo = 0
    while lo < CELLS:
        hi = lo + step
        while hi < CELLS and counts[hi + step] - counts[lo] <= RANGE_KEYS:
            hi += step
        keys = np.empty(int(counts[hi] - counts[lo]), dtype=np.uint64)
        at = 0
        for run in runs.runs:
            a, b = int(run.index[lo]), int(run.index[hi])
            if b > a:
                run.read_into(a, b, keys[at:at + b - a])
                at += b - a
        keys.sort(kind="stable")  # sorted runs one after another: timsort merges them
        yield keys, hi << (bits - INDEX_BITS) if bits >= INDEX_BITS else hi >> (INDEX_BITS - bits)
        lo = hi


class FileSink:
    """A row-set file written to the open file ``fd``, a part at a time (:class:`~prov_common.rowset.format.Sink`)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def view(self, at: int, size: int) -> memoryview:
        buffer = bytearray(size)
        os.preadv(self._fd, [buffer], at)  # short (or nothing) past the end written so far: zeros there
        return memoryview(buffer)

    def done(self, at: int, view: memoryview) -> None:
        while len(view):
            written = os.pwrite(self._fd, view, at)
            view, at = view[written:], at + written


def build_from_runs(runs: KeyRuns, schema_fields: list[tuple[str, str]], *,
                    width: int = WIDTH) -> tuple[memoryview | bytearray, str]:
    """The row-set file of the keys of all ``runs`` (the same bytes as
    :func:`~prov_common.rowset.format.build_from_keys` of them merged), and its rows root: written to a
    temporary file of the runs' folder (:func:`spill_folder`; else of the temporary folder) one bucket range at a
    time (:func:`merged_ranges`) and given as a read-only view of that
    file mapped into memory, never read into it (its pages are the file's, read as the view is read and given
    back under memory pressure; the file has no name left, and goes with the last view of it); where no
    temporary file can be written or mapped (a full disk), into a buffer of the file's size, a range at a time too."""
    rows, bits = runs.rows, bits_for(runs.rows)
    try:
        fd, path = tempfile.mkstemp(dir=runs.folder.name if runs.folder is not None else None, suffix=".rowset")
        try:
            with open(fd, "rb") as f:  # fd stays open for writing too
                root = write_row_set(FileSink(fd), merged_ranges(runs, bits), rows, schema_fields, width=width)
                return map_file(f.fileno()), root
        finally:
            _unlink(path)
    except OSError:
        out = bytearray(file_size(rows, schema_fields, width=width))
        return out, write_row_set(BufferSink(out), merged_ranges(runs, bits), rows, schema_fields, width=width)
