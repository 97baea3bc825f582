"""What merging the PROV of many runs adds: which version each run read, and equal content (no I/O).

A run's own bundle records what it read as the dataset at a version, without knowing which run wrote
it. Over the merged PROV of a store, each read is resolved by identity
(:func:`~prov_common.w3cprov.graph.resolve_reads`) and stated in plain PROV: the run ``used`` the
version that run wrote, and what the run wrote ``wasDerivedFrom`` it. Versions of different datasets
with the same content digest are ``prov:alternateOf`` each other: a fact, never a use or a derivation.
"""
from __future__ import annotations

from collections import defaultdict

from prov.model import ProvDocument

from prov_common.w3cprov.graph import GENERATED, RUN, USED, lineage_graph
from prov_common.w3cprov.ids import TDPROV


def _name(node_id: str):
    return TDPROV[node_id.split(":", 1)[1]]


def link_runs(document: ProvDocument) -> ProvDocument:
    """``document`` (the merged PROV of several runs) with the resolved reads and equal content stated."""
    graph = lineage_graph(document)
    written = {edge.target for edge in graph.edges if edge.kind == GENERATED}
    outputs: dict[str, list[str]] = defaultdict(list)
    for edge in graph.edges:
        if edge.kind == GENERATED:
            outputs[edge.source].append(edge.target)
    relations: set[tuple[str, ...]] = set()
    for edge in graph.edges:
        if edge.kind == USED and edge.source in written:  # a read resolved to the run that wrote it
            relations.add(("usage", edge.target, edge.source))
            relations.update(("derivation", out, edge.source, edge.target) for out in outputs[edge.target] if out != edge.source)
    by_digest: dict[str, dict[tuple[str, str], str]] = defaultdict(dict)
    for node in graph.nodes.values():
        if node.kind != RUN and node.version and ":" in node.version:
            by_digest[node.version].setdefault((node.namespace or "", node.dataset or ""), node.id)
    for held in by_digest.values():
        first, *others = sorted(held.values())
        relations.update(("alternate", first, other) for other in others)
    for kind, *ids in sorted(relations):
        if kind == "usage":
            document.usage(_name(ids[0]), _name(ids[1]))
        elif kind == "derivation":
            document.derivation(_name(ids[0]), _name(ids[1]), _name(ids[2]))
        else:
            document.alternate(_name(ids[0]), _name(ids[1]))
    return document
