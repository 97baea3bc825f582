"""Resolving a gap: a person accepts the store's log as it is now, or the completeness findings of a run, and the
decision is recorded.

``tdprov audit --accept-checkpoint --reason TEXT`` closes the auditor's open gaps, forgets the
checkpoint and inventory this auditor remembered, so that the audit re-takes both from the store as
it is (as a first audit does),
and records the resolution twice: in the auditor's memory, and signed in the store under
``audit/resolutions/<time>-<audit id>.json`` (who, when, by which audit, why, the checkpoints before and after, the
findings it closed and the witness places it resets), so that every later reader sees that history was accepted, and by whom.

``tdprov audit --accept-finding RUN_ID --reason TEXT`` accepts the completeness findings that name a run (see
``accepted.py``), recorded the same way, under ``audit/resolutions/<time>-<audit id>-<run id>.json``, with the checkpoint
of the audit state that keeps it (``checkpoint``: where the log fixed it, for a retired auditor key), and kept in that
audit state.

The records are in the audit's inventory: :func:`check_resolution` is what one listed for the first time must pass, and
the auditor's memory keeps the SHA-256 of each it signed (``digest``), which the next listing compares it with.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from prov_common.audit.accepted import FIX_RUN_ID, apply_acceptances, propose
from prov_common.audit.catalog import Written
from prov_common.audit.checks import Evaluation, registered_names
from prov_common.audit.lineage import LineageIndex
from prov_common.audit.memory import AuditorMemory, KnownCheckpoint, who
from prov_common.audit.model import CHECK_COMPLETENESS, CHECK_SIGNATURES, NOTE, Finding
from prov_common.audit.published import of_store
from prov_common.audit.state import AcceptedRun
from prov_common.bundle.layout import RUN_ID_PREFIX_MIN, SMALL_OBJECT_LIMIT, stamp
from prov_common.canonical_json import canonical_bytes, loads
from prov_common.errors import BadInputError, VerificationError
from prov_common.signing import SigningKey, TrustStore, open_envelope, sign_envelope
from prov_common.store.base import Store
from prov_common.tlog.log import StoredCheckpoint
from prov_common.tlog.model import sha256_digest
from prov_common.w3cprov.identity import iso_z, moment

RESOLUTIONS_PREFIX = "audit/resolutions/"
RESOLUTION_PAYLOAD_TYPE = "application/vnd.tdprov.audit-resolution+json"
FIX_COPIED = "remove the object and find out who wrote it: an audit writes a resolution under the time and run it records"
FIX_NOT_KEPT = "resolve the log's gap first (see the log check's findings), then accept the findings again"
FIX_OTHER_STORE = ("remove the resolution and find out who copied it here: a resolution accepts what an audit of the store "
                   "it names found, and another store's closes nothing in this one")


def accept_checkpoint(memory: AuditorMemory, store: Store, head: StoredCheckpoint | None, signer: SigningKey, reason: str,
                      *, now: datetime, audit_id: str, places: Sequence[str] = (), also: Sequence[Finding] = (),
                      store_id: str | None = None) -> dict[str, Any]:
    """Record the resolution and reset ``memory`` (and the witness ``places`` named) to the store's log as it is now;
    returns the record. ``also``: findings kept elsewhere than the memory that the resolution closes too (listed with
    the gaps it closed). ``store_id``: the store's identity as the audit read it, recorded beside its URI (none: not
    recorded)."""
    if not reason or not reason.strip():
        raise BadInputError("accepting the store's checkpoint needs a reason.",
                            fix="pass --reason 'restored from backup of 2026-05-01, runs X and Y lost' (it is recorded)")
    record = {"acceptedAt": iso_z(now), "auditId": audit_id, "by": who(), "signer": signer.key_id, "reason": reason.strip(),
              "store": store.uri, **({"storeId": store_id} if store_id else {}),
              "before": memory.checkpoint.published() if memory.checkpoint else None,
              "after": KnownCheckpoint.of(head).published() if head else None, "closed": [f.to_dict() for f in [*memory.open, *also]],
              "witnessesReset": list(places)}
    key = _record(memory, store, signer, record, f"{stamp(now)}-{audit_id[:8]}")
    memory.open, memory.checkpoint, memory.runs, memory.tags = [], None, {}, {}  # re-taken from the store as it is now
    memory.inventory, memory.newest_runs = [], []
    return dict(record, key=key)


def _record(memory: AuditorMemory, store: Store, signer: SigningKey, record: dict[str, Any], name: str) -> str:
    """Sign ``record`` into the store under ``audit/resolutions/<name>.json`` and keep it in the auditor's memory; its key."""
    key = f"{RESOLUTIONS_PREFIX}{name}.json"
    data = sign_envelope(canonical_bytes(record), RESOLUTION_PAYLOAD_TYPE, [signer]).to_json()
    store.put(key, data)
    memory.resolutions.append(dict(record, key=key, digest=sha256_digest(data)))
    return key


def signed_since(memory: AuditorMemory, count: int) -> list[Written]:
    """The resolutions recorded in ``memory`` after its first ``count``, with the SHA-256 of the bytes signed into the store."""
    return [Written(r["key"], r["digest"]) for r in memory.resolutions[count:]]


def check_resolution(store: Store, trust: TrustStore, key: str, *, store_id: str | None = None) -> dict[str, Any]:
    """The record of the resolution at ``key``, verified: signed by a trusted auditor, and the one its key names
    (``<time>-<audit id>[-<run id>].json``: the time it was accepted, the audit that recorded it (``auditId``; records
    written before they named it are not judged by it) and, for an acceptance of findings, the run), not another's
    copied there; with ``store_id`` (this store's identity), not one whose ``storeId`` is another store's
    (:data:`FIX_OTHER_STORE`: copied from it; one that names no id is not judged here, see
    :func:`~prov_common.audit.published.of_store`)."""
    what = f"resolution '{key}'"
    record = loads(open_envelope(store.get(key, SMALL_OBJECT_LIMIT), trust, RESOLUTION_PAYLOAD_TYPE, what=what, position=_checkpoint_size).payload)
    if not isinstance(record, dict):
        raise VerificationError(f"{what} holds a JSON {type(record).__name__}, not a resolution.", fix=FIX_COPIED)
    when, run_id = moment(str(record.get("acceptedAt") or "")), record.get("runId")
    name = key[len(RESOLUTIONS_PREFIX):].removesuffix(".json")
    audit = name[len(stamp(when)) + 1:][:8] if when else ""
    audit_id = record.get("auditId", audit)  # a record written before records named their audit: its key's
    if (not when or len(audit) != 8 or "-" in audit or name != f"{stamp(when)}-{audit}{'' if run_id is None else f'-{run_id}'}"
            or not isinstance(audit_id, str) or audit_id[:8] != audit):
        raise VerificationError(f"{what} is not the resolution its key names (accepted at {record.get('acceptedAt')!r}"
                                f"{f' by audit {audit_id!r}' if 'auditId' in record else ''}"
                                f"{f', for run {run_id}' if run_id is not None else ''}): another resolution copied under its name.",
                                fix=FIX_COPIED)
    named_id = record.get("storeId")
    if store_id and named_id and not of_store(record.get("store"), named_id, store, store_id):
        raise VerificationError(f"{what} is a resolution of another store ({record.get('store')}, store id {named_id}), not of "
                                f"this store ({store.uri}, store id {store_id}): it was copied from that store and closes "
                                "nothing here.", fix=FIX_OTHER_STORE)
    return record


def _checkpoint_size(payload: bytes) -> int:
    """Where the log fixed a resolution, for a retired key: the size of the checkpoint a resolution of the log accepted
    (``after``), or of the one an acceptance of findings was made at (``checkpoint``; an acceptance recorded before it
    named one names none, and a retired key's signature on it does not count)."""
    record = loads(payload)
    return int((record["after"] if "after" in record else record["checkpoint"])["treeSize"])


def check_reason(reason: str | None, option: str) -> str:
    """The reason a person gives for ``option``, stripped; none is bad input (it is recorded with the decision)."""
    if not reason or not reason.strip():
        raise BadInputError(f"{option} needs --reason: the decision is recorded with it.",
                            fix=f"e.g. tdprov audit {option}{' RUN_ID' if option == '--accept-finding' else ''} --reason "
                                "'run before the source was registered; checked by the data owner'")
    return reason.strip()


def check_acceptance(runs: Sequence[str], reason: str | None) -> None:
    """Refuse, before the audit writes anything, ``--accept-finding`` without a reason or with a run id too short to
    name one run."""
    if not runs:
        return
    check_reason(reason, "--accept-finding")
    short = [r for r in runs if len(r) < RUN_ID_PREFIX_MIN]
    if short:
        raise BadInputError(f"--accept-finding {short[0]!r} is too short to name a run.", fix=FIX_RUN_ID)


def accept_findings(evaluation: Evaluation, index: LineageIndex, kept: Sequence[AcceptedRun], runs: Sequence[str], reason: str | None,
                    memory: AuditorMemory, store: Store, signer: SigningKey, *, now: datetime, audit_id: str,
                    state_at: StoredCheckpoint | None, unended: list[Finding]) -> list[dict[str, Any]]:
    """Honour the acceptances ``kept`` (from the audit state) and record one per run of ``runs`` (``--accept-finding``) that
    an open completeness finding names: signed under ``audit/resolutions/`` and in the auditor's memory, and kept in the
    next state (``evaluation.state.accepted``). The findings they cover leave the completeness check; returns the report's
    entries (see :func:`~prov_common.audit.accepted.apply_acceptances`). ``state_at``: the checkpoint the next audit state is
    bound to, which each record names; a run that no open finding names, or an audit that writes no state (``state_at``
    None: the log was not appended), accepts nothing: a note says so. ``unended``: the
    findings of sealed runs without their end (:func:`~prov_common.audit.unended.sealed_unended`); those of runs sealed
    without their refused terminal event are accepted alike, and those accepted are taken out of it (in place), as the
    signatures check's findings of a bundle that lacks a file its events name
    (:func:`~prov_common.audit.accepted.not_held`) are out of that check."""
    registered = registered_names(index)
    accepted = list(kept)
    notes: list[Finding] = []
    for ref in dict.fromkeys(runs):
        proposal = propose(ref, evaluation.state, accepted, registered, evaluation.unverified, evaluation.same_file,
                           unended=[*unended, *evaluation.check(CHECK_SIGNATURES).findings])
        if proposal.nothing is not None:
            notes.append(proposal.nothing)
            continue
        if state_at is None:
            notes.append(Finding(CHECK_COMPLETENESS, f"run {proposal.run_id}", f"--accept-finding {ref}: nothing was accepted: this audit "
                                 "writes no audit state to keep it in (the log was not appended)", FIX_NOT_KEPT, severity=NOTE,
                                 run_id=proposal.run_id))
            continue
        record = {"acceptedAt": iso_z(now), "auditId": audit_id, "by": who(), "signer": signer.key_id,
                  "reason": check_reason(reason, "--accept-finding"),
                  "store": store.uri, "runId": proposal.run_id, "covers": [list(c) for c in proposal.covers],
                  "findings": [f.to_dict() for f in proposal.findings], "checkpoint": KnownCheckpoint.of(state_at).published()}
        key = _record(memory, store, signer, record, f"{stamp(now)}-{audit_id[:8]}-{proposal.run_id}")
        accepted.append(AcceptedRun(proposal.run_id, record["reason"], record["by"], signer.key_id, record["acceptedAt"], key,
                                    tuple(proposal.covers), tuple(proposal.findings)))
    evaluation.state.accepted = accepted
    entries = apply_acceptances(evaluation, accepted, registered, unended=unended)
    evaluation.check(CHECK_COMPLETENESS).findings += notes
    return entries


__all__ = ["FIX_OTHER_STORE", "RESOLUTIONS_PREFIX", "accept_checkpoint", "accept_findings", "check_acceptance", "check_reason", "check_resolution",
           "signed_since"]
