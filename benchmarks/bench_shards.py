"""Sharded datasets on Dask, Parquet memory, and verification on every core.

    python benchmarks/bench_shards.py [--shards 1000] [--rows 20000] [--parquet-mb 1024]
                                      [--bundles 10000] [--out benchmarks/results/shards.md]  (--out appends)
                                      [--skip shards,rss,verify] [--s3-endpoint URL]

1. ``--shards`` Parquet shards of ``--rows`` rows (int64, float64 and string columns) in a bucket of
   moto's ``ThreadedMotoServer``, in a process of its own on localhost (or of the running S3-compatible
   server at ``--s3-endpoint``, e.g. ``npx s3rver -d DIR -p 4569`` with AWS_ACCESS_KEY_ID and
   AWS_SECRET_ACCESS_KEY set to S3RVER: moto serves one request at a time in one Python process). ``hash_shards`` of the prefix
   in this process and on a Dask LocalCluster of 2 worker processes (started beforehand, reached by
   address: the cluster's start-up is shown apart), without the shard cache: the digests must be equal.
   Then the cache: a full hash that records the shard digests, one shard replaced, and the re-hash,
   which must read that shard only.
2. Peak memory of hashing a ``--parquet-mb`` Parquet file (row groups of 1 Mi rows), in a fresh
   process each: by row group (now) and with each column read whole (before); peak RSS above the
   process's RSS once everything is imported.
3. ``verify_runs`` of ``--bundles`` local bundles (made by ``bench_audit.make_bundles``), serial
   against one worker process per CPU; the reports must be equal.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from harness import OUT_HELP, machine, report, start_moto_process  # noqa: E402
from peak_memory import measure  # noqa: E402

_WHOLE_COLUMNS = """pf = pq.ParquetFile(path)
td = hash_table_columns(pf.schema_arrow.empty_table(),
                        lambda n: pf.read(columns=[n], use_pandas_metadata=False).column(0), pf.metadata.num_rows)"""


def _load() -> float:
    return os.getloadavg()[0]


def _shard(i: int, rows: int) -> bytes:
    rng = np.random.default_rng(i)
    table = pa.table({"id": np.arange(i * rows, (i + 1) * rows), "x": rng.normal(size=rows),
                      "text": pa.array([f"record {i}-{k} {'x' * (k % 17)}" for k in range(rows)])})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def bench_shards(count: int, rows: int, endpoint: str | None = None) -> list[str]:
    import boto3

    from prov_common.hashing import hash_shards

    if endpoint:  # a running S3-compatible server; credentials and region from the environment
        os.environ["AWS_ENDPOINT_URL_S3"] = endpoint
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    server = None if endpoint else start_moto_process()
    name = f"the server at {endpoint}" if endpoint else "moto"
    try:
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="corpus")
        with ThreadPoolExecutor(8) as pool:
            sizes = list(pool.map(lambda i: _put(s3, i, rows), range(count)))
        uri = "s3://corpus/v1/"
        total_mb = sum(sizes) / 2**20
        load_before = _load()
        one, _, two = engines = _engines(uri)
        t = time.perf_counter()
        full = hash_shards(uri, scheduler="none")  # records every shard's digest
        full_s = time.perf_counter() - t
        s3.put_object(Bucket="corpus", Key="v1/part-00017.parquet", Body=_shard(10_000_017, rows))
        t = time.perf_counter()
        again = hash_shards(uri, scheduler="none")
        again_s = time.perf_counter() - t
        assert again.read == ("part-00017.parquet",) and again.digest != full.digest
        local = _local_rows(s3, count, rows, one.digest, total_mb)
        return [
            f"| shards on S3 ({name}) | {count:,} Parquet shards, {total_mb:,.0f} MB, {count * rows:,} rows | load {load_before:.1f} at the start |",
            *_engine_rows(engines, total_mb, ("one process (`--scheduler none`)", f"{one.digest[:19]}…"),
                          ("Dask LocalCluster, 2 workers", f"same digest; cluster start-up {two.startup:.1f} s more")),
            f"| full hash recording shard digests | {full_s:.1f} s | {len(full.read):,} shards read |",
            f"| re-hash after one shard replaced | {again_s:.2f} s = {100 * again_s / full_s:.1f}% of the full hash | {len(again.read)} shard read (listing: {count:,} keys) |",
            *local,
        ]
    finally:
        if server is not None:
            server.terminate()
            server.wait()


@dataclass
class Timed:
    """A digest and the seconds it took (``startup``: a cluster's start before it)."""

    digest: str
    seconds: float
    startup: float = 0.0


def _engines(target: str) -> tuple[Timed, Timed, Timed]:
    """``hash_shards`` of ``target`` without the cache: in this process (default threads, then one hashing
    thread) and on a 2-worker LocalCluster started beforehand; all three digests must be equal."""
    import distributed

    from prov_common.hashing import hash_shards
    from prov_common.hashing.shard_engine import local_cluster

    def timed(**how: object) -> Timed:
        t = time.perf_counter()
        digest = hash_shards(target, cache=False, **how).digest
        return Timed(digest, time.perf_counter() - t)

    one, single = timed(scheduler="none"), timed(scheduler="none", threads=1)
    t = time.perf_counter()
    with local_cluster(2) as cluster:
        with distributed.Client(cluster) as client:
            client.run(_warm)  # each worker imports the hashing code: part of the start-up
        startup = time.perf_counter() - t
        two = timed(scheduler=cluster.scheduler_address)
    two.startup = startup
    assert one.digest == two.digest == single.digest, (one.digest, two.digest, single.digest)
    return one, single, two


def _engine_rows(engines: tuple[Timed, Timed, Timed], total_mb: float, first: tuple[str, str],
                 dask: tuple[str, str]) -> list[str]:
    one, single, two = engines
    return [f"| {first[0]} | {one.seconds:.1f} s ({total_mb / one.seconds:.0f} MB/s) | {first[1]} |",
            f"| ... one hashing thread (`threads=1`) | {single.seconds:.1f} s ({total_mb / single.seconds:.0f} MB/s) | same digest |",
            f"| {dask[0]} | {two.seconds:.1f} s ({total_mb / two.seconds:.0f} MB/s): {one.seconds / two.seconds:.2f}x, "
            f"{single.seconds / two.seconds:.2f}x against one thread | {dask[1]} |"]


def _local_rows(s3, count: int, rows: int, digest: str, total_mb: float) -> list[str]:
    """The same shards (part-00017 as first written) from a local folder: the engines without the S3 server."""
    folder = Path(tempfile.mkdtemp(prefix="tdprov-bench-local-shards-"))
    for i in range(count):
        key = f"v1/part-{i:05d}.parquet"
        (folder / key.split("/")[1]).write_bytes(_shard(i, rows) if i == 17 else s3.get_object(Bucket="corpus", Key=key)["Body"].read())
    engines = _engines(str(folder))
    shutil.rmtree(folder)
    assert engines[0].digest == digest, (engines[0].digest, digest)
    return _engine_rows(engines, total_mb, ("the same shards in a local folder, one process", "same digest as on S3"),
                        ("... Dask LocalCluster, 2 workers", "same digest"))


def _warm() -> None:
    import prov_common.hashing.shards  # noqa: F401  (pandas, pyarrow and the hashing code)


def _put(s3, i: int, rows: int) -> int:
    body = _shard(i, rows)
    s3.put_object(Bucket="corpus", Key=f"v1/part-{i:05d}.parquet", Body=body)
    return len(body)


def bench_rss(megabytes: int, folder: Path) -> list[str]:
    path = folder / "big.parquet"
    columns = 8
    rows = megabytes * 2**20 // (8 * columns)
    group = 1 << 20
    rng = np.random.default_rng(1)
    schema = pa.schema([(f"c{j}", pa.float64()) for j in range(columns)])
    with pq.ParquetWriter(path, schema, compression="none") as writer:
        for start in range(0, rows, group):
            n = min(group, rows - start)
            writer.write_table(pa.table({f"c{j}": rng.random(n) for j in range(columns)}, schema=schema))
    size = path.stat().st_size / 2**20
    lines = []
    digests = set()
    imports = ("import pyarrow.parquet as pq\nfrom prov_common.hashing import hash_path\n"
               "from prov_common.hashing.table import hash_table_columns")
    for mode, body in (("row-groups", "td = hash_path(path)"), ("whole-columns", _WHOLE_COLUMNS)):
        got = measure(imports, body, str(path), mode)
        digests.add(got["digest"])
        label = "by row group (now)" if mode == "row-groups" else "each column read whole (before)"
        lines.append(f"| hash a {size:,.0f} MB Parquet file, {mode} | {label}: peak +{got['peakMB']:,.0f} MB above start-up "
                     f"| {got['seconds']:.1f} s, load {_load():.1f} |")
    assert len(digests) == 1, digests
    path.unlink()
    return lines


def bench_verify(bundles: int, folder: Path) -> list[str]:
    from bench_audit import make_bundles

    from prov_common.bundle.verify_runs import verify_runs
    from prov_common.signing import trust_from_settings
    from prov_common.store import open_store

    os.environ["TDPROV_STORE_FSYNC"] = "0"
    uri = str(folder / "store")
    made = make_bundles(uri, 0, bundles, 2)
    store, trust = open_store(uri), trust_from_settings()
    timings, reports = {}, {}
    for workers in (1, 2):
        t = time.perf_counter()
        reports[workers] = [r.to_dict() for r in verify_runs(store, trust, workers=workers)]
        timings[workers] = time.perf_counter() - t
    assert reports[1] == reports[2] and all(r["ok"] for r in reports[1])
    per = 1000 * timings[1] / bundles
    return [
        f"| verify {bundles:,} local bundles (made in {made:.0f} s) | serial: {timings[1]:.1f} s ({per:.1f} ms per bundle) | load {_load():.1f} |",
        f"| ... one process per CPU (2) | {timings[2]:.1f} s: {timings[1] / timings[2]:.2f}x | the same {bundles:,} reports |",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shards", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--parquet-mb", type=int, default=1024)
    parser.add_argument("--bundles", type=int, default=10_000)
    parser.add_argument("--s3-endpoint", default=None, metavar="URL",
                        help="use this running S3-compatible server (an empty one; credentials from the environment) "
                             "instead of starting moto's")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: shards, rss, verify")
    parser.add_argument("--out", default=None, help=OUT_HELP)
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    os.environ.setdefault("TDPROV_HOME", tempfile.mkdtemp(prefix="tdprov-bench-home-"))
    rows = ["| what | result | notes |", "|---|---|---|"]
    with tempfile.TemporaryDirectory(prefix="tdprov-bench-shards-") as tmp:
        parts = (("verify", lambda: bench_verify(args.bundles, Path(tmp))),  # first: Dask leaves threads behind,
                 ("rss", lambda: bench_rss(args.parquet_mb, Path(tmp))),      # and workers of a threaded process spawn
                 ("shards", lambda: bench_shards(args.shards, args.rows, args.s3_endpoint)))
        for name, part in parts:
            if name not in skip:
                done = part()
                print("\n".join(done), flush=True)
                rows += done
    command = " ".join(["python benchmarks/bench_shards.py", *sys.argv[1:]])
    text = "\n".join([
        f"`{command}`", "",
        f"{machine()}; 1-minute load average "
        f"{_load():.1f} at the end (say in the results whether other jobs shared the machine).", "", *rows, ""])
    return report(args.out, text, above="# Sharded datasets, Parquet memory, verification on every core\n\n")


if __name__ == "__main__":
    sys.exit(main())
