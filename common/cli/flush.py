"""``tdprov flush``: deliver what the outbox spooled while the store was unreachable."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from prov_common.cli._common import add_store_option, add_verb
from prov_common.errors import BadInputError


def register(subparsers: Any) -> None:
    parser = add_verb(
        subparsers,
        "flush",
        help="deliver spooled bundles to their store, each exactly once",
        description=(
            "Deliver every entry of the spool folder ($TDPROV_SPOOL, default $TDPROV_HOME/spool), oldest\n"
            "first. Each entry goes to the store it was meant for, or with --store only the entries for\n"
            "that store are delivered. An entry is removed only once all its objects are stored; running\n"
            "flush again, or at the same time as another flush, never stores anything twice.\n"
            "Exit 0 when the spool is empty afterwards, 1 when entries are left (store still unreachable)\n"
            "or were set aside as undeliverable (in <spool>/failed/, with the reason)."
        ),
        example="tdprov flush                       # after an outage, or from cron",
    )
    add_store_option(parser, must_exist=False)
    parser.add_argument("--spool", default=None, help="spool folder (default: $TDPROV_SPOOL or $TDPROV_HOME/spool)")
    parser.set_defaults(func=run)


def check_spool(spool: str) -> None:
    """An explicit ``--spool`` must be an existing folder: a typo must not flush nothing and exit 0."""
    path = Path(spool).expanduser()
    if not path.is_dir():
        state = "is a file" if path.exists() else "does not exist"
        raise BadInputError(f"spool {path} {state}.", fix="give the spool folder (default: $TDPROV_SPOOL or $TDPROV_HOME/spool)")


def run(args: argparse.Namespace) -> int:
    from prov_common.store import Outbox, open_store

    if args.spool is not None:
        check_spool(args.spool)
    outbox = Outbox(args.spool)
    store = open_store(args.store) if args.store else None
    report = outbox.flush(store)
    remaining = len(outbox.pending())
    print(
        f"delivered {report.delivered} spooled entr{'y' if report.delivered == 1 else 'ies'} "
        f"({report.objects} objects, {report.written} new); {remaining} left in {outbox.spool_dir}"
        + (f"; {report.failed} set aside in {outbox.spool_dir / 'failed'}" if report.failed else "")
    )
    for error in report.errors:
        print(f"tdprov flush: {error}", file=sys.stderr)
    return 1 if remaining or report.failed else 0
