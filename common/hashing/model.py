"""Results of content hashing (no I/O here).

A digest is always shown as ``algo:hex`` (e.g. ``blake3:9f2c...``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from prov_common.text import counted

Granularity = Literal["table", "column", "block", "row"]


@dataclass(frozen=True)
class ColumnDigest:
    """Digest of one column (or index level) of a table.

    name: column name as shown to users; index levels are named ``__index__:<name or level>``.
    logical_type: canonical logical type, e.g. ``int64``, ``string``, ``timestamp[ns, tz=UTC]``.
    role: ``column`` or ``index``.
    """

    name: str
    logical_type: str
    digest: str
    role: Literal["column", "index"] = "column"


@dataclass(frozen=True)
class TableDigest:
    """Canonical digest of a tabular dataset, with the detail the chosen granularity keeps."""

    digest: str
    rows: int
    bytes: int
    columns: tuple[ColumnDigest, ...]
    granularity: Granularity = "column"
    block_rows: int = 0
    blocks: dict[str, tuple[str, ...]] | None = None
    row_digests: Any = None  # pyarrow.Table with the per-row digests, only at "row" granularity
    kind: Literal["table"] = "table"
    file_sha256: str | None = None  # hex SHA-256 of the bytes of the file it was read from or written to

    def column_digests(self) -> dict[str, str]:
        """Column name -> digest, in column order."""
        return {c.name: c.digest for c in self.columns}

    def schema_fields(self) -> list[tuple[str, str]]:
        """(name, logical type) of every column, in order."""
        return [(c.name, c.logical_type) for c in self.columns]


@dataclass(frozen=True)
class FileDigest:
    """Digest of the bytes of a file that is not a table."""

    digest: str
    bytes: int
    kind: Literal["file"] = "file"
    extra: dict[str, Any] = field(default_factory=dict)
    file_sha256: str | None = None  # hex SHA-256 of the same bytes, when asked for


ContentDigest = TableDigest | FileDigest


@dataclass(frozen=True)
class DigestDiff:
    """What differs between two table digests.

    Columns are matched by role and shown name (a repeated name by its occurrence). Row ranges are
    half-open ``(start, stop)`` and come from block digests (granularity "block" or "row") or, when
    both sides have row digests, from those (exact rows). ``row_detail`` says which: ``rows``,
    ``blocks`` or ``none`` (ranges unknown).
    """

    same: bool
    rows_a: int
    rows_b: int
    changed_columns: tuple[str, ...] = ()
    added_columns: tuple[str, ...] = ()
    removed_columns: tuple[str, ...] = ()
    type_changes: dict[str, tuple[str, str]] = field(default_factory=dict)
    order_changed: bool = False
    changed_row_ranges: tuple[tuple[int, int], ...] = ()
    changed_row_count: int | None = None
    row_detail: Literal["rows", "blocks", "none"] = "none"

    def summary(self) -> list[str]:
        """Human-readable lines describing the difference (empty when the tables are the same)."""
        if self.same:
            return []
        lines = []
        if self.rows_a != self.rows_b:
            lines.append(f"rows: {self.rows_a} -> {self.rows_b}")
        for title, names in (("changed", self.changed_columns), ("added", self.added_columns),
                             ("removed", self.removed_columns)):
            if names:
                lines.append(f"{title} columns: {', '.join(names)}")
        for name, (ta, tb) in self.type_changes.items():
            lines.append(f"type of {name}: {ta} -> {tb}")
        if self.order_changed:
            lines.append("column order changed")
        if self.row_detail != "none" and self.changed_row_ranges:
            shown = ", ".join(f"{a}-{b - 1}" if b - a > 1 else str(a) for a, b in self.changed_row_ranges[:20])
            more = " ..." if len(self.changed_row_ranges) > 20 else ""
            unit = "rows" if self.row_detail == "rows" else "row blocks"
            lines.append(f"changed {unit}: {shown}{more} ({counted(self.changed_row_count, 'row')})")
        elif self.row_detail == "none" and (self.changed_columns or self.rows_a != self.rows_b):
            lines.append("row ranges unknown: hash with granularity 'block' or 'row' to see them")
        return lines
