"""JSON strings that run past the end of a piece of a line, decoded piece by piece in bounded memory.

The incremental parser hands a string over whole, so a line that is mostly one string would cost a
few times that string's length. Instead, a string still open at the end of a piece is taken out of
the parser's input: its content is found with ``bytes.find`` (escaped quotes and backslashes blanked
first), decoded by :func:`json.loads` in pieces cut where no escape, surrogate pair or UTF-8 character
is split, and handed over as ``str`` up to :data:`KEEP_BYTES` of UTF-8, else as a :class:`LongString`
kept in a temporary file. The parser is given ``""`` in its place and resumes after the closing quote.
"""
from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterator
from typing import IO, NoReturn

KEEP_BYTES = 1 << 20  # a decoded string longer than this goes to a temporary file
_ESCAPE_BYTES = 12  # the longest escape: a surrogate pair, \uD83D\uDE00


class StringError(ValueError):
    """A string that is not valid JSON (the reason, without the line)."""


class LongString:
    """A decoded string too long to hold: its size, and its UTF-8 bytes in a temporary file when kept."""

    def __init__(self, keep: bool) -> None:
        self.size = 0
        self.file: IO[bytes] | None = tempfile.TemporaryFile(prefix="tdprov-string-") if keep else None

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.file is not None:
            self.file.write(data)

    def chunks(self, size: int = KEEP_BYTES) -> Iterator[bytes]:
        """The string's UTF-8 bytes in pieces of at most ``size``, once (the file is closed after)."""
        if self.file is None:
            raise ValueError("this string's bytes were not kept.")
        with self.file as f:
            f.seek(0)
            while piece := f.read(size):
                yield piece


def _mask(data: bytes) -> bytes:
    """``data`` (string content from an escape boundary) with ``\\\\`` and ``\\"`` blanked, same length:
    every ``"`` left closes the string, every ``\\`` left starts an escape."""
    if b"\\" not in data:
        return data
    return data.replace(b"\\\\", b"__").replace(b'\\"', b"__")


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def check_surrogates(piece: bytes) -> None:
    """Raise :class:`StringError` when a string in ``piece`` (which holds whole strings only) escapes a
    surrogate that is not half of a pair: the incremental parser would read a lone high surrogate as
    ``?`` (two different lines, one digest), where Arrow and ``json.loads`` refuse it."""
    if b"\\u" not in piece:
        return
    pending: re.Match[bytes] | None = None  # a high surrogate, until its low half follows right after it
    for found in _SURROGATE_ESCAPE.finditer(_mask(piece)):
        high = int(found.group()[2:], 16) <= 0xDBFF
        if pending is not None and (high or found.start() != pending.end()):
            _lone(pending)
        if not high and pending is None:
            _lone(found)
        pending = found if high else None
    if pending is not None:
        _lone(pending)


def _lone(escape: re.Match[bytes]) -> NoReturn:
    raise StringError(f"a string is not valid UTF-8 or has a lone surrogate ({escape.group().decode()})")


def open_string(piece: bytes) -> int:
    """Index of the opening quote of a string still open at the end of ``piece`` (which starts outside
    any string), or -1."""
    masked = _mask(piece)
    return masked.rfind(b'"') if masked.count(b'"') % 2 else -1


def _high_surrogate(masked: bytes, end: int) -> bool:
    """True when the 6 bytes before ``end`` are the escape of a high surrogate (its pair may follow)."""
    if end < 6 or masked[end - 6:end - 4] != b"\\u":
        return False
    try:
        return 0xD800 <= int(masked[end - 4:end], 16) <= 0xDBFF
    except ValueError:
        return False


def _cut(masked: bytes) -> int:
    """Length of the longest prefix that can be decoded alone: no escape, surrogate pair or UTF-8
    character is split at its end."""
    cut = len(masked)
    start = masked.rfind(b"\\", max(0, cut - _ESCAPE_BYTES))
    if start >= 0 and (start + 1 == cut or (masked[start + 1] == ord("u") and start + 6 > cut)):
        cut = start
    if _high_surrogate(masked, cut):
        cut -= 6
    for i in range(cut - 1, max(cut - 4, -1), -1):
        byte = masked[i]
        if byte < 0x80:
            break
        if byte >= 0xC0:  # a lead byte: is its character whole?
            if i + (2 if byte < 0xE0 else 3 if byte < 0xF0 else 4) > cut:
                cut = i
            break
    return cut


def _decode(content: bytes) -> bytes:
    """UTF-8 of a whole number of escapes and characters of string content."""
    try:
        return json.loads(b'"' + content + b'"').encode()
    except json.JSONDecodeError as exc:
        raise StringError(f"a string has {exc.msg[0].lower()}{exc.msg[1:]}") from exc
    except UnicodeError as exc:
        raise StringError(f"a string is not valid UTF-8 or has a lone surrogate ({exc.reason})") from exc


def scan_string(data: bytes, pieces: Iterator[bytes], keep: bool,
                keep_bytes: int = KEEP_BYTES) -> tuple[str | LongString, bytes]:
    """The string whose content starts at ``data`` (after its opening quote), reading more of the line
    from ``pieces`` as needed: ``(value, the bytes after its closing quote)``.

    ``keep`` False keeps only the size of a long string (its bytes are decoded, so checked, then dropped)."""
    short = bytearray()
    long: LongString | None = None
    while True:
        masked = _mask(data)
        close = masked.find(b'"')
        end = close if close >= 0 else _cut(masked)
        if end:
            decoded = _decode(data[:end])
            if long is None and len(short) + len(decoded) <= keep_bytes:
                short += decoded
            else:
                if long is None:
                    long = LongString(keep)
                    long.write(bytes(short))
                    short = bytearray()
                long.write(decoded)
        if close >= 0:
            return (short.decode() if long is None else long), data[close + 1:]
        piece = next(pieces, None)
        if piece is None:
            raise StringError("a string is not closed before the end of the line")
        data = data[end:] + piece
