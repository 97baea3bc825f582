"""Row sets of sharded versions: what row granularity adds to hashing a folder of Parquet shards.

    python benchmarks/bench_shard_rows.py [--shards 100] [--rows 100000] [--repeat 3] [--dask-workers N] [--out FILE]

Writes ``--shards`` Parquet shards of ``--rows`` rows (int64 id, float64, short string), then hashes the
folder in this process at column and at row granularity, alternating ``--repeat`` times (no shard
cache), builds the row set of all shards, and measures in a fresh process the peak memory of hashing
at row granularity and building the row set, of the hashing alone (``peak_memory.measure``), and of
hashing, building the row set, attaching it to a run and sealing the run's bundle into a local store
through a transport (what the Dagster and Airflow recorders do). The
row set must be the same as the row set of the same rows in one table. ``--dask-workers N`` also hashes
the folder on a Dask LocalCluster of N single-threaded workers, started once beforehand (its start-up is not timed), at
column and at row granularity; the row set made from the workers' keys must be the same file.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from peak_memory import measure
from harness import OUT_HELP, machine, report

_IMPORTS = "from prov_common.hashing.shards import hash_shards\nfrom prov_common.rowset import row_set_of"
_HASH = "td = hash_shards(path, granularity='row', cache=False, scheduler='none')"
_BODY = _HASH + "; row_set_of(td, 'file', 'corpus')"
_RECORD_IMPORTS = _IMPORTS + """
import tempfile, threading, uuid
anon = {"peak": 0.0}  # the largest anonymous resident size seen (RssAnon, every 2 ms): VmHWM counts mapped file pages too
def sample_anon():
    while True:
        with open("/proc/self/status") as f:
            anon["peak"] = max(anon["peak"], next(int(l.split()[1]) / 1024 for l in f if l.startswith("RssAnon:")))
        time.sleep(0.002)
threading.Thread(target=sample_anon, daemon=True).start()
from prov_common.rowset import without_rows
from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport
def run_event(run_id, kind, at):
    return {"eventType": kind, "eventTime": at, "producer": "https://github.com/tdprov/tdprov/benchmarks",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "run": {"runId": run_id, "facets": {}}, "job": {"namespace": "bench", "name": "shard_rows", "facets": {}},
            "inputs": [], "outputs": [{"namespace": "file", "name": "corpus", "facets": {}}]}
transport = ProvenanceTransport(ProvenanceConfig(store=tempfile.mkdtemp(prefix="tdprov-bench-store-"), strict=True))
warm = str(uuid.uuid4())  # modules loaded and the key made before the measure, as in a recording process
for kind, at in (("START", "2026-01-01T00:00:00Z"), ("COMPLETE", "2026-01-01T00:00:01Z")):
    transport.emit(run_event(warm, kind, at))
run_id = str(uuid.uuid4())
transport.emit(run_event(run_id, "START", "2026-01-01T00:00:02Z"))"""
# what the recorders do (prov_dagster.recorder, prov_airflow.rows): row set of the version, attached, run sealed
_RECORD = "anon_before = anon['peak'] = mb('RssAnon:')\n" + _HASH + """
rs = row_set_of(td, 'file', 'corpus')
td = without_rows(td)  # the key runs go once the row set stands for them
transport.attach(run_id, rs.path, rs.data)
assert transport.emit(run_event(run_id, "COMPLETE", "2026-01-01T00:00:03Z")).status == 'written'
extra["anonPeakMB"] = anon["peak"] - anon_before"""


def write_shards(folder: Path, shards: int, rows: int) -> int:
    """The shards; returns their bytes on disk."""
    for i in range(shards):
        rng = np.random.default_rng(i)
        table = pa.table({"id": np.arange(i * rows, (i + 1) * rows), "x": rng.normal(size=rows),
                          "text": pa.array([f"document {i}-{k}" for k in range(rows)])})
        pq.write_table(table, folder / f"part-{i:05d}.parquet")
    return sum(p.stat().st_size for p in folder.iterdir())


def main() -> None:
    from prov_common.hashing import hash_table
    from prov_common.hashing.shards import hash_shards
    from prov_common.rowset import row_set_of

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shards", type=int, default=100)
    parser.add_argument("--rows", type=int, default=100_000, help="rows per shard")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dask-workers", type=int, default=0, help="also time hashing on a Dask LocalCluster of N workers")
    parser.add_argument("--out", default=None, help=OUT_HELP)
    args = parser.parse_args()
    os.environ.setdefault("TDPROV_HOME", tempfile.mkdtemp(prefix="tdprov-bench-home-"))
    with tempfile.TemporaryDirectory(prefix="tdprov-bench-shard-rows-") as tmp:
        folder = Path(tmp)
        size = write_shards(folder, args.shards, args.rows)
        load = os.getloadavg()[0]
        times: dict[str, list[float]] = {"column": [], "row": []}
        build: list[float] = []
        for _ in range(args.repeat):
            for granularity in ("column", "row"):
                t = time.perf_counter()
                found = hash_shards(str(folder), granularity=granularity, cache=False, scheduler="none")
                times[granularity].append(time.perf_counter() - t)
            t = time.perf_counter()
            row_set = row_set_of(found, "file", "corpus")
            build.append(time.perf_counter() - t)
        whole = pa.concat_tables(pq.read_table(p) for p in sorted(folder.iterdir()))
        assert row_set.root == row_set_of(hash_table(whole, granularity="row"), "file", "corpus").root
        peak = measure(_IMPORTS, _BODY, str(folder), "row")
        peak_hash = measure(_IMPORTS, _HASH, str(folder), "row")
        recorded = measure(_RECORD_IMPORTS, _RECORD, str(folder), "row")
        on_dask = _on_dask(str(folder), args.dask_workers, args.repeat, row_set.data) if args.dask_workers else {}
    column, row, built = (statistics.median(v) for v in (times["column"], times["row"], build))
    total = args.shards * args.rows
    text = "\n".join([
        "# Row sets of sharded versions", "",
        f"`python benchmarks/bench_shard_rows.py --shards {args.shards} --rows {args.rows} --repeat {args.repeat}"
        + (f" --dask-workers {args.dask_workers}" if args.dask_workers else "") + "`", "",
        f"{machine()}, load {load:.1f} at the start; "
        f"{args.shards:,} Parquet shards, {total:,} rows, {size / 2**20:,.0f} MiB; medians of {args.repeat}, in one process.", "",
        "| step | result |", "|---|---:|",
        f"| hash the shards, column granularity | {column:.2f} s |",
        f"| hash the shards, row granularity | {row:.2f} s ({row / column:.2f}x) |",
        f"| build the row set of all shards | {built:.2f} s |",
        f"| row set | {len(row_set.data) / 2**20:,.1f} MiB, {len(row_set.data) / total:.2f} bytes a row, "
        f"{len(row_set.data) / size:.2f}x the Parquet |",
        f"| peak memory, row hash and row set (fresh process) | +{peak['peakMB']:,.0f} MB |",
        f"| peak memory, row hash alone (fresh process) | +{peak_hash['peakMB']:,.0f} MB |",
        f"| peak memory, row hash, row set attached and sealed in a bundle (fresh process, local store) | "
        f"+{recorded['peakMB']:,.0f} MB |",
        f"| the same, anonymous memory alone (RssAnon, sampled every 2 ms; VmHWM also counts pages of mapped files) | "
        f"+{recorded['anonPeakMB']:,.0f} MB |",
        *[f"| on Dask, {args.dask_workers} workers: {step} | {seconds:.2f} s |" for step, seconds in on_dask.items()], ""])
    report(args.out, text)


def _on_dask(folder: str, workers: int, repeat: int, expected: bytes) -> dict[str, float]:
    """Median seconds to hash ``folder`` on a running LocalCluster at column and at row granularity (with
    the row set built from the workers' keys), alternating; the row set must be ``expected``."""
    from prov_common.hashing.shard_engine import local_cluster
    from prov_common.hashing.shards import hash_shards
    from prov_common.rowset import row_set_of

    times: dict[str, list[float]] = {"hash the shards, column granularity": [], "hash the shards and build the row set": []}
    with local_cluster(workers) as cluster:
        for _ in range(repeat):
            t = time.perf_counter()
            hash_shards(folder, cache=False, scheduler=cluster.scheduler_address)
            times["hash the shards, column granularity"].append(time.perf_counter() - t)
            t = time.perf_counter()
            found = hash_shards(folder, granularity="row", cache=False, scheduler=cluster.scheduler_address)
            data = row_set_of(found, "file", "corpus").data
            times["hash the shards and build the row set"].append(time.perf_counter() - t)
            assert data == expected, "the row set made on Dask differs"
    return {step: statistics.median(v) for step, v in times.items()}


if __name__ == "__main__":
    main()
