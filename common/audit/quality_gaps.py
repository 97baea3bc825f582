"""Pandera results recorded along a lineage, which of them count for a version, and the sentence that names a
failed one: the audit's Article 10 section and the training-data records (D&TA ``qualityChecks`` and
``knownGaps``, Croissant ``rai:dataLimitations``) take them from here and say them alike (no I/O)."""
from __future__ import annotations

from collections.abc import Container, Iterable, Mapping, Sequence
from typing import Any

from prov_common.audit.lineage import LineageIndex, version_of
from prov_common.audit.model import CheckOutcome, DatasetUse, no_outcome_said, schema_said
from prov_common.w3cprov.identity import VersionKey

Results = dict[str, dict[str, Any]]  # :func:`quality_results`


def quality_results(uses: Iterable[DatasetUse]) -> dict[str, dict[str, Any]]:
    """The check results recorded in ``uses``, each once, in first-seen order (keyed by the version, never by how it
    prints, and all the result says): a Pandera schema's result (``schema``; ``passed`` None and its ``fault`` when it
    has no known outcome), then each other check (``check``, a
    Dagster asset check: its ``status`` ``pass``, ``fail`` or ``error``, the check raised; ``passed`` only when it
    passed)."""
    out: dict[str, dict[str, Any]] = {}
    for v in uses:
        q = v.quality
        if q is not None:
            out.setdefault(repr((version_of(v), q.schema, q.passed, q.failure_count, q.failed_checks, q.fault)),  # any JSON value
                           {"dataset": v.label, "version": v.version, "schema": q.schema, "passed": q.passed,
                            "failureCount": q.failure_count, "failedChecks": list(q.failed_checks),
                            **({"fault": q.fault} if q.fault else {})})
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


def quality_recorders(index: LineageIndex, versions: Sequence[DatasetUse], standing: Container[str] = frozenset(),
                      read: Iterable[str] = ()) -> list[str]:
    """The ids of the runs whose records :func:`lineage_quality` takes the results of ``versions`` from, to be read from
    their bundles and verified (an index entry holds no results): every run that wrote one of them, and every run that read
    one, except a reader in ``standing`` (an audit's catalog record, not verified here) whose results are all held alike
    by a run read with it (a writer, another reader, one of ``read``): one that recorded none, or the same results, adds
    nothing to a record, which is the same whether its bundle is read or not. A standing run counts by its catalog record
    until it is read; the caller picks again after each read
    (:meth:`~prov_common.audit.recorded.RecordedRuns.read_all`), so a run left out, or read otherwise than the catalog
    said, brings in the readers its results no longer cover."""
    keys = [version_of(v) for v in versions if v.version]
    picked = [r.run_id for key in keys for r, _ in index.generated.get(key, ())]
    picked += [r.run_id for key in keys for r, _ in index.used_by.get(key, ()) if r.run_id not in standing]
    vouching = {*picked, *read}
    held: set[str] = set().union(*(_said(use) for key in keys for table in (index.generated, index.used_by)
                                   for r, use in table.get(key, ()) if r.run_id in vouching))
    for key in keys:
        for r, use in index.used_by.get(key, ()):
            if r.run_id in standing and not (said := _said(use)) <= held:
                picked.append(r.run_id)
                held |= said
    return list(dict.fromkeys(picked))


def _said(use: DatasetUse) -> set[str]:
    """Each result :func:`quality_results` finds in ``use``, all it says as one key: runs that say it alike add it once."""
    return {repr(sorted(item.items())) for item in quality_results([use]).values()}


def failed_validation(result: Mapping[str, Any], fix: str | None = None) -> str:
    """``X@v failed Pandera schema S (n failures)``, ``X@v has no known outcome of Pandera schema S (FAULT)``, ``X@v
    failed check C (error: why)`` or ``X@v: check C raised an error, no outcome (why)`` for one result of
    :func:`quality_results`; ``fix`` is added inside the parentheses (the audit names what would close the gap)."""
    if result.get("check") is not None:
        said = CheckOutcome(result["check"], result["status"], result.get("severity"), result.get("description")).said(fix)
        return f"{result['dataset']}@{result['version']}{':' if result['status'] == 'error' else ''} {said}"
    if result["passed"] is None:
        return f"{result['dataset']}@{result['version']} {no_outcome_said(result['schema'], result.get('fault'), fix)}"
    n = result["failureCount"]
    return (f"{result['dataset']}@{result['version']} failed Pandera schema {schema_said(result['schema'])} "
            f"({n} failure{'' if n == 1 else 's'}{f'; {fix}' if fix else ''})")
