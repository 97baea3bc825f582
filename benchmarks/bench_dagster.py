"""Wall time of materializing a ~100 MB pandas asset: ProvenanceIOManager vs a plain Parquet IO manager.

The plain IO manager writes the same Parquet file the same way (pyarrow, default options) without
hashing, validation, events or bundles: the difference is the cost of provenance.

    .venv/bin/python benchmarks/bench_dagster.py [--mb 100] [--repeat 5] [--out benchmarks/results/dagster.md]

With ``--steps 50,200,500``: what the IO manager's teardown costs as a run grows, for runs of that many trivial
assets (and one asset check that loads nothing, unless ``--no-check``) in a persistent DagsterInstance (a temporary DAGSTER_HOME). Each
run's own teardown (in process) is timed, then the teardown a step's process of the multiprocess executor makes
after its step: a fresh process, which recorded nothing, tears the IO manager down on the finished run, set up (as
Dagster sets a step's process up before its step starts) where the run's event log stood before its last step
started. Both count the reads of the run's events (``all_logs``, ``get_records_for_run``, ``get_run_step_stats``) and
the events read (the set-up's own read of one event is not counted).

With ``--steps ... --graphs``: runs of N graph-backed assets instead (each of two ops, the first's output in memory),
in process; the events the steps writing them read from the run's event log for what the graph's ops read, in total,
once as one process reads them and once as N step processes would (nothing kept from one asset to the next).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from dagster import (AssetCheckResult, ConfigurableIOManager, DagsterInstance, InputContext, OutputContext, Out, asset,
                     asset_check, graph_asset, materialize, mem_io_manager, op)

from prov_dagster import ProvenanceIOManager
from prov_dagster.check_results import note_set_up
from prov_dagster.io_manager import ProvenanceIOManager as _IOManager
from harness import OUT_HELP, machine, report  # noqa: E402


class PlainParquetIOManager(ConfigurableIOManager):
    """``FilesystemIOManager``-style Parquet writing, without provenance."""

    root: str

    def _path(self, context: OutputContext | InputContext) -> Path:
        return Path(self.root, *context.asset_key.path).with_suffix(".parquet")

    def handle_output(self, context: OutputContext, obj: pd.DataFrame) -> None:
        path = self._path(context)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pandas(obj), path)

    def load_input(self, context: InputContext) -> pd.DataFrame:
        return pq.read_table(self._path(context)).to_pandas()


def make_frame(megabytes: int, seed: int = 7) -> pd.DataFrame:
    """Numeric, timestamp and short-string columns, about ``megabytes`` MB in memory."""
    rng = np.random.default_rng(seed)
    rows = megabytes * 1_000_000 // 44
    return pd.DataFrame(
        {
            "id": np.arange(rows, dtype=np.int64),
            "x": rng.normal(size=rows),
            "y": rng.integers(0, 1_000_000, size=rows),
            "ts": pd.to_datetime(rng.integers(1.6e9, 1.7e9, size=rows), unit="s"),
            "label": pd.Series(rng.choice(np.array(["cat", "dog", "bird", "fish"]), size=rows), dtype="string"),
        }
    )


def time_materialize(df: pd.DataFrame, io_manager: object, instance: DagsterInstance) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process, all threads) of one materialization."""
    frame = df.copy()  # a new object each run: nothing may be remembered from an earlier run

    @asset(name="big_table")
    def big_table() -> pd.DataFrame:
        return frame

    start, cpu_start = time.perf_counter(), time.process_time()
    result = materialize([big_table], resources={"io_manager": io_manager}, instance=instance)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    assert result.success
    return elapsed, cpu


_READS = ("all_logs", "get_records_for_run", "get_run_step_stats")


def _count_reads(instance: DagsterInstance) -> dict[str, int]:
    """Count, from now on, the calls of ``instance``'s run-event reads and the events (or step stats) they return."""
    counts = {"reads": 0, "events": 0}
    for name in _READS:
        method = getattr(instance, name)

        def counted(*args: object, _method=method, **kwargs: object) -> object:  # noqa: ANN001
            found = _method(*args, **kwargs)
            counts["reads"] += 1
            counts["events"] += len(getattr(found, "records", found))
            return found
        setattr(instance, name, counted)
    instance.bench_reads = counts  # for _timed_teardowns
    return counts


def _timed_teardowns() -> list[dict[str, float]]:
    """Time each ``teardown_after_execution`` of the IO manager from now on, with the reads it made of an instance
    that :func:`_count_reads` counts (a list of their figures)."""
    spent: list[dict[str, float]] = []
    original = _IOManager.teardown_after_execution

    def timed(self: object, context: object) -> None:
        counts = getattr(context.instance, "bench_reads", {"reads": 0, "events": 0})
        before, start = dict(counts), time.perf_counter()
        original(self, context)
        spent.append({"seconds": time.perf_counter() - start, **{k: counts[k] - before[k] for k in before}})
    _IOManager.teardown_after_execution = timed
    return spent


def many_steps_assets(count: int, check: bool = True) -> list[object]:
    """``count`` independent trivial assets, and (``check``) an asset check of the first that loads nothing."""

    def make(i: int) -> object:
        @asset(name=f"a{i:04d}")
        def one() -> pd.DataFrame:
            return pd.DataFrame({"x": [i]})
        return one

    made = [make(i) for i in range(count)]

    @asset_check(asset="a0000")
    def bare() -> AssetCheckResult:
        return AssetCheckResult(passed=True)
    return [*made, bare] if check else made


def many_graph_assets(count: int) -> list[object]:
    """An asset ``raw`` and ``count`` graph-backed assets of it, each of two ops (the first's output kept in memory)."""

    @asset
    def raw() -> pd.DataFrame:
        return pd.DataFrame({"x": [1, 2, 3]})

    @op(out=Out(io_manager_key="mem"))
    def clean(df: pd.DataFrame) -> pd.DataFrame:
        return df[df.x > 1]

    @op
    def feature(df: pd.DataFrame) -> pd.DataFrame:
        return df.assign(y=df.x * 2)

    def make(i: int) -> object:
        @graph_asset(name=f"g{i:04d}")
        def one(raw: pd.DataFrame) -> pd.DataFrame:
            return feature(clean(raw))
        return one
    return [raw, *(make(i) for i in range(count))]


def bench_graphs(sizes: list[int], out: str | None) -> None:
    """The graph assets' reads of the run's event log against the run's size (see the module's docstring)."""
    import prov_dagster.graphs as graphs
    import prov_dagster.io_manager as io_manager

    rows, load, original = [], os.getloadavg()[0], io_manager.graph_reads
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("TDPROV_HOME", str(Path(tmp) / "home"))
        for count in sizes:
            figures = []
            for fresh in (False, True):
                spent = {"seconds": 0.0, "reads": 0, "events": 0}

                def timed(context: object, _fresh: bool = fresh, _spent: dict = spent) -> object:
                    if _fresh:
                        getattr(graphs, "_logs", {}).clear()  # a step's process: nothing kept
                    counts = context.step_context.instance.bench_reads
                    before, start = dict(counts), time.perf_counter()
                    found = original(context)
                    _spent["seconds"] += time.perf_counter() - start
                    for k in ("reads", "events"):
                        _spent[k] += counts[k] - before[k]
                    return found
                io_manager.graph_reads = timed
                with DagsterInstance.ephemeral() as instance:
                    _count_reads(instance)
                    start = time.perf_counter()
                    result = materialize(many_graph_assets(count), instance=instance, resources={
                        "io_manager": ProvenanceIOManager(store=str(Path(tmp) / f"store-{count}-{fresh}")), "mem": mem_io_manager})
                    wall = time.perf_counter() - start
                    assert result.success
                figures.append((wall, spent))
            io_manager.graph_reads = original
            (wall, one), (_, each) = figures
            rows.append(f"| {count} | {wall:.1f} | {one['seconds'] * 1000:.0f} | {one['reads']} / {one['events']} | "
                        f"{each['seconds'] * 1000:.0f} | {each['reads']} / {each['events']} |")
    text = "\n".join([
        f"Runs of N graph-backed assets (two ops each), in process, ephemeral DagsterInstance, {machine()}, load average "
        f"{load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end.",
        "",
        "| graph assets N | run wall (s) | graph reads, one process (ms) | its reads / events read "
        "| graph reads, a process per step (ms) | its reads / events read |",
        "|---:|---:|---:|---:|---:|---:|",
        *rows,
    ]) + "\n"
    report(out, text, above="# Dagster: graph assets' reads of the run against its size\n\n")


def _step_process_teardown(run_id: str, store: str) -> dict[str, float]:
    """In this (fresh) process: tear the IO manager down on finished run ``run_id``, as a step's process of the
    multiprocess executor does after its step; its time and reads."""
    import logging
    from types import SimpleNamespace

    from dagster import DagsterEventType

    with DagsterInstance.get() as instance:
        run = instance.get_run_by_id(run_id)
        manager = ProvenanceIOManager(store=store)
        last = instance.get_records_for_run(run_id, of_type=DagsterEventType.STEP_START, limit=1, ascending=False)
        before = instance.get_records_for_run(run_id, cursor=last.cursor, limit=1, ascending=False)  # the event before it
        note_set_up(SimpleNamespace(get_records_for_run=lambda *_, **__: before), run_id)  # the log as it stood then
        counts = _count_reads(instance)
        start = time.perf_counter()
        manager.teardown_after_execution(SimpleNamespace(dagster_run=run, instance=instance, log=logging.getLogger("bench")))
        return {"seconds": time.perf_counter() - start, **counts}


def bench_steps(sizes: list[int], out: str | None, check: bool = True) -> None:
    """The teardown's cost against the run's size (see the module's docstring)."""
    rows = []
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["DAGSTER_HOME"] = home = str(Path(tmp) / "dagster")
        os.environ.setdefault("TDPROV_HOME", str(Path(tmp) / "home"))
        Path(home).mkdir()
        store = str(Path(tmp) / "store")
        spent = _timed_teardowns()
        for count in sizes:
            with DagsterInstance.get() as instance:
                _count_reads(instance)
                start = time.perf_counter()
                result = materialize(many_steps_assets(count, check), instance=instance,
                                     resources={"io_manager": ProvenanceIOManager(store=store)})
                wall = time.perf_counter() - start
                assert result.success
                own = spent[-1]
            child = subprocess.run([sys.executable, __file__, "--step-teardown", result.run_id, store],
                                   capture_output=True, text=True, check=True)
            step = json.loads(child.stdout.strip().splitlines()[-1])
            rows.append(f"| {count} | {wall:.1f} | {wall / (count + check) * 1000:.0f} | {own['seconds'] * 1000:.0f} | "
                        f"{own['reads']} / {own['events']} | {step['seconds'] * 1000:.0f} | {step['reads']} / {step['events']} | "
                        f"{step['seconds'] * (count + check):.1f} |")
    text = "\n".join([
        f"Runs of N trivial assets{' and one asset check that loads nothing' if check else ''}, in process, persistent DagsterInstance "
        f"(SQLite, temporary DAGSTER_HOME), {machine()}, load average {load:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end.",
        "",
        "| steps N | run wall (s) | per step (ms) | run teardown (ms) | its reads / events read | step-process teardown (ms) "
        "| its reads / events read | N step-process teardowns (s) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
    ]) + "\n"
    report(out, text, above="# Dagster: IO manager teardown against the run's size\n\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", default=None, help=OUT_HELP)
    parser.add_argument("--dir", default=None, help="folder for data and store (e.g. /dev/shm to take the disk out of the figures)")
    parser.add_argument("--steps", default=None, help="e.g. 50,200,500: time the teardown against the run's size instead")
    parser.add_argument("--no-check", action="store_true", help="with --steps: runs of assets only")
    parser.add_argument("--graphs", action="store_true", help="with --steps: runs of graph-backed assets")
    parser.add_argument("--step-teardown", nargs=2, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step_teardown:
        print(json.dumps(_step_process_teardown(*args.step_teardown)))
        return
    if args.steps and args.graphs:
        bench_graphs([int(n) for n in args.steps.split(",")], args.out)
        return
    if args.steps:
        bench_steps([int(n) for n in args.steps.split(",")], args.out, not args.no_check)
        return

    df = make_frame(args.mb)
    size_mb = df.memory_usage(deep=True).sum() / 1e6
    timings: dict[str, list[float]] = {"plain Parquet IO manager": [], "ProvenanceIOManager": []}
    cpu: dict[str, list[float]] = {name: [] for name in timings}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp, DagsterInstance.ephemeral() as instance:
        os.environ.setdefault("TDPROV_HOME", str(Path(tmp) / "home"))
        managers = {
            "plain Parquet IO manager": PlainParquetIOManager(root=str(Path(tmp) / "plain")),
            "ProvenanceIOManager": ProvenanceIOManager(store=str(Path(tmp) / "store")),
        }
        for name, manager in managers.items():  # warm-up: imports, key creation, first-run caches
            time_materialize(df.head(1000), manager, instance)
        for i in range(args.repeat):  # interleaved in alternating order, so load drift and writeback hit both alike
            for name, manager in (list(managers.items()) if i % 2 == 0 else list(managers.items())[::-1]):
                wall, used = time_materialize(df, manager, instance)
                timings[name].append(wall)
                cpu[name].append(used)

    plain = statistics.median(timings["plain Parquet IO manager"])
    prov = statistics.median(timings["ProvenanceIOManager"])
    best_plain, best_prov = min(timings["plain Parquet IO manager"]), min(timings["ProvenanceIOManager"])
    lines = [
        f"Materializing one {size_mb:.0f} MB pandas asset ({len(df):,} rows x {df.shape[1]} columns), "
        f"median of {args.repeat} interleaved runs (alternating order), {machine()}, "
        f"load average {os.getloadavg()[0]:.1f} at the start, "
        f"data and store under {args.dir or tempfile.gettempdir()}.",
        "",
        "| IO manager | median wall time (s) | min (s) | max (s) | wall overhead | median CPU time (s) | CPU overhead |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    plain_cpu = statistics.median(cpu["plain Parquet IO manager"])
    for name, values in timings.items():
        median, median_cpu = statistics.median(values), statistics.median(cpu[name])
        overhead = "-" if median == plain else f"{(median - plain) / plain:+.1%}"
        cpu_overhead = "-" if median_cpu == plain_cpu else f"{(median_cpu - plain_cpu) / plain_cpu:+.1%}"
        lines.append(
            f"| {name} | {median:.3f} | {min(values):.3f} | {max(values):.3f} | {overhead} | {median_cpu:.3f} | {cpu_overhead} |"
        )
    # each run of one IO manager is paired with the other's run next to it: drift in the machine's
    # speed (other jobs, disk writeback) moves both, so the median of the pairs' ratios varies least
    paired = statistics.median(p / q for p, q in zip(timings["ProvenanceIOManager"], timings["plain Parquet IO manager"]))
    lines += [
        "",
        f"Overhead target: <= 10%. Measured: {(prov - plain) / plain:+.1%} on the medians, "
        f"{(best_prov - best_plain) / best_plain:+.1%} on the best runs (least disturbed by other load), "
        f"{paired - 1:+.1%} as the median of the {args.repeat} side-by-side pairs' ratios.",
    ]
    text = "\n".join(lines) + "\n"
    report(args.out, text, above="# Dagster: ProvenanceIOManager overhead\n\n")


if __name__ == "__main__":
    main()
