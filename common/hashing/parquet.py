"""A Parquet file read for hashing one batch of one column of one row group at a time.

The canonical digest does not depend on how rows are chunked (docs/content-hash.md §3), so a column's
blocks can be cut from batches of its rows as they are decoded: memory is about one block of one column
per hashing thread, never a whole row group (whose size the file's writer chose) nor a whole column.
"""
from __future__ import annotations

import bisect
import io
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import IO, NoReturn

import pyarrow as pa
import pyarrow.parquet as pq

from prov_common.errors import BadInputError
from prov_common.hashing.table import BLOCK_ROWS
from prov_common.text import counted
from prov_common.hashing.bytes_fix import OR_HASH_BYTES

READ_BUFFER = 1 << 20  # a column chunk is read this many bytes at a time (not whole, as pre-buffering reads it)
_DAMAGED = f"write the file again, {OR_HASH_BYTES}."


def open_parquet(source: IO[bytes], name: str) -> tuple[pq.ParquetFile, list[int]]:
    """``source`` as a :class:`~pyarrow.parquet.ParquetFile` that reads a column chunk :data:`READ_BUFFER` bytes
    at a time as its pages are decoded, and its row groups' row counts (checked by :func:`row_group_sizes`). A
    footer that cannot be read is refused naming the file ``name`` (Arrow's own errors are mapped by the caller), and
    so is a 0-byte file (:func:`refuse_empty`)."""
    refuse_empty(source, name)
    try:
        pf = pq.ParquetFile(source, buffer_size=READ_BUFFER, pre_buffer=False)
        pf.schema_arrow  # noqa: B018 - the schema is read from the footer here, once
        return pf, row_group_sizes(pf, name)
    except (IndexError, OverflowError) as exc:
        raise BadInputError(f"{name!r} is not a valid Parquet file: its footer cannot be read ({exc}).",
                            fix=_DAMAGED) from exc


def refuse_empty(source: IO[bytes], name: str) -> None:
    """Refuse (naming the file ``name``) a 0-byte ``source``, which Arrow calls a "Parquet file size is 0 bytes" to be
    checked as damaged: no table is a 0-byte Parquet file. ``source`` is left at its start."""
    if source.seek(0, io.SEEK_END) == 0:
        raise BadInputError(f"{name!r} is empty (0 bytes), not a Parquet file: an empty table is a Parquet file with "
                            "a footer (its schema).",
                            fix="remove it, or write it again (a table without rows written as Parquet, such as "
                                f"df.head(0).to_parquet(path), is read as the empty table), {OR_HASH_BYTES}.")
    source.seek(0)


def row_group_sizes(pf: pq.ParquetFile, name: str) -> list[int]:
    """The row count of each of the file's row groups; refused (naming the file ``name``) when their sum is
    not the footer's row count, which readers do not agree to trust (the table read whole has the sum), or
    when the file has no columns but claims rows: no page holds them, so nothing read can confirm the count
    (a table without columns is written with none)."""
    meta = pf.metadata
    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    if meta.num_rows < 0 or sum(sizes) != meta.num_rows or any(n < 0 for n in sizes):
        raise BadInputError(f"{name!r} is not a valid Parquet file: its footer says {meta.num_rows} rows, "
                            f"its {counted(len(sizes), 'row group')} {sum(sizes)}.", fix=_DAMAGED)
    if meta.num_columns == 0 and meta.num_rows:
        raise BadInputError(f"{name!r} is not a valid Parquet file: its footer says {meta.num_rows} rows, "
                            "but it has no columns to hold them.", fix=_DAMAGED)
    return sizes


@dataclass
class _Cursor:
    """Where one thread is in one row group of one column: the batch it reached, starting at table row ``start``."""

    column: str
    group: int
    batches: Iterator[pa.RecordBatch]
    start: int
    batch: pa.Array | None = None


class RowGroupColumns:
    """Blocks of rows of a :class:`pyarrow.parquet.ParquetFile`'s columns, decoded batch by batch.

    Each thread reads through a cursor of its own: the batches of ``batch_rows`` rows of one row group of
    one column (``ParquetFile.iter_batches``, page by page), at the batch it reached. A block at or past
    the cursor in that row group goes on from it (consecutive blocks do); any other opens the row group
    again and decodes up to the block (``reads`` counts the row groups opened). Reads are serialised,
    since a file object is not safe to read from several threads. A row group holding another number
    of rows than the footer says is refused, naming the file ``name``. ``sizes``: the row groups' row counts
    as :func:`open_parquet` gave them (read from the footer when not given).
    """

    def __init__(self, pf: pq.ParquetFile, name: str = "the Parquet file", batch_rows: int = BLOCK_ROWS,
                 sizes: Sequence[int] | None = None) -> None:
        self.pf = pf
        self.name = name
        self.batch_rows = batch_rows
        if sizes is None:
            sizes = row_group_sizes(pf, name)
        self.starts = [0, *accumulate(sizes)]  # first row of every row group, then the row count
        self.reads = 0
        self._lock = threading.Lock()
        self._local = threading.local()

    def _open(self, column: str, group: int) -> _Cursor:
        self._local.cursor = None  # let the previous batch go before decoding the next
        with self._lock:
            batches = self.pf.iter_batches(batch_size=self.batch_rows, row_groups=[group], columns=[column],
                                           use_threads=False, use_pandas_metadata=False)
            self.reads += 1
        cursor = _Cursor(column, group, batches, self.starts[group])
        self._local.cursor = cursor
        return cursor

    def _next(self, cursor: _Cursor) -> pa.Array | None:
        """The cursor's next batch (None past its row group), under the file's lock."""
        with self._lock:  # one column: Arrow's threads would only add a hand-off per read
            batch = next(cursor.batches, None)
        return batch.column(0) if batch is not None else None

    def _at(self, column: str, row: int) -> _Cursor:
        """This thread's cursor on ``column``, at the batch holding table row ``row``."""
        group = bisect.bisect_right(self.starts, row) - 1
        cursor = getattr(self._local, "cursor", None)
        if cursor is None or (cursor.column, cursor.group) != (column, group) or row < cursor.start:
            cursor = self._open(column, group)
        first, end = self.starts[group], self.starts[group + 1]
        while cursor.batch is None or row >= cursor.start + len(cursor.batch):
            if cursor.batch is not None:
                cursor.start += len(cursor.batch)
            cursor.batch = None
            batch = self._next(cursor)
            if batch is None:
                self._refuse(column, group, str(cursor.start - first))
            reached = cursor.start + len(batch)
            if reached > end or (reached == end and self._next(cursor) is not None):
                self._refuse(column, group, f"more than {end - first}")
            cursor.batch = batch
        return cursor

    def _refuse(self, column: str, group: int, held: str) -> NoReturn:
        raise BadInputError(f"{self.name!r} is not a valid Parquet file: row group {group} of column {column!r} "
                            f"holds {held} rows, its footer says {self.starts[group + 1] - self.starts[group]}.",
                            fix=_DAMAGED)

    def block(self, name: str, start: int, rows: int) -> pa.Array:
        """Rows ``[start, start + rows)`` of column ``name`` as one array."""
        pieces: list[pa.Array] = []
        pos, stop = start, start + rows
        while pos < stop:
            cursor = self._at(name, pos)
            take = min(stop, cursor.start + len(cursor.batch)) - pos
            pieces.append(cursor.batch.slice(pos - cursor.start, take))
            pos += take
        if not pieces:
            return pa.array([], type=self.pf.schema_arrow.field(name).type)
        return pieces[0] if len(pieces) == 1 else pa.concat_arrays(pieces)

    def reader(self, name: str) -> Callable[[int, int], pa.Array]:
        """``(start, rows) -> array`` for one column."""
        return lambda start, rows: self.block(name, start, rows)

    def release(self) -> None:
        """Let go of the batch this thread keeps."""
        self._local.cursor = None
