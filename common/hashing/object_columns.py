"""Object columns whose values Arrow would read in another value's type: refused, never hashed as read.

pyarrow infers an ``object`` column's type from its values and reads the rest in it without a word: a
date-time among dates loses its time, a naive date-time among aware ones is taken as UTC (and an aware one
among naive ones loses its zone), a number among durations is read as microseconds, text among bytes as its
bytes, and a set is read as a list in its iteration order, which for text changes from one process to the
next (``PYTHONHASHSEED``). Each would give two different frames one digest, or one frame two.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import numpy as np
import pyarrow as pa

from prov_common.errors import UnsupportedTypeError


def check_read_as_given(values: Iterable[Any], arrow_type: pa.DataType, display: str) -> None:
    """Refuse an ``object`` column that Arrow read as ``arrow_type`` by changing some of its values."""
    t = arrow_type
    if not (pa.types.is_date(t) or pa.types.is_timestamp(t) or pa.types.is_duration(t) or pa.types.is_binary(t)
            or pa.types.is_large_binary(t) or pa.types.is_nested(t)):
        return  # only these types take other values in: numbers, text and the like are read as given or refused
    import pandas as pd  # here: only pandas columns are object columns

    array = np.asarray(values, dtype=object)
    present = array[~pd.isna(array)]  # None, NaN, NaT and NA are nulls, whatever the type
    if pa.types.is_date(t) and any(isinstance(v, dt.datetime) for v in present):
        _refuse(display, "dates and date-times (the times would be dropped)")
    if pa.types.is_timestamp(t) and len({getattr(v, "tzinfo", None) is None for v in present}) > 1:
        _refuse(display, "date-times with and without a time zone (one would be read in the other's zone)",
                f"give every value a time zone or none, e.g. localize the naive ones, then df[{display!r}] = "
                f"pd.to_datetime(df[{display!r}], utc=True)")
    if pa.types.is_duration(t) and any(not isinstance(v, (dt.timedelta, np.timedelta64)) for v in present):
        _refuse(display, "durations and numbers (a number would be read as microseconds)")
    if (pa.types.is_binary(t) or pa.types.is_large_binary(t)) and any(isinstance(v, str) for v in present):
        _refuse(display, "bytes and text (the text would be read as its UTF-8 bytes)")
    if pa.types.is_nested(t) and (any(isinstance(v, _SETS) for v in present)
                                  or (_nests(t) and any(_holds_set(v, t) for v in present))):
        _refuse(display, "sets, whose order is not fixed (the digest would change from one process to the next)",
                f"make them sorted lists, e.g. df[{display!r}] = df[{display!r}].map(sorted)")


def _refuse(display: str, holds: str, fix: str | None = None) -> None:
    raise UnsupportedTypeError(
        f"column {display!r} has dtype object holding {holds}, which cannot be hashed.",
        fix=fix or f"convert it to one type, e.g. df[{display!r}] = df[{display!r}].astype(str), or declare its dtype.")


_SETS = (set, frozenset)


def _nests(arrow_type: pa.DataType) -> bool:
    """Whether a value of the nested ``arrow_type`` holds nested values (a list of lists, a struct of a list)."""
    return any(pa.types.is_nested(arrow_type.field(i).type) for i in range(arrow_type.num_fields))


def _holds_set(value: Any, arrow_type: pa.DataType) -> bool:
    """Whether ``value``, read as ``arrow_type``, is a set or holds one where that type is nested (a list's items
    of a type not nested are no sets: a set among them would have made them lists)."""
    if isinstance(value, _SETS):
        return True
    if pa.types.is_struct(arrow_type) and isinstance(value, dict):
        fields = {f.name: f.type for f in arrow_type}
        return any(_holds_set(v, fields[k]) for k, v in value.items() if k in fields and pa.types.is_nested(fields[k]))
    if pa.types.is_map(arrow_type):
        items = value.items() if isinstance(value, dict) else value
        return any(_holds_set(v, arrow_type.item_type) for _, v in items) if pa.types.is_nested(arrow_type.item_type) else False
    item = getattr(arrow_type, "value_type", None)  # a list of any kind
    if item is not None and pa.types.is_nested(item) and isinstance(value, (list, tuple, np.ndarray)):
        return any(_holds_set(v, item) for v in value if v is not None)
    return False
