"""Sharded dataset versions: a folder, an S3 prefix or a glob of shards hashed as one dataset version.

Each shard gets its canonical digest (:func:`~prov_common.hashing.files.hash_path`), in this process or on
Dask (:mod:`~prov_common.hashing.shard_engine`); digests recorded earlier are reused for shards whose
stamp did not change (:mod:`~prov_common.hashing.shard_cache`); the version's digest is the root of a
Merkle tree over the shards sorted by path (:mod:`~prov_common.hashing.shard_tree`).
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
from contextlib import nullcontext
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from prov_common import __version__
from prov_common.errors import BadInputError
from prov_common.hashing.files import hash_path
from prov_common.hashing.model import Granularity, TableDigest
from prov_common.hashing.rows import digests_chunks
from prov_common.hashing.remote import uses_environment_clients
from prov_common.hashing.shard_cache import ShardCache, now_ns
from prov_common.hashing.shard_engine import resolve_scheduler, run_map
from prov_common.hashing.shard_list import is_s3, list_shards, stat_ref
from prov_common.hashing.shard_model import ShardDigest, ShardedDigest, ShardRef, ShardsDiff
from prov_common.hashing.shard_tree import dataset_digest, in_tree_order
from prov_common.hashing.table import BLOCK_ROWS, TABLE_TAG
from prov_common.progress import bar
from prov_common.rowset.format import sorted_keys
from prov_common.rowset.runs import KeyRuns, copied_here, key_run, spill_folder
from prov_common.rowset.spill import is_s3_spill, remove_prefix, shared_spill, spill_setting, version_prefix
from prov_common.text import counted, first_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShardOptions:
    """How every shard is hashed (part of the cache key): bytes only, declared CSV dtypes, block size;
    ``threads``: hashing threads per shard (1 on Dask workers, so a worker holds one block of a column at a time);
    ``rows``: keep each table shard's sorted row-set keys (row granularity; never cached), written to a file
    in ``spill_dir`` where that folder is on the machine, or to an object under it, an ``s3://`` prefix
    (``prov_common.rowset.runs.key_run``); ``sha256``: give
    each shard read the SHA-256 of its bytes, from the same read, and a table shard its columns (never cached)."""

    as_bytes: bool = False
    csv_dtypes: tuple[tuple[str, str], ...] = ()
    block_rows: int = BLOCK_ROWS
    threads: int | None = None
    rows: bool = False  # row granularity: each table shard's sorted row-set keys come back with its digest
    sha256: bool = False
    spill_dir: str | None = None  # not in the cache key: where the keys are does not change a digest

    def key(self) -> str:
        """The cache key of these options and of this tdprov version (a new version may hash differently;
        threads do not change a digest)."""
        return json.dumps({"tdprov": __version__, "table": TABLE_TAG.decode(), "bytes": self.as_bytes,
                           "csvDtypes": list(self.csv_dtypes), "blockRows": self.block_rows}, sort_keys=True)


UNPINNED_SHOWN = 5
"""How many of the shards listed with an empty ETag their warning names."""

TASK_BYTES = 64 << 20  # shards are sent to Dask in batches of about this many bytes ...
MIN_TASKS = 32  # ... and in at least this many batches (when there are as many shards), to spread them


def batches(refs: list[ShardRef]) -> list[list[ShardRef]]:
    """Consecutive runs of shards of about equal size, one Dask task each: a task per small shard would
    cost more in scheduling than in hashing."""
    weights = [max(r.size, 1) for r in refs]
    total = sum(weights)
    count = min(len(refs), max(MIN_TASKS, -(-total // TASK_BYTES)))
    out: list[list[ShardRef]] = [[] for _ in range(count)]
    start = 0
    for ref, weight in zip(refs, weights, strict=True):
        out[start * count // total].append(ref)  # the batch where the shard's first byte falls
        start += weight
    return [batch for batch in out if batch]


def hash_shard_batch(refs: list[ShardRef], options: ShardOptions) -> list[ShardDigest]:
    """The digests of some shards, one after another (what a Dask task runs)."""
    return [hash_one_shard(ref, options) for ref in refs]


def hash_one_shard(ref: ShardRef, options: ShardOptions) -> ShardDigest:
    """The digest of one shard, of the bytes it was listed with (an S3 shard is read at its listed ETag), or of a
    local shard as it was opened: its size and stamp (``read_as``) are then of that one open, not of a file its
    listing found at its path before a new one was renamed over it. A shard that cannot be hashed, or an S3 shard
    changed since it was listed, is refused naming it (any other failure carries its location as a note)."""
    opened: list[os.stat_result] = []
    try:
        d = hash_path(ref.location, as_bytes=options.as_bytes, csv_dtypes=dict(options.csv_dtypes) or None,
                      block_rows=options.block_rows, threads=options.threads,
                      granularity="row" if options.rows else "column", etag=ref.etag, file_sha256=options.sha256,
                      opened=opened.append)
    except BadInputError as exc:
        raise exc.about(ref.location)
    except Exception as exc:
        exc.add_note(f"shard {ref.location}")
        raise
    read = stat_ref(ref.location, ref.path, opened[-1]) if opened else ref
    if isinstance(d, TableDigest):
        keys = key_run(sorted_keys(digests_chunks(d.row_digests)), options.spill_dir) if options.rows else None
        return ShardDigest(ref.path, "table", d.digest, read.size, d.bytes, d.rows, d.column_digests(),
                           tuple(d.schema_fields()) if options.rows else (), keys, d.file_sha256,
                           d.columns if options.sha256 else (), read)
    return ShardDigest(ref.path, "file", d.digest, read.size, d.bytes, sha256=d.file_sha256, read_as=read)


def hash_shards(target: str, *, as_bytes: bool = False, csv_dtypes: Mapping[str, Any] | None = None,
                block_rows: int = BLOCK_ROWS, cache: bool = True, scheduler: str | None = None,
                workers: int | None = None, threads: int | None = None,
                granularity: Granularity = "column", shards: Sequence[ShardRef] | None = None,
                file_sha256: bool = False, spill: str | None = None, spill_named: str = "spill",
                spool: Path | None = None) -> ShardedDigest:
    """The digest of the sharded dataset at ``target``: a folder, a glob, ``s3://bucket/prefix/`` or an S3 glob.

    ``cache``: reuse the digests recorded for shards whose size and stamp are unchanged (and record the
    new ones); ``False`` reads every shard. ``scheduler``: ``none``, ``local`` or a Dask scheduler
    address (default ``$TDPROV_DASK_SCHEDULER``, else a LocalCluster for many shards); ``workers``: the
    LocalCluster's worker processes; ``threads``: hashing threads per shard in this process (default: 1
    when several shards are read, as on Dask workers; one per CPU for one large shard). The digest depends
    on none of them. ``granularity="row"`` also gives the sorted row-set keys of all shards' rows, one
    sorted run a shard (in files of a spill folder, ``prov_common.rowset.runs.spill_folder``, a hidden folder of the
    spool folder ``spool``, default the environment's, where the shards are hashed on this machine), for a
    row set (``prov_common.rowset.row_set_of``); every shard is read (cached digests carry no rows). On a cluster
    reached by address, ``spill`` (default ``$TDPROV_DASK_SPILL``; :mod:`prov_common.rowset.spill`) names where its
    workers put their runs, a shared folder or ``s3://bucket/prefix``, so that no keys travel back to this process
    (unset: a worker that cannot reach this machine's spill folder sends its keys back); ``spill_named``: the setting
    ``spill`` was taken from, as messages name it (``dask_spill``, ``[tdprov] dask_spill``).
    ``shards``: the shards of ``target`` as a listing just found them (default: listed here). ``file_sha256``: each
    shard read here also gets the SHA-256 of its bytes (``ShardDigest.sha256``), from the same read, and a table shard
    its columns (``ShardDigest.table``); a shard whose digest the cache gave has neither. S3 shards listed with an
    empty ETag are named in a warning (:func:`_warn_unpinned`) and read every time.
    """
    started = now_ns()
    refs = sorted(shards, key=lambda r: r.path) if shards is not None else list_shards(target)
    _warn_unpinned(target, refs)
    dtypes = tuple(sorted((str(k), str(v)) for k, v in (csv_dtypes or {}).items()))
    options = ShardOptions(as_bytes, dtypes, block_rows, threads, rows=granularity == "row", sha256=file_sha256)
    store = ShardCache() if cache else None
    known = store.lookup(refs, options.key()) if store is not None and not options.rows else {}
    todo = [r for r in refs if r.location not in known]
    where = resolve_scheduler(scheduler, len(todo), sum(r.size for r in todo))
    if where != "none" and is_s3(target) and not uses_environment_clients():
        where = "none"  # the S3 client given here (an Airflow AWS connection) does not go to Dask workers
    if where != "none" or (options.threads is None and len(todo) > 1):
        # one hashing thread per shard on Dask workers, and in this process when shards follow one
        # another: pyarrow already decodes each row group on every CPU (benchmarks/results/shards.md)
        options = replace(options, threads=1)
    shared = shared_spill(spill, spill_named) if options.rows and where not in ("none", "local") else None
    folder = spill_folder(None if shared is None or is_s3_spill(shared) else shared, spool) if options.rows else None
    remote = version_prefix(shared) if is_s3_spill(shared) and folder is not None else None  # type: ignore[arg-type]
    if folder is not None:
        options = replace(options, spill_dir=remote or folder.name)
    try:
        with bar(desc="hashing shards", unit="shard", total=len(todo)) if todo else nullcontext() as shown:  # none: no bar
            done, engine = run_map(partial(hash_shard_batch, options=options), batches(todo), where, workers,
                                   done=lambda batch: shown.update(len(batch)))
        results = [d for batch in done for d in batch]
        if remote is not None:
            results = _runs_copied_here(results, folder.name, remote,  # type: ignore[union-attr]
                                        spill_setting(spill, spill_named))
    except BaseException:
        if folder is not None:
            folder.cleanup()
        raise
    finally:
        if remote is not None:
            remove_prefix(remote)
    if store is not None:
        # under the stamp of the read each digest came from: a shard renamed over since its listing is another file
        store.record(((d.read_as or ref, d) for ref, d in zip(todo, results, strict=True)), options.key(), started)
    shards = in_tree_order([*known.values(), *results])
    found = ShardedDigest(dataset_digest(shards), target, tuple(shards), tuple(r.path for r in todo), engine)
    return with_row_keys(found, folder) if options.rows else found


def _warn_unpinned(target: str, refs: Sequence[ShardRef]) -> None:
    """Name in a warning the shards of ``target`` listed with an empty ETag (:attr:`ShardRef.unpinned`, an
    S3-compatible server's): nothing ties the bytes read to those listed, so their digests cannot be tied to the
    listing either; none is taken from the shard-digest cache."""
    unpinned = [r.path for r in refs if r.unpinned]
    if unpinned:
        log.warning("tdprov: %s of %s (%s) listed with no ETag: each is read as it is when read, not at the bytes "
                    "listed, so its digest cannot be tied to the listing, and none is taken from the shard digest cache. "
                    "Fix: check what answers at the S3 endpoint (S3 gives every object an ETag), then hash it again",
                    counted(len(unpinned), "shard"), target, first_of(unpinned, UNPINNED_SHOWN))


def _runs_copied_here(results: list[ShardDigest], folder: str, remote: str, setting: str) -> list[ShardDigest]:
    """``results`` with the key runs the workers put under the ``s3://`` prefix ``remote`` copied into ``folder``
    (:func:`~prov_common.rowset.runs.copied_here`); runs that came back in memory instead (a worker could not put
    them there) are named in a warning, as they are what the setting is there to avoid (``setting``: its name)."""
    runs = iter(copied_here([d.row_keys for d in results if d.row_keys is not None], folder))
    out = [replace(d, row_keys=next(runs)) if d.row_keys is not None else d for d in results]
    kept = [d.path for d in results if d.row_keys is not None and d.row_keys.uri is None]
    if kept:
        shards = f"shard {kept[0]}" if len(kept) == 1 else f"{counted(len(kept), 'shard')} (the first: {kept[0]})"
        log.warning("tdprov: the Dask workers could not put the row-set keys of %s under %s, so they came back to "
                    "this process in memory (the workers' logs say why). Fix: give the workers write access to that "
                    "location, or set %s to one they can write", shards, remote, setting)
    return out


def with_row_keys(found: ShardedDigest, spill: tempfile.TemporaryDirectory[str] | None = None) -> ShardedDigest:
    """``found`` with the sorted row-set keys of all its shards' rows: each shard's sorted run, in files
    of the folder ``spill`` where it was spilled (it goes with them); the shards must be tables
    with the same columns (else ``no_rows_because`` says which shard is not, and ``spill`` is removed).
    The shards keep no keys of their own."""
    first = found.shards[0]
    odd = next((s for s in found.shards if s.kind != "table" or s.row_schema != first.row_schema), None)
    if odd is not None:
        why = (f"shard {odd.path} is not a table (Parquet, CSV or JSON lines)" if odd.kind != "table" else
               f"shard {odd.path} has other columns than {first.path}: {_columns(odd)} against {_columns(first)}")
        if spill is not None:
            spill.cleanup()
        return replace(found, shards=_without_rows(found.shards), no_rows_because=why)
    keys = KeyRuns(tuple(s.row_keys for s in found.shards), spill)
    return replace(found, shards=_without_rows(found.shards), row_keys=keys, row_schema=first.row_schema)


def _without_rows(shards: tuple[ShardDigest, ...]) -> tuple[ShardDigest, ...]:
    return tuple(replace(s, row_schema=(), row_keys=None) for s in shards)


def _columns(shard: ShardDigest) -> str:
    return "(" + ", ".join(f"{name} {logical}" for name, logical in shard.row_schema) + ")"


def diff_shards(a: ShardedDigest, b: ShardedDigest) -> ShardsDiff:
    """Which shards changed, were added or were removed from ``a`` to ``b`` (matched by path)."""
    if a.digest == b.digest:
        return ShardsDiff(same=True)
    old, new = {s.path: s for s in a.shards}, {s.path: s for s in b.shards}
    changed = tuple(p for p in old if p in new and (old[p].digest, old[p].kind) != (new[p].digest, new[p].kind))
    columns = {}
    for p in changed:
        ca, cb = old[p].columns, new[p].columns
        if ca and cb:
            columns[p] = tuple(c for c in dict.fromkeys([*ca, *cb]) if ca.get(c) != cb.get(c))
    return ShardsDiff(same=False, changed=changed, added=tuple(p for p in new if p not in old),
                      removed=tuple(p for p in old if p not in new), changed_columns=columns)
