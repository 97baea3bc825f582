"""Lineage bundles: one signed, write-once bundle per run (events, PROV, attachments, manifest, statement).

``build`` makes a bundle in memory (no I/O); ``storage`` writes, reads and lists bundles; ``verify``
checks them; ``transport`` is the OpenLineage transport that stages events and seals bundles. Names are loaded on
first use, so that a light part (``layout``, ``defaults``) does not load the builder.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from prov_common.lazy import lazy_names

_LAZY = {
    "AttachmentConflict": "attachments",
    "Attachments": "attachments",
    "Bundle": "model",
    "BundleBuilder": "build",
    "BundleSummary": "model",
    "DatasetRef": "model",
    "Finding": "model",
    "IndexWatch": "watch",
    "Manifest": "model",
    "VerificationReport": "model",
    "WriteResult": "storage",
    "build_bundle": "build",
    "index_keys": "storage",
    "list_bundles": "storage",
    "read_bundle": "storage",
    "recent_bundles": "storage",
    "rewind_cursor": "layout",
    "rows_path": "layout",
    "samples_path": "layout",
    "verify_bundle": "verify",
    "watch_index": "watch",
    "write_bundle": "storage",
}

if TYPE_CHECKING:  # pragma: no cover
    from prov_common.bundle.attachments import AttachmentConflict, Attachments
    from prov_common.bundle.build import BundleBuilder, build_bundle
    from prov_common.bundle.layout import rewind_cursor, rows_path, samples_path
    from prov_common.bundle.model import Bundle, BundleSummary, DatasetRef, Finding, Manifest, VerificationReport
    from prov_common.bundle.storage import (WriteResult, index_keys, list_bundles, read_bundle, recent_bundles,
                                            write_bundle)
    from prov_common.bundle.verify import verify_bundle
    from prov_common.bundle.watch import IndexWatch, watch_index

__getattr__ = lazy_names(__name__, _LAZY, globals())
__all__ = sorted(_LAZY)
