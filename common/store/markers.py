"""What restores an object found missing that a delete marker hides (a versioned S3 bucket): the fix that
``tdprov verify`` and ``tdprov audit`` give, asked of the store a bounded number of times."""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from prov_common.store.base import Store
from prov_common.store.errors import StoreError

if TYPE_CHECKING:
    from prov_common.store.s3 import DeleteMarker, KeptVersions, SealedVersion

MARKERS_ASKED = 100
"""How many missing objects one verification or audit asks the store about a delete marker (one request each): a
store emptied of thousands of objects is not asked thousands of times; the rest keep their fix to restore from a
backup."""
VERSIONS_READ = 10
"""How many versions kept under one key's delete markers are read (newest first, those of the size sealed) to find the
one holding the bytes sealed, by their digest; the fix says where the rest are listed."""


class DeleteMarkers:
    """The delete markers of ``store`` that hide missing objects, each key asked once, at most :data:`MARKERS_ASKED`
    keys; a store that cannot tell (a local folder) is asked nothing."""

    def __init__(self, store: Store) -> None:
        self._find = getattr(store, "delete_marker", None)
        self._versions = getattr(store, "retained_versions", None)
        self._asked: dict[str, DeleteMarker | None] = {}

    def fix(self, key: str, then: str, etag: str | None = None, sealed: tuple[str, int | None] | None = None) -> str | None:
        """The fix that removes the delete marker hiding ``key`` and what to do ``then`` (``etag``: that of the bytes it
        held when first listed, :meth:`~prov_common.store.s3.DeleteMarker.fix`; ``sealed``: the digest and size of the
        bytes sealed, which the versions kept are read to find, :func:`holding`); None when no marker hides it, the
        store cannot tell, or :data:`MARKERS_ASKED` other keys were asked already."""
        if self._find is None:
            return None
        if key not in self._asked:
            if len(self._asked) >= MARKERS_ASKED:
                return None
            self._asked[key] = self._find(key)
        marker = self._asked[key]
        if marker is None:
            return None
        found = None if sealed is None or self._versions is None or not marker.kept else holding(
            marker, self._versions, key, *sealed)
        return marker.fix(then, etag, found)


def holding(marker: "DeleteMarker | KeptVersions",
            versions: Callable[[str, list[str]], Generator[tuple[str, BinaryIO], None, None]],
            key: str, digest: str, size: int | None) -> "SealedVersion | None":
    """The version of ``key`` kept under ``marker`` whose bytes hash to ``digest``, found by reading, newest first, those
    listed with ``size`` (or with none: a version of another size does not hold them), at most :data:`VERSIONS_READ`,
    each by its version id (``versions``: the store's ``retained_versions``) and streamed no further than ``size`` and
    one byte (when None, as a manifest, found by its statement's digest: no further than
    :data:`~prov_common.bundle.layout.SMALL_OBJECT_LIMIT`, the bound verify reads it by); None when they cannot be read
    (the fix is then the marker's alone)."""
    from prov_common.bundle.layout import SMALL_OBJECT_LIMIT

    try:
        return read_for(marker, versions, key, digest, size, limit=(SMALL_OBJECT_LIMIT if size is None else size) + 1)
    except StoreError:
        return None


def read_for(kept: "DeleteMarker | KeptVersions",
             versions: Callable[[str, list[str]], Generator[tuple[str, BinaryIO], None, None]],
             key: str, digest: str, size: int | None, *, limit: int | None = None,
             into: Path | None = None) -> "SealedVersion":
    """As :func:`holding`, raising the store's error when a version cannot be read: the versions of ``key`` that ``kept``
    lists (:meth:`~prov_common.store.s3.S3Store.kept_versions`, a delete marker's) read for the one hashing to
    ``digest``, those of ``size`` (or listed with none) alone, newest first, at most :data:`VERSIONS_READ`; each streamed
    no further than ``limit`` bytes (None: whole, a chunk at a time) and, with ``into``, into that file as it is hashed
    (it holds the version found, when one is). The :class:`~prov_common.store.s3.SealedVersion` says which, how many
    were read and whether they were all those kept of that size."""
    from prov_common.hashing import hash_stream
    from prov_common.store import _base
    from prov_common.store.s3 import SealedVersion

    sized = [version for version, _, listed in kept.kept if size is None or listed is None or listed == size]
    asked = sized[:VERSIONS_READ]
    streams = versions(key, asked)
    try:
        for version, stream in streams:
            read = stream if limit is None else _Capped(stream, limit)
            with open(into, "wb") if into is not None else contextlib.nullcontext() as out:
                if hash_stream(read if out is None else _Copying(read, out), _base.CHUNK).digest == digest:
                    return SealedVersion(digest, version, asked.index(version) + 1, True)
    finally:
        streams.close()
    return SealedVersion(digest, None, len(asked), kept.complete and len(sized) == len(asked), size)


class _Copying:
    """A stream that writes to ``out`` every chunk read from it (so one pass hashes and stores it)."""

    def __init__(self, stream: BinaryIO, out: BinaryIO) -> None:
        self._stream, self._out = stream, out

    def read(self, n: int = -1) -> bytes:
        data = self._stream.read(n)
        self._out.write(data)
        return data


class _Capped:
    """A stream that yields at most ``limit`` bytes of ``stream``."""

    def __init__(self, stream: BinaryIO, limit: int) -> None:
        self._stream, self._left = stream, limit

    def read(self, n: int = -1) -> bytes:
        data = self._stream.read(self._left if n is None or n < 0 else min(n, self._left)) if self._left else b""
        self._left -= len(data)
        return data


__all__ = ["MARKERS_ASKED", "VERSIONS_READ", "DeleteMarkers", "holding", "read_for"]
