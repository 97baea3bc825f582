"""The digest of a sharded dataset: an RFC 6962 Merkle tree over its shards, sorted by path (no I/O).

``leaf = "tdprov-shard-v1" || lp(path) || lp(kind) || lp(algorithm) || raw shard digest``, hashed as an
RFC 6962 leaf; the tree is the Merkle log's (:mod:`prov_common.tlog.merkle`), so a shard's inclusion
proof uses the same verifier; ``dataset digest = H("tdprov-shards-v1" || u64(number of shards) || root)``.
"""
from __future__ import annotations

from collections.abc import Sequence

from blake3 import blake3

from prov_common.errors import BadInputError
from prov_common.hashing.raw import lp, show, u64
from prov_common.hashing.shard_model import ShardDigest
from prov_common.tlog.merkle import leaf_hash, root_from_hashes

SHARD_TAG = b"tdprov-shard-v1"
DATASET_TAG = b"tdprov-shards-v1"


def shard_leaf(shard: ShardDigest) -> bytes:
    """The RFC 6962 leaf hash of one shard: its path, kind and digest, domain-separated."""
    algorithm, _, hexdigest = shard.digest.partition(":")
    data = SHARD_TAG + lp(shard.path.encode()) + lp(shard.kind.encode()) + lp(algorithm.encode())
    return leaf_hash(data + bytes.fromhex(hexdigest))


def in_tree_order(shards: Sequence[ShardDigest]) -> list[ShardDigest]:
    """Shards sorted by path (code points, which is the order of their UTF-8 bytes); a repeated path is refused."""
    ordered = sorted(shards, key=lambda s: s.path)
    for a, b in zip(ordered, ordered[1:]):
        if a.path == b.path:
            raise BadInputError(f"shard path {a.path!r} appears twice.", fix="give every shard its own path.")
    return ordered


def dataset_digest(shards: Sequence[ShardDigest]) -> str:
    """``blake3:<hex>`` of a sharded dataset version (shards in any order: they are sorted by path)."""
    ordered = in_tree_order(shards)
    root = root_from_hashes([shard_leaf(s) for s in ordered])
    return show(blake3(DATASET_TAG + u64(len(ordered)) + root).digest())
