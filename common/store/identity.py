"""A store's identity: ``_tdprov/store.json``, a random id written once, that bundles and source records are signed for.

Two stores whose writers share a signing key (a per-user default key, one account writing prod and dev) would
otherwise accept each other's bundles and source records: nothing in them says which store they were written
to. Each writer therefore names the store's id in what it signs (a bundle's manifest, a source record), and a
reader of the store takes a record that names another id as copied from another store, never as this store's.

The object is created once, by ``tdprov store init`` or by the first writer of a store that has none (a
conditional create: of two writers racing, both end up with the one object that won). A writer binds it once per
process and store (:func:`writer_store_id`) and signs with that copy for good; readers read it afresh at the start of
each verification (``tdprov verify``, an audit: :func:`reread_identity`) and of each ``tdprov`` verb
(:func:`read_afresh`), so that a long-running process judges by the object as it is now, and again when a record
names another id than the one read. A reader's fresh read never changes what a writer of the same process bound: a
process that both writes and reads (a worker whose code calls a verb, the Airflow API server) signs with the identity
it opened the store with whatever its reads found since, as a writer that reads nothing does (docs/threat-model.md).

Whoever creates it also learns whether the store refuses a second create, which write-once rests on (S3:
``If-None-Match: *``, which some S3-compatible servers ignore): ``tdprov store init`` probes before creating it and
records ``"writeOnce": "verified"``; a writer that creates it sends the same bytes once more, and a store that
accepts them ignores the condition: the identity is then marked ``"writeOnce": "ignored"``, so that every later
writer checks again (one more create per process, on such stores only) and says so.
"""
from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timezone

from prov_common.canonical_json import canonical_bytes, loads
from prov_common.errors import BadInputError, ObjectConflictError, StoreError, TdprovError
from prov_common.once import Once
from prov_common.store.base import Store
from prov_common.store.errors import (FIX_NOT_WRITE_ONCE, STORE_VARIABLE, ObjectNotFoundError, UnreadableObjectError,
                                      name_setting)
from prov_common.text import clause

log = logging.getLogger(__name__)

IDENTITY_KEY = "_tdprov/store.json"
IDENTITY_FORMAT = "https://tdprov.dev/store-identity/v1"
IDENTITY_LIMIT = 64 << 10  # bytes at most read of the object (it holds about 150)
WRITE_ONCE_VERIFIED = "verified"  # "writeOnce": probed by ``tdprov store init`` before the identity was created
WRITE_ONCE_IGNORED = "ignored"  # "writeOnce": the store accepted a second create of the identity
FIX_OTHER_STORE = (f"if it was copied from another store, remove it (a bundle: its folder, index entry and indexed record) and find "
                   f"out who wrote it; if this store's {IDENTITY_KEY} was replaced or deleted, restore it from a backup or replica. "
                   "Give each store a signing key of its own (tdprov keygen; TDPROV_SIGNING_KEY), so that one store's records never "
                   "verify in another")


@dataclass(frozen=True)
class StoreIdentity:
    """The id of a store and when it was made; ``digest``: SHA-256 of the object's bytes as read (empty when new);
    ``write_once``: what its creator found of the store's refusal of a second create (:data:`WRITE_ONCE_VERIFIED`,
    :data:`WRITE_ONCE_IGNORED`, or empty: not recorded, as by writers that found it refused and by older versions)."""

    store_id: str
    created_at: str
    digest: str = ""
    write_once: str = ""

    @classmethod
    def new(cls, now: datetime | None = None, store_id: str | None = None) -> "StoreIdentity":
        """A new identity: a random id, or ``store_id`` (a lost identity made again with the id its records name)."""
        moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
        return cls(store_id or str(uuid.uuid4()), moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))

    def to_json(self) -> bytes:
        fields = {"format": IDENTITY_FORMAT, "storeId": self.store_id, "createdAt": self.created_at}
        if self.write_once:  # an optional field: readers that predate it ignore it
            fields["writeOnce"] = self.write_once
        return canonical_bytes(fields)

    @classmethod
    def from_json(cls, data: bytes) -> "StoreIdentity":
        """The identity these bytes hold; :class:`BadInputError` when they hold none."""
        try:
            raw = loads(data)
            if raw.get("format") != IDENTITY_FORMAT or not isinstance(raw.get("storeId"), str) or not raw["storeId"]:
                raise ValueError(f"format {raw.get('format')!r}, storeId {raw.get('storeId')!r}")
            return cls(raw["storeId"], str(raw.get("createdAt") or ""), "sha256:" + hashlib.sha256(data).hexdigest(),
                       str(raw.get("writeOnce") or ""))
        except (ValueError, TypeError, AttributeError) as exc:
            raise BadInputError(f"{IDENTITY_KEY} is not a store identity ({exc}).",
                                fix=f"restore {IDENTITY_KEY} from a backup or replica of the store") from exc


NO_IDENTITY = ""
"""The store id a reader compares staged objects with when the store has no identity: a writer of the store creates it
(:func:`writer_store_id`) before it stages, so an object staged for any store is another store's."""


def foreign_reason(named: str | None, identity: StoreIdentity | None) -> str | None:
    """Why a record signed for store ``named`` is not one of the store whose identity is ``identity`` (None: it is,
    or it names no store, as records written before stores had an identity do)."""
    if named is None or (identity is not None and identity.store_id == named):
        return None
    if identity is None:
        return (f"signed for store {named}, but this store has no identity ({IDENTITY_KEY} is missing): copied from another "
                "store, or this store's identity was deleted?")
    return f"signed for store {named}, not this store {identity.store_id}: copied from another store?"


# -- I/O ---------------------------------------------------------------------------------------------

_known: dict[str, StoreIdentity] = {}  # store URI -> the identity this process's readers last read or created
_fresh: set[str] = set()  # store URIs whose identity in _known was read since readers last started afresh (read_afresh)
# store URI -> the identity writers of this process bound (writer_store_id), and why the store is not write-once (None:
# nothing says so); never replaced by readers' reads
_bound: dict[str, tuple[StoreIdentity, str | None]] = {}
# store URI -> the id its auditor remembers for an identity that is gone, looked up since readers last started afresh
_absent: dict[str, str | None] = {}  # (None: it remembers none)
_lock = threading.Lock()
_UNREADABLE_WARNED = Once(inherited=True)  # (store URI,): an identity that could not be had, warned about once per process
_IGNORED_WARNED = Once(inherited=True)  # (store URI,): a store found to accept a second create, warned about once per process


def read_identity(store: Store) -> StoreIdentity | None:
    """The store's identity as it is now (one read), None when the store has none; :class:`BadInputError` when the
    object holds none."""
    try:
        data = store.get(IDENTITY_KEY, IDENTITY_LIMIT)
    except ObjectNotFoundError:
        return None
    except UnreadableObjectError as exc:
        raise BadInputError(f"{IDENTITY_KEY} is not a store identity ({clause(exc.what)}).",
                            fix=f"restore {IDENTITY_KEY} from a backup or replica of the store") from exc
    return StoreIdentity.from_json(data)


def ensure_identity(store: Store, now: datetime | None = None, *, verified: bool = False,
                    store_id: str | None = None) -> tuple[StoreIdentity, bool]:
    """The store's identity, created first when it has none (write-once: of racing writers, one object wins and
    every writer returns it); and whether this call created it. ``verified``: the caller has just proved that the
    store refuses a second create (``check_write_once``), which a new identity records; otherwise a new identity
    is checked by creating it again (:func:`_checked`). ``store_id``: the id to create it with (``tdprov store init
    --store-id``, a lost identity made again); :class:`BadInputError` when the store holds another."""
    found = read_identity(store)
    if found is not None:
        return remember(store, _same_id(found, store_id)), False
    made = StoreIdentity.new(now, store_id)
    if verified:
        made = replace(made, write_once=WRITE_ONCE_VERIFIED)
    try:
        store.put(IDENTITY_KEY, made.to_json())
    except ObjectConflictError:  # another writer created it first: theirs it is
        found = read_identity(store)
        if found is None:
            raise
        return remember(store, _same_id(found, store_id)), False
    created = StoreIdentity.from_json(made.to_json())  # as its bytes are read (with their digest)
    return remember(store, created if verified else _checked(store, created)), True


def _same_id(found: StoreIdentity, store_id: str | None) -> StoreIdentity:
    """``found``, the store's identity, when it has the id asked for (or none was asked for)."""
    if store_id is None or found.store_id == store_id:
        return found
    raise BadInputError(f"{IDENTITY_KEY} already holds store id {found.store_id}, not {store_id}: a store's identity is written "
                        "once and never replaced.",
                        fix=f"if {found.store_id} was created after the identity {store_id} was lost (by a writer that found none), "
                            f"stop the store's writers, remove {IDENTITY_KEY} and run this again; otherwise keep it")


def _checked(store: Store, made: StoreIdentity) -> StoreIdentity:
    """``made``, just created (as its bytes are read), as the store holds it after one more create of its bytes:
    refused, it is kept as it is; accepted, the store ignores the condition write-once rests on, and the identity is
    marked so (the store lets it be rewritten) for every later writer to see. A check that cannot be made leaves the
    identity as it is."""
    if _refuses_rewrite(store, made, logging.INFO, "; 'tdprov store init' checks it") is not False:
        return made
    marked = replace(made, write_once=WRITE_ONCE_IGNORED)
    try:
        store.put(IDENTITY_KEY, marked.to_json())
    except StoreError as exc:  # refused after all, or unreachable: whatever it holds is read below
        log.info("tdprov: could not mark %s in %s (%s)", IDENTITY_KEY, store.describe(), exc.what)
    return read_identity(store) or StoreIdentity.from_json(marked.to_json())


def _refuses_rewrite(store: Store, identity: StoreIdentity, level: int, hint: str = "") -> bool | None:
    """Whether ``store`` refuses one more create of ``identity``'s bytes; None when that cannot be checked (logged at
    ``level``, with ``hint`` after the reason)."""
    try:
        return bool(store.refuses_rewrite(IDENTITY_KEY, identity.to_json()))
    except StoreError as exc:
        log.log(level, "tdprov: could not check that %s refuses a second create (%s)%s", store.describe(), exc.what, hint)
        return None


def write_once_problem(store: Store, identity: StoreIdentity, *, checked: bool = False) -> str | None:
    """Why ``store``, whose identity is ``identity``, does not hold objects write-once (None: nothing says so). Only
    an identity marked :data:`WRITE_ONCE_IGNORED` costs a check, unless just ``checked`` (created by this process):
    one more create of its bytes, which a store that was fixed since refuses."""
    if identity.write_once != WRITE_ONCE_IGNORED:
        return None
    if not checked and _refuses_rewrite(store, identity, logging.DEBUG):
        return None
    return (f"{store.describe()} ignores the condition of its writes (If-None-Match: *), so its objects are not write-once: "
            "two writers of one run can both seal it, and a bundle or index entry can be overwritten, without any error")


def remember(store: Store, identity: StoreIdentity | None) -> StoreIdentity | None:
    """Take ``identity`` as the one this process's readers know of ``store`` (None: it has none, forget any); the one
    its writers bound (:func:`writer_store_id`) stays as it is."""
    with _lock:
        if identity is None:
            _known.pop(store.uri, None)
            _fresh.discard(store.uri)
        else:
            _known[store.uri] = identity
            _fresh.add(store.uri)
            _absent.pop(store.uri, None)
    return identity


def judge_absent_by(store: Store, store_id: str | None) -> None:
    """Take ``store_id`` as ``store``'s while it has no identity object that can be read (until readers start afresh):
    what an audit does with the id its auditor remembers (``prov_common.audit.identity``)."""
    with _lock:
        _absent[store.uri] = store_id


def _absent_id(store: Store) -> str | None:
    """The id of a store with no identity object that can be read: one an audit took (:func:`judge_absent_by`), else
    the one this user's auditor remembers of it when a person accepted its deletion (``tdprov audit
    --accept-checkpoint``), so that the store's own records stay its own, and copies another's, until it is back."""
    if store.uri not in _absent:
        from prov_common.audit.memory import accepted_gone_id  # the auditor's memory is the audit's (imported when needed)

        judge_absent_by(store, accepted_gone_id(store.uri))
    return _absent[store.uri]


def read_afresh() -> None:
    """Make readers read each store's identity again, once, before they next judge a record by it
    (:func:`foreign_store`): what every ``tdprov`` verb starts with (``show``, ``lineage``, ``store repair``, ...), so
    that a process that read the identity before (a daemon, a library caller of the CLI) does not judge records by a
    copy of an object replaced or damaged since. No object is read here, and what readers read next leaves the copy
    writers sign with (:func:`writer_store_id`) as it is."""
    with _lock:
        _fresh.clear()
        _absent.clear()


def writer_store_id(store: Store, *, strict: bool = False, setting: str = STORE_VARIABLE) -> str | None:
    """The id a writer signs into its records: read (or created) once per process and store, then kept whatever this
    process's readers read since (:func:`read_afresh`, :func:`reread_identity`). None when it cannot be had (the
    store unreachable, its identity object damaged): the record is written without it, as records written before
    stores had an identity are, and a warning says why (once per process and store; later ones are debug messages, as
    every step of a run asks again).

    A store found not to hold objects write-once (:func:`write_once_problem`, asked when the identity is first had
    in this process) is warned about once per process and store, and written to all the same (a pipeline is never
    broken over it); ``strict``: :class:`StoreError` instead, for every record. ``setting``: where the store was set,
    named in the fix of its error (:func:`~prov_common.store.errors.name_setting`)."""
    bound = _bound.get(store.uri)
    if bound is None:
        known, created = (_known.get(store.uri) if store.uri in _fresh else None), False  # readers' copy, if read afresh
        if known is None:
            try:
                known, created = ensure_identity(store)
            except TdprovError as exc:  # never break the pipeline over it
                name_setting(exc, setting)
                level = logging.WARNING if _UNREADABLE_WARNED.first(store.uri) else logging.DEBUG
                log.log(level, "tdprov: cannot read or create the identity of store %s (%s); this record is written without it. "
                        "Fix: %s", store.uri, exc.what, exc.fix or "check that the store is reachable")
                return None
        problem = write_once_problem(store, known, checked=created)
        with _lock:  # of two threads binding at once, the first one's stays (the same object, unless it was just replaced)
            bound = _bound.setdefault(store.uri, (known, problem))
    known, problem = bound
    if problem is not None:
        if strict:
            raise StoreError(f"{problem}; strict mode seals nothing there.", fix=FIX_NOT_WRITE_ONCE)
        if _IGNORED_WARNED.first(store.uri):
            log.warning("tdprov: %s. Records are written there all the same. Fix: %s", problem, FIX_NOT_WRITE_ONCE)
    return known.store_id


def reread_identity(store: Store) -> StoreIdentity | None:
    """The store's identity as it is now (one read), taken as the one this process knows of ``store``
    (:func:`remember`): what a verification (``tdprov verify``, an audit) starts with, so that a process that read
    it before (a daemon, a sensor) does not judge records by a copy of an object replaced or damaged since. When the
    object holds no identity, the one known is forgotten and :class:`BadInputError` raised: every record that names
    a store is then judged by a fresh read (:func:`foreign_store`), which says why. The id its auditor remembers for
    a store with none is looked up again too (:func:`judge_absent_by`)."""
    with _lock:
        _absent.pop(store.uri, None)
    try:
        return remember(store, read_identity(store))
    except BadInputError:
        remember(store, None)
        raise


def foreign_store(store: Store, named: str | None) -> str | None:
    """Why a record that names store ``named`` is not this store's (None: it is, or it names none). The store's
    identity is read once per process (afresh by each verification and verb: :func:`reread_identity`,
    :func:`read_afresh`), and again when a record names another id than the one read."""
    if named is None:
        return None
    known = _known.get(store.uri) if store.uri in _fresh else None
    if known is not None and known.store_id == named or known is None and _absent.get(store.uri) == named:
        return None
    try:
        current, problem = remember(store, read_identity(store)), None
    except BadInputError as exc:
        current, problem = None, exc.what
    if current is None and (kept := _absent_id(store)) is not None:
        return None if kept == named else (f"signed for store {named}, not this store {kept} (the id its auditor saw; {IDENTITY_KEY} is "
                                           "gone or cannot be read): copied from another store?")
    if problem is not None:
        return f"signed for store {named}; this store's identity cannot be read: {problem}"
    return foreign_reason(named, current)


__all__ = ["FIX_NOT_WRITE_ONCE", "FIX_OTHER_STORE", "IDENTITY_KEY", "NO_IDENTITY", "WRITE_ONCE_IGNORED", "WRITE_ONCE_VERIFIED", "StoreIdentity",
           "ensure_identity", "foreign_reason", "foreign_store", "judge_absent_by", "read_afresh", "read_identity", "remember", "reread_identity",
           "write_once_problem", "writer_store_id"]
