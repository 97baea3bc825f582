"""The bundles page takes a bundle sealed at a run id as the run's own only when its job is the run's, namespace and
name: a deployment of another ``[openlineage] namespace`` whose DAG has this one's id gives its tries the same run ids,
and the bundle it sealed first is another run's (a real ``dag.test()`` run and the page's functions on a real store)."""
from __future__ import annotations

from pathlib import Path

import pytest
from airflow_dags import harness  # noqa: F401  (sets AIRFLOW_HOME before Airflow is imported)
from airflow_dags.harness import airflow_db  # noqa: F401 (fixtures)
from airflow_dags.harness import run_dag, tdprov_env

import pendulum
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Asset

from prov_common.signing import trust_from_settings
from prov_common.store import open_store
from test_audit_support import dataset, digest, run_events, seal

START = pendulum.datetime(2024, 1, 1, tz="UTC")
DAG_ID = "tdprov_namespaced"


def test_a_bundle_of_the_same_job_name_in_another_namespace_is_another_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.utils.session import create_session

    from prov_airflow import naming
    from prov_airflow.ui.runs import run_keys, verified_page

    store = tmp_path / "store"
    for key, value in tdprov_env(store).items():
        monkeypatch.setenv(key, value)
    ours, theirs = tmp_path / "ours.csv", "/elsewhere/theirs.csv"
    run_id = naming.task_run_id(DAG_ID, "load", 1, START, -1)
    other = run_events(f"{DAG_ID}.load", [], [dataset(theirs, digest("theirs"))], run_id=run_id)  # job namespace 'tests'
    seal(open_store(str(store)), other)
    with DAG(DAG_ID, start_date=START, schedule=None) as dag:
        PythonOperator(task_id="load", python_callable=lambda: ours.write_text("a\n1\n"), outlets=[Asset(ours.as_uri())])
    run = run_dag(dag, logical_date=START)
    assert run.state == "success" and naming.namespace() == "default"
    with create_session() as session:
        keys = run_keys(DAG_ID, run.run_id, session)
    assert [(k.job_namespace, k.job_name) for k in keys] == [("default", DAG_ID), ("default", f"{DAG_ID}.load")]
    page = verified_page(DAG_ID, run.run_id, keys, open_store(str(store)), trust_from_settings(), str(store), 0, 10)
    dag_run, task = page.bundles
    assert dag_run.status == "verified" and task.key.run_id == run_id
    assert (task.status, task.state, task.outputs) == ("missing", None, ()), task
    [finding] = task.findings
    assert finding.startswith(f"the bundle at run id {run_id} is another run's, of job tests/{DAG_ID}.load: this try, "
                              f"of DAG run {dag_run.key.run_id}, was given the same run id"), finding
