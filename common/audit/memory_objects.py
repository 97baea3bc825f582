"""The auditor's inventory (what each logged run and audit object looked like when listed), kept as
objects in the audited store and pinned by digest in the auditor's memory, so the memory file stays
small whatever the store's size.

The memory file holds the checkpoint, the open gaps, the resolutions and the SHA-256 of at most
``COMPACT_AFTER + 1`` inventory objects: a *summary* (every run id with its index key, every tracked
key with its fingerprint) and the *segments* written after it (what each later audit added or
changed). They live under ``audit/auditor-inventory/<store URI hash>/<time>-<audit>-{summary,segment}.json``
(DSSE-signed by the auditor, written once, never listed by the inventory itself). An object that is
missing or whose bytes no longer have the pinned digest is a finding that stays open until a person
accepts the store as it is (``--accept-checkpoint``): deleting the inventory blinds no audit.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from prov_common.audit.memory import AuditorMemory, store_id
from prov_common.audit.model import CHECK_LOG, Finding
from prov_common.bundle.layout import stamp
from prov_common.bundle.verify import read_pinned
from prov_common.canonical_json import canonical_bytes, loads
from prov_common.errors import StoreUnavailableError, TdprovError
from prov_common.signing import SigningKey, TrustStore, open_envelope, sign_envelope
from prov_common.store.base import Store
from prov_common.tlog.model import sha256_digest

INVENTORY_PREFIX = "audit/auditor-inventory/"
INVENTORY_PAYLOAD_TYPE = "application/vnd.tdprov.auditor-inventory+json"
COMPACT_AFTER = 8  # segments after the summary before the next save writes a new summary
FIX_PINNED = ("restore the object from a backup of the store; if it is lost for good, accept the store as it is now with "
              "'tdprov audit --accept-checkpoint --reason TEXT' (the inventory is then re-taken from the store)")


def load_inventory(memory: AuditorMemory, store: Store, trust: TrustStore) -> list[Finding]:
    """Fill ``memory.runs`` and ``memory.tags`` from its pinned objects; a missing or changed one is a finding."""
    problems: list[Finding] = []
    for pin in memory.inventory:
        key, digest = pin["key"], pin["digest"]
        try:
            data = read_pinned(store, key, digest)  # a large store's summary may pass the small-object bound
            if sha256_digest(data) != digest:
                raise ValueError(f"its digest is {sha256_digest(data)}, the auditor pinned {digest}")
            # pinned by its digest in this auditor's memory, outside the store: a retired auditor key's signature counts
            payload = loads(open_envelope(data, trust, INVENTORY_PAYLOAD_TYPE, what=f"auditor inventory '{key}'", position=0).payload)
            memory.runs.update({str(r): str(k) for r, k in payload["runs"].items()})
            memory.tags.update({str(k): str(t) for k, t in payload["tags"].items()})
        except StoreUnavailableError:
            raise
        except (TdprovError, KeyError, TypeError, ValueError, AttributeError) as exc:
            what = exc.what if isinstance(exc, TdprovError) else str(exc)
            problems.append(Finding(CHECK_LOG, key, f"this auditor's inventory object cannot be used ({what}): the store's "
                                    "objects cannot all be compared with what earlier audits listed", FIX_PINNED))
    memory.saved_runs, memory.saved_tags = dict(memory.runs), dict(memory.tags)
    return problems


def save_inventory(memory: AuditorMemory, store: Store, signer: SigningKey, *, now: datetime, audit_id: str) -> str | None:
    """Write what changed since :func:`load_inventory` as a segment (or everything as a summary, when
    something was forgotten, after ``COMPACT_AFTER`` segments, or for a memory of the older inline format)
    and pin it in ``memory``; the key written, or None when nothing changed."""
    forgot = any(r not in memory.runs for r in memory.saved_runs) or any(k not in memory.tags for k in memory.saved_tags)
    runs = {r: k for r, k in memory.runs.items() if memory.saved_runs.get(r) != k}
    tags = {k: t for k, t in memory.tags.items() if memory.saved_tags.get(k) != t}
    if not (runs or tags or forgot or memory.inline):
        return None
    summary = forgot or memory.inline or not memory.inventory or len(memory.inventory) > COMPACT_AFTER
    record: dict[str, Any] = {"store": memory.store, "kind": "summary" if summary else "segment",
                              "runs": memory.runs if summary else runs, "tags": memory.tags if summary else tags}
    data = sign_envelope(canonical_bytes(record), INVENTORY_PAYLOAD_TYPE, [signer]).to_json()
    key = f"{INVENTORY_PREFIX}{store_id(memory.store)}/{stamp(now)}-{audit_id[:8]}-{record['kind']}.json"
    store.put(key, data)
    pin = {"key": key, "digest": sha256_digest(data)}
    memory.inventory = [pin] if summary else [*memory.inventory, pin]
    memory.saved_runs, memory.saved_tags, memory.inline = dict(memory.runs), dict(memory.tags), False
    return key


def keep_inline(memory: AuditorMemory) -> None:
    """Keep the whole inventory in the memory file itself, for an audit that writes nothing into the store (read-only):
    the pinned objects it was loaded from are no longer needed, and the next audit that writes moves it back to objects
    (a summary, as for a memory of the older inline format)."""
    memory.inventory, memory.inline = [], True


__all__ = ["COMPACT_AFTER", "INVENTORY_PREFIX", "keep_inline", "load_inventory", "save_inventory"]
