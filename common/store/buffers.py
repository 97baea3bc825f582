"""Bytes to store as the caller holds them: a ``bytearray`` or ``memoryview`` is spooled and put in place, never
copied into ``bytes``; one held beyond the call (a transport's attachment) only when it is read-only (a row set of
87 MB is held once, not twice)."""
from __future__ import annotations

import io
import os

from prov_common.errors import BadInputError
from prov_common.mapped import give_back, mapping_of

Buffer = bytes | bytearray | memoryview


def is_buffer(data: object) -> bool:
    """Whether ``data`` is bytes, a bytearray or a memoryview (what the store takes)."""
    return isinstance(data, (bytes, bytearray, memoryview))


def checked_buffer(data: object, what: str, fix: str) -> Buffer:
    """``data`` when it is a buffer (:func:`is_buffer`); else :class:`BadInputError` "``what`` is <type>, not bytes."
    with ``fix``."""
    if not is_buffer(data):
        raise BadInputError(f"{what} is {type(data).__name__}, not bytes.", fix=fix)
    return data  # type: ignore[return-value]


def byte_view(data: Buffer) -> bytes | memoryview:
    """``data`` unchanged when it is ``bytes``; else a read-only view of its bytes, one byte an item (no copy;
    a memoryview that is not contiguous, which no view of a file's bytes is, is copied)."""
    if isinstance(data, bytes):
        return data
    view = memoryview(data)
    if not view.c_contiguous:
        return view.tobytes()
    return view.cast("B").toreadonly()


def held_view(data: Buffer) -> bytes | memoryview:
    """``data`` to be held after the call that gave it returns (a transport's attachment, until its run is sealed):
    :func:`byte_view` of bytes or of a read-only buffer (a mapped file's, a row set's), in place; a writable one
    (a bytearray, a writable memoryview) copied into bytes, since its owner may change it meanwhile, and bytes
    changed after their digest was taken would seal a bundle that does not verify."""
    view = byte_view(data)
    return bytes(view) if isinstance(view, memoryview) and not memoryview(data).readonly else view


class ViewReader(io.RawIOBase):
    """A seekable stream over the bytes of a view, read by ``readinto`` straight from it (``io.BytesIO``
    copies a bytearray or memoryview whole before its first read). The pages of a mapped file's view (a row
    set's) are given back as they are read (:func:`~prov_common.mapped.give_back`)."""

    def __init__(self, view: memoryview) -> None:
        super().__init__()
        self._view, self._at = view, 0
        self._mapped = mapping_of(view)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        """The next ``size`` bytes (all that are left when ``size`` is None or negative), copied once."""
        end = len(self._view) if size is None or size < 0 else min(len(self._view), self._at + size)
        data = self._view[self._at:end].tobytes() if end > self._at else b""
        give_back(self._mapped, self._at, end)
        self._at = max(self._at, end)
        return data

    def readall(self) -> bytes:
        return self.read()

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        out = memoryview(buffer).cast("B")
        n = min(len(out), len(self._view) - self._at)
        if n <= 0:
            return 0
        out[:n] = self._view[self._at:self._at + n]
        give_back(self._mapped, self._at, self._at + n)
        self._at += n
        return n

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._at, os.SEEK_END: len(self._view)}[whence]
        self._at = max(0, base + offset)
        return self._at

    def tell(self) -> int:
        return self._at


def open_buffer(data: bytes | memoryview) -> io.RawIOBase | io.BytesIO:
    """A stream over ``data`` (:func:`byte_view`'s result) that copies no more than one read at a time."""
    return io.BytesIO(data) if isinstance(data, bytes) else ViewReader(data)
