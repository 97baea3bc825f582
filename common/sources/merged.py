"""The source records of one source version (a digest at a location), read together as its description (no I/O).

Records are signed once and never rewritten: a field a record lacks is added by registering the same data
again under another name with it. Whoever reads the records of a source version (the audit's training-data sections,
the consent finding) reads them as one: field by field, the newest record that sets a field gives it; the
name is that of the first record registered, and the others are named beside it. A source version is a dataset
at a digest: records of one digest at two locations are two datasets of equal bytes, read apart
(:func:`by_version`), so neither location is lost to the other.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from prov_common.sources.model import SourceRecord
from prov_common.w3cprov.identity import located_dataset, normal_version, sortable_time, store_namespace

_OWN = ("name", "digest", "registered_at")  # each record's own, never taken from another
_FIELDS = tuple(f.name for f in fields(SourceRecord) if f.name not in _OWN)


@dataclass(frozen=True)
class SourceVersion:
    """A source version's records merged (:func:`by_version`): ``record`` holds every field any of them sets,
    ``names`` every record's name, the first registered first (``record.name``), ``records`` the records themselves,
    oldest first."""

    record: SourceRecord
    names: tuple[str, ...]
    records: tuple[SourceRecord, ...] = ()

    @property
    def newest(self) -> SourceRecord:
        """The record registered last: the one whose fields the merged record gives where it sets them."""
        return self.records[-1] if self.records else self.record

    @property
    def quoted(self) -> str:
        """How texts name it: ``'a'``, or ``'a' (also recorded as 'a-2')``."""
        also = ", ".join(f"'{n}'" for n in self.names[1:])
        return f"'{self.names[0]}'" + (f" (also recorded as {also})" if also else "")

    @property
    def label(self) -> str:
        return f"source {self.quoted}"


def _set(value: Any) -> bool:
    return value not in (None, "", (), [], {})


def merge_records(records: Sequence[SourceRecord]) -> SourceVersion:
    """``records`` (of one source version) as one: per field the value of the newest record (by ``registered_at``)
    that sets it. The collection dates are taken together from the newest record that sets either when, taken one by
    one, they would end before they start."""
    if not records:
        raise ValueError("no records to merge")
    ordered = sorted(records, key=lambda r: sortable_time(r.registered_at))  # stable: records registered at one time keep their order
    newest_first = ordered[::-1]
    values = {name: next((getattr(r, name) for r in newest_first if _set(getattr(r, name))), getattr(ordered[0], name))
              for name in _FIELDS}
    start, end = values["collection_start"], values["collection_end"]
    if start and end and end[:10] < start[:10]:
        dated = next(r for r in newest_first if r.collection_start or r.collection_end)
        values["collection_start"], values["collection_end"] = dated.collection_start, dated.collection_end
    merged = replace(ordered[0], registered_at=ordered[-1].registered_at, **values)
    return SourceVersion(merged, tuple(dict.fromkeys(r.name for r in ordered)), tuple(ordered))


DISAGREEING = (("license", "licences"), ("issuer", "issuers"))
"""The fields whose records of one source version may state other values that a reader must see (field, plural)."""


def disagreements(version: SourceVersion) -> list[str]:
    """One sentence per field of :data:`DISAGREEING` that the records of ``version`` state otherwise: the value given
    (the newest record's that sets it) and each other value with the records stating it. Records are never rewritten,
    so the older statement stays a fact beside the one given."""
    said: list[str] = []
    where = version.record.location or "no location"
    for name, plural in DISAGREEING:
        stated: dict[Any, list[str]] = {}
        for r in version.records:
            if _set(getattr(r, name)):
                stated.setdefault(getattr(r, name), []).append(f"'{r.name}'")
        if len(stated) < 2:
            continue
        given = getattr(version.record, name)
        others = "; ".join(f"{value} by {', '.join(names)}" for value, names in stated.items() if value != given)
        said.append(f"the records of {version.label} at {where} ({version.record.digest}) state other {plural}: "
                    f"{given} by {', '.join(stated[given])}, the newest, given here; {others} (check which applies "
                    f"before use; records are never rewritten, so each stays stated)")
    return said


def source_dataset(location: str | None) -> tuple[str, str] | str:
    """The dataset a source was registered at, as identity compares it (``s3a://b/k`` is ``s3://b/k``); the location
    as it is when it names no dataset (``""`` when there is none)."""
    located = located_dataset(location)
    return (store_namespace(located[0]), located[1].rstrip("/")) if located else location or ""


SourceVersionKey = tuple[str, tuple[str, str] | str]
"""A source version: the normalised digest and the dataset at the location (:func:`source_version_key`, :func:`source_dataset`)."""


def source_version_key(digest: str, location: str | None) -> SourceVersionKey:
    """The source version a record of ``digest`` at ``location`` describes: records with equal keys describe one
    dataset at one digest (``s3a://b/k`` is ``s3://b/k``); records with no location are one version of their own."""
    return normal_version(digest), source_dataset(location)


def by_key(records: Iterable[SourceRecord]) -> dict[SourceVersionKey, list[SourceRecord]]:
    """``records`` per source version (:func:`source_version_key`), in the order each first appears, each version's
    records in their order."""
    groups: dict[SourceVersionKey, list[SourceRecord]] = {}
    for r in records:
        groups.setdefault(source_version_key(r.digest, r.location), []).append(r)
    return groups


def records_of(records: Iterable[SourceRecord], digest: str, location: str | None) -> list[SourceRecord]:
    """The records of ``records`` that describe the source version of ``digest`` at ``location`` (:func:`by_key`)."""
    return by_key(records).get(source_version_key(digest, location), [])


def by_version(records: Iterable[SourceRecord]) -> list[SourceVersion]:
    """``records`` merged per source version: per digest and location (the dataset it was registered at,
    :func:`source_version_key`), in the order each first appears. Equal bytes registered at two locations are two versions,
    each with its own location."""
    return [merge_records(group) for group in by_key(records).values()]


__all__ = ["DISAGREEING", "SourceVersion", "SourceVersionKey", "by_key", "by_version", "disagreements", "merge_records",
           "records_of", "source_dataset", "source_version_key"]
