"""A write-once put that takes an object already there holding the same record in other bytes.

Two writers may stage one record under one key, each signing it with its own key (a late event both were sent, an
event both processes emitted): the second put meets a write-once conflict although what it stands for is stored. A
caller that can tell so passes ``same`` (:data:`Same`); such a conflict is then no error.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from prov_common.errors import ObjectConflictError
from prov_common.store.base import Store
from prov_common.store.buffers import Buffer, byte_view

log = logging.getLogger(__name__)

Same = Callable[[Store, str, "bytes | memoryview"], bool]
"""Whether the object at a key of a store, which refused ``data`` as a write-once conflict, holds the same record."""


def put_or_same(store: Store, key: str, data: Buffer, same: Same | None = None) -> bool:
    """``store.put(key, data)``: whether it created the object. A write-once conflict with an object that ``same``
    says holds the same record counts as the object there already (False), logged at debug level; any other conflict
    raises :class:`ObjectConflictError`."""
    try:
        return store.put(key, data)
    except ObjectConflictError:
        if same is None or not same(store, key, byte_view(data)):
            raise
    log.debug("tdprov: '%s' in %s holds the same record signed by another writer: it is staged already", key,
              store.describe())
    return False


__all__ = ["Same", "put_or_same"]
