"""Validate a DataFrame against a Pandera schema, collecting every failure."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

from prov_common.errors import BadInputError
from prov_common.quality.model import CheckOutcome, QualityResult
from prov_common.quality.samples import (
    ALL_COLUMNS,
    COLUMN_NAMED_CHECKS,
    DEFAULT_SAMPLE_ROWS,
    MASK,
    check_known_columns,
    check_sample_rows,
    column_names,
    data_index_names,
    mask_sample,
)
from prov_common.quality.schema import SchemaLike, load_schema, schema_digest, schema_name

__all__ = ["MASK", "flagged_columns", "public_flagged", "validate"]
_SAMPLE_COLUMNS = ["schema_context", "column", "check", "check_number", "failure_case", "index"]

CheckKey = tuple[str | None, str]  # (column or None, check name)


def validate(
    df: pd.DataFrame,
    schema: SchemaLike,
    *,
    sample_rows: int = DEFAULT_SAMPLE_ROWS,
    masked_columns: Iterable[str] | str = (),
    public_columns: Iterable[str] | str = (),
    raw_samples: bool = False,
) -> QualityResult:
    """Validate ``df`` lazily against ``schema`` and report every check.

    ``schema``: a ``DataFrameSchema``, a ``DataFrameModel`` class, or ``"pkg.module:Name"``.
    ``sample_rows`` bounds the failure sample (``0``: no sample). Private by default: every value is
    shown as ``***`` (with its keyed digest) unless its column is declared non-personal, in
    ``public_columns`` or in the schema (``pa.Column(..., metadata={"personal": False})``), or
    ``raw_samples`` is on. Columns in ``masked_columns`` (``"*"``: every column) and those the schema
    flags as personal or confidential (``metadata={"personal": True}`` or ``{"confidential": True}``)
    are always masked. A name in ``public_columns`` that is not a column is an error.
    """
    if not isinstance(df, pd.DataFrame):
        raise BadInputError(
            f"validate() needs a pandas DataFrame, got {type(df).__module__}.{type(df).__qualname__}",
            fix="convert the data first, e.g. pyarrow_table.to_pandas() or pd.DataFrame(records)",
        )
    check_sample_rows(sample_rows, "validate()")
    check_known_columns(public_columns, [*map(str, df.columns), *data_index_names(df)], "public_columns", "the DataFrame")
    resolved = load_schema(schema)
    ran = True  # the checks ran (a parser that raised stops them all)
    try:
        resolved.validate(df, lazy=True)
        failures = pd.DataFrame(columns=_SAMPLE_COLUMNS)
    except pa.errors.SchemaErrors as exc:
        failures = exc.failure_cases
    except pa.errors.SchemaError as exc:  # raised as it is, lazy or not, by a parser of the schema: the data failed it
        failures, ran = _raised_failures(resolved, df, exc), False
    except pa.errors.SchemaDefinitionError as exc:
        raise BadInputError(
            f"Pandera schema {schema_name(resolved)!r} cannot be applied: {exc}",
            fix="correct the schema definition",
        ) from exc
    except Exception as exc:  # a parser or dtype of the schema failed itself (a check that raises is a failed check)
        raise BadInputError(
            f"Pandera schema {schema_name(resolved)!r} raised {type(exc).__name__} ({exc}) while validating the DataFrame: "
            "the schema failed, not a check, so nothing was validated",
            fix="correct the schema (a parser or dtype that raised), or the data it cannot take",
        ) from exc
    failures = failures.reset_index(drop=True)
    index = data_index_names(df)
    expected, shared = _expected_checks(resolved, df)
    keys = _failure_keys(failures, shared)
    counts = _counts(keys, _counted(failures))
    outcomes = _outcomes(expected, counts, ran=ran)
    return QualityResult(
        passed=len(failures) == 0,
        schema_name=schema_name(resolved),
        schema_digest=schema_digest(resolved),
        checks=outcomes,
        failure_count=sum(counts.values()),
        rows=len(df),
        null_counts={str(name): int(count) for name, count in df.isna().sum().items()},
        failure_sample=mask_sample(_sample(failures, keys, sample_rows), column_names(masked_columns) | flagged_columns(resolved),
                                   index, shown=ALL_COLUMNS if raw_samples else column_names(public_columns) | public_flagged(resolved)),
        index_names=index,
    )


RAISED_CHECK = "SchemaError"
"""The check name of a ``SchemaError`` that names no check (a parser of the schema raised it)."""


def _raised_failures(schema: pa.DataFrameSchema, df: pd.DataFrame, exc: pa.errors.SchemaError) -> pd.DataFrame:
    """The failure cases of a ``SchemaError`` that Pandera's lazy validation let through (a parser raised it): its own,
    as Pandera collects them, when it names its schema; else one case of the table, its message the failure case."""
    if exc.schema is not None:
        return pa.errors.SchemaErrors(schema, [exc], df).failure_cases
    check = _check_id(exc.check) if isinstance(exc.check, pa.Check) else str(exc.check or RAISED_CHECK)
    return pd.DataFrame([{"schema_context": "DataFrameSchema", "column": None, "check": check, "check_number": None,
                          "failure_case": str(exc), "index": None}], columns=_SAMPLE_COLUMNS)


FLAGS = ("personal", "confidential")


def flagged_columns(schema: pa.DataFrameSchema) -> set[str]:
    """Columns (and named index levels) whose Pandera metadata flags them as personal or confidential data."""
    return {name for name, meta in _column_metadata(schema) if any(meta.get(f) for f in FLAGS)}


def public_flagged(schema: pa.DataFrameSchema) -> set[str]:
    """Columns (and named index levels) the schema declares non-personal (``metadata={"personal": False}``)."""
    return {name for name, meta in _column_metadata(schema) if meta.get("personal") is False}


def _column_metadata(schema: pa.DataFrameSchema) -> list[tuple[str, dict[str, Any]]]:
    index = schema.index
    levels = index.indexes if isinstance(index, pa.MultiIndex) else ([index] if index is not None else [])
    components = [*schema.columns.items(), *((level.name, level) for level in levels if level.name is not None)]
    return [(str(name), getattr(part, "metadata", None) or {}) for name, part in components]


def _check_id(check: Any) -> str:
    """The name Pandera gives a check in its failure cases."""
    return check.error if check.error is not None else (check.name if check.name is not None else str(check))


def _numbered_check(name: str, check_number: int) -> str:
    """The name of check number ``check_number`` (Pandera's, its place among its column's or the table's checks) of
    several that Pandera names alike on one column or the table (two unnamed checks, ``<lambda>``): ``<lambda>#1``."""
    return f"{name}#{check_number}"


def _own_checks(checks: list[Any], column: str | None) -> tuple[list[CheckKey], set[CheckKey]]:
    """The keys of a column's (or the table's) ``checks`` in order, and the ``(column, name)`` that several of them share
    (each of those named by its number, :func:`_numbered_check`, the others by Pandera's name alone)."""
    names = [_check_id(c) for c in checks]
    shared = {name for name in names if names.count(name) > 1}
    keys = [(column, _numbered_check(name, n) if name in shared else name) for n, name in enumerate(names)]
    return keys, {(column, name) for name in shared}


def _component_checks(component: Any, column: str | None, shared: set[CheckKey]) -> list[CheckKey]:
    keys: list[CheckKey] = []
    if component.dtype is not None:
        keys.append((column, f"dtype('{component.dtype}')"))
    if not getattr(component, "nullable", True):
        keys.append((column, "not_nullable"))
    if getattr(component, "unique", False):
        keys.append((column, "field_uniqueness"))
    own, alike = _own_checks(component.checks, column)
    shared |= alike
    return keys + own


def _expected_checks(schema: pa.DataFrameSchema, df: pd.DataFrame) -> tuple[list[CheckKey], set[CheckKey]]:
    """Every check the schema runs on ``df``, keyed ``(column or None, name)``, and the ``(column, name)`` that several
    checks of one column or of the table share (those are told apart by number)."""
    keys: list[CheckKey] = []
    shared: set[CheckKey] = set()
    for name, column in schema.columns.items():
        for matched in _matching_columns(column, name, df):
            keys += _component_checks(column, matched, shared)
    index = schema.index
    levels = index.indexes if isinstance(index, pa.MultiIndex) else ([index] if index is not None else [])
    for level in levels:
        keys += _component_checks(level, None if level.name is None else str(level.name), shared)
    own, alike = _own_checks(schema.checks, None)
    shared |= alike
    return list(dict.fromkeys(keys + own)), shared


def _matching_columns(column: Any, name: Any, df: pd.DataFrame) -> list[str]:
    """The DataFrame columns a schema column stands for: itself, or every match of a regex column."""
    if not column.regex:
        return [str(name)]
    try:
        return [str(c) for c in column.get_regex_columns(df)]
    except pa.errors.SchemaError:
        return [str(name)]  # no column matches: Pandera reports that under the pattern


def _failure_keys(failures: pd.DataFrame, shared: set[CheckKey]) -> pd.DataFrame:
    """Per failure case: the column it concerns (``None`` for the whole table) and the check name, numbered by its
    ``check_number`` where several checks of that column share the name (``shared``)."""
    column = failures["column"].astype(object).where(failures["column"].notna(), None)
    on_table = failures["schema_context"].isin(["DataFrameSchema", "MultiIndex"]).to_numpy(dtype=bool)
    check = failures["check"].astype(object).map(str, na_action="ignore") if len(failures) else failures["check"].astype(object)
    named = check.isin(COLUMN_NAMED_CHECKS).to_numpy(dtype=bool)
    column[on_table] = None
    column[on_table & named] = failures.loc[on_table & named, "failure_case"].map(str)
    if shared:
        alike = [(c, k) in shared and pd.notna(n) for c, k, n in zip(column, check, failures["check_number"])]
        check[alike] = [_numbered_check(k, int(n)) for k, n in zip(check[alike], failures.loc[alike, "check_number"])]
    return pd.DataFrame({"column": column, "check": check, "named": named})


def _counted(failures: pd.DataFrame) -> np.ndarray:
    """Which failure cases count: a table-level check that fails a row reports one case per cell of
    that row; it counts once per row (two checks of one name, by their ``check_number``, once each)."""
    on_table = (failures["schema_context"].eq("DataFrameSchema") & failures["index"].notna()).to_numpy(dtype=bool)
    counted = np.ones(len(failures), dtype=bool)
    counted[on_table] = ~failures.loc[on_table, ["check", "check_number", "index"]].duplicated().to_numpy(dtype=bool)
    return counted


def _counts(keys: pd.DataFrame, counted: np.ndarray) -> dict[CheckKey, int]:
    sizes = keys[counted].groupby(["column", "check"], dropna=False, sort=False).size()
    return {(None if pd.isna(col) else str(col), str(check)): int(n) for (col, check), n in sizes.items()}


def _outcomes(expected: list[CheckKey], counts: dict[CheckKey, int], *, ran: bool = True) -> tuple[CheckOutcome, ...]:
    # Presence checks (column_in_dataframe, column_in_schema...) are listed only when they fail; with ``ran`` false (a
    # parser raised before any check ran) every check that did not fail is skipped.
    missing = {col for (col, name), n in counts.items() if n and _is_presence(name)}
    outcomes = []
    for key in [*expected, *(k for k in counts if k not in expected)]:
        column, name = key
        failed = counts.get(key, 0)
        if failed:
            status = "fail"
        elif not ran or (column in missing and not _is_presence(name)):
            status = "skip"
        else:
            status = "pass"
        outcomes.append(CheckOutcome(name=name, column=column, passed=status == "pass", failure_count=failed, status=status))
    return tuple(outcomes)


def _is_presence(check: str) -> bool:
    """A check that a column exists (its other checks cannot run when it fails)."""
    return check == "column_in_dataframe" or check.startswith("no_regex_column_match")


def _sample(failures: pd.DataFrame, keys: pd.DataFrame, limit: int) -> pd.DataFrame:
    """At most ``limit`` failure cases, taken round-robin over the checks, values as text (not yet masked).

    ``column`` in the sample is the data column a value came from (Pandera's own), or for checks about
    a missing or extra column, that column's name.
    """
    rank = keys[["column", "check"]].groupby(["column", "check"], dropna=False, sort=False).cumcount().to_numpy()
    order = np.lexsort((np.arange(len(keys)), rank))[:limit]
    picked = failures.iloc[order].reset_index(drop=True)
    named = keys["named"].to_numpy(dtype=bool)[order]
    mapped = keys["column"].iloc[order].tolist()
    source = [mapped[n] if named[n] else _text(value) for n, value in enumerate(picked["column"])]
    return pd.DataFrame(
        {
            "schema_context": picked["schema_context"].astype("string"),
            "column": pd.Series(source, dtype="string"),
            "check": picked["check"].astype("string"),
            "check_number": pd.array(picked["check_number"].tolist(), dtype="Int64"),
            "failure_case": pd.Series([_text(v) for v in picked["failure_case"]], dtype="string"),
            "index": pd.Series([_text(v) for v in picked["index"]], dtype="string"),
        }
    )


def _text(value: Any) -> str | None:
    if value is None or (not isinstance(value, (list, tuple)) and pd.isna(value)):
        return None
    return str(value)
