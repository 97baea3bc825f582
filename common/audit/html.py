"""The audit report as one self-contained HTML page (inline CSS and SVG, no scripts, no downloads),
laid out to fit the screen and to print: nothing wider than the page, tables that wrap."""
from __future__ import annotations

from collections import Counter
import html
import re
from typing import Any

from prov_common.audit.model import RULE_JOB_NAME, RULE_JOB_TYPE, RULE_TEXT
from prov_common.audit.result import scope_note
from prov_common.audit.untrusted import untrusted_lines
from prov_common.text import counted, job_text, visible

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1200px;padding:0 1rem;color:#0f172a;line-height:1.4}
h1,h2,h3,h4,p{overflow-wrap:anywhere}
h1{margin-bottom:.2rem} h2{border-bottom:2px solid #e2e8f0;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #e2e8f0;padding:.3rem .5rem;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#f8fafc;overflow-wrap:normal} code{font-size:.85em;overflow-wrap:anywhere} code.run,span.name{overflow-wrap:normal}
table.fields th{width:14rem} table.article10 td:first-child{width:8rem;overflow-wrap:normal}
.pass{color:#166534;font-weight:bold} .fail{color:#b91c1c;font-weight:bold} .skipped{color:#64748b} .pass,.fail,.skipped,.whole{white-space:nowrap}
.banner{padding:1rem;border-radius:8px;font-size:1.2rem;margin:1rem 0} .ok{background:#dcfce7} .bad{background:#fee2e2} .noted{background:#fef9c3}
.note{color:#64748b} .gap{color:#92400e} ul.plain{margin:.2rem 0;padding-left:1.1rem}
figure.picture{margin:.5rem 0;border:1px solid #e2e8f0;padding:.5rem} figure.picture svg{display:block;max-width:100%;height:auto;margin:0 auto}
figcaption{color:#64748b;font-size:.85rem}
section.dataset{border:1px solid #cbd5e1;border-radius:8px;padding:0 1rem 1rem;margin:1rem 0}
@page{size:A4;margin:14mm}
@media print{
 body{margin:0;max-width:none;padding:0;font-size:10pt}
 h2,h3,h4{break-after:avoid} tr,.banner,figure.picture{break-inside:avoid} thead{display:table-header-group}
 figure.picture{border:none;padding:0} h2.training{break-before:page} section.dataset{border:none;padding:0}
}
"""


def _shown(text: str) -> str:
    """``text`` for the page: HTML-escaped, with bidi controls and zero-width characters shown escaped as the CLI shows
    them (a recorded name cannot reorder a heading or pass for another name)."""
    return html.escape(visible(text))


def _e(value: Any) -> str:
    if value is None or value == [] or value == "":
        return '<span class="note">—</span>'
    if isinstance(value, (list, tuple)):
        return ", ".join(_shown(str(v)) for v in value if v is not None) or '<span class="note">—</span>'
    return _shown(str(value))


WHOLE_UP_TO = 32
"""Characters at most of a value kept unbroken (a state, a time; a run id's part between hyphens): a longer one,
which another producer may record, wraps anywhere, so that no table grows wider than the page."""


def _whole(value: Any) -> str:
    """A short value shown unbroken (a run's state, a time): a table squeezed by long digests beside it broke
    COMPLETE into COMPL / ETE."""
    return f'<span class="whole">{_e(value)}</span>' if len(str(value)) <= WHOLE_UP_TO else _e(value)


TIME_BREAK = re.compile(r"(?<=\dT)(?=\d)")
"""Where a time may break: between its date and its time of day (2026-12-05T / 15:59:49.290483Z)."""


def _time(value: Any) -> str:
    """A time shown as its date and its time of day, each unbroken (:func:`_whole`): beside a run id, a job name and
    a state kept whole, a time that could not break made a narrow window scroll sideways."""
    return "<wbr>".join(map(_whole, TIME_BREAK.split(str(value), maxsplit=1))) if value else _e(value)


def _run_id(value: Any) -> str:
    """A run id, broken only after its hyphens (a UUID's groups), never inside one."""
    whole = max(map(len, str(value).split("-"))) <= WHOLE_UP_TO
    return f'<code class="run">{_e(value)}</code>' if whole else f"<code>{_e(value)}</code>"


NAME_BREAKS = re.compile(r"(?<=[/._:-])(?![/._:-])")
"""Where a job name may break: after a run of separators ('dagster://', 'default/', 'breast_', 'training.')."""


def _name(value: Any) -> str:
    """A job name, broken only after its separators (:data:`NAME_BREAKS`), never inside a word: a part longer than
    :data:`WHOLE_UP_TO` wraps anywhere, so that no table grows wider than the page."""
    parts = NAME_BREAKS.split(str(value))
    if not value or max(map(len, parts)) > WHOLE_UP_TO:
        return _e(value)
    return f'<span class="name">{"<wbr>".join(map(_shown, parts))}</span>'


def _table(headers: list[str], rows: list[list[str]], css: str = "") -> str:
    head = "".join(f"<th>{_shown(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    attr = f' class="{css}"' if css else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fields(pairs: list[tuple[str, str]], css: str = "fields") -> str:
    """A two-column table of labelled values (fits any page width)."""
    body = "".join(f"<tr><th>{_shown(k)}</th><td>{v}</td></tr>" for k, v in pairs)
    return f'<table class="{css}"><tbody>{body}</tbody></table>'


def _list(items: list[str], empty: str) -> str:
    if not items:
        return f'<span class="note">{_shown(empty)}</span>'
    return '<ul class="plain">' + "".join(f"<li>{_shown(i)}</li>" for i in items) + "</ul>"


def _findings(report: dict[str, Any], severity: str) -> list[dict[str, Any]]:
    return [dict(f, check=c["name"]) for c in report["checks"] for f in c["findings"] if f.get("severity", "error") == severity]


def _banner(errors: int, notes: int, skipped: list[str], accepted: int = 0) -> str:
    not_run = f" Not checked by this audit: {'; '.join(skipped)} (see Checks)." if skipped else ""
    if accepted:
        not_run = f" {counted(accepted, 'finding')} accepted by a person (see Accepted by a person).{not_run}"
    if errors:
        return f'<div class="banner bad" id="verdict">{counted(errors, "finding")}: see Findings for the object and the fix.{_shown(not_run)}</div>'
    if notes:
        return f'<div class="banner noted" id="verdict">No findings; {counted(notes, "note")} below, which do not fail the audit.{_shown(not_run)}</div>'
    return f'<div class="banner ok" id="verdict">Clean: no findings and no notes.{_shown(not_run)}</div>'


def _skipped(report: dict[str, Any]) -> list[str]:
    """The titles of the checks this audit did not run (re-hashing the data is one unless ``--rehash``)."""
    return [c["title"] for c in report["checks"] if c["status"] == "skipped"]


def _signatures(report: dict[str, Any]) -> str:
    """Who signed what this report rests on, and how a reader checks the log without trusting the report."""
    log = report["log"]
    signers = Counter(r.get("keyId") or "no key recorded" for r in report.get("runs") or [])
    remembered = log.get("remembered")
    return _fields([
        ("bundles signed by", "<br>".join(f"<code>{_shown(k)}</code>: {counted(n, 'run')}" for k, n in signers.most_common()) or "no runs"),
        ("checkpoint signed by (auditor)", f"<code>{_e(log.get('signer'))}</code>"),
        ("checkpoint digest", f"<code>{_e(log.get('checkpointDigest'))}</code>"),
        ("checkpoint remembered before this audit",
         f"size {_shown(str(remembered['treeSize']))}, root <code>{_e(remembered['rootHash'])}</code>" if remembered
         else "none: the first audit by this auditor"),
    ]) + "".join(f'<p class="note">{_shown(line)}.</p>' for line in untrusted_lines(_findings(report, "error"))) + (
        '<p class="note">Check the log without this report: <code>tdprov prove RUN_ID</code> gives a run\'s inclusion proof '
          "and <code>tdprov prove --consistency OLD NEW</code> one log size's extension of another; docs/verification.md "
          "checks both offline, without tdprov.</p>")


def _training_rule(report: dict[str, Any]) -> str:
    runs = report.get("runs") or []
    marked = sum(1 for r in runs if r.get("trainingRule") == RULE_JOB_TYPE)
    guessed = sum(1 for r in runs if r.get("trainingRule") == RULE_JOB_NAME)
    return (f"A training run is one {RULE_TEXT[RULE_JOB_TYPE]}, which <code>provenance_asset(training=True)</code> and Airflow "
            f"<code>training=True</code> write; a run with no mark counts when its job name says it trains (train, fit, model), "
            f"as a fallback. In this store: {counted(marked, 'run')} marked, {guessed:,} by job name.")


def _summary(report: dict[str, Any], errors: int, notes: int) -> str:
    s, log = report["summary"], report["log"]
    return _fields([
        ("runs in the store", str(s["runs"])), ("training runs", str(s["trainingRuns"])),
        ("bundles examined by this audit", str(s["bundlesExamined"])), ("bundles newly logged", str(s["bundlesLogged"])),
        ("registered sources", str(s["sources"])), ("findings", str(errors)), ("notes", str(notes)),
        ("findings accepted by a person", str(s.get("accepted", 0))),
        ("log size", str(log["treeSize"])), ("root hash", f"<code>{_e(log['rootHash'])}</code>"),
        ("checkpoint", f"<code>{_e(log['checkpoint'])}</code>"),
    ]) + f'<p class="note">{_training_rule(report)}</p>'


def _checks(report: dict[str, Any]) -> str:
    rows = [[_shown(c["title"]), f'<span class="{c["status"]}">{c["status"]}</span>', str(c["checked"]),
             str(sum(1 for f in c["findings"] if f.get("severity", "error") == "error")),
             str(sum(1 for f in c["findings"] if f.get("severity", "error") != "error")), _e(c["detail"])] for c in report["checks"]]
    note = scope_note(report["mode"], report["summary"]["bundlesExamined"], first=bool(report.get("firstAudit")),
                      remembered=str(report.get("rememberedRecords") or ""), unlogged=report["log"].get("remembered") is None)
    return _table(["check", "result", "checked", "findings", "notes", "detail"], rows, "checks") + f'<p class="note">{_shown(note)}</p>'


MAX_FINDINGS_SHOWN = 200
"""Rows at most of the findings table, of the notes table, of each table of findings a person accepted and of the quality
table: a store with tens of thousands of findings made a page of many megabytes. The rest are counted on the page, and
report.json lists them (the quality table's first :data:`~prov_common.audit.result.MAX_QUALITY_ROWS`)."""


def _in_turn(found: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """At most ``limit`` of ``found``, each check's first taken in turn (a check with thousands of findings hides none
    of another's), in their order."""
    if len(found) <= limit:
        return found
    by_check: dict[str, list[int]] = {}
    for i, f in enumerate(found):
        by_check.setdefault(f["check"], []).append(i)
    in_turn = [rows[depth] for depth in range(limit) for rows in by_check.values() if depth < len(rows)]
    picked = set(in_turn[:limit])
    return [f for i, f in enumerate(found) if i in picked]


def _finding_table(found: list[dict[str, Any]], css: str, noun: str) -> str:
    """The table of ``found`` (findings or notes, ``noun``), at most :data:`MAX_FINDINGS_SHOWN` rows, saying how many
    it leaves out and where they are."""
    shown = _in_turn(found, MAX_FINDINGS_SHOWN)
    table = _table(["check", "object", "what was found", "fix"],
                   [[_shown(f["check"]), f"<code>{_shown(f['object'])}</code>", _shown(f["what"]), _shown(f["fix"])] for f in shown], css)
    return table + _not_shown(len(shown), len(found), noun, "the <code>findings</code> of each of its <code>checks</code>",
                              anchor=css, how=", each check's first in turn", also=", and the checks table above counts each check's")


def _not_shown(shown: int, total: int, noun: str, listed: str, *, anchor: str | None = None, how: str = "", also: str = "") -> str:
    """The note under a table or list of ``total`` things (``noun``) that shows ``shown`` of them (``how`` chosen), saying
    how many it leaves out and where report.json lists them all (``listed``, HTML); ``""`` when it shows them all."""
    if shown >= total:
        return ""
    where = f' id="{anchor}-not-shown"' if anchor else ""
    return (f'<p class="note"{where}>{shown:,} of {counted(total, noun)} shown{how}; the other {total - shown:,} are not shown '
            f"here: report.json lists all {total:,} ({listed}){also}.</p>")


MAX_RUNS_SHOWN = 50


def _runs(report: dict[str, Any]) -> str:
    runs = report.get("runs") or []
    new = sum(1 for r in runs if r["examinedNow"])
    head = (f'<p>{counted(len(runs), "run")} in the store; {new} examined by this audit (marked "new"); the rest were examined by '
            f'earlier audits, whose results this one continued from.</p>')
    rule = {RULE_JOB_TYPE: "yes (marked)", RULE_JOB_NAME: "yes (job name)"}
    rows = [[_run_id(r["runId"]), _name(job_text(r["job"])), _whole(r["state"]), _time(r["endedAt"]),
             rule.get(r.get("trainingRule") or "", "yes" if r["training"] else ""), "new" if r["examinedNow"] else ""]
            for r in runs[:MAX_RUNS_SHOWN]]
    more = f'<p class="note">Newest {MAX_RUNS_SHOWN} shown; report.json lists all {len(runs)}.</p>' if len(runs) > MAX_RUNS_SHOWN else ""
    return head + _table(["run", "job", "state", "ended", "training", "this audit"], rows, "runs") + more


def _quality(report: dict[str, Any]) -> str:
    rows = report["quality"]
    if not rows and not report["qualityPassedVersions"]:
        return ('<p id="quality-counts">No Pandera validation is recorded: no dataset version in the store was validated. '
                'A schema on an asset (<code>provenance_asset(schema=...)</code>) or a task '
                '(<code>@task.provenance(schema=...)</code>) records one with every version it writes.</p>')
    versions, failed = report["qualityPassedVersions"], report.get("qualityFailedVersions", len(rows))
    unknown = report.get("qualityUnknownVersions", 0)
    shown = rows[:MAX_FINDINGS_SHOWN]
    listed = ", as in report.json" if len(shown) == len(rows) else f" of the {len(rows):,} report.json lists (<code>quality</code>)"
    below = "" if not rows else " (below)" if len(shown) == failed else \
        f" (the first {len(shown):,} below{listed}; the findings and notes name each)"
    apart = f" and {unknown:,} {'has' if unknown == 1 else 'have'} no known outcome" if unknown else ""
    passed = (f'<p id="quality-counts">{counted(versions, "validated dataset version")} passed {"its" if versions == 1 else "their"} '
              f'Pandera schema; {failed - unknown:,} failed{apart}{below}. Each failed check is counted once.</p>')
    if not rows:
        return passed
    return passed + _table(["dataset", "version", "schema", "result", "failures", "failed checks", "used by runs"],
                           [[_shown(q["dataset"]), f"<code>{_e(q['version'])}</code>", _e(q["schema"]), _outcome(q),
                             str(q["failureCount"]),
                             _e([*q["failedChecks"], *(f for f in q["failures"] if not f.startswith("failed Pandera schema"))]),
                             _e(q["usedBy"])] for q in shown], "quality")


def _outcome(result: dict[str, Any]) -> str:
    """A quality result's outcome as the page shows it (``passed`` null: no known outcome, never failed): a row of the
    report's ``quality`` or one of a training-data record's ``qualityChecks`` (a check's: raised an error)."""
    return ('<span class="pass">passed</span>' if result["passed"] else
            '<span class="fail">no known outcome</span>' if result["passed"] is None and result.get("check") is None else
            '<span class="fail">raised an error</span>' if result.get("status") == "error" else
            '<span class="fail">failed</span>')


_SOURCE_FIELDS = (("digest", "digest"), ("issuer", "issuer"), ("license", "licence"), ("location", "location"),
                  ("description", "description"), ("originGeography", "origin geography"), ("generationMethod", "method"),
                  ("collectionStart", "collected from"), ("collectionEnd", "collected to"), ("personalData", "personal data"),
                  ("personalColumns", "personal columns"), ("confidentiality", "confidentiality"), ("consent", "consent documentation"),
                  ("legalBasis", "legal basis"), ("privacyTechnologies", "privacy technologies"), ("intendedUse", "intended use"))


MAX_SOURCES_SHOWN = 50
"""Registered sources at most shown on the page (each a table of its fields); report.json lists them all."""


def _sources(report: dict[str, Any]) -> str:
    """Each registered source's fields, at most :data:`MAX_SOURCES_SHOWN`, saying how many it leaves out and where they are."""
    sources = report["sources"]
    if not sources:
        return '<p class="note">No sources registered (<code>tdprov source add</code>).</p>'
    shown = "".join(f"<h3>{_shown(s['name'])}</h3>" + _fields([(label, f"<code>{_e(s.get(k))}</code>" if k == "digest" else _e(s.get(k)))
                                                                for k, label in _SOURCE_FIELDS], "fields source")
                    for s in sources[:MAX_SOURCES_SHOWN])
    return shown + _not_shown(min(len(sources), MAX_SOURCES_SHOWN), len(sources), "registered source", "<code>sources</code>",
                              anchor="sources", also=", and <code>tdprov source list</code> lists them")


def _article10(items: list[dict[str, Any]]) -> str:
    """The Article 10 table: its first column keeps its width and its words whole (long commands and digests in the
    gaps beside it squeezed it until 'Art. 10(2)(a)' and its title's words broke apart)."""
    rows = [[f"<strong class=\"whole\">Art. {_shown(i['item'])}</strong><br>{_shown(i['title'])}", _list(i["recordsShow"], "nothing recorded"),
             f'<div class="gap">{_list(i["gaps"], "none")}</div>'] for i in items]
    return _table(["item", "what the records show", "gaps, and what would record them"], rows, "article10")


def _dataset(entry: dict[str, Any]) -> str:
    a10, a4 = entry["article10"], entry["annexIV"]
    steps = _table(["run", "job", "state", "ended", "inputs", "outputs"],
                   [[_run_id(s["runId"]), _name(job_text(s["job"])), _whole(s["state"]), _time(s["endedAt"]),
                     f"<code>{_e(s['inputs'])}</code>", f"<code>{_e(s['outputs'])}</code>"] for s in a10["preparation"]]) \
        if a10["preparation"] else '<p class="note">No recorded preparation runs.</p>'
    quality = _table(["dataset", "version", "schema", "result", "failures", "failed checks"],
                     [[_shown(q["dataset"]), f"<code>{_e(q['version'])}</code>",
                       _e(q["schema"]) if q.get("check") is None else f"check {_e(q['check'])}",
                       _outcome(q), str(q["failureCount"]),
                       _e(q["failedChecks"])] for q in a10["qualityChecks"]]) if a10["qualityChecks"] else '<p class="note">None recorded.</p>'
    annex = _fields([
        ("General description of the data set", _e(a4["generalDescription"])), ("Provenance", _e(a4["provenance"])),
        ("How the data was obtained and selected", _e(a4["howObtainedAndSelected"])), ("Labelling procedures", _e(a4["labellingProcedures"])),
        ("Data cleaning methodologies", _e(a4["dataCleaningMethodologies"])),
        ("Lineage complete to registered sources", "yes" if a4["lineageComplete"] else '<span class="fail">no</span>'),
    ])
    rule = _shown(RULE_TEXT.get(entry.get("trainingRule") or "", "a training run"))
    written = f' written by run <code>{_shown(entry["writtenBy"])}</code>' if entry.get("writtenBy") else ""
    return (f'<section class="dataset"><h3>{_shown(entry["dataset"])}</h3><p>version <code>{_e(entry["version"])}</code>{written}; '
            f'used by training job {_shown(job_text(entry["trainingJob"]))} ({"run" if len(entry["trainingRuns"]) == 1 else "runs"} '
            f'{_e(entry["trainingRuns"])}), {rule}.</p>'
            f"<h4>EU AI Act Article 10</h4>{_article10(a10.get('items') or [])}"
            f"<h4>Preparation runs (10(2)(c))</h4>{steps}"
            f"<h4>Pandera and other check results along the lineage (10(2)(f), 10(3))</h4>{quality}"
            f"<h4>Annex IV 2(d): technical documentation on data</h4>{annex}</section>")


MAX_DATASETS_SHOWN = 50


def _attention(entry: dict[str, Any]) -> int:
    """0: a failed check or run on the dataset's lineage, or a lineage not complete to registered sources; 1: other
    gaps; 2: none (the order of the training-data sections)."""
    a10 = entry["article10"]
    if (not entry["annexIV"]["lineageComplete"] or any(not q["passed"] for q in a10["qualityChecks"])
            or any(s["state"] != "COMPLETE" for s in a10["preparation"])):
        return 0
    return 1 if a10["knownGaps"] else 2


def _training(report: dict[str, Any]) -> str:
    """The training-data sections: those with a failed check, a failed run or an incomplete lineage first, then those
    with other gaps, each newest first; at most :data:`MAX_DATASETS_SHOWN`, saying how many report.json adds."""
    entries = report["trainingData"]
    if not entries:
        return f'<p class="note">No training runs recorded. {_training_rule(report)}</p>'
    shown = sorted(entries, key=_attention)[:MAX_DATASETS_SHOWN]  # stable: newest first within each kind
    order = "those with a failed check, a failed run or an incomplete lineage first, then those with other gaps, each newest first"
    note = (f'<p class="note">{len(shown)} of {len(entries)} training datasets shown ({order}); report.json lists all '
            f'{len(entries)} (<code>trainingData</code>); <code>tdprov record DATASET</code> gives the record of any one.</p>'
            if len(shown) < len(entries) else f'<p class="note">{counted(len(entries), "training dataset")}, {order}.</p>')
    return note + "".join(_dataset(e) for e in shown)


def _accepted(report: dict[str, Any]) -> str:
    """What a person accepted: the store's log as it is (``--accept-checkpoint``) and the findings of runs (``--accept-finding``)."""
    parts = [_resolution(report["log"].get("resolution")), *(_acceptance(a) for a in report.get("accepted") or [])]
    body = "".join(p for p in parts if p)
    return f'<section class="resolution"><h2>Accepted by a person</h2>{body}</section>' if body else ""


def _acceptance(a: dict[str, Any]) -> str:
    """A person's acceptance of the completeness findings that name a run, with the findings it covers now."""
    found = a.get("findings") or []
    rows = _accepted_table(found, "the <code>findings</code> of this one of its <code>accepted</code>", "accepted")
    return (f'<p>{_shown(str(a.get("by")))} accepted at {_shown(str(a.get("acceptedAt")))} the completeness findings that name run '
            f'<code>{_shown(str(a.get("runId")))}</code> ({len(a.get("covers") or [])} recorded; {counted(len(found), "finding")} now, below, '
            f'which do not fail the audit; any other finding about the run still does). Reason: <q>{_shown(str(a.get("reason")))}</q>. '
            f'The signed record is <code>{_shown(str(a.get("key")))}</code>.</p>{rows}')


def _accepted_table(found: list[dict[str, Any]], listed: str, css: str = "") -> str:
    """The table of the findings a person accepted (or an acceptance closed), at most :data:`MAX_FINDINGS_SHOWN` rows
    (an acceptance may cover thousands), saying how many it leaves out and where report.json lists them (``listed``)."""
    if not found:
        return ""
    shown = found[:MAX_FINDINGS_SHOWN]
    return _table(["check", "object", "what"], [[_shown(str(f.get("check"))), f"<code>{_shown(str(f.get('object')))}</code>",
                                                 _shown(str(f.get("what")))] for f in shown], css) \
        + _not_shown(len(shown), len(found), "finding", listed)


def _resolution(record: dict[str, Any] | None) -> str:
    """A person's acceptance of the store's log as it is (``--accept-checkpoint --reason``), with what it closed."""
    if not record:
        return ""
    before, after = record.get("before") or {}, record.get("after") or {}
    closed = record.get("closed") or []
    rows = _accepted_table(closed, "the <code>closed</code> findings of its <code>log</code>'s <code>resolution</code>")
    return (f'<p>{_shown(str(record.get("by")))} accepted the store\'s log '
            f'at {_shown(str(record.get("acceptedAt")))} (log size {_shown(str(before.get("treeSize")))} remembered, '
            f'{_shown(str(after.get("treeSize")))} in the store), closing {counted(len(closed), "finding")}. Reason: '
            f'<q>{_shown(str(record.get("reason")))}</q>. The signed record is <code>{_shown(str(record.get("key")))}</code>.</p>{rows}')


def render_html(report: dict[str, Any], lineage_svg: str, drawn_by: str = "", scope: str = "") -> str:
    """The report page; ``report`` is the JSON report (``AuditResult.to_dict``), ``drawn_by`` what drew the picture,
    ``scope`` what it shows of the store's runs and leaves out."""
    errors, notes = _findings(report, "error"), _findings(report, "note")
    found = _finding_table(errors, "findings", "finding") if errors else "<p>No findings.</p>"
    noted = f"<h3>Notes ({len(notes)})</h3><p class=\"note\">Shown for information; they do not fail the audit.</p>" \
            + _finding_table(notes, "notes", "note") if notes else ""
    training = _training(report)
    scope_note = f'<p class="note" id="picture-scope">{_shown(scope)}</p>' if scope else ""
    caption = f"Data flows top-down: sources and versions (ellipses), runs (boxes); red marks a failed check or run. Drawn by {_shown(drawn_by)}." \
        if drawn_by else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>tdprov audit {_shown(report['auditId'])}</title><style>{STYLE}</style></head>
<body>
<h1>Training-data provenance audit</h1>
<p>Store <code>{_shown(report['store'])}</code> · {_shown(report['mode'])} audit · {_shown(report['startedAt'] or '')} → {_shown(report['endedAt'] or '')}
· tdprov {_shown(report['tool']['version'])} · audit <code>{_shown(report['auditId'])}</code></p>
{_banner(len(errors), len(notes), _skipped(report), report["summary"].get("accepted", 0))}
{_accepted(report)}
<h2>Summary</h2>
{_summary(report, len(errors), len(notes))}
{_checks(report)}
<h2>Findings ({len(errors)})</h2>
{found}
{noted}
<h2>Runs</h2>
{_runs(report)}
<h2>Log and signatures</h2>
{_signatures(report)}
<h2>Lineage of the training inputs</h2>
{scope_note}
<figure class="picture">{lineage_svg}<figcaption>{caption}</figcaption></figure>
<h2>Quality</h2>
{_quality(report)}
<h2>Sources</h2>
{_sources(report)}
<h2 class="training">Training data (EU AI Act Article 10 and Annex IV)</h2>
{training}
</body></html>
"""
