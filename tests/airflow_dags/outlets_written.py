"""A DAG whose tasks declare outlets (files, folders, globs) they do not write (run by outlets_run.py)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pendulum
from airflow.providers.common.compat.sdk import AirflowSkipException
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Asset

START = pendulum.datetime(2024, 1, 1, tz="UTC")


def dag(out: Path) -> DAG:
    """The DAG, with the files its tasks find made under ``out``."""
    from prov_airflow.sensors.bundle import LineageBundleSensor

    written, skipped, old, copied = out / "p.csv", out / "s.csv", out / "old.csv", out / "copied.csv"
    old.write_text("a\n1\n")
    shards = out / "shards"
    shards.mkdir()
    for i in (0, 1):
        (shards / f"part-{i}.csv").write_text(f"a\n{i}\n")
    parts, kept, names = out / "parts", out / "kept", out / "names"
    for folder in (parts, kept, names):
        folder.mkdir()
    for i in (0, 1):
        (parts / f"part-{i}.csv").write_text(f"a\n{i}\n")
        (kept / f"part-{i}.csv").write_text(f"a\n{i}\n")
    (names / "x1.csv").write_text("a\n1\n")  # what x[1].csv matches as a glob while no file has that name

    def write_then_fail() -> None:
        written.write_text("a\n1\n")
        raise ValueError("fails after writing p.csv")

    def skip() -> None:
        raise AirflowSkipException("writes nothing")

    def copy() -> None:
        shutil.copy2(old, copied)  # keeps old.csv's modification time; its status-change time is now

    def drop_shard() -> None:
        (shards / "part-1.csv").unlink()  # a new version of the folder, though no shard left was touched

    def rewrite_shard() -> None:
        (parts / "part-1.csv").write_text("a\n2\n")  # in place: neither the folder nor the other shard changes

    with DAG("tdprov_outlets_written", start_date=START, schedule=None) as dag:
        PythonOperator(task_id="write", python_callable=write_then_fail, outlets=[Asset(written.as_uri())])
        skipper = PythonOperator(task_id="skipper", python_callable=skip, outlets=[Asset(skipped.as_uri())])
        PythonOperator(task_id="keep", python_callable=lambda: None, outlets=[Asset(old.as_uri())])
        PythonOperator(task_id="copy", python_callable=copy, outlets=[Asset(copied.as_uri())])
        PythonOperator(task_id="drop_shard", python_callable=drop_shard, outlets=[Asset(shards.as_uri())])
        PythonOperator(task_id="rewrite_shard", python_callable=rewrite_shard,
                       outlets=[Asset(f"file://{parts}/part-*.csv")])  # as_uri() would quote the wildcards
        PythonOperator(task_id="keep_shards", python_callable=lambda: None, outlets=[Asset(kept.as_uri())])
        PythonOperator(task_id="keep_name", python_callable=lambda: None,
                       outlets=[Asset(f"file://{names}/x[1].csv")])
        skipper >> LineageBundleSensor(task_id="wait_skipped", dataset=str(skipped), poke_interval=0.2, timeout=1,
                                       trigger_rule="all_done")
    return dag
