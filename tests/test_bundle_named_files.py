"""A sealed bundle whose events name a file of it (failure samples, a row set) that its manifest does not hold."""
from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from bundle_support import dataset, event
from prov_common.audit import run_audit
from prov_common.audit.model import CHECK_SIGNATURES
from prov_common.bundle import layout, rows_path, samples_path, verify_bundle
from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport
from prov_common.bundle.verify import FIX_NOT_HELD, NOT_HELD
from prov_common.cli import main
from prov_common.signing import TrustStore, default_signing_key
from prov_common.store import open_store
from test_audit_support import audit

SAMPLES = samples_path("s3://lake", "clean/users.parquet")
ROWS = rows_path("s3://lake", "raw/users.parquet")


def _seal(store: str, *, attached: tuple[str, ...]) -> str:
    """A run sealed by a strict transport whose output names its failure samples and whose input names its row set,
    with only the files ``attached``: the others are left out before the sealing. Its run id."""
    run_id = str(uuid.uuid4())
    raw = dataset("s3://lake", "raw/users.parquet", "blake3:" + "1" * 64)
    raw["facets"]["tdprov_contentHash"] = {"_producer": "x", "_schemaURL": "y", "digest": "blake3:" + "1" * 64,
                                           "rowDigestsFile": ROWS, "rowsRoot": "sha256:" + "0" * 64}
    clean = dataset("s3://lake", "clean/users.parquet", "blake3:" + "2" * 64)
    clean["facets"]["tdprov_pandera"] = {"_producer": "x", "_schemaURL": "y", "schemaName": "Users", "passed": False,
                                         "schemaDigest": "blake3:" + "4" * 64, "failureCount": 3, "checks": [],
                                         "samplesFile": SAMPLES}
    transport = ProvenanceTransport(ProvenanceConfig(store=store, strict=True))
    transport.emit(event(run_id, "START", "2026-03-01T10:00:00Z", inputs=[raw]))
    for path in attached:
        transport.attach(run_id, path, b"PAR1 " + path.encode() + b" PAR1")
    transport.emit(event(run_id, "FAIL", "2026-03-01T10:00:02Z", inputs=[raw], outputs=[clean]))
    return run_id


def test_the_files_the_events_name_and_the_bundle_holds_verify(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    run_id = _seal(store, attached=(SAMPLES, ROWS))
    assert verify_bundle(open_store(store), run_id, TrustStore.of([default_signing_key().public])).ok


def test_failure_samples_the_events_name_and_the_bundle_lacks_are_named(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """The signatures hold and every listed file is there, so the bundle verified: the record silently lacked the
    failure samples its FAIL says it has. Each such file is now named, with the fix, by 'tdprov verify' (exit 1, text
    and --json) and the audit."""
    store = str(tmp_path / "store")
    run_id = _seal(store, attached=(ROWS,))
    key, reason = (layout.bundle_key(run_id, SAMPLES),
                   f"tdprov_pandera.samplesFile of output s3://lake/clean/users.parquet names its failure samples "
                   f"{SAMPLES!r}, which the bundle's manifest does not list")
    report = verify_bundle(open_store(store), run_id, TrustStore.of([default_signing_key().public]))
    assert [(f.key, f.problem, f.reason, f.fix) for f in report.findings] == [(key, NOT_HELD, reason, FIX_NOT_HELD)]

    capsys.readouterr()
    assert main(["verify", run_id, "--store", store]) == 1
    out = capsys.readouterr().out
    assert key in out and f"{NOT_HELD}: {reason}" in out and FIX_NOT_HELD in out, out
    assert main(["verify", run_id, "--store", store, "--json"]) == 1
    [found] = json.loads(capsys.readouterr().out.splitlines()[0])["findings"]
    assert (found["key"], found["problem"], found["fix"]) == (key, NOT_HELD, FIX_NOT_HELD), found

    result = audit(store)
    assert [(f.object, f.what, f.fix) for f in result.check(CHECK_SIGNATURES).errors] == [
        (key, f"{NOT_HELD}: {reason}", FIX_NOT_HELD)]


def test_each_file_the_bundle_lacks_is_named(tmp_path: Path) -> None:
    """A row set of an input left out as well: each file is a finding of its own, under its path in the bundle."""
    store = str(tmp_path / "store")
    run_id = _seal(store, attached=())
    report = verify_bundle(open_store(store), run_id, TrustStore.of([default_signing_key().public]))
    assert sorted((f.key, f.problem) for f in report.findings) == sorted(
        (layout.bundle_key(run_id, path), NOT_HELD) for path in (SAMPLES, ROWS))
    assert any(f.reason.startswith("tdprov_contentHash.rowDigestsFile of input s3://lake/raw/users.parquet names its "
                                   f"row set {ROWS!r}") for f in report.findings), report.findings


def test_events_read_in_parts_and_folded_name_the_file_the_bundle_lacks(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Events larger than one ranged part (lowered here to 100 bytes, as a run of many events is) are folded from
    their parts, never held whole, none kept parsed: the file they name and the bundle lacks is named all the same."""
    from prov_common.bundle import storage
    from prov_common.bundle.verify import verify_and_derive
    from prov_common.w3cprov import event_lines

    monkeypatch.setattr(storage, "LINES_CHUNK", 100)
    monkeypatch.setattr(event_lines, "KEPT_BYTES", 0)
    store = str(tmp_path / "store")
    run_id = _seal(store, attached=(ROWS,))
    checked = verify_and_derive(open_store(store), run_id, TrustStore.of([default_signing_key().public]))
    assert layout.EVENTS_FILE not in checked.objects and checked.derived is not None
    assert [(f.key, f.problem) for f in checked.report.findings] == [(layout.bundle_key(run_id, SAMPLES), NOT_HELD)]


def test_a_person_accepts_the_finding_of_a_bundle_that_lacks_a_file(tmp_path: Path) -> None:
    """A bundle is never changed, so its finding came back on every audit, and --accept-finding of the run accepted
    nothing ('no open completeness finding names run ...'). Its fix now names the acceptance, which covers it (signed,
    kept in the audit state) in incremental and --full audits alike; 'tdprov verify' still names it."""
    from prov_common.config import Settings

    store = str(tmp_path / "store")
    run_id = _seal(store, attached=(ROWS,))
    key = layout.bundle_key(run_id, SAMPLES)
    [found] = audit(store, report_dir=tmp_path / "r1").check(CHECK_SIGNATURES).errors
    assert (found.object, found.run_id) == (key, run_id) and "--accept-finding RUN_ID --reason" in found.fix, found

    result = audit(store, report_dir=tmp_path / "r2", accept_findings=[run_id[:8]], reason="samples lost in 2026-03")
    assert result.check(CHECK_SIGNATURES).errors == [] and not result.errors, result.errors
    [accepted] = result.accepted
    assert accepted["runId"] == run_id and key in [f["object"] for f in accepted["findings"]], accepted  # its input too
    for n, full in enumerate((False, True, False)):
        later = run_audit(open_store(store), Settings.from_env(store=store), full=full, report_dir=tmp_path / f"r{3 + n}",
                          progress=False)
        assert not later.errors and [a["runId"] for a in later.accepted] == [run_id], (full, later.errors)
    assert not verify_bundle(open_store(store), run_id, TrustStore.of([default_signing_key().public])).ok
    (tmp_path / "store" / layout.bundle_key(run_id, "planted")).write_bytes(b"x")  # another finding of it stays one
    assert {(f.object, f.what.split(":")[0]) for f in audit(store, report_dir=tmp_path / "r6").errors} == {
        (layout.bundle_key(run_id, "planted"), "unlisted object")}
