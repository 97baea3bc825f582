"""The store interface: write-once objects under keys, in a local folder or S3 (no backend code here)."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from prov_common.store.buffers import Buffer

if TYPE_CHECKING:
    from prov_common.store._base import ObjectInfo


@runtime_checkable
class Store(Protocol):
    """A write-once object store.

    Keys are relative ``/``-separated paths (validated: no ``..``, no leading ``/``).
    ``put`` creates an object and never changes one: identical bytes again is a no-op that returns
    ``False``; other bytes raise :class:`~prov_common.errors.ObjectConflictError`. It takes bytes, a bytearray or
    a memoryview, read in place (:mod:`prov_common.store.buffers`).
    ``list`` yields keys in lexicographic order, optionally only those after ``start_after``.
    """

    uri: str

    def put(self, key: str, data: Buffer) -> bool: ...

    def get(self, key: str, limit: int | None = None) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str = "", *, start_after: str | None = None) -> Iterator[str]: ...

    def list_info(self, prefix: str = "", *, start_after: str | None = None,
                  tags_for: Callable[[str], bool] | None = None) -> Iterator[ObjectInfo]:
        """Like ``list``, with each object's size and tag (S3 ETag; a local file's mtime and inode);
        ``tags_for`` names the keys that need them where each costs a request or a stat (local)."""
        ...

    def put_file(self, key: str, path: Path) -> bool: ...

    def get_range(self, key: str, start: int, length: int) -> bytes:
        """``length`` bytes of ``key`` from offset ``start`` (one ranged GET on S3)."""
        ...

    def get_file(self, key: str, path: Path) -> None: ...

    def describe(self) -> str:
        """One line naming the store for messages, e.g. ``local folder /data/.tdprov``."""
        ...

    def check_writable(self, prefix: str) -> None:
        """Raise StoreError unless this store lets these credentials create objects under ``prefix``."""
        ...

    def check_write_once(self) -> None:
        """Raise StoreError if this store cannot refuse a second writer (e.g. an S3-compatible
        server that ignores ``If-None-Match``)."""
        ...

    def refuses_rewrite(self, key: str, data: bytes) -> bool:
        """Whether a second create of ``key``, which holds ``data``, is refused: one create of those same bytes, so
        that a store that accepts it (no write-once) is left holding what it held."""
        ...
