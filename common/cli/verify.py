"""``tdprov verify``: check lineage bundles (signature, trust, digests, events against PROV)."""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from tqdm import tqdm

from prov_common.bundle.missing import MissingBundle, checked_nothing, why_missing
from prov_common.bundle.model import VerificationReport
from prov_common.bundle.verify_runs import verify_runs
from prov_common.cli._terminal import one_line
from prov_common.cli._common import add_store_option, add_verb, no_bundles_text, worker_count
from prov_common.cli._output import emit_json_line, tell
from prov_common.cli._runs import resolve_runs
from prov_common.config import Settings
from prov_common.bundle.trust import bundle_trust
from prov_common.progress import Bar, stream as bar_stream
from prov_common.signing.keyfiles import stale_public_note
from prov_common.store import open_store
from prov_common.store.errors import ObjectNotFoundError
from prov_common.text import counted


def register(subparsers: Any) -> None:
    parser = add_verb(
        subparsers,
        "verify",
        help="verify lineage bundles; exit 1 on any finding",
        description=(
            "Verify the bundles of the given runs (default: every bundle in the store): the signed statement "
            "against the trusted keys (TDPROV_TRUSTED_KEYS, or the local key), every file's digest against the "
            "manifest, the PROV document against the events, and each index entry against its bundle (of a run "
            "given by id, the entry its 'indexed' record names). Names each failing object and why, and the key that signed each bundle. "
            "Exit status 1 on any finding; 2 when a RUN_ID names no run (for the id of a parent run, such as a Dagster "
            "run whose steps' runs are sealed, it names those runs, which 'tdprov runs --parent RUN_ID' lists)."
        ),
        example="TDPROV_TRUSTED_KEYS=team.key.pub tdprov verify --store s3://ml-lineage/prod",
    )
    parser.add_argument("run_ids", nargs="*", metavar="RUN_ID", help="runs to verify, by full id or a unique beginning or ending of at least 8 characters (default: all)")
    parser.add_argument("--trusted-keys", action="append", default=None, metavar="PATH",
                        help="public key file or folder to trust (repeatable; overrides TDPROV_TRUSTED_KEYS)")
    parser.add_argument("--json", action="store_true", help="print one JSON report per bundle")
    parser.add_argument("--workers", type=worker_count, default=None, metavar="N",
                        help="processes that verify bundles (default: one per CPU, from 64 bundles on); "
                             "the findings are the same with any number")
    add_store_option(parser)
    parser.set_defaults(func=run)


def describe(report: VerificationReport) -> list[str]:
    """Lines for people: a status line, then one line per finding."""
    notes = [f"      note: {note}" for note in report.notes]
    if report.ok:
        return [f"OK    {report.run_id}  signed by {report.key_id}", *notes]
    signer = f"signed by {report.key_id}" if report.key_id else (
        f"claims key {', '.join(report.claimed_key_ids)}" if report.claimed_key_ids else "no valid signature")
    return [f"FAIL  {report.run_id}  {signer}"] + [f"      {finding}" for finding in report.findings] + notes


def missing_story(store: Any, run_id: str, entries_of: Callable[[str], list[str]] | None = None) -> MissingBundle:
    """What a run with no bundle object is (:func:`~prov_common.bundle.missing.why_missing`, as the Airflow page says
    it): sealed and since removed, staged and never sealed, or never sealed with no event staged to seal it from, each
    with its fix; with nothing of it in the store, the fix checks the id too (a run id is typed here). ``entries_of``:
    see :func:`~prov_common.bundle.missing.why_missing`."""
    missing = why_missing(store, run_id, entries_of)
    if missing.kind == "absent":
        return replace(missing, fix="check the id with 'tdprov runs', then run 'tdprov flush' on that worker, or 'tdprov "
                                    "audit' (a run that was there and is gone is a finding: it names a logged run that "
                                    "was deleted)")
    return missing


def missing_error(store: Any, run_id: str, entries_of: Callable[[str], list[str]] | None = None) -> ObjectNotFoundError:
    """The error of a run with no bundle object: :func:`missing_story` as what is wrong and its fix, as 'tdprov verify
    RUN_ID' tells it and 'tdprov show RUN_ID' refuses it (``entries_of``: the runs' index entries, listed once for
    all the runs verified)."""
    missing = missing_story(store, run_id, entries_of)
    return ObjectNotFoundError(f"no object of run {run_id}'s bundle is in {store.uri}: {missing.said}", fix=missing.fix)


def _no_trust_text(settings: Settings) -> str:
    """Why no key is trusted: none named, or the named files and folders hold none."""
    if not settings.trusted_keys:
        return "; no trusted keys configured (set TDPROV_TRUSTED_KEYS)"
    return (f"; no trusted key: the trusted keys named ({os.pathsep.join(settings.trusted_keys)}, by --trusted-keys or "
            "TDPROV_TRUSTED_KEYS) hold no .pub or .pem file (name the public key files, or a folder holding them)")


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env(store=args.store, trusted_keys=args.trusted_keys)
    store = open_store(settings=settings)
    trust = bundle_trust(settings, store)
    resolved = resolve_runs(store, args.run_ids, verb="verify")  # typed by a person: one that names no bundle is bad input, not a finding
    verification = verify_runs(store, trust, resolved.run_ids or None, workers=args.workers, index=resolved.index)
    failed = untrusted = 0
    for report in Bar(verification, desc="verifying bundles", unit="bundle", file=bar_stream(), disable=len(verification) < 2 or None):
        failed += not report.ok
        untrusted += any(f.problem == "untrusted key" for f in report.findings)
        if args.run_ids and checked_nothing(report, report.run_id):
            tell("verify", str(missing_error(store, report.run_id, verification.entries_of)))
        if args.json:
            emit_json_line(report.to_dict(), sort_keys=True)
        else:
            tqdm.write("\n".join(one_line(line) for line in describe(report)), file=sys.stdout)
    if not verification:
        print(no_bundles_text(store.uri), file=sys.stderr)
    elif not args.json:
        print(f"{len(verification) - failed:,} of {counted(len(verification), 'bundle')} verified"
              + ("" if len(trust) else _no_trust_text(settings))
              + (f"; {stale}" if (stale := stale_public_note(settings, untrusted)) else ""), file=sys.stderr)
    return 1 if failed else 0
