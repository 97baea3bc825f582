"""``tdprov export``: one merged W3C PROV document of every lineage bundle in the store."""
from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import Any

from prov.model import ProvDocument

from prov_common.cli._common import add_store_option, add_verb
from prov_common.cli import record
from prov_common.cli._output import tell_written, write_output
from prov_common.cli.runs import VERIFY_BATCH
from prov_common.cli._versions import (SOURCE_FORMS, add_version_argument, checked_summaries, tell_entries_not_read,
                                      tell_left_out)
from prov_common.bundle.layout import held_keys
from prov_common.bundle.model import BundleSummary
from prov_common.bundle.trust import bundle_trust
from prov_common.errors import BadInputError, TdprovError
from prov_common.progress import bar, on_terminal
from prov_common.config import Settings
from prov_common.sources.registry import iter_sources
from prov_common.store import open_store
from prov_common.signing import TrustStore
from prov_common.store.held_reads import HeldReads, bundle_reads_held
from prov_common.text import counted
from prov_common.w3cprov import FORMATS, serialize
from prov_common.w3cprov.collect import bundle_documents, linked_document, summaries
from prov_common.w3cprov.serialize import merge_documents
from prov_common.w3cprov.identity import VERSION_ARGUMENT

RECORD_FORMATS = ("dta", "croissant")


def register(subparsers: Any) -> None:
    parser = add_verb(
        subparsers,
        "export",
        help="export the PROV of all bundles in the store as one document",
        description=(
            "Merge the PROV documents of the sealed lineage bundles in the store into one W3C PROV document "
            "(identifiers are stable across runs, so the merge is a plain union; each read is then linked to the version it read, by dataset identity and time). PROV-JSON output is canonical. "
            "Each origin (a version no recorded run generated) is derived from the registered sources that name it, with their "
            "licence, issuer and signed record; source records are always verified, and one that does not verify is left out, "
            "named on stderr, with exit status 1. "
            "Bundle signatures are not checked unless --verified (or run 'tdprov verify' first): then a run whose bundle does "
            "not verify is left out, named on stderr, with exit status 1 (a bundle that cannot be read is, always, and so is one whose PROV, or the "
            "events it is derived from, is not the file its manifest lists by digest). With --training-record, export "
            "instead the provenance record of one training dataset version (same as 'tdprov record', with its options)."
        ),
        example="tdprov export --format ttl --since 2024-06-01 -o lineage.ttl --store s3://ml-lineage/prod\n"
        "  tdprov export --training-record train_set --format croissant -o train_set.jsonld",
    )
    parser.add_argument("--format", "-f", choices=(*FORMATS, *RECORD_FORMATS), default=None, metavar="FORMAT",
                        help="output format: json (default), provn, xml, ttl; with --training-record: dta (default) or croissant")
    add_version_argument(parser, "--training-record", default=None, more=SOURCE_FORMS,
                         said="export the training-data record (D&TA or Croissant RAI) of this dataset version: ")
    parser.add_argument("--since", default=None,
                        help="only bundles stored at or after this date or date-time (UTC unless an offset is given), "
                             "or after an index key; listing starts there, so this costs only what is new (not with --training-record)")
    parser.add_argument("--verified", action="store_true",
                        help="verify every bundle before exporting it (signature, digests, index entry; on every CPU, as 'tdprov verify', "
                             f"in batches of {EXPORT_BATCH} runs, each batch's bytes held only until its PROV is merged) "
                             "and leave out those that do not verify, naming them on stderr (a training record always verifies its runs); "
                             "a bundle verified in this process is exported from the bytes verified, not read again")
    record.add_record_options(parser)
    parser.add_argument("-o", "--output", default=None, help="write to this file instead of stdout")
    add_store_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.training_record is not None:
        return _training_record(args)
    if args.format in RECORD_FORMATS:
        raise BadInputError(f"--format {args.format} is a training-record format.",
                            fix=f"add --training-record {VERSION_ARGUMENT}, or use one of {', '.join(FORMATS)}")
    given = record.record_options_given(args)
    if given:
        raise BadInputError(f"{', '.join(given)} {'is an option' if len(given) == 1 else 'are options'} of a training-data record.",
                            fix=f"add --training-record {VERSION_ARGUMENT}, or leave them out of a PROV export")
    args.format = args.format or "json"
    settings = Settings.from_env(store=args.store)
    store = open_store(settings=settings)
    if args.verified:  # each bundle's statement, manifest and PROV read once: what is exported is what was verified
        store = bundle_reads_held(store)
    unlisted: dict[str, str] = {}  # index entries that cannot be read, nor their bundles: left out, named, a finding
    found = summaries(store, args.since, unlisted)
    trust = bundle_trust(settings, store)  # read once: with retired keys it reads the store's log
    left_out: dict[str, str] = {}
    unread: dict[str, str] = {}  # bundles whose PROV cannot be read: left out, named as not read or not verifying
    not_read: set[str] = set()  # those of them whose object is gone or could not be read at all
    corrected: dict[str, str] = {}  # with --verified: the runs whose index entries their sound bundles correct
    if args.verified:
        taken: list[BundleSummary] = []  # the runs whose bundles verify, as the bundles say
        with on_terminal():
            merged = merge_documents(_verified_documents(store, trust, found, taken, left_out, corrected, unread, not_read))
        found = taken
    else:
        with on_terminal():
            merged = merge_documents(bundle_documents(store, found, left_out=unread, not_read=not_read))
    problems: list[tuple[str, TdprovError]] = []
    sources = [s.record for s in iter_sources(store, trust, problems)]  # verified records only
    document = linked_document(merged, found, sources, store.uri)
    write_output(serialize(document, args.format), args.output)
    tell_written(args.output, f"PROV of {counted(len(found) - len(unread), 'bundle')}")
    tell_entries_not_read(unlisted, args.verb)
    tell_left_out({**left_out, **unread}, not_read, corrected, args.verb)
    record.tell_sources_left_out(problems, "export", "the export names no source from it")
    return 1 if problems or left_out or unread or unlisted else 0  # a run or source left out is a finding, as in 'tdprov record'


EXPORT_BATCH = VERIFY_BATCH
"""Runs verified, then exported, at once by ``--verified`` (one pool's worth, on every CPU, as ``tdprov runs
--verified``): the bytes of a batch's bundles are held from verification until their PROV is merged, then released, so
those held do not grow with the store."""


def _verified_documents(store: HeldReads, trust: TrustStore, found: list[BundleSummary], taken: list[BundleSummary],
                        left_out: dict[str, str], corrected: dict[str, str], unread: dict[str, str],
                        not_read: set[str]) -> Iterator[ProvDocument]:
    """The PROV documents of the bundles of ``found`` that verify, verified and read in batches of :data:`EXPORT_BATCH`
    runs (one bar, on a terminal, counts them all verified), each exported from the bytes verified where this process verified it (as before, one a worker process verified
    is read here to export it), and the batch's bytes released once its PROV is read. Added as they are
    found: to ``taken`` the runs exported (as their bundles say), to ``left_out`` and ``corrected`` the runs whose
    bundles do not verify and those whose entries their bundles correct, to ``unread`` those whose PROV cannot be read
    and to ``not_read`` those of them not read at all (:func:`~prov_common.w3cprov.collect.bundle_documents`); nothing
    is told."""
    with bar(total=len(found), desc="verifying bundles", unit="bundle") as drawn:
        for start in range(0, len(found), EXPORT_BATCH):
            batch = found[start:start + EXPORT_BATCH]
            kept, left, fixed = checked_summaries(store, trust, batch, drawn)
            left_out.update(left)
            corrected.update(fixed)
            taken.extend(kept)
            yield from bundle_documents(store, kept, progress=False, left_out=unread, not_read=not_read)
            store.release(key for summary in batch for key in held_keys(summary.run_id))


def _training_record(args: argparse.Namespace) -> int:
    """``--training-record``: the same output as ``tdprov record``."""
    if args.format not in (None, *RECORD_FORMATS):
        raise BadInputError(f"--format {args.format} is not a training-record format.", fix="use --format dta or --format croissant")
    given = [option for option, value in (("--since", args.since), ("--verified", args.verified)) if value]
    if given:
        raise BadInputError(f"{' and '.join(given)} {'does' if len(given) == 1 else 'do'} not apply to --training-record: "
                            "a record reads every run of the version's lineage, each verified.",
                            fix=f"leave out {' and '.join(given)}, or drop --training-record to export the PROV")
    args.ref, args.format = args.training_record, args.format or "dta"
    return record.run(args)
