"""A JSON-lines file hashed in chunks of lines, with the digest of the whole file read by ``pyarrow.json``.

``pyarrow.json.read_json`` infers each field's type over the whole file and promotes it when blocks
disagree: a missing or null field takes the other type, ``int64`` becomes ``double``, a timestamp
becomes ``string``, lists and structs are promoted field by field (new struct fields are appended).
A streaming reader (``pyarrow.json.open_json``) fixes the types from its first block instead, so:

1. the first pass reads chunks of whole lines, hashes them while they all have one schema, and
   folds their schemas with those promotion rules;
2. when the schemas differ, a second pass reads every chunk with the promoted schema declared
   (``explicit_schema``) and hashes that.

Memory: a few chunks of lines (:data:`CHUNK_BYTES`, 512 KiB, parsed on one thread per CPU; the JSON reader needs
about ten times a chunk while it parses it) and one open block per column. Each chunk costs some work per
column, so for a file of more than :data:`CHUNK_COLUMNS` columns the chunks grow with the number of columns
(up to :data:`LONG_LINE_BYTES`): time stays linear in the file's size, not in its size times its columns. A line longer than
:data:`LONG_LINE_BYTES` would cost ten times its length here, so once one is met the whole file is
hashed by :func:`~prov_common.hashing.jsonl_long.hash_jsonl_long` instead (an incremental parser; same digest).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import IO

import pyarrow as pa
import pyarrow.json as pajson

from prov_common.hashing.columns import table_sources
from prov_common.hashing.jsonl_events import BOM, JSON_SPACE
from prov_common.hashing.jsonl_long import hash_jsonl_long
from prov_common.hashing.jsonl_schema import type_change
from prov_common.hashing.jsonl_strict import check_before_parse, check_chunk, check_numbers, check_refused, reads_infinity
from prov_common.hashing.model import Granularity, TableDigest
from prov_common.hashing.streaming import StreamingTableHasher, ordered_map
from prov_common.hashing.table import BLOCK_ROWS

CHUNK_BYTES = 1 << 19
CHUNK_COLUMNS = 256  # a chunk of CHUNK_BYTES for this many columns; proportionally more for more columns
LONG_LINE_BYTES = 1 << 23  # 8 MiB: a longer line is not parsed whole
_READ = pajson.ReadOptions(use_threads=False)
Opener = Callable[[], AbstractContextManager[IO[bytes]]]


class LongLine(Exception):
    """A line longer than the limit given to :func:`line_chunks` (read no further)."""


def line_chunks(f: IO[bytes], chunk_bytes: int | Callable[[], int] = CHUNK_BYTES,
                long_line: int | None = None) -> Iterator[tuple[int, bytes]]:
    """About ``chunk_bytes`` of whole lines at a time (a longer line is one chunk), each with the number of its
    first line in the file; blank chunks (of JSON's whitespace) skipped, and a UTF-8 BOM at the file's start (as
    ``pyarrow.json`` skips it). ``chunk_bytes`` may be a function, asked before each read.

    The pieces of a long line are kept in a list and joined once, so a line of any length costs time
    linear in its length (not one copy of the growing line per read). With ``long_line``, a line
    longer than that raises :class:`LongLine` instead of being kept."""
    size = chunk_bytes if callable(chunk_bytes) else lambda: chunk_bytes
    pieces: list[bytes] = []  # the start of a line that has not ended yet
    held = 0
    line = 1  # the number of the next chunk's first line
    data = f.read(size())
    if data.startswith(BOM):
        data = data[len(BOM):] or f.read(size())
    while data:
        cut = data.rfind(b"\n") + 1
        if not cut:
            pieces.append(data)
            held += len(data)
            if long_line is not None and held > long_line:
                raise LongLine
            data = f.read(size())
            continue
        if long_line is not None and held + data.find(b"\n") > long_line:
            raise LongLine
        chunk = b"".join([*pieces, data[:cut]])
        pieces = [data[cut:]] if cut < len(data) else []
        held = len(data) - cut
        if chunk.strip(JSON_SPACE):
            yield line, chunk
        line += chunk.count(b"\n")
        data = f.read(size())
    rest = b"".join(pieces)
    if rest.strip(JSON_SPACE):
        yield line, rest


def promote(a: pa.DataType, b: pa.DataType, where: str = "") -> pa.DataType:
    """The type ``pyarrow.json`` gives a field read as ``a`` in one block and as ``b`` in another."""
    if a == b:
        return a
    if pa.types.is_null(a):
        return b
    if pa.types.is_null(b):
        return a
    if {a, b} == {pa.int64(), pa.float64()}:
        return pa.float64()
    if (pa.types.is_timestamp(a) and pa.types.is_string(b)) or (pa.types.is_string(a) and pa.types.is_timestamp(b)):
        return pa.string()
    if pa.types.is_list(a) and pa.types.is_list(b):
        return pa.list_(a.value_field.with_type(promote(a.value_type, b.value_type, f"{where}[]")))
    if pa.types.is_struct(a) and pa.types.is_struct(b):
        return pa.struct(promote_fields(list(a), list(b), where))
    raise type_change(where, a, b)


def promote_fields(a: list[pa.Field], b: list[pa.Field], where: str = "") -> list[pa.Field]:
    """Fields of ``a`` promoted with ``b``'s of the same name, then ``b``'s new fields, in order."""
    theirs = {f.name: f for f in b}
    fields = [f.with_type(promote(f.type, theirs[f.name].type, f"{where}/{f.name}")) if f.name in theirs else f
              for f in a]
    mine = {f.name for f in a}
    return fields + [f for f in b if f.name not in mine]


class ChunkSize:
    """Bytes read per chunk of lines: ``base``, grown in proportion once a chunk shows more than
    :data:`CHUNK_COLUMNS` columns (never past ``LONG_LINE_BYTES``), so the work done per chunk and
    column stays a small part of the parsing."""

    def __init__(self, base: int) -> None:
        self.base = base
        self.bytes = base

    def __call__(self) -> int:
        return self.bytes

    def fit(self, columns: int) -> None:
        """Grow for a table of ``columns`` columns."""
        scaled = min(self.base * columns // CHUNK_COLUMNS, LONG_LINE_BYTES)
        self.bytes = max(self.bytes, scaled)


def _tables(open_source: Opener, chunk_bytes: int | Callable[[], int], schema: pa.Schema | None,
            long_line: int | None = None) -> Iterator[pa.Table]:
    """The file's chunks of lines parsed, in order (several at a time: they do not depend on each other)."""
    options = pajson.ParseOptions(explicit_schema=schema) if schema is not None else None

    def parse(numbered: tuple[int, bytes]) -> pa.Table:
        line, chunk = numbered
        lines = 0
        if schema is None:  # the first pass: what the second reads again was checked there
            lines = check_before_parse(chunk, line)
        # one block per chunk: a line longer than Arrow's default block would otherwise be refused
        read = _READ if len(chunk) < _READ.block_size else pajson.ReadOptions(use_threads=False, block_size=len(chunk) + 1)
        try:
            table = pajson.read_json(pa.BufferReader(chunk), read_options=read, parse_options=options)
        except pa.ArrowInvalid:
            check_numbers(chunk, line)  # 1e400: refused naming its line
            if schema is None:
                check_refused(lambda: pa.BufferReader(chunk), line)  # Arrow's row counts from 0 in the chunk
            raise
        if schema is None:  # the first pass: what the second reads again was checked there
            check_chunk(chunk, table.num_rows, line)
            if table.num_rows < lines:  # an object over several lines: refused wherever the chunks end
                check_refused(lambda: pa.BufferReader(chunk), line)
            if reads_infinity(table):
                check_numbers(chunk, line)
        return table

    with open_source() as f:
        yield from ordered_map(parse, line_chunks(f, chunk_bytes, long_line))


def check_json_lines(f: IO[bytes]) -> int:
    """Refuse what ``pyarrow.json`` reads that the hash refuses (:mod:`~prov_common.hashing.jsonl_strict`), line
    by line in chunks of lines: for a file read whole (``read_table_file``), so it is read as it is hashed. Call it
    before the file is parsed (:func:`~prov_common.hashing.jsonl_strict.check_before_parse`). Returns the number of
    lines that are not blank: fewer rows read means an object over several lines (refuse it with
    :func:`~prov_common.hashing.jsonl_strict.check_refused`)."""
    lines = 0
    for line, chunk in line_chunks(f):
        lines += check_before_parse(chunk, line)
        check_chunk(chunk, None, line)
    return lines


def check_json_numbers(f: IO[bytes]) -> None:
    """Refuse the first line of ``f`` that holds a number past the range of a double
    (:func:`~prov_common.hashing.jsonl_strict.check_numbers`): for a file read whole that Arrow read as infinity or
    refused."""
    for line, chunk in line_chunks(f):
        check_numbers(chunk, line)


def _add(hasher: StreamingTableHasher, table: pa.Table) -> None:
    hasher.add(table_sources(table, None, use_pandas_metadata=False), rows=table.num_rows)


def hash_jsonl_stream(open_source: Opener, *, granularity: Granularity = "column", block_rows: int = BLOCK_ROWS,
                      chunk_bytes: int = CHUNK_BYTES, long_line_bytes: int = LONG_LINE_BYTES) -> TableDigest | None:
    """Digest of ``pyarrow.json.read_json(source)``, read in chunks of lines; None when it has no lines.

    A line longer than ``long_line_bytes`` sends the file to :func:`hash_jsonl_long` (bounded memory),
    except for row digests, which are then made by parsing the line whole."""
    hasher = StreamingTableHasher(granularity=granularity, block_rows=block_rows)
    first: pa.Schema | None = None
    fields: list[pa.Field] = []
    consistent = True
    size = ChunkSize(chunk_bytes)
    try:
        for table in _tables(open_source, size, None, None if granularity == "row" else long_line_bytes):
            size.fit(table.num_columns)
            first = table.schema if first is None else first
            fields = promote_fields(fields, list(table.schema))
            consistent = consistent and table.schema == first
            if consistent:
                _add(hasher, table)
    except LongLine:
        return hash_jsonl_long(open_source, granularity=granularity, block_rows=block_rows)
    if first is None:
        return None
    if consistent:
        return hasher.finish()
    schema = pa.schema(fields)
    hasher = StreamingTableHasher(granularity=granularity, block_rows=block_rows)
    for table in _tables(open_source, size, schema):
        _add(hasher, table)
    return hasher.finish()
