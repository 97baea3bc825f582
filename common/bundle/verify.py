"""Verify a stored bundle: commit marker, signature and trust, manifest digests, events versus PROV."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from prov_common.bundle import layout, storage
from prov_common.bundle.build import Derived, derive_bundle, derive_written, statement_for
from prov_common.bundle.events import LineDigests, parse_events_jsonl
from prov_common.bundle.model import FileEntry, Manifest, VerificationReport
from prov_common.bundle.named_files import named_files
from prov_common.bundle.naming import NAMINGS, namings_of
from prov_common.bundle.subjects import check_version
from prov_common.bundle.storage import (index_keys_since, listed_parts, load_index_entry, more_than_listed,
                                        recorded_index_key)
from prov_common.errors import StoreError, StoreUnavailableError, TdprovError, VerificationError
from prov_common.hashing.model import FileDigest
from prov_common.hashing.raw import ALGORITHM, blake3_digest, hash_stream
from prov_common.lineage.validate import to_utc
from prov_common.signing import INTOTO_PAYLOAD_TYPE, Envelope, EnvelopeError, Statement, TrustStore, open_envelope
from prov_common.store.base import Store
from prov_common.store.errors import NotAFolderError, ObjectNotFoundError, ObjectTooLargeError, UnreadableObjectError
from prov_common.store.identity import foreign_store
from prov_common.store.ranges import RangeReader
from prov_common.tlog.model import sha256_digest
from prov_common.w3cprov.event_lines import EventBytes
from prov_common.w3cprov.events import RunState, folds_local_names, folds_versions_apart, parse_time
from prov_common.w3cprov.mapping import DERIVABLE_MAPPINGS, PROV_MAPPING


OTHER_STORE = "other store"
"""The problem of a bundle whose manifest names another store's identity than this store's."""
MISSING = "missing"
"""The problem of an object the bundle needs that is not in the store."""
NO_OBJECTS = "no bundle objects for this run"
"""Why a bundle none of whose objects is in the store is :data:`MISSING` (a finding of its folder, which no listing holds)."""
UNLISTED = "unlisted object"
"""The problem of a file in a bundle's prefix that its signed manifest does not list (planted)."""
NOT_HELD = "attachment not held"
"""The problem of a file of the bundle that its events name (failure samples, a row set) and its manifest does not list."""
FIX_NOT_HELD = ("the file was left out when the run was sealed, and a bundle is never changed after, so this finding "
                "stays: keep it as the record of a run that lacks the file, and re-run the step or task to record the "
                "version with it (a record of the file in the bundle's refused/ folder says why the sealing refused it); "
                "a person who has checked it accepts it in the audit with 'tdprov audit --accept-finding RUN_ID --reason "
                "TEXT'")
"""The fix of a :data:`NOT_HELD` finding."""
ATTACHMENT_CHUNK = 8 << 20
"""Attachments (row sets, failure samples) are hashed in ranged reads of this many bytes, never held whole, and no
further than the size their manifest lists and one byte."""

T = TypeVar("T")


def _fetch(key: str, report: VerificationReport, present: set[str], read: Callable[[str], T],
           listed: int | None = None, digest: str | None = None) -> T | None:
    """``read(key)``, or None with a ``missing`` finding when the object is not (or no longer) there. ``listed``: the
    size the manifest lists for an object ``read`` takes no further, so that a larger one is a ``digest mismatch`` (not
    the file sealed, as one of other bytes is), not an unreadable object. ``digest``: that of the bytes sealed, which a
    ``missing`` finding carries with ``listed`` (:attr:`~prov_common.bundle.model.Finding.sealed`)."""
    sealed = None if digest is None else (digest, listed)
    if key not in present:
        report.add(key, MISSING, "the object is listed but not in the store", sealed=sealed)
        return None
    try:
        found = read(key)
    except ObjectNotFoundError:
        report.add(key, MISSING, "the object vanished while verifying", sealed=sealed)
        return None
    except UnreadableObjectError as exc:  # an ObjectTooLargeError among them: larger than ``listed`` is other bytes
        if listed is not None and isinstance(exc, ObjectTooLargeError):
            report.checked += 1
            report.add(key, "digest mismatch", more_than_listed(listed))
        else:
            report.add(key, "unreadable", exc.what, exc.fix)
        return None
    report.checked += 1
    return found


def _get(store: Store, key: str, report: VerificationReport, present: set[str], listed: int | None = None,
         digest: str | None = None) -> bytes | None:
    """The object's bytes, or None with a finding: at most :data:`~prov_common.bundle.layout.SMALL_OBJECT_LIMIT` (a
    larger object is an ``unreadable`` finding), or with ``listed``, the size its manifest lists: a larger object is
    then a ``digest mismatch``, read no further. ``digest``: that of the bytes sealed (:func:`_fetch`)."""
    limit = layout.SMALL_OBJECT_LIMIT if listed is None else listed
    return _fetch(key, report, present, lambda k: store.get(k, limit), listed, digest)


def hash_stored(store: Store, key: str, chunk: int = ATTACHMENT_CHUNK, *, sha256: bool = False,
                limit: int | None = None) -> FileDigest:
    """BLAKE3 and size of the object ``key`` (with ``sha256``, its SHA-256 too), read in one pass of ranged reads of
    ``chunk`` bytes; ``limit``: an object of more bytes is an :class:`ObjectTooLargeError`, read no further (in one
    read of ``limit + 1`` bytes when that is less than ``chunk``)."""
    return hash_stream(RangeReader(store, key, limit), chunk if limit is None else min(chunk, limit + 1), sha256=sha256)


def read_pinned(store: Store, key: str, digest: str | None) -> bytes:
    """The bytes of ``key``, read whole only when they are at most :data:`~prov_common.bundle.layout.SMALL_OBJECT_LIMIT`
    or hash (in ranged parts) to ``digest``, the ``sha256:<hex>`` a reader pinned outside the object (an object that
    grows with the store may pass the bound); a larger object is otherwise an :class:`ObjectTooLargeError`, never read
    whole."""
    try:
        return store.get(key, layout.SMALL_OBJECT_LIMIT)
    except ObjectTooLargeError:
        found = hash_stored(store, key, sha256=True) if digest is not None else None
        if found is None or f"sha256:{found.file_sha256}" != digest:
            raise
        return store.get(key, found.bytes)


@dataclass
class CheckedBundle:
    """What verifying one bundle found and read, so that callers need not read it again: the report, every bundle object
    read whole (by path in the bundle, whatever its digest: statement, manifest, PROV, and events of at most a part
    (:func:`held_whole`); attachments and larger events are hashed as a stream and not kept, the events then folded in
    ranged parts (a file of any size: :func:`intact_events` reads them again), and so are the events and PROV when no
    trusted key's statement names the manifest: the files are then not parsed, see
    :func:`~prov_common.bundle.claimed.claimed_run`, and anyone can plant them at any size), the parsed manifest and its
    digest, what the events give (None when they could not be read or were not parsed), the index key that the bundle's
    ``indexed`` record names (None when it names none of this run's), and the paths of the events and PROV whose bytes
    are the size and digest the manifest gives (``intact``, held in ``objects`` or not), and the digests of the lines of
    events read in parts (:func:`~prov_common.bundle.events.line_digests`) taken as their fold read them, for the audit
    (``line_digests``: None when they are held, or were not folded to their end as a bundle is written)."""

    report: VerificationReport
    objects: dict[str, bytes] = field(default_factory=dict)
    manifest: Manifest | None = None
    manifest_digest: str | None = None
    derived: Derived | None = None
    indexed_entry: str | None = None
    intact: set[str] = field(default_factory=set)
    line_digests: frozenset[str] | None = None

    @property
    def statement_digest(self) -> str | None:
        """``sha256:<hex>`` of the stored statement envelope (what the Merkle log records)."""
        data = self.objects.get(layout.STATEMENT_FILE)
        return None if data is None else sha256_digest(data)


def _read_statement(raw: bytes, trust: TrustStore, key: str, report: VerificationReport) -> tuple[Statement | None, bool]:
    """The statement in the envelope ``raw`` and whether a trusted key signed it; envelope and signature problems are
    findings, and the statement of an envelope that parsed is still read, so the rest of the bundle gets checked."""
    signed = True
    try:
        opened = open_envelope(raw, trust, INTOTO_PAYLOAD_TYPE, what=key)
        envelope: Envelope | None = opened.envelope
        report.key_id = opened.key_id
    except EnvelopeError as exc:
        report.add(key, exc.problem, f"{exc.reason}; {exc.fix}")
        envelope, signed = exc.envelope, False
        report.key_id = exc.key_id  # altered around a valid signature: the key that signed it
    if envelope is None:
        return None, False
    report.claimed_key_ids = tuple(s.keyid for s in envelope.signatures)
    try:
        return Statement.from_json(envelope.payload, key), signed
    except TdprovError as exc:
        report.add(key, "malformed", exc.what)
        return None, False


def _manifest_digest_in(statement: Statement) -> str | None:
    """``blake3:<hex>`` of the manifest the statement names (its other digests are re-derived with the statement)."""
    manifest = statement.predicate.get("manifest")
    digest = manifest.get("digest") if isinstance(manifest, dict) else None
    value = digest.get(ALGORITHM) if isinstance(digest, dict) else None
    return f"{ALGORITHM}:{value}" if isinstance(value, str) else None


def _diff_fields(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    return sorted(k for k in set(expected) | set(actual) if k != "files" and expected.get(k) != actual.get(k))


def entry_differences(wrong: list[str], expected: dict[str, Any], actual: dict[str, Any], manifest: str) -> str:
    """What an index entry's ``wrong`` fields say otherwise than the bundle: its keyId is the key that signed the
    statement, not a field of the manifest (``manifest``: how the message names it)."""
    said = [f"index entry fields {', '.join(k for k in wrong if k != 'keyId')} differ from the bundle's {manifest}"
            ] if set(wrong) - {"keyId"} else []
    if "keyId" in wrong:
        said.append(f"index entry keyId {actual.get('keyId')!r} is not the key that signed the bundle's statement "
                    f"({expected.get('keyId')})")
    return "; ".join(said)


def verify_bundle(store: Store, run_id: str, trust: TrustStore, index_keys: Iterable[str] | None = None, *,
                  recorded_entry: bool = False, entries_of: Callable[[str], list[str]] | None = None) -> VerificationReport:
    """Check one bundle and name every object that fails and why.

    Findings: ``missing`` (no bundle, no commit marker, listed file absent, the bundle's recorded
    index entry not among ``index_keys``), ``unsigned``, ``untrusted key``, ``bad signature``,
    ``wrong payload type``, ``digest mismatch`` (file, or the manifest against the signed statement),
    ``unlisted object`` (in the bundle's prefix but not in its manifest), ``inconsistent`` (events of
    another run, PROV or summary not what the events give; an index entry in ``index_keys`` that
    does not summarise this bundle), ``malformed``, ``other store`` (signed for another store's identity:
    copied from it).

    ``index_keys``: the run's index entries, when the caller listed the index (see
    :func:`~prov_common.bundle.verify_runs.verify_runs`); None when it did not. ``recorded_entry`` (with
    ``index_keys`` None): check the entry that the bundle's ``indexed`` record names (a run named by the
    user, its index not listed; ``entries_of``: see :func:`verify_and_derive`).
    """
    return verify_and_derive(store, run_id, trust, index_keys, recorded_entry=recorded_entry, entries_of=entries_of).report


def _planted_in_place(store: Store, run_id: str, report: VerificationReport) -> bool:
    """Whether the store holds an object where run ``run_id``'s bundle folder belongs (``bundles/<run id>``); if so, it
    is an unlisted object in ``report``."""
    key = layout.bundle_prefix(run_id)[:-1]
    if not store.exists(key):
        return False
    report.add(key, UNLISTED, f"an object where run {run_id}'s bundle folder belongs: tdprov writes a folder of the "
                              "bundle's files there, never an object")
    return True


def verify_and_derive(store: Store, run_id: str, trust: TrustStore, index_keys: Iterable[str] | None = None, *,
                      recorded_entry: bool = False, indexed_under: str | None = None,
                      entries_of: Callable[[str], list[str]] | None = None) -> CheckedBundle:
    """:func:`verify_bundle`, also returning what it read and what the stored events give (their run
    state, parsed and folded once). ``indexed_under`` (with ``index_keys`` None): an index entry of the run that the
    caller listed and checks itself (not read again): the bundle's ``indexed`` record must then be there, a check on
    the bundle's own listing, with no request of its own. ``entries_of`` (with ``recorded_entry``): the index keys of a
    run whose ``indexed`` record is gone (:class:`~prov_common.bundle.storage.EntriesOfRuns`, one listing for many
    bundles); by default the index is listed for this run."""
    checked = CheckedBundle(VerificationReport(run_id))
    _check_bundle(store, trust, None if index_keys is None else list(index_keys), checked, recorded_entry, indexed_under,
                  entries_of or (lambda run: _entries_of_run(store, run)))
    return checked


def _check_bundle(store: Store, trust: TrustStore, index_keys: list[str] | None, checked: CheckedBundle,
                  recorded_entry: bool, indexed_under: str | None, entries_of: Callable[[str], list[str]]) -> None:
    report, run_id = checked.report, checked.report.run_id
    if not layout.is_run_id(run_id):  # a key or folder in the store that no bundle of tdprov's has
        if run_id or not index_keys:  # an index key that holds no run id at all names no folder either
            report.add(layout.unchecked_bundle_key(run_id), "malformed", f"{run_id!r} is not a run id: no bundle of tdprov's is named so")
        for key in index_keys or ():
            report.add(key, "malformed", f"the index entry's key names no run ({run_id!r} is not a run id): tdprov wrote no such entry"
                       if layout.index_name_parses(key) else layout.unparsed_index_entry(key))
        return
    prefix = layout.bundle_prefix(run_id)
    try:
        present = set(store.list(prefix))
    except NotAFolderError:  # a local store's file where the run's folder belongs: named below
        present = set()
    except StoreUnavailableError:
        raise
    except StoreError as exc:  # a folder no listing walks (a link to itself): this bundle's finding, not the store's
        report.add(prefix, "unreadable", exc.what, exc.fix)
        return

    def read(path: str, listed: int | None = None, digest: str | None = None) -> bytes | None:
        data = _get(store, prefix + path, report, present, listed, digest)
        if data is not None:
            checked.objects[path] = data
        return data

    statement_key, manifest_key = prefix + layout.STATEMENT_FILE, prefix + layout.MANIFEST_FILE
    if not present:
        try:  # a folder that lists nothing may be one no read goes through (a local link, listed as one object)
            store.get(manifest_key, layout.SMALL_OBJECT_LIMIT)
        except UnreadableObjectError as exc:
            report.add(manifest_key, "unreadable", exc.what, exc.fix)
            return
        except ObjectNotFoundError:
            pass
        if not _planted_in_place(store, run_id, report):
            report.add(prefix, MISSING, NO_OBJECTS)
        return
    _planted_in_place(store, run_id, report)  # an object store holds one beside the folder's objects
    if statement_key not in present:
        report.add(statement_key, MISSING, "the bundle was never sealed (no signed statement: incomplete)")

    raw_statement = read(layout.STATEMENT_FILE) if statement_key in present else None
    statement, signed = (None, False) if raw_statement is None else _read_statement(raw_statement, trust, statement_key, report)

    # a manifest found missing carries the digest its signed statement names (what finds it under a delete marker)
    manifest_bytes = read(layout.MANIFEST_FILE, digest=_manifest_digest_in(statement) if statement is not None and signed
                          else None)
    if manifest_bytes is None:
        return
    manifest_digest = checked.manifest_digest = blake3_digest(manifest_bytes)
    if statement is not None and _manifest_digest_in(statement) != manifest_digest:
        report.add(manifest_key, "digest mismatch", "the manifest is not the one the signed statement names")
    try:
        manifest = checked.manifest = Manifest.from_json(manifest_bytes, manifest_key)
    except TdprovError as exc:
        report.add(manifest_key, "malformed", exc.what)
        return
    if manifest.run_id != run_id:
        report.add(manifest_key, "inconsistent", f"manifest is for run {manifest.run_id}, not {run_id}")
    if statement is not None and statement.predicate.get("runId") != run_id:
        report.add(statement_key, "inconsistent", f"statement is for run {statement.predicate.get('runId')}")
    if (elsewhere := foreign_store(store, manifest.store_id)) is not None:
        report.add(manifest_key, OTHER_STORE, elsewhere)

    vouched = statement is not None and signed and _manifest_digest_in(statement) == manifest_digest
    files: dict[str, bytes] = {}  # PROV, and events of at most a part, read whole to be parsed
    attachments: list[str] = []  # hashed as a stream, never held
    listed_from = len(report.findings)
    for entry in manifest.files:
        sealed = entry.digest if vouched else None  # an unvouched manifest's digest finds no version under a marker
        if vouched and held_whole(entry):
            data = read(entry.path, entry.size, sealed)  # never more than the manifest says it holds
            found = None if data is None else FileDigest(blake3_digest(data), len(data))
        else:  # attachments, larger events (folded in parts below), and events and PROV no trusted statement vouches
            # for (not parsed below): hashed, never held, no further than listed (and one byte): more bytes than that
            # are not the file sealed, however many
            data, found = None, _fetch(prefix + entry.path, report, present,
                                       lambda key: hash_stored(store, key, limit=entry.size), entry.size, sealed)
        if found is None:
            continue
        if found.digest != entry.digest or found.bytes != entry.size:
            report.add(prefix + entry.path, "digest mismatch",
                       f"bytes hash to {found.digest} ({found.bytes} bytes), manifest says {entry.digest} ({entry.size} bytes)")
        elif data is not None:
            files[entry.path] = data
            checked.intact.add(entry.path)
        elif entry.path in layout.RESERVED:
            checked.intact.add(entry.path)
        else:
            attachments.append(entry.path)
    indexed_key = prefix + layout.INDEXED_FILE
    listed = {prefix + f.path for f in manifest.files} | {statement_key, manifest_key, indexed_key}
    for key in sorted(present - listed):
        report.add(key, UNLISTED, "in the bundle's prefix but not in its manifest")
    report.fold(listed_from, prefix)  # many files listed and not stored, or planted: one finding of each problem
    if vouched:
        events = (lambda: intact_events(store, checked)) if layout.EVENTS_FILE in checked.intact else None
        digests = LineDigests()
        checked.derived = _check_consistency(prefix, manifest, manifest_digest, files, events, attachments, statement,
                                             report, digests)
        checked.line_digests = digests.found
    # else the manifest is vouched for by no trusted signature (a finding above): its events are not parsed to rebuild
    # the bundle, which anyone can plant at any size (130,000 repeats of one event, 139 MB, cost 950 MB and 46 s)
    named = checked.indexed_entry = (_check_indexed_record(store, indexed_key, run_id, index_keys, report, present)
                                     if indexed_key in present else None)
    if index_keys is None and recorded_entry and indexed_key not in present and manifest.store_id is not None:
        index_keys = entries_of(run_id)  # the record is gone: are there entries it should name?
    if index_keys is not None:
        _check_indexed_once(run_id, indexed_key, named, index_keys, manifest, present, report)
    elif indexed_under is not None:  # one entry, listed by the caller: only the record's presence is checked here
        _check_indexed_once(run_id, indexed_key, named, [indexed_under], manifest, present, report)
    if index_keys is None and recorded_entry and named is not None:
        index_keys = [named]
    for key in index_keys or ():
        _check_index_entry(store, key, manifest, manifest_digest, report)


def held_whole(entry: FileEntry) -> bool:
    """Whether verification reads the file ``entry`` of a bundle a trusted key signed whole and keeps it: the PROV, and
    events of at most one ranged part (:data:`~prov_common.bundle.storage.LINES_CHUNK`, 8 MiB: a run's events are a few
    KB, read once for verification and the readers after it); larger events are hashed as a stream, then read in
    parts. A reader that reads such a file too reads it whole, so that a store holding its reads
    (:class:`~prov_common.store.held_reads.HeldReads`) gives verification those bytes, not a second read."""
    return entry.path == layout.PROV_FILE or (entry.path == layout.EVENTS_FILE and entry.size <= storage.LINES_CHUNK)


def intact_events(store: Store, checked: CheckedBundle) -> bytes | EventBytes:
    """The events of ``checked``'s bundle, which verification found the size and digest its manifest gives (in
    ``checked.intact``): as verification held them (at most a part, :func:`held_whole`), else read again in ranged
    parts (:func:`~prov_common.bundle.storage.listed_parts`: a part and a line held, whatever the file's size) and
    checked against that digest again after the last part (:class:`~prov_common.errors.VerificationError` when they
    changed since)."""
    assert checked.manifest is not None and layout.EVENTS_FILE in checked.intact
    held = checked.objects.get(layout.EVENTS_FILE)
    if held is not None:
        return held
    return listed_parts(store, checked.report.run_id, checked.manifest, layout.EVENTS_FILE)


def _entries_of_run(store: Store, run_id: str) -> list[str]:
    """The index entries of a run named by the user whose ``indexed`` record is gone (a bundle whose manifest names its
    store: the tdprov that sealed it writes the record with the entry): one listing of the index, every entry of the run
    whatever its key, as the whole-index verify finds them (a copy may be keyed before the run was sealed, where no
    writer keys one); none when the run was sealed and is not indexed yet (a finding of the audit's, not of the bundle)."""
    return list(index_keys_since(store, run_id, None))


def _check_indexed_record(store: Store, key: str, run_id: str, index_keys: list[str] | None, report: VerificationReport,
                          present: set[str]) -> str | None:
    """``indexed`` names this run's index entry (and, when the index was listed, one that exists): the key
    it names, None when it names none of this run's."""
    data = _get(store, key, report, present)
    if data is None:
        return None
    named = recorded_index_key(data, run_id)
    if named is None:
        report.add(key, "inconsistent", f"names {data.decode('ascii', 'replace')[:200]!r}, not an index key of run {run_id}")
        return None
    if index_keys is not None and named not in index_keys:
        report.add(named, MISSING, "the bundle's recorded index entry is not in the store")
    return named


def _check_indexed_once(run_id: str, indexed_key: str, named: str | None, index_keys: list[str], manifest: Manifest,
                        present: set[str], report: VerificationReport) -> None:
    """A run is indexed once, under the key its ``indexed`` record names (``named``): a bundle with an index entry has the
    record when a tdprov that writes it sealed it (its manifest names its store), and any other entry of the run was copied."""
    if index_keys and indexed_key not in present and manifest.store_id is not None:
        report.add(indexed_key, MISSING, f"the bundle's indexed record, which names its index entry, is gone though the run has "
                                           f"{'an index entry' if len(index_keys) == 1 else f'{len(index_keys)} index entries'}")
    if len(index_keys) > 1:
        recorded = f"the bundle's indexed record names {named}, not this one" if named else "the bundle's indexed record names none"
        for key in index_keys:
            if key != named:
                report.add(key, "inconsistent", f"one of {len(index_keys)} index entries of run {run_id} ({recorded}): a run is "
                                                "indexed once, so an entry was copied or moved")


def _check_index_entry(store: Store, key: str, manifest: Manifest, manifest_digest: str, report: VerificationReport) -> None:
    """An index entry (unsigned, what ``tdprov runs`` shows) must summarise the signed manifest."""
    try:
        summary = load_index_entry(store, key)
    except ObjectNotFoundError:
        report.add(key, MISSING, "the bundle's recorded index entry is not in the store")
        return
    except TdprovError as exc:
        report.add(key, "malformed", exc.what)
        return
    report.checked += 1
    sealed = to_utc(manifest.sealed_at, sealed=True)
    if sealed is not None and key < layout.index_cursor(sealed):
        report.add(key, "inconsistent", f"keyed before its run was sealed ({manifest.sealed_at}): tdprov keys an entry when it "
                                        "delivers it, never before the sealing, so it was moved or copied there, where listings "
                                        "that follow the index from a cursor (sensors, incremental audits) no longer look")
    expected = summary.expected_of(manifest, manifest_digest, report.key_id)
    if summary.to_json() != expected.to_json():
        wrong = _diff_fields(expected.to_dict(), summary.to_dict())
        report.add(key, "inconsistent", entry_differences(wrong, expected.to_dict(), summary.to_dict(), "manifest"))


def _check_consistency(
    prefix: str,
    manifest: Manifest,
    manifest_digest: str,
    files: dict[str, bytes],
    events: Callable[[], bytes | EventBytes] | None,
    attachments: list[str],
    statement: Statement,
    report: VerificationReport,
    digests: LineDigests,
) -> Derived | None:
    """Re-derive PROV, manifest summary and statement from the events and compare (``files``: the PROV when its digest
    matched; ``events``: each call the events as held, or a new reading of them in parts (:func:`intact_events`), None
    when they are not the file the manifest lists; ``attachments``: the paths of the attachments whose digests matched;
    their bytes are not needed again; ``statement``: signed by a trusted key and naming this manifest's digest, as only
    such a bundle is re-derived; ``digests``: given the lines of events read in parts as they are folded, so that the
    audit need not read them again)."""
    events_key = prefix + layout.EVENTS_FILE
    if events is None:
        return None
    try:  # what the manifest says to derive by, refused before the events are folded or parsed
        options = _derive_options(prefix, manifest, attachments)
    except TdprovError as exc:
        report.add(events_key, "malformed", exc.what)
        return None
    try:
        expected = written = _derived_as_written(manifest, events(), events_key, options, digests)
        if written is None:  # not as a bundle is written: parsed whole, which names what is wrong as ever
            expected = _derived_parsed(manifest, events(), events_key, options, report)
    except ObjectNotFoundError:
        report.add(events_key, MISSING, "the object vanished while verifying")
        return None
    except (UnreadableObjectError, VerificationError) as exc:  # read again, no longer the file it was
        report.add(events_key, "digest mismatch", f"changed while verifying: {exc.what}",
                   exc.fix if isinstance(exc, UnreadableObjectError) else None)  # a verification's fix sends here
        return None
    if expected is None:
        return None
    _check_named_files(prefix, manifest, expected.state, report)
    if written is None and blake3_digest(expected.files[layout.EVENTS_FILE]) != manifest.by_path[layout.EVENTS_FILE].digest:
        report.add(events_key, "inconsistent", "events are not canonical JSON lines in eventTime order")
    if layout.PROV_FILE in files:
        _check_prov(prefix + layout.PROV_FILE, files[layout.PROV_FILE], expected.files[layout.PROV_FILE], manifest.mapping, report)
    recorded_versions = replace(expected.manifest, prov_mapping=manifest.prov_mapping, dataset_naming=manifest.dataset_naming,
                                store_id=manifest.store_id,  # the events do not give the store: it is checked on its own
                                # a manifest sealed before it held the task instance or mapping key has none
                                task_instance=None if manifest.task_instance is None else expected.manifest.task_instance,
                                mapping_key=None if manifest.mapping_key is None else expected.manifest.mapping_key)
    wrong = _diff_fields(recorded_versions.to_dict(), manifest.to_dict())
    if wrong:
        report.add(prefix + layout.MANIFEST_FILE, "inconsistent", f"fields {', '.join(wrong)} differ from what the events give")
    _check_statement(prefix + layout.STATEMENT_FILE, statement, manifest, manifest_digest, report)
    return expected


def _check_named_files(prefix: str, manifest: Manifest, state: RunState, report: VerificationReport) -> None:
    """Each file of the bundle that the events name (:func:`~prov_common.bundle.named_files.named_files`) and its manifest
    does not list as an attachment is a :data:`NOT_HELD` finding: the record says it has what it lacks (the file was
    never sealed with it, so no other check finds it); many are one finding of the bundle's folder."""
    since = len(report.findings)
    held = {f.path for f in manifest.files} - set(layout.RESERVED)
    for named in named_files(state):
        if named.path not in held:
            key = prefix + named.path if _attachment_path(named.path) else prefix + layout.EVENTS_FILE
            report.add(key, NOT_HELD, f"{named.said()}, which the bundle's manifest does not list", FIX_NOT_HELD)
    report.fold(since, prefix)


def _attachment_path(path: str) -> bool:
    """Whether ``path`` is one an attachment may have (a finding is filed under it; else under the events)."""
    try:
        layout.check_attachment_path(path)
    except TdprovError:
        return False
    return True


def _derive_options(prefix: str, manifest: Manifest, attachments: list[str]) -> dict[str, Any]:
    """What the manifest says to derive its bundle by (the files were hashed against it: they are not re-derived);
    :class:`TdprovError` for a digest-set version this tdprov does not know, an attachment path or a seal time that no
    bundle holds."""
    check_version(manifest.digest_sets)
    for path in attachments:
        layout.check_attachment_path(path)
    sealed_at = parse_time(manifest.sealed_at, f"{prefix}{layout.MANIFEST_FILE} sealedAt", sealed=True)
    return {"sealed_at": sealed_at, "hashed": manifest.files, "digest_sets": manifest.digest_sets,
            "prov_mapping": _derivable(manifest.mapping), "local_names": folds_local_names(manifest.mapping),
            "versions_apart": folds_versions_apart(manifest.mapping)}


def _derived_as_written(manifest: Manifest, data: bytes | EventBytes, events_key: str, options: dict[str, Any],
                        digests: LineDigests) -> Derived | None:
    """What the events ``data`` (held whole, or read in parts) of this manifest's run give, folded line by line when
    they are as a bundle is written (:func:`~prov_common.bundle.build.derive_written`: 177 MB of 110,002 events folded
    whole took 1.52 GB); None when they are not, or anything about them is wrong (:func:`_derived_parsed` names it); the
    store's errors, and :class:`VerificationError` for events that changed since they were hashed, as raised. Events
    read in parts give ``digests`` each line as it is folded, done once the fold has read them all (checked against the
    file's digest after the last part: a file changed since raises)."""
    parts = isinstance(data, EventBytes)
    try:
        expected = derive_written(data, events_key, **options, each_line=digests.line if parts else None)
    except (StoreError, VerificationError):
        raise
    except TdprovError:
        return None
    if parts:
        digests.done(data.size)  # a fold that stopped at a raw '\r' gave only the lines before it
    return expected if expected is not None and expected.state.run_id == manifest.run_id else None


def _derived_parsed(manifest: Manifest, data: bytes | EventBytes, events_key: str, options: dict[str, Any],
                    report: VerificationReport) -> Derived | None:
    """What the events ``data`` of this manifest's run give, parsed whole (from its parts, if so read: the bytes never
    held) and ordered (so that the events of a file not as a bundle is written are named as ever); None with a finding
    when they cannot give the run; the store's errors and :class:`VerificationError` as raised."""
    try:
        events = parse_events_jsonl(data, events_key)
        others = sorted({_run_id_named(e) for e in events} - {manifest.run_id})
        if others:
            report.add(events_key, "inconsistent", f"holds events of other runs: {', '.join(others[:3])}")
            return None
        return derive_bundle(_let_go(events), None, sealed=True, **options)
    except (StoreError, VerificationError):
        raise
    except TdprovError as exc:
        report.add(events_key, "malformed", exc.what)
        return None


def _let_go(events: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The ``events`` in their order, each taken out of the list as it is given (the list is left empty), so that the
    events parsed are let go of while they are ordered (each in canonical form again), not held beside them."""
    events.reverse()
    while events:
        yield events.pop()


def _run_id_named(event: dict[str, Any]) -> str:
    """The run id an event names, as text: ``None`` when its ``run`` is absent or not an object (``"x"``, ``[1]``)."""
    run = event.get("run")
    return str(run.get("runId") if isinstance(run, dict) else None)


def _check_statement(key: str, statement: Statement, manifest: Manifest, manifest_digest: str,
                     report: VerificationReport) -> None:
    """The statement must be the one the manifest gives, its datasets named by the naming version the
    manifest records (a manifest from before the field: any of those versions); a naming version this
    version does not know cannot be re-derived, so it is noted."""
    namings = namings_of(manifest.dataset_naming)
    known = [n for n in namings if n in NAMINGS]
    if not known:
        report.note(key, "not re-derived", f"dataset names made by naming {', '.join(namings)}, not re-derived "
                    f"(this version knows {', '.join(NAMINGS)}); its signature and manifest digest were checked")
    elif all(statement.to_json() != statement_for(manifest, manifest_digest, naming) for naming in known):
        report.add(key, "inconsistent", "subjects or predicate differ from the manifest")


def _derivable(mapping: str) -> str:
    """The mapping version to re-derive a bundle's PROV by: its own when this version derives it, else the current one."""
    return mapping if mapping in DERIVABLE_MAPPINGS else PROV_MAPPING


def _check_prov(key: str, stored: bytes, derived: bytes, mapping: str, report: VerificationReport) -> None:
    """PROV of a mapping version this code derives must be the bytes the events give; PROV of another
    version cannot be re-derived here, so it is noted, and must still parse as PROV-JSON (its digest was checked)."""
    if mapping in DERIVABLE_MAPPINGS:
        if stored != derived:
            report.add(key, "inconsistent", "the PROV document is not the one the events give")
        return
    from prov_common.w3cprov.serialize import deserialize

    try:
        deserialize(stored, "json")
    except TdprovError as exc:
        report.add(key, "malformed", exc.what)
        return
    report.note(key, "not re-derived", f"PROV made by mapping {mapping}, not re-derived (this version derives {', '.join(DERIVABLE_MAPPINGS)}); "
                f"its digest and PROV-JSON syntax were checked")
