"""Where the benchmarks put their figures: appended to a results file, so earlier runs stay beside them."""
from __future__ import annotations

import os
from pathlib import Path

OUT_HELP = "append the report to this results file (e.g. benchmarks/results/<name>.md); default: print only"


def add_section(out: str | os.PathLike[str] | None, text: str) -> None:
    """Append the report ``text`` to the results file ``out`` (nothing without one). A new file gets the
    whole text; an existing one keeps what it has and gains the text without its leading ``# title``."""
    if out is None:
        return
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(text.rstrip("\n") + "\n")
        return
    body = text.split("\n", 1)[1] if text.startswith("# ") else text
    path.write_text(path.read_text().rstrip("\n") + "\n\n" + body.strip("\n") + "\n")
