"""Reading objects as a listing showed them: what an audit verifies is what it fingerprinted."""
from __future__ import annotations

from collections.abc import Mapping

from prov_common.store.base import Store


def pin_listing(store: Store, tags: Mapping[str, str] | None) -> list[str]:
    """Have ``store`` read each key of ``tags`` (key -> listed fingerprint) as the bytes its listing fingerprinted (S3:
    at the listed ETag), so the fingerprint the inventory remembers is that of the bytes verified; ``None``: read
    whatever is there again. A local folder's fingerprint holds the change time, which bytes put back renew, and
    needs nothing. The keys that cannot be pinned (S3: listed with no ETag), read as they are when read."""
    pin = getattr(store, "pin_listing", None)
    return list(pin(tags) or ()) if pin is not None else []
