"""Snapshots are recorded and audited: a Dagster asset written with snapshots on records the copy it kept in its
``tdprov_contentHash`` facet (before the event is sent), and ``tdprov audit`` finds a recorded copy that was deleted
from ``objects/`` or changed in size (one listing), and under ``--full`` one whose bytes were changed in place."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from dagster import DagsterInstance, asset, materialize

from prov_common.audit.model import CHECK_SNAPSHOTS
from prov_common.bundle import list_bundles, read_bundle
from prov_common.bundle.events import parse_events_jsonl
from prov_common.cli import main as cli_main
from prov_common.store import open_store
from prov_common.store.snapshots import index_key
from prov_dagster import ProvenanceIOManager, ProvenanceResource

from shards_support import write_shards
from test_audit_support import audit as _audit


@asset
def events() -> pd.DataFrame:
    return pd.DataFrame({"user": [1, 2, 3], "clicks": [4.0, 0.5, 9.25]})


@asset
def clicks(events: pd.DataFrame) -> pd.DataFrame:
    return events.assign(clicks=events["clicks"] * 2)


def _snapshots(store: str) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """Dataset name -> (version, run id, ``snapshot`` of its facet) of every output in the store's sealed events."""
    out = {}
    s = open_store(store)
    for summary in list_bundles(s):
        for event in _events(s, summary.run_id):
            for o in event.get("outputs", []):
                facet = o["facets"].get("tdprov_contentHash", {})
                if "snapshot" in facet:
                    out[o["name"].rsplit("/", 1)[-1]] = (facet["digest"], summary.run_id, facet["snapshot"])
    return out


def _events(store: Any, run_id: str) -> list[dict[str, Any]]:
    return parse_events_jsonl(read_bundle(store, run_id).files["events.jsonl"])


def _local(store: str, key: str) -> Path:
    return Path(store) / key


@pytest.fixture
def written(tmp_path: Path) -> str:
    store = str(tmp_path / "store")
    io = ProvenanceIOManager(store=store, data_root=str(tmp_path / "data"), snapshot=True)
    assert materialize([events, clicks], resources={"io_manager": io}).success
    return store


def test_written_snapshot_is_in_the_facet_and_audits_clean(written: str, ol_validator: Any) -> None:
    kept = _snapshots(written)
    assert set(kept) == {"events.parquet", "clicks.parquet"}
    for version, _run, snapshot in kept.values():
        assert snapshot["object"].startswith("objects/blake3/")
        assert _local(written, snapshot["object"]).stat().st_size == snapshot["bytes"]
        assert _local(written, index_key(version)).is_file()  # a table is found through its index entry
    s = open_store(written)
    for summary in list_bundles(s):
        for event in _events(s, summary.run_id):
            ol_validator.validate_event(event, custom_schemas=True)  # the facet's schema holds the snapshot member
    for full in (False, True):
        result = _audit(written, full=full)
        check = result.check(CHECK_SNAPSHOTS)
        assert check.status == "pass" and check.checked == 2 and not check.findings, check.findings
        assert result.clean


def test_deleted_snapshot_object_is_a_finding(written: str) -> None:
    assert _audit(written).clean  # logs the runs; the next audit reads their records from the catalog
    version, run_id, snapshot = _snapshots(written)["events.parquet"]
    _local(written, snapshot["object"]).unlink()
    for full in (False, True):
        result = _audit(written, full=full)
        (finding,) = result.check(CHECK_SNAPSHOTS).errors
        assert finding.object == snapshot["object"] and finding.run_id == run_id and result.exit_code == 1
        assert version in finding.what and run_id in finding.what and "events.parquet" in finding.what
        assert "gone" in finding.what and "restore the object from a backup" in finding.fix


def test_deleted_index_entry_of_a_table_is_a_finding(written: str) -> None:
    version, run_id, _ = _snapshots(written)["clicks.parquet"]
    _local(written, index_key(version)).unlink()
    (finding,) = _audit(written).check(CHECK_SNAPSHOTS).errors
    assert finding.object == index_key(version) and finding.run_id == run_id and "index entry" in finding.what


def test_byte_flipped_snapshot_is_found_by_a_full_audit(written: str) -> None:
    assert _audit(written).clean
    version, run_id, snapshot = _snapshots(written)["events.parquet"]
    path = _local(written, snapshot["object"])
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.chmod(0o644)
    path.write_bytes(bytes(data))
    assert not _audit(written).check(CHECK_SNAPSHOTS).findings  # same size: only a re-hash tells
    (finding,) = _audit(written, full=True).check(CHECK_SNAPSHOTS).errors
    assert finding.object == snapshot["object"] and finding.run_id == run_id
    assert version in finding.what and "hashes to" in finding.what
    path.write_bytes(bytes(data[:-1]))  # another size: one listing tells
    (finding,) = _audit(written).check(CHECK_SNAPSHOTS).errors
    assert finding.object == snapshot["object"] and f"not the {len(data):,} kept" in finding.what


def test_no_snapshot_no_facet_and_nothing_to_check(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    assert materialize([events], resources={"io_manager": ProvenanceIOManager(store=store, data_root=str(tmp_path / "d"))}).success
    assert _snapshots(store) == {}
    check = _audit(store).check(CHECK_SNAPSHOTS)
    assert check.status == "pass" and check.checked == 0


def test_record_of_a_sharded_version_audits_its_shards(tmp_path: Path) -> None:
    folder, store = tmp_path / "shards", str(tmp_path / "store")

    @asset
    def corpus(context, provenance: ProvenanceResource) -> None:  # noqa: ANN001 - Dagster's context
        write_shards(folder)
        provenance.record(outputs={"corpus": str(folder)}, context=context)

    with DagsterInstance.ephemeral() as instance:
        assert materialize([corpus], instance=instance,
                           resources={"provenance": ProvenanceResource(store=store, snapshot=True, dask_scheduler="none")}).success
    ((version, run_id, snapshot),) = _snapshots(store).values()
    assert snapshot["object"] == index_key(version)
    assert _local(store, snapshot["object"]).stat().st_size == snapshot["bytes"]
    assert _audit(store, full=True).check(CHECK_SNAPSHOTS).checked == 1
    shard = next(p for p in (Path(store) / "objects" / "blake3").iterdir())
    shard.unlink()
    (finding,) = _audit(store).check(CHECK_SNAPSHOTS).errors
    assert finding.object == f"objects/blake3/{shard.name}" and finding.run_id == run_id and "shard" in finding.what


def test_s3_snapshot_deleted_is_a_finding(s3_store_uri: str, s3_server: Any, tmp_path: Path, capsys: Any) -> None:
    from test_audit_support import raw_delete

    io = {"io_manager": ProvenanceIOManager(store=s3_store_uri, snapshot=True)}
    assert materialize([events], resources=io).success
    assert _audit(s3_store_uri, report_dir=tmp_path / "r1").check(CHECK_SNAPSHOTS).checked == 1
    ((version, run_id, snapshot),) = _snapshots(s3_store_uri).values()
    raw_delete(s3_store_uri, snapshot["object"])
    (finding,) = _audit(s3_store_uri, report_dir=tmp_path / "r2").check(CHECK_SNAPSHOTS).errors
    assert finding.object == snapshot["object"] and finding.run_id == run_id and version in finding.what
    assert cli_main(["checkout", version, "-o", str(tmp_path / "x.parquet"), "--store", s3_store_uri]) != 0
