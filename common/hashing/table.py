"""The canonical table digest: blocks -> columns -> table (docs/content-hash.md)."""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
from blake3 import blake3

from prov_common.config import usable_cpus
from prov_common.errors import BadInputError, UnsupportedTypeError
from prov_common.hashing.columns import BlockReader, ColumnSource, dataframe_sources, table_sources, too_deep
from prov_common.hashing.encode import NO_NULLS, NotUtf8Error, encode_block
from prov_common.hashing.model import ColumnDigest, Granularity, TableDigest
from prov_common.hashing.raw import lp, show, u64
from prov_common.hashing.rows import RowAccumulator, block_row_hashes
from prov_common.hashing.types import logical_type

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

BLOCK_ROWS = 65_536
TABLE_TAG = b"tdprov-table-v1"
COLUMN_TAG = b"tdprov-column-v1"
CATEGORIES_TAG = b"tdprov-categories-v1"
GRANULARITIES = ("table", "column", "block", "row")
_PARALLEL_MIN_CELLS = 4 * BLOCK_ROWS
TASK_BLOCKS = 16  # rows of about this many blocks are hashed per thread-pool task


def block_digest(arr: pa.Array) -> tuple[bytes, int]:
    """BLAKE3 of the canonical encoding of one block, and the number of bytes encoded."""
    h = blake3()
    size = 0
    for part in encode_block(arr):
        if isinstance(part, np.ndarray):
            part = part.view(np.uint8)
        h.update(part)
        size += memoryview(part).nbytes
    return h.digest(), size


def plain_block_digest(values: np.ndarray) -> tuple[bytes, int] | None:
    """:func:`block_digest` of a block of plain numpy numbers, straight from their bytes (no Arrow array);
    None when a float is NaN (missing), which needs the general encoding."""
    if values.dtype.kind == "f" and np.isnan(values).any():
        return None
    if values.dtype.kind in "iu" and values.dtype.itemsize < 8:
        values = values.astype(np.int64)  # integer width is not part of the logical type
    raw = np.ascontiguousarray(values).view(np.uint8)
    h = blake3(NO_NULLS)
    h.update(raw)
    return h.digest(), len(NO_NULLS) + raw.nbytes


def categories_digest(dictionary: pa.Array) -> str:
    """Digest of the categories of a categorical column (their canonical encoding as one block)."""
    digest, _ = block_digest(dictionary)
    return show(blake3(CATEGORIES_TAG + digest).digest())


def column_logical_type(src: ColumnSource) -> str:
    """Logical type string of a source, with ordered flag and categories for categoricals."""
    if pa.types.is_dictionary(src.type):
        ordered = "true" if src.type.ordered else "false"
        try:
            categories = categories_digest(src.dictionary)
        except NotUtf8Error as exc:
            raise exc.at(column=src.display) from None  # a category, not a row
        return f"category<{logical_type(src.type.value_type)}, ordered={ordered}, categories={categories}>"
    return logical_type(src.type)


def column_digest(role: str, name_key: bytes, logical: str, rows: int, block_rows: int,
                  block_digests: Iterable[bytes]) -> bytes:
    """BLAKE3 over the column header and its block digests, in order."""
    blocks = list(block_digests)
    h = blake3(COLUMN_TAG)
    h.update(lp(role.encode()) + lp(name_key) + lp(logical.encode()))
    h.update(u64(rows) + u64(block_rows) + u64(len(blocks)))
    for d in blocks:
        h.update(d)
    return h.digest()


def table_digest(rows: int, column_digests: Iterable[bytes]) -> bytes:
    """BLAKE3 over the table header and the column digests, in order."""
    cols = list(column_digests)
    h = blake3(TABLE_TAG)
    h.update(u64(rows) + u64(len(cols)))
    for d in cols:
        h.update(d)
    return h.digest()


Segment = tuple[ColumnSource, int, int]  # (column, first row, end row)


def _no_block(start: int, rows: int) -> pa.Array:  # pragma: no cover - only a placeholder
    raise RuntimeError("column data was let go after hashing")


def _task(job: tuple[list[Segment], int, bool]) -> list[tuple[bytes, int, int, Any]]:
    """Hash the blocks of some column segments: [(digest, bytes, start, row hashes)] in order."""
    segments, block_rows, with_rows = job
    out = []
    for src, start, stop in segments:
        try:
            plain = None if with_rows else src.numbers
            for b in range(start, stop, block_rows):
                rows = min(block_rows, stop - b)
                done = plain_block_digest(plain[b:b + rows]) if plain is not None else None
                if done is not None:
                    out.append((*done, b, None))
                    continue
                arr = src.block(b, rows)
                digest, size = block_digest(arr)
                out.append((digest, size, b, block_row_hashes(arr) if with_rows else None))
        except UnsupportedTypeError as exc:
            raise UnsupportedTypeError(f"column {src.display!r}: {exc.what}", fix=exc.fix) from exc
        except NotUtf8Error as exc:
            raise exc.at(start=b, column=src.display) from None
        except RecursionError:
            raise too_deep(src.display) from None
    return out


def _ordered_map(jobs: Iterator[Any], threads: int) -> Iterator[Any]:
    """Results of ``_task`` over ``jobs`` in order, with a bounded number of tasks in flight."""
    if threads <= 1:
        yield from map(_task, jobs)
        return
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="tdprov-hash") as pool:
        window: deque[Future] = deque()
        for job in jobs:
            window.append(pool.submit(_task, job))
            if len(window) >= 4 * threads:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()


def _hash_sources(sources: Iterable[ColumnSource], rows: int | None, ncols_hint: int, *,
                  granularity: Granularity, block_rows: int, threads: int | None) -> TableDigest:
    check_options(granularity, block_rows)
    if threads is None:
        cells = (rows or 0) * max(ncols_hint, 1)
        # one worker per CPU: the calling thread only hands out tasks and collects digests
        threads = min(usable_cpus(), 8) if cells >= _PARALLEL_MIN_CELLS else 1
    with_rows = granularity == "row"
    meta: list[tuple[ColumnSource, str, int]] = []  # (source without data, logical type, number of blocks)

    def jobs() -> Iterator[tuple[list[Segment], int, bool]]:
        """Tasks of about TASK_BLOCKS blocks' worth of rows, whole blocks, columns in order."""
        budget = block_rows * TASK_BLOCKS
        task: list[Segment] = []
        size = 0
        for src in sources:
            if rows is not None and src.length != rows:
                raise BadInputError(f"column {src.display!r} has {src.length} rows, the table {rows}.",
                                    fix="give every column the same length.")
            try:
                logical = column_logical_type(src)
            except RecursionError:
                raise too_deep(src.display) from None
            meta.append((replace(src, block=_no_block, dictionary=None, numbers=None), logical,
                         len(range(0, src.length, block_rows))))
            for start in range(0, src.length, budget):
                stop = min(start + budget, src.length)
                task.append((src, start, stop))
                size += stop - start
                if size >= budget:
                    yield task, block_rows, with_rows
                    task, size = [], 0
        if task:
            yield task, block_rows, with_rows

    n = rows or 0
    acc = RowAccumulator() if with_rows else None  # rows as blocks are read, not as many as `rows` claims
    results: list[tuple[bytes, int]] = []
    for done in _ordered_map(jobs(), threads):
        for digest, size, start, lanes in done:
            if acc is not None:  # blocks arrive in order: column by column, block by block
                acc.add_block(start, lanes)
            results.append((digest, size))

    columns: list[tuple[ColumnDigest, bytes, list[bytes]]] = []
    pos = 0
    for src, logical, nblocks in meta:
        mine = [d for d, _ in results[pos:pos + nblocks]]
        pos += nblocks
        raw = column_digest(src.role, src.name_key, logical, src.length, block_rows, mine)
        columns.append((ColumnDigest(src.display, logical, show(raw), src.role), raw, mine))  # type: ignore[arg-type]
    return table_result(n, columns, sum(s for _, s in results), granularity=granularity, block_rows=block_rows,
                        row_digests=acc.table(n) if acc is not None else None)


def check_options(granularity: Granularity, block_rows: int) -> None:
    """Refuse a granularity or block size the hash does not know."""
    if granularity not in GRANULARITIES:
        raise BadInputError(f"granularity {granularity!r} is not one of {', '.join(GRANULARITIES)}.",
                            fix="use table, column, block or row.")
    if not isinstance(block_rows, int) or block_rows <= 0:
        raise BadInputError(f"block_rows must be a positive int, got {block_rows!r}.", fix=f"use {BLOCK_ROWS}.")


def table_result(rows: int, columns: Sequence[tuple[ColumnDigest, bytes, Sequence[bytes]]], size: int, *,
                 granularity: Granularity, block_rows: int, row_digests: pa.Table | None) -> TableDigest:
    """The :class:`TableDigest` of hashed columns: (column digest, its raw bytes, its block digests) each."""
    blocks: dict[str, tuple[str, ...]] = {}
    taken: dict[str, int] = {}  # name -> the last k given to it (every smaller one is taken)
    for cd, _raw, digests in columns:
        k = taken.get(cd.name, 1)
        key = cd.name if k == 1 else f"{cd.name}#{k}"
        while key in blocks:  # duplicate column names: x, x#2, ...
            k += 1
            key = f"{cd.name}#{k}"
        taken[cd.name] = k
        blocks[key] = tuple(show(d) for d in digests)
    return TableDigest(
        digest=show(table_digest(rows, [raw for _cd, raw, _d in columns])),
        rows=rows,
        bytes=size,
        columns=tuple(cd for cd, _raw, _d in columns),
        granularity=granularity,
        block_rows=block_rows,
        blocks=blocks if granularity in ("block", "row") else None,
        row_digests=row_digests,
    )


def hash_dataframe(df: pd.DataFrame, *, granularity: Granularity = "column", block_rows: int = BLOCK_ROWS,
                   threads: int | None = None, arrow: pa.Table | None = None) -> TableDigest:
    """Canonical digest of a pandas DataFrame (index included unless it is the default RangeIndex).

    ``threads``: worker threads (default: one per CPU, at most 8, for large frames; else 1).
    ``block_rows`` is part of the algorithm: change it only to compare with digests made with it.
    ``arrow``: ``df`` as an Arrow table just made from it (``pa.Table.from_pandas(df)``, with ``df`` unchanged since):
    its date-time columns are hashed from it rather than converted again; the digest is the same. Not a table ``df``
    was read from (a frame changed after ``to_pandas`` would be hashed from its stale columns).
    """
    import pandas as pd  # here: Arrow tables and files are hashed without pandas

    if not isinstance(df, pd.DataFrame):
        raise BadInputError(f"expected a pandas DataFrame, got {type(df).__name__}.",
                            fix="pass a DataFrame, or use hash_table() for Arrow tables and hash_path() for files.")
    sources = dataframe_sources(df, arrow)
    return _hash_sources(sources, len(df), df.shape[1] + 1, granularity=granularity,
                         block_rows=block_rows, threads=threads)


def hash_table_columns(schema_table: pa.Table, load: Callable[[str], pa.ChunkedArray], rows: int, *,
                       granularity: Granularity = "column", block_rows: int = BLOCK_ROWS,
                       threads: int | None = None, blocks: BlockReader | None = None) -> TableDigest:
    """Like :func:`hash_table`, reading one column at a time with ``load(name)`` (bounded memory), or
    one block at a time with ``blocks(name)(start, rows)`` when given (categoricals still by ``load``).

    ``schema_table`` has the schema (with pandas metadata) and no rows; column names must be unique.
    """
    sources = table_sources(schema_table, None, True, load=load, rows=rows, blocks=blocks)
    return _hash_sources(sources, rows, schema_table.num_columns, granularity=granularity,
                         block_rows=block_rows, threads=threads)


def hash_table(table: pa.Table, *, index_columns: list[str] | None = None, use_pandas_metadata: bool = True,
               granularity: Granularity = "column", block_rows: int = BLOCK_ROWS,
               threads: int | None = None) -> TableDigest:
    """Canonical digest of an Arrow table.

    ``index_columns`` names columns that are the index (hashed first, with role ``index``); when not
    given, pandas metadata in the schema (as written by pandas/pyarrow) is used to find the index, so
    a Parquet file hashes like the DataFrame it was written from.
    """
    sources = table_sources(table, index_columns, use_pandas_metadata)
    return _hash_sources(sources, table.num_rows, table.num_columns, granularity=granularity,
                         block_rows=block_rows, threads=threads)
