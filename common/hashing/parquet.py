"""A Parquet file read for hashing one row group of one column at a time.

The canonical digest does not depend on how rows are chunked (docs/content-hash.md §3), so a column's
blocks can be cut from its row groups as they are read: memory is one row group of one column per
hashing thread, never a whole column (a 1 GB file is hashed within a few hundred MB).
"""
from __future__ import annotations

import bisect
import threading
from collections.abc import Callable
from itertools import accumulate

import pyarrow as pa
import pyarrow.parquet as pq

from prov_common.errors import BadInputError

_DAMAGED = "write the file again, or hash its bytes (tdprov hash --bytes)."


def row_group_sizes(pf: pq.ParquetFile, name: str) -> list[int]:
    """The row count of each of the file's row groups; refused (naming the file ``name``) when their sum is
    not the footer's row count, which readers do not agree to trust (the table read whole has the sum)."""
    meta = pf.metadata
    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    if meta.num_rows < 0 or sum(sizes) != meta.num_rows or any(n < 0 for n in sizes):
        raise BadInputError(f"{name!r} is not a valid Parquet file: its footer says {meta.num_rows} rows, "
                            f"its {len(sizes)} row group(s) {sum(sizes)}.", fix=_DAMAGED)
    return sizes


class RowGroupColumns:
    """Blocks of rows of a :class:`pyarrow.parquet.ParquetFile`'s columns, read row group by row group.

    Each thread keeps the last row group of a column it read (a block may start in one row group and end
    in the next, and consecutive blocks mostly fall in the same one); reads are serialised, since a
    file object is not safe to read from several threads. ``reads`` counts the row groups read. A row group
    holding another number of rows than the footer says is refused, naming the file ``name``.
    """

    def __init__(self, pf: pq.ParquetFile, name: str = "the Parquet file") -> None:
        self.pf = pf
        self.name = name
        sizes = row_group_sizes(pf, name)
        self.starts = [0, *accumulate(sizes)]  # first row of every row group, then the row count
        self.reads = 0
        self._lock = threading.Lock()
        self._local = threading.local()

    def _row_group(self, name: str, index: int) -> pa.ChunkedArray:
        cached = getattr(self._local, "cached", None)
        if cached is not None and cached[0] == (name, index):
            return cached[1]
        self._local.cached = None  # let the previous row group go before reading the next
        with self._lock:  # one column: Arrow's threads would only add a hand-off per read
            col = self.pf.read_row_group(index, columns=[name], use_threads=False).column(0)
            self.reads += 1
        expected = self.starts[index + 1] - self.starts[index]
        if len(col) != expected:
            raise BadInputError(f"{self.name!r} is not a valid Parquet file: row group {index} of column {name!r} "
                                f"holds {len(col)} rows, its footer says {expected}.", fix=_DAMAGED)
        self._local.cached = ((name, index), col)
        return col

    def block(self, name: str, start: int, rows: int) -> pa.Array:
        """Rows ``[start, start + rows)`` of column ``name`` as one array."""
        pieces: list[pa.Array] = []
        pos, stop = start, start + rows
        while pos < stop:
            index = bisect.bisect_right(self.starts, pos) - 1
            first, end = self.starts[index], self.starts[index + 1]
            take = min(stop, end) - pos
            pieces.extend(self._row_group(name, index).slice(pos - first, take).chunks)
            pos += take
        if not pieces:
            return pa.array([], type=self.pf.schema_arrow.field(name).type)
        return pieces[0] if len(pieces) == 1 else pa.concat_arrays(pieces)

    def reader(self, name: str) -> Callable[[int, int], pa.Array]:
        """``(start, rows) -> array`` for one column."""
        return lambda start, rows: self.block(name, start, rows)

    def release(self) -> None:
        """Let go of the row group this thread keeps."""
        self._local.cached = None
