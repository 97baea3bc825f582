"""Flagged columns travel downstream: an asset records on its materialization the columns that its
source record, its schema, its ``masked_columns`` or its upstream assets flag; a step that loads it
masks them in its own failure samples (the columns still hold the same personal data)."""
from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from dagster import MetadataValue

FLAGGED_KEY = "tdprov/flagged_columns"

_inherited: dict[tuple[str, str], set[str]] = {}
_lock = threading.Lock()


def _step(context: Any) -> tuple[str, str] | None:
    """(run id, step key) of the step an input, output, asset or op context belongs to."""
    try:
        own = getattr(context, "get_step_execution_context", None)  # an asset or op context
        step_context = own() if own is not None else context.step_context
        return str(step_context.run_id), str(step_context.step.key)
    except Exception:  # built without a step (direct IO manager tests)
        return None


def recorded_flags(metadata: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The flagged columns an upstream materialization recorded."""
    value = (metadata or {}).get(FLAGGED_KEY)
    value = getattr(value, "value", value)
    return tuple(str(c) for c in value) if isinstance(value, list | tuple) else ()


def inherit(context: Any, columns: Iterable[str]) -> None:
    """Remember, for the loading step, the flagged columns of an asset it loaded."""
    step, wanted = _step(context), set(columns)
    if step is not None and wanted:
        with _lock:
            _inherited.setdefault(step, set()).update(wanted)


def inherited(context: Any) -> frozenset[str]:
    """The flagged columns of every asset the step has loaded so far."""
    step = _step(context)
    with _lock:
        return frozenset(_inherited.get(step, ())) if step is not None else frozenset()


def forget_run(run_id: str) -> None:
    with _lock:
        for step in [s for s in _inherited if s[0] == run_id]:
            del _inherited[step]


def flags_metadata(columns: Iterable[str]) -> dict[str, Any]:
    """Materialization metadata naming the flagged columns (empty when there are none)."""
    names = sorted(set(columns))
    return {FLAGGED_KEY: MetadataValue.json(names)} if names else {}
