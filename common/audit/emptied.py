"""A store emptied of its records, told by the audits it still holds.

An auditor that remembers nothing of a store (a fresh ``TDPROV_HOME``, a CI runner, the scheduled job's first run) cannot
compare it with a memory; the store's own signed audit reports can. When the store holds no record (no bundle, index
entry, source record, log object or run in progress), the newest report that verifies under the auditors' keys and found
records in it (a log, runs or source records), or that named such an emptying itself (its finding of kind
:data:`EMPTIED`, or by the words of :data:`FIX_EMPTIED` in a report written before findings had kinds), is evidence that
the records were deleted: a finding, not an empty store to refuse or to pass as clean. A report is read once, at most
:data:`REPORT_LIMIT` bytes, and parsed from the bytes checked against its signed digest; one larger that verifies (hashed
in ranged reads) is evidence too, a report of a store that held no record being a few kilobytes, when its audit's signed
record names this store (a report's ``store`` comes after its runs). Reports of another store (their ``storeId``, copied
in from it; or their ``store``, for a report that names no id or a store whose identity cannot be read: see
:func:`~prov_common.audit.published.of_store`) are none, nor are those older than the newest signed resolution of this
store (``--accept-checkpoint``; one of another store copied in hides none): a person accepted the store as it was then.
A store moved or copied to another place (its ``_tdprov/store.json`` with it) keeps its reports as evidence.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from prov_common.audit.model import CHECK_INVENTORY, Finding
from prov_common.audit.published import REPORT_LIMIT, REPORTS_PREFIX, audited_store, check_report, of_store
from prov_common.audit.resolve import RESOLUTIONS_PREFIX, check_resolution
from prov_common.errors import StoreUnavailableError, TdprovError
from prov_common.signing import TrustStore
from prov_common.store.base import Store
from prov_common.store.errors import ObjectTooLargeError
from prov_common.text import counted
from prov_common.w3cprov.events import whole_count

REPORT_FILE = "report.json"
EMPTIED = "emptied"  # the kind of the finding of a store emptied of its records, in the report's JSON
FIX_EMPTIED = ("restore the store from a backup or replica taken after that audit, then audit again; if the loss is understood and "
               "accepted, record it with 'tdprov audit --accept-checkpoint --reason TEXT'")


def forgotten(store: Store, remembered: str) -> Finding:
    """The finding of a store that holds no record now where this auditor remembers ``remembered`` (what it verified):
    said in the report too, so that an auditor that remembers nothing still finds the deletion in it (:func:`emptied`)."""
    return Finding(CHECK_INVENTORY, store.uri, f"the store holds no record, but this auditor remembers {remembered} in it: they "
                   "were deleted since", FIX_EMPTIED, kind=EMPTIED)


@dataclass(frozen=True)
class ReportEvidence:
    """What the store's audit reports (newest first, see the module docstring) tell of a store that holds no record:
    ``finding``, that of its emptying (None when no report tells it); ``unverified``, the reports read that do not verify
    under the auditors' keys, each with why (another auditor's key, not trusted here; or altered), evidence of nothing
    to this auditor, which the refusal of a store with nothing to audit names; ``reports``, how many reports there are to
    read (all are read when ``finding`` is None)."""

    finding: Finding | None
    unverified: tuple[tuple[str, str], ...]
    reports: int


def emptied(store: Store, trust: TrustStore, store_id: str | None) -> ReportEvidence:
    """What the store's audit reports tell of a store that holds no record now (the caller checked): the finding of the
    newest evidence-bearing report (see the module docstring) that found records, if one verifies under the auditors'
    keys ``trust``; each report is read and verified once, up to that one. ``store_id``: the id the audit judges the
    store's records by (:attr:`~prov_common.audit.identity.IdentityCheck.store_id`)."""
    reports, unverified = _reports(store, trust, store_id), []
    for key in reports:
        try:
            held = _held(store, trust, key, store_id)
        except StoreUnavailableError:
            raise
        except TdprovError as exc:  # a report that does not verify is the inventory's finding, and evidence of nothing
            unverified.append((key, exc.what))
            continue
        except ValueError:  # a report (or its signed record) not of its shape: evidence of nothing either
            continue
        if held:
            return ReportEvidence(Finding(CHECK_INVENTORY, key, f"the store holds no record, but the audit that wrote report "
                                          f"'{key}' {held}: they were deleted since", FIX_EMPTIED, kind=EMPTIED),
                                  tuple(unverified), len(reports))
    return ReportEvidence(None, tuple(unverified), len(reports))


def _resolved(store: Store, trust: TrustStore, store_id: str | None) -> str:
    """The name of the newest resolution that accepted the store's log and verifies under the auditors' keys ('' when
    none): a key planted under ``audit/resolutions/``, an acceptance of one run's findings, or one of another store
    copied in (its ``store``, as a report's), accepts no emptying."""
    for key in sorted(store.list(RESOLUTIONS_PREFIX), reverse=True):
        try:
            record = check_resolution(store, trust, key)
        except StoreUnavailableError:
            raise
        except (TdprovError, ValueError):
            continue  # the inventory's finding, and a resolution of nothing
        if record.get("runId") is None and of_store(record.get("store"), record.get("storeId"), store, store_id):
            return key[len(RESOLUTIONS_PREFIX):]
    return ""


def _reports(store: Store, trust: TrustStore, store_id: str | None) -> list[str]:
    """The keys of the store's audit reports (``report.json``), newest first, down to the newest verified acceptance of
    the log (:func:`_resolved`): older ones describe a store a person accepted as it was then."""
    resolved = _resolved(store, trust, store_id)
    reports = sorted((key for key in store.list(REPORTS_PREFIX) if key.endswith("/" + REPORT_FILE)), reverse=True)
    return [key for key in reports if key[len(REPORTS_PREFIX):] >= resolved]


def _held(store: Store, trust: TrustStore, key: str, store_id: str | None) -> str | None:
    """What the report at ``key``, verified, found in the store (its log, runs and source records; or that it named records
    as deleted), None when it found none or is another store's. Raises :class:`TdprovError` when it does not verify, ``ValueError``
    when it or its record is not of its shape."""
    try:
        data: bytes | None = store.get(key, REPORT_LIMIT)
    except ObjectTooLargeError:
        data = None
    record = check_report(store, trust, key, data)
    report: dict[str, Any] = json.loads(data) if data is not None else dict(zip(("store", "storeId"), audited_store(record)))
    if not isinstance(report, dict) or not of_store(report.get("store"), report.get("storeId"), store, store_id):
        return None  # another store's report, signed there and copied in: evidence of nothing here
    if data is None:  # its store is the one its audit's signed record names
        return f"wrote a report larger than {REPORT_LIMIT:,} bytes, not read further (one of a store that held no record is a few kilobytes)"
    summary, log = _object(report.get("summary")), _object(report.get("log"))
    size, runs, sources = (whole_count(value) or 0 for value in (log.get("treeSize"), summary.get("runs"), summary.get("sources")))
    parts = [f"a log of {size} leaves" if size else "", counted(runs, "run") if runs else "",
             counted(sources, "source record") if sources else ""]
    if any(parts):
        return f"found {', '.join(p for p in parts if p)} in it"
    told = any(f.get("kind") == EMPTIED or f.get("fix") == FIX_EMPTIED for c in _objects(report.get("checks"))
               if c.get("name") == CHECK_INVENTORY for f in _objects(c.get("findings")))
    return "named records that an earlier audit found in it as deleted" if told else None


def _object(value: Any) -> dict[str, Any]:
    """``value`` if the report holds an object there, else an empty one: a field of another shape found nothing."""
    return value if isinstance(value, dict) else {}


def _objects(value: Any) -> list[dict[str, Any]]:
    """The objects of the list ``value`` (none when it is no list): an item of another shape names nothing."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


__all__ = ["EMPTIED", "FIX_EMPTIED", "ReportEvidence", "emptied", "forgotten"]
