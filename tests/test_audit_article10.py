"""The report's Article 10 items, the personal-data finding, and a report that never contradicts itself
(no "Clean" banner above findings or notes, counts equal to the rows shown, a failed check counted once)."""
from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

from prov_common.audit import run_audit
from prov_common.cli import main as tdprov
from prov_common.config import Settings

from test_audit_support import T0, Pipeline, dataset, digest, run_events, seal

ITEMS = ["10(2)(a)", "10(2)(b)", "10(2)(c)", "10(2)(d)", "10(2)(e)", "10(2)(f)", "10(2)(g)", "10(2)(h)", "10(3)", "10(5)"]


def audit(pipe: Pipeline, out: Path):
    result = run_audit(pipe.store, Settings.from_env(store=pipe.store.uri), report_dir=out, progress=False)
    return result, json.loads((out / "report.json").read_text()), (out / "report.html").read_text()


def add_source(store: str, name: str, data: str, *options: str) -> int:
    return tdprov(["source", "add", "/data/people.csv", "--digest", data, "--name", name, "--license", "proprietary",
                   "--issuer", "Acme Data", *options, "--store", store])


def test_article10_items_show_the_records_or_name_the_gap(tmp_path: Path) -> None:
    pipe = Pipeline(str(tmp_path / "store"))
    result, report, html = audit(pipe, tmp_path / "r")
    assert result.clean
    [entry] = report["trainingData"]
    items = {i["item"]: i for i in entry["article10"]["items"]}
    assert list(items) == ITEMS
    assert all(i["recordsShow"] or i["gaps"] for i in items.values())
    assert "marked as training (OpenLineage jobType TRAINING)" in items["10(2)(a)"]["recordsShow"][0]
    assert "'vendor-raw' issued by Acme Data under CC-BY-4.0; method survey; collected 2025-01-01 to 2025-03-31; origin DE" \
        in items["10(2)(b)"]["recordsShow"][0]
    assert [s.split(" (run")[0] for s in items["10(2)(c)"]["recordsShow"]] == ["tests/prepare_features"]
    assert "tdprov source add --description" in " ".join(items["10(2)(d)"]["gaps"])  # the source has no description
    assert "row count not recorded" in " ".join(items["10(2)(e)"]["gaps"])  # these events carry no row counts
    assert items["10(3)"]["recordsShow"][0] == "free of errors: 1 Pandera validation passed, 0 failed"
    personal = items["10(5)"]["recordsShow"][0]
    assert "personal data pseudonymised" in personal and "failure samples mask every column" in personal
    assert "consent documented at https://acme.example/consent" in personal and not items["10(5)"]["gaps"]
    for ref in ITEMS:
        assert f"Art. {ref}</strong>" in html
    assert "Art. 10(2)(b)" in html and "tdprov source add --description" in html


def test_annex_iv_names_each_cleaning_step_by_its_job_as_the_report_prints_jobs(tmp_path: Path) -> None:
    """Annex IV's data cleaning methodologies name each preparation run's job as namespace/name text (as 10(2)(c), the
    HTML report and 'tdprov runs' do), never the job object of report.json."""
    pipe = Pipeline(str(tmp_path / "store"))
    _, report, html = audit(pipe, tmp_path / "r")
    [entry] = report["trainingData"]
    [step] = entry["article10"]["preparation"]
    assert step["job"] == {"namespace": "tests", "name": "prepare_features"}
    shown = f"tests/prepare_features (run {step['runId']})"
    assert entry["annexIV"]["dataCleaningMethodologies"] == [shown]
    assert re.search(r"Data cleaning methodologies</t[hd]>\s*<td>" + re.escape(shown) + "</td>", html)
    assert "{'namespace'" not in html and "{&#x27;namespace&#x27;" not in html


def test_a_source_that_says_nothing_gets_gaps_naming_the_options(tmp_path: Path) -> None:
    pipe = Pipeline(str(tmp_path / "store"))
    bare = digest("bare")
    assert add_source(pipe.store.uri, "bare-source", bare) == 0
    seal(pipe.store, run_events("train_bare", [dataset("/data/people.csv", bare)], [dataset("/models/bare.pkl", digest("bare model"))],
                                start=T0 + timedelta(hours=2), job_type="TRAINING"))
    _, report, _ = audit(pipe, tmp_path / "r")
    entry = next(e for e in report["trainingData"] if e["dataset"] == "/data/people.csv")
    items = {i["item"]: i for i in entry["article10"]["items"]}
    collection = " ".join(items["10(2)(b)"]["gaps"])
    assert all(f"--{o}" in collection for o in ("generation-method", "collection-start", "collection-end", "origin-geography"))
    assert "--personal-data none|personal|sensitive|pseudonymised|anonymised" in items["10(5)"]["gaps"][0]
    assert "free of errors: no validation recorded" in items["10(3)"]["gaps"][0]
    assert "; collected at times not recorded;" in items["10(2)(b)"]["recordsShow"][0]


def test_a_collection_known_at_one_end_says_which(tmp_path: Path) -> None:
    """A source recorded with its collection end only read "collected unknown to 1995-11-01"; the one run that
    used it was "(runs ...)"."""
    pipe = Pipeline(str(tmp_path / "store"))
    uci = digest("uci")
    assert add_source(pipe.store.uri, "uci", uci, "--collection-end", "1995-11-01") == 0
    train = seal(pipe.store, run_events("train_uci", [dataset("/data/people.csv", uci)], [dataset("/models/uci.pkl", digest("uci model"))],
                                        start=T0 + timedelta(hours=2), job_type="TRAINING"))
    _, report, html = audit(pipe, tmp_path / "r")
    entry = next(e for e in report["trainingData"] if e["dataset"] == "/data/people.csv")
    shown = {i["item"]: i for i in entry["article10"]["items"]}["10(2)(b)"]["recordsShow"][0]
    assert "; collected until 1995-11-01, start not recorded;" in shown, shown
    assert "collected until 1995-11-01, start not recorded" in html
    assert f"used by training job tests/train_uci (run {train})" in html  # one run, not "(runs ...)"


def test_personal_data_without_consent_or_legal_basis_is_a_finding(tmp_path: Path, capsys) -> None:
    pipe = Pipeline(str(tmp_path / "store"))
    people = digest("people")
    assert add_source(pipe.store.uri, "crm-people", people, "--personal-columns", "email,phone") == 0
    assert add_source(pipe.store.uri, "anon-people", digest("anon"), "--personal-data", "anonymised") == 0
    result, report, html = audit(pipe, tmp_path / "r1")
    assert result.exit_code == 1
    [found] = [f for f in result.errors]
    assert found.check == "sources" and "crm-people" in found.object
    assert "personal columns email, phone" in found.what and "neither consent nor a legal basis" in found.what
    assert "--consent" in found.fix and "--legal-basis" in found.fix
    assert "Clean" not in html and "1 finding:" in html
    # records are write-once: the same data registered again with its legal basis closes the finding
    assert add_source(pipe.store.uri, "crm-people-v2", people, "--personal-columns", "email,phone",
                      "--legal-basis", "GDPR Art. 6(1)(f) legitimate interest") == 0
    result, report, _ = audit(pipe, tmp_path / "r2")
    assert result.clean, [f.what for f in result.errors]
    listed = {s["name"]: s for s in report["sources"]}
    assert listed["crm-people-v2"]["legalBasis"] == "GDPR Art. 6(1)(f) legitimate interest"


def _count(html: str, label: str) -> int:
    return int(re.search(rf"<tr><th>{label}</th><td>(\d+)</td></tr>", html).group(1))


def _rows(html: str, css: str) -> int:
    found = re.search(rf'<table class="{css}">(.*?)</table>', html, re.S)
    return found.group(1).count("<tr>") - 1 if found else 0  # minus the header row


def test_no_clean_banner_above_notes_and_counts_match_the_rows(tmp_path: Path) -> None:
    """A failed Pandera validation nobody used is a note: the banner says so instead of "Clean"; then a
    training run uses it: a finding, counted once in the summary, the findings table and the picture."""
    pipe = Pipeline(str(tmp_path / "store"))
    bad = digest("bad")
    seal(pipe.store, run_events("prepare_more", [dataset(pipe.raw_name, pipe.raw)],
                                [dataset("/data/more.parquet", bad, passed=False, failed=("in_range(0, 100)",))], start=T0 + timedelta(hours=2)))
    result, report, html = audit(pipe, tmp_path / "r1")
    assert result.clean and report["summary"]["notes"] == 1
    assert "Clean" not in html and "No findings; 1 note below" in html
    assert (_count(html, "findings"), _count(html, "notes")) == (0, 1) == (_rows(html, "findings"), _rows(html, "notes"))
    assert 'id="quality-counts">1 validated dataset version passed its Pandera schema; 1 failed' in html.replace("\n", "")

    seal(pipe.store, run_events("train_more", [dataset("/data/more.parquet", bad)], [dataset("/models/more.pkl", digest("more"))],
                                start=T0 + timedelta(hours=3), job_type="TRAINING"))
    result, report, html = audit(pipe, tmp_path / "r2")
    assert result.exit_code == 1
    assert _count(html, "findings") == len(result.errors) == _rows(html, "findings") == 1
    assert _count(html, "notes") == _rows(html, "notes") == 0
    assert "Clean" not in html and "1 finding:" in html
    picture = html.split("<h2>Lineage of the training inputs</h2>", 1)[1].split("<h2>", 1)[0]
    assert "✗ 1 failed check" in picture and "failed checks" not in picture  # one failing check, not two
    row = re.search(r'<table class="quality">.*?</table>', html, re.S).group(0)
    assert row.count("in_range(0, 100)[amount]") == 1


def test_a_version_that_is_a_registered_source_takes_its_row_count(tmp_path: Path) -> None:
    """The raw input is the registered source's digest: its rows are those the source record gives (a second record of
    the same data, which the audit reads with the first), shown as such and not a gap; the versions no record counts are
    still gaps."""
    from prov_common.sources import SourceRecord, register_source

    pipe = Pipeline(str(tmp_path / "store"))
    register_source(pipe.store, SourceRecord(name="vendor-raw-counted", digest=pipe.raw, license="CC-BY-4.0", issuer="Acme Data",
                                             location=pipe.raw_name, rows=569), pipe.key)
    _, report, _ = audit(pipe, tmp_path / "r")
    [entry] = report["trainingData"]
    quantity = next(i for i in entry["article10"]["items"] if i["item"] == "10(2)(e)")
    assert (f"{pipe.raw_name}@{pipe.raw}: 569 rows (as registered source 'vendor-raw' (also recorded as 'vendor-raw-counted'))"
            in quantity["recordsShow"])
    assert not [g for g in quantity["gaps"] if pipe.raw in g]
    assert [g for g in quantity["gaps"] if pipe.features in g]


def test_a_source_of_one_row_is_said_in_the_singular(tmp_path: Path) -> None:
    """A registered source of one row and one byte shows '1 row', '1 byte'; it read '1 rows', '1 bytes'."""
    from prov_common.sources import SourceRecord, register_source

    pipe = Pipeline(str(tmp_path / "store"))
    register_source(pipe.store, SourceRecord(name="vendor-raw-counted", digest=pipe.raw, license="CC-BY-4.0", issuer="Acme Data",
                                             location=pipe.raw_name, rows=1, bytes=1), pipe.key)
    _, report, _ = audit(pipe, tmp_path / "r")
    [entry] = report["trainingData"]
    shows = next(i for i in entry["article10"]["items"] if i["item"] == "10(2)(e)")["recordsShow"]
    assert f"{pipe.raw_name}@{pipe.raw}: 1 row (as registered source 'vendor-raw' (also recorded as 'vendor-raw-counted'))" in shows
    assert any(line.endswith(": 1 row, 1 byte") for line in shows), shows
