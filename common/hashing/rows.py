"""Per-row digests (granularity "row"), computed column-wise with numpy, and their Parquet sidecar.

A row digest is a 128-bit fingerprint (two 64-bit lanes) of the canonical values of one row, in column
order (docs/content-hash.md, "Row digests"). It answers "is this record in that dataset version?"
without the data. It is not cryptographic: accidental collisions are negligible, crafted ones are not.
"""
from __future__ import annotations

import bisect
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from prov_common.errors import BadInputError
from prov_common.replace_file import replacing
from prov_common.hashing.encode import validity_mask, fixed_values, list_children
from prov_common.hashing.iso_values import is_iso_typed, iso_value
from prov_common.hashing.object_columns import holds_negative_zero
from prov_common.hashing.types import canonicalize, parse_logical_type
from prov_common.text import counted, first_of, noun_for

ROW_ALGORITHM = "tdprov-row-v1"
LANE_SEEDS = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F))
SIP_KEYS = ("tdprov-row-v1-k0", "tdprov-row-v1-k1")  # 16 ASCII bytes each: SipHash-2-4 keys
NULL_MARK = np.uint64(0xFFFFFFFFFFFFFFFF)
_C1 = np.uint64(0xBF58476D1CE4E5B9)
_C2 = np.uint64(0x94D049BB133111EB)
DIGEST_COLUMN = "row_digest"


def mix(x: np.ndarray) -> np.ndarray:
    """The SplitMix64 finaliser (a bijection of uint64), applied elementwise to a copy."""
    return _mixed(np.array(x, dtype=np.uint64, copy=True))


def _mixed(x: np.ndarray) -> np.ndarray:
    """:func:`mix` in place, for a uint64 array (or view) whose old values are no longer needed."""
    x ^= x >> np.uint64(30)
    x *= _C1
    x ^= x >> np.uint64(27)
    x *= _C2
    x ^= x >> np.uint64(31)
    return x


@dataclass
class _Values:
    """One block's values, canonicalised and laid out for hashing once, then hashed once per lane.

    ``data``: the bits of a bool block, the 64-bit words of a fixed-width block (one contiguous row per
    word), the byte strings of a string/binary block, the list lengths of a list block, or the row
    count of a struct block (whose fields are ``children``).
    """

    kind: str  # null | bool | struct | list | bytes | fixed
    valid: np.ndarray | None
    data: Any = None
    children: tuple[_Values, ...] = ()


def _prepare(arr: pa.Array) -> _Values:
    arr = canonicalize(arr)
    t = arr.type
    valid = validity_mask(arr)
    if pa.types.is_null(t):
        return _Values("null", np.zeros(len(arr), dtype=bool))
    if pa.types.is_boolean(t):
        return _Values("bool", valid, np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=np.uint64))
    if pa.types.is_struct(t):
        return _Values("struct", valid, len(arr), tuple(_prepare(child) for child in arr.flatten()))
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_map(t):
        lengths, child = list_children(arr, valid)
        return _Values("list", valid, lengths, (_prepare(child),))
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return _Values("bytes", valid, pc.fill_null(pc.cast(arr, pa.large_binary()), b"").to_numpy(zero_copy_only=False))
    raw, valid = fixed_values(arr)
    n, w = raw.shape
    padded = np.zeros((n, -(-w // 8) * 8), dtype=np.uint8)
    padded[:, :w] = raw
    return _Values("fixed", valid, np.ascontiguousarray(padded.view("<u8").T))


def _hashes(values: _Values, lane: int) -> np.ndarray:
    """uint64 hash of every value for one lane."""
    seed = LANE_SEEDS[lane]
    kind, data = values.kind, values.data
    if kind == "null":
        h = np.zeros(len(values.valid), dtype=np.uint64)
    elif kind == "bool":
        h = _mixed(data ^ seed)
    elif kind == "struct":
        h = np.full(data, seed, dtype=np.uint64)
        for child in values.children:
            h = _mixed(h ^ _hashes(child, lane))
    elif kind == "list":
        h = _list_hashes(data, values.children[0], lane)
    elif kind == "bytes":
        import pandas as pd  # here: its SipHash of bytes values; other kinds are hashed with numpy alone

        h = np.asarray(pd.util.hash_array(data, hash_key=SIP_KEYS[lane], categorize=False), dtype=np.uint64)
    else:
        h = np.full(data.shape[1], seed, dtype=np.uint64)
        for word in data:
            h = _mixed(h ^ word)
    if values.valid is not None:
        h[~values.valid] = mix(np.array([seed ^ NULL_MARK]))[0]
    return h


def _list_hashes(lengths: np.ndarray, child: _Values, lane: int) -> np.ndarray:
    seed = LANE_SEEDS[lane]
    starts = np.concatenate(([0], np.cumsum(lengths)))
    positions = np.arange(starts[-1], dtype=np.int64) - np.repeat(starts[:-1], lengths)
    elements = _mixed(_hashes(child, lane) ^ _mixed(positions.astype(np.uint64) ^ seed))
    sums = np.concatenate(([np.uint64(0)], np.cumsum(elements, dtype=np.uint64)))
    return _mixed((sums[starts[1:]] - sums[starts[:-1]]) ^ _mixed(lengths.astype(np.uint64) ^ ~seed))


class RowAccumulator:
    """Folds the value hashes of the columns, in column order, into the row digests of a table.

    Rows are allocated as the first column's blocks arrive (a block starting at :attr:`rows` adds rows), never
    from a row count given in advance, so a count an input claims (a Parquet footer) allocates nothing until
    its rows are read. Later columns' blocks fold into the rows already there.
    """

    def __init__(self) -> None:
        self.rows = 0
        self._starts: list[int] = []  # first row of every chunk
        self._chunks: list[tuple[np.ndarray, ...]] = []  # one array per lane, each chunk's rows

    def add_block(self, start: int, hashes: Sequence[np.ndarray]) -> None:
        """Fold the lanes of value hashes of rows ``[start, start + len)`` into their digests; rows from
        :attr:`rows` on are new (a block may not leave a gap after them)."""
        if start > self.rows:
            raise ValueError(f"a block starts at row {start}, past the {self.rows} rows added so far")
        end = start + len(hashes[0])
        pos = start
        while pos < self.rows and pos < end:
            i = bisect.bisect_right(self._starts, pos) - 1
            first = self._starts[i]
            stop = min(end, first + len(self._chunks[i][0]))
            for lane, h in zip(self._chunks[i], hashes, strict=True):
                rows = lane[pos - first:stop - first]  # a view: folded in place
                rows ^= h[pos - start:stop - start]
                _mixed(rows)
            pos = stop
        if pos < end:
            self._chunks.append(tuple(_mixed(h[pos - start:] ^ seed) for h, seed in zip(hashes, LANE_SEEDS, strict=True)))
            self._starts.append(pos)
            self.rows = end

    def table(self, rows: int = 0) -> pa.Table:
        """The row digests as a sidecar table; ``rows`` past those added (a table without columns) hold the
        digest of a row with no values."""
        out = np.empty((max(rows, self.rows), 2), dtype="<u8")
        for first, lanes in zip(self._starts, self._chunks, strict=True):
            for k, lane in enumerate(lanes):
                out[first:first + len(lane), k] = lane
        out[self.rows:] = LANE_SEEDS
        return digests_table(out)


def block_row_hashes(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The two lanes of value hashes of one block (any supported type); the block is prepared once."""
    values = _prepare(arr)
    return _hashes(values, 0), _hashes(values, 1)


def digests_table(lanes: np.ndarray) -> pa.Table:
    """A table with one fixed_size_binary(16) column from an (n, 2) array of little-endian uint64."""
    data = np.ascontiguousarray(lanes, dtype="<u8")
    arr = pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), len(data), [None, pa.py_buffer(data.view(np.uint8))])
    return pa.table({DIGEST_COLUMN: arr})


def digests_matrix(table: pa.Table) -> np.ndarray:
    """The row digests of a sidecar table as an (n, 16) uint8 array."""
    return _matrix(table.column(DIGEST_COLUMN).combine_chunks())


def digests_chunks(table: pa.Table) -> list[np.ndarray]:
    """The row digests of a sidecar table as (n, 16) uint8 arrays, one per chunk, without copying them."""
    return [_matrix(chunk) for chunk in table.column(DIGEST_COLUMN).chunks]


def _matrix(col: pa.Array) -> np.ndarray:
    if len(col) == 0:
        return np.zeros((0, 16), dtype=np.uint8)
    return np.frombuffer(col.buffers()[1], dtype=np.uint8, count=16 * len(col), offset=16 * col.offset).reshape(-1, 16)


def row_digest_for_record(record: Mapping[str, Any], schema_fields: Sequence[tuple[str, str]]) -> bytes:
    """The 16-byte row digest of one record, given (name, logical type) of every column in order.

    ``schema_fields`` is ``TableDigest.schema_fields()``; index levels are looked up under their
    shown name (``__index__:<name>``). Every column needs a key (``None`` for a null value): a row is
    matched on all of its columns, so a record that leaves one out, or names one the version does not
    have, is refused (it would be "not contained" whatever the data holds), as is a version that names a column
    twice.
    """
    names = [name for name, _ in schema_fields]
    known = set(names)
    if len(known) < len(names):  # a record holds one value per name: it could name no row where the names differ
        twice = sorted({n for n in names if names.count(n) > 1})
        raise BadInputError(
            f"the version has the {noun_for(len(twice), 'column')} {', '.join(map(repr, twice))} more than once, so a record, which gives one "
            "value per name, cannot name one of its rows.",
            fix="give the columns distinct names (e.g. df.columns = [f'{c}.{i}' for i, c in enumerate(df.columns)]) and "
                "record that table, then look the record up by those names")
    missing = [n for n in names if n not in record]
    unknown = [k for k in record if k not in known]
    if missing or unknown:
        raise BadInputError(_columns_not_matched(names, missing, unknown),
                            fix="give a value for every column of the version, null where the value is missing: a row is "
                                "matched on all its columns")
    acc = RowAccumulator()
    for name, logical in schema_fields:
        value = record.get(name)
        acc.add_block(0, block_row_hashes(_record_value(name, value, logical)))
    return digests_matrix(acc.table(1))[0].tobytes()


COLUMNS_NAMED = 20
"""Columns a refusal of a record names of each list (the version's, those missing, those unknown); the rest counted."""


def _columns_not_matched(names: Sequence[str], missing: Sequence[str], unknown: Sequence[str]) -> str:
    """Why a record's columns are not the version's ``names`` (``missing`` of them, ``unknown`` others), each column
    named once: a record that gives none of them is told so, not given the same list twice. Each list names its first
    :data:`COLUMNS_NAMED` columns and counts the others (``and 180 more``), so a wide version makes no line of thousands."""
    def named(columns: Sequence[str]) -> str:
        return first_of([repr(c) for c in columns[:COLUMNS_NAMED]], COLUMNS_NAMED, total=len(columns))

    listed = named(names)
    none_given = bool(missing) and len(missing) == len(names)
    every = "the version's only column," if len(names) == 1 else f"any of the version's {counted(len(names), 'column')}:"
    parts = [f"gives no value for {every} {listed}" if none_given else
             f"gives no value for the {noun_for(len(missing), 'column')} {named(missing)}" if missing else "",
             f"names {noun_for(len(unknown), 'a column', 'columns')} the version does not have: {named(unknown)}"
             if unknown else ""]
    return "the record " + "; ".join(part for part in parts if part) + ("" if none_given else f" (the version's columns: {listed})") + "."


def _record_value(name: str, value: Any, logical: str) -> pa.Array:
    """One value as a one-element Arrow array of the logical type (any exact time unit will do); a date, date-time,
    time or duration may be ISO-8601 text (:func:`~prov_common.hashing.iso_values.iso_value`), as JSON gives it."""
    t = parse_logical_type(logical)
    if isinstance(value, str) and is_iso_typed(t):
        try:
            return iso_value(value, t)
        except ValueError as exc:
            raise BadInputError(f"field {name!r}: value {value!r} is not of logical type {logical}: {exc}.",
                                fix="give the value as ISO-8601 text in the column's form") from None
    types = [t]
    if pa.types.is_timestamp(t):
        types += [pa.timestamp(u, t.tz) for u in ("us", "ms", "s")]
    elif pa.types.is_duration(t):
        types += [pa.duration(u) for u in ("us", "ms", "s")]
    error: Exception | None = None
    for candidate in types:
        try:
            read = pa.array([value], type=candidate, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError) as exc:
            error = error or exc
            continue
        error = _read_otherwise(value, read)
        if error is not None:
            break
        return read
    raise BadInputError(f"field {name!r}: value {value!r} is not of logical type {logical}: {error}",
                        fix="give the value in the column's type.")


def _read_otherwise(value: Any, read: pa.Array) -> str | None:
    """How Arrow read a record's value where that is another value, else None. A column the hashing takes never holds
    a value it would change (a decimal negative zero, a boolean among numbers), and a value of a column of integers,
    dates, decimals, text or bytes that it changed (1.5 read as 1, a date-time as its date, a number as that many days,
    text as bytes) is another value, so its row digest would name another row; so is a date-time read in a zone it
    does not name and a number read as a time. Floats and nested values are read as given."""
    if read.null_count:  # a missing value (None, NaN, NaT, NA) is read as one
        return None
    t = read.type
    refused = ((isinstance(value, (bool, np.bool_)) and not pa.types.is_boolean(t)) or holds_negative_zero(value, read)
               or _zone_or_unit_differs(value, t))
    exact = (pa.types.is_integer(t) or pa.types.is_date(t) or pa.types.is_decimal(t) or pa.types.is_large_string(t)
             or pa.types.is_large_binary(t))
    if not refused and not exact:
        return None
    try:
        back = read[0].as_py()
    except (OverflowError, ValueError) as exc:  # a date past what Python's dates hold
        return f"it would be read as a value Python cannot hold ({exc})."
    if not refused and back == value:
        return None
    return f"it would be read as {back!r}, which is another value."


def _zone_or_unit_differs(value: Any, t: pa.DataType) -> bool:
    """Whether a date-time is read in a zone it does not name (one without a time zone in a column with one, or the
    reverse: the hashing refuses the two in one column), or a number as a count of some unit of time."""
    if isinstance(value, (np.datetime64, np.timedelta64)):  # numpy's are integers (Arrow refuses them with a zone)
        return False
    if isinstance(value, dt.datetime):
        return pa.types.is_timestamp(t) and (value.utcoffset() is None) != (t.tz is None)
    return ((pa.types.is_timestamp(t) or pa.types.is_duration(t) or pa.types.is_time(t))
            and isinstance(value, (int, float, np.integer, np.floating)))


# --- sidecar -------------------------------------------------------------------------------------

def write_row_digests(td: Any, path: str | Path) -> Path:
    """Write the row digests of a TableDigest (granularity "row") as a compact Parquet sidecar.

    The file is replaced whole once written (:func:`prov_common.replace_file.replacing`): a write that
    fails leaves ``path`` as it was and raises an ``OSError`` naming it."""
    if td.row_digests is None:
        raise BadInputError("this TableDigest has no row digests.", fix="hash with granularity='row'.")
    meta = {
        b"tdprov.table_digest": td.digest.encode(),
        b"tdprov.row_algorithm": ROW_ALGORITHM.encode(),
        b"tdprov.schema_fields": json.dumps(td.schema_fields()).encode(),
    }
    table = td.row_digests.replace_schema_metadata(meta)
    path = Path(path)
    with replacing(path) as out:  # a file object: pyarrow removes a path it could not write, never a file object
        pq.write_table(table, out, compression="none", use_dictionary=False, write_statistics=False)
    return path


def read_row_digests(path: str | Path) -> pa.Table:
    """Read a row-digest sidecar (schema metadata keeps table digest and schema fields)."""
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise BadInputError(f"cannot read row-digest sidecar {str(path)!r}: {exc}",
                            fix="pass a file written by write_row_digests().") from exc
    meta = table.schema.metadata or {}
    if meta.get(b"tdprov.row_algorithm") != ROW_ALGORITHM.encode() or DIGEST_COLUMN not in table.column_names:
        raise BadInputError(f"{str(path)!r} is not a {ROW_ALGORITHM} row-digest sidecar.",
                            fix="pass a file written by write_row_digests().")
    return table


def sidecar_schema_fields(table: pa.Table) -> list[tuple[str, str]]:
    """The (name, logical type) list stored in a sidecar."""
    return [tuple(x) for x in json.loads(table.schema.metadata[b"tdprov.schema_fields"])]


def record_positions(sidecar: str | Path | pa.Table, record: Mapping[str, Any]) -> list[int]:
    """Row numbers whose digest equals the record's digest (empty: the record is certainly absent)."""
    table = sidecar if isinstance(sidecar, pa.Table) else read_row_digests(sidecar)
    digest = np.frombuffer(row_digest_for_record(record, sidecar_schema_fields(table)), dtype=np.uint8)
    return np.flatnonzero((digests_matrix(table) == digest).all(axis=1)).tolist()


def contains_record(sidecar: str | Path | pa.Table, record: Mapping[str, Any]) -> bool:
    """Whether a record is (with 128-bit fingerprint certainty) among the rows of a sidecar."""
    return bool(record_positions(sidecar, record))
