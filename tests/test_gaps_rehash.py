"""`tdprov audit --rehash` re-hashes a Dagster asset's Parquet file where its dataset name says it lives."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from dagster import AssetIn, asset, materialize

from prov_common.audit.catalog import load_catalog
from prov_common.audit.model import CHECK_REHASH, DatasetUse
from prov_common.audit.rehash import symlinked_location
from prov_common.config import Settings
from prov_common.hashing import hash_path
from prov_common.signing import trust_from_settings
from prov_common.store import open_store
from prov_dagster import ProvenanceIOManager
from test_audit_support import audit


@asset(key_prefix=["raw"])
def events() -> pd.DataFrame:
    return pd.DataFrame({"user": [1, 2, 3], "clicks": [4.0, 0.5, 9.25]})


@asset(ins={"events": AssetIn(key_prefix=["raw"])})
def clicks_per_user(events: pd.DataFrame) -> pd.DataFrame:
    return events.assign(clicks=events["clicks"] * 2)


def _audit(store: str, **kw):
    return audit(store, rehash=True, **kw)


@pytest.fixture
def materialized(tmp_path: Path) -> tuple[str, Path]:
    store, data = str(tmp_path / "store"), tmp_path / "data"
    result = materialize([events, clicks_per_user], resources={"io_manager": ProvenanceIOManager(store=store, data_root=str(data))})
    assert result.success
    return store, data


def test_untouched_dagster_data_rehashes_clean(materialized: tuple[str, Path]) -> None:
    store, data = materialized
    result = _audit(store)
    check = result.check(CHECK_REHASH)
    assert check.ran and check.status == "pass" and not check.findings
    assert check.checked == 2  # both Parquet files, found by their dataset names (names are locations)
    catalog = load_catalog(open_store(store), trust_from_settings(Settings.from_env(store=store)))
    outputs = {(d.namespace, d.name): d.location for r in catalog.runs.values() for d in r.outputs}
    assert outputs == {("file", str(data / "raw" / "events.parquet")): None, ("file", str(data / "clicks_per_user.parquet")): None}


def test_changed_parquet_of_an_asset_is_a_finding(materialized: tuple[str, Path]) -> None:
    store, data = materialized
    assert _audit(store).clean  # logs the bundles; the next audit reads their records from the catalog
    parquet = data / "raw" / "events.parquet"
    expected = hash_path(parquet).digest
    pd.DataFrame({"user": [1, 2, 3], "clicks": [4.0, 0.5, 9.5]}).to_parquet(parquet)
    found = hash_path(parquet).digest
    assert found != expected
    for result in (_audit(store), _audit(store, full=True)):
        findings = [f for f in result.check(CHECK_REHASH).errors if f.object == str(parquet)]
        assert len(findings) == 1 and result.exit_code == 1, [f.what for f in result.errors]
        what = findings[0].what
        assert "raw/events" in what and str(parquet) in what and expected in what and found in what
        assert not [f for f in result.check(CHECK_REHASH).errors if f.object != str(parquet)]  # the downstream file is intact


def test_deleted_parquet_of_an_asset_is_a_finding(materialized: tuple[str, Path]) -> None:
    store, data = materialized
    parquet = data / "clicks_per_user.parquet"
    parquet.unlink()
    findings = _audit(store, full=True).check(CHECK_REHASH).errors
    assert [f.object for f in findings] == [str(parquet)] and "clicks_per_user" in findings[0].what


def test_symlinked_location_follows_only_location_identifiers() -> None:
    facet = {"identifiers": [{"namespace": "hive://metastore", "name": "db.t", "type": "TABLE"},
                             {"namespace": "s3://bucket", "name": "data/t.parquet", "type": "file"}]}
    assert symlinked_location("dagster://default", "t", facet) == "s3://bucket/data/t.parquet"
    assert symlinked_location("file", "/data/t.parquet", facet) is None  # named by its location already
    assert symlinked_location("dagster://default", "t", {}) is None
    assert symlinked_location("dagster://default", "t", {"identifiers": [{"namespace": "file", "name": "/d/t.parquet"}]}) == "/d/t.parquet"
    use = DatasetUse("dagster://default", "t", "blake3:00", location="/d/t.parquet")
    assert DatasetUse.from_dict(use.to_dict()) == use
    assert "location" not in DatasetUse("file", "/d/t.parquet").to_dict()  # catalogs of path-named data unchanged


def test_a_parquet_file_with_narrow_ints_names_the_older_hash_revision_as_a_possible_cause(tmp_path: Path) -> None:
    from prov_common.audit.model import RunRecord
    from prov_common.audit.rehash import rehash

    narrow, wide = tmp_path / "narrow.parquet", tmp_path / "wide.parquet"
    pd.DataFrame({"id": pd.Series([1, 2, 3], dtype="int32"), "x": [0.5, 1.5, 2.5]}).to_parquet(narrow)
    pd.DataFrame({"id": [1, 2, 3], "x": [0.5, 1.5, 2.5]}).to_parquet(wide)
    assert hash_path(narrow).digest == hash_path(wide).digest  # widths hash alike now
    recorded = "blake3:" + "7" * 64  # as an older tdprov recorded the int32 table
    record = RunRecord("r1", "ns", "job", "COMPLETE", None, "2026-01-01T00:00:00Z", None, "index/x", "blake3:" + "0" * 64,
                       outputs=[DatasetUse("file", str(narrow), recorded), DatasetUse("file", str(wide), recorded)])
    findings = {f.object: f.what for f in rehash([record]).findings}
    assert "integer columns id (int32) are narrower than 64 bits" in findings[str(narrow)]
    assert "narrower" not in findings[str(wide)] and findings[str(wide)].endswith(recorded)


@asset(ins={"clicks_per_user": AssetIn()}, tags={"tdprov/training": "true"})
def click_model(clicks_per_user: pd.DataFrame) -> pd.DataFrame:
    return clicks_per_user.describe().reset_index()


def test_a_changed_version_upstream_of_training_data_is_a_gap_of_its_training_section(tmp_path: Path) -> None:
    """The re-hash finds the raw events changed; the training-data section of the model's input (and its
    10(2)(h) shortcomings) names that version as no longer at its location, as the findings do."""
    import json

    store, data = str(tmp_path / "store"), tmp_path / "data"
    assert materialize([events, clicks_per_user, click_model],
                       resources={"io_manager": ProvenanceIOManager(store=store, data_root=str(data))}).success
    parquet = data / "raw" / "events.parquet"
    expected = hash_path(parquet).digest
    pd.DataFrame({"user": [1, 2, 3], "clicks": [4.0, 0.5, 9.5]}).to_parquet(parquet)
    found = hash_path(parquet).digest
    _audit(store, report_dir=tmp_path / "report")
    (entry,) = json.loads((tmp_path / "report" / "report.json").read_text())["trainingData"]
    said = f"{parquet}@{expected}: the data at {parquet} now hashes to {found}, not to this version (re-hash)"
    assert said in entry["article10"]["knownGaps"]
    shortcomings = next(i for i in entry["article10"]["items"] if i["item"] == "10(2)(h)")
    assert said in shortcomings["gaps"]
    assert not [g for g in entry["article10"]["knownGaps"] if "clicks_per_user" in g and "re-hash" in g]  # intact


def test_a_run_that_read_a_file_at_two_versions_rehashes_clean_at_either(tmp_path: Path) -> None:
    """A run that read a file, then read it again after it changed, records both versions; no run wrote it. The re-hash
    compared the file with one of the two, the smaller digest, and so named the file as changed when it held the other."""
    from test_audit_support import dataset, run_events, seal

    store, path = open_store(str(tmp_path / "store")), tmp_path / "x.csv"
    versions = []
    for clicks in ("1", "2"):
        path.write_text(f"user,clicks\n1,{clicks}\n")
        versions.append(hash_path(path).digest)
    path.write_text(f"user,clicks\n1,{'12'[versions.index(max(versions))]}\n")  # the file holds the larger digest
    seal(store, run_events("read_twice", [dataset(str(path), v) for v in versions], []))
    check = _audit(store.uri, full=True).check(CHECK_REHASH)
    assert check.ran and check.checked == 1 and not check.findings, [f.what for f in check.findings]
    path.write_text("user,clicks\n1,3\n")
    [finding] = _audit(store.uri, full=True).check(CHECK_REHASH).errors
    assert finding.object == str(path) and all(v in finding.what for v in versions), finding.what
