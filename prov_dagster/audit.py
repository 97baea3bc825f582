"""The tdprov audit, run from Dagster: ``provenance_audit_job`` (one op, outside the data asset graph,
so "Materialize all" never runs it) with its daily ``provenance_audit_schedule``.

The job runs the same code as ``tdprov audit`` (signatures, tamper-evident log, PROV, completeness,
quality, unfinished runs, optionally re-hash, source records; incremental from the last checkpoint),
reports each check as an asset check evaluation of ``tdprov/audit`` and as op output metadata (with
links to the report), records a ``tdprov/audit`` materialization whose ``checkpoint`` the next audit
checks the log against, and fails the run with a ``dagster.Failure`` that lists the findings.
"""
import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import (
    AssetCheckEvaluation,
    AssetMaterialization,
    AssetCheckSeverity,
    AssetKey,
    Config,
    DefaultScheduleStatus,
    Failure,
    MetadataValue,
    Nothing,
    OpExecutionContext,
    Out,
    Output,
    ScheduleDefinition,
    job,
    op,
)

from prov_common.audit.model import CHECK_TITLES, CheckResult
from prov_common.audit.access import READ_ONLY_FIX, ReadOnlyTerms, require_report_dir
from prov_common.errors import BadInputError, StoreError, TdprovError
from prov_common.store import open_store
from prov_common.store.factory import local_store_path
from prov_dagster.links import location_link
from prov_dagster.resource import ProvenanceResource
from prov_common.text import counted

if TYPE_CHECKING:  # the audit engine loads when the job runs, not in every process that loads the definitions
    from prov_common.audit import AuditResult
    from prov_common.audit.memory import KnownCheckpoint

AUDIT_JOB_NAME = "provenance_audit_job"
AUDIT_SCHEDULE_NAME = "provenance_audit_schedule"
AUDIT_OP_NAME = "tdprov_audit"
AUDIT_ASSET_KEY = AssetKey(["tdprov", "audit"])
AUDIT_CHECK_NAMES = tuple(CHECK_TITLES)  # signatures, log, inventory, prov, completeness, quality, unfinished, rehash, snapshots, sources
DEFAULT_AUDIT_CRON = "0 3 * * *"
MAX_LISTED_FINDINGS = 50  # per check in its metadata; the report holds them all


class AuditConfig(Config):
    """``full``: examine every bundle, not only those since the last checkpoint; ``rehash``: hash the
    data where it lives now; ``report_dir``: write the report there instead of into the store;
    ``witnesses``: published checkpoints (files or ``s3://`` objects) the log must still extend;
    ``remember_in``: witness places (folders or ``s3://``) the audit also keeps the checkpoint in;
    ``accept_checkpoint``: the reason a person accepts the store's log as it is now, closing a gap
    (recorded in the store; resets the instance's checkpoint too); ``read_only``: with read access to the
    store only, check the log as it is and write nothing into the store (new bundles are examined, not
    logged; the report and the audit's signed record go to ``report_dir``, which it needs). The Dagster
    instance always keeps the checkpoint (:class:`InstanceWitness`)."""

    full: bool = False
    rehash: bool = False
    report_dir: str | None = None
    witnesses: list[str] = []
    remember_in: list[str] = []
    accept_checkpoint: str | None = None
    read_only: bool = False


CONFIG_AT = f"the {AUDIT_OP_NAME} op's config (ops: {AUDIT_OP_NAME}: config:)"
REHASH_HINT = f"set rehash: true in {CONFIG_AT}"  # how this job is asked to re-hash (not the CLI's --rehash)
READ_ONLY_CONFIG = f"read_only: true and report_dir: DIR in {CONFIG_AT}"
CONFIG_TERMS = ReadOnlyTerms("read_only", "accept_checkpoint", f"set report_dir to a folder in {CONFIG_AT}",
                             f"read_only: false in {CONFIG_AT}")


def check_config(config: AuditConfig) -> None:
    """Refuse settings the audit could not carry out, before it starts, naming the setting and the fix
    (:class:`BadInputError`)."""
    if config.read_only:
        require_report_dir(config.report_dir or None, config.accept_checkpoint, terms=CONFIG_TERMS)
    if config.report_dir:
        _require_folder("report_dir", config.report_dir, "the folder for report.json and report.html",
                        fix=f"set report_dir to a folder in {CONFIG_AT}, or leave it out to write the report into the store")
    for place in config.remember_in:
        if not place.lower().startswith("s3://"):
            _require_folder("remember_in", place, "a witness place (a folder or s3://bucket/prefix)",
                            fix=f"list folders or s3://bucket/prefix places under remember_in in {CONFIG_AT}")


def _require_folder(setting: str, value: str, role: str, fix: str) -> None:
    """``value`` names a folder, or one that can be made: no file at it or on its way."""
    try:
        path = Path(local_store_path(value, what=setting)).expanduser().absolute()
    except BadInputError as exc:
        raise BadInputError(f"{setting}: {exc.what}", fix=fix) from exc
    blocker = next((p for p in (path, *path.parents) if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        where = "is a file" if blocker == path else f"cannot be made: {blocker} is a file"
        raise BadInputError(f"{setting} '{value}' {where}, not {role}.", fix=fix)


def _in_dagster_terms(exc: TdprovError) -> TdprovError:
    """``exc`` with a fix that names the CLI's read-only audit naming this job's ``read_only`` config instead."""
    cli = f"'tdprov audit {READ_ONLY_FIX}'"
    if not exc.fix or cli not in exc.fix:
        return exc
    return type(exc)(exc.what, fix=exc.fix.replace(cli, READ_ONLY_CONFIG))


def _audit(config: AuditConfig, provenance: ProvenanceResource, instance: Any = None) -> "AuditResult":
    from prov_common.audit import run_audit

    check_config(config)
    settings = provenance.settings()
    store = open_store(settings=settings)
    places = [*config.remember_in, *([InstanceWitness(instance, store.uri)] if instance is not None else [])]
    report_dir = str(Path(config.report_dir).expanduser().absolute()) if config.report_dir else None  # a path, never a store key
    try:
        return run_audit(store, settings, full=config.full, rehash=config.rehash, rehash_hint=REHASH_HINT, report_dir=report_dir,
                         witnesses=config.witnesses, remember_in=places, accept_checkpoint=config.accept_checkpoint,
                         read_only=config.read_only, progress=False)  # a step's log is no terminal, as the Airflow operator's
    except (BadInputError, StoreError) as exc:
        translated = _in_dagster_terms(exc)
        if translated is exc:
            raise
        raise translated from exc


class InstanceWitness:
    """The newest checkpoint an audit of ``store_uri`` verified, kept in the Dagster instance's key-value
    storage (``tdprov/audit/checkpoint/<store URI hash>``): every audit job or asset run checks the log against
    it, and moves it only when the log extends it, so the instance witnesses a roll back even when the
    auditor's own memory is lost."""

    def __init__(self, instance: Any, store_uri: str) -> None:
        from prov_common.audit.memory import store_id

        self.instance, self.store_uri = instance, store_uri
        self.key = f"tdprov/audit/checkpoint/{store_id(store_uri)}"
        self.name = f"the checkpoint in the Dagster instance ({self.key})"

    def read(self) -> "KnownCheckpoint | None":
        from prov_common.audit.remember import kept_record, recorded_checkpoint

        raw = self.instance.run_storage.get_cursor_values({self.key}).get(self.key)
        if not raw:
            return None
        fix = "restore the instance's storage from a backup"
        return recorded_checkpoint(kept_record(raw, self.name, fix=fix), self.store_uri, self.name, fix=fix)

    def write(self, checkpoint: "KnownCheckpoint", *, now: datetime, audit_id: str) -> None:
        from prov_common.audit.remember import witness_record

        record = witness_record(self.store_uri, checkpoint, now=now, audit_id=audit_id)
        self.instance.run_storage.set_cursor_values({self.key: json.dumps(record, sort_keys=True)})


def _report_metadata(result: "AuditResult") -> dict[str, Any]:
    """Links to the report: a file under ``report_dir`` (an absolute path), else an object in the store."""
    return {
        name: location_link(result.location(where))
        for name, where in (("report_json", result.report_json), ("report_html", result.report_html)) if where
    }


def audit_metadata(result: "AuditResult") -> dict[str, Any]:
    """What the Dagster UI shows of an audit: per-check status, counts, and where the report is."""
    metadata: dict[str, Any] = {
        "store": MetadataValue.text(result.store),
        "clean": MetadataValue.bool(result.clean),
        "findings": MetadataValue.int(len(result.errors)),
        "bundles_examined": MetadataValue.int(result.bundles_examined),
        "summary": MetadataValue.json(result.summary()),
        "checkpoint": MetadataValue.json(result.published_checkpoint() or {}),  # any system that keeps it is a witness
    }
    for check in result.checks:
        metadata[f"check/{check.name}"] = MetadataValue.text(f"{check.status} ({check.checked} checked, {counted(len(check.errors), 'finding')})")
    metadata.update(_report_metadata(result))
    return metadata


def _listed(findings: list[Any], shown: int = 3) -> str:
    """The first ``shown`` of ``findings`` as a description lists them: ``object: what; ...``."""
    return "; ".join(f"{f.object}: {f.what}" for f in findings[:shown])


def _check_result_fields(check: CheckResult, result: "AuditResult") -> dict[str, Any]:
    """The fields an asset check evaluation of ``tdprov/audit`` has for one audit check."""
    metadata: dict[str, Any] = {
        "status": MetadataValue.text(check.status),
        "checked": MetadataValue.int(check.checked),
        "findings": MetadataValue.int(len(check.errors)),
        "findings_list": MetadataValue.json([f.view() for f in check.findings[:MAX_LISTED_FINDINGS]]),
        "store": MetadataValue.text(result.store),
        **_report_metadata(result),
    }
    if check.status == "skipped":  # a re-hash not asked for: its detail names this job's config (REHASH_HINT)
        description = f"{check.title}: {check.detail or 'skipped'}"
    elif check.errors:
        description = f"{check.title}: {counted(len(check.errors), 'finding')}: {_listed(check.errors)}"
    else:  # as 'tdprov audit' prints the line: its notes (every finding of a check that passed) and its detail
        notes = check.findings
        description = (f"{check.title}: pass" + (f" with {counted(len(notes), 'note')}: {_listed(notes)}" if notes else "")
                       + (f"; {check.detail}" if check.detail else ""))
    return {
        "asset_key": AUDIT_ASSET_KEY,
        "check_name": check.name,
        "passed": check.status != "fail",
        "metadata": metadata,
        "severity": AssetCheckSeverity.ERROR,
        "description": description,
    }


@op(
    name=AUDIT_OP_NAME,
    out=Out(Nothing),
    description="Audit the lineage bundles in the tdprov store (same checks as 'tdprov audit').",
)
def tdprov_audit(context: OpExecutionContext, config: AuditConfig, provenance: ProvenanceResource):
    result = _audit(config, provenance, context.instance)
    for check in result.checks:  # the checks of the tdprov/audit asset show the latest scheduled audit too
        if check.name in AUDIT_CHECK_NAMES:
            yield AssetCheckEvaluation(**_check_result_fields(check, result))  # yielded: kept when the run then fails
    metadata = audit_metadata(result)
    yield AssetMaterialization(asset_key=AUDIT_ASSET_KEY, metadata=metadata)  # publishes the checkpoint (InstanceWitness keeps it)
    if not result.clean:
        raise Failure(description=f"tdprov audit: {counted(len(result.errors), 'finding')}: {_listed(result.errors, 5)}",
                      metadata=metadata)
    context.log.info(f"tdprov audit clean: {counted(result.bundles_examined, 'bundle')} examined; "
                     f"report {result.location(result.report_json)}")
    yield Output(None, metadata=metadata)


@job(
    name=AUDIT_JOB_NAME,
    description="tdprov audit of the lineage bundles in the store.",
)
def provenance_audit_job() -> None:
    tdprov_audit()


def provenance_audit_schedule(cron_schedule: str = DEFAULT_AUDIT_CRON) -> ScheduleDefinition:
    """The audit job every day (03:00 UTC by default); running as soon as the code location loads."""
    return ScheduleDefinition(
        name=AUDIT_SCHEDULE_NAME, job=provenance_audit_job, cron_schedule=cron_schedule, execution_timezone="UTC",
        default_status=DefaultScheduleStatus.RUNNING,
    )
