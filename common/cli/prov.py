"""``tdprov prov``: the W3C PROV document of OpenLineage events (PROV-JSON, PROV-N, PROV-XML or Turtle)."""
from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from prov_common.bundle.events import numbered_event_lines
from prov_common.bundle.layout import SMALL_OBJECT_LIMIT
from prov_common.canonical_json import RepeatedKeyError, loads, unique_keys
from prov_common.cli._common import add_verb
from prov_common.cli._output import tell, tell_written, write_output
from prov_common.errors import BadInputError
from prov_common.lineage.validate import to_utc
from prov_common.regular_file import open_regular
from prov_common.w3cprov import FORMATS, serialize
from prov_common.w3cprov.events import RunState, fold_runs, version_text
from prov_common.w3cprov.quality import recorded_int
from prov_common.text import counted, first_of, shown_value
from prov_common.w3cprov.mapping import runs_to_document

if TYPE_CHECKING:
    from prov.model import ProvDocument


EVENTS_FILE_FIX = ("write one OpenLineage run event per line, each a JSON object, as a transport's file or "
                   "events.jsonl of a bundle holds them (or one JSON document: an event or a list of events)")


EVENTS_HELP = ("OpenLineage events, one JSON object per line ('-' = stdin); several files are merged; an event whose "
               "JSON gives a key twice in one object is refused, naming its line and the key")


EVENT_LIMIT = SMALL_OBJECT_LIMIT
"""Bytes at most of one event (a line), and of an events file read as one JSON document: a larger file is read line
by line, and a longer line (a file of zeros, a value of gigabytes) is refused, never read whole into memory."""
_NAMED = 5
"""Events or datasets a warning names, the rest counted (``and 2 more``)."""


Placed = tuple[str, Any]
"""An event read from a file and where it was read: ``FILE line N`` (JSON lines), ``FILE item N`` (a JSON list) or
``FILE`` (one JSON event), named in errors and warnings instead of its position among all the files read."""


def read_events(path: str) -> list[dict[str, Any]]:
    """Events from a JSON lines file (one event per line), a JSON file (one event or a list), or ``-`` (stdin). A file
    larger than :data:`EVENT_LIMIT` must be JSON lines, each line at most that long."""
    return [event for _, event in read_placed_events(path)]


def read_placed_events(path: str) -> list[Placed]:
    """:func:`read_events`, each event with where it was read (:data:`Placed`)."""
    if path == "-":
        stream, name = contextlib.nullcontext(sys.stdin.buffer), "<stdin>"
    else:
        file = Path(path)
        if not file.is_file():
            raise BadInputError(f"events file {path!r} does not exist.", fix="pass a JSON lines file of OpenLineage events")
        stream, name = open_regular(file), str(file)
    try:
        with stream as opened:
            data = opened.read(EVENT_LIMIT + 1)
            if len(data) > EVENT_LIMIT:
                return _lines_placed(_bounded_lines(data, opened, name), name)
    except BadInputError as exc:
        raise _with_file_fix(exc) from exc
    try:
        whole = loads(data, once=True)
    except ValueError as exc:
        if isinstance(exc, RepeatedKeyError) and _one_document(data):
            item = _item_giving_twice(data) if data.lstrip()[:1] == b"[" else None
            raise exc.refused(name if item is None else f"{name} item {item}") from None
        try:
            return _lines_placed(data.splitlines(), name)
        except BadInputError as exc:
            raise _with_file_fix(exc) from exc
    return [(f"{name} item {number}", event) for number, event in enumerate(whole, 1)] if isinstance(whole, list) else [(name, whole)]


def _with_file_fix(exc: BadInputError) -> BadInputError:
    """``exc`` of an events file, with the fix of what an events file holds where it names none of its own (a line
    giving a key twice has its own)."""
    return BadInputError(exc.what, fix=exc.fix or EVENTS_FILE_FIX)


def _lines_placed(lines: Iterable[bytes], name: str) -> list[Placed]:
    return [(f"{name} line {number}", event) for number, event in numbered_event_lines(lines, name, once=True)]


def _one_document(data: bytes) -> bool:
    """Whether ``data`` is one JSON document (not JSON lines), read as a key given twice is read."""
    try:
        loads(data)
    except ValueError:
        return False
    return True


_SPACE = re.compile(r"[ \t\n\r]*")


def _item_giving_twice(data: bytes) -> int | None:
    """The 1-based item of the JSON list ``data`` (one document) whose JSON gives a key twice in an object."""
    text, decoder = data.decode("utf-8", "replace"), json.JSONDecoder(object_pairs_hook=unique_keys)
    at, number = _SPACE.match(text, text.index("[") + 1).end(), 1  # type: ignore[union-attr]
    while True:
        try:
            _, at = decoder.raw_decode(text, at)
        except RepeatedKeyError:
            return number
        except ValueError:
            return None
        at = _SPACE.match(text, at).end()  # type: ignore[union-attr]
        if text[at:at + 1] != ",":
            return None
        at, number = _SPACE.match(text, at + 1).end(), number + 1  # type: ignore[union-attr]


def _bounded_lines(head: bytes, stream: BinaryIO, name: str) -> Iterator[bytes]:
    """The lines of ``head`` and of the rest of ``stream`` after it, as ``bytes.splitlines`` gives them; a line longer
    than :data:`EVENT_LIMIT` is refused before more of it is read."""
    pending, number, chunk = bytearray(), 0, head
    while chunk:
        cut = chunk.rfind(b"\n")
        pending += chunk if cut < 0 else chunk[:cut]
        if cut >= 0:
            for line in bytes(pending).split(b"\n"):
                if len(line) > EVENT_LIMIT:
                    break
                for part in line.splitlines() or [b""]:
                    number += 1
                    yield part
            else:
                pending = bytearray(chunk[cut + 1:])
        if len(pending) > EVENT_LIMIT:
            raise BadInputError(f"{name} line {number + 1} is longer than {EVENT_LIMIT:,} bytes: no event is.")
        chunk = stream.read(1 << 20)
    yield from bytes(pending).splitlines()


def read_all_events(paths: list[str]) -> list[Placed]:
    """Events of every file in ``paths``, in order, each with where it was read."""
    return [placed for path in paths for placed in read_placed_events(path)]


def times_taken_as_utc(placed: list[Placed]) -> list[str]:
    """The events (``PLACE (TYPE run R, TIME)``, places as errors name them) whose ``eventTime`` is a date-time without
    time zone: refused as new events, it is read as UTC, as bundles sealed before event times had to be RFC 3339 are."""
    found = []
    for place, event in placed:
        time = event.get("eventTime") if isinstance(event, Mapping) else None
        if isinstance(time, str) and to_utc(time) is None and to_utc(time, sealed=True) is not None:
            run = event.get("run")
            found.append(f"{place} ({event.get('eventType')} run {run.get('runId') if isinstance(run, Mapping) else None}, {time})")
    return found


def _dataset_versions(placed: list[Placed]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Each ``version`` facet with a ``datasetVersion`` of the datasets of events read from files, with where it is
    (``PLACE inputs.0.facets.version.datasetVersion``)."""
    for place, event in placed:
        for side, extra in (("inputs", "inputFacets"), ("outputs", "outputFacets")):
            datasets = event.get(side) if isinstance(event, Mapping) else None
            for at, dataset in enumerate(datasets if isinstance(datasets, list) else ()):
                for key in ("facets", extra):
                    facets = dataset.get(key) if isinstance(dataset, Mapping) else None
                    facet = facets.get("version") if isinstance(facets, Mapping) else None
                    if isinstance(facet, Mapping) and "datasetVersion" in facet:
                        yield f"{place} {side}.{at}.{key}.version.datasetVersion", facet


def versions_not_taken(placed: list[Placed]) -> list[str]:
    """The ``version`` facets of the datasets of events read from files whose ``datasetVersion`` is blank or neither a
    string nor a whole number (an object, a list, a decimal, a boolean, null), which give no version
    (:func:`~prov_common.w3cprov.events.version_text`): ``PLACE inputs.0.facets.version.datasetVersion is VALUE``."""
    return [f"{where} is {shown_value(facet['datasetVersion'])}" for where, facet in _dataset_versions(placed)
            if version_text(facet["datasetVersion"]) is None]


def versions_not_sealed(placed: list[Placed]) -> list[str]:
    """The ``version`` facets of the datasets of events read from files whose ``datasetVersion`` is a whole number, which
    gives its text as the version here, in a facet that breaks the official schema its ``_schemaURL`` names (the
    DatasetVersionDatasetFacet asks for a string): sealing a bundle refuses such an event by that same check
    (:func:`~prov_common.lineage.facet_schemas.facet_problem`), loaded only when such a facet is found. Named as
    :func:`versions_not_taken` names them."""
    numbered = [(where, facet) for where, facet in _dataset_versions(placed) if recorded_int(facet["datasetVersion"]) is not None]
    if not numbered:
        return []
    from prov_common.lineage.facet_schemas import facet_problem  # the schemas and jsonschema: for these facets alone

    return [f"{where} is {shown_value(facet['datasetVersion'])}" for where, facet in numbered if facet_problem(facet) is not None]


def events_file_runs(placed: list[Placed], verb: str) -> list[RunState]:
    """The runs of events read from files (a bundle's ``events.jsonl`` among them): a time without offset is taken as
    UTC, as in a bundle sealed before event times had to be RFC 3339, with one warning naming those events; a dataset
    version that is blank or neither a string nor a whole number gives no version, with one warning naming those."""
    naive = times_taken_as_utc(placed)
    if naive:
        tell(verb, f"warning: {counted(len(naive), 'event')} {'has' if len(naive) == 1 else 'have'} an eventTime without time zone, "
             "taken as UTC (as in bundles "
             f"sealed before event times had to be RFC 3339): {first_of(naive, _NAMED)}")
    versionless = versions_not_taken(placed)
    if versionless:
        tell(verb, f"warning: {counted(len(versionless), 'dataset')} {'has' if len(versionless) == 1 else 'have'} a version "
             "facet whose datasetVersion is blank or neither a string nor a whole number, so "
             f"{'it is' if len(versionless) == 1 else 'they are'} stated without that version: {first_of(versionless, _NAMED)}. "
             "Fix: make the producer send datasetVersion as a string that is not blank, as the OpenLineage DatasetVersionDatasetFacet "
             "defines it (sealing a bundle refuses one that is no string in a facet that names that schema)")
    unsealable = versions_not_sealed(placed)
    if unsealable:
        tell(verb, f"warning: {counted(len(unsealable), 'dataset')} {'has' if len(unsealable) == 1 else 'have'} a version "
             "facet that names the DatasetVersionDatasetFacet schema with a whole-number datasetVersion, stated here as "
             "that number's text, which sealing a bundle refuses (the schema asks for a string): "
             f"{first_of(unsealable, _NAMED)}. Fix: make the producer send datasetVersion as a string (3 as \"3\"), as the "
             "OpenLineage DatasetVersionDatasetFacet defines it")
    return fold_runs([event for _, event in placed], sealed=True, places=[place for place, _ in placed])


def events_file_document(placed: list[Placed], verb: str) -> ProvDocument:
    """The PROV document of events read from files (:func:`events_file_runs`)."""
    return runs_to_document(events_file_runs(placed, verb))


def register(subparsers: Any) -> None:
    parser = add_verb(
        subparsers,
        "prov",
        help="convert OpenLineage events to W3C PROV",
        description=(
            "Convert the OpenLineage events of a run (from tdprov or any other producer: Airflow, Spark, dbt, ...) "
            "into one W3C PROV document. Events of several runs are grouped by run id and merged. PROV-JSON is "
            "canonical (RFC 8785): the same events always give the same bytes. The mapping is described in "
            "docs/prov-mapping.md."
        ),
        example="tdprov prov events.jsonl --format provn -o run.provn",
    )
    parser.add_argument("events", metavar="EVENTS.jsonl", nargs="+",
                        help=EVENTS_HELP)
    parser.add_argument("--format", "-f", choices=FORMATS, default="json", help="output format (default: json)")
    parser.add_argument("-o", "--output", default=None, help="write to this file instead of stdout")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    placed = read_all_events(args.events)
    write_output(serialize(events_file_document(placed, "prov"), args.format), args.output)
    tell_written(args.output, f"PROV ({args.format}) of {counted(len(placed), 'event')}")
    return 0
