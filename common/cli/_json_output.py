"""Printing a verb's JSON result to stdout or to the file given with ``-o/--output``."""
from __future__ import annotations

import json
import sys
from typing import Any


def emit_json(doc: Any, output: str | None = None) -> None:
    """Indented JSON (keys in their given order) to ``output`` or stdout, ending with a newline."""
    text = json.dumps(doc, indent=2) + "\n"
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
