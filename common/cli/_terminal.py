"""Text a verb prints: control, bidirectional-control and zero-width characters are shown escaped, never sent
raw; within a line that shows a record's names, newlines and tabs too (:func:`one_line`).

Names in the records (jobs, datasets, producers, facets) come from any OpenLineage producer; raw, an
escape sequence in one could retitle or clear the terminal, or a carriage return overprint an ``OK``
line; a bidi control could reorder what a line shows, and a zero-width character make two different names
look the same. JSON output already escapes them; files written with ``-o`` are not terminal text.
"""
from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prov_common.text import VISIBLE_ESCAPES, visible

__all__ = ["VisibleText", "one_line", "visible", "visible_stdout"]

_LINE_ESCAPES = {**VISIBLE_ESCAPES, 0x09: "\\t", 0x0A: "\\n"}


def one_line(text: str) -> str:
    """``text`` meant as one line of output (a row, a tree line, a file name), with newlines and tabs escaped too,
    as ``sha256sum`` shows file names: a name holding a newline cannot add a forged line (a run, a digest)."""
    return text.translate(_LINE_ESCAPES)


class VisibleText:
    """A text stream that writes :func:`visible` text to the stream it wraps (everything else is that stream's);
    ``unescaped`` is that stream (where a progress bar draws: its carriage returns are no record's text)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.unescaped = inner

    def write(self, text: str) -> int:
        self._inner.write(visible(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@contextmanager
def visible_stdout() -> Iterator[None]:
    """While inside, text written to ``sys.stdout`` and ``sys.stderr`` is :func:`visible` (bytes through
    ``sys.stdout.buffer`` are left as they are: they are JSON, which escapes them, or a file's bytes the user asked
    for): a warning or a line naming what was left out quotes keys and names from the store as they are, and a key of
    an S3 store may hold any character."""
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = VisibleText(out), VisibleText(err)  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout, sys.stderr = out, err
