"""Store errors beyond the shared ones in :mod:`prov_common.errors`."""
from __future__ import annotations

from prov_common.errors import StoreError

FIX_NOT_WRITE_ONCE = ("use a server that honours conditional writes (If-None-Match: * on PutObject, as AWS S3 does since "
                      "2024; for another S3-compatible server, a version that supports it), then run 'tdprov store init URI' "
                      "to check; set TDPROV_STRICT=1 to have writers refuse such a store")
"""What to do about an S3 endpoint that ignores ``If-None-Match: *`` (objects there are not write-once)."""


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
