"""Run ``tdprov hash --diff`` many times, several at once, and count the exit codes.

Every run must exit 1 (the two tables differ) and print nothing about an abort; any other code is a
run whose native threads outlived the interpreter or that failed otherwise.

    python scripts/exit_codes.py 500 --parallel 4
"""
from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_tables(folder: Path) -> tuple[Path, Path]:
    """Two Parquet tables of 100,000 rows that differ in one value (hashed with worker threads)."""
    import numpy as np
    import pandas as pd

    frame = pd.DataFrame({"x": np.arange(100_000), "y": np.arange(100_000) * 0.5, "s": ["v"] * 100_000})
    a, b = folder / "a.parquet", folder / "b.parquet"
    frame.to_parquet(a)
    frame.assign(x=frame["x"].where(frame.index != 54_321, -1)).to_parquet(b)
    return a, b


def run_many(runs: int, parallel: int, a: Path, b: Path) -> tuple[collections.Counter, list[str]]:
    """Exit codes of ``runs`` runs of ``tdprov hash --diff a b``, ``parallel`` at a time, and odd stderr."""
    codes: collections.Counter = collections.Counter()
    odd: list[str] = []
    command = [sys.executable, "-m", "prov_common", "hash", "--diff", str(a), str(b)]
    done = 0
    while done < runs:
        batch = [subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for _ in range(min(parallel, runs - done))]
        for process in batch:
            _, err = process.communicate(timeout=300)
            codes[process.returncode] += 1
            if process.returncode != 1 or err.strip():
                odd.append(f"exit {process.returncode}: {err.strip()[:200]}")
        done += len(batch)
    return codes, odd


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", type=int, nargs="?", default=500)
    parser.add_argument("--parallel", type=int, default=4, help="runs at once (load on the machine)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        a, b = make_tables(Path(folder))
        started = time.monotonic()
        codes, odd = run_many(args.runs, args.parallel, a, b)
    print(f"{args.runs} runs of 'tdprov hash --diff', {args.parallel} at a time, in {time.monotonic() - started:.0f} s: "
          + ", ".join(f"exit {code}: {count}" for code, count in sorted(codes.items())))
    for line in odd[:10]:
        print("  " + line)
    return 0 if set(codes) == {1} and not odd else 1


if __name__ == "__main__":
    sys.exit(main())
