"""The "tdprov bundle" extra link of tdprov's operators and ``@task.provenance`` tasks."""
from __future__ import annotations

from typing import Any

import attrs
from airflow.sdk import BaseOperatorLink

LINK_NAME = "tdprov bundle"


def bundle_of(task_instance: Any) -> str:
    """Where the listener seals the bundle of this task instance try (``<store>/bundles/<run id>/``)."""
    from prov_airflow.runinfo import task_run_info

    info, _ = task_run_info(task_instance)
    return bundle_of_run(info.run_id)


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


@attrs.define()
class BundleLink(BaseOperatorLink):
    """Links a task instance to its lineage bundle's URI.

    Airflow 3 resolves the link in the task process when the task ends (``ti_key`` is then the running
    task instance) and keeps it as XCom; the API server, given a task instance key, reads that XCom.
    """

    name = LINK_NAME

    @property
    def operators(self) -> list[type]:  # type: ignore[override]
        """The operator classes the plugin gives this link (resolved on use: they import pandas)."""
        from prov_airflow.decorators.provenance import _ProvenanceDecoratedOperator
        from prov_airflow.operators.pandera import PanderaValidationOperator

        return [PanderaValidationOperator, _ProvenanceDecoratedOperator]

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        if hasattr(ti_key, "get_template_context"):  # in the task process
            return bundle_of(ti_key)
        from airflow.serialization.definitions.operatorlink import XComOperatorLink

        return XComOperatorLink(name=self.name, xcom_key=self.xcom_key).get_link(operator, ti_key=ti_key)
