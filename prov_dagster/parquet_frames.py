"""A DataFrame as the Arrow table the IO manager writes as Parquet, refused when Parquet would not give it back.

The IO manager records the digest of the DataFrame an asset returns, and every load hashes the frame read
back from the Parquet file and compares the two. A frame that Parquet cannot hold as it is would be
recorded, and then reported as changed data at the next load or ``tdprov audit --rehash``. So such a frame
is refused before anything is written or recorded, with the column(s) named and the fix.
"""
from __future__ import annotations

import warnings
from collections import defaultdict
from typing import Any

import pandas as pd
import pyarrow as pa

from prov_common.errors import BadInputError
from prov_common.hashing.columns import label_key

_CONVERSION_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError)


def parquet_table(df: pd.DataFrame, what: str) -> pa.Table:
    """``df`` as the table written to Parquet (``pa.Table.from_pandas``).

    :class:`BadInputError` naming ``what`` (e.g. ``asset 'raw/orders'``), the column(s) and the fix when the
    file would not read back as ``df``: column labels repeated, or equal once turned into text (``1`` and
    ``"1"``); a column Arrow cannot convert to one type (an ``object`` column of mixed values); rows but no
    columns (a Parquet file without columns keeps no row count); column labels or index level names that would read
    back as other values (labels of mixed kinds and index levels named by numbers come back as text)."""
    _refuse_repeated_labels(df, what)
    with warnings.catch_warnings(record=True) as said:  # Arrow's own, on labels it turns into text: see below
        warnings.simplefilter("always")
        try:
            table = pa.Table.from_pandas(df)
        except _CONVERSION_ERRORS as exc:
            raise _conversion_error(df, what, exc) from None  # the message carries Arrow's
    _refuse_index_names_read_back_otherwise(df, table, what)
    _refuse_equal_names(df, table, what)
    _refuse_labels_read_back_otherwise(df, table, what)
    if table.num_columns == 0 and len(df):
        raise BadInputError(
            f"{what} has {len(df):,} rows but no columns: a Parquet file without columns does not keep its row count, "
            "so the data read back would not be the data recorded.",
            fix="return at least one column (df.reset_index() keeps the row labels as one), or a frame with no rows")
    for warning in said:  # a frame taken: Arrow's warnings are given as they were (a refused one's refusal says more)
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno, source=warning.source)
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


def _refuse_labels_read_back_otherwise(df: pd.DataFrame, table: pa.Table, what: str) -> None:
    """Column labels Arrow gives back as other values: labels of mixed kinds (``1`` and ``"a"``) come back as text,
    ``True`` and ``False`` as ``True`` twice, and a categorical set of labels cannot be read back at all."""
    columns = df.columns
    if type(columns) is pd.Index and columns.inferred_type == "string":  # text labels come back as they are
        return
    try:
        read = table.slice(0, 0).to_pandas().columns  # the labels as a load rebuilds them from the file's metadata
    except _CONVERSION_ERRORS as exc:
        raise BadInputError(f"{what} cannot be written as Parquet: Arrow could not read its column labels back ({_cause(exc)}).",
                            fix="give the columns a plain list of text labels, e.g. df.columns = [str(c) for c in df.columns]") from None
    changed = _changed(list(columns), list(read))
    if changed:
        raise BadInputError(
            f"{what} has column labels that Parquet would give back as other values ({changed}): the data read back "
            "would not be the data recorded, and every load would report it changed.",
            fix="rename the columns to text, e.g. df.columns = [str(c) for c in df.columns]")


def _refuse_index_names_read_back_otherwise(df: pd.DataFrame, table: pa.Table, what: str) -> None:
    """Index levels named by anything but text (``1``): Arrow keeps a level's name as text (a RangeIndex's as JSON)."""
    names = list(df.index.names)
    if all(name is None or isinstance(name, str) for name in names):
        return
    meta = table.schema.pandas_metadata or {}
    by_field = {c.get("field_name"): c.get("name") for c in meta.get("columns", [])}
    read = [entry.get("name") if isinstance(entry, dict) else by_field.get(entry) for entry in meta.get("index_columns", [])]
    changed = _changed(names, read)
    if changed:
        renamed = {name: str(name) for name in names if name is not None and not isinstance(name, str)}
        raise BadInputError(
            f"{what} has index levels whose names Parquet would give back as other values ({changed}): the data read "
            "back would not be the data recorded, and every load would report it changed.",
            fix=f"name the index levels by text, e.g. df = df.rename_axis(index={renamed!r})")


def _changed(labels: list[Any], read: list[Any]) -> str:
    """Each label that ``read`` (the labels read back) does not give back as the digest takes it, shown with what
    comes back instead ("" when all come back)."""
    if len(read) != len(labels):
        return f"{labels[:5]!r} as {read[:5]!r}"
    changed = [f"{label!r} as {back!r}" for label, back in zip(labels, read) if _key(label) != _key(back)]
    return ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")


def _key(label: Any) -> bytes | str:
    """A label as the digest takes it (its name key); a label the digest cannot take is left to the hashing's refusal."""
    try:
        return label_key(label)
    except BadInputError:
        return repr(label)


def _conversion_error(df: pd.DataFrame, what: str, exc: Exception) -> BadInputError:
    """The error for a frame Arrow cannot convert, naming the column(s) it fails on (tried one by one)."""
    failing = [label for position, label in enumerate(df.columns) if not _converts(df.iloc[:, [position]])]
    cause = _cause(exc)
    if not failing:
        return BadInputError(f"{what} cannot be written as Parquet: Arrow cannot convert its index ({cause}).",
                             fix="give the index values of one type (df.index = df.index.astype(str)), or df.reset_index(drop=True)")
    columns = f"column {_labels(failing)}" if len(failing) == 1 else f"columns {_labels(failing)}"
    example = repr(failing[0])
    return BadInputError(
        f"{what} cannot be written as Parquet: Arrow cannot convert {columns} ({cause}).",
        fix=f"cast the values to one type before returning the frame (an object column mixing numbers and text is the "
            f"usual cause), e.g. df[{example}] = df[{example}].astype(str)")


def _cause(exc: Exception) -> str:
    """Arrow's (or pandas') message on one line, cut to 300 characters."""
    return " ".join(str(exc.args[0] if exc.args else exc).split())[:300]


def _converts(part: pd.DataFrame) -> bool:
    try:
        pa.Table.from_pandas(part, preserve_index=False)
    except _CONVERSION_ERRORS:
        return False
    return True


def _labels(labels: list[Any]) -> str:
    shown = [repr(label) for label in labels]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"
