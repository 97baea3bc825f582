"""The runs of a bundle's ``events.jsonl`` bytes folded line by line (no I/O), so that what is held grows with the
events' PROV, not with the file: each line is parsed and checked in turn and kept as its place and order, a line
repeated is folded once, and each run's events are folded in their order, one at a time. Parsed whole, 140 MB of
events (one output repeated 400,000 times: a few PROV records) took 892 MB."""
from __future__ import annotations

import hashlib
import io
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain, groupby
from typing import Any

from prov_common.bundle.layout import SMALL_OBJECT_LIMIT
from prov_common.canonical_json import loads
from prov_common.errors import BadInputError, VerificationError
from prov_common.w3cprov.events import CheckedEvent, RunState, check_event, fold_ordered, order_head, order_tail

KEPT_BYTES = 8 << 20
"""Bytes of lines kept parsed from the first pass to the fold (each parsed event takes several times its line): a
bundle's events are a few KB, and the lines past this are parsed again when they are folded."""
REREAD_BYTES = 8 << 20
"""Bytes of lines not kept parsed read again at once, and the most one ranged read of them spans."""


@dataclass(frozen=True)
class EventBytes:
    """The bytes of an events file as the fold reads them: ``parts``, the bytes front to back however they are cut
    (each part is let go of once its lines are taken), ``read(start, stop)``, the bytes from ``start`` to ``stop``
    again (a line that the fold did not keep parsed), and ``size``, the most bytes they hold (None: not known)."""

    parts: Iterable[bytes]
    read: Callable[[int, int], bytes]
    size: int | None = None

    @classmethod
    def whole(cls, data: bytes) -> EventBytes:
        """The events held whole in ``data``."""
        return cls((data,), lambda start, stop: data[start:stop], len(data))

    @classmethod
    def of(cls, data: bytes | EventBytes) -> EventBytes:
        """``data`` as read in parts: itself when it is, else held whole (:meth:`whole`)."""
        return data if isinstance(data, EventBytes) else cls.whole(data)

    def lines(self) -> Iterator[bytes]:
        """The lines of the bytes as ``bytes.splitlines`` cuts them, read part by part (:func:`part_lines`: a part and
        a line held at once, however long the line)."""
        limit = sys.maxsize if self.size is None else self.size  # no line is longer than the bytes: none given as None
        return (line for *_, line in part_lines(self.parts, limit) if line is not None)

    def stream(self) -> io.BufferedReader:
        """The ``parts`` as a stream, for a parser that reads one (holding a part and a buffer)."""
        return io.BufferedReader(_PartsStream(iter(self.parts)))


class _PartsStream(io.RawIOBase):
    """The bytes of ``parts`` read front to back, holding no more than a part."""

    def __init__(self, parts: Iterator[bytes]) -> None:
        super().__init__()
        self.parts, self.held = parts, memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self.held:
            part = next(self.parts, None)
            if part is None:
                return 0
            self.held = memoryview(part)
        n = min(len(buffer), len(self.held))
        memoryview(buffer).cast("B")[:n] = self.held[:n]
        self.held = self.held[n:]
        return n


@dataclass
class _Line:
    """One event line: where it is in the bytes, and its checked event while it is kept parsed, else the digest of its
    bytes (:func:`_line_digest`), which they must have when they are read again."""

    start: int
    stop: int
    index: int
    head: tuple[Any, ...]
    checked: CheckedEvent | None
    digest: bytes | None = None


def fold_event_lines(data: bytes | EventBytes, name: str, *, local_names: bool = True, versions_apart: bool = True,
                     sealed: bool = False, each: Callable[[CheckedEvent], None] | None = None,
                     each_line: Callable[[bytes], None] | None = None) -> list[RunState]:
    """One :class:`~prov_common.w3cprov.events.RunState` per run id (sorted) of the JSON-lines events ``data``
    (named ``name`` in errors), as :func:`~prov_common.w3cprov.events.fold_runs` folds them parsed (``local_names``,
    ``versions_apart``, ``sealed``: as there): each line checked,
    a line longer than :data:`~prov_common.bundle.layout.SMALL_OBJECT_LIMIT` refused (no writer stages a larger
    event) and one that is not JSON named. A line equal to one before it is the same event, which folds as once (and
    is not parsed again). ``each``: called with each event as its line is checked, in the lines' order (a repeated
    line once), so that a caller may list them without holding them; ``each_line``: called with the bytes of each
    line that is not blank, a repeated one each time, before it is parsed (a caller may digest them in the same
    reading). ``data`` held whole, or read in parts (:class:`EventBytes`: then no more than a part and a line of it is
    held at once)."""
    source = EventBytes.of(data)
    runs: dict[str, list[_Line]] = {}
    seen: set[bytes] = set()
    kept, index = 0, 0
    for number, start, stop, line in part_lines(source.parts, SMALL_OBJECT_LIMIT):
        if line is None:
            raise BadInputError(f"{name} line {number} is longer than {SMALL_OBJECT_LIMIT:,} bytes: no event is.",
                                fix="check it with 'tdprov verify': a forged or damaged bundle is left out until it "
                                    "is restored from a backup or replica of the store")
        if not line.strip():
            continue
        if each_line is not None:
            each_line(line)
        index += 1
        digest = _line_digest(line)
        if digest in seen:  # checked as its first copy, which its run's fold applies it right after: it changes nothing
            continue
        seen.add(digest)
        checked = check_event(index - 1, _parsed(line, name, number), sealed=sealed)
        if each is not None:
            each(checked)
        keep = kept + len(line) <= KEPT_BYTES
        kept += len(line) if keep else 0
        runs.setdefault(checked.run_id, []).append(
            _Line(start, stop, checked.index, order_head(checked), checked if keep else None, None if keep else digest))
    if not runs:
        raise BadInputError("no OpenLineage run events given.", fix="pass the events of a run (JSON lines, one event per line)")
    return [fold_ordered(_in_order(runs[run_id], source.read, name, sealed), local_names, versions_apart)
            for run_id in sorted(runs)]


def _in_order(lines: list[_Line], read: Callable[[int, int], bytes], name: str, sealed: bool) -> Iterator[CheckedEvent]:
    """The checked events of one run's ``lines`` in their order (time and rank, then, among events of one time and rank,
    their sorted JSON text, as the events read whole are ordered), each parsed again when it was not kept
    (:class:`_Reread`: read again with the lines that come next, a few ranged reads for many lines)."""
    lines.sort(key=lambda line: (line.head, line.index))
    again = _Reread(lines, read)
    for _, tied in groupby(range(len(lines)), key=lambda at: lines[at].head):
        group = list(tied)
        if len(group) > 1:
            first = group[0]
            group.sort(key=lambda at: order_tail(_checked(again, at, name, sealed).event))
            # placed in the order they are folded in, so that the lines read again with one come next (in a tie
            # read in file order, each line would read again a range of those after it)
            lines[first:first + len(group)] = [lines[at] for at in group]
            again.held, group = {}, list(range(first, first + len(group)))
        for at in group:
            yield _checked(again, at, name, sealed)


class _Reread:
    """The bytes of the lines of a run not kept parsed, read again as the fold needs them: the line asked for and
    those not kept that come after it in the fold's order, up to :data:`REREAD_BYTES` of them, read in file order
    in ranges of at most :data:`REREAD_BYTES` that each take every one of them it can. A run of many lines costs a
    few ranged reads (one per line: on S3, 100,000 GETs for a forgery of as many events), and no more than
    :data:`REREAD_BYTES` of lines and one range are held."""

    def __init__(self, lines: list[_Line], read: Callable[[int, int], bytes]) -> None:
        self.lines, self.read = lines, read
        self.held: dict[int, bytes] = {}

    def line(self, at: int) -> bytes:
        """The bytes of ``lines[at]``."""
        found = self.held.get(at)
        if found is None:
            self.held = self._taken(at)
            found = self.held[at]
        return found

    def _taken(self, at: int) -> dict[int, bytes]:
        """The lines not kept from ``at`` on, up to :data:`REREAD_BYTES` of them (``lines[at]`` at least), by place."""
        wanted, size = [], 0
        for place in range(at, len(self.lines)):
            line = self.lines[place]
            if line.checked is None:
                if wanted and size + line.stop - line.start > REREAD_BYTES:
                    break
                wanted.append(place)
                size += line.stop - line.start
        wanted.sort(key=lambda place: self.lines[place].start)
        taken: dict[int, bytes] = {}
        while wanted:
            first = self.lines[wanted[0]].start
            ends = 1
            while ends < len(wanted) and self.lines[wanted[ends]].stop - first <= REREAD_BYTES:
                ends += 1
            data = self.read(first, max(self.lines[place].stop for place in wanted[:ends]))
            taken.update((place, data[self.lines[place].start - first:self.lines[place].stop - first]) for place in wanted[:ends])
            del wanted[:ends]
        return taken


def _checked(again: _Reread, at: int, name: str, sealed: bool) -> CheckedEvent:
    """The checked event of the line ``at`` of ``again``, kept or read and parsed again (it was checked once: it checks
    again). Bytes read again that are not the line read first (the file changed since, after a reader checked it whole
    against its digest) are a :class:`VerificationError`: they are not folded as the line that was checked."""
    line = again.lines[at]
    if line.checked is not None:
        return line.checked
    data = again.line(at)
    if _line_digest(data) != line.digest:
        raise VerificationError(f"{name} changed while it was read: bytes {line.start}-{line.stop}, read again to be "
                                "folded, are not the line read there first.",
                                fix="verify it again; if it changes again, find who rewrites the store's objects")
    return check_event(line.index, _parsed(data, name, 0), sealed=sealed)


def _line_digest(line: bytes) -> bytes:
    """The digest a line is known by while it is folded: one repeated is folded once, one read again checked by it."""
    return hashlib.blake2b(line, digest_size=16).digest()


def _parsed(line: bytes, name: str, number: int) -> Any:
    try:
        return loads(line)
    except ValueError as exc:
        raise BadInputError(f"{name} line {number} is not JSON ({exc}).") from exc


def part_lines(parts: Iterable[bytes], limit: int) -> Iterator[tuple[int, int, int, bytes | None]]:
    """(1-based line number, start, end, line) of each line of the bytes ``parts`` make one after the other, cut as
    :func:`line_spans` cuts them, holding no more than a part and the line it ends (each part joined to the bytes
    before it once, when a line ends in it); a line longer than ``limit`` bytes is given as None as soon as it is
    found so (its end: as far as it was read then), its bytes neither copied nor held past ``limit`` (a planted line
    of gigabytes costs the time to read it, not the memory), and the lines after it follow."""
    tail: list[bytes] = []  # the bytes from ``offset`` on not yet cut into lines: no line end in them but a last \r
    size = dropped = offset = number = 0  # size: of ``tail``; dropped: bytes of a line too long let go of before it
    skipping = False  # the line at ``offset`` was given as too long: ``tail`` is only its last byte
    for part in chain(parts, (None,)):  # None: the end
        if part is not None and not part:
            continue
        if part is None:
            cut = size
        else:  # up to the last line end that no byte still to come can change (a \r may be the first of a \r\n)
            found = max(part.rfind(b"\n"), part.rfind(b"\r", 0, len(part) - 1)) + 1
            cut = size + found if found else size if tail and tail[-1].endswith(b"\r") else 0
        if cut:
            pieces = tail if part is None else [*tail, part]
            held = pieces[0] if len(pieces) == 1 else b"".join(pieces)
            base, last = offset + dropped, 0
            for last, start, stop in line_spans(held, cut):
                if skipping and last == 1:  # the rest of the line given as too long
                    continue
                too_long = stop - start > limit
                yield number + last, base + start, base + stop, None if too_long else held[start:stop]
            number, offset, dropped, skipping = number + last, base + cut, 0, False
            tail = [held[cut:]] if cut < len(held) else []
            size = len(held) - cut
        elif part is not None:
            tail.append(part)
            size += len(part)
        if tail and not skipping and size - tail[-1].endswith(b"\r") > limit:  # no line end in more than a line holds
            yield number + 1, offset, offset + size, None
            skipping = True
        if skipping and size > 1:
            tail, dropped, size = [tail[-1][-1:]], dropped + size - 1, 1


def line_spans(data: bytes, size: int | None = None) -> Iterator[tuple[int, int, int]]:
    """(1-based line number, start, end) of each line of ``data`` (of its first ``size`` bytes: all when None) as
    ``bytes.splitlines`` cuts it (at ``\\n``, ``\\r\\n`` or ``\\r``), without a copy of the lines."""
    number, start, size = 0, 0, len(data) if size is None else size
    while start < size:
        newline = data.find(b"\n", start, size)
        end = size if newline < 0 else newline
        while True:
            number += 1
            cr = data.find(b"\r", start, end)
            if cr < 0:
                yield number, start, end
                break
            yield number, start, cr
            start = cr + 1
            if start == end:
                break
        start = end + 1
