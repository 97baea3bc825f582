"""Running a DAG object with ``dag.test()`` outside a deployment (examples, tests, notebooks)."""
from __future__ import annotations

import os
from typing import Any


def register_dag(dag: Any, bundle_name: str = "dags-folder") -> None:
    """Serialise ``dag`` into the metadata DB, which ``dag.test()`` reads it from.

    The DAG bag is that of ``$AIRFLOW__CORE__DAGS_FOLDER``; the DAG itself may be defined anywhere.
    """
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    bag.bag_dag(dag)
    sync_bag_to_db(bag, bundle_name, None)
