"""Lineage graph read back from PROV, its DOT text and the built-in SVG renderer."""
from __future__ import annotations

import json
import re
from pathlib import Path
from xml.etree import ElementTree

import pytest

from prov_common.w3cprov import events_to_document, lineage_graph, merge_documents, render_svg, to_dot
from prov_common.w3cprov.graph import GENERATED, RUN, USED, VERSION

from layout_geometry import read_picture

EVENTS = Path(__file__).parent / "data" / "ol_events"
SVG = "{http://www.w3.org/2000/svg}"


def load(name: str) -> list[dict]:
    return [json.loads(line) for line in (EVENTS / name).read_text().splitlines() if line.strip()]


def chain_events() -> list[dict]:
    """raw -> clean (tdprov step) -> train (a second step reading clean): a two-run chain."""
    first = load("tdprov_step.jsonl")
    second = json.loads(json.dumps(first))
    for event in second:
        event["run"]["runId"] = "0193c111-2222-7333-8444-00000000000b"
        event["job"]["name"] = "customers.train"
        event["inputs"] = [dict(first[1]["outputs"][0], inputFacets={})] if event["eventType"] == "COMPLETE" else []
        event["outputs"] = [{"namespace": "file", "name": "/models/model.pkl",
                             "facets": {"version": {"_producer": "x", "_schemaURL": "https://x/y.json", "datasetVersion": "blake3:" + "b" * 64}}}] \
            if event["eventType"] == "COMPLETE" else []
        event["run"]["facets"].pop("test", None)
    return first + second


def test_graph_of_a_chain() -> None:
    graph = lineage_graph(events_to_document(chain_events()))
    kinds = sorted((n.kind, n.label.split("\n")[0]) for n in graph.nodes.values())
    assert kinds == [("run", "customers.clean_customers"), ("run", "customers.train"),
                     ("version", "/data/clean/customers.parquet"), ("version", "/data/raw/customers.csv"), ("version", "/models/model.pkl")]
    clean = next(n for n in graph.nodes.values() if n.dataset == "/data/clean/customers.parquet")
    assert clean.kind == VERSION and clean.version == "blake3:" + "a" * 64
    # one failed Pandera check: the schema's outcome and the run's test facet repeating it are not more checks
    assert clean.failed_checks == ("greater_than_or_equal_to(18)[age]",)
    assert [(e.kind) for e in graph.incoming(clean.id)] == [GENERATED]
    assert [(e.kind) for e in graph.outgoing(clean.id)] == [USED]
    train = graph.nodes[graph.outgoing(clean.id)[0].target]
    assert train.kind == RUN and train.job == "customers.train" and train.state == "COMPLETE"


def test_merged_documents_give_the_same_graph() -> None:
    events = chain_events()
    whole = lineage_graph(events_to_document(events))
    parts = lineage_graph(merge_documents([events_to_document(events[:2]), events_to_document(events[2:])]))
    assert whole == parts


def test_dot_is_deterministic_and_marks_failures() -> None:
    graph = lineage_graph(events_to_document(chain_events()))
    text = to_dot(graph)
    assert text == to_dot(lineage_graph(events_to_document(list(reversed(chain_events())))))
    assert text.startswith('digraph "lineage" {') and "rankdir=TB" in text
    assert text.count(" -> ") == len(graph.edges) == 4
    assert re.search(r'customers.parquet\\nblake3:aaaaaaaaaaaa…\\n✗ 1 failed check\\n✓ 1 passed check".*color="#D62728"', text)
    assert re.search(r'customers.csv\\nblake3:111111111111…\\n✓ 1 passed check".*passed: not_nullable\(id\)\[id\]", color="#1A7F37"', text)
    spark = to_dot(lineage_graph(events_to_document(load("spark_failed.jsonl"))))
    assert re.search(r'label="sessionize.write_features\\nFAIL".*shape=box.*color="#D62728"', spark)


def _boxes(svg: str) -> dict[str, tuple[float, float, float, float]]:
    return read_picture(svg).nodes


def test_builtin_svg_is_valid_layered_and_without_overlaps() -> None:
    events = chain_events() + load("airflow_task.jsonl") + load("dbt_model.jsonl") + load("spark_failed.jsonl")
    graph = lineage_graph(events_to_document(events))
    svg = render_svg(graph)
    assert svg == render_svg(lineage_graph(events_to_document(list(reversed(events)))))
    boxes = _boxes(svg)
    assert set(boxes) == set(graph.nodes)
    items = sorted(boxes.values())
    for i, a in enumerate(items):
        for b in items[i + 1:]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], f"overlap {a} {b}"
    for edge in graph.edges:  # data flows top-down
        assert boxes[edge.source][3] < boxes[edge.target][1]
    root = ElementTree.fromstring(svg)
    assert len([p for p in root.iter(f"{SVG}path") if p.get("marker-end")]) == len(graph.edges)
    texts = " ".join(t.text or "" for t in root.iter(f"{SVG}tspan"))
    assert "customers.train" in texts and "sessionize.write_features" in texts


def test_svg_escapes_names() -> None:
    events = load("airflow_task.jsonl")
    events[0]["outputs"][0]["name"] = events[1]["outputs"][0]["name"] = 'a<b>&"c"'
    svg = render_svg(lineage_graph(events_to_document(events)))
    ElementTree.fromstring(svg)
    assert "a&lt;b&gt;&amp;" in svg


# XML 1.0's Name production (ASCII part; tdprov's ids add no other letters): SVG 1.1 types an element's id so, and the
# W3C HTML checker (vnu) refuses an inline SVG id that is none, as in the audit report's picture.
XML_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:.-]*")


def test_svg_node_ids_are_xml_names_and_data_node_keeps_the_graph_key() -> None:
    """The audit report's picture keys a version by its dataset, digest and run (``ver:file//data/a b.csv@blake3:…@<run>``):
    as the ``id`` of its ``<g>`` that key, holding '/', '@' and a name's space, was no XML name, 11 errors of the W3C
    HTML checker on the example's report. Every ``id`` is an XML name, one per node (a key that is one, as a PROV
    qualified name, is kept), and ``data-node`` carries the key, which edges' ``data-source`` and ``data-target`` name."""
    from prov_common.w3cprov.graph import Edge, LineageGraph, Node

    run, read = "run:0193c111-2222-7333-8444-00000000000a", "ver:file//data/a b.csv@blake3:" + "a" * 64
    wrote = f"ver:file//data/a b.parquet@blake3:{'b' * 64}@{run[4:]}"
    graph = LineageGraph(nodes={run: Node(run, RUN, "prep\nCOMPLETE", run_id=run[4:], state="COMPLETE"),
                                read: Node(read, VERSION, "/data/a b.csv", dataset="/data/a b.csv"),
                                wrote: Node(wrote, VERSION, "/data/a b.parquet", dataset="/data/a b.parquet")},
                         edges=[Edge(read, run, USED), Edge(run, wrote, GENERATED)])
    root = ElementTree.fromstring(render_svg(graph))
    groups = {g.get("data-node"): g.get("id") for g in root.iter(f"{SVG}g") if "node" in (g.get("class") or "").split()}
    assert set(groups) == set(graph.nodes)
    assert all(XML_NAME.fullmatch(i) for i in groups.values()), groups
    assert len(set(groups.values())) == 3 and groups[run] == run
    ends = [(p.get("data-source"), p.get("data-target")) for p in root.iter(f"{SVG}path") if "edge" in (p.get("class") or "").split()]
    assert sorted(ends) == sorted((e.source, e.target) for e in graph.edges)

def test_same_content_is_said_and_its_names_escaped_in_dot_and_svg() -> None:
    from dataclasses import replace

    graph = lineage_graph(events_to_document(load("airflow_task.jsonl")))
    key = next(k for k, n in graph.nodes.items() if n.kind != RUN)
    graph.nodes[key] = replace(graph.nodes[key], also=(("file", '/x/a<b>&"c".csv'), ("s3://bucket", "y.csv")))
    svg = render_svg(graph)
    node = next(g for g in ElementTree.fromstring(svg).iter(f"{SVG}g") if g.get("id") == key)
    assert "= same content as 2 other datasets" in " ".join(t.text or "" for t in node.iter(f"{SVG}tspan"))
    assert node.find(f"{SVG}title").text.endswith('same content as: /x/a<b>&"c".csv, s3://bucket/y.csv')
    dot = to_dot(graph)
    assert "= same content as 2 other datasets" in dot
    assert 'same content as: /x/a<b>&amp;\\"c\\".csv, s3://bucket/y.csv"' in dot  # DOT-quoted, its '&' as Graphviz reads it


def test_a_run_that_rewrites_a_versionless_dataset_draws_no_loop() -> None:
    events = load("airflow_task.jsonl")
    for event in events:
        event["outputs"] = [dict(event["inputs"][0])]
    graph = lineage_graph(events_to_document(events))
    run = next(k for k, n in graph.nodes.items() if n.kind == "run")
    read = next(e.source for e in graph.edges if e.target == run)
    written = next(e.target for e in graph.edges if e.source == run)
    assert read != written and written.endswith(f"-by-{run.split(':', 1)[1]}")  # what it wrote is not what it read
    assert len(graph.edges) == 2
    assert len(_boxes(render_svg(graph))) == 3


def test_the_builtin_renderer_says_it_draws_svg_only() -> None:
    """--renderer builtin -o x.png: the built-in renderer draws SVG; the error said Graphviz was not installed,
    wherever it was."""
    import pytest

    from prov_common.errors import BadInputError
    from prov_common.w3cprov.graph import LineageGraph
    from prov_common.w3cprov.render import render

    with pytest.raises(BadInputError, match="the built-in renderer draws SVG only, not PNG"):
        render(LineageGraph(nodes={}, edges=[]), "png", "builtin")


def test_bidi_and_zero_width_characters_are_shown_escaped() -> None:
    """A name with a right-to-left override or a zero-width space reads as written, escaped as the CLI shows it, in
    the SVG text and tooltip and in the DOT label; the node id keeps the name as recorded."""
    events = load("airflow_task.jsonl")
    events[0]["outputs"][0]["name"] = events[1]["outputs"][0]["name"] = "/data/\u202eevil\u202c/gnp\u200b.exe.csv"
    graph = lineage_graph(events_to_document(events))
    svg, dot = render_svg(graph, title="lineage of \u202ex"), to_dot(graph)
    svg_text = re.sub(r' (id|data-source|data-target)="[^"]*"', "", svg)  # attributes: the ids as recorded
    dot_text = re.sub(r'^  "[^"]*"( -> "[^"]*")? ', "", dot, flags=re.M)
    for text in (svg_text, dot_text):
        assert not {"\u202e", "\u202c", "\u200b"} & set(text)
    assert "/data/\\u202eevil\\u202c/gnp\\u200b.exe.csv" in svg and "lineage of \\u202ex" in svg
    assert "/data/\\\\u202eevil" in dot  # DOT-quoted backslash


def test_a_read_of_a_versionless_dataset_is_linked_to_the_run_that_wrote_it() -> None:
    """Another producer's events name no version: the reader's input is the run that wrote it (it was a separate
    node with no edge in), and what a run wrote is labelled by its name, not by an internal PROV id."""
    def event(run: str, job: str, time: str, inputs: list[str], outputs: list[str]) -> dict:
        return {"eventType": "COMPLETE", "eventTime": time, "producer": "https://x/p",
                "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/RunEvent",
                "run": {"runId": run}, "job": {"namespace": "ns", "name": job},
                "inputs": [{"namespace": "file", "name": n} for n in inputs],
                "outputs": [{"namespace": "file", "name": n} for n in outputs]}

    prep, train = "0193c111-2222-7333-8444-00000000000a", "0193c111-2222-7333-8444-00000000000b"
    graph = lineage_graph(events_to_document([
        event(prep, "prep", "2026-01-01T00:00:00Z", ["/data/raw.csv"], ["/data/feat.parquet"]),
        event(train, "train", "2026-01-01T00:00:01Z", ["/data/feat.parquet"], ["/data/model.pkl"])]))
    written = next(e.target for e in graph.edges if e.source == f"tdprov:run-{prep}")
    assert [e.source for e in graph.edges if e.target == f"tdprov:run-{train}"] == [written]
    assert sorted(n.label for n in graph.nodes.values() if n.kind != RUN) == [
        "/data/feat.parquet", "/data/model.pkl", "/data/raw.csv"]
    shown = ["".join(t.itertext()) for t in ElementTree.fromstring(render_svg(graph)).iter(f"{SVG}text")]
    assert not [t for t in shown if "tdprov:" in t] and shown.count("/data/feat.parquet") == 1


def test_datasets_of_equal_bytes_name_each_other_in_memory_linear_in_their_number() -> None:
    """Each of k datasets holding one digest named the k - 1 others in a list of its own: memory and time in the square
    of k (a forged bundle of 20,000 outputs of one digest took 'tdprov export' gigabytes before it wrote a record).
    1,500 such datasets held 2.2 million entries (21 MB); now one shared list, and each still names every other, in
    order, its JSON naming the digest whose holders are listed once."""
    import tracemalloc

    from prov_common.w3cprov.graph import Edge, LineageGraph, Node, resolve_reads

    k, version = 1_500, "blake3:" + "e" * 64
    nodes = {"run": Node("run", RUN, "w", run_id="r", state="COMPLETE")}
    nodes.update({f"v{i:04}": Node(f"v{i:04}", VERSION, f"{i}.csv", dataset=f"/data/{i:04}.csv", namespace="file",
                                   version=version) for i in range(k)})
    edges = sorted(Edge("run", f"v{i:04}", GENERATED) for i in range(k))
    tracemalloc.start()
    try:
        graph = resolve_reads(LineageGraph(nodes, edges))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8_000_000, peak  # 21 MB before, 3 MB now
    others = [("file", f"/data/{i:04}.csv") for i in range(k) if i != 7]
    assert list(graph.nodes["v0007"].also) == others and len(graph.nodes["v0007"].also) == k - 1
    assert graph.nodes["v0007"].to_dict()["sameContentAs"] == version and graph.nodes["v0007"].also == tuple(others)


def test_a_holder_of_equal_bytes_is_read_by_its_place_without_walking_the_others() -> None:
    """``also[i]`` copied the k - 1 other holders into a tuple at each call, so reading them by place took time in the
    square of k. It is read from the shared list at its place: the list is never walked, and every place, negative
    places and slices give what the list of the others gives (an IndexError past either end)."""
    from prov_common.w3cprov.graph import Edge, LineageGraph, Node, resolve_reads

    class Unwalked(tuple):
        def __iter__(self):  # type: ignore[no-untyped-def]
            raise AssertionError("the shared list of holders was walked")

    k, version = 40, "blake3:" + "e" * 64
    nodes = {"run": Node("run", RUN, "w", run_id="r", state="COMPLETE")}
    nodes.update({f"v{i:02}": Node(f"v{i:02}", VERSION, f"{i}.csv", dataset=f"/data/{i:02}.csv", namespace="file",
                                   version=version) for i in range(k)})
    graph = resolve_reads(LineageGraph(nodes, sorted(Edge("run", f"v{i:02}", GENERATED) for i in range(k))))
    for own in (0, 7, k - 1):
        others = [("file", f"/data/{i:02}.csv") for i in range(k) if i != own]
        also = graph.nodes[f"v{own:02}"].also
        also._held = Unwalked(also._held)  # type: ignore[union-attr]
        assert [also[i] for i in range(k - 1)] == others and [also[-i] for i in range(1, k)] == others[::-1]
        assert also[3:9] == tuple(others[3:9]) and also[::-5] == tuple(others[::-5])
        for past in (k - 1, -k):
            with pytest.raises(IndexError):
                also[past]


def test_a_name_holding_an_html_entity_reads_as_written_in_graphviz_pictures() -> None:
    """Graphviz decodes HTML entities in a DOT string: a dataset named '/data/&#8238;vsc.exe' was drawn with a raw
    right-to-left override, and one named 'a&lt;b' as 'a<b', in 'dot' pictures and the audit report's. The DOT text
    escapes '&', so Graphviz draws each name as written (its '&#8238;' escaped, never the character)."""
    from prov_common.w3cprov.render import GRAPHVIZ, fitted_svg, graphviz_dot, render

    if graphviz_dot() is None:  # scripts/test installs Graphviz
        pytest.skip("Graphviz 'dot' is not installed")
    events = load("airflow_task.jsonl")
    name = "/data/&#8238;vsc.exe &lt;b&gt; a&amp;b"
    events[0]["outputs"][0]["name"] = events[1]["outputs"][0]["name"] = name
    graph = lineage_graph(events_to_document(events))
    svg = render(graph, "svg", "graphviz").decode("utf-8")
    assert "\u202e" not in svg
    root = ElementTree.fromstring(svg)
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    titles = [a.get("{http://www.w3.org/1999/xlink}title") for a in root.iter(f"{SVG}a")]
    assert any(name in t for t in texts), texts
    assert any(t and name in t for t in titles), titles
    picture, drawn_by = fitted_svg(graph, "lineage", 2000.0)  # the audit report's picture
    assert drawn_by == GRAPHVIZ and "\u202e" not in picture and "&amp;#8238;vsc.exe" in picture
