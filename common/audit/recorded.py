"""The runs a reader of the store knows: catalog records where an audit made them, index summaries for
the rest, and a run's own bundle, read and verified, where a question needs more than its summary."""
from __future__ import annotations

from collections.abc import Callable, Collection, Container, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prov_common.audit.catalog import load_catalog
from prov_common.audit.lineage import LineageIndex, run_order
from prov_common.audit.model import NOTE, RunRecord
from prov_common.bundle.model import BundleSummary
from prov_common.signing import TrustStore
from prov_common.sources.model import SourceRecord
from prov_common.store.base import Store
from prov_common.text import clause
from prov_common.w3cprov.identity import as_written_else_unescaped, at_location, location_of_ref, spells
from prov_common.w3cprov.version_ref import split_version

if TYPE_CHECKING:
    from prov_common.bundle.events import RunIdentity
    from prov_common.bundle.verify import CheckedBundle
    from prov_common.progress import Bar


@dataclass(frozen=True)
class Catalogued:
    """The runs an audit catalogued (the store's signed catalog, loaded once), sorted: ``vouched``, those found by their
    record (:func:`vouched`; a reader still verifies the bundle of each it uses), and ``doubted``, the others (found by
    their index entries like uncatalogued runs)."""

    vouched: dict[str, RunRecord]
    doubted: dict[str, RunRecord]

    @classmethod
    def of(cls, store: Store, trust: TrustStore, audit_trust: TrustStore | None = None) -> "Catalogued":
        """The catalog of ``store`` (signatures by ``audit_trust``, default ``trust``), its runs sorted by ``trust``."""
        taken: dict[str, RunRecord] = {}
        others: dict[str, RunRecord] = {}
        for run_id, record in load_catalog(store, audit_trust or trust).runs.items():
            (taken if vouched(record, trust) else others)[run_id] = record
        return cls(taken, others)

    def __contains__(self, run_id: object) -> bool:
        return run_id in self.vouched or run_id in self.doubted


@dataclass
class RecordedRuns:
    """Every sealed run of a store by run id (``runs``), with the registered ``sources`` a lineage of them
    reaches; ``unread``: the index summaries of the runs not vouched for by an audit's catalog whose bundles were not read
    yet (their records hold what the summary says: datasets by the names the manifest gives them,
    without the other names of the events' ``symlinks``, such as a Dagster asset key, and without start
    times or quality)."""

    store: Store
    trust: TrustStore
    runs: dict[str, RunRecord]
    unread: dict[str, BundleSummary]
    sources: list[SourceRecord] = field(default_factory=list)
    left_out: dict[str, str] = field(default_factory=dict)  # run id -> why its bundle did not verify, or was not read
    not_read: set[str] = field(default_factory=set)  # those of left_out whose index entry or bundle could not be read
    corrected: dict[str, str] = field(default_factory=dict)  # run id -> how its index entry differs from its sound bundle
    vouched: set[str] = field(default_factory=set)  # the runs found by an audit's catalog whose bundles were not read yet
    verified: set[str] = field(default_factory=set)  # the runs whose bundles, read here, verify with the entry they were read by
    _index: LineageIndex | None = field(default=None, repr=False)

    @classmethod
    def of(cls, store: Store, trust: TrustStore, sources: Iterable[SourceRecord] = (),
           summaries: Iterable[BundleSummary] | None = None, audit_trust: TrustStore | None = None,
           catalogued: Catalogued | None = None) -> "RecordedRuns":
        """The catalog's records and the index summaries of the other runs (only those index entries are
        read: the run id is in the key), or of ``summaries`` where the caller has read them already. A
        catalogued run stands as its record, until :meth:`read` verifies its bundle, only when the audit found its
        bundle sound and its signer is trusted here now (``vouched``: the catalog finds runs without reading each
        entry); any other (an audit catalogues every run it examined, findings and all; keys are added and revoked)
        is known by its index entry like an uncatalogued run. Every run an answer lists is read and verified with
        today's keys, catalogued or not.
        ``audit_trust``: the keys whose signatures count on the catalog (the auditors'; default ``trust``);
        ``catalogued``: the catalog where the caller has loaded it already (:meth:`Catalogued.of`, with these keys)."""
        catalogued = catalogued if catalogued is not None else Catalogued.of(store, trust, audit_trust)
        runs = dict(catalogued.vouched)
        doubted: list[BundleSummary] = []
        left_out: dict[str, str] = {}
        for run_id, record in catalogued.doubted.items():
            if (entry := _entry_of(store, record, left_out)) is not None:
                doubted.append(entry)
        if summaries is None:
            summaries = _entries_of_others(store, catalogued, left_out)
        unread = {s.run_id: s for s in [*doubted, *(s for s in summaries if s.run_id not in catalogued)]}
        return cls(store, trust, {**runs, **{i: _summary_record(s) for i, s in unread.items()}}, unread, list(sources), left_out,
                   not_read=set(left_out), vouched=set(runs) - set(unread))

    def index(self) -> LineageIndex:
        """The lineage index of the runs and sources as they are now (built again only after a bundle read
        changed a record)."""
        if self._index is None:
            self._index = LineageIndex(self.runs.values(), self.sources)
        return self._index

    def read(self, run_ids: Iterable[str]) -> None:
        """Replace the records of these runs, where still unread, by their verified bundles'. A run whose
        bundle does not verify (missing, altered, signed by a key not trusted) is left out, with the
        reason in ``left_out``: its index entry alone is no record of it, nor is an audit's catalog record (the
        catalog finds a run; its bundle may have changed since the audit, and is verified as any other). A catalogued
        run whose index entry cannot be read, or whose bundle or entry is gone, is left out so too, and named in
        ``not_read``: not verified, so not shown to be altered. A sound
        bundle whose index entry says otherwise is taken as the bundle says (``corrected``); ``verified`` names those
        found sound with the entry they were read by, so that they need not be verified again. Many bundles are read
        on every CPU, as ``tdprov lineage`` verifies the runs it shows (:func:`check_runs`, one check for both)."""
        wanted = list(dict.fromkeys(run_ids))
        catalogued = [self.runs[i] for i in wanted if i in self.vouched]
        self.vouched.difference_update(r.run_id for r in catalogued)
        missing: dict[str, str] = {}
        self.unread.update((r.run_id, e) for r in catalogued if (e := _entry_of(self.store, r, missing)) is not None)
        not_read = set(missing)
        todo = [self.unread.pop(i) for i in wanted if i in self.unread]
        if todo:
            checked = check_runs(self.store, self.trust, todo)
            self.verified.update(i for i in checked.sound if i not in checked.corrected)
            self.runs.update(checked.sound)
            self.corrected.update(checked.corrected)
            missing.update(checked.left_out)
            self._index = None
        named = gone(self.store, [r for r in catalogued if r.run_id in missing])  # why, as the audit catalogued it
        self.not_read.update(not_read | named.keys())
        for run_id, why in missing.items():
            del self.runs[run_id]
            self.left_out[run_id] = named.get(run_id, why)
            self._index = None

    def read_naming(self, name: str) -> None:
        """Read the bundles of the unread runs that could name ``name`` otherwise than the verified records do.

        A location a run names a dataset at (a path, a URI as the index entries show it): its unread runs
        newest first, down to the newest verified run that wrote the dataset; an index entry whose bundle
        does not verify thus never stands for it, at the cost of a few bundle reads. Any other name (an
        asset key, a ``symlinks`` identifier's ``namespace/name``, a name no run wrote) may be another name
        of several datasets (an asset key names each of its partitions), known only from the signed events:
        every unread run is read. Of ``REF@DIGEST``, the runs that could name ``REF``; of a label shown spelled out
        (``/data/caf\\xe9.csv``) where no run names a dataset at it as written, those that could name the location it
        spells (:func:`~prov_common.w3cprov.identity.as_written_else_unescaped`)."""
        base, version = split_version(name)
        if version is not None and not self.index().namings(name):  # REF@DIGEST: the runs that could name REF
            name = base
        living = as_written_else_unescaped(name, self._living_at)
        if not living:
            self.read(list(self.unread))
            return
        name = living[0]
        best = self.index().newest_naming(name, skip=self.unread)
        floor = best.order if best is not None and best.generated else ""
        for order, run_ids in _by_time_newest_first({i: run_order(self.runs[i]) for i in self.unread}):
            if order < floor:
                return
            self.read(run_ids)  # runs of one time together (verified in parallel): the newest version is among them
            if any(named is not None and named.generated
                   for named in (LineageIndex([self.runs[i]]).newest_naming(name) for i in run_ids if i in self.runs)):
                return

    def _living_at(self, name: str) -> list[str]:
        """``[name]`` where it is a location and a run names a dataset that lives there, by its own name; else none."""
        located = location_of_ref(name)
        return [name] if located is not None and any(
            spells(name, d.namespace, d.name) or at_location(located, d.namespace, d.name)
            for run in self.runs.values() for d in (*run.inputs, *run.outputs)) else []

    def read_trace(self, name: str) -> None:
        """Read the bundles of the unread runs in the lineage of ``name`` (a digest, or a dataset name
        meaning its newest version), so that every run a record of it lists is a verified one, and of the runs
        that wrote or read a version on it whose results the record takes
        (:func:`~prov_common.audit.quality_gaps.quality_recorders`): the Pandera results that count for a version are
        in those runs' bundles, never in their index entries. A reader an audit catalogued is read only when its
        catalog record holds a result that no run read here holds alike: one that recorded none adds nothing to the
        record, nor does one whose results a verified bundle says too. Every run that wrote the dataset is read too:
        the record numbers and dates the version by the contents they gave it
        (:func:`~prov_common.sources.training_record.dataset_history`)."""
        from prov_common.audit.quality_gaps import quality_recorders
        from prov_common.sources.training_record import dataset_history

        def pick(index: LineageIndex) -> list[str]:
            dataset = index.resolve(name)[1]
            trace = index.trace(dataset)
            issued = [run_id for issue in dataset_history(index.runs.values(), dataset) for run_id in issue.runs]
            cited = [*(r.run_id for r in trace.runs), *issued]
            return [*cited, *quality_recorders(index, [dataset, *trace.validated], self.vouched, cited)]

        self.read_all(pick)

    def read_all(self, pick: Callable[[LineageIndex], Iterable[str]]) -> None:
        """Read the bundles of the runs whose ids ``pick`` gives from the lineage index, catalogued or not, where not
        read yet, and again until it gives none unread: a run left out or corrected can change what it picks."""
        while True:
            unread = [i for i in pick(self.index()) if i in self.unread or i in self.vouched]
            if not unread:
                return
            self.read(unread)


def _by_time_newest_first(orders: dict[str, str]) -> list[tuple[str, list[str]]]:
    """The run ids of ``orders`` (run id: :func:`~prov_common.audit.lineage.run_order`) grouped by that time, newest
    time first, each group in the order given."""
    groups: dict[str, list[str]] = {}
    for run_id, order in orders.items():
        groups.setdefault(order, []).append(run_id)
    return sorted(groups.items(), reverse=True)


def gone(store: Store, records: Collection[RunRecord], indexed: Container[str] | None = None) -> dict[str, str]:
    """The runs of ``records`` (catalogued by an audit) that the store no longer holds as the audit found them, with why:
    the bundle is gone (no signed statement in its folder), or its index entry is (the key the audit catalogued, which the
    bundle's ``indexed`` record names; ``tdprov verify`` names it missing). One listing of the bundles, and one of the
    index where the caller did not list it (``indexed``: the index keys it listed), only when there is a run to check."""
    from prov_common.bundle import layout
    from prov_common.bundle.storage import index_keys

    if not records:
        return {}
    since = "(deleted since, or the store was copied back to an earlier state)"
    sealed = {k for k in store.list(layout.BUNDLES + "/") if k.endswith("/" + layout.STATEMENT_FILE)}
    keys = {r.run_id: layout.bundle_key(r.run_id, layout.STATEMENT_FILE) for r in records}
    why = {run_id: f"{key}: its bundle is gone, though an audit catalogued it {since}"
           for run_id, key in keys.items() if key not in sealed}
    entries = {r.run_id: r.index_key for r in records if r.run_id not in why and r.index_key}
    if entries:
        listed = indexed if indexed is not None else set(index_keys(store))
        why.update({run_id: f"{key}: the bundle's recorded index entry is not in the store, though an audit catalogued it {since}"
                    for run_id, key in entries.items() if key not in listed})
    return why


def _entry_of(store: Store, record: RunRecord, left_out: dict[str, str]) -> BundleSummary | None:
    """The index entry an audit catalogued ``record`` under, which finds its bundle (the bundle decides: the entry alone
    is no record of it); None when it cannot be read, with why in ``left_out``."""
    from prov_common.bundle.storage import load_index_entry
    from prov_common.errors import TdprovError

    try:
        return load_index_entry(store, record.index_key)
    except TdprovError as exc:
        left_out[record.run_id] = f"{record.index_key}: {exc.what}"
        return None


def examined(store: Store, trust: TrustStore, summary: BundleSummary) -> tuple[RunRecord, str | None, bool]:
    """The run record of the bundle an index entry summarises, read and verified (from its signed events);
    what is wrong (None when nothing is: missing, altered, signed by a key not trusted, or the entry is not
    what the bundle says); and whether the bundle itself verifies (only its unsigned index entry is wrong)."""
    record, _ = _examined(store, trust, summary)
    return (record, *doubt(record, summary.cursor))


def examined_run(store: Store, trust: TrustStore, summary: BundleSummary) -> tuple[RunIdentity | None, str | None, bool]:
    """As :func:`examined`, with the run the bundle is of in place of its record, as verification folded its signed
    events (:meth:`RunIdentity.folded <prov_common.bundle.events.RunIdentity.folded>`: the parent run its signed
    manifest names, with that run's job; no event is parsed again, so a file of any size costs nothing more than its
    verification). None when the bundle itself does not verify, or its events were not folded."""
    from prov_common.bundle.events import RunIdentity

    record, checked = _examined(store, trust, summary)
    why, sound = doubt(record, summary.cursor)
    run = RunIdentity.folded(checked.derived.state) if sound and checked.derived is not None else None
    return run, why, sound


def _examined(store: Store, trust: TrustStore, summary: BundleSummary) -> tuple[RunRecord, CheckedBundle]:
    """The run record of the bundle ``summary`` lists (as a reader lists it: see ``examine_checked``'s ``listed``) and
    what verification read of it."""
    from prov_common.audit.examine import examine_checked

    record, _, checked = examine_checked(store, summary, trust, listed=summary.cursor)
    return record, checked


def vouched(record: RunRecord, trust: TrustStore) -> bool:
    """Whether a catalogued run is taken as its record: the audit found its bundle sound, and its signer is trusted here now."""
    return doubt(record, record.index_key)[0] is None and (record.key_id is None or record.key_id in trust)


def doubt(record: RunRecord, entry_key: str | None) -> tuple[str | None, bool]:
    """What verification found wrong with a run's bundle (None when nothing: notes aside), and whether the
    bundle itself is sound (every finding is about its unsigned index entry at ``entry_key``). Each finding is named
    without its closing full stop, as the reason stands in brackets where it is told."""
    findings = [f for f in record.bundle_findings if f.severity != NOTE]
    if not findings:
        return None, True
    problems = [f"{f.object}: {clause(f.what)}" for f in findings]
    why = "; ".join(problems[:3]) + (f" (and {len(problems) - 3} more)" if len(problems) > 3 else "")
    return why, all(f.object == entry_key for f in findings)


def _entries_of_others(store: Store, catalogued: Container[str], left_out: dict[str, str]) -> Iterator[BundleSummary]:
    """The index summaries of the runs not in ``catalogued`` (a damaged entry read from its bundle's manifest);
    an entry that neither it nor its bundle summarises is named in ``left_out`` (run id -> why): one bad
    object does not stop the reading of the others."""
    from prov_common.bundle import layout
    from prov_common.bundle.storage import index_keys, listed_entry

    for key in index_keys(store):
        if layout.run_id_of_index_key(key) not in catalogued and (summary := listed_entry(store, key, left_out)) is not None:
            yield summary


def _summary_record(summary: BundleSummary) -> RunRecord:
    from prov_common.audit.examine import record_from_summary

    return record_from_summary(summary, summary.manifest_digest or "")


@dataclass
class CheckedRuns:
    """What verifying runs' bundles found (:func:`check_runs`), by run id: the ``sound`` runs' records as their bundles
    say, ``left_out`` (why each bundle does not verify) and ``corrected`` (how each sound bundle's index entry differs)."""

    sound: dict[str, RunRecord] = field(default_factory=dict)
    left_out: dict[str, str] = field(default_factory=dict)
    corrected: dict[str, str] = field(default_factory=dict)


def check_runs(store: Store, trust: TrustStore, summaries: Sequence[BundleSummary], desc: str | Bar | None = None) -> CheckedRuns:
    """The bundles these index entries summarise, each read and verified (:func:`examined`): what ``tdprov lineage``
    checks of the runs it shows and a record of the runs it cites. On every CPU when there are many, as ``tdprov verify``
    (:func:`~prov_common.bundle.verify_pool.map_bundles`, the same results in the same order), with a progress bar
    named ``desc`` or, without it, the shared bar ('verifying bundles', for two bundles or more, as ``tdprov verify``
    draws it), each drawn only where a verb turned bars on (:func:`~prov_common.progress.on_terminal`), as ``tdprov
    record`` and ``tdprov lineage`` do, and on a terminal; ``desc`` a bar drawn already: each bundle checked advances it (one bar over several calls). The objects of a bundle that ``store`` holds as read (:class:`~prov_common.store.held_reads.HeldReads`)
    are verified as held, in a worker process too: never read again."""
    from prov_common.bundle.layout import held_keys
    from prov_common.bundle.verify_pool import map_bundles
    from prov_common.progress import Bar, advancing, bar
    from prov_common.store.held_reads import held_of

    checked = CheckedRuns()
    items = [(s, held_of(store, held_keys(s.run_id))) for s in summaries]
    results: Iterable[tuple[RunRecord, str | None, bool]] = map_bundles(_examined_held, items, store, trust)
    if isinstance(desc, Bar):
        results = advancing(results, desc)
    elif desc is not None or len(summaries) > 1:
        results = bar(results, total=len(summaries), desc=desc or "verifying bundles", unit="bundle")
    for summary, (record, why, sound) in zip(summaries, results):
        if sound:
            checked.sound[summary.run_id] = record
        if why is not None:
            (checked.corrected if sound else checked.left_out)[summary.run_id] = why
    return checked


def _examined_held(store: Store, trust: TrustStore, item: tuple[BundleSummary, dict[str, bytes]]) -> tuple[RunRecord, str | None, bool]:
    """:func:`examined` of an item of :func:`check_runs`: an index entry with the bytes of its bundle that the checking
    process holds (:class:`~prov_common.store.held_reads.HeldReads`), which a worker process, its store opened again,
    verifies as that process would, not bytes read again."""
    from prov_common.bundle.layout import is_read_whole
    from prov_common.store.held_reads import HeldReads

    summary, held = item
    if held and not isinstance(store, HeldReads):
        store = HeldReads(store, is_read_whole, held)
    return examined(store, trust, summary)


def doubted_runs(store: Store, trust: TrustStore, summaries: list[BundleSummary], desc: str | Bar) -> tuple[dict[str, str], dict[str, str]]:
    """The runs not to be taken as their index entries (unsigned) say, by run id with why: those whose
    bundles do not verify (to leave out), and those whose sound bundles say otherwise than the entry (to
    take as the bundle says), as :func:`check_runs` finds them (with a progress bar, ``desc`` or one drawn already, where
    a verb turned bars on)."""
    checked = check_runs(store, trust, summaries, desc)
    return checked.left_out, checked.corrected
