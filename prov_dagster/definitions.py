"""``prov_dagster.definitions(...)``: a project's ``Definitions`` with provenance wired in, in one line."""
from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from typing import Any

from dagster import AssetsDefinition, AssetSpec, Definitions

from prov_dagster.audit import DEFAULT_AUDIT_CRON, provenance_audit_job, provenance_audit_schedule
from prov_dagster.backfills import ranged_assets
from prov_dagster.checks import pandera_checks
from prov_dagster.io_manager import ProvenanceIOManager
from prov_dagster.metadata import SCHEMA_CHECKS_KEY, schema_metadata
from prov_dagster.policy import SCHEMA_KEY
from prov_dagster.resource import ProvenanceResource
from prov_dagster.sensors import provenance_canceled_sensor, provenance_failure_sensor, provenance_store_sensor


def definitions(
    assets: Iterable[Any] = (),
    *,
    asset_checks: Iterable[Any] = (),
    jobs: Iterable[Any] = (),
    schedules: Iterable[Any] = (),
    sensors: Iterable[Any] = (),
    resources: Mapping[str, Any] | None = None,
    store: str | None = None,
    data_root: str | None = None,
    namespace: str = "default",
    strict: bool | None = None,
    audit_cron: str | None = DEFAULT_AUDIT_CRON,
    watch_store: bool = True,
    **kwargs: Any,
) -> Definitions:
    """``Definitions`` whose default IO manager is ``ProvenanceIOManager``, with Pandera checks for every
    asset that declares a schema, the ``provenance`` resource, the failed/canceled-run sensors, the
    store-watching sensor (``watch_store``) and the audit job with its daily schedule (``audit_cron``,
    ``None`` for none); sensors and schedule are running by default. The audit is an op job, not an
    asset: "Materialize all" materializes the data only. A partitioned asset stored by ``ProvenanceIOManager``
    whose ``backfill_policy`` runs several partitions in one step is warned about. A Pandera schema given as an object in an
    asset's metadata is shown by its import path and its checks. ``resources`` given here win (e.g.
    your own ``io_manager``)."""
    assets = [_schema_shown(item) for item in assets]
    settings = {"store": store, "data_root": data_root, "namespace": namespace, "strict": strict}
    wired: dict[str, Any] = {
        "io_manager": ProvenanceIOManager(**settings),
        "provenance": ProvenanceResource(**settings),
    }
    wired.update(resources or {})
    for warning in ranged_assets(assets, wired, ProvenanceIOManager):
        warnings.warn(warning, UserWarning, stacklevel=2)
    our_sensors = [provenance_failure_sensor, provenance_canceled_sensor] + ([provenance_store_sensor] if watch_store else [])
    return Definitions(
        assets=assets,
        asset_checks=[*pandera_checks(assets), *asset_checks],
        jobs=[provenance_audit_job, *jobs],
        schedules=[*([provenance_audit_schedule(audit_cron)] if audit_cron else []), *schedules],
        sensors=[*our_sensors, *sensors],
        resources=wired,
        **kwargs,
    )


def _schema_shown(item: Any) -> Any:
    """``item`` with the Pandera schema in each asset's metadata named by its import path, plus its checks table."""
    if not isinstance(item, AssetsDefinition) or not any(
        SCHEMA_KEY in spec.metadata and SCHEMA_CHECKS_KEY not in spec.metadata for spec in item.specs
    ):
        return item
    compute = getattr(getattr(item.node_def, "compute_fn", None), "decorated_fn", None)
    module = getattr(compute, "__module__", None)

    def show(spec: AssetSpec) -> AssetSpec:
        if SCHEMA_KEY not in spec.metadata or SCHEMA_CHECKS_KEY in spec.metadata:
            return spec
        return spec.replace_attributes(metadata={**spec.metadata, **schema_metadata(spec.metadata[SCHEMA_KEY], module)})

    return item.map_asset_specs(show)
