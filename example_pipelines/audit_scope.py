"""Why the main job's audit is incremental, from the reports of the audits in the store.

The example DAG ends with an audit task (``ProvenanceAuditOperator``), which audits the store with the same auditor's
memory before the main job's own ``tdprov audit``; that audit then continues from the checkpoint the task left, and
says only "Incremental audit". :func:`incremental_reason` names the audit it continued from, as its report says.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from prov_common.audit.published import REPORTS_PREFIX, read_report
from prov_common.store.base import Store
from prov_common.times import iso_utc


def audit_reports(store: Store) -> Iterator[dict[str, Any]]:
    """The JSON reports of the audits of ``store``, newest first (their folders begin with the audit's start time),
    read one at a time, each at most :data:`~prov_common.audit.published.REPORT_LIMIT` bytes (a larger one is refused,
    naming it): the first is the main job's own audit, which has just run."""
    keys = sorted((k for k in store.list(REPORTS_PREFIX) if k.endswith("/report.json")), reverse=True)
    for key in keys:
        yield json.loads(read_report(store, key))


def incremental_reason(report: dict[str, Any], earlier: Iterable[dict[str, Any]],
                       airflow: tuple[datetime, datetime]) -> str | None:
    """The line that says why the audit of ``report`` was incremental: the audit among ``earlier`` (reports) that left
    the checkpoint it continued from (``log.remembered``), named as the example DAG's audit task where it started
    within ``airflow`` (when the main job ran the DAG); None for a full audit, or one whose earlier report is gone."""
    remembered = (report.get("log") or {}).get("remembered") or {}
    if report.get("mode") != "incremental" or not remembered.get("checkpoint"):
        return None
    left = (remembered["checkpoint"], remembered.get("checkpointDigest"))
    before = next((r for r in earlier if _left(r) == left), None)
    if before is None:
        return None
    started = iso_utc(str(before.get("startedAt")))
    what = f"audit {before.get('auditId')} of {before.get('startedAt')}"
    if started is not None and airflow[0] <= started <= airflow[1]:
        return (f"(incremental: the example DAG's audit task audited this store first ({what}), so this audit examined "
                "only the bundles new since)")
    return f"(incremental: this auditor audited this store before ({what}), so this audit examined only the bundles new since)"


def _left(report: dict[str, Any]) -> tuple[Any, Any]:
    """The checkpoint the audit of ``report`` left: its key and digest."""
    log = report.get("log") or {}
    return log.get("checkpoint"), log.get("checkpointDigest")
