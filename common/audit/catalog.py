"""The audit catalog: the run records of every logged bundle, so that readers of every run
(``tdprov contains``, ``tdprov record``, ``audit --rehash``) need not re-read old bundles.

One signed, write-once segment per checkpoint, holding the records of the runs examined by the
audit that wrote it: ``audit/catalog/<tree size, 12 digits>.json`` (DSSE, payload type below), with the items of
their findings beside them (``findingItems``, as the audit state keeps its own). An
incremental audit's checks do not read it: they continue from the audit state (``state.py``).

So that reading every run costs one object, not one per audit ever made, an audit that read
``COMPACT_AFTER`` or more segments beside the newest summary writes a new signed summary,
``audit/catalog-summary/<tree size, 12 digits>-<audit>.json``: every record, and the keys of the
segments it covers. Readers take the newest summary that belongs to this store's log and the segments
it does not cover (a segment written meanwhile by another auditor is never skipped).

Each object names the checkpoint it was written at (``checkpointSize``, ``checkpointRoot``): it belongs
to this store's log when the log's checkpoint of that size has that root (see :class:`Binding`), so an
object an auditor signed for another store or prefix, copied in, is a finding and never a record here.
"""
from __future__ import annotations

from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from prov_common.audit.model import CHECK_LOG, Finding, RunRecord, failed_in, items_apart, with_items
from prov_common.bundle.verify import read_pinned
from prov_common.canonical_json import canonical_bytes, loads
from prov_common.errors import ObjectConflictError, TdprovError, VerificationError
from prov_common.signing import SigningKey, TrustStore, open_envelope, sign_envelope
from prov_common.store._base import put_listed
from prov_common.store.base import Store
from prov_common.store.errors import ObjectNotFoundError
from prov_common.tlog.log import StoredCheckpoint, TransparencyLog, checkpoint_key
from prov_common.tlog.model import sha256_digest

CATALOG_PREFIX = "audit/catalog/"
CATALOG_PAYLOAD_TYPE = "application/vnd.tdprov.audit-catalog+json"
SUMMARY_PREFIX = "audit/catalog-summary/"
SUMMARY_PAYLOAD_TYPE = "application/vnd.tdprov.audit-catalog-summary+json"
COMPACT_AFTER = 8  # segments read beside the newest summary before an audit writes a new summary
FIX_FOREIGN = ("remove the object and find out who wrote it: auditors write each catalog or lookup object for a checkpoint of the "
               "store they audit, and the runs it names are not this store's; 'tdprov audit --full' re-examines every run")
FIX_LOST = ("if this store's log was rolled back, keep the object (it holds the records of the runs the log lost) and restore the log "
            "from a backup or replica; otherwise " + FIX_FOREIGN)
FIX_DAMAGED = "the audit re-examined the runs it named; restore the object from a backup"


def catalog_key(size: int) -> str:
    return f"{CATALOG_PREFIX}{size:012d}.json"


def named_size(key: str) -> int | None:
    """The checkpoint size a catalog segment's or summary's key names (None: the key names none)."""
    stem = key[len(CATALOG_PREFIX):].removesuffix(".json") if key.startswith(CATALOG_PREFIX) else key[len(SUMMARY_PREFIX):].split("-", 1)[0]
    return int(stem) if stem.isdigit() and len(stem) == 12 else None


def written_at(head: StoredCheckpoint) -> dict[str, Any]:
    """What a catalog object says of the checkpoint it is written at: its size and root."""
    return {"checkpointSize": head.checkpoint.size, "checkpointRoot": head.checkpoint.root}


class Written(NamedTuple):
    """An object an audit wrote, with the SHA-256 of its bytes (for the audit state to vouch for a catalog object, and for
    the auditor's memory to know an object by when it is first listed) and the fingerprint the store's listing gives it
    where the store told it when it created it (``listed``: the auditor's memory knows it by that, as listed, and no
    audit reads it to know it)."""

    key: str
    digest: str
    listed: str | None = None  # the fingerprint the store's listing gives it, where the store told when it created it

    @classmethod
    def put(cls, store: Store, key: str, data: bytes, *, listed: bool = True) -> Written:
        """Write ``data`` to ``key`` of ``store`` (ObjectConflictError if other bytes are there) and name it so, with the
        fingerprint the store gave the object it created (``listed=False``: none, for an object the next audit reads
        anyway and compares by the SHA-256 of what it read)."""
        fingerprint = put_listed(store, key, data)[1]
        return cls(key, sha256_digest(data), fingerprint if listed else None)


@dataclass
class Binding:
    """What ties a catalog object (or a lookup object, ``generated.py``) to the log of the store it is in: the root of
    the log's checkpoint of the size it names (read through ``log``, which keeps what it read), unless ``pins`` vouches
    for a catalog object's bytes (key -> SHA-256, from an audit state bound to this log: no checkpoint is read for them).
    An object written before such objects named their root belongs here when every run it holds is one of ``logged``
    (run ids this log holds; None: unknown)."""

    log: TransparencyLog
    pins: Mapping[str, str] = field(default_factory=dict)
    logged: Container[str] | None = None

    @classmethod
    def of(cls, store: Store, trust: TrustStore) -> "Binding":
        """For a reader outside an audit: the newest audit state's pins, roots read from the store's log."""
        from prov_common.audit.state import load_state

        log = TransparencyLog(store, trust, read_once=True)
        state = load_state(store, log, trust).state
        return cls(log, state.catalog if state else {})

    def check(self, key: str, digest: str, payload: dict[str, Any], runs: Iterable[str]) -> None:
        """Raise :class:`VerificationError` when the object at ``key`` is not this log's (or was moved)."""
        size, named = payload.get("checkpointSize"), named_size(key)
        if named is None or size != named:
            raise VerificationError(f"'{key}' was written for checkpoint {size!r}, its key names {named}: it was replaced or moved")
        if self.pins.get(key) != digest:
            self.belongs(key, payload, runs)

    def belongs(self, key: str, payload: Mapping[str, Any], runs: Iterable[str], kind: str = "catalog") -> None:
        """Raise :class:`VerificationError` when the ``kind`` object at ``key`` is not of this log: this log's checkpoint
        of the size it names (``checkpointSize``) has another root than it names (``checkpointRoot``); or, written
        before such objects named their root, or at a checkpoint the log no longer has, a run of ``runs`` is not one
        this log holds."""
        size, root = payload.get("checkpointSize"), payload.get("checkpointRoot")
        if root is None:
            self._check_runs(key, runs, kind)
            return
        ours = self._root(size)
        if ours is None and self.logged is not None:  # the checkpoint is gone (a deletion, found as such, perhaps accepted):
            self._check_runs(key, runs, kind, gone=size)  # the object counts when every run it names is one this log holds
            return
        if ours != root:
            now = f"this store's checkpoint {size} has root {ours}" if ours else f"this store's log has no checkpoint {size}"
            raise VerificationError(f"'{key}' was written at checkpoint {size} with root {root}, but {now}: it is another store's "
                                    f"(or prefix's) {kind} object copied here, or of a history this log no longer holds", fix=FIX_FOREIGN)

    def _root(self, size: int) -> str | None:
        try:
            return self.log.read_checkpoint(checkpoint_key(size)).checkpoint.root
        except ObjectNotFoundError:
            return None

    def _check_runs(self, key: str, runs: Iterable[str], kind: str, gone: int | None = None) -> None:
        """Raise :class:`VerificationError` when a run of ``runs`` is not one this log holds. ``gone``: the size of the
        checkpoint the object names, which this log no longer has (its runs may be those a rollback took from the log)."""
        if self.logged is None:
            raise VerificationError(f"'{key}' was written before {kind} objects named their checkpoint's root, and no audit state of "
                                    "this store vouches for it: its runs are not taken from it",
                                    fix="run 'tdprov audit' with the auditor's memory of this store, or 'tdprov audit --full', which "
                                        "check its runs against the log")
        foreign = [r for r in runs if r not in self.logged]
        if not foreign:
            return
        runs_named = f"run {foreign[0]}{f' (and {len(foreign) - 1} more)' if len(foreign) > 1 else ''}, which this store's log does not hold"
        if gone is None:
            raise VerificationError(f"'{key}' names {runs_named}: it is another store's {kind} object, copied here", fix=FIX_FOREIGN)
        raise VerificationError(f"'{key}' was written at checkpoint {gone}, which this log no longer has, and names {runs_named}: the "
                                f"log lost them (deleted or rolled back, see the log check), or it is another store's {kind} object, "
                                "copied here", fix=FIX_LOST)


@dataclass
class Catalog:
    """Run records by run id, problems met while reading the catalog, the segments covered by the
    summary read and the segments read beside it, and the SHA-256 of each object read (key -> digest)."""

    runs: dict[str, RunRecord] = field(default_factory=dict)
    problems: list[Finding] = field(default_factory=list)
    covered: set[str] = field(default_factory=set)
    segments: list[str] = field(default_factory=list)
    digests: dict[str, str] = field(default_factory=dict)


def read_object(store: Store, key: str, binding: Binding) -> tuple[dict[str, Any], dict[str, RunRecord], str]:
    """The payload, run records and SHA-256 of the catalog segment or summary at ``key``, verified: signed by a
    key the log's checkpoints are trusted under, written for the checkpoint its key names, and of this store's
    log (``binding``)."""
    data = read_pinned(store, key, binding.pins.get(key))  # a summary grows with the store: it may pass the small-object bound
    summary = key.startswith(SUMMARY_PREFIX)
    payload_type, what = (SUMMARY_PAYLOAD_TYPE, "audit catalog summary") if summary else (CATALOG_PAYLOAD_TYPE, "audit catalog")
    payload = loads(open_envelope(data, binding.log.trust, payload_type, what=f"{what} '{key}'", position=checkpoint_size).payload)
    if not isinstance(payload, dict):
        raise ValueError("not a JSON object")
    runs = _records(payload)
    digest = sha256_digest(data)
    binding.check(key, digest, payload, runs)
    return payload, runs, digest


def checkpoint_size(payload: bytes) -> int:
    """The size of the checkpoint a catalog or lookup object names (where the log fixed it, for a retired key)."""
    return loads(payload)["checkpointSize"]


def _records(payload: Mapping[str, Any]) -> dict[str, RunRecord]:
    """The run records of a catalog object's ``payload``, their findings given the items it keeps of them."""
    items = payload.get("findingItems") or {}  # none from an older tdprov
    if not isinstance(items, Mapping):
        raise ValueError("its findingItems is not an object")
    records = {}
    for record in map(RunRecord.from_dict, payload["runs"]):
        record.bundle_findings = with_items(record.bundle_findings, items.get(record.run_id))
        records[record.run_id] = record
    return records


def _runs(records: Iterable[RunRecord]) -> dict[str, Any]:
    """The ``runs`` of a catalog object, and apart from them (an older tdprov reads the records without them) the items
    their findings name (``findingItems``: run id -> :func:`~prov_common.audit.model.items_apart`), as the audit state
    keeps its own."""
    runs = list(records)
    items = {r.run_id: kept for r in runs if (kept := items_apart(r.bundle_findings))}
    return {"runs": [r.to_dict() for r in runs], **({"findingItems": items} if items else {})}


def _problem(key: str, what: str, exc: Exception) -> Finding:
    text = exc.what if isinstance(exc, TdprovError) else f"{what} '{key}' is damaged ({exc})"
    fix = exc.fix if isinstance(exc, TdprovError) and exc.fix else FIX_DAMAGED
    return Finding(CHECK_LOG, failed_in(key, exc), text, fix)


def load_catalog(store: Store, trust: TrustStore, binding: Binding | None = None) -> Catalog:
    """Every run record: the newest catalog summary of this store's log and the segments it does not cover,
    verified (``binding``: default, the newest audit state's pins and the store's checkpoints); an object that
    is damaged or not this log's is a finding (an older summary or the segments are read instead)."""
    binding = binding or Binding.of(store, trust)
    catalog = Catalog()
    for key in reversed(list(store.list(SUMMARY_PREFIX))):
        try:
            summary, catalog.runs, catalog.digests[key] = read_object(store, key, binding)
            catalog.covered = {str(k) for k in summary["segments"]}
            break
        except (TdprovError, KeyError, TypeError, ValueError) as exc:
            catalog.problems.append(_problem(key, "audit catalog summary", exc))
    for key in store.list(CATALOG_PREFIX):
        if key in catalog.covered:
            continue
        try:
            _, runs, catalog.digests[key] = read_object(store, key, binding)
            catalog.runs.update(runs)
            catalog.segments.append(key)
        except (TdprovError, KeyError, TypeError, ValueError) as exc:
            catalog.problems.append(_problem(key, "audit catalog", exc))
    return catalog


def _put(store: Store, key: str, payload: dict[str, Any], payload_type: str, signer: SigningKey,
         binding: Binding) -> Written | None:
    """Write a catalog object once; None when an auditor of this log wrote it first. An object there that is not
    this log's raises :class:`VerificationError` (the records written now are then in no segment)."""
    data = sign_envelope(canonical_bytes(payload), payload_type, [signer]).to_json()
    try:
        return Written.put(store, key, data)
    except ObjectConflictError:
        try:
            read_object(store, key, binding)
        except (TdprovError, KeyError, TypeError, ValueError) as exc:
            why = exc.what if isinstance(exc, TdprovError) else f"it is damaged ({exc})"
            raise VerificationError(f"the catalog of the runs examined at checkpoint {payload['checkpointSize']} could not be written: "
                                    f"'{key}' is taken by an object that is not this store's: {why}", fix=FIX_FOREIGN) from None
        return None


def write_summary(store: Store, head: StoredCheckpoint, catalog: Catalog, signer: SigningKey, audit_id: str, binding: Binding, *,
                  also: Iterable[RunRecord] = (), force: bool = False) -> Written | None:
    """Write a summary of ``catalog`` (read after the segment of checkpoint ``head`` was written) and of the records
    ``also`` when it read ``COMPACT_AFTER`` or more segments beside a summary, or with ``force`` (this audit's
    records are in no segment); None when none was due or another auditor wrote it."""
    if len(catalog.segments) < COMPACT_AFTER and not force:
        return None
    runs = {**catalog.runs, **{r.run_id: r for r in also}}
    payload = {**written_at(head), "segments": sorted(catalog.covered | set(catalog.segments)),
               **_runs(sorted(runs.values(), key=lambda r: (r.index_key, r.run_id)))}
    return _put(store, f"{SUMMARY_PREFIX}{head.checkpoint.size:012d}-{audit_id[:8]}.json", payload, SUMMARY_PAYLOAD_TYPE, signer,
                binding)


def known_runs(store: Store, trust: TrustStore) -> dict[str, RunRecord]:
    """Every sealed run: catalog records where an audit made them, index summaries for the rest
    (only those index entries are read: the run id is in the key). Index summaries do not hold the other
    names of a run's datasets (a Dagster asset key, in the events' ``symlinks``): see
    :class:`~prov_common.audit.recorded.RecordedRuns`."""
    from prov_common.audit.recorded import RecordedRuns

    return RecordedRuns.of(store, trust).runs


def write_catalog(store: Store, head: StoredCheckpoint, records: list[RunRecord], signer: SigningKey, binding: Binding) -> Written | None:
    """Write the records examined by this audit under the checkpoint ``head``; None if another auditor did. A key
    taken by an object that is not this log's raises :class:`VerificationError`."""
    payload = {**written_at(head), **_runs(sorted(records, key=lambda r: r.index_key))}
    return _put(store, catalog_key(head.checkpoint.size), payload, CATALOG_PAYLOAD_TYPE, signer, binding)
