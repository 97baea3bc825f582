"""``tdprov lineage`` of a long chain: what verifying the runs it shows costs.

Seals a chain of ``--runs`` runs into a local store (run ``i`` reads ``step{i-1}.parquet`` and writes
``step{i}.parquet``, signed bundles as the transport writes them) and times, in this process:

- the index walk: listing the index entries, building the graph and tracing the upstream tree of the last
  output (what ``tdprov lineage`` did before it verified the runs it shows);
- verifying the bundle of every run the tree shows (``doubted_runs``, as lineage does: on every CPU from 64 bundles on);

then ``tdprov lineage`` as a user runs it (a fresh process, imports included), median of ``--repeat``.
Prints a Markdown report; the load average is part of it.

With ``--audited N``: a store of N small bundles (``bench_audit.py``'s prepare/train pairs), audited, and
``--new`` bundles sealed after the audit; ``tdprov lineage`` of one dataset, with the index entries it reads
counted through the store API (the audit's signed catalog connects the runs it needs; every entry of the
runs sealed since the audit is read), against reading every entry, and the whole command's time.

    python benchmarks/bench_lineage.py [--runs 300] [--repeat 5] [--out benchmarks/results/lineage.md]
    python benchmarks/bench_lineage.py --audited 2000 [--new 20] [--repeat 5] [--s3] [--out benchmarks/results/lineage.md]
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import OUT_HELP, machine, report, s3_stores, start_moto  # noqa: E402

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)


def seal_chain(store_uri: str, runs: int) -> None:
    """``runs`` signed bundles, each reading the output of the one before."""
    from prov_common.bundle import build_bundle
    from prov_common.bundle.storage import deliver_bundle
    from prov_common.hashing import hash_bytes
    from prov_common.lineage.datasets import DatasetRef
    from prov_common.lineage.events import build_run_event
    from prov_common.signing import default_signing_key
    from prov_common.store import open_store

    store, key = open_store(store_uri), default_signing_key()
    step = lambda i: DatasetRef("file", f"/data/step{i}.parquet", hash_bytes(f"step {i}".encode()))  # noqa: E731
    for i in range(1, runs + 1):
        run_id, start = str(uuid.uuid4()), T0 + timedelta(minutes=10 * i)
        events = [build_run_event("START", run_id=run_id, job_name=f"step{i}", inputs=[step(i - 1)], event_time=start),
                  build_run_event("COMPLETE", run_id=run_id, job_name=f"step{i}", inputs=[step(i - 1)], outputs=[step(i)],
                                  event_time=start + timedelta(minutes=5))]
        deliver_bundle(store, build_bundle(events, None, key))


def time_parts(store_uri: str, target: str) -> tuple[float, float, int]:
    """Seconds of the index walk and of verifying the runs shown, and how many runs were shown."""
    from prov_common.audit.recorded import doubted_runs
    from prov_common.signing import trust_from_settings
    from prov_common.store import open_store
    from prov_common.w3cprov.collect import summaries
    from prov_common.w3cprov.lineage import UPSTREAM, find_nodes, graph_from_summaries, trace

    store = open_store(store_uri)
    started = time.perf_counter()
    found = summaries(store)
    graph = graph_from_summaries(found)
    trees = [trace(graph, key, UPSTREAM, None, {}) for key in find_nodes(graph, target)]
    walked = time.perf_counter() - started
    shown = {step.run.run_id for root in trees for tree in root.walk() for step in tree.steps}
    todo = [s for s in found if s.run_id in shown]
    started = time.perf_counter()
    left_out, corrected = doubted_runs(store, trust_from_settings(), todo, "verifying the runs shown")
    verified = time.perf_counter() - started
    assert not left_out and not corrected, (left_out, corrected)
    return walked, verified, len(todo)


def counted_lineage(store_uri: str, argv: list[str], every: bool) -> tuple[float, int, int]:
    """In this process: seconds of ``tdprov lineage ARGV``, the index entries and all objects it read (``get``);
    ``every``: reading every index entry, as lineage did before it used the audit's catalog."""
    import contextlib
    import io

    import prov_common.cli.lineage as lineage_cli
    from prov_common.audit.scope import LineageScope
    from prov_common.cli import main as tdprov

    reads: dict[str, int] = {"index": 0, "all": 0}
    real_open, real_reaching = lineage_cli.open_store, LineageScope.reaching

    def counted_store(*args: object, **kwargs: object) -> object:
        store = real_open(*args, **kwargs)
        get = store.get

        def counted_get(key: str, limit: int | None = None) -> bytes:
            reads["all"] += 1
            reads["index"] += key.startswith("index/")
            return get(key, limit)

        store.get = counted_get
        return store

    lineage_cli.open_store = counted_store
    if every:
        LineageScope.reaching = lambda *args, **kwargs: None
    try:
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            assert tdprov(["lineage", *argv, "--store", store_uri]) == 0
        return time.perf_counter() - started, reads["index"], reads["all"]
    finally:
        lineage_cli.open_store, LineageScope.reaching = real_open, real_reaching


def audited_store(folder: Path, size: int, new: int) -> str:
    """``size`` bundles of prepare/train pairs, audited, then ``new`` more sealed after the audit."""
    from bench_audit import make_bundles
    from prov_common.audit import run_audit
    from prov_common.config import Settings
    from prov_common.store import open_store

    uri = str(folder / "store")
    make_bundles(uri, 0, size, os.cpu_count() or 2)
    run_audit(open_store(uri), Settings.from_env(store=uri), progress=False)
    make_bundles(uri, size, size + new, os.cpu_count() or 2)
    return uri


def copied_to_s3(store_uri: str) -> str:
    """A bucket on moto's S3 server (started here, serving until this process exits) holding every object of the store."""
    from prov_common.store import open_store

    start_moto()
    source, uri = open_store(store_uri), s3_stores()()
    target = open_store(uri)
    for key in source.list(""):
        target.put(key, source.get(key))
    return uri


def bench_audited(args: argparse.Namespace, load: float) -> str:
    targets = [["/data/features-10.parquet"], ["--downstream", "/data/features-10.parquet"], [f"/models/m{args.audited + 1}.pkl"]]
    with tempfile.TemporaryDirectory(prefix="tdprov-bench-lineage-") as tmp:
        local = audited_store(Path(tmp), args.audited, args.new)
        rows = []
        for store_uri, argv in [(uri, argv) for uri in [local, *([copied_to_s3(local)] if args.s3 else [])] for argv in targets]:
            before = [counted_lineage(store_uri, argv, every=True) for _ in range(args.repeat)]
            after = [counted_lineage(store_uri, argv, every=False) for _ in range(args.repeat)]
            started = time.perf_counter()
            subprocess.run([str(Path(sys.executable).with_name("tdprov")), "lineage", *argv, "--store", store_uri], check=True,
                           stdout=subprocess.DEVNULL)
            wall = time.perf_counter() - started
            rows.append(f"| {'S3 (moto)' if store_uri.startswith('s3://') else 'local'} | `{' '.join(argv)}` | {before[0][1]:,} / {after[0][1]:,} | {before[0][2]:,} / {after[0][2]:,} | "
                        f"{statistics.median(b[0] for b in before):.2f} / {statistics.median(a[0] for a in after):.2f} | {wall:.2f} |")
    return "\n".join([
        f"## `tdprov lineage` of one dataset in an audited store of {args.audited:,} bundles",
        "",
        f"`python benchmarks/bench_lineage.py --audited {args.audited} --new {args.new} --repeat {args.repeat}{' --s3' if args.s3 else ''}` on {machine()}; "
        f"load average {load:.2f} before, {os.getloadavg()[0]:.2f} after. "
        f"{args.audited:,} bundles (prepare/train pairs from one raw file) audited, then {args.new} sealed after the audit.",
        "",
        "| store | `tdprov lineage` | index entries read: every entry / as the catalog connects | objects read (`get`) | in process (s) | whole command (s) |",
        "|---|---|---:|---:|---:|---:|",
        *rows,
        "",
        "In process: medians of the repeats (the times of reading every entry: the same code told to read them all),",
        "imports done. Objects read include the audit's catalog, its state and checkpoint,",
        "the registered sources and the bundles of the runs shown (verified). The whole command includes Python's start-up.",
    ])


RECORDED = "/data/features-10.parquet"


def timed_record(store_uri: str) -> tuple[float, int, float]:
    """In this process: seconds of ``tdprov record`` of :data:`RECORDED`, the runs whose bundles it verified, and the
    seconds of that verification (:func:`~prov_common.audit.recorded.check_runs`)."""
    import contextlib
    import io

    import prov_common.audit.recorded as recorded
    from prov_common.cli import main as tdprov

    real = recorded.check_runs
    checked = {"runs": 0, "seconds": 0.0}

    def counted(store: object, trust: object, summaries: list, desc: str | None = None) -> object:
        started = time.perf_counter()
        try:
            return real(store, trust, summaries, desc)
        finally:
            checked["runs"] += len(summaries)
            checked["seconds"] += time.perf_counter() - started

    recorded.check_runs = counted
    try:
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.TextIOWrapper(io.BytesIO())):  # the record is written to stdout's buffer
            assert tdprov(["record", RECORDED, "--store", store_uri]) == 0
        return time.perf_counter() - started, int(checked["runs"]), checked["seconds"]
    finally:
        recorded.check_runs = real


def record_command(store_uri: str, pinned: bool) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, its worker processes included) of ``tdprov record`` in a fresh process;
    ``pinned``: on one CPU (``taskset -c 0``), so it verifies in one process."""
    argv = [str(Path(sys.executable).with_name("tdprov")), "record", RECORDED, "--store", store_uri]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([*(["taskset", "-c", "0"] if pinned else []), *argv], check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def bench_record(args: argparse.Namespace, load: float) -> str:
    with tempfile.TemporaryDirectory(prefix="tdprov-bench-record-") as tmp:
        uri = audited_store(Path(tmp), args.audited, args.new)
        loads = [os.getloadavg()[0]]
        inside = [timed_record(uri) for _ in range(args.repeat)]
        modes = [False, *([True] if shutil.which("taskset") else [])]
        whole = {pinned: [record_command(uri, pinned) for _ in range(args.repeat)] for pinned in modes}
        loads.append(os.getloadavg()[0])
    rows = [f"| {'one CPU (`taskset -c 0`)' if pinned else f'every CPU ({os.cpu_count()})'} | "
            f"{statistics.median(w for w, _ in runs):.2f} | {statistics.median(c for _, c in runs):.2f} |"
            for pinned, runs in whole.items()]
    cited, seconds = inside[0][1], statistics.median(i[2] for i in inside)
    return "\n".join([
        f"## `tdprov record {RECORDED}` in an audited store of {args.audited:,} bundles",
        "",
        f"`python benchmarks/bench_lineage.py --audited {args.audited} --new {args.new} --record --repeat {args.repeat}` on {machine()}; "
        f"load average {load:.2f} before, {min(loads):.2f}-{max(loads):.2f} while it ran, {os.getloadavg()[0]:.2f} after. "
        f"The record verifies the bundles of {cited:,} runs: those it cites (the run that made the version, and of the catalogued "
        f"readers of the raw file, each with the same Pandera result on it, none: the verified run that made the version holds "
        f"that result too) and the {args.new} sealed since the audit (read to find the dataset's newest version, and for the "
        f"results their index entries do not hold). Verifying them takes {seconds:.2f} s of the "
        f"{statistics.median(i[0] for i in inside):.2f} s the command takes in process ({1000 * seconds / max(cited, 1):.1f} ms "
        "a run, wall; medians).",
        "",
        "| `tdprov record`, whole command | wall (s) | CPU (s, workers included) |",
        "|---|---:|---:|",
        *rows,
        "",
        "Medians of the repeats; the whole command includes Python's start-up and imports. Pinned to one CPU it verifies",
        "in one process: what the worker processes save in wall time depends on the CPUs the machine has free.",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--audited", type=int, default=None, metavar="N", help="an audited store of N bundles (see above)")
    parser.add_argument("--new", type=int, default=20, help="with --audited: bundles sealed after the audit")
    parser.add_argument("--s3", action="store_true", help="with --audited: also on a copy of the store on moto's S3 server")
    parser.add_argument("--record", action="store_true", help="with --audited: time 'tdprov record' of one dataset (see above)")
    parser.add_argument("--out", default=None, help=OUT_HELP)
    args = parser.parse_args()
    os.environ.setdefault("TDPROV_HOME", tempfile.mkdtemp(prefix="tdprov-bench-home-"))
    if args.record and args.audited is None:
        parser.error("--record needs --audited N (the store it records from)")
    if args.audited is not None:
        text = (bench_record if args.record else bench_audited)(args, os.getloadavg()[0])
        report(args.out, text)
        return
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="tdprov-bench-lineage-") as tmp:
        store_uri, target = str(Path(tmp) / "store"), f"/data/step{args.runs}.parquet"
        seal_chain(store_uri, args.runs)
        parts = [time_parts(store_uri, target) for _ in range(args.repeat)]
        tdprov = Path(sys.executable).with_name("tdprov")
        walls = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            subprocess.run([str(tdprov), "lineage", target, "--store", store_uri], check=True, stdout=subprocess.DEVNULL)
            walls.append(time.perf_counter() - started)
    walk, verify = statistics.median(p[0] for p in parts), statistics.median(p[1] for p in parts)
    text = "\n".join([
        "# `tdprov lineage` of a chain of runs",
        "",
        f"`python benchmarks/bench_lineage.py --runs {args.runs} --repeat {args.repeat}` on {machine()}; "
        f"load average {load:.2f} before, {os.getloadavg()[0]:.2f} after.",
        "",
        "| runs shown | index walk (s) | verifying the runs shown (s) | per run (ms) | `tdprov lineage`, whole command (s) |",
        "|---:|---:|---:|---:|---:|",
        f"| {parts[0][2]} | {walk:.3f} | {verify:.3f} | {1000 * verify / parts[0][2]:.1f} | {statistics.median(walls):.2f} |",
        "",
        "Medians of the repeats; the whole command includes Python's start-up and imports. Verification reads",
        "each shown run's statement, manifest, events and PROV and checks the signature and digests (in worker",
        "processes from 64 bundles on).",
    ])
    report(args.out, text)


if __name__ == "__main__":
    main()
