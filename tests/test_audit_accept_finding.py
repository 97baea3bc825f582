"""A run made before its source was registered stays without the source's digest for ever; a person accepts
its completeness findings with 'tdprov audit --accept-finding RUN_ID --reason TEXT' (signed, kept in the
audit state): incremental and --full audits list them as accepted and pass, and any other finding stays one."""
from __future__ import annotations

import json
from html import escape
from datetime import timedelta
from pathlib import Path

from prov_common.audit import run_audit
from prov_common.audit.model import CHECK_COMPLETENESS, Finding
from prov_common.cli import main as tdprov
from prov_common.config import Settings
from prov_common.signing import open_envelope, trust_from_settings
from prov_common.store import open_store

from test_audit_support import T0, dataset, digest, flip_byte, not_camel_case, run_events, seal

REASON = "first run of the pipeline, made before vendor-orders was registered"


def audit(store: str, out: Path, *options: str) -> tuple[int, dict, str]:
    """The audit's exit code, report.json (its fields, those of findings and acceptances too, named in camelCase: they
    were 'run_id' where the acceptance says 'runId') and report.html."""
    rc = tdprov(["audit", "--store", store, "--report", str(out), *options])
    report = json.loads((out / "report.json").read_text())
    assert not not_camel_case(report), not_camel_case(report)
    return rc, report, (out / "report.html").read_text()


def completeness(report: dict) -> list[dict]:
    return next(c for c in report["checks"] if c["name"] == CHECK_COMPLETENESS)["findings"]


def _pipeline(store: str) -> tuple[str, str]:
    """The first run reads 'vendor-orders' before it is registered (by name, no digest); then it is registered and
    the pipeline runs again, tracing to it."""
    s = open_store(store)
    orders, clean = digest("orders"), digest("clean")
    prepare = seal(s, run_events("orders", [dataset("vendor-orders", None, namespace="tdprov://sources")],
                                 [dataset("/data/clean.parquet", clean)]))
    train = seal(s, run_events("model", [dataset("/data/clean.parquet", clean)], [dataset("/models/m.pkl", digest("m"))],
                               start=T0 + timedelta(hours=1), job_type="TRAINING"))
    assert tdprov(["source", "add", "/data/orders.csv", "--digest", orders, "--name", "vendor-orders", "--license", "CC0-1.0",
                   "--issuer", "Acme", "--store", store]) == 0
    seal(s, run_events("orders", [dataset("/data/orders.csv", orders)], [dataset("/data/clean.parquet", digest("clean 2"))],
                       start=T0 + timedelta(hours=2)))
    seal(s, run_events("model", [dataset("/data/clean.parquet", digest("clean 2"))], [dataset("/models/m.pkl", digest("m2"))],
                       start=T0 + timedelta(hours=3), job_type="TRAINING"))
    return prepare, train


def test_findings_of_a_run_made_before_its_source_was_registered_are_accepted_by_a_person(tmp_path: Path, capsys) -> None:
    store = str(tmp_path / "store")
    prepare, train = _pipeline(store)
    rc, report, _ = audit(store, tmp_path / "r1")
    assert rc == 1
    found = {f["runId"]: f for f in completeness(report)}
    assert set(found) == {prepare, train}
    assert "read it before source 'vendor-orders' was registered" in found[train]["what"], found[train]["what"]
    assert "read it before source 'vendor-orders' was registered" in found[prepare]["what"]
    assert f"--accept-finding {prepare} --reason" in found[train]["fix"]
    assert "--accept-finding" in found[train]["fix"] and "--accept-finding" in found[prepare]["fix"]

    # the acceptance needs a reason, and names a run that an open finding names
    assert tdprov(["audit", "--store", store, "--accept-finding", prepare]) == 2
    assert "--reason" in capsys.readouterr().err

    capsys.readouterr()
    rc, report, html = audit(store, tmp_path / "r2", "--accept-finding", prepare[:8], "--reason", REASON)
    out = capsys.readouterr().out
    assert rc == 0, [f["what"] for c in report["checks"] for f in c["findings"]]
    assert "2 findings accepted by a person" in out and REASON in out
    assert completeness(report) == [] and report["summary"]["accepted"] == 2
    [accepted] = report["accepted"]
    assert (accepted["runId"], accepted["reason"]) == (prepare, REASON) and accepted["by"] and accepted["acceptedAt"]
    assert {f["runId"] for f in accepted["findings"]} == {prepare, train} and len(accepted["covers"]) == 2
    # signed, in the store
    settings = Settings.from_env(store=store)
    opened = open_envelope(open_store(store).get(accepted["key"]), trust_from_settings(settings),
                           "application/vnd.tdprov.audit-resolution+json", what="resolution")
    assert json.loads(opened.payload)["runId"] == prepare
    assert "<h2>Accepted by a person</h2>" in html and REASON in html and prepare in html.split("Accepted by a person", 1)[1]
    assert "Clean" in html and "2 findings accepted by a person" in html

    # every later audit honours it, incremental and --full, and lists what it covers
    for options in ((), ("--full",), ()):
        rc, report, html = audit(store, tmp_path / f"r3{len(options)}", *options)
        assert rc == 0 and report["summary"]["accepted"] == 2 and report["accepted"][0]["reason"] == REASON
        assert "Accepted by a person" in html

    # a new training run on the data that run made is a new finding; another kind of finding about the run is one too
    s = open_store(store)
    later = seal(s, run_events("model", [dataset("/data/clean.parquet", digest("clean"))], [dataset("/models/m.pkl", digest("m3"))],
                               start=T0 + timedelta(hours=4), job_type="TRAINING"))
    rc, report, _ = audit(store, tmp_path / "r4")
    assert rc == 1 and [f["runId"] for f in completeness(report)] == [later]
    assert report["summary"]["accepted"] == 2
    flip_byte(store, f"bundles/{prepare}/manifest.json")
    result = run_audit(open_store(store), settings, full=True, report_dir=tmp_path / "r5", progress=False)
    assert any(f.run_id == prepare for f in result.errors if f.check != CHECK_COMPLETENESS), [f.what for f in result.errors]


def test_accepting_a_run_that_no_open_finding_names_accepts_nothing(tmp_path: Path, capsys) -> None:
    store = str(tmp_path / "store")
    _pipeline(store)
    assert tdprov(["audit", "--store", store, "--report", str(tmp_path / "r"), "--accept-finding", "0" * 8 + "-0000-0000-0000-" + "0" * 12,
                   "--reason", REASON]) == 1
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["accepted"] == [] and report["summary"]["accepted"] == 0
    notes = [f for f in completeness(report) if f.get("severity") == "note"]
    assert len(notes) == 1 and "no open completeness finding names run 00000000-" in notes[0]["what"]


def test_a_run_sealed_after_its_terminal_event_was_refused_is_accepted_by_a_person(tmp_path: Path, capsys) -> None:
    """A writer that refused a valid terminal event (a leap second, before such times were taken) sealed the run as
    RUNNING: its record never changes, so the finding is accepted like a completeness finding, and stays accepted."""
    from prov_common.audit.model import CHECK_UNFINISHED
    from prov_common.bundle.build import build_bundle
    from prov_common.bundle.refusal import refusal
    from prov_common.bundle.storage import deliver_bundle
    from prov_common.errors import BadInputError
    from prov_common.signing import default_signing_key
    from prov_common.store.identity import writer_store_id

    store = str(tmp_path / "store")
    s = open_store(store)
    start, end = run_events("leap", [], [dataset("/data/out.csv", digest("out"))])
    path, data = refusal(end, BadInputError("field 'eventTime' must be an ISO 8601 date-time with a time"))
    bundle = build_bundle([start], {path: data}, default_signing_key(), store_id=writer_store_id(s))
    deliver_bundle(s, bundle)
    run_id = bundle.run_id

    def unfinished(report: dict) -> list[dict]:
        return [f for f in next(c for c in report["checks"] if c["name"] == CHECK_UNFINISHED)["findings"] if f.get("severity") != "note"]

    rc, report, _ = audit(store, tmp_path / "r1")
    assert rc == 1 and [f["runId"] for f in unfinished(report)] == [run_id], report["checks"]
    capsys.readouterr()
    rc, report, html = audit(store, tmp_path / "r2", "--accept-finding", run_id[-8:], "--reason", "the leap second of 2016")
    out = capsys.readouterr().out
    assert rc == 0 and unfinished(report) == [], unfinished(report)
    [accepted] = report["accepted"]
    assert [f["check"] for f in accepted["findings"]] == [CHECK_UNFINISHED] and "sealed without its terminal event" in out
    assert f"[{CHECK_UNFINISHED}] accepted:" in out and "1 finding accepted by a person" in out
    opened = open_envelope(open_store(store).get(accepted["key"]), trust_from_settings(Settings.from_env(store=store)),
                           "application/vnd.tdprov.audit-resolution+json", what="resolution")
    assert json.loads(opened.payload)["findings"][0]["check"] == CHECK_UNFINISHED
    # later audits, incremental and full, honour it; accepting it again accepts nothing more
    for n, options in enumerate([(), ("--full",), ("--accept-finding", run_id, "--reason", "again")]):
        rc, report, _ = audit(store, tmp_path / f"r{3 + n}", *options)
        assert rc == 0 and unfinished(report) == [] and report["summary"]["accepted"] == 1, (options, report["checks"])


def test_a_training_run_with_many_open_links_upstream_has_a_short_finding_the_json_lists_all(tmp_path: Path, capsys) -> None:
    """A training run whose inputs do not trace back through many open links upstream: its finding names how many and
    the first few, the report's JSON lists them all (it was one finding of every link, 36,774 characters for 200
    inputs); an acceptance of the run upstream still covers it, and the acceptance keeps findings as before."""
    store = str(tmp_path / "store")
    s = open_store(store)
    prepare = seal(s, run_events("prep", [dataset(f"/raw/r{i}.csv", digest(f"r{i}")) for i in range(3)],
                                 [dataset(f"/data/d{i}.csv", digest(f"d{i}")) for i in range(3)]))
    train = seal(s, run_events("model", [dataset(f"/data/d{i}.csv", digest(f"d{i}")) for i in range(3)],
                               [dataset("/models/m.pkl", digest("m"))], start=T0 + timedelta(hours=1), job_type="TRAINING"))
    capsys.readouterr()
    rc, report, html = audit(store, tmp_path / "r1")
    out = capsys.readouterr().out
    assert rc == 1
    [found] = [f for f in completeness(report) if f["object"] == f"run {train}"]
    links = sorted(f"/data/d{i}.csv <- run {prepare} (tests/prep) input /raw/r{j}.csv@{digest(f'r{j}')}"
                   for i in range(3) for j in range(3))
    assert found["what"] == (f"training run {train} (tests/model) has inputs that do not trace back to a source: 3 inputs "
                             f"through 9 open links upstream, first {'; '.join(links[:5])} and 4 more (the report's JSON "
                             "lists them all as 'items')")
    assert found["items"] == links
    assert "has inputs that do not trace back to a source: 3 inputs through 9 open links upstream" in out and links[5] not in out
    assert escape(links[0], quote=False) in html and escape(links[5], quote=False) not in html
    rc, report, _ = audit(store, tmp_path / "r2", "--accept-finding", prepare, "--reason", REASON)
    assert rc == 0 and completeness(report) == [], completeness(report)
    [accepted] = report["accepted"]
    assert len(accepted["findings"]) == 4 and all("items" not in f for f in accepted["recorded"])


def test_a_run_id_that_begins_the_ids_of_several_named_runs_names_the_findings_that_name_them() -> None:
    """A beginning of the ids of a run a completeness finding names, of one with an unfinished error and of one whose
    bundle lacks a file its events name accepts nothing, and the note says which findings name those runs."""
    from prov_common.audit.accepted import propose
    from prov_common.audit.model import CHECK_SIGNATURES, CHECK_UNFINISHED, DatasetUse
    from prov_common.audit.state import CheckState, OpenLink
    from prov_common.bundle.verify import NOT_HELD

    read, unended, unheld = (f"0190c1d2-7e4f-7000-8000-00000000000{n}" for n in (1, 2, 3))
    state = CheckState(broken=[OpenLink(read, "tests/prepare", "index/1", DatasetUse("tdprov://sources", "vendor-orders", None),
                                        "no origin")])
    ends = [Finding(CHECK_UNFINISHED, f"run {unended}", "sealed without its terminal event", "accept it", run_id=unended),
            Finding(CHECK_SIGNATURES, f"bundles/{unheld}/quality/x", f"{NOT_HELD}: failure samples", "re-run it", run_id=unheld)]
    note = propose("0190c1d2-7e4f", state, [], unended=ends).nothing
    assert note is not None and note.what == (
        f"--accept-finding 0190c1d2-7e4f: '0190c1d2-7e4f' begins or ends the ids of 3 runs that open completeness findings, "
        f"unfinished errors or attachment not held errors name ({read}, {unended}, {unheld}); nothing was accepted"), note.what


def test_the_accepted_findings_past_the_page_bound_are_counted_and_named(tmp_path: Path, monkeypatch) -> None:
    """The page listed every finding a person accepted, with no bound (the findings and notes tables show at most
    MAX_FINDINGS_SHOWN): it lists as many, saying how many it does not show and that report.json lists them all."""
    from html import unescape

    import prov_common.audit.html as html_module

    monkeypatch.setattr(html_module, "MAX_FINDINGS_SHOWN", 1)
    store = str(tmp_path / "store")
    prepare, _ = _pipeline(store)
    rc, report, html = audit(store, tmp_path / "r", "--accept-finding", prepare, "--reason", REASON)
    assert rc == 0 and len(report["accepted"][0]["findings"]) == 2
    section = unescape(html).split("<h2>Accepted by a person</h2>", 1)[1].split("</section>", 1)[0]
    assert section.count("<tr><td>") == 1 and "2 findings now, below" in section, section
    assert ("1 of 2 findings shown; the other 1 are not shown here: report.json lists all 2 (the <code>findings</code> "
            "of this one of its <code>accepted</code>)") in section, section
