"""Pandera schemas, backfill policies and partition inputs do what docs/dagster.md says, under real ``materialize``
and ``definitions()``: an asset that writes its own table is validated by ``ProvenanceResource.record``."""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pandera.pandas as pa
import pytest
from dagster import AssetIn, BackfillPolicy, DagsterInstance, MaterializeResult, StaticPartitionsDefinition, asset, materialize

from prov_common.bundle import list_bundles, read_bundle
from prov_common.bundle.events import parse_events_jsonl
from prov_common.store import open_store
from prov_dagster import ProvenanceIOManager, ProvenanceResource, definitions, provenance_asset

from dagster_support import delivered, instance, store  # noqa: F401 (fixtures)


class Positive(pa.DataFrameModel):
    x: int = pa.Field(ge=0)


def run_all(assets: list[Any], instance: DagsterInstance, store: Path) -> Any:
    defs = definitions(assets, store=str(store), audit_cron=None, watch_store=False)
    return defs.resolve_implicit_global_asset_job_def().execute_in_process(instance=instance, raise_on_error=False)


def runs_of(store: Path, job: str) -> list[tuple[Any, list[dict[str, Any]]]]:
    st = open_store(str(store))
    delivered(st)
    return [(s, parse_events_jsonl(read_bundle(st, s.run_id).files["events.jsonl"])) for s in list_bundles(st) if s.job_name == job]


def check_results(result: Any) -> dict[str, Any]:
    return {e.event_specific_data.check_name: e.event_specific_data for e in result.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION"}


def exporting(values: list[int], policy: str, folder: Path) -> Any:
    """An asset that writes its own CSV file, records it with ProvenanceResource and returns MaterializeResult."""

    @provenance_asset(schema=Positive, quality_policy=policy)
    def export(context, provenance: ProvenanceResource) -> MaterializeResult:
        path = folder / "export.csv"
        pd.DataFrame({"x": values}).to_csv(path, index=False)
        done = provenance.record(outputs={"export": str(path)}, context=context)
        return MaterializeResult(metadata=done.metadata, data_version=done.data_version)

    return export


# -- a schema on an asset that writes its own table -----------------------------------------------------------
def test_record_refuses_a_table_that_fails_the_schema_under_fail_and_seals_the_run_fail(store: Path, instance, tmp_path: Path) -> None:
    result = run_all([exporting([-1, -2], "fail", tmp_path)], instance, store)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE" and e.step_key == "export"]
    assert "asset 'export' failed Pandera schema 'Positive'" in str(failure.event_specific_data.error)
    [(summary, events)] = runs_of(store, "export")
    assert summary.state == "FAIL"
    assert any("tdprov_pandera" in o.get("facets", {}) for e in events for o in e.get("outputs", []))


def test_record_refuses_a_dataframe_that_fails_the_schema_under_fail_with_the_failure(store: Path, instance) -> None:
    """A DataFrame given to record() has no location: the refusal is the Pandera Failure, with no tdprov/data."""
    @provenance_asset(schema=Positive, quality_policy="fail")
    def frame(context, provenance: ProvenanceResource) -> None:
        provenance.record(outputs={"frame": pd.DataFrame({"x": [-1, 2]})}, context=context)

    result = run_all([frame], instance, store)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE" and e.step_key == "frame"]
    shown = failure.step_failure_data.user_failure_data
    assert shown is not None and "asset 'frame' failed Pandera schema 'Positive'" in shown.description
    assert shown.metadata["tdprov/pandera_passed"].value is False and "tdprov/data" not in shown.metadata
    [(summary, _)] = runs_of(store, "frame")
    assert summary.state == "FAIL"


def test_record_validates_a_table_under_block_and_the_pandera_check_reads_it(store: Path, instance, tmp_path: Path) -> None:
    result = run_all([exporting([-1, -2], "block", tmp_path)], instance, store)
    [mat] = [e.materialization for e in result.get_asset_materialization_events()]
    assert mat.metadata["tdprov/pandera_passed"].value is False and mat.metadata["tdprov/quality_policy"].value == "block"
    check = check_results(result)["pandera"]
    assert not check.passed and check.metadata["failure_count"].value == 2
    # what the Dagster UI shows with the failed check (it said nothing: only a partitioned asset's check had words)
    assert check.description == ("export: the latest materialization failed Pandera schema 'Positive': 2 failure cases "
                                 "[x: greater_than_or_equal_to(0) (2)]. Fix: materialize it again with data that passes the schema."), \
        check.description
    [(summary, _)] = runs_of(store, "export")
    assert summary.state == "COMPLETE"


class Scaled(pa.DataFrameModel):
    x: int = pa.Field(ge=0)
    y: float = pa.Field(gt=0, lt=10)


def test_the_pandera_check_names_a_missing_column_before_the_checks_that_could_not_run(store: Path, instance,
                                                                                      tmp_path: Path) -> None:
    """A table without column y failed 'y: column_in_dataframe', and y's other checks did not run; the check's
    description listed those first, each as a failure of 0 cases (y: dtype('float64') (0)), and, past the 5 it shows,
    left out the one that failed ('and 1 more'): it never said y is missing. The checks that failed come first, then
    those that did not run, said so."""

    @provenance_asset(schema=Scaled, quality_policy="block")
    def scaled(context, provenance: ProvenanceResource) -> MaterializeResult:
        path = tmp_path / "scaled.csv"
        pd.DataFrame({"x": [-1, 2]}).to_csv(path, index=False)
        done = provenance.record(outputs={"scaled": str(path)}, context=context)
        return MaterializeResult(metadata=done.metadata, data_version=done.data_version)

    check = check_results(run_all([scaled], instance, store))["pandera"]
    assert not check.passed
    assert check.description == (
        "scaled: the latest materialization failed Pandera schema 'Scaled': 2 failure cases [x: greater_than_or_equal_to(0) "
        "(1), y: column_in_dataframe (1), y: dtype('float64') (not run), y: not_nullable (not run), y: greater_than(0) "
        "(not run) and 1 more]. Fix: materialize it again with data that passes the schema."), check.description


def test_each_asset_of_a_multi_asset_step_gets_its_own_pandera_outcome(store: Path, instance, tmp_path: Path) -> None:
    """A @multi_asset whose step validates two assets in one record(): each asset's pandera check reads its own
    outcome through ``metadata_for`` (one failing, one passing); ``metadata`` alone holds neither."""
    from dagster import AssetSpec, multi_asset

    from prov_dagster.policy import POLICY_KEY, SCHEMA_KEY

    wants = {SCHEMA_KEY: Positive, POLICY_KEY: "block"}
    shared: dict[str, Any] = {}

    @multi_asset(specs=[AssetSpec("good", metadata=wants), AssetSpec("bad", metadata=wants)])
    def both(context, provenance: ProvenanceResource):
        done = provenance.record(outputs={"good": pd.DataFrame({"x": [1]}), "bad": pd.DataFrame({"x": [-1, -2]})},
                                 context=context)
        shared["metadata"] = done.metadata
        for name in ("good", "bad"):
            yield MaterializeResult(asset_key=name, metadata=done.metadata_for(name))

    result = run_all([both], instance, store)
    checks = {e.event_specific_data.asset_key.path[-1]: e.event_specific_data for e in result.all_events
              if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    assert (checks["good"].passed, checks["bad"].passed) == (True, False)
    assert checks["bad"].metadata["failure_count"].value == 2
    assert "tdprov/pandera" not in shared["metadata"]  # one dict cannot say two outcomes


def test_record_validates_a_passing_table_and_the_check_passes(store: Path, instance, tmp_path: Path) -> None:
    result = run_all([exporting([1, 2], "fail", tmp_path)], instance, store)
    assert result.success
    assert check_results(result)["pandera"].passed


def test_the_pandera_check_says_why_and_how_when_nothing_was_validated(store: Path, instance, tmp_path: Path) -> None:
    @provenance_asset(schema=Positive)
    def blob(context, provenance: ProvenanceResource) -> MaterializeResult:
        path = tmp_path / "blob.bin"
        path.write_bytes(b"\x00\x01")
        done = provenance.record(outputs={"blob": str(path)}, context=context)
        return MaterializeResult(metadata=done.metadata, data_version=done.data_version)

    result = run_all([blob], instance, store)
    check = check_results(result)["pandera"]
    assert not check.passed
    assert "No Pandera result is recorded" in check.description and "ProvenanceResource.record" in check.description


def test_record_takes_a_generator_of_outputs_and_validates_the_one_table(store: Path, instance, tmp_path: Path) -> None:
    @provenance_asset(schema=Positive, quality_policy="block")
    def export(context, provenance: ProvenanceResource) -> MaterializeResult:
        path = tmp_path / "export.csv"
        pd.DataFrame({"x": [-1]}).to_csv(path, index=False)
        done = provenance.record(outputs=(p for p in [str(path)]), context=context)
        return MaterializeResult(metadata=done.metadata, data_version=done.data_version)

    result = run_all([export], instance, store)
    check = check_results(result)["pandera"]
    assert not check.passed and check.metadata["failure_count"].value == 1


def test_the_pandera_check_reads_the_output_named_by_the_key_among_several(store: Path, instance, tmp_path: Path) -> None:
    @provenance_asset(schema=Positive, quality_policy="block")
    def export(context, provenance: ProvenanceResource) -> MaterializeResult:
        path, manifest = tmp_path / "export.csv", tmp_path / "manifest.txt"
        pd.DataFrame({"x": [-1, -2]}).to_csv(path, index=False)
        manifest.write_text("export.csv\n")
        done = provenance.record(outputs={"manifest": str(manifest), "export": str(path)}, context=context)
        return MaterializeResult(metadata=done.metadata, data_version=done.data_version)

    result = run_all([export], instance, store)
    [mat] = [e.materialization for e in result.get_asset_materialization_events()]
    assert mat.metadata["tdprov/pandera_passed"].value is False and mat.metadata["tdprov/quality_policy"].value == "block"
    check = check_results(result)["pandera"]
    assert not check.passed and check.metadata["failure_count"].value == 2



def test_an_output_named_by_its_location_is_not_the_one_named_by_the_key(store: Path, instance, s3_bucket: str) -> None:
    """``record(outputs=["s3://b/orders.csv", "s3://b/x.csv"])`` names no output by an asset key (docs/dagster.md: the
    output named by the asset's key, or the only output): dataset ``orders.csv`` in ``s3://b`` is not asset
    ``orders.csv``, so that asset's schema validates neither output and its check reports no result."""
    import boto3
    from dagster import AssetKey, AssetSpec, multi_asset

    from prov_dagster.policy import POLICY_KEY, SCHEMA_KEY

    for key, values in (("orders.csv", [-1]), ("x.csv", [1])):
        boto3.client("s3").put_object(Bucket=s3_bucket, Key=key, Body=pd.DataFrame({"x": values}).to_csv(index=False).encode())
    orders = AssetKey(["orders.csv"])

    @multi_asset(specs=[AssetSpec(orders, metadata={SCHEMA_KEY: Positive, POLICY_KEY: "block"}), AssetSpec("x")])
    def both(context, provenance: ProvenanceResource):
        done = provenance.record(outputs=[f"s3://{s3_bucket}/orders.csv", f"s3://{s3_bucket}/x.csv"], context=context)
        for key in (orders, AssetKey("x")):
            yield MaterializeResult(asset_key=key, metadata=done.metadata_for(key.to_user_string()))

    result = run_all([both], instance, store)
    assert check_results(result)["pandera"].passed is False  # no result recorded: nothing validated
    [(_, events)] = runs_of(store, "asset:orders.csv")  # op both: its first key
    assert [o.get("facets", {}).get("tdprov_pandera") for o in events[-1]["outputs"]] == [None, None]


# -- a partition range in one step ----------------------------------------------------------------------------
DAYS = StaticPartitionsDefinition(["p1", "p2", "p3"])
RANGE = {"dagster/asset_partition_range_start": "p1", "dagster/asset_partition_range_end": "p3"}


@asset(partitions_def=DAYS, backfill_policy=BackfillPolicy.single_run())
def daily(context) -> pd.DataFrame:
    return pd.DataFrame({"k": list(context.partition_keys)})


def test_definitions_warns_of_a_single_run_backfill_policy_on_an_io_manager_asset(store: Path, tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match=r"asset 'daily' has backfill_policy=BackfillPolicy\.single_run\(\).*multi_run\(1\)"):
        definitions([daily], store=str(store), audit_cron=None, watch_store=False)

    @asset(partitions_def=DAYS, backfill_policy=BackfillPolicy.single_run())
    def written_itself(context, provenance: ProvenanceResource) -> MaterializeResult:
        return MaterializeResult()

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        definitions([written_itself], store=str(store), audit_cron=None, watch_store=False)  # records through record()


def test_a_range_in_one_step_is_refused_naming_the_policy_and_sealed_fail(store: Path, instance) -> None:
    with pytest.warns(UserWarning):
        defs = definitions([daily], store=str(store), audit_cron=None, watch_store=False)
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(instance=instance, tags=RANGE, raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    text = str(failure.event_specific_data.error)
    assert "asset 'daily' materialized 3 partitions" in text and "BackfillPolicy.single_run()" in text and "multi_run(1)" in text
    [(summary, events)] = runs_of(store, "daily")
    assert summary.state == "FAIL" and "BackfillPolicy.single_run()" in json.dumps(events[-1])


class Raising(pa.DataFrameModel):
    """A schema that fails itself, not a check: its parser raises."""
    x: int

    @pa.dataframe_parser
    def widen(cls, df: pd.DataFrame) -> pd.DataFrame:
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")


def test_a_schema_that_raises_fails_the_step_naming_the_schema_and_the_fix_and_seals_the_run_fail(store: Path, instance) -> None:
    @asset(metadata={"pandera_schema": Raising})
    def raised() -> pd.DataFrame:
        return pd.DataFrame({"x": [1, 2]})

    result = materialize([raised], resources={"io_manager": ProvenanceIOManager()}, instance=instance, raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    text = str(failure.event_specific_data.error)
    said = ("Pandera schema 'Raising' raised TypeError (unsupported operand type(s) for +: 'int' and 'str') while validating "
            "the DataFrame")
    assert said in text and "Fix: correct the schema" in text
    [(summary, events)] = runs_of(store, "raised")
    assert summary.state == "FAIL" and said in json.dumps(events[-1])


# -- allow_missing_partitions ---------------------------------------------------------------------------------
PAIR = StaticPartitionsDefinition(["p1", "p2"])


@asset(partitions_def=PAIR)
def up(context) -> pd.DataFrame:
    return pd.DataFrame({"k": [context.partition_key]})


@asset(ins={"up": AssetIn(metadata={"allow_missing_partitions": True})})
def total(up: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(up.values(), ignore_index=True)


@asset(ins={"up": AssetIn()})
def strict_total(up: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(up.values(), ignore_index=True)


def test_allow_missing_partitions_skips_what_was_never_written_and_records_what_was_loaded(store: Path, instance) -> None:
    resources = {"io_manager": ProvenanceIOManager(), "provenance": ProvenanceResource()}
    assert materialize([up], partition_key="p1", instance=instance, resources=resources).success
    result = materialize([up, total], selection=["total"], instance=instance, resources=resources, raise_on_error=False)
    assert result.success
    [mat] = [e.materialization for e in result.get_asset_materialization_events()]
    assert mat.metadata["dagster/row_count"].value == 1
    [(summary, _)] = runs_of(store, "total")
    assert summary.state == "COMPLETE" and [Path(i.name).name for i in summary.inputs] == ["p1.parquet"]
    refused = materialize([up, strict_total], selection=["strict_total"], instance=instance, resources=resources,
                          raise_on_error=False)
    assert not refused.success  # without the metadata a missing partition is still refused


@pytest.mark.parametrize("partitioned", [False, True])
def test_the_pandera_check_of_an_asset_dagster_holds_no_materialization_of_says_so(store: Path, instance,
                                                                                   partitioned: bool) -> None:
    """The asset's history wiped (``dagster asset wipe``) and its check run alone: it said no Pandera result was recorded
    on the latest materialization, which does not exist, with the fix to write the asset through the IO manager it is
    written through. It says Dagster holds no materialization of it, and the fix is to materialize it."""
    from dagster import AssetCheckKey, AssetKey

    @provenance_asset(schema=Positive, partitions_def=StaticPartitionsDefinition(["a"]) if partitioned else None)
    def table() -> pd.DataFrame:
        return pd.DataFrame({"x": [1, 2]})

    defs = definitions([table], store=str(store), audit_cron=None, watch_store=False)
    written = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance, partition_key="a" if partitioned else None)
    assert check_results(written)["pandera"].passed
    instance.wipe_assets([AssetKey("table")])
    job = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection=set(), asset_check_selection={AssetCheckKey(AssetKey("table"), "pandera")})
    check = check_results(job.execute_in_process(instance=instance, raise_on_error=False))["pandera"]
    assert not check.passed
    assert check.description == ("Dagster holds no materialization of table to check: it was never materialized, or "
                                 "its history was wiped ('dagster asset wipe'). Fix: materialize table, then run its "
                                 "check."), check.description
