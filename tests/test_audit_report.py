"""The HTML report: self-contained, escapes what it shows, and renders in headless Chromium."""
from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest

from prov_common.audit import run_audit
from prov_common.config import Settings
from prov_common.store import open_store

from browser_support import launched, needs_chromium, new_page
from test_audit_support import T0, Pipeline, dataset, digest, run_events, seal
from bundle_support import record_runs


def make_report(store_uri: str, out: Path) -> Path:
    """A report with a clean lineage, a broken link, a Pandera failure used anyway, and an odd dataset name."""
    pipe = Pipeline(store_uri)
    bad = digest("bad")
    seal(pipe.store, run_events("prepare_features", [dataset(pipe.raw_name, pipe.raw)],
                                [dataset("/data/<script>alert(1)</script>.parquet", bad, passed=False, failed=("in_range(0, 100)",))],
                                start=T0 + timedelta(hours=2)))
    seal(pipe.store, run_events("train_model", [dataset("/data/<script>alert(1)</script>.parquet", bad),
                                                dataset("scraped.jsonl", digest("scraped"), namespace="s3://crawl")],
                                [dataset("/models/ranker.pkl", digest("ranker"))], start=T0 + timedelta(hours=3), job_type="TRAINING"))
    result = run_audit(pipe.store, Settings.from_env(store=store_uri), report_dir=out, progress=False)
    assert result.exit_code == 1
    return Path(result.report_html)


def test_html_is_self_contained_and_escaped(tmp_path: Path) -> None:
    html = make_report(str(tmp_path / "store"), tmp_path / "report").read_text()
    assert "<script" not in html and "&lt;script&gt;" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in html.split("<h2>Sources")[0]
    for section in ("Summary", "Findings", "Lineage of the training inputs", "Quality", "Sources", "Article 10", "Annex IV 2(d)"):
        assert section in html
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["summary"]["findings"] == sum(1 for c in report["checks"] for f in c["findings"] if f["severity"] == "error")


@needs_chromium
def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    page = make_report(str(tmp_path / "store"), tmp_path / "report")
    shot = tmp_path / "report.png"
    with launched() as browser, new_page(browser, 1280, 1800) as tab:
        tab.goto(page.as_uri(), wait_until="load")
        tab.screenshot(path=str(shot))
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def test_the_training_rule_counts_the_runs_marked_in_words(tmp_path: Path) -> None:
    """The summary's note said "2 run(s) marked": it counts as the other lines do ('1 run', '2 runs')."""
    html = make_report(str(tmp_path / "store"), tmp_path / "report").read_text()
    assert "In this store: 2 runs marked, 0 by job name." in html and "run(s) marked" not in html


def test_incremental_report_describes_the_whole_store_and_marks_what_is_new(tmp_path: Path) -> None:
    """The audit after one new run examines one bundle, yet its report lists every run, the training
    data sections and the lineage picture of the training run logged earlier."""
    pipe = Pipeline(str(tmp_path / "store"))
    assert run_audit(pipe.store, Settings.from_env(store=pipe.store.uri), progress=False).clean
    new = seal(pipe.store, run_events("prepare_more", [dataset(pipe.raw_name, pipe.raw)], [dataset("/data/more.parquet", digest("more"))],
                                      start=T0 + timedelta(hours=2)))
    result = run_audit(pipe.store, Settings.from_env(store=pipe.store.uri), progress=False, report_dir=tmp_path / "r")
    assert result.clean and result.bundles_examined == 1
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    runs = {r["runId"]: r for r in report["runs"]}
    assert set(runs) == {pipe.prepare, pipe.train, new} and report["summary"]["runs"] == 3
    assert [r for r in runs if runs[r]["examinedNow"]] == [new] and runs[pipe.train]["training"]
    assert [e["trainingRuns"] for e in report["trainingData"]] == [[pipe.train]]
    html = (tmp_path / "r" / "report.html").read_text()
    assert "no runs recorded" not in html and "No training runs recorded" not in html
    assert "3 runs in the store; 1 examined by this audit" in html and "(s)" not in html and "features.parquet" in html  # the lineage picture


def test_the_picture_marks_a_broken_link_in_red(tmp_path: Path) -> None:
    """The report's picture showed a read nothing explains (the audit's broken link) as an ordinary version; it
    is outlined in red and says so, in the built-in drawing and Graphviz's, and the explained reads are not."""
    import xml.etree.ElementTree as ET

    from prov_common.audit.catalog import known_runs
    from prov_common.audit.lineage import LineageIndex
    from prov_common.audit.svg import lineage_graph
    from prov_common.signing import trust_from_settings
    from prov_common.sources.registry import iter_sources
    from prov_common.store import open_store
    from prov_common.w3cprov.drawing import ALERT, render_svg, to_dot

    html = make_report(str(tmp_path / "store"), tmp_path / "report").read_text()
    assert "✗ broken link" in html
    store = open_store(str(tmp_path / "store"))
    trust = trust_from_settings(Settings.from_env(store=store.uri))
    graph = lineage_graph(LineageIndex(known_runs(store, trust).values(), [s.record for s in iter_sources(store, trust)]))
    broken = {n.dataset: n.broken for n in graph.nodes.values() if n.broken}
    assert broken == {"scraped.jsonl": "no recorded run generated this version of this dataset and no registered source has its digest"}
    svg = ET.fromstring(render_svg(graph))
    ns = "{http://www.w3.org/2000/svg}"
    red = {"".join(g.find(f"{ns}text").itertext()) for g in svg.iter(f"{ns}g")
           if any(shape.get("stroke") == ALERT for shape in g if shape.tag in (f"{ns}ellipse", f"{ns}rect"))}
    assert any("scraped.jsonl" in t and "✗ broken link" in t for t in red), red
    assert not any("raw.csv" in t for t in red) and len(red) == 2, red  # the other: the failed quality check
    scraped = [line for line in to_dot(graph).splitlines() if "scraped.jsonl" in line and " -> " not in line]
    assert scraped and all(ALERT in line for line in scraped), scraped


def test_the_report_names_what_it_did_not_check_and_who_signed_what(tmp_path: Path) -> None:
    """A clean page said "Clean" while the data was never re-hashed, and named no key: the verdict names the
    checks this audit skipped, and a section names the keys that signed the bundles and the checkpoint, the
    checkpoint the auditor remembered, and how to check the log without the report."""
    from html import unescape

    from prov_common.signing import signing_key_from_settings

    pipe = Pipeline(str(tmp_path / "store"))
    settings = Settings.from_env(store=pipe.store.uri)
    key = signing_key_from_settings(settings).key_id
    first = run_audit(pipe.store, settings, progress=False, report_dir=tmp_path / "r1")
    assert first.clean
    page = unescape(Path(first.report_html).read_text())
    verdict = page.split('id="verdict">', 1)[1].split("</div>", 1)[0]
    assert verdict == "Clean: no findings and no notes. Not checked by this audit: Data still hashes to its recorded digest (see Checks)."
    signatures = page.split("<h2>Log and signatures</h2>", 1)[1].split("<h2>", 1)[0]
    assert f"<code>{key}</code>: 2 runs" in signatures  # the writer's key (the same key audits here)
    assert "none: the first audit by this auditor" in signatures and "tdprov prove RUN_ID" in signatures
    report = json.loads((tmp_path / "r1" / "report.json").read_text())
    assert {r["keyId"] for r in report["runs"]} == {key}
    second = run_audit(pipe.store, settings, progress=False, report_dir=tmp_path / "r2", rehash=True)
    page = unescape(Path(second.report_html).read_text())
    assert "Not checked by this audit" not in page.split('id="verdict">', 1)[1].split("</div>", 1)[0]
    signatures = page.split("<h2>Log and signatures</h2>", 1)[1].split("<h2>", 1)[0]
    assert f"size 2, root <code>{first.checkpoint.checkpoint.root}</code>" in signatures


def test_every_training_dataset_is_in_the_json_and_the_page_says_what_it_leaves_out(tmp_path: Path) -> None:
    """60 prepare/train pairs besides the pipeline's own: report.json describes all 61 training datasets and
    counts them; the page shows the newest 50, the one with a failed check (the oldest) among them first, and
    says how many it leaves out and where they are."""
    pipe = Pipeline(str(tmp_path / "store"))
    for i in range(60):
        made = dataset(f"/d/f{i}.parquet", digest(f"f{i}"), **({"passed": False, "failed": ("in_range",)} if i == 0 else {}))
        seal(pipe.store, run_events("prepare", [dataset(pipe.raw_name, pipe.raw)], [made], start=T0 + timedelta(hours=2, minutes=2 * i)))
        seal(pipe.store, run_events("train", [dataset(f"/d/f{i}.parquet", digest(f"f{i}"))], [dataset(f"/m/{i}.pkl", digest(f"m{i}"))],
                                    start=T0 + timedelta(hours=2, minutes=2 * i + 1), job_type="TRAINING"))
    run_audit(pipe.store, Settings.from_env(store=pipe.store.uri), report_dir=tmp_path / "r", progress=False)
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["summary"]["trainingRuns"] == 61
    assert len(report["trainingData"]) == report["trainingDataTotal"] == 61
    assert {f"/d/f{i}.parquet" for i in range(60)} <= {e["dataset"] for e in report["trainingData"]}
    html = (tmp_path / "r" / "report.html").read_text()
    training = html.split('<h2 class="training">', 1)[1]
    assert training.count('<section class="dataset">') == 50
    assert "50 of 61 training datasets shown" in training and "report.json lists all 61" in training
    assert "tdprov record" in training
    assert training.split('<section class="dataset">')[1].startswith("<h3>/d/f0.parquet</h3>")  # a failed check comes first


def test_names_cannot_pass_for_others_or_widen_the_page(tmp_path: Path) -> None:
    """A bidi override or a zero-width character in a name is shown escaped on the page and in its picture, as the
    CLI shows it; a 2,000-character name wraps in its heading."""
    pipe = Pipeline(str(tmp_path / "store"))
    names = ["/data/\u202eevil\u202c/gnp.exe.csv", "/data/zero\u200bwidth.csv", "/data/" + "long_" * 400 + "end.parquet"]
    seal(pipe.store, run_events("prep", [dataset(pipe.raw_name, pipe.raw)], [dataset(n, digest(n)) for n in names],
                                start=T0 + timedelta(hours=2)))
    seal(pipe.store, run_events("train", [dataset(n, digest(n)) for n in names], [dataset("/m/x.pkl", digest("x"))],
                                start=T0 + timedelta(hours=3), job_type="TRAINING"))
    result = run_audit(pipe.store, Settings.from_env(store=pipe.store.uri), report_dir=tmp_path / "r", progress=False)
    html = Path(result.report_html).read_text()
    shown = re.sub(r'="[^"]*"', "", html)  # what the page shows: attribute values (the picture's ids) are not shown
    assert "\u202e" not in shown and "\u202c" not in shown and "\u200b" not in shown
    assert "<h3>/data/\\u202eevil\\u202c/gnp.exe.csv</h3>" in html and "/data/zero\\u200bwidth.csv" in html
    assert "\\u202eevil" in html.split('<figure class="picture">', 1)[1].split("</figure>", 1)[0]  # the picture's node
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert names[0] in {e["dataset"] for e in report["trainingData"]}  # the data stays as recorded


@needs_chromium
def test_a_long_name_wraps_in_its_heading(tmp_path: Path) -> None:
    pipe = Pipeline(str(tmp_path / "store"))
    long = "/data/" + "long_" * 400 + "end.parquet"
    seal(pipe.store, run_events("prep", [dataset(pipe.raw_name, pipe.raw)], [dataset(long, digest(long))], start=T0 + timedelta(hours=2)))
    seal(pipe.store, run_events("train", [dataset(long, digest(long))], [dataset("/m/x.pkl", digest("x"))],
                                start=T0 + timedelta(hours=3), job_type="TRAINING"))
    page = Path(run_audit(pipe.store, Settings.from_env(store=pipe.store.uri), report_dir=tmp_path / "r", progress=False).report_html)
    with launched() as browser, new_page(browser, 1280, 1000) as tab:
        tab.goto(page.as_uri(), wait_until="load")
        assert tab.evaluate("document.documentElement.scrollWidth") <= 1280


def test_the_picture_says_which_training_runs_it_shows_of_how_many(tmp_path: Path) -> None:
    """The picture drew the newest 5 training runs without saying so, while the training-data table says what it
    leaves out: the page now says "The newest 5 of 7 training runs shown" (and when all are drawn, that they are); of
    one run it says "with its upstream lineage", not "each with"."""
    from html import unescape

    pipe = Pipeline(str(tmp_path / "store"))  # one training run of its own
    html = unescape((Path(run_audit(pipe.store, Settings.from_env(store=pipe.store.uri), report_dir=tmp_path / "r1",
                                    progress=False).report_html)).read_text())
    assert "The one training run shown, with its upstream lineage." in html, html[html.find("Lineage of the"):][:600]
    for i in range(6):
        seal(pipe.store, run_events(f"train_{i}", [dataset("/data/features.parquet", pipe.features)],
                                    [dataset(f"/models/m{i}.pkl", digest(f"m{i}"))], start=T0 + timedelta(hours=3 + i), job_type="TRAINING"))
    html = unescape((Path(run_audit(pipe.store, Settings.from_env(store=pipe.store.uri), report_dir=tmp_path / "r2",
                                    progress=False).report_html)).read_text())
    scope = html[html.find('id="picture-scope"'):][:400]
    assert "The newest 5 of 7 training runs shown, each with its upstream lineage." in scope, scope
    assert "tdprov lineage DATASET -o" in scope
    assert html.index('id="picture-scope"') < html.index('<figure class="picture">')


def test_a_store_with_no_validation_says_so_and_how_one_is_recorded(tmp_path: Path) -> None:
    """The quality section of a store where no version was validated says that none was and how a schema records one:
    it read '0 validated dataset version(s) passed their Pandera schema; 0 failed. Each failed check is counted
    once.', which a reviewer of Article 10(2)(f) and 10(3) could take for validations that all passed."""
    from html import unescape

    store = str(tmp_path / "store")
    record_runs(store, 1)
    page = unescape(Path(run_audit(open_store(store), Settings.from_env(store=store), report_dir=tmp_path / "r",
                                   progress=False).report_html).read_text())
    said = page[page.find('id="quality-counts">'):].split("</p>", 1)[0]
    assert said == ('id="quality-counts">No Pandera validation is recorded: no dataset version in the store was validated. '
                    'A schema on an asset (<code>provenance_asset(schema=...)</code>) or a task '
                    '(<code>@task.provenance(schema=...)</code>) records one with every version it writes.'), said


def test_failed_validations_beyond_the_rows_listed_are_counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The report lists at most MAX_QUALITY_ROWS failed validations: past it, the page said '1000 failed (below)' of
    1,002 and report.json gave no count. Both count every failed version and the page says how many it lists."""
    from html import unescape

    import prov_common.audit.result as result_module

    monkeypatch.setattr(result_module, "MAX_QUALITY_ROWS", 2)
    store = str(tmp_path / "store")
    outputs = [dataset(f"/data/v{i}.csv", digest(f"v{i}"), passed=False, failed=("in_range(0, 1)",)) for i in range(3)]
    seal(open_store(store), run_events("validate", [], outputs))
    result = run_audit(open_store(store), Settings.from_env(store=store), report_dir=tmp_path / "r", progress=False)
    report = json.loads(Path(str(result.report_json)).read_text())
    assert len(report["quality"]) == 2 and report["qualityFailedVersions"] == 3
    named = {f["object"] for c in report["checks"] for f in c["findings"] if "/data/v" in f["object"]}
    assert named == {f"/data/v{i}.csv@{digest(f'v{i}')}" for i in range(3)}  # as the page says: each is a note
    page = unescape(Path(str(result.report_html)).read_text())
    said = page[page.find('id="quality-counts">'):].split("</p>", 1)[0]
    assert "0 validated dataset versions passed their Pandera schema; 3 failed (the first 2 below" in said, said


def test_failed_validations_past_the_page_bound_are_counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The page's quality table listed every failed validation report.json lists (up to MAX_QUALITY_ROWS, 1,000), where
    the findings and notes tables show at most MAX_FINDINGS_SHOWN: it shows as many, and says how many report.json lists."""
    from html import unescape

    import prov_common.audit.html as html_module

    monkeypatch.setattr(html_module, "MAX_FINDINGS_SHOWN", 1)
    store = str(tmp_path / "store")
    outputs = [dataset(f"/data/v{i}.csv", digest(f"v{i}"), passed=False, failed=("in_range(0, 1)",)) for i in range(2)]
    seal(open_store(store), run_events("validate", [], outputs))
    result = run_audit(open_store(store), Settings.from_env(store=store), report_dir=tmp_path / "r", progress=False)
    assert len(json.loads(Path(str(result.report_json)).read_text())["quality"]) == 2
    page = unescape(Path(str(result.report_html)).read_text())
    quality = page.split("<h2>Quality</h2>", 1)[1].split("<h2>Sources</h2>", 1)[0]
    assert quality.count("<tr><td>") == 1, quality
    assert ("2 failed (the first 1 below of the 2 report.json lists (<code>quality</code>); the findings and notes name "
            "each)") in quality, quality


def test_the_lineage_picture_marks_an_unexplained_origin_as_the_audit_picture_does(tmp_path: Path, capsys) -> None:
    """'tdprov lineage -o' drew an input no run made and no source has as a plain version, where the text tree ends it
    as '[origin: no recorded run generated it]' and the audit's picture calls it a broken link: it is drawn as the
    audit draws one, outlined in red, the text's words in its tooltip; the versions the tree explains are not."""
    import xml.etree.ElementTree as ET

    from prov_common.cli import main
    from prov_common.w3cprov.drawing import ALERT

    uri = str(tmp_path / "store")
    make_report(uri, tmp_path / "report")
    picture = tmp_path / "lineage.svg"
    assert main(["lineage", "/models/ranker.pkl", "--store", uri]) == 0
    (line,) = [line for line in capsys.readouterr().out.splitlines() if "s3://crawl/scraped.jsonl  blake3:" in line]
    assert line.endswith("  [origin: no recorded run generated it]"), line
    assert main(["lineage", "/models/ranker.pkl", "--renderer", "builtin", "-o", str(picture), "--store", uri]) == 0
    ns = "{http://www.w3.org/2000/svg}"
    drawn = {"".join(g.find(f"{ns}text").itertext()): (next(s.get("stroke") for s in g if s.tag == f"{ns}ellipse"), g.findtext(f"{ns}title"))
             for g in ET.fromstring(picture.read_text()).iter(f"{ns}g") if "version" in (g.get("class") or "")}
    (text, (colour, tooltip)), = [(t, d) for t, d in drawn.items() if t.startswith("s3://crawl/scraped.jsonl")]
    assert text.endswith("✗ broken link") and colour == ALERT, drawn
    assert tooltip.endswith("\nbroken link: origin: no recorded run generated it"), tooltip
    assert [t for t, (_, tip) in drawn.items() if "broken link" in t or "broken link" in tip] == [text], drawn


def test_the_picture_draws_passed_checks_beside_failed_ones_as_the_lineage_picture_does(tmp_path: Path) -> None:
    """The report's picture drew failed checks only, where 'lineage -o' and 'graph' draw passed ones too: a version
    whose checks all passed looked never validated. Each outcome is counted on the version in its colour and the
    version whose checks all passed is outlined in green, by the same drawing."""
    import xml.etree.ElementTree as ET

    from prov_common.audit.catalog import known_runs
    from prov_common.audit.lineage import LineageIndex
    from prov_common.audit.svg import lineage_graph
    from prov_common.signing import trust_from_settings
    from prov_common.w3cprov.drawing import ALERT, PASSED, render_svg

    pipe = Pipeline(str(tmp_path / "store"))
    clean, mixed = dataset("/data/clean.parquet", digest("clean"), passed=True), dataset("/data/mixed.parquet", digest("mixed"), passed=False)
    clean["facets"]["tdprov_pandera"]["checks"] = [{"name": f"check_{i}", "column": "a", "passed": True} for i in range(3)]
    mixed["facets"]["tdprov_pandera"]["checks"] = [{"name": "in_range", "column": "a", "passed": False},
                                                   {"name": "not_null", "column": "a", "passed": True}]
    seal(pipe.store, run_events("prepare", [dataset(pipe.raw_name, pipe.raw)], [clean, mixed], start=T0 + timedelta(hours=2)))
    seal(pipe.store, run_events("train_model", [dataset("/data/clean.parquet", digest("clean")), dataset("/data/mixed.parquet", digest("mixed"))],
                                [dataset("/models/ranker.pkl", digest("ranker"))], start=T0 + timedelta(hours=3), job_type="TRAINING"))
    result = run_audit(pipe.store, Settings.from_env(store=pipe.store.uri), report_dir=tmp_path / "report", progress=False)
    html = Path(result.report_html).read_text()
    assert "✓ 3 passed checks" in html and "✓ 1 passed check" in html and "✗ 1 failed check" in html

    trust = trust_from_settings(Settings.from_env(store=pipe.store.uri))
    graph = lineage_graph(LineageIndex(known_runs(pipe.store, trust).values(), []))
    checks = {n.dataset: (n.failed_checks, n.passed_checks) for n in graph.nodes.values() if n.dataset in ("/data/clean.parquet", "/data/mixed.parquet")}
    assert checks == {"/data/clean.parquet": ((), ("check_0[a]", "check_1[a]", "check_2[a]")),
                      "/data/mixed.parquet": (("in_range[a]",), ("not_null[a]",))}
    ns = "{http://www.w3.org/2000/svg}"
    outlines = {"".join(g.find(f"{ns}text").itertext()): next(s.get("stroke") for s in g if s.tag == f"{ns}ellipse")
                for g in ET.fromstring(render_svg(graph)).iter(f"{ns}g") if "version" in (g.get("class") or "")}
    assert {text: colour for text, colour in outlines.items() if "check" in text} == {
        next(t for t in outlines if "clean.parquet" in t): PASSED, next(t for t in outlines if "mixed.parquet" in t): ALERT}
    assert any(t.endswith("✓ 3 passed checks") for t in outlines) and any(t.endswith("✗ 1 failed check✓ 1 passed check") for t in outlines), outlines


def test_the_picture_draws_the_checks_a_validation_run_recorded_on_a_version_it_read(tmp_path: Path) -> None:
    """A version validated by a run that read it (an Airflow validation task, apart from the task that wrote it) was
    drawn with its writer's checks only: its failed schema was a gap of the training data in report.json and
    nothing in the picture ('lineage -o' and 'graph' draw it). The picture draws the checks every run that wrote or
    read the version recorded on it, as the report's quality counts them."""
    pipe = Pipeline(str(tmp_path / "store"))
    read = dataset("/data/features.parquet", pipe.features, passed=False, failed=("in_range",))
    read["facets"]["tdprov_pandera"]["checks"].append({"name": "not_null", "column": "amount", "passed": True})
    seal(pipe.store, run_events("validate_features", [read], [], start=T0 + timedelta(minutes=30)))
    result = run_audit(pipe.store, Settings.from_env(store=pipe.store.uri), report_dir=tmp_path / "report", progress=False)
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    (gaps,) = [e["article10"]["knownGaps"] for e in report["trainingData"]]
    assert any("/data/features.parquet@" in g and "failed Pandera schema /data/features.parquet_schema" in g for g in gaps), gaps
    html = Path(result.report_html).read_text()
    picture = html[html.find("<figure"):html.find("</figure>")]
    assert "✗ 1 failed check" in picture and "✓ 2 passed checks" not in picture and "✓ 1 passed check" in picture, picture


def test_the_picture_draws_each_digest_of_a_source_name_as_its_own_node(tmp_path: Path) -> None:
    """A source version is a registered source at a digest: the report's picture keyed a source by ``src:<name>``, so two
    digests registered under one name (the data changed, and at another location) were one node without a digest. Each
    is now a node of its own, labelled with its digest and keyed by the qualified name ``tdprov export`` gives it."""
    import xml.etree.ElementTree as ET

    from prov_common.audit.catalog import known_runs
    from prov_common.audit.lineage import LineageIndex
    from prov_common.audit.svg import lineage_graph
    from prov_common.cli import main
    from prov_common.signing import trust_from_settings
    from prov_common.sources.model import SourceRecord, source_iri
    from prov_common.sources.registry import iter_sources
    from prov_common.w3cprov.drawing import render_svg
    from prov_common.w3cprov.source_links import source_name

    store_uri = str(tmp_path / "store")
    first, changed, moved = digest("v1"), digest("v2"), digest("v3")
    reads = (("/data/v.csv", first), ("/data/v.csv", changed), ("/mirror/v.csv", moved))
    for location, data in reads:
        assert main(["source", "add", location, "--digest", data, "--name", "vendor", "--license", "CC-BY-4.0",
                     "--issuer", "Vendor Inc", "--store", store_uri]) == 0
    store = open_store(store_uri)
    for hours, (location, data) in enumerate(reads):
        seal(store, run_events(f"train_{hours}", [dataset(location, data)], [dataset(f"/models/m{hours}.pkl", digest(f"m{hours}"))],
                               start=T0 + timedelta(hours=hours), job_type="TRAINING"))
    trust = trust_from_settings(Settings.from_env(store=store_uri))
    graph = lineage_graph(LineageIndex(known_runs(store, trust).values(), [s.record for s in iter_sources(store, trust)]))
    svg = ET.fromstring(render_svg(graph))
    ns = "{http://www.w3.org/2000/svg}"
    drawn = {g.get("data-node"): "".join(g.itertext()) for g in svg.iter(f"{ns}g") if "source vendor" in "".join(g.itertext())
             and g.get("data-node")}
    expected = {str(source_name(source_iri(SourceRecord(name="vendor", digest=d, license="x", issuer="y")))): d
                for d in (first, changed, moved)}
    assert set(drawn) == set(expected), drawn
    for key, data in expected.items():
        assert data[:19] in drawn[key], (key, drawn[key])  # blake3: and 12 hex digits


@pytest.mark.parametrize("copy", ["/copies/cancer.csv", "/zcopies/cancer.csv"])  # read before, then after, the source
def test_a_source_read_at_its_location_is_drawn_so_whichever_input_reaches_it_first(tmp_path: Path, copy: str) -> None:
    """A run read a source at its location and a copy of its bytes elsewhere: the picture labelled the source node by
    whichever input reached it first, so with the copy first (inputs in name order) it was '(same content)'. It is
    matched by location wherever it is read at its location, as the training data's matchedBy says."""
    import html

    from prov_common.cli import main

    store, data, prepared = str(tmp_path / "store"), digest("breast cancer"), digest("prepared")
    for location, name in (("/data/cancer.csv", "breast-cancer"), ("/mirror/cancer.csv", "cancer-mirror")):
        assert main(["source", "add", location, "--digest", data, "--name", name, "--license", "CC-BY-4.0",
                     "--issuer", "UCI", "--store", store]) == 0
    seal(open_store(store), run_events("prepare", [dataset("/data/cancer.csv", data), dataset(copy, data)],
                                       [dataset("/data/prepared.parquet", prepared)], start=T0))
    seal(open_store(store), run_events("train_model", [dataset("/data/prepared.parquet", prepared)],
                                       [dataset("/models/m.pkl", digest("m"))], start=T0 + timedelta(minutes=10), job_type="TRAINING"))
    assert main(["audit", "--store", store, "--report", str(tmp_path / "r"), "--quiet"]) in (0, 1)
    page = html.unescape((tmp_path / "r" / "report.html").read_text()).split("<svg", 1)[1].split("</svg>", 1)[0]
    assert sorted(set(re.findall(r">\s*(source [^<]*?)\s*<", page))) == ["source breast-cancer", "source cancer-mirror (same content)"]
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    [entry] = [e for e in report["trainingData"] if e["dataset"] == "/data/prepared.parquet"]
    assert {o["name"]: o["matchedBy"] for o in entry["article10"]["origin"]} == {"breast-cancer": "location", "cancer-mirror": "content"}


def test_the_findings_notes_and_sources_past_the_page_bound_are_counted_and_named(tmp_path: Path,
                                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The page listed every finding, note and source (a store with tens of thousands of findings made a page of many
    megabytes); it now lists at most MAX_FINDINGS_SHOWN of each kind, each check's first in turn, and
    MAX_SOURCES_SHOWN sources, saying how many it does not show and that report.json lists them all; the counts stay exact."""
    from html import unescape

    import prov_common.audit.html as html_module
    from prov_common.sources import SourceRecord, register_source

    monkeypatch.setattr(html_module, "MAX_FINDINGS_SHOWN", 2)
    monkeypatch.setattr(html_module, "MAX_SOURCES_SHOWN", 1)
    pipe = Pipeline(str(tmp_path / "store"))
    for i in range(2):
        register_source(pipe.store, SourceRecord(name=f"extra-{i}", digest=digest(f"s{i}"), license="CC0-1.0", issuer="Acme"), pipe.key)
    failed = [dataset(f"/data/v{i}.csv", digest(f"v{i}"), passed=False, failed=("in_range(0, 1)",)) for i in range(4)]
    seal(pipe.store, run_events("validate", [], failed))  # notes: failed validations nobody used (v1 to v3)
    seal(pipe.store, run_events("prep", [dataset(f"/in/{i}.csv", digest(f"in{i}")) for i in range(3)], [dataset("/data/p.csv", digest("p"))],
                                start=T0 + timedelta(hours=2)))  # three completeness findings: reads nothing explains
    seal(pipe.store, run_events("train_v", [dataset("/data/v0.csv", digest("v0"))], [dataset("/m/v.pkl", digest("mv"))],
                                start=T0 + timedelta(hours=3), job_type="TRAINING"))  # a quality finding: a failed version used
    result = run_audit(pipe.store, Settings.from_env(store=pipe.store.uri), report_dir=tmp_path / "r", progress=False)
    report = json.loads(Path(str(result.report_json)).read_text())
    found = [(c["name"], f) for c in report["checks"] for f in c["findings"]]
    errors = [(c, f) for c, f in found if f.get("severity", "error") == "error"]
    notes = [(c, f) for c, f in found if f.get("severity") == "note"]
    assert {c for c, _ in errors} == {"completeness", "quality"} and len(errors) > 2 and len(notes) > 2, found
    assert len(report["sources"]) == 3
    page = unescape(Path(str(result.report_html)).read_text())
    findings = page.split(f"<h2>Findings ({len(errors)})</h2>", 1)[1].split("<h2>Runs</h2>", 1)[0]
    table, rest = findings.split('<table class="notes">', 1) if notes else (findings, "")
    assert table.count("<tr><td>") == 2 and "<tr><td>completeness</td>" in table and "<tr><td>quality</td>" in table, table
    assert (f"2 of {len(errors)} findings shown, each check's first in turn; the other {len(errors) - 2} are not shown here: "
            f"report.json lists all {len(errors)} (the <code>findings</code> of each of its <code>checks</code>)") in table, table
    assert rest.count("<tr><td>") == 2 and f"2 of {len(notes)} notes shown" in rest and f"the other {len(notes) - 2} are not shown" in rest
    sources = page.split("<h2>Sources</h2>", 1)[1].split('<h2 class="training">', 1)[0]
    assert sources.count("<h3>") == 1 and ("1 of 3 registered sources shown; the other 2 are not shown here: report.json lists all 3 "
                                           "(<code>sources</code>)") in sources, sources
    assert f"<tr><th>findings</th><td>{len(errors)}</td></tr>" in page and f"<tr><th>notes</th><td>{len(notes)}</td></tr>" in page  # exact counts


def test_report_json_is_written_compact_and_its_digest_is_of_those_bytes(tmp_path: Path) -> None:
    """report.json was indented by two spaces, which Python's pure-Python encoder writes (a 10,000-bundle store's 66 MB
    report took about 0.8 s of CPU): it is written compact, keys sorted, one line, and the digest its audit signs is
    that of those bytes."""
    from prov_common.hashing.raw import blake3_digest

    store = open_store(str(tmp_path / "store"))
    seal(store, run_events("prepare", [], [dataset("/data/a.csv", digest("a"))]))
    result = run_audit(store, Settings.from_env(store=store.uri), report_dir=tmp_path / "r", progress=False)
    data = (tmp_path / "r" / "report.json").read_bytes()
    assert data == (json.dumps(json.loads(data), separators=(",", ":"), sort_keys=True) + "\n").encode()
    assert data.count(b"\n") == 1 and data.startswith(b'{"accepted":') and result.report_digest == blake3_digest(data)
