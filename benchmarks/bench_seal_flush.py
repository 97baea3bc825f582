"""Sealing a row set staged by another process (``tdprov store seal``), and flushing its spool entry: peak memory
and time of the process that does it.

    python benchmarks/bench_seal_flush.py [--rows 10000000] [--runs 3] [--baseline DIR] [--out FILE]

Builds the row set of a table of ``--rows`` rows (int64 and float64 columns, hashed at row granularity: 8.75 bytes
a row, 87.5 MB for 10 M rows) and writes it to a file. Then, ``--runs`` times:

- a process maps that file read-only and stages its view (a mapped file's view, as ``row_set_of`` gives a sharded
  version's row set) as the row set of a run in a local store (``ProvenanceTransport``: its START and the
  attachment, no terminal event, as a writer stopped before it sealed); another process seals the run with
  ``tdprov store seal --store DIR RUN_ID``;
- a process writes the same view into a spool entry for a local store (``spool.write_entry``, as the outbox does
  when the store is down); another process delivers it with ``tdprov flush --spool DIR``.

Each command's process is timed from its start to its exit, and its peak resident size is taken from the kernel
(``VmHWM``, read as it ends), as is that of a process that only imports the modules the same command had loaded
by its end (the command's start-up): the figure is the difference. Every sealed bundle holds the row set's bytes
and verifies; every flush delivers them. The load average (``uptime``) is taken before and after.

``--baseline DIR``: a source tree of tdprov to compare with (``git worktree add /tmp/before <commit>``); its runs
alternate with this tree's (baseline, this, baseline, ...).
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa

from bench_s3_hash import figures, tree_env
from harness import OUT_HELP, machine, report

_PEAK = """
def peak_mb():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmHWM:"))
"""
# the ``tdprov`` command (the console script's code) which, as it ends, writes to the file $BENCH_END the peak
# resident size of its process (VmHWM) and the modules it loaded (it ends with os._exit, so that no native
# thread outlives the interpreter: no atexit hook would run)
_TDPROV = _PEAK + """
import os, sys
out, leave = os.environ.pop("BENCH_END"), os._exit
def _exit(code):
    with open(out, "w") as f:
        f.write("\\n".join([str(peak_mb()), *sorted(sys.modules)]))
    leave(code)
os._exit = _exit
from prov_common.cli import run
sys.argv[0] = "tdprov"
run()
"""
# a process that only imports the modules a command loaded (its start-up, without its work): its peak
_IMPORTS = _PEAK + """
import importlib, sys
for name in open(sys.argv[1]).read().split()[1:]:
    if name != "__main__":
        try:
            importlib.import_module(name)
        except Exception:  # a module only its parent's import can make, or one of another platform
            pass
print(peak_mb())
"""
_MAPPED = """
import mmap, sys
with open(sys.argv[2], "rb") as f:
    view = memoryview(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)).toreadonly()
"""
# stage the row set as a run's attachment: START and the row set, no terminal event (its writer stopped)
_STAGE = _MAPPED + """
from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport
store, path, run_id = sys.argv[1], sys.argv[3], sys.argv[4]
transport = ProvenanceTransport(ProvenanceConfig(store=store, strict=True))
transport.emit({"eventType": "START", "eventTime": "2026-01-01T00:00:00Z",
                "producer": "https://github.com/tdprov/tdprov/benchmarks",
                "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
                "run": {"runId": run_id, "facets": {}}, "job": {"namespace": "bench", "name": "seal_flush", "facets": {}},
                "inputs": [], "outputs": [{"namespace": "file", "name": "corpus", "facets": {}}]})
transport.attach(run_id, path, view)
transport.close()
"""
# write the row set into a spool entry for the store, as the outbox does when the store is down
_SPOOL = _MAPPED + """
from pathlib import Path
from prov_common.store import open_store, spool
store, key, folder = sys.argv[1], sys.argv[3], Path(sys.argv[4])
spool.write_entry(folder, spool.SpoolEntry(open_store(store).uri, ((key, view),)))
"""


def row_set_file(rows: int, folder: Path) -> tuple[Path, str]:
    """The row set of a table of ``rows`` rows, written to a file of ``folder``; the file and the row set's path."""
    from prov_common.hashing import hash_table
    from prov_common.rowset import row_set_of

    rng = np.random.default_rng(7)
    table = pa.table({"id": np.arange(rows, dtype=np.int64), "x": rng.normal(size=rows)})
    row_set = row_set_of(hash_table(table, granularity="row"), "file", "corpus")
    out = folder / "corpus.rowset"
    out.write_bytes(row_set.data)
    return out, row_set.path


def run_code(code: str, args: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Run ``code`` with ``args`` in a fresh process: its wall time from start to exit and its output; a failure
    raises naming it."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f"{' '.join(args[:3])} exited with status {done.returncode}: {done.stderr.strip()}")
    return seconds, done.stdout


def tdprov(args: list[str], env: dict[str, str], work: Path) -> tuple[float, float, float, str]:
    """Run ``tdprov ARGS`` in a fresh process, then a process that only imports the modules it loaded: its peak
    resident size above that of the imports (MB), its wall time, its peak, and its output."""
    end = work / "end"
    seconds, out = run_code(_TDPROV, args, {**env, "BENCH_END": str(end)})
    peak = float(end.read_text().split("\n", 1)[0])
    imports = float(run_code(_IMPORTS, [str(end)], env)[1])
    return peak - imports, seconds, peak, out


def one_run(env: dict[str, str], work: Path, rows: Path, path: str) -> dict[str, tuple[float, float, float]]:
    """Stage and seal, spool and flush the row set once with the tree of ``env``: for each command, its peak
    resident size above its imports' (MB), its wall time and its peak."""
    from prov_common.bundle import layout, read_bundle, verify_bundle
    from prov_common.signing import trust_from_settings
    from prov_common.store import open_store

    data = rows.read_bytes()
    store, spool_dir = work / f"store-{uuid.uuid4().hex[:8]}", work / "spool"
    run_id = str(uuid.uuid4())
    run_code(_STAGE, [str(store), str(rows), path, run_id], env)
    *seal, out = tdprov(["store", "seal", "--store", str(store), run_id], env, work)
    assert out.startswith("written"), f"tdprov store seal said {out!r}"
    sealed = open_store(store)
    assert read_bundle(sealed, run_id).files[path] == data, "the sealed bundle does not hold the row set"
    assert verify_bundle(sealed, run_id, trust_from_settings()).ok
    key = layout.bundle_key(run_id, path)
    run_code(_SPOOL, [str(store), str(rows), key, str(spool_dir)], env)
    *flush, out = tdprov(["flush", "--spool", str(spool_dir)], env, work)
    assert out.startswith("delivered 1 spooled entry"), f"tdprov flush said {out!r}"
    assert sealed.get(key) == data, "the flush did not deliver the row set"
    shutil.rmtree(store)
    return {"seal": tuple(seal), "flush": tuple(flush)}


def before(tree: Path) -> str:
    """The name of the baseline ``tree`` in the report: ``before (<its commit>)``, or ``before`` outside git."""
    done = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return f"before ({done.stdout.strip()})" if done.returncode == 0 else "before"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows of the table whose row set is sealed")
    parser.add_argument("--runs", type=int, default=3, help="seals and flushes by each tree (default 3)")
    parser.add_argument("--baseline", type=Path, default=None, help="a source tree of tdprov to compare with")
    parser.add_argument("--out", default=None, help=OUT_HELP)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tdprov-bench-seal-flush-") as tmp:
        work = Path(tmp)
        rows, path = row_set_file(args.rows, work)
        size = rows.stat().st_size
        here = Path(__file__).resolve().parent.parent
        trees = {"this tree": here} if args.baseline is None else {before(args.baseline): args.baseline, "this tree": here}
        envs = {}
        for name, tree in trees.items():
            home = work / f"home-{len(envs)}"  # each tree's own key, made by its first writer
            home.mkdir()
            envs[name] = {**tree_env(tree, work / "shim"), "TDPROV_HOME": str(home)}
        load_before = os.getloadavg()
        found: dict[str, list[dict]] = {name: [] for name in trees}
        for _ in range(args.runs):
            for name, env in envs.items():  # alternating, so a drift of the machine's speed reaches every tree alike
                os.environ["TDPROV_HOME"] = env["TDPROV_HOME"]
                found[name].append(one_run(env, work, rows, path))
                print(f"{name}: " + ", ".join(f"{step} +{mb:,.0f} MB, {seconds:.2f} s" for step, (mb, seconds, _)
                                              in found[name][-1].items()), file=sys.stderr, flush=True)
        load_after = os.getloadavg()
    steps = {"seal": "`tdprov store seal`, the row set staged by another process",
             "flush": "`tdprov flush` of a spool entry holding the row set"}
    lines = []
    for step, label in steps.items():
        for name, runs in found.items():
            lines.append(f"| {label} | {name} | {figures([r[step][0] for r in runs], ' MB', 0)} | "
                         f"{figures([r[step][1] for r in runs], ' s', 2)} | "
                         f"{statistics.median(r[step][2] for r in runs):,.0f} MB |")
    text = "\n".join([
        f"`python benchmarks/bench_seal_flush.py --rows {args.rows} --runs {args.runs}"
        + (" --baseline DIR" if args.baseline else "") + "`", "",
        f"{machine()}; load average {load_before[0]:.1f} before, {load_after[0]:.1f} after; a row set of "
        f"{args.rows:,} rows, {size / 1e6:,.1f} MB ({size / 2**20:,.1f} MiB), mapped; medians of {args.runs} "
        "(min-max), each command in a fresh process" + (", alternating between the trees." if args.baseline else "."), "",
        "| step | code | peak resident size above the command's imports | wall time of the command | peak resident size |",
        "|---|---|---:|---:|---:|", *lines, ""])
    return report(args.out, text)


if __name__ == "__main__":
    raise SystemExit(main())
