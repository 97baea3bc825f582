"""The built-in lineage picture's geometry: top-down, inside the page width, no edge through a node,
no overlapping labels; on the real Dagster example's events and on synthetic wide and deep graphs."""
from __future__ import annotations

import json
import re
from pathlib import Path
from xml.etree import ElementTree

import pandas as pd
import pandera.pandas as pa
import pytest

from prov_common.cli import main as tdprov
from prov_common.w3cprov.drawing import render_svg
from prov_common.w3cprov.graph import RUN, Node

from layout_geometry import edges_through_nodes, graph_of, graphviz_edges_through_nodes, outside, overlaps, read_graphviz, read_picture

PAGE = 1000.0


def check(svg: str, width: float = PAGE) -> None:
    picture = read_picture(svg)
    assert picture.edges, "no edges drawn"
    assert not edges_through_nodes(picture)
    assert not overlaps(picture)
    assert not outside(picture, width)
    assert picture.width <= width


SPLIT = [("raw", "run_split"), ("run_split", "train_split"), ("run_split", "test_split"), ("train_split", "run_train"),
         ("run_train", "model"), ("model", "run_evaluation"), ("test_split", "run_evaluation"), ("run_evaluation", "metrics")]


def test_an_edge_that_skips_rows_goes_round_the_nodes_between() -> None:
    """test_split -> evaluation skips the rows of train and model: it must not pass through them (it
    would read as 'test_split feeds model')."""
    svg = render_svg(graph_of(SPLIT), max_width=PAGE)
    check(svg)
    picture = read_picture(svg)
    box = picture.nodes
    assert box["run_split"][3] < box["test_split"][1] < box["run_train"][1] < box["model"][1] < box["run_evaluation"][1]
    skip = next(points for s, t, points in picture.edges if (s, t) == ("test_split", "run_evaluation"))
    assert len(skip) > 10, "the skipping edge should bend round the rows it crosses"


def test_the_checker_sees_an_edge_through_a_node() -> None:
    """The geometry check itself: a node moved onto an edge's path is reported."""
    picture = read_picture(render_svg(graph_of(SPLIT), max_width=PAGE))
    _, _, points = next(e for e in picture.edges if e[:2] == ("test_split", "run_evaluation"))
    x, y = points[len(points) // 2]
    picture.nodes["model"] = (x - 30, y - 10, x + 30, y + 10)
    assert edges_through_nodes(picture) == ["test_split -> run_evaluation crosses model"]
    picture.labels.append(picture.labels[0])
    assert overlaps(picture)


def test_a_wide_layer_wraps_to_fit_the_page() -> None:
    """One run writing 40 versions, each read by a run of its own: the layers wrap onto more rows."""
    edges = [("raw", "run_fan")] + [p for i in range(40) for p in [("run_fan", f"out{i:02}"), (f"out{i:02}", f"run_use{i:02}")]]
    graph = graph_of(edges)
    svg = render_svg(graph, max_width=PAGE)
    check(svg)
    boxes = read_picture(svg).nodes
    rows = {round(b[1]) for k, b in boxes.items() if k.startswith("out")}
    assert len(rows) >= 3, "40 versions cannot fit one row of 1000 px"
    unbounded = read_picture(render_svg(graph, max_width=None))
    assert unbounded.width > 3 * PAGE  # without a limit the layer is one row: the wrapping did the fitting


def test_a_sharded_dataset_fans_out_and_in_within_the_page() -> None:
    """One run writes 40 shards that one run reads: both fans wrap, the long edges share one trunk per row."""
    edges = [("raw", "run_shard")] + [p for i in range(40) for p in [("run_shard", f"shard{i:02}"), (f"shard{i:02}", "run_all")]]
    svg = render_svg(graph_of(edges + [("run_all", "model")]), max_width=PAGE)
    check(svg)
    assert len(read_picture(svg).edges) == 82


def _pieces(d: str) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """The (start, end) of each drawn piece of an SVG path of M, L and C commands (zero-length ones left out)."""
    ends = [tuple(float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", args)[-2:]) for _, args in re.findall(r"([MLC])([^MLC]*)", d)]
    return [(a, b) for a, b in zip(ends, ends[1:]) if a != b]


@pytest.mark.parametrize("shape", ["fan-out", "fan-in"])
def test_edges_leaving_or_entering_one_node_draw_their_shared_trunk_once(shape: str) -> None:
    """One source read by 60 runs (fan-out), or 60 versions read by one run (fan-in): the layer wraps over
    many rows and the long edges share one trunk. Each edge is drawn only where no earlier edge was, so
    no piece of a line is drawn twice and the SVG grows with the edges, not edges x rows; every edge
    with an arrow ends on its target, and every target gets one."""
    edges = [p for i in range(60) for p in [("raw", f"run_prepare{i:02}"), (f"run_prepare{i:02}", f"features{i:02}")]]
    if shape == "fan-in":
        edges += [(f"features{i:02}", "run_train") for i in range(60)]
    svg = render_svg(graph_of(edges), max_width=PAGE)
    check(svg)
    paths = [p for p in ElementTree.fromstring(svg).iter("{http://www.w3.org/2000/svg}path") if "edge" in (p.get("class") or "")]
    assert len(paths) == len(edges)
    drawn = [piece for p in paths for piece in _pieces(p.get("d"))]
    assert len(drawn) == len(set(drawn)), "a piece of a line is drawn twice"
    picture = read_picture(svg)
    arrows = {(p.get("data-source"), p.get("data-target")) for p in paths if p.get("marker-end")}
    for source, target, points in picture.edges:
        if (source, target) in arrows:  # it ends on its target's top side
            x0, y0, x1, _ = picture.nodes[target]
            assert x0 <= points[-1][0] <= x1 and abs(points[-1][1] - y0) < 1.0, (source, target)
    assert {target for _, target in arrows} == {target for _, target in edges}
    if shape == "fan-out":
        assert len(arrows) == len(edges)
    rows = {round(b[1]) for k, b in picture.nodes.items() if k.startswith("run_prepare")}
    assert len(rows) >= 5, "the 60 runs wrap over several rows, so the trunk is long"


def test_a_deep_graph_with_long_edges() -> None:
    """A chain of 12 steps where every version is also read by the last run: many long edges side by side."""
    edges = [("v00", "run01")]
    for i in range(1, 12):
        edges += [(f"run{i:02}", f"v{i:02}"), (f"v{i:02}", f"run{i + 1:02}")]
    edges += [(f"v{i:02}", "run12") for i in range(0, 11)] + [("run12", "final")]
    check(render_svg(graph_of(edges), max_width=PAGE))


def test_the_dagster_examples_lineage_drawn_by_tdprov_graph(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The real thing: the Dagster example materialised into a store, its bundles' events drawn by
    `tdprov graph --renderer builtin`; test_set's edge into evaluation skips model's rows."""
    from dagster import materialize

    from example_pipelines.dagster_training import definitions as example
    from prov_dagster import ProvenanceIOManager, ProvenanceResource, pandera_checks

    store = tmp_path / "store"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TDPROV_EXAMPLE_DATA", str(tmp_path / "files"))
        done = materialize([*example.ASSETS, *pandera_checks(example.ASSETS)], resources={
            "io_manager": ProvenanceIOManager(store=str(store), data_root=str(tmp_path / "data")),
            "provenance": ProvenanceResource(store=str(store))})
    assert done.success
    events = tmp_path / "events.jsonl"
    events.write_text("".join(p.read_text() for p in sorted(store.glob("bundles/*/events.jsonl"))))
    out = tmp_path / "lineage.svg"
    assert tdprov(["graph", str(events), "-o", str(out), "--renderer", "builtin"]) == 0
    assert "7 runs" in capsys.readouterr().err  # the wrote line: on stderr
    svg = out.read_text()
    check(svg, 1200.0)
    picture = read_picture(svg)
    nodes = _graph_nodes(events)
    run = {n.job.split("/")[-1]: k for k, n in nodes.items() if n.kind == RUN and n.job}
    test_set = next(k for k, n in nodes.items() if n.kind != RUN and (n.dataset or "").endswith("test_set.parquet"))
    evaluation, model = run["evaluation"], run["model"]
    assert (test_set, evaluation) in {(s, t) for s, t, _ in picture.edges}
    assert picture.nodes[test_set][3] < picture.nodes[model][1] < picture.nodes[evaluation][1], "the edge skips model's row"


def _graph_nodes(events: Path) -> dict[str, Node]:
    from prov_common.w3cprov import events_to_document, lineage_graph

    return lineage_graph(events_to_document([json.loads(x) for x in events.read_text().splitlines() if x.strip()])).nodes


def test_graph_width_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--width sets the built-in picture's limit; a width no picture fits is bad input (exit 2, one line)."""
    events = Path(__file__).parent / "data" / "ol_events" / "tdprov_step.jsonl"
    out = tmp_path / "narrow.svg"
    assert tdprov(["graph", str(events), "-o", str(out), "--renderer", "builtin", "--width", "400"]) == 0
    check(out.read_text(), 400.0)
    capsys.readouterr()
    assert tdprov(["graph", str(events), "-o", str(out), "--width", "50"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--width 50" in err[0] and "200 or more" in err[0]


def test_the_report_picture_uses_graphviz_only_when_it_fits() -> None:
    """Graphviz draws the report's picture when installed and its drawing fits the width (and then no
    edge crosses a node there either); a layer too wide for it goes to the built-in layout, which wraps."""
    from prov_common.w3cprov.render import BUILTIN, GRAPHVIZ, fitted_svg, graphviz_dot

    svg, drawn_by = fitted_svg(graph_of(SPLIT), "split", PAGE)
    if graphviz_dot() is None:  # scripts/test installs Graphviz; without it the built-in layout stands in
        assert drawn_by == BUILTIN
    else:
        assert drawn_by == GRAPHVIZ and "<!--" not in svg and svg.startswith("<svg")
        assert not graphviz_edges_through_nodes(svg)
        shapes, edges = read_graphviz(svg)
        assert len(edges) == len(SPLIT)
        x, y = next(points for s, _, points in edges if s == "test_split")[20]  # the checker sees a node put on the edge
        moved = svg.replace(f'cx="{shapes["model"].cx:g}" cy="{shapes["model"].cy:g}"', f'cx="{x:.2f}" cy="{y:.2f}"')
        assert graphviz_edges_through_nodes(moved) == ["test_split -> run_evaluation crosses model"]
    wide = [("raw", "run_fan")] + [p for i in range(40) for p in [("run_fan", f"out{i:02}"), (f"out{i:02}", f"run_use{i:02}")]]
    svg, drawn_by = fitted_svg(graph_of(wide), "wide", PAGE)
    assert drawn_by == BUILTIN
    check(svg)


def test_a_failed_pandera_check_counts_once_in_tdprov_graph(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A Dagster asset written with one failing Pandera check (policy 'record'): its events carry the
    Pandera facet (schema outcome and checks) and the run's test facet repeating the check; the picture
    says one failed check, and so does `tdprov lineage --checks`."""
    from dagster import materialize

    from prov_dagster import ProvenanceIOManager, provenance_asset

    class Ages(pa.DataFrameModel):
        age: int = pa.Field(ge=18)

    @provenance_asset(schema=Ages, quality_policy="record")
    def people() -> pd.DataFrame:
        return pd.DataFrame({"age": [17, 30, 41]})

    store = tmp_path / "store"
    assert materialize([people], resources={"io_manager": ProvenanceIOManager(store=str(store), data_root=str(tmp_path / "data"))}).success
    [bundle] = store.glob("bundles/*/events.jsonl")
    events = [json.loads(x) for x in bundle.read_text().splitlines() if x.strip()]
    complete = next(e for e in events if e["eventType"] == "COMPLETE")
    assert [t["status"] for t in complete["run"]["facets"]["test"]["tests"]].count("fail") == 1  # the repeat is really there
    pandera_facet = complete["outputs"][0]["facets"]["tdprov_pandera"]
    assert pandera_facet["passed"] is False and [c["passed"] for c in pandera_facet["checks"]].count(False) == 1
    out = tmp_path / "people.dot"
    assert tdprov(["graph", str(bundle), "-o", str(out)]) == 0
    assert "✗ 1 failed check\\n✓ 2 passed checks\"" in out.read_text() and "failed checks" not in out.read_text()
    capsys.readouterr()
    assert tdprov(["lineage", str(tmp_path / "data" / "people.parquet"), "--checks", "--store", str(store)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if "✗ failed" in x)
    assert line.endswith("✗ failed: greater_than_or_equal_to(18)[age]  ✓ passed 2 checks"), line  # once each


@pytest.mark.parametrize("wide", ["訓練データセット", "学習用コーパス", "🤖📊🧪🚀🎯📦🔬🧠"])
def test_a_name_of_wide_characters_gets_the_width_of_its_cells(wide: str) -> None:
    """A box was as wide as its name had characters: a CJK or emoji name (two terminal cells, about a
    font-size wide each) overflowed its box. Box width follows the cells the name takes, as 'tdprov runs'
    lines up columns: the wide name's box is as wide as that of an ASCII name of as many cells."""
    from prov_common.text import cells

    ascii_name = "x" * cells(wide)
    graph = graph_of([("run_a", wide), ("run_b", ascii_name)], version_label="v1")  # the name is the widest line
    picture = read_picture(render_svg(graph, max_width=None))
    width = {key: box[2] - box[0] for key, box in picture.nodes.items()}
    assert width[wide] == pytest.approx(width[ascii_name], abs=0.5) and width[wide] > width["run_a"] + 40, width  # .1f in the SVG


def test_graph_of_a_whole_store_far_too_large_to_read_is_refused_saying_how_to_narrow_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """'tdprov graph' of every bundle of a large store drew, after minutes and gigabytes, a picture far taller
    than anyone reads, saying nothing. Above --max-runs (default 300) runs it refuses up front, before any
    drawing, naming the runs and datasets and how to narrow it; --max-runs 0 draws it anyway; a .dot is written.
    (A bound of 8 stands for the default here, so the pictures drawn stay small.)"""
    from datetime import timedelta

    from prov_common.cli.graph import MAX_RUNS
    from prov_common.store import open_store
    from test_audit_support import T0, dataset, digest, run_events, seal

    assert MAX_RUNS == 300  # the documented default
    store = open_store(str(tmp_path / "store"))
    bound, count = 8, 10
    for i in range(count):  # a source read by every run, and each run's own output: a fan, as a store of many pipelines
        seal(store, run_events(f"job{i % 9}", [dataset("/data/raw.csv", digest("raw"))], [dataset(f"/data/out{i}.parquet", digest(f"o{i}"))],
                               start=T0 + timedelta(minutes=i)))
    events = sorted(str(p) for p in (tmp_path / "store").glob("bundles/*/events.jsonl"))
    assert len(events) == count
    out = tmp_path / "all.svg"
    limit = ["--max-runs", str(bound)]
    assert tdprov(["graph", *events, "-o", str(out), *limit]) == 2
    err = capsys.readouterr().err
    assert f"{count} runs and {count + 1} datasets" in err and "far larger than a person can read" in err, err
    assert "tdprov lineage DATASET -o" in err and "--depth" in err and "--max-runs 0" in err, err
    assert not out.exists()  # told before the events are turned into a graph
    assert tdprov(["graph", *events, "-o", str(tmp_path / "all.dot"), *limit]) == 0  # the graph's text: for the user's own tools
    assert tdprov(["graph", *events[:bound], "-o", str(out), "--renderer", "builtin", *limit]) == 0  # at the bound: drawn
    assert tdprov(["graph", *events, "-o", str(out), "--renderer", "builtin", "--max-runs", "0"]) == 0  # asked for: drawn
    assert f"{count} runs" in capsys.readouterr().err and out.stat().st_size > 0  # the wrote line: on stderr
    assert tdprov(["graph", *events, "-o", str(out), "--renderer", "builtin"]) == 0  # below the default bound: drawn
    assert tdprov(["graph", *events, "-o", str(out), "--max-runs", "-1"]) == 2


def test_graph_refusal_counts_one_dataset_as_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Two runs that read one dataset, above --max-runs 1: '2 runs and 1 dataset'; it read '1 datasets'."""
    from datetime import timedelta

    from prov_common.store import open_store
    from test_audit_support import T0, dataset, digest, run_events, seal

    store = open_store(str(tmp_path / "store"))
    for i in range(2):
        seal(store, run_events("job", [dataset("/data/raw.csv", digest("raw"))], [], start=T0 + timedelta(minutes=i)))
    events = sorted(str(p) for p in (tmp_path / "store").glob("bundles/*/events.jsonl"))
    assert tdprov(["graph", *events, "-o", str(tmp_path / "all.svg"), "--max-runs", "1"]) == 2
    assert "the events hold 2 runs and 1 dataset: a picture" in capsys.readouterr().err
