"""Was a record part of a dataset version, and which training runs used that version (directly or
through derived versions)? Answered from the row set a pipeline recorded (with a Merkle proof against
the root that the bundle's signature covers), or from a row-digest sidecar attached by hand."""
from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prov_common.audit.lineage import LineageIndex, version_of
from prov_common.w3cprov.identity import VersionKey
from prov_common.audit.model import DatasetUse, RunRecord
from prov_common.bundle import layout
from prov_common.errors import BadInputError, TdprovError, VerificationError
from prov_common.rowset import RowProof, SignedRowSet, prove_record, signed_row_set
from prov_common.rowset.lookup import signed_file, signed_manifest
from prov_common.signing import TrustStore
from prov_common.store.base import Store

ROWS_FOLDER = "rows/"


@dataclass
class Membership:
    """The answer: positions of the record in the version (empty: not there) and the runs downstream."""

    digest: str
    sidecar: str
    rows: list[int] | None  # row numbers (a sidecar); None for a row set, which keeps no order
    used_by: list[RunRecord] = field(default_factory=list)
    training_runs: list[RunRecord] = field(default_factory=list)
    proof: RowProof | None = None

    @property
    def contained(self) -> bool:
        return self.proof.contained if self.proof is not None else bool(self.rows)

    def to_dict(self) -> dict[str, Any]:
        runs = lambda rs: [{"runId": r.run_id, "job": r.job, "endedAt": r.ended_at} for r in rs]  # noqa: E731
        doc = {"digest": self.digest, "contained": self.contained, "rows": self.rows, "rowDigests": self.sidecar,
               "usedBy": runs(self.used_by), "trainingRuns": runs(self.training_runs)}
        if self.proof is not None:
            doc.update(matches=self.proof.matches, proof=self.proof.to_dict())
        return doc


def find_sidecar(store: Store, index: LineageIndex, digest: str, trust: TrustStore) -> tuple[str, Any]:
    """The row-digest sidecar of ``digest`` in the bundle of a run that wrote (or read) it, checked against its
    bundle's manifest, whose statement a key in ``trust`` signed. A sidecar changed after sealing (a row's
    digest dropped would answer "not contained") is a :class:`VerificationError` when no other bundle has it."""
    from prov_common.hashing import read_row_digests

    wrote, read = index.with_digest(digest)
    runs = wrote + read
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


def downstream(index: LineageIndex, digest: str) -> tuple[list[RunRecord], list[RunRecord]]:
    """Runs that used ``digest`` directly (in any dataset that holds it), and training runs that used it
    or any version derived from it, following the versions those runs wrote by identity."""
    _, direct = index.with_digest(digest)
    training = sorted((r for r in downstream_runs(index, digest).values() if r.is_training), key=lambda r: r.ended_at or "")
    return direct, training


def downstream_runs(index: LineageIndex, digest: str) -> dict[str, RunRecord]:
    """Every run that used ``digest`` or a version derived from it (by identity), by run id."""
    _, direct = index.with_digest(digest)
    seen_runs: dict[str, RunRecord] = {}
    todo = list(direct)
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


def _wrote(index: LineageIndex, run: RunRecord, use: DatasetUse, reader: RunRecord) -> bool:
    """Whether ``reader`` read, as ``use``, what ``run`` wrote (and not another run's write of it)."""
    made = index.generator(use, reader)
    return made is not None and made[0].run_id == run.run_id


def find_row_set(store: Store, index: LineageIndex, digest: str, trust: TrustStore) -> SignedRowSet | None:
    """The row set a run that wrote ``digest`` recorded for it (the writer's signed bundle), if any."""
    wrote, read = index.with_digest(digest)
    for run in [*wrote, *read]:
        found = signed_row_set(store, run.run_id, digest, trust)
        if found is not None:
            return found
    return None


def contains(store: Store, index: LineageIndex, digest: str, record: Mapping[str, Any], trust: TrustStore) -> Membership:
    """Whether ``record`` (column -> value) is a row of version ``digest``, and who used that version.

    A row set recorded by a pipeline answers, with its checked proof; when there is none, a row-digest
    sidecar attached by hand does. Both are read from bundles a key in ``trust`` signed."""
    from prov_common.hashing import record_positions

    row_set = find_row_set(store, index, digest, trust)
    direct, training = downstream(index, digest)
    if row_set is not None:
        proof = prove_record(store, row_set, record)
        return Membership(digest, row_set.key, None, direct, training, proof=proof)
    key, table = find_sidecar(store, index, digest, trust)
    return Membership(digest, key, record_positions(table, record), direct, training)
