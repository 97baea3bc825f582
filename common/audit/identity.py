"""The store's identity in the audit: read once per audit, held against what this auditor remembers.

Bundles and source records name the store they were written to (``prov_common.store.identity``); an audit takes
one that names another store as copied from it. That protects only while the store's own identity stays what it
was: someone who replaced ``_tdprov/store.json`` with another store's would make that store's records pass here.
So the auditor's memory keeps the identity it first saw, and an identity that later changes, is rewritten, cannot
be read or is gone is an inventory finding of every audit, until a person accepts it (``--accept-checkpoint``); a
deletion accepted leaves the id remembered, by which the store's own staged objects are still told from copies.

An identity its creator marked ``"writeOnce": "ignored"`` says that the store's server ignored ``If-None-Match: *``,
which write-once rests on: an inventory finding of every audit too, which no acceptance closes, until ``tdprov store
init`` finds the server honouring it and records so (``prov_common.store.write_once``). The audit writes nothing
outside ``log/`` and ``audit/``, so it reads that record and never probes the server itself.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from prov_common.audit.memory import GONE_ACCEPTED, AuditorMemory
from prov_common.audit.model import CHECK_INVENTORY, Finding
from prov_common.errors import BadInputError
from prov_common.store.base import Store
from prov_common.store.errors import FIX_NOT_WRITE_ONCE
from prov_common.store.identity import IDENTITY_KEY, NO_IDENTITY, WRITE_ONCE_IGNORED, StoreIdentity, judge_absent_by, reread_identity
from prov_common.store.write_once import verified_since

FIX_IDENTITY = (f"restore {IDENTITY_KEY} from a backup or replica of the store: it is written once, by 'tdprov store init' or "
                "the store's first writer, and never changes, and every bundle since names its id, so under another identity "
                "they read as copied from another store; once it holds the id it had, an audit with "
                "'--accept-checkpoint --reason TEXT' takes its bytes as they are now")


@dataclass
class IdentityCheck:
    """The store's identity as this audit read it; ``findings``: how it differs from the remembered one, and that the
    store is not write-once; ``closed``: the former, when a person accepts the store as it is (the resolution lists them).
    ``store_id``: the id staged objects must name to be this store's: its identity's, or when that is gone or cannot be
    read the one this auditor saw before (:data:`NO_IDENTITY`: the store has none and none was seen, so none may name a
    store; None: its identity cannot be read and none was seen, any store's taken)."""

    current: StoreIdentity | None
    findings: list[Finding] = field(default_factory=list)
    closed: list[Finding] = field(default_factory=list)
    store_id: str | None = None


def _fix_gone(store: Store, was: str) -> str:
    """The fix of a deleted identity (``was``: the id remembered)."""
    return (f"restore {IDENTITY_KEY} from a backup or replica of the store, or, with none, make it again with the id it had: "
            f"'tdprov store init {store.uri} --store-id {was}', before a writer finds none and creates one with a new id; then "
            "audit with '--accept-checkpoint --reason TEXT'. Accepting the deletion alone ends this finding, and this auditor's "
            "audits and 'tdprov verify' then judge records by the id it remembers, but the next writer that finds no identity "
            "creates one with a new id, by which every earlier record reads as another store's")


def _fix_made_again(store: Store, was: str) -> str:
    """The fix of an identity made again with a new id after its deletion was accepted (``was``: the id remembered)."""
    return ("do not accept it: every bundle and source record signed before would then read as another store's. Stop the "
            f"store's writers (each keeps the id it read), put back the identity with id {was}: from a backup or replica, or "
            f"with none, remove {IDENTITY_KEY} and run 'tdprov store init {store.uri} --store-id {was}'; start the writers "
            "again, then audit with '--accept-checkpoint --reason TEXT'. Runs sealed under the new id meanwhile name it: "
            "'tdprov verify' and full audits name each as another store's ('other store: signed for store ...'), and no "
            "acceptance ends that (their bundles removed are findings of their own: 'gone'), so note their run ids now "
            "('tdprov verify' lists them), to tell them from copies of another store's")


def check_identity(store: Store, memory: AuditorMemory, *, accepting: bool = False) -> IdentityCheck:
    """Read the store's identity (one read; the audit's verification of bundles and source records then judges by
    it) and compare it with ``memory``'s, which takes it when it has none or ``accepting``; one more read when the
    identity is marked not write-once."""
    try:
        current, problem = reread_identity(store), None
    except BadInputError as exc:
        current, problem = None, exc.what
    kept = memory.identity
    what, fix = (problem, FIX_IDENTITY) if problem else _changed(store, kept, current) if kept else (None, FIX_IDENTITY)
    finding = None if what is None else Finding(CHECK_INVENTORY, IDENTITY_KEY, what, fix)
    lasting = not_write_once(store, current)  # the store as it is: no acceptance closes it
    store_id = _judged_by(current, kept, unreadable=problem is not None)
    if current is None and kept:  # bundles and source records too are this store's by the id remembered
        judge_absent_by(store, store_id)
    if finding is None or accepting:
        memory.identity = _remembered(current, kept, gone=problem is None)
        return IdentityCheck(current, lasting, closed=[finding] if finding else [], store_id=store_id)
    return IdentityCheck(current, [finding, *lasting], store_id=store_id)


def _remembered(current: StoreIdentity | None, kept: dict[str, str] | None, *, gone: bool) -> dict[str, str] | None:
    """What the memory keeps once the store's identity is taken as it is now: the identity read, or, when there is
    none, the one remembered (its id still names the store's own staged objects), marked :data:`GONE_ACCEPTED` when
    a person accepted that it is ``gone`` (deleted, not unreadable), so that is no finding again; restoring the
    object's bytes ends the mark."""
    if current is not None:
        return {"storeId": current.store_id, "digest": current.digest}
    if kept is None or not gone:
        return kept
    return {**kept, "gone": GONE_ACCEPTED}


def _judged_by(current: StoreIdentity | None, kept: dict[str, str] | None, *, unreadable: bool) -> str | None:
    """The id staged objects must name to be this store's (see :attr:`IdentityCheck.store_id`): the identity read
    (``current``), else the one remembered (``kept``), so that with the identity deleted or unreadable the store's own
    staged objects stay its own and another store's copies another's."""
    if current is not None:
        return current.store_id
    if kept:
        return kept["storeId"]
    return None if unreadable else NO_IDENTITY


def not_write_once(store: Store, current: StoreIdentity | None) -> list[Finding]:
    """The finding of a store whose identity its creator marked not write-once, unless ``tdprov store init`` found the
    store write-once since (none: it is not marked, or it was found so)."""
    if current is None or current.write_once != WRITE_ONCE_IGNORED or verified_since(store, current):
        return []
    what = (f"the writer that created the store's identity found that {store.describe()} ignores the condition of its writes "
            "(If-None-Match: *), which write-once rests on, and no 'tdprov store init' has found it honoured since: objects "
            "there are not write-once, so two writers of one run can both seal it, and a bundle, index entry or source record "
            "can be overwritten without any error (the log shows a logged bundle that changed, not one overwritten before an "
            "audit logged it)")
    fix = f"{FIX_NOT_WRITE_ONCE}; for this store, 'tdprov store init {store.uri}', whose passing check is recorded and ends this finding"
    return [Finding(CHECK_INVENTORY, IDENTITY_KEY, what, fix)]


def _changed(store: Store, kept: dict[str, str], current: StoreIdentity | None) -> tuple[str | None, str]:
    """How the identity read now differs from the one remembered (None: it does not), and the fix."""
    was = kept["storeId"]
    if current is None:
        if kept.get("gone") == GONE_ACCEPTED:
            return None, FIX_IDENTITY
        return (f"the store's identity (store id {was}, which this auditor saw before) is gone: bundles and source records "
                "signed for this store can no longer be told from copies of another store's", _fix_gone(store, was))
    if current.store_id != was and kept.get("gone") == GONE_ACCEPTED:
        return (f"the store's identity is now {current.store_id}, not {was} as this auditor saw before: after its deletion "
                f"was accepted, {IDENTITY_KEY} was made again with a new id (by a writer that found none, or 'tdprov store "
                f"init') or put there from another store; this store's records name {was}", _fix_made_again(store, was))
    if current.store_id != was:
        return (f"the store's identity is now {current.store_id}, not {was} as this auditor saw before: {IDENTITY_KEY} was "
                "replaced, so records copied from the store it names would pass as this store's", FIX_IDENTITY)
    if current.digest != kept["digest"]:
        return f"{IDENTITY_KEY} was rewritten (store id {was} kept, other bytes): it is written once and never changes", FIX_IDENTITY
    return None, FIX_IDENTITY


__all__ = ["FIX_IDENTITY", "IdentityCheck", "check_identity", "not_write_once"]
