"""A refused event: the record kept, in the run's bundle, of an event that failed validation (no I/O).

A malformed event never enters ``events.jsonl`` (it would poison the run's PROV); instead its reason, its
type and time as sent, and the event itself (already redacted) become ``refused/<time>-<digest>.json``. A run with
so many that its bundle would list more files than readers accept (:data:`~prov_common.bundle.model.MANIFEST_FILES_MAX`)
keeps them all in one file instead, one record a line: ``refused/combined-<count>-<digest>.jsonl``. A staged
attachment refused for its signature has its bytes kept in its record (``stagedBytes``, base64) up to a bound.

Each record says why in words (``reason``, ``fix``) and in one machine-readable word (``cause``, one of
:data:`CAUSES`), which readers such as the audit go by: records written before it have none, and are read by their
``fix``.
"""
from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from prov_common.bundle import layout
from prov_common.canonical_json import canonical_bytes, loads
from prov_common.errors import BadInputError
from prov_common.hashing.raw import short_digest
from prov_common.w3cprov.identity import iso_z

RECORD_TYPE = "https://github.com/tdprov/tdprov/refused-event/v1"
STAGED_BYTES_KEPT = 1 << 20
"""Bytes at most of a refused staged attachment kept in its record (evidence of who planted what, once staging is
cleaned); a larger one is named only (key, size, digest), its bytes left where they were staged."""
STAGED_BYTES_KEPT_PER_RUN = 16 << 20
"""Bytes at most of a run's refused staged attachments kept in their records: the others are named only."""
CAUSE_SIGNATURE = "signature"
"""A staged object refused for its signature: unsigned, signed by a key the sealer does not trust or a retired one, or
changed after it was signed."""
CAUSE_PLACE = "place"
"""A staged object refused for its place: another run's signed event copied into this run's staging, an attachment where
no writer attaches."""
CAUSE_STORE = "store"
"""A staged object signed for another store (copied from its staging, or staged before this store's identity was
replaced on purpose)."""
CAUSE_RUN = "run"
"""A staged event of another run that was given the same run id."""
CAUSE_UNREADABLE = "unreadable"
"""A staged object that could not be read from the store."""
CAUSE_MALFORMED = "malformed"
"""An event that fails validation (or too large to be staged): what a writer refuses of its own producer's."""
CAUSES = (CAUSE_SIGNATURE, CAUSE_PLACE, CAUSE_STORE, CAUSE_RUN, CAUSE_UNREADABLE, CAUSE_MALFORMED)
PLANTED_CAUSES = frozenset({CAUSE_SIGNATURE, CAUSE_PLACE, CAUSE_STORE})
"""The causes of a refusal no writer of the run gives rise to (a tdprov older than the signing of staged objects, or a
run open while its store's identity was replaced, aside): evidence that someone who can write ``staging/`` put the
object there."""
_COMBINED = re.compile(r"combined-([1-9][0-9]{0,17})-[0-9a-f]{32}\.jsonl\Z")


class RefusedStagedError(BadInputError):
    """A staged object a seal refuses, with the :data:`cause <CAUSES>` the record of its refusal keeps."""

    def __init__(self, what: str, fix: str | None = None, cause: str = CAUSE_SIGNATURE) -> None:
        super().__init__(what, fix)
        self.cause = cause


def cause_of(error: BadInputError) -> str:
    """The cause of a refusal with ``error``: a :class:`RefusedStagedError`'s own, else :data:`CAUSE_MALFORMED`."""
    return error.cause if isinstance(error, RefusedStagedError) else CAUSE_MALFORMED


def run_id_or_none(event: Any) -> str | None:
    """The event's ``run.runId`` if it can name a bundle, else None (the refusal then belongs to no run)."""
    run = event.get("run") if isinstance(event, Mapping) else None
    try:
        return layout.check_run_id(run.get("runId") if isinstance(run, Mapping) else None)
    except BadInputError:
        return None


def refusal(event: Any, error: BadInputError, *, received_at: datetime | None = None,
            staged_as: str | None = None, staged_bytes: bytes | memoryview | None = None,
            cause: str | None = None) -> tuple[str, bytes]:
    """(bundle path, canonical JSON bytes) of the record of ``event`` (redacted, or None when it could not
    be kept) refused with ``error`` for ``cause`` (None: :func:`cause_of` the error); ``staged_as`` names the staged
    object it was read from, ``staged_bytes`` are what it held, kept (an attachment's: see :data:`STAGED_BYTES_KEPT`)."""
    moment = received_at or datetime.now(timezone.utc)
    fields = event if isinstance(event, Mapping) else {}
    record = {
        "_type": RECORD_TYPE,
        "reason": error.what,
        "fix": error.fix,
        "cause": cause or cause_of(error),
        "receivedAt": iso_z(moment),
        "eventType": _short(fields.get("eventType")),
        "eventTime": _short(fields.get("eventTime")),
        "event": event if isinstance(event, Mapping) else None,
    }
    if staged_as:
        record["stagedAs"] = staged_as
    if staged_bytes is not None:
        record["stagedBytes"] = base64.b64encode(staged_bytes).decode("ascii")
    try:
        data = canonical_bytes(record)
    except (BadInputError, TypeError, ValueError, RecursionError):  # the event itself cannot be written: keep the reason
        record["event"] = None
        data = canonical_bytes(record)
    digest = short_digest(data)
    return f"{layout.REFUSED_FOLDER}/{layout.stamp(moment)}-{digest}.json", data


def _short(value: Any) -> str | None:
    return value[:200] if isinstance(value, str) else None


def is_refusal(path: str) -> bool:
    """Whether the bundle path ``path`` holds refused events (is under ``refused/``)."""
    return path.startswith(layout.REFUSED_FOLDER + "/")


def refusals_in(path: str) -> int:
    """How many refused events the bundle file ``path`` (under ``refused/``) holds: one, or a combined file's count."""
    combined = _COMBINED.match(path.rsplit("/", 1)[-1])
    return int(combined.group(1)) if combined else 1


def parsed_record(line: bytes) -> dict[str, Any] | None:
    """The record a line of a bundle's refused/ file holds; None for a line that is no JSON object (nested deeper than
    :data:`~prov_common.canonical_json.MAX_DEPTH`, a non-finite number: a file changed after the seal)."""
    try:
        value = loads(line)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def combined(records: Mapping[str, bytes]) -> tuple[str, bytes]:
    """(bundle path, JSON lines) of one file holding every refusal of ``records`` (bundle path -> the bytes of a
    record, or of a combined file), one record a line in the order of their paths (time, then digest)."""
    lines = [bytes(records[p]).rstrip(b"\n") + b"\n" for p in sorted(records)]
    data = b"".join(lines)
    count = sum(refusals_in(p) for p in records)
    digest = short_digest(data)
    return f"{layout.REFUSED_FOLDER}/combined-{count}-{digest}.jsonl", data
