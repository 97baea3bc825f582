"""Local folder store: atomic exclusive creation under concurrency, pruned listings, URIs."""
from __future__ import annotations

import errno
import multiprocessing
import os
from pathlib import Path

import pytest

from prov_common.config import Settings
from prov_common.errors import BadInputError, ObjectConflictError, StoreError, StoreUnavailableError
from prov_common.store import open_store
from prov_common.store.errors import UnreadableObjectError
from prov_common.store.local import LocalStore

from mount_support import read_only
from store_support import folder_fsync_fails, run_processes


def _race(root: str, index: int, payload: bytes, barrier, results) -> None:
    store = LocalStore(root)
    barrier.wait()
    try:
        results.put(("created" if store.put("runs/same/manifest.json", payload) else "noop", index))
    except ObjectConflictError:
        results.put(("conflict", index))


@pytest.mark.parametrize("same_bytes", [True, False])
def test_eight_concurrent_writers_of_one_key_exactly_one_wins(tmp_path: Path, same_bytes: bool) -> None:
    payloads = [b"same" * 10000 if same_bytes else f"writer-{i}".encode() * 10000 for i in range(8)]
    outcomes = run_processes(_race, [(str(tmp_path), i, p) for i, p in enumerate(payloads)], barrier=True)
    winners = [payloads[i] for outcome, i in outcomes if outcome == "created"]
    assert len(winners) == 1
    losers = {outcome for outcome, _ in outcomes if outcome != "created"}
    assert losers == ({"noop"} if same_bytes else {"conflict"})
    assert LocalStore(tmp_path).get("runs/same/manifest.json") == winners[0]
    assert sorted(os.listdir(tmp_path / "runs" / "same")) == ["manifest.json"]  # no temp files left


def test_listing_prunes_folders_before_start_after(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalStore(tmp_path)
    for day in range(1, 21):
        for n in range(5):
            store.put(f"runs/2026/11/{day:02d}/run-{n}/manifest.json", b"{}")
    store.put("other/x", b"x")
    scanned: list[str] = []
    real_scandir = os.scandir
    def folder(p: int | str) -> str:  # a listing scans folders by their descriptors
        return os.readlink(f"/proc/self/fd/{p}") if isinstance(p, int) else os.fspath(p)

    monkeypatch.setattr(os, "scandir", lambda p: (scanned.append(folder(p)), real_scandir(p))[1])
    new = list(store.list("runs/", start_after="runs/2026/11/19/run-4/manifest.json"))
    assert new == [f"runs/2026/11/20/run-{n}/manifest.json" for n in range(5)]
    rel = sorted(os.path.relpath(p, tmp_path) for p in scanned)
    # only the path down to the checkpoint and the new day are read; days 01-18 and 'other' are skipped unread
    assert rel == ["runs", "runs/2026", "runs/2026/11", "runs/2026/11/19", "runs/2026/11/19/run-4", "runs/2026/11/20"] + [
        f"runs/2026/11/20/run-{n}" for n in range(5)
    ]
    scanned.clear()
    assert len(list(store.list("runs/2026/11/05/"))) == 5
    assert all(os.path.relpath(p, tmp_path).startswith("runs/2026/11/05") for p in scanned)


def test_temp_files_never_listed_and_folder_object_clash_refused(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / ".tmp-half-written-abc").write_bytes(b"partial")
    store.put("runs/a", b"1")
    assert list(store.list()) == ["runs/a"]
    with pytest.raises(ObjectConflictError):
        store.put("runs", b"folder exists")
    with pytest.raises(ObjectConflictError):
        store.put("runs/a/b", b"object exists where a folder is needed")


def test_store_under_a_file_is_a_store_error_that_spools_not_a_key_clash(tmp_path: Path) -> None:
    """TDPROV_STORE=<file>/store: every write said "key ... clashes with an existing object" (a conflict, which the
    outbox raises and the transport drops); it names the path and the fix, and the outbox spools the objects."""
    from prov_common.store import Outbox

    (tmp_path / "notadir").write_bytes(b"")
    store = LocalStore(tmp_path / "notadir" / "store")
    with pytest.raises(StoreError) as info:
        store.put("staging/r1/e.json", b"1")
    assert not isinstance(info.value, ObjectConflictError)
    assert f"{tmp_path / 'notadir'} is not a folder" in str(info.value), str(info.value)
    assert str(store.root) in str(info.value) and "point TDPROV_STORE at a folder" in str(info.value)
    outbox = Outbox(tmp_path / "spool")
    result = outbox.deliver(store, [("staging/r1/e.json", b"1")])
    assert result.spooled and len(outbox.pending()) == 1
    # a file inside the store where a key needs a folder is still a key clash
    inside = LocalStore(tmp_path / "store")
    inside.put("runs/a", b"1")
    with pytest.raises(ObjectConflictError):
        inside.put("runs/a/b/c", b"2")


def test_a_file_where_a_listed_folder_should_be_is_named_not_listed_as_empty(tmp_path: Path) -> None:
    """A file ``sources`` in place of the folder listed no source record, silently ('no sources registered');
    the listing names the file and the fix. A folder that does not exist, or a store under a file, lists nothing."""
    store = LocalStore(tmp_path / "s")
    store.put("index/a.json", b"1")
    (tmp_path / "s" / "sources").write_bytes(b"x")
    for prefix, listed in (("sources/", "sources/"), ("sources/a/", "sources/a/"), ("sources/a", "sources/")):
        with pytest.raises(StoreError) as info:
            list(store.list(prefix))
        assert not isinstance(info.value, StoreUnavailableError)
        assert str(info.value) == (
            f"cannot list '{listed}' in local folder {tmp_path / 's'}: {tmp_path / 's' / 'sources'} is not a folder, so "
            "the objects under it cannot be read. Fix: tdprov writes a folder there: find out who put the file there, "
            "move it away and restore the folder from a backup or replica of the store")
    assert list(store.list("audit/")) == [] and list(store.list("")) == ["index/a.json", "sources"]
    (tmp_path / "file").write_bytes(b"")
    assert list(LocalStore(tmp_path / "file" / "store").list("sources/")) == []


def test_open_store_local_forms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert open_store().uri == str(tmp_path / ".tdprov")
    monkeypatch.setenv("TDPROV_STORE", str(tmp_path / "env-store"))
    assert open_store().uri == str(tmp_path / "env-store")
    assert open_store(settings=Settings(store=str(tmp_path / "s"))).uri == str(tmp_path / "s")
    assert open_store(f"file://{tmp_path}/f").uri == str(tmp_path / "f")
    assert open_store("rel/dir").uri == str(tmp_path / "rel" / "dir")
    for bad in ("gs://bucket/x", "file://otherhost/x", "", "s3://", "s3://user:secret@bucket/x"):
        with pytest.raises(BadInputError):
            open_store(bad)
    (tmp_path / "a-file").write_bytes(b"")
    with pytest.raises(StoreError):
        open_store(tmp_path / "a-file")


def test_unwritable_store_is_a_clear_error(tmp_path: Path) -> None:
    root = tmp_path / "ro"
    root.mkdir()
    with read_only(root):  # a read-only mount as root (CI), mode 0555 otherwise
        with pytest.raises(StoreError) as info:
            LocalStore(root).put("k/x", b"1")
        assert "k/x" in str(info.value) and "writable" in str(info.value)
        assert not any(root.iterdir())


def test_flush_into_an_unwritable_store_says_only_to_make_it_writable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """An event spooled as its local store refused writes, flushed while it still does: the fix said "or point
    TDPROV_STORE at another folder", though a flush delivers each entry to the store it names whatever TDPROV_STORE
    says (and ``--store`` takes only entries whose store cannot be opened); it says to make the store writable only."""
    from bundle_support import run_events
    from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport
    from prov_common.cli import main
    from prov_common.store import Outbox

    root, spool, other = tmp_path / "ro", tmp_path / "spool", tmp_path / "other"
    root.mkdir()
    monkeypatch.setenv("TDPROV_STORE", str(other))
    with read_only(root):
        transport = ProvenanceTransport(ProvenanceConfig(store=str(root), spool=str(spool)))
        transport.emit(run_events()[0])
        transport.close()
        [entry] = Outbox(spool).pending()
        capsys.readouterr()
        for flush in (["flush", "--spool", str(spool)], ["flush", "--spool", str(spool), "--store", str(root)]):
            assert main(flush) == 1
            err = capsys.readouterr().err
            assert err.rstrip().endswith(f"Fix: make {root} writable by this user"), err
            assert "TDPROV_STORE" not in err and "another folder" not in err, err
    assert Outbox(spool).pending() == [entry] and not other.exists()


def test_the_write_check_never_writes_through_a_link(tmp_path: Path) -> None:
    """The write check (an audit's, before it writes log/ and audit/) followed links: with 'bundles' a link to a folder
    outside the store, it created and removed its probe file there. It reaches the folder as a write does, so the link is
    refused naming it, nothing is written outside the store, and the check still passes in the store's own folders."""
    root, outside = tmp_path / "store", tmp_path / "outside"
    outside.mkdir()
    store = LocalStore(root)
    store.put("log/x", b"1")
    (root / "bundles").symlink_to(outside)
    before = os.stat(outside).st_mtime_ns
    for prefix in ("bundles/r/", "bundles/"):
        with pytest.raises(StoreError) as caught:
            store.check_writable(prefix)
        assert caught.value.what == (f"cannot create objects under '{prefix}' in local folder {root}: {root / 'bundles'} is a "
                                     f"symbolic link (to {outside}), and tdprov writes only files and folders in a store, "
                                     "never through a link.")
    assert os.stat(outside).st_mtime_ns == before and list(outside.iterdir()) == []
    store.check_writable("log/")
    store.check_writable("audit/new/")
    assert sorted(p.name for p in root.iterdir()) == ["bundles", "log"] and os.listdir(root / "log") == ["x"]


def test_fsync_can_be_turned_off_for_scratch_stores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert open_store(tmp_path / "a").fsync is True
    monkeypatch.setenv("TDPROV_STORE_FSYNC", "0")
    store = open_store(tmp_path / "b")
    assert store.fsync is False and store.put("k", b"1") and store.get("k") == b"1"


def test_an_i_o_error_of_a_folder_fsync_fails_the_put_and_the_outbox_keeps_the_objects(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """Every error of a folder's fsync was suppressed: an EIO left the new name of an object perhaps never on disk, and
    the put counted as stored (the outbox dropped its entry). The put fails with the store's error, the outbox spools
    the objects, and 'tdprov flush' delivers them once the folder syncs again."""
    from prov_common.cli import main
    from prov_common.store import Outbox

    store, spool_dir = LocalStore(tmp_path / "store"), tmp_path / "spool"
    spool_dir.mkdir()
    objects = [("bundles/r1/events.jsonl", b'{"e":1}\n'), ("bundles/r1/manifest.json", b'{"m":1}')]
    store.put("bundles/r1/started", b"")  # its folder made: the fsync that fails is the one after an object's link
    with monkeypatch.context() as patch:
        failed = folder_fsync_fails(patch, errno.EIO, spared=spool_dir)
        with pytest.raises(StoreUnavailableError) as caught:
            store.put("staging/r1/e.json", b"1")
        assert caught.value.what == (f"cannot write 'staging/r1/e.json' in local folder {store.root}: "
                                     "Input/output error."), caught.value.what
        assert failed
        result = Outbox(spool_dir).deliver(store, objects)
        assert result.spooled and result.delivered == 0 and "Input/output error" in result.error
        assert len(Outbox(spool_dir).pending()) == 1
    monkeypatch.setenv("TDPROV_SPOOL", str(spool_dir))
    assert main(["flush"]) == 0
    assert "delivered 1 spooled entry (2 objects, 1 new); 0 left" in capsys.readouterr().out
    assert [store.get(key) for key, _ in objects] == [data for _, data in objects] and os.listdir(spool_dir) == []


@pytest.mark.parametrize("code", [errno.EINVAL, errno.ENOTSUP, errno.EBADF])
def test_a_file_system_that_cannot_sync_folders_still_takes_puts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 code: int) -> None:
    """A folder's fsync answered as a file system without folder syncs answers it is no failure of the put."""
    store = LocalStore(tmp_path / "store")
    failed = folder_fsync_fails(monkeypatch, code, spared=tmp_path)
    assert store.put("bundles/r1/manifest.json", b"1") and store.get("bundles/r1/manifest.json") == b"1"
    assert failed


def _slow_writer(root: str, fifo: str) -> None:
    LocalStore(root).put_file("runs/killed/events.jsonl", Path(fifo))


def test_writer_killed_mid_object_leaves_nothing_visible(tmp_path: Path) -> None:
    """SIGKILL while an object is half written: no object, no listing entry, and the key stays writable."""
    import signal
    import time

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    root = tmp_path / "store"
    proc = multiprocessing.get_context("fork").Process(target=_slow_writer, args=(str(root), str(fifo)))
    proc.start()
    with open(fifo, "wb") as pipe:
        pipe.write(b"x" * (3 << 19))  # 1.5 MiB: one full chunk reaches the temporary file
        pipe.flush()
        folder = root / "runs" / "killed"
        deadline = time.monotonic() + 10
        while not any(p.stat().st_size for p in folder.glob(".tmp-*")):  # half written, not yet linked
            assert time.monotonic() < deadline, "writer never started"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(10)
    store = LocalStore(root)
    assert not store.exists("runs/killed/events.jsonl") and list(store.list()) == []
    assert store.put("runs/killed/events.jsonl", b"complete\n") is True
    assert store.get("runs/killed/events.jsonl") == b"complete\n"


def test_fuzzed_keys_never_leave_the_store(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Any string either is refused as bad input or names a file inside the store, listed under that key."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    alphabet = st.sampled_from(list("ab./\\\x00:~%-_ ü") + ["..", "../", "/..", "//"])

    @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(alphabet, max_size=12).map("".join))
    def check(key: str) -> None:
        root = tmp_path_factory.mktemp("fuzz")
        store = LocalStore(root / "store")
        try:
            store.put(key, b"x")
        except BadInputError:
            assert list(root.rglob("*")) == [] or [p.name for p in root.iterdir()] == ["store"]
            return
        written = [p for p in root.rglob("*") if p.is_file()]
        assert written == [root.joinpath("store", *key.split("/"))]
        assert written[0].resolve().is_relative_to((root / "store").resolve())
        assert list(store.list()) == [key]

    check()


def test_a_symbolic_link_in_the_store_is_listed_and_never_read_through(tmp_path: Path) -> None:
    """tdprov writes only files and folders in a store. A link to a folder ('bundles/b' -> 'a', listed before or after
    it) hid the keys of whichever of the two was walked second, as if a loop; a link to a file (an identical copy
    outside the store) was read as the object. Both are listed, and every read through a link is refused naming it;
    the store's root may itself be reached through a link."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.json").write_bytes(b"{}")
    (tmp_path / "real").mkdir()
    (tmp_path / "store").symlink_to("real")
    store = LocalStore(tmp_path / "store")
    store.put("bundles/b/x.json", b"{}")
    (tmp_path / "real" / "bundles" / "a").symlink_to("b")
    (tmp_path / "real" / "bundles" / "c").symlink_to("b")
    (tmp_path / "real" / "bundles" / "d").mkdir()
    (tmp_path / "real" / "bundles" / "d" / "x.json").symlink_to(outside / "x.json")
    assert list(store.list("bundles/")) == ["bundles/a/x.json", "bundles/b/x.json", "bundles/c/x.json", "bundles/d/x.json"]
    assert [i.key for i in store.list_info("bundles/c/")] == ["bundles/c/x.json"]
    assert store.get("bundles/b/x.json") == b"{}"
    for key, link, target in (("bundles/a/x.json", "bundles/a", "b"), ("bundles/c/x.json", "bundles/c", "b"),
                              ("bundles/d/x.json", "bundles/d/x.json", str(outside / "x.json"))):
        with pytest.raises(UnreadableObjectError) as caught:
            store.get(key)
        assert caught.value.what == (f"object '{key}' in local folder {tmp_path / 'store'} cannot be read: {tmp_path / 'store' / link} is "
                                     f"a symbolic link (to {target}), and tdprov writes only files and folders in a store.")


def test_a_socket_where_an_object_belongs_is_unreadable_not_an_outage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A socket cannot be opened (ENXIO, 'No such device or address'): read as the store's own error, one planted where
    an object belongs was an outage (StoreUnavailableError, 'check that the folder is reachable'), which stopped verify
    and the audit. It is refused as the object that cannot be read, named a socket, as a named pipe is."""
    import socket

    store = LocalStore(tmp_path / "store")
    store.put("bundles/r/manifest.json", b"{}")
    monkeypatch.chdir(tmp_path / "store" / "bundles" / "r")  # a socket's path is short: bound relative to its folder
    with socket.socket(socket.AF_UNIX) as planted:
        planted.bind("events.jsonl")
        with pytest.raises(UnreadableObjectError) as caught:
            store.get("bundles/r/events.jsonl")
    assert caught.value.what == (f"object 'bundles/r/events.jsonl' in local folder {tmp_path / 'store'} cannot be read: "
                                 f"{tmp_path / 'store' / 'bundles' / 'r' / 'events.jsonl'} is a socket, not a regular file.")


def test_a_link_swapped_in_while_a_read_walks_the_key_is_never_read_through(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read checked the key's path for links, then opened it: a link put in between (a run's folder swapped for a
    link to a copy outside the store) was read through. Each folder is opened by its name in the one above it, never
    through a link, so a read gets the store's bytes, or is refused naming the link. The link is swapped in before
    each call that opens or looks at a path in turn (every window of the walk, none left to timing), and the folder
    put back after each read."""
    store, outside, bundles = LocalStore(tmp_path / "store"), tmp_path / "outside", tmp_path / "store" / "bundles"
    store.put("bundles/r/x.json", b"in")
    outside.mkdir()
    (outside / "x.json").write_bytes(b"out")
    calls, swap_at = 0, 0

    def swapping_before(call):
        def hooked(*args, **kwargs):
            nonlocal calls
            if calls == swap_at:  # the folder leaves, a link to the copy outside takes its place
                os.rename(bundles / "r", bundles / "aside")
                os.symlink(outside, bundles / "r")
            calls += 1
            return call(*args, **kwargs)
        return hooked

    seen: list[object] = []
    real_open, real_stat, real_lstat = os.open, os.stat, os.lstat
    while True:
        calls = 0
        with monkeypatch.context() as patch:
            for name, call in (("open", real_open), ("stat", real_stat), ("lstat", real_lstat)):
                patch.setattr(os, name, swapping_before(call))
            try:
                seen.append(store.get("bundles/r/x.json"))
            except UnreadableObjectError as exc:
                assert "bundles/r is a symbolic link (to " in exc.what, exc.what
                seen.append("link")
        if calls <= swap_at:  # the read ended before the swap: every window was tried
            break
        os.unlink(bundles / "r")
        os.rename(bundles / "aside", bundles / "r")
        swap_at += 1
    assert seen[-1] == b"in" and b"out" not in seen and "link" in seen, seen


@pytest.mark.parametrize("when", ["after the scan of bundles/", "before the scan of bundles/r/"])
def test_a_link_swapped_in_while_a_listing_walks_the_store_lists_nothing_outside_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, when: str) -> None:
    """A listing checked the path for links, then scanned each folder by its path: a link swapped in between (a run's
    folder swapped for a link to a folder outside the store) had the outside folder's files listed as keys of the
    store. Each folder is opened by its name in the one above it, never through a link, and scanned by its descriptor,
    so a listing names the store's keys, never a file outside the store."""
    import contextlib

    root, outside = tmp_path / "store", tmp_path / "outside"
    store = LocalStore(root)
    store.put("bundles/r/x.json", b"in")
    outside.mkdir()
    (outside / "elsewhere.json").write_bytes(b"out")
    real_scandir, bundles = os.scandir, root / "bundles"

    def swap() -> None:
        os.rename(bundles / "r", bundles / "aside")
        (bundles / "r").symlink_to(outside)

    def scandir(p: int | str):  # a listing scans folders by their path (before) or descriptor (now)
        folder = Path(os.readlink(f"/proc/self/fd/{p}") if isinstance(p, int) else p)
        if when.startswith("before") and folder == bundles / "r" and not (bundles / "aside").exists():
            swap()
        entries = list(real_scandir(p))
        if when.startswith("after") and folder == bundles:
            swap()
        return contextlib.nullcontext(iter(entries))

    monkeypatch.setattr(os, "scandir", scandir)
    prefix = "bundles/" if when.startswith("after") else "bundles/r/"
    listed = list(store.list(prefix))
    assert (bundles / "aside").exists() and (bundles / "r").is_symlink()
    assert listed == ([] if when.startswith("after") else ["bundles/r/x.json"]), listed


def test_a_large_object_read_under_its_size_is_held_once(tmp_path: Path) -> None:
    """A bundle file is read under the size its manifest gives (verify, show): read in parts of at most 1 MiB and
    joined, a 24 MiB row set was held twice (48 MiB at the peak); one read(limit + 1) before held it once. The local
    store reads a file in one read of its size; the bytes and the refusal past the limit stay."""
    import tracemalloc

    from prov_common.store.errors import ObjectTooLargeError

    store, data = open_store(str(tmp_path / "store")), os.urandom(24 << 20)
    store.put("bundles/r/rows.bin", data)
    tracemalloc.start()
    try:
        assert store.get("bundles/r/rows.bin", len(data)) == data
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < len(data) * 5 // 4, f"a get of {len(data):,} bytes allocated {peak:,} bytes at its peak"
    with pytest.raises(ObjectTooLargeError, match="bundles/r/rows.bin"):
        store.get("bundles/r/rows.bin", len(data) - 1)


def test_a_link_to_a_folder_outside_the_store_or_through_links_is_listed_as_one_object(tmp_path: Path) -> None:
    """A link to a folder outside the store was walked as part of it (a link to '/' listed the whole file system), and
    links upon links in the store were walked once for every path through them (two links to the next folder at each
    of 10 levels: 1,024 keys, a million at 20). Such a link is listed as one object, which a read refuses naming the link; a link to
    a folder of the store is still listed as that folder."""
    outside = tmp_path / "outside"
    outside.mkdir()
    for n in range(3):
        (outside / f"{n}.json").write_bytes(b"{}")
    store = LocalStore(tmp_path / "store")
    store.put("bundles/b/x.json", b"{}")
    root = tmp_path / "store"
    (root / "bundles" / "a").symlink_to(outside)
    levels = root / "levels"
    for n in range(10):
        (levels / f"f{n}").mkdir(parents=True)
        for name in ("a", "b"):
            (levels / f"f{n}" / name).symlink_to(f"../f{n + 1}")
    (levels / "f10").mkdir()
    (levels / "f10" / "k").write_bytes(b"1")
    assert list(store.list("bundles/")) == ["bundles/a", "bundles/b/x.json"]
    assert [i.key for i in store.list_info("bundles/")] == ["bundles/a", "bundles/b/x.json"]
    assert list(store.list("levels/f0/")) == ["levels/f0/a/a", "levels/f0/a/b", "levels/f0/b/a", "levels/f0/b/b"]
    with pytest.raises(UnreadableObjectError) as caught:
        store.get("bundles/a")
    assert caught.value.what == (f"object 'bundles/a' in local folder {root} cannot be read: {root / 'bundles' / 'a'} is "
                                 f"a symbolic link (to {outside}), and tdprov writes only files and folders in a store.")
    assert list(store.list("bundles/a/")) == [] and list(store.list("bundles/a/0")) == []
    assert list(store.list("levels/f0/a/")) == ["levels/f0/a/a", "levels/f0/a/b"]
    assert store.exists("bundles/b/x.json") and not store.exists("levels/f0/a/b/k") and not store.exists("bundles/a/0.json")


def test_a_listing_under_a_link_lists_what_the_whole_listing_lists_there(tmp_path: Path) -> None:
    """A listing of a prefix through a link walked the folder it leads to whatever the whole listing does with it: a
    link back to a folder above it (a loop) and a link reached through another link, each listed as one object by the
    whole listing, were walked when a prefix named them, so 'bundles/r1/y/y/y/' listed keys the store's listing does
    not hold. A prefix lists what the whole listing lists under it, as S3 does."""
    root = tmp_path / "store"
    store = LocalStore(root)
    store.put("bundles/r1/m.json", b"{}")
    store.put("levels/f2/k", b"1")
    (root / "bundles" / "x").symlink_to(".")  # back to the folder that holds it
    (root / "bundles" / "r1" / "y").symlink_to("../r1")  # back to itself
    (root / "levels" / "f0").mkdir()
    (root / "levels" / "f1").mkdir()
    (root / "levels" / "f0" / "a").symlink_to("../f1")
    (root / "levels" / "f1" / "a").symlink_to("../f2")  # reached through f0/a: one object there
    whole = list(store.list(""))
    assert whole == ["bundles/r1/m.json", "bundles/r1/y", "bundles/x", "levels/f0/a/a", "levels/f1/a/k", "levels/f2/k"]
    for prefix in ("bundles/x/", "bundles/x/r1/", "bundles/r1/y/", "bundles/r1/y/y/y/", "levels/f0/a/", "levels/f0/a/a/",
                   "levels/f0/a/a/k", "levels/f1/a/", "bundles/r1/"):
        assert list(store.list(prefix)) == [k for k in whole if k.startswith(prefix)], prefix
        assert [i.key for i in store.list_info(prefix)] == [k for k in whole if k.startswith(prefix)], prefix


def test_a_late_key_record_is_read_no_further_than_a_key(tmp_path: Path) -> None:
    """The record that remembers where a late object went holds a key (at most MAX_KEY_LENGTH bytes): one grown (sparse) to
    256 MiB was read whole by the next writer of that object. It is read no further than a key, and named."""
    import tracemalloc

    from prov_common.store.errors import ObjectTooLargeError
    from prov_common.store.keys import MAX_KEY_LENGTH
    from prov_common.store.latekey import LateKey, put_late

    store = LocalStore(tmp_path)
    late = LateKey("late/{now:%Y%m%dT%H%M%S%fZ}.json", b"{}", "late/record")
    key, _ = put_late(store, late)
    assert put_late(store, late) == (key, False)  # the second writer reads the key the first recorded
    os.truncate(tmp_path / "late" / "record", 256 << 20)
    tracemalloc.start()
    try:
        with pytest.raises(ObjectTooLargeError, match=f"object 'late/record' in .* is larger than {MAX_KEY_LENGTH:,} bytes"):
            put_late(store, late)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, peak
