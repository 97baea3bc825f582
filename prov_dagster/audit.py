"""``provenance_audit_job`` and its daily schedule: the tdprov audit, run from Dagster.

The job runs the same code as ``tdprov audit`` (signatures, tamper-evident log, PROV, completeness,
quality, unfinished runs, optionally re-hash; incremental from the last checkpoint). Each check is
reported as output metadata with the report's location; any finding fails the run with a
``dagster.Failure`` that lists the findings.
"""
from typing import Any

from dagster import Config, Failure, MetadataValue, OpExecutionContext, Out, Output, ScheduleDefinition, Nothing, job, op

from prov_common.audit import AuditResult, run_audit
from prov_common.store import open_store
from prov_dagster.resource import ProvenanceResource

AUDIT_JOB_NAME = "provenance_audit_job"
AUDIT_OP_NAME = "tdprov_audit"
DEFAULT_AUDIT_CRON = "0 3 * * *"


class AuditConfig(Config):
    """``full``: examine every bundle, not only those since the last checkpoint; ``rehash``: hash the
    data where it lives now; ``report_dir``: write the report there instead of into the store."""

    full: bool = False
    rehash: bool = False
    report_dir: str | None = None


def audit_metadata(result: AuditResult) -> dict[str, Any]:
    """What the Dagster UI shows of an audit: per-check status, counts, and where the report is."""
    metadata: dict[str, Any] = {
        "store": MetadataValue.text(result.store),
        "clean": MetadataValue.bool(result.clean),
        "findings": MetadataValue.int(len(result.errors)),
        "bundles_examined": MetadataValue.int(result.bundles_examined),
        "summary": MetadataValue.json(result.summary()),
    }
    for check in result.checks:
        metadata[f"check/{check.name}"] = MetadataValue.text(f"{check.status} ({check.checked} checked, {len(check.errors)} findings)")
    if result.report_json:
        metadata["report_json"] = MetadataValue.text(result.report_json)
    if result.report_html:
        metadata["report_html"] = MetadataValue.text(result.report_html)
    return metadata


@op(
    name=AUDIT_OP_NAME,
    out=Out(Nothing),
    description="Audit the lineage bundles in the tdprov store (same checks as 'tdprov audit').",
)
def tdprov_audit(context: OpExecutionContext, config: AuditConfig, provenance: ProvenanceResource):
    settings = provenance.settings()
    result = run_audit(open_store(settings=settings), settings, full=config.full, rehash=config.rehash, report_dir=config.report_dir)
    metadata = audit_metadata(result)
    if not result.clean:
        listed = "; ".join(f"{f.object}: {f.what}" for f in result.errors[:5])
        raise Failure(description=f"tdprov audit: {len(result.errors)} finding(s): {listed}", metadata=metadata)
    context.log.info(f"tdprov audit clean: {result.bundles_examined} bundle(s) examined; report {result.report_json}")
    yield Output(None, metadata=metadata)


@job(
    name=AUDIT_JOB_NAME,
    description="tdprov audit of the lineage bundles in the store.",
)
def provenance_audit_job() -> None:
    tdprov_audit()


def provenance_audit_schedule(cron_schedule: str = DEFAULT_AUDIT_CRON) -> ScheduleDefinition:
    """The audit job every day (03:00 UTC by default)."""
    return ScheduleDefinition(
        name="provenance_audit_daily", job=provenance_audit_job, cron_schedule=cron_schedule, execution_timezone="UTC"
    )
