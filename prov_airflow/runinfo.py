"""What the listener knows about a task run or DAG run (models only; read from Airflow objects here)."""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from prov_airflow import naming


@dataclass(frozen=True)
class TaskTry:
    """Which try of which task instance a task run is: what the OpenLineage provider's ``airflow`` run facet names
    it by (:func:`prov_airflow.events.airflow_facet`)."""

    dag_id: str
    dag_run_id: str  # Airflow's run id of the DAG run
    task_id: str
    try_number: int
    map_index: int  # -1: the task is not mapped
    pool: str | None = None
    dag_start: str | None = None  # the DAG's start_date (ISO 8601), when it has one


@dataclass(frozen=True)
class RunLink:
    """A run named as the ``parent`` run facet names runs: its job's namespace and name, and its run id."""

    namespace: str
    job_name: str
    run_id: str


@dataclass(frozen=True)
class RunInfo:
    """Identity of one OpenLineage run: a task instance try or a DAG run."""

    namespace: str
    job_name: str
    run_id: str
    job_type: str  # "TASK", "DAG", or "TRAINING" for a task marked as training
    parent_job_name: str | None = None
    parent_run_id: str | None = None
    parent_namespace: str | None = None  # None: the run's own namespace
    root: RunLink | None = None  # the root of the run's hierarchy; None: its parent
    owners: tuple[str, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)
    operator: str | None = None
    code_dir: str | None = None
    code_version: str | None = None
    task_try: TaskTry | None = None  # None for a DAG run
    dag_run: tuple[str, str] | None = None  # a DAG run's DAG id and Airflow run id (a task try's: its task_try)


TRAINING_PARAM = "tdprov_training"
"""Task param that marks any task as one that trains a model (``params={"tdprov_training": True}``)."""
TRAINING_ATTR = "tdprov_training"
"""Operator attribute set by tdprov's operators and ``@task.provenance(training=True)``."""


def is_training_task(task: Any) -> bool:
    """Whether ``task`` is marked as training: by a tdprov option, or by the ``tdprov_training`` param."""
    if getattr(task, TRAINING_ATTR, False) is True:
        return True
    params = getattr(task, "params", None)
    try:
        value = params.get(TRAINING_PARAM) if params is not None else None
    except Exception:  # noqa: BLE001 - a params object that cannot be read marks nothing
        return False
    return value is True or (isinstance(value, str) and value.strip().lower() in ("true", "1", "yes"))


def _owners(value: Any) -> tuple[str, ...]:
    return tuple(o.strip() for o in str(value or "").split(",") if o.strip())


def task_run_info(task_instance: Any) -> tuple[RunInfo, Any]:
    """RunInfo of a task instance try, and its operator when this is the task's own process (else None).

    The task process passes a ``RuntimeTaskInstance``. The scheduler (failing the task of a worker that
    stopped heartbeating) and the API server (a state set in the UI or API) pass the metadata DB's
    ``TaskInstance``: its DAG run and (when loaded) serialised task give the same run id, job and parent
    as the task's own START; no operator is returned, since the task's data is not read there.
    """
    if hasattr(task_instance, "get_template_context"):
        context = task_instance.get_template_context()
        dag_run, task, dag = context["dag_run"], context["task"], context.get("dag")
        operator, own = type(task).__name__, task
    else:
        dag_run, task = _dag_run_of(task_instance), getattr(task_instance, "task", None)
        dag, operator, own = getattr(task, "dag", None), getattr(task_instance, "operator", None), None
    date = naming.dag_run_date(dag_run)
    triggered_by, root = conf_parent(getattr(dag_run, "conf", None))
    info = RunInfo(
        namespace=naming.namespace(),
        job_name=naming.task_job_name(task_instance),
        run_id=naming.task_run_id(task_instance.dag_id, task_instance.task_id, task_instance.try_number,
                                  date, task_instance.map_index),
        job_type="TRAINING" if is_training_task(task) else "TASK",
        parent_job_name=naming.dag_job_name(task_instance.dag_id),
        parent_run_id=naming.dag_run_id(task_instance.dag_id, date, getattr(dag_run, "clear_number", 0) or 0),
        root=root or triggered_by,
        owners=_owners(getattr(task, "owner", None)),
        parameters=dict(getattr(dag_run, "conf", None) or {}),
        operator=operator,
        code_dir=_code_dir(dag),
        code_version=_bundle_version(dag_run),
        task_try=TaskTry(dag_id=task_instance.dag_id, dag_run_id=str(getattr(dag_run, "run_id", None) or task_instance.run_id),
                         task_id=task_instance.task_id, try_number=task_instance.try_number,
                         map_index=_map_index(task_instance), pool=_text(getattr(task_instance, "pool", None)
                                                                         or getattr(task, "pool", None)),
                         dag_start=_iso(getattr(dag, "start_date", None))),
    )
    return info, own


def _map_index(task_instance: Any) -> int:
    value = getattr(task_instance, "map_index", -1)
    return value if isinstance(value, int) else -1


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _iso(value: Any) -> str | None:
    return value.isoformat() if hasattr(value, "isoformat") else None


def _dag_run_of(task_instance: Any) -> Any:
    """The DAG run of a metadata DB ``TaskInstance``; read again by its ids when the instance is detached."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        return task_instance.dag_run
    except SQLAlchemyError:  # loaded in a session that is closed now
        from airflow.models.dagrun import DagRun
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            dag_run = session.scalars(select(DagRun).where(DagRun.dag_id == task_instance.dag_id,
                                                           DagRun.run_id == task_instance.run_id)).one()
            session.expunge(dag_run)  # keeps its loaded columns after the session ends
            return dag_run


def dag_run_info(dag_run: Any) -> RunInfo:
    """RunInfo of a DAG run (scheduler side)."""
    dag = getattr(dag_run, "dag", None)
    date = naming.dag_run_date(dag_run)
    parent, root = conf_parent(getattr(dag_run, "conf", None))
    return RunInfo(
        namespace=naming.namespace(),
        job_name=naming.dag_job_name(dag_run.dag_id),
        run_id=naming.dag_run_id(dag_run.dag_id, date, getattr(dag_run, "clear_number", 0) or 0),
        job_type="DAG",
        parent_job_name=parent.job_name if parent else None,
        parent_run_id=parent.run_id if parent else None,
        parent_namespace=parent.namespace if parent else None,
        root=root,
        owners=_owners(getattr(dag, "owner", None)),
        parameters=dict(getattr(dag_run, "conf", None) or {}),
        code_dir=_code_dir(dag),
        code_version=_bundle_version(dag_run),
        dag_run=(dag_run.dag_id, run_id) if (run_id := _text(getattr(dag_run, "run_id", None))) else None,
    )


def conf_parent(conf: Any) -> tuple[RunLink | None, RunLink | None]:
    """The run that triggered a DAG run and the root of its hierarchy, as its ``conf`` names them for the OpenLineage
    provider (``{"openlineage": {"parentRunId", "parentJobNamespace", "parentJobName", "rootParentRunId",
    "rootParentJobNamespace", "rootParentJobName"}}``), read by the provider's rules: each run is named by all three
    of its fields, its run id a UUID, else not at all; no root without a parent."""
    section = conf.get("openlineage") if isinstance(conf, Mapping) else None
    if not isinstance(section, Mapping):
        return None, None
    parent = _run_link(section, "parentJobNamespace", "parentJobName", "parentRunId")
    if parent is None:
        return None, None
    return parent, _run_link(section, "rootParentJobNamespace", "rootParentJobName", "rootParentRunId")


def _run_link(section: Mapping[str, Any], *keys: str) -> RunLink | None:
    """The run the fields ``keys`` (namespace, job name, run id) of ``section`` name; None unless all three are text and
    the run id a UUID in the spec's form (one the ``parent`` facet's schema refuses would have its events refused)."""
    from prov_common.lineage.validate import UUID_TEXT

    namespace, job_name, run_id = (section.get(key) for key in keys)
    if not all(isinstance(v, str) and v for v in (namespace, job_name, run_id)) or not UUID_TEXT.match(run_id):
        return None
    return RunLink(namespace, job_name, run_id)


def _code_dir(dag: Any) -> str | None:
    fileloc = getattr(dag, "fileloc", None)
    return os.path.dirname(fileloc) if isinstance(fileloc, str) and fileloc else None


def _bundle_version(dag_run: Any) -> str | None:
    value = getattr(dag_run, "bundle_version", None)
    return str(value) if value else None
