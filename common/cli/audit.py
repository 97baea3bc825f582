"""``tdprov audit``: verify the store and the tamper-evident log, trace training inputs, write a report."""
from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from prov_common.cli._common import add_store_option, add_verb, finite_hours, report_folder
from prov_common.cli._terminal import one_line
from prov_common.config import Settings
from prov_common.errors import BadInputError
from prov_common.store import open_store
from prov_common.text import counted

if TYPE_CHECKING:
    from prov_common.audit.result import AuditResult


def register(subparsers: Any) -> None:
    parser = add_verb(
        subparsers,
        "audit",
        help="audit the store: signatures, Merkle log, PROV, completeness, quality, re-hash; write a report",
        description=(
            "Check every new lineage bundle (all of them with --full): signatures and manifests, the "
            "checkpoint chain and Merkle tree of the audit log, PROV documents, completeness (every input "
            "traces to a recorded run or a registered source), Pandera results, runs that never ended, "
            "and with --rehash the data where it lives. Appends new bundles to the log, writes a signed "
            "checkpoint, a JSON and HTML report, and a PROV record of the audit (with --read-only: nothing into "
            "the store, the report and record to --report DIR). "
            "Exit 0 clean, 1 findings, 2 could not run."
        ),
        example="tdprov audit --store s3://ml-prov/prod --rehash --report ./audit-report --witness s3://other-bucket/tdprov/checkpoint.json",
    )
    parser.add_argument("--full", action="store_true", help="re-check every bundle, not only those since the last checkpoint")
    parser.add_argument("--rehash", action="store_true", help="hash the data where it lives now and compare with the recorded digests")
    parser.add_argument("--report", metavar="DIR", type=report_folder, default=None,
                        help="write report.json and report.html here (default: into the store; the audit's signed record still goes "
                             "into the store, unless --read-only)")
    parser.add_argument("--read-only", action="store_true",
                        help="with read access to the store only: check the log as it is and write nothing into the store (new "
                             "bundles are examined, not logged); the report and the audit's signed record go to --report DIR (needed)")
    parser.add_argument("--stale-hours", type=finite_hours, default=24.0, help="a run with no new event for this long and no bundle is a finding (default 24)")
    parser.add_argument("--quiet", action="store_true", help="print only the summary line")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON document: format, auditId, store, summary (the counts and each check's result), "
                             "checkpoint (the one verified: size, root, digest), remembered (the one remembered before), "
                             "findings (those that fail the audit) and report (json, html and the digest of report.json)")
    parser.add_argument("--witness", metavar="FILE|URI", action="append", default=[],
                        help="a published checkpoint (report, --json output, file or s3:// object) the log must still extend; repeatable")
    parser.add_argument("--remember-in", metavar="URI", action="append", default=[],
                        help="a folder or s3:// prefix (another store or bucket) where the audit keeps the checkpoint it verified and "
                             "checks the log against it next time; repeatable, added to TDPROV_WITNESS")
    parser.add_argument("--accept-checkpoint", action="store_true",
                        help="accept the store's log as it is now and close the open gaps (needs --reason; recorded in the store)")
    parser.add_argument("--accept-finding", metavar="RUN_ID", action="append", default=[],
                        help="accept the completeness findings that name this run (a run that read a source before it was "
                             "registered), or its finding of being sealed without its refused terminal event, or of its "
                             "bundle lacking a file its events name: they are listed as accepted and no longer fail the audit (needs --reason; recorded in "
                             "the store); repeatable")
    parser.add_argument("--reason", default=None,
                        help="why the gap or the findings are accepted (with --accept-checkpoint or --accept-finding; recorded)")
    add_store_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from prov_common.audit import run_audit
    from prov_common.audit.result import scope_note
    from prov_common.audit.untrusted import untrusted_bundles, untrusted_lines
    from prov_common.signing.keyfiles import stale_public_note

    if args.accept_checkpoint and not (args.reason or "").strip():
        raise BadInputError("--accept-checkpoint needs --reason: the resolution is recorded with it.",
                            fix="e.g. tdprov audit --accept-checkpoint --reason 'store restored from the 2026-05-01 backup'")
    if args.read_only and args.report is None:
        raise BadInputError("--read-only writes the report and the audit's signed record to a folder, and no folder was given.",
                            fix="add --report DIR: tdprov audit --read-only --report DIR")
    settings = Settings.from_env(store=args.store)
    store = open_store(settings=settings)
    result = run_audit(store, settings, full=args.full, rehash=args.rehash, report_dir=args.report,
                       stale_after=timedelta(hours=args.stale_hours), progress=None if not args.quiet and not args.json else False,
                       witnesses=args.witness, remember_in=args.remember_in, accept_checkpoint=args.reason if args.accept_checkpoint else None,
                       require_runs=True, accept_findings=args.accept_finding, reason=args.reason, read_only=args.read_only)
    if args.json:
        print(json.dumps(result.published(), indent=2, sort_keys=True))
        return result.exit_code
    if result.resolution:  # a person overrode tamper evidence: said in the summary, not only in the JSON
        closed = len(result.resolution.get("closed") or [])
        print(f"accepted the store's log as it is, closing {counted(closed, 'finding')}: {result.resolution.get('reason')!r} "
              f"(recorded in {result.resolution.get('key')})")
    if not args.quiet:
        views = [f.view() for f in result.findings]
        for line in untrusted_lines(views):  # one cause of many findings, said first
            print(line)
        if stale := stale_public_note(settings, untrusted_bundles(views)):  # and why your own key may be among them
            print(stale)
        print(scope_note("full" if result.full else "incremental", result.bundles_examined, first=result.first_audit,
                         remembered=result.remembered_records, unlogged=result.remembered is None))
        for check in result.checks:
            print(f"{check.status:>7}  {check.title} ({check.checked} checked)" + (f"; {check.detail}" if check.detail else ""))
        for f in result.findings:  # a finding names records: their names hold any character, newlines too
            print(f"  [{f.check}] {f.severity}: {one_line(f.object)}: {one_line(f.what)}\n      fix: {one_line(f.fix)}")
        for a in result.accepted:
            if a["findings"]:
                print(one_line(f"  accepted by {a['by']} at {a['acceptedAt']}, the findings of run {a['runId']}: {a['reason']!r} ({a['key']})"))
            for f in a["findings"]:
                print(one_line(f"    [{f['check']}] accepted: {f['object']}: {f['what']}"))
    cp = result.checkpoint.checkpoint if result.checkpoint else None
    html, json_report = (_where(store, args.report, key) for key in (result.report_html, result.report_json))
    print(f"{verdict(result)}; log size {cp.size if cp else 0}; report: {html} ({json_report}, {result.report_digest})", file=sys.stdout)
    return result.exit_code


def verdict(result: "AuditResult") -> str:
    """The audit's result in the words of the HTML report and the JSON summary: findings fail it, notes do not."""
    notes = len(result.findings) - len(result.errors)
    accepted = f"; {counted(result.accepted_count, 'finding')} accepted by a person" if result.accepted_count else ""
    if not result.clean:
        return f"audit found {counted(len(result.errors), 'finding')}{accepted}"
    return "audit clean" + (f"; {counted(notes, 'note')}" if notes else "") + accepted


def _where(store: Any, report_dir: str | None, location: str | None) -> str | None:
    """Where a report file is, as a user can open it: its path, or the store key under the store's URI."""
    if location is None or report_dir is not None:
        return location
    return f"{store.uri.rstrip('/')}/{location}"
