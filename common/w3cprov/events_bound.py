"""How many PROV records a bundle's ``events.jsonl`` makes at least, counted by an incremental parser that holds no
event whole, so that events far past the record bound are refused before they are parsed (no I/O)."""
from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from prov_common.file_uri import local_dataset
from prov_common.w3cprov.event_lines import EventBytes
from prov_common.w3cprov.serialize import skip_value

_WEIGHTS = {"inputs": 1, "outputs": 2}
"""Records :mod:`~prov_common.w3cprov.mapping` states at least for each dataset a run reads (its ``used``) and
writes (its ``WrittenVersion`` entity and ``wasGeneratedBy``), none of them shared with another dataset or run."""
_ENTRY_BYTES = len(b'{"namespace":"","name":""}')
"""Bytes at least of one dataset entry of an event: a file of ``n`` bytes names at most ``n / 26`` datasets."""

Events = Iterator[tuple[str, Any]]


def events_past(data: bytes | EventBytes, bound: int) -> bool:
    """Whether the JSON-lines run events ``data`` make more than ``bound`` PROV records by this mapping, by a count
    never above the records they make: the datasets each run reads and writes, named as the folding names them
    (:func:`~prov_common.file_uri.local_dataset`), each counted once (a hash of each held, never more than ``bound``)
    by an incremental parser that stops once they pass it. Parsing the events whole costs several times their size
    (140 MB of 400,000 outputs: 1 GB) before their records could be counted. False for a file too small to name
    that many datasets (no parse), and for one the counted datasets keep within ``bound`` (left to the folding,
    which counts every record, and to the parser that names a line that is not JSON). ``data`` held whole, or read in
    parts (:class:`~prov_common.w3cprov.event_lines.EventBytes`: a part and the parser's buffer held at once)."""
    source = EventBytes.of(data)
    if source.size is not None and source.size * max(_WEIGHTS.values()) <= _ENTRY_BYTES * bound:
        return False
    import ijson

    events = ijson.basic_parse(source.stream(), use_float=True, multiple_values=True)
    seen: set[int] = set()
    count = 0
    try:
        for first, _ in events:
            if first != "start_map":
                skip_value(events, first)
                continue
            run_id, named = _event(events, bound)
            if run_id is None:  # no run: an event the folding refuses
                continue
            if None in named.values():  # one side alone past the bound
                return True
            for side, keys in named.items():
                for key in keys or ():
                    pair = hash((run_id, side, key))
                    if pair not in seen:
                        seen.add(pair)
                        count += _WEIGHTS[side]
                        if count > bound:
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
