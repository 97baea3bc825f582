"""Job names, run ids and namespace, taken from the official OpenLineage Airflow provider.

Task runs are ``<dag_id>.<task_id>``, DAG runs ``<dag_id>``; run ids are the provider's deterministic
UUIDs, computed by the provider's own helpers, so events from both sources of one run share its id and
land in one bundle.
"""
from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Any

from airflow.providers.openlineage import conf as ol_conf


def namespace() -> str:
    """The OpenLineage job namespace, as the provider resolves it (``[openlineage] namespace``)."""
    return ol_conf.namespace()


def task_job_name(task_instance: Any) -> str:
    """Job name of a task instance: the provider's ``get_job_name`` (``<dag_id>.<task_id>``)."""
    from airflow.providers.openlineage.utils.utils import get_job_name

    return get_job_name(task_instance)


def dag_job_name(dag_id: str) -> str:
    """Job name of a DAG run: the DAG id, as the provider names it."""
    return dag_id


def task_run_id(dag_id: str, task_id: str, try_number: int, logical_date: datetime, map_index: int) -> str:
    """Run id of a task instance try: ``OpenLineageAdapter.build_task_instance_run_id``."""
    from airflow.providers.openlineage.plugins.adapter import OpenLineageAdapter  # loads the task instance model

    return str(OpenLineageAdapter.build_task_instance_run_id(
        dag_id=dag_id, task_id=task_id, try_number=try_number, logical_date=logical_date, map_index=map_index))


def dag_run_id(dag_id: str, logical_date: datetime, clear_number: int) -> str:
    """Run id of a DAG run: ``OpenLineageAdapter.build_dag_run_id``."""
    from airflow.providers.openlineage.plugins.adapter import OpenLineageAdapter

    return str(OpenLineageAdapter.build_dag_run_id(dag_id=dag_id, logical_date=logical_date,
                                                   clear_number=clear_number))


def dag_run_date(dag_run: Any) -> datetime:
    """The date the provider keys run ids on: logical date, else ``run_after``."""
    return getattr(dag_run, "logical_date", None) or dag_run.run_after


def provider_feeds_bundles() -> bool:
    """True when the official OpenLineage provider is active and its transport is ``ProvenanceTransport``.

    Then the provider emits each run's START and terminal events (which seal the bundle), and the
    tdprov listener only adds RUNNING events carrying content hashes, so every run yields one bundle.
    """
    try:
        if ol_conf.is_disabled():
            return False
        parts = [json.dumps(ol_conf.transport())]
        parts += [v for k, v in os.environ.items() if k.startswith("OPENLINEAGE__TRANSPORT")]
        path = ol_conf.config_path(check_legacy_env_var=True)
        if path and os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                parts.append(handle.read())
        return any("ProvenanceTransport" in part for part in parts)
    except Exception:
        return False
