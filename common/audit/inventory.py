"""The inventory check: one listing of the store against what the log and the auditor's memory expect.

Reads no object it already knows: a listing (one request per 1,000 keys on S3) gives each key with
its size and tag (ETag; a local file's modification time, inode and change time), which the auditor's memory compares with
what it recorded when it first saw the object. Findings: a logged run whose bundle, commit marker,
``indexed`` record, index entry or any file its signed manifest lists is missing or changed, or whose bundle holds a file
its manifest does not list (the audit verifies such a bundle again, see :func:`changed_runs`, and one whose planted file an
earlier audit named and is gone, see :func:`planted_gone`); an index entry moved to another key; a
run id indexed twice; an index entry of a run the log does not hold; a checkpoint, leaf batch,
audit state, catalog or lookup object, audit report or record, source record or signed resolution that is missing or
changed; a new object there that does not verify (forged), a catalog or lookup object that is not of this store's log, or an
audit's signed record that names another store (another store's, copied in, with its reports); a
resolution this auditor wrote that no longer holds the bytes it wrote when first listed; a lookup, leaf batch, catalog
object, audit record or report this auditor wrote that changed or is gone since (known by the fingerprint the store gave
it when it created it, else by the SHA-256 of the bytes written).
"""
from __future__ import annotations

import re
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field, replace

from prov_common.audit.catalog import CATALOG_PREFIX, SUMMARY_PREFIX, Binding, Written, read_object
from prov_common.audit.examine import FIX_MISSING, found_missing, gone_whole, planted
from prov_common.audit.generated import GENERATED_PREFIX, read_lookup
from prov_common.audit.memory import AuditorMemory
from prov_common.audit.model import CHECK_INVENTORY, NOTE, Finding, RunRecord, failed_in
from prov_common.audit.published import FIX_OTHER_STORE, REPORTS_PREFIX, RUNS_PREFIX, check_record, check_report
from prov_common.audit.resolve import FIX_OTHER_STORE as FIX_OTHER_STORES_RESOLUTION, RESOLUTIONS_PREFIX, check_resolution
from prov_common.audit.state import FIX_COPIED as FIX_COPIED_STATE, STATE_PREFIX, read_state
from prov_common.bundle import layout
from prov_common.bundle.model import FILES_SHOWN
from prov_common.bundle.storage import sealed_manifest
from prov_common.bundle.verify import hash_stored
from prov_common.errors import StoreUnavailableError, TdprovError
from prov_common.signing import TrustStore
from prov_common.sources.registry import SOURCES_PREFIX
from prov_common.store.base import Store
from prov_common.store import listing_memo
from prov_common.store.errors import ObjectTooLargeError
from prov_common.store.markers import DeleteMarkers
from prov_common.tlog.log import CHECKPOINTS_PREFIX, FIX_NOT_THE_LOGS, LEAVES_PREFIX, TransparencyLog
from prov_common.text import counted, first_of
from prov_common.tlog.model import LogLeaf, sha256_digest

SIGNED_PREFIXES = (STATE_PREFIX, CATALOG_PREFIX, SUMMARY_PREFIX, GENERATED_PREFIX, RUNS_PREFIX, RESOLUTIONS_PREFIX)  # what audits write, signed
# reports are checked by the digests their audit's signed record gives; source records by the sources check
TRACKED_PREFIXES = (CHECKPOINTS_PREFIX, LEAVES_PREFIX, *SIGNED_PREFIXES, REPORTS_PREFIX, SOURCES_PREFIX)
_INDEX = layout.INDEX + "/"
# the index first, before the bundles (see Listing.take)
LISTED_PREFIXES = (_INDEX, layout.BUNDLES + "/", "log/", *SIGNED_PREFIXES, REPORTS_PREFIX, SOURCES_PREFIX)
# what Listing.first lists after the index, for the readers before the inventory; bundles/ has none, so the inventory lists it alone
FIRST_LISTED = tuple(p for p in LISTED_PREFIXES if p not in (_INDEX, layout.BUNDLES + "/"))
_KINDS = {SOURCES_PREFIX: "source record", REPORTS_PREFIX: "audit report", RUNS_PREFIX: "audit's signed record",
          RESOLUTIONS_PREFIX: "signed resolution", CHECKPOINTS_PREFIX: "checkpoint", LEAVES_PREFIX: "leaf batch"}
FIX_RESTORE = ("restore the object from a backup or replica of the store (objects are written once); then audit again. A restored "
               "file has a new fingerprint (on a local folder its change time, on S3 the ETag of a copy): the audit verifies a "
               "logged run's bundle again and takes back its files, manifest, signed statement, indexed record and index entry "
               "once they are the objects logged; any other restored object is taken only by a person, with 'tdprov audit "
               "--accept-checkpoint --reason TEXT' (recorded)")
FIX_WRITTEN = ("restore the object from a backup or replica of the store (objects are written once): an audit takes it back when it holds "
               "the bytes this auditor wrote; find out who replaced it")
FIX_FORGED = "remove the object and find out who wrote it: only auditors write here, and they sign what they write"
FIX_INDEX = "remove the extra index entry (the first one, named by bundles/<run>/indexed, is the run's entry)"
FIX_UNLOGGED = ("if it is this store's run whose entry was keyed behind what an audit had listed, because its writer's clock ran "
                "behind (fix that machine's clock) or its entry was written late under the key its writer recorded before an "
                "audit (a redelivery, or 'tdprov store repair'), a person accepts it with 'tdprov audit --full --accept-checkpoint "
                "--reason TEXT', which logs it; otherwise find out who wrote the entry (a run copied from another store, or under "
                "a new run id; see 'tdprov verify') and remove it")
FIX_MOVED_BACK = "move the entry back to the key the log names"
FIX_UNPARSED = layout.UNPARSED_INDEX_FIX


def unparsed_entries(listing: Listing) -> list[Finding]:
    """Index keys whose name does not parse as ``<stamp>-<run id>.json``, each named as it is: such a key names no
    run (a run id cut from it would name one that does not exist) and no time, so it is neither examined nor logged."""
    return [Finding(CHECK_INVENTORY, key, layout.unparsed_index_entry(key), FIX_UNPARSED) for key in listing.unparsed]


RUN_FILES = {layout.MANIFEST_FILE: "manifest", layout.STATEMENT_FILE: "signed statement", layout.INDEXED_FILE: "'indexed' record"}
_BUNDLES = layout.BUNDLES + "/"
UNVERIFIED = "unverified"  # the fingerprint remembered for the files of a bundle that did not verify: verified again on every audit
WRITTEN = "written="  # + the SHA-256 of the bytes: an object this auditor wrote after its listing, compared with them when first listed


def run_objects(run_id: str, index_key: str, files: Iterable[str] = ()) -> dict[str, str]:
    """The objects of a logged run that the inventory tracks, with what each is: its manifest, signed statement,
    ``indexed`` record and index entry, and ``files`` (keys of the files its signed manifest lists)."""
    out = {layout.bundle_key(run_id, name): what for name, what in RUN_FILES.items()}
    out.update((key, f"file '{key.removeprefix(layout.bundle_prefix(run_id))}'") for key in files)
    out[index_key] = "index entry"
    return out


def bundle_files(keys: Iterable[str]) -> dict[str, list[str]]:
    """The keys among ``keys`` of files in bundles other than the manifest, signed statement and ``indexed`` record
    (what a sealed bundle's manifest lists), by run id."""
    out: dict[str, list[str]] = {}
    for key in keys:
        if key.startswith(_BUNDLES):
            run_id, _, path = key[len(_BUNDLES):].partition("/")
            if path not in RUN_FILES:
                out.setdefault(run_id, []).append(key)
    return out


def _manifest_listed(key: str) -> bool:
    """Whether ``key`` is a bundle's file of those its manifest lists (not its manifest, statement or ``indexed`` record)."""
    return key.startswith(_BUNDLES) and key[len(_BUNDLES):].partition("/")[2] not in RUN_FILES


@dataclass
class Listing:
    """The store as one listing shows it: fingerprint by key, and index keys by run id."""

    tags: dict[str, str] = field(default_factory=dict)
    index: dict[str, list[str]] = field(default_factory=dict)
    requests: int = 0
    files: dict[str, list[str]] = field(default_factory=dict)  # run id -> keys of its bundle's files (see bundle_files)
    unparsed: list[str] = field(default_factory=list)  # index keys whose name is no <stamp>-<run id>.json: they name no run

    @classmethod
    def take(cls, store: Store, indexed: Listing | None = None) -> Listing:
        """One listing of the store; on a local folder only the tracked objects are stat'ed (S3 lists tags for free).
        ``indexed``: the listing of the index that :meth:`first` took, continued here with the other prefixes (the
        index is not listed again: it was listed before bundles/ all the same)."""
        out = cls() if indexed is None else indexed
        # the index before the bundles: a writer writes a run's files before its index entry, so each entry listed has
        # its files in the listing of bundles/ taken after it (the other order misses the files of a run sealed between
        # the two, which the audit's listing memo then hides from the run's verification: "missing", for the audit's length);
        # each prefix read as it is listed, none held whole beside what the inventory keeps of it
        for prefix in LISTED_PREFIXES:
            if indexed is None or prefix != _INDEX:
                out._list(store, prefix)
        out.files = bundle_files(out.tags)
        return out

    def _list(self, store: Store, prefix: str) -> None:
        """Add the objects under ``prefix``, as listed now, and the index keys among them by run id."""
        count = 0
        for info in store.list_info(prefix, tags_for=_fingerprinted):
            count += 1
            self.tags[info.key] = info.fingerprint
            if info.key.startswith(_INDEX) and info.key.endswith(".json"):
                if (run_id := layout.index_run_id(info.key)) is not None:
                    self.index.setdefault(run_id, []).append(info.key)
                else:
                    self.unparsed.append(info.key)
        self.requests += count // 1000 + 1

    def add_later(self, store: Store, leaves: Iterable[LogLeaf]) -> list[str]:
        """Add the objects of the logged runs of ``leaves`` that this listing shows no object of (neither in their bundle
        folder nor at the index key the leaf names): sealed after it was taken, and logged by another auditor since. Their
        bundle folders and index entries are listed now, not from the listings the store's memo kept (which cannot show
        them), so that they are examined and fingerprinted as they are, and a bundle that is really gone is listed so.
        Returns their run ids."""
        leaves = [x for x in leaves if x.index_key not in self.tags and layout.is_run_id(x.run_id)]
        if not leaves:  # the usual case: no pass over the whole listing
            return []
        folders = self.folders()
        later = [x for x in leaves if x.run_id not in folders]
        if not later:
            return []
        folders_now = tuple(layout.bundle_prefix(x.run_id) for x in later)
        for prefix in (*folders_now, *(x.index_key for x in later)):
            listing_memo.forget_listings(store, prefix)
            self._list(store, prefix)
        self.files.update(bundle_files(key for key in self.tags if key.startswith(folders_now)))
        return [x.run_id for x in later]

    @classmethod
    def first(cls, store: Store) -> tuple[Listing, dict[str, str]]:
        """List the store at the start of an audit, within its listing memo (``BaseStore.memo_listings``): every
        reader of these prefixes before the inventory (the log's checkpoints and leaves, the audit state) then has its
        keys from it, each prefix listed once until the audit writes there. The index is listed here once, in full,
        whatever its size: the audit's planning step (:meth:`entries`) and :meth:`take` (given it) have its keys from
        the listing returned, which the inventory keeps anyway, so a large store's index, which the memo cannot keep,
        is not listed again by either. ``bundles/``, which no reader before the inventory lists, is not listed here:
        :meth:`take` lists it once, after the index (and the memo keeps that listing for the bundles' readers after it,
        as it would keep this one). Any other prefix the memo cannot keep (more than
        :data:`~prov_common.store.listing_memo.MAX_KEPT_OBJECTS` objects) is read no further than that bound here.
        Returns the listing of the index and the fingerprints of the audit states listed (key -> fingerprint): what
        they were before the audit read one (see :func:`adopt_new`'s ``read``)."""
        indexed = cls()
        indexed._list(store, _INDEX)
        states: dict[str, str] = {}
        for prefix in FIRST_LISTED:
            for seen, info in enumerate(store.list_info(prefix, tags_for=_fingerprinted), 1):
                if seen > listing_memo.MAX_KEPT_OBJECTS:  # not kept: the listing stops (a reader that stops keeps nothing)
                    break
                if info.key.startswith(STATE_PREFIX):
                    states[info.key] = info.fingerprint
        return indexed, states

    def entries(self, after: str | None = None) -> list[str]:
        """The keys of the index entries listed (``*.json``) after ``after``, in the order listed: what
        :func:`~prov_common.bundle.storage.index_keys` gives, without listing the index again."""
        return [key for key in self.tags if key.startswith(_INDEX) and key.endswith(".json") and (after is None or key > after)]

    def pins(self, run_ids: Iterable[str]) -> dict[str, str]:
        """The fingerprints of the objects examining ``run_ids`` reads: their index entries and every object of their
        bundle folders (the folder itself when it is an object), for a worker to read them as listed. A run id that
        cannot name a bundle folder (an index entry's key that names no run: a finding) has its index entries only."""
        out: dict[str, str] = {}
        for run_id in run_ids:
            keys = [*self.index.get(run_id, ()), *self.files.get(run_id, ())]
            if layout.is_run_id(run_id):
                keys += [_BUNDLES + run_id, *(layout.bundle_key(run_id, name) for name in RUN_FILES)]
            out.update((key, self.tags[key]) for key in keys if key in self.tags)
        return out

    def sealed(self, run_ids: Iterable[str]) -> set[str]:
        """Those of ``run_ids`` whose bundle folder the listing shows with a signed statement (the commit marker)."""
        return {r for r in run_ids if layout.bundle_key(r, layout.STATEMENT_FILE) in self.tags}

    def folders(self) -> set[str]:
        """The run ids of the bundle folders in which the listing shows any object, or that are an object themselves (a
        file, or a local link listed as one: tdprov writes none)."""
        return {key[len(_BUNDLES):].partition("/")[0] for key in self.tags if key.startswith(_BUNDLES)}

    def objects_in_place(self) -> set[str]:
        """Those of :meth:`folders` that the listing shows as an object ``bundles/<name>``; in a bucket, such a name may
        also be a folder that holds objects (:meth:`holding`)."""
        return {key[len(_BUNDLES):] for key in self.tags if key.startswith(_BUNDLES) and "/" not in key[len(_BUNDLES):]}

    def holding(self) -> set[str]:
        """Those of :meth:`folders` in which the listing shows an object."""
        return {key[len(_BUNDLES):].partition("/")[0] for key in self.tags if key.startswith(_BUNDLES) and "/" in key[len(_BUNDLES):]}


def _tracked(key: str) -> bool:
    return key.startswith(TRACKED_PREFIXES)


def _fingerprinted(key: str) -> bool:
    """Keys whose fingerprint the inventory compares: audit and log objects, index entries, and every file of
    every bundle (a local folder stats only these)."""
    return _tracked(key) or key.startswith((layout.INDEX + "/", _BUNDLES))


def remember_runs(memory: AuditorMemory, listing: Listing, runs: Iterable[tuple[str, str]],
                  manifests: Mapping[str, Iterable[str]], unverified: Mapping[str, Container[str]] | None = None) -> None:
    """Add logged runs ``(run id, index key)`` to what the memory expects, fingerprints as listed now: their manifest,
    signed statement, ``indexed`` record, index entry and the files their signed manifest lists (``manifests``: run id
    -> paths, for the runs this audit examined; a run another auditor examined: the files listed in its bundle).
    ``unverified``: runs examined now with errors -> the keys the errors name; those of their files (all of them when the
    errors name none) are remembered as :data:`UNVERIFIED`, so every later audit verifies the bundle again until it does."""
    unverified = unverified or {}
    for run_id, index_key in runs:
        if run_id in memory.runs:
            continue
        memory.runs[run_id] = index_key
        listed = manifests.get(run_id)
        files = listing.files.get(run_id, []) if listed is None else [layout.bundle_key(run_id, path) for path in listed]
        named = unverified.get(run_id)
        failed = None if named is None else {k for k in files if k in named} or set(files)
        for key in run_objects(run_id, index_key, files):
            tag = UNVERIFIED if failed and key in failed and key in listing.tags else listing.tags.get(key, "")
            memory.tags.setdefault(key, tag)


def record_bundle_files(memory: AuditorMemory, listing: Listing, store: Store) -> int:
    """Logged runs whose files an earlier tdprov did not fingerprint (it kept only the manifest, signed statement and
    ``indexed`` record): the fingerprints, as listed now, of the files their manifest lists (one read of each), so that
    a file planted there before this audit stays one no audit saw (:func:`changed_runs`: the bundle is verified again,
    which names it) rather than one of the bundle's; a manifest changed since the auditor fingerprinted it is verified
    against the log there too. How many runs got them (none for a manifest that cannot be read: its run's files are
    all unseen, so it is verified again)."""
    known = bundle_files(memory.tags)
    added = 0
    for run_id in memory.runs:
        if run_id in known or not listing.files.get(run_id):
            continue
        manifest = sealed_manifest(store, run_id)
        if manifest is None:
            continue
        added += 1
        prefix = layout.bundle_prefix(run_id)
        for key in listing.files[run_id]:
            if key[len(prefix):] in manifest.by_path:
                memory.tags[key] = listing.tags[key]
    return added


def changed_runs(memory: AuditorMemory, listing: Listing) -> dict[str, list[str]]:
    """Logged runs with a tracked object that the listing shows changed or missing, or with a file in their bundle that
    no audit saw there (its manifest does not list it: planted), not those whose bundle is gone whole, with those keys:
    each is verified again (its bundle re-read against its signed manifest, which names a planted file)."""
    out: dict[str, list[str]] = {}
    for run_id, objects in _remembered(memory).items():
        if layout.bundle_key(run_id, layout.MANIFEST_FILE) not in listing.tags and layout.bundle_key(run_id, layout.STATEMENT_FILE) not in listing.tags:
            continue
        changed = [k for k in objects if k not in listing.tags or (memory.tags.get(k) and memory.tags[k] != listing.tags[k])]
        changed += [k for k in listing.files.get(run_id, ()) if k not in objects]
        if changed:
            out[run_id] = changed
    return out


def logged_objects_changed(changed: Mapping[str, list[str]], verified: Iterable[str]) -> list[str]:
    """The runs of ``changed`` verified again without error (``verified``) of which a changed object is one that the
    verification alone does not tie to the run as logged: its manifest, signed statement, ``indexed`` record or index
    entry (:func:`retake_verified` takes them once the bundle is found to be the one the log's leaf names)."""
    return [run_id for run_id in verified if any(not _manifest_listed(k) for k in changed.get(run_id, ()))]


def retake_rechecked(memory: AuditorMemory, listing: Listing, changed: Mapping[str, list[str]], verified: Iterable[str]) -> list[Finding]:
    """Runs of ``changed`` whose bundle was verified again without error (every file has the digest its signed manifest
    names) while only such files changed, not the manifest, signed statement, ``indexed`` record or index entry (those
    are taken back against the log's leaf, :func:`logged_objects_changed`): the files' new fingerprints are taken, with a note; more
    than :data:`FILES_SHOWN` files taken back alike (not verified when first listed, or rewritten) are one note of the
    bundle, naming that many and counting the rest, with all their keys (its ``items``)."""
    out: list[Finding] = []
    for run_id in verified:
        keys = changed.get(run_id, [])
        if not keys or any(k not in listing.tags or not _manifest_listed(k) for k in keys):
            continue
        prefix, was = layout.bundle_prefix(run_id), {k: memory.tags[k] for k in keys}
        memory.tags.update((k, listing.tags[k]) for k in keys)
        for unverified, many, group in ((True, "did not verify when first listed", [k for k in keys if was[k] == UNVERIFIED]),
                                        (False, "were rewritten", [k for k in keys if was[k] != UNVERIFIED])):
            if len(group) > FILES_SHOWN:  # one note of the bundle, however many files its manifest lists
                out.append(_retaken(prefix, run_id, f"{counted(len(group), 'file')} of logged run {run_id} {many} "
                                    f"({first_of([k.removeprefix(prefix) for k in group], FILES_SHOWN)})",
                                    "their new fingerprints are taken", group))
                continue
            for key in group:
                how = many if unverified else f"was rewritten (size:tag {was[key]} -> {listing.tags[key]})"
                out.append(_retaken(key, run_id, f"the file '{key.removeprefix(prefix)}' of logged run {run_id} {how}",
                                    "its new fingerprint is taken"))
    return out


def _retaken(key: str, run_id: str, what: str, taken: str, keys: Iterable[str] = ()) -> Finding:
    """A note of :func:`retake_rechecked`: of the file ``key``, or of the bundle ``key`` counting the files ``keys``."""
    return Finding(CHECK_INVENTORY, key, f"{what}; the bundle was verified again and every file has the digest its "
                   f"signed manifest names: {taken}",
                   "nothing to do if it was restored from a backup or replica; otherwise find out who rewrote it",
                   severity=NOTE, run_id=run_id, items=tuple(keys))


def planted_gone(memory: AuditorMemory, listing: Listing, carried: Iterable[Finding]) -> dict[str, str]:
    """The index key of each run of the findings ``carried`` from the last audit's state (a full audit's, or that of the
    audit that logged the run) that name a file planted in its bundle (one its signed manifest does not list) which
    ``listing`` no longer holds (a finding of many names the bundle's folder, never listed: while its files are there,
    :func:`changed_runs` names them too): the key the memory tracks, or for a run it does not track (logged with an
    error) its first index entry listed. Each such bundle is verified again, and the findings dropped once it names no
    planted file (:func:`planted_removed`)."""
    return _index_keys(memory, listing, (f for f in carried if planted(f) and f.object not in listing.tags))


def missing_back(memory: AuditorMemory, listing: Listing, carried: Iterable[Finding]) -> dict[str, str]:
    """The index key of each run of the findings ``carried`` from the last audit's state (a full audit's, or that of the
    audit that logged the run) of objects its bundle's verification found missing that ``listing`` holds again (restored
    since: the listing every audit takes tells, no request more), or of a bundle found missing whole (its folder, never
    listed) one of whose files it holds again, as :func:`planted_gone` gives them. Each such bundle is verified again, and
    the findings dropped once its verification names none of those objects (:func:`missing_restored`)."""
    return _index_keys(memory, listing, (f for f in carried if found_missing(f) and _back(f, listing)))


def _back(found: Finding, listing: Listing) -> bool:
    """Whether ``listing`` holds again what ``found`` (of objects found missing) named: each of its objects, or a file of
    the bundle it found missing whole."""
    if gone_whole(found):
        return bool(listing.files.get(found.run_id))
    return all(k in listing.tags for k in found.items or (found.object,))


def _index_keys(memory: AuditorMemory, listing: Listing, found: Iterable[Finding]) -> dict[str, str]:
    """The index key of the run of each of ``found`` (those with a run): the key the memory tracks, or for a run it
    does not track (logged with an error) its first index entry listed."""
    out: dict[str, str] = {}
    for f in found:
        key = None if f.run_id is None else memory.runs.get(f.run_id) or next(iter(listing.index.get(f.run_id, ())), None)
        if key is not None:
            out[f.run_id] = key
    return out


def missing_restored(carried: Iterable[Finding], again: Mapping[str, RunRecord]) -> list[Finding]:
    """The findings ``carried`` of objects found missing in a bundle verified again now (``again``, by run id) whose
    verification names none of those objects (each has the digest its signed manifest names), or of a bundle found
    missing whole whose verification finds nothing (each of its files has that digest): no longer findings. One it still
    names (other bytes restored, or missing again; of a bundle found missing whole, any finding) stays, beside what the
    verification says now."""
    out = []
    for f in carried:
        if not found_missing(f) or f.run_id not in again:
            continue
        keys = set(f.items or (f.object,))
        named = (lambda x: True) if gone_whole(f) else lambda x: bool(keys & {x.object, *x.items})
        if not any(named(x) for x in again[f.run_id].bundle_findings if x.severity != NOTE):
            out.append(f)
    return out


def restored_note(found: Finding) -> Finding:
    """The note that the object (or objects, or whole bundle) that ``found`` named missing are back in their logged
    bundle, which verifies."""
    count = counted(len(found.items), "object") if found.items else f"object '{found.object}'"
    what, each = f"the {count} of logged run {found.run_id} that an earlier audit found missing {'are' if len(found.items) > 1 else 'is'}", "each"
    if gone_whole(found):
        what, each = f"the bundle of logged run {found.run_id} that an earlier audit found missing whole is", "each file"
    return Finding(CHECK_INVENTORY, found.object, f"{what} restored: the bundle was verified again and {each} has the digest "
                   "its signed manifest names", "nothing to do; find out who deleted it and who restored it",
                   severity=NOTE, run_id=found.run_id)


def planted_removed(carried: Iterable[Finding], again: Mapping[str, RunRecord]) -> list[Finding]:
    """The findings ``carried`` of a file planted in a bundle verified again now (``again``, by run id) that names no
    planted file: no longer findings, whatever else the bundle's verification names (its other findings stay)."""
    return [f for f in carried if planted(f) and f.run_id in again and not any(planted(x) for x in again[f.run_id].bundle_findings)]


def _of_folder(found: Finding) -> bool:
    """Whether ``found`` is a finding of a bundle's folder, counting many of its files (``VerificationReport.fold``)."""
    return found.run_id is not None and found.object == layout.bundle_prefix(found.run_id)


def removed_note(found: Finding) -> Finding:
    """The note that the planted file (or files) ``found`` named is gone from its logged bundle, which verifies again."""
    what = f"the file '{found.object}' planted in the bundle of logged run {found.run_id}, named by an earlier audit, is gone"
    if _of_folder(found):  # many files (VerificationReport.fold), their keys its items (none in an older tdprov's state)
        count = counted(len(found.items), "file") if found.items else "files"
        what = f"the {count} planted in the bundle of logged run {found.run_id}, named by an earlier audit, are gone"
    return Finding(CHECK_INVENTORY, found.object, f"{what}; the bundle was verified again and holds only what its signed manifest lists",
                   "nothing to do if it was removed on purpose; otherwise find out who wrote it and who removed it",
                   severity=NOTE, run_id=found.run_id)


def _remembered(memory: AuditorMemory) -> dict[str, dict[str, str]]:
    """The tracked objects of each logged run in ``memory`` (see :func:`run_objects`)."""
    files = bundle_files(memory.tags)
    return {run_id: run_objects(run_id, index_key, files.get(run_id, ())) for run_id, index_key in memory.runs.items()}


def entry_moved(listing: Listing, run_id: str, index_key: str) -> str | None:
    """The key at which ``listing`` holds logged run ``run_id``'s index entry when it no longer holds it at ``index_key``,
    the key the log names (a run re-dated, or re-sealed after its bundle was deleted); ``None`` when it did not move."""
    if index_key in listing.tags:
        return None
    return next((k for k in listing.index.get(run_id, []) if k != index_key), None)


def _rewritten(memory: AuditorMemory, listing: Listing, key: str) -> bool:
    """Whether ``listing`` holds ``key`` as other bytes than the ones ``memory`` remembers of it (a file of a bundle that
    did not verify, remembered as :data:`UNVERIFIED`, is verified again instead: the checks name what is wrong)."""
    return key in listing.tags and memory.tags.get(key) not in ("", None, UNVERIFIED) and memory.tags[key] != listing.tags[key]


UNPINNED_SHOWN = 5
"""How many of the objects listed with no ETag the note names (all are in its ``items``)."""


def listed_without_etag(store: Store, keys: list[str]) -> list[Finding]:
    """A note of the objects ``store`` listed with no ETag (``keys``, which :func:`~prov_common.store.pinning.pin_listing`
    could not pin): each is read as it is when read, not as listed, and its fingerprint is its size alone; none when
    there are none."""
    if not keys:
        return []
    return [Finding(CHECK_INVENTORY, keys[0] if len(keys) == 1 else store.uri,
                    f"{counted(len(keys), 'object')} ({first_of(keys, UNPINNED_SHOWN)}) listed with no ETag by {store.describe()}: "
                    "each is read as it is when read, not at the bytes listed, and its fingerprint is its size alone, so "
                    "bytes of the same size put in its place are not seen as a change until a full audit verifies it",
                    "check what answers at the store's endpoint (S3 gives every object an ETag); until it gives one, "
                    "audit with --full to verify every bundle's files against their signed digests",
                    severity=NOTE, items=tuple(keys))]


def compare(memory: AuditorMemory, listing: Listing, *, settled: set[str]) -> list[Finding]:
    """Findings of ``listing`` against ``memory``. ``settled``: run ids whose index entries this audit
    listed and did not log (so an entry of a run the log lacks is a finding, not a run still arriving)."""
    out: list[Finding] = []
    for run_id, objects in _remembered(memory).items():
        index_key = memory.runs[run_id]
        gone = [k for k in objects if k not in listing.tags]
        if layout.bundle_key(run_id, layout.STATEMENT_FILE) in gone and layout.bundle_key(run_id, layout.MANIFEST_FILE) in gone:
            out.append(Finding(CHECK_INVENTORY, layout.bundle_prefix(run_id), f"the bundle of logged run {run_id} is gone from the store",
                               FIX_RESTORE, run_id=run_id))
            gone = [k for k in gone if k.startswith(layout.INDEX)]
        files = [k for k in gone if k != index_key and _manifest_listed(k)]
        if len(files) > FILES_SHOWN:  # one finding of the bundle, however many files its manifest lists
            prefix = layout.bundle_prefix(run_id)
            out.append(Finding(CHECK_INVENTORY, prefix, f"{counted(len(files), 'file')} of logged run {run_id} are missing "
                               f"({first_of([k.removeprefix(prefix) for k in files], FILES_SHOWN)}): the bundle is incomplete",
                               FIX_RESTORE, run_id=run_id))
            told = set(files)
            gone = [k for k in gone if k not in told]
        for key in gone:
            if key == index_key and (moved := entry_moved(listing, run_id, index_key)):
                resealed = _rewritten(memory, listing, layout.bundle_key(run_id, layout.MANIFEST_FILE))  # not only its entry moved
                how = "sealed again (its signed manifest changed too)" if resealed else "re-dated"
                out.append(Finding(CHECK_INVENTORY, index_key, f"the index entry of logged run {run_id} moved to '{moved}': the run was "
                                   f"{how}", FIX_MOVED_BACK, run_id=run_id))
            else:
                what = "the run vanished from 'tdprov runs'" if key == index_key else "the bundle is incomplete"
                out.append(Finding(CHECK_INVENTORY, key, f"the {objects[key]} of logged run {run_id} is missing: {what}", FIX_RESTORE, run_id=run_id))
        for key in objects:
            if _rewritten(memory, listing, key):
                out.append(_changed(key, f"the {objects[key]} of logged run {run_id}", memory.tags[key], listing.tags[key], run_id))
    for run_id, keys in sorted(listing.index.items()):
        if len(keys) > 1:
            out.append(Finding(CHECK_INVENTORY, keys[-1], f"run {run_id} is indexed {len(keys)} times ({', '.join(keys)}): 'tdprov runs' "
                               "lists it more than once", FIX_INDEX, run_id=run_id))
        if run_id not in memory.runs and run_id in settled:
            out.append(Finding(CHECK_INVENTORY, keys[0], f"run {run_id} is in the index but not in the log", FIX_UNLOGGED, run_id=run_id))
    for key, tag in sorted(memory.tags.items()):
        if not _tracked(key):
            continue
        if key not in listing.tags:
            out.append(Finding(CHECK_INVENTORY, key, f"{_kind(key)} '{key}' is missing: it was deleted", FIX_RESTORE))
        elif tag and not tag.startswith(WRITTEN) and tag != listing.tags[key]:
            out.append(_changed(key, f"{_kind(key)} '{key}'", tag, listing.tags[key], None))
    return out


def hidden_by_markers(markers: DeleteMarkers, findings: Iterable[Finding], listing: Listing,
                      remembered: Mapping[str, str]) -> list[Finding]:
    """``findings``, those of an object missing from ``listing`` whose fix is to restore it (:data:`FIX_RESTORE`, or a
    bundle verification's ``missing``, :data:`~prov_common.audit.examine.FIX_MISSING`) given the fix that removes the
    delete marker hiding it, where the store can tell (:class:`~prov_common.store.markers.DeleteMarkers`: a versioned S3
    bucket, one request per such object, none when nothing is missing): the version kept with the ETag of its
    ``remembered`` fingerprint (the memory's ``size:ETag``), when the version under the marker has another."""
    out = list(findings)
    for i, f in enumerate(out):
        tag = remembered.get(f.object, "")
        etag = None if tag.startswith(WRITTEN) else tag.partition(":")[2] or None
        if (f.fix in (FIX_RESTORE, FIX_MISSING) and f.object not in listing.tags and not f.object.endswith("/")  # not a folder's folded finding
                and (fix := markers.fix(f.object, "then audit again", etag))):
            out[i] = replace(f, fix=fix)
    return out


_LOCAL_BEFORE_CTIME = re.compile(r"\d+:\d+-\d+\Z")  # size:mtime-inode, a local fingerprint remembered before ctime was in it


def refresh_fingerprints(memory: AuditorMemory, listing: Listing) -> None:
    """Remembered fingerprints of local objects taken before they held the change time (``size:mtime-inode``)
    become the listed ones where those extend them (``size:mtime-inode-ctime``): the same object, now
    with a part that an in-place edit which restores the modification time still changes."""
    for key, was in memory.tags.items():
        now = listing.tags.get(key)
        if now and was != now and _LOCAL_BEFORE_CTIME.match(was) and now.startswith(was + "-"):
            memory.tags[key] = now


def retake_verified(memory: AuditorMemory, listing: Listing, runs: Iterable[tuple[str, str]]) -> list[Finding]:
    """Logged runs ``(run id, index key)`` that this audit found to be, byte for byte, the bundles the log holds (manifest
    and statement digests of their leaves) with the index entry their ``indexed`` record names, equal to the signed
    manifest (a full audit, every logged run; any audit, a run verified again for a changed manifest, statement, record
    or entry): where the listing shows another fingerprint for one of these objects (a file restored from a backup or
    replica: on a local folder its change time is new; on S3 a copy of a kept version can have another ETag, as a copy
    of an object uploaded in parts has), the listed one is taken, with a note."""
    out: list[Finding] = []
    files = bundle_files(memory.tags)
    for run_id, index_key in runs:
        if memory.runs.get(run_id) != index_key:
            continue
        for key, what in run_objects(run_id, index_key, files.get(run_id, ())).items():
            was, now = memory.tags.get(key), listing.tags.get(key)
            if was and now and was != now:
                memory.tags[key] = now
                out.append(Finding(CHECK_INVENTORY, key, f"the {what} of logged run {run_id} was rewritten (size:tag {was} -> {now}) "
                                   "and is again the object logged (checked against the log and the signed manifest by this "
                                   "audit): its new fingerprint is taken", "nothing to do if it was restored from a backup or replica; "
                                   "otherwise find out who rewrote it", severity=NOTE, run_id=run_id))
    return out


def _kind(key: str) -> str:
    return next((kind for prefix, kind in _KINDS.items() if key.startswith(prefix)), "audit object")


def _changed(key: str, what: str, was: str, now: str, run_id: str | None) -> Finding:
    return Finding(CHECK_INVENTORY, key, f"{what} changed after it was first listed (size:tag {was} -> {now})", FIX_RESTORE, run_id=run_id)


def pin_written(memory: AuditorMemory, listing: Listing, written: Iterable[Written]) -> None:
    """Objects this audit wrote after its ``listing`` (its leaf batches, audit state, catalog and lookup objects,
    resolutions, and its signed record and reports in the store), remembered by the fingerprint the store's listing gives
    the object created where the store told it when it created it (``Written.listed``: known unread as a logged run's
    objects are, :func:`compare`), else by the SHA-256 of the bytes written (the state and checkpoint, which the next
    audit reads anyway; a resolution): the next listing takes one
    only when it still holds those bytes (see :func:`adopt_new`)."""
    for w in written:
        if w.key not in listing.tags:
            memory.tags.setdefault(w.key, w.listed or WRITTEN + w.digest)


def adopt_new(memory: AuditorMemory, listing: Listing, store: Store, tlog: TransparencyLog, trust: TrustStore, binding: Binding, *,
              trust_all: bool = False, failed: Container[str] = (), store_id: str | None = None,
              read: Mapping[str, str] | None = None) -> list[Finding]:
    """Record audit and log objects listed for the first time, once each verifies (a checkpoint by its
    signature, a signed object by its envelope, a catalog segment or summary and a lookup object also by the
    checkpoint of this store's log it names, see ``binding``; a leaf batch by the tree check against the
    checkpoints around it), also those this auditor wrote after its last listing (they could be replaced before
    this one); an object it pinned by digest when it wrote it (:func:`pin_written`) is taken only with those bytes.
    ``trust_all``: a first audit by this auditor records the store as it is. Objects that do not verify stay unknown
    and are findings on every audit. ``failed``: objects already named as changed or missing: one that does not verify
    only because such a checkpoint or audit record (or one new here that does not verify) is read to check it is left
    unknown, not named (it is checked again by the next audit). ``store_id``: the id the audit judges the store's records
    by, an audit's record or a resolution naming another is another store's (:func:`~prov_common.audit.published.of_store`).
    ``read``: the SHA-256 of objects this audit read whole already (key -> digest: the state and catalog it continued
    from), compared with what this auditor wrote instead of reading them again; each read after ``listing`` showed it,
    or after a listing that showed it as ``listing`` does (so it cannot have been replaced in between unseen)."""
    out: list[Finding] = []
    read = read or {}
    failed = set(failed)
    late = _after_retirement(store, tlog, trust, binding) if trust.retired else None
    # checkpoints, then audit records, first: what is read through one that fails (a state, catalog or lookup object; a
    # report) is not blamed for it
    for key, tag in sorted(listing.tags.items(), key=lambda item: _read_through(item[0])):
        known = memory.tags.get(key)
        if not _tracked(key) or (known and not known.startswith(WRITTEN)):
            continue
        if known:
            problem: _Problem | None = _not_written(store, tlog, key, known.removeprefix(WRITTEN), read.get(key))
        elif trust_all:
            problem = None
        else:
            # written by no audit this auditor knows: what a retired key signed counts no longer, whatever size it names
            # (reports and records of the last audit are listed only after it: theirs are checked by the size they name)
            fresh = late is not None and key not in memory.tags and key.startswith(_BOUND_PREFIXES)
            problem = _verify(store, *(late if fresh else (tlog, trust, binding)), key, store_id)
        if problem is None:
            memory.tags[key] = tag
            continue
        where, what, fix = problem
        if where == key or where not in failed:
            failed.add(key)
            out.append(Finding(CHECK_INVENTORY, key, what, fix or (FIX_WRITTEN if known else FIX_FORGED)))
    return out


def _read_through(key: str) -> int:
    """The order :func:`adopt_new` checks ``key`` in: the objects others are verified through (checkpoints, then the audits'
    records, which their reports are checked against) before those others."""
    return 0 if key.startswith(CHECKPOINTS_PREFIX) else 1 if key.startswith(RUNS_PREFIX) else 2


_OWN_FIXES = (FIX_OTHER_STORE, FIX_OTHER_STORES_RESOLUTION, FIX_COPIED_STATE, FIX_NOT_THE_LOGS)
"""The fixes of failures that :func:`_verify` names with their own: an audit record or resolution of another store, an
audit state copied under another key than the one it was written under, a leaf batch whose leaves are not the log's
where it lies (the fix the walk over the log and a refused append give it too)."""
_Problem = tuple[str, str, "str | None"]  # the object a failure is in, the finding's text, and its fix (None: the inventory's)


def _not_written(store: Store, tlog: TransparencyLog, key: str, digest: str, read: str | None = None) -> _Problem | None:
    """What is wrong with the object at ``key``, which this auditor wrote with SHA-256 ``digest`` (None: it holds those bytes);
    ``read``: the SHA-256 of its bytes as this audit read them already (not read again)."""
    try:
        found = read or _digest_of(store, tlog, key)
    except StoreUnavailableError:
        raise
    except TdprovError as exc:
        return key, f"{_kind(key)} '{key}' that this auditor wrote cannot be read: {exc.what}", None
    if found == digest:
        return None
    return key, (f"{_kind(key)} '{key}' is not the object this auditor wrote: it was replaced before it was first listed "
                 f"(its SHA-256 is {found}, the auditor wrote {digest})"), None


def _digest_of(store: Store, tlog: TransparencyLog, key: str) -> str:
    """The SHA-256 of the object at ``key``, one larger than :data:`~prov_common.bundle.layout.SMALL_OBJECT_LIMIT` hashed in
    ranged parts (a catalog summary grows with the store; one grown or planted larger is never read whole); a checkpoint
    that verifies as ``tlog`` read it (an audit reads each once)."""
    if key.startswith(CHECKPOINTS_PREFIX):
        try:
            return tlog.read_checkpoint(key).digest
        except StoreUnavailableError:
            raise
        except TdprovError:  # it does not verify: its bytes are compared
            pass
    try:
        return sha256_digest(store.get(key, layout.SMALL_OBJECT_LIMIT))
    except ObjectTooLargeError:
        return f"sha256:{hash_stored(store, key, sha256=True).file_sha256}"


_BOUND_PREFIXES = (CHECKPOINTS_PREFIX, STATE_PREFIX, CATALOG_PREFIX, SUMMARY_PREFIX, GENERATED_PREFIX)


def _after_retirement(store: Store, tlog: TransparencyLog, trust: TrustStore, binding: Binding) -> tuple[TransparencyLog, TrustStore, Binding]:
    """What objects that appeared since this auditor's last listing verify under: no retired key counts for them."""
    strict = trust.without_retired()
    strict_log = TransparencyLog(store, strict, read_once=True)
    return strict_log, strict, replace(binding, log=strict_log)


def _verify(store: Store, tlog: TransparencyLog, trust: TrustStore, binding: Binding, key: str, store_id: str | None) -> _Problem | None:
    """What does not verify in the object at ``key`` listed for the first time: the object the failure is in (``key``, or
    the checkpoint or audit record read to check it), the finding's text, and its fix when the failure names its own (an
    audit record or resolution of another store, copied in: ``store_id`` is this store's); None when it verifies."""
    try:
        if key.startswith(CHECKPOINTS_PREFIX):
            tlog.read_checkpoint(key)
        elif key.startswith(LEAVES_PREFIX):
            tlog.check_batch(key)
        elif key.startswith((CATALOG_PREFIX, SUMMARY_PREFIX)):
            read_object(store, key, binding)
        elif key.startswith(GENERATED_PREFIX):
            read_lookup(store, key, binding)
        elif key.startswith(REPORTS_PREFIX):
            check_report(store, trust, key, this_store=True, store_id=store_id)
        elif key.startswith(RUNS_PREFIX):
            check_record(store, trust, key, this_store=True, store_id=store_id)
        elif key.startswith(STATE_PREFIX):
            read_state(store, trust, key)
        elif key.startswith(RESOLUTIONS_PREFIX):
            check_resolution(store, trust, key, store_id=store_id)
    except StoreUnavailableError:
        raise
    except (TdprovError, ValueError, KeyError, TypeError) as exc:
        fix = getattr(exc, "fix", None) if getattr(exc, "fix", None) in _OWN_FIXES else None
        what = f"'{key}' appeared or was replaced since the last audit and does not verify: {getattr(exc, 'what', exc)}"
        return failed_in(key, exc), what, fix
    return None


__all__ = ["Listing", "adopt_new", "bundle_files", "changed_runs", "compare", "hidden_by_markers", "listed_without_etag",
           "logged_objects_changed", "missing_back", "missing_restored",
           "restored_note", "pin_written", "record_bundle_files", "remember_runs",
           "retake_rechecked", "retake_verified", "run_objects"]
