"""Store errors beyond the shared ones in :mod:`prov_common.errors`."""
from __future__ import annotations

from prov_common.errors import StoreError


class ObjectNotFoundError(StoreError):
    """The key names no object in the store."""


class SpoolError(StoreError):
    """The outbox could not write or read its spool folder (disk full, no permission)."""
