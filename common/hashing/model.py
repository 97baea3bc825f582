"""Results of content hashing (no I/O here).

A digest is always shown as ``algo:hex`` (e.g. ``blake3:9f2c...``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

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


ContentDigest = TableDigest | FileDigest
