"""Store errors beyond the shared ones in :mod:`prov_common.errors`."""
from __future__ import annotations

from prov_common.errors import StoreError


class ObjectNotFoundError(StoreError):
    """The key names no object in the store."""


class UnreadableObjectError(StoreError):
    """The key names something that is not an object tdprov could have written (a named pipe or device in a
    local store): it is refused, never read (reading it would block or never end)."""


class ObjectTooLargeError(UnreadableObjectError):
    """The object is larger than its reader allows (a manifest, a signed statement, a file the manifest sized)."""


class SpoolError(StoreError):
    """The outbox could not write or read its spool folder (disk full, no permission)."""
