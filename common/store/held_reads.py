"""A store that holds the bytes of chosen objects as first read, for one command: every later read of such an object
(verification after a reader, a second trace) gets those very bytes with no request of its own, so what a command
verifies is what it read and shows, and each object is read once."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prov_common.store.base import Store
from prov_common.store.errors import TOO_LARGE_FIX, ObjectTooLargeError


class HeldReads:
    """``store``, whose whole reads (``get``) of the keys ``keep`` takes are held and answered from then on; everything
    else is the store's own. ``held``: bytes read already (by another process), by key. A held object read with a
    ``limit`` below its size is an :class:`ObjectTooLargeError`, as the store raises it. Objects are write-once: held
    bytes are what the store holds, or held since a reader took them."""

    def __init__(self, store: Store, keep: Callable[[str], bool], held: Mapping[str, bytes] | None = None) -> None:
        self.store, self.uri = store, store.uri
        self.keep = keep
        self.held: dict[str, bytes] = dict(held or {})
        self.also: set[str] = set()  # keys a reader asked to hold beside those ``keep`` takes (:meth:`hold`)

    def hold(self, key: str) -> None:
        """Hold the object ``key`` too from now on, as first read whole (``get``) or in one ranged read from its start
        that gives fewer bytes than asked (the whole object): a file a reader reads that verification reads whole after
        it (a small ``events.jsonl`` an older PROV mapping's PROV is derived from), which ``keep`` does not take for
        every bundle."""
        self.also.add(key)

    def get_range(self, key: str, start: int, length: int) -> bytes:
        """``length`` bytes of ``key`` from ``start``: of the bytes held (the held object itself when they are all of
        it, not a copy), else the store's, held when they are the whole of an object :meth:`hold` names."""
        data = self.held.get(key)
        if data is not None:
            return data[start:start + length]
        data = self.store.get_range(key, start, length)
        if start == 0 and len(data) < length and key in self.also:  # the whole object, in one read
            self.held[key] = data
        return data

    def get(self, key: str, limit: int | None = None) -> bytes:
        data = self.held.get(key)
        if data is None:
            data = self.store.get(key, limit)
            if self.keep(key) or key in self.also:
                self.held[key] = data
        elif limit is not None and len(data) > limit:
            raise ObjectTooLargeError(f"object '{key}' in {self.describe()} is larger than {limit:,} bytes.", fix=TOO_LARGE_FIX)
        return data

    def held_of(self, keys: Iterable[str]) -> dict[str, bytes]:
        """The bytes held of the objects ``keys``, by key (for another process to read as this one did)."""
        return {key: self.held[key] for key in keys if key in self.held}

    def release(self, keys: Iterable[str]) -> None:
        """Drop the bytes held of the objects ``keys`` (a later read of one reads the store again, as a first read):
        a command done with some bundles (``export --verified``, batch by batch) holds no more than those it still
        reads."""
        for key in keys:
            self.held.pop(key, None)
            self.also.discard(key)

    def describe(self) -> str:
        describe = getattr(self.store, "describe", None)
        return describe() if callable(describe) else self.uri

    def __getattr__(self, name: str) -> Any:
        if name == "store":  # not set yet (unpickling): no store to ask
            raise AttributeError(name)
        return getattr(self.store, name)


def held_of(store: Store, keys: Iterable[str]) -> dict[str, bytes]:
    """:meth:`HeldReads.held_of` of ``store``; none for a store that holds nothing."""
    return store.held_of(keys) if isinstance(store, HeldReads) else {}


def hold(store: Store, key: str) -> None:
    """:meth:`HeldReads.hold` of ``store``; nothing for a store that holds nothing."""
    if isinstance(store, HeldReads):
        store.hold(key)


def release(store: Store, keys: Iterable[str]) -> None:
    """:meth:`HeldReads.release` of ``store``; nothing for a store that holds nothing."""
    if isinstance(store, HeldReads):
        store.release(keys)


def bundle_reads_held(store: Store) -> HeldReads:
    """``store`` holding each bundle's statement, manifest and PROV as first read
    (:data:`~prov_common.bundle.layout.READ_WHOLE`): a verb that reads bundles and verifies them (``lineage --checks``,
    ``record``, ``export --verified``) verifies the very bytes it shows, each of those objects read once by this
    process."""
    from prov_common.bundle.layout import is_read_whole

    return HeldReads(store, is_read_whole)
