"""A dataset version named on the command line: a digest as given, or a dataset name meaning its newest
recorded version (``tdprov lineage``, ``record``, ``contains``, ``checkout`` and ``snapshot``)."""
from __future__ import annotations

import re
from collections.abc import Callable, Container, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prov_common.cli._output import tell
from prov_common.config import Settings
from prov_common.text import clause, counted, first_of

if TYPE_CHECKING:
    from prov_common.audit.recorded import RecordedRuns

_DIGEST = re.compile(r"[a-z0-9]+:[0-9a-f]{64}\Z")


SOURCE_FORMS = "a registered source by its digest, LOCATION or LOCATION@DIGEST"
"""How a verb that resolves registered sources ('tdprov lineage', 'record', 'checkout') says so after :data:`VERSION_FORMS`."""


def add_version_argument(parser: Any, *names: str, said: str = "", more: str = "", **options: Any) -> None:
    """Add the argument ``names`` that takes a dataset version, in the words of every verb that takes one: metavar
    :data:`VERSION_ARGUMENT`, help ``said``, then :data:`VERSION_FORMS`, then ``more``."""
    from prov_common.w3cprov.identity import VERSION_ARGUMENT, VERSION_FORMS

    parser.add_argument(*names, metavar=VERSION_ARGUMENT, help=f"{said}{VERSION_FORMS}" + (f"; {more}" if more else ""),
                        **options)


def is_full_digest(ref: str) -> bool:
    """Whether ``ref`` is a whole content digest (``algo:`` and 64 hex digits)."""
    return bool(_DIGEST.match(ref.strip().lower()))


def is_digest(ref: str) -> bool:
    """Whether ``ref`` is a content digest, in full or its first 12 or more hex digits (as 'tdprov runs' shows it)."""
    from prov_common.audit.lineage import SHORT_DIGEST

    return bool(SHORT_DIGEST.fullmatch(ref.strip().lower()))


@contextmanager
def recorded_runs(store: Any, settings: Settings, name: str | None = None, sources: Iterable[Any] = (),
                  trust: Any = None, *, verb: str) -> Iterator[Any]:
    """The sealed runs of ``store`` (:class:`~prov_common.audit.recorded.RecordedRuns`, signatures checked
    against the trusted keys: ``trust`` when the caller made it already, else :func:`bundle_trust`); on leaving,
    each run whose index entry was not taken as it stands is named on stderr by ``verb`` (:func:`tell_left_out`).

    ``name``: a dataset the caller looks up by name. The runs no audit catalogued are known by their index
    summaries, which do not hold a dataset's other names (a Dagster asset key, kept in the events): the
    newest of them are read from their bundles until the newest version of ``name`` is certain
    (:meth:`~prov_common.audit.recorded.RecordedRuns.read_naming`). Read the runs an answer lists with
    ``read_all`` before answering: until read, a run is only what its unsigned index entry says."""
    from prov_common.audit.recorded import RecordedRuns
    from prov_common.bundle.trust import bundle_trust
    from prov_common.signing import auditor_trust_from_settings

    recorded = RecordedRuns.of(store, trust if trust is not None else bundle_trust(settings, store), sources, audit_trust=auditor_trust_from_settings(settings))
    try:
        if name is not None and not is_digest(name):
            recorded.read_naming(name)
        yield recorded
    finally:
        tell_left_out(recorded.left_out, recorded.not_read, recorded.corrected, verb)


def verified_summaries(store: Any, trust: Any, summaries: list[Any], desc: Any, verb: str) -> tuple[list[Any], dict[str, str]]:
    """``summaries`` (index entries, unsigned) without the runs whose bundles do not verify by ``trust`` (see
    :func:`~prov_common.bundle.trust.bundle_trust`), and each run whose sound bundle says otherwise than its entry as
    the bundle says; both kinds named on stderr by ``verb``. Also the runs left out (run id -> why): a finding, exit 1.
    ``desc``: as :func:`checked_summaries` takes it.
    Verified on every CPU when there are many (``tdprov export --verified``, ``tdprov runs --verified``)."""
    kept, left_out, corrected = checked_summaries(store, trust, summaries, desc)
    tell_entries_not_taken(left_out, corrected, verb)
    return kept, left_out


def checked_summaries(store: Any, trust: Any, summaries: list[Any], desc: Any) -> tuple[list[Any], dict[str, str], dict[str, str]]:
    """:func:`verified_summaries` told of nothing: the summaries kept (as the bundles say), the runs left out and those
    corrected (run id -> why), for a caller that verifies in batches and tells them all at the end. ``desc``: the name
    of the bar, or the bar drawn already over all the batches (:func:`~prov_common.audit.recorded.check_runs`)."""
    from prov_common.audit.recorded import doubted_runs

    left_out, corrected = doubted_runs(store, trust, summaries, desc)
    return as_bundles_say(store, [s for s in summaries if s.run_id not in left_out], corrected), left_out, corrected


def as_bundles_say(store: Any, summaries: list[Any], runs: Container[str]) -> list[Any]:
    """``summaries`` with those of ``runs`` (sound bundles whose index entries differ) made from their manifests."""
    from prov_common.bundle.storage import summary_of_bundle

    return [(summary_of_bundle(store, s.run_id) or s) if s.run_id in runs else s for s in summaries]


SHOWN_AT_MOST = 10  # lines on stderr per kind, and run ids named in one line; the rest are counted


def tell_entries_not_taken(left_out: Mapping[str, str], corrected: Mapping[str, str], verb: str) -> None:
    """Name on stderr, as ``tdprov VERB:`` says what it found, each run (run id -> why) whose index entry was not taken as it stands: left out (its
    bundle does not verify) or corrected (its bundle verifies; the entry does not summarise it). Runs that
    share one reason (say, every bundle of a store whose signer's key is not trusted here) are told in one
    line; past :data:`SHOWN_AT_MOST` lines of a kind, the rest are counted. An index key among ``left_out`` (an entry
    that names no run: a stray object under ``index/``) is told as the entry it is, which 'tdprov verify' lists."""
    left_out = _tell_stray_entries(left_out, verb)

    def fix_left_out(run: str) -> str:
        return (f"Fix: 'tdprov verify {run}' names every problem; restore a damaged bundle from a backup or replica; "
                "if the bundle is sound, trust its signer's key (TDPROV_TRUSTED_KEYS)")

    _tell(left_out,
          lambda run, why: f"left out run {run}: its bundle does not verify ({why}). {fix_left_out(run)}",
          lambda runs, why: f"left out {runs}: their bundles do not verify ({why}). {fix_left_out('RUN_ID')}",
          lambda more: f"and {counted(more, 'more run')} left out, {'its bundle' if more == 1 else 'their bundles'} not verifying. "
          "Fix: 'tdprov verify' names every problem",
          verb)
    fix_corrected = "Fix: the entry was altered after sealing: restore it from a backup or replica ('tdprov audit' reports it)"
    _tell(corrected,
          lambda run, why: f"run {run} is taken as its signed bundle says, not as its index entry does ({why}). {fix_corrected}",
          lambda runs, why: f"{runs} are taken as their signed bundles say, not as their index entries do ({why}). {fix_corrected}",
          lambda more: f"and {counted(more, 'more run')} taken as {'its signed bundle says, not as its altered index entry does' if more == 1 else 'their signed bundles say, not as their altered index entries do'}. "
          "Fix: 'tdprov audit' reports them all", verb)


@dataclass
class RunsNotTaken:
    """The runs a verb did not take as their index entries stand, as :func:`tell_left_out` names them: ``left_out``
    (run id -> why), ``not_read`` (those of them whose index entry or bundle could not be read at all: not verified)
    and ``corrected`` (run id -> how its index entry differs from its sound bundle, taken as the bundle says)."""

    left_out: dict[str, str] = field(default_factory=dict)
    not_read: set[str] = field(default_factory=set)
    corrected: dict[str, str] = field(default_factory=dict)

    def take_in(self, other: RecordedRuns) -> None:
        """Add the runs ``other`` left out, could not read and corrected."""
        self.left_out.update(other.left_out)
        self.not_read.update(other.not_read)
        self.corrected.update(other.corrected)

    def taken(self, store: Any, summaries: list[Any], corrected: Container[str] | None = None) -> list[Any]:
        """``summaries`` without the runs left out, those of ``corrected`` (default: every run corrected) as their
        bundles say (:func:`as_bundles_say`)."""
        return as_bundles_say(store, [s for s in summaries if s.run_id not in self.left_out],
                              self.corrected if corrected is None else corrected)

    def leave_out_unread(self, runs: Mapping[str, str]) -> None:
        """Leave out ``runs`` (run id -> why) as not read: their index entry or bundle is gone or cannot be read."""
        self.left_out.update(runs)
        self.not_read.update(runs)


def tell_left_out(left_out: Mapping[str, str], not_read: Container[str], corrected: Mapping[str, str], verb: str) -> None:
    """Name on stderr, as ``tdprov VERB:`` says what it found, each run (run id -> why) left out, as what happened to
    it: those in ``not_read`` could not be read (:func:`tell_entries_not_read`: their index entry or bundle is damaged
    or missing), the others do not verify (:func:`tell_entries_not_taken`, which names the runs ``corrected`` too)."""
    tell_entries_not_read({key: why for key, why in left_out.items() if key in not_read}, verb)
    tell_entries_not_taken({key: why for key, why in left_out.items() if key not in not_read}, corrected, verb)


def tell_entries_not_read(unread: Mapping[str, str], verb: str) -> None:
    """Name on stderr, as ``tdprov VERB:`` says what it found, each run (run id -> why, which names the object) left
    out because what it is listed or exported by could not be read: its index entry and bundle (a listing:
    :func:`~prov_common.bundle.storage.listed_entry`), or its bundle's files (an export). Not verified, so not told as
    a bundle that does not verify (:func:`tell_entries_not_taken`): the object is damaged or missing, not shown to be
    altered. An index key among ``unread`` (an entry that names no run) is told as the entry it is."""
    fix = ("Fix: restore the object named from a backup or replica of the store; 'tdprov verify {run}' names every "
           "problem of the run")
    _tell(_tell_stray_entries(unread, verb),
          lambda run, why: f"left out run {run}: it could not be read ({why}). {fix.format(run=run)}",
          lambda runs, why: f"left out {runs}: they could not be read ({why}). {fix.format(run='RUN_ID')}",
          lambda more: f"and {counted(more, 'more run')} left out, not read. Fix: 'tdprov verify' names every problem",
          verb)


def _tell_stray_entries(left_out: Mapping[str, str], verb: str) -> dict[str, str]:
    """Tell each index key among ``left_out`` (an entry that names no run: no run id holds a '/') as the entry it is;
    the runs among ``left_out``, to be told by the caller."""
    entries = [key for key in left_out if "/" in key]
    for key in entries[:SHOWN_AT_MOST]:
        tell(verb, f"left out index entry {key}: it names no run ({clause(left_out[key])}). Fix: 'tdprov verify' "
             "lists it and what is wrong with it; remove it if tdprov did not write it, else restore it from a backup or replica")
    if len(entries) > SHOWN_AT_MOST:
        tell(verb, f"and {counted(len(entries) - SHOWN_AT_MOST, 'more index entry', 'more index entries')} left out, naming no run. "
             "Fix: 'tdprov verify' lists them")
    return {run: why for run, why in left_out.items() if "/" not in run}


def tell_parents_not_read(unread: Mapping[str, str], verb: str) -> None:
    """Name on stderr, as ``tdprov VERB:`` says what it found, each run (run id -> why) left out of a listing of the
    runs of one parent run because its index entry names no parent run and its manifest, read for one, cannot be read:
    it may be a run of that parent (:func:`~prov_common.cli._runs.child_runs`)."""
    fix = ("Fix: restore the bundle from a backup or replica; 'tdprov verify {run}' names every problem, and 'tdprov show "
           "{run}' its parent run once its manifest is back")
    _tell(unread,
          lambda run, why: f"left out run {run}: its index entry names no parent run and its manifest, read for its "
          f"parent run, cannot be read ({why}). {fix.format(run=run)}",
          lambda runs, why: f"left out {runs}: their index entries name no parent run and their manifests, read for "
          f"their parent runs, cannot be read ({why}). {fix.format(run='RUN_ID')}",
          lambda more: f"and {counted(more, 'more run')} left out, {'its manifest' if more == 1 else 'their manifests'} "
          "not read. Fix: 'tdprov verify' names every problem",
          verb)


def _tell(runs: Mapping[str, str], one: Callable[[str, str], str], several: Callable[[str, str], str],
          rest: Callable[[int], str], verb: str) -> None:
    from prov_common.bundle.layout import BUNDLES

    by_reason: dict[str, list[str]] = {}
    for run_id, why in sorted(runs.items()):  # one reason for runs whose whys differ only in their own bundle's name
        by_reason.setdefault(why.replace(f"{BUNDLES}/{run_id}/", f"{BUNDLES}/RUN_ID/"), []).append(run_id)
    groups = sorted(by_reason.items(), key=lambda group: (-len(group[1]), group[1][0]))
    for reason, run_ids in groups[:SHOWN_AT_MOST]:
        if len(run_ids) == 1:
            tell(verb, one(run_ids[0], clause(runs[run_ids[0]])))  # each reason stands in brackets
        else:
            named = first_of(run_ids, SHOWN_AT_MOST)
            tell(verb, several(f"{len(run_ids)} runs ({named})", clause(reason)))
    if len(groups) > SHOWN_AT_MOST:
        tell(verb, rest(sum(len(run_ids) for _, run_ids in groups[SHOWN_AT_MOST:])))


def version_digest(ref: str, index: Any) -> str:
    """``ref`` if it is a digest, the recorded digest it begins (with or without ``blake3:``, whichever datasets hold
    it; hex digits alone only where they name no dataset:
    :meth:`~prov_common.audit.lineage.LineageIndex.digest_meant`), else the newest recorded version of the dataset it
    names."""
    if is_full_digest(ref):
        return ref.strip().lower()
    return index.digest_meant(ref) or index.resolve(ref)[0]


def names_version(index: Any, dataset: str, digest: str) -> list[str]:
    """Run ids of the runs that wrote or read ``digest`` as the dataset named ``dataset`` (a label shown spelled out
    too: :func:`~prov_common.w3cprov.identity.as_written_else_unescaped`)."""
    from prov_common.audit.lineage import names_dataset
    from prov_common.w3cprov.identity import as_written_else_unescaped, location_of_ref, normal_version

    wrote, read = index.with_digest(digest)

    def naming(ref: str) -> list[str]:
        located = location_of_ref(ref)
        return [run.run_id for run in [*wrote, *read]
                if any(normal_version(d.version) == digest and names_dataset(ref, located, d) for d in [*run.outputs, *run.inputs])]

    return as_written_else_unescaped(dataset, naming)
