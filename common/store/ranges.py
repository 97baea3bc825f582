"""A stored object read as a stream of ranged reads, so that any store can be consumed in chunks."""
from __future__ import annotations

import io

from prov_common.store.base import Store
from prov_common.store.errors import ObjectTooLargeError


class RangeReader(io.RawIOBase):
    """Read ``key`` of ``store`` front to back, one :meth:`Store.get_range` per ``readinto``: a caller
    that reads with a buffer of N bytes never holds more than N bytes of the object (on S3, one
    ranged GET each). A read that comes back shorter than asked is the end of the object: no further
    request is made. ``limit``: the most bytes the object may hold; a read that passes it raises
    :class:`~prov_common.store.errors.ObjectTooLargeError` (at most one buffer past it is read)."""

    def __init__(self, store: Store, key: str, limit: int | None = None) -> None:
        super().__init__()
        self.store, self.key, self.position, self.at_end, self.limit = store, key, 0, False, limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        if self.at_end or not len(view):
            return 0
        data = self.store.get_range(self.key, self.position, len(view))
        n = len(data)
        if self.limit is not None and self.position + n > self.limit:
            raise ObjectTooLargeError(f"object '{self.key}' in {self.store.describe()} is larger than {self.limit:,} bytes.")
        self.at_end = n < len(view)
        view[:n] = data
        self.position += n
        return n
