"""``tdprov lineage``: where a dataset version came from (upstream) or what was made from it (downstream)."""
from __future__ import annotations

import argparse
from collections.abc import Container, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from prov_common.audit.lineage import DIGEST_PREFIX_MIN, Naming
from prov_common.bundle.model import BundleSummary
from prov_common.cli._terminal import one_line
from prov_common.cli._common import add_store_option, add_verb
from prov_common.cli._output import emit_json, stderr_note, tell, tell_written, write_output
from prov_common.cli._versions import (
    SOURCE_FORMS, RunsNotTaken, add_version_argument, as_bundles_say, is_digest, tell_left_out,
)
from prov_common.config import Settings
from prov_common.errors import BadInputError, TdprovError, with_fix
from prov_common.bundle.trust import bundle_trust
from prov_common.signing import TrustStore, auditor_trust_from_settings
from prov_common.store import open_store
from prov_common.progress import on_terminal
from prov_common.sources.matching import SourcesByDigest, sources_by_digest
from prov_common.sources.merged import records_of
from prov_common.sources.model import SourceRecord
from prov_common.store.base import Store
from prov_common.store.held_reads import bundle_reads_held
from prov_common.w3cprov.collect import bundle_documents, index_starts, shard_counts
from prov_common.w3cprov.drawing import CHECKS_NAMED, drawn, same_content
from prov_common.w3cprov.events import extent_text
from prov_common.w3cprov.graph import LineageGraph, content_holders_json, lineage_graph, named_holders
from prov_common.w3cprov.identity import (
    DatasetLabels, VersionKey, digest_query, distinct_jobs, distinct_labels, nothing_named, utc_text, version_key,
)
from prov_common.w3cprov.ids import xml_text
from prov_common.w3cprov.lineage import (
    DOWNSTREAM, UPSTREAM, LineageTree, data_node_id, distinct_versions, find_nodes, graph_from_summaries, sharded_generations,
    source_tree, trace, tree_graph, with_shard_counts,
)
from prov_common.w3cprov.render import RENDERERS, picture_format, render
from prov_common.w3cprov.serialize import merge_documents
from prov_common.text import counted, first_of

if TYPE_CHECKING:
    from prov_common.audit.recorded import Catalogued, RecordedRuns
    from prov_common.audit.scope import LineageScope


NO_ORIGIN_TEXT = "origin: no recorded run generated it"
OPAQUE_TEXT = "opaque: another producer's version id, not a content digest"
"""How the upstream tree ends at a version no recorded run generated and no registered source has; the picture's
broken link says the same."""


def register(subparsers: Any) -> None:
    parser = add_verb(
        subparsers,
        "lineage",
        help="show the upstream (or downstream) lineage of a dataset or version",
        description=(
            "Show the lineage tree of a dataset version from the bundles in the store: upstream, every run "
            "that generated it and the versions those runs used, back to the origins (versions no recorded "
            "run generated; registered sources are named); with --downstream, the runs that used it and "
            "what they generated (a registered source is named there too, at the version it is). DATASET may be a name, namespace/name, URI or another name the events give it, "
            "such as a Dagster asset key or a symlink's namespace/name (dagster://default/raw/orders), or NAMESPACE::NAME "
            "(inmemory://::/x: that dataset alone, as listings show one whose path or URI another shares): "
            "its newest version is shown unless --all-versions, "
            "of each dataset it names (a partitioned asset's key names every partition); a path may be relative to the working folder; "
            f"DIGEST a version or content digest, in full or its first {DIGEST_PREFIX_MIN} or more hex digits, with or without 'blake3:'; "
            "DATASET@DIGEST that dataset's version at that digest, as 'tdprov runs' prints each output (a '@' is split off only "
            "where the last one is followed by a digest: abfss://container@account/... is a name as a whole). "
            "A digest, LOCATION or LOCATION@DIGEST that no recorded run holds names the registered source version "
            "('tdprov source add') of that digest, at that location: the source is the whole tree; a digest that sources at "
            "several locations hold, or a location where sources of several digests are registered, is refused (exit 2), "
            "listing the LOCATION@DIGEST of each. "
            "The bundle of every run shown is verified, from the very bytes the tree is read from (each bundle's statement, "
            "manifest and PROV are read once): a run whose bundle does not verify is left out and named on stderr, "
            "and the verb exits 1 (a finding), as it does when a registered source record that does not verify is left out. "
            "Upstream, a run that made a version the tree starts at and has events staged under its run id after it was "
            "sealed, in no bundle (another run given its run id, such as a second Airflow DAG run at one logical date, "
            "or late events of its own), is named on stderr: the data may have been written since by a run that is not "
            "recorded, so the version shown need not be what it holds now ('tdprov audit' names those events)."
        ),
        example="tdprov lineage /data/clean/customers.parquet --store ./.tdprov",
    )
    add_version_argument(parser, "target", more=SOURCE_FORMS)
    parser.add_argument("--downstream", action="store_true", help="show what was made from it instead of where it came from")
    parser.add_argument("--all-versions", action="store_true", help="every recorded version of the dataset, not only the newest")
    parser.add_argument("--depth", type=int, default=None, help="stop after this many runs along each path")
    parser.add_argument("--checks", action="store_true",
                        help="also show quality check results (reads each bundle's PROV instead of the index: slower)")
    parser.add_argument("--json", action="store_true", help="print the tree as JSON")
    parser.add_argument("-o", "--output", default=None, metavar="PICTURE",
                        help="also draw the tree: lineage.svg, lineage.png or lineage.dot (as 'tdprov graph')")
    parser.add_argument("--renderer", choices=RENDERERS, default="auto",
                        help="for -o: auto (Graphviz if installed; the built-in SVG for a large lineage or when dot does not "
                             "finish in time), graphviz or builtin (SVG)")
    add_store_option(parser)
    parser.set_defaults(func=run)


def _sources(store: Store, settings: Settings) -> tuple[SourcesByDigest, bool]:
    """The registered sources by digest (records that do not verify are left out, each named on stderr as
    'tdprov record' names them), and whether one was left out: a finding, as in 'tdprov record'."""
    from prov_common.cli.record import tell_sources_left_out
    from prov_common.signing import trust_from_settings
    from prov_common.sources.registry import iter_sources

    records: list[SourceRecord] = []
    problems: list[tuple[str, TdprovError]] = []
    try:
        for stored in iter_sources(store, trust_from_settings(settings), problems):
            records.append(stored.record)
    except TdprovError as exc:  # the tree is still shown, without the sources: a finding, never a silent gap
        fix = f"{exc.fix.rstrip('.')}; 'tdprov source list' lists them" if exc.fix else "'tdprov source list' lists them"
        tell("lineage", with_fix(f"cannot read the registered sources ({exc.what.rstrip('.')}): the lineage is shown "
                                 "without them", fix))
        return sources_by_digest(records), True
    tell_sources_left_out(problems, "lineage", "the lineage is shown without it")
    return sources_by_digest(records), bool(problems)


def _located_by_other_name(store: Store, trust: TrustStore, found: list[BundleSummary], name: str,
                           not_taken: RunsNotTaken, catalogued: Catalogued, sources: SourcesByDigest,
                           all_versions: bool = False) -> list[str]:
    """The lineage node ids of the versions that ``name`` means by another of their names (a Dagster asset key, in
    the events' ``symlinks``, which index summaries leave out; a partitioned asset's key names every
    partition): the newest version of each dataset whose events carry the name (every such version with
    ``all_versions``), newest first, from the verified bundles of the runs ``found``; none when no run names it
    so. A version of the same dataset that no event names so (another asset's, another namespace's, written to
    the same file) is not one of them. Runs whose bundles do not verify or could not be read, and runs whose index
    entries differ from their sound bundles, are added to ``not_taken`` (the node ids are as the bundles say).
    ``catalogued``: the store's catalog, as loaded for the lineage; ``sources``: the registered sources, so that
    ``LOCATION@DIGEST`` of a source registered where runs recorded other versions names no recorded version (its
    tree is the source's, :func:`_source_trees`) rather than being refused."""
    if is_digest(name):
        return []
    with _recorded(store, trust, found, catalogued, sources, not_taken) as recorded:
        recorded.read_naming(name)
    index = recorded.index()
    # DATASET@DIGEST of a dataset with no such version is refused, naming its versions
    named = sorted(index.version_namings(name), key=Naming.rank, reverse=True) if all_versions else index.datasets_named(name)
    return list(dict.fromkeys(data_node_id(n.dataset.namespace, n.dataset.name, n.dataset.version, index.generation_named(n))
                              for n in named))


@contextmanager
def _recorded(store: Store, trust: TrustStore, found: list[BundleSummary], catalogued: Catalogued, sources: SourcesByDigest,
              not_taken: RunsNotTaken) -> Iterator[RecordedRuns]:
    """The runs ``found`` with the registered ``sources`` (:class:`~prov_common.audit.recorded.RecordedRuns`; ``catalogued``:
    the store's catalog, as loaded for the lineage), for the caller to read bundles of; on leaving, the runs whose bundles
    do not verify or could not be read, and those whose index entries differ from their sound bundles, are added to
    ``not_taken``."""
    from prov_common.audit.recorded import RecordedRuns

    recorded = RecordedRuns.of(store, trust, (s for same in sources.values() for s in same), summaries=found,
                               catalogued=catalogued)
    try:
        yield recorded
    finally:
        not_taken.take_in(recorded)


def _refuse_both(store: Store, trust: TrustStore, scope: LineageScope, target: str, sources: SourcesByDigest,
                 not_taken: RunsNotTaken) -> None:
    """Refuse ``target``, hex digits alone, where it begins a recorded digest (a version's or a registered source's) and
    names a dataset too, as every verb refuses it (:meth:`~prov_common.audit.lineage.LineageIndex.digest_meant`): by any
    of its names, with a version or without. A Dagster asset key is in the events' ``symlinks`` only, which the index
    summaries leave out: the bundles are read where the digits begin a digest and the summaries name no dataset so.
    The runs read that are left out or corrected are added to ``not_taken``."""
    with _recorded(store, trust, scope.every(), scope.catalogued, sources, not_taken) as recorded:
        if recorded.index().digest_meant(target) is not None:
            recorded.read_naming(target)
            recorded.index().digest_meant(target)


def _traced(store: Store, found: list[BundleSummary], args: argparse.Namespace, targets: list[str], direction: str,
            sources: SourcesByDigest, not_taken: RunsNotTaken) -> tuple[LineageGraph, list[LineageTree]]:
    """The lineage graph of the runs ``found`` and the trees of the versions ``targets`` mean (none when they
    name nothing there). With ``--checks``, runs whose bundles cannot be read are left out in ``not_taken`` (those not
    read at all as not read)."""
    if args.checks:
        with on_terminal():
            documents = bundle_documents(store, found, left_out=not_taken.left_out, not_read=not_taken.not_read)
            graph = lineage_graph(merge_documents(documents), index_starts(found))
    else:
        graph = graph_from_summaries(found)
    keys = list(dict.fromkeys(key for target in targets for key in find_nodes(graph, target, all_versions=args.all_versions)))
    if direction == DOWNSTREAM:  # one tree per version, from every run's generation of it
        keys = distinct_versions(graph, keys)
    trees = [trace(graph, key, direction, args.depth, sources) for key in keys]
    if trees and not args.checks:  # the index does not hold shard counts: read them from the runs that made sharded versions
        shown = {tree.node.id for root in trees for tree in root.walk()}
        generations = sharded_generations(found, shown)
        if generations:
            with_shard_counts(graph, shard_counts(store, generations))
            trees = [trace(graph, key, direction, args.depth, sources) for key in keys]
    return graph, trees


def _source_trees(graph: LineageGraph, target: str, sources: SourcesByDigest, found: list[BundleSummary]) -> list[LineageTree]:
    """The tree of the registered source version that ``target`` (a digest, or ``LOCATION@DIGEST``) names where no
    recorded run holds it, as 'tdprov record' resolves it (:meth:`~prov_common.audit.lineage.LineageIndex.source_named`:
    refused where sources registered at several locations hold it, naming what the runs ``found`` recorded at their
    digests elsewhere), its dataset that at its location (else its name): none when no source does."""
    from prov_common.audit.examine import record_from_summary
    from prov_common.audit.lineage import LineageIndex

    runs = [record_from_summary(s, "") for s in found]
    use = LineageIndex(runs, (s for same in sources.values() for s in same)).source_named(target)
    if use is None or use.source is None or not use.version:
        return []
    return [source_tree(graph, use.namespace, use.name, use.version,
                        records_of(sources[use.version], use.source.digest, use.source.location))]


def _nothing_named(target: str, store: Store, found: list[BundleSummary], not_taken: RunsNotTaken) -> BadInputError:
    left_out = not_taken.left_out
    unread = sum(1 for run in left_out if run in not_taken.not_read)
    why = " or ".join(what for count, what in ((len(left_out) - unread, "their bundles do not verify"),
                                               (unread, "they could not be read")) if count)
    unverified = f"; {len(left_out)} more left out: {why}" if left_out else ""
    return nothing_named(target, f" of {store.uri} ({counted(len(found), 'bundle')}{unverified})",
                         "; for the bundles left out, see why above ('tdprov verify' names every problem)" if left_out else "")


def _runs_of(trees: list[LineageTree]) -> set[str]:
    return {step.run.run_id for root in trees for tree in root.walk() for step in tree.steps}


def _tell_staged_since(store: Store, trees: list[LineageTree], found: list[BundleSummary]) -> None:
    """Warn on stderr of each run that made a version the trees start at (the version asked for, or a dataset's newest)
    and has events staged under its run id after it was sealed, in no bundle: another run given its run id (two Airflow
    DAG runs at one logical date) or its own late events, which may have written the dataset since, so the version
    shown need not be what the dataset holds now. One listing of each such run's staging."""
    from prov_common.audit.unfinished import staged_after_sealing

    sealed_at = {s.run_id: s.sealed_at for s in found}
    for run_id in sorted({step.run.run_id for tree in trees for step in tree.steps}):
        try:
            count = staged_after_sealing(store, run_id, sealed_at.get(run_id))
        except TdprovError:
            continue
        if count:
            tell("lineage", f"run {run_id}, which made a version shown, has {counted(count, 'event')} staged under its "
                            "run id after it was sealed, in no bundle: another run given its run id (such as a second "
                            "Airflow DAG run at one logical date) or late events of its own, which may have written "
                            "the data since, so the version shown need not be what the data holds now. Fix: 'tdprov "
                            "audit' names them and what to do")


def _recorders_of(trees: list[LineageTree], found: list[BundleSummary]) -> set[str]:
    """The runs of ``found`` that wrote or read a version shown in ``trees``: the quality checks of each are shown on it
    (with ``--checks``), so their bundles are verified as those of the runs shown are. Names are compared as
    :func:`_compared` gives them: a name two datasets share so at most verifies one run more."""
    shown = {_compared(t.node.namespace, t.node.dataset, t.node.version) for root in trees for t in root.walk() if t.node.version}
    return {s.run_id for s in found for d in (*s.inputs, *s.outputs)
            if d.version and _compared(d.namespace, d.name, d.version) in shown}


def _compared(namespace: str | None, name: str | None, version: str | None) -> VersionKey:
    """A version's identity as a tree's is compared with an index entry's: its names in the PROV graph's form
    (:func:`~prov_common.w3cprov.ids.xml_text`), which a tree holds with ``--checks`` (read from the PROV) and not
    without (read from the index entries)."""
    return version_key(xml_text(namespace or ""), xml_text(name or ""), version)


def _gone(store: Store, scope: LineageScope, trees: list[LineageTree], direction: str) -> dict[str, str]:
    """The runs the audit's catalog vouches for, with no index entry now, that made (upstream) or read (downstream) a
    version shown in ``trees``, with why (:func:`~prov_common.audit.recorded.gone`, as ``tdprov record`` leaves them out:
    their bundle or their index entry is gone): such a version is no origin, or unused."""
    from prov_common.audit.recorded import gone

    shown = {_compared(t.node.namespace, t.node.dataset, t.node.version) for root in trees for t in root.walk() if t.node.version}
    return gone(store, [r for r in scope.unindexed() if any(d.version and _compared(d.namespace, d.name, d.version) in shown
                                                            for d in (r.outputs if direction == UPSTREAM else r.inputs))],
                set(scope.keys.values()))


_LeftOut = dict[VersionKey, dict[str, bool]]
"""Versions (:func:`_compared`) and the runs left out that made them (upstream) or read them (downstream), each with
whether it was left out because its bundle or index entry could not be read (else its bundle does not verify)."""


def _add_touched(touched: _LeftOut, runs: list[BundleSummary], direction: str, not_read: Container[str]) -> None:
    """Add to ``touched`` what ``runs`` (left out: their bundles do not verify, or, those in ``not_read``, their bundles
    or index entries could not be read) made, upstream, or read, downstream, as their index entries (or an audit's
    catalog) say: the tree must not call such a version an origin, or unused."""
    for run in runs:
        for d in run.outputs if direction == UPSTREAM else run.inputs:
            if d.version:
                touched.setdefault(_compared(d.namespace, d.name, d.version), {})[run.run_id] = run.run_id in not_read


def _left_out_text(tree: LineageTree, direction: str, left_out: _LeftOut) -> str | None:
    """Where the tree ends at a version that runs left out made (upstream) or read (downstream): ``generated by run R,
    left out: its bundle does not verify`` (``it could not be read`` where its bundle or index entry could not be read;
    ``their bundles do not verify or could not be read`` for runs of both kinds); else None."""
    node = tree.node
    left = None if tree.steps else left_out.get(_compared(node.namespace, node.dataset, node.version))
    if not left:
        return None
    one = len(left) == 1
    if all(left.values()):
        why = "it could not be read" if one else "they could not be read"
    elif not any(left.values()):
        why = "its bundle does not verify" if one else "their bundles do not verify"
    else:
        why = "their bundles do not verify or could not be read"
    return f"{'generated' if direction == UPSTREAM else 'used'} by {'run' if one else 'runs'} {', '.join(sorted(left))}, left out: {why}"


def _unexplained(tree: LineageTree, direction: str, left_out: _LeftOut) -> str | None:
    """Why the tree ends at ``tree``'s version with nothing recorded to explain it (the audit's broken link): runs left
    out made (read) it (:func:`_left_out_text`), or, upstream, no recorded run generated it and no registered source
    has it (:data:`NO_ORIGIN_TEXT`); else None (it has its runs or sources, is shown elsewhere or cut by ``--depth``,
    or, downstream, no recorded run used it)."""
    if tree.steps or tree.sources or tree.repeated or tree.truncated:
        return None
    return _left_out_text(tree, direction, left_out) or (NO_ORIGIN_TEXT if direction == UPSTREAM else None)


def _marked_unexplained(drawing: LineageGraph, trees: list[LineageTree], direction: str, left_out: _LeftOut) -> LineageGraph:
    """``drawing`` with each version the tree ends at unexplained (:func:`_unexplained`: made or read by runs left out,
    or an origin no run generated and no source has) drawn as a broken link, as the audit's picture draws it, the text
    tree's words in its tooltip: never as a plain version."""
    for tree in (t for root in trees for t in root.walk() if t.node.id in drawing.nodes):
        if why := _unexplained(tree, direction, left_out):
            drawing.nodes[tree.node.id] = replace(drawing.nodes[tree.node.id], broken=why)
    return drawing


@dataclass(frozen=True)
class _Shown:
    """How the text tree names datasets (:func:`_labels`) and jobs (:func:`_job_labels`, by run id), and which
    versions it must not end as origins or unused."""

    labels: DatasetLabels
    left_out: _LeftOut
    jobs: dict[str, str]


def _job_labels(trees: list[LineageTree], found: list[BundleSummary]) -> dict[str, str]:
    """How the text tree names the job of each run it shows, by run id: as
    :func:`~prov_common.w3cprov.identity.distinct_jobs` names the jobs it shows, as the picture of the same tree does."""
    jobs = {s.run_id: (s.job_namespace, s.job_name) for s in found}
    shown = {run_id: jobs[run_id] for run_id in _runs_of(trees) if run_id in jobs}
    names = distinct_jobs(shown.values())
    return {run_id: names[job] for run_id, job in shown.items()}


def _labels(trees: list[LineageTree]) -> DatasetLabels:
    """How the text tree shows each dataset in ``trees`` (its versions' and those they hold the same content as): by
    :func:`~prov_common.w3cprov.identity.distinct_labels`, as the picture of the same tree names them, so that a
    dataset is named one way wherever it appears, and two datasets written alike (``inmemory://x``,
    ``inmemory://::/x``) are told apart."""
    shown = [*((t.node.namespace, t.node.dataset) for root in trees for t in root.walk() if t.node.dataset),
             *(d for root in trees for t in root.walk() for d in named_holders(t.node.also))]
    return distinct_labels(shown)


def _version_text(tree: LineageTree, direction: str, shown_as: _Shown) -> str:
    node, labels = tree.node, shown_as.labels
    shown = labels[(node.namespace, node.dataset)] if node.dataset else node.id
    text = shown + (f"  {node.version}" if node.version else "  (no version)")
    if node.opaque:  # 'lineage --json' says opaqueVersion: true
        text += f"  ({OPAQUE_TEXT})"
    if node.shards is not None:
        text += f"  ({extent_text(None, node.shards)})"
    if node.failed_checks:
        text += f"  ✗ failed: {_checks_named(node.failed_checks)}"
    if node.passed_checks:  # known with --checks (read from the bundles): a passed validation is shown, not only a failed one
        text += f"  ✓ passed {counted(len(node.passed_checks), 'check')}"
    if node.errored_checks:  # a check that raised has no outcome: neither passed nor failed
        text += f"  ! raised an error: {_checks_named(node.errored_checks)}"
    if node.also:
        text += f"  (same content as {same_content(node.also, labels)})"
    if tree.sources:
        text += f"  [source: {'; '.join(tree.sources)}]"
    elif tree.repeated:
        text += "  (see above)"
    elif tree.truncated:
        text += "  (…)"
    elif why := _unexplained(tree, direction, shown_as.left_out):
        text += f"  [{why}]"
    elif not tree.steps:
        text += "  [not used by any recorded run]"
    return text


def _checks_named(checks: tuple[str, ...]) -> str:
    """The first :data:`~prov_common.w3cprov.drawing.CHECKS_NAMED` of a version's checks of one outcome, as the
    picture's tooltip names them, the rest counted: a version of hundreds of failed checks is one line of the tree."""
    return first_of(checks, CHECKS_NAMED) + (" (--json lists them all)" if len(checks) > CHECKS_NAMED else "")


def _lines(tree: LineageTree, direction: str, shown_as: _Shown, prefix: str = "") -> list[str]:
    verb = "generated by" if direction == UPSTREAM else "used by"
    out = []
    for i, step in enumerate(tree.steps):
        last_step = i == len(tree.steps) - 1
        run = step.run
        when = utc_text(run.made_at)
        job = shown_as.jobs.get(run.run_id or "", run.job)
        out.append(f"{prefix}{'└── ' if last_step else '├── '}{verb} {job}  run {run.run_id}  {run.state or '?'}  {when}".rstrip())
        inner = prefix + ("    " if last_step else "│   ")
        for j, child in enumerate(step.datasets):
            last = j == len(step.datasets) - 1
            out.append(f"{inner}{'└── ' if last else '├── '}{_version_text(child, direction, shown_as)}")
            out.extend(_lines(child, direction, shown_as, inner + ("    " if last else "│   ")))
    return out


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except RecursionError:  # the tree walks are recursive: a lineage hundreds of runs deep (a dataset refreshed in place)
        raise BadInputError(f"the {'downstream' if args.downstream else 'upstream'} lineage of {args.target!r} is too deep to show "
                            "as a tree (hundreds of runs in a row).",
                            fix="pass --depth N (e.g. --depth 100) to show its nearest runs; 'tdprov export' writes the whole "
                                "record as PROV") from None


def _run(args: argparse.Namespace) -> int:
    from prov_common.audit.recorded import doubted_runs
    from prov_common.audit.scope import LineageScope

    if args.depth is not None and args.depth < 0:
        raise BadInputError(f"--depth {args.depth} is negative.", fix="give 0 or more runs")
    picture = picture_format(args.output) if args.output else None
    settings = Settings.from_env(store=args.store)
    # each bundle's statement, manifest and PROV read once: the tree is drawn from the bytes its runs are verified by
    store = bundle_reads_held(open_store(settings=settings))
    trust = bundle_trust(settings, store)
    direction = DOWNSTREAM if args.downstream else UPSTREAM
    scope = LineageScope.of(store, trust, auditor_trust_from_settings(settings))
    found = scope.reaching(args.target, direction, every_reader=args.checks)
    found = scope.every() if found is None else found
    sources, sources_left_out = _sources(store, settings)  # named at the origins a tree shows, either way
    verified: set[str] = set()
    not_taken = RunsNotTaken()  # the runs left out (those not read among them) and those corrected
    touched: _LeftOut = {}  # what the runs left out made (upstream) or read (downstream): no origin, nothing unused
    targets = [args.target]
    try:
        if (query := digest_query(args.target)) is not None and ":" not in query:  # hex digits alone: a name too?
            _refuse_both(store, trust, scope, args.target, sources, not_taken)
            found = not_taken.taken(store, found)
        while True:  # a run left out can change what the target means: trace again until every run shown verifies
            graph, trees = _traced(store, found, args, targets, direction, sources, not_taken)
            if not trees and targets == [args.target]:  # no dataset is named so in the index: another name (an asset key)?
                found = not_taken.taken(store, scope.every())
                before = set(not_taken.corrected)  # (those runs of ``found`` are as their bundles say already)
                targets = _located_by_other_name(store, trust, found, args.target, not_taken, scope.catalogued, sources,
                                                 args.all_versions) or targets
                found = not_taken.taken(store, found, not_taken.corrected.keys() - before)
                graph, trees = _traced(store, found, args, targets, direction, sources, not_taken)
            if not trees:  # a digest only a registered source holds: the source is the whole lineage
                trees = _source_trees(graph, args.target, sources, found)
            if not trees:
                raise _nothing_named(args.target, store, found, not_taken)
            shown = (_runs_of(trees) | (_recorders_of(trees, found) if args.checks else set())) - verified
            with on_terminal():
                left, fixed = doubted_runs(store, trust, [s for s in found if s.run_id in shown], "verifying the runs shown")
            verified |= shown - set(left)
            if not left and not fixed:
                break
            not_taken.left_out.update(left)
            _add_touched(touched, [s for s in found if s.run_id in left], direction, not_taken.not_read)
            not_taken.corrected.update(fixed)
            found = as_bundles_say(store, [s for s in found if s.run_id not in left], fixed)
            found = scope.reaching(args.target, direction, found, not_taken.left_out, args.checks) or found  # what a corrected run reaches
        gone = _gone(store, scope, trees, direction)
        not_taken.leave_out_unread(gone)  # its bundle or index entry is gone
        _add_touched(touched, [r for r in scope.unindexed() if r.run_id in gone], direction, not_taken.not_read)
    finally:
        unlisted = {k: why for k, why in scope.unlisted.items() if k not in not_taken.left_out}  # a run its entry cannot list
        not_taken.leave_out_unread(unlisted)
        tell_left_out(not_taken.left_out, not_taken.not_read, not_taken.corrected, args.verb)
    code = 1 if not_taken.left_out or sources_left_out else 0  # a run or source left out, not verifying, is a finding (as in record)
    if direction == UPSTREAM:
        _tell_staged_since(store, trees, found)
    if picture:
        drawing = _marked_unexplained(tree_graph(graph, trees), trees, direction, touched)
        write_output(render(drawing, picture, args.renderer, title=f"{direction} lineage of {args.target}",
                            note=stderr_note("lineage")), args.output)
        tell_written(args.output, f"{direction} lineage of {args.target}: {drawn(drawing)}")
    if args.json:
        emit_json({"direction": direction, "query": args.target, "lineage": [t.to_dict(direction) for t in trees],
                   "contentHolders": content_holders_json(t.node for root in trees for t in root.walk()),
                   "leftOut": not_taken.left_out}, sort_keys=True)
        return code
    shown = _Shown(_labels(trees), touched, _job_labels(trees, found))
    blocks = ["\n".join(one_line(line) for line in [_version_text(tree, direction, shown), *_lines(tree, direction, shown)])
              for tree in trees]
    print("\n\n".join(blocks))
    return code
