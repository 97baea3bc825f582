"""Staged events delivered from the spool after their run was sealed: keyed by when they arrived, so the audit names
them.

An event spooled during a store outage is delivered by a later flush under the key it was spooled with, its own
time. When another process sealed the run meanwhile, that time is before the sealing, so the event would be in no
bundle and named by nothing (the audit names staged events timed after the sealing). :func:`put_arrived` puts such an
event under the time it was delivered instead (never before its own), recorded once like an index entry
(:class:`~prov_common.store.latekey.LateKey`): a redelivery puts it under the same key. Only the key changes: the
staged object, signed by its writer, is the same bytes.
"""
from __future__ import annotations

import logging

from prov_common.bundle import layout
from prov_common.store.base import Store
from prov_common.store.latekey import LateKey, put_late

log = logging.getLogger(__name__)


def put_arrived(store: Store, key: str, data: bytes | memoryview) -> tuple[str, bool] | None:
    """Put the spooled object ``data`` of ``key`` as arriving now when it is a staged event of a run already sealed in
    ``store`` and not there yet: ``(key it was put under, created)``, with a warning. None for any other object (the
    caller puts it as it is): two existence checks per staged event."""
    found = _late_key(key, data)
    if found is None:
        return None
    run_id, late = found
    if store.exists(key) or not store.exists(layout.bundle_key(run_id, layout.STATEMENT_FILE)):
        return None
    put = put_late(store, late)
    log.warning("tdprov: run %s was sealed before its %s event timed %s, spooled while the store could not take it, was "
                "delivered; it is staged as %s, stamped when it arrived, in no bundle (the audit names it). Fix: re-run the "
                "step to record what the run's bundle lacks", run_id, _event_type(data),
                late.not_before.replace("+00:00", "Z"), put[0])
    return put


def _late_key(key: str, data: bytes | memoryview) -> tuple[str, LateKey] | None:
    """The run of the staged event ``key`` and the event keyed at delivery (never before its own time); None for a key
    that is no staged event."""
    parts = layout.staged_parts(key)
    if parts is None or "/" in parts[1] or not parts[1].endswith(".json"):
        return None
    name = parts[1].removesuffix(".json")
    moment, _, tail = name.partition("-")
    try:
        own = layout.parse_stamp(moment)
    except ValueError:
        return None
    return parts[0], LateKey(layout.staged_event_template(parts[0], f"{tail}.json"), bytes(data),
                             record=layout.late_record_key(parts[0], name), not_before=own.isoformat())


def _event_type(data: bytes | memoryview) -> str:
    from prov_common.bundle.staged import unverified_event

    try:
        return str(unverified_event(bytes(data)).get("eventType") or "unnamed")
    except (ValueError, AttributeError):
        return "unreadable"


__all__ = ["put_arrived"]
