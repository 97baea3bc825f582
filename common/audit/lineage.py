"""Lineage over run records and registered sources: where each dataset version came from (no I/O).

A version is a dataset (namespace, name) at a content digest. It has an origin when a recorded run
generated that dataset at that digest, or a registered source has the digest (matched by location
when the source was registered where the dataset lives, else by content, and labelled so). Tracing
a version walks back through the run that wrote what each reader read and its inputs, to sources;
a version with neither origin is a broken link. Equal bytes in another dataset are never its origin.
"""
from __future__ import annotations

from collections.abc import Container, Iterable
from dataclasses import dataclass, field

from prov_common.audit.model import DatasetUse, RunRecord
from prov_common.errors import BadInputError
from prov_common.sources.merged import by_key, source_dataset
from prov_common.sources.matching import add_matches, any_matching_source, matching_sources, sources_by_digest
from prov_common.sources.model import SourceRecord, is_source_digest
from prov_common.text import first_of
from prov_common.w3cprov.identity import (  # noqa: F401 - the digest rule is also imported from here
    COMPLETE,
    DIGEST_PREFIX_MIN,
    DIGEST_RULE,
    SHORT_DIGEST,
    TOO_SHORT_DIGEST,
    VersionKey,
    as_written_else_unescaped,
    at_location,
    dataset_label,
    digest_query,
    digest_starts,
    distinct_labels,
    holds_content,
    is_location,
    located_dataset,
    location_of_ref,
    no_version_starting,
    normal_version,
    nothing_named,
    pair_text,
    pick_generation,
    read_time as first_read,
    sortable_time,
    spelled_apart,
    spells,
    store_namespace,
    version_key,
    written_as_pair,
)
from prov_common.w3cprov.version_ref import (
    SHOWN_VERSIONS, distinct_short_digests, no_version_at, pasted, quoted_list, read_as_digest, split_version,
)


NO_DIGEST = "no content digest was recorded for it"
NO_ORIGIN = "no recorded run generated this version of this dataset and no registered source has its digest"
NO_INPUTS = "the run that made it recorded no inputs and no registered source has its digest"
NO_VERSION_ORIGIN = ("no recorded run generated this version of this dataset, and the version is its producer's id, not a "
                     "content digest tdprov checked, so no registered source matches it by content")
NO_INPUTS_VERSION = ("the run that made it recorded no inputs, and the version is its producer's id, not a content digest "
                     "tdprov checked, so no registered source matches it by content")
MADE_FROM_NOTHING = (NO_INPUTS, NO_INPUTS_VERSION)  # the reasons of an output of a run that recorded no inputs
OPAQUE_VERSION = (NO_VERSION_ORIGIN, NO_INPUTS_VERSION)  # the reasons of a version that is no content digest
_RECORD_READ = ("record the read through tdprov (the tdprov IO manager, operator or hook), so that its content is hashed and "
                "traces back to a registered source by its digest, or record the run that made it")
_RECORD_INPUTS = "record what the run that made it read (its inputs, through the tdprov IO manager / operator)"


def version_origin_fix(d: DatasetUse, reason: str = NO_VERSION_ORIGIN) -> str:
    """What closes the broken link of ``d``, whose version is no content digest (another producer's version id,
    a reason of :data:`OPAQUE_VERSION`): 'tdprov source add' of the data records its BLAKE3 digest, which never names
    it. Its read recorded through tdprov, so that its content is hashed, or the run that made it; for an output of a
    run that recorded no inputs (:data:`NO_INPUTS_VERSION`), what that run read; or, for a version a source record
    takes, the source registered at the dataset's location with that version (where its URI is that location)."""
    fix = _RECORD_INPUTS if reason in MADE_FROM_NOTHING else _RECORD_READ
    version = normal_version(d.version)
    if is_source_digest(version) and at_location(located_dataset(d.uri), d.namespace, d.name):
        return (f"{fix}; or register the source at this dataset's own location with this version: 'tdprov source add "
                f"{d.uri} --digest {version} --name ... --license ... --issuer ...' ('tdprov source add' of the data "
                "records its BLAKE3 digest, which is not this version)")
    return f"{fix} ('tdprov source add' of the data records its BLAKE3 digest, which is not this version)"


@dataclass(slots=True)
class SourceUse(DatasetUse):
    """A registered source version that :meth:`LineageIndex.resolve` resolved a digest to, no recorded run holding it:
    ``source`` is one of its records. Its dataset is the one at the source's location (its name, for a source registered
    with none); its type marks it as a source, never its namespace, which a producer may write as a dataset's too."""

    source: SourceRecord | None = field(default=None, compare=False)


@dataclass(frozen=True)
class BrokenLink:
    """An input of ``run_id`` with no origin: no run generated its version and no source has it; or (reason
    :data:`MADE_FROM_NOTHING`) an output of ``run_id``, a run that recorded no inputs, that no source has: where its
    data came from is not recorded."""

    run_id: str
    dataset: DatasetUse
    reason: str

    @property
    def described(self) -> str:
        """The version and how ``run_id`` relates to it, for a gap sentence: ``X@v (input of run R)``, or for
        :data:`MADE_FROM_NOTHING` ``X@v (made by run R)`` (the reason says that R recorded no inputs)."""
        role = f"made by run {self.run_id}" if self.reason in MADE_FROM_NOTHING else f"input of run {self.run_id}"
        return f"{self.dataset.label}@{self.dataset.version or 'unversioned'} ({role})"


@dataclass
class Trace:
    """Everything upstream of a version: runs (newest first), sources, versions, broken links."""

    version: str
    runs: list[RunRecord] = field(default_factory=list)
    sources: list[SourceRecord] = field(default_factory=list)
    versions: list[DatasetUse] = field(default_factory=list)
    broken: list[BrokenLink] = field(default_factory=list)
    # the sources matched by digest only, registered at no location the walk reached (equal bytes elsewhere)
    by_content: list[SourceRecord] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.broken

    @property
    def validated(self) -> list[DatasetUse]:
        """What the quality results upstream are recorded on: ``versions`` and the data of the ``broken`` links (an
        input no recorded run or source explains is still upstream, and a run that read it may have validated it)."""
        return [*self.versions, *(b.dataset for b in self.broken)]


def run_order(record: RunRecord) -> str:
    """When a run happened, as a text that sorts in time order (its end, else its sealing or start time)."""
    return sortable_time(record.ended_at or record.sealed_at or record.started_at)


def made_at(record: RunRecord) -> str | None:
    """When a run's outputs were made, for telling which generation a reader read: its end, else (a run sealed
    without ending, as 'tdprov flush' seals one) its start, not the sealing, which may come much later."""
    return record.ended_at or record.started_at or record.sealed_at


def read_time(record: RunRecord) -> str | None:
    """When a run read its inputs (:func:`~prov_common.w3cprov.identity.read_time`)."""
    return first_read(record.started_at, record.ended_at)


def version_of(d: DatasetUse) -> VersionKey:
    """The identity of the version ``d`` names: its dataset and its digest."""
    return version_key(d.namespace, d.name, d.version)


class LineageIndex:
    """Which runs generated and used each dataset version (by identity: namespace, name and digest),
    and which registered sources have which digest."""

    def __init__(self, runs: Iterable[RunRecord], sources: Iterable[SourceRecord] = ()) -> None:
        self.runs: dict[str, RunRecord] = {r.run_id: r for r in runs}
        self.sources: dict[str, list[SourceRecord]] = sources_by_digest(sources)
        self.generated: dict[VersionKey, list[tuple[RunRecord, DatasetUse]]] = {}
        self.used_by: dict[VersionKey, list[tuple[RunRecord, DatasetUse]]] = {}
        for r in sorted(self.runs.values(), key=run_order, reverse=True):
            for d in r.outputs:
                if d.version:
                    self.generated.setdefault(version_of(d), []).append((r, d))
            for d in r.inputs:
                if d.version:
                    self.used_by.setdefault(version_of(d), []).append((r, d))

    def generator(self, d: DatasetUse, reader: RunRecord | None = None) -> tuple[RunRecord, DatasetUse] | None:
        """The run that wrote the version ``d`` that ``reader`` read (see :mod:`prov_common.w3cprov.identity`)."""
        return self.generation_read(d, reader.run_id if reader else None, read_time(reader) if reader else None)

    def generation_read(self, d: DatasetUse, reader_id: str | None, read_at: str | None) -> tuple[RunRecord, DatasetUse] | None:
        """:meth:`generator` for a reader known by its run id and the time it read (a run not in this index)."""
        found = [(r, use) for r, use in self.generated.get(version_of(d), ()) if r.run_id != reader_id]
        return pick_generation(found, read_at, lambda c: made_at(c[0]), lambda c: c[0].state == COMPLETE)

    def sources_of(self, d: DatasetUse) -> tuple[list[SourceRecord], bool]:
        """Registered sources of ``d``'s digest: those registered at its location (``True``), else any
        with the digest, matched by content only (``False``): :func:`~prov_common.sources.matching.matching_sources`."""
        return matching_sources(self.sources, d.namespace, d.name, d.version, opaque=d.opaque)

    def has_origin(self, d: DatasetUse, reader_id: str | None = None, read_at: str | None = None) -> bool:
        """Whether another recorded run generated version ``d`` before reader ``reader_id`` read it at ``read_at``
        (never the reader's own output), or a registered source has its digest."""
        return bool(d.version) and (self.generation_read(d, reader_id, read_at) is not None or self.has_source(d))

    def has_source(self, d: DatasetUse) -> bool:
        """Whether :meth:`sources_of` names any registered source of ``d``'s digest (none are listed)."""
        return any_matching_source(self.sources, d.namespace, d.name, d.version, opaque=d.opaque)

    def broken_inputs(self, run: RunRecord) -> list[BrokenLink]:
        """Inputs of ``run`` that neither a recorded run nor a registered source explains."""
        out = []
        for d in run.inputs:
            if not d.version:
                out.append(BrokenLink(run.run_id, d, NO_DIGEST))
            elif not self.has_origin(d, run.run_id, read_time(run)):
                out.append(BrokenLink(run.run_id, d, NO_ORIGIN if d.names_content else NO_VERSION_ORIGIN))
        return out

    def trace(self, dataset: DatasetUse, reader: RunRecord | None = None) -> Trace:
        """Walk back from version ``dataset`` (as ``reader`` read it) to its sources, collecting runs and broken links."""
        trace = Trace(dataset.version or "")
        seen_versions: set[tuple[VersionKey, str]] = set()
        seen_runs: set[str] = set()
        todo: list[tuple[DatasetUse, RunRecord | None]] = [(dataset, reader)]
        while todo:
            d, by = todo.pop()
            if not d.version or (version_of(d), by.run_id if by else "") in seen_versions:
                continue
            seen_versions.add((version_of(d), by.run_id if by else ""))
            made = self.generator(d, by)
            if made is not None:
                run, use = made
                trace.versions.append(use)
                if run.run_id not in seen_runs:
                    seen_runs.add(run.run_id)
                    trace.runs.append(run)
                    trace.broken.extend(self.broken_inputs(run))
                    todo.extend((i, run) for i in run.inputs)
                if not run.inputs and not self._add_sources(trace, use):  # made from nothing recorded: a source, or a gap
                    trace.broken.append(BrokenLink(run.run_id, use, NO_INPUTS if use.names_content else NO_INPUTS_VERSION))
                continue
            if self._add_sources(trace, d):
                trace.versions.append(d)
        return trace

    def _add_sources(self, trace: Trace, d: DatasetUse) -> bool:
        """Add the registered sources of ``d`` to ``trace``; whether there are any."""
        sources, located = self.sources_of(d)
        add_matches(trace.sources, trace.by_content, sources, located)
        return bool(sources)

    def unsourced(self, made: DatasetUse) -> bool:
        """Whether a gap of :data:`MADE_FROM_NOTHING` is still open: no registered source has the digest of what its run made."""
        return not self.has_source(made)

    def training_runs(self) -> list[RunRecord]:
        """Runs that train models (see :attr:`RunRecord.is_training`), newest first."""
        return sorted((r for r in self.runs.values() if r.is_training), key=run_order, reverse=True)

    def readers(self, d: DatasetUse) -> list[RunRecord]:
        """Runs that read the version ``d`` names (its dataset at its digest, whichever run's generation), newest first."""
        return list({r.run_id: r for r, _ in self.used_by.get(version_of(d), ())}.values())

    def uses(self, key: VersionKey) -> list[DatasetUse]:
        """Every recorded use of the version ``key``: its writes, then its reads (what each run recorded on it, its
        checks among them)."""
        return [use for table in (self.generated, self.used_by) for _, use in table.get(key, ())]

    def recorders(self, d: DatasetUse) -> list[RunRecord]:
        """Runs that wrote, then runs that read, the version ``d`` names, newest first in each."""
        key = version_of(d)
        return list({r.run_id: r for table in (self.generated, self.used_by) for r, _ in table.get(key, ())}.values())

    def holds_content(self, key: VersionKey) -> bool:
        """Whether the version ``key`` holds its bytes (:func:`~prov_common.w3cprov.identity.holds_content`)."""
        return holds_content((r.state for r, _ in self.generated.get(key, ())), key in self.used_by)

    def same_content(self, d: DatasetUse) -> list[DatasetUse]:
        """The other datasets that a run wrote or read at ``d``'s digest (equal bytes: a fact, never lineage), each
        once, by its label; none that holds no bytes (a refused write), and none for ``d`` if it holds none or its
        version is no content digest (:attr:`~prov_common.audit.model.DatasetUse.names_content`)."""
        digest = normal_version(d.version)
        if not d.names_content or not self.holds_content(version_of(d)):
            return []
        found = {(key[0], key[1]): use for table in (self.generated, self.used_by) for key, uses in table.items()
                 if key[2] == digest and (key[0], key[1]) != (d.namespace, d.name) and self.holds_content(key)
                 for _, use in uses[:1] if use.names_content}
        return sorted(found.values(), key=lambda use: use.label)

    def with_digest(self, digest: str) -> tuple[list[RunRecord], list[RunRecord]]:
        """Runs that wrote, and runs that read, any dataset at content ``digest`` (newest first)."""
        wrote = [r for key, uses in self.generated.items() if key[2] == digest for r, _ in uses]
        read = [r for key, uses in self.used_by.items() if key[2] == digest for r, _ in uses]
        return sorted(wrote, key=run_order, reverse=True), sorted(read, key=run_order, reverse=True)

    def resolve(self, ref: str) -> tuple[str, DatasetUse]:
        """A dataset (name, namespace/name, URI, or another name in its ``symlinks`` facet such as a Dagster
        asset key) meaning its newest recorded version, a digest: the version of the one dataset that holds
        it, or ``REF@DIGEST`` (:mod:`prov_common.w3cprov.version_ref`): dataset ``REF``'s version at that digest. A
        name of several datasets (an asset key names each of its partitions), or a digest several datasets hold
        (equal bytes), is refused, naming them and the ``REF@DIGEST`` of each: which one's version is meant is the
        user's to say; so is ``REF@DIGEST`` where ``REF``'s dataset has no version at that digest, naming its versions."""
        given = ref
        ref = self.digest_meant(ref) or ref
        named = self.datasets_named(ref)
        if len(named) > 1:
            raise several_datasets(given, [n.dataset for n in named], digest=ref == named[0].version)
        if named:
            return named[0].version, named[0].dataset
        source = self.source_named(ref, given)
        if source is not None:
            return source.version or "", source
        unversioned = self.recorded_without_digest(ref)
        if unversioned:
            raise no_version_recorded(given, unversioned)
        raise nothing_named(given)

    def source_named(self, ref: str, given: str | None = None) -> SourceUse | None:
        """The registered source version that ``ref`` (a digest, whole or its first hex digits, ``LOCATION@DIGEST``, or
        ``LOCATION``) names where no recorded run holds it (:meth:`source_versions`), as :meth:`resolve` gives it; None
        where none does. Refused where sources registered at several locations hold it (:func:`several_sources`,
        naming ``given``, else ``ref``), where sources of several digests are registered at ``LOCATION``
        (:func:`several_source_versions`), or where a prefix begins several digests."""
        query = digest_query(ref)
        held = self.source_versions(self.expand_digest(query) if query is not None and self._digests_starting(query) else ref)
        if len(held) > 1 and query is None and split_version(ref)[1] is None:  # a location: one dataset, several digests
            raise several_source_versions(given or ref, held, self.recorded_elsewhere(held))
        if len(held) > 1:
            raise several_sources(given or ref, held)
        if not held:
            return None
        s = held[0]
        namespace, name = located_dataset(s.location) or ("", s.name)
        return SourceUse(namespace, name, normal_version(s.digest), source=s)

    def source_versions(self, ref: str) -> list[SourceRecord]:
        """The registered source versions (digest and location: :func:`~prov_common.sources.merged.source_version_key`)
        that ``ref`` names where no recorded run holds it, one record of each, first registered first: those of the digest
        ``ref``; of ``LOCATION@DIGEST``, those registered at ``LOCATION`` with a digest that ``DIGEST`` means; of
        ``LOCATION`` (a path or URI: :func:`~prov_common.w3cprov.identity.location_of_ref`), those registered there. A
        location shown spelled out (``/data/caf\\xe9.csv``, alone or as ``LOCATION@DIGEST``) names the sources there
        where none is registered at it as written (:func:`~prov_common.w3cprov.identity.as_written_else_unescaped`),
        as a dataset's label does (:meth:`namings`)."""
        return as_written_else_unescaped(ref, self._source_versions_as_written)

    def _source_versions_as_written(self, ref: str) -> list[SourceRecord]:
        held = self.sources.get(normal_version(ref), [])
        base, query = split_version(ref)
        if not held and query is not None and (here := source_dataset(base)):
            held = [s for same in self.sources.values() for s in same
                    if digest_starts(s.digest, query) and source_dataset(s.location) == here]
        elif not held and query is None and digest_query(ref) is None and location_of_ref(ref) is not None:
            here = source_dataset(ref)
            held = [s for same in self.sources.values() for s in same if source_dataset(s.location) == here]
        return [records[0] for records in by_key(sorted(held, key=lambda s: sortable_time(s.registered_at))).values()]

    def recorded_elsewhere(self, sources: Iterable[SourceRecord]) -> dict[str, list[str]]:
        """Per digest of ``sources`` that runs recorded, the labels of the datasets they recorded at it (equal bytes at
        those datasets' own locations), each once, in order."""
        found: dict[str, list[str]] = {}
        for s in sources:
            digest = normal_version(s.digest)
            labels = [use.label for table in (self.generated, self.used_by) for key, uses in table.items()
                      if key[2] == digest for _, use in uses[:1]]
            if labels:
                found[digest] = list(dict.fromkeys(labels))
        return found

    def recorded_without_digest(self, ref: str) -> list[tuple[RunRecord, bool]]:
        """The runs that name the dataset ``ref`` names without a digest, each with whether it wrote it (else read
        it), newest first: none of them gave it a version (:meth:`resolve` finds none). A label shown spelled out names
        its dataset here too (:func:`~prov_common.w3cprov.identity.as_written_else_unescaped`), as in :meth:`namings`."""
        return as_written_else_unescaped(ref, self._without_digest_as_written)

    def _without_digest_as_written(self, ref: str) -> list[tuple[RunRecord, bool]]:
        found = self._uses_without_digest(ref)
        return list({(r.run_id, wrote): (r, wrote) for r, wrote, _ in found}.values())

    def _uses_without_digest(self, ref: str) -> list[tuple[RunRecord, bool, DatasetUse]]:
        """Each use without a digest of a dataset ``ref`` names as written, with its run and whether it wrote it (else
        read it), newest run first."""
        located = location_of_ref(ref)
        return [(r, wrote, d) for r in sorted(self.runs.values(), key=run_order, reverse=True)
                for wrote, uses in ((True, r.outputs), (False, r.inputs))
                for d in uses if not d.version and names_dataset(ref, located, d)]

    def _digests_starting(self, query: str) -> set[str]:
        """Recorded versions and registered sources' digests that the digest query ``query`` means."""
        found = {key[2] for table in (self.generated, self.used_by) for key in table if digest_starts(key[2], query)}
        return found | {d for d in self.sources if digest_starts(d, query)}

    def digest_meant(self, ref: str) -> str | None:
        """The recorded digest (a version's or a registered source's) that ``ref`` gives as a digest, else None (``ref``
        is read as a dataset), by the rule of every verb (:func:`~prov_common.w3cprov.version_ref.read_as_digest`): with
        ``algo:``, a digest (:meth:`expand_digest`); hex digits alone, a digest where they begin one and name no dataset
        (by any of its names, recorded with a digest or without), refused where they do both."""
        query = digest_query(ref)
        if query is None or not read_as_digest(ref, self._digests_starting(query), lambda: self._datasets_naming(ref)):
            return None
        return self.expand_digest(query)

    def _datasets_naming(self, ref: str) -> list[tuple[str, str]]:
        """``(namespace, name)`` of each dataset a run names ``ref``, at a version (:meth:`namings`) or without one."""
        return [*((n.dataset.namespace, n.dataset.name) for n in self.namings(ref)),
                *((d.namespace, d.name) for _, _, d in as_written_else_unescaped(ref, self._uses_without_digest))]

    def expand_digest(self, prefix: str) -> str:
        """The recorded version (of any dataset, or a registered source's digest) whose digest starts with
        ``prefix`` (at least 12 hex digits, as ``tdprov runs`` prints them, with or without ``blake3:``)."""
        query = digest_query(prefix)
        if query is None:
            raise BadInputError(f"'{prefix}' is not a content digest or the start of one.", fix=DIGEST_RULE)
        prefix = query
        found = self._digests_starting(query)
        if len(found) == 1:
            return found.pop()
        if not found:
            raise no_version_starting(prefix)
        raise BadInputError(f"'{prefix}' begins {len(found)} recorded digests ({', '.join(sorted(found)[:3])}...).",
                            fix="pass more of the digest")

    def namings(self, ref: str, *, skip: Container[str] = ()) -> list["Naming"]:
        """Every way a run names ``ref``: as a version it wrote or read, or a dataset of that name at any version
        (of ``NAMESPACE::NAME``, only that dataset: :func:`~prov_common.w3cprov.identity.written_as_pair`); of a label
        shown spelled out, that dataset's where ``ref`` as written names none
        (:func:`~prov_common.w3cprov.identity.as_written_else_unescaped`). ``skip``: run ids whose namings do not count."""
        return as_written_else_unescaped(ref, lambda text: self._namings_as_written(text, skip))

    def _namings_as_written(self, ref: str, skip: Container[str]) -> list["Naming"]:
        located = location_of_ref(ref)
        found = [Naming(table is self.generated, run_order(run), key[2], d, run.run_id)
                 for table in (self.generated, self.used_by) for key, uses in table.items() for run, d in uses
                 if run.run_id not in skip and (ref == key[2] or names_dataset(ref, located, d))]
        return [n for n in found if written_as_pair(ref, n.dataset.namespace, n.dataset.name)] or found

    def newest_naming(self, ref: str, *, skip: Container[str] = ()) -> "Naming | None":
        """The version :meth:`resolve` picks among the runs (not the sources): a version some run wrote
        beats one only read, then the newest run, then the larger digest; None when no run names ``ref``.
        ``skip``: run ids whose namings do not count."""
        return max(self.namings(ref, skip=skip), key=Naming.rank, default=None)

    def generation_named(self, naming: "Naming") -> str | None:
        """The id of the run that generated the version ``naming`` means: the run that named it, when it wrote it; else
        (a read) the generation its reader read, by identity (None: no recorded run made it, an origin)."""
        if naming.generated:
            return naming.run_id
        made = self.generator(naming.dataset, self.runs.get(naming.run_id))
        return made[0].run_id if made is not None else None

    def version_namings(self, ref: str, *, skip: Container[str] = ()) -> list["Naming"]:
        """:meth:`namings` of ``ref``; of ``REF@DIGEST`` (:func:`~prov_common.w3cprov.version_ref.split_version`), where
        ``ref`` as a whole names nothing, those of ``REF`` at a version ``DIGEST`` means. ``REF@DIGEST`` is refused
        where ``REF`` names recorded datasets but none has a version that ``DIGEST`` means (naming their versions,
        newest first) and no source is registered at ``REF`` with such a digest (that source version is no recorded
        one: none is named, and :meth:`resolve` finds the source), or where the digest prefix begins several versions
        of one dataset."""
        found = self.namings(ref, skip=skip)
        base, query = split_version(ref)
        if found or query is None:
            return found
        namings = self.namings(base, skip=skip)
        meant = [n for n in namings if digest_starts(n.version, query)]
        if namings and not meant and not self.source_versions(ref):
            newest = sorted(namings, key=Naming.rank, reverse=True)
            shown = labels_as_named(base, [n.dataset for n in newest])
            raise no_version_at(base, query, list(dict.fromkeys(shown.values())),
                                [(shown[n.dataset.namespace, n.dataset.name], n.version) for n in newest])
        at: dict[tuple[str, str], dict[str, DatasetUse]] = {}
        for n in sorted(meant, key=Naming.rank, reverse=True):
            at.setdefault((n.dataset.namespace, n.dataset.name), {})[n.version] = n.dataset
        for versions in at.values():
            if len(versions) > 1:
                texts = [f"{d.label}@{v}" for v, d in versions.items()]
                raise BadInputError(f"{query!r} begins {len(versions)} versions of {next(iter(versions.values())).label!r}: "
                                    f"{quoted_list(texts, SHOWN_VERSIONS)}.", fix="pass more of the digest")
        return meant

    def datasets_named(self, ref: str, *, skip: Container[str] = ()) -> list["Naming"]:
        """The newest naming (as :meth:`newest_naming` picks it) of each dataset that ``ref`` names, newest first:
        one, unless ``ref`` is another name of several datasets (a Dagster asset key names each of its
        partitions) or a digest several datasets hold; of ``REF@DIGEST``, its version at that digest
        (:meth:`version_namings`)."""
        newest: dict[tuple[str, str], Naming] = {}
        for naming in sorted(self.version_namings(ref, skip=skip), key=Naming.rank):
            newest[(naming.dataset.namespace, naming.dataset.name)] = naming
        return sorted(newest.values(), key=Naming.rank, reverse=True)


SHOWN_DATASETS = 10  # datasets a message names; the rest are counted
SHOWN_RUNS = 3  # runs a message names; the rest are counted


def no_version_recorded(ref: str, runs: list[tuple[RunRecord, bool]]) -> BadInputError:
    """The error for ``ref``, a dataset that the ``runs`` (each with whether it wrote it) recorded without a content
    digest only: it is recorded, but has no version to name."""
    from prov_common.audit.article10 import FIX_HASHED, SOURCE_ADD  # imported on use: article10 imports this module

    named = recorded_by(runs)
    return BadInputError(
        f"dataset '{ref}' is recorded ({named}) but without a content digest, so it has no version "
        "to name.",
        fix=f"have the step that writes it record its digest ({FIX_HASHED}), then re-run that step; data from outside "
            f"the pipelines gets a digest when registered with '{SOURCE_ADD}'; 'tdprov lineage {ref}' shows the runs",
    )


def recorded_by(runs: list[tuple[RunRecord, bool]]) -> str:
    """The runs (each with whether it wrote the dataset, else read it) as messages name them: ``read by run R, ...``."""
    return first_of([f"{'written' if wrote else 'read'} by run {r.run_id}" for r, wrote in runs], SHOWN_RUNS)


def recorded_without_version(location: str, runs: list[tuple[RunRecord, bool]]) -> str:
    """The fact that the ``runs`` (:meth:`LineageIndex.recorded_without_digest`) named the dataset at ``location``, a
    registered source's, without a content digest: which version they wrote or read is not recorded, so no lineage
    joins them to the source's."""
    from prov_common.audit.article10 import FIX_HASHED  # imported on use: article10 imports this module

    return (f"{location} is recorded without a content digest ({recorded_by(runs)}): which version those runs wrote or "
            f"read is not recorded, so their lineage does not reach the registered source (have the step that writes or "
            f"reads it record its digest: {FIX_HASHED}, then re-run that step)")


def several_sources(ref: str, sources: list[SourceRecord]) -> BadInputError:
    """The error for ``ref``, a digest that registered sources at several locations hold (equal bytes, each location a
    dataset of its own: :meth:`LineageIndex.source_versions`), naming each (name, location) and the ``LOCATION@DIGEST``
    text that names it alone, each location as :func:`source_locations` shows it."""
    places = source_locations(sources)
    shown = first_of([f"'{s.name}' at {places.get(s.location, 'no location')}" for s in sources], SHOWN_DATASETS)
    pastes = quoted_list([pasted(places[s.location], s.digest) for s in sources if s.location], SHOWN_DATASETS)
    unplaced = ("; a source registered with no location has no dataset to name: register it again at its location "
                "('tdprov source add LOCATION --digest ...')" if any(not s.location for s in sources) else "")
    return BadInputError(
        f"'{ref}' is held by {len(sources)} registered sources at different locations (equal bytes in each, which is no "
        f"lineage between them): {shown}.",
        fix=f"name the one meant by its location as LOCATION@DIGEST: {pastes}{unplaced}")


def source_locations(sources: Iterable[SourceRecord]) -> dict[str, str]:
    """How a message listing ``sources`` shows each one's location: as registered, or, where only Unicode normalisation
    tells it apart from another of them (``/data/café.csv`` composed and decomposed), spelled out as a listing of
    datasets shows a label (:func:`~prov_common.w3cprov.identity.distinct_labels`), which names that source when
    pasted back (:meth:`LineageIndex.source_versions`)."""
    shown = distinct_labels((None, s.location) for s in sources if s.location)  # a location is its own label
    return {location: text for (_, location), text in shown.items()}


def several_source_versions(ref: str, sources: list[SourceRecord],
                            elsewhere: dict[str, list[str]] | None = None) -> BadInputError:
    """The error for ``ref``, a location where sources of several digests are registered (one dataset, several
    versions: :meth:`LineageIndex.source_versions`) and no run recorded a version, naming each (name, digest) and the
    ``LOCATION@DIGEST`` text that names it alone; ``elsewhere`` (:meth:`LineageIndex.recorded_elsewhere`): the
    datasets of equal bytes that runs recorded at those digests, named as what they are."""
    shown = first_of([f"'{s.name}' {s.digest}" for s in sources], SHOWN_DATASETS)
    shorts = distinct_short_digests([s.digest for s in sources])  # digests that share a beginning are told apart
    pastes = quoted_list([f"{s.location or ref}@{short}" for s, short in zip(sources, shorts)], SHOWN_DATASETS)
    others = first_of([f"{digest} as {first_of(labels, SHOWN_DATASETS, ' and ')}"
                       for digest, labels in (elsewhere or {}).items()], SHOWN_DATASETS, "; ")
    equal = f"; runs recorded {others}: equal bytes in another dataset, no version of this one" if others else ""
    return BadInputError(
        f"'{ref}' is the location of {len(sources)} registered source versions (a digest each, none of them recorded by "
        f"a run at this location{equal}): {shown}.",
        fix=f"name the version meant as LOCATION@DIGEST: {pastes}")


def several_datasets(ref: str, datasets: list[DatasetUse], digest: bool = False) -> BadInputError:
    """The error for a name that means several datasets where one version is needed (an asset key of a
    partitioned asset, an asset key of several Dagster namespaces (:func:`_namespaced`: each named with its namespace
    too), a location that is also another namespace's ``namespace/name``, the name of a dataset in each of several
    namespaces), or (``digest``) a digest
    several datasets hold, naming each by a text that names it alone (its label, or ``NAMESPACE::NAME`` where
    another of them shares the label: :func:`~prov_common.w3cprov.identity.distinct_labels`) and the
    ``REF@DIGEST`` text that names each one's version (for a name, its newest; for a name at a digest, ``REF@DIGEST``, each
    one's version at that digest)."""
    labels, placed = _named(ref, datasets)
    shown = quoted_list([labels[d.namespace, d.name] for d in datasets], SHOWN_DATASETS)
    base, query = split_version(ref)
    at_digest = query is not None and all(d.version and digest_starts(d.version, query) for d in datasets)  # REF@DIGEST
    keyed = None if digest else _namespaced(base if at_digest else ref, datasets)
    pastes = quoted_list([pasted(labels[d.namespace, d.name], d.version or "") for d in datasets if d.version],
                         SHOWN_DATASETS)
    lineage = f"'tdprov lineage {ref}' shows each of them"
    if digest:
        what = (f"'{ref}' is held by {len(datasets)} datasets (equal bytes in each, which is no lineage between them)"
                if all(d.names_content for d in datasets) else  # ref may be a digest's first hex digits
                f"'{ref}' is a version of {len(datasets)} datasets (a version name their producer gave, not their content)")
        fix = f"name one dataset's version as DATASET@DIGEST; paste one of {pastes} ({lineage})"
    else:
        tail = ref[len(base):] if at_digest else ""  # '@DIGEST'
        versions = f"their versions at {tail[1:]} are {pastes}" if at_digest else f"their newest are {pastes}"
        if keyed is not None:  # another name each dataset's namespace gives it alone
            kind = "an asset key" if all(k.startswith(_DAGSTER_SCHEME) for k in keyed) else "another name"
            what = f"'{ref}' names {len(datasets)} datasets ({kind} of {len(keyed)} namespaces, each a dataset of its own)"
            texts = quoted_list([k + tail for k in keyed], SHOWN_DATASETS)
            newest = "" if at_digest else ", or by its path or URI as listed, which means its newest version"
            fix = f"name one with its namespace: {texts}{newest}; or one version as DATASET@DIGEST: {versions} ({lineage})"
        else:
            alike = len({dataset_label(*d) for d in labels}) < len(labels)  # some are shown as NAMESPACE::NAME
            spelled = bool(placed)
            apart = alike or spelled or any(spelled_apart(d.namespace) for d in datasets)
            why = ("datasets whose paths or URIs are written alike, each a dataset of its own" if alike
                   else "a location that several OpenLineage namespaces spell, each a dataset of its own" if apart
                   else "a name of a dataset in each of several namespaces, each a dataset of its own"
                   if len({d.name for d in datasets}) == 1  # postgres://db:5432 and bigquery tables alike named
                   else "the partitions of an asset, or data it wrote to several places")
            what = f"'{ref}' names {len(datasets)} datasets ({why})"
            shares = ("one whose path or URI another shares" if alike else "one at a location another's URI also spells"
                      if spelled else "a namespace with a path")
            how = f"as listed ({shares} is written NAMESPACE::NAME)" if apart else "by its path or URI as listed"
            fix = (f"name one version as DATASET@DIGEST: {versions} ({lineage})" if at_digest else
                   f"name one {how}, which means its newest version, or one version as DATASET@DIGEST: {versions} ({lineage})")
    return BadInputError(f"{what}: {shown}.", fix=fix)


_DAGSTER_SCHEME = "dagster://"
"""How the namespace of a Dagster asset key in the events' ``symlinks`` begins."""


def _namespaced(ref: str, datasets: list[DatasetUse]) -> list[str] | None:
    """The ``NAMESPACE/NAME`` of ``ref`` in the ``symlinks`` of each of ``datasets``
    (:attr:`~prov_common.audit.model.DatasetUse.aliases`), where ``ref`` is that other name of each of them without its
    namespace (an asset key that Dagster deployments of several namespaces gave their data) and each namespace's one
    names one of them alone; else None (a partitioned asset's key names each partition in one namespace)."""
    keyed = []
    for d in datasets:
        if ref not in d.aliases:
            return None
        own = [a for a in d.aliases if "://" in a and a.partition("://")[2].partition("/")[2] == ref]
        if len(own) != 1:
            return None
        keyed.append(own[0])
    return keyed if len(set(keyed)) == len(keyed) > 1 else None


def labels_as_named(ref: str, datasets: Iterable[DatasetUse]) -> dict[tuple[str | None, str], str]:
    """How a message about ``ref`` shows ``datasets``: each by a text that names it alone among them
    (:func:`~prov_common.w3cprov.identity.distinct_labels`), and as ``NAMESPACE::NAME`` where ``ref`` wrote it so."""
    return _named(ref, datasets)[0]


def _named(ref: str, datasets: Iterable[DatasetUse]) -> tuple[dict[tuple[str | None, str], str], set[tuple[str | None, str]]]:
    """:func:`labels_as_named` and the datasets among them placed alike (:func:`_placed_alike`). Each is labelled as
    ``NAMESPACE::NAME`` where placed alike or written so in ``ref``, else by its label, and the labels told apart by
    :func:`~prov_common.w3cprov.identity.distinct_labels`: two pairs that are one text (``a::::c`` of ``(a:, :c)`` and
    ``(a, ::c)``, both written so by ``ref``) or look alike (``s3://b::café`` composed and decomposed) were shown alike."""
    unique = list(dict.fromkeys((d.namespace, d.name) for d in datasets))
    placed = _placed_alike(unique)
    as_pair = {ref, *(pair_text(*d) for d in placed)}

    def label(namespace: str, name: str) -> str:
        pair = pair_text(namespace, name)
        return pair if pair in as_pair else dataset_label(namespace, name)

    return distinct_labels(unique, label), placed


def _placed_alike(datasets: Iterable[tuple[str | None, str]]) -> set[tuple[str | None, str]]:
    """The datasets of ``datasets`` at one location with another of them: in a namespace spelled otherwise (``s3://b``,
    ``s3a://b``: :func:`~prov_common.w3cprov.identity.store_namespace`), or whose ``namespace/name`` is that location
    (``(s3://lake/raw, x)`` beside ``(s3://lake, raw/x)``). The location, or either's URI, names both, so each is named
    alone by ``NAMESPACE::NAME``."""
    at: dict[tuple[str, str], list[tuple[str | None, str]]] = {}
    for d in datasets:
        at.setdefault(_location(d[0] or "", d[1]), []).append(d)
    return {d for group in at.values() if len(group) > 1 for d in group}


def _location(namespace: str, name: str) -> tuple[str, str]:
    """The dataset at the location the URI ``namespace/name`` spells (:func:`~prov_common.w3cprov.identity.
    located_dataset`), a trailing ``/`` aside; for a namespace that is no such URI, the dataset itself."""
    placed = located_dataset(f"{namespace.rstrip('/')}/{name.lstrip('/')}") if namespace.partition("://")[2] else None
    if placed is None or "://" not in placed[0]:
        return store_namespace(namespace), name.rstrip("/")
    return placed[0], placed[1].rstrip("/")


def names_dataset(ref: str, located: tuple[str, str] | None, d: DatasetUse) -> bool:
    """Whether ``ref`` (given by a user; ``located``: :func:`~prov_common.w3cprov.identity.location_of_ref`
    of it) names the dataset of ``d``: by its label or URI (:func:`~prov_common.w3cprov.identity.spells`), by
    location (only the dataset there), or, when ``ref`` is
    not a location, by its name alone or another of its names (a Dagster asset key); a URI that is another name's
    ``namespace/name`` (``dagster://default/raw/orders``) names the datasets named so."""
    # whether ref is a location (else a name, or a relative path, which may also be a name) is asked last: for a
    # dbfs:/ path that takes its dataset's naming, and most uses a ref is matched against have another name
    return (spells(ref, d.namespace, d.name) or at_location(located, d.namespace, d.name)
            or (ref == d.name and not is_location(ref)) or (ref in d.aliases and ("://" in ref or not is_location(ref))))


@dataclass(frozen=True)
class Naming:
    """A version that a name can mean: whether a run wrote it (else only read it), when, how it was named, and by
    which run's event: a name other than a location (a Dagster asset key in ``symlinks``) means only the versions
    whose events carry it, never another version of the dataset it was once given to."""

    generated: bool
    order: str
    version: str
    dataset: DatasetUse
    run_id: str = ""  # the run whose event names it so

    def rank(self) -> tuple[bool, str, str]:
        """How the versions a name means are ordered, newest last: one a run wrote, then the run's time, then the digest."""
        return self.generated, self.order, self.version
