"""Registered external sources of training data (D&TA Data Provenance Standards fields)."""
from __future__ import annotations

from prov_common.sources.model import SourceRecord
from prov_common.sources.registry import StoredSource, find_source, iter_sources, read_source, register_source

__all__ = ["SourceRecord", "StoredSource", "find_source", "iter_sources", "read_source", "register_source"]
