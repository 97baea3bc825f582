"""Why a run has no bundle in the store, and what to do (shared by 'tdprov verify RUN_ID', 'tdprov show RUN_ID' and the
Airflow page)."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

MissingKind = Literal["sealed", "staged", "eventless", "absent"]
"""What the store holds of a run with no bundle object: its index entry (sealed, then removed), staged events and no
index entry (never sealed), staged objects and no event or index entry (never sealed, and nothing to seal it from), or
nothing (spooled on its worker, or removed with its entry)."""


@dataclass(frozen=True)
class MissingBundle:
    """Why a run has no bundle in the store (:func:`why_missing`): its ``kind``, which readers choose by, what is wrong
    (``said``) and what to do (``fix``)."""

    kind: MissingKind
    said: str
    fix: str

    def __str__(self) -> str:
        return f"{self.said}. Fix: {self.fix}"


def checked_nothing(report: Any, run_id: str) -> bool:
    """The verify report found no bundle object at all for ``run_id`` (nothing else to say of it)."""
    from prov_common.bundle.layout import bundle_prefix

    return [(f.key, f.problem) for f in report.findings] == [(bundle_prefix(run_id), "missing")]


def why_missing(store: Any, run_id: str, entries_of: Callable[[str], list[str]] | None = None,
                staged_keys: Sequence[str] | None = None) -> MissingBundle:
    """Why a run has no bundle in the store, and what to do: it was sealed (its index entry says so) and its files
    were removed since; its events are staged but no bundle was sealed from them; only other objects of it are staged
    (its attachments), no event, which no seal takes; or nothing of it is in the store (still in the worker's spool, or
    removed).

    A run's staged events stay after sealing, so they do not tell an unsealed run from a deleted bundle: the index
    is listed from its oldest staged event (less :data:`~prov_common.bundle.layout.SETTLE_SECONDS` for clocks that
    differ) for the entry written when it was sealed. Not from its newest: an event delivered after the sealing is
    keyed by the time it was delivered (:mod:`prov_common.bundle.late`), which may be any time after the entry. With
    no staged event (removed with the bundle, staged attachments left or not), any entry of the run tells it was
    sealed. ``entries_of`` gives the run's entries (:class:`~prov_common.bundle.storage.EntriesOfRuns`, one listing for
    a page of runs, or for the runs 'tdprov verify' is given), from which those since its oldest event are taken; by
    default the index is listed for this run. ``staged_keys``: the keys under the run's staging as a caller listed them
    (by default listed here)."""
    from prov_common.audit.unfinished import staged_events
    from prov_common.bundle.layout import SETTLE_SECONDS, bundle_prefix, index_cursor, staging_prefix
    from prov_common.bundle.storage import index_key_since, index_keys_since

    staged = staging_prefix(run_id)
    keys = list(store.list(staged) if staged_keys is None else staged_keys)  # its oldest event, and whether any is staged
    oldest = min((moment for *_, moment in staged_events(keys)), default=None)
    if oldest is not None:
        since = oldest - timedelta(seconds=SETTLE_SECONDS)
        entry = (index_key_since(store, run_id, since) if entries_of is None else  # what a listing from there gives
                 next((key for key in entries_of(run_id) if key > index_cursor(since)), None))
    else:  # the index entry is written after the bundle: sealed, whatever else was removed since
        entry = next(iter(entries_of(run_id) if entries_of else index_keys_since(store, run_id, None)), None)
    if entry is not None:
        return MissingBundle("sealed", f"sealed, then missing from the store: its index entry ({entry}) says its bundle "
                                       f"was sealed, but {bundle_prefix(run_id)} holds nothing",
                             "restore the bundle from a backup or replica of the store; 'tdprov audit' names this "
                             "deletion and what else is missing")
    if keys and oldest is None:  # what 'tdprov store seal' refuses: no event to seal the run from
        return MissingBundle("eventless", f"not sealed, and nothing to seal it from: {no_event_staged(run_id, keys)}",
                             f"run 'tdprov flush' on that worker, then, once the task has ended, 'tdprov store seal "
                             f"{run_id}'; if its events were removed, restore {staged} from a backup or replica of the "
                             "store")
    if keys:
        return MissingBundle("staged", f"not sealed: its events are staged ({staged}) but no bundle was sealed from "
                                       "them; the task may still be running, or its worker stopped before sealing, or the "
                                       "bundle was removed",
                             f"once the task has ended, seal it with 'tdprov store seal {run_id}'")
    return MissingBundle("absent", "not in the store: the bundle may wait in the worker's spool ('tdprov flush' on that "
                                   "worker delivers it), or it was removed",
                         "'tdprov audit' checks the store for runs that are missing or unsealed")


def no_event_staged(run_id: str, keys: Sequence[str]) -> str:
    """What is staged of ``run_id`` when no event of it is (``keys``: the other objects under its staging): what no seal
    takes."""
    from prov_common.bundle.layout import staging_prefix
    from prov_common.text import counted, first_of

    return (f"no event of it is staged, only {counted(len(keys), 'other object')} under {staging_prefix(run_id)} "
            f"({first_of(keys, 3)}); its events may wait in the worker's spool, or were removed")
