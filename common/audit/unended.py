"""Sealed runs that lack events: a bundle whose last event is not terminal, and a bundle holding refused events.

A run is sealed without its terminal event when that event was refused (malformed, unsigned, or signed by a key the
sealer does not trust: the transport then seals what the run staged) or when what it staged was sealed without it
('tdprov flush', 'tdprov store seal'). The refused staged objects are kept in the bundle, each with its reason
(``bundles/<run>/refused/``), but are not part of its record.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from prov_common.audit.model import CHECK_UNFINISHED, NOTE, Finding, RunRecord
from prov_common.bundle import layout
from prov_common.bundle.refusal import is_refusal, refusals_in
from prov_common.text import counted
from prov_common.w3cprov.events import TERMINAL

FIX_REFUSED = (
    "read why in the bundle's refused/ entries (each holds the reason it was refused, malformed, unsigned or signed by "
    "a key the sealer does not trust, and the event as sent; a "
    "combined-<count>-<digest>.jsonl one holds such a record a line), fix what "
    "emitted it (the producer, or the inlet or outlet it could not name), then re-run the step: the record of this run "
    "stays without those events; one unsigned, signed by a key you do not know, or of another run may have been put into "
    "staging/ by someone who can write the store: find who, and take those credentials away"
)
FIX_SEALED_UNENDED = (
    "nothing to do if the run was sealed on purpose after it stopped ('tdprov flush', 'tdprov store seal'); otherwise "
    "re-run the step to record its end: the record of this run stays without it"
)


def sealed_unended(listed: Mapping[str, Sequence[str]], records: Mapping[str, RunRecord]) -> list[Finding]:
    """The sealed runs of ``records`` whose last event is not terminal (an error when events of the run were refused,
    else a note), and those examined now (their files known) that ended but hold refused events (a note). ``listed``:
    each run's bundle files in the audit's listing of the store (``Listing.files``). A run without its end is named on
    every audit, as its record never changes."""
    findings: list[Finding] = []
    for run_id, record in sorted(records.items()):
        if not layout.is_run_id(run_id):  # verification named it
            continue
        ended = record.state in TERMINAL
        if ended and record.files is None:
            continue
        refused = _refused(listed, record)
        count = sum(refusals_in(k) for k in refused)
        # the reason is in each record (malformed, unsigned, an untrusted key, ...): the listing alone does not say
        were = f"{counted(count, 'staged object')} of it {'was' if count == 1 else 'were'} refused"
        if ended:
            if refused:
                findings.append(Finding(CHECK_UNFINISHED, refused[0], f"run {run_id} ({record.job}) ended {record.state}, "
                                        f"and {were}: {'it is' if count == 1 else 'they are'} not in its record",
                                        FIX_REFUSED, severity=NOTE, run_id=run_id))
            continue
        what = f"run {run_id} ({record.job}) was sealed without its terminal event (recorded as {record.state})"
        if refused:
            findings.append(Finding(CHECK_UNFINISHED, refused[0], f"{what}: {were}, and its end is not recorded",
                                    f"{FIX_REFUSED}; once checked, 'tdprov audit --accept-finding {run_id} --reason TEXT' accepts "
                                    "this finding (recorded)", run_id=run_id))
        else:
            findings.append(Finding(CHECK_UNFINISHED, layout.bundle_prefix(run_id), what, FIX_SEALED_UNENDED,
                                    severity=NOTE, run_id=run_id))
    return findings


def _refused(listed: Mapping[str, Sequence[str]], record: RunRecord) -> list[str]:
    """The keys of the run's refused events: from the manifest's files when this audit read them, else from the
    audit's one listing of the store. The listing is not signed, but an audit reads the manifest of every bundle holding
    a file no audit saw there (:func:`~prov_common.audit.inventory.changed_runs`): a file planted under ``refused/``
    (a ``combined-<count>-...`` one claiming any count) never counts."""
    prefix = layout.bundle_prefix(record.run_id)
    if record.files is not None:
        return [prefix + f for f in record.files if is_refusal(f)]
    return sorted(k for k in listed.get(record.run_id, ()) if k.startswith(prefix) and is_refusal(k[len(prefix):]))
