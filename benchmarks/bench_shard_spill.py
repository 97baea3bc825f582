"""Row keys of shards hashed on a cluster reached by address: what the recording process holds when the workers put
them in the shared spill location (``TDPROV_DASK_SPILL=s3://...``) against when they send them back in memory.

    python benchmarks/bench_shard_spill.py [--shards 20] [--rows 100000] [--repeat 2] [--out FILE]

Writes ``--shards`` Parquet shards of ``--rows`` rows (int64 id, float64), starts moto's S3 server in a process of its
own and a Dask LocalCluster of two workers, reached by its address as a remote cluster is. Then, alternating
``--repeat`` times, a fresh recording process hashes the folder at row granularity there and builds its row set, with
the spill location a bucket of that server, and a bucket that does not exist (the workers cannot put the keys, so
they come back in memory, as from workers elsewhere without the setting). Reports the recording process's peak
resident size (VmHWM, reset after start-up) above what it had before hashing: after hashing, and after the row set
(whose mapped file's pages count in it). Both row sets must have the same root.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from harness import OUT_HELP, figures, machine, report, start_moto_process

_RECORD = r'''
import json, sys
def kb(field): return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith(field))
import distributed
from prov_common.hashing.remote import s3_client
from prov_common.hashing.shards import hash_shards
from prov_common.rowset import row_set_of
s3_client(); distributed.Client(sys.argv[2]).close()  # loaded before the measure, as in a recording process
open("/proc/self/clear_refs", "w").write("5")  # VmHWM from here
base = kb("VmRSS:")
found = hash_shards(sys.argv[1], granularity="row", cache=False, scheduler=sys.argv[2], spill=sys.argv[3])
hashed = kb("VmHWM:") - base
row_set = row_set_of(found, "file", "corpus")
print(json.dumps({"hashed": hashed / 1024, "built": (kb("VmHWM:") - base) / 1024, "root": row_set.root,
                  "in_memory": sum(r.keys is not None for r in found.row_keys.runs)}))
'''


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, default=20)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--out", help=OUT_HELP)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="tdprov-bench-spill-"))
    rng = np.random.default_rng(0)
    for i in range(args.shards):
        ids = np.arange(i * args.rows, (i + 1) * args.rows, dtype=np.int64)
        pq.write_table(pa.table({"id": ids, "x": rng.random(args.rows)}), folder / f"part-{i:05d}.parquet")
    server = start_moto_process()
    try:
        import boto3

        boto3.client("s3").create_bucket(Bucket="bench-spill")
        from prov_common.hashing.shard_engine import local_cluster

        seen: dict[str, list[dict]] = {"s3://bench-spill/keys": [], "s3://no-such-bucket/keys": []}
        load = []
        with local_cluster(2) as cluster:
            for _ in range(args.repeat):
                for spill, runs in seen.items():
                    load.append(os.getloadavg()[0])
                    done = subprocess.run([sys.executable, "-c", _RECORD, str(folder), cluster.scheduler_address, spill],
                                          capture_output=True, text=True, check=True)
                    runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    finally:
        server.terminate()
        server.wait()
    (spilled, kept) = seen.values()
    assert len({r["root"] for r in spilled + kept}) == 1, "the row sets differ"
    assert all(r["in_memory"] == 0 for r in spilled) and all(r["in_memory"] == args.shards for r in kept)
    keys = 8 * args.shards * args.rows / 1e6
    text = (f"{machine()}; {args.shards} shards x {args.rows:,} rows "
            f"({keys:.0f} MB of keys), 2 workers, load {min(load):.1f}-{max(load):.1f}\n\n"
            "| keys | recording process, hashing | with the row set |\n|---|---|---|\n"
            f"| put in the S3 spill location | {figures([r['hashed'] for r in spilled], ' MB', 1)} | "
            f"{figures([r['built'] for r in spilled], ' MB', 1)} |\n"
            f"| sent back in memory | {figures([r['hashed'] for r in kept], ' MB', 1)} | "
            f"{figures([r['built'] for r in kept], ' MB', 1)} |\n")
    command = " ".join(["python benchmarks/bench_shard_spill.py", *sys.argv[1:]])
    return report(args.out, text, above=f"## Row keys from a cluster reached by address\n\n`{command}`\n\n")


if __name__ == "__main__":
    sys.exit(main())
