"""``tdprov hash``: canonical digests of tables and files, and diffs between two of them."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from prov_common.cli._terminal import one_line
from prov_common.cli._common import add_verb, check_writable_file, worker_count
from prov_common.cli._output import emit_json_line, output_file
from prov_common.errors import BadInputError
from prov_common.hashing import ALGORITHM, FileDigest, ShardedDigest, TableDigest  # no pandas: loaded when run

Digest = TableDigest | FileDigest | ShardedDigest

EXAMPLE = """tdprov hash data/train.parquet data/labels.csv README.md
  tdprov hash data/shards/ s3://corpus/v3/ 'data/part-*.parquet'   # sharded datasets: one digest each
  tdprov hash --diff s3://corpus/v2/ s3://corpus/v3/  # which shards changed, were added or removed
  tdprov hash --scheduler tcp://dask:8786 s3://corpus/v3/  # hash the shards on a Dask cluster
  tdprov hash --json --granularity block data/train.parquet
  tdprov hash --diff old.parquet new.parquet        # exit 1 and the changed columns/rows if they differ
  tdprov hash --granularity row --row-digests train.rows.parquet data/train.parquet"""

_ORDER = ("table", "column", "block", "row")


def register(subparsers: Any) -> None:
    parser = add_verb(
        subparsers,
        "hash",
        help="canonical content digest of tables (Parquet, CSV, JSON lines) and files",
        description=(
            "Print '<digest>  <path>' for every PATH, like sha256sum. Parquet, CSV and JSON-lines files get "
            "the canonical table digest (the same as for the DataFrame they hold, see docs/content-hash.md); "
            "any other file the BLAKE3 digest of its bytes. A folder, an s3://bucket/prefix/ or a quoted glob is "
            "one sharded dataset: its digest is a Merkle root over its shards' digests, sorted by path; shards "
            "whose size and modification time (ETag on S3) are unchanged reuse the digest recorded last time.\n"
            "Exit 0 on success, 1 when --diff finds a difference, 2 on unreadable or bad input (the other "
            "PATHs are still hashed and printed)."
        ),
        example=EXAMPLE,
    )
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="files, URIs, folders, s3://bucket/prefix/ or quoted globs to hash; '-' hashes the bytes of stdin")
    parser.add_argument("--json", action="store_true", help="one JSON object per path (digest, columns, rows, bytes)")
    parser.add_argument("--granularity", choices=_ORDER, default=None,
                        help="detail kept: table, column (default), block, row")
    parser.add_argument("--diff", action="store_true", help="compare exactly two PATHs; exit 1 if they differ")
    parser.add_argument("--bytes", dest="as_bytes", action="store_true",
                        help="hash the bytes of every file, even of tables")
    parser.add_argument("--csv-dtype", action="append", default=[], metavar="COLUMN=DTYPE",
                        help="declare a CSV column's pandas dtype (repeatable), e.g. --csv-dtype id=Int64")
    parser.add_argument("--row-digests", metavar="OUT.parquet",
                        help="write the row-digest sidecar of the (single) table PATH here; implies --granularity row")
    parser.add_argument("--no-cache", dest="cache", action="store_false",
                        help="sharded datasets: read every shard, ignoring (and not recording) digests recorded before")
    parser.add_argument("--scheduler", metavar="ADDRESS", default=None,
                        help="sharded datasets: where shards are hashed: tcp://host:8786 (a Dask scheduler), 'local' "
                             "(a Dask LocalCluster) or 'none' (this process); default $TDPROV_DASK_SCHEDULER, else "
                             "a LocalCluster for 64 shards and 512 MiB or more")
    parser.add_argument("--workers", type=worker_count, default=None, metavar="N",
                        help="worker processes of a LocalCluster (default: one per CPU)")
    parser.set_defaults(func=run)


def _csv_dtypes(specs: list[str]) -> dict[str, str] | None:
    out = {}
    for spec in specs:
        col, sep, dtype = spec.partition("=")
        if not sep or not col or not dtype:
            raise BadInputError(f"--csv-dtype {spec!r} is not COLUMN=DTYPE.", fix="e.g. --csv-dtype id=Int64.")
        out[col] = _pandas_dtype(dtype, spec)
    return out or None


def _pandas_dtype(dtype: str, spec: str) -> str:
    import pandas as pd

    try:
        pd.api.types.pandas_dtype(dtype)
    except (TypeError, ValueError):
        raise BadInputError(f"--csv-dtype {spec!r}: {dtype!r} is not a pandas dtype.",
                            fix="use one such as Int64, float64, string, boolean, category or datetime64[ns]") from None
    return dtype


def _sharded_record(path: str, d: ShardedDigest) -> dict[str, Any]:
    return {"path": path, "kind": d.kind, "digest": d.digest, "algorithm": ALGORITHM, "bytes": d.bytes,
            "rows": d.rows, "shardCount": len(d.shards), "shardsRead": len(d.read), "engine": d.engine,
            "shards": [s.to_dict() for s in d.shards]}


def _record(path: str, d: TableDigest | FileDigest | ShardedDigest) -> dict[str, Any]:
    from prov_common.hashing.targets import local_target

    if isinstance(d, ShardedDigest):
        return _sharded_record(path, d)
    rec: dict[str, Any] = {"path": path, "kind": d.kind, "digest": d.digest, "algorithm": ALGORITHM, "bytes": d.bytes}
    if os.path.isfile(local := local_target(path)):
        rec["fileBytes"] = os.path.getsize(local)
    if isinstance(d, TableDigest):
        rec.update(rows=d.rows, granularity=d.granularity)
        if d.granularity != "table":
            rec.update(columns=d.column_digests(), columnTypes={c.name: c.logical_type for c in d.columns})
        if d.blocks is not None:
            rec["blockRows"] = d.block_rows
            rec["blocks"] = {k: list(v) for k, v in d.blocks.items()}
    return rec


def _diff(args: argparse.Namespace, digests: list[Digest]) -> int:
    from prov_common.hashing import diff_digests, diff_shards

    a, b = digests
    if isinstance(a, ShardedDigest) and isinstance(b, ShardedDigest):
        sd = diff_shards(a, b)
        lines, same = sd.summary(), sd.same
        doc: dict[str, Any] = {"same": same, "a": args.paths[0], "b": args.paths[1],
                               "changedShards": list(sd.changed), "addedShards": list(sd.added), "removedShards": list(sd.removed),
                               "changedColumns": {k: list(v) for k, v in sd.changed_columns.items()}}
    elif isinstance(a, TableDigest) and isinstance(b, TableDigest):
        diff = diff_digests(a, b)
        lines, same = diff.summary(), diff.same
        doc = {"same": same, "a": args.paths[0], "b": args.paths[1], "rowsA": diff.rows_a,
               "rowsB": diff.rows_b, "changedColumns": list(diff.changed_columns),
               "addedColumns": list(diff.added_columns), "removedColumns": list(diff.removed_columns),
               "typeChanges": diff.type_changes, "orderChanged": diff.order_changed,
               "changedRowRanges": [list(r) for r in diff.changed_row_ranges],
               "changedRowCount": diff.changed_row_count, "rowDetail": diff.row_detail}
    else:
        same = a.digest == b.digest and a.kind == b.kind
        lines = [] if same else [f"{a.kind} {a.digest} != {b.kind} {b.digest}"]
        doc = {"same": same, "a": args.paths[0], "b": args.paths[1]}
    if args.json:
        emit_json_line(doc)
    elif same:
        print(f"same  {a.digest}")
    else:
        print(one_line(f"differ  {args.paths[0]}  {args.paths[1]}"))
        for line in lines:
            print(f"  {line}")
    return 0 if same else 1


def _hash_one(args: argparse.Namespace, path: str, granularity: str, dtypes: dict[str, str] | None) -> Digest:
    from prov_common.hashing import hash_path, hash_shards, hash_stream, is_sharded
    from prov_common.hashing.files import UnknownCsvColumnError
    from prov_common.hashing.targets import local_target
    from prov_common.progress import on_terminal

    if path == "-":
        return hash_stream(sys.stdin.buffer)
    path = local_target(path)  # a file: URI is its path, as the recorders take it (a folder is its shards)
    sharded = is_sharded(path)
    if sharded and args.row_digests:
        raise BadInputError(f"{path!r} is a sharded dataset; --row-digests writes the sidecar of one table.",
                            fix="pass one shard, e.g. tdprov hash --row-digests OUT.parquet DIR/part-0.parquet.")
    try:
        if sharded:
            with on_terminal():
                return hash_shards(path, as_bytes=args.as_bytes, csv_dtypes=dtypes, cache=args.cache,
                                   scheduler=args.scheduler, workers=args.workers)
        return hash_path(path, granularity=granularity, csv_dtypes=dtypes, as_bytes=args.as_bytes)  # type: ignore[arg-type]
    except UnknownCsvColumnError as exc:  # the library names its argument; this user gave the option
        raise exc.named("--csv-dtype") from None


def run(args: argparse.Namespace) -> int:
    if args.diff and len(args.paths) != 2:
        raise BadInputError(f"--diff needs exactly two paths, got {len(args.paths)}.", fix="tdprov hash --diff A B")
    if args.diff and args.paths == ["-", "-"]:  # standard input is read once: the second would compare empty input
        raise BadInputError("--diff - - compares standard input with itself, which is read once.",
                            fix="write one of the two to a file: tdprov hash --diff - FILE")
    if args.row_digests and len(args.paths) != 1:
        raise BadInputError("--row-digests writes the sidecar of one table.", fix="pass a single PATH.")
    granularity = args.granularity or "column"
    if args.row_digests:
        granularity = "row"
    elif args.diff and _ORDER.index(granularity) < _ORDER.index("block"):
        granularity = "block"  # block digests give the changed row ranges
    dtypes = _csv_dtypes(args.csv_dtype)
    if args.row_digests:
        args.row_digests = check_writable_file(args.row_digests, "--row-digests file")
    if args.diff:
        return _diff(args, [_hash_one(args, p, granularity, dtypes) for p in args.paths])
    failed = 0
    for path in args.paths:  # like sha256sum: each digest as it is made; a PATH that fails is named, and the rest go on
        try:
            d = _hash_one(args, path, granularity, dtypes)
        except (KeyboardInterrupt, BrokenPipeError):
            raise
        except Exception as exc:  # noqa: BLE001 - reported as main() reports it, then the next PATH
            if len(args.paths) == 1:
                raise
            failed = max(failed, _report(path, exc))
            continue
        _print(args, path, d)
    return failed


def _report(path: str, exc: Exception) -> int:
    """Say why ``path`` failed as ``main`` says a failure, in one line naming it; its exit code."""
    from prov_common.cli import _fail
    from prov_common.refusals import as_refusal

    error = as_refusal(exc)
    _fail("hash", error if path in error.what else BadInputError(f"{path}: {error.what}", error.fix))
    return error.exit_code


def _print(args: argparse.Namespace, path: str, d: Digest) -> None:
    """Print the digest of ``path`` (and write its row digests when asked)."""
    from prov_common.hashing import write_row_digests

    if args.row_digests:
        if not isinstance(d, TableDigest):
            raise BadInputError(f"{path!r} is not a table, so it has no row digests.",
                                fix="pass a .parquet, .csv, .jsonl or .ndjson file.")
        with output_file(args.row_digests):
            write_row_digests(d, args.row_digests)
    if args.json:
        rec = _record(path, d)
        if args.row_digests:
            rec["rowDigestsFile"] = args.row_digests
        emit_json_line(rec)
    else:
        print(f"{d.digest}  {one_line(str(path))}")
    sys.stdout.flush()
