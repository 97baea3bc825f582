"""Pictures of a :class:`LineageGraph`: Graphviz DOT text and a small built-in layered SVG. No I/O.

Both follow the PROV colour conventions (entities as yellow ellipses, activities as blue boxes); a
failed run and a version with a failed quality check are outlined in red. Output is deterministic.
"""
from __future__ import annotations

from collections import defaultdict
from xml.sax.saxutils import escape as _escape

from prov_common.w3cprov.graph import RUN, LineageGraph, Node
from prov_common.w3cprov.ids import xml_text


def escape(text: str) -> str:
    """Text for SVG: XML-escaped, characters XML cannot hold replaced."""
    return _escape(xml_text(text), {'"': "&quot;"})

ENTITY_FILL, ACTIVITY_FILL, ALERT = "#FFFC87", "#9FB1FC", "#D62728"
FONT = "Helvetica, Arial, sans-serif"


def _alert(node: Node) -> bool:
    return bool(node.failed_checks) or node.state in {"FAIL", "ABORT"}


def _lines(node: Node) -> list[str]:
    lines = node.label.split("\n")
    if node.failed_checks:
        lines.append(f"✗ {len(node.failed_checks)} failed check{'s' if len(node.failed_checks) > 1 else ''}")
    return lines


def _dot_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(graph: LineageGraph, title: str = "lineage") -> str:
    """Graphviz DOT of the graph, data flowing left to right."""
    out = [f"digraph {_dot_string(title)} {{", "  rankdir=LR;",
           f'  node [fontname="{FONT}", fontsize=10, style=filled];', f'  edge [fontname="{FONT}", fontsize=8, color="#555555"];']
    for node in graph.nodes.values():
        shape, fill = ("box", ACTIVITY_FILL) if node.kind == RUN else ("ellipse", ENTITY_FILL)
        extra = f', color="{ALERT}", penwidth=2' if _alert(node) else ""
        tooltip = node.run_id or node.version or node.dataset or node.id
        out.append(f"  {_dot_string(node.id)} [label={_dot_string(chr(10).join(_lines(node)))}, shape={shape}, "
                   f'fillcolor="{fill}", tooltip={_dot_string(tooltip)}{extra}];')
    for edge in graph.edges:
        out.append(f"  {_dot_string(edge.source)} -> {_dot_string(edge.target)} [label={_dot_string(edge.kind)}];")
    out.append("}")
    return "\n".join(out) + "\n"


# ---- built-in SVG: longest-path layers, barycentre ordering, left-to-right -------------------------

CHAR_W, LINE_H, PAD_X, PAD_Y, GAP_X, GAP_Y, MARGIN = 6.6, 14.0, 14.0, 9.0, 70.0, 22.0, 20.0


def _ranks(graph: LineageGraph) -> dict[str, int]:
    """Longest path from the sources; edges closing a cycle are ignored."""
    successors: dict[str, list[str]] = defaultdict(list)
    for edge in graph.edges:
        successors[edge.source].append(edge.target)
    rank = {key: 0 for key in graph.nodes}
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(start: str) -> None:  # iterative DFS post-order (reverse = topological order)
        stack = [(start, iter(successors[start]))]
        state[start] = 1
        while stack:
            key, children = stack[-1]
            for child in children:
                if state.get(child, 0) == 0:
                    state[child] = 1
                    stack.append((child, iter(successors[child])))
                    break
            else:
                state[key] = 2
                order.append(key)
                stack.pop()

    for key in sorted(graph.nodes):
        if key not in state:
            visit(key)
    position = {key: i for i, key in enumerate(reversed(order))}
    for key in reversed(order):
        for child in successors[key]:
            if position[child] > position[key]:
                rank[child] = max(rank[child], rank[key] + 1)
    return rank


def _layers(graph: LineageGraph) -> list[list[str]]:
    rank = _ranks(graph)
    layers: list[list[str]] = [[] for _ in range(max(rank.values(), default=-1) + 1)]
    for key in sorted(graph.nodes):
        layers[rank[key]].append(key)
    neighbours: dict[str, list[str]] = defaultdict(list)
    for edge in graph.edges:
        neighbours[edge.source].append(edge.target)
        neighbours[edge.target].append(edge.source)
    for sweep in range(4):
        sequence = range(1, len(layers)) if sweep % 2 == 0 else range(len(layers) - 2, -1, -1)
        for index in sequence:
            ref = layers[index - 1] if sweep % 2 == 0 else layers[index + 1]
            where = {key: i for i, key in enumerate(ref)}

            def centre(key: str, layer: list[str] = layers[index], where: dict[str, int] = where) -> tuple[float, str]:
                near = [where[n] for n in neighbours[key] if n in where]
                return (sum(near) / len(near) if near else float(layer.index(key)), key)

            layers[index] = sorted(layers[index], key=centre)
    return layers


def _size(node: Node) -> tuple[float, float]:
    lines = _lines(node)
    width = max(len(line) for line in lines) * CHAR_W + 2 * PAD_X
    height = len(lines) * LINE_H + 2 * PAD_Y
    if node.kind != RUN:  # an ellipse needs room around its text
        width, height = width * 1.2, height * 1.15
    return round(width, 1), round(height, 1)


def render_svg(graph: LineageGraph, title: str = "lineage") -> str:
    """A self-contained SVG picture of the graph, without Graphviz (used when ``dot`` is missing and by reports)."""
    layers = _layers(graph)
    sizes = {key: _size(node) for key, node in graph.nodes.items()}
    columns = [max((sizes[k][0] for k in layer), default=0.0) for layer in layers]
    heights = [sum(sizes[k][1] for k in layer) + GAP_Y * max(len(layer) - 1, 0) for layer in layers]
    total_h = max(heights, default=0.0) + 2 * MARGIN
    total_w = sum(columns) + GAP_X * max(len(columns) - 1, 0) + 2 * MARGIN
    centre: dict[str, tuple[float, float]] = {}
    x = MARGIN
    for layer, width, height in zip(layers, columns, heights):
        y = (total_h - height) / 2
        for key in layer:
            centre[key] = (x + width / 2, y + sizes[key][1] / 2)
            y += sizes[key][1] + GAP_Y
        x += width + GAP_X
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w:.0f}" height="{total_h:.0f}" '
        f'viewBox="0 0 {total_w:.1f} {total_h:.1f}" font-family="{FONT}" font-size="11">',
        f"<title>{escape(title)}</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555555"/></marker></defs>',
        '<rect width="100%" height="100%" fill="white"/>',
    ]
    for edge in graph.edges:
        (x1, y1), (x2, y2) = centre[edge.source], centre[edge.target]
        x1 += sizes[edge.source][0] / 2
        x2 -= sizes[edge.target][0] / 2
        bend = max(abs(x2 - x1) / 2, 30.0)
        out.append(f'<g class="edge {edge.kind}"><path d="M{x1:.1f},{y1:.1f} C{x1 + bend:.1f},{y1:.1f} {x2 - bend:.1f},{y2:.1f} '
                   f'{x2:.1f},{y2:.1f}" fill="none" stroke="#555555" marker-end="url(#arrow)"/>'
                   f'<text x="{(x1 + x2) / 2:.1f}" y="{(y1 + y2) / 2 - 3:.1f}" text-anchor="middle" font-size="8" '
                   f'fill="#555555">{escape(edge.kind)}</text></g>')
    for key in sorted(graph.nodes):
        node, (cx, cy), (w, h) = graph.nodes[key], centre[key], sizes[key]
        stroke = f'stroke="{ALERT}" stroke-width="2"' if _alert(node) else 'stroke="#333333" stroke-width="1"'
        if node.kind == RUN:
            shape = f'<rect x="{cx - w / 2:.1f}" y="{cy - h / 2:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{ACTIVITY_FILL}" {stroke}/>'
        else:
            shape = f'<ellipse cx="{cx:.1f}" cy="{cy:.1f}" rx="{w / 2:.1f}" ry="{h / 2:.1f}" fill="{ENTITY_FILL}" {stroke}/>'
        lines = _lines(node)
        top = cy - (len(lines) - 1) * LINE_H / 2 + 4
        text = "".join(f'<tspan x="{cx:.1f}" y="{top + i * LINE_H:.1f}">{escape(line)}</tspan>' for i, line in enumerate(lines))
        tooltip = node.run_id or node.version or node.dataset or node.id
        out.append(f'<g class="node {node.kind}" id="{escape(node.id)}"><title>{escape(tooltip)}</title>{shape}'
                   f'<text text-anchor="middle">{text}</text></g>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
