"""Failure samples: hiding the values of flagged columns, and the one Parquet form they are stored in."""
from __future__ import annotations

import io
from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from prov_common.errors import BadInputError

MASK = "***"
DEFAULT_SAMPLE_ROWS = 20
ALL_COLUMNS = "*"
"""In ``masked_columns``: hide the values of every column (and the row labels of a non-default index)."""

# Pandera checks whose failure case is the name of the column concerned, not a value.
COLUMN_NAMED_CHECKS = frozenset({"column_in_dataframe", "column_in_schema", "column_ordered", "duplicate_column_names"})

SAMPLE_SCHEMA = pa.schema(
    [
        ("schema_context", pa.string()),
        ("column", pa.string()),
        ("check", pa.string()),
        ("check_number", pa.int64()),
        ("failure_case", pa.string()),
        ("index", pa.string()),
        ("failure_case_digest", pa.string()),
    ]
)
"""Columns and types of every stored failure sample (Dagster and Airflow write the same bytes).
``failure_case_digest`` is the keyed digest of a masked value (:func:`.mask_key.masked_digest`), else null."""
DIGEST_COLUMN = "failure_case_digest"


def check_sample_rows(rows: object, where: str) -> int:
    """``rows`` as a count of failure cases to keep (``0``: no samples), else a clear error naming ``where``."""
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
        raise BadInputError(f"sample_rows={rows!r} of {where} is not a count of rows",
                            fix="use sample_rows=20 (the default) or another count; sample_rows=0 turns failure samples off")
    return rows


def column_names(columns: Iterable[str] | str | None) -> frozenset[str]:
    """Column names as a set (a single name given as a string is one name, not its letters)."""
    if columns is None:
        return frozenset()
    return frozenset({columns} if isinstance(columns, str) else {str(c) for c in columns})


def check_known_columns(names: Iterable[str] | str | None, columns: Iterable[str], option: str, dataset: str, *,
                        wildcard: bool = True) -> None:
    """Refuse column names in ``option`` that ``dataset`` does not have (``"*"`` means every column, unless not
    ``wildcard``: then it is a name like any other): a misspelt name would leave the real column unmasked."""
    known = {str(c) for c in columns}
    unknown = sorted(column_names(names) - known - ({ALL_COLUMNS} if wildcard else set()))
    if unknown:
        shown = ", ".join(sorted(known)[:20]) + (", ..." if len(known) > 20 else "")
        star = f" ({ALL_COLUMNS!r} is not every column here: name each column)" if ALL_COLUMNS in unknown else ""
        raise BadInputError(f"{option} names {', '.join(repr(c) for c in unknown)}, not a column of {dataset} (columns: {shown}).",
                            fix=f"spell the column as it is in the data, or remove it from {option}{star}")


def data_index_names(df: pd.DataFrame) -> tuple[str, ...]:
    """Names of the index levels that are data (``""`` for an unnamed one); ``()`` for a default RangeIndex."""
    if isinstance(df.index, pd.RangeIndex) and df.index.name is None:
        return ()
    return tuple("" if name is None else str(name) for name in df.index.names)


def mask_sample(sample: pd.DataFrame, masked: Iterable[str] | str, index_names: tuple[str, ...] = (), *,
                shown: Iterable[str] | str = ALL_COLUMNS) -> pd.DataFrame:
    """``sample`` with the values of ``masked`` columns, and of every column not in ``shown``, replaced by
    ``***``; each masked value keeps its keyed digest in ``failure_case_digest``.

    ``shown`` defaults to every column (only ``masked`` is hidden: adding masks to a sample). Also
    hidden: values of table-level checks whose column is unknown (they could come from any column),
    every value when ``masked`` holds ``"*"``, and the row labels when the index is data
    (``index_names``) and one of its levels is hidden. Column names reported by presence checks stay.
    """
    names, visible = column_names(masked), column_names(shown)
    sample = sample if DIGEST_COLUMN in sample.columns else sample.assign(**{DIGEST_COLUMN: None})
    if sample.empty or (not names and ALL_COLUMNS in visible):
        return sample
    every = ALL_COLUMNS in names
    named = sample["check"].isin(COLUMN_NAMED_CHECKS).to_numpy(dtype=bool)
    column = sample["column"]
    hidden = column.isna().to_numpy(dtype=bool) | column.isin(names).to_numpy(dtype=bool) | every
    if ALL_COLUMNS not in visible:
        hidden |= ~column.isin(visible).to_numpy(dtype=bool)
    already = np.fromiter((isinstance(v, str) and v == MASK for v in sample["failure_case"]), dtype=bool, count=len(sample))
    hide = ~named & hidden & ~already
    masked_sample = sample.copy()
    if hide.any():
        from prov_common.quality.mask_key import mask_key, masked_digest

        key = mask_key()
        values = masked_sample.loc[hide, "failure_case"]
        masked_sample.loc[hide, DIGEST_COLUMN] = [None if pd.isna(v) else masked_digest(str(v), key) for v in values]
        masked_sample.loc[hide, "failure_case"] = MASK
    index_hidden = every or any(n in names for n in index_names) or (
        ALL_COLUMNS not in visible and any(n not in visible for n in index_names))
    if index_names and index_hidden:
        masked_sample.loc[masked_sample["index"].notna(), "index"] = MASK
    return masked_sample


def samples_parquet(sample: pd.DataFrame) -> bytes:
    """The Parquet bytes of a failure sample, typed by :data:`SAMPLE_SCHEMA` (no pandas metadata)."""
    if DIGEST_COLUMN not in sample.columns:
        sample = sample.assign(**{DIGEST_COLUMN: None})
    table = pa.Table.from_pandas(sample[SAMPLE_SCHEMA.names], schema=SAMPLE_SCHEMA, preserve_index=False)
    buffer = io.BytesIO()
    pq.write_table(table.replace_schema_metadata(None), buffer, compression="zstd")
    return buffer.getvalue()
