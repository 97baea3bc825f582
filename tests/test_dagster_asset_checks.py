"""A user's own asset checks on provenance-aware assets, under real ``materialize`` runs: each ``AssetCheckResult``
(pass or fail, severity, name, description, JSON-safe metadata) is recorded on the exact version the check read, as
the standard ``dataQualityAssertions`` input facet (a check in the asset's own step: the run's ``test`` facet), valid
against the official schema; a check that raised is told apart from one that failed; and the exported PROV says so
(docs/dagster.md, Asset checks; docs/prov-mapping.md, Quality)."""
from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest
import rdflib
from dagster._core.execution.plan.objects import ErrorSource

from prov_common.bundle import list_bundles, read_bundle
from prov_common.bundle.layout import STATEMENT_FILE, bundle_key
from prov_common.bundle.events import parse_events_jsonl
from prov_common.cli import main as cli_main
from prov_common.once import Once
from prov_common.signing import load_signing_key, write_keypair
from prov_common.store import open_store
from prov_dagster import ProvenanceIOManager, ProvenanceResource, _compat, provenance_canceled_sensor
from prov_dagster import recorder as recorder_module
from prov_dagster import sensors as sensors_module
from prov_dagster import steps as steps_module

import dagster_steps_defs as steps_defs
from dagster_support import delivered, evaluate_failure_sensor

from ol_validate import validate_event

# prov's RDF serialiser uses an rdflib API that rdflib deprecates; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:Dataset.default_context is deprecated:DeprecationWarning")

PREFIXES = """PREFIX prov: <http://www.w3.org/ns/prov#>
PREFIX dqv: <http://www.w3.org/ns/dqv#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX tdprov: <https://github.com/tdprov/tdprov/ns#>
"""
VALUE = 1


@dg.asset(check_specs=[dg.AssetCheckSpec("has_rows", asset="orders")])
def orders():  # noqa: ANN201 - a generator asset, to yield its own check's result after its output
    yield dg.Output(pd.DataFrame({"x": [VALUE, -VALUE]}))
    yield dg.AssetCheckResult(check_name="has_rows", passed=True, metadata={"rows": 2})


@dg.asset_check(asset=orders, blocking=True, description="no negative x")
def non_negative(orders: pd.DataFrame) -> dg.AssetCheckResult:
    bad = int((orders["x"] < 0).sum())
    return dg.AssetCheckResult(passed=bad == 0, severity=dg.AssetCheckSeverity.ERROR, description=f"{bad} negative x",
                               metadata={"bad": bad, "ratio": float("nan"), "big": 2**60,
                                         "note": dg.MetadataValue.md("**see** x"), "detail": dg.MetadataValue.json({"rows": [1]})})


@dg.asset_check(asset=orders)
def crashes(orders: pd.DataFrame) -> dg.AssetCheckResult:
    raise ValueError("the check itself broke")


@dg.asset
def features(orders: pd.DataFrame) -> pd.DataFrame:
    return orders


def _materialize(instance: dg.DagsterInstance, selection: Any = None) -> dg.ExecuteInProcessResult:
    assets: list[Any] = [orders, non_negative, crashes, features]
    return dg.materialize(assets, instance=instance, selection=selection, raise_on_error=False,
                          resources={"io_manager": ProvenanceIOManager()})


def _home(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Read the store as the home that signed it does (its key trusted)."""
    monkeypatch.setenv("TDPROV_HOME", str(store.parent / "home"))


def _materialized(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, assets: list[Any],
                  home: bool = False) -> tuple[Path, dg.ExecuteInProcessResult]:
    """The store ``tmp_path/store`` (signed by the home ``tmp_path/home`` with ``home``) and the result of materializing
    ``assets`` into it through the IO manager, in a fresh ephemeral instance (a failed step does not raise)."""
    store = tmp_path / "store"
    monkeypatch.setenv("TDPROV_STORE", str(store))
    if home:
        _home(store, monkeypatch)
    with dg.DagsterInstance.ephemeral() as instance:
        return store, dg.materialize(assets, instance=instance, raise_on_error=False,
                                     resources={"io_manager": ProvenanceIOManager()})


def _terminal(store: Path, job: str) -> tuple[Any, dict[str, Any], list[dict[str, Any]]]:
    """(index summary, terminal event, all events) of the one run of ``job``."""
    st = open_store(str(store))
    delivered(st)
    [(summary, events)] = [(s, parse_events_jsonl(read_bundle(st, s.run_id).files["events.jsonl"]))
                           for s in list_bundles(st) if s.job_name == job]
    return summary, events[-1], events


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """orders (with its own check) and its two checks; then orders alone again with other data: the checks read the
    first version, which is no longer the latest (one store for the module's tests: they only read it, with the
    signing key of its own home: :func:`_home`)."""
    global VALUE
    store = tmp_path_factory.mktemp("checks") / "store"
    with pytest.MonkeyPatch.context() as patch, dg.DagsterInstance.ephemeral() as instance:
        patch.setenv("TDPROV_STORE", str(store))
        patch.setenv("TDPROV_HOME", str(store.parent / "home"))
        first = _materialize(instance)
        assert not first.success  # the blocking check failed, the other raised
        assert [e.step_key for e in first.all_events if e.event_type_value == "STEP_SUCCESS"] == ["orders"]  # features blocked
        VALUE = 5
        try:
            again = dg.AssetSelection.assets(orders) - dg.AssetSelection.checks(non_negative, crashes)
            assert _materialize(instance, selection=again).success
        finally:
            VALUE = 1
        yield store


def test_a_failed_blocking_check_is_recorded_failed_on_the_version_it_read(checked: Path) -> None:
    summary, event, events = _terminal(checked, "check:orders:non_negative")
    assert summary.state == "FAIL" and event["eventType"] == "FAIL"
    [read] = event["inputs"]
    first, latest = (e["outputs"][0]["facets"]["version"]["datasetVersion"] for e in
                     (_terminal_by_start(checked, "orders")))
    assert first != latest and read["facets"]["version"]["datasetVersion"] == first
    [assertion] = read["inputFacets"]["dataQualityAssertions"]["assertions"]
    assert assertion == {
        "assertion": "non_negative", "name": "non_negative", "success": False, "severity": "error",
        "description": "1 negative x",
        "params": {"status": "fail", "blocking": True,
                   "metadata": {"bad": 1, "big": str(2**60), "detail": {"rows": [1]}, "note": "**see** x", "ratio": "nan"}},
    }
    for e in events:
        validate_event(e)


def _terminal_by_start(store: Path, job: str) -> list[dict[str, Any]]:
    """The terminal events of the runs of ``job``, oldest first."""
    st = open_store(str(store))
    delivered(st)
    found = [parse_events_jsonl(read_bundle(st, s.run_id).files["events.jsonl"])[-1] for s in list_bundles(st) if s.job_name == job]
    return sorted(found, key=lambda e: e["eventTime"])


def test_a_check_that_raised_is_told_apart_from_one_that_failed(checked: Path) -> None:
    summary, event, events = _terminal(checked, "check:orders:crashes")
    assert summary.state == "FAIL"
    [assertion] = event["inputs"][0]["inputFacets"]["dataQualityAssertions"]["assertions"]
    assert assertion["name"] == "crashes" and assertion["success"] is False and assertion["params"] == {"status": "error"}
    assert assertion["description"].endswith("<- ValueError: the check itself broke")
    for e in events:
        validate_event(e)


def test_a_check_in_the_assets_own_step_is_in_the_runs_test_facet(checked: Path) -> None:
    first, _ = _terminal_by_start(checked, "orders")
    [output] = first["outputs"]
    [test] = first["run"]["facets"]["test"]["tests"]
    assert test == {"name": f"{output['name']}:has_rows", "type": "has_rows", "status": "pass", "severity": "error",
                    "params": {"blocking": False, "metadata": {"rows": 2}, "dataset": output["name"]}}
    validate_event(first)


def test_the_exported_prov_holds_each_checks_outcome_on_the_version_it_checked(checked: Path, tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    _home(checked, monkeypatch)
    out = tmp_path / "all.ttl"
    assert cli_main(["export", "--format", "ttl", "-o", str(out), "--store", str(checked)]) == 0
    graph = rdflib.Graph().parse(out, format="turtle")
    outcomes = PREFIXES + """SELECT ?check ?status ?value ?version ?severity WHERE {
      ?m a dqv:QualityMeasurement ; dqv:computedOn ?on ; dqv:isMeasurementOf/rdfs:label ?check ; tdprov:status ?status .
      ?on tdprov:version ?version .
      OPTIONAL { ?m dqv:value ?value } OPTIONAL { ?m tdprov:severity ?severity }
    }"""
    first, second = (e["outputs"][0]["facets"]["version"]["datasetVersion"] for e in _terminal_by_start(checked, "orders"))
    rows = {(str(r.check), str(r.status), None if r.value is None else r.value.toPython(), str(r.version), str(r.severity))
            for r in graph.query(outcomes)}
    output = _terminal_by_start(checked, "orders")[0]["outputs"][0]["name"]
    assert rows == {
        ("non_negative", "fail", False, first, "error"),
        ("crashes", "error", None, first, "None"),
        (f"{output}:has_rows", "pass", True, first, "error"),
        (f"{output}:has_rows", "pass", True, second, "error"),
    }
    failed = PREFIXES + """SELECT DISTINCT ?version ?check WHERE {
      ?m a dqv:QualityMeasurement ; dqv:computedOn ?version ; dqv:value false ; dqv:isMeasurementOf/rdfs:label ?check .
    }"""
    assert {str(r.check) for r in graph.query(failed)} == {"non_negative"}  # the check that raised did not fail


def test_lineage_and_show_tell_each_checks_outcome(checked: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _home(checked, monkeypatch)
    first = _terminal_by_start(checked, "orders")[0]["outputs"][0]["facets"]["version"]["datasetVersion"]
    assert cli_main(["lineage", first, "--checks", "--store", str(checked)]) == 0
    [line] = [t for t in capsys.readouterr().out.splitlines() if first in t]
    assert line.endswith(f"{first}  ✗ failed: non_negative  ✓ passed 1 check  ! raised an error: crashes")
    shown = {}
    for job in ("check:orders:non_negative", "check:orders:crashes"):
        summary, _, _ = _terminal(checked, job)
        assert cli_main(["show", summary.run_id, "--json", "--store", str(checked)]) == 0
        shown[job] = [{k: v for k, v in c.items() if k != "dataset"} for c in json.loads(capsys.readouterr().out)["checks"]]
    assert shown["check:orders:non_negative"] == [{"side": "input", "check": "non_negative", "status": "fail", "severity": "error",
                                             "description": "1 negative x"}]
    [errored] = shown["check:orders:crashes"]
    assert errored["status"] == "error" and errored["description"].endswith("ValueError: the check itself broke")


def test_asset_check_results_that_cannot_be_read_leave_the_runs_ended_without_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Failure policy: reading the check results failing (an instance that refuses the query) never leaves the step
    runs open; they end as Dagster recorded the steps, and a warning says what is missing."""
    import prov_dagster.steps as steps

    def refused(*_args: Any) -> Any:
        raise RuntimeError("event log unavailable")

    monkeypatch.setattr(steps, "step_checks", refused)
    store = tmp_path / "store"
    monkeypatch.setenv("TDPROV_STORE", str(store))
    with dg.DagsterInstance.ephemeral() as instance:
        assert not _materialize(instance, selection=dg.AssetSelection.assets(orders) | dg.AssetSelection.checks(non_negative)).success
    summary, event, _ = _terminal(store, "check:orders:non_negative")
    assert summary.state == "FAIL" and event["eventType"] == "FAIL"
    assert not event["inputs"][0].get("inputFacets")  # the read is recorded, without a result
    assert "could not read the asset check results of run" in caplog.text


def test_a_check_in_the_steps_of_an_asset_with_a_pandera_schema_is_not_hidden(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The Pandera schema's checks are written into the run's test facet too, and only those repeats are left out:
    the asset's own check is shown beside them, in lineage --checks and in show."""
    import pandera.pandas as pa

    from prov_dagster import provenance_asset

    class Positive(pa.DataFrameModel):
        x: int = pa.Field(ge=0)

    @provenance_asset(schema=Positive, quality_policy="record", check_specs=[dg.AssetCheckSpec("mine", asset="checked")])
    def checked():  # noqa: ANN201 - a generator asset
        yield dg.Output(pd.DataFrame({"x": [1, 2]}))
        yield dg.AssetCheckResult(check_name="mine", passed=False, description="not mine")

    store, result = _materialized(tmp_path, monkeypatch, [checked], home=True)
    assert result.success
    summary, event, _ = _terminal(store, "checked")
    version = event["outputs"][0]["facets"]["version"]["datasetVersion"]
    assert cli_main(["lineage", version, "--checks", "--store", str(store)]) == 0
    [line] = [t for t in capsys.readouterr().out.splitlines() if version in t]
    assert line.endswith(f"{version}  ✗ failed: {event['outputs'][0]['name']}:mine  ✓ passed 3 checks")
    assert cli_main(["show", summary.run_id, "--json", "--store", str(store)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [(c["side"], c["check"], c["status"], c["description"]) for c in shown["checks"]] == [
        ("output", f"{event['outputs'][0]['name']}:mine", "fail", "not mine")]
    assert [q["passed"] for q in shown["quality"]] == [True]


def test_the_audit_and_the_training_records_read_asset_check_results(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A training run that used a version a non-blocking check failed on (and another check raised on) is a quality
    finding, and the Article 10 section, its gaps and the training-data record (D&TA) count both results, the one that
    raised told apart from the one that failed."""
    from prov_common.audit import run_audit
    from prov_common.audit.model import CHECK_QUALITY
    from prov_common.config import Settings

    from test_records_standards import _record

    @dg.asset
    def rows():  # noqa: ANN201
        return pd.DataFrame({"x": [1, -1]})

    @dg.asset_check(asset=rows, description="no negative x")
    def positive(rows: pd.DataFrame) -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN, description="1 negative x")

    @dg.asset_check(asset=rows)
    def broken(rows: pd.DataFrame) -> dg.AssetCheckResult:
        raise ValueError("the check itself broke")

    @dg.asset(tags={"tdprov/training": "true"})
    def fit(rows: pd.DataFrame) -> pd.DataFrame:
        return rows * 2

    store, result = _materialized(tmp_path, monkeypatch, [rows, positive, broken, fit], home=True)
    assert {e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS"} >= {"rows", "fit"}
    version = _terminal(store, "rows")[1]["outputs"][0]["facets"]["version"]["datasetVersion"]
    training = _terminal(store, "fit")[0].run_id
    audit = run_audit(open_store(str(store)), Settings.from_env(), full=True, report_dir=tmp_path / "report", progress=False)
    [used] = [f for f in audit.check(CHECK_QUALITY).findings if f.run_id == training]
    said = used.what.split(f"version {version}, which ", 1)[1]
    assert "failed check positive (warn: 1 negative x)" in said and "blocking" in used.fix
    assert "check broken raised an error, no outcome (" in said and said.count("ValueError: the check itself broke)") == 1
    [section] = json.loads((tmp_path / "report" / "report.json").read_text())["trainingData"]
    checks = {q["check"]: (q["status"], q["passed"]) for q in section["article10"]["qualityChecks"]}
    assert checks == {"positive": ("fail", False), "broken": ("error", False)}
    gaps = sorted(g.split("; ", 1)[0] + ")" for g in section["article10"]["knownGaps"] if "check " in g)  # the audit adds its fix
    assert [g.split(" (", 1)[0] for g in gaps] == [f"{section['dataset']}@{version} failed check positive",
                                                   f"{section['dataset']}@{version}: check broken raised an error, no outcome"]
    [ten3] = [i for i in section["article10"]["items"] if i["item"] == "10(3)"]
    assert ten3["recordsShow"][0].startswith("free of errors: 0 Pandera validations passed, 0 failed; 0 other checks "
                                             "passed, 1 failed, 1 raised an error; ")
    capsys.readouterr()
    dta = _record(str(store), section["dataset"], "dta", capsys)
    assert sorted((q["check"], q["status"]) for q in dta["qualityChecks"]) == [("broken", "error"), ("positive", "fail")]
    assert sorted(g for g in dta["knownGaps"] if "check " in g) == gaps


@dg.asset
def plain():  # noqa: ANN201
    return pd.DataFrame({"x": [1, -1]})


@dg.asset_check(asset=plain, description="reads nothing")
def bare() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, description="no file today")


@dg.asset_check(asset=plain)
def bare_crash() -> dg.AssetCheckResult:
    raise ValueError("the check itself broke")


def test_a_check_that_loads_nothing_through_tdprov_is_a_run_on_the_version_it_evaluated(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A check that takes no argument opens no run when it loads: its step is a run of its own all the same, with the
    version Dagster says the check evaluated as its input and the result on it, saying that the check loaded nothing
    (it was dropped silently); one that raised is recorded on the asset's latest version."""
    store, _ = _materialized(tmp_path, monkeypatch, [plain, bare, bare_crash])
    written = _terminal(store, "plain")[1]["outputs"][0]
    for job, status in (("check:plain:bare", "fail"), ("check:plain:bare_crash", "error")):
        summary, event, events = _terminal(store, job)
        assert summary.state == ("COMPLETE" if status == "fail" else "FAIL") and events[0]["eventType"] == "START"
        [read] = event["inputs"]
        assert (read["name"], read["facets"]["version"]["datasetVersion"]) == (
            written["name"], written["facets"]["version"]["datasetVersion"])
        [assertion] = read["inputFacets"]["dataQualityAssertions"]["assertions"]
        assert assertion["params"]["status"] == status
        assert assertion["params"]["input"] == "taken from Dagster: the check loaded no version through tdprov"
        for e in events:
            validate_event(e)


def test_a_check_whose_step_read_no_version_of_its_asset_is_named_with_the_fix(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A check that loads another asset through tdprov and not the one it checks has a run, and nothing in it to carry
    its result: a warning names the check, its asset, its outcome and the fix, and the run records no result."""

    @dg.asset
    def copied(plain: pd.DataFrame) -> pd.DataFrame:
        return plain

    @dg.asset_check(asset=plain, additional_ins={"copied": dg.AssetIn("copied")})
    def same(copied: pd.DataFrame) -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=False)

    store, result = _materialized(tmp_path, monkeypatch, [plain, copied, same])
    assert result.success
    [warned] = [r.getMessage() for r in caplog.records if r.name == "prov_dagster.steps"]
    assert warned == ("tdprov: the result of asset check 'same' on plain (fail) is not recorded: step plain_same read no "
                      "version of plain that tdprov recorded. Fix: take the asset as the check's argument, loaded through "
                      "ProvenanceIOManager")
    _, event, _ = _terminal(store, "check:plain:same")
    assert [i["name"].rsplit("/", 1)[-1] for i in event["inputs"]] == ["copied.parquet"]
    assert not event["inputs"][0].get("inputFacets")


def test_a_partitioned_checks_result_goes_on_the_partition_it_names() -> None:
    """A step that read two partitions of an asset and ran a check of one of them: its result is of that partition,
    not of both; a check partitioned otherwise than its asset (its partition is none the step read) is of them all.
    (Dagster 1.13 runs a partitioned check on the one partition of its run, so this is the rule, met without a run.)"""
    from prov_common.lineage.datasets import CheckResult
    from prov_dagster.check_results import AssetCheck, checks_on
    from prov_dagster.model import DatasetRecord

    read = [DatasetRecord("orders", None, uri=f"file:///data/orders/{p}.parquet", partition=p, version=f"v{p}") for p in "ab"]
    of_b = AssetCheck("orders", CheckResult("fresh", "fail", params={"partition": "b"}))
    weekly = AssetCheck("orders", CheckResult("weekly", "pass", params={"partition": "2024-01-01"}))
    whole = AssetCheck("orders", CheckResult("whole", "pass"))
    on = {r.partition: [c.name for c in checks_on(r, [of_b, weekly, whole], read)] for r in read}
    assert on == {"a": ["weekly", "whole"], "b": ["fresh", "weekly", "whole"]}


def test_an_asset_check_named_as_a_frame_wide_pandera_check_is_a_result_of_its_own(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """An asset's own check ``not_null`` beside its Pandera schema's frame-wide check ``not_null``: two assertions, so
    two tests in the run's facet, two measurements in the PROV (the Pandera one naming its schema), and the failed
    check counted by lineage --checks, show and the audit (all read it as the PROV states it: it was taken for the
    Pandera check repeated, and dropped)."""
    import pandera.pandas as pa

    from prov_common.audit import run_audit
    from prov_common.audit.model import CHECK_QUALITY
    from prov_common.config import Settings
    from prov_dagster import provenance_asset

    schema = pa.DataFrameSchema({"x": pa.Column(int)}, name="Rows",
                                checks=[pa.Check(lambda df: bool(df.notna().all(axis=None)), name="not_null")])

    @provenance_asset(schema=schema, quality_policy="record", check_specs=[dg.AssetCheckSpec("not_null", asset="rows")])
    def rows():  # noqa: ANN201 - a generator asset
        yield dg.Output(pd.DataFrame({"x": [1, 2]}))
        yield dg.AssetCheckResult(check_name="not_null", passed=False, description="mine failed")

    @dg.asset(tags={"tdprov/training": "true"})
    def fit(rows: pd.DataFrame) -> pd.DataFrame:
        return rows * 2

    store, result = _materialized(tmp_path, monkeypatch, [rows, fit], home=True)
    assert result.success
    summary, event, _ = _terminal(store, "rows")
    [output] = event["outputs"]
    name, version = output["name"], output["facets"]["version"]["datasetVersion"]
    assert sorted((t["status"], t["params"].get("schema")) for t in event["run"]["facets"]["test"]["tests"]
                  if t["name"] == f"{name}:not_null") == [("fail", None), ("pass", "Rows")]

    out = tmp_path / "all.ttl"
    assert cli_main(["export", "--format", "ttl", "-o", str(out), "--store", str(store)]) == 0
    measured = PREFIXES + """SELECT ?m ?status ?schema WHERE {
      ?m a dqv:QualityMeasurement ; dqv:isMeasurementOf/rdfs:label ?check ; tdprov:status ?status .
      OPTIONAL { ?m tdprov:schemaName ?schema } FILTER (STRENDS(STR(?check), ":not_null"))
    }"""
    rows_found = list(rdflib.Graph().parse(out, format="turtle").query(measured))
    assert len({r.m for r in rows_found}) == 2
    assert sorted((str(r.status), str(r.schema)) for r in rows_found) == [("fail", "None"), ("pass", "Rows")]

    assert cli_main(["lineage", version, "--checks", "--store", str(store)]) == 0
    [line] = [t for t in capsys.readouterr().out.splitlines() if version in t and name in t]
    assert line.endswith(f"{version}  ✗ failed: {name}:not_null  ✓ passed 3 checks")
    assert cli_main(["show", summary.run_id, "--json", "--store", str(store)]) == 0
    assert [(c["check"], c["status"], c["description"]) for c in json.loads(capsys.readouterr().out)["checks"]] == [
        (f"{name}:not_null", "fail", "mine failed")]
    audit = run_audit(open_store(str(store)), Settings.from_env(), full=True, report_dir=tmp_path / "report", progress=False)
    [used] = [f for f in audit.check(CHECK_QUALITY).findings if f.run_id == _terminal(store, "fit")[0].run_id]
    assert f"failed check {name}:not_null (error: mine failed)" in used.what


def test_a_check_that_raised_and_loaded_nothing_is_recorded_on_the_version_before_its_step_started(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A check that loads nothing through tdprov and raised has no version Dagster names: its result went on the asset's
    latest materialization when the step's run ended, so one made while the check ran (another run writing the asset)
    took it, a version the check never saw. It goes on the latest one stored before its step started, as a declared
    upstream's partition does (prov_dagster.deps)."""
    from prov_dagster.metadata import DATA_KEY, DIGEST_KEY

    @dg.asset_check(asset=plain)
    def raced(context) -> dg.AssetCheckResult:  # noqa: ANN001 - Dagster reads the annotation, which is a string here
        context.instance.report_runless_asset_event(dg.AssetMaterialization(  # another run's, while the check runs
            "plain", metadata={DATA_KEY: str(tmp_path / "other" / "plain.parquet"), DIGEST_KEY: "sha256:" + "0" * 64}))
        raise ValueError("the check itself broke")

    store, _ = _materialized(tmp_path, monkeypatch, [plain, raced])
    written = _terminal(store, "plain")[1]["outputs"][0]
    summary, event, _ = _terminal(store, "check:plain:raced")
    [read] = event["inputs"]
    assert summary.state == "FAIL" and (read["name"], read["facets"]["version"]["datasetVersion"]) == (
        written["name"], written["facets"]["version"]["datasetVersion"])
    [assertion] = read["inputFacets"]["dataQualityAssertions"]["assertions"]
    assert assertion["params"]["status"] == "error" and assertion["description"].endswith("ValueError: the check itself broke")


def test_an_assets_step_that_failed_before_it_wrote_is_no_check_step_reading_its_last_version(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An asset whose own step evaluates a check (check_specs) failed before it wrote anything: its step, which loaded
    nothing through tdprov and planned a check, was taken for a check step that loaded nothing, and recorded as a run
    of the asset's job reading the asset's last version, the check 'raised an error' on it: a version the step never
    read given a lineage edge to the asset's own job and a check result it never had. It is an asset's step: the
    failure sensor closes it, as a step that recorded nothing."""
    broken = []

    @dg.asset(check_specs=[dg.AssetCheckSpec("has_rows", asset="stock")])
    def stock():  # noqa: ANN202 - a generator asset, to yield its own check's result after its output
        if broken:
            raise RuntimeError("the warehouse is down")
        yield dg.Output(pd.DataFrame({"x": [1]}))
        yield dg.AssetCheckResult(check_name="has_rows", passed=True)

    store = tmp_path / "store"
    monkeypatch.setenv("TDPROV_STORE", str(store))
    with dg.DagsterInstance.ephemeral() as instance:
        assert dg.materialize([stock], instance=instance, resources={"io_manager": ProvenanceIOManager()}).success
        broken.append(True)
        failed = dg.materialize([stock], instance=instance, raise_on_error=False,
                                resources={"io_manager": ProvenanceIOManager()})
        assert not failed.success
        delivered(store)
        assert [(s.job_name, s.state, s.inputs) for s in list_bundles(open_store(str(store)))] == [("stock", "COMPLETE", ())]
        evaluate_failure_sensor(failed, instance, ProvenanceResource())  # as Dagster's daemon would
    delivered(store)
    runs = sorted((s.state, s.inputs, s.outputs) for s in list_bundles(open_store(str(store))) if s.job_name == "stock")
    assert [(state, inputs) for state, inputs, _ in runs] == [("COMPLETE", ()), ("FAIL", ())]
    fail = _terminal_by_start(store, "stock")[-1]
    assert fail["eventType"] == "FAIL" and fail["inputs"] == [] and "the warehouse is down" in json.dumps(fail)


def test_an_assets_step_that_failed_before_it_wrote_gives_no_fix_for_its_own_check(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """An asset whose own step evaluates a check (check_specs) read its upstream through tdprov and failed before it
    wrote: its check, which never ran, has no version to go on, and the step's run warned that the check's result was
    not recorded, with the fix to take the asset as the check's argument, which a check of the step's own asset
    cannot. The run is a FAIL with what it read, and no warning."""

    @dg.asset(check_specs=[dg.AssetCheckSpec("has_rows", asset="shelved")])
    def shelved(plain: pd.DataFrame):  # noqa: ANN202 - a generator asset that fails before it yields
        raise RuntimeError("the warehouse is down")
        yield  # noqa: RET503 - never reached

    store, result = _materialized(tmp_path, monkeypatch, [plain, shelved])
    assert not result.success
    assert [r.getMessage() for r in caplog.records if r.name == "prov_dagster.steps"] == []
    summary, event, _ = _terminal(store, "shelved")
    assert summary.state == "FAIL" and [i["name"] for i in event["inputs"]] == [_terminal(store, "plain")[1]["outputs"][0]["name"]]
    assert not event["inputs"][0].get("inputFacets")


def test_a_check_that_loads_nothing_is_its_checks_job_when_the_execution_plan_cannot_be_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The run of a check step that loaded nothing through tdprov is named from the run's execution plan; when the plan
    could not be read it was named by its step key, plain_bare, silently (Dagster gives check b_c of asset a and check c
    of asset a_b one step key, a_b_c). The checks the step evaluated name it check:plain:bare, as the plan does."""
    store = tmp_path / "store"
    monkeypatch.setenv("TDPROV_STORE", str(store))
    with dg.DagsterInstance.ephemeral() as instance:
        def unreadable(snapshot_id: str) -> None:
            raise OSError(f"execution plan snapshot {snapshot_id} cannot be read: the run storage is down")
        monkeypatch.setattr(instance, "get_execution_plan_snapshot", unreadable)
        dg.materialize([plain, bare], instance=instance, raise_on_error=False, resources={"io_manager": ProvenanceIOManager()})
    delivered(store)
    assert sorted(s.job_name for s in list_bundles(open_store(str(store)))) == ["check:plain:bare", "plain"]


@dg.asset_check(asset=plain)
def loads_plain(plain: pd.DataFrame) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=bool(len(plain)))


def test_a_teardown_reads_the_steps_events_only_for_a_check_step_left_to_record(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each IO manager teardown (each step's process, with the multiprocess executor) read the starts and
    materializations of every step of the run to find check steps that loaded nothing, then the check events again: a
    read as long as the run per step. The check events are read once; the steps' starts only when a check step that
    loaded nothing is left, their materializations only when one ran in this process, and both only from where the
    run's event log stood when the IO manager was set up ("since set-up"), once each: the data-version warning and the
    check's version read the same ones. The failures of the steps it ends are read from there too (they read every
    STEP_FAILURE of the run)."""
    monkeypatch.setenv("TDPROV_STORE", str(tmp_path / "store"))
    reads: list[set[str]] = []
    teardown = ProvenanceIOManager.teardown_after_execution

    def kinds(of_type: Any, *marks: str) -> set[str]:
        return {*(k.value for k in (of_type if isinstance(of_type, set) else {of_type})), *marks}

    def counted(self: ProvenanceIOManager, context: Any) -> None:
        all_logs, records = context.instance.all_logs, context.instance.get_records_for_run
        monkeypatch.setattr(context.instance, "all_logs", lambda run_id, of_type=None: reads.append(
            kinds(of_type)) or all_logs(run_id, of_type=of_type))
        monkeypatch.setattr(context.instance, "get_records_for_run", lambda run_id, cursor=None, of_type=None, **kw: reads.append(
            kinds(of_type, *(("since set-up",) if cursor else ()))) or records(run_id, cursor=cursor, of_type=of_type, **kw))
        teardown(self, context)
    monkeypatch.setattr(ProvenanceIOManager, "teardown_after_execution", counted)
    checks = {"ASSET_CHECK_EVALUATION", "ASSET_CHECK_EVALUATION_PLANNED"}
    for selection, expected in (
            ([plain], [checks, {"ASSET_MATERIALIZATION", "since set-up"}]),
            ([plain, loads_plain], [checks, {"STEP_FAILURE", "since set-up"}, {"ASSET_MATERIALIZATION_PLANNED"},
                                    {"ASSET_MATERIALIZATION", "since set-up"}]),
            ([plain, bare], [checks, {"STEP_START", "since set-up"}, {"ASSET_MATERIALIZATION", "since set-up"},
                             {"ASSET_MATERIALIZATION_PLANNED"}, {"STEP_FAILURE", "since set-up"}])):
        reads.clear()
        with dg.DagsterInstance.ephemeral() as instance:
            assert dg.materialize(selection, instance=instance, resources={"io_manager": ProvenanceIOManager()}).success
        assert reads == expected
    delivered(tmp_path / "store")
    assert sorted(s.job_name for s in list_bundles(open_store(str(tmp_path / "store")))) == [
        "check:plain:bare", "check:plain:loads_plain", "plain", "plain", "plain"]


@dg.asset(io_manager_key="elsewhere")
def kept_elsewhere():  # noqa: ANN201
    return pd.DataFrame({"x": [1]})


@dg.asset_check(asset=kept_elsewhere)
def bare_elsewhere() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


def test_a_check_that_loads_nothing_is_recorded_in_the_store_of_the_version_it_checked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two ProvenanceIOManagers on two stores in one run: a check that loads nothing, on an asset the second one keeps,
    was recorded in the store of whichever tore down first, apart from the version it checked (whose bundle is in the
    other store). It is recorded where that version is."""
    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "home"))
    kept, other = tmp_path / "kept", tmp_path / "other"
    with dg.DagsterInstance.ephemeral() as instance:
        assert dg.materialize([plain, kept_elsewhere, bare_elsewhere], instance=instance, resources={
            "io_manager": ProvenanceIOManager(store=str(other)), "elsewhere": ProvenanceIOManager(store=str(kept))}).success
    delivered(kept)
    assert sorted(s.job_name for s in list_bundles(open_store(str(kept)))) == ["check:kept_elsewhere:bare_elsewhere",
                                                                               "kept_elsewhere"]
    assert [s.job_name for s in list_bundles(open_store(str(other)))] == ["plain"]
    written = _terminal(kept, "kept_elsewhere")[1]["outputs"][0]
    [read] = _terminal(kept, "check:kept_elsewhere:bare_elsewhere")[1]["inputs"]
    assert (read["name"], read["facets"]["version"]["datasetVersion"]) == (
        written["name"], written["facets"]["version"]["datasetVersion"])
    assert read["inputFacets"]["dataQualityAssertions"]["assertions"][0]["params"]["status"] == "pass"


def test_a_check_that_loads_nothing_in_a_process_of_its_own_is_recorded_in_the_store_of_the_version_it_checked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """With the multiprocess executor no recorder of the check's process wrote the version it checked: its run went to
    the store of whichever IO manager was torn down first. The materialization names its store (tdprov/store), where
    the check is recorded, signed with the key of the store's IO manager (the job's, which the check's process does not
    set up), so verifying that store with only its key trusted is clean."""
    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "home"))
    kept, other = tmp_path / "kept", tmp_path / "other"
    own, closers = (str(write_keypair(tmp_path / name)[0]) for name in ("kept.key", "other.key"))
    monkeypatch.setenv("TDPROV_STORE", str(other))
    monkeypatch.setenv("TDPROV_SIGNING_KEY", closers)
    monkeypatch.setenv("TDPROV_TEST_KEPT", str(kept))
    monkeypatch.setenv("TDPROV_TEST_KEPT_KEY", own)
    monkeypatch.chdir(Path(__file__).parent)  # step processes import dagster_steps_defs from the working directory
    (tmp_path / "dagster_home").mkdir()
    with dg.DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        result = dg.execute_job(dg.reconstructable(steps_defs.get_kept_apart_job), instance=instance)
        assert result.success
        [materialized] = result.get_asset_materialization_events()
    delivered(kept)
    assert sorted(s.job_name for s in list_bundles(open_store(str(kept)))) == ["check:kept_apart:kept_apart_bare",
                                                                               "kept_apart"]
    assert materialized.materialization.metadata["tdprov/store"].value == str(kept)
    assert not other.exists() or list(list_bundles(open_store(str(other)))) == []
    written = _terminal(kept, "kept_apart")[1]["outputs"][0]
    [read] = _terminal(kept, "check:kept_apart:kept_apart_bare")[1]["inputs"]
    assert read["facets"]["version"]["datasetVersion"] == written["facets"]["version"]["datasetVersion"]
    capsys.readouterr()
    assert cli_main(["verify", "--store", str(kept), "--trusted-keys", f"{own}.pub"]) == 0, capsys.readouterr().out


def test_a_check_that_loads_nothing_of_a_version_an_earlier_run_wrote_is_recorded_in_its_store(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The asset written in an earlier run, its check run alone in a process that recorded nothing since: the check's
    run goes to the store the materialization names, in a recorder opened on it, not to the store of 'io_manager'."""
    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "home"))
    kept, other = tmp_path / "kept", tmp_path / "other"
    with dg.DagsterInstance.ephemeral() as instance:
        assert dg.materialize([kept_elsewhere], instance=instance,
                              resources={"elsewhere": ProvenanceIOManager(store=str(kept))}).success
        monkeypatch.setattr(recorder_module, "_recorders", {})  # as a new process: no recorder on either store yet
        assert dg.materialize([kept_elsewhere, bare_elsewhere], instance=instance,
                              selection=dg.AssetSelection.checks(bare_elsewhere), resources={
                                  "io_manager": ProvenanceIOManager(store=str(other)),
                                  "elsewhere": ProvenanceIOManager(store=str(kept))}).success
    delivered(kept)
    assert sorted(s.job_name for s in list_bundles(open_store(str(kept)))) == ["check:kept_elsewhere:bare_elsewhere",
                                                                               "kept_elsewhere"]
    assert not other.exists() or list(list_bundles(open_store(str(other)))) == []
    written = _terminal(kept, "kept_elsewhere")[1]["outputs"][0]
    [read] = _terminal(kept, "check:kept_elsewhere:bare_elsewhere")[1]["inputs"]
    assert read["facets"]["version"]["datasetVersion"] == written["facets"]["version"]["datasetVersion"]


@dg.asset_check(asset=kept_elsewhere)
def raises_elsewhere() -> dg.AssetCheckResult:
    raise ValueError("the check itself broke")


@pytest.mark.parametrize("teardown", [False, True], ids=["no-teardown", "teardown-ended-it"])
def test_the_failure_sensor_closes_a_check_that_loads_nothing_in_the_store_of_the_version_it_checked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, teardown: bool) -> None:
    """A check that loads nothing raised after its asset was written to another store, and no teardown ended its step
    (its process died first): the failure sensor made up its run in the store of its own provenance resource, apart
    from the version it checked. It closes it where the teardown would have: the store the materialization names. A
    step the teardown did end there is left alone (the sensor made up a second run in its own store). The sensor's run
    records what the teardown's does: the version checked (before the step started) and the check as raised on it (it
    recorded neither)."""
    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "home"))
    kept, other = tmp_path / "kept", tmp_path / "other"
    if not teardown:
        monkeypatch.setattr(steps_module, "_check_runs", lambda *_: [])  # the check step's teardown never ran
    with dg.DagsterInstance.ephemeral() as instance:
        failed = dg.materialize([kept_elsewhere, raises_elsewhere], instance=instance, raise_on_error=False, resources={
            "io_manager": ProvenanceIOManager(store=str(other)), "elsewhere": ProvenanceIOManager(store=str(kept))})
        delivered(kept)
        assert not failed.success and len(list(list_bundles(open_store(str(kept))))) == 1 + teardown
        monkeypatch.setattr(recorder_module, "_recorders", {})  # the sensor's own process: no recorder on either store
        for _ in range(2):  # the second evaluation finds the step sealed in the version's store
            evaluate_failure_sensor(failed, instance, ProvenanceResource(store=str(other)))
    delivered(kept)
    assert sorted((s.job_name, s.state) for s in list_bundles(open_store(str(kept)))) == [
        ("check:kept_elsewhere:raises_elsewhere", "FAIL"), ("kept_elsewhere", "COMPLETE")]
    assert not other.exists() or list(list_bundles(open_store(str(other)))) == []
    summary, fail, events = _terminal(kept, "check:kept_elsewhere:raises_elsewhere")
    assert summary.job_namespace == "dagster://default" and [e["eventType"] for e in events] == ["START", "FAIL"]
    assert "ValueError: the check itself broke" in fail["run"]["facets"]["errorMessage"]["message"]
    written = _terminal(kept, "kept_elsewhere")[1]["outputs"][0]["facets"]["version"]["datasetVersion"]
    assert _prov_of(kept, "check:kept_elsewhere:raises_elsewhere") == ({written}, {("raises_elsewhere", "error", written)})


@dg.asset_check(asset=kept_elsewhere)
def canceled_elsewhere(context) -> dg.AssetCheckResult:  # noqa: ANN001 - Dagster reads the annotation, a string here
    context.instance.report_run_canceling(context.op_execution_context.dagster_run)  # as the UI's Terminate does
    raise dg.DagsterExecutionInterruptedError("terminated while checking")


def test_the_cancel_sensor_closes_a_check_that_loads_nothing_with_the_version_it_checked_and_no_result(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A check that loads nothing, stopped with its canceled run: the cancel sensor's ABORT run of it is in the store
    of the version it checked and uses that version, as a failed one does; the check, stopped before it ended, has no
    outcome to record."""
    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "home"))
    kept, other = tmp_path / "kept", tmp_path / "other"
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize([kept_elsewhere, canceled_elsewhere], instance=instance, raise_on_error=False, resources={
            "io_manager": ProvenanceIOManager(store=str(other)), "elsewhere": ProvenanceIOManager(store=str(kept))})
        run = instance.get_run_by_id(result.run_id)
        assert run.status == dg.DagsterRunStatus.CANCELED
        [canceled] = instance.all_logs(result.run_id, of_type=dg.DagsterEventType.RUN_CANCELED)
        monkeypatch.setattr(recorder_module, "_recorders", {})  # the sensor's own process: no recorder on either store
        provenance_canceled_sensor(dg.build_run_status_sensor_context(
            sensor_name="provenance_canceled_sensor", dagster_event=canceled.dagster_event, dagster_instance=instance,
            dagster_run=run, resources={"provenance": ProvenanceResource(store=str(other))}))
    summary, _, events = _terminal(kept, "check:kept_elsewhere:canceled_elsewhere")
    assert summary.state == "ABORT" and [e["eventType"] for e in events] == ["START", "ABORT"]
    written = _terminal(kept, "kept_elsewhere")[1]["outputs"][0]["facets"]["version"]["datasetVersion"]
    assert _prov_of(kept, "check:kept_elsewhere:canceled_elsewhere") == ({written}, set())


@dg.asset_check(asset=kept_elsewhere)
def interrupted_elsewhere() -> dg.AssetCheckResult:
    raise dg.DagsterExecutionInterruptedError("interrupted while checking")  # how Dagster stops a step it interrupts


def test_the_failure_sensor_closes_a_check_dagster_marked_interrupted_with_no_result(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A check that loads nothing, marked interrupted by Dagster (its failure's error source INTERRUPT) in a run that
    failed, not canceled: the teardown leaves it to the sensors, and the failure sensor's FAIL run of it, in the store
    of the version it checked, uses that version with no result for the check, as the cancel sensor's run of a
    canceled run's check: it was stopped, it did not raise. The sensor recorded it as raised on that version."""
    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "home"))
    kept, other = tmp_path / "kept", tmp_path / "other"
    job = "check:kept_elsewhere:interrupted_elsewhere"
    with dg.DagsterInstance.ephemeral() as instance:
        failed = dg.materialize([kept_elsewhere, interrupted_elsewhere], instance=instance, raise_on_error=False, resources={
            "io_manager": ProvenanceIOManager(store=str(other)), "elsewhere": ProvenanceIOManager(store=str(kept))})
        assert instance.get_run_by_id(failed.run_id).status == dg.DagsterRunStatus.FAILURE
        [failure] = instance.all_logs(failed.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
        assert failure.dagster_event.step_failure_data.error_source == ErrorSource.INTERRUPT
        delivered(kept)
        assert [s.job_name for s in list_bundles(open_store(str(kept)))] == ["kept_elsewhere"]  # left to the sensors
        monkeypatch.setattr(recorder_module, "_recorders", {})  # the sensor's own process: no recorder on either store
        evaluate_failure_sensor(failed, instance, ProvenanceResource(store=str(other)))
    summary, fail, events = _terminal(kept, job)
    assert summary.state == "FAIL" and [e["eventType"] for e in events] == ["START", "FAIL"]
    assert "interrupted while checking" in fail["run"]["facets"]["errorMessage"]["message"]
    [read] = fail["inputs"]
    assert "dataQualityAssertions" not in read.get("inputFacets", {})
    written = _terminal(kept, "kept_elsewhere")[1]["outputs"][0]["facets"]["version"]["datasetVersion"]
    assert _prov_of(kept, job) == ({written}, set())


def _prov_of(store: Path, job: str) -> tuple[set[str], set[tuple[str, str, str]]]:
    """From the sealed ``prov.json`` of the one run of ``job``: the digests of the versions it used, and (check, status,
    digest of the version it is computed on) of each quality measurement it generated."""
    st = open_store(str(store))
    delivered(st)
    [summary] = [s for s in list_bundles(st) if s.job_name == job]
    prov = json.loads(read_bundle(st, summary.run_id).files["prov.json"])
    entity = prov["entity"]
    used = {entity[u["prov:entity"]]["tdprov:digest"] for u in prov.get("used", {}).values()}
    measured = {(entity[m["dqv:isMeasurementOf"]["$"]]["prov:label"], m["tdprov:status"],
                 entity[m["dqv:computedOn"]["$"]]["tdprov:digest"])
                for m in entity.values() if m["prov:type"] == {"$": "dqv:QualityMeasurement", "type": "xsd:QName"}}
    return used, measured


def _kept_before(instance: dg.DagsterInstance, tmp_path: Path, store: Path | None = None) -> None:
    """A materialization of kept_elsewhere from an earlier run, its bundle in file:///old/bundles/run/, naming
    ``store`` as its store (None: as a tdprov older than tdprov/store wrote it, naming none)."""
    named = {} if store is None else {"tdprov/store": str(store)}
    instance.report_runless_asset_event(dg.AssetMaterialization("kept_elsewhere", metadata={
        "tdprov/digest": "sha256:" + "0" * 64, "tdprov/data": str(tmp_path / "old" / "kept_elsewhere.parquet"),
        **named, "tdprov/bundle": dg.MetadataValue.url("file:///old/bundles/run/")}))


def test_the_failure_sensor_says_where_a_check_of_a_version_whose_store_dagster_does_not_name_is_recorded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The sensor falls back as the teardown does: a materialization that names no store (an older tdprov) leaves the
    check in the store of the sensor's provenance resource, and the warning names it and where the version's bundle is."""
    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "home"))
    other = tmp_path / "other"
    monkeypatch.setattr(steps_module, "_check_runs", lambda *_: [])  # the check step's teardown never ran
    with dg.DagsterInstance.ephemeral() as instance:
        _kept_before(instance, tmp_path)
        failed = dg.materialize([kept_elsewhere, raises_elsewhere], instance=instance, raise_on_error=False,
                                selection=dg.AssetSelection.checks(raises_elsewhere), resources={
                                    "io_manager": ProvenanceIOManager(store=str(tmp_path / "torn")),
                                    "elsewhere": ProvenanceIOManager(store=str(tmp_path / "kept"))})
        with caplog.at_level("WARNING", logger="prov_dagster.steps"):
            evaluate_failure_sensor(failed, instance, ProvenanceResource(store=str(other)))
    delivered(other)
    assert [(s.job_name, s.state) for s in list_bundles(open_store(str(other)))] == [
        ("check:kept_elsewhere:raises_elsewhere", "FAIL")]
    [warning] = [r.getMessage() for r in caplog.records if "asset check step" in r.getMessage()]
    assert warning == (
        f"tdprov: the run of asset check step kept_elsewhere_raises_elsewhere is recorded in store {other}, the store of "
        "the sensor's provenance resource: the version of kept_elsewhere it checked is recorded in a store its "
        "materialization does not name (tdprov/store; written by an older tdprov), bundle file:///old/bundles/run/. Fix: "
        "take the asset as the check's argument, loaded through ProvenanceIOManager")


def test_a_check_of_a_version_whose_store_dagster_does_not_name_says_where_it_is_recorded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A materialization written by a tdprov older than tdprov/store names no store: the check is recorded in the store
    of the IO manager torn down, and the warning names that store and where the version's bundle is."""
    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "home"))
    other = tmp_path / "other"
    with dg.DagsterInstance.ephemeral() as instance:
        _kept_before(instance, tmp_path)
        with caplog.at_level("WARNING", logger="prov_dagster.steps"):
            assert dg.materialize([kept_elsewhere, bare_elsewhere], instance=instance,
                                  selection=dg.AssetSelection.checks(bare_elsewhere), resources={
                                      "io_manager": ProvenanceIOManager(store=str(other)),
                                      "elsewhere": ProvenanceIOManager(store=str(tmp_path / "kept"))}).success
    delivered(other)
    assert [s.job_name for s in list_bundles(open_store(str(other)))] == ["check:kept_elsewhere:bare_elsewhere"]
    [warning] = [r.getMessage() for r in caplog.records if "asset check step" in r.getMessage()]
    assert warning == (
        f"tdprov: the run of asset check step kept_elsewhere_bare_elsewhere is recorded in store {other}, the store of the "
        "IO manager torn down: the version of kept_elsewhere it checked is recorded in a store its materialization does "
        "not name (tdprov/store; written by an older tdprov), bundle file:///old/bundles/run/. Fix: take the asset as the "
        "check's argument, loaded through ProvenanceIOManager")


@pytest.mark.filterwarnings("ignore::dagster.BetaWarning")  # build_run_status_sensor_context(repository_def=...)
@pytest.mark.parametrize("closer", ["teardown", "sensor", "sensor of a store given at launch", "sensor of no code location"])
def test_a_check_recorded_in_the_store_of_the_version_it_checked_is_signed_with_that_stores_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture, closer: str) -> None:
    """The version checked was written in an earlier run, by the IO manager of its own store with its own key: the run
    of a check that loads nothing, recorded in that store by a later run's teardown (or by the failure sensor, from its
    code location's resources), was signed with the key of the IO manager torn down (of the sensor's resource), which
    that store's readers need not trust. It is signed with the key of the IO manager configured for that store, so
    verifying the store with only its own key trusted is clean. A process that has none (a sensor given no code
    location) signs it with its own key, and a warning says so, naming both and the fix. The store and key of an IO
    manager given at launch (configure_at_launch, the run's config) are those the sensor reads too: it read the code
    location's config only, found no IO manager of that store and signed the run with its own key."""
    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "home"))
    kept, other = tmp_path / "kept", tmp_path / "other"
    own, closers = (str(write_keypair(tmp_path / name)[0]) for name in ("kept.key", "other.key"))
    resources = {"io_manager": ProvenanceIOManager(store=str(other), signing_key=closers),
                 "elsewhere": ProvenanceIOManager(store=str(kept), signing_key=own)}
    launched = closer == "sensor of a store given at launch"
    run_config = {"resources": {"elsewhere": {"config": {"store": str(kept), "signing_key": own}}}} if launched else None
    check, job = ((bare_elsewhere, "check:kept_elsewhere:bare_elsewhere") if closer == "teardown"
                  else (raises_elsewhere, "check:kept_elsewhere:raises_elsewhere"))
    if closer != "teardown":
        monkeypatch.setattr(steps_module, "_check_runs", lambda *_: [])  # the check step's teardown never ran
    with dg.DagsterInstance.ephemeral() as instance:
        assert dg.materialize([kept_elsewhere], instance=instance, resources={"elsewhere": resources["elsewhere"]}).success
        monkeypatch.setattr(recorder_module, "_recorders", {})  # as a new process: no recorder on either store yet
        monkeypatch.setattr(recorder_module, "_configured", OrderedDict())
        if launched:  # the code location gives no store or key: the run's config does
            resources["elsewhere"] = ProvenanceIOManager.configure_at_launch()
        result = dg.materialize([kept_elsewhere, check], instance=instance, selection=dg.AssetSelection.checks(check),
                                resources=resources, run_config=run_config, raise_on_error=False)
        assert result.success == (closer == "teardown")
        if closer != "teardown":
            monkeypatch.setattr(recorder_module, "_recorders", {})  # the sensor's own process
            monkeypatch.setattr(recorder_module, "_configured", OrderedDict())
            location = dg.Definitions(assets=[kept_elsewhere], asset_checks=[check], resources=resources)
            with caplog.at_level("WARNING", logger="prov_dagster.steps"):
                evaluate_failure_sensor(result, instance, ProvenanceResource(store=str(other), signing_key=closers),
                                        None if closer == "sensor of no code location" else location.get_repository_def())
    delivered(kept)
    assert sorted(s.job_name for s in list_bundles(open_store(str(kept)))) == [job, "kept_elsewhere"]
    warned = [r.getMessage() for r in caplog.records if "signed with the key of" in r.getMessage()]
    capsys.readouterr()
    verified = cli_main(["verify", "--store", str(kept), "--trusted-keys", f"{own}.pub"])
    if closer != "sensor of no code location":
        assert verified == 0 and not warned, capsys.readouterr().out
        assert "2 of 2 bundles verified" in capsys.readouterr().err
        return
    assert verified == 1 and "untrusted key" in capsys.readouterr().out
    assert warned == [
        f"tdprov: the run of asset check step kept_elsewhere_raises_elsewhere is recorded in store {kept}, where the "
        f"version of kept_elsewhere it checked is, signed with the key of the sensor's provenance resource ({closers}): no "
        "ProvenanceIOManager or ProvenanceResource of that store is configured in this process, so readers of the store "
        "verify the run only if they trust that key too (said once in this process for that store and key, whatever "
        "check runs it signs there later). Fix: add the IO manager of that store to the resources of this "
        "code location, or give its IO managers and the sensors' provenance resource one signing_key"]


@pytest.mark.filterwarnings("ignore::dagster.BetaWarning")  # build_run_status_sensor_context(repository_def=...)
def test_the_failure_sensor_signs_each_runs_check_with_the_key_that_run_was_launched_with(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One sensor process closes four failed runs, each launched with its own config for the IO manager of the checked
    version's store (``configure_at_launch``): namespace ``a`` with a key, ``a`` with the key rotated, then ``b`` and
    ``c``. The run of each check that loads nothing is sealed in that store signed with the key its own run was launched
    with. The process noted each run's config in a registry where the first of a store and namespace won: the second
    run's check was signed with the first run's key, retired by then, and the registry grew by each namespace launched.
    It now holds nothing of what a run was launched with. The code location's resources are read once a run closed
    (they were read twice: for the namespaces to close and for the check's key)."""
    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "home"))
    kept, other = tmp_path / "kept", tmp_path / "other"
    first, rotated, closers = (str(write_keypair(tmp_path / name)[0]) for name in ("first.key", "rotated.key", "c.key"))
    launches = [("a", first), ("a", rotated), ("b", first), ("c", rotated)]
    resources = {"io_manager": ProvenanceIOManager(store=str(other), signing_key=closers),
                 "elsewhere": ProvenanceIOManager.configure_at_launch()}
    monkeypatch.setattr(steps_module, "_check_runs", lambda *_: [])  # the check step's teardown never ran
    with dg.DagsterInstance.ephemeral() as instance:
        failed = [dg.materialize([kept_elsewhere, raises_elsewhere], instance=instance, resources=resources,
                                 raise_on_error=False, run_config={"resources": {"elsewhere": {"config": {
                                     "store": str(kept), "signing_key": key, "namespace": namespace,
                                     "data_root": str(tmp_path / f"data-{namespace}")}}}})
                  for namespace, key in launches]
        monkeypatch.setattr(recorder_module, "_recorders", {})  # the sensor's own process, long-lived
        monkeypatch.setattr(recorder_module, "_configured", OrderedDict())
        location = dg.Definitions(assets=[kept_elsewhere], asset_checks=[raises_elsewhere], resources=resources)
        read: list[str] = []

        def resource_configs(repository_def: Any, dagster_run: Any = None) -> list:
            read.append(dagster_run.run_id)
            return _compat.resource_configs(repository_def, dagster_run)

        monkeypatch.setattr(sensors_module, "resource_configs", resource_configs)
        noted = []
        for result in failed:
            assert not result.success
            evaluate_failure_sensor(result, instance, ProvenanceResource(store=str(other), signing_key=closers),
                                    location.get_repository_def())
            noted.append(len(recorder_module._configured))  # noqa: SLF001
    delivered(kept)
    st = open_store(str(kept))
    checks = {s.parent_run_id: s for s in list_bundles(st) if s.job_name.startswith("check:")}
    signed = [json.loads(st.get(bundle_key(checks[r.run_id].run_id, STATEMENT_FILE)))["signatures"][0]["keyid"]
              for r in failed]
    assert signed == [load_signing_key(key).key_id for _, key in launches]
    assert [checks[r.run_id].key_id for r in failed] == signed
    assert noted == [noted[0]] * len(launches) and noted[0] <= 1  # at most the sensor's own resource, however many runs
    assert read == [r.run_id for r in failed]


def test_a_process_remembers_the_newest_stores_its_resources_were_set_up_for(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A long-lived process sets up a ProvenanceResource for each of five runs, each launched with a store of its own:
    it remembered each store's settings for good (a check's key in that store); it keeps the newest three
    (CONFIGURED_KEPT here), the last run's among them."""
    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(recorder_module, "_configured", OrderedDict())
    monkeypatch.setattr(recorder_module, "CONFIGURED_KEPT", 3, raising=False)
    stores = [tmp_path / f"store{n}" for n in range(5)]
    for store in stores:
        with dg.build_resources({"provenance": ProvenanceResource(store=str(store))}) as built:
            assert built.provenance.settings().store == str(store)
    assert len(recorder_module._configured) == 3  # noqa: SLF001
    newest = recorder_module.store_recorder(str(stores[-1]), "dagster://default")
    assert newest is not None and newest.settings.store == str(stores[-1])
    assert recorder_module.store_recorder(str(stores[0]), "dagster://default") is None


@pytest.mark.filterwarnings("ignore::dagster.BetaWarning")  # build_run_status_sensor_context(repository_def=...)
def test_the_failure_sensor_of_the_checked_versions_store_signs_its_check_in_another_namespace_unwarned(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The failure sensor's own provenance resource is of the store of the version a check that loads nothing checked,
    written in another namespace (team_b) by an IO manager none of the code location's top-level resources is: the
    check's run, recorded in that store and namespace, was signed with the sensor's key, as the process set it up,
    with the warning that no ProvenanceIOManager or ProvenanceResource of that store is configured in this process.
    The resources the process set up are read after those the run was launched with: it is signed with that key,
    unwarned, and verifies with it."""
    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(steps_module, "UNCONFIGURED_WARNED", Once(), raising=False)  # none warned yet
    monkeypatch.setattr(steps_module, "_check_runs", lambda *_: [])  # the check step's teardown never ran
    kept, other = tmp_path / "kept", tmp_path / "other"
    own = str(write_keypair(tmp_path / "kept.key")[0])
    resources = {"io_manager": ProvenanceIOManager(store=str(other), signing_key=own),
                 "elsewhere": dg.FilesystemIOManager(base_dir=str(tmp_path / "fs"))}
    with dg.DagsterInstance.ephemeral() as instance:
        assert dg.materialize([kept_elsewhere], instance=instance, resources={"elsewhere": ProvenanceIOManager(
            store=str(kept), signing_key=own, namespace="team_b")}).success
        failed = dg.materialize([kept_elsewhere, raises_elsewhere], instance=instance, raise_on_error=False,
                                selection=dg.AssetSelection.checks(raises_elsewhere), resources=resources)
        assert not failed.success
        monkeypatch.setattr(recorder_module, "_recorders", {})  # the sensor's own process
        monkeypatch.setattr(recorder_module, "_configured", OrderedDict())
        location = dg.Definitions(assets=[kept_elsewhere], asset_checks=[raises_elsewhere], resources=resources)
        with caplog.at_level("WARNING", logger="prov_dagster.steps"):
            evaluate_failure_sensor(failed, instance, ProvenanceResource(store=str(kept), signing_key=own),
                                    location.get_repository_def())
    delivered(kept)
    (check,) = [s for s in list_bundles(open_store(str(kept))) if s.job_name.startswith("check:")]
    assert (check.job_namespace, check.key_id) == ("dagster://team_b", load_signing_key(own).key_id)
    assert not [r.getMessage() for r in caplog.records if "signed with the key of" in r.getMessage()], caplog.text


@pytest.mark.parametrize("one_key", [False, True], ids=["two-keys", "one-key"])
def test_each_check_in_a_store_no_resource_is_configured_for_is_signed_with_its_own_closers_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, one_key: bool) -> None:
    """Two runs in one process, IO managers of two keys, each with a check that loads nothing on a version kept in a
    store no resource of the process is configured for: each check run is signed with its own closer's key, each with
    the warning naming that key. The recorder the first opened there with its key was kept and taken by the second,
    silently: the second check was signed with the first run's key. With one key, the warning is given once for the
    store (it was given for each check)."""
    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(steps_module, "UNCONFIGURED_WARNED", Once(), raising=False)  # none warned yet
    kept = tmp_path / "kept"
    keys = [write_keypair(tmp_path / name)[0] for name in ("first.key", "second.key")]
    if one_key:
        keys[1] = keys[0]
    with dg.DagsterInstance.ephemeral() as instance:
        assert dg.materialize([kept_elsewhere], instance=instance,
                              resources={"elsewhere": ProvenanceIOManager(store=str(kept))}).success
        monkeypatch.setattr(recorder_module, "_recorders", {})  # as a new process: no recorder on either store yet
        monkeypatch.setattr(recorder_module, "_configured", OrderedDict())
        checks = dg.AssetSelection.checks(bare_elsewhere)  # kept's own IO manager here is not tdprov's
        with caplog.at_level("WARNING", logger="prov_dagster.steps"):
            for n, key in enumerate(keys):
                assert dg.materialize(
                    [plain, kept_elsewhere, bare_elsewhere], instance=instance, selection=dg.AssetSelection.assets(plain) | checks,
                    resources={"io_manager": ProvenanceIOManager(store=str(tmp_path / f"other{n}"), signing_key=str(key)),
                               "elsewhere": dg.FilesystemIOManager(base_dir=str(tmp_path / "fs"))}).success
    st = open_store(str(kept))
    delivered(st)
    signers = sorted((s.started_at, s.key_id) for s in list_bundles(st) if s.job_name.startswith("check:"))
    assert [k for _, k in signers] == [load_signing_key(key).key_id for key in keys]
    warned = [r.getMessage() for r in caplog.records if "signed with the key of" in r.getMessage()]
    assert [w.split("(")[1].split(")")[0] for w in warned] == [str(key) for key in keys[:2 - one_key]]


@pytest.mark.parametrize("closer", ["teardown", "sensor"])
def test_a_check_of_a_version_whose_named_store_cannot_be_opened_is_recorded_in_the_closers_store(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, closer: str) -> None:
    """A materialization names a store this process cannot open (a file where its folder should be): the run of a
    check of it is recorded in the store of the IO manager torn down, or of the failure sensor's resource, with the
    warning naming why, as for a store with its credentials left out. It was sealed into nothing (the teardown's
    delivery failed) and the failure sensor raised, leaving the run's other steps unclosed."""
    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "home"))
    other, unusable = tmp_path / "other", tmp_path / "a-file"
    unusable.write_text("not a store")
    if closer == "sensor":
        monkeypatch.setattr(steps_module, "_check_runs", lambda *_: [])  # the check step's teardown never ran
    with dg.DagsterInstance.ephemeral() as instance:
        _kept_before(instance, tmp_path, store=unusable)
        with caplog.at_level("WARNING", logger="prov_dagster.steps"):
            failed = dg.materialize([kept_elsewhere, raises_elsewhere], instance=instance, raise_on_error=False,
                                    selection=dg.AssetSelection.checks(raises_elsewhere), resources={
                                        "io_manager": ProvenanceIOManager(store=str(other)),
                                        "elsewhere": ProvenanceIOManager(store=str(tmp_path / "kept"))})
            if closer == "sensor":
                monkeypatch.setattr(recorder_module, "_recorders", {})  # the sensor's own process
                evaluate_failure_sensor(failed, instance, ProvenanceResource(store=str(other)))
    delivered(other)
    assert [(s.job_name, s.state) for s in list_bundles(open_store(str(other)))] == [
        ("check:kept_elsewhere:raises_elsewhere", "FAIL")]
    [warning] = [r.getMessage() for r in caplog.records if "asset check step" in r.getMessage()]
    kept_by = "IO manager torn down" if closer == "teardown" else "sensor's provenance resource"
    assert warning == (
        f"tdprov: the run of asset check step kept_elsewhere_raises_elsewhere is recorded in store {other}, the store of "
        f"the {kept_by}: the version of kept_elsewhere it checked is recorded in store {unusable}, which cannot be "
        f"opened here (store path '{unusable}' exists and is not a folder). Fix: take the asset as the check's "
        "argument, loaded through ProvenanceIOManager")
