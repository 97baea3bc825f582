"""What a failed Pandera outcome says, in the step failure and check of Dagster and the task failure of Airflow (no
I/O here)."""
from __future__ import annotations

from typing import Any

from prov_common.text import counted, first_of
from prov_common.w3cprov.quality import recorded_int


def failed_checks_text(result: dict[str, Any], shown: int = 5) -> str:
    """The checks a recorded Pandera outcome (``QualityResult.to_dict()``, or one an asset recorded itself: a check
    that is no object is left out, a count that is no whole number is read as none) did not pass (``passed`` not
    true): ``column: check (failure cases)`` for those that failed, ``column: check (no known outcome)`` for a
    ``passed`` that is no boolean, then ``column: check (not run)`` for those skipped (a missing column's), the first
    ``shown`` and how many more: what failed (the missing column) is never left out for what could not run."""
    checks = result.get("checks")
    listed = checks if isinstance(checks, list) else []
    unpassed = [c for c in listed if isinstance(c, dict) and c.get("passed") is not True]
    failed = [f"{c.get('column') or '<table>'}: {c.get('name')} ({_said(c)})" for c in sorted(unpassed, key=_order)]
    return first_of(failed, shown)


def _said(check: dict[str, Any]) -> Any:
    """What one check that did not pass came to: its failure cases, ``not run``, or ``no known outcome`` (a ``passed``
    that is no boolean: ``"false"`` as text is no pass)."""
    if check.get("status") == "skip":
        return "not run"
    return (recorded_int(check.get("failureCount")) or 0) if isinstance(check.get("passed"), bool) else "no known outcome"


def _order(check: dict[str, Any]) -> int:
    """Failed checks first, then those of no known outcome, then those that could not run."""
    return 2 if check.get("status") == "skip" else 0 if isinstance(check.get("passed"), bool) else 1


def failed_schema_text(what: str, result: dict[str, Any], fault: str | None = None) -> str:
    """``what`` (an asset, a partition, a table) failed a recorded Pandera outcome's schema (``QualityResult.to_dict()``):
    the schema, the failure cases and :func:`failed_checks_text`. ``fault``: what is wrong with the result as recorded,
    named after the checks (:func:`~prov_common.w3cprov.quality.pandera_fault` of the ``tdprov/pandera`` metadata an
    asset may set itself: its ``passed`` no boolean, though a check failed; or true with failure cases counted). The
    checks are left out when none of them failed (a result that failed by its count alone)."""
    checks = failed_checks_text(result)
    return (f"{what} failed Pandera schema {result.get('schemaName')!r}: "
            f"{counted(recorded_int(result.get('failureCount')) or 0, 'failure case')}"
            + (f" [{checks}]" if checks else "") + (f" ({fault})" if fault else ""))
