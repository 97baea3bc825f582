"""A version that Dagster's ``quality_policy="fail"`` refused to write, with the same bytes as other assets, under
real ``materialize`` runs: it stays the failed run's output, but no "same content" statement names it (the
``alternateOf`` of ``tdprov export``, ``tdprov lineage``, ``tdprov contains``), since its file was never written.
The export also states each ``alternateOf`` once."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import pytest
import rdflib
from dagster import DagsterInstance, materialize

from prov_common.cli import main as cli_main
from prov_dagster import ProvenanceIOManager, ProvenanceResource, provenance_asset

# prov's RDF serialiser uses an rdflib API that rdflib deprecates; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:Dataset.default_context is deprecated:DeprecationWarning")

PROV_O = "PREFIX prov: <http://www.w3.org/ns/prov#>\nPREFIX tdprov: <https://github.com/tdprov/tdprov/ns#>\n"
DOCS = Path(__file__).resolve().parent.parent / "docs" / "prov-mapping.md"


class AtMostOne(pa.DataFrameModel):
    x: int = pa.Field(le=1)


@provenance_asset(granularity="row")
def raw() -> pd.DataFrame:
    return pd.DataFrame({"x": [1, 2, 3]})


@provenance_asset
def twin() -> pd.DataFrame:  # the same bytes as raw, written
    return pd.DataFrame({"x": [1, 2, 3]})


@provenance_asset(schema=AtMostOne)  # quality_policy "fail": the same bytes as raw, refused, never written
def refused(raw: pd.DataFrame) -> pd.DataFrame:
    return raw.copy()


@provenance_asset
def reader(raw: pd.DataFrame, twin: pd.DataFrame) -> pd.DataFrame:  # reads two datasets holding equal bytes
    return raw.head(1)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    store = tmp_path / "store"
    monkeypatch.setenv("TDPROV_STORE", str(store))
    resources = {"io_manager": ProvenanceIOManager(), "provenance": ProvenanceResource()}
    with DagsterInstance.ephemeral() as instance:
        result = materialize([raw, twin, refused, reader], instance=instance, resources=resources, raise_on_error=False)
    assert not result.success  # refused failed its schema
    data = Path(f"{store}-data")
    assert sorted(p.name for p in data.glob("*.parquet")) == ["raw.parquet", "reader.parquet", "twin.parquet"]
    return store


def _documented_query() -> str:
    """The query docs/prov-mapping.md gives for "what else holds the bytes that ?run used?"."""
    (query,) = [q for q in re.findall(r"```sparql\n(.*?)```", DOCS.read_text(), re.S) if "what else holds the bytes" in q]
    return query


def test_the_export_never_says_a_refused_version_holds_the_bytes(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "store.ttl"
    assert cli_main(["export", "--format", "ttl", "-o", str(out), "--store", str(store)]) == 0
    graph = rdflib.Graph().parse(out, format="turtle")
    others = {str(row.other) for row in graph.query(_documented_query())}
    assert any("twin.parquet" in o for o in others) and not any("refused.parquet" in o for o in others)
    alternates = PROV_O + "SELECT ?a ?b WHERE { ?a prov:alternateOf ?b }"
    assert not [row for row in graph.query(alternates) if "refused.parquet" in f"{row.a} {row.b}"]
    # still recorded as what the failed run generated
    made = PROV_O + "SELECT ?v WHERE { ?v prov:wasGeneratedBy ?run ; tdprov:name ?name . ?run tdprov:state 'FAIL' }"
    assert [str(row.v) for row in graph.query(made)]


def test_lineage_and_contains_name_only_what_holds_the_bytes(store: Path, capsys: pytest.CaptureFixture) -> None:
    raw_file = str(Path(f"{store}-data") / "raw.parquet")
    assert cli_main(["lineage", raw_file, "--store", str(store)]) == 0
    shown = capsys.readouterr().out
    assert "same content as" in shown and "twin.parquet" in shown and "refused.parquet" not in shown
    assert cli_main(["contains", raw_file, "--record", json.dumps({"x": 2}), "--json", "--store", str(store)]) == 0
    same = [s["dataset"] for s in json.loads(capsys.readouterr().out)["sameContent"]]
    assert [Path(s).name for s in same] == ["twin.parquet"]
    # the refused version is still shown as the failed run's output
    assert cli_main(["runs", "--store", str(store)]) == 0
    assert "FAIL" in capsys.readouterr().out


@pytest.mark.parametrize("fmt", ["provn", "xml"])
def test_each_alternate_of_is_stated_once(store: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"store.{fmt}"
    assert cli_main(["export", "--format", fmt, "-o", str(out), "--store", str(store)]) == 0
    text = out.read_text()
    if fmt == "provn":
        stated = re.findall(r"alternateOf\(([^,]+), ([^)]+)\)", text)
    else:
        stated = re.findall(r"<prov:alternateOf>\s*<prov:alternate1 prov:ref=\"([^\"]+)\"/>\s*"
                            r"<prov:alternate2 prov:ref=\"([^\"]+)\"/>", text)
    assert stated and len(stated) == len(set(stated)), sorted(stated)
    assert any("twin.parquet" in a + b for a, b in stated)
