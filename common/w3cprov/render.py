"""Writing a lineage picture: DOT text always, SVG/PNG through Graphviz ``dot`` when installed, else built-in SVG
(also when ``dot`` would take minutes: a large lineage, or one it does not finish in time)."""
from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from prov_common.errors import BadInputError
from prov_common.w3cprov.drawing import PAGE_WIDTH, render_svg, to_dot
from prov_common.w3cprov.graph import LineageGraph

PICTURE_FORMATS = ("svg", "png", "dot")
RENDERERS = ("auto", "graphviz", "builtin")
_INSTALL = "install Graphviz (apt-get install graphviz, brew install graphviz, conda install graphviz)"


def picture_format(path: str) -> str:
    """``svg``, ``png`` or ``dot`` from the file name."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix == "gv":
        suffix = "dot"
    if suffix not in PICTURE_FORMATS:
        raise BadInputError(f"cannot tell the picture format of {path!r}.", fix="name the output *.svg, *.png or *.dot")
    return suffix


def graphviz_dot() -> str | None:
    """Path of Graphviz's ``dot`` binary, or ``None`` when it is not installed."""
    return shutil.which("dot")


DOT_TIMEOUT = 20.0  # seconds Graphviz 'dot' gets before the built-in renderer stands in (auto) or the picture fails
DOT_MAX_NODES = 300  # above this many nodes, auto does not start 'dot' (it takes minutes on lineages this size)


def _dot_output(binary: str, fmt: str, dot_text: str) -> bytes | None:
    """Graphviz's picture of ``dot_text`` in ``fmt``, or None when 'dot' did not finish within :data:`DOT_TIMEOUT`."""
    try:
        done = subprocess.run([binary, f"-T{fmt}"], input=dot_text.encode("utf-8"), capture_output=True, timeout=DOT_TIMEOUT)
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        raise BadInputError(f"Graphviz 'dot' failed: {done.stderr.decode(errors='replace').strip()}",
                            fix="write *.dot and inspect it, or use --renderer builtin")
    return done.stdout


def _timed_out(graph: LineageGraph) -> BadInputError:
    """The error of a picture 'dot' did not draw in time, naming its size and the ways to draw it."""
    return BadInputError(f"Graphviz 'dot' did not finish within {DOT_TIMEOUT:g} s on this lineage of {len(graph.nodes)} nodes "
                         f"and {len(graph.edges)} edges.",
                         fix="draw it with --renderer builtin (SVG), draw less with --depth N (tdprov lineage), or write *.dot "
                             "and run Graphviz on it without a time limit")


def render(graph: LineageGraph, fmt: str, renderer: str = "auto", title: str = "lineage", max_width: float = PAGE_WIDTH,
           note: Callable[[str], None] | None = None) -> bytes:
    """The picture in ``fmt`` (svg, png or dot). ``renderer``: auto (Graphviz if present, for SVG the built-in renderer
    above :data:`DOT_MAX_NODES` nodes or when 'dot' does not finish within :data:`DOT_TIMEOUT`; ``note`` is told
    why), graphviz or builtin (top-down layers that wrap to fit ``max_width`` pixels)."""
    dot_text = to_dot(graph, title)
    if fmt == "dot":
        return dot_text.encode("utf-8")
    binary = graphviz_dot() if renderer in ("auto", "graphviz") else None
    if binary is None and renderer == "graphviz":
        raise BadInputError("the Graphviz 'dot' program is not installed.", fix=f"{_INSTALL}, or use --renderer builtin")
    size = f"{len(graph.nodes)} nodes"
    if binary is not None and renderer == "auto" and fmt == "svg" and len(graph.nodes) > DOT_MAX_NODES:
        binary = None
        if note is not None:
            note(f"the lineage has {size} (over {DOT_MAX_NODES}), where Graphviz 'dot' takes minutes: drawn by the built-in "
                 "renderer (--renderer graphviz tries dot; a *.dot file can be drawn with Graphviz without a time limit)")
    if binary is not None:
        drawn = _dot_output(binary, fmt, dot_text)
        if drawn is not None:
            return drawn
        if renderer != "auto" or fmt != "svg":
            raise _timed_out(graph)
        if note is not None:
            note(f"Graphviz 'dot' did not finish within {DOT_TIMEOUT:g} s on the lineage's {size}: drawn by the built-in renderer")
    if fmt == "svg":
        return render_svg(graph, title, max_width).encode("utf-8")
    if renderer == "builtin":
        raise BadInputError(f"the built-in renderer draws SVG only, not {fmt.upper()}.",
                            fix="write *.svg, or use --renderer graphviz (or auto) for PNG")
    raise BadInputError("PNG pictures need the Graphviz 'dot' program, which is not installed.",
                        fix=f"{_INSTALL}; or write *.svg (built-in renderer) or *.dot instead")


GRAPHVIZ, BUILTIN = "Graphviz dot", "built-in layered layout"
_PT = re.compile(r'<svg[^>]*?\swidth="([0-9.]+)pt"')


def fitted_svg(graph: LineageGraph, title: str, max_width: float) -> tuple[str, str]:
    """An inline SVG (for HTML) of the graph at most ``max_width`` CSS pixels wide, and what drew it:
    Graphviz ``dot`` when it is installed and its drawing fits, else the built-in layout, which wraps."""
    binary = graphviz_dot() if len(graph.nodes) <= DOT_MAX_NODES else None
    if binary is not None:
        try:
            drawn = _dot_output(binary, "svg", to_dot(graph, title))
        except (OSError, BadInputError):
            drawn = None
        text = drawn.decode("utf-8", errors="replace") if drawn is not None else ""
        found = _PT.search(text)
        if found and float(found.group(1)) * 96 / 72 <= max_width:
            svg = re.sub(r"<!--.*?-->", "", text[text.index("<svg"):], flags=re.S)
            return svg.replace(' xmlns:xlink="http://www.w3.org/1999/xlink"', ""), GRAPHVIZ
    return render_svg(graph, title, max_width), BUILTIN
