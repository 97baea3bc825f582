"""Views of files mapped read-only into memory (a row set's), read a part at a time with the pages already read
given back, so that reading the whole view never holds all its pages in the process at once.

A page of a read-only file mapping that is given back (``madvise(MADV_DONTNEED)``) leaves the process's resident
set; its bytes stay in the file and the page cache, and are mapped again if read again. A private writable
mapping (``ACCESS_COPY``) would lose what was written to it, so only mappings whose own view is read-only are
read this way; any other buffer is given whole, as before.
"""
from __future__ import annotations

import contextlib
import mmap
import os
from collections.abc import Iterator
from dataclasses import dataclass

PART = 8 << 20  # bytes of a mapped view read at a time (large enough for BLAKE3's threads)
_DROP = getattr(mmap, "MADV_DONTNEED", None)


def map_file(fd: int) -> memoryview:
    """A read-only view of the whole file open as ``fd``, mapped (OSError where it cannot be: an empty file)."""
    return memoryview(mmap.mmap(fd, 0, access=mmap.ACCESS_READ))


def file_bytes(path: str | os.PathLike[str]) -> bytes | mmap.mmap:
    """The bytes of the file at ``path``: read into memory when smaller than :data:`PART`, else the file mapped
    read-only (a large spool entry or staged row set: its pages are read as used, :func:`parts`)."""
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size >= PART:
            with contextlib.suppress(OSError, ValueError):  # cannot be mapped (emptied meanwhile): read as before
                return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        return f.read()


@dataclass(frozen=True)
class Mapped:
    """Where a view's bytes are in a read-only file mapping: from byte ``offset`` of ``mapping``."""

    mapping: mmap.mmap
    offset: int


def mapping_of(data: object) -> Mapped | None:
    """Where the bytes of ``data`` (a contiguous memoryview) are in the read-only file mapping it views; None for
    any other buffer, or where pages cannot be given back (no ``madvise``)."""
    if _DROP is None or not isinstance(data, memoryview) or not data.c_contiguous or not data.nbytes:
        return None
    mapping = data.obj
    if not isinstance(mapping, mmap.mmap) or not hasattr(mapping, "madvise"):
        return None
    with memoryview(mapping) as whole:
        if not whole.readonly:  # ACCESS_WRITE or ACCESS_COPY: writes of its own, which dropping could lose
            return None
    if data.nbytes == len(mapping):
        return Mapped(mapping, 0)
    import numpy as np  # where a read-only buffer's bytes are (a part of a spool entry): numpy tells

    return Mapped(mapping, np.frombuffer(data, dtype=np.uint8).ctypes.data - np.frombuffer(mapping, dtype=np.uint8).ctypes.data)


def give_back(mapped: Mapped | None, start: int, end: int) -> None:
    """Give back the pages of the mapping under bytes ``start .. end`` of the view ``mapped`` tells of, from the
    page that holds ``start`` to the last that ends by ``end`` (bytes just read in order: the page that ``start``
    falls in was read up to it before; a page is mapped again if read again)."""
    if mapped is None:
        return
    start, end = mapped.offset + start, mapped.offset + end
    low = start - start % mmap.PAGESIZE
    high = end if end >= len(mapped.mapping) else end - end % mmap.PAGESIZE
    if high > low:
        mapped.mapping.madvise(_DROP, low, high - low)


def parts(data: bytes | bytearray | memoryview, size: int | None = None) -> Iterator[bytes | bytearray | memoryview]:
    """``data`` to be read in order: whole, unless it is a view of a read-only file mapping (:func:`mapping_of`),
    then ``size`` (default :data:`PART`) bytes at a time, the pages of each part given back once the next is asked
    for (and of the last when the loop ends)."""
    mapped = mapping_of(data)
    if mapped is None:
        yield data
        return
    view, size = memoryview(data).cast("B"), size or PART
    for at in range(0, len(view), size):
        yield view[at:at + size]
        give_back(mapped, at, at + size)


__all__ = ["PART", "Mapped", "file_bytes", "give_back", "map_file", "mapping_of", "parts"]
