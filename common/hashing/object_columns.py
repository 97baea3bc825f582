"""Object columns whose values Arrow would read in another value's type: refused, never hashed as read.

pyarrow infers an ``object`` column's type from its values and reads the rest in it without a word: a
date-time among dates loses its time, a naive date-time among aware ones is taken as UTC (and an aware one
among naive ones loses its zone), date-times of several zones are all read in the first one's zone, a time of day
loses its zone, a number among durations is read as microseconds (among dates, date-times or times as days or
microseconds since 1970 or midnight), a pandas date-time or duration in microseconds (its nanoseconds dropped),
text among bytes as its bytes, a boolean among
floats as 1.0 or 0.0 (a numpy boolean among integers as 1 or 0, a numpy half float there as an integer), and a set is
read as a list in its iteration order, which for text changes from one process to the next (``PYTHONHASHSEED``). Each,
in the column or inside its lists and structs, would give two different frames one digest, or one frame two.
"""
from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, partial
from itertools import chain, compress, repeat
from operator import attrgetter, getitem, is_not
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from prov_common.errors import UnsupportedTypeError
from prov_common.hashing.encode import is_text
from prov_common.hashing.nesting import Held, Nesting, first_holding


def check_read_as_given(values: Iterable[Any], read: pa.Array | pa.ChunkedArray, display: str,
                        nesting: Nesting = Nesting(0, False)) -> None:
    """Refuse an ``object`` column that Arrow read as ``read`` by changing some of its values (at any depth).
    ``nesting``: how its values nest; the integers inside its lists and structs are looked at only where a numpy
    boolean or half float is held below the column's own values (Arrow reads one among integers as an integer)."""
    t = read.type
    if _holds_decimals(t):  # Arrow's decimal has no sign of zero: looked for only where it read a zero
        _refuse_negative_zero(values, read, display)
    if pa.types.is_integer(t):  # a numpy boolean among integers (Arrow refuses Python's) is read as 1 or 0 ...
        array = np.asarray(values, dtype=object)
        if any(isinstance(v, np.bool_) for v in array[_zero_or_one(read)]):
            _refuse(display, _BOOL_AMONG_INTS.holds, _BOOL_AMONG_INTS.fix.format(c=repr(display)))
        # ... and a half float as an integer, its fraction dropped (pandas infers such a column as mixed ints and floats)
        if nesting.inferred == "mixed-integer-float" and np.float16 in set(map(type, array)):
            _refuse(display, _HALVES_AMONG_INTS.holds, _HALVES_AMONG_INTS.fix.format(c=repr(display)))
        return
    if not _looked_at(t):
        return  # text and the like are read as given or refused
    array = np.asarray(values, dtype=object)
    if pa.types.is_floating(t):  # only a boolean changes there (to 1.0 or 0.0): looked for where Arrow read those
        bools = any(isinstance(v, _BOOLS) for v in array[_zero_or_one(read)])
        found = (_BOOL_AMONG_FLOATS, False) if bools else None
    else:
        # the checks below look at the types of the values that are no null (None, NaN, NaT, NA, whatever the type),
        # each type once. Where None is the only null (Arrow read no other, and every other value is of a type no null
        # is of), they look at every value and leave None out: no mask of the nulls, which took longer than the rest
        kinds = set(map(type, array)) if _nulls_are_none(array, read) else None
        if kinds is not None and kinds <= _NEVER_NULL_OR_NONE:
            kinds.discard(type(None))
            present = array
        else:
            present = array[~missing(array)]
            kinds = set(map(type, present))
        looks = _Looks(nesting.numpy_bools or nesting.numpy_halves, nesting.numpy_halves, nesting.text_and_bytes)
        found = _holds(present, t, kinds, _Read(array, read), looks=looks)
    if found is not None:
        problem, nested = found
        fix = problem.nested_fix if nested and problem.nested_fix else problem.fix
        _refuse(display, problem.holds, fix.format(c=repr(display)) if fix else None)


def _holds_decimals(t: pa.DataType) -> bool:
    """Whether values read as ``t`` hold decimals, at any depth of its lists and structs."""
    if pa.types.is_decimal(t):
        return True
    if pa.types.is_struct(t):
        return any(_holds_decimals(f.type) for f in t)
    item = getattr(t, "value_type", None)  # a list of any kind (Arrow reads no Python value as a map)
    return item is not None and _holds_decimals(item)


def _zero_rows(read: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Whether each value of ``read`` is, or holds at any depth of its lists and structs, a decimal read as zero."""
    if isinstance(read, pa.ChunkedArray):
        return np.concatenate([_zero_rows(chunk) for chunk in read.chunks] or [np.zeros(0, dtype=bool)])
    t = read.type
    if pa.types.is_decimal(t):
        return pc.fill_null(pc.equal(read, _zero()), False).to_numpy(zero_copy_only=False)
    rows = np.zeros(len(read), dtype=bool)
    if pa.types.is_struct(t):
        for i, f in enumerate(t):
            if _holds_decimals(f.type):
                rows |= _zero_rows(pc.struct_field(read, [i]))
    elif _holds_decimals(t):  # a list
        rows[pc.list_parent_indices(read).to_numpy()[_zero_rows(pc.list_flatten(read))]] = True
    return rows


@cache
def _zero() -> pa.Scalar:
    """A decimal zero, made on first use: turning a Python value into Arrow imports pandas, which hashing JSON lines
    or bytes never loads."""
    return pa.scalar(decimal.Decimal(0))


def _lists_of_decimals(read: pa.Array | pa.ChunkedArray) -> bool:
    return isinstance(read, pa.Array) and pa.types.is_list(read.type) and pa.types.is_decimal(read.type.value_type)


def _zero_items_of_lists(array: np.ndarray, read: pa.Array) -> Iterable[tuple[int, Any]] | None:
    """(row, item) of each item of the lists of decimals ``array`` (read as ``read``) that Arrow read as zero, each
    looked up in its list at its place; None when a value holding one has no places (not a list, tuple or array)."""
    hits = np.flatnonzero(_zero_rows(pc.list_flatten(read)))
    if not len(hits):
        return ()
    rows = pc.list_parent_indices(read).to_numpy()[hits]
    holding = array[rows]
    if not set(map(type, holding)) <= _PLACED:
        return None
    lengths = pc.fill_null(pc.list_value_length(read), 0).to_numpy()
    at = hits - (np.cumsum(lengths) - lengths)[rows]  # each one's place in its list
    return zip(rows.tolist(), map(getitem, holding, at.tolist()))


def _is_negative_zero(value: Any) -> bool:
    return isinstance(value, decimal.Decimal) and value.is_zero() and value.is_signed()


def _first_negative_zero(array: np.ndarray, read: pa.Array | pa.ChunkedArray) -> Held | None:
    """The first decimal negative zero of the object column ``array`` (read as ``read``, whose type holds decimals), at
    any depth; only the values Arrow read as zero are looked at, or where it read one in lists of decimals, the items."""
    if pa.types.is_decimal(read.type):  # the values themselves: decimals (or integers) read as zero
        rows = np.flatnonzero(_zero_rows(read))
        zeros = array[rows]
        signed = map(decimal.Decimal.is_signed if set(map(type, zeros)) <= _DECIMAL else _is_negative_zero, zeros)
        return next((Held(int(rows[i]), zeros[i], False) for i in compress(range(len(zeros)), signed)), None)
    placed = _zero_items_of_lists(array, read) if _lists_of_decimals(read) else None
    if placed is not None:
        return next((Held(row, item, True) for row, item in placed if _is_negative_zero(item)), None)
    rows = np.flatnonzero(_zero_rows(read))
    found = first_holding(array[rows], _is_negative_zero) if len(rows) else None
    return None if found is None else found._replace(row=int(rows[found.row]))


_DECIMAL = frozenset({decimal.Decimal})


def holds_negative_zero(value: Any, read: pa.Array) -> bool:
    """Whether one value, read by Arrow as the one-element ``read``, is or holds (at any depth) a decimal negative
    zero, which Arrow reads as a zero and a column therefore may not hold."""
    if not _holds_decimals(read.type):
        return False
    values = np.empty(1, dtype=object)
    values[0] = value  # a list stays one value, not a row of an array
    return _first_negative_zero(values, read) is not None


def _refuse_negative_zero(values: Iterable[Any], read: pa.Array | pa.ChunkedArray, display: str) -> None:
    """Refuse a column holding a decimal negative zero (``Decimal("-0.00")``, as rounding a small negative number
    gives), which Arrow reads as a zero, so that it and ``Decimal("0.00")`` would share a digest (floats keep -0.0). Only
    the values holding a decimal Arrow read as zero are looked at."""
    held = _first_negative_zero(np.asarray(values, dtype=object), read)
    if held is None:
        return
    c = repr(display)
    fix = ("make the zeros inside positive if their sign does not matter (x.copy_abs() where x.is_zero()), else store "
           "the numbers inside as floats, which keep -0.0, or as text (str(x))" if held.nested else
           f"make the zeros positive if their sign does not matter, df[{c}] = df[{c}].map(lambda d: d.copy_abs() if "
           f"isinstance(d, Decimal) and d.is_zero() else d) (from decimal import Decimal); else store the column as "
           f"floats, which keep -0.0, df[{c}] = df[{c}].astype(float) (digits beyond a float's are lost), or as text, "
           f"df[{c}] = df[{c}].astype(str)")
    inside = ", inside a list or dict" if held.nested else ""
    raise UnsupportedTypeError(f"column {display!r} holds a decimal negative zero (row {held.row}{inside}: "
                               f"{held.value!r}), which a decimal column cannot hold: it would be read, and hashed, as "
                               f"{held.value.copy_abs()!r}.", fix=fix)


@dataclass(frozen=True)
class _Problem:
    """Values Arrow would read by changing some: what the column holds, and the fix (``{c}``: the column)."""

    holds: str
    fix: str | None = None  # None: convert it to one type
    nested_fix: str | None = None  # where the values are inside lists or structs (None: ``fix``)


_DATES_AND_TIMES = _Problem("dates and date-times (the times would be dropped)")
_NAIVE_AND_AWARE = _Problem(
    "date-times with and without a time zone (one would be read in the other's zone)",
    "give every value a time zone or none, e.g. localize the naive ones, then df[{c}] = pd.to_datetime(df[{c}], utc=True)",
    "give every date-time inside a time zone or none, e.g. localize the naive ones, then bring them to UTC "
    "(pd.Timestamp(x).tz_convert('UTC'))")
_ZONES = _Problem(
    "date-times in several time zones (each would be read in the first one's zone)",
    "bring them to one zone, e.g. df[{c}] = pd.to_datetime(df[{c}], utc=True)",
    "bring the date-times inside to one zone, e.g. for lists df[{c}] = df[{c}].map(lambda l: "
    "[pd.Timestamp(x).tz_convert('UTC') for x in l], na_action='ignore'), or store the zone in a field of its own")
_ZONED_TIMES = _Problem(
    "times of day with a time zone (Arrow's time type has none: the zone would be dropped)",
    "make them date-times with a zone (a time of day alone has no instant), or drop the zones after bringing them to "
    "one, e.g. df[{c}] = df[{c}].map(lambda t: t.replace(tzinfo=None), na_action='ignore')",
    "make them date-times with a zone (a time of day alone has no instant), or drop the zones after bringing them to "
    "one, e.g. for lists df[{c}] = df[{c}].map(lambda l: [t if pd.isna(t) else t.replace(tzinfo=None) for t in l], "
    "na_action='ignore')")
_DATES_AND_NUMBERS = _Problem(
    "dates or times and numbers (a number would be read as days or microseconds since 1970, or since midnight, "
    "its fraction dropped)")
_DATE_AND_TIME_KINDS = (dt.date, dt.time, np.datetime64)  # datetime.datetime and pandas.Timestamp are dates
_NANOSECONDS = _Problem(
    "date-times or durations with nanoseconds (read in microseconds: the nanoseconds would be dropped)",
    "make it a column of date-times or durations, which keeps them, e.g. df[{c}] = pd.to_datetime(df[{c}]) "
    "(pd.to_timedelta for durations)",
    "round them to microseconds if the nanoseconds do not matter, e.g. for lists df[{c}] = df[{c}].map(lambda l: "
    "[x if pd.isna(x) else x.floor('us') for x in l], na_action='ignore'); else keep the nanoseconds in a field of "
    "their own (x.nanosecond)")
_DURATIONS_AND_NUMBERS = _Problem("durations and numbers (a number would be read as microseconds)")
_BYTES_AND_TEXT = _Problem("bytes and text (the text would be read as its UTF-8 bytes, or the bytes as text)")
_SET_VALUES = _Problem("sets, whose order is not fixed (the digest would change from one process to the next)",
                       "make them sorted lists, e.g. df[{c}] = df[{c}].map(sorted)")
_BOOL_AMONG_INTS = _Problem(
    "integers and numpy booleans (a boolean would be read as the number 1 or 0)",
    "if the booleans stand for numbers, df[{c}] = df[{c}].astype(\"Int64\"); else keep the booleans in a column of their own",
    "if the booleans inside stand for numbers, make them numbers, e.g. for lists df[{c}] = df[{c}].map(lambda l: "
    "[x if x is None else int(x) for x in l], na_action='ignore'); else keep the booleans in a field of their own")
_HALVES_AMONG_INTS = _Problem(
    "integers and numpy half floats (float16: a half float would be read as an integer, its fraction dropped)",
    "make them floats, e.g. df[{c}] = df[{c}].astype(float)",
    "make the numbers inside floats, e.g. for lists df[{c}] = df[{c}].map(lambda l: [x if x is None else float(x) "
    "for x in l], na_action='ignore')")
_BOOL_AMONG_FLOATS = _Problem(
    "numbers and booleans (a boolean would be read as the number 1.0 or 0.0)",
    "if the booleans stand for numbers, df[{c}] = df[{c}].astype(float); else keep the booleans in a column of their own",
    "if the booleans inside stand for numbers, make them numbers, e.g. for lists df[{c}] = df[{c}].map(lambda l: "
    "[x if x is None else float(x) for x in l], na_action='ignore'); else keep the booleans in a field of their own")
_TEXT_AND_BYTES_KEYS = _Problem(
    "dicts keyed by text and dicts keyed by bytes (the values under the keys of the kind Arrow met second would be "
    "read as nulls)",
    "key every dict by text, e.g. df[{c}] = df[{c}].map(lambda d: {{k.decode() if isinstance(k, bytes) else k: v "
    "for k, v in d.items()}}, na_action='ignore')",
    "key every dict inside by text (decode the bytes keys, k.decode()), at each level")
_Found = tuple[_Problem, bool]  # the problem, and whether it is inside lists or structs


def _is_scalar_looked_at(t: pa.DataType) -> bool:
    """Types that take values of other kinds in (:func:`_scalar_problem`)."""
    return (pa.types.is_date(t) or pa.types.is_timestamp(t) or pa.types.is_duration(t) or pa.types.is_binary(t)
            or pa.types.is_large_binary(t) or pa.types.is_time(t))


def _scalar_problem(present: Any, t: pa.DataType, kinds: set[type]) -> _Problem | None:
    """What Arrow changes when it reads ``present`` (values that are no null, of the types ``kinds``) as ``t``."""
    if ((pa.types.is_date(t) or pa.types.is_timestamp(t) or pa.types.is_time(t))
            and any(not issubclass(k, _DATE_AND_TIME_KINDS) for k in kinds)):
        return _DATES_AND_NUMBERS
    if pa.types.is_date(t) and any(issubclass(k, dt.datetime) for k in kinds):
        return _DATES_AND_TIMES
    if pa.types.is_timestamp(t):
        # the distinct time zone objects (by identity: some are not hashable), None for a naive value
        zones = list({id(z): z for z in _zones_of(present, kinds)}.values())
        if None in zones and len(zones) > 1:
            return _NAIVE_AND_AWARE
        if len({_zone_name(zone) for zone in zones}) > 1:
            return _ZONES
    if (pa.types.is_timestamp(t) or pa.types.is_duration(t)) and t.unit != "ns" and _has_nanoseconds(present, kinds):
        return _NANOSECONDS
    if pa.types.is_time(t) and any(getattr(v, "tzinfo", None) is not None for v in present):
        return _ZONED_TIMES
    if pa.types.is_duration(t) and any(not issubclass(k, (dt.timedelta, np.timedelta64)) for k in kinds):
        return _DURATIONS_AND_NUMBERS
    if (pa.types.is_binary(t) or pa.types.is_large_binary(t)) and any(issubclass(k, str) for k in kinds):
        return _BYTES_AND_TEXT
    if is_text(t) and any(issubclass(k, bytes) for k in kinds):
        return _BYTES_AND_TEXT
    return None


def _has_nanoseconds(present: Any, kinds: set[type]) -> bool:
    """Whether a ``pandas.Timestamp`` or ``pandas.Timedelta`` among ``present`` (of the types ``kinds``) has
    nanoseconds, which Arrow drops when it reads them in microseconds (as it reads them beside Python's)."""
    import pandas as pd  # here: only pandas columns are object columns

    if not any(issubclass(k, (pd.Timestamp, pd.Timedelta)) for k in kinds):
        return False
    if kinds <= {pd.Timestamp, pd.Timedelta}:  # most often: a loop in C
        return any(map(_nanoseconds_of, present))
    return any(_nanoseconds_of(v) for v in present if isinstance(v, (pd.Timestamp, pd.Timedelta)))


def _nanoseconds_of(value: Any) -> int:
    """The nanoseconds of a ``pandas.Timestamp`` or ``pandas.Timedelta`` beyond its microseconds."""
    return value.value % 1000


def _zones_of(present: Any, kinds: set[type]) -> Iterable[dt.tzinfo | None]:
    """The ``tzinfo`` of each value that is not None (None for a naive one or a ``numpy.datetime64``)."""
    if all(issubclass(k, dt.datetime) for k in kinds - {type(None)}):  # most often: a loop in C
        return map(_TZINFO, filter(_NOT_NONE, present))
    return (getattr(v, "tzinfo", None) for v in present if v is not None)


_TZINFO = attrgetter("tzinfo")
_NOT_NONE = partial(is_not, None)


def _zone_name(zone: dt.tzinfo) -> str:
    """The time zone as Arrow names it in a timestamp type (``UTC`` for each spelling of UTC)."""
    try:
        return pa.lib.tzinfo_to_string(zone)
    except (ValueError, TypeError, pa.ArrowException):
        return repr(zone)


def _zero_or_one(read: pa.Array | pa.ChunkedArray, every: bool = False) -> np.ndarray:
    """The positions of ``read`` (numbers) that Arrow read as 0 or 1, as it reads a boolean among numbers (numpy
    compares half floats too, and a null, read as NaN, is neither); with ``every``, every position."""
    if every:
        return np.arange(len(read))
    floats = read.to_numpy(zero_copy_only=False)
    return np.flatnonzero((floats == 0) | (floats == 1))


@dataclass(frozen=True)
class _Read:
    """Values and the Arrow array read from them, position by position (nulls included): where Arrow read a float as
    0.0 or 1.0 names the values to look at for a boolean."""

    values: np.ndarray
    arrow: pa.Array | pa.ChunkedArray


def _kinds_in_lists(read: _Read, kinds: set[type], every: bool = False) -> set[type]:
    """The types of the items of the lists ``read.values`` (of the types ``kinds``), read as lists of numbers, where
    Arrow read 0 or 1 (as it reads a boolean there; with ``every``, at every place). Few such items: each is looked at
    in its list at its place (a list, tuple or array has an item for each item Arrow read); many: every item of the
    lists holding one. Numpy arrays of numbers hold no boolean (nor a half float among integers)."""
    hits = _zero_or_one(pc.list_flatten(read.arrow), every)
    if not len(hits):
        return set()
    rows = pc.list_parent_indices(read.arrow).to_numpy()[hits]
    held = rows[np.flatnonzero(np.diff(rows, prepend=-1))]  # the rows holding one (``rows`` is sorted)
    if kinds == {np.ndarray} and not any(d.kind in "bO" for d in set(map(_DTYPE, read.values[held]))):
        return set()  # each in a numpy array of numbers
    lengths = pc.fill_null(pc.list_value_length(read.arrow), 0).to_numpy()  # a null list has no items flattened
    if kinds <= _PLACED and 2 * len(hits) < lengths[held].sum():
        at = hits - (np.cumsum(lengths) - lengths)[rows]  # each one's place in its list
        items: Iterable[Any] = map(getitem, read.values[rows], at.tolist())
    else:
        items = chain.from_iterable(read.values[held])
    return set(map(type, items))


_DTYPE = attrgetter("dtype")


def _kinds_in_field(read: _Read, index: int, key: str | bytes, every: bool = False) -> set[type]:
    """The types of the values of the dicts ``read.values``, read as structs whose field ``index`` (under ``key``)
    holds numbers, where Arrow read 0 or 1 (as it reads a boolean there; with ``every``, at every row): each of a dict
    holding the key (Arrow read a null for a missing one)."""
    field = pc.struct_field(read.arrow, [index])
    rows = read.values[_zero_or_one(field, every)]
    if every:
        rows = rows[field.is_valid().to_numpy(zero_copy_only=False)]
    return set(map(type, map(getitem, rows, repeat(key))))


def _key_kinds(values: Any, kinds: set[type]) -> set[type]:
    """The types of the keys of the dicts among ``values`` (of the types ``kinds``). Text and bytes together is
    refused: Arrow reads every dict of a level by the key kind of the first one holding a key, and the values under
    keys of the other kind as nulls (``[{b"w": 1.0}, {"w": 0.5}]`` as ``[{"w": 1.0}, {"w": None}]``)."""
    # most often only dicts and None: the dicts holding a key, in C (None and empty dicts are false)
    dicts = filter(None, values) if kinds <= _DICTS else (v for v in values if isinstance(v, dict))
    return set(map(type, chain.from_iterable(dicts)))


_DICTS = frozenset({dict, type(None)})


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
# None, and the types no value of which pandas takes for a null (pd.isna)
_NEVER_NULL_OR_NONE = frozenset({type(None), bool, int, str, bytes, list, tuple, dict, set, frozenset, np.ndarray,
                                 dt.date, dt.datetime, dt.timedelta})
_SEQUENCES = (list, tuple, np.ndarray)
_PLACED = frozenset(_SEQUENCES)  # the values whose items Arrow reads each as one, in their order


@dataclass(frozen=True)
class _Looks:
    """What is looked at below a column's own values beyond what always is, where how its values nest
    (:class:`Nesting`) says it may be there: integers (for numpy booleans, where Arrow read 0 or 1, or, with
    ``every_int``, also for half floats, at every place), and text (for bytes among it)."""

    ints: bool = False
    every_int: bool = False
    text: bool = False


_LOOK_AS_ALWAYS = _Looks()


def _looked_at(t: pa.DataType, looks: _Looks = _LOOK_AS_ALWAYS) -> bool:
    """Whether values read as ``t`` are looked at (:func:`_holds`): nested ones may hold sets, floats booleans (and
    integers numpy booleans and half floats, text bytes, as ``looks`` says), and date-times, times, durations and bytes
    values of other kinds."""
    return pa.types.is_nested(t) or _numbers(t, looks) or _is_scalar_looked_at(t) or (looks.text and is_text(t))


def _numbers(t: pa.DataType, looks: _Looks) -> bool:
    """Whether Arrow reads a boolean among values read as ``t`` as a number: floats, and integers (numpy booleans
    only, and half floats) when they are looked at (``looks.ints``)."""
    return pa.types.is_floating(t) or (looks.ints and pa.types.is_integer(t))


def _read_as_number(t: pa.DataType, kinds: set[type]) -> _Problem | None:
    """What Arrow changes in values of the types ``kinds`` read as ``t`` (floats or integers): a boolean read as a
    number, a half float among integers as an integer."""
    if pa.types.is_integer(t) and np.float16 in kinds:
        return _HALVES_AMONG_INTS
    if any(issubclass(k, _BOOLS) for k in kinds):
        return _BOOL_AMONG_FLOATS if pa.types.is_floating(t) else _BOOL_AMONG_INTS
    return None


def _found(problem: _Problem | None, nested: bool) -> _Found | None:
    return None if problem is None else (problem, nested)


def _present(values: list[Any]) -> np.ndarray:
    """The values that are no null (None, NaN, NaT, NA)."""
    array = np.fromiter(values, dtype=object, count=len(values))
    return array[~missing(array)]


def missing(array: np.ndarray) -> np.ndarray:
    """``pandas.isna`` of an object array: None, NaN (float or decimal), NaT and NA. A signalling decimal NaN, on which
    pandas raises ``decimal.InvalidOperation``, is missing as a quiet one is (Arrow reads both as nulls)."""
    import pandas as pd  # here: only pandas columns are object columns

    try:
        return pd.isna(array)
    except decimal.InvalidOperation:
        quiet = (_QUIET_NAN if isinstance(v, decimal.Decimal) and v.is_snan() else v for v in array)
        return pd.isna(np.fromiter(quiet, dtype=object, count=len(array)))


_QUIET_NAN = decimal.Decimal("NaN")



def _holds(values: Any, arrow_type: pa.DataType, kinds: set[type] | None = None, read: _Read | None = None,
           nested: bool = False, looks: _Looks = _LOOK_AS_ALWAYS) -> _Found | None:
    """The first value of ``values`` (nested ones included) that Arrow changes when it reads them as ``arrow_type``:
    a set where that type is nested, a boolean read as a float (``True`` among floats is 1.0), or a value of
    another kind where it is a date-time, time, duration or bytes type (:func:`_scalar_problem`); with whether it
    was found inside lists or structs (``nested``). One level at a time: the types of a level's values are gathered
    once (``kinds``, when the caller has them), then the values nested in them are the next level; a level of another
    type than those is not looked at (a set or boolean among them would have made them another type, or been
    refused). With ``read`` (the level as Arrow read it, passed on to the lists and structs in lists), floats in lists
    and struct fields are looked at only where Arrow read 0.0 or 1.0; with ``looks``, integers are looked at as floats
    are, for numpy booleans (read as 1 or 0) or also half floats (read as any integer: at every place), and text as
    bytes is."""
    if _is_scalar_looked_at(arrow_type) or (looks.text and is_text(arrow_type)):
        if kinds is None:  # a level below the column's own: its nulls are still in it (None is left out below)
            kinds = set(map(type, values))
            if not kinds <= _NEVER_NULL_OR_NONE:
                values = _present(values)
                kinds = set(map(type, values))
            kinds.discard(type(None))
        problem = _scalar_problem(values, arrow_type, kinds)
        return None if problem is None else (problem, nested)
    kinds = set(map(type, values)) if kinds is None else kinds
    if pa.types.is_nested(arrow_type) and any(issubclass(k, _SETS) for k in kinds):
        return _SET_VALUES, nested
    if _numbers(arrow_type, looks) and (problem := _read_as_number(arrow_type, kinds)) is not None:
        return problem, nested
    if pa.types.is_struct(arrow_type):
        keys = _key_kinds(values, kinds)
        by_bytes = any(issubclass(k, bytes) for k in keys)
        if by_bytes and any(issubclass(k, str) for k in keys):
            return _TEXT_AND_BYTES_KEYS, nested
        for i, f in enumerate(arrow_type):
            key = f.name.encode() if by_bytes else f.name  # Arrow reads {b"w": 1.0} as the field w
            if read is not None and _numbers(f.type, looks):  # the values read as 0.0 or 1.0 only
                found = _found(_read_as_number(f.type, _kinds_in_field(read, i, key, looks.every_int)), True)
            elif _looked_at(f.type, looks):
                found = _holds([v[key] for v in values if isinstance(v, dict) and key in v], f.type, nested=True,
                               looks=looks)
            else:
                found = None
            if found is not None:
                return found
        return None
    if pa.types.is_map(arrow_type):
        pairs = [pair for value in values if value is not None
                 for pair in (value.items() if isinstance(value, dict) else value)]
        for i, part in enumerate((arrow_type.key_type, arrow_type.item_type)):
            found = _holds([pair[i] for pair in pairs], part, nested=True, looks=looks) if _looked_at(part, looks) else None
            if found is not None:
                return found
        return None
    item = getattr(arrow_type, "value_type", None)  # a list of any kind
    if item is None or not _looked_at(item, looks):
        return None
    if _numbers(item, looks):  # the last level, in one pass (lists of numbers are common); number arrays hold no bool
        if read is not None:
            return _found(_read_as_number(item, _kinds_in_lists(read, kinds, looks.every_int)), True)
        inner = chain.from_iterable(value for value in values if isinstance(value, (list, tuple))
                                    or (isinstance(value, np.ndarray) and value.dtype.kind in "bO"))
        return _found(_read_as_number(item, set(map(type, inner))), True)
    inner = chain.from_iterable(value for value in values if isinstance(value, _SEQUENCES))
    if read is None or not kinds <= _PLACED or not pa.types.is_nested(item) or pa.types.is_map(item):
        return _holds([v for v in inner if v is not None], item, nested=True, looks=looks)
    # lists of lists or structs: the next level with what Arrow read of it, item by item (nulls included)
    flat, items = pc.list_flatten(read.arrow), np.fromiter(inner, dtype=object)
    if len(items) != len(flat):
        return _holds([v for v in items if v is not None], item, nested=True, looks=looks)
    item_kinds = set(map(type, items))
    item_kinds.discard(type(None))
    return _holds(items, item, item_kinds, _Read(items, flat), nested=True, looks=looks)
