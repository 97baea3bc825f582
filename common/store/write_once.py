"""The record that a store found not to be write-once is write-once since: ``_tdprov/write-once-verified/<hex>.json``.

A store's identity marked ``"writeOnce": "ignored"`` (:mod:`prov_common.store.identity`) says that its server ignored
``If-None-Match: *`` when the identity was created, and the audit reports it. The identity is written once and never
changes, so the mark stays on record; once the server honours the condition, ``tdprov store init`` (whose probe proves
it) records so in an object of its own, named by the SHA-256 of the identity's bytes and written once too. The
audit takes an identity marked so, with such a record of it, as write-once since.
"""
from __future__ import annotations

from datetime import datetime, timezone

from prov_common.canonical_json import canonical_bytes, loads
from prov_common.errors import ObjectConflictError, StoreError
from prov_common.store.base import Store
from prov_common.store.errors import ObjectNotFoundError, UnreadableObjectError
from prov_common.store.identity import StoreIdentity

VERIFIED_PREFIX = "_tdprov/write-once-verified/"
VERIFIED_FORMAT = "https://tdprov.dev/store-write-once-verified/v1"
VERIFIED_LIMIT = 4 << 10  # bytes at most read of the record (it holds about 250)


def verified_key(identity: StoreIdentity) -> str:
    """Where the record of ``identity`` is kept: named by the SHA-256 of the identity's bytes as read."""
    return VERIFIED_PREFIX + identity.digest.removeprefix("sha256:") + ".json"


def _record(identity: StoreIdentity, now: datetime | None) -> bytes:
    moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return canonical_bytes({"format": VERIFIED_FORMAT, "storeId": identity.store_id, "identity": identity.digest,
                            "verifiedAt": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")})


def _names(data: bytes, identity: StoreIdentity) -> bool:
    try:
        raw = loads(data)
    except (ValueError, TypeError):
        return False
    return (isinstance(raw, dict) and raw.get("format") == VERIFIED_FORMAT and raw.get("storeId") == identity.store_id
            and raw.get("identity") == identity.digest)


def verified_since(store: Store, identity: StoreIdentity) -> bool:
    """Whether ``tdprov store init`` found ``store`` write-once after ``identity`` (as read, so with its digest) was
    created: one read. A record that does not name this identity counts for nothing."""
    try:
        return _names(store.get(verified_key(identity), VERIFIED_LIMIT), identity)
    except (ObjectNotFoundError, UnreadableObjectError):
        return False


def record_verified(store: Store, identity: StoreIdentity, now: datetime | None = None) -> bool:
    """Record that ``store``, whose ``identity`` is marked not write-once, was just proved write-once (the caller's
    ``check_write_once`` passed); whether this call created the record (False: an earlier check recorded it).
    :class:`StoreError` when the object there records something else."""
    key = verified_key(identity)
    try:
        return store.put(key, _record(identity, now))
    except ObjectConflictError:
        if verified_since(store, identity):
            return False
        raise StoreError(f"{store.describe()} holds '{key}', which does not record that this store (id {identity.store_id}) "
                         "was found write-once.", fix=f"remove '{key}' and run 'tdprov store init {store.uri}' again") from None


__all__ = ["VERIFIED_FORMAT", "VERIFIED_PREFIX", "record_verified", "verified_key", "verified_since"]
