"""Pandera quality checks: validate a DataFrame and keep a bounded, masked record of what failed."""
from __future__ import annotations

from prov_common.quality.model import CheckOutcome, CheckStatus, QualityResult
from prov_common.quality.samples import ALL_COLUMNS, SAMPLE_SCHEMA, samples_parquet
from prov_common.quality.schema import describe_schema, load_schema, schema_digest
from prov_common.quality.validate import MASK, validate

__all__ = [
    "ALL_COLUMNS",
    "MASK",
    "SAMPLE_SCHEMA",
    "CheckOutcome",
    "CheckStatus",
    "QualityResult",
    "describe_schema",
    "load_schema",
    "samples_parquet",
    "schema_digest",
    "validate",
]
