"""A staged event, or an attachment's signed record, that a second writer stages again under the key it has.

Writers stage an event under its own time and digest, so two processes sent the same event (a late event, an event
both emitted) stage it under one key, each signed with its own key: the second put meets a write-once conflict
although the event is staged. :func:`staged_already` tells such a conflict from other bytes at the key, for
:func:`~prov_common.store.same.put_or_same`.
"""
from __future__ import annotations

from prov_common.bundle import layout
from prov_common.bundle.staged import ENVELOPE_OVERHEAD, same_signed
from prov_common.store.base import Store
from prov_common.store.errors import ObjectNotFoundError, UnreadableObjectError
from prov_common.store.identity import IDENTITY_LIMIT

STORE_NAMED_ROOM = (IDENTITY_LIMIT + 64) * 4 // 3
"""Bytes one writer's envelope of a record may hold beyond another's signed for no store: the store id it names (one
read from an identity object of at most IDENTITY_LIMIT bytes: a UUID, or longer when written by hand), in base64 in an
attachment's record."""


def staged_already(store: Store, key: str, data: bytes | memoryview) -> bool:
    """Whether the object at ``key`` of ``store``, which refused ``data`` as a write-once conflict, holds the staged
    event or attachment record ``data`` holds, signed by another writer (one read, no larger than ``data`` and one
    signature and a store id more). False for an attachment (its bytes are what it is) or any other object."""
    parts = layout.staged_parts(key)
    if parts is None or layout.staged_attachment_path(key) is not None:
        return False
    try:
        held = store.get(key, limit=memoryview(data).nbytes + ENVELOPE_OVERHEAD + STORE_NAMED_ROOM)
    except (ObjectNotFoundError, UnreadableObjectError):
        return False
    return same_signed(held, data)


__all__ = ["staged_already"]
