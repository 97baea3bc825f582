"""The audit report as one self-contained HTML page (inline CSS and SVG, no scripts, no downloads)."""
from __future__ import annotations

from html import escape
from typing import Any

from prov_common.audit.model import RULE_TEXT

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1200px;color:#0f172a;line-height:1.4}
h1{margin-bottom:.2rem} h2{border-bottom:2px solid #e2e8f0;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0;font-size:.9rem} th,td{border:1px solid #e2e8f0;padding:.3rem .5rem;text-align:left;vertical-align:top;overflow-wrap:break-word}
th{background:#f8fafc} code{font-size:.85em;overflow-wrap:anywhere}
.pass{color:#166534;font-weight:bold} .fail{color:#b91c1c;font-weight:bold} .skipped{color:#64748b}
.banner{padding:1rem;border-radius:8px;font-size:1.2rem;margin:1rem 0} .ok{background:#dcfce7} .bad{background:#fee2e2}
.note{color:#64748b} .scroll{overflow-x:auto} code.digest{white-space:nowrap} .picture{overflow-x:auto;border:1px solid #e2e8f0;padding:.5rem} .picture svg{max-width:none;height:auto}
section.dataset{border:1px solid #cbd5e1;border-radius:8px;padding:0 1rem 1rem;margin:1rem 0}
"""


def _e(value: Any) -> str:
    if value is None or value == [] or value == "":
        return '<span class="note">—</span>'
    if isinstance(value, (list, tuple)):
        return ", ".join(escape(str(v)) for v in value if v is not None) or '<span class="note">—</span>'
    return escape(str(value))


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _checks(report: dict[str, Any]) -> str:
    rows = [[escape(c["title"]), f'<span class="{c["status"]}">{c["status"]}</span>', str(c["checked"]),
             str(sum(1 for f in c["findings"] if f.get("severity") == "error")), _e(c["detail"])] for c in report["checks"]]
    return _table(["check", "result", "checked", "findings", "note"], rows)


def _findings(report: dict[str, Any]) -> str:
    rows = []
    for c in report["checks"]:
        for f in c["findings"]:
            rows.append([escape(c["name"]), escape(f.get("severity", "error")), f"<code>{escape(f['object'])}</code>", escape(f["what"]), escape(f["fix"])])
    if not rows:
        return "<p>No findings.</p>"
    return _table(["check", "severity", "object", "what was found", "fix"], rows)


def _quality(report: dict[str, Any]) -> str:
    passed = f'<p>{report["qualityPassedVersions"]} validated dataset version(s) passed their Pandera schema.</p>'
    if not report["quality"]:
        return passed + '<p class="note">No dataset version failed its Pandera schema.</p>'
    rows = [[escape(q["dataset"]), f"<code>{_e(q['version'])}</code>", _e(q["schema"]),
             '<span class="pass">passed</span>' if q["passed"] else '<span class="fail">failed</span>', str(q["failureCount"]),
             _e(q["failedChecks"]), _e(q["usedBy"])] for q in report["quality"]]
    return passed + _table(["dataset", "version", "schema", "result", "failures", "failed checks", "used by runs"], rows)


def _sources(report: dict[str, Any]) -> str:
    if not report["sources"]:
        return '<p class="note">No sources registered (<code>tdprov source add</code>).</p>'
    rows = [[escape(s["name"]), f"<code class=\"digest\">{escape(s['digest'])}</code>", _e(s.get("issuer")), _e(s.get("license")), _e(s.get("location")),
             _e(s.get("origin_geography")), _e(s.get("generation_method")), _e([s.get("collection_start"), s.get("collection_end")]),
             _e(s.get("personal_data")), _e(s.get("confidentiality")), _e(s.get("consent")), _e(s.get("intended_use"))]
            for s in report["sources"]]
    return _table(["name", "digest", "issuer", "licence", "location", "origin", "method", "collected", "personal data",
                   "confidentiality", "consent", "intended use"], rows)


def _dataset(entry: dict[str, Any]) -> str:
    a10, a4 = entry["article10"], entry["annexIV"]
    origin = _table(["source", "issuer", "licence", "location", "origin geography"],
                    [[escape(s["name"]), _e(s["issuer"]), _e(s["license"]), _e(s["location"]), _e(s["originGeography"])] for s in a10["origin"]]) \
        if a10["origin"] else '<p class="fail">No registered source.</p>'
    collection = _table(["source", "method", "timeframe", "geography", "personal data", "consent"],
                        [[escape(c["source"]), _e(c["method"]), _e(c["timeframe"]), _e(c["geography"]), _e(c["personalData"]), _e(c["consent"])]
                         for c in a10["collection"]]) if a10["collection"] else '<p class="note">Not recorded.</p>'
    steps = _table(["run", "job", "state", "ended", "inputs", "outputs"],
                   [[f"<code>{escape(s['runId'])}</code>", escape(s["job"]), escape(s["state"]), _e(s["endedAt"]), f"<code>{_e(s['inputs'])}</code>", f"<code>{_e(s['outputs'])}</code>"]
                    for s in a10["preparation"]]) if a10["preparation"] else '<p class="note">No recorded preparation runs.</p>'
    quality = _table(["dataset", "version", "schema", "result", "failures", "failed checks"],
                     [[escape(q["dataset"]), f"<code>{_e(q['version'])}</code>", _e(q["schema"]),
                       '<span class="pass">passed</span>' if q["passed"] else '<span class="fail">failed</span>', str(q["failureCount"]), _e(q["failedChecks"])]
                      for q in a10["qualityChecks"]]) if a10["qualityChecks"] else '<p class="note">None recorded.</p>'
    gaps = "".join(f"<li>{escape(g)}</li>" for g in a10["knownGaps"]) or "<li>None found.</li>"
    annex = _table(["Annex IV item (data)", "content"], [
        ["General description of the data set", _e(a4["generalDescription"])],
        ["Provenance", _e(a4["provenance"])],
        ["How the data was obtained and selected", _e(a4["howObtainedAndSelected"])],
        ["Labelling procedures", _e(a4["labellingProcedures"])],
        ["Data cleaning methodologies", _e(a4["dataCleaningMethodologies"])],
        ["Lineage complete to registered sources", "yes" if a4["lineageComplete"] else '<span class="fail">no</span>'],
    ])
    return (f'<section class="dataset"><h3>{escape(entry["dataset"])}</h3><p>version <code>{_e(entry["version"])}</code>; '
            f'used by training job {escape(entry["trainingJob"])} (runs {_e(entry["trainingRuns"])}), '
            f'{escape(RULE_TEXT.get(entry.get("trainingRule") or "", "a training run"))}</p>'
            f"<h4>Art. 10(2)(b) Data collection processes and origin of data</h4>{origin}{collection}"
            f"<h4>Art. 10(2)(c) Data-preparation processing operations</h4>{steps}"
            f"<h4>Art. 10(2)(f)–(g), 10(3) Quality: examination and measures</h4>{quality}"
            f"<h4>Art. 10(2)(h) Identified data gaps or shortcomings</h4><ul>{gaps}</ul>"
            f"<h4>Annex IV 2(d): technical documentation on data</h4>{annex}</section>")


MAX_RUNS_SHOWN = 50


def _runs(report: dict[str, Any]) -> str:
    runs = report.get("runs") or []
    new = sum(1 for r in runs if r["examinedNow"])
    head = (f'<p>{len(runs)} run(s) in the store; {new} examined by this audit (marked "new"); the rest were examined by '
            f'earlier audits, whose results this one continued from.</p>')
    rows = [[_e(r["runId"]), _e(r["job"]), _e(r["state"]), _e(r["endedAt"]), "yes" if r["training"] else "", "new" if r["examinedNow"] else ""]
            for r in runs[:MAX_RUNS_SHOWN]]
    more = f'<p class="note">Newest {MAX_RUNS_SHOWN} shown; report.json lists all {len(runs)}.</p>' if len(runs) > MAX_RUNS_SHOWN else ""
    return head + _table(["run", "job", "state", "ended", "training", "this audit"], rows) + more


def render_html(report: dict[str, Any], lineage_svg: str) -> str:
    """The report page; ``report`` is the JSON report (``AuditResult.to_dict``)."""
    s = report["summary"]
    banner = ('<div class="banner ok">Clean: no findings.</div>' if s["clean"]
              else f'<div class="banner bad">{s["findings"]} finding(s): see below for the object and the fix.</div>')
    log = report["log"]
    training = "".join(_dataset(e) for e in report["trainingData"]) or '<p class="note">No training runs recorded. A training run is one marked as such (OpenLineage jobType TRAINING: <code>provenance_asset(training=True)</code>, Airflow <code>training=True</code>) or, as a fallback for unmarked runs, one whose job name says it trains (train, fit, model).</p>'
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>tdprov audit {escape(report['auditId'])}</title><style>{STYLE}</style></head>
<body>
<h1>Training-data provenance audit</h1>
<p>Store <code>{escape(report['store'])}</code> · {escape(report['mode'])} audit · {escape(report['startedAt'] or '')} → {escape(report['endedAt'] or '')}
· tdprov {escape(report['tool']['version'])} · audit <code>{escape(report['auditId'])}</code></p>
{banner}
<h2>Summary</h2>
{_table(["runs", "training runs", "bundles examined", "newly logged", "sources", "log size", "root hash", "checkpoint"],
        [[str(s['runs']), str(s['trainingRuns']), str(s['bundlesExamined']), str(s['bundlesLogged']), str(s['sources']),
          str(log['treeSize']), f"<code>{_e(log['rootHash'])}</code>", f"<code>{_e(log['checkpoint'])}</code>"]])}
{_checks(report)}
<h2>Runs</h2>
{_runs(report)}
<h2>Findings</h2>
{_findings(report)}
<h2>Lineage of the training inputs</h2>
<div class="picture">{lineage_svg}</div>
<h2>Quality</h2>
{_quality(report)}
<h2>Sources</h2>
{_sources(report)}
<h2>Training data (EU AI Act Article 10 and Annex IV)</h2>
{training}
</body></html>
"""
