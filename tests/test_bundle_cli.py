"""``tdprov runs``, ``show`` and ``verify`` on real stores."""
from __future__ import annotations

import json
import logging
import os
import uuid
from pathlib import Path

import pytest

from bundle_support import dataset, event, forge_unsigned_events, forge_unsigned_prov, raw_delete, raw_put, record_runs
from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport
from prov_common.cli import main
from prov_common.signing import write_keypair
from prov_common.store import open_store


# a case whose store does nothing of its own (how counts and reasons are worded): its S3 reads are those of other cases
LOCAL_ONLY = pytest.mark.parametrize("store_uri", ["local"], indirect=True)


def test_runs_lists_newest_first(store_uri: str, capsys: pytest.CaptureFixture[str]) -> None:
    run_ids = record_runs(store_uri, 3)
    assert main(["runs", "--store", store_uri]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["RUN", "ID", "JOB", "STATE", "ENDED", "OUTPUTS"]
    assert [line.split()[0] for line in lines[1:]] == run_ids[::-1]
    assert "tests/train_features  COMPLETE  2026-03-01T10:00:05Z  s3://lake/clean/users.parquet@blake3:2222" in lines[1]
    assert main(["runs", "--store", store_uri, "--json", "--limit", "2"]) == 0
    out, err = capsys.readouterr()
    rows = json.loads(out)
    assert [r["runId"] for r in rows] == run_ids[:0:-1] and rows[0]["outputs"][0]["version"] == "blake3:" + "2" * 64
    assert "the 2 runs sealed last; there are more" in err  # a listing cut short says so
    assert main(["runs", "--store", store_uri, "--limit", "3"]) == 0 and "there are more" not in capsys.readouterr().err
    assert main(["runs", "--store", store_uri, "--limit", "-1"]) == 2


def test_runs_shows_when_each_run_ended_in_sealing_order(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The list is in sealing order and its time column is the end: a run sealed later lists above one that ended later,
    and the header says so; a run sealed without an end shows its sealing time as such."""
    from prov_common.store import open_store
    from test_audit_support import seal

    store = str(tmp_path / "store")
    late, early = str(uuid.uuid4()), str(uuid.uuid4())
    transport = ProvenanceTransport(ProvenanceConfig(store=store, strict=True))
    for run_id, end in ((late, "2026-03-01T11:00:00Z"), (early, "2026-03-01T10:31:00Z")):
        transport.emit(event(run_id, "START", "2026-03-01T10:00:00Z"))
        transport.emit(event(run_id, "COMPLETE", end))
    unended = str(uuid.uuid4())
    seal(open_store(store), [event(unended, "START", "2026-03-01T09:00:00Z")])
    assert main(["runs", "--store", store]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[4] == "ENDED"
    assert [line.split()[0] for line in lines[1:]] == [unended, early, late]
    assert "  sealed 20" in lines[1] and "2026-03-01T10:31:00Z" in lines[2]


def test_show_prints_event_times_in_utc_and_json_as_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store, run_id = str(tmp_path / "store"), str(uuid.uuid4())
    transport = ProvenanceTransport(ProvenanceConfig(store=store, strict=True))
    written = ["2026-03-01T15:30:00+05:30", "2026-03-01T02:00:01.5-08:00", "2026-03-01T10:00:02Z"]
    for kind, time in zip(("START", "RUNNING", "COMPLETE"), written):
        transport.emit(event(run_id, kind, time))
    assert main(["show", run_id, "--store", store]) == 0
    text = capsys.readouterr().out
    shown = [line.split()[:2] for line in text.split("events:\n", 1)[1].splitlines()[:3]]
    assert shown == [["2026-03-01T10:00:00Z", "START"], ["2026-03-01T10:00:01.500000Z", "RUNNING"], ["2026-03-01T10:00:02Z", "COMPLETE"]]
    assert main(["show", run_id, "--store", store, "--json"]) == 0
    assert [e["eventTime"] for e in json.loads(capsys.readouterr().out)["events"]] == written


def test_show_says_a_run_without_a_start_event_has_no_recorded_start(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """An Airflow DAG run under dag.test() (or another producer's lone COMPLETE) has no START: show said 'started T
    ended T', the end's time, as if the run had taken no time at all. It says the start is not recorded and which time
    the bundle gives instead; --json keeps the signed startedAt."""
    store, run_id = str(tmp_path / "store"), str(uuid.uuid4())
    transport = ProvenanceTransport(ProvenanceConfig(store=store, strict=True))
    transport.emit(event(run_id, "COMPLETE", "2026-03-01T10:00:02Z"))
    assert main(["show", run_id, "--store", store]) == 0
    said = capsys.readouterr().out.splitlines()[1]
    sealed = said.split("  sealed ", 1)[1].split()[0]
    assert said == (f"  started -  ended 2026-03-01T10:00:02Z  sealed {sealed}"
                    "  (no START event: the bundle's startedAt, 2026-03-01T10:00:02Z, is its first event's time)"), said
    assert main(["show", run_id, "--store", store, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["manifest"]["startedAt"] == "2026-03-01T10:00:02Z"


def test_show_prints_events_prov_quality_and_signature(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "store")
    run_id = str(uuid.uuid4())
    out = dataset("s3://lake", "clean/users.parquet", "blake3:" + "3" * 64)
    out["facets"]["tdprov_pandera"] = {"_producer": "x", "_schemaURL": "y", "schemaName": "Users", "schemaDigest": "blake3:" + "4" * 64,
                                       "passed": False, "failureCount": 7, "checks": [], "samplesFile": "quality/clean_users.samples.parquet"}
    transport = ProvenanceTransport(ProvenanceConfig(store=store, strict=True))
    transport.emit(event(run_id, "START", "2026-03-01T10:00:00Z"))
    transport.attach(run_id, "quality/clean_users.samples.parquet", b"PAR1")
    local = dataset("file", "/data/in.csv", "blake3:" + "5" * 64)
    transport.emit(event(run_id, "COMPLETE", "2026-03-01T10:00:02Z", outputs=[out], inputs=[local]))
    assert main(["show", run_id, "--store", store]) == 0
    text = capsys.readouterr().out
    assert "  file:///data/in.csv  blake3:" in text and "file//" not in text  # datasets shown by their URI
    assert f"run {run_id}  job tests/train_features  COMPLETE" in text
    assert "START" in text and "COMPLETE" in text and "1 activity" in text
    assert "output s3://lake/clean/users.parquet  Users: FAILED (7 failures, samples quality/clean_users.samples.parquet)" in text
    assert "attachments: quality/clean_users.samples.parquet" in text
    assert f"OK    {run_id}  signed by ed25519:" in text
    assert main(["show", run_id, "--store", store, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["verification"]["ok"] and info["quality"][0]["failureCount"] == 7
    assert main(["show", str(uuid.uuid4()), "--store", store]) == 2


def test_show_names_ten_attachments_and_counts_the_rest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """'tdprov show' printed every attachment of a bundle on one line (thousands of row digests: one line of
    megabytes). It names the first ten, counts the rest, and --json lists them all."""
    store = str(tmp_path / "store")
    run_id = str(uuid.uuid4())
    transport = ProvenanceTransport(ProvenanceConfig(store=store, strict=True))
    transport.emit(event(run_id, "START", "2026-03-01T10:00:00Z"))
    names = [f"extra/part-{i:02d}.txt" for i in range(12)]
    for name in names:
        transport.attach(run_id, name, b"x")
    transport.emit(event(run_id, "COMPLETE", "2026-03-01T10:00:02Z"))
    assert main(["show", run_id, "--store", store]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("attachments:"))
    assert line == f"attachments: {', '.join(names[:10])} and 2 more (--json lists them all)", line
    assert main(["show", run_id, "--store", store, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["attachments"] == names


def test_verify_names_every_failing_object_and_the_signing_key(store_uri: str, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    priv, pub = write_keypair(tmp_path / "team.key")
    run_ids = record_runs(store_uri, 3, signing_key=str(priv))
    capsys.readouterr()
    assert main(["verify", "--store", store_uri, "--trusted-keys", str(pub)]) == 0
    out = capsys.readouterr()
    assert out.out.count("OK    ") == 3 and "3 of 3 bundles verified" in out.err
    key_id = out.out.split("signed by ")[1].split()[0]

    broken = run_ids[1]
    raw_put(store_uri, f"bundles/{broken}/prov.json", b"{}")
    raw_put(store_uri, f"bundles/{broken}/events.jsonl", b"\n")
    assert main(["verify", "--store", store_uri, "--trusted-keys", str(pub)]) == 1
    out = capsys.readouterr()
    assert f"FAIL  {broken}  signed by {key_id}" in out.out
    assert f"bundles/{broken}/prov.json: digest mismatch" in out.out
    assert f"bundles/{broken}/events.jsonl: digest mismatch" in out.out
    assert "2 of 3 bundles verified" in out.err

    # only the named run; a stranger's trust; JSON reports
    assert main(["verify", run_ids[0], "--store", store_uri, "--trusted-keys", str(pub)]) == 0
    _, other = write_keypair(tmp_path / "other.key")
    assert main(["verify", run_ids[0], "--store", store_uri, "--trusted-keys", str(other), "--json"]) == 1
    report = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert report["claimedKeyIds"] == [key_id] and report["findings"][0]["problem"] == "untrusted key"


def test_verify_all_finds_a_deleted_bundle_through_its_index_entry(store_uri: str, capsys: pytest.CaptureFixture[str]) -> None:
    from prov_common.store import open_store

    kept, gone = record_runs(store_uri, 2)
    store = open_store(store_uri)
    for key in list(store.list(f"bundles/{gone}/")):
        raw_delete(store_uri, key)
    assert main(["verify", "--store", store_uri]) == 1
    out = capsys.readouterr().out
    assert f"OK    {kept}" in out and f"FAIL  {gone}  no valid signature" in out
    assert f"bundles/{gone}/: missing: no bundle objects for this run" in out


def test_verify_of_a_named_run_checks_the_index_entry_its_record_names(store_uri: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The index entry is what 'tdprov runs' shows: verifying one run by id checks the entry its
    ``indexed`` record names (an edited state is found, a deleted entry is missing), as verifying all does."""
    from prov_common.store import open_store

    edited, deleted, sound = record_runs(store_uri, 3)
    store = open_store(store_uri)
    entry = {run: store.get(f"bundles/{run}/indexed").decode() for run in (edited, deleted)}
    raw_put(store_uri, entry[edited], store.get(entry[edited]).replace(b'"state":"COMPLETE"', b'"state":"FAIL"'))
    raw_delete(store_uri, entry[deleted])
    assert main(["verify", edited, deleted, sound, "--store", store_uri]) == 1
    out = capsys.readouterr().out
    assert f"{entry[edited]}: inconsistent: index entry fields state differ from the bundle's manifest" in out
    assert f"{entry[deleted]}: missing: the bundle's recorded index entry is not in the store" in out
    assert f"OK    {sound}" in out


def test_show_checks_the_index_entry_as_verify_does(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An index entry edited to FAIL (what 'tdprov runs' lists) made 'tdprov verify RUN' exit 1 while 'tdprov show RUN'
    printed its signature as OK and exited 0: show checks the entry the bundle's ``indexed`` record names too."""
    from prov_common.store import open_store

    store_uri = str(tmp_path / "store")
    (run_id,) = record_runs(store_uri, 1)
    entry = open_store(store_uri).get(f"bundles/{run_id}/indexed").decode()
    raw_put(store_uri, entry, open_store(store_uri).get(entry).replace(b'"state":"COMPLETE"', b'"state":"FAIL"'))
    finding = f"{entry}: inconsistent: index entry fields state differ from the bundle's manifest"
    assert main(["verify", run_id, "--store", store_uri]) == 1 and finding in capsys.readouterr().out
    assert main(["show", run_id, "--store", store_uri]) == 1
    out = capsys.readouterr().out
    assert f"FAIL  {run_id}" in out and finding in out, out
    assert main(["show", run_id, "--store", store_uri, "--json"]) == 1
    shown = json.loads(capsys.readouterr().out)["verification"]
    assert not shown["ok"] and shown["findings"][0]["key"] == entry and shown["objectsChecked"] == 6, shown


def test_show_lists_what_a_bundle_sealed_by_a_key_not_trusted_here_claims(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """A bundle whose statement is signed by a key not trusted here (a colleague's, before their key is trusted) was
    shown with no events, quality, checks or extents once verify stopped rebuilding such a bundle from its events:
    show lists what its events claim, folded line by line, marked as not verified, beside the findings (exit 1)."""
    from bundle_support import dataset, event

    from prov_common.bundle import claimed

    priv, _ = write_keypair(tmp_path / "colleague.key")
    _, ours = write_keypair(tmp_path / "ours.key")
    store, run_id = str(tmp_path / "store"), str(uuid.uuid4())
    out = dataset("s3://lake", "clean/users.parquet", "blake3:" + "3" * 64)
    out["facets"]["tdprov_pandera"] = {"_producer": "x", "_schemaURL": "y", "schemaName": "Users", "schemaDigest": "blake3:" + "4" * 64,
                                       "passed": False, "failureCount": 7, "checks": []}
    out["facets"]["tdprov_contentHash"] = {"_producer": "x", "_schemaURL": "y", "rows": 1200}
    transport = ProvenanceTransport(ProvenanceConfig(store=store, strict=True, signing_key=str(priv)))
    transport.emit(event(run_id, "START", "2026-03-01T10:00:00Z"))
    transport.emit(event(run_id, "COMPLETE", "2026-03-01T10:00:02Z", outputs=[out]))
    monkeypatch.setenv("TDPROV_TRUSTED_KEYS", str(ours))
    assert main(["show", run_id, "--store", store]) == 1
    text = capsys.readouterr().out
    assert ("events (not verified: what the bundle's events claim, see the findings below):\n"
            "  2026-03-01T10:00:00Z  START     https://github.com/tdprov/tdprov/tests\n"
            "  2026-03-01T10:00:02Z  COMPLETE  https://github.com/tdprov/tdprov/tests\n") in text, text
    assert "quality (not verified):\n  output s3://lake/clean/users.parquet  Users: FAILED (7 failures)" in text
    assert "  s3://lake/clean/users.parquet  blake3:" + "3" * 64 + "  (1,200 rows)" in text
    assert f"FAIL  {run_id}  claims key ed25519:" in text and "untrusted key: signed by untrusted key" in text
    assert main(["show", run_id, "--store", store, "--json"]) == 1
    info = json.loads(capsys.readouterr().out)
    assert [(e["eventType"], e["eventTime"]) for e in info["events"]] == [("START", "2026-03-01T10:00:00Z"),
                                                                           ("COMPLETE", "2026-03-01T10:00:02Z")]
    assert not info["eventsVerified"] and info["eventsUnlisted"] == 0 and not info["verification"]["ok"]
    assert info["quality"][0]["failureCount"] == 7 and info["extents"][0]["rows"] == 1200
    monkeypatch.delenv("TDPROV_TRUSTED_KEYS")
    monkeypatch.setenv("TDPROV_TRUSTED_KEYS", str(tmp_path / "colleague.key.pub"))  # trusted: verified, as before
    assert main(["show", run_id, "--store", store, "--json"]) == 0
    trusted = json.loads(capsys.readouterr().out)
    assert trusted["eventsVerified"] and trusted["events"] == info["events"] and trusted["quality"] == info["quality"]
    monkeypatch.setenv("TDPROV_TRUSTED_KEYS", str(ours))
    monkeypatch.setattr(claimed, "EVENTS_LISTED", 1)  # a planted file may hold millions: those past it are counted
    assert main(["show", run_id, "--store", store]) == 1
    text = capsys.readouterr().out
    assert "  2026-03-01T10:00:00Z  START     https://github.com/tdprov/tdprov/tests\n  and 1 more event not listed\n" in text, text


def _peak_of_failing(args: list[str]) -> int:
    """The peak of Python allocations (tracemalloc) while 'tdprov ARGS' runs, which must exit 1 (a finding)."""
    import tracemalloc

    tracemalloc.start()
    try:
        assert main(args) == 1
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_show_folds_a_forged_events_file_under_an_unsigned_manifest_line_by_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A forged events.jsonl of 25 MB (one event line repeated) under an unsigned manifest giving its size and digest:
    show lists what it claims (verify parses no such file) folded line by line, a repeated line once and parsed once,
    so that the memory taken stays near the file's bytes as read (parsed whole: several times them)."""
    store = str(tmp_path / "store")
    (run_id,) = record_runs(store, 1)
    data = forge_unsigned_events(store, run_id, 25_000_000)
    peak = _peak_of_failing(["show", run_id, "--store", store, "--json"])
    info = json.loads(capsys.readouterr().out)
    assert peak < 2 * len(data), (peak, len(data))  # the bytes as read and little more; parsed whole: several times them
    assert [e["eventType"] for e in info["events"]] == ["START", "COMPLETE"] and info["extents"] == []
    assert info["eventsUnlisted"] == 0 and not info["eventsVerified"]
    assert [f["problem"] for f in info["verification"]["findings"]] == ["unsigned", "inconsistent"]  # and the index entry


def test_verify_hashes_a_forged_events_file_under_an_unsigned_manifest_without_holding_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A forged events.jsonl of 50 MB under an unsigned manifest giving its size and digest: verify parses no such file,
    but read it whole to hash it (an 89 MB one held 133 MB): it is hashed in ranged reads, never held, and still
    checked against the manifest (one byte changed is a digest mismatch)."""
    from prov_common.bundle.verify import ATTACHMENT_CHUNK

    store = str(tmp_path / "store")
    (run_id,) = record_runs(store, 1)
    data = forge_unsigned_events(store, run_id, 50_000_000)
    peak = _peak_of_failing(["verify", run_id, "--store", store, "--json"])
    report = json.loads(capsys.readouterr().out)
    assert peak < 2.5 * ATTACHMENT_CHUNK < len(data) / 2, (peak, len(data))  # a ranged read or two, not the file
    assert [f["problem"] for f in report["findings"]] == ["unsigned", "inconsistent"], report
    changed = bytearray(data)
    changed[len(data) // 2] ^= 1
    raw_put(store, f"bundles/{run_id}/events.jsonl", bytes(changed))
    assert main(["verify", run_id, "--store", store, "--json"]) == 1
    found = json.loads(capsys.readouterr().out)["findings"]
    assert ("events.jsonl", "digest mismatch") in [(f["key"].rsplit("/", 1)[-1], f["problem"]) for f in found], found


def test_show_counts_a_forged_prov_file_under_an_unsigned_manifest_without_holding_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A forged prov.json of 50 MB under an unsigned manifest giving its size and digest: verify read it whole to hash
    it and 'show' parsed it whole to count its records (a 100 MB one: 1.1 GB resident); it is hashed in ranged reads
    and its records counted as they are read, never held, and the count shown is what it claims."""
    from prov_common.bundle.verify import ATTACHMENT_CHUNK

    store = str(tmp_path / "store")
    (run_id,) = record_runs(store, 1)
    data, entities = forge_unsigned_prov(store, run_id, 50_000_000)
    peak = _peak_of_failing(["show", run_id, "--store", store, "--json"])
    shown = json.loads(capsys.readouterr().out)
    assert peak < 2.5 * ATTACHMENT_CHUNK < len(data) / 2, (peak, len(data))  # a ranged read or two, not the file
    assert shown["prov"]["entity"] == entities and shown["prov"]["activity"] == 1, shown["prov"]
    assert [f["problem"] for f in shown["verification"]["findings"]] == ["unsigned", "inconsistent"], shown["verification"]
    changed = bytearray(data)
    changed[len(data) // 2] ^= 1
    raw_put(store, f"bundles/{run_id}/prov.json", bytes(changed))
    assert main(["verify", run_id, "--store", store, "--json"]) == 1
    found = json.loads(capsys.readouterr().out)["findings"]
    assert ("prov.json", "digest mismatch") in [(f["key"].rsplit("/", 1)[-1], f["problem"]) for f in found], found


def test_verify_without_configured_trust_uses_the_local_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "store")
    record_runs(store, 1)  # signed by the per-user key, created on first use
    assert main(["verify", "--store", store]) == 0
    assert main(["verify", "--store", str(tmp_path / "empty")]) == 2  # a mistyped store is not an empty one
    assert "does not exist" in capsys.readouterr().err and not (tmp_path / "empty").exists()
    assert main(["store", "init", str(tmp_path / "empty")]) == 0
    assert main(["verify", "--store", str(tmp_path / "empty")]) == 0
    assert "no bundles" in capsys.readouterr().err
    assert main(["audit", "--quiet", "--store", str(tmp_path / "empty"), "--report", str(tmp_path / "r")]) == 2  # not clean: nothing
    assert f"no runs in {tmp_path / 'empty'}: is this the store your pipelines write to?" in capsys.readouterr().err


def test_a_key_copied_over_the_signing_key_is_named_at_the_seal_and_by_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                               caplog: pytest.LogCaptureFixture) -> None:
    """A team key copied over ``signing.key`` left the old ``signing.key.pub``, which local trust takes: every bundle the
    new key sealed failed verification as signed by an untrusted key, and nothing said why."""
    home, store = Path(os.environ["TDPROV_HOME"]), str(tmp_path / "store")
    record_runs(store, 1)  # the per-user pair, made on first use
    key, pub = home / "signing.key", home / "signing.key.pub"
    team, _ = write_keypair(tmp_path / "team.key")
    key.write_bytes(team.read_bytes())  # the old .pub stays
    with caplog.at_level(logging.WARNING, logger="prov_common"):
        record_runs(store, 1)
        record_runs(store, 1)  # another transport loads the key again: warned once per process
    warned = [r.getMessage() for r in caplog.records if "is not that of the signing key" in r.getMessage()]
    assert len(warned) == 1, warned
    assert f"the public key {pub} (ed25519:" in warned[0] and f"signing key {key} beside it" in warned[0]
    assert f"rewrite its public key: openssl pkey -in {key} -pubout -out {pub}" in warned[0]
    assert main(["verify", "--store", store]) == 1
    assert capsys.readouterr().err.endswith(
        f"1 of 3 bundles verified; 2 bundles are signed by an untrusted key: local trust takes your key from {pub}, which is "
        f"stale if another key was copied over {key} (a seal with it warns); if so, rewrite it: openssl pkey -in {key} "
        f"-pubout -out {pub}\n")
    assert main(["verify", "--store", store, "--trusted-keys", f"{team}.pub"]) == 1  # trust named: no local .pub to blame
    assert capsys.readouterr().err.endswith("2 of 3 bundles verified\n")



def test_audit_names_a_stale_public_key_beside_the_signing_key_as_verify_does(tmp_path: Path,
                                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """'tdprov audit' listed the bundles signed by an untrusted key with the fix to trust it, and said nothing of the
    stale .pub beside a signing key that another key was copied over (the cause 'tdprov verify' names): it says so, in
    the words of verify's summary."""
    home, store = Path(os.environ["TDPROV_HOME"]), str(tmp_path / "store")
    record_runs(store, 1)  # the per-user pair, made on first use
    key, pub = home / "signing.key", home / "signing.key.pub"
    team, _ = write_keypair(tmp_path / "team.key")
    key.write_bytes(team.read_bytes())  # the old .pub stays
    record_runs(store, 2)
    stale = (f"2 bundles are signed by an untrusted key: local trust takes your key from {pub}, which is stale if another "
             f"key was copied over {key} (a seal with it warns); if so, rewrite it: openssl pkey -in {key} -pubout -out {pub}")
    assert main(["verify", "--store", store]) == 1
    assert capsys.readouterr().err.endswith(f"; {stale}\n")
    assert main(["audit", "--read-only", "--store", store, "--report", str(tmp_path / "report")]) == 1
    lines = capsys.readouterr().out.splitlines()
    signed = [i for i, line in enumerate(lines) if "which is not trusted here" in line]
    assert len(signed) == 1 and lines[signed[0]].startswith("2 bundles are signed by key ed25519:"), lines
    assert lines[signed[0] + 1] == stale, lines
    assert main(["audit", "--read-only", "--store", store, "--report", str(tmp_path / "report2"), "--quiet"]) == 1
    assert stale not in capsys.readouterr().out


def test_show_reads_each_object_once_and_shows_what_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from counting_store import CountingStore

    from prov_common.cli.show import gather
    from prov_common.config import Settings

    store = str(tmp_path / "store")
    (run_id,) = record_runs(store, 1)
    counting = CountingStore(store)
    info = gather(counting, run_id, Settings.from_env(store=store))
    assert info["verification"]["ok"] and [e["eventType"] for e in info["events"]] == ["START", "COMPLETE"]
    assert info["prov"]["activity"] == 1 and info["quality"] == [] and info["attachments"] == []
    bundle_reads = {k: n for k, n in counting.gets.items() if k.startswith(f"bundles/{run_id}/")}
    assert set(bundle_reads.values()) == {1} and len(bundle_reads) == 5, counting.gets  # statement, manifest, 2 files, indexed

    raw_put(store, f"bundles/{run_id}/events.jsonl", b"\n")
    assert main(["show", run_id, "--store", store]) == 1
    text = capsys.readouterr().out
    assert f"FAIL  {run_id}" in text and f"bundles/{run_id}/events.jsonl: digest mismatch" in text
    assert "not shown: they do not verify" in text and f"run {run_id}  job tests/train_features  COMPLETE" in text
    for key in list(counting.list(f"bundles/{run_id}/")):
        raw_delete(store, key)
    assert main(["show", run_id, "--store", store]) == 2
    assert f"no object of run {run_id}'s bundle is in {store}: sealed, then missing from the store" in capsys.readouterr().err


def test_show_says_what_verify_says_of_a_run_with_no_bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """'tdprov show RUN_ID' of a run with no bundle object (exit 2, no readable bundle) says what 'tdprov verify RUN_ID'
    says of it, not to look in 'tdprov runs': sealed and since removed (restore it), or staged and never sealed (seal it)."""
    store = str(tmp_path / "store")
    (run_id,) = record_runs(store, 1)
    for path in (tmp_path / "store" / "bundles" / run_id).iterdir():
        raw_delete(store, f"bundles/{run_id}/{path.name}")
    assert main(["verify", run_id, "--store", store]) == 1
    told = capsys.readouterr().err.splitlines()[0]  # then its count of bundles verified
    assert main(["show", run_id, "--store", store]) == 2
    err = capsys.readouterr().err.strip()
    assert err == told.replace("tdprov verify:", "tdprov show:", 1) and "'tdprov runs'" not in err
    assert "sealed, then missing from the store: its index entry (index/" in err
    assert "Fix: restore the bundle from a backup or replica of the store; 'tdprov audit' names this deletion" in err
    for entry in (tmp_path / "store" / "index").rglob(f"*{run_id}.json"):  # left staged only, as a worker that never sealed
        raw_delete(store, entry.relative_to(tmp_path / "store").as_posix())
    assert main(["show", run_id, "--store", store]) == 2
    err = capsys.readouterr().err
    assert f"no object of run {run_id}'s bundle is in {store}: not sealed: its events are staged (staging/{run_id}/)" in err
    assert f"Fix: once the task has ended, seal it with 'tdprov store seal {run_id}'" in err and "'tdprov runs'" not in err


def test_a_damaged_index_entry_is_listed_from_its_bundle_with_a_warning(store_uri: str, capsys: pytest.CaptureFixture[str],
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    """'runs', 'lineage' and the Airflow sensor's listing keep working when an index entry is damaged: the
    run is listed from its bundle's manifest (which the entry only summarises), and the entry is named."""
    from prov_common.bundle import layout, list_bundles
    from prov_common.bundle.storage import read_index_entry
    from prov_common.errors import BadInputError
    from prov_common.store import open_store

    store = open_store(store_uri)
    run_ids = record_runs(store_uri, 2)
    before = {s.run_id: s for s in list_bundles(store)}
    entry = before[run_ids[0]].cursor
    raw_put(store_uri, entry, b"\x00 not a summary")
    with caplog.at_level("WARNING", logger="prov_common.bundle.storage"):
        after = {s.run_id: s for s in list_bundles(store)}
    assert after == before  # the same summary, from the manifest, at the same key
    assert f"index entry {entry} is not a bundle summary" in caplog.text and "restore the entry" in caplog.text
    assert main(["runs", "--store", store_uri]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]]
    assert listed == run_ids[::-1]
    raw_delete(store_uri, layout.bundle_key(run_ids[0], layout.MANIFEST_FILE))  # nothing left to list it from
    caplog.clear()
    with caplog.at_level("WARNING", logger="prov_common.bundle.storage"):
        assert [s.run_id for s in list_bundles(store)] == [run_ids[1]]  # left out, named; the others listed
    assert f"index entry {entry} is not a bundle summary" in caplog.text and "left out of this listing" in caplog.text
    assert main(["runs", "--store", store_uri]) == 1  # a listing without a run is incomplete: a finding, naming the run
    out, err = capsys.readouterr()
    assert [line.split()[0] for line in out.splitlines()[1:]] == [run_ids[1]]
    assert f"tdprov runs: left out run {run_ids[0]}: it could not be read (index entry {entry} is not a bundle summary" in err
    assert "Fix: restore the object named from a backup or replica of the store" in err and "does not verify" not in err, err
    statement = layout.bundle_key(run_ids[1], layout.STATEMENT_FILE)
    raw_put(store_uri, statement, b"{ damaged")  # read, then not verified: told apart from what could not be read
    assert main(["runs", "--verified", "--store", store_uri]) == 1
    err = capsys.readouterr().err
    assert f"tdprov runs: left out run {run_ids[1]}: its bundle does not verify ({statement}: " in err, err
    assert f"tdprov runs: left out run {run_ids[0]}: it could not be read (index entry {entry} " in err, err
    with pytest.raises(BadInputError, match="is not a bundle summary") as failed:  # one entry read on its own: the error
        read_index_entry(store, entry)
    assert "restore the entry from a backup" in (failed.value.fix or "")


def test_verify_a_run_id_typed_wrong(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A run id that cannot name a bundle is bad input (exit 2, one line), and so is a well-formed id that names
    nothing in the store; a run whose index entry is there and whose bundle is gone is a 'missing' finding, and
    stderr says it was sealed and is gone (restore it); with its index entry gone too, that its events are staged and
    how to seal them, as the Airflow page says."""
    store = str(tmp_path / "store")
    run_id, deleted = record_runs(store, 2)
    assert main(["verify", run_id, "not a run", "--store", store]) == 2
    assert "run id 'not a run' cannot name a bundle" in capsys.readouterr().err
    missing = str(uuid.uuid4())
    assert main(["verify", run_id, missing, "--store", store]) == 2
    assert f"no bundle for run id '{missing}' in {store}." in capsys.readouterr().err
    for path in (tmp_path / "store" / "bundles" / deleted).iterdir():
        raw_delete(store, f"bundles/{deleted}/{path.name}")
    assert main(["verify", run_id, deleted, "--store", store]) == 1
    out, err = capsys.readouterr()
    assert f"OK    {run_id}" in out and f"bundles/{deleted}/: missing" in out
    assert f"no object of run {deleted}'s bundle is in {store}: sealed, then missing from the store" in err
    for entry in (tmp_path / "store" / "index").rglob(f"*{deleted}.json"):  # left staged only, as a worker that never sealed
        raw_delete(store, entry.relative_to(tmp_path / "store").as_posix())
    assert main(["verify", deleted, "--store", store]) == 1
    err = capsys.readouterr().err
    assert f"no object of run {deleted}'s bundle is in {store}: not sealed: its events are staged" in err
    assert f"seal it with 'tdprov store seal {deleted}'" in err


def test_runs_verified_names_a_moved_index_entry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An index entry moved to a later key (the run re-dated): 'verify RUN_ID' fails on it, and 'runs --verified'
    names it on stderr and lists the run as its bundle says (it listed it silently)."""
    from datetime import timedelta

    from prov_common.bundle import layout
    from prov_common.store import open_store

    store = str(tmp_path / "store")
    (run_id,) = record_runs(store, 1)
    key = next(k for k in open_store(store).list("index/") if run_id in k)
    folder, name = key.rsplit("/", 1)
    later = f"{folder}/{layout.stamp(layout.parse_stamp(name[:22]) + timedelta(minutes=1))}{name[22:]}"
    raw_put(store, later, open_store(store).get(key))
    raw_delete(store, key)
    assert main(["runs", "--verified", "--store", store]) == 0
    out, err = capsys.readouterr()
    assert run_id in out and f"run {run_id} is taken as its signed bundle says" in err and "the entry was moved or copied" in err, err


def test_runs_verified_exits_1_when_a_run_is_left_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A run whose bundle does not verify is left out of 'runs --verified' and is a finding, exit 1, as in 'tdprov
    verify': it exited 0 even when no bundle verified, so a script could not tell that listing from a sound one."""
    store = str(tmp_path / "store")
    kept, damaged = record_runs(store, 2)
    assert main(["runs", "--verified", "--store", store]) == 0
    capsys.readouterr()
    raw_put(store, f"bundles/{damaged}/statement.dsse.json", b"{}")
    assert main(["runs", "--verified", "--store", store]) == 1
    out, err = capsys.readouterr()
    assert kept in out and damaged not in out and f"tdprov runs: left out run {damaged}: its bundle does not verify" in err
    raw_put(store, f"bundles/{kept}/statement.dsse.json", b"{}")
    assert main(["runs", "--verified", "--store", store]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.endswith(f"no bundle in {store} verifies (each left out is named above)\n")
    assert main(["runs", "--store", store]) == 0  # the index as it stands: no verification, no finding


def test_a_run_left_out_is_named_with_its_reason_in_brackets_and_one_full_stop(tmp_path: Path,
                                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """A reason that is itself a sentence (a file larger than its manifest says) stands in brackets without its own
    full stop: 'tdprov runs --verified' said '(... is larger than 1,728 bytes.).', in one run's line and in several's."""
    from prov_common.store import open_store

    store = str(tmp_path / "store")
    run_ids = record_runs(store, 3)
    for run_id in run_ids[:2]:
        events = f"bundles/{run_id}/events.jsonl"
        raw_put(store, events, open_store(store).get(events) + b"x")
    assert main(["runs", "--verified", "--store", store]) == 1
    err = capsys.readouterr().err
    listed = len(open_store(store).get(events)) - 1
    assert f"more bytes than the {listed:,} the manifest says it holds (not read further)). Fix: 'tdprov verify RUN_ID'" in err, err
    assert ".)." not in err, err
    raw_put(store, events, open_store(store).get(events)[:-1])
    assert main(["runs", "--verified", "--store", store]) == 1
    err = capsys.readouterr().err
    assert f"tdprov runs: left out run {run_ids[0]}: its bundle does not verify (bundles/{run_ids[0]}/events.jsonl: digest mismatch: " in err
    assert "(not read further)). Fix: 'tdprov verify" in err and ".)." not in err, err


def test_a_record_written_without_runs_says_so_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """'tdprov record' of a version whose generating runs' bundles do not verify said 'the record was written without run
    X left out (named above)', both 'without' and 'left out': it says what it was written without, once."""
    store = str(tmp_path / "store")
    run_ids = record_runs(store, 3)
    version = "blake3:" + "2" * 64  # clean/users.parquet, as record_runs writes it
    for damaged, said in ((run_ids[:1], f"run {run_ids[0]}"), (run_ids[1:2], "2 runs")):
        for run_id in damaged:
            events = f"bundles/{run_id}/events.jsonl"
            raw_put(store, events, open_store(store).get(events) + b"x")
        assert main(["record", version, "-o", str(tmp_path / "record.json"), "--store", store]) == 1
        err = capsys.readouterr().err
        assert (f"tdprov record: the record was written without {said} (named above), so it may lack a step of the lineage "
                "or a quality result recorded on it. Fix: 'tdprov verify RUN_ID' names every problem") in err, err
        assert "left out (named above)" not in err, err


def test_a_stray_index_entry_left_out_is_named_as_an_entry_with_a_fix_that_works(tmp_path: Path,
                                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """An object under index/ that names no run (a key no writer makes, holding what no entry holds) was named by
    'record' and 'export --training-record' as a run, 'left out run index/2026/01/x.json', with a fix 'tdprov verify
    index/2026/01/x.json' that verify refuses: it is named as the index entry it is, and 'tdprov verify' lists it."""
    store = str(tmp_path / "store")
    record_runs(store, 1)
    stray = "index/2026/01/x.json"
    raw_put(store, stray, b'{"runId": NaN}')
    version = "blake3:" + "2" * 64  # clean/users.parquet, as record_runs writes it
    for verb in (["record", version], ["export", "--training-record", version]):
        assert main([*verb, "-o", str(tmp_path / "record.json"), "--store", store]) == 1
        err = capsys.readouterr().err
        assert (f"left out index entry {stray}: it names no run (index entry '{stray}' has a name that does not parse as "
                "<stamp>-<run id>.json: tdprov wrote no such entry). Fix: 'tdprov verify' lists it and what is wrong with it; "
                "remove it if tdprov did not write it") in err, err
        assert f"the record was written without index entry {stray} (named above)" in err and "Fix: 'tdprov verify' names" in err
        assert "left out run" not in err and f"tdprov verify {stray}" not in err, err
    assert main(["verify", "--store", store]) == 1
    assert f"{stray}: malformed: index entry '{stray}' has a name that does not parse" in capsys.readouterr().out


def test_an_index_entry_whose_name_does_not_parse_is_named_by_the_audit_as_it_is(tmp_path: Path,
                                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """An index entry 'index/2026/12/06/notastamp-<run>.json' (a copy of a run's entry under a name no writer makes)
    was named by the audit under a run id cut from its name at a fixed width ('-4751-aa1a-...'), as the entry of that
    run 'dated in the future' and 'a copied or renamed entry': it is named by its key as an entry whose name does not
    parse, and nothing else is said of it."""
    from prov_common.store import open_store

    store = str(tmp_path / "store")
    (run_id,) = record_runs(store, 1)
    entry = next(iter(open_store(store).list("index/")))
    planted = f"index/2026/12/06/notastamp-{run_id}.json"
    raw_put(store, planted, open_store(store).get(entry, 1 << 20))
    capsys.readouterr()
    assert main(["audit", "--read-only", "--store", store, "--report", str(tmp_path / "report")]) == 1
    out = capsys.readouterr().out
    assert (f"[inventory] error: {planted}: index entry '{planted}' has a name that does not parse as <stamp>-<run id>.json: "
            "tdprov wrote no such entry\n      fix: remove it and find out who wrote it; see 'tdprov verify'") in out, out
    cut = run_id[len("YYYYMMDDTHHMMSSffffffZ") - len("notastamp"):]  # what the name gave for a run id
    assert out.count(planted) == 2 and f"run {cut}" not in out and f"bundles/{cut}" not in out, out


def _plant_unparsed_entry(store: str, run_id: str, data: bytes | None = None) -> str:
    """A copy of ``run_id``'s index entry (or ``data``) at 'notastamp-<run id>.json' beside it: a name no writer makes."""
    from prov_common.store import open_store

    entry = next(iter(open_store(store).list("index/")))
    planted = f"{entry.rsplit('/', 1)[0]}/notastamp-{run_id}.json"  # listed after the run's own entry: newest first
    raw_put(store, planted, open_store(store).get(entry, 1 << 20) if data is None else data)
    return planted


@pytest.mark.parametrize("junk", [False, True])
def test_verify_names_an_index_entry_whose_name_does_not_parse_and_no_run_cut_from_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], junk: bool) -> None:
    """'tdprov verify' of a store with 'notastamp-<run>.json' under index/ verified a run '-4751-...' cut from the
    name at a fixed width ('bundles/-4751-.../: missing'): it names the key as the audit does, and no such run."""
    store = str(tmp_path / "store")
    (run_id,) = record_runs(store, 1)
    planted = _plant_unparsed_entry(store, run_id, b"junk" if junk else None)
    capsys.readouterr()
    assert main(["verify", "--store", store]) == 1
    out = capsys.readouterr().out
    assert (f"{planted}: malformed: index entry '{planted}' has a name that does not parse as <stamp>-<run id>.json: "
            "tdprov wrote no such entry") in out, out
    cut = run_id[len("YYYYMMDDTHHMMSSffffffZ") - len("notastamp"):]
    assert f"bundles/{cut}" not in out and f"bundles/{run_id}/" not in out and out.count(planted) == 2, out


def test_runs_lists_the_run_an_index_entry_whose_name_does_not_parse_copies_and_names_that_entry(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A copy of a run's entry at 'notastamp-<run>.json' (listed first, newest first) was listed as the run, its own
    entry left out as 'a second entry' of it: a planted object hid the run's entry. The run is listed by its own entry
    and the planted one is named on stderr, a finding (exit 1), as an entry that names no run."""
    store = str(tmp_path / "store")
    (run_id,) = record_runs(store, 1)
    planted = _plant_unparsed_entry(store, run_id)
    capsys.readouterr()
    assert main(["runs", "--store", store, "--json"]) == 1
    out, err = capsys.readouterr()
    assert [row["runId"] for row in json.loads(out)] == [run_id]
    assert (f"tdprov runs: left out index entry {planted}: it names no run (index entry '{planted}' has a name that does not "
            "parse as <stamp>-<run id>.json: tdprov wrote no such entry). Fix: 'tdprov verify' lists it") in err, err
    assert "second entry" not in err, err


def test_show_of_a_run_id_ending_is_not_refused_for_an_index_entry_whose_name_does_not_parse(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """'tdprov show <last 12 hex of a run id>' was refused as ambiguous with 'notastamp-<run>.json' under index/: the
    run id cut from its name ends the same way. Such a key names no run: the run id ending names the one run."""
    store = str(tmp_path / "store")
    (run_id,) = record_runs(store, 1)
    _plant_unparsed_entry(store, run_id)
    capsys.readouterr()
    assert main(["show", run_id[-12:], "--store", store, "--json"]) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["manifest"]["runId"] == run_id


def test_an_index_entry_that_cannot_be_read_is_named_without_a_full_stop_in_its_brackets(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An index entry that is a named pipe: the store's reason stands in brackets inside the message without its own
    full stop ('... not a regular file.))' before)."""
    store = str(tmp_path / "store")
    record_runs(store, 1)
    stray = "index/2026/01/20260101T000000000000Z-.x.json"  # '.x': no run id (a name that does not parse is not read)
    (tmp_path / "store" / "index" / "2026" / "01").mkdir(parents=True, exist_ok=True)
    os.mkfifo(tmp_path / "store" / stray)
    assert main(["record", "blake3:" + "2" * 64, "-o", str(tmp_path / "record.json"), "--store", store]) == 1
    err = capsys.readouterr().err
    assert f"is not a bundle summary (object '{stray}' in local folder " in err, err
    assert "is a named pipe, not a regular file)). Fix: 'tdprov verify' lists it" in err and ".)" not in err, err


def test_an_index_entry_left_out_of_a_listing_is_a_finding(s3_store_uri: str, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """An index entry that neither it nor its bundle summarises (a stray S3 key 'index/2026/../../x.json', an entry
    holding NaN) was left out of 'export', 'lineage' and 'runs' with a warning only, at exit 0: a record silently
    incomplete. Each is named as a run left out is (the entry of a run by its run id, a stray key as the entry it is),
    and the verb exits 1, a finding."""
    from prov_common.store import open_store

    store = s3_store_uri
    (run_id,) = record_runs(store, 1)
    folder = next(k for k in open_store(store).list("index/") if run_id in k).rsplit("/", 1)[0]
    other = str(uuid.uuid4())
    stray, damaged = "index/2026/../../x.json", f"{folder}/20260301T000000000000Z-{other}.json"
    for key in (stray, damaged):
        raw_put(store, key, b'{"runId": NaN}')
    for argv in (["export", "-o", str(tmp_path / "prov.json")], ["lineage", "s3://lake/clean/users.parquet"], ["runs"]):
        assert main([*argv, "--store", store]) == 1, argv
        out, err = capsys.readouterr()
        assert run_id in out or (tmp_path / "prov.json").read_text().count(run_id), argv
        assert (f"tdprov {argv[0]}: left out run {other}: it could not be read (index entry {damaged} is not a bundle "
                "summary (NaN is not a JSON number)). Fix: ") in err, err
        assert argv[0] == "runs" or (f"tdprov {argv[0]}: left out index entry {stray}: it names no run (index entry '{stray}' has "
                                     "a name that does not parse as <stamp>-<run id>.json: tdprov wrote no such entry). "
                                     "Fix: 'tdprov verify' lists it") in err, err


def test_lineage_and_record_tell_a_run_not_read_apart_from_one_that_does_not_verify(
        store_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Of three runs that made one version, one whose index entry is no bundle summary and whose manifest is deleted
    (nothing to list it from) and one whose statement is damaged: 'lineage' (with and without --checks) and 'record'
    named both as bundles that do not verify, sending a user looking for tampering where an object is missing. The
    first is named as a run that could not be read, naming the entry, with the fix to restore it; the second as a
    bundle that does not verify, also where --checks reads its PROV before verifying it (its statement was read, and
    is not what tdprov writes); exit 1 either way."""
    from prov_common.bundle import layout

    transport = ProvenanceTransport(ProvenanceConfig(store=store_uri, strict=True))
    sound, missing, damaged = (str(uuid.uuid4()) for _ in range(3))
    raw, clean = (dataset("s3://lake", f"{name}/users.parquet", f"blake3:{digit * 64}") for name, digit in (("raw", "1"), ("clean", "2")))
    for run_id, end in ((sound, "10:00"), (missing, "10:01"), (damaged, "10:02")):  # the damaged run made it last: shown, verified
        transport.emit(event(run_id, "COMPLETE", f"2026-03-01T{end}:00Z", inputs=[raw], outputs=[clean]))
    entry = next(k for k in open_store(store_uri).list("index/") if missing in k)
    raw_put(store_uri, entry, b"\x00 not a summary")
    raw_delete(store_uri, layout.bundle_key(missing, layout.MANIFEST_FILE))
    statement = layout.bundle_key(damaged, layout.STATEMENT_FILE)
    raw_put(store_uri, statement, b"{ damaged")
    for argv in (["lineage", "s3://lake/clean/users.parquet"], ["lineage", "--checks", "s3://lake/clean/users.parquet"],
                 ["record", "blake3:" + "2" * 64, "-o", str(tmp_path / "record.json")]):
        assert main([*argv, "--store", store_uri]) == 1, argv
        out, err = capsys.readouterr()
        assert sound in out or sound in (tmp_path / "record.json").read_text(), argv
        assert (f"tdprov {argv[0]}: left out run {missing}: it could not be read (index entry {entry} is not a bundle "
                "summary") in err, (argv, err)
        assert "Fix: restore the object named from a backup or replica of the store" in err, err
        assert f"left out run {missing}: its bundle does not verify" not in err, err
        assert f"tdprov {argv[0]}: left out run {damaged}: its bundle does not verify ({statement}: malformed" in err, (argv, err)


def test_export_tells_a_bundle_whose_prov_is_gone_apart_from_one_whose_prov_was_altered(
        store_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """'tdprov export' (no --verified) reads each bundle's PROV: one whose prov.json is gone could not be read (restore
    it), one whose prov.json grew past the size its manifest states was read and is not what was sealed: its bundle
    does not verify, never "could not be read" (an altered object is evidence of tampering, a missing one is not)."""
    from prov_common.bundle import layout

    sound, gone, grown = record_runs(store_uri, 3)
    raw_delete(store_uri, layout.bundle_key(gone, layout.PROV_FILE))
    prov = layout.bundle_key(grown, layout.PROV_FILE)
    raw_put(store_uri, prov, open_store(store_uri).get(prov) + b" ")
    out = tmp_path / "prov.json"
    assert main(["export", "-o", str(out), "--store", store_uri]) == 1
    err = capsys.readouterr().err
    assert sound in out.read_text() and gone not in out.read_text() and grown not in out.read_text()
    assert f"tdprov export: left out run {gone}: it could not be read (" in err, err
    assert f"tdprov export: left out run {grown}: its bundle does not verify ({prov}" in err, err
    assert f"left out run {grown}: it could not be read" not in err and f"run {gone}: its bundle does not verify" not in err, err


@LOCAL_ONLY
def test_counts_of_one_read_in_the_singular(store_uri: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A count of one is said in the singular: '1 of 1 bundle verified', 'the 1 run sealed last', 'in 1 bundle of'; they
    read '1 of 1 bundles verified', 'the 1 runs sealed last', 'in 1 bundles of'."""
    first, _ = record_runs(store_uri, 2)
    capsys.readouterr()
    assert main(["verify", first, "--store", store_uri]) == 0
    assert capsys.readouterr().err.startswith("1 of 1 bundle verified")
    assert main(["verify", "--store", store_uri]) == 0
    assert capsys.readouterr().err.startswith("2 of 2 bundles verified")
    assert main(["runs", "--limit", "1", "--store", store_uri]) == 0
    assert "the 1 run sealed last; there are more" in capsys.readouterr().err
    assert main(["lineage", "/no/such/data", "--store", store_uri]) == 2
    assert f"no dataset or version '/no/such/data' in the recorded runs of {store_uri} (2 bundles)." in capsys.readouterr().err


def test_show_says_one_row_and_one_failure_in_the_singular(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """'show' of a one-row table with one failed check: '(1 row in 1 shard)' and '(1 failure'; it read '(1 rows in 1
    shard)' and '(1 failures'."""
    store, run_id = str(tmp_path / "store"), str(uuid.uuid4())
    out = dataset("s3://lake", "clean/one", "blake3:" + "3" * 64)
    out["facets"]["tdprov_contentHash"] = {"_producer": "x", "_schemaURL": "y", "digest": "blake3:" + "3" * 64,
                                           "algorithm": "blake3", "kind": "shards", "rows": 1, "shardCount": 1}
    out["facets"]["tdprov_pandera"] = {"_producer": "x", "_schemaURL": "y", "schemaName": "One", "schemaDigest": "blake3:" + "4" * 64,
                                       "passed": False, "failureCount": 1, "checks": [], "samplesFile": None}
    transport = ProvenanceTransport(ProvenanceConfig(store=store, strict=True))
    transport.emit(event(run_id, "START", "2026-03-01T10:00:00Z"))
    transport.emit(event(run_id, "COMPLETE", "2026-03-01T10:00:02Z", outputs=[out], inputs=[]))
    assert main(["show", run_id, "--store", store]) == 0
    text = capsys.readouterr().out
    assert f"s3://lake/clean/one  blake3:{'3' * 64}  (1 row in 1 shard)" in text, text
    assert "output s3://lake/clean/one  One: FAILED (1 failure)" in text, text


def _planted(run_id: str) -> str:
    """verify's finding of an object where run ``run_id``'s bundle folder belongs."""
    return (f"bundles/{run_id}: unlisted object: an object where run {run_id}'s bundle folder belongs: tdprov writes a "
            "folder of the bundle's files there, never an object")


def test_verify_names_a_file_where_a_runs_bundle_folder_belongs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A local run's bundle folder replaced by a file: its listing was refused, so 'tdprov verify RUN', and plain
    'tdprov verify' for the run's index entry, stopped with exit 2 and verified nothing else. It is a finding naming
    the file."""
    import shutil

    store_uri = str(tmp_path / "store")
    kept, replaced = record_runs(store_uri, 2)
    folder = tmp_path / "store" / "bundles" / replaced
    shutil.rmtree(folder)
    folder.write_bytes(b"{}")
    capsys.readouterr()
    for args in ([replaced], [kept, replaced], []):
        assert main(["verify", *args, "--store", store_uri]) == 1, args
        out = capsys.readouterr().out
        assert f"FAIL  {replaced}  no valid signature\n      {_planted(replaced)}\n" in out, (args, out)
        assert (f"OK    {kept}" in out) == (args != [replaced]), (args, out)


def test_plain_verify_names_an_object_directly_under_bundles(store_uri: str, capsys: pytest.CaptureFixture[str]) -> None:
    """An object planted directly under bundles/ (where a run's folder belongs) was named by the audit and passed over
    by plain 'tdprov verify', which listed runs only from keys under a folder. Both name it."""
    (kept,) = record_runs(store_uri, 1)
    raw_put(store_uri, "bundles/planted", b"{}")
    capsys.readouterr()
    assert main(["verify", "--store", store_uri]) == 1
    out = capsys.readouterr().out
    assert f"OK    {kept}" in out and f"FAIL  planted  no valid signature\n      {_planted('planted')}\n" in out, out


def test_verify_names_an_object_where_a_runs_folder_belongs_on_s3_too(s3_store_uri: str, capsys: pytest.CaptureFixture[str]) -> None:
    """In a bucket an object 'bundles/RUN' can sit beside the objects under 'bundles/RUN/': verify named it neither
    for a run with a bundle (its folder listed objects, so the object was never looked for) nor for a planted one with
    no index entry ('tdprov verify RUN' said "no bundle for run id", exit 2). Both are findings naming the key, as on
    a local store."""
    import uuid

    kept, beside = record_runs(s3_store_uri, 2)
    alone = str(uuid.uuid4())
    for run_id in (beside, alone):
        raw_put(s3_store_uri, f"bundles/{run_id}", b"{}")
    capsys.readouterr()
    for args in ([beside], [alone], [kept, beside, alone], []):
        assert main(["verify", *args, "--store", s3_store_uri]) == 1, args
        out = capsys.readouterr().out
        assert (f"FAIL  {beside}  signed by " in out and f"\n      {_planted(beside)}\n" in out) == (args != [alone]), (args, out)
        assert (f"FAIL  {alone}  no valid signature\n      {_planted(alone)}\n" in out) == (args != [beside]), (args, out)
        assert (f"OK    {kept}" in out) == (len(args) != 1), (args, out)


def test_verify_tells_a_sealed_run_whose_bundle_is_gone_though_an_event_came_late(tmp_path: Path,
                                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """The index was listed for a run's entry from its newest staged event only, but an event delivered after the
    sealing is keyed by the time it was delivered: one an hour after the run was sealed hid its entry, so a deleted
    bundle was told 'not sealed', to be sealed again. The entry is looked for from the run's oldest staged event."""
    from datetime import datetime, timedelta, timezone

    from prov_common.bundle import layout

    store = str(tmp_path / "store")
    [run_id] = record_runs(store, 1)
    late = datetime.now(timezone.utc) + timedelta(hours=1)
    raw_put(store, f"{layout.staging_prefix(run_id)}{layout.stamp(late)}-{'a' * 32}.json", b"{}")
    for path in (tmp_path / "store" / "bundles" / run_id).iterdir():
        raw_delete(store, f"bundles/{run_id}/{path.name}")
    assert main(["verify", run_id, "--store", store]) == 1
    assert f"no object of run {run_id}'s bundle is in {store}: sealed, then missing from the store" in capsys.readouterr().err


def test_verify_names_an_unreadable_file_with_the_fix_its_store_gives(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A bundle file that is a named pipe in a local store was an 'unreadable' finding that kept only the store's words,
    so 'tdprov audit' gave it the fix of an altered object and 'tdprov verify' none. The finding carries the store's
    own fix: in verify's text after 'Fix:', in its --json as 'fix', and as the audit finding's fix."""
    from prov_common.audit import run_audit
    from prov_common.config import Settings

    store_uri = str(tmp_path / "store")
    (run_id,) = record_runs(store_uri, 1)
    pipe = tmp_path / "store" / "bundles" / run_id / "prov.json"
    pipe.unlink()
    os.mkfifo(pipe)
    fix = ("tdprov writes only regular files: find out who put it there, remove it, and restore the object from a backup "
           "or replica")
    capsys.readouterr()
    assert main(["verify", run_id, "--store", store_uri]) == 1
    out = capsys.readouterr().out
    assert f"bundles/{run_id}/prov.json: unreadable: object 'bundles/{run_id}/prov.json' in local folder " in out, out
    assert f"is a named pipe, not a regular file. Fix: {fix}\n" in out, out
    assert main(["verify", run_id, "--store", store_uri, "--json"]) == 1
    [found] = json.loads(capsys.readouterr().out)["findings"]
    assert (found["problem"], found["fix"]) == ("unreadable", fix) and "Fix:" not in found["reason"], found
    result = run_audit(open_store(store_uri), Settings.from_env(store=store_uri), progress=False, report_dir=tmp_path / "r")
    assert [f.fix for f in result.errors if f.object == f"bundles/{run_id}/prov.json"] == [fix], [str(f) for f in result.errors]
