"""Where an audit publishes its report and signed record in the store, and how a stored report is checked
against that record (the inventory adopts a report only when the digest its audit signed matches)."""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from prov_common.bundle.layout import SMALL_OBJECT_LIMIT
from prov_common.bundle.verify import hash_stored
from prov_common.canonical_json import loads
from prov_common.errors import TdprovError, VerificationError
from prov_common.hashing.raw import hash_bytes
from prov_common.signing import TrustStore, open_envelope
from prov_common.store.base import Store
from prov_common.store.errors import ObjectTooLargeError

REPORTS_PREFIX = "audit/reports/"
RUNS_PREFIX = "audit/runs/"
RECORD_SUFFIX = ".prov.dsse.json"  # of an audit's signed record, after its name (:func:`record_key`)
PROV_PAYLOAD_TYPE = "application/vnd.tdprov.prov+json"
REPORT_LIMIT = SMALL_OBJECT_LIMIT
"""Bytes at most read of an audit's JSON report (64 MiB): a larger one is refused (:func:`read_report`), or hashed in
ranged reads where its signed digest is all that is needed, never read whole."""
_DIGEST, _LOCATION, _STORE, _STORE_ID = "tdprov:digest", "tdprov:location", "tdprov:store", "tdprov:storeId"


def report_bytes(report: dict[str, Any]) -> bytes:
    """The bytes of the JSON report ``report`` as an audit writes it, whose digest its signed record names: compact
    (no indentation, so ``json``'s C encoder writes it: a 10,000-bundle store's report in a third of the CPU time), keys
    sorted, one line."""
    return (json.dumps(report, separators=(",", ":"), sort_keys=True) + "\n").encode("utf-8")


def report_forms(report: dict[str, Any]) -> Iterator[bytes]:
    """The bytes the JSON report ``report`` had as audits wrote it: as now (:func:`report_bytes`), then indented by two
    spaces, as audits before compact reports wrote it (their signed records name those bytes)."""
    yield report_bytes(report)
    yield (json.dumps(report, indent=2, sort_keys=True) + "\n").encode("utf-8")


def record_key(name: str) -> str:
    """The key of the signed PROV record of the audit published as ``name`` (``<stamp>-<audit id>``)."""
    return f"{RUNS_PREFIX}{name}{RECORD_SUFFIX}"


def report_folder(name: str) -> str:
    """The folder of the reports of the audit published as ``name``."""
    return f"{REPORTS_PREFIX}{name}/"


def read_report(store: Store, key: str) -> bytes:
    """The bytes of the JSON report at ``key``, at most :data:`REPORT_LIMIT`; a larger one is refused
    (:class:`~prov_common.store.errors.ObjectTooLargeError` naming it and the fix), read no further."""
    try:
        return store.get(key, REPORT_LIMIT)
    except ObjectTooLargeError as exc:
        raise ObjectTooLargeError(f"audit report '{key}' in {store.describe()} is larger than {REPORT_LIMIT:,} bytes: it was not "
                                  "read", fix="run 'tdprov audit', which names a report that is not what its audit signed (restore "
                                  "that one from a backup, or remove it); read one it does not name with a streaming JSON "
                                  "reader") from exc


def signed_digests(prov_json: bytes) -> dict[str, str]:
    """Location -> digest of every report an audit's PROV-JSON record names."""
    def text(value: Any) -> str:
        return str(value.get("$") if isinstance(value, dict) else value)

    entities = loads(prov_json).get("entity") or {}
    return {text(attrs[_LOCATION]): text(attrs[_DIGEST]) for attrs in entities.values()
            if isinstance(attrs, dict) and _LOCATION in attrs and _DIGEST in attrs}


_FIX_PLANTED = "remove the object and find out who wrote it: an audit writes its reports and names them in its signed record"
FIX_OTHER_STORE = ("remove the record and the reports it names (audit/reports/<its name>/), and find out who copied them here: an "
                   "audit signs the store it audited into its record, and another store's reports say nothing of this one")


def of_store(named: Any, named_id: Any, store: Store, store_id: str | None) -> bool:
    """Whether ``named``, the store a signed audit record (:func:`audited_store`), report or resolution names as the one
    it was made for, is ``store`` (one signed for another store and copied in says nothing of this one). Judged by the
    store's identity when both have one (``named_id``, the ``storeId`` it names; ``store_id``, the id the audit judges
    staged objects by, see :class:`~prov_common.audit.identity.IdentityCheck`), so that a store moved or copied to
    another place keeps its audits; by URI when the record names no id (written before records named one) or the store
    has no identity that can be read."""
    if isinstance(named_id, str) and named_id and store_id:
        return named_id == store_id
    return str(named or "").rstrip("/") == store.uri.rstrip("/")


def _which(uri: Any, store_id: Any) -> str:
    """A store as a record names it: its URI, and its id when it names one."""
    return f"{uri or 'none named'}, store id {store_id}" if store_id else str(uri or "none named")


def check_record(store: Store, trust: TrustStore, key: str, *, this_store: bool = False, store_id: str | None = None) -> bytes:
    """The PROV-JSON of the audit's signed record at ``key``, verified: signed by a trusted auditor, and the record of
    the audit its key names (``audit/runs/<time>-<audit id>.prov.dsse.json``), not another audit's copied there;
    ``this_store``: and of an audit of ``store``, not another store's record copied in (:data:`FIX_OTHER_STORE`), judged by
    ``store_id`` when the record names an id too (:func:`of_store`)."""
    payload = open_envelope(store.get(key, SMALL_OBJECT_LIMIT), trust, PROV_PAYLOAD_TYPE, what=f"audit record '{key}'", position=_checkpoint_size).payload
    audit_id = key[len(RUNS_PREFIX):].removesuffix(RECORD_SUFFIX).split("-", 1)[-1]
    if f'"tdprov:audit-{audit_id}"'.encode() not in payload:
        raise VerificationError(f"'{key}' is not the record of audit {audit_id}: another audit's record copied under its name.",
                                fix=_FIX_PLANTED)
    named, named_id = audited_store(payload) if this_store else (None, None)  # parsed only when the store is judged
    if this_store and not of_store(named, named_id, store, store_id):
        by_id = bool(named_id and store_id)  # the ids told them apart: both are named
        raise VerificationError(f"'{key}' is the record of an audit of another store ({_which(named, named_id if by_id else None)}), not "
                                f"of this store ({_which(store.uri, store_id if by_id else None)}): it and the reports it names were "
                                "copied from that store.", fix=FIX_OTHER_STORE)
    return payload


def _checkpoint_size(payload: bytes) -> int:
    """The size of the newest checkpoint an audit's record names (where the log fixed it, for a retired key)."""
    entities = loads(payload)["entity"]
    return max((int(attrs["tdprov:treeSize"]["$"] if isinstance(attrs["tdprov:treeSize"], dict) else attrs["tdprov:treeSize"])
                for attrs in entities.values() if isinstance(attrs, dict) and "tdprov:treeSize" in attrs), default=0)


def check_report(store: Store, trust: TrustStore, key: str, data: bytes | None = None, *, this_store: bool = False,
                 store_id: str | None = None) -> bytes:
    """The PROV-JSON of the signed record of the audit that wrote report ``key``, verified. Raise
    :class:`VerificationError` unless the report is what that record names: the record of
    the audit its folder names (``<time>-<audit id>``), for that audit, naming this key and its digest (of ``data``, the
    report's bytes a caller read and parses, when given: else hashed in ranged reads, never held whole). A record
    written before the HTML page was signed names the JSON report only: its folder's page is then taken as it is. A
    failure of the record names it as its ``subject`` (see :class:`~prov_common.errors.TdprovError`): the report is not
    blamed for it. ``this_store``: that record must be of an audit of ``store``, whose id is ``store_id`` (see
    :func:`check_record`)."""
    name = key[len(REPORTS_PREFIX):].split("/", 1)[0]
    try:
        record = check_record(store, trust, record_key(name), this_store=this_store, store_id=store_id)
    except TdprovError as exc:
        exc.subject = exc.subject or record_key(name)
        raise
    digests = signed_digests(record)
    digest = digests.get(key)
    older_page = key == f"{report_folder(name)}report.html" and f"{report_folder(name)}report.json" in digests and not any(
        location.endswith("report.html") for location in digests)
    if digest is None and not older_page:
        raise VerificationError(f"report '{key}' is not named by its audit's signed record '{record_key(name)}'.", fix=_FIX_PLANTED)
    if digest is not None and (hash_stored(store, key) if data is None else hash_bytes(data)).digest != digest:
        raise VerificationError(f"report '{key}' is not the one its audit signed ({record_key(name)} names {digest}).",
                                fix="restore the report from a backup or replica, or run the audit again")
    return record


def audited_store(prov_json: bytes) -> tuple[str | None, str | None]:
    """The store an audit's PROV-JSON record names as the one it audited: its URI and its id (``tdprov:store`` and
    ``tdprov:storeId`` of its activity; each None when it names none, as records written before the id was signed name
    no id): what a report too large to read is known by."""
    activities = loads(prov_json).get("activity")
    named = [attrs for attrs in activities.values() if isinstance(attrs, dict)] if isinstance(activities, dict) else []
    if len(named) != 1:
        return None, None
    uri, store_id = named[0].get(_STORE), named[0].get(_STORE_ID)
    return uri if isinstance(uri, str) else None, store_id if isinstance(store_id, str) and store_id else None
