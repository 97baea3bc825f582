"""Listing S3 keys: the client's CPU with botocore's timestamp parser and with tdprov's (``fresh_s3_client``).

    python benchmarks/bench_s3_list.py [--keys 5000] [--runs 5] [--out benchmarks/results/s3_list.md]

Puts ``--keys`` empty objects into a bucket of moto's S3 server (``ThreadedMotoServer`` on 127.0.0.1, started in
this process; the objects are put through moto's backend, in a second instead of a PUT request each), then lists them all (``list_objects_v2``, 1,000 keys a page) ``--runs`` times with each of two
clients, alternating: a plain boto3 client, whose answers botocore reads with ``botocore.utils.parse_timestamp``
(dateutil's parser), and ``fresh_s3_client()``'s, which reads them with ``parse_s3_timestamp``. Both have the store's
botocore ``Config``. The CPU taken is that of the listing thread alone (``time.thread_time``): the server answers in
threads of its own. Both listings must give the same keys and ``LastModified`` values (checked). The load average
(``os.getloadavg``) is taken before and after.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from typing import Any

from harness import OUT_HELP, figures, machine, report, start_moto  # noqa: E402


def listed(client: Any, bucket: str) -> tuple[float, list[tuple[str, Any]]]:
    """The CPU seconds of this thread to list the whole bucket, and its keys with their ``LastModified``."""
    started = time.thread_time()
    keys = [(item["Key"], item["LastModified"])
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket) for item in page.get("Contents", ())]
    return time.thread_time() - started, keys


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=5000, help="objects in the bucket (default 5000)")
    parser.add_argument("--runs", type=int, default=5, help="listings by each client (default 5)")
    parser.add_argument("--out", default=None, help=OUT_HELP)
    args = parser.parse_args()
    stop = start_moto()
    try:
        import boto3
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.s3.models import s3_backends

        from prov_common.store.s3 import S3Options, client_config, fresh_s3_client

        config = client_config(S3Options())
        clients = {"botocore's parser": boto3.session.Session().client("s3", config=config),
                   "tdprov's client": fresh_s3_client(config)}
        bucket = f"bench-{uuid.uuid4().hex[:10]}"
        clients["botocore's parser"].create_bucket(Bucket=bucket)
        backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
        for i in range(args.keys):
            backend.put_object(bucket, f"runs/{i:07d}/manifest.json", b"")
        load_before = os.getloadavg()
        cpu: dict[str, list[float]] = {name: [] for name in clients}
        for client in clients.values():  # a warm-up page of one key each: the paginator and the parser made
            next(iter(client.get_paginator("list_objects_v2").paginate(Bucket=bucket, MaxKeys=1)))
        for _ in range(args.runs):
            answers = []
            for name, client in clients.items():
                seconds, keys = listed(client, bucket)
                cpu[name].append(seconds)
                answers.append(keys)
            if len(answers[0]) != args.keys or answers[0] != answers[1]:
                raise SystemExit("the two clients listed different keys or LastModified values")
        load_after = os.getloadavg()
    finally:
        stop()
    rows = []
    base = statistics.median(cpu["botocore's parser"])
    for name, values in cpu.items():
        per_key = statistics.median(values) / args.keys * 1e6
        rows.append(f"| {name} | {figures(values)} | {per_key:.1f} µs | {base / statistics.median(values):.2f}x |")
    text = (f"Listing {args.keys:,} S3 keys ({machine()}, moto's S3 server on 127.0.0.1): "
            f"`python benchmarks/bench_s3_list.py --keys {args.keys} --runs {args.runs}`\n\n"
            f"| client | CPU of the listing thread, median of {args.runs} (min-max) | per key | botocore's over it |\n"
            "|---|---:|---:|---:|\n" + "\n".join(rows) + "\n\n"
            f"Load average before / after: {load_before[0]:.1f} / {load_after[0]:.1f}. Both clients listed the same keys "
            "and `LastModified` values in every run (checked).\n")
    return report(args.out, text, above="# Listing S3 keys: the timestamp parser's CPU\n\n")


if __name__ == "__main__":
    raise SystemExit(main())
