"""Airflow: secrets planted in task parameters, an outlet URI, a connection, environment variables
and the task's error never reach the store (the official listener path, `dag.test()`)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from airflow_dags import harness  # noqa: F401  (sets AIRFLOW_HOME before Airflow is imported)
from airflow_dags.harness import airflow_db  # noqa: F401 (fixtures)
from airflow_dags.harness import bundles_of, run_dag

import pendulum
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

from bundle_support import all_stored_bytes
from test_secrets_scan import API_TOKEN, AWS_KEY_ID, AWS_SECRET, DB_PASSWORD, GITHUB_TOKEN, SECRETS, _scan

START = pendulum.datetime(2024, 1, 1, tz="UTC")


def test_no_planted_secret_from_an_airflow_task_reaches_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "store"
    monkeypatch.setenv("AIRFLOW__TDPROV__STORE", str(store))
    monkeypatch.setenv("AIRFLOW__TDPROV__SPOOL", str(tmp_path / "spool"))
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    monkeypatch.setenv("GITHUB_TOKEN", GITHUB_TOKEN)
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "postgres", "host": "db", "login": "etl",
                                                             "password": DB_PASSWORD, "schema": "sales"}))
    out = tmp_path / "out.csv"

    def work(password: str, api_key: str, source: str) -> None:
        out.write_text("a\n1\n")

    def fail(token: str) -> None:
        raise RuntimeError(f"cannot reach postgres://etl:{DB_PASSWORD}@db/sales with token={API_TOKEN}")

    with DAG("tdprov_secrets", start_date=START, schedule=None) as dag:
        ok = PythonOperator(task_id="write", python_callable=work, outlets=[str(out)],
                            op_kwargs={"password": DB_PASSWORD, "api_key": API_TOKEN,
                                       "source": f"s3://{AWS_KEY_ID}:{AWS_SECRET}@lake/raw"})
        bad = PythonOperator(task_id="fail", python_callable=fail, op_kwargs={"token": API_TOKEN})
        ok >> bad
    run_dag(dag, logical_date=START)
    summaries = bundles_of(str(store))
    assert "tdprov_secrets.write" in {s.job_name for s in summaries}
    _scan(all_stored_bytes(str(store)), "the store", SECRETS)
    spool = b"".join(p.read_bytes() for p in (tmp_path / "spool").rglob("*") if p.is_file())
    _scan(spool, "the spool", SECRETS)
    fail_runs = [s for s in summaries if s.job_name == "tdprov_secrets.fail"]
    assert fail_runs and fail_runs[0].state == "FAIL"
    assert b"cannot reach postgres://" in all_stored_bytes(str(store))  # the error is recorded, redacted
