"""Tasks reading a remote file given as a lineage ``File`` (on HDFS, over SFTP...), with the official OpenLineage
provider feeding ProvenanceTransport (run in a subprocess): one DAG per file, each run in turn, in one process.

Usage: python ol_provider_file.py OUT_DIR NAME=URL...   (AIRFLOW_HOME, AIRFLOW__OPENLINEAGE__TRANSPORT,
AIRFLOW__TDPROV__STORE set); the DAG reading URL is :func:`dag_id` of NAME, its task ``read``.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pendulum
from airflow.providers.common.compat.lineage.entities import File
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

START = pendulum.datetime(2024, 1, 1, tz="UTC")


def dag_id(name: str) -> str:
    """The id of the DAG that reads the file named ``name`` on the command line."""
    return f"tdprov_provider_file_{name}"


def main(out: Path, files: list[str]) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from airflow_dags.harness import run_dag

    from prov_airflow import naming

    assert naming.provider_feeds_bundles(), "the OpenLineage provider is not configured as expected"
    failed = []
    for named in files:
        name, url = named.split("=", 1)
        with DAG(dag_id(name), start_date=START, schedule=None) as dag:
            PythonOperator(task_id="read", python_callable=lambda: None, inlets=[File(url=url)])
        if run_dag(dag, logical_date=START).state != "success":
            failed.append(name)
    print("failed:", ", ".join(failed) or "none")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), sys.argv[2:]))
