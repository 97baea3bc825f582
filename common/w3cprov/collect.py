"""Reading PROV out of a store: bundle summaries and the PROV documents of sealed bundles (I/O)."""
from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping

from prov.model import ProvDocument

from prov_common.bundle import BundleSummary, list_bundles, read_bundle
from prov_common.bundle.model import Manifest
from prov_common.bundle.storage import bundle_file, listed_bytes, listed_parts
from prov_common.bundle.layout import EVENTS_FILE, INDEX, PROV_FILE, bundle_key, index_cursor
from prov_common.errors import BadInputError, StoreUnavailableError, TdprovError
from prov_common.progress import bar
from prov_common.sources.model import SourceRecord
from prov_common.store.base import Store
from prov_common.store.errors import ObjectNotFoundError, ObjectTooLargeError, UnreadableObjectError
from prov_common.times import since_time
from prov_common.w3cprov.graph import lineage_graph
from prov_common.w3cprov.links import link_runs
from prov_common.w3cprov.event_lines import EventBytes, fold_event_lines
from prov_common.w3cprov.events import RunState
from prov_common.w3cprov.events_bound import RecordCount
from prov_common.w3cprov.mapping import PROV_MAPPING, runs_to_document, too_many_records
from prov_common.w3cprov.serialize import TooManyRecords, deserialize, merge_documents
from prov_common.w3cprov.source_links import name_sources

log = logging.getLogger(__name__)


def since_cursor(since: str | None) -> str | None:
    """An index listing cursor from ``--since``: an ISO date or date-time (UTC unless it has an offset)
    or an index key / cursor printed by another command."""
    if since is None:
        return None
    text = since.strip()
    if text.startswith(f"{INDEX}/"):
        return text
    return index_cursor(since_time(since))


def summaries(store: Store, since: str | None = None, left_out: dict[str, str] | None = None) -> list[BundleSummary]:
    """Index summaries of the sealed bundles (indexed at or after ``since``), oldest first, one per run; ``left_out``:
    the entries that cannot be read (see :func:`~prov_common.bundle.storage.listed_entry`)."""
    return list(list_bundles(store, since_cursor(since), left_out))


PROV_RECORDS_MAX = 200_000
"""Records at most a bundle's ``prov.json`` states. A run's PROV states about five per dataset it read or wrote (a run
of 10,000 datasets: 50,000 records, 18 MB), and each costs about 2 KB of memory once read: a document stating more is
refused (the bundle left out, named) before any record is built, so that one planted ``prov.json`` (500,000 records in
29 MB cost 1.5 GB and two minutes) cannot swamp every export."""


def bundle_document(store: Store, run_id: str) -> ProvDocument:
    """The PROV of one sealed bundle: its signed ``prov.json`` when this version's mapping made it, else derived from
    its events by this mapping (either checked against the digest the manifest lists: a
    :class:`~prov_common.errors.VerificationError` when it is not its file), so that bundles of every age merge
    into one graph; either at most
    :data:`PROV_RECORDS_MAX` records (a manifest stating an older mapping, or listing no ``prov.json``, is no way
    around the bound)."""
    bundle = read_bundle(store, run_id, paths=())  # the one file needed is read next, not every attachment
    if PROV_FILE in bundle.manifest.by_path and bundle.manifest.mapping == PROV_MAPPING:
        try:
            # checked against the manifest's digest, as the events of an older mapping are: what is drawn is what it lists
            prov = listed_bytes(run_id, bundle.manifest, PROV_FILE, bundle_file(store, bundle, PROV_FILE))
            return deserialize(prov, "json", PROV_RECORDS_MAX)
        except BadInputError as exc:
            raise exc.about(bundle_key(run_id, PROV_FILE)) from None
    try:
        # checked against the manifest's digest as read: what is drawn is what the manifest verification reads lists
        runs = _bounded_runs(_listed_events(store, run_id, bundle.manifest), f"bundle {run_id} {EVENTS_FILE}")
        return runs_to_document(runs, max_records=PROV_RECORDS_MAX)
    except TooManyRecords as exc:
        raise exc.about(bundle_key(run_id, EVENTS_FILE)) from None


def _listed_events(store: Store, run_id: str, manifest: Manifest) -> EventBytes:
    """The ``events.jsonl`` of the bundle of ``run_id`` in ranged parts (:func:`~prov_common.bundle.storage.listed_parts`,
    checked against the digest ``manifest`` lists as they are read); when verification reads it whole
    (:func:`~prov_common.bundle.verify.held_whole`: at most a part, so one ranged read gives it whole), a store that holds
    bundle reads holds it, so that verifying the bundle after reads it no more."""
    from prov_common.bundle.verify import held_whole
    from prov_common.store.held_reads import hold

    entry = manifest.by_path.get(EVENTS_FILE)
    if entry is not None and held_whole(entry):
        hold(store, bundle_key(run_id, EVENTS_FILE))
    return listed_parts(store, run_id, manifest, EVENTS_FILE)


def _bounded_runs(events: EventBytes, name: str) -> list[RunState]:
    """The runs of the ``events.jsonl`` read in parts ``events`` (named ``name``; no more than a part of it held),
    folded line by line (:func:`~prov_common.w3cprov.event_lines.fold_event_lines`) and refused before a line is parsed
    once the datasets the lines up to it name make more than :data:`PROV_RECORDS_MAX` records
    (:class:`~prov_common.w3cprov.events_bound.RecordCount`, given each line as the fold reads it: the file is read
    once)."""
    count = RecordCount(PROV_RECORDS_MAX)

    def counted(line: bytes) -> None:
        if count.past(line):
            raise too_many_records(PROV_RECORDS_MAX)

    return fold_event_lines(events, name, sealed=True, each_line=counted if count.may_pass(events.size) else None)


def shard_counts(store: Store, generations: Mapping[str, str]) -> dict[str, int]:
    """Shard counts of sharded versions (node id -> id of the run that generated it), from the PROV of
    those runs' bundles (``tdprov:shardCount``); one bundle read per run. A bundle that cannot be read
    is left out with a warning."""
    made_by: dict[str, list[str]] = {}
    for key, run_id in generations.items():
        made_by.setdefault(run_id, []).append(key)
    counts: dict[str, int] = {}
    for run_id, keys in sorted(made_by.items()):
        try:
            nodes = lineage_graph(bundle_document(store, run_id)).nodes
        except StoreUnavailableError:
            raise
        except TdprovError as exc:  # a damaged or missing bundle costs its counts, not the lineage
            log.warning("tdprov: the shard counts of what run %s wrote are not shown: %s Fix: run 'tdprov verify'", run_id, exc.what)
            continue
        counts.update({key: nodes[key].shards for key in keys if key in nodes and nodes[key].shards is not None})
    return counts


def index_starts(found: Iterable[BundleSummary]) -> dict[str, str | None]:
    """Run id -> the start each index entry states, for :func:`~prov_common.w3cprov.graph.lineage_graph`."""
    return {summary.run_id: summary.started_at for summary in found}


def bundle_documents(store: Store, found: list[BundleSummary], progress: bool = True,
                     left_out: dict[str, str] | None = None, not_read: set[str] | None = None) -> Iterator[ProvDocument]:
    """PROV documents of the given bundles, with a progress bar drawn as :func:`~prov_common.progress.bar` draws it:
    where a verb turned bars on (:func:`~prov_common.progress.on_terminal`) and stderr is a terminal, never in a library
    call; ``progress=False``: no bar of its own (a caller's counts the work). With ``left_out``, a bundle that cannot
    be read (gone, damaged, larger than its manifest says) is left out and added to it (run id -> why), so that one
    such bundle costs its own run, not the whole store's; without it, its error is raised. ``not_read`` gets the run
    ids of those whose object is gone or could not be read at all (:func:`not_read_at_all`); the others hold bytes
    that are not what their manifest and tdprov's bounds say: they do not verify."""
    for summary in bar(found, desc="reading bundles", unit="bundle") if progress else found:
        try:
            yield bundle_document(store, summary.run_id)
        except StoreUnavailableError:
            raise
        except TdprovError as exc:
            if left_out is None:
                raise
            left_out[summary.run_id] = exc.what
            if not_read is not None and not_read_at_all(exc):
                not_read.add(summary.run_id)


def not_read_at_all(exc: TdprovError) -> bool:
    """Whether ``exc``, raised reading a bundle's object, says it could not be read at all (gone, or no object a read
    can take: a folder, a named pipe, no permission), rather than read and found to be other than its manifest and
    tdprov's bounds say (altered, grown past the size its manifest states, more records than a bundle holds)."""
    return isinstance(exc, ObjectNotFoundError) or (isinstance(exc, UnreadableObjectError)
                                                    and not isinstance(exc, ObjectTooLargeError))


def merged_document(store: Store, found: list[BundleSummary], progress: bool = True,
                    sources: Iterable[SourceRecord] = (), left_out: dict[str, str] | None = None) -> ProvDocument:
    """One PROV document of the given bundles, with each read resolved to the version it read and equal
    content stated (:func:`~prov_common.w3cprov.links.link_runs`), and each origin derived from the registered
    sources that name it (:func:`~prov_common.w3cprov.source_links.name_sources`; ``sources``: verified records only).
    ``left_out``: as :func:`bundle_documents`."""
    return linked_document(merge_documents(bundle_documents(store, found, progress, left_out)), found, sources, store.uri)


def linked_document(document: ProvDocument, found: Iterable[BundleSummary], sources: Iterable[SourceRecord],
                    uri: str) -> ProvDocument:
    """The merged PROV ``document`` of the bundles ``found`` (of the store at ``uri``) linked as
    :func:`merged_document` links it, for a caller that merges the documents itself."""
    graph = lineage_graph(document, index_starts(found))
    return name_sources(link_runs(document, graph), graph, sources, uri)


def store_document(store: Store, since: str | None = None, progress: bool = True) -> ProvDocument:
    """One merged PROV document of every sealed bundle in the store (indexed at or after ``since``)."""
    return merged_document(store, summaries(store, since), progress)
