"""What merging the PROV of many runs adds: which version each run read, and equal content (no I/O).

A run's own bundle records what it read as the dataset at a version, without knowing which run wrote
it. Over the merged PROV of a store, each read is resolved by identity
(:func:`~prov_common.w3cprov.graph.resolve_reads`) and stated in plain PROV: the run ``used`` the
version that run wrote, and what the run wrote ``wasDerivedFrom`` it. The versions of different datasets
with the same content digest (``tdprov:DatasetVersion``, one per dataset and digest, which every
generation of it specialises) are ``prov:alternateOf`` each other: a fact, never a use or a derivation,
stated as a star through the first of them by id, both ways (linear in their number; every pair would be
quadratic). ``alternateOf`` being symmetric and transitive, ``?v prov:specializationOf ?d . ?d
prov:alternateOf+ ?other . ?other a tdprov:DatasetVersion FILTER(?other != ?d)`` finds, from any generation,
the other datasets that hold its bytes, without PROV inference. A version that holds no bytes (a write a
quality policy refused: :func:`~prov_common.w3cprov.identity.holds_content`) is no one's alternate, not even
where a run's own bundle says so; and an ``alternateOf`` a bundle states already is not stated again.
A read resolved across clock skew (the generation it read ended after the reader started, by at most
:data:`~prov_common.w3cprov.identity.CLOCK_SKEW`) is still stated, its usage and derivations qualified with
``tdprov:clockSkew true``: their times contradict PROV-CONSTRAINTS' ordering.
"""
from __future__ import annotations

from collections import defaultdict

from prov.model import ProvAlternate, ProvDocument

from prov_common.w3cprov import ids
from prov_common.w3cprov.graph import GENERATED, RUN, USED, LineageGraph, lineage_graph, version_entity
from prov_common.w3cprov.identity import moment, normal_version
from prov_common.w3cprov.ids import TDPROV


def _equal_content(holders: dict[str, dict[str, tuple[str, str]]]) -> set[tuple[str, ...]]:
    """``alternate`` relations between the versions (``DatasetVersion`` ids, as the graph found them) of different
    datasets that hold the same content digest: a star through the first by id, both ways (``2(k - 1)`` for ``k``
    datasets, never every pair), so that ``prov:alternateOf+`` reaches each from every other."""
    relations: set[tuple[str, ...]] = set()
    for held in holders.values():
        hub, *others = sorted(held)
        relations.update(relation for other in others for relation in (("alternate", hub, other), ("alternate", other, hub)))
    return relations


def _unheld(graph: LineageGraph, holders: dict[str, dict[str, tuple[str, str]]]) -> set[str]:
    """Ids of the entities of versions that hold no bytes (never written) or that are no content digest (see
    :func:`~prov_common.w3cprov.graph.content_holders`), each generation and its ``DatasetVersion``."""
    found = [node for node in graph.nodes.values() if node.kind != RUN and node.version
             and version_entity(node) not in holders.get(normal_version(node.version), {})]
    return {node.id for node in found} | {entity for entity in map(version_entity, found) if entity}


def _skewed(graph: LineageGraph, generator: dict[str, str], version: str, reader: str) -> bool:
    """Whether ``reader`` read ``version`` (a generation) although its run ended after the reader started, as
    :func:`~prov_common.w3cprov.identity.pick_generation` takes one within the clock skew: the times, as PROV
    orders them, say the use came before the generation."""
    made, read = graph.nodes[generator[version]], graph.nodes[reader]
    ended, read_at = moment(made.made_at), moment(read.read_at)
    return ended is not None and read_at is not None and ended > read_at


def _without_alternates_of(document: ProvDocument, names: set[str]) -> tuple[ProvDocument, set[tuple[str, ...]]]:
    """``document`` without its ``alternateOf`` records that name any of ``names``, and the relations it keeps."""
    kept: set[tuple[str, ...]] = set()
    dropped: set[int] = set()
    for record in document.get_records(ProvAlternate):
        pair = tuple(str(value) for _, value in record.formal_attributes)
        if names.intersection(pair):
            dropped.add(id(record))
        elif not record.extra_attributes:
            kept.add(("alternate", *pair))
    if not dropped:
        return document, kept
    rest = ProvDocument()
    for namespace in document.get_registered_namespaces():
        rest.add_namespace(namespace)
    for record in document.get_records():
        if id(record) not in dropped:
            rest.add_record(record)
    return rest, kept


def _skew_mark(skewed: bool) -> list[tuple[object, bool]] | None:
    return [(TDPROV["clockSkew"], True)] if skewed else None


def link_runs(document: ProvDocument, graph: LineageGraph | None = None) -> ProvDocument:
    """``document`` (the merged PROV of several runs) with the resolved reads and equal content stated; an
    ``alternateOf`` is stated once, and never of a version that holds no bytes (a refused write). ``graph``:
    ``document``'s lineage graph, when the caller has it already."""
    graph = graph or lineage_graph(document)
    holders = graph.holders  # reads resolved
    document, stated = _without_alternates_of(document, _unheld(graph, holders))
    generator = {edge.target: edge.source for edge in graph.edges if edge.kind == GENERATED}
    outputs: dict[str, list[str]] = defaultdict(list)
    for edge in graph.edges:
        if edge.kind == GENERATED:
            outputs[edge.source].append(edge.target)
    relations: set[tuple[str, ...]] = set()
    skewed: set[tuple[str, str]] = set()  # (reader, version) read across clock skew
    for edge in graph.edges:
        if edge.kind == USED and edge.source in generator:  # a read resolved to the run that wrote it
            relations.add(("usage", edge.target, edge.source))
            relations.update(("derivation", out, edge.source, edge.target) for out in outputs[edge.target] if out != edge.source)
            if _skewed(graph, generator, edge.source, edge.target):
                skewed.add((edge.target, edge.source))
    relations |= _equal_content(holders) - stated
    for kind, *names in sorted(relations):
        named = [ids.node_name(n) for n in names]
        if kind == "usage":
            document.usage(*named, other_attributes=_skew_mark((names[0], names[1]) in skewed))
        elif kind == "derivation":
            document.derivation(*named, other_attributes=_skew_mark((names[2], names[1]) in skewed))
        else:
            document.alternate(*named)
    return document
