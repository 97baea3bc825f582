"""Row sets and snapshots from Airflow ``dag.test()`` with the plugin from its entry point: an outlet's
``extra``, ``@task.provenance(granularity=..., snapshot=...)`` and task params; ``tdprov contains``
answers with a proof and ``tdprov checkout`` brings deleted data back byte for byte (local and S3)."""
from __future__ import annotations

from pathlib import Path

import pytest
from airflow_dags import harness  # noqa: F401  (sets AIRFLOW_HOME before Airflow is imported)
from airflow_dags.harness import airflow_db, store  # noqa: F401 (fixtures)
from airflow_dags.harness import bundles_of, events_of, run_dag

import numpy as np
import pandas as pd
import pendulum
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Asset

from prov_airflow.decorators.provenance import provenance_task
from prov_common.cli import main
from prov_common.hashing import hash_dataframe, hash_path
from prov_common.bundle import read_bundle
from prov_common.rowset import RowProof
from prov_common.store import open_store
from prov_common.store.snapshots import index_key

from rows_support import contains_cli

START = pendulum.datetime(2024, 1, 1, tz="UTC")
ROWS = 5_000
FRAME = pd.DataFrame({"id": np.arange(ROWS, dtype=np.int64), "name": [f"name-{i}" for i in range(ROWS)]})
IN, OUT, BYTE = {"id": 7, "name": "name-7"}, {"id": 7, "name": "name-8"}, {"id": 7, "name": "name-6"}


def _write(path: str) -> None:
    FRAME.to_parquet(path, index=False)


def _check_membership(digest: str, store_uri: str, capsys: pytest.CaptureFixture) -> None:
    code, answer, _ = contains_cli(digest, IN, store_uri, capsys)
    assert code == 0 and answer["contained"] and answer["matches"] == 1
    root = answer["proof"]["rowsRoot"]
    RowProof.from_dict(answer["proof"]).check(root)
    for record in (OUT, BYTE):
        code, answer, _ = contains_cli(digest, record, store_uri, capsys)
        assert code == 1 and answer["contained"] is False and answer["proof"]["rowsRoot"] == root


def test_outlet_extra_records_row_set_and_snapshot(tmp_path: Path, store: Path, capsys: pytest.CaptureFixture) -> None:
    data = tmp_path / "customers.parquet"
    plain = tmp_path / "plain.parquet"
    with DAG("tdprov_rows_extra", start_date=START, schedule=None) as dag:
        PythonOperator(task_id="write", python_callable=lambda: (_write(str(data)), FRAME.head(10).to_parquet(plain)),
                       outlets=[Asset(data.as_uri(), extra={"tdprov": {"granularity": "row", "snapshot": True}}),
                                Asset(plain.as_uri())])
    assert run_dag(dag, logical_date=START).state == "success"
    digest = hash_path(data).digest
    (summary,) = [s for s in bundles_of(store) if s.job_name == "tdprov_rows_extra.write"]
    outputs = {o["name"]: o["facets"]["tdprov_contentHash"] for o in events_of(store, summary.run_id)[-1]["outputs"]}
    assert outputs[str(data)]["rowsRoot"].startswith("sha256:") and "rowsRoot" not in outputs[str(plain)]
    # the copy kept before the event is recorded in its facet; the outlet without the option records none
    kept = outputs[str(data)]["snapshot"]
    assert kept["object"].startswith("objects/blake3/") and (store / kept["object"]).stat().st_size == kept["bytes"]
    assert "snapshot" not in outputs[str(plain)]
    _check_membership(digest, str(store), capsys)

    original = data.read_bytes()
    data.unlink()
    assert main(["checkout", digest, "-o", str(data), "--store", str(store), "--verify-table"]) == 0
    assert data.read_bytes() == original
    # the outlet without the option has no snapshot
    assert not open_store(str(store)).exists(index_key(hash_path(plain).digest))


def test_decorator_granularity_and_snapshot(tmp_path: Path, store: Path, capsys: pytest.CaptureFixture) -> None:
    written = tmp_path / "written.parquet"
    with DAG("tdprov_rows_decorator", start_date=START, schedule=None) as dag:
        @provenance_task(granularity="row", snapshot=True, outlets=[Asset(written.as_uri())])
        def make() -> pd.DataFrame:
            _write(str(written))
            return FRAME

        make()
    assert run_dag(dag, logical_date=START).state == "success"
    returned = "xcom://tdprov_rows_decorator/make/return_value"
    _check_membership(returned, str(store), capsys)  # the returned DataFrame (XCom)
    _check_membership(str(written), str(store), capsys)  # the task's outlet, at the task's granularity
    digest = hash_path(written).digest
    assert digest == hash_dataframe(FRAME).digest  # one table: the same digest in both datasets, named by each
    code, _, err = contains_cli(digest, IN, str(store), capsys)
    assert code == 2 and "is held by 2 datasets" in err and repr(returned) in err and repr(str(written)) in err, err
    original = written.read_bytes()
    written.unlink()
    assert main(["checkout", hash_path_of(original, tmp_path), "-o", str(written), "--store", str(store)]) == 0
    assert written.read_bytes() == original


def hash_path_of(data: bytes, tmp_path: Path) -> str:
    copy = tmp_path / "copy.parquet"
    copy.write_bytes(data)
    return hash_path(copy).digest


@pytest.mark.parametrize("setting, refused", [({"granularity": "rows"}, "granularity 'rows'"),
                                               ({"snapshot": "ture"}, "snapshot='ture' of task 'make'")])
def test_a_bad_setting_is_refused_at_dag_definition(setting: dict, refused: str) -> None:
    from prov_common.errors import BadInputError

    with DAG("tdprov_rows_bad", start_date=START, schedule=None):
        with pytest.raises(BadInputError, match=refused):
            @provenance_task(**setting)
            def make() -> pd.DataFrame:
                return FRAME

            make()


def test_s3_outlet_with_task_params_and_store_snapshot(s3_store_uri: str, s3_server, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("AIRFLOW__TDPROV__STORE", s3_store_uri)
    monkeypatch.setenv("AIRFLOW__TDPROV__SNAPSHOT", "True")  # the store's setting: every outlet
    bucket = s3_store_uri.split("/")[2]
    client = s3_server.client()

    def put() -> None:
        client.put_object(Bucket=bucket, Key="data/out.parquet", Body=FRAME.to_parquet(index=False))

    with DAG("tdprov_rows_s3", start_date=START, schedule=None) as dag:
        PythonOperator(task_id="write", python_callable=put, params={"tdprov_granularity": "row"},
                       outlets=[Asset(f"s3://{bucket}/data/out.parquet")])
    assert run_dag(dag, logical_date=START).state == "success"
    original = client.get_object(Bucket=bucket, Key="data/out.parquet")["Body"].read()
    digest = hash_path_of(original, tmp_path)
    _check_membership(digest, s3_store_uri, capsys)
    client.delete_object(Bucket=bucket, Key="data/out.parquet")
    restored = tmp_path / "restored.parquet"
    assert main(["checkout", digest, "-o", str(restored), "--store", s3_store_uri]) == 0
    assert restored.read_bytes() == original


def test_pandera_operator_granularity_row(tmp_path: Path, store: Path, capsys: pytest.CaptureFixture) -> None:
    from prov_airflow.operators.pandera import PanderaValidationOperator

    table = tmp_path / "features.parquet"
    frame = pd.DataFrame({"id": np.arange(300, dtype=np.int64), "x": np.linspace(0.0, 9.0, 300)})
    frame.to_parquet(table, index=False)
    with DAG("tdprov_rows_pandera", start_date=START, schedule=None) as dag:
        PanderaValidationOperator(task_id="check", source=str(table), schema="airflow_dags.schemas:FEATURES",
                                  granularity="row")
    assert run_dag(dag, logical_date=START).state == "success"
    digest = hash_path(table).digest
    code, answer, _ = contains_cli(digest, {"id": 12, "x": float(frame.x[12])}, str(store), capsys)
    assert code == 0 and answer["proof"]["rows"] == 300
    code, answer, _ = contains_cli(digest, {"id": 12, "x": float(frame.x[13])}, str(store), capsys)
    assert code == 1 and answer["contained"] is False


def test_a_table_a_task_reads_and_rewrites_keeps_a_row_set_per_version(tmp_path: Path, store: Path,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    """One file as inlet and outlet, rewritten by the task: two versions of one dataset, each with its own row set
    in the task's bundle (neither refused nor overwritten)."""
    table = tmp_path / "t.parquet"
    pd.DataFrame({"id": [1, 2]}).to_parquet(table, index=False)
    before = hash_path(table).digest

    def rewrite() -> None:
        pd.DataFrame({"id": [1, 2, 3]}).to_parquet(table, index=False)

    row = {"tdprov": {"granularity": "row"}}
    with DAG("tdprov_rows_rewrite", start_date=START, schedule=None) as dag:
        PythonOperator(task_id="rewrite", python_callable=rewrite, inlets=[Asset(table.as_uri(), extra=row)],
                       outlets=[Asset(table.as_uri(), extra=row)])
    assert run_dag(dag, logical_date=START).state == "success"
    (summary,) = [s for s in bundles_of(store) if s.job_name == "tdprov_rows_rewrite.rewrite"]
    complete = events_of(store, summary.run_id)[-1]
    [read], [written] = complete["inputs"], complete["outputs"]
    files = [d["facets"]["tdprov_contentHash"]["rowDigestsFile"] for d in (read, written)]
    assert read["facets"]["version"]["datasetVersion"] == before != written["facets"]["version"]["datasetVersion"]
    assert len(set(files)) == 2 and not [r for r in caplog.records if "two different attachments" in r.getMessage()]
    bundle = read_bundle(open_store(str(store)), summary.run_id)
    assert all(f in bundle.files for f in files)


def test_outlets_whose_names_look_alike_each_keep_their_row_set(tmp_path: Path, store: Path, capsys: pytest.CaptureFixture) -> None:
    """``a/b`` and ``a_b``, and two long names alike in their last 120 characters, are four datasets: each gets its
    own row set in the task's bundle, and ``tdprov contains`` answers for each with a proof that verifies."""
    long = "x" * 130 + ".parquet"
    tables = {tmp_path / "d" / "a" / "b.parquet": 1, tmp_path / "d" / "a_b.parquet": 10,
              tmp_path / "d" / "v1" / long: 100, tmp_path / "d" / "v2" / long: 1000}
    for path in tables:
        path.parent.mkdir(parents=True, exist_ok=True)

    def write() -> None:
        for path, first in tables.items():
            pd.DataFrame({"id": [first, first + 1, first + 2]}).to_parquet(path, index=False)

    row = {"tdprov": {"granularity": "row"}}
    with DAG("tdprov_rows_lookalikes", start_date=START, schedule=None) as dag:
        PythonOperator(task_id="write", python_callable=write, outlets=[Asset(p.as_uri(), extra=row) for p in tables])
    assert run_dag(dag, logical_date=START).state == "success"
    (summary,) = [s for s in bundles_of(store) if s.job_name == "tdprov_rows_lookalikes.write"]
    files = {o["facets"]["tdprov_contentHash"]["rowDigestsFile"] for o in events_of(store, summary.run_id)[-1]["outputs"]}
    assert len(files) == len(tables)
    for path, first in tables.items():
        code, answer, err = contains_cli(hash_path(path).digest, {"id": first + 1}, str(store), capsys)
        assert code == 0 and answer["contained"], (path, err)
        RowProof.from_dict(answer["proof"]).check(answer["proof"]["rowsRoot"])
    assert main(["verify", "--store", str(store)]) == 0
