"""Tamper-evident log: an RFC 6962 Merkle tree over lineage bundles, with signed checkpoints."""
from __future__ import annotations

from prov_common.tlog.model import Checkpoint, ConsistencyProof, InclusionProof, LogLeaf

__all__ = ["Checkpoint", "ConsistencyProof", "InclusionProof", "LogLeaf"]
