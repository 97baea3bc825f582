"""Checks over run records: bundles, completeness, quality (pure functions, no I/O)."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from prov_common.audit.lineage import LineageIndex
from prov_common.audit.model import (
    CHECK_COMPLETENESS,
    CHECK_PROV,
    CHECK_QUALITY,
    CHECK_SIGNATURES,
    NOTE,
    CheckResult,
    DatasetUse,
    Finding,
    RunRecord,
)

FIX_ORIGIN = (
    "register the origin with 'tdprov source add <data> --name ... --license ... --issuer ...', or record the run that "
    "produced it (write it through the tdprov IO manager / operator so its output is hashed)"
)
FIX_UNHASHED = "read the input through the tdprov IO manager / hook so that its content digest is recorded"
FIX_QUALITY = (
    "re-run on data that passes its Pandera schema (or fix the schema); to stop this from happening, make the step fail on "
    "Pandera failures"
)


def bundle_checks(records: Iterable[RunRecord]) -> tuple[CheckResult, CheckResult]:
    """Signatures/manifests and PROV results from each bundle's verification."""
    sig, prov = CheckResult(CHECK_SIGNATURES), CheckResult(CHECK_PROV)
    for r in records:
        sig.checked += 1
        prov.checked += 1
        for f in r.bundle_findings:
            (prov if f.check == CHECK_PROV else sig).findings.append(f)
    return sig, prov


def completeness(index: LineageIndex) -> CheckResult:
    """Every input of every run has an origin; training runs name the broken links upstream."""
    result = CheckResult(CHECK_COMPLETENESS)
    for run in sorted(index.runs.values(), key=lambda r: r.index_key):
        result.checked += 1
        for link in index.broken_inputs(run):
            d = link.dataset
            result.findings.append(
                Finding(CHECK_COMPLETENESS, f"{d.label}@{d.version or 'unversioned'}",
                        f"run {run.run_id} ({run.job}) used {d.label} version {d.version or '(none)'}: {link.reason}",
                        FIX_UNHASHED if not d.version else FIX_ORIGIN, run_id=run.run_id)
            )
    for run in index.training_runs():
        upstream: list[str] = []
        for d in run.inputs:
            if not d.version:
                continue
            for link in index.trace(d.version).broken:
                if link.run_id != run.run_id:
                    upstream.append(f"{d.label} <- run {link.run_id} ({index.runs[link.run_id].job}) input "
                                    f"{link.dataset.label}@{link.dataset.version or 'unversioned'}")
        if upstream:
            result.findings.append(
                Finding(CHECK_COMPLETENESS, f"run {run.run_id}",
                        f"training run {run.run_id} ({run.job}) has inputs that do not trace back to a source: " + "; ".join(sorted(set(upstream))),
                        FIX_ORIGIN, run_id=run.run_id)
            )
    return result


@dataclass
class QualityRow:
    """One validated dataset version for the report's quality table."""

    dataset: DatasetUse
    recorded_by: list[str] = field(default_factory=list)
    used_by: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.dataset.quality and not self.dataset.quality.passed)

    def to_dict(self) -> dict:
        q = self.dataset.quality
        return {"dataset": self.dataset.label, "version": self.dataset.version, "schema": q.schema if q else None,
                "passed": q.passed if q else None, "failureCount": q.failure_count if q else 0,
                "failedChecks": list(q.failed_checks) if q else [], "recordedBy": self.recorded_by, "usedBy": self.used_by}


def quality(index: LineageIndex) -> tuple[CheckResult, list[QualityRow]]:
    """Versions whose Pandera validation failed, and the runs that used them anyway."""
    result = CheckResult(CHECK_QUALITY)
    rows: dict[tuple[str, str], QualityRow] = {}
    for run in index.runs.values():
        for side in (run.outputs, run.inputs):
            for d in side:
                if d.quality is None:
                    continue
                result.checked += 1
                key = (d.label, d.version or "")
                row = rows.setdefault(key, QualityRow(d))
                if not d.quality.passed and row.dataset.quality and row.dataset.quality.passed:
                    row.dataset = d  # a failing result wins over a passing one for the same version
                row.recorded_by.append(run.run_id)
    failing = {k: r for k, r in rows.items() if r.dataset.quality and not r.dataset.quality.passed}
    for run in index.runs.values():
        for d in run.inputs:
            row = failing.get((d.label, d.version or ""))
            if row is None:
                continue
            row.used_by.append(run.run_id)
            q = row.dataset.quality
            assert q is not None
            checks = ", ".join(q.failed_checks) or "see the samples in the bundle"
            result.findings.append(
                Finding(CHECK_QUALITY, f"{d.label}@{d.version}",
                        f"run {run.run_id} ({run.job}) used {d.label} version {d.version}, which failed Pandera schema "
                        f"{q.schema or '(unnamed)'}: {q.failure_count} failure(s) in {checks}", FIX_QUALITY, run_id=run.run_id)
            )
    for row in failing.values():
        if not row.used_by:
            q = row.dataset.quality
            result.findings.append(
                Finding(CHECK_QUALITY, f"{row.dataset.label}@{row.dataset.version}",
                        f"{row.dataset.label} version {row.dataset.version} failed Pandera schema {q.schema if q else ''}; no recorded run used it",
                        "nothing to do unless a run uses it", severity=NOTE)
            )
    ordered = sorted(rows.values(), key=lambda r: (r.dataset.quality.passed if r.dataset.quality else True, r.dataset.label))
    return result, ordered
