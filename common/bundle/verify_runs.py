"""Verify many runs' bundles, each with its index entries: what ``tdprov verify`` and the Airflow
audit operator's verify mode run."""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cached_property

from prov_common.bundle import layout
from prov_common.bundle.model import VerificationReport
from prov_common.bundle.storage import EntriesOfRuns, index_keys
from prov_common.bundle.verify import MISSING, verify_bundle
from prov_common.bundle.verify_pool import map_batches
from prov_common.errors import BadInputError
from prov_common.signing import TrustStore
from prov_common.store.base import Store
from prov_common.store.identity import reread_identity
from prov_common.store.markers import DeleteMarkers


def stored_runs(store: Store, since: datetime | None = None) -> dict[str, list[str]]:
    """Run id -> its index keys, for every run that has bundle objects or an index entry (so a bundle
    deleted after indexing still shows up, as missing, and so does a bundle whose entry is gone), and for every
    object directly under ``bundles/`` (where a run's folder belongs: the audit names it too).

    With ``since``, the runs indexed at or after it (the index is listed from there on; bundle
    folders, which are not ordered by time, are not listed)."""
    runs: dict[str, list[str]] = {}
    if since is None:
        runs = {key.split("/", 2)[1]: [] for key in store.list(f"{layout.BUNDLES}/")}  # 'bundles/x': an object where x's folder belongs
    for key in index_keys(store, layout.index_cursor(since) if since is not None else None):
        runs.setdefault(layout.run_id_of_index_key(key), []).append(key)
    return dict(sorted(runs.items()))


@dataclass(frozen=True)
class RunsVerification:
    """The bundles to verify, with the index entries of each (None: the index was not listed).
    ``len()`` is the number of runs; iterating verifies them, in order, in ``workers`` processes
    (default: one per CPU) when there are many (:func:`~prov_common.bundle.verify_pool.map_batches`). ``index``: the
    index keys of a listing already made, which the named runs' entries are taken from (None: listed on first need)."""

    store: Store
    trust: TrustStore
    runs: dict[str, list[str] | None]
    workers: int | None = None
    index: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return len(self.runs)

    @cached_property
    def entries_of(self) -> EntriesOfRuns:
        """The index entries of the named runs, from one listing of the index made on first need, shared by the
        verification done in this process and by what tells of a run with no bundle ('tdprov verify' RUN_ID's
        :func:`~prov_common.bundle.missing.why_missing`)."""
        return _named_entries(self.store, self.runs.items(), self.index)

    def __iter__(self) -> Iterator[VerificationReport]:
        """The reports, each object found missing that a delete marker hides named with the fix that removes it
        (:func:`marked_hidden`, asked in this process, at most :data:`~prov_common.store.markers.MARKERS_ASKED`
        times a verification)."""
        markers = DeleteMarkers(self.store)
        for report in map_batches(_verify_batch, list(self.runs.items()), self.store, self.trust, workers=self.workers,
                                  here=lambda runs: _verified(self.store, self.trust, runs, self.entries_of)):
            marked_hidden(report, markers)
            yield report


def marked_hidden(report: VerificationReport, markers: DeleteMarkers) -> None:
    """Each object of ``report`` found missing that a delete marker hides (a versioned S3 bucket) told so, with the fix
    that removes the marker, as the audit's fix says it, or where the version under it does not hold the bytes sealed
    (by the digest the finding carries: the object was overwritten before it was deleted), the one kept that does,
    copied back (not a folded finding of many files: its key is the bundle's folder). A signed statement, whose digest
    nothing names, is checked by its signature once the version under the marker is current: the fix says so."""
    report.findings = [replace(f, reason=f"{f.reason}; {fix}") if f.problem == MISSING and not f.key.endswith("/")
                       and (fix := markers.fix(f.key, _then(f.key), sealed=f.sealed)) else f
                       for f in report.findings]


def _then(key: str) -> str:
    """What to do once the marker hiding ``key`` is removed, and what verify then checks of a signed statement."""
    if key.endswith("/" + layout.STATEMENT_FILE):
        return "then verify again, which checks the signature of the version made current (a forgery fails it)"
    return "then verify again"


def _named_entries(store: Store, runs: Iterable[tuple[str, list[str] | None]],
                   listed: Iterable[str] | None = None) -> EntriesOfRuns:
    """The index entries of the named runs among ``runs`` (their index not listed), from one listing at most (``listed``
    when one was made)."""
    return EntriesOfRuns(store, (run_id for run_id, keys in runs if keys is None), listed)


def _verify_batch(store: Store, trust: TrustStore, runs: list[tuple[str, list[str] | None]]) -> Iterator[VerificationReport]:
    # in a worker process: one listing of the index at most per batch (a chunk, at most CHUNK runs), for the runs whose
    # indexed record is gone, not one per such run (this process's listing is not shared with the workers)
    return _verified(store, trust, runs, _named_entries(store, runs))


def _verified(store: Store, trust: TrustStore, runs: list[tuple[str, list[str] | None]],
              entries_of: EntriesOfRuns) -> Iterator[VerificationReport]:
    for run_id, keys in runs:
        # a named run's index is not listed, yet its entry, which 'tdprov runs' shows, is checked too
        yield verify_bundle(store, run_id, trust, keys, recorded_entry=keys is None, entries_of=entries_of)


def verify_runs(store: Store, trust: TrustStore, runs: Iterable[str] | None = None, *,
                since: datetime | None = None, workers: int | None = None,
                index: Iterable[str] | None = None) -> RunsVerification:
    """The verification of the named ``runs`` (their index is not listed: each one's entry is the one its
    ``indexed`` record names), or of every run in the
    store (only those indexed at or after ``since`` when given), each index entry checked against
    its bundle and each bundle's recorded entry required to exist. ``workers``: processes that verify
    (default one per CPU, from 64 bundles on; 1 verifies in this process); the reports are the same.
    The store's identity is read afresh first, as it is now (:func:`~prov_common.store.identity.reread_identity`).
    ``index``: the index keys of a listing of it already made (the one that resolved the named runs' ids), which
    their entries are taken from rather than listing the index again."""
    try:
        reread_identity(store)
    except BadInputError:
        pass  # each bundle that names a store says why (it reads the identity again)
    if runs is not None:
        return RunsVerification(store, trust, {run_id: None for run_id in dict.fromkeys(runs)}, workers,
                                None if index is None else tuple(index))
    return RunsVerification(store, trust, dict(stored_runs(store, since)), workers)
