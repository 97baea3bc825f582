"""Sealing a run: the CPU of building its bundle (ordering, checking and folding its events, its PROV, manifest and
signature), for a long run and for a run of two events.

    python benchmarks/bench_seal.py [--events 20000] [--pad 100] [--runs 3] [--baseline DIR] [--out FILE]

The long run is a START, ``--events`` RUNNING events of one time (each with a progress facet of ``--pad`` characters)
and a COMPLETE; the short run a START and a COMPLETE (an input and an output with their versions, as a step's). Each is built as the transport seals a run (``build_bundle``,
``sealed=True``) with a fixed sealing time and store id, in a fresh process: the long run once, timed; the short one
500 times, nine times over, the best of the nine per build. The BLAKE3 digests of the bundles' files and manifests are
compared between the trees (they must be the same bytes).

``--baseline DIR``: a source tree of tdprov to compare with (``git worktree add /tmp/before <commit>``); its processes
alternate with this tree's (baseline, this, baseline, ...).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from harness import OUT_HELP, figures, machine, report, tree_env  # noqa: E402

_CHILD = """
import json, sys, time, timeit, uuid
from datetime import datetime, timezone
from prov_common.bundle.build import build_bundle
from prov_common.hashing.raw import blake3_digest
from prov_common.signing import SigningKey

count, pad = int(sys.argv[1]), int(sys.argv[2])
run_id, key, at = "0190a0b0-0000-7000-8000-000000000001", SigningKey.generate(), datetime(2026, 3, 2, tzinfo=timezone.utc)
base = {"producer": "https://bench", "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": run_id, "facets": {}}, "job": {"namespace": "bench", "name": "seal", "facets": {}}}
def dataset(name):
    return {"namespace": "s3://lake", "name": name, "facets": {"version": {"_producer": "https://bench",
            "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json",
            "datasetVersion": "blake3:" + name[0] * 64}}}


start = dict(base, eventType="START", eventTime="2026-03-01T10:00:00Z", inputs=[dataset("a/in")], outputs=[])
complete = dict(base, eventType="COMPLETE", eventTime="2026-03-01T10:00:05Z", inputs=[dataset("a/in")],
                outputs=[dataset("b/out")])
running = [dict(start, eventType="RUNNING", run={"runId": run_id, "facets": {"progress": {
    "_producer": "p", "_schemaURL": "https://p/s.json#/$defs/P", "step": i, "note": "n" * pad}}}) for i in range(count)]


def seal(events):
    return build_bundle(events, None, key, sealed_at=at, store_id="bench", sealed=True)


def digests(bundle):
    return sorted([blake3_digest(bundle.manifest_bytes)] + [f"{p} {blake3_digest(bytes(d))}" for p, d in bundle.files.items()])


short = seal([start, complete])
best = min(timeit.repeat(lambda: seal([start, complete]), number=500, repeat=9, timer=time.process_time)) / 500
began = time.process_time()
long = seal([start, *running, complete])
print(json.dumps({"long": time.process_time() - began, "short": best, "digests": digests(long) + digests(short)}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="RUNNING events of the long run (default 20000)")
    parser.add_argument("--pad", type=int, default=100, help="characters of each RUNNING event's facet (default 100)")
    parser.add_argument("--runs", type=int, default=3, help="processes of each tree (default 3)")
    parser.add_argument("--baseline", type=Path, default=None, help="a source tree of tdprov to compare with")
    parser.add_argument("--out", type=Path, default=None, help=OUT_HELP)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="tdprov-bench-seal-") as tmp:
        trees = {"this tree": tree_env(Path(__file__).resolve().parent.parent, Path(tmp) / "shim")}
        if args.baseline is not None:
            trees = {"baseline": tree_env(args.baseline, Path(tmp) / "shim"), **trees}
        found: dict[str, list[dict]] = {name: [] for name in trees}
        for _ in range(args.runs):
            for name, env in trees.items():
                done = subprocess.run([sys.executable, "-c", _CHILD, str(args.events), str(args.pad)], env=env,
                                      capture_output=True, text=True, check=True)
                found[name].append(json.loads(done.stdout))
    if len({json.dumps(r["digests"]) for runs in found.values() for r in runs}) != 1:
        raise SystemExit("the trees sealed different bytes")
    rows = [f"| {name} | {figures([r['long'] for r in runs])} | {figures([r['short'] * 1000 for r in runs], ' ms', 3)} |"
            for name, runs in found.items()]
    text = (f"Sealing a run ({machine()}, load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after): "
            f"`python benchmarks/bench_seal.py --events {args.events} --pad {args.pad} --runs {args.runs}"
            f"{' --baseline DIR' if args.baseline else ''}`\n\n"
            f"| code | CPU of a run of {args.events + 2:,} events, median of {args.runs} (min-max) "
            "| CPU of a run of 2 events, best of 9 x 500 per process |\n|---|---:|---:|\n" + "\n".join(rows) + "\n\n"
            "The bundles' files and manifests had the same BLAKE3 digests in every process (checked).\n")
    return report(args.out, text)


if __name__ == "__main__":
    raise SystemExit(main())
