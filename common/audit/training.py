"""Training-data sections of the report: per training dataset version, EU AI Act Article 10 and
Annex IV (technical documentation on data) items, from the lineage and the source records (no I/O)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prov_common.audit.article10 import FIX_HASHED, FIX_SCHEMA, SOURCE_ADD, article10_items
from prov_common.audit.lineage import (
    NO_DIGEST,
    NO_INPUTS,
    NO_ORIGIN,
    OPAQUE_VERSION,
    BrokenLink,
    LineageIndex,
    Trace,
    version_of,
    version_origin_fix,
)
from prov_common.audit.model import DatasetUse, RunRecord
from prov_common.audit.quality_gaps import Results, failed_validation, lineage_quality
from prov_common.audit.rehash import version_at
from prov_common.sources.gaps import source_gaps
from prov_common.sources.merged import SourceVersion, by_version, disagreements, records_of
from prov_common.sources.model import SourceRecord
from prov_common.text import job_text
from prov_common.w3cprov.identity import VersionKey

_SOURCE_FIELDS = (  # what every source should record, with the option that records it
    ("origin_geography", "origin geography", "--origin-geography"),
    ("generation_method", "generation / collection method", "--generation-method"),
    ("collection_start", "collection start", "--collection-start"),
    ("personal_data", "personal data flag", "--personal-data"),
    ("intended_use", "intended use", "--intended-use"),
    ("confidentiality", "confidentiality classification", "--confidentiality"),
)
_QUALITY_FIX = "re-run on data that passes, or with quality_policy='block' the step stops"
_CONSENT = ("consent documentation or legal basis", "--consent|--legal-basis")  # asked of personal data only
_LINK_FIX = {  # what would close a broken link, by its reason
    NO_DIGEST: f"{FIX_HASHED}, then re-run the step; a source input is hashed once registered with {SOURCE_ADD}",
    NO_ORIGIN: f"{SOURCE_ADD} <data> --name ... --license ... --issuer ..., or record the run that made it",
    NO_INPUTS: f"{SOURCE_ADD} the data it made, or record what that run read",
}


def _link_fix(b: BrokenLink) -> str:
    """What would close the broken link ``b``."""
    return version_origin_fix(b.dataset, b.reason) if b.reason in OPAQUE_VERSION else _LINK_FIX.get(b.reason, _LINK_FIX[NO_ORIGIN])


def _source(v: SourceVersion) -> dict[str, Any]:
    s = v.record
    return {"name": s.name, "alsoRecordedAs": list(v.names[1:]), "digest": s.digest, "issuer": s.issuer, "license": s.license,
            "location": s.location,
            "originGeography": list(s.origin_geography), "method": s.generation_method,
            "collectionTimeframe": [s.collection_start, s.collection_end], "personalData": s.personal_data,
            "confidentiality": s.confidentiality, "consent": s.consent, "intendedUse": s.intended_use}


def _step(r: RunRecord) -> dict[str, Any]:
    return {"runId": r.run_id, "job": r.job_json, "state": r.state, "startedAt": r.started_at, "endedAt": r.ended_at,
            "inputs": [f"{d.label}@{d.version}" for d in r.inputs], "outputs": [f"{d.label}@{d.version}" for d in r.outputs]}


def _missing(s: SourceRecord) -> list[tuple[str, str]]:
    """The fields every source should record that ``s`` leaves empty, each with its option; consent (or a legal
    basis) only when the data is personal."""
    missing = [(label, option) for attr, label, option in _SOURCE_FIELDS if not getattr(s, attr)]
    return missing + ([_CONSENT] if s.personal and not (s.consent or s.legal_basis) else [])


def _gaps(trace: Trace, quality: list[dict[str, Any]], d: DatasetUse, changed: Mapping[str, str],
          sources: list[SourceVersion]) -> list[str]:
    gaps = [f"{b.described}: {b.reason} ({_link_fix(b)})" for b in trace.broken]
    named = {version_at(v): v for v in [d, *trace.versions]}  # the re-hash found the data of a version of this lineage changed
    gaps += [f"{v.label}@{v.version}: {changed[key]} (re-hash)" for key, v in named.items() if key in changed]
    if not sources:
        fix = version_origin_fix(d) if d.version and not d.names_content else _LINK_FIX[NO_ORIGIN]
        gaps.append(f"no registered source: the origin of this data is not documented ({fix})")
    for v in sources:
        missing = _missing(v.record)
        if missing:
            gaps.append(f"{v.label} does not record: {', '.join(label for label, _ in missing)} "
                        f"({SOURCE_ADD} {' '.join(option for _, option in missing)})")
        gaps += [f"{v.label}: {gap}" for gap in source_gaps(v.record)] + disagreements(v)
    gaps += [failed_validation(q, _QUALITY_FIX) for q in quality if not q["passed"]]
    if not quality:
        gaps.append(f"no data quality validation was recorded along this lineage ({FIX_SCHEMA})")
    gaps += [f"preparation run {r.run_id} ({r.job}) ended as {r.state} (re-run the step)" for r in trace.runs if r.state != "COMPLETE"]
    return gaps


def _matched_by(v: SourceVersion, trace: Trace) -> str:
    """``location`` when a record of the version (its digest at its location) was registered where the dataset lives,
    else ``content``: equal bytes registered at another location are matched apart."""
    on_trace = records_of(trace.sources, v.record.digest, v.record.location)
    return "content" if all(s in trace.by_content for s in on_trace) else "location"  # records: a name may be reused elsewhere


def training_data(index: LineageIndex, changed: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """One entry per dataset version used by a training run, and per generation of it that training runs read
    (two preparation runs that wrote the same bytes from different sources are two lineages: each training run
    is described by the one it read), newest runs first, every one (the HTML page shows some; the JSON report lists
    all). ``changed``: versions a
    re-hash found no longer at their location (``rehash.version_at`` -> what): gaps."""
    entries: dict[tuple[VersionKey, str | None], dict[str, Any]] = {}  # by version (never by how it prints) and generation
    known: dict[VersionKey, Results] = {}  # each version's results, gathered once for every training dataset
    for run in index.training_runs():
        for d in run.inputs:
            made = index.generator(d, run) if d.version else None
            key = (version_of(d), made[0].run_id if made else None)
            if key in entries:
                entries[key]["trainingRuns"].append(run.run_id)
                continue
            trace = index.trace(d, run) if d.version else Trace("")
            if not d.version:
                trace.broken.append(BrokenLink(run.run_id, d, NO_DIGEST))
            quality = lineage_quality(index, [d, *trace.validated], known)
            steps = [_step(r) for r in reversed(trace.runs)]
            versions = by_version(trace.sources)  # equal bytes at another location: another dataset, on the trace when matched by content
            gaps = _gaps(trace, quality, d, changed or {}, versions)
            sources = [{**_source(v), "matchedBy": _matched_by(v, trace)} for v in versions]
            entries[key] = {
                "dataset": d.label,
                "version": d.version,
                "writtenBy": made[0].run_id if made else None,
                "rows": d.rows,
                "shards": d.shards,
                "trainingRuns": [run.run_id],
                "trainingJob": run.job_json,
                "trainingRule": run.training_rule,
                "article10": {
                    "origin": sources,
                    "collection": [{"source": s["name"], "method": s["method"], "timeframe": s["collectionTimeframe"],
                                    "geography": s["originGeography"], "personalData": s["personalData"], "consent": s["consent"]}
                                   for s in sources],
                    "preparation": steps,
                    "qualityChecks": quality,
                    "knownGaps": gaps,
                    "items": article10_items(run, d, trace, steps, quality, gaps, versions),
                },
                "annexIV": {
                    "generalDescription": f"{d.label} version {d.version}" + (f", {d.extent}" if d.extent else ""),
                    "provenance": [f"{s['name']} by {s['issuer']} ({s['license']})" for s in sources],
                    "howObtainedAndSelected": [f"{s['name']}: {s['method'] or 'method not recorded'}" for s in sources],
                    "labellingProcedures": "not recorded by tdprov: document them with the training job",
                    "dataCleaningMethodologies": [f"{job_text(st['job'])} (run {st['runId']})" for st in steps],
                    "lineageComplete": trace.complete and bool(trace.sources),
                },
            }
    return list(entries.values())


def validated_versions(index: LineageIndex) -> int:
    """How many dataset versions in ``index`` passed their Pandera validation and other checks (a version with any
    failing result, or a check that raised, does not), for the report's quality summary: every run's results, not only those
    an incremental audit examined."""
    results: dict[VersionKey, bool] = {}
    for run in index.runs.values():
        for d in [*run.outputs, *run.inputs]:
            if d.checked:
                key = version_of(d)
                results[key] = results.get(key, True) and not d.failed
    return sum(results.values())
