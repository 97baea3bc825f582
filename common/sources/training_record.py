"""The provenance record of a training dataset version, in the D&TA Data Provenance Standards shape
(all 22 fields) and as Croissant 1.0 JSON-LD with its RAI fields: every source and every
transformation run between them and the version (no I/O; reading the data for checksums is passed in).

The runs come from the lineage walk (:meth:`LineageIndex.trace`); this module only shapes its output.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from prov_common.audit.lineage import LineageIndex, SourceUse, Trace, recorded_without_version, run_order
from prov_common.audit.model import DatasetUse, RunRecord
from prov_common.audit.quality_gaps import failed_validation, lineage_quality
from prov_common.audit.rehash import data_location
from prov_common.bundle.layout import bundle_prefix
from prov_common.errors import BadInputError
from prov_common.sources.bundle_location import Locator, SignedOutput
from prov_common.sources.checksums import FileFacts
from prov_common.sources.dta import NOT_APPLICABLE, UNKNOWN, date_range, dta_document, dta_gaps, if_personal, unknown_required
from prov_common.sources.media import media_type_of_path
from prov_common.sources.merged import SourceVersion, by_version, disagreements, records_of, source_dataset
from prov_common.sources.model import CONFIDENTIALITY, PERSONAL_DATA, SourceRecord
from prov_common.sources.registry import source_key
from prov_common.store.keys import location_uri, object_uri
from prov_common.w3cprov.identity import normal_version, sortable_time
from prov_common.w3cprov.ids import digest_local_name
from prov_common.text import counted

FORMATS = ("dta", "croissant")
_PERSONAL_ORDER = {v: i for i, v in enumerate(("none", "anonymised", "pseudonymised", "personal", "sensitive"))}
assert set(_PERSONAL_ORDER) == set(PERSONAL_DATA)

FileCheck = Callable[[str, str, "str | None"], FileFacts]  # (location, version, signed sha256) -> facts about the bytes there


@dataclass(frozen=True)
class RecordOptions:
    """What the record cannot learn from the lineage: who issues it and where the data is processed and stored.

    ``store_uri`` locates the metadata (bundles, source records); ``file_check`` reads the data for
    its checksum (None: no data is read and no FileObject is described); ``locate`` reads what the
    generating run signed about the version: where it recorded the data, when the run summary does not say,
    and the SHA-256 of the bytes it wrote (see :mod:`.bundle_location`).
    """

    store_uri: str = ""
    issuer: str | None = None
    processing_geography: tuple[str, ...] = ()
    storage_geography: tuple[str, ...] = ()
    file_check: FileCheck | None = None
    locate: Locator | None = None


@dataclass(frozen=True)
class Issue:
    """A content a dataset held from one run on: its version, the date of that run (``YYYY-MM-DD``), and the runs that
    wrote it, that one and the next ones until the content changed."""

    at: str
    version: str
    runs: tuple[str, ...]


@dataclass(eq=False)
class RecordFacts:
    """Everything both record shapes say about one version, gathered once."""

    version: str
    dataset: DatasetUse
    trace: Trace
    options: RecordOptions
    sources: list[SourceRecord] = field(default_factory=list)
    history: list[Issue] = field(default_factory=list)  # the dataset's contents as runs issued them, oldest first
    # the Pandera results on the version and every version upstream of it, by whichever run recorded them
    # (:func:`~prov_common.audit.quality_gaps.lineage_quality`, as the audit's Article 10 section counts them)
    quality: list[dict[str, Any]] = field(default_factory=list)
    # every registered source record of the store (:meth:`source_issues` numbers a source that no run generated)
    registered: list[SourceRecord] = field(default_factory=list)
    # for a registered source no run generated: the runs that named its location without a digest, each with whether
    # it wrote it (:meth:`~prov_common.audit.lineage.LineageIndex.recorded_without_digest`)
    unversioned: list[tuple[RunRecord, bool]] = field(default_factory=list)

    @property
    def generator(self) -> RunRecord | None:
        return self.trace.runs[0] if self.trace.runs else None

    @cached_property
    def own_sources(self) -> list[SourceRecord]:
        """The sources of the lineage whose facts (licence, issuer, consent, ...) the record gives as the version's:
        those registered at the location of a version the walk reached; for a source that a digest alone named
        (:class:`~prov_common.audit.lineage.SourceUse`), its records at its own location
        (:func:`~prov_common.sources.merged.source_version_key`). A recorded dataset is never taken for a source by its
        namespace or name."""
        resolved = self.dataset.source if isinstance(self.dataset, SourceUse) else None
        if resolved is None:
            return [s for s in self.sources if s not in self.trace.by_content]
        return records_of(self.sources, resolved.digest, resolved.location)

    @cached_property
    def source_versions(self) -> list[SourceVersion]:
        """The own sources read per source version, as the audit reads them
        (:func:`~prov_common.sources.merged.by_version`)."""
        return by_version(self.own_sources)

    @property
    def own_versions(self) -> list[SourceRecord]:
        """The own sources as both record shapes give their facts: one record per digest and location, each field from
        the newest record that sets it, named by the first registered (:attr:`source_versions`)."""
        return [v.record for v in self.source_versions]

    @property
    def content_matches(self) -> list[SourceRecord]:
        """Sources registered with a digest of the lineage at another location only (matched by content): another
        dataset's, shown as a fact, never giving the version its licence, issuer or consent."""
        own = self.own_sources
        return [s for s in self.sources if s not in own]

    @cached_property
    def own_source_version(self) -> SourceVersion | None:
        """The registered source version that is this version, when no recorded run generated it: the records
        registered at the dataset's own location with its digest, never one of equal bytes elsewhere, read together as
        the audit reads a source version (:func:`~prov_common.sources.merged.by_version`: named by the first
        registered, each field from the newest record that sets it)."""
        if self.generator is not None:
            return None
        wanted = normal_version(self.version)
        return next((v for v in self.source_versions if normal_version(v.record.digest) == wanted), None)

    @property
    def own_source(self) -> SourceRecord | None:
        """The merged record of :attr:`own_source_version`."""
        return self.own_source_version.record if self.own_source_version is not None else None

    @cached_property
    def location(self) -> str | None:
        """Where the data lives (a local path or ``s3://`` URI), when the record knows."""
        if self.own_source is not None and self.own_source.location:
            return self.own_source.location
        found = self.dataset.location or data_location(self.dataset.namespace, self.dataset.name)
        if found is None and self.signed_output is not None:
            found = self.signed_output.location
        return found

    @cached_property
    def signed_output(self) -> SignedOutput | None:
        """What the generating run's verified bundle signs about the version (None: no run, or not read)."""
        if self.generator is None or self.options.locate is None:
            return None
        return self.options.locate(self.generator, self.dataset)

    @property
    def content_url(self) -> str | None:
        """The location as a fetchable URI: ``file:///abs/path`` or ``s3://bucket/key``."""
        return location_uri(self.location)

    @property
    def ordinal(self) -> int | None:
        """The number of the issue (:func:`dataset_history`) this version is: the one its generating run belongs
        to, so a content the dataset returns to is a new issue (None: not generated by a run)."""
        found = [n for n, issue in enumerate(self.history, 1) if issue.version == normal_version(self.version)]
        made_by = self.generator.run_id if self.generator is not None else None
        return next((n for n in reversed(found) if made_by in self.history[n - 1].runs), found[-1] if found else None)

    @property
    def issued(self) -> str | None:
        """When this issue of the version was first generated (or the source issued it: its ``--issue-date``, else
        the date this content was first registered under the source's name)."""
        if self.ordinal:
            return self.history[self.ordinal - 1].at or None
        if self.own_source is None:
            return None
        registered = {i.version: i.at for i in self.source_issues()}.get(normal_version(self.version))
        return self.own_source.issue_date or registered or None

    def source_issues(self) -> list[Issue]:
        """The contents registered under the name of the source that is this version at its location (under that name
        elsewhere: another dataset's), in the order they were first registered (a content registered again is not a
        new one), each with the date of that first registration."""
        own = self.own_source
        if own is None:
            return []
        here = source_dataset(own.location)
        first: dict[str, str] = {}
        for s in sorted((s for s in (*self.registered, *self.sources) if s.name == own.name and source_dataset(s.location) == here),
                        key=lambda s: sortable_time(s.registered_at)):
            first.setdefault(normal_version(s.digest), s.registered_at[:10])
        return [Issue(at, version, ()) for version, at in first.items()]

    @property
    def previous_issued(self) -> str | None:
        """When the dataset's content before this issue was first generated (``not applicable`` for its first)."""
        if self.ordinal:
            return self.history[self.ordinal - 2].at if self.ordinal > 1 else NOT_APPLICABLE
        return None

    @property
    def semver(self) -> str | None:
        """``<n>.0.0+<algorithm>.<first 12 hex>``: each change of the dataset's content is a new major version; for a
        registered source that no run generated, ``n`` numbers its contents as first registered (:meth:`source_issues`)."""
        number = self.ordinal
        if not number and self.own_source is not None:  # its own digest is among those registered under its name
            number = [i.version for i in self.source_issues()].index(normal_version(self.version)) + 1
        if not number:
            return None
        return f"{number}.0.0+{'.'.join(self.version_tag)}"

    @property
    def version_tag(self) -> tuple[str, str]:
        """The version as short identifiers name it (the build metadata of :attr:`semver`, the Croissant citation's
        key): a content digest as its algorithm and first 12 hex digits; any other version (another producer's ``3``, a
        time) as ``version`` and the first 12 hex digits of its text's SHA-256, since it has no hex digits of its own and
        may hold characters neither identifier allows."""
        digest = digest_local_name(self.version)
        if digest is not None:
            algo, _, hexdigest = digest.partition("-")
            return algo, hexdigest[:12]
        return "version", hashlib.sha256(self.version.encode("utf-8", "surrogatepass")).hexdigest()[:12]

    @property
    def metadata_location(self) -> str | None:
        """URI of the signed metadata of this version: its generating run's bundle, or the source record."""
        if self.own_source_version is not None:
            return self.version_metadata_location(self.own_source_version)
        if self.generator is None or not self.options.store_uri:
            return None
        return object_uri(self.options.store_uri, bundle_prefix(self.generator.run_id))

    def source_metadata_location(self, s: SourceRecord) -> str | None:
        """Where the source's metadata is published: as registered, else its signed record in the store."""
        if s.metadata_location or not self.options.store_uri:
            return s.metadata_location
        return object_uri(self.options.store_uri, source_key(s.name, s.digest))

    def version_metadata_location(self, v: SourceVersion) -> str | None:
        """Where a source version's metadata is published: as registered (the newest record that sets it), else the
        signed record of its newest record, the one whose fields the record gives first; every record read together is
        named where they disagree (:func:`~prov_common.sources.merged.disagreements`)."""
        return v.record.metadata_location or self.source_metadata_location(v.newest)

    def disagreements(self) -> list[str]:
        """The licences and issuers that the records of a source version of the lineage state otherwise (a fact)."""
        return [said for v in self.source_versions for said in disagreements(v)]

    @property
    def media_type(self) -> str | None:
        """Media type of the dataset's own file (by its location, else its name)."""
        return media_type_of_path(self.location) or media_type_of_path(self.dataset.name)

    @property
    def issuer(self) -> str | None:
        """The source's issuer for a registered source; else the configured organisation (never a job namespace)."""
        if self.own_source is not None:
            return self.own_source.issuer
        return self.options.issuer

    def file_facts(self) -> FileFacts:
        location = self.location
        if location is None:
            return FileFacts(problem=f"no location of the data of {self.dataset.label} was recorded")
        if self.content_url is None:  # a relative path (older source records): no URL a file of the record could have
            return FileFacts(problem=f"the location of the data of {self.dataset.label}, {location!r}, is relative: "
                                     "register the source again with its absolute path or URI (tdprov source add)")
        if self.options.file_check is None:
            return FileFacts(problem="the data was not read for this record")
        signed = self.signed_output.sha256 if self.signed_output is not None else None
        return self.options.file_check(location, self.version, signed)

    @property
    def complete(self) -> bool:
        """Whether the lineage reaches registered sources without a gap and no validation on it failed."""
        return self.trace.complete and bool(self.sources) and all(q["passed"] for q in self.quality)

    def lineage_gaps(self) -> list[str]:
        """The broken links of the lineage, a missing source, and each failed validation on it (the audit's sentences)."""
        gaps = [f"{b.described}: {b.reason}" for b in self.trace.broken]
        if not self.sources:
            gaps.append("no registered source")
        if self.unversioned and self.location:
            gaps.append(recorded_without_version(self.location, self.unversioned))
        return gaps + [failed_validation(q) for q in self.quality if not q["passed"]]


def unique(values: Iterable[Any]) -> list[Any]:
    """The values that are not None, once each, in order."""
    out: list[Any] = []
    for v in values:
        if v is not None and v not in out:
            out.append(v)
    return out


def strictest(values: Iterable[str | None], order: list[str] | dict[str, int]) -> str | None:
    ranks = order if isinstance(order, dict) else {v: i for i, v in enumerate(order)}
    known = [v for v in values if v in ranks]
    return max(known, key=ranks.__getitem__) if known else None


def personal_data(sources: list[SourceRecord]) -> str | None:
    return strictest([s.personal_data for s in sources], _PERSONAL_ORDER)


def dataset_history(runs: Iterable[RunRecord], dataset: DatasetUse) -> list[Issue]:
    """Each time a run gave ``dataset`` (same namespace and name) a content other than the one it held: its first
    content, every change, and every return to an earlier content (A, B, A is three issues), oldest first; each
    version as identity compares it (:func:`~prov_common.w3cprov.identity.normal_version`: a digest's hex in lower case)."""
    issues: list[Issue] = []
    for r in sorted(runs, key=run_order):
        for d in r.outputs:
            if d.version and (d.namespace, d.name) == (dataset.namespace, dataset.name):
                version = normal_version(d.version)
                if issues and issues[-1].version == version:
                    issues[-1] = Issue(issues[-1].at, version, (*issues[-1].runs, r.run_id))
                else:
                    issues.append(Issue(run_order(r)[:10], version, (r.run_id,)))
    return issues


def _transformation(r: RunRecord) -> dict[str, Any]:
    return {"runId": r.run_id, "job": r.job, "state": r.state, "startedAt": r.started_at, "endedAt": r.ended_at,
            "inputs": [{"dataset": d.label, "version": d.version} for d in r.inputs],
            "outputs": [{"dataset": d.label, "version": d.version} for d in r.outputs]}


def dta_record(facts: RecordFacts) -> dict[str, Any]:
    """All 22 D&TA Data Provenance Standards (v1.0.0) fields of the version, then the transformations and gaps."""
    sources, d = facts.own_versions, facts.dataset
    if facts.own_source_version is not None:
        own = facts.own_source_version
        return _with_lineage(own.record.dta(facts.version_metadata_location(own)), facts)
    values = {
        "datasetTitle": d.label,
        "uniqueMetadataIdentifier": facts.version,
        "metadataLocation": facts.metadata_location,
        "datasetIssuer": facts.issuer,
        "descriptionOfTheDataset": f"{d.label} version {facts.version}" + (f", {counted(d.rows, 'row')}" if d.rows is not None else ""),
        "sourceMetadataForDataset": [v.record.dta(facts.version_metadata_location(v)) for v in facts.source_versions],
        "source": unique([s.source or s.issuer for s in sources]),
        "dataOriginGeography": unique([g for s in sources for g in s.origin_geography]),
        "datasetIssueDate": facts.issued,
        "dateOfPreviouslyIssuedVersion": facts.previous_issued,
        "rangeOfDatesForDataGeneration": date_range([s.collection_start for s in sources], [s.collection_end for s in sources]),
        "method": unique([s.generation_method for s in sources]) + [f"transformation: {r.job}" for r in reversed(facts.trace.runs)],
        "dataFormat": facts.media_type,
        "confidentialityClassification": strictest([s.confidentiality for s in sources], list(CONFIDENTIALITY)),
        "consentDocumentationLocation": if_personal(unique([s.consent for s in sources]), personal_data(sources)),
        "privacyEnhancingTechnologies": if_personal(unique([p for s in sources for p in s.privacy_technologies]), personal_data(sources)),
        "dataProcessingGeography": list(facts.options.processing_geography),
        "dataStorageGeography": list(facts.options.storage_geography),
        "licenseToUse": unique([s.license for s in sources]),
        "intendedDataUse": unique([s.intended_use for s in sources]),
        "proprietaryData": unique([p for s in sources for p in s.proprietary_data]),
    }
    return _with_lineage(dta_document(values, {"personalData": personal_data(sources) or UNKNOWN}), facts)


def content_match(s: SourceRecord) -> str:
    """The fact that source ``s``, registered elsewhere, holds bytes of the lineage, and what the record did not take."""
    where = f"at {s.location}" if s.location else "with no location"
    return (f"equal bytes are registered {where} as '{s.name}' (licence {s.license or UNKNOWN}, issuer {s.issuer or UNKNOWN}), "
            f"matched by content only: another dataset, so its licence, issuer, consent and other facts are not this "
            f"record's (register the data where the lineage read it with tdprov source add to give them)")


def _matched_by_content(facts: RecordFacts) -> list[dict[str, Any]]:
    return [{"name": s.name, "uniqueMetadataIdentifier": s.digest, "location": s.location,
             "metadataLocation": facts.source_metadata_location(s)}
            for s in facts.content_matches]


def _with_lineage(doc: dict[str, Any], facts: RecordFacts) -> dict[str, Any]:
    """``doc`` followed by the sources matched by content only, the transformations, whether the lineage is complete,
    and the gaps."""
    return {
        **doc,
        "matchedByContent": _matched_by_content(facts),
        "transformations": [_transformation(r) for r in reversed(facts.trace.runs)],
        "qualityChecks": facts.quality,
        "lineageComplete": facts.complete,
        "unknownRequiredFields": [f.key for f in unknown_required(doc)],
        "knownGaps": (facts.lineage_gaps() + facts.disagreements() + [content_match(s) for s in facts.content_matches]
                      + dta_gaps(doc)),
    }


def record_facts(index: LineageIndex, ref: str, options: RecordOptions) -> RecordFacts:
    """Resolve ``ref`` (a digest, or a dataset name meaning its newest version) and gather what records say about it."""
    version, dataset = index.resolve(ref)
    trace = index.trace(dataset)
    # a source a digest names: the others of equal bytes too, each another dataset (matched by content)
    equal = index.sources.get(version, []) if isinstance(dataset, SourceUse) else []
    location = dataset.source.location if isinstance(dataset, SourceUse) and dataset.source is not None else None
    return RecordFacts(version, dataset, trace, options, unique([*equal, *trace.sources]),
                       dataset_history(index.runs.values(), dataset),
                       lineage_quality(index, [dataset, *trace.validated]), [s for same in index.sources.values() for s in same],
                       index.recorded_without_digest(location) if location else [])


def training_record(index: LineageIndex, ref: str, fmt: str, options: RecordOptions | None = None) -> dict[str, Any]:
    """The record of ``ref`` (a digest or a dataset name: its newest version) in ``fmt`` (dta or croissant)."""
    if fmt not in FORMATS:
        raise BadInputError(f"unknown record format {fmt!r}.", fix=f"use one of: {', '.join(FORMATS)}")
    facts = record_facts(index, ref, options or RecordOptions())
    if fmt == "dta":
        return dta_record(facts)
    from prov_common.sources.croissant import croissant_record

    return croissant_record(facts)
