"""``tdprov snapshot``: keep a content-addressed copy of a dataset file in the store, for ``tdprov checkout``."""
from __future__ import annotations

import argparse
from typing import Any

from prov_common.cli._common import add_store_option, add_verb
from prov_common.cli._output import emit_json_line
from prov_common.errors import BadInputError


def register(subparsers: Any) -> None:
    parser = add_verb(
        subparsers,
        "snapshot",
        help="keep a content-addressed copy of dataset files in the store (restored by 'tdprov checkout')",
        description=(
            "Store the bytes of each PATH (a file, file:// or s3:// URI) under its digest in the store, once: "
            "a table (.parquet, .csv, .jsonl) is indexed by its canonical table digest, the version that "
            "lineage records. A folder, an s3://bucket/prefix/ or a quoted glob is one sharded version: each "
            "shard is stored once (shards unchanged since an earlier version are not stored again), indexed "
            "under the shard-tree digest that 'tdprov hash' prints; 'tdprov checkout' restores the folder. "
            "Prints one JSON line per PATH with the digest. With --dataset, also checks that "
            "the digest is a version a recorded run wrote or read as that dataset (its name or URI as 'tdprov "
            "runs' shows it; a Dagster asset key once 'tdprov audit' has catalogued the run).\n"
            "Exit 0 on success, 1 if a PATH is not a recorded version of --dataset (it is stored anyway) or a run "
            "was left out of the check, its bundle not verifying (named on stderr, as 'tdprov lineage' does), "
            "2 on bad input (also a --dataset no recorded run names: nothing is stored then)."
        ),
        example="tdprov snapshot data/train.parquet --dataset train\n  tdprov snapshot s3://corpus/v3/",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="file, file:// or s3:// URI, folder, s3://bucket/prefix/ or glob of a dataset version")
    parser.add_argument("--dataset", default=None, help="the dataset these files are versions of (checked against lineage)")
    add_store_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from prov_common.cli._versions import names_version, recorded_runs
    from prov_common.config import Settings
    from prov_common.store import open_store

    settings = Settings.from_env(store=args.store)
    store = open_store(settings=settings)
    if args.dataset is None:
        for path in args.paths:
            emit_json_line({"path": path, "digest": _kept(store, path)})
        return 0
    code = 0
    with recorded_runs(store, settings, args.dataset, verb=args.verb) as recorded:
        if recorded.index().newest_naming(args.dataset) is None:  # a typo must not read as "this file is not that version"
            raise BadInputError(f"no recorded run names a dataset {args.dataset!r}.",
                                fix="give --dataset as 'tdprov runs' shows it (a path, URI, namespace/name or Dagster asset key)")
        for path in args.paths:
            digest = _kept(store, path)
            recorded.read_all(lambda index: names_version(index, args.dataset, digest))  # the runs it lists, verified
            runs = names_version(recorded.index(), args.dataset, digest)
            emit_json_line({"path": path, "digest": digest, "dataset": args.dataset, "recorded": bool(runs), "runs": runs})
            code = code or (0 if runs else 1)
    return 1 if recorded.left_out else code  # a run left out is a finding, as in 'tdprov lineage' and 'record'


def _kept(store: Any, path: str) -> str:
    """``snapshot_dataset``, with progress on a terminal (a sharded dataset is hashed and stored shard by shard)."""
    from prov_common.hashing.bytes_fix import for_verb
    from prov_common.progress import on_terminal
    from prov_common.store.shard_snapshots import snapshot_dataset

    with on_terminal():
        try:
            return snapshot_dataset(store, path)
        except BadInputError as refused:  # a snapshot keeps a table by its table digest: it has no way to take its bytes
            raise for_verb(refused, None) from None
