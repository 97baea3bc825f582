"""Examine one stored bundle: verify it, and extract what the audit needs (run record and log leaf)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from prov_common.audit.model import (
    CHECK_COMPLETENESS,
    CHECK_PROV,
    CHECK_SIGNATURES,
    NOTE,
    CheckOutcome,
    DatasetUse,
    Finding,
    QualityResult,
    RecordedSnapshot,
    RunRecord,
)
from prov_common.audit.rehash import symlinked_location
from prov_common.audit.unended import refused_in_bundle
from prov_common.bundle import layout
from prov_common.bundle.events import LineDigests, fold_bundle_events, line_digests
from prov_common.bundle.model import BundleSummary, Finding as VerifiedFinding
from prov_common.bundle.storage import listed_parts
from prov_common.bundle.verify import (NO_OBJECTS, OTHER_STORE, UNLISTED, CheckedBundle, entry_differences, intact_events,
                                       verify_and_derive)
from prov_common.errors import StoreUnavailableError, TdprovError, VerificationError
from prov_common.hashing.raw import blake3_digest
from prov_common.signing import TrustStore
from prov_common.signing.dsse import FIX_RETIRED
from prov_common.store.base import Store
from prov_common.store.errors import ObjectNotFoundError, UnreadableObjectError
from prov_common.store.identity import FIX_OTHER_STORE
from prov_common.text import job_path
from prov_common.tlog.model import LogLeaf, sha256_digest
from prov_common.w3cprov.event_lines import EventBytes
from prov_common.w3cprov.events import DatasetState, RunState, check_label, items_of, whole_count
from prov_common.w3cprov.quality import RunTests, other_checks, pandera_contradicts, pandera_fault, pandera_outcome, run_test_measurements
from prov_common.w3cprov.identity import dataset_label, iso_z, moment

MISSING = "missing"
FIX_MISSING = "restore the object from a backup or replica of the store: bundles are written once, so a missing object was deleted"
"""The fix of a bundle's file that verification found missing (a delete marker may hide it: the audit says so)."""

_FIXES = {
    MISSING: FIX_MISSING,
    "untrusted key": "if you trust the signer, add its public key to TDPROV_TRUSTED_KEYS; otherwise treat the bundle as forged",
    "unsigned": "the bundle was not written by tdprov's sealing; treat it as forged or re-seal the run from its source events",
    UNLISTED: "find out who wrote the object and remove it; a sealed bundle holds only the files its manifest lists",
    OTHER_STORE: FIX_OTHER_STORE,
    "retired key": FIX_RETIRED,
}
_NOTED = "nothing to do: the bundle was written by another version of the PROV mapping"
_FIX_ENTRY = ("restore the index entry from a backup or replica: it summarises the bundle's signed manifest, which was "
              "examined without it")
_FIX_MOVED = ("put the entry back under the key its bundle's indexed record names (from a backup or replica) and remove "
              "this one; find out who moved it")
_ALTERED = "the object was altered after the run was sealed: restore it from a backup or replica of the store"
_FIX_REVERSED = ("nothing to change in the record, which keeps the times as the events were stamped: most likely the START and "
                 "the end were stamped on two machines whose clocks disagree (or a START was replayed late); keep the clocks of "
                 "the machines that run the pipeline in step (NTP)")
_FIX_UNWRITTEN = ("nothing to do if the task is meant to leave this output as it is; otherwise find out why it did not "
                  "write it (a task that skipped its work, a write that went elsewhere): the version stays the output "
                  "of the run that wrote it")


def planted(finding: Finding) -> bool:
    """Whether ``finding`` names a file planted in a bundle (:data:`~prov_common.bundle.verify.UNLISTED`)."""
    return finding.what.startswith(UNLISTED + ": ")


def found_missing(finding: Finding) -> bool:
    """Whether ``finding`` is a bundle verification's of an object it found missing (:data:`MISSING`)."""
    return finding.run_id is not None and finding.what.startswith(MISSING + ": ")


def gone_whole(finding: Finding) -> bool:
    """Whether ``finding`` is a bundle verification's of a bundle none of whose objects it found (:data:`NO_OBJECTS`),
    filed under the bundle's folder."""
    return found_missing(finding) and finding.what == f"{MISSING}: {NO_OBJECTS}"


def bundle_finding(found: VerifiedFinding, run_id: str) -> Finding:
    """The audit's finding of a bundle verification's ``found``, filed under the PROV check when it concerns the PROV
    document, with the fix of the error that found it when it gave one (an object replaced while read, an endpoint that
    ignores If-Match), else the fix of its problem; every file a finding of the bundle's folder counts is its ``items``."""
    check = CHECK_PROV if found.key.endswith("/" + layout.PROV_FILE) else CHECK_SIGNATURES
    return Finding(check, found.key, f"{found.problem}: {found.reason}", found.fix or _FIXES.get(found.problem, _ALTERED),
                   run_id=run_id, items=found.keys)


def _quality(ds: DatasetState) -> QualityResult | None:
    """The Pandera result the dataset's ``tdprov_pandera`` facet records, if any: one whose ``passed``, or that of one of
    its checks, is missing or no boolean has no known outcome (``passed`` None; False when one of them is false:
    :func:`~prov_common.w3cprov.quality.pandera_outcome`), its ``fault`` saying why
    (:func:`~prov_common.w3cprov.quality.pandera_fault`) and ``contradicts`` whether it contradicts itself."""
    facet = ds.facet("tdprov_pandera")
    if not facet:
        return None
    failed, passed = (tuple(check_label(str(c.get("name")), c.get("column"))
                            for c in items_of(facet, "checks") if isinstance(c, dict) and c.get("passed") is outcome)
                      for outcome in (False, True))
    fault = pandera_fault(facet)
    # a count that is no whole number (text such as "many", -3: any producer can send the facet) counts no failure, as
    # 'tdprov show' counts it; its PROV records none but a negative one, as sent (the mapping derives sealed bytes again)
    return QualityResult(pandera_outcome(facet), facet.get("schemaName"), whole_count(facet.get("failureCount")) or 0,
                         failed, passed, fault, pandera_contradicts(facet))


def _aliases(symlinks: dict) -> tuple[str, ...]:
    """The other names of a dataset in its standard ``symlinks`` facet (a Dagster asset key, a table name), each
    alone and as ``namespace/name`` (``dagster://default/raw/orders``)."""
    found = symlinks.get("identifiers") if isinstance(symlinks.get("identifiers"), list) else []
    named = [i for i in found if isinstance(i, dict) and isinstance(i.get("name"), str) and i["name"]]
    return tuple(sorted({i["name"] for i in named} | {_qualified(i["namespace"], i["name"]) for i in named
                                                      if isinstance(i.get("namespace"), str) and i["namespace"]}))


def _qualified(namespace: str, name: str) -> str:
    """``namespace/name`` of a ``symlinks`` identifier, with one ``/`` between them."""
    return f"{namespace.rstrip('/')}/{name.lstrip('/')}"


def _use(state: RunState, ds: DatasetState, tests: RunTests) -> DatasetUse:
    """The audit's record of a dataset ``state`` read or wrote, with the results of its Pandera schema and of its other
    checks (:func:`~prov_common.w3cprov.quality.other_checks`: a Dagster asset check, as PROV mapping 7 states it;
    ``tests``: the run's, :func:`~prov_common.w3cprov.quality.run_test_measurements`)."""
    checks = tuple(CheckOutcome(m.name, m.status, m.severity, m.description) for m in other_checks(state, ds, tests)
                   if m.status in ("pass", "fail", "error"))  # a skipped check, or one of no known outcome, says nothing
    return DatasetUse(ds.namespace, ds.name, ds.version, _quality(ds), ds.count("rows"),
                      symlinked_location(ds.namespace, ds.name, ds.facet("symlinks")), _aliases(ds.facet("symlinks")),
                      ds.count("shardCount"), RecordedSnapshot.parse(ds.facet("tdprov_contentHash").get("snapshot")), checks,
                      opaque=ds.opaque_version)


def _get(store: Store, key: str) -> bytes | None:
    """The object's bytes (at most :data:`~prov_common.bundle.layout.SMALL_OBJECT_LIMIT`); None when it is missing,
    larger or cannot be an object (verification names each)."""
    try:
        return store.get(key, layout.SMALL_OBJECT_LIMIT)
    except (ObjectNotFoundError, UnreadableObjectError):
        return None


def record_from_events(events: bytes | EventBytes, name: str, summary: BundleSummary, manifest_digest: str,
                       key_id: str | None, mapping: str | None = None,
                       each_line: Callable[[bytes], None] | None = None) -> RunRecord:
    """The audit's record of a run from its ``events.jsonl`` bytes (named ``name``; held whole, or read in parts),
    folded line by line as the PROV ``mapping`` its manifest names (None: the current one) folds them
    (:func:`~prov_common.bundle.events.fold_bundle_events`; ``each_line``: as there)."""
    return record_from_state(fold_bundle_events(events, name, mapping, each_line=each_line), summary, manifest_digest,
                             key_id)


def record_from_state(state: RunState, summary: BundleSummary, manifest_digest: str, key_id: str | None) -> RunRecord:
    """The audit's record of a run, from the state its events fold into."""
    parent = state.run_facet("parent").get("run")
    job_type = state.job_facet("jobType").get("jobType")
    tests = run_test_measurements(state)  # once for all its datasets
    return RunRecord(
        run_id=summary.run_id,
        job_namespace=state.job_namespace,
        job_name=state.job_name,
        state=state.state,
        started_at=iso_z(state.started),
        ended_at=iso_z(state.ended),
        sealed_at=summary.sealed_at,
        index_key=summary.cursor or "",
        manifest_digest=manifest_digest,
        key_id=key_id,
        parent_run_id=parent.get("runId") if isinstance(parent, dict) else None,
        job_type=job_type if isinstance(job_type, str) else None,
        inputs=[_use(state, d, tests) for d in state.inputs],
        outputs=[_use(state, d, tests) for d in state.outputs],
        start_recorded=state.start_recorded,
    )


def unwritten_notes(state: RunState, run_id: str) -> list[Finding]:
    """A completeness note for each declared output the run found unchanged since before it started (run facet
    ``tdprov_outlets``): it is not recorded as generated by the run, and this says so."""
    found = state.run_facet("tdprov_outlets").get("notWritten")
    notes = []
    for item in found if isinstance(found, list) else ():
        if not isinstance(item, dict) or item.get("reason") != "unchanged":
            continue
        label = dataset_label(str(item.get("namespace")), str(item.get("name")))
        version = item.get("version") or "unversioned"
        notes.append(Finding(CHECK_COMPLETENESS, f"{label}@{version}",
                             f"run {run_id} ({job_path(state.job_namespace, state.job_name)}) declared {label} as an output but did "
                             f"not write it: it last changed at {item.get('changedAt')}, before the run started "
                             f"({item.get('startedAt')}); not recorded as generated by this run", _FIX_UNWRITTEN,
                             severity=NOTE, run_id=run_id))
    return notes


def reversed_times(record: RunRecord, key: str) -> list[Finding]:
    """A PROV note for a run recorded as starting after it ended (its PROV states ``startedAtTime`` after
    ``endedAtTime``, and what it generated before its start, as PROV-CONSTRAINTS does not allow); ``key``: its PROV."""
    started, ended = moment(record.started_at), moment(record.ended_at)
    if started is None or ended is None or started <= ended:
        return []
    return [Finding(CHECK_PROV, key, f"run {record.run_id} ({record.job}) is recorded as starting after it ended: started "
                    f"{record.started_at}, ended {record.ended_at}; its PROV states these times",
                    _FIX_REVERSED, severity=NOTE, run_id=record.run_id)]


def record_from_summary(summary: BundleSummary, manifest_digest: str) -> RunRecord:
    """What the index entry says, when the events cannot be read."""
    return RunRecord(
        run_id=summary.run_id, job_namespace=summary.job_namespace, job_name=summary.job_name, state=summary.state,
        started_at=summary.started_at, ended_at=summary.ended_at, sealed_at=summary.sealed_at, index_key=summary.cursor or "",
        manifest_digest=manifest_digest, key_id=summary.key_id,
        inputs=[DatasetUse(d.namespace, d.name, d.version, opaque=d.opaque) for d in summary.inputs],
        outputs=[DatasetUse(d.namespace, d.name, d.version, opaque=d.opaque) for d in summary.outputs],
    )


def examine_bundle(store: Store, summary: BundleSummary, trust: TrustStore, *,
                   entry_problem: str | None = None, entry_fix: str | None = None) -> tuple[RunRecord, LogLeaf]:
    """Verify the bundle of ``summary`` and return its run record (with findings) and its log leaf (see
    :func:`examine_checked`)."""
    record, leaf, _ = examine_checked(store, summary, trust, entry_problem=entry_problem, entry_fix=entry_fix)
    return record, leaf


def examine_checked(store: Store, summary: BundleSummary, trust: TrustStore, *,
                    entry_problem: str | None = None, entry_fix: str | None = None,
                    listed: str | None = None) -> tuple[RunRecord, LogLeaf, CheckedBundle]:
    """Verify the bundle of ``summary`` and return its run record (with findings), its log leaf, and what verification
    read of it (for a reader that needs more of the bundle than its record).

    ``entry_problem``: why the index entry could not be read (``summary`` then holds only the run id of
    its key); it is a finding (``entry_fix``: its fix, when not the default), and the record takes what the entry would say from the signed
    manifest. ``listed``: the index entry the bundle was listed under (by a reader, not the audit, whose inventory follows
    the ``indexed`` record), so a bundle whose ``indexed`` record is gone is named, as 'tdprov verify' names it."""
    run_id = summary.run_id
    entry = listed if (listed or "").startswith(layout.INDEX + "/") else None
    checked = verify_and_derive(store, run_id, trust, indexed_under=entry)
    if not layout.is_run_id(run_id):  # verification named it; there is no bundle to read
        record = record_from_summary(summary, MISSING)
        record.bundle_findings = [bundle_finding(f, run_id) for f in checked.report.findings]
        return record, LogLeaf(run_id, MISSING, MISSING, summary.cursor or layout.unchecked_bundle_key(run_id)), checked
    report, derived = checked.report, checked.derived
    findings = [bundle_finding(f, run_id) for f in report.findings]
    findings += [replace(bundle_finding(f, run_id), fix=_NOTED, severity=NOTE) for f in report.notes]
    prefix = layout.bundle_prefix(run_id)
    manifest_digest = checked.manifest_digest or MISSING
    statement_digest = checked.statement_digest or MISSING
    if entry_problem is not None:
        findings.append(Finding(CHECK_SIGNATURES, summary.cursor or prefix, entry_problem, entry_fix or _FIX_ENTRY, run_id=run_id))
        if checked.manifest is not None and checked.manifest_digest is not None:
            summary = replace(BundleSummary.of_manifest(checked.manifest, report.key_id, checked.manifest_digest), cursor=summary.cursor)
    else:
        if summary.manifest_digest and checked.manifest_digest and summary.manifest_digest != manifest_digest:
            findings.append(Finding(CHECK_SIGNATURES, summary.cursor or prefix, f"the index entry names manifest {summary.manifest_digest}, "
                                    f"the bundle holds {manifest_digest}", _ALTERED, run_id=run_id))
        findings += _entry_findings(summary, checked)
    record: RunRecord | None
    if derived is not None:  # as verification read them (and parsed and folded them)
        record = record_from_state(derived.state, summary, manifest_digest, report.key_id)
        findings += unwritten_notes(derived.state, run_id)
        held = _intact_digests(store, checked)
    else:  # as stored: read once, folded and digested in that reading
        record, held = _from_stored_events(store, checked, summary, manifest_digest)
    if record is None:
        record = record_from_summary(summary, manifest_digest)
    findings += reversed_times(record, prefix + layout.PROV_FILE)
    record.bundle_findings = findings
    record.files = tuple(f.path for f in checked.manifest.files) if checked.manifest is not None else None
    record.refusals = refused_in_bundle(store, record, checked.manifest) if checked.manifest is not None else []
    if held is not None:
        record.held_events = held
    leaf = LogLeaf(run_id, manifest_digest, statement_digest, summary.cursor or prefix)
    return record, leaf, checked


def _entry_findings(summary: BundleSummary, checked: CheckedBundle) -> list[Finding]:
    """The index entry (unsigned, what 'tdprov runs' shows) must summarise the signed manifest, be the
    one the bundle's ``indexed`` record names, and its key must not be earlier than the sealing (entries
    are keyed when written)."""
    key = summary.cursor or ""
    if checked.manifest is None or checked.manifest_digest is None or not key.startswith(layout.INDEX + "/"):
        return []
    out = []
    if checked.indexed_entry is not None and checked.indexed_entry != key:
        out.append(Finding(CHECK_SIGNATURES, key, f"the bundle's indexed record names the entry {checked.indexed_entry}, "
                           "not this one: the entry was moved or copied", _FIX_MOVED, run_id=summary.run_id))
    expected = summary.expected_of(checked.manifest, checked.manifest_digest, checked.report.key_id).to_dict()
    actual = summary.to_dict()
    wrong = sorted(k for k in set(expected) | set(actual) if expected.get(k) != actual.get(k))
    if wrong:
        out.append(Finding(CHECK_SIGNATURES, key, entry_differences(wrong, expected, actual, "signed manifest"),
                           _ALTERED, run_id=summary.run_id))
    sealed = (checked.manifest.sealed_at or "").replace("+00:00", "Z")
    stamp = key.rsplit("/", 1)[-1][:22]
    try:
        keyed = iso_z(layout.parse_stamp(stamp))
    except ValueError:
        keyed = ""
    if sealed and keyed and keyed[:19] < sealed[:19]:
        out.append(Finding(CHECK_SIGNATURES, key, f"index entry is keyed at {keyed}, before the bundle was sealed ({sealed}): back-dated",
                           _ALTERED, run_id=summary.run_id))
    return out


def _intact_digests(store: Store, checked: CheckedBundle) -> frozenset[str] | None:
    """The digests of the lines (:func:`~prov_common.bundle.events.line_digests`) of the events verification derived the
    run from, as it held them, or as it took them while it folded them in ranged parts when larger
    (``checked.line_digests``), else read again in ranged parts (:func:`~prov_common.bundle.verify.intact_events`:
    events not folded to their end as a bundle is written); None when they are gone or changed since (the next
    verification names that)."""
    if layout.EVENTS_FILE not in checked.intact:
        return None
    if checked.line_digests is not None:  # taken as verification folded them in parts
        return checked.line_digests
    try:
        return line_digests(intact_events(store, checked))
    except (ObjectNotFoundError, UnreadableObjectError, VerificationError):
        return None


def _from_stored_events(store: Store, checked: CheckedBundle, summary: BundleSummary,
                        manifest_digest: str) -> tuple[RunRecord | None, frozenset[str] | None]:
    """The record of a run whose events verification could not derive from (:func:`record_from_events`; None when they
    do not fold: already a finding of verification) and the digests of their lines
    (:func:`~prov_common.bundle.events.line_digests`), taken in one reading of the events as stored
    (:func:`_stored_events`; a second, of the digests alone, when the fold stops before their end); (None, None) when
    they cannot be read."""
    read = _stored_events(store, checked)
    if read is None:
        return None, None
    digests = LineDigests()
    try:
        try:
            record = record_from_events(read(), layout.bundle_key(checked.report.run_id, layout.EVENTS_FILE), summary,
                                        manifest_digest, checked.report.key_id,
                                        checked.manifest.mapping if checked.manifest is not None else None,
                                        digests.line)
            digests.done()
            return record, digests.found
        except (StoreUnavailableError, ObjectNotFoundError, UnreadableObjectError):
            raise
        except TdprovError:  # malformed: a finding of verification; its lines are digested still
            return None, line_digests(read())
    except (ObjectNotFoundError, UnreadableObjectError):  # gone, grown past its listed size: verification names it
        return None, None


def _stored_events(store: Store, checked: CheckedBundle) -> Callable[[], bytes | EventBytes] | None:
    """The events as stored, when verification could not derive from them, each call a new reading: as it read them,
    else (it stopped before them, or hashed them without holding them as no trusted statement vouches for the manifest)
    from the store in ranged parts, no further than the size the manifest lists
    (:func:`~prov_common.bundle.storage.listed_parts`, not checked against its digest: verification names a file that
    is not the one listed); with no manifest, or one that lists none, no further than
    :data:`~prov_common.bundle.layout.SMALL_OBJECT_LIMIT` (verification names the bundle; a file planted there is read
    no further). None when there are none."""
    run_id, manifest = checked.report.run_id, checked.manifest
    if layout.EVENTS_FILE not in checked.objects and manifest is not None and layout.EVENTS_FILE in manifest.by_path:
        return lambda: listed_parts(store, run_id, manifest, layout.EVENTS_FILE, checked=False)
    held = checked.objects[layout.EVENTS_FILE] if layout.EVENTS_FILE in checked.objects else \
        _get(store, layout.bundle_key(run_id, layout.EVENTS_FILE))
    return None if held is None else lambda: held


def current_digests(store: Store, run_id: str) -> tuple[str, str]:
    """The manifest and statement digests of the bundle as it is in the store now."""
    prefix = layout.bundle_prefix(run_id)
    manifest = _get(store, prefix + layout.MANIFEST_FILE)
    statement = _get(store, prefix + layout.STATEMENT_FILE)
    return (
        blake3_digest(manifest) if manifest is not None else MISSING,
        sha256_digest(statement) if statement is not None else MISSING,
    )
