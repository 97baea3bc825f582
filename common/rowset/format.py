"""The sorted row-set file and its Merkle root (no I/O here).

A row set holds the first ``width`` bytes of every row digest of a dataset version (duplicates kept),
sorted as big-endian numbers and cut into ``2**bits`` buckets by their top ``bits`` bits. A SHA-256
Merkle tree over the buckets (leaf ``H(0x00 || bucket bytes)``, node ``H(0x01 || left || right)``)
gives the *rows root*, which the version's ``tdprov_contentHash`` facet records, so the lineage bundle's
signature covers it. Each bucket is stored with its Merkle path, so one range read of a bucket is a
complete, verifiable answer (docs/content-hash.md, "Row sets").

File layout (integers little-endian)::

    header   64 bytes: b"TDPROVRS", version u8, width u8, bits u8, 5 zero bytes, rows u64,
             schema length u32, 4 zero bytes, tree root (32 bytes)
    schema   JSON list of [column name, logical type] (how a record becomes a row digest)
    fence    2**bits + 1 file offsets (u64): where each bucket's record starts, then the file's end
    buckets  per bucket: its Merkle path (bits x 32 bytes, leaf level first), then its digests
"""
from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from prov_common.errors import BadInputError, VerificationError
from prov_common.tlog.merkle import leaf_hash, node_hash  # the RFC 6962 hashes of the audit log

MAGIC = b"TDPROVRS"
VERSION = 1
WIDTH = 8  # bytes of each row digest kept: a false match needs a 64-bit collision
BUCKET_TARGET = 1024  # mean digests per bucket: ~8 KB at most per lookup
ROOT_DOMAIN = b"tdprov-rows-v1\x00"
PROOF_FORMAT = "tdprov-row-proof/1"
HEADER = struct.Struct("<8sBBB5xQI4x32s")
assert HEADER.size == 64
FENCE_ENTRY = 8
SCHEMA_LIMIT = 1 << 20  # the most schema bytes a lookup reads when the signed events cannot tell the exact length


def bits_for(rows: int) -> int:
    """Top bits that pick a bucket: about :data:`BUCKET_TARGET` digests per bucket."""
    return max(0, int(np.ceil(np.log2(rows / BUCKET_TARGET)))) if rows > BUCKET_TARGET else 0


def rows_root(tree_root: bytes, *, width: int, bits: int, rows: int) -> str:
    """``sha256:<hex>`` naming the row set: its tree root bound to its shape."""
    shape = bytes([width, bits]) + rows.to_bytes(8, "big")
    return "sha256:" + hashlib.sha256(ROOT_DOMAIN + shape + tree_root).hexdigest()


def bucket_of(prefix: bytes, bits: int) -> int:
    """The bucket of a (big-endian) digest prefix: its top ``bits`` bits."""
    return int.from_bytes(prefix[:8].ljust(8, b"\x00"), "big") >> (64 - bits) if bits else 0


@dataclass(frozen=True)
class Header:
    """What a row-set file says of itself."""

    width: int
    bits: int
    rows: int
    schema_length: int
    tree_root: bytes

    @property
    def fence_offset(self) -> int:
        return HEADER.size + self.schema_length

    @property
    def root(self) -> str:
        return rows_root(self.tree_root, width=self.width, bits=self.bits, rows=self.rows)

    @classmethod
    def parse(cls, data: bytes, where: str) -> "Header":
        if len(data) < HEADER.size:
            raise VerificationError(f"row set {where} is truncated ({len(data)} bytes).", fix="restore it from a replica")
        magic, version, width, bits, _rows, _slen, _root = HEADER.unpack_from(data)
        if magic != MAGIC or version != VERSION or not 1 <= width <= 16 or bits > 32:
            raise VerificationError(f"{where} is not a version-{VERSION} row set.", fix="restore it from a replica")
        return cls(width, bits, _rows, _slen, _root)


def _tree(leaves: list[bytes]) -> list[list[bytes]]:
    """Every level of the (perfect) Merkle tree, leaves first."""
    levels = [leaves]
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append([node_hash(below[i], below[i + 1]) for i in range(0, len(below), 2)])
    return levels


def _path(levels: list[list[bytes]], index: int) -> bytes:
    out = []
    for level in levels[:-1]:
        out.append(level[index ^ 1])
        index >>= 1
    return b"".join(out)


def sorted_keys(digests: np.ndarray | Sequence[np.ndarray], *, width: int = WIDTH) -> np.ndarray:
    """The row-set keys of row digests (an ``(n, 16)`` uint8 array, or several, e.g. one per chunk): the
    first ``width`` bytes of each as a big-endian number (zero-padded to 8 bytes), sorted, as a uint64
    array in this machine's byte order. The keys are made and sorted in one array (no other copy)."""
    parts = [digests] if isinstance(digests, np.ndarray) else list(digests)
    rows = sum(len(p) for p in parts)
    prefixes = np.zeros((rows, 8), dtype=np.uint8)
    at = 0
    for part in parts:
        prefixes[at:at + len(part), :width] = part[:, :width]
        at += len(part)
    keys = prefixes.view(">u8").ravel()  # big-endian numbers, as the file stores them
    keys.byteswap(inplace=True)
    keys = keys.view(keys.dtype.newbyteorder())  # the same numbers in this machine's order, same memory
    keys.sort()
    return keys


def build(digests: np.ndarray | Sequence[np.ndarray], schema_fields: Sequence[tuple[str, str]], *,
          width: int = WIDTH) -> tuple[bytearray, str]:
    """The row-set file of row digests (an ``(n, 16)`` uint8 array, or several, e.g. one per shard or
    chunk), and its rows root (:func:`sorted_keys`, then :func:`build_from_keys`)."""
    return build_from_keys(sorted_keys(digests, width=width), schema_fields, width=width)


def build_from_keys(keys: np.ndarray, schema_fields: Sequence[tuple[str, str]], *,
                    width: int = WIDTH) -> tuple[bytearray, str]:
    """The row-set file of sorted keys (:func:`sorted_keys`; keys of a ``width`` below 8 have their low
    bytes zero), and its rows root. The file is one buffer allocated at its final size
    (:func:`write_row_set` into it); besides the keys, nothing of the size of the file is held."""
    out = bytearray(file_size(len(keys), schema_fields, width=width))
    return out, write_row_set(BufferSink(out), [(keys, 2**bits_for(len(keys)))], len(keys), schema_fields, width=width)


class Sink(Protocol):
    """Where :func:`write_row_set` writes a row-set file, a part at a time."""

    def view(self, at: int, size: int) -> memoryview:
        """A writable buffer holding the file's bytes ``at .. at + size`` (zero bytes where nothing was written yet)."""

    def done(self, at: int, view: memoryview) -> None:
        """``view`` (from :meth:`view`) is filled: keep it as the file's bytes at ``at``."""


class BufferSink:
    """A row-set file built in memory, in a buffer of its final size (:func:`file_size`)."""

    def __init__(self, out: bytearray) -> None:
        self._view = memoryview(out)

    def view(self, at: int, size: int) -> memoryview:
        return self._view[at:at + size]

    def done(self, at: int, view: memoryview) -> None:
        pass  # written in place


def schema_bytes(schema_fields: Sequence[tuple[str, str]]) -> bytes:
    """The schema part of the row-set file of ``schema_fields`` (column, logical type), as :func:`write_row_set` writes it."""
    return json.dumps([list(f) for f in schema_fields], separators=(",", ":")).encode()


def file_size(rows: int, schema_fields: Sequence[tuple[str, str]], *, width: int = WIDTH) -> int:
    """Bytes of the row-set file of ``rows`` keys: it depends on nothing else."""
    bits = bits_for(rows)
    head = HEADER.size + len(schema_bytes(schema_fields)) + FENCE_ENTRY * (2**bits + 1)
    return head + 32 * bits * 2**bits + width * rows


def write_row_set(sink: Sink, ranges: Iterable[tuple[np.ndarray, int]], rows: int,
                  schema_fields: Sequence[tuple[str, str]], *, width: int = WIDTH) -> str:
    """Write the row-set file of ``rows`` sorted keys to ``sink``; its rows root. ``ranges`` gives the keys
    one bucket range at a time, in order: ``(keys, end)`` holds the sorted keys of every bucket from the
    previous range's ``end`` (0 at first) up to ``end`` (exclusive); the last ``end`` is ``2**bits_for(rows)``.
    Each range's buckets are written (keys as big-endian bytes, leaves hashed there) as one part of the
    file; then each part again with its buckets' Merkle paths; the header and the fence last. Only one
    range is held at a time."""
    bits = bits_for(rows)
    schema = schema_bytes(schema_fields)
    fence_at = HEADER.size + len(schema)
    fence = np.empty(2**bits + 1, dtype="<u8")  # where each bucket's record starts, then the file's end
    fence[0] = fence_at + FENCE_ENTRY * len(fence)
    leaves: list[bytes] = []
    parts: list[tuple[int, int]] = []  # the buckets of each part written
    bucket = written = 0
    for keys, end in ranges:
        first = np.arange(bucket, end, dtype=np.uint64)
        starts = first << np.uint64(64 - bits) if bits else np.zeros(len(first), dtype=np.uint64)
        bounds = np.append(np.searchsorted(keys, starts, side="left"), len(keys)).astype(np.int64)
        beyond = end < 2**bits and len(keys) and int(keys[-1]) >> (64 - bits) >= end
        if end <= bucket or bounds[0] != 0 or beyond:
            raise ValueError(f"row-set range of buckets {bucket} to {end} holds keys of other buckets")
        sizes = 32 * bits + width * np.diff(bounds)  # each bucket's record: its path, then its keys
        np.cumsum(sizes, out=fence[bucket + 1:end + 1])
        fence[bucket + 1:end + 1] += fence[bucket]
        part_at = int(fence[bucket])
        part = sink.view(part_at, int(fence[end]) - part_at)
        for i, (lo, hi) in enumerate(zip(bounds[:-1].tolist(), bounds[1:].tolist())):
            at = int(fence[bucket + i]) - part_at + 32 * bits
            _put_keys(part, at, keys[lo:hi], width)
            leaves.append(leaf_hash(part[at:at + width * (hi - lo)]))
        sink.done(part_at, part)
        parts.append((bucket, end))
        bucket, written = end, written + len(keys)
    if bucket != 2**bits or written != rows:
        raise ValueError(f"row-set ranges gave {written} keys in {bucket} buckets, not {rows} in {2**bits}")
    levels = _tree(leaves)
    for first, end in parts if bits else ():  # each part again, with the Merkle paths of its buckets
        part_at = int(fence[first])
        part = sink.view(part_at, int(fence[end]) - part_at)
        for i in range(first, end):
            at = int(fence[i]) - part_at
            part[at:at + 32 * bits] = _path(levels, i)
        sink.done(part_at, part)
    head = sink.view(0, int(fence[0]))
    head[:HEADER.size] = HEADER.pack(MAGIC, VERSION, width, bits, rows, len(schema), levels[-1][0])
    head[HEADER.size:fence_at] = schema
    head[fence_at:] = fence.tobytes()
    sink.done(0, head)
    return rows_root(levels[-1][0], width=width, bits=bits, rows=rows)


def _put_keys(out: bytearray | memoryview, at: int, keys: np.ndarray, width: int) -> None:
    """Write ``keys`` into ``out`` at ``at`` as their first ``width`` big-endian bytes each."""
    if width == 8:
        np.frombuffer(out, dtype=">u8", count=len(keys), offset=at)[:] = keys  # swaps bytes as it copies
    else:
        big = keys.astype(">u8").view(np.uint8).reshape(-1, 8)
        np.frombuffer(out, dtype=np.uint8, count=width * len(keys), offset=at).reshape(-1, width)[:] = big[:, :width]


@dataclass(frozen=True)
class RowProof:
    """A bucket of a row set with its Merkle path: proves that a row digest is, or is not, in the set."""

    rows_root: str
    rows: int
    width: int
    bits: int
    bucket: int
    row_digest: bytes  # the first ``width`` bytes of the record's row digest
    digests: bytes  # the bucket's sorted digests
    path: bytes  # bits x 32 bytes, leaf level first

    @property
    def matches(self) -> int:
        w = self.width
        return sum(1 for i in range(0, len(self.digests), w) if self.digests[i:i + w] == self.row_digest)

    @property
    def contained(self) -> bool:
        return self.matches > 0

    def computed_root(self) -> str:
        node, index = leaf_hash(self.digests), self.bucket
        for i in range(self.bits):
            sibling = self.path[32 * i:32 * i + 32]
            node = node_hash(sibling, node) if index & 1 else node_hash(node, sibling)
            index >>= 1
        return rows_root(node, width=self.width, bits=self.bits, rows=self.rows)

    def to_dict(self) -> dict[str, Any]:
        w = self.width
        return {
            "format": PROOF_FORMAT, "rowsRoot": self.rows_root, "rows": self.rows, "width": w, "bits": self.bits,
            "bucket": self.bucket, "rowDigest": self.row_digest.hex(), "contained": self.contained,
            "bucketDigests": [self.digests[i:i + w].hex() for i in range(0, len(self.digests), w)],
            "path": [self.path[i:i + 32].hex() for i in range(0, len(self.path), 32)],
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> "RowProof":
        try:
            if doc.get("format") != PROOF_FORMAT:
                raise ValueError(f"format {doc.get('format')!r}")
            return cls(str(doc["rowsRoot"]), int(doc["rows"]), int(doc["width"]), int(doc["bits"]), int(doc["bucket"]),
                       bytes.fromhex(doc["rowDigest"]), bytes.fromhex("".join(doc["bucketDigests"])),
                       bytes.fromhex("".join(doc["path"])))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BadInputError(f"not a {PROOF_FORMAT} proof ({exc}).", fix="pass the 'proof' object that 'tdprov contains' printed") from exc

    def check(self, expected_root: str) -> None:
        """Raise VerificationError unless the proof is well formed and leads to ``expected_root``."""
        w, keys = self.width, [self.digests[i:i + self.width] for i in range(0, len(self.digests), self.width)]
        problems = []
        if len(self.digests) % w or len(self.path) != 32 * self.bits or len(self.row_digest) != w:
            problems.append("sizes do not match width and bits")
        if keys != sorted(keys) or any(bucket_of(k, self.bits) != self.bucket for k in keys):
            problems.append("the bucket is not sorted or holds digests of another bucket")
        if bucket_of(self.row_digest, self.bits) != self.bucket:
            problems.append("the row digest belongs to another bucket")
        if self.computed_root() != expected_root or self.rows_root != expected_root:
            problems.append(f"the path leads to {self.computed_root()}, not {expected_root}")
        if problems:
            raise VerificationError("row proof does not verify: " + "; ".join(problems) + ".",
                                    fix="the row set or the proof was changed; check the bundle with 'tdprov verify'")
