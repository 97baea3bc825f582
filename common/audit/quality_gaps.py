"""Pandera results recorded along a lineage, and the sentence that names a failed one: the audit's Article 10
gaps and the training-data records (D&TA ``knownGaps``, Croissant ``rai:dataLimitations``) say it alike (no I/O)."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from prov_common.audit.model import DatasetUse


def quality_results(uses: Iterable[DatasetUse]) -> dict[str, dict[str, Any]]:
    """The Pandera results recorded in ``uses``, each once, in first-seen order (keyed by all they say)."""
    out: dict[str, dict[str, Any]] = {}
    for v in uses:
        q = v.quality
        if q is not None:
            out.setdefault(repr((v.label, v.version, q.schema, q.passed, q.failure_count, q.failed_checks)),  # any JSON value
                           {"dataset": v.label, "version": v.version, "schema": q.schema, "passed": q.passed,
                            "failureCount": q.failure_count, "failedChecks": list(q.failed_checks)})
    return out


def failed_validation(result: Mapping[str, Any], fix: str | None = None) -> str:
    """``X@v failed Pandera schema S (n failures)`` for one result of :func:`quality_results`; ``fix`` is added
    inside the parentheses (the audit names what would close the gap)."""
    n = result["failureCount"]
    return (f"{result['dataset']}@{result['version']} failed Pandera schema {result['schema']} "
            f"({n} failure{'' if n == 1 else 's'}{f'; {fix}' if fix else ''})")
