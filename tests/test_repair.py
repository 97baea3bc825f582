"""``tdprov store repair``: a sealed bundle whose index entry is missing is named by the audit, then
indexed by the repair with the entry its writer would have written; a bundle that does not verify is
reported and never indexed; a second repair does nothing. On the local store and on S3 (moto)."""
from __future__ import annotations

import io
import json
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from bundle_support import raw_delete, raw_put, run_events
from prov_common.audit import run_audit
from prov_common.audit.model import CHECK_UNFINISHED
from prov_common.bundle import layout, verify_bundle
from prov_common.bundle.repair import find_unindexed
from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport
from prov_common.cli import main
from prov_common.signing import trust_from_settings
from prov_common.store import open_store


def _record(store_uri: str, spool: Path, count: int) -> list[str]:
    """``count`` runs (START, COMPLETE) through the transport, as a pipeline records them."""
    transport = ProvenanceTransport(ProvenanceConfig(store=store_uri, spool=str(spool), strict=True))
    runs = []
    for _ in range(count):
        events = run_events()
        for event in events:
            transport.emit(event)
        runs.append(events[0]["run"]["runId"])
    transport.close()
    return runs


def _snapshot(store_uri: str) -> dict[str, bytes]:
    store = open_store(store_uri)
    return {key: store.get(key) for key in store.list()}


def _index_entry(objects: dict[str, bytes], run_id: str) -> tuple[str, bytes]:
    (key,) = [k for k in objects if k.startswith("index/") and layout.run_id_of_index_key(k) == run_id]
    return key, objects[key]


def _unfinished(store_uri: str, report_dir: Path) -> set[str]:
    audit = run_audit(open_store(store_uri), stale_after=timedelta(0), report_dir=report_dir, progress=False)
    return {f.run_id for f in audit.findings if f.check == CHECK_UNFINISHED and f.severity == "error"}


def _repair(store_uri: str, capsys: pytest.CaptureFixture, *extra: str) -> tuple[int, dict]:
    code = main(["store", "repair", store_uri, "--json", *extra])
    return code, json.loads(capsys.readouterr().out)


def test_repair_indexes_sealed_bundles_and_leaves_tampered_ones(store_uri: str, tmp_path: Path, capsys) -> None:
    recorded_key, unrecorded, tampered, whole = _record(store_uri, tmp_path / "spool", 4)
    before = _snapshot(store_uri)
    entries = {run: _index_entry(before, run) for run in (recorded_key, unrecorded, tampered, whole)}
    # writers that stopped after the commit marker: one after recording its index key, one before
    raw_delete(store_uri, entries[recorded_key][0])
    raw_delete(store_uri, entries[unrecorded][0])
    raw_delete(store_uri, layout.bundle_key(unrecorded, layout.INDEXED_FILE))
    # and a sealed bundle whose events were changed afterwards
    raw_delete(store_uri, entries[tampered][0])
    events_key = layout.bundle_key(tampered, layout.EVENTS_FILE)
    raw_put(store_uri, events_key, before[events_key].replace(b"train_features", b"train_feature5"))
    assert _unfinished(store_uri, tmp_path / "r1") == {recorded_key, unrecorded, tampered}

    damaged = _snapshot(store_uri)
    code, dry = _repair(store_uri, capsys, "--dry-run")
    assert code == 1 and _snapshot(store_uri) == damaged  # a dry run writes nothing
    assert (dry["sealed"], dry["unindexed"], dry["wouldIndex"], dry["notVerified"]) == (4, 3, 2, 1)

    code, done = _repair(store_uri, capsys)
    assert code == 1  # the tampered bundle is not verified: reported, not repaired
    outcome = {r["runId"]: r for r in done["runs"]}
    assert outcome[recorded_key]["status"] == outcome[unrecorded]["status"] == "indexed"
    assert outcome[tampered]["status"] == "not-verified"
    assert any(events_key in finding and "digest mismatch" in finding for finding in outcome[tampered]["findings"])
    after = _snapshot(store_uri)
    # the recorded key is reused; every repaired entry holds the bytes its writer wrote
    assert outcome[recorded_key]["indexKey"] == entries[recorded_key][0]
    assert _index_entry(after, recorded_key) == entries[recorded_key]
    new_key, new_bytes = _index_entry(after, unrecorded)
    assert new_bytes == entries[unrecorded][1] and new_key > entries[whole][0]  # keyed at repair time
    assert after[layout.bundle_key(unrecorded, layout.INDEXED_FILE)] == new_key.encode()
    # nothing of the tampered run was written, and nothing else changed
    assert not any(k.startswith("index/") and tampered in k for k in after)
    assert set(after) - set(damaged) == {new_key, entries[recorded_key][0], layout.bundle_key(unrecorded, layout.INDEXED_FILE)}
    assert all(after[k] == damaged[k] for k in damaged)

    assert _unfinished(store_uri, tmp_path / "r2") == {tampered}
    trust = trust_from_settings()
    store = open_store(store_uri)
    assert all(verify_bundle(store, run, trust).ok for run in (recorded_key, unrecorded, whole))
    assert main(["verify", "--store", store_uri, recorded_key, unrecorded]) == 0
    capsys.readouterr()

    audited = _snapshot(store_uri)
    code, again = _repair(store_uri, capsys)  # idempotent: only the tampered bundle is left, still reported
    assert code == 1 and (again["unindexed"], again["indexed"], again["notVerified"]) == (1, 0, 1)
    assert _snapshot(store_uri) == audited


def test_repair_of_a_clean_store_and_human_output(tmp_path: Path, capsys) -> None:
    store_uri = str(tmp_path / "store")
    (run,) = _record(store_uri, tmp_path / "spool", 1)
    assert main(["store", "repair", store_uri]) == 0
    err = capsys.readouterr().err
    assert "1 sealed bundle, 0 without an index entry: 0 indexed, 0 not verified" in err and "dry run" not in err, err
    key, _ = _index_entry(_snapshot(store_uri), run)
    raw_delete(store_uri, key)
    assert main(["store", "repair", store_uri, "--dry-run"]) == 1
    assert f"would index   {run}" in capsys.readouterr().out
    assert main(["store", "repair", store_uri]) == 0
    assert f"indexed       {run}  {key}" in capsys.readouterr().out
    capsys.readouterr()
    assert len(find_unindexed(open_store(store_uri), trust_from_settings(), progress=True)) == 0
    assert "listing index and bundles" in capsys.readouterr().err  # the listing counts keys as it goes


class _Terminal(io.StringIO):
    """A stderr that is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("verb", ["store repair", "runs", "record"])
def test_the_bars_of_repair_and_runs_start_no_monitor_thread_and_leave_the_screen(verb: str, tmp_path: Path, monkeypatch,
                                                                                 capsys) -> None:
    """'tdprov store repair' and 'tdprov runs' drew plain tqdm bars, which start tqdm's monitor thread (one that
    outlives the verb; the shared bar, prov_common.progress, has none), and repair's stayed on the screen when done.
    They draw the shared bar: no monitor thread, and the screen's last line is blank once the verb ends. 'tdprov record'
    verified the bundles of the runs it cites (thousands, for a dataset many runs wrote) with no bar: it draws the
    shared bar too, on stderr only (the record on stdout is the same), and none where stderr is no terminal."""
    import tqdm.std

    started: list[tuple] = []

    class Monitor:
        def __init__(self, *args: object) -> None:
            started.append(args)

        def report(self) -> bool:
            return True

        def exit(self) -> None:
            pass

    store_uri = str(tmp_path / "store")
    for run in _record(store_uri, tmp_path / "spool", 2):
        if verb == "store repair":  # two bundles to index
            raw_delete(store_uri, _index_entry(_snapshot(store_uri), run)[0])
    args = [*verb.split(), "--store", store_uri, *(["blake3:" + "2" * 64, "--no-checksum"] if verb == "record" else [])]
    if verb == "record":  # the same record, bar or none
        assert main(args) == 0
        record, quiet = capsys.readouterr()
        assert json.loads(record) and "verifying bundles" not in quiet, quiet
    monkeypatch.setattr(tqdm.std, "TMonitor", Monitor)
    monkeypatch.setattr(tqdm.std.tqdm, "monitor", None)
    monkeypatch.setattr(sys, "stderr", terminal := _Terminal())
    assert main(args) == 0
    out = capsys.readouterr().out
    drawn = terminal.getvalue()
    shown = {"store repair": "repairing index: ", "runs": "reading the index: ", "record": "verifying bundles: "}[verb]
    assert shown in drawn and started == [], (drawn, started)
    if verb == "record":
        assert "| 0/2 [" in drawn and out == record, drawn  # the 2 runs that wrote the version, verified
    assert drawn.rpartition("\r")[2].strip() == ("2 sealed bundles, 2 without an index entry: 2 indexed, 0 not verified "
                                                 "(left alone)" if verb == "store repair" else ""), drawn


def test_a_record_of_a_location_verifies_the_runs_of_its_newest_time_together(tmp_path: Path, monkeypatch,
                                                                           capsys) -> None:
    """'tdprov record LOCATION' reads the runs that could name it newest first, down to the newest time a run wrote
    it. The runs of one time (a thousand runs that ended together, on a large store) were each verified alone, one
    after another on one CPU with no bar; they are verified together (every CPU, the shared bar), with the same
    record, and an older run is still not read."""
    store_uri = str(tmp_path / "store")
    transport = ProvenanceTransport(ProvenanceConfig(store=store_uri, spool=str(tmp_path / "spool"), strict=True))
    older = "0f0f0f0f-0000-4000-8000-000000000000"
    for event in run_events(older):  # the same dataset written a day before
        transport.emit({**event, "eventTime": event["eventTime"].replace("03-01", "02-28")})
    transport.close()
    newest = _record(store_uri, tmp_path / "spool", 3)
    args = ["record", "s3://lake/clean/users.parquet", "--no-checksum", "--store", store_uri]
    assert main(args) == 0
    record = capsys.readouterr().out
    assert f"bundles/{newest[-1]}/" in record and older not in record  # the version's writer: the run sealed last
    monkeypatch.setattr(sys, "stderr", terminal := _Terminal())
    assert main(args) == 0
    drawn = terminal.getvalue()
    assert "verifying bundles: " in drawn and "| 0/3 [" in drawn and "/4 [" not in drawn, drawn
    assert capsys.readouterr().out == record


def test_repair_needs_a_trusted_signer(tmp_path: Path, capsys) -> None:
    """A bundle signed by a key the repairer does not trust is not indexed."""
    store_uri = str(tmp_path / "store")
    (run,) = _record(store_uri, tmp_path / "spool", 1)
    key, _ = _index_entry(_snapshot(store_uri), run)
    raw_delete(store_uri, key)
    other = tmp_path / "other.pub"
    assert main(["keygen", "-o", str(tmp_path / "other")]) == 0
    capsys.readouterr()
    code, out = _repair(store_uri, capsys, "--trusted-keys", str(other))
    assert code == 1 and out["runs"][0]["status"] == "not-verified"
    assert any(": untrusted key:" in f for f in out["runs"][0]["findings"])


def test_repair_bad_store_uri_is_exit_2(tmp_path: Path, capsys) -> None:
    assert main(["store", "repair", "s3://"]) == 2
    assert main(["store", "repair", str(tmp_path / "a"), "--store", str(tmp_path / "b")]) == 2
    assert "two stores given" in capsys.readouterr().err
    assert main(["store", "repair", "--store", str(tmp_path / "a")]) == 2  # a store that does not exist
    assert "does not exist" in capsys.readouterr().err and not (tmp_path / "a").exists()
    (tmp_path / "a").mkdir()
    assert main(["store", "repair", "--store", str(tmp_path / "a")]) == 0  # --store, as the other verbs take it


@pytest.mark.parametrize("verb", ["verify", "runs --verified", "export --verified"])
def test_a_verifying_bar_draws_its_carriage_returns_on_a_terminal(verb: str, tmp_path: Path, monkeypatch,
                                                                  capsys) -> None:
    """The bars of 'tdprov verify', 'runs --verified' and 'export --verified' drew on the stderr the
    command line shows escaped, so a terminal showed each redraw as the text ``\\x0d`` followed by the whole bar again,
    one long line growing, where the other bars draw on the terminal itself (prov_common.progress.stream). They draw
    there too: each redraw starts with a carriage return, and the screen's last line is blank once the bar is done."""
    store_uri = str(tmp_path / "store")
    _record(store_uri, tmp_path / "spool", 3)
    monkeypatch.setattr(sys, "stderr", terminal := _Terminal())
    assert main([*verb.split(), "--store", store_uri]) == 0
    capsys.readouterr()
    drawn = terminal.getvalue()
    desc = "verifying runs: " if verb == "runs --verified" else "verifying bundles: "
    assert f"\r{desc}" in drawn and "\\x0d" not in drawn, drawn


def test_the_audit_draws_its_bar_on_a_terminal(tmp_path: Path, monkeypatch, capsys) -> None:
    """'tdprov audit' asks for its bar where stderr is a terminal (progress=None: "a bar only on a terminal"), but
    the bar took None as "not shown", so no audit ever drew one. It draws on a terminal ('auditing bundles'), gone from
    the screen when done, and none with --quiet or --json."""
    store_uri = str(tmp_path / "store")
    _record(store_uri, tmp_path / "spool", 3)
    for options, shown in (([], True), (["--quiet"], False), (["--json"], False)):
        monkeypatch.setattr(sys, "stderr", terminal := _Terminal())
        assert main(["audit", "--store", store_uri, *options]) == 1  # the runs' origins are not registered: findings
        capsys.readouterr()
        drawn = terminal.getvalue()
        assert ("\rauditing bundles: " in drawn and "| 0/3 [" in drawn) is shown, (options, drawn)
        assert "\\x0d" not in drawn, drawn
