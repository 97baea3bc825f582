"""``tdprov lineage`` of a long chain: what verifying the runs it shows costs.

Seals a chain of ``--runs`` runs into a local store (run ``i`` reads ``step{i-1}.parquet`` and writes
``step{i}.parquet``, signed bundles as the transport writes them) and times, in this process:

- the index walk: listing the index entries, building the graph and tracing the upstream tree of the last
  output (what ``tdprov lineage`` did before it verified the runs it shows);
- verifying the bundle of every run the tree shows (``doubted_runs``, as lineage does: on every CPU from 64 bundles on);

then ``tdprov lineage`` as a user runs it (a fresh process, imports included), median of ``--repeat``.
Prints a Markdown report; the load average is part of it.

    python benchmarks/bench_lineage.py [--runs 300] [--repeat 5] [--out benchmarks/results/lineage.md]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results_file import OUT_HELP, add_section  # noqa: E402

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", default=None, help=OUT_HELP)
    args = parser.parse_args()
    os.environ.setdefault("TDPROV_HOME", tempfile.mkdtemp(prefix="tdprov-bench-home-"))
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
        f"`python benchmarks/bench_lineage.py --runs {args.runs} --repeat {args.repeat}` on {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}; load average {load:.2f} before, {os.getloadavg()[0]:.2f} after.",
        "",
        "| runs shown | index walk (s) | verifying the runs shown (s) | per run (ms) | `tdprov lineage`, whole command (s) |",
        "|---:|---:|---:|---:|---:|",
        f"| {parts[0][2]} | {walk:.3f} | {verify:.3f} | {1000 * verify / parts[0][2]:.1f} | {statistics.median(walls):.2f} |",
        "",
        "Medians of the repeats; the whole command includes Python's start-up and imports. Verification reads",
        "each shown run's statement, manifest, events and PROV and checks the signature and digests (in worker",
        "processes from 64 bundles on).",
    ])
    print(text)
    add_section(args.out, text)


if __name__ == "__main__":
    main()
