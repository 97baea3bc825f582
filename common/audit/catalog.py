"""The audit catalog: the run records of every logged bundle, so that readers of every run
(``tdprov contains``, ``tdprov record``, ``audit --rehash``) need not re-read old bundles.

One signed, write-once segment per checkpoint, holding the records of the runs examined by the
audit that wrote it: ``audit/catalog/<tree size, 12 digits>.json`` (DSSE, payload type below). An
incremental audit's checks do not read it: they continue from the audit state (``state.py``).

So that reading every run costs one object, not one per audit ever made, an audit that read
``COMPACT_AFTER`` or more segments beside the newest summary writes a new signed summary,
``audit/catalog-summary/<tree size, 12 digits>-<audit>.json``: every record, and the keys of the
segments it covers. Readers take the newest summary that verifies and the segments it does not
cover (a segment written meanwhile by another auditor is never skipped).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prov_common.audit.model import CHECK_LOG, Finding, RunRecord
from prov_common.canonical_json import canonical_bytes, loads
from prov_common.errors import ObjectConflictError, TdprovError
from prov_common.signing import SigningKey, TrustStore, open_envelope, sign_envelope
from prov_common.store.base import Store

CATALOG_PREFIX = "audit/catalog/"
CATALOG_PAYLOAD_TYPE = "application/vnd.tdprov.audit-catalog+json"
SUMMARY_PREFIX = "audit/catalog-summary/"
SUMMARY_PAYLOAD_TYPE = "application/vnd.tdprov.audit-catalog-summary+json"
COMPACT_AFTER = 8  # segments read beside the newest summary before an audit writes a new summary


def catalog_key(size: int) -> str:
    return f"{CATALOG_PREFIX}{size:012d}.json"


@dataclass
class Catalog:
    """Run records by run id, problems met while reading the catalog, the segments covered by the
    summary read and the segments read beside it."""

    runs: dict[str, RunRecord] = field(default_factory=dict)
    problems: list[Finding] = field(default_factory=list)
    covered: set[str] = field(default_factory=set)
    segments: list[str] = field(default_factory=list)


def _read(store: Store, trust: TrustStore, key: str, payload_type: str, what: str) -> dict[str, Any]:
    payload = loads(open_envelope(store.get(key), trust, payload_type, what=f"{what} '{key}'").payload)
    if not isinstance(payload, dict):
        raise ValueError("not a JSON object")
    return payload


def read_segment(store: Store, trust: TrustStore, key: str) -> dict[str, Any]:
    """The payload of the catalog segment at ``key``, verified: signed by a trusted key, and written for the
    checkpoint its key names (an older segment copied over a newer one is not)."""
    payload = _read(store, trust, key, CATALOG_PAYLOAD_TYPE, "audit catalog")
    named = key[len(CATALOG_PREFIX):].removesuffix(".json")
    if not named.isdigit() or payload.get("checkpointSize") != int(named):
        raise ValueError(f"it was written for checkpoint {payload.get('checkpointSize')!r}, its key names {named}: it was replaced")
    return payload


def _records(raw_runs: Any, into: dict[str, RunRecord]) -> None:
    for raw in raw_runs:
        record = RunRecord.from_dict(raw)
        into[record.run_id] = record


def _problem(key: str, what: str, exc: Exception) -> Finding:
    text = exc.what if isinstance(exc, TdprovError) else f"{what} '{key}' is damaged ({exc})"
    return Finding(CHECK_LOG, key, text, "the audit re-examined the runs it named; restore the object from a backup")


def load_catalog(store: Store, trust: TrustStore) -> Catalog:
    """Every run record: the newest catalog summary that verifies and the segments it does not cover,
    verified; a damaged object is a finding (an older summary or the segments are read instead)."""
    catalog = Catalog()
    for key in reversed(list(store.list(SUMMARY_PREFIX))):
        try:
            summary = _read(store, trust, key, SUMMARY_PAYLOAD_TYPE, "audit catalog summary")
            runs: dict[str, RunRecord] = {}
            _records(summary["runs"], runs)
            catalog.runs, catalog.covered = runs, {str(k) for k in summary["segments"]}
            break
        except (TdprovError, KeyError, TypeError, ValueError) as exc:
            catalog.problems.append(_problem(key, "audit catalog summary", exc))
    for key in store.list(CATALOG_PREFIX):
        if key in catalog.covered:
            continue
        try:
            _records(read_segment(store, trust, key)["runs"], catalog.runs)
            catalog.segments.append(key)
        except (TdprovError, KeyError, TypeError, ValueError) as exc:
            catalog.problems.append(_problem(key, "audit catalog", exc))
    return catalog


def write_summary(store: Store, size: int, catalog: Catalog, signer: SigningKey, audit_id: str) -> str | None:
    """Write a summary of ``catalog`` (read after the segment of checkpoint ``size`` was written) when it read
    ``COMPACT_AFTER`` or more segments beside a summary; the key, or None when none was due or another auditor wrote it."""
    if len(catalog.segments) < COMPACT_AFTER:
        return None
    payload = canonical_bytes({"checkpointSize": size, "segments": sorted(catalog.covered | set(catalog.segments)),
                               "runs": [r.to_dict() for r in sorted(catalog.runs.values(), key=lambda r: (r.index_key, r.run_id))]})
    key = f"{SUMMARY_PREFIX}{size:012d}-{audit_id[:8]}.json"
    try:
        store.put(key, sign_envelope(payload, SUMMARY_PAYLOAD_TYPE, [signer]).to_json())
    except ObjectConflictError:
        return None
    return key


def known_runs(store: Store, trust: TrustStore) -> dict[str, RunRecord]:
    """Every sealed run: catalog records where an audit made them, index summaries for the rest
    (only those index entries are read: the run id is in the key). Index summaries do not hold the other
    names of a run's datasets (a Dagster asset key, in the events' ``symlinks``): see
    :class:`~prov_common.audit.recorded.RecordedRuns`."""
    from prov_common.audit.recorded import RecordedRuns

    return RecordedRuns.of(store, trust).runs


def write_catalog(store: Store, size: int, records: list[RunRecord], signer: SigningKey) -> str | None:
    """Write the records examined by this audit under the checkpoint of ``size``; None if another auditor did."""
    payload = canonical_bytes({"checkpointSize": size, "runs": [r.to_dict() for r in sorted(records, key=lambda r: r.index_key)]})
    key = catalog_key(size)
    try:
        store.put(key, sign_envelope(payload, CATALOG_PAYLOAD_TYPE, [signer]).to_json())
    except ObjectConflictError:
        return None
    return key
