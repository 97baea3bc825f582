"""Events as plain JSON: serialise openlineage-python events and check events received from any producer."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

from openlineage.client.event_v2 import RunState
from openlineage.client.serde import Serde

from prov_common.errors import BadInputError

EVENT_TYPES: tuple[str, ...] = tuple(state.value for state in RunState)


def event_to_dict(event: Any) -> dict[str, Any]:
    """A JSON-ready dict of an openlineage-python event (nulls dropped, enums as strings)."""
    return Serde.to_dict(event)


def event_to_json(event: Any) -> str:
    """One line of compact JSON with sorted keys (a line of an ``.jsonl`` event file)."""
    return json.dumps(event_to_dict(event), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def parse_event(event: dict[str, Any] | str | bytes, *, where: str | None = None) -> dict[str, Any]:
    """Check that ``event`` (a dict or JSON text) is an OpenLineage event tdprov can use and return it as a dict.

    Run events need ``eventType``, ``eventTime``, ``producer``, ``run.runId`` (a UUID), ``job.namespace``
    and ``job.name``; datasets need ``namespace`` and ``name``; facets must be objects. Optional parts
    may be missing. ``where`` (e.g. ``"events.jsonl:3"``) is named in errors.
    """
    if isinstance(event, (str, bytes, bytearray)):
        try:
            event = json.loads(event)
        except json.JSONDecodeError as exc:
            raise BadInputError(
                f"OpenLineage event{_at(where)} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
                fix="write one JSON object per event (one per line in .jsonl files)",
            ) from None
    if not isinstance(event, dict):
        raise BadInputError(
            f"OpenLineage event{_at(where)} must be a JSON object, got {type(event).__name__}",
            fix="pass the event dict (openlineage.client.serde.Serde.to_dict(event)) or its JSON text",
        )
    checker = _Checker(event, where)
    checker.text("eventTime")
    checker.time("eventTime")
    checker.text("producer")
    if "run" in event or "eventType" in event:
        checker.choice("eventType", EVENT_TYPES)
        checker.mapping("run")
        checker.uuid("run.runId")
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
    return event


def _at(where: str | None) -> str:
    return f" at {where}" if where else ""


class _Checker:
    """Field checks on one event, with errors that name the event and the field."""

    def __init__(self, event: dict[str, Any], where: str | None) -> None:
        self.event = event
        self.where = where

    def _name(self) -> str:
        run = self.event.get("run") if isinstance(self.event.get("run"), dict) else {}
        job = self.event.get("job") if isinstance(self.event.get("job"), dict) else {}
        parts = [str(self.event["eventType"])] if isinstance(self.event.get("eventType"), str) else []
        if isinstance(job.get("name"), str):
            parts.append(f"job {job.get('namespace', '?')}/{job['name']}")
        if isinstance(run.get("runId"), str):
            parts.append(f"run {run['runId']}")
        label = " ".join(parts) or "without type, job or run"
        return f"OpenLineage event{_at(self.where)} ({label})"

    def fail(self, field: str, problem: str, fix: str | None = None) -> None:
        raise BadInputError(
            f"{self._name()}: field '{field}' {problem}",
            fix=fix or "see the OpenLineage spec (https://openlineage.io/spec/2-0-2/OpenLineage.json)",
        )

    def optional(self, path: str) -> Any:
        value: Any = self.event
        for part in path.split("."):
            if isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            elif isinstance(value, dict) and part in value:
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

    def mapping(self, path: str) -> dict[str, Any]:
        value = self.required(path)
        if not isinstance(value, dict):
            self.fail(path, f"must be an object, got {type(value).__name__}")
        return value

    def choice(self, path: str, allowed: tuple[str, ...]) -> None:
        value = self.text(path)
        if value not in allowed:
            self.fail(path, f"is {value!r}, not one of {', '.join(allowed)}")

    def uuid(self, path: str) -> None:
        value = self.text(path)
        try:
            UUID(value)
        except ValueError:
            self.fail(path, f"must be a UUID, got {value!r:.60}", fix="use a UUID (uuid7 recommended) as the run id")

    def time(self, path: str) -> None:
        value = self.text(path)
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            self.fail(path, f"must be an ISO 8601 date-time, got {value!r:.60}", fix="e.g. 2026-01-31T12:00:00+00:00")
        if "t" not in value.lower():
            self.fail(path, f"must contain a time, got {value!r:.60}", fix="e.g. 2026-01-31T12:00:00+00:00")

    def facets(self, path: str) -> None:
        facets = self.optional(path)
        if facets is None:
            return
        if not isinstance(facets, dict):
            self.fail(path, f"must be an object of facets, got {type(facets).__name__}")
        for key, facet in facets.items():
            if not isinstance(facet, dict):
                self.fail(f"{path}.{key}", f"must be an object, got {type(facet).__name__}")

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

