"""Airflow (``dag.test()`` with the tdprov plugin): a value that only the source record flags as
personal is planted in failing rows validated by ``PanderaValidationOperator`` and ``@provenance_task``;
it is nowhere in the store or spool, while unflagged failing values are kept. Dagster and Airflow
store the same failure as the same sample bytes."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from airflow_dags import harness  # noqa: F401  (sets AIRFLOW_HOME before Airflow is imported)
from airflow_dags.harness import airflow_db  # noqa: F401 (fixtures)
from airflow_dags.harness import bundles_of, run_dag

import pandas as pd
import pendulum
import pyarrow.parquet as pq
from airflow.sdk import DAG

from personal_support import (PEOPLE, PLANTED, VISIBLE, assert_nowhere, people, plant_unverified_record, register_people, sample_files,
                              sample_table, write_people, written)
from prov_airflow.decorators.provenance import provenance_task
from prov_airflow.operators.pandera import PanderaValidationOperator
from prov_common.quality import SAMPLE_SCHEMA

START = pendulum.datetime(2024, 1, 1, tz="UTC")


@pytest.fixture()
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """(store, spool) that the plugin writes to."""
    store, spool = tmp_path / "store", tmp_path / "spool"
    monkeypatch.setenv("AIRFLOW__TDPROV__STORE", str(store))
    monkeypatch.setenv("AIRFLOW__TDPROV__SPOOL", str(spool))
    return store, spool


def _samples(store: Path, job: str) -> dict[str, bytes]:
    [summary] = [s for s in bundles_of(store) if s.job_name == job]
    return sample_files(str(store), summary.run_id)


def _check_file(dag_id: str, raw: Path, **kwargs: object) -> DAG:
    with DAG(dag_id, start_date=START, schedule=None) as dag:
        PanderaValidationOperator(task_id="check", source=str(raw), schema=PEOPLE, on_failure="warn", **kwargs)
    return dag


@pytest.mark.parametrize("flagged", [True, False])
def test_operator_masks_what_the_source_record_flags(tmp_path: Path, places: tuple[Path, Path], flagged: bool) -> None:
    store, spool = places
    raw = write_people(tmp_path / "people.parquet")
    register_people(str(store), raw, **({"personal_columns": ("email",)} if flagged else {}))
    dag_id = f"tdprov_personal_{flagged}"
    # record found by location; raw samples opted in, so that only the record's flag can mask the value
    assert run_dag(_check_file(dag_id, raw, raw_samples=True), logical_date=START).state == "success"
    [sample] = _samples(store, f"{dag_id}.check").values()
    assert VISIBLE in set(sample_table(sample)["failure_case"])
    everything = written(store) + written(spool)
    if flagged:
        assert_nowhere(everything, "the store and spool")
    else:  # the same scan finds the value when nothing flags it
        assert PLANTED.encode() in everything


def test_provenance_task_masks_a_source_found_by_digest(tmp_path: Path, places: tuple[Path, Path]) -> None:
    store, spool = places
    register_people(str(store), write_people(tmp_path / "people.parquet"), confidential_columns=("email",))

    @provenance_task
    def load() -> pd.DataFrame:
        return people()

    @provenance_task(input_schemas={"frame": PEOPLE}, on_failure="warn")
    def clean(frame: pd.DataFrame) -> pd.DataFrame:
        return frame

    with DAG("tdprov_personal_task", start_date=START, schedule=None) as dag:
        clean(load())
    assert run_dag(dag, logical_date=START).state == "success"
    [sample] = _samples(store, "tdprov_personal_task.clean").values()  # the XCom frame has the record's digest
    table = sample_table(sample)
    assert VISIBLE in set(table["failure_case"]) and "***" in set(table["failure_case"])
    assert_nowhere(written(store) + written(spool), "the store and spool")


def test_operator_samples_off_and_masked_columns(tmp_path: Path, places: tuple[Path, Path]) -> None:
    store, spool = places
    raw = write_people(tmp_path / "people.parquet")  # no source record: only the task's own settings mask
    with DAG("tdprov_personal_options", start_date=START, schedule=None) as dag:
        PanderaValidationOperator(task_id="off", source=str(raw), schema=PEOPLE, on_failure="warn", sample_rows=0)
        PanderaValidationOperator(task_id="masked", source=str(raw), schema=PEOPLE, on_failure="warn",
                                  masked_columns="email")
    assert run_dag(dag, logical_date=START).state == "success"
    assert _samples(store, "tdprov_personal_options.off") == {}
    [sample] = _samples(store, "tdprov_personal_options.masked").values()
    assert VISIBLE in set(sample_table(sample)["failure_case"])
    assert_nowhere(written(store) + written(spool), "the store and spool")


def test_dagster_and_airflow_store_the_same_sample_bytes(tmp_path: Path, places: tuple[Path, Path]) -> None:
    from dagster import DagsterInstance, materialize

    from dagster_support import delivered
    from prov_dagster import ProvenanceIOManager, provenance_asset

    store, _ = places
    raw = write_people(tmp_path / "people.parquet")
    register_people(str(store), raw, personal_columns=("email",))
    assert run_dag(_check_file("tdprov_personal_parity", raw), logical_date=START).state == "success"
    [from_airflow] = _samples(store, "tdprov_personal_parity.check").values()

    @provenance_asset(schema=PEOPLE, quality_policy="record", source="people-raw")
    def people_copy() -> pd.DataFrame:
        return pd.read_parquet(raw)

    dagster_store = str(tmp_path / "dagster-store")
    register_people(dagster_store, raw, personal_columns=("email",))
    io_manager = ProvenanceIOManager(store=dagster_store, data_root=str(tmp_path / "data"))
    with DagsterInstance.ephemeral() as instance:
        assert materialize([people_copy], instance=instance, resources={"io_manager": io_manager}).success
    delivered(dagster_store)
    [summary] = bundles_of(Path(dagster_store))
    [from_dagster] = sample_files(dagster_store, summary.run_id).values()
    assert from_dagster == from_airflow
    table = sample_table(from_airflow)
    assert "***" in set(table["failure_case"]) and VISIBLE in set(table["failure_case"])
    assert pq.read_schema(io.BytesIO(from_airflow)).equals(SAMPLE_SCHEMA)


@pytest.mark.parametrize("rows", [-1, True, "5"])
def test_operator_refuses_bad_sample_rows(rows: object) -> None:
    from prov_common.errors import BadInputError

    with pytest.raises(BadInputError, match="sample_rows=.* of task 'check'"):
        PanderaValidationOperator(task_id="check", source="x.parquet", schema=PEOPLE, sample_rows=rows)


def test_flagged_columns_travel_through_xcom(tmp_path: Path, places: tuple[Path, Path]) -> None:
    """`load` names the flagged source record; `enrich` changes the frame (another digest, no record
    matches it); `clean` fails its schema on what `enrich` returned: its sample masks `email`."""
    store, spool = places
    raw = write_people(tmp_path / "people.parquet")
    register_people(str(store), raw, personal_columns=("email",))

    @provenance_task(source_records="people-raw")
    def load() -> pd.DataFrame:
        return pd.read_parquet(raw)

    @provenance_task
    def enrich(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(batch=1)

    @provenance_task(input_schemas={"frame": PEOPLE}, on_failure="warn")
    def clean(frame: pd.DataFrame) -> pd.DataFrame:
        return frame

    with DAG("tdprov_personal_xcom", start_date=START, schedule=None) as dag:
        clean(enrich(load()))
    assert run_dag(dag, logical_date=START).state == "success"
    [sample] = _samples(store, "tdprov_personal_xcom.clean").values()
    table = sample_table(sample)
    assert VISIBLE in set(table["failure_case"]) and "***" in set(table["failure_case"])
    assert_nowhere(written(store) + written(spool), "the store and spool")


def test_flagged_columns_of_a_mapped_task_travel_to_its_readers(tmp_path: Path, places: tuple[Path, Path]) -> None:
    """Each map index of `load` flags `email`; the mapped `clean` and the reducer `combine`, which read
    its XComs, mask it in their samples (Airflow gives them the flags of every map index as a list)."""
    store, spool = places

    @provenance_task(masked_columns=["email"])
    def load(batch: int) -> pd.DataFrame:
        return people().assign(batch=batch)

    @provenance_task(input_schemas={"frame": PEOPLE}, on_failure="warn", raw_samples=True)
    def clean(frame: pd.DataFrame) -> None:
        pass

    @provenance_task(input_schemas={"frames": PEOPLE}, on_failure="warn", raw_samples=True)
    def combine(frames: list) -> None:
        pass

    with DAG("tdprov_personal_mapped", start_date=START, schedule=None) as dag:
        loaded = load.expand(batch=[1, 2])
        clean.expand(frame=loaded)
        combine(loaded)
    assert run_dag(dag, logical_date=START).state == "success"
    samples = [b for s in bundles_of(store) if s.job_name.endswith((".clean", ".combine"))
               for b in sample_files(str(store), s.run_id).values()]
    assert len(samples) == 4  # two mapped instances of clean, two frames read by combine
    for sample in samples:
        assert VISIBLE in set(sample_table(sample)["failure_case"])
    assert_nowhere(written(store) + written(spool), "the store and spool")


def test_a_named_source_record_that_does_not_verify_masks_every_column(tmp_path: Path, places: tuple[Path, Path],
                                                                         capfd: pytest.CaptureFixture) -> None:
    """The record of the source a task names (``source_records=``) was damaged: it was left out, so the column it
    flagged showed its values in a raw sample. It is not trusted, so every column is masked and the task succeeds;
    a forged record of another source is named, not used."""
    from prov_common.sources.registry import source_key

    store, spool = places
    raw = write_people(tmp_path / "people.parquet")
    record = register_people(str(store), raw, personal_columns=("email",))
    own = store / source_key("people-raw", record.digest)
    own.write_bytes(b"not json")
    other = plant_unverified_record(str(store), "other", "blake3:" + "e" * 64, "forged")
    dag_id = "tdprov_personal_unverified"
    assert run_dag(_check_file(dag_id, raw, raw_samples=True, source_records=["people-raw"]), logical_date=START).state == "success"
    [sample] = _samples(store, f"{dag_id}.check").values()
    assert set(sample_table(sample)["failure_case"].dropna()) == {"***"}
    assert_nowhere(written(store) + written(spool), "the store and spool")
    said = "".join(capfd.readouterr())
    assert f"'sources/people-raw/{own.name}'" in said and "every column is masked" in said and "Fix:" in said, said
    assert f"not trusted and not used: {other}" in said, said
