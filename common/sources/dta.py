"""The 22 fields of the Data & Trust Alliance Data Provenance Standards v1.0.0 (no I/O).

Every record tdprov writes carries all 22, in the standard's order. A value that is not known is the
string ``"unknown"``; a conditional field whose condition does not hold (no earlier version, source
same as issuer) is ``"not applicable"``. An unknown *required* field is a gap: :func:`dta_gaps`
lists them, for the record's ``knownGaps`` and for the audit report.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

DTA_STANDARDS_VERSION = "1.0.0"
UNKNOWN = "unknown"
NOT_APPLICABLE = "not applicable"
REQUIRED = "required"
CONDITIONAL = "conditional"


@dataclass(frozen=True)
class DtaField:
    """One field: its JSON key, the standard's name, its standard group, its level and how to fill it."""

    key: str
    title: str
    standard: str
    level: str
    fix: str


DTA_FIELDS: tuple[DtaField, ...] = (
    DtaField("standardsVersionUsed", "Standards version used", "Source", REQUIRED, "written by tdprov"),
    DtaField("datasetTitle", "Dataset title/name", "Source", REQUIRED, "tdprov source add --title (default --name)"),
    DtaField("uniqueMetadataIdentifier", "Unique metadata identifier", "Source", REQUIRED, "the content digest (tdprov source add --digest)"),
    DtaField("metadataLocation", "Metadata location", "Source", REQUIRED, "tdprov source add --metadata-location"),
    DtaField("datasetIssuer", "Dataset issuer", "Source", REQUIRED,
             "tdprov source add --issuer; for derived datasets TDPROV_ISSUER or tdprov record --issuer"),
    DtaField("descriptionOfTheDataset", "Description of the dataset", "Source", REQUIRED, "tdprov source add --description"),
    DtaField("sourceMetadataForDataset", "Source metadata for dataset", "Provenance", CONDITIONAL, "tdprov source add --source-metadata"),
    DtaField("source", "Source (if different from issuer)", "Provenance", CONDITIONAL, "tdprov source add --source"),
    DtaField("dataOriginGeography", "Data origin geography", "Provenance", REQUIRED, "tdprov source add --origin-geography"),
    DtaField("datasetIssueDate", "Dataset issue date", "Provenance", REQUIRED, "tdprov source add --issue-date"),
    DtaField("dateOfPreviouslyIssuedVersion", "Date of previously issued version of the dataset", "Provenance", CONDITIONAL,
             "tdprov source add --previous-version-date"),
    DtaField("rangeOfDatesForDataGeneration", "Range of dates for data generation", "Provenance", REQUIRED,
             "tdprov source add --collection-start/--collection-end"),
    DtaField("method", "Method", "Provenance", REQUIRED, "tdprov source add --generation-method"),
    DtaField("dataFormat", "Data format", "Provenance", REQUIRED, "tdprov source add --data-format (a media type)"),
    DtaField("confidentialityClassification", "Confidentiality classification", "Use", REQUIRED, "tdprov source add --confidentiality"),
    DtaField("consentDocumentationLocation", "Consent documentation location", "Use", CONDITIONAL, "tdprov source add --consent"),
    DtaField("privacyEnhancingTechnologies", "Privacy enhancing technologies (PETs) or tools used", "Use", CONDITIONAL,
             "tdprov source add --privacy-technology"),
    DtaField("dataProcessingGeography", "Data processing geography", "Use", REQUIRED,
             "tdprov source add --processing-geography; for derived datasets tdprov record --processing-geography"),
    DtaField("dataStorageGeography", "Data storage geography", "Use", REQUIRED,
             "tdprov source add --storage-geography; for derived datasets tdprov record --storage-geography"),
    DtaField("licenseToUse", "License to use", "Use", REQUIRED, "tdprov source add --license"),
    DtaField("intendedDataUse", "Intended data use", "Use", REQUIRED, "tdprov source add --intended-use"),
    DtaField("proprietaryData", "Proprietary data", "Use", REQUIRED, "tdprov source add --proprietary-data (none, copyright, ...)"),
)
DTA_KEYS = tuple(f.key for f in DTA_FIELDS)
assert len(DTA_FIELDS) == 22


def known(value: Any) -> Any:
    """``value``, or ``"unknown"`` when it is None, empty or a list of nothing."""
    return UNKNOWN if value in (None, "", [], (), {}) else value


def if_personal(values: Any, personal_data: str | None) -> Any:
    """A field that applies to personal data (consent, privacy technologies): ``values``, else
    ``"not applicable"`` when the data holds none (``personal_data == "none"``), else ``"unknown"``."""
    if values:
        return list(values) if isinstance(values, tuple) else values
    return NOT_APPLICABLE if personal_data == "none" else UNKNOWN


def date_range(starts: Iterable[str | None], ends: Iterable[str | None]) -> dict[str, str] | None:
    """Range of dates for data generation: the earliest start and the latest end (each ``"unknown"``
    when none is known); None when neither is."""
    first, last = [d for d in starts if d], [d for d in ends if d]
    if not first and not last:
        return None
    return {"start": min(first) if first else UNKNOWN, "end": max(last) if last else UNKNOWN}


def dta_document(values: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """All 22 fields in the standard's order (missing or empty ones ``"unknown"``), then ``extra``."""
    unexpected = set(values) - set(DTA_KEYS)
    if unexpected:
        raise ValueError(f"not D&TA v{DTA_STANDARDS_VERSION} fields: {sorted(unexpected)}")
    doc = {f.key: known(values.get(f.key)) for f in DTA_FIELDS}
    doc["standardsVersionUsed"] = DTA_STANDARDS_VERSION
    return {**doc, **(extra or {})}


def unknown_required(doc: Mapping[str, Any]) -> list[DtaField]:
    """The required fields of a D&TA document that are unknown (or absent)."""
    return [f for f in DTA_FIELDS if f.level == REQUIRED and known(doc.get(f.key)) == UNKNOWN]


def dta_gaps(doc: Mapping[str, Any]) -> list[str]:
    """One sentence per unknown required field of ``doc``, naming the field and how to record it.

    The hook for reports: call it on a record (``SourceRecord.dta()`` or ``dta_record(...)``) and list
    what it returns as gaps.
    """
    title = doc.get("datasetTitle", "dataset")
    return [f"D&TA required field '{f.title}' ({f.key}) of {title} is unknown: record it with {f.fix}" for f in unknown_required(doc)]
