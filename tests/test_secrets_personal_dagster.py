"""Dagster: a value of a column that only the source record flags as personal is planted in failing
rows; after a real ``materialize`` it is nowhere in the store or spool, while the failing values of
unflagged columns are kept. Without the flag the same scan finds it (the scan is not blind)."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import pytest
from dagster import AssetIn, DagsterInstance, MaterializeResult, materialize

from dagster_support import delivered
from personal_support import (PEOPLE, VISIBLE, assert_nowhere, plant_unverified_record, register_people, sample_files, sample_table,
                              write_people, written)
from prov_common.bundle import list_bundles
from prov_common.store import open_store
from prov_dagster import ProvenanceResource


def _materialize(tmp_path: Path, store: str, raw: Path, **asset_args: object) -> str:
    """Materialize an asset that reads ``raw`` and adds a column (so its digest is not the source's)."""
    from prov_dagster import provenance_asset

    @provenance_asset(schema=PEOPLE, quality_policy="record", **asset_args)
    def people_clean() -> pd.DataFrame:
        return pd.read_parquet(raw).assign(batch=1)

    _materialized(tmp_path, store, [people_clean])
    [summary] = list(list_bundles(open_store(store)))
    return summary.run_id


def _everything(store: str, tmp_path: Path) -> bytes:
    return written(store) + written(tmp_path / "spool")


@pytest.mark.parametrize("flag", [{"personal_columns": ("email",)}, {"confidential_columns": ("email",)}])
def test_source_flagged_column_is_masked_in_a_materialize(tmp_path: Path, flag: dict) -> None:
    store = str(tmp_path / "store")
    raw = write_people(tmp_path / "people.parquet")
    register_people(store, raw, **flag)
    run_id = _materialize(tmp_path, store, raw, source="people-raw")  # found by the declared source's name
    [sample] = sample_files(store, run_id).values()
    table = sample_table(sample)
    assert VISIBLE in set(table["failure_case"]) and "***" in set(table[table["column"] == "email"]["failure_case"])
    assert_nowhere(_everything(store, tmp_path), "the store and spool")


def test_without_the_flag_the_planted_value_is_found_only_with_raw_samples(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    raw = write_people(tmp_path / "people.parquet")
    register_people(store, raw)  # registered, nothing flagged
    _materialize(tmp_path, store, raw, source="people-raw")
    assert_nowhere(_everything(store, tmp_path), "the store and spool")  # private by default
    store = str(tmp_path / "store2")
    register_people(store, raw)
    _materialize(tmp_path, store, raw, source="people-raw", raw_samples=True)  # the asset opts in
    with pytest.raises(AssertionError, match="found in"):
        assert_nowhere(_everything(store, tmp_path), "the store and spool")


def test_dataset_level_personal_flag_masks_every_column(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    raw = write_people(tmp_path / "people.parquet")
    register_people(store, raw, personal_data="pseudonymised")
    run_id = _materialize(tmp_path, store, raw, source="people-raw")
    [sample] = sample_files(store, run_id).values()
    assert set(sample_table(sample)["failure_case"]) == {"***"}
    assert_nowhere(_everything(store, tmp_path), "the store and spool")
    assert_nowhere(_everything(store, tmp_path), "the store and spool", VISIBLE)


def test_samples_off_stores_no_sample_object(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    raw = write_people(tmp_path / "people.parquet")
    run_id = _materialize(tmp_path, store, raw, sample_rows=0)  # no source record at all
    assert sample_files(store, run_id) == {}
    everything = _everything(store, tmp_path)
    assert b".samples.parquet" not in everything  # no sample object, and no event names one
    assert_nowhere(everything, "the store and spool")
    assert b'"passed":false' in everything.replace(b" ", b"")  # the failed validation is still recorded


def test_unreadable_source_records_mask_every_value(tmp_path: Path, s3_fault) -> None:
    """The store is down: the bundle goes to the spool, and since no source record can be read, the
    sample it carries shows no value at all."""
    down = s3_fault("closed")
    raw = write_people(tmp_path / "people.parquet")
    from prov_dagster import ProvenanceIOManager, provenance_asset

    @provenance_asset(schema=PEOPLE, quality_policy="record")
    def people_clean() -> pd.DataFrame:
        return pd.read_parquet(raw)

    io_manager = ProvenanceIOManager(store=down, data_root=str(tmp_path / "data"), spool=str(tmp_path / "spool"))
    with DagsterInstance.ephemeral() as instance:
        assert materialize([people_clean], instance=instance, resources={"io_manager": io_manager}).success
    delivered(down)
    spool = written(tmp_path / "spool")
    assert b".samples.parquet" in spool and b"***" in spool
    assert_nowhere(spool, "the spool")
    assert_nowhere(spool, "the spool", VISIBLE)


def test_flagged_columns_travel_to_downstream_assets(tmp_path: Path) -> None:
    """`people_raw` declares the flagged source and has no schema; `people_features` is derived from it,
    names no source, and fails its schema: its sample masks `email` all the same."""
    from dagster import AssetIn

    from prov_dagster import ProvenanceIOManager, provenance_asset

    store = str(tmp_path / "store")
    raw = write_people(tmp_path / "people.parquet")
    register_people(store, raw, personal_columns=("email",))

    @provenance_asset(source="people-raw")
    def people_raw() -> pd.DataFrame:
        return pd.read_parquet(raw)

    @provenance_asset(schema=PEOPLE, quality_policy="record", ins={"frame": AssetIn("people_raw")})
    def people_features(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(batch=1)  # another digest: found by no source record, only through its upstream

    io_manager = ProvenanceIOManager(store=store, data_root=str(tmp_path / "data"), spool=str(tmp_path / "spool"))
    with DagsterInstance.ephemeral() as instance:
        result = materialize([people_raw, people_features], instance=instance, resources={"io_manager": io_manager})
        assert result.success
        [mat] = [e.materialization for e in result.get_asset_materialization_events() if e.asset_key.path == ["people_raw"]]
        assert mat.metadata["tdprov/flagged_columns"].value == ["email"]
    delivered(store)
    runs = {s.job_name: s.run_id for s in list_bundles(open_store(store))}
    [sample] = sample_files(store, runs["people_features"]).values()
    table = sample_table(sample)
    assert VISIBLE in set(table["failure_case"]) and "***" in set(table["failure_case"])
    assert_nowhere(_everything(store, tmp_path), "the store and spool")


PERSONAL_EMAIL = pa.DataFrameSchema({"email": pa.Column(str, metadata={"personal": True})}, name="PeopleRaw")


def _materialized(tmp_path: Path, store: str, assets: list, key: str | None = None, data: Path | None = None) -> tuple[object, list[str]]:
    """Materialize ``assets`` with the IO manager and the resource on ``store`` (data under ``data``, default
    tmp_path/data): the materialization of asset ``key`` (of the only asset when None) and the warnings logged, once
    what was written to the store is there (:func:`delivered`)."""
    from prov_dagster import ProvenanceIOManager

    settings = {"store": store, "data_root": str(data or tmp_path / "data"), "spool": str(tmp_path / "spool")}
    with DagsterInstance.ephemeral() as instance:
        result = materialize(assets, instance=instance,
                             resources={"io_manager": ProvenanceIOManager(**settings), "provenance": ProvenanceResource(**settings)})
        assert result.success
        [mat] = [e.materialization for e in result.get_asset_materialization_events() if key in (None, e.asset_key.path[-1])]
        warnings = [e.message for e in instance.all_logs(result.run_id) if e.level >= 30]
    delivered(store)
    return mat, warnings


def _writing_its_own(name: str, data: Path, write: Callable[[Path], object], **asset_args: object) -> object:
    """An asset ``name`` that writes its own Parquet (``write(path)``) where the IO manager loads it from, records it
    with ``ProvenanceResource.record`` and returns ``MaterializeResult``."""
    from prov_dagster import provenance_asset

    @provenance_asset(name=name, **asset_args)
    def writer(context, provenance: ProvenanceResource) -> MaterializeResult:
        path = data / f"{name}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        write(path)
        done = provenance.record(outputs={name: str(path)}, context=context)
        return MaterializeResult(metadata=done.metadata, data_version=done.data_version)

    return writer


def _email_masked(store: str, run_id: str) -> None:
    """The run's failure sample shows raw values, and ``email``'s only as ``***``."""
    [sample] = sample_files(store, run_id).values()
    table = sample_table(sample)
    assert VISIBLE in set(table["failure_case"]) and set(table[table["column"] == "email"]["failure_case"]) == {"***"}


@pytest.mark.parametrize("flag", [{"schema": PERSONAL_EMAIL}, {"masked_columns": ["email"]}], ids=["schema", "masked_columns"])
def test_flags_of_an_asset_recorded_by_record_travel_downstream(tmp_path: Path, flag: dict) -> None:
    """`people_raw` writes its own Parquet, records it with `ProvenanceResource.record` and returns
    `MaterializeResult`; `email` is flagged by its schema or its `masked_columns`. `people_features` loads it
    through the IO manager, shows raw samples and fails its schema on `email`: the flag masks it all the same."""
    from prov_dagster import provenance_asset

    store, data = str(tmp_path / "store"), tmp_path / "data"

    people_raw = _writing_its_own("people_raw", data, write_people, quality_policy="record", **flag)

    @provenance_asset(schema=PEOPLE, quality_policy="record", raw_samples=True, ins={"frame": AssetIn("people_raw")})
    def people_features(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(batch=1)

    mat, _ = _materialized(tmp_path, store, [people_raw, people_features], "people_raw", data)
    assert mat.metadata["tdprov/flagged_columns"].value == ["email"]
    runs = {s.job_name: s.run_id for s in list_bundles(open_store(store))}
    _email_masked(store, runs["people_features"])
    assert_nowhere(_everything(store, tmp_path), "the store and spool")


def test_an_asset_recorded_by_record_masks_and_passes_on_the_flags_of_what_it_loaded(tmp_path: Path) -> None:
    """`people_export` loads `people_raw` (whose `masked_columns` flag `email`) through the IO manager, writes its
    own table, shows raw samples and fails its schema on `email`: `record()` masks it and passes the flag on."""
    from prov_dagster import provenance_asset

    store, data = str(tmp_path / "store"), tmp_path / "data"

    @provenance_asset(masked_columns=["email"])
    def people_raw() -> pd.DataFrame:
        return pd.read_parquet(write_people(tmp_path / "people.parquet"))

    @provenance_asset(schema=PEOPLE, quality_policy="record", raw_samples=True, ins={"frame": AssetIn("people_raw")})
    def people_export(context, frame: pd.DataFrame, provenance: ProvenanceResource) -> MaterializeResult:
        path = tmp_path / "export.parquet"
        frame.assign(batch=1).to_parquet(path, index=False)
        done = provenance.record(outputs={"people_export": str(path)}, context=context)
        return MaterializeResult(metadata=done.metadata, data_version=done.data_version)

    mat, _ = _materialized(tmp_path, store, [people_raw, people_export], "people_export", data)
    assert mat.metadata["tdprov/flagged_columns"].value == ["email"]
    runs = {s.job_name: s.run_id for s in list_bundles(open_store(store))}
    _email_masked(store, runs["people_export"])
    assert_nowhere(_everything(store, tmp_path), "the store and spool")


def test_the_declared_source_of_an_asset_recorded_by_record_is_its_input_and_flags_it(tmp_path: Path, capsys) -> None:
    """`people_train` declares the registered source (which flags `email`), writes its own table from it, records
    it with `ProvenanceResource.record` and returns `MaterializeResult`: the source is an input of its run (lineage
    and the audit reach the origin), its flag masks `email` in the asset's samples and in those of
    `people_features`, which loads the asset through the IO manager."""
    from prov_common.audit import run_audit
    from prov_common.cli import main as cli_main
    from prov_common.config import Settings
    from prov_dagster import provenance_asset

    store, data = str(tmp_path / "store"), tmp_path / "data"
    raw = write_people(tmp_path / "people.parquet")
    source = register_people(store, raw, personal_columns=("email",), legal_basis="contract")

    people_train = _writing_its_own(  # another digest than the source's
        "people_train", data, lambda path: pd.read_parquet(raw).assign(batch=1).to_parquet(path, index=False),
        source="people-raw", schema=PEOPLE, quality_policy="record", raw_samples=True, training=True)

    @provenance_asset(schema=PEOPLE, quality_policy="record", raw_samples=True, ins={"frame": AssetIn("people_train")})
    def people_features(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(batch=2)

    mat, _ = _materialized(tmp_path, store, [people_train, people_features], "people_train", data)
    assert mat.metadata["tdprov/flagged_columns"].value == ["email"]
    runs = {s.job_name: s for s in list_bundles(open_store(store))}
    assert [(i.namespace, i.name, i.version) for i in runs["people_train"].inputs] == [("file", str(raw), source.digest)]
    assert cli_main(["lineage", str(data / "people_train.parquet"), "--json", "--store", store]) == 0
    [version] = json.loads(capsys.readouterr().out)["lineage"]
    [origin] = version["generatedBy"][0]["inputs"]  # the registered source, named
    assert (origin["version"], origin["sources"]) == (source.digest, ["people-raw (acme, CC-BY-4.0)"])
    audit = run_audit(open_store(store), Settings.from_env(store=store), progress=False)
    completeness = audit.check("completeness")  # the training run's input is traced to its origin
    assert completeness.status == "pass", [f.what for f in completeness.findings]
    for job in ("people_train", "people_features"):
        _email_masked(store, runs[job].run_id)
    assert_nowhere(_everything(store, tmp_path), "the store and spool")


def test_an_unregistered_source_of_an_asset_recorded_by_record_is_an_input_without_a_version(tmp_path: Path) -> None:
    from prov_dagster import provenance_asset

    store = str(tmp_path / "store")

    @provenance_asset(source="people-raw")
    def people_copy(context, provenance: ProvenanceResource) -> MaterializeResult:
        done = provenance.record(outputs=str(write_people(tmp_path / "copy.parquet")), context=context)
        return MaterializeResult(metadata=done.metadata, data_version=done.data_version)

    with DagsterInstance.ephemeral() as instance:
        assert materialize([people_copy], instance=instance, resources={"provenance": ProvenanceResource(store=store)}).success
    delivered(store)
    [summary] = list_bundles(open_store(store))
    assert [(i.namespace, i.name, i.version) for i in summary.inputs] == [("tdprov://sources", "people-raw", None)]


@pytest.mark.parametrize("path", ["io_manager", "record"])
def test_a_declared_source_whose_records_cannot_be_read_is_recorded_without_a_version(tmp_path: Path, s3_fault, path: str) -> None:
    """The store is down: the step succeeds, its spooled bundle names the declared source without a version, and
    every column is flagged (no record can say which are personal), whether the IO manager or `record()` records it."""
    raw = write_people(tmp_path / "people.parquet")
    mat, warnings = _materialize_declaring(tmp_path, s3_fault("closed"), raw, path, "people-raw")
    assert mat.metadata["tdprov/flagged_columns"].value == ["*"]
    assert any("source 'people-raw' is recorded without a version" in w for w in warnings), warnings
    spool = written(tmp_path / "spool")
    assert b'"namespace":"tdprov://sources"' in spool.replace(b" ", b"") and b"people-raw" in spool


def _materialize_declaring(tmp_path: Path, store: str, raw: Path, path: str, source: str = "vendor") -> tuple[object, list[str]]:
    """Materialize an asset declaring ``source``, recorded by the IO manager or by ``record()`` (``path``): the
    materialization and the warnings logged."""
    from prov_dagster import provenance_asset

    @provenance_asset(name="people", source=source)
    def by_io_manager() -> pd.DataFrame:
        return pd.read_parquet(raw)

    @provenance_asset(name="people", source=source)
    def by_record(context, provenance: ProvenanceResource) -> MaterializeResult:
        done = provenance.record(outputs={"people": str(raw)}, context=context)
        return MaterializeResult(metadata=done.metadata, data_version=done.data_version)

    return _materialized(tmp_path, store, [by_io_manager if path == "io_manager" else by_record])


@pytest.mark.parametrize("how", ["forged", "damaged"])
@pytest.mark.parametrize("path", ["io_manager", "record"])
def test_a_source_record_that_does_not_verify_fails_no_step_and_is_not_used(tmp_path: Path, path: str, how: str) -> None:
    """One planted record under another name failed every step that declares a source (it was read without leaving
    it out). The declared source is recorded with its version; the bad record is named in a warning, not used."""
    store = str(tmp_path / "store")
    raw = write_people(tmp_path / "people.parquet")
    vendor = register_people(store, raw, name="vendor", personal_columns=("email",))
    planted = plant_unverified_record(store, "other", "blake3:" + "e" * 64, how)
    mat, warnings = _materialize_declaring(tmp_path, store, raw, path)
    assert mat.metadata["tdprov/flagged_columns"].value == ["email"]  # the verified record's flags
    assert any(planted in w and "not used" in w for w in warnings), warnings
    [summary] = list_bundles(open_store(store))
    assert [(i.name, i.version) for i in summary.inputs if i.name == str(raw)] == [(str(raw), vendor.digest)]


@pytest.mark.parametrize("how", ["forged", "damaged"])
@pytest.mark.parametrize("path", ["io_manager", "record"])
def test_a_declared_source_whose_own_record_does_not_verify_is_recorded_without_a_version(tmp_path: Path, path: str,
                                                                                           how: str) -> None:
    """The declared source's own record is the bad one: the step succeeds, the source is an input without a version
    (as an unregistered one), every column is flagged (the record cannot say which are not personal), and the
    warning names the record and the fix. A forged record's content is nowhere."""
    store = str(tmp_path / "store")
    raw = write_people(tmp_path / "people.parquet")
    planted = plant_unverified_record(store, "vendor", "blake3:" + "e" * 64, how)
    mat, warnings = _materialize_declaring(tmp_path, store, raw, path)
    assert mat.metadata["tdprov/flagged_columns"].value == ["*"]
    [told] = [w for w in warnings if planted in w]
    assert "source 'vendor' is recorded without a version" in told and "Fix:" in told, told
    [summary] = list_bundles(open_store(store))
    assert [(i.namespace, i.name, i.version) for i in summary.inputs] == [("tdprov://sources", "vendor", None)]
    assert b"Mallory" not in written(store).replace(open_store(store).get(planted), b"")


def test_a_source_declared_by_digest_keeps_its_version_beside_a_record_of_it_that_does_not_verify(tmp_path: Path) -> None:
    """The digest names the version whichever record registers it; the record of that digest that does not verify may
    be the one that flags columns, so every column is flagged, and the warning names it."""
    from prov_dagster import provenance_asset

    store = str(tmp_path / "store")
    raw = write_people(tmp_path / "people.parquet")
    vendor = register_people(store, raw, name="vendor")
    planted = plant_unverified_record(store, "vendor-copy", vendor.digest, "damaged")

    @provenance_asset(name="people", source=vendor.digest)
    def people() -> pd.DataFrame:
        return pd.read_parquet(raw)

    mat, warnings = _materialized(tmp_path, store, [people])
    assert mat.metadata["tdprov/flagged_columns"].value == ["*"]
    assert any(planted in w and "recorded with its digest and every column is flagged" in w for w in warnings), warnings
    [summary] = list_bundles(open_store(store))
    assert [(i.name, i.version) for i in summary.inputs] == [(str(raw), vendor.digest)]
