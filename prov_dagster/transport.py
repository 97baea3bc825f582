"""The core's ``ProvenanceTransport`` configured from Dagster config, and where a run's bundle lands."""
from __future__ import annotations

from prov_common.bundle import layout
from prov_common.bundle.transport import ProvenanceConfig as TransportConfig
from prov_common.bundle.transport import ProvenanceTransport
from prov_common.config import Settings


def make_transport(settings: Settings) -> ProvenanceTransport:
    """A transport writing to ``settings.store`` (signing key, spool and strictness from ``settings``)."""
    return ProvenanceTransport(
        TransportConfig(store=settings.store, signing_key=settings.signing_key, spool=settings.spool, strict=settings.strict)
    )


def bundle_location(settings: Settings, ol_run_id: str) -> str:
    """``<store>/bundles/<run id>/``: where the bundle of ``ol_run_id`` is (or will be, once delivered)."""
    return layout.bundle_location(settings.store, ol_run_id)
