"""Top-down layered layout of a :class:`LineageGraph` that fits a given width. Geometry only, no I/O.

The steps of a Sugiyama-style drawing, kept small:
1. edges that close a cycle are turned round (drawn with the arrow at their start);
2. rows: longest path from the origins, each row filled up to the width available; a node that
   does not fit moves to the next row (a wide layer wraps onto several rows);
3. a dummy point on every row a long edge crosses, so the edge runs down its own free slot and
   never through a node;
4. order in each row by the barycentre of the neighbours, sweeping down and up;
5. x by least squares towards the neighbours' positions under the spacing constraints
   (pool-adjacent-violators), the row kept inside the width.

Edges leave a node at the middle of its bottom side and enter at the middle of the top side; between
two rows they stay in the gap between the rows' bands, inside a row they run vertically through a
dummy's slot. Labels: one per node and edge kind, just below the node, inside its own column.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from prov_common.text import cells
from prov_common.w3cprov.graph import LineageGraph

NODE_GAP, ROW_GAP, MARGIN, DUMMY_W = 24.0, 40.0, 16.0, 8.0
LABEL_CHAR_W, LABEL_H = 4.8, 9.0
SWEEPS, LARGE = 8, 20_000  # sweeps of the ordering and placement; with more slots than LARGE, 2 sweeps
BUDGET_ROUNDS = 8  # after these, a row still too wide is left so (the picture is scaled to the width)


@dataclass(frozen=True)
class Box:
    """An axis-aligned rectangle (a node's bounding box or a label's)."""

    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def cx(self) -> float:
        return (self.x0 + self.x1) / 2

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2


@dataclass(frozen=True)
class Route:
    """An edge's path: vertices from its upper end to its lower end. ``reversed``: the edge points up."""

    source: str
    target: str
    kind: str
    points: tuple[tuple[float, float], ...]
    reversed: bool = False


@dataclass(frozen=True)
class Label:
    """An edge label: ``text`` with its baseline-left corner at (x, y) and its bounding ``box``."""

    text: str
    x: float
    y: float
    box: Box


@dataclass
class Layout:
    """Where everything goes: node boxes, edge routes, labels, and the picture's size."""

    width: float
    height: float
    nodes: dict[str, Box] = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)


def label_width(text: str) -> float:
    """Estimated width of an edge label (a wide character takes two cells' width)."""
    return cells(text) * LABEL_CHAR_W


def _acyclic(graph: LineageGraph) -> list[tuple[str, str, bool]]:
    """The edges as (upper, lower, reversed), back edges of a depth-first search turned round, self-loops left out."""
    successors: dict[str, list[str]] = defaultdict(list)
    for edge in graph.edges:
        successors[edge.source].append(edge.target)
    state: dict[str, int] = {}
    back: set[tuple[str, str]] = set()
    for start in sorted(graph.nodes):
        if start in state:
            continue
        state[start] = 1
        stack = [(start, iter(sorted(successors[start])))]
        while stack:
            key, children = stack[-1]
            for child in children:
                if state.get(child, 0) == 0:
                    state[child] = 1
                    stack.append((child, iter(sorted(successors[child]))))
                    break
                if state[child] == 1:
                    back.add((key, child))
            else:
                state[key] = 2
                stack.pop()
    out = []
    for edge in graph.edges:
        if edge.source == edge.target:
            continue
        turned = (edge.source, edge.target) in back
        out.append((edge.target, edge.source, True) if turned else (edge.source, edge.target, False))
    return out


def _adjacent(edges: list[tuple[str, str, bool]]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(predecessors, successors) of every node along the downward edges."""
    preds: dict[str, list[str]] = defaultdict(list)
    succs: dict[str, list[str]] = defaultdict(list)
    for upper, lower, _ in edges:
        preds[lower].append(upper)
        succs[upper].append(lower)
    return preds, succs


def _longest_path(nodes: list[str], preds: dict[str, list[str]]) -> dict[str, int]:
    rank: dict[str, int] = {}
    for start in nodes:
        stack = [start]
        while stack:
            key = stack[-1]
            if key in rank:
                stack.pop()
                continue
            todo = [p for p in preds[key] if p not in rank]
            if todo:
                stack.extend(todo)
                continue
            rank[key] = max((rank[p] + 1 for p in preds[key]), default=0)
            stack.pop()
    return rank


def _assign_rows(nodes: list[str], preds: dict[str, list[str]], succs: dict[str, list[str]], rank: dict[str, int],
                 widths: dict[str, float], budgets: dict[int, float], limit: float) -> dict[str, int]:
    """Rows filled up to their budget (a wide layer wraps onto the next rows). The node placed next is
    the one that can go highest; on a tie, the deeper one (a run goes right under what it reads);
    ``rank``: each node's longest path from a top node."""
    used: dict[int, float] = defaultdict(float)
    row: dict[str, int] = {}
    waiting = {key: len(set(preds[key])) for key in nodes}
    # per node width: a row too full for it -> a row further down to try (path-compressed). Rows only
    # fill up, so a row once too full for a width stays so: each row is passed over once per width.
    too_full: dict[float, dict[int, int]] = defaultdict(dict)

    def open_row(skip: dict[int, int], r: int) -> int:
        path = []
        while r in skip:
            path.append(r)
            r = skip[r]
        for p in path:
            skip[p] = r
        return r

    def first_free(key: str, r: int) -> int:
        """The first row from ``r`` down that has room for ``key`` (an empty row always has)."""
        width, skip = widths[key], too_full[widths[key]]
        r = open_row(skip, r)
        while used[r] and used[r] + NODE_GAP + width > budgets.get(r, limit):
            skip[r] = r + 1
            r = open_row(skip, r + 1)
        return r

    trying: dict[int, list[tuple[int, str]]] = defaultdict(list)  # row -> (-rank, key) of the nodes to try there

    def inputs_placed(key: str) -> None:
        trying[first_free(key, max((row[p] + 1 for p in preds[key]), default=0))].append((-rank[key], key))

    for key in nodes:
        if not waiting[key]:
            inputs_placed(key)
    r = 0
    while trying:  # rows top-down: a node only ever moves down, and what it feeds starts below it
        for minus_rank, key in sorted(trying.pop(r, ())):
            now = first_free(key, r)
            if now != r:  # the row filled up before its turn
                trying[now].append((minus_rank, key))
                continue
            used[r] += (NODE_GAP if used[r] else 0.0) + widths[key]
            row[key] = r
            for child in set(succs[key]):
                waiting[child] -= 1
                if not waiting[child]:
                    inputs_placed(child)
        r += 1
    return row


def _chains(edges: list[tuple[str, str, bool]], row: dict[str, int]) -> list[tuple[str, ...]]:
    """Per edge, its upper end, one dummy per row crossed, its lower end. Long edges that leave one node
    share their dummies (one trunk that branches off row by row), and so do long edges that enter one
    node: a wide fan-out or fan-in costs one slot per row, not one per edge."""
    long_out: dict[str, int] = defaultdict(int)
    long_in: dict[str, int] = defaultdict(int)
    for upper, lower, _ in edges:
        if row[lower] - row[upper] > 1:
            long_out[upper] += 1
            long_in[lower] += 1
    chains = []
    for i, (upper, lower, _) in enumerate(edges):
        trunk = f"out:{upper}" if long_out[upper] > 1 else f"in:{lower}" if long_in[lower] > 1 else f"edge:{i}"
        dummies = tuple(f"\0{trunk}:{r}" for r in range(row[upper] + 1, row[lower]))
        chains.append((upper, *dummies, lower))
    return chains


Neighbours = dict[str, list[str]]


def _neighbours(chains: list[tuple[str, ...]]) -> tuple[Neighbours, Neighbours]:
    """Each slot's neighbours in the row above (``up``) and below (``down``), once each, in chain order."""
    up: dict[str, dict[str, None]] = defaultdict(dict)
    down: dict[str, dict[str, None]] = defaultdict(dict)
    for chain in chains:
        for a, b in zip(chain, chain[1:]):
            down[a][b] = None
            up[b][a] = None
    return defaultdict(list, {k: list(v) for k, v in up.items()}), defaultdict(list, {k: list(v) for k, v in down.items()})


def _order(rows: list[list[str]], up: Neighbours, down: Neighbours, sweeps: int) -> list[list[str]]:
    """Barycentre ordering, sweeping down then up."""
    rows = [list(r) for r in rows]
    for sweep in range(sweeps):
        going_down = sweep % 2 == 0
        sequence = range(1, len(rows)) if going_down else range(len(rows) - 2, -1, -1)
        for index in sequence:
            ref = {key: i for i, key in enumerate(rows[index - 1] if going_down else rows[index + 1])}
            near = up if going_down else down
            current = {key: i for i, key in enumerate(rows[index])}

            def centre(key: str, ref: dict[str, int] = ref, near: dict[str, list[str]] = near,
                       current: dict[str, int] = current) -> tuple[float, int]:
                seen = [ref[n] for n in near[key] if n in ref]
                return (sum(seen) / len(seen) if seen else float(current[key]) * len(ref) / max(len(current), 1), current[key])

            rows[index] = sorted(rows[index], key=centre)
    return rows


def _isotonic(values: list[float]) -> list[float]:
    """The non-decreasing sequence closest to ``values`` in least squares (pool adjacent violators)."""
    blocks: list[list[float]] = []  # [mean, count]
    for value in values:
        blocks.append([value, 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            mean, count = blocks.pop()
            prev = blocks[-1]
            prev[0] = (prev[0] * prev[1] + mean * count) / (prev[1] + count)
            prev[1] += count
    out: list[float] = []
    for mean, count in blocks:
        out += [mean] * int(count)
    return out


def place_row(desired: list[float], widths: list[float], lo: float, hi: float) -> list[float]:
    """Centres as close as possible to ``desired`` with ``NODE_GAP`` between neighbours, inside [lo, hi]
    when the row fits there (else starting at ``lo``)."""
    offsets = [0.0]
    for a, b in zip(widths, widths[1:]):
        offsets.append(offsets[-1] + (a + b) / 2 + NODE_GAP)
    if not desired:
        return []
    # in y = x - offset the spacing becomes y non-decreasing; clipping the isotonic fit to the bounds
    # is the bounded least-squares solution
    low, high = lo + widths[0] / 2, hi - widths[-1] / 2 - offsets[-1]
    fitted = [min(max(z, low), max(high, low)) for z in _isotonic([d - o for d, o in zip(desired, offsets)])]
    return [z + o for z, o in zip(fitted, offsets)]


def _row_width(members: list[str], widths: dict[str, float]) -> float:
    """A row's width: its nodes (a long edge's dummy node is DUMMY_W wide) and the gaps between them."""
    return sum(widths.get(k, DUMMY_W) for k in members) + NODE_GAP * max(len(members) - 1, 0)


def _x_positions(rows: list[list[str]], up: Neighbours, down: Neighbours, widths: dict[str, float], lo: float, hi: float,
                 sweeps: int) -> dict[str, float]:
    x: dict[str, float] = {}
    for row in rows:  # start packed and centred
        total = _row_width(row, widths)
        at = lo + max((hi - lo - total) / 2, 0.0)
        for key in row:
            x[key] = at + widths[key] / 2
            at += widths[key] + NODE_GAP
    for sweep in range(sweeps):
        going_down = sweep % 2 == 0
        sequence = range(1, len(rows)) if going_down else range(len(rows) - 2, -1, -1)
        near = up if going_down else down
        for index in sequence:
            row = rows[index]
            desired = [sum(x[n] for n in near[k]) / len(near[k]) if near[k] else x[k] for k in row]
            for key, value in zip(row, place_row(desired, [widths[k] for k in row], lo, hi)):
                x[key] = value
    return x


def layered_layout(graph: LineageGraph, size: Callable[[str], tuple[float, float]], max_width: float | None = None) -> Layout:
    """Lay ``graph`` out top-down. ``size(node_id)`` gives a node's (width, height); ``max_width``: the
    picture's width limit (``None``: no limit, one row per layer)."""
    nodes = sorted(graph.nodes)
    edges = _acyclic(graph)
    sizes = {key: size(key) for key in nodes}
    limit = float("inf") if max_width is None else max(max_width - 2 * MARGIN, 1.0)
    widths = {key: sizes[key][0] for key in nodes}
    budgets: dict[int, float] = {}
    preds, succs = _adjacent(edges)
    rank = _longest_path(nodes, preds)
    for _ in range(BUDGET_ROUNDS):  # shrink the budget of rows that the long edges' dummies overfill
        row = _assign_rows(nodes, preds, succs, rank, widths, budgets, limit)
        chains = _chains(edges, row)
        depth = max(row.values(), default=-1) + 1
        rows: list[list[str]] = [[] for _ in range(depth)]
        for key in nodes:
            rows[row[key]].append(key)
        placed: set[str] = set()
        for chain in chains:
            for i, dummy in enumerate(chain[1:-1], start=row[chain[0]] + 1):
                if dummy not in placed:
                    placed.add(dummy)
                    rows[i].append(dummy)
        over = {}
        for r, members in enumerate(rows):
            total = _row_width(members, widths)
            real = [k for k in members if k in widths]
            if total > limit and len(real) > 1:
                over[r] = total - limit
        if not over:
            break
        for r, excess in over.items():
            budgets[r] = budgets.get(r, limit) - excess
    for chain in chains:
        for dummy in chain[1:-1]:
            widths[dummy] = DUMMY_W
    sweeps = SWEEPS if sum(map(len, rows)) <= LARGE else 2
    up, down = _neighbours(chains)
    rows = _order(rows, up, down, sweeps)
    lo = MARGIN
    natural = max((_row_width(r, widths) for r in rows), default=0.0)
    hi = lo + (natural if natural > limit else min(limit, natural * 1.25))  # some room to line rows up
    x = _x_positions(rows, up, down, widths, lo, hi, sweeps)
    heights = [max((sizes[k][1] for k in r if k in sizes), default=0.0) for r in rows]
    tops, at = [], MARGIN
    for h in heights:
        tops.append(at)
        at += h + ROW_GAP
    layout = Layout(width=0.0, height=at - ROW_GAP + MARGIN if rows else 2 * MARGIN)
    for r, members in enumerate(rows):
        centre_y = tops[r] + heights[r] / 2
        for key in members:
            if key in sizes:
                w, h = sizes[key]
                layout.nodes[key] = Box(x[key] - w / 2, centre_y - h / 2, x[key] + w / 2, centre_y + h / 2)
    for (upper, lower, turned), chain, edge in zip(edges, chains, [e for e in graph.edges if e.source != e.target]):
        top, bottom = layout.nodes[upper], layout.nodes[lower]
        points = [(top.cx, top.y1), (top.cx, tops[row[upper]] + heights[row[upper]])]
        for i, dummy in enumerate(chain[1:-1], start=row[upper] + 1):
            points += [(x[dummy], tops[i]), (x[dummy], tops[i] + heights[i])]
        points += [(bottom.cx, tops[row[lower]]), (bottom.cx, bottom.y0)]
        layout.routes.append(Route(edge.source, edge.target, edge.kind, tuple(points), turned))
    seen: set[tuple[str, str]] = set()
    for route in layout.routes:
        upper = route.target if route.reversed else route.source
        if (upper, route.kind) in seen:
            continue
        seen.add((upper, route.kind))
        box = layout.nodes[upper]
        x0, y = box.cx + 4, tops[row[upper]] + heights[row[upper]] + 2 + LABEL_H
        layout.labels.append(Label(route.kind, x0, y, Box(x0, y - LABEL_H, x0 + label_width(route.kind), y + 2)))
    right = max((b.x1 for b in layout.nodes.values()), default=0.0)
    right = max([right, *(p[0] for r in layout.routes for p in r.points), *(lb.box.x1 for lb in layout.labels)])
    layout.width = right + MARGIN
    return layout
