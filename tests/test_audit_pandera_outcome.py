"""A Pandera facet whose ``passed`` is no boolean has no known outcome: the audit names it and does not count it as
passed, and ``tdprov show`` shows it so, as its PROV states it (a measurement with no value)."""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from prov_common.audit import run_audit
from prov_common.audit.checks import FIX_NO_OUTCOME, FIX_PANDERA_CONTRADICTION, FIX_PANDERA_FAULT, FIX_QUALITY
from prov_common.audit.model import CHECK_QUALITY, NOTE
from prov_common.cli import main
from prov_common.config import Settings
from prov_common.store import open_store
from prov_common.w3cprov.events import fold_runs
from prov_common.w3cprov.quality import dataset_measurements

from test_audit_support import T0, dataset, digest, run_events, seal

MISSING = object()
RECORDED = {"text": "false", "null": None, "number": 0, "missing": MISSING}  # dataset /data/<name> -> its passed


def _outputs() -> list[dict[str, Any]]:
    out = [dataset("/data/good", digest("good"), passed=True)]
    for name, value in RECORDED.items():
        out.append(dataset(f"/data/{name}", digest(name), passed=False))
        facet = out[-1]["facets"]["tdprov_pandera"]
        del facet["passed"]
        if value is not MISSING:
            facet["passed"] = value
    return out


def _audit(store: Any, out: Path) -> tuple[Any, dict[str, Any]]:
    result = run_audit(store, Settings.from_env(store=store.uri), report_dir=out, progress=False)
    return result, json.loads((out / "report.json").read_text())


def test_a_pandera_result_with_no_boolean_outcome_is_a_finding_and_not_counted_as_passed(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """A facet whose ``passed`` was text (``"false"``) or a number other than 0 was counted as a passed validation (and
    ``show`` printed it as passed), null or 0 as a failed one with no word of why, and a missing ``passed`` as no
    validation; the PROV states each as unknown. Each is now a finding naming the run, the dataset and the field."""
    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "home"))
    store = open_store(str(tmp_path / "store"))
    events = run_events("validate", [], _outputs())
    writer = seal(store, events)
    reader = seal(store, run_events("train", [dataset("/data/text", digest("text"))], [dataset("/m/1", digest("m1"))],
                                    start=T0 + timedelta(hours=1), job_type="TRAINING"))
    result, report = _audit(store, tmp_path / "first")
    errors = [f for f in result.check(CHECK_QUALITY).findings if f.severity != NOTE]
    faults = {f.object.split("@")[0]: f for f in errors if f.run_id == writer}
    assert set(faults) == {f"/data/{name}" for name in RECORDED}, [f.what for f in errors]
    for name, shown in {"text": '"false"', "null": "null", "number": "0"}.items():
        assert (f"run {writer} (tests/validate) recorded a Pandera result of output /data/{name} version {digest(name)} "
                f"(schema /data/{name}_schema) with no outcome: tdprov_pandera.passed is {shown}, not true or false; "
                "not counted as passed") == faults[f"/data/{name}"].what
    assert "with no outcome: tdprov_pandera.passed is missing;" in faults["/data/missing"].what
    assert {f.fix for f in faults.values()} == {FIX_PANDERA_FAULT}
    (used,) = [f for f in errors if f.run_id == reader]
    assert used.what.endswith(f"used /data/text version {digest('text')}, which has no known outcome of Pandera schema "
                              '/data/text_schema (tdprov_pandera.passed is "false", not true or false)') and used.fix == FIX_NO_OUTCOME
    assert report["qualityPassedVersions"] == 1  # /data/good alone
    assert {q["name"] for q in report["quality"]} == {f"/data/{name}" for name in RECORDED}
    (entry,) = report["trainingData"]
    assert [q["fault"] for q in entry["article10"]["qualityChecks"]] == ['tdprov_pandera.passed is "false", not true or false']
    assert (f"/data/text@{digest('text')} has no known outcome of Pandera schema /data/text_schema (tdprov_pandera.passed is "
            "\"false\", not true or false; re-run on data that passes, or with quality_policy='block' the step stops)"
            ) in entry["article10"]["knownGaps"], entry["article10"]["knownGaps"]

    again, _ = _audit(store, tmp_path / "again")  # incremental: what the first audit found stands
    assert {(f.run_id, f.what) for f in again.check(CHECK_QUALITY).findings if f.severity != NOTE} == {(f.run_id, f.what) for f in errors}

    (state,) = fold_runs(events)  # the PROV states each with no value, as unknown
    unknown = {ds.name: [(m.value, m.status) for m in dataset_measurements(ds) if m.schema and m.name.startswith("pandera:")]
               for ds in state.outputs}
    assert unknown == {"/data/good": [(True, "pass")], **{f"/data/{name}": [(None, "unknown")] for name in RECORDED}}

    monkeypatch.setenv("TDPROV_STORE", store.uri)
    capsys.readouterr()
    assert main(["show", writer]) == 0
    shown = capsys.readouterr().out
    assert "/data/good_schema: passed (0 failures)" in shown, shown
    assert '/data/text_schema: NO KNOWN OUTCOME (tdprov_pandera.passed is "false", not true or false; 0 failures)' in shown, shown
    assert "/data/missing_schema: NO KNOWN OUTCOME (tdprov_pandera.passed is missing; 0 failures)" in shown, shown
    assert main(["show", writer, "--json"]) == 0
    rows = {q["schema"]: (q["passed"], q["fault"]) for q in json.loads(capsys.readouterr().out)["quality"]}
    assert rows["/data/good_schema"] == (True, None), rows
    assert rows["/data/null_schema"] == (None, "tdprov_pandera.passed is null, not true or false"), rows


@pytest.mark.parametrize("count", ["many", 2.5, True, [3], -3])
def test_a_failure_count_that_is_no_integer_does_not_stop_the_audit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                     count: Any) -> None:
    """A facet's ``failureCount`` that is no integer (any producer can send the facet) stopped the whole audit with a
    ValueError (``int("many")``); the failed validation is a finding, its count none, as its PROV has it. A negative
    one (the facet's schema refuses it) was counted as it was, '-3 failures'; it counts none, as 'tdprov show' has it."""
    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "home"))
    store = open_store(str(tmp_path / "store"))
    out = dataset("/data/bad", digest("bad"), passed=False)
    out["facets"]["tdprov_pandera"]["failureCount"] = count
    seal(store, run_events("validate", [], [out]))
    result, report = _audit(store, tmp_path / "report")
    (failed,) = [q for q in report["quality"] if q["name"] == "/data/bad"]
    assert failed["passed"] is False and failed["failureCount"] == 0, failed
    said = [f.what for f in result.check(CHECK_QUALITY).findings]
    assert f"/data/bad version {digest('bad')} failed Pandera schema /data/bad_schema; no recorded run used it" in said, said


@pytest.mark.parametrize("field", ["checks", "assertions", "tests"])
def test_a_list_of_checks_that_is_no_list_is_sealed_and_read_as_none(field: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture) -> None:
    """A tdprov_pandera facet whose ``checks``, a dataQualityAssertions facet whose ``assertions`` or a run's test facet
    whose ``tests`` was no list (5: any producer can send the facet, and it names no schema that says otherwise) made the
    seal stop with "'int' object is not iterable": a strict transport raised the TypeError into the pipeline, another
    dropped the run's record with a warning. Such a field holds no checks: the run is sealed, its bundle verifies, and
    the audit, lineage and record read it, the Pandera result keeping its own outcome."""
    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "home"))
    from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport

    store = open_store(str(tmp_path / "store"))
    out = dataset("/data/scored", digest("scored"), passed=True)
    events = run_events("validate", [], [out])
    if field == "checks":
        out["facets"]["tdprov_pandera"]["checks"] = 5
    elif field == "assertions":
        out["facets"]["dataQualityAssertions"] = {"_producer": out["facets"]["tdprov_pandera"]["_producer"], "assertions": 5}
    else:
        events[-1]["run"]["facets"]["test"] = {"_producer": out["facets"]["tdprov_pandera"]["_producer"], "tests": 5}
    transport = ProvenanceTransport(ProvenanceConfig(store=store.uri, strict=True))
    for event in events:
        transport.emit(event)
    run_id = events[0]["run"]["runId"]
    assert main(["verify", run_id, "--store", store.uri]) == 0
    capsys.readouterr()
    result, report = _audit(store, tmp_path / "report")
    assert report["qualityPassedVersions"] == 1 and not report["quality"], report["quality"]
    assert not [f.what for f in result.check(CHECK_QUALITY).findings if f.severity != NOTE]
    assert main(["show", run_id, "--store", store.uri]) == 0
    assert "/data/scored_schema: passed (0 failures)" in capsys.readouterr().out
    for verb in (["lineage", "/data/scored"], ["record", "/data/scored", "-o", str(tmp_path / "record.json")]):
        assert main([*verb, "--store", store.uri]) == 0, capsys.readouterr().err
    assert "unexpected" not in capsys.readouterr().err


@pytest.mark.parametrize("passed", [False, "false"])
def test_a_pandera_result_of_no_named_schema_is_said_unnamed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, passed: Any,
                                                             capsys: pytest.CaptureFixture) -> None:
    """A facet without ``schemaName`` (any producer can send one) was said to fail, or to have no known outcome of,
    'Pandera schema None' in the quality notes, the Article 10 items and the training data's known gaps, where the
    findings say '(unnamed)', and 'tdprov show' printed its schema as 'None'; each says '(unnamed)' now."""
    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "home"))
    store = open_store(str(tmp_path / "store"))
    bad, unread = (dataset(f"/data/{n}", digest(n), passed=False) for n in ("bad", "unread"))
    for out in (bad, unread):
        facet = out["facets"]["tdprov_pandera"]
        del facet["schemaName"]
        facet["passed"] = passed
        facet["failureCount"] = 3  # a failed result names what failed
    validate = seal(store, run_events("validate", [], [bad, unread]))
    seal(store, run_events("train", [dataset("/data/bad", digest("bad"))], [dataset("/m/1", digest("m1"))],
                           start=T0 + timedelta(hours=1), job_type="TRAINING"))
    result, report = _audit(store, tmp_path / "report")
    (entry,) = report["trainingData"]
    said = [f.what for f in result.check(CHECK_QUALITY).findings] + entry["article10"]["knownGaps"] + [
        shown for item in entry["article10"]["items"] for shown in item["recordsShow"]]
    assert not [s for s in said if "schema None" in s], said
    assert [s for s in said if "/data/unread" in s and "Pandera schema (unnamed)" in s], said
    assert [s for s in entry["article10"]["knownGaps"] if "/data/bad" in s and "Pandera schema (unnamed)" in s], said
    monkeypatch.setenv("TDPROV_STORE", store.uri)
    capsys.readouterr()
    assert main(["show", validate]) == 0
    status = "FAILED" if passed is False else 'NO KNOWN OUTCOME (tdprov_pandera.passed is "false", not true or false;'
    shown = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  output ")]
    assert shown == [f"  output file:///data/{n}  (unnamed): {status}{' (' if passed is False else ' '}3 failures)"
                     for n in ("bad", "unread")], shown


def _checked(name: str, passed: bool, *checks: tuple[str, Any]) -> dict[str, Any]:
    """An output whose Pandera facet's ``passed`` is ``passed`` and whose checks (on ``amount``) recorded ``checks``."""
    out = dataset(f"/data/{name}", digest(name), passed=passed)
    out["facets"]["tdprov_pandera"]["checks"] = [{"name": check, "column": "amount", "passed": value, "failureCount": 0}
                                                 for check, value in checks]
    return out


def test_a_pandera_check_whose_passed_is_no_boolean_has_no_known_outcome(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """A check of a Pandera facet whose ``passed`` was no boolean (``"false"`` as text, null) was left out by the audit
    and ``tdprov show``, which took the facet's own ``passed`` true as a passed validation, where the PROV states the
    check as unknown. The check now has no known outcome, named with the run, the dataset and the field; the facet's
    outcome is then unknown, unless it or another of its checks failed (a known failure stays a failure)."""
    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "home"))
    store = open_store(str(tmp_path / "store"))
    writer = seal(store, run_events("validate", [], [
        _checked("text", True, ("in_range", True), ("not_null", "false")),
        _checked("failed", False, ("in_range", False), ("not_null", None)),
        _checked("other", True, ("in_range", False), ("not_null", 1)),
        _checked("good", True, ("in_range", True))]))
    reader = seal(store, run_events("train", [dataset("/data/text", digest("text"))], [dataset("/m/1", digest("m1"))],
                                    start=T0 + timedelta(hours=1), job_type="TRAINING"))
    result, report = _audit(store, tmp_path / "report")
    errors = [f for f in result.check(CHECK_QUALITY).findings if f.severity != NOTE]
    faults = {f.object.split("@")[0]: f for f in errors if f.run_id == writer and "not counted as passed" in f.what}
    field = 'tdprov_pandera.checks[1].passed of check not_null[amount] is {}, not true or false'
    assert {name: f.what for name, f in faults.items()} == {
        "/data/text": f"run {writer} (tests/validate) recorded a Pandera result of output /data/text version {digest('text')} "
                      f"(schema /data/text_schema) with no outcome: {field.format(json.dumps('false'))}; not counted as passed",
        "/data/failed": f"run {writer} (tests/validate) recorded a Pandera result of output /data/failed version "
                        f"{digest('failed')} (schema /data/failed_schema) that failed, with a check of no outcome: "
                        f"{field.format('null')}; not counted as passed",
        "/data/other": f"run {writer} (tests/validate) recorded a Pandera result of output /data/other version "
                       f"{digest('other')} (schema /data/other_schema) that contradicts itself: tdprov_pandera.passed is "
                       "true, but tdprov_pandera.checks[0].passed of check in_range[amount] is false; "
                       f"{field.format(1)}; not counted as passed"}, [f.what for f in errors]
    assert {n: f.fix for n, f in faults.items()} == {"/data/text": FIX_PANDERA_FAULT, "/data/failed": FIX_PANDERA_FAULT,
                                                    "/data/other": FIX_PANDERA_CONTRADICTION}
    (used,) = [f for f in errors if f.run_id == reader]
    assert used.what.endswith(f"which has no known outcome of Pandera schema /data/text_schema ({field.format(json.dumps('false'))})")
    assert used.fix == FIX_NO_OUTCOME
    assert report["qualityPassedVersions"] == 1  # /data/good alone
    rows = {q["name"]: q["failures"] for q in report["quality"]}
    assert set(rows) == {"/data/text", "/data/failed", "/data/other"}, rows
    assert rows["/data/text"] == [f"has no known outcome of Pandera schema /data/text_schema ({field.format(json.dumps('false'))})"]
    assert rows["/data/failed"] == ["failed Pandera schema /data/failed_schema: 0 failures in in_range[amount]"], rows

    monkeypatch.setenv("TDPROV_STORE", store.uri)
    capsys.readouterr()
    assert main(["show", writer]) == 0
    shown = capsys.readouterr().out
    assert f"/data/text_schema: NO KNOWN OUTCOME ({field.format(json.dumps('false'))}; 0 failures)" in shown, shown
    assert f"/data/failed_schema: FAILED ({field.format('null')}; 0 failures)" in shown, shown
    assert "/data/good_schema: passed (0 failures)" in shown, shown


@pytest.mark.parametrize("own", ["false", None, 3])
def test_a_pandera_result_whose_passed_is_no_boolean_with_a_failed_check_failed(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, own: Any) -> None:
    """A facet whose own ``passed`` was no boolean (``"false"`` as text, null, 3) had no known outcome even when one of
    its checks had failed (``passed`` false): the validation failed, and the audit, its report and ``tdprov show`` now
    say so, naming the facet's field all the same; its PROV states the facet's own outcome as unknown and the check as
    failed, as before."""
    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "home"))
    store = open_store(str(tmp_path / "store"))
    out = _checked("text", True, ("in_range", False), ("not_null", True))
    out["facets"]["tdprov_pandera"]["passed"] = own
    writer = seal(store, run_events("validate", [], [out]))
    reader = seal(store, run_events("train", [dataset("/data/text", digest("text"))], [dataset("/m/1", digest("m1"))],
                                    start=T0 + timedelta(hours=1), job_type="TRAINING"))
    fault = f"tdprov_pandera.passed is {json.dumps(own)}, not true or false"
    result, report = _audit(store, tmp_path / "report")
    errors = [f for f in result.check(CHECK_QUALITY).findings if f.severity != NOTE]
    (recorded,) = [f for f in errors if f.run_id == writer]
    assert recorded.what == (f"run {writer} (tests/validate) recorded a Pandera result of output /data/text version "
                             f"{digest('text')} (schema /data/text_schema) that failed by its checks, with no outcome of "
                             f"its own: {fault}; not counted as passed"), recorded.what
    (used,) = [f for f in errors if f.run_id == reader]
    assert used.what.endswith(f"used /data/text version {digest('text')}, which failed Pandera schema /data/text_schema: "
                              "0 failures in in_range[amount]") and used.fix == FIX_QUALITY, used
    (row,) = report["quality"]
    assert row["passed"] is False and row["failures"] == ["failed Pandera schema /data/text_schema: 0 failures in in_range[amount]"]
    (entry,) = report["trainingData"]
    assert [(q["passed"], q["fault"]) for q in entry["article10"]["qualityChecks"]] == [(False, fault)]

    monkeypatch.setenv("TDPROV_STORE", store.uri)
    capsys.readouterr()
    assert main(["show", writer]) == 0
    shown = capsys.readouterr().out
    assert f"/data/text_schema: FAILED ({fault}; 0 failures)" in shown, shown
    assert main(["show", writer, "--json"]) == 0
    assert [(q["passed"], q["fault"]) for q in json.loads(capsys.readouterr().out)["quality"]] == [(False, fault)]
    (state,) = fold_runs(run_events("validate", [], [out]))
    assert sorted((m.name, m.value, m.status) for m in dataset_measurements(state.outputs[0]) if m.source == "pandera") == [
        ("in_range", False, "fail"), ("not_null", True, "pass"), ("pandera:/data/text_schema", None, "unknown")]


def test_a_version_of_no_known_outcome_is_told_apart_from_a_failed_one_in_the_report(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """report.json's quality rows said ``"passed": false`` of a version whose Pandera result has no known outcome, as of
    one that failed, and the HTML page counted and listed it among the failed. Its row now says ``"passed": null``,
    ``qualityUnknownVersions`` counts such versions (``qualityFailedVersions`` still counts every row), and the page
    shows its result as no known outcome and counts it apart."""
    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "home"))
    store = open_store(str(tmp_path / "store"))
    text = dataset("/data/text", digest("text"), passed=True)
    text["facets"]["tdprov_pandera"]["passed"] = "false"
    seal(store, run_events("validate", [], [dataset("/data/bad", digest("bad"), passed=False), text,
                                            dataset("/data/good", digest("good"), passed=True)]))
    result, report = _audit(store, tmp_path / "report")
    assert {q["name"]: q["passed"] for q in report["quality"]} == {"/data/bad": False, "/data/text": None}, report["quality"]
    assert (report["qualityFailedVersions"], report["qualityUnknownVersions"], report["qualityPassedVersions"]) == (2, 1, 1)
    page = Path(result.report_html).read_text()
    counts = page[page.index('<p id="quality-counts">'):]
    assert counts.startswith('<p id="quality-counts">1 validated dataset version passed its Pandera schema; 1 failed and 1 '
                             'has no known outcome (below).'), counts[:300]
    table = counts[:counts.index("</table>")]
    bad, unknown = (next(row for row in table.split("<tr>")[2:] if f"/data/{name}<" in row) for name in ("bad", "text"))
    assert '<span class="fail">failed</span>' in bad, bad
    assert '<span class="fail">no known outcome</span>' in unknown and "failed" not in unknown, unknown


def test_show_help_says_when_a_pandera_result_has_no_known_outcome(capsys: pytest.CaptureFixture) -> None:
    """``tdprov show --help`` said NO KNOWN OUTCOME was shown where the facet's ``passed`` is not true or false, and
    nothing of a check's ``passed``, nor that a failed check makes it FAILED whatever the facet says; it says each now."""
    with pytest.raises(SystemExit):
        main(["show", "--help"])
    said = " ".join(capsys.readouterr().out.split())
    assert ("Pandera quality results with attached failure samples (passed, FAILED, or NO KNOWN OUTCOME where the facet's "
            "passed, or that of one of its checks, is not true or false, unless it or one of its checks failed: then "
            "FAILED, naming the field all the same)") in said, said


def test_a_pandera_result_that_passed_with_a_failed_check_contradicts_itself_and_failed(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """A facet whose own ``passed`` was true while one of its checks had ``passed`` false (another producer's, or one
    changed before sealing) counted as a passed validation for the audit, its report and ``tdprov show``. It contradicts
    itself: it failed by its check, and the audit names the run, the dataset, the facet's ``passed`` and the check; its
    PROV states both as recorded, as before."""
    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "home"))
    store = open_store(str(tmp_path / "store"))
    out = _checked("said", True, ("in_range", False), ("not_null", True))
    writer = seal(store, run_events("validate", [], [out, _checked("good", True, ("in_range", True))]))
    reader = seal(store, run_events("train", [dataset("/data/said", digest("said"))], [dataset("/m/1", digest("m1"))],
                                    start=T0 + timedelta(hours=1), job_type="TRAINING"))
    fault = "tdprov_pandera.passed is true, but tdprov_pandera.checks[0].passed of check in_range[amount] is false"
    result, report = _audit(store, tmp_path / "report")
    errors = [f for f in result.check(CHECK_QUALITY).findings if f.severity != NOTE]
    (recorded,) = [f for f in errors if f.run_id == writer]
    assert recorded.what == (f"run {writer} (tests/validate) recorded a Pandera result of output /data/said version "
                             f"{digest('said')} (schema /data/said_schema) that contradicts itself: {fault}; not counted "
                             "as passed"), recorded.what
    assert recorded.fix == FIX_PANDERA_CONTRADICTION
    (used,) = [f for f in errors if f.run_id == reader]
    assert used.what.endswith(f"used /data/said version {digest('said')}, which failed Pandera schema /data/said_schema: "
                              "0 failures in in_range[amount]") and used.fix == FIX_QUALITY, used
    assert report["qualityPassedVersions"] == 1  # /data/good alone
    (row,) = report["quality"]
    assert row["name"] == "/data/said" and row["passed"] is False, row
    (entry,) = report["trainingData"]
    assert [(q["passed"], q["fault"]) for q in entry["article10"]["qualityChecks"]] == [(False, fault)]

    monkeypatch.setenv("TDPROV_STORE", store.uri)
    capsys.readouterr()
    assert main(["show", writer]) == 0
    shown = capsys.readouterr().out
    assert f"/data/said_schema: FAILED ({fault}; 0 failures)" in shown, shown
    assert "/data/good_schema: passed (0 failures)" in shown, shown
    assert main(["show", writer, "--json"]) == 0
    rows = {q["schema"]: (q["passed"], q["fault"]) for q in json.loads(capsys.readouterr().out)["quality"]}
    assert rows == {"/data/said_schema": (False, fault), "/data/good_schema": (True, None)}, rows
    (state,) = fold_runs(run_events("validate", [], [out]))
    assert sorted((m.name, m.value, m.status) for m in dataset_measurements(state.outputs[0]) if m.source == "pandera") == [
        ("in_range", False, "fail"), ("not_null", True, "pass"), ("pandera:/data/said_schema", True, "pass")]


def test_a_contradicting_pandera_result_with_a_check_of_no_outcome_names_both(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A facet whose own ``passed`` is true, with a failed check and a check whose ``passed`` is no boolean, failed and
    contradicts itself: the audit names the contradiction first, then the check of no outcome."""
    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "home"))
    store = open_store(str(tmp_path / "store"))
    writer = seal(store, run_events("validate", [], [_checked("both", True, ("not_null", "false"), ("in_range", False))]))
    result, report = _audit(store, tmp_path / "report")
    (recorded,) = [f for f in result.check(CHECK_QUALITY).findings if f.run_id == writer and "not counted" in f.what]
    assert recorded.what.endswith(
        "that contradicts itself: tdprov_pandera.passed is true, but tdprov_pandera.checks[1].passed of check "
        'in_range[amount] is false; tdprov_pandera.checks[0].passed of check not_null[amount] is "false", not true or '
        "false; not counted as passed"), recorded.what
    assert [q["passed"] for q in report["quality"]] == [False]


@pytest.mark.parametrize(("count", "said"), [(4, "4"), (-1, "-1"), ("0", '"0"'), (2.5, "2.5")])
def test_a_pandera_result_that_passed_with_failure_cases_contradicts_itself_and_failed(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, count: Any, said: str) -> None:
    """A facet whose own ``passed`` was true while its ``failureCount`` was more than 0 (or no count: negative, text, a
    float) counted as a passed validation for the audit, its report and ``tdprov show``, though ``passed`` true says no
    check found a failure case (a check that only warns records none). It contradicts itself, as by a failed check: it
    failed, and the audit names the run, the dataset and both fields."""
    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "home"))
    store = open_store(str(tmp_path / "store"))
    out = _checked("said", True, ("in_range", True))
    out["facets"]["tdprov_pandera"]["failureCount"] = count
    writer = seal(store, run_events("validate", [], [out, _checked("good", True, ("in_range", True))]))
    fault = f"tdprov_pandera.passed is true, but tdprov_pandera.failureCount is {said}"
    result, report = _audit(store, tmp_path / "report")
    (recorded,) = [f for f in result.check(CHECK_QUALITY).findings if f.run_id == writer]
    assert recorded.what == (f"run {writer} (tests/validate) recorded a Pandera result of output /data/said version "
                             f"{digest('said')} (schema /data/said_schema) that contradicts itself: {fault}; not counted "
                             "as passed"), recorded.what
    assert recorded.fix == FIX_PANDERA_CONTRADICTION
    assert report["qualityPassedVersions"] == 1  # /data/good alone
    assert [(q["name"], q["passed"]) for q in report["quality"]] == [("/data/said", False)], report["quality"]

    monkeypatch.setenv("TDPROV_STORE", store.uri)
    capsys.readouterr()
    assert main(["show", writer, "--json"]) == 0
    rows = {q["schema"]: (q["passed"], q["fault"]) for q in json.loads(capsys.readouterr().out)["quality"]}
    assert rows == {"/data/said_schema": (False, fault), "/data/good_schema": (True, None)}, rows


def test_a_pandera_check_that_passed_with_failure_cases_contradicts_itself_and_failed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A check whose ``passed`` was true while its ``failureCount`` was more than 0 left the facet counted as passed: the
    check contradicts itself, so the facet failed, and the audit names the check and both of its fields. A failed facet
    whose count is no integer is a failed validation only, as before (no contradiction: it says it failed)."""
    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "home"))
    store = open_store(str(tmp_path / "store"))
    out = _checked("said", True, ("in_range", True), ("not_null", True))
    out["facets"]["tdprov_pandera"]["checks"][1]["failureCount"] = 3
    writer = seal(store, run_events("validate", [], [out]))
    result, report = _audit(store, tmp_path / "report")
    (recorded,) = [f for f in result.check(CHECK_QUALITY).findings if f.run_id == writer]
    assert recorded.what.endswith(
        "that contradicts itself: tdprov_pandera.checks[1].passed of check not_null[amount] is true, but "
        "tdprov_pandera.checks[1].failureCount is 3; not counted as passed"), recorded.what
    assert recorded.fix == FIX_PANDERA_CONTRADICTION
    assert [q["passed"] for q in report["quality"]] == [False]


@pytest.mark.parametrize("checks", [(), (("in_range", True),)])
def test_a_failed_pandera_result_that_names_nothing_failing_contradicts_itself(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, checks: tuple[Any, ...]) -> None:
    """A facet whose own ``passed`` was false while its ``failureCount`` was 0 and none of its checks failed (no checks,
    or each passed with 0) was a failed validation with no word of why: nothing it recorded says what failed. It
    contradicts itself, as one that says it passed with a check failed does: it stays failed, and the audit and
    ``tdprov show`` name both fields."""
    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "home"))
    store = open_store(str(tmp_path / "store"))
    said = _checked("said", False, *checks)
    failed = _checked("failed", False, ("in_range", False))  # names its failed check: no contradiction
    failed["facets"]["tdprov_pandera"]["failureCount"] = 0
    skipped = _checked("skipped", False, ("in_range", False))  # a check that did not run: false with 0, as tdprov records it
    skipped["facets"]["tdprov_pandera"]["failureCount"] = 2
    writer = seal(store, run_events("validate", [], [said, failed, skipped]))
    fault = "tdprov_pandera.passed is false, but tdprov_pandera.failureCount is 0 and it names no failed check"
    result, report = _audit(store, tmp_path / "report")
    faults = [f for f in result.check(CHECK_QUALITY).findings if f.run_id == writer and "Pandera result" in f.what]
    assert [f.what for f in faults] == [
        f"run {writer} (tests/validate) recorded a Pandera result of output /data/said version {digest('said')} (schema "
        f"/data/said_schema) that contradicts itself: {fault}; not counted as passed"], [f.what for f in faults]
    assert faults[0].fix == FIX_PANDERA_CONTRADICTION
    assert sorted((q["name"], q["passed"]) for q in report["quality"]) == [
        ("/data/failed", False), ("/data/said", False), ("/data/skipped", False)], report["quality"]
    (shown,) = [f for c in report["checks"] for f in c["findings"] if f.get("runId") == writer and "contradicts" in f["what"]]
    assert fault in shown["what"] and shown["fix"] == FIX_PANDERA_CONTRADICTION

    monkeypatch.setenv("TDPROV_STORE", store.uri)
    capsys.readouterr()
    assert main(["show", writer, "--json"]) == 0
    rows = {q["schema"]: (q["passed"], q["fault"]) for q in json.loads(capsys.readouterr().out)["quality"]}
    assert rows == {"/data/said_schema": (False, fault), "/data/failed_schema": (False, None),
                    "/data/skipped_schema": (False, None)}, rows
    assert main(["show", writer]) == 0
    assert f"/data/said_schema: FAILED ({fault}; 0 failures)" in capsys.readouterr().out


def test_a_check_whose_name_reads_like_a_contradiction_is_not_taken_for_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A check's name is the user's text: one named ``in_range, but capped`` whose ``passed`` is missing, in a failed
    result, is a check of no outcome, not a result that contradicts itself, whatever its name says."""
    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "home"))
    store = open_store(str(tmp_path / "store"))
    out = _checked("named", False, ("in_range, but capped", None), ("not_null", False))
    del out["facets"]["tdprov_pandera"]["checks"][0]["passed"]
    writer = seal(store, run_events("validate", [], [out]))
    result, _ = _audit(store, tmp_path / "report")
    (recorded,) = [f for f in result.check(CHECK_QUALITY).findings if f.run_id == writer and "not counted" in f.what]
    assert recorded.what.endswith(
        "that failed, with a check of no outcome: tdprov_pandera.checks[0].passed of check in_range, but capped[amount] "
        "is missing; not counted as passed"), recorded.what
    assert recorded.fix == FIX_PANDERA_FAULT
