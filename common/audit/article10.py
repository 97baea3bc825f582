"""EU AI Act Article 10 items for one training dataset: what the records show, or the gap and the
command or option that would record it (no I/O).

Items: 10(2)(a)-(h), 10(3) and 10(5). tdprov records data (sources, runs, digests, rows, Pandera
results, personal-data declarations); design choices, bias examinations and the like are documented
elsewhere, and the report says so instead of leaving the item out.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prov_common.audit.lineage import Trace, version_of
from prov_common.audit.model import RULE_TEXT, DatasetUse, RunRecord, schema_said
from prov_common.audit.quality_gaps import failed_validation
from prov_common.sources.merged import SourceVersion
from prov_common.sources.model import ALL_COLUMNS, SourceRecord
from prov_common.sources.dta import UNKNOWN
from prov_common.text import counted, job_text

SOURCE_ADD = "tdprov source add"
FIX_HASHED = "write it through the tdprov IO manager (Dagster) or the provenance operator/hook (Airflow)"
FIX_SCHEMA = "declare a Pandera schema: provenance_asset(schema=...) in Dagster, the Pandera operator or schema= option in Airflow"
FIX_BIAS = ("add the examination as a Pandera check on the data (e.g. group proportions or label balance per group), so its "
            "result is recorded with every version")


@dataclass
class Item:
    """One Article 10 item: what the records show and the gaps (each naming what would record it)."""

    ref: str
    title: str
    shows: list[str] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"item": self.ref, "title": self.title, "recordsShow": self.shows, "gaps": self.gaps}


def _timeframe(s: SourceRecord) -> str:
    """When a source was collected, as the record says it ("2025-01-01 to 2025-03-31", "until 1995-11-01, start not
    recorded")."""
    start, end = s.collection_start, s.collection_end
    if start and end:
        return f"{start} to {end}"
    if start or end:
        return f"from {start}, end not recorded" if start else f"until {end}, start not recorded"
    return "at times not recorded"


def _rows(d: DatasetUse) -> str:
    return f"{d.label}@{d.version or 'unversioned'}: " + (d.extent if d.rows is not None else "row count not recorded")


def _design(run: RunRecord, sources: list[SourceVersion]) -> Item:
    item = Item("10(2)(a)", "Relevant design choices")
    rule = RULE_TEXT.get(run.training_rule or "", "a training run")
    item.shows.append(f"training job {run.job}, {rule}; it read {', '.join(f'{d.label}@{d.version}' for d in run.inputs) or 'nothing recorded'}")
    item.shows += [f"{v.label} intended use: {v.record.intended_use}" for v in sources if v.record.intended_use]
    item.gaps += [f"{v.label} records no intended use ({SOURCE_ADD} --intended-use)" for v in sources if not v.record.intended_use]
    item.gaps.append("design choices beyond the data are not part of provenance records: document them with the model")
    return item


def _collection(sources: list[SourceVersion]) -> Item:
    item = Item("10(2)(b)", "Data collection processes, origin of data, original purpose of personal data")
    for v in sources:
        s = v.record
        item.shows.append(f"{v.quoted} issued by {s.issuer} under {s.license}; method {s.generation_method or UNKNOWN}; collected "
                          f"{_timeframe(s)}; origin {', '.join(s.origin_geography) or UNKNOWN}; location {s.location or UNKNOWN}")
        missing = [option for value, option in ((s.generation_method, "--generation-method"), (s.collection_start, "--collection-start"),
                                                (s.collection_end, "--collection-end"), (s.origin_geography, "--origin-geography")) if not value]
        if missing:
            item.gaps.append(f"{v.label} does not record its collection: {SOURCE_ADD} {' '.join(missing)}")
        if s.personal and not s.intended_use:
            item.gaps.append(f"{v.label} holds personal data but records no original purpose ({SOURCE_ADD} --intended-use)")
    if not sources:
        item.gaps.append(f"no registered source: the origin is not documented ({SOURCE_ADD} <data> --name ... --license ... --issuer ...)")
    return item


def _preparation(steps: list[dict[str, Any]]) -> Item:
    item = Item("10(2)(c)", "Data-preparation processing operations (annotation, labelling, cleaning, updating, enrichment, aggregation)")
    item.shows += [f"{job_text(s['job'])} (run {s['runId']}, {s['state']})" for s in steps]
    if not steps:
        item.gaps.append(f"no recorded preparation run: {FIX_HASHED}")
    item.gaps.append("labelling procedures are not recorded as such: record labelling as a step of its own so it appears here")
    return item


def _assumptions(sources: list[SourceVersion], quality: list[dict[str, Any]]) -> Item:
    item = Item("10(2)(d)", "Assumptions: what the data is supposed to measure and represent")
    item.shows += [f"{v.label}: {v.record.description}" for v in sources if v.record.description]
    schemas = sorted({q["schema"] for q in quality if q.get("schema")})
    item.shows += [f"Pandera schema {name} states the columns, types and value ranges assumed" for name in schemas]
    item.gaps += [f"{v.label} has no description ({SOURCE_ADD} --description)" for v in sources if not v.record.description]
    if not schemas:
        item.gaps.append(f"no schema states what the data holds: {FIX_SCHEMA}")
    return item


def _quantity(d: DatasetUse, trace: Trace, sources: list[SourceVersion]) -> Item:
    item = Item("10(2)(e)", "Availability, quantity and suitability of the data sets")
    versions = [d, *(v for v in trace.versions if version_of(v) != version_of(d))]
    registered = {s.record.digest: s for s in sources if s.record.rows is not None}  # a version that is a registered source: its rows are known
    item.shows += [_rows(v) for v in versions if v.rows is not None]
    item.shows += [f"{v.label}@{v.version}: {counted(registered[v.version].record.rows, 'row')} (as registered source "
                   f"{registered[v.version].quoted})" for v in versions if v.rows is None and v.version in registered]
    item.shows += [f"{v.label}: " + ", ".join(filter(None, [counted(v.record.rows, "row") if v.record.rows is not None else "",
                                                             counted(v.record.bytes, "byte") if v.record.bytes is not None else ""]))
                   for v in sources if v.record.rows is not None or v.record.bytes is not None]
    item.gaps += [f"{v.label}@{v.version or 'unversioned'}: row count not recorded ({FIX_HASHED})"
                  for v in versions if v.rows is None and v.version not in registered]
    return item


def _kinds(quality: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The Pandera results and the other checks' results (:func:`~prov_common.audit.quality_gaps.quality_results`)."""
    return [q for q in quality if q.get("check") is None], [q for q in quality if q.get("check") is not None]


def _biases(quality: list[dict[str, Any]]) -> list[Item]:
    examined = Item("10(2)(f)", "Examination in view of possible biases")
    measures = Item("10(2)(g)", "Measures to detect, prevent and mitigate possible biases")
    pandera, others = _kinds(quality)
    if quality:
        examined.shows.append(f"{counted(len(pandera), 'Pandera validation result')}"
                              + (f" and {counted(len(others), 'other check result')} (a Dagster asset check)" if others else "")
                              + " recorded along the lineage (see 10(3))")
    examined.gaps.append(f"no bias examination is recorded as such: {FIX_BIAS}")
    measures.gaps.append("measures taken are not part of provenance records: document them with the model; a measure made a "
                         "Pandera check that blocks the step (quality_policy='block') has its results recorded here")
    return [examined, measures]


def _shortcomings(gaps: list[str]) -> Item:
    return Item("10(2)(h)", "Data gaps and shortcomings, and how they can be addressed", gaps=list(gaps))


def _quality(quality: list[dict[str, Any]], trace: Trace, d: DatasetUse, sources: list[SourceVersion]) -> Item:
    item = Item("10(3)", "Relevant, sufficiently representative, free of errors and complete")
    pandera, others = _kinds(quality)
    failed = [q for q in pandera if q["passed"] is False]
    unknown = [q for q in pandera if q["passed"] is None]
    if quality:
        said = [f"{counted(len(pandera) - len(failed) - len(unknown), 'Pandera validation')} passed, {len(failed)} failed"
                + (f", {len(unknown)} with no known outcome" if unknown else "")
                + "".join(f"; {q['dataset']} failed {schema_said(q['schema'])} ({counted(q['failureCount'], 'failure')})" for q in failed)
                + "".join(f"; {failed_validation(q)}" for q in unknown)]
        if others:
            bad = [q for q in others if q["status"] in ("fail", "error")]
            raised = sum(1 for q in bad if q["status"] == "error")
            said.append(f"{counted(sum(1 for q in others if q['passed']), 'other check')} passed, {len(bad) - raised} failed"
                        + (f", {raised} raised an error" if raised else "") + "".join(f"; {failed_validation(q)}" for q in bad))
        item.shows.append("free of errors: " + "; ".join(said))
    else:
        item.gaps.append(f"free of errors: no validation recorded along this lineage ({FIX_SCHEMA})")
    complete = trace.complete and bool(sources)
    item.shows.append(f"complete: lineage {'traces' if complete else 'does not trace'} back to registered sources"
                      + (f"; {d.extent} in the training version" if d.rows is not None else ""))
    item.shows += [f"representative: {v.quoted} covers {', '.join(v.record.origin_geography) or 'an unrecorded geography'}, "
                   f"collected {_timeframe(v.record)}" for v in sources]
    item.gaps.append(f"representativeness for the intended population is not assessed by the records: {FIX_BIAS}")
    return item


def _personal(sources: list[SourceVersion]) -> Item:
    item = Item("10(5)", "Special categories of personal data")
    for v in sources:
        s = v.record
        if s.personal_data is None and not s.personal_columns:
            item.gaps.append(f"{v.label} does not say whether it holds personal data ({SOURCE_ADD} --personal-data none|personal|"
                             "sensitive|pseudonymised|anonymised, --personal-columns)")
            continue
        masked = s.masked_columns
        shown = [f"{v.label}: personal data {s.personal_data or 'declared by column'}"]
        if s.personal_columns:
            shown.append(f"personal columns {', '.join(s.personal_columns)}")
        if masked:
            shown.append("failure samples mask " + ("every column" if masked == (ALL_COLUMNS,) else ", ".join(masked)))
        if s.privacy_technologies:
            shown.append(f"privacy technologies {', '.join(s.privacy_technologies)}")
        if s.consent:
            shown.append(f"consent documented at {s.consent}")
        if s.legal_basis:
            shown.append(f"legal basis {s.legal_basis}")
        item.shows.append("; ".join(shown))
        if s.personal and not (s.consent or s.legal_basis):
            item.gaps.append(f"{v.label} holds personal data without documented consent or legal basis (a finding; "
                             f"{SOURCE_ADD} --consent URI or --legal-basis TEXT)")
        if s.personal_data == "sensitive" and not s.privacy_technologies:
            item.gaps.append(f"{v.label} holds special categories of personal data: record the safeguards applied "
                             f"({SOURCE_ADD} --privacy-technology, repeatable)")
    if not sources:
        item.gaps.append(f"no registered source, so no declaration about personal data ({SOURCE_ADD} <data> ... --personal-data)")
    return item


def article10_items(run: RunRecord, d: DatasetUse, trace: Trace, steps: list[dict[str, Any]], quality: list[dict[str, Any]],
                    gaps: list[str], sources: list[SourceVersion]) -> list[dict[str, Any]]:
    """Article 10(2)(a)-(h), 10(3) and 10(5) for training dataset ``d`` as ``run`` read it; ``sources``: the registered
    sources on its lineage, one per digest, each read with every record of its digest."""
    items = [_design(run, sources), _collection(sources), _preparation(steps), _assumptions(sources, quality),
             _quantity(d, trace, sources), *_biases(quality), _shortcomings(gaps), _quality(quality, trace, d, sources),
             _personal(sources)]
    return [i.to_dict() for i in items]
