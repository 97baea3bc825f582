"""Which run generated a dataset version, looked up by the version: one object per version.

``audit/generated/<sha-256 of the version>.json`` (DSSE, payload type below, written once by the audit
that logged the generating run) holds the version and that run's record. An incremental audit asks
it whether an input of a new run has an origin, and follows it upstream for training runs: one read
per version looked up, whatever the size of the store. The first run logged with a version keeps the
object. An object that does not verify, or whose record did not generate the version, is a finding,
and the version counts as having no recorded origin until ``--full`` re-checks it from the bundles.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from prov_common.audit.model import CHECK_LOG, Finding, RunRecord
from prov_common.canonical_json import canonical_bytes, loads
from prov_common.errors import ObjectConflictError, TdprovError
from prov_common.signing import SigningKey, TrustStore, open_envelope, sign_envelope
from prov_common.store.base import Store
from prov_common.store.errors import ObjectNotFoundError

GENERATED_PREFIX = "audit/generated/"
GENERATED_PAYLOAD_TYPE = "application/vnd.tdprov.audit-generated+json"
WRITE_THREADS = 8  # writes wait on the disk or the network, not the CPU
FIX = "run 'tdprov audit --full': it re-checks every input from the bundles; find out who wrote the object (it is written once)"


def generated_key(version: str) -> str:
    return f"{GENERATED_PREFIX}{hashlib.sha256(version.encode()).hexdigest()}.json"


def write_generated(store: Store, records: Iterable[RunRecord], signer: SigningKey, *, present: set[str] | frozenset[str] = frozenset()) -> int:
    """Write the object of each version the ``records`` generated (skipping keys in ``present``); returns how many were new."""
    todo: dict[str, bytes] = {}
    for r in records:
        for d in r.outputs:
            if d.version and (key := generated_key(d.version)) not in present and key not in todo:
                todo[key] = canonical_bytes({"version": d.version, "record": r.to_dict()})

    def put(item: tuple[str, bytes]) -> bool:
        try:
            return store.put(item[0], sign_envelope(item[1], GENERATED_PAYLOAD_TYPE, [signer]).to_json())
        except ObjectConflictError:
            return False

    with ThreadPoolExecutor(WRITE_THREADS) as pool:
        return sum(pool.map(put, todo.items()))


class Generators:
    """Looks up the run that generated a version: in this audit's records first, then in the store (once each)."""

    def __init__(self, store: Store, trust: TrustStore, known: Iterable[RunRecord]) -> None:
        self.store, self.trust = store, trust
        self.problems: list[Finding] = []
        self._found: dict[str, RunRecord | None] = {}
        for r in known:
            for d in r.outputs:
                if d.version:
                    self._found.setdefault(d.version, r)

    def of(self, version: str) -> RunRecord | None:
        if version not in self._found:
            self._found[version] = self._read(version)
        return self._found[version]

    def _read(self, version: str) -> RunRecord | None:
        key = generated_key(version)
        try:
            data = self.store.get(key)
        except ObjectNotFoundError:
            return None
        what = f"audit lookup '{key}'"
        try:
            doc = loads(open_envelope(data, self.trust, GENERATED_PAYLOAD_TYPE, what=what).payload)
            record = RunRecord.from_dict(doc["record"])
            if doc["version"] != version or not any(d.version == version for d in record.outputs):
                raise ValueError(f"it names version {doc['version']!r}, whose record does not generate {version!r}")
        except (TdprovError, KeyError, TypeError, ValueError) as exc:
            self.problems.append(Finding(CHECK_LOG, key, exc.what if isinstance(exc, TdprovError) else f"{what} is damaged ({exc})", FIX))
            return None
        return record
