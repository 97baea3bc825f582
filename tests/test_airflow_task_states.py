"""Task runs that end without succeeding or failing in their own process are sealed: a task that skips itself."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from airflow_dags import harness  # noqa: F401  (sets AIRFLOW_HOME before Airflow is imported)
from airflow_dags.harness import airflow_db, store  # noqa: F401 (fixtures)
from airflow_dags.harness import bundles_of, events_of, run_dag

import pendulum
from airflow.providers.common.compat.sdk import AirflowSkipException
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Asset

from prov_common.audit.engine import run_audit
from prov_common.audit.model import CHECK_UNFINISHED
from prov_common.hashing import hash_path
from prov_common.store import open_store

START = pendulum.datetime(2024, 1, 1, tz="UTC")


def _nothing_new() -> None:
    raise AirflowSkipException("no new data")


def test_a_task_that_skips_itself_is_sealed_with_its_inputs(tmp_path: Path, store: Path, ol_validator) -> None:
    """A task raising AirflowSkipException gets a COMPLETE bundle (as the OpenLineage provider records a skip)
    holding the inputs hashed at its start and no outputs; the audit finds no unfinished run."""
    raw, out = tmp_path / "in.csv", tmp_path / "out.csv"
    raw.write_text("a\n1\n")
    with DAG("tdprov_skips", start_date=START, schedule=None) as dag:
        PythonOperator(task_id="maybe", python_callable=_nothing_new, inlets=[str(raw)], outlets=[Asset(out.as_uri())])
    run = run_dag(dag, logical_date=START)
    assert [ti.state for ti in run.get_task_instances()] == ["skipped"]
    by_job = {s.job_name: s for s in bundles_of(store)}
    summary = by_job["tdprov_skips.maybe"]
    assert summary.state == "COMPLETE"
    assert [(i.name, i.version) for i in summary.inputs] == [(str(raw), hash_path(raw).digest)]
    assert not summary.outputs
    events = events_of(store, summary.run_id)
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    assert events[-1]["inputs"][0]["facets"]["version"]["datasetVersion"] == hash_path(raw).digest
    for event in events:
        ol_validator.validate_event(event)
    audit = run_audit(open_store(str(store)), stale_after=timedelta(0), report_dir=tmp_path / "report", progress=False)
    assert audit.check(CHECK_UNFINISHED).errors == []
