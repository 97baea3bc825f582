"""ProvenanceAuditOperator: verify lineage bundles in the store; fail the task on any finding."""
from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowException, BaseOperator

from prov_airflow.lineage import LineageMixin
from prov_common.canonical_json import canonical_bytes
from prov_common.text import counted

if TYPE_CHECKING:
    from prov_common.audit import AuditResult
    from prov_common.audit.memory import KnownCheckpoint


def verify_store(store: Any, settings: Any, run_ids: Sequence[str] | None, since: str | None) -> dict[str, Any]:
    """Verify the given runs' bundles (default: every run, or those indexed since ``since``, each
    with its index entries, as ``tdprov verify`` does); a JSON-able report."""
    from prov_common.bundle.verify_runs import verify_runs
    from prov_common.bundle.trust import bundle_trust

    from prov_common.times import since_time

    start = since_time(since, "since") if since else None
    reports = list(verify_runs(store, bundle_trust(settings, store), run_ids, since=start))
    findings = [dict(f.to_dict(), runId=r.run_id) for r in reports for f in r.findings]
    return {"kind": "tdprov-verify", "store": store.uri, "checkedAt": datetime.now(timezone.utc).isoformat(),
            "bundles": len(reports), "ok": all(r.ok for r in reports), "findings": findings}


class VariableWitness:
    """An Airflow Variable that keeps the newest checkpoint an audit of ``store_uri`` verified (with the
    store it is of, as every witness place keeps it); every audit checks the log against it and moves it
    only when the log extends it, so the Variable witnesses a roll back even when the auditor's memory
    is lost. A Variable of another store is refused; one holding only the published checkpoint (as
    written before the store was kept with it) is read as of this store."""

    def __init__(self, variable: str, store_uri: str) -> None:
        self.variable, self.store_uri = variable, store_uri
        self.name = f"Airflow Variable {variable!r}"

    def read(self) -> "KnownCheckpoint | None":
        from airflow.sdk import Variable

        from prov_common.audit.remember import kept_record, recorded_checkpoint
        from prov_common.audit.witness import published_checkpoint

        kept = Variable.get(self.variable, default=None)
        if not kept:
            return None
        record = kept_record(kept, self.name, fix="restore the Variable from a backup")
        if isinstance(record, dict) and "store" in record:
            return recorded_checkpoint(record, self.store_uri, self.name,
                                       fix="give each store a Variable of its own, or restore it from a backup")
        return published_checkpoint(record, self.name)

    def write(self, checkpoint: "KnownCheckpoint", *, now: datetime, audit_id: str) -> None:
        from airflow.sdk import Variable

        from prov_common.audit.remember import witness_record

        Variable.set(self.variable, json.dumps(witness_record(self.store_uri, checkpoint, now=now, audit_id=audit_id), sort_keys=True))


def checkpoint_facet(result: "AuditResult") -> Any:
    """The ``tdprov_auditCheckpoint`` run facet of an audit: the checkpoint it verified (none over a gap)."""
    from prov_common.lineage.facets import AuditCheckpointRunFacet

    published = result.published_checkpoint() or {}
    return AuditCheckpointRunFacet(store=result.store, auditId=result.audit_id, clean=result.clean, findings=len(result.errors),
                                   logGap=result.log_gap, treeSize=published.get("treeSize"), rootHash=published.get("rootHash"),
                                   checkpointDigest=published.get("checkpointDigest"), checkpoint=published.get("checkpoint") or None)


REHASH_HINT = "set rehash=True on the ProvenanceAuditOperator"  # what its report says of a re-hash not asked for


class ProvenanceAuditOperator(LineageMixin, BaseOperator):
    """Audit the store (``tdprov audit``) or verify bundles (``tdprov verify``); fail the task on findings.

    :param mode: ``audit`` (default: signatures, Merkle log and checkpoints, completeness, quality; writes
        the JSON and HTML report and records the audit in the store) or ``verify`` (bundle signatures,
        manifests, events and index entries, exactly as ``tdprov verify``).
    :param full: audit every bundle, not only those new since the last checkpoint.
    :param rehash: re-hash the data where it now lives and compare with the recorded digests.
    :param report_dir: folder for the audit report (default: in the store), or for ``verify`` the JSON
        report file path (default: a key under ``reports/verify/`` in the store). Templated.
    :param run_ids: ``verify`` only: the bundles to verify (default: every bundle since ``since``).
    :param since: ``verify`` only: ISO time; only runs indexed at or after it (default: every run).
    :param tdprov_conn_id: ``tdprov`` connection of the store; default ``[tdprov]``/``TDPROV_*``.
    :param witnesses: ``audit`` only: published checkpoints (files or ``s3://`` objects) the log must still extend.
    :param witness_variable: ``audit`` only: an Airflow Variable that keeps the checkpoint between audits:
        each audit checks the log against it and, when the log extends it, stores the new checkpoint there.
    :param remember_in: ``audit`` only: witness places (folders or ``s3://`` prefixes) kept the same way.
    :param accept_checkpoint: ``audit`` only: the reason a person accepts the store's log as it is now,
        closing a gap (recorded in the store; resets the Variable and the places).

    Returns (XCom) the report's location; ``audit`` also pushes the checkpoint it verified (tree size,
    root, digest) as XCom ``checkpoint`` and puts it in the run facet ``tdprov_auditCheckpoint`` of the
    task's OpenLineage events (also for the official OpenLineage provider). The report is written before
    the task fails, so the findings can be read.
    """

    template_fields: Sequence[str] = ("run_ids", "since", "report_dir")

    def __init__(self, *, mode: str = "audit", full: bool = False, rehash: bool = False,
                 report_dir: str | None = None, run_ids: Sequence[str] | None = None, since: str | None = None,
                 tdprov_conn_id: str | None = None, witnesses: Sequence[str] = (), witness_variable: str | None = None,
                 remember_in: Sequence[str] = (), accept_checkpoint: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if mode not in ("audit", "verify"):
            from prov_common.errors import BadInputError

            raise BadInputError(f"task {self.task_id!r}: mode={mode!r} is not supported",
                                fix="use mode='audit' or mode='verify'")
        self.mode, self.full, self.rehash = mode, full, rehash
        self.report_dir = report_dir
        self.run_ids = run_ids
        self.since = since
        self.tdprov_conn_id = tdprov_conn_id
        self.witnesses = list(witnesses)
        self.witness_variable = witness_variable
        self.remember_in = list(remember_in)
        self.accept_checkpoint = accept_checkpoint

    def execute(self, context: Any) -> str:
        from prov_airflow.hooks.provenance import ProvenanceHook

        hook = ProvenanceHook(self.tdprov_conn_id)
        settings = hook.get_settings()
        store = hook.get_conn()  # an s3:// store through the aws_conn_id connection's session
        if self.mode == "audit":
            return self._audit(store, settings, context)
        report = verify_store(store, settings, list(self.run_ids) if self.run_ids else None, self.since)
        location = self._write(store, report)
        self.log.info("tdprov: verified %s, %s; report at %s",
                      counted(report["bundles"], "bundle"), counted(len(report["findings"]), "finding"), location)
        if not report["ok"]:
            lines = "; ".join(f"{f['key']}: {f['problem']}: {f['reason']}" for f in report["findings"][:20])
            raise AirflowException(f"tdprov verify found {counted(len(report['findings']), 'finding')}: {lines} "
                                   f"(report: {location})")
        return location

    def _audit(self, store: Any, settings: Any, context: Any) -> str:
        from prov_common.audit import run_audit
        from prov_common.lineage.facets import AUDIT_CHECKPOINT

        places: list[Any] = [*self.remember_in, *([VariableWitness(self.witness_variable, store.uri)] if self.witness_variable else [])]
        result = run_audit(store, settings, full=self.full, rehash=self.rehash, rehash_hint=REHASH_HINT, report_dir=self.report_dir,
                           progress=False, witnesses=self.witnesses, remember_in=places, accept_checkpoint=self.accept_checkpoint)
        context["ti"].xcom_push(key="checkpoint", value=result.published_checkpoint())
        self.record_lineage().run_facets[AUDIT_CHECKPOINT] = checkpoint_facet(result)
        location = result.location(result.report_json) or ""  # a file path, or the store URI joined with the key
        self.log.info("tdprov: audit %s: %s; report at %s", result.audit_id, result.summary(), location)
        if not result.clean:
            lines = "; ".join(f"[{f.check}] {f.object}: {f.what}" for f in result.errors[:20])
            raise AirflowException(f"tdprov audit found {counted(len(result.errors), 'finding')}: {lines} (report: {location})")
        return location

    def _write(self, store: Any, report: dict[str, Any]) -> str:
        data = canonical_bytes(report)
        if self.report_dir:
            path = Path(self.report_dir)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            return str(path.resolve())
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        key = f"reports/verify/{stamp}-{self.dag_id}-{self.task_id}.json"
        store.put(key, data)
        return f"{store.uri.rstrip('/')}/{key}"
