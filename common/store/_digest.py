"""File digests for the store (BLAKE3-256, shown as ``blake3:<hex>``), from :mod:`prov_common.hashing`."""
from __future__ import annotations

from typing import IO

try:
    from prov_common.hashing import hash_bytes, hash_stream
except ImportError:  # pragma: no cover - only while the hashing package is being built
    from blake3 import blake3

    from prov_common.hashing.model import FileDigest

    def hash_bytes(data: bytes | bytearray | memoryview) -> FileDigest:  # type: ignore[misc]
        return FileDigest("blake3:" + blake3(data).hexdigest(), len(data))

    def hash_stream(fileobj: IO[bytes], chunk_size: int = 1 << 20) -> FileDigest:  # type: ignore[misc]
        h, size = blake3(), 0
        while chunk := fileobj.read(chunk_size):
            h.update(chunk)
            size += len(chunk)
        return FileDigest("blake3:" + h.hexdigest(), size)

__all__ = ["hash_bytes", "hash_stream"]
