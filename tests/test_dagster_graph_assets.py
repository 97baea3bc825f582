"""A graph-backed asset's lineage reaches the assets its ops read, by identity: its op outputs stored by
the IO manager are datasets of their own that chain the steps' runs, and a read whose step hands its output
to another IO manager goes into the run of the step that writes the asset, with the version read."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import rdflib
from dagster import (
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    FilesystemIOManager,
    In,
    Nothing,
    Out,
    Output,
    ReexecutionOptions,
    asset,
    execute_job,
    graph_asset,
    instance_for_test,
    materialize,
    op,
    reconstructable,
)

import dagster_graph_defs as graph
import prov_dagster.io_manager as io_manager_module
from prov_dagster import graphs
from prov_common.audit import run_audit
from prov_common.bundle import list_bundles, read_bundle
from prov_common.bundle.events import parse_events_jsonl
from prov_common.cli import main as cli_main
from prov_common.config import Settings
from prov_common.signing import signing_key_from_settings
from prov_common.store import open_store
from prov_dagster import ProvenanceIOManager, definitions
from prov_dagster.storage import default_data_root

from dagster_support import delivered

TESTS = Path(__file__).resolve().parent
OP_OUTPUTS_FOLDER = ".tdprov-ops"  # where the IO manager keeps op outputs that are no asset
DERIVED = """PREFIX prov: <http://www.w3.org/ns/prov#>
PREFIX tdprov: <https://github.com/tdprov/tdprov/ns#>
SELECT DISTINCT ?name ?version WHERE { ?v prov:wasDerivedFrom+ ?u . ?u tdprov:name ?name ; tdprov:version ?version }"""


@op
def clean_rows(raw: pd.DataFrame) -> pd.DataFrame:
    return raw[raw.x > 1]


@op
def add_feature(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(y=df.x * 2)


@graph_asset
def features(raw: pd.DataFrame) -> pd.DataFrame:
    return add_feature(clean_rows(raw))


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    path = str(tmp_path / "store")
    monkeypatch.setenv("TDPROV_STORE", path)
    monkeypatch.setenv("TDPROV_TEST_OPS_DIR", str(tmp_path / "ops"))
    monkeypatch.delenv("TDPROV_TEST_FAIL_FEATURE", raising=False)
    signing_key_from_settings()
    return path


def runs(store: str) -> dict[str, Any]:
    """Job (step key) -> the index summary of its newest bundle."""
    delivered(store)
    return {s.job_name: s for s in sorted(list_bundles(open_store(store)), key=lambda s: s.ended_at or "")}


def located(store: str, key: str) -> str:
    return f"{default_data_root(store)}/{key}.parquet"


def digest_of(instance: DagsterInstance, key: str) -> str:
    [record] = instance.fetch_materializations(AssetKey(key), limit=1).records
    return record.asset_materialization.metadata["tdprov/digest"].value


REEXECUTED = """PREFIX prov: <http://www.w3.org/ns/prov#>
PREFIX tdprov: <https://github.com/tdprov/tdprov/ns#>
PREFIX dcterms: <http://purl.org/dc/terms/>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
SELECT ?again ?earlier ?step WHERE {
  ?re prov:wasInformedBy ?before ; tdprov:runId ?again ; tdprov:reexecutionOf ?before .
  ?before tdprov:runId ?earlier .
  ?made dcterms:isPartOf ?before ; rdfs:label ?step .
}"""


def derived_from(store: str, tmp_path: Path, name: str, version: str) -> set[tuple[str, str]]:
    """(dataset name, version) of everything the version ``version`` of ``name`` was derived from, by a SPARQL
    query over the PROV that 'tdprov export' writes."""
    out = tmp_path / "prov.ttl"
    assert cli_main(["export", "--format", "ttl", "-o", str(out), "--store", store]) == 0
    graph_ = rdflib.Graph().parse(out, format="turtle")
    found = set()
    for entity in graph_.subjects(rdflib.URIRef("https://github.com/tdprov/tdprov/ns#version"), rdflib.Literal(version)):
        if (entity, rdflib.URIRef("https://github.com/tdprov/tdprov/ns#name"), rdflib.Literal(name)) in graph_:
            found |= {(str(r.name), str(r.version)) for r in graph_.query(DERIVED, initBindings={"v": entity})}
    return found


def lineage(store: str, target: str, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    capsys.readouterr()
    assert cli_main(["lineage", target, *extra, "--store", store]) == 0
    return capsys.readouterr().out


def chain(shown: str) -> list[Any]:
    """The versions and the jobs that generated them along the first upstream path of 'tdprov lineage --json'."""
    path: list[Any] = []
    node = json.loads(shown)["lineage"][0]
    while node is not None:
        path.append((node["dataset"], node["version"]))
        generated = node["generatedBy"]
        path += [run["job"]["name"] for run in generated[:1]]
        node = generated[0]["inputs"][0] if generated and generated[0]["inputs"] else None
    return path


def audit_is_clean(store: str, inputs: int) -> None:
    """The audit finds nothing, and its completeness check traced ``inputs`` inputs."""
    audit = run_audit(open_store(store), Settings.from_env(store=store), progress=False)
    assert [f.what for f in audit.findings] == []
    completeness = audit.check("completeness")
    assert (completeness.status, completeness.checked) == ("pass", inputs)


def test_op_outputs_the_io_manager_stores_chain_the_graph_steps_by_identity(
        store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], ol_validator) -> None:
    """With definitions() defaults every op output goes to ProvenanceIOManager: stored, recorded, chained."""
    defs = definitions([graph.raw, features], store=store, watch_store=False, audit_cron=None)
    with DagsterInstance.ephemeral() as instance:
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(instance=instance)
        assert result.success
        raw_v, features_v = digest_of(instance, "raw"), digest_of(instance, "features")
    found = runs(store)
    assert set(found) == {"raw", "features.clean_rows", "features.add_feature"}
    clean, add = found["features.clean_rows"], found["features.add_feature"]
    assert [(i.name, i.version) for i in clean.inputs] == [(located(store, "raw"), raw_v)]
    [middle] = clean.outputs
    assert middle.name == f"{default_data_root(store)}/{OP_OUTPUTS_FOLDER}/{result.run_id}/features.clean_rows/result.parquet"
    assert [(i.name, i.version) for i in add.inputs] == [(middle.name, middle.version)]
    assert [(o.name, o.version) for o in add.outputs] == [(located(store, "features"), features_v)]
    assert middle.version != raw_v  # its own content: two rows of three
    for summary in found.values():  # an op output is a dataset like any other, with no asset key in symlinks
        for event in parse_events_jsonl(read_bundle(open_store(store), summary.run_id).files["events.jsonl"]):
            ol_validator.validate_event(event, custom_schemas=True)
            assert all("symlinks" not in d.get("facets", {}) for d in event["inputs"] + event["outputs"]
                       if OP_OUTPUTS_FOLDER in d["name"])
    assert chain(lineage(store, located(store, "features"), capsys, "--json")) == [
        (located(store, "features"), features_v), "features.add_feature", (middle.name, middle.version),
        "features.clean_rows", (located(store, "raw"), raw_v), "raw"]
    assert "used by features.clean_rows" in lineage(store, "raw", capsys, "--downstream")
    assert derived_from(store, tmp_path, located(store, "features"), features_v) == {
        (middle.name, middle.version), (located(store, "raw"), raw_v)}
    audit_is_clean(store, 3)


def test_the_step_writing_a_graph_asset_records_the_reads_of_steps_whose_outputs_go_elsewhere(
        store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """clean_rows hands its output to another IO manager: its read of raw goes into add_feature's run."""
    resources = {"io_manager": ProvenanceIOManager(store=store), "ops": FilesystemIOManager(base_dir=str(tmp_path / "ops"))}
    with DagsterInstance.ephemeral() as instance:
        assert materialize([graph.raw, graph.features], resources=resources, instance=instance).success
        raw_v, features_v = digest_of(instance, "raw"), digest_of(instance, "features")
    found = runs(store)
    assert set(found) == {"raw", "features.add_feature"}
    add = found["features.add_feature"]
    assert [(i.name, i.version) for i in add.inputs] == [(located(store, "raw"), raw_v)]
    assert [(o.name, o.version) for o in add.outputs] == [(located(store, "features"), features_v)]
    assert chain(lineage(store, located(store, "features"), capsys, "--json")) == [
        (located(store, "features"), features_v), "features.add_feature", (located(store, "raw"), raw_v), "raw"]
    assert "used by features.add_feature" in lineage(store, located(store, "raw"), capsys, "--downstream")
    assert derived_from(store, tmp_path, located(store, "features"), features_v) == {(located(store, "raw"), raw_v)}
    assert chain(lineage(store, located(store, "features"), capsys, "--json")) == [
        (located(store, "features"), features_v), "features.add_feature", (located(store, "raw"), raw_v), "raw"]
    audit_is_clean(store, 2)


def test_a_graph_asset_in_step_processes_and_re_executed_from_failure_records_the_version_read(
        store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Each step in its own process; the re-executed add_feature takes clean_rows' read from the run it re-executes."""
    monkeypatch.chdir(TESTS)  # step processes import dagster_graph_defs from the working directory
    monkeypatch.setenv("TDPROV_TEST_FAIL_FEATURE", "1")
    (tmp_path / "dagster_home").mkdir()
    with instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
        failed = execute_job(reconstructable(graph.get_graph_job), instance=instance)
        assert not failed.success
        raw_v = digest_of(instance, "raw")
        loaded = [e for e in failed.all_events if e.event_type_value == "LOADED_INPUT" and e.step_key == "features.clean_rows"]
        assert [e.event_specific_data.metadata["tdprov/read"].value["versions"][0]["digest"]["digest"] for e in loaded] == [raw_v]
        monkeypatch.delenv("TDPROV_TEST_FAIL_FEATURE")
        again = execute_job(reconstructable(graph.get_graph_job), instance=instance,
                            reexecution_options=ReexecutionOptions.from_failure(failed.run_id, instance))
        assert again.success
        assert {e.step_key for e in again.all_events if e.event_type_value == "STEP_START"} == {"features.add_feature"}
        features_v = digest_of(instance, "features")
    add = runs(store)["features.add_feature"]
    assert [(i.name, i.version) for i in add.inputs] == [(located(store, "raw"), raw_v)]
    assert [(o.name, o.version) for o in add.outputs] == [(located(store, "features"), features_v)]
    delivered(store)
    # every event names its Dagster run; those of the re-execution name the run it re-executes, and its root
    named = set()
    for summary in list_bundles(open_store(store)):
        for event in parse_events_jsonl(read_bundle(open_store(store), summary.run_id).files["events.jsonl"]):
            context = event["run"]["facets"]["tdprov_runContext"]
            named.add((summary.job_name, event["run"]["facets"]["parent"]["run"]["runId"],
                       context.get("reexecutionOf"), context.get("reexecutionRoot")))
    assert named == {("raw", failed.run_id, None, None), ("features.add_feature", again.run_id, failed.run_id, failed.run_id)}
    assert derived_from(store, tmp_path, located(store, "features"), features_v) == {(located(store, "raw"), raw_v)}
    # the export states the re-execution: its Dagster run wasInformedBy the run it re-executes, whose step made raw
    exported = rdflib.Graph().parse(tmp_path / "prov.ttl", format="turtle")
    informed = {(str(r.again), str(r.earlier), str(r.step)) for r in exported.query(REEXECUTED)}
    assert informed == {(again.run_id, failed.run_id, "raw")}
    assert chain(lineage(store, located(store, "features"), capsys, "--json")) == [
        (located(store, "features"), features_v), "features.add_feature", (located(store, "raw"), raw_v), "raw"]
    audit_is_clean(store, 2)


@asset
def allowlist() -> pd.DataFrame:
    return pd.DataFrame({"x": [2, 3]})


@op
def check_allowed(allowlist: pd.DataFrame) -> Nothing:
    assert len(allowlist) > 0


@op(out={"rejected": Out(pd.DataFrame, is_required=False), "checked": Out(Nothing)})
def check_rejecting(allowlist: pd.DataFrame):  # noqa: ANN201 - emits only 'checked' when nothing is rejected
    assert len(allowlist) > 0
    yield Output(None, output_name="checked")


@op(ins={"raw": In(pd.DataFrame), "gate": In(Nothing)})
def build(raw: pd.DataFrame) -> pd.DataFrame:
    return raw.assign(y=1)


@graph_asset(name="gated")
def gated_by_nothing(raw: pd.DataFrame, allowlist: pd.DataFrame) -> pd.DataFrame:
    return build(raw, gate=check_allowed(allowlist))


@graph_asset(name="gated")
def gated_by_optional(raw: pd.DataFrame, allowlist: pd.DataFrame) -> pd.DataFrame:
    _, checked = check_rejecting(allowlist)
    return build(raw, gate=checked)


@pytest.mark.parametrize(("gated", "gate_step"), [(gated_by_nothing, None), (gated_by_optional, "gated.check_rejecting")],
                         ids=["nothing-output", "optional-output-not-emitted"])
def test_the_read_of_a_gate_op_that_hands_on_nothing_goes_into_the_graph_asset_run(
        store: str, capsys: pytest.CaptureFixture[str], gated: Any, gate_step: str | None) -> None:
    """An op that reads an asset and returns Nothing (or emits no recorded output) carries no read on: the read is an
    input of the run of the step that writes the asset (it was dropped: a Nothing output kept the default IO manager
    key, so the read counted as carried on)."""
    with DagsterInstance.ephemeral() as instance:
        assert materialize([graph.raw, allowlist, gated], instance=instance,
                           resources={"io_manager": ProvenanceIOManager(store=store)}).success
        raw_v, allowlist_v, gated_v = (digest_of(instance, key) for key in ("raw", "allowlist", "gated"))
    found = runs(store)
    assert set(found) == {"raw", "allowlist", "gated.build"} | ({gate_step} if gate_step else set())
    built = found["gated.build"]
    assert sorted((i.name, i.version) for i in built.inputs) == [(located(store, "allowlist"), allowlist_v), (located(store, "raw"), raw_v)]
    assert [(o.name, o.version) for o in built.outputs] == [(located(store, "gated"), gated_v)]
    if gate_step:  # an op with an IO manager output records its read in a run of its own, too
        assert [(i.name, i.version) for i in found[gate_step].inputs] == [(located(store, "allowlist"), allowlist_v)]
        assert found[gate_step].state == "COMPLETE" and not found[gate_step].outputs
    assert "used by gated.build" in lineage(store, located(store, "allowlist"), capsys, "--downstream")
    audit_is_clean(store, len(found))


def _graph_assets(count: int) -> list[Any]:
    """``count`` graph assets (g0, g1, ...) of raw, each clean_rows (its output elsewhere) then add_feature."""
    def make(i: int) -> Any:
        @graph_asset(name=f"g{i}")
        def one(raw: pd.DataFrame) -> pd.DataFrame:
            return add_feature(graph.clean_rows(raw))
        return one
    return [make(i) for i in range(count)]


@pytest.mark.parametrize("fresh", [False, True], ids=["one-process", "a-process-per-step"])
def test_graph_assets_read_the_run_back_to_their_steps_starts_once(
        store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh: bool) -> None:
    """The step writing a graph asset read the starts, loaded inputs and handled outputs of the whole run, for each
    graph asset: a run of N graph assets read the square of N events. It reads them newest first back to the latest
    start of the graph's steps, and a process keeps them for its next graph asset of the run (``fresh``: nothing kept,
    as in each step's process of the multiprocess executor): a page of one event, to count them exactly."""
    monkeypatch.setattr(graphs, "EVENTS_PAGE", 1)
    kinds = {"STEP_START", "STEP_RESTARTED", "LOADED_INPUT", "HANDLED_OUTPUT"}
    read, calls = [0], []
    graph_reads = io_manager_module.graph_reads

    def counted(context: Any) -> Any:
        if fresh:
            graphs._logs.clear()  # noqa: SLF001 - a new process: nothing read before
        before = read[0]
        found = graph_reads(context)
        calls.append((context.asset_key.to_user_string(), read[0] - before))
        return found
    monkeypatch.setattr(io_manager_module, "graph_reads", counted)
    resources = {"io_manager": ProvenanceIOManager(store=store), "ops": FilesystemIOManager(base_dir=str(tmp_path / "ops"))}
    with DagsterInstance.ephemeral() as instance:
        for name in ("all_logs", "get_records_for_run"):
            def counting(run_id: str, *args: Any, _original: Any = getattr(instance, name), **kwargs: Any) -> Any:
                found = _original(run_id, *args, **kwargs)
                if isinstance(kwargs.get("of_type"), set) and DagsterEventType.LOADED_INPUT in kwargs["of_type"]:
                    read[0] += len(getattr(found, "records", found))
                return found
            monkeypatch.setattr(instance, name, counting)
        result = materialize([graph.raw, *_graph_assets(4)], resources=resources, instance=instance)
        assert result.success
        raw_v = digest_of(instance, "raw")
        logged = [e.dagster_event for e in instance.all_logs(result.run_id)
                  if e.dagster_event is not None and e.dagster_event.event_type_value in kinds]
    found = runs(store)
    for i in range(4):
        assert [(r.name, r.version) for r in found[f"g{i}.add_feature"].inputs] == [(located(store, "raw"), raw_v)]
    started = {e.step_key: n for n, e in enumerate(logged) if e.event_type_value == "STEP_START"}
    handled = {e.step_key: n for n, e in enumerate(logged) if e.event_type_value == "HANDLED_OUTPUT"}
    # each asset's step reads back to its graph's first step's start, from the event before its own output's
    window = {f"g{i}": (started[f"g{i}.clean_rows"], handled[f"g{i}.add_feature"]) for i in range(4)}
    assert sorted(c[0] for c in calls) == sorted(window)
    if fresh:
        assert dict(calls) == {asset: end - start for asset, (start, end) in window.items()}
    else:  # each event read once, from the earliest start read back to the last asset's output
        assert sum(n for _, n in calls) == max(e for _, e in window.values()) - min(s for s, _ in window.values())
