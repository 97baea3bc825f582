"""A real local store that counts the objects read from it, to prove a verb reads each object once."""
from __future__ import annotations

import collections
from collections.abc import Callable, Iterator
from pathlib import Path

from prov_common.store.local import LocalStore


class CountingStore(LocalStore):
    """:class:`LocalStore` that counts ``get`` calls per key, records each ranged read per key, and counts listings
    per prefix as the folder is listed (one answered from a job's listing memo lists nothing)."""

    def __init__(self, root: str | Path) -> None:
        super().__init__(root)
        self.gets: collections.Counter[str] = collections.Counter()
        self.ranges: collections.defaultdict[str, list[tuple[int, int]]] = collections.defaultdict(list)
        self.lists: collections.Counter[str] = collections.Counter()

    def get(self, key: str, limit: int | None = None) -> bytes:
        self.gets[key] += 1
        return super().get(key, limit)

    def get_range(self, key: str, start: int, length: int) -> bytes:
        data = super().get_range(key, start, length)
        self.ranges[key].append((start, len(data)))
        return data

    def _list(self, prefix: str, start_after: str | None) -> Iterator[str]:
        self.lists[prefix] += 1
        return super()._list(prefix, start_after)

    def _list_info(self, prefix: str, start_after: str | None, tags_for: Callable[[str], bool] | None = None) -> Iterator:
        self.lists[prefix] += 1
        return super()._list_info(prefix, start_after, tags_for)
