"""The report's lineage picture: the training runs' upstream lineage, from run records and sources,
drawn top-down to fit the page (Graphviz when installed and its drawing fits, else the built-in layout)."""
from __future__ import annotations

from dataclasses import replace

from prov_common.audit.lineage import LineageIndex, run_order, version_of
from prov_common.audit.model import DatasetUse, RunRecord
from prov_common.sources.matching import add_matches
from prov_common.sources.model import SourceRecord, source_iri
from prov_common.w3cprov.render import fitted_svg
from prov_common.w3cprov.identity import dataset_label
from prov_common.w3cprov.lineage import data_node_id
from prov_common.w3cprov.graph import DATASET, GENERATED, RUN, USED, VERSION, Edge, LineageGraph, Node
from prov_common.w3cprov.source_links import source_name

MAX_TRAINING_RUNS = 5
MAX_NODES = 150
PICTURE_WIDTH = 1000.0  # CSS pixels: the report's content width at 1,280 px (print scales it to the page)


def _short(version: str | None) -> str:
    if not version:
        return "(no digest)"
    algo, _, hexpart = version.partition(":")
    return f"{algo}:{hexpart[:12]}" if hexpart else version[:16]


def _version_node(index: LineageIndex, d: DatasetUse, writer: RunRecord | None) -> Node:
    """What ``writer`` wrote (one node per generation), or what a reader read that no recorded run wrote; its checks
    failed and passed (Pandera's and the others', a Dagster asset check's; a Pandera result with no known outcome is
    neither, as in its PROV), each once, drawn as the lineage picture
    draws them: those every run that wrote or read the version recorded on it (a validation task that read it), as
    the report's quality results count them (:func:`~prov_common.audit.quality_gaps.lineage_quality`)."""
    uses = [d, *index.uses(version_of(d))] if d.version else [d]
    failed = {name: None for u in uses for name in (u.quality.failed_checks or ("pandera",) if u.quality and u.quality.passed is False else ())}
    failed |= {c.name: None for u in uses for c in u.checks if c.failed}
    passed = {name: None for u in uses for name in (u.quality.passed_checks if u.quality else ())}
    passed |= {c.name: None for u in uses for c in u.checks if c.status == "pass"}
    key = data_node_id(d.namespace, d.name, d.version, writer.run_id if writer else None)  # the pair hashed, as lineage keys it
    return Node(id=key, kind=VERSION, label=f"{dataset_label(d.namespace, d.name)}\n{_short(d.version)}", dataset=d.name,
                namespace=d.namespace, version=d.version, failed_checks=tuple(failed), passed_checks=tuple(passed))


def _source_node(s: SourceRecord, located: bool) -> Node:
    """A registered source at its digest (its record), keyed by its PROV qualified name in ``tdprov export``
    (:func:`~prov_common.w3cprov.source_links.source_name`): each digest registered under a name is a node of its own,
    labelled with its digest, and ``(same content)`` when no dataset drawn was read at its location
    (:func:`~prov_common.sources.matching.add_matches`)."""
    how = "" if located else " (same content)"
    return Node(id=str(source_name(source_iri(s))), kind=DATASET, label=f"source {s.name}{how}\n{_short(s.digest)}\n{s.issuer}",
                dataset=s.name)


def _run_node(r: RunRecord) -> Node:
    return Node(id=f"run:{r.run_id}", kind=RUN, label=f"{r.job_name}\n{r.state}", job=r.job_name,
                job_namespace=r.job_namespace, run_id=r.run_id, state=r.state,
                started=r.started_at, ended=r.ended_at)


def _candidates(index: LineageIndex) -> tuple[list[RunRecord], bool]:
    """The runs the picture starts from, newest first: the training runs (True), else every run (False); only
    those that read or wrote data (a DAG run, a sensor or an audit has no place in the lineage)."""
    training = [r for r in index.training_runs() if r.inputs or r.outputs]
    if training:
        return training, True
    return [r for r in sorted(index.runs.values(), key=run_order, reverse=True) if r.inputs or r.outputs], False


def lineage_graph(index: LineageIndex, roots: list[RunRecord] | None = None) -> LineageGraph:
    """Upstream lineage of ``roots`` (default: the newest training runs, else the newest runs)."""
    return _drawn(index, roots if roots is not None else _candidates(index)[0][:MAX_TRAINING_RUNS])[0]


def _drawn(index: LineageIndex, roots: list[RunRecord]) -> tuple[LineageGraph, bool]:
    """:func:`lineage_graph` of ``roots``, and whether it stopped at :data:`MAX_NODES` with runs still to draw."""
    graph = LineageGraph()
    edges: set[Edge] = set()
    reached: list[SourceRecord] = []  # the sources drawn, and those no drawn dataset reads at their location
    by_content: list[SourceRecord] = []
    todo = list(roots)
    while todo and len(graph.nodes) < MAX_NODES:
        run = todo.pop(0)
        if not run.inputs and not run.outputs:
            continue  # a run that touched no data (a DAG run, a sensor, the audit) has no place in the lineage
        node = _run_node(run)
        if node.id in graph.nodes:
            continue
        graph.nodes[node.id] = node
        broken = {id(link.dataset): link.reason for link in index.broken_inputs(run)}
        for d in run.outputs:
            if run in roots:
                out = _version_node(index, d, run)
                graph.nodes.setdefault(out.id, out)
                edges.add(Edge(node.id, out.id, GENERATED))
        for d in run.inputs:
            made = index.generator(d, run) if d.version else None
            v = _version_node(index, made[1] if made else d, made[0] if made else None)
            graph.nodes.setdefault(v.id, v)
            edges.add(Edge(v.id, node.id, USED))
            if made:
                edges.add(Edge(f"run:{made[0].run_id}", v.id, GENERATED))
                todo.append(made[0])
                continue
            sources, located = index.sources_of(d)
            if id(d) in broken:
                graph.nodes[v.id] = replace(v, broken=broken[id(d)])
            add_matches(reached, by_content, sources, located)
            for s in sources:
                src = _source_node(s, located)
                graph.nodes.setdefault(src.id, src)
                edges.add(Edge(src.id, v.id, GENERATED))
    for s in reached:  # labelled once every dataset that reaches it is known, not by the first
        node = _source_node(s, s not in by_content)
        if node.id in graph.nodes:
            graph.nodes[node.id] = node
    graph.edges = sorted(e for e in edges if e.source in graph.nodes and e.target in graph.nodes)
    return graph, any(f"run:{r.run_id}" not in graph.nodes and (r.inputs or r.outputs) for r in todo)


def _scope(graph: LineageGraph, roots: list[RunRecord], candidates: int, training: bool, cut: bool) -> str:
    """What the picture shows of the store, and what it leaves out (said on the page, as its tables do)."""
    drawn = sum(f"run:{r.run_id}" in graph.nodes for r in roots)
    noun = "training run" if training else "run"
    if drawn == candidates:
        shown = f"All {candidates} {noun}s" if candidates > 1 else f"The one {noun}"
    else:
        shown = f"The newest {drawn} of {candidates} {noun}s"
    text = (f"{shown} shown, {'each with' if drawn > 1 else 'with'} its upstream lineage"
            f"{'' if training else ' (no training run is recorded)'}.")
    if cut:
        text += f" The picture stops at {MAX_NODES} nodes: runs further upstream are not drawn."
    if cut or drawn < candidates:
        text += " 'tdprov lineage DATASET -o lineage.svg' draws the whole lineage of any dataset."
    return text


def lineage_svg(index: LineageIndex) -> tuple[str, str, str]:
    """Inline SVG of :func:`lineage_graph` (the newest training runs) at most ``PICTURE_WIDTH`` wide, what drew
    it, and what it shows of the store's runs and leaves out ("The newest 5 of 12 training runs shown ...")."""
    candidates, training = _candidates(index)
    roots = candidates[:MAX_TRAINING_RUNS]
    graph, cut = _drawn(index, roots)
    if not graph.nodes:
        return '<svg xmlns="http://www.w3.org/2000/svg" width="300" height="30"><text x="5" y="20">no runs recorded</text></svg>', "", ""
    svg, drawn_by = fitted_svg(graph, "lineage of the training inputs", PICTURE_WIDTH)
    return svg, drawn_by, _scope(graph, roots, len(candidates), training, cut)
