"""Bundle benchmark: bundles written per second, and the cost of listing new bundles as the store grows.

    python benchmarks/bench_bundle.py [--backend local|s3|both] [--writes 300] [--sizes 1000,10000] [--new 100]
                                      [--workers 2] [--out benchmarks/results/bundle.md]

Writes: runs recorded through ``ProvenanceTransport`` (START + COMPLETE each: sign and stage each event, gather and
check the staged events' signatures, build PROV, sign, write), one process; and, apart, what signing a staged event
and checking its signature at the seal cost per event. Listing: a store holding SIZE older bundles (real bundles, indexed
on earlier days) gets NEW bundles; then ``list_bundles(since_cursor)`` (what an incremental consumer
does), ``recent_bundles(limit=NEW)`` and ``tdprov runs`` (a fresh parse, store and 20 rows) are
timed, and the store calls they make are counted (list calls / keys listed / objects read): the
counts must not grow with SIZE. S3 runs against moto's server on 127.0.0.1, started here; note that
moto scans the whole bucket for every ListObjectsV2 request (S3 does not), so its times grow with
the bucket even when the requests do not.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import blake3

from prov_common import PRODUCER
from prov_common.bundle import build_bundle, list_bundles, recent_bundles
from prov_common.bundle.layout import index_cursor
from prov_common.bundle.staged import opened_event, signed_event
from prov_common.bundle.storage import deliver_bundle
from prov_common.canonical_json import canonical_bytes
from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport
from prov_common.cli import main as tdprov
from prov_common.signing import TrustStore, default_signing_key
from prov_common.store import open_store
from harness import OUT_HELP, machine, report, s3_stores, start_moto  # noqa: E402

NOW = datetime.now(timezone.utc)


def _events(run_id: str, i: int) -> list[dict]:
    digest = "blake3:" + blake3.blake3(f"out-{run_id}".encode()).hexdigest()
    ds = {"namespace": "s3://lake", "name": f"features/part-{i}.parquet", "facets": {"version": {
        "_producer": PRODUCER, "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json",
        "datasetVersion": digest}}}
    base = {"producer": PRODUCER, "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "run": {"runId": run_id, "facets": {}}, "job": {"namespace": "bench", "name": "featurize", "facets": {}}}
    return [dict(base, eventType="START", eventTime="2026-01-01T00:00:00Z", inputs=[], outputs=[]),
            dict(base, eventType="COMPLETE", eventTime="2026-01-01T00:00:05Z", inputs=[], outputs=[ds])]


def _populate(args: tuple[str, dict[str, str], int, int, int]) -> None:
    """Write bundles lo..hi, indexed ``days_back``..0 days before now (older first)."""
    uri, env, lo, hi, total = args
    os.environ.update(env)
    store, key = open_store(uri), default_signing_key()
    for i in range(lo, hi):
        moment = NOW - timedelta(days=3) - timedelta(days=365 * (total - i) / total)  # a year of history
        deliver_bundle(store, build_bundle(_events(str(uuid.uuid4()), i), None, key, sealed_at=moment), now=moment)


def populate(uri: str, count: int, workers: int) -> float:
    started = time.perf_counter()
    step = max(1, count // (workers * 8))
    env = {k: v for k, v in os.environ.items() if k.startswith(("AWS_", "TDPROV_"))}
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_populate, [(uri, env, a, min(a + step, count), count) for a in range(0, count, step)]))
    return time.perf_counter() - started


class CountingStore:
    """A store that counts what a listing costs: list calls, keys listed, objects read."""

    def __init__(self, store) -> None:
        self.store, self.lists, self.keys, self.gets = store, 0, 0, 0
        self.uri = store.uri

    def list(self, prefix: str = "", *, start_after: str | None = None):
        self.lists += 1
        for key in self.store.list(prefix, start_after=start_after):
            self.keys += 1
            yield key

    def get(self, key: str, limit: int | None = None) -> bytes:
        self.gets += 1
        return self.store.get(key, limit)

    def cost(self) -> str:
        return f"{self.lists} / {self.keys} / {self.gets}"


def _timed(func) -> tuple[float, object]:
    started = time.perf_counter()
    value = func()
    return time.perf_counter() - started, value


def bench_writes(uri: str, n: int) -> list[str]:
    transport = ProvenanceTransport(ProvenanceConfig(store=uri, strict=True, timeout=0))
    runs = [_events(str(uuid.uuid4()), i) for i in range(n)]
    seconds, _ = _timed(lambda: [transport.emit(e) for events in runs for e in events])
    key = default_signing_key()
    bundles = [build_bundle(_events(str(uuid.uuid4()), i), None, key) for i in range(n)]
    build_s, _ = _timed(lambda: [build_bundle(_events(str(uuid.uuid4()), i), None, key) for i in range(n)])
    store = open_store(uri)
    write_s, _ = _timed(lambda: [deliver_bundle(store, b) for b in bundles])
    events = [(f"staging/{e['run']['runId']}/event.json", canonical_bytes(e)) for run in runs for e in run]
    trust = TrustStore.of([key.public])
    store_id = str(uuid.uuid4())  # signed for a store and checked against it, as writers and seals do
    sign_s, staged = _timed(lambda: [(k, signed_event(e, key, store_id)) for k, e in events])
    open_s, _ = _timed(lambda: [opened_event(data, trust, k, store_id) for k, data in staged])
    per_event = f"{(sign_s + open_s) / len(events) * 1e6:.0f} µs an event"
    return [f"| runs recorded through the transport (2 events each) | {n} | {seconds:.2f} | {n / seconds:.0f} |",
            f"| bundles built in memory (PROV, manifest, signature) | {n} | {build_s:.2f} | {n / build_s:.0f} |",
            f"| prebuilt bundles written (6 objects each) | {n} | {write_s:.2f} | {n / write_s:.0f} |",
            f"| staged events signed (writer) | {len(events)} | {sign_s:.2f} | {len(events) / sign_s:.0f} |",
            f"| staged events' signatures checked (seal; with signing: {per_event}) | {len(events)} | {open_s:.2f} "
            f"| {len(events) / open_s:.0f} |"]


def bench_listing(uri: str, size: int, new: int, workers: int) -> str:
    made = populate(uri, size, workers)
    store = open_store(uri)
    cursor = index_cursor(NOW - timedelta(days=1))  # what a consumer saw last
    key = default_signing_key()
    for i in range(new):
        deliver_bundle(store, build_bundle(_events(str(uuid.uuid4()), i), None, key))
    since, recent_store = CountingStore(store), CountingStore(store)
    t_since, seen = _timed(lambda: list(list_bundles(since, since_cursor=cursor)))
    assert len(seen) == new, (len(seen), new)
    t_recent, recent = _timed(lambda: list(recent_bundles(recent_store, limit=new)))
    assert {s.run_id for s in recent} == {s.run_id for s in seen}
    with contextlib.redirect_stdout(io.StringIO()) as out:
        t_cli, rc = _timed(lambda: tdprov(["runs", "--store", uri, "--limit", "20"]))
    assert rc == 0 and len(out.getvalue().splitlines()) == 1 + min(20, size + new), out.getvalue()  # a header, a line a run
    print(f"  {size} old bundles written in {made:.0f} s", file=sys.stderr)
    return (f"| {size:,} | {new} | {t_since * 1000:.0f} | {since.cost()} | {t_recent * 1000:.0f} | {recent_store.cost()} "
            f"| {t_cli * 1000:.0f} |")


@contextlib.contextmanager
def backend(name: str, root: Path) -> Iterator[callable]:
    """Yields a function that returns a fresh, empty store URI on this backend."""
    if name == "local":
        yield lambda: str(root / f"store-{uuid.uuid4().hex[:8]}")
        return
    stop = start_moto()
    try:
        yield s3_stores()
    finally:
        stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["local", "s3", "both"], default="both")
    parser.add_argument("--writes", type=int, default=300)
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated store sizes (old bundles)")
    parser.add_argument("--new", type=int, default=100)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--out", default=None, help=OUT_HELP)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tdprov-bench-bundle-"))
    os.environ["TDPROV_HOME"] = str(tmp / "home")
    sections = []
    try:
        for name in (["local", "s3"] if args.backend == "both" else [args.backend]):
            with backend(name, tmp) as fresh:
                print(f"{name}: writes", file=sys.stderr)
                writes = bench_writes(fresh(), args.writes)
                rows = []
                for size in (int(s) for s in args.sizes.split(",")):
                    print(f"{name}: listing with {size} old bundles", file=sys.stderr)
                    rows.append(bench_listing(fresh(), size, args.new, args.workers))
            label = "local folder" if name == "local" else "S3 (moto server on 127.0.0.1)"
            sections.append(
                f"### {label}\n\n| writes | count | seconds | per second |\n|---|---:|---:|---:|\n" + "\n".join(writes)
                + f"\n\n| old bundles in store | new bundles | list new since cursor (ms) | lists / keys / reads "
                f"| newest {args.new}, newest first (ms) | lists / keys / reads | `tdprov runs` (ms) |\n"
                "|---:|---:|---:|---:|---:|---:|---:|\n" + "\n".join(rows) + "\n")
        text = (f"{machine()}.\n\n"
                + "\n".join(sections))
        report(args.out, text, above="# Bundle benchmark\n\n`python benchmarks/bench_bundle.py "
               f"--backend {args.backend} --writes {args.writes} --sizes {args.sizes} --new {args.new}`\n\n")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
