"""The provenance record of a training dataset version, in the D&TA Data Provenance Standards shape
and as Croissant JSON-LD with its RAI fields: every source and every transformation run between
them and the version (no I/O)."""
from __future__ import annotations

from typing import Any

from prov_common.audit.lineage import LineageIndex, Trace
from prov_common.audit.model import DatasetUse, RunRecord
from prov_common.errors import BadInputError
from prov_common.sources.model import CONFIDENTIALITY, DTA_STANDARDS_VERSION, PERSONAL_DATA, SourceRecord

FORMATS = ("dta", "croissant")
CROISSANT_CONTEXT: dict[str, Any] = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "sc": "https://schema.org/",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "dct": "http://purl.org/dc/terms/",
    "prov": "http://www.w3.org/ns/prov#",
    "conformsTo": "dct:conformsTo",
    "citeAs": "cr:citeAs",
    "isLiveDataset": "cr:isLiveDataset",
    "md5": "cr:md5",
}
_PERSONAL_ORDER = {v: i for i, v in enumerate(("none", "anonymised", "pseudonymised", "personal", "sensitive"))}
assert set(_PERSONAL_ORDER) == set(PERSONAL_DATA)


def _strictest(values: list[str | None], order: list[str] | dict[str, int]) -> str | None:
    ranks = order if isinstance(order, dict) else {v: i for i, v in enumerate(order)}
    known = [v for v in values if v in ranks]
    return max(known, key=ranks.__getitem__) if known else None


def _unique(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if v is not None and v not in out:
            out.append(v)
    return out


def _transformation(r: RunRecord) -> dict[str, Any]:
    return {"runId": r.run_id, "job": r.job, "state": r.state, "startedAt": r.started_at, "endedAt": r.ended_at,
            "inputs": [{"dataset": d.label, "version": d.version} for d in r.inputs],
            "outputs": [{"dataset": d.label, "version": d.version} for d in r.outputs]}


def _gaps(trace: Trace) -> list[str]:
    gaps = [f"{b.dataset.label}@{b.dataset.version or 'unversioned'} used by run {b.run_id}: {b.reason}" for b in trace.broken]
    if not trace.sources:
        gaps.append("no registered source")
    return gaps


def _generation_range(sources: list[SourceRecord]) -> dict[str, str] | None:
    starts = [s.collection_start for s in sources if s.collection_start]
    ends = [s.collection_end for s in sources if s.collection_end]
    if not starts and not ends:
        return None
    return {k: v for k, v in (("start", min(starts) if starts else None), ("end", max(ends) if ends else None)) if v}


def dta_record(version: str, dataset: DatasetUse, trace: Trace, store_uri: str) -> dict[str, Any]:
    """The D&TA Data Provenance Standards (v1.0.0) metadata of a derived dataset version."""
    sources = _unique(trace.sources)
    generator = trace.runs[0] if trace.runs else None
    doc = {
        "standardsVersionUsed": DTA_STANDARDS_VERSION,
        "datasetTitle": dataset.label,
        "uniqueMetadataIdentifier": version,
        "metadataLocation": store_uri,
        "datasetIssuer": generator.job_namespace if generator else (sources[0].issuer if sources else None),
        "descriptionOfTheDataset": f"{dataset.label} version {version}" + (f", {dataset.rows} rows" if dataset.rows is not None else ""),
        "sourceMetadataForDataset": [s.dta() for s in sources],
        "source": _unique([s.source or s.issuer for s in sources]),
        "dataOriginGeography": _unique([g for s in sources for g in s.origin_geography]),
        "datasetIssueDate": (generator.ended_at or "")[:10] or None if generator else None,
        "rangeOfDatesForDataGeneration": _generation_range(sources),
        "method": _unique([s.generation_method for s in sources]) + [f"transformation: {r.job}" for r in reversed(trace.runs)],
        "dataFormat": _unique([s.data_format for s in sources]),
        "confidentialityClassification": _strictest([s.confidentiality for s in sources], list(CONFIDENTIALITY)),
        "consentDocumentationLocation": _unique([s.consent for s in sources]),
        "personalData": _strictest([s.personal_data for s in sources], _PERSONAL_ORDER),
        "licenseToUse": _unique([s.license for s in sources]),
        "intendedDataUse": _unique([s.intended_use for s in sources]),
        "transformations": [_transformation(r) for r in reversed(trace.runs)],
        "lineageComplete": trace.complete and bool(sources),
        "knownGaps": _gaps(trace),
    }
    return {k: v for k, v in doc.items() if v not in (None, [])} | {"knownGaps": doc["knownGaps"], "lineageComplete": doc["lineageComplete"]}


def croissant_record(version: str, dataset: DatasetUse, trace: Trace) -> dict[str, Any]:
    """Croissant 1.0 JSON-LD of the version, with RAI fields and PROV links to sources and runs."""
    sources = _unique(trace.sources)
    timeframe = _generation_range(sources)
    rai: dict[str, Any] = {
        "rai:dataCollection": "; ".join(_unique([f"{s.name}: {s.generation_method}" for s in sources if s.generation_method])) or None,
        "rai:dataCollectionTimeframe": [v for v in (timeframe or {}).values()] or None,
        "rai:personalSensitiveInformation": _strictest([s.personal_data for s in sources], _PERSONAL_ORDER),
        "rai:dataUseCases": "; ".join(_unique([s.intended_use for s in sources])) or None,
        "rai:dataPreprocessingProtocol": [f"{r.job} (run {r.run_id}, {r.state})" for r in reversed(trace.runs)] or None,
        "rai:dataLimitations": "; ".join(_gaps(trace)) or None,
    }
    doc: dict[str, Any] = {
        "@context": CROISSANT_CONTEXT,
        "@type": "sc:Dataset",
        "@id": f"urn:tdprov:version:{version}",
        "name": dataset.name,
        "description": f"{dataset.label} version {version}, with its provenance recorded by tdprov",
        "conformsTo": "http://mlcommons.org/croissant/1.0",
        "identifier": version,
        "url": dataset.uri,
        "license": _unique([s.license for s in sources]),
        "creator": [{"@type": "sc:Organization", "name": issuer} for issuer in _unique([s.issuer for s in sources])],
        "distribution": [{"@type": "cr:FileObject", "@id": dataset.label, "name": dataset.name, "contentUrl": dataset.uri,
                          "encodingFormat": _format(dataset.name), "identifier": version}],
        "isBasedOn": [{"@type": "sc:Dataset", "@id": f"urn:tdprov:source:{s.name}:{s.digest}", "name": s.name, "identifier": s.digest,
                       "license": s.license, "creator": {"@type": "sc:Organization", "name": s.issuer}, "url": s.location,
                       "countryOfOrigin": list(s.origin_geography) or None} for s in sources],
        "prov:wasDerivedFrom": [{"@id": f"urn:tdprov:source:{s.name}:{s.digest}"} for s in sources],
        "prov:wasGeneratedBy": [{"@id": f"urn:tdprov:run:{r.run_id}", "@type": "prov:Activity", "name": r.job,
                                 "prov:startedAtTime": r.started_at, "prov:endedAtTime": r.ended_at} for r in trace.runs],
        **rai,
    }
    return _drop_empty(doc)


def _format(name: str) -> str:
    suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return {"parquet": "application/x-parquet", "csv": "text/csv", "jsonl": "application/jsonlines", "json": "application/json"}.get(
        suffix, "application/octet-stream")


def _drop_empty(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_empty(v) for k, v in value.items() if v not in (None, [], {})}
    if isinstance(value, list):
        return [_drop_empty(v) for v in value]
    return value


def training_record(index: LineageIndex, ref: str, fmt: str, store_uri: str = "") -> dict[str, Any]:
    """The record of ``ref`` (a digest or a dataset name: its newest version) in ``fmt`` (dta or croissant)."""
    if fmt not in FORMATS:
        raise BadInputError(f"unknown record format {fmt!r}.", fix=f"use one of: {', '.join(FORMATS)}")
    version, dataset = index.resolve(ref)
    trace = index.trace(dataset)
    return dta_record(version, dataset, trace, store_uri) if fmt == "dta" else croissant_record(version, dataset, trace)
