"""ProvenanceIOManager and provenance_asset under real ``materialize`` runs, with the bundles they write."""
from __future__ import annotations

import errno
import json
import logging
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow
import pyarrow.parquet as pq
import pytest
import rdflib
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetOut,
    AssetSelection,
    AssetSpec,
    DagsterInstance,
    DailyPartitionsDefinition,
    DataVersion,
    MaterializeResult,
    MetadataValue,
    Output,
    RetryPolicy,
    StaticPartitionsDefinition,
    TimeWindowPartitionMapping,
    asset,
    materialize,
    multi_asset,
)
from dagster._core.definitions.data_version import StaleStatus
from dagster._utils.test.data_versions import get_stale_status_resolver

import test_dagster_defs as pipeline
from dagster_support import delivered, run_failure as _failure
from test_dagster_defs import asset_of, located, url_path
from prov_common.bundle import list_bundles, read_bundle, verify_bundle
from prov_common.bundle.events import parse_events_jsonl
from prov_common.cli import main as cli_main
from prov_common.errors import BadInputError
from prov_common.hashing import hash_path
from prov_common.signing import signing_key_from_settings, trust_from_settings
from prov_common.sources import SourceRecord, register_source
from prov_common.store import open_store
from prov_common.store.local import LocalStore
from prov_dagster import ProvenanceIOManager, ProvenanceResource, pandera_checks, provenance_asset
from prov_dagster.checks import FIX_UNKNOWN, pandera_check_result, partitioned_check_result
from prov_dagster.naming import step_run_id

RAW, CLEAN, FEATURES = AssetKey(["raw", "orders"]), AssetKey(["clean", "orders_clean"]), AssetKey("features")
CHAIN_AND_CHECKS = [*pipeline.CHAIN, *pandera_checks(pipeline.CHAIN)]


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "store"
    monkeypatch.setenv("TDPROV_STORE", str(path))
    monkeypatch.delenv("TDPROV_TEST_VARIANT", raising=False)
    return path


@pytest.fixture
def instance() -> DagsterInstance:
    with DagsterInstance.ephemeral() as inst:
        yield inst


def run(assets: list[Any], instance: DagsterInstance, selection: Any = None, **kwargs: Any) -> Any:
    resources = {"io_manager": ProvenanceIOManager(**kwargs), "provenance": ProvenanceResource()}
    return materialize(assets, instance=instance, resources=resources, selection=selection, raise_on_error=False)


def materializations(result: Any) -> dict[AssetKey, Any]:
    return {e.materialization.asset_key: e.materialization for e in result.get_asset_materialization_events()}


def summaries(store: Path) -> list[Any]:
    delivered(store)
    return list(list_bundles(open_store(str(store))))


def bundle_events(store: Path, run_id: str) -> list[dict[str, Any]]:
    delivered(store)
    return parse_events_jsonl(read_bundle(open_store(str(store)), run_id).files["events.jsonl"])


def upstream(store: Path, name: str, version: str) -> list[str]:
    """Asset keys reached from (name, version) by walking the bundles' inputs (exact versions only)."""
    made_by = {(o.name, o.version): s for s in summaries(store) for o in s.outputs}
    reached, todo = [], [(name, version)]
    while todo:
        current = todo.pop()
        producer = made_by.get(current)
        if producer is None:
            continue
        for ref in producer.inputs:
            reached.append(asset_of(store, ref.name))
            todo.append((ref.name, ref.version))
    return reached


# -- the chain ------------------------------------------------------------------------------------
def test_chain_records_digests_as_metadata_data_versions_and_signed_bundles(
    store: Path, instance, ol_validator, capsys: pytest.CaptureFixture[str]
) -> None:
    vendor = SourceRecord(name=pipeline.SOURCE, digest="blake3:" + "5e" * 32, license="CC-BY-4.0", issuer="Vendor GmbH")
    register_source(open_store(str(store)), vendor, signing_key_from_settings())
    result = run(CHAIN_AND_CHECKS, instance)
    assert result.success
    mats = materializations(result)
    assert set(mats) == {RAW, CLEAN, FEATURES}
    data_root = Path(str(store) + "-data")
    for key, mat in mats.items():
        digest = mat.metadata["tdprov/digest"].value
        assert digest.startswith("blake3:") and mat.tags["dagster/data_version"] == digest
        on_disk = data_root / ("/".join(key.path) + ".parquet")
        assert hash_path(on_disk).digest == digest  # the file holds what was recorded
        columns = {r.data["column"]: r.data["digest"] for r in mat.metadata["tdprov/columns"].records}
        assert set(columns) == {c.name for c in mat.metadata["dagster/column_schema"].schema.columns}
        bundle = url_path(mat.metadata["tdprov/bundle"].value)  # a link to the bundle's folder in the store
        assert bundle.parent == store / "bundles" and (bundle / "statement.dsse.json").is_file()
    assert mats[RAW].metadata["tdprov/pandera_passed"].value is True
    assert mats[RAW].metadata["dagster/row_count"].value == 4
    # downstream records the exact upstream version it loaded
    assert mats[CLEAN].tags["dagster/input_data_version/raw/orders"] == mats[RAW].tags["dagster/data_version"]
    [check] = result.get_asset_check_evaluations()
    assert check.passed and check.metadata["schema"].value == "RawOrders"

    store_obj, trust = open_store(str(store)), trust_from_settings()
    found = summaries(store)
    assert {s.job_name for s in found} == {"raw__orders", "clean__orders_clean", "features"}
    for summary in found:
        assert verify_bundle(store_obj, summary.run_id, trust).ok
        assert summary.run_id == step_run_id(result.run_id, summary.job_name)
        events = bundle_events(store, summary.run_id)
        assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
        for event in events:
            ol_validator.validate_event(event)
            assert event["run"]["facets"]["parent"]["run"]["runId"] == result.run_id
            for ds in [*event["inputs"], *event["outputs"]]:  # named where the data lives; the asset key is a symlink
                if ds["namespace"] == "file":
                    assert ds["facets"]["symlinks"]["identifiers"] == [
                        {"namespace": "dagster://default", "name": asset_of(store, ds["name"]), "type": "DAGSTER_ASSET"}]
    clean = next(s for s in found if s.job_name == "clean__orders_clean")
    assert [(i.namespace, i.name, i.version) for i in clean.inputs] == [
        ("file", located(store, "raw/orders"), mats[RAW].metadata["tdprov/digest"].value)
    ]
    # lineage from the last asset reaches the first, and its registered source, through the store alone
    assert upstream(store, located(store, "features"), mats[FEATURES].metadata["tdprov/digest"].value) == [
        "clean/orders_clean",
        "raw/orders",
        pipeline.SOURCE,
    ]
    assert cli_main(["lineage", located(store, "features"), "--json", "--store", str(store)]) == 0
    tree = json.loads(capsys.readouterr().out)["lineage"]
    assert located(store, "raw/orders") in json.dumps(tree) and vendor.digest in json.dumps(tree)
    # the asset key names the same dataset: the same tree (the index entries name it by location only)
    assert cli_main(["lineage", "features", "--json", "--store", str(store)]) == 0
    assert json.loads(capsys.readouterr().out)["lineage"] == tree
    assert cli_main(["lineage", "clean/orders_clean", "--downstream", "--store", str(store)]) == 0
    assert capsys.readouterr().out.startswith(f"{located(store, 'clean/orders_clean')}  {mats[CLEAN].metadata['tdprov/digest'].value}")


def test_an_unregistered_source_is_recorded_without_a_version(store: Path, instance) -> None:
    assert run([pipeline.orders], instance).success
    [raw] = summaries(store)
    assert [(i.namespace, i.name, i.version) for i in raw.inputs] == [("tdprov://sources", pipeline.SOURCE, None)]


def test_a_declared_source_read_under_another_name_is_recorded_as_read(store: Path, instance, tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """An asset declares source 'vendor' (registered at vendor.csv) and records reading vendor.csv under a name of its
    own; the file changed since it was registered. The run read the bytes there now: that version is its input, once.
    The source's registered version was added beside it as a second input of the same dataset (the two were compared
    by name and namespace as recorded, and a name given in record() has none), and the sealed run said it read the
    registered version: the audit found the lineage complete, and lineage named the source as its origin."""
    vendor = tmp_path / "vendor.csv"
    vendor.write_text("sku,usd\na,1.5\n")
    registered = hash_path(vendor).digest
    register_source(open_store(str(store)), SourceRecord(name="vendor", digest=registered, license="CC-BY-4.0", issuer="Acme",
                                                         location=str(vendor)), signing_key_from_settings())
    vendor.write_text("sku,usd\na,2.5\n")  # changed since it was registered

    @provenance_asset(source="vendor")
    def prices(context, provenance: ProvenanceResource) -> MaterializeResult:
        out = tmp_path / "prices.parquet"
        pd.read_csv(vendor).to_parquet(out)
        done = provenance.record(inputs={"vendor_prices": str(vendor)}, outputs={"prices": str(out)}, context=context)
        return MaterializeResult(metadata=done.metadata, data_version=done.data_version)

    assert run([prices], instance).success
    [summary] = summaries(store)
    assert [(i.namespace, i.name, i.version) for i in summary.inputs] == [("file", str(vendor), hash_path(vendor).digest)]
    assert cli_main(["lineage", str(tmp_path / "prices.parquet"), "--json", "--store", str(store)]) == 0
    (tree,) = json.loads(capsys.readouterr().out)["lineage"]
    (read,) = tree["generatedBy"][0]["inputs"]
    assert read["version"] != registered and not read.get("sources")


def test_a_source_record_that_does_not_verify_is_warned_about_once_a_step(store: Path, instance, tmp_path: Path) -> None:
    """A step declaring its source and masking a failure sample read the same source records: another source's record
    that does not verify was named twice in the step's log (once with 'tdprov: ' before it), and once more per output
    of a multi-asset declaring the source."""
    vendor = tmp_path / "vendor.csv"
    vendor.write_text("sku,usd\na,1.5\n")
    key = signing_key_from_settings()
    register_source(open_store(str(store)), SourceRecord(name="vendor", digest=hash_path(vendor).digest, license="CC-BY-4.0",
                                                         issuer="Acme", location=str(vendor)), key)
    register_source(open_store(str(store)), SourceRecord(name="other", digest="blake3:" + "1" * 64, license="CC-BY-4.0",
                                                         issuer="Acme"), key)
    (bad,) = (store / "sources" / "other").rglob("*.json")
    envelope = json.loads(bad.read_bytes())
    envelope["signatures"][0]["sig"] = envelope["signatures"][0]["sig"][:-4] + "AAA="
    bad.write_text(json.dumps(envelope))
    schema = pa.DataFrameSchema({"usd": pa.Column(float, pa.Check.lt(1))})  # fails: a sample is masked

    wants = {"tdprov/source": "vendor", "pandera_schema": schema, "tdprov/quality_policy": "warn"}

    @multi_asset(outs={"p": AssetOut(metadata=wants), "q": AssetOut(metadata=wants)})
    def prices():
        return pd.read_csv(vendor), pd.read_csv(vendor)

    @provenance_asset(source="vendor", schema=schema, quality_policy="warn")
    def written(context, provenance: ProvenanceResource) -> MaterializeResult:  # ProvenanceResource.record's path
        out = tmp_path / "written.parquet"
        pd.read_csv(vendor).to_parquet(out)
        done = provenance.record(outputs={"written": str(out)}, context=context)
        return MaterializeResult(metadata=done.metadata, data_version=done.data_version)

    result = run([prices, written], instance)
    assert result.success
    said = sorted((e.step_key, e.user_message.removeprefix("tdprov: ")) for e in instance.all_logs(result.run_id)
                  if e.level == logging.WARNING and "does not verify" in (e.user_message or ""))
    once = (f"1 other source record does not verify, so it is not trusted and not used: {bad.relative_to(store)}. "
            "Fix: delete a record nobody registered; 'tdprov audit' reports every record that does not verify, and why.")
    assert said == [("prices", once), ("written", once)], said


def test_unchanged_data_keeps_its_versions_changed_data_gets_a_new_one_and_downstream_is_stale(
    store: Path, instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = materializations(run(pipeline.CHAIN, instance))
    again = materializations(run(pipeline.CHAIN, instance))
    assert {k: m.tags["dagster/data_version"] for k, m in again.items()} == {
        k: m.tags["dagster/data_version"] for k, m in first.items()
    }
    assert get_stale_status_resolver(instance, pipeline.CHAIN).get_status(CLEAN) == StaleStatus.FRESH

    monkeypatch.setenv("TDPROV_TEST_VARIANT", "1")
    changed = materializations(run(pipeline.CHAIN, instance, selection=[pipeline.orders]))
    assert changed[RAW].tags["dagster/data_version"] != first[RAW].tags["dagster/data_version"]
    resolver = get_stale_status_resolver(instance, pipeline.CHAIN)
    assert resolver.get_status(CLEAN) == StaleStatus.STALE
    causes = resolver.get_stale_root_causes(CLEAN)
    assert [(c.key.asset_key, c.category.value, c.reason) for c in causes] == [(RAW, "DATA", "has a new data version")]
    # features read clean/orders_clean, whose recorded content has not changed (yet): not stale
    assert resolver.get_status(FEATURES) == StaleStatus.FRESH


def test_a_frame_changed_in_place_and_returned_again_is_versioned_by_its_new_content(store: Path, instance) -> None:
    """An asset that returns the same DataFrame object again after changing it in place (a frame a module keeps) in
    one process got the digest of what the object held when first hashed as its data version and recorded version,
    while its file held the new rows; each return is hashed again."""
    from prov_common.hashing import hash_dataframe

    kept = pd.DataFrame({"x": [1, 2, 3]})

    @asset(name="kept")
    def plain() -> pd.DataFrame:
        return kept

    @provenance_asset(name="kept_too")
    def versioned() -> pd.DataFrame:
        return kept

    first = materializations(run([plain, versioned], instance))
    kept.loc[0, "x"] = 100
    again = materializations(run([plain, versioned], instance))
    new = hash_dataframe(kept).digest
    for key in (AssetKey("kept"), AssetKey("kept_too")):
        assert first[key].tags["dagster/data_version"] != new
        assert again[key].tags["dagster/data_version"] == again[key].metadata["tdprov/digest"].value == new
    recorded = {(asset_of(store, o.name), o.version) for s in summaries(store) for o in s.outputs}
    assert recorded >= {("kept", new), ("kept_too", new)}, recorded


def test_a_frame_versioned_at_row_granularity_leaves_no_digest_for_its_next_return(store: Path, instance) -> None:
    """A provenance_asset at row granularity hashed its frame for its data version and the IO manager hashed it again
    with its rows, leaving the first digest kept for the object: an asset returning that object after changing it in
    place got that digest, of the old rows. The IO manager now takes the row digest the asset took, once."""
    from prov_common.hashing import hash_dataframe

    kept = pd.DataFrame({"x": [1, 2, 3]})

    @provenance_asset(name="rows_first", granularity="row")
    def by_rows() -> pd.DataFrame:
        return kept

    @asset(name="plain_next")
    def plain() -> pd.DataFrame:
        return kept

    first = materializations(run([by_rows], instance))
    assert first[AssetKey("rows_first")].metadata["tdprov/digest"].value == hash_dataframe(kept).digest
    kept.loc[0, "x"] = 100
    again = materializations(run([plain], instance))
    assert again[AssetKey("plain_next")].metadata["tdprov/digest"].value == hash_dataframe(kept).digest


@pytest.mark.parametrize("elsewhere", ["other_io_manager", "refused"])
def test_a_digest_kept_for_a_frame_never_written_is_not_taken_by_a_later_step(store: Path, instance, elsewhere: str) -> None:
    """A provenance_asset keeps the digest of the frame it returns for the IO manager that writes it; when no
    ProvenanceIOManager hashed that frame (it went to another IO manager, or was refused before its hash was taken),
    the digest stayed kept, and a later step returning that object, changed in place since, was credited with it:
    data version and recorded version of rows its file does not hold. A kept digest is now taken only by the step
    that kept it."""
    from dagster import mem_io_manager
    from prov_common.hashing import hash_dataframe

    kept = pd.DataFrame({"x": [1, 2, 3]})
    if elsewhere == "refused":  # two columns labelled "x": refused before the IO manager hashes it
        kept = pd.DataFrame([[1, 4], [2, 5], [3, 6]], columns=["x", "x"])

    @provenance_asset(name="first", io_manager_key="memory" if elsewhere == "other_io_manager" else "io_manager")
    def first() -> pd.DataFrame:
        return kept

    @asset(name="next")
    def later() -> pd.DataFrame:
        return kept

    resources = {"io_manager": ProvenanceIOManager(), "memory": mem_io_manager}
    done = materialize([first], instance=instance, resources=resources, raise_on_error=False)
    assert done.success is (elsewhere == "other_io_manager")
    if elsewhere == "refused":
        kept.columns = ["x", "y"]
    kept.loc[0, "x"] = 100
    again = materializations(materialize([later], instance=instance, resources=resources))
    new = hash_dataframe(kept).digest
    assert again[AssetKey("next")].metadata["tdprov/digest"].value == again[AssetKey("next")].tags["dagster/data_version"] == new
    recorded = {(asset_of(store, o.name), o.version) for s in summaries(store) for o in s.outputs}
    assert ("next", new) in recorded, recorded


def test_the_io_manager_takes_the_digest_its_step_kept(store: Path, instance, monkeypatch: pytest.MonkeyPatch) -> None:
    """The frame a provenance_asset returns is hashed once: the IO manager of its step takes the digest kept."""
    import prov_dagster.digests as digests

    hashed: list[int] = []
    real = digests.hash_dataframe
    monkeypatch.setattr(digests, "hash_dataframe", lambda df, **kw: hashed.append(id(df)) or real(df, **kw))
    frame = pd.DataFrame({"x": [1, 2, 3]})

    @provenance_asset(name="once")
    def once() -> pd.DataFrame:
        return frame

    mats = materializations(run([once], instance))
    assert hashed == [id(frame)]
    assert mats[AssetKey("once")].metadata["tdprov/digest"].value == real(frame).digest


def test_tampered_parquet_is_refused_on_load_naming_asset_and_digests(store: Path, instance) -> None:
    mats = materializations(run(pipeline.CHAIN, instance, selection=[pipeline.orders]))
    path = Path(str(store) + "-data") / "raw" / "orders.parquet"
    table = pq.read_table(path)
    amounts = table.column("amount").to_pylist()
    amounts[0] = 999.0
    pq.write_table(table.set_column(1, "amount", pa_arrow.array(amounts)), path)
    found = hash_path(path).digest

    result = run(pipeline.CHAIN, instance, selection=[pipeline.orders_clean])
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.step_failure_data.error.cause.message if failure.step_failure_data.error.cause else ""
    message += failure.step_failure_data.error.message
    assert "VerificationError" in message and "'raw/orders'" in message
    assert mats[RAW].metadata["tdprov/digest"].value in message and found in message
    # the refused load is the step's failure, recorded with the refusal and the version it read and refused, never the
    # recorded one it did not read (it left no bundle at all)
    recorded = mats[RAW].metadata["tdprov/digest"].value
    [refused] = [s for s in summaries(store) if s.job_name == "clean__orders_clean" and s.state == "FAIL"]
    events = bundle_events(store, refused.run_id)
    assert [e["eventType"] for e in events] == ["START", "FAIL"]
    assert [i.version for i in refused.inputs] == [found]  # read, and refused
    said = events[-1]["run"]["facets"]["errorMessage"]["message"]
    assert "'raw/orders'" in said and found in said and recorded in said

    warned = run(pipeline.CHAIN, instance, selection=[pipeline.orders_clean], on_mismatch="warn")
    assert warned.success
    clean = [s.state for s in summaries(store) if s.job_name == "clean__orders_clean" and s.inputs and s.inputs[0].version == found]
    assert sorted(clean) == ["COMPLETE", "FAIL"]  # the version actually loaded is what is recorded


@pytest.mark.filterwarnings("ignore:Dataset.default_context is deprecated:DeprecationWarning")  # prov's RDF writer
def test_a_refused_load_is_no_prov_use_of_the_recorded_version_it_never_read(store: Path, instance, tmp_path: Path,
                                                                             ol_validator) -> None:
    """The file held other bytes than the version Dagster recorded: the failed step read those and refused them, so its
    PROV (plain SPARQL over the Turtle export, with rdflib) says it used what it read, never the recorded version; its
    events follow the OpenLineage schemas (formats checked), the input named as the upstream run names its output."""
    recorded = materializations(run(pipeline.CHAIN, instance))[RAW].metadata["tdprov/digest"].value
    path = Path(str(store) + "-data") / "raw" / "orders.parquet"
    df = pd.read_parquet(path)
    df.loc[0, "amount"] = 999.0
    df.to_parquet(path)
    found = hash_path(path).digest
    assert not run(pipeline.CHAIN, instance, selection=[pipeline.orders_clean]).success
    delivered(store)
    out = tmp_path / "prov.ttl"
    assert cli_main(["export", "--format", "ttl", "-o", str(out), "--store", str(store)]) == 0
    used = """PREFIX prov: <http://www.w3.org/ns/prov#>
    PREFIX tdprov: <https://github.com/tdprov/tdprov/ns#>
    SELECT ?state ?version WHERE { ?run a prov:Activity ; tdprov:state ?state ; prov:used ?v . ?v tdprov:version ?version }"""
    reads = {(str(state), str(version)) for state, version in rdflib.Graph().parse(out, format="turtle").query(used)}
    assert ("COMPLETE", recorded) in reads  # the first run of the clean step read what raw wrote
    assert ("FAIL", recorded) not in reads and ("FAIL", found) in reads
    [failed] = [s for s in summaries(store) if s.state == "FAIL"]
    [written] = [s for s in summaries(store) if s.job_name == "raw__orders"]
    events = bundle_events(store, failed.run_id)
    for event in events:
        ol_validator.validate_event(event)
    assert {(i["namespace"], i["name"]) for i in events[-1]["inputs"]} == {(o.namespace, o.name) for o in written.outputs}


def _changed_upstream(store: Path, instance: DagsterInstance) -> tuple[Path, str]:
    """raw materialized (the first asset of the chain, all that loading orders_clean reads), then its data changed, so
    that loading it for orders_clean is refused: the data folder, and the digest raw recorded."""
    recorded = materializations(run(pipeline.CHAIN, instance, selection=[pipeline.orders]))[RAW].metadata["tdprov/digest"].value
    data = Path(str(store) + "-data")
    path = data / "raw" / "orders.parquet"
    df = pd.read_parquet(path)
    df.loc[0, "amount"] = 999.0
    df.to_parquet(path)
    return data, recorded


def _refused_load_with_an_unusable_store(store: Path, instance: DagsterInstance, tmp_path: Path) -> Any:
    """The chain materialized, raw's data then changed, and orders_clean run again in strict mode with a store path
    under a file (the store takes nothing, the START of the refused load included): its result."""
    data, _ = _changed_upstream(store, instance)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store folder should be")
    return run(pipeline.CHAIN, instance, selection=[pipeline.orders_clean], strict=True,
               store=str(blocker / "store"), data_root=str(data))


def test_a_refused_load_in_strict_mode_with_an_unusable_store_fails_with_the_refusal(
    store: Path, instance, tmp_path: Path
) -> None:
    """Strict mode records a refused load's run synchronously: a store that cannot take its START does not hide the
    refusal (the data problem) behind the store's error; the step fails with the refusal, the store named in it, with a
    fix naming the setting the store came from (it said TDPROV_STORE where the IO manager's config set it)."""
    result = _refused_load_with_an_unusable_store(store, instance, tmp_path)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    error = failure.step_failure_data.error
    shown = error.cause if error.cause is not None else error  # the user's error, under Dagster's wrapper
    assert "VerificationError" in shown.cls_name and "'raw/orders'" in shown.message, error.to_string()
    # the store failure that kept the run from being recorded, named in it
    assert "could not be recorded either: cannot write" in shown.message and "not-a-folder" in shown.message
    # its fix names the setting the store was given by (the IO manager's config), not TDPROV_STORE
    assert "Fix: point the ProvenanceIOManager's 'store' config at a folder (or move " in shown.message, shown.message
    assert "TDPROV_STORE" not in shown.message, shown.message


def test_a_refused_load_in_strict_mode_whose_start_the_store_refused_does_not_fail_the_teardown_again(
    store: Path, instance, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """After such a refusal (the step failed with it, the store's error named in it), the IO manager's teardown ended
    the step's run with a FAIL the same store refused in the same way, and raised it: Dagster logged "Teardown of
    resources [io_manager] failed", an alarm for an error already reported. The teardown now leaves that run, with a
    warning naming it, the store's error and the fix, and ends cleanly."""
    with caplog.at_level(logging.WARNING, logger="prov_dagster"):
        result = _refused_load_with_an_unusable_store(store, instance, tmp_path)
    assert not result.success
    said = [str(e.message) for e in result.all_events if e.message]
    assert not [m for m in said if "Teardown of resources" in m], said
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    error = failure.step_failure_data.error
    assert "VerificationError" in (error.cause or error).cls_name, error.to_string()
    [warned] = [r.getMessage() for r in caplog.records if "of the failed step" in r.getMessage()]
    assert (f"tdprov: run {step_run_id(result.run_id, 'clean__orders_clean')} of the failed step 'clean__orders_clean' "
            "is not recorded: the store did not take its FAIL either (" in warned and "not-a-folder" in warned
            and "as the step's error says of its START. Fix: " in warned
            and warned.endswith(", then materialize the step again")), warned


class _FailingMount(LocalStore):
    """A local store on a mount gone bad once ``failing`` is set: its next write is lost, and, with ``listings``,
    every listing fails with the ``OSError`` (EIO) as a backend may let it through untranslated."""

    failing = False
    listings = False
    lost = 0

    def put(self, key: str, data: Any) -> bool:
        if type(self).failing and not type(self).lost:
            type(self).lost += 1
            raise OSError(errno.EIO, "Input/output error", key)
        return super().put(key, data)

    def _list(self, prefix: str, start_after: str | None) -> Any:
        if type(self).failing and type(self).listings:
            raise self._listing_fault(prefix)
        return super()._list(prefix, start_after)

    def _list_info(self, prefix: str, start_after: str | None, tags_for: Any = None) -> Any:
        if type(self).failing and type(self).listings:
            raise self._listing_fault(prefix)
        return super()._list_info(prefix, start_after, tags_for)

    def _listing_fault(self, prefix: str) -> Exception:
        """What a listing of ``prefix`` raises once ``failing`` with ``listings``."""
        return OSError(errno.EIO, "Input/output error", prefix)


class _BuggyMount(_FailingMount):
    """A :class:`_FailingMount` whose listings, with ``listings`` once ``failing``, meet a fault of the code (a
    ``TypeError``), no error of the store."""

    def _listing_fault(self, prefix: str) -> Exception:
        return TypeError("'NoneType' object is not iterable")


def _refused_load_on_a_failing_mount(store: Path, instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch, *,
                                     listings: bool, kind: type[_FailingMount] = _FailingMount
                                     ) -> tuple[Any, type[_FailingMount]]:
    """orders_clean run again in strict mode after raw's data changed, its store a :class:`_FailingMount` (or ``kind``)
    that lost the START of the refused load (and, with ``listings``, fails every listing after it): its result, and the
    mount."""
    from prov_common.bundle import transport

    mount = type("Mount", (kind,), {"listings": listings})
    opened = transport.open_store
    monkeypatch.setattr(transport, "open_store", lambda *args, **kwargs: mount(opened(*args, **kwargs).root))
    _changed_upstream(store, instance)
    mount.failing = True
    return run(pipeline.CHAIN, instance, selection=[pipeline.orders_clean], strict=True), mount


def test_a_refused_load_whose_start_the_store_lost_is_sealed_with_the_fail_the_teardown_tries_once_more(
    store: Path, instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Strict mode: the store lost the START of a refused load (the step fails with the refusal, the store's error named
    in it); the IO manager's teardown tries the run's FAIL once more, the store has come back, and the run is sealed
    with that FAIL and the refusal as its error."""
    result, _ = _refused_load_on_a_failing_mount(store, instance, monkeypatch, listings=False)
    assert not result.success
    said = [str(e.message) for e in result.all_events if e.message]
    assert not [m for m in said if "Teardown of resources" in m], said
    assert "could not be recorded either: cannot write 'staging/" in _failure(result)
    run_id = step_run_id(result.run_id, "clean__orders_clean")
    events = bundle_events(store, run_id)
    assert [e["eventType"] for e in events] == ["START", "FAIL"], events  # the START as staging kept it
    assert "does not hold the recorded data" in events[-1]["run"]["facets"]["errorMessage"]["message"], events[-1]


def test_a_failed_steps_fail_that_meets_an_os_error_of_the_store_is_named_not_raised_in_the_teardown(
    store: Path, instance, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Strict mode, the START of a refused load lost (the step's error says so): the teardown's FAIL was staged, and its
    seal met an OSError (EIO) the store let through untranslated. Only the store's own errors were named: this one
    failed the teardown ("Teardown of resources [io_manager] failed") for the step's error already reported. It is
    named in a warning with the run, the step, the error and the fix; the FAIL stays staged, and 'tdprov store seal
    --force' seals it once the store answers, with the START the teardown sent again as first built (the bundle held the
    FAIL alone before the START was kept)."""
    with caplog.at_level(logging.WARNING, logger="prov_dagster"):
        result, mount = _refused_load_on_a_failing_mount(store, instance, monkeypatch, listings=True)
    assert not result.success
    said = [str(e.message) for e in result.all_events if e.message]
    assert not [m for m in said if "Teardown of resources" in m], said
    run_id = step_run_id(result.run_id, "clean__orders_clean")
    [warned] = [r.getMessage() for r in caplog.records if "of the failed step" in r.getMessage()]
    assert warned.startswith(f"tdprov: run {run_id} of the failed step 'clean__orders_clean' is not sealed: its FAIL could not "
                      "be recorded (OSError: [Errno 5] Input/output error: 'staging/"), warned
    mount.failing = False  # the store answers again
    assert cli_main(["store", "seal", "--force", "--store", str(store), run_id]) == 0
    events = bundle_events(store, run_id)
    assert [e["eventType"] for e in events] == ["START", "FAIL"], events
    assert [d["name"] for d in events[0]["inputs"]] == [d["name"] for d in events[1]["inputs"]], events


def test_a_failed_steps_fail_that_meets_a_fault_of_the_code_asks_for_a_report_not_a_store_fix(
    store: Path, instance, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """As above, the seal of the teardown's FAIL meeting a TypeError (a fault of the code, not of the store): the warning
    told to make the store reachable and writable, which it was; it now names the error, asks for a report with the
    traceback it logs, and keeps the seal fix."""
    with caplog.at_level(logging.WARNING, logger="prov_dagster"):
        result, _ = _refused_load_on_a_failing_mount(store, instance, monkeypatch, listings=True, kind=_BuggyMount)
    assert not result.success
    run_id = step_run_id(result.run_id, "clean__orders_clean")
    [record] = [r for r in caplog.records if "of the failed step" in r.getMessage()]
    assert record.getMessage() == (
        f"tdprov: run {run_id} of the failed step 'clean__orders_clean' is not sealed: its FAIL could not be recorded "
        "(TypeError: 'NoneType' object is not iterable); what the store took of the run stays staged there. Fix: report "
        "this error to tdprov's maintainers with the traceback logged below it, then run 'tdprov store seal --force "
        f"{run_id}' (provenance_failure_sensor seals it as the run fails)"), record.getMessage()
    assert "reachable and writable" not in record.getMessage()
    assert record.exc_info is not None and record.exc_info[0] is TypeError


class _UnreadableSnapshots(LocalStore):
    """A local store whose snapshots folder (``objects/``) cannot be read, the ``OSError`` let through untranslated."""

    def _exists(self, key: str) -> bool:
        if key.startswith("objects/"):
            raise OSError(errno.EACCES, "Permission denied", key)
        return super()._exists(key)


def test_a_refused_load_whose_snapshot_check_meets_an_os_error_fails_with_the_refusal(
    store: Path, instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A load refused for its changed data asks the store whether it keeps a snapshot to restore, for its fix: a store
    that let an OSError through there failed the step with that OSError, the refusal lost. The step fails with the
    refusal, its fix saying the store could not be asked and offering no 'tdprov checkout' that may fail."""
    from prov_common.bundle import transport

    opened = transport.open_store
    monkeypatch.setattr(transport, "open_store", lambda *args, **kwargs: _UnreadableSnapshots(opened(*args, **kwargs).root))
    data, expected = _changed_upstream(store, instance)
    result = run(pipeline.CHAIN, instance, selection=[pipeline.orders_clean])
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    error = failure.step_failure_data.error
    shown = error.cause if error.cause is not None else error  # the user's error, under Dagster's wrapper
    assert "VerificationError" in shown.cls_name, error.to_string()
    assert f"at {data / 'raw' / 'orders.parquet'} does not hold the recorded data: expected digest {expected}" in shown.message
    assert (f"Fix: re-materialize the upstream asset (whether the store keeps a snapshot of {expected} to restore is not "
            f"known: it could not be asked (PermissionError: [Errno 13] Permission denied: 'objects/") in shown.message, shown.message
    assert "tdprov checkout" not in shown.message


class _HungSnapshots(LocalStore):
    """A local store whose snapshots folder (``objects/``) does not answer (a hung mount) until ``answer`` is set."""

    answer = threading.Event()

    def _exists(self, key: str) -> bool:
        if key.startswith("objects/"):
            type(self).answer.wait(600)
        return super()._exists(key)


def test_a_refused_load_whose_snapshot_check_hangs_fails_with_the_refusal_within_the_exit_bound(
    store: Path, instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A load refused for its changed data asks the store whether it keeps a snapshot to restore, for its fix, with no
    time bound: a store that hangs there held the refused load for good. The lookup is bounded (TDPROV_EXIT_TIMEOUT, 1 s
    here); the step fails with the refusal, its fix saying the store did not answer."""
    from prov_common.bundle import transport

    opened = transport.open_store
    monkeypatch.setattr(transport, "open_store", lambda *args, **kwargs: _HungSnapshots(opened(*args, **kwargs).root))
    _, expected = _changed_upstream(store, instance)
    monkeypatch.setenv("TDPROV_EXIT_TIMEOUT", "1")
    _HungSnapshots.answer.clear()
    began = time.monotonic()
    try:
        result = run(pipeline.CHAIN, instance, selection=[pipeline.orders_clean])
    finally:
        _HungSnapshots.answer.set()  # the lookup left behind ends with the test
    assert time.monotonic() - began < 10
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    error = failure.step_failure_data.error
    shown = error.cause if error.cause is not None else error  # the user's error, under Dagster's wrapper
    assert "VerificationError" in shown.cls_name, error.to_string()
    assert (f"Fix: re-materialize the upstream asset (whether the store keeps a snapshot of {expected} to restore is not "
            "known: the store did not answer within 1s)") in shown.message, shown.message
    assert "tdprov checkout" not in shown.message


class _BrokenSnapshots(LocalStore):
    """A local store whose snapshot lookup meets a fault of the code (a ``TypeError``), no store or OS error."""

    def _exists(self, key: str) -> bool:
        if key.startswith("objects/"):
            raise TypeError("'NoneType' object is not subscriptable")
        return super()._exists(key)


def test_a_refused_load_whose_snapshot_check_meets_any_error_fails_with_the_refusal(
    store: Path, instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a store's error or an OSError was caught there: any other (a TypeError) failed the step with it, the refusal
    lost. The step fails with the refusal, its fix naming the error."""
    from prov_common.bundle import transport

    opened = transport.open_store
    monkeypatch.setattr(transport, "open_store", lambda *args, **kwargs: _BrokenSnapshots(opened(*args, **kwargs).root))
    _changed_upstream(store, instance)
    result = run(pipeline.CHAIN, instance, selection=[pipeline.orders_clean])
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    error = failure.step_failure_data.error
    shown = error.cause if error.cause is not None else error
    assert "VerificationError" in shown.cls_name, error.to_string()
    assert "it could not be asked (TypeError: 'NoneType' object is not subscriptable))" in shown.message, shown.message


def test_tamper_is_caught_by_the_sidecar_without_dagster_history(store: Path) -> None:
    with DagsterInstance.ephemeral() as first:
        assert run(pipeline.CHAIN, first, selection=[pipeline.orders]).success
    path = Path(str(store) + "-data") / "raw" / "orders.parquet"
    df = pd.read_parquet(path)
    df.loc[0, "country"] = "FR"
    df.to_parquet(path)
    with DagsterInstance.ephemeral() as fresh:
        result = run(pipeline.CHAIN, fresh, selection=[pipeline.orders_clean])
    assert not result.success


DAMAGES = [
    ("orders.parquet.tdprov.json", b"", "sidecar {data}/raw/orders.parquet.tdprov.json is not JSON"),
    ("orders.parquet.tdprov.json", b"[]", "sidecar {data}/raw/orders.parquet.tdprov.json is not the record tdprov writes"),
    ("orders.parquet.tdprov.json", b'{"digest": 5}',
     "sidecar {data}/raw/orders.parquet.tdprov.json is not the record tdprov writes"),
    ("orders.parquet", b"PAR1", "data file {data}/raw/orders.parquet is not a Parquet file that can be read"),
]


def test_a_damaged_sidecar_or_data_file_is_named_with_its_fix(store: Path) -> None:
    """A sidecar emptied, of another JSON type or with a number for its digest, and a data file cut short, failed the
    reading step with a bare JSONDecodeError, "'int' object has no attribute 'get'" or ArrowInvalid (a sidecar holding
    [] or null was taken as none, and the data loaded unchecked). Each is named, with its fix; on_mismatch='warn'
    loads past a damaged sidecar. Each damage is written over the files of the one materialization in turn, the
    files as written restored before the next."""
    with DagsterInstance.ephemeral() as first:
        assert run(pipeline.CHAIN, first, selection=[pipeline.orders]).success
    data = Path(str(store) + "-data")
    written = {name: (data / "raw" / name).read_bytes() for name in {name for name, _, _ in DAMAGES}}
    for name, content, said in DAMAGES:
        for kept, original in written.items():
            (data / "raw" / kept).write_bytes(original)
        (data / "raw" / name).write_bytes(content)
        case = f"{name} holding {content!r}"
        with DagsterInstance.ephemeral() as fresh:
            result = run(pipeline.CHAIN, fresh, selection=[pipeline.orders_clean])
        message = _failure(result)
        assert not result.success and said.format(data=data) in message and "re-materialize the upstream asset" in message, (
            case, message)
        if name.endswith(".tdprov.json"):
            with DagsterInstance.ephemeral() as fresh:
                assert run(pipeline.CHAIN, fresh, selection=[pipeline.orders_clean], on_mismatch="warn").success, case


# -- quality ------------------------------------------------------------------------------------
SCORES = pa.DataFrameSchema({"score": pa.Column(float, pa.Check.in_range(0, 1), metadata={"personal": False})}, name="Scores")


def _scores() -> pd.DataFrame:
    return pd.DataFrame({"score": [0.5, 1.7, -2.0]})


@provenance_asset(schema=SCORES, quality_policy="fail")
def scores_fail() -> pd.DataFrame:
    return _scores()


@provenance_asset(schema=SCORES, quality_policy="block")
def scores_block() -> pd.DataFrame:
    return _scores()


@asset(ins={"scores": AssetIn("scores_fail")})
def after_fail(scores: pd.DataFrame) -> pd.DataFrame:
    return scores


@asset(ins={"scores": AssetIn("scores_block")})
def after_block(scores: pd.DataFrame) -> pd.DataFrame:
    return scores


def test_pandera_failure_fails_the_step_and_is_recorded_with_samples(store: Path, instance, ol_validator) -> None:
    result = run([scores_fail, after_fail, *pandera_checks([scores_fail])], instance)
    assert not result.success
    assert materializations(result) == {}
    assert not (Path(str(store) + "-data") / "scores_fail.parquet").exists()  # bad data is not written
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    shown = failure.step_failure_data.user_failure_data  # what the Dagster UI shows with the failure
    assert "failed Pandera schema 'Scores': 2 failure cases" in shown.description
    assert shown.metadata["tdprov/pandera_passed"].value is False and "tdprov/bundle" in shown.metadata
    [summary] = summaries(store)
    assert summary.state == "FAIL" and summary.job_name == "scores_fail"
    bundle = read_bundle(open_store(str(store)), summary.run_id)
    [fail] = [e for e in parse_events_jsonl(bundle.files["events.jsonl"]) if e["eventType"] == "FAIL"]
    ol_validator.validate_event(fail)
    pandera_facet = fail["outputs"][0]["facets"]["tdprov_pandera"]
    assert pandera_facet["passed"] is False and pandera_facet["failureCount"] == 2
    assert "failed Pandera schema 'Scores'" in fail["run"]["facets"]["errorMessage"]["message"]
    samples = pd.read_parquet(pa_arrow.BufferReader(bundle.files[pandera_facet["samplesFile"]]))
    assert sorted(samples["failure_case"]) == ["-2.0", "1.7"]


LOOSE = pa.DataFrameSchema({"score": pa.Column(float)}, name="Scores")


def _scores_under(schema: pa.DataFrameSchema) -> Any:
    @provenance_asset(schema=schema, quality_policy="fail", name="scores")
    def scores() -> pd.DataFrame:
        return _scores()

    return scores


@asset(ins={"scores": AssetIn("scores")})
def report(scores: pd.DataFrame) -> pd.DataFrame:
    return scores.describe().reset_index()


def test_a_refused_write_is_never_the_version_a_reader_read(store: Path, instance, capsys: pytest.CaptureFixture) -> None:
    """scores is written under a loose schema (COMPLETE); then a stricter check refuses the same frame
    (FAIL: nothing written); report then reads the file. It read what the completed run wrote: lineage,
    the merged PROV and the training record say so, never the failed run that wrote nothing."""
    assert run([_scores_under(LOOSE)], instance).success
    assert not run([_scores_under(SCORES)], instance).success
    assert run([_scores_under(SCORES), report], instance, selection=[AssetKey("report")]).success
    by_state = {s.state: s.run_id for s in summaries(store) if s.job_name == "scores"}
    written, refused = by_state["COMPLETE"], by_state["FAIL"]
    assert cli_main(["lineage", "report", "--json", "--store", str(store)]) == 0
    (tree,) = json.loads(capsys.readouterr().out)["lineage"]
    (read,) = tree["generatedBy"][0]["inputs"]
    assert [(g["runId"], g["state"]) for g in read["generatedBy"]] == [(written, "COMPLETE")]
    assert cli_main(["export", "--store", str(store)]) == 0
    derived = json.loads(capsys.readouterr().out)["wasDerivedFrom"].values()
    assert {d["prov:usedEntity"].rsplit("-by-run-", 1)[1] for d in derived if "-by-run-" in d["prov:usedEntity"]} == {written}
    assert cli_main(["record", "report", "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert written in out and refused not in out


def test_blocking_policy_writes_and_records_but_stops_downstream(store: Path, instance) -> None:
    result = run([scores_block, after_block, *pandera_checks([scores_block])], instance)
    mats = materializations(result)
    assert set(mats) == {AssetKey("scores_block")}  # downstream never ran
    assert mats[AssetKey("scores_block")].metadata["tdprov/pandera_passed"].value is False
    [check] = result.get_asset_check_evaluations()
    assert not check.passed and check.severity.value == "ERROR"
    assert check.metadata["failure_count"].value == 2
    [summary] = summaries(store)
    assert summary.state == "COMPLETE"
    events = bundle_events(store, summary.run_id)
    assert events[-1]["outputs"][0]["facets"]["tdprov_pandera"]["passed"] is False
    assert {t["status"] for t in events[-1]["run"]["facets"]["test"]["tests"]} == {"pass", "fail"}


@asset(metadata={"pandera_schema": "test_dagster_assets:SCORES", "tdprov/quality_policy": "warn"})
def scores_warn() -> pd.DataFrame:
    return _scores()


@asset(ins={"scores": AssetIn("scores_warn")})
def after_warn(scores: pd.DataFrame) -> pd.DataFrame:
    return scores


def test_warn_policy_with_a_schema_import_path_writes_warns_and_continues(store: Path, instance) -> None:
    result = run([scores_warn, after_warn, *pandera_checks([scores_warn])], instance)
    assert result.success
    assert set(materializations(result)) == {AssetKey("scores_warn"), AssetKey("after_warn")}
    [check] = result.get_asset_check_evaluations()
    assert not check.passed and check.severity.value == "WARN"
    assert any("failed Pandera schema 'Scores'" in (e.message or "") for e in instance.all_logs(result.run_id))


# -- partitions -----------------------------------------------------------------------------------
SCORE_PARTS = StaticPartitionsDefinition(["a", "b"])
BAD_PARTITIONS: set[str] = set()


@asset(partitions_def=SCORE_PARTS, metadata={"pandera_schema": "test_dagster_assets:SCORES", "tdprov/quality_policy": "block"})
def scores_parts(context) -> pd.DataFrame:  # noqa: ANN001 (Dagster reads the hint; this module defers annotations)
    return _scores() if context.partition_key in BAD_PARTITIONS else pd.DataFrame({"score": [0.1, 0.2]})


@asset(partitions_def=SCORE_PARTS, ins={"scores": AssetIn("scores_parts")})
def after_parts(scores: pd.DataFrame) -> pd.DataFrame:
    return scores


def test_the_pandera_check_of_a_partitioned_asset_covers_the_latest_materialization_of_every_partition(
        store: Path, instance, monkeypatch: pytest.MonkeyPatch) -> None:
    """After partition 'a' failed validation and 'b' passed, the check read only the newest materialization (b's)
    and showed Passed, naming no partition, while 'a' still held the failing data. It fails naming 'a' until 'a' is
    materialized again with passing data; in b's own run it warns only, so b's downstream steps still run."""
    assets = [scores_parts, after_parts, *pandera_checks([scores_parts])]
    resources = {"io_manager": ProvenanceIOManager(), "provenance": ProvenanceResource()}

    def run_partition(key: str, selection: Any = None) -> Any:
        return materialize(assets, instance=instance, resources=resources, partition_key=key, selection=selection,
                           raise_on_error=False)

    monkeypatch.setattr(f"{__name__}.BAD_PARTITIONS", {"a"})
    first = run_partition("a")
    assert set(materializations(first)) == {AssetKey("scores_parts")}  # blocked downstream
    [check] = first.get_asset_check_evaluations()
    assert not check.passed and check.severity.value == "ERROR"
    assert check.metadata["failed_partitions"].value == ["a"] and check.metadata["partition"].value == "a"

    second = run_partition("b")
    assert set(materializations(second)) == {AssetKey("scores_parts"), AssetKey("after_parts")}  # 'a' blocks nothing here
    [check] = second.get_asset_check_evaluations()
    assert not check.passed and check.severity.value == "WARN"
    assert check.metadata["failed_partitions"].value == ["a"] and check.metadata["partitions_checked"].value == 2
    assert check.metadata["run_id"].value == first.run_id and "'a'" in check.description

    alone = materialize(assets, instance=instance, resources=resources, selection=AssetSelection.checks_for_assets(scores_parts),
                        raise_on_error=False)
    [check] = alone.get_asset_check_evaluations()
    assert not check.passed and check.severity.value == "ERROR" and check.metadata["failed_partitions"].value == ["a"]

    monkeypatch.setattr(f"{__name__}.BAD_PARTITIONS", set())
    [check] = run_partition("a").get_asset_check_evaluations()
    assert check.passed and check.metadata["failed_partitions"].value == []
    assert check.metadata["partitions_checked"].value == 2


def test_the_pandera_check_of_one_partition_counts_it_as_one(store: Path, instance, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check of a partitioned asset with one partition materialized says '(1 partition)'; it read 'each of 1
    partitions'."""
    monkeypatch.setattr(f"{__name__}.BAD_PARTITIONS", set())
    result = materialize([scores_parts, *pandera_checks([scores_parts])], instance=instance, partition_key="b",
                         resources={"io_manager": ProvenanceIOManager(), "provenance": ProvenanceResource()})
    [check] = result.get_asset_check_evaluations()
    assert check.passed and check.description == "The latest materialization of every partition passed (1 partition)."


def test_partitions_get_one_version_each_and_downstream_records_the_partition_it_loaded(store: Path, instance) -> None:
    resources = {"io_manager": ProvenanceIOManager()}
    versions = {}
    for key in ("eu", "us"):
        result = materialize([pipeline.regional], partition_key=key, instance=instance, resources=resources)
        [mat] = materializations(result).values()
        versions[key] = mat.tags["dagster/data_version"]
        assert mat.partition == key
        assert hash_path(Path(str(store) + "-data") / "regional" / f"{key}.parquet").digest == versions[key]
    assert versions["eu"] != versions["us"]
    result = materialize(
        [pipeline.regional, pipeline.regional_summary],
        selection=[pipeline.regional_summary],
        partition_key="us",
        instance=instance,
        resources=resources,
    )
    [mat] = materializations(result).values()
    assert mat.partition == "us"
    summary = next(s for s in summaries(store) if s.job_name == "regional_summary")
    assert [(asset_of(store, i.name), i.version) for i in summary.inputs] == [("regional/us", versions["us"])]  # one file per partition


def _self_dependent(days: DailyPartitionsDefinition, *, checked: bool = False) -> Any:
    """``grown``: a daily asset that reads its own partition of the day before (Dagster's incremental pattern), None on
    its first day; one row more each day. ``checked``: its own check ``grows`` fails on 2024-01-02 only."""
    @asset(partitions_def=days, check_specs=[AssetCheckSpec("grows", asset="grown")] if checked else None,
           ins={"grown": AssetIn(partition_mapping=TimeWindowPartitionMapping(start_offset=-1, end_offset=-1))})
    def grown(context, grown: pd.DataFrame | None):  # noqa: ANN001, ANN202
        yield Output(pd.DataFrame({"n": range(1 if grown is None else len(grown) + 1)}))
        if checked:
            yield AssetCheckResult(check_name="grows", passed=context.partition_key != "2024-01-02")
    return grown


def test_a_self_dependent_assets_first_partition_reads_nothing_and_the_next_reads_the_version_it_wrote(
        store: Path, instance) -> None:
    """The first partition of an asset that reads its own previous partition maps its input to no partition: the IO
    manager failed it with an IndexError. The input is None, as Dagster's own IO managers give it, and its run records
    no input; the next partition's run records the version the first wrote."""
    grown = _self_dependent(DailyPartitionsDefinition("2024-01-01", end_date="2024-01-04"))
    written = {}
    for day in ("2024-01-01", "2024-01-02"):
        result = materialize([grown], partition_key=day, instance=instance, resources={"io_manager": ProvenanceIOManager()},
                             raise_on_error=False)
        assert result.success, _failure(result)
        [mat] = materializations(result).values()
        written[day] = mat.metadata["tdprov/digest"].value
    read = {Path(s.outputs[0].name).stem: [(i.name, i.version) for i in s.inputs] for s in summaries(store)}
    assert read == {"2024-01-01": [], "2024-01-02": [(located(store, "grown/2024-01-01"), written["2024-01-01"])]}



def test_the_check_a_self_dependent_asset_evaluates_on_its_output_is_no_assertion_on_the_partition_it_read(
        store: Path, instance) -> None:
    """The run of an asset's step that reads its own previous partition put the results of the asset's own checks
    (``check_specs``, evaluated on the version the step wrote) on that read version too, as ``dataQualityAssertions``:
    the version of 2024-01-01, whose check passed, was recorded as failing the check of 2024-01-02."""
    grown = _self_dependent(DailyPartitionsDefinition("2024-01-01", end_date="2024-01-04"), checked=True)
    runs = {}
    for day in ("2024-01-01", "2024-01-02"):
        result = materialize([grown], partition_key=day, instance=instance, resources={"io_manager": ProvenanceIOManager()},
                             raise_on_error=False)
        assert result.success, _failure(result)
        runs[day] = step_run_id(result.run_id, "grown")
    [end] = [e for e in bundle_events(store, runs["2024-01-02"]) if e["eventType"] == "COMPLETE"]
    [read] = end["inputs"]
    assert read["name"] == located(store, "grown/2024-01-01")
    assert "dataQualityAssertions" not in read.get("inputFacets", {}), read
    tests = end["run"]["facets"]["test"]["tests"]
    assert [(t["type"], t["status"], t["params"]["dataset"]) for t in tests] == [
        ("grows", "fail", located(store, "grown/2024-01-02"))]


def test_a_partitioned_assets_key_names_every_partition(store: Path, instance, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    """Each partition is a dataset of its own, all with the asset key in ``symlinks``: lineage by the key (or the
    symlink's ``namespace/name``) shows every partition, and a verb that needs one version refuses the key,
    naming the partitions' files, which name one."""
    versions = []
    for key in ("eu", "us", "eu"):
        result = materialize([pipeline.regional], partition_key=key, instance=instance, resources={"io_manager": ProvenanceIOManager()})
        [mat] = materializations(result).values()
        versions.append((located(store, f"regional/{key}"), mat.metadata["tdprov/digest"].value))
    eu, us = located(store, "regional/eu"), located(store, "regional/us")

    def shown(*args: str) -> list[tuple[str, str, str]]:
        assert cli_main(["lineage", *args, "--json", "--store", str(store)]) == 0
        trees = json.loads(capsys.readouterr().out)["lineage"]
        return sorted((t["dataset"], t["version"], t["generatedBy"][0]["runId"]) for t in trees)

    every = shown("regional", "--all-versions")
    assert sorted((name, version) for name, version, _ in every) == sorted(versions)
    assert len({run for _, _, run in every}) == 3
    newest = shown("regional")
    assert sorted((name, version) for name, version, _ in newest) == sorted(versions[1:])
    assert shown("dagster://default/regional") == newest
    for verb in (["record", "regional"], ["checkout", "regional", "-o", str(tmp_path / "x.parquet")],
                 ["contains", "regional", "--record", '{"region": "eu"}']):
        assert cli_main([*verb, "--store", str(store)]) == 2, verb
        err = capsys.readouterr().err
        assert "'regional' names 2 datasets" in err and repr(eu) in err and repr(us) in err, err
        assert "name one by its path or URI" in err
    assert cli_main(["record", us, "--store", str(store)]) == 0
    assert versions[1][1] in capsys.readouterr().out


@provenance_asset
def own_version_wrapped() -> pd.DataFrame:
    return Output(pd.DataFrame({"a": [1, 2]}), data_version=DataVersion("my-v1"))


@provenance_asset(check_specs=[AssetCheckSpec("has_rows", asset="own_version_yielded")])
def own_version_yielded():  # a generator: the way to yield a check's result with the output
    frame = pd.DataFrame({"a": [5, 6]})
    yield Output(frame, data_version=DataVersion("mine-3"))
    yield AssetCheckResult(check_name="has_rows", passed=len(frame) > 0)


@asset
def own_version_plain() -> Output[pd.DataFrame]:
    return Output(pd.DataFrame({"a": [3, 4]}), data_version=DataVersion("mine-2"))


def warnings_of(instance: DagsterInstance, run_id: str) -> list[str]:
    return [e.user_message for e in instance.all_logs(run_id) if e.level == logging.WARNING and e.user_message]


@pytest.mark.filterwarnings("ignore::dagster.BetaWarning")
def test_a_data_version_the_asset_sets_itself_is_never_silently_the_version_instead_of_the_digest(store: Path, instance) -> None:
    """provenance_asset is versioned by its content digest: a data version its Output sets gives way, with a
    warning naming it. A plain asset's own data version is what Dagster keeps; the digest is in the metadata
    and the bundle, and a warning names both."""
    result = run([own_version_wrapped, own_version_yielded, own_version_plain], instance)
    mats = materializations(result)
    wrapped, plain = mats[AssetKey("own_version_wrapped")], mats[AssetKey("own_version_plain")]
    yielded = mats[AssetKey("own_version_yielded")]
    recorded = {asset_of(store, o.name): o.version for s in summaries(store) for o in s.outputs}
    assert wrapped.tags["dagster/data_version"] == wrapped.metadata["tdprov/digest"].value == recorded["own_version_wrapped"]
    assert yielded.tags["dagster/data_version"] == yielded.metadata["tdprov/digest"].value == recorded["own_version_yielded"]
    assert [c.passed for c in result.get_asset_check_evaluations()] == [True]
    assert plain.tags["dagster/data_version"] == "mine-2"
    assert plain.metadata["tdprov/digest"].value == recorded["own_version_plain"] == hash_path(
        Path(str(store) + "-data") / "own_version_plain.parquet").digest
    said = warnings_of(instance, result.run_id)
    assert [w for w in said if "'my-v1'" in w and wrapped.tags["dagster/data_version"] in w], said
    assert [w for w in said if "'own_version_plain'" in w and "'mine-2'" in w and recorded["own_version_plain"] in w], said
    assert not [w for w in said if "own_version_wrapped" in w and "Output(data_version=...)" in w]


def test_a_data_version_dagster_computed_is_not_said_to_be_set_by_the_asset(store: Path, instance, tmp_path: Path) -> None:
    """An asset that records its file with ProvenanceResource.record and returns MaterializeResult without the result's
    data_version: Dagster computes one (of code and input versions). The warning said the asset's
    Output(data_version=...) set it, with the fix to leave data_version out, which the asset did. It says Dagster
    computed it, as the asset gave none, and the fix is to return the record's data_version."""

    @asset
    def weights(context, provenance: ProvenanceResource) -> MaterializeResult:  # noqa: ANN001
        path = tmp_path / "weights.bin"
        path.write_bytes(b"w1")
        return MaterializeResult(metadata=provenance.record(outputs={"weights": str(path)}, context=context).metadata)

    result = run([weights], instance)
    version = materializations(result)[AssetKey("weights")].tags["dagster/data_version"]
    [said] = [w for w in warnings_of(instance, result.run_id) if f"{version!r}" in w]
    digest = hash_path(tmp_path / "weights.bin").digest
    assert said == (f"tdprov: asset 'weights' has data version {version!r}, which Dagster computed (the asset gave none), "
                    f"not its content digest {digest} (recorded as tdprov/digest and in its lineage bundle); return "
                    "MaterializeResult(metadata=<record() result>.metadata, data_version=<record() result>.data_version) "
                    "to make the digest its data version"), said


@pytest.mark.filterwarnings("ignore::dagster.BetaWarning")
def test_a_data_version_a_materialize_result_sets_is_said_to_be_set_by_it(store: Path, instance, tmp_path: Path) -> None:
    """An asset that records its file with ProvenanceResource.record and returns MaterializeResult with a data version
    of its own was warned of as set by its Output(data_version=...), with the fix to leave data_version out of the
    Output, which it returned none of. The warning names the MaterializeResult, with the fix to return the record's
    data_version; an Output's data version in the same run is still named as the Output's."""

    @asset
    def own_weights(context, provenance: ProvenanceResource) -> MaterializeResult:  # noqa: ANN001
        path = tmp_path / "weights.bin"
        path.write_bytes(b"w4")
        recorded = provenance.record(outputs={"weights": str(path)}, context=context)
        return MaterializeResult(metadata=recorded.metadata, data_version=DataVersion("mine-4"))

    result = run([own_weights, own_version_plain], instance)
    said = warnings_of(instance, result.run_id)
    [mine] = [w for w in said if "'mine-4'" in w]
    assert mine == (f"tdprov: asset 'own_weights' has data version 'mine-4', set by its MaterializeResult(data_version=...), "
                    f"not its content digest {hash_path(tmp_path / 'weights.bin').digest} (recorded as tdprov/digest and in "
                    "its lineage bundle); return MaterializeResult(metadata=<record() result>.metadata, data_version=<record() "
                    "result>.data_version) to make the digest its data version"), mine
    [plain] = [w for w in said if "'mine-2'" in w]
    assert "'mine-2', set by its Output(data_version=...), not its content digest" in plain, plain
    assert plain.endswith("leave data_version out of the Output (the IO manager versions by content) to make the digest "
                          "its data version"), plain


# -- the resource -----------------------------------------------------------------------------------
@asset(ins={"orders": AssetIn(key=RAW)})
def exported_csv(context, orders: pd.DataFrame, provenance: ProvenanceResource) -> MaterializeResult:
    target = Path(provenance.settings().store).parent / "export" / "orders.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    orders.to_csv(target, index=False)
    recorded = provenance.record(outputs={"export/orders_csv": target}, context=context)
    return MaterializeResult(metadata=recorded.metadata, data_version=recorded.data_version)


def test_resource_records_files_an_asset_writes_itself_with_the_inputs_it_loaded(store: Path, instance) -> None:
    result = run([pipeline.orders, exported_csv], instance)
    assert result.success
    mats = materializations(result)
    csv = store.parent / "export" / "orders.csv"
    assert mats[AssetKey("exported_csv")].tags["dagster/data_version"] == hash_path(csv).digest
    summary = next(s for s in summaries(store) if s.job_name == "exported_csv")
    assert [i.name for i in summary.inputs] == [located(store, "raw/orders")]
    assert [(o.namespace, o.name, o.version) for o in summary.outputs] == [("file", str(csv), hash_path(csv).digest)]
    [complete] = [e for e in bundle_events(store, summary.run_id) if e["eventType"] == "COMPLETE"]
    assert complete["outputs"][0]["facets"]["symlinks"]["identifiers"][0]["name"] == "export/orders_csv"  # the name given
    assert url_path(mats[AssetKey("exported_csv")].metadata["tdprov/bundle"].value) == store / "bundles" / summary.run_id


@asset(ins={"orders": AssetIn(key=RAW)})
def scored(context, orders: pd.DataFrame, provenance: ProvenanceResource) -> pd.DataFrame:
    """Records a file it writes itself, then returns a frame that the IO manager stores."""
    target = Path(provenance.settings().store).parent / "export" / "weights.bin"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"weights")
    provenance.record(outputs={"scored/weights": target}, context=context)
    return orders.assign(score=0.5)


@asset(ins={"scored": AssetIn("scored")})
def scored_report(scored: pd.DataFrame) -> pd.DataFrame:
    return scored.describe().reset_index()


def test_a_frame_returned_after_record_is_recorded_as_the_next_part_of_the_step(store: Path, instance,
                                                                                capsys: pytest.CaptureFixture) -> None:
    """record(context=...) ends the step's run (its bundle holds the file); the frame the asset then returns
    is stored by the IO manager after that: it is sealed in a run of its own for the same step (its next
    part, with the inputs the step loaded), never staged for the sealed run and lost."""
    result = run([pipeline.orders, scored, scored_report], instance)
    assert result.success
    by_run = {s.run_id: s for s in summaries(store) if s.job_name == "scored"}
    assert len(by_run) == 2
    weights = store.parent / "export" / "weights.bin"
    first = next(s for s in by_run.values() if s.outputs[0].name == str(weights))
    (part,) = set(by_run.values()) - {first}
    assert [o.name for o in first.outputs] == [str(weights)]
    assert [o.name for o in part.outputs] == [located(store, "scored")]
    assert [i.name for i in part.inputs] == [i.name for i in first.inputs] == [located(store, "raw/orders")]
    mats = materializations(result)
    assert url_path(mats[AssetKey("scored")].metadata["tdprov/bundle"].value) == store / "bundles" / part.run_id
    assert cli_main(["lineage", "scored_report", "--json", "--store", str(store)]) == 0
    (tree,) = json.loads(capsys.readouterr().out)["lineage"]
    (read,) = tree["generatedBy"][0]["inputs"]
    assert [g["runId"] for g in read["generatedBy"]] == [part.run_id]
    staged = [k for k in open_store(str(store)).list(f"staging/{first.run_id}/") if k.count("/") == 2]  # events, no attachments
    assert len(staged) == len(bundle_events(store, first.run_id)) == 2  # nothing staged for it after it was sealed


def test_a_provenance_resource_with_other_settings_records_the_step_in_a_run_of_its_own(store: Path, instance) -> None:
    """A ProvenanceResource configured apart from the IO manager (same store and namespace, snapshot=True) records
    through a recorder of its own: the IO manager's run of the step (the input it loaded, the frame it stores) and
    the resource's (the file) are two runs with ids of their own. Both had the one id: the resource's record()
    sealed it, and the IO manager's events for the frame stayed staged, in no bundle."""
    resources = {"io_manager": ProvenanceIOManager(), "provenance": ProvenanceResource(snapshot=True)}
    result = materialize([pipeline.orders, scored], instance=instance, resources=resources)
    assert result.success
    runs = [s for s in summaries(store) if s.job_name == "scored"]
    weights = store.parent / "export" / "weights.bin"
    assert sorted([o.name for o in s.outputs] for s in runs) == sorted([[str(weights)], [located(store, "scored")]])
    [stored] = [s for s in runs if s.outputs[0].name == located(store, "scored")]
    assert [i.name for i in stored.inputs] == [located(store, "raw/orders")]
    assert url_path(materializations(result)[AssetKey("scored")].metadata["tdprov/bundle"].value) == store / "bundles" / stored.run_id
    for summary in runs:  # nothing staged for a run after it was sealed
        staged = [k for k in open_store(str(store)).list(f"staging/{summary.run_id}/") if k.count("/") == 2]  # events
        assert len(staged) == len(bundle_events(store, summary.run_id)), summary.outputs


# this module has ``from __future__ import annotations``: every annotation below is a string
@provenance_asset(ins={"orders": AssetIn(key=RAW)}, owners=["team:exports"])
def exported_with_context(context: AssetExecutionContext, orders: pd.DataFrame,
                          provenance: ProvenanceResource) -> MaterializeResult:
    target = Path(provenance.settings().store).parent / "export" / "orders2.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    orders.to_csv(target, index=False)
    recorded = provenance.record(outputs={"export/orders2_csv": target}, context=context)
    return MaterializeResult(metadata=recorded.metadata, data_version=recorded.data_version)


@provenance_asset(ins={"orders": AssetIn(key=RAW)})
def doubled(context: AssetExecutionContext, orders: pd.DataFrame) -> pd.DataFrame:
    context.log.info("doubling %d rows", len(orders))
    return pd.concat([orders, orders], ignore_index=True)


def test_provenance_asset_takes_string_annotations_and_materialize_results(store: Path, instance) -> None:
    result = run([pipeline.orders, exported_with_context, doubled], instance)
    assert result.success
    mats = materializations(result)
    csv = store.parent / "export" / "orders2.csv"
    assert mats[AssetKey("exported_with_context")].tags["dagster/data_version"] == hash_path(csv).digest
    done = {s.job_name: s for s in summaries(store)}
    assert [(o.name, o.version) for o in done["exported_with_context"].outputs] == [(str(csv), hash_path(csv).digest)]
    [out] = done["doubled"].outputs
    assert mats[AssetKey("doubled")].tags["dagster/data_version"] == out.version


def test_resource_names_listed_paths_by_location_and_refuses_unnamed_dataframes(store: Path) -> None:
    data = store.parent / "vendor.csv"
    data.write_text("a,b\n1,2\n")
    recorded = ProvenanceResource().record(inputs=[data], outputs={"features/x": pd.DataFrame({"a": [1]})}, job_name="train")
    summary = next(s for s in summaries(store) if s.run_id in recorded.bundle)
    assert [(i.namespace, i.name, i.version) for i in summary.inputs] == [("file", str(data), hash_path(data).digest)]
    assert [(o.namespace, o.name) for o in summary.outputs] == [("inmemory://", "features/x")]  # no place it is kept
    assert summary.job_name == "train" and recorded.data_version is not None
    with pytest.raises(BadInputError, match="DataFrame was given without a name"):
        ProvenanceResource().record(outputs=[pd.DataFrame({"a": [1]})])


@asset(ins={"orders": AssetIn(key=RAW)})
def returns_nothing(orders: pd.DataFrame):
    return None


def test_an_asset_returning_none_records_what_it_loaded_and_a_dataframe_is_required_otherwise(store: Path, instance) -> None:
    result = run([pipeline.orders, returns_nothing], instance)
    assert result.success
    summary = next(s for s in summaries(store) if s.job_name == "returns_nothing")
    assert summary.state == "COMPLETE" and [asset_of(store, i.name) for i in summary.inputs] == ["raw/orders"] and not summary.outputs

    @asset(name="not_a_frame")
    def not_a_frame() -> dict:
        return {"a": 1}

    failed = run([not_a_frame], instance)
    assert not failed.success
    [failure] = [e for e in failed.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "asset 'not_a_frame' returned builtins.dict, not a pandas DataFrame" in str(failure.step_failure_data.error.to_string())


@pytest.mark.parametrize(("frame", "shown"), [
    (lambda: pd.DataFrame(index=range(3)), ["has 3 rows but no columns", "return at least one column"]),
    (lambda: pd.DataFrame({"a": pd.Series([1, "x", 2.5], dtype=object)}), ["column 'a'", "cast"]),
    (lambda: pd.DataFrame([[1, 2]], columns=["a", "a"]), ["'a'", "rename"]),
    (lambda: pd.DataFrame({1: [1], "1": [2]}), ["1 and '1'", "rename"]),
    (lambda: pd.DataFrame({1: [1], "a": [2]}), ["column labels", "(1 as '1')", "df.columns = [str(c) for c in df.columns]"]),
    (lambda: pd.DataFrame({True: [1], False: [2]}), ["(False as True)", "rename the columns to text"]),
    (lambda: pd.DataFrame([[1, 2]], columns=pd.CategoricalIndex(["a", "b"])), ["could not read its column labels back"]),
    (lambda: pd.DataFrame({"x": [1]}, index=pd.Index([5], name=1)), ["index levels", "(1 as '1')", "rename_axis(index={1: '1'})"]),
], ids=["rows_without_columns", "mixed_types", "duplicate_labels", "labels_equal_as_text", "labels_of_mixed_kinds",
        "boolean_labels", "categorical_labels", "index_level_named_by_a_number"])
def test_a_frame_parquet_cannot_give_back_as_it_is_is_refused_before_anything_is_written(
        store: Path, instance, frame, shown: list[str]) -> None:
    """Refused naming the labels or columns and the fix, and without pyarrow's own warnings before the refusal (that
    labels of mixed kinds or an index level named by a number "will not roundtrip correctly")."""
    import warnings

    @asset(name="unstorable")
    def unstorable() -> pd.DataFrame:
        return frame()

    @asset(ins={"x": AssetIn("unstorable")})
    def reads_it(x: pd.DataFrame) -> pd.DataFrame:
        return x

    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        result = run([unstorable, reads_it], instance)
    assert not result.success
    assert [str(w.message) for w in said if "roundtrip" in str(w.message) or "pyarrow" in w.filename] == []
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failure.step_key == "unstorable"  # refused where it is returned, not when it is loaded
    message = failure.step_failure_data.error.to_string()
    assert "BadInputError" in message and "asset 'unstorable'" in message
    assert all(part in message for part in shown), message
    assert not Path(located(store, "unstorable")).exists()  # nothing written
    assert not result.get_asset_materialization_events()  # nor recorded as a version
    assert all(not s.outputs for s in summaries(store))


@pytest.mark.parametrize(("frame", "reason"), [
    (lambda: pd.DataFrame({"v": pd.Series([Decimal("1"), Decimal("-0")], dtype=object)}), "decimal negative zero"),
    (lambda: pd.DataFrame({"v": pd.Series([1, np.True_], dtype=object)}), "integers and numpy booleans"),
], ids=["decimal_negative_zero", "numpy_bool_among_ints"])
def test_a_frame_the_hashing_refuses_writes_nothing_and_keeps_the_previous_version(
        store: Path, instance, frame, reason: str) -> None:
    """The Parquet file was written beside the hashing and the hashing's refusal raised after it: the refused frame's
    file took the place of the version recorded, so the step failed and the next load found data it never recorded."""
    def named(make) -> Any:
        @asset(name="hashed")
        def hashed() -> pd.DataFrame:
            return make()
        return hashed

    @asset(ins={"x": AssetIn("hashed")})
    def reads_hashed(x: pd.DataFrame) -> pd.DataFrame:
        return x

    data = Path(located(store, "hashed"))
    first = run([named(frame)], instance)  # no earlier version: no file at all
    assert not first.success and not data.exists()
    recorded = named(lambda: pd.DataFrame({"v": [1, 2]}))
    assert run([recorded, reads_hashed], instance).success
    kept = data.read_bytes()
    refused = run([named(frame)], instance)
    assert not refused.success
    [failure] = [e for e in refused.all_events if e.event_type_value == "STEP_FAILURE"]
    assert reason in failure.step_failure_data.error.to_string()
    assert data.read_bytes() == kept  # the recorded version, and no temporary file left beside it
    assert [p.name for p in data.parent.glob(f".{data.name}.*")] in ([], [f".{data.name}.old"])
    failed = [s for s in summaries(store) if s.job_name == "hashed" and s.state == "FAIL"]
    assert len(failed) == 2 and all(not s.outputs for s in failed)
    for summary in failed:  # each records why
        assert reason in bundle_events(store, summary.run_id)[-1]["run"]["facets"]["errorMessage"]["message"]
    again = run([recorded, reads_hashed], instance, selection=["reads_hashed"])  # the recorded version loads, no mismatch
    assert again.success and again.output_for_node("reads_hashed")["v"].tolist() == [1, 2]


def test_a_key_or_partition_too_long_for_a_file_name_is_refused_before_anything_is_written(store: Path, instance) -> None:
    """An asset key part or a partition key of 300 characters failed the step with 'OSError: File name too long' from
    the temporary file the data is written to; it is refused naming the asset, the partition and the fix."""
    long_partition = "p" * 300

    @asset(key=AssetKey(["ok", "a" * 300]))
    def long_key() -> pd.DataFrame:
        return pd.DataFrame({"id": [1]})

    @asset(partitions_def=StaticPartitionsDefinition([long_partition]))
    def long_part() -> pd.DataFrame:
        return pd.DataFrame({"id": [1]})

    for assets, named, partition in (([long_key], "asset 'ok/aaaa", None), ([long_part], "partition 'pppp", long_partition)):
        resources = {"io_manager": ProvenanceIOManager(), "provenance": ProvenanceResource()}
        result = materialize(assets, instance=instance, resources=resources, partition_key=partition, raise_on_error=False)
        assert not result.success
        [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        message = failure.step_failure_data.error.to_string()
        assert "BadInputError" in message and "OSError" not in message, message
        assert named in message and "too long for a file name" in message and "shorter" in message, message
        assert not result.get_asset_materialization_events()
    data = Path(str(store) + "-data")
    assert not data.exists() or not [p for p in data.rglob("*") if p.is_file()]  # nothing written
    assert all(not s.outputs for s in summaries(store))


def test_a_frame_without_columns_keeps_its_rows_through_a_named_index(store: Path, instance) -> None:
    @asset(name="keys_only")
    def keys_only() -> pd.DataFrame:
        return pd.DataFrame(index=pd.Index(["x", "y", "z"], name="key"))

    @asset(ins={"x": AssetIn("keys_only")})
    def counted(x: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"rows": [len(x)]})

    result = run([keys_only, counted], instance)
    assert result.success
    assert result.output_for_node("counted")["rows"].tolist() == [3]


# -- multi-assets and external assets --------------------------------------------------------------
@multi_asset(outs={"train": AssetOut(), "test": AssetOut()})
def split():
    df = pd.DataFrame({"x": range(10), "y": [i % 2 for i in range(10)]})
    yield Output(df.iloc[2:].reset_index(drop=True), output_name="test")  # outputs in any order
    yield Output(df.iloc[:8].reset_index(drop=True), output_name="train")


@multi_asset(outs={"left": AssetOut(is_required=False), "right": AssetOut(is_required=False)}, can_subset=True)
def halves(context):
    for name in sorted(context.selected_output_names):
        yield Output(pd.DataFrame({"side": [name]}), output_name=name)


EXTERNAL = AssetSpec(AssetKey(["vendor", "prices"]), description="written by a vendor's job, outside Dagster")


@asset(ins={"prices": AssetIn(key=EXTERNAL.key)})
def priced(prices: pd.DataFrame) -> pd.DataFrame:
    return prices.assign(eur=prices["usd"] * 0.9)


def test_a_multi_asset_step_is_one_run_with_both_outputs(store: Path, instance) -> None:
    result = run([split], instance)
    mats = materializations(result)
    [summary] = summaries(store)
    assert summary.job_name == "asset:test" and summary.state == "COMPLETE"  # op split, named after none of its keys
    assert sorted((asset_of(store, o.name), o.version) for o in summary.outputs) == sorted(
        (k.to_user_string(), m.tags["dagster/data_version"]) for k, m in mats.items()
    )
    # every output links the bundle its step's run is sealed in, not only the one handed over last
    assert [url_path(m.metadata["tdprov/bundle"].value) for m in mats.values()] == [store / "bundles" / summary.run_id] * 2


def test_a_subsetted_multi_asset_step_is_closed_after_its_selected_outputs(store: Path, instance) -> None:
    assert run([halves], instance, selection=[AssetKey("left")]).success
    [summary] = summaries(store)
    assert summary.state == "COMPLETE" and [asset_of(store, o.name) for o in summary.outputs] == ["left"]


def test_an_external_asset_loaded_from_the_data_root_is_recorded_with_its_digest(store: Path, instance) -> None:
    vendor_file = Path(str(store) + "-data") / "vendor" / "prices.parquet"
    vendor_file.parent.mkdir(parents=True)
    pd.DataFrame({"sku": ["a", "b"], "usd": [1.0, 2.5]}).to_parquet(vendor_file)
    assert run([EXTERNAL, priced], instance).success
    [summary] = summaries(store)
    assert [(i.name, i.version) for i in summary.inputs] == [(str(vendor_file), hash_path(vendor_file).digest)]


# -- retries -------------------------------------------------------------------------------------
@asset(ins={"orders": AssetIn(key=RAW)}, retry_policy=RetryPolicy(max_retries=1))
def flaky_total(orders: pd.DataFrame, provenance: ProvenanceResource) -> pd.DataFrame:
    marker = Path(provenance.settings().store).parent / "flaky-tried"
    if not marker.exists():
        marker.touch()
        raise RuntimeError("transient failure")
    return pd.DataFrame({"total": [orders["amount"].sum()]})


def test_a_retried_step_records_the_failed_attempt_and_the_successful_one(store: Path, instance) -> None:
    result = run([pipeline.orders, flaky_total], instance)
    assert result.success
    found = {s.run_id: s for s in summaries(store) if s.job_name == "flaky_total"}
    first, second = step_run_id(result.run_id, "flaky_total"), step_run_id(result.run_id, "flaky_total", 1)
    assert set(found) == {first, second}
    assert (found[first].state, found[second].state) == ("FAIL", "COMPLETE")
    assert [i.name for i in found[first].inputs] == [i.name for i in found[second].inputs] == [located(store, "raw/orders")]


@asset(retry_policy=RetryPolicy(max_retries=1))
def flaky_source(provenance: ProvenanceResource) -> pd.DataFrame:
    marker = Path(provenance.settings().store).parent / "flaky-source-tried"
    if not marker.exists():
        marker.touch()
        raise RuntimeError("transient failure")  # before the step loaded or wrote anything
    return pd.DataFrame({"n": [1]})


def test_a_retried_attempt_that_failed_before_recording_anything_is_a_fail_run(store: Path, instance) -> None:
    result = run([flaky_source], instance)
    assert result.success
    found = {s.run_id: s for s in summaries(store)}
    first, second = step_run_id(result.run_id, "flaky_source"), step_run_id(result.run_id, "flaky_source", 1)
    assert set(found) == {first, second}
    assert (found[first].state, found[second].state) == ("FAIL", "COMPLETE")
    assert list(found[first].inputs) == list(found[first].outputs) == []
    events = bundle_events(store, first)
    assert [e["eventType"] for e in events] == ["START", "FAIL"]
    assert "attempt 0 failed; Dagster retried it as attempt 1" in events[-1]["run"]["facets"]["errorMessage"]["message"]


def test_a_bundle_that_cannot_be_written_is_never_linked(store: Path, instance, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A signing key that cannot be read: the pipeline runs on, and what the step shows, and what
    ProvenanceResource.record returns, says that nothing was recorded and why, with no link to a bundle
    that was never written."""
    typo = tmp_path / "typo.key"
    monkeypatch.setenv("TDPROV_SIGNING_KEY", str(typo))
    result = run([pipeline.orders, exported_csv], instance)
    assert result.success
    assert not (store / "bundles").exists() or not list((store / "bundles").iterdir())
    mats = materializations(result)
    for mat in mats.values():
        assert "tdprov/bundle" not in mat.metadata
        assert mat.metadata["tdprov/recorded"].value is False
        assert str(typo) in mat.metadata["tdprov/not_recorded"].value and "cannot be read" in mat.metadata["tdprov/not_recorded"].value
    recorded = ProvenanceResource().record(outputs={"frame": pd.DataFrame({"a": [1]})})
    assert recorded.bundle is None and str(typo) in (recorded.problem or "")
    assert recorded.metadata["tdprov/recorded"].value is False and "tdprov/bundle" not in recorded.metadata


# -- store failures ---------------------------------------------------------------------------------
def test_an_unusable_store_never_breaks_the_pipeline_unless_strict(tmp_path: Path, instance) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store folder should be")
    settings = {"store": str(blocker / "store"), "data_root": str(tmp_path / "data")}
    relaxed = materialize(
        [pipeline.orders], instance=instance, resources={"io_manager": ProvenanceIOManager(**settings)}, raise_on_error=False
    )
    assert relaxed.success and (tmp_path / "data" / "raw" / "orders.parquet").exists()

    strict = materialize(
        [pipeline.orders], instance=instance, resources={"io_manager": ProvenanceIOManager(strict=True, **settings)},
        raise_on_error=False,
    )
    assert not strict.success
    [failure] = [e for e in strict.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "not-a-folder" in failure.step_failure_data.error.to_string()


def test_training_assets_are_marked_explicitly(store: Path, instance: DagsterInstance, tmp_path: Path) -> None:
    """``provenance_asset(training=True)`` and the ``tdprov/training`` tag on a plain asset give their steps
    the OpenLineage jobType TRAINING; an unmarked asset gets none and its name alone decides nothing here."""
    from prov_common.audit.engine import run_audit
    from prov_common.audit.model import RULE_JOB_TYPE
    from prov_common.config import Settings

    @provenance_asset
    def rows() -> pd.DataFrame:
        return pd.DataFrame({"x": [1.0, 2.0, 3.0]})

    @provenance_asset(training=True)
    def weights(rows: pd.DataFrame) -> pd.DataFrame:
        return rows * 2

    @asset(tags={"tdprov/training": "true"}, deps=[rows])
    def booster(context, provenance: ProvenanceResource) -> MaterializeResult:  # noqa: ANN001 - Dagster reads the string annotation
        path = tmp_path / "booster.bin"
        path.write_bytes(b"fitted")
        recorded = provenance.record(outputs={"booster": str(path)}, context=context)
        return MaterializeResult(data_version=recorded.data_version)

    @asset(tags={"tdprov/training": "true"})
    def tagged(rows: pd.DataFrame) -> pd.DataFrame:  # a plain asset whose table the IO manager writes
        return rows + 1

    assert run([rows, weights, booster, tagged], instance).success
    job_types = {}
    for summary in summaries(store):
        events = bundle_events(store, summary.run_id)
        job_types[summary.job_name] = events[-1]["job"].get("facets", {}).get("jobType", {}).get("jobType")
    assert job_types["weights"] == job_types["booster"] == job_types["tagged"] == "TRAINING", job_types
    assert job_types["rows"] is None
    result = run_audit(open_store(str(store)), Settings.from_env(), full=True, report_dir=tmp_path / "report", progress=False)
    rules = {r.job_name: r.training_rule for r in result.index.runs.values()}
    assert rules["weights"] == rules["booster"] == rules["tagged"] == RULE_JOB_TYPE and rules["rows"] is None


def test_a_file_uri_store_keeps_its_data_next_to_it_and_partitions_apart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                          instance) -> None:
    """TDPROV_STORE as a file:// URI: the data lives in the folder next to the store (not in './file:/...'),
    named by its plain path; partitions 'eu/west' and 'eu%2Fwest' are two files, two datasets."""
    store = tmp_path / "store"
    monkeypatch.setenv("TDPROV_STORE", store.as_uri())
    parts = StaticPartitionsDefinition(["eu/west", "eu%2Fwest"])

    @asset(partitions_def=parts)
    def regional(context) -> pd.DataFrame:
        return pd.DataFrame({"p": [context.partition_key]})

    for key in parts.get_partition_keys():
        assert materialize([regional], instance=instance, partition_key=key,
                           resources={"io_manager": ProvenanceIOManager()}).success
    data = tmp_path / "store-data" / "regional"
    assert sorted(p.name for p in data.iterdir() if p.suffix == ".parquet") == ["eu%252Fwest.parquet", "eu%2Fwest.parquet"]
    assert pd.read_parquet(data / "eu%2Fwest.parquet")["p"].tolist() == ["eu/west"]
    names = sorted(o.name for s in summaries(store) for o in s.outputs)
    assert names == sorted(str(p) for p in data.glob("*.parquet"))


@pytest.mark.parametrize("other", ["store", "namespace"])
def test_a_read_through_another_provenance_io_manager_is_recorded_in_the_reading_steps_run(
        other: str, store: Path, tmp_path: Path, instance) -> None:
    """Dagster loads an input with the IO manager of the asset's writer; the read is still the reading step's:
    it is in that step's bundle (in its store and namespace), naming the asset as its writer named it, and
    the writer's store holds nothing of the reading step."""
    from prov_common.bundle import layout

    second = tmp_path / "store2"
    writer = {"store": ProvenanceIOManager(store=str(second)), "namespace": ProvenanceIOManager(namespace="secure")}[other]

    @asset(io_manager_key="other_io")
    def secret() -> pd.DataFrame:
        return pd.DataFrame({"s": [1, 2]})

    @asset
    def report(secret: pd.DataFrame) -> pd.DataFrame:
        return secret.assign(r=1)

    result = materialize([secret, report], instance=instance,
                         resources={"io_manager": ProvenanceIOManager(), "other_io": writer})
    assert result.success
    written = materializations(result)[AssetKey("secret")].metadata["tdprov/digest"].value
    [reader] = [s for s in summaries(store) if s.job_name == "report"]
    where = (second.parent / "store2-data" if other == "store" else tmp_path / "store-data") / "secret.parquet"
    assert [(i.namespace, i.name, i.version) for i in reader.inputs] == [("file", str(where), written)]
    [start] = [e for e in bundle_events(store, reader.run_id) if e["eventType"] == "START"]
    symlink = start["inputs"][0]["facets"]["symlinks"]["identifiers"][0]
    assert (symlink["namespace"], symlink["name"]) == (f"dagster://{'secure' if other == 'namespace' else 'default'}", "secret")
    if other == "store":  # no run of the reading step is left open in the writer's store
        assert list(open_store(str(second)).list(layout.staging_prefix(reader.run_id))) == []
    else:  # one store: the reader is linked to the run that wrote what it read
        [wrote] = [s for s in summaries(store) if s.job_name == "secret"]
        assert [(o.name, o.version) for o in wrote.outputs] == [(str(where), written)]


def test_a_step_whose_outputs_go_to_another_io_manager_records_its_read(store: Path, instance) -> None:
    """A step whose outputs go to another IO manager: its reads go with ProvenanceResource.record(context=...)
    when it calls it; without, its run holds the read and is ended as Dagster recorded the step (no run left open)."""
    from dagster import mem_io_manager

    @asset
    def source_table() -> pd.DataFrame:
        return pd.DataFrame({"s": [1, 2]})

    @asset(io_manager_key="plain")
    def noted(context, source_table: pd.DataFrame, provenance: ProvenanceResource) -> int:
        provenance.record(outputs={"count": source_table.assign(n=1)}, context=context)
        return len(source_table)

    @asset(io_manager_key="plain")
    def unrecorded(source_table: pd.DataFrame) -> int:
        return len(source_table)

    result = materialize([source_table, noted, unrecorded], instance=instance, resources={
        "io_manager": ProvenanceIOManager(), "provenance": ProvenanceResource(), "plain": mem_io_manager})
    assert result.success
    digest = materializations(result)[AssetKey("source_table")].metadata["tdprov/digest"].value
    runs = {s.job_name: s for s in summaries(store)}
    assert set(runs) == {"source_table", "noted", "unrecorded"}
    read = [(str(store.parent / "store-data" / "source_table.parquet"), digest)]
    assert [(i.name, i.version) for i in runs["noted"].inputs] == read
    assert runs["unrecorded"].state == "COMPLETE" and [(i.name, i.version) for i in runs["unrecorded"].inputs] == read
    unrecorded_run = step_run_id(result.run_id, "unrecorded")
    assert runs["unrecorded"].run_id == unrecorded_run


def test_an_unusable_store_set_by_the_io_manager_is_named_so_in_every_warning(
    tmp_path: Path, instance, caplog: pytest.LogCaptureFixture
) -> None:
    """A store the IO manager's 'store' config sets, a file where its folder should be: the outbox's spool warnings
    and the store identity's warning named TDPROV_STORE in their fix; every warning now names the config."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store folder should be")
    with caplog.at_level(logging.WARNING, logger="prov_common"):
        result = materialize([pipeline.orders], instance=instance, raise_on_error=False, resources={
            "io_manager": ProvenanceIOManager(store=str(blocker / "store"), data_root=str(tmp_path / "data"))})
    assert result.success
    said = [r.getMessage() for r in caplog.records]
    assert [r for r in caplog.records if r.name == "prov_common.store.outbox" and "spooled" in r.getMessage()], said
    assert [m for m in said if "cannot read or create the identity of store" in m], said
    config = "Fix: point the ProvenanceIOManager's 'store' config at a folder (or move "
    for message in said:
        if "not-a-folder" in message:
            assert config in message and "TDPROV_STORE" not in message, message


def test_a_store_the_io_manager_cannot_open_is_named_by_its_config_in_the_not_recorded_metadata(
    tmp_path: Path, instance
) -> None:
    """The IO manager's 'store' config names a file: a write's 'tdprov/not_recorded' said to point TDPROV_STORE at a
    folder, a setting the user never gave; it now names the config."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store folder should be")

    @asset
    def plain() -> pd.DataFrame:
        return pd.DataFrame({"a": [1]})

    result = materialize([plain], instance=instance, raise_on_error=False, resources={
        "io_manager": ProvenanceIOManager(store=str(blocker), data_root=str(tmp_path / "data"))})
    assert result.success
    metadata = materializations(result)[AssetKey("plain")].metadata
    assert metadata["tdprov/recorded"].value is False
    assert metadata["tdprov/not_recorded"].value == (f"store path '{blocker}' exists and is not a folder. "
                                                     "Fix: point the ProvenanceIOManager's 'store' config at a folder")


@pytest.mark.parametrize("strict", [False, True])
def test_a_declared_source_with_a_store_that_cannot_be_opened_never_breaks_the_step_unless_strict(
    strict: bool, tmp_path: Path, instance, caplog: pytest.LogCaptureFixture
) -> None:
    """The IO manager's 'store' config names a file: reading the source records an asset declares (the IO manager's
    write, ProvenanceResource.record) raised the store's error, fixing TDPROV_STORE, and failed the step outside strict
    mode too. Now the data is written, a warning names the run, the error and the fix naming the config, and the run's
    records are kept in the outbox; strict mode fails the step with the store's error, its fix naming the config."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store folder should be")

    @provenance_asset(source=pipeline.SOURCE)
    def written(context, provenance: ProvenanceResource) -> MaterializeResult:
        out = tmp_path / "written.parquet"
        pd.DataFrame({"a": [1]}).to_parquet(out)
        done = provenance.record(outputs={"written": str(out)}, context=context)
        return MaterializeResult(metadata=done.metadata, data_version=done.data_version)

    settings = {"store": str(blocker), "strict": strict}
    with caplog.at_level(logging.WARNING, logger="prov_common"):
        result = materialize([pipeline.orders, written], instance=instance, raise_on_error=False, resources={
            "io_manager": ProvenanceIOManager(data_root=str(tmp_path / "data"), **settings),
            "provenance": ProvenanceResource(**settings)})
    config = "Fix: point the ProvenanceIOManager's 'store' config at a folder"  # the recorder both steps share
    if strict:
        failures = [e.step_failure_data.error for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        assert len(failures) == 2, [e.to_string() for e in failures]
        for error in failures:
            shown = error.cause if error.cause is not None else error
            assert "StoreError" in shown.cls_name and f"store path '{blocker}' exists and is not a folder" in shown.message
            assert config in shown.message and "TDPROV_STORE" not in shown.message, shown.message
        return
    assert result.success
    assert (tmp_path / "data" / "raw" / "orders.parquet").exists() and (tmp_path / "written.parquet").exists()
    said = {e.step_key: e.user_message for e in instance.all_logs(result.run_id)
            if e.level == logging.WARNING and "source records in" in (e.user_message or "")}
    assert set(said) == {"raw__orders", "written"}, said
    for step, message in said.items():
        assert message.startswith(f"run {step_run_id(result.run_id, step)}: the source records in {blocker} cannot be "
                                  f"read (store path '{blocker}' exists and is not a folder. {config}); source "
                                  f"'{pipeline.SOURCE}' is recorded without a version"), message
    kept = [r.getMessage() for r in caplog.records if "kept in the outbox" in r.getMessage()]
    assert kept and str(blocker) in kept[0], kept


def test_a_declared_source_whose_records_an_outage_hides_fails_a_strict_step_saying_nothing_was_spooled(
    tmp_path: Path, instance, s3_fault
) -> None:
    """Strict mode, the store answering 503 SlowDown: the listing of the source records an asset declares failed the
    step with the store's error as it was, its fix ending "spooled bundles are delivered by 'tdprov flush'", though
    strict mode spools nothing; the fix ends in strict mode's words, as a strict write's does."""
    store = s3_fault("503 SlowDown")
    result = materialize([pipeline.orders], instance=instance, raise_on_error=False, resources={
        "io_manager": ProvenanceIOManager(store=store, strict=True, data_root=str(tmp_path / "data"))})
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    error = failure.step_failure_data.error.to_string()
    assert "cannot list 'sources/'" in error and "SlowDown" in error, error
    assert ("SlowDown (injected fault). Fix: nothing was spooled (strict mode): retry when the store is back, or run "
            "without strict mode to spool" in error and "tdprov flush" not in error and "retry later" not in error), error


@pytest.mark.parametrize("source", [pipeline.SOURCE, None])
def test_source_records_that_cannot_be_read_for_a_failure_sample_are_warned_of_once_a_step(
    source: str | None, tmp_path: Path, instance
) -> None:
    """A sample kept under the 'warn' policy with the IO manager's 'store' config a file: the masking of the sample read
    the source records again after the declared source's read failed, and warned a second time, fixing TDPROV_STORE and
    naming no run (with no source declared, its one warning did so). The step's first read is its only one: one warning a
    step, naming its run and the config (the IO manager's write, ProvenanceResource.record)."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store folder should be")
    schema = pa.DataFrameSchema({"email": pa.Column(str, pa.Check.str_length(max_value=3))})  # fails: a sample is kept

    @provenance_asset(source=source, schema=schema, quality_policy="warn")
    def prices() -> pd.DataFrame:
        return pd.DataFrame({"email": ["alice@example.com"]})

    @provenance_asset(source=source, schema=schema, quality_policy="warn")
    def written(context, provenance: ProvenanceResource) -> MaterializeResult:
        out = tmp_path / "written.parquet"
        pd.DataFrame({"email": ["alice@example.com"]}).to_parquet(out)
        done = provenance.record(outputs={"written": str(out)}, context=context)
        return MaterializeResult(metadata=done.metadata, data_version=done.data_version)

    result = materialize([prices, written], instance=instance, resources={
        "io_manager": ProvenanceIOManager(data_root=str(tmp_path / "data"), store=str(blocker)),
        "provenance": ProvenanceResource(store=str(blocker))})
    said = sorted((e.step_key, e.user_message) for e in instance.all_logs(result.run_id)
                  if e.level == logging.WARNING and "source records in" in (e.user_message or ""))
    assert [step for step, _ in said] == ["prices", "written"], said
    error = f"store path '{blocker}' exists and is not a folder. Fix: point the ProvenanceIOManager's 'store' config at a folder"
    then = (f"source '{source}' is recorded without a version (the audit reports it) and every column is flagged" if source
            else "every value of the failure sample is masked")
    for step, message in said:
        assert message == (f"run {step_run_id(result.run_id, step)}: the source records in {blocker} cannot be read "
                           f"({error}); {then}"), message


def test_a_snapshot_the_store_set_by_the_io_manager_config_cannot_take_names_that_config(tmp_path: Path, instance) -> None:
    """The IO manager's 'store' config names a file and an asset asks for a snapshot: the warning that no snapshot was
    kept said to point TDPROV_STORE at a folder; it names the config now. It named the asset and version but not the
    run, as every other warning of a step does; it names the run. (Strict mode fails the step at its START first, with
    the config named.)"""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store folder should be")

    @provenance_asset(snapshot=True)
    def kept() -> pd.DataFrame:
        return pd.DataFrame({"a": [1]})

    result = materialize([kept], instance=instance, resources={
        "io_manager": ProvenanceIOManager(data_root=str(tmp_path / "data"), store=str(blocker))})
    assert result.success and (tmp_path / "data" / "kept.parquet").exists()
    said = [e.user_message for e in instance.all_logs(result.run_id)
            if e.level == logging.WARNING and "no snapshot of kept" in (e.user_message or "")]
    error = f"store path '{blocker}' exists and is not a folder. Fix: point the ProvenanceIOManager's 'store' config at a folder"
    digest = hash_path(tmp_path / "data" / "kept.parquet").digest
    assert said == [f"tdprov: no snapshot of kept version {digest} of run {step_run_id(result.run_id, 'kept')} was kept: "
                    f"{error}"], said


def test_a_snapshot_the_disk_or_an_outage_refuses_warns_or_fails_the_step_as_the_policy_says(
        tmp_path: Path, instance, monkeypatch: pytest.MonkeyPatch) -> None:
    """keep_snapshot caught only tdprov's errors: an ``OSError`` the copy let through (a full disk under the temporary
    copy of an S3 object, a backend's own) failed a step that is not strict, which a store that cannot take the
    snapshot must not do; it is warned of. A strict step failing on an outage raised the store's fix "spooled bundles
    are delivered by 'tdprov flush'", though a snapshot is never spooled; it says nothing was spooled, as a strict
    write does."""
    import prov_common.store.shard_snapshots as shard_snapshots
    from prov_common.errors import StoreUnavailableError
    from prov_common.store.errors import FLUSH_NOTE

    @provenance_asset(snapshot=True)
    def kept() -> pd.DataFrame:
        return pd.DataFrame({"a": [1]})

    def full(*_: Any, **__: Any) -> Any:
        raise OSError(errno.ENOSPC, "No space left on device", "/tmp/tdprov-snapshot-x/part.parquet")

    monkeypatch.setattr(shard_snapshots, "keep_dataset", full)
    result = materialize([kept], instance=instance, resources={
        "io_manager": ProvenanceIOManager(data_root=str(tmp_path / "data"), store=str(tmp_path / "store"))})
    assert result.success
    said = [e.user_message for e in instance.all_logs(result.run_id)
            if e.level == logging.WARNING and "no snapshot of kept" in (e.user_message or "")]
    assert len(said) == 1 and said[0].endswith(" was kept: [Errno 28] No space left on device: "
                                               "'/tmp/tdprov-snapshot-x/part.parquet'"), said

    def outage(*_: Any, **__: Any) -> Any:
        raise StoreUnavailableError("cannot write 'objects/blake3/x' in s3://b/p: SlowDown (injected).",
                                    fix=f"retry later; {FLUSH_NOTE}")

    monkeypatch.setattr(shard_snapshots, "keep_dataset", outage)
    result = materialize([kept], instance=instance, raise_on_error=False, resources={
        "io_manager": ProvenanceIOManager(data_root=str(tmp_path / "data"), store=str(tmp_path / "store"), strict=True)})
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    error = failure.step_failure_data.error.to_string()
    assert ("SlowDown (injected). Fix: nothing was spooled (strict mode): retry when the store is back, or run without "
            "strict mode to spool") in error and FLUSH_NOTE not in error and "retry later" not in error, error


def test_a_snapshot_an_outage_refuses_is_warned_of_with_a_fix_that_keeps_one(tmp_path: Path, instance, s3_fault) -> None:
    """Not strict, the store answering 503 SlowDown: the warning that no snapshot was kept quoted the store's fix,
    "retry later; spooled bundles are delivered by 'tdprov flush'", though a flush never delivers a snapshot; it says
    that a snapshot is never spooled and to re-run the step once the store is back."""
    from prov_common.store.errors import FIX_SNAPSHOT

    @provenance_asset(snapshot=True)
    def kept() -> pd.DataFrame:
        return pd.DataFrame({"a": [1]})

    result = materialize([kept], instance=instance, resources={
        "io_manager": ProvenanceIOManager(data_root=str(tmp_path / "data"), store=s3_fault("503 SlowDown"))})
    assert result.success
    said = [e.user_message for e in instance.all_logs(result.run_id)
            if e.level == logging.WARNING and "no snapshot of kept" in (e.user_message or "")]
    assert len(said) == 1 and said[0].endswith(f"SlowDown (injected fault). Fix: {FIX_SNAPSHOT}"), said
    assert FIX_SNAPSHOT == "a snapshot is never spooled: re-run the step once the store is back to keep one"


class _BuggySourceListing(LocalStore):
    """A local store whose listing of the source records meets a fault of the code (a ``TypeError``)."""

    def _list(self, prefix: str, start_after: str | None) -> Any:
        if prefix.startswith("sources/"):
            raise TypeError("'NoneType' object is not iterable")
        return super()._list(prefix, start_after)


def test_a_fault_reading_the_source_records_for_a_failure_sample_masks_it_and_the_step_goes_on(
    tmp_path: Path, instance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The masking of a failure sample caught any error reading the source records (the sample masked whole, the step
    going on); reading them through the step's one listing let a fault that is not the store's (a TypeError) fail the
    step. It is caught again: one warning naming it, every value masked, the data written."""
    import prov_common.store as stores

    opened = stores.open_store
    monkeypatch.setattr(stores, "open_store", lambda *args, **kwargs: _BuggySourceListing(opened(*args, **kwargs).root))
    schema = pa.DataFrameSchema({"email": pa.Column(str, pa.Check.str_length(max_value=3))})  # fails: a sample is kept

    @provenance_asset(schema=schema, quality_policy="warn")
    def prices() -> pd.DataFrame:
        return pd.DataFrame({"email": ["alice@example.com"]})

    result = materialize([prices], instance=instance, resources={
        "io_manager": ProvenanceIOManager(data_root=str(tmp_path / "data"), store=str(tmp_path / "store"))})
    assert result.success and (tmp_path / "data" / "prices.parquet").exists()
    said = [e.user_message for e in instance.all_logs(result.run_id)
            if e.level == logging.WARNING and "source records in" in (e.user_message or "")]
    assert len(said) == 1 and said[0].endswith("cannot be read ('NoneType' object is not iterable); every value of the "
                                               "failure sample is masked"), said


def test_record_metadata_tells_look_alike_and_colliding_names_apart(store: Path, instance, tmp_path: Path) -> None:
    """record()'s metadata and digests are keyed by each dataset's name, told apart only where two shared one: files
    ``café.csv`` composed and decomposed were two keys that look alike, and a frame named ``inmemory://x`` beside a
    frame named ``x`` that a read file shares (so shown by its URI, ``inmemory://x``) had one key for both, one digest
    hiding the other. Each is now keyed by a text no other has or looks like."""
    import unicodedata

    nfc, nfd = (tmp_path / unicodedata.normalize(form, "café.csv") for form in ("NFC", "NFD"))
    read = tmp_path / "x.csv"
    for i, path in enumerate((nfc, nfd, read)):
        path.write_text(f"a\n{i + 5}\n")
    recorded: dict[str, Any] = {}

    @provenance_asset
    def written(context, provenance: ProvenanceResource) -> MaterializeResult:
        files = provenance.record(outputs=[str(nfc), str(nfd)], context=context)
        frames = provenance.record(inputs={"x": str(read)}, context=context,
                                   outputs={"x": pd.DataFrame({"a": [1]}), "inmemory://x": pd.DataFrame({"a": [2]})})
        recorded.update(files=files.digests, frames=frames.digests)
        return MaterializeResult(metadata={**files.metadata, **frames.metadata})

    result = run([written], instance)
    assert result.success
    keys = [k for k in materializations(result)[AssetKey("written")].metadata if k.startswith("tdprov/digest/")]
    assert sorted(keys) == sorted(f"tdprov/digest/{tmp_path}/{name}" for name in ("caf\\xe9.csv", "cafe\\u0301.csv")) + [
        "tdprov/digest/inmemory://inmemory://x", "tdprov/digest/inmemory://x"], keys
    assert len(set(recorded["files"].values())) == 2 and len(set(recorded["frames"].values())) == 3, recorded


HAND_RECORDED = {"text": {"passed": "false", "checks": []},
                 "check": {"passed": True, "checks": [{"name": "not_null", "column": "amount", "passed": "false"}]}}


@asset(partitions_def=StaticPartitionsDefinition([*HAND_RECORDED, "good"]))
def hand_recorded(context) -> MaterializeResult:  # noqa: ANN001 (Dagster reads the hint; this module defers annotations)
    """Sets tdprov's Pandera metadata itself, as any asset can: a result whose passed is no boolean."""
    result = HAND_RECORDED.get(context.partition_key, {"passed": True, "checks": []})
    return MaterializeResult(metadata={"tdprov/pandera": MetadataValue.json({"schemaName": "s", "failureCount": 0, **result})})


@pytest.mark.parametrize("partition", sorted(HAND_RECORDED))
def test_the_pandera_check_of_a_result_whose_passed_is_no_boolean_fails_naming_it(instance, partition: str) -> None:
    """The check read a recorded result's passed with bool(): "false" (text), or a check of it whose passed was "false",
    passed. A result whose passed, or that of one of its checks, is no boolean has no known outcome: the check fails
    naming the field, of the asset (the latest materialization) and of its partitions alike."""
    assert materialize([hand_recorded], instance=instance, partition_key=partition).success
    field = "tdprov/pandera.passed" if partition == "text" else "tdprov/pandera.checks[0].passed of check not_null[amount]"
    unpartitioned = pandera_check_result(instance, AssetKey("hand_recorded"), AssetCheckSeverity.ERROR)
    assert not unpartitioned.passed and unpartitioned.description == (
        f"hand_recorded: the Pandera result recorded on the latest materialization has no known outcome ({field} is "
        f'"false", not true or false), so it does not count as passed. Fix: {FIX_UNKNOWN}.'), unpartitioned.description
    assert materialize([hand_recorded], instance=instance, partition_key="good").success
    partitioned = partitioned_check_result(instance, AssetKey("hand_recorded"), AssetCheckSeverity.ERROR)
    assert not partitioned.passed and partitioned.metadata["unknown_partitions"].value == [partition]
    assert (f"the Pandera result recorded on the latest materialization of partitions {partition!r} has no known outcome "
            f'(of {partition!r}: {field} is "false", not true or false)') in partitioned.description, partitioned.description


@asset
def hand_failed_check() -> MaterializeResult:
    """Sets tdprov's Pandera metadata itself: a result whose passed is text, one of whose checks failed."""
    return MaterializeResult(metadata={"tdprov/pandera": MetadataValue.json(
        {"schemaName": "s", "passed": "false", "failureCount": 2,
         "checks": [{"name": "in_range", "column": "amount", "passed": False, "failureCount": 2}]})})


def test_the_pandera_check_of_a_result_whose_passed_is_no_boolean_with_a_failed_check_fails_as_failed(instance) -> None:
    """A recorded result whose passed was no boolean ("false" as text) had no known outcome even though one of its
    checks had failed: the check now fails it as a failed validation, naming the check that failed and the bad field
    (which its description left out), with the fix for that field too."""
    assert materialize([hand_failed_check], instance=instance).success
    result = pandera_check_result(instance, AssetKey("hand_failed_check"), AssetCheckSeverity.ERROR)
    assert not result.passed and result.description == (
        "hand_failed_check: the latest materialization failed Pandera schema 's': 2 failure cases [amount: in_range (2)] "
        '(tdprov/pandera.passed is "false", not true or false). Fix: materialize it again with data that passes the '
        f"schema; for the field named, {FIX_UNKNOWN}."), result.description


@asset
def hand_contradiction() -> MaterializeResult:
    """Sets tdprov's Pandera metadata itself: a result that says it passed, one of whose checks failed."""
    return MaterializeResult(metadata={"tdprov/pandera": MetadataValue.json(
        {"schemaName": "s", "passed": True, "failureCount": 2,
         "checks": [{"name": "in_range", "column": "amount", "passed": False, "failureCount": 2}]})})


def test_the_pandera_check_of_a_result_that_passed_with_a_failed_check_fails_naming_the_contradiction(instance) -> None:
    """A recorded result whose own passed was true while one of its checks failed passed the check: it now fails as a
    failed validation, naming the check that failed and the contradiction, with the fix for the field."""
    assert materialize([hand_contradiction], instance=instance).success
    result = pandera_check_result(instance, AssetKey("hand_contradiction"), AssetCheckSeverity.ERROR)
    assert not result.passed and result.description == (
        "hand_contradiction: the latest materialization failed Pandera schema 's': 2 failure cases [amount: in_range (2)] "
        "(tdprov/pandera.passed is true, but tdprov/pandera.checks[0].passed of check in_range[amount] is false). Fix: "
        f"materialize it again with data that passes the schema; for the field named, {FIX_UNKNOWN}."), result.description


@asset
def hand_counted_contradiction() -> MaterializeResult:
    """Sets tdprov's Pandera metadata itself: a result that says it passed, with failure cases counted on a check that
    says it passed too."""
    return MaterializeResult(metadata={"tdprov/pandera": MetadataValue.json(
        {"schemaName": "s", "passed": True, "failureCount": 2,
         "checks": [{"name": "in_range", "column": "amount", "passed": True, "failureCount": 2}]})})


def test_the_pandera_check_of_a_result_that_passed_with_failure_cases_fails_naming_the_contradiction(instance) -> None:
    """A recorded result that said it passed while counting failure cases (its own, and one of its checks') passed the
    check: it now fails as a failed validation, naming both contradictions, with the fix for the field."""
    assert materialize([hand_counted_contradiction], instance=instance).success
    result = pandera_check_result(instance, AssetKey("hand_counted_contradiction"), AssetCheckSeverity.ERROR)
    assert not result.passed and result.description == (
        "hand_counted_contradiction: the latest materialization failed Pandera schema 's': 2 failure cases "
        "(tdprov/pandera.passed is true, but tdprov/pandera.failureCount is 2; tdprov/pandera.checks[0].passed of check "
        "in_range[amount] is true, but tdprov/pandera.checks[0].failureCount is 2). Fix: materialize it again with data "
        f"that passes the schema; for the field named, {FIX_UNKNOWN}."), result.description


HAND_FAILED = {"schemaName": "s", "passed": False, "failureCount": "many",
               "checks": ["not_null", {"name": "in_range", "column": "amount", "passed": "false"}]}


@asset
def hand_failed() -> MaterializeResult:
    """Sets tdprov's Pandera metadata itself: a failed result with a count and checks no producer of tdprov's writes."""
    return MaterializeResult(metadata={"tdprov/pandera": MetadataValue.json(HAND_FAILED)})


def test_the_pandera_check_of_a_failed_result_set_by_hand_names_its_checks_whatever_their_fields(instance) -> None:
    """The check of a failed result read its failureCount and its checks as tdprov writes them: a count that is no
    number, or a check that is no object, raised out of the check (ValueError, AttributeError), and a check whose passed
    was "false" (text) was not named among those that did not pass, where the check's failed_checks lists it."""
    assert materialize([hand_failed], instance=instance).success
    result = pandera_check_result(instance, AssetKey("hand_failed"), AssetCheckSeverity.ERROR)
    assert not result.passed and result.description == (
        "hand_failed: the latest materialization failed Pandera schema 's': 0 failure cases [amount: in_range (no known outcome)] "
        '(tdprov/pandera.checks[1].passed of check in_range[amount] is "false", not true or false). Fix: materialize it '
        f"again with data that passes the schema; for the field named, {FIX_UNKNOWN}.")
    assert result.metadata["failed_checks"].value == [HAND_FAILED["checks"][1]]


@asset
def hand_failed_with_nothing_failing() -> MaterializeResult:
    """Sets tdprov's Pandera metadata itself: a result that says it failed, with no failure case and every check passed."""
    return MaterializeResult(metadata={"tdprov/pandera": MetadataValue.json(
        {"schemaName": "s", "passed": False, "failureCount": 0,
         "checks": [{"name": "in_range", "column": "amount", "passed": True, "failureCount": 0}]})})


def test_the_pandera_check_of_a_failed_result_that_names_nothing_failing_names_the_contradiction(instance) -> None:
    """A recorded result that said it failed while counting no failure case and naming no failed check failed the check
    with no word of why: it still fails, now naming both fields, with the fix for the field."""
    assert materialize([hand_failed_with_nothing_failing], instance=instance).success
    result = pandera_check_result(instance, AssetKey("hand_failed_with_nothing_failing"), AssetCheckSeverity.ERROR)
    assert not result.passed and result.description == (
        "hand_failed_with_nothing_failing: the latest materialization failed Pandera schema 's': 0 failure cases "
        "(tdprov/pandera.passed is false, but tdprov/pandera.failureCount is 0 and it names no failed check). Fix: "
        f"materialize it again with data that passes the schema; for the field named, {FIX_UNKNOWN}."), result.description
