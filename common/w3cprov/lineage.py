"""Walking lineage: upstream to the origins of a dataset version, or downstream to what was made from it. No I/O.

Works on a :class:`~prov_common.w3cprov.graph.LineageGraph`, whether read from merged PROV
(:func:`~prov_common.w3cprov.graph.lineage_graph`) or built cheaply from bundle index summaries
(:func:`graph_from_summaries`); node ids are the PROV identifiers in both, so the two agree.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from prov_common.bundle.model import BundleSummary
from prov_common.bundle.subjects import SHARDS_PREFIX
from prov_common.errors import BadInputError
from prov_common.sources.matching import SourcesByDigest, matching_sources
from prov_common.sources.model import SourceRecord
from prov_common.w3cprov import ids
from prov_common.w3cprov.graph import (
    DATASET, GENERATED, RUN, USED, VERSION, Edge, LineageGraph, Node, dataset_identity, named_ids, resolve_reads, sourceable,
)
from prov_common.w3cprov.identity import (
    as_written_else_unescaped, at_location, dataset_label, digest_query, digest_starts, is_location, location_of_ref, normal_version, sortable_time, spells,
    written_as_pair,
)
from prov_common.w3cprov.version_ref import read_as_digest, split_version

UPSTREAM, DOWNSTREAM = "upstream", "downstream"


def data_node_id(namespace: str, name: str, version: str | None, generated_by: str | None = None) -> str:
    """The PROV identifier (as ``tdprov:<local>``) of a dataset version, or of the dataset without one;
    with ``generated_by`` (a run id), of what that run wrote."""
    if generated_by is not None:
        local = ids.generation_local(namespace, name, version, generated_by)
    else:
        local = ids.version_local(namespace, name, version) if version else ids.dataset_local(namespace, name)
    return f"{ids.TDPROV.prefix}:{local}"


def run_node_id(run_id: str) -> str:
    return f"{ids.TDPROV.prefix}:{ids.run_local(run_id)}"


def _short(version: str) -> str:
    algo, sep, rest = version.partition(":")
    return f"{algo}:{rest[:12]}…" if sep and len(rest) > 12 else version


def graph_from_summaries(summaries: Iterable[BundleSummary]) -> LineageGraph:
    """The lineage graph of bundle summaries (runs with their input and output versions); no quality results.

    Node ids are those of the PROV mapping, and reads are resolved to generations by identity, as
    :func:`~prov_common.w3cprov.graph.lineage_graph` does for PROV."""
    graph = LineageGraph()
    edges: set[Edge] = set()
    for summary in summaries:
        run_id = run_node_id(summary.run_id)
        graph.nodes[run_id] = Node(run_id, RUN, f"{summary.job_name}\n{summary.state}", job=summary.job_name,
                                   job_namespace=summary.job_namespace,
                                   run_id=summary.run_id, state=summary.state, ended=summary.ended_at,
                                   started=summary.started_at or (None if summary.ended_at else summary.sealed_at))
        for role, datasets in ((USED, summary.inputs), (GENERATED, summary.outputs)):
            for dataset in datasets:
                key = data_node_id(dataset.namespace, dataset.name, dataset.version,
                                   summary.run_id if role == GENERATED else None)
                if key not in graph.nodes:
                    graph.nodes[key] = _data_node(key, dataset.namespace, dataset.name, dataset.version, dataset.opaque)
                edges.add(Edge(key, run_id, USED) if role == USED else Edge(run_id, key, GENERATED))
    graph.edges = sorted(edges)
    return resolve_reads(graph)


def _data_node(key: str, namespace: str | None, name: str | None, version: str | None, opaque: bool = False) -> Node:
    """The data node ``key`` of dataset ``namespace``/``name`` at ``version`` (or of the dataset, without one)."""
    shown = dataset_label(namespace, name)
    label = f"{shown}\n{_short(version)}" if version else shown
    dataset_id, version_id = named_ids(namespace or "", name or "", version)
    return Node(key, VERSION if version else DATASET, label, dataset=name, namespace=namespace, version=version,
                dataset_id=dataset_id, version_id=version_id, opaque=opaque)


def sharded_generations(summaries: Iterable[BundleSummary], keys: Iterable[str]) -> dict[str, str]:
    """Of the data nodes ``keys``, the sharded versions that a summarised run generated, each with that
    run's id: the index tells a sharded version by its DigestSet, its shard count is in the run's PROV."""
    wanted = set(keys)
    found: dict[str, str] = {}
    for summary in summaries:
        for output in summary.outputs:
            if output.version and any(algo.startswith(SHARDS_PREFIX) for algo in output.digests or ()):
                key = data_node_id(output.namespace, output.name, output.version, summary.run_id)
                if key in wanted:
                    found[key] = summary.run_id
    return found


def with_shard_counts(graph: LineageGraph, counts: Mapping[str, int]) -> LineageGraph:
    """``graph`` with the shard counts of its sharded versions set (``counts`` by node id)."""
    for key, count in counts.items():
        if key in graph.nodes:
            graph.nodes[key] = replace(graph.nodes[key], shards=count)
    return graph


def _adjacency(graph: LineageGraph) -> tuple[dict[str, list[Edge]], dict[str, list[Edge]]]:
    """Incoming and outgoing edges by node id (one pass, so walks stay linear in the graph size)."""
    incoming: dict[str, list[Edge]] = defaultdict(list)
    outgoing: dict[str, list[Edge]] = defaultdict(list)
    for edge in graph.edges:
        incoming[edge.target].append(edge)
        outgoing[edge.source].append(edge)
    return incoming, outgoing


def _made_at(graph: LineageGraph, incoming: Mapping[str, list[Edge]], key: str) -> str:
    """When a data node was last generated (ISO time of the latest generating run), else ''."""
    times = [sortable_time(graph.nodes[e.source].made_at) for e in incoming.get(key, ())]
    return max(times, default="")


def find_nodes(graph: LineageGraph, query: str, all_versions: bool = False) -> list[str]:
    """Data nodes matching ``query``: a version, a content digest (in full or its first
    :data:`~prov_common.w3cprov.identity.DIGEST_PREFIX_MIN` or more hex digits, with or without ``blake3:``),
    a PROV id, a dataset (``name``, ``namespace/name``, label, URI, or a path, relative ones from the working
    folder) — its newest version unless ``all_versions``; of a name of several datasets, each one's — or ``REF@DIGEST``
    (:mod:`~prov_common.w3cprov.version_ref`): dataset ``REF``'s version at that digest."""
    query = query.strip()
    data = [n for n in graph.nodes.values() if n.kind != RUN]
    exact = [n.id for n in data if query in (n.id, n.id.split(":", 1)[1], n.version)]
    digest = digest_query(query)
    if not exact and digest is not None:
        begun = [n for n in data if digest_starts(n.version, digest)]
        if read_as_digest(query, {n.version or "" for n in begun},
                          lambda: [(n.namespace, n.dataset or "") for n in _datasets_named(data, query)]):
            exact = [n.id for n in begun]
    if exact:
        return _newest_per_dataset(graph, [graph.nodes[k] for k in set(exact)], all_versions)
    matches = _datasets_named(data, query)
    base, at = split_version(query)
    if not matches and at is not None:  # REF@DIGEST: the text as a whole names no dataset
        versions = [n for n in _datasets_named(data, base) if digest_starts(n.version, at)]
        return _newest_per_dataset(graph, versions, all_versions)
    return _newest_per_dataset(graph, matches, all_versions)  # a name of several datasets: each of them


def _datasets_named(data: list[Node], query: str) -> list[Node]:
    """The data nodes of the datasets ``query`` names (by location, label, ``namespace/name`` or, not a location, name;
    of ``NAMESPACE::NAME``, that dataset's only: :func:`~prov_common.w3cprov.identity.written_as_pair`; of a label
    shown spelled out, that dataset's: :func:`~prov_common.w3cprov.identity.as_written_else_unescaped`)."""
    return as_written_else_unescaped(query, lambda text: _named_as_written(data, text))


def _named_as_written(data: list[Node], query: str) -> list[Node]:
    located = location_of_ref(query)
    bare = not is_location(query)
    found = [n for n in data if at_location(located, n.namespace or "", n.dataset or "")
             or spells(query, n.namespace, n.dataset or "") or (bare and n.dataset in (query, query.rstrip("/")))]
    return [n for n in found if written_as_pair(query, n.namespace, n.dataset or "")] or found


def _newest_per_dataset(graph: LineageGraph, nodes: list[Node], all_versions: bool) -> list[str]:
    """The newest of ``nodes`` in each dataset (all of them with ``all_versions``): a digest names content,
    which several datasets, and several runs of one dataset, may hold."""
    if all_versions:
        return sorted(n.id for n in nodes)
    incoming, _ = _adjacency(graph)
    newest: dict[str, Node] = {}
    for node in sorted(nodes, key=lambda n: (_made_at(graph, incoming, n.id), n.id)):
        newest[dataset_identity(node)] = node
    return sorted(n.id for n in newest.values())


def same_version(graph: LineageGraph, key: str) -> list[str]:
    """The data nodes of the version ``key`` is one of (its dataset at its digest): the version as runs read it and
    each run's generation of it, ``key`` first; only ``key`` for a dataset without a version."""
    node = graph.nodes[key]
    if not node.version:
        return [key]
    version, identity = normal_version(node.version), dataset_identity(node)
    others = sorted(n.id for n in graph.nodes.values() if n.kind != RUN and n.id != key and n.version
                    and dataset_identity(n) == identity and normal_version(n.version) == version)
    return [key, *others]


def distinct_versions(graph: LineageGraph, keys: Iterable[str]) -> list[str]:
    """``keys`` with one node per version (dataset and digest): the first given of each."""
    seen: set[str] = set()
    out = []
    for key in keys:
        if key not in seen:
            out.append(key)
            seen.update(same_version(graph, key))
    return out


@dataclass(frozen=True)
class Step:
    """A run on the way: the run that generated the dataset (upstream) or that used it (downstream)."""

    run: Node
    datasets: tuple[LineageTree, ...] = ()


@dataclass(frozen=True)
class LineageTree:
    """A dataset version and the runs before (upstream) or after (downstream) it.

    ``repeated``: already expanded higher up (shared inputs, cycles); ``truncated``: depth limit reached;
    ``merged``: the other generations of the version whose readers are listed as its own (downstream);
    ``sources``: registered sources of an origin (a version no recorded run generated, or only runs that recorded
    no inputs), in either direction: those registered at this dataset's location with this digest, else, labelled
    "matched by content", any with the digest.
    """

    node: Node
    steps: tuple[Step, ...] = ()
    sources: tuple[str, ...] = ()
    repeated: bool = False
    truncated: bool = False
    merged: tuple[str, ...] = ()

    def to_dict(self, direction: str = UPSTREAM) -> dict[str, Any]:
        out: dict[str, Any] = {key: value for key, value in self.node.to_dict().items() if key != "label"}
        if self.sources:
            out["sources"] = list(self.sources)
        if self.repeated:
            out["repeated"] = True
        if self.truncated:
            out["truncated"] = True
        runs_key, data_key = ("generatedBy", "inputs") if direction == UPSTREAM else ("usedBy", "outputs")
        if self.steps:
            out[runs_key] = [{**{k: v for k, v in s.run.to_dict().items() if k not in ("label", "kind")},
                              data_key: [d.to_dict(direction) for d in s.datasets]} for s in self.steps]
        return out

    def walk(self) -> Iterable[LineageTree]:
        yield self
        for step in self.steps:
            for child in step.datasets:
                yield from child.walk()


def _source_label(source: SourceRecord) -> str:
    """A registered source as lineage names it: its name, issuer and license."""
    return f"{source.name} ({source.issuer}, {source.license})"


@dataclass
class _Walker:
    graph: LineageGraph
    direction: str
    max_depth: int | None
    sources: SourcesByDigest
    expanded: set[str] = field(init=False, default_factory=set)  # the nodes whose runs a tree shows already
    sourceable: set[str] = field(init=False, default_factory=set)  # the versions a source can name, in both directions

    def __post_init__(self) -> None:
        incoming, outgoing = _adjacency(self.graph)
        # upstream: follow edges backwards (version <- run <- input versions); downstream: forwards
        self.next_edges = incoming if self.direction == UPSTREAM else outgoing
        self.far_end = (lambda e: e.source) if self.direction == UPSTREAM else (lambda e: e.target)
        self.sourceable = sourceable(self.graph)

    def _runs(self, key: str) -> list[Node]:
        return [self.graph.nodes[self.far_end(e)] for e in self.next_edges.get(key, ())]

    def _data(self, run: Node) -> list[str]:
        return sorted(self.far_end(e) for e in self.next_edges.get(run.id, ()))

    def _sources(self, node: Node) -> tuple[str, ...]:
        if not node.version or node.id not in self.sourceable:
            return ()  # a version made by a run from its recorded inputs: they are where it came from
        found, located = matching_sources(self.sources, node.namespace or "", node.dataset or "", node.version,
                                          opaque=node.opaque)
        return tuple(_source_label(s) if located else f"{_source_label(s)}, matched by content" for s in found)

    def tree(self, key: str, depth: int, also: Sequence[str] = ()) -> LineageTree:
        """The tree of ``key``; ``also``: other nodes whose runs are its own (other generations of the version)."""
        node = self.graph.nodes[key]
        sources = self._sources(node)
        if key in self.expanded:
            return LineageTree(node, sources=sources, repeated=bool(self._runs(key)))
        self.expanded.update((key, *also))
        runs = sorted({run.id: run for k in (key, *also) for run in self._runs(k)}.values(),
                      key=lambda r: (r.made_at or "", r.id), reverse=True)
        if self.max_depth is not None and depth >= self.max_depth:
            return LineageTree(node, sources=sources, truncated=bool(runs))
        steps = tuple(Step(run, tuple(self.tree(child, depth + 1) for child in self._data(run))) for run in runs)
        return LineageTree(node, steps, sources, merged=tuple(also))


def trace(graph: LineageGraph, key: str, direction: str = UPSTREAM, max_depth: int | None = None,
          sources: SourcesByDigest | None = None) -> LineageTree:
    """The lineage tree of data node ``key``: upstream back to versions no recorded run generated (origins),
    or downstream to versions nothing used yet, starting from every run's generation of ``key``'s version (its
    dataset at its digest: :func:`same_version`), whichever one a reader read. Each node is expanded once; later
    mentions are ``repeated``.
    ``sources``: the registered sources by digest (:func:`~prov_common.sources.matching.sources_by_digest`), named at the
    origins they match (:func:`~prov_common.sources.matching.matching_sources`). ``max_depth`` counts runs."""
    if direction not in (UPSTREAM, DOWNSTREAM):
        raise BadInputError(f"unknown direction {direction!r}.", fix="use 'upstream' or 'downstream'")
    if key not in graph.nodes or graph.nodes[key].kind == RUN:
        raise BadInputError(f"{key!r} is not a dataset version in the lineage graph.", fix="pass a dataset name, URI or digest")
    also = same_version(graph, key)[1:] if direction == DOWNSTREAM else ()
    return _Walker(graph, direction, max_depth, sources or {}).tree(key, 0, also)


def source_tree(graph: LineageGraph, namespace: str, name: str, version: str, sources: Sequence[SourceRecord]) -> LineageTree:
    """The tree of a registered source's version that no recorded run holds (its node, dataset ``namespace``/``name``
    at ``version``, is added to ``graph`` to be drawn): named by ``sources``, the records of that source version, as
    an origin is; no recorded run made or read it, in either direction."""
    key = data_node_id(namespace, name, version)
    node = graph.nodes.setdefault(key, _data_node(key, namespace, name, version))
    return LineageTree(node, sources=tuple(_source_label(s) for s in sources))


def origins(tree: LineageTree) -> list[LineageTree]:
    """The upstream leaves: versions that no recorded run generated (sources, or broken links)."""
    return [t for t in tree.walk() if not t.steps and not t.repeated and not t.truncated]


def tree_graph(graph: LineageGraph, trees: Iterable[LineageTree]) -> LineageGraph:
    """The part of ``graph`` that the trees show (their versions and runs, and the edges between them), to draw;
    a version that is a registered source's is labelled with it, as the text tree shows it."""
    keep: set[str] = set()
    sources: dict[str, tuple[str, ...]] = {}
    for tree in trees:
        for node in tree.walk():
            keep.add(node.node.id)
            keep.update(step.run.id for step in node.steps)
            if node.sources:
                sources[node.node.id] = node.sources
            if node.merged:  # the other generations its readers read
                runs = {step.run.id for step in node.steps}
                keep.update(e.source for e in graph.edges if e.source in node.merged and e.target in runs)
    nodes = {k: (replace(v, label=v.label + "".join(f"\nsource: {s}" for s in sources[k])) if k in sources else v)
             for k, v in graph.nodes.items() if k in keep}
    return LineageGraph(nodes=nodes, edges=[e for e in graph.edges if e.source in keep and e.target in keep])
