"""``tdprov show RUN_ID``: one run's bundle: events, PROV summary, quality results, signature status."""
from __future__ import annotations

import argparse
import io
from typing import Any

from prov_common.audit.model import schema_said
from prov_common.audit.unfinished import staged_after_sealing
from prov_common.bundle import layout
from prov_common.bundle.build import mapping_key_of, task_instance_of
from prov_common.bundle.claimed import claimed_run, event_listed
from prov_common.bundle.missing import checked_nothing
from prov_common.bundle.model import FILES_SHOWN, task_instance_text
from prov_common.bundle.naming import dataset_shown
from prov_common.bundle.verify import ATTACHMENT_CHUNK, CheckedBundle, verify_and_derive
from prov_common.cli._terminal import one_line
from prov_common.cli._common import add_store_option, add_verb
from prov_common.cli._output import emit_json
from prov_common.cli._runs import resolve_run_id
from prov_common.cli.verify import describe, missing_error
from prov_common.config import Settings
from prov_common.errors import TdprovError
from prov_common.bundle.trust import bundle_trust
from prov_common.store import open_store
from prov_common.store.errors import ObjectNotFoundError, UnreadableObjectError
from prov_common.store.ranges import RangeReader
from prov_common.w3cprov.events import RunState, extent_text, whole_count
from prov_common.w3cprov.identity import DatasetLabels, distinct_labels, utc_text
from prov_common.w3cprov.quality import other_checks, pandera_fault, pandera_outcome, run_test_measurements
from prov_common.w3cprov.serialize import section_counts
from prov_common.text import counted, first_of, job_text

PROV_KINDS = ("entity", "activity", "agent", "used", "wasGeneratedBy", "wasDerivedFrom", "wasAssociatedWith", "specializationOf")


def register(subparsers: Any) -> None:
    parser = add_verb(
        subparsers,
        "show",
        help="show one run's bundle: events, PROV, quality, signature",
        description="Show the lineage bundle of one run: an Airflow task's try and map index, why a failed run failed "
        "(its errorMessage facet), its datasets with rows (and shards), its events, a summary of its PROV document, "
        "Pandera quality results with attached failure samples (passed, FAILED, or NO KNOWN OUTCOME where the facet's "
        "passed, or that of one of its checks, is not true or false, unless it or one of its checks failed: then FAILED, "
        "naming the field all the same), the other checks recorded (a Dagster asset check: passed, "
        "FAILED, or raised an error), its attachments (the first ten, the rest counted; --json lists them all), whether its "
        "bundle verifies as 'tdprov verify RUN_ID' checks it (signature, files, the index entry 'tdprov runs' lists), "
        "and how many events were staged for it after its sealing (in no bundle: 'tdprov audit' names them). A bundle "
        "whose manifest no trusted key vouches for (unsigned, or signed by a key not trusted here) is shown as its "
        "events claim it, marked not verified. "
        "Exit 0 when the bundle verifies, 1 when it is shown with findings, 2 when there is no readable bundle (for a run "
        "with no bundle object, stderr says, as 'tdprov verify RUN_ID' does, whether it was sealed and removed or staged "
        "and never sealed, and what to do; for the id of a parent run, such as a Dagster run whose steps' runs are sealed, "
        "it names those runs, which 'tdprov runs --parent RUN_ID' lists).",
        example="tdprov show 0190c1d2-7e4f-7a00-9b1e-3f6f3c2a9d11",
    )
    parser.add_argument("run_id", metavar="RUN_ID", help="the run: its full id or a unique beginning or ending of at least 8 characters")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    add_store_option(parser)
    parser.set_defaults(func=run)


_UNVERIFIED = "not verified: what the bundle's events claim, see the findings below"
_PANDERA_STATUS = {True: "passed", False: "FAILED", None: "NO KNOWN OUTCOME"}
_CHECK_STATUS = {"pass": "passed", "fail": "FAILED", "error": "RAISED AN ERROR (no outcome)", "skip": "skipped"}


def shown_names(manifest: dict[str, Any], state: RunState | None) -> DatasetLabels:
    """How ``show`` names each dataset of the run (:func:`~prov_common.bundle.naming.dataset_shown`, or
    ``NAMESPACE::NAME`` where another of them is shown alike: :func:`~prov_common.w3cprov.identity.distinct_labels`)."""
    recorded = [(d["namespace"], d["name"]) for side in ("inputs", "outputs") for d in manifest[side]]
    events = [(ds.namespace, ds.name) for ds in (*state.inputs, *state.outputs)] if state is not None else []
    return distinct_labels([*recorded, *events], dataset_shown)


def quality(state: RunState, names: DatasetLabels) -> list[dict[str, Any]]:
    """Pandera results per dataset (inputs and outputs) from the ``tdprov_pandera`` facets: ``passed`` null and a
    ``fault`` saying why where the facet holds no known outcome (its ``passed``, or that of one of its checks, missing or
    not a boolean; false where it, or a check, failed: :func:`~prov_common.w3cprov.quality.pandera_outcome`), as its PROV."""
    rows = []
    for side, datasets in (("input", state.inputs), ("output", state.outputs)):
        for ds in datasets:
            facet = ds.facet("tdprov_pandera")
            if facet:
                fault = pandera_fault(facet)
                rows.append({"side": side, "dataset": names[ds.namespace, ds.name], "schema": facet.get("schemaName"),
                             "passed": pandera_outcome(facet), "fault": fault,
                             "failureCount": facet.get("failureCount"), "samplesFile": facet.get("samplesFile")})
    return rows


def checks(state: RunState, names: DatasetLabels) -> list[dict[str, Any]]:
    """The other checks per dataset (a Dagster asset check, another producer's test) from the standard
    ``dataQualityAssertions`` facets (inputs) and the run's ``test`` facet (outputs), as the PROV states them, less
    those that only repeat a Pandera check (:func:`~prov_common.w3cprov.quality.other_checks`)."""
    tests = run_test_measurements(state)  # once for all its datasets
    return [{"side": side, "dataset": names[ds.namespace, ds.name], "check": m.name, "status": m.status,
             "severity": m.severity, "description": m.description}
            for side, datasets in (("input", state.inputs), ("output", state.outputs))
            for ds in datasets for m in other_checks(state, ds, tests)]


def extents(state: RunState, names: DatasetLabels) -> list[dict[str, Any]]:
    """Rows and shards per dataset (inputs and outputs) from the ``tdprov_contentHash`` facets, where recorded."""
    found = []
    for side, datasets in (("input", state.inputs), ("output", state.outputs)):
        for ds in datasets:
            rows, shards = ds.count("rows"), ds.count("shardCount")
            if rows is not None or shards is not None:
                found.append({"side": side, "dataset": names[ds.namespace, ds.name], "rows": rows, "shards": shards})
    return found


def _prov_counts(store: Any, checked: CheckedBundle) -> dict[str, int]:
    """How many of each kind of PROV statement the bundle's prov.json holds (0 where it holds no object of them), counted
    as it is parsed: as verification read it, else (no trusted statement vouches for its manifest, so verification
    hashed it unheld) in ranged reads no further than the manifest lists, never held (anyone can plant one of any size)."""
    data = checked.objects.get(layout.PROV_FILE)
    if data is not None:
        return section_counts(io.BytesIO(data), PROV_KINDS)
    if checked.manifest is None or layout.PROV_FILE not in checked.manifest.by_path:
        return dict.fromkeys(PROV_KINDS, 0)
    stream = io.BufferedReader(RangeReader(store, layout.bundle_key(checked.report.run_id, layout.PROV_FILE),
                                           checked.manifest.by_path[layout.PROV_FILE].size), ATTACHMENT_CHUNK)
    try:
        return section_counts(stream, PROV_KINDS)
    except (ObjectNotFoundError, UnreadableObjectError):  # gone, or grown past the size listed: a finding shown below
        return dict.fromkeys(PROV_KINDS, 0)


def _failures(value: Any) -> str:
    """A Pandera facet's ``failureCount`` as ``show`` prints it: ``3 failures``, or as recorded when it is no count (any
    producer can send the facet)."""
    count = whole_count(value or 0)
    return counted(count, "failure") if count is not None else f"failureCount {value!r}"


def error_of(state: RunState) -> str | None:
    """The message of the run's ``errorMessage`` facet (why a failed run, such as an Airflow try, failed), if any."""
    message = state.run_facet("errorMessage").get("message")
    return message if isinstance(message, str) and message else None


def gather(store: Any, run_id: str, settings: Settings) -> dict[str, Any]:
    """What ``show`` prints, from one verification pass over the bundle (each object read once)."""
    # the index entry 'tdprov runs' shows is checked too, as 'tdprov verify RUN_ID' checks it
    checked = verify_and_derive(store, run_id, bundle_trust(settings, store), recorded_entry=True)
    report, manifest, derived = checked.report, checked.manifest, checked.derived
    if manifest is None:
        if checked_nothing(report, run_id):  # sealed and removed, or never sealed: what to do differs
            raise missing_error(store, run_id)
        first = report.findings[0] if report.findings else None
        raise ObjectNotFoundError(
            f"no readable bundle for run {run_id} in {store.uri}" + (f": {first}" if first else "") + ".",
            fix="list runs with 'tdprov runs'; 'tdprov verify RUN_ID' names every problem of a bundle",
        )
    state = derived.state if derived is not None else None
    events = [event_listed(e) for e in derived.events] if derived is not None else []
    unlisted, unread = 0, None
    try:  # the manifest is vouched for by no trusted key: what its events claim, folded line by line, marked so
        claimed = claimed_run(store, checked)
    except TdprovError as exc:
        claimed, unread = None, exc.what
    if claimed is not None:
        state, events, unlisted = claimed.state, claimed.events, claimed.unlisted
    recorded = manifest.to_dict()
    names = shown_names(recorded, state)
    return {
        "manifest": recorded,
        "error": error_of(state) if state is not None else None,
        "taskInstance": task_instance_of(state) if state is not None else None,
        "mappingKey": mapping_key_of(state) if state is not None else None,
        "events": events,
        "eventsVerified": derived is not None,
        "eventsUnlisted": unlisted,
        "prov": _prov_counts(store, checked),
        "quality": quality(state, names) if state is not None else [],
        "checks": checks(state, names) if state is not None else [],
        "extents": extents(state, names) if state is not None else [],
        "attachments": sorted(f.path for f in manifest.files if f.path not in layout.RESERVED),
        "verification": report.to_dict(),
        "stagedAfterSealing": staged_after_sealing(store, run_id, manifest.sealed_at),
        "_report": report,
        "_names": names,
        "_unread": unread,
    }


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env(store=args.store)
    store = open_store(settings=settings)
    run_id = resolve_run_id(store, args.run_id, "show")  # a Dagster run's id, as its UI shows it, names the runs sealed
    info = gather(store, run_id, settings)
    report = info.pop("_report")
    names = info.pop("_names")
    unread = info.pop("_unread")
    status = 0 if report.ok else 1  # a bundle that does not verify is a finding
    if args.json:
        emit_json(info, sort_keys=True)
        return status
    m = info["manifest"]
    started = not info["events"] or any(e["eventType"] == "START" for e in info["events"])  # shown when they verify
    out = [f"run {m['runId']}  job {job_text(m['job'])}  {m['state']}",
           f"  started {m['startedAt'] if started else '-'}  ended {m['endedAt'] or '-'}  sealed {m['sealedAt']}"
           + ("" if started else f"  (no START event: the bundle's startedAt, {m['startedAt']}, is its first event's time)")]
    if info["stagedAfterSealing"]:  # the signed PROV stays as sealed; the audit names them
        out.append(f"  {counted(info['stagedAfterSealing'], 'event')} arrived after the seal (not in this bundle; see 'tdprov audit')")
    if m.get("parentRunId"):
        out.append(f"  parent run {m['parentRunId']}")
    if info["taskInstance"]:
        out.append(f"  airflow task instance {task_instance_text(info['taskInstance'])}")
    if info["mappingKey"] is not None:
        out.append(f"  mapping key {one_line(info['mappingKey'])}")
    if info["error"]:
        out.append(f"  error {info['error']}")
    held = {(e["side"] + "s", e["dataset"]): extent_text(e["rows"], e["shards"]) for e in info["extents"]}
    for side in ("inputs", "outputs"):
        out.append(f"{side}:")
        named = [(names[d["namespace"], d["name"]], d["version"] or "-") for d in m[side]]
        out += [f"  {name}  {version}" + (f"  ({held[side, name]})" if held.get((side, name)) else "") for name, version in named] or ["  -"]
    claimed = "" if info["eventsVerified"] or not info["events"] else f" ({_UNVERIFIED})"
    out.append(f"events{claimed}:")
    times = [utc_text(e["eventTime"]) for e in info["events"]]  # --json keeps each as the event wrote it
    width = max(map(len, times), default=0)
    out += [f"  {t:<{width}}  {e['eventType']:<9} {e['producer']}" for t, e in zip(times, info["events"])] or [
        f"  not shown: {unread}" if unread else "  not shown: they do not verify (see the signature findings below)"]
    if info["eventsUnlisted"]:
        out.append(f"  and {counted(info['eventsUnlisted'], 'more event')} not listed")
    out.append("prov: " + ", ".join(f"{n} {k}" for k, n in info["prov"].items() if n))
    out.append("quality (not verified):" if claimed else "quality:")
    out += [f"  {q['side']:<6} {q['dataset']}  {schema_said(q['schema'])}: {_PANDERA_STATUS[q['passed']]}"
            f" ({q['fault'] + '; ' if q['fault'] else ''}{_failures(q['failureCount'])}"
            f"{', samples ' + q['samplesFile'] if q['samplesFile'] else ''})"
            for q in info["quality"]] or ([] if info["checks"] else ["  no Pandera results recorded"])
    out += [f"  {c['side']:<6} {c['dataset']}  {c['check']}: {_CHECK_STATUS.get(c['status'], c['status'])}"
            + (f" ({c['severity']})" if c["severity"] else "") + (f": {c['description']}" if c["description"] else "")
            for c in info["checks"]]
    if info["attachments"]:
        more = len(info["attachments"]) > FILES_SHOWN  # named as the files of one finding are
        out.append("attachments: " + first_of(info["attachments"], FILES_SHOWN) + (" (--json lists them all)" if more else ""))
    out.append("signature:")
    out += ["  " + line.strip() for line in describe(report)]
    print("\n".join(one_line(line) for line in out))
    return status
