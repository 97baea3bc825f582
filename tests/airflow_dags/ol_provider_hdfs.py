"""A task reading an HDFS file given as a lineage ``File``, with the official OpenLineage provider feeding
ProvenanceTransport (run in a subprocess).

Usage: python ol_provider_hdfs.py OUT_DIR   (AIRFLOW_HOME, AIRFLOW__OPENLINEAGE__TRANSPORT, AIRFLOW__TDPROV__STORE set)
"""
from __future__ import annotations

import sys
from pathlib import Path

import pendulum
from airflow.providers.common.compat.lineage.entities import File
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

START = pendulum.datetime(2024, 1, 1, tz="UTC")
HDFS_FILE = "hdfs://nn:8020/corpus/part-0.csv"


def main(out: Path) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from airflow_dags.harness import run_dag

    from prov_airflow import naming

    assert naming.provider_feeds_bundles(), "the OpenLineage provider is not configured as expected"
    with DAG("tdprov_provider_hdfs", start_date=START, schedule=None) as dag:
        PythonOperator(task_id="read", python_callable=lambda: None, inlets=[File(url=HDFS_FILE)])
    run = run_dag(dag, logical_date=START)
    return 0 if run.state == "success" else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
