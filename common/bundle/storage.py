"""Bundles in a store: deliver (write-once, commit marker last), read, and list through the time index."""
from __future__ import annotations

import io
import logging
import time
from itertools import chain, islice
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Literal

from blake3 import blake3

from prov_common.bundle import layout
from prov_common.bundle.events import (LATE_EVENT_FIX, SAME_DATE_FIX, SHARED_RUN_ID_FIX, RunIdentity, dag_run_pair,
                                       in_dag_run, is_terminal, line_digests, parent_of, parse_events_jsonl, with_parent)
from prov_common.bundle.model import Bundle, BundleSummary, FileEntry, Manifest
from prov_common.errors import (BadInputError, ObjectConflictError, StoreError, StoreUnavailableError, TdprovError,
                                 VerificationError)
from prov_common.hashing.raw import blake3_digest, show
from prov_common.signing import Envelope
from prov_common.store.base import Store
from prov_common.store.errors import TOO_LARGE_FIX, ObjectNotFoundError, ObjectTooLargeError, UnreadableObjectError
from prov_common.store.latekey import LateKey, put_late
from prov_common.store.listing_memo import listed_under
from prov_common.store.ranges import RangeReader
from prov_common.store.outbox import Outbox
from prov_common.text import clause, counted, noun_for
from prov_common.w3cprov.event_lines import EventBytes
from prov_common.w3cprov.events import parse_time

log = logging.getLogger(__name__)

WriteStatus = Literal["written", "already-sealed", "spooled"]


@dataclass(frozen=True)
class WriteResult:
    """What :func:`write_bundle` did: ``written``, ``already-sealed`` (another writer sealed the run
    first; exactly one bundle per run), or ``spooled`` (store unreachable, delivered later)."""

    run_id: str
    status: WriteStatus
    index_key: str | None = None


def index_key_since(store: Store, run_id: str, since: datetime) -> str | None:
    """The index key of ``run_id`` if one was written at or after ``since`` (lists only the entries that are newer)."""
    return next(index_keys_since(store, run_id, since), None)


def index_keys_since(store: Store, run_id: str, since: datetime | None) -> Iterator[str]:
    """The index keys of ``run_id`` written at or after ``since`` (every one when None), oldest first: one listing of
    the entries that are newer."""
    suffix = f"-{run_id}.json"
    start = None if since is None else layout.index_cursor(since)
    return (key for key in store.list(f"{layout.INDEX}/", start_after=start) if key.endswith(suffix))


class EntriesOfRuns:
    """The index keys of each of ``run_ids``, as :func:`index_keys_since` finds one run's (every key ending in
    ``-<run id>.json``), from one listing of the whole index made on first need, however many of the runs are asked
    for (a page of a DAG run's bundles whose ``indexed`` records are gone listed the index once per bundle).
    ``listed``: the index keys of a listing already made (:func:`index_keys`), taken instead of listing again."""

    def __init__(self, store: Store, run_ids: Iterable[str], listed: Iterable[str] | None = None) -> None:
        self._store = store
        self._suffixes = {f"-{run_id}.json": run_id for run_id in run_ids}
        self._found: dict[str, list[str]] | None = None
        self._listed = listed

    def __call__(self, run_id: str) -> list[str]:
        if f"-{run_id}.json" not in self._suffixes:  # a run not named at first: listed on its own
            return list(index_keys_since(self._store, run_id, None))
        if self._found is None:
            self._found = self._list()
        return list(self._found[run_id])

    def _list(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {run_id: [] for run_id in self._suffixes.values()}
        lengths = {len(suffix) for suffix in self._suffixes}
        for key in self._store.list(f"{layout.INDEX}/") if self._listed is None else self._listed:
            for length in lengths:  # every run whose suffix the key ends in, as endswith() tells
                if (run_id := self._suffixes.get(key[-length:])) is not None:
                    found[run_id].append(key)
        return found


def recorded_index_key(data: bytes, run_id: str) -> str | None:
    """The index key that an ``indexed`` record holding ``data`` names, when it is an index key of run ``run_id`` (None
    when it names anything else)."""
    named = data.decode("ascii", "replace")
    return named if named.startswith(layout.INDEX + "/") and layout.run_id_of_index_key(named) == run_id else None


def not_the_runs_entry(store: Store, key: str) -> str | None:
    """Why the index entry ``key`` is not its run's own (None when it is, or its bundle cannot tell), by the rule 'tdprov
    verify' applies: a run is indexed once, under the key its bundle's ``indexed`` record names, and a bundle whose
    manifest names its store was sealed by a tdprov that writes the record before the entry. So the entry was copied or
    moved when the record names another key, or is gone while the manifest names its store. One read of the record
    (and of the manifest when the record is gone)."""
    run_id = layout.run_id_of_index_key(key)
    try:
        data: bytes | None = store.get(layout.bundle_key(run_id, layout.INDEXED_FILE), layout.SMALL_OBJECT_LIMIT)
    except ObjectNotFoundError:
        data = None
    except (UnreadableObjectError, BadInputError):  # no run id, or not a record: the audit and verify name it
        return None
    if data is not None:
        named = recorded_index_key(data, run_id)
        return None if named in (key, None) else f"the bundle's indexed record names {named}, not this entry"
    manifest = sealed_manifest(store, run_id)
    if manifest is None or manifest.store_id is None:  # no bundle, or one sealed before the record was written
        return None
    return "the bundle's indexed record, which names its index entry, is gone"


def index_entry(bundle: Bundle) -> LateKey:
    """The bundle's index entry, keyed by the time it is written (at delivery, also from the spool),
    its key recorded once in ``bundles/<run_id>/indexed`` so that a redelivery writes no second entry."""
    return summary_entry(bundle.summary)


def summary_entry(summary: BundleSummary) -> LateKey:
    """The index entry holding ``summary`` (see :func:`index_entry`), never keyed before its sealing time."""
    run_id = summary.run_id
    return LateKey(layout.index_key_template(run_id), summary.to_json(),
                   record=layout.bundle_key(run_id, layout.INDEXED_FILE), not_before=summary.sealed_at)


SEALING_WAIT = 1.0  # seconds a writer that met another's bundle waits for its statement (the race of two sealings)


def deliver_bundle(store: Store, bundle: Bundle, now: datetime | None = None,
                   found: FoundManifest | None = None) -> WriteResult:
    """Write the bundle's objects in order: files, manifest, statement (the commit marker), index entry.

    Every object is write-once, so a retry of the same bundle is a no-op and a second, different
    bundle for the same run stops at its first conflicting object (the manifest at the latest, as it
    holds the sealing time): the run keeps exactly one bundle. The index entry is stamped with the
    delivery time, so a bundle delivered late from the spool still appears to cursor listings. ``found``: see
    :class:`FoundManifest`.
    """
    run_id = bundle.run_id
    try:
        created = [store.put(key, data) for key, data in bundle_objects(bundle)][-1]
    except ObjectConflictError as exc:
        return _already_sealed(store, bundle, exc, found)
    entry = index_entry(bundle)
    if not created and not store.exists(entry.record):  # sealed before index keys were recorded
        existing = index_key_since(store, run_id, parse_time(bundle.manifest.sealed_at, f"run {run_id} sealedAt"))
        if existing is not None:
            return WriteResult(run_id, "written", existing)
    key, _ = put_late(store, entry, now)
    return WriteResult(run_id, "written", key)


def read_bundle(store: Store, run_id: str, paths: Container[str] | None = None) -> Bundle:
    """Read a sealed bundle: manifest, statement and the listed files (only those among ``paths`` when given).
    Does not verify (see ``verify_bundle``), but reads no file past the size its manifest entry gives: a
    larger one is an :class:`ObjectTooLargeError` naming it (:func:`more_than_listed`), so memory is bounded by what
    the manifest says."""
    prefix = layout.bundle_prefix(run_id)
    try:
        statement = store.get(prefix + layout.STATEMENT_FILE, layout.SMALL_OBJECT_LIMIT)
    except ObjectNotFoundError:
        hint = "it is incomplete (never sealed)" if store.exists(prefix + layout.MANIFEST_FILE) else "no such bundle"
        raise ObjectNotFoundError(
            f"no sealed bundle for run {run_id} in {_describe(store)}: {hint}.",
            fix="list runs with 'tdprov runs'; an unsealed run is reported by 'tdprov verify'",
        ) from None
    manifest_bytes, manifest = _manifest(store, prefix)
    files = {f.path: _get_listed(store, prefix + f.path, f.size) for f in manifest.files if paths is None or f.path in paths}
    return Bundle(run_id, files, manifest, manifest_bytes, statement, _signer_key_id(statement, prefix))


def bundle_file(store: Store, bundle: Bundle, path: str) -> bytes:
    """The file ``path`` of ``bundle`` (as :func:`read_bundle` read it, or from the store by :func:`listed_file`)."""
    if path in bundle.files:
        return bundle.files[path]
    return listed_file(store, bundle.run_id, bundle.manifest, path)


def listed_file(store: Store, run_id: str, manifest: Manifest, path: str) -> bytes:
    """The file ``path`` of the bundle of ``run_id``, read from the store no further than the size ``manifest`` lists
    for it, as 'tdprov verify' reads a bundle's files: its ``events.jsonl`` may be larger than
    :data:`~prov_common.bundle.layout.SMALL_OBJECT_LIMIT` (many events, each under the bound a writer stages), and a
    larger object than listed is an :class:`ObjectTooLargeError` naming it. Not verified: the caller checks the digest
    when it must. :class:`BadInputError` when the manifest lists no such file."""
    return _get_listed(store, layout.bundle_key(run_id, path), _listed(run_id, manifest, path).size)


def more_than_listed(size: int) -> str:
    """How a bundle's file larger than the ``size`` its manifest lists is named, a digest mismatch (by 'tdprov verify',
    and by every reader of a bundle: :func:`listed_file`)."""
    return f"more bytes than the {size:,} the manifest says it holds (not read further)"


def _get_listed(store: Store, key: str, size: int) -> bytes:
    """The object ``key`` of a bundle, read no further than the ``size`` its manifest lists: a larger one is an
    :class:`ObjectTooLargeError` in the words of 'tdprov verify' (:func:`more_than_listed`), naming the store."""
    try:
        return store.get(key, size)
    except ObjectTooLargeError as exc:
        raise _grown(store, key, size, exc.fix) from None


def _grown(store: Store, key: str, size: int, fix: str = TOO_LARGE_FIX) -> ObjectTooLargeError:
    """The error for the object ``key`` of a bundle found larger than the ``size`` its manifest lists
    (:func:`more_than_listed`), naming the store."""
    return ObjectTooLargeError(f"{key} in {_describe(store)}: digest mismatch: {more_than_listed(size)}.", fix=fix)


def _listed(run_id: str, manifest: Manifest, path: str) -> FileEntry:
    """The entry ``manifest`` (of the bundle of ``run_id``) lists for ``path``; :class:`BadInputError` when none."""
    entry = manifest.by_path.get(path)
    if entry is None:
        raise BadInputError(f"the manifest of bundle {run_id} lists no {path}.",
                            fix=f"run 'tdprov verify {run_id}' and restore the bundle from a backup or replica of the store")
    return entry


def _not_listed_file(run_id: str, path: str) -> VerificationError:
    """The error for file ``path`` of the bundle of ``run_id`` when it is not the file its manifest names."""
    return VerificationError(f"{layout.bundle_key(run_id, path)} is not the file its bundle's manifest names.",
                             fix=f"run 'tdprov verify {run_id}' and restore the bundle from a replica")


def signed_file(store: Store, run_id: str, manifest: Manifest, path: str) -> bytes:
    """The bytes of file ``path`` of the bundle of ``run_id``, checked against the digest ``manifest`` gives."""
    try:
        data = listed_file(store, run_id, manifest, path)  # no further than it holds
    except (BadInputError, ObjectTooLargeError):  # not listed, or larger than the file it names: not that file
        raise _not_listed_file(run_id, path) from None
    return listed_bytes(run_id, manifest, path, data)


def listed_bytes(run_id: str, manifest: Manifest, path: str, data: bytes) -> bytes:
    """``data``, read as the file ``path`` of the bundle of ``run_id``, when it has the digest ``manifest`` lists for that
    file; else a :class:`~prov_common.errors.VerificationError` naming it, as :func:`signed_file` raises."""
    entry = manifest.by_path.get(path)
    if entry is None or entry.digest != blake3_digest(data):
        raise _not_listed_file(run_id, path)
    return data


LINES_CHUNK = 8 << 20  # bytes of a ranged read of :func:`listed_lines` and :func:`listed_parts`


def listed_parts(store: Store, run_id: str, manifest: Manifest, path: str, *, checked: bool = True) -> EventBytes:
    """The file ``path`` of the bundle of ``run_id`` as a fold reads it (:class:`~prov_common.w3cprov.event_lines.EventBytes`):
    in ranged reads of :data:`LINES_CHUNK` bytes, no further than the size ``manifest`` lists for it, so that no more than a part
    of a file of any size is held; a byte range again in one ranged read. After the last part, a file that is not the
    one the manifest lists (another size or digest) raises :class:`~prov_common.errors.VerificationError`: what its
    parts gave is then not to be taken. Not ``checked`` (a reader that verifies nothing, as :func:`listed_file`): only a
    file larger than listed is refused, as there (:class:`ObjectTooLargeError`, before the part that passes the size
    is given). :class:`BadInputError` when the manifest lists no such file."""
    entry = _listed(run_id, manifest, path)
    key = layout.bundle_key(run_id, path)
    return EventBytes(_listed_parts(store, run_id, path, entry, checked),
                      lambda start, stop: store.get_range(key, start, stop - start), entry.size)


def _listed_parts(store: Store, run_id: str, path: str, entry: FileEntry, checked: bool) -> Iterator[bytes]:
    """The parts of :func:`listed_parts`, hashed as they are read; the file's check after the last."""
    key, hasher, size = layout.bundle_key(run_id, path), blake3(), 0
    while size <= entry.size:
        asked = min(LINES_CHUNK, entry.size + 1 - size)  # one byte past the listed size at most: a larger file is not it
        part = store.get_range(key, size, asked)
        size += len(part)
        if size > entry.size and not checked:
            raise _grown(store, key, entry.size)
        hasher.update(part)
        if size > entry.size:
            break
        yield part
        if len(part) < asked:
            break
    if checked and (size != entry.size or show(hasher.digest()) != entry.digest):
        raise _not_listed_file(run_id, path)


def listed_lines(store: Store, run_id: str, manifest: Manifest, path: str, line_limit: int) -> Iterator[bytes | None]:
    """The lines of file ``path`` of the bundle of ``run_id`` (each with its newline), read in ranged parts no further
    than the size ``manifest`` lists for it, so that a file of any size is read a line at a time: a line longer than
    ``line_limit`` bytes is given as None (it is hashed, not held). After the last line, a file that is not the one the
    manifest lists (another size or digest) raises :class:`~prov_common.errors.VerificationError`: what its lines gave
    is then not to be taken. :class:`BadInputError` when the manifest lists no such file."""
    entry = _listed(run_id, manifest, path)
    key = layout.bundle_key(run_id, path)
    hasher, size, skipping = blake3(), 0, False
    reader = io.BufferedReader(RangeReader(store, key), LINES_CHUNK)
    while size <= entry.size and (line := reader.readline(line_limit)):
        size += len(line)
        hasher.update(line)
        ended = line.endswith(b"\n") or size == entry.size
        if not skipping and ended:
            yield line
        elif not skipping:
            yield None  # longer than line_limit: the rest of it is read past
        skipping = not ended
    if size != entry.size or show(hasher.digest()) != entry.digest:
        raise _not_listed_file(run_id, path)


@dataclass(frozen=True)
class FoundManifest:
    """The sealed manifest of a run that its writer found sealed by another process (None when it could not be read),
    whose events that came after the sealing the writer has named: its write reads the manifest not again, nor warns
    of them again."""

    manifest: Manifest | None


def _already_sealed(store: Store, bundle: Bundle, conflict: ObjectConflictError,
                    found: FoundManifest | None = None) -> WriteResult:
    """The result of a write of ``bundle`` that met ``conflict`` in its run's folder: refused when the folder holds no
    statement (:func:`_refuse_unsealed`), else "already-sealed", warning when this bundle holds events the sealed one
    does not (another run given the same run id, or events that came after the seal, unless ``found`` named them)."""
    run_id = bundle.run_id
    _refuse_unsealed(store, run_id, conflict)
    sealed = found.manifest if found is not None and found.manifest is not None else sealed_manifest(store, run_id)
    new = bundle.manifest
    dag_runs = None
    if sealed is not None and (another_run(sealed, bundle) or (dag_runs := _other_dag_runs(store, bundle, sealed)) is not None):
        warn_another_run(run_id, sealed, (new.job_namespace, new.job_name, new.parent_run_id), new.event_count,
                         dag_runs=dag_runs)  # two runs given one run id
    elif found is None and sealed is not None and new.event_count > sealed.event_count:  # came after the seal
        warn_came_after(run_id, sealed, new.event_count - sealed.event_count)
    else:
        log.info("run %s was already sealed by another writer; keeping that bundle (%s)", run_id, clause(conflict.what))
    return WriteResult(run_id, "already-sealed")


def warn_another_run(run_id: str, sealed: Manifest, new: tuple[str, str, str | None], count: int,
                     dag_runs: tuple[str, str] | None = None) -> None:
    """Warn that run ``run_id``, ``sealed`` already, met ``count`` events of another run given the same run id, of job
    ``new`` (namespace, name, parent run id), that stay staged in no bundle; ``dag_runs``: the Airflow DAG runs of the
    sealed run and of the other when they differ (two DAG runs at one logical date), named with their fix."""
    ins = (f" {in_dag_run(dag_runs[0])}", f" {in_dag_run(dag_runs[1])}") if dag_runs else ("", "")
    log.warning("tdprov: run %s is sealed already as the run of job %s/%s %s%s; another run, of job "
                "%s/%s %s%s, was given the same run id, so its %s %s in no bundle (%s "
                "staged under %s). Fix: %s", run_id, sealed.job_namespace, sealed.job_name,
                with_parent(sealed.parent_run_id), ins[0], new[0], new[1], with_parent(new[2]), ins[1],
                counted(count, 'event'), noun_for(count, "is", "are"),
                noun_for(count, "it stays", "they stay"), layout.staging_prefix(run_id),
                SAME_DATE_FIX if dag_runs else SHARED_RUN_ID_FIX)


def warn_came_after(run_id: str, sealed: Manifest, late: int) -> None:
    """Warn that ``late`` events of run ``run_id`` came after it was ``sealed``: they stay staged in no bundle."""
    log.warning("tdprov: run %s was sealed with %s before %s arrived; %s staged under %s and %s in no bundle. Fix: %s",
                run_id, counted(sealed.event_count, 'event'), counted(late, "more", "more"),
                noun_for(late, "it stays", "they stay"), layout.staging_prefix(run_id), noun_for(late, "is", "are"),
                LATE_EVENT_FIX)


def _refuse_unsealed(store: Store, run_id: str, conflict: ObjectConflictError) -> None:
    """Raise when the run's bundle that ``conflict`` met holds no statement: it is not sealed (not "already-sealed"),
    and this bundle is stored nowhere. A writer sealing the run now writes its statement right after its manifest, so
    the statement is awaited for up to :data:`SEALING_WAIT` seconds first."""
    statement, deadline = layout.bundle_key(run_id, layout.STATEMENT_FILE), time.monotonic() + SEALING_WAIT
    while not store.exists(statement):
        if time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    else:
        return
    prefix = layout.bundle_prefix(run_id)
    raise ObjectConflictError(
        f"run {run_id} is not sealed, but its bundle folder {prefix} already holds other bytes ({clause(conflict.what)}), "
        "so this bundle of the run is not stored.",
        fix=f"if another writer is sealing the run now, its bundle stands once sealed; if 'tdprov verify {run_id}' still "
            f"names the bundle incomplete, the writer that began it stopped: move {prefix} aside and seal the run again "
            f"with 'tdprov store seal {run_id}' (its events stay staged)") from conflict


def sealed_manifest(store: Store, run_id: str) -> Manifest | None:
    """The manifest of the run's sealed bundle (not verified; None when it cannot be read), e.g. to tell what was
    staged after the seal: more of the run's events, or another run's (:func:`another_run`)."""
    try:
        return _manifest(store, layout.bundle_prefix(run_id))[1]
    except StoreUnavailableError:
        raise
    except TdprovError:
        return None


def verified_manifest(store: Store, run_id: str, digest: str) -> Manifest | None:
    """The manifest of the run's bundle when its bytes are those of ``digest`` (the manifest digest verification found,
    e.g. a :class:`~prov_common.audit.model.RunRecord`'s ``manifest_digest``), so that what it lists is what was
    verified, with no second verification; None when it cannot be read or is other bytes. A store holding bundle reads
    (:func:`~prov_common.store.held_reads.bundle_reads_held`) answers with the bytes verified, reading nothing."""
    try:
        data, manifest = _manifest(store, layout.bundle_prefix(run_id))
    except StoreUnavailableError:
        raise
    except TdprovError:
        return None
    return manifest if blake3_digest(data) == digest else None


def sealed_run(store: Store, run_id: str) -> tuple[Manifest | None, RunIdentity]:
    """The manifest of the bundle sealed for ``run_id`` (None: none is) and the run its signed events are of
    (:meth:`RunIdentity.of <prov_common.bundle.events.RunIdentity.of>`: its terminal event's job and parent, else its
    earliest's). Raises :class:`~prov_common.errors.TdprovError` when the bundle cannot be read."""
    manifest, identity, _ = sealed_run_events(store, run_id)
    return manifest, identity


def sealed_run_events(store: Store, run_id: str, manifest: Manifest | None = None
                      ) -> tuple[Manifest | None, RunIdentity, frozenset[str]]:
    """:func:`sealed_run`, with the digest of each event of the sealed ``events.jsonl``
    (:func:`~prov_common.bundle.events.line_digests`), from one read of it; ``manifest``: the sealed one, when read."""
    manifest = manifest or sealed_manifest(store, run_id)
    data = listed_file(store, run_id, manifest, layout.EVENTS_FILE) if manifest else b""
    return manifest, events_run(run_id, data), line_digests(data)


def events_run(run_id: str, data: bytes | EventBytes) -> RunIdentity:
    """The run the sealed ``events.jsonl`` bytes ``data`` (held whole, or read in parts) of ``run_id`` are of (:meth:`RunIdentity.of
    <prov_common.bundle.events.RunIdentity.of>`: its terminal event's job and parent, else its earliest's).
    :class:`BadInputError` naming a line that is not JSON, or not a JSON object (as an altered file may hold)."""
    name = f"sealed {layout.EVENTS_FILE} of run {run_id}"
    events = parse_events_jsonl(data, name)
    return RunIdentity.of(next((e for e in reversed(events) if is_terminal(e)), None),
                          ((f"sealed event of run {run_id}", e) for e in events))


def another_run(sealed: Manifest, new: Bundle) -> bool:
    """Whether ``new`` is a bundle of another run than the ``sealed`` one of its run id, by the rule of
    :class:`~prov_common.bundle.events.RunIdentity`: of another job while only one of the two names a parent run (an
    Airflow DAG run and a mapped task's try given one run id; a job renamed under one parent, or with none on either
    side, is the same run's), or both name a parent run, not the same one, and no event of ``new`` names the sealed
    one's (a parent of the same job at another run id, a DAG run cleared while its task ran, leaves the run as it was)."""
    if ((sealed.job_namespace, sealed.job_name) != (new.manifest.job_namespace, new.manifest.job_name)
            and (sealed.parent_run_id is None) != (new.manifest.parent_run_id is None)):
        return True
    if None in (sealed.parent_run_id, new.manifest.parent_run_id) or sealed.parent_run_id == new.manifest.parent_run_id:
        return False
    try:
        events = parse_events_jsonl(new.files[layout.EVENTS_FILE])
    except (KeyError, BadInputError):
        return True
    return all((parent := parent_of(e)) is None or parent[0] != sealed.parent_run_id for e in events)


def _other_dag_runs(store: Store, new: Bundle, sealed: Manifest) -> tuple[str, str] | None:
    """(the sealed run's Airflow DAG run id, ``new``'s) when the events of ``new`` name another Airflow DAG run of the
    same DAG than those sealed at its run id, listed by the ``sealed`` manifest (two DAG runs at one logical date,
    :meth:`~prov_common.bundle.events.RunIdentity.other_dag_run`); None when they name the same one, another DAG's,
    either names none, or either cannot be read. The sealed events are read only when ``new``'s name a DAG run and are
    not those the sealed manifest lists (:func:`_same_events`: the same run's events sealed again name its DAG run)."""
    if _same_events(sealed, new.manifest):
        return None
    try:
        ours = events_run(new.run_id, new.files[layout.EVENTS_FILE]).dag_run
        theirs = events_run(new.run_id, listed_file(store, new.run_id, sealed, layout.EVENTS_FILE)).dag_run if ours else None
    except StoreUnavailableError:
        raise
    except (KeyError, TdprovError):
        return None
    return dag_run_pair(theirs, ours)


def _same_events(sealed: Manifest, new: Manifest) -> bool:
    """Whether ``new`` lists the ``events.jsonl`` that ``sealed`` does, by digest (a run's terminal event delivered
    twice, a spooled copy of its bundle sealed at another time): its events are the sealed ones, so nothing they name
    differs, and the sealed file is not read to tell (an altered one is 'tdprov verify''s to name, not a delivery's)."""
    ours, theirs = new.by_path.get(layout.EVENTS_FILE), sealed.by_path.get(layout.EVENTS_FILE)
    return ours is not None and theirs is not None and ours.digest == theirs.digest


def _manifest(store: Store, prefix: str) -> tuple[bytes, Manifest]:
    """The bytes of a bundle's manifest, and the manifest they hold (not verified)."""
    data = store.get(prefix + layout.MANIFEST_FILE, layout.SMALL_OBJECT_LIMIT)
    return data, Manifest.from_json(data, prefix + layout.MANIFEST_FILE)


def _signer_key_id(statement: bytes, prefix: str) -> str:
    """The key id of the first signature of a bundle's statement ("" when it has none; not verified)."""
    envelope = Envelope.from_json(statement, prefix + layout.STATEMENT_FILE)
    return envelope.signatures[0].keyid if envelope.signatures else ""


def _describe(store: Store) -> str:
    describe = getattr(store, "describe", None)
    return describe() if callable(describe) else store.uri


def load_index_entry(store: Store, key: str) -> BundleSummary:
    """The index entry at ``key`` as stored: ObjectNotFoundError when it is gone, BadInputError when it is not
    a bundle summary, also when no summary can be there (a named pipe, an object larger than any entry)."""
    try:
        data = store.get(key, layout.SMALL_OBJECT_LIMIT)
    except UnreadableObjectError as exc:
        raise BadInputError(f"index entry {key} is not a bundle summary ({clause(exc.what)})",
                            fix="the entry was damaged or replaced: restore it from a backup or replica of the store") from exc
    except BadInputError as exc:  # the key itself: characters or bytes (shown escaped) that no key of tdprov's has
        raise BadInputError(f"index entry {key} is not a bundle summary: its name is no key tdprov writes.",
                            fix="remove it and find out who wrote it ('tdprov audit' reports it)") from exc
    return BundleSummary.from_json(data, cursor=key)


def read_index_entry(store: Store, key: str) -> BundleSummary:
    """The index entry at ``key``; a damaged one is replaced by what its bundle's manifest says (with a warning)."""
    try:
        return load_index_entry(store, key)
    except BadInputError as damaged:
        found = summary_of_bundle(store, layout.run_id_of_index_key(key))
        if found is None:
            raise
        log.warning("tdprov: %s Listed from the bundle's manifest instead. Fix: %s", damaged.what, damaged.fix)
        return replace(found, cursor=key)


def summary_of_bundle(store: Store, run_id: str) -> BundleSummary | None:
    """What the index entry of ``run_id`` should hold, from its sealed bundle (not verified, like the entry);
    ``None`` when the bundle cannot be read."""
    try:
        prefix = layout.bundle_prefix(run_id)  # BadInputError for what no run id is (the key of a stray entry)
        manifest_bytes, manifest = _manifest(store, prefix)
        key_id = _signer_key_id(store.get(prefix + layout.STATEMENT_FILE, layout.SMALL_OBJECT_LIMIT), prefix)
    except StoreUnavailableError:
        raise
    except TdprovError:
        return None
    if manifest.run_id != run_id:
        return None
    return BundleSummary.of_manifest(manifest, key_id, blake3_digest(manifest_bytes))


def with_sealed_parent(store: Store, summary: BundleSummary, unread: dict[str, str] | None = None) -> BundleSummary | None:
    """``summary``, an index entry, with the parent run its bundle's manifest names where the entry names none (not
    verified, like the entry): an entry written before entries held the parent run names none, and is not rewritten
    (an entry is written once), as does the entry of a run that has none, so the manifest of each is read. An entry
    naming a parent run, or whose manifest names none, is returned as it is. One whose manifest cannot be read is
    returned as it is, or, given ``unread``, left out (added to it: its run id -> why the manifest cannot be read), as
    a listing of the runs of one parent run may lack it."""
    if summary.parent_run_id is not None:
        return summary
    try:
        _, manifest = _manifest(store, layout.bundle_prefix(summary.run_id))
    except StoreUnavailableError:
        raise
    except TdprovError as exc:
        if unread is None:
            return summary
        unread[summary.run_id] = exc.what.rstrip(".")
        return None
    if manifest.run_id != summary.run_id or manifest.parent_run_id is None:
        return summary
    return replace(summary, parent_run_id=manifest.parent_run_id)


def list_bundles(store: Store, since_cursor: str | None = None, left_out: dict[str, str] | None = None) -> Iterator[BundleSummary]:
    """Summaries of bundles indexed after ``since_cursor``, oldest first; each carries its ``cursor``.

    Costs time in proportion to what is new: the index is listed from the cursor on. Writers finish
    out of order by a few seconds, so a consumer that must see everything re-lists from
    ``layout.rewind_cursor(cursor, layout.SETTLE_SECONDS)`` and skips run ids it already has:
    :func:`prov_common.bundle.watch.watch_index` does both. A run is listed once (:func:`once_per_run`).
    ``left_out``: see :func:`listed_entry`.
    """
    return once_per_run(_listed_entries(store, index_keys(store, since_cursor), left_out))


def once_per_run(summaries: Iterable[BundleSummary]) -> Iterator[BundleSummary]:
    """``summaries`` with each run once, by the entry listed first: another index entry of it (copied or moved: a run
    is indexed once, and 'tdprov verify' names the entry its bundle does not record) is left out with a warning."""
    listed: dict[str, str | None] = {}  # run id -> the key it was listed by
    for summary in summaries:
        if summary.run_id in listed:
            log.warning("tdprov: index entry %s is a second entry of run %s (listed by %s): left out of this listing. Fix: "
                        "run 'tdprov verify %s' (it names the entry its bundle does not record) and remove that entry",
                        summary.cursor, summary.run_id, listed[summary.run_id], summary.run_id)
            continue
        listed[summary.run_id] = summary.cursor
        yield summary


def _listed_entries(store: Store, keys: Iterable[str], left_out: dict[str, str] | None = None) -> Iterator[BundleSummary]:
    """The summaries of the index entries ``keys`` (:func:`listed_entry`: one that cannot be read is left out)."""
    return (summary for summary in (listed_entry(store, key, left_out) for key in keys) if summary is not None)


def listed_entry(store: Store, key: str, left_out: dict[str, str] | None = None) -> BundleSummary | None:
    """:func:`read_index_entry` for a listing: an entry that neither it nor its bundle summarises is left
    out (one bad object does not stop the listing of the others), with a warning naming it; or, given ``left_out``,
    added to it instead (its run id -> why, or its key when it names no run) for the caller to name as a finding
    (:func:`~prov_common.cli._versions.tell_entries_not_read`): a listing without it may lack a run. An entry whose
    name does not parse (:func:`~prov_common.bundle.layout.index_name_parses`) names no run, whatever it holds: it is
    left out so, unread (a copy of a run's entry planted there would stand for that run, and hide its own entry)."""
    if not layout.index_name_parses(key):
        if left_out is not None:
            left_out[key] = layout.unparsed_index_entry(key)
        else:
            log.warning("tdprov: %s: left out of this listing. Fix: %s", layout.unparsed_index_entry(key), layout.UNPARSED_INDEX_FIX)
        return None
    try:
        return read_index_entry(store, key)
    except BadInputError as exc:
        if left_out is not None:
            run_id = layout.run_id_of_index_key(key)
            left_out[run_id if layout.is_run_id(run_id) else key] = exc.what.rstrip(".")
            return None
        log.warning("tdprov: %s Its bundle cannot be read either: left out of this listing. Fix: run 'tdprov verify' "
                    "(it names the bundle's problem) and restore both from a backup or replica of the store", exc.what)
        return None


def index_keys(store: Store, since_cursor: str | None = None) -> Iterator[str]:
    """Index keys of the bundles indexed after ``since_cursor``, oldest first, without reading them."""
    return (key for key in store.list(f"{layout.INDEX}/", start_after=since_cursor) if key.endswith(".json"))


def _months_back(start: datetime, earliest: datetime) -> Iterator[tuple[int, int]]:
    year, month = start.year, start.month
    while (year, month) >= (earliest.year, earliest.month):
        yield year, month
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)


def _day_of(index_key: str) -> datetime | None:
    """The day of an index entry's key; None for a key that is none (an S3 console "folder" object ``index/2026/``,
    a stray object: the audit names those)."""
    try:
        return datetime.strptime("/".join(index_key.split("/")[1:4]), "%Y/%m/%d").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def recent_bundles(store: Store, limit: int | None = None, now: datetime | None = None,
                   left_out: dict[str, str] | None = None, listed: Iterable[str] | None = None) -> Iterator[BundleSummary]:
    """Summaries newest first (for ``tdprov runs``): entries dated after tomorrow first (no writer makes them: the
    audit names them as a finding, and they are shown, not hidden), then the index walked back day by day from
    today, skipping empty months with one listing each; stops after ``limit``. A run is listed once (:func:`once_per_run`:
    newest first, by its newest entry). ``left_out``: see :func:`listed_entry`. ``listed``: the index keys of a listing
    already made (:func:`index_keys`), the index's folders taken from it instead of listed again (the entries are read)."""
    keys = None if listed is None else sorted(listed)

    def list_keys(prefix: str, start_after: str | None = None) -> Iterable[str]:
        return store.list(prefix, start_after=start_after) if keys is None else keys[listed_under(keys, prefix, start_after)]
    earliest = next((day for key in list_keys(f"{layout.INDEX}/") if (day := _day_of(key)) is not None), None)
    if earliest is None:
        return
    start = (now or datetime.now(timezone.utc)) + timedelta(days=1)
    future = [k for k in list_keys(f"{layout.INDEX}/", start_after=f"{layout.INDEX}/{start:%Y/%m/%d}/~") if k.endswith(".json")]
    days = (f"{layout.INDEX}/{year:04d}/{month:02d}/{day:02d}/" for year, month in _months_back(start, earliest)
            if next(iter(list_keys(f"{layout.INDEX}/{year:04d}/{month:02d}/")), None) is not None
            for day in range(start.day if (year, month) == (start.year, start.month) else 31, 0, -1))
    entries = (key for keys in chain([future], ([k for k in list_keys(day) if k.endswith(".json")] for day in days))
               for key in reversed(keys))
    yield from islice(once_per_run(_listed_entries(store, entries, left_out)), limit)


def bundle_objects(bundle: Bundle) -> list[tuple[str, bytes]]:
    """The bundle's (key, bytes) in write order: events, other files, manifest, statement (commit marker)."""
    run_id = bundle.run_id
    paths = [layout.EVENTS_FILE, *sorted(p for p in bundle.files if p != layout.EVENTS_FILE)]
    return [
        *((layout.bundle_key(run_id, p), bundle.files[p]) for p in paths),
        (layout.bundle_key(run_id, layout.MANIFEST_FILE), bundle.manifest_bytes),
        (layout.bundle_key(run_id, layout.STATEMENT_FILE), bundle.statement_bytes),
    ]


def write_bundle(
    store: Store, bundle: Bundle, *, outbox: Outbox | None = None, strict: bool = False, now: datetime | None = None,
    found: FoundManifest | None = None,
) -> WriteResult:
    """Write ``bundle`` once: through ``outbox`` when given, so that an unreachable store spools it
    (status ``spooled``; the next delivery or ``tdprov flush`` completes it), or directly.

    ``strict`` raises :class:`StoreUnavailableError` instead of spooling. A run that another writer
    sealed first keeps that bundle (status ``already-sealed``; ``found``: see :class:`FoundManifest`).
    """
    if outbox is None:
        return deliver_bundle(store, bundle, now, found)
    statement_key = layout.bundle_key(bundle.run_id, layout.STATEMENT_FILE)
    try:
        sealed = store.exists(statement_key)
    except StoreError:
        sealed = False  # the outbox finds out, and spools
    if sealed:  # a retry of a stored bundle: complete its index entry at most once
        return deliver_bundle(store, bundle, now, found)
    try:
        result = outbox.deliver(store, [*bundle_objects(bundle), index_entry(bundle)], strict=strict)
    except ObjectConflictError as exc:
        return _already_sealed(store, bundle, exc, found)
    if result.spooled:  # the index key is chosen when the flush delivers it
        return WriteResult(bundle.run_id, "spooled")
    return WriteResult(bundle.run_id, "written", result.late_keys[-1])
