"""Running a DAG object with ``dag.test()`` outside a deployment (examples, tests, notebooks)."""
from __future__ import annotations

from typing import Any


def register_dag(dag: Any, bundle_name: str = "dags-folder") -> None:
    """Serialise ``dag`` into the metadata DB, which ``dag.test()`` reads it from.

    ``dag.test()`` serialises the DAGs it finds in the configured DAG bundles (``[core] dags_folder``)
    and refuses any other ("the dag is not serialized"). A DAG defined in a test, a notebook or a script
    outside the DAGs folder needs this call first; one in the DAGs folder does not.
    """
    from airflow.configuration import conf
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(dag_folder=conf.get("core", "dags_folder"))
    bag.bag_dag(dag)
    sync_bag_to_db(bag, bundle_name, None)
