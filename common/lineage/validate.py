"""The one check of OpenLineage events received from any producer (the transport, PROV, bundles, verify).

Loads nothing heavy (no openlineage client, no pandas): the transport and the Airflow plugin import it.
Errors are :class:`BadInputError` naming the event (where it is, its type, job and run) and the field.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NoReturn
from uuid import UUID

from prov_common.canonical_json import RepeatedKeyError, unique_keys
from prov_common.errors import BadInputError
from prov_common.times import TIME_FIX, iso_utc, rfc3339, rfc3339_or_none

MAX_NESTING = 100  # levels of objects and arrays in one event (OpenLineage events need about a dozen)
EVENT_TYPES: tuple[str, ...] = ("START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER")  # openlineage RunState
SPEC_FIX = "see the OpenLineage spec (https://openlineage.io/spec/2-0-2/OpenLineage.json)"


_UNNAMEABLE = re.compile(r"[{}]")  # UUID() takes '{...}'; a run id must also name its bundle (bundle.layout.check_run_id)
UUID_TEXT = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
"""A UUID as the OpenLineage schema's ``uuid`` format takes it: RFC 4122's hex digits in groups of 8-4-4-4-12."""

def to_utc(text: str, *, sealed: bool = False) -> datetime | None:
    """An RFC 3339 date-time as an aware UTC datetime (:func:`prov_common.times.rfc3339`); None if it is not one.
    ``sealed``: also any ISO 8601 date-time with a time of day (no offset = UTC), as events sealed into bundles
    before event times had to be RFC 3339 may be written."""
    return iso_utc(text) if sealed and "t" in text.lower() else rfc3339_or_none(text)


def parse_event(event: Mapping[str, Any] | str | bytes, *, where: str | None = None, sealed: bool = False) -> dict[str, Any]:
    """Check that ``event`` (a dict or JSON text) is an OpenLineage event tdprov can use and return it as a dict.

    Every event needs ``eventTime`` (RFC 3339, the OpenLineage schema's ``date-time``) and ``producer``. Run events (with ``run`` or
    ``eventType``) need ``eventType``, ``run.runId`` (a UUID), ``job.namespace`` and ``job.name``; job
    events a ``job``, dataset events a ``dataset``. Datasets need ``namespace`` and ``name``; facets
    must be objects. Optional parts may be missing. ``where`` (``"events.jsonl:3"``, or ``"#3"`` for a
    position) is named in errors. ``sealed``: the event was read from a sealed bundle, whose ``eventTime`` may be any
    ISO 8601 date-time with a time (no offset = UTC) if it was sealed before event times had to be RFC 3339.
    """
    return _check(_as_mapping(event, where), where, run_event=False, sealed=sealed)[0]


def parse_run_event(event: Mapping[str, Any] | str | bytes, *, where: str | None = None, sealed: bool = False,
                    facet_schemas: bool = False) -> dict[str, Any]:
    """:func:`parse_event` for a run event: job and dataset events (no ``eventType``) are refused. ``facet_schemas``:
    each standard facet must also follow the official schema its ``_schemaURL`` names
    (:mod:`prov_common.lineage.facet_schemas`; a facet that cannot be checked is left as it is)."""
    return timed_run_event(event, where=where, sealed=sealed, facet_schemas=facet_schemas)[0]


def timed_run_event(event: Mapping[str, Any] | str | bytes, *, where: str | None = None, sealed: bool = False,
                    facet_schemas: bool = False) -> tuple[dict[str, Any], datetime]:
    """:func:`parse_run_event`, with the event's ``eventTime`` as an aware UTC datetime (:func:`to_utc`), read once by
    the check."""
    return _check(_as_mapping(event, where), where, run_event=True, sealed=sealed, facet_schemas=facet_schemas)


def at_place(where: str | None) -> str:
    """' #3' for a position, ' at FILE line 3' for a place, '' for none: how an error names where an event is."""
    if not where:
        return ""
    return f" {where}" if where.startswith("#") else f" at {where}"


def _as_mapping(event: Any, where: str | None) -> Any:
    if isinstance(event, (str, bytes, bytearray)):
        try:
            event = json.loads(event, object_pairs_hook=unique_keys)
        except RepeatedKeyError as exc:
            raise exc.refused(f"OpenLineage event{at_place(where)}") from None
        except json.JSONDecodeError as exc:
            raise BadInputError(
                f"OpenLineage event{at_place(where)} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                fix="write one JSON object per event (one per line in .jsonl files)",
            ) from None
    if not isinstance(event, Mapping):
        raise BadInputError(
            f"OpenLineage event{at_place(where)} must be a JSON object, got {type(event).__name__}",
            fix="pass the event dict (openlineage.client.serde.Serde.to_dict(event)) or its JSON text",
        )
    return event


def check_nesting(value: Any, what: str = "OpenLineage event", limit: int = MAX_NESTING, *, numbers: bool = True) -> None:
    """Refuse ``value`` (a JSON-like structure) nested deeper than ``limit`` objects and arrays, or (``numbers``)
    holding a number JSON cannot write (NaN, infinity: ``1e999`` reads as one); iterative, so hostile depth
    gives :class:`BadInputError`, never ``RecursionError``."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            if numbers and isinstance(item, float) and not math.isfinite(item):
                raise BadInputError(f"{what} holds the number {item!r}, which JSON cannot write.",
                                    fix="send finite numbers (a value too large for a double, such as 1e999, reads as infinity)")
            continue
        if depth > limit:
            raise BadInputError(f"{what} is nested more than {limit} levels deep.",
                                fix=f"flatten the facet that nests objects or arrays more than {limit} levels")
        stack.extend((child, depth + 1) for child in children)


def _check(event: Any, where: str | None, *, run_event: bool, sealed: bool = False,
           facet_schemas: bool = False) -> tuple[Any, datetime]:
    """``event`` checked, with its ``eventTime`` read."""
    check_nesting(event, f"OpenLineage event{at_place(where)}")
    checker = _Checker(event, where, facet_schemas)
    moment = checker.time("eventTime", sealed=sealed)
    checker.text("producer")
    is_run = "run" in event or "eventType" in event
    if run_event and not is_run:
        checker.fail("eventType", "is missing: a job or dataset event describes no run",
                     fix="send run events (RunEvent: eventType, run, job)")
    if is_run:
        checker.choice("eventType", EVENT_TYPES)
        checker.mapping("run")
        checker.uuid("run.runId", sealed=sealed)
        checker.facets("run.facets")
        checker.job()
    elif "dataset" in event:
        checker.dataset("dataset")
    else:
        checker.job()
    for side, extra in (("inputs", "inputFacets"), ("outputs", "outputFacets")):
        datasets = checker.optional(side)
        if datasets is None:
            continue
        if not isinstance(datasets, list):
            checker.fail(side, f"must be a list, got {type(datasets).__name__}")
        for i in range(len(datasets)):
            checker.dataset(f"{side}.{i}", extra)
    return event, moment


class _Checker:
    """Field checks on one event, with errors that name the event and the field."""

    def __init__(self, event: Mapping[str, Any], where: str | None, facet_schemas: bool = False) -> None:
        self.event = event
        self.where = where
        self.facet_schemas = facet_schemas

    def _name(self) -> str:
        run = self.event.get("run") if isinstance(self.event.get("run"), Mapping) else {}
        job = self.event.get("job") if isinstance(self.event.get("job"), Mapping) else {}
        parts = [str(self.event["eventType"])] if isinstance(self.event.get("eventType"), str) else []
        if isinstance(job.get("name"), str):
            parts.append(f"job {job.get('namespace', '?')}/{job['name']}")
        if isinstance(run.get("runId"), str):
            parts.append(f"run {run['runId']}")
        label = " ".join(parts) or "without type, job or run"
        return f"OpenLineage event{at_place(self.where)} ({label})"

    def fail(self, field: str, problem: str, fix: str | None = None) -> NoReturn:
        raise BadInputError(f"{self._name()}: field '{field}' {problem}", fix=fix or SPEC_FIX)

    def optional(self, path: str) -> Any:
        value: Any = self.event
        for part in path.split("."):
            if isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            elif isinstance(value, Mapping) and part in value:
                value = value[part]
            else:
                return None
        return value

    def required(self, path: str) -> Any:
        value = self.optional(path)
        if value is None:
            self.fail(path, "is missing", fix=f"add '{path}' to the event")
        return value

    def text(self, path: str) -> str:
        value = self.required(path)
        if not isinstance(value, str) or not value.strip():
            self.fail(path, f"must be a non-empty string, got {value!r:.60}")
        return value

    def mapping(self, path: str) -> Mapping[str, Any]:
        value = self.required(path)
        if not isinstance(value, Mapping):
            self.fail(path, f"must be an object, got {type(value).__name__}")
        return value

    def choice(self, path: str, allowed: tuple[str, ...]) -> None:
        value = self.text(path)
        if value not in allowed:
            self.fail(path, f"is {value!r}, not one of {', '.join(allowed)}")

    def uuid(self, path: str, *, sealed: bool = False) -> None:
        """A UUID in the spec's form (:data:`UUID_TEXT`); ``sealed``: any form ``UUID()`` takes but braces, as bundles
        sealed before the form was required may hold (``urn:uuid:...``, 32 hex digits without hyphens)."""
        value = self.text(path)
        try:  # a form UUID() takes that names no bundle (braces) is refused here, not dropped when the bundle is named
            UUID(value)
            ok = not _UNNAMEABLE.search(value) and (sealed or UUID_TEXT.match(value) is not None)
        except ValueError:
            ok = False
        if not ok:
            self.fail(path, f"must be a UUID, got {value!r:.60}",
                      fix="use a UUID (uuid7 recommended) as the run id, written as 8-4-4-4-12 hex digits (as str() of a uuid.UUID gives it)")

    def time(self, path: str, *, sealed: bool = False) -> datetime:
        """The date-time at ``path`` (``sealed``: as :func:`to_utc` reads a sealed event's)."""
        value = self.text(path)
        if sealed and (moment := to_utc(value, sealed=True)) is not None:
            return moment
        try:
            return rfc3339(value)
        except ValueError as exc:
            self.fail(path, f"must be an RFC 3339 date-time, got {value!r:.60}: {exc}", fix=TIME_FIX)

    def facets(self, path: str) -> None:
        facets = self.optional(path)
        if facets is None:
            return
        if not isinstance(facets, Mapping):
            self.fail(path, f"must be an object of facets, got {type(facets).__name__}")
        for key, facet in facets.items():
            if not isinstance(facet, Mapping):
                self.fail(f"{path}.{key}", f"must be an object, got {type(facet).__name__}",
                          fix="each facet is a JSON object (with _producer and _schemaURL); drop or fix this one")
            if self.facet_schemas:
                self.facet_schema(f"{path}.{key}", facet)

    def facet_schema(self, path: str, facet: Mapping[str, Any]) -> None:
        """The facet at ``path`` follows the official schema its ``_schemaURL`` names, if tdprov holds it."""
        from prov_common.lineage.facet_schemas import facet_problem  # jsonschema is loaded on first use

        problem = facet_problem(facet)
        if problem is not None:
            self.fail(".".join(p for p in (path, problem.field) if p),
                      f"does not follow the {problem.schema} facet schema ({problem.url}): {problem.message}",
                      fix=f"make the producer send facet '{path}' as {problem.schema} defines it, or drop the facet")

    def job(self) -> None:
        self.mapping("job")
        self.text("job.namespace")
        self.text("job.name")
        self.facets("job.facets")

    def dataset(self, path: str, extra: str | None = None) -> None:
        self.mapping(path)
        self.text(f"{path}.namespace")
        self.text(f"{path}.name")
        self.facets(f"{path}.facets")
        if extra:
            self.facets(f"{path}.{extra}")
