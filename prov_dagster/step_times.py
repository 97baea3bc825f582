"""When a Dagster step attempt started and ended, as the Dagster instance recorded it (the step stats of its
event log: the timestamps of ``STEP_START``/``STEP_RESTARTED`` and ``STEP_SUCCESS``/``STEP_FAILURE``/
``STEP_UP_FOR_RETRY``). These are the times of the step's lineage run: its START and its terminal event."""
from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from prov_dagster.model import StepIdentity

log = logging.getLogger(__name__)


def instant(timestamp: float | None) -> datetime | None:
    """The aware UTC datetime of a Dagster timestamp (epoch seconds), None for None."""
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC)


def attempt_times(stat: Any, attempt: int) -> tuple[datetime | None, datetime | None]:
    """(start, end) of attempt ``attempt`` (from 0) of a step, from its ``RunStepKeyStatsSnapshot``; None where
    Dagster has none (an attempt still running has no end)."""
    closed = list(stat.attempts_list or ())
    if attempt < len(closed):
        marker = closed[attempt]
        return instant(marker.start_time), instant(marker.end_time)
    if attempt == len(closed) and stat.partial_attempt_start is not None:
        return instant(stat.partial_attempt_start), None
    if attempt == 0:  # no attempt markers (an older event log): the step's own start and end
        return instant(stat.start_time), instant(stat.end_time)
    return None, None


def run_ended(instance: Any, run_id: str) -> datetime | None:
    """When Dagster run ``run_id`` ended, as the instance recorded it; None while it runs or when it has no record."""
    record = instance.get_run_record_by_id(run_id)
    return instant(record.end_time) if record is not None else None


def step_started(step_context: Any, step: StepIdentity) -> datetime | None:
    """When attempt ``step`` started, as the Dagster instance of ``step_context`` (the ``StepExecutionContext``
    running it) recorded it: one query of that step's stats; None when Dagster has no start for it or cannot be asked."""
    try:
        stats = step_context.instance.get_run_step_stats(step.dagster_run_id, step_keys=[step.step_key])
    except Exception as exc:  # noqa: BLE001 - recording never breaks the pipeline by accident
        log.debug("tdprov: could not read when the step started from the Dagster instance (%s); its START is stamped "
                  "when it is emitted", exc)
        return None
    return next((attempt_times(s, step.attempt)[0] for s in stats if s.step_key == step.step_key), None)
