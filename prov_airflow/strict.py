"""Strict mode: operators (never the listener) fail their task when provenance cannot be recorded."""
from __future__ import annotations

from prov_common.errors import StoreUnavailableError


def require_store(tdprov_conn_id: str | None) -> None:
    """In strict mode, fail now when the store cannot be read (its bundle could not be delivered)."""
    from prov_airflow.hooks.provenance import ProvenanceHook

    hook = ProvenanceHook(tdprov_conn_id)
    settings = hook.get_settings()
    if not settings.strict:
        return
    ok, message = hook.test_connection()
    if not ok:
        raise StoreUnavailableError(f"tdprov strict mode ({hook.strict_source()}): store {settings.store} cannot be "
                                    f"used ({message})",
                                    fix=f"restore the store, or turn {hook.strict_source()} off to spool bundles instead")
