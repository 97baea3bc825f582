"""A refused event: the record kept, in the run's bundle, of an event that failed validation (no I/O).

A malformed event never enters ``events.jsonl`` (it would poison the run's PROV); instead its reason, its
type and time as sent, and the event itself (already redacted) become ``refused/<time>-<digest>.json``.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from prov_common.bundle import layout
from prov_common.canonical_json import canonical_bytes
from prov_common.errors import BadInputError
from prov_common.hashing.raw import blake3_digest
from prov_common.w3cprov.identity import iso_z

RECORD_TYPE = "https://github.com/tdprov/tdprov/refused-event/v1"


def run_id_or_none(event: Any) -> str | None:
    """The event's ``run.runId`` if it can name a bundle, else None (the refusal then belongs to no run)."""
    run = event.get("run") if isinstance(event, Mapping) else None
    try:
        return layout.check_run_id(run.get("runId") if isinstance(run, Mapping) else None)
    except BadInputError:
        return None


def refusal(event: Any, error: BadInputError, *, received_at: datetime | None = None,
            staged_as: str | None = None) -> tuple[str, bytes]:
    """(bundle path, canonical JSON bytes) of the record of ``event`` (redacted, or None when it could not
    be kept) refused with ``error``; ``staged_as`` names the staged object it was read from."""
    moment = received_at or datetime.now(timezone.utc)
    fields = event if isinstance(event, Mapping) else {}
    record = {
        "_type": RECORD_TYPE,
        "reason": error.what,
        "fix": error.fix,
        "receivedAt": iso_z(moment),
        "eventType": _short(fields.get("eventType")),
        "eventTime": _short(fields.get("eventTime")),
        "event": event if isinstance(event, Mapping) else None,
    }
    if staged_as:
        record["stagedAs"] = staged_as
    try:
        data = canonical_bytes(record)
    except (BadInputError, TypeError, ValueError, RecursionError):  # the event itself cannot be written: keep the reason
        record["event"] = None
        data = canonical_bytes(record)
    digest = blake3_digest(data).split(":", 1)[1][:32]
    return f"{layout.REFUSED_FOLDER}/{layout.stamp(moment)}-{digest}.json", data


def _short(value: Any) -> str | None:
    return value[:200] if isinstance(value, str) else None
