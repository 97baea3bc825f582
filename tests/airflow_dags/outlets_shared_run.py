"""Run a DAG whose tasks declare outlets they do not write although something beside them changes (run in a
subprocess, tdprov alone or beside the OpenLineage provider feeding ProvenanceTransport); prints the task states as
JSON. Mapped instances share the outlets declared on ``.partial()`` (Airflow cannot map ``outlets``) and each writes
its own file, the second right after the first; a task adds a ``_SUCCESS`` marker to a folder outlet, another a
log file beside a ``*.csv`` glob outlet; one declares ``file://.../q?.csv``, which names ``q``.

Usage: python outlets_shared_run.py OUT_DIR   (AIRFLOW_HOME, AIRFLOW__TDPROV__STORE and, beside the provider,
AIRFLOW__OPENLINEAGE__TRANSPORT set)
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pendulum
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Asset

START = pendulum.datetime(2024, 1, 1, tz="UTC")


def main(out: Path) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from airflow_dags.harness import run_and_print_states

    data = out / "data"
    for folder in ("fold", "globd"):
        (data / folder).mkdir(parents=True)
        for i in (0, 1):
            (data / folder / f"part-{i}.csv").write_text(f"a\n{i}\n")
    time.sleep(3)  # the shards last changed before any try starts (beyond the 2 s allowed for clock skew)

    def write_mine(i: int) -> None:
        (data / f"m{i}.csv").write_text(f"a\n{i}\n")

    def marker() -> None:
        (data / "fold" / "_SUCCESS").write_text("")  # not a shard

    def log_beside() -> None:
        (data / "globd" / "run.log").write_text("done\n")  # not matched by the glob

    def write_q1() -> None:
        (data / "q1.csv").write_text("a\n1\n")

    with DAG("tdprov_outlets_shared", start_date=START, schedule=None) as dag:
        PythonOperator.partial(task_id="mapped", python_callable=write_mine,
                               outlets=[Asset((data / "m0.csv").as_uri()), Asset((data / "m1.csv").as_uri())]
                               ).expand(op_args=[[0], [1]])
        PythonOperator(task_id="marker", python_callable=marker, outlets=[Asset((data / "fold").as_uri())])
        PythonOperator(task_id="log_beside", python_callable=log_beside, outlets=[Asset(f"file://{data}/globd/*.csv")])
        PythonOperator(task_id="qmark", python_callable=write_q1, outlets=[Asset(f"file://{data}/q?.csv")])
    return run_and_print_states(dag, logical_date=START)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
