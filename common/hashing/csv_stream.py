"""A CSV file hashed in row chunks, with the digest of the whole file read by ``pandas.read_csv``.

pandas' C parser (``low_memory=True``, its default) infers each column's dtype over pieces of
:func:`low_memory_rows` rows and then concatenates the pieces, casting them to a common dtype when they
disagree (ints, then a float: ``float64``; ints, then a word: ``object``). Reading with
``chunksize`` equal to that piece size gives exactly those pieces, so:

1. the first pass hashes the chunks as they come and notes every dtype each column was read as;
2. when a column was read as more than one dtype, a second pass casts every chunk the way pandas'
   concatenation does (``pd.concat`` with one value of each other dtype) and hashes that instead.

The index is left out only when it is pandas' default one: when every chunk's index is its own row numbers. Rows
with one field more than the header make the first field the index (R's row names), which the digest covers even
when its values are consecutive numbers; when only a later chunk shows it, the second pass hashes it.

Memory: one chunk (about 2**20 cells) and one open block per column, whatever the file's size.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any

import pandas as pd

from prov_common.hashing.columns import ColumnSource, display_label, index_display, level_values, pandas_source
from prov_common.hashing.model import Granularity, TableDigest
from prov_common.hashing.streaming import StreamingTableHasher
from prov_common.hashing.table import BLOCK_ROWS

Opener = Callable[[], AbstractContextManager[Any]]  # a context giving a path or a binary file object
Column = tuple[Any, str, str, pd.Series | pd.Index]  # (label, shown name, role, values)


def low_memory_rows(width: int) -> int:
    """Rows per piece pandas' C parser infers dtypes over: the largest power of two below 2**20 / width."""
    heuristic = 2**20 // max(width, 1)
    rows = 1
    while rows * 2 < heuristic:
        rows *= 2
    return rows


def _table_width(reader: Any) -> int | None:
    """Fields per row as the C parser counts them (None when the reader is not pandas' C parser)."""
    width = getattr(getattr(getattr(reader, "_engine", None), "_reader", None), "table_width", None)
    return width if isinstance(width, int) and width > 0 else None


def _chunks(open_source: Opener, csv_dtypes: Mapping[str, Any] | None, chunk_rows: int | None
            ) -> Iterator[pd.DataFrame]:
    """The file's rows in pieces of pandas' own inference size (or ``chunk_rows``, for tests)."""
    with open_source() as source, pd.read_csv(source, dtype=csv_dtypes, chunksize=1) as reader:
        width = _table_width(reader)
        if width is None:
            raise _CannotStream
        reader.chunksize = chunk_rows or low_memory_rows(width)
        yield from reader


class _CannotStream(Exception):
    """The file cannot be read in chunks with the same result: read it whole."""


def _columns(df: pd.DataFrame) -> list[Column]:
    """Index levels then the columns, as ``hash_dataframe`` sees them when the index is not the default one."""
    index = df.index
    cols: list[Column] = [(name, index_display(name, level), "index", level_values(index, level))
                          for level, name in enumerate(index.names)]
    return cols + [(label, display_label(label), "column", series) for label, series in df.items()]


def _row_numbers(index: pd.Index, offset: int) -> bool:
    """True when a chunk's ``index`` is its rows' numbers in the file (``offset`` is the chunk's first row): the part
    of pandas' default index the chunk holds. Else it is the file's first field (rows with one field more than the
    header, as R's ``write.table`` writes row names), also when those happen to be consecutive numbers."""
    return (isinstance(index, pd.RangeIndex) and index.step == 1 and index.name is None
            and index.start == offset)


class _IndexRule:
    """Whether the whole file's index is pandas' default (left out of the digest): only when every chunk's index
    is its own row numbers. Decided on the first chunk; a later chunk that disagrees needs a second pass."""

    def __init__(self) -> None:
        self.offset = 0
        self.default: bool | None = None

    def add(self, chunk: pd.DataFrame) -> bool:
        """Note a chunk; False when the decision taken so far (leave the index out) turns out wrong."""
        plain = _row_numbers(chunk.index, self.offset)
        self.offset += len(chunk)
        if self.default is None:
            self.default = plain
        elif self.default and not plain:
            self.default = False
            return False
        return True

    def hashed(self, cols: list[Column]) -> list[Column]:
        """The columns the digest covers: without the index levels when it is the default index."""
        return [c for c in cols if c[2] != "index"] if self.default else cols


def _sources(cols: list[Column]) -> list[ColumnSource]:
    return [pandas_source(values, label, display, role) for label, display, role, values in cols]


class _DtypeLog:
    """Every dtype each column was read as, with one value of each, to cast like pandas' concatenation."""

    def __init__(self) -> None:
        self.kinds: list[dict[Any, pd.Series]] = []

    def add(self, cols: list[Column]) -> bool:
        """Note a chunk's dtypes; True while every column has been read as one dtype only."""
        if not self.kinds:
            self.kinds = [{} for _ in cols]
        for kinds, (_, _, _, values) in zip(self.kinds, cols, strict=True):
            if values.dtype not in kinds and len(values):
                kinds[values.dtype] = pd.Series(values[:1]).reset_index(drop=True)
        return all(len(kinds) <= 1 for kinds in self.kinds)

    def conform(self, cols: list[Column]) -> list[Column]:
        """A chunk with each column cast to the dtype pandas gives the whole column."""
        out: list[Column] = []
        for kinds, (label, display, role, values) in zip(self.kinds, cols, strict=True):
            others = [one for dtype, one in kinds.items() if dtype != values.dtype]
            if others:
                series = values.to_series() if isinstance(values, pd.Index) else values
                values = pd.concat([series, *others], ignore_index=True).iloc[:len(values)]
            out.append((label, display, role, values))
        return out


def _declares_categories(csv_dtypes: Mapping[str, Any] | None) -> bool:
    return any(isinstance(pd.api.types.pandas_dtype(t), pd.CategoricalDtype) for t in (csv_dtypes or {}).values())


def hash_csv_stream(open_source: Opener, csv_dtypes: Mapping[str, Any] | None = None, *,
                    granularity: Granularity = "column", block_rows: int = BLOCK_ROWS, chunk_rows: int | None = None,
                    check_header: Callable[[pd.Index], None] | None = None) -> TableDigest | None:
    """Digest of ``pd.read_csv(source, dtype=csv_dtypes)``, read in chunks; None when the file is better read
    whole (declared categoricals, whose categories pandas infers over the whole column; no rows).
    ``check_header`` is given the columns of the first chunk, before anything is hashed (it may raise)."""
    if _declares_categories(csv_dtypes):
        return None
    log, index = _DtypeLog(), _IndexRule()
    hasher = StreamingTableHasher(granularity=granularity, block_rows=block_rows)
    consistent, first = True, True
    try:
        for chunk in _chunks(open_source, csv_dtypes, chunk_rows):
            if first and check_header is not None:
                check_header(chunk.columns)
            first = False
            cols = _columns(chunk)
            same_index = index.add(chunk)
            consistent = log.add(cols) and same_index and consistent
            if consistent:
                hasher.add(_sources(index.hashed(cols)))
    except _CannotStream:
        return None
    if hasher.batches == 0:
        return None
    if consistent:
        return hasher.finish()
    hasher = StreamingTableHasher(granularity=granularity, block_rows=block_rows)
    for chunk in _chunks(open_source, csv_dtypes, chunk_rows):
        hasher.add(_sources(index.hashed(log.conform(_columns(chunk)))))
    return hasher.finish()
