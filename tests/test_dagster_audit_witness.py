"""The Dagster instance as a witness the audit writes: the audit job keeps the verified checkpoint in the
instance's key-value storage, checks the log against it on every run, does not move it over a gap (so the
gap stays a finding on every later run, even with TDPROV_HOME wiped), and the recorded resolution resets it."""
from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from dagster import instance_for_test, materialize

import test_dagster_defs as pipeline

from prov_common.audit.memory import store_id
from prov_common.store import open_store
from prov_common.tlog.log import CHECKPOINTS_PREFIX
from prov_common.tlog.model import sha256_digest
from prov_dagster import ProvenanceIOManager, ProvenanceResource, provenance_audit_job

from test_audit_witness_places import _keys_outside_home, _wipe_home
from test_gaps_dagster_audit import AUDIT_OP, _chain_built, store  # noqa: F401  (fixtures: a store with a Dagster pipeline's bundles)


def _kept(instance, uri: str) -> dict | None:
    """The record in the instance, read through Dagster's own storage API."""
    key = f"tdprov/audit/checkpoint/{store_id(uri)}"
    raw = instance.run_storage.get_cursor_values({key}).get(key)
    return json.loads(raw) if raw else None


def _log_check(result) -> object:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}["log"]


def test_instance_keeps_the_checkpoint_and_a_roll_back_stays_found(store: str, tmp_path: Path,  # noqa: F811
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    _keys_outside_home(tmp_path, monkeypatch)
    uri = open_store(store).uri
    provenance = ProvenanceResource(store=store)
    (tmp_path / "dagster_home").mkdir()
    with instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
        assert provenance_audit_job.execute_in_process(instance=instance, resources={"provenance": provenance}).success
        assert materialize(pipeline.CHAIN, resources={"io_manager": ProvenanceIOManager(store=store)}).success
        assert provenance_audit_job.execute_in_process(instance=instance, resources={"provenance": provenance}).success
        heads = sorted((Path(store) / CHECKPOINTS_PREFIX).iterdir())
        kept = _kept(instance, uri)
        assert kept["store"] == uri and kept["checkpoint"]["treeSize"] == int(heads[-1].stem)
        assert kept["checkpoint"]["checkpointDigest"] == sha256_digest(heads[-1].read_bytes())

        heads[-1].unlink()  # roll the log back by its newest checkpoint
        for attempt in ("found", "still found"):
            _wipe_home()  # the auditor forgot (its key is kept elsewhere)
            failed = provenance_audit_job.execute_in_process(instance=instance, resources={"provenance": provenance},
                                                             raise_on_error=False)
            log = _log_check(failed)
            assert not failed.success and not log.passed, attempt
            assert "but the checkpoint in the Dagster instance" in log.description, (attempt, log.description)
            assert _kept(instance, uri) == kept, attempt  # not moved over the gap

        reason = "newest checkpoint lost in the 2026-05-02 incident"
        config = {"ops": {"tdprov_audit": {"config": {"accept_checkpoint": reason}}}}
        accepted = provenance_audit_job.execute_in_process(instance=instance, resources={"provenance": provenance}, run_config=config,
                                                           raise_on_error=False)
        assert "Dagster instance" not in (_log_check(accepted).description or "")  # (the orphaned audit state is still named once)
        resolution = json.loads(base64.b64decode(json.loads(next((Path(store) / "audit" / "resolutions").iterdir()).read_bytes())["payload"]))
        assert resolution["reason"] == reason and resolution["witnessesReset"] == [f"the checkpoint in the Dagster instance "
                                                                                  f"(tdprov/audit/checkpoint/{store_id(uri)})"]
        now = _kept(instance, uri)["checkpoint"]
        head = sorted((Path(store) / CHECKPOINTS_PREFIX).iterdir())[-1]
        assert now != kept["checkpoint"] and now["checkpointDigest"] == sha256_digest(head.read_bytes())
        assert provenance_audit_job.execute_in_process(instance=instance, resources={"provenance": provenance}).success
