"""``tdprov contains`` on a version made by a Dagster asset at row granularity: lookup latency, bytes read, size.

Materialises one ``provenance_asset(granularity="row")`` of ``--rows`` rows (id, e-mail, score, label)
with ``ProvenanceIOManager`` into a local store, then times lookups of records that are in the version
and records that are not: the proof from the stored row set (three range reads, checked against the
signed root) and, once, the whole ``contains`` call (index, signature, proof). With ``--s3`` the same
row set is looked up on moto's S3 server. Also compares the row-set size with the Parquet of
bench_rows.py's mixed frame (1M rows). Prints a Markdown report; the load average is part of it.

    python benchmarks/bench_contains.py [--rows 10000000] [--lookups 200] [--s3]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import machine, s3_stores, start_moto  # noqa: E402


def corpus(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame({
        "id": np.arange(rows, dtype=np.int64),
        "email": [f"user{i}@example.org" for i in range(rows)],
        "score": rng.random(rows),
        "label": rng.integers(0, 10, rows).astype(np.int8),
    })


def record(frame: pd.DataFrame, i: int, *, present: bool) -> dict:
    row = {"id": int(frame.id.iat[i]), "email": frame.email.iat[i], "score": float(frame.score.iat[i]),
           "label": int(frame.label.iat[i])}
    if not present:
        row["email"] = row["email"] + "x"
    return row


class Counting:
    """Counts the range reads and bytes a lookup takes from a real store."""

    def __init__(self, store) -> None:  # type: ignore[no-untyped-def]
        self.requests = self.bytes = 0
        inner = store.get_range

        def get_range(key: str, start: int, length: int) -> bytes:
            data = inner(key, start, length)
            self.requests += 1
            self.bytes += len(data)
            return data

        store.get_range = get_range


def lookups(store, row_set, frame: pd.DataFrame, count: int) -> tuple[list[float], Counting, int]:  # type: ignore[no-untyped-def]
    from prov_common.rowset import prove_record

    counter = Counting(store)
    rng = np.random.default_rng(3)
    times, found = [], 0
    for k, i in enumerate(rng.integers(0, len(frame), count)):
        rec = record(frame, int(i), present=k % 2 == 0)
        start = time.perf_counter()
        proof = prove_record(store, row_set, rec)
        times.append(time.perf_counter() - start)
        found += proof.contained == (k % 2 == 0)
    return times, counter, found


def ms(values: list[float], q: float) -> float:
    return 1000 * float(np.quantile(values, q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--lookups", type=int, default=200)
    parser.add_argument("--s3", action="store_true", help="also look up on moto's S3 server")
    parser.add_argument("--mixed-rows", type=int, default=1_000_000, help="rows of bench_rows.py's mixed frame (0: skip)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="tdprov-bench-contains-"))
    os.environ.setdefault("TDPROV_HOME", str(tmp / "home"))
    os.environ["TDPROV_STORE_FSYNC"] = "0"
    from dagster import DagsterInstance, materialize

    from prov_common.audit.catalog import known_runs
    from prov_common.audit.lineage import LineageIndex
    from prov_common.audit.membership import contains, find_row_set
    from prov_common.config import Settings
    from prov_common.signing import trust_from_settings
    from prov_common.store import open_store
    from prov_dagster import ProvenanceIOManager, provenance_asset

    load_before = os.getloadavg()
    t0 = time.perf_counter()
    frame = corpus(args.rows)
    made = time.perf_counter() - t0

    @provenance_asset(granularity="row")
    def training_corpus() -> pd.DataFrame:
        return frame

    store_uri = str(tmp / "store")
    with DagsterInstance.ephemeral() as instance:
        t0 = time.perf_counter()
        result = materialize([training_corpus], instance=instance,
                             resources={"io_manager": ProvenanceIOManager(store=store_uri)})
        materialised = time.perf_counter() - t0
    assert result.success
    digest = str(result.get_asset_materialization_events()[0].materialization.metadata["tdprov/digest"].value)
    parquet_bytes = (tmp / "store-data" / "training_corpus.parquet").stat().st_size

    settings = Settings.from_env(store=store_uri)
    store, trust = open_store(settings=settings), trust_from_settings(settings)
    t0 = time.perf_counter()
    index = LineageIndex(known_runs(store, trust).values())
    version = index.resolve(digest)[1]
    row_set = find_row_set(store, index, version, trust)
    resolve = time.perf_counter() - t0
    assert row_set is not None
    rowset_bytes = len(store.get(row_set.key))
    t0 = time.perf_counter()
    answer = contains(store, index, version, record(frame, 12345 % args.rows, present=True), trust)
    whole = time.perf_counter() - t0
    assert answer.contained
    local_times, local_count, local_ok = lookups(store, row_set, frame, args.lookups)

    s3_line = ""
    if args.s3:
        from prov_common.rowset import SignedRowSet

        stop = start_moto()
        s3 = open_store(s3_stores()())
        s3.put(row_set.key, store.get(row_set.key))
        s3_times, s3_count, s3_ok = lookups(s3, SignedRowSet(row_set.run_id, row_set.key, row_set.rows_root, row_set.size), frame, args.lookups)
        stop()
        s3_line = (f"| S3 (moto on localhost) | {ms(s3_times, 0.5):.1f} | {ms(s3_times, 0.95):.1f} | "
                   f"{s3_count.requests / len(s3_times):.1f} | {s3_count.bytes / len(s3_times) / 1024:.1f} | {s3_ok}/{len(s3_times)} |\n")

    mixed = ""
    if args.mixed_rows:
        import pyarrow as pa
        import pyarrow.parquet as pq
        from bench_rows import mixed_frame

        from prov_common.hashing import hash_dataframe
        from prov_common.rowset import row_set_of

        frame_m = mixed_frame(args.mixed_rows / 1_000_000)
        path = tmp / "mixed.parquet"
        pq.write_table(pa.Table.from_pandas(frame_m), path)
        rs = row_set_of(hash_dataframe(frame_m, granularity="row"), "file", "mixed")
        mixed = (f"| bench_rows.py mixed frame, {len(frame_m):,} rows | {path.stat().st_size / 2**20:.1f} MiB | "
                 f"{len(rs.data) / 2**20:.1f} MiB | {len(rs.data) / path.stat().st_size:.2f}x |\n")

    load_after = os.getloadavg()
    n = args.rows
    print(f"""# `tdprov contains` on a Dagster asset at row granularity

`python benchmarks/bench_contains.py --rows {n}{' --s3' if args.s3 else ''}` on {machine()};
load average {load_before[0]:.1f} before, {load_after[0]:.1f} after.

Data: {n:,} rows (int64 id, e-mail string, float64 score, int8 label), made in {made:.1f} s; materialised
by `provenance_asset(granularity="row")` with `ProvenanceIOManager` in {materialised:.1f} s (hash, row set,
Parquet, bundle).

| size | Parquet written by the asset | row set (`rows/<dataset>.rowset`) | ratio |
|---|---:|---:|---:|
| this asset | {parquet_bytes / 2**20:.1f} MiB | {rowset_bytes / 2**20:.1f} MiB ({rowset_bytes / n:.2f} B/row) | {rowset_bytes / parquet_bytes:.2f}x |
{mixed}
| lookup ({len(local_times)} records, half in, half not) | median ms | p95 ms | range reads | KiB read | answers right |
|---|---:|---:|---:|---:|---:|
| local store, in process | {ms(local_times, 0.5):.2f} | {ms(local_times, 0.95):.2f} | {local_count.requests / len(local_times):.1f} | {local_count.bytes / len(local_times) / 1024:.1f} | {local_ok}/{len(local_times)} |
{s3_line}
Finding the row set once (store index, signature, manifest, events): {resolve * 1000:.0f} ms; one whole
`contains()` call with the index already built: {whole * 1000:.0f} ms.
""")


if __name__ == "__main__":
    main()
