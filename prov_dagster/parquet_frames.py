"""A DataFrame as the Arrow table the IO manager writes as Parquet, refused when Parquet would not give it back.

The IO manager records the digest of the DataFrame an asset returns, and every load hashes the frame read
back from the Parquet file and compares the two. A frame that Parquet cannot hold as it is would be
recorded, and then reported as changed data at the next load or ``tdprov audit --rehash``. So such a frame
is refused before anything is written or recorded, with the column(s) named and the fix.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

import pandas as pd
import pyarrow as pa

from prov_common.errors import BadInputError

_CONVERSION_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError)


def parquet_table(df: pd.DataFrame, what: str) -> pa.Table:
    """``df`` as the table written to Parquet (``pa.Table.from_pandas``).

    :class:`BadInputError` naming ``what`` (e.g. ``asset 'raw/orders'``), the column(s) and the fix when the
    file would not read back as ``df``: column labels repeated, or equal once turned into text (``1`` and
    ``"1"``); a column Arrow cannot convert to one type (an ``object`` column of mixed values); rows but no
    columns (a Parquet file without columns keeps no row count)."""
    _refuse_repeated_labels(df, what)
    try:
        table = pa.Table.from_pandas(df)
    except _CONVERSION_ERRORS as exc:
        raise _conversion_error(df, what, exc) from None  # the message carries Arrow's
    _refuse_equal_names(df, table, what)
    if table.num_columns == 0 and len(df):
        raise BadInputError(
            f"{what} has {len(df):,} rows but no columns: a Parquet file without columns does not keep its row count, "
            "so the data read back would not be the data recorded.",
            fix="return at least one column (df.reset_index() keeps the row labels as one), or a frame with no rows")
    return table


def _refuse_repeated_labels(df: pd.DataFrame, what: str) -> None:
    repeated = list(dict.fromkeys(df.columns[df.columns.duplicated()]))
    if repeated:
        raise BadInputError(
            f"{what} has more than one column labelled {_labels(repeated)}: Parquet needs a distinct name per column.",
            fix="rename the columns so that each label is used once (df.columns = [...])")


def _refuse_equal_names(df: pd.DataFrame, table: pa.Table, what: str) -> None:
    """Labels Arrow turns into the same text (``1`` and ``"1"``) cannot be told apart once read back."""
    by_name: dict[str, list[Any]] = defaultdict(list)
    for position, name in enumerate(table.schema.names):  # the columns come first, then the index levels
        by_name[name].append(df.columns[position] if position < len(df.columns) else name)
    clashes = [f"{_labels(labels)} are {'both' if len(labels) == 2 else 'all'} stored as {name!r}"
               for name, labels in by_name.items() if len(labels) > 1]
    if clashes:
        raise BadInputError(
            f"{what} has column labels that are equal as text, as Parquet names columns: {'; '.join(clashes)}.",
            fix="rename the columns so that their labels differ as text (df.columns.map(str) shows them as stored)")


def _conversion_error(df: pd.DataFrame, what: str, exc: Exception) -> BadInputError:
    """The error for a frame Arrow cannot convert, naming the column(s) it fails on (tried one by one)."""
    failing = [label for position, label in enumerate(df.columns) if not _converts(df.iloc[:, [position]])]
    cause = " ".join(str(exc.args[0] if exc.args else exc).split())[:300]
    if not failing:
        return BadInputError(f"{what} cannot be written as Parquet: Arrow cannot convert its index ({cause}).",
                             fix="give the index values of one type (df.index = df.index.astype(str)), or df.reset_index(drop=True)")
    columns = f"column {_labels(failing)}" if len(failing) == 1 else f"columns {_labels(failing)}"
    example = repr(failing[0])
    return BadInputError(
        f"{what} cannot be written as Parquet: Arrow cannot convert {columns} ({cause}).",
        fix=f"cast the values to one type before returning the frame (an object column mixing numbers and text is the "
            f"usual cause), e.g. df[{example}] = df[{example}].astype(str)")


def _converts(part: pd.DataFrame) -> bool:
    try:
        pa.Table.from_pandas(part, preserve_index=False)
    except _CONVERSION_ERRORS:
        return False
    return True


def _labels(labels: list[Any]) -> str:
    shown = [repr(label) for label in labels]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"
