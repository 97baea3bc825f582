"""What the Dagster UI shows of tdprov: links to bundles and reports, the Pandera schema by import path with
its checks, sensors and schedule running under their documented names, and the audit outside the asset graph."""
from __future__ import annotations

import json
import re
from pathlib import Path

import boto3
import pytest
import pandas as pd
from dagster import (
    AssetKey,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Definitions,
    MetadataValue,
    UrlMetadataValue,
    asset,
    instance_for_test,
    materialize,
)

import test_dagster_defs as pipeline
from test_dagster_defs import RAW_SCHEMA, url_path
from prov_common.bundle import list_bundles
from prov_common.quality import load_schema
from prov_common.signing import signing_key_from_settings
from prov_common.sources import SourceRecord, register_source
from prov_common.store import open_store
from prov_dagster import ProvenanceIOManager, ProvenanceResource, definitions, provenance_audit_job
from prov_dagster.audit import AUDIT_ASSET_KEY
from prov_dagster.links import location_url

from dagster_support import delivered

DOCS = Path(__file__).resolve().parents[1] / "docs" / "dagster.md"
RAW = AssetKey(["raw", "orders"])


def _register_source(store: str) -> None:
    vendor = SourceRecord(name=pipeline.SOURCE, digest="blake3:" + "5e" * 32, license="CC-BY-4.0", issuer="Vendor GmbH")
    register_source(open_store(store), vendor, signing_key_from_settings())


# -- links ----------------------------------------------------------------------------------------
def test_bundle_metadata_is_a_link_to_the_bundle_on_each_backend(store_uri: str) -> None:
    result = materialize(pipeline.CHAIN, resources={"io_manager": ProvenanceIOManager(store=store_uri)})
    assert result.success
    delivered(store_uri)
    runs = {s.job_name: s.run_id for s in list_bundles(open_store(store_uri))}
    for mat in result.get_asset_materialization_events():
        materialization = mat.materialization
        link = materialization.metadata["tdprov/bundle"]
        assert isinstance(link, UrlMetadataValue)  # rendered as a link, not as plain text
        run_id = runs[materialization.asset_key.to_python_identifier()]
        if store_uri.startswith("s3://"):  # a local S3-compatible endpoint has no console: the s3:// URI of the bundle
            assert link.url == f"{store_uri}/bundles/{run_id}/"
            bucket, _, prefix = link.url[len("s3://"):].partition("/")
            keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]]
            assert f"{prefix}statement.dsse.json" in keys
        else:
            assert link.url.startswith("file:///") and url_path(link.url) == Path(store_uri) / "bundles" / run_id
            assert (url_path(link.url) / "statement.dsse.json").is_file()


def test_s3_locations_on_aws_link_to_the_console_and_other_endpoints_keep_s3_uris() -> None:
    aws = {}
    assert location_url("s3://bkt/p/bundles/r1/", aws) == "https://s3.console.aws.amazon.com/s3/buckets/bkt?prefix=p/bundles/r1/"
    assert location_url("s3://bkt/p/audit/reports/x/report.html", aws) == (
        "https://s3.console.aws.amazon.com/s3/object/bkt?prefix=p/audit/reports/x/report.html"
    )
    assert location_url("s3://bkt/p/bundles/r1/", {"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9000"}) == "s3://bkt/p/bundles/r1/"
    assert location_url("/data/my store/bundles/r1/") == "file:///data/my%20store/bundles/r1/"


def test_s3_locations_of_an_endpoint_set_in_the_aws_config_file_keep_s3_uris(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """An endpoint set in the AWS config file (``endpoint_url`` of the profile: MinIO), where the store's requests go,
    was not read: its bundles and reports were linked to the AWS console page of a bucket of that name, which is not
    theirs; they keep their s3:// URI, as with AWS_ENDPOINT_URL_S3. With no endpoint set they link to the console."""
    config = tmp_path / "aws-config"
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"):
        monkeypatch.delenv(name, raising=False)
    config.write_text("[default]\nregion = us-east-1\nendpoint_url = http://127.0.0.1:9000\n")
    assert location_url("s3://bkt/p/bundles/r1/") == "s3://bkt/p/bundles/r1/"
    config.write_text("[default]\nregion = us-east-1\n")
    assert location_url("s3://bkt/p/bundles/r1/") == "https://s3.console.aws.amazon.com/s3/buckets/bkt?prefix=p/bundles/r1/"


def test_s3_links_make_one_s3_client_per_process_for_an_aws_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each link asked a fresh S3 client where its requests go (tens of milliseconds each, for every output of every
    step on an S3 store): one client answers for as long as the environment and the AWS config file stay as they are,
    and a changed config file is asked again."""
    import prov_common.store.s3 as s3

    config = tmp_path / "aws-config"
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"):
        monkeypatch.delenv(name, raising=False)
    made: list[str] = []
    fresh = s3.fresh_s3_client

    def counted(*args, **kwargs):
        made.append("client")
        return fresh(*args, **kwargs)

    monkeypatch.setattr(s3, "fresh_s3_client", counted)
    config.write_text("[default]\nregion = us-east-1\nendpoint_url = http://127.0.0.1:9000\n")
    assert {location_url(f"s3://bkt/p/bundles/r{n}/") for n in range(5)} == {f"s3://bkt/p/bundles/r{n}/" for n in range(5)}
    assert len(made) == 1, made
    config.write_text("[default]\nregion = us-east-1\n")
    assert location_url("s3://bkt/p/") == "https://s3.console.aws.amazon.com/s3/buckets/bkt?prefix=p/" and len(made) == 2, made


def test_audit_job_links_its_report(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    _register_source(store)
    assert materialize(pipeline.CHAIN, resources={"io_manager": ProvenanceIOManager(store=store)}).success
    reports = tmp_path / "reports"
    result = provenance_audit_job.execute_in_process(
        resources={"provenance": ProvenanceResource(store=store)},
        run_config={"ops": {"tdprov_audit": {"config": {"report_dir": str(reports)}}}},
    )
    assert result.success
    [mat] = result.asset_materializations_for_node("tdprov_audit")
    assert isinstance(mat.metadata["report_html"], UrlMetadataValue)
    assert url_path(mat.metadata["report_html"].value) == reports / "report.html"
    assert b"<html" in (reports / "report.html").read_bytes()[:400].lower()


# -- the Pandera schema ---------------------------------------------------------------------------
@asset(metadata={"pandera_schema": RAW_SCHEMA})
def plain_orders() -> pd.DataFrame:
    """A plain ``@asset`` that declares its schema as an object."""
    return pd.DataFrame({"order_id": [1, 1], "amount": [1.0, -2.0], "country": ["DE", "XX"]})


def test_schema_is_shown_by_import_path_and_checks_never_as_an_object(tmp_path: Path) -> None:
    defs = definitions([*pipeline.CHAIN, plain_orders], store=str(tmp_path / "store"))
    graph = defs.resolve_asset_graph()
    for key in (RAW, AssetKey("plain_orders")):
        metadata = graph.get(key).metadata
        for value in metadata.values():  # nothing the UI would show as "[...] (unserializable)"
            assert isinstance(value, MetadataValue) or json.loads(json.dumps(value)) == value, value
        path = metadata["pandera_schema"].value
        assert re.fullmatch(r"test_dagster_(defs|ui):RAW_SCHEMA", path) and load_schema(path) is RAW_SCHEMA
        rows = {r.data["column"]: r.data for r in metadata["tdprov/pandera_checks"].records}
        assert set(rows) == set(RAW_SCHEMA.columns)
        assert rows["country"]["checks"] == "isin(['DE', 'FR', 'US']); not null"
        assert rows["order_id"]["checks"] == "greater_than_or_equal_to(0); unique; not null"


def test_a_schema_shown_by_its_path_still_validates(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    defs = definitions([plain_orders], store=store)
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(raise_on_error=False)
    assert not result.success  # the default 'fail' policy: the path was loaded and the bad frame refused
    delivered(store)
    [summary] = list_bundles(open_store(store))
    assert summary.state == "FAIL" and not (Path(store + "-data") / "plain_orders.parquet").exists()


# -- sensors, schedule, audit ---------------------------------------------------------------------
def _documented_names(section: str) -> set[str]:
    """The names a docs/dagster.md section introduces, one per list item (each only once)."""
    body = DOCS.read_text().split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    names = re.findall(r"^- `(provenance_\w+)`", body, flags=re.M)
    assert len(names) == len(set(names)), names
    return set(names)


def test_sensors_schedule_and_job_run_by_default_under_their_documented_names(tmp_path: Path) -> None:
    defs = definitions(pipeline.CHAIN, store=str(tmp_path / "store"))
    Definitions.validate_loadable(defs)
    sensors, schedules = list(defs.sensors), list(defs.schedules)
    defined = {s.name for s in [*sensors, *schedules]} | {j.name for j in defs.jobs}
    assert _documented_names("Sensors, audit job, schedule") == defined == {
        "provenance_failure_sensor", "provenance_canceled_sensor", "provenance_store_sensor",
        "provenance_audit_job", "provenance_audit_schedule",
    }
    assert {s.default_status for s in sensors} == {DefaultSensorStatus.RUNNING}
    assert {s.default_status for s in schedules} == {DefaultScheduleStatus.RUNNING}
    store_sensor = defs.resolve_sensor_def("provenance_store_sensor")
    assert store_sensor.job_name == defs.resolve_schedule_def("provenance_audit_schedule").job_name == "provenance_audit_job"


def test_audit_is_outside_the_asset_graph_and_materialize_all_does_not_run_it(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    _register_source(store)
    defs = definitions(pipeline.CHAIN, store=store)
    graph = defs.resolve_asset_graph()
    assert graph.get_all_asset_keys() == {RAW, AssetKey(["clean", "orders_clean"]), AssetKey("features")}
    assert all(c.asset_key != AUDIT_ASSET_KEY for c in graph.asset_check_keys)
    (tmp_path / "home").mkdir()
    with instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        everything = defs.resolve_implicit_global_asset_job_def()  # what "Materialize all" runs
        result = everything.execute_in_process(instance=instance)
        assert result.success
        assert {e.materialization.asset_key for e in result.get_asset_materialization_events()} == graph.get_all_asset_keys()
        assert "tdprov_audit" not in {e.step_key for e in result.all_events}
        assert instance.get_latest_materialization_event(AUDIT_ASSET_KEY) is None
        assert not (Path(store) / "audit").exists()  # no audit ran: it writes its report into the store
        audit = defs.resolve_job_def("provenance_audit_job").execute_in_process(instance=instance)
        assert audit.success
        recorded = instance.get_latest_materialization_event(AUDIT_ASSET_KEY).asset_materialization.metadata
        assert recorded["checkpoint"].value["treeSize"] == 3 and recorded["bundles_examined"].value == 3
        assert url_path(recorded["report_html"].value).is_file()

