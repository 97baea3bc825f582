"""What ``pyarrow.json`` reads that is not JSON lines, refused as the incremental parser of long lines
(:mod:`~prov_common.hashing.jsonl_events`) refuses it, so a file's verdict does not depend on its longest line:
``NaN``, ``Infinity`` and ``Inf`` (with or without ``-``), which are not JSON numbers, several objects on one
line (``{"a":1}{"a":2}``, which Arrow reads as two rows, as it reads ``{"a":1} null``), a line that is no object
(``null``, which Arrow reads as a row of nulls after an object, ``null null`` as two), and a line nested deeper than the
incremental parser takes (``MAX_DEPTH``). Arrow's parser ends the process on the last two (a block that starts with
``null``, a line some thousands of levels deep), so :func:`check_before_parse` looks for them before Arrow parses.
A number past the range of a double, which Arrow reads as infinity (an integer of hundreds of digits, so any two would
share a digest) or refuses naming no line (``1e400``), is refused naming its line (:func:`check_numbers`) once Arrow
has read infinity (:func:`reads_infinity`) or refused the chunk. Any other chunk Arrow refuses is refused as the
incremental parser refuses it (:func:`check_refused`), naming the file's line: Arrow's words count rows from 0 within
a chunk of lines, blank lines left out.

Cheap on ordinary data: a chunk is looked at line by line only when a pattern that may be such a token (``: NaN``)
or two values (``}{``, ``} null``) appears in its bytes, and then only those lines are parsed again (with :mod:`json`).
"""
from __future__ import annotations

import json
import math
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from prov_common.hashing.jsonl_events import (CR_ENDS, CR_JOINED, FIX_CR, FIX_LARGE, FIX_OBJECT, JsonLineError, Opener, TooLarge, check_spaces,
                                              decimal_refusal, json_lines, too_large)
from prov_common.hashing.jsonl_schema import MAX_DEPTH, Node, TooDeep, read_row
from prov_common.hashing.bytes_fix import OR_HASH_BYTES

_CONSTANT = re.compile(rb"[:\[,][ \t\r]*-?(?:NaN|Inf(?:inity)?)[ \t\r]*[,\]}]")  # may be a NaN or Infinity value
_JOINED = re.compile(rb"\}[ \t\r]*(?:\{|null)")  # an object or null right after an object: not JSON outside a string
_TINY = re.compile(rb"[eE]-0*[1-9]\d{17}")  # an exponent below 0 of 18 digits or more: maybe past what a Decimal holds
_NEWLINE, _BRACE, _QUOTE = ord("\n"), ord("{"), ord('"')
_OPENINGS = bytes(b for b in range(256) if b not in b"[{\n")  # deleted: what is left are a line's openings
_NOT_MARKS = bytes(b for b in range(256) if b not in b'[]{}"\n')
_STEP = np.zeros(256, np.int32)  # the change of depth at each byte
_STEP[list(b"[{")], _STEP[list(b"]}")] = 1, -1


class _NotJson(Exception):
    pass


FIX_CONSTANT = f"write a missing value as null and a number as a JSON number (JSON has no NaN or Infinity), {OR_HASH_BYTES}."
FIX_JOINED = f"write one JSON object on each line, {OR_HASH_BYTES}."


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
        if exc.msg == "Extra data" and CR_JOINED.search(line):
            return CR_ENDS, FIX_CR
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
    or several objects, or a number the incremental parser cannot read (:func:`_check_tiny`)."""
    constant = _CONSTANT.search(chunk) is not None
    joined = _JOINED.search(chunk) is not None and (rows is None or rows != _values(chunk))
    tiny = _TINY.search(chunk) is not None
    if not (constant or joined or tiny):
        return
    for number, line in enumerate(chunk.split(b"\n"), first_line):
        if tiny and _TINY.search(line):
            _check_tiny(line, number)
        if (constant and _CONSTANT.search(line)) or (joined and _JOINED.search(line)):
            refusal = _refusal(line)
            if refusal is not None:
                reason, fix = refusal
                raise JsonLineError(number, f"not valid JSON ({reason}).", fix)


def _check_tiny(line: bytes, number: int) -> None:
    """Refuse ``line`` (line ``number`` of the file) when it holds a number so close to 0 that the incremental parser
    cannot read it as a ``Decimal`` (``1e-999999999999999999995``, which Arrow reads as 0), as that parser refuses it;
    a line :mod:`json` cannot parse is left to Arrow."""
    def readable(text: str) -> float:
        refusal = decimal_refusal(number, text)
        if refusal is not None:
            raise refusal
        return 0.0

    try:
        json.loads(line, parse_float=readable, strict=False)
    except JsonLineError:
        raise
    except (RecursionError, ValueError):  # blank, not JSON, or not UTF-8: Arrow's verdict stands
        pass


def check_before_parse(chunk: bytes, first_line: int) -> int:
    """Raise :class:`JsonLineError` for the first line of ``chunk`` (whole lines, the first being line ``first_line``
    of the file) that is no object (``null``, ``null null``, ``true``), nested deeper than ``MAX_DEPTH`` levels or
    holds a vertical tab or form feed (:func:`~prov_common.hashing.jsonl_events.check_spaces`), as the incremental
    parser refuses it: call it before Arrow parses the chunk, which such a line can crash. Quick (searches in C)
    unless a line starts with no ``{`` or holds more ``[`` and ``{`` than levels allowed. Returns the number of lines
    that are not blank: Arrow reading fewer rows means an object over several lines, which it reads when the next
    starts with ``{`` (refuse it with :func:`check_refused`)."""
    try:
        check_spaces(chunk, first_line)
    except JsonLineError as spaced:  # a line before it refused first, as the incremental parser refuses it
        before = b"\n".join(chunk.split(b"\n", spaced.line - first_line)[:-1])
        if before.strip():
            check_before_parse(before, first_line)
        raise
    data = np.frombuffer(chunk, np.uint8)
    starts = np.concatenate(([0], np.flatnonzero(data[:-1] == _NEWLINE) + 1))  # where each line starts
    blank = 0
    for number in np.flatnonzero(data[starts] != _BRACE).tolist():  # lines that start with no "{": blank, or no object
        start = int(starts[number])
        end = chunk.find(b"\n", start)
        line = chunk[start:end if end >= 0 else None].strip()
        blank += not line
        if line and not line.startswith(b"{"):  # null (also "null null", "null,"), or a value that is no object
            raise JsonLineError(first_line + number, "is not a JSON object.", FIX_OBJECT)
    openings = chunk.translate(None, _OPENINGS).split(b"\n")
    if max(map(len, openings)) > MAX_DEPTH:
        lines = chunk.split(b"\n")
        many = [number for number, count in enumerate(map(len, openings)) if count > MAX_DEPTH]
        for number in _deep(many, lines):
            _check_depth(lines[number], first_line + number)
    return len(starts) - blank


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise too_large(text)
    return value


def reads_infinity(table: pa.Table) -> bool:
    """Whether Arrow read a number of ``table`` as infinity (an integer past the range of a double: the JSON-lines
    files it comes from cannot write infinity, :data:`_CONSTANT` is refused), at any depth of lists and structs."""
    arrays: list[pa.Array] = [chunk for column in table.columns for chunk in column.chunks]
    while arrays:
        array = arrays.pop()
        kind = array.type
        if pa.types.is_floating(kind):
            if pc.any(pc.is_inf(array)).as_py():
                return True
        elif pa.types.is_list(kind):
            arrays.append(array.flatten())
        elif pa.types.is_struct(kind):
            arrays.extend(array.field(i) for i in range(kind.num_fields))
    return False


def check_numbers(chunk: bytes, first_line: int) -> None:
    """Raise :class:`JsonLineError` for the first line of ``chunk`` (whole lines, the first being line ``first_line``
    of the file) that holds a number past the range of a double, which Arrow reads as infinity (an integer) or
    refuses naming no line (``1e400``). Slow (parses each line with :mod:`json`): call it when Arrow read infinity
    (:func:`reads_infinity`) or refused the chunk; a line :mod:`json` cannot parse is left to Arrow."""
    for number, line in enumerate(chunk.split(b"\n"), first_line):
        try:
            json.loads(line, parse_int=_finite, parse_float=_finite, strict=False)
        except TooLarge as exc:
            raise JsonLineError(number, str(exc), FIX_LARGE) from exc
        except (RecursionError, ValueError):  # blank, not JSON, or not UTF-8: Arrow's verdict stands
            pass


def check_refused(open_source: Opener, first_line: int = 1) -> None:
    """Raise the refusal of the incremental parser (:func:`~prov_common.hashing.jsonl_schema.read_row`: not JSON, a
    field twice in one object, a field whose type changes between lines) for the first line of ``open_source``'s
    lines (the first being line ``first_line`` of the file) that it refuses, naming that line: call it once Arrow
    refused them. Returns when it takes every line (Arrow's verdict stands)."""
    root = Node("")
    for number, events in json_lines(open_source, keep_strings=False, first_line=first_line):
        read_row(root, number, events)


def _deep(numbers: list[int], lines: list[bytes]) -> list[int]:
    """Those of ``numbers`` whose line nests its arrays and objects more than ``MAX_DEPTH`` levels deep, by a quick
    count of the brackets outside strings (each line's, all at once)."""
    plain = b"\n".join(lines[n] for n in numbers).replace(b"\\\\", b"").replace(b'\\"', b"")  # quotes left: strings
    marks = np.frombuffer(plain.translate(None, _NOT_MARKS), np.uint8)
    outside = np.cumsum(marks == _QUOTE) % 2 == 0  # not in a string (a string's opening quote is in it)
    depth = np.cumsum(_STEP[marks] * outside)
    ends = np.flatnonzero(marks == _NEWLINE)
    before = np.concatenate(([0], depth[ends]))  # the depth where each line starts (0 unless one before is broken)
    line = np.cumsum(marks == _NEWLINE)  # the line of each mark
    deep = np.unique(line[depth - before[line] > MAX_DEPTH])
    return [numbers[i] for i in deep.tolist()]


def _check_depth(line: bytes, number: int) -> None:
    """Refuse ``line`` (line ``number`` of the file) when the incremental parser refuses it as too deep, with its
    reason (where the depth is passed: :func:`read_row` raises it from :class:`TooDeep`); other faults are left to
    Arrow."""
    root = Node("")
    try:
        for _, events in json_lines(lambda: pa.BufferReader(line)):
            read_row(root, number, events)
    except JsonLineError as exc:
        if isinstance(exc.__cause__, TooDeep):
            raise
