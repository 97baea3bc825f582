"""Sealed runs that lack events: a bundle whose last event is not terminal, and a bundle holding refused events.

A run is sealed without its terminal event when that event was refused (malformed, unsigned, or signed by a key the
sealer does not trust: the transport then seals what the run staged) or when what it staged was sealed without it
('tdprov flush', 'tdprov store seal'). The refused staged objects are kept in the bundle, each with its reason
(``bundles/<run>/refused/``), but are not part of its record.

A staged object refused for its signature or its place (its record's ``cause``,
:data:`~prov_common.bundle.refusal.PLANTED_CAUSES`: unsigned, a key not trusted or retired, changed after signing,
another run's copy, one staged for another store, an attachment where no writer attaches) was put into staging by
someone who can write the store, not by a writer of the run: :func:`refused_in_bundle` reads the reasons from the
signed bundle's refused records when the audit examines it, and makes such a run an error, which the audit state
carries like the other findings of a run's bundle.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prov_common.audit.model import CHECK_UNFINISHED, ITEMS_KEPT, NOTE, Finding, RunRecord
from prov_common.bundle import layout
from prov_common.bundle.model import FILES_SHOWN, Manifest
from prov_common.bundle.refusal import PLANTED_CAUSES, is_refusal, parsed_record, refusals_in
from prov_common.bundle.staged import SIGNATURE_FIXES
from prov_common.bundle.storage import listed_lines
from prov_common.errors import BadInputError, VerificationError
from prov_common.store.base import Store
from prov_common.store.errors import ObjectNotFoundError, UnreadableObjectError
from prov_common.text import counted, noun_for
from prov_common.w3cprov.events import TERMINAL

UNENDED = "unended"
"""The kind (:attr:`Finding.kind`) of the error of a run sealed without its terminal event, which was refused."""
PLANTED = "planted"
"""The kind of the error of a run holding staged objects its seal refused for their signature or place."""

FIX_REFUSED = (
    "read why in the bundle's refused/ entries (each holds the reason it was refused, malformed, unsigned or signed by "
    "a key the sealer does not trust, and the event as sent; a "
    "combined-<count>-<digest>.jsonl one holds such a record a line), fix what "
    "emitted it (the producer, or the inlet or outlet it could not name), then re-run the step: the record of this run "
    "stays without those events; one unsigned, signed by a key you do not know, or of another run may have been put into "
    "staging/ by someone who can write the store: find who, and take those credentials away"
)
FIX_PLANTED = (
    "someone who can write the store's staging/ put them into the run's staging, where no writer of the run staged them: "
    "find who can write staging/, and take those credentials away (each refused/ entry names the object as staged and "
    "why it was refused, and holds the event as sent, or an attachment's size and digest with its bytes when they are at "
    "most 1 MiB, 16 MiB a run: the others are only where they were staged; the run's record holds none of them); if a "
    "writer of yours signed one with a key the sealer did not trust, trust that key (TDPROV_TRUSTED_KEYS) for the next "
    "runs; once checked, 'tdprov audit --accept-finding RUN_ID --reason TEXT' accepts this finding (recorded)"
)
PLANTED_FIXES = (
    FIX_PLANTED,
    "someone who can write the store's staging/ put them into the run's staging, where no writer of the run staged them: "
    "find who can write staging/, and take those credentials away (each refused/ entry holds the object as staged and "
    "why it was refused; the run's record holds none of them); if a writer of yours signed one with a key the sealer did "
    "not trust, trust that key (TDPROV_TRUSTED_KEYS) for the next runs; once checked, 'tdprov audit --accept-finding "
    "RUN_ID --reason TEXT' accepts this finding (recorded)",
)
"""The fix texts of the error of planted objects, this one and those audits wrote before: a finding of an audit state
written before findings had a kind (:attr:`Finding.kind`) is told planted by them."""
FIX_SEALED_UNENDED = (
    "nothing to do if the run was sealed on purpose after it stopped ('tdprov flush', 'tdprov store seal'); otherwise "
    "re-run the step to record its end: the record of this run stays without it"
)


def sealed_unended(listed: Mapping[str, Sequence[str]], records: Mapping[str, RunRecord]) -> list[Finding]:
    """The sealed runs of ``records`` whose last event is not terminal: an error when events of the run were refused, else
    a note. ``listed``: each run's bundle files in the audit's listing of the store (``Listing.files``). A run without
    its end is named on every audit, as its record never changes. (A run that ended with refused objects is
    :func:`refused_in_bundle`'s.)"""
    findings: list[Finding] = []
    for run_id, record in sorted(records.items()):
        if not layout.is_run_id(run_id) or record.state in TERMINAL:  # verification named the first
            continue
        refused = _refused(listed, record)
        what = f"run {run_id} ({record.job}) was sealed without its terminal event (recorded as {record.state})"
        if refused:
            findings.append(Finding(CHECK_UNFINISHED, refused[0], f"{what}: {_were(refused)[0]}, and its end is not recorded",
                                    f"{FIX_REFUSED}; once checked, 'tdprov audit --accept-finding {run_id} --reason TEXT' accepts "
                                    "this finding (recorded)", run_id=run_id, kind=UNENDED))
        else:
            findings.append(Finding(CHECK_UNFINISHED, layout.bundle_prefix(run_id), what, FIX_SEALED_UNENDED,
                                    severity=NOTE, run_id=run_id))
    return findings


def _were(refused: Sequence[str]) -> tuple[str, int]:
    """``N staged objects of it were refused``, counted from the refused/ files ``refused`` (a combined one counts its
    records), and N; the reason is in each record (malformed, unsigned, an untrusted key, ...): their names do not say."""
    count = sum(refusals_in(k) for k in refused)
    return f"{counted(count, 'staged object')} of it {noun_for(count, 'was', 'were')} refused", count


REFUSED_READ_LIMIT = 256 << 20
"""Bytes at most of a bundle's refused/ files an audit reads (a line at a time) to tell the staged objects its seal
refused for their signature or place from a writer's own malformed events; the finding names the files not read."""


@dataclass
class _Refusals:
    """What the records of a bundle's refused/ files say: how many were refused for their signature or place, the
    reasons of the first :data:`FILES_SHOWN`, the files holding them (bundle keys), and the files not read."""

    planted: int = 0
    reasons: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    unread: int = 0


def refused_in_bundle(store: Store, record: RunRecord, manifest: Manifest) -> list[Finding]:
    """The finding of the refused staged objects that the bundle of ``record`` (its signed ``manifest``) holds: an error
    naming those refused for their signature or place (:func:`is_planted`, read from the records of its refused/ files,
    each checked against the manifest, up to :data:`REFUSED_READ_LIMIT` bytes of them), else, for a run that ended, a
    note; none for a run without its end (:func:`sealed_unended` names it on every audit). Files not read are counted
    in the finding."""
    run_id, prefix = record.run_id, layout.bundle_prefix(record.run_id)
    paths = [f.path for f in manifest.files if is_refusal(f.path)]
    if not paths:
        return []
    found = _read_refusals(store, run_id, manifest, paths)
    unread = f" (the records of {counted(found.unread, 'refused/ file')} were not read)" if found.unread else ""
    if found.planted:
        more = found.planted - len(found.reasons)
        reasons = "; ".join(found.reasons) + (f" and {more:,} more" if more else "")
        return [Finding(CHECK_UNFINISHED, found.keys[0], f"run {run_id} ({record.job}) holds "
                        f"{counted(found.planted, 'staged object')} that its seal refused for "
                        f"{noun_for(found.planted, 'its', 'their')} signature or place, which no writer the seal trusts "
                        f"staged for the run: {reasons}{unread}", FIX_PLANTED, run_id=run_id, kind=PLANTED,
                        items=tuple(found.keys) if found.planted > FILES_SHOWN else ())]
    if record.state not in TERMINAL:
        return []
    were, count = _were(paths)
    return [Finding(CHECK_UNFINISHED, prefix + paths[0], f"run {run_id} ({record.job}) ended {record.state}, and "
                    f"{were}: {noun_for(count, 'it is', 'they are')} not in its record{unread}",
                    FIX_REFUSED, severity=NOTE, run_id=run_id)]


def _read_refusals(store: Store, run_id: str, manifest: Manifest, paths: Sequence[str]) -> _Refusals:
    """The records of the refused/ files ``paths`` of the bundle of ``run_id``, read in the manifest's order as long as
    their listed sizes fit in :data:`REFUSED_READ_LIMIT`; a file that cannot be read, or is not the one the manifest
    lists (verification names it), counts as not read."""
    found, left = _Refusals(), REFUSED_READ_LIMIT
    for path in paths:
        size = manifest.by_path[path].size
        if size > left:
            found.unread += 1
            continue
        left -= size
        try:
            planted, reasons = _signature_reasons(store, run_id, manifest, path)
        except (BadInputError, VerificationError, ObjectNotFoundError, UnreadableObjectError):
            found.unread += 1
            continue
        if planted:
            found.planted += planted
            found.reasons += reasons[:FILES_SHOWN - len(found.reasons)]
            if len(found.keys) < ITEMS_KEPT:
                found.keys.append(layout.bundle_prefix(run_id) + path)
    return found


def _signature_reasons(store: Store, run_id: str, manifest: Manifest, path: str) -> tuple[int, list[str]]:
    """How many records of refused/ file ``path`` (one record, or a combined file's lines, read a line at a time by
    the size the manifest lists) were refused for their signature or place (:func:`is_planted`), and the reasons of
    the first :data:`FILES_SHOWN`. Raises :class:`VerificationError` for a file that is not the one the manifest
    lists."""
    count, reasons = 0, []
    for line in listed_lines(store, run_id, manifest, path, layout.SMALL_OBJECT_LIMIT):
        record = parsed_record(line) if line is not None else None
        if record is not None and is_planted(record):
            count += 1
            if len(reasons) < FILES_SHOWN:
                reasons.append(str(record.get("reason") or record.get("stagedAs") or "a refused staged object").rstrip("."))
    return count, reasons


def is_planted(record: Mapping[str, Any]) -> bool:
    """Whether the record of a refusal says its staged object was refused for its signature or its place (evidence that
    someone who can write ``staging/`` put it there): by its ``cause``
    (:data:`~prov_common.bundle.refusal.PLANTED_CAUSES`), or, for a record written before refusals had one, by its
    ``fix`` (:data:`~prov_common.bundle.staged.SIGNATURE_FIXES`)."""
    cause = record.get("cause")
    if cause is not None:
        return cause in PLANTED_CAUSES
    return record.get("fix") in SIGNATURE_FIXES


def _refused(listed: Mapping[str, Sequence[str]], record: RunRecord) -> list[str]:
    """The keys of the run's refused events: from the manifest's files when this audit read them, else from the
    audit's one listing of the store. The listing is not signed, but an audit reads the manifest of every bundle holding
    a file no audit saw there (:func:`~prov_common.audit.inventory.changed_runs`): a file planted under ``refused/``
    (a ``combined-<count>-...`` one claiming any count) never counts."""
    prefix = layout.bundle_prefix(record.run_id)
    if record.files is not None:
        return [prefix + f for f in record.files if is_refusal(f)]
    return sorted(k for k in listed.get(record.run_id, ()) if k.startswith(prefix) and is_refusal(k[len(prefix):]))
