"""The canonical table digest of a table that arrives in row batches, in one pass with bounded memory.

Every column keeps its own block hashing going: rows of a batch are added to the column's open block,
each block of ``block_rows`` rows is hashed as soon as it is complete (across batch boundaries), and
only the 32-byte block digests are kept. The result is the digest :func:`hash_table` gives for the
whole table (docs/content-hash.md), since the algorithm does not depend on how rows are chunked.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import pyarrow as pa

from prov_common.config import usable_cpus
from prov_common.errors import BadInputError, UnsupportedTypeError
from prov_common.hashing.columns import ColumnSource
from prov_common.hashing.encode import NotUtf8Error
from prov_common.hashing.model import ColumnDigest, Granularity, TableDigest
from prov_common.hashing.raw import show
from prov_common.hashing.rows import RowAccumulator, block_row_hashes
from prov_common.hashing.table import BLOCK_ROWS, block_digest, check_options, column_digest, table_result
from prov_common.hashing.types import logical_type

T = TypeVar("T")
R = TypeVar("R")


def ordered_map(fn: Callable[[T], R], items: Iterable[T], threads: int | None = None) -> Iterator[R]:
    """``map(fn, items)`` on one worker thread per CPU (at most 4), in order, with few items in flight."""
    threads = min(usable_cpus(), 4) if threads is None else threads
    if threads <= 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="tdprov-read") as pool:
        window: deque[Future[R]] = deque()
        for item in items:
            window.append(pool.submit(fn, item))
            if len(window) > threads:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()


class _ColumnHasher:
    """Block digests of one column fed batch by batch; its type is fixed by the first typed batch.

    Batches of Arrow type ``null`` (all values missing, type not known yet) are counted, not kept, and
    hashed as missing values of the column's type once it is known (of type ``null`` if it never is).
    """

    def __init__(self, src: ColumnSource, block_rows: int) -> None:
        self.src = src
        self.block_rows = block_rows
        self.type: pa.DataType | None = None
        self.untyped = 0  # leading missing values whose type is not known yet
        self.pending: list[pa.Array] = []  # rows of the open block
        self.pending_rows = 0
        self.digests: list[bytes] = []
        self.bytes = 0
        self.rows = 0
        self.raw = b""  # the column digest, once finished

    def add(self, arr: pa.Array) -> pa.Array:
        """Add one batch of this column's rows; returns the batch as hashed (for row digests)."""
        if pa.types.is_dictionary(arr.type):
            raise UnsupportedTypeError(f"column {self.src.display!r} is categorical, which is not read in batches.",
                                       fix="hash the table in memory (hash_dataframe / hash_table).")
        self.rows += len(arr)
        if self.type is None:
            if pa.types.is_null(arr.type):
                self.untyped += len(arr)
                return arr
            self._set_type(arr.type)
        elif arr.type != self.type:
            arr = self._conform(arr)
        self._feed(arr)
        return arr

    def _set_type(self, t: pa.DataType) -> None:
        self.type = t
        while self.untyped:
            n = min(self.untyped, self.block_rows)
            self._feed(pa.nulls(n, t))
            self.untyped -= n

    def _conform(self, arr: pa.Array) -> pa.Array:
        assert self.type is not None
        if pa.types.is_null(arr.type) or logical_type(arr.type) == logical_type(self.type):
            return arr.cast(self.type)
        raise UnsupportedTypeError(
            f"column {self.src.display!r} holds values of mixed types {logical_type(self.type)} and "
            f"{logical_type(arr.type)}.",
            fix="declare the column's type (e.g. tdprov hash --csv-dtype NAME=str) or convert it to one type.")

    def _feed(self, arr: pa.Array) -> None:
        """Complete the open block, hash every whole block of ``arr``, keep the rest open."""
        b = self.block_rows
        pos, n = 0, len(arr)
        if self.pending_rows:
            take = arr.slice(0, b - self.pending_rows)
            self.pending.append(take)
            self.pending_rows += len(take)
            pos = len(take)
            if self.pending_rows == b:
                self._hash(pa.concat_arrays(self.pending))
                self.pending, self.pending_rows = [], 0
        while n - pos >= b:
            self._hash(arr.slice(pos, b))
            pos += b
        if pos < n:
            self.pending.append(arr.slice(pos))
            self.pending_rows += n - pos

    def _hash(self, block: pa.Array) -> None:
        try:
            digest, size = block_digest(block)
        except UnsupportedTypeError as exc:
            raise UnsupportedTypeError(f"column {self.src.display!r}: {exc.what}", fix=exc.fix) from exc
        except NotUtf8Error as exc:
            raise exc.at(start=len(self.digests) * self.block_rows, column=self.src.display) from None
        self.digests.append(digest)
        self.bytes += size

    def finish(self) -> ColumnDigest:
        if self.type is None:
            self._set_type(pa.null())
        if self.pending:
            self._hash(self.pending[0] if len(self.pending) == 1 else pa.concat_arrays(self.pending))
            self.pending, self.pending_rows = [], 0
        assert self.type is not None
        logical = logical_type(self.type)
        raw = column_digest(self.src.role, self.src.name_key, logical, self.rows, self.block_rows, self.digests)
        self.raw = raw
        return ColumnDigest(self.src.display, logical, show(raw), self.src.role)  # type: ignore[arg-type]


class StreamingTableHasher:
    """Feed a table batch by batch with :meth:`add`, then :meth:`finish` for its :class:`TableDigest`.

    Every batch holds the same columns in the same order (one :class:`ColumnSource` each, all of the
    batch's length). Memory: the open block of each column, never the whole table (row digests, when
    asked for, keep 16 bytes per row).
    """

    def __init__(self, *, granularity: Granularity = "column", block_rows: int = BLOCK_ROWS) -> None:
        check_options(granularity, block_rows)
        self.granularity = granularity
        self.block_rows = block_rows
        self.columns: list[_ColumnHasher] | None = None
        self.rows = 0
        self.batches = 0
        self._row_digests = RowAccumulator() if granularity == "row" else None

    def add(self, sources: Sequence[ColumnSource], rows: int | None = None) -> None:
        """Hash the next rows of the table: one source per column, in table order. ``rows``: the batch's row
        count, which a batch without columns (JSON lines of ``{}``) cannot tell (default: the first column's)."""
        if self.columns is None:
            self.columns = [_ColumnHasher(src, self.block_rows) for src in sources]
        if len(sources) != len(self.columns):
            raise BadInputError(f"a batch has {len(sources)} columns, the table {len(self.columns)}.",
                                fix="give every batch the same columns.")
        n = rows if rows is not None else sources[0].length if sources else 0
        for col, src in zip(self.columns, sources, strict=True):
            if src.length != n:
                raise BadInputError(f"column {src.display!r} has {src.length} rows, the batch {n}.",
                                    fix="give every column the same length.")
            hashed = col.add(src.block(0, n))
            if self._row_digests is not None:
                self._row_digests.add_block(self.rows, block_row_hashes(hashed))
        self.rows += n
        self.batches += 1

    def finish(self) -> TableDigest:
        """The digest of every row added so far."""
        hashers = self.columns or []
        columns = [(c.finish(), c.raw, c.digests) for c in hashers]
        row_digests = self._row_digests.table(self.rows) if self._row_digests is not None else None
        return table_result(self.rows, columns, sum(c.bytes for c in hashers), granularity=self.granularity,
                            block_rows=self.block_rows, row_digests=row_digests)
