"""Was a record part of a dataset version, and which training runs used that version (directly or
through derived versions)? Answered from the row set a pipeline recorded (with a Merkle proof against
the root that the bundle's signature covers), or from a row-digest sidecar attached by hand."""
from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prov_common.audit.lineage import LineageIndex, run_order, version_of
from prov_common.w3cprov.identity import DatasetLabels, VersionKey, distinct_labels
from prov_common.audit.model import DatasetUse, RunRecord
from prov_common.bundle import layout
from prov_common.errors import BadInputError, TdprovError, VerificationError
from prov_common.rowset import RowProof, SignedRowSet, prove_record, signed_row_set
from prov_common.bundle.storage import signed_file
from prov_common.rowset.lookup import signed_manifest
from prov_common.signing import TrustStore
from prov_common.store.base import Store

ROWS_FOLDER = "rows/"


@dataclass
class SameContent:
    """Another dataset that holds the version's bytes, and the runs downstream of it: equal bytes, not lineage
    (an erasure request may still care where else the record went)."""

    dataset: DatasetUse
    used_by: list[RunRecord] = field(default_factory=list)
    training_runs: list[RunRecord] = field(default_factory=list)

    def to_dict(self, label: str) -> dict[str, Any]:
        """``label``: how the answer shows the dataset (:meth:`Membership.labels`)."""
        return {"dataset": label, "namespace": self.dataset.namespace, "name": self.dataset.name,
                "usedBy": _runs(self.used_by), "trainingRuns": _runs(self.training_runs)}


@dataclass
class Membership:
    """The answer: positions of the record in the version (empty: not there), the runs downstream of that
    dataset at that digest, and apart from them the other datasets that hold the same bytes."""

    dataset: DatasetUse
    sidecar: str
    rows: list[int] | None  # row numbers (a sidecar); None for a row set, which keeps no order
    used_by: list[RunRecord] = field(default_factory=list)
    training_runs: list[RunRecord] = field(default_factory=list)
    proof: RowProof | None = None
    same_content: list[SameContent] = field(default_factory=list)

    @property
    def digest(self) -> str:
        return self.dataset.version or ""

    @property
    def contained(self) -> bool:
        return self.proof.contained if self.proof is not None else bool(self.rows)

    def labels(self) -> DatasetLabels:
        """How the answer shows its dataset and those holding the same bytes: each by a text that names it alone among
        them (:func:`~prov_common.w3cprov.identity.distinct_labels`: two written alike, as ``NAMESPACE::NAME``)."""
        return distinct_labels((d.namespace, d.name) for d in (self.dataset, *(o.dataset for o in self.same_content)))

    def to_dict(self) -> dict[str, Any]:
        labels = self.labels()
        doc = {"digest": self.digest, "dataset": labels[self.dataset.namespace, self.dataset.name], "namespace": self.dataset.namespace,
               "name": self.dataset.name, "contained": self.contained, "rows": self.rows, "rowDigests": self.sidecar,
               "usedBy": _runs(self.used_by), "trainingRuns": _runs(self.training_runs)}
        if self.proof is not None:
            doc.update(matches=self.proof.matches, proof=self.proof.to_dict())
        doc["sameContent"] = [other.to_dict(labels[other.dataset.namespace, other.dataset.name]) for other in self.same_content]
        return doc


def _runs(runs: list[RunRecord]) -> list[dict[str, Any]]:
    return [{"runId": r.run_id, "job": r.job_json, "endedAt": r.ended_at} for r in runs]


def find_sidecar(store: Store, index: LineageIndex, version: DatasetUse, trust: TrustStore) -> tuple[str, Any]:
    """The row-digest sidecar of ``version`` (a dataset at a digest) in the bundle of a run that wrote (or read)
    that dataset at that digest, checked against its bundle's manifest, whose statement a key in ``trust`` signed.
    A sidecar changed after sealing (a row's digest dropped would answer "not contained") is a
    :class:`VerificationError` when no other bundle has it."""
    from prov_common.hashing import read_row_digests

    digest = version.version or ""
    runs = index.recorders(version)
    if not runs:
        raise BadInputError(f"no recorded run wrote or read version {digest}.", fix="pass a version digest from 'tdprov runs' or 'tdprov show'")
    problems: list[VerificationError] = []
    for run in runs:
        try:
            manifest = signed_manifest(store, run.run_id, trust)
            for entry in manifest.files:
                if not entry.path.startswith(ROWS_FOLDER):
                    continue
                data = signed_file(store, run.run_id, manifest, entry.path)
                with tempfile.TemporaryDirectory() as tmp:
                    path = Path(tmp) / "rows.parquet"
                    path.write_bytes(data)
                    table = read_row_digests(path)
                if (table.schema.metadata or {}).get(b"tdprov.table_digest", b"").decode() == digest:
                    return layout.bundle_key(run.run_id, entry.path), table
        except VerificationError as exc:
            problems.append(exc)
        except TdprovError:
            continue
    if problems:
        raise problems[0]
    raise BadInputError(
        f"no row digests were recorded for version {digest}.",
        fix="record it at row granularity: provenance_asset(granularity='row') in Dagster, granularity='row' "
        "on the Airflow task or {'tdprov': {'granularity': 'row'}} in the outlet's extra",
    )


def downstream(index: LineageIndex, version: DatasetUse) -> tuple[list[RunRecord], list[RunRecord]]:
    """Runs that read ``version`` (its dataset at its digest, whichever run's generation of it), and training
    runs that read it or any version derived from it, following the versions those runs wrote by identity."""
    training = sorted((r for r in downstream_runs(index, version).values() if r.is_training), key=run_order)
    return index.readers(version), training


def downstream_runs(index: LineageIndex, version: DatasetUse) -> dict[str, RunRecord]:
    """Every run that read ``version`` or a version derived from it (by identity), by run id."""
    seen_runs: dict[str, RunRecord] = {}
    todo = index.readers(version)
    seen: set[VersionKey] = set()
    while todo:
        run = todo.pop()
        if run.run_id in seen_runs:
            continue
        seen_runs[run.run_id] = run
        for out in run.outputs:
            if out.version and (key := version_of(out)) not in seen:
                seen.add(key)
                todo.extend(reader for reader, use in index.used_by.get(key, []) if _wrote(index, run, use, reader))
    return seen_runs


def answer_runs(index: LineageIndex, version: DatasetUse) -> list[str]:
    """The ids of every run an answer about ``version`` lists: downstream of it, and of each dataset with its bytes."""
    return [run_id for d in (version, *index.same_content(version)) for run_id in downstream_runs(index, d)]


def _wrote(index: LineageIndex, run: RunRecord, use: DatasetUse, reader: RunRecord) -> bool:
    """Whether ``reader`` read, as ``use``, what ``run`` wrote (and not another run's write of it)."""
    made = index.generator(use, reader)
    return made is not None and made[0].run_id == run.run_id


def find_row_set(store: Store, index: LineageIndex, version: DatasetUse, trust: TrustStore) -> SignedRowSet | None:
    """The row set a run that wrote (or read) ``version``'s dataset at its digest recorded for it (from its signed
    bundle), if any; never another dataset's with the same bytes."""
    for run in index.recorders(version):
        found = signed_row_set(store, run.run_id, version.version or "", trust, dataset=(version.namespace, version.name))
        if found is not None:
            return found
    return None


def contains(store: Store, index: LineageIndex, version: DatasetUse, record: Mapping[str, Any], trust: TrustStore) -> Membership:
    """Whether ``record`` (column -> value) is a row of ``version`` (a dataset at a digest), who used that
    version, and apart from them (equal bytes, not lineage) the other datasets holding its digest and their users.

    A row set recorded by a pipeline answers, with its checked proof; when there is none, a row-digest
    sidecar attached by hand does. Both are read from bundles a key in ``trust`` signed."""
    from prov_common.hashing import record_positions

    row_set = find_row_set(store, index, version, trust)
    direct, training = downstream(index, version)
    same = [SameContent(d, *downstream(index, d)) for d in index.same_content(version)]
    if row_set is not None:
        proof = prove_record(store, row_set, record)
        return Membership(version, row_set.key, None, direct, training, proof=proof, same_content=same)
    key, table = find_sidecar(store, index, version, trust)
    return Membership(version, key, record_positions(table, record), direct, training, same_content=same)
