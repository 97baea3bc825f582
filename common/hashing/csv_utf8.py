"""Where a CSV file stops being UTF-8: the refusal of such a file names its line, byte offset and column.

pandas refuses a CSV file that is not UTF-8 with the codec's own message, whose position is one inside
its read buffer. :func:`csv_not_utf8` reads the file again (only then) to find the first invalid byte.
"""
from __future__ import annotations

import codecs
import csv
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import IO

from prov_common.hashing.encode import NotUtf8Error
from prov_common.hashing.bytes_fix import OR_HASH_BYTES

Opener = Callable[[], AbstractContextManager[IO[bytes]]]
READ_BYTES = 1 << 20
SHOWN_BYTES = 40


@dataclass(frozen=True)
class BadSpot:
    """The first byte that is not UTF-8: its ``offset`` in the file, its ``line`` (1-based), the bytes of that
    line (without its end), where it is in them, and whether the line starts a CSV record (not inside quotes)."""

    offset: int
    line: int
    line_bytes: bytes
    in_line: int
    starts_record: bool


def find_not_utf8(source: IO[bytes]) -> BadSpot | None:
    """The first invalid UTF-8 byte of ``source``, read in pieces of :data:`READ_BYTES`; None when all are valid."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    base, lines, quotes = 0, 1, 0  # bytes before the current line; its number; quote bytes before it
    line = b""
    while True:
        piece = source.read(READ_BYTES)
        buffered = decoder.getstate()[0]  # bytes of a character split across pieces, held by the decoder
        try:
            decoder.decode(piece, final=not piece)
        except UnicodeDecodeError as exc:
            data = line + piece
            bad = len(line) - len(buffered) + exc.start  # the decoder's bytes end the line read so far
            start = data.rfind(b"\n", 0, bad) + 1
            end = data.find(b"\n", bad)
            return BadSpot(offset=base + bad, line=lines + data.count(b"\n", 0, start),
                           line_bytes=data[start:end if end >= 0 else None].rstrip(b"\r"), in_line=bad - start,
                           starts_record=(quotes + data.count(b'"', 0, start)) % 2 == 0)
        if not piece:
            return None
        line += piece
        start = line.rfind(b"\n") + 1
        base, lines, quotes = base + start, lines + line.count(b"\n", 0, start), quotes + line.count(b'"', 0, start)
        line = line[start:]


def _fields(line: bytes) -> list[bytes]:
    """The fields of one CSV line, as bytes (decoded as Latin-1, which maps every byte to itself)."""
    row = next(csv.reader([line.decode("latin-1")]), [])
    return [field.encode("latin-1") for field in row]


def csv_not_utf8(name: str, open_source: Opener) -> NotUtf8Error | None:
    """The refusal of the CSV file ``name`` (read again through ``open_source``) that is not UTF-8, naming its
    first bad byte's line, byte offset and (when its line is a whole record) column; None if none is found."""
    with open_source() as source:
        spot = find_not_utf8(source)
    if spot is None:
        return None
    where = f"line {spot.line}, byte offset {spot.offset}"
    value, column = spot.line_bytes[max(0, spot.in_line - SHOWN_BYTES // 2):][:SHOWN_BYTES], None
    if spot.line == 1:
        column = "the header"
    elif spot.starts_record:
        with open_source() as source:
            header = _fields(source.readline().rstrip(b"\r\n"))
        index = len(_fields(spot.line_bytes[:spot.in_line + 1])) - 1
        fields = _fields(spot.line_bytes)
        if index < len(header) and index < len(fields):
            column, value = f"column {header[index].decode('utf-8', 'replace')!r}", fields[index]
    return CsvNotUtf8Error(value, file=name, where=where, column=column)


class CsvNotUtf8Error(NotUtf8Error):
    """A CSV file that is not UTF-8, naming where (line and byte offset) and, when known, the column."""

    def __init__(self, value: bytes, *, file: str, where: str, column: str | None = None) -> None:
        self.value, self.index, self.row, self.column, self.file, self.where = value, None, None, column, file, where
        shown = repr(value[:SHOWN_BYTES]) + ("..." if len(value) > SHOWN_BYTES else "")
        super(NotUtf8Error, self).__init__(
            f"{file!r}: {column or 'a value'} holds text that is not valid UTF-8 ({where}: {shown}).",
            fix="tdprov reads CSV as UTF-8 (it takes no other encoding): re-encode the file as UTF-8 "
                f"(e.g. iconv -f latin1 -t utf-8 {file} > utf8.csv, if it is Latin-1), "
                f"{OR_HASH_BYTES}.")

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild, (self.value, self.file, self.where, self.column))


def _rebuild(value: bytes, file: str, where: str, column: str | None) -> CsvNotUtf8Error:
    return CsvNotUtf8Error(value, file=file, where=where, column=column)
