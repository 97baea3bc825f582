"""Objects whose key is chosen when they are actually written (e.g. time-index entries).

A time index is only useful to cursor readers if an entry's key sorts after every key that existed
when the entry became visible. An object that waited in the spool during an outage must therefore
get its key at delivery, not when it was spooled. To keep redelivery idempotent, the chosen key is
first recorded in a write-once ``record`` object: the first writer wins, and every later attempt
(a flush after a crash, another process delivering the same batch) reads the record and puts the
same key again, which is a no-op.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from prov_common.errors import BadInputError, ObjectConflictError
from prov_common.store.base import Store
from prov_common.store.keys import MAX_KEY_LENGTH, validate_key
from prov_common.store.same import Same, put_or_same

_PROBE = datetime(2000, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class LateKey:
    """``data`` to be stored under ``template`` formatted with the UTC write time (``{now:%Y...}``
    strftime fields), never earlier than ``not_before`` (ISO 8601); ``record`` remembers the key."""

    template: str
    data: bytes
    record: str
    not_before: str = ""

    def __post_init__(self) -> None:
        validate_key(self.record)
        if "{now" not in self.template:
            raise BadInputError(f"late key template {self.template!r} has no '{{now:...}}' field.",
                                fix="put the write time into the key, e.g. 'index/{now:%Y%m%dT%H%M%S%fZ}-x.json'")
        validate_key(self.resolve(_PROBE))

    def resolve(self, now: datetime | None = None) -> str:
        """The key for a write at ``now`` (default: the current UTC time)."""
        moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
        if self.not_before:
            moment = max(moment, datetime.fromisoformat(self.not_before.replace("Z", "+00:00")).astimezone(timezone.utc))
        return self.template.format(now=moment)


def put_late(store: Store, obj: LateKey, now: datetime | None = None, same: Same | None = None) -> tuple[str, bool]:
    """Write ``obj`` under its recorded key, choosing and recording one first if none is recorded.

    Returns ``(key, created)``. Two objects per call at most: the record (write-once, first writer
    wins) and the object itself; a retry costs one ``get`` more. ``same``: see :func:`put_or_same`.
    """
    key = obj.resolve(now)
    try:
        store.put(obj.record, key.encode())
    except ObjectConflictError:
        key = store.get(obj.record, MAX_KEY_LENGTH).decode()  # a key: at most MAX_KEY_LENGTH bytes, read no further
        validate_key(key)
    return key, put_or_same(store, key, obj.data, same)


__all__ = ["LateKey", "put_late"]
