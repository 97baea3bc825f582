"""Dagster integration of tdprov: every pandas asset content-hashed, validated, versioned by content and
recorded in signed lineage bundles.

    from prov_dagster import definitions, provenance_asset
    defs = definitions([raw_orders, clean_orders, features])

Names are loaded on first use: a process that imports the package pays only for the parts it takes (the audit
engine, for one, loads when the audit job runs).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from prov_common.lazy import lazy_names

_LAZY = {
    "PanderaValidationError": "validation",
    "ProvenanceIOManager": "io_manager",
    "ProvenanceResource": "resource",
    "ReadVersion": "resource",
    "Recorded": "resource",
    "audit_metadata": "audit",
    "close_failed_run": "sensors",
    "dataset_name": "naming",
    "definitions": "definitions",
    "pandera_checks": "checks",
    "provenance_asset": "assets",
    "provenance_audit_job": "audit",
    "provenance_audit_schedule": "audit",
    "provenance_canceled_sensor": "sensors",
    "provenance_failure_sensor": "sensors",
    "provenance_store_sensor": "sensors",
}

if TYPE_CHECKING:  # pragma: no cover
    from prov_dagster.assets import provenance_asset
    from prov_dagster.audit import audit_metadata, provenance_audit_job, provenance_audit_schedule
    from prov_dagster.checks import pandera_checks
    from prov_dagster.definitions import definitions
    from prov_dagster.io_manager import ProvenanceIOManager
    from prov_dagster.validation import PanderaValidationError
    from prov_dagster.naming import dataset_name
    from prov_dagster.resource import ProvenanceResource, ReadVersion, Recorded
    from prov_dagster.sensors import (
        close_failed_run,
        provenance_canceled_sensor,
        provenance_failure_sensor,
        provenance_store_sensor,
    )

__getattr__ = lazy_names(__name__, _LAZY, globals())

__all__ = sorted(_LAZY)
