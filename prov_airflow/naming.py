"""Job names, run ids and namespace, lined up with the official OpenLineage Airflow provider.

Task runs are ``<dag_id>.<task_id>``, DAG runs ``<dag_id>``; run ids are the provider's deterministic
UUIDs (same formula), so events from both sources of one run share its id and land in one bundle.
"""
from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Any

from openlineage.client.uuid import generate_static_uuid

OL_SECTION = "openlineage"


def _ol_conf(option: str) -> str:
    try:
        from airflow.providers.common.compat.sdk import conf

        return str(conf.get(OL_SECTION, option, fallback="") or "")
    except Exception:
        return ""


def namespace() -> str:
    """The OpenLineage job namespace, exactly as the provider resolves it."""
    return _ol_conf("namespace") or os.getenv("OPENLINEAGE_NAMESPACE", "default")


def task_job_name(dag_id: str, task_id: str) -> str:
    return f"{dag_id}.{task_id}"


def dag_job_name(dag_id: str) -> str:
    return dag_id


def task_run_id(dag_id: str, task_id: str, try_number: int, logical_date: datetime, map_index: int) -> str:
    """Deterministic task-instance run id (same as ``build_task_instance_ol_run_id``)."""
    data = f"{namespace()}.{dag_id}.{task_id}.{try_number}.{map_index}".encode()
    return str(generate_static_uuid(instant=logical_date, data=data))


def dag_run_id(dag_id: str, logical_date: datetime, clear_number: int) -> str:
    """Deterministic DAG-run run id (same as ``build_dag_run_ol_run_id``)."""
    return str(generate_static_uuid(instant=logical_date, data=f"{namespace()}.{dag_id}.{clear_number}".encode()))


def dag_run_date(dag_run: Any) -> datetime:
    """The date the provider keys run ids on: logical date, else ``run_after``."""
    return getattr(dag_run, "logical_date", None) or dag_run.run_after


def provider_feeds_bundles() -> bool:
    """True when the official OpenLineage provider is active and its transport is ``ProvenanceTransport``.

    Then the provider emits each run's START and terminal events (which seal the bundle), and the
    tdprov listener only adds RUNNING events carrying content hashes, so every run yields one bundle.
    """
    try:
        from airflow.providers.openlineage import conf as ol_conf
    except ImportError:
        return False
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
