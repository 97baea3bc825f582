"""Lineage over run records and registered sources: where each dataset version came from (no I/O).

A version (content digest) has an origin when a recorded run generated it or a registered source
has that digest. Tracing a version walks back through generating runs and their inputs to sources;
a version with neither origin is a broken link.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from prov_common.audit.model import DatasetUse, RunRecord
from prov_common.errors import BadInputError
from prov_common.sources.model import SourceRecord


@dataclass(frozen=True)
class BrokenLink:
    """An input of ``run_id`` with no origin: no run generated its version and no source has it."""

    run_id: str
    dataset: DatasetUse
    reason: str


@dataclass
class Trace:
    """Everything upstream of a version: runs (newest first), sources, versions, broken links."""

    version: str
    runs: list[RunRecord] = field(default_factory=list)
    sources: list[SourceRecord] = field(default_factory=list)
    versions: list[DatasetUse] = field(default_factory=list)
    broken: list[BrokenLink] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.broken


def _order(record: RunRecord) -> str:
    return record.ended_at or record.sealed_at or record.started_at or ""


class LineageIndex:
    """Which run generated which version, which runs used it, and which sources have which digest."""

    def __init__(self, runs: Iterable[RunRecord], sources: Iterable[SourceRecord] = ()) -> None:
        self.runs: dict[str, RunRecord] = {r.run_id: r for r in runs}
        self.sources: dict[str, list[SourceRecord]] = {}
        for s in sources:
            self.sources.setdefault(s.digest, []).append(s)
        self.generated: dict[str, list[tuple[RunRecord, DatasetUse]]] = {}
        self.used_by: dict[str, list[tuple[RunRecord, DatasetUse]]] = {}
        for r in sorted(self.runs.values(), key=_order, reverse=True):
            for d in r.outputs:
                if d.version:
                    self.generated.setdefault(d.version, []).append((r, d))
            for d in r.inputs:
                if d.version:
                    self.used_by.setdefault(d.version, []).append((r, d))

    def broken_inputs(self, run: RunRecord) -> list[BrokenLink]:
        """Inputs of ``run`` that neither a recorded run nor a registered source explains."""
        out = []
        for d in run.inputs:
            if not d.version:
                out.append(BrokenLink(run.run_id, d, "no content digest was recorded for it"))
            elif d.version not in self.generated and d.version not in self.sources:
                out.append(BrokenLink(run.run_id, d, "no recorded run generated this version and no registered source has its digest"))
        return out

    def trace(self, version: str) -> Trace:
        """Walk back from ``version`` to its sources, collecting runs and broken links on the way."""
        trace = Trace(version)
        seen_versions: set[str] = set()
        seen_runs: set[str] = set()
        todo = [version]
        while todo:
            v = todo.pop()
            if v in seen_versions:
                continue
            seen_versions.add(v)
            trace.sources.extend(self.sources.get(v, ()))
            generators = self.generated.get(v, [])
            if generators:
                run, use = generators[0]
                trace.versions.append(use)
                if run.run_id not in seen_runs:
                    seen_runs.add(run.run_id)
                    trace.runs.append(run)
                    trace.broken.extend(self.broken_inputs(run))
                    todo.extend(d.version for d in run.inputs if d.version)
            elif v in self.sources:
                s = self.sources[v][0]
                trace.versions.append(DatasetUse("source", s.name, v))
        return trace

    def training_runs(self) -> list[RunRecord]:
        """Runs that train models (see :attr:`RunRecord.is_training`), newest first."""
        return sorted((r for r in self.runs.values() if r.is_training), key=_order, reverse=True)

    def resolve(self, ref: str) -> tuple[str, DatasetUse]:
        """A digest, or a dataset (name, namespace/name or URI) meaning its newest recorded version."""
        if ref in self.generated:
            return ref, self.generated[ref][0][1]
        if ref in self.used_by:
            return ref, self.used_by[ref][0][1]
        if ref in self.sources:
            s = self.sources[ref][0]
            return ref, DatasetUse("source", s.name, ref)
        candidates = []
        for table in (self.generated, self.used_by):
            for v, uses in table.items():
                for run, d in uses:
                    if ref in (d.name, d.label, d.uri):
                        candidates.append((_order(run), v, d))
        if not candidates:
            raise BadInputError(
                f"no dataset or version '{ref}' in the recorded runs.",
                fix="pass a digest (blake3:...) or a dataset name as it appears in 'tdprov runs'",
            )
        _, v, d = max(candidates, key=lambda c: c[0])
        return v, d
