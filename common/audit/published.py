"""Where an audit publishes its report and signed record in the store, and how a stored report is checked
against that record (the inventory adopts a report only when the digest its audit signed matches)."""
from __future__ import annotations

from typing import Any

from prov_common.canonical_json import loads
from prov_common.errors import VerificationError
from prov_common.hashing.raw import blake3_digest
from prov_common.signing import TrustStore, open_envelope
from prov_common.store.base import Store

REPORTS_PREFIX = "audit/reports/"
RUNS_PREFIX = "audit/runs/"
PROV_PAYLOAD_TYPE = "application/vnd.tdprov.prov+json"
_DIGEST, _LOCATION = "tdprov:digest", "tdprov:location"


def record_key(name: str) -> str:
    """The key of the signed PROV record of the audit published as ``name`` (``<stamp>-<audit id>``)."""
    return f"{RUNS_PREFIX}{name}.prov.dsse.json"


def report_folder(name: str) -> str:
    """The folder of the reports of the audit published as ``name``."""
    return f"{REPORTS_PREFIX}{name}/"


def signed_digests(prov_json: bytes) -> dict[str, str]:
    """Location -> digest of every report an audit's PROV-JSON record names."""
    def text(value: Any) -> str:
        return str(value.get("$") if isinstance(value, dict) else value)

    entities = loads(prov_json).get("entity") or {}
    return {text(attrs[_LOCATION]): text(attrs[_DIGEST]) for attrs in entities.values()
            if isinstance(attrs, dict) and _LOCATION in attrs and _DIGEST in attrs}


def check_report(store: Store, trust: TrustStore, key: str) -> None:
    """Raise :class:`VerificationError` unless report ``key`` is what its audit's signed record names (a record
    written before the HTML page was signed names the JSON report only: the page is then taken as it is)."""
    name = key[len(REPORTS_PREFIX):].split("/", 1)[0]
    record = open_envelope(store.get(record_key(name)), trust, PROV_PAYLOAD_TYPE, what=f"audit record '{record_key(name)}'")
    digest = signed_digests(record.payload).get(key)
    if digest is not None and blake3_digest(store.get(key)) != digest:
        raise VerificationError(f"report '{key}' is not the one its audit signed ({record_key(name)} names {digest}).",
                                fix="restore the report from a backup or replica, or run the audit again")
