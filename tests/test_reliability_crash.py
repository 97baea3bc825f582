"""A writer killed with SIGKILL at every stage of writing a bundle.

A child process emits one run (START, COMPLETE) through ``ProvenanceTransport`` and kills itself at
a named point: before its N-th store write (N = 0 is before staging; the last ones are between the
bundle's objects and before the index entry), right after its last write, half-way through an
upload (the S3 proxy reads half the body, then the parent kills the child), while writing a spool
entry, and in a flusher after it delivered a spooled bundle but before it removed the entry.

Afterwards a flush runs, and then: either the whole bundle is in the store, indexed and verifying,
or the audit names the run as unfinished. Never a bundle that verifies while incomplete.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from bundle_support import indexed_runs, run_events
from prov_common.audit import run_audit
from prov_common.bundle import layout, verify_bundle
from prov_common.signing import trust_from_settings
from prov_common.store import Outbox, open_store
from test_reliability_proxy import FaultProxy, fast_tmp, fault_proxy  # noqa: F401 - fixtures

def _child_main(point: str, n: int, store: str, spool: str, events: list[dict], done) -> None:
    """The writer: kill points are set by wrapping the store's put, os.rename and os.unlink (this
    process only; it dies anyway), then it emits the run like any producer would."""
    from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport
    from prov_common.store._base import BaseStore

    def die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    puts = [0]
    original_put, original_rename, original_unlink = BaseStore.put, os.rename, os.unlink

    def put(self, key, data):
        if point == "before-put" and puts[0] == n:
            die()
        created = original_put(self, key, data)
        puts[0] += 1
        if point == "after-put" and puts[0] == n:
            die()
        return created

    def rename(src, dst, *a, **k):  # the spool entry's temporary file is written, the rename never happens
        if point == "spool-rename" and ".tmp-" in str(src):
            puts[0] += 1
            if puts[0] > n:
                die()
        return original_rename(src, dst, *a, **k)

    def unlink(path, *a, **k):  # a flusher delivered an entry's objects, then dies before removing it
        if point == "flush-unlink" and ".claim-" in str(path):
            die()
        return original_unlink(path, *a, **k)

    BaseStore.put, os.rename, os.unlink = put, rename, unlink
    if point == "flush-unlink":
        Outbox(spool).flush()
    else:
        transport = ProvenanceTransport(ProvenanceConfig(store=store, spool=spool, timeout=0))
        for event in events:
            transport.emit(event)
        transport.close()
    done.put(puts[0])
    done.close()
    done.join_thread()
    os._exit(0)


class _Child:
    def __init__(self, proc, queue) -> None:
        self.proc, self.queue = proc, queue

    def wait(self, timeout: float = 60) -> int:
        self.proc.join(timeout)
        return self.proc.exitcode

    @property
    def returncode(self) -> int | None:
        return self.proc.exitcode

    def puts(self) -> int:
        return self.queue.get(timeout=5)

    def kill(self) -> None:
        self.proc.kill()


def _child(tmp: Path, point: str, n: int, store: str, spool: Path, events: list[dict], *, wait: bool = True,
           env: dict | None = None) -> _Child:
    """A forked writer (forked: it starts in milliseconds with everything imported)."""
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        proc = ctx.Process(target=_child_main, args=(point, n, store, str(spool), events, queue))
        proc.start()
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    child = _Child(proc, queue)
    if wait:
        child.wait()
    return child


def _outcomes(store_uri: str, runs: dict[str, Path], report_dir: Path) -> dict[str, str]:
    """Flush each run's spool, then classify each run: 'delivered' (whole, indexed, verifies), 'named'
    (the audit reports it) or 'nothing' (no trace at all); fails the test on anything else: a run
    lost without a word, or a bundle that verifies without its commit marker."""
    for spool in runs.values():
        Outbox(spool).flush()
    store = open_store(store_uri)
    keys = list(store.list())
    indexed = Counter(indexed_runs(store))
    trust = trust_from_settings()
    audit = None
    outcomes = {}
    for run_id, spool in runs.items():
        if not any(run_id in k for k in keys) and not Outbox(spool).pending():
            outcomes[run_id] = "nothing"
            continue
        report = verify_bundle(store, run_id, trust)
        if layout.bundle_key(run_id, layout.STATEMENT_FILE) not in keys:
            assert not report.ok, f"run {run_id}: a bundle without its commit marker verifies"
        assert indexed[run_id] <= 1
        if report.ok and indexed[run_id] == 1:
            outcomes[run_id] = "delivered"
            continue
        audit = audit or run_audit(store, stale_after=timedelta(0), report_dir=report_dir, progress=False)
        named = [f for f in audit.findings if f.run_id == run_id or run_id in f.object]
        assert named, (f"run {run_id} is neither delivered (verifies={report.ok}, indexed={indexed[run_id]}) "
                       f"nor named by the audit: {[f.what for f in audit.findings]}")
        outcomes[run_id] = "named"
    return outcomes


def _outcome(store_uri: str, spool: Path, run_id: str, report_dir: Path) -> str:
    return _outcomes(store_uri, {run_id: spool}, report_dir)[run_id]


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_sigkill_at_every_write_leaves_a_whole_bundle_or_a_named_run(backend: str, tmp_path: Path, fast_tmp: Path,
                                                                     request) -> None:
    store_uri = str(tmp_path / "store") if backend == "local" else request.getfixturevalue("s3_store_uri")
    # a run that is not killed tells how many store writes one run makes (2 staged events, the
    # bundle's files, manifest, statement = commit marker, index entry and its bookkeeping)
    from prov_common.store.identity import ensure_identity

    ensure_identity(open_store(store_uri))  # made once per store: every run below then makes the same writes
    reference = str(uuid.uuid4())
    proc = _child(tmp_path, "after-put", 10_000, store_uri, fast_tmp / "spool-ref", run_events(reference))
    assert proc.returncode == 0
    writes = proc.puts()
    assert writes >= 7
    assert _outcome(store_uri, fast_tmp / "spool-ref", reference, tmp_path / "report-ref") == "delivered"
    stages = [("before-put", n) for n in range(writes)] + [("after-put", writes)]
    runs = {stage: (str(uuid.uuid4()), fast_tmp / f"spool-{stage[0]}-{stage[1]}") for stage in stages}
    procs = {stage: _child(tmp_path, *stage, store_uri, spool, run_events(run_id), wait=False)
             for stage, (run_id, spool) in runs.items()}  # independent runs: all at once
    for stage, proc in procs.items():
        proc.wait(120)
        assert proc.returncode == -signal.SIGKILL, stage
    found = _outcomes(store_uri, dict(runs.values()), tmp_path / "report")
    outcomes = {stage: found[run_id] for stage, (run_id, _) in runs.items()}
    # killed before its first write the run left nothing (its pipeline stopped there too); from the
    # first staged event on it is named by the audit until the bundle is whole, indexed and verifies
    assert outcomes.pop(("before-put", 0)) == "nothing"
    assert outcomes.pop(("after-put", writes)) == "delivered"
    assert set(outcomes.values()) <= {"named", "delivered"}
    assert outcomes[("before-put", 1)] == "named"


def test_sigkill_half_way_through_an_upload(s3_server, fault_proxy: FaultProxy, tmp_path: Path, fast_tmp: Path) -> None:
    """The proxy takes half of manifest.json's body, then the parent kills the writer."""
    store_uri = f"s3://{s3_server.create_bucket()}/prov"
    started = threading.Event()
    fault_proxy.fault = lambda method, path: ("half", started) if method == "PUT" and path.split("?")[0].endswith(layout.MANIFEST_FILE) else None
    run_id, spool = str(uuid.uuid4()), fast_tmp / "spool"
    proc = _child(tmp_path, "none", 0, store_uri, spool, run_events(run_id), wait=False,
                  env={"TDPROV_STORE_READ_TIMEOUT": "30"})
    assert started.wait(60), "no upload seen"
    proc.kill()
    proc.wait(10)
    fault_proxy.fault = None
    store = open_store(store_uri)
    assert not store.exists(layout.bundle_key(run_id, layout.MANIFEST_FILE))  # S3 never keeps half an object
    assert _outcome(store_uri, spool, run_id, tmp_path / "report") == "named"


def test_sigkill_while_spooling_and_in_a_flusher_before_spool_removal(s3_server, s3_fault, monkeypatch,
                                                                        tmp_path: Path, fast_tmp: Path) -> None:
    bucket = s3_server.create_bucket()
    down = s3_fault("closed", bucket)
    spool = fast_tmp / "spool"
    # 1. store down; the writer dies while writing the bundle's spool entry (its 3rd): the staged
    #    events are spooled, the bundle is not; a stray temporary file is all that is left of it
    run_a = str(uuid.uuid4())
    proc = _child(tmp_path, "spool-rename", 2, down, spool, run_events(run_a))
    assert proc.returncode == -signal.SIGKILL
    assert len(Outbox(spool).pending()) == 2 and any(p.name.startswith(".tmp-") for p in spool.iterdir())
    # 2. store still down; a second run is spooled whole
    run_b = str(uuid.uuid4())
    assert _child(tmp_path, "none", 0, down, spool, run_events(run_b)).returncode == 0
    assert len(Outbox(spool).pending()) == 5
    # 3. the store is back; a flusher delivers the first entry and dies before removing it
    s3_server.point(monkeypatch)
    monkeypatch.delenv("TDPROV_STORE_MAX_ATTEMPTS")
    proc = _child(tmp_path, "flush-unlink", 0, "", spool, [])
    assert proc.returncode == -signal.SIGKILL
    uri = f"s3://{bucket}/prefix"
    assert _outcome(uri, spool, run_b, tmp_path / "report-b") == "delivered"
    assert _outcome(uri, spool, run_a, tmp_path / "report-a") == "named"
    assert Outbox(spool).pending() == []
    keys = list(open_store(uri).list())
    assert len(keys) == len(set(keys))
