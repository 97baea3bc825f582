"""Lineage bundles: one signed, write-once bundle per run (events, PROV, attachments, manifest, statement).

``build`` makes a bundle in memory (no I/O); ``storage`` writes, reads and lists bundles; ``verify``
checks them; ``transport`` is the OpenLineage transport that stages events and seals bundles.
"""
from __future__ import annotations

from prov_common.bundle.attachments import AttachmentConflict, Attachments
from prov_common.bundle.build import BundleBuilder, build_bundle
from prov_common.bundle.layout import rewind_cursor, rows_path, samples_path
from prov_common.bundle.model import Bundle, BundleSummary, DatasetRef, Finding, Manifest, VerificationReport
from prov_common.bundle.storage import WriteResult, index_keys, list_bundles, read_bundle, recent_bundles, write_bundle
from prov_common.bundle.verify import verify_bundle
from prov_common.bundle.watch import IndexWatch, watch_index

__all__ = [
    "AttachmentConflict",
    "Attachments",
    "Bundle",
    "BundleBuilder",
    "BundleSummary",
    "DatasetRef",
    "Finding",
    "IndexWatch",
    "Manifest",
    "VerificationReport",
    "WriteResult",
    "build_bundle",
    "index_keys",
    "list_bundles",
    "read_bundle",
    "recent_bundles",
    "rewind_cursor",
    "rows_path",
    "samples_path",
    "verify_bundle",
    "watch_index",
    "write_bundle",
]
