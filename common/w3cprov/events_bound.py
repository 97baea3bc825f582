"""How many PROV records a bundle's ``events.jsonl`` makes at least, counted by an incremental parser that holds no
event whole, so that events far past the record bound are refused before they are parsed (no I/O)."""
from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from prov_common.file_uri import local_dataset
from prov_common.w3cprov.serialize import skip_value

_WEIGHTS = {"inputs": 1, "outputs": 2}
"""Records :mod:`~prov_common.w3cprov.mapping` states at least for each dataset a run reads (its ``used``) and
writes (its ``WrittenVersion`` entity and ``wasGeneratedBy``), none of them shared with another dataset or run."""
_ENTRY_BYTES = len(b'{"namespace":"","name":""}')
"""Bytes at least of one dataset entry of an event: a file of ``n`` bytes names at most ``n / 26`` datasets."""

Events = Iterator[tuple[str, Any]]


class RecordCount:
    """A count of the PROV records JSON-lines run events make at least, added to by each piece of them given to
    :meth:`past` (the whole file as a stream, or each line as a fold reads it, so that the file is read once): the
    datasets each run reads and writes, named as the folding names them (:func:`~prov_common.file_uri.local_dataset`),
    each counted once (a hash of each held, never more than ``bound``) by an incremental parser that stops once they
    pass it. Parsing the events whole costs several times their size (140 MB of 400,000 outputs: 1 GB) before their
    records could be counted."""

    def __init__(self, bound: int) -> None:
        self.bound, self.count = bound, 0
        self.seen: set[int] = set()

    def may_pass(self, size: int | None) -> bool:
        """Whether events of ``size`` bytes (None: not known) may name datasets enough to pass the bound (no count
        is needed of a smaller file)."""
        return size is None or size * max(_WEIGHTS.values()) > _ENTRY_BYTES * self.bound

    def past(self, data: bytes | io.BufferedReader) -> bool:
        """Whether the records counted pass the bound once the events of ``data`` (a line, or a stream of lines) are
        counted. Within ``data``, events after one that is not JSON are not counted (the parser that names that line
        refuses them; counted a line at a time, as export's fold gives them, each line is counted on its own), nor is
        an event without a run (the folding refuses it)."""
        import ijson

        events = ijson.basic_parse(data, use_float=True, multiple_values=True)
        try:
            for first, _ in events:
                if first != "start_map":
                    skip_value(events, first)
                    continue
                run_id, named = _event(events, self.bound)
                if run_id is None:  # no run: an event the folding refuses
                    continue
                if None in named.values():  # one side alone past the bound
                    return True
                for side, keys in named.items():
                    for key in keys or ():
                        pair = hash((run_id, side, key))
                        if pair not in self.seen:
                            self.seen.add(pair)
                            self.count += _WEIGHTS[side]
                            if self.count > self.bound:
                                return True
        except (ijson.JSONError, StopIteration, UnicodeDecodeError, ValueError):
            pass
        return False


def _event(events: Events, bound: int) -> tuple[str | None, dict[str, set[int] | None]]:
    """The run id (lower-cased, as its PROV identifier takes a UUID) and the hashes of the dataset names of each side
    of the event whose ``start_map`` was just read (``None`` for a side that alone passes ``bound``); a key given twice
    counts as JSON reads it, the last one."""
    run_id: str | None = None
    named: dict[str, set[int] | None] = {}
    for kind, key in events:  # map_key, until end_map
        if kind == "end_map":
            break
        first = next(events)[0]
        if key == "run" and first == "start_map":
            run_id = _run_id(events)
            continue
        if key in _WEIGHTS and first == "start_array":
            named[key] = _datasets(events, bound // _WEIGHTS[key])
            continue
        if key == "run":
            run_id = None
        named.pop(key, None)
        skip_value(events, first)
    return run_id, named


def _run_id(events: Events) -> str | None:
    """The ``runId`` of the run object whose ``start_map`` was just read."""
    run_id = None
    for kind, key in events:
        if kind == "end_map":
            break
        first, value = next(events)
        if key == "runId":
            run_id = value.lower() if first == "string" else None
        skip_value(events, first)
    return run_id


def _datasets(events: Events, most: int) -> set[int] | None:
    """Hashes of the local names of the datasets of the array whose ``start_array`` was just read; ``None`` past
    ``most`` of them (the rest of the array is read, none of it kept)."""
    found: set[int] | None = set()
    for first, _ in events:
        if first == "end_array":
            break
        if first != "start_map":
            skip_value(events, first)
            continue
        names: dict[str, Any] = {}
        for kind, key in events:
            if kind == "end_map":
                break
            kind, value = next(events)
            if key in ("namespace", "name"):
                names[key] = value if kind == "string" else None
            skip_value(events, kind)
        namespace, name = names.get("namespace"), names.get("name")
        if found is not None and isinstance(namespace, str) and isinstance(name, str):
            found.add(hash(local_dataset(namespace, name)))
            if len(found) > most:
                found = None
    return found
