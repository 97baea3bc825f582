"""Runs that started and never ended: staged events with no sealed bundle."""
from __future__ import annotations

from collections.abc import Container, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import Any

from prov_common.audit.model import CHECK_INVENTORY, CHECK_UNFINISHED, NOTE, CheckResult, Finding
from prov_common.audit.state import StagedSeen, UnsealedRun
from prov_common.bundle import layout
from prov_common.bundle.events import (SAME_DATE_FIX, SHARED_RUN_ID_FIX, airflow_dag_run_of, dag_run_pair, event_digest,
                                       in_dag_run, job_of, line_digests, parent_of, parse_events_jsonl, with_parent)
from prov_common.bundle.model import FILES_SHOWN, BundleSummary, Manifest
from prov_common.bundle.refusal import is_refusal, parsed_record, refusals_in, run_id_or_none
from prov_common.bundle.storage import EntriesOfRuns, listed_file, listed_lines, load_index_entry, sealed_manifest
from prov_common.bundle.verify import hash_stored, verify_and_derive
from prov_common.bundle.staged import trusted_event, unverified_event
from prov_common.errors import BadInputError, StoreUnavailableError, TdprovError
from prov_common.hashing.raw import blake3_digest
from prov_common.signing import TrustStore
from prov_common.store.base import Store
from prov_common.store.errors import ObjectNotFoundError, ObjectTooLargeError, UnreadableObjectError
from prov_common.store.outbox import STALE_CLAIM_SECONDS
from prov_common.text import counted, first_of, job_path
from prov_common.w3cprov.events import TERMINAL
from prov_common.w3cprov.identity import CLOCK_SKEW, iso_z, moment as utc_moment

FIX = (
    "find out why the run stopped (killed worker, lost terminal event, store outage); flush the writer's spool first "
    "('tdprov flush' on the writer's machine: a bundle or event that waits there is delivered, and the next audit sees "
    "it); if the run is over and still not sealed, seal what was staged ('tdprov store seal RUN_ID', with the writer's "
    "key and credentials) or re-run it"
)

UNINDEXED_FIX = (
    "its writer stopped before the index entry; run 'tdprov store repair' with the writer's credentials (it verifies "
    "the bundle and writes only the missing index entry), then audit again"
)


FIX_REMOVED = (
    "restore staging/<run>/ from a backup or replica of the store and seal the run ('tdprov store seal RUN_ID', with the "
    "writer's key and credentials); find out who removed the events (writers cannot delete them); if they are lost for good, "
    "a person accepts the loss with 'tdprov audit --accept-checkpoint --reason TEXT' (recorded)"
)

UNSIGNED_END_FIX = (
    "a seal refuses unsigned staged events, so no process sealed the run; check that its staged events (staging/<run>/) "
    "are its producer's (a writer of yours that lost its signing key said 'staged events and attachments are not "
    "signed'; anyone who can write staging/ could have put them there), then seal them: 'tdprov store seal "
    "--accept-unsigned RUN_ID' (with a writer's key and credentials); give the writer its signing key back "
    "(TDPROV_SIGNING_KEY) for the next runs"
)

FUTURE_FIX = (
    "fix the clock of the machine that emitted the event, or the eventTime its producer wrote (a typo in the year); "
    "until the run is sealed its staleness counts from when an audit first named it, not from that date"
)

LATE_ATTACHMENT_FIX = (
    "an attachment staged after its run was sealed (spooled in a store outage and delivered after another process "
    "sealed the run, or attached after the run's terminal event) is in no bundle: re-run the step to record it, and flush "
    "the writer's spool before its run ends; the finding stays until the attachment is removed from "
    "staging/<run>/attachments/"
)

PLANTED_LATE_FIX = (
    "if a writer of yours without a signing key, or a tdprov older than the signing of staged events, staged it, it is a "
    "late event: re-run the step to record it; otherwise someone who can write the store's staging/ put it there (find "
    "who, and take those credentials away); the finding stays until the objects timed after the sealing are removed "
    "from staging/<run>/"
)
LATE_FIX = (
    "a run's events must end with its terminal event: the producer emitted more for the run after it was sealed, so "
    "they are in no bundle; re-run the step to record them, and find out what emitted them late; the finding stays "
    "until the events timed after the sealing (and those its bundle does not hold) are removed from staging/<run>/"
)


def unfinished_runs(store: Store, sealed: Mapping[str, str | None], *, stale_after: timedelta, now: datetime | None = None,
                    reported: Sequence[UnsealedRun] = (), audit_id: str = "", trust: TrustStore | None = None,
                    bundled: Mapping[str, Sequence[str]] | None = None, seen: StagedSeen | None = None,
                    fresh: Mapping[str, frozenset[str] | None] | None = None, store_id: str | None = None
                    ) -> tuple[CheckResult, list[UnsealedRun], StagedSeen]:
    """Staged runs without a bundle: findings when their newest event is older than ``stale_after``; and
    sealed runs with events staged after their sealing, or attachments staged that their bundle lacks (in no bundle: a
    record lost unless named here; ``bundled``: run id -> the keys of its bundle's files as the audit's listing shows
    them, :attr:`~prov_common.audit.inventory.Listing.files`; a staged attachment's file not among them is asked of the
    store).

    ``sealed``: run id -> sealing time (``sealedAt``) of the runs this audit knows to be sealed and
    indexed (every run it knows, so that late events stay a finding on every audit); for other staged runs
    the store is asked (their statement, and the index entry their bundle recorded).
    ``reported``: the runs earlier audits named as staged with no bundle in the index (the audit state keeps them);
    one whose staged events are gone while still no bundle of it is in the index is a finding (see :func:`staging_removed`).
    Returns the check and the runs to keep for the next audit: those named now (as ``audit_id`` first reports them) and
    those still gone without a bundle. ``trust``: the writers' keys; what a staged event says (that it ended a run, the
    parent it names) shapes a finding only when one of them signed it (None: read unverified), for this store:
    ``store_id``, the store's identity as the audit read it (None: none read), as a seal checks it (an event staged for
    another store and copied here is no end of a run of this store, nor its producer's late event).

    A sealed run's staged events are late when timed after its sealing, and also when its bundle's ``events.jsonl`` does
    not hold them (by the digest in their key) and no record under its ``refused/`` names them, whatever their time (a
    writer that staged the run's START takes the run for open without asking the store, and stages its later events
    under their own times). That comparison reads the bundle's events, so it is made only for the runs of ``fresh`` (those
    this audit logs, each with the digests of the events its verification read, :func:`~prov_common.bundle.events.
    line_digests`, which spare that read; None: read), those whose staging holds an event the store took since ``seen``
    (what the previous audit compared; None: every sealed run), and those ``seen`` names as holding such events; the
    third value returned is what this audit compared, for the next."""
    now = now or datetime.now(timezone.utc)
    result = CheckResult(CHECK_UNFINISHED)
    earlier = {r.run_id: r for r in reported}
    unsealed: list[UnsealedRun] = []
    moments: dict[str, list[datetime]] = {}  # the times of each run's staged events
    newest: dict[str, str] = {}  # the key of each run's newest staged event
    events: dict[str, list[tuple[str, datetime]]] = {}  # the key and time of each run's staged events
    infos = list(store.list_info(f"{layout.STAGING}/", tags_for=_is_staged_event))
    keys = [info.key for info in infos]
    stored = {info.key: info.stored for info in infos}
    for run_id, key, moment in staged_events(keys):
        moments.setdefault(run_id, []).append(moment)
        newest[run_id] = max(newest.get(run_id, key), key)
        events.setdefault(run_id, []).append((key, moment))
    since = _compared_until(seen)
    again = set(seen.runs if seen is not None else ())
    fresh = fresh or {}
    if since is not None and seen is not None and seen.window is not None:
        listed = utc_moment(seen.through)
        if listed is not None and _window(stored, events, listed) == seen.window:  # nothing came into the grace since
            since = listed + timedelta(microseconds=1)

    def compare(run_id: str) -> bool:  # whether to compare the run's staged events with its sealed ones
        return (since is None or run_id in fresh or run_id in again
                or any((when := stored.get(key)) is None or when >= since for key, _ in events[run_id]))

    held_late: list[str] = []  # the sealed runs whose staging holds events their bundle lacks, timed before its sealing

    attached: dict[str, list[str]] = {}  # the keys of each run's staged attachments
    for key in keys:
        if layout.staged_attachment_path(key) is not None:
            attached.setdefault(key.split("/", 2)[1], []).append(key)
    bundled = bundled or {}

    def late_staged(run_id: str, sealed_at: str | None) -> list[Finding]:  # its events, then its attachments
        bundle = _SealedRun(store, run_id)  # what both read of its bundle, read once
        found: list[Finding] = []
        if run_id in events:
            late = _late_staged(bundle, sealed_at, events[run_id], compare=compare(run_id), held=fresh.get(run_id))
            if any(not _after(moment, sealed_at) for _, moment in late):
                held_late.append(run_id)
            found += _late_events(bundle, sealed_at, late, trust, store_id)
        return found + _late_attachments(bundle, sealed_at, attached.get(run_id, ()), bundled.get(run_id))
    for run_id in sorted(set(attached).intersection(sealed).difference(moments)):  # (those with events: below)
        result.findings += late_staged(run_id, sealed[run_id])
    for run_id, staged in sorted(moments.items()):
        moment = max(staged)
        result.checked += 1
        # (a sealed run's event dated in the future is later than its sealing: a late event; or its sealing is dated in
        # the future too, and so is its index entry, a finding of the inventory)
        if run_id in sealed:
            result.findings += late_staged(run_id, sealed[run_id])
            continue
        stale = now - _since(moment, earlier.get(run_id), now) > stale_after
        if store.exists(layout.bundle_key(run_id, layout.STATEMENT_FILE)):
            entry = _index_entry(store, run_id)
            if entry is not None:  # sealed and indexed, but not among the runs this audit knows (a catalog it could not read)
                result.findings += late_staged(run_id, entry.sealed_at)
                continue
            # sealed, but its writer stopped before the index entry
            result.findings += _future_dated(run_id, moment, now)
            result.findings.append(_unindexed(run_id, "error" if stale else NOTE))
        else:
            result.findings += _future_dated(run_id, moment, now)
            when = iso_z(moment)
            ended, unsigned = staged_end(store, newest[run_id], trust, store_id=store_id)
            what = (f"run {run_id} staged its {ended} event at {when} unsigned (its writer had no signing key to be had) "
                    "and was never sealed" if unsigned else
                    f"run {run_id} staged its {ended} event at {when} and was never sealed: its bundle was not stored (it may "
                    "wait in the writer's spool ('tdprov flush' on that machine), or the writer could not sign it)" if ended else
                    f"run {run_id} staged events until {when} and never ended" + ("" if stale else f" (still within {stale_after}; it may be running)"))
            result.findings.append(Finding(CHECK_UNFINISHED, layout.staging_prefix(run_id), what,
                                           UNSIGNED_END_FIX if unsigned else FIX,
                                           severity="error" if stale else NOTE, run_id=run_id))
        unsealed.append(earlier.get(run_id) or UnsealedRun(run_id, audit_id, iso_z(now)))
    eventless = sorted(set(attached).difference(moments, sealed, earlier))  # (one named before: its events were removed)
    entries_of = EntriesOfRuns(store, eventless)  # the index listed once for them all, not once a run
    for run_id in eventless:
        result.checked += 1
        result.findings += _eventless(store, run_id, stale_after, now, entries_of)
    gone = [r for r in reported if r.run_id not in moments and r.run_id not in sealed]  # the listing above found no event of theirs
    lost, kept = _removed(store, gone)
    result.findings += lost
    result.checked += len(gone)
    through = max((when for staged in events.values() for key, _ in staged if (when := stored.get(key)) is not None), default=None)
    compared = StagedSeen(iso_z(through) if through is not None else (seen.through if seen is not None else None),
                          tuple(sorted(held_late)), _window(stored, events, through) if through is not None else None)
    return result, unsealed + kept, compared


def _window(stored: Mapping[str, datetime | None], events: Mapping[str, Sequence[tuple[str, datetime]]],
            through: datetime) -> str:
    """A digest of the keys of the staged events (``events``, by run) that the store dated (``stored``) in the
    :data:`LISTED_GRACE` before ``through``, up to it: what a later listing may show more of there (a write under way)."""
    since = through - LISTED_GRACE
    keys = sorted(key for staged in events.values() for key, _ in staged
                  if (when := stored.get(key)) is not None and since <= when <= through)
    return blake3_digest("\n".join(keys).encode())


def _is_staged_event(key: str) -> bool:
    """Whether the store key ``key`` is a staged event (whose listing needs the time the store took it)."""
    return layout.staged_event_parts(key) is not None


def _compared_until(seen: StagedSeen | None) -> datetime | None:
    """From when (by the store's clock) staged events are new to the audit that left ``seen``: the newest it listed, less
    :data:`LISTED_GRACE` (None: every staged event is new)."""
    through = utc_moment(seen.through) if seen is not None and seen.through is not None else None
    return None if through is None else through - LISTED_GRACE


def _after(moment: datetime, sealed_at: str | datetime | None) -> bool:
    """Whether ``moment`` is later than a run's sealing (``sealed_at``, as its index entry gives it or parsed)."""
    sealed = sealed_at if isinstance(sealed_at, datetime) else utc_moment(sealed_at)
    return sealed is not None and moment > sealed


def _late_staged(bundle: _SealedRun, sealed_at: str | None, staged: Sequence[tuple[str, datetime]], *,
                 compare: bool, held: frozenset[str] | None = None) -> list[tuple[str, datetime]]:
    """The staged events (key, time) of the sealed run of ``bundle`` that are in no bundle, oldest first: those timed after its
    sealing and, when ``compare``, those timed before it whose digest (:func:`~prov_common.bundle.events.event_digest`)
    is not among the events of its ``events.jsonl`` (read by the size its manifest lists, unless ``held`` gives the
    digests of its lines) and that no record under its ``refused/`` names (refused at the seal). The digests of its
    lines are compared first, then, for events none matches, those of its events parsed (a line not in canonical form).
    A bundle whose events cannot be read is compared by time alone ('tdprov verify' and the audit's verification name
    it)."""
    sealed = utc_moment(sealed_at)  # parsed once: every audit judges each staged event of every sealed run
    late = [(k, m) for k, m in staged if _after(m, sealed)]
    before = [(k, m) for k, m in staged if not _after(m, sealed)]
    if compare and before:
        if held is None and bundle.events is not None:
            held = line_digests(bundle.events)
        unheld = _unheld(before, held)
        if unheld:  # (events that cannot be parsed: none is unheld, the times alone tell)
            parsed = bundle.parsed
            unheld = _unheld(unheld, None if parsed is None else frozenset(event_digest(e) for e in parsed))
        if unheld:
            refused = bundle.refused[0]
            late += [(k, m) for k, m in unheld if k not in refused]
    return sorted(late, key=lambda item: (item[1], item[0]))


def _unheld(staged: Sequence[tuple[str, datetime]], held: Container[str] | None) -> list[tuple[str, datetime]]:
    """Those of the staged events (key, time) ``staged`` whose digest is not among ``held`` (None: none is unheld)."""
    if held is None:
        return []
    return [(k, m) for k, m in staged if (event := layout.staged_event_parts(k)) is None or event.digest not in held]


class _SealedRun:
    """What an audit reads of the sealed bundle of ``run_id`` to judge what is staged for it, each read at most once:
    its manifest, its ``events.jsonl`` and the records under its ``refused/``."""

    def __init__(self, store: Store, run_id: str) -> None:
        self.store, self.run_id = store, run_id

    @cached_property
    def manifest(self) -> Manifest | None:
        """Its manifest (None: it cannot be read)."""
        return sealed_manifest(self.store, self.run_id)

    @cached_property
    def events(self) -> bytes | None:
        """Its ``events.jsonl``, read by the size its manifest lists (None: its manifest or events cannot be read)."""
        if self.manifest is None:
            return None
        try:
            return listed_file(self.store, self.run_id, self.manifest, layout.EVENTS_FILE)
        except StoreUnavailableError:
            raise
        except (TdprovError, ValueError, TypeError):
            return None

    @cached_property
    def parsed(self) -> list[Any] | None:
        """Its events parsed (None: not read, or not readable as events): parsed once, to compare a staged event no line
        matches and to tell the parents its sealed events name."""
        if self.events is None:
            return None
        try:
            return parse_events_jsonl(self.events)
        except (TdprovError, ValueError, TypeError):
            return None

    @cached_property
    def refused(self) -> tuple[set[str], set[str]]:
        """What its ``refused/`` names (:func:`_refused_in`)."""
        return _refused_in(self.store, self.run_id, self.manifest)


def _since(moment: datetime, reported: UnsealedRun | None, now: datetime) -> datetime:
    """From when a staged run's (or an unsealed bundle folder's) staleness is measured: its newest event's time (or
    when the store took its first object), but never later than when an audit first named the run (this one, if none
    did): a date in the future (a producer's clock running ahead, a typo), or a folder written again, cannot keep a run
    that never ends from being stale."""
    first = utc_moment(reported.reported_at) if reported is not None else None
    return min(moment, first or now)


def _eventless(store: Store, run_id: str, stale_after: timedelta, now: datetime, entries_of: EntriesOfRuns) -> list[Finding]:
    """A finding for a run of which only other objects than events are staged (its attachments), with no sealed bundle
    and no index entry: never sealed, and no seal takes it (:func:`~prov_common.bundle.missing.why_missing` says so, as
    'tdprov verify' does); when its bundle folder holds objects but no signed statement, that folder is named incomplete
    too, as 'tdprov verify' names it. A note while the store took its newest staged object within ``stale_after`` (its
    events may still be delivered from a spool), an error after; none when its statement or index entry is there (other
    checks name those). ``entries_of``: the index entries of the runs checked so, from one listing. The run's staging
    and its bundle folder are listed once each."""
    from prov_common.bundle.missing import no_event_staged, why_missing

    folder = layout.bundle_prefix(run_id)
    held = list(store.list(folder))
    if layout.bundle_key(run_id, layout.STATEMENT_FILE) in held:
        return []
    staging = layout.staging_prefix(run_id)
    staged = list(store.list_info(staging, tags_for=lambda _: True))
    keys = [info.key for info in staged]
    missing = why_missing(store, run_id, entries_of, keys)
    if missing.kind != "eventless":
        return []
    newest = max((info.stored for info in staged if info.stored is not None), default=None)
    recent = newest is not None and now - newest <= stale_after
    said, fix = (missing.said, missing.fix) if not held else (
        f"not sealed: its bundle folder {folder} holds {counted(len(held), 'object')} and no signed statement (incomplete), and "
        f"nothing to seal it again from: {no_event_staged(run_id, keys)}",
        f"run 'tdprov flush' on its worker (it delivers a bundle spooled there); if its events were removed, restore "
        f"{staging} from a backup or replica of the store, move {folder} aside and seal the run "
        f"('tdprov store seal {run_id}'); if no writer of this store wrote the folder, find out who did, and remove it")
    return [Finding(CHECK_UNFINISHED, staging,
                    f"run {run_id} is {said}" + (f" (its newest staged object was stored within {stale_after}: its events may still be delivered)" if recent else ""),
                    fix, severity=NOTE if recent else "error", run_id=run_id)]


def _future_dated(run_id: str, moment: datetime, now: datetime) -> list[Finding]:
    """A finding when the newest staged event of a run not sealed (or not indexed) is dated later than ``now`` (beyond a
    producer's clock skew)."""
    if moment <= now + CLOCK_SKEW:
        return []
    return [Finding(CHECK_UNFINISHED, layout.staging_prefix(run_id),
                    f"run {run_id} staged an event dated {iso_z(moment)}, in the future (this audit started at {iso_z(now)}, "
                    f"allowing {CLOCK_SKEW} of clock skew)", FUTURE_FIX, run_id=run_id)]


def staging_removed(store: Store, reported: Sequence[UnsealedRun]) -> tuple[list[Finding], list[UnsealedRun]]:
    """Runs an earlier audit named as staged with no bundle in the index: a finding for each that still has none while
    ``staging/<run>/`` holds no event any more (its events, the only evidence of the run, were removed), and those runs
    (kept for the next audit). A run sealed meanwhile (its bundle in the index) is closed; one sealed and not indexed is
    named as such."""
    # staged still: the check names it as it is
    return _removed(store, [r for r in reported if not any(True for _ in staged_events(store.list(layout.staging_prefix(r.run_id))))])


def _removed(store: Store, gone: Sequence[UnsealedRun]) -> tuple[list[Finding], list[UnsealedRun]]:
    """:func:`staging_removed` of runs known to have no staged event left."""
    findings: list[Finding] = []
    kept: list[UnsealedRun] = []
    for r in gone:
        if store.exists(layout.bundle_key(r.run_id, layout.STATEMENT_FILE)):
            if _index_entry(store, r.run_id) is not None:
                continue
            findings.append(_unindexed(r.run_id, "error"))
        else:
            findings.append(Finding(CHECK_UNFINISHED, layout.staging_prefix(r.run_id),
                                    f"run {r.run_id} was unfinished at audit {r.audit_id} ({r.reported_at}); its staged events were "
                                    "removed and no bundle was sealed", FIX_REMOVED, run_id=r.run_id))
        kept.append(r)
    return findings, kept


FIX_STRAY = (
    "a bundle folder that no index entry names and that does not verify was not sealed here under this run id (a copy of "
    "another run's bundle, or planted): find out who wrote it, and remove it; if it is this store's bundle, restore it from "
    "a backup or replica, then 'tdprov store repair' (with the writer's credentials) indexes it"
)


def unindexed_bundles(store: Store, trust: TrustStore, run_ids: Iterable[str], *, stale_after: timedelta,
                      now: datetime) -> list[Finding]:
    """Sealed bundles (a signed statement is listed) of ``run_ids``, which no index entry in the listing names and no staged
    event (:func:`unfinished_runs` names those), so that no audit examines them: one that verifies is named as not
    indexed (:data:`CHECK_UNFINISHED`; a note while sealed within ``stale_after``: its writer may be writing its entry), one
    that does not as stray (:data:`CHECK_INVENTORY`: a copy of another run's bundle, or planted).
    A run whose own recorded index entry exists now (written after the listing) is passed over."""
    findings: list[Finding] = []
    for run_id in sorted(run_ids):
        if _indexed_now(store, run_id):
            continue
        checked = verify_and_derive(store, run_id, trust)
        if checked.report.ok:
            sealed = utc_moment(checked.manifest.sealed_at) if checked.manifest else None
            recent = sealed is not None and now - sealed <= stale_after
            findings.append(_unindexed(run_id, NOTE if recent else "error"))
            continue
        prefix = layout.bundle_prefix(run_id)
        problems = "; ".join(f"{f.key.removeprefix(prefix) or f.key}: {f.problem}: {f.reason}" for f in checked.report.findings[:2])
        more = len(checked.report.findings) - 2
        findings.append(Finding(CHECK_INVENTORY, prefix, f"a sealed bundle that no index entry names, so that no audit examines "
                                f"it, does not verify: {problems}" + (f" (and {more} more: 'tdprov verify {run_id}' names each)" if more > 0 else ""),
                                FIX_STRAY, run_id=run_id))
    return findings


FIX_UNSEALED = (
    "if a writer stopped while it wrote the bundle, move the folder aside and seal the run again from its staged events "
    "('tdprov store seal RUN_ID', with the writer's key and credentials) or re-run it; if no writer of this store wrote it "
    "(a copy of another run's files, or planted), find out who did, and remove it"
)


WRITING_GRACE = timedelta(seconds=STALE_CLAIM_SECONDS)  # a flusher holding its entry longer is taken as stopped
# an object the store dates before an audit's newest listed one may not have been listed by it (S3 dates a put by when it
# began): staged events dated this long before are compared again by the next audit
LISTED_GRACE = WRITING_GRACE


FIX_OBJECT_IN_PLACE = "find out who put the object there, and remove it; tdprov writes a folder of a bundle's files there"


def objects_in_place(run_ids: Iterable[str]) -> list[Finding]:
    """A finding for each object ``bundles/<run id>`` of ``run_ids`` (where the run's bundle folder belongs) that no
    index entry or staged event names: tdprov writes none, and no audit examines it."""
    return [Finding(CHECK_UNFINISHED, layout.bundle_prefix(run_id)[:-1],
                    f"object {layout.bundle_prefix(run_id)[:-1]} is where run {run_id}'s bundle folder belongs, and no index "
                    "entry or staged event names its run: tdprov writes a folder of the bundle's files there, never an object, "
                    "and no audit examines it", FIX_OBJECT_IN_PLACE, run_id=run_id) for run_id in sorted(run_ids)]


def unsealed_folders(store: Store, run_ids: Iterable[str], *, stale_after: timedelta, now: datetime,
                     reported: Sequence[UnsealedRun] = (), audit_id: str = "") -> tuple[list[Finding], list[UnsealedRun]]:
    """Bundle folders of ``run_ids`` that hold objects but no signed statement, and that no index entry or staged event
    names, so that no audit examines them ('tdprov verify' names them incomplete). A writer puts a bundle's statement
    right after its manifest: a folder with a manifest is an error unless its statement is there now (sealed after the
    listing: the next audit sees it). One with no manifest (a writer may still be putting its files) is a note while
    its newest event (unsigned, so it only delays the error) is dated within ``stale_after``, or while its events are
    of its run (or its events file is larger than :data:`~prov_common.bundle.layout.SMALL_OBJECT_LIMIT`, read no further
    with no manifest to size it: the finding says so) and its first object was stored (by the store's clock, which no
    writer sets) within :data:`WRITING_GRACE` (``stale_after`` when shorter): a late flush of an old run's bundle, its
    events dated long ago, or a seal putting a large run's events; it is an error after, and when it gives no date or
    one in the future. Either time counts from no later than when an audit first named the folder (``reported``: the folders earlier audits named, the audit state keeps them),
    so that rewriting the folder (its events re-dated, its objects stored again) cannot keep it a note.
    Returns the findings and the folders to keep for the next audit: those named now, as first reported (by
    ``audit_id`` when none did)."""
    findings: list[Finding] = []
    kept: list[UnsealedRun] = []
    earlier = {r.run_id: r for r in reported}
    for run_id in sorted(run_ids):
        prefix = layout.bundle_prefix(run_id)
        begun = stored = None
        unread = ""
        if store.exists(prefix + layout.MANIFEST_FILE):
            if store.exists(prefix + layout.STATEMENT_FILE):
                continue
        else:
            begun, own, unread = _newest_event(store, run_id)
            stored = _first_stored(store, prefix) if own or unread else None  # too large to read: a seal may be writing
        first = earlier.get(run_id) or UnsealedRun(run_id, audit_id, iso_z(now))
        kept.append(first)
        grace = min(stale_after, WRITING_GRACE)
        if begun is not None and now - stale_after <= _since(begun, first, now) and begun <= now + CLOCK_SKEW:
            why = f" (its newest event is dated {iso_z(begun)}, within {stale_after}: a writer may be writing it)"
        elif stored is not None and now - grace <= _since(stored, first, now) and stored <= now + CLOCK_SKEW:
            why = f" (its first object was stored at {iso_z(stored)}, within {grace}: a writer may be writing it)"
        else:
            why = ""
        findings.append(Finding(CHECK_UNFINISHED, prefix,
                                f"bundle folder {prefix} holds no signed statement and no index entry or staged event names its "
                                "run: it was never sealed, and no audit examines it" + why + unread,
                                FIX_UNSEALED, severity=NOTE if why else "error", run_id=run_id))
    return findings, kept


def misnamed_folders(names: Iterable[str], objects: Iterable[str] = ()) -> list[Finding]:
    """A finding for each bundle folder (``names``) and each object directly under ``bundles/`` (``objects``) whose name
    is no run id: tdprov writes none ('tdprov verify' names it malformed)."""
    named = sorted([(f"{layout.BUNDLES}/{name}/", name, "folder") for name in names]
                   + [(f"{layout.BUNDLES}/{name}", name, "object") for name in objects])
    return [Finding(CHECK_INVENTORY, key, f"{'bundle folder' if what == 'folder' else what} '{key}' names no run ({name!r} is not "
                    f"a run id): tdprov wrote no such {what}", "find out who wrote it, and remove it") for key, name, what in named]


def _newest_event(store: Store, run_id: str) -> tuple[datetime | None, bool, str]:
    """The time of the newest event in an unsealed bundle folder's events file (None: none can be read), whether its
    events are all of run ``run_id`` (False when none can be read), and, when the file is too large to read, the words
    saying so in the folder's finding (else ""). With no manifest to give its size the file is read no further than
    :data:`~prov_common.bundle.layout.SMALL_OBJECT_LIMIT`: a run's sealed events may be larger (each event under the
    bound a writer stages), a planted file any size."""
    key = layout.bundle_key(run_id, layout.EVENTS_FILE)
    try:
        events = parse_events_jsonl(store.get(key, layout.SMALL_OBJECT_LIMIT))
        own = bool(events) and all(run_id_or_none(e) == run_id for e in events)
        return max((t for t in (utc_moment(e.get("eventTime")) for e in events) if t is not None), default=None), own, ""
    except ObjectTooLargeError:
        return None, False, (f" (its {layout.EVENTS_FILE} is larger than {layout.SMALL_OBJECT_LIMIT:,} bytes, which the audit "
                             "reads at most with no manifest to give its size: the times and run of its events are not known)")
    except (TdprovError, ValueError, AttributeError, TypeError):
        return None, False, ""


def _first_stored(store: Store, prefix: str) -> datetime | None:
    """When the store took the first of the objects under ``prefix`` (None: its listing does not say)."""
    return min((info.stored for info in store.list_info(prefix, tags_for=lambda _key: True) if info.stored is not None),
               default=None)


def _indexed_now(store: Store, run_id: str) -> bool:
    """Whether the index entry the run's ``indexed`` record names is one of this run's, and in the store."""
    try:
        key = store.get(layout.bundle_key(run_id, layout.INDEXED_FILE), layout.SMALL_OBJECT_LIMIT).decode()
        return key.startswith(layout.INDEX + "/") and layout.run_id_of_index_key(key) == run_id and store.exists(key)
    except (ObjectNotFoundError, UnreadableObjectError, UnicodeDecodeError, BadInputError):  # BadInputError: a key no store holds
        return False


def _unindexed(run_id: str, severity: str) -> Finding:
    return Finding(CHECK_UNFINISHED, layout.bundle_prefix(run_id),
                   f"run {run_id} has a sealed bundle that is not in the index: audits and listings do not see it",
                   UNINDEXED_FIX, severity=severity, run_id=run_id)


def terminal_state(store: Store, key: str, trust: TrustStore | None = None, *, accept_unsigned: bool = False,
                   store_id: str | None = None) -> str | None:
    """The terminal state (COMPLETE, FAIL, ABORT) of the staged event at ``key``, if it is one. ``trust``: only when a
    key of it signed the event (``accept_unsigned``: or it is unsigned), as a seal takes it: whoever decides by it
    whether a run is over (``tdprov store seal``) must not take a terminal event planted by someone with the store's
    credentials alone; None: its signature unchecked (a hint for the audit's wording). ``store_id``: the store's
    identity, as the seal checks it (an event staged for another store is no end of this store's run)."""
    state, unsigned = staged_end(store, key, trust, store_id=store_id)
    return None if unsigned and not accept_unsigned else state


def staged_end(store: Store, key: str, trust: TrustStore | None = None, *,
               store_id: str | None = None) -> tuple[str | None, bool]:
    """The terminal state of the staged event at ``key`` as :func:`terminal_state` gives it, and False; for an unsigned
    terminal event (staged by a writer that had no signing key to be had), its state and True: a seal takes it only
    when told to ('tdprov store seal --accept-unsigned'). Read once."""
    try:
        data = store.get(key, layout.SMALL_OBJECT_LIMIT)
    except (TdprovError, ValueError):
        return None, False
    for unsigned in (False, True) if trust is not None else (False,):
        try:
            event = _event_of(data, key, trust, accept_unsigned=unsigned, store_id=store_id)
        except (TdprovError, ValueError):
            continue
        state = event.get("eventType") if isinstance(event, dict) else None
        return (state, unsigned) if state in TERMINAL else (None, False)
    return None, False


def _staged_event(store: Store, key: str, trust: TrustStore | None, *, accept_unsigned: bool = False,
                  store_id: str | None = None) -> Any:
    """The event staged at ``key``: only when a key of ``trust`` signed it (``accept_unsigned``: or it is unsigned),
    else its signature unchecked (``trust`` None). Raises :class:`~prov_common.errors.TdprovError` or ``ValueError``
    when it cannot be read or is not trusted."""
    return _event_of(store.get(key, layout.SMALL_OBJECT_LIMIT), key, trust, accept_unsigned=accept_unsigned, store_id=store_id)


def _event_of(data: bytes, key: str, trust: TrustStore | None, *, accept_unsigned: bool, store_id: str | None) -> Any:
    """The event of ``data``, staged at ``key``, as :func:`_staged_event` reads it."""
    return unverified_event(data if trust is None else trusted_event(data, trust, key, accept_unsigned=accept_unsigned,
                                                                     store_id=store_id))


def _late_events(bundle: _SealedRun, sealed_at: str | None, late: Sequence[tuple[str, datetime]],
                 trust: TrustStore | None = None, store_id: str | None = None) -> list[Finding]:
    """A finding when events of the sealed run of ``bundle`` are staged in no bundle (``late``: their keys and times, oldest first, from
    :func:`_late_staged`): timed after its sealing, or held by no bundle whatever their time (named); when the newest of
    them names another parent run than the sealed bundle's (and a key of ``trust`` signed it for this store, whose
    identity is ``store_id``), as those of another run that was given the same run id."""
    if not late:
        return []
    store, run_id = bundle.store, bundle.run_id
    early = [k for k, m in late if not _after(m, sealed_at)]
    newest = max(k for k, _ in late)
    if not early:
        until = f"(until {iso_z(late[-1][1])}): they are in no bundle"
    else:
        names = first_of([k.rsplit("/", 1)[-1] for k in early], FILES_SHOWN, "; ")
        timed = (f"timed {iso_z(late[0][1])}, before the sealing" if len(late) == 1 else
                 f"until {iso_z(late[-1][1])}; {counted(len(early), 'of them', 'of them')} timed before the sealing")
        until = (f"({timed}, staged by a writer that took the run for open; its events.jsonl does not hold "
                 f"{'it' if len(early) == 1 else 'them'}: {names}): they are in no bundle")
    try:
        event = _staged_event(store, newest, trust, store_id=store_id)
    except BadInputError as exc:
        if trust is not None:  # not what a writer this audit trusts staged for this run: said, not read
            return [_planted_late(run_id, sealed_at, len(late), until, exc)]
        event = None
    except (TdprovError, ValueError):  # gone since, or unreadable: the times alone
        event = None
    other = _other_parent(bundle, event)
    if other is not None:
        return [Finding(CHECK_UNFINISHED, layout.staging_prefix(run_id),
                        f"run {run_id} was sealed at {sealed_at} as a run {other[0]}, and "
                        f"{counted(len(late), 'event')} of another run, {other[1]}, {'was' if len(late) == 1 else 'were'} staged under its "
                        "run id after that "
                        f"{until}", other[2], run_id=run_id)]
    return [Finding(CHECK_UNFINISHED, layout.staging_prefix(run_id),
                    f"run {run_id} was sealed at {sealed_at}, and {counted(len(late), 'event')} {'was' if len(late) == 1 else 'were'} "
                    "staged for it after that "
                    f"{until}", LATE_FIX, run_id=run_id)]


def _late_attachments(bundle: _SealedRun, sealed_at: str | None, keys: Sequence[str],
                      listed: Sequence[str] | None) -> list[Finding]:
    """A finding when attachments of the sealed run of ``bundle`` staged at ``keys`` are in no bundle: its bundle holds no
    file of their path (``listed``: its files' keys as the audit's listing shows them; one not among them is asked of
    the store) and no record under its ``refused/`` names them (refused when it was sealed: named as refused). Such an
    attachment was staged after the sealing (delivered from a spool after another process sealed the run, or attached
    after its terminal event); it is named with its size and BLAKE3 digest, by every audit until it is removed."""
    store, run_id, files = bundle.store, bundle.run_id, set(listed or ())
    missing = [k for k in keys if not _in_bundle(store, run_id, k, files)]
    if not missing:
        return []
    named, combined = bundle.refused
    late = [k for k in missing if k not in named and not _combined_in(store, k, combined)]
    if not late:
        return []
    shown = [_described(store, k) for k in late[:FILES_SHOWN]]
    one = len(late) == 1
    return [Finding(CHECK_UNFINISHED, layout.staging_prefix(run_id) + layout.STAGED_ATTACHMENTS,
                    f"run {run_id} was sealed at {sealed_at}, and {counted(len(late), 'attachment')} staged for it "
                    f"{'is' if one else 'are'} in no bundle (staged after the sealing): "
                    f"{first_of(shown + late[len(shown):], FILES_SHOWN, '; ')}", LATE_ATTACHMENT_FIX, run_id=run_id,
                    items=tuple(late) if len(late) > FILES_SHOWN else ())]


def _in_bundle(store: Store, run_id: str, key: str, listed: set[str]) -> bool:
    """Whether the bundle of ``run_id`` holds a file at the path of the attachment staged at ``key``."""
    path = layout.staged_attachment_path(key) or ""
    file = layout.bundle_key(run_id, path)
    try:
        return file in listed or store.exists(file)
    except BadInputError:  # a path no bundle file can have (planted): in no bundle
        return False


def _refused_in(store: Store, run_id: str, manifest: Manifest | None) -> tuple[set[str], set[str]]:
    """What the sealed bundle of ``run_id`` (its ``manifest``; None: none read) holds under ``refused/``: the staged keys its records name (``stagedAs``), and
    the BLAKE3 digests of the records of its combined files (one a line), each a refusal staged as an attachment by the
    transport. Read from the files its manifest lists, a line at a time by their listed sizes, so that a combined file
    larger than :data:`~prov_common.bundle.layout.SMALL_OBJECT_LIMIT` is read too and no file planted beside them
    names anything; a file that is not the one listed names nothing (verification names it)."""
    named: set[str] = set()
    combined: set[str] = set()
    for path in [f.path for f in manifest.files if is_refusal(f.path)] if manifest is not None else ():
        keys: set[str] = set()
        digests: set[str] = set()
        try:
            for line in listed_lines(store, run_id, manifest, path, layout.SMALL_OBJECT_LIMIT):
                if line is None:
                    continue
                if refusals_in(path) > 1:
                    digests.add(blake3_digest(line.rstrip(b"\n")))
                record = parsed_record(line)
                if record is not None and isinstance(record.get("stagedAs"), str):
                    keys.add(record["stagedAs"])
        except StoreUnavailableError:
            raise
        except TdprovError:
            continue
        named |= keys
        combined |= digests
    return named, combined


def _combined_in(store: Store, key: str, combined: set[str]) -> bool:
    """Whether the refusal staged as an attachment at ``key`` is a record of a combined file (``combined``: the digests
    of their lines)."""
    if not combined or not (layout.staged_attachment_path(key) or "").startswith(layout.REFUSED_FOLDER + "/"):
        return False
    try:
        return blake3_digest(store.get(key, layout.SMALL_OBJECT_LIMIT).rstrip(b"\n")) in combined
    except StoreUnavailableError:
        raise
    except TdprovError:
        return False


def _described(store: Store, key: str) -> str:
    """The staged object ``key`` with its size and BLAKE3 digest (read in ranged parts), or why it cannot be read."""
    try:
        found = hash_stored(store, key)
    except TdprovError as exc:
        return f"{key} (cannot be read: {exc.what.rstrip('.')})"
    return f"{key} ({counted(found.bytes, 'byte')}, {found.digest})"


def _planted_late(run_id: str, sealed_at: str | None, count: int, until: str, why: BadInputError) -> Finding:
    """The finding of objects staged for a sealed run after its sealing whose newest no writer the audit trusts staged
    for it (``why``): unsigned, another key's, or another run's copied there; not a producer's late event to re-run."""
    return Finding(CHECK_UNFINISHED, layout.staging_prefix(run_id),
                   f"run {run_id} was sealed at {sealed_at}, and {counted(count, 'event')} {'was' if count == 1 else 'were'} "
                   f"staged for it after that {until}; the newest is no event a writer this audit trusts staged for the "
                   f"run: {why.what}", PLANTED_LATE_FIX, run_id=run_id)


def _other_parent(bundle: _SealedRun, event: Any) -> tuple[str, str, str] | None:
    """(the sealed bundle's run, the staged event's, each as 'whose parent is run ID' or, when their jobs differ, as
    'of job NS/NAME with parent run ID', or as 'in Airflow DAG run RUN_ID' when the two name different Airflow DAG
    runs of one DAG (two DAG runs at one logical date); then the fix) when the staged ``event`` (None: none read) is
    of another run given the same run id, as :func:`~prov_common.bundle.storage.another_run` tells at delivery: of another job than the sealed bundle
    while only one of them names a parent run (an Airflow DAG run and a mapped task's try; a job renamed under one
    parent is the run's own), or naming another parent run than the bundle and every event sealed in it; None when
    they agree, or the sealed events name the staged one's parent too (a DAG run cleared while its task ran: one run)."""
    manifest = bundle.manifest
    if manifest is None or not isinstance(event, dict):
        return None
    sealed_dag_run = next((d for e in bundle.parsed or [] if (d := airflow_dag_run_of(e))), None)
    if (dag_runs := dag_run_pair(sealed_dag_run, airflow_dag_run_of(event))) is not None:
        return in_dag_run(dag_runs[0]), in_dag_run(dag_runs[1]), SAME_DATE_FIX  # two DAG runs at one logical date
    job, parent = job_of(event), parent_of(event)
    if (job is not None and job != (manifest.job_namespace, manifest.job_name)
            and (manifest.parent_run_id is None) != (parent is None)):
        return (f"of job {job_path(manifest.job_namespace, manifest.job_name)} {with_parent(manifest.parent_run_id)}",
                f"of job {job_path(*job)} {with_parent(parent[0] if parent else None)}", SHARED_RUN_ID_FIX)
    if manifest.parent_run_id is None or parent is None or parent[0] == manifest.parent_run_id:
        return None
    sealed = bundle.parsed or []  # ('tdprov verify' names a bundle whose events are not what its manifest lists)
    if any((named := parent_of(e)) is not None and named[0] == parent[0] for e in sealed if isinstance(e, dict)):
        return None
    return f"whose parent is run {manifest.parent_run_id}", f"whose parent is run {parent[0]}", SHARED_RUN_ID_FIX


def _index_entry(store: Store, run_id: str) -> BundleSummary | None:
    """The index entry that the run's bundle recorded (``bundles/<run>/indexed``), when it is in the store and holds a summary."""
    try:
        key = store.get(layout.bundle_key(run_id, layout.INDEXED_FILE), layout.SMALL_OBJECT_LIMIT).decode()
        return load_index_entry(store, key)
    except (ObjectNotFoundError, UnreadableObjectError, UnicodeDecodeError, BadInputError):
        return None


def newest_staged(store: Store, run_id: str) -> tuple[str, datetime] | None:
    """The key and time of the newest event staged for ``run_id`` (None: no event is staged)."""
    return newest_event(store.list(layout.staging_prefix(run_id)))


def newest_event(keys: Iterable[str]) -> tuple[str, datetime] | None:
    """The key and time of the newest staged event among the store keys ``keys`` (None: none is a staged event)."""
    return max(((key, moment) for _, key, moment in staged_events(keys)), default=None)


def staged_after_sealing(store: Store, run_id: str, sealed_at: str | None) -> int:
    """How many events are staged for the sealed run ``run_id`` with times after its sealing (``sealed_at``): in no
    bundle, the late events every audit names (:func:`_late_events`). One listing of the run's staging."""
    sealed = utc_moment(sealed_at)
    if sealed is None:
        return 0
    return sum(1 for _, _, m in staged_events(store.list(layout.staging_prefix(run_id))) if m > sealed)


def staged_events(keys: Iterable[str]) -> Iterator[tuple[str, str, datetime]]:
    """(run id, key, time) of each staged event among the store keys ``keys`` (``staging/<run>/<time>-<digest>.json``;
    attachments and objects that are no staged event are passed over)."""
    for key in keys:
        if (event := layout.staged_event_parts(key)) is not None:
            yield event.run_id, key, event.moment
