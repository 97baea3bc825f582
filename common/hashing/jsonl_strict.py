"""What ``pyarrow.json`` reads that is not JSON lines, refused as the incremental parser of long lines
(:mod:`~prov_common.hashing.jsonl_events`) refuses it, so a file's verdict does not depend on its longest line:
``NaN``, ``Infinity`` and ``Inf`` (with or without ``-``), which are not JSON numbers, and several objects on one
line (``{"a":1}{"a":2}``, which Arrow reads as two rows).

Cheap on ordinary data: a chunk is looked at line by line only when a pattern that may be such a token (``: NaN``)
or two objects (``}{``) appears in its bytes, and then only those lines are parsed again (with :mod:`json`).
"""
from __future__ import annotations

import json
import re

from prov_common.hashing.jsonl_events import JsonLineError

_CONSTANT = re.compile(rb"[:\[,][ \t\r]*-?(?:NaN|Inf(?:inity)?)[ \t\r]*[,\]}]")  # may be a NaN or Infinity value
_JOINED = re.compile(rb"\}[ \t\r]*\{")  # an object right after another: not JSON outside a string


class _NotJson(Exception):
    pass


_HASH_BYTES = "or hash the file's bytes (tdprov hash --bytes)."
FIX_CONSTANT = f"write a missing value as null and a number as a JSON number (JSON has no NaN or Infinity), {_HASH_BYTES}"
FIX_JOINED = f"write one JSON object on each line, {_HASH_BYTES}"


def _constant(name: str) -> float:
    raise _NotJson(f"{name} is not a JSON number")


def _refusal(line: bytes) -> tuple[str, str] | None:
    """Why ``line``, which Arrow read, is not one JSON object, and the fix (None when it is, or when :mod:`json`
    cannot tell)."""
    try:
        json.loads(line, parse_constant=_constant, strict=False)
    except _NotJson as exc:
        return str(exc), FIX_CONSTANT
    except json.JSONDecodeError as exc:
        rest = exc.doc[exc.pos:exc.pos + 4]
        if exc.msg == "Extra data":
            return f"more than one JSON value on the line, the next at column {exc.colno}", FIX_JOINED
        if rest.lstrip("-").startswith("Inf"):
            return f"{'-' if rest.startswith('-') else ''}Inf is not a JSON number", FIX_CONSTANT
    except (RecursionError, ValueError):  # nested deeper than json recurses, or not UTF-8: Arrow's verdict stands
        pass
    return None


def _values(chunk: bytes) -> int:
    return sum(1 for line in chunk.split(b"\n") if line.strip())


def check_chunk(chunk: bytes, rows: int | None, first_line: int) -> None:
    """Raise :class:`JsonLineError` for the first line of ``chunk`` (whole lines, the first being line
    ``first_line`` of the file; Arrow read ``rows`` rows from it, None: not known) that holds ``NaN``/``Infinity``
    or several objects."""
    constant = _CONSTANT.search(chunk) is not None
    joined = _JOINED.search(chunk) is not None and (rows is None or rows != _values(chunk))
    if not (constant or joined):
        return
    for number, line in enumerate(chunk.split(b"\n"), first_line):
        if (constant and _CONSTANT.search(line)) or (joined and _JOINED.search(line)):
            refusal = _refusal(line)
            if refusal is not None:
                reason, fix = refusal
                raise JsonLineError(number, f"not valid JSON ({reason}).", fix)
