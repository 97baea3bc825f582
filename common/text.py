"""Plain-text helpers shared by the CLI and the lineage drawings.

Widths are terminal cells, not characters: a wide (CJK) or full-width character takes two cells, a combining mark none
(:func:`cells`), so columns of names in any script line up."""
from __future__ import annotations

import unicodedata


def char_cells(char: str) -> int:
    """Terminal cells one character takes: 2 for East Asian wide or full-width, 0 for a combining mark, else 1."""
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def cells(text: str) -> int:
    """Terminal cells ``text`` takes on one line (:func:`char_cells` of each character)."""
    return len(text) if text.isascii() else sum(map(char_cells, text))


def padded(text: str, width: int) -> str:
    """``text`` followed by spaces up to ``width`` cells (``str.ljust`` counts characters)."""
    return text + " " * max(0, width - cells(text))


def shortened(text: str, width: int) -> str:
    """``text`` in at most ``width`` cells: a longer one keeps its end (a job's or file's own name), shown cut by a
    leading ``…``."""
    if cells(text) <= width:
        return text
    kept, used = len(text), 1  # the '…' takes one cell
    while kept > 0 and used + char_cells(text[kept - 1]) <= width:
        kept -= 1
        used += char_cells(text[kept])
    return "…" + text[kept:]
