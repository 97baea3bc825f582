"""OpenLineage events built from digests and Pandera results: valid against the spec, right facets, small."""
from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import pytest

from prov_common import PRODUCER
from prov_common.errors import BadInputError
from prov_common.hashing import FileDigest, hash_dataframe
from prov_common.lineage import (
    DatasetRef,
    ParentRef,
    build_run_event,
    collect_run_context,
    event_to_dict,
    event_to_json,
    parse_event,
)
from prov_common.quality import validate

VALIDATOR_SCRIPT = Path(__file__).resolve().parent / "ol_validate.py"

SCHEMA = pa.DataFrameSchema(
    {"id": pa.Column(int, unique=True), "label": pa.Column(int, pa.Check.isin([0, 1])), "text": pa.Column(str)},
    name="Examples",
)
GOOD = pd.DataFrame({"id": [1, 2, 3], "label": [0, 1, 1], "text": ["a", "b", "c"]})
BAD = pd.DataFrame({"id": [1, 1, 3], "label": [0, 5, 7], "text": ["a", "b", "c"]})


def run_id() -> str:
    return str(uuid.uuid4())


def facets_of(event: dict, side: str, i: int = 0) -> dict:
    return event[side][i]["facets"]


def test_start_complete_fail_all_validate(ol_validator) -> None:
    rid = run_id()
    ctx = collect_run_context(orchestrator="dagster", code_version="v7", owner="team:ml", parameters={"epochs": 3})
    src = DatasetRef.from_uri("s3://raw-bucket/examples.parquet", digest=hash_dataframe(GOOD))
    out = DatasetRef.from_uri("/data/clean.parquet", digest=hash_dataframe(GOOD), quality=validate(GOOD, SCHEMA))
    events = [
        build_run_event("START", run_id=rid, job_name="clean", inputs=[src], context=ctx),
        build_run_event("COMPLETE", run_id=rid, job_name="clean", inputs=[src], outputs=[out], context=ctx),
        build_run_event("fail", run_id=rid, job_name="clean", error=ValueError("boom"), context=ctx),
    ]
    dicts = [event_to_dict(e) for e in events]
    for d in dicts:
        ol_validator.validate_event(d)
        assert parse_event(d) is d
        assert d["producer"] == PRODUCER and d["job"]["namespace"] == "tdprov"
    assert [d["eventType"] for d in dicts] == ["START", "COMPLETE", "FAIL"]
    assert dicts[2]["run"]["facets"]["errorMessage"]["message"] == "ValueError: boom"
    assert dicts[1]["run"]["facets"]["processing_engine"]["name"] == "dagster"
    assert dicts[1]["job"]["facets"]["ownership"]["owners"] == [{"name": "team:ml"}]
    assert dicts[1]["run"]["facets"]["tdprov_runContext"]["codeVersion"] == "v7"


def test_dataset_facets_version_schema_content_hash(ol_validator) -> None:
    digest = hash_dataframe(GOOD)
    model = FileDigest(digest="blake3:" + "e" * 64, bytes=1234)
    event = event_to_dict(
        build_run_event(
            "COMPLETE",
            run_id=run_id(),
            job_name="train",
            inputs=[DatasetRef.from_uri("s3://b/train.parquet", digest=digest, row_digests_file="rows/train.parquet")],
            outputs=[DatasetRef.from_uri("s3://b/model.bin", digest=model)],
        )
    )
    ol_validator.validate_event(event)
    facets = facets_of(event, "inputs")
    assert event["inputs"][0]["namespace"] == "s3://b" and event["inputs"][0]["name"] == "train.parquet"
    assert facets["version"]["datasetVersion"] == digest.digest
    assert [(f["name"], f["type"], f["ordinal_position"]) for f in facets["schema"]["fields"]] == [
        ("id", "int64", 1), ("label", "int64", 2), ("text", "string", 3)
    ]
    content = facets["tdprov_contentHash"]
    assert content["digest"] == digest.digest and content["kind"] == "table" and content["algorithm"] == "blake3"
    assert content["rows"] == 3 and content["columns"] == digest.column_digests()
    assert content["columns"]["label"] != hash_dataframe(BAD).column_digests()["label"]
    assert content["columns"]["text"] == hash_dataframe(BAD).column_digests()["text"]
    assert content["rowDigestsFile"] == "rows/train.parquet" and content["_producer"] == PRODUCER
    out = facets_of(event, "outputs")
    assert out["version"]["datasetVersion"] == model.digest
    assert out["tdprov_contentHash"]["kind"] == "file" and "schema" not in out and "rows" not in out["tdprov_contentHash"]


def test_quality_on_input_is_assertions_facet(ol_validator) -> None:
    quality = validate(BAD, SCHEMA)
    event = event_to_dict(
        build_run_event(
            "COMPLETE", run_id=run_id(), job_name="train",
            inputs=[DatasetRef("file", "/d/in.parquet", digest=hash_dataframe(BAD), quality=quality, severity="error")],
        )
    )
    ol_validator.validate_event(event)
    assertions = event["inputs"][0]["inputFacets"]["dataQualityAssertions"]["assertions"]
    by_key = {(a.get("column"), a["assertion"]): a for a in assertions}
    assert by_key[("label", "isin([0, 1])")]["success"] is False
    assert by_key[("label", "isin([0, 1])")]["actual"] == "2"
    assert by_key[("id", "field_uniqueness")]["success"] is False
    assert by_key[("text", "not_nullable")]["success"] is True
    assert all(a["severity"] == "error" for a in assertions)
    pandera_facet = facets_of(event, "inputs")["tdprov_pandera"]
    assert pandera_facet["passed"] is False and pandera_facet["failureCount"] == quality.failure_count == 4
    assert "test" not in event["run"]["facets"]  # input checks are assertions, not run tests
    assert "dataQualityMetrics" not in facets_of(event, "inputs")


def test_quality_on_output_is_test_metrics_and_pandera_facets(ol_validator) -> None:
    bad, good = validate(BAD, SCHEMA, sample_rows=2), validate(GOOD, SCHEMA)
    event = event_to_dict(
        build_run_event(
            "COMPLETE", run_id=run_id(), job_name="clean",
            outputs=[
                DatasetRef("s3://b", "bad.parquet", digest=hash_dataframe(BAD), quality=bad, samples_file="samples/bad.parquet", severity="warn"),
                DatasetRef("s3://b", "good.parquet", digest=hash_dataframe(GOOD), quality=good),
            ],
        )
    )
    ol_validator.validate_event(event)
    tests = event["run"]["facets"]["test"]["tests"]
    assert len(tests) == len(bad.checks) + len(good.checks)
    failed = {t["name"] for t in tests if t["status"] == "fail"}
    assert failed == {"s3://b/bad.parquet:id:field_uniqueness", "s3://b/bad.parquet:label:isin([0, 1])"}
    assert {t["params"]["dataset"] for t in tests} == {"s3://b/bad.parquet", "s3://b/good.parquet"}
    pandera_facet = facets_of(event, "outputs")["tdprov_pandera"]
    assert pandera_facet["schemaDigest"] == bad.schema_digest and pandera_facet["samplesFile"] == "samples/bad.parquet"
    assert sum(c["failureCount"] for c in pandera_facet["checks"]) == 4
    metrics = facets_of(event, "outputs")["dataQualityMetrics"]
    assert metrics["rowCount"] == 3 and metrics["columnMetrics"]["label"] == {"nullCount": 0, "count": 3}
    assert facets_of(event, "outputs", 1)["tdprov_pandera"]["passed"] is True
    assert "dataQualityAssertions" not in json.dumps(event["outputs"])


def test_failure_samples_never_enter_events() -> None:
    values = [f"PRIVATE-{i}" for i in range(50)]
    df = pd.DataFrame({"id": range(50), "label": [9] * 50, "text": values})
    schema = pa.DataFrameSchema({"text": pa.Column(str, pa.Check.str_startswith("ok"))}, name="T")
    quality = validate(df, schema, raw_samples=True)
    assert quality.failure_count == 50 and "PRIVATE-0" in set(quality.failure_sample["failure_case"])
    ref = DatasetRef("file", "/d/x.parquet", digest=hash_dataframe(df), quality=quality, samples_file="samples/x.parquet")
    text = event_to_json(build_run_event("COMPLETE", run_id=run_id(), job_name="j", inputs=[ref], outputs=[ref]))
    assert "PRIVATE" not in text
    assert len(text) < 20_000


def test_event_stays_small_for_wide_tables() -> None:
    wide = pd.DataFrame({f"c{i}": [1, 2] for i in range(300)})
    schema = pa.DataFrameSchema({f"c{i}": pa.Column(int, pa.Check.ge(0)) for i in range(300)}, name="Wide")
    ref = DatasetRef("file", "/d/wide.parquet", digest=hash_dataframe(wide), quality=validate(wide, schema))
    text = event_to_json(build_run_event("COMPLETE", run_id=run_id(), job_name="j", inputs=[ref], outputs=[ref]))
    assert len(text.encode()) < 1_000_000


def test_parent_with_root_and_explicit_time(ol_validator) -> None:
    parent, root = run_id(), run_id()
    when = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
    event = event_to_dict(
        build_run_event(
            "START", run_id=run_id(), job_namespace="airflow-prod", job_name="dag.task", event_time=when,
            parent=ParentRef(parent, "airflow-prod", "dag", root_run_id=root),
        )
    )
    ol_validator.validate_event(event)
    facet = event["run"]["facets"]["parent"]
    assert facet["run"]["runId"] == parent and facet["job"] == {"namespace": "airflow-prod", "name": "dag"}
    assert facet["root"]["run"]["runId"] == root and event["eventTime"] == "2026-01-31T12:00:00+00:00"
    assert event["job"]["namespace"] == "airflow-prod"


def test_builder_rejects_bad_arguments() -> None:
    with pytest.raises(BadInputError, match="not an OpenLineage run state.*START"):
        build_run_event("DONE", run_id=run_id(), job_name="j")
    with pytest.raises(BadInputError, match="run_id must be a UUID"):
        build_run_event("START", run_id="not-a-uuid", job_name="j")
    with pytest.raises(BadInputError, match="no time zone"):
        build_run_event("START", run_id=run_id(), job_name="j", event_time=datetime(2026, 1, 1))


def test_validator_cli_on_jsonl(tmp_path) -> None:
    quality = validate(BAD, SCHEMA)
    rid = run_id()
    ref = DatasetRef.from_uri("s3://b/x.parquet", digest=hash_dataframe(BAD), quality=quality)
    ctx = collect_run_context(orchestrator="airflow", parameters={"password": "pw"})
    lines = [
        event_to_json(build_run_event(t, run_id=rid, job_name="j", inputs=[ref], outputs=[ref], context=ctx))
        for t in ("START", "RUNNING", "COMPLETE", "FAIL", "ABORT", "OTHER")
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    done = subprocess.run([sys.executable, str(VALIDATOR_SCRIPT), str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "6 valid, 0 invalid" in done.stdout
    # the same validator rejects a broken event: the check can fail
    broken = json.loads(lines[0])
    broken["inputs"][0]["facets"]["version"]["datasetVersion"] = 7
    path.write_text(json.dumps(broken) + "\n")
    done = subprocess.run([sys.executable, str(VALIDATOR_SCRIPT), str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 1 and "datasetVersion" in done.stdout


def test_row_digests_stay_out_of_events() -> None:
    df = pd.DataFrame({"id": range(2000), "label": [0, 1] * 1000, "text": ["t"] * 2000})
    digest = hash_dataframe(df, granularity="row")
    assert digest.row_digests is not None and digest.row_digests.num_rows == 2000
    ref = DatasetRef("file", "/d/rows.parquet", digest=digest, row_digests_file="rows/rows.parquet")
    text = event_to_json(build_run_event("COMPLETE", run_id=run_id(), job_name="j", outputs=[ref]))
    content = json.loads(text)["outputs"][0]["facets"]["tdprov_contentHash"]
    assert content["granularity"] == "row" and content["rowDigestsFile"] == "rows/rows.parquet"
    assert text.count("blake3:") == 1 + 1 + 3  # version, table digest, one per column
    assert len(text) < 3000
