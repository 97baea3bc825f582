"""A registered external source: its digest and its Data & Trust Alliance provenance fields (no I/O).

Field names follow the D&TA Data Provenance Standards v1.0.0 (Source, Provenance and Use standards);
``croissant_rai`` maps them onto the Croissant RAI vocabulary.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from datetime import date
from typing import Any

from prov_common.canonical_json import canonical_bytes, loads
from prov_common.errors import BadInputError

DTA_STANDARDS_VERSION = "1.0.0"
SOURCE_PAYLOAD_TYPE = "application/vnd.tdprov.source+json"
SOURCE_FORMAT = "https://tdprov.dev/source-record/v1"

PERSONAL_DATA = ("none", "personal", "sensitive", "pseudonymised", "anonymised")
CONFIDENTIALITY = ("public", "internal", "confidential", "restricted")
# Dataset-level classifications whose values must never be shown (pseudonymised data is still personal).
FLAGGED_PERSONAL = ("personal", "sensitive", "pseudonymised")
FLAGGED_CONFIDENTIAL = ("confidential", "restricted")
ALL_COLUMNS = "*"
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}\Z")
_DIGEST = re.compile(r"(blake3|sha256):[0-9a-f]{64}\Z")


def check_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise BadInputError(
            f"source name {name!r} is not usable as a name.",
            fix="use letters, digits, '.', '_' and '-' (up to 128 characters), e.g. 'vendor-claims-2025'",
        )
    return name


def check_digest(digest: object, what: str = "digest") -> str:
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise BadInputError(f"{what} {digest!r} is not 'blake3:<64 hex>' or 'sha256:<64 hex>'.", fix="pass the dataset version digest as tdprov prints it")
    return digest


def _check_date(value: str | None, option: str) -> str | None:
    if value is None:
        return None
    try:
        date.fromisoformat(value[:10])
    except ValueError as exc:
        raise BadInputError(f"{option} {value!r} is not an ISO date.", fix=f"use YYYY-MM-DD, e.g. {option} 2025-01-31") from exc
    return value


def _check_choice(value: str | None, option: str, choices: tuple[str, ...]) -> str | None:
    if value is not None and value not in choices:
        raise BadInputError(f"{option} {value!r} is not one of {', '.join(choices)}.", fix=f"pass one of: {', '.join(choices)}")
    return value


def _check_columns(source: str, columns: object, option: str) -> None:
    if not isinstance(columns, tuple) or not all(isinstance(c, str) and c for c in columns):
        raise BadInputError(f"source '{source}': {option} must be a list of column names, got {columns!r}.",
                            fix=f"pass {option} email,phone (comma-separated column names)")


_LIST_FIELDS = ("origin_geography", "personal_columns", "confidential_columns")


@dataclass(frozen=True)
class SourceRecord:
    """An external origin of training data, registered with its content digest."""

    name: str
    digest: str
    license: str
    issuer: str
    location: str | None = None
    description: str | None = None
    source: str | None = None  # original source, if different from the issuer
    origin_geography: tuple[str, ...] = ()
    generation_method: str | None = None
    collection_start: str | None = None
    collection_end: str | None = None
    issue_date: str | None = None
    data_format: str | None = None
    personal_data: str | None = None
    confidentiality: str | None = None
    personal_columns: tuple[str, ...] = ()  # columns holding personal data
    confidential_columns: tuple[str, ...] = ()  # columns holding confidential data
    consent: str | None = None  # where consent documentation lives
    intended_use: str | None = None
    rows: int | None = None
    bytes: int | None = None
    registered_at: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_name(self.name)
        check_digest(self.digest)
        for attr, option in (("license", "--license"), ("issuer", "--issuer")):
            if not isinstance(getattr(self, attr), str) or not getattr(self, attr).strip():
                raise BadInputError(f"source '{self.name}' has no {attr}.", fix=f"pass {option}")
        _check_date(self.collection_start, "--collection-start")
        _check_date(self.collection_end, "--collection-end")
        _check_date(self.issue_date, "--issue-date")
        if self.collection_start and self.collection_end and self.collection_end[:10] < self.collection_start[:10]:
            raise BadInputError(f"source '{self.name}': collection ends ({self.collection_end}) before it starts ({self.collection_start}).",
                                fix="swap --collection-start and --collection-end")
        _check_choice(self.personal_data, "--personal-data", PERSONAL_DATA)
        _check_choice(self.confidentiality, "--confidentiality", CONFIDENTIALITY)
        _check_columns(self.name, self.personal_columns, "--personal-columns")
        _check_columns(self.name, self.confidential_columns, "--confidential-columns")

    @property
    def masked_columns(self) -> tuple[str, ...]:
        """Columns whose values never appear in failure samples.

        The listed personal and confidential columns; when none are listed but the dataset as a whole
        is classified personal (``personal``, ``sensitive``, ``pseudonymised``) or confidential
        (``confidential``, ``restricted``), every column: ``("*",)``.
        """
        listed = tuple(dict.fromkeys((*self.personal_columns, *self.confidential_columns)))
        if listed:
            return listed
        flagged = self.personal_data in FLAGGED_PERSONAL or self.confidentiality in FLAGGED_CONFIDENTIAL
        return (ALL_COLUMNS,) if flagged else ()

    @property
    def hex(self) -> str:
        return self.digest.split(":", 1)[1]

    def to_dict(self) -> dict[str, Any]:
        doc = {k: v for k, v in asdict(self).items() if v not in (None, (), {}, [])}
        for attr in _LIST_FIELDS:
            if getattr(self, attr):
                doc[attr] = list(getattr(self, attr))
        return {"format": SOURCE_FORMAT, **doc}

    def to_json(self) -> bytes:
        return canonical_bytes(self.to_dict())

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "SourceRecord":
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known - {"format"}
        if unknown:
            raise BadInputError(f"source record has unknown fields {sorted(unknown)}.", fix="write records with 'tdprov source add'")
        kwargs = {k: v for k, v in raw.items() if k in known}
        for attr in _LIST_FIELDS:
            if attr in kwargs:
                kwargs[attr] = tuple(kwargs[attr])
        return cls(**kwargs)

    @classmethod
    def from_json(cls, data: bytes) -> "SourceRecord":
        return cls.from_dict(loads(data))

    # -- standard shapes ------------------------------------------------------------------------
    def dta(self) -> dict[str, Any]:
        """The D&TA Data Provenance Standards metadata of this source (v1.0.0 field names)."""
        generation = None
        if self.collection_start or self.collection_end:
            generation = {"start": self.collection_start, "end": self.collection_end}
        doc = {
            "standardsVersionUsed": DTA_STANDARDS_VERSION,
            "datasetTitle": self.name,
            "uniqueMetadataIdentifier": self.digest,
            "metadataLocation": self.location,
            "datasetIssuer": self.issuer,
            "descriptionOfTheDataset": self.description,
            "sourceMetadataForDataset": None,
            "source": self.source or self.issuer,
            "dataOriginGeography": list(self.origin_geography) or None,
            "datasetIssueDate": self.issue_date,
            "rangeOfDatesForDataGeneration": generation,
            "method": self.generation_method,
            "dataFormat": self.data_format,
            "confidentialityClassification": self.confidentiality,
            "consentDocumentationLocation": self.consent,
            "personalData": self.personal_data,
            "licenseToUse": self.license,
            "intendedDataUse": self.intended_use,
        }
        return {k: v for k, v in doc.items() if v is not None}

    def croissant_rai(self) -> dict[str, Any]:
        """Croissant RAI properties (``rai:`` prefix) of this source."""
        timeframe = [d for d in (self.collection_start, self.collection_end) if d]
        doc: dict[str, Any] = {
            "rai:dataCollection": self.generation_method,
            "rai:dataCollectionTimeframe": timeframe or None,
            "rai:personalSensitiveInformation": self.personal_data,
            "rai:dataUseCases": self.intended_use,
        }
        return {k: v for k, v in doc.items() if v is not None}
