"""A stored object read as a stream of ranged reads, so that any store can be consumed in chunks."""
from __future__ import annotations

import io

from prov_common.store.base import Store


class RangeReader(io.RawIOBase):
    """Read ``key`` of ``store`` front to back, one :meth:`Store.get_range` per ``readinto``: a caller
    that reads with a buffer of N bytes never holds more than N bytes of the object (on S3, one
    ranged GET each). A read that comes back shorter than asked is the end of the object: no further
    request is made."""

    def __init__(self, store: Store, key: str) -> None:
        super().__init__()
        self.store, self.key, self.position, self.at_end = store, key, 0, False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        if self.at_end or not len(view):
            return 0
        data = self.store.get_range(self.key, self.position, len(view))
        n = len(data)
        self.at_end = n < len(view)
        view[:n] = data
        self.position += n
        return n
