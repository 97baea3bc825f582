"""Audit benchmark: full audit of N local bundles, then an incremental audit after M new ones.

    python benchmarks/bench_audit.py --sizes 1000,3000,10000 --new 100 [--workers 2] [--pairs 3] [--store DIR] [--out FILE]

Bundles are made by the real bundle builder (events -> PROV -> manifest -> signed statement) as a
chain of prepare/train runs over a registered source, and written to a local store. For each store
size: the first (full) audit, then ``--new`` bundles and the incremental audit, with the objects it
read counted (the cost must follow what is new, not the store) and the inventory's one listing of
the store (keys listed, listing requests at 1,000 keys each, the auditor's memory file); for the
largest also the full re-audit on one worker and on ``--workers``, alternating ``--pairs`` times.
Targets: full audit of 10,000 bundles <= 60 s, incremental audit after 100 new <= 5 s, the full
re-audit >= 1.7x faster on 2 workers than on one.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import blake3

from prov_common import PRODUCER
from prov_common.audit import run_audit
from prov_common.audit.memory import memory_path
from prov_common.bundle import build_bundle
from prov_common.bundle.storage import deliver_bundle, index_keys, list_bundles
from prov_common.config import Settings
from prov_common.signing import default_signing_key
from prov_common.sources import SourceRecord, register_source
from prov_common.store import open_store
from prov_common.store.local import LocalStore
from harness import OUT_HELP, machine, report  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _digest(tag: str) -> str:
    return "blake3:" + blake3.blake3(tag.encode()).hexdigest()


def _ds(name: str, version: str) -> dict:
    return {"namespace": "file", "name": name, "facets": {
        "version": {"_producer": PRODUCER, "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json",
                    "datasetVersion": version},
        "tdprov_pandera": {"_producer": PRODUCER, "_schemaURL": "https://example.invalid/Pandera.json", "schemaName": "s",
                           "schemaDigest": _digest("s"), "passed": True, "failureCount": 0, "checks": []}}}


def _events(i: int) -> list[dict]:
    """Run i: even runs prepare features from the source, odd runs train on the previous run's output."""
    run_id = str(uuid.UUID(int=i + 1))
    start = T0 + timedelta(seconds=10 * i)
    if i % 2 == 0:
        job, inputs, outputs = "prepare_features", [_ds("/data/raw.csv", _digest("raw"))], [_ds(f"/data/features-{i}.parquet", _digest(f"f{i}"))]
    else:
        job, inputs, outputs = "train_model", [_ds(f"/data/features-{i - 1}.parquet", _digest(f"f{i - 1}"))], [_ds(f"/models/m{i}.pkl", _digest(f"m{i}"))]
    base = {"producer": PRODUCER, "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "run": {"runId": run_id, "facets": {}}, "job": {"namespace": "bench", "name": job, "facets": {}}, "inputs": inputs}
    return [dict(base, eventType="START", eventTime=start.isoformat(), outputs=[]),
            dict(base, eventType="COMPLETE", eventTime=(start + timedelta(seconds=5)).isoformat(), outputs=outputs)]


def _write(args: tuple[str, int, int]) -> None:
    uri, lo, hi = args
    store, key = open_store(uri), default_signing_key()
    for i in range(lo, hi):
        deliver_bundle(store, build_bundle(_events(i), None, key))


def make_bundles(uri: str, lo: int, hi: int, workers: int) -> float:
    started = time.perf_counter()
    step = max(1, (hi - lo) // (workers * 4))
    chunks = [(uri, a, min(a + step, hi)) for a in range(lo, hi, step)]
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_write, chunks))
    return time.perf_counter() - started


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _timed(fn):
    wall, cpu = time.perf_counter(), _cpu()
    result = fn()
    return result, time.perf_counter() - wall, _cpu() - cpu


class CountingStore(LocalStore):
    """The local store, counting the objects read (get, exists), the listings made and the files stat'ed."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.reads = 0
        self.listings = 0
        self.listed = 0
        self.stats = 0

    def get(self, key: str, limit: int | None = None) -> bytes:
        self.reads += 1
        return super().get(key, limit)

    def exists(self, key: str) -> bool:
        self.reads += 1
        return super().exists(key)

    def list(self, prefix: str = "", *, start_after: str | None = None):
        self.listings += 1
        return super().list(prefix, start_after=start_after)

    def list_info(self, prefix: str = "", *, start_after: str | None = None, tags_for=None):
        """The inventory's listing: counted as one listing per 1,000 keys, as S3 pages it."""
        for n, info in enumerate(super().list_info(prefix, start_after=start_after, tags_for=tags_for)):
            if n % 1000 == 0:
                self.listings += 1
            self.listed += 1
            self.stats += info.size >= 0
            yield info


def _list_new(store, new: int) -> float:
    """Seconds to list and read the ``new`` newest index entries from a cursor (best of 3)."""
    keys = list(index_keys(store))
    cursor = keys[-new - 1] if len(keys) > new else None
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        sum(1 for _ in list_bundles(store, since_cursor=cursor))
        best = min(best, time.perf_counter() - started)
    return best


def audit_size(folder: Path, size: int, new: int, workers: int, full_again: bool, rounds: int, pairs: int = 3) -> list[tuple]:
    """A store of ``size`` bundles: its first audit, then ``rounds`` times ``new`` bundles and an
    incremental audit (median time; objects read counted)."""
    uri = str(folder / f"store-{size}")
    store = CountingStore(Path(uri))
    register_source(store, SourceRecord(name="raw", digest=_digest("raw"), license="CC0-1.0", issuer="bench"), default_signing_key())
    make_bundles(uri, 0, size, workers)
    settings = Settings.from_env(store=uri)
    load = os.getloadavg()[0]
    first, t_first, c_first = _timed(lambda: run_audit(store, settings, full=True, report_dir=folder / f"r{size}-full", progress=False, workers=workers))
    assert first.clean, [f.what for f in first.errors[:5]]
    timings, listings, reads = [], [], set()
    for i in range(rounds):
        make_bundles(uri, size + i * new, size + (i + 1) * new, workers)
        listings.append(_list_new(store, new))
        store.reads = store.listings = store.listed = store.stats = 0
        inc, t_inc, c_inc = _timed(lambda: run_audit(store, settings, report_dir=folder / f"r{size}-inc{i}", progress=False, workers=workers))
        assert inc.clean and inc.bundles_examined == new, (inc.bundles_examined, [f.what for f in inc.errors[:5]])
        timings.append((t_inc, c_inc))
        memory = memory_path(store.uri).stat().st_size
        pins = json.loads(memory_path(store.uri).read_text())["inventory"]
        kept = sum((Path(uri) / p["key"]).stat().st_size for p in pins)
        reads.add(f"{store.reads} reads, {store.listings} listings ({store.listed:,} keys listed, {store.stats:,} stat'ed), "
                  f"memory {memory / 1e3:.1f} kB + inventory {len(pins)} object(s) {kept / 1e6:.1f} MB")
    t_inc, c_inc = statistics.median(t for t, _ in timings), statistics.median(c for _, c in timings)
    listing = statistics.median(listings)
    rows = [(size, "full audit (first: logs every bundle)", size, t_first, c_first, "", load),
            (size, f"incremental audit after {new} new bundles (median of {rounds})", new, t_inc, c_inc, " / ".join(sorted(reads)), load),
            (size, f"list and read {new} new index entries from a cursor (median)", new, listing, listing, "", load)]
    if full_again:
        rows += _re_audits(store, settings, folder, size + rounds * new, workers, pairs)
    return rows


def _re_audits(store: LocalStore, settings: Settings, folder: Path, bundles: int, workers: int, pairs: int) -> list[tuple]:
    """The full re-audit (log already written) on one worker and on ``workers``, alternating ``pairs``
    times so that drift in the machine's speed moves both: medians, and the median of the pairs' ratios."""
    times: dict[int, list[tuple[float, float]]] = {1: [], workers: []}
    load = os.getloadavg()[0]
    for i in range(pairs):
        for n in ((1, workers) if i % 2 == 0 else (workers, 1)):
            again, wall, cpu = _timed(lambda: run_audit(store, settings, full=True, report_dir=folder / f"re-{n}-{i}",
                                                         progress=False, workers=n))
            assert again.clean
            times[n].append((wall, cpu))
    one, many = (statistics.median(w for w, _ in times[n]) for n in (1, workers))
    paired = statistics.median(a[0] / b[0] for a, b in zip(times[1], times[workers]))
    note = f"{one / many:.2f}x on the medians, {paired:.2f}x as the median of {pairs} side-by-side pairs"
    return [(bundles, f"full re-audit (log already written), 1 worker, median of {pairs}", bundles, one,
             statistics.median(c for _, c in times[1]), "", load),
            (bundles, f"full re-audit (log already written), {workers} workers, median of {pairs}", bundles, many,
             statistics.median(c for _, c in times[workers]), note, load)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000", help="store sizes (bundles) to audit, comma-separated")
    parser.add_argument("--new", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3, help="incremental audits per store size (each after --new bundles)")
    parser.add_argument("--store", default=None, help="folder for the stores (default: a temporary folder, removed afterwards)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--pairs", type=int, default=3, help="full re-audits of the largest store on 1 and on --workers workers, alternating")
    parser.add_argument("--out", default=None, help=OUT_HELP)
    args = parser.parse_args()
    tmp = None if args.store else tempfile.mkdtemp(prefix="tdprov-bench-")
    folder = Path(args.store or tmp)
    os.environ.setdefault("TDPROV_HOME", str(folder / "home"))
    sizes = [int(x) for x in args.sizes.split(",") if x]
    try:
        rows = [row for size in sizes for row in audit_size(folder, size, args.new, args.workers, size == max(sizes), args.rounds, args.pairs)]
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    table = ["| store (bundles) | audit | bundles examined | wall s | CPU s (all processes) | objects read | load |", "|---:|---|---:|---:|---:|---|---:|"]
    table += [f"| {size:,} | {name} | {n} | {sec:.3f} | {cpu:.3f} | {reads} | {load:.1f} |" for size, name, n, sec, cpu, reads, load in rows]
    text = (f"Local store, {machine()}, {args.workers} worker processes; "
            "load = 1-minute load average when the store's audits started.\n\n" + "\n".join(table) + "\n")
    return report(args.out, text, above=f"`python benchmarks/bench_audit.py --sizes {args.sizes} --new {args.new} "
                  f"--rounds {args.rounds} --workers {args.workers} --pairs {args.pairs}`\n\n")


if __name__ == "__main__":
    sys.exit(main())
