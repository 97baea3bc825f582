"""@task.provenance names every DataFrame after the XCom that carries it, on both sides: mapped tasks (with
their map index), reducers over mapped outputs, lists and dicts of frames and multiple_outputs."""
from __future__ import annotations

import json
from pathlib import Path

from airflow_dags import harness  # noqa: F401  (sets AIRFLOW_HOME before Airflow is imported)
from airflow_dags.harness import airflow_db, store  # noqa: F401 (fixtures)
from airflow_dags.harness import bundles_of, run_dag

import pandas as pd
import pendulum
import pytest
from airflow.sdk import DAG

from prov_airflow.decorators.provenance import provenance_task
from prov_common.audit.engine import run_audit
from prov_common.cli import main
from prov_common.config import Settings
from prov_common.hashing import hash_dataframe
from prov_common.store import open_store

START = pendulum.datetime(2024, 1, 1, tz="UTC")
BASE = pd.DataFrame({"a": [1, 2, 3]})


def _records(store: Path) -> tuple[dict[str, list], dict[str, list]]:
    """Job -> [(inputs, outputs)] of each run, each side a sorted list of (name, version)."""
    runs: dict[str, list] = {}
    for s in bundles_of(store):
        runs.setdefault(s.job_name.split(".", 1)[-1], []).append(
            (sorted((i.name, i.version) for i in s.inputs), sorted((o.name, o.version) for o in s.outputs)))
    return runs


def _audit_errors(store: Path, tmp_path: Path) -> list[str]:
    result = run_audit(open_store(str(store)), Settings.from_env(), full=True, report_dir=tmp_path / "report",
                       progress=False)
    return [f.what for check in result.checks for f in check.errors]


def _digest(frame: pd.DataFrame) -> str:
    return hash_dataframe(frame).digest


def test_mapped_tasks_and_reducers_read_the_xcoms_their_producers_recorded(tmp_path: Path, store: Path) -> None:
    with DAG("tdprov_xmap", start_date=START, schedule=None) as dag:
        @provenance_task
        def produce() -> pd.DataFrame:
            return BASE

        @provenance_task
        def scaled(df: pd.DataFrame, k: int) -> pd.DataFrame:
            return df.assign(c=df.a * k)

        @provenance_task
        def per_frame(df: pd.DataFrame) -> pd.DataFrame:
            return df.assign(e=df.c + 1)

        @provenance_task
        def combine(parts: list) -> pd.DataFrame:
            return pd.concat(list(parts))

        s = scaled.partial(df=produce()).expand(k=[10, 20])
        per_frame.expand(df=s)
        combine(s)
    assert run_dag(dag, logical_date=START).state == "success"
    runs = _records(store)
    made = {k: BASE.assign(c=BASE.a * k) for k in (10, 20)}
    scaled_out = [("/scaled/0/return_value", _digest(made[10])), ("/scaled/1/return_value", _digest(made[20]))]
    assert sorted(o for _, outs in runs["scaled"] for o in outs) == scaled_out
    assert sorted(i for ins, _ in runs["per_frame"] for i in ins) == scaled_out  # per_frame[i] read scaled[i]
    assert sorted(o for _, outs in runs["per_frame"] for o in outs) == [
        ("/per_frame/0/return_value", _digest(made[10].assign(e=made[10].c + 1))),
        ("/per_frame/1/return_value", _digest(made[20].assign(e=made[20].c + 1)))]
    [(combined_in, combined_out)] = runs["combine"]
    assert combined_in == scaled_out  # the reducer read each mapped output
    assert combined_out == [("/combine/return_value", _digest(pd.concat([made[10], made[20]])))]
    assert _audit_errors(store, tmp_path) == []


def test_expanded_arguments_find_their_element_and_lists_of_frames_are_recorded_per_element(
        tmp_path: Path, store: Path) -> None:
    frames = [BASE, BASE * 2, BASE * 3]
    with DAG("tdprov_xlist", start_date=START, schedule=None) as dag:
        @provenance_task
        def produce() -> list:
            return frames

        @provenance_task
        def weigh(df: pd.DataFrame, w: int) -> pd.DataFrame:
            return df * w

        weigh.expand(df=produce(), w=[1, 2])  # 3 x 2 instances: map index i gets frame i // 2
    assert run_dag(dag, logical_date=START).state == "success"
    runs = _records(store)
    [(_, produced)] = runs["produce"]
    assert produced == [(f"/produce/return_value/{i}", _digest(f)) for i, f in enumerate(frames)]
    read = sorted((outs[0][0], ins) for ins, outs in runs["weigh"])
    assert read == [(f"/weigh/{m}/return_value", [(f"/produce/return_value/{m // 2}", _digest(frames[m // 2]))])
                    for m in range(6)]
    assert _audit_errors(store, tmp_path) == []


def test_multiple_outputs_are_recorded_per_key_and_read_by_key(tmp_path: Path, store: Path) -> None:
    data = pd.DataFrame({"a": range(10)})
    train, test = data.iloc[:8], data.iloc[8:]
    with DAG("tdprov_xmulti", start_date=START, schedule=None) as dag:
        @provenance_task(multiple_outputs=True)
        def split() -> dict:
            return {"train": train, "test": test, "note": "not a frame"}

        @provenance_task
        def measure(train: pd.DataFrame, test: pd.DataFrame) -> pd.DataFrame:
            return pd.DataFrame({"score": [len(train) / (len(train) + len(test))]})

        @provenance_task
        def report(parts: dict) -> None:
            assert set(parts) == {"train", "test", "note"}

        parts = split()
        measure(parts["train"], parts["test"])
        report(parts)
    assert run_dag(dag, logical_date=START).state == "success"
    runs = _records(store)
    both = [("/split/test", _digest(test)), ("/split/train", _digest(train))]
    assert runs["split"] == [([], both)]
    assert runs["measure"][0][0] == both
    assert runs["report"] == [(both, [])]
    assert _audit_errors(store, tmp_path) == []


def test_xcom_datasets_are_named_as_the_dag_task_and_keys_are_written(tmp_path: Path, store: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """A dict entry named with '#', '?' or '%' is a dataset of its own (they were read as a URI's fragment, query and
    escapes: 'fold#1' and 'fold#2' were one dataset 'fold'), and the DAG id keeps its case (a host name's would not:
    DAGs 'tdprov_XCase' and 'tdprov_xcase' shared their XCom datasets)."""
    folds = {"fold#1": BASE, "fold#2": BASE * 2, "q?": BASE * 3, "a%2Fb": BASE * 4, "a/b": BASE * 5}
    with DAG("tdprov_XCase", start_date=START, schedule=None) as dag:
        @provenance_task
        def split() -> dict:
            return folds

        @provenance_task
        def count(parts: dict) -> None:
            assert set(parts) == set(folds)

        count(split())
    assert run_dag(dag, logical_date=START).state == "success"
    (made,) = [s for s in bundles_of(store) if s.job_name.endswith(".split")]
    (read,) = [s for s in bundles_of(store) if s.job_name.endswith(".count")]
    written = sorted((o.namespace, o.name, o.version) for o in made.outputs)
    assert written == sorted(("xcom://tdprov_XCase", f"/split/{k}", _digest(f)) for k, f in folds.items())  # multiple_outputs
    assert sorted((i.namespace, i.name, i.version) for i in read.inputs) == written
    assert _audit_errors(store, tmp_path) == []
    assert main(["lineage", "xcom://tdprov_XCase/split/fold#2", "--json", "--store", str(store)]) == 0
    (tree,) = json.loads(capsys.readouterr().out)["lineage"]
    assert (tree["namespace"], tree["dataset"], tree["version"]) == ("xcom://tdprov_XCase", "/split/fold#2", _digest(folds["fold#2"]))
