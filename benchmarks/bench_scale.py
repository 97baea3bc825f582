"""Scale benchmark: many writer processes, one S3 store, no lock service.

    python benchmarks/bench_scale.py [--processes 100] [--bundles 10000] [--list-at 1000,3000]
                                     [--new 100] [--auditors 2] [--out benchmarks/results/scale.md]

1. moto's ``ThreadedMotoServer`` in a process of its own on localhost, and one bucket.
   ``--processes`` forked writers start together (a barrier) and write signed bundles with the real
   bundle code (``build_bundle`` + ``write_bundle``: conditional puts, nothing else shared), in waves
   that end at each store size of ``--list-at`` and at ``--bundles``. After each wave the listing of
   the ``--new`` newest index entries from a cursor is timed: it must follow what is new, not the
   store's size. During the last wave ``--auditors`` processes audit the store in a loop.
2. Afterwards every bundle is counted from the index (lost: reported written but not indexed;
   duplicated: indexed twice), a final audit logs the rest, and the checkpoint chain is verified:
   one line of checkpoints (each names the one before), every indexed bundle logged exactly once.

The incremental audit's cost against store size is measured by ``bench_audit.py --sizes``.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from bundle_support import run_events  # noqa: E402
from prov_common.audit import run_audit  # noqa: E402  (imported before the auditors fork)
from prov_common.bundle import build_bundle, list_bundles, write_bundle  # noqa: E402
from prov_common.signing import signing_key_from_settings, trust_from_settings  # noqa: E402
from prov_common.store import open_store  # noqa: E402
from prov_common.tlog.log import TransparencyLog  # noqa: E402
from harness import OUT_HELP, machine, report, start_moto_process  # noqa: E402

WRITER_NICENESS = 5  # the server stands in for S3, which has machines of its own: it gets the CPU first
def _server_cpu(server: subprocess.Popen) -> float:
    """CPU seconds the server process has used so far."""
    fields = Path(f"/proc/{server.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _writer(uri: str, count: int, barrier, results) -> None:
    os.nice(WRITER_NICENESS)
    signer = signing_key_from_settings()
    store = open_store(uri)
    store.exists("_tdprov/warm-up")  # the client loads its endpoint rules on first use, before the clock starts
    barrier.wait()
    cpu, statuses = time.process_time(), Counter()
    for _ in range(count):
        statuses[write_bundle(store, build_bundle(run_events(str(uuid.uuid4())), {}, signer)).status] += 1
    results.put((dict(statuses), time.process_time() - cpu))
    results.close()
    results.join_thread()


def _auditor(uri: str, stop, results) -> None:
    """Audit incrementally in a loop until ``stop`` is set, as a scheduled auditor would."""
    os.nice(WRITER_NICENESS)
    store, folder, audits = open_store(uri), Path(tempfile.mkdtemp(prefix="tdprov-auditor-")), 0
    while not stop.is_set():
        run_audit(store, progress=False, report_dir=folder / str(audits), workers=1)
        audits += 1
    results.put(audits)
    results.close()
    results.join_thread()


@dataclass
class Wave:
    """One wave of writers: wall seconds, write statuses, CPU seconds of the writers and of the server."""

    bundles: int
    wall: float
    statuses: Counter
    writer_cpu: float
    server_cpu: float
    audits: int = 0


def _write_wave(uri: str, processes: int, bundles: int, server: subprocess.Popen, auditors: int = 0) -> Wave:
    ctx = multiprocessing.get_context("fork")
    share = [n for n in (bundles // processes + (1 if i < bundles % processes else 0) for i in range(processes)) if n]
    barrier, results, stop, audit_results = ctx.Barrier(len(share) + 1), ctx.Queue(), ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(uri, n, barrier, results)) for n in share]
    for p in procs:
        p.start()
    barrier.wait()
    started, server_cpu = time.perf_counter(), _server_cpu(server)
    audit_procs = [ctx.Process(target=_auditor, args=(uri, stop, audit_results)) for _ in range(auditors)]
    for p in audit_procs:
        p.start()
    outcomes = [results.get(timeout=14400) for _ in procs]
    wall, server_cpu = time.perf_counter() - started, _server_cpu(server) - server_cpu
    stop.set()
    audits = sum(audit_results.get(timeout=14400) for _ in audit_procs)
    for p in procs + audit_procs:
        p.join()
        assert p.exitcode == 0, p.exitcode
    return Wave(bundles, wall, sum((Counter(s) for s, _ in outcomes), Counter()), sum(c for _, c in outcomes), server_cpu, audits)


def _list_new(uri: str, new: int) -> tuple[float, int]:
    """Seconds to list (and read) the ``new`` newest index entries from a cursor (best of 3)."""
    store = open_store(uri)
    keys = [k for k in store.list("index/") if k.endswith(".json")]
    cursor = keys[-new - 1] if len(keys) > new else None
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        got = sum(1 for _ in list_bundles(store, since_cursor=cursor))
        best = min(best, time.perf_counter() - started)
    return best, got


def _chain(uri: str, indexed: Counter) -> tuple[str, str]:
    """Verify the checkpoint chain from its first checkpoint: one line, every indexed bundle logged once."""
    store = open_store(uri)
    state = TransparencyLog(store, trust_from_settings()).verify()
    cps = state.checkpoints
    linear = all(b.checkpoint.previous == a.digest and b.checkpoint.size > a.checkpoint.size for a, b in zip(cps, cps[1:]))
    logged = Counter(x.run_id for x in state.leaves)
    twice = sum(1 for n in logged.values() if n > 1)
    unlogged = len(set(indexed) - set(logged))
    forked = "not forked" if linear and not state.problems else f"FORKED or broken: {[p.what for p in state.problems[:3]]}"
    return (f"{len(cps)} checkpoints, {forked}; {len(state.problems)} problems",
            f"{len(logged):,} leaves / {unlogged} indexed but not logged / {twice} logged twice")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", type=int, default=100)
    parser.add_argument("--bundles", type=int, default=10_000)
    parser.add_argument("--list-at", default="1000,3000", help="store sizes (before --bundles) at which listing is timed")
    parser.add_argument("--new", type=int, default=100)
    parser.add_argument("--auditors", type=int, default=2, help="processes auditing in a loop during the last wave")
    parser.add_argument("--out", default=None, help=OUT_HELP)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tdprov-scale-"))
    os.environ.setdefault("TDPROV_HOME", str(work / "home"))
    signing_key_from_settings()  # the per-user key exists before the writers fork
    sizes = sorted({int(x) for x in args.list_at.split(",") if x and int(x) < args.bundles} | {args.bundles})
    server = start_moto_process()
    rows, waves, listings = [], [], []
    try:
        import boto3

        boto3.client("s3").create_bucket(Bucket="tdprov-scale")
        uri = "s3://tdprov-scale/prov"
        done = 0
        for i, size in enumerate(sizes):
            last = i == len(sizes) - 1
            waves.append(_write_wave(uri, args.processes, size - done, server, args.auditors if last else 0))
            done = size
            print(f"{done} bundles written", file=sys.stderr, flush=True)
            listings.append((size, *_list_new(uri, args.new)))
        indexed = Counter(s.run_id for s in list_bundles(open_store(uri)))
        final = run_audit(open_store(uri), progress=False, report_dir=work / "final", workers=1)
        chain, leaves = _chain(uri, indexed)
    finally:
        server.terminate()
        server.wait()
    statuses = sum((w.statuses for w in waves), Counter())
    wall = sum(w.wall for w in waves)
    written = statuses.get("written", 0)
    lost = written - len(indexed)
    doubled = sum(1 for n in indexed.values() if n > 1)
    rows += [
        ("S3 (moto)", f"{args.processes} writer processes, {args.bundles:,} bundles, no lock service",
         f"{args.bundles / wall:.1f} bundles/s ({wall:.0f} s of writing); statuses {dict(statuses)}"),
        ("S3 (moto)", "CPU per bundle: moto server / writers (build, sign, boto3)",
         f"{sum(w.server_cpu for w in waves) / args.bundles * 1000:.0f} ms / {sum(w.writer_cpu for w in waves) / args.bundles * 1000:.0f} ms"),
        ("S3 (moto)", "bundles indexed / lost / indexed twice", f"{len(indexed):,} / {lost} / {doubled}"),
        ("S3 (moto)", f"audits run by {args.auditors} auditor processes during the last wave, then one more", f"{waves[-1].audits} + 1; final audit's failing checks: {[c.name for c in final.checks if c.status == 'fail']}"),
        ("S3 (moto)", "checkpoint chain", chain),
        ("S3 (moto)", "log leaves / indexed but not logged / logged twice", leaves),
        *(("S3 (moto)", f"list {got} new index entries from a cursor, store of {size:,} bundles", f"{sec * 1000:.0f} ms")
          for size, sec, got in listings),
    ]
    load = os.getloadavg()[0]
    lines = [
        "# Scale benchmark", "",
        f"`python benchmarks/bench_scale.py --processes {args.processes} --bundles {args.bundles} --list-at {args.list_at} "
        f"--new {args.new} --auditors {args.auditors}`", "",
        f"{machine()}; 1-minute load average "
        f"{load:.1f} at the end (the machine was shared).", "",
        "| backend | what | result |", "|---|---|---|",
        *(f"| {a} | {b} | {c} |" for a, b, c in rows), "",
    ]
    report(args.out, "\n".join(lines))


if __name__ == "__main__":
    main()
