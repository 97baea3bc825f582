"""``tdprov runs``: the runs whose bundles are in the store, newest sealed first."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Collection, Iterable, Iterator
from itertools import islice
from typing import Any

from prov_common.bundle import BundleSummary, recent_bundles
from prov_common.bundle.model import task_instance_text
from prov_common.bundle.naming import dataset_shown
from prov_common.cli._terminal import one_line
from prov_common.cli._runs import child_runs
from prov_common.cli._common import add_store_option, add_verb, no_bundles_text
from prov_common.cli._output import emit_json
from prov_common.cli._versions import tell_entries_not_read, tell_parents_not_read
from prov_common.config import Settings
from prov_common.errors import BadInputError
from prov_common.progress import bar, on_terminal
from prov_common.store import open_store
from prov_common.text import cells, counted, padded, shortened
from prov_common.w3cprov.identity import DatasetLabels, distinct_labels
from prov_common.w3cprov.version_ref import pasted


def register(subparsers: Any) -> None:
    parser = add_verb(
        subparsers,
        "runs",
        help="list recorded runs, newest sealed first",
        description="List the runs whose lineage bundles are in the store, newest sealed first (a run delivered late from a "
                    "spool, or sealed later with 'tdprov store seal', lists by when it was sealed, not when it ended): run id, "
                    "job, state, TASK INSTANCE (an Airflow try's try number and map index, or a mapped Dagster step's mapping "
                    "key, when a listed run has one), "
                    "ENDED (when the run ended; 'sealed TIME' for a run sealed without an end), outputs. "
                    "Each output is shown as DATASET@DIGEST (its path or URI and the first 12 hex digits of its digest), which "
                    "names that dataset's version when pasted into lineage, record, contains, checkout or export --training-record "
                    "(an output recorded without a digest, such as another producer's or a logical Airflow asset's, "
                    "as DATASET alone: it has no version); "
                    "a run's outputs beyond 60 characters are counted (+N more), and --json lists them all. "
                    "--job lists only the runs of one job, named as the JOB column shows it (NAMESPACE/NAME) or by its name "
                    "alone (that job in any namespace); --parent only the runs whose parent run is RUN_ID (the steps of a "
                    "Dagster run, by the run id its UI shows; the parent facet of their events names it); --limit then "
                    "counts those runs. An index entry written before entries held the parent run names none, as does "
                    "the entry of a run that has none, so with --parent the bundle manifest of every entry naming no "
                    "parent run is read for its parent run (one read each: many on a store of runs with no parent). "
                    "The index entries listed are not signed: --verified lists only runs whose bundles verify. "
                    "Only the index is listed: a sealed bundle with no index entry is not ('tdprov store repair "
                    "--dry-run' lists those and 'tdprov audit' names them; 'tdprov verify' fails one only while its "
                    "'indexed' record is there, and lists one whose writer stopped before that record as OK). "
                    "Exit 0, or 1 when a run was left out (a finding, named on stderr): its index entry and bundle cannot be "
                    "read (named as 'could not be read', with the object: restore it; not as a bundle that does not verify, "
                    "which it was not shown to be) (with --parent, also: its entry names no parent run and its manifest "
                    "cannot be read), or with --verified its bundle does not verify; 2 when no indexed run is of the --job or --parent given "
                    "and no index entry was left out.",
        example="tdprov runs --limit 5 --store s3://ml-lineage/prod",
    )
    parser.add_argument("--limit", type=int, default=20, help="show at most this many runs (default 20; 0 for all)")
    parser.add_argument("--job", default=None, metavar="JOB",
                        help="list only the runs of this job: NAMESPACE/NAME as the JOB column shows it, or NAME (in any namespace)")
    parser.add_argument("--parent", default=None, metavar="RUN_ID",
                        help="list only the runs whose parent run is RUN_ID (a Dagster run's steps), in full")
    parser.add_argument("--json", action="store_true", help="print JSON (one array of run summaries)")
    parser.add_argument("--verified", action="store_true",
                        help="list only runs whose bundles verify (signature, digests, index entry; as 'tdprov verify'), "
                             "each as its signed bundle says; the others are named on stderr")
    add_store_option(parser)
    parser.set_defaults(func=run)


def instance_text(summary: BundleSummary) -> str:
    """The TASK INSTANCE cell of ``summary``: an Airflow try's try and map index, a mapped Dagster step's mapping key
    (``mapping key a``), '-' for neither."""
    if summary.task_instance:
        return task_instance_text(summary.task_instance)
    return f"mapping key {summary.mapping_key}" if summary.mapping_key is not None else "-"


def of_job(summary: BundleSummary, job: str) -> bool:
    """Whether ``summary`` is a run of the job ``job`` as a user types it: ``NAMESPACE/NAME`` as the JOB column shows
    it, or its name alone (in any namespace; a name holding '/' is matched whole)."""
    return job in (summary.job_name, summary.job)


def output_labels(summaries: Iterable[BundleSummary]) -> DatasetLabels:
    """How a listing of ``summaries`` shows each of their outputs: two written alike (``s3://c//k`` and ``s3://c/k``, both
    shown ``s3://c/k``) as ``NAMESPACE::NAME``, in one run or in two (:func:`~prov_common.w3cprov.identity.distinct_labels`)."""
    return distinct_labels(((o.namespace, o.name) for s in summaries for o in s.outputs), dataset_shown)


def row(summary: BundleSummary, labels: DatasetLabels, instances: bool = False) -> list[str]:
    """The cells of ``summary``'s line, its outputs shown by ``labels`` (:func:`output_labels` of the listing); with
    ``instances``, its task instance (:func:`instance_text`) after its state."""
    outputs = [pasted(labels[o.namespace, o.name], o.version) if o.version else labels[o.namespace, o.name]
               for o in summary.outputs]  # an output without a digest as its dataset, which names it when pasted
    instance = [instance_text(summary)] if instances else []
    return [summary.run_id, summary.job, summary.state, *instance,
            summary.ended_at or f"sealed {summary.sealed_at}", outputs_cell(outputs)]


MAX_COLUMN_WIDTH = 60
"""Widest a column is shown: a longer cell (a long job name) is shortened, not every row padded to it; the OUTPUTS
cell lists whole outputs up to it (:func:`outputs_cell`)."""


def outputs_cell(outputs: list[str], width: int = MAX_COLUMN_WIDTH) -> str:
    """The OUTPUTS cell: whole outputs (each DATASET@DIGEST names its version when pasted, so none is cut), as many as
    fit in ``width`` (the first always), the others counted as ``+N more``; ``-`` for none."""
    if not outputs:
        return "-"
    shown = [one_line(outputs[0])]
    for i, text in enumerate(outputs[1:], start=1):
        more = f", +{len(outputs) - i - 1} more" if i < len(outputs) - 1 else ""
        candidate = ", ".join([*shown, one_line(text)]) + more
        if cells(candidate) > width:
            break
        shown.append(one_line(text))
    rest = len(outputs) - len(shown)
    return ", ".join(shown) + (f", +{rest} more" if rest else "")


def table(rows: list[list[str]], header: list[str], whole: Collection[int] = ()) -> str:
    """``rows`` under ``header`` as text columns aligned in terminal cells (a CJK character takes two), each cell on
    one line; cells of every column but the last and those at the positions ``whole`` (a digest) shortened to
    :data:`MAX_COLUMN_WIDTH` cells (``--json`` keeps them whole)."""
    rows = [[*(one_line(cell) if i in whole else shortened(one_line(cell), MAX_COLUMN_WIDTH) for i, cell in enumerate(r[:-1])),
             one_line(r[-1])] for r in rows]
    widths = [max(cells(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = ["  ".join([*(padded(c, w) for c, w in zip(r[:-1], widths)), r[-1]]) for r in [header, *rows]]
    return "\n".join(line.rstrip() for line in lines)


def _verified(store: Any, settings: Settings, listing: Iterator[BundleSummary], limit: int,
              left_out: dict[str, str], drawn: Any) -> Iterator[BundleSummary]:
    """The newest ``limit`` runs (0: all) of ``listing`` whose bundles verify, read in batches of what is
    still missing (a run left out makes room for an older one), each run verified advancing the bar ``drawn`` (one
    over every batch); the runs left out are added to ``left_out``."""
    from prov_common.bundle.trust import bundle_trust
    from prov_common.cli._versions import verified_summaries

    trust = bundle_trust(settings, store)  # once, not per batch: with retired keys it reads the store's log
    shown = 0
    while not limit or shown < limit:
        batch = list(islice(listing, (limit - shown) if limit else VERIFY_BATCH))
        if not batch:
            return
        kept, left = verified_summaries(store, trust, batch, drawn, "runs")
        left_out.update(left)
        for summary in kept:
            shown += 1
            yield summary


VERIFY_BATCH = 256  # runs verified at once when all are listed (one pool's worth, on every CPU)


def any_indexed(store: Any) -> bool:
    """Whether the store's index holds any entry."""
    return next(iter(recent_bundles(store, limit=1)), None) is not None


def run(args: argparse.Namespace) -> int:
    if args.limit < 0:
        raise BadInputError(f"--limit {args.limit} is negative.", fix="give a positive number, or 0 for all runs")
    settings = Settings.from_env(store=args.store)
    store = open_store(settings=settings)
    left_out: dict[str, str] = {}
    unlisted: dict[str, str] = {}  # index entries that cannot be read, nor their bundles: named, a finding
    unread: dict[str, str] = {}  # with --parent, entries naming no parent run whose manifests cannot be read: a finding
    wanted = args.limit + 1 if args.limit and not args.verified else None  # one more: are there more?
    narrowed = args.job is not None or args.parent is not None
    listing = (recent_bundles(store, limit=None if narrowed else wanted, left_out=unlisted) if args.parent is None
               else child_runs(store, args.parent, left_out=unlisted, unread=unread))
    if narrowed:  # the newest runs asked for, however many other runs were sealed after them
        listing = islice((s for s in listing if args.job is None or of_job(s, args.job)), wanted)
    with on_terminal():
        if args.verified:  # one bar over every batch, without a total: the index is read as the runs are verified
            with bar(desc="verifying runs", unit="run") as drawn:
                summaries = list(_verified(store, settings, listing, args.limit, left_out, drawn))
        else:
            summaries = list(bar(listing, desc="reading the index", unit="run"))
    tell_entries_not_read(unlisted, args.verb)
    tell_parents_not_read(unread, args.verb)
    of = "".join([f" of job '{args.job}'" if args.job is not None else "",
                  f" with parent run {args.parent}" if args.parent is not None else ""])
    if narrowed and not summaries and not left_out and not unlisted and not unread:  # an entry that cannot be read may be of that job
        raise BadInputError(f"no run{of} is indexed in {store.uri}.", fix="; ".join([
            f"list the runs and their jobs with 'tdprov runs --store {store.uri}'",
            *(["give a job as its JOB column shows it (NAMESPACE/NAME) or by its name alone"] if args.job is not None else []),
            *(["give a parent run by its full id"] if args.parent is not None else [])]))
    if args.limit and len(summaries) > args.limit:
        summaries = summaries[: args.limit]
        print(f"the {counted(args.limit, 'run')}{of} sealed last; there are more: --limit N for more, --limit 0 for all", file=sys.stderr)
    if args.json:
        emit_json([s.to_dict() for s in summaries], sort_keys=True)
    elif not summaries:
        print(f"no run{of} in {store.uri} could be listed: each index entry left out is named above" if unlisted or unread
              else f"no bundle in {store.uri} verifies (each left out is named above)" if args.verified and any_indexed(store)
              else no_bundles_text(store.uri, index_only=True), file=sys.stderr)
    else:
        instances = any(s.task_instance or s.mapping_key is not None for s in summaries)  # the column only where a run has one
        labels = output_labels(summaries)
        print(table([row(s, labels, instances) for s in summaries],
                    ["RUN ID", "JOB", "STATE", *(["TASK INSTANCE"] * instances), "ENDED", "OUTPUTS"]))
    return 1 if left_out or unlisted or unread else 0  # a run left out, its bundle not verifying, is a finding (as in 'tdprov verify')
