"""Staged events delivered from the spool after their run was sealed: keyed by when they arrived, so the audit names
them.

An event spooled during a store outage is delivered by a later flush under the key it was spooled with, its own
time. When another process sealed the run meanwhile, that time is before the sealing, so the event would be in no
bundle and named by nothing (the audit names staged events timed after the sealing). :func:`put_arrived` puts such an
event under the time it was delivered instead, never before its own time nor before the run's sealing (``sealedAt``
of the sealed bundle: a delivering machine whose clock runs behind the sealer's still keys it after the sealing),
recorded once like an index entry (:class:`~prov_common.store.latekey.LateKey`) under the event's own time and digest:
a redelivery, or the same event sent again after the sealing (:func:`arrived_late`), puts it under the same key. Only
the key changes: the staged object, signed by its writer, is the same bytes. A staged attachment delivered so keeps its
key (the audit names attachments staged after the sealing by when they were written) and is warned about alike.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from prov_common.bundle import layout
from prov_common.bundle.model import Manifest
from prov_common.bundle.restaged import staged_already
from prov_common.bundle.storage import sealed_manifest
from prov_common.store.base import Store
from prov_common.store.errors import StoreError
from prov_common.store.latekey import LateKey, put_late
from prov_common.w3cprov.identity import iso_z, moment as utc_moment

log = logging.getLogger(__name__)


def put_arrived(store: Store, key: str, data: bytes | memoryview) -> tuple[str, bool] | None:
    """Put the spooled object ``data`` of ``key`` as arriving now when it is a staged event of a run already sealed in
    ``store`` and not there yet: ``(key it was put under, created)``, with a warning. A staged attachment of such a run
    is put under its own key (the audit names it by when it was staged), warned about too. None for any other object,
    or one of a run not sealed (the caller puts it as it is): one existence check per staged event or attachment of a
    run not sealed (its statement), a second for one of a sealed run (whether it is there already, under its own key)."""
    parts = layout.staged_parts(key)
    if parts is None:
        return None
    run_id, rest = parts
    event = layout.staged_event_of(run_id, rest)
    attached = None if event is not None else layout.attachment_of(rest)
    if event is None and attached is None:
        return None
    if not store.exists(layout.bundle_key(run_id, layout.STATEMENT_FILE)) or store.exists(key):
        return None
    if event is None:
        put = key, store.put(key, data)
        _warn_late(run_id, f"attachment {attached} ({memoryview(data).nbytes} bytes)", put[0])
        return put
    put = put_late(store, _late_key(store, event, data), same=staged_already)
    _warn_late(run_id, f"{event_type_of(data)} event timed {iso_z(event.moment)}", f"{put[0]}, stamped when it arrived,")
    return put


def _warn_late(run_id: str, what: str, staged_as: str) -> None:
    """Warn that ``what`` of ``run_id``, delivered from the spool after the run was sealed, is staged as ``staged_as``."""
    log.warning("tdprov: run %s was sealed before its %s, spooled while the store could not take it, was delivered; it "
                "is staged as %s in no bundle (the audit names it). Fix: re-run the step to record what the run's bundle "
                "lacks", run_id, what, staged_as)


def arrived_late(store: Store, key: str, data: bytes | memoryview, sealed: Manifest | None = None) -> LateKey | None:
    """The staged event ``key`` (``staging/<run>/<eventTime>-<digest>.json``) of a run sealed in ``store``, keyed when it
    is written: never before its own time, nor before its run's sealing (the sealed manifest's ``sealedAt``: ``sealed``,
    else read when it can be), recorded once under its own time and digest, so that every delivery of the event finds
    the first one's key. None for a key that is no staged event."""
    event = layout.staged_event_parts(key)
    return None if event is None else _late_key(store, event, data, sealed)


def _late_key(store: Store, event: layout.StagedEvent, data: bytes | memoryview,
              sealed: Manifest | None = None) -> LateKey:
    """The :class:`LateKey` of :func:`arrived_late` for the staged event ``event`` (the parts of its key)."""
    return LateKey(layout.staged_event_template(event.run_id, f"{event.digest}.json"), bytes(data),
                   record=layout.late_record_key(event.run_id, event.name),
                   not_before=_after_sealing(store, event.run_id, event.moment, sealed).isoformat())


def _after_sealing(store: Store, run_id: str, own: datetime, manifest: Manifest | None = None) -> datetime:
    """``own``, or the first microsecond after the sealing of ``run_id`` when that is later (the audit names staged
    events timed after it). A manifest the store cannot give now leaves ``own``: the key is then bounded by the
    delivering machine's clock alone, as the write that follows may still succeed (a failed one leaves the object where
    it waits)."""
    try:
        manifest = manifest or sealed_manifest(store, run_id)
    except StoreError:
        manifest = None
    sealed = utc_moment(manifest.sealed_at) if manifest is not None else None
    return own if sealed is None else max(own, sealed + timedelta(microseconds=1))


def event_type_of(data: bytes | memoryview) -> str:
    """The ``eventType`` of the staged event ``data`` (signed or not) as a warning names it, ``unnamed`` when it is no
    text (missing, a number: an entry made by hand), ``unreadable`` when the event is not JSON; not verified."""
    from prov_common.bundle.staged import unverified_event

    try:
        kind = unverified_event(bytes(data)).get("eventType")
    except (ValueError, AttributeError):
        return "unreadable"
    return kind if isinstance(kind, str) and kind.strip() else "unnamed"


__all__ = ["arrived_late", "event_type_of", "put_arrived"]
