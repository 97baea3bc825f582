"""Wall time of materializing a ~100 MB pandas asset: ProvenanceIOManager vs a plain Parquet IO manager.

The plain IO manager writes the same Parquet file the same way (pyarrow, default options) without
hashing, validation, events or bundles: the difference is the cost of provenance.

    .venv/bin/python benchmarks/bench_dagster.py [--mb 100] [--repeat 5] [--out benchmarks/results/dagster.md]
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from dagster import ConfigurableIOManager, DagsterInstance, InputContext, OutputContext, asset, materialize

from prov_dagster import ProvenanceIOManager
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", default=None, help=OUT_HELP)
    parser.add_argument("--dir", default=None, help="folder for data and store (e.g. /dev/shm to take the disk out of the figures)")
    args = parser.parse_args()

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
