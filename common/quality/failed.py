"""What a failed Pandera outcome says, in the step failure and check of Dagster and the task failure of Airflow (no
I/O here)."""
from __future__ import annotations

from typing import Any

from prov_common.text import counted, first_of


def failed_checks_text(result: dict[str, Any], shown: int = 5) -> str:
    """The checks a recorded Pandera outcome (``QualityResult.to_dict()``) did not pass: ``column: check (failure
    cases)`` for those that failed, then ``column: check (not run)`` for those skipped (a missing column's), the first
    ``shown`` and how many more: what failed (the missing column) is never left out for what could not run."""
    unpassed = [c for c in result.get("checks") or [] if not c.get("passed")]
    failed = [f"{c.get('column') or '<table>'}: {c.get('name')} "
              f"({'not run' if c.get('status') == 'skip' else c.get('failureCount', 0)})"
              for c in sorted(unpassed, key=lambda c: c.get("status") == "skip")]
    return first_of(failed, shown)


def failed_schema_text(what: str, result: dict[str, Any]) -> str:
    """``what`` (an asset, a partition, a table) failed a recorded Pandera outcome's schema (``QualityResult.to_dict()``):
    the schema, the failure cases and :func:`failed_checks_text`."""
    return (f"{what} failed Pandera schema {result.get('schemaName')!r}: {counted(result.get('failureCount', 0), 'failure case')} "
            f"[{failed_checks_text(result)}]")
