"""Upstream assets a step declares and reads itself (``deps=[...]``, another IO manager, an observable source) under
real ``materialize`` runs: inputs of the step's run in the versions Dagster says it used, and what the audit says."""
from __future__ import annotations

import contextlib
import html
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from dagster import (
    AssetIn,
    AssetKey,
    AssetMaterialization,
    DagsterEventType,
    DagsterInstance,
    DataVersion,
    InMemoryIOManager,
    MaterializeResult,
    SourceAsset,
    StaticPartitionsDefinition,
    asset,
    materialize,
    observable_source_asset,
)

from test_dagster_defs import located
from prov_common.audit.engine import run_audit
from prov_common.audit.model import CHECK_COMPLETENESS, DatasetUse
from prov_common.bundle import list_bundles, read_bundle
from prov_common.bundle.events import parse_events_jsonl
from prov_common.cli import main
from prov_common.config import Settings
from prov_common.store import open_store
from prov_dagster import ProvenanceIOManager, ProvenanceResource
from prov_dagster import deps as dagster_deps

from dagster_support import delivered, instance, store  # noqa: F401 (fixtures)


def run(assets: list[Any], instance: DagsterInstance) -> Any:
    resources = {"io_manager": ProvenanceIOManager(), "provenance": ProvenanceResource(), "mem": InMemoryIOManager()}
    result = materialize(assets, instance=instance, resources=resources)
    assert result.success
    return result


def step_run(store: Path, job: str) -> Any:
    delivered(store)
    [summary] = [s for s in list_bundles(open_store(str(store))) if s.job_name == job]
    return summary


def inputs_of(store: Path, job: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(namespace, name) -> the input as the run's COMPLETE event names it."""
    summary = step_run(store, job)
    events = parse_events_jsonl(read_bundle(open_store(str(store)), summary.run_id).files["events.jsonl"])
    [complete] = [e for e in events if e["eventType"] == "COMPLETE"]
    return {(i["namespace"], i["name"]): i for i in complete["inputs"]}


def completeness(store: Path, tmp_path: Path, *, full: bool = True) -> list[Any]:
    result = run_audit(open_store(str(store)), Settings.from_env(), full=full, report_dir=tmp_path / "report", progress=False)
    return [f for f in result.findings if f.check == CHECK_COMPLETENESS]


def recorded_model(context: Any, provenance: ProvenanceResource, path: Path, data: pd.DataFrame) -> MaterializeResult:
    path.write_bytes(str(float(data.x.sum())).encode())
    done = provenance.record(outputs={"model": str(path)}, context=context)
    return MaterializeResult(metadata=done.metadata, data_version=done.data_version)


def test_an_upstream_asset_the_step_reads_itself_is_an_input_in_the_version_dagster_tagged(store: Path, instance,
                                                                                           tmp_path: Path) -> None:
    """``deps=[labels]``: the training run records ``labels`` by its data file and digest (what Dagster tags as
    ``dagster/input_data_version/labels``), next to ``rows`` loaded through the IO manager; the audit follows it."""

    @asset
    def rows() -> pd.DataFrame:
        return pd.DataFrame({"x": [1.0, 2.0, 3.0]})

    @asset
    def labels() -> pd.DataFrame:
        return pd.DataFrame({"y": [0, 1, 1]})

    @asset(tags={"tdprov/training": "true"}, deps=[labels])
    def classifier(context, rows: pd.DataFrame, provenance: ProvenanceResource) -> MaterializeResult:  # noqa: ANN001
        pd.read_parquet(located(store, "labels"))  # the step reads its dependency itself
        return recorded_model(context, provenance, tmp_path / "classifier.bin", rows)

    result = run([rows, labels, classifier], instance)
    mats = {e.materialization.asset_key: e.materialization for e in result.get_asset_materialization_events()}
    digest = mats[AssetKey("labels")].metadata["tdprov/digest"].value
    assert mats[AssetKey("classifier")].tags["dagster/input_data_version/labels"] == digest
    summary = step_run(store, "classifier")
    assert sorted((i.namespace, i.name, i.version) for i in summary.inputs) == sorted([
        ("file", located(store, "labels"), digest),
        ("file", located(store, "rows"), mats[AssetKey("rows")].metadata["tdprov/digest"].value),
    ])  # rows once: it was loaded, so it is not a declared read as well
    events = inputs_of(store, "classifier")
    declared = events[("file", located(store, "labels"))]["facets"]
    assert declared["symlinks"]["identifiers"][0]["name"] == "labels"

    [gap] = completeness(store, tmp_path)  # rows and labels come from nowhere recorded: the training run names both
    assert gap.run_id == summary.run_id and "training run" in gap.what
    assert f"{located(store, 'labels')} <- run {step_run(store, 'labels').run_id}" in gap.what, gap.what


def test_an_upstream_read_through_deps_keeps_the_namespace_its_writer_gave_its_asset_key(store: Path, instance,
                                                                                         tmp_path: Path) -> None:
    """``labels`` written by an IO manager of namespace ``team_a``, read through ``deps=[labels]`` by a step whose IO
    manager has ``team_b``: the input's asset key is ``dagster://team_a/labels``, as its writer's events and a
    load through the IO manager name it (docs/dagster.md: of an input, that of the IO manager that wrote it)."""

    @asset(io_manager_key="team_a")
    def labels() -> pd.DataFrame:
        return pd.DataFrame({"y": [0, 1, 1]})

    @asset(deps=[labels], io_manager_key="team_b")
    def scores() -> pd.DataFrame:
        return pd.DataFrame({"s": [0.5]})

    resources = {"team_a": ProvenanceIOManager(namespace="team_a"), "team_b": ProvenanceIOManager(namespace="team_b")}
    assert materialize([labels, scores], instance=instance, resources=resources).success
    [written] = step_run(store, "labels").outputs
    [read] = inputs_of(store, "scores").values()
    assert (read["namespace"], read["name"], read["facets"]["version"]["datasetVersion"]) == (
        written.namespace, written.name, written.version)
    assert [(i["namespace"], i["name"]) for i in read["facets"]["symlinks"]["identifiers"]] == [("dagster://team_a", "labels")]


@pytest.mark.parametrize("history", ["same instance", "no dagster history"])
def test_a_source_asset_loaded_through_the_io_manager_keeps_the_namespace_its_writer_gave_its_asset_key(
        store: Path, instance, history: str) -> None:
    """``labels`` written by code of namespace ``team_a``; code of ``team_b`` declares it a ``SourceAsset`` and loads
    it through its own IO manager (same data root). The input's asset key is ``dagster://team_a/labels``, as a
    ``deps=[labels]`` reader names it: from the materialization's ``tdprov/namespace``, or, with no Dagster
    history of it (another instance), from the data file's sidecar."""

    @asset
    def labels() -> pd.DataFrame:
        return pd.DataFrame({"y": [0, 1, 1]})

    @asset(ins={"labels": AssetIn(key="labels")})
    def scores(labels: pd.DataFrame) -> pd.DataFrame:
        return labels.assign(s=0.5)

    @asset(deps=[SourceAsset("labels")])
    def by_deps() -> pd.DataFrame:
        return pd.DataFrame({"s": [0.5]})

    def resources(namespace: str) -> dict[str, Any]:
        return {"io_manager": ProvenanceIOManager(namespace=namespace), "provenance": ProvenanceResource(namespace=namespace)}

    assert materialize([labels], instance=instance, resources=resources("team_a")).success
    readers = [SourceAsset("labels"), scores] + ([by_deps] if history == "same instance" else [])
    with contextlib.ExitStack() as stack:
        reading = instance if history == "same instance" else stack.enter_context(DagsterInstance.ephemeral())
        assert materialize(readers, instance=reading, resources=resources("team_b")).success
    [written] = step_run(store, "labels").outputs
    for reader in ("scores", "by_deps") if history == "same instance" else ("scores",):
        [read] = inputs_of(store, reader).values()
        assert (read["namespace"], read["name"], read["facets"]["version"]["datasetVersion"]) == (
            written.namespace, written.name, written.version)
        assert [(i["namespace"], i["name"]) for i in read["facets"]["symlinks"]["identifiers"]] == [
            ("dagster://team_a", "labels")], reader


def test_upstream_assets_no_tdprov_record_versions_are_inputs_without_a_version(store: Path, instance,
                                                                                 tmp_path: Path) -> None:
    """An observable source and an asset kept by another IO manager: inputs named by their asset keys, without
    a version, which the audit reports as unhashed inputs of the step's run."""

    @observable_source_asset
    def vendor_feed() -> DataVersion:
        return DataVersion("feed-v1")

    @asset(io_manager_key="mem")
    def scratch() -> pd.DataFrame:
        return pd.DataFrame({"x": [1.0]})

    @asset(deps=[vendor_feed, scratch])
    def blended(context, provenance: ProvenanceResource) -> MaterializeResult:  # noqa: ANN001
        return recorded_model(context, provenance, tmp_path / "blended.bin", pd.DataFrame({"x": [2.0]}))

    result = run([vendor_feed, scratch, blended], instance)
    warned = {m.split("'")[3]: m for m in (e.user_message for e in instance.all_logs(result.run_id))
              if m.startswith("tdprov: step 'blended' depends on asset")}
    assert "another IO manager wrote it" in warned["scratch"] and "through the ProvenanceIOManager" in warned["scratch"]
    assert "external asset or an observable source" in warned["vendor_feed"]  # no step writes it: record it by key
    assert "record(inputs={'vendor_feed': <path or URI>}" in warned["vendor_feed"]
    assert "write it through the ProvenanceIOManager" not in warned["vendor_feed"]
    summary = step_run(store, "blended")
    assert sorted((i.namespace, i.name, i.version) for i in summary.inputs) == [
        ("inmemory://", "scratch", None), ("inmemory://", "vendor_feed", None)]

    found = completeness(store, tmp_path)
    assert sorted(f.object for f in found) == [f"{DatasetUse('inmemory://', n).label}@unversioned" for n in ("scratch", "vendor_feed")]
    assert all(f.run_id == summary.run_id and "no content digest" in f.what for f in found), found


def test_a_partitioned_upstream_is_recorded_per_partition_the_step_maps_to(store: Path, instance, tmp_path: Path) -> None:
    regions = StaticPartitionsDefinition(["eu", "us"])

    @asset(partitions_def=regions)
    def sales(context) -> pd.DataFrame:  # noqa: ANN001
        return pd.DataFrame({"region": [context.partition_key]})

    backfill = "blake3:" + "ab" * 32

    @asset(partitions_def=regions, deps=[sales])
    def forecast(context, provenance: ProvenanceResource) -> MaterializeResult:  # noqa: ANN001
        # another run writes sales/us while this step runs: the step read the version stored before it started
        context.instance.report_runless_asset_event(AssetMaterialization(
            "sales", partition="us", metadata={"tdprov/digest": backfill, "tdprov/data": located(store, "sales/us")}))
        return recorded_model(context, provenance, tmp_path / "forecast.bin", pd.DataFrame({"x": [1.0]}))

    for region in ("eu", "us"):
        materialize([sales], instance=instance, partition_key=region, resources={"io_manager": ProvenanceIOManager()})
    result = materialize([sales, forecast], instance=instance, partition_key="us", selection=[forecast],
                         resources={"io_manager": ProvenanceIOManager(), "provenance": ProvenanceResource()})
    assert result.success
    us = [r.asset_materialization.metadata["tdprov/digest"].value for r in instance.fetch_materializations(
        AssetKey("sales"), limit=10).records if r.asset_materialization.partition == "us"]
    assert us[0] == backfill and len(us) == 2  # the newest is the one written during the step
    assert [(i.name, i.version) for i in step_run(store, "forecast").inputs] == [(located(store, "sales/us"), us[1])]


def test_a_training_run_that_records_no_inputs_is_a_completeness_gap(store: Path, instance, tmp_path: Path) -> None:
    """A training asset that records its model and nothing it read: the audit names the run and how to record its
    data, and the finding stays in the next (incremental) audit."""

    @asset(tags={"tdprov/training": "true"})
    def booster(context, provenance: ProvenanceResource) -> MaterializeResult:  # noqa: ANN001
        return recorded_model(context, provenance, tmp_path / "booster.bin", pd.DataFrame({"x": [1.0]}))

    run([booster], instance)
    summary = step_run(store, "booster")
    assert not summary.inputs
    for full in (True, False):
        [gap] = completeness(store, tmp_path, full=full)
        assert gap.run_id == summary.run_id, gap
        assert f"training run {summary.run_id} (dagster://default/booster) recorded no inputs" in gap.what
        assert f"it made {tmp_path / 'booster.bin'}@{summary.outputs[0].version}" in gap.what
        assert "deps=[...]" in gap.fix and "re-run" in gap.fix


def test_an_upstream_asset_written_by_record_is_an_input_in_its_recorded_version(store: Path, instance,
                                                                                  tmp_path: Path) -> None:
    """An asset that writes its file itself and records it with ``ProvenanceResource.record``: its materialization
    names where its one version lives, so a step with ``deps=[it]`` records that file at that digest."""

    @asset
    def vocabulary(context, provenance: ProvenanceResource) -> MaterializeResult:  # noqa: ANN001
        return recorded_model(context, provenance, tmp_path / "vocabulary.bin", pd.DataFrame({"x": [4.0]}))

    @asset(deps=[vocabulary])
    def tokenizer(context, provenance: ProvenanceResource) -> MaterializeResult:  # noqa: ANN001
        (tmp_path / "vocabulary.bin").read_bytes()
        return recorded_model(context, provenance, tmp_path / "tokenizer.bin", pd.DataFrame({"x": [5.0]}))

    run([vocabulary, tokenizer], instance)
    [made] = step_run(store, "vocabulary").outputs
    assert made.version is not None
    assert [(i.namespace, i.name, i.version) for i in step_run(store, "tokenizer").inputs] == [
        ("file", str(tmp_path / "vocabulary.bin"), made.version)]
    assert not completeness(store, tmp_path)  # tokenizer's input traces to vocabulary's run


def test_a_gap_names_the_run_that_made_a_version_from_no_recorded_input(store: Path, instance, tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture) -> None:
    """An asset made from nothing recorded and read by a training asset: the Article 10 gap (report JSON and HTML),
    the record's knownGaps and Croissant's rai:dataLimitations name the run that made it as its maker, not a reader, and
    say once that it recorded no inputs."""

    @asset
    def flip() -> pd.DataFrame:
        return pd.DataFrame({"k": [1, 2, 3]})

    @asset(tags={"tdprov/training": "true"})
    def train_flip(flip: pd.DataFrame) -> pd.DataFrame:
        return flip.head(1)

    run([flip, train_flip], instance)
    made = step_run(store, "flip")
    version = f"{located(store, 'flip')}@{made.outputs[0].version}"
    said = f"{version} (made by run {made.run_id}): the run that made it recorded no inputs"
    completeness(store, tmp_path)
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    [entry] = report["trainingData"]
    assert any(g.startswith(said) for g in entry["article10"]["knownGaps"]), entry["article10"]["knownGaps"]
    gap = next(g for g in entry["article10"]["knownGaps"] if g.startswith(said))
    assert gap.count("recorded no inputs") == 1, gap  # said once, not in the version's description and again in its reason
    assert f"input of run {made.run_id}" not in json.dumps(report)
    assert html.escape(said, quote=False) in (tmp_path / "report" / "report.html").read_text()
    assert main(["record", "train_flip"]) == 0
    assert [g for g in json.loads(capsys.readouterr().out)["knownGaps"] if g.startswith(said)]
    assert main(["record", "train_flip", "--format", "croissant"]) == 0
    limits = json.loads(capsys.readouterr().out)["rai:dataLimitations"]
    assert [g for g in limits if g.startswith(said)], limits


def test_a_step_finds_its_start_reading_only_the_starts_logged_after_it(instance, monkeypatch: pytest.MonkeyPatch) -> None:
    """A step that asks for its own STEP_START while it runs (a partitioned upstream it reads itself) read the starts of
    every step of its run, in each step's process: a read as long as the run per step. It reads them newest first, a
    page at a time, until its own (the latest of its starts)."""
    def trivial(name: str) -> Any:
        @asset(name=name)
        def made() -> None:
            return None
        return made

    result = materialize([trivial(n) for n in ("first", "second", "third")], instance=instance)
    starts = [(r.event_log_entry.step_key, r.storage_id) for r in instance.get_records_for_run(
        result.run_id, of_type=DagsterEventType.STEP_START).records]
    assert len(starts) == 3
    monkeypatch.setattr(dagster_deps, "STARTS_PAGE", 1, raising=False)
    pages: list[int] = []
    records = instance.get_records_for_run
    monkeypatch.setattr(instance, "get_records_for_run", lambda *args, **kwargs: (
        found := records(*args, **kwargs), pages.append(len(found.records)))[0])
    read = []
    for step in (starts[-1][0], starts[0][0], "absent"):
        pages.clear()
        read.append((dagster_deps.step_start_id(instance, result.run_id, step), list(pages)))
    assert read == [(starts[-1][1], [1]), (starts[0][1], [1, 1, 1]), (None, [1, 1, 1, 0])]


def test_an_unversioned_upstream_a_job_does_not_select_is_named_by_what_dagster_holds_of_it(
        store: Path, instance, tmp_path: Path) -> None:
    """A step run alone (a job that does not select its upstream assets, which Dagster makes external in it) reading
    ``rows`` (written through the ProvenanceIOManager, then its history wiped: ``dagster asset wipe``) and ``scratch``
    (kept by another IO manager) itself: both were said to be external assets or observable sources, with the fix to
    register them as sources. ``scratch`` is now said to be written by another IO manager, with the fix to write it
    through the ProvenanceIOManager;
    ``rows`` may also be an asset Dagster holds no materialization of (the job cannot tell it from an external one),
    with the fix to materialize it first."""

    @asset
    def rows() -> pd.DataFrame:
        return pd.DataFrame({"x": [1.0, 2.0]})

    @asset(io_manager_key="mem")
    def scratch() -> pd.DataFrame:
        return pd.DataFrame({"x": [1.0]})

    @asset(deps=[rows, scratch])
    def model(context, provenance: ProvenanceResource) -> MaterializeResult:  # noqa: ANN001
        return recorded_model(context, provenance, tmp_path / "model.bin", pd.read_parquet(located(store, "rows")))

    run([rows, scratch], instance)
    instance.wipe_assets([AssetKey("rows")])
    result = materialize([rows, scratch, model], selection=[model], instance=instance, resources={
        "io_manager": ProvenanceIOManager(), "provenance": ProvenanceResource(), "mem": InMemoryIOManager()})
    assert result.success
    warned = {m.split("'")[3]: m for m in (e.user_message for e in instance.all_logs(result.run_id))
              if m.startswith("tdprov: step 'model' depends on asset")}
    assert "or an asset Dagster holds no materialization of: never materialized, or its history was wiped ('dagster " \
           "asset wipe'))" in warned["rows"], warned["rows"]
    assert warned["rows"].endswith("; for an asset, materialize 'rows' through the ProvenanceIOManager before this "
                                   "step"), warned["rows"]
    assert "(another IO manager wrote it)" in warned["scratch"] and "through the ProvenanceIOManager" in warned["scratch"]
    assert "tdprov source add" not in warned["scratch"], warned["scratch"]
    assert sorted((i.name, i.version) for i in step_run(store, "model").inputs) == [("rows", None), ("scratch", None)]
