"""OpenLineage events -> W3C PROV (``prov`` library): mapping, serialisation and lineage graphs.

Named ``w3cprov`` so that it never shadows the ``prov`` library.
"""
from __future__ import annotations

from prov_common.w3cprov.drawing import render_svg, to_dot
from prov_common.w3cprov.graph import Edge, LineageGraph, Node, lineage_graph
from prov_common.w3cprov.mapping import events_to_document
from prov_common.w3cprov.serialize import FORMATS, canonical_prov_json, deserialize, merge_documents, serialize

__all__ = [
    "FORMATS",
    "Edge",
    "LineageGraph",
    "Node",
    "canonical_prov_json",
    "deserialize",
    "events_to_document",
    "lineage_graph",
    "merge_documents",
    "render_svg",
    "serialize",
    "to_dot",
]
