"""A real local store that counts the objects read from it, to prove a verb reads each object once."""
from __future__ import annotations

import collections
from pathlib import Path

from prov_common.store.local import LocalStore


class CountingStore(LocalStore):
    """:class:`LocalStore` that counts ``get`` calls per key."""

    def __init__(self, root: str | Path) -> None:
        super().__init__(root)
        self.gets: collections.Counter[str] = collections.Counter()

    def get(self, key: str) -> bytes:
        self.gets[key] += 1
        return super().get(key)
