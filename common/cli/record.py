"""``tdprov record``: the provenance record of a training dataset version (D&TA JSON or Croissant JSON-LD)."""
from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prov_common.cli._common import add_store_option, add_verb
from prov_common.cli._output import emit_json, tell, tell_written
from prov_common.cli._versions import SHOWN_AT_MOST, SOURCE_FORMS, add_version_argument, recorded_runs
from prov_common.config import Settings
from prov_common.errors import TdprovError
from prov_common.bundle.trust import bundle_trust
from prov_common.store import open_store
from prov_common.store.held_reads import bundle_reads_held


def register(subparsers: Any) -> None:
    parser = add_verb(
        subparsers,
        "record",
        help="provenance record of a training dataset version (D&TA standard or Croissant RAI)",
        description=(
            "Print the provenance record of a dataset version, naming every registered source and every "
            "transformation run between them: --format dta gives the Data & Trust Alliance Data Provenance "
            "Standards fields as JSON, --format croissant gives Croissant 1.0 JSON-LD with its RAI fields. "
            "DATASET means its newest recorded version, DIGEST the version of the one dataset that holds it, and "
            "DATASET@DIGEST (as 'tdprov runs' prints each output) that dataset's version at that digest."
        ),
        example="tdprov record /data/features.parquet --format croissant > features.croissant.json",
    )
    add_version_argument(parser, "ref", more=SOURCE_FORMS)
    parser.add_argument("--format", "-f", choices=("dta", "croissant"), default="dta", help="record shape (default dta)")
    add_record_options(parser)
    parser.add_argument("-o", "--output", default=None, help="write to this file instead of stdout")
    add_store_option(parser)
    parser.set_defaults(func=run)


RECORD_NAMES = {"dta": "D&TA provenance record", "croissant": "Croissant record"}
"""How the message of ``-o FILE`` names each record shape."""

# The options of a training-data record that the lineage cannot give: 'tdprov record' and 'tdprov export --training-record'.
RECORD_OPTIONS = ("issuer", "processing_geography", "storage_geography", "no_checksum")


def add_record_options(parser: argparse.ArgumentParser) -> None:
    """Add the record options (:data:`RECORD_OPTIONS`) to ``parser``, as one group."""
    group = parser.add_argument_group("training-data record")
    group.add_argument("--issuer", default=None,
                       help="organisation that issues the dataset (D&TA 'dataset issuer'; default: TDPROV_ISSUER)")
    group.add_argument("--processing-geography", action="append", default=[],
                       help="country/region where the pipeline processes the data (repeatable; D&TA 'data processing geography')")
    group.add_argument("--storage-geography", action="append", default=[],
                       help="country/region where the data is stored (repeatable; D&TA 'data storage geography')")
    group.add_argument("--no-checksum", action="store_true",
                       help="do not read the data for its SHA-256 (Croissant then describes no FileObject)")


def record_options_given(args: argparse.Namespace) -> list[str]:
    """The record options set on the command line, as ``--option``."""
    return [f"--{name.replace('_', '-')}" for name in RECORD_OPTIONS if getattr(args, name, None)]


def run(args: argparse.Namespace) -> int:
    from prov_common.progress import on_terminal
    from prov_common.sources.registry import source_listing
    from prov_common.sources.bundle_location import bundle_locator
    from prov_common.sources.checksums import file_facts
    from prov_common.sources.training_record import RecordOptions, training_record

    settings = Settings.from_env(store=args.store, issuer=args.issuer)
    # each bundle's statement, manifest and PROV read once: the bundle the record locates its data by is verified as read
    store = bundle_reads_held(open_store(settings=settings))
    trust = bundle_trust(settings, store)
    stored, problems = source_listing(store, trust)
    sources = [s.record for s in stored]
    with sources_told_if_refused(problems, args.verb, args.ref):
        with on_terminal(), recorded_runs(store, settings, args.ref, sources, trust, verb=args.verb) as recorded:
            recorded.read_trace(args.ref)  # every run the record cites, read from its bundle and verified (a catalog only finds runs)
        options = RecordOptions(store.uri, settings.issuer, tuple(args.processing_geography), tuple(args.storage_geography),
                                None if args.no_checksum else file_facts,
                                bundle_locator(store))
        with on_terminal():  # a sharded version's shards are read for their SHA-256
            doc = training_record(recorded.index(), args.ref, args.format, options)
    emit_json(doc, args.output)
    tell_written(args.output, f"{RECORD_NAMES[args.format]} of {args.ref}")
    tell_sources_left_out(problems, args.verb)
    tell_runs_left_out(recorded.left_out, args.verb)
    return 1 if problems or recorded.left_out else 0  # a record written without a run or source it may need is a finding


def tell_runs_left_out(left_out: dict[str, str], verb: str = "record") -> None:
    """Say on stderr that the record was written without the runs left out, whose bundles do not verify or could not be
    read (each already named with why and the fix by :func:`~prov_common.cli._versions.tell_left_out`)."""
    if left_out:
        entries = all("/" in k for k in left_out)  # a stray index entry is keyed by itself: no run id holds a '/'
        one = f"{'index entry' if entries else 'run'} {next(iter(left_out))}"
        runs = one if len(left_out) == 1 else f"{len(left_out)} {'index entries' if entries else 'runs'}"
        verify = "tdprov verify" if entries else "tdprov verify RUN_ID"
        tell(verb, f"the record was written without {runs} (named above), so it may lack a step "
             f"of the lineage or a quality result recorded on it. Fix: '{verify}' names every problem; "
             "restore a damaged bundle from a backup or replica")


@contextmanager
def sources_told_if_refused(problems: list[tuple[str, TdprovError]], verb: str, ref: str) -> Iterator[None]:
    """Around the lookup of ``ref``: when it is refused, name first the source records left out (``problems``), which
    the version meant may be one of, as 'tdprov contains' names them (:func:`tell_sources_left_out`)."""
    try:
        yield
    except TdprovError:
        tell_sources_left_out(problems, verb, f"{ref!r} was looked up without it")
        raise


def tell_sources_left_out(problems: list[tuple[str, TdprovError]], verb: str = "record",
                          without: str = "the record was written without it") -> None:
    """Name on stderr each source record (key, error) that did not verify and was left out of what ``verb`` made."""
    for key, exc in problems[:SHOWN_AT_MOST]:
        what = exc.what.rstrip(".") if key in exc.what else f"source record '{key}': {exc.what.rstrip('.')}"
        fix = f"{exc.fix.rstrip('.')}; " if exc.fix else ""
        tell(verb, f"left out {what}: {without}. Fix: {fix}'tdprov audit' reports every damaged record")
    if len(problems) > SHOWN_AT_MOST:
        tell(verb, f"and {len(problems) - SHOWN_AT_MOST} more source records left out, not verifying. "
             "Fix: 'tdprov audit' reports every damaged record")
