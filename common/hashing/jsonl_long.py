"""The canonical digest of a JSON-lines file with lines too long to parse whole, in bounded memory.

Two passes of an incremental parser over the file (:mod:`~prov_common.hashing.jsonl_events`):

1. the schema ``pyarrow.json.read_json`` would infer (:mod:`~prov_common.hashing.jsonl_schema`);
2. every value goes, as its canonical bytes, to one spill file per part of the block encoding
   (validity, lengths or values, string bytes) of the position it holds in the data; the files
   record where each block of ``block_rows`` rows starts.

Each block is then hashed by reading its parts back in encoding order (docs/content-hash.md), so the
digest is the one :func:`~prov_common.hashing.hash_table` gives ``read_json``'s table. Memory: the
parser's buffers, a batch of values per position, and the largest single number (the parser hands
it over whole; a string is decoded apart from it in pieces, :mod:`~prov_common.hashing.jsonl_strings`);
disk: about the encoded size of the data (and a long string once more), in a temporary folder.
"""
from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
from blake3 import blake3

from prov_common.errors import BadInputError
from prov_common.hashing.columns import table_sources
from prov_common.hashing.encode import HAS_NULLS, NO_NULLS, encode_block
from prov_common.hashing.jsonl_events import READ_BYTES, Event, Opener, json_lines
from prov_common.hashing.jsonl_schema import Node, read_row, read_strings
from prov_common.hashing.jsonl_strings import KEEP_BYTES, LongString
from prov_common.hashing.model import ColumnDigest, Granularity, TableDigest
from prov_common.hashing.raw import show
from prov_common.hashing.table import BLOCK_ROWS, check_options, column_digest, table_result
from prov_common.hashing.types import logical_type

SPILL_BYTES = 1 << 20  # written to a spill file once this much is buffered
LEAF_BATCH = 65_536  # values converted to canonical bytes at a time
_WIDTH = {"bool": 1, "int": 8, "double": 8, "timestamp": 16}


class _Spill:
    """An append-only temporary file of bytes, read back by ranges."""

    def __init__(self, path: Path) -> None:
        self.f: IO[bytes] = path.open("w+b")
        self.buf = bytearray()
        self.size = 0

    def write(self, data: bytes | memoryview) -> None:
        self.size += len(data)
        if len(data) >= SPILL_BYTES:
            self.flush()
            self.f.write(data)
            return
        self.buf += data
        if len(self.buf) >= SPILL_BYTES:
            self.flush()

    def flush(self) -> None:
        if self.buf:
            self.f.write(self.buf)
            self.buf = bytearray()

    def read(self, start: int, stop: int) -> Iterator[bytes]:
        """Bytes ``start:stop`` in pieces of at most :data:`SPILL_BYTES` (after :meth:`flush`)."""
        self.f.seek(start)
        while start < stop:
            piece = self.f.read(min(SPILL_BYTES, stop - start))
            start += len(piece)
            yield piece


def _leaf_array(kind: str, values: list[Any]) -> pa.Array:
    """A batch of one position's scalars as the Arrow array ``pyarrow.json`` makes of them."""
    if kind == "timestamp":
        return read_strings(values, as_stamps=True)
    return pa.array(values, type={"bool": pa.bool_(), "int": pa.int64(), "double": pa.float64()}[kind])


class _Out:
    """The spill files of one position: validity (one byte per value), then lengths or values, then string bytes."""

    def __init__(self, node: Node, folder: Path, number: int) -> None:
        self.node = node
        self.kind = node.kind
        self.fields: dict[str, _Out] = {}
        self.valid = _Spill(folder / f"{number}.valid")
        self.width = 8 if self.kind in ("list", "string") else _WIDTH.get(self.kind, 0)
        self.values = _Spill(folder / f"{number}.values") if self.width else None
        self.data = _Spill(folder / f"{number}.data") if self.kind == "string" else None
        self.pending: list[Any] = []  # scalars waiting for conversion
        self.nulls = 0
        self.bounds: list[tuple[int, int, int]] = [(0, 0, 0)]  # (values, string bytes, nulls) at each block's end

    def null(self) -> None:
        self.valid.write(b"\x00")
        self.nulls += 1
        if self.kind in ("list", "string"):
            self.length(0)
        elif self.width:
            self.scalar(None)
        if self.kind == "struct":  # a missing struct has missing fields (Arrow's flatten); a missing list no items
            for child in self.fields.values():
                child.null()

    def length(self, n: int) -> None:
        assert self.values is not None
        self.values.write(n.to_bytes(8, "little"))

    def scalar(self, value: Any) -> None:
        self.pending.append(value)
        if len(self.pending) >= LEAF_BATCH:
            self.convert()

    def convert(self) -> None:
        """Canonical bytes of the pending scalars (the value parts of their block encoding)."""
        if self.pending and self.values is not None:
            arr = _leaf_array(self.kind, self.pending)
            for part in encode_block(arr)[1 if arr.null_count == 0 else 2:]:  # skip the validity parts
                self.values.write(memoryview(part).cast("B"))
            self.pending = []

    def end_block(self) -> None:
        self.bounds.append((self.valid.size, self.data.size if self.data else 0, self.nulls))

    def finish(self) -> None:
        self.convert()
        for spill in (self.valid, self.values, self.data):
            if spill is not None:
                spill.flush()

    def parts(self, block: int) -> Iterator[bytes]:
        """This position's parts of the encoding of ``block`` (its children's follow)."""
        (start, d0, n0), (stop, d1, n1) = self.bounds[block], self.bounds[block + 1]
        if n1 == n0:
            yield NO_NULLS
        else:
            yield HAS_NULLS
            yield from self.valid.read(start, stop)
        if self.values is not None:
            yield from self.values.read(start * self.width, stop * self.width)
        if self.data is not None:
            yield from self.data.read(d0, d1)

    def walk(self) -> Iterator[_Out]:
        """This position and every one below it, in encoding order."""
        yield self
        for child in self.fields.values():
            yield from child.walk()


def _outs(node: Node, folder: Path, counter: Iterator[int]) -> _Out:
    out = _Out(node, folder, next(counter))
    out.fields = {name: _outs(child, folder, counter) for name, child in node.fields.items()}
    return out


def _fields(out: _Out, events: Iterator[Event]) -> None:
    """The rest of an object: each field's value, then a missing value for each field not given."""
    seen: set[str] = set()
    for event, key in events:
        if event == "end_map":
            break
        seen.add(key)
        _value(out.fields[key], *next(events), events)
    if len(seen) < len(out.fields):
        for name, child in out.fields.items():
            if name not in seen:
                child.null()


def _value(out: _Out, event: str, value: Any, events: Iterator[Event]) -> None:
    if event == "null":
        out.null()
        return
    out.valid.write(b"\x01")
    if event == "start_map":
        _fields(out, events)
    elif event == "start_array":
        items, n = out.fields["[]"], 0
        for item in events:
            if item[0] == "end_array":
                break
            _value(items, *item, events)
            n += 1
        out.length(n)
    elif out.kind == "string":
        assert out.data is not None
        size = 0
        for piece in _utf8(value):
            out.data.write(piece)
            size += len(piece)
        out.length(size)
    else:
        out.scalar(float(value) if out.kind == "double" else value)  # type: ignore[arg-type]  # the double Arrow reads


def _utf8(value: str | LongString) -> Iterator[bytes]:
    """A string's UTF-8 bytes in pieces of at most :data:`SPILL_BYTES` (a long one is not copied whole)."""
    if isinstance(value, LongString):
        yield from value.chunks(SPILL_BYTES)
        return
    for start in range(0, len(value), SPILL_BYTES):
        yield value[start:start + SPILL_BYTES].encode()


def hash_jsonl_long(open_source: Opener, *, granularity: Granularity = "column", block_rows: int = BLOCK_ROWS,
                    chunk_bytes: int = READ_BYTES, keep_bytes: int = KEEP_BYTES) -> TableDigest | None:
    """Digest of ``pyarrow.json.read_json(source)`` without parsing any line whole; None when it has no lines.

    ``chunk_bytes``: the size of the pieces a line is read in; ``keep_bytes``: strings of more UTF-8
    bytes than this are decoded to a temporary file, not held."""
    check_options(granularity, block_rows)
    if granularity == "row":
        raise BadInputError("row digests of a JSON-lines file with very long lines are not computed in bounded memory.",
                            fix="hash it with granularity column, block or table.")
    root, rows = Node(""), 0
    for line, events in json_lines(open_source, chunk_bytes, keep_strings=False, keep_bytes=keep_bytes):
        rows += read_row(root, line, events)
    if not rows:
        return None
    root.settle()
    with tempfile.TemporaryDirectory(prefix="tdprov-jsonl-") as folder:
        top = _outs(root, Path(folder), iter(range(1 << 62)))
        outs = [out for column in top.fields.values() for out in column.walk()]
        done = 0
        for _line, events in json_lines(open_source, chunk_bytes, keep_bytes=keep_bytes):
            if next(events, None) is None:
                continue
            _fields(top, events)
            done += 1
            if done % block_rows == 0 or done == rows:
                for out in outs:
                    out.end_block()
        for out in outs:
            out.finish()
        return _digest(top, rows, granularity, block_rows)


def _digest(top: _Out, rows: int, granularity: Granularity, block_rows: int) -> TableDigest:
    """Hash every block of every column from the spill files."""
    schema = pa.schema([pa.field(name, out.node.arrow_type()) for name, out in top.fields.items()])
    sources = table_sources(schema.empty_table(), None, use_pandas_metadata=False)
    columns, size = [], 0
    for src, column, arrow_field in zip(sources, top.fields.values(), schema, strict=True):
        digests = []
        for block in range(len(column.bounds) - 1):
            h = blake3()
            for out in column.walk():
                for part in out.parts(block):
                    h.update(part)
                    size += len(part)
            digests.append(h.digest())
        logical = logical_type(arrow_field.type)
        raw = column_digest(src.role, src.name_key, logical, rows, block_rows, digests)
        columns.append((ColumnDigest(src.display, logical, show(raw), src.role), raw, digests))  # type: ignore[arg-type]
    return table_result(rows, columns, size, granularity=granularity, block_rows=block_rows, row_digests=None)
