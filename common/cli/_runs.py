"""Run ids as people type them: a full run id, or a beginning or ending of one that names exactly one run in the store.

A run id that names nothing in the store is bad input (exit 2), never a finding: a typo is not tampering.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from prov_common.bundle import layout
from prov_common.bundle.model import BundleSummary
from prov_common.bundle.storage import index_keys, recent_bundles, with_sealed_parent
from prov_common.errors import BadInputError
from prov_common.store.base import Store
from prov_common.store.errors import NotAFolderError
from prov_common.text import counted, first_of


@dataclass(frozen=True)
class ResolvedRuns:
    """The run ids typed, resolved (:func:`resolve_runs`), and the index keys listed to resolve them (None when no
    listing was needed), for what verifies them to take the runs' entries from rather than list the index again."""

    run_ids: list[str]
    index: list[str] | None


def resolve_run_ids(store: Store, typed: Sequence[str], *, staged: bool = False, verb: str | None = None) -> list[str]:
    """The run id each of ``typed`` names in ``store`` (:func:`resolve_runs`)."""
    return resolve_runs(store, typed, staged=staged, verb=verb).run_ids


def resolve_runs(store: Store, typed: Sequence[str], *, staged: bool = False, verb: str | None = None) -> ResolvedRuns:
    """The run id each of ``typed`` names in ``store``: itself when the store holds an object of that run (bundle
    or staged event), else the indexed run it is, begins or ends (:func:`~prov_common.bundle.layout.runs_meant`);
    with ``staged``, also a run that has staged events and no index entry (one never sealed). The index (and
    ``staging/``) is listed once, and only when an id names no object. With ``verb`` (the command taking the run ids,
    ``show``), one that names no run but is the parent run of indexed runs is refused as :func:`parent_run_error`
    says."""
    index: list[str] | None = None
    known: list[str] = []
    out = []
    for text in typed:
        layout.check_run_id(text)
        if _has_objects(store, text):
            out.append(text)
            continue
        if index is None:
            index = list(index_keys(store))
            known = [run_id for key in index if (run_id := layout.run_id_of_index_key(key))]  # "": a key that names no run
            if staged:
                known += _staged_runs(store)
        found = layout.one_run_meant(text, known, store.uri)  # an index entry whose bundle is gone: a finding to show
        if found is None:
            what, listed = ("staged events or bundle", " ('tdprov audit' names those staged and never sealed)") if staged else ("bundle", "")
            missing = BadInputError(f"no {what} for run id '{text}' in {store.uri}{layout.prefix_hint(text)}.",
                                    fix=f"list the runs with 'tdprov runs --store {store.uri}'{listed} and give a full run id or a "
                                        f"unique beginning or ending of at least {layout.RUN_ID_PREFIX_MIN} characters")
            raise missing if verb is None else parent_run_error(store, text, missing, verb, index)
        out.append(found)
    return ResolvedRuns(out, index)


def resolve_run_id(store: Store, typed: str, verb: str | None = None) -> str:
    """:func:`resolve_run_ids` of one run id."""
    return resolve_run_ids(store, [typed], verb=verb)[0]


def child_runs(store: Store, parent_run_id: str, left_out: dict[str, str] | None = None,
               index: Sequence[str] | None = None, unread: dict[str, str] | None = None) -> Iterator[BundleSummary]:
    """The indexed runs whose parent run is ``parent_run_id`` (the ``parent`` run facet of their events, such as a
    Dagster step's run names its Dagster run), newest sealed first, from the index entries alone (no bundle is read).
    ``left_out`` and ``index`` (the index keys already listed, not listed again): as ``left_out`` and ``listed`` of
    :func:`~prov_common.bundle.recent_bundles`. Given ``unread``, the manifest of every entry that names no parent run
    (one written before entries held it, or a run with none: the index cannot tell them apart) is read too
    (:func:`~prov_common.bundle.storage.with_sealed_parent`), one read per such entry, and a run whose manifest cannot
    be read is added to ``unread`` (run id -> why)."""
    for summary in recent_bundles(store, left_out=left_out, listed=index):
        found = summary if unread is None else with_sealed_parent(store, summary, unread)
        if found is not None and found.parent_run_id == parent_run_id:
            yield found


def parent_run_error(store: Store, typed: str, missing: BadInputError, verb: str,
                     index: Sequence[str] | None = None) -> BadInputError:
    """What to say of ``typed``, a run id that names no bundle (``missing``: that error), given to the command ``verb``:
    where it is the parent run of indexed runs (a Dagster run, whose steps' runs tdprov seals), that, naming them and
    how to give one to ``verb`` or list them; else ``missing``, its fix naming 'tdprov runs --parent' where an index
    entry names no parent run (one written before entries held it). From the index entries alone: no bundle is read.
    ``index``: the index keys already listed (None: list them)."""
    if not layout.is_run_id(typed):
        return missing
    children: list[BundleSummary] = []
    unnamed = False  # an entry naming no parent run: an older one may be a run of typed
    for summary in recent_bundles(store, listed=index):
        unnamed = unnamed or summary.parent_run_id is None
        if summary.parent_run_id == typed:
            children.append(summary)
    if not children:
        if unnamed and missing.fix:
            return missing.refixed(f"{missing.fix}; 'tdprov runs --parent {typed} --store {store.uri}' also finds "
                                   "the runs of a parent run indexed before index entries named their parent run")
        return missing
    named = [f"{s.run_id} ({s.job})" for s in children]
    return BadInputError(f"run {typed} has no bundle of its own: it is the parent run of {counted(len(children), 'run')} in "
                         f"{store.uri}, whose events name it as their parent: {first_of(named, layout.SHOWN_RUNS)}.",
                         fix=f"{verb} one with 'tdprov {verb} RUN_ID'; 'tdprov runs --parent {typed} --store {store.uri}' lists them")


def _staged_runs(store: Store) -> list[str]:
    """The runs that have objects under ``staging/``: staged events or attachments (as :func:`_has_objects` counts a
    full run id's)."""
    return list(dict.fromkeys(parts[0] for parts in map(layout.staged_parts, store.list(f"{layout.STAGING}/")) if parts))


def _has_objects(store: Store, run_id: str) -> bool:
    """Whether the store holds a bundle object or staged event of ``run_id``, or an object where its bundle folder
    belongs (a finding of verify's, not a typo)."""
    try:
        if any(next(iter(store.list(prefix)), None) is not None
               for prefix in (layout.bundle_prefix(run_id), layout.staging_prefix(run_id))):
            return True
    except NotAFolderError:  # a local store's file there
        return True
    return store.exists(layout.bundle_prefix(run_id)[:-1])  # an object store's object there
