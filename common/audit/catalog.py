"""The audit catalog: the run records of every logged bundle, so that readers of every run
(``tdprov contains``, ``tdprov record``, ``audit --rehash``) need not re-read old bundles.

One signed, write-once segment per checkpoint, holding the records of the runs examined by the
audit that wrote it: ``audit/catalog/<tree size, 12 digits>.json`` (DSSE, payload type below). An
incremental audit does not read it: it continues from the audit state (``state.py``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from prov_common.audit.model import CHECK_LOG, Finding, RunRecord
from prov_common.canonical_json import canonical_bytes, loads
from prov_common.errors import ObjectConflictError, TdprovError
from prov_common.signing import SigningKey, TrustStore, open_envelope, sign_envelope
from prov_common.store.base import Store

CATALOG_PREFIX = "audit/catalog/"
CATALOG_PAYLOAD_TYPE = "application/vnd.tdprov.audit-catalog+json"


def catalog_key(size: int) -> str:
    return f"{CATALOG_PREFIX}{size:012d}.json"


@dataclass
class Catalog:
    """Run records by run id, and problems met while reading the catalog."""

    runs: dict[str, RunRecord] = field(default_factory=dict)
    problems: list[Finding] = field(default_factory=list)


def load_catalog(store: Store, trust: TrustStore) -> Catalog:
    """Every catalog object, verified; a damaged one is a finding and its runs get examined again."""
    catalog = Catalog()
    for key in store.list(CATALOG_PREFIX):
        try:
            payload = open_envelope(store.get(key), trust, CATALOG_PAYLOAD_TYPE, what=f"audit catalog '{key}'").payload
            for raw in loads(payload)["runs"]:
                record = RunRecord.from_dict(raw)
                catalog.runs[record.run_id] = record
        except (TdprovError, KeyError, TypeError, ValueError) as exc:
            what = exc.what if isinstance(exc, TdprovError) else f"audit catalog '{key}' is damaged ({exc})"
            catalog.problems.append(Finding(CHECK_LOG, key, what, "the audit re-examined the runs it named; restore the object from a backup"))
    return catalog


def known_runs(store: Store, trust: TrustStore) -> dict[str, RunRecord]:
    """Every sealed run: catalog records where an audit made them, index summaries for the rest
    (only those index entries are read: the run id is in the key)."""
    from prov_common.audit.examine import record_from_summary
    from prov_common.bundle import layout
    from prov_common.bundle.model import BundleSummary
    from prov_common.bundle.storage import index_keys

    runs = dict(load_catalog(store, trust).runs)
    for key in index_keys(store):
        if layout.run_id_of_index_key(key) not in runs:
            summary = BundleSummary.from_json(store.get(key), cursor=key)
            runs[summary.run_id] = record_from_summary(summary, summary.manifest_digest or "")
    return runs


def write_catalog(store: Store, size: int, records: list[RunRecord], signer: SigningKey) -> str | None:
    """Write the records examined by this audit under the checkpoint of ``size``; None if another auditor did."""
    payload = canonical_bytes({"checkpointSize": size, "runs": [r.to_dict() for r in sorted(records, key=lambda r: r.index_key)]})
    key = catalog_key(size)
    try:
        store.put(key, sign_envelope(payload, CATALOG_PAYLOAD_TYPE, [signer]).to_json())
    except ObjectConflictError:
        return None
    return key
