"""Pandera results recorded along a lineage, which of them count for a version, and the sentence that names a
failed one: the audit's Article 10 section and the training-data records (D&TA ``qualityChecks`` and
``knownGaps``, Croissant ``rai:dataLimitations``) take them from here and say them alike (no I/O)."""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from prov_common.audit.lineage import LineageIndex, version_of
from prov_common.audit.model import CheckOutcome, DatasetUse
from prov_common.w3cprov.identity import VersionKey

Results = dict[str, dict[str, Any]]  # :func:`quality_results`


def quality_results(uses: Iterable[DatasetUse]) -> dict[str, dict[str, Any]]:
    """The check results recorded in ``uses``, each once, in first-seen order (keyed by the version, never by how it
    prints, and all the result says): a Pandera schema's result (``schema``), then each other check (``check``, a
    Dagster asset check: its ``status`` ``pass``, ``fail`` or ``error``, the check raised; ``passed`` only when it
    passed)."""
    out: dict[str, dict[str, Any]] = {}
    for v in uses:
        q = v.quality
        if q is not None:
            out.setdefault(repr((version_of(v), q.schema, q.passed, q.failure_count, q.failed_checks)),  # any JSON value
                           {"dataset": v.label, "version": v.version, "schema": q.schema, "passed": q.passed,
                            "failureCount": q.failure_count, "failedChecks": list(q.failed_checks)})
        for c in v.checks:
            out.setdefault(repr((version_of(v), "check", c.name, c.status, c.severity, c.description)),
                           {"dataset": v.label, "version": v.version, "schema": None, "passed": c.status == "pass",
                            "failureCount": 0, "failedChecks": [c.name] if c.failed else [], **c.to_dict(), "check": c.name})
    return out


def lineage_quality(index: LineageIndex, versions: Sequence[DatasetUse],
                    known: dict[VersionKey, Results] | None = None) -> list[dict[str, Any]]:
    """The Pandera results that count for a version and those upstream of it (``versions``: the version, then what
    its :class:`~prov_common.audit.lineage.Trace` holds them on, ``validated``). A validation is of a version (namespace, name,
    digest), whichever run recorded it: each result that a run which wrote one of them, or read it (a validation
    task), recorded on it counts, once; those the given uses carry first. An unversioned use counts only its own.
    ``known``: the results of each version gathered so far, kept across calls (a source read by thousands of runs
    is gone through once)."""
    known = {} if known is None else known
    out = quality_results(versions)
    for v in versions:
        if v.version:
            key = version_of(v)
            if key not in known:
                known[key] = quality_results(index.uses(key))
            for item_key, item in known[key].items():
                out.setdefault(item_key, item)
    return list(out.values())


def quality_recorders(index: LineageIndex, versions: Sequence[DatasetUse]) -> list[str]:
    """The ids of the runs whose records :func:`lineage_quality` takes the results of ``versions`` from: every run that
    wrote or read one of them. An index entry holds no results: a reader of the store reads these runs' bundles first."""
    return list(dict.fromkeys(r.run_id for v in versions if v.version for r in index.recorders(v)))


def failed_validation(result: Mapping[str, Any], fix: str | None = None) -> str:
    """``X@v failed Pandera schema S (n failures)``, ``X@v failed check C (error: why)`` or ``X@v: check C raised an
    error, no outcome (why)`` for one result of :func:`quality_results`; ``fix`` is added inside the parentheses (the
    audit names what would close the gap)."""
    if result.get("check") is not None:
        said = CheckOutcome(result["check"], result["status"], result.get("severity"), result.get("description")).said(fix)
        return f"{result['dataset']}@{result['version']}{':' if result['status'] == 'error' else ''} {said}"
    n = result["failureCount"]
    return (f"{result['dataset']}@{result['version']} failed Pandera schema {result['schema']} "
            f"({n} failure{'' if n == 1 else 's'}{f'; {fix}' if fix else ''})")
