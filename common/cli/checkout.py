"""``tdprov checkout``: restore the exact bytes of a recorded dataset version from its snapshot."""
from __future__ import annotations

import argparse
from typing import Any

from prov_common.cli._common import add_store_option, add_verb
from prov_common.cli._versions import SOURCE_FORMS, add_version_argument


def register(subparsers: Any) -> None:
    parser = add_verb(
        subparsers,
        "checkout",
        help="restore a dataset version (file or table digest) from its snapshot in the store",
        description=(
            "Write the bytes that were snapshotted as DATASET|DIGEST to PATH. DATASET|DIGEST is a file digest, the "
            "table digest that lineage records for Parquet/CSV/JSON-lines datasets, or a dataset name "
            "(as 'tdprov runs' shows it: its newest recorded version), or a registered source version by its digest or "
            "its location, alone or with '@' and the digest, where no recorded run holds it, as 'tdprov lineage' names it. The bytes are "
            "verified before they are written: each file against its file digest, and a table (or the "
            "shards of a sharded version) re-hashed against the version's digest itself. PATH may be a folder (the file "
            "keeps its recorded name). A table is restored in the format it was snapshotted in (that of the "
            "first file of it snapshotted: CSV, Parquet or JSON lines); a PATH whose suffix names another "
            "format is refused. A sharded version (a folder or prefix of shards) is restored into the folder "
            "PATH, every shard at its path. Exit 0 on success, 1 if the stored bytes do not verify or a run was "
            "left out finding the version of a dataset name or short digest, its bundle not verifying, or a source "
            "record not verifying (the version is restored; each is named on stderr, as 'tdprov lineage' does), 2 if there "
            "is no snapshot of DATASET|DIGEST, PATH exists (use --force to replace it) or names another format, an "
            "object of the version is gone from the store, or the store stops answering. Nothing replaces a file "
            "until every file is read and verified: on any failure, PATH is left as it was."
        ),
        example="tdprov checkout blake3:9f2c...e1 -o data/train.parquet --force",
    )
    add_version_argument(parser, "digest", more="a digest that several datasets hold names its bytes, whichever dataset's; "
                                                + SOURCE_FORMS)
    parser.add_argument("-o", "--output", required=True, metavar="PATH", help="file (or folder) to write")
    parser.add_argument("--force", action="store_true",
                        help="replace PATH if it exists: a file, or a symbolic link itself (not what it leads to)")
    parser.add_argument("--no-verify-table", dest="verify_table", action="store_false",
                        help="do not re-hash a restored table (or the shards of a sharded version) against its digest: "
                             "trusts the unsigned snapshot index, which anyone who can write the store can edit; "
                             "only for data too large to hash twice")
    parser.add_argument("--verify-table", dest="verify_table", action="store_true",
                        help="the default (kept for older scripts)")
    add_store_option(parser)
    parser.set_defaults(func=run, verify_table=True)


def run(args: argparse.Namespace) -> int:
    from prov_common.progress import on_terminal
    from prov_common.store import open_store
    from prov_common.store.snapshots import checkout

    from prov_common.bundle.trust import bundle_trust
    from prov_common.cli._versions import is_full_digest, recorded_runs, version_digest
    from prov_common.cli.record import sources_told_if_refused, tell_sources_left_out
    from prov_common.config import Settings
    from prov_common.sources.registry import source_listing

    settings = Settings.from_env(store=args.store)
    store = open_store(settings=settings)
    digest, left_out = args.digest, False
    if not is_full_digest(digest):  # a name, a short digest or LOCATION@DIGEST: resolved as 'tdprov lineage' resolves it
        trust = bundle_trust(settings, store)
        stored, problems = source_listing(store, trust)
        sources = [s.record for s in stored]
        with sources_told_if_refused(problems, args.verb, args.digest), \
                recorded_runs(store, settings, args.digest, sources, trust, verb=args.verb) as recorded:
            digest = version_digest(args.digest, recorded.index())
        tell_sources_left_out(problems, args.verb, "the version was found without it")
        left_out = bool(recorded.left_out or problems)  # the version meant may be one left out made or holds: a finding
    notes: list[str] = []
    with on_terminal():  # a sharded version is restored and hashed again shard by shard
        path = checkout(store, digest, args.output, force=args.force, verify_table=args.verify_table, note=notes.append)
    print(f"restored {digest} to {path}{''.join(notes)}")
    return 1 if left_out else 0
