"""A job is (namespace, name), under real Dagster runs: the Dagster job a step runs in and the step's own job are
two jobs whatever their names, in the events and in the PROV export, and two asset keys Dagster gives one step key
are two jobs, as are the steps of two graph-backed assets Dagster gives one node name, two ops of one name in
two op jobs, two asset checks Dagster gives one step key, a multi-asset check whose op is named like an asset and a
multi-asset whose op is named like an asset it does not write."""
from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import rdflib
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetKey,
    AssetsDefinition,
    DagsterInstance,
    Definitions,
    Out,
    Output,
    RetryPolicy,
    asset,
    asset_check,
    build_output_context,
    define_asset_job,
    AssetOut,
    graph,
    graph_asset,
    graph_multi_asset,
    job,
    materialize,
    multi_asset,
    multi_asset_check,
    op,
)

from prov_common.bundle import list_bundles, read_bundle
from prov_common.bundle.events import parse_events_jsonl
from prov_common.cli import main as cli_main
from prov_common.store import open_store
from prov_dagster import ProvenanceIOManager, ProvenanceResource
from prov_dagster.recorder import Recorder, recorder_for

from dagster_support import delivered, evaluate_failure_sensor, instance, store  # noqa: F401  (fixtures)

# prov's RDF serialiser uses an rdflib API that rdflib deprecates; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:Dataset.default_context is deprecated:DeprecationWarning")

PROV_O = "PREFIX prov: <http://www.w3.org/ns/prov#>\nPREFIX tdprov: <https://github.com/tdprov/tdprov/ns#>\n"
PLANS = PROV_O + """SELECT ?run ?name ?partOf ?parentName WHERE {
  ?run a tdprov:Run ; tdprov:job ?plan ; <http://purl.org/dc/terms/isPartOf> ?partOf .
  ?plan tdprov:name ?name .
  ?partOf tdprov:job ?parentPlan . ?parentPlan tdprov:name ?parentName .
  FILTER (?plan != ?parentPlan) }"""


@asset
def features() -> pd.DataFrame:
    return pd.DataFrame({"f": [1.0, 2.0]})


def _events(store: Path) -> list[dict[str, Any]]:
    target = open_store(str(store))
    delivered(target)
    return [e for s in list_bundles(target) for e in parse_events_jsonl(read_bundle(target, s.run_id).files["events.jsonl"])]


def _failure_sensor(result: Any, instance: DagsterInstance) -> None:
    """Evaluate the run-failure sensor on the failed run ``result`` with the default provenance resource."""
    evaluate_failure_sensor(result, instance, ProvenanceResource())


def test_a_dagster_job_and_a_step_of_one_name_are_two_jobs(store: Path, instance: DagsterInstance,
                                                            tmp_path: Path) -> None:
    defs = Definitions(assets=[features], jobs=[define_asset_job("features", selection=["features"])],
                       resources={"io_manager": ProvenanceIOManager(), "provenance": ProvenanceResource()})
    result = defs.resolve_job_def("features").execute_in_process(instance=instance)
    assert result.success
    for event in _events(store):
        assert (event["job"]["namespace"], event["job"]["name"]) == ("dagster://default", "features")
        parent = event["run"]["facets"]["parent"]
        assert parent["run"]["runId"] == result.run_id
        assert (parent["job"]["namespace"], parent["job"]["name"]) == ("dagster://default", "job:features")
    out = tmp_path / "store.ttl"
    assert cli_main(["export", "--format", "ttl", "-o", str(out), "--store", str(store)]) == 0
    rows = list(rdflib.Graph().parse(out, format="turtle").query(PLANS))
    assert [(str(r.name), str(r.partOf).rsplit("run-", 1)[-1], str(r.parentName)) for r in rows] == [
        ("features", result.run_id, "job:features")]


def test_a_record_outside_a_dagster_run_has_no_parent_of_its_own_job(store: Path) -> None:
    recorded = ProvenanceResource().record(outputs={"frame": pd.DataFrame({"a": [1]})}, job_name="prepare")
    assert recorded.bundle is not None
    events = _events(store)
    assert [(e["eventType"], e["job"]["name"]) for e in events] == [("START", "prepare"), ("COMPLETE", "prepare")]
    assert all("parent" not in e["run"]["facets"] for e in events)  # it was its own parent, a run of job 'prepare'


def test_a_run_id_tdprov_makes_outside_a_dagster_run_is_a_uuid7_of_its_time(store: Path) -> None:
    """OpenLineage recommends UUIDv7 run ids: those tdprov makes itself (a record outside a Dagster run, an IO manager
    called directly) carry the time they were made (RFC 9562: the first 48 bits are Unix milliseconds)."""
    manager = ProvenanceIOManager()
    before = time.time_ns() // 1_000_000
    ProvenanceResource().record(outputs={"frame": pd.DataFrame({"a": [1]})}, job_name="prepare")
    manager.handle_output(build_output_context(asset_key=AssetKey("direct"), name="result"), pd.DataFrame({"a": [2]}))
    recorder_for(manager).wait()
    after = time.time_ns() // 1_000_000
    ids = {uuid.UUID(e["run"]["runId"]) for e in _events(store)}
    assert len(ids) == 2
    assert all(u.variant == uuid.RFC_4122 and u.version == 7 and before <= u.int >> 80 <= after for u in ids), ids


@asset(key_prefix=["a"], name="b")
def a_b() -> pd.DataFrame:
    return pd.DataFrame({"x": [1]})


@asset(name="a__b")
def a__b() -> pd.DataFrame:  # another asset, whose step key Dagster also makes 'a__b'
    return pd.DataFrame({"x": [2]})


@asset(key_prefix=["my-team"], name="x")
def hyphenated() -> pd.DataFrame:  # step key 'my_team__x', which names asset my_team/x
    raise RuntimeError("the warehouse is down")


def _materialize(assets: list[Any], instance: DagsterInstance) -> Any:
    return materialize(assets, instance=instance, raise_on_error=False,
                       resources={"io_manager": ProvenanceIOManager(), "provenance": ProvenanceResource()})


def test_two_asset_keys_of_one_step_key_are_two_jobs(store: Path, instance: DagsterInstance) -> None:
    assert _materialize([a_b], instance).success and _materialize([a__b], instance).success  # two code locations
    jobs = {(e["job"]["name"], e["outputs"][0]["facets"]["symlinks"]["identifiers"][0]["name"])
            for e in _events(store) if e["eventType"] == "COMPLETE"}
    assert jobs == {("a__b", "a/b"), ("asset:a__b", "a__b")}


def test_the_failure_sensor_names_the_job_as_the_step_does(store: Path, instance: DagsterInstance) -> None:
    result = _materialize([hyphenated], instance)
    assert not result.success
    _failure_sensor(result, instance)
    events = _events(store)
    assert [(e["eventType"], e["job"]["name"]) for e in events] == [("START", "asset:my-team/x"), ("FAIL", "asset:my-team/x")]
    assert "the warehouse is down" in events[-1]["run"]["facets"]["errorMessage"]["message"]


@op
def load_rows() -> pd.DataFrame:
    return pd.DataFrame({"x": [1, 2]})


@op
def add_column(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(y=df.x * 2)


@graph
def shaped() -> pd.DataFrame:
    return add_column(load_rows())


# two assets of one graph: Dagster names both graph nodes 'shaped' (in one run: 'shaped' and 'shaped_2')
shaped_x = AssetsDefinition.from_graph(shaped, keys_by_output_name={"result": AssetKey("x")})
shaped_y = AssetsDefinition.from_graph(shaped, keys_by_output_name={"result": AssetKey("y")})


@graph_asset(key_prefix=["g"], name="b")
def g_b() -> pd.DataFrame:  # graph node 'g__b', which names asset g/b
    return add_column(load_rows())


@graph_asset(name="g__b")
def g__b() -> pd.DataFrame:  # another asset, whose graph node Dagster also names 'g__b'
    return add_column(load_rows())


def _jobs_by_output(store: Path) -> set[tuple[str, str]]:
    """(job name, the asset key of the output, or 'op output') of each output of each step run that completed."""
    def named(output: dict[str, Any]) -> str:
        symlinks = output["facets"].get("symlinks")
        return symlinks["identifiers"][0]["name"] if symlinks else "op output"
    return {(e["job"]["name"], named(o)) for e in _events(store) if e["eventType"] == "COMPLETE" for o in e["outputs"]}


def test_the_steps_of_two_graph_assets_of_one_node_name_are_jobs_of_their_own(store: Path, instance: DagsterInstance) -> None:
    """Each op of a graph-backed asset was the job of its step key, which starts with the graph's node name: the
    assets x and y of one graph were both jobs shaped.load_rows and shaped.add_column (y also shaped_2.add_column,
    in a run with x), and the graph assets g/b and g__b both g__b.load_rows and g__b.add_column, one PROV plan each."""
    for assets in ([shaped_x], [shaped_y], [shaped_x, shaped_y], [g_b], [g__b]):  # runs of several code locations
        assert _materialize(assets, instance).success
    assert _jobs_by_output(store) == {
        ("asset:x:load_rows", "op output"), ("asset:x:add_column", "x"),
        ("asset:y:load_rows", "op output"), ("asset:y:add_column", "y"),
        ("g__b.load_rows", "op output"), ("g__b.add_column", "g/b"),  # the node names its asset: the step key
        ("asset:g__b:load_rows", "op output"), ("asset:g__b:add_column", "g__b")}


@op
def load_broken() -> pd.DataFrame:
    raise RuntimeError("the warehouse is down")


@graph
def shaped_failing() -> pd.DataFrame:
    return add_column(load_broken())


def test_the_failure_sensor_names_a_graph_assets_step_as_the_step_does(store: Path, instance: DagsterInstance) -> None:
    result = _materialize([AssetsDefinition.from_graph(shaped_failing, keys_by_output_name={"result": AssetKey("z")})],
                          instance)
    assert not result.success
    _failure_sensor(result, instance)
    events = _events(store)
    assert [(e["eventType"], e["job"]["name"]) for e in events] == [("START", "asset:z:load_broken"),
                                                                    ("FAIL", "asset:z:load_broken")]


@op(name="load")
def load_orders() -> pd.DataFrame:
    return pd.DataFrame({"order": [1, 2]})


@op(name="load")
def load_users() -> pd.DataFrame:  # another op of the same name, in another job
    raise RuntimeError("the user table is locked")


@job
def etl_orders() -> None:
    load_orders()


@job
def etl_users() -> None:
    load_users()


def test_two_ops_of_one_name_in_two_op_jobs_are_two_jobs(store: Path, instance: DagsterInstance) -> None:
    """An op's step was the job of its step key: the ops named load of the jobs etl_orders and etl_users (another
    op, of another code location) were one job, load, one PROV plan; the failure sensor names the step as it runs."""
    resources = {"io_manager": ProvenanceIOManager(), "provenance": ProvenanceResource()}
    for op_job in (etl_orders, etl_users):
        result = Definitions(jobs=[op_job], resources=resources).resolve_job_def(op_job.name).execute_in_process(
            instance=instance, raise_on_error=False)
    assert not result.success
    _failure_sensor(result, instance)
    runs = {(e["eventType"], e["job"]["name"], e["run"]["facets"]["parent"]["job"]["name"]) for e in _events(store)}
    assert runs == {("START", "job:etl_orders:load", "job:etl_orders"), ("COMPLETE", "job:etl_orders:load", "job:etl_orders"),
                    ("START", "job:etl_users:load", "job:etl_users"), ("FAIL", "job:etl_users:load", "job:etl_users")}


@asset(name="a")
def plain_a() -> pd.DataFrame:
    return pd.DataFrame({"x": [1]})


@asset(name="a_b")
def plain_a_b() -> pd.DataFrame:
    return pd.DataFrame({"x": [2]})


@asset_check(asset=plain_a, name="b_c")
def a_b_c_of_a(a: pd.DataFrame) -> AssetCheckResult:  # step 'a_b_c'
    return AssetCheckResult(passed=True)


@asset_check(asset=plain_a_b, name="c")
def c_of_a_b(a_b: pd.DataFrame) -> AssetCheckResult:  # another check, whose step Dagster also names 'a_b_c'
    return AssetCheckResult(passed=True)


@asset_check(asset=plain_a_b, name="fresh")
def a_b_fresh() -> AssetCheckResult:  # reads nothing through the IO manager, and fails: recorded on a_b's latest version
    raise RuntimeError("the freshness service is down")


def test_two_asset_checks_of_one_step_key_are_two_jobs(store: Path, instance: DagsterInstance) -> None:
    """Dagster names a check's step <asset>_<check>: check b_c of asset a and check c of asset a_b (two code
    locations) were both the job a_b_c, one PROV plan of two checks. Each is the job check:<asset key>:<check name>,
    where it runs, also a check that loads nothing through tdprov (its run is made when the IO manager is torn down,
    before the failure sensor, which finds it sealed)."""
    assert _materialize([plain_a, a_b_c_of_a], instance).success and _materialize([plain_a_b, c_of_a_b], instance).success
    result = _materialize([plain_a_b, a_b_fresh], instance)
    assert not result.success
    _failure_sensor(result, instance)
    runs = {(e["eventType"], e["job"]["name"], tuple(i["facets"]["symlinks"]["identifiers"][0]["name"] for i in e["inputs"]))
            for e in _events(store) if e["job"]["name"] not in ("a", "a_b")}
    assert runs == {("START", "check:a:b_c", ("a",)), ("COMPLETE", "check:a:b_c", ("a",)),
                    ("START", "check:a_b:c", ("a_b",)), ("COMPLETE", "check:a_b:c", ("a_b",)),
                    ("START", "check:a_b:fresh", ("a_b",)), ("FAIL", "check:a_b:fresh", ("a_b",))}


@asset_check(asset=plain_a, name="b_c")
def crashing_b_c_of_a() -> AssetCheckResult:  # step 'a_b_c', as check c of a_b's and asset a_b_c's
    raise RuntimeError("the check service is down")


def test_the_failure_sensor_names_a_check_step_that_recorded_nowhere_as_the_step_does(
        store: Path, instance: DagsterInstance) -> None:
    """A check step that failed and recorded nothing through tdprov (its code location's IO manager is another, so
    no teardown of tdprov's recorded its end) is closed by the failure sensor, as the job the step runs as where it
    records, check:<asset key>:<check name> (its step key, a_b_c, is also check c of asset a_b's and asset a_b_c's),
    with the asset it checked as its input, as a teardown records it (no version: another IO manager wrote it), the
    check raised on it."""
    result = materialize([plain_a, crashing_b_c_of_a], instance=instance, raise_on_error=False,
                         resources={"provenance": ProvenanceResource()})
    assert not result.success and not list(store.rglob("*.json"))  # nothing recorded by the run itself
    _failure_sensor(result, instance)
    events = _events(store)
    assert [(e["eventType"], e["job"]["name"]) for e in events] == [("START", "check:a:b_c"), ("FAIL", "check:a:b_c")]
    [read] = events[-1]["inputs"]
    assert read["facets"]["symlinks"]["identifiers"][0]["name"] == "a" and "version" not in read["facets"]
    [assertion] = read["inputFacets"]["dataQualityAssertions"]["assertions"]
    assert (assertion["assertion"], assertion["params"]["status"]) == ("b_c", "error")
    assert "the check service is down" in events[-1]["run"]["facets"]["errorMessage"]["message"]


@multi_asset_check(specs=[AssetCheckSpec("positive", asset=plain_a_b), AssetCheckSpec("unique", asset=plain_a_b)],
                   name="a")
def checks_of_a_b(a_b: pd.DataFrame) -> Iterator[AssetCheckResult]:  # step 'a', as asset a's
    yield AssetCheckResult(asset_key="a_b", check_name="unique", passed=True)
    yield AssetCheckResult(asset_key="a_b", check_name="positive", passed=bool((a_b.x > 0).all()))


@multi_asset_check(specs=[AssetCheckSpec("recent", asset=plain_a), AssetCheckSpec("complete", asset=plain_a)],
                   name="a_b")
def failing_checks_of_a() -> Iterator[AssetCheckResult]:  # step 'a_b', as asset a_b's; fails before it records
    yield from ()
    raise RuntimeError("the audit table is locked")


def test_a_multi_asset_check_named_like_an_asset_is_a_job_of_its_own(store: Path, instance: DagsterInstance) -> None:
    """A @multi_asset_check's step is named after its op: the checks of a_b evaluated by op a were the job a, as was
    asset a (of another code location), one PROV plan. It is the job of its first check in order, check:a_b:positive,
    where it runs and where its step's end is recorded (a check step that loaded nothing through tdprov is recorded
    on the version Dagster says it evaluated; the failure sensor then finds it sealed)."""
    assert _materialize([plain_a], instance).success and _materialize([plain_a_b, checks_of_a_b], instance).success
    result = _materialize([plain_a, failing_checks_of_a], instance)
    assert not result.success
    _failure_sensor(result, instance)
    assert _jobs_by_output(store) == {("a", "a"), ("a_b", "a_b")}
    runs = {(e["eventType"], e["job"]["name"], tuple(i["facets"]["symlinks"]["identifiers"][0]["name"] for i in e["inputs"]))
            for e in _events(store) if e["job"]["name"] not in ("a", "a_b")}
    assert runs == {("START", "check:a_b:positive", ("a_b",)), ("COMPLETE", "check:a_b:positive", ("a_b",)),
                    ("START", "check:a:complete", ("a",)), ("FAIL", "check:a:complete", ("a",))}


@op(out={"for_a": Out(io_manager_key="team_a", is_required=False), "for_b": Out(io_manager_key="team_b", is_required=False)},
    retry_policy=RetryPolicy(max_retries=1))
def flaky_load(context):  # noqa: ANN001, ANN201 - attempt 0 writes for team_b, its retry for team_a; both fail
    yield Output(pd.DataFrame({"attempt": [context.retry_number]}), output_name="for_b" if context.retry_number == 0 else "for_a")
    raise RuntimeError(f"lost the connection in attempt {context.retry_number}")


@op
def load_nothing() -> None:  # fails before it records anything: the sensor makes its run up
    raise RuntimeError("the source is gone")


@job
def flaky_etl() -> None:
    flaky_load()
    load_nothing()


def test_the_failure_sensor_names_the_job_a_step_ran_as_when_the_execution_plan_cannot_be_read(
        store: Path, instance: DagsterInstance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """The sensor names a step's job from the run's execution plan; when the plan could not be read it named the step
    by its key: attempt 0 of op job flaky_etl's step flaky_load, left staged for team_b as job:flaky_etl:flaky_load
    (its retry could not seal it: another process, the store down for a moment), was sealed by a FAIL of job
    flaky_load, another job than its START's. The staged events name the job; a step that staged none (load_nothing)
    is named by its step key, with a warning that says so."""
    monkeypatch.setattr(Recorder, "_close_elsewhere", lambda *_: False)  # the retry left it to the sensor
    resources = {"io_manager": ProvenanceIOManager(), "provenance": ProvenanceResource()}
    for team in ("team_a", "team_b"):
        resources[team] = ProvenanceIOManager(namespace=team, data_root=str(tmp_path / team))
    result = Definitions(jobs=[flaky_etl], resources=resources).resolve_job_def("flaky_etl").execute_in_process(
        instance=instance, raise_on_error=False)
    assert not result.success

    def unreadable(snapshot_id: str) -> None:
        raise OSError(f"execution plan snapshot {snapshot_id} cannot be read: the run storage is down")
    monkeypatch.setattr(instance, "get_execution_plan_snapshot", unreadable)
    _failure_sensor(result, instance)
    runs = {(e["job"]["namespace"], e["eventType"], e["job"]["name"]) for e in _events(store)}
    assert runs == {(f"dagster://{team}", state, "job:flaky_etl:flaky_load") for team in ("team_a", "team_b")
                    for state in ("START", "RUNNING", "FAIL")} | {("dagster://default", "START", "load_nothing"),
                                                                 ("dagster://default", "FAIL", "load_nothing")}
    [warning] = [r.getMessage() for r in caplog.records if "execution plan" in r.getMessage()]
    assert warning.startswith(f"tdprov: the execution plan of Dagster run {result.run_id} cannot be read and no staged "
                              "event of step load_nothing names its job: its run ") and "step key, load_nothing," in warning
    assert not list(store.rglob("refused"))  # no event refused as another job's


@multi_asset(outs={"q": AssetOut(is_required=False), "p": AssetOut(is_required=False)}, name="orders", can_subset=True)
def orders_p_q(context):  # noqa: ANN001, ANN201 - op 'orders', as asset orders's step, writing p and q
    for name in sorted(context.op_execution_context.selected_output_names):
        yield Output(pd.DataFrame({name: [1]}), output_name=name)


@asset
def orders() -> pd.DataFrame:  # of another code location: step 'orders'
    return pd.DataFrame({"o": [1]})


@multi_asset(outs={"q": AssetOut(is_required=False), "p": AssetOut(is_required=False)}, name="orders", can_subset=True)
def failing_orders_p_q(context):  # noqa: ANN001, ANN201 - fails before it records anything: the sensor makes its run up
    raise RuntimeError("the orders service is down")


def test_a_multi_asset_named_like_an_asset_it_does_not_write_is_a_job_of_its_own(store: Path,
                                                                                 instance: DagsterInstance) -> None:
    """Op orders writing p and q ran as the job orders, which asset orders (another code location) also is: two
    jobs, one PROV plan. It is the job of the first of all its keys in order, asset:p, in every subset of them (a run
    of q alone too, where Dagster's plan gives output p no key)."""
    assert _materialize([orders], instance).success and _materialize([orders_p_q], instance).success
    subset = materialize([orders_p_q], selection=["q"], instance=instance,
                         resources={"io_manager": ProvenanceIOManager(), "provenance": ProvenanceResource()})
    assert subset.success
    assert _jobs_by_output(store) == {("orders", "orders"), ("asset:p", "p"), ("asset:p", "q")}
    events = _events(store)
    assert {e["job"]["name"] for e in events} == {"orders", "asset:p"}
    assert sorted(e["job"]["name"] for e in events if e["eventType"] == "COMPLETE") == ["asset:p", "asset:p", "orders"]


def test_the_failure_sensor_names_a_multi_asset_step_of_a_subset_run_as_the_step_does(
        store: Path, instance: DagsterInstance, caplog: pytest.LogCaptureFixture) -> None:
    """A subset run of q alone whose step failed before it recorded anything: the sensor makes its run up and names it
    as the step would have, asset:p, from its code location's definitions (the run's plan gives output p no key);
    with no definitions to ask, by the keys the run selected, asset:q, with a warning that says so, never orders."""
    resources = {"io_manager": ProvenanceIOManager(), "provenance": ProvenanceResource()}
    defs = Definitions(assets=[failing_orders_p_q], resources=resources)
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance, asset_selection=[AssetKey("q")], raise_on_error=False)
    assert not result.success and not list(store.rglob("*.json"))
    evaluate_failure_sensor(result, instance, ProvenanceResource(), repository_def=defs.get_repository_def())
    events = _events(store)
    assert [(e["eventType"], e["job"]["name"]) for e in events] == [("START", "asset:p"), ("FAIL", "asset:p")]
    assert "the orders service is down" in events[-1]["run"]["facets"]["errorMessage"]["message"]
    assert not [r for r in caplog.records if "selected some of the assets" in r.getMessage()]

    again = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance, asset_selection=[AssetKey("q")], raise_on_error=False)
    evaluate_failure_sensor(again, instance, ProvenanceResource())  # no code location's definitions to ask
    [run] = [e for e in _events(store) if e["eventType"] == "FAIL" and e["job"]["name"] != "asset:p"]
    assert run["job"]["name"] == "asset:q"
    [warning] = [r.getMessage() for r in caplog.records if "selected some of the assets" in r.getMessage()]
    assert warning.startswith(f"tdprov: Dagster run {again.run_id} selected some of the assets of the op of step "
                              "orders, the code location's definitions name none of its keys and no staged event "
                              f"names its job: its run {run['run']['runId']} is named by the assets the run selected, "
                              "asset:q, ")


@op(out={"a": Out(is_required=False), "b": Out(is_required=False)})
def fork(context, df: pd.DataFrame):  # noqa: ANN001, ANN201 - the outputs its run selected
    for name in sorted(context.selected_output_names):
        yield Output(df.assign(side=name), output_name=name)


@op
def load_or_fail() -> pd.DataFrame:
    if os.environ.get("TDPROV_TEST_RAISE"):
        raise RuntimeError("the rows are gone")
    return pd.DataFrame({"x": [1]})


@graph_multi_asset(outs={"b": AssetOut(is_required=False), "a": AssetOut(is_required=False)}, can_subset=True)
def forked():  # noqa: ANN201 - graph node 'forked', which names neither a nor b
    return fork(load_or_fail())


def test_the_ops_of_a_graph_backed_multi_asset_are_one_job_each_in_every_subset(
        store: Path, instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ops of a graph-backed asset whose node names none of its keys are asset:<first key>:<op>, of the first of
    all the graph's keys: a run of b alone was asset:b:load_or_fail, another job than in a run of both (Dagster's plan
    gives output a no key), and so is a step of such a run the failure sensor makes up (from its code location's
    definitions)."""
    resources = {"io_manager": ProvenanceIOManager(), "provenance": ProvenanceResource()}
    defs = Definitions(assets=[forked], resources=resources)
    whole = defs.resolve_implicit_global_asset_job_def()
    assert whole.execute_in_process(instance=instance).success
    assert whole.execute_in_process(instance=instance, asset_selection=[AssetKey("b")]).success
    assert _jobs_by_output(store) == {("asset:a:fork", "a"), ("asset:a:fork", "b"), ("asset:a:load_or_fail", "op output")}
    assert sum(e["eventType"] == "COMPLETE" for e in _events(store)) == 4

    monkeypatch.setenv("TDPROV_TEST_RAISE", "1")
    failed = whole.execute_in_process(instance=instance, asset_selection=[AssetKey("b")], raise_on_error=False)
    assert not failed.success
    evaluate_failure_sensor(failed, instance, ProvenanceResource(), repository_def=defs.get_repository_def())
    assert [e["job"]["name"] for e in _events(store) if e["eventType"] == "FAIL"] == ["asset:a:load_or_fail"]


@asset(io_manager_key="alpha_io")
def in_alpha() -> pd.DataFrame:
    return pd.DataFrame({"x": [1]})


@asset(io_manager_key="beta_io")
def in_beta() -> pd.DataFrame:
    return pd.DataFrame({"x": [2]})


RUN_JOBS = PROV_O + """SELECT DISTINCT ?namespace ?name WHERE {
  ?run tdprov:job ?plan . ?plan tdprov:namespace ?namespace ; tdprov:name ?name .
  FILTER (STRENDS(STR(?run), ?id)) }"""


def test_one_dagster_run_is_a_run_of_one_job_whatever_namespaces_its_steps_record_in(
        store: Path, instance: DagsterInstance, tmp_path: Path) -> None:
    """Each step named its Dagster run as a run of job:<Dagster job> in its own IO manager's namespace, so one run
    was of two jobs (dagster://alpha and dagster://beta); it is of one now, in the first of the namespaces the run's
    job configures in order, while each step's own job stays in its IO manager's namespace."""
    result = materialize([in_alpha, in_beta], instance=instance, resources={
        "alpha_io": ProvenanceIOManager(namespace="alpha"), "beta_io": ProvenanceIOManager(namespace="beta")})
    assert result.success
    events = _events(store)
    assert {(e["job"]["namespace"], e["job"]["name"]) for e in events} == {
        ("dagster://alpha", "in_alpha"), ("dagster://beta", "in_beta")}
    parents = {(p["job"]["namespace"], p["job"]["name"], p["run"]["runId"]) for p in (e["run"]["facets"]["parent"] for e in events)}
    assert parents == {("dagster://alpha", "job:__ephemeral_asset_job__", result.run_id)}
    out = tmp_path / "store.ttl"
    assert cli_main(["export", "--format", "ttl", "-o", str(out), "--store", str(store)]) == 0
    rows = rdflib.Graph().parse(out, format="turtle").query(RUN_JOBS, initBindings={"id": rdflib.Literal(f"run-{result.run_id}")})
    assert [(str(r.namespace), str(r.name)) for r in rows] == [("dagster://alpha", "job:__ephemeral_asset_job__")]


@asset(io_manager_key="beta_io")
def broken_in_beta() -> pd.DataFrame:
    raise RuntimeError("the feature store is down")


def test_the_failure_sensor_names_the_dagster_run_in_the_namespace_its_steps_do(
        store: Path, instance: DagsterInstance) -> None:
    """The run of a step that failed before it recorded anything, which the sensor makes up in its provenance
    resource's namespace (dagster://default), names its Dagster run as the run's other steps do, in dagster://alpha,
    the first namespace the job configures."""
    provenance = ProvenanceResource()
    defs = Definitions(assets=[in_alpha, in_beta, broken_in_beta], jobs=[define_asset_job("both")], resources={
        "alpha_io": ProvenanceIOManager(namespace="alpha"), "beta_io": ProvenanceIOManager(namespace="beta"),
        "provenance": provenance})
    result = defs.resolve_job_def("both").execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    evaluate_failure_sensor(result, instance, provenance, defs.get_repository_def())
    events = _events(store)
    assert ("FAIL", "dagster://default", "broken_in_beta") in {(e["eventType"], e["job"]["namespace"], e["job"]["name"])
                                                               for e in events}
    parents = {(p["job"]["namespace"], p["job"]["name"], p["run"]["runId"]) for p in (e["run"]["facets"]["parent"] for e in events)}
    assert parents == {("dagster://alpha", "job:both", result.run_id)}


def _parents(store: Path) -> set[tuple[str, str, str]]:
    """(job namespace, job name, run id) of the parent of every event of the store."""
    return {(p["job"]["namespace"], p["job"]["name"], p["run"]["runId"])
            for p in (e["run"]["facets"]["parent"] for e in _events(store))}


def test_a_namespace_left_at_default_does_not_name_the_dagster_run(store: Path, instance: DagsterInstance) -> None:
    """An IO manager of namespace prod and a ProvenanceResource left at its default named the run dagster://default,
    first in order; the default namespace names it only when no other is configured."""
    result = materialize([in_alpha], instance=instance, resources={
        "alpha_io": ProvenanceIOManager(namespace="prod"), "provenance": ProvenanceResource()})
    assert result.success
    assert _parents(store) == {("dagster://prod", "job:__ephemeral_asset_job__", result.run_id)}


def test_a_namespace_given_at_launch_names_the_dagster_run_in_every_step_and_sensor(
        store: Path, instance: DagsterInstance) -> None:
    """An IO manager configured at launch (run config: namespace alpha) beside one of namespace beta in code: the steps
    named the run dagster://beta, the only namespace configured in code, though a step wrote in dagster://alpha; every
    step, and the failure sensor closing one that recorded nothing, reads the run's config and names it dagster://alpha."""
    provenance = ProvenanceResource()
    defs = Definitions(assets=[in_alpha, broken_in_beta], jobs=[define_asset_job("both")], resources={
        "alpha_io": ProvenanceIOManager.configure_at_launch(), "beta_io": ProvenanceIOManager(namespace="beta"),
        "provenance": provenance})
    result = defs.resolve_job_def("both").execute_in_process(
        instance=instance, raise_on_error=False,
        run_config={"resources": {"alpha_io": {"config": {"namespace": "alpha"}}}})
    assert not result.success
    evaluate_failure_sensor(result, instance, provenance, defs.get_repository_def())
    assert {(e["eventType"], e["job"]["namespace"], e["job"]["name"]) for e in _events(store)} == {
        ("START", "dagster://alpha", "in_alpha"), ("COMPLETE", "dagster://alpha", "in_alpha"),
        ("START", "dagster://default", "broken_in_beta"), ("FAIL", "dagster://default", "broken_in_beta")}
    assert _parents(store) == {("dagster://alpha", "job:both", result.run_id)}
