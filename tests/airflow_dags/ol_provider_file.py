"""A task reading a remote file given as a lineage ``File`` (on HDFS, over SFTP...), with the official OpenLineage
provider feeding ProvenanceTransport (run in a subprocess).

Usage: python ol_provider_file.py OUT_DIR URL   (AIRFLOW_HOME, AIRFLOW__OPENLINEAGE__TRANSPORT, AIRFLOW__TDPROV__STORE set)
"""
from __future__ import annotations

import sys
from pathlib import Path

import pendulum
from airflow.providers.common.compat.lineage.entities import File
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

START = pendulum.datetime(2024, 1, 1, tz="UTC")
DAG_ID = "tdprov_provider_file"


def main(out: Path, url: str) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from airflow_dags.harness import run_dag

    from prov_airflow import naming

    assert naming.provider_feeds_bundles(), "the OpenLineage provider is not configured as expected"
    with DAG(DAG_ID, start_date=START, schedule=None) as dag:
        PythonOperator(task_id="read", python_callable=lambda: None, inlets=[File(url=url)])
    run = run_dag(dag, logical_date=START)
    return 0 if run.state == "success" else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), sys.argv[2]))
