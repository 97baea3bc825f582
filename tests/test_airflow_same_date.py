"""Two DAG runs of one DAG at one logical date (``dag.test()`` twice): the OpenLineage provider's run ids depend on the
DAG, task, logical date, try and map index alone, so both DAG runs' tries get one run id. The later run's events are
another run's: kept staged in no bundle, never folded into the earlier run's, and named with both DAG runs."""
from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_dags import harness  # noqa: F401  (sets AIRFLOW_HOME before Airflow is imported)
from airflow_dags.harness import airflow_db, store  # noqa: F401 (fixtures)
from airflow_dags.harness import bundles_of, events_of, run_dag

import pendulum
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Asset

from prov_common.bundle.staged import unverified_event
from prov_common.hashing import hash_path

START = pendulum.datetime(2024, 1, 1, tz="UTC")
TDPROV = Path(sys.executable).parent / "tdprov"


def _write(path: str, text: str) -> None:
    Path(path).write_text(text)


def _dag_run_of(event: dict, facet: str = "airflow") -> str | None:
    return event["run"]["facets"].get(facet, {}).get("dagRun", {}).get("run_id")


def test_a_second_dag_run_at_one_logical_date_is_kept_apart_and_named(tmp_path: Path, store: Path,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "x.csv"
    runs, digests = [], []
    for text in ("x\n1\n", "x\n2\n"):
        with DAG("tdprov_same_date", start_date=START, schedule=None) as dag:
            PythonOperator(task_id="write", python_callable=_write, op_args=[str(out), text],
                           outlets=[Asset(out.as_uri())])
        with caplog.at_level(logging.WARNING):
            runs.append(run_dag(dag, logical_date=START))
        digests.append(hash_path(out).digest)
    first, second = (r.run_id for r in runs)
    assert first != second and [r.state for r in runs] == ["success", "success"]

    # the try's bundle holds the first DAG run's events and version alone
    (task,) = [s for s in bundles_of(store) if s.job_name == "tdprov_same_date.write"]
    sealed = events_of(store, task.run_id)
    assert {_dag_run_of(e) for e in sealed} == {first}
    assert [o.version for o in task.outputs] == [digests[0]]

    # the second DAG run's events are kept, staged under the run id in no bundle
    staged = [unverified_event(p.read_bytes()) for p in (store / "staging" / task.run_id).glob("*.json")]
    kept = [e for e in staged if _dag_run_of(e) == second]
    assert sorted(e["eventType"] for e in kept) == ["COMPLETE", "START"]
    assert kept[0]["run"]["runId"] == task.run_id

    # the warning names both DAG runs and the fix, not a late event of the first run
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and task.run_id in r.getMessage()]
    assert warnings and all(first in w and second in w and "another logical date" in w for w in warnings), warnings
    assert not any("must end with its terminal event" in w for w in warnings)

    # the audit names them as another DAG run's, with both DAG runs and the fix
    audit = subprocess.run([str(TDPROV), "audit", "--store", str(store)], capture_output=True, text=True)
    finding = [line for line in audit.stdout.splitlines() if f"staging/{task.run_id}/" in line]
    assert audit.returncode == 1 and finding, audit.stdout
    assert first in finding[0] and second in finding[0] and "of another run" in finding[0]
    assert "another logical date" in audit.stdout

    # lineage names the first run's version, and says that the data may hold another since
    lineage = subprocess.run([str(TDPROV), "lineage", str(out), "--store", str(store)], capture_output=True, text=True)
    assert digests[0] in lineage.stdout and digests[1] not in lineage.stdout
    assert f"run {task.run_id}, which made a version shown, has 2 events staged" in lineage.stderr
    assert "need not be what the data holds now" in lineage.stderr

    # the DAG runs' own events name their DAG run: the bundle holds the first's, the second's (as many: dag.test()
    # notifies no START of a DAG run) are kept staged under the run id, in no bundle, and named
    (dag_bundle,) = [s for s in bundles_of(store) if s.job_name == "tdprov_same_date"]
    dag_sealed = events_of(store, dag_bundle.run_id)
    assert {_dag_run_of(e, "airflowDagRun") for e in dag_sealed} == {first}
    dag_staged = [unverified_event(p.read_bytes()) for p in (store / "staging" / dag_bundle.run_id).glob("*.json")]
    assert "COMPLETE" in [e["eventType"] for e in dag_sealed]
    assert sorted(e["eventType"] for e in dag_staged if _dag_run_of(e, "airflowDagRun") == second) == sorted(
        e["eventType"] for e in dag_sealed)
    dag_warnings = [r.getMessage() for r in caplog.records
                    if r.levelno >= logging.WARNING and dag_bundle.run_id in r.getMessage()]
    assert dag_warnings and all(first in w and second in w and "another logical date" in w for w in dag_warnings)
    assert f"staging/{dag_bundle.run_id}/" in audit.stdout
