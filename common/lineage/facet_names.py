"""The names of this project's custom OpenLineage facets and the kinds of content a digest is of, apart from the
facet classes (:mod:`.facets`, which load the OpenLineage client), for readers of sealed events that need no more."""
from __future__ import annotations

CONTENT_HASH = "tdprov_contentHash"
PANDERA = "tdprov_pandera"
RUN_CONTEXT = "tdprov_runContext"
AUDIT_CHECKPOINT = "tdprov_auditCheckpoint"
OUTLETS = "tdprov_outlets"
CONTENT_KINDS = ("table", "file", "shards")  # what a tdprov_contentHash digest is of (its ``kind``)
