"""Plain-text helpers shared by the CLI and the lineage drawings."""
from __future__ import annotations


def shortened(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters: a longer one keeps its end (a job's or file's own name), shown cut by a
    leading ``…``."""
    return text if len(text) <= width else "…" + text[len(text) - width + 1:]
