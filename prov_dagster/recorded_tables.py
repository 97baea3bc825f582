"""Which output of ``ProvenanceResource.record`` an asset's Pandera schema applies to, read as a DataFrame.

An asset that writes its own files (and returns ``MaterializeResult``) declares its schema as any other
(``provenance_asset(schema=...)``); ``record(outputs=..., context=context)`` validates the output named by the asset's
key, or the one output recorded when the step has one asset with a schema, if it is a table (a DataFrame, a Parquet,
CSV or JSON lines file).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa

from prov_dagster.model import DatasetRecord
from prov_dagster.naming import dataset_name
from prov_dagster.policy import AssetProvenance


@dataclass(frozen=True)
class SchemaTarget:
    """An output of ``record()`` (its index among the outputs) and the asset whose schema and policy apply to it."""

    index: int
    asset: str  # the asset's name, as its key is written: "raw/export"
    what: str  # "asset 'raw/export'"
    wants: AssetProvenance
    frame: pd.DataFrame


def schema_targets(assets: Mapping[Any, AssetProvenance], written: Sequence[DatasetRecord], data: Sequence[Any],
                   warn: Callable[[str], None]) -> list[SchemaTarget]:
    """The outputs ``written`` (given as ``data``) that the schemas of the step's ``assets`` (:func:`step_assets`)
    apply to, read as DataFrames; an asset with a schema and no table output to apply it to is logged through
    ``warn`` (its ``pandera`` check reports no result)."""
    schemas = {key: wants for key, wants in assets.items() if wants.schema is not None}
    targets = []
    for key, wants in schemas.items():
        what = f"asset {dataset_name(key)!r}"
        named = [i for i, record in enumerate(written) if record.namespace is None and record.name == dataset_name(key)]
        index = named[0] if named else 0 if len(written) == 1 and len(schemas) == 1 else None
        frame = _frame(data[index]) if index is not None else None
        if frame is None:
            warn(f"tdprov: {what} declares a Pandera schema, but record() was given "
                 + ("no output named by its key (nor a single output)" if index is None else f"{written[index].name!r}, which is no table")
                 + f", so nothing was validated and its pandera check reports no result; record its table as "
                 f"outputs={{{dataset_name(key)!r}: <DataFrame, or Parquet, CSV or JSON lines file>}}")
            continue
        targets.append(SchemaTarget(index, dataset_name(key), what, wants, frame))
    return targets


def step_assets(context: Any) -> dict[Any, AssetProvenance]:
    """What each asset the step of an asset ``context`` materializes asks of its output (none without one)."""
    if context is None or not getattr(context, "has_assets_def", False):
        return {}
    assets_def = context.assets_def
    keys = getattr(context, "selected_asset_keys", None) or assets_def.keys
    return {key: spec_provenance(key, assets_def.specs_by_key[key]) for key in keys if key in assets_def.specs_by_key}


def spec_provenance(key: Any, spec: Any) -> AssetProvenance:
    """What the asset ``key`` asks of its output by its ``AssetSpec``'s metadata and tags."""
    return AssetProvenance.from_metadata(spec.metadata, f"asset {dataset_name(key)!r}", spec.tags)


def _frame(data: Any) -> pd.DataFrame | None:
    """``data`` as a DataFrame, read the way its digest was taken; ``None`` for data that is no table."""
    if isinstance(data, pd.DataFrame):
        return data
    from prov_common.hashing.files import read_table_file, table_format  # the file readers load with the first file

    fmt = table_format(str(data))
    if fmt is None:
        return None
    table = read_table_file(str(data), fmt)
    return table.to_pandas() if isinstance(table, pa.Table) else table
