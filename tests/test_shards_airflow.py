"""Sharded datasets from Airflow ``dag.test()`` with the plugin from its entry point: an outlet ``Asset``
naming a folder (``file:///…/shards/``), an S3 prefix (``s3://bucket/corpus/v3/``) or a glob is recorded
by the listener as one version, the digest ``tdprov hash`` gives it; with snapshots on, each shard is
kept once and ``tdprov checkout`` restores the folder byte for byte."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from airflow_dags import harness  # noqa: F401  (sets AIRFLOW_HOME before Airflow is imported)
from airflow_dags.harness import airflow_db, store  # noqa: F401 (fixtures)
from airflow_dags.harness import asset_events, run_dag

import pendulum
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Asset

from shards_support import (SHARDS, cli, put_shards, row_keys_folders, sealed_outputs, shard_bytes, shard_name,
                            stored_objects, tdprov_hash, write_shards)

START = pendulum.datetime(2024, 1, 1, tz="UTC")


def _write_dag(dag_id: str, write: Any, *, inlets: list[Any] = (), outlets: list[Any]) -> Any:
    with DAG(dag_id, start_date=START, schedule=None) as dag:
        PythonOperator(task_id="write", python_callable=write, inlets=list(inlets), outlets=outlets)
    return dag


def _outputs(store_uri: str, dag_id: str) -> list[dict[str, Any]]:
    return [o for o in sealed_outputs(store_uri) if o["event"]["job"]["name"] == f"{dag_id}.write"]


def test_folder_outlet_is_one_version_and_checks_out(tmp_path: Path, store: Path, capsys: Any, ol_validator: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__TDPROV__DASK_SCHEDULER", "none")
    folder = tmp_path / "shards"
    outlet = Asset(folder.as_uri() + "/", extra={"tdprov": {"snapshot": True}})
    dag = _write_dag("tdprov_shards_folder", lambda: write_shards(folder), outlets=[outlet])
    assert run_dag(dag, logical_date=START).state == "success"
    first = tdprov_hash(str(folder), capsys)["digest"]
    (out,) = _outputs(str(store), "tdprov_shards_folder")
    facet = out["facets"]["tdprov_contentHash"]
    assert (out["facets"]["version"]["datasetVersion"], facet["kind"], facet["shardCount"]) == (first, "shards", SHARDS)
    ol_validator.validate_event(out["event"])
    extra = asset_events("tdprov_shards_folder")[outlet.uri]["extra"]["tdprov"]  # what Airflow's asset views show
    assert (extra["digest"], extra["shards"], extra["rows"]) == (first, SHARDS, facet["rows"])
    assert len(stored_objects(str(store))) == SHARDS
    old_bytes = shard_bytes(folder)

    dag = _write_dag("tdprov_shards_folder", lambda: write_shards(folder, {1: 7}), outlets=[outlet])
    assert run_dag(dag, logical_date=START.add(days=1)).state == "success"
    second = tdprov_hash(str(folder), capsys)["digest"]
    versions = [o["facets"]["version"]["datasetVersion"] for o in _outputs(str(store), "tdprov_shards_folder")]
    assert second != first and versions == [first, second]
    assert len(stored_objects(str(store))) == SHARDS + 1  # unchanged shards are stored once

    old = tmp_path / "old"
    assert cli(["checkout", first, "-o", str(old), "--store", str(store)], capsys)[0] == 0
    assert shard_bytes(old) == old_bytes
    code, text = cli(["hash", "--diff", str(old), str(folder)], capsys)
    assert code == 1 and [line.strip() for line in text.splitlines() if "shard:" in line] == [
        f"changed shard: {shard_name(1)} (columns: text)"]
    code, lineage = cli(["lineage", folder.as_uri(), "--store", str(store)], capsys)
    assert code == 0 and second in lineage and first not in lineage

    new_bytes = shard_bytes(folder)
    shutil.rmtree(folder)
    assert cli(["checkout", second, "-o", str(folder), "--store", str(store)], capsys)[0] == 0
    assert shard_bytes(folder) == new_bytes and len(new_bytes) == SHARDS


def test_s3_prefix_inlet_and_outlet(s3_store_uri: str, s3_server: Any, tmp_path: Path, capsys: Any,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__TDPROV__STORE", s3_store_uri)
    monkeypatch.setenv("AIRFLOW__TDPROV__SNAPSHOT", "True")
    monkeypatch.setenv("TDPROV_DASK_SCHEDULER", "none")
    client, bucket = s3_server.client(), s3_server.create_bucket()
    put_shards(client, bucket, "corpus/v2/", folder=tmp_path / "v2")
    source = f"s3://{bucket}/corpus/v2/"
    from prov_dagster import ProvenanceResource  # a Dagster step records the prefix it wrote, typed with its "/"

    wrote = ProvenanceResource(store=s3_store_uri, snapshot=False).record(outputs=[source], job_name="write_v2")
    assert list(wrote.digests) == ["corpus/v2"]
    target = f"s3://{bucket}/corpus/v3/"  # Airflow keeps this URI without its "/"
    dag = _write_dag("tdprov_shards_s3", lambda: put_shards(client, bucket, "corpus/v3/", {3: 1}, folder=tmp_path / "v3"),
                     inlets=[Asset(source)], outlets=[Asset(target)])
    assert run_dag(dag, logical_date=START).state == "success"
    (out,) = _outputs(s3_store_uri, "tdprov_shards_s3")
    digest = tdprov_hash(target, capsys)["digest"]
    assert out["facets"]["version"]["datasetVersion"] == digest and out["name"] == "corpus/v3"
    (used,) = out["event"]["inputs"]
    assert used["facets"]["version"]["datasetVersion"] == tdprov_hash(source, capsys)["digest"] != digest
    assert len(stored_objects(s3_store_uri)) == SHARDS  # the outlet only (inlets are not snapshotted)
    code, lineage = cli(["lineage", target, "--store", s3_store_uri], capsys)  # typed with its "/"
    assert code == 0 and digest in lineage and tdprov_hash(source, capsys)["digest"] in lineage
    assert "generated by write_v2" in lineage and "origin" not in lineage  # one dataset, whichever wrote or read it

    for key in [k["Key"] for k in client.list_objects_v2(Bucket=bucket, Prefix="corpus/v3/")["Contents"]]:
        client.delete_object(Bucket=bucket, Key=key)
    restored = tmp_path / "restored"
    assert cli(["checkout", digest, "-o", str(restored), "--store", s3_store_uri], capsys)[0] == 0
    assert shard_bytes(restored) == shard_bytes(tmp_path / "v3")
    code, text = cli(["hash", "--diff", source, str(restored)], capsys)
    assert code == 1 and f"changed shard: {shard_name(3)} (columns: text)" in text


def test_glob_outlet_and_bad_scheduler_never_fail_the_task(tmp_path: Path, store: Path, capsys: Any,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "shards"
    pattern = folder.as_uri() + "/part-*.parquet"
    monkeypatch.setenv("AIRFLOW__TDPROV__DASK_SCHEDULER", "none")
    dag = _write_dag("tdprov_shards_glob", lambda: write_shards(folder), outlets=[Asset(pattern)])
    assert run_dag(dag, logical_date=START).state == "success"
    (out,) = _outputs(str(store), "tdprov_shards_glob")
    assert out["facets"]["version"]["datasetVersion"] == tdprov_hash(f"{folder}/part-*.parquet", capsys)["digest"]

    monkeypatch.setenv("AIRFLOW__TDPROV__DASK_SCHEDULER", "no-scheme-host")  # wins over the environment's "none"
    monkeypatch.setenv("TDPROV_DASK_SCHEDULER", "none")
    assert run_dag(dag, logical_date=START.add(days=1)).state == "success"
    outs = _outputs(str(store), "tdprov_shards_glob")
    assert len(outs) == 2 and "version" not in outs[1]["facets"]  # recorded, without a digest


def test_an_unreachable_scheduler_is_named_and_the_outlet_hashed_on_this_machine(
        tmp_path: Path, store: Path, capsys: Any, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A scheduler that takes no connection never leaves the outlet without its digest: it is hashed here, and the
    task's log names the option, the address and the fix."""
    from prov_common.hashing import shard_engine

    monkeypatch.setattr(shard_engine, "CONNECT_TIMEOUT", "1s")  # the connection is refused: no need to wait 20 s
    monkeypatch.setenv("AIRFLOW__TDPROV__DASK_SCHEDULER", "tcp://127.0.0.1:1")
    monkeypatch.setenv("AIRFLOW__TDPROV__HASH_TIMEOUT", "120")
    folder = tmp_path / "shards"
    dag = _write_dag("tdprov_shards_unreachable", lambda: write_shards(folder), outlets=[Asset(folder.as_uri() + "/")])
    with caplog.at_level("WARNING", logger="prov_airflow.capture"):
        assert run_dag(dag, logical_date=START).state == "success"
    said = caplog.text
    (out,) = _outputs(str(store), "tdprov_shards_unreachable")
    assert out["facets"]["version"]["datasetVersion"] == tdprov_hash(str(folder), capsys)["digest"]
    assert "[tdprov] dask_scheduler 'tcp://127.0.0.1:1' cannot be reached" in said and "hashed on this machine" in said


def test_the_dask_spill_option_reaches_the_hashing_of_a_row_granularity_outlet(
        tmp_path: Path, store: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """``[tdprov] dask_spill`` (over TDPROV_DASK_SPILL) is where the workers of a cluster reached by address put the
    row-set keys of a row-granularity outlet: one that is no folder is named, with the option, and the task goes on."""
    monkeypatch.setenv("AIRFLOW__TDPROV__DASK_SCHEDULER", "tcp://127.0.0.1:1")
    monkeypatch.setenv("AIRFLOW__TDPROV__DASK_SPILL", str(tmp_path / "missing"))
    monkeypatch.setenv("TDPROV_DASK_SPILL", str(tmp_path))  # a folder: the option wins over it
    folder = tmp_path / "shards"
    dag = _write_dag("tdprov_shards_spill", lambda: write_shards(folder),
                     outlets=[Asset(folder.as_uri() + "/", extra={"tdprov": {"granularity": "row"}})])
    with caplog.at_level("WARNING", logger="prov_airflow"):
        assert run_dag(dag, logical_date=START).state == "success"
    assert f"[tdprov] dask_spill '{tmp_path / 'missing'}' is not a folder on this machine" in caplog.text, caplog.text


def test_the_spool_option_is_where_the_row_set_keys_of_an_outlet_go(tmp_path: Path, store: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """``[tdprov] spool`` (the folder the listener's transport spools in, over TDPROV_SPOOL) holds the hidden folder of
    a row-granularity outlet's row-set keys, gone once the task is done."""
    disk = tmp_path / "disk" / "spool"
    monkeypatch.setenv("AIRFLOW__TDPROV__DASK_SCHEDULER", "none")
    monkeypatch.setenv("AIRFLOW__TDPROV__SPOOL", str(disk))
    monkeypatch.setenv("TDPROV_SPOOL", str(tmp_path / "env-spool"))
    made = row_keys_folders(monkeypatch)
    folder = tmp_path / "shards"
    dag = _write_dag("tdprov_shards_spool", lambda: write_shards(folder),
                     outlets=[Asset(folder.as_uri() + "/", extra={"tdprov": {"granularity": "row"}})])
    assert run_dag(dag, logical_date=START).state == "success"
    assert [p.parent for p in made] == [disk] and not made[0].exists()
    assert not (tmp_path / "env-spool").exists()
    [out] = _outputs(str(store), "tdprov_shards_spool")
    assert out["facets"]["tdprov_contentHash"]["granularity"] == "row"  # a row set was built of them


def test_max_bytes_counts_all_shards_together(tmp_path: Path, store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "shards"
    write_shards(folder)
    sizes = [(folder / shard_name(i)).stat().st_size for i in range(SHARDS)]
    monkeypatch.setenv("AIRFLOW__TDPROV__MAX_BYTES", str(max(sizes) + 1))  # every shard fits, the dataset does not
    dag = _write_dag("tdprov_shards_large", lambda: write_shards(folder), outlets=[Asset(folder.as_uri() + "/")])
    assert run_dag(dag, logical_date=START).state == "success"
    (out,) = _outputs(str(store), "tdprov_shards_large")
    assert "version" not in out["facets"] and "tdprov_contentHash" not in out["facets"]
    monkeypatch.setenv("AIRFLOW__TDPROV__MAX_BYTES", str(sum(sizes)))
    assert run_dag(dag, logical_date=START.add(days=1)).state == "success"
    assert "version" in _outputs(str(store), "tdprov_shards_large")[1]["facets"]
