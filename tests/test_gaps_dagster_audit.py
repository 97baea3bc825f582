"""The Dagster audit job reported as asset check evaluations of ``tdprov/audit``; canceled runs sealed as ABORT."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from dagster import (
    AssetIn,
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    asset,
    build_run_status_sensor_context,
    instance_for_test,
    materialize,
)
from dagster._core.errors import DagsterExecutionInterruptedError

import test_dagster_defs as pipeline
from test_dagster_defs import asset_of, url_path
from prov_common.audit import run_audit
from prov_common.audit.model import CHECK_TITLES
from prov_common.bundle import list_bundles, read_bundle, verify_bundle
from prov_common.bundle.events import parse_events_jsonl
from prov_common.config import Settings
from prov_common.signing import signing_key_from_settings, trust_from_settings
from prov_common.sources import SourceRecord, register_source
from prov_common.store import open_store
from prov_dagster import (
    ProvenanceIOManager,
    ProvenanceResource,
    provenance_audit_job,
    provenance_canceled_sensor,
)

AUDIT_OP = "tdprov_audit"
pytestmark = pytest.mark.xdist_group("gaps_dagster_audit")  # one worker builds the chain's store (_chain_built)


@pytest.fixture(scope="module")
def _chain_built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(place, kept): the chain materialized once for the module into the store ``place/store`` (its data in
    ``place/store-data``), its source registered, with a TDPROV_HOME of its own (the signing key); ``kept`` holds a copy
    of the three folders (store, store-data, home) as they were then. A materialize of the chain cost more than most
    tests of it, and a store's records name their data by path: :func:`store` puts the copy back at ``place``."""
    place = tmp_path_factory.mktemp("chain")
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("TDPROV_")]:
            mp.delenv(name)
        mp.setenv("TDPROV_HOME", str(place / "home"))
        uri = str(place / "store")
        vendor = SourceRecord(name=pipeline.SOURCE, digest="blake3:" + "5e" * 32, license="CC-BY-4.0", issuer="Vendor GmbH")
        register_source(open_store(uri), vendor, signing_key_from_settings())
        assert materialize(pipeline.CHAIN, resources={"io_manager": ProvenanceIOManager(store=uri)}).success
    kept = tmp_path_factory.mktemp("chain-kept")
    for folder in ("store", "store-data", "home"):
        shutil.copytree(place / folder, kept / folder)
    return place, kept


@pytest.fixture
def store(_chain_built: tuple[Path, Path]) -> str:
    """A store holding the chain's three bundles, its source registered (so a clean audit is clean), as the chain's
    materialize left it (whatever a test before changed in it is undone), and this test's TDPROV_HOME holding the key
    that signed it."""
    place, kept = _chain_built
    for folder in ("store", "store-data"):
        shutil.rmtree(place / folder)
        shutil.copytree(kept / folder, place / folder)
    shutil.copytree(kept / "home", os.environ["TDPROV_HOME"], dirs_exist_ok=True)
    return str(place / "store")


def _audit_job(store: str, **config):
    """Run the audit job; its check evaluations (by check name) and the result (a finding fails the run)."""
    result = provenance_audit_job.execute_in_process(resources={"provenance": ProvenanceResource(store=store)},
                                                     run_config={"ops": {AUDIT_OP: {"config": config}}} if config else None,
                                                     raise_on_error=False)
    return {e.check_name: e for e in result.get_asset_check_evaluations()}, result


def _tamper_events(store: str) -> str:
    run_id = next(s.run_id for s in list_bundles(open_store(store)) if s.job_name == "raw__orders")
    events = Path(store) / "bundles" / run_id / "events.jsonl"
    events.chmod(0o644)
    events.write_bytes(events.read_bytes().replace(b"raw/orders", b"raw/ordert"))
    return run_id


def test_clean_store_every_audit_check_passes(store: str) -> None:
    checks, result = _audit_job(store, rehash=True)
    assert result.success and set(checks) == set(CHECK_TITLES)
    assert all(e.passed for e in checks.values()), {n: e.description for n, e in checks.items() if not e.passed}
    assert {e.asset_key for e in checks.values()} == {AssetKey(["tdprov", "audit"])}
    assert checks["signatures"].metadata["checked"].value == 3
    assert checks["rehash"].metadata["status"].value == "pass" and checks["rehash"].metadata["checked"].value == 3
    report = checks["signatures"].metadata["report_json"].value  # a link to the report in the store
    assert url_path(report).parent.parent == Path(store) / "audit" / "reports" and url_path(report).name == "report.json"
    assert json.loads(url_path(report).read_bytes())["summary"]["clean"] is True
    [mat] = result.asset_materializations_for_node(AUDIT_OP)
    assert mat.metadata["clean"].value is True and mat.metadata["report_json"].value == report


def test_tampered_bundle_fails_the_signatures_check_with_the_finding(store: str) -> None:
    """The job reports every check's result, then fails its run: a finding fails the run, after its check evaluations
    were recorded."""
    assert _audit_job(store)[0]["signatures"].passed
    run_id = _tamper_events(store)
    checks, result = _audit_job(store, full=True)
    assert not result.success, "a finding did not fail the audit job's run"
    assert set(checks) == set(CHECK_TITLES), "the failed run did not record an evaluation of every check"
    signatures = checks["signatures"]
    assert not signatures.passed and signatures.severity.value == "ERROR"
    listed = signatures.metadata["findings_list"].value
    assert any(f["object"] == f"bundles/{run_id}/events.jsonl" and f.get("runId") == run_id for f in listed), listed
    assert f"bundles/{run_id}/events.jsonl" in signatures.description
    assert checks["sources"].passed and checks["rehash"].metadata["status"].value == "skipped"
    [mat] = result.asset_materializations_for_node(AUDIT_OP)
    assert mat.metadata["clean"].value is False and mat.metadata["findings"].value >= 1


def test_changed_parquet_fails_the_rehash_check(store: str) -> None:
    parquet = Path(store + "-data") / "features.parquet"
    pd.DataFrame({"country": ["DE"], "total": [1.0]}).to_parquet(parquet)
    rehash = _audit_job(store, rehash=True)[0]["rehash"]
    assert not rehash.passed and [f["object"] for f in rehash.metadata["findings_list"].value] == [str(parquet)]


# -- canceled runs ---------------------------------------------------------------------------------
@asset(ins={"orders": AssetIn(key=AssetKey(["raw", "orders"]))})
def canceled_training(context, orders: pd.DataFrame) -> pd.DataFrame:  # noqa: ANN001 (a string annotation is refused)
    """Loads its input, then its run is terminated (what 'Terminate' in the UI does to a running step)."""
    context.instance.report_run_canceling(context.dagster_run)
    raise DagsterExecutionInterruptedError(f"terminated while training on {len(orders)} rows")


def test_canceled_sensor_seals_an_abort_bundle_with_what_the_step_loaded(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    provenance = ProvenanceResource(store=store)
    vendor = SourceRecord(name=pipeline.SOURCE, digest="blake3:" + "5e" * 32, license="CC-BY-4.0", issuer="Vendor GmbH")
    register_source(open_store(store), vendor, signing_key_from_settings())
    with DagsterInstance.ephemeral() as instance:
        result = materialize([pipeline.orders, canceled_training], instance=instance,
                             resources={"io_manager": ProvenanceIOManager(store=store)}, raise_on_error=False)
        run = instance.get_run_by_id(result.run_id)
        assert run.status == DagsterRunStatus.CANCELED
        [canceled] = instance.all_logs(result.run_id, of_type=DagsterEventType.RUN_CANCELED)
        staged = {s.job_name for s in list_bundles(open_store(store))}
        assert staged == {"raw__orders"}  # the canceled step staged its START; nothing sealed it
        context = build_run_status_sensor_context(
            sensor_name="tdprov_canceled_runs", dagster_event=canceled.dagster_event, dagster_instance=instance,
            dagster_run=run, resources={"provenance": provenance},
        )
        provenance_canceled_sensor(context)
        provenance_canceled_sensor(context)  # a second evaluation leaves the sealed bundle alone
    found = {s.job_name: s for s in list_bundles(open_store(store))}
    assert set(found) == {"raw__orders", "canceled_training"}
    assert found["canceled_training"].state == "ABORT"  # OpenLineage's state for a stopped run
    assert [asset_of(store, i.name) for i in found["canceled_training"].inputs] == ["raw/orders"]
    assert found["canceled_training"].inputs[0].version == found["raw__orders"].outputs[0].version
    bundle = read_bundle(open_store(store), found["canceled_training"].run_id)
    events = parse_events_jsonl(bundle.files["events.jsonl"])
    assert [e["eventType"] for e in events] == ["START", "ABORT"]
    assert "terminated while training on 4 rows" in events[-1]["run"]["facets"]["errorMessage"]["message"]
    assert verify_bundle(open_store(store), found["canceled_training"].run_id, trust_from_settings()).ok
    audit = run_audit(open_store(store), Settings.from_env(store=store), progress=False)
    assert audit.clean and audit.check("unfinished").status == "pass", [f.what for f in audit.errors]


def test_audit_job_publishes_the_checkpoint_and_the_instance_witnesses_a_roll_back(store: str, tmp_path: Path) -> None:
    """The job records the checkpoint in the instance; a later run checks the log against it, so a
    roll back is found even by an auditor whose own memory was lost."""
    from prov_common.audit.memory import memory_path
    from prov_common.tlog.log import CHECKPOINTS_PREFIX
    from prov_common.tlog.model import sha256_digest

    (tmp_path / "dagster_home").mkdir()
    provenance = ProvenanceResource(store=store)
    with instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
        clean = provenance_audit_job.execute_in_process(instance=instance, resources={"provenance": provenance})
        assert clean.success
        recorded = instance.get_latest_materialization_event(AssetKey(["tdprov", "audit"])).asset_materialization
        published = recorded.metadata["checkpoint"].value
        head = sorted((Path(store) / CHECKPOINTS_PREFIX).iterdir())[-1]
        assert published["treeSize"] == int(head.stem) and published["checkpointDigest"] == sha256_digest(head.read_bytes())
        head.unlink()  # roll the log back by its newest checkpoint
        memory_path(open_store(store).uri).unlink()  # and the auditor forgot
        failed = provenance_audit_job.execute_in_process(instance=instance, resources={"provenance": provenance}, raise_on_error=False)
        assert not failed.success
        log = {e.check_name: e for e in failed.get_asset_check_evaluations()}["log"]
        assert not log.passed and "but the checkpoint in the Dagster instance" in log.description and "the log was deleted" in log.description, log.description


def test_a_passed_audit_check_says_its_notes_and_detail_as_the_cli_does(store: str) -> None:
    """A check that passes is described with its detail, as 'tdprov audit' prints its line, and with the notes it
    found (which do not fail it, and which the report shows): the description said '<title>: pass' alone."""
    from prov_common.audit.model import NOTE, CheckResult, Finding
    from prov_dagster.audit import _check_result_fields

    checks, result = _audit_job(store)
    assert result.success
    assert checks["snapshots"].description == f"{CHECK_TITLES['snapshots']}: pass; no run recorded keeping a snapshot"
    inventory = checks["inventory"].description
    assert inventory.startswith(f"{CHECK_TITLES['inventory']}: pass; ") and " listing request" in inventory, inventory
    audited = run_audit(open_store(store), Settings.from_env(store=store), progress=False)
    note = Finding("quality", "/data/x.parquet", "failed Pandera schema s; no run used this version", "fix it", NOTE)
    fields = _check_result_fields(CheckResult("quality", [note], checked=1), audited)
    assert fields["passed"] and fields["description"] == (
        f"{CHECK_TITLES['quality']}: pass with 1 note: /data/x.parquet: failed Pandera schema s; no run used this version")


def test_the_audit_metadata_counts_one_finding_as_one(tmp_path: Path) -> None:
    """A check with one finding shows 'fail (1 checked, 1 finding)' in the Dagster UI; it read '1 findings'."""
    from prov_dagster.audit import audit_metadata
    from test_audit_support import audit, dataset, digest, raw_write, run_events, seal

    store = open_store(str(tmp_path / "store"))
    run = seal(store, run_events("prepare", [], [dataset("/data/f.parquet", digest("f"))]))
    raw_write(store.uri, f"bundles/{run}/prov.json", b"{}")
    metadata = audit_metadata(audit(store))
    assert metadata["check/prov"].value == "fail (1 checked, 1 finding)"
    assert metadata["check/completeness"].value == "pass (1 checked, 0 findings)"


def test_the_audit_job_on_an_emptied_store_says_so_and_does_not_launder_it(store: str,
                                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """An attacker emptied an audited store (its audit reports too); the scheduled job, which never refuses, audited it,
    and its report made the store pass for the next auditor: one sharing its home was clean (its memory held the job's
    own report), one with a fresh memory refused it as never audited. The job's report says the store is empty where
    records were remembered, and both auditors find the deletion in it."""
    from prov_common.cli import main

    assert main(["audit", "--store", store, "--quiet"]) == 0
    for folder in Path(store).iterdir():
        if folder.name != "_tdprov":
            shutil.rmtree(folder)
    checks, result = _audit_job(store)
    assert not result.success  # a finding fails the run; the job ran and reported
    [job_report] = Path(store, "audit", "reports").rglob("report.json")
    said = [f for c in json.loads(job_report.read_bytes())["checks"] for f in c["findings"] if c["name"] == "inventory"]
    assert any(f["object"] == store and "the store holds no record, but this auditor remembers a log of 3 leaves" in f["what"]
               for f in said), said
    shutil.rmtree(Path(os.environ["TDPROV_HOME"]) / "audits")  # an auditor that remembers nothing of the store
    capsys.readouterr()
    assert main(["audit", "--store", store]) == 1
    out, err = capsys.readouterr()
    key = job_report.relative_to(store).as_posix()
    assert "no runs in" not in err
    assert f"[inventory] error: {key}: the store holds no record, but the audit that wrote report '{key}' named records" in out, out


def test_an_empty_store_audited_by_the_job_is_still_refused_by_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The job's audit of an empty store left its own report in the auditor's memory, which then took the store for one
    it had audited: the CLI sharing its home audited it clean. Its own reports are no records: still refused."""
    from prov_common.cli import main

    empty = str(tmp_path / "empty")
    assert main(["store", "init", empty]) == 0
    checks, result = _audit_job(empty)
    assert result.success
    capsys.readouterr()
    assert main(["audit", "--store", empty]) == 2
    assert f"no runs in {empty}: is this the store your pipelines write to?" in capsys.readouterr().err
