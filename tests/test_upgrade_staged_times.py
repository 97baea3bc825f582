"""Events an older writer staged (or spooled) with an ``eventTime`` without offset passed that writer's check: signed,
they are sealed as bundles sealed then are read (no offset = UTC); unsigned, as every writer before the signing of
staged events staged them, they are refused at the seal and kept in the bundle with the reason; and a run whose staged
events are all refused says so."""
from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from bundle_support import run_events, signed_staged
from prov_common.bundle import layout, read_bundle, verify_bundle
from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport
from prov_common.canonical_json import canonical_bytes
from prov_common.cli import main
from prov_common.config import Settings
from prov_common.signing import trust_from_settings
from prov_common.store import open_store
from prov_common.store.base import Store


def _stage_as_before(store: Store, event: dict, name: str, *, signed: bool = True) -> None:
    """Stage ``event`` as a writer before event times had to be RFC 3339 did (its time need not have an offset);
    ``signed`` False: as every writer before the signing of staged events did."""
    data = canonical_bytes(event)
    store.put(f"{layout.staging_prefix(event['run']['runId'])}{name}.json", signed_staged(data) if signed else data)


def test_a_run_staged_with_times_without_offset_is_sealed_with_them(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    store_path = str(tmp_path / "store")
    assert main(["store", "init", store_path]) == 0
    store = open_store(store_path)
    start, end = run_events()
    start["eventTime"] = "2026-03-01T10:00:00"
    run_id = start["run"]["runId"]
    _stage_as_before(store, start, "20260301T100000000000Z-" + "a" * 32)
    assert main(["store", "seal", run_id, "--store", store_path, "--force"]) == 0, capsys.readouterr().err
    bundle = read_bundle(store, run_id)
    assert [json.loads(line)["eventTime"] for line in bundle.files["events.jsonl"].splitlines()] == ["2026-03-01T10:00:00"]
    assert bundle.manifest.started_at.startswith("2026-03-01T10:00:00") and not any(p.startswith("refused/") for p in bundle.files)
    assert verify_bundle(store, run_id, trust_from_settings(Settings.from_env())).ok


def test_a_run_in_flight_across_the_upgrade_keeps_its_start_as_refused(tmp_path: Path) -> None:
    """START staged (unsigned) by the older writer, COMPLETE emitted by this one: the START is refused as unsigned and
    kept in the bundle as sent, with the reason; the bundle verifies (docs/upgrading.md: upgrade between runs)."""
    store_path = str(tmp_path / "store")
    transport = ProvenanceTransport(ProvenanceConfig(store=store_path, strict=False, timeout=30))
    start, end = run_events()
    start["eventTime"] = "2026-03-01T10:00:00"
    key = f"{layout.staging_prefix(start['run']['runId'])}20260301T100000000000Z-{'b' * 32}.json"
    _stage_as_before(transport.store, start, key.rsplit("/", 1)[1][:-5], signed=False)
    transport.emit(end)
    transport.close()
    store = open_store(store_path)
    bundle = read_bundle(store, start["run"]["runId"])
    assert bundle.files["events.jsonl"] == canonical_bytes(end) + b"\n"
    [(path, data)] = [(p, d) for p, d in bundle.files.items() if p.startswith("refused/")]
    refused = json.loads(data)
    assert refused["stagedAs"] == key and refused["event"] == start
    assert refused["reason"] == f"staged event {key} is unsigned: no writer holding a trusted key staged it."
    assert "docs/upgrading.md" in refused["fix"]
    assert verify_bundle(store, start["run"]["runId"], trust_from_settings(Settings.from_env())).ok


def test_a_run_whose_staged_events_are_all_refused_says_so(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    store_path = str(tmp_path / "store")
    assert main(["store", "init", store_path]) == 0
    store = open_store(store_path)
    run_id = str(uuid.uuid4())
    store.put(f"{layout.staging_prefix(run_id)}20260301T100000000000Z-{'c' * 32}.json", signed_staged(b"{not json"))
    assert main(["store", "seal", run_id, "--store", store_path, "--force"]) == 2
    err = capsys.readouterr().err
    assert f"every staged event of run {run_id} was refused" in err and "not valid JSON" in err, err
    assert layout.staging_prefix(run_id) in err and "no events given" not in err, err
