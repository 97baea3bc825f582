"""Row digests (granularity "row") against the column digests of the same frames.

Times ``hash_dataframe`` at granularity "column" and "row" on the numeric and string frames of
bench_hash.py and on a mixed frame (bool, nullable ints, timestamps, lists, structs); the difference
is the cost of the row digests. Prints a Markdown table of CPU time (all threads; best of REPEATS
runs): CPU time, unlike wall time, holds steady on a machine that other work shares.

    python benchmarks/bench_rows.py [--scale 0.2]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_hash import numeric_frame, string_frame  # noqa: E402

from prov_common.hashing import hash_dataframe  # noqa: E402

REPEATS = 7


def mixed_frame(scale: float) -> pd.DataFrame:
    """1M rows (at scale 1) of bool, nullable Int64, tz-aware timestamps, list<int64> and struct columns."""
    rng = np.random.default_rng(11)
    n = int(1_000_000 * scale)
    ints = pd.array(rng.integers(0, 1000, n), dtype="Int64")
    ints[rng.random(n) < 0.05] = pd.NA
    lengths = rng.integers(0, 4, n)
    values = pa.array(rng.integers(0, 100, int(lengths.sum())))
    offsets = pa.array(np.concatenate(([0], np.cumsum(lengths))).astype(np.int32))
    lists = pa.ListArray.from_arrays(offsets, values)
    structs = pa.StructArray.from_arrays([pa.array(rng.random(n)), pa.array(rng.integers(0, 9, n))], ["x", "k"])
    return pd.DataFrame({
        "flag": rng.random(n) < 0.5,
        "count": ints,
        "at": pd.to_datetime(rng.integers(1_600_000_000, 1_700_000_000, n), unit="s", utc=True),
        "tags": pd.Series(pd.arrays.ArrowExtensionArray(lists)),
        "point": pd.Series(pd.arrays.ArrowExtensionArray(structs)),
    })


def best(frame: pd.DataFrame, granularity: str) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.process_time()
        hash_dataframe(frame, granularity=granularity)
        times.append(time.process_time() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.2, help="data size relative to bench_hash.py (default 0.2)")
    args = parser.parse_args()
    print("| frame | rows | column digests, CPU ms | row digests, CPU ms | cost of the row digests, CPU ms |")
    print("|---|---:|---:|---:|---:|")
    for name, make in (("numeric", numeric_frame), ("strings", string_frame), ("mixed", mixed_frame)):
        frame = make(args.scale)
        column, row = best(frame, "column"), best(frame, "row")
        print(f"| {name} | {len(frame):,} | {column * 1000:.0f} | {row * 1000:.0f} | {(row - column) * 1000:.0f} |")


if __name__ == "__main__":
    main()
