"""Listings taken once and handed to every later reader of the same keys, for the length of one job (an audit).

A listing a reader took in full is kept by its prefix; a later listing of that prefix, or of a longer one, is answered
from it (filtered), with no request. A write through the store forgets every kept listing that could show the key
written, whatever the write's outcome, so a listing taken before a write never hides it from a reader after it; but an
object the store's create-if-absent made (absent until then) is added to them instead, so the job lists no prefix
again to see what it wrote itself, and a write another writer's object at that key refused still forgets them. A
listing still under way when a write happens is not kept. Writes by others are seen by the next job, as a single
listing of the store would see them, or by a later listing of a prefix the job was told another writer wrote to
(:func:`forget_listings`). No I/O here: the store consults and feeds it (:mod:`prov_common.store._base`).

Memory is bounded: a listing of more than :data:`MAX_KEPT_OBJECTS` objects is not kept (it is listed again when asked
for again, as without a memo), nor one that would take the memo past :data:`MAX_MEMO_OBJECTS` (about 0.5 KB an object
kept), so a store of millions of objects costs its audit no more memory than before; the small prefixes read by several
readers (the log's checkpoints and leaves, the state, the catalog) are the ones kept.
"""
from __future__ import annotations

import contextlib
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prov_common.store._base import ObjectInfo

TagsFor = Callable[[str], bool] | None

MAX_KEPT_OBJECTS = 20_000
"""A listing of more objects is not kept (listed again when asked for again)."""
MAX_MEMO_OBJECTS = 100_000
"""The objects all kept listings of one job hold at most (about 50 MB)."""


def no_tags(_key: str) -> bool:
    """The ``tags_for`` of a listing of keys alone (``Store.list``): no size or tag asked for (a local folder stats no
    file), so any kept listing answers it. ``None`` asks for every object's, as a backend takes it."""
    return False


@dataclass(frozen=True)
class _Kept:
    """One listing in full (from after key ``after``, when given): its objects in order, the ``tags_for`` it was taken
    with, and whether every object in it came with its size and tag (then it answers a listing asked with any
    ``tags_for``)."""

    infos: tuple[ObjectInfo, ...]
    after: str | None
    tags_for: TagsFor
    tagged: bool
    ordered: tuple[str, ...] | None  # the keys, when the listing gave them in ascending order (as stores list): searched

    def answers(self, start_after: str | None, tags_for: TagsFor) -> bool:
        begun = self.after is None or (start_after is not None and start_after >= self.after)
        return begun and (tags_for is no_tags or tags_for is self.tags_for or self.tagged)

    def holds(self, key: str) -> bool:
        """Whether ``key`` is in it (by bisection in an ordered listing)."""
        if self.ordered is None:
            return any(i.key == key for i in self.infos)
        at = bisect_left(self.ordered, key)
        return at < len(self.ordered) and self.ordered[at] == key

    def adding(self, key: str) -> _Kept | None:
        """This listing with ``key``, just created, in its place (None when it cannot say so: given out of order, or
        showing ``key`` already), as one of keys alone: it answers a listing asked with no size or tag only."""
        from prov_common.store._base import ObjectInfo

        if self.after is not None and key <= self.after:
            return self
        if self.ordered is None or self.holds(key) or len(self.infos) >= MAX_KEPT_OBJECTS:
            return None
        at = bisect_left(self.ordered, key)
        return _Kept((*self.infos[:at], ObjectInfo(key, -1, ""), *self.infos[at:]), self.after, no_tags, False,
                     (*self.ordered[:at], key, *self.ordered[at:]))

    def select(self, prefix: str, start_after: str | None) -> list[ObjectInfo]:
        """Its objects under ``prefix`` (after ``start_after``): found by bisection in an ordered listing, so a folder's
        listing answered from one of the whole store costs what the folder holds, not what the store does."""
        if self.ordered is None:
            return [i for i in self.infos if i.key.startswith(prefix) and (start_after is None or i.key > start_after)]
        return list(self.infos[listed_under(self.ordered, prefix, start_after)])


def listed_under(ordered: Sequence[str], prefix: str, start_after: str | None = None) -> slice:
    """Where in ``ordered`` (keys in ascending order, as stores list them) the keys under ``prefix`` after
    ``start_after`` are: a store's listing of them answered from one already made, found by bisection (it costs what the
    prefix holds, not what the listing does)."""
    at = bisect_left(ordered, prefix)
    if start_after is not None:
        at = max(at, bisect_right(ordered, start_after))
    end = at
    while end < len(ordered) and ordered[end].startswith(prefix):
        end += 1
    return slice(at, end)


class ListingMemo:
    """The listings one job took in full, by prefix (thread-safe: a job's threads share it)."""

    def __init__(self) -> None:
        self._kept: dict[str, _Kept] = {}
        self._writes = 0  # writes so far: a listing taken across one is not kept
        self._lock = threading.Lock()

    def answer(self, prefix: str, start_after: str | None, tags_for: TagsFor) -> list[ObjectInfo] | None:
        """The listing of ``prefix`` (after ``start_after``) from a kept listing that holds it, or None."""
        with self._lock:
            kept = next((k for p, k in self._kept.items() if prefix.startswith(p) and k.answers(start_after, tags_for)), None)
        return None if kept is None else kept.select(prefix, start_after)

    def started(self) -> int:
        """A mark to hand to :meth:`keep` once the listing begun now is complete."""
        with self._lock:
            return self._writes

    def keep(self, prefix: str, start_after: str | None, tags_for: TagsFor, infos: Iterable[ObjectInfo], mark: int) -> None:
        """Keep the listing of ``prefix`` (after ``start_after``) begun at ``mark`` and taken to its end, unless a write
        happened since."""
        infos = tuple(infos)
        if len(infos) > MAX_KEPT_OBJECTS:  # read as a module global: a test may lower it
            return
        keys = tuple(i.key for i in infos)
        ordered = keys if all(a < b for a, b in zip(keys, keys[1:])) else None
        with self._lock:
            held = sum(len(k.infos) for p, k in self._kept.items() if p != prefix)
            if self._writes == mark and held + len(infos) <= MAX_MEMO_OBJECTS:
                self._kept[prefix] = _Kept(infos, start_after, tags_for, all(i.size >= 0 for i in infos), ordered)

    def wrote(self, key: str, *, held: bool = False, created: bool = False) -> None:
        """A write of ``key`` (made, refused or failed): forget every listing that could show it. ``held``: the write was
        refused because ``key`` already held the very bytes written, so a listing that shows ``key`` still tells the
        truth and is kept (a write probe of a prefix, the same object written again). ``created``: the store's
        create-if-absent made ``key``, which was absent then: a listing that could show it and does not, in order, is
        kept with ``key`` added (as a listing of keys alone then, its size and tag unknown), so a reader lists what it
        wrote no second time; any other is forgotten."""
        with self._lock:
            self._writes += 1
            kept, room = {}, MAX_MEMO_OBJECTS - sum(len(k.infos) for k in self._kept.values())
            for p, k in self._kept.items():
                if not key.startswith(p) or (held and k.holds(key)):
                    kept[p] = k
                elif created and room > 0 and (grown := k.adding(key)) is not None:
                    kept[p], room = grown, room - (len(grown.infos) - len(k.infos))
            self._kept = kept

    def forget(self, prefix: str) -> None:
        """Forget every kept listing that could show a key under ``prefix`` (or hold some of them), and keep none under
        way: another writer wrote there since, which a later listing is to show."""
        with self._lock:
            self._writes += 1
            self._kept = {p: k for p, k in self._kept.items() if not (prefix.startswith(p) or p.startswith(prefix))}


def memo_listings(store: object) -> contextlib.AbstractContextManager[None]:
    """``store.memo_listings()`` (:class:`~prov_common.store._base.BaseStore`), or nothing for a store without one."""
    memo = getattr(store, "memo_listings", None)
    return memo() if memo is not None else contextlib.nullcontext()


def forget_listings(store: object, prefix: str) -> None:
    """``store.forget_listings(prefix)`` (:class:`~prov_common.store._base.BaseStore`): its next listing of ``prefix`` asks
    the store; nothing for a store without a memo."""
    forget = getattr(store, "forget_listings", None)
    if forget is not None:
        forget(prefix)
