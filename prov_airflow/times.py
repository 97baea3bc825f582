"""The times of a task try's or DAG run's events, as Airflow recorded them: its ``start_date`` for START and its
``end_date`` for the terminal event, the times the OpenLineage provider gives its own events, so that both records
of one run agree. Only aware datetimes are taken; the current time stands in where Airflow has none."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def _aware(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) and value.tzinfo is not None else None


def start_time(record: Any) -> datetime:
    """When ``record`` (a task instance or a DAG run) started: its ``start_date``, no later than now; now without one."""
    now = datetime.now(UTC)
    start = _aware(getattr(record, "start_date", None))
    return min(start, now) if start is not None else now


def end_time(record: Any) -> datetime:
    """When ``record`` (a task instance or a DAG run) ended: its ``end_date``, else now; never before its ``start_date``
    (a run's terminal event is never stamped before its START)."""
    end = _aware(getattr(record, "end_date", None)) or datetime.now(UTC)
    start = _aware(getattr(record, "start_date", None))
    return max(end, start) if start is not None else end
