"""Object columns whose values Arrow would read in another value's type: refused, never hashed as read.

pyarrow infers an ``object`` column's type from its values and reads the rest in it without a word: a
date-time among dates loses its time, a naive date-time among aware ones is taken as UTC (and an aware one
among naive ones loses its zone), date-times of several zones are all read in the first one's zone, a number
among durations is read as microseconds, text among bytes as its bytes, and a set is read as a list in its
iteration order, which for text changes from one process to the next (``PYTHONHASHSEED``). Each would give two
different frames one digest, or one frame two.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from itertools import chain
from typing import Any

import numpy as np
import pyarrow as pa

from prov_common.errors import UnsupportedTypeError


def check_read_as_given(values: Iterable[Any], read: pa.Array | pa.ChunkedArray, display: str) -> None:
    """Refuse an ``object`` column that Arrow read as ``read`` by changing some of its values."""
    t = read.type
    if not (pa.types.is_date(t) or pa.types.is_timestamp(t) or pa.types.is_duration(t) or pa.types.is_binary(t)
            or pa.types.is_large_binary(t) or pa.types.is_nested(t)):
        return  # only these types take other values in: numbers, text and the like are read as given or refused
    import pandas as pd  # here: only pandas columns are object columns

    array = np.asarray(values, dtype=object)
    # the checks below look at the types of the values that are no null (None, NaN, NaT, NA, whatever the type),
    # each type once. Where None is the only null (Arrow read no other, and every other value is of a type no null
    # is of), they look at every value and leave None out: no mask of the nulls, which took longer than the rest
    kinds = set(map(type, array)) if _nulls_are_none(array, read) else None
    if kinds is not None and kinds <= _NEVER_NULL_OR_NONE:
        kinds.discard(type(None))
        present = array
    else:
        present = array[~pd.isna(array)]
        kinds = set(map(type, present))
    if pa.types.is_date(t) and any(issubclass(k, dt.datetime) for k in kinds):
        _refuse(display, "dates and date-times (the times would be dropped)")
    # the distinct time zone objects (by identity: some are not hashable), None for a naive value
    zones = list({id(z): z for z in (getattr(v, "tzinfo", None) for v in present if v is not None)}.values()) \
        if pa.types.is_timestamp(t) else []
    if None in zones and len(zones) > 1:
        _refuse(display, "date-times with and without a time zone (one would be read in the other's zone)",
                f"give every value a time zone or none, e.g. localize the naive ones, then df[{display!r}] = "
                f"pd.to_datetime(df[{display!r}], utc=True)")
    if len({_zone_name(zone) for zone in zones}) > 1:
        _refuse(display, "date-times in several time zones (each would be read in the first one's zone)",
                f"bring them to one zone, e.g. df[{display!r}] = pd.to_datetime(df[{display!r}], utc=True)")
    if pa.types.is_duration(t) and any(not issubclass(k, (dt.timedelta, np.timedelta64)) for k in kinds):
        _refuse(display, "durations and numbers (a number would be read as microseconds)")
    if (pa.types.is_binary(t) or pa.types.is_large_binary(t)) and any(issubclass(k, str) for k in kinds):
        _refuse(display, "bytes and text (the text would be read as its UTF-8 bytes)")
    if pa.types.is_nested(t) and _holds_set(present, t, kinds):
        _refuse(display, "sets, whose order is not fixed (the digest would change from one process to the next)",
                f"make them sorted lists, e.g. df[{display!r}] = df[{display!r}].map(sorted)")


def _zone_name(zone: dt.tzinfo) -> str:
    """The time zone as Arrow names it in a timestamp type (``UTC`` for each spelling of UTC)."""
    try:
        return pa.lib.tzinfo_to_string(zone)
    except (ValueError, TypeError, pa.ArrowException):
        return repr(zone)


def _nulls_are_none(array: np.ndarray, read: pa.Array | pa.ChunkedArray) -> bool:
    """Whether every value Arrow read as a null is None (a look at those values alone)."""
    if read.null_count == 0:
        return True
    nulls = array[read.is_null().to_numpy(zero_copy_only=False)]
    return set(map(type, nulls)) == {type(None)}


def _refuse(display: str, holds: str, fix: str | None = None) -> None:
    raise UnsupportedTypeError(
        f"column {display!r} has dtype object holding {holds}, which cannot be hashed.",
        fix=fix or f"convert it to one type, e.g. df[{display!r}] = df[{display!r}].astype(str), or declare its dtype.")


_SETS = (set, frozenset)
# None, and the types no value of which pandas takes for a null (pd.isna)
_NEVER_NULL_OR_NONE = frozenset({type(None), bool, int, str, bytes, list, tuple, dict, set, frozenset, np.ndarray,
                                 dt.date, dt.datetime, dt.timedelta})
_SEQUENCES = (list, tuple, np.ndarray)


def _holds_set(values: Any, arrow_type: pa.DataType, kinds: set[type] | None = None) -> bool:
    """Whether one of ``values``, read as ``arrow_type``, is a set or holds one where that type is nested (a list's
    items of a type not nested are no sets: a set among them would have made them lists). One level at a time: the
    types of a level's values are gathered once (``kinds``, when the caller has them), then the values nested in
    them are the next level."""
    if any(issubclass(k, _SETS) for k in (set(map(type, values)) if kinds is None else kinds)):
        return True
    if pa.types.is_struct(arrow_type):
        return any(_holds_set([v[f.name] for v in values if isinstance(v, dict) and f.name in v], f.type)
                   for f in arrow_type if pa.types.is_nested(f.type))
    if pa.types.is_map(arrow_type):
        if not pa.types.is_nested(arrow_type.item_type):
            return False
        items = [x for value in values if value is not None
                 for _, x in (value.items() if isinstance(value, dict) else value)]
        return _holds_set(items, arrow_type.item_type)
    item = getattr(arrow_type, "value_type", None)  # a list of any kind
    if item is None or not pa.types.is_nested(item):
        return False
    inner = chain.from_iterable(value for value in values if isinstance(value, _SEQUENCES))
    return _holds_set([v for v in inner if v is not None], item)
