"""Store down while a run is recorded: the transport spools, the pipeline goes on, and a flush delivers
the run's bundle exactly once (S3 on localhost, made unreachable by pointing at a closed port)."""
from __future__ import annotations

import logging
import threading
import time
import uuid
from pathlib import Path

import pytest

from bundle_support import indexed_runs, run_events
import boto3
from conftest import free_port, s3_env
from prov_common.bundle import read_bundle, verify_bundle
from prov_common.bundle.events import parse_events_jsonl
from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport
from prov_common.errors import StoreUnavailableError
from prov_common.signing import trust_from_settings
from prov_common.store import Outbox, open_store
from prov_common.store.outbox import CLAIM


@pytest.fixture
def outage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """(store URI, restore): an S3 endpoint where no server listens until ``restore()`` starts one."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    for name, value in s3_env(f"http://127.0.0.1:{port}", tmp_path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TDPROV_STORE_MAX_ATTEMPTS", "1")
    servers = []
    bucket = f"lineage-{uuid.uuid4().hex[:12]}"  # moto keeps buckets across servers of one process

    def restore() -> None:
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        servers.append(server)
        boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1").create_bucket(Bucket=bucket)

    yield f"s3://{bucket}/prov", restore
    for server in servers:
        server.stop()


def test_outage_spools_then_flush_delivers_exactly_once(outage, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store_uri, restore = outage
    spool = tmp_path / "spool"
    transport = ProvenanceTransport(ProvenanceConfig(store=store_uri, spool=str(spool)))
    start, complete = run_events()
    run_id = start["run"]["runId"]
    with caplog.at_level(logging.WARNING):
        assert transport.emit(start) is None
        result = transport.emit(complete)
    assert result is not None and result.status == "spooled"  # the task goes on
    assert "spooled" in caplog.text
    assert len(Outbox(spool).pending()) == 3  # two staged events and the bundle

    restore()
    report = Outbox(spool).flush()
    assert report.ok and report.delivered == 3
    store = open_store(store_uri)
    assert verify_bundle(store, run_id, trust_from_settings()).ok
    assert read_bundle(store, run_id).manifest.event_count == 2  # built from what this process saw
    assert Outbox(spool).flush().delivered == 0 and Outbox(spool).pending() == []
    assert indexed_runs(store) == [run_id]


def test_an_attachment_held_in_a_bytearray_is_spooled_and_delivered_as_its_bytes(outage, tmp_path: Path) -> None:
    """A row set in a bytearray, passed as a memoryview (staged in place, not copied), still reaches the bundle
    through the spool when the store is down: the same bytes and the same manifest digest."""
    from prov_common.bundle import rows_path
    from prov_common.hashing.raw import blake3_digest

    store_uri, restore = outage
    spool = tmp_path / "spool"
    transport = ProvenanceTransport(ProvenanceConfig(store=store_uri, spool=str(spool)))
    start, complete = run_events()
    run_id, path = start["run"]["runId"], rows_path("s3://lake", "clean/users")
    data = bytearray(b"row set " * 50_000)
    transport.emit(start)
    transport.attach(run_id, path, memoryview(data))
    assert transport.emit(complete).status == "spooled"
    assert len(Outbox(spool).pending()) == 5  # two staged events, the staged attachment, its signed record and the bundle

    restore()
    assert Outbox(spool).flush().ok
    store = open_store(store_uri)
    assert verify_bundle(store, run_id, trust_from_settings()).ok
    bundle = read_bundle(store, run_id)
    assert bundle.files[path] == bytes(data)
    assert bundle.manifest.by_path[path].digest == blake3_digest(bytes(data))


def test_next_emit_delivers_the_spool_first(outage, tmp_path: Path) -> None:
    store_uri, restore = outage
    transport = ProvenanceTransport(ProvenanceConfig(store=store_uri, spool=str(tmp_path / "spool")))
    first = run_events()
    for e in first:
        transport.emit(e)
    restore()
    second = run_events()
    for e in second:
        transport.emit(e)
    store = open_store(store_uri)
    assert sorted(indexed_runs(store)) == sorted(e[0]["run"]["runId"] for e in (first, second))
    assert Outbox(tmp_path / "spool").pending() == []


def test_strict_mode_fails_the_task_instead(outage, tmp_path: Path) -> None:
    store_uri, _ = outage
    transport = ProvenanceTransport(ProvenanceConfig(store=store_uri, spool=str(tmp_path / "spool"), strict=True))
    with pytest.raises(StoreUnavailableError):
        transport.emit(run_events()[0])
    assert Outbox(tmp_path / "spool").pending() == []


def test_a_spool_setting_that_names_no_local_folder_never_keeps_a_run_from_the_store(
        outage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A spool set to s3://... is refused where it is read; the transport read it on every write, so every run of an
    Airflow listener (or any plain transport) was dropped with the store up. It is delivered; while the store is
    down it is spooled in <TDPROV_HOME>/spool, with one warning naming the setting, and flushed from there."""
    from prov_common.store.outbox import SPOOL_SETTING_WARNED

    SPOOL_SETTING_WARNED.clear()
    store_uri, restore = outage
    home = tmp_path / "home"
    monkeypatch.setenv("TDPROV_HOME", str(home))
    down = ProvenanceTransport(ProvenanceConfig(store=store_uri, spool="s3://bucket/spool"))
    with caplog.at_level(logging.WARNING):
        for event in run_events():
            result = down.emit(event)
    assert result is not None and result.status == "spooled", result
    assert "'s3://bucket/spool'" in caplog.text and f"spooled in {home / 'spool'} instead" in caplog.text, caplog.text
    assert len(Outbox(home / "spool").pending()) == 3
    restore()
    assert Outbox(home / "spool").flush().delivered == 3
    up = ProvenanceTransport(ProvenanceConfig(store=store_uri, spool="s3://bucket/spool"))
    for event in run_events():
        result = up.emit(event)
    assert result is not None and result.status == "written", result
    assert len(indexed_runs(open_store(store_uri))) == 2


def test_a_run_s_start_deep_in_the_spool_is_sealed_with_its_end(outage, tmp_path: Path) -> None:
    """A run's START spooled behind more entries than a delivery flushes first (the outbox's flush_limit, 100): its
    FAIL, emitted by another process once the store was back, was sealed without it, and the START arrived in staging
    after the bundle, in none. The run's spooled events are delivered before it is sealed, whatever the limit (here
    lowered to 4 on the second process's outbox: the same path as the default's 100, a fraction of the requests)."""
    from prov_common.store import spool as spool_entries

    store_uri, restore = outage
    spool = tmp_path / "spool"
    for i in range(4 + 5):  # older entries of other runs, waiting from an earlier outage
        spool_entries.write_entry(spool, spool_entries.SpoolEntry(store_uri, ((f"staging/other/{i:03d}.json", b"{}"),)))
    start, fail = run_events(terminal="FAIL")
    run_id = start["run"]["runId"]
    assert ProvenanceTransport(ProvenanceConfig(store=store_uri, spool=str(spool))).emit(start) is None  # spooled
    restore()
    other = ProvenanceTransport(ProvenanceConfig(store=store_uri, spool=str(spool)))  # another process
    other.outbox.flush_limit = 4
    result = other.emit(fail)
    assert result is not None and result.status == "written"
    store = open_store(store_uri)
    events = parse_events_jsonl(read_bundle(store, run_id).files["events.jsonl"])
    assert [e["eventType"] for e in events] == ["START", "FAIL"]
    assert read_bundle(store, run_id).manifest.event_count == 2 and verify_bundle(store, run_id, trust_from_settings()).ok
    assert not Outbox(spool).holds(store.uri, under=f"staging/{run_id}/")


def test_a_run_s_start_that_a_flush_in_another_process_is_delivering_is_sealed_with_its_end(outage, tmp_path: Path) -> None:
    """The run's START, spooled in an outage, is being delivered by a flush in another process (claimed, its put slow)
    as the FAIL is emitted: the seal did not wait for it, so the bundle held the FAIL only and the START arrived after
    it. The seal waits (a bounded time) for a claim of the run's events held by a flusher that is alive."""
    from store_support import flush_in_process

    store_uri, restore = outage
    spool = tmp_path / "spool"
    start, fail = run_events(terminal="FAIL")
    run_id = start["run"]["runId"]
    assert ProvenanceTransport(ProvenanceConfig(store=store_uri, spool=str(spool))).emit(start) is None  # spooled
    restore()
    flusher = flush_in_process(spool, store_uri, lambda step: time.sleep(1.5) if step.startswith("put staging/") else None)
    deadline = time.monotonic() + 20
    while not any(CLAIM in p.name for p in spool.iterdir()):
        assert time.monotonic() < deadline and flusher.exitcode is None, "the flusher claimed nothing"
        time.sleep(0.01)
    result = ProvenanceTransport(ProvenanceConfig(store=store_uri, spool=str(spool))).emit(fail)  # another process
    flusher.join(30)
    assert flusher.exitcode == 0 and result is not None and result.status == "written"
    events = parse_events_jsonl(read_bundle(open_store(store_uri), run_id).files["events.jsonl"])
    assert [e["eventType"] for e in events] == ["START", "FAIL"]


def test_a_run_sealed_in_an_outage_does_not_try_the_store_again_for_its_spooled_events(outage, tmp_path: Path,
                                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A run whose terminal event was just spooled (the store is down) is sealed behind its spooled events, which the
    spool delivers first: delivering them before the seal would only wait for the store once more (a read timeout, in
    a store that hangs)."""
    store_uri, _ = outage
    flush, asked = Outbox.flush, []
    monkeypatch.setattr(Outbox, "flush", lambda self, *a, **kw: asked.append(kw.get("under")) or flush(self, *a, **kw))
    transport = ProvenanceTransport(ProvenanceConfig(store=store_uri, spool=str(tmp_path / "spool")))
    start, complete = run_events()
    assert transport.emit(start) is None and transport.emit(complete).status == "spooled"
    assert asked and [under for under in asked if under is not None] == []
    assert len(Outbox(tmp_path / "spool").pending()) == 3


def _start_spooled_beside_a_sealer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                   ) -> tuple[str, str, dict, ProvenanceTransport, ProvenanceTransport]:
    """A run whose RUNNING a sealer (spool ``spool-b``) staged in the local store ``s`` and whose START a writer (spool
    ``spool-a``) spooled while the store could not take it: the store's URI, the run id, its COMPLETE (not sent), the
    writer and the sealer."""
    from bundle_support import event
    from prov_common.store.local import LocalStore

    uri = str(tmp_path / "s")
    start, complete = run_events()
    run_id = start["run"]["runId"]
    writer = ProvenanceTransport(ProvenanceConfig(store=uri, spool=str(tmp_path / "spool-a")))
    sealer = ProvenanceTransport(ProvenanceConfig(store=uri, spool=str(tmp_path / "spool-b")))
    sealer.emit(event(run_id, "RUNNING", "2026-03-01T10:00:01Z"))
    with monkeypatch.context() as down:
        down.setattr(LocalStore, "put", lambda self, key, data: (_ for _ in ()).throw(StoreUnavailableError("down", fix="wait")))
        assert writer.emit(start) is None  # spooled
    return uri, run_id, complete, writer, sealer


def test_an_event_spooled_in_an_outage_and_delivered_after_another_process_sealed_its_run_is_named_late(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A START spooled while the store could not take it, delivered by 'tdprov flush' after another process sealed the
    run with its COMPLETE, was staged under its own time, before the sealing: in no bundle, and no audit named it. It is
    staged stamped when it was delivered (its signed bytes unchanged), warned about, and the audit names it late; a
    second delivery of the same entry puts it under the same key."""
    import json
    import shutil
    from datetime import datetime, timedelta, timezone

    from prov_common.audit.engine import run_audit
    from prov_common.audit.model import CHECK_UNFINISHED
    from prov_common.bundle.layout import parse_stamp
    from prov_common.bundle.staged import opened_event
    from prov_common.cli import main
    from prov_common.store import spool as spool_entries
    from prov_common.w3cprov.identity import iso_z

    start_stays = tmp_path / "kept"
    uri, run_id, complete, writer, sealer = _start_spooled_beside_a_sealer(tmp_path, monkeypatch)
    [entry] = writer.outbox.pending()
    shutil.copytree(entry.parent, start_stays, ignore=shutil.ignore_patterns("failed", ".*"))
    assert sealer.emit(complete).status == "written"  # another machine: its spool holds nothing of the run
    delivered = datetime.now(timezone.utc)
    with caplog.at_level(logging.WARNING, logger="prov_common"):
        assert main(["flush", "--spool", str(tmp_path / "spool-a")]) == 0
    store = open_store(uri)
    events = sorted(k for k in store.list(f"staging/{run_id}/") if k.count("/") == 2)
    stamps = [parse_stamp(k.rsplit("/", 1)[1].split("-", 1)[0]) for k in events]
    assert len(events) == 3 and stamps[-1] >= delivered, events  # the START, keyed when it arrived
    [(spooled_key, spooled)] = spool_entries.decode(next(start_stays.iterdir()).read_bytes(), "kept").objects
    assert spooled_key == f"staging/{run_id}/20260301T100000000000Z-{events[-1].rsplit('-', 1)[1]}"  # its own time
    assert store.get(events[-1]) == bytes(spooled)  # the same signed bytes: the seal's trust takes them
    assert json.loads(opened_event(store.get(events[-1]), trust_from_settings(), events[-1]))["eventType"] == "START"
    assert (f"run {run_id} was sealed before its START event timed 2026-03-01T10:00:00Z, spooled while the store could "
            f"not take it, was delivered; it is staged as {events[-1]}, stamped when it arrived") in caplog.text
    assert [e["eventType"] for e in parse_events_jsonl(read_bundle(store, run_id).files["events.jsonl"])] == [
        "RUNNING", "COMPLETE"]
    assert verify_bundle(store, run_id, trust_from_settings()).ok
    sealed_at = read_bundle(store, run_id).manifest.sealed_at
    audit = run_audit(store, stale_after=timedelta(0), report_dir=tmp_path / "report", progress=False)
    [finding] = audit.check(CHECK_UNFINISHED).findings
    until = events[-1].rsplit("/", 1)[1].split("-", 1)[0]
    assert finding.what == (f"run {run_id} was sealed at {sealed_at}, and 1 event was staged for it after that (until "
                            f"{iso_z(parse_stamp(until))}): they are in no bundle")
    for kept in start_stays.iterdir():  # the same entry delivered again (a flusher killed before it removed it)
        shutil.copy(kept, tmp_path / "spool-a" / kept.name)
    assert writer.outbox.flush(writer.store).delivered == 1
    assert sorted(k for k in store.list(f"staging/{run_id}/") if k.count("/") == 2) == events


def test_a_flush_asks_the_store_once_per_staged_event_of_a_run_not_sealed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A flush delivering a staged event from the spool asks whether its run is sealed (if so it is staged as arriving
    then: late.put_arrived). It asked first whether the event was there already: two requests per event, where for a run
    not sealed (the usual case) the statement alone tells. Now one each, and the events are staged under their own keys;
    an event of a sealed run already staged under its own key is still put as it is."""
    from prov_common.bundle import layout
    from prov_common.bundle.late import put_arrived
    from prov_common.bundle.restaged import staged_already
    from prov_common.bundle.transport import staged_event_key
    from prov_common.canonical_json import canonical_bytes
    from prov_common.store.local import LocalStore
    from prov_common.store.spool import SpoolEntry, write_entry

    store, spool = open_store(tmp_path / "s"), tmp_path / "spool"
    spool.mkdir()
    events = run_events()
    run_id = events[0]["run"]["runId"]
    staged = tuple((staged_event_key(e), canonical_bytes(e)) for e in events)
    asked: list[str] = []
    exists = LocalStore.exists
    monkeypatch.setattr(LocalStore, "exists", lambda self, key: asked.append(key) or exists(self, key))
    write_entry(spool, SpoolEntry(store.uri, staged))
    assert Outbox(spool, arrival=put_arrived, same=staged_already).flush(store).ok
    statement = layout.bundle_key(run_id, layout.STATEMENT_FILE)
    assert asked == [statement, statement], asked
    assert sorted(store.list(layout.staging_prefix(run_id))) == sorted(k for k, _ in staged)
    store.put(statement, b"sealed")  # a sealed run: the event there already under its own key is not staged again
    asked.clear()
    write_entry(spool, SpoolEntry(store.uri, staged[:1]))
    assert Outbox(spool, arrival=put_arrived, same=staged_already).flush(store).ok
    assert asked == [statement, staged[0][0]], asked
    assert sorted(store.list(layout.staging_prefix(run_id))) == sorted(k for k, _ in staged)


def test_an_event_delivered_late_by_a_flusher_whose_clock_runs_behind_the_sealers_is_keyed_after_the_sealing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A START spooled in an outage and delivered after another process sealed its run was keyed at the flusher's
    'now', never before its own time: a flusher whose clock runs an hour behind the sealer's keyed it before the
    sealing, and the audit, which names staged events timed after the sealing, named nothing. It is keyed no earlier
    than the first microsecond after the run's sealedAt."""
    from datetime import datetime, timedelta

    from prov_common.audit.engine import run_audit
    from prov_common.audit.model import CHECK_UNFINISHED
    from prov_common.bundle.layout import parse_stamp
    from prov_common.cli import main
    from prov_common.store import latekey
    from prov_common.w3cprov.identity import iso_z, moment

    class HourBehind(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[override]
            return datetime.now(tz) - timedelta(hours=1)

    uri, run_id, complete, writer, sealer = _start_spooled_beside_a_sealer(tmp_path, monkeypatch)
    assert sealer.emit(complete).status == "written"
    monkeypatch.setattr(latekey, "datetime", HourBehind)  # the flushing machine's clock
    assert main(["flush", "--spool", str(tmp_path / "spool-a")]) == 0
    store = open_store(uri)
    sealed_at = read_bundle(store, run_id).manifest.sealed_at
    stamps = sorted(parse_stamp(k.rsplit("/", 1)[1].split("-", 1)[0]) for k in store.list(f"staging/{run_id}/")
                    if k.count("/") == 2)
    assert [iso_z(m) for m in stamps] == ["2026-03-01T10:00:01Z", "2026-03-01T10:00:05Z",  # RUNNING, COMPLETE, START
                                          iso_z(moment(sealed_at) + timedelta(microseconds=1))]
    audit = run_audit(store, stale_after=timedelta(0), report_dir=tmp_path / "report", progress=False)
    [finding] = audit.check(CHECK_UNFINISHED).findings
    assert finding.run_id == run_id and f"was sealed at {sealed_at}, and 1 event was staged for it after that" in finding.what


def test_an_attachment_spooled_in_an_outage_and_delivered_after_another_process_sealed_its_run_is_named_by_the_audit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """An attachment (and its signed record) spooled while the store could not take it, delivered by 'tdprov flush'
    after another process sealed the run, landed under staging/<run>/attachments/: in no bundle, and no audit named it.
    Every audit names it, with its size and digest, and the flush warns about it once, as about a late event (it said
    nothing); an attachment planted unsigned before the seal, which the seal
    refused (named under the bundle's refused/), is not named again as late; the bundle still verifies."""
    from datetime import timedelta

    from bundle_support import raw_put
    from prov_common.audit.engine import run_audit
    from prov_common.audit.model import CHECK_UNFINISHED
    from prov_common.bundle import samples_path
    from prov_common.cli import main
    from prov_common.hashing.raw import blake3_digest
    from prov_common.store.local import LocalStore

    uri = str(tmp_path / "s")
    start, complete = run_events()
    run_id = start["run"]["runId"]
    path = samples_path("s3://lake", "clean/users")
    writer = ProvenanceTransport(ProvenanceConfig(store=uri, spool=str(tmp_path / "spool-a")))
    sealer = ProvenanceTransport(ProvenanceConfig(store=uri, spool=str(tmp_path / "spool-b")))
    sealer.emit(start)
    with monkeypatch.context() as down:
        down.setattr(LocalStore, "put", lambda self, key, data: (_ for _ in ()).throw(StoreUnavailableError("down", fix="wait")))
        writer.attach(run_id, path, b"failure samples, late")
    assert len(writer.outbox.pending()) == 2  # the attachment and its signed record
    raw_put(uri, f"staging/{run_id}/attachments/extra/planted.bin", b"PLANTED")
    assert sealer.emit(complete).status == "written"
    with caplog.at_level(logging.WARNING, logger="prov_common"):
        assert main(["flush", "--spool", str(tmp_path / "spool-a")]) == 0
    store = open_store(uri)
    late = f"staging/{run_id}/attachments/{path}"
    assert [r.getMessage() for r in caplog.records if "was sealed before" in r.getMessage()] == [
        f"tdprov: run {run_id} was sealed before its attachment {path} (21 bytes), spooled while the store could not take "
        f"it, was delivered; it is staged as {late} in no bundle (the audit names it). Fix: re-run the step to record what "
        "the run's bundle lacks"]
    assert store.get(late) == b"failure samples, late"
    bundle = read_bundle(store, run_id)
    assert path not in bundle.files and verify_bundle(store, run_id, trust_from_settings()).ok
    sealed_at = bundle.manifest.sealed_at
    for audit_dir in ("first", "second"):  # named by every audit, as late events are
        audit = run_audit(store, stale_after=timedelta(0), report_dir=tmp_path / audit_dir, progress=False)
        [finding] = [f for f in audit.check(CHECK_UNFINISHED).findings if "in no bundle" in f.what]
        assert finding.run_id == run_id and finding.object == f"staging/{run_id}/attachments/"
        assert finding.what == (f"run {run_id} was sealed at {sealed_at}, and 1 attachment staged for it is in no bundle "
                                f"(staged after the sealing): {late} (21 bytes, {blake3_digest(b'failure samples, late')})")
        assert "re-run the step to record it" in finding.fix


def _held_staging(monkeypatch: pytest.MonkeyPatch, path: Path) -> tuple[threading.Event, threading.Event]:
    """Make the transport open the local store at ``path`` as one whose staging writes are held: the first sets
    ``held`` and every one waits for ``release`` (at most 30 s) before it is put."""
    from prov_common.bundle import transport as core
    from prov_common.store.local import LocalStore

    held, release = threading.Event(), threading.Event()

    class HeldStaging(LocalStore):
        def put(self, key: str, data: bytes) -> None:  # type: ignore[override]
            if key.startswith("staging/"):
                held.set()
                release.wait(30)  # held until the test has settled
            return super().put(key, data)

    monkeypatch.setattr(core, "open_store", lambda *_, **__: HeldStaging(path))
    return held, release


def test_writes_still_under_way_when_a_process_settles_are_spooled_named_and_delivered(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """``settle`` (a process's end: Airflow's ``before_stopping``) with the START's write held in the store past the
    bound and the COMPLETE not begun: the START's delivery is spooled as it is, the COMPLETE done again into the spool
    (its staged event and the whole bundle), one warning names both writes and the spool; a flush delivers it all,
    and the bundle holds both events and verifies."""
    from prov_common.bundle import transport as core

    path, spool = tmp_path / "store", tmp_path / "spool"
    held, release = _held_staging(monkeypatch, path)
    transport = ProvenanceTransport(ProvenanceConfig(store=str(path), spool=str(spool), timeout=0.2))
    start, complete = run_events()
    run_id = start["run"]["runId"]
    with caplog.at_level(logging.WARNING):
        assert transport.emit(start) is None and held.wait(30)  # after its 0.2 s, its staging held
        assert transport.emit(complete) is None  # after its 0.2 s, not begun
        assert transport.settle(0.3) == [f"the START event of run {run_id}", f"the COMPLETE event of run {run_id}"]
    assert (f"2 writes still under way after 0.3s as this process ends (the START event of run {run_id}; the COMPLETE "
            f"event of run {run_id}): handed to the outbox in {spool}") in caplog.text
    assert not list(path.glob("staging/*/*.json"))  # the START is still held
    assert len(Outbox(spool).pending()) == 3  # the START as it was being put; the COMPLETE, and the bundle
    release.set()
    monkeypatch.setattr(core, "open_store", open_store)
    assert ProvenanceTransport(ProvenanceConfig(store=str(path), spool=str(spool))).outbox.flush(open_store(str(path))).ok
    store = open_store(str(path))
    assert indexed_runs(store) == [run_id]
    assert verify_bundle(store, run_id, trust_from_settings()).ok
    assert [e["eventType"] for e in parse_events_jsonl(read_bundle(store, run_id).files["events.jsonl"])] == [
        "START", "COMPLETE"]


def test_writes_a_process_settles_before_their_bound_are_spooled_and_their_callers_return(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """``settle`` while ``emit``'s callers still wait within their bound (30 s here; a ``flush_timeout`` below the
    transport's ``timeout``): the writes are named and spooled as for those past the bound (they were in no list, so
    a process ending with ``os._exit`` lost them), and the caller of the write not begun returns at once."""
    from prov_common.bundle import transport as core

    path, spool = tmp_path / "store", tmp_path / "spool"
    held, release = _held_staging(monkeypatch, path)
    transport = ProvenanceTransport(ProvenanceConfig(store=str(path), spool=str(spool), timeout=30))
    start, complete = run_events()
    run_id = start["run"]["runId"]
    callers = [threading.Thread(target=transport.emit, args=(event,)) for event in (start, complete)]
    callers[0].start()
    assert held.wait(30)
    callers[1].start()
    time.sleep(0.2)  # the COMPLETE's caller waits behind the START
    with caplog.at_level(logging.DEBUG):
        assert transport.settle(0.1) == [f"the START event of run {run_id}", f"the COMPLETE event of run {run_id}"]
        callers[1].join(5)
        assert not callers[1].is_alive()  # returned: its write was not begun, and is done again into the outbox
    assert "could not deliver" not in caplog.text and "Traceback" not in caplog.text
    assert len(Outbox(spool).pending()) == 3  # the START as it was being put; the COMPLETE, and the bundle
    release.set()
    callers[0].join(30)
    monkeypatch.setattr(core, "open_store", open_store)
    assert ProvenanceTransport(ProvenanceConfig(store=str(path), spool=str(spool))).outbox.flush(open_store(str(path))).ok
    store = open_store(str(path))
    assert indexed_runs(store) == [run_id]
    assert [e["eventType"] for e in parse_events_jsonl(read_bundle(store, run_id).files["events.jsonl"])] == [
        "START", "COMPLETE"]


READ_TIMEOUT = 1.5  # seconds each call to the hung store waits for an answer


def test_a_transport_closed_in_an_outage_waits_one_call_s_timeout_and_spools_the_rest_named(
        s3_server, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """``close`` with five events of three runs queued behind a store that stopped answering (it takes connections,
    never answers): once a call timed out, the store is known not to answer, and the events still queued go to the
    spool at once, each named, instead of each waiting its own timeouts in turn (29.5 s here, with 1.5 s read
    timeouts). Nothing is lost: a flush once the store answers stages each event exactly once and seals every run."""
    from s3_proxy import HangingProxy

    from prov_common.bundle import layout

    proxy = HangingProxy(("127.0.0.1", int(s3_server.endpoint.rsplit(":", 1)[1])))
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", proxy.endpoint)
    store_uri, spool = f"s3://{s3_bucket}/prov", tmp_path / "spool"
    try:
        runs = [run_events() for _ in range(3)]
        for name, value in (("TDPROV_STORE_CONNECT_TIMEOUT", "1"), ("TDPROV_STORE_READ_TIMEOUT", str(READ_TIMEOUT)),
                            ("TDPROV_STORE_MAX_ATTEMPTS", "1")):
            monkeypatch.setenv(name, value)
        transport = ProvenanceTransport(ProvenanceConfig(store=store_uri, spool=str(spool), timeout=0.05))
        transport.emit(runs[0][0])  # answered: the store's identity and client are had
        assert transport.settle(30) == []
        proxy.hang()
        queued = [e for run in runs[1:] for e in run] + [runs[0][1]]
        with caplog.at_level(logging.WARNING):
            for event in queued:
                assert transport.emit(event) is None  # each returns after its 0.05 s, its write left queued
            began = time.monotonic()
            closed = transport.close(60)
            took = time.monotonic() - began
        assert took < 2 * READ_TIMEOUT + 2.0, f"close took {took:.1f}s"
        assert closed is False  # the writes left are named and spooled
        [said] = [r.getMessage() for r in caplog.records if "still under way" in r.getMessage()]
        for event in queued:
            assert f"the {event['eventType']} event of run {event['run']['runId']}" in said
        assert f"handed to the outbox in {spool}" in said
    finally:
        proxy.resume()
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server.endpoint)
    for name in ("TDPROV_STORE_CONNECT_TIMEOUT", "TDPROV_STORE_READ_TIMEOUT", "TDPROV_STORE_MAX_ATTEMPTS"):
        monkeypatch.delenv(name, raising=False)
    proxy.close()
    store, outbox = open_store(store_uri), ProvenanceTransport(ProvenanceConfig(store=store_uri, spool=str(spool))).outbox
    deadline = time.monotonic() + 30  # the call that was under way as the store stopped spools its rest once it fails
    while outbox.pending() and time.monotonic() < deadline:
        assert outbox.flush(store).ok
        time.sleep(0.2)
    assert outbox.pending() == []
    for run in runs:
        run_id = run[0]["run"]["runId"]
        staged = [k for k in store.list(layout.staging_prefix(run_id)) if k.endswith(".json")]
        assert len(staged) == 2, staged  # its START and COMPLETE, each once
        assert verify_bundle(store, run_id, trust_from_settings()).ok
        assert [e["eventType"] for e in parse_events_jsonl(read_bundle(store, run_id).files["events.jsonl"])] == [
            "START", "COMPLETE"]
    assert sorted(indexed_runs(store)) == sorted(run[0]["run"]["runId"] for run in runs)


def _transport_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "tdprov-transport"]


def test_each_end_shuts_its_worker_down_once_its_work_is_done(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``end`` (a process's end, or ``close`` with writes left) hands the work left to a new worker thread: the one it
    replaces ends once what it does is done, so a process that ends many transports keeps no idle thread per end; a
    close whose write is held still returns within its bound, and the held thread ends once the write is let go."""
    before = len(_transport_threads())
    store = tmp_path / "store"
    for _ in range(5):  # a long-lived process: a transport per run, each ended
        transport = ProvenanceTransport(ProvenanceConfig(store=str(store), spool=str(tmp_path / "spool")))
        start, complete = run_events()
        assert transport.emit(start) is None and transport.emit(complete).status == "written"
        transport.end(1.0)
    deadline = time.monotonic() + 5
    while len(_transport_threads()) > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(_transport_threads()) == before

    held, release = _held_staging(monkeypatch, tmp_path / "held")
    transport = ProvenanceTransport(ProvenanceConfig(store=str(tmp_path / "held"), spool=str(tmp_path / "spool"), timeout=0.1))
    assert transport.emit(run_events()[0]) is None and held.wait(30)
    [holding] = [thread for thread in _transport_threads() if thread.is_alive()][before:]
    began = time.monotonic()
    assert transport.close(0.3) is False  # the held write is spooled and named
    assert time.monotonic() - began < 2.0
    assert holding.is_alive()  # still held: never waited for beyond the bound
    release.set()
    holding.join(10)
    assert not holding.is_alive()
    assert len(_transport_threads()) == before


_CLOSED_AND_ENDED = """
import json, logging, os, sys
logging.basicConfig(level=logging.WARNING, format="%(message)s")
from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport
store, spool, (start, complete) = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
transport = ProvenanceTransport(ProvenanceConfig(store=store, spool=spool, timeout=0.05))
transport.emit(start)
assert transport.settle(30) == []
print("ready", flush=True)
sys.stdin.readline()  # the store stops answering
transport.emit(complete)
print("closed", transport.close(60), flush=True)
sys.stderr.flush()
os._exit(0)  # at once, as Airflow's task process ends
"""


def test_a_process_ending_right_after_a_close_in_an_outage_loses_no_event_and_names_the_seal_left(
        s3_server, s3_bucket: str, tmp_path: Path) -> None:
    """A process closes its transport while the store has stopped answering (a proxy that takes connections and never
    answers), with a run's COMPLETE being staged, and ends at once: the close hands the COMPLETE to the outbox as it
    was being put, but the run's seal, done after that call in the thread the store holds, never happens. The warning
    names that run and the command that seals it; with the store back, the flush stages the COMPLETE (no event lost)
    and that command seals the run, its bundle verifying with its START and COMPLETE."""
    import json
    import os
    import subprocess
    import sys

    from s3_proxy import HangingProxy

    from prov_common.bundle import layout

    proxy = HangingProxy(("127.0.0.1", int(s3_server.endpoint.rsplit(":", 1)[1])))
    store_uri, spool = f"s3://{s3_bucket}/prov", tmp_path / "spool"
    start, complete = run_events()
    run_id = start["run"]["runId"]
    env = {**os.environ, "AWS_ENDPOINT_URL_S3": proxy.endpoint, "TDPROV_STORE_CONNECT_TIMEOUT": "1",
           "TDPROV_STORE_READ_TIMEOUT": str(READ_TIMEOUT), "TDPROV_STORE_MAX_ATTEMPTS": "1"}
    child = subprocess.Popen([sys.executable, "-c", _CLOSED_AND_ENDED, store_uri, str(spool), json.dumps([start, complete])],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
        proxy.hang()
        out, err = child.communicate("\n", timeout=120)
    finally:
        child.kill()
        proxy.close()
    assert child.returncode == 0 and out == "closed False\n", err
    [said] = [line for line in err.splitlines() if "still under way" in line]
    assert f"the COMPLETE event of run {run_id}" in said
    assert (f"the seal of run {run_id} is left to the thread of its COMPLETE event, handed to the outbox as it was being "
            f"staged: if this process ends first, run 'tdprov store seal --store {store_uri} {run_id}' after the flush"
            ) in said
    store = open_store(store_uri)
    transport = ProvenanceTransport(ProvenanceConfig(store=store_uri, spool=str(spool)))
    assert transport.outbox.flush(store).ok and transport.outbox.pending() == []
    staged = [k for k in store.list(layout.staging_prefix(run_id)) if k.endswith(".json")]
    assert len(staged) == 2, staged  # its START and COMPLETE: nothing lost
    assert indexed_runs(store) == []  # the seal was left, as the warning said
    assert transport.seal(run_id).status == "written"
    assert verify_bundle(store, run_id, trust_from_settings()).ok
    assert [e["eventType"] for e in parse_events_jsonl(read_bundle(store, run_id).files["events.jsonl"])] == [
        "START", "COMPLETE"]
