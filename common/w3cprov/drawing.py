"""Pictures of a :class:`LineageGraph`: Graphviz DOT text and a built-in top-down layered SVG. No I/O.

Both follow the PROV colour conventions (entities as yellow ellipses, activities as blue boxes); a
failed run, a version with a failed quality check (or one that raised an error) and a broken link are outlined in red,
a version whose quality checks all passed in green. A version's checks are counted on it (``✗ 2 failed checks`` and
``✗ 1 check raised an error`` in red, ``✓ 5 passed checks`` in green), named in its tooltip (the first few of each),
so a version of many checks stays one small node. A version whose content other datasets hold too says so ("= same
content as N other datasets", named in its tooltip): a fact, never an edge. Two datasets a picture shows whose labels
are alike (``inmemory://x`` of the names ``x`` and ``/x``) are each named ``NAMESPACE::NAME``
(:func:`~prov_common.w3cprov.identity.distinct_labels`), and two jobs of one name in two namespaces each
``namespace/name`` (:func:`~prov_common.w3cprov.identity.distinct_jobs`), as the ``lineage`` text tree names them.
Output is deterministic.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape as _escape

from prov_common.text import cells, counted, first_of, shortened, visible
from prov_common.w3cprov.events import extent_text
from prov_common.w3cprov.graph import HOLDERS_NAMED, LABEL_WIDTH, RUN, LineageGraph, Node, named_holders
from prov_common.w3cprov.identity import DatasetLabels, JobLabels, dataset_label, distinct_jobs, distinct_labels
from prov_common.w3cprov.ids import short_hash, slug, xml_text
from prov_common.w3cprov.layout import MARGIN, Layout, label_width, layered_layout

Point = tuple[float, float]


def drawn(graph: LineageGraph) -> str:
    """What a picture of ``graph`` shows, counted: ``3 runs, 5 datasets/versions``."""
    runs = sum(node.kind == RUN for node in graph.nodes.values())
    return f"{counted(runs, 'run')}, {counted(len(graph.nodes) - runs, 'dataset/version', 'datasets/versions')}"


def escape(text: str) -> str:
    """Text for SVG: XML-escaped, characters XML cannot hold replaced."""
    return _escape(xml_text(text), {'"': "&quot;"})


_XML_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]*")


def svg_id(key: str) -> str:
    """An XML name for the SVG ``id`` of the node ``key`` (SVG 1.1 types ids so; the W3C HTML checker refuses any other
    in an inline picture): ``key`` itself where it is one (a PROV qualified name), else ``node-`` + its slug and hash."""
    return key if _XML_NAME.fullmatch(key) else f"node-{slug(key)}-{short_hash(key)}"

ENTITY_FILL, ACTIVITY_FILL, ALERT, PASSED = "#FFFC87", "#9FB1FC", "#D62728", "#1A7F37"
FAILED_MARK, PASSED_MARK = "✗", "✓"  # a line of failed checks (or a broken link), of passed checks
CHECKS_NAMED = 8  # checks of each outcome a tooltip names, the rest counted
FONT = "Helvetica, Arial, sans-serif"


def _alert(node: Node) -> bool:
    """A failure: a failed check, a check that raised (no outcome, so the version did not pass), a broken link or a
    failed run."""
    return bool(node.failed_checks or node.errored_checks or node.broken) or node.state in {"FAIL", "ABORT"}


def _outline(node: Node) -> str | None:
    """The colour of the node's outline, where it tells something: red for a failure, green for checks all passed."""
    return ALERT if _alert(node) else PASSED if node.passed_checks else None


def _line_colours(node: Node, lines: list[str]) -> list[str | None]:
    """The colour of each of the node's ``lines`` (:func:`_lines`): red for what failed, green for checks that passed,
    none for the rest; its label's lines (names, which may begin with any character) are never coloured."""
    named = node.label.count("\n") + 1
    return [None if i < named else ALERT if line.startswith(FAILED_MARK) else PASSED if line.startswith(PASSED_MARK)
            else None for i, line in enumerate(lines)]


@dataclass(frozen=True)
class Names:
    """How a picture names the datasets and the jobs it shows (:func:`shown_names`)."""

    datasets: DatasetLabels
    jobs: JobLabels


def shown_names(graph: LineageGraph) -> Names:
    """How a picture of ``graph`` names each dataset it shows (its data nodes' and those they hold the same content
    as): :func:`~prov_common.w3cprov.identity.distinct_labels`, so that two written alike are told apart; and the job
    of each run whose namespace it knows: :func:`~prov_common.w3cprov.identity.distinct_jobs`."""
    return Names(distinct_labels([*((n.namespace, n.dataset) for n in graph.nodes.values()
                                    if n.kind != RUN and n.namespace is not None and n.dataset),
                                  *(d for n in graph.nodes.values() for d in named_holders(n.also))]),
                 distinct_jobs((n.job_namespace, n.job) for n in graph.nodes.values()
                               if n.kind == RUN and n.job_namespace is not None and n.job))


def _lines(node: Node, names: Names) -> list[str]:
    """The node's text as shown: its name :func:`visible` (a bidi control cannot make it read as another); a data
    node's first line, its dataset's label, and a run's, its job, as ``names`` gives them where that differs (another's
    label is alike, another job has that name)."""
    lines = node.label.split("\n")
    if node.kind != RUN and node.dataset and node.namespace is not None:
        shown = names.datasets[(node.namespace, node.dataset)]
        if shown != dataset_label(node.namespace, node.dataset):
            lines[0] = shortened(shown, LABEL_WIDTH)
    elif node.kind == RUN and node.job and node.job_namespace is not None:
        shown = names.jobs[(node.job_namespace, node.job)]
        if shown != node.job:
            lines[0] = shortened(shown, LABEL_WIDTH)
    lines = visible("\n".join(lines)).split("\n")
    if node.shards is not None:
        lines.append(extent_text(None, node.shards) or "")
    if node.failed_checks:
        lines.append(f"{FAILED_MARK} {counted(len(node.failed_checks), 'failed check')}")
    if node.errored_checks:
        lines.append(f"{FAILED_MARK} {counted(len(node.errored_checks), 'check')} raised an error")
    if node.passed_checks:
        lines.append(f"{PASSED_MARK} {counted(len(node.passed_checks), 'passed check')}")
    if node.broken:
        lines.append(f"{FAILED_MARK} broken link")
    if node.also:
        lines.append(f"= same content as {counted(len(node.also), 'other dataset')}")
    return lines


def _tooltip(node: Node, names: Names) -> str:
    """The node's run id, version or name, its checks (the first few of each outcome) and the other datasets that hold
    the same content (as ``names`` gives them)."""
    text = node.run_id or node.version or node.dataset or node.id
    for outcome, checks in (("failed", node.failed_checks), ("raised an error", node.errored_checks),
                            ("passed", node.passed_checks)):
        if checks:
            text += f"\n{outcome}: {first_of(checks, CHECKS_NAMED)}"
    if node.broken:
        text += f"\nbroken link: {node.broken}"
    if node.also:
        text += f"\nsame content as: {same_content(node.also, names.datasets)}"
    return visible(text)


def same_content(also: Sequence[tuple[str, str]], labels: DatasetLabels) -> str:
    """The other datasets that hold a version's content (a node's ``also``) as a picture and the text tree name them:
    the first :data:`~prov_common.w3cprov.graph.HOLDERS_NAMED` by their ``labels``, the rest counted."""
    return first_of([labels[d] for d in named_holders(also)], HOLDERS_NAMED, total=len(also))


def _dot_string(text: str) -> str:
    """``text`` as a quoted DOT string; its '&' escaped, since Graphviz decodes an HTML entity in one ('&#8238;' drew a
    right-to-left override, '&lt;' a '<')."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("&", "&amp;") + '"'


def to_dot(graph: LineageGraph, title: str = "lineage") -> str:
    """Graphviz DOT of the graph, data flowing top-down."""
    out = [f"digraph {_dot_string(visible(title))} {{", "  rankdir=TB;",
           f'  node [fontname="{FONT}", fontsize=10, style=filled];', f'  edge [fontname="{FONT}", fontsize=8, color="#555555"];']
    names = shown_names(graph)
    for node in graph.nodes.values():
        shape, fill = ("box", ACTIVITY_FILL) if node.kind == RUN else ("ellipse", ENTITY_FILL)
        outline = _outline(node)
        extra = f', color="{outline}", penwidth=2' if outline else ""
        out.append(f"  {_dot_string(node.id)} [label={_dot_string(chr(10).join(_lines(node, names)))}, shape={shape}, "
                   f'fillcolor="{fill}", tooltip={_dot_string(_tooltip(node, names))}{extra}];')
    for edge in graph.edges:
        out.append(f"  {_dot_string(edge.source)} -> {_dot_string(edge.target)} [label={_dot_string(edge.kind)}];")
    out.append("}")
    return "\n".join(out) + "\n"


# ---- built-in SVG: the top-down layered layout of :mod:`.layout` --------------------------------

CHAR_W, LINE_H, PAD_X, PAD_Y = 6.6, 14.0, 14.0, 9.0  # CHAR_W: per terminal cell (prov_common.text.cells)
PAGE_WIDTH = 1200.0  # default width limit of the built-in picture, in CSS pixels
MIN_W = 2 * (label_width("generated") + 8)  # room below a node for its edge label


def _fitted_lines(node: Node, names: Names, max_width: float | None) -> list[str]:
    """The node's text, each line shortened from the left so the node fits ``max_width``."""
    lines = _lines(node, names)
    if max_width is None:
        return lines
    factor = 1.0 if node.kind == RUN else 1.2
    keep = max(int((max_width - 2 * MARGIN - 2 * PAD_X * factor) / (CHAR_W * factor)), 8)
    return [shortened(line, keep) for line in lines]


def _size(lines: list[str], kind: str) -> tuple[float, float]:
    width = max(max(cells(line) for line in lines) * CHAR_W + 2 * PAD_X, MIN_W)  # a wide (CJK, emoji) character: two
    height = len(lines) * LINE_H + 2 * PAD_Y
    if kind != RUN:  # an ellipse needs room around its text
        width, height = width * 1.2, height * 1.15
    return round(width, 1), round(height, 1)


def _path(points: tuple[Point, ...], start: int = 0, end: int | None = None) -> str:
    """Vertical runs inside rows, a smooth S-curve across each gap between rows (it stays in the gap);
    from point ``start`` to point ``end`` (the parts outside are drawn by other edges)."""
    out = [f"M{points[start][0]:.1f},{points[start][1]:.1f}"]
    for i in range(start + 1, len(points) if end is None else end + 1):
        (x0, y0), (x1, y1) = points[i - 1], points[i]
        if i % 2:  # inside a row: straight down
            out.append(f"L{x1:.1f},{y1:.1f}")
        else:  # across a gap
            mid = (y0 + y1) / 2
            out.append(f"C{x0:.1f},{mid:.1f} {x1:.1f},{mid:.1f} {x1:.1f},{y1:.1f}")
    return " ".join(out)


def _undrawn(points: tuple[Point, ...], drawn: set[tuple[Point, Point]]) -> tuple[int, int]:
    """The first and last point of the part of an edge that earlier edges did not draw: edges that leave
    one node share a trunk down to where each branches off, edges that enter one node share one from
    where each joins it. At least one segment is left to draw."""
    start, end = 0, len(points) - 1
    while start < end - 1 and (points[start], points[start + 1]) in drawn:
        start += 1
    while end > start + 1 and (points[end - 1], points[end]) in drawn:
        end -= 1
    return start, end


def layout_of(graph: LineageGraph, max_width: float | None = PAGE_WIDTH, *,
              names: Names) -> tuple[Layout, dict[str, list[str]]]:
    """The built-in layout of ``graph`` and each node's text lines (``names``: :func:`shown_names` of it)."""
    lines = {key: _fitted_lines(node, names, max_width) for key, node in graph.nodes.items()}
    return layered_layout(graph, lambda key: _size(lines[key], graph.nodes[key].kind), max_width), lines


def render_svg(graph: LineageGraph, title: str = "lineage", max_width: float | None = PAGE_WIDTH) -> str:
    """A self-contained SVG picture of the graph, data flowing top-down, at most ``max_width`` wide
    where the graph allows (wide layers wrap onto several rows). No Graphviz needed."""
    names = shown_names(graph)
    layout, lines_of = layout_of(graph, max_width, names=names)
    w, h = layout.width, layout.height
    scale = 1.0 if max_width is None or w <= max_width else max_width / w  # a row of long edges no wrap can narrow
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w * scale:.0f}" height="{h * scale:.0f}" '
        f'viewBox="0 0 {w:.1f} {h:.1f}" font-family="{FONT}" font-size="11">',
        f"<title>{escape(visible(title))}</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555555"/></marker></defs>',
        '<rect width="100%" height="100%" fill="white"/>',
    ]
    drawn: set[tuple[Point, Point]] = set()
    for route in layout.routes:
        last = len(route.points) - 1
        start, end = (0, last) if route.reversed else _undrawn(route.points, drawn)  # an arrow at the start: whole
        drawn.update(zip(route.points, route.points[1:]))
        arrow = "marker-start" if route.reversed else "marker-end" if end == last else ""  # joined a drawn arrow
        out.append(f'<path class="edge {route.kind}" data-source="{escape(route.source)}" data-target="{escape(route.target)}" '
                   f'd="{_path(route.points, start, end)}" fill="none" stroke="#555555"'
                   + (f' {arrow}="url(#arrow)"/>' if arrow else "/>"))
    for label in layout.labels:
        out.append(f'<text class="edge-label" x="{label.x:.1f}" y="{label.y:.1f}" font-size="8" fill="#555555">{escape(label.text)}</text>')
    for key in sorted(graph.nodes):
        node, box = graph.nodes[key], layout.nodes[key]
        cx, cy, bw, bh = box.cx, box.cy, box.x1 - box.x0, box.y1 - box.y0
        outline = _outline(node)
        stroke = f'stroke="{outline}" stroke-width="2"' if outline else 'stroke="#333333" stroke-width="1"'
        if node.kind == RUN:
            shape = f'<rect x="{box.x0:.1f}" y="{box.y0:.1f}" width="{bw:.1f}" height="{bh:.1f}" fill="{ACTIVITY_FILL}" {stroke}/>'
        else:
            shape = f'<ellipse cx="{cx:.1f}" cy="{cy:.1f}" rx="{bw / 2:.1f}" ry="{bh / 2:.1f}" fill="{ENTITY_FILL}" {stroke}/>'
        lines = lines_of[key]
        top = cy - (len(lines) - 1) * LINE_H / 2 + 4
        text = "".join(f'<tspan x="{cx:.1f}" y="{top + i * LINE_H:.1f}"' + (f' fill="{colour}"' if colour else "")
                       + f">{escape(line)}</tspan>" for i, (line, colour) in enumerate(zip(lines, _line_colours(node, lines))))
        out.append(f'<g class="node {node.kind}" id="{svg_id(node.id)}" data-node="{escape(node.id)}"><title>{escape(_tooltip(node, names))}</title>{shape}'
                   f'<text text-anchor="middle">{text}</text></g>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
