"""ol_provider_run.py's DAG, then a DAG run sealed by the OpenLineage provider feeding ProvenanceTransport and marked
failed through the API, in one process (run in a subprocess; the provider reads its transport from the environment when
Airflow starts, so both DAGs share one start of it).

Usage: python ol_provider_late.py OUT_DIR   (AIRFLOW_HOME, AIRFLOW__OPENLINEAGE__TRANSPORT and the plugin's store set);
exit 1 if ol_provider_run.py's DAG run fails, else prints the second DAG run's state, dag_id and run_id as JSON.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pendulum
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

START = pendulum.datetime(2024, 1, 1, tz="UTC")


def main(out: Path) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from airflow.api_fastapi.core_api.datamodels.dag_run import DagRunMutableStates
    from airflow.api_fastapi.core_api.services.public.dag_run import patch_dag_run_state
    from airflow.listeners.listener import get_listener_manager
    from airflow.models.dagbag import DBDagBag
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from airflow_dags import ol_provider_run
    from airflow_dags.harness import run_dag
    from prov_airflow import naming

    if ol_provider_run.main(out) != 0:
        return 1
    assert naming.provider_feeds_bundles(), "the OpenLineage provider is not configured as expected"
    with DAG("tdprov_provider_marked_later", start_date=START, schedule=None) as dag:
        PythonOperator(task_id="work", python_callable=lambda: None)
    run = run_dag(dag, logical_date=START)
    with create_session() as session:  # the UI or API marks the sealed DAG run failed
        dag_run = session.scalars(select(DagRun).where(DagRun.dag_id == run.dag_id, DagRun.run_id == run.run_id)).one()
        patch_dag_run_state(dag=DBDagBag().get_dag_for_run(dag_run=dag_run, session=session), dag_run=dag_run,
                            state=DagRunMutableStates.FAILED, session=session)
    get_listener_manager().hook.before_stopping(component=None)
    print(json.dumps({"state": str(run.state), "dag_id": run.dag_id, "run_id": run.run_id}))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
