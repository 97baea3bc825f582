"""A DAG run the scheduler started from asset events records the versions that triggered it as its inputs."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow_dags import harness  # noqa: F401  (sets AIRFLOW_HOME before Airflow is imported)
from airflow_dags.harness import airflow_db, store  # noqa: F401 (fixtures)
from airflow_dags.harness import asset_events, bundles_of, events_of, run_dag

import pandas as pd
import pendulum
import pytest
import rdflib
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Asset

from prov_common.w3cprov import events_to_document, serialize

START = pendulum.datetime(2024, 1, 1, tz="UTC")


def _write(path: str, rows: int = 3) -> None:
    pd.DataFrame({"id": range(rows), "x": [0.5] * rows}).to_csv(path, index=False)


def _read(path: str) -> None:
    pd.read_csv(path)


def _asset_triggered_run(dag_id: str, *producer_dag_ids: str, bound: bool = True) -> None:
    """Start and end a run of ``dag_id`` from the asset events of ``producer_dag_id`` as the scheduler does: created
    ASSET_TRIGGERED with the events it consumes (those of the ``producer_dag_ids``), its listeners told when it runs and
    when it succeeds. ``bound``: they are given the ``DagRun`` of the session that created it, as the scheduler gives
    it; else that object once its session is closed, as a process that did not load it gives one (not attached to a
    session, its consumed events read from the metadata DB)."""
    from airflow.models.asset import AssetEvent
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType
    from sqlalchemy import inspect, select

    def tell(run: Any) -> None:
        run.state = DagRunState.RUNNING
        run.notify_dagrun_state_changed(msg="started")
        run.set_state(DagRunState.SUCCESS)
        run.notify_dagrun_state_changed(msg="success")

    with create_session() as session:
        events = session.scalars(select(AssetEvent).where(AssetEvent.source_dag_id.in_(producer_dag_ids))).all()
        assert events
        run = SerializedDagModel.get_dag(dag_id, session=session).create_dagrun(
            run_id="asset_triggered__2024-01-02", logical_date=None, data_interval=None,
            run_after=START.add(days=1), run_type=DagRunType.ASSET_TRIGGERED, triggered_by=DagRunTriggeredByType.ASSET,
            state=DagRunState.QUEUED, session=session)
        run.consumed_asset_events.extend(events)
        session.flush()
        if bound:
            tell(run)
    if not bound:
        assert inspect(run).session is None
        tell(run)


def test_an_asset_triggered_dag_run_records_the_version_that_triggered_it(store: Path, tmp_path: Path) -> None:
    """The consumer's tasks declare no inlets: its DAG run's inputs are the producer's version as the producer sealed
    it (the digest of its asset event), not re-hashed though the file changed since, named as tdprov names the asset."""
    data = tmp_path / "x.csv"
    asset = Asset(data.as_uri())
    with DAG("tdprov_at_producer", start_date=START, schedule=None) as producer:
        PythonOperator(task_id="write", python_callable=_write, op_args=[str(data)], outlets=[asset])
    with DAG("tdprov_at_consumer", start_date=START, schedule=[asset]) as consumer:
        PythonOperator(task_id="read", python_callable=_read, op_args=[str(data)])
    run_dag(producer, logical_date=START)
    produced = asset_events("tdprov_at_producer")[asset.uri]["extra"]["tdprov"]
    run_dag(consumer, logical_date=START)  # a manual run, triggered by no asset event: no inputs
    manual = [s for s in bundles_of(store) if s.job_name == "tdprov_at_consumer"]
    assert len(manual) == 1 and all(e["inputs"] == [] for e in events_of(store, manual[0].run_id))
    data.write_text("id,x\n9,9.5\n")  # changed after the producer's run: the triggering version is the producer's

    _asset_triggered_run("tdprov_at_consumer", "tdprov_at_producer")

    dag_runs = [s for s in bundles_of(store) if s.job_name == "tdprov_at_consumer" and s not in manual]
    assert len(dag_runs) == 1
    events = events_of(store, dag_runs[0].run_id)
    assert [e["eventType"] for e in events][-1] == "COMPLETE"
    for event in events:
        [read] = event["inputs"]
        assert (read["namespace"], read["name"]) == ("file", str(data))
        assert read["facets"]["version"]["datasetVersion"] == produced["digest"]
    written = [e for s in bundles_of(store) if s.job_name == "tdprov_at_producer.write" for e in events_of(store, s.run_id)]
    graph = rdflib.Graph().parse(data=serialize(events_to_document(written + events), "ttl"), format="turtle")
    assert len(list(graph.query(USED_AS_WRITTEN))) == 1  # the DAG run used the very version the producer generated


def test_an_asset_triggered_dag_run_records_each_version_that_triggered_it(store: Path, tmp_path: Path) -> None:
    """Two asset events of one asset at two versions (two producers, three rows and then five) start one run: both are
    its inputs. The versions, set from the events without a hash, were taken for one (the refs were told apart by a
    digest they did not hold) and the second dropped."""
    data = tmp_path / "x.csv"
    asset = Asset(data.as_uri())
    for dag_id, rows in (("tdprov_at_first", 3), ("tdprov_at_second", 5)):
        with DAG(dag_id, start_date=START, schedule=None) as producer:
            PythonOperator(task_id="write", python_callable=_write, op_args=[str(data), rows], outlets=[asset])
        run_dag(producer, logical_date=START)
    produced = {asset_events(d)[asset.uri]["extra"]["tdprov"]["digest"] for d in ("tdprov_at_first", "tdprov_at_second")}
    assert len(produced) == 2
    with DAG("tdprov_at_both", start_date=START, schedule=[asset]) as consumer:
        PythonOperator(task_id="read", python_callable=_read, op_args=[str(data)])
    run_dag(consumer, logical_date=START)  # a manual run first, as the scheduler's runs follow a DAG it holds
    manual = [s for s in bundles_of(store) if s.job_name == "tdprov_at_both"]

    _asset_triggered_run("tdprov_at_both", "tdprov_at_first", "tdprov_at_second")

    [dag_run] = [s for s in bundles_of(store) if s.job_name == "tdprov_at_both" and s not in manual]
    for event in events_of(store, dag_run.run_id):
        assert {(i["name"], i["facets"]["version"]["datasetVersion"]) for i in event["inputs"]} == {
            (str(data), digest) for digest in produced}, event["inputs"]


def test_an_asset_event_that_names_no_asset_costs_only_its_own_input(store: Path, tmp_path: Path,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    """Of three asset events that start one run, one's asset has a URI this Airflow refuses (a scheme it reserves, as an
    asset registered before could hold) and one's extra is no mapping: the run's inputs are the first version and the
    third asset without a version, and a warning names the refused asset and the fix. One such event cost the run all
    its triggering inputs."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import insert, select, update

    good, bad, odd = tmp_path / "good.csv", tmp_path / "bad.csv", tmp_path / "odd.csv"
    for dag_id, path in (("tdprov_at_good", good), ("tdprov_at_bad", bad), ("tdprov_at_odd", odd)):
        with DAG(dag_id, start_date=START, schedule=None) as producer:
            PythonOperator(task_id="write", python_callable=_write, op_args=[str(path)], outlets=[Asset(path.as_uri())])
        run_dag(producer, logical_date=START)
    produced = asset_events("tdprov_at_good")[good.as_uri()]["extra"]["tdprov"]["digest"]
    with DAG("tdprov_at_one_refused", start_date=START, schedule=[Asset(good.as_uri())]) as consumer:
        PythonOperator(task_id="read", python_callable=_read, op_args=[str(good)])
    run_dag(consumer, logical_date=START)
    manual = [s for s in bundles_of(store) if s.job_name == "tdprov_at_one_refused"]
    with create_session() as session:  # the producer's event, of an asset whose URI Asset() refuses
        now = pendulum.now("UTC")
        session.execute(insert(AssetModel).values(name="refused", uri="airflow://bad/x.csv", group="asset", extra={},
                                                  created_at=now, updated_at=now))
        refused = session.scalar(select(AssetModel.id).where(AssetModel.uri == "airflow://bad/x.csv"))
        session.execute(update(AssetEvent).where(AssetEvent.source_dag_id == "tdprov_at_bad").values(asset_id=refused))
        session.execute(update(AssetEvent).where(AssetEvent.source_dag_id == "tdprov_at_odd").values(extra=["odd"]))

    with caplog.at_level("WARNING"):
        _asset_triggered_run("tdprov_at_one_refused", "tdprov_at_good", "tdprov_at_bad", "tdprov_at_odd")

    [dag_run] = [s for s in bundles_of(store) if s.job_name == "tdprov_at_one_refused" and s not in manual]
    for event in events_of(store, dag_run.run_id):
        assert sorted((i["name"], i.get("facets", {}).get("version", {}).get("datasetVersion")) for i in event["inputs"]
                      ) == [(str(good), produced), (str(odd), None)], event["inputs"]
    [warning] = [r.getMessage() for r in caplog.records if "airflow://bad/x.csv" in r.getMessage()]  # read once a run
    for said in ("DAG run asset_triggered__2024-01-02 of tdprov_at_one_refused", "Asset scheme 'airflow' is reserved",
                 "recorded with the other versions that triggered it", "Fix: give the asset a URI"):
        assert said in warning, warning


def test_a_dag_run_given_outside_a_session_reads_the_versions_that_triggered_it(store: Path, tmp_path: Path) -> None:
    """A DAG run given to the listener not attached to a session (a process that did not load it) has its consumed
    asset events read from the metadata DB: its inputs are the version that triggered it, as for the scheduler's own,
    read once, at its START, for its end too."""
    from airflow import settings
    from sqlalchemy import event as sql_event
    data = tmp_path / "x.csv"
    asset = Asset(data.as_uri())
    with DAG("tdprov_at_db_producer", start_date=START, schedule=None) as producer:
        PythonOperator(task_id="write", python_callable=_write, op_args=[str(data)], outlets=[asset])
    run_dag(producer, logical_date=START)
    produced = asset_events("tdprov_at_db_producer")[asset.uri]["extra"]["tdprov"]["digest"]
    with DAG("tdprov_at_db_consumer", start_date=START, schedule=[asset]) as consumer:
        PythonOperator(task_id="read", python_callable=_read, op_args=[str(data)])
    run_dag(consumer, logical_date=START)
    manual = [s for s in bundles_of(store) if s.job_name == "tdprov_at_db_consumer"]

    reads: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "asset_event" in statement:
            reads.append(statement)

    sql_event.listen(settings.engine, "before_cursor_execute", count)
    try:
        _asset_triggered_run("tdprov_at_db_consumer", "tdprov_at_db_producer", bound=False)
    finally:
        sql_event.remove(settings.engine, "before_cursor_execute", count)

    [dag_run] = [s for s in bundles_of(store) if s.job_name == "tdprov_at_db_consumer" and s not in manual]
    events = events_of(store, dag_run.run_id)
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    for event in events:
        assert [(i["namespace"], i["name"], i["facets"]["version"]["datasetVersion"]) for i in event["inputs"]] == [
            ("file", str(data), produced)], event["inputs"]
    assert len([r for r in reads if "dagrun_asset_event" in r]) == 1, reads


USED_AS_WRITTEN = """
PREFIX prov: <http://www.w3.org/ns/prov#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
SELECT ?run WHERE { ?run prov:used ?version ; rdfs:label "tdprov_at_consumer" .
                    ?written prov:specializationOf ?version ; prov:wasGeneratedBy ?writer .
                    ?writer rdfs:label "tdprov_at_producer.write" }
"""
