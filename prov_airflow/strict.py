"""Strict mode: operators (never the listener) fail their task when provenance cannot be recorded."""
from __future__ import annotations

from typing import TYPE_CHECKING

from prov_common.errors import StoreUnavailableError, TdprovError
from prov_common.store.errors import FIX_STRICT, strict_refix

if TYPE_CHECKING:
    from prov_airflow.hooks.provenance import ProvenanceHook


def require_store(tdprov_conn_id: str | None) -> None:
    """In strict mode, fail now when the store cannot be read (its bundle could not be delivered)."""
    from prov_airflow.hooks.provenance import ProvenanceHook

    hook = ProvenanceHook(tdprov_conn_id)
    settings = hook.get_settings()
    if not settings.strict:
        return
    try:
        hook.read_store()
    except TdprovError as exc:
        strict_refix(exc)  # in place: its fix (read below) in strict mode's words
        raise _unusable(hook, settings.store, exc.what, exc.fix) from exc
    except Exception as exc:  # noqa: BLE001 - any error reading the store fails the task, named
        raise _unusable(hook, settings.store, f"{type(exc).__name__}: {exc}", None) from exc


def _unusable(hook: "ProvenanceHook", store: str, said: str, fix: str | None) -> StoreUnavailableError:
    """The error of a strict task whose store cannot be used (``said``: why, ``fix``: the store's fix, in strict mode's
    words, :func:`strict_refix`), naming where strict mode is set; a fix that does not say to run without strict mode
    (nothing was spooled) ends with turning it off to spool instead."""
    source = hook.option_source("strict")
    fix = fix or "restore the store"
    if FIX_STRICT not in fix:
        fix = f"{fix}; or turn {source} off to spool bundles instead"
    return StoreUnavailableError(f"tdprov strict mode ({source}): store {store} cannot be used: {said}", fix=fix)
