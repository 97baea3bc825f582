"""Dagster integration of tdprov: every pandas asset content-hashed, validated, versioned by content and
recorded in signed lineage bundles.

    from prov_dagster import definitions, provenance_asset
    defs = definitions([raw_orders, clean_orders, features])
"""
from __future__ import annotations

from prov_dagster.assets import provenance_asset
from prov_dagster.audit import audit_metadata, provenance_audit_job, provenance_audit_schedule
from prov_dagster.checks import pandera_checks
from prov_dagster.definitions import definitions
from prov_dagster.io_manager import ProvenanceIOManager
from prov_dagster.validation import PanderaValidationError
from prov_dagster.naming import dataset_name
from prov_dagster.resource import ProvenanceResource, Recorded
from prov_dagster.sensors import (
    close_failed_run,
    provenance_canceled_sensor,
    provenance_failure_sensor,
    provenance_store_sensor,
)

__all__ = [
    "PanderaValidationError",
    "ProvenanceIOManager",
    "ProvenanceResource",
    "Recorded",
    "audit_metadata",
    "close_failed_run",
    "dataset_name",
    "definitions",
    "pandera_checks",
    "provenance_asset",
    "provenance_audit_job",
    "provenance_audit_schedule",
    "provenance_canceled_sensor",
    "provenance_failure_sensor",
    "provenance_store_sensor",
]
