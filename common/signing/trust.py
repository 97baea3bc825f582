"""The set of public keys whose signatures are trusted (no I/O here)."""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from prov_common.signing.keys import PublicKey


@dataclass
class TrustStore:
    """Trusted public keys by key id."""

    keys: dict[str, PublicKey] = field(default_factory=dict)

    @classmethod
    def of(cls, keys: Iterable[PublicKey]) -> "TrustStore":
        return cls({k.key_id: k for k in keys})

    def add(self, key: PublicKey) -> None:
        self.keys.setdefault(key.key_id, key)

    def get(self, key_id: str) -> PublicKey | None:
        return self.keys.get(key_id)

    def __contains__(self, key_id: object) -> bool:
        return key_id in self.keys

    def __iter__(self) -> Iterator[PublicKey]:
        return iter(self.keys.values())

    def __len__(self) -> int:
        return len(self.keys)
