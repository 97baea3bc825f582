"""Training-data sections of the report: per training dataset version, EU AI Act Article 10 and
Annex IV (technical documentation on data) items, from the lineage and the source records (no I/O)."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from prov_common.audit.article10 import article10_items
from prov_common.audit.lineage import NO_DIGEST, BrokenLink, LineageIndex, Trace, version_of
from prov_common.audit.model import DatasetUse, RunRecord
from prov_common.audit.rehash import version_at
from prov_common.sources.gaps import source_gaps
from prov_common.sources.model import SourceRecord
from prov_common.w3cprov.identity import VersionKey

MAX_DATASETS = 50
_SOURCE_FIELDS = (
    ("origin_geography", "origin geography"),
    ("generation_method", "generation / collection method"),
    ("collection_start", "collection start"),
    ("personal_data", "personal data flag"),
    ("consent", "consent documentation"),
    ("intended_use", "intended use"),
    ("confidentiality", "confidentiality classification"),
)


def _source(s: SourceRecord) -> dict[str, Any]:
    return {"name": s.name, "digest": s.digest, "issuer": s.issuer, "license": s.license, "location": s.location,
            "originGeography": list(s.origin_geography), "method": s.generation_method,
            "collectionTimeframe": [s.collection_start, s.collection_end], "personalData": s.personal_data,
            "confidentiality": s.confidentiality, "consent": s.consent, "intendedUse": s.intended_use}


def _step(r: RunRecord) -> dict[str, Any]:
    return {"runId": r.run_id, "job": r.job, "state": r.state, "startedAt": r.started_at, "endedAt": r.ended_at,
            "inputs": [f"{d.label}@{d.version}" for d in r.inputs], "outputs": [f"{d.label}@{d.version}" for d in r.outputs]}


def _quality_items(uses: Iterable[DatasetUse]) -> dict[str, dict[str, Any]]:
    """The Pandera results recorded in ``uses``, each once, in first-seen order."""
    out: dict[str, dict[str, Any]] = {}
    for v in uses:
        q = v.quality
        if q is not None:
            out.setdefault(repr((v.label, v.version, q.schema, q.passed, q.failure_count, q.failed_checks)),  # any JSON value
                           {"dataset": v.label, "version": v.version, "schema": q.schema, "passed": q.passed,
                            "failureCount": q.failure_count, "failedChecks": list(q.failed_checks)})
    return out


def _quality(trace: Trace, d: DatasetUse, index: LineageIndex, readers: dict[VersionKey, dict[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Pandera results on the version and everything upstream of it, as recorded by the runs that
    wrote those versions and by any run that validated them on reading (a validation task).
    ``readers``: the results recorded by the readers of each version, kept across training datasets
    (a source read by thousands of runs is gone through once)."""
    upstream = [d, *trace.versions]
    out = _quality_items(upstream)
    for v in upstream:
        if v.version:
            key = version_of(v)
            if key not in readers:
                readers[key] = _quality_items(use for _, use in index.used_by.get(key, ()))
            for item_key, item in readers[key].items():
                out.setdefault(item_key, item)
    return list(out.values())


def _gaps(trace: Trace, quality: list[dict[str, Any]], d: DatasetUse, changed: Mapping[str, str]) -> list[str]:
    gaps = [f"{b.dataset.label}@{b.dataset.version or 'unversioned'} (input of run {b.run_id}): {b.reason}" for b in trace.broken]
    named = {version_at(v): v for v in [d, *trace.versions]}  # the re-hash found the data of a version of this lineage changed
    gaps += [f"{v.label}@{v.version}: {changed[key]} (re-hash)" for key, v in named.items() if key in changed]
    if not trace.sources:
        gaps.append("no registered source: the origin of this data is not documented")
    for s in trace.sources:
        missing = [label for attr, label in _SOURCE_FIELDS if not getattr(s, attr)]
        if missing:
            gaps.append(f"source '{s.name}' does not record: {', '.join(missing)}")
        gaps += [f"source '{s.name}': {gap}" for gap in source_gaps(s)]
    gaps += [f"{q['dataset']}@{q['version']} failed Pandera schema {q['schema']} ({q['failureCount']} failures)" for q in quality if not q["passed"]]
    if not quality:
        gaps.append("no data quality validation was recorded along this lineage")
    gaps += [f"preparation run {r.run_id} ({r.job}) ended as {r.state}" for r in trace.runs if r.state != "COMPLETE"]
    return gaps


def training_data(index: LineageIndex, changed: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """One entry per dataset version used by a training run, and per generation of it that training runs read
    (two preparation runs that wrote the same bytes from different sources are two lineages: each training run
    is described by the one it read), newest runs first, at most ``MAX_DATASETS``. ``changed``: versions a
    re-hash found no longer at their location (``rehash.version_at`` -> what): gaps."""
    entries: dict[str, dict[str, Any]] = {}
    readers: dict[VersionKey, dict[str, dict[str, Any]]] = {}
    for run in index.training_runs():
        if len(entries) >= MAX_DATASETS:
            break
        for d in run.inputs:
            made = index.generator(d, run) if d.version else None
            key = f"{d.label}@{d.version or 'unversioned'}" + (f" by {made[0].run_id}" if made else "")
            if key in entries:
                entries[key]["trainingRuns"].append(run.run_id)
                continue
            if len(entries) >= MAX_DATASETS:
                break
            trace = index.trace(d, run) if d.version else Trace(key)
            if not d.version:
                trace.broken.append(BrokenLink(run.run_id, d, NO_DIGEST))
            quality = _quality(trace, d, index, readers)
            steps = [_step(r) for r in reversed(trace.runs)]
            gaps = _gaps(trace, quality, d, changed or {})
            sources = [{**_source(s), "matchedBy": "content" if s.name in trace.by_content else "location"} for s in trace.sources]
            entries[key] = {
                "dataset": d.label,
                "version": d.version,
                "writtenBy": made[0].run_id if made else None,
                "rows": d.rows,
                "shards": d.shards,
                "trainingRuns": [run.run_id],
                "trainingJob": run.job,
                "trainingRule": run.training_rule,
                "article10": {
                    "origin": sources,
                    "collection": [{"source": s["name"], "method": s["method"], "timeframe": s["collectionTimeframe"],
                                    "geography": s["originGeography"], "personalData": s["personalData"], "consent": s["consent"]}
                                   for s in sources],
                    "preparation": steps,
                    "qualityChecks": quality,
                    "knownGaps": gaps,
                    "items": article10_items(run, d, trace, steps, quality, gaps),
                },
                "annexIV": {
                    "generalDescription": f"{d.label} version {d.version}" + (f", {d.extent}" if d.extent else ""),
                    "provenance": [f"{s['name']} by {s['issuer']} ({s['license']})" for s in sources],
                    "howObtainedAndSelected": [f"{s['name']}: {s['method'] or 'method not recorded'}" for s in sources],
                    "labellingProcedures": "not recorded by tdprov: document them with the training job",
                    "dataCleaningMethodologies": [f"{st['job']} (run {st['runId']})" for st in steps],
                    "lineageComplete": trace.complete and bool(trace.sources),
                },
            }
    return list(entries.values())


def validated_versions(index: LineageIndex) -> int:
    """How many dataset versions in ``index`` passed their Pandera validation (a version with any
    failing result does not), for the report's quality summary: every run's results, not only those
    an incremental audit examined."""
    results: dict[tuple[str, str], bool] = {}
    for run in index.runs.values():
        for d in [*run.outputs, *run.inputs]:
            if d.quality is not None:
                key = (d.label, d.version or "")
                results[key] = results.get(key, True) and d.quality.passed
    return sum(results.values())
