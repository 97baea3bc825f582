"""The runs of a bundle's ``events.jsonl`` bytes folded line by line (no I/O), so that what is held grows with the
events' PROV, not with the file: each line is parsed and checked in turn and kept as its place and order, a line
repeated is folded once, and each run's events are folded in their order, one at a time. Parsed whole, 140 MB of
events (one output repeated 400,000 times: a few PROV records) took 892 MB."""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain, groupby
from typing import Any

from prov_common.bundle.layout import SMALL_OBJECT_LIMIT
from prov_common.canonical_json import loads
from prov_common.errors import BadInputError
from prov_common.w3cprov.events import CheckedEvent, RunState, check_event, fold_ordered, order_head, order_tail

KEPT_BYTES = 8 << 20
"""Bytes of lines kept parsed from the first pass to the fold (each parsed event takes several times its line): a
bundle's events are a few KB, and the lines past this are parsed again when they are folded."""


@dataclass(frozen=True)
class EventBytes:
    """The bytes of an events file as the fold reads them: ``parts``, the bytes front to back however they are cut
    (each part is let go of once its lines are taken), and ``read(start, stop)``, the bytes from ``start`` to ``stop``
    again (a line that the fold did not keep parsed)."""

    parts: Iterable[bytes]
    read: Callable[[int, int], bytes]

    @classmethod
    def whole(cls, data: bytes) -> EventBytes:
        """The events held whole in ``data``."""
        return cls((data,), lambda start, stop: data[start:stop])


@dataclass
class _Line:
    """One event line: where it is in the bytes, and its checked event while it is kept parsed."""

    start: int
    stop: int
    index: int
    head: tuple[Any, ...]
    checked: CheckedEvent | None


def fold_event_lines(data: bytes | EventBytes, name: str, *, local_names: bool = True, versions_apart: bool = True,
                     sealed: bool = False, each: Callable[[CheckedEvent], None] | None = None) -> list[RunState]:
    """One :class:`~prov_common.w3cprov.events.RunState` per run id (sorted) of the JSON-lines events ``data``
    (named ``name`` in errors), as :func:`~prov_common.w3cprov.events.fold_runs` folds them parsed (``local_names``,
    ``versions_apart``, ``sealed``: as there): each line checked,
    a line longer than :data:`~prov_common.bundle.layout.SMALL_OBJECT_LIMIT` refused (no writer stages a larger
    event) and one that is not JSON named. A line equal to one before it is the same event, which folds as once (and
    is not parsed again). ``each``: called with each event as its line is checked, in the lines' order (a repeated
    line once), so that a caller may list them without holding them. ``data`` held whole, or read in parts
    (:class:`EventBytes`: then no more than a part and a line of it is held at once)."""
    source = data if isinstance(data, EventBytes) else EventBytes.whole(data)
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
        index += 1
        digest = hashlib.blake2b(line, digest_size=16).digest()
        if digest in seen:  # checked as its first copy, which its run's fold applies it right after: it changes nothing
            continue
        seen.add(digest)
        checked = check_event(index - 1, _parsed(line, name, number), sealed=sealed)
        if each is not None:
            each(checked)
        keep = kept + len(line) <= KEPT_BYTES
        kept += len(line) if keep else 0
        runs.setdefault(checked.run_id, []).append(
            _Line(start, stop, checked.index, order_head(checked), checked if keep else None))
    if not runs:
        raise BadInputError("no OpenLineage run events given.", fix="pass the events of a run (JSON lines, one event per line)")
    return [fold_ordered(_in_order(runs[run_id], source.read, name, sealed), local_names, versions_apart)
            for run_id in sorted(runs)]


def _in_order(lines: list[_Line], read: Callable[[int, int], bytes], name: str, sealed: bool) -> Iterator[CheckedEvent]:
    """The checked events of one run's ``lines`` in their order (time and rank, then, among events of one time and rank,
    their sorted JSON text, as the events read whole are ordered), each parsed again when it was not kept."""
    lines.sort(key=lambda line: (line.head, line.index))
    for _, tied in groupby(lines, key=lambda line: line.head):
        group = list(tied)
        if len(group) > 1:
            group.sort(key=lambda line: order_tail(_checked(line, read, name, sealed).event))
        for line in group:
            yield _checked(line, read, name, sealed)


def _checked(line: _Line, read: Callable[[int, int], bytes], name: str, sealed: bool) -> CheckedEvent:
    """The checked event of ``line``, kept or read and parsed again (it was checked once: it checks again)."""
    if line.checked is not None:
        return line.checked
    return check_event(line.index, _parsed(read(line.start, line.stop), name, 0), sealed=sealed)


def _parsed(line: bytes, name: str, number: int) -> Any:
    try:
        return loads(line)
    except ValueError as exc:
        raise BadInputError(f"{name} line {number} is not JSON ({exc}).") from exc


def part_lines(parts: Iterable[bytes], limit: int) -> Iterator[tuple[int, int, int, bytes | None]]:
    """(1-based line number, start, end, line) of each line of the bytes ``parts`` make one after the other, cut as
    :func:`line_spans` cuts them, holding no more than a part and the line it ends; a line longer than ``limit`` bytes
    is given as None (its bytes are not copied), and is the last given."""
    held, offset, number = b"", 0, 0  # held: the bytes from ``offset`` on, not yet cut into lines
    for part in chain(parts, (None,)):  # None: the end
        held = part if not held and part is not None else held if part is None else held + part
        # up to the last line end that no byte still to come can change (a \r may be the first of a \r\n)
        cut = len(held) if part is None else held.rfind(b"\n") + 1 or held.rfind(b"\r", 0, len(held) - 1) + 1
        if not cut and len(held) - held.endswith(b"\r") > limit:  # no line end in more bytes than a line holds
            yield number + 1, offset, offset + len(held), None
            return
        last = 0
        for last, start, stop in line_spans(held, cut):
            too_long = stop - start > limit
            yield number + last, offset + start, offset + stop, None if too_long else held[start:stop]
            if too_long:
                return
        number, held, offset = number + last, held[cut:], offset + cut


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
