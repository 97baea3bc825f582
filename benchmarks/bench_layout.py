"""The built-in lineage picture (no Graphviz): seconds and SVG size of ``render_svg`` on large graphs.

Shapes: ``fanout`` — one source read by N preparing runs, each feeding a training run that writes a
model (4N + 1 nodes: the downstream lineage of a shared source, the widest layers a store has);
``fan-in`` — the same N preparing runs whose N feature versions one training run reads (the upstream
lineage of a model trained on many inputs);
``random`` — N nodes in a random DAG whose edges skip many rows (seeded, the worst case for the
dummy slots of long edges). Each shape is drawn ``--rounds`` times in this process; the median is
reported with the machine's load.

    python benchmarks/bench_layout.py [--fanout 1000] [--random 2500] [--rounds 3] [--out benchmarks/results/layout.md]
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from layout_geometry import graph_of  # noqa: E402 - the synthetic graphs the layout tests draw
from prov_common.w3cprov.drawing import render_svg  # noqa: E402
from prov_common.w3cprov.graph import LineageGraph  # noqa: E402
from harness import OUT_HELP, machine, report  # noqa: E402


def _graph(edges: list[tuple[str, str]]) -> LineageGraph:
    """Nodes named ``run…`` are runs, the others versions (labels as lineage draws them)."""
    return graph_of(edges, version_label="blake3:0123456789ab…")


def fanout(n: int) -> LineageGraph:
    """/data/raw.csv -> prepare i -> features-i.parquet -> train i -> model i, for i < n."""
    edges = []
    for i in range(n):
        edges += [("/data/raw.csv", f"run prepare {i}"), (f"run prepare {i}", f"/data/features-{i}.parquet"),
                  (f"/data/features-{i}.parquet", f"run train {i}"), (f"run train {i}", f"/models/m{i}.pkl")]
    return _graph(edges)


def fanin(n: int) -> LineageGraph:
    """/data/raw.csv -> prepare i -> features-i.parquet -> one training run -> the model, for i < n."""
    edges = [("run train", "/models/model.pkl")]
    for i in range(n):
        edges += [("/data/raw.csv", f"run prepare {i}"), (f"run prepare {i}", f"/data/features-{i}.parquet"),
                  (f"/data/features-{i}.parquet", "run train")]
    return _graph(edges)


def random_dag(n: int, seed: int = 7) -> LineageGraph:
    """Alternating versions and runs; each node gets 1-2 inputs from anywhere above it (long edges)."""
    rng = random.Random(seed)
    names = [f"run {i}" if i % 2 else f"/data/v{i}.parquet" for i in range(n)]
    edges = []
    for i in range(1, n):
        above = [j for j in range(max(0, i - 400), i) if (j % 2) != (i % 2)] or [i - 1]
        edges += [(names[j], names[i]) for j in rng.sample(above, min(len(above), rng.randint(1, 2)))]
    return _graph(edges)


def _time(graph: LineageGraph, rounds: int) -> tuple[float, int]:
    seconds, size = [], 0
    for _ in range(rounds):
        started = time.perf_counter()
        size = len(render_svg(graph).encode())
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fanout", type=int, default=1000, help="preparing runs reading the one source (both fan shapes)")
    parser.add_argument("--random", type=int, default=2500, help="nodes of the random DAG")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--label", default="", help="what this run measures (e.g. the commit)")
    parser.add_argument("--out", default=None, help=OUT_HELP)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    lines = ["# Built-in lineage layout", "", *([f"**{args.label}**", ""] if args.label else []),
             f"{machine()}; load {load:.1f} at the start; "
             f"median of {args.rounds} drawings in one process.", "",
             "| shape | nodes | edges | seconds | SVG bytes |", "|---|---:|---:|---:|---:|"]
    shapes = (("fan-out of one source", fanout(args.fanout)), ("fan-in into one run", fanin(args.fanout)),
              ("random long edges", random_dag(args.random)))
    for name, graph in shapes:
        seconds, size = _time(graph, args.rounds)
        lines.append(f"| {name} | {len(graph.nodes):,} | {len(graph.edges):,} | {seconds:.2f} | {size:,} |")
        print(lines[-1], flush=True)
    report(args.out, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
