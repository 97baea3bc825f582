"""``tdprov graph``: a lineage picture (datasets, versions and runs) of OpenLineage events."""
from __future__ import annotations

import argparse
from typing import Any

from prov_common.cli._common import add_verb
from prov_common.cli._output import stderr_note, write_output
from prov_common.cli.prov import read_all_events
from prov_common.errors import BadInputError
from prov_common.w3cprov import events_to_document
from prov_common.w3cprov.drawing import PAGE_WIDTH
from prov_common.w3cprov.graph import lineage_graph
from prov_common.w3cprov.render import DOT_MAX_NODES, DOT_TIMEOUT, RENDERERS, picture_format, render


def register(subparsers: Any) -> None:
    parser = add_verb(
        subparsers,
        "graph",
        help="draw the lineage of OpenLineage events (svg, png or dot)",
        description=(
            "Draw the lineage in OpenLineage events: dataset versions (yellow ellipses) and runs (blue boxes), "
            "data flowing top-down; failed runs and versions with failed quality checks are outlined in red, each failed check counted once. "
            "The format follows the file name: .dot is always written; .svg and .png use Graphviz 'dot' when it is "
            "installed, and .svg falls back to a built-in layered layout (wide layers wrap to fit --width) when it is not, "
            "when the lineage is too large for dot, or when dot does not finish in time (said on stderr)."
        ),
        example="tdprov graph events.jsonl -o lineage.svg",
    )
    parser.add_argument("events", metavar="EVENTS.jsonl", nargs="+",
                        help="OpenLineage events, one JSON object per line ('-' = stdin); several files are merged")
    parser.add_argument("-o", "--output", required=True, help="picture file: lineage.svg, lineage.png or lineage.dot")
    parser.add_argument("--renderer", choices=RENDERERS, default="auto",
                        help="auto: Graphviz if installed, else built-in (SVG only); for SVG also built-in above "
                             f"{DOT_MAX_NODES} nodes or when dot takes over {DOT_TIMEOUT:g} s; graphviz; builtin")
    parser.add_argument("--width", type=float, default=PAGE_WIDTH,
                        help=f"built-in renderer: the picture's width limit in pixels (default {PAGE_WIDTH:.0f})")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    fmt = picture_format(args.output)
    if not args.width >= 200:
        raise BadInputError(f"--width {args.width:g} is too narrow for a lineage picture.", fix="pass --width 200 or more (pixels)")
    graph = lineage_graph(events_to_document(read_all_events(args.events)))
    write_output(render(graph, fmt, args.renderer, max_width=args.width, note=stderr_note("graph")), args.output)
    print(f"wrote {args.output}: {sum(n.kind == 'run' for n in graph.nodes.values())} runs, "
          f"{sum(n.kind != 'run' for n in graph.nodes.values())} datasets/versions")
    return 0
