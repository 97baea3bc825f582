"""Log leaves and checkpoints as plain data (no I/O, no signing).

A leaf records one lineage bundle: its run id, the digest of its manifest, the digest of its signed
statement, and the store key (cursor) it was listed under. The leaf's bytes are its RFC 8785 JSON,
which is exactly what is stored and what is hashed into the tree.

A checkpoint commits to the tree after ``size`` leaves: root, time, the digest of the previous
checkpoint (so checkpoints form a chain), the compact range ("frontier") that lets the next audit
append without re-reading old leaves, and the id of the key that signs it.
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

from prov_common.canonical_json import canonical_bytes, loads
from prov_common.errors import VerificationError
from prov_common.tlog import merkle

LOG_ORIGIN = "tdprov-log/v1"
CHECKPOINT_PAYLOAD_TYPE = "application/vnd.tdprov.checkpoint+json"


def sha256_digest(data: bytes) -> str:
    """``sha256:<hex>`` of ``data`` (the log's own digests follow RFC 6962 and use SHA-256)."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _require(doc: dict[str, Any], name: str, kind: type | tuple[type, ...], what: str) -> Any:
    value = doc.get(name)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        raise VerificationError(f"{what}: field '{name}' is missing or has the wrong type", fix="restore the object from a backup; it was altered")
    return value


@dataclass(frozen=True)
class LogLeaf:
    """One bundle in the log."""

    run_id: str
    manifest_digest: str
    statement_digest: str
    index_key: str

    def to_dict(self) -> dict[str, str]:
        return {"runId": self.run_id, "manifestDigest": self.manifest_digest, "statementDigest": self.statement_digest, "indexKey": self.index_key}

    def to_bytes(self) -> bytes:
        return canonical_bytes(self.to_dict())

    @property
    def hash(self) -> bytes:
        return merkle.leaf_hash(self.to_bytes())

    @classmethod
    def from_dict(cls, doc: Any, what: str = "log leaf") -> "LogLeaf":
        if not isinstance(doc, dict) or set(doc) != {"runId", "manifestDigest", "statementDigest", "indexKey"}:
            raise VerificationError(f"{what} is not a log leaf object", fix="restore the object; it was altered")
        return cls(*(_require(doc, k, str, what) for k in ("runId", "manifestDigest", "statementDigest", "indexKey")))

    @classmethod
    def from_bytes(cls, data: bytes, what: str = "log leaf") -> "LogLeaf":
        try:
            doc = loads(data)
        except ValueError as exc:
            raise VerificationError(f"{what} is not JSON ({exc})", fix="restore the object; it was altered") from exc
        leaf = cls.from_dict(doc, what)
        if leaf.to_bytes() != data:
            raise VerificationError(f"{what} is not in canonical form", fix="restore the object; it was altered")
        return leaf


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement of the log's size and root at a time."""

    size: int
    root: str  # hex of the RFC 6962 root
    time: str  # RFC 3339 UTC
    previous: str | None  # sha256 digest of the previous checkpoint object, None for the first
    frontier: tuple[str, ...] = field(default_factory=tuple)
    keyid: str = ""
    origin: str = LOG_ORIGIN

    def payload(self) -> bytes:
        """Canonical JSON that gets signed."""
        doc = asdict(self)
        doc["frontier"] = list(self.frontier)
        return canonical_bytes(doc)

    @classmethod
    def from_payload(cls, data: bytes, what: str = "checkpoint") -> "Checkpoint":
        try:
            doc = loads(data)
        except ValueError as exc:
            raise VerificationError(f"{what} payload is not JSON ({exc})", fix="restore the checkpoint; it was altered") from exc
        if not isinstance(doc, dict):
            raise VerificationError(f"{what} payload is not a JSON object", fix="restore the checkpoint; it was altered")
        previous = doc.get("previous")
        if previous is not None and not isinstance(previous, str):
            raise VerificationError(f"{what}: field 'previous' has the wrong type", fix="restore the checkpoint; it was altered")
        cp = cls(
            size=_require(doc, "size", int, what),
            root=_require(doc, "root", str, what),
            time=_require(doc, "time", str, what),
            previous=previous,
            frontier=tuple(_require(doc, "frontier", list, what)),
            keyid=_require(doc, "keyid", str, what),
            origin=_require(doc, "origin", str, what),
        )
        if cp.origin != LOG_ORIGIN:
            raise VerificationError(f"{what} belongs to log '{cp.origin}', not '{LOG_ORIGIN}'")
        cp.check_frontier()
        return cp

    @property
    def root_bytes(self) -> bytes:
        return bytes.fromhex(self.root)

    @property
    def frontier_bytes(self) -> list[bytes]:
        return [bytes.fromhex(h) for h in self.frontier]

    def check_frontier(self) -> None:
        """The frontier must describe a tree of ``size`` leaves whose root is ``root``."""
        try:
            nodes = self.frontier_bytes
            bytes.fromhex(self.root)
        except (ValueError, TypeError) as exc:  # TypeError: a frontier that holds a number, null or a list, not text
            raise VerificationError(f"checkpoint of size {self.size}: root or frontier is not hex",
                                    fix="the checkpoint was altered; restore it from a backup") from exc
        if len(nodes) != bin(self.size).count("1") or merkle.frontier_root(nodes) != self.root_bytes:
            raise VerificationError(
                f"checkpoint of size {self.size}: its frontier does not hash to its root",
                fix="the checkpoint was altered; restore it from a backup",
            )

    def extend(self, leaf_hashes: list[bytes], *, time: str, previous: str, keyid: str) -> "Checkpoint":
        """The next checkpoint after appending ``leaf_hashes`` (reads no old leaves)."""
        frontier = merkle.frontier_append(self.frontier_bytes, leaf_hashes, self.size)
        return Checkpoint(
            size=self.size + len(leaf_hashes),
            root=merkle.frontier_root(frontier).hex(),
            time=time,
            previous=previous,
            frontier=tuple(h.hex() for h in frontier),
            keyid=keyid,
        )


EMPTY_CHECKPOINT = Checkpoint(size=0, root=merkle.EMPTY_ROOT.hex(), time="", previous=None)


@dataclass(frozen=True)
class InclusionProof:
    """Proof that ``leaf`` is entry ``index`` of the tree named by ``checkpoint``."""

    leaf: LogLeaf
    index: int
    size: int
    root: str
    path: tuple[str, ...]

    def verify(self) -> None:
        merkle.verify_inclusion(self.leaf.hash, self.index, self.size, [bytes.fromhex(h) for h in self.path], bytes.fromhex(self.root))


@dataclass(frozen=True)
class ConsistencyProof:
    """Proof that the tree of ``new_size`` extends the tree of ``old_size``."""

    old_size: int
    new_size: int
    old_root: str
    new_root: str
    path: tuple[str, ...]

    def verify(self) -> None:
        merkle.verify_consistency(
            self.old_size, self.new_size, bytes.fromhex(self.old_root), bytes.fromhex(self.new_root), [bytes.fromhex(h) for h in self.path]
        )
