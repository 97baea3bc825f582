"""The default audit costs what is new plus one listing: counted on a real local store (a subclass that counts
what the audit reads and stats), a second audit after one new bundle reads the same objects at 50 and at 200
bundles, the report's catalog and the auditor's inventory are read from a summary and a bounded number of
segments, the memory file holds no per-run list, and the listing stats only what the inventory compares."""
from __future__ import annotations

import collections
import json
from datetime import timedelta
from pathlib import Path

from prov_common.audit import run_audit
from prov_common.audit.catalog import CATALOG_PREFIX, COMPACT_AFTER, SUMMARY_PREFIX
from prov_common.audit.inventory import LISTED_PREFIXES
from prov_common.audit.memory import NEWEST_RUNS, memory_path
from prov_common.audit.memory_objects import COMPACT_AFTER as MEMORY_COMPACT_AFTER
from prov_common.audit.memory_objects import INVENTORY_PREFIX
from prov_common.bundle import layout
from prov_common.config import Settings
from prov_common.store.listing_memo import no_tags

from counting_store import CountingStore
from test_audit_support import T0, Pipeline, dataset, digest, run_events, seal


class AuditCounter(CountingStore):
    """Counts gets by key (CountingStore), listings, and the keys listed and files stat'ed as the folder is listed
    for the inventory (a listing that asks for tags, or for every one: one of keys alone stats nothing)."""

    def __init__(self, root: str | Path) -> None:
        super().__init__(root)
        self.listed: list[str] = []
        self.stats = 0

    def _list_info(self, prefix: str, start_after: str | None, tags_for=None):
        for info in super()._list_info(prefix, start_after, tags_for):
            if tags_for is no_tags:  # keys alone (Store.list within the audit's listing memo): no stat
                yield info
                continue
            self.listed.append(info.key)
            self.stats += info.size >= 0
            yield info


def _grow(pipe: Pipeline, store: AuditCounter, start: int, count: int) -> None:
    for i in range(start, start + count):
        seal(store, run_events(f"prep_{i}", [dataset(pipe.raw_name, pipe.raw)], [dataset(f"/d/{i}.parquet", digest(f"d{i}"))],
                               start=T0 + timedelta(minutes=i)))


def _second_audit(tmp_path: Path, bundles: int, audits: int) -> tuple[AuditCounter, str]:
    """A store of ``bundles`` runs logged over ``audits`` audits; then one new bundle and the audit that counts."""
    root = tmp_path / f"store-{bundles}"
    pipe = Pipeline(str(root))
    store = AuditCounter(root)
    settings = Settings.from_env(store=str(root))
    per = bundles // audits
    for n in range(audits):
        _grow(pipe, store, n * per, per)
        assert run_audit(store, settings, progress=False).clean
    new = seal(store, run_events("late", [dataset(pipe.raw_name, pipe.raw)], [], start=T0 + timedelta(days=2)))
    store.gets.clear()
    store.listed, store.stats = [], 0
    result = run_audit(store, settings, progress=False)
    assert result.clean and result.bundles_examined == 1, [f.what for f in result.errors]
    assert len(result.runs_listed()) == per * audits + 3  # the report still describes every run (and the pipeline's two)
    return store, new


def _by_kind(store: AuditCounter, new: str) -> dict[str, int]:
    kinds: collections.Counter[str] = collections.Counter()
    for key, n in store.gets.items():
        if key.startswith(layout.bundle_prefix(new)):
            kind = "new bundle"
        elif key.startswith((CATALOG_PREFIX, SUMMARY_PREFIX)):
            kind = "catalog"
        elif key.startswith(INVENTORY_PREFIX):
            kind = "auditor inventory"
        elif key.startswith(layout.BUNDLES + "/"):
            kind = "old bundles"
        else:
            kind = "/".join(key.split("/")[:2])
        kinds[kind] += n
    return dict(kinds)


def test_second_audit_reads_what_is_new_whatever_the_store_size(tmp_path: Path) -> None:
    small, new_small = _second_audit(tmp_path, 50, 2)
    large, new_large = _second_audit(tmp_path, 200, 2 * COMPACT_AFTER)  # 192: 12 per audit
    reads_small, reads_large = _by_kind(small, new_small), _by_kind(large, new_large)
    assert "old bundles" not in reads_small and "old bundles" not in reads_large
    assert reads_small["new bundle"] == reads_large["new bundle"] <= 6  # statement, manifest, events, PROV, ...
    # the report reads every run from the newest summary and the segments after it, never one per audit ever made
    assert reads_large["catalog"] <= 1 + COMPACT_AFTER < 2 * COMPACT_AFTER + 1, reads_large
    assert list(large.list(SUMMARY_PREFIX)), "a summary was written"
    # the auditor's inventory: the newest summary and the segments after it, pinned in a memory file of fixed size
    assert reads_small["auditor inventory"] <= 1 + MEMORY_COMPACT_AFTER and reads_large["auditor inventory"] <= 1 + MEMORY_COMPACT_AFTER
    for store in (small, large):
        memory = json.loads(memory_path(store.uri).read_text())
        assert set(memory) == {"format", "store", "checkpoint", "inventory", "open", "resolutions", "storeIdentity", "newestRuns"}, set(memory)
        assert len(memory["newestRuns"]) == min(memory["checkpoint"]["size"], NEWEST_RUNS)  # the run ids of the newest leaves only
        assert 1 <= len(memory["inventory"]) <= 1 + MEMORY_COMPACT_AFTER and not memory["open"] and not memory["resolutions"]
    assert reads_small["_tdprov/store.json"] == reads_large["_tdprov/store.json"] == 1  # the store's identity: once per audit
    # the two lookup objects the new run's input is looked up under, none of those the audit before wrote (25 and 12 runs'
    # outputs): it remembered each by the fingerprint the store gave it when it created it
    assert reads_small["audit/generated"] == reads_large["audit/generated"] == 2, (reads_small, reads_large)
    rest = lambda reads: {k: v for k, v in reads.items() if k not in ("catalog", "auditor inventory")}  # noqa: E731
    assert rest(reads_small) == rest(reads_large), (reads_small, reads_large)
    for store, new in ((small, new_small), (large, new_large)):  # the new run's index entry read once (by its examination), no other
        entries = {k: n for k, n in store.gets.items() if k.startswith(layout.INDEX + "/")}
        assert [(layout.index_run_id(k), n) for k, n in entries.items()] == [(new, 1)], entries
    checkpoints = {k: n for k, n in large.gets.items() if k.startswith("log/checkpoints/")}
    assert checkpoints and set(checkpoints.values()) == {1}, checkpoints  # each checkpoint read once (it was 5 times)


def test_inventory_listing_stats_only_what_it_compares(tmp_path: Path) -> None:
    store, _ = _second_audit(tmp_path, 50, 2)
    keys = store.listed
    assert sorted(keys) == sorted(set(keys)) and {k.split("/")[0] for k in keys} == {p.split("/")[0] for p in LISTED_PREFIXES}
    run_files = [k for k in keys if k.startswith(layout.BUNDLES + "/")]
    commits = [k for k in run_files if k.rsplit("/", 1)[1] in (layout.MANIFEST_FILE, layout.STATEMENT_FILE, layout.INDEXED_FILE)]
    assert len(commits) == 3 * 53 and len(run_files) >= 5 * 53  # and each bundle's events and PROV document, at least
    assert store.stats == len(keys)  # every file of every bundle is compared (what its manifest lists too): one stat each


def test_runs_of_which_only_staged_attachments_are_left_list_the_index_once(tmp_path: Path) -> None:
    """The check of runs of which only staged attachments are left (no event, index entry or bundle) listed the whole
    index once per such run, to tell one sealed and then removed: a writer planting an attachment under each of thousands
    of run ids made the audit take time in their count times the index's size. The index is listed once for them all."""
    import uuid

    from prov_common.audit.model import CHECK_UNFINISHED

    root = tmp_path / "store"
    Pipeline(str(root))
    store = CountingStore(root)
    planted = [str(uuid.UUID(int=n)) for n in range(1, 41)]
    for run_id in planted:
        store.put(f"{layout.staging_prefix(run_id)}attachments/report.html", b"<p>report</p>")
    result = run_audit(store, Settings.from_env(store=str(root)), progress=False)
    told = {f.run_id for check in result.checks if check.name == CHECK_UNFINISHED for f in check.findings
            if "nothing to seal it from" in f.what}
    assert told == set(planted), told
    assert store.lists[f"{layout.INDEX}/"] <= 3, store.lists
    assert {store.lists[layout.staging_prefix(r)] for r in planted} == {1}, store.lists  # each run's staging listed once
