"""Digests computed once per DataFrame: ``provenance_asset`` hashes, the IO manager reuses it."""
from __future__ import annotations

import threading
import weakref
from typing import Any

from prov_common.hashing import TableDigest, hash_dataframe

_lock = threading.Lock()
_known: dict[int, tuple["weakref.ref[Any]", TableDigest]] = {}


def digest_of(df: Any, *, threads: int | None = None, arrow: Any = None) -> TableDigest:
    """The content digest of ``df``, hashed once while the same object is alive (DataFrames are unhashable,
    so objects are tracked by identity through a weak reference). ``threads``, ``arrow`` as in ``hash_dataframe``."""
    key = id(df)
    with _lock:
        entry = _known.get(key)
    if entry is not None and entry[0]() is df:
        return entry[1]
    digest = hash_dataframe(df, threads=threads, arrow=arrow)
    try:
        ref = weakref.ref(df, lambda _r, k=key: _forget(k))
    except TypeError:
        return digest
    with _lock:
        _known[key] = (ref, digest)
    return digest


def _forget(key: int) -> None:
    with _lock:
        _known.pop(key, None)
