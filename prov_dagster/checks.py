"""Asset checks from the Pandera results that the IO manager recorded (Pandera runs once, in the IO manager)."""

from collections.abc import Iterable
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetChecksDefinition,
    AssetKey,
    AssetRecordsFilter,
    AssetsDefinition,
    DagsterEventType,
    MetadataValue,
    asset_check,
)

from prov_common.quality.failed import failed_schema_text
from prov_dagster.metadata import BUNDLE_KEY, NOT_RECORDED_KEY
from prov_dagster.naming import dataset_name
from prov_dagster.policy import AssetProvenance
from prov_dagster.recorded_tables import spec_provenance
from prov_common.text import counted, first_of
from prov_common.w3cprov.quality import pandera_fault, pandera_outcome, recorded_int

CHECK_NAME = "pandera"
RECORDED_KEY = "tdprov/pandera"
"""The materialization metadata that holds the Pandera result the IO manager (or ProvenanceResource.record) recorded."""
FIX_UNKNOWN = ("materialize it again through ProvenanceIOManager or ProvenanceResource.record, which record its outcome; "
               f"leave the {RECORDED_KEY} metadata to them (an asset that sets it itself must give passed, and each check's, "
               "as true or false, and passed false when, and only when, a check failed or found failure cases)")


def pandera_checks(assets: Iterable[Any]) -> list[AssetChecksDefinition]:
    """One ``@asset_check`` named ``pandera`` per asset that declares a Pandera schema.

    The check reads the result the IO manager wrote on the asset's latest materialization; for a partitioned asset,
    on the latest materialization of every partition, and fails naming the partitions whose data failed. Severity
    is ERROR under the ``fail`` and ``block`` policies, WARN otherwise; under ``block`` the check is blocking, so a
    failed validation stops downstream assets in the same run.
    """
    checks = []
    for item in assets:
        if not isinstance(item, AssetsDefinition):
            continue
        for key, spec in item.specs_by_key.items():
            wants = spec_provenance(key, spec)
            if wants.schema is not None:
                checks.append(_pandera_check(key, wants, partitioned=spec.partitions_def is not None))
    return checks


def _pandera_check(key: AssetKey, wants: AssetProvenance, *, partitioned: bool) -> AssetChecksDefinition:
    severity = AssetCheckSeverity.ERROR if wants.policy in ("fail", "block") else AssetCheckSeverity.WARN

    @asset_check(
        asset=key,
        name=CHECK_NAME,
        blocking=wants.policy == "block",
        description=f"Pandera validation of {dataset_name(key)} as recorded by ProvenanceIOManager or ProvenanceResource.record "
                    f"(policy {wants.policy}).",
    )
    def _check(context: AssetCheckExecutionContext) -> AssetCheckResult:
        if partitioned:
            return partitioned_check_result(context.instance, key, severity, run_id=context.run.run_id)
        return pandera_check_result(context.instance, key, severity)

    return _check


def pandera_check_result(instance: Any, key: AssetKey, severity: AssetCheckSeverity) -> AssetCheckResult:
    """The check result for the latest materialization of ``key`` from its recorded Pandera outcome."""
    records = instance.fetch_materializations(key, limit=1).records
    if not records:
        return _never_materialized(key, severity)
    result = _recorded(records[0])
    if result is None:
        return _not_recorded(key, severity)
    passed = pandera_outcome(result)
    metadata = _result_metadata(records[0], result)
    if passed is None:
        return AssetCheckResult(passed=False, severity=severity, metadata=metadata, description=_unknown_text(key, result))
    return AssetCheckResult(passed=passed, severity=severity, metadata=metadata,
                            description=None if passed else _failed_text(key, result))


def _unknown_text(key: AssetKey, result: Any) -> str:
    """What the check says of a recorded result with no known outcome (:func:`~prov_common.w3cprov.quality.pandera_fault`)."""
    return (f"{dataset_name(key)}: the Pandera result recorded on the latest materialization has no known outcome "
            f"({pandera_fault(result, RECORDED_KEY)}), so it does not count as passed. Fix: {FIX_UNKNOWN}.")


def _failed_text(key: AssetKey, result: dict[str, Any]) -> str:
    """What a failed check of an unpartitioned asset says: the schema, the failure cases and the checks that failed
    (as the step failure of the ``fail`` policy says them), the field of the recorded result that is wrong (one an asset
    set itself: :func:`~prov_common.w3cprov.quality.pandera_fault`), and the fix."""
    fault = pandera_fault(result, RECORDED_KEY)
    fix = f"; for the field named, {FIX_UNKNOWN}" if fault else ""
    return (f"{failed_schema_text(f'{dataset_name(key)}: the latest materialization', result, fault)}. Fix: "
            f"materialize it again with data that passes the schema{fix}.")


def partitioned_check_result(instance: Any, key: AssetKey, severity: AssetCheckSeverity, *,
                             run_id: str | None = None) -> AssetCheckResult:
    """The check result over the latest materialization of every partition of ``key``.

    It fails when any partition's latest materialization failed validation or recorded none, naming those
    partitions. In a run (``run_id``) that materialized partitions of ``key`` which all passed, a failure that
    comes only from partitions other runs wrote is reported with WARN severity, so it never blocks that run's
    downstream steps; run on its own, the check keeps ``severity``.
    """
    latest = _latest_by_partition(instance, key)
    if not latest:
        return _never_materialized(key, severity)
    results = {p: _recorded(r) for p, r in latest.items()}
    failed = sorted(p for p, result in results.items() if result is not None and pandera_outcome(result) is False)
    unknown = sorted(p for p, result in results.items() if result is not None and pandera_outcome(result) is None)
    unrecorded = sorted(p for p, result in results.items() if result is None)
    bad = sorted({*failed, *unknown, *unrecorded})
    shown = latest[bad[0]] if bad else max(latest.values(), key=lambda r: r.storage_id)
    shown_result = results[shown.partition_key]
    metadata = _result_metadata(shown, shown_result) if shown_result is not None else {}
    metadata.update({
        "partition": MetadataValue.text(str(shown.partition_key)),
        "partitions_checked": MetadataValue.int(len(latest)),
        "failed_partitions": MetadataValue.json(failed),
        "unrecorded_partitions": MetadataValue.json(unrecorded),
        "unknown_partitions": MetadataValue.json(unknown),
    })
    if not bad:
        return AssetCheckResult(passed=True, severity=severity, metadata=metadata,
                                description=f"The latest materialization of every partition passed ({counted(len(latest), 'partition')}).")
    ours = [r for r in latest.values() if r.run_id == run_id]
    if ours and not any(r.partition_key in bad for r in ours):
        severity = AssetCheckSeverity.WARN
    text = _failure_text(key, failed, unrecorded, {p: results[p] for p in unknown})
    return AssetCheckResult(passed=False, severity=severity, metadata=metadata, description=text)


def _failure_text(key: AssetKey, failed: list[str], unrecorded: list[str], unknown: dict[str, Any]) -> str:
    """What the check of a partitioned asset says of the partitions that failed, have no result recorded, or one of no
    known outcome (``unknown``: each with its result; the first one's fault is named)."""
    parts = []
    if failed:
        parts.append(f"the latest materialization of partitions {_names(failed)} failed Pandera validation")
    if unknown:
        first = next(iter(unknown))
        parts.append(f"the Pandera result recorded on the latest materialization of partitions {_names(list(unknown))} has "
                     f"no known outcome (of {first!r}: {pandera_fault(unknown[first], RECORDED_KEY)})")
    if unrecorded:
        parts.append(f"partitions {_names(unrecorded)} have no Pandera result recorded")
    return (f"{dataset_name(key)}: {'; '.join(parts)}. Fix: materialize those partitions again with data that "
            f"passes the schema" + (f"; where no result is recorded, {NOT_RECORDED_FIX}" if unrecorded else "")
            + (f"; where it has no known outcome, {FIX_UNKNOWN}" if unknown else "") + ".")


def _names(partitions: list[str], shown: int = 10) -> str:
    return first_of([repr(p) for p in partitions], shown)


def _latest_by_partition(instance: Any, key: AssetKey) -> dict[str, Any]:
    """The latest materialization record of each materialized partition of ``key``, by partition key."""
    ids = instance.event_log_storage.get_latest_storage_id_by_partition(key, DagsterEventType.ASSET_MATERIALIZATION)
    if not ids:
        return {}
    records = instance.fetch_materializations(AssetRecordsFilter(asset_key=key, storage_ids=list(ids.values())),
                                              limit=len(ids)).records
    return {r.partition_key: r for r in records}


def _recorded(record: Any) -> dict[str, Any] | None:
    """The Pandera result the IO manager recorded on a materialization record; ``None`` when there is none."""
    value = record.asset_materialization.metadata.get(RECORDED_KEY)
    return value.value if value is not None else None


NOT_RECORDED_FIX = ("return its DataFrame through ProvenanceIOManager, or, for an asset that writes its own table, record it "
                    "with ProvenanceResource.record(outputs={<asset key>: <table file or DataFrame>}, context=context) and "
                    "return MaterializeResult(metadata=<that result>.metadata) (for each asset of a step that records "
                    "several: MaterializeResult(asset_key=<its key>, metadata=<that result>.metadata_for(<its key>)))")


def _not_recorded(key: AssetKey, severity: AssetCheckSeverity) -> AssetCheckResult:
    text = f"No Pandera result is recorded on the latest materialization of {dataset_name(key)}. Fix: {NOT_RECORDED_FIX}."
    return _failed_for(text, severity)


def _never_materialized(key: AssetKey, severity: AssetCheckSeverity) -> AssetCheckResult:
    """The check of an asset (of any partition) Dagster holds no materialization of: nothing was validated."""
    name = dataset_name(key)
    return _failed_for(f"Dagster holds no materialization of {name} to check: it was never materialized, or its history "
                       f"was wiped ('dagster asset wipe'). Fix: materialize {name}, then run its check.", severity)


def _failed_for(text: str, severity: AssetCheckSeverity) -> AssetCheckResult:
    return AssetCheckResult(passed=False, severity=severity, description=text, metadata={"reason": MetadataValue.text(text)})


def _result_metadata(record: Any, result: dict[str, Any]) -> dict[str, Any]:
    """The check metadata for a materialization record and the Pandera result recorded on it."""
    mat = record.asset_materialization
    result = result if isinstance(result, dict) else {}
    checks = result.get("checks") if isinstance(result.get("checks"), list) else []
    metadata: dict[str, Any] = {
        "schema": MetadataValue.text(str(result.get("schemaName"))),
        "schema_digest": MetadataValue.text(str(result.get("schemaDigest"))),
        "failure_count": MetadataValue.int(recorded_int(result.get("failureCount")) or 0),
        "failed_checks": MetadataValue.json([c for c in checks if isinstance(c, dict) and c.get("passed") is not True]),
        "digest": mat.metadata.get("tdprov/digest", MetadataValue.text("")),
        "run_id": MetadataValue.text(record.run_id),
    }
    for key, name in ((BUNDLE_KEY, "bundle"), (NOT_RECORDED_KEY, "not_recorded")):
        if key in mat.metadata:
            metadata[name] = mat.metadata[key]
    return metadata
