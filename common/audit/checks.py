"""Checks over run records: bundles, completeness, quality (pure functions, no I/O).

Every check continues from the :class:`CheckState` an earlier audit left (``None``: from nothing) and
looks at the runs examined now, ``new``; ``index`` holds those runs, the runs upstream of them and
the registered sources. A full audit passes ``None`` and every run: both give the same results.
"""
from __future__ import annotations

from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass, field

from prov_common.audit.lineage import MADE_FROM_NOTHING, NO_INPUTS, LineageIndex, read_time, version_of, version_origin_fix
from prov_common.audit.model import (
    CHECK_COMPLETENESS,
    CHECK_PROV,
    CHECK_QUALITY,
    CHECK_SIGNATURES,
    CHECK_UNFINISHED,
    NOTE,
    RULE_JOB_TYPE,
    CheckResult,
    DatasetUse,
    Finding,
    QualityRow,
    RunRecord,
    schema_said,
)
from prov_common.audit.state import CheckState, OpenLink, TrainingGap
from prov_common.sources.model import SOURCE_NAMESPACE
from prov_common.text import counted, first_of
from prov_common.w3cprov.identity import COMPLETE, VersionKey
from prov_common.w3cprov.quality import PANDERA_FACET

FIX_ORIGIN = (
    "register the origin with 'tdprov source add <data> --name ... --license ... --issuer ...', or record the run that "
    "produced it (write it through the tdprov IO manager / operator so its output is hashed)"
)
FIX_UNVERIFIED_SOURCE = "a source record names this digest but does not verify: see the sources check"
SHOWN_UPSTREAM = 5  # open links upstream that a training run's finding names; the report's JSON lists them all
FIX_NO_INPUTS = ("register the data the run made from no recorded input as a source ('tdprov source add <data> --name ... "
                 "--license ... --issuer ...'), or record what that run read (its inputs, through the tdprov IO manager / operator)")
FIX_ACCEPT = ("a person who has checked it accepts the findings of that run with 'tdprov audit --accept-finding RUN_ID --reason "
              "TEXT' (recorded)")
FIX_UNHASHED = ("the run recorded no content digest for this input: read it through the tdprov IO manager / hook (a source "
                "input is hashed once it is registered with 'tdprov source add'), then re-run the step; the record of this run "
                f"stays without the digest, and this finding with it: {FIX_ACCEPT}")
FIX_TRAINING_INPUTS = ("record what the training run reads, then re-run it: in Dagster an asset argument or deps=[...] on data written "
                       "through the tdprov IO manager or ProvenanceResource.record(...), or record(inputs=...) for data it reads "
                       "otherwise; in Airflow the task's inlets. The record of this run stays without inputs, and this finding with it")
SameFile = Callable[[LineageIndex, Sequence[DatasetUse]], Mapping[tuple[str, str, str], str]]
"""Of the versions with no origin, those that are a file a run wrote under another name -> the fix (see :func:`evaluate`)."""
FIX_QUALITY = (
    "re-run on data that passes its Pandera schema (or fix the schema); to stop this from happening, make the step fail on "
    "Pandera failures"
)
FIX_NO_OUTCOME = ("validate the version again with a producer that records its outcome, then re-run what used it if it "
                  "failed; to stop this from happening, make the step fail on Pandera failures")
FIX_PANDERA_FAULT = ("fix what emitted the run's events so that tdprov_pandera.passed, and the passed of each of its checks, is "
                     "true or false (the PanderaDatasetFacet schema, docs/events.md), then re-run the step or task to record "
                     "the validation again; until a run records its outcome the version does not count as passed, and this "
                     "record stays as it is")
FIX_PANDERA_CONTRADICTION = (
    "find what set tdprov_pandera.passed, or a check's, true beside a check whose passed is false or a failureCount other "
    "than 0, or false with a failureCount of 0 and no failed check (another producer, an event changed before it was "
    "sealed) and fix it so that passed is false when, and only when, any of its checks failed or found failure cases, "
    "and every passed is true or false (docs/events.md); the version counts as failed: re-run on data that passes its "
    "Pandera schema; this record stays as it is")
FIX_CHECK = ("re-run on data that passes its checks (or fix the check that failed or raised); to stop this from happening, "
             "make the check blocking (@asset_check(blocking=True)): its failure then fails the step and blocks what reads it")


def _fix_before_source(runs: Sequence[str]) -> str:
    """The fix of a finding about ``runs`` that read a source by name before it was registered."""
    accept = " ".join(f"--accept-finding {r}" for r in sorted(set(runs)))
    return ("the run read the source before it was registered, so its record names the source without a digest, and keeps "
            f"doing so (runs since trace to it): a person who has checked it accepts this with 'tdprov audit {accept} --reason "
            "TEXT' (recorded)")


@dataclass
class Evaluation:
    """The checks over runs, the report's quality rows, and the state the next audit continues from."""

    checks: list[CheckResult]
    quality_rows: list[QualityRow]
    state: CheckState = field(default_factory=CheckState)
    unverified: frozenset[str] = frozenset()  # digests (hex) of source records that do not verify (see :func:`evaluate`)
    same_file: Mapping[tuple[str, str, str], str] = field(default_factory=dict)  # see :func:`evaluate`
    # the findings of refused staged objects in the runs' bundles (unended.refused_in_bundle), carried for the runs not
    # examined now: the audit's unfinished check names them
    unfinished: list[Finding] = field(default_factory=list)

    def check(self, name: str) -> CheckResult:
        return next(c for c in self.checks if c.name == name)

    def forget(self, findings: Container[Finding]) -> None:
        """Drop ``findings``, carried from the previous state, from the checks and from the state the next audit continues
        from (a planted file that is gone from a bundle that verifies again)."""
        for c in self.checks:
            c.findings = [f for f in c.findings if f not in findings]
        self.state.findings = [f for f in self.state.findings if f not in findings]


def evaluate(previous: CheckState | None, new: Sequence[RunRecord], index: LineageIndex, *,
             unverified: frozenset[str] = frozenset(), same_file: SameFile | None = None) -> Evaluation:
    """Signatures and PROV, completeness and quality after ``previous``, with the ``new`` runs. ``unverified``: digests
    (hex) that source records name but that do not verify (their completeness findings say so, not "register it").
    ``same_file(index, datasets)``: of the versions with no origin, those that are a file a run wrote under another name
    (:func:`~prov_common.audit.same_file.same_file_writers`, which looks at the file system), with the fix saying so."""
    before = previous or CheckState()
    ids = {r.run_id for r in new}
    kept = [f for f in before.findings if f.run_id not in ids]
    sig, prov = _bundle_checks(before, kept, new)
    broken, gaps = _links(before, ids, new, index)
    same = same_file(index, [x.dataset for x in broken] + [g.link.dataset for g in gaps]) if same_file else {}
    quality, rows, quality_findings, passed = _quality(before, kept, new, index)
    noted = [f for f in kept if f.check == CHECK_COMPLETENESS] + [f for r in new for f in r.bundle_findings
                                                                  if f.check == CHECK_COMPLETENESS]
    completeness = CheckResult(CHECK_COMPLETENESS, completeness_findings(broken, gaps, registered_names(index), unverified, same) + noted,
                               before.checked.get(CHECK_COMPLETENESS, 0) + len(new))
    refused = [f for f in kept if f.check == CHECK_UNFINISHED] + [f for r in new for f in r.refusals]
    state = CheckState(
        runs=before.runs + len(new), training_runs=before.training_runs + sum(1 for r in new if r.is_training),
        checked={c.name: c.checked for c in (sig, prov, completeness, quality)},
        findings=sig.findings + prov.findings + quality_findings + noted + refused,
        broken=broken, gaps=gaps, failing=[r for r in rows if r.failed], passed_versions=passed,
    )
    return Evaluation([sig, prov, completeness, quality], rows, state, unverified, same, refused)


def _bundle_checks(before: CheckState, kept: list[Finding], new: Sequence[RunRecord]) -> tuple[CheckResult, CheckResult]:
    """Signatures/manifests and PROV results from each bundle's verification when it was logged (a run's
    completeness notes, also found then, go to the completeness check)."""
    sig = CheckResult(CHECK_SIGNATURES, checked=before.checked.get(CHECK_SIGNATURES, 0) + len(new))
    prov = CheckResult(CHECK_PROV, checked=before.checked.get(CHECK_PROV, 0) + len(new))
    found = [f for r in new for f in r.bundle_findings if f.check != CHECK_COMPLETENESS]
    for f in [f for f in kept if f.check in (CHECK_SIGNATURES, CHECK_PROV)] + found:
        (prov if f.check == CHECK_PROV else sig).findings.append(f)
    return sig, prov


def _link(link_run: RunRecord, dataset: DatasetUse, reason: str) -> OpenLink:
    return OpenLink(link_run.run_id, link_run.job, link_run.index_key, dataset, reason, link_run.is_training, read_time(link_run))


def _gaps(run_id: str, job: str, input_label: str, dataset: DatasetUse, reader: str, index: LineageIndex) -> list[TrainingGap]:
    """The broken links upstream of ``dataset`` as run ``reader`` read it, on the way to input
    ``input_label`` of training run ``run_id``."""
    return [TrainingGap(run_id, job, input_label, _link(index.runs[x.run_id], x.dataset, x.reason))
            for x in index.trace(dataset, index.runs.get(reader)).broken if x.run_id != run_id]


def _links(before: CheckState, ids: set[str], new: Sequence[RunRecord], index: LineageIndex) -> tuple[list[OpenLink], list[TrainingGap]]:
    """Inputs with no origin, and training runs with such inputs upstream: earlier ones that stay open, and the new runs'."""
    def still_open(x: OpenLink) -> bool:
        return not index.has_origin(x.dataset, x.run_id, x.read_at)

    def now_generated(x: OpenLink) -> bool:  # a new run generated what the link's run read, before it read it
        return index.generation_read(x.dataset, x.run_id, x.read_at) is not None

    earlier = [x for x in before.broken if x.run_id not in ids]
    broken = [x for x in earlier if still_open(x)]
    broken += [_link(r, x.dataset, x.reason) for r in new for x in index.broken_inputs(r)]
    open_links = {x.ident for x in broken}
    gaps: list[TrainingGap] = []
    for x in earlier:  # a training run's own input that a new run generated: the links upstream of that run are its gaps now
        if x.training and now_generated(x):
            gaps += _gaps(x.run_id, x.job, x.dataset.label, x.dataset, x.run_id, index)
    for g in before.gaps:
        if g.run_id in ids:
            continue
        if g.run_id == g.link.run_id:  # a training run that recorded no inputs: its record never gains any
            gaps.append(g)
        elif g.link.ident in open_links or (g.link.reason in MADE_FROM_NOTHING and index.unsourced(g.link.dataset)):
            gaps.append(g)
        elif now_generated(g.link):  # a new run generated it: follow that run upstream
            gaps += _gaps(g.run_id, g.job, g.input_label, g.link.dataset, g.link.run_id, index)
    for run in new:
        if run.is_training:
            gaps += [gap for d in run.inputs if d.version for gap in _gaps(run.run_id, run.job, d.label, d, run.run_id, index)]
            gaps += _no_training_inputs(run)
    return sorted(broken, key=lambda x: (x.index_key, x.run_id)), _unique(gaps)


def _no_training_inputs(run: RunRecord) -> list[TrainingGap]:
    """A training run that recorded no inputs made what it made from no recorded input (:data:`NO_INPUTS`, a gap of
    its own: the link is the run itself), one gap per output; a run with no output either names its job, a stand-in
    with no version that no label or listing takes for a dataset (:attr:`TrainingGap.made_nothing`)."""
    if run.inputs:
        return []
    made = [d for d in run.outputs if d.version] or [DatasetUse(run.job_namespace, run.job_name)]
    return [TrainingGap(run.run_id, run.job, "", _link(run, d, NO_INPUTS)) for d in made]


def _unique(gaps: list[TrainingGap]) -> list[TrainingGap]:
    seen: dict[tuple, TrainingGap] = {}
    for g in gaps:
        seen.setdefault((g.run_id, g.input_label, g.link.ident), g)
    return list(seen.values())


def _no_origin_fix(links: Sequence[OpenLink], unverified: frozenset[str], same_file: Mapping[tuple[str, str, str], str]) -> str:
    """The fix for open links: for content a run that recorded no inputs made (:data:`NO_INPUTS`), :data:`FIX_NO_INPUTS`;
    for those that are a file a run wrote under another name, say so; for a version that is no content digest,
    :func:`~prov_common.audit.lineage.version_origin_fix` (by the link's reason); for the others :func:`_origin_fix`."""
    made: list[str] = []  # the labels of content made from no recorded input
    files: dict[str, None] = {}  # the fixes of files a run wrote under another name
    opaque: dict[str, None] = {}  # the fixes of versions that are no content digest
    rest: list[str | None] = []
    for x in links:
        d = x.dataset
        if x.reason == NO_INPUTS:
            made.append(f"{d.label}@{d.version}")
        elif (file := same_file.get(version_of(d))) is not None:
            files[file] = None
        elif not d.names_content:
            fix = version_origin_fix(d, x.reason)
            opaque[f"for {d.label}@{d.version}: {fix}" if len(links) > 1 else fix] = None
        else:
            rest.append(d.version)
    made_fix = ([FIX_NO_INPUTS if len(made) == len(links) else f"for {', '.join(sorted(set(made)))}: {FIX_NO_INPUTS}"]
                if made else [])
    named = [*made_fix, *files, *opaque]
    return "; ".join(named + ([f"for the others: {_origin_fix(rest, unverified)}" if named else _origin_fix(rest, unverified)] if rest else []))


def _origin_fix(versions: Sequence[str | None], unverified: frozenset[str]) -> str:
    """The fix for inputs with no origin at ``versions``: register it, unless a source record that does not verify names
    their digest (every one, or some: then both)."""
    named = [v for v in versions if v and v.split(":", 1)[-1] in unverified]
    if not named:
        return FIX_ORIGIN
    return FIX_UNVERIFIED_SOURCE if len(named) == len(versions) else f"{FIX_UNVERIFIED_SOURCE} ({', '.join(named)}); for the others: {FIX_ORIGIN}"


def registered_names(index: LineageIndex) -> set[str]:
    """The names of the registered sources in ``index``."""
    return {s.name for records in index.sources.values() for s in records}


def _before_source(link: OpenLink, registered: Container[str]) -> str | None:
    """The source a link's run read by name, with no digest, that is registered now (it read it before), else None."""
    d = link.dataset
    return d.name if not d.version and d.namespace == SOURCE_NAMESPACE and d.name in registered else None


def completeness_findings(broken: Sequence[OpenLink], gaps: Sequence[TrainingGap], registered: Container[str] = (),
                          unverified: frozenset[str] = frozenset(),
                          same_file: Mapping[tuple[str, str, str], str] | None = None) -> list[Finding]:
    """The completeness findings of open links and training gaps: one per link, one per training run with gaps.
    ``registered``: names of registered sources (a link that read one by name, with no digest, read it before it was
    registered: said so). ``unverified``: digests (hex) that source records name but that do not verify (said so, not
    "register it"). ``same_file``: versions that are a file a run wrote under another name -> the fix that says so."""
    same_file = same_file or {}
    out = []
    for x in broken:
        d = x.dataset
        source = _before_source(x, registered)
        before = f" (the run read it before source '{source}' was registered)" if source else ""
        out.append(Finding(CHECK_COMPLETENESS, f"{d.label}@{d.version or 'unversioned'}",
                           f"run {x.run_id} ({x.job}) used {d.label} version {d.version or '(none)'}: {x.reason}{before}",
                           _fix_before_source([x.run_id]) if source else FIX_UNHASHED if not d.version else _no_origin_fix([x], unverified, same_file),
                           run_id=x.run_id))
    by_run: dict[str, list[TrainingGap]] = {}
    for g in gaps:
        by_run.setdefault(g.run_id, []).append(g)
    for run_id, mine in by_run.items():
        if mine[0].link.run_id == run_id:  # the training run itself recorded no inputs (_no_training_inputs)
            made = sorted(f"{g.link.dataset.label}@{g.link.dataset.version}" for g in mine if g.link.dataset.version)
            out.append(Finding(CHECK_COMPLETENESS, f"run {run_id}",
                               f"training run {run_id} ({mine[0].job}) recorded no inputs: the data it trained on is not recorded"
                               + (f" (it made {', '.join(made)})" if made else ""), FIX_TRAINING_INPUTS, run_id=run_id))
            continue
        sources = {id(g): _before_source(g.link, registered) for g in mine}
        upstream = sorted({f"{g.input_label} <- run {g.link.run_id} ({g.link.job}) "
                           f"{'made from no recorded input' if g.link.reason in MADE_FROM_NOTHING else 'input'} "
                           f"{g.link.dataset.label}@{g.link.dataset.version or 'unversioned'}"
                           + (f" (run {g.link.run_id} read it before source '{sources[id(g)]}' was registered)" if sources[id(g)] else "")
                           for g in mine})
        fix = (_fix_before_source([g.link.run_id for g in mine]) if all(sources.values())
               else _no_origin_fix([g.link for g in mine], unverified, same_file))
        long = len(upstream) > SHOWN_UPSTREAM
        listed = (f"{counted(len({g.input_label for g in mine}), 'input')} through {counted(len(upstream), 'open link')} "
                  f"upstream, first {first_of(upstream, SHOWN_UPSTREAM, '; ')} (the report's JSON lists them all as 'items')"
                  if long else "; ".join(upstream))
        out.append(Finding(CHECK_COMPLETENESS, f"run {run_id}",
                           f"training run {run_id} ({mine[0].job}) has inputs that do not trace back to a source: {listed}",
                           fix, run_id=run_id, items=tuple(upstream) if long else ()))
    return out


def _only_checked(run: RunRecord, d: DatasetUse) -> bool:
    """Whether ``run`` read ``d`` only to validate it: it recorded a result on what it read (a Pandera operator or check)
    and made nothing of it, so it is the version's checker, not a consumer. A run that validated what it read and went
    on (``on_failure="warn"``), completing with an output or marked as training, used it."""
    went_on = run.state == COMPLETE and (bool(run.outputs) or run.training_rule == RULE_JOB_TYPE)
    return d.checked and not went_on


def _used_fix(d: DatasetUse) -> str:
    """The fix of a finding of a run that used ``d`` while it failed (or has no known outcome of its Pandera schema)."""
    q = d.quality
    return FIX_CHECK if q is None or q.passed else FIX_QUALITY if q.passed is False else FIX_NO_OUTCOME


def _faults(new: Sequence[RunRecord]) -> list[Finding]:
    """A finding for each dataset version a run recorded a Pandera result of with no outcome (its ``passed``, or that of
    one of its checks, missing or not a boolean; one that failed all the same: with a check of no outcome, or by a failed
    check with no outcome of its own), or that contradicts itself (its ``passed``, or a check's, true while a check failed
    or with failure cases counted, or its own false with none counted and no check failed: failed):
    naming the run, the dataset, the check and the field, once a run and version."""
    found: dict[tuple[str, str], Finding] = {}
    for run in new:
        for role, d in [*(("output", d) for d in run.outputs), *(("input", d) for d in run.inputs)]:
            q = d.quality
            if q is not None and q.fault and (run.run_id, f"{d.label}@{d.version}") not in found:
                lacking = ("with no outcome" if q.passed is not False else "that contradicts itself" if q.contradicts
                           else "that failed by its checks, with no outcome of its own"
                           if q.fault.startswith(f"{PANDERA_FACET}.passed ") else "that failed, with a check of no outcome")
                found[run.run_id, f"{d.label}@{d.version}"] = Finding(
                    CHECK_QUALITY, f"{d.label}@{d.version}",
                    f"run {run.run_id} ({run.job}) recorded a Pandera result of {role} {d.label} version {d.version} "
                    f"(schema {schema_said(q.schema)}) {lacking}: {q.fault}; not counted as passed",
                    FIX_PANDERA_CONTRADICTION if q.contradicts else FIX_PANDERA_FAULT, run_id=run.run_id)
    return list(found.values())


def _quality(before: CheckState, kept: list[Finding], new: Sequence[RunRecord],
             index: LineageIndex) -> tuple[CheckResult, list[QualityRow], list[Finding], int]:
    """Versions whose Pandera validation or other check (a Dagster asset check) failed, or whose check raised, and the
    runs that used them anyway: the new runs, and the runs
    examined before whose version a new run recorded a result of (validated after they read it, or delivered late)."""
    result = CheckResult(CHECK_QUALITY, checked=before.checked.get(CHECK_QUALITY, 0))
    rows: dict[VersionKey, QualityRow] = {r.key: QualityRow(r.dataset, list(r.recorded_by), list(r.used_by)) for r in before.failing}
    recorded = {key: set(row.recorded_by) for key, row in rows.items()}  # a source read by thousands of runs: no list scans
    users = {key: set(row.used_by) for key, row in rows.items()}
    seen_new: set[VersionKey] = set()
    for run in new:
        for d in [*run.outputs, *run.inputs]:
            if not d.checked:
                continue
            result.checked += 1
            row = rows.setdefault(version_of(d), QualityRow(d))
            seen_new.add(row.key)
            if row.dataset is not d:  # a failing Pandera result wins over a passing one; every other check is kept
                row.dataset = row.dataset.with_results_of(d)
            if run.run_id not in recorded.setdefault(row.key, set()):
                recorded[row.key].add(run.run_id)
                row.recorded_by.append(run.run_id)
    used = [f for f in kept if f.check == CHECK_QUALITY and f.severity != NOTE] + _faults(new)
    ids = {r.run_id for r in new}
    earlier = [(run, d) for key in sorted(seen_new) if rows[key].failed for run, d in index.used_by.get(key, ())
               if run.run_id not in ids and run.run_id not in users.get(key, ())]  # those named before keep their finding
    for run, d in [*((run, d) for run in new for d in run.inputs), *earlier]:
        row = rows.get(version_of(d))
        if row is None or not row.failed or _only_checked(run, d):
            continue
        if run.run_id not in users.setdefault(row.key, set()):
            users[row.key].add(run.run_id)
            row.used_by.append(run.run_id)
        used.append(Finding(CHECK_QUALITY, f"{d.label}@{d.version}",
                            f"run {run.run_id} ({run.job}) used {d.label} version {d.version}, which "
                            f"{'; '.join(row.dataset.failures())}",
                            _used_fix(row.dataset), run_id=run.run_id))
    result.findings = list(used)
    for row in rows.values():
        if row.failed and not row.used_by:
            q = row.dataset.quality
            said = [f"failed Pandera schema {schema_said(q.schema)}" if q.passed is False else q.said()] if q is not None and not q.passed else []
            result.findings.append(Finding(CHECK_QUALITY, f"{row.dataset.label}@{row.dataset.version}",
                                           f"{row.dataset.label} version {row.dataset.version} "
                                           f"{'; '.join(said + [c.said() for c in row.dataset.checks if c.failed])}; "
                                           "no recorded run used it", "nothing to do unless a run uses it", severity=NOTE))
    passed = before.passed_versions + sum(1 for k in seen_new if not rows[k].failed)
    ordered = sorted(rows.values(), key=lambda r: (not r.failed, r.dataset.label, r.key))
    return result, ordered, used, passed
