"""Objects whose key is chosen when they are actually written (e.g. time-index entries).

A time index is only useful to cursor readers if an entry's key sorts after every key that existed
when the entry became visible. An object that waited in the spool during an outage must therefore
get its key at delivery, not when it was spooled. To keep redelivery idempotent, the chosen key is
first recorded in a write-once ``record`` object: the first writer wins, and every later attempt
(a flush after a crash, another process delivering the same batch) reads the record and puts the
same key again, which is a no-op.

The write time is the writer's clock, unless the store's answers to its creates tell that the writer's clock runs
behind the store's by more than :data:`CLOCK_BEHIND_LIMIT`: then it is the store's time, so that a reader's window,
which starts a little before the newest key it took, still sees the entry (:func:`write_time`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from prov_common.errors import BadInputError, ObjectConflictError
from prov_common.store.base import Store
from prov_common.store.keys import MAX_KEY_LENGTH, validate_key
from prov_common.store.same import Same, put_or_same

log = logging.getLogger(__name__)

_PROBE = datetime(2000, 1, 1, tzinfo=timezone.utc)

CLOCK_BEHIND_LIMIT = timedelta(seconds=150)
"""How far a writer's clock may run behind its store's before a late key takes the store's time: half the settle
window (:data:`prov_common.bundle.layout.SETTLE_SECONDS`) that readers of the index re-list before the newest key
they took."""

_warned: set[str] = set()  # the stores whose clock this process named as ahead of its own


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
    key = obj.resolve(write_time(store, now))
    try:
        store.put(obj.record, key.encode())
    except ObjectConflictError:
        key = store.get(obj.record, MAX_KEY_LENGTH).decode()  # a key: at most MAX_KEY_LENGTH bytes, read no further
        validate_key(key)
    return key, put_or_same(store, key, obj.data, same)


def write_time(store: Store, now: datetime | None = None) -> datetime | None:
    """The time a late key written to ``store`` now takes: ``now`` when given (a time the caller chose), else this
    machine's current time, or the store's when the store's clock, as its answer to this process's newest create told
    (:attr:`~prov_common.store._base.BaseStore.clock_offset`), is ahead of this machine's by more than
    :data:`CLOCK_BEHIND_LIMIT`; then a warning names the difference and the fix, once per process and store. None: the
    current time, as :meth:`LateKey.resolve` reads it."""
    offset = getattr(store, "clock_offset", None)  # a store that stands in for one (EndingStore) tells none
    if now is not None or not isinstance(offset, timedelta) or offset <= CLOCK_BEHIND_LIMIT:
        return now
    at_store = datetime.now(timezone.utc) + offset
    if store.uri not in _warned:
        _warned.add(store.uri)
        log.warning("tdprov: this machine's clock is %s behind the clock of %s, more than the %s that readers of its index "
                    "allow: index entries are keyed by the store's time instead, so that every reader (the Dagster store "
                    "sensor, the audit) sees them; the sealing and event times recorded are still this machine's. Fix: set "
                    "this machine's clock right and keep it so (NTP time sync, e.g. 'timedatectl set-ntp true')",
                    _duration(offset), store.describe(), _duration(CLOCK_BEHIND_LIMIT * 2))
    return at_store


def _duration(span: timedelta) -> str:
    """``span`` as people read it: ``2 h 5 min``, ``4 min 10 s``, ``9 s``."""
    seconds = round(span.total_seconds())
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"


__all__ = ["CLOCK_BEHIND_LIMIT", "LateKey", "put_late", "write_time"]
