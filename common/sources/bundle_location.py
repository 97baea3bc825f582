"""Where a run recorded the data of one of its outputs, read from its verified bundle (I/O).

Run summaries in the store's index name datasets, not where their bytes are: a Dagster asset is named
by its asset key and found through its standard ``symlinks`` facet, which only the events hold.
"""
from __future__ import annotations

from collections.abc import Callable

from prov_common.audit.model import DatasetUse
from prov_common.audit.rehash import symlinked_location
from prov_common.signing import TrustStore
from prov_common.store.base import Store

Locator = Callable[[str, DatasetUse], "str | None"]


def bundle_locator(store: Store, trust: TrustStore) -> Locator:
    """``locate(run_id, dataset)``: the location of ``dataset`` among the outputs of the run's bundle,
    when the bundle verifies and its events give one; else None."""
    from prov_common.bundle.verify import verify_and_derive

    def locate(run_id: str, dataset: DatasetUse) -> str | None:
        checked = verify_and_derive(store, run_id, trust)
        if not checked.report.ok or checked.derived is None:
            return None
        for ds in checked.derived.state.outputs:
            if (ds.namespace, ds.name) == (dataset.namespace, dataset.name):
                return symlinked_location(ds.namespace, ds.name, ds.facet("symlinks"))
        return None

    return locate
