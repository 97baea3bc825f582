"""Which run generated a dataset version, looked up by the version: one object per version.

``audit/generated/<sha-256 of the version's identity>.json`` (DSSE, payload type below, written once by
the audit that logged the generating run) holds the dataset, its version and that run's record. An incremental audit asks
it whether an input of a new run has an origin, and follows it upstream for training runs: one read
per version looked up, whatever the size of the store. The first run logged with a version keeps the
object. An object that does not verify, or whose record did not generate the version, is a finding,
and the version counts as having no recorded origin until ``--full`` re-checks it from the bundles.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from prov_common.audit.lineage import version_of
from prov_common.audit.model import CHECK_LOG, DatasetUse, Finding, RunRecord
from prov_common.canonical_json import canonical_bytes, loads
from prov_common.errors import ObjectConflictError, TdprovError
from prov_common.signing import SigningKey, TrustStore, open_envelope, sign_envelope
from prov_common.store.base import Store
from prov_common.store.errors import ObjectNotFoundError
from prov_common.w3cprov.identity import VersionKey

GENERATED_PREFIX = "audit/generated/"
GENERATED_PAYLOAD_TYPE = "application/vnd.tdprov.audit-generated+json"
WRITE_THREADS = 8  # writes wait on the disk or the network, not the CPU
FIX = "run 'tdprov audit --full': it re-checks every input from the bundles; find out who wrote the object (it is written once)"


def generated_key(namespace: str, name: str, version: str) -> str:
    """The lookup object of a dataset version: named by the SHA-256 of its identity (namespace, name, digest)."""
    return f"{GENERATED_PREFIX}{hashlib.sha256(canonical_bytes([namespace, name, version])).hexdigest()}.json"


def _content_key(version: str) -> str:
    """Where audits before dataset identity kept the object of a version (by its digest alone)."""
    return f"{GENERATED_PREFIX}{hashlib.sha256(version.encode()).hexdigest()}.json"


def write_generated(store: Store, records: Iterable[RunRecord], signer: SigningKey, *, present: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """Write the object of each version the ``records`` generated (skipping keys in ``present``); returns the keys it created."""
    todo: dict[str, bytes] = {}
    for r in records:
        for d in r.outputs:
            if d.version and (key := generated_key(d.namespace, d.name, d.version)) not in present and key not in todo:
                todo[key] = canonical_bytes({"namespace": d.namespace, "name": d.name, "version": d.version, "record": r.to_dict()})

    def put(item: tuple[str, bytes]) -> bool:
        try:
            return store.put(item[0], sign_envelope(item[1], GENERATED_PAYLOAD_TYPE, [signer]).to_json())
        except ObjectConflictError:
            return False

    with ThreadPoolExecutor(WRITE_THREADS) as pool:
        return [key for key, created in zip(todo, pool.map(put, todo.items())) if created]


class Generators:
    """Looks up the run that generated a version: in this audit's records first, then in the store (once each)."""

    def __init__(self, store: Store, trust: TrustStore, known: Iterable[RunRecord]) -> None:
        self.store, self.trust = store, trust
        self.problems: list[Finding] = []
        self._found: dict[VersionKey, RunRecord | None] = {}
        for r in known:
            for d in r.outputs:
                if d.version:
                    self._found.setdefault(version_of(d), r)

    def of(self, dataset: DatasetUse) -> RunRecord | None:
        """The run that generated ``dataset`` at its version (None: no recorded run did)."""
        wanted = version_of(dataset)
        if wanted not in self._found:
            self._found[wanted] = self._read(wanted, generated_key(*wanted))
            if self._found[wanted] is None:  # written by an audit before dataset identity
                self._found[wanted] = self._read(wanted, _content_key(dataset.version or ""))
        return self._found[wanted]

    def _read(self, wanted: VersionKey, key: str) -> RunRecord | None:
        try:
            data = self.store.get(key)
        except ObjectNotFoundError:
            return None
        what = f"audit lookup '{key}'"
        namespace, name, version = wanted
        try:
            doc = loads(open_envelope(data, self.trust, GENERATED_PAYLOAD_TYPE, what=what).payload)
            record = RunRecord.from_dict(doc["record"])
            if doc["version"] != version or not any(version_of(d) == wanted for d in record.outputs):
                if "namespace" not in doc:  # a lookup by digest that another dataset with the same bytes holds
                    return None
                raise ValueError(f"it names version {doc['version']!r}, whose record does not generate {name} at {version!r}")
        except (TdprovError, KeyError, TypeError, ValueError) as exc:
            self.problems.append(Finding(CHECK_LOG, key, exc.what if isinstance(exc, TdprovError) else f"{what} is damaged ({exc})", FIX))
            return None
        return record
