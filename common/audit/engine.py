"""``run_audit``: the one audit that the CLI, the Dagster audit job and the Airflow operator all run.

Order: read the log head and the signed audit state the last audit left (``state.py``), examine
the bundles that are new since then (all of them with ``full``, when there is no state that
verifies, or on an auditor's first audit of the store), and again the logged bundles whose files the
inventory's listing shows changed, append them to the Merkle log and write a signed checkpoint, continue every check from
the state with the runs examined now (and the runs upstream of them, looked up by version in
``generated.py``), write the next state, the report, and record the audit as a PROV activity.
"""
from __future__ import annotations

import logging
import uuid
from collections import ChainMap
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

from prov_common.audit.access import ReadOnlyStore, not_logged, require_auditor_key, require_report_dir, require_write_access
from prov_common.audit.catalog import Binding, Catalog, Written, catalog_key, load_catalog, write_catalog, write_summary
from prov_common.audit.checks import Evaluation, evaluate
from prov_common.audit.emptied import ReportEvidence, emptied, forgotten
from prov_common.audit.examine import MISSING, current_digests, examine_bundle
from prov_common.audit.generated import GENERATED_PREFIX, Generators, write_generated
from prov_common.audit.identity import check_identity
from prov_common.audit.lineage import SHOWN_RUNS, LineageIndex, version_of
from prov_common.audit.inventory import (FIX_MOVED_BACK, Listing, adopt_new, changed_runs, compare, entry_moved, hidden_by_markers,
                                         listed_without_etag, logged_objects_changed, missing_back, missing_restored, pin_written,
                                         planted_gone, planted_removed,
                                         record_bundle_files, refresh_fingerprints, remember_runs, removed_note, restored_note, retake_rechecked,
                                         retake_verified, unparsed_entries)
from prov_common.audit.memory import AuditorMemory, KnownCheckpoint, load_memory, memory_lock, save_memory
from prov_common.audit.memory import memory_path as default_memory_path
from prov_common.audit.memory_objects import keep_inline, load_inventory, save_inventory
from prov_common.audit.personal import undocumented_personal_data
from prov_common.audit.model import (CHECK_INVENTORY, CHECK_LOG, CHECK_REHASH, CHECK_SOURCES, ERROR, NOTE, CheckResult, Finding, RunRecord,
                                     distinct, name_apart, REHASH_HINT, rehash_not_run)
from prov_common.audit.protection import check_protection
from prov_common.audit.remember import WitnessPlace, open_places, read_place
from prov_common.audit.resolve import accept_checkpoint as accept, accept_findings as accept_runs, check_acceptance, signed_since
from prov_common.audit.accepted import is_accepted, not_held
from prov_common.audit.result import AuditResult
from prov_common.audit.state import AcceptedRun, AuditState, CheckState, LoadedState, load_state, state_key, write_state
from prov_common.audit.unended import sealed_unended
from prov_common.audit.unfinished import (misnamed_folders, objects_in_place, staging_removed, unfinished_runs, unindexed_bundles,
                                          unsealed_folders)
from prov_common.audit.same_file import same_file_writers
from prov_common.audit.snapshots import check_snapshots
from prov_common.audit.untrusted import unverified_source_digests
from prov_common.audit.witness import FIX_GAP, FIX_WITNESS, check_extends, read_witness
from prov_common.bundle import layout
from prov_common.bundle.layout import SETTLE_SECONDS
from prov_common.bundle.model import BundleSummary
from prov_common.bundle.storage import load_index_entry
from prov_common.bundle.verify_pool import map_bundles
from prov_common.config import Settings
from prov_common.errors import BadInputError, StoreUnavailableError, TdprovError
from prov_common.progress import Bar, stream as bar_stream
from prov_common.signing import EnvelopeError, TrustStore, auditor_trust_from_settings, signing_key_from_settings, trust_from_settings
from prov_common.sources.registry import SOURCES_PREFIX, iter_sources
from prov_common.store.base import Store
from prov_common.store.errors import ObjectNotFoundError, UnreadableObjectError
from prov_common.store.listing_memo import memo_listings
from prov_common.store.markers import DeleteMarkers
from prov_common.store.pinning import pin_listing
from prov_common.tlog.log import CHECKPOINTS_PREFIX, LEAVES_PREFIX, LogSegment, LogState, StoredCheckpoint, TransparencyLog, altered_leaf, statement_positions
from prov_common.tlog.model import EMPTY_CHECKPOINT, Checkpoint, LogLeaf
from prov_common.w3cprov.identity import CLOCK_SKEW, VersionKey, iso_z, sortable_time
from prov_common.text import counted, first_of, noun_for

log = logging.getLogger(__name__)

PARALLEL_FROM = 400  # examine in worker processes from this many bundles on
FIX_LOG = "restore the object from a backup or replica; log objects are written once and never change"
FIX_LEAF_BATCH = ("restore the leaf batch from a backup or replica (on a versioned bucket, copy back its version the checkpoint "
                  "signed); log objects are written once and never change")
FIX_AUDITOR_KEY = ("if the auditor's key was replaced, keep its old public key in TDPROV_AUDITOR_KEYS; if it was lost, retire it at "
                   "the log size of the loss, TDPROV_RETIRED_AUDITOR_KEYS=old.key.pub@SIZE (docs/threat-model.md, Keys); otherwise "
                   "the checkpoint is forged: restore it from a backup or replica")


def _bar(items: Iterable, total: int, desc: str, show: bool | None) -> Iterable:
    """``items`` with a bar (``desc``): always when ``show``, never when False, on a terminal only when None."""
    return Bar(items, total=total, desc=desc, unit="bundle", file=bar_stream(), disable=None if show is None else not show,
               leave=False)


def run_audit(store: Store, settings: Settings | None = None, *, memory_path: Path | None = None, **options: Any) -> AuditResult:
    """Audit ``store``: see the module docstring and :func:`_audit` for the options. The audit holds the
    lock of this auditor's memory of the store from start to end, so two auditors sharing
    ``TDPROV_HOME`` take turns instead of one replacing what the other remembered."""
    path = memory_path or default_memory_path(store.uri)
    with memory_lock(path), memo_listings(store):
        try:
            return _audit(store, settings, memory_path=path, **options)
        finally:
            pin_listing(store, None)


def _audit(
    store: Store,
    settings: Settings | None = None,
    *,
    full: bool = False,
    rehash: bool = False,
    rehash_hint: str = REHASH_HINT,
    report_dir: str | Path | None = None,
    stale_after: timedelta = timedelta(hours=24),
    progress: bool | None = None,
    now: datetime | None = None,
    workers: int | None = None,
    witnesses: Sequence[str | KnownCheckpoint] = (),
    accept_checkpoint: str | None = None,
    memory_path: Path | None = None,
    remember_in: Sequence[str | WitnessPlace] = (),
    require_runs: bool = False,
    accept_findings: Sequence[str] = (),
    reason: str | None = None,
    read_only: bool = False,
) -> AuditResult:
    """Audit ``store``: see the module docstring. ``progress=None`` shows a bar only on a terminal.

    ``rehash_hint``: how the caller asks for a re-hash, which the skipped check's detail names (the Dagster job: its
    config, not the CLI's ``--rehash``). ``workers`` processes examine bundles in parallel when there are many (default: one per CPU).
    ``witnesses``: published checkpoints (files, ``s3://`` objects, or :class:`KnownCheckpoint`) the
    log must still extend. ``accept_checkpoint``: the reason a person accepts the store's log as it is
    now, closing the open gaps (recorded, see ``resolve.py``). ``memory_path``: the auditor's memory
    file (default under ``TDPROV_HOME``). ``remember_in``: witness places this audit checks and, when
    the log extends every checkpoint kept, writes the new one to (folders, ``s3://`` URIs or
    :class:`WitnessPlace` objects; ``TDPROV_WITNESS`` adds more), see ``remember.py``. ``require_runs``: refuse
    (:class:`BadInputError`, before writing anything) a store that holds no run, no source record, no log and nothing this
    auditor verified before: an empty or mistyped store, which would otherwise pass as clean.
    ``accept_findings``: run ids whose completeness findings a person accepts, for ``reason`` (see ``accepted.py``).
    ``read_only``: check the log as it is (its newest checkpoint, against the memory and witnesses) and write nothing
    into the store: new bundles are examined, not logged; the report and the signed record go to ``report_dir`` (needed),
    the inventory stays in the memory file. Otherwise the audit is refused (before it does the work) when it cannot write
    the store's ``log/`` and ``audit/``, or signs with a key whose audit objects would not count (``access.py``).
    """
    check_acceptance(accept_findings, reason)
    settings = settings or Settings.from_env()
    started = now or datetime.now(timezone.utc)
    if read_only:
        require_report_dir(report_dir, accept_checkpoint, accept_findings)
        store = ReadOnlyStore(store)  # a write would be refused, never made
    signer = signing_key_from_settings(settings)  # first: a per-user key made now is trusted as the local key
    trust = trust_from_settings(settings)  # bundles
    audit_trust = auditor_trust_from_settings(settings)  # what audits wrote (TDPROV_AUDITOR_KEYS, else the trusted keys)
    if not read_only:
        require_auditor_key(signer, audit_trust)
    indexed, states_listed = Listing.first(store)  # the index, listed once an audit; the states' fingerprints before one is read
    tlog = TransparencyLog(store, audit_trust, read_once=True)  # the audit reads the newest checkpoint for several checks
    result = AuditResult(audit_id=str(uuid.uuid4()), store=store.uri, started=started, full=full, rehash=rehash, read_only=read_only)
    log_check = CheckResult(CHECK_LOG)

    # 1. the log and the state as earlier audits left them
    head_unread = False  # the newest checkpoint is there but does not verify (altered, or signed by a key not trusted here)
    try:
        head = tlog.head()
    except StoreUnavailableError:
        raise
    except TdprovError as exc:
        keys = tlog.checkpoint_keys()
        fix = FIX_AUDITOR_KEY if isinstance(exc, EnvelopeError) and exc.problem == "untrusted key" else exc.fix or FIX_LOG
        log_check.findings.append(Finding(CHECK_LOG, keys[-1] if keys else "log/checkpoints/", exc.what, fix))
        head, full, head_unread = None, True, True
    # the auditor's memory: an auditor that remembers nothing of this store has no audit of its own to continue from, so
    # its first audit examines every bundle, as --full does (an earlier audit's signed state is another auditor's word)
    memory = load_memory(store.uri, memory_path)
    result.first_audit = not memory.kept  # never audited the store: one that audited it while it held no log did
    unlogged = memory.checkpoint is None and not memory.runs  # no log of its own to continue from
    lost = load_inventory(memory, store, audit_trust)  # a lost inventory object is a gap until resolved
    if unlogged:
        full = result.full = True
    loaded = load_state(store, tlog, audit_trust)
    log_check.findings += loaded.problems
    previous = None if full or loaded.state is None or head is None or loaded.checkpoint is None else loaded.state
    pins = loaded.state.catalog if loaded.state else {}  # catalog objects of this log, as the last audit found them
    # index keys up to here were listed by an earlier audit: an entry of a run not logged there is back-dated, in --full too
    # (unless a person accepts the store as it is)
    listed = _listing_cursor(loaded.state) if loaded.state and accept_checkpoint is None else None
    plan = (_plan_full(store, tlog, head.checkpoint.size if head else 0, pins, indexed, listed) if previous is None
            else _plan_since(store, tlog, previous, loaded, indexed))
    log_check.findings += plan.problems
    log_check.checked = plan.checkpoints
    result.previous_checkpoint = head.checkpoint.size if head else 0
    if trust.retired:  # a bundle signed by a retired key counts where the verified log holds it before the key's cut-off
        logged_leaves = plan.logged_leaves[: max(0, result.previous_checkpoint - plan.leaves_from)]
        trust = trust.logged_at(statement_positions(logged_leaves, plan.leaves_from))
    log_check.findings += _retired_beyond((trust, audit_trust), result.previous_checkpoint, head_unread)

    # the auditor's memory and the witnesses: the log must extend what they verified, else nothing is appended
    if head_unread:  # as the log's, its signatures may fail only for the keys trusted here: this audit's finding
        log_check.findings += lost
    else:
        memory.add_open(lost)
    identity = check_identity(store, memory, accepting=accept_checkpoint is not None)  # the store's id: read once, remembered
    result.store_id = identity.current.store_id if identity.current else None  # signed into the record and report
    protection = check_protection(store, memory, accepting=accept_checkpoint is not None)  # an S3 bucket's: two requests
    places = open_places([*settings.witnesses, *remember_in], store, signer, audit_trust, identity.store_id)
    unsealed = list(loaded.state.checks.unsealed) if loaded.state else []  # kept by --full too: their evidence may be gone
    if accept_checkpoint is not None:  # the places are reset with the memory: the new checkpoint goes to each
        if (require_runs and head is None and unlogged and not _remembered_records(memory)
                and not _holds_records(store, indexed, whole=False) and (evidence := emptied(store, audit_trust, identity.store_id)).finding is None):
            raise _nothing_to_audit(store, evidence)  # accepting an empty or mistyped store would make it pass as audited
        require_write_access(store)  # the resolution is written into the store (a read-only audit records none)
        removed, _ = staging_removed(store, unsealed)  # runs whose staged events are gone: the person accepts their loss too
        result.resolution = accept(memory, store, head, signer, accept_checkpoint, now=started, audit_id=result.audit_id,
                                   places=[p.name for p in places], also=[*removed, *identity.closed, *protection.closed],
                                   store_id=result.store_id)
        unsealed = [r for r in unsealed if r.run_id not in {f.run_id for f in removed}]
    # the inventory is taken as listed (trust on first use) only by an auditor that never audited the store, or that a person
    # just reset to it; one that audited it while it was empty has no log nor runs to remember, and checks what appears since
    trust_listed = accept_checkpoint is not None or not memory.kept
    gaps: list[Finding] = []
    # a newest checkpoint that does not verify is this audit's finding (above), not a gap to keep: with it unread, the
    # log cannot be compared with what the memory and witnesses hold (it is not "deleted"); nothing is appended either
    if memory.checkpoint and not head_unread:
        gaps += check_extends(memory.checkpoint, tlog, head, "this auditor", newest_runs=memory.newest_runs)[0]
    for place in places if accept_checkpoint is None and not head_unread else ():
        kept, problem = read_place(place)
        if problem:
            gaps.append(Finding(CHECK_LOG, place.name, problem, FIX_GAP))
        elif kept is not None:
            gaps += check_extends(kept, tlog, head, place.name)[0]
    for witness in witnesses if not head_unread else ():
        known = read_witness(witness, store, audit_trust, identity.store_id) if isinstance(witness, str) else witness
        gaps += check_extends(known, tlog, head, known.source or f"witness {known.key or known.size}", FIX_WITNESS)[0]
    memory.add_open(gaps)
    log_check.findings += memory.open
    result.log_gap = bool(memory.open)
    blocked = result.log_gap or head_unread
    result.remembered = memory.checkpoint
    listing = Listing.take(store, indexed)
    unpinned = pin_listing(store, listing.tags)
    refresh_fingerprints(memory, listing)
    recorded = record_bundle_files(memory, listing, store)  # an inventory kept by an earlier tdprov: its runs' files, as listed now
    # a store that holds no record now: the records this auditor remembers, or those the store's own audits found, were
    # deleted (a finding, its report saying so for the next auditor); with neither, an empty or mistyped store
    held, remembered = _holds_records(store, listing), _remembered_records(memory)
    result.remembered_records = remembered if unlogged else ""
    told = None if held or remembered else emptied(store, audit_trust, identity.store_id)  # what the store's audit reports tell
    deleted = told.finding if told else None if held else forgotten(store, remembered)
    if (require_runs and accept_checkpoint is None and head is None and not blocked and told and told.finding is None
            and unlogged):
        raise _nothing_to_audit(store, told)
    if not read_only and accept_checkpoint is None:  # before the work (accepting checked it already): not at its end
        require_write_access(store)
    inventory = CheckResult(CHECK_INVENTORY, findings=[*identity.findings, *protection.findings, *([deleted] if deleted else [])])
    noted_at = len(inventory.findings)  # the note of the objects listed with no ETag goes here (step 4: with those listed later)

    # 2. examine what is new (everything without a state to continue from); the workers read the index entries
    records: dict[str, RunRecord] = {}
    new_leaves: list[LogLeaf] = []
    examined: dict[str, LogLeaf] = {}
    summaries: list[BundleSummary] = []
    as_listed = partial(_listed_pins, listing)
    entries = map_bundles(_examine_entry, plan.entries, store, trust, workers=workers, parallel_from=PARALLEL_FROM, pins=as_listed)
    for summary, outcome in _bar(entries, len(plan.entries), "auditing bundles", progress):
        if outcome is None:  # a copied or renamed index entry: a finding, not a bundle to examine
            inventory.findings.append(_misfiled(summary))
            continue
        record, leaf = outcome
        summaries.append(summary)
        records[summary.run_id] = record
        examined[summary.run_id] = leaf
        if summary.run_id not in plan.logged and not _no_bundle(leaf):  # an entry of a run never sealed here: a finding, never a leaf
            new_leaves.append(leaf)
    result.bundles_examined = len(summaries)
    inventory.findings += _future_dated(listing.index, started) + unparsed_entries(listing)
    if head is not None:
        log_check.findings += _late_arrivals([records[x.run_id] for x in new_leaves], head.checkpoint.time, head.key, bool(plan.problems))

    # 3. logged bundles must still be the bundles that were logged
    changed_findings, compared = _changed_since_logged(store, tlog, plan, examined, full=previous is None)
    log_check.findings += changed_findings
    log_check.checked += compared
    # logged bundles not examined now whose files the listing shows changed or missing are verified again, and so are
    # those whose planted file an earlier audit named (a finding it carries) and the listing no longer holds, or whose
    # missing file it named and the listing holds again (restored)
    changed = {run_id: keys for run_id, keys in changed_runs(memory, listing).items() if run_id not in records}
    carried = previous.checks.findings if previous else ()
    gone = {run_id: key for run_id, key in {**planted_gone(memory, listing, carried), **missing_back(memory, listing, carried)}.items()
            if run_id not in records}
    again_leaves: dict[str, LogLeaf] = {}  # the bundles verified again as they are now, for the log's leaves (below)
    again: dict[str, RunRecord] = {}
    for summary, outcome in map_bundles(_examine_entry, [*(_logged_entry(listing, r, memory.runs[r]) for r in changed),
                                                         *(k for r, k in gone.items() if r not in changed)],
                                        store, trust, workers=workers, parallel_from=PARALLEL_FROM, pins=as_listed):
        if outcome is not None:
            again[summary.run_id], again_leaves[summary.run_id] = outcome

    # 4. append new bundles and checkpoint; bundles another auditor logged meanwhile are examined too
    new_leaves.sort(key=lambda x: x.index_key)
    base = head.checkpoint.size if head else 0
    appended = not blocked and not read_only
    new_head = head
    if blocked:
        log_check.findings += _waiting(new_leaves)
    elif read_only:
        log_check.detail = not_logged(len(new_leaves)) if new_leaves else ""
    else:
        try:
            new_head = tlog.append(new_leaves, signer, known_size=base, vouch=lambda found: _unvouched(store, found))
        except StoreUnavailableError:
            raise
        except TdprovError as exc:
            waiting = f" {counted(len(new_leaves), 'new bundle')}" if new_leaves else ""
            # the object its error names (a leaf batch that stops the append), else the log's folder
            log_check.findings.append(Finding(CHECK_LOG, exc.subject or "log/", f"could not append{waiting} to the log{_runs_of(new_leaves)}: {exc.what}",
                                              exc.fix or "retry the audit"))
            appended = False
    logged_now = _logged_since(tlog, plan.first_unread, new_head, log_check)
    others = [x for x in logged_now if x.run_id not in records]
    if listing.add_later(store, others):  # sealed after the listing: listed now, read as listed now
        unpinned = pin_listing(store, listing.tags)
    inventory.findings[noted_at:noted_at] = listed_without_etag(store, unpinned)
    if trust.retired and others:
        trust = trust.logged_at(statement_positions(logged_now, plan.first_unread))
    for summary, outcome in map_bundles(_examine_entry, others, store, trust, workers=workers, parallel_from=PARALLEL_FROM, pins=as_listed):
        if outcome is None:
            inventory.findings.append(_misfiled(summary))
        else:
            records[summary.run_id] = outcome[0]
    markers = DeleteMarkers(store)  # a file found missing that a delete marker hides: the fix names the marker
    for record in [*records.values(), *again.values()]:
        record.bundle_findings = hidden_by_markers(markers, record.bundle_findings, listing, memory.tags)
    result.checkpoint = new_head
    # the bundles this audit appended: none over a gap, read-only or after a failed append, nor any another auditor
    # logged meanwhile (the log holds each once)
    result.bundles_logged = len(tlog.appended) if appended else 0
    fresh = [r for r in records.values() if r.run_id not in plan.catalog.runs]
    written: list[Written | None] = []  # the log and audit objects this audit writes, pinned in the memory (below, pin_written)
    lookups: list[Written] = []
    catalogued: list[Written | None] = []
    # older catalog objects (no checkpoint root) count when their runs are ones this auditor saw logged, before or now;
    # an auditor with no memory of this store (its first audit, an ephemeral CI runner) takes them from the log's leaves
    # (a full audit's plan read them all already)
    seen = memory.runs or (dict.fromkeys(plan.logged) if previous is None else {x.run_id: x.index_key for x in tlog.readable_leaves()})
    binding = Binding(tlog, pins, ChainMap(seen, {x.run_id: x.index_key for x in logged_now}))
    unsaved = False  # the records examined now are in no catalog segment: a summary must hold them
    if new_head is not None and fresh and appended:
        try:
            catalogued.append(write_catalog(store, new_head, fresh, signer, binding))
        except TdprovError as exc:
            log_check.findings.append(Finding(CHECK_LOG, catalog_key(new_head.checkpoint.size), exc.what, exc.fix or FIX_LOG))
            unsaved = True
        lookups = write_generated(store, fresh, signer, new_head, present=plan.generated_present)

    # 5. checks: continued from the state, with the runs examined now
    source_problems: list = []
    sources = list(iter_sources(store, trust, source_problems))
    source_check = CheckResult(CHECK_SOURCES, checked=len(sources) + len(source_problems))
    source_check.findings = [Finding(CHECK_SOURCES, key, exc.what, exc.fix or "restore the record from a backup") for key, exc in source_problems]
    source_check.findings += undocumented_personal_data(sources)
    catalog = load_catalog(store, audit_trust, binding) if previous is not None else None  # every run, for re-hash and the report
    known = catalog if catalog is not None else plan.catalog  # the catalog as read: now (incremental) or by the plan (--full)
    log_check.findings += known.problems
    everything_known = records if catalog is None else {**catalog.runs, **records}
    # the checks see every run known (the catalog's too), so that a new run's input resolves to the generation a full
    # audit finds; the audit's lookups fill in what a damaged catalog lacks
    generators = Generators(store, binding, everything_known.values())
    upstream = [r for r in _upstream(records.values(), generators) if r.run_id not in everything_known]
    index = LineageIndex([*everything_known.values(), *upstream], [s.record for s in sources])
    name_apart([*(d for r in index.runs.values() for d in (*r.inputs, *r.outputs)),  # two written alike: told apart
                *(previous.checks.datasets() if previous else ())])
    log_check.findings += generators.problems
    evaluation = evaluate(previous.checks if previous else None, list(records.values()), index,
                          unverified=unverified_source_digests(source_problems), same_file=same_file_writers)
    resolved = len(memory.resolutions)  # those signed from here on are written after the listing: pinned below
    # the runs verified again (a file planted in their bundle) are judged by their signed manifest, not the listing
    unended = sealed_unended(listing.files, {**everything_known, **again}) + evaluation.unfinished
    result.accepted = accept_runs(evaluation, index, loaded.state.checks.accepted if loaded.state else (), accept_findings, reason, memory,
                                  store, signer, now=started, audit_id=result.audit_id, state_at=new_head if appended else None,
                                  unended=unended)
    sig_check, prov_check, completeness_check, quality_check = evaluation.checks
    verified = _verified_again(again, evaluation.checks, evaluation.state.accepted)
    inventory.findings += retake_rechecked(memory, listing, changed, verified)
    # a changed manifest, statement, indexed record or index entry that is again the object logged (restored): taken back
    restored_runs = _restored_as_logged(tlog, None if blocked else new_head, logged_objects_changed(changed, verified), again_leaves, again)
    inventory.findings += retake_verified(memory, listing, restored_runs)
    rechecked = {run_id: again[run_id] for run_id in gone if run_id in again}
    removed, restored = planted_removed(carried, rechecked), missing_restored(carried, rechecked)
    evaluation.forget([*removed, *restored])
    inventory.findings += [removed_note(f) for f in removed] + [restored_note(f) for f in restored]
    # (a --full or first audit compares every sealed run's staged events with its bundle; an incremental one what is new)
    unfinished, evaluation.state.unsealed, evaluation.state.staged = unfinished_runs(
        store, {run_id: r.sealed_at for run_id, r in everything_known.items()}, stale_after=stale_after, now=started,
        reported=unsealed, audit_id=result.audit_id, trust=trust, bundled=listing.files,
        seen=previous.checks.staged if previous is not None else None,
        fresh={run_id: r.held_events for run_id, r in records.items()},
        store_id=identity.store_id)
    unfinished.findings += unended
    # a bundle folder no index entry names is examined by no audit: named, sealed or not, verified or not (staged runs are
    # named above)
    folders, objects, holding = listing.folders(), listing.objects_in_place(), listing.holding()
    misnamed = {name for name in folders if not layout.is_run_id(name)}
    inventory.findings += misnamed_folders(misnamed & holding, misnamed & objects)
    unindexed = (folders - misnamed - set(listing.index) - set(everything_known) - set(plan.logged) - set(memory.runs)
                 - {f.run_id for f in unfinished.findings})
    sealed = listing.sealed(unindexed)
    for finding in unindexed_bundles(store, trust, unindexed & sealed, stale_after=stale_after, now=started):
        (inventory if finding.check == CHECK_INVENTORY else unfinished).findings.append(finding)
    unsealed, evaluation.state.folders = unsealed_folders(store, (unindexed - sealed) & holding, stale_after=stale_after,
                                                          now=started,
                                                          reported=loaded.state.checks.folders if loaded.state else (),
                                                          audit_id=result.audit_id)
    unfinished.findings += unsealed
    unfinished.findings += objects_in_place((unindexed - sealed) & objects)  # a sealed bundle's verification names its own
    unfinished.checked += len(unindexed)
    checks = [sig_check, log_check, prov_check, completeness_check, quality_check, unfinished]
    if rehash:
        from prov_common.audit.rehash import rehash as rehash_check

        checks.append(rehash_check(everything_known.values(), changed=result.changed_data))
    else:
        checks.append(CheckResult(CHECK_REHASH, ran=False, detail=rehash_not_run(rehash_hint)))
    checks.append(check_snapshots(store, everything_known.values(), full=result.full))
    checks.append(source_check)
    result.checks = checks
    result.index = index
    result.examined = {s.run_id for s in summaries}
    if catalog is not None:  # the checks continued from the state; the report describes the whole store
        result.report_index = index
    # a summary when due (incremental), and whenever the records examined now are in no segment or a --full audit
    # met catalog objects it could not take (so that the catalog holds every run again)
    force = unsaved or (catalog is None and bool(known.problems))
    if new_head is not None and appended and (catalog is not None or force):
        try:
            catalogued.append(write_summary(store, new_head, known, signer, result.audit_id, binding, also=records.values(), force=force))
        except TdprovError as exc:
            log_check.findings.append(Finding(CHECK_LOG, "audit/catalog-summary/", exc.what, exc.fix or FIX_LOG))
    written += catalogued
    binding.pins = {**known.digests, **{w.key: w.digest for w in catalogued if w}}
    result.sources = sources
    result.quality_rows = evaluation.quality_rows
    result.runs_known, result.training_runs_known = evaluation.state.runs, evaluation.state.training_runs
    result.ended = datetime.now(timezone.utc) if now is None else now
    if new_head is not None and appended:  # a state covers exactly the leaves of its checkpoint
        leaves_now = [*plan.recent, *((x.index_key, x.run_id) for x in [*logged_now, *new_leaves])]
        state = _next_state(new_head, evaluation, leaves_now, previous, loaded.key, started, binding.pins)
        written.append(write_state(store, state_key(new_head.checkpoint.size, layout.stamp(started), result.audit_id), state, signer))
    elif new_head is None and appended and _remembers_more(evaluation.state, loaded.state):
        # nothing logged yet, so no checkpoint to bind a state to: the staged runs and unsealed folders named, as first
        # named, are kept in a state bound to none, or every audit of a quiet store would take them for new
        state = AuditState(0, EMPTY_CHECKPOINT.root, "", evaluation.state)
        written.append(write_state(store, state_key(0, layout.stamp(started), result.audit_id), state, signer))

    # the inventory: one listing against what the log and the memory expect; then the memory moves on
    if not blocked and new_head is not None:
        try:
            # the leaves logged since the state, read above, hold those after this auditor's checkpoint unless it is older
            _proof, leaves = tlog.prove_extends(memory.checkpoint.checkpoint() if memory.checkpoint else EMPTY_CHECKPOINT, new_head,
                                                (plan.first_unread, logged_now))
        except StoreUnavailableError:
            raise
        except TdprovError as exc:
            log_check.findings.append(Finding(CHECK_LOG, new_head.key, f"the log does not extend this auditor's checkpoint: {exc.what}", FIX_GAP))
        else:
            remember_runs(memory, listing, ((x.run_id, x.index_key) for x in leaves),
                          {run_id: r.files for run_id, r in records.items() if r.files is not None},
                          {run_id: {k for f in _byte_errors(r) for k in f.items or (f.object,)} for run_id, r in records.items() if _byte_errors(r)})
            memory.move_to(new_head, leaves)
            log_check.findings += _keep_in(places, memory.checkpoint, started, result.audit_id)
    elif accept_checkpoint is not None and not blocked:  # an empty log accepted: the places forget their checkpoints too
        log_check.findings += _keep_in(places, KnownCheckpoint(0, "", ""), started, result.audit_id)
    settled = set() if blocked else _settled(listing, summaries, plan.cursor)
    if not appended:  # examined now, not logged (read-only, or the append failed: named above): they wait, not back-dated
        settled -= {x.run_id for x in new_leaves}
    if previous is None and not blocked and not plan.problems:  # every logged bundle was examined against its verified leaf
        inventory.findings += retake_verified(memory, listing, _as_logged(plan.logged_leaves, examined, records))
    inventory.findings += hidden_by_markers(markers, compare(memory, listing, settled=settled), listing, memory.tags)
    inventory.findings += adopt_new(memory, listing, store, tlog, audit_trust, binding, trust_all=trust_listed,
                                    failed={f.object for f in inventory.findings}, store_id=identity.store_id,
                                    read=_read_whole(catalog, loaded, listing, states_listed))
    inventory.checked = len(listing.tags)
    inventory.detail = (f"{counted(len(listing.tags), 'object')} in {counted(listing.requests, 'listing request')}; "
                        f"{counted(len(memory.runs), 'logged run')} expected")
    if again:
        inventory.detail += f"; {counted(len(again), 'logged bundle')} with a changed, missing or unlisted file verified again"
    if recorded:
        inventory.detail += (f"; the files of {counted(recorded, 'logged run')}, which the inventory an earlier tdprov kept did not fingerprint, "
                             "recorded now as listed ('tdprov audit --full' verifies them)")
    log_check.findings = distinct(log_check.findings)  # a failure met on several paths (a checkpoint read for each object): once
    checks.insert(2, inventory)

    # 6. report and PROV record of the audit: written before the memory is saved, which pins them
    from prov_common.audit.publish import publish

    published = publish(result, store, signer, report_dir, read_only=read_only)
    # written after the listing: the next one takes each only with the bytes written (as the store fingerprinted it when it
    # created it, or by its SHA-256), so that one this auditor wrote is never
    # taken for forged (a leaf batch whose checkpoint was deleted) nor one put in its place for its own; the checkpoint too
    # (tlog.written), which one replaced would otherwise leave to its signature: named as forged, with the fix to remove it
    pin_written(memory, listing, [w for w in [*written, *(Written(k, d, tlog.listed.get(k)) for k, d in tlog.written.items()), *lookups,
                                              *signed_since(memory, resolved), *published] if w])
    if new_head and new_head.key not in listing.tags:
        memory.tags.setdefault(new_head.key, "")
    if not head_unread:  # an audit that could not read the log changes nothing the next one compares with
        if read_only:
            keep_inline(memory)
        else:
            save_inventory(memory, store, signer, now=started, audit_id=result.audit_id)
        save_memory(memory)
    return result


def _retired_beyond(trusts: Iterable[TrustStore], size: int, unread: bool) -> list[Finding]:
    """Retired keys whose cut-off lies beyond the log's size: what they sign next would be logged below it and
    count. A cut-off is the log size when the key was retired, never more (not checked when the head is unread)."""
    if unread:
        return []
    late = {r.key_id: r for trust in trusts for r in trust.retired.values() if r.cutoff > size}
    return [Finding(CHECK_LOG, r.key.source or r.key_id, f"retired key {r.key_id} has its cut-off at log size {r.cutoff}, beyond the "
                    f"log's {size} leaves: bundles and audit objects it signs from now on would count",
                    f"set its cut-off to the log size when it was retired, at most {size} (TDPROV_RETIRED_KEYS, "
                    "TDPROV_RETIRED_AUDITOR_KEYS)")
            for r in late.values()]


def _unvouched(store: Store, leaves: list[LogLeaf]) -> str | None:
    """What is wrong with leaves found after the newest checkpoint (another auditor's, which stopped before its
    checkpoint, or forged): each must describe the store's bundle as it is, its manifest and statement digests
    and the index entry its ``indexed`` record names (a damaged bundle is logged too, as an auditor logs it:
    its findings are the examination's)."""
    for leaf in leaves:
        if not layout.is_run_id(leaf.run_id):
            return f"a leaf names {leaf.run_id!r}, no run id"
        if current_digests(store, leaf.run_id) != (leaf.manifest_digest, leaf.statement_digest):
            return f"the bundle of run {leaf.run_id} is not the one the leaf names"
        try:
            named = store.get(layout.bundle_key(leaf.run_id, layout.INDEXED_FILE), layout.SMALL_OBJECT_LIMIT).decode("ascii", "replace")
        except (ObjectNotFoundError, UnreadableObjectError):
            continue  # a bundle without its record: the leaf's index key is checked against the entry when it is examined
        if named != leaf.index_key:
            return f"the leaf of run {leaf.run_id} names the index entry {leaf.index_key}, its bundle {named}"
    return None


def _verified_again(records: Mapping[str, RunRecord], checks: Sequence[CheckResult],
                    accepted: Sequence[AcceptedRun] = ()) -> list[str]:
    """Add the errors of the logged bundles verified again (``records``) to their checks, once each, but those a person
    accepted (``accepted``: a bundle that lacks a file its events name, verified again on every audit), and return the
    run ids that verified. Not kept in the state: the inventory finds the changed file again on every audit until it is
    restored."""
    by_name = {c.name: c for c in checks}
    verified = []
    for run_id, record in records.items():
        errors = _byte_errors(record)
        if not errors:
            verified.append(run_id)
        for f in errors:
            check = by_name.get(f.check)
            if check is not None and f not in check.findings and not (not_held(f) and is_accepted(f, accepted)):
                check.findings.append(f)
    return verified


def _byte_errors(record: RunRecord) -> list[Finding]:
    """The errors of a bundle's verification about what it holds: not whether a retired key's signature counts, which
    depends on where the log holds the bundle and was judged when it was logged (the audit state keeps that finding)."""
    return [f for f in record.bundle_findings if f.severity == ERROR and not f.what.startswith(_RETIRED)]


_RETIRED = "retired key: "  # what bundle_finding() says of a signature by a retired key that does not count


def _as_logged(leaves: Iterable[LogLeaf], examined: Mapping[str, LogLeaf], records: Mapping[str, RunRecord]) -> Iterator[tuple[str, str]]:
    """``(run id, index key)`` of the logged runs examined now as they were logged: the same manifest and statement digests and
    index key as their leaf, and no error from verification (the index entry equal to the signed manifest and named by its
    ``indexed`` record)."""
    for leaf in leaves:
        if examined.get(leaf.run_id) == leaf and not any(f.severity == ERROR for f in records[leaf.run_id].bundle_findings):
            yield leaf.run_id, leaf.index_key


def _restored_as_logged(tlog: TransparencyLog, head: StoredCheckpoint | None, run_ids: Sequence[str], examined: Mapping[str, LogLeaf],
                        records: Mapping[str, RunRecord]) -> list[tuple[str, str]]:
    """``(run id, index key)`` of the logged runs ``run_ids``, verified again for a changed manifest, signed statement,
    ``indexed`` record or index entry, whose bundle is now (``examined``) the one their leaf in the log ``head`` covers
    names, with no error (:func:`_as_logged`): such an object was restored with the bytes logged, though with another
    fingerprint (an S3 copy of a kept version, a local file's new change time). The log's leaves are read (and checked
    against ``head``'s root) only when there are such runs; none when they cannot be read (the findings stay)."""
    if not run_ids or head is None:
        return []
    try:
        leaves = tlog.covered_leaves(head)
    except StoreUnavailableError:
        raise
    except TdprovError:  # the log check names what is wrong with the log
        return []
    wanted = set(run_ids)
    return list(_as_logged((x for x in leaves if x.run_id in wanted), examined, records))


def _future_dated(index: Mapping[str, list[str]], started: datetime) -> list[Finding]:
    """Index entries keyed later than this audit started (beyond a writer's clock skew): entries are keyed when
    written, so one dated in the future was moved or written with a wrong clock. Taken from the listing, so every
    audit names them (not only the one that examined the run), until the entry is put back."""
    present = layout.index_cursor(started + CLOCK_SKEW)
    return [Finding(CHECK_INVENTORY, key, f"the index entry of run {run_id} is dated in the future (after this audit "
                    f"started at {iso_z(started)}): entries are keyed when written",
                    "put the entry back under the key its bundle's indexed record names, or fix the clock of the machine "
                    "that wrote it; see 'tdprov verify'", run_id=run_id)
            for run_id, keys in sorted(index.items()) for key in keys if key >= present]


def _no_bundle(leaf: LogLeaf) -> bool:
    """Whether the run of ``leaf`` has neither manifest nor statement in the store: an index entry that names a run no
    writer sealed (planted, or its bundle deleted before any audit) is not signed into the log as if it had been."""
    return leaf.manifest_digest == MISSING and leaf.statement_digest == MISSING


def _runs_of(leaves: Sequence[LogLeaf]) -> str:
    """The runs of the new bundles ``leaves`` that an audit did not append, as the log check's findings name them after
    their count: `` (runs A, B, C and 2 more)``, the first :data:`SHOWN_RUNS` in the order they wait in; none: ``""``."""
    if not leaves:
        return ""
    return f" ({noun_for(len(leaves), 'run')} {first_of([x.run_id for x in leaves], SHOWN_RUNS)})"


def _waiting(new_leaves: list[LogLeaf]) -> list[Finding]:
    """Over a gap nothing is appended: name the new bundles that wait (none: nothing more to say)."""
    if not new_leaves:
        return []
    return [Finding(CHECK_LOG, "log/", f"{counted(len(new_leaves), 'new bundle')} not appended to the log{_runs_of(new_leaves)}: it does "
                    "not extend the checkpoint this auditor or a witness verified, and nothing is logged over that gap; they wait "
                    "until it is resolved", FIX_GAP)]


def _keep_in(places: Sequence[WitnessPlace], checkpoint: KnownCheckpoint, now: datetime, audit_id: str) -> list[Finding]:
    """Write the verified checkpoint to every witness place; a place that cannot take it is a finding."""
    out = []
    for place in places:
        try:
            place.write(checkpoint, now=now, audit_id=audit_id)
        except TdprovError as exc:
            out.append(Finding(CHECK_LOG, place.name, f"the verified checkpoint {checkpoint.size} could not be kept in {place.name}: {exc.what}",
                               exc.fix or "make the witness place writable by the auditor, then audit again"))
    return out


@dataclass
class _Plan:
    """What to examine, and what the log already holds."""

    entries: list[str | LogLeaf]  # index keys, or the leaves of logged runs (their index entries read by the examining workers)
    logged: set[str]  # run ids already in the log: never appended twice
    logged_leaves: list[LogLeaf]  # leaves whose bundles must still be the logged ones
    first_unread: int  # leaves from here on may be logged by others while this audit runs
    recent: list[tuple[str, str]]  # (index key, run id) of logged leaves in the listing window
    checkpoints: int = 0
    problems: list[Finding] = field(default_factory=list)
    catalog: Catalog = field(default_factory=Catalog)  # read by a full audit: what it need not catalogue again
    generated_present: set[str] = field(default_factory=set)
    cursor: str | None = None  # index keys up to here were listed by earlier audits
    leaves_from: int = 0  # the leaf index of logged_leaves[0]
    base: Checkpoint = EMPTY_CHECKPOINT  # the checkpoint logged_leaves follow (of size leaves_from)
    signed: list[StoredCheckpoint] = field(default_factory=list)  # the checkpoints read after base, which cover logged_leaves
    later: list[LogSegment] = field(default_factory=list)  # leaves read after a missing or unreadable leaf batch
    walk: LogState = field(default_factory=LogState)  # what the walk over the log read (its roots and batch keys)


def _misfiled_entry(summary: BundleSummary) -> bool:
    """An index entry whose key names another run than the one it holds (a copied or renamed entry), or no run."""
    key = summary.cursor or ""
    named = layout.run_id_of_index_key(key)
    return key.startswith(layout.INDEX + "/") and (named != summary.run_id or not layout.is_run_id(named))


def _misfiled(summary: BundleSummary) -> Finding:
    key = summary.cursor or ""
    named = layout.run_id_of_index_key(key)
    what = (f"the index entry of run {named} holds the summary of run {summary.run_id}: a copied or renamed entry"
            if layout.is_run_id(named) else f"the index entry's key names no run ({named!r} is not a run id): tdprov wrote no such entry")
    return Finding(CHECK_INVENTORY, key, what, "remove it and find out who wrote it; see 'tdprov verify'", run_id=named)


def _settled(listing: Listing, summaries: list[BundleSummary], cursor: str | None) -> set[str]:
    """Run ids whose index entries this audit or an earlier one listed: each should be in the log by now."""
    horizon = max([*(s.cursor or "" for s in summaries), cursor or ""])
    return {run_id for run_id, keys in listing.index.items() if keys[0] <= horizon}


def _nothing_to_audit(store: Store, told: ReportEvidence) -> BadInputError:
    """The refusal of an audit of a store that holds nothing to audit: empty, or a typo for the store meant; or, where it
    holds audit reports some or all of which do not verify under the auditors' keys (``told``, what :func:`emptied` read
    of them; both counted, one that verifies having found nothing), audited by an auditor whose key this one does not
    trust (its reports may say the store held records, which this auditor cannot read)."""
    unverified, reports = told.unverified, told.reports
    if unverified:
        (key, why), more, one = unverified[0], len(unverified) - 1, len(unverified) == 1
        held = (f"{counted(reports, 'audit report')}, but none verifies under the trusted auditor keys, so none can tell" if
                len(unverified) == reports else
                f"{counted(reports, 'audit report')}, none of those that verify found records in it, and {len(unverified)} "
                f"{'does' if one else 'do'} not verify under the trusted auditor keys, so {'it cannot' if one else 'they cannot'} tell")
        return BadInputError(
            f"no runs in {store.uri}, and nothing this auditor can audit: it holds no bundle, no run in progress, no source "
            f"record and no audit log, and this auditor remembers none of it; it holds {held} whether the store held records "
            f"(report '{key}': {why.rstrip('.')}{f'; and {more} more' if more else ''}).",
            fix="if another auditor audits this store, trust that auditor's key: add its .pub to TDPROV_AUDITOR_KEYS (else "
                "TDPROV_TRUSTED_KEYS), see docs/audit.md, then audit again; if no auditor of yours wrote those "
                "reports, find who can write the store's audit/")
    return BadInputError(f"no runs in {store.uri}: is this the store your pipelines write to? It holds no bundle, no run in "
                         "progress, no source record and no audit log, no audit report of it found any, and this auditor "
                         "remembers none of it, so there is nothing to audit.",
                         fix="check --store or TDPROV_STORE for a typo (pipelines write to TDPROV_STORE, default ./.tdprov), "
                             "or audit once a pipeline has recorded a run or a source is registered (tdprov source add)")


_RECORDED = (layout.BUNDLES + "/", layout.INDEX + "/", SOURCES_PREFIX, LEAVES_PREFIX, CHECKPOINTS_PREFIX)  # not audit/: what audits wrote


def _holds_records(store: Store, listing: Listing, *, whole: bool = True) -> bool:
    """Whether the store holds a bundle, an index entry, a source record, a log object (not the audit's write probe) or
    a run in progress. The audits' own reports and records are not records: an audit of an empty store writes them too
    (an earlier audit's report that found records is evidence of their deletion, see ``emptied.py``). ``listing``: the
    inventory's listing of the store, or with ``whole`` False the index's alone (:meth:`Listing.first`), before the
    inventory's: the other prefixes are then asked for their first key, not listed."""
    unlisted = () if whole else tuple(p for p in _RECORDED if p != layout.INDEX + "/")
    return (any(key.startswith(_RECORDED) for key in listing.tags)
            or any(next(iter(store.list(prefix)), None) is not None for prefix in (*unlisted, layout.STAGING + "/")))


def _remembered_records(memory: AuditorMemory) -> str:
    """What records of the store this auditor remembers ('' when none: not the reports and records of its own audits,
    which an audit of an empty store writes too), in words."""
    sources = sum(1 for key in memory.tags if key.startswith(SOURCES_PREFIX))
    others = sum(1 for key in memory.tags if key.startswith(_RECORDED)) - sources
    parts = [f"a log of {memory.checkpoint.size} leaves" if memory.checkpoint and memory.checkpoint.size else "",
             counted(len(memory.runs), "logged run") if memory.runs else "",
             counted(sources, "source record") if sources else "",
             counted(others, "other record") if others and not memory.runs else ""]
    return ", ".join(p for p in parts if p)


def _remembers_more(checks: CheckState, loaded: AuditState | None) -> bool:
    """Whether ``checks`` names staged runs or unsealed folders as first named that ``loaded`` does not keep."""
    kept = loaded.checks if loaded else CheckState()
    return (checks.unsealed, checks.folders) != (kept.unsealed, kept.folders)


def _listing_cursor(state: AuditState) -> str | None:
    """Index keys up to this cursor were listed by the audit that wrote ``state`` (its newest, less the settle window)."""
    return layout.rewind_cursor(state.last_index_key, SETTLE_SECONDS) if state.last_index_key else None


def _plan_full(store: Store, tlog: TransparencyLog, size: int, pins: dict[str, str], indexed: Listing, listed: str | None = None) -> _Plan:
    """Every bundle in the index (as ``indexed`` lists it, :meth:`Listing.first`), against the whole log (whose leaves
    decide whether an older catalog object is this log's).
    ``listed``: the cursor up to which an earlier audit listed the index; an entry up to it of a run the log does not hold
    appeared behind that listing (back-dated, or copied in): it is not logged, and the inventory names it, as an
    incremental audit does."""
    state = tlog.verify()
    leaves = state.leaves
    logged = {x.run_id for x in leaves}
    if state.problems:  # leaves past a gap or a damaged batch are still logged: never log them twice
        logged |= {x.run_id for x in tlog.readable_leaves()}
        listed = None  # what an unreadable leaf batch held cannot be told from a back-dated entry: logged again (a note says so)
    entries = [key for key in indexed.entries() if (run_id := layout.index_run_id(key)) is not None  # others: the inventory names them
               and (listed is None or key > listed or run_id in logged)]
    return _Plan(entries, logged, leaves, size, [(x.index_key, x.run_id) for x in leaves], len(state.checkpoints),
                 [Finding(CHECK_LOG, p.key, p.what, p.fix) for p in state.problems], load_catalog(store, tlog.trust, Binding(tlog, pins, logged)),
                 set(store.list(GENERATED_PREFIX)), cursor=listed, signed=state.checkpoints, later=state.later, walk=state)


def _plan_since(store: Store, tlog: TransparencyLog, previous: AuditState, loaded: LoadedState, indexed: Listing) -> _Plan:
    """Bundles indexed since the state's listing window (as ``indexed`` lists the index, :meth:`Listing.first`), and any
    logged after its checkpoint (by an audit that wrote no state), against the log from the state's checkpoint on."""
    assert loaded.checkpoint is not None
    state = tlog.verify(since=loaded.checkpoint)
    later = state.leaves  # logged after the state's checkpoint: not in its results
    # and those read past a leaf batch that is missing or cannot be read: logged all the same, never logged again
    unstated = [*later, *(x for segment in state.later for x in segment.leaves)]
    # the state's window and the later leaves (an auditor that stopped before its state logged them): the next state
    # lists these too, so that they are never listed as new again
    recent = [*previous.recent, *((x.index_key, x.run_id) for x in unstated)]
    logged = {r for _, r in recent}
    cursor = _listing_cursor(previous)
    entries: list[str | LogLeaf] = [*_new_entries(indexed, cursor, logged), *unstated]
    return _Plan(entries, logged, later, previous.checkpoint_size + len(later), recent, len(state.checkpoints) + 1,
                 [Finding(CHECK_LOG, p.key, p.what, p.fix) for p in state.problems], cursor=cursor,
                 leaves_from=loaded.checkpoint.checkpoint.size, base=loaded.checkpoint.checkpoint, signed=state.checkpoints,
                 later=state.later, walk=state)


def _read_whole(catalog: Catalog | None, loaded: LoadedState, listing: Listing, states_listed: dict[str, str]) -> dict[str, str]:
    """The SHA-256 of the objects the audit read whole before the inventory (key -> digest), for it to compare with what
    this auditor wrote without reading them again: the catalog an incremental audit read after the inventory's listing,
    and the state it continued from, when the inventory lists it as it was listed before it was read (so it was not
    replaced in between unseen)."""
    read = dict(catalog.digests) if catalog is not None else {}
    if loaded.key and loaded.digest and states_listed.get(loaded.key, "") == listing.tags.get(loaded.key):
        read[loaded.key] = loaded.digest
    return read


def _logged_since(tlog: TransparencyLog, first: int, head: StoredCheckpoint | None, log_check: CheckResult) -> list[LogLeaf]:
    """The leaves from index ``first`` to ``head`` (this audit's, and any another auditor logged meanwhile)."""
    if head is None or head.checkpoint.size <= first:
        return []
    try:
        return tlog.read_leaves(first, strict=False, end=head.checkpoint.size)
    except StoreUnavailableError:
        raise
    except TdprovError as exc:
        log_check.findings.append(Finding(CHECK_LOG, "log/leaves/", exc.what, exc.fix or FIX_LOG))
        return []


def _changed_since_logged(store: Store, tlog: TransparencyLog, plan: _Plan, examined: dict[str, LogLeaf], *,
                          full: bool) -> tuple[list[Finding], int]:
    """Logged bundles whose manifest or statement changed, or that are gone (all of them with ``full``), and how many
    leaves were compared with their bundles. A leaf whose bundle, put in its place, makes the leaves hash to the
    checkpoint that signed them was altered in its leaf batch: the batch is named, not the bundle."""
    out: list[Finding] = []
    compared = 0
    for segment in [LogSegment(plan.leaves_from, plan.logged_leaves, plan.base), *plan.later]:
        found, n = _segment_changed(store, tlog, plan, segment, examined, full=full)
        out += found
        compared += n
    return out, compared


def _segment_changed(store: Store, tlog: TransparencyLog, plan: _Plan, segment: LogSegment, examined: dict[str, LogLeaf], *,
                     full: bool) -> tuple[list[Finding], int]:
    """:func:`_changed_since_logged` of the leaves of ``segment`` (a leaf is named altered in its batch only where a
    checkpoint's frontier lets the segment be hashed)."""
    out = []
    compared = 0
    leaves = segment.leaves
    for index, leaf in enumerate(leaves):
        at = segment.first + index  # its index in the log
        now_leaf = examined.get(leaf.run_id)
        if now_leaf is None and not full:
            continue
        compared += 1
        manifest, statement = (now_leaf.manifest_digest, now_leaf.statement_digest) if now_leaf else current_digests(store, leaf.run_id)
        if manifest == MISSING and statement == MISSING:
            out.append(Finding(CHECK_LOG, layout.bundle_prefix(leaf.run_id),
                               f"the bundle of run {leaf.run_id} (log leaf {at}) is gone from the store", FIX_LOG, run_id=leaf.run_id))
        elif (manifest, statement) != (leaf.manifest_digest, leaf.statement_digest):
            as_now = LogLeaf(leaf.run_id, manifest, statement, leaf.index_key)
            if segment.base is not None and (signed := altered_leaf(segment.base, leaves, index, as_now, plan.signed, plan.walk.roots)):
                out.append(Finding(CHECK_LOG, tlog.batch_key_of(at, plan.walk.batch_keys),
                                   f"log leaf {at} (run {leaf.run_id}) was altered in its leaf batch: with the bundle as it is now in its "
                                   f"place the leaves hash to the root of checkpoint '{signed.key}', which signed them, so the bundle is as logged",
                                   FIX_LEAF_BATCH))
                continue
            changed = [n for n, a, b in (("manifest.json", manifest, leaf.manifest_digest), ("statement.dsse.json", statement, leaf.statement_digest)) if a != b]
            out.append(Finding(CHECK_LOG, layout.bundle_key(leaf.run_id, changed[0]),
                               f"the bundle of run {leaf.run_id} is not the one logged as leaf {at}: {', '.join(changed)} changed since it was logged",
                               FIX_LOG, run_id=leaf.run_id))
    return out, compared


def _upstream(records: Iterable[RunRecord], generators: Generators) -> list[RunRecord]:
    """Runs upstream of ``records`` that are not among them: the generators of their inputs, and theirs, to the sources."""
    have = {r.run_id for r in records}
    todo = [d for r in records for d in r.inputs if d.version]
    seen: set[VersionKey] = set()
    out: list[RunRecord] = []
    while todo:
        dataset = todo.pop()
        if version_of(dataset) in seen:
            continue
        seen.add(version_of(dataset))
        run = generators.of(dataset)
        if run is not None and run.run_id not in have:
            have.add(run.run_id)
            out.append(run)
            todo += [d for d in run.inputs if d.version]
    return out


def _next_state(head: StoredCheckpoint, evaluation: Evaluation, logged: list[tuple[str, str]], previous: AuditState | None,
                previous_key: str | None, started: datetime, catalog: dict[str, str]) -> AuditState:
    """The state for the next audit: the checks' results, bound to ``head``, the logged runs in its listing window and
    the catalog objects of this log it read or wrote (``catalog``, key -> SHA-256).
    The window never moves past this audit's start: an entry dated in the future stays in it (as a logged run),
    and the runs indexed after it are still listed by the next audit."""
    present = layout.index_cursor(started)  # a writer whose clock runs ahead (within CLOCK_SKEW) does not move it either
    indexed = [k for k, _ in logged if k.startswith(layout.INDEX + "/") and k < present]
    last = max([*indexed, *([previous.last_index_key] if previous and previous.last_index_key else [])], default=None)
    window = layout.rewind_cursor(last, SETTLE_SECONDS) if last else ""
    recent = sorted({(k, r) for k, r in logged if k > window})
    cp = head.checkpoint
    return AuditState(cp.size, cp.root, head.digest, evaluation.state, last, recent, previous_key if previous else None, catalog)


class _MovedEntry(NamedTuple):
    """A logged run's index entry that the listing holds at ``moved_to``, no longer at ``key``, the key the log names."""

    key: str
    moved_to: str


def _examine_entry(store: Store, trust: TrustStore,
                   entry: str | LogLeaf | _MovedEntry) -> tuple[BundleSummary, tuple[RunRecord, LogLeaf] | None]:
    """Read the index entry (at its key, or the key a logged run's leaf names) and examine its bundle; ``None`` for a
    misfiled entry. An entry that is not a bundle summary, or is gone, is a finding: its bundle is examined by the run
    id in its key (a leaf's: the run id it logged)."""
    if isinstance(entry, LogLeaf):
        summary, problem = _read_entry(store, entry.index_key, entry.run_id)
        fix = None
    else:
        key, moved_to = (entry, None) if isinstance(entry, str) else entry
        summary, problem = _read_entry(store, key, layout.run_id_of_index_key(key), moved_to)
        fix = None if moved_to is None else FIX_MOVED_BACK
    return summary, None if _misfiled_entry(summary) else examine_bundle(store, summary, trust, entry_problem=problem, entry_fix=fix)


def _listed_pins(listing: Listing, entries: list[str | LogLeaf | _MovedEntry]) -> dict[str, str]:
    """The listed fingerprints of the objects examining ``entries`` reads (:meth:`Listing.pins`), by the run id each
    names (an index key's, or a leaf's)."""
    return listing.pins(e.run_id if isinstance(e, LogLeaf) else layout.run_id_of_index_key(e if isinstance(e, str) else e.key)
                        for e in entries)


def _late_arrivals(new: list[RunRecord], head_time: str, head_key: str, damaged: bool = False) -> list[Finding]:
    """New bundles sealed before the last checkpoint was written: delivered late (spool) or back-dated; or,
    where the log is damaged (a leaf batch unreadable), perhaps logged before in what cannot be read."""
    out = []
    for r in new:
        sealed = (r.sealed_at or "").replace("+00:00", "Z")
        if sealed and sortable_time(sealed) < sortable_time(head_time):
            why = ("the log is damaged (above): it may have been logged in a leaf batch that cannot be read, and is logged again "
                   "so that the log shows it" if damaged else "delivered late from a spool, or back-dated")
            out.append(Finding(CHECK_LOG, r.index_key, f"run {r.run_id} says it was sealed at {sealed}, before checkpoint '{head_key}' "
                               f"({head_time}) that does not show it: {why}",
                               "restore the damaged log objects from a backup or replica" if damaged else
                               "check the spool or store logs for when it was written; the log records it from this audit on",
                               severity=NOTE, run_id=r.run_id))
    return out


def _new_entries(indexed: Listing, cursor: str | None, logged: set[str]) -> Iterator[str]:
    """Keys of the index entries ``indexed`` lists after ``cursor`` of runs not yet logged (the run id is in the key)."""
    return (key for key in indexed.entries(cursor) if (run_id := layout.index_run_id(key)) is not None and run_id not in logged)


def _logged_entry(listing: Listing, run_id: str, key: str) -> str | _MovedEntry:
    """The index entry of logged run ``run_id`` at ``key``, the key the log names, as :func:`_examine_entry` takes it."""
    moved_to = entry_moved(listing, run_id, key)
    return key if moved_to is None else _MovedEntry(key, moved_to)


def _read_entry(store: Store, key: str, run_id: str, moved_to: str | None = None) -> tuple[BundleSummary, str | None]:
    """The index entry at ``key``, or, when it cannot be read (not a summary, or gone since it was listed: ``moved_to``
    names where the listing holds it instead), what stands for it (the run id and the key) and why."""
    try:
        return load_index_entry(store, key), None
    except (BadInputError, ObjectNotFoundError) as exc:
        if not isinstance(exc, ObjectNotFoundError):
            why = exc.what
        elif moved_to is None:
            why = f"the index entry '{key}' of logged run {run_id} is gone"
        else:
            why = (f"the index entry of logged run {run_id} moved to '{moved_to}', away from the key the log names: the bundle's "
                   "signed manifest was examined without it")
        return BundleSummary(run_id, "", "", "UNKNOWN", None, "", (), (), cursor=key), why
