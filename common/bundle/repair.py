"""Repair the time index: give sealed bundles that verify the index entry their writer never wrote.

A writer that stops between a bundle's commit marker (the signed statement) and its index entry
leaves a whole bundle that cursor listings, ``tdprov runs`` and incremental audits do not see. The
repair finds such bundles (a statement under ``bundles/`` and no index entry for the run), verifies
each, and writes the missing entry the way the writer would have: the key recorded once in
``bundles/<run_id>/indexed`` (first writer wins), the entry itself write-once. A bundle that does
not verify is never indexed: it is reported with its findings.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from prov_common.bundle import layout
from prov_common.bundle.model import BundleSummary
from prov_common.bundle.storage import index_keys, summary_entry
from prov_common.bundle.verify import verify_and_derive
from prov_common.progress import Bar, stream as bar_stream
from prov_common.signing import TrustStore
from prov_common.store.base import Store
from prov_common.store.latekey import put_late

RepairStatus = Literal["indexed", "would-index", "not-verified"]


@dataclass(frozen=True)
class RepairOutcome:
    """What the repair did with one unindexed run: ``indexed`` (entry written under ``index_key``),
    ``would-index`` (dry run) or ``not-verified`` (left alone; ``findings`` say why)."""

    run_id: str
    status: RepairStatus
    index_key: str | None = None
    findings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"runId": self.run_id, "status": self.status, "indexKey": self.index_key, "findings": list(self.findings)}


@dataclass
class IndexRepair:
    """The sealed bundles of a store that have no index entry (``runs``), found by listing the bundles
    and the index once each; ``sealed`` counts every sealed bundle. Iterating repairs them one by one."""

    store: Store
    trust: TrustStore
    sealed: int
    runs: list[str] = field(default_factory=list)
    dry_run: bool = False
    now: datetime | None = None

    def __len__(self) -> int:
        return len(self.runs)

    def __iter__(self) -> Iterator[RepairOutcome]:
        for run_id in self.runs:
            yield repair_run(self.store, run_id, self.trust, dry_run=self.dry_run, now=self.now)


def sealed_runs(keys: Iterable[str]) -> list[str]:
    """Run ids whose bundle has its commit marker (``bundles/<run_id>/statement.dsse.json``) among
    the store ``keys`` (a listing of ``bundles/``), sorted."""
    suffix = "/" + layout.STATEMENT_FILE
    return sorted({key.split("/")[1] for key in keys if key.count("/") == 2 and key.endswith(suffix)})


def find_unindexed(store: Store, trust: TrustStore, *, dry_run: bool = False, now: datetime | None = None,
                   progress: bool | None = False) -> IndexRepair:
    """The repair of every sealed bundle in ``store`` that no index entry names (nothing is written
    until it is iterated; with ``dry_run`` nothing is written at all). The index and the bundles are
    listed once each, with a count of listed keys on stderr when ``progress`` (None: on a terminal)."""
    disable = {True: False, None: None}.get(progress, True)  # None: tqdm shows it on a terminal only
    with Bar(desc="listing index and bundles", unit="key", file=bar_stream(), disable=disable, leave=False) as bar:
        indexed = {layout.run_id_of_index_key(key) for key in _counted(index_keys(store), bar)}
        sealed = sealed_runs(_counted(store.list(f"{layout.BUNDLES}/"), bar))
    return IndexRepair(store, trust, len(sealed), [r for r in sealed if r not in indexed], dry_run, now)


def _counted(keys: Iterable[str], bar: Bar) -> Iterator[str]:
    """``keys``, counted on ``bar`` as they are listed."""
    for key in keys:
        bar.update()
        yield key


def repair_run(store: Store, run_id: str, trust: TrustStore, *, dry_run: bool = False,
               now: datetime | None = None) -> RepairOutcome:
    """Verify ``run_id``'s bundle and, when it verifies, write its index entry (or, with ``dry_run``,
    say that it would). The entry summarises the verified manifest and its signer, so it is the entry
    the writer would have written; a retry or a concurrent writer puts the same key (no second entry)."""
    checked = verify_and_derive(store, run_id, trust)
    report = checked.report
    if not report.ok or checked.manifest is None or checked.manifest_digest is None:
        return RepairOutcome(run_id, "not-verified", findings=tuple(str(f) for f in report.findings))
    if dry_run:
        return RepairOutcome(run_id, "would-index")
    summary = BundleSummary.of_manifest(checked.manifest, report.key_id, checked.manifest_digest)
    key, _ = put_late(store, summary_entry(summary), now)
    return RepairOutcome(run_id, "indexed", key)


__all__ = ["IndexRepair", "RepairOutcome", "find_unindexed", "repair_run", "sealed_runs"]
