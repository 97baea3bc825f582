"""Hashing CSV and JSON-lines files: streamed (``hash_path``) against reading the file whole first.

    python benchmarks/bench_hash_files.py [--mib 256] [--out benchmarks/results/hash_files.md]

Writes a CSV and a JSON-lines file of about ``--mib`` MiB (an id, a float, a short string and a bool
per row; JSON lines also a list of two ints) and the Parquet file of the same table, then hashes each
in a fresh process: ``hash_path`` (CSV and JSON lines in chunks, Parquet a column at a time) and the
whole-file read (``pandas.read_csv`` / ``pyarrow.json.read_json``, then the in-memory hash). Peak
memory is the growth of the process's peak resident size (``VmHWM``, reset after start-up) while it
hashes; every way must give the same digest.
"""
from __future__ import annotations

import argparse
import os
import platform
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from peak_memory import measure
from results_file import OUT_HELP, add_section  # noqa: E402

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256, help="size of each text file (default 256)")
    parser.add_argument("--out", type=Path, default=None, help=OUT_HELP)
    args = parser.parse_args()
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
    header = (f"File hashing benchmark ({platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
              f"load average {os.getloadavg()[0]:.1f}): `python benchmarks/bench_hash_files.py --mib {args.mib}`\n\n"
              "| file, way | size | time | throughput (of the text file's size) | peak memory added |\n"
              "|---|---|---|---|---|\n")
    notes = ("\nEvery way gives the same digest (checked). Throughput is the text file's size over the time, for the\n"
             "Parquet rows too, so the rows compare the same table. Peak memory is the growth of the hashing\n"
             "process's peak resident size; streamed, it does not grow with the file (docs/content-hash.md §6).\n")
    text_out = header + "\n".join(rows_out) + "\n" + notes
    add_section(args.out, text_out)
    print(text_out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
