"""ISO-8601 text read as a value of a date, date-time, time or duration column (JSON has no such types).

A date-time must say its zone exactly when its column has one: ``2024-01-01T12:00:00Z`` or ``+02:00`` in a
``timestamp[ns, tz=...]`` column (the instant it names), none in a ``timestamp[ns]`` column, as the row lookup takes
a Python ``datetime``. Nothing is rounded: a value finer than its column's unit is refused.
"""
from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

_OFFSET = re.compile(r"(?:Z|[+-]\d{2}(?::?\d{2})?)\Z")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?")
_TIME = re.compile(r"(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?\Z")
_DURATION = re.compile(r"(-)?P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)(?:\.(\d{1,9}))?S)?)?\Z")
_NS = {"s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9, "d": 86400 * 10**9}


def is_iso_typed(t: pa.DataType) -> bool:
    """Whether a value of type ``t`` may be given as ISO-8601 text (:func:`iso_value`)."""
    return pa.types.is_date(t) or pa.types.is_timestamp(t) or pa.types.is_time(t) or pa.types.is_duration(t)


def iso_value(text: str, t: pa.DataType) -> pa.Array:
    """``text`` as a one-element array of ``t`` (:func:`is_iso_typed`): a date ``2024-01-31``; a date-time
    ``2024-01-31T12:00:00[.fraction]`` with an offset exactly when ``t`` has a time zone; a time ``12:00[:00[.f]]``;
    a duration ``[-]P[nD][T[nH][nM][n[.f]S]]``. Raises ``ValueError`` saying what is wrong and what to write."""
    if pa.types.is_date(t):
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError("a date is written YYYY-MM-DD (2024-01-31)")
        return _cast(text, pa.date32(), t)
    if pa.types.is_timestamp(t):
        return _date_time(text, t)
    if pa.types.is_time(t):
        found = _TIME.match(text)
        if found is None:
            raise ValueError("a time is written HH:MM[:SS[.fraction]] (12:30:00), with no offset")
        h, m, s, frac = found.groups()
        if int(h) > 23 or int(m) > 59 or int(s or 0) > 59:
            raise ValueError("hours run to 23, minutes and seconds to 59")
        return _exact([(int(h) * 60 + int(m)) * _NS["m"] + int(s or 0) * _NS["s"] + _fraction(frac)], pa.time64("ns"), t)
    found = _DURATION.match(text)
    if found is None or not any(found.groups()[1:5]):
        raise ValueError("a duration is written in ISO-8601 days, hours, minutes and seconds: P1DT2H30M, PT0.5S, -PT1H "
                         "(years, months and weeks are no fixed length)")
    sign, d, h, m, s, frac = found.groups()
    ns = (int(d or 0) * _NS["d"] + int(h or 0) * _NS["h"] + int(m or 0) * _NS["m"] + int(s or 0) * _NS["s"]
          + _fraction(frac))
    return _exact([-ns if sign else ns], pa.duration("ns"), t)


def _date_time(text: str, t: pa.DataType) -> pa.Array:
    offset = _OFFSET.search(text)
    if _DATE_TIME.fullmatch(text[:offset.start()] if offset else text) is None:
        raise ValueError("a date-time is written YYYY-MM-DDTHH:MM[:SS[.fraction]]"
                         + (" with its offset (2024-01-31T12:00:00Z, +02:00)" if t.tz else " (2024-01-31T12:00:00)"))
    if t.tz is not None and offset is None:
        raise ValueError(f"the column has a time zone ({t.tz}), so the date-time needs its offset: {text}Z for UTC, or "
                         f"{text}+02:00")
    if t.tz is None and offset is not None:
        raise ValueError(f"the column has no time zone, so the date-time takes no offset: {text[:offset.start()]}, "
                         "as the column holds it")
    return _cast(text, pa.timestamp("ns", "UTC" if t.tz else None), t)


def _fraction(digits: str | None) -> int:
    return int((digits or "").ljust(9, "0"))


def _cast(text: str, parsed: pa.DataType, t: pa.DataType) -> pa.Array:
    try:
        return pc.cast(pc.cast(pa.array([text]), parsed), t)
    except pa.ArrowInvalid:
        raise ValueError("it names no such day or time") from None


def _exact(ns: list[int], parsed: pa.DataType, t: pa.DataType) -> pa.Array:
    try:
        return pc.cast(pa.array(ns, pa.int64()).cast(parsed), t)  # a safe cast: a finer value is refused
    except (pa.ArrowInvalid, OverflowError):
        raise ValueError("it is finer than the column's unit or past what it holds") from None
