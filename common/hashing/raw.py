"""BLAKE3 of plain bytes and streams, shown as ``blake3:<hex>``. Needs only ``blake3``: no pandas or
pyarrow, so the outbox, snapshots and bundles can hash bytes without loading them."""
from __future__ import annotations

import hashlib
import struct
from typing import IO

from blake3 import blake3

from prov_common.hashing.model import FileDigest
from prov_common.mapped import parts

ALGORITHM = "blake3"
CHUNK = 1 << 20


def u64(n: int) -> bytes:
    """``n`` as 8 bytes, little-endian: the integers inside every digest's input (content-hash.md)."""
    return struct.pack("<Q", n)


def lp(data: bytes) -> bytes:
    """Length-prefixed bytes: u64 little-endian length, then the bytes."""
    return u64(len(data)) + data


def show(digest: bytes) -> str:
    """``blake3:<hex>``."""
    return f"{ALGORITHM}:{digest.hex()}"


def blake3_digest(data: bytes | bytearray | memoryview) -> str:
    """``blake3:<hex>`` of ``data``; a view of a mapped file (a row set's) is hashed a part at a time, each part's
    pages given back once hashed (:func:`~prov_common.mapped.parts`)."""
    if isinstance(data, bytes):
        return show(blake3(data, max_threads=blake3.AUTO).digest())
    h = blake3(max_threads=blake3.AUTO)
    for part in parts(data):
        h.update(part)
    return show(h.digest())


def short_digest(data: bytes) -> str:
    """The first 32 hex of the BLAKE3 of ``data``: the digest naming a staged event (its canonical JSON) or a refused
    record in their keys."""
    return blake3_digest(data).split(":", 1)[1][:32]


def hash_bytes(data: bytes | bytearray | memoryview) -> FileDigest:
    """BLAKE3-256 of a bytes-like object."""
    view = memoryview(data)
    return FileDigest(blake3_digest(view), view.nbytes)


def hash_stream(fileobj: IO[bytes], chunk_size: int = CHUNK, *, sha256: bool = False) -> FileDigest:
    """BLAKE3-256 of everything a binary file object yields, read in chunks; with ``sha256`` the same
    pass also gives the SHA-256 of the bytes (``FileDigest.file_sha256``)."""
    h = blake3()
    h2 = hashlib.sha256() if sha256 else None
    size = 0
    buf = bytearray(chunk_size)
    view = memoryview(buf)
    readinto = getattr(fileobj, "readinto", None)
    while True:
        if readinto is not None:
            n = readinto(buf)
            data = view[:n] if n else b""
        else:
            data = fileobj.read(chunk_size)
            n = len(data)
        if not n:
            break
        h.update(data)
        if h2 is not None:
            h2.update(data)
        size += n
    return FileDigest(show(h.digest()), size, file_sha256=None if h2 is None else h2.hexdigest())
