"""Staged events are signed by the writer that stages them, and a seal takes only those a key it trusts signed.

Someone who can write the store's ``staging/`` but holds no trusted signing key plants events into a run still open:
unsigned, signed by a key of their own, or a copy of the writer's signed event with its content changed. Whoever seals
the run (its own process, or ``tdprov store seal`` for a writer that died) seals the writer's events alone, byte for
byte as before, keeps each planted one under ``refused/`` with the reason naming the key or "unsigned", and the bundle
verifies. A retry signed by another key the sealer trusts still adds its events.
"""
from __future__ import annotations

import base64
import json
import logging
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bundle_support import dataset, event, raw_put, run_events, signed_staged
from prov_common.bundle import read_bundle, verify_bundle
from prov_common.bundle.events import events_jsonl
from prov_common.bundle.refusal import RECORD_TYPE
from prov_common.bundle.staged import STAGED_EVENT_TYPE, signed_attachment
from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport, signature_key, staged_event_key
from prov_common.canonical_json import canonical_bytes
from prov_common.cli import main
from prov_common.config import Settings
from prov_common.hashing.raw import blake3_digest
from prov_common.signing import SigningKey, default_signing_key, trust_from_settings, write_keypair
from prov_common.store import open_store
from prov_common.store.identity import read_identity

PLANTED = dataset("s3://lake", "planted/backdoor.parquet", "blake3:" + "9" * 64)


def _transport(store_uri: str, **options: str) -> ProvenanceTransport:
    return ProvenanceTransport(ProvenanceConfig(store=store_uri, strict=False, timeout=30, **options))


def _plant(store_uri: str, run_id: str) -> dict[str, str]:
    """Three events planted into the staging of open run ``run_id`` by a holder of the store's credentials alone, each
    declaring an output the run never wrote; the reason the seal must give for each, by its key."""
    stranger = SigningKey.generate()
    unsigned = event(run_id, "RUNNING", "2026-03-01T10:00:01.000Z", outputs=[PLANTED])
    foreign = event(run_id, "RUNNING", "2026-03-01T10:00:02.000Z", outputs=[PLANTED])
    altered = event(run_id, "RUNNING", "2026-03-01T10:00:03.000Z", outputs=[PLANTED])
    # the writer's own signature over one of its events, kept beside other content
    writer_signed = json.loads(signed_staged(event(run_id, "RUNNING", "2026-03-01T10:00:03.000Z")))
    writer_signed["payload"] = base64.b64encode(canonical_bytes(altered)).decode()
    planted = {
        staged_event_key(unsigned): (canonical_bytes(unsigned), "is unsigned: no writer holding a trusted key staged it."),
        staged_event_key(foreign): (signed_staged(foreign, stranger),
                                    f": signed by untrusted key {stranger.key_id}, not among the 1 trusted key."),
        staged_event_key(altered): (canonical_bytes(writer_signed),
                                    f": bad signature by {default_signing_key().key_id} (the signed bytes were changed)."),
    }
    for key, (data, _) in planted.items():
        raw_put(store_uri, key, data)
    return {key: reason for key, (_, reason) in planted.items()}


def _sealed_alone(store_uri: str, run_id: str, writer_events: list[dict], planted: dict[str, str]) -> None:
    """The bundle of ``run_id`` holds exactly the writer's events, each planted one is refused with its reason (the
    event kept as sent), nothing planted reached its record, and it verifies."""
    store = open_store(store_uri)
    bundle = read_bundle(store, run_id)
    assert bundle.files["events.jsonl"] == events_jsonl(writer_events)
    refused = {r["stagedAs"]: r for r in (json.loads(d) for p, d in bundle.files.items() if p.startswith("refused/"))}
    assert sorted(refused) == sorted(planted)
    for key, reason in planted.items():
        assert refused[key]["reason"] == f"staged event {key}{'' if reason.startswith(':') else ' '}{reason}"
        assert refused[key]["event"]["outputs"] == [PLANTED] and refused[key]["fix"]
    assert b"planted/backdoor" not in bundle.files["prov.json"] + bundle.manifest_bytes
    report = verify_bundle(store, run_id, trust_from_settings(Settings.from_env()))
    assert report.ok, report.findings


def _ended_with_planted_events(store_uri: str) -> tuple[dict, dict, dict[str, str]]:
    """A run's START and COMPLETE, emitted by one writer with :func:`_plant`'s objects planted in its staging between
    them (so its own seal meets them); and what :func:`_plant` gives (each planted key and why it is refused)."""
    start, complete = run_events()
    transport = _transport(store_uri)
    transport.emit(start)
    planted = _plant(store_uri, start["run"]["runId"])
    transport.emit(complete)
    transport.close()
    return start, complete, planted


def test_events_planted_in_an_open_run_are_refused_by_its_own_seal(store_uri: str, caplog: pytest.LogCaptureFixture) -> None:
    start, complete, planted = _ended_with_planted_events(store_uri)
    run_id = start["run"]["runId"]
    _sealed_alone(store_uri, run_id, [start, complete], planted)
    assert f"run {run_id} is sealed without 3 staged objects that were refused" in caplog.text


def test_events_planted_in_a_run_its_writer_left_are_refused_by_store_seal(store_uri: str, capsys: pytest.CaptureFixture) -> None:
    """The writer died after its START: ``tdprov store seal --force``, in another process with the same key, seals
    the START alone."""
    start, _ = run_events()
    run_id = start["run"]["runId"]
    transport = _transport(store_uri)
    transport.emit(start)
    transport.close()
    planted = _plant(store_uri, run_id)
    assert main(["store", "seal", "--force", "--store", store_uri, run_id]) == 0
    assert capsys.readouterr().out.startswith(f"written        {run_id}  index/")
    _sealed_alone(store_uri, run_id, [start], planted)


def test_a_retry_signed_by_a_trusted_key_seals_with_the_first_attempt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Attempt one, on another machine with its own key, staged the START and died; the retry, signing with its key
    and trusting the first machine's (TDPROV_TRUSTED_KEYS), seals both attempts' events. A sealer that does not trust
    the first key, or holds it retired (TDPROV_RETIRED_KEYS: lost, so what it signs now is a thief's), refuses its
    event, naming that key, also when it is still among the trusted keys."""
    first_key, first_pub = write_keypair(tmp_path / "keys" / "first.key")
    retry_key, retry_pub = write_keypair(tmp_path / "keys" / "retry.key")
    first_id = SigningKey.from_pem(first_key.read_bytes()).key_id
    cases = {"trusted": ([first_pub, retry_pub], ""),
             "untrusted": ([retry_pub], f"signed by untrusted key {first_id}, not among the 1 trusted key"),
             "retired": ([retry_pub], f"signed by retired key {first_id} after its cut-off at log size 1 (the log does "
                                      "not hold it)")}
    cases["retired-trusted"] = ([first_pub, retry_pub], cases["retired"][1])  # not moved out: retiring wins
    for case, (trusted, reason) in cases.items():
        store_uri = str(tmp_path / f"store-{case}")
        start, complete = run_events()
        first = _transport(store_uri, signing_key=str(first_key))
        first.emit(start)
        first.close()
        monkeypatch.setenv("TDPROV_TRUSTED_KEYS", os.pathsep.join(map(str, trusted)))
        if case.startswith("retired"):
            monkeypatch.setenv("TDPROV_RETIRED_KEYS", f"{first_pub}@1")
        retry = _transport(store_uri, signing_key=str(retry_key))
        retry.emit(complete)
        retry.close()
        monkeypatch.delenv("TDPROV_RETIRED_KEYS", raising=False)
        bundle = read_bundle(open_store(store_uri), start["run"]["runId"])
        monkeypatch.setenv("TDPROV_TRUSTED_KEYS", f"{first_pub}{os.pathsep}{retry_pub}")
        assert verify_bundle(open_store(store_uri), bundle.run_id, trust_from_settings(Settings.from_env())).ok
        refused = [json.loads(d) for p, d in bundle.files.items() if p.startswith("refused/")]
        if not reason:
            assert bundle.files["events.jsonl"] == events_jsonl([start, complete]) and refused == []
            continue
        assert bundle.files["events.jsonl"] == events_jsonl([complete]), case
        [record] = refused
        assert record["stagedAs"] == staged_event_key(start) and record["event"] == start
        assert f"{reason}." in record["reason"], record["reason"]


def test_trusted_keys_that_cannot_be_read_leave_the_run_staged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    """A TDPROV_TRUSTED_KEYS naming no file: the seal cannot know whose staged events to take, so it seals nothing
    (it would refuse every other writer's events) and says so, naming the setting's path; the events stay staged and
    'tdprov store seal' seals them once it is corrected."""
    store_uri = str(tmp_path / "store")
    monkeypatch.setenv("TDPROV_TRUSTED_KEYS", str(tmp_path / "missing.pub"))
    start, complete = run_events()
    run_id = start["run"]["runId"]
    transport = _transport(store_uri)
    for item in (start, complete):
        assert transport.emit(item) is None
    transport.close()
    assert (f"run {run_id} is not sealed: the keys it trusts cannot be read: trusted key path {tmp_path / 'missing.pub'} "
            "does not exist.") in caplog.text and f"'tdprov store seal {run_id}'" in caplog.text, caplog.text
    assert not list(open_store(store_uri).list("bundles/")) and len(list(open_store(store_uri).list(f"staging/{run_id}/"))) == 2
    monkeypatch.delenv("TDPROV_TRUSTED_KEYS")
    assert main(["store", "seal", "--store", store_uri, run_id]) == 0
    assert read_bundle(open_store(store_uri), run_id).files["events.jsonl"] == events_jsonl([start, complete])


def test_a_planted_terminal_event_does_not_let_store_seal_close_an_open_run(store_uri: str,
                                                                         capsys: pytest.CaptureFixture) -> None:
    """A COMPLETE planted unsigned after the writer's START, newest in the run's staging: 'tdprov store seal' without
    --force still takes the run as running (its newest trusted event is no terminal one) and seals nothing; the
    writer's own COMPLETE later seals both, the planted one refused. --accept-unsigned takes the planted one as the
    seal would."""
    start, complete = run_events()
    run_id = start["run"]["runId"]
    transport = _transport(store_uri)
    transport.emit(start)
    planted = dict(complete, eventTime="2099-01-01T00:00:00.000Z")  # newest, whatever the writer stages next
    raw_put(store_uri, staged_event_key(planted), canonical_bytes(planted))
    assert main(["store", "seal", "--store", store_uri, run_id]) == 2
    err = capsys.readouterr().err
    assert f"run {run_id} may still be running" in err and "no terminal one that a key this seal trusts signed" in err
    assert not list(open_store(store_uri).list("bundles/"))
    transport.emit(complete)
    transport.close()
    bundle = read_bundle(open_store(store_uri), run_id)
    assert bundle.files["events.jsonl"] == events_jsonl([start, complete])
    [record] = [json.loads(d) for p, d in bundle.files.items() if p.startswith("refused/")]
    assert record["stagedAs"] == staged_event_key(planted) and "is unsigned" in record["reason"]


def test_store_seal_accepting_unsigned_events_takes_an_unsigned_end_as_the_end(tmp_path: Path,
                                                                               capsys: pytest.CaptureFixture,
                                                                               caplog: pytest.LogCaptureFixture) -> None:
    """A writer without a key staged its START and COMPLETE unsigned: 'tdprov store seal --accept-unsigned' takes its
    COMPLETE as the run's end (no --force), and seals both, warning of each (once: the end's check does not)."""
    store_uri = str(tmp_path / "store")
    start, complete = run_events()
    run_id = start["run"]["runId"]
    now = datetime.now(timezone.utc)
    for offset, item in enumerate((start, complete)):  # a moment ago: a run that may still be running, but for its end
        item["eventTime"] = (now - timedelta(seconds=2 - offset)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        raw_put(store_uri, staged_event_key(item), canonical_bytes(item))
    assert main(["store", "seal", "--store", store_uri, run_id]) == 2
    err = capsys.readouterr().err
    assert f"run {run_id} may still be running" in err and "signed (a COMPLETE staged unsigned); sealed now" in err, err
    assert f"if it is over, check that its staged events (staging/{run_id}/) are its producer's" in err, err
    caplog.clear()
    assert main(["store", "seal", "--accept-unsigned", "--store", store_uri, run_id]) == 0
    assert read_bundle(open_store(store_uri), run_id).files["events.jsonl"] == events_jsonl([start, complete])
    assert sorted(r.getMessage() for r in caplog.records if "as asked" in r.getMessage()) == sorted(
        f"tdprov: sealing the unsigned staged event {staged_event_key(item)} of run {run_id}, as asked"
        for item in (start, complete))


def test_attachments_planted_in_an_open_run_are_refused_and_named(store_uri: str, caplog: pytest.LogCaptureFixture,
                                                                  tmp_path: Path) -> None:
    """With the store's credentials alone, attachments are planted into an open run: one unsigned, one with a record
    signed by a stranger key, and the writer's own attachment replaced by other bytes under its genuine record. The
    seal keeps the writer's attachment staged by another process (its record checks) and none of the planted bytes:
    each is named under refused/ with its key, size, digest and reason, and the bundle verifies. A signed record
    copied from another path does not vouch for an attachment. The audit fails on them, naming each with its reason
    (it passed with a note)."""
    from prov_common.audit import run_audit
    from prov_common.audit.model import CHECK_UNFINISHED

    start, complete = run_events()
    run_id = start["run"]["runId"]
    writer = _transport(store_uri)
    writer.emit(start)
    writer.attach(run_id, "quality/real.samples.parquet", b"real samples")
    writer.attach(run_id, "quality/swapped.samples.parquet", b"genuine bytes")
    writer.close()
    stranger = SigningKey.generate()
    planted = {"quality/x.samples.parquet": b"PLANTED unsigned", "rows/y.rows.parquet": b"PLANTED stranger",
               "extra/copied.bin": b"PLANTED copied"}
    staging = f"staging/{run_id}/attachments/"
    for path, data in planted.items():
        raw_put(store_uri, staging + path, data)
    raw_put(store_uri, signature_key(run_id, "rows/y.rows.parquet"),
            signed_attachment(run_id, "rows/y.rows.parquet", planted["rows/y.rows.parquet"], stranger))
    raw_put(store_uri, signature_key(run_id, "extra/copied.bin"),
            open_store(store_uri).get(signature_key(run_id, "quality/real.samples.parquet")))
    raw_put(store_uri, staging + "quality/swapped.samples.parquet", b"PLANTED swapped")
    closer = _transport(store_uri)  # another process seals it (a sensor, a retry)
    closer.emit(complete)
    closer.close()
    store = open_store(store_uri)
    bundle = read_bundle(store, run_id)
    assert sorted(p for p in bundle.files if not p.startswith("refused/")) == [
        "events.jsonl", "prov.json", "quality/real.samples.parquet"]
    assert bundle.files["quality/real.samples.parquet"] == b"real samples"
    assert not any(b"PLANTED" in bytes(d) for d in bundle.files.values())  # in no file of the record, nor as text
    refused = {r["stagedAs"]: r for r in (json.loads(d) for p, d in bundle.files.items() if p.startswith("refused/"))}
    digest = {path: blake3_digest(data) for path, data in planted.items()}
    assert {k: base64.b64decode(r["stagedBytes"]) for k, r in refused.items()} == {  # kept as evidence
        **{staging + path: data for path, data in planted.items()}, staging + "quality/swapped.samples.parquet": b"PLANTED swapped"}
    assert refused[staging + "quality/x.samples.parquet"]["reason"] == (
        f"staged attachment {staging}quality/x.samples.parquet (16 bytes, {digest['quality/x.samples.parquet']}) is "
        "unsigned: no writer holding a trusted key staged it.")
    assert refused[staging + "rows/y.rows.parquet"]["reason"] == (
        f"the signed record of staged attachment {staging}rows/y.rows.parquet: signed by untrusted key {stranger.key_id}, "
        "not among the 1 trusted key.")
    assert refused[staging + "extra/copied.bin"]["reason"] == (
        f"staged attachment {staging}extra/copied.bin: its signed record is of another attachment (run '{run_id}', path "
        "'quality/real.samples.parquet').")
    assert refused[staging + "quality/swapped.samples.parquet"]["reason"] == (
        f"staged attachment {staging}quality/swapped.samples.parquet was changed after it was signed: it holds 15 bytes of "
        f"{blake3_digest(b'PLANTED swapped')}, its signed record names 13 bytes of '{blake3_digest(b'genuine bytes')}'.")
    assert len(refused) == 4 and all(r["event"] is None and r["fix"] for r in refused.values())
    # whatever refused it, its fix says where its bytes are (the untrusted key's fix did not)
    assert [k for k, r in refused.items() if not r["fix"].endswith(
        "its bytes stay where it was staged, and up to 1 MiB in the record of its refusal (stagedBytes)")] == []
    assert f"run {run_id} is sealed without 4 staged objects that were refused" in caplog.text
    report = verify_bundle(store, run_id, trust_from_settings(Settings.from_env()))
    assert report.ok, report.findings
    audit = run_audit(store, Settings.from_env(store=store_uri), report_dir=tmp_path / "report", progress=False)
    [error] = [f for f in audit.check(CHECK_UNFINISHED).findings if f.run_id == run_id]
    assert error.severity == "error" and audit.exit_code == 1
    assert error.what.startswith(f"run {run_id} (tests/train_features) holds 4 staged objects that its seal refused for "
                                 "their signature or place, which no writer the seal trusts staged for the run: "), error.what
    assert sorted(error.what.split(": ", 1)[1].split("; ")) == sorted(r["reason"].rstrip(".") for r in refused.values())


def test_the_bytes_of_a_refused_attachment_outlive_its_staging(store_uri: str, monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    """An attachment refused at the seal for its signature was named under refused/ (key, size, digest, reason), its
    bytes only in staging: once staging was cleaned, the evidence of what was planted was gone. Its record keeps them
    (stagedBytes, base64), at most STAGED_BYTES_KEPT an attachment (lowered here to 20) and STAGED_BYTES_KEPT_PER_RUN a
    run (lowered to 40, taken in the order of their keys); one past either bound is named only, which the audit's fix
    says (it said every refused/ entry "holds the object as staged")."""
    from bundle_support import raw_delete

    from prov_common.audit import run_audit
    from prov_common.audit.model import CHECK_UNFINISHED
    from prov_common.bundle import transport

    monkeypatch.setattr(transport, "STAGED_BYTES_KEPT", 20)
    monkeypatch.setattr(transport, "STAGED_BYTES_KEPT_PER_RUN", 40)
    start, complete = run_events()
    run_id = start["run"]["runId"]
    writer = _transport(store_uri)
    writer.emit(start)
    writer.close()
    staging = f"staging/{run_id}/attachments/"
    planted = {"extra/a.bin": b"PLANTED a, 16 B", "extra/b.bin": b"PLANTED b, over 20 bytes.", "extra/c.bin": b"PLANTED c, 16 B",
               "extra/d.bin": b"PLANTED d, 16 B"}
    for path, data in planted.items():
        raw_put(store_uri, staging + path, data)
    closer = _transport(store_uri)
    closer.emit(complete)
    closer.close()
    for key in list(open_store(store_uri).list(f"staging/{run_id}/")):  # staging cleaned
        raw_delete(store_uri, key)
    bundle = read_bundle(open_store(store_uri), run_id)
    refused = {r["stagedAs"]: r for r in (json.loads(d) for p, d in bundle.files.items() if p.startswith("refused/"))}
    assert sorted(refused) == [staging + path for path in sorted(planted)]
    kept = {k[len(staging):]: base64.b64decode(r["stagedBytes"]) for k, r in refused.items() if "stagedBytes" in r}
    assert kept == {"extra/a.bin": planted["extra/a.bin"], "extra/c.bin": planted["extra/c.bin"]}
    for path, data in planted.items():  # each named by its size and digest, kept or not
        assert f"({len(data)} bytes, {blake3_digest(data)}) is unsigned" in refused[staging + path]["reason"]
        assert "up to 1 MiB in the record of its refusal (stagedBytes)" in refused[staging + path]["fix"]
    report = verify_bundle(open_store(store_uri), run_id, trust_from_settings(Settings.from_env()))
    assert report.ok, report.findings
    audit = run_audit(open_store(store_uri), Settings.from_env(store=store_uri), report_dir=tmp_path / "report", progress=False)
    [error] = [f for f in audit.check(CHECK_UNFINISHED).errors if f.run_id == run_id]
    assert error.what.startswith(f"run {run_id} (tests/train_features) holds 4 staged objects that its seal refused")
    assert "holds the object as staged" not in error.fix and (
        "(each refused/ entry names the object as staged and why it was refused, and holds the event as sent, or an "
        "attachment's size and digest with its bytes when they are at most 1 MiB, 16 MiB a run: the others are only where "
        "they were staged; the run's record holds none of them)") in error.fix


def test_store_seal_accepting_unsigned_takes_an_unsigned_attachment(tmp_path: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    """An attachment a writer without a key staged is sealed by 'tdprov store seal --accept-unsigned' (the person
    knows who staged it), with a warning naming it, and refused by a plain seal."""
    for accept in (False, True):
        caplog.clear()
        store_uri = str(tmp_path / f"store-{accept}")
        start, complete = _staged_signed_run(store_uri)
        run_id = start["run"]["runId"]
        raw_put(store_uri, f"staging/{run_id}/attachments/quality/x.samples.parquet", b"unsigned samples")
        assert main(["store", "seal", *(["--accept-unsigned"] if accept else []), "--store", store_uri, run_id]) == 0
        files = read_bundle(open_store(store_uri), run_id).files
        assert (files.get("quality/x.samples.parquet") == b"unsigned samples") is accept
        assert sum(p.startswith("refused/") for p in files) == (0 if accept else 1)
        assert [r.getMessage() for r in caplog.records if "as asked" in r.getMessage()] == (
            [f"tdprov: sealing the unsigned staged attachment staging/{run_id}/attachments/quality/x.samples.parquet of "
             f"run {run_id}, as asked"] if accept else [])


def test_a_signed_end_of_another_run_copied_into_an_open_run_ends_nothing(store_uri: str,
                                                                          capsys: pytest.CaptureFixture) -> None:
    """A writer's signed COMPLETE of run A (an earlier attempt, another job's run) copied by a holder of the store's
    credentials into the staging of run B, still running, newest there: its signature is genuine, but it is A's. No
    hint that decides whether B is over takes it as B's end: 'tdprov store seal' without --force refuses B as running,
    the audit says B never ended (not that its end waits in a spool), and B's own COMPLETE seals B later with the copy
    refused, kept as sent under refused/ with a reason naming both runs."""
    from prov_common.audit.unfinished import newest_staged, terminal_state

    earlier_start, earlier_end = run_events()
    earlier = _transport(store_uri)
    for item in (earlier_start, earlier_end):
        earlier.emit(item)
    earlier.close()
    other = earlier_end["run"]["runId"]
    start, complete = run_events()
    run_id = start["run"]["runId"]
    writer = _transport(store_uri)
    writer.emit(start)
    store = open_store(store_uri)
    copied = store.get(staged_event_key(earlier_end))
    key = staged_event_key(dict(earlier_end, run=start["run"], eventTime="2099-01-01T00:00:00.000Z"))  # newest
    raw_put(store_uri, key, copied)
    assert newest_staged(store, run_id)[0] == key
    trust = trust_from_settings(Settings.from_env())
    assert terminal_state(store, key, trust) is None and terminal_state(store, staged_event_key(earlier_end), trust) == "COMPLETE"
    assert main(["store", "seal", "--store", store_uri, run_id]) == 2
    assert f"run {run_id} may still be running" in capsys.readouterr().err
    assert not store.exists(f"bundles/{run_id}/manifest.json")
    writer.emit(complete)
    writer.close()
    bundle = read_bundle(store, run_id)
    assert bundle.files["events.jsonl"] == events_jsonl([start, complete])
    [record] = [json.loads(d) for p, d in bundle.files.items() if p.startswith("refused/")]
    assert record["stagedAs"] == key and record["event"] == earlier_end
    assert record["reason"] == (f"staged event {key} is of run {other}, not of run {run_id} under whose staging it is: "
                                "a signed event of another run copied here.")


def _staged_signed_run(store_uri: str) -> tuple[dict, dict]:
    """The START and COMPLETE of a run, signed by a writer and staged in ``store_uri``, not sealed (as a writer whose
    process ended before its seal leaves them)."""
    start, complete = run_events()
    for item in (start, complete):
        raw_put(store_uri, staged_event_key(item), signed_staged(item))
    return start, complete


def test_an_attachment_planted_where_no_writer_attaches_is_refused_even_when_unsigned_ones_are_taken(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Unsigned objects planted under staging/<run>/attachments/ at paths no writer attaches at (outside the attachment
    folders, a reserved file's name): 'tdprov store seal --accept-unsigned' stopped at the first ("attachment name ...
    is not under quality/, ...", nothing sealed, every later try alike). Each is refused and named, whatever signs it;
    the run seals with its events and the unsigned attachment in place."""
    store_uri = str(tmp_path / "store")
    start, complete = _staged_signed_run(store_uri)
    run_id = start["run"]["runId"]
    staging = f"staging/{run_id}/attachments/"
    raw_put(store_uri, staging + "quality/x.samples.parquet", b"unsigned samples")
    for path in ("bogus", "events.jsonl"):
        raw_put(store_uri, staging + path, b"PLANTED " + path.encode())
    assert main(["store", "seal", "--accept-unsigned", "--store", store_uri, run_id]) == 0, capsys.readouterr().err
    files = read_bundle(open_store(store_uri), run_id).files
    assert files["events.jsonl"] == events_jsonl([start, complete])
    assert files["quality/x.samples.parquet"] == b"unsigned samples"
    refused = {r["stagedAs"]: r for r in (json.loads(d) for p, d in files.items() if p.startswith("refused/"))}
    assert sorted(refused) == [staging + "bogus", staging + "events.jsonl"]
    assert refused[staging + "bogus"]["reason"] == (
        f"staged attachment {staging}bogus is at a path no writer can attach at: attachment name 'bogus' is not under "
        "quality/, rows/, extra/, refused/.")
    assert all("no writer stages an attachment there" in r["fix"] for r in refused.values())


def test_objects_planted_under_keys_no_writer_makes_do_not_stop_the_seal(s3_store_uri: str,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    """S3 takes keys the store refuses to read ('..', '.', hidden or empty segments, a trailing '/'): one planted under
    an open run's staging stopped every seal of the run ("store key ... has an unsafe segment"), its own process's
    included, so its events stayed staged for good. Each is refused on its own, named by its key, and the run seals."""
    start, complete = run_events()
    run_id = start["run"]["runId"]
    writer = _transport(s3_store_uri)
    writer.emit(start)
    tails = ("../x.json", "./a.json", ".hidden.json", "x.json/", "attachments//quality/x", "attachments/quality/../../y.json",
             "attachment-signatures/quality/../z.dsse")
    for tail in tails:
        raw_put(s3_store_uri, f"staging/{run_id}/{tail}", b'{"planted": true}')
    writer.emit(complete)
    writer.close()
    bundle = read_bundle(open_store(s3_store_uri), run_id)
    assert bundle.files["events.jsonl"] == events_jsonl([start, complete])
    refused = {r["stagedAs"]: r for r in (json.loads(d) for p, d in bundle.files.items() if p.startswith("refused/"))}
    assert sorted(refused) == sorted(f"staging/{run_id}/{tail}" for tail in tails)
    assert all(r["reason"].startswith(f"staged object cannot be read: store key '{k}' has an unsafe segment")
               for k, r in refused.items()), refused
    assert {r["cause"] for r in refused.values()} == {"place"}  # no writer makes such a key: planted (an audit error)
    assert f"run {run_id} is sealed without 7 staged objects that were refused" in caplog.text


@pytest.mark.parametrize("planted", ["unsigned", "another run's", "another store's"])
def test_an_object_planted_in_a_sealed_runs_staging_is_not_blamed_on_its_producer(
        tmp_path: Path, capsys: pytest.CaptureFixture, planted: str) -> None:
    """After a run was sealed, a holder of the store's credentials puts an unsigned event, a writer's signed event of
    another run, or one a writer sharing the key staged for the run of the same id in another store, under its staging,
    timed after the sealing. The audit named it a late event of the run's producer ("the producer emitted more for the
    run after it was sealed ... re-run the step"); it says the newest is no event a writer it trusts staged for the run,
    why, and that it may have been planted."""
    store_uri = str(tmp_path / "store")
    start, complete = run_events()
    other_start, other_end = run_events()
    writer = _transport(store_uri)
    for item in (start, complete, other_start, other_end):
        writer.emit(item)
    writer.close()
    run_id = start["run"]["runId"]
    later = dict(complete, eventTime="2099-01-01T00:00:00.000Z")
    key = staged_event_key(later)
    if planted == "another store's":  # the other store's run of this id ended later; its end is copied here
        elsewhere = _transport(str(tmp_path / "elsewhere"))
        for item in (start, later):
            elsewhere.emit(item)
        elsewhere.close()
        data = open_store(str(tmp_path / "elsewhere")).get(key)
    else:
        data = (canonical_bytes(later) if planted == "unsigned"
                else open_store(store_uri).get(staged_event_key(other_end)))
    raw_put(store_uri, key, data)
    assert main(["audit", "--store", store_uri]) == 1
    out = capsys.readouterr().out
    why = ("is unsigned: no writer holding a trusted key staged it." if planted == "unsigned"
           else f"is of run {other_end['run']['runId']}, not of run {run_id} under whose staging it is"
           if planted == "another run's"
           else (f"was staged for store {_store_id(tmp_path / 'elsewhere')}, not this store {_store_id(store_uri)}: a "
                 "signed object copied from that store's staging."))
    assert (f"and 1 event was staged for it after that (until 2099-01-01T00:00:00Z): they are in no bundle; the newest is "
            f"no event a writer this audit trusts staged for the run: staged event {key} {why}") in out, out
    assert "put it there (find who, and take those credentials away)" in out
    assert "the producer emitted more" not in out


def test_events_planted_in_a_run_that_ends_are_an_error_of_the_audit_naming_them(tmp_path: Path) -> None:
    """Events planted into an open run (unsigned, a stranger's key, changed after signing) are refused at its seal and
    the run ends; the audit passed with a note counting them ("ended COMPLETE, and 3 staged objects of it were
    refused"). Such refusals are evidence that someone who can write the store put them there: the audit fails,
    naming the run and each object with the reason its signed refused/ record gives, and the fix of finding who."""
    from prov_common.audit import run_audit
    from prov_common.audit.model import CHECK_UNFINISHED
    from prov_common.audit.unended import FIX_PLANTED

    store_uri = str(tmp_path / "store")
    start, complete, reasons = _ended_with_planted_events(store_uri)
    run_id = start["run"]["runId"]
    audit = run_audit(open_store(store_uri), Settings.from_env(store=store_uri), report_dir=tmp_path / "report", progress=False)
    [error] = [f for f in audit.check(CHECK_UNFINISHED).findings if f.run_id == run_id]
    assert error.severity == "error" and audit.exit_code == 1
    named = "; ".join(f"staged event {key}{'' if reason.startswith(':') else ' '}{reason}".rstrip(".")
                      for key, reason in sorted(reasons.items()))
    assert error.what == (f"run {run_id} (tests/train_features) holds 3 staged objects that its seal refused for their "
                          f"signature or place, which no writer the seal trusts staged for the run: {named}")
    assert error.fix == FIX_PLANTED and error.fix.startswith("someone who can write the store's staging/ put them")


def test_an_event_two_writers_sign_is_staged_once_without_a_warning_and_other_bytes_still_are_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Two writers with their own keys send one event (both emit a run's START; both are sent a RUNNING after the
    run's seal; one spooled it in an outage and 'tdprov flush' delivers it after the other staged it), or attach the
    same bytes at one path (the signed record beside it): the second put
    met a write-once conflict with the first's envelope, and the transport warned 'could not record the event' (the
    flush set the entry aside, exit 1) although the event was staged. The same payload under another signature is
    staged already: said at debug level, nothing set aside; other bytes at the key are still warned about."""
    from prov_common.errors import StoreUnavailableError
    from prov_common.store.local import LocalStore

    first_key, first_pub = write_keypair(tmp_path / "keys" / "first.key")
    second_key, second_pub = write_keypair(tmp_path / "keys" / "second.key")
    monkeypatch.setenv("TDPROV_TRUSTED_KEYS", f"{first_pub}{os.pathsep}{second_pub}")
    store_uri = str(tmp_path / "store")
    start, complete = run_events()
    run_id = start["run"]["runId"]
    first = _transport(store_uri, signing_key=str(first_key), spool=str(tmp_path / "spool-1"))
    second = _transport(store_uri, signing_key=str(second_key), spool=str(tmp_path / "spool-2"))
    third = _transport(store_uri, signing_key=str(second_key), spool=str(tmp_path / "spool-3"))
    running, late = event(run_id, "RUNNING", "2026-03-01T10:00:01Z"), event(run_id, "RUNNING", "2026-03-01T10:00:03Z")
    with monkeypatch.context() as down:
        down.setattr(LocalStore, "put", lambda self, key, data: (_ for _ in ()).throw(StoreUnavailableError("down", fix="wait")))
        third.emit(running)  # spooled, to be delivered after the first writer staged it
    store = open_store(store_uri)
    with caplog.at_level(logging.DEBUG, logger="prov_common"):
        first.emit(start)
        second.emit(start)
        first.emit(running)
        first.attach(run_id, "extra/notes.txt", b"both attach it")
        second.attach(run_id, "extra/notes.txt", b"both attach it")  # its signed record: the same, another signature
        assert main(["flush", "--spool", str(tmp_path / "spool-3")]) == 0
        assert first.emit(complete).status == "written"
        first.emit(late)
        third.emit(late)  # (a process that saw no START of the run asks the store whether it is sealed)
    messages = [r.getMessage() for r in caplog.records]
    assert [m for m in messages if "could not record" in m or "set aside" in m] == []
    staged = sorted(k for k in store.list(f"staging/{run_id}/") if k.count("/") == 2)
    assert len(staged) == 4 and staged[:3] == sorted(map(staged_event_key, [start, running, complete])), staged
    taken = [m for m in messages if "holds the same record signed by another writer: it is staged already" in m]
    assert [m.split("'")[1] for m in taken] == [staged_event_key(start), signature_key(run_id, "extra/notes.txt"),
                                                 staged_event_key(running), staged[3]], taken
    assert not list((tmp_path / "spool-3").glob("failed/*"))
    bundle = read_bundle(store, run_id)
    assert bundle.files["events.jsonl"] == events_jsonl([start, running, complete])
    assert bundle.files["extra/notes.txt"] == b"both attach it" and not any(p.startswith("refused/") for p in bundle.files)
    other, _ = run_events()  # another run, whose START key holds other bytes
    raw_put(store_uri, staged_event_key(other), signed_staged(event(other["run"]["runId"], "START", other["eventTime"],
                                                                    job="planted"), SigningKey.generate()))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="prov_common"):
        second.emit(other)
    assert f"could not record the event (object '{staged_event_key(other)}'" in caplog.text, caplog.text


def _refused_records(files: dict[str, bytes]) -> dict[str, dict]:
    return {r["stagedAs"]: r for r in (json.loads(d) for p, d in files.items() if p.startswith("refused/"))}


def test_an_unsigned_refusal_record_is_never_sealed_even_when_unsigned_ones_are_taken(
        tmp_path: Path, capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture) -> None:
    """A record of a refusal under refused/ is only ever staged by a writer, signed: one planted unsigned was sealed by
    'tdprov store seal --accept-unsigned' as the bundle's refused/x.json, evidence made up by a holder of the store's
    credentials. It is refused and named (its bytes kept as stagedBytes), while the unsigned samples it was asked to
    take are sealed, and the bundle verifies."""
    store_uri = str(tmp_path / "store")
    start, complete = _staged_signed_run(store_uri)
    run_id = start["run"]["runId"]
    staging = f"staging/{run_id}/attachments/"
    forged = canonical_bytes({"_type": RECORD_TYPE, "reason": "made up", "fix": "none", "event": None})
    raw_put(store_uri, staging + "refused/x.json", forged)
    raw_put(store_uri, staging + "quality/x.samples.parquet", b"unsigned samples")
    assert main(["store", "seal", "--accept-unsigned", "--store", store_uri, run_id]) == 0, capsys.readouterr().err
    files = read_bundle(open_store(store_uri), run_id).files
    assert "refused/x.json" not in files
    assert files["events.jsonl"] == events_jsonl([start, complete])
    assert files["quality/x.samples.parquet"] == b"unsigned samples"
    refused = _refused_records(files)
    assert sorted(refused) == [staging + "refused/x.json"]
    record = refused[staging + "refused/x.json"]
    assert record["reason"] == (f"staged attachment {staging}refused/x.json ({len(forged)} bytes, {blake3_digest(forged)}) "
                                "is an unsigned record of a refusal: no writer holding a trusted key staged it.")
    assert "never taken unsigned, not even with --accept-unsigned" in record["fix"]
    assert base64.b64decode(record["stagedBytes"]) == forged
    assert [r.getMessage().split(" (the first: ")[1].split(")")[0] for r in caplog.records if "sealed without" in
            r.getMessage()] == [f"staged attachment {staging}refused/x.json ({len(forged)} bytes, {blake3_digest(forged)}"]
    report = verify_bundle(open_store(store_uri), run_id, trust_from_settings(Settings.from_env()))
    assert report.ok, report.findings
    from prov_common.audit import run_audit
    from prov_common.audit.model import CHECK_UNFINISHED

    assert record["cause"] == "signature"  # was told apart by a fix text that was not among those of planted objects
    audit = run_audit(open_store(store_uri), Settings.from_env(store=store_uri), report_dir=tmp_path / "report", progress=False)
    [error] = [f for f in audit.check(CHECK_UNFINISHED).findings if f.run_id == run_id]
    assert error.severity == "error" and audit.exit_code == 1
    assert error.what.endswith(f"staged for the run: {record['reason'].rstrip('.')}"), error.what


def _copy(source: str, target: str, run_id: str, *parts: str) -> None:
    """Copy staged objects of ``run_id`` from store folder ``source`` into ``target``, as a holder of both stores'
    credentials (or of a backup) would: ``parts`` (paths under the run's staging), else all of it."""
    import shutil

    origin, into = Path(source, "staging", run_id), Path(target, "staging", run_id)
    if not parts:
        shutil.copytree(origin, into)
    for part in parts:
        (into / part).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(origin / part, into / part)


def _sealed_run(store_uri: str, *, attach: bool = True) -> tuple[dict, dict]:
    """The START and COMPLETE of a run a writer sealed in ``store_uri`` with an attachment, extra/notes.json (none when
    not ``attach``)."""
    start, complete = run_events()
    writer = _transport(store_uri)
    writer.emit(start)
    if attach:
        writer.attach(start["run"]["runId"], "extra/notes.json", b'{"notes": 1}')
    writer.emit(complete)
    writer.close()
    return start, complete


def test_a_runs_staged_objects_copied_into_another_store_are_not_sealed_there(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Two stores whose writers share a signing key: a run sealed in the first, its staged objects copied whole into
    the second's staging/. 'tdprov store seal' there sealed it (exit 0), the one run then sealed in two stores, each
    bundle verifying. What a writer stages is signed for the store it bound, so the seal there refuses every event as
    staged for the first store, with the fix, and writes no bundle; the first store's events.jsonl is the events as
    emitted, byte for byte."""
    first, second = str(tmp_path / "first"), str(tmp_path / "second")
    start, complete = _sealed_run(first)
    run_id = start["run"]["runId"]
    stores = open_store(first), open_store(second)
    assert read_bundle(stores[0], run_id).files["events.jsonl"] == events_jsonl([start, complete])
    _copy(first, second, run_id)
    assert main(["store", "seal", "--store", second, run_id]) == 2
    err = capsys.readouterr().err
    staged = json.loads(stores[0].get(staged_event_key(start)))
    first_id = read_identity(stores[0]).store_id
    assert staged["payloadType"] == f"{STAGED_EVENT_TYPE}; store={first_id}"
    assert base64.b64decode(staged["payload"]) == canonical_bytes(start)
    second_id = read_identity(stores[1]).store_id
    assert second_id != first_id
    assert (f"staged event {staged_event_key(start)} was staged for store {first_id}, not this store {second_id}: a "
            "signed object copied from that store's staging.") in err
    assert not stores[1].exists(f"bundles/{run_id}/manifest.json")


def test_an_attachment_copied_from_another_stores_run_of_the_same_id_is_refused(tmp_path: Path) -> None:
    """Run ids can repeat across stores (an Airflow run's is derived from its DAG run): a staged attachment and its
    signed record copied from the first store's run into the second's run of the same id, still open, is refused
    there as staged for the first store and named under refused/; the second run seals its own events. The audit of
    the second store fails on it as put there by someone who can write staging/ (it was a note: a run that ended with
    refused events of its own writer)."""
    from prov_common.audit import run_audit
    from prov_common.audit.model import CHECK_UNFINISHED

    first, second = str(tmp_path / "first"), str(tmp_path / "second")
    start, complete = _sealed_run(first)
    run_id = start["run"]["runId"]
    other = _transport(second)
    other.emit(start)
    _copy(first, second, run_id, "attachments/extra/notes.json", "attachment-signatures/extra/notes.json.dsse")
    other.emit(complete)
    other.close()
    stores = open_store(first), open_store(second)
    files = read_bundle(stores[1], run_id).files
    assert files["events.jsonl"] == events_jsonl([start, complete])
    assert "extra/notes.json" not in files
    key = f"staging/{run_id}/attachments/extra/notes.json"
    [record] = _refused_records(files).values()
    assert record["stagedAs"] == key
    assert record["reason"] == (f"staged attachment {key} was staged for store {read_identity(stores[0]).store_id}, not "
                                f"this store {read_identity(stores[1]).store_id}: a signed object copied from that "
                                "store's staging.")
    assert "take those credentials away" in record["fix"]
    assert record["fix"].endswith("its bytes stay where it was staged, and up to 1 MiB in the record of its refusal "
                                  "(stagedBytes)") and base64.b64decode(record["stagedBytes"]) == b'{"notes": 1}'
    assert read_bundle(stores[0], run_id).files["extra/notes.json"] == b'{"notes": 1}'
    audit = run_audit(stores[1], Settings.from_env(store=second), report_dir=tmp_path / "report", progress=False)
    [error] = [f for f in audit.check(CHECK_UNFINISHED).findings if f.run_id == run_id]
    assert error.severity == "error" and audit.exit_code == 1
    assert error.what.startswith(f"run {run_id} (") and (
        f"holds 1 staged object that its seal refused for its signature or place, which no writer the seal trusts "
        f"staged for the run: {record['reason'].rstrip('.')}") in error.what, error.what


def _store_id(store: str | Path) -> str:
    return read_identity(open_store(str(store))).store_id


def test_a_copied_end_of_another_stores_run_is_no_end_to_the_audit_or_the_flush(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """A run sealed in the first store, its staged objects copied whole into the second's staging/ (whose writers share
    the key). The seal there refuses them, but the hints did not ask which store an event was staged for: the audit of
    the second store said the run "staged its COMPLETE event ... and was never sealed" (its bundle waiting in a spool),
    and a flush that delivered the run's START there named it to seal. Both read only what was staged for the store
    they read: the run staged events and never ended, and the flush names no run to seal."""
    from prov_common.store import spool

    first, second = str(tmp_path / "first"), str(tmp_path / "second")
    start, _ = _sealed_run(first, attach=False)
    run_id = start["run"]["runId"]
    own = _transport(second)  # the second store's own run, sealed: an audit of a store with runs
    for item in run_events():
        own.emit(item)
    own.close()
    _copy(first, second, run_id)
    assert main(["audit", "--store", second]) == 1
    out = capsys.readouterr().out
    assert f"run {run_id} staged events until 2026-03-01T10:00:05Z and never ended" in out, out
    assert "was never sealed" not in out
    # the run's START, spooled for the second store in an outage (signed for no store), delivered by a flush
    Path(second, staged_event_key(start)).unlink()
    spool_dir = tmp_path / "spool"
    spool.write_entry(spool_dir, spool.SpoolEntry(open_store(second).uri, ((staged_event_key(start), signed_staged(start)),)))
    monkeypatch.setenv("TDPROV_SPOOL", str(spool_dir))
    assert main(["flush", "--store", second]) == 0
    out = capsys.readouterr().out
    assert "delivered 1 spooled entry (1 object, 1 new); 0 left" in out and run_id not in out, out


def test_a_copied_end_of_another_stores_run_is_no_end_to_the_audit_of_a_store_with_no_identity(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The same copy into a store that has no identity (no _tdprov/store.json): with no id to compare, the audit took
    the copied COMPLETE as the run's end ("staged its COMPLETE event ... and was never sealed"). A writer of this store
    creates its identity before it stages, so an event staged for some store cannot be this store's: the run staged
    events and never ended."""
    first, second = str(tmp_path / "first"), str(tmp_path / "second")
    start, _ = _sealed_run(first, attach=False)
    run_id = start["run"]["runId"]
    _copy(first, second, run_id)
    assert read_identity(open_store(second)) is None
    assert main(["audit", "--store", second]) == 1
    out = capsys.readouterr().out
    assert f"run {run_id} staged events until 2026-03-01T10:00:05Z and never ended" in out, out
    assert "was never sealed" not in out
    assert read_identity(open_store(second)) is None  # the audit writes no identity


@pytest.mark.parametrize("store_id", ["made", "x" * 400])  # made: a UUID, as tdprov makes it; or written by hand
def test_what_a_writer_spooled_for_no_store_in_an_outage_is_what_another_writer_staged_for_the_store(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, store_id: str) -> None:
    """A writer that could not read the store's identity (an outage) signs for no store, and spools; another writer,
    bound to the store, stages the same event and attaches the same bytes. Flushed, the spooled attachment's signed
    record (no storeId) met the other's (naming the store) as other bytes, and with an id longer than a UUID the other
    writer's event was read no further than the spooled envelope and room for a UUID: each set aside, exit 1. Both are
    the record staged already: nothing set aside, and the run seals."""
    from prov_common.errors import StoreUnavailableError
    from prov_common.store.identity import IDENTITY_FORMAT, IDENTITY_KEY
    from prov_common.store.local import LocalStore

    store_uri = str(tmp_path / "store")
    if store_id != "made":
        raw_put(store_uri, IDENTITY_KEY, canonical_bytes({"format": IDENTITY_FORMAT, "storeId": store_id,
                                                          "createdAt": "2026-03-01T09:00:00.000000Z"}))
    start, complete = run_events()
    run_id = start["run"]["runId"]
    running = event(run_id, "RUNNING", "2026-03-01T10:00:01Z")
    spooled = _transport(store_uri, spool=str(tmp_path / "spool"))
    with monkeypatch.context() as down:
        def unavailable(*args: object, **kwargs: object) -> None:
            raise StoreUnavailableError("down", fix="wait")
        down.setattr(LocalStore, "put", unavailable)
        down.setattr(LocalStore, "get", unavailable)
        spooled.emit(running)
        spooled.attach(run_id, "extra/notes.txt", b"both attach it")
    writer = _transport(store_uri)
    writer.emit(start)
    writer.emit(running)
    writer.attach(run_id, "extra/notes.txt", b"both attach it")
    store = open_store(store_uri)
    bound = read_identity(store).store_id
    assert json.loads(store.get(staged_event_key(running)))["payloadType"] == f"{STAGED_EVENT_TYPE}; store={bound}"
    with caplog.at_level(logging.WARNING):
        assert main(["flush", "--spool", str(tmp_path / "spool")]) == 0
    assert "set aside" not in caplog.text, caplog.text
    assert writer.emit(complete).status == "written"
    writer.close()
    files = read_bundle(store, run_id).files
    assert files["events.jsonl"] == events_jsonl([start, running, complete])
    assert files["extra/notes.txt"] == b"both attach it" and not [p for p in files if p.startswith("refused/")]


def test_an_event_another_stores_writer_staged_copied_where_this_stores_writer_stages_it_is_not_staged_already(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A run's START staged in the first store, copied to its key in the second store's staging before that store's
    writer stages the same event (run ids repeat across stores): the writer's put met it and took it as its own event
    staged already, said at debug level only, and the seal then refused it as the first store's, the run sealed
    without its START. Envelopes of one event for two stores are other bytes: the writer warns it could not record it."""
    first, second = str(tmp_path / "first"), str(tmp_path / "second")
    start, complete = run_events()
    run_id = start["run"]["runId"]
    elsewhere = _transport(first)
    elsewhere.emit(start)
    elsewhere.close()
    writer = _transport(second)
    writer.emit(event(run_id, "RUNNING", "2026-03-01T09:59:59Z"))  # binds the second store's identity
    _copy(first, second, run_id, staged_event_key(start).split("/", 2)[2])
    with caplog.at_level(logging.WARNING):
        writer.emit(start)
    writer.close()
    assert f"could not record the event (object '{staged_event_key(start)}'" in caplog.text, caplog.text


def test_a_run_whose_end_was_staged_unsigned_after_its_key_was_removed_is_named_so_with_the_seal_that_takes_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """The signing key file is removed while a run goes on (an asset deletes it): the next process stages the run's
    COMPLETE unsigned and cannot seal. The audit called the run one that "staged events ... and never ended (it may be
    running)", and its fix, 'tdprov store seal RUN_ID', seals it without its end (the COMPLETE refused). It now says the run's end
    was staged unsigned, and the fix gives the seal that takes it (--accept-unsigned), after checking the events; a plain
    seal of the run, over a day old, refuses it (exit 2) naming the unsigned end, where it sealed it as RUNNING."""
    key_path = tmp_path / "keys" / "writer.pem"
    write_keypair(key_path)
    monkeypatch.setenv("TDPROV_SIGNING_KEY", str(key_path))
    uri = str(tmp_path / "store")
    start, complete = run_events()
    run_id = start["run"]["runId"]
    _transport(uri).emit(start)  # signed
    kept = key_path.read_bytes()
    key_path.unlink()
    assert _transport(uri).emit(complete) is None  # staged unsigned, not sealed
    staged = Path(uri, staged_event_key(complete)).read_bytes()
    assert json.loads(staged) == json.loads(canonical_bytes(complete))  # a plain, unsigned event
    key_path.write_bytes(kept)  # the key is given back
    key_path.chmod(0o600)
    assert main(["audit", "--store", uri, "--stale-hours", "0"]) == 1
    out = capsys.readouterr().out
    assert (f"run {run_id} staged its COMPLETE event at 2026-03-01T10:00:05Z unsigned (its writer had no signing key "
            "to be had) and was never sealed") in out, out
    assert f"run {run_id} staged events until" not in out and "'tdprov store seal --accept-unsigned RUN_ID'" in out, out
    assert main(["store", "seal", "--store", uri, run_id]) == 2  # over a day old: it sealed the run without its end
    err = capsys.readouterr().err
    assert (f"run {run_id} ended with a COMPLETE event staged unsigned ({staged_event_key(complete)}, "
            "2026-03-01T10:00:05Z): a seal refuses unsigned staged events, so it would seal the run without its end "
            "(recorded as RUNNING, the COMPLETE kept under refused/)") in err, err
    assert f"'tdprov store seal --accept-unsigned {run_id}'" in err and "pass --force to seal it without its end" in err, err
    assert not list(open_store(uri).list("bundles/"))
    assert main(["store", "seal", "--store", uri, "--accept-unsigned", run_id]) == 0
    assert events_jsonl([start, complete]) == read_bundle(open_store(uri), run_id).files["events.jsonl"]
