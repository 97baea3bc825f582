"""Event times: RFC 3339 date-times (the OpenLineage schema's ``date-time`` format) as aware UTC datetimes. No I/O.

An event's ``eventTime`` must be RFC 3339: a full date, ``T`` (or ``t`` or a space), a time with seconds, 1-9
fraction digits at most, and ``Z`` (or ``z``) or an offset ``+hh:mm``/``-hh:mm``. Times are kept to the microsecond
(further fraction digits are cut); a leap second (``23:59:60`` in UTC) is the last microsecond of that minute. The
event's text is kept as written: only its order and the times tdprov derives from it use the parsed value.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from prov_common.errors import BadInputError

TIME_FIX = "write it in RFC 3339 with a time zone, like 2024-05-01T12:00:00.000Z or 2024-05-01T14:00:00+02:00"

_RFC3339 = re.compile(
    r"(?P<y>\d{4})-(?P<mo>\d\d)-(?P<d>\d\d)[Tt ](?P<h>\d\d):(?P<mi>\d\d):(?P<s>\d\d)(?:\.(?P<f>\d{1,9}))?"
    r"(?:(?P<z>[Zz])|(?P<sign>[+-])(?P<oh>\d\d):(?P<om>\d\d))"
)


def rfc3339(text: str) -> datetime:
    """``text``, an RFC 3339 date-time, as an aware UTC datetime; ValueError saying why when it is not one."""
    found = _RFC3339.fullmatch(text) if isinstance(text, str) else None
    if found is None:
        raise ValueError(_why_not(text) if isinstance(text, str) else f"it is {type(text).__name__}, not text")
    g = {k: int(v) for k, v in found.groupdict().items() if v is not None and k not in ("z", "sign", "f")}
    if g.get("oh", 0) > 23 or g.get("om", 0) > 59:
        raise ValueError("its offset is out of range (at most ±23:59)")
    offset = timedelta(hours=g.get("oh", 0), minutes=g.get("om", 0)) * (-1 if found["sign"] == "-" else 1)
    leap = g["s"] == 60
    micro = 999999 if leap else int((found["f"] or "0")[:6].ljust(6, "0"))
    try:
        local = datetime(g["y"], g["mo"], g["d"], g["h"], g["mi"], 59 if leap else g["s"], micro, tzinfo=timezone(offset))
        moment = local.astimezone(timezone.utc)
    except (ValueError, OverflowError) as exc:  # OverflowError: an offset that moves it past year 9999 or before year 1
        raise ValueError(f"it is no date-time of the calendar ({exc})") from None
    if leap and (moment.hour, moment.minute) != (23, 59):
        raise ValueError("a leap second (:60) is only at 23:59:60 UTC")
    return moment


def rfc3339_or_none(text: str) -> datetime | None:
    """:func:`rfc3339`, None when ``text`` is not an RFC 3339 date-time."""
    try:
        return rfc3339(text)
    except ValueError:
        return None


def iso_utc(text: str) -> datetime | None:
    """An RFC 3339 date-time, else any ISO 8601 date-time Python reads (a time without offset is UTC), as an aware UTC
    datetime; None if it is neither. For times read back (index entries, bundles sealed before event times had to be
    RFC 3339) and options a person types, never for a new event's ``eventTime``."""
    moment = rfc3339_or_none(text)
    if moment is not None:
        return moment
    try:
        value = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    except (ValueError, OverflowError, TypeError):
        return None


def since_time(text: str, option: str = "--since") -> datetime:
    """``text``, given as ``option``: a date (``YYYY-MM-DD``, midnight UTC) or a date-time (:func:`iso_utc` reads
    both), as an aware UTC datetime; BadInputError naming the option when it is neither."""
    moment = iso_utc(text.strip())
    if moment is None:
        raise BadInputError(f"{option} {text!r} is not a date or date-time of years 1 to 9999 (in UTC).",
                            fix="write it like 2024-06-01 or 2024-06-01T12:00:00Z (a time without offset is UTC)")
    return moment


def why_not_rfc3339(text: object) -> str:
    """Why ``text`` is no RFC 3339 date-time, in words for an error ('' when it is one)."""
    if not isinstance(text, str):
        return f"it is {type(text).__name__}, not text"
    try:
        rfc3339(text)
        return ""
    except ValueError as exc:
        return str(exc)


def _why_not(text: str) -> str:
    """Why ``text``, which does not have the form of an RFC 3339 date-time, is none."""
    if text != text.strip():
        return "it has blanks around it"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return "it is not a date, 'T' and a time with seconds and a time zone"
    if parsed.tzinfo is None:
        return "it has no time zone (Z or an offset like +02:00)"
    return "it is ISO 8601 but not RFC 3339 (write the full date, 'T', hh:mm:ss and Z or ±hh:mm)"
