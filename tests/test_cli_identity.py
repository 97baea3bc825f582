"""Runs as users type them: a Dagster run id (the parent of the step runs tdprov seals bundles for) given to
``tdprov show`` names the runs it is the parent of, which ``tdprov runs --parent`` lists; ``tdprov runs --job`` lists
the runs of one job, by its name or as ``runs`` prints it (``NAMESPACE/NAME``)."""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterInstance, Definitions, asset, define_asset_job

from prov_common.bundle import layout
from prov_common.bundle.storage import index_keys
from prov_common.canonical_json import canonical_bytes, loads
from prov_common.cli import main
from prov_common.cli._runs import resolve_run_ids
from prov_common.errors import BadInputError
from prov_common.store import open_store
from prov_common.store.base import Store
from prov_dagster import ProvenanceIOManager, ProvenanceResource
from counting_store import CountingStore
from test_audit_support import T0, dataset, digest, run_events, seal

from dagster_support import delivered, instance, store  # noqa: F401  (fixtures)

pytestmark = pytest.mark.filterwarnings("ignore:Dataset.default_context is deprecated:DeprecationWarning")


def _listed(argv: list[str], capsys: pytest.CaptureFixture) -> list[dict]:
    assert main(argv) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


@asset
def raw_rows() -> pd.DataFrame:
    return pd.DataFrame({"v": [1, 2, 3]})


@asset
def clean_rows(raw_rows: pd.DataFrame) -> pd.DataFrame:
    return raw_rows[raw_rows.v > 1]


def test_a_dagster_run_id_names_the_step_runs_it_is_the_parent_of(
        store: Path, instance: DagsterInstance, capsys: pytest.CaptureFixture) -> None:
    defs = Definitions(assets=[raw_rows, clean_rows], jobs=[define_asset_job("rows", selection=["raw_rows", "clean_rows"])],
                       resources={"io_manager": ProvenanceIOManager(), "provenance": ProvenanceResource()})
    result = defs.resolve_job_def("rows").execute_in_process(instance=instance)
    assert result.success
    delivered(store)
    steps = _listed(["runs", "--json", "--store", str(store)], capsys)
    assert sorted(s["job"]["name"] for s in steps) == ["clean_rows", "raw_rows"], steps
    children = sorted(s["runId"] for s in steps)
    assert all(s["parentRunId"] == result.run_id for s in steps), steps
    listed = _listed(["runs", "--parent", result.run_id, "--json", "--store", str(store)], capsys)
    assert sorted(s["runId"] for s in listed) == children
    assert main(["runs", "--parent", result.run_id, "--store", str(store)]) == 0
    table = capsys.readouterr().out
    assert all(child in table for child in children), table

    assert main(["show", result.run_id, "--store", str(store)]) == 2
    err = capsys.readouterr().err
    assert f"run {result.run_id} has no bundle of its own: it is the parent run of 2 runs" in err, err
    assert all(child in err for child in children), err
    assert "'tdprov show RUN_ID'" in err and f"'tdprov runs --parent {result.run_id} --store {store}'" in err, err
    assert main(["audit", "--store", str(store), "--quiet", "--report", str(store.parent / "report")]) == 0, capsys.readouterr().err
    capsys.readouterr()
    for verb in ("verify", "prove"):  # the other verbs of one run id answer as 'show' does
        assert main([verb, result.run_id, "--store", str(store)]) == 2
        err = capsys.readouterr().err
        assert f"run {result.run_id} has no bundle of its own: it is the parent run of 2 runs" in err, err
        assert all(child in err for child in children), err
        assert f"'tdprov {verb} RUN_ID'" in err and f"'tdprov runs --parent {result.run_id} --store {store}'" in err, err

    assert main(["runs", "--parent", children[0], "--store", str(store)]) == 2  # a step run is the parent of none
    assert f"no run with parent run {children[0]} is indexed in {store}" in capsys.readouterr().err

    counting = CountingStore(store)  # the parent run refused from the one listing that looked for it: no second one
    with pytest.raises(BadInputError, match=f"run {result.run_id} has no bundle of its own: it is the parent run of 2 runs"):
        resolve_run_ids(counting, [result.run_id], verb="show")
    assert {prefix: n for prefix, n in counting.lists.items() if prefix.startswith(f"{layout.INDEX}/")} == {f"{layout.INDEX}/": 1}
    entries = list(index_keys(open_store(str(store))))
    assert {key: n for key, n in counting.gets.items() if key.startswith(f"{layout.INDEX}/")} == dict.fromkeys(entries, 1)


def test_an_index_entry_written_before_entries_held_the_parent_still_verifies_and_one_naming_another_does_not(
        store: Path, instance: DagsterInstance, capsys: pytest.CaptureFixture) -> None:
    """An index entry sealed before entries held the parent run names none: its run verifies, 'tdprov runs --parent'
    finds it by its manifest's parent run (the entry is left as it is: index entries are written once), and 'tdprov
    show' of the parent run, from the index alone, names that listing. An entry naming a parent its manifest does not
    is a finding."""
    defs = Definitions(assets=[raw_rows], jobs=[define_asset_job("raw", selection=["raw_rows"])],
                       resources={"io_manager": ProvenanceIOManager(), "provenance": ProvenanceResource()})
    result = defs.resolve_job_def("raw").execute_in_process(instance=instance)
    assert result.success
    target = open_store(str(store))
    delivered(target)
    [key] = list(index_keys(target))
    entry = loads(target.get(key, layout.SMALL_OBJECT_LIMIT))
    assert entry.pop("parentRunId") == result.run_id
    (store / key).write_bytes(canonical_bytes(entry))  # as a tdprov that did not index the parent wrote it
    run_id = layout.run_id_of_index_key(key)
    assert main(["verify", run_id, "--store", str(store)]) == 0, capsys.readouterr().err
    capsys.readouterr()
    listed = _listed(["runs", "--parent", result.run_id, "--json", "--store", str(store)], capsys)
    assert [(s["runId"], s["parentRunId"]) for s in listed] == [(run_id, result.run_id)]  # its manifest names the parent
    assert main(["show", result.run_id, "--store", str(store)]) == 2  # from the index alone: its fix names 'runs --parent'
    err = capsys.readouterr().err
    assert f"no bundle for run id '{result.run_id}'" in err and f"'tdprov runs --parent {result.run_id} --store {store}' " \
        "also finds the runs of a parent run indexed before index entries named their parent run" in err, err
    assert main(["show", run_id, "--store", str(store)]) == 0
    assert f"parent run {result.run_id}" in capsys.readouterr().out
    (store / key).write_bytes(canonical_bytes({**entry, "parentRunId": run_id}))  # a parent its bundle does not name
    assert main(["verify", run_id, "--store", str(store)]) == 1
    assert "parentRunId" in capsys.readouterr().out
    (store / key).write_bytes(canonical_bytes(entry))
    (store / layout.bundle_key(run_id, layout.MANIFEST_FILE)).unlink()  # the parent run cannot be told: a finding
    assert main(["runs", "--parent", result.run_id, "--store", str(store)]) == 1
    err = capsys.readouterr().err
    assert f"left out run {run_id}: its index entry names no parent run and its manifest, read for its parent run, cannot be read" in err, err


def _seal_job(target: Store, namespace: str, name: str, minutes: int) -> str:
    events = run_events(name, [], [dataset(f"/data/{namespace}-{name}.csv", digest(name))], start=T0 + timedelta(minutes=minutes))
    for event in events:
        event["job"]["namespace"] = namespace
    return seal(target, events)


def test_runs_of_one_job_are_listed_by_its_name_or_namespace_and_name(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    store = str(tmp_path / "store")
    target = open_store(store)
    old = _seal_job(target, "tests", "prepare", 0)
    other = _seal_job(target, "nightly", "prepare", 1)
    newest = _seal_job(target, "tests", "train", 2)
    assert [s["runId"] for s in _listed(["runs", "--json", "--store", store], capsys)] == [newest, other, old]
    assert [s["runId"] for s in _listed(["runs", "--job", "prepare", "--json", "--store", store], capsys)] == [other, old]
    assert [s["runId"] for s in _listed(["runs", "--job", "tests/prepare", "--json", "--store", store], capsys)] == [old]
    # --limit counts the runs of the job: the run sealed last is another job's
    assert main(["runs", "--job", "prepare", "--limit", "1", "--json", "--store", store]) == 0
    captured = capsys.readouterr()
    assert [s["runId"] for s in json.loads(captured.out)] == [other], captured.out
    assert "the 1 run of job 'prepare' sealed last; there are more" in captured.err, captured.err
    assert main(["runs", "--job", "tests/prepare", "--store", store]) == 0
    out = capsys.readouterr().out
    assert old in out and other not in out and newest not in out and "tests/prepare" in out, out
    assert main(["runs", "--job", "prepar", "--store", store]) == 2
    err = capsys.readouterr().err
    assert f"no run of job 'prepar' is indexed in {store}" in err and f"'tdprov runs --store {store}'" in err, err


def test_runs_of_a_job_whose_index_entry_cannot_be_read_are_a_finding_not_a_job_with_no_run(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    store = str(tmp_path / "store")
    target = open_store(store)
    run_id = _seal_job(target, "tests", "prepare", 0)
    [key] = list(index_keys(target))
    (tmp_path / "store" / key).write_bytes(b"{not json")  # the entry cannot be read
    (tmp_path / "store" / layout.bundle_key(run_id, layout.MANIFEST_FILE)).unlink()  # nor its bundle
    for argv in (["runs", "--job", "prepare"], ["runs"]):
        assert main([*argv, "--store", store]) == 1  # a run left out is a finding, as in the whole listing
        err = capsys.readouterr().err
        assert run_id in err and "is indexed in" not in err, err
        said = " of job 'prepare'" if "--job" in argv else ""
        assert f"no run{said} in {store} could be listed: each index entry left out is named above" in err, err


def test_a_run_id_naming_no_bundle_is_refused_from_the_index_alone_and_runs_parent_names_an_unread_manifest_plainly(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """'tdprov show' of a run id that names no bundle (a mistyped one) reads no manifest, however many runs name no
    parent; 'tdprov runs --parent' reads the manifest of each such run, and names one it cannot read as what it is."""
    store = str(tmp_path / "store")
    target = open_store(store)
    runs = [_seal_job(target, "tests", f"job{i}", i) for i in range(3)]  # runs with no parent run
    counting = CountingStore(tmp_path / "store")
    mistyped = "0f0e0d0c-0b0a-4909-8807-060504030201"
    with pytest.raises(BadInputError, match=f"no bundle for run id '{mistyped}'") as refused:
        resolve_run_ids(counting, [mistyped], verb="show")
    assert {key: n for key, n in counting.gets.items() if key.startswith(f"{layout.BUNDLES}/")} == {}
    assert f"'tdprov runs --parent {mistyped} --store {store}' also finds" in str(refused.value), refused.value
    (tmp_path / "store" / layout.bundle_key(runs[0], layout.MANIFEST_FILE)).unlink()  # a run of no parent, unrelated
    assert main(["runs", "--parent", mistyped, "--store", store]) == 1  # it may be a run of that parent: a finding
    err = capsys.readouterr().err
    assert f"left out run {runs[0]}: its index entry names no parent run and its manifest, read for its parent run, " \
           "cannot be read (" in err, err
    assert "does not verify" not in err, err
