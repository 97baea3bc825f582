"""Store errors beyond the shared ones in :mod:`prov_common.errors`."""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

from prov_common.errors import BadInputError, StoreError, TdprovError

T = TypeVar("T")
E = TypeVar("E", bound=TdprovError)

STORE_VARIABLE = "TDPROV_STORE"
"""The setting a store comes from unless its writer was given one (an IO manager's config, a transport option)."""

FIX_NOT_WRITE_ONCE = ("use a server that honours conditional writes (If-None-Match: * on PutObject, as AWS S3 does since "
                      "2024; for another S3-compatible server, a version that supports it), then run 'tdprov store init URI' "
                      "to check; set TDPROV_STRICT=1 to have writers refuse such a store")
"""What to do about an S3 endpoint that ignores ``If-None-Match: *`` (objects there are not write-once)."""

FLUSH_NOTE = "spooled bundles are delivered by 'tdprov flush'"
"""How an unavailable store's fix ends: what delivers what an outage spooled."""

RETRY_LATER = "retry later"
"""What an unavailable store's fix says first when the store answered that it is busy (S3's 503)."""

FIX_STRICT = "retry when the store is back, or run without strict mode to spool"
"""What to do about a write strict mode raised for, spooling nothing."""

FIX_SNAPSHOT = "a snapshot is never spooled: re-run the step once the store is back to keep one"
"""What to do about a snapshot an unavailable store did not keep."""


def outage_refix(exc: E, instead: str) -> E:
    """``exc`` with a fix ending in :data:`FLUSH_NOTE` (an unavailable store's) ending in ``instead``, for what is not
    spooled; its :data:`RETRY_LATER`, which ``instead`` says in its own words, is dropped. Any other fix is kept."""
    if not exc.fix or not exc.fix.endswith(FLUSH_NOTE):
        return exc
    kept = [part for part in exc.fix.removesuffix(FLUSH_NOTE).split(";") if part.strip() not in ("", RETRY_LATER)]
    return exc.refixed("; ".join([*(part.strip() for part in kept), instead]))


def strict_refix(exc: E) -> E:
    """``exc`` (a store's error, or one met opening or reading it) as strict mode raises it, which spools nothing: a
    fix ending in :data:`FLUSH_NOTE` says so instead and gives :data:`FIX_STRICT` (:func:`outage_refix`)."""
    return outage_refix(exc, f"nothing was spooled (strict mode): {FIX_STRICT}")


ENTRY_STORE = "the store the spool entry names"
"""Where ``tdprov flush`` delivers an entry: the store the entry names, which no setting changes (not TDPROV_STORE, and
``--store`` takes only entries whose store cannot be opened)."""

ELSEWHERE = re.compile(rf", or point {STORE_VARIABLE} at another folder\b")
"""A local store's other way out of a write it refuses, which moves no spooled entry."""


def name_setting(exc: BaseException, where: str) -> BaseException:
    """``exc``, with the fix of a store's error naming ``where``, the setting the store comes from, where it says
    ``TDPROV_STORE`` (a store does not know where it was set: an IO manager's config, an Airflow connection). For
    :data:`ENTRY_STORE` (a spooled entry's delivery), a fix's way out by pointing the setting at another folder is
    dropped: the entry goes to its own store whatever the settings say."""
    if isinstance(exc, StoreError) and exc.fix and STORE_VARIABLE in exc.fix and where != STORE_VARIABLE:
        fix = ELSEWHERE.sub("", exc.fix) if where == ENTRY_STORE else exc.fix
        exc.refixed(re.sub(rf"\b{STORE_VARIABLE}\b", lambda _: where, fix))
    return exc


def store_read(read: Callable[[], T], where: str) -> tuple[T, None] | tuple[None, TdprovError]:
    """``(read(), None)``, or ``(None, error)`` when ``read`` (what opens the store or reads from it) met a store that
    cannot be used: its setting cannot be opened (a file, an unsupported URI) or the store cannot be read. The error's
    fix names ``where``, the setting the store comes from (:func:`name_setting`). Any other error is raised: a fault in
    the code is not the store's."""
    try:
        return read(), None
    except (BadInputError, StoreError) as exc:
        name_setting(exc, where)  # in place
        return None, exc


class ObjectNotFoundError(StoreError):
    """The key names no object in the store."""


class UnreadableObjectError(StoreError):
    """The key names something that is not an object tdprov could have written (a named pipe or device in a
    local store): it is refused, never read (reading it would block or never end)."""


class ObjectTooLargeError(UnreadableObjectError):
    """The object is larger than its reader allows (a manifest, a signed statement, a file the manifest sized)."""


TOO_LARGE_FIX = "it is not what tdprov wrote there: restore it from a backup or replica of the store"
"""The fix of an :class:`ObjectTooLargeError`."""


class NotAFolderError(StoreError):
    """A listed prefix cannot be listed: in a local store, a file (or another object) is where its folder, or one
    above it, should be. That object is itself a key of the store's listing."""


class SpoolError(StoreError):
    """The outbox could not write or read its spool folder (disk full, no permission)."""
