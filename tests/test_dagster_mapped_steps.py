"""A mapped op (``fan().map(work)``, a ``DynamicOut``) is one job under real Dagster runs, in an op job and inside a
graph-backed asset, and so the failure sensor names it: the step of each mapping key (``work[a]``) is a run of the
op's job with a run id of its own, its mapping key in ``tdprov_runContext.mappingKey``, as an Airflow mapped task is one
job whose map index is in its run's facet (mapping keys come from data, so as jobs they would grow without limit)."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from dagster import (
    AssetKey,
    AssetsDefinition,
    DagsterInstance,
    Definitions,
    DynamicOut,
    DynamicOutput,
    build_run_status_sensor_context,
    graph,
    job,
    materialize,
    mem_io_manager,
    op,
)

from prov_common.bundle import list_bundles, read_bundle
from prov_common.bundle.events import parse_events_jsonl
from prov_common.cli import main as cli_main
from prov_common.store import open_store
from prov_dagster import ProvenanceIOManager, ProvenanceResource, provenance_failure_sensor

from dagster_support import delivered, instance, store  # noqa: F401  (fixtures)

RESOURCES = {"io_manager": ProvenanceIOManager(), "provenance": ProvenanceResource()}


@op(out=DynamicOut())
def fan():  # noqa: ANN201 - a generator of dynamic outputs
    for key in ("a", "b"):
        yield DynamicOutput(pd.DataFrame({"part": [key]}), mapping_key=key)


@op(out=DynamicOut(io_manager_key="plain"))
def fan_plain():  # noqa: ANN201 - its parts go through an IO manager that records nothing
    for key in ("a", "b"):
        yield DynamicOutput(pd.DataFrame({"part": [key]}), mapping_key=key)


@op
def work(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(done=True)


@op
def work_broken(df: pd.DataFrame) -> pd.DataFrame:  # fails before it records anything: the sensor closes its runs
    raise RuntimeError(f"part {df.part[0]} is locked")


@op
def joined(parts: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(parts, ignore_index=True)


@job
def etl() -> None:
    fan().map(work)


@job
def etl_broken() -> None:
    fan().map(work_broken)


@job
def etl_unrecorded() -> None:  # work_broken loads nothing through tdprov: it stages no event before it fails
    fan_plain().map(work_broken)


@graph
def gathered() -> pd.DataFrame:
    return joined(fan().map(work).collect())


def _runs(store: Path) -> set[tuple[str, str, str, str | None]]:
    """(event type, job name, run id, mapping key) of every event in the store."""
    target = open_store(str(store))
    delivered(target)
    events = [e for s in list_bundles(target) for e in parse_events_jsonl(read_bundle(target, s.run_id).files["events.jsonl"])]
    return {(e["eventType"], e["job"]["name"], e["run"]["runId"], e["run"]["facets"]["tdprov_runContext"].get("mappingKey"))
            for e in events}


def _mapped(runs: set[tuple[str, str, str, str | None]], job_name: str) -> dict[str, set[str]]:
    """Mapping key -> the event types of its run, of the runs of ``job_name``; one run id per mapping key."""
    mapped = [(key, run_id, state) for state, name, run_id, key in runs if name == job_name]
    assert len({run_id for _, run_id, _ in mapped}) == len({key for key, _, _ in mapped})
    return {key: {state for k, _, state in mapped if k == key} for key, _, _ in mapped}


def test_a_mapped_op_of_an_op_job_is_one_job_and_each_mapping_key_a_run(store: Path, instance: DagsterInstance,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """The step of each mapping key was a job of its own: job:etl:work[a] and job:etl:work[b]. 'tdprov show' names
    a run's mapping key."""
    assert Definitions(jobs=[etl], resources=RESOURCES).resolve_job_def("etl").execute_in_process(instance=instance).success
    runs = _runs(store)
    assert {name for _, name, _, _ in runs} == {"job:etl:fan", "job:etl:work"}
    assert _mapped(runs, "job:etl:work") == {"a": {"START", "COMPLETE"}, "b": {"START", "COMPLETE"}}
    assert {key for _, name, _, key in runs if name == "job:etl:fan"} == {None}
    for run_id, key in {(run_id, key) for _, _, run_id, key in runs}:
        capsys.readouterr()
        assert cli_main(["show", run_id, "--store", str(store)]) == 0
        shown = capsys.readouterr().out
        assert f"\n  mapping key {key}\n" in shown if key else "mapping key" not in shown
        assert cli_main(["show", run_id, "--json", "--store", str(store)]) == 0
        assert json.loads(capsys.readouterr().out)["mappingKey"] == key


def test_runs_lists_the_mapping_key_of_each_run_of_a_mapped_op(store: Path, instance: DagsterInstance,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """'tdprov runs' showed the runs of work[a] and work[b] alike (job:etl:work, no TASK INSTANCE): the manifest signs
    the mapping key and the index entry holds it, so the column and --json name it, and the bundles verify."""
    assert Definitions(jobs=[etl], resources=RESOURCES).resolve_job_def("etl").execute_in_process(instance=instance).success
    keys = {run_id: key for _, _, run_id, key in _runs(store)}
    assert cli_main(["runs", "--json", "--store", str(store)]) == 0
    listed = {s["runId"]: s for s in json.loads(capsys.readouterr().out)}
    assert {run_id: s.get("mappingKey") for run_id, s in listed.items()} == keys
    assert sorted(k for k in keys.values() if k) == ["a", "b"]
    target = open_store(str(store))
    for run_id, key in keys.items():
        assert json.loads(read_bundle(target, run_id).manifest_bytes).get("mappingKey") == key
    assert cli_main(["runs", "--store", str(store)]) == 0
    header, *lines = capsys.readouterr().out.splitlines()
    assert header.split()[4:6] == ["TASK", "INSTANCE"]
    column = header.index("TASK INSTANCE")
    cells = {line.split()[0]: line[column:].split("  ")[0].strip() for line in lines}
    assert cells == {run_id: f"mapping key {key}" if key else "-" for run_id, key in keys.items()}
    assert cli_main(["verify", "--store", str(store)]) == 0


def test_a_mapped_op_of_a_graph_backed_asset_is_one_job(store: Path, instance: DagsterInstance) -> None:
    asset = AssetsDefinition.from_graph(gathered, keys_by_output_name={"result": AssetKey("parts")})
    assert materialize([asset], instance=instance, resources=RESOURCES).success
    runs = _runs(store)
    assert {name for _, name, _, _ in runs} == {"asset:parts:fan", "asset:parts:work", "asset:parts:joined"}
    assert _mapped(runs, "asset:parts:work") == {"a": {"START", "COMPLETE"}, "b": {"START", "COMPLETE"}}


def test_the_failure_sensor_names_a_mapped_op_as_its_steps_do(store: Path, instance: DagsterInstance) -> None:
    result = Definitions(jobs=[etl_broken], resources=RESOURCES).resolve_job_def("etl_broken").execute_in_process(
        instance=instance, raise_on_error=False)
    assert not result.success
    provenance_failure_sensor(build_run_status_sensor_context(
        sensor_name="provenance_failure_sensor", dagster_event=result.get_run_failure_event(),
        dagster_instance=instance, dagster_run=result.dagster_run, resources={"provenance": ProvenanceResource()}))
    runs = _runs(store)
    assert {name for _, name, _, _ in runs} == {"job:etl_broken:fan", "job:etl_broken:work_broken"}
    assert _mapped(runs, "job:etl_broken:work_broken") == {"a": {"START", "FAIL"}, "b": {"START", "FAIL"}}


def test_the_failure_sensor_names_a_mapped_op_that_staged_nothing_by_its_op_when_the_plan_cannot_be_read(
        store: Path, instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """With no plan and no staged event to name a step's job, the sensor named the run it made up by the step key,
    work_broken[a]: a job per mapping key. It is named by the op's step key, work_broken, each mapping key a run of it,
    and the warning names that name and the mapping key."""
    result = Definitions(jobs=[etl_unrecorded], resources={**RESOURCES, "plain": mem_io_manager}).resolve_job_def(
        "etl_unrecorded").execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success

    def unreadable(snapshot_id: str) -> None:
        raise OSError(f"execution plan snapshot {snapshot_id} cannot be read: the run storage is down")
    monkeypatch.setattr(instance, "get_execution_plan_snapshot", unreadable)
    provenance_failure_sensor(build_run_status_sensor_context(
        sensor_name="provenance_failure_sensor", dagster_event=result.get_run_failure_event(),
        dagster_instance=instance, dagster_run=result.dagster_run, resources={"provenance": ProvenanceResource()}))
    runs = _runs(store)
    assert {name for _, name, _, _ in runs} == {"work_broken"}
    assert _mapped(runs, "work_broken") == {"a": {"START", "FAIL"}, "b": {"START", "FAIL"}}
    warnings = sorted(r.getMessage() for r in caplog.records if "execution plan" in r.getMessage())
    run_ids = {key: run_id for _, _, run_id, key in runs}
    assert warnings == [f"tdprov: the execution plan of Dagster run {result.run_id} cannot be read and no staged event of "
                        f"step work_broken[{key}] names its job: its run {run_ids[key]} is named by its op's step key "
                        f"(mapping key {key}), work_broken, which is not the job it ran as if the step is an op of an op "
                        "job (job:<Dagster job name>:<step key>), of a graph-backed asset or an asset check"
                        for key in sorted(run_ids)]
