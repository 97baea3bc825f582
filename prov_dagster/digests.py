"""Digests computed once per DataFrame returned: ``provenance_asset`` hashes, the IO manager takes that digest over."""
from __future__ import annotations

import threading
import weakref
from collections.abc import Hashable
from typing import Any

from prov_common.hashing import Granularity, TableDigest, hash_dataframe

_lock = threading.Lock()
_known: dict[int, tuple["weakref.ref[Any]", TableDigest, Hashable]] = {}


def digest_of(df: Any, *, threads: int | None = None, arrow: Any = None, keep: bool = False,
              granularity: Granularity = "column", step: Hashable = None) -> TableDigest:
    """The content digest of ``df`` at ``granularity``. With ``keep`` (``provenance_asset``, as the function returns
    ``df``) it is hashed now and kept for the next call on the same object in the same ``step`` (the attempt of a
    Dagster step that computes ``df``), which takes it (the IO manager's, handed ``df`` next) when it asks for that
    granularity; without, the digest kept is taken, else ``df`` is hashed now. A digest serves once, and only the
    step that kept it: an object returned again, or by another step (the first went to another IO manager, or was
    refused before it was hashed), may have been changed in place since (a frame a module keeps), so each return is
    hashed again. Without ``step`` (outside a step) nothing is kept nor taken. DataFrames are unhashable, so objects
    are tracked by identity through a weak reference. ``threads``, ``arrow`` as in ``hash_dataframe``."""
    key = id(df)
    if not keep:
        with _lock:
            entry = _known.pop(key, None)
        if (entry is not None and step is not None and entry[0]() is df and entry[1].granularity == granularity
                and entry[2] == step):
            return entry[1]
    digest = hash_dataframe(df, granularity=granularity, threads=threads, arrow=arrow)
    if not keep or step is None:
        return digest
    try:
        ref = weakref.ref(df, lambda _r, k=key: _forget(k))
    except TypeError:
        return digest
    with _lock:
        _known[key] = (ref, digest, step)
    return digest


def _forget(key: int) -> None:
    with _lock:
        _known.pop(key, None)
