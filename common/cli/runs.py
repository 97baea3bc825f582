"""``tdprov runs``: the runs whose bundles are in the store, newest first."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from tqdm import tqdm

from prov_common.bundle import BundleSummary, recent_bundles
from prov_common.cli._common import add_store_option, add_verb
from prov_common.cli._output import emit_json
from prov_common.config import Settings
from prov_common.errors import BadInputError
from prov_common.store import open_store


def register(subparsers: Any) -> None:
    parser = add_verb(
        subparsers,
        "runs",
        help="list recorded runs, newest first",
        description="List the runs whose lineage bundles are in the store, newest first: run id, job, state, time, outputs.",
        example="tdprov runs --limit 5 --store s3://ml-lineage/prod",
    )
    parser.add_argument("--limit", type=int, default=20, help="show at most this many runs (default 20; 0 for all)")
    parser.add_argument("--json", action="store_true", help="print JSON (one array of run summaries)")
    add_store_option(parser)
    parser.set_defaults(func=run)


def row(summary: BundleSummary) -> list[str]:
    outputs = ", ".join(f"{o.uri}@{(o.version or '-')[:19]}" for o in summary.outputs) or "-"
    return [summary.run_id, f"{summary.job_namespace}/{summary.job_name}", summary.state, summary.ended_at or summary.sealed_at, outputs]


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = ["  ".join([*(c.ljust(w) for c, w in zip(r[:-1], widths)), r[-1]]) for r in [header, *rows]]
    return "\n".join(line.rstrip() for line in lines)


def run(args: argparse.Namespace) -> int:
    if args.limit < 0:
        raise BadInputError(f"--limit {args.limit} is negative.", fix="give a positive number, or 0 for all runs")
    store = open_store(settings=Settings.from_env(store=args.store))
    listing = recent_bundles(store, limit=args.limit or None)
    summaries = list(tqdm(listing, desc="reading the index", unit="run", file=sys.stderr, disable=None, leave=False))
    if args.json:
        emit_json([s.to_dict() for s in summaries], sort_keys=True)
    elif not summaries:
        print(f"no bundles in {store.uri}", file=sys.stderr)
    else:
        print(table([row(s) for s in summaries], ["RUN ID", "JOB", "STATE", "TIME", "OUTPUTS"]))
    return 0
