"""Hashing an S3 table object with the SHA-256 of its bytes: GetObject requests, wall time and memory per hashing.

    python benchmarks/bench_s3_hash.py [--formats parquet,csv,jsonl] [--mib 100] [--runs 5] [--baseline DIR]
        [--out benchmarks/results/s3_hash.md]

Writes an object of each of ``--formats`` of about each ``--mib`` MiB (random int64 and float64 columns, which
hardly compress in Parquet; the same values as CSV or JSON lines) to moto's S3 server (``ThreadedMotoServer`` on 127.0.0.1, started in this process), then hashes it ``--runs``
times with ``hash_path(uri, file_sha256=True)``, as the Airflow listener, ``ProvenanceResource.record``,
``PanderaValidationOperator(source=...)`` and ``ContentHashTransformer`` do, each time in a fresh process
(after a warm-up hashing of a small object there: the client and the imports are not timed), so the server and
the hashing do not share an interpreter. Each hashing's GetObject requests are counted on the client tdprov
reads through (botocore's ``provide-client-params`` event); its wall time, CPU time and peak memory added
(``peak_memory.measure``) are taken. A plain GetObject of the object read to the end is timed likewise, for what
one GET costs. Every hashing's SHA-256 must be ``hashlib.sha256`` of the object's bytes and its table digest
that of the same file hashed locally. The load average (``uptime``) is taken before and after each object's runs.

``--baseline DIR``: a source tree of tdprov to compare with (``git worktree add /tmp/before <commit>``); its
hashings alternate with this tree's (baseline, this, baseline, ...), and each pair's ratio is reported too.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from peak_memory import measure
from harness import OUT_HELP, figures, machine, report, start_moto, tree_env  # noqa: E402

ROWS_PER_GROUP = 1 << 20  # 16 MiB of int64 and float64 values a row group
WARM_KEY = "bench/warm"  # + "." + the format: a small object hashed first in each process
FORMATS = ("parquet", "csv", "jsonl")

_IMPORTS = f"""
import types
from prov_common.hashing import hash_path
from prov_common.hashing.remote import s3_client
uri = sys.argv[1]
hash_path(uri.rsplit("/", 2)[0] + "/{WARM_KEY}." + uri.rsplit(".", 1)[1], file_sha256=True)  # the client made, the code loaded
"""
_BODY = """
gets = []
s3_client().meta.events.register("provide-client-params.s3.GetObject", lambda params, **_: gets.append(params["Key"]))
if how == "hash":
    td = hash_path(path, file_sha256=True)
    extra = {"gets": len(gets), "sha256": td.file_sha256}
else:  # one plain GetObject, read to the end
    bucket, key = path[len("s3://"):].split("/", 1)
    body = s3_client().get_object(Bucket=bucket, Key=key)["Body"]
    while body.read(1 << 20):
        pass
    td = types.SimpleNamespace(digest=None, rows=0)
"""


def write_object(path: Path, fmt: str, mib: float) -> None:
    """About ``mib`` MiB of ``fmt``: Parquet (:func:`write_parquet`), or its values as CSV or JSON lines."""
    if fmt == "parquet":
        write_parquet(path, mib)
        return
    rng = np.random.default_rng(7)
    sample = pa.table({"id": rng.integers(0, 2**62, 1000), "x": rng.random(1000)}).to_pandas()
    per_row = len(_text(sample, fmt)) / len(sample)
    rows = max(1, int(mib * 2**20 / per_row))
    with path.open("wb") as f:
        for start in range(0, rows, ROWS_PER_GROUP):
            n = min(ROWS_PER_GROUP, rows - start)
            part = pa.table({"id": rng.integers(0, 2**62, n), "x": rng.random(n)}).to_pandas()
            f.write(_text(part, fmt, header=start == 0))


def _text(frame, fmt: str, header: bool = True) -> bytes:
    if fmt == "csv":
        return frame.to_csv(index=False, header=header).encode()
    return frame.to_json(orient="records", lines=True).encode()


def write_parquet(path: Path, mib: float) -> None:
    """About ``mib`` MiB of Parquet (at least one row group): row groups of random int64 and float64 values."""
    rng = np.random.default_rng(7)
    rows = min(ROWS_PER_GROUP, max(1, int(mib * 2**20 / 16)))
    groups = max(1, round(mib * 2**20 / (rows * 16)))
    schema = pa.schema([("id", pa.int64()), ("x", pa.float64())])
    with pq.ParquetWriter(path, schema) as writer:
        for _ in range(groups):
            writer.write_table(pa.table({"id": rng.integers(0, 2**62, rows), "x": rng.random(rows)}, schema=schema))


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def bench_object(client, bucket: str, folder: Path, fmt: str, mib: int, runs: int, trees: dict[str, dict[str, str]]
                 ) -> list[str]:
    """Write, upload and hash the ``fmt`` object of about ``mib`` MiB ``runs`` times with each tree: its rows of the
    report."""
    path = folder / f"data-{mib}.{fmt}"
    write_object(path, fmt, mib)
    key = f"bench/data-{mib}.{fmt}"
    client.upload_file(str(path), bucket, key)
    size, expected_sha256 = path.stat().st_size, file_sha256(path)
    from prov_common.hashing import hash_path

    expected_digest = hash_path(path).digest
    path.unlink()
    uri = f"s3://{bucket}/{key}"
    load_before = os.getloadavg()
    found: dict[str, list[dict]] = {name: [] for name in trees}
    for _ in range(runs):
        for name, env in trees.items():  # alternating, so a drift of the machine's speed reaches every tree alike
            got = measure(_IMPORTS, _BODY, uri, "hash", env=env)
            assert got["sha256"] == expected_sha256, f"{name}, {uri}: SHA-256 {got['sha256']}, hashlib {expected_sha256}"
            assert got["digest"] == expected_digest, f"{name}, {uri}: the table digest differs from the local file's"
            found[name].append(got)
    plain = [measure(_IMPORTS, _BODY, uri, "get")["seconds"] for _ in range(runs)]
    load_after = os.getloadavg()
    rows = []
    for name, got in found.items():
        ratio = ""
        if name != "this tree" and "this tree" in found:
            ratio = figures([b["seconds"] / a["seconds"] for a, b in zip(found["this tree"], got)], "x")
        rows.append(f"| {fmt}, {size / 2**20:,.0f} MiB | {name} | {', '.join(sorted({str(g['gets']) for g in got}))} | "
                    f"{figures([g['seconds'] for g in got])} | {ratio} | {figures([g['cpu'] for g in got])} | "
                    f"{statistics.median(g['peakMB'] for g in got):,.0f} MB | {figures(plain)} | "
                    f"{load_before[0]:.2f} / {load_after[0]:.2f} |")
        print(rows[-1], file=sys.stderr, flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--formats", default=",".join(FORMATS),
                        help=f"formats of the objects, comma-separated (default {','.join(FORMATS)})")
    parser.add_argument("--mib", default="100",
                        help="sizes of the objects, comma-separated (default 100; 1024 too takes minutes)")
    parser.add_argument("--runs", type=int, default=5, help="hashings of each object by each tree (default 5)")
    parser.add_argument("--baseline", type=Path, default=None, help="a source tree of tdprov to compare with")
    parser.add_argument("--out", type=Path, default=None, help=OUT_HELP)
    args = parser.parse_args()
    stop = start_moto()
    try:
        from prov_common.hashing.remote import s3_client

        client = s3_client()
        bucket = f"bench-{uuid.uuid4().hex[:10]}"
        client.create_bucket(Bucket=bucket)
        with tempfile.TemporaryDirectory(prefix="tdprov-bench-s3-hash-") as tmp:
            for fmt in args.formats.split(","):
                write_object(Path(tmp) / f"warm.{fmt}", fmt, 0.01)
                client.upload_file(str(Path(tmp) / f"warm.{fmt}"), bucket, f"{WARM_KEY}.{fmt}")
            here = Path(__file__).resolve().parent.parent
            trees = {"this tree": tree_env(here, Path(tmp) / "shim")}
            if args.baseline is not None:
                trees = {"baseline": tree_env(args.baseline, Path(tmp) / "shim"), **trees}
            rows = [row for fmt in args.formats.split(",") for mib in args.mib.split(",")
                    for row in bench_object(client, bucket, Path(tmp), fmt, int(mib), args.runs, trees)]
    finally:
        stop()
    text = (f"S3 table hashing with the SHA-256 of its bytes ({machine()}, moto's S3 server on 127.0.0.1): "
            f"`python benchmarks/bench_s3_hash.py --formats {args.formats} --mib {args.mib} --runs {args.runs}"
            f"{' --baseline DIR' if args.baseline else ''}`\n\n"
            f"| object | code | GetObject per hashing | `hash_path(file_sha256=True)` wall, median of {args.runs} (min-max) "
            "| its ratio to this tree's, pair by pair | CPU | peak memory added | one plain GetObject read to the end "
            "| load average before / after |\n"
            "|---|---|---:|---:|---:|---:|---:|---:|---:|\n" + "\n".join(rows) + "\n\n"
            "Each hashing ran in a fresh process after a warm-up hashing of a small object there; every one gave "
            "`hashlib.sha256` of the object's bytes and the table digest of the same file hashed locally (checked).\n")
    return report(args.out, text)


if __name__ == "__main__":
    raise SystemExit(main())
