"""``tdprov prove``: inclusion and consistency proofs from the tamper-evident log, as JSON."""
from __future__ import annotations

import argparse
from typing import Any

from prov_common.cli._common import add_store_option, add_verb
from prov_common.cli._output import emit_json, tell_written
from prov_common.cli._parser import explain_empty
from prov_common.cli._runs import resolve_run_id
from prov_common.config import Settings
from prov_common.errors import BadInputError
from prov_common.signing import auditor_trust_from_settings
from prov_common.store import open_store
from prov_common.tlog.log import NotLoggedError, TransparencyLog
from prov_common.tlog.proofs import consistency_document, inclusion_document


def register(subparsers: Any) -> None:
    parser = add_verb(
        subparsers,
        "prove",
        help="print a Merkle inclusion or consistency proof from the audit log",
        description=(
            "Print, as JSON, a proof that a run's bundle is in the tamper-evident log (against the newest "
            "signed checkpoint), or with --consistency that checkpoint NEW extends checkpoint OLD. "
            "The proof is checked before it is printed; docs/verification.md shows how to check it offline. "
            "A RUN_ID of a parent run (a Dagster run whose steps' runs are sealed) names those runs."
        ),
        example="tdprov prove 0190c1d2-7e4f-7a00-9b1e-3f6f3c2a9d11 > proof.json",
    )
    run_id = parser.add_argument("run_id", nargs="?", metavar="RUN_ID",
                                 help="the run whose bundle to prove: its full id or a unique beginning or ending of at least 8 characters")
    explain_empty(run_id, what="run id", give="a run id (its full id or a unique beginning or ending of at least 8 characters)",
                  left_out="and give --consistency OLD NEW for a consistency proof")
    parser.add_argument("--consistency", nargs=2, type=int, metavar=("OLD", "NEW"), help="tree sizes of two checkpoints")
    parser.add_argument("-o", "--output", default=None, help="write the proof to this file instead of stdout")
    add_store_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if bool(args.run_id) == bool(args.consistency):
        raise BadInputError("give either RUN_ID or --consistency OLD NEW.", fix="e.g. 'tdprov prove RUN_ID' or 'tdprov prove --consistency 10 25'")
    settings = Settings.from_env(store=args.store)
    store = open_store(settings=settings)
    tlog = TransparencyLog(store, auditor_trust_from_settings(settings))
    if args.consistency:
        old, new = args.consistency
        if not 0 < old <= new:
            raise tlog.sizes_refusal(f"--consistency {old} {new}: OLD must be at least 1 and not above NEW.",
                                     "give two of the checkpoint sizes, the smaller first")
        doc = consistency_document(tlog, old, new)
    else:
        try:
            doc = inclusion_document(tlog, args.run_id)
        except NotLoggedError:
            resolve_run_id(store, args.run_id, "prove")  # no run of that id in the store either: said as 'show' and 'verify' say it
            raise
    emit_json(doc, args.output)
    tell_written(args.output, f"proof that checkpoint {doc['newSize']} extends checkpoint {doc['oldSize']}" if args.consistency
                 else f"proof that run {doc['runId']} is in the log at checkpoint {doc['treeSize']}")
    return 0
