"""Run a DAG whose task process dies once its START is staged, as a worker killed mid-task (run in a subprocess).

Usage: python killed_task_run.py DAG_ID INLET   (the test's AIRFLOW_HOME through ``harness.child_env``,
AIRFLOW__TDPROV__STORE set). The process ends by SIGKILL: the task instance stays running in the
metadata DB and its run has a staged START and no terminal event.
"""
from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pendulum

START = pendulum.datetime(2024, 1, 1, tz="UTC")


def main(dag_id: str, inlet: str) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from airflow_dags.harness import register_dag, serve_latest_version_only

    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import DAG

    def work() -> None:
        from prov_airflow.delivery import DELIVERY

        DELIVERY.drain(60)  # the START is staged
        os.kill(os.getpid(), signal.SIGKILL)

    with DAG(dag_id, start_date=START, schedule=None) as dag:
        PythonOperator(task_id="work", python_callable=work, inlets=[inlet])
    serve_latest_version_only()
    register_dag(dag)
    dag.test(logical_date=START)
    return 1  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
