"""``tdprov graph``: a lineage picture (datasets, versions and runs) of OpenLineage events."""
from __future__ import annotations

import argparse
from typing import Any

from prov_common.cli._common import add_verb
from prov_common.cli._output import stderr_note, tell_written, write_output
from prov_common.cli.prov import EVENTS_HELP, events_file_runs, read_all_events
from prov_common.errors import BadInputError
from prov_common.w3cprov.drawing import PAGE_WIDTH, drawn
from prov_common.w3cprov.graph import lineage_graph
from prov_common.w3cprov.identity import iso_z
from prov_common.w3cprov.mapping import runs_to_document
from prov_common.text import counted
from prov_common.w3cprov.render import DOT_MAX_NODES, DOT_TIMEOUT, RENDERERS, picture_format, render

MAX_RUNS = 300
"""Runs one picture of ``tdprov graph`` draws at most unless ``--max-runs`` says otherwise: about 10,000 px tall at the
default width; a whole store of 5,000 runs takes minutes and gigabytes to draw, some 160,000 px tall."""


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
            "when the lineage is too large for dot, or when dot does not finish in time (said on stderr). "
            f"A picture of more than {MAX_RUNS} runs (the events of a whole store) is refused up front, naming how many "
            "runs and datasets there are and how to narrow it ('tdprov lineage DATASET -o lineage.svg'); --max-runs "
            "raises the bound."
        ),
        example="tdprov graph events.jsonl -o lineage.svg",
    )
    parser.add_argument("events", metavar="EVENTS.jsonl", nargs="+",
                        help=EVENTS_HELP)
    parser.add_argument("-o", "--output", required=True, help="picture file: lineage.svg, lineage.png or lineage.dot")
    parser.add_argument("--renderer", choices=RENDERERS, default="auto",
                        help="auto: Graphviz if installed, else built-in (SVG only); for SVG also built-in above "
                             f"{DOT_MAX_NODES} nodes or when dot takes over {DOT_TIMEOUT:g} s; graphviz; builtin")
    parser.add_argument("--width", type=float, default=PAGE_WIDTH,
                        help=f"built-in renderer: the picture's width limit in pixels (default {PAGE_WIDTH:.0f})")
    parser.add_argument("--max-runs", type=int, default=MAX_RUNS, metavar="N",
                        help=f"refuse to draw a picture (.svg, .png) of more than N runs, far more than a person can read "
                             f"(default {MAX_RUNS}; 0: no limit; a .dot file is always written)")
    parser.set_defaults(func=run)


def _extent(events: list[Any]) -> tuple[int, int]:
    """Runs that read or wrote a dataset, and the datasets they name, in ``events`` (counted before any drawing)."""
    runs: set[str] = set()
    datasets: set[tuple[str, str]] = set()
    for event in events:
        if not isinstance(event, dict):
            continue
        used = [d for key in ("inputs", "outputs") for d in (event.get(key) or []) if isinstance(d, dict)]
        if used and isinstance(event.get("run"), dict):
            runs.add(str(event["run"].get("runId")))
        datasets.update((str(d.get("namespace")), str(d.get("name"))) for d in used)
    return len(runs), len(datasets)


def _too_large(runs: int, datasets: int, limit: int) -> BadInputError:
    return BadInputError(
        f"the events hold {counted(runs, 'run')} and {counted(datasets, 'dataset')}: a picture of them all is far larger than a person "
        f"can read, so it is not drawn (at most --max-runs {limit} runs; a whole store of thousands takes minutes and gigabytes).",
        fix="draw one dataset's lineage: 'tdprov lineage DATASET -o lineage.svg' (--depth N for its nearest runs, "
            "--downstream for what was made from it); or pass the events of fewer runs; or --max-runs 0 to draw them "
            "all anyway, or write a .dot file")


def run(args: argparse.Namespace) -> int:
    fmt = picture_format(args.output)
    if not args.width >= 200:
        raise BadInputError(f"--width {args.width:g} is too narrow for a lineage picture.", fix="pass --width 200 or more (pixels)")
    if args.max_runs < 0:
        raise BadInputError(f"--max-runs {args.max_runs} is negative.", fix="give the most runs to draw, or 0 for no limit")
    placed = read_all_events(args.events)
    runs, datasets = _extent([event for _, event in placed])
    if fmt != "dot" and args.max_runs and runs > args.max_runs:
        raise _too_large(runs, datasets, args.max_runs)
    folded = events_file_runs(placed, "graph")  # a run with no START reads its inputs at its first event, as in a store
    graph = lineage_graph(runs_to_document(folded), {state.run_id: iso_z(state.started) for state in folded})
    write_output(render(graph, fmt, args.renderer, max_width=args.width, note=stderr_note("graph")), args.output)
    tell_written(args.output, drawn(graph))
    return 0
