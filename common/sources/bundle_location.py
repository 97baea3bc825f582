"""What a run signed about one of its outputs, read from its verified bundle (I/O): where it recorded the
data and the SHA-256 of the bytes it wrote.

Run summaries in the store's index name datasets, not where their bytes are: a Dagster asset is named
by its asset key and found through its standard ``symlinks`` facet, which only the events hold. The SHA-256
is the ``sha256`` of the output's DigestSet in the signed statement (its subject), as the manifest gives it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from prov_common.audit.model import DatasetUse, RunRecord
from prov_common.bundle.subjects import version_digests
from prov_common.store.base import Store
from prov_common.w3cprov.identity import normal_version


@dataclass(frozen=True)
class SignedOutput:
    """Of an output of a verified bundle: where its data was recorded (None: not said) and the hex SHA-256 of
    the bytes the run wrote, as its statement signs it (None: the run recorded none, e.g. a sharded version)."""

    location: str | None = None
    sha256: str | None = None


Locator = Callable[[RunRecord, DatasetUse], SignedOutput | None]


def bundle_locator(store: Store) -> Locator:
    """``locate(run, dataset)``: what the verified run ``run`` (its record as verification made it) signs about its
    output ``dataset`` at its version (a run may write a dataset at two), when it holds that output; else None. Where
    the data was recorded is the run's record of the output (its ``symlinks`` facet); the SHA-256 is read from the
    bundle's manifest when it is the one verified (:func:`~prov_common.bundle.storage.verified_manifest`: the bytes of
    the record's ``manifest_digest``, else None), so the bundle is not verified again: a store holding bundle reads
    (:func:`~prov_common.store.held_reads.bundle_reads_held`) answers from the bytes verified and nothing is read."""
    from prov_common.bundle.storage import verified_manifest

    def locate(run: RunRecord, dataset: DatasetUse) -> SignedOutput | None:
        same = (dataset.namespace, dataset.name, normal_version(dataset.version))
        output = next((ds for ds in run.outputs if (ds.namespace, ds.name, normal_version(ds.version)) == same), None)
        manifest = None if output is None else verified_manifest(store, run.run_id, run.manifest_digest)
        if output is None or manifest is None:
            return None
        signed = next((version_digests(o.version, o.digests, manifest.digest_sets) or {}
                       for o in manifest.outputs if (o.namespace, o.name, normal_version(o.version)) == same), {})
        return SignedOutput(output.location, signed.get("sha256"))

    return locate
