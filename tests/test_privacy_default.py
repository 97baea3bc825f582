"""Failure samples are private by default: with nothing flagged, a planted e-mail and SSN in failing
columns are found nowhere raw in the store or the spool (a real Dagster materialize and an Airflow
``dag.test()``); masked values keep a keyed digest that is the same across runs and is not the plain
digest of the value; columns declared non-personal stay visible; unknown column names are errors.
"""
from __future__ import annotations

from pathlib import Path

import blake3
import pandas as pd
import pandera.pandas as pa
import pendulum
import pytest
from airflow_dags import harness  # noqa: F401  (sets AIRFLOW_HOME before Airflow is imported)
from airflow_dags.harness import airflow_db  # noqa: F401 (fixtures)
from airflow_dags.harness import bundles_of, run_dag
from airflow.sdk import DAG
from dagster import DagsterInstance, materialize

from personal_support import assert_nowhere, sample_files, sample_table, written
from prov_common.bundle import list_bundles
from prov_common.errors import BadInputError
from prov_common.quality import validate
from prov_common.quality.mask_key import mask_key, masked_digest
from prov_common.store import open_store

EMAIL, SSN, VISIBLE = "planted.private@example.org", "078-05-1120", "4243"
START = pendulum.datetime(2026, 3, 1, tz="UTC")
# nothing is flagged personal: only "age" is declared non-personal
SCHEMA = pa.DataFrameSchema({
    "email": pa.Column(str, pa.Check.str_matches(r"^[a-z]+$")),
    "ssn": pa.Column(str, pa.Check.str_length(max_value=4)),
    "age": pa.Column(int, pa.Check.in_range(0, 120), metadata={"personal": False}),
}, name="Customers")


def _frame() -> pd.DataFrame:
    return pd.DataFrame({"email": [EMAIL, "ok"], "ssn": [SSN, "1"], "age": [int(VISIBLE), 30]})


def _check_sample(data: bytes) -> pd.DataFrame:
    table = sample_table(data)
    assert VISIBLE in set(table["failure_case"])  # the declared non-personal column is shown ...
    masked = table[table["column"].isin(["email", "ssn"])]
    assert set(masked["failure_case"]) == {"***"} and masked["failure_case_digest"].str.startswith("bk3:").all()
    return table


def _dagster_run(tmp_path: Path, store: Path, **asset_args: object) -> dict[str, bytes]:
    from prov_dagster import ProvenanceIOManager, provenance_asset

    @provenance_asset(schema=SCHEMA, quality_policy="record", **asset_args)
    def customers() -> pd.DataFrame:
        return _frame()

    io_manager = ProvenanceIOManager(store=str(store), data_root=str(tmp_path / "data"), spool=str(tmp_path / "spool"))
    with DagsterInstance.ephemeral() as instance:
        result = materialize([customers], instance=instance, resources={"io_manager": io_manager}, raise_on_error=False)
    assert result.success, result
    runs = sorted(s.run_id for s in list_bundles(open_store(str(store))))
    return sample_files(str(store), runs[-1])


def test_dagster_materialize_masks_unflagged_personal_data_by_default(tmp_path: Path) -> None:
    store = tmp_path / "store"
    [first] = _dagster_run(tmp_path, store).values()
    table = _check_sample(first)
    everything = written(store) + written(tmp_path / "spool") + written(tmp_path / "data")
    assert_nowhere(written(store) + written(tmp_path / "spool"), "the store and spool", EMAIL)
    assert_nowhere(written(store) + written(tmp_path / "spool"), "the store and spool", SSN)
    assert EMAIL.encode() in everything  # the data itself is there (so the scan can see it): only samples are masked
    # the same bad value in a second run has the same keyed digest; it is not the plain digest of the value
    second_store = tmp_path / "store2"
    [second] = _dagster_run(tmp_path, second_store).values()
    digests = lambda t: dict(zip(t["column"] + ":" + t["index"].astype(str), t["failure_case_digest"]))  # noqa: E731
    assert {k: v for k, v in digests(table).items() if k.startswith(("email", "ssn"))} == \
           {k: v for k, v in digests(sample_table(second)).items() if k.startswith(("email", "ssn"))}
    plain = blake3.blake3(EMAIL.encode()).hexdigest()
    assert plain[:32] not in first.decode("latin-1") and masked_digest(EMAIL, mask_key()) in set(table["failure_case_digest"])


def test_dagster_asset_opts_in_to_raw_samples_or_names_public_columns(tmp_path: Path) -> None:
    [raw] = _dagster_run(tmp_path, tmp_path / "raw", raw_samples=True).values()
    assert EMAIL in set(sample_table(raw)["failure_case"])
    [public] = _dagster_run(tmp_path, tmp_path / "public", public_columns=["ssn"]).values()
    table = sample_table(public)
    assert SSN in set(table["failure_case"]) and EMAIL not in set(table["failure_case"])


@pytest.mark.parametrize("option", ["masked_columns", "public_columns"])
def test_dagster_unknown_column_in_a_masking_option_is_an_error(tmp_path: Path, option: str) -> None:
    from prov_dagster import ProvenanceIOManager, provenance_asset

    @provenance_asset(schema=SCHEMA, quality_policy="record", **{option: ["e_mail"]})
    def customers() -> pd.DataFrame:
        return _frame()

    io_manager = ProvenanceIOManager(store=str(tmp_path / "store"), data_root=str(tmp_path / "data"))
    with DagsterInstance.ephemeral() as instance, pytest.raises(Exception, match=f"{option} names 'e_mail'") as raised:
        materialize([customers], instance=instance, resources={"io_manager": io_manager})
    assert "email" in str(raised.value)  # the message lists the real columns


def _airflow_dag(dag_id: str, path: Path, **kwargs: object) -> DAG:
    from prov_airflow.operators.pandera import PanderaValidationOperator

    with DAG(dag_id, start_date=START, schedule=None) as dag:
        PanderaValidationOperator(task_id="check", source=str(path), schema=SCHEMA, on_failure="warn", **kwargs)
    return dag


def test_airflow_dag_test_masks_unflagged_personal_data_by_default(tmp_path: Path, monkeypatch, airflow_db) -> None:
    store, spool = tmp_path / "store", tmp_path / "spool"
    monkeypatch.setenv("AIRFLOW__TDPROV__STORE", str(store))
    monkeypatch.setenv("AIRFLOW__TDPROV__SPOOL", str(spool))
    path = tmp_path / "customers.parquet"
    _frame().to_parquet(path)
    assert run_dag(_airflow_dag("tdprov_private_default", path), logical_date=START).state == "success"
    [sample] = [data for summary in bundles_of(store) for data in sample_files(str(store), summary.run_id).values()]
    _check_sample(sample)
    assert_nowhere(written(store) + written(spool), "the store and spool", EMAIL)
    assert_nowhere(written(store) + written(spool), "the store and spool", SSN)
    bad = _airflow_dag("tdprov_private_unknown", path, masked_columns=["e_mail"])
    assert run_dag(bad, logical_date=START).state == "failed"  # a misspelt column fails the task


def test_unknown_public_column_is_an_error_naming_it() -> None:
    with pytest.raises(BadInputError, match="public_columns names 'e_mail', not a column of the DataFrame"):
        validate(_frame(), SCHEMA, public_columns=["e_mail"])


def _plain_asset_run(tmp_path: Path, metadata: dict[str, object]) -> bytes:
    from dagster import asset

    from prov_dagster import ProvenanceIOManager

    @asset(metadata={"pandera_schema": SCHEMA, "tdprov/quality_policy": "record", **metadata})
    def customers() -> pd.DataFrame:
        return _frame()

    store = tmp_path / "store"
    io_manager = ProvenanceIOManager(store=str(store), data_root=str(tmp_path / "data"))
    with DagsterInstance.ephemeral() as instance:
        assert materialize([customers], instance=instance, resources={"io_manager": io_manager}).success
    [run] = [s.run_id for s in list_bundles(open_store(str(store)))]
    [sample] = sample_files(str(store), run).values()
    return sample


@pytest.mark.parametrize("text", ["false", "no", "0", "flase"])
def test_raw_samples_given_as_text_is_parsed_and_fails_closed(tmp_path: Path, text: str) -> None:
    """``tdprov/raw_samples: "false"`` (text, as from YAML or an environment) keeps samples masked: the truthiness of
    the text would have stored the failing values in clear; unknown text is off too."""
    _check_sample(_plain_asset_run(tmp_path, {"tdprov/raw_samples": text}))
    assert EMAIL in set(sample_table(_plain_asset_run(tmp_path / "on", {"tdprov/raw_samples": "true"}))["failure_case"])
    [arg] = _dagster_run(tmp_path, tmp_path / "arg", raw_samples=text).values()
    _check_sample(arg)


def test_provenance_asset_snapshot_given_as_text_is_parsed(tmp_path: Path) -> None:
    from prov_dagster import provenance_asset

    @provenance_asset(snapshot="no")
    def off() -> pd.DataFrame:
        return _frame()

    @provenance_asset(snapshot="yes")
    def on() -> pd.DataFrame:
        return _frame()

    assert off.metadata_by_key[off.key]["tdprov/snapshot"] is False
    assert on.metadata_by_key[on.key]["tdprov/snapshot"] is True


@pytest.mark.usefixtures("airflow_db")
def test_airflow_raw_samples_and_snapshot_given_as_text_are_parsed(tmp_path: Path, monkeypatch) -> None:
    from airflow.providers.standard.operators.python import PythonOperator

    from prov_airflow.rows import SNAPSHOT_ATTR, mark_task

    store = tmp_path / "store"
    monkeypatch.setenv("AIRFLOW__TDPROV__STORE", str(store))
    path = tmp_path / "customers.parquet"
    _frame().to_parquet(path)
    assert run_dag(_airflow_dag("tdprov_raw_text", path, raw_samples="false"), logical_date=START).state == "success"
    [sample] = [data for summary in bundles_of(store) for data in sample_files(str(store), summary.run_id).values()]
    _check_sample(sample)
    task = PythonOperator(task_id="t", python_callable=lambda: None)
    mark_task(task, None, "false")
    assert getattr(task, SNAPSHOT_ATTR) is False
