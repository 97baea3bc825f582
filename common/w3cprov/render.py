"""Writing a lineage picture: DOT text always, SVG/PNG through Graphviz ``dot`` when installed, else built-in SVG."""
from __future__ import annotations

import re
import shutil
import subprocess
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


def render(graph: LineageGraph, fmt: str, renderer: str = "auto", title: str = "lineage", max_width: float = PAGE_WIDTH) -> bytes:
    """The picture in ``fmt`` (svg, png or dot). ``renderer``: auto (Graphviz if present), graphviz or builtin
    (top-down layers that wrap to fit ``max_width`` pixels)."""
    dot_text = to_dot(graph, title)
    if fmt == "dot":
        return dot_text.encode("utf-8")
    binary = graphviz_dot() if renderer in ("auto", "graphviz") else None
    if binary is None and renderer == "graphviz":
        raise BadInputError("the Graphviz 'dot' program is not installed.", fix=f"{_INSTALL}, or use --renderer builtin")
    if binary is not None:
        done = subprocess.run([binary, f"-T{fmt}"], input=dot_text.encode("utf-8"), capture_output=True, timeout=120)
        if done.returncode != 0:
            raise BadInputError(f"Graphviz 'dot' failed: {done.stderr.decode(errors='replace').strip()}",
                                fix="write *.dot and inspect it, or use --renderer builtin")
        return done.stdout
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
    binary = graphviz_dot()
    if binary is not None:
        try:
            done = subprocess.run([binary, "-Tsvg"], input=to_dot(graph, title).encode("utf-8"), capture_output=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            done = None
        text = done.stdout.decode("utf-8", errors="replace") if done is not None and done.returncode == 0 else ""
        found = _PT.search(text)
        if found and float(found.group(1)) * 96 / 72 <= max_width:
            svg = re.sub(r"<!--.*?-->", "", text[text.index("<svg"):], flags=re.S)
            return svg.replace(' xmlns:xlink="http://www.w3.org/1999/xlink"', ""), GRAPHVIZ
    return render_svg(graph, title, max_width), BUILTIN
