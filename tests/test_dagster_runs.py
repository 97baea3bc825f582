"""Dagster runs beyond ``materialize``: multiprocess executor, the ``dagster`` CLI, sensors, the audit job, S3."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest
from dagster import (
    AssetIn,
    AssetKey,
    DagsterInstance,
    Definitions,
    RunRequest,
    SkipReason,
    asset,
    build_run_status_sensor_context,
    build_sensor_context,
    execute_job,
    instance_for_test,
    materialize,
    reconstructable,
)

import test_dagster_defs as pipeline
from test_dagster_defs import url_path
from prov_common.bundle import layout, list_bundles, read_bundle
from prov_common.bundle.events import parse_events_jsonl
from prov_common.signing import signing_key_from_settings
from prov_common.sources import SourceRecord, register_source
from prov_common.store import open_store
from prov_dagster import (
    ProvenanceIOManager,
    ProvenanceResource,
    definitions,
    provenance_audit_job,
    provenance_failure_sensor,
    provenance_store_sensor,
)
from prov_dagster.naming import step_run_id
from test_dagster_defs import asset_of, located

from dagster_support import delivered

TESTS = Path(__file__).resolve().parent
CHAIN_KEYS = "raw/orders,clean/orders_clean,features"


def recorded(store: str) -> dict[str, tuple[list[tuple[str, str | None]], list[tuple[str, str | None]]]]:
    """job name -> (inputs, outputs) as (asset key, version), from the store's bundles."""
    delivered(store)
    return {
        s.job_name: ([(asset_of(store, i.name), i.version) for i in s.inputs],
                     [(asset_of(store, o.name), o.version) for o in s.outputs])
        for s in list_bundles(open_store(store))
    }


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What an in-process ``materialize`` of the chain records (made once: the tests only compare with it)."""
    store = str(tmp_path_factory.mktemp("reference") / "store")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("TDPROV_TEST_VARIANT", raising=False)
        materialize(pipeline.CHAIN, resources={"io_manager": ProvenanceIOManager(store=store)})
    found = recorded(store)
    assert set(found) == {"raw__orders", "clean__orders_clean", "features"}
    return found


def test_multiprocess_executor_writes_the_same_bundles(reference, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = str(tmp_path / "store")
    monkeypatch.setenv("TDPROV_STORE", store)  # the step processes configure themselves from the environment
    monkeypatch.chdir(TESTS)  # step processes import test_dagster_defs from the working directory
    signing_key_from_settings()  # make the per-user key once, before several processes want it
    (tmp_path / "dagster_home").mkdir()
    with instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
        result = execute_job(reconstructable(pipeline.get_chain_job), instance=instance)
        assert result.success
        pids = {e.pid for e in result.all_events if e.event_type_value == "STEP_START"}
        assert len(pids) == 3 and os.getpid() not in pids  # one process per step
        assert recorded(store) == reference
        for job_name in reference:
            assert open_store(store).exists(f"bundles/{step_run_id(result.run_id, job_name)}/statement.dsse.json")


def test_dagster_cli_materialize_writes_the_same_bundles(reference, tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    store = str(tmp_path / "store")
    env = {**os.environ, "TDPROV_STORE": store, "DAGSTER_HOME": str(home), "PYTHONPATH": str(TESTS)}
    env.pop("TDPROV_TEST_VARIANT", None)
    dagster = Path(sys.executable).with_name("dagster")
    done = subprocess.run(
        [str(dagster), "asset", "materialize", "-m", "test_dagster_defs", "--select", CHAIN_KEYS],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert recorded(store) == reference


# -- sensors ------------------------------------------------------------------------------------
@asset(ins={"orders": AssetIn(key=AssetKey(["raw", "orders"]))})
def crashes(orders: pd.DataFrame) -> pd.DataFrame:
    raise RuntimeError(f"model training ran out of memory after {len(orders)} rows")


def test_failure_sensor_turns_a_crashed_step_into_a_fail_bundle_with_what_it_loaded(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    provenance = ProvenanceResource(store=store)
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            [pipeline.orders, crashes],
            instance=instance,
            resources={"io_manager": ProvenanceIOManager(store=store)},
            raise_on_error=False,
        )
        assert not result.success
        context = build_run_status_sensor_context(
            sensor_name="provenance_failure_sensor",
            dagster_event=result.get_run_failure_event(),
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            resources={"provenance": provenance},
        )
        provenance_failure_sensor(context)
    delivered(store)
    found = {s.job_name: s for s in list_bundles(open_store(store))}
    assert found["raw__orders"].state == "COMPLETE" and found["crashes"].state == "FAIL"
    assert [i.name for i in found["crashes"].inputs] == [located(store, "raw/orders")]
    events = parse_events_jsonl(read_bundle(open_store(store), found["crashes"].run_id).files["events.jsonl"])
    assert [e["eventType"] for e in events] == ["START", "FAIL"]
    assert "ran out of memory after 4 rows" in events[-1]["run"]["facets"]["errorMessage"]["message"]


def test_store_sensor_triggers_the_audit_only_for_new_bundles_and_the_audit_finds_tampering(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    provenance = ProvenanceResource(store=store)
    vendor = SourceRecord(name=pipeline.SOURCE, digest="blake3:" + "5e" * 32, license="CC-BY-4.0", issuer="Vendor GmbH")
    register_source(open_store(store), vendor, signing_key_from_settings())  # else the audit finds an untraced input
    materialize(pipeline.CHAIN, resources={"io_manager": ProvenanceIOManager(store=store)})
    (tmp_path / "dagster_home").mkdir()
    with instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
        context = build_sensor_context(instance=instance, cursor=None, resources={"provenance": provenance})
        request = provenance_store_sensor(context)
        assert isinstance(request, RunRequest)
        assert request.run_key.startswith("index/") and request.tags["tdprov/new_bundles"] == "3"
        assert isinstance(provenance_store_sensor(context), SkipReason)  # nothing new since the cursor

        audit = provenance_audit_job.execute_in_process(
            instance=instance, resources={"provenance": provenance}, run_config=request.run_config
        )
        assert audit.success
        [report] = [e.event_specific_data.metadata for e in audit.all_events if e.event_type_value == "STEP_OUTPUT"]
        assert report["bundles_examined"].value == 3 and report["findings"].value == 0
        assert report["check/signatures"].value.startswith("pass")
        assert url_path(report["report_json"].value).is_file()  # a link to the report in the store
        assert url_path(report["report_html"].value).parent == url_path(report["report_json"].value).parent

        delivered(store)
        run_id = next(s.run_id for s in list_bundles(open_store(store)))
        events_file = Path(store) / "bundles" / run_id / "events.jsonl"
        events_file.chmod(0o644)
        events_file.write_bytes(events_file.read_bytes().replace(b"raw/orders", b"raw/ordert"))
        failed = provenance_audit_job.execute_in_process(
            instance=instance,
            resources={"provenance": provenance},
            run_config={"ops": {"tdprov_audit": {"config": {"full": True}}}},
            raise_on_error=False,
        )
        assert not failed.success
        [failure] = [e for e in failed.all_events if e.event_type_value == "STEP_FAILURE"]
        assert run_id in failure.step_failure_data.user_failure_data.description


def _index_key(store: str, run_id: str) -> str:
    [path] = Path(store, "index").rglob(f"*-{run_id}.json")
    return path.relative_to(store).as_posix()


def test_store_sensor_takes_each_bundle_once_however_late_or_early_its_index_entry_is_dated(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Writers finish out of order (an entry lands with a key older than one the sensor already took) and a writer's
    clock may run ahead (its key sorts after the next hour's): every bundle is counted in one run request, never
    none, never two; a cursor of the older form (a bare index key) goes on after that key."""
    from datetime import datetime, timedelta, timezone

    from bundle_support import record_runs
    from prov_common.store import latekey
    from prov_common.store._base import BaseStore

    store = str(tmp_path / "store")
    resolve = latekey.LateKey.resolve

    def dated(shift: timedelta) -> list[str]:
        monkeypatch.setattr(latekey.LateKey, "resolve", lambda self, now=None: resolve(self, datetime.now(timezone.utc) + shift))
        try:
            return record_runs(store, 1)
        finally:
            monkeypatch.setattr(latekey.LateKey, "resolve", resolve)

    def slow_index_write(first: Any, second: Any) -> tuple[Any, Any]:
        """``first`` in another thread, whose index entry's write (its key chosen) waits until ``second`` ran and the
        sensor took ``second``'s bundle: a slow PUT, a retry after a time-out."""
        reached, release, out = threading.Event(), threading.Event(), []
        put = BaseStore.put

        def slow_put(self: BaseStore, key: str, data: bytes) -> bool:
            if key.startswith("index/") and not reached.is_set():  # the first index entry written: ``first``'s
                reached.set()
                release.wait(30)
            return put(self, key, data)

        monkeypatch.setattr(BaseStore, "put", slow_put)
        writer = threading.Thread(target=lambda: out.append(first()))
        writer.start()
        assert reached.wait(30)
        then = second()
        assert tick() == (layout.run_id_of_index_key(_index_key(store, then[0])), 1)
        release.set()
        writer.join()
        monkeypatch.setattr(BaseStore, "put", put)
        return out[0], then

    (tmp_path / "dagster_home").mkdir()
    with instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
        context = build_sensor_context(instance=instance, cursor=None, resources={"provenance": ProvenanceResource(store=store)})

        def tick() -> tuple[str, int] | None:
            """The run id of the newest bundle the tick's run request names, and how many new bundles it counts."""
            result = provenance_store_sensor(context)
            if isinstance(result, SkipReason):
                return None
            assert isinstance(result, RunRequest)
            return layout.run_id_of_index_key(result.run_key), int(result.tags["tdprov/new_bundles"])

        [a], [b] = slow_index_write(lambda: record_runs(store, 1), lambda: record_runs(store, 1))
        assert _index_key(store, a) < _index_key(store, b)
        assert tick() == (a, 1)
        [c] = dated(timedelta(hours=1))  # a clock an hour ahead
        assert tick() == (c, 1)
        [d] = record_runs(store, 1)  # a writer with the right time, after c's entry
        assert tick() == (d, 1)
        assert tick() is None and tick() is None  # each taken once

        older = build_sensor_context(instance=instance, cursor=_index_key(store, d),
                                     resources={"provenance": ProvenanceResource(store=store)})
        [e] = record_runs(store, 1)
        result = provenance_store_sensor(older)  # a cursor of the older form: everything up to its key was taken
        assert isinstance(result, RunRequest) and result.tags["tdprov/new_bundles"] == "2"  # c's key and e's
        assert isinstance(provenance_store_sensor(older), SkipReason)
        assert tick() == (e, 1)


def test_store_sensor_takes_the_run_of_a_writer_whose_clock_runs_behind_the_store_once(
        store_uri: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A writer whose clock runs an hour behind keyed its run's index entry an hour before the sensor's window, so the
    sensor never took the run. The store's answer to the seal's writes tells the writer its clock is behind: the entry
    is keyed by the store's time, the sensor takes the run once, and a warning names the clock once per process."""
    from datetime import datetime, timedelta, timezone

    from bundle_support import record_runs, run_events
    from prov_common.bundle.build import build_bundle
    from prov_common.bundle.storage import deliver_bundle
    from prov_common.cli import main
    from prov_common.store import _base, latekey
    from prov_common.store.identity import writer_store_id

    class Behind(datetime):  # this machine's clock, an hour behind the store's (whose own clock stamps what it takes)
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return datetime.now(tz) - timedelta(hours=1)

    (tmp_path / "dagster_home").mkdir()
    with instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
        context = build_sensor_context(instance=instance, cursor=None, resources={"provenance": ProvenanceResource(store=store_uri)})
        [first] = record_runs(store_uri, 1)
        taken = provenance_store_sensor(context)
        assert isinstance(taken, RunRequest) and layout.run_id_of_index_key(taken.run_key) == first
        store = open_store(store_uri)
        behind = Behind.now(timezone.utc)
        bundles = [build_bundle(run_events(), None, signing_key_from_settings(), sealed_at=behind,
                                store_id=writer_store_id(store)) for _ in range(2)]
        with pytest.MonkeyPatch.context() as clock, caplog.at_level("WARNING", logger="prov_common.store.latekey"):
            clock.setattr(latekey, "_warned", set(), raising=False)  # a warning of another test is no concern here
            for module in (_base, latekey):
                clock.setattr(module, "datetime", Behind)
            written = [deliver_bundle(store, bundle) for bundle in bundles]
        request = provenance_store_sensor(context)
        assert isinstance(request, RunRequest) and request.tags["tdprov/new_bundles"] == "2", request
        assert layout.run_id_of_index_key(request.run_key) in {b.run_id for b in bundles}
        assert isinstance(provenance_store_sensor(context), SkipReason)  # each taken once
        assert [w.status for w in written] == ["written", "written"]
        window = layout.rewind_cursor(taken.run_key, layout.SETTLE_SECONDS / 2)  # the store's time (S3: to the second)
        assert all(w.index_key is not None and w.index_key > window for w in written), (taken.run_key, written)
        assert store.get(layout.bundle_key(bundles[0].run_id, layout.INDEXED_FILE)).decode() == written[0].index_key
        [warning] = [r.getMessage() for r in caplog.records if "clock" in r.getMessage()]
        assert "this machine's clock is 1 h 0 min behind" in warning or "clock is 59 min 59 s behind" in warning, warning
        assert store.describe() in warning and "NTP" in warning, warning
        assert main(["verify", "--store", store_uri, bundles[0].run_id]) == 0


def test_store_sensor_names_a_copied_index_entry_once_and_still_takes_the_runs_own_entry(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """An index entry copied under a new key (not its run's own, by the rule of 'tdprov verify') was warned of by every
    tick until new runs moved the sensor's window past it. The cursor remembers the copy's key: the next tick names only
    a new copy, and a run whose copy is listed just before its own entry is still taken."""
    from datetime import datetime, timezone

    from bundle_support import raw_put, record_runs

    store = str(tmp_path / "store")

    def copy_of(run_id: str, entry: str, at: datetime) -> str:
        key = layout.index_key_template(run_id).format(now=at)
        raw_put(store, key, Path(store, entry).read_bytes())
        return key

    [a] = record_runs(store, 1)
    own_a = _index_key(store, a)
    copy_a = copy_of(a, own_a, datetime.now(timezone.utc))
    [b] = record_runs(store, 1)
    (tmp_path / "dagster_home").mkdir()
    with instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
        context = build_sensor_context(instance=instance, cursor=own_a,  # a's own entry was taken
                                       resources={"provenance": ProvenanceResource(store=store)})

        def tick() -> tuple[str | None, list[str]]:
            """The run id of the newest bundle the tick's run request names, and the entries it warned of."""
            caplog.clear()
            with caplog.at_level("WARNING", logger="prov_common.bundle.watch"):
                result = provenance_store_sensor(context)
            named = [r.getMessage().split(" is not the entry of run ")[0] for r in caplog.records if "is not the entry" in r.getMessage()]
            return (layout.run_id_of_index_key(result.run_key) if isinstance(result, RunRequest) else None), named

        assert tick() == (b, [f"tdprov: index entry {copy_a}"])
        before_c = datetime.now(timezone.utc)
        [c] = record_runs(store, 1)
        copy_c = copy_of(c, _index_key(store, c), before_c)  # listed just before c's own entry
        assert tick() == (c, [f"tdprov: index entry {copy_c}"])  # copy_a is not named again
        assert tick() == (None, [])


@pytest.mark.parametrize("damaged", ['{"start": "index/2026/01/0', "null", '{"start": 5, "seen": "x"}', "[]"])
def test_store_sensor_starts_again_from_the_first_bundle_after_a_damaged_cursor(
        tmp_path: Path, capfd: pytest.CaptureFixture[str], damaged: str) -> None:
    """A cursor that is no watch (cut short, set by hand) failed every tick, or (text after the index's keys) skipped
    every bundle for good. The tick warns, naming the cursor, and takes the index again from its first bundle."""
    from bundle_support import record_runs

    store = str(tmp_path / "store")
    record_runs(store, 2)
    (tmp_path / "dagster_home").mkdir()
    with instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
        context = build_sensor_context(instance=instance, cursor=damaged, resources={"provenance": ProvenanceResource(store=store)})
        result = provenance_store_sensor(context)
        assert isinstance(result, RunRequest) and result.tags["tdprov/new_bundles"] == "2"
        said = capfd.readouterr().err  # (the sensor's log: Dagster's console handler)
        assert f"cursor {damaged!r}" in said and "provenance_store_sensor" in said and "first bundle" in said, said
        assert isinstance(provenance_store_sensor(context), SkipReason)  # the new cursor is sound
        [late] = record_runs(store, 1)
        result = provenance_store_sensor(context)
        assert result.tags["tdprov/new_bundles"] == "1" and layout.run_id_of_index_key(result.run_key) == late


def test_store_sensor_says_when_no_store_is_at_its_location(tmp_path: Path) -> None:
    """A typo in the store's location: the sensor skips (the store may not be created yet) and says so."""
    typo = tmp_path / "lineage-stroe"
    (tmp_path / "dagster_home").mkdir()
    with instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
        context = build_sensor_context(instance=instance, cursor=None, resources={"provenance": ProvenanceResource(store=str(typo))})
        result = provenance_store_sensor(context)
        assert isinstance(result, SkipReason)
        assert f"no tdprov store at {typo}" in result.skip_message and "TDPROV_STORE" in result.skip_message
        assert not typo.exists()  # waiting creates nothing


def test_definitions_wires_io_manager_checks_sensors_audit_job_and_daily_schedule() -> None:
    defs = definitions(pipeline.CHAIN, store="/tmp/unused-store")
    Definitions.validate_loadable(defs)
    assert isinstance(defs.resources["io_manager"], ProvenanceIOManager)
    assert defs.get_schedule_def("provenance_audit_schedule").cron_schedule == "0 3 * * *"
    assert {s.name for s in defs.sensors} == {"provenance_failure_sensor", "provenance_canceled_sensor", "provenance_store_sensor"}
    checks = defs.resolve_asset_graph().asset_check_keys
    assert {(c.asset_key, c.name) for c in checks} == {(AssetKey(["raw", "orders"]), "pandera")}
    assert defs.resolve_job_def("provenance_audit_job") is not None


# -- S3 -------------------------------------------------------------------------------------------
def test_s3_data_and_store_with_tamper_refusal(s3_store_uri: str, ol_validator) -> None:
    bucket = s3_store_uri[5:].split("/", 1)[0]
    io_manager = ProvenanceIOManager(store=s3_store_uri)
    with DagsterInstance.ephemeral() as instance:
        result = materialize(pipeline.CHAIN, instance=instance, resources={"io_manager": io_manager})
        assert result.success
        mats = {e.materialization.asset_key: e.materialization for e in result.get_asset_materialization_events()}
        s3 = boto3.client("s3")
        keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
        assert "prefix-data/raw/orders.parquet" in keys and "prefix-data/features.parquet" in keys
        assert mats[AssetKey("features")].metadata["tdprov/data"].value == f"s3://{bucket}/prefix-data/features.parquet"
        found = recorded(s3_store_uri)
        assert found["features"][1] == [("features", mats[AssetKey("features")].tags["dagster/data_version"])]
        features = next(s for s in list_bundles(open_store(s3_store_uri)) if s.job_name == "features")
        assert [(o.namespace, o.name) for o in features.outputs] == [(f"s3://{bucket}", "prefix-data/features.parquet")]
        for event in parse_events_jsonl(read_bundle(open_store(s3_store_uri), features.run_id).files["events.jsonl"]):
            ol_validator.validate_event(event)
            for ds in event["inputs"] + event["outputs"]:
                assert ds["namespace"] == f"s3://{bucket}" and ds["name"].startswith("prefix-data/")
                assert ds["facets"]["symlinks"]["identifiers"][0]["name"] == asset_of(s3_store_uri, ds["name"])

        tampered = pd.DataFrame({"order_id": [1], "amount": [1.0], "country": ["DE"]})
        s3.put_object(Bucket=bucket, Key="prefix-data/raw/orders.parquet", Body=tampered.to_parquet())
        again = materialize(
            pipeline.CHAIN, selection=[pipeline.orders_clean], instance=instance,
            resources={"io_manager": io_manager}, raise_on_error=False,
        )
        assert not again.success
        [failure] = [e for e in again.all_events if e.event_type_value == "STEP_FAILURE"]
        assert "does not hold the recorded data" in str(failure.step_failure_data.error.to_string())

    s3.put_object(Bucket=bucket, Key="vendor/prices.csv", Body=b"sku,usd\na,1.5\n")
    recorded_run = ProvenanceResource(store=s3_store_uri).record(
        inputs=[f"s3://{bucket}/vendor/prices.csv"], outputs={"features/prices": pd.DataFrame({"usd": [1.5]})}
    )
    delivered(s3_store_uri)
    summary = next(s for s in list_bundles(open_store(s3_store_uri)) if s.run_id in recorded_run.bundle)
    [vendor] = summary.inputs
    assert (vendor.namespace, vendor.name) == (f"s3://{bucket}", "vendor/prices.csv")
    assert vendor.version == recorded_run.digests["vendor/prices.csv"]


def test_record_names_apart_one_key_in_two_buckets(s3_store_uri: str, s3_server) -> None:
    """A copy from one bucket to two others under the same key: record() returns the digest of each of the three
    datasets and sets each as metadata (all were keyed by the key they share, so one digest stood for all three:
    the output's hid the input's), each by its URI where its name is another's."""
    landing, lake, archive = (s3_server.create_bucket() for _ in range(3))
    s3 = boto3.client("s3")
    for bucket, body in ((landing, b"id,usd\n1,1.5\n"), (lake, b"id,usd\n1,1.5\n2,3.0\n"), (archive, b"id,usd\n9,9.5\n")):
        s3.put_object(Bucket=bucket, Key="orders.csv", Body=body)
    done = ProvenanceResource(store=s3_store_uri).record(
        inputs=[f"s3://{landing}/orders.csv"], outputs=[f"s3://{lake}/orders.csv", f"s3://{archive}/orders.csv"])
    delivered(s3_store_uri)
    [summary] = [s for s in list_bundles(open_store(s3_store_uri)) if s.run_id in done.bundle]
    recorded = {f"{d.namespace}/{d.name}": d.version for d in [*summary.inputs, *summary.outputs]}
    assert len(set(recorded.values())) == 3 and done.digests == recorded
    assert {k: v.value for k, v in done.metadata.items() if k.startswith("tdprov/digest/")} == {
        f"tdprov/digest/s3://{b}/orders.csv": recorded[f"s3://{b}/orders.csv"] for b in (lake, archive)}


def test_s3_partitions_holding_hash_and_question_marks_are_datasets_of_their_own(s3_store_uri: str, tmp_path: Path,
                                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """An S3 key is taken literally: partitions 'eu#1', 'eu#2' and 'q?a=1' are three objects and three datasets,
    each named by its whole key; a reader of 'eu#2' is linked to the run that wrote 'eu#2' (not to a later run
    that wrote the same bytes to 'eu#1'), the audit re-hashes each object and checkout restores it."""
    from prov_common.audit.engine import run_audit
    from prov_common.cli import main as cli_main
    from prov_common.config import Settings
    from dagster import StaticPartitionsDefinition

    bucket = s3_store_uri[5:].split("/", 1)[0]
    parts = StaticPartitionsDefinition(["eu#1", "eu#2", "q?a=1"])

    @asset(partitions_def=parts)
    def region(context) -> pd.DataFrame:
        return pd.DataFrame({"rows": [1]})  # the same bytes in every partition

    @asset(partitions_def=parts)
    def region_stats(context, region: pd.DataFrame) -> pd.DataFrame:
        return region.assign(p=context.partition_key)

    io = {"io_manager": ProvenanceIOManager(store=s3_store_uri, snapshot=True)}
    with DagsterInstance.ephemeral() as instance:
        for key in ("eu#2", "eu#1", "q?a=1"):
            assert materialize([region], partition_key=key, resources=io, instance=instance).success
        assert materialize([region, region_stats], selection=["region_stats"], partition_key="eu#2", resources=io,
                           instance=instance).success
    delivered(s3_store_uri)
    runs = list(list_bundles(open_store(s3_store_uri)))
    written = {(o.namespace, o.name): s.run_id for s in runs for o in s.outputs}
    data = "prefix-data/region"
    assert set(written) == {(f"s3://{bucket}", f"{data}/{k}.parquet") for k in ("eu#1", "eu#2", "q?a=1")} | {
        (f"s3://{bucket}", "prefix-data/region_stats/eu#2.parquet")}
    [reader] = [s for s in runs if s.job_name == "region_stats"]
    assert [(i.namespace, i.name) for i in reader.inputs] == [(f"s3://{bucket}", f"{data}/eu#2.parquet")]

    assert cli_main(["lineage", f"s3://{bucket}/prefix-data/region_stats/eu#2.parquet", "--json", "--store", s3_store_uri]) == 0
    tree = capsys.readouterr().out
    assert written[(f"s3://{bucket}", f"{data}/eu#2.parquet")] in tree
    assert written[(f"s3://{bucket}", f"{data}/eu#1.parquet")] not in tree

    result = run_audit(open_store(s3_store_uri), Settings.from_env(store=s3_store_uri), full=True, rehash=True,
                       report_dir=tmp_path / "report", progress=False)
    rehashed = next(c for c in result.checks if c.name == "rehash")
    assert rehashed.ran and not rehashed.findings, rehashed.findings

    body = boto3.client("s3").get_object(Bucket=bucket, Key=f"{data}/q?a=1.parquet")["Body"].read()
    [question] = [o for s in runs for o in s.outputs if o.name == f"{data}/q?a=1.parquet"]
    assert cli_main(["checkout", question.version, "-o", str(tmp_path / "q.parquet"), "--store", s3_store_uri]) == 0
    assert (tmp_path / "q.parquet").read_bytes() == body
