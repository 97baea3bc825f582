"""Equal bytes in two Dagster assets, and an asset re-run with the same bytes, under real ``materialize`` runs:
``tdprov export`` relates every generation to the other datasets holding its bytes in plain PROV-O (no
inference), never as lineage, and the pictures say "same content as"."""
from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import rdflib
from dagster import DagsterInstance, materialize

from prov_common.cli import main as cli_main
from prov_dagster import ProvenanceIOManager, ProvenanceResource, provenance_asset

# prov's RDF serialiser uses an rdflib API that rdflib deprecates; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:Dataset.default_context is deprecated:DeprecationWarning")

PROV_O = "PREFIX prov: <http://www.w3.org/ns/prov#>\nPREFIX tdprov: <https://github.com/tdprov/tdprov/ns#>\n"
SAME_BYTES = PROV_O + """SELECT DISTINCT ?other WHERE { ?v prov:specializationOf ?version .
    ?version prov:alternateOf+ ?other . ?other a tdprov:DatasetVersion . FILTER(?other != ?version) }"""
DOCS = Path(__file__).resolve().parent.parent / "docs" / "prov-mapping.md"


def _frame() -> pd.DataFrame:
    return pd.DataFrame({"k": [1, 2, 3], "v": [0.5, 1.5, 2.5]})


@provenance_asset
def left() -> pd.DataFrame:
    return _frame()


@provenance_asset
def right() -> pd.DataFrame:  # the same bytes as left, another dataset
    return _frame()


@provenance_asset
def reader(left: pd.DataFrame) -> pd.DataFrame:
    return left.head(1)


ASSETS = [left, right, reader]


def _run(instance: DagsterInstance, selection: Any = None) -> None:
    resources = {"io_manager": ProvenanceIOManager(), "provenance": ProvenanceResource()}
    assert materialize(ASSETS, instance=instance, resources=resources, selection=selection).success


@pytest.fixture(scope="module")
def made_history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """left, right and reader (reading left); then left alone again, with the same bytes: reader read the
    older of left's two generations. Made once: the module's tests only read the store (see :func:`history`)."""
    store = tmp_path_factory.mktemp("history") / "store"
    with pytest.MonkeyPatch.context() as patch, DagsterInstance.ephemeral() as instance:
        patch.setenv("TDPROV_STORE", str(store))
        patch.setenv("TDPROV_HOME", str(store.parent / "home"))
        _run(instance)
        time.sleep(1)  # the re-run ends after reader started: not what reader read
        _run(instance, selection=["left"])
    return store


@pytest.fixture
def history(made_history: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The store of :func:`made_history`, read as the home that signed it does (its key trusted)."""
    monkeypatch.setenv("TDPROV_HOME", str(made_history.parent / "home"))
    return made_history


def _exported(store: Path, tmp_path: Path) -> rdflib.Graph:
    out = tmp_path / "store.ttl"
    assert cli_main(["export", "--format", "ttl", "-o", str(out), "--store", str(store)]) == 0
    return rdflib.Graph().parse(out, format="turtle")


def _generations(graph: rdflib.Graph, asset: str) -> list[rdflib.URIRef]:
    query = PROV_O + "SELECT ?v ?name WHERE { ?v prov:wasGeneratedBy ?run ; tdprov:name ?name }"
    return sorted(row.v for row in graph.query(query) if str(row.name).endswith(f"/{asset}.parquet"))


def _version_of(graph: rdflib.Graph, generation: rdflib.URIRef) -> rdflib.URIRef:
    (general,) = graph.objects(generation, rdflib.PROV.specializationOf)
    return general


def test_every_generation_reaches_the_other_dataset_with_its_bytes(history: Path, tmp_path: Path) -> None:
    graph = _exported(history, tmp_path)
    lefts, (right_made,) = _generations(graph, "left"), _generations(graph, "right")
    assert len(lefts) == 2 and _version_of(graph, lefts[0]) == _version_of(graph, lefts[1])  # a re-run: one DatasetVersion
    left_version, right_version = _version_of(graph, lefts[0]), _version_of(graph, right_made)
    assert left_version != right_version  # equal bytes, two datasets: two versions
    for made in lefts:
        assert {row.other for row in graph.query(SAME_BYTES, initBindings={"v": made})} == {right_version}
    assert {row.other for row in graph.query(SAME_BYTES, initBindings={"v": right_made})} == {left_version}


def test_the_generation_a_run_read_reaches_the_other_dataset(history: Path, tmp_path: Path) -> None:
    graph = _exported(history, tmp_path)
    read_by_reader = PROV_O + """SELECT ?read WHERE { ?run prov:used ?read .
        ?out prov:wasGeneratedBy ?run ; tdprov:name ?name . FILTER(STRENDS(STR(?name), "/reader.parquet")) }"""
    reads = {row.read for row in graph.query(read_by_reader)}
    lefts, (right_made,) = _generations(graph, "left"), _generations(graph, "right")
    (generation,) = reads & set(lefts)  # the generation reader read, one of left's two
    assert {row.other for row in graph.query(SAME_BYTES, initBindings={"v": generation})} == {_version_of(graph, right_made)}
    # the documented question, from everything reader used (its own record of the version and the generation)
    (held_elsewhere,) = [q for q in re.findall(r"```sparql\n(.*?)```", DOCS.read_text(), re.S) if "what else holds the bytes" in q]
    reader_run = PROV_O + """SELECT ?run WHERE { ?out prov:wasGeneratedBy ?run ; tdprov:name ?name .
        FILTER(STRENDS(STR(?name), "/reader.parquet")) }"""
    (run,) = {row.run for row in graph.query(reader_run)}
    assert {row.other for row in graph.query(held_elsewhere, initBindings={"run": run})} == {_version_of(graph, right_made)}


def test_equal_bytes_are_never_a_use_or_a_derivation(history: Path, tmp_path: Path) -> None:
    graph = _exported(history, tmp_path)
    lineage = PROV_O + """SELECT ?a ?b WHERE { ?a (prov:used|prov:wasDerivedFrom) ?b .
        ?b tdprov:name ?name . FILTER(STRENDS(STR(?name), "/right.parquet")) }"""
    assert list(graph.query(lineage)) == []
    versions = PROV_O + "SELECT ?a ?b WHERE { ?a prov:alternateOf ?b }"
    typed = {(a, b) for a, b in graph.query(versions)
             if (a, rdflib.RDF.type, rdflib.URIRef("https://github.com/tdprov/tdprov/ns#DatasetVersion")) in graph}
    assert len(typed) == 2  # left's version and right's, stated both ways


def test_pictures_say_same_content_as(history: Path, tmp_path: Path) -> None:
    for picture, renderer in (("left.dot", "auto"), ("left.svg", "builtin")):
        out = tmp_path / picture
        assert cli_main(["lineage", "left", "-o", str(out), "--renderer", renderer, "--store", str(history)]) == 0
        text = out.read_text()
        assert "= same content as 1 other dataset" in text, picture
        assert "right.parquet" in text, picture  # named in the tooltip
    events = sorted(str(p) for p in (history / "bundles").glob("*/events.jsonl"))
    assert cli_main(["graph", *events, "-o", str(tmp_path / "all.dot")]) == 0
    assert "= same content as 1 other dataset" in (tmp_path / "all.dot").read_text()
