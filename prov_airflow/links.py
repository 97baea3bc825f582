"""The "tdprov bundle" extra link of tdprov's operators and ``@task.provenance`` tasks."""
from __future__ import annotations

import logging
from typing import Any

import attrs
from airflow.sdk import BaseOperatorLink

from prov_airflow.ui.app import RUN_ROUTE, URL_PREFIX

LINK_NAME = "tdprov bundle"
log = logging.getLogger(__name__)


PAGE = URL_PREFIX + RUN_ROUTE
"""The plugin's bundles page of a DAG run (``prov_airflow.ui.app``), where a try whose run id another run's bundle
holds is named as such."""


def bundle_of(task_instance: Any) -> str:
    """Where the listener seals the bundle of this task instance try (``<store>/bundles/<run id>/``), or the bundles
    page of its DAG run when the bundle sealed at its run id is another run's (task 'load' of DAG 'etl.daily' and task
    'daily.load' of DAG 'etl' are one job and, at one logical date, one run id: the run sealed first keeps it), which
    names that run and what this try left. Empty (no link, and a warning naming why and the fix) when the listener's
    store is not known: its ``[tdprov] conn_id`` connection cannot be read, and its events are kept in the outbox."""
    from urllib.parse import quote

    from prov_common.errors import TdprovError

    from prov_airflow.runinfo import task_run_info

    info, _ = task_run_info(task_instance)
    if info.task_try is not None and _another_runs(info):
        return PAGE.format(dag_id=quote(info.task_try.dag_id, safe=""), run_id=quote(info.task_try.dag_run_id, safe=""))
    try:
        return bundle_of_run(info.run_id)
    except TdprovError as exc:
        log.warning("tdprov: no '%s' link for run %s of %s: %s; the task is not affected. Fix: %s", LINK_NAME,
                    info.run_id, info.job_name, exc.what.rstrip("."), exc.fix or "correct the listener's settings")
        return ""


def _another_runs(info: Any) -> bool:
    """Whether the bundle sealed at the run id of the try ``info`` (a :class:`~prov_airflow.runinfo.RunInfo`) is
    another run's, as the bundles page tells it (:func:`prov_airflow.ui.runs.another_runs`, and
    :func:`~prov_airflow.ui.runs.another_dag_runs` from its events, read only when its manifest is of this job); False when none is sealed
    there yet or the store cannot be read now (the link is never a reason for a task to fail)."""
    from prov_common.bundle.storage import sealed_manifest, sealed_run
    from prov_common.errors import TdprovError
    from prov_common.store import open_store

    from prov_airflow.emitter import listener_settings
    from prov_airflow.ui.runs import RunKey, another_dag_runs, another_runs

    tried = info.task_try
    key = RunKey(info.namespace, info.job_name, info.run_id, tried.task_id, tried.map_index, tried.try_number,
                 (info.parent_run_id,) if info.parent_run_id else (), (tried.dag_id, tried.dag_run_id))
    try:
        store = open_store(listener_settings().store)
        manifest = sealed_manifest(store, info.run_id)
        if manifest is None or another_runs(manifest, key) is not None:
            return manifest is not None
        return another_dag_runs(key, sealed_run(store, info.run_id)[1].dag_run) is not None  # its events read only now
    except (TdprovError, OSError):
        return False


def bundle_of_run(run_id: str) -> str:
    """Where the listener seals the bundle of the OpenLineage run ``run_id`` in its store (a local store by its
    absolute path: the asset event and the link are read by other processes, in other folders)."""
    from prov_common.bundle.layout import bundle_location
    from prov_common.errors import BadInputError
    from prov_common.store.location import absolute_location

    from prov_airflow.emitter import listener_settings

    store = listener_settings().store
    try:
        where = absolute_location(store)
    except BadInputError:  # a store setting that cannot be opened, which the emitter names once: as configured
        where = store
    return bundle_location(where, run_id)


LINKED_OPERATORS = (("prov_airflow.operators.pandera", "PanderaValidationOperator"),
                    ("prov_airflow.decorators.provenance", "_ProvenanceDecoratedOperator"))
"""The module and class name of each operator that has the "tdprov bundle" link."""

# stand-ins holding only what Airflow compares (a task's task_type and _task_module), not the operators themselves
_LINKED = tuple(type(name, (), {"__module__": module, "__qualname__": name}) for module, name in LINKED_OPERATORS)


@attrs.define()
class BundleLink(BaseOperatorLink):
    """Links a task instance to its lineage bundle's URI.

    Airflow 3 resolves the link in the task process when the task ends (``ti_key`` is then the running
    task instance) and keeps it as XCom; the API server, given a task instance key, reads that XCom.
    """

    name = LINK_NAME

    @property
    def operators(self) -> list[type]:  # type: ignore[override]
        """The operators the plugin gives this link, as Airflow matches a stored task to them: by class name and
        module (:data:`LINKED_OPERATORS`), without importing them (they import pandas and the OpenLineage client),
        which every DAG the API server reads back would otherwise do."""
        return list(_LINKED)

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        if hasattr(ti_key, "get_template_context"):  # in the task process
            return bundle_of(ti_key)
        from airflow.serialization.definitions.operatorlink import XComOperatorLink

        return XComOperatorLink(name=self.name, xcom_key=self.xcom_key).get_link(operator, ti_key=ti_key)
