"""A registered external source: its digest and its Data & Trust Alliance provenance fields (no I/O).

``dta`` gives all 22 fields of the D&TA Data Provenance Standards v1.0.0 (see :mod:`.dta`). Records
written before a field existed load with that field empty (shown as ``unknown``).
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from prov_common.canonical_json import canonical_bytes, loads
from prov_common.errors import BadInputError
from prov_common.sources.dta import NOT_APPLICABLE, UNKNOWN, date_range, dta_document, if_personal
from prov_common.sources.media import media_type, media_type_of_path
from prov_common.times import rfc3339
from prov_common.w3cprov.identity import iso_z
SOURCE_PAYLOAD_TYPE = "application/vnd.tdprov.source+json"
SOURCE_FORMAT = "https://tdprov.dev/source-record/v1"
SOURCE_NAMESPACE = "tdprov://sources"  # the dataset namespace of a source a step names before it is registered (no digest)

PERSONAL_DATA = ("none", "personal", "sensitive", "pseudonymised", "anonymised")
CONFIDENTIALITY = ("public", "internal", "confidential", "restricted")
# Dataset-level classifications whose values must never be shown (pseudonymised data is still personal).
FLAGGED_PERSONAL = ("personal", "sensitive", "pseudonymised")
FLAGGED_CONFIDENTIAL = ("confidential", "restricted")
ALL_COLUMNS = "*"
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}\Z")
_DIGEST = re.compile(r"(blake3|sha256):[0-9a-f]{64}\Z")
_DAY = re.compile(r"\d{4}-\d\d-\d\d")


def check_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise BadInputError(
            f"source name {name!r} is not usable as a name.",
            fix="use letters, digits, '.', '_' and '-' (up to 128 characters), e.g. 'vendor-claims-2025'",
        )
    return name


def is_source_digest(digest: object) -> bool:
    """Whether ``digest`` is one a source record takes (``blake3:`` or ``sha256:`` and 64 lower-case hex digits)."""
    return isinstance(digest, str) and bool(_DIGEST.match(digest))


def check_digest(digest: object, what: str = "digest") -> str:
    if not is_source_digest(digest):
        raise BadInputError(f"{what} {digest!r} is not 'blake3:<64 hex>' or 'sha256:<64 hex>'.", fix="pass the dataset version digest as tdprov prints it")
    return digest


def _check_date(value: str | None, option: str, *, registered: bool = False) -> str | None:
    """``value`` of a date option: a date ``YYYY-MM-DD`` as it is, or an RFC 3339 date-time in UTC (``...Z``); anything
    else is refused naming ``option``. ``registered``: of a record already registered, which keeps what it was
    signed with (older tdprov checked only that it begins with a date)."""
    if value is None:
        return None
    fix = f"use YYYY-MM-DD, e.g. {option} 2025-01-31, or a date-time with a time zone, e.g. {option} 2025-01-31T23:30:00Z"
    try:
        if registered:
            date.fromisoformat(value[:10])
            return value
        if _DAY.fullmatch(value):
            date.fromisoformat(value)
            return value
        return iso_z(rfc3339(value))
    except ValueError as exc:
        raise BadInputError(f"{option} {value!r} is neither a date (YYYY-MM-DD) nor an RFC 3339 date-time ({exc}).", fix=fix) from None


def _check_choice(value: str | None, option: str, choices: tuple[str, ...]) -> str | None:
    if value is not None and value not in choices:
        raise BadInputError(f"{option} {value!r} is not one of {', '.join(choices)}.", fix=f"pass one of: {', '.join(choices)}")
    return value


def _check_uri(source: str, value: str | None, option: str) -> None:
    if value is None:
        return
    parts = urlsplit(value)
    if not parts.scheme or not (parts.netloc or parts.path) or " " in value:
        raise BadInputError(f"source '{source}': {option} {value!r} is not a URI.",
                            fix=f"pass a URI with its scheme, e.g. {option} https://vendor.example/metadata.json")


def _check_list(source: str, values: object, option: str) -> None:
    if not isinstance(values, tuple) or not all(isinstance(c, str) and c.strip() for c in values):
        example = f"{option} email,phone (comma-separated column names)" if option.endswith("-columns") else f"{option} once per value"
        raise BadInputError(f"source '{source}': {option} must be a list of non-empty texts, got {values!r}.", fix=f"pass {example}")


def source_iri(s: "SourceRecord") -> str:
    """The IRI of a registered source (one record: its name and digest), shared by the Croissant record and ``tdprov
    export``'s PROV so that the two join: ``urn:tdprov:source:<name>:<digest>``."""
    return f"urn:tdprov:source:{s.name}:{s.digest}"


_LIST_FIELDS = ("origin_geography", "personal_columns", "confidential_columns", "source_metadata", "privacy_technologies",
                "processing_geography", "storage_geography", "proprietary_data")


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
    legal_basis: str | None = None  # the legal basis for processing personal data, when it is not consent
    intended_use: str | None = None
    rows: int | None = None
    bytes: int | None = None
    title: str | None = None  # D&TA dataset title, when it differs from the short name
    metadata_location: str | None = None  # where the issuer publishes this metadata (default: the record in the store)
    source_metadata: tuple[str, ...] = ()  # where the provenance metadata of the data it came from lives
    previous_version_date: str | None = None
    privacy_technologies: tuple[str, ...] = ()  # privacy enhancing technologies or tools applied
    processing_geography: tuple[str, ...] = ()
    storage_geography: tuple[str, ...] = ()
    proprietary_data: tuple[str, ...] = ()  # e.g. none, copyright, patent, trademark, trade secret
    registered_at: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    store_id: str | None = None  # the store it was registered in (store.identity); None in records made before stores had one

    def __post_init__(self) -> None:
        check_name(self.name)
        check_digest(self.digest)
        for attr, option in (("license", "--license"), ("issuer", "--issuer")):
            if not isinstance(getattr(self, attr), str) or not getattr(self, attr).strip():
                raise BadInputError(f"source '{self.name}' has no {attr}.", fix=f"pass {option}")
        for attr in ("collection_start", "collection_end", "issue_date", "previous_version_date"):
            given = getattr(self, attr)
            object.__setattr__(self, attr, _check_date(given, "--" + attr.replace("_", "-"), registered=bool(self.registered_at)))
        if self.collection_start and self.collection_end and self.collection_end[:10] < self.collection_start[:10]:
            raise BadInputError(f"source '{self.name}': collection ends ({self.collection_end}) before it starts ({self.collection_start}).",
                                fix="swap --collection-start and --collection-end")
        _check_choice(self.personal_data, "--personal-data", PERSONAL_DATA)
        _check_choice(self.confidentiality, "--confidentiality", CONFIDENTIALITY)
        for attr in _LIST_FIELDS:
            _check_list(self.name, getattr(self, attr), "--" + attr.replace("_", "-"))
        for uri in (self.metadata_location, *self.source_metadata):
            _check_uri(self.name, uri, "--metadata-location" if uri == self.metadata_location else "--source-metadata")

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
    def personal(self) -> bool:
        """Whether the record declares personal data: a personal classification or personal columns."""
        return self.personal_data in FLAGGED_PERSONAL or bool(self.personal_columns)

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
    @property
    def media_type(self) -> str | None:
        """The data's media type: ``--data-format`` (older records may hold a format name such as ``csv``),
        else from the file name of its location."""
        if self.data_format:
            try:
                return media_type(self.data_format)
            except BadInputError:
                return self.data_format
        return media_type_of_path(self.location)

    def dta(self, metadata_location: str | None = None) -> dict[str, Any]:
        """All 22 D&TA Data Provenance Standards v1.0.0 fields of this source (unknown ones ``"unknown"``).

        ``metadata_location`` is where this record can be read (its URI in the store), used unless the
        record names another; ``personalData`` follows the 22 fields as an addition of tdprov.
        """
        return dta_document({
            "datasetTitle": self.title or self.name,
            "uniqueMetadataIdentifier": self.digest,
            "metadataLocation": self.metadata_location or metadata_location,
            "datasetIssuer": self.issuer,
            "descriptionOfTheDataset": self.description,
            "sourceMetadataForDataset": list(self.source_metadata),
            "source": self.source or NOT_APPLICABLE,
            "dataOriginGeography": list(self.origin_geography),
            "datasetIssueDate": self.issue_date,
            "dateOfPreviouslyIssuedVersion": self.previous_version_date,
            "rangeOfDatesForDataGeneration": date_range([self.collection_start], [self.collection_end]),
            "method": self.generation_method,
            "dataFormat": self.media_type,
            "confidentialityClassification": self.confidentiality,
            "consentDocumentationLocation": if_personal(self.consent, self.personal_data),
            "privacyEnhancingTechnologies": if_personal(self.privacy_technologies, self.personal_data),
            "dataProcessingGeography": list(self.processing_geography),
            "dataStorageGeography": list(self.storage_geography),
            "licenseToUse": self.license,
            "intendedDataUse": self.intended_use,
            "proprietaryData": list(self.proprietary_data),
        }, {"personalData": self.personal_data or UNKNOWN})
