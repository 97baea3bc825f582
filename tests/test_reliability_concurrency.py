"""Everything at once on one S3 store (moto on localhost): 4 writer processes sealing bundles, 2
processes flushing one spool of bundles from an earlier outage, and 2 audits appending to the log.

Afterwards: every run has exactly one index entry and a bundle that verifies, the spool is empty,
the checkpoints form one chain (one checkpoint per tree size, each extending the previous one) and
a final audit finds nothing wrong and logs each run once.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from bundle_support import indexed_runs, run_events
from prov_common.audit import run_audit
from prov_common.bundle import build_bundle, verify_bundle
from prov_common.bundle.storage import write_bundle
from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport
from prov_common.errors import StoreUnavailableError
from prov_common.signing import signing_key_from_settings, trust_from_settings
from prov_common.store import Outbox, open_store
from prov_common.tlog.log import TransparencyLog
from test_reliability_proxy import fast_tmp  # noqa: F401 - fixture

# Enough for every kind to overlap every other on 2 CPUs: each auditor's first audit spans the writers' and the
# flushers' whole work, both flushers deliver part of the spool, and the two auditors' audits overlap each other.
WRITERS, RUNS_PER_WRITER, SPOOLED = 4, 3, 12


class _Down:
    """A store that is unreachable, under the real store's URI (the spool entry names that store)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri

    def put(self, key: str, data: bytes = b"") -> bool:
        raise StoreUnavailableError(f"store {self.uri} is down (simulated outage)", fix="wait")

    exists = put


@contextlib.contextmanager
def _fork_server() -> Iterator[multiprocessing.context.BaseContext]:
    """The forkserver start method with this module (and rdflib) preloaded in a fork server started here and stopped
    afterwards, not fork: this process runs the S3 server's threads, and a child forked while one of them
    holds a lock would wait on it forever. Not spawn either: each of the eight children imported the
    whole library again. The server is started inside the test, so its children see this test's
    environment (TDPROV_HOME, the S3 endpoint), and stopped after it, so no other test inherits it."""
    from multiprocessing import forkserver

    server = forkserver._forkserver
    preload = server._preload_modules
    server._stop()  # one started earlier holds an earlier environment
    server.set_forkserver_preload([__name__, "rdflib", "lxml.etree"])  # and what a writer's first seal imports
    try:
        yield multiprocessing.get_context("forkserver")
    finally:
        server._stop()
        server.set_forkserver_preload(preload)


def _writer(store_uri: str, spool: str, run_ids: list[str], start, done) -> None:
    start.wait()
    transport = ProvenanceTransport(ProvenanceConfig(store=store_uri, spool=spool, strict=True, timeout=0))
    for run_id in run_ids:
        for event in run_events(run_id):
            transport.emit(event)
    transport.close()
    done.put(("writer", len(run_ids)))


def _flusher(store_uri: str, spool: str, start, done) -> None:
    start.wait()
    total = 0
    for _ in range(3):  # flush, as cron would, a few times
        total += Outbox(spool).flush(open_store(store_uri)).delivered
    done.put(("flush", total))


def _auditor(store_uri: str, report_dir: str, start, done) -> None:
    start.wait()
    sizes = []
    for _ in range(2):
        result = run_audit(open_store(store_uri), report_dir=report_dir, progress=False, workers=1,
                           stale_after=timedelta(hours=1))
        sizes.append(result.checkpoint.checkpoint.size if result.checkpoint else 0)
    done.put(("audit", sizes))


def test_writers_flushers_and_auditors_at_once(s3_store_uri: str, tmp_path: Path, fast_tmp: Path) -> None:
    signing_key_from_settings()  # the per-user key exists before the processes fork
    spool = fast_tmp / "spool"
    spooled = [str(uuid.uuid4()) for _ in range(SPOOLED)]
    signer, down = signing_key_from_settings(), _Down(s3_store_uri)
    for run_id in spooled:
        assert write_bundle(down, build_bundle(run_events(run_id), {}, signer), outbox=Outbox(spool)).status == "spooled"
    assert len(Outbox(spool).pending()) == SPOOLED
    written = {w: [str(uuid.uuid4()) for _ in range(RUNS_PER_WRITER)] for w in range(WRITERS)}

    with _fork_server() as ctx:
        start, done = ctx.Barrier(WRITERS + 4), ctx.Queue()
        procs = [ctx.Process(target=_writer, args=(s3_store_uri, str(fast_tmp / f"w{w}"), ids, start, done))
                 for w, ids in written.items()]
        procs += [ctx.Process(target=_flusher, args=(s3_store_uri, str(spool), start, done)) for _ in range(2)]
        procs += [ctx.Process(target=_auditor, args=(s3_store_uri, str(tmp_path / f"a{a}"), start, done)) for a in range(2)]
        for proc in procs:
            proc.start()
        try:
            reports = [done.get(timeout=240) for _ in procs]
            for proc in procs:
                proc.join(60)
                assert proc.exitcode == 0
        finally:
            for proc in procs:  # a process still running after a failure must not outlive the test
                if proc.is_alive():
                    proc.kill()
    assert sum(n for kind, n in reports if kind == "flush") == SPOOLED  # each entry delivered by one flusher
    assert Outbox(spool).pending() == [] and not list((spool).glob("*claim*"))

    store = open_store(s3_store_uri)
    all_runs = spooled + [r for ids in written.values() for r in ids]
    indexed = Counter(indexed_runs(store))
    assert set(indexed) == set(all_runs) and set(indexed.values()) == {1}
    trust = trust_from_settings()
    assert all(verify_bundle(store, r, trust).ok for r in all_runs)

    final = run_audit(store, report_dir=tmp_path / "final", progress=False, workers=1, stale_after=timedelta(hours=1))
    wrong = [f for f in final.errors if f.check != "completeness"]  # the test data has no registered sources
    assert wrong == [], [f.what for f in wrong]
    tlog = TransparencyLog(store, trust)
    state = tlog.verify()
    assert state.problems == []
    sizes = [c.checkpoint.size for c in state.checkpoints]
    assert sizes == sorted(set(sizes))  # one checkpoint per size: no fork
    assert sizes[-1] == len(all_runs)
    logged = Counter(leaf.run_id for leaf in tlog.read_leaves())
    assert set(logged) == set(all_runs) and set(logged.values()) == {1}
