"""What an asset's materialization shows in the Dagster UI (no I/O here)."""
from __future__ import annotations

from typing import Any

from dagster import MetadataValue, TableColumn, TableRecord, TableSchema

from prov_dagster.model import DatasetRecord

_COLUMN_TABLE_SCHEMA = TableSchema(
    columns=[
        TableColumn("column", "string"),
        TableColumn("type", "string"),
        TableColumn("digest", "string"),
    ]
)


def output_metadata(record: DatasetRecord, policy: str, bundle: str | None) -> dict[str, Any]:
    """Digest, per-column digests, rows, schema, Pandera outcome, data and bundle locations."""
    digest = record.digest
    meta: dict[str, Any] = {
        "tdprov/digest": MetadataValue.text(digest.digest),
        "tdprov/columns": MetadataValue.table(
            records=[TableRecord({"column": c.name, "type": c.logical_type, "digest": c.digest}) for c in digest.columns],
            schema=_COLUMN_TABLE_SCHEMA,
        ),
        "tdprov/data": MetadataValue.path(record.uri) if "://" not in record.uri else MetadataValue.url(record.uri),
        "tdprov/quality_policy": MetadataValue.text(policy),
        "dagster/row_count": MetadataValue.int(digest.rows),
        "dagster/column_schema": MetadataValue.table_schema(
            TableSchema(columns=[TableColumn(name, logical_type) for name, logical_type in digest.schema_fields()])
        ),
    }
    if record.quality is not None:
        meta["tdprov/pandera"] = MetadataValue.json(record.quality.to_dict())
        meta["tdprov/pandera_passed"] = MetadataValue.bool(record.quality.passed)
    if bundle is not None:
        meta["tdprov/bundle"] = MetadataValue.text(bundle)
    return meta
