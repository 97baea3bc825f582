"""Names and paths of Dagster assets in tdprov: datasets after asset keys, data files after key and partition."""
from __future__ import annotations

import pytest
from dagster import AssetKey, MultiPartitionKey

from prov_common.errors import BadInputError
from prov_dagster.naming import data_relpath, dataset_name, namespace_uri, step_job, step_run_id
from prov_dagster.policy import AssetProvenance
from prov_dagster.storage import default_data_root


def test_datasets_are_named_after_the_asset_key_as_users_type_it() -> None:
    assert dataset_name(AssetKey(["raw", "orders"])) == "raw/orders"
    assert dataset_name(AssetKey("features")) == "features"
    assert dataset_name(AssetKey(["raw/orders"])) == "raw\\/orders"  # as Dagster's selection syntax writes it: not raw/orders
    assert namespace_uri(None) == namespace_uri("") == namespace_uri(" ") == namespace_uri("default") == "dagster://default"
    assert namespace_uri("prod") == "dagster://prod"
    assert namespace_uri("dagster://team-a") == "dagster://team-a"


def test_data_paths_follow_key_and_partition() -> None:
    assert data_relpath(AssetKey(["raw", "orders"]), None) == "raw/orders.parquet"
    assert data_relpath(AssetKey("daily"), "2026-11-25") == "daily/2026-11-25.parquet"
    multi = MultiPartitionKey({"region": "eu", "date": "2026-11-25"})
    assert data_relpath(AssetKey("sales"), multi) == "sales/date=2026-11-25/region=eu.parquet"
    assert data_relpath(AssetKey("x"), "a/b") == "x/a%2Fb.parquet"  # a partition never escapes its folder
    assert data_relpath(AssetKey("x"), "a%2Fb") == "x/a%252Fb.parquet"  # another partition: another file
    assert data_relpath(AssetKey(["raw/orders"]), None) != data_relpath(AssetKey(["raw", "orders"]), None)


@pytest.mark.parametrize("partition", ["..", ".", ""])
def test_path_segments_that_could_escape_the_data_root_are_refused(partition: str) -> None:
    with pytest.raises(BadInputError, match="cannot be used as a path segment"):
        data_relpath(AssetKey("x"), partition)


@pytest.mark.parametrize("key, partition, named", [
    (AssetKey(["ok", "a" * 300]), None, "asset 'ok/aaaa"),
    (AssetKey("x"), "p" * 300, "partition 'pppp"),
    (AssetKey("x"), MultiPartitionKey({"region": "é" * 120, "date": "2026-11-25"}), "partition "),  # 240 bytes in UTF-8
    (AssetKey(["b" * 256, "y"]), None, "asset 'bbbb"),  # a folder name
], ids=["key_part", "partition", "multibyte_partition", "folder"])
def test_a_segment_too_long_for_a_file_name_is_refused_naming_it(key: AssetKey, partition, named: str) -> None:
    """A key part or partition key longer than a file name may be failed in the write with 'File name too long'."""
    with pytest.raises(BadInputError, match="too long for a file name") as refused:
        data_relpath(key, partition)
    assert named in str(refused.value) and "bytes" in str(refused.value) and "shorter" in refused.value.fix


def test_the_longest_segment_allowed_is_written_with_its_sidecar(tmp_path) -> None:
    """The limit leaves room for the suffix, the sidecar's and the temporary names written beside the file."""
    import pyarrow as pa

    from prov_dagster.naming import MAX_FILE_SEGMENT_BYTES
    from prov_dagster.storage import DataLocation

    longest = "é" * (MAX_FILE_SEGMENT_BYTES // 2) + "e" * (MAX_FILE_SEGMENT_BYTES % 2)
    with pytest.raises(BadInputError, match="too long for a file name"):
        data_relpath(AssetKey("x"), longest + "e")
    location = DataLocation(str(tmp_path / "data"))
    for relpath in (data_relpath(AssetKey(["x", longest]), None), data_relpath(AssetKey(longest), longest)):
        location.write_table(relpath, pa.table({"id": [1]}))
        location.write_table(relpath, pa.table({"id": [2]}))  # the second write keeps the first as '.<name>.old' meanwhile
        location.write_sidecar(relpath, {"digest": "d"})
        location.write_sidecar(relpath, {"digest": "e"})
        assert location.read_sidecar(relpath) == {"digest": "e"} and location.read_table(relpath).table.num_rows == 1


def test_data_lives_next_to_the_store_by_default(tmp_path) -> None:
    assert default_data_root(str(tmp_path / ".tdprov")) == str(tmp_path / ".tdprov-data")
    assert default_data_root("s3://bucket/prov") == "s3://bucket/prov-data"
    assert default_data_root("s3://bucket") == "s3://bucket/tdprov-data"
    assert default_data_root((tmp_path / ".tdprov").as_uri()) == str(tmp_path / ".tdprov-data")  # file:// is the folder
    from prov_dagster.storage import DataLocation

    assert DataLocation((tmp_path / "data").as_uri()).uri("raw/orders.parquet") == str(tmp_path / "data" / "raw" / "orders.parquet")


def test_step_run_ids_are_stable_uuids_per_step_and_attempt() -> None:
    run = "6f1c0a52-5f6b-4f55-b0c7-1b7c4f3f2a10"
    assert step_run_id(run, "a") == step_run_id(run, "a") != step_run_id(run, "b")
    assert step_run_id(run, "a", 1) not in (step_run_id(run, "a"), step_run_id(run, "a", 2))


def test_asset_keys_of_one_step_key_are_jobs_of_their_own_and_keys_it_names_keep_it() -> None:
    keys = [AssetKey(p) for p in (["a", "b"], ["a__b"], ["a_", "b"], ["a", "_b"], ["my-team", "x"], ["my_team", "x"],
                                  ["my.team", "x"], ["my_team__x"], ["raw", "orders"], ["features"], ["a.b"])]
    jobs = {k: step_job(k.to_python_identifier(), [k]) for k in keys}
    assert len(set(jobs.values())) == len(keys)  # one step key, many assets: never one job
    assert [jobs[AssetKey(p)] for p in (["raw", "orders"], ["features"], ["a", "b"], ["a", "_b"], ["my_team", "x"])] == [
        "raw__orders", "features", "a__b", "a___b", "my_team__x"]  # the step key, as before
    assert jobs[AssetKey("a__b")] == "asset:a__b" and jobs[AssetKey(["my-team", "x"])] == "asset:my-team/x"
    # a multi-asset's op named after none of its keys (asset 'split' of another code location has the step 'split'):
    # the first of its keys; one named after one of them keeps its step key
    assert step_job("split", [AssetKey("right"), AssetKey("left")]) == "asset:left"
    assert step_job("left", [AssetKey("right"), AssetKey("left")]) == "left"


def test_a_step_is_a_run_of_each_namespace_it_records_in_and_the_default_namespace_keeps_its_ids() -> None:
    run = "6f1c0a52-5f6b-4f55-b0c7-1b7c4f3f2a10"
    assert step_run_id(run, "a", namespace="dagster://team_a") not in (
        step_run_id(run, "a", namespace="dagster://team_b"), step_run_id(run, "a"))
    assert step_run_id(run, "a") == step_run_id(run, "a", namespace="dagster://default") == "d73f02f2-4f40-5cdb-bdb2-65fb2409ddda"


def test_an_unknown_quality_policy_is_refused_naming_the_asset() -> None:
    with pytest.raises(BadInputError, match="quality policy 'strict' of asset 'raw/orders'"):
        AssetProvenance.from_metadata({"tdprov/quality_policy": "strict"}, "asset 'raw/orders'")
