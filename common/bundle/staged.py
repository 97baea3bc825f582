"""A staged event as the store holds it: the event's canonical JSON in a DSSE envelope signed by the writer that
staged it (no I/O).

A run's events are staged (``staging/<run_id>/...``) by every process that records for it, and sealed into its
bundle later, maybe by another process. Each writer signs what it stages with the key it signs bundles with, and
the seal takes only events signed by a key it trusts: a holder of the store's credentials without such a key cannot
add an event to a run not sealed yet. The sealed ``events.jsonl`` holds the events themselves, as before.

A staged attachment (``staging/<run_id>/attachments/<path>``: Pandera samples, row sets, a refusal record) is staged
with a signed record of what it is (:func:`signed_attachment`: its run, path, size and BLAKE3 digest), and the seal
takes only an attachment that a trusted key's record names with the bytes it holds (:func:`check_attachment`).

What a writer signs names the store it staged for (the identity it bound, ``_tdprov/store.json``: the payload type
``application/vnd.tdprov.staged-event+json; store=<id>``, a record's ``storeId``), so that a run's staged objects
copied whole into another store whose writers share or trust the key are refused there, not sealed in two stores.
What names no store (staged by a tdprov before this, or by a writer that could not read the identity) is taken as
before.
"""
from __future__ import annotations

import base64
import logging
from collections.abc import Mapping
from typing import Any

from prov_common.bundle import layout
from prov_common.bundle.refusal import (CAUSE_MALFORMED, CAUSE_PLACE, CAUSE_SIGNATURE, CAUSE_STORE, RefusedStagedError,
                                        is_refusal)
from prov_common.canonical_json import canonical_bytes, loads
from prov_common.errors import BadInputError
from prov_common.hashing.raw import blake3_digest
from prov_common.signing.dsse import (FIX_ALTERED, FIX_BAD_SIGNATURE, FIX_RENAMED, FIX_RETIRED, FIX_UNSIGNED, FIX_WRONG_TYPE,
                                     Envelope, EnvelopeError, Opened, Signature, open_envelope, sign_envelope)
from prov_common.signing.keys import KEY_ID_PREFIX, SigningKey
from prov_common.signing.trust import TrustStore
from prov_common.store.identity import IDENTITY_KEY, NO_IDENTITY
from prov_common.text import counted

STAGED_EVENT_TYPE = "application/vnd.tdprov.staged-event+json"
STAGED_ATTACHMENT_TYPE = "application/vnd.tdprov.staged-attachment+json"
_FOR_STORE = "; store="  # the payload type's parameter naming the store an event was staged for
STORE_ID_ROOM = 36  # characters of a store id as tdprov makes them (a UUID): what ENVELOPE_OVERHEAD allows for

log = logging.getLogger(__name__)

UNSIGNED_FIX = ("a tdprov older than the signing of staged events staged it (re-run the step after upgrading: see "
                "docs/upgrading.md), or someone who can write the store's staging/ but holds no signing key put it there "
                "(find who, and take those credentials away)")
ATTACHMENT_BYTES_KEPT = "its bytes stay where it was staged, and up to 1 MiB in the record of its refusal (stagedBytes)"
"""Where a refused attachment's bytes are (:data:`~prov_common.bundle.refusal.STAGED_BYTES_KEPT`): the end of every fix of
a staged attachment's refusal."""
UNSIGNED_ATTACHMENT_FIX = (
    "a writer without a signing key, or a tdprov older than the signing of staged attachments, staged it (re-run the step "
    "after upgrading; 'tdprov store seal --accept-unsigned RUN_ID' seals a run not sealed yet with it, once you know who "
    "staged it), or someone who can write the store's staging/ but holds no signing key put it there (find who, and "
    f"take those credentials away); {ATTACHMENT_BYTES_KEPT}")
MISPLACED_ATTACHMENT_FIX = ("no writer stages an attachment there: someone who can write the store's staging/ put it there "
                            f"(find who, and take those credentials away); {ATTACHMENT_BYTES_KEPT}")
CHANGED_ATTACHMENT_FIX = (
    "someone who can write the store's staging/ replaced it after its writer staged it (find who, and take those "
    f"credentials away), or its writer staged it twice with other bytes; {ATTACHMENT_BYTES_KEPT}")
UNSIGNED_REFUSAL_FIX = (
    "only a writer stages a record of a refusal, and it signs it, so it is never taken unsigned, not even with "
    "--accept-unsigned: someone who can write the store's staging/ put it there (find who, and take those credentials "
    "away), or a writer without a signing key refused an event (its record's bytes are kept here, up to 1 MiB, as "
    "stagedBytes: read them, and give that writer a key)")
REPLAYED_FIX = ("someone who can write the store's staging/ copied it from that run's staging (find who, and take those "
                "credentials away); the run under whose staging it is did not stage it")
OTHER_STORE_FIX = ("someone copied the run's staged objects from that store's staging/ (or a backup of it) into this "
                   "store's (find who can write staging/, and take those credentials away); the run is that store's: seal "
                   "and read it there. If this store's _tdprov/store.json was replaced on purpose, re-run the step (writers "
                   "sign the identity they bound when they started)")
UNTRUSTED_FIX = ("if the writer that signed it is yours, add its public key to TDPROV_TRUSTED_KEYS of the process that "
                 "seals (or to TDPROV_HOME/trusted_keys/) and seal the run's next attempt; otherwise it was planted: find "
                 "who can write the store's staging/")

SIGNATURE_FIXES = frozenset({UNSIGNED_FIX, UNSIGNED_ATTACHMENT_FIX, MISPLACED_ATTACHMENT_FIX, CHANGED_ATTACHMENT_FIX, REPLAYED_FIX,
                             OTHER_STORE_FIX, UNTRUSTED_FIX, FIX_RETIRED, FIX_BAD_SIGNATURE, FIX_RENAMED, FIX_ALTERED,
                             FIX_UNSIGNED, FIX_WRONG_TYPE, UNSIGNED_REFUSAL_FIX})
"""The fixes a seal gave a staged object it refused for its signature or its place, as the records of refusals written
before they had a ``cause`` (:data:`~prov_common.bundle.refusal.PLANTED_CAUSES`) keep them (``fix``): unsigned, signed by
a key not trusted or retired, changed after it was signed, another run's signed event or another store's staged object
copied, an attachment where no writer attaches. A reader tells such an old record by these texts only: their wording is
fixed with the records that hold them (tests/test_transport_refusal.py pins it). A writer's own malformed event is
refused with another fix."""

def staged_event_type(store_id: str | None) -> str:
    """The payload type of an event staged for store ``store_id`` (None: for no store, as a tdprov before stores were
    named in staged events signed it)."""
    return STAGED_EVENT_TYPE if store_id is None else f"{STAGED_EVENT_TYPE}{_FOR_STORE}{store_id}"


def _is_staged_event_type(payload_type: str) -> bool:
    return payload_type == STAGED_EVENT_TYPE or payload_type.startswith(STAGED_EVENT_TYPE + _FOR_STORE)


def _store_named(payload_type: str) -> str | None:
    """The store id a staged event's payload type names; None for one that names none."""
    return payload_type[len(STAGED_EVENT_TYPE + _FOR_STORE):] if payload_type != STAGED_EVENT_TYPE else None


def envelope_overhead(store_id: str | None) -> int:
    """Bytes a staged event's envelope signed for store ``store_id`` (None: for none) holds beside its payload's
    base64: the payload type naming the store, and one Ed25519 signature with its key id, of fixed length."""
    return len(Envelope(b"", staged_event_type(store_id), (Signature(KEY_ID_PREFIX + "0" * 64, bytes(64)),)).to_json())


ENVELOPE_OVERHEAD = envelope_overhead("0" * STORE_ID_ROOM)
"""Bytes a staged event's envelope holds beside its payload's base64 when signed for a store whose id is a UUID, as
tdprov makes them (:func:`envelope_overhead`)."""
TOO_LARGE_FIX = ("keep large data out of the event: attach it to the run's bundle (ProvenanceTransport.attach(run_id, "
                 "'extra/<name>', data)) and let the facet name it, or spread the event's datasets over several events of "
                 "the run")
LARGEST_SHOWN = 3  # facets an oversized event's refusal names, the largest first


def staged_event_limit(store_id: str | None) -> int:
    """The most bytes of canonical JSON an event may hold to be staged for store ``store_id`` (None: for none): the
    most whose envelope (the payload in base64, 4 bytes for each 3, and :func:`envelope_overhead` for that store id) a
    seal reads (:data:`~prov_common.bundle.layout.SMALL_OBJECT_LIMIT`), about 48 MiB. Read at each call, from that one
    constant; a longer store id (one ``_tdprov/store.json`` written by hand) leaves less room for the event."""
    return max(0, layout.SMALL_OBJECT_LIMIT - envelope_overhead(store_id)) // 4 * 3


class EventTooLargeError(BadInputError):
    """An event larger than a seal reads staged (:func:`staged_event_limit`); ``kept``: the event without its largest
    facets, or datasets (None: too large without them), as the record of its refusal keeps it."""

    def __init__(self, what: str, fix: str, kept: Mapping[str, Any] | None) -> None:
        super().__init__(what, fix)
        self.kept = kept


def check_event_size(event: Mapping[str, Any], data: bytes, store_id: str | None) -> None:
    """Raise :class:`EventTooLargeError` when ``data`` (the canonical JSON of ``event``, to be staged signed for store
    ``store_id``) is larger than a seal reads staged, naming the run, the event type, its size, the bound and its
    largest facets, with the fix: the writer never stages an event its own seal would refuse."""
    limit = staged_event_limit(store_id)
    if len(data) <= limit:
        return
    facets = _facet_sizes(event)
    largest = ", ".join(f"{'.'.join(map(str, path))} ({size:,} bytes)" for path, size in facets[:LARGEST_SHOWN])
    held = f"its largest: {largest} (of {counted(len(facets), 'facet')})" if facets else "it has no facets"
    run = event.get("run") if isinstance(event.get("run"), Mapping) else {}
    raise EventTooLargeError(
        f"the {event.get('eventType')} event of run {run.get('runId')} is {len(data):,} bytes of JSON, more than a staged "
        f"event may hold ({limit:,} bytes: its signed envelope must fit the {layout.SMALL_OBJECT_LIMIT:,} bytes a seal "
        f"reads); {held}.", TOO_LARGE_FIX, _without_largest(data, facets, limit))


FieldPath = tuple[str | int, ...]  # a field's path in an event: keys and list positions


def _facet_sizes(event: Mapping[str, Any]) -> list[tuple[FieldPath, int]]:
    """(field path, bytes of canonical JSON) of each facet of ``event`` (the run's, the job's, each dataset's), the
    largest first."""
    found: list[tuple[FieldPath, int]] = []

    def add(where: FieldPath, facets: Any) -> None:
        if isinstance(facets, Mapping):
            found.extend(((*where, name), len(canonical_bytes(value))) for name, value in facets.items())

    for part in ("run", "job"):
        if isinstance(event.get(part), Mapping):
            add((part, "facets"), event[part].get("facets"))
    for side, own in (("inputs", "inputFacets"), ("outputs", "outputFacets")):
        datasets = event.get(side)
        for i, dataset in enumerate(datasets if isinstance(datasets, list) else []):
            if isinstance(dataset, Mapping):
                add((side, i, "facets"), dataset.get("facets"))
                add((side, i, own), dataset.get(own))
    return sorted(found, key=lambda item: -item[1])


def _left_out(size: int) -> str:
    return f"*** (left out: {size:,} bytes, see the reason)"


def _without_largest(data: bytes, facets: list[tuple[FieldPath, int]], limit: int) -> dict[str, Any] | None:
    """The event of canonical JSON ``data`` with its largest ``facets``, then (if still needed) its larger list of
    datasets and the other, each replaced by a note of its size until what is left is at most ``limit`` bytes; None when
    even that is larger."""
    kept, size = loads(data), len(data)

    def leave_out(holder: Any, name: str | int, part_size: int) -> None:
        nonlocal size
        holder[name] = _left_out(part_size)
        size -= part_size - len(canonical_bytes(holder[name]))

    for path, facet_size in facets:
        if size <= limit:
            break
        holder: Any = kept
        for part in path[:-1]:
            holder = holder[part]
        leave_out(holder, path[-1], facet_size)
    for side, side_size in sorted(((side, len(canonical_bytes(kept.get(side)))) for side in ("inputs", "outputs")),
                                  key=lambda item: -item[1]):
        if size > limit:
            leave_out(kept, side, side_size)
    return kept if size <= limit else None


class UnsignedEventError(RefusedStagedError):
    """A staged event that holds no signature: a plain event, as a writer without a signing key, or a tdprov older than
    the signing of staged events, staged it (refused for its signature)."""


def signed_event(event: bytes, signer: SigningKey, store_id: str | None = None) -> bytes:
    """The object staged for the event of canonical JSON ``event``: its envelope, signed by ``signer`` for the store
    ``store_id`` (None: for none, when the writer cannot have its identity). The payload is the event's bytes, as
    sealed."""
    return sign_envelope(event, staged_event_type(store_id), [signer]).to_json()


def _opened(data: bytes, trust: TrustStore, payload_type: str, what: str, family: bool = False) -> Opened:
    """The envelope ``data`` opened when a key of ``trust`` signed it; :class:`BadInputError` naming ``what`` and why
    otherwise (an untrusted key's fix says how to trust a writer of one's own). ``family``: any staged event's type."""
    try:
        return open_envelope(data, trust, payload_type, what, accepts=_is_staged_event_type if family else None)
    except EnvelopeError as exc:
        fix = UNTRUSTED_FIX if exc.problem == "untrusted key" else exc.fix
        raise RefusedStagedError(exc.what, fix, CAUSE_MALFORMED if exc.problem == "malformed" else CAUSE_SIGNATURE) from None


def opened_event(data: bytes, trust: TrustStore, key: str, store_id: str | None = None) -> bytes:
    """The event (canonical JSON bytes) the staged object ``data`` at store key ``key`` (``staging/<run>/...``) holds,
    when a key of ``trust`` signed it and it is an event of that run staged for store ``store_id`` (the identity of
    the store it is read from; None: not known, any store's taken; :data:`~prov_common.store.identity.NO_IDENTITY`: it
    has none, no store's taken). Raises :class:`BadInputError` naming ``key`` and
    why otherwise: unsigned (a plain event, as a tdprov older than this staged it: :class:`UnsignedEventError`),
    signed by an untrusted or retired key (named by its key id), a bad signature, not a staged event at all, a
    signed event of another run copied there (its signature is genuine, but it says nothing of this run), or one
    staged for another store (copied from that store's staging). An event signed for no store is taken."""
    what = f"staged event {key}"
    try:
        opened = _opened(data, trust, STAGED_EVENT_TYPE, what, family=True)
    except BadInputError:
        if _plain_event(data):
            raise UnsignedEventError(f"{what} is unsigned: no writer holding a trusted key staged it.", fix=UNSIGNED_FIX) from None
        raise
    _check_store(_store_named(opened.envelope.payload_type), store_id, what)
    _check_run(opened.payload, key)
    return opened.payload


def _check_store(named: Any, store_id: str | None, what: str) -> None:
    """Raise :class:`BadInputError` when the staged object ``what`` was signed for store ``named`` (None: for none)
    other than ``store_id``, the store it is read from (None: not known; :data:`NO_IDENTITY`: it has none)."""
    if named is not None and store_id is not None and named != store_id:
        this = (f"this store has no identity ({IDENTITY_KEY} is missing), which its writers create before they stage"
                if store_id == NO_IDENTITY else f"not this store {store_id}")
        raise RefusedStagedError(f"{what} was staged for store {str(named)[:200]}, {this}: a signed object copied from "
                                 "that store's staging.", OTHER_STORE_FIX, CAUSE_STORE)


def _check_run(event: bytes, key: str) -> None:
    """Raise :class:`BadInputError` when the signed ``event`` names another run than the one whose staging holds it
    (``key``): a writer stages a run's events under its own run id only, so it was copied there."""
    parts = layout.staged_parts(key)
    try:
        value = loads(event)
    except ValueError:  # signed, but no JSON: the seal's own reading names it
        return
    run = value.get("run") if isinstance(value, dict) else None
    named = run.get("runId") if isinstance(run, dict) else None
    if parts is not None and named is not None and named != parts[0]:
        raise RefusedStagedError(f"staged event {key} is of run {str(named)[:200]}, not of run {parts[0]} under whose "
                                 "staging it is: a signed event of another run copied here.", REPLAYED_FIX, CAUSE_PLACE)


def _take_unsigned(error: UnsignedEventError, accept_unsigned: bool, sealed: str | None) -> None:
    """Whether an unsigned staged object (``error`` names it) is taken: only when ``accept_unsigned`` ('tdprov store
    seal --accept-unsigned', whose person knows who staged it), warned about when ``sealed`` names it as being sealed;
    ``error`` is raised otherwise. The one place this is decided."""
    if not accept_unsigned:
        raise error
    if sealed is not None:
        log.warning("tdprov: sealing the unsigned %s, as asked", sealed)


def trusted_event(data: bytes, trust: TrustStore, key: str, *, accept_unsigned: bool = False,
                  sealing: str | None = None, store_id: str | None = None) -> bytes:
    """:func:`opened_event`, but for ``accept_unsigned``: an unsigned event (a plain one) is then taken as it is, as
    a seal told to accept unsigned events takes it (warned about when ``sealing`` names the run being sealed)."""
    try:
        return opened_event(data, trust, key, store_id)
    except UnsignedEventError as error:
        _take_unsigned(error, accept_unsigned, None if sealing is None else f"staged event {key} of run {sealing}")
        return data


def unverified_event(data: bytes) -> Any:
    """What the staged object ``data`` holds as an event, its signature unchecked (a hint: whether a run seems to
    have ended, the job it ran as); a plain event (staged by an older tdprov) as it is. Raises ``ValueError`` for
    bytes that are no JSON, or an envelope that cannot be read."""
    value = loads(data)
    if isinstance(value, dict) and _is_staged_event_type(str(value.get("payloadType"))):
        return loads(base64.b64decode(value.get("payload", ""), validate=True))
    return value


def _plain_event(data: bytes) -> bool:
    """Whether ``data`` is a JSON object that is no envelope (an event staged unsigned)."""
    try:
        value = loads(data)
    except ValueError:
        return False
    return isinstance(value, dict) and "signatures" not in value and "payload" not in value


def same_signed(held: bytes, data: bytes | memoryview) -> bool:
    """Whether the staged envelopes ``held`` and ``data`` (an event, or an attachment's signed record) hold the same
    event or record, whoever signed them: one record two writers staged, each signing it with its own key, for one
    store or one of them for none (a writer that could not read the store's identity names none,
    :func:`_one_store`). Their signatures are not checked (the seal checks the one stored)."""
    try:
        first, second = Envelope.from_json(held), Envelope.from_json(bytes(data))
    except BadInputError:
        return False
    if not first.signatures:
        return False
    if _is_staged_event_type(first.payload_type) and _is_staged_event_type(second.payload_type):
        return first.payload == second.payload and _one_store(_store_named(first.payload_type),
                                                               _store_named(second.payload_type))
    return first.payload_type == second.payload_type == STAGED_ATTACHMENT_TYPE and _same_record(first.payload,
                                                                                                  second.payload)


def _one_store(first: Any, second: Any) -> bool:
    """Whether two writers staged for one store: the store ids they signed in are the same, or one is None (none named)."""
    return first is None or second is None or first == second


def _same_record(first: bytes, second: bytes) -> bool:
    """Whether two attachments' signed records (canonical JSON) name one attachment, for one store (:func:`_one_store`:
    a record staged for none leaves ``storeId`` out)."""
    if first == second:
        return True
    try:
        records = loads(first), loads(second)
    except ValueError:
        return False
    if not all(isinstance(r, dict) for r in records) or not _one_store(*(r.get("storeId") for r in records)):
        return False
    return len({canonical_bytes({k: v for k, v in r.items() if k != "storeId"}) for r in records}) == 1


def _attachment_record(run_id: str, path: str, digest: str, size: int, store_id: Any = None) -> dict[str, Any]:
    record = {"runId": run_id, "path": path, "size": size, "digest": digest}
    return record if store_id is None else {**record, "storeId": store_id}


def signed_attachment(run_id: str, path: str, data: bytes | memoryview, signer: SigningKey,
                      store_id: str | None = None) -> bytes:
    """The signed record staged beside attachment ``path`` of run ``run_id`` holding ``data``: its run, path, size,
    BLAKE3 digest and the store ``store_id`` it is staged for (None: left out, as when the writer cannot have the
    store's identity), in an envelope signed by ``signer``."""
    record = _attachment_record(run_id, path, blake3_digest(data), memoryview(data).nbytes, store_id)
    return sign_envelope(canonical_bytes(record), STAGED_ATTACHMENT_TYPE, [signer]).to_json()


def check_attachment(run_id: str, path: str, key: str, data: bytes | memoryview, signature: bytes | None,
                     trust: TrustStore, *, accept_unsigned: bool = False, store_id: str | None = None) -> None:
    """Raise :class:`BadInputError` naming the staged attachment ``key`` (``path`` of run ``run_id``, holding
    ``data``) and why, unless ``signature`` (the record staged beside it, None: none is) is signed by a key of
    ``trust`` and names this run, path, size and digest, and no other store than ``store_id`` (the store it is read
    from; None: not known): :class:`UnsignedEventError` when no record is staged, unless ``accept_unsigned`` (as a
    seal told to accept unsigned objects, which this warns about) and it is no record of a refusal (under
    ``refused/``: evidence only a writer makes, never taken unsigned)."""
    what = f"staged attachment {key}"
    size = memoryview(data).nbytes
    if signature is None and is_refusal(path):
        raise UnsignedEventError(f"{what} ({size:,} bytes, {blake3_digest(data)}) is an unsigned record of a refusal: no "
                                 "writer holding a trusted key staged it.", fix=UNSIGNED_REFUSAL_FIX)
    if signature is None:
        _take_unsigned(UnsignedEventError(f"{what} ({size:,} bytes, {blake3_digest(data)}) is unsigned: no writer "
                                          "holding a trusted key staged it.", fix=UNSIGNED_ATTACHMENT_FIX),
                       accept_unsigned, f"{what} of run {run_id}")
        return
    try:
        payload = _opened(signature, trust, STAGED_ATTACHMENT_TYPE, f"the signed record of {what}").payload
    except RefusedStagedError as error:
        raise _of_attachment(error) from None
    try:
        signed = loads(payload)
    except ValueError:  # signed, but no record: not one tdprov writes
        signed = None
    if not isinstance(signed, dict) or signed.get("runId") != run_id or signed.get("path") != path:
        raise RefusedStagedError(f"{what}: its signed record is of another attachment ({_named(signed)}).",
                                 CHANGED_ATTACHMENT_FIX, CAUSE_SIGNATURE)
    try:
        _check_store(signed.get("storeId"), store_id, what)
    except RefusedStagedError as error:
        raise _of_attachment(error) from None
    digest = blake3_digest(data)
    if signed != _attachment_record(run_id, path, digest, size, signed.get("storeId")):
        raise RefusedStagedError(f"{what} was changed after it was signed: it holds {size:,} bytes of {digest}, its "
                                 f"signed record names {signed.get('size')!r} bytes of {signed.get('digest')!r}.",
                                 CHANGED_ATTACHMENT_FIX, CAUSE_SIGNATURE)


def _of_attachment(error: RefusedStagedError) -> RefusedStagedError:
    """``error``, a refusal whose fix is shared with staged events (an untrusted key, another store's), as an
    attachment's: its fix ends saying where the attachment's bytes are (:data:`ATTACHMENT_BYTES_KEPT`)."""
    return RefusedStagedError(error.what, f"{error.fix}; {ATTACHMENT_BYTES_KEPT}" if error.fix else ATTACHMENT_BYTES_KEPT,
                              error.cause)


def _named(record: Any) -> str:
    if not isinstance(record, dict):
        return "no record"
    return f"run {str(record.get('runId'))[:200]!r}, path {str(record.get('path'))[:300]!r}"
