"""A bundle sensor's ``job_dag=`` takes a task try whose parent run is a run of that DAG of the try's own namespace:
a parent of another namespace's DAG of that id (another deployment writing to the same store) is another DAG's run,
named with its namespace and not taken (a real store, sealed bundles and the sensor's matching)."""
from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from airflow_dags import harness  # noqa: F401  (sets AIRFLOW_HOME before Airflow is imported)

from prov_common.signing import trust_from_settings
from prov_common.store import open_store
from test_audit_support import run_events, seal


def _try_of(store, parent_namespace: str) -> tuple[str, str]:
    """Seal a try of task 'daily.load' (job namespace 'tests') whose parent run is of job 'tdprov_pns' in
    ``parent_namespace``; its run id and its parent's."""
    parent = str(uuid.uuid4())
    events = run_events("tdprov_pns.daily.load", [], [])
    for e in events:
        e["run"]["facets"] = {"parent": {"_producer": "https://example.com", "_schemaURL": "https://example.com",
                                         "run": {"runId": parent}, "job": {"namespace": parent_namespace, "name": "tdprov_pns"}}}
    return seal(store, events), parent


def test_job_dag_takes_a_try_whose_parent_is_a_run_of_that_dag_of_its_own_namespace_only(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from prov_airflow.matching import BundleQuery, find_bundle

    store = open_store(str(tmp_path / "store"))
    query = BundleQuery(job="tdprov_pns.daily.load", job_namespace="tests", job_dag="tdprov_pns")
    elsewhere, parent = _try_of(store, "staging")
    trust = trust_from_settings()  # the key that sealed it, made by the first seal
    with caplog.at_level("INFO", logger="prov_airflow.matching"):
        assert find_bundle(store, query, trust) is None
        assert find_bundle(store, BundleQuery(job="tdprov_pns.daily.load", job_namespace="tests"), trust).run_id == elsewhere
    assert (f"run {elsewhere} of job tests/tdprov_pns.daily.load is of a run of DAG 'staging/tdprov_pns', not of DAG "
            "'tdprov_pns': not taken") in caplog.text, caplog.text
    assert (f"took run {elsewhere} of job tests/tdprov_pns.daily.load, whose parent run is {parent} of job "
            "staging/tdprov_pns") in caplog.text, caplog.text
    own, _ = _try_of(store, "tests")
    assert find_bundle(store, query, trust).run_id == own
