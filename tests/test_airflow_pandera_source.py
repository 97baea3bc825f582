"""PanderaValidationOperator(source=...) validates and records the version of the file the writer recorded; its
failure is a failure of that version in the audit and in the training-data record alike."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_dags import harness  # noqa: F401  (sets AIRFLOW_HOME before Airflow is imported)
from airflow_dags.harness import airflow_db, store  # noqa: F401 (fixtures)
from airflow_dags.harness import bundles_of, events_of, run_dag

import pendulum
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Asset

from prov_airflow.operators.pandera import PanderaValidationOperator
from prov_common.audit.engine import run_audit
from prov_common.cli import main
from prov_common.config import Settings
from prov_common.errors import BadInputError
from prov_common.hashing import hash_path
from prov_common.store import open_store
from test_records_standards import _record

START = pendulum.datetime(2024, 1, 1, tz="UTC")
# what pandas' own JSON reader types differently from the canonical (Arrow) reader: a zero-padded id
# string becomes an integer, 1.0 an int, a date string a timestamp
EVENTS = ('{"user_id": "007", "score": 1.0, "day": "2024-01-01", "n": 1}\n'
          '{"user_id": "042", "score": null, "day": "2024-01-02", "n": null}\n')


def test_jsonl_source_is_validated_as_the_version_its_writer_recorded(tmp_path: Path, store: Path) -> None:
    events = tmp_path / "events.jsonl"
    row = {"tdprov": {"granularity": "row"}}
    with DAG("tdprov_pandera_jsonl", start_date=START, schedule=None) as dag:
        write = PythonOperator(task_id="write", python_callable=events.write_text, op_args=[EVENTS],
                               outlets=[Asset(events.as_uri(), extra=row)])
        check = PanderaValidationOperator(task_id="check", source=str(events), schema="airflow_dags.schemas:EVENTS",
                                          granularity="row")
        write >> check
    assert run_dag(dag, logical_date=START).state == "success"
    by_job = {s.job_name: s for s in bundles_of(store)}
    written = events_of(store, by_job["tdprov_pandera_jsonl.write"].run_id)[-1]["outputs"][0]
    checked = events_of(store, by_job["tdprov_pandera_jsonl.check"].run_id)[-1]["inputs"][0]
    assert checked["name"] == written["name"] == str(events)
    version = written["facets"]["version"]["datasetVersion"]
    assert checked["facets"]["version"]["datasetVersion"] == version == hash_path(events).digest
    rows_root = written["facets"]["tdprov_contentHash"]["rowsRoot"]
    assert checked["facets"]["tdprov_contentHash"]["rowsRoot"] == rows_root
    assert checked["facets"]["tdprov_pandera"]["passed"] is True  # "007" is the string the file holds
    result = run_audit(open_store(str(store)), Settings.from_env(), full=True, report_dir=tmp_path / "report",
                       progress=False)
    assert [f.what for c in result.checks for f in c.errors] == []



def test_the_statement_names_the_bytes_of_the_file_the_operator_validated(tmp_path: Path, store: Path) -> None:
    """A generic in-toto verifier matches the file the operator read by its SHA-256 alone: the input of the
    validating task carries ``sha256`` of the file's bytes beside the table digest, at column and row granularity
    (it carried only ``tdprovTable-blake3``)."""
    import pandas as pd

    from intoto_support import file_sha256, verified_statement
    from prov_common.bundle import read_bundle
    from prov_common.signing import signing_key_from_settings

    files = {"check_parquet": tmp_path / "raw.parquet", "check_csv": tmp_path / "raw.csv",
             "check_jsonl": tmp_path / "events.jsonl"}
    pd.DataFrame({"x": [3, 1, 2]}).to_parquet(files["check_parquet"], index=False)
    files["check_csv"].write_text("x\n3\n1\n2\n")
    files["check_jsonl"].write_text(EVENTS)
    with DAG("tdprov_pandera_sha256", start_date=START, schedule=None) as dag:
        for task_id, path in files.items():
            PanderaValidationOperator(task_id=task_id, source=str(path), granularity="row" if "csv" in task_id else "column",
                                      schema="airflow_dags.schemas:" + ("EVENTS" if "jsonl" in task_id else "RAW"))
    assert run_dag(dag, logical_date=START).state == "success"

    public = signing_key_from_settings(Settings.from_env()).public.to_pem()
    opened = open_store(str(store))
    checks = {s.job_name.rsplit(".", 1)[1]: s.run_id for s in bundles_of(store) if s.job_name.count(".")}  # not the DAG's
    assert set(checks) == set(files)
    for task_id, path in files.items():
        [read] = verified_statement(read_bundle(opened, checks[task_id]).statement_bytes, public)["predicate"]["inputs"]
        assert read["digest"] == {"sha256": file_sha256(path), "tdprovTable-blake3": hash_path(path).digest.split(":", 1)[1]}


class _RewritingCheck(PanderaValidationOperator):
    """Rewrites its source before validating it: the file the task read at its start is not the one it validated."""

    def execute(self, context):  # type: ignore[no-untyped-def]
        Path(self.source).write_text("x\n5\n6\n7\n")
        return super().execute(context)


def test_a_source_changed_after_the_task_started_is_validated_as_the_version_it_read(tmp_path: Path, store: Path) -> None:
    """The task's inlet was hashed at its start; the operator validated the file after it changed. The event named
    one input: the start's version with the validation of the other (the validated version was dropped). Each
    version is an input of its own now, the result on the one validated."""
    raw = tmp_path / "raw.csv"
    raw.write_text("x\n3\n1\n2\n")
    before = hash_path(raw).digest
    with DAG("tdprov_pandera_changed", start_date=START, schedule=None) as dag:
        _RewritingCheck(task_id="check", source=str(raw), schema="airflow_dags.schemas:RAW", inlets=[Asset(raw.as_uri())])
    assert run_dag(dag, logical_date=START).state == "success"
    after = hash_path(raw).digest
    [check] = [s for s in bundles_of(store) if s.job_name.endswith(".check")]
    inputs = {d["facets"]["version"]["datasetVersion"]: d["facets"] for d in events_of(store, check.run_id)[-1]["inputs"]}
    assert set(inputs) == {before, after}, inputs
    assert "tdprov_pandera" not in inputs[before] and inputs[after]["tdprov_pandera"]["passed"] is True, inputs


def test_refs_of_one_dataset_merge_by_version() -> None:
    """A ref of no version fills in the one version it meets (and takes its version); two versions stay two refs,
    each with what was recorded of it."""
    from prov_airflow.events import merge_refs
    from prov_common.hashing import hash_bytes
    from prov_common.lineage.datasets import DatasetRef

    a, b = hash_bytes(b"a"), hash_bytes(b"b")
    merged = merge_refs([DatasetRef("file", "/x", a)], [DatasetRef("file", "/x", facets={"k": 1}), DatasetRef("file", "/x", b)])
    assert [(r.digest, r.facets) for r in merged] == [(a, {"k": 1}), (b, {})]
    assert [r.digest for r in merge_refs([DatasetRef("file", "/x")], [DatasetRef("file", "/x", a), DatasetRef("file", "/x", b)])] == [a, b]
    kept = merge_refs([DatasetRef("file", "/x", a), DatasetRef("file", "/y")], [DatasetRef("file", "/x", a, facets={"k": 1})])
    assert [(r.name, r.facets) for r in kept] == [("/x", {"k": 1}), ("/y", {})]  # merged in its place


def test_a_jsonl_source_the_hash_refuses_is_refused_by_the_operator_too(
        tmp_path: Path, store: Path, capfd: pytest.CaptureFixture) -> None:
    """``NaN`` is not JSON: the hash of the writer's outlet refuses the file, so the operator does not validate it
    as a version of its own (``pyarrow.json`` alone reads it as a float)."""
    events = tmp_path / "events.jsonl"
    events.write_text(EVENTS.replace('"score": null', '"score": NaN'))
    with pytest.raises(BadInputError, match=r"line 2: not valid JSON \(NaN is not a JSON number\)"):
        hash_path(events)
    with DAG("tdprov_pandera_jsonl_nan", start_date=START, schedule=None) as dag:
        PanderaValidationOperator(task_id="check", source=str(events), schema="airflow_dags.schemas:EVENTS")
    capfd.readouterr()
    run = run_dag(dag, logical_date=START)
    assert {ti.task_id: ti.state for ti in run.get_task_instances()} == {"check": "failed"}
    refusal = f"cannot read {str(events)!r} as jsonl: line 2: not valid JSON (NaN is not a JSON number)"
    said = "".join(capfd.readouterr())  # the task's log
    assert refusal in said and "Fix: write a missing value as null" in said, said



BAD_EVENTS = EVENTS.replace('"042"', '"42"')  # a user id of two characters: the schema's str_length(3, 3) fails


def test_a_failed_validation_of_a_read_version_is_in_its_record_as_in_the_audit(
        tmp_path: Path, store: Path, capsys: pytest.CaptureFixture) -> None:
    """The task that wrote the file recorded no validation; the operator that read it recorded the failure. The audit's
    Article 10 names it; the records of the file and of what was trained on it said the lineage was complete."""
    from prov_airflow.decorators.provenance import provenance_task

    events, model = tmp_path / "events.jsonl", tmp_path / "model.bin"
    with DAG("tdprov_pandera_reader", start_date=START, schedule=None) as dag:
        write = PythonOperator(task_id="write", python_callable=events.write_text, op_args=[BAD_EVENTS],
                               outlets=[Asset(events.as_uri())])
        check = PanderaValidationOperator(task_id="check", source=str(events), schema="airflow_dags.schemas:EVENTS",
                                          on_failure="warn")

        @provenance_task(training=True, inlets=[Asset(events.as_uri())], outlets=[Asset(model.as_uri())])
        def fit() -> None:
            model.write_bytes(events.read_bytes()[::-1])

        write >> check >> fit()
    assert run_dag(dag, logical_date=START).state == "success"
    assert main(["source", "add", str(events), "--name", "app-events", "--license", "CC0-1.0", "--issuer", "App Inc",
                 "--store", str(store)]) == 0
    run_audit(open_store(str(store)), Settings.from_env(), full=True, report_dir=tmp_path / "report", progress=False)
    (section,) = json.loads((tmp_path / "report" / "report.json").read_text())["trainingData"]
    audited = section["article10"]["qualityChecks"]
    (failed,) = [q for q in audited if not q["passed"]]
    assert (failed["dataset"], failed["schema"], failed["failureCount"]) == (str(events), "events", 1)
    (gap,) = [g for g in section["article10"]["knownGaps"] if "failed Pandera schema" in g]
    sentence = gap.split("; ", 1)[0] + ")"  # the audit adds its fix inside the parentheses
    capsys.readouterr()
    for target in (events, model):
        dta = _record(str(store), str(target), "dta", capsys)
        assert dta["qualityChecks"] == audited
        assert dta["lineageComplete"] is False
        assert [g for g in dta["knownGaps"] if "failed Pandera schema" in g] == [sentence]


def test_a_training_task_that_validated_its_input_and_went_on_is_named_as_using_the_failing_data(
        tmp_path: Path, store: Path) -> None:
    """A task that validates what it reads and goes on when it fails (``input_schemas`` with ``on_failure="warn"``)
    is not only the checker: it trained on the failing data, and the audit names it as having used it (it said
    "no recorded run used it"). An operator that only validates stays the checker."""
    import pandas as pd

    from prov_airflow.decorators.provenance import provenance_task
    from prov_common.audit.model import CHECK_QUALITY, NOTE

    @provenance_task
    def load() -> pd.DataFrame:
        return pd.DataFrame({"x": [-1, 2, 3]})  # one negative: the schema's ge(0) fails

    @provenance_task(training=True, input_schemas={"frame": "airflow_dags.schemas:RAW"}, on_failure="warn")
    def fit(frame: pd.DataFrame) -> pd.DataFrame:
        return frame * 2

    @provenance_task(input_schemas={"frame": "airflow_dags.schemas:RAW"}, on_failure="fail")
    def refuse(frame: pd.DataFrame) -> pd.DataFrame:  # never runs: the failed validation fails the task first
        return frame

    with DAG("tdprov_pandera_train_anyway", start_date=START, schedule=None) as dag:
        frame = load()
        fit(frame)
        refuse(frame)
    run = run_dag(dag, logical_date=START)
    assert {ti.task_id: ti.state for ti in run.get_task_instances()} == {"load": "success", "fit": "success", "refuse": "failed"}
    result = run_audit(open_store(str(store)), Settings.from_env(), full=True, report_dir=tmp_path / "report", progress=False)
    quality = result.check(CHECK_QUALITY)
    (used,) = quality.errors
    assert "tdprov_pandera_train_anyway.fit)" in used.what and "failed Pandera schema raw" in used.what, used.what
    assert not [f for f in quality.findings if f.severity == NOTE], [f.what for f in quality.findings]
    (row,) = [r for r in result.quality_rows if r.failed]
    assert used.run_id in row.recorded_by and row.used_by == [used.run_id] and len(row.recorded_by) == 2  # fit and refuse checked it
