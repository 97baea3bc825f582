"""Deliver events to :class:`~prov_common.bundle.transport.ProvenanceTransport` (stages them, seals bundles)."""
from __future__ import annotations

import threading
from typing import Any

from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport
from prov_common.config import Settings

_lock = threading.Lock()
_transports: dict[Settings, ProvenanceTransport] = {}


def transport_for(settings: Settings) -> ProvenanceTransport:
    """One transport per process and settings (it opens the store and key on first use)."""
    with _lock:
        transport = _transports.get(settings)
        if transport is None:
            transport = ProvenanceTransport(ProvenanceConfig(
                store=settings.store, signing_key=settings.signing_key, spool=settings.spool, strict=settings.strict))
            _transports[settings] = transport
        return transport


def listener_settings() -> Settings:
    """Settings of the listener: the ``[tdprov] conn_id`` connection if set, else ``[tdprov]``/``TDPROV_*``.

    The listener never runs strict: strict mode fails tasks from operators only.
    """
    from prov_airflow.settings import conf_get, resolve_settings

    conn_id = conf_get("conn_id")
    if conn_id:
        from prov_airflow.hooks.provenance import ProvenanceHook

        return ProvenanceHook(conn_id, strict=False).get_settings()
    return resolve_settings(strict=False)


def listener_transport() -> ProvenanceTransport:
    return transport_for(listener_settings())


def listener_store() -> Any:
    """The listener's store, with the ``[tdprov] conn_id`` credentials applied (a context manager)."""
    from contextlib import contextmanager

    @contextmanager
    def opened() -> Any:
        with _environment():
            yield listener_transport().store

    return opened()


def _environment() -> Any:
    """AWS credentials of the ``[tdprov] conn_id`` connection, applied while the store is used."""
    from contextlib import nullcontext

    from prov_airflow.settings import conf_get

    conn_id = conf_get("conn_id")
    if not conn_id:
        return nullcontext()
    from prov_airflow.hooks.provenance import ProvenanceHook

    return ProvenanceHook(conn_id).environment()


def emit(event: Any, attachments: dict[str, bytes] | None = None, *, settings: Settings | None = None) -> Any:
    """Stage attachments of the event's run, then the event itself; returns the transport's write result."""
    transport = transport_for(settings) if settings is not None else listener_transport()
    with _environment():
        for name, data in (attachments or {}).items():
            transport.attach(event.run.runId, name, data)
        return transport.emit(event)
