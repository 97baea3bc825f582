"""Which run generated a dataset version, looked up by the version: one object per version.

``audit/generated/<sha-256 of the version's identity>.json`` (DSSE, payload type below, written once by
the audit that logged the generating run) holds the dataset, its version, that run's record, the items of its
findings apart from it (``findingItems``, as the catalog keeps them) and the checkpoint the audit wrote it at
(``checkpointSize``, ``checkpointRoot``). An incremental audit asks it whether an input of
a new run has an origin, and follows it upstream for training runs: one read per version looked up, whatever the
size of the store. The first run logged with a version keeps the object. An object that does not verify, whose
record did not generate the version, or that is not of this store's log (its checkpoint's root is not this log's,
see :class:`~prov_common.audit.catalog.Binding`: the same auditor signed it for another store or prefix) is a
finding, and the version counts as having no recorded origin. An object written before lookups named their
checkpoint counts when the run it names is one this log holds.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from prov_common.audit.catalog import Binding, Written, checkpoint_size, written_at
from prov_common.audit.lineage import version_of
from prov_common.audit.model import CHECK_LOG, DatasetUse, Finding, RunRecord, failed_in, items_field, with_items
from prov_common.bundle.layout import SMALL_OBJECT_LIMIT
from prov_common.canonical_json import canonical_bytes, loads
from prov_common.errors import ObjectConflictError, StoreUnavailableError, TdprovError, VerificationError
from prov_common.signing import SigningKey, open_envelope, sign_envelope
from prov_common.store._base import put_listed
from prov_common.store.base import Store
from prov_common.store.errors import ObjectNotFoundError
from prov_common.tlog.log import StoredCheckpoint
from prov_common.tlog.model import sha256_digest
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


def write_generated(store: Store, records: Iterable[RunRecord], signer: SigningKey, head: StoredCheckpoint, *,
                    present: set[str] | frozenset[str] = frozenset()) -> list[Written]:
    """Write the object of each version the ``records`` (logged by checkpoint ``head``) generated, skipping keys in
    ``present``; returns those it created, with the SHA-256 of the bytes written and, where the store tells, the fingerprint
    its listing gives each (so that the auditor knows it as listed, unread, see :func:`~prov_common.audit.inventory.pin_written`)."""
    todo: dict[str, bytes] = {}
    for r in records:
        for d in r.outputs:
            if d.version and (key := generated_key(d.namespace, d.name, d.version)) not in present and key not in todo:
                todo[key] = canonical_bytes({**written_at(head), "namespace": d.namespace, "name": d.name, "version": d.version,
                                             "record": r.to_dict(), **items_field(r.bundle_findings)})

    def put(item: tuple[str, bytes]) -> Written | None:
        data = sign_envelope(item[1], GENERATED_PAYLOAD_TYPE, [signer]).to_json()
        try:
            created, listed = put_listed(store, item[0], data)
        except ObjectConflictError:
            return None
        return Written(item[0], sha256_digest(data), listed) if created else None

    with ThreadPoolExecutor(WRITE_THREADS) as pool:
        return [w for w in pool.map(put, todo.items()) if w]


def _open(store: Store, key: str, binding: Binding) -> tuple[dict[str, Any], RunRecord]:
    """The payload and run record of the lookup object at ``key``, signed by a key the log's checkpoints are trusted
    under, its findings given the items kept of them (none from an older tdprov)."""
    doc = loads(open_envelope(store.get(key, SMALL_OBJECT_LIMIT), binding.log.trust, GENERATED_PAYLOAD_TYPE,
                              what=f"audit lookup '{key}'", position=checkpoint_size).payload)
    record = RunRecord.from_dict(doc["record"])
    record.bundle_findings = with_items(record.bundle_findings, doc.get("findingItems"))
    return doc, record


def _check(key: str, doc: dict[str, Any], record: RunRecord, binding: Binding) -> None:
    """Raise :class:`VerificationError` when the lookup at ``key`` is not named by the version it holds, or not of this
    store's log (``binding``)."""
    named = {_content_key(doc["version"]), *([generated_key(doc["namespace"], doc["name"], doc["version"])] if "namespace" in doc else [])}
    if key not in named:
        raise VerificationError(f"audit lookup '{key}' holds the lookup of {doc.get('name', 'a dataset')} at {doc['version']!r}, "
                                "which its key does not name: a lookup copied under another key", fix=FIX)
    binding.belongs(key, doc, [record.run_id], "lookup")


def read_lookup(store: Store, key: str, binding: Binding) -> RunRecord:
    """The run record of the lookup object at ``key``, verified: signed, named by its version, and of this store's log."""
    doc, record = _open(store, key, binding)
    _check(key, doc, record, binding)
    return record


class Generators:
    """Looks up the run that generated a version: in this audit's records first, then in the store (once each), where
    a lookup object counts only when it is of this store's log (``binding``)."""

    def __init__(self, store: Store, binding: Binding, known: Iterable[RunRecord]) -> None:
        self.store, self.binding = store, binding
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
        namespace, name, version = wanted
        try:
            doc, record = _open(self.store, key, self.binding)
            if doc["version"] != version or not any(version_of(d) == wanted for d in record.outputs):
                if "namespace" not in doc:  # a lookup by digest that another dataset with the same bytes holds
                    return None
                raise ValueError(f"it names version {doc['version']!r}, whose record does not generate {name} at {version!r}")
            _check(key, doc, record, self.binding)
        except ObjectNotFoundError:
            return None
        except StoreUnavailableError:
            raise
        except (TdprovError, KeyError, TypeError, ValueError) as exc:
            what = exc.what if isinstance(exc, TdprovError) else f"audit lookup '{key}' is damaged ({exc})"
            self.problems.append(Finding(CHECK_LOG, failed_in(key, exc), what, exc.fix if isinstance(exc, TdprovError) and exc.fix else FIX))
            return None
        return record
