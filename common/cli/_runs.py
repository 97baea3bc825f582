"""Run ids as people type them: a full run id, or a beginning or ending of one that names exactly one run in the store.

A run id that names nothing in the store is bad input (exit 2), never a finding: a typo is not tampering.
"""
from __future__ import annotations

from collections.abc import Sequence

from prov_common.bundle import layout
from prov_common.bundle.storage import index_keys
from prov_common.errors import BadInputError
from prov_common.store.base import Store


def resolve_run_ids(store: Store, typed: Sequence[str]) -> list[str]:
    """The run id each of ``typed`` names in ``store``: itself when the store holds an object of that run (bundle
    or staged event), else the indexed run it is, begins or ends (:func:`~prov_common.bundle.layout.runs_meant`). The
    index is listed once, and only when an id names no object."""
    indexed: list[str] | None = None
    out = []
    for text in typed:
        layout.check_run_id(text)
        if _has_objects(store, text):
            out.append(text)
            continue
        if indexed is None:
            indexed = [layout.run_id_of_index_key(key) for key in index_keys(store)]
        found = layout.one_run_meant(text, indexed, store.uri)  # an index entry whose bundle is gone: a finding to show
        if found is None:
            raise BadInputError(f"no bundle for run id '{text}' in {store.uri}{layout.prefix_hint(text)}.",
                                fix=f"list the runs with 'tdprov runs --store {store.uri}' and give a full run id or a unique "
                                    f"beginning or ending of at least {layout.RUN_ID_PREFIX_MIN} characters")
        out.append(found)
    return out


def resolve_run_id(store: Store, typed: str) -> str:
    """:func:`resolve_run_ids` of one run id."""
    return resolve_run_ids(store, [typed])[0]


def _has_objects(store: Store, run_id: str) -> bool:
    return any(next(iter(store.list(prefix)), None) is not None for prefix in (layout.bundle_prefix(run_id), layout.staging_prefix(run_id)))
