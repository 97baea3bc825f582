"""What merging the PROV of many runs adds: which version each run read, and equal content (no I/O).

A run's own bundle records what it read as the dataset at a version, without knowing which run wrote
it. Over the merged PROV of a store, each read is resolved by identity
(:func:`~prov_common.w3cprov.graph.resolve_reads`) and stated in plain PROV: the run ``used`` the
version that run wrote, and what the run wrote ``wasDerivedFrom`` it. The versions of different datasets
with the same content digest (``tdprov:DatasetVersion``, one per dataset and digest, which every
generation of it specialises) are ``prov:alternateOf`` each other, each pair both ways: a fact, never a
use or a derivation. So ``?v prov:specializationOf/prov:alternateOf ?other`` finds, from any generation,
the other datasets that hold its bytes, without PROV inference.
"""
from __future__ import annotations

from collections import defaultdict

from prov.model import ProvDocument

from prov_common.w3cprov import ids
from prov_common.w3cprov.graph import GENERATED, RUN, USED, LineageGraph, lineage_graph
from prov_common.w3cprov.identity import normal_version
from prov_common.w3cprov.ids import TDPROV


def _name(node_id: str):
    return TDPROV[node_id.split(":", 1)[1]]


def _equal_content(graph: LineageGraph) -> set[tuple[str, ...]]:
    """``alternate`` relations between the versions (``DatasetVersion`` ids) of different datasets that hold
    the same content digest, every pair both ways."""
    by_digest: dict[str, set[str]] = defaultdict(set)
    for node in graph.nodes.values():
        if node.kind != RUN and node.version and node.dataset is not None and ids.digest_local_name(node.version):
            by_digest[normal_version(node.version)].add(f"tdprov:{ids.version_local(node.namespace or '', node.dataset, node.version)}")
    return {("alternate", one, other) for held in by_digest.values() for one in held for other in held if one != other}


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
    relations |= _equal_content(graph)
    for kind, *names in sorted(relations):
        if kind == "usage":
            document.usage(_name(names[0]), _name(names[1]))
        elif kind == "derivation":
            document.derivation(_name(names[0]), _name(names[1]), _name(names[2]))
        else:
            document.alternate(_name(names[0]), _name(names[1]))
    return document
