"""OpenLineage RunEvents of Airflow runs, built with ``prov_common.lineage`` (no I/O)."""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from typing import Any

from openlineage.client.event_v2 import RunEvent
from openlineage.client.facet_v2 import job_type_job
from prov_common import PRODUCER
from prov_common.lineage.context import RunContext, collect_run_context
from prov_common.lineage.datasets import DatasetRef
from prov_common.lineage.events import ParentRef, build_run_event
from prov_common.w3cprov.identity import normal_version

from prov_airflow.capture import DatasetCapture, dataset_key
from prov_airflow.runinfo import RunInfo, RunLink, TaskTry


@lru_cache(maxsize=64)
def _base_context(cwd: str | None) -> RunContext:
    """Host, libraries and git state of this process (collected once per code folder)."""
    return collect_run_context(orchestrator="airflow", executor="airflow", cwd=cwd)


def run_context(info: RunInfo, partial: bool) -> RunContext:
    """The run context of one run: the cached process context plus this run's owner and parameters."""
    from prov_common.lineage.redact import redact_mapping

    base = _base_context(info.code_dir)
    return dataclasses.replace(
        base,
        parameters=redact_mapping(info.parameters),
        owner=", ".join(info.owners) or None,
        code_version=info.code_version or base.code_version,
        partial=base.partial or partial,
    )


def capture_ref(capture: DatasetCapture) -> DatasetRef:
    """The DatasetRef of a captured dataset (no digest when hashing did not complete); a logical asset is
    named ``airflow-asset`` + its name."""
    kwargs: dict[str, Any] = {}
    if capture.row_set is not None:
        kwargs.update(row_digests_file=capture.row_set.path, rows_root=capture.row_set.root)
    if capture.kept is not None:
        kwargs["snapshot"] = capture.kept
    namespace, name = dataset_key(capture.uri)
    return DatasetRef(namespace=namespace, name=name, digest=capture.digest, **kwargs)


def merge_refs(first: Iterable[DatasetRef], extra: Iterable[DatasetRef]) -> list[DatasetRef]:
    """Datasets of ``first`` and ``extra`` by (namespace, name) and version: an extra ref fills in what the first
    lacks. Two versions of one dataset stay two refs (the task read its inlet at its start and an operator validated
    it after it changed): each keeps what was recorded of it."""
    merged: list[DatasetRef] = []
    for ref in (*first, *extra):
        version = _version(ref)  # a ref of no version is one with any version of its dataset
        at = next((i for i, m in enumerate(merged) if (m.namespace, m.name) == (ref.namespace, ref.name)
                   and (None in (_version(m), version) or _version(m) == version)), None)
        if at is None:
            merged.append(ref)
            continue
        old = merged[at]
        merged[at] = dataclasses.replace(
            old,
            digest=old.digest or ref.digest,
            quality=old.quality or ref.quality,
            samples_file=old.samples_file or ref.samples_file,
            row_digests_file=old.row_digests_file or ref.row_digests_file,
            rows_root=old.rows_root or ref.rows_root,
            severity=old.severity or ref.severity,
            snapshot=old.snapshot or ref.snapshot,
            facets={**ref.facets, **old.facets},
            input_facets={**ref.input_facets, **old.input_facets},
            output_facets={**ref.output_facets, **old.output_facets},
        )
    return merged


def _version(ref: DatasetRef) -> str | None:
    """The version ``ref`` names: its digest's, else its ``version`` facet's (a version recorded without hashing, as an
    asset event's digest is), else None."""
    if ref.digest is not None:
        return normal_version(ref.digest.digest)
    given = getattr(ref.facets.get("version"), "datasetVersion", None)
    return normal_version(given) if isinstance(given, str) else None


def airflow_facet(task_try: TaskTry, run_id: str) -> Any:
    """The OpenLineage provider's ``airflow`` run facet of a task try, with what tdprov knows of it: the DAG and DAG
    run ids, the task id, and the task instance's ``try_number``, ``pool`` and (of a mapped task) ``map_index``, as the
    provider spells them, so that readers of the provider's events tell tries and mapped instances apart alike."""
    from airflow.providers.openlineage.plugins.facets import AirflowRunFacet

    dag = {"dag_id": task_try.dag_id, **({"start_date": task_try.dag_start} if task_try.dag_start else {})}
    instance: dict[str, Any] = {"try_number": task_try.try_number}
    if task_try.pool:
        instance["pool"] = task_try.pool
    if task_try.map_index != -1:  # as the provider: no map_index of a task that is not mapped
        instance["map_index"] = task_try.map_index
    return AirflowRunFacet(dag=dag, dagRun={"dag_id": task_try.dag_id, "run_id": task_try.dag_run_id},
                           task={"task_id": task_try.task_id}, taskInstance=instance, taskUuid=run_id,
                           producer=PRODUCER)


def airflow_dag_run_facet(dag_id: str, dag_run_id: str) -> Any:
    """The OpenLineage provider's ``airflowDagRun`` run facet of a DAG run, with what tdprov knows of it: its DAG id and
    Airflow's run id (``dagRun.run_id``), which tell apart two DAG runs of one DAG at one logical date, given one run id
    (:class:`~prov_common.bundle.events.RunIdentity`)."""
    from airflow.providers.openlineage.plugins.facets import AirflowDagRunFacet

    return AirflowDagRunFacet(dag={"dag_id": dag_id}, dagRun={"dag_id": dag_id, "run_id": dag_run_id}, producer=PRODUCER)


def _run_facets(info: RunInfo) -> dict[str, Any]:
    """The Airflow run facet of a task try (``airflow``) or of a DAG run (``airflowDagRun``), when known."""
    if info.task_try:
        return {"airflow": airflow_facet(info.task_try, info.run_id)}
    return {"airflowDagRun": airflow_dag_run_facet(*info.dag_run)} if info.dag_run else {}


def build_event(info: RunInfo, event_type: str, inputs: Iterable[DatasetRef], outputs: Iterable[DatasetRef],
                error: Any = None, *, partial: bool = False, run_facets: dict[str, Any] | None = None,
                event_time: datetime | None = None) -> RunEvent:
    """One RunEvent of a task run or DAG run at ``event_time`` (None: now): a task run's parent is its DAG run, a DAG
    run's the run its conf names as its OpenLineage parent, and the root that run's (as the OpenLineage provider
    does)."""
    parent = None
    if info.parent_run_id and info.parent_job_name:
        namespace = info.parent_namespace or info.namespace
        root = info.root or RunLink(namespace, info.parent_job_name, info.parent_run_id)
        parent = ParentRef(run_id=info.parent_run_id, job_namespace=namespace, job_name=info.parent_job_name,
                           root_run_id=root.run_id, root_job_namespace=root.namespace, root_job_name=root.job_name)
    job_type = job_type_job.JobTypeJobFacet(processingType="BATCH", integration="AIRFLOW", jobType=info.job_type,
                                            producer=PRODUCER)
    return build_run_event(
        event_type,
        run_id=info.run_id,
        job_name=info.job_name,
        job_namespace=info.namespace,
        inputs=inputs,
        outputs=outputs,
        parent=parent,
        context=run_context(info, partial),
        error=error,
        job_facets={"jobType": job_type},
        run_facets={**_run_facets(info), **(run_facets or {})},
        event_time=event_time,
    )


