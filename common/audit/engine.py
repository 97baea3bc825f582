"""``run_audit``: the one audit that the CLI, the Dagster audit job and the Airflow operator all run.

Order: read the log head and the catalog (what earlier audits recorded), examine the bundles that
are new since the last checkpoint (all of them with ``full``), append them to the Merkle log and
write a signed checkpoint, then run every check over all known runs, write the report, and record
the audit as a PROV activity in the store.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import threading
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

from tqdm import tqdm

from prov_common.audit.catalog import load_catalog, write_catalog
from prov_common.audit.checks import bundle_checks, completeness, quality
from prov_common.audit.examine import MISSING, current_digests, examine_bundle
from prov_common.audit.lineage import LineageIndex
from prov_common.audit.model import CHECK_LOG, CHECK_REHASH, CHECK_SOURCES, NOTE, CheckResult, Finding, RunRecord
from prov_common.audit.result import AuditResult
from prov_common.audit.unfinished import unfinished_runs
from prov_common.bundle import layout
from prov_common.bundle.model import BundleSummary
from prov_common.bundle.storage import list_bundles
from prov_common.config import Settings
from prov_common.errors import StoreUnavailableError, TdprovError
from prov_common.signing import TrustStore, signing_key_from_settings, trust_from_settings
from prov_common.sources.registry import iter_sources
from prov_common.store.base import Store
from prov_common.tlog.log import TransparencyLog
from prov_common.tlog.model import LogLeaf

log = logging.getLogger(__name__)

PARALLEL_FROM = 400  # examine in worker processes from this many bundles on
SETTLE_SECONDS = 300.0  # writers finish out of order: re-list this far back from the last logged bundle
FIX_LOG = "restore the object from a backup or replica; log objects are written once and never change"


class _Bar(tqdm):
    """A progress bar without tqdm's monitor thread: a running thread would make the examining
    workers start by ``spawn`` (each re-importing everything) instead of ``fork``."""

    monitor_interval = 0


def _bar(items: Iterable, total: int, desc: str, show: bool | None) -> Iterable:
    return _Bar(items, total=total, desc=desc, unit="bundle", file=sys.stderr, disable=None if show else True, leave=False)


def run_audit(
    store: Store,
    settings: Settings | None = None,
    *,
    full: bool = False,
    rehash: bool = False,
    report_dir: str | Path | None = None,
    stale_after: timedelta = timedelta(hours=24),
    progress: bool | None = None,
    now: datetime | None = None,
    workers: int | None = None,
) -> AuditResult:
    """Audit ``store``: see the module docstring. ``progress=None`` shows a bar only on a terminal.

    ``workers`` processes examine bundles in parallel when there are many (default: one per CPU).
    """
    settings = settings or Settings.from_env()
    started = now or datetime.now(timezone.utc)
    trust = trust_from_settings(settings)
    signer = signing_key_from_settings(settings)
    tlog = TransparencyLog(store, trust)
    result = AuditResult(audit_id=str(uuid.uuid4()), store=store.uri, started=started, full=full, rehash=rehash)
    log_check = CheckResult(CHECK_LOG)

    # 1. the log as earlier audits left it
    try:
        head = tlog.head()
    except StoreUnavailableError:
        raise
    except TdprovError as exc:
        keys = tlog.checkpoint_keys()
        log_check.findings.append(Finding(CHECK_LOG, keys[-1] if keys else "log/checkpoints/", exc.what, exc.fix or FIX_LOG))
        head, full = None, True
    state = tlog.verify(since=None if full else head)
    leaves = state.leaves
    if not full:
        try:
            leaves = tlog.read_leaves(strict=False)
        except StoreUnavailableError:
            raise
        except TdprovError:  # a damaged old leaf batch: check everything
            full = True
            state = tlog.verify()
            leaves = state.leaves
    log_check.findings += [Finding(CHECK_LOG, p.key, p.what, p.fix) for p in state.problems]
    log_check.checked = len(state.checkpoints)
    result.previous_checkpoint = head.checkpoint.size if head else 0
    logged = {x.run_id: x for x in leaves}
    if state.problems:  # leaves past a gap or a damaged batch are still logged: never log them twice
        logged.update({x.run_id: x for x in tlog.readable_leaves() if x.run_id not in logged})
    catalog = load_catalog(store, trust)
    log_check.findings += catalog.problems

    # 2. which bundles to examine
    if full:
        summaries = list(list_bundles(store))
        known: dict[str, RunRecord] = {}
    else:
        cursor = layout.rewind_cursor(leaves[-1].index_key, SETTLE_SECONDS) if leaves and leaves[-1].index_key.startswith(layout.INDEX + "/") else None
        summaries = list(_new_summaries(store, cursor, set(logged)))
        known = {k: v for k, v in catalog.runs.items() if k in logged}
        for leaf in leaves:  # logged runs no catalog describes (an audit stopped early): examine again
            if leaf.run_id not in known:
                summaries.append(_summary_of_leaf(store, leaf))
    records: dict[str, RunRecord] = dict(known)
    new_leaves: list[LogLeaf] = []
    examined: dict[str, LogLeaf] = {}
    for summary, record, leaf in _bar(_examine_all(store, settings, summaries, trust, workers), len(summaries), "auditing bundles", progress):
        records[summary.run_id] = record
        examined[summary.run_id] = leaf
        if summary.run_id not in logged:
            new_leaves.append(leaf)
    result.bundles_examined = len(summaries)
    if head is not None:
        log_check.findings += _late_arrivals([records[x.run_id] for x in new_leaves], head.checkpoint.time, head.key)

    # 3. logged bundles must still be the bundles that were logged
    for index, leaf in enumerate(leaves):
        now_leaf = examined.get(leaf.run_id)
        if now_leaf is None and not full:
            continue
        manifest, statement = (now_leaf.manifest_digest, now_leaf.statement_digest) if now_leaf else current_digests(store, leaf.run_id)
        if manifest == MISSING and statement == MISSING:
            log_check.findings.append(Finding(CHECK_LOG, layout.bundle_prefix(leaf.run_id),
                                              f"the bundle of run {leaf.run_id} (log leaf {index}) is gone from the store", FIX_LOG, run_id=leaf.run_id))
        elif (manifest, statement) != (leaf.manifest_digest, leaf.statement_digest):
            changed = [n for n, a, b in (("manifest.json", manifest, leaf.manifest_digest), ("statement.dsse.json", statement, leaf.statement_digest)) if a != b]
            log_check.findings.append(Finding(CHECK_LOG, layout.bundle_key(leaf.run_id, changed[0]),
                                              f"the bundle of run {leaf.run_id} is not the one logged as leaf {index}: {', '.join(changed)} changed since it was logged",
                                              FIX_LOG, run_id=leaf.run_id))
    log_check.checked += len(leaves)

    # 4. append new bundles and checkpoint
    new_leaves.sort(key=lambda x: x.index_key)
    try:
        new_head = tlog.append(new_leaves, signer, known_size=head.checkpoint.size if head else 0)
    except StoreUnavailableError:
        raise
    except TdprovError as exc:
        log_check.findings.append(Finding(CHECK_LOG, "log/", f"could not append to the log: {exc.what}", exc.fix or "retry the audit"))
        new_head = head
    result.checkpoint = new_head
    result.bundles_logged = len(new_leaves)
    uncatalogued = [r for rid, r in records.items() if rid not in catalog.runs]
    if new_head is not None and uncatalogued:
        write_catalog(store, new_head.checkpoint.size, uncatalogued, signer)

    # 5. checks over every known run
    source_problems: list = []
    sources = list(iter_sources(store, trust, source_problems))
    source_check = CheckResult(CHECK_SOURCES, checked=len(sources) + len(source_problems))
    source_check.findings = [Finding(CHECK_SOURCES, key, exc.what, exc.fix or "restore the record from a backup") for key, exc in source_problems]
    index = LineageIndex(records.values(), [s.record for s in sources])
    sig_check, prov_check = bundle_checks(records.values())
    quality_check, quality_rows = quality(index)
    sealed = set(records)
    checks = [sig_check, log_check, prov_check, completeness(index), quality_check, unfinished_runs(store, sealed, stale_after=stale_after, now=started)]
    if rehash:
        from prov_common.audit.rehash import rehash as rehash_check

        checks.append(rehash_check(records.values()))
    else:
        checks.append(CheckResult(CHECK_REHASH, ran=False, detail="not run: pass --rehash to hash the data where it lives"))
    checks.append(source_check)
    result.checks = checks
    result.index = index
    result.sources = sources
    result.quality_rows = quality_rows
    result.ended = datetime.now(timezone.utc) if now is None else now

    # 6. report and PROV record of the audit
    from prov_common.audit.publish import publish

    publish(result, store, signer, report_dir)
    return result


_WORKER: dict[str, object] = {}


def _start_worker(uri: str, settings: Settings) -> None:
    """Open the store and load the trusted keys once per worker process, not once per chunk."""
    from prov_common.store import open_store

    _WORKER["store"], _WORKER["trust"] = open_store(uri), trust_from_settings(settings)


def _examine_chunk(summaries: list[BundleSummary]) -> list[tuple[BundleSummary, RunRecord, LogLeaf]]:
    store, trust = _WORKER["store"], _WORKER["trust"]
    return [(s, *examine_bundle(store, s, trust)) for s in summaries]  # type: ignore[arg-type]


def _examine_all(store: Store, settings: Settings, summaries: list[BundleSummary], trust: TrustStore,
                 workers: int | None) -> Iterator[tuple[BundleSummary, RunRecord, LogLeaf]]:
    """Examine bundles in order; in worker processes when there are many (verification is CPU-bound).

    The first bundle is examined here before the workers start: it loads what verification needs
    (PROV serialisers, dataset naming), which forked workers then inherit instead of loading each.
    """
    workers = workers if workers is not None else (os.cpu_count() or 1)
    if workers <= 1 or len(summaries) < PARALLEL_FROM:
        for s in summaries:
            yield (s, *examine_bundle(store, s, trust))
        return
    yield (summaries[0], *examine_bundle(store, summaries[0], trust))
    rest = summaries[1:]
    size = max(50, len(rest) // (workers * 8))
    chunks = [rest[i:i + size] for i in range(0, len(rest), size)]
    context = multiprocessing.get_context("spawn" if threading.active_count() > 1 else None)
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=(store.uri, settings)) as pool:
        for part in pool.map(_examine_chunk, chunks):
            yield from part


def _late_arrivals(new: list[RunRecord], head_time: str, head_key: str) -> list[Finding]:
    """New bundles sealed before the last checkpoint was written: delivered late (spool) or back-dated."""
    out = []
    for r in new:
        sealed = (r.sealed_at or "").replace("+00:00", "Z")
        if sealed and sealed < head_time:
            out.append(Finding(CHECK_LOG, r.index_key, f"run {r.run_id} says it was sealed at {sealed}, before checkpoint '{head_key}' "
                               f"({head_time}) that did not include it: delivered late from a spool, or back-dated",
                               "check the spool or store logs for when it was written; the log records it from this audit on",
                               severity=NOTE, run_id=r.run_id))
    return out


def _new_summaries(store: Store, cursor: str | None, logged: set[str]) -> Iterator[BundleSummary]:
    """Index entries after ``cursor`` of runs not yet logged (the run id is in the key: logged ones are not read)."""
    for key in store.list(f"{layout.INDEX}/", start_after=cursor):
        if key.endswith(".json") and layout.run_id_of_index_key(key) not in logged:
            yield BundleSummary.from_json(store.get(key), cursor=key)


def _summary_of_leaf(store: Store, leaf: LogLeaf) -> BundleSummary:
    try:
        return BundleSummary.from_json(store.get(leaf.index_key), cursor=leaf.index_key)
    except TdprovError:
        return BundleSummary(leaf.run_id, "", "", "UNKNOWN", None, "", (), (), cursor=leaf.index_key)
