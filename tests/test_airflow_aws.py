"""An s3:// store reached through the Amazon provider's AwsBaseHook session, never through os.environ."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from airflow_dags import harness  # noqa: F401  (sets AIRFLOW_HOME before Airflow is imported)
from airflow_dags.harness import airflow_db  # noqa: F401 (fixtures)
from airflow_dags.harness import run_dag

import pandera.pandas as pa
import pendulum
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Asset

from prov_airflow.operators.pandera import PanderaValidationOperator
from prov_common.hashing import hash_path

START = pendulum.datetime(2024, 1, 1, tz="UTC")
IN_SCHEMA = pa.DataFrameSchema({"a": pa.Column(int), "b": pa.Column(str)}, name="In")
SECRET = "conn-only-secret-7f3a"  # appears in the AWS connection and nowhere else


def _aws_environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith("AWS_")}


class _EnvironmentWatch:
    """Looks at the process environment every millisecond and keeps every AWS_* variable that changed."""

    def __init__(self) -> None:
        import threading

        self.before, self.changed, self._stop = _aws_environ(), [], threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.wait(0.001):
            now = _aws_environ()
            self.changed += [k for k in set(now) | set(self.before)
                             if now.get(k) != self.before.get(k) and k not in self.changed]

    def __enter__(self) -> "_EnvironmentWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture()
def connections(s3_server, monkeypatch: pytest.MonkeyPatch) -> dict:
    """A tdprov connection on a fresh bucket whose AWS connection names the S3 endpoint; the process
    environment does not point at that endpoint (it would reach the real AWS)."""
    bucket = s3_server.create_bucket()
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ambient-key-not-used")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "ambient-secret-not-used")
    monkeypatch.setenv("AIRFLOW_CONN_AWS_MOTO", json.dumps({
        "conn_type": "aws", "login": "moto-key", "password": SECRET,
        "extra": {"endpoint_url": s3_server.endpoint, "region_name": "us-east-1"}}))
    monkeypatch.setenv("AIRFLOW_CONN_TDPROV_S3", json.dumps({
        "conn_type": "tdprov", "host": f"s3://{bucket}/lineage", "extra": {"aws_conn_id": "aws_moto"}}))
    monkeypatch.setenv("AIRFLOW__TDPROV__CONN_ID", "tdprov_s3")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    return {"bucket": bucket, "client": s3_server.client()}


def test_bundles_reach_the_bucket_through_the_aws_connection(tmp_path: Path, connections: dict) -> None:
    out, seen = tmp_path / "out.csv", {}
    before = _aws_environ()

    def write() -> None:
        out.write_text("a,b\n1,x\n")
        seen["during"] = _aws_environ()

    with DAG("tdprov_aws_session", start_date=START, schedule=None) as dag:
        PythonOperator(task_id="write", python_callable=write, outlets=[Asset(out.as_uri())])
    with _EnvironmentWatch() as watch:  # while the bundles are written to S3
        assert run_dag(dag, logical_date=START).state == "success"

    assert watch.changed == [] and seen["during"] == before and _aws_environ() == before  # nothing copied in
    assert not any(SECRET in value for key, value in os.environ.items() if key != "AIRFLOW_CONN_AWS_MOTO")
    manifests = _manifests(connections)
    assert len(manifests) == 2, manifests  # the task run's bundle and the DAG run's
    task = next(m for m in manifests if m["job"]["name"] == "tdprov_aws_session.write")
    assert [o["version"] for o in task["outputs"]] == [hash_path(out).digest]


def _manifests(connections: dict) -> list[dict]:
    """The manifests of the sealed bundles in the connection's bucket."""
    client, bucket = connections["client"], connections["bucket"]
    keys = [o["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="lineage/")
            for o in page.get("Contents", [])]
    return [json.loads(client.get_object(Bucket=bucket, Key=k.replace("statement.dsse.json", "manifest.json"))["Body"].read())
            for k in keys if k.endswith("/statement.dsse.json")]


def test_s3_inlets_are_read_through_the_data_aws_connection(tmp_path: Path, connections: dict,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """``[tdprov] data_aws_conn_id``: the listener hashes s3:// inlets (an object and a prefix of shards)
    through that AWS connection; without it, through the AWS environment, which here reaches nothing."""
    from conftest import free_port

    from prov_common.hashing.shards import hash_shards

    client, bucket = connections["client"], connections["bucket"]
    table, corpus = tmp_path / "in.csv", tmp_path / "corpus"
    table.write_text("a,b\n1,x\n2,y\n")
    corpus.mkdir()
    for i in range(3):
        (corpus / f"part-{i}.csv").write_text(f"a,b\n{i},x\n")
        client.put_object(Bucket=bucket, Key=f"data/corpus/part-{i}.csv", Body=(corpus / f"part-{i}.csv").read_bytes())
    client.put_object(Bucket=bucket, Key="data/in.csv", Body=table.read_bytes())
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{free_port()}")  # the environment's endpoint: nothing listens
    inlets = [Asset(f"s3://{bucket}/data/in.csv"), Asset(f"s3://{bucket}/data/corpus/")]

    def inputs_recorded(dag_id: str, validate: bool = False) -> list:
        with DAG(dag_id, start_date=START, schedule=None) as dag:
            PythonOperator(task_id="read", python_callable=lambda: None, inlets=inlets)
            if validate:  # the operator reads its s3:// source through the same connection
                PanderaValidationOperator(task_id="check", source=f"s3://{bucket}/data/in.csv", schema=IN_SCHEMA)
        assert run_dag(dag, logical_date=START).state == "success"  # never failed by provenance
        task = next(m for m in _manifests(connections) if m["job"]["name"] == f"{dag_id}.read")
        if validate:
            check = next(m for m in _manifests(connections) if m["job"]["name"] == f"{dag_id}.check")
            assert [i["version"] for i in check["inputs"]] == [hash_path(table).digest]
            assert check["inputs"][0]["digest"]["sha256"] == hashlib.sha256(table.read_bytes()).hexdigest()  # the object's
        return [i.get("version") for i in sorted(task["inputs"], key=lambda i: not i["name"].endswith("in.csv"))]  # object first

    assert inputs_recorded("tdprov_data_environment") == [None, None]  # recorded, without a content hash
    monkeypatch.setenv("AIRFLOW__TDPROV__DATA_AWS_CONN_ID", "aws_moto")
    before = _aws_environ()
    with _EnvironmentWatch() as watch:
        versions = inputs_recorded("tdprov_data_connection", validate=True)
    assert versions == [hash_path(table).digest, hash_shards(str(corpus), cache=False, scheduler="none").digest]
    assert watch.changed == [] and _aws_environ() == before  # the connection's keys never went into os.environ
    monkeypatch.setenv("AIRFLOW__TDPROV__DATA_AWS_CONN_ID", "no_such_connection")
    assert inputs_recorded("tdprov_data_no_connection") == [None, None]


def test_hook_store_uses_the_connection_and_reports_a_wrong_endpoint(connections: dict,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from conftest import free_port

    from prov_airflow.hooks.provenance import ProvenanceHook

    before = _aws_environ()
    hook = ProvenanceHook("tdprov_s3")
    store = hook.get_conn()
    store.put("probe/one", b"1")
    assert connections["client"].get_object(Bucket=connections["bucket"], Key="lineage/probe/one")["Body"].read() == b"1"
    assert hook.test_connection()[0] is True and _aws_environ() == before
    monkeypatch.setenv("AIRFLOW_CONN_AWS_MOTO", json.dumps({
        "conn_type": "aws", "login": "moto-key", "password": SECRET,
        "extra": {"endpoint_url": f"http://127.0.0.1:{free_port()}", "region_name": "us-east-1"}}))
    ok, message = ProvenanceHook("tdprov_s3").test_connection()
    assert ok is False and "127.0.0.1" in message


@pytest.mark.parametrize("made_for", ["store", "data"])
def test_clients_of_the_aws_connection_read_timestamps_with_tdprovs_parser(made_for: str, connections: dict,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The store's S3 client from the tdprov connection's aws_conn_id, and the reader of s3:// data from
    [tdprov] data_aws_conn_id, read their answers' timestamps as fresh_s3_client's do: the same datetimes as a
    plain client, without botocore's default parser."""
    from test_s3_timestamps import reads_botocores_timestamps_with_ours

    from prov_airflow.capture import data_clients
    from prov_airflow.hooks.provenance import ProvenanceHook
    from prov_airflow.settings import ListenerLimits

    if made_for == "store":
        make_client = lambda: ProvenanceHook("tdprov_s3").get_conn().client  # noqa: E731
    else:
        make_client = data_clients(ListenerLimits(data_aws_conn_id="aws_moto"))
    reads_botocores_timestamps_with_ours(make_client, connections["client"], connections["bucket"], monkeypatch)


def test_verify_mode_names_the_delete_marker_hiding_a_missing_file(tmp_path: Path, connections: dict) -> None:
    """On a versioned bucket, a bundle's prov.json deleted without a version id: 'tdprov verify' named the marker that
    hides it, but the audit operator's verify mode said only that it is missing. Its report and its error name the
    marker, the version that removing it restores and the command that removes it, as 'tdprov verify' does."""
    from prov_airflow.operators.audit import ProvenanceAuditOperator

    out = tmp_path / "out.csv"
    with DAG("tdprov_aws_marker", start_date=START, schedule=None) as dag:
        PythonOperator(task_id="write", python_callable=lambda: out.write_text("a,b\n1,x\n"), outlets=[Asset(out.as_uri())])
    assert run_dag(dag, logical_date=START).state == "success"
    client, bucket = connections["client"], connections["bucket"]
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    listed = [o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="lineage/bundles/")["Contents"]]
    full = next(k for k in listed if k.endswith("/prov.json"))
    key = full.removeprefix("lineage/")
    marker = client.delete_object(Bucket=bucket, Key=full)["VersionId"]
    kept = client.list_object_versions(Bucket=bucket, Prefix=full)["Versions"][0]["VersionId"]
    removal = (f"a delete marker (version id '{marker}') hides the object on this versioned bucket: remove the marker, "
               f"which makes version '{kept}' the object again, with its sealed bytes and ETag; then verify again. The marker is "
               f"removed by: aws s3api delete-object --bucket {bucket} --key {full} --version-id {marker}")

    report = tmp_path / "verify.json"
    with DAG("tdprov_aws_marker_verify", start_date=START, schedule=None) as dag:
        verify = ProvenanceAuditOperator(task_id="verify", mode="verify", report_dir=str(report), tdprov_conn_id="tdprov_s3")
    assert run_dag(dag, logical_date=START).state == "failed"
    assert [(f["key"], f["problem"], f["reason"]) for f in json.loads(report.read_text())["findings"]] == [
        (key, "missing", f"the object is listed but not in the store; {removal}")]
    with pytest.raises(Exception, match="tdprov verify found 1 finding") as raised:
        verify.execute({})
    assert f"{key}: missing: the object is listed but not in the store; {removal} (report: " in str(raised.value)
