"""The set of public keys whose signatures are trusted, and the retired keys that count only for what the
log fixed before their cut-off (no I/O here)."""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace

from prov_common.signing.keys import PublicKey


@dataclass(frozen=True)
class RetiredKey:
    """A key that was trusted until it was lost or replaced, retired at log size ``cutoff``: what it signed counts
    only where the log fixed it by then (a bundle logged at a leaf index below ``cutoff``, an audit object of a
    checkpoint of at most ``cutoff`` leaves), so what a thief signs with it later never does."""

    key: PublicKey
    cutoff: int

    @property
    def key_id(self) -> str:
        return self.key.key_id


@dataclass
class TrustStore:
    """Trusted public keys by key id; ``retired`` keys by key id; ``logged``: the log position (leaf index + 1)
    of each logged object by the ``sha256:<hex>`` of its bytes, which decides whether a retired key's signature
    on it counts (see :meth:`position_of`); ``retired_count`` False: no retired key's signature counts at all (on an
    object that appeared after the keys were retired, see :meth:`without_retired`)."""

    keys: dict[str, PublicKey] = field(default_factory=dict)
    retired: dict[str, RetiredKey] = field(default_factory=dict)
    logged: Mapping[str, int] = field(default_factory=dict)
    retired_count: bool = True

    @classmethod
    def of(cls, keys: Iterable[PublicKey], retired: Iterable[RetiredKey] = ()) -> "TrustStore":
        return cls({k.key_id: k for k in keys}, {r.key_id: r for r in retired})

    def add(self, key: PublicKey) -> None:
        self.keys.setdefault(key.key_id, key)

    def retire(self, key: PublicKey, cutoff: int) -> None:
        """Count ``key`` only for what the log fixed by log size ``cutoff`` (the earliest cut-off given wins)."""
        known = self.retired.get(key.key_id)
        if known is None or cutoff < known.cutoff:
            self.retired[key.key_id] = RetiredKey(key, cutoff)

    def get(self, key_id: str) -> PublicKey | None:
        return self.keys.get(key_id)

    def logged_at(self, positions: Mapping[str, int]) -> "TrustStore":
        """This trust with the log positions of more objects (``sha256:<hex>`` of the bytes -> leaf index + 1; the
        lowest position of an object logged twice wins)."""
        merged = dict(self.logged)
        for digest, position in positions.items():
            merged[digest] = min(position, merged.get(digest, position))
        return replace(self, logged=merged)

    def without_retired(self) -> "TrustStore":
        """This trust for objects that appeared after the keys were retired: a retired key's signature on them is a
        finding whatever log size they claim."""
        return replace(self, retired_count=False)

    def position_of(self, digest: str) -> int | None:
        """The log size by which the log fixed the object of ``digest`` (``sha256:<hex>``), None when not logged."""
        return self.logged.get(digest)

    def __contains__(self, key_id: object) -> bool:
        return key_id in self.keys

    def __iter__(self) -> Iterator[PublicKey]:
        return iter(self.keys.values())

    def __len__(self) -> int:
        return len(self.keys)
