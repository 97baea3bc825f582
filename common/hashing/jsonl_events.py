"""A JSON-lines file as parser events, line by line, without ever holding a whole line.

Each line is fed in pieces of at most ``chunk_bytes`` to an incremental parser (``ijson`` with its
yajl2 C backend, push interface), so a line of any length costs the parser's buffers plus the
largest single scalar in it (a string or number is handed over whole). Blank lines are skipped, as
``pyarrow.json`` skips them.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import IO, Any

import ijson

Event = tuple[str, Any]  # (ijson basic event, value): numbers are int or Decimal
Opener = Callable[[], AbstractContextManager[IO[bytes]]]
READ_BYTES = 1 << 20
MAX_READ_BYTES = 1 << 25  # reads grow inside a long token up to 32 MiB


class JsonLineError(ValueError):
    """A line that is not one JSON object (carries its line number)."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line


class _Lines:
    """Cuts a binary file into lines, handing each line out in pieces."""

    def __init__(self, f: IO[bytes], chunk_bytes: int) -> None:
        self.f = f
        self.chunk_bytes = chunk_bytes
        self.read_bytes = chunk_bytes  # the next read's size (grown inside a long token)
        self.buf = b""
        self.pos = 0
        self.number = 0  # line number of the line being read (1-based)

    def next_line(self) -> bool:
        """Move to the next line; False at the end of the file."""
        if self.pos >= len(self.buf):
            self.buf, self.pos = self.f.read(self.chunk_bytes), 0
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


def _line_events(lines: _Lines) -> Iterator[Event]:
    """Parser events of the current line; nothing for a blank line.

    yajl lexes a token that spans pieces again from its start with every piece, so while a piece
    gives no event (inside a long string or number) the next read is twice as large: the token costs
    time about linear in its length (reads grow up to :data:`MAX_READ_BYTES`)."""
    sink: list[Event] = ijson.sendable_list()
    coro = ijson.basic_parse_coro(sink, use_float=False)
    blank = True
    line = lines.number
    try:
        for piece in lines.pieces():
            if blank and not piece.strip():
                continue
            blank = False
            coro.send(piece)
            lines.read_bytes = lines.chunk_bytes if sink else max(lines.chunk_bytes, min(2 * lines.read_bytes, MAX_READ_BYTES))
            yield from sink
            del sink[:]
        lines.read_bytes = lines.chunk_bytes
        if blank:
            return
        coro.close()
        yield from sink
    except ijson.JSONError as exc:
        reason = " ".join(str(exc).split()).replace("(right here) ------^", "").strip()
        raise JsonLineError(line, f"not valid JSON ({reason}).") from exc


def json_lines(open_source: Opener, chunk_bytes: int = READ_BYTES) -> Iterator[tuple[int, Iterator[Event]]]:
    """``(line number, events of that line)`` for every line; consume each line's events before the next."""
    with open_source() as f:
        lines = _Lines(f, chunk_bytes)
        while lines.next_line():
            events = _line_events(lines)
            yield lines.number, events
            for _ in events:  # whatever the caller left of the line
                pass
