"""A DAG whose tasks declare outlets they do not write although something beside them changes (run by
outlets_run.py). Mapped instances share the outlets declared on ``.partial()`` (Airflow cannot map ``outlets``) and each writes
its own file, the second right after the first; a task adds a ``_SUCCESS`` marker to a folder outlet, another a
log file beside a ``*.csv`` glob outlet; one declares ``file://.../q?.csv``, which names ``q``.
"""
from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Asset

START = pendulum.datetime(2024, 1, 1, tz="UTC")


def dag(out: Path) -> DAG:
    """The DAG, with the files its tasks find made under ``out``."""
    data = out / "data"
    for folder in ("fold", "globd"):
        (data / folder).mkdir(parents=True)
        for i in (0, 1):
            (data / folder / f"part-{i}.csv").write_text(f"a\n{i}\n")

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
    return dag
