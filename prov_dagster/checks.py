"""Asset checks from the Pandera results that the IO manager recorded (Pandera runs once, in the IO manager)."""

from collections.abc import Iterable
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetChecksDefinition,
    AssetKey,
    AssetsDefinition,
    MetadataValue,
    asset_check,
)

from prov_dagster.metadata import BUNDLE_KEY, NOT_RECORDED_KEY
from prov_dagster.naming import dataset_name
from prov_dagster.policy import AssetProvenance

CHECK_NAME = "pandera"


def pandera_checks(assets: Iterable[Any]) -> list[AssetChecksDefinition]:
    """One ``@asset_check`` named ``pandera`` per asset that declares a Pandera schema.

    The check reads the result the IO manager wrote on the asset's latest materialization. Severity is
    ERROR under the ``fail`` and ``block`` policies, WARN otherwise; under ``block`` the check is
    blocking, so a failed validation stops downstream assets in the same run.
    """
    checks = []
    for item in assets:
        if not isinstance(item, AssetsDefinition):
            continue
        for key, spec in item.specs_by_key.items():
            wants = AssetProvenance.from_metadata(spec.metadata, f"asset {dataset_name(key)!r}")
            if wants.schema is not None:
                checks.append(_pandera_check(key, wants))
    return checks


def _pandera_check(key: AssetKey, wants: AssetProvenance) -> AssetChecksDefinition:
    severity = AssetCheckSeverity.ERROR if wants.policy in ("fail", "block") else AssetCheckSeverity.WARN

    @asset_check(
        asset=key,
        name=CHECK_NAME,
        blocking=wants.policy == "block",
        description=f"Pandera validation of {dataset_name(key)} as recorded by ProvenanceIOManager (policy {wants.policy}).",
    )
    def _check(context: AssetCheckExecutionContext) -> AssetCheckResult:
        return pandera_check_result(context.instance, key, severity)

    return _check


def pandera_check_result(instance: Any, key: AssetKey, severity: AssetCheckSeverity) -> AssetCheckResult:
    """The check result for the latest materialization of ``key`` from its recorded Pandera outcome."""
    records = instance.fetch_materializations(key, limit=1).records
    mat = records[0].asset_materialization if records else None
    recorded = mat.metadata.get("tdprov/pandera") if mat is not None else None
    if recorded is None:
        return AssetCheckResult(
            passed=False,
            severity=severity,
            metadata={"reason": MetadataValue.text(f"no Pandera result recorded for {dataset_name(key)}: materialize it with ProvenanceIOManager")},
        )
    result = recorded.value
    failed = [c for c in result.get("checks", []) if not c.get("passed")]
    metadata: dict[str, Any] = {
        "schema": MetadataValue.text(str(result.get("schemaName"))),
        "schema_digest": MetadataValue.text(str(result.get("schemaDigest"))),
        "failure_count": MetadataValue.int(int(result.get("failureCount", 0))),
        "failed_checks": MetadataValue.json(failed),
        "digest": mat.metadata.get("tdprov/digest", MetadataValue.text("")),
        "run_id": MetadataValue.text(records[0].run_id),
    }
    for key, name in ((BUNDLE_KEY, "bundle"), (NOT_RECORDED_KEY, "not_recorded")):
        if key in mat.metadata:
            metadata[name] = mat.metadata[key]
    return AssetCheckResult(passed=bool(result.get("passed")), severity=severity, metadata=metadata)
