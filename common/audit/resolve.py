"""Resolving a gap: a person accepts the store's log as it is now, and the decision is recorded.

``tdprov audit --accept-checkpoint --reason TEXT`` closes the auditor's open gaps, forgets the
checkpoint and inventory this auditor remembered, so that the audit re-takes both from the store as
it is (as a first audit does),
and records the resolution twice: in the auditor's memory, and signed in the store under
``audit/resolutions/<time>-<audit id>.json`` (who, when, why, the checkpoints before and after, the
findings it closed and the witness places it resets), so that every later reader sees that history was accepted, and by whom.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from prov_common.audit.memory import AuditorMemory, KnownCheckpoint, who
from prov_common.audit.model import Finding
from prov_common.bundle.layout import stamp
from prov_common.canonical_json import canonical_bytes
from prov_common.errors import BadInputError
from prov_common.signing import SigningKey, sign_envelope
from prov_common.store.base import Store
from prov_common.tlog.log import StoredCheckpoint
from prov_common.w3cprov.identity import iso_z

RESOLUTIONS_PREFIX = "audit/resolutions/"
RESOLUTION_PAYLOAD_TYPE = "application/vnd.tdprov.audit-resolution+json"


def accept_checkpoint(memory: AuditorMemory, store: Store, head: StoredCheckpoint | None, signer: SigningKey, reason: str,
                      *, now: datetime, audit_id: str, places: Sequence[str] = (), also: Sequence[Finding] = ()) -> dict[str, Any]:
    """Record the resolution and reset ``memory`` (and the witness ``places`` named) to the store's log as it is now;
    returns the record. ``also``: findings kept elsewhere than the memory that the resolution closes too (listed with
    the gaps it closed)."""
    if not reason or not reason.strip():
        raise BadInputError("accepting the store's checkpoint needs a reason.",
                            fix="pass --reason 'restored from backup of 2026-05-01, runs X and Y lost' (it is recorded)")
    record = {"acceptedAt": iso_z(now), "by": who(), "signer": signer.key_id, "reason": reason.strip(),
              "store": store.uri, "before": memory.checkpoint.published() if memory.checkpoint else None,
              "after": KnownCheckpoint.of(head).published() if head else None, "closed": [f.to_dict() for f in [*memory.open, *also]],
              "witnessesReset": list(places)}
    key = f"{RESOLUTIONS_PREFIX}{stamp(now)}-{audit_id[:8]}.json"
    store.put(key, sign_envelope(canonical_bytes(record), RESOLUTION_PAYLOAD_TYPE, [signer]).to_json())
    memory.resolutions.append(dict(record, key=key))
    memory.open, memory.checkpoint, memory.runs, memory.tags = [], None, {}, {}  # re-taken from the store as it is now
    memory.inventory = []
    return dict(record, key=key)


__all__ = ["RESOLUTIONS_PREFIX", "accept_checkpoint"]
