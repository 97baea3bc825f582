"""``provenance_audit_job`` and its daily schedule: verify the lineage bundles in the store from Dagster.

The job runs the same checks as ``tdprov verify``: every bundle's signature by a trusted key, its
manifest and the digests of its objects. Findings fail the run (``dagster.Failure`` with the findings
and the report in its metadata); a clean audit reports what it checked as output metadata.
"""

from dataclasses import dataclass, field
from typing import Any

from dagster import Config, Failure, MetadataValue, OpExecutionContext, ScheduleDefinition, job, op

from prov_common.bundle import list_bundles, verify_bundle
from prov_common.config import Settings
from prov_common.signing import trust_from_settings
from prov_common.store import open_store
from prov_dagster.resource import ProvenanceResource

AUDIT_JOB_NAME = "provenance_audit_job"
AUDIT_OP_NAME = "tdprov_audit"
DEFAULT_AUDIT_CRON = "0 3 * * *"


@dataclass
class AuditOutcome:
    """What an audit checked and found (no I/O)."""

    checked: int = 0
    findings: list[str] = field(default_factory=list)
    reports: list[dict[str, Any]] = field(default_factory=list)
    last_cursor: str | None = None

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checked": self.checked, "findings": self.findings, "lastCursor": self.last_cursor,
                "bundles": self.reports}


def audit_store(settings: Settings, since_cursor: str | None = None) -> AuditOutcome:
    """Verify every bundle indexed after ``since_cursor`` (all bundles when ``None``)."""
    store = open_store(settings=settings)
    trust = trust_from_settings(settings)
    outcome = AuditOutcome()
    for summary in list_bundles(store, since_cursor=since_cursor):
        report = verify_bundle(store, summary.run_id, trust)
        outcome.checked += 1
        outcome.last_cursor = summary.cursor
        outcome.reports.append(report.to_dict())
        outcome.findings.extend(f"bundle {summary.run_id} ({summary.job_name}): {f}" for f in report.findings)
        if report.key_id is None and not report.findings:
            outcome.findings.append(f"bundle {summary.run_id} ({summary.job_name}): no trusted signature")
    return outcome


class AuditConfig(Config):
    """``since_cursor``: verify only bundles indexed after this index key (the store sensor passes it)."""

    since_cursor: str | None = None


@op(name=AUDIT_OP_NAME, description="Verify the lineage bundles in the tdprov store (signatures, manifests, digests).")
def tdprov_audit(context: OpExecutionContext, config: AuditConfig, provenance: ProvenanceResource) -> None:
    outcome = audit_store(provenance.settings(), since_cursor=config.since_cursor)
    metadata = {
        "store": MetadataValue.text(provenance.settings().store),
        "bundles_checked": MetadataValue.int(outcome.checked),
        "findings": MetadataValue.int(len(outcome.findings)),
        "report": MetadataValue.json(outcome.to_dict()),
    }
    if not outcome.ok:
        raise Failure(
            description=f"tdprov audit: {len(outcome.findings)} finding(s) in {outcome.checked} bundle(s): "
            + "; ".join(outcome.findings[:5]),
            metadata=metadata,
        )
    context.add_output_metadata(metadata)


@job(name=AUDIT_JOB_NAME, description="tdprov audit of the lineage bundles in the store.")
def provenance_audit_job() -> None:
    tdprov_audit()


def provenance_audit_schedule(cron_schedule: str = DEFAULT_AUDIT_CRON) -> ScheduleDefinition:
    """The audit job every day (03:00 UTC by default)."""
    return ScheduleDefinition(
        name="provenance_audit_daily", job=provenance_audit_job, cron_schedule=cron_schedule, execution_timezone="UTC"
    )
