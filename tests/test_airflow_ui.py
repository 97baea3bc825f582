"""What Airflow itself shows of tdprov: asset event extras, run ids from the provider's own helpers."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from airflow_dags import harness  # noqa: F401  (sets AIRFLOW_HOME before Airflow is imported)
from airflow_dags.harness import airflow_db, store  # noqa: F401 (fixtures)
from airflow_dags.harness import asset_events, bundles_of, events_of, run_dag

import pandas as pd
import pendulum
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Asset

from prov_common.bundle import verify_bundle
from prov_common.config import Settings
from prov_common.hashing import hash_path
from prov_common.signing import trust_from_settings
from prov_common.store import open_store

START = pendulum.datetime(2024, 1, 1, tz="UTC")


def test_asset_events_carry_the_digest_and_bundle_uri(tmp_path: Path, store: Path) -> None:
    table, never = tmp_path / "features.csv", tmp_path / "never-written.csv"

    def build(outlet_events) -> None:  # noqa: ANN001 - Airflow passes the context's outlet events
        pd.DataFrame({"id": [1, 2, 3], "x": [0.5, 1.5, 2.5]}).to_csv(table, index=False)
        outlet_events[Asset(table.as_uri())].extra["rows"] = 3  # the task's own extra is kept

    with DAG("tdprov_asset_extra", start_date=START, schedule=None) as dag:
        PythonOperator(task_id="build", python_callable=build,
                       outlets=[Asset(table.as_uri()), Asset(never.as_uri()), str(tmp_path / "plain.txt")])
    assert run_dag(dag, logical_date=START).state == "success"

    events = asset_events("tdprov_asset_extra")
    assert set(events) == {table.as_uri(), never.as_uri()}  # a plain path is no asset: no event
    summary = {s.job_name: s for s in bundles_of(store)}["tdprov_asset_extra.build"]
    bundle = f"{store}/bundles/{summary.run_id}/"
    facts = events[table.as_uri()]["extra"]
    assert facts["rows"] == 3
    assert facts["tdprov"] == {"digest": hash_path(table).digest, "bundle": bundle, "runId": summary.run_id, "rows": 3}
    # the digest in Airflow is the version the bundle recorded, and the bundle is where the extra says
    assert {o.name: o.version for o in summary.outputs}[str(table)] == facts["tdprov"]["digest"]
    assert (Path(bundle) / "statement.dsse.json").is_file()
    assert verify_bundle(open_store(str(store)), summary.run_id, trust_from_settings(Settings.from_env())).ok
    # an outlet the task did not write (not there after it) is no output: its event gets no tdprov facts
    assert "tdprov" not in events[never.as_uri()]["extra"]
    # outlets are hashed once, before Airflow records the asset events, and the bundle reuses that
    complete = events_of(store, summary.run_id)[-1]
    assert {d["name"]: d["facets"].get("version", {}).get("datasetVersion") for d in complete["outputs"]} == {
        str(table): hash_path(table).digest}
    assert sorted((o["name"], o["reason"]) for o in complete["run"]["facets"]["tdprov_outlets"]["notWritten"]) == [
        (str(never), "missing"), (str(tmp_path / "plain.txt"), "missing")]


def test_a_relative_store_gives_asset_events_the_bundle_s_absolute_location(tmp_path: Path, airflow_db, monkeypatch) -> None:
    """``[tdprov] store = ./lineage``: the asset event's ``bundle`` (and the extra link, the same value) named
    ./lineage/bundles/<run>/, a folder of whatever working folder reads the event (an asset-triggered DAG's task,
    the UI); the Dagster UI's bundle link is absolute. It names the bundle by its absolute path."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AIRFLOW__TDPROV__STORE", "./lineage")
    table = tmp_path / "out.csv"
    with DAG("tdprov_relative_store", start_date=START, schedule=None) as dag:
        PythonOperator(task_id="build", python_callable=lambda: table.write_text("id\n1\n"), outlets=[Asset(table.as_uri())])
    assert run_dag(dag, logical_date=START).state == "success"
    run_id = {s.job_name: s for s in bundles_of(tmp_path / "lineage")}["tdprov_relative_store.build"].run_id
    bundle = asset_events("tdprov_relative_store")[table.as_uri()]["extra"]["tdprov"]["bundle"]
    assert bundle == f"{tmp_path}/lineage/bundles/{run_id}/", bundle
    assert (Path(bundle) / "statement.dsse.json").is_file()


def test_run_ids_are_the_providers_for_the_same_task_instance(store: Path) -> None:
    """Mapped task instances and a retried try: the bundles' run ids are what the provider's helpers give."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.providers.openlineage.plugins.adapter import OpenLineageAdapter
    from airflow.utils.session import create_session
    from sqlalchemy import select

    marker = store.parent / "first-try-failed"

    def flaky() -> None:
        if not marker.exists():
            marker.write_text("1")
            raise RuntimeError("first try fails on purpose")

    with DAG("tdprov_run_ids", start_date=START, schedule=None) as dag:
        PythonOperator.partial(task_id="mapped", python_callable=lambda n: n).expand(op_args=[[1], [2]])
        PythonOperator(task_id="flaky", python_callable=flaky, retries=1, retry_delay=0)
    assert run_dag(dag, logical_date=START).state == "success"

    with create_session() as session:
        tis = session.scalars(select(TaskInstance).where(TaskInstance.dag_id == "tdprov_run_ids")).all()
        run = session.scalars(select(DagRun).where(DagRun.dag_id == "tdprov_run_ids")).one()
        expected = {OpenLineageAdapter.build_task_instance_run_id(
            dag_id=ti.dag_id, task_id=ti.task_id, try_number=try_number, logical_date=run.logical_date,
            map_index=ti.map_index) for ti in tis for try_number in range(1, ti.try_number + 1)}
        dag_run_id = OpenLineageAdapter.build_dag_run_id(dag_id="tdprov_run_ids", logical_date=run.logical_date,
                                                         clear_number=run.clear_number)
    assert sorted((ti.task_id, ti.map_index, ti.try_number) for ti in tis) == [
        ("flaky", -1, 2), ("mapped", 0, 1), ("mapped", 1, 1)]
    summaries = bundles_of(store)
    assert {s.run_id for s in summaries if s.job_name != "tdprov_run_ids"} == expected  # 4 task runs
    assert [s.run_id for s in summaries if s.job_name == "tdprov_run_ids"] == [dag_run_id]
    states = sorted(s.state for s in summaries if s.job_name == "tdprov_run_ids.flaky")
    assert states == ["COMPLETE", "FAIL"]


def test_extra_link_resolves_to_the_bundle_of_the_task_run(tmp_path: Path, store: Path) -> None:
    """The link the UI shows, resolved as Airflow's API server does: serialized DAG, task instance, XCom."""
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from prov_airflow.decorators.provenance import provenance_task
    from prov_airflow.links import LINK_NAME, BundleLink
    from prov_airflow.operators.pandera import PanderaValidationOperator

    table = tmp_path / "features.csv"
    pd.DataFrame({"id": [1, 2], "x": [0.5, 1.5]}).to_csv(table, index=False)
    with DAG("tdprov_links", start_date=START, schedule=None) as dag:
        @provenance_task
        def make() -> pd.DataFrame:
            return pd.DataFrame({"id": [1, 2], "x": [0.5, 1.5]})

        make()
        PanderaValidationOperator(task_id="check", source=str(table), schema="airflow_dags.schemas:FEATURES")
        PythonOperator(task_id="plain", python_callable=lambda: None)
    assert run_dag(dag, logical_date=START).state == "success"

    by_job = {s.job_name: s for s in bundles_of(store)}
    serialized = SerializedDagModel.get_dag("tdprov_links")
    with create_session() as session:
        tis = {ti.task_id: ti for ti in session.scalars(select(TaskInstance).where(TaskInstance.dag_id == "tdprov_links"))}
        links = {task_id: serialized.get_task(task_id).get_extra_links(tis[task_id], LINK_NAME)
                 for task_id in ("make", "check")}
    for task_id, link in links.items():
        run_id = by_job[f"tdprov_links.{task_id}"].run_id
        assert link == f"{store}/bundles/{run_id}/"
        assert (Path(link) / "manifest.json").is_file()
    assert LINK_NAME in serialized.get_task("check").extra_links
    assert type(serialized.get_task("check").operator_extra_link_dict[LINK_NAME]).__name__ == "BundleLink"  # the plugin's
    named = [(c.__module__, c.__name__) for c in (PanderaValidationOperator, type(dag.get_task("make")))]
    assert [(c.__module__, c.__name__) for c in BundleLink().operators] == named  # as the plugin names them
    assert LINK_NAME not in serialized.get_task("plain").extra_links  # other operators are left as they are


def test_extra_link_of_a_task_given_another_runs_run_id_is_its_dag_run_s_page(tmp_path: Path, store: Path) -> None:
    """Task 'load' of DAG 'tdprov_lclash.daily' and task 'daily.load' (task group 'daily') of DAG 'tdprov_lclash' are
    one job and, at one logical date, one run id: the run sealed first keeps the bundle. The second task's link pointed
    at the first task's bundle, of another DAG run and its output; it is the bundles page of its own DAG run, which
    names the other run (the first task's link stays its bundle)."""
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.models.taskinstance import TaskInstance
    from airflow.sdk import TaskGroup
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from prov_airflow.decorators.provenance import provenance_task
    from prov_airflow.links import LINK_NAME

    @provenance_task(task_id="load")
    def load(value: float) -> pd.DataFrame:
        return pd.DataFrame({"id": [1], "x": [value]})

    with DAG("tdprov_lclash.daily", start_date=START, schedule=None) as first:
        load(0.5)
    with DAG("tdprov_lclash", start_date=START, schedule=None) as second:
        with TaskGroup("daily"):
            load(1.5)
    runs = [run_dag(dag, logical_date=START) for dag in (first, second)]
    assert [r.state for r in runs] == ["success", "success"]
    [bundle] = [s for s in bundles_of(store) if s.job_name == "tdprov_lclash.daily.load"]
    links = []
    with create_session() as session:
        for run, task_id in zip(runs, ("load", "daily.load")):
            ti = session.scalars(select(TaskInstance).where(TaskInstance.dag_id == run.dag_id)).one()
            links.append(SerializedDagModel.get_dag(run.dag_id).get_task(task_id).get_extra_links(ti, LINK_NAME))
    assert links[0] == f"{store}/bundles/{bundle.run_id}/"
    assert links[1] == f"/tdprov/dag-runs/tdprov_lclash/{quote(runs[1].run_id, safe='')}", links


DAG_FILE = '''
import pendulum
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Asset

with DAG("tdprov_in_dags_folder", start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), schedule=None) as dag:
    PythonOperator(task_id="write", python_callable=lambda: open(OUT, "w").write("written"),
                   outlets=[Asset("file://" + OUT)])
'''


def test_dag_test_needs_register_dag_only_for_dags_outside_the_dags_folder(tmp_path: Path, store: Path) -> None:
    """``dag.test()`` serialises the DAGs of the configured DAG bundles itself; a DAG object made
    elsewhere (a test, a notebook) is not among them until ``register_dag`` puts it in the DB."""
    import importlib.util
    import os

    import pytest
    from airflow.exceptions import AirflowException

    from prov_airflow.testing import register_dag

    out = tmp_path / "out.txt"
    path = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / "tdprov_in_dags_folder.py"
    path.write_text(f"OUT = {str(out)!r}\n" + DAG_FILE)
    try:
        spec = importlib.util.spec_from_file_location("tdprov_in_dags_folder", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        assert module.dag.test(logical_date=START).state == "success"  # no register_dag
    finally:
        path.unlink()
    assert {s.job_name: s for s in bundles_of(store)}["tdprov_in_dags_folder.write"].outputs[0].version == \
        hash_path(out).digest

    with DAG("tdprov_outside_dags_folder", start_date=START, schedule=None) as dag:
        PythonOperator(task_id="noop", python_callable=lambda: None)
    with pytest.raises(AirflowException, match="not serialized"):
        dag.test(logical_date=START)
    register_dag(dag)
    assert dag.test(logical_date=START).state == "success"
    assert "tdprov_outside_dags_folder.noop" in {s.job_name for s in bundles_of(store)}
