"""Completeness findings a person accepted (``tdprov audit --accept-finding RUN_ID --reason TEXT``), no I/O.

A run's record never changes: a run that read a source before it was registered names it without a digest for
ever, and its findings (the input with no digest, the gaps of the training runs downstream of it) would stay on
every audit. A person who has checked such a run accepts the completeness findings that name it: the open links
of its inputs and the training gaps that run through it or, for a training run, its own. The acceptance records
what it covers, by the keys of those links and gaps (:func:`item_key`), and the audit state keeps it, so that
incremental and full audits honour it alike: the findings it covers are listed as accepted and do not fail the
audit. Anything it does not cover stays a finding: another check's finding about the run, or the gap of a training
run that reads the run's output later. The signed record of the acceptance is written by ``resolve.py``.

A run sealed without its terminal event because that event was refused (by a writer whose check was stricter than
the event's producer, say) is an error of the unfinished check on every audit for the same reason: its record never
changes. An acceptance of that run covers that finding too (:func:`unended_key`), and the error of staged objects of
the run its seal refused for their signature (planted by someone who can write ``staging/``), once the person has found
who: under a key of its own (:func:`end_key`), so that an acceptance of the missing end does not cover it.

A bundle whose events name a file it does not hold (:data:`~prov_common.bundle.verify.NOT_HELD`: failure samples or a
row set left out when the run was sealed) is an error of the signatures check on every audit for the same reason. An
acceptance of that run covers each such finding too, by its file (:func:`end_key`), never the bundle's other findings.
"""
from __future__ import annotations

from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prov_common.audit.checks import Evaluation, completeness_findings
from prov_common.audit.model import CHECK_COMPLETENESS, CHECK_SIGNATURES, CHECK_UNFINISHED, NOTE, Finding
from prov_common.audit.state import AcceptedRun, CheckState, OpenLink, TrainingGap
from prov_common.audit.unended import PLANTED, PLANTED_FIXES, UNENDED
from prov_common.bundle.layout import runs_meant
from prov_common.bundle.verify import NOT_HELD

FIX_RUN_ID = ("pass the run id that a completeness finding, an unfinished error of a run (sealed without its refused "
              f"terminal event, or holding staged objects refused for their signature), or an {NOT_HELD} error of its "
              "bundle names (its run_id), in full or its first or last 8 or more characters")


def unended_key(run_id: str) -> tuple[str, ...]:
    """What an acceptance names the finding of run ``run_id`` sealed without its refused terminal event by."""
    return (UNENDED, run_id)


def not_held(finding: Finding) -> bool:
    """Whether ``finding`` is a bundle verification's :data:`~prov_common.bundle.verify.NOT_HELD` error of a run."""
    return finding.check == CHECK_SIGNATURES and bool(finding.run_id) and finding.what.startswith(NOT_HELD + ": ")


def end_key(finding: Finding) -> tuple[str, ...]:
    """What an acceptance names an error of a run :func:`refused_ends` gives by: the file of a :func:`not_held` one;
    :func:`unended_key`, or for staged objects its seal refused for their signature, a key of their own. Told apart by
    the finding's kind (:attr:`Finding.kind`), not its words; a finding of an audit state written before findings had
    one, by its fix (any of :data:`~prov_common.audit.unended.PLANTED_FIXES`)."""
    run_id = finding.run_id or ""
    if not_held(finding):
        return (NOT_HELD, run_id, finding.object)
    planted = finding.kind == PLANTED if finding.kind else finding.fix in PLANTED_FIXES
    return (PLANTED, run_id) if planted else unended_key(run_id)


def is_accepted(finding: Finding, accepted: Sequence[AcceptedRun]) -> bool:
    """Whether an acceptance of ``accepted`` covers ``finding``, an error :func:`refused_ends` gives."""
    key = end_key(finding)
    return any(key in a.covers for a in accepted)


def refused_ends(findings: Sequence[Finding]) -> dict[str, list[Finding]]:
    """The errors of ``findings`` (:func:`prov_common.audit.unended.sealed_unended`'s and
    :func:`~prov_common.audit.unended.refused_in_bundle`'s, and the :func:`not_held` ones of the signatures check) by
    run: runs sealed without their terminal event, which was refused, runs holding staged objects refused for their
    signature, and bundles that lack a file their events name; the notes fail no audit and need no acceptance."""
    out: dict[str, list[Finding]] = {}
    for f in findings:
        if (f.check == CHECK_UNFINISHED and f.severity != NOTE and f.run_id) or not_held(f):
            out.setdefault(f.run_id, []).append(f)
    return out


def item_key(item: OpenLink | TrainingGap) -> tuple[str, ...]:
    """What an acceptance names an open link or a training gap by: the same in every audit, incremental or full; the
    version by its dataset and digest (:attr:`OpenLink.ident`)."""
    if isinstance(item, TrainingGap):
        return ("training", item.run_id, item.input_label, *item.link.ident)
    return ("input", *item.ident)


def item_keys(item: OpenLink | TrainingGap) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The keys an acceptance may name ``item`` by: :func:`item_key`, and the key of acceptances recorded before it
    named the version by its dataset (the version by how it prints, :attr:`OpenLink.printed_ident`), still honoured."""
    if isinstance(item, TrainingGap):
        return item_key(item), ("training", item.run_id, item.input_label, *item.link.printed_ident)
    return item_key(item), ("input", *item.printed_ident)


def _owner(item: OpenLink | TrainingGap, owners: Mapping[tuple[str, ...], int]) -> int | None:
    """The acceptance (its index in ``owners``' values) that covers ``item``, else None."""
    return next((owners[key] for key in item_keys(item) if key in owners), None)


def _names(item: OpenLink | TrainingGap, run_id: str) -> bool:
    """Whether the finding of ``item`` names run ``run_id``: the run that read the input, or the training run."""
    if isinstance(item, TrainingGap):
        return run_id in (item.run_id, item.link.run_id)
    return item.run_id == run_id


def _items(state: CheckState) -> list[OpenLink | TrainingGap]:
    return [*state.broken, *state.gaps]


def resolve_run(ref: str, state: CheckState, ends: Container[str]) -> str | list[str]:
    """The run id that ``ref`` (a run id, or its first or last 8 or more characters) means among the runs that open
    links and training gaps name, and the runs ``ends`` (those :func:`refused_ends` gives: with an unfinished error,
    sealed without their refused terminal event or holding staged objects their seal refused for their signature or
    place, or with a :func:`not_held` error, their bundle lacking a file its events name); else the ids it could mean
    (none, or several)."""
    named = {r for item in _items(state) for r in ((item.run_id, item.link.run_id) if isinstance(item, TrainingGap) else (item.run_id,))}
    named.update(ends)
    found = runs_meant(ref, named)
    return found[0] if len(found) == 1 else found


@dataclass
class Proposal:
    """What an acceptance of ``run_id`` would cover now: the keys of the items and their findings; or why it covers nothing."""

    run_id: str
    covers: list[tuple[str, ...]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    nothing: Finding | None = None


def propose(ref: str, state: CheckState, accepted: Sequence[AcceptedRun], registered: Container[str] = (),
            unverified: frozenset[str] = frozenset(), same_file: Mapping[tuple[str, str, str], str] | None = None, *,
            unended: Sequence[Finding]) -> Proposal:
    """The open links and training gaps that name run ``ref`` and no earlier acceptance covers, with their findings, and
    the finding of ``unended`` (:func:`refused_ends`) of that run; a note (``nothing``) when there are none."""
    ends = refused_ends(unended)
    run_id = resolve_run(ref, state, ends)
    if isinstance(run_id, list):
        what = (f"{ref!r} begins or ends the ids of {len(run_id)} runs that open completeness findings, unfinished errors "
                f"or {NOT_HELD} errors name ({', '.join(run_id[:3])})" if run_id
                else f"no open completeness finding names run {ref}, nor does an unfinished or {NOT_HELD} error name it")
        return Proposal(ref, nothing=Finding(CHECK_COMPLETENESS, f"run {ref}", f"--accept-finding {ref}: {what}; nothing was accepted",
                                             FIX_RUN_ID, severity=NOTE))
    done = {c for a in accepted for c in a.covers}
    mine = [item for item in _items(state) if _names(item, run_id) and done.isdisjoint(item_keys(item))]
    end = [f for f in ends.get(run_id, ()) if end_key(f) not in done]
    if not mine and not end:
        what = f"--accept-finding {ref}: the findings that name run {run_id} were accepted already; nothing more was accepted"
        return Proposal(run_id, nothing=Finding(CHECK_COMPLETENESS, f"run {run_id}", what, "nothing to do", severity=NOTE, run_id=run_id))
    return Proposal(run_id, [item_key(x) for x in mine] + [end_key(f) for f in end],
                    completeness_findings(*_split(mine), registered, unverified, same_file) + end)


def apply_acceptances(evaluation: Evaluation, accepted: Sequence[AcceptedRun], registered: Container[str] = (), *,
                      unended: list[Finding]) -> list[dict[str, Any]]:
    """Take the findings ``accepted`` cover out of the completeness check, out of ``unended`` (changed in place) and out
    of the signatures check (its :func:`not_held` ones; each item goes to the first acceptance that covers it) and return
    the report's entries: each acceptance with the findings it covers now (``findings``)."""
    covered: list[list[OpenLink | TrainingGap]] = [[] for _ in accepted]
    owner = {c: i for i, a in reversed(list(enumerate(accepted))) for c in a.covers}
    left: list[OpenLink | TrainingGap] = []
    for item in _items(evaluation.state):
        i = _owner(item, owner)
        (left if i is None else covered[i]).append(item)
    check = evaluation.check(CHECK_COMPLETENESS)
    derived = set(completeness_findings(*_split(_items(evaluation.state)), registered, evaluation.unverified, evaluation.same_file))
    others = [f for f in check.findings if f not in derived]  # not of a link or gap (notes on undeclared outputs, ...)
    check.findings = completeness_findings(*_split(left), registered, evaluation.unverified, evaluation.same_file) + others
    ends: list[list[Finding]] = [[] for _ in accepted]
    signatures = evaluation.check(CHECK_SIGNATURES)
    taken = [f for found in refused_ends([*unended, *signatures.findings]).values() for f in found if end_key(f) in owner]
    for f in taken:
        ends[owner[end_key(f)]].append(f)
    unended[:] = [f for f in unended if not any(f is t for t in taken)]
    signatures.findings = [f for f in signatures.findings if not any(f is t for t in taken)]
    return [dict(a.to_dict(), recorded=[f.view() for f in a.findings],
                 findings=[f.view() for f in completeness_findings(*_split(items), registered, evaluation.unverified, evaluation.same_file)
                           + end])
            for a, items, end in zip(accepted, covered, ends)]


def _split(items: list[OpenLink | TrainingGap]) -> tuple[list[OpenLink], list[TrainingGap]]:
    return [x for x in items if isinstance(x, OpenLink)], [x for x in items if isinstance(x, TrainingGap)]


__all__ = ["Proposal", "apply_acceptances", "end_key", "item_key", "is_accepted", "item_keys", "not_held", "propose", "refused_ends", "resolve_run",
           "unended_key"]
