"""Geometry of a drawn lineage picture, read back from the SVG itself: node boxes, edge paths (curves
sampled), edge labels; and the checks the tests make on it (no edge through a node, no overlaps, fits).
Also the synthetic graphs they draw (:func:`graph_of`, used by ``benchmarks/bench_layout.py`` too)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from xml.etree import ElementTree

from prov_common.w3cprov.graph import GENERATED, RUN, USED, VERSION, Edge, LineageGraph, Node

SVG = "{http://www.w3.org/2000/svg}"
Box = tuple[float, float, float, float]  # x0, y0, x1, y1
Point = tuple[float, float]


def graph_of(edges: list[tuple[str, str]], version_label: str = "blake3:0123456789ab") -> LineageGraph:
    """A graph from (source, target) pairs; names starting with 'run' are runs, the rest versions."""
    graph = LineageGraph()
    for key in sorted({k for pair in edges for k in pair}):
        kind = RUN if key.startswith("run") else VERSION
        graph.nodes[key] = Node(key, kind, f"{key}\n{'COMPLETE' if kind == RUN else version_label}")
    graph.edges = sorted(Edge(a, b, GENERATED if a.startswith("run") else USED) for a, b in edges)
    return graph


@dataclass
class Picture:
    width: float
    nodes: dict[str, Box]
    edges: list[tuple[str, str, list[Point]]]  # source, target, polyline
    labels: list[Box]


def _cubic(p0: Point, p1: Point, p2: Point, p3: Point, steps: int = 32) -> list[Point]:
    out = []
    for i in range(1, steps + 1):
        t = i / steps
        a, b, c, d = (1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t ** 2, t ** 3
        out.append((a * p0[0] + b * p1[0] + c * p2[0] + d * p3[0], a * p0[1] + b * p1[1] + c * p2[1] + d * p3[1]))
    return out


def polyline(d: str) -> list[Point]:
    """The points of an SVG path made of absolute M, L and C commands, curves sampled finely."""
    points: list[Point] = []
    for command, args in re.findall(r"([MLC])([^MLC]*)", d):
        numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", args)]
        pairs = list(zip(numbers[::2], numbers[1::2]))
        if command == "M":
            points.append(pairs[0])
        elif command == "L":
            points.extend(pairs)
        else:  # one or more cubic pieces (Graphviz writes a poly-Bezier in one command)
            for i in range(0, len(pairs) - 2, 3):
                points.extend(_cubic(points[-1], *pairs[i:i + 3]))
    return points


def read_picture(svg: str) -> Picture:
    root = ElementTree.fromstring(svg)
    nodes: dict[str, Box] = {}
    for group in root.iter(f"{SVG}g"):
        if "node" not in (group.get("class") or "").split():
            continue
        rect, ellipse = group.find(f"{SVG}rect"), group.find(f"{SVG}ellipse")
        if rect is not None:
            x, y, w, h = (float(rect.get(k)) for k in ("x", "y", "width", "height"))
        else:
            cx, cy, rx, ry = (float(ellipse.get(k)) for k in ("cx", "cy", "rx", "ry"))
            x, y, w, h = cx - rx, cy - ry, 2 * rx, 2 * ry
        nodes[group.get("data-node")] = (x, y, x + w, y + h)
    edges = [(p.get("data-source"), p.get("data-target"), polyline(p.get("d"))) for p in root.iter(f"{SVG}path")
             if "edge" in (p.get("class") or "").split()]
    labels = []
    for text in root.iter(f"{SVG}text"):
        if text.get("class") == "edge-label":
            x, y = float(text.get("x")), float(text.get("y"))
            labels.append((x, y - 9.0, x + len(text.text or "") * 4.8, y + 2.0))
    scale = float(root.get("width")) / float(root.get("viewBox").split()[2])  # drawn size / coordinates
    if scale != 1.0:
        nodes = {k: tuple(v * scale for v in b) for k, b in nodes.items()}
        edges = [(s, t, [(x * scale, y * scale) for x, y in points]) for s, t, points in edges]
        labels = [tuple(v * scale for v in b) for b in labels]
    return Picture(float(root.get("width")), nodes, edges, labels)


def _segment_hits_box(a: Point, b: Point, box: Box) -> bool:
    """Whether segment a-b enters the open interior of ``box`` (Liang-Barsky clipping)."""
    x0, y0, x1, y1 = box[0] + 0.5, box[1] + 0.5, box[2] - 0.5, box[3] - 0.5
    dx, dy = b[0] - a[0], b[1] - a[1]
    lo, hi = 0.0, 1.0
    for p, q in ((-dx, a[0] - x0), (dx, x1 - a[0]), (-dy, a[1] - y0), (dy, y1 - a[1])):
        if p == 0:
            if q < 0:
                return False
            continue
        t = q / p
        if p < 0:
            lo = max(lo, t)
        else:
            hi = min(hi, t)
        if lo > hi:
            return False
    return True


def edges_through_nodes(picture: Picture) -> list[str]:
    """Every (edge, node) where the edge's drawn path crosses a node other than its own two ends."""
    out = []
    for source, target, points in picture.edges:
        for key, box in picture.nodes.items():
            if key in (source, target):
                continue
            if any(_segment_hits_box(a, b, box) for a, b in zip(points, points[1:])):
                out.append(f"{source} -> {target} crosses {key}")
    return out


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def overlaps(picture: Picture) -> list[str]:
    """Nodes that overlap nodes, labels that overlap labels or nodes."""
    nodes = list(picture.nodes.items())
    out = [f"{a} overlaps {b}" for i, (a, ba) in enumerate(nodes) for b, bb in nodes[i + 1:] if _overlap(ba, bb)]
    out += [f"label {a} overlaps label {b}" for i, a in enumerate(picture.labels) for b in picture.labels[i + 1:] if _overlap(a, b)]
    out += [f"label {a} overlaps node {k}" for a in picture.labels for k, b in nodes if _overlap(a, b)]
    return out


def outside(picture: Picture, width: float) -> list[str]:
    """Nodes and labels that reach past ``width`` (or past the picture's own width)."""
    limit = min(width, picture.width)
    return [f"{k} ends at x={b[2]:.0f}" for k, b in picture.nodes.items() if b[0] < 0 or b[2] > limit] + \
        [f"label ends at x={b[2]:.0f}" for b in picture.labels if b[2] > limit]


@dataclass
class Ellipse:
    cx: float
    cy: float
    rx: float
    ry: float

    def inside(self, p: Point, margin: float = 1.0) -> bool:
        rx, ry = self.rx - margin, self.ry - margin
        return rx > 0 and ry > 0 and ((p[0] - self.cx) / rx) ** 2 + ((p[1] - self.cy) / ry) ** 2 < 1.0


def read_graphviz(svg: str) -> tuple[dict[str, Box | Ellipse], list[tuple[str, str, list[Point]]]]:
    """Node shapes (boxes, ellipses) and edge paths of an SVG drawn by Graphviz ``dot``, by node name."""
    if "xmlns:xlink" not in svg:  # the report drops the declaration; HTML does not need it, XML does
        svg = svg.replace("<svg ", '<svg xmlns:xlink="http://www.w3.org/1999/xlink" ', 1)
    root = ElementTree.fromstring(svg)
    shapes: dict[str, Box | Ellipse] = {}
    edges = []
    for group in root.iter(f"{SVG}g"):
        kind, title = group.get("class"), group.findtext(f"{SVG}title")
        if kind == "node":
            ellipse, polygon = group.find(f".//{SVG}ellipse"), group.find(f".//{SVG}polygon")
            if ellipse is not None:
                shapes[title] = Ellipse(*(float(ellipse.get(k)) for k in ("cx", "cy", "rx", "ry")))
            else:
                xy = [tuple(map(float, pair.split(","))) for pair in polygon.get("points").split()]
                shapes[title] = (min(x for x, _ in xy), min(y for _, y in xy), max(x for x, _ in xy), max(y for _, y in xy))
        elif kind == "edge":
            source, _, target = title.partition("->")
            edges.append((source, target, polyline(group.find(f"{SVG}path").get("d"))))
    return shapes, edges


def graphviz_edges_through_nodes(svg: str) -> list[str]:
    """Like :func:`edges_through_nodes` for a Graphviz drawing, sampling each path every pixel or so."""
    shapes, edges = read_graphviz(svg)
    out = []
    for source, target, points in edges:
        samples = [p for a, b in zip(points, points[1:]) for p in _steps(a, b)]
        for key, shape in shapes.items():
            if key in (source, target):
                continue
            hit = any(shape.inside(p) for p in samples) if isinstance(shape, Ellipse) else \
                any(shape[0] + 1 < x < shape[2] - 1 and shape[1] + 1 < y < shape[3] - 1 for x, y in samples)
            if hit:
                out.append(f"{source} -> {target} crosses {key}")
    return out


def _steps(a: Point, b: Point) -> list[Point]:
    n = max(int(max(abs(b[0] - a[0]), abs(b[1] - a[1]))), 1)
    return [(a[0] + (b[0] - a[0]) * i / n, a[1] + (b[1] - a[1]) * i / n) for i in range(n + 1)]
