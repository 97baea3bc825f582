"""``verify`` and the audit on every core: bundles verified in worker processes give the same reports,
in the same order, as verifying them one after another; tampered bundles are found either way."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from bundle_support import raw_delete, raw_put, run_events
from counting_store import CountingStore
from prov_common.bundle import build_bundle, layout, samples_path, write_bundle
from prov_common.bundle import verify_pool
from prov_common.bundle.verify_runs import verify_runs
from prov_common.cli import main
from prov_common.signing import SigningKey, TrustStore
from prov_common.store import open_store

SEALED = datetime(2026, 3, 1, 10, 1, tzinfo=timezone.utc)
BUNDLES = 9


def _sound_store(store_uri: str, bundles: int = BUNDLES):
    """``bundles`` sound bundles, an attachment each: the store, the trust, the signing key and the run ids."""
    key = SigningKey.generate()
    store = open_store(store_uri)
    runs = []
    for i in range(bundles):
        bundle = build_bundle(run_events(), {samples_path("s3://lake", f"clean/t{i}"): f"PAR1 {i} PAR1".encode()}, key, sealed_at=SEALED)
        assert write_bundle(store, bundle).status == "written"
        runs.append(bundle.run_id)
    return store, TrustStore.of([key.public]), key, runs


def _tampered_store(store_uri: str):
    """Nine bundles, three of them tampered with (a flipped byte, a deleted file, an object added)."""
    store, trust, key, runs = _sound_store(store_uri)
    prefix = [layout.bundle_prefix(r) for r in runs]
    events = store.get(prefix[2] + layout.EVENTS_FILE)
    raw_put(store_uri, prefix[2] + layout.EVENTS_FILE, events.replace(b"COMPLETE", b"COMPLETf", 1))
    raw_delete(store_uri, prefix[5] + layout.PROV_FILE)
    raw_put(store_uri, prefix[7] + "extra.bin", b"not in the manifest")
    return store, trust, key, runs


@pytest.fixture(autouse=True)
def _parallel_from_two(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify_pool, "PARALLEL_FROM", 2)  # a pool for a few bundles


@pytest.fixture
def tampered(tmp_path):
    """:func:`_tampered_store` in a local folder: workers on S3 are those of the index-listing test below, each finding
    on S3 that of tests/test_bundle_verify.py."""
    uri = str(tmp_path / "store")
    return (uri, *_tampered_store(uri))


def _reports(store, trust, workers: int) -> list[dict]:
    return [r.to_dict() for r in verify_runs(store, trust, workers=workers)]


def test_parallel_findings_are_the_serial_findings_and_cli_verify_with_workers_prints_them(tampered, tmp_path,
                                                                                          capsys) -> None:
    """The reports of workers are those of one process, in the same order, for the whole store ('tdprov verify --json
    --workers 2', whose lines are the reports' dictionaries, against the serial reports) and for named runs (in the order
    asked for); a bad --workers is refused by name."""
    uri, store, trust, key, runs = tampered
    serial = _reports(store, trust, 1)
    assert [r["runId"] for r in serial] == sorted(runs)
    failing = {r["runId"]: sorted({f["problem"] for f in r["findings"]}) for r in serial if r["findings"]}
    assert failing == {runs[2]: ["digest mismatch"], runs[5]: ["missing"], runs[7]: ["unlisted object"]}
    trusted = tmp_path / "trusted.pub"
    trusted.write_bytes(key.public.to_pem())
    for workers in ("1", "2"):
        assert main(["verify", "--json", "--workers", workers, "--trusted-keys", str(trusted), "--store", uri]) == 1
        printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert printed == serial, f"verify --workers {workers} printed other reports than the serial verification"
    named = [r.to_dict() for r in verify_runs(store, trust, [runs[7], runs[2], runs[0]], workers=2)]
    assert [r["runId"] for r in named] == [runs[7], runs[2], runs[0]]  # the order asked for
    assert named == [r.to_dict() for r in verify_runs(store, trust, [runs[7], runs[2], runs[0]], workers=1)]
    with pytest.raises(SystemExit) as bad:
        main(["verify", "--workers", "0", "--store", uri])
    assert bad.value.code == 2
    err = capsys.readouterr().err
    assert "--workers" in err and "Traceback" not in err


def test_workers_read_the_bundles_not_this_process_and_serial_reads_each_object_once(tmp_path) -> None:
    uri = str(tmp_path / "store")
    _store, trust, _key, runs = _tampered_store(uri)
    counting = CountingStore(uri)
    list(verify_runs(counting, trust, workers=1))
    assert counting.gets and set(counting.gets.values()) == {1}  # every object read once
    counting.gets.clear()
    reports = list(verify_runs(counting, trust, workers=2))
    assert len(reports) == BUNDLES
    first = layout.bundle_prefix(sorted(runs)[0])
    read_here = {k for k in counting.gets if k.startswith(layout.BUNDLES + "/")}
    # this process verified the first bundle (warming up); the workers, with stores of their own, the rest
    assert read_here and all(k.startswith(first) for k in read_here)


def test_workers_list_the_index_once_per_batch_for_named_runs_whose_indexed_record_is_gone(s3_store_uri: str, tmp_path,
                                                                                              monkeypatch) -> None:
    """Named runs whose indexed record is gone are checked against every index entry of theirs, found by listing the
    whole index: the workers listed it once per such run (10 runs, 10 listings). Each batch a worker is given lists it
    once (9 runs after the first, in chunks of 2 on 2 workers: 5), the first run's, verified here, once. Counted in the
    S3 server's record of the requests, whichever process sent them."""
    from urllib.parse import parse_qs, urlparse

    from moto.moto_api import recorder

    from prov_common.store.identity import writer_store_id

    key, store = SigningKey.generate(), open_store(s3_store_uri)
    runs = []
    for _ in range(10):
        bundle = build_bundle(run_events(), {}, key, sealed_at=SEALED, store_id=writer_store_id(store))
        assert write_bundle(store, bundle).status == "written"
        raw_delete(s3_store_uri, layout.bundle_key(bundle.run_id, layout.INDEXED_FILE))
        runs.append(bundle.run_id)
    monkeypatch.setattr(recorder, "_location", str(tmp_path / "requests.jsonl"))
    recorder.start_recording()
    try:
        reports = list(verify_runs(store, TrustStore.of([key.public]), runs, workers=2))
    finally:
        recorder.stop_recording()
    gone = "the bundle's indexed record, which names its index entry, is gone though the run has an index entry"
    assert [[(f.key, f.reason) for f in r.findings] for r in reports] == [
        [(layout.bundle_key(run_id, layout.INDEXED_FILE), gone)] for run_id in runs]
    asked = [parse_qs(urlparse(json.loads(line)["url"]).query) for line in (tmp_path / "requests.jsonl").read_text().splitlines()]
    index = [q for q in asked if "list-type" in q and q.get("prefix", [""])[0].endswith(f"/{layout.INDEX}/")]
    assert len(index) == 1 + 5, index


def test_full_audit_findings_are_the_same_on_one_and_on_two_workers(tmp_path, monkeypatch) -> None:
    import shutil

    from prov_common.audit import engine, run_audit
    from prov_common.config import Settings
    from prov_common.signing.keyfiles import write_keypair

    monkeypatch.setattr(engine, "PARALLEL_FROM", 2)
    original = tmp_path / "store"
    store, _trust, key, _runs = _tampered_store(str(original))
    entry = next(k for k in store.list(layout.INDEX + "/") if layout.run_id_of_index_key(k) == _runs[0])
    copied = entry.replace(_runs[0], "00000000-0000-4000-8000-00000000c0de")  # an entry copied under another run's name
    raw_put(str(original), copied, store.get(entry))
    private, public = write_keypair(tmp_path / "signer.key", key)
    found, entries_read_here = [], []
    for workers in (1, 2):
        copy = tmp_path / f"store-{workers}"
        shutil.copytree(original, copy)  # two identical stores: each audit appends to its own log
        settings = Settings.from_env(store=str(copy), signing_key=str(private), trusted_keys=str(public))
        counting = CountingStore(copy)
        result = run_audit(counting, settings, full=True, report_dir=tmp_path / f"report-{workers}", progress=False, workers=workers)
        found.append([(f.check, f.object, f.what.replace(str(copy), "STORE"), f.severity) for f in result.findings])
        entries_read_here.append(sum(n for k, n in counting.gets.items() if k.startswith(layout.INDEX + "/")))
        assert result.bundles_examined == BUNDLES
    assert found[0] == found[1]
    assert [(c, o) for c, o, w, _s in found[0] if f"holds the summary of run {_runs[0]}" in w] == [("inventory", copied)]
    # one worker: this process reads every index entry; two: the workers read them (this process the first one)
    assert entries_read_here == [BUNDLES + 1, 1]
    assert sum(obj.endswith("extra.bin") for _check, obj, _what, _severity in found[0]) == 1
    assert {obj.split("/")[1] for _c, obj, _w, _s in found[0] if obj.startswith("bundles/")} >= {
        _runs[2], _runs[5], _runs[7]}


def _verify_in_daemon(uri: str, pem: bytes, out) -> None:
    from prov_common.signing import PublicKey

    trust = TrustStore.of([PublicKey.from_pem(pem)])
    verify_pool.PARALLEL_FROM = 2
    out.put([r.to_dict() for r in verify_runs(open_store(uri), trust, workers=2)])


def test_a_daemonic_process_verifies_serially_instead_of_failing(tmp_path) -> None:
    """Forked, as a Celery prefork worker is (with everything imported: a spawned child imported this module first)."""
    import multiprocessing

    uri = str(tmp_path / "store")
    store, trust, key, _runs = _tampered_store(uri)
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    child = context.Process(target=_verify_in_daemon, args=(uri, key.public.to_pem(), out), daemon=True)
    child.start()
    reports = out.get(timeout=240)
    child.join(60)
    assert child.exitcode == 0
    assert reports == [r.to_dict() for r in verify_runs(store, trust, workers=1)]



def _children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (read from /proc)."""
    import os

    out = []
    for entry in os.listdir("/proc"):
        try:
            stat = open(f"/proc/{entry}/stat").read() if entry.isdigit() else ""
        except OSError:
            continue
        if stat and int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.append(int(entry))
    return out


def test_the_workers_end_when_the_verifying_process_is_killed(tmp_path) -> None:
    """'kill -9' of a verify or an audit left its worker processes running (a forked worker also holds the lock of
    the auditor's memory: every later audit by that auditor waited for ever). They end with their parent."""
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "slow_verify.py"
    script.write_text(
        "import sys, time\n"
        "from prov_common.bundle.verify_pool import map_bundles\n"
        "from prov_common.signing import TrustStore\n"
        "from prov_common.store import open_store\n"
        "def slow(store, trust, item):\n"
        "    time.sleep(0.2)\n"
        "    return item\n"
        "for _ in map_bundles(slow, list(range(400)), open_store(sys.argv[1]), TrustStore.of([]), workers=2, parallel_from=2):\n"
        "    pass\n"
    )
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "store")])
    workers: list[int] = []
    deadline = time.monotonic() + 60
    while len(workers) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
        workers = _children(proc.pid)
    assert len(workers) >= 2, "the workers did not start"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 20
    alive = workers
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [w for w in workers if os.path.exists(f"/proc/{w}") and open(f"/proc/{w}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"]
    for w in alive:
        os.kill(w, signal.SIGKILL)  # leave nothing behind, then fail
    assert not alive, f"workers {alive} outlived their killed parent"


def test_workers_started_by_another_method_verify(tmp_path) -> None:
    """Under the forkserver start method (the default from Python 3.14) every worker took the fork server for a dead
    parent and ended at once: verify stopped with BrokenProcessPool. Run in a process of its own: a fork server
    outlives the test and keeps the environment it started with, which later multiprocess tests would inherit. That
    process verifies with workers started by each method in turn (spawn, then forkserver) and prints each method's
    reports on a line of their own, or the traceback that stopped it."""
    import subprocess
    import sys

    store, trust, _key, runs = _tampered_store(str(tmp_path / "store"))
    serial = json.dumps(_reports(store, trust, 1), sort_keys=True)
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps([k.to_pem().decode() for k in trust]))
    methods = ["spawn", "forkserver"]
    script = (
        "import json, multiprocessing, sys, threading, traceback\n"
        "from prov_common.bundle import verify_pool\n"
        "from prov_common.bundle.verify_runs import verify_runs\n"
        "from prov_common.signing import PublicKey, TrustStore\n"
        "from prov_common.store import open_store\n"
        "if __name__ == '__main__':\n"
        "    verify_pool.PARALLEL_FROM = 2\n"
        "    trust = TrustStore.of(PublicKey.from_pem(p.encode()) for p in json.load(open(sys.argv[2])))\n"
        f"    for method in {methods!r}:\n"
        "        multiprocessing.set_start_method(method, force=True)\n"
        "        try:\n"
        "            assert threading.active_count() == 1, 'a thread is left: the workers would spawn'\n"
        "            print(method, json.dumps([r.to_dict() for r in verify_runs(open_store(sys.argv[1]), trust, workers=2)],\n"
        "                                     sort_keys=True), flush=True)\n"
        "        except Exception:\n"
        "            print(method, json.dumps(traceback.format_exc()), flush=True)\n"
    )
    (tmp_path / "verify_with.py").write_text(script)
    done = subprocess.run([sys.executable, str(tmp_path / "verify_with.py"), str(tmp_path / "store"), str(keys)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    printed = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert list(printed) == methods, done.stdout[-2000:]
    for method in methods:
        assert printed[method] == serial, f"workers started by {method}: {printed[method][-2000:]}"


@pytest.mark.parametrize("workers", [1, 2], ids=["here", "in workers"])
def test_runs_are_checked_as_the_bytes_held_not_read_again(tmp_path, monkeypatch: pytest.MonkeyPatch, workers: int) -> None:
    """'tdprov lineage' holds each bundle's statement, manifest and PROV as it read them for its tree
    (:class:`~prov_common.store.held_reads.HeldReads`) and verifies those very bytes, here or in worker processes (each
    opening the store again), never bytes read a second time: a PROV held otherwise than stored is what fails."""
    from prov_common.audit.recorded import check_runs
    from prov_common.bundle import list_bundles
    from prov_common.store.held_reads import HeldReads

    store, trust, _key, runs = _sound_store(str(tmp_path / "store"), 3)
    held = HeldReads(store, layout.is_read_whole)
    summaries = list(list_bundles(held))
    for summary in summaries:
        for path in layout.READ_WHOLE:
            held.get(layout.bundle_key(summary.run_id, path))
    last = summaries[-1].run_id  # with workers, verified in one of them
    altered = layout.bundle_key(last, layout.PROV_FILE)
    flipped = bytearray(held.held[altered])
    flipped[-2] ^= 1
    held.held[altered] = bytes(flipped)
    monkeypatch.setattr(verify_pool, "usable_cpus", lambda: workers)
    checked = check_runs(held, trust, summaries)
    assert set(checked.sound) == set(runs) - {last} and list(checked.left_out) == [last], checked
    assert f"{altered}: digest mismatch" in checked.left_out[last], checked.left_out
