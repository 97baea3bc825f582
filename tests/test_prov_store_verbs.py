"""``tdprov export`` and ``tdprov lineage`` over real bundles in a local store."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import rdflib

from prov_common import PRODUCER
from prov_common.bundle import build_bundle
from prov_common.bundle.storage import deliver_bundle
from prov_common.cli import main
from prov_common.signing import default_signing_key
from prov_common.sources import SourceRecord, register_source
from prov_common.store import open_store
from prov_common.w3cprov import deserialize, events_to_document, lineage_graph, serialize
from prov_common.w3cprov import ids
from prov_common.w3cprov.collect import store_document, summaries
from prov_common.w3cprov.links import link_runs
from prov_common.w3cprov.source_links import name_sources
from prov_common.w3cprov.lineage import UPSTREAM, find_nodes, graph_from_summaries, origins, trace

# prov's RDF serialiser uses an rdflib API that rdflib deprecates; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:Dataset.default_context is deprecated:DeprecationWarning")

T0 = datetime(2024, 6, 1, 10, 0, tzinfo=timezone.utc)
RAW, CLEAN1, CLEAN2, FEATURES, MODEL = ("blake3:" + c * 64 for c in "12345")


def digest_facets(digest: str) -> dict:
    """The version facet tdprov writes (its producer vouches that the version is a content digest)."""
    return {"version": {"_producer": PRODUCER, "_schemaURL": "https://x/v.json", "datasetVersion": digest}}


def run_id(n: int) -> str:
    return f"0190a1b2-0000-7000-8000-{n:012d}"


def run_events(n: int, job: str, inputs: list[tuple[str, str]], outputs: list[tuple[str, str]], failed: bool = False) -> list[dict]:
    start, end = T0 + timedelta(hours=n), T0 + timedelta(hours=n, minutes=5)
    outs = [{"namespace": "file", "name": name, "facets": digest_facets(d)} for name, d in outputs]
    if failed:
        outs[0]["facets"]["tdprov_pandera"] = {"_producer": "https://x", "_schemaURL": "https://x/p.json", "schemaName": "S",
                                               "schemaDigest": "blake3:0", "passed": False, "failureCount": 2,
                                               "checks": [{"name": "in_range", "column": "age", "passed": False, "failureCount": 2}]}
    base = {"producer": "https://github.com/tdprov/tdprov", "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json",
            "run": {"runId": run_id(n)}, "job": {"namespace": "dagster://demo", "name": job}}
    ins = [{"namespace": "file", "name": name, "facets": digest_facets(d)} for name, d in inputs]
    return [{**base, "eventType": "START", "eventTime": start.isoformat(), "inputs": ins},
            {**base, "eventType": "COMPLETE", "eventTime": end.isoformat(), "inputs": ins, "outputs": outs}]


RUNS = [
    run_events(1, "clean", [("/raw.csv", RAW)], [("/clean.parquet", CLEAN1)]),
    run_events(2, "clean", [("/raw.csv", RAW)], [("/clean.parquet", CLEAN2)], failed=True),
    run_events(3, "features", [("/clean.parquet", CLEAN2)], [("/features.parquet", FEATURES)]),
    run_events(4, "train", [("/features.parquet", FEATURES), ("/clean.parquet", CLEAN2)], [("/model.pkl", MODEL)]),
]


VENDOR_RAW = SourceRecord(name="vendor-raw", digest=RAW, license="CC-BY-4.0", issuer="Acme", location="/raw.csv")


@pytest.fixture()
def store_path(tmp_path: Path) -> str:
    path = str(tmp_path / "store")
    store, key = open_store(path), default_signing_key()
    for n, events in enumerate(RUNS, start=1):
        deliver_bundle(store, build_bundle(events, {}, key, sealed_at=T0 + timedelta(days=n)), now=T0 + timedelta(days=n))
    register_source(store, VENDOR_RAW, key)
    return path


def test_export_is_the_union_of_the_runs(store_path: str, tmp_path: Path, capsysbinary) -> None:
    document = events_to_document([e for run in RUNS for e in run])
    graph = lineage_graph(document)
    document = link_runs(document, graph)
    linked = serialize(document, "json")
    assert serialize(store_document(open_store(store_path)), "json") == linked  # given no source records, it names none
    # the export names the registered source of /raw.csv, an origin (the statements it adds read only these fields)
    expected = serialize(name_sources(document, graph, [VENDOR_RAW], open_store(store_path).uri), "json")
    assert main(["export", "--store", store_path]) == 0
    assert capsysbinary.readouterr().out == expected != linked
    ttl = tmp_path / "all.ttl"
    assert main(["export", "--store", store_path, "-f", "ttl", "-o", str(ttl)]) == 0
    graph = rdflib.Graph().parse(ttl, format="turtle")
    failed = {str(r[0]).rsplit("#", 1)[1] for r in graph.query(
        "PREFIX dqv: <http://www.w3.org/ns/dqv#> SELECT DISTINCT ?v WHERE { ?m dqv:computedOn ?v ; dqv:value false }")}
    assert failed == {ids.generation_local("file", "/clean.parquet", CLEAN2, run_id(2))}


def test_export_since(store_path: str, tmp_path: Path) -> None:
    out = tmp_path / "since.json"
    assert main(["export", "--store", store_path, "--since", (T0 + timedelta(days=3)).date().isoformat(), "-o", str(out)]) == 0
    doc = deserialize(out.read_bytes(), "json")
    assert doc == link_runs(events_to_document(RUNS[2] + RUNS[3]))
    assert main(["export", "--store", store_path, "--since", "last tuesday"]) == 2


def test_export_of_an_empty_store(tmp_path: Path, capsysbinary) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["export", "--store", str(tmp_path / "empty")]) == 0
    assert json.loads(capsysbinary.readouterr().out)["prefix"]["tdprov"]


def test_summary_graph_agrees_with_the_prov_graph(store_path: str) -> None:
    store = open_store(store_path)
    cheap = graph_from_summaries(summaries(store))
    full = lineage_graph(store_document(store))
    assert set(cheap.nodes) == set(full.nodes)
    assert cheap.edges == full.edges
    assert full.nodes[f"tdprov:{ids.generation_local('file', '/clean.parquet', CLEAN2, run_id(2))}"].failed_checks == ("in_range[age]",)  # the schema's outcome is not a second check


def test_summary_graph_agrees_with_the_prov_graph_without_versions(tmp_path: Path, capsys) -> None:
    """Another producer's events that name no version: the PROV graph ('tdprov export', 'lineage --checks', 'graph')
    took an output's own PROV id for its version, so no read was linked to the run that wrote it (the export stated no
    'used' of it, and 'lineage --checks' showed the model at version 'tdprov:dataset-...' made from origins), where
    the index's graph ('tdprov lineage') linked them."""
    runs = [run_events(1, "clean", [("/raw.csv", RAW)], [("/clean.parquet", RAW)]),
            run_events(2, "train", [("/clean.parquet", RAW)], [("/model.pkl", RAW)])]
    for event in (e for run in runs for e in run):
        for dataset in (*event.get("inputs", ()), *event.get("outputs", ())):
            dataset.pop("facets", None)
    path = str(tmp_path / "store")
    store, key = open_store(path), default_signing_key()
    for n, events in enumerate(runs, start=1):
        deliver_bundle(store, build_bundle(events, {}, key, sealed_at=T0 + timedelta(days=n)), now=T0 + timedelta(days=n))
    cheap, full = graph_from_summaries(summaries(store)), lineage_graph(store_document(store))
    assert set(cheap.nodes) == set(full.nodes) and cheap.edges == full.edges
    wrote = f"tdprov:{ids.dataset_local('file', '/clean.parquet')}-by-run-{run_id(1)}"
    assert (wrote, f"tdprov:run-{run_id(2)}", "used") in {(e.source, e.target, e.kind) for e in full.edges}
    assert main(["lineage", "/model.pkl", "--store", path]) == 0
    tree = capsys.readouterr().out
    assert tree.startswith("/model.pkl  (no version)\n") and f"generated by clean  run {run_id(1)}" in tree
    assert main(["lineage", "/model.pkl", "--checks", "--store", path]) == 0
    assert capsys.readouterr().out == tree


def test_upstream_tree_of_the_model(store_path: str, capsys) -> None:
    graph = graph_from_summaries(summaries(open_store(store_path)))
    (model,) = find_nodes(graph, MODEL)
    tree = trace(graph, model, UPSTREAM)
    assert [s.run.job for s in tree.steps] == ["train"]
    assert {o.node.version for o in origins(tree)} == {RAW}
    assert main(["lineage", MODEL[:20], "--store", store_path]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0] == f"/model.pkl  {MODEL}"
    assert "generated by train  run 0190a1b2-0000-7000-8000-000000000004  COMPLETE" in text
    assert "generated by features" in text and "(see above)" in text  # clean v2 reached twice, expanded once
    assert f"/raw.csv  {RAW}  [source: vendor-raw (Acme, CC-BY-4.0)]" in text
    assert CLEAN1 not in text


def test_dataset_name_means_its_newest_version(store_path: str, capsys) -> None:
    assert main(["lineage", "/clean.parquet", "--store", store_path, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    (tree,) = out["lineage"]
    assert tree["version"] == CLEAN2 and tree["generatedBy"][0]["runId"].endswith("2")
    assert tree["generatedBy"][0]["inputs"][0]["sources"] == ["vendor-raw (Acme, CC-BY-4.0)"]
    assert main(["lineage", "file:///clean.parquet", "--all-versions", "--json", "--store", store_path]) == 0
    assert [t["version"] for t in json.loads(capsys.readouterr().out)["lineage"]] == [CLEAN1, CLEAN2]


def test_downstream_and_checks(store_path: str, capsys) -> None:
    assert main(["lineage", RAW, "--downstream", "--checks", "--store", store_path]) == 0
    text = capsys.readouterr().out
    assert text.index("used by clean  run 0190a1b2-0000-7000-8000-000000000002") < text.index("used by clean  run 0190a1b2-0000-7000-8000-000000000001")
    assert f"/clean.parquet  {CLEAN2}  ✗ failed: in_range[age]\n" in text  # one failed check, named once
    assert "used by train" in text and f"/model.pkl  {MODEL}  [not used by any recorded run]" in text
    assert main(["lineage", RAW, "--downstream", "--depth", "1", "--json", "--store", store_path]) == 0
    tree = json.loads(capsys.readouterr().out)["lineage"][0]
    assert {o["version"] for s in tree["usedBy"] for o in s["outputs"]} == {CLEAN1, CLEAN2}
    assert any(o.get("truncated") for s in tree["usedBy"] for o in s["outputs"])


def test_unknown_target_is_bad_input(store_path: str, capsys) -> None:
    assert main(["lineage", "/nope.csv", "--store", store_path]) == 2
    assert "no dataset or version '/nope.csv'" in capsys.readouterr().err


def test_lineage_picture_shows_only_the_tree(store_path: str, tmp_path: Path, capsys) -> None:
    dot = tmp_path / "model.dot"
    assert main(["lineage", MODEL, "-o", str(dot), "--store", store_path]) == 0
    text = dot.read_text()
    assert text.startswith('digraph "upstream lineage of') and MODEL[7:19] in text and RAW[7:19] in text
    assert CLEAN1[7:19] not in text  # the older clean version is not upstream of the model
    assert text.count(" -> ") == 7  # raw->clean2 run->clean2 ->features run->features, features+clean2->train->model
    svg = tmp_path / "model.svg"
    assert main(["lineage", MODEL, "-o", str(svg), "--renderer", "builtin", "--store", store_path]) == 0
    assert svg.read_text().count('<g class="node') == 7  # 4 versions, 3 runs
    assert main(["lineage", MODEL, "-o", str(tmp_path / "model.pdf"), "--store", store_path]) == 2
