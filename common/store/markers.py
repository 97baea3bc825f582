"""What restores an object found missing that a delete marker hides (a versioned S3 bucket): the fix that
``tdprov verify`` and ``tdprov audit`` give, asked of the store a bounded number of times."""
from __future__ import annotations

from typing import TYPE_CHECKING

from prov_common.store.base import Store

if TYPE_CHECKING:
    from prov_common.store.s3 import DeleteMarker

MARKERS_ASKED = 100
"""How many missing objects one verification or audit asks the store about a delete marker (one request each): a
store emptied of thousands of objects is not asked thousands of times; the rest keep their fix to restore from a
backup."""


class DeleteMarkers:
    """The delete markers of ``store`` that hide missing objects, each key asked once, at most :data:`MARKERS_ASKED`
    keys; a store that cannot tell (a local folder) is asked nothing."""

    def __init__(self, store: Store) -> None:
        self._find = getattr(store, "delete_marker", None)
        self._asked: dict[str, DeleteMarker | None] = {}

    def fix(self, key: str, then: str, etag: str | None = None) -> str | None:
        """The fix that removes the delete marker hiding ``key`` and what to do ``then`` (``etag``: that of the bytes it
        held when first listed, :meth:`~prov_common.store.s3.DeleteMarker.fix`); None when no marker hides it, the store
        cannot tell, or :data:`MARKERS_ASKED` other keys were asked already."""
        if self._find is None:
            return None
        if key not in self._asked:
            if len(self._asked) >= MARKERS_ASKED:
                return None
            self._asked[key] = self._find(key)
        marker = self._asked[key]
        return marker.fix(then, etag) if marker is not None else None


__all__ = ["MARKERS_ASKED", "DeleteMarkers"]
