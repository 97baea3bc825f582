"""Store benchmark: write rates, listing cost against store size, outbox spool and flush rates.

    python benchmarks/bench_store.py [--small 1000] [--sizes 1000,10000] [--new 100] [--mib 64]
                                     [--out benchmarks/results/store.md]

Runs against a local folder and against S3 on localhost (moto's ThreadedMotoServer through boto3),
the same backends as the test suite. The listing figure is the one that must not grow with the
store: "what is new" = ``list("runs/", start_after=<last key seen>)`` returning the newest keys.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from prov_common.store import Outbox, open_store
from prov_common.store.base import Store
from prov_common.store.local import LocalStore
from harness import OUT_HELP, free_port, machine, report, s3_stores, start_moto  # noqa: E402


NOTES = """Notes:
- Local writes fsync the file and its folder (two flushes per object); that is the cost of an object
  surviving a power cut, and `TDPROV_STORE_FSYNC=0` shows what it is on this disk.
- Listing what is new: the local store reads only the folders after `start_after`, so the time stays
  flat as the store grows. On S3 the client sends one `ListObjectsV2` request with `StartAfter` either
  way (100 keys fit one page); the growth in the moto row is moto's server filtering its whole key
  list in Python on every request, which S3 itself does not do.
- The S3 rows measure moto on localhost (a Python server), not a real S3 service.
"""


def _key(n: int) -> str:
    """Time-ordered run keys as a bundle layout would make them: day folders, then a sequence."""
    day, seq = divmod(n, 500)
    return f"runs/2026/{1 + day // 28:02d}/{1 + day % 28:02d}/{seq:06d}/manifest.json"


def _timed(func: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    value = func()
    return time.perf_counter() - started, value


def bench_puts(store: Store, n: int) -> float:
    payload = b"x" * 1024
    seconds, _ = _timed(lambda: [store.put(f"small/{i:07d}", payload) for i in range(n)])
    return n / seconds


def bench_file(store: Store, mib: int, tmp: Path) -> tuple[float, float]:
    path = tmp / "big.bin"
    path.write_bytes(os.urandom(mib << 20))
    up, _ = _timed(lambda: store.put_file("big/blob", path))
    down, _ = _timed(lambda: store.get_file("big/blob", tmp / "back.bin"))
    return mib / up, mib / down


def bench_listing(store: Store, size: int, new: int, fill: Callable[[Store, list[str]], None]) -> tuple[float, int]:
    old = [_key(i) for i in range(size)]
    fill(store, old)
    last_seen = old[-1]
    fill(store, [_key(i) for i in range(size, size + new)])
    best = float("inf")
    for _ in range(5):
        seconds, keys = _timed(lambda: list(store.list("runs/", start_after=last_seen)))
        best = min(best, seconds)
    assert len(keys) == new, (len(keys), new)  # type: ignore[arg-type]
    return best * 1000, len(keys)  # type: ignore[arg-type]


def _fill_by_put(store: Store, keys: list[str]) -> None:
    for key in keys:
        store.put(key, b"{}")


def _fill_s3_fast(store: Store, keys: list[str]) -> None:
    """Seed many keys through the raw client in threads (setup only, not measured)."""
    from concurrent.futures import ThreadPoolExecutor

    client, bucket, prefix = store.client, store.bucket, store.prefix  # type: ignore[attr-defined]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: client.put_object(Bucket=bucket, Key=prefix + k, Body=b"{}"), keys))


def bench_outbox(target: Store, runs: int, spool_dir: Path) -> tuple[float, float]:
    """Bundles/s spooled while the endpoint refuses connections, then bundles/s flushed into ``target``."""
    outbox = Outbox(spool_dir)
    bundle = [("events.jsonl", b"e" * 4000), ("prov.json", b"p" * 8000), ("manifest.json", b"m" * 600)]
    saved = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL_S3", "TDPROV_STORE_MAX_ATTEMPTS", "TDPROV_STORE_CONNECT_TIMEOUT")}
    os.environ.update(AWS_ENDPOINT_URL_S3=f"http://127.0.0.1:{free_port()}", TDPROV_STORE_MAX_ATTEMPTS="1",
                      TDPROV_STORE_CONNECT_TIMEOUT="1")
    try:
        down = open_store("s3://down/lineage")
        spool_s, _ = _timed(lambda: [outbox.deliver(down, [(f"runs/{i:05d}/{k}", v) for k, v in bundle])
                                     for i in range(runs)])
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    flush_s, report = _timed(lambda: outbox.flush(opener=lambda uri: target))
    assert report.delivered == runs and report.written == 3 * runs, report  # type: ignore[attr-defined]
    return runs / spool_s, runs / flush_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=1000, help="small objects written per backend")
    parser.add_argument("--sizes", default="1000,10000", help="store sizes for the listing benchmark")
    parser.add_argument("--new", type=int, default=100, help="new keys listed after a checkpoint")
    parser.add_argument("--mib", type=int, default=64, help="size of the streamed file")
    parser.add_argument("--runs", type=int, default=200, help="bundles spooled and flushed")
    parser.add_argument("--out", default=None, help=OUT_HELP)
    args = parser.parse_args(argv)
    logging.getLogger("prov_common.store").setLevel(logging.ERROR)  # spooling warnings are expected here
    sizes = [int(s) for s in args.sizes.split(",")]
    import prov_common.hashing  # noqa: F401 - load pandas/pyarrow before timing anything
    stop = start_moto()
    new_s3 = s3_stores()
    rows: list[tuple[str, str, str]] = []
    try:
        with tempfile.TemporaryDirectory() as tmpdir:
            tmp = Path(tmpdir)
            backends = {"local": lambda: str(tmp / f"local-{time.time_ns()}"), "S3 (moto, localhost)": new_s3}
            for name, make in backends.items():
                rows.append((name, f"put, 1 KiB objects ({args.small})", f"{bench_puts(open_store(make()), args.small):,.0f} objects/s"))
                if name == "local":
                    rate = bench_puts(LocalStore(make(), fsync=False), args.small)
                    rows.append((name, f"put, 1 KiB objects, TDPROV_STORE_FSYNC=0 ({args.small})", f"{rate:,.0f} objects/s"))
                up, down = bench_file(open_store(make()), args.mib, tmp)
                rows.append((name, f"put_file / get_file, {args.mib} MiB", f"{up:,.0f} / {down:,.0f} MiB/s"))
                fill = _fill_by_put if name == "local" else _fill_s3_fast
                for size in sizes:
                    ms, _ = bench_listing(open_store(make()), size, args.new, fill)
                    rows.append((name, f"list {args.new} new keys, store of {size:,}", f"{ms:,.1f} ms"))
            for name, make in backends.items():
                spooled, flushed = bench_outbox(open_store(make()), args.runs, tmp / f"spool-{len(rows)}")
                rows.append((name, f"outbox: deliver with the store down ({args.runs} bundles of 3 objects)",
                             f"{spooled:,.0f} bundles/s spooled"))
                rows.append((name, "outbox: flush the spooled bundles", f"{flushed:,.0f} bundles/s delivered"))
    finally:
        stop()
    table = ["| backend | operation | result |", "|---|---|---|"] + [f"| {a} | {b} | {c} |" for a, b, c in rows]
    text = (f"Store benchmark ({machine()}): `python benchmarks/bench_store.py`\n\n" + "\n".join(table) + "\n\n"
            + NOTES)
    return report(args.out, text)


if __name__ == "__main__":
    sys.exit(main())
