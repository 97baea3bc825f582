"""A stored object read as a stream of ranged reads, so that any store can be consumed in chunks."""
from __future__ import annotations

import io

from prov_common.store.base import Store


class RangeReader(io.RawIOBase):
    """Read ``key`` of ``store`` front to back, one :meth:`Store.get_range` per ``readinto``: a caller
    that reads with a buffer of N bytes never holds more than N bytes of the object (on S3, one
    ranged GET each)."""

    def __init__(self, store: Store, key: str) -> None:
        super().__init__()
        self.store, self.key, self.position = store, key, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        data = self.store.get_range(self.key, self.position, len(view)) if len(view) else b""
        n = len(data)
        view[:n] = data
        self.position += n
        return n
