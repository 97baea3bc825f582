"""Pandera quality checks: validate a DataFrame and keep a bounded, masked record of what failed.

Names are loaded on first use, so that the record of an outcome (``model``) does not load Pandera."""
from __future__ import annotations

from typing import TYPE_CHECKING

from prov_common.lazy import lazy_names

_LAZY = {
    "ALL_COLUMNS": "samples",
    "MASK": "validate",
    "SAMPLE_SCHEMA": "samples",
    "CheckOutcome": "model",
    "CheckStatus": "model",
    "QualityResult": "model",
    "describe_schema": "schema",
    "load_schema": "schema",
    "samples_parquet": "samples",
    "schema_digest": "schema",
    "validate": "validate",
}

if TYPE_CHECKING:  # pragma: no cover
    from prov_common.quality.model import CheckOutcome, CheckStatus, QualityResult
    from prov_common.quality.samples import ALL_COLUMNS, SAMPLE_SCHEMA, samples_parquet
    from prov_common.quality.schema import describe_schema, load_schema, schema_digest
    from prov_common.quality.validate import MASK, validate

__getattr__ = lazy_names(__name__, _LAZY, globals())
__all__ = sorted(_LAZY)
