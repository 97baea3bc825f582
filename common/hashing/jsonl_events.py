"""A JSON-lines file as parser events, line by line, without ever holding a whole line.

Each line is fed in pieces of at most ``chunk_bytes`` to an incremental parser (``ijson`` with its
yajl2 C backend, push interface), so a line of any length costs the parser's buffers plus the
largest single number in it; a string that spans pieces is decoded apart from the parser, in pieces
(:mod:`~prov_common.hashing.jsonl_strings`). Blank lines are skipped, as
``pyarrow.json`` skips them.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
import re
from decimal import Decimal, InvalidOperation
from typing import IO, Any

import ijson

from prov_common.canonical_json import too_many_digits
from prov_common.hashing.jsonl_strings import KEEP_BYTES, StringError, check_surrogates, open_string, scan_string
from prov_common.hashing.bytes_fix import OR_HASH_BYTES

Event = tuple[str, Any]  # (ijson basic event, value): numbers are int or Decimal, long strings LongString
Opener = Callable[[], AbstractContextManager[IO[bytes]]]
READ_BYTES = 1 << 20
BOM = b"\xef\xbb\xbf"  # UTF-8's byte order mark: skipped at a file's start, as pyarrow.json skips it
MAX_READ_BYTES = 1 << 25  # reads grow inside a long token up to 32 MiB


FIX_OBJECT = f"write one JSON object on each line ({{}} for a row whose values are all missing), {OR_HASH_BYTES}."
FIX_DEEP = f"flatten it (at most 256 levels of arrays and objects), {OR_HASH_BYTES}."
FIX_LARGE = f"write a number that large as a JSON string (text keeps every digit), {OR_HASH_BYTES}."
FIX_TWICE = f"give the field once in each object (keep the value you mean), {OR_HASH_BYTES}."
FIX_SPACE = f"write a space in its place between values (the escape in a string), {OR_HASH_BYTES}."
FIX_CR = ("convert its line ends to LF, one object on each line (such as tr '\\r' '\\n' < old.jsonl > new.jsonl), "
          f"{OR_HASH_BYTES}.")
CR_JOINED = re.compile(rb"\}[ \t]*\r[ \t\r]*[^ \t\r\n]")  # an object, a carriage return alone, then a value
CR_ENDS = ("more than one JSON value on the line, the next after a carriage return (CR) alone: its lines end with CR, "
           "as old Mac OS wrote them, where JSON lines end with LF")
JSON_SPACE = b" \t\r\n"  # JSON's whitespace: bytes.strip() strips a vertical tab and a form feed too
_NOT_SPACE = {0x0B: ("a vertical tab", "\\u000b"), 0x0C: ("a form feed", "\\f")}


def check_spaces(data: bytes, first_line: int) -> None:
    """Raise :class:`JsonLineError` for the first vertical tab or form feed in ``data`` (lines, or a piece of one,
    the first being line ``first_line`` of the file): the incremental parser takes either as whitespace and Arrow
    refuses both, which JSON allows nowhere but escaped in a string. Quick (two searches in C)."""
    at = min((i for i in (data.find(b"\x0b"), data.find(b"\x0c")) if i >= 0), default=-1)
    if at >= 0:
        name, escape = _NOT_SPACE[data[at]]
        raise JsonLineError(first_line + data.count(b"\n", 0, at),
                            f"not valid JSON ({name}, which JSON allows only escaped in a string, {escape}: its "
                            "whitespace is spaces, tabs and line ends).", FIX_SPACE)


class TooLarge(ValueError):
    """A number past the range of a double, which Arrow reads as infinity (an integer) or refuses."""


def too_large(text: str) -> TooLarge:
    """The error for the number written ``text`` (as :class:`~decimal.Decimal` writes it), past the range of a double."""
    try:
        text = str(Decimal(text))  # one spelling whichever parser read it: 1e400 is 1E+400
    except InvalidOperation:  # an exponent past Decimal's range (1e999999999999999999995): shown as written
        pass
    mantissa, e, exponent = text.partition("e") if "e" in text else text.partition("E")
    digits = sum(c.isdigit() for c in mantissa)
    if len(text) <= 24:
        shown = text
    elif e:  # the digits counted are the mantissa's (an exponent's only scale it), where it is not shown whole
        shown = f"{_head(mantissa, 20)}{e}{_head(exponent, 24)}"
        shown += f", {digits:,} digits before its exponent" if len(mantissa) > 20 else ""
    else:
        shown = f"{_head(text, 20)}, {digits:,} digits"
    return TooLarge(f"has a number too large for a double ({shown}): a double holds at most about 1.8e308.")


def _head(text: str, most: int) -> str:
    """``text``, its first ``most`` characters and an ellipsis when it is longer."""
    return text if len(text) <= most else f"{text[:most]}…"


class JsonLineError(ValueError):
    """A line that is not one JSON object (carries its line number, and the fix when the reason tells it)."""

    def __init__(self, line: int, reason: str, fix: str | None = None) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.fix = fix


_EXPONENT = re.compile(rb"-?\d+(?:\.\d+)?[eE][+-]?\d+")
FIX_EXPONENT = f"write a number that small as 0, or as a JSON string (text keeps every digit), {OR_HASH_BYTES}."


def decimal_refusal(line: int, text: str) -> JsonLineError | None:
    """The refusal of the number written ``text`` (in line ``line``) when the incremental parser cannot read it as a
    ``Decimal``, its exponent past about 18 digits: too large for a double, or so close to 0 that a double reads it
    as 0; None when it can."""
    try:
        Decimal(text)
        return None
    except InvalidOperation:
        pass
    if "-" not in text.lstrip("-"):
        return JsonLineError(line, str(too_large(text)), FIX_LARGE)
    return JsonLineError(line, f"has a number too close to 0 for the parser to read ({_head(text, 40)}): its "
                               "exponent has more than 18 digits (a double reads it as 0).", FIX_EXPONENT)


def _past_decimal(line: int, sent: bytes) -> JsonLineError:
    """The refusal of a line the parser could not read a number of as a ``Decimal``, naming the number when it is in
    ``sent``, the parser's last piece."""
    for found in _EXPONENT.finditer(sent):
        refusal = decimal_refusal(line, found[0].decode())
        if refusal is not None:
            return refusal
    return JsonLineError(line, "has a number whose exponent has more than 18 digits.", FIX_LARGE)


class _Lines:
    """Cuts a binary file into lines, handing each line out in pieces."""

    def __init__(self, f: IO[bytes], chunk_bytes: int, first_line: int = 1) -> None:
        self.f = f
        self.chunk_bytes = chunk_bytes
        self.read_bytes = chunk_bytes  # the next read's size (grown inside a long token)
        self.buf = b""
        self.pos = 0
        self.number = first_line - 1  # line number of the line being read (1-based; 0: none yet, a BOM is skipped)

    def next_line(self) -> bool:
        """Move to the next line; False at the end of the file."""
        if self.pos >= len(self.buf):
            self.buf, self.pos = self.f.read(self.chunk_bytes), 0
            if self.number == 0 and self.buf.startswith(BOM):  # skipped at the file's start, as pyarrow.json does
                self.buf = self.buf[len(BOM):] or self.f.read(self.chunk_bytes)
            if not self.buf:
                return False
        self.number += 1
        return True

    def pieces(self) -> Iterator[bytes]:
        """The current line's bytes in order (no newline), read as they are needed."""
        while True:
            if self.pos >= len(self.buf):
                self.buf, self.pos = self.f.read(self.read_bytes), 0
                if not self.buf:
                    return
            end = self.buf.find(b"\n", self.pos)
            stop = len(self.buf) if end < 0 else end
            piece = self.buf if (self.pos, stop) == (0, len(self.buf)) else self.buf[self.pos:stop]
            self.pos = stop if end < 0 else end + 1
            if piece:
                yield piece
            if end >= 0:
                return


def _line_events(lines: _Lines, keep_strings: bool, keep_bytes: int) -> Iterator[Event]:
    """Parser events of the current line; nothing for a blank line.

    A string still open at the end of a piece is decoded by
    :func:`~prov_common.hashing.jsonl_strings.scan_string` (the parser gets ``""`` in its place), so a
    string of any length costs bounded memory. yajl lexes another token that spans pieces (a long
    number) again from its start with every piece, so while a piece gives no event the next read is
    twice as large: such a token costs time about linear in its length (reads grow up to
    :data:`MAX_READ_BYTES`)."""
    sink: list[Event] = ijson.sendable_list()
    coro = ijson.basic_parse_coro(sink, use_float=False)
    blank = True
    line = lines.number
    pieces = lines.pieces()
    sent = b""  # the parser's last piece
    before = b""  # the end of the pieces sent before it: where a line end of CR alone may be
    try:
        for piece in pieces:
            if blank and not piece.strip(JSON_SPACE):
                continue
            blank = False
            while (quote := open_string(piece)) >= 0:
                if quote:  # the parser takes an empty piece for the end of its input
                    check_spaces(piece[:quote], line)
                    check_surrogates(piece[:quote])
                    before, sent = (before + sent[-64:])[-64:], piece[:quote]
                    coro.send(sent)
                lines.read_bytes = lines.chunk_bytes
                value, piece = scan_string(piece[quote + 1:], pieces, keep_strings, keep_bytes)
                coro.send(b'""')
                if sink[-1][0] == "map_key" and not isinstance(value, str):
                    raise JsonLineError(line, f"has a field name of more than {keep_bytes:,} bytes.")
                sink[-1] = (sink[-1][0], value)
                yield from sink
                del sink[:]
            if not piece:
                continue
            check_spaces(piece, line)
            check_surrogates(piece)
            before, sent = (before + sent[-64:])[-64:], piece
            coro.send(sent)
            lines.read_bytes = lines.chunk_bytes if sink else max(lines.chunk_bytes, min(2 * lines.read_bytes, MAX_READ_BYTES))
            yield from sink
            del sink[:]
        lines.read_bytes = lines.chunk_bytes
        if blank:
            return
        coro.close()
        yield from sink
    except InvalidOperation as exc:  # a number the parser cannot read as a Decimal
        raise _past_decimal(line, sent) from exc
    except ijson.JSONError as exc:
        said = exc.args[0] if exc.args else exc
        text = said.decode("utf-8", "replace") if isinstance(said, bytes) else str(said)  # yajl may say it in bytes
        reason = " ".join(text.split()).replace("(right here) ------^", "").strip()
        if reason.startswith("parse error: trailing garbage") and CR_JOINED.search(before + sent):
            raise JsonLineError(line, f"not valid JSON ({CR_ENDS}).", FIX_CR) from exc
        raise JsonLineError(line, f"not valid JSON ({reason}).") from exc
    except StringError as exc:
        raise JsonLineError(line, f"not valid JSON ({exc}).") from exc
    except SystemError as exc:  # the parser's integer past Python's limit on its digits: far past a double's range
        digits = too_many_digits(exc.__cause__)
        if digits is None:
            raise
        raise JsonLineError(line, f"has a number too large for a double (an integer of {digits:,} digits): a "
                                  "double holds at most about 1.8e308.", FIX_LARGE) from exc
    except UnicodeDecodeError as exc:  # the parser's strings: an overlong or surrogate (CESU-8) encoding
        raise JsonLineError(line, f"not valid JSON (a string is not valid UTF-8: {exc.reason}).") from exc


def json_lines(open_source: Opener, chunk_bytes: int = READ_BYTES, *, keep_strings: bool = True,
               keep_bytes: int = KEEP_BYTES, first_line: int = 1) -> Iterator[tuple[int, Iterator[Event]]]:
    """``(line number, events of that line)`` for every line; consume each line's events before the next. Lines are
    numbered from ``first_line`` (a part of a file that begins at that line; a BOM is skipped only at line 1).

    A string of more than ``keep_bytes`` UTF-8 bytes comes as a :class:`~prov_common.hashing.jsonl_strings.LongString`
    (its bytes kept in a temporary file only when ``keep_strings``)."""
    with open_source() as f:
        lines = _Lines(f, chunk_bytes, first_line)
        while lines.next_line():
            events = _line_events(lines, keep_strings, keep_bytes)
            yield lines.number, events
            for _ in events:  # whatever the caller left of the line
                pass
