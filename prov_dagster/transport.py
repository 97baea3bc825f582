"""The core's ``ProvenanceTransport`` configured from Dagster config, and where a run's bundle lands."""
from __future__ import annotations

from pathlib import Path

from prov_common.bundle import layout
from prov_common.bundle.transport import ProvenanceConfig as TransportConfig
from prov_common.bundle.transport import ProvenanceTransport
from prov_common.config import Settings
from prov_common.lineage.secret_text import redact_uri
from prov_common.signing.keyfiles import KEY_VARIABLE
from prov_common.store.errors import STORE_VARIABLE
from prov_common.store.location import local_store_path


def make_transport(settings: Settings, store_source: str = STORE_VARIABLE, key_source: str = KEY_VARIABLE) -> ProvenanceTransport:
    """A transport writing to ``settings.store`` (signing key, spool and strictness from ``settings``);
    ``store_source``, ``key_source``: the settings the store and the signing key come from, named when they cannot be
    used."""
    return ProvenanceTransport(
        TransportConfig(store=settings.store, signing_key=settings.signing_key, spool=settings.spool, strict=settings.strict,
                        store_source=store_source, signing_key_source=key_source)
    )


def bundle_location(settings: Settings, ol_run_id: str) -> str:
    """``<store>/bundles/<run id>/``: where the bundle of ``ol_run_id`` is (or will be, once delivered)."""
    return layout.bundle_location(settings.store, ol_run_id)


def store_uri(store: str) -> str:
    """``store`` as a write's metadata names it (``tdprov/store``) and a later process opens it again: a local folder as
    its absolute path, any other URI without credentials (:func:`~prov_common.lineage.secret_text.redact_uri`)."""
    if "://" not in store or store.lower().startswith("file:"):
        return str(Path(local_store_path(store)).expanduser().absolute())
    return redact_uri(store)
