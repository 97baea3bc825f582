"""Object columns whose values Arrow would read in another value's type: refused, never hashed as read.

pyarrow infers an ``object`` column's type from its values and reads the rest in it without a word: a
date-time among dates loses its time, a naive date-time among aware ones is taken as UTC (and an aware one
among naive ones loses its zone), date-times of several zones are all read in the first one's zone, a time of day
loses its zone, a number among durations is read as microseconds, text among bytes as its bytes, a boolean among
floats (at any depth) as 1.0 or 0.0, and a set is read as a list in its iteration order, which for text changes
from one process to the next (``PYTHONHASHSEED``). Each would give two different frames one digest, or one frame two.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from itertools import chain
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from prov_common.errors import UnsupportedTypeError


def check_read_as_given(values: Iterable[Any], read: pa.Array | pa.ChunkedArray, display: str) -> None:
    """Refuse an ``object`` column that Arrow read as ``read`` by changing some of its values."""
    t = read.type
    if not (pa.types.is_date(t) or pa.types.is_timestamp(t) or pa.types.is_duration(t) or pa.types.is_binary(t)
            or pa.types.is_large_binary(t) or pa.types.is_nested(t) or pa.types.is_floating(t) or pa.types.is_time(t)):
        return  # only these types take other values in: integers, text and the like are read as given or refused
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
    if pa.types.is_time(t) and any(getattr(v, "tzinfo", None) is not None for v in present):
        _refuse(display, "times of day with a time zone (Arrow's time type has none: the zone would be dropped)",
                "make them date-times with a zone (a time of day alone has no instant), or drop the zones after "
                f"bringing them to one, e.g. df[{display!r}] = "
                f"df[{display!r}].map(lambda t: t.replace(tzinfo=None), na_action='ignore')")
    if pa.types.is_duration(t) and any(not issubclass(k, (dt.timedelta, np.timedelta64)) for k in kinds):
        _refuse(display, "durations and numbers (a number would be read as microseconds)")
    if (pa.types.is_binary(t) or pa.types.is_large_binary(t)) and any(issubclass(k, str) for k in kinds):
        _refuse(display, "bytes and text (the text would be read as its UTF-8 bytes)")
    found = _holds(present, t, kinds, read)
    if found is _SETS:
        _refuse(display, "sets, whose order is not fixed (the digest would change from one process to the next)",
                f"make them sorted lists, e.g. df[{display!r}] = df[{display!r}].map(sorted)")
    if found is _BOOLS:
        _refuse(display, "numbers and booleans (a boolean would be read as the number 1.0 or 0.0)",
                f"if the booleans stand for numbers, df[{display!r}] = df[{display!r}].astype(float); else keep the "
                "booleans in a column of their own")


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
_BOOLS = (bool, np.bool_)
_BOOL_VALUES = pa.array([0.0, 1.0])  # what Arrow reads a boolean among floats as
# None, and the types no value of which pandas takes for a null (pd.isna)
_NEVER_NULL_OR_NONE = frozenset({type(None), bool, int, str, bytes, list, tuple, dict, set, frozenset, np.ndarray,
                                 dt.date, dt.datetime, dt.timedelta})
_SEQUENCES = (list, tuple, np.ndarray)


def _looked_at(t: pa.DataType) -> bool:
    """Whether values read as ``t`` are looked at (:func:`_holds`): nested ones may hold sets, floats booleans."""
    return pa.types.is_nested(t) or pa.types.is_floating(t)


def _holds(values: Any, arrow_type: pa.DataType, kinds: set[type] | None = None,
           read: pa.Array | pa.ChunkedArray | None = None) -> tuple[type, ...] | None:
    """``_SETS`` when one of ``values``, read as ``arrow_type``, is a set or holds one where that type is nested;
    ``_BOOLS`` when a boolean is read as a float there (Arrow reads ``True`` among floats as 1.0); else None. One
    level at a time: the types of a level's values are gathered once (``kinds``, when the caller has them), then the
    values nested in them are the next level; a level of another type than those is not looked at (a set or
    boolean among them would have made them another type, or been refused)."""
    kinds = set(map(type, values)) if kinds is None else kinds
    if pa.types.is_nested(arrow_type) and any(issubclass(k, _SETS) for k in kinds):
        return _SETS
    if pa.types.is_floating(arrow_type) and any(issubclass(k, _BOOLS) for k in kinds):
        return _BOOLS
    if pa.types.is_struct(arrow_type):
        for f in arrow_type:
            found = _holds([v[f.name] for v in values if isinstance(v, dict) and f.name in v], f.type) \
                if _looked_at(f.type) else None
            if found is not None:
                return found
        return None
    if pa.types.is_map(arrow_type):
        if not _looked_at(arrow_type.item_type):
            return None
        items = [x for value in values if value is not None
                 for _, x in (value.items() if isinstance(value, dict) else value)]
        return _holds(items, arrow_type.item_type)
    item = getattr(arrow_type, "value_type", None)  # a list of any kind
    if item is None or not _looked_at(item):
        return None
    if pa.types.is_floating(item):  # the last level, in one pass (lists of floats are common); float arrays hold no bool
        if read is not None and not pc.any(pc.is_in(pc.list_flatten(read), _BOOL_VALUES)).as_py():
            return None  # no item was read as 1.0 or 0.0: none was a boolean
        inner = chain.from_iterable(value for value in values if isinstance(value, (list, tuple))
                                    or (isinstance(value, np.ndarray) and value.dtype.kind in "bO"))
        return _BOOLS if any(issubclass(k, _BOOLS) for k in set(map(type, inner))) else None
    inner = chain.from_iterable(value for value in values if isinstance(value, _SEQUENCES))
    return _holds([v for v in inner if v is not None], item)
