"""Hashing CSV and JSON-lines files: streamed (``hash_path``) against reading the file whole first.

    python benchmarks/bench_hash_files.py [--mib 256] [--out benchmarks/results/hash_files.md]
    python benchmarks/bench_hash_files.py --wide [--columns 1000,4000,8000] [--rows 1,1000] [--timeout 60] [--out ...]

Writes a CSV and a JSON-lines file of about ``--mib`` MiB (an id, a float, a short string and a bool
per row; JSON lines also a list of two ints) and the Parquet file of the same table, then hashes each
in a fresh process: ``hash_path`` (CSV and JSON lines in chunks, Parquet a column at a time) and the
whole-file read (``pandas.read_csv`` / ``pyarrow.json.read_json``, then the in-memory hash). Peak
memory is the growth of the process's peak resident size (``VmHWM``, reset after start-up) while it
hashes; every way must give the same digest.

With ``--wide``: wide tables instead (every column an int, a float, a short string or a bool, in
turn), as Parquet (written by pandas, with its metadata, and by pyarrow, without), JSON lines and CSV, each hashed by
``hash_path`` in a fresh process; time should grow with the number of cells, not with the square of
the number of columns. A run longer than ``--timeout`` seconds is stopped and shown as such.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from peak_memory import measure
from harness import OUT_HELP, machine, report  # noqa: E402

_IMPORTS = """
from prov_common.hashing import hash_dataframe, hash_path, hash_table
from prov_common.hashing.files import read_table_file, table_format
"""
_HASH = """
if how == "whole":
    data = read_table_file(path, table_format(path))
    td = hash_dataframe(data) if hasattr(data, "iloc") else hash_table(data)
else:
    td = hash_path(path)
"""


def _frame(rows: int, with_list: bool) -> pd.DataFrame:
    i = np.arange(rows)
    df = pd.DataFrame({"id": i, "x": i / 4, "s": [f"name{k % 997}" for k in i], "flag": i % 3 == 0})
    if with_list:
        df["l"] = [[int(k), int(k) + 1] for k in i]
    return df


def _write(folder: Path, fmt: str, mib: int) -> tuple[Path, Path]:
    """The text file of about ``mib`` MiB and the Parquet file of the same table."""
    df = _frame(50_000, fmt == "jsonl")
    body = df.to_csv(index=False, header=False) if fmt == "csv" else df.to_json(orient="records", lines=True)
    copies = -(-mib * 2**20 // len(body.encode()))
    text = folder / f"data.{fmt}"
    with text.open("w") as f:
        f.write("id,x,s,flag\n" if fmt == "csv" else "")
        for _ in range(copies):
            f.write(body)
    table = pa.Table.from_pandas(df, preserve_index=False).replace_schema_metadata(None)
    parquet = folder / f"data_{fmt}.parquet"
    with pq.ParquetWriter(parquet, table.schema) as w:
        for _ in range(copies):
            w.write_table(table)
    return text, parquet


def _measure(path: Path, how: str) -> dict:
    return measure(_IMPORTS, _HASH, str(path), how)


def _wide_frame(columns: int, rows: int) -> pd.DataFrame:
    """``columns`` columns of ``rows`` rows: ints, floats, short strings and bools in turn."""
    i = np.arange(rows)
    kinds = [lambda c: i + c, lambda c: (i + c) / 4, lambda c: [f"s{(k + c) % 97}" for k in i], lambda c: (i + c) % 2 == 0]
    return pd.DataFrame({f"c{c}": kinds[c % 4](c) for c in range(columns)})


def _write_wide(folder: Path, columns: int, rows: int) -> list[tuple[str, Path]]:
    """The same wide table as Parquet (pandas' writer, and pyarrow's without pandas metadata), JSON lines and CSV."""
    df = _wide_frame(columns, rows)
    paths = [(fmt, folder / f"wide_{columns}x{rows}_{k}.{fmt.split()[0]}") for k, fmt in
             enumerate(("parquet (pandas)", "parquet (pyarrow)", "jsonl", "csv"))]
    df.to_parquet(paths[0][1], index=False)
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False).replace_schema_metadata(None), paths[1][1])
    with paths[2][1].open("w") as f:
        for record in df.to_dict(orient="records"):
            f.write(json.dumps(record) + "\n")
    df.to_csv(paths[3][1], index=False)
    return paths


def _wide(columns: list[int], rows: list[int], timeout: float) -> str:
    """The wide-table report: one row per format, columns and rows."""
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in columns:
            for r in rows:
                digests = set()
                for fmt, path in _write_wide(Path(tmp), n, r):
                    size = f"{path.stat().st_size / 2**20:,.1f} MiB"
                    try:
                        got = measure(_IMPORTS, _HASH, str(path), "streamed", timeout=timeout)
                    except subprocess.TimeoutExpired:
                        lines.append(f"| {fmt} | {n:,} | {r:,} | {size} | > {timeout:.0f} s (stopped) | | |")
                        print(lines[-1], flush=True)
                        continue
                    digests.add(got["digest"])
                    lines.append(f"| {fmt} | {n:,} | {r:,} | {size} | {got['seconds']:.2f} s | "
                                 f"{got['cpu']:.2f} s | {got['peakMB']:,.0f} MB |")
                    print(lines[-1], flush=True)
                assert len(digests) <= 1, f"{n} x {r}: the formats disagree"
                for path in Path(tmp).iterdir():
                    path.unlink()
    header = (f"Wide tables ({machine()}, "
              f"load average {os.getloadavg()[0]:.1f}): `python benchmarks/bench_hash_files.py --wide "
              f"--columns {','.join(map(str, columns))} --rows {','.join(map(str, rows))} --timeout {timeout:g}`\n\n"
              "| format | columns | rows | file size | time | CPU | peak memory added |\n"
              "|---|---|---|---|---|---|---|\n")
    notes = ("\nEvery file of one table gives the same digest (checked). Time and CPU are the hash's alone, in a\n"
             "fresh process (start-up and imports not counted).\n")
    return header + "\n".join(lines) + "\n" + notes


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256, help="size of each text file (default 256)")
    parser.add_argument("--wide", action="store_true", help="hash wide tables instead (--columns, --rows)")
    parser.add_argument("--columns", type=_ints, default=[1_000, 4_000, 8_000], help="with --wide: column counts")
    parser.add_argument("--rows", type=_ints, default=[1, 1_000], help="with --wide: row counts")
    parser.add_argument("--timeout", type=float, default=600, help="with --wide: seconds before a run is stopped")
    parser.add_argument("--out", type=Path, default=None, help=OUT_HELP)
    args = parser.parse_args()
    if args.wide:
        return report(args.out, _wide(args.columns, args.rows, args.timeout))
    rows_out = []
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in ("csv", "jsonl"):
            text, parquet = _write(Path(tmp), fmt, args.mib)
            size = text.stat().st_size / 2**20
            runs = [(f"{fmt}, streamed (`hash_path`)", _measure(text, "streamed")),
                    (f"{fmt}, read whole, then hashed", _measure(text, "whole")),
                    (f"Parquet of the same table, `hash_path` ({parquet.stat().st_size / 2**20:.0f} MiB)",
                     _measure(parquet, "streamed"))]
            digests = {r["digest"] for _, r in runs}
            assert len(digests) == 1, f"{fmt}: the ways disagree: {runs}"
            for name, r in runs:
                rows_out.append(f"| {name} | {size:,.0f} MiB, {r['rows']:,} rows | {r['seconds']:.1f} s | "
                                f"{size / r['seconds']:,.0f} MiB/s | {r['peakMB']:,.0f} MB |")
    header = (f"File hashing benchmark ({machine()}, "
              f"load average {os.getloadavg()[0]:.1f}): `python benchmarks/bench_hash_files.py --mib {args.mib}`\n\n"
              "| file, way | size | time | throughput (of the text file's size) | peak memory added |\n"
              "|---|---|---|---|---|\n")
    notes = ("\nEvery way gives the same digest (checked). Throughput is the text file's size over the time, for the\n"
             "Parquet rows too, so the rows compare the same table. Peak memory is the growth of the hashing\n"
             "process's peak resident size; streamed, it does not grow with the file (docs/content-hash.md §6).\n")
    return report(args.out, header + "\n".join(rows_out) + "\n" + notes)


if __name__ == "__main__":
    raise SystemExit(main())
