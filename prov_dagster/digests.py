"""Digests computed once per DataFrame returned: ``provenance_asset`` hashes, the IO manager takes that digest over."""
from __future__ import annotations

import threading
import weakref
from typing import Any

from prov_common.hashing import Granularity, TableDigest, hash_dataframe

_lock = threading.Lock()
_known: dict[int, tuple["weakref.ref[Any]", TableDigest]] = {}


def digest_of(df: Any, *, threads: int | None = None, arrow: Any = None, keep: bool = False,
              granularity: Granularity = "column") -> TableDigest:
    """The content digest of ``df`` at ``granularity``. With ``keep`` (``provenance_asset``, as the function returns
    ``df``) it is hashed now and kept for the next call on the same object, which takes it (the IO manager's, handed
    ``df`` next) when it asks for that granularity; without, the digest kept is taken, else ``df`` is hashed now. A
    digest serves once: an object returned again may have been changed in place since (a frame a module keeps), so
    each return is hashed again. DataFrames are unhashable, so objects are tracked by identity through a weak
    reference. ``threads``, ``arrow`` as in ``hash_dataframe``."""
    key = id(df)
    if not keep:
        with _lock:
            entry = _known.pop(key, None)
        if entry is not None and entry[0]() is df and entry[1].granularity == granularity:
            return entry[1]
    digest = hash_dataframe(df, granularity=granularity, threads=threads, arrow=arrow)
    if not keep:
        return digest
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
