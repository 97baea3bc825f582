"""What a run signed about one of its outputs, read from its verified bundle (I/O): where it recorded the
data and the SHA-256 of the bytes it wrote.

Run summaries in the store's index name datasets, not where their bytes are: a Dagster asset is named
by its asset key and found through its standard ``symlinks`` facet, which only the events hold. The SHA-256
is the ``sha256`` of the output's DigestSet in the signed statement (its subject), as the manifest gives it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from prov_common.audit.model import DatasetUse
from prov_common.audit.rehash import symlinked_location
from prov_common.bundle.subjects import version_digests
from prov_common.signing import TrustStore
from prov_common.store.base import Store
from prov_common.w3cprov.identity import normal_version


@dataclass(frozen=True)
class SignedOutput:
    """Of an output of a verified bundle: where its data was recorded (None: not said) and the hex SHA-256 of
    the bytes the run wrote, as its statement signs it (None: the run recorded none, e.g. a sharded version)."""

    location: str | None = None
    sha256: str | None = None


Locator = Callable[[str, DatasetUse], SignedOutput | None]


def bundle_locator(store: Store, trust: TrustStore) -> Locator:
    """``locate(run_id, dataset)``: what the run's bundle signs about its output ``dataset`` at its version (a run
    may write a dataset at two), when the bundle verifies and holds that output; else None. Each call verifies the
    bundle: the caller keeps the answer (:attr:`~prov_common.sources.training_record.RecordFacts.signed_output`)."""
    from prov_common.bundle.verify import verify_and_derive

    def locate(run_id: str, dataset: DatasetUse) -> SignedOutput | None:
        checked = verify_and_derive(store, run_id, trust)
        if not checked.report.ok or checked.derived is None or checked.manifest is None:
            return None
        manifest, same = checked.manifest, (dataset.namespace, dataset.name, normal_version(dataset.version))
        for ds in checked.derived.state.outputs:
            if (ds.namespace, ds.name, normal_version(ds.version)) == same:
                signed = next((version_digests(o.version, o.digests, manifest.digest_sets) or {}
                               for o in manifest.outputs if (o.namespace, o.name, normal_version(o.version)) == same), {})
                return SignedOutput(symlinked_location(ds.namespace, ds.name, ds.facet("symlinks")), signed.get("sha256"))
        return None

    return locate
