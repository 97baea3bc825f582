"""Bounded memory of a long-lived process: a map that keeps its newest entries only."""
from __future__ import annotations

from collections import OrderedDict
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


def keep_newest(kept: OrderedDict[K, V], key: K, value: V, bound: int) -> list[tuple[K, V]]:
    """Keep ``key`` as the newest of ``kept`` (with ``value``), and let go of the oldest past ``bound``: those let go,
    oldest first."""
    kept[key] = value
    kept.move_to_end(key)
    return [kept.popitem(last=False) for _ in range(len(kept) - bound)]
