"""Outbox: an unavailable store spools, flush delivers exactly once, crashes and races are harmless."""
from __future__ import annotations

import errno
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mount_support import small_tmpfs
from prov_common.config import Settings
from prov_common.errors import BadInputError, ObjectConflictError, StoreUnavailableError
from prov_common.store import Outbox, SpoolError, open_store
from prov_common.store.outbox import CLAIM, default_spool_dir

from store_support import folder_fsync_fails, run_processes

BUNDLE = [("runs/r1/events.jsonl", b'{"e":1}\n'), ("runs/r1/prov.json", b"{}"), ("runs/r1/manifest.json", b'{"m":1}')]


def _bundle(run: str) -> list[tuple[str, bytes]]:
    return [(k.replace("r1", run), v + run.encode()) for k, v in BUNDLE]


def _dead_pid() -> int:
    proc = multiprocessing.get_context("fork").Process(target=os._exit, args=(0,))
    proc.start()
    proc.join()
    return proc.pid


def _back_up(s3_server, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the environment back at the working server, with the default time bounds."""
    s3_server.point(monkeypatch)
    for name in ("TDPROV_STORE_CONNECT_TIMEOUT", "TDPROV_STORE_READ_TIMEOUT", "TDPROV_STORE_MAX_ATTEMPTS"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("kind", ["closed", "503 SlowDown", "hang"])
def test_store_down_spools_and_flush_delivers_exactly_once(s3_server, s3_fault, monkeypatch, tmp_path: Path,
                                                           kind: str) -> None:
    bucket = s3_server.create_bucket()
    uri = s3_fault(kind, bucket)
    if kind == "hang":  # it never answers: any read bound shows that; each put also waits 1 s for 100-continue
        monkeypatch.setenv("TDPROV_STORE_READ_TIMEOUT", "0.1")
    down = open_store(uri)
    outbox = Outbox(tmp_path / "spool")
    result = outbox.deliver(down, BUNDLE)
    assert result.spooled and result.delivered == 0 and result.error
    assert outbox.pending() == [result.spool_entry]
    with pytest.raises(StoreUnavailableError):
        outbox.deliver(down, _bundle("r2"), strict=True)
    assert len(outbox.pending()) == 1  # strict mode spools nothing

    _back_up(s3_server, monkeypatch)  # the endpoint is back: the entry names its store, flush reopens it
    report = outbox.flush()
    assert report.ok and (report.delivered, report.objects, report.written) == (1, 3, 3)
    up = open_store(down.uri)
    assert [(k, up.get(k)) for k in up.list()] == sorted(BUNDLE)
    assert outbox.pending() == [] and os.listdir(outbox.spool_dir) == []
    assert outbox.flush().delivered == 0
    assert s3_server.client().list_objects_v2(Bucket=bucket)["KeyCount"] == 3  # delivered once, nothing else


def test_stopped_moto_server_then_restarted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real server goes away and comes back on the same port; the next deliver flushes the spool first."""
    from moto.server import ThreadedMotoServer

    from conftest import S3Server, free_port, s3_env

    port = free_port()
    env = s3_env(f"http://127.0.0.1:{port}", tmp_path)
    env.update(TDPROV_STORE_CONNECT_TIMEOUT="1", TDPROV_STORE_MAX_ATTEMPTS="1")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    bucket = S3Server(f"http://127.0.0.1:{port}", env).create_bucket()
    store, outbox = open_store(f"s3://{bucket}/p"), Outbox(tmp_path / "spool")
    assert outbox.deliver(store, _bundle("r1")).ok
    server.stop()
    spooled = [outbox.deliver(store, _bundle(f"r{i}")) for i in (2, 3)]
    assert all(r.spooled for r in spooled) and len(outbox.pending()) == 2
    assert spooled[1].flush is not None and spooled[1].flush.left == 1  # tried the backlog first, once
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        result = outbox.deliver(store, _bundle("r4"))
        assert result.ok and result.flush.delivered == 2 and result.written == 3
        keys = list(store.list())
        assert keys == sorted(k for r in (1, 2, 3, 4) for k, _ in _bundle(f"r{r}")) and len(set(keys)) == 12
        assert outbox.pending() == []
    finally:
        server.stop()


def test_crash_between_put_and_spool_removal_redelivers_harmlessly(store_uri: str, tmp_path: Path) -> None:
    store, outbox = open_store(store_uri), Outbox(tmp_path / "spool")
    from prov_common.store import spool

    entry = spool.write_entry(outbox.spool_dir, spool.SpoolEntry(store.uri, tuple(BUNDLE)))
    # a flusher claimed the entry, put every object, and was killed before removing the entry
    claimed = entry.with_name(f"{entry.name}{CLAIM}{_dead_pid()}-1")
    os.rename(entry, claimed)
    for key, data in BUNDLE:
        store.put(key, data)
    report = outbox.flush(store)
    assert report.ok and (report.delivered, report.objects, report.written) == (1, 3, 0)
    assert list(store.list()) == sorted(k for k, _ in BUNDLE) and os.listdir(outbox.spool_dir) == []


def test_claims_of_live_flushers_are_left_alone(tmp_path: Path) -> None:
    store, outbox = open_store(tmp_path / "store"), Outbox(tmp_path / "spool")
    from prov_common.store import spool

    entry = spool.write_entry(outbox.spool_dir, spool.SpoolEntry(store.uri, tuple(BUNDLE)))
    claimed = entry.with_name(f"{entry.name}{CLAIM}{os.getppid()}-{__import__('time').time_ns()}")
    os.rename(entry, claimed)
    report = outbox.flush(store)
    assert report.delivered == 0 and claimed.exists() and list(store.list()) == []


def test_holds_sees_entries_claimed_by_a_live_or_a_killed_flusher(tmp_path: Path) -> None:
    """An entry a flush claimed and has not delivered is not in the store yet: holds said nothing waits for its keys,
    so a Dagster retry or the failure sensor added a START of its own beside the one on its way."""
    from prov_common.store import spool

    store, outbox = open_store(tmp_path / "store"), Outbox(tmp_path / "spool")
    entry = spool.write_entry(outbox.spool_dir, spool.SpoolEntry(store.uri, tuple(_bundle("r1"))))
    for pid in (os.getppid(), _dead_pid()):  # a flusher in another process, one killed before it delivered the entry
        claimed = entry.with_name(f"{entry.name}{CLAIM}{pid}-{__import__('time').time_ns()}")
        os.rename(entry, claimed)
        assert outbox.pending() == [] and outbox.holds(store.uri, under="runs/r1/") and outbox.holds(store.uri)
        assert not outbox.holds(store.uri, under="runs/r2/") and not outbox.holds("s3://other/p")
        os.rename(claimed, entry)


def test_holds_reads_each_waiting_entry_s_header_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Dagster retry asks ``holds`` three times per earlier attempt (sealed, staged, staged end) and each seal once:
    every call read the header of every entry waiting (40 ms of CPU a call with 2,000 entries). An entry never changes
    once it has its name, so its header is read once while it waits, claimed or not; a new entry is read as it comes."""
    from prov_common.store import spool

    store, outbox = open_store(tmp_path / "store"), Outbox(tmp_path / "spool")
    entries = [spool.write_entry(outbox.spool_dir, spool.SpoolEntry(store.uri, tuple(_bundle(f"r{i}")))) for i in range(5)]
    read: list[str] = []
    read_store_and_keys = spool.read_store_and_keys
    monkeypatch.setattr(spool, "read_store_and_keys", lambda path: read.append(path.name) or read_store_and_keys(path))
    assert not outbox.holds(store.uri, under="runs/r9/") and not outbox.holds(store.uri, under="runs/r9/")
    assert sorted(read) == sorted(e.name for e in entries)
    os.rename(entries[2], entries[2].with_name(f"{entries[2].name}{CLAIM}{os.getpid()}-{__import__('time').time_ns()}"))
    added = spool.write_entry(outbox.spool_dir, spool.SpoolEntry(store.uri, tuple(_bundle("r9"))))
    assert outbox.holds(store.uri, under="runs/r2/") and outbox.holds(store.uri, under="runs/r9/")
    assert sorted(read) == sorted([*(e.name for e in entries), added.name])
    added.unlink()
    assert not outbox.holds(store.uri, under="runs/r9/") and outbox.holds(store.uri, under="runs/r4/")


def test_holds_lists_the_spool_folder_again_only_once_it_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every Dagster write's metadata asks ``holds`` whether records wait for its store: each call listed the whole
    spool folder (about 8 ms a call with 2,000 entries, 20-36 ms under load). A listing is taken again only once the
    folder changed (its modification time), and an answer is worked out once per listing; an entry added, claimed or
    removed is seen at the next call, and a folder changed just before its listing is listed again (a change in the
    same clock tick would keep its time)."""
    import time

    from prov_common.store import spool

    store, outbox = open_store(tmp_path / "store"), Outbox(tmp_path / "spool")
    first = spool.write_entry(outbox.spool_dir, spool.SpoolEntry(store.uri, tuple(_bundle("r1"))))
    listings: list[Path] = []
    listing = spool.listing
    monkeypatch.setattr(spool, "listing", lambda folder: listings.append(folder) or listing(folder))

    def settle() -> None:  # the folder's last change well before the next listing
        past = time.time_ns() - 10 * 10**9
        os.utime(outbox.spool_dir, ns=(past, past))

    assert outbox.holds(store.uri) and outbox.holds(store.uri) and len(listings) == 2  # just changed: listed each time
    settle()
    assert outbox.holds(store.uri) and not outbox.holds(store.uri, under="runs/r2/") and len(listings) == 3
    assert outbox.holds(store.uri) and not outbox.holds(store.uri, under="runs/r2/") and len(listings) == 3  # kept
    added = spool.write_entry(outbox.spool_dir, spool.SpoolEntry(store.uri, tuple(_bundle("r2"))))
    assert outbox.holds(store.uri, under="runs/r2/") and len(listings) == 4
    settle()
    assert outbox.holds(store.uri, under="runs/r2/") and outbox.holds(store.uri, under="runs/r1/") and len(listings) == 5
    claimed = added.with_name(f"{added.name}{CLAIM}{os.getpid()}-{time.time_ns()}")
    os.rename(added, claimed)  # a flush elsewhere claims it: it waits still
    assert outbox.holds(store.uri, under="runs/r2/") and len(listings) == 6
    claimed.unlink()  # delivered
    assert not outbox.holds(store.uri, under="runs/r2/") and len(listings) == 7
    settle()
    assert not outbox.holds(store.uri, under="runs/r2/") and outbox.holds(store.uri, under="runs/r1/") and len(listings) == 8
    first.unlink()
    assert not outbox.holds(store.uri) and not outbox.holds(store.uri, under="runs/r1/") and len(listings) == 10
    settle()
    assert not outbox.holds(store.uri) and not outbox.holds(store.uri) and len(listings) == 11  # kept: nothing changed
    outbox.spool_dir.rmdir()
    assert not outbox.holds(store.uri) and not outbox.holds(store.uri) and len(listings) == 13  # no folder: listed


def test_a_delivery_lists_the_spool_folder_once_to_know_whether_a_backlog_waits(tmp_path: Path,
                                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Every delivery asks whether entries, claims or unfinished entries wait: it listed the folder for each (three
    listings per delivery with none waiting), now once; a waiting claim is still found from that listing."""
    store, outbox = open_store(tmp_path / "store"), Outbox(tmp_path / "spool")
    outbox.spool_dir.mkdir()
    listed: list[Path] = []
    iterdir = Path.iterdir
    monkeypatch.setattr(Path, "iterdir", lambda self: listed.append(self) or iterdir(self))
    assert outbox.deliver(store, _bundle("r1")).ok
    assert listed == [outbox.spool_dir]
    (outbox.spool_dir / f"e.spool{CLAIM}{os.getpid()}-{__import__('time').time_ns()}").write_bytes(b"")
    assert outbox.deliver(store, _bundle("r2")).flush is not None  # a claim waits: the delivery flushes first


def test_a_delivery_flushes_first_only_what_waits_for_it_and_lists_the_spool_again_only_once_it_changed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every staged event is a delivery, and each listed the whole spool folder and, with entries of another store
    waiting (an outage of that store), flushed: a listing and a header read per entry, about 50 ms a delivery with
    2,000 of them. A delivery now flushes first only when an entry for its store waits, an entry is damaged or a killed
    writer left one unfinished, from the folder's kept listing: a new entry is seen at once, and a ``.tmp-`` entry whose
    writer is killed after the listing is set aside by the next delivery without listing again."""
    import subprocess
    import time

    from prov_common.store import spool

    store, outbox = open_store(tmp_path / "store"), Outbox(tmp_path / "spool")
    for run in ("o1", "o2", "o3"):
        spool.write_entry(outbox.spool_dir, spool.SpoolEntry("s3://unused/p", tuple(_bundle(run))))
    listings: list[Path] = []
    listing = spool.listing
    monkeypatch.setattr(spool, "listing", lambda folder: (folder == outbox.spool_dir and listings.append(folder))
                        or listing(folder))  # (not failed/'s)

    def settle() -> None:  # the folder's last change well before the next listing
        past = time.time_ns() - 10 * 10**9
        os.utime(outbox.spool_dir, ns=(past, past))

    settle()
    for run in ("r1", "r2", "r3"):  # the other store's entries wait for it: no flush, one listing for all three
        result = outbox.deliver(store, _bundle(run))
        assert result.ok and result.flush is None and len(listings) == 1
    writer = subprocess.Popen(["sleep", "60"])
    try:
        unfinished = outbox.spool_dir / f".tmp-{time.time_ns():020d}-{writer.pid}-ab{spool.SUFFIX}"
        unfinished.write_bytes(b"half")
        assert outbox.deliver(store, _bundle("r4")).flush is None and len(listings) == 2  # being written: not a backlog
        settle()
        assert outbox.deliver(store, _bundle("r5")).flush is None and len(listings) == 3
    finally:
        writer.kill()
        writer.wait()
    result = outbox.deliver(store, _bundle("r6"))  # its writer is gone: set aside from the kept listing
    assert result.flush is not None and (result.flush.delivered, result.flush.failed) == (0, 1) and len(listings) == 4
    assert not unfinished.exists() and [a.path.name for a in outbox.set_aside_entries()] == [unfinished.name[5:]]
    settle()
    assert outbox.deliver(store, _bundle("r7")).flush is None and len(listings) == 5
    assert outbox.deliver(store, _bundle("r8")).flush is None and len(listings) == 5
    waiting = spool.write_entry(outbox.spool_dir, spool.SpoolEntry(store.uri, tuple(_bundle("w1"))))
    result = outbox.deliver(store, _bundle("r9"))  # an entry of its own store, just written: delivered first
    assert result.flush is not None and (result.flush.delivered, result.flush.failed) == (1, 0) and not waiting.exists()
    (outbox.spool_dir / f"{time.time_ns():020d}-1-ab{spool.SUFFIX}").write_bytes(b"not a header\n")
    result = outbox.deliver(store, _bundle("r10"))  # a damaged entry, of no store one can tell: set aside
    assert result.flush is not None and (result.flush.delivered, result.flush.failed) == (0, 1)
    runs = ("r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "w1", "r9", "r10")
    assert sorted(store.list("")) == sorted(key for run in runs for key, _ in _bundle(run))
    assert [len(p.name) for p in outbox.pending()] == [len(spool.entry_name())] * 3  # the other store's, still waiting


def test_a_flush_lists_the_spool_folder_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A flush gives back a dead flusher's claim, sets aside an entry its killed writer left unfinished and delivers
    the entries, from one listing of the folder (it listed it once for each, three times); the claim given back is
    delivered by the same flush."""
    from prov_common.store import spool

    store, outbox = open_store(tmp_path / "store"), Outbox(tmp_path / "spool")
    waiting = spool.write_entry(outbox.spool_dir, spool.SpoolEntry(store.uri, tuple(_bundle("r1"))))
    claimed = spool.write_entry(outbox.spool_dir, spool.SpoolEntry(store.uri, tuple(_bundle("r2"))))
    os.rename(claimed, claimed.with_name(f"{claimed.name}{CLAIM}{_dead_pid()}-1"))
    (outbox.spool_dir / f".tmp-{waiting.name.split('-')[0]}-{_dead_pid()}-ab{spool.SUFFIX}").write_bytes(b"half")
    listed: list[Path] = []
    iterdir = Path.iterdir
    monkeypatch.setattr(Path, "iterdir", lambda self: listed.append(self) or iterdir(self))
    report = outbox.flush(store)
    assert listed == [outbox.spool_dir]
    assert (report.delivered, report.failed, report.left) == (2, 1, 0)
    assert sorted(store.list("")) == sorted(key for run in ("r1", "r2") for key, _ in _bundle(run))


def _flush_worker(spool_dir: str, store_uri: str, results) -> None:
    report = Outbox(spool_dir).flush(open_store(store_uri))
    results.put((report.delivered, report.failed, report.left))


def test_concurrent_flushers_deliver_each_entry_once(tmp_path: Path) -> None:
    store = open_store(tmp_path / "store")
    down = open_store("s3://unused/p")
    spool_dir = tmp_path / "spool"
    from prov_common.store import spool

    for run in range(30):
        spool.write_entry(spool_dir, spool.SpoolEntry(store.uri, tuple(_bundle(f"r{run:02d}"))))
    spool.write_entry(spool_dir, spool.SpoolEntry(down.uri, tuple(_bundle("other"))))  # another store's entry
    outcomes = run_processes(_flush_worker, [(str(spool_dir), store.uri)] * 4)
    assert sum(d for d, _, _ in outcomes) == 30 and all(f == 0 and left == 0 for _, f, left in outcomes)
    assert len(list(store.list())) == 90
    assert [p.name for p in Outbox(spool_dir).pending()] and len(Outbox(spool_dir).pending()) == 1  # the other store's


def test_damaged_and_conflicting_entries_are_set_aside(tmp_path: Path) -> None:
    store, outbox = open_store(tmp_path / "store"), Outbox(tmp_path / "spool")
    from prov_common.store import spool

    damaged = spool.write_entry(outbox.spool_dir, spool.SpoolEntry(store.uri, tuple(_bundle("a"))))
    raw = bytearray(damaged.read_bytes())
    raw[-1] ^= 0x01
    damaged.write_bytes(bytes(raw))
    store.put("runs/b/prov.json", b"something else")
    spool.write_entry(outbox.spool_dir, spool.SpoolEntry(store.uri, tuple(_bundle("b"))))
    spool.write_entry(outbox.spool_dir, spool.SpoolEntry(store.uri, tuple(_bundle("c"))))
    report = outbox.flush(store)
    assert (report.delivered, report.failed, report.left) == (1, 2, 0) and not report.ok
    assert any("runs/a/manifest.json" in e and "digest" in e for e in report.set_aside)
    assert any("runs/b/prov.json" in e for e in report.set_aside)
    assert report.errors == [] and report.unfiled == []  # the reasons are the notes in failed/, not errors
    assert sorted(p.name.endswith(".why.txt") for p in (outbox.spool_dir / "failed").iterdir()) == [False, False, True, True]
    assert not store.exists("runs/a/events.jsonl") or store.get("runs/a/events.jsonl") == _bundle("a")[0][1]
    assert store.exists("runs/c/manifest.json")


@pytest.mark.parametrize("header", [b"[]", b"null", b'{"format": "tdprov-spool/1", "store": "x", "objects": 5}',
                                    b'{"format": "tdprov-spool/1", "store": "x", "objects": [5]}',
                                    b'{"format": "tdprov-spool/1", "store": "x", "objects": [{"key": "k", "bytes": 1e999, "digest": "d"}]}',
                                    b"[" * 100_000])
def test_an_entry_whose_header_has_another_shape_is_set_aside_and_the_others_delivered(header: bytes, tmp_path: Path) -> None:
    """A header line that is JSON of another shape (a list, null, a number where the objects belong) stopped every
    flush with a TypeError (the CLI: 'unexpected TypeError'), so no entry after it was ever delivered; so did a header
    nested 100,000 levels deep, with a RecursionError. It is set aside, named, like an entry whose bytes do not match."""
    store, outbox = open_store(tmp_path / "store"), Outbox(tmp_path / "spool")
    from prov_common.store import spool

    odd = outbox.spool_dir / f"{0:020d}-1-odd{spool.SUFFIX}"  # sorts first
    spool.write_entry(outbox.spool_dir, spool.SpoolEntry(store.uri, tuple(_bundle("c"))))
    odd.write_bytes(header + b"\n")
    report = outbox.flush(store)
    assert (report.delivered, report.failed, report.left) == (1, 1, 0), report
    assert any(odd.name in e for e in report.set_aside) and store.exists("runs/c/manifest.json")
    assert outbox.holds("x") is False


@pytest.mark.parametrize(("item", "why"), [({"key": "../../outside"}, "store key '../../outside' has an unsafe segment '..'"),
                                          ({"key": "/abs/key"}, "store key '/abs/key' has an unsafe segment ''"),
                                          ({"key": "runs/{now:%Y}{0}", "late": {"record": "runs/r.key"}},
                                           "Replacement index 0 out of range for positional args tuple")])
def test_an_entry_edited_to_hold_a_key_no_store_takes_is_set_aside_unput(item: dict, why: str, tmp_path: Path) -> None:
    """An entry whose bytes match their digest but whose key no store takes (edited by hand) stopped every flush at it
    (exit 2 naming the key), so no entry after it was ever delivered, and an entry's objects before the bad one were
    put. It is damaged: set aside before any of its objects is put, the others delivered."""
    import json

    from prov_common.hashing.raw import blake3_digest
    from prov_common.store import spool

    store, outbox = open_store(tmp_path / "store"), Outbox(tmp_path / "spool")
    edited = outbox.spool_dir / f"{0:020d}-1-edited{spool.SUFFIX}"  # sorts first
    spool.write_entry(outbox.spool_dir, spool.SpoolEntry(store.uri, tuple(_bundle("c"))))
    objects = [{"key": "runs/first.json", "bytes": 2, "digest": blake3_digest(b"{}")}, {**item, "bytes": 1, "digest": blake3_digest(b"x")}]
    edited.write_bytes(json.dumps({"format": spool.FORMAT, "store": store.uri, "objects": objects}).encode() + b"\n{}x")
    report = outbox.flush(store)
    assert (report.delivered, report.failed, report.left) == (1, 1, 0), report
    assert report.set_aside[0].startswith(f"spool entry {edited.name} is damaged: spool entry {edited.name}: ") and why in report.set_aside[0]
    assert store.exists("runs/c/manifest.json") and not store.exists("runs/first.json")


def test_flush_cuts_the_long_keys_it_names_of_an_entry_set_aside(tmp_path: Path, monkeypatch, capsys) -> None:
    """An entry edited by hand to hold a 70,000-character key was named with its keys whole: flush's set-aside line
    was 75 KB. Each line flush says on stderr is cut as a refusal is, each long key cut naming its size."""
    import json

    from prov_common.cli import main
    from prov_common.hashing.raw import blake3_digest
    from prov_common.store import spool

    store = open_store(tmp_path / "store")
    monkeypatch.setenv("TDPROV_SPOOL", str(tmp_path / "spool"))
    edited = tmp_path / "spool" / f"{0:020d}-1-edited{spool.SUFFIX}"
    edited.parent.mkdir()
    objects = [{"key": f"runs/{'k' * 5000}/x.json", "bytes": 2, "digest": blake3_digest(b"{}")},
               {"key": "../" + "x" * 70_000, "bytes": 1, "digest": blake3_digest(b"x")}]
    edited.write_bytes(json.dumps({"format": spool.FORMAT, "store": store.uri, "objects": objects}).encode() + b"\n{}x")
    assert main(["flush", "--store", store.uri]) == 1
    lines = capsys.readouterr().err.splitlines()
    (named,) = [line for line in lines if line.startswith("tdprov flush: set aside, never delivered: ")]
    assert f"{edited.name} (runs/{'k' * 140}" in named and "/x.json (5,012 characters), ../" in named, named
    assert "x (70,003 characters)): spool entry" in named and "is longer than 1024 characters" in named, named
    assert max(map(len, lines)) < 1000, [len(line) for line in lines]


@pytest.mark.parametrize(("content", "said"), [
    (b"", "is empty (0 bytes)"),
    (b'{"format": "tdprov-spool/1", "sto', "is cut short: it ends within its header line, after 33 bytes"),
    (b'{"format": "tdprov-spool/1", "store": "x", "objects": [', "is cut short: it ends within its header line, after 55 bytes"),
    (b"garbage\n{}", "has a header line that is not JSON, at line 1 column 1"),
    (b'{"format": "tdprov-spool/1", "store": "x" "objects": []}\n', "has a header line that is not JSON, at line 1 column 43"),
])
def test_flush_says_once_in_plain_words_what_is_wrong_with_an_unreadable_entry(
        content: bytes, said: str, tmp_path: Path, monkeypatch, capsys) -> None:
    """'tdprov flush' named an entry whose header cannot be read with its explanation twice on one line ('(header
    unreadable: X): spool entry ... is unreadable: X'), X being the JSON parser's own text ('Expecting value: line 1
    column 1 (char 0)' for an empty file). It says once what is wrong (empty, cut short, not JSON at a line and column)
    and the fix, in the note kept beside the entry too; the entry is set aside and the others delivered as before."""
    from prov_common.cli import main
    from prov_common.store import spool
    from prov_common.store.outbox import WHY_SUFFIX

    store = open_store(tmp_path / "store")
    monkeypatch.setenv("TDPROV_SPOOL", str(tmp_path / "spool"))
    outbox = Outbox(tmp_path / "spool")
    damaged = outbox.spool_dir / f"{0:020d}-1-damaged{spool.SUFFIX}"  # sorts first
    spool.write_entry(outbox.spool_dir, spool.SpoolEntry(store.uri, tuple(_bundle("c"))))
    damaged.write_bytes(content)
    assert main(["flush", "--store", store.uri]) == 1
    assert store.exists("runs/c/manifest.json")
    (named,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("tdprov flush: set aside, never delivered: ")]
    expected = (f"tdprov flush: set aside, never delivered: spool entry {damaged.name} {said}, so its objects are recorded "
                "nowhere and it names none. Fix: run again what wrote them; restore the entry from a backup that holds it whole")
    assert named == expected, named
    note = (outbox.failed_dir / f"{damaged.name}{WHY_SUFFIX}").read_text()
    assert note == expected.removeprefix("tdprov flush: set aside, never delivered: ") + "\n", note


def test_flush_names_each_entry_it_sets_aside_once(tmp_path: Path) -> None:
    """'tdprov flush' said each set-aside reason twice: the outbox's log line (printed by Python's last-resort handler,
    as the command line configures no logging) and its own 'set aside, never delivered' line. Once, with its runs."""
    import json
    import subprocess
    import sys

    from prov_common.hashing.raw import blake3_digest
    from prov_common.store import spool

    store = open_store(tmp_path / "store")
    edited = tmp_path / "spool" / f"{0:020d}-1-edited{spool.SUFFIX}"
    edited.parent.mkdir()
    objects = [{"key": "runs/r9/x.json", "bytes": 1, "digest": blake3_digest(b"y")}]
    edited.write_bytes(json.dumps({"format": spool.FORMAT, "store": store.uri, "objects": objects}).encode() + b"\nx")
    env = {**os.environ, "TDPROV_SPOOL": str(tmp_path / "spool")}
    done = subprocess.run([sys.executable, "-m", "prov_common", "flush", "--store", store.uri], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    why = f"spool entry {edited.name} is damaged: spool entry {edited.name}: bytes of 'runs/r9/x.json' do not match their digest"
    assert done.stderr.count(why) == 1, done.stderr
    assert f"tdprov flush: set aside, never delivered: {edited.name} (runs/r9/x.json): {why}\n" in done.stderr, done.stderr


def test_conflict_on_deliver_raises_and_bad_keys_are_refused(tmp_path: Path) -> None:
    store, outbox = open_store(tmp_path / "store"), Outbox(tmp_path / "spool")
    store.put("runs/r1/prov.json", b"other")
    with pytest.raises(ObjectConflictError):
        outbox.deliver(store, BUNDLE)
    with pytest.raises(BadInputError):
        outbox.deliver(store, [("runs/ok", b"1"), ("../../etc/passwd", b"x")])
    assert not store.exists("runs/ok") and outbox.pending() == []


def test_unwritable_spool_is_a_clear_error(tmp_path: Path, s3_fault) -> None:
    down = open_store(s3_fault("closed"))
    (tmp_path / "not-a-folder").write_bytes(b"")
    outbox = Outbox(tmp_path / "not-a-folder" / "spool")
    with pytest.raises(SpoolError) as info:
        outbox.deliver(down, BUNDLE)
    message = str(info.value)
    assert "NOT recorded" in message and "runs/r1/events.jsonl" in message and "TDPROV_SPOOL" in message


def test_a_spool_folder_that_fails_to_sync_names_the_entry_spooled_not_unrecorded(
        s3_server, s3_fault, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """The spool folder's fsync failing (EIO) after the entry was renamed into place was reported as the objects NOT
    recorded, though the entry is in the spool and a flush delivers it. The error names the entry, that it may not be
    durable, that 'tdprov flush' delivers it if it survives, and the fix; the flush does."""
    from prov_common.cli import main

    bucket, spool_dir = s3_server.create_bucket(), tmp_path / "spool"
    spool_dir.mkdir()
    down = open_store(s3_fault("closed", bucket))
    with monkeypatch.context() as patch:
        failed = folder_fsync_fails(patch, errno.EIO, only=spool_dir)
        with pytest.raises(SpoolError) as info:
            Outbox(spool_dir).deliver(down, BUNDLE)
    assert failed == [str(spool_dir)]
    [entry] = Outbox(spool_dir).pending()
    what, _, fix = str(info.value).partition(" Fix: ")
    assert "NOT recorded" not in what, what
    assert what.startswith(f"spool entry {entry} holds 3 objects (runs/r1/events.jsonl, runs/r1/prov.json, "
                           f"runs/r1/manifest.json), but the sync of spool folder {spool_dir} failed: Input/output "
                           "error; the entry may not survive a crash or power loss, and 'tdprov flush' delivers it if it "
                           "does. The store did not take them: "), what
    assert fix.startswith(f"check the disk of {spool_dir} (the kernel log names the I/O error) or set TDPROV_SPOOL to "
                          "a folder on another disk; run 'tdprov flush' now to deliver the entry once the store answers; "
                          "and the store: "), fix
    _back_up(s3_server, monkeypatch)
    monkeypatch.setenv("TDPROV_SPOOL", str(spool_dir))
    assert main(["flush"]) == 0
    assert "delivered 1 spooled entry (3 objects, 3 new); 0 left" in capsys.readouterr().out
    up = open_store(down.uri)
    assert [(k, up.get(k)) for k in up.list()] == sorted(BUNDLE) and os.listdir(spool_dir) == []


def test_default_spool_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_spool_dir() == Path(os.environ["TDPROV_HOME"]) / "spool"
    monkeypatch.setenv("TDPROV_SPOOL", str(tmp_path / "env"))
    assert Outbox().spool_dir == tmp_path / "env"
    assert default_spool_dir(Settings(spool=str(tmp_path / "s"))) == tmp_path / "s"


def test_flush_cli_exit_codes(s3_server, s3_fault, monkeypatch, tmp_path: Path, capsys) -> None:
    from prov_common.cli import main

    bucket = s3_server.create_bucket()
    down = open_store(s3_fault("closed", bucket))
    monkeypatch.setenv("TDPROV_SPOOL", str(tmp_path / "spool"))
    assert Outbox().deliver(down, BUNDLE).spooled
    assert main(["flush"]) == 1  # still down: the entry stays
    captured = capsys.readouterr()
    assert "1 left" in captured.out and "tdprov flush" in captured.err
    _back_up(s3_server, monkeypatch)
    assert main(["flush", "--store", down.uri]) == 0
    assert "delivered 1 spooled entry (3 objects, 3 new); 0 left" in capsys.readouterr().out
    assert main(["flush"]) == 0
    assert sorted(open_store(down.uri).list()) == sorted(k for k, _ in BUNDLE)


def test_flush_of_one_store_names_the_entries_left_for_other_stores_and_the_command(tmp_path: Path, capsys) -> None:
    """'tdprov flush --store A' delivers A's entries only: those for other stores were left with no word but "3 left";
    it names how many are left for which store, and the command that delivers them, which does."""
    from prov_common.cli import main
    from prov_common.store import spool

    outbox = Outbox(tmp_path / "spool")
    here, b, c = (open_store(tmp_path / name) for name in ("a", "b", "c"))
    for target, run in ((here, "a"), (b, "b1"), (c, "c"), (b, "b2")):
        spool.write_entry(outbox.spool_dir, spool.SpoolEntry(target.uri, tuple(_bundle(run))))
    assert main(["flush", "--store", here.uri, "--spool", str(outbox.spool_dir)]) == 1
    out = capsys.readouterr().out
    assert "delivered 1 spooled entry (3 objects, 3 new); 3 left" in out, out
    assert (f"3 entries left for other stores than {here.uri} (2 for {b.uri}, 1 for {c.uri}); "
            f"to deliver each to its own store, run: tdprov flush --spool {outbox.spool_dir}\n") in out, out
    assert main(["flush", "--spool", str(outbox.spool_dir)]) == 0
    assert "delivered 3 spooled entries (9 objects, 9 new); 0 left" in capsys.readouterr().out
    assert sorted(b.list()) == sorted(k for run in ("b1", "b2") for k, _ in _bundle(run)), list(b.list())
    assert main(["flush", "--store", here.uri, "--spool", str(outbox.spool_dir)]) == 0
    assert "other stores" not in capsys.readouterr().out  # nothing left elsewhere: no word of it


def test_flush_of_one_store_gives_a_command_that_pastes_for_a_spool_path_with_a_space_and_a_quote(tmp_path: Path) -> None:
    """The command 'tdprov flush --store A' named for the entries left for other stores put the --spool path in it as it
    was, inside single quotes: one holding a space or a quote broke it when pasted. The path is quoted as a shell takes
    it, the command last and unquoted; run as printed through bash, it delivers them."""
    from prov_common.store import spool

    spool_dir = tmp_path / "it's a spool"
    outbox = Outbox(spool_dir)
    here, other = (open_store(tmp_path / name) for name in ("a", "b"))
    for target, run in ((here, "a"), (other, "b")):
        spool.write_entry(outbox.spool_dir, spool.SpoolEntry(target.uri, tuple(_bundle(run))))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    flushed = subprocess.run([sys.executable, "-m", "prov_common", "flush", "--store", here.uri, "--spool", str(spool_dir)],
                             capture_output=True, text=True, env=env, check=False)
    assert flushed.returncode == 1, flushed.stdout + flushed.stderr
    [line] = [x for x in flushed.stdout.splitlines() if "left for other stores" in x]
    prefix = "; to deliver each to its own store, run: "
    assert line.endswith(f"{prefix}tdprov flush --spool '{tmp_path}/it'\"'\"'s a spool'"), line
    pasted = subprocess.run(["bash", "-c", line.partition(prefix)[2]], capture_output=True, text=True, env=env, check=False)
    assert pasted.returncode == 0 and "delivered 1 spooled entry (3 objects, 3 new); 0 left" in pasted.stdout, pasted.stdout + pasted.stderr
    assert sorted(other.list()) == sorted(k for k, _ in _bundle("b"))


def test_flush_of_one_store_that_stops_early_names_the_entries_held_for_a_store_never_opened_apart(
        s3_server, s3_fault, monkeypatch, tmp_path: Path, capsys) -> None:
    """'tdprov flush --store A' that stopped at A's entry (A down) listed the entries held for a store that could not be
    opened among those "left for other stores", with 'tdprov flush' as the fix, though only a flush naming a store
    delivers them; they are named apart, with that command, which delivers them once A is back."""
    from prov_common.cli import main
    from prov_common.store import spool

    bucket = s3_server.create_bucket()
    down = open_store(s3_fault("closed", bucket))
    outbox, other = Outbox(tmp_path / "spool"), open_store(tmp_path / "b")
    spool.write_entry(outbox.spool_dir, spool.SpoolEntry(down.uri, tuple(_bundle("a"))))
    outbox.hold("nope://typo", _bundle("h"), "unsupported scheme 'nope'")
    spool.write_entry(outbox.spool_dir, spool.SpoolEntry(other.uri, tuple(_bundle("b"))))
    assert main(["flush", "--store", down.uri, "--spool", str(outbox.spool_dir)]) == 1
    out = capsys.readouterr().out
    assert (f"1 entry left for other stores than {down.uri} (1 for {other.uri}); to deliver each to its own store, run: "
            f"tdprov flush --spool {outbox.spool_dir}\n") in out, out
    assert (f"1 entry left that was spooled for a store that could not be opened (1 for nope://typo), which 'tdprov flush' "
            f"alone delivers only once that store opens; to deliver it to {down.uri} once it answers, run: tdprov flush --store {down.uri} "
            f"--spool {outbox.spool_dir}\n") in out, out
    _back_up(s3_server, monkeypatch)
    assert main(["flush", "--store", down.uri, "--spool", str(outbox.spool_dir)]) == 1  # the entry for b is left
    assert "could not be opened" not in capsys.readouterr().out
    assert sorted(open_store(down.uri).list()) == sorted(k for run in ("a", "h") for k, _ in _bundle(run))


def test_flush_exits_1_while_another_flush_is_delivering_an_entry(tmp_path: Path, monkeypatch, capsys) -> None:
    """An entry claimed by a flush in another process (alive, still putting it) is not delivered yet: 'tdprov flush'
    said '0 left' and exited 0, so a script that flushes, then seals and audits went on without it."""
    from prov_common.cli import main
    from prov_common.store import spool

    store = open_store(tmp_path / "store")
    monkeypatch.setenv("TDPROV_SPOOL", str(tmp_path / "spool"))
    entry = spool.write_entry(tmp_path / "spool", spool.SpoolEntry(store.uri, tuple(BUNDLE)))
    claimed = entry.with_name(f"{entry.name}{CLAIM}{os.getppid()}-{__import__('time').time_ns()}")
    os.rename(entry, claimed)
    assert main(["flush"]) == 1
    assert capsys.readouterr().out.startswith(
        f"delivered 0 spooled entries (0 objects, 0 new); 1 left in {tmp_path / 'spool'} (1 being delivered by another "
        "flush: run 'tdprov flush' again once it ends)\n")
    os.rename(claimed, entry)  # its flush gave it back (or died): this one delivers it
    assert main(["flush"]) == 0 and sorted(store.list()) == sorted(k for k, _ in BUNDLE)


def test_flush_exits_1_while_failed_holds_an_entry_and_names_its_runs(tmp_path: Path, monkeypatch, capsys) -> None:
    """An entry set aside in failed/ was reported by the flush that moved it (exit 1) only: every later flush exited 0,
    so a cron'd flush went green while the only copy of a run's bundle sat in failed/. Every flush exits 1 and names
    the entries, their runs and why, until they are taken out of failed/."""
    from prov_common.cli import main
    from prov_common.store import spool

    store = open_store(tmp_path / "store")
    monkeypatch.setenv("TDPROV_SPOOL", str(tmp_path / "spool"))
    run = "0190b7a4-2c1e-7cc1-9a4e-5b2f0e8c1d22"
    bundle = [(f"bundles/{run}/events.jsonl", b'{"e":1}\n'), (f"bundles/{run}/manifest.json", b'{"m":1}')]
    store.put(bundle[1][0], b'{"m":"sealed elsewhere"}')  # the run was sealed from its staged events meanwhile
    spool.write_entry(tmp_path / "spool", spool.SpoolEntry(store.uri, tuple(bundle)))
    damaged = spool.write_entry(tmp_path / "spool", spool.SpoolEntry(store.uri, tuple(_bundle("d"))))
    damaged.write_bytes(damaged.read_bytes()[:-1] + b"X")
    assert main(["flush"]) == 1
    first = capsys.readouterr()
    assert "2 set aside in" in first.out
    for _ in range(2):  # and again: nothing new happens, the entries still wait
        assert main(["flush"]) == 1
        again = capsys.readouterr()
        assert "delivered 0 spooled entries" in again.out and f"2 set aside in {tmp_path / 'spool' / 'failed'}" in again.out
        assert f"run {run}" in again.err and "runs/d/events.jsonl" in again.err, again.err
        assert "already exists" in again.err and "digest" in again.err  # each entry's .why.txt
    for path in (tmp_path / "spool" / "failed").iterdir():  # dealt with: moved out of failed/
        path.unlink()
    assert main(["flush"]) == 0
    assert "set aside" not in capsys.readouterr().out


def test_flush_delivers_to_each_entry_s_store_whatever_tdprov_store_says_as_its_help_does(tmp_path: Path, monkeypatch,
                                                                                       capsys: pytest.CaptureFixture) -> None:
    """Without --store, flush delivers every entry to the store it was meant for, not to $TDPROV_STORE: the help of
    its --store said "(default: $TDPROV_STORE or ./.tdprov)", as for the verbs that read one store."""
    from prov_common.cli import main
    from prov_common.store import spool

    meant, other = open_store(tmp_path / "meant"), open_store(tmp_path / "other")
    monkeypatch.setenv("TDPROV_SPOOL", str(tmp_path / "spool"))
    monkeypatch.setenv("TDPROV_STORE", other.uri)
    spool.write_entry(tmp_path / "spool", spool.SpoolEntry(meant.uri, tuple(BUNDLE)))
    assert main(["flush"]) == 0
    assert list(meant.list()) == sorted(k for k, _ in BUNDLE) and list(other.list()) == []
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["flush", "--help"])
    shown = " ".join(capsys.readouterr().out.split("\n  --store STORE", 1)[1].split("\n  --spool", 1)[0].split())
    assert shown == ("deliver only the entries for this store (a folder or s3://bucket/prefix) and those whose store "
                     "could not be opened; default: every entry to its own store, whatever $TDPROV_STORE says"), shown


def test_store_down_during_many_runs_delivers_each_bundle_none_twice(s3_server, s3_fault, monkeypatch, tmp_path) -> None:
    bucket = s3_server.create_bucket()
    down = open_store(s3_fault("closed", bucket))
    outbox = Outbox(tmp_path / "spool")
    results = [outbox.deliver(down, _bundle(f"run{n:03d}")) for n in range(24)]
    assert all(r.spooled for r in results) and len(outbox.pending()) == 24
    _back_up(s3_server, monkeypatch)
    first, second = outbox.flush(), outbox.flush()
    assert (first.delivered, first.objects, first.written) == (24, 72, 72) and second.delivered == 0
    keys = list(open_store(down.uri).list())
    assert len(keys) == len(set(keys)) == 72 and outbox.pending() == []


def test_an_entry_that_cannot_be_set_aside_is_never_hidden_by_its_claim(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """An undeliverable entry that could not be moved into failed/ stayed claimed: the next flush in the same process
    (a worker's next delivery) said "0 left" and ok until the claim went stale. The claim is given back: every flush
    counts the entry and names why it is still there."""
    from prov_common.cli import main
    from prov_common.store import spool

    store, outbox = open_store(tmp_path / "store"), Outbox(tmp_path / "spool")
    damaged = spool.write_entry(outbox.spool_dir, spool.SpoolEntry(store.uri, tuple(_bundle("a"))))
    damaged.write_bytes(damaged.read_bytes()[:-1] + b"X")
    outbox.failed_dir.write_text("a file where the failed/ folder goes")  # mkdir fails: the entry cannot be moved
    for _ in range(2):
        report = outbox.flush(store)
        assert (report.failed, report.stranded) == (1, 1) and not report.ok, report
        assert f"could not move it to {outbox.failed_dir}" in report.unfiled[0] and damaged.name in report.unfiled[0]
        assert outbox.pending() == [damaged]  # waiting in the spool, not claimed
    assert main(["flush", "--spool", str(outbox.spool_dir)]) == 1
    out, err = capsys.readouterr()
    assert "1 left in" in out and "set aside" not in out and "could not move it to" in err, (out, err)


def test_an_entry_whose_store_cannot_be_opened_waits_and_the_others_are_delivered(tmp_path: Path, monkeypatch,
                                                                                 capsys: pytest.CaptureFixture) -> None:
    """An entry whose store URI could not be opened (a scheme tdprov does not know, a store path that is now a file)
    stopped the whole flush with that error: the entries after it, for stores that work, were never delivered. It
    waits in the spool, named with why and the fix, while the others are delivered once; 'tdprov flush' exits 1 until
    'tdprov flush --store URI' delivers it where it belongs."""
    from prov_common.cli import main
    from prov_common.store import spool

    monkeypatch.setenv("TDPROV_SPOOL", str(tmp_path / "spool"))
    outbox, good = Outbox(tmp_path / "spool"), open_store(tmp_path / "store")
    (tmp_path / "a-file").write_text("not a store")
    unknown = spool.write_entry(outbox.spool_dir, spool.SpoolEntry("nope://x", tuple(_bundle("a"))))
    moved = spool.write_entry(outbox.spool_dir, spool.SpoolEntry(str(tmp_path / "a-file"), tuple(_bundle("b"))))
    for run in ("c", "d"):
        spool.write_entry(outbox.spool_dir, spool.SpoolEntry(good.uri, tuple(_bundle(run))))
    for _ in range(2):  # the API, twice: never raises, never keeps a claim
        report = outbox.flush()
        assert report.left == 2 and not report.ok and outbox.pending() == [unknown, moved], report
    assert sorted(good.list()) == sorted(k for run in "cd" for k, _ in _bundle(run))
    assert main(["flush"]) == 1
    out, err = capsys.readouterr()
    assert "delivered 0 spooled entries" in out and "2 left" in out, out
    for entry, why in ((unknown, "unsupported scheme"), (moved, "not a folder")):
        line = next(line for line in err.splitlines() if entry.name in line)
        assert why in line and "tdprov flush --store URI" in line, err
    new_home = open_store(tmp_path / "new-home")
    assert main(["flush", "--store", new_home.uri]) == 0
    assert "delivered 2 spooled entries (6 objects, 6 new); 0 left" in capsys.readouterr().out
    assert sorted(new_home.list()) == sorted(k for run in "ab" for k, _ in _bundle(run))
    assert [new_home.get(k) for k, _ in _bundle("a")] == [v for _, v in _bundle("a")]
    assert main(["flush"]) == 0 and outbox.pending() == [] and len(list(good.list())) == 6  # each once


@pytest.fixture
def full_disk(tmp_path: Path):
    """A 64 KiB tmpfs (needs permission to mount; skipped elsewhere), unmounted afterwards."""
    with small_tmpfs(tmp_path / "tiny", "64k") as mnt:
        yield mnt


def test_a_spool_that_cannot_be_written_says_also_why_the_store_did_not_take_the_objects(tmp_path: Path, s3_fault) -> None:
    """Store down and the spool unwritable: nothing is recorded, and the error named only the spool (\"make the folder
    writable\"), never that the store had not answered, nor what mends that."""
    (tmp_path / "a-file").write_text("x")
    down = open_store(s3_fault("closed"))
    with pytest.raises(SpoolError) as info:
        Outbox(tmp_path / "a-file" / "spool").deliver(down, [("runs/r/manifest.json", b"{}")])
    what, _, fix = str(info.value).partition(" Fix: ")
    assert what.startswith(f"cannot write the spool entry for 1 object to {tmp_path}/a-file/spool: ") and "Fix:" not in fix
    assert "they are NOT recorded (runs/r/manifest.json). The store did not take them: cannot write " in what, what
    assert "'runs/r/manifest.json' in S3 store s3://tdprov-down" in what, what
    assert fix.startswith("make the folder writable or set TDPROV_SPOOL to a writable folder; and the store: check the endpoint")


_OVER_THE_FILE_SIZE_LIMIT = """
import os, resource, sys
from pathlib import Path
from prov_common.errors import StoreError
from prov_common.store import Outbox, SpoolError, open_store
resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))  # 'ulimit -f 64'; Python ignores SIGXFSZ: writes get EFBIG
folder = Path(sys.argv[1])
try:
    open_store(folder / "store").put("runs/big/events.jsonl", b"x" * 200_000)
except StoreError as exc:
    print(type(exc).__name__, exc)
try:
    Outbox(folder / "spool").deliver(open_store(folder / "store"), [("runs/big/events.jsonl", b"x" * 200_000)])
except SpoolError as exc:
    print(type(exc).__name__, exc)
print(sorted(os.listdir(folder / "spool")))
"""


def test_a_file_size_limit_names_the_limit_not_a_folder_to_make_writable(tmp_path: Path) -> None:
    """A process under a file-size limit ('ulimit -f') writing an object larger than the limit: the local store said
    "check that the folder (or its network mount) is reachable" and the spool "make the folder writable or set
    TDPROV_SPOOL to a writable folder", neither of which mends it."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _OVER_THE_FILE_SIZE_LIMIT, str(tmp_path)], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "TDPROV_HOME": str(tmp_path / "home")})
    assert done.returncode == 0, done.stderr
    stored, spooled, left = done.stdout.splitlines()
    fix = "raise the file-size limit of this process ('ulimit -f') or free disk space on that volume"
    assert stored.startswith("StoreError cannot write 'runs/big/events.jsonl'") and "File too large" in stored
    assert stored.endswith(f"Fix: {fix.replace('that volume', f'the volume of {tmp_path}/store')}"), stored
    assert spooled.startswith("SpoolError cannot write the spool entry for 1 object") and "NOT recorded" in spooled
    assert f"Fix: {fix}; and the store: raise the file-size limit" in spooled, spooled
    assert left == "[]"  # no partial entry or temporary file


def test_full_disk_spool_is_a_clear_error_and_leaves_no_partial_entry(full_disk: Path, s3_fault) -> None:
    down = open_store(s3_fault("closed"))
    outbox = Outbox(full_disk / "spool")
    assert outbox.deliver(down, [("runs/small/manifest.json", b"{}")]).spooled  # fits
    with pytest.raises(SpoolError) as info:
        outbox.deliver(down, [("runs/big/events.jsonl", os.urandom(200_000))])
    assert "free disk space" in str(info.value) and "runs/big/events.jsonl" in str(info.value)
    what, _, fix = str(info.value).partition(" Fix: ")  # the store's cause, an earlier entry waiting, said in its place
    assert what.endswith(f"The store did not take them: store {down.uri} is still unavailable (backlog: cannot write "
                         "'runs/small/manifest.json' in S3 store s3://tdprov-down/prefix at " + what.split(" at ")[-1]), what
    assert what.endswith("Could not connect to the endpoint URL: \"" + what.split('URL: "')[-1]) and what.endswith('").'), what
    assert fix.startswith("free disk space on that volume; and the store: check the endpoint") and not fix.endswith(")")
    assert len(outbox.pending()) == 1 and sorted(os.listdir(outbox.spool_dir)) == [outbox.pending()[0].name]
    with pytest.raises(StoreUnavailableError):
        outbox.deliver(down, [("runs/big/events.jsonl", b"x")], strict=True)


def _crash_mid_delivery(spool_dir: str, store_uri: str) -> None:
    class Dying:
        """The real store, but the process dies right after the first object is stored."""

        def __init__(self) -> None:
            self.store, self.uri = open_store(store_uri), store_uri

        def put(self, key: str, data: bytes) -> bool:
            self.store.put(key, data)
            os._exit(9)

    Outbox(spool_dir).deliver(Dying(), BUNDLE, write_ahead=True)


def test_write_ahead_survives_a_crash_between_puts(tmp_path: Path) -> None:
    store = open_store(tmp_path / "store")
    proc = multiprocessing.get_context("fork").Process(target=_crash_mid_delivery, args=(str(tmp_path / "spool"), store.uri))
    proc.start()
    proc.join(30)
    assert proc.exitcode == 9
    assert list(store.list()) == ["runs/r1/events.jsonl"]  # half a bundle in the store, but...
    report = Outbox(tmp_path / "spool").flush(store)  # ...the entry written ahead completes it
    assert (report.delivered, report.written) == (1, 2) and report.ok
    assert sorted(store.list()) == sorted(k for k, _ in BUNDLE)


def test_write_ahead_removes_its_entry_on_success_and_keeps_it_when_down(tmp_path: Path, s3_fault) -> None:
    store, outbox = open_store(tmp_path / "store"), Outbox(tmp_path / "spool")
    result = outbox.deliver(store, BUNDLE, write_ahead=True)
    assert result.ok and result.written == 3 and outbox.pending() == []
    down = open_store(s3_fault("closed"))
    result = outbox.deliver(down, _bundle("r2"), write_ahead=True)
    assert result.spooled and outbox.pending() == [result.spool_entry]
    with pytest.raises(StoreUnavailableError):
        Outbox(tmp_path / "spool2").deliver(down, _bundle("r3"), write_ahead=True, strict=True)
    assert Outbox(tmp_path / "spool2").pending() == []


def test_a_large_object_is_spooled_and_flushed_without_copies_of_it(tmp_path: Path, s3_fault) -> None:
    """A row set (a mapped file's view) spooled while the store is down is written to the entry as it is held, a
    part at a time with its pages given back, and a flush delivers it from the entry mapped, not read into memory:
    it was joined into one copy of the batch to be written, and read back, cut from the header and cut again into
    each object (three copies at a flush; then the entry read whole, one copy)."""
    import tracemalloc

    from rows_support import mapped_rows, resident

    size = 16 << 20
    data = os.urandom(size)
    view = mapped_rows(tmp_path, data)
    batch = [("runs/r1/rows/big.rowset", view), *BUNDLE]
    down, outbox = open_store(s3_fault("closed")), Outbox(tmp_path / "spool")
    outbox.deliver(down, BUNDLE)  # the client and its modules loaded before the measure
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        result = outbox.deliver(down, batch)
        spooling = tracemalloc.get_traced_memory()[1] - base
        assert result.spooled
        written = resident(view)
        store = open_store(tmp_path / "store")
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        report = outbox.flush(opener=lambda uri: store)  # the entries' store, back (here a local folder)
        flushing = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert report.ok and report.delivered == 2
    assert spooling < size // 4, f"spooling {size:,} bytes held {spooling:,} more"
    assert written <= size // 2, f"{written:,} bytes of the row set resident once spooled"
    assert flushing < size // 4, f"flushing {size:,} bytes held {flushing:,} more"
    assert store.get("runs/r1/rows/big.rowset") == data and outbox.pending() == []


def test_the_objects_of_a_mapped_spool_entry_are_checked_a_part_at_a_time(tmp_path: Path, monkeypatch) -> None:
    """A flush maps a large entry and checks each object's digest a part at a time, giving back the pages of each
    part once hashed: the entry's mapping never holds them all (the objects are views inside it, not at its start)."""
    import prov_common.mapped as mapped
    from prov_common.store import spool
    from rows_support import resident

    monkeypatch.setattr(mapped, "PART", 64 << 10)
    data = os.urandom(8 << 20)
    objects = (("runs/r1/events.jsonl", b'{"e":1}\n'), ("runs/r1/rows/big.rowset", data), ("runs/r1/manifest.json", b"{}"))
    path = spool.write_entry(tmp_path, spool.SpoolEntry("file:///s", objects))
    raw = mapped.file_bytes(path)
    entry = spool.decode(raw, path.name)
    held = resident(memoryview(raw))
    assert held <= (8 << 20) // 2, f"{held:,} bytes of the entry resident"
    assert isinstance(raw, mapped.mmap.mmap) and [(k, bytes(d)) for k, d in entry.objects] == list(objects)


_KILLED_BETWEEN_TWO_OBJECTS = """
import os, signal, sys
from pathlib import Path
from prov_common.store import spool
calls, item = [0], spool._item
def killing(obj):  # called once per object for the header, then once per object as it is written
    calls[0] += 1
    if calls[0] == 4:
        os.kill(os.getpid(), signal.SIGKILL)
    return item(obj)
spool._item = killing
spool.write_entry(Path(sys.argv[1]), spool.SpoolEntry("file:///s", (("runs/r9/rows/a.rowset", bytes(64 << 10)),
                                                                     ("runs/r9/bundle/manifest.json", b"{}"))))
"""


def test_an_entry_whose_writer_is_killed_half_way_is_never_delivered_and_is_named(tmp_path: Path) -> None:
    """A writer killed between two objects of a spool entry leaves the entry's temporary file: the next delivery's
    flush sets it aside in failed/ with its keys and why, and delivers its own batch. It stayed in the spool,
    named by no flush, for ever."""
    import signal
    import subprocess
    import sys

    spool_dir = tmp_path / "spool"
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_BETWEEN_TWO_OBJECTS, str(spool_dir)])
    assert proc.wait(timeout=60) == -signal.SIGKILL
    [partial] = list(spool_dir.iterdir())
    assert partial.name.startswith(".tmp-") and partial.stat().st_size > 64 << 10
    store, outbox = open_store(tmp_path / "store"), Outbox(spool_dir)
    result = outbox.deliver(store, BUNDLE)
    assert result.ok and result.flush is not None and (result.flush.delivered, result.flush.failed) == (0, 1)
    assert sorted(store.list("")) == sorted(key for key, _ in BUNDLE)
    [aside] = outbox.set_aside_entries()
    assert aside.path.name == partial.name.removeprefix(".tmp-")
    assert aside.keys == ["runs/r9/rows/a.rowset", "runs/r9/bundle/manifest.json"]
    assert f"is incomplete: the process that wrote it (pid {proc.pid}) stopped" in aside.why
    assert outbox.pending() == [] and sorted(p.name for p in spool_dir.iterdir()) == ["failed"]
    assert outbox.flush(store).failed == 0  # set aside once; failed/ is the CLI's to count


def test_spool_warning_names_the_batch_it_spooled_and_the_backlog_apart(s3_server, s3_fault, tmp_path: Path,
                                                                         caplog) -> None:
    """Behind a backlog the store could not take, a new batch is spooled: its warning names that batch, and the
    backlog's error only as the backlog's."""
    import logging

    down = open_store(s3_fault("closed", s3_server.create_bucket()))
    outbox = Outbox(tmp_path / "spool")
    assert outbox.deliver(down, BUNDLE).spooled
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert outbox.deliver(down, _bundle("r2")).spooled
    [warning] = [r.getMessage() for r in caplog.records if "spooled" in r.getMessage()]
    cause, _, spooled = warning.rpartition("; spooled ")
    assert cause.startswith(f"tdprov: store {down.uri} is still unavailable (backlog: ") and "runs/r1/" in cause
    assert spooled.startswith("3 objects ('runs/r2/events.jsonl' and 2 more) to ") and "runs/r1/" not in spooled


def _without_root_powers() -> list[str]:
    """The command prefix that runs a process without root's power to write any folder (``setpriv``); [] for
    another user. Skips where root cannot shed it."""
    import shutil

    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: every folder is writable")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


EMIT_RUNS = """
import json, sys
from bundle_support import run_events
from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport

transport = ProvenanceTransport(ProvenanceConfig(store=sys.argv[1], spool=sys.argv[2]))
statuses = [getattr(transport.emit(event), "status", None) for run_id in sys.argv[3:] for event in run_events(run_id)]
print(json.dumps({"statuses": statuses}))
"""


def test_a_read_only_spool_never_breaks_an_emit_and_flush_names_it(tmp_path: Path) -> None:
    """A spool folder that became read-only made the claim rename of the flush that every delivery starts with raise
    ``PermissionError``: the transport logged "could not record" and dropped the event, and ``tdprov flush`` blamed
    the store. The emit's objects go to the store, the waiting entry stays for a later flush, ``tdprov flush`` exits 2
    naming the spool folder and the fix, and once the folder is writable it delivers the entry once. The folder is
    warned about once per process, not at every delivery's flush (every staged event of every run): here three runs."""
    import json
    import subprocess
    import sys

    from bundle_support import indexed_runs
    from prov_common.store import spool

    plain = _without_root_powers()
    store, spool_dir = open_store(tmp_path / "store"), tmp_path / "spool"
    waiting = spool.write_entry(spool_dir, spool.SpoolEntry(store.uri, tuple(_bundle("old"))))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    run_ids = [f"0190b7a4-2c1e-7cc1-9a4e-5b2f0e8c1d2{n}" for n in range(3)]
    spool_dir.chmod(0o555)
    try:
        emitted = subprocess.run([*plain, sys.executable, "-c", EMIT_RUNS, store.uri, str(spool_dir), *run_ids], env=env,
                                 capture_output=True, text=True, timeout=120)
        assert emitted.returncode == 0, emitted.stderr
        statuses = json.loads(emitted.stdout.splitlines()[-1])["statuses"]
        assert statuses[1::2] == ["written"] * 3, emitted.stdout + emitted.stderr  # each run's terminal event
        assert "could not record" not in emitted.stderr, emitted.stderr
        assert emitted.stderr.count(f"spool folder {spool_dir}") == 1, f"not warned once per process: {emitted.stderr}"
        assert sorted(indexed_runs(store)) == run_ids
        assert os.listdir(spool_dir) == [waiting.name]  # waiting, not claimed, not lost
        flushed = subprocess.run([*plain, sys.executable, "-m", "prov_common", "flush", "--spool", str(spool_dir)],
                                 env=env, capture_output=True, text=True, timeout=120)
        assert flushed.returncode == 2, flushed.stdout + flushed.stderr
        assert f"spool folder {spool_dir}" in flushed.stderr and f"make {spool_dir} readable and writable" in flushed.stderr
        assert "Traceback" not in flushed.stderr and os.listdir(spool_dir) == [waiting.name]
    finally:
        spool_dir.chmod(0o700)
    flushed = subprocess.run([*plain, sys.executable, "-m", "prov_common", "flush", "--spool", str(spool_dir)], env=env,
                             capture_output=True, text=True, timeout=120)
    assert flushed.returncode == 0 and "delivered 1 spooled entry (3 objects, 3 new); 0 left" in flushed.stdout, flushed
    assert [store.get(k) for k, _ in _bundle("old")] == [v for _, v in _bundle("old")] and os.listdir(spool_dir) == []


def test_under_holds_for_entries_redirected_to_the_store_named(tmp_path: Path) -> None:
    """``under`` with ``store`` and ``take_unopened``: an entry spooled for a store that could not be opened (held), or
    whose store cannot be opened now, is delivered to the store named only when it holds a key under the prefix; the
    others stay in the spool, skipped."""
    from prov_common.store import spool

    outbox, home = Outbox(tmp_path / "spool"), open_store(tmp_path / "home")
    held = {run: outbox.hold("nope://typo", _bundle(run), "unsupported scheme 'nope'") for run in ("r1", "r2")}
    (tmp_path / "a-file").write_text("a file where the store was")
    moved = {run: spool.write_entry(outbox.spool_dir, spool.SpoolEntry(str(tmp_path / "a-file"), tuple(_bundle(run))))
             for run in ("r3", "r4")}
    report = outbox.flush(home, take_unopened=True, under="runs/r1/")
    assert (report.delivered, report.skipped) == (1, 3), report
    assert sorted(home.list()) == sorted(k for k, _ in _bundle("r1"))
    assert outbox.pending() == sorted([held["r2"], *moved.values()], key=lambda p: p.name)
    report = outbox.flush(home, take_unopened=True, under="runs/r4/")
    assert (report.delivered, report.skipped) == (1, 2), report
    assert sorted(home.list()) == sorted(k for run in ("r1", "r4") for k, _ in _bundle(run))
    assert [home.get(k) for k, _ in _bundle("r4")] == [v for _, v in _bundle("r4")]
    assert outbox.pending() == sorted([held["r2"], moved["r3"]], key=lambda p: p.name)


def test_flush_names_and_keeps_each_hand_made_malformed_entry_and_delivers_the_good_ones(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture) -> None:
    """Entries written by hand into the spool, which no writer makes (the transport keeps malformed events out): an
    entry that is not JSON, JSON of another shape, cut short in its header or in its objects, with a size given as text,
    or empty, is named by 'tdprov flush' and kept in failed/ byte for byte, the good entry beside them delivered; an
    entry whose staged events are not JSON, JSON but no event, cut short or of the wrong types is delivered as it is
    (nothing is lost: the seal refuses such events, keeping each under refused/), and of a run already sealed each is
    named as delivered late, by its eventType only when that is text."""
    import json
    import logging

    from bundle_support import record_runs, run_events, signed_staged
    from prov_common.bundle.transport import staged_event_key
    from prov_common.cli import main
    from prov_common.store import spool

    store = open_store(tmp_path / "store")
    spool_dir = tmp_path / "spool"
    monkeypatch.setenv("TDPROV_SPOOL", str(spool_dir))
    (sealed,) = record_runs(store.uri, 1)
    good = run_events()
    whole = spool.write_entry(spool_dir, spool.SpoolEntry(store.uri, tuple((staged_event_key(e), signed_staged(e)) for e in good)))
    raw = whole.read_bytes()
    head, body = raw.split(b"\n", 1)
    header = json.loads(head)
    header["objects"][0]["bytes"] = str(header["objects"][0]["bytes"])
    bad = {"notjson": b"garbage\n", "notanentry": b'{"hello": 1}\n', "cutheader": head[:50], "cutbody": raw[:-30],
           "sizetext": json.dumps(header).encode() + b"\n" + body, "empty": b""}
    for n, (name, data) in enumerate(bad.items()):
        (spool_dir / f"{n:020d}-1-{name}{spool.SUFFIX}").write_bytes(data)
    events = {"notjson": b"not json{", "notanevent": b'{"hello": 1}', "cut": signed_staged(good[1])[:40],
              "typeno": signed_staged(json.dumps({**good[1], "eventType": 5}).encode())}
    for n, data in enumerate(events.values()):
        key = f"staging/{sealed}/20260301T10000000000{n}Z-{'ab' * 16}.json"
        spool.write_entry(spool_dir, spool.SpoolEntry(store.uri, ((key, data),)))
    capsys.readouterr()
    with caplog.at_level(logging.WARNING):
        assert main(["flush"]) == 1
    out, err = capsys.readouterr()
    assert f"delivered 5 spooled entries (6 objects, 6 new); 0 left in {spool_dir}; 6 set aside in {spool_dir / 'failed'}" in out, out
    for n, (name, data) in enumerate(bad.items()):
        entry = f"{n:020d}-1-{name}{spool.SUFFIX}"
        named = [line for line in err.splitlines() if line.startswith("tdprov flush: set aside, never delivered: ") and entry in line]
        assert len(named) == 1 and named[0].startswith((f"tdprov flush: set aside, never delivered: {entry} (",  # its runs
                                                        f"tdprov flush: set aside, never delivered: spool entry {entry} ")), err
        assert (spool_dir / "failed" / entry).read_bytes() == data  # kept as it was, with its note
        assert (spool_dir / "failed" / f"{entry}.why.txt").read_text().startswith(f"spool entry {entry} ")
    assert all(store.exists(staged_event_key(e)) for e in good)
    late = [r.getMessage() for r in caplog.records if f"run {sealed} was sealed before its" in r.getMessage()]
    delivered = [k for k in store.list(f"staging/{sealed}/") if k.endswith(f"Z-{'ab' * 16}.json")]
    assert len(late) == 4 and sorted(store.get(k) for k in delivered) == sorted(events.values()), late
    assert sorted(m.split(" was sealed before its ")[1].split(" event timed")[0] for m in late) == [
        "unnamed", "unnamed", "unreadable", "unreadable"], late


def test_flush_names_an_unreadable_set_aside_entry_as_its_header_reads_now_whatever_its_note_says(
        tmp_path: Path, monkeypatch, capsys) -> None:
    """An entry in failed/ whose header cannot be read is named as reading it now says (what is wrong and the fix),
    not by its note: a note an earlier tdprov wrote ('spool entry X is unreadable: Expecting value: ...') gave the
    parser's text and no fix. One that cannot be read at all (a folder where an entry belongs) is named with a fix."""
    from prov_common.cli import main
    from prov_common.store import spool
    from prov_common.store.outbox import WHY_SUFFIX

    store = open_store(tmp_path / "store")
    monkeypatch.setenv("TDPROV_SPOOL", str(tmp_path / "spool"))
    outbox = Outbox(tmp_path / "spool")
    outbox.failed_dir.mkdir(parents=True, exist_ok=True)
    empty = outbox.failed_dir / f"{0:020d}-1-empty{spool.SUFFIX}"
    empty.write_bytes(b"")
    old_note = f"spool entry {empty.name} is unreadable: Expecting value: line 1 column 1 (char 0)\n"
    (outbox.failed_dir / f"{empty.name}{WHY_SUFFIX}").write_text(old_note)
    folder = outbox.failed_dir / f"{1:020d}-1-folder{spool.SUFFIX}"
    folder.mkdir()
    assert main(["flush", "--store", store.uri]) == 1
    named = [line.removeprefix("tdprov flush: set aside, never delivered: ") for line in capsys.readouterr().err.splitlines()
             if line.startswith("tdprov flush: set aside, never delivered: ")]
    assert named[0] == (f"spool entry {empty.name} is empty (0 bytes), so its objects are recorded nowhere and it names "
                        "none. Fix: run again what wrote them; restore the entry from a backup that holds it whole"), named
    assert named[1].startswith(f"spool entry {folder.name} cannot be read (Is a directory). Fix: "), named
    assert (outbox.failed_dir / f"{empty.name}{WHY_SUFFIX}").read_text() == old_note  # the note is kept as it is
