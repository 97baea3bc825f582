"""Dagster settings are checked when the resources and definitions are set up, before any asset computes."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from dagster_support import delivered, run_failure as _failure
from dagster import DagsterInstance, asset, materialize
from pydantic import ValidationError

from prov_common.bundle import list_bundles, read_bundle
from prov_common.errors import BadInputError
from prov_common.store import open_store
from prov_common.store.s3 import S3Store
from prov_dagster import ProvenanceIOManager, ProvenanceResource, definitions, provenance_asset
from prov_dagster.policy import AssetProvenance
from prov_dagster.storage import DataLocation, default_data_root

computed: list[str] = []


@asset
def people() -> pd.DataFrame:
    computed.append("people")
    return pd.DataFrame({"a": [1, 2]})


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh working folder with the store in it; the compute log is emptied."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TDPROV_STORE", str(tmp_path / "store"))
    computed.clear()
    return tmp_path


def _materialize(io_manager: ProvenanceIOManager) -> Any:
    with DagsterInstance.ephemeral() as instance:
        return materialize([people], resources={"io_manager": io_manager}, instance=instance, raise_on_error=False)


@pytest.mark.parametrize("root", ["gs://my-bucket/data", "s3:/my-bucket/data", "s3://", "s3:///data", "ftp://host/data"])
def test_a_data_root_that_is_not_a_folder_or_s3_is_refused_when_the_io_manager_is_made(cwd: Path, root: str) -> None:
    with pytest.raises(ValidationError, match="data_root") as caught:
        ProvenanceIOManager(data_root=root)
    assert "s3://bucket/prefix" in str(caught.value)


@pytest.mark.parametrize("under", ["", "/data"])
def test_a_data_root_that_is_a_file_or_under_one_fails_the_step_before_the_asset_computes(cwd: Path, under: str) -> None:
    """A data root that is a file (or a folder under one) failed the step after the asset computed, with a bare
    "NotADirectoryError: [Errno 20] Not a directory: '.../people.parquet.tdprov.json'"."""
    (cwd / "a-file").write_text("x")
    result = _materialize(ProvenanceIOManager(data_root=str(cwd / "a-file") + under))
    assert not result.success and computed == []
    message = _failure(result)
    assert f"data_root '{cwd}/a-file{under}' cannot be a folder: {cwd}/a-file is a file" in message, message
    assert "give data_root a folder" in message


@pytest.mark.parametrize("variable, value", [("TDPROV_SPOOL", "s3://my-bucket/spool"), ("TDPROV_HOME", "ftp://host/tdprov")])
def test_a_spool_or_home_that_is_a_remote_uri_fails_the_step_before_the_asset_computes(
        cwd: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    """TDPROV_SPOOL=s3://my-bucket/spool was taken as the relative folder 's3:/my-bucket/spool' of each process's
    working folder: bundles spooled in an outage went where 'tdprov flush' never looks (and TDPROV_HOME so, with a new
    signing key per working folder). Both are refused at set-up, naming the variable."""
    monkeypatch.setenv(variable, value)
    result = _materialize(ProvenanceIOManager())
    assert not result.success and computed == []
    message = _failure(result)
    assert f"{variable} '{value}' is a URI" in message and "file:///absolute/path" in message, message
    assert not (cwd / (value.split(":")[0] + ":")).exists()  # no folder named after the scheme


def test_a_file_uri_spool_is_its_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from prov_common.store.outbox import default_spool_dir

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TDPROV_SPOOL", f"file://{tmp_path}/spool")
    assert default_spool_dir() == tmp_path / "spool"  # not the relative folder 'file:'
    monkeypatch.setenv("TDPROV_HOME", f"file://localhost{tmp_path}/home")
    monkeypatch.delenv("TDPROV_SPOOL")
    assert default_spool_dir() == tmp_path / "home" / "spool"


@pytest.mark.parametrize("store", ["gs://my-bucket/prov", "s3:/my-bucket/prov", "s3://"])
def test_a_store_from_the_environment_that_cannot_be_opened_fails_the_step_before_the_asset_computes(
        cwd: Path, monkeypatch: pytest.MonkeyPatch, store: str) -> None:
    monkeypatch.setenv("TDPROV_STORE", store)
    result = _materialize(ProvenanceIOManager())
    assert not result.success and computed == []
    message = _failure(result)
    assert "store" in message.lower() and "s3://bucket/prefix" in message and "unreachable" not in message
    assert not list(cwd.rglob("*.parquet"))  # never a relative folder named after the scheme


def test_a_store_setting_that_cannot_be_opened_is_refused_naming_the_setting(cwd: Path) -> None:
    with pytest.raises(ValidationError, match="store 'gs://my-bucket/prov'"):
        ProvenanceIOManager(store="gs://my-bucket/prov")
    with pytest.raises(ValidationError, match="store 's3://'"):
        ProvenanceResource(store="s3://")


def test_the_scheme_of_a_location_is_read_without_regard_to_case(tmp_path: Path) -> None:
    assert DataLocation("S3://bucket/data").root == "s3://bucket/data"
    assert DataLocation("S3://bucket/data").is_s3
    assert default_data_root("S3://bucket/prov") == "s3://bucket/prov-data"
    assert DataLocation(f"FILE://{tmp_path}").root == str(tmp_path)
    assert default_data_root(f"file://{tmp_path}/store") == f"{tmp_path}/store-data"


def test_a_bucket_name_s3_would_refuse_is_refused_when_the_io_manager_is_made() -> None:
    with pytest.raises(ValidationError, match="data_root 's3://not!a!bucket/data' names the bucket 'not!a!bucket'"):
        ProvenanceIOManager(data_root="s3://not!a!bucket/data")
    with pytest.raises(BadInputError, match="not a bucket name"):
        open_store("s3://not!a!bucket/prov")


def test_an_s3_request_botocore_refuses_before_sending_is_bad_input_not_an_outage(s3_store_uri: str) -> None:
    """A request boto3 refuses before sending it (ParamValidationError) is about the name, never the network."""
    store = S3Store("s3://not!a!bucket/prov")  # made directly: open_store refuses the name before
    with pytest.raises(BadInputError, match="Parameter validation failed"):
        store.put("x/y", b"1")
    data = DataLocation(s3_store_uri)
    object.__setattr__(data, "root", "s3://not!a!bucket/data")  # past the check DataLocation makes
    with pytest.raises(BadInputError, match="Parameter validation failed"):
        data.write_sidecar("t.parquet", {"a": 1})


# -- owners ------------------------------------------------------------------------------------------

def test_owners_given_as_one_string_is_one_owner(cwd: Path) -> None:
    assert AssetProvenance.from_metadata({"tdprov/owners": "team:ml"}, "asset 'x'").owners == ("team:ml",)

    @provenance_asset(owners="team:ml", quality_policy="record")
    def scored() -> pd.DataFrame:
        return pd.DataFrame({"a": [1]})

    assert scored.specs_by_key[scored.key].owners == ["team:ml"]
    with DagsterInstance.ephemeral() as instance:
        assert materialize([scored], resources={"io_manager": ProvenanceIOManager()}, instance=instance).success
    store = open_store(str(cwd / "store"))
    delivered(store)
    [summary] = list(list_bundles(store))
    events = [json.loads(line) for line in read_bundle(store, summary.run_id).files["events.jsonl"].splitlines()]
    owners = {o["name"] for e in events for o in e["job"].get("facets", {}).get("ownership", {}).get("owners", [])}
    assert owners == {"team:ml"}


# -- asset metadata, checked when the definitions are built ----------------------------------------------

@pytest.mark.parametrize("metadata, named", [
    ({"tdprov/quality_policy": "warnn"}, "warnn"),
    ({"granularity": "rows"}, "rows"),
    ({"tdprov/sample_rows": "5"}, "sample"),
    ({"tdprov/snapshot": "ture"}, "tdprov/snapshot='ture'"),
    ({"tdprov/snapshot": "yess"}, "tdprov/snapshot='yess'"),
    ({"tdprov/snapshot": 2}, "tdprov/snapshot=2"),
])
def test_a_bad_tdprov_setting_in_plain_asset_metadata_is_refused_when_definitions_are_built(
        metadata: dict[str, Any], named: str) -> None:
    @asset(metadata=metadata)
    def scores() -> pd.DataFrame:
        return pd.DataFrame({"a": [1]})

    with pytest.raises(BadInputError, match="scores") as caught:
        definitions([scores])
    assert named in str(caught.value)


@pytest.mark.parametrize("metadata, tags", [({"tdprov/training": "ture"}, None), ({}, {"tdprov/training": "yess"})])
def test_a_training_mark_that_is_no_yes_no_value_is_refused_when_definitions_are_built(
        metadata: dict[str, Any], tags: dict[str, str] | None) -> None:
    """A typo in the ``tdprov/training`` metadata or tag is refused, never read as "not training" (which would leave
    the run out of the audit's training-data sections)."""
    @asset(metadata=metadata, tags=tags)
    def scores() -> pd.DataFrame:
        return pd.DataFrame({"a": [1]})

    with pytest.raises(BadInputError, match="tdprov/training='(ture|yess)' of asset 'scores' is not a yes/no value"):
        definitions([scores])


def test_a_snapshot_setting_that_is_no_yes_no_value_is_refused_naming_the_asset_the_value_and_the_choices(
        cwd: Path) -> None:
    """A typo in ``tdprov/snapshot`` never falls back to the store's setting: the step fails before anything is
    written, as for another bad tdprov setting of an asset materialized without ``definitions``."""
    @asset(metadata={"tdprov/snapshot": "ture"})
    def scores() -> pd.DataFrame:
        return pd.DataFrame({"a": [1]})

    with DagsterInstance.ephemeral() as instance:
        result = materialize([scores], resources={"io_manager": ProvenanceIOManager(snapshot=True)},
                             instance=instance, raise_on_error=False)
    assert not result.success
    message = _failure(result)
    assert "tdprov/snapshot='ture' of asset 'scores'" in message and "true, yes, on, 1" in message, message
    assert not list(cwd.rglob("*.parquet"))
    with pytest.raises(BadInputError, match="snapshot='yess' of provenance_asset 'kept'"):
        @provenance_asset(snapshot="yess")  # type: ignore[arg-type]
        def kept() -> pd.DataFrame:
            return pd.DataFrame({"a": [1]})
    for text, meant in (("TRUE", True), (" off ", False), ("1", True), (0, False)):
        assert AssetProvenance.from_metadata({"tdprov/snapshot": text}, "asset 'x'").snapshot is meant


# -- the mask key ---------------------------------------------------------------------------------------

@asset
def recorded(provenance: ProvenanceResource) -> None:
    computed.append("recorded")


@pytest.mark.parametrize("wired", ["io_manager", "provenance"])
def test_a_mask_key_file_that_is_missing_fails_the_step_before_the_asset_computes(
        cwd: Path, monkeypatch: pytest.MonkeyPatch, wired: str) -> None:
    """``TDPROV_MASK_KEY`` naming no file is found when the IO manager or resource is set up, not when a check of a
    ``record``-policy asset first fails deep in the step (which would break the step the policy lets through)."""
    missing = cwd / "secrets" / "mask.key"
    monkeypatch.setenv("TDPROV_MASK_KEY", str(missing))
    assets, resources = (([people], {"io_manager": ProvenanceIOManager()}) if wired == "io_manager"
                         else ([recorded], {"provenance": ProvenanceResource()}))

    def run() -> Any:
        with DagsterInstance.ephemeral() as instance:
            return materialize(assets, resources=resources, instance=instance, raise_on_error=False)

    result = run()
    assert not result.success and computed == []
    message = _failure(result)
    assert f"TDPROV_MASK_KEY names {str(missing)!r}" in message and "head -c 32 /dev/urandom" in message, message
    missing.parent.mkdir()
    missing.write_bytes(bytes(range(32)))
    assert run().success and computed  # the same step, once the file is there



# -- the signing key ------------------------------------------------------------------------------------

@pytest.mark.parametrize("strict", [True, False])
def test_a_signing_key_configured_on_the_io_manager_that_is_missing_is_named_as_that_config(
        cwd: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, strict: bool) -> None:
    """The fix names the IO manager's ``signing_key`` config the key came from: ``TDPROV_SIGNING_KEY`` would not
    replace it."""
    missing = cwd / "keys" / "writer.key"
    monkeypatch.setenv("TDPROV_SIGNING_KEY", str(cwd / "unused.key"))
    with caplog.at_level("WARNING"):
        result = _materialize(ProvenanceIOManager(signing_key=str(missing), strict=strict))
    said = _failure(result) if strict else caplog.text
    assert result.success is not strict and f"signing key {missing} cannot be read" in said, said
    assert "Fix: set the ProvenanceIOManager's 'signing_key' config to a file from 'tdprov keygen'" in said, said
    assert "TDPROV_SIGNING_KEY" not in said

# -- the resource's Dask scheduler -----------------------------------------------------------------------

def test_a_dask_scheduler_that_is_not_an_address_is_refused_when_the_resource_is_made() -> None:
    with pytest.raises(ValidationError, match="dask_scheduler 'lcoal'") as caught:
        ProvenanceResource(dask_scheduler="lcoal")
    assert "tcp://host:8786" in str(caught.value) and "TDPROV_DASK_SCHEDULER" not in str(caught.value)
    for fine in ("local", "none", "auto", "NONE", "tcp://127.0.0.1:8786", None):
        ProvenanceResource(dask_scheduler=fine)


def test_an_empty_signing_key_config_takes_the_key_of_tdprov_signing_key(cwd: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An IO manager configured with ``signing_key=""`` signed with the per-user key, discarding the key
    ``TDPROV_SIGNING_KEY`` names, and a missing one went unnoticed. An empty config is not given: the variable's key is
    taken, and named when it cannot be had; an empty store or data root is not given either."""
    from prov_common.signing import load_signing_key, write_keypair

    missing = cwd / "keys" / "writer.key"
    monkeypatch.setenv("TDPROV_SIGNING_KEY", str(missing))
    io_manager = ProvenanceIOManager(signing_key="", strict=True, store=" ", data_root="")
    assert io_manager.settings().signing_key == str(missing) and io_manager.signing_key_setting() == "TDPROV_SIGNING_KEY"
    assert (io_manager.settings().store, io_manager.store_setting()) == (str(cwd / "store"), "TDPROV_STORE")
    result = _materialize(io_manager)
    said = _failure(result)
    assert not result.success and f"signing key {missing} cannot be read" in said, said
    assert "Fix: set TDPROV_SIGNING_KEY to a file from 'tdprov keygen'" in said, said
    write_keypair(missing)
    assert _materialize(io_manager).success
    delivered(cwd / "store")
    store = open_store(str(cwd / "store"))
    [summary] = list_bundles(store)
    assert read_bundle(store, summary.run_id).key_id == load_signing_key(missing).public.key_id


def test_a_blank_namespace_is_not_given_and_the_default_namespace_applies(cwd: Path) -> None:
    """An IO manager configured with ``namespace=" "`` (an EnvVar or a template left blank) recorded its runs and asset
    keys in namespace ``"dagster:// "``, a name no other setting or reader gives, though a field given empty is not
    given: the default namespace applies, as for ``namespace=""``."""
    assert _materialize(ProvenanceIOManager(namespace=" ")).success
    delivered(cwd / "store")
    [summary] = list_bundles(open_store(str(cwd / "store")))
    assert summary.job_namespace == "dagster://default", summary
