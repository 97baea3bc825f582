"""OpenLineage events -> W3C PROV (``prov`` library): mapping, serialisation and lineage graphs.

Named ``w3cprov`` so that it never shadows the ``prov`` library. Names are loaded on first use, so that a part
(``ids``, ``events``, ``identity``) loads neither the drawing nor the serialisers.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from prov_common.lazy import lazy_names

_LAZY = {
    "FORMATS": "serialize",
    "Edge": "graph",
    "LineageGraph": "graph",
    "Node": "graph",
    "canonical_prov_json": "serialize",
    "deserialize": "serialize",
    "events_to_document": "mapping",
    "lineage_graph": "graph",
    "merge_documents": "serialize",
    "render_svg": "drawing",
    "serialize": "serialize",
    "to_dot": "drawing",
}

if TYPE_CHECKING:  # pragma: no cover
    from prov_common.w3cprov.drawing import render_svg, to_dot
    from prov_common.w3cprov.graph import Edge, LineageGraph, Node, lineage_graph
    from prov_common.w3cprov.mapping import events_to_document
    from prov_common.w3cprov.serialize import FORMATS, canonical_prov_json, deserialize, merge_documents, serialize

__getattr__ = lazy_names(__name__, _LAZY, globals())
__all__ = sorted(_LAZY)
