"""The snapshots check: every copy of a dataset version that a run recorded keeping (``tdprov_contentHash.snapshot``)
is still in the store as it was kept, so that ``tdprov checkout`` can restore it.

One listing of ``objects/`` gives each object's size: a recorded object, or a table's index entry, that is missing
or has another size is a finding naming the version, the run that recorded it and the fix. A sharded version's index
entry (small) is read to check its shards the same way. With ``full`` every object is re-hashed (streamed in ranged
reads) against the BLAKE3 digest its key names, and a table's index entry is read to check that it still names the
object recorded. The objects themselves are unsigned; the signed facet is what says they were kept.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from prov_common.audit.lineage import run_order
from prov_common.audit.model import CHECK_SNAPSHOTS, CheckResult, DatasetUse, Finding, RecordedSnapshot, RunRecord
from prov_common.errors import BadInputError, StoreUnavailableError, TdprovError
from prov_common.store.base import Store
from prov_common.store.snapshots import ALGORITHM, INDEX_LIMIT, INDEX_PREFIX, SnapshotIndex, SnapshotSet, index_key, object_key
from prov_common.text import clause, counted

OBJECTS_PREFIX = "objects/"
FIX_GONE = ("restore the object from a backup or replica of the store (objects are written once) and find out who removed it "
            "(also a lifecycle rule on objects/); if none holds it and the data still hashes to this version where it lives "
            "('tdprov audit --rehash'), keep it again with 'tdprov snapshot <location>'")
FIX_CHANGED = ("restore the object from a backup or replica of the store (objects are written once; on a versioned bucket, its "
               "earlier version) and find out who rewrote it; 'tdprov checkout' refuses these bytes")


@dataclass(frozen=True)
class _Kept:
    """One recorded snapshot and the first run that recorded keeping it."""

    snapshot: RecordedSnapshot
    dataset: DatasetUse
    run_id: str

    @property
    def version(self) -> str:
        return self.dataset.version or ""

    @property
    def named(self) -> str:
        return f"the snapshot of {self.dataset.label} version {self.version}, recorded by run {self.run_id}"

    def finding(self, key: str, what: str, fix: str) -> Finding:
        return Finding(CHECK_SNAPSHOTS, key, f"{self.named}: {what}", fix, run_id=self.run_id)

    @property
    def lost(self) -> str:
        return f"'tdprov checkout {self.version}' cannot restore it"


def recorded_snapshots(records: Iterable[RunRecord]) -> dict[str, _Kept]:
    """Each snapshot object recorded by an output of ``records``, with the earliest run that recorded keeping it."""
    out: dict[str, tuple[str, _Kept]] = {}
    for record in records:
        order = run_order(record)
        for use in record.outputs:
            if use.snapshot is not None and use.version and (use.snapshot.object not in out or order < out[use.snapshot.object][0]):
                out[use.snapshot.object] = (order, _Kept(use.snapshot, use, record.run_id))
    return {key: kept for key, (_, kept) in out.items()}


def check_snapshots(store: Store, records: Iterable[RunRecord], *, full: bool = False) -> CheckResult:
    """See the module docstring. ``full``: also re-hash every object."""
    wanted = recorded_snapshots(records)
    result = CheckResult(CHECK_SNAPSHOTS)
    if not wanted:
        result.detail = "no run recorded keeping a snapshot"
        return result
    sets = any(key.startswith(INDEX_PREFIX) for key in wanted)  # their shards' sizes are needed too
    sized = (lambda key: True) if sets else wanted.__contains__  # a local folder stats only these
    sizes = {info.key: info.size for info in store.list_info(OBJECTS_PREFIX, tags_for=sized)}
    for key, kept in sorted(wanted.items()):
        result.checked += 1
        try:
            problems = _check(store, sizes, key, kept, full)
        except StoreUnavailableError:
            raise
        except TdprovError as exc:  # an index entry that cannot be read or parsed
            problems = [kept.finding(key, f"'{key}' cannot be read ({clause(exc.what)})", FIX_CHANGED)]
        result.findings += problems
    result.detail = (f"{counted(result.checked, 'snapshot')} recorded, checked against one listing of {OBJECTS_PREFIX}"
                     + (" and re-hashed" if full else " (re-hashed by 'tdprov audit --full')"))
    return result


def _check(store: Store, sizes: dict[str, int], key: str, kept: _Kept, full: bool) -> list[Finding]:
    """What is wrong with the snapshot ``kept`` (its object at ``key``)."""
    try:
        index, kept_object = index_key(kept.version), object_key(kept.version)
    except BadInputError:
        return [kept.finding(key, f"the version is not a {ALGORITHM} digest, which no snapshot is kept under", FIX_GONE)]
    out = _present(sizes, key, kept.snapshot.bytes, kept, "object")
    if key == index:  # a version of several files: its entry lists them
        return out or _shards(store, sizes, key, kept, full)
    if key != kept_object:  # a table: found through its index entry
        if index not in sizes:
            out.append(kept.finding(index, f"its index entry '{index}' is missing: {kept.lost}", FIX_GONE))
        elif full and not out:
            entry = SnapshotIndex.from_json(store.get(index, INDEX_LIMIT), index)
            if entry.table != kept.version or object_key(entry.object) != key:
                out.append(kept.finding(index, f"its index entry '{index}' names {entry.object} for {entry.table}, not "
                                        f"'{key}' for this version", FIX_CHANGED))
    if full and not out:
        out += _rehash(store, key, kept)
    return out


def _present(sizes: dict[str, int], key: str, size: int, kept: _Kept, what: str) -> list[Finding]:
    """A finding when ``key`` is not listed, or is listed with another size than ``size``."""
    if key not in sizes:
        return [kept.finding(key, f"its {what} '{key}' is gone from the store: {kept.lost}", FIX_GONE)]
    if sizes[key] != size:
        return [kept.finding(key, f"its {what} '{key}' holds {sizes[key]:,} bytes, not the {size:,} kept", FIX_CHANGED)]
    return []


def _rehash(store: Store, key: str, kept: _Kept) -> list[Finding]:
    """A finding when the object at ``key`` no longer hashes to the digest its key names."""
    from prov_common.bundle.verify import hash_stored

    expected = f"{ALGORITHM}:{key.rsplit('/', 1)[-1]}"
    found = hash_stored(store, key).digest
    if found == expected:
        return []
    return [kept.finding(key, f"its object '{key}' hashes to {found}, not {expected}: its bytes were changed", FIX_CHANGED)]


def _shards(store: Store, sizes: dict[str, int], key: str, kept: _Kept, full: bool) -> list[Finding]:
    """What is wrong with the files the index entry ``key`` of a sharded version lists."""
    data = store.get(key, INDEX_LIMIT)
    files = SnapshotSet.from_json(data, key) if SnapshotSet.is_set(data) else None
    if files is None or files.version != kept.version:
        return [kept.finding(key, f"its index entry '{key}' does not list the shards of this version", FIX_CHANGED)]
    out: list[Finding] = []
    for path, digest, size in files.files:
        shard = object_key(digest)
        problems = _present(sizes, shard, size, kept, f"shard {path!r} object")
        out += problems if problems or not full else _rehash(store, shard, kept)
    return out


__all__ = ["check_snapshots", "recorded_snapshots"]
