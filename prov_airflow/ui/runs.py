"""The bundles of one Airflow DAG run, found by run id and verified (models and the reading of them).

A DAG run's bundles are named by the OpenLineage provider's run ids: one for the DAG run, one per
task instance try. They are computed from the metadata database, not searched for in the store.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prov_common.bundle.model import DatasetRef

from prov_airflow import naming


@dataclass(frozen=True)
class RunKey:
    """One OpenLineage run of a DAG run: the DAG run itself (``task_id`` None) or a task instance try."""

    job_name: str
    run_id: str
    task_id: str | None = None
    map_index: int = -1
    try_number: int = 0


@dataclass(frozen=True)
class BundleStatus:
    """A run's bundle: where it is, what it records and whether it verifies."""

    key: RunKey
    location: str
    status: str  # "verified", "failed" or "missing"
    state: str | None = None
    outputs: tuple[DatasetRef, ...] = ()
    inputs: tuple[DatasetRef, ...] = ()
    findings: tuple[str, ...] = ()

    @property
    def verified(self) -> bool:
        return self.status == "verified"

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": self.key.job_name, "runId": self.key.run_id, "taskId": self.key.task_id,
            "mapIndex": self.key.map_index, "tryNumber": self.key.try_number, "bundle": self.location,
            "status": self.status, "state": self.state, "findings": list(self.findings),
            "inputs": [d.to_dict() for d in self.inputs], "outputs": [d.to_dict() for d in self.outputs],
        }


@dataclass(frozen=True)
class DagRunBundles:
    """The bundles of one Airflow DAG run."""

    dag_id: str
    run_id: str
    store: str
    bundles: tuple[BundleStatus, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"dagId": self.dag_id, "runId": self.run_id, "store": self.store,
                "bundles": [b.to_dict() for b in self.bundles]}


def run_keys(dag_id: str, run_id: str, session: Any) -> list[RunKey]:
    """The OpenLineage runs of an Airflow DAG run: the DAG run, then every try of every task instance.

    Raises ``LookupError`` when the metadata database has no such DAG run.
    """
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.taskinstancehistory import TaskInstanceHistory
    from sqlalchemy import select

    dag_run = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
    if dag_run is None:
        raise LookupError(f"DAG run {run_id!r} of DAG {dag_id!r} is not in the Airflow metadata database")
    date = naming.dag_run_date(dag_run)
    keys = [RunKey(naming.dag_job_name(dag_id), naming.dag_run_id(dag_id, date, dag_run.clear_number or 0))]
    tries: set[tuple[str, int, int]] = set()
    for model in (TaskInstance, TaskInstanceHistory):
        for task_id, map_index, try_number in session.execute(
                select(model.task_id, model.map_index, model.try_number)
                .where(model.dag_id == dag_id, model.run_id == run_id)):
            if try_number:  # 0: never started, so no run
                tries.add((task_id, map_index, try_number))
    for task_id, map_index, try_number in sorted(tries):
        keys.append(RunKey(f"{dag_id}.{task_id}", naming.task_run_id(dag_id, task_id, try_number, date, map_index),
                           task_id, map_index, try_number))
    return keys


def check(store: Any, trust: Any, store_uri: str, key: RunKey) -> BundleStatus:
    """Verify the bundle of ``key`` (``verify_bundle``: signature, manifest, events) and summarise it."""
    from prov_common.bundle.layout import bundle_location
    from prov_common.bundle.verify import verify_and_derive

    checked = verify_and_derive(store, key.run_id, trust)
    report, manifest = checked.report, checked.manifest
    location = bundle_location(store_uri, key.run_id)
    if manifest is None and not report.ok:
        return BundleStatus(key, location, "missing", findings=tuple(str(f) for f in report.findings))
    status = "verified" if report.ok else "failed"
    return BundleStatus(key, location, status, state=manifest.state if manifest else None,
                        outputs=tuple(manifest.outputs) if manifest else (),
                        inputs=tuple(manifest.inputs) if manifest else (),
                        findings=tuple(str(f) for f in report.findings))


def dag_run_bundles(dag_id: str, run_id: str, session: Any, store: Any, trust: Any, store_uri: str) -> DagRunBundles:
    """Every bundle of the DAG run, verified; ``store_uri`` as configured (it names the bundles' locations)."""
    keys = run_keys(dag_id, run_id, session)
    return DagRunBundles(dag_id, run_id, store_uri, tuple(check(store, trust, store_uri, k) for k in keys))
