"""Audit benchmark: full audit of N local bundles, then an incremental audit after M new ones.

    python benchmarks/bench_audit.py --bundles 10000 --new 100 [--store DIR] [--out benchmarks/results/audit.md]

Bundles are made by the real bundle builder (events -> PROV -> manifest -> signed statement) as a
chain of prepare/train runs over a registered source, and written to a local store. Targets: full
audit of 10,000 bundles <= 60 s, incremental audit after 100 new bundles <= 5 s.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
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
from prov_common.bundle import build_bundle
from prov_common.bundle.storage import deliver_bundle
from prov_common.config import Settings
from prov_common.signing import default_signing_key
from prov_common.sources import SourceRecord, register_source
from prov_common.store import open_store

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundles", type=int, default=10_000)
    parser.add_argument("--new", type=int, default=100)
    parser.add_argument("--store", default=None, help="store folder (default: a temporary folder, removed afterwards)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--out", default=None, help="write a markdown table here")
    args = parser.parse_args()
    tmp = None if args.store else tempfile.mkdtemp(prefix="tdprov-bench-")
    root = Path(args.store or tmp) / "store"
    os.environ.setdefault("TDPROV_HOME", str(Path(args.store or tmp) / "home"))
    try:
        uri = str(root)
        store = open_store(uri)
        key = default_signing_key()
        register_source(store, SourceRecord(name="raw", digest=_digest("raw"), license="CC0-1.0", issuer="bench"), key)
        made = make_bundles(uri, 0, args.bundles, args.workers)
        print(f"wrote {args.bundles} bundles in {made:.1f} s", file=sys.stderr)
        settings = Settings.from_env(store=uri)
        load = os.getloadavg()[0]
        full, t_full, c_full = _timed(lambda: run_audit(store, settings, full=True, report_dir=Path(tmp or args.store) / "report-full", progress=False))
        assert full.clean, [f.what for f in full.errors[:5]]
        make_bundles(uri, args.bundles, args.bundles + args.new, args.workers)
        inc, t_inc, c_inc = _timed(lambda: run_audit(store, settings, report_dir=Path(tmp or args.store) / "report-inc", progress=False))
        assert inc.clean and inc.bundles_examined == args.new, (inc.bundles_examined, [f.what for f in inc.errors[:5]])
        full2, t_full2, c_full2 = _timed(lambda: run_audit(store, settings, full=True, report_dir=Path(tmp or args.store) / "report-full2", progress=False))
        rows = [
            ("full audit (first: logs every bundle)", args.bundles, t_full, c_full, "<= 60 s"),
            (f"incremental audit after {args.new} new bundles", args.new, t_inc, c_inc, "<= 5 s"),
            ("full re-audit (log already written)", args.bundles + args.new, t_full2, c_full2, ""),
        ]
        table = ["| audit | bundles examined | wall s | CPU s (all processes) | target (wall) |", "|---|---:|---:|---:|---|"]
        table += [f"| {name} | {n} | {sec:.1f} | {cpu:.1f} | {target} |" for name, n, sec, cpu, target in rows]
        cpu = platform.processor() or platform.machine()
        text = (f"Local store, {os.cpu_count()} CPU ({cpu}), Python {platform.python_version()}, {args.workers} worker processes; "
                f"1-minute load average {load:.1f} when the audits started; log size after: "
                f"{full2.checkpoint.checkpoint.size if full2.checkpoint else 0}.\n\n" + "\n".join(table) + "\n")
        print(text)
        if args.out:
            Path(args.out).write_text("# Audit benchmark\n\n`python benchmarks/bench_audit.py --bundles "
                                      f"{args.bundles} --new {args.new}`\n\n" + text)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
