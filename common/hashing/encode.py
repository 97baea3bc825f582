"""Canonical byte encoding of a block of values (docs/content-hash.md, "Block encoding").

The encoding of a block is a sequence of byte strings (parts) whose concatenation is hashed. Fixed-width
values without nulls are handed over as zero-copy views of the Arrow buffer.
"""
from __future__ import annotations

import sys

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from prov_common.errors import BadInputError
from prov_common.hashing.types import canonicalize
from prov_common.hashing.bytes_fix import OR_HASH_BYTES

if sys.byteorder != "little":  # pragma: no cover
    raise ImportError("prov_common.hashing needs a little-endian machine")

NO_NULLS = b"\x00"
HAS_NULLS = b"\x01"

Parts = list  # list of bytes-like objects


class NotUtf8Error(BadInputError):
    """A string value whose bytes are not UTF-8 (Arrow's Parquet and JSON readers do not check it).

    The encoder raises it with the value and its ``index`` in the block (None inside a list or struct,
    where the index is not a row); whoever knows more adds it with :meth:`at`: the row the block starts
    at, the column, the file."""

    def __init__(self, value: bytes, *, index: int | None = None, row: int | None = None,
                 column: str | None = None, file: str | None = None) -> None:
        self.value, self.index, self.row, self.column, self.file = value, index, row, column, file
        where = f"{file!r}: " if file is not None else ""
        where += f"column {column!r}" if column is not None else "a string value"
        at = f"row {row}: " if row is not None else ""
        shown = repr(value[:40]) + ("..." if len(value) > 40 else "")
        super().__init__(
            f"{where} holds text that is not valid UTF-8 ({at}{shown}).",
            fix="repair the text (e.g. decode the bytes with errors='replace') or store the column as binary"
                + (f"; {OR_HASH_BYTES}." if file is not None else "."))

    def at(self, *, start: int | None = None, column: str | None = None, file: str | None = None) -> NotUtf8Error:
        """The same error, knowing more: ``start`` is the row the block begins at, with ``column`` its column."""
        row = self.index + start if self.index is not None and start is not None else self.row
        return NotUtf8Error(self.value, row=row, column=column or self.column, file=file or self.file)


def encode_block(arr: pa.Array) -> Parts:
    """The parts of the canonical encoding of ``arr`` (any supported Arrow type, one array).

    A string value that is not UTF-8 raises :class:`NotUtf8Error` (with its row in ``arr`` when ``arr``
    is the string array itself)."""
    parts: Parts = []
    canonical = canonicalize(arr)
    try:
        _encode(canonical, parts)
    except NotUtf8Error as exc:
        if is_text(canonical.type):
            raise
        raise NotUtf8Error(exc.value) from None  # inside a list or struct: its index is not a row
    return parts


def is_text(t: pa.DataType) -> bool:
    """Whether ``t`` is a string type (either offset width)."""
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def check_utf8(arr: pa.Array) -> None:
    """Refuse a string array holding a value that is not UTF-8 (the bytes behind a missing value do not count)."""
    if _ascii_only(arr):  # UTF-8 whatever the values: Arrow's full validation costs ten times more
        return
    try:
        arr.validate(full=True)
    except pa.ArrowInvalid:
        for i, value in enumerate(arr.view(pa.large_binary() if pa.types.is_large_string(arr.type) else pa.binary())):
            raw = value.as_py()
            try:
                if raw is not None:
                    raw.decode("utf-8")
            except UnicodeDecodeError:
                raise NotUtf8Error(raw, index=i) from None
        raise


def _ascii_only(arr: pa.Array) -> bool:
    """Whether the values of a string array are sound and their bytes all ASCII: offsets in order and within the data,
    as Arrow's full validation checks them, and no byte of 0x80 or above between the first and the last. False does
    not mean the array is refused, only that the full validation is needed."""
    try:
        arr.validate()  # the buffers are large enough for the offsets read below
    except pa.ArrowInvalid:
        return False
    if len(arr) == 0:
        return True
    offsets = _offsets(arr)
    first, last = int(offsets[0]), int(offsets[-1])
    data = arr.buffers()[2]
    if first < 0 or last > (data.size if data is not None else 0) or (np.diff(offsets) < 0).any():
        return False
    return first == last or int(np.frombuffer(data, np.uint8, count=last - first, offset=first).max()) < 0x80


def validity_mask(arr: pa.Array) -> np.ndarray | None:
    """Boolean validity per slot, or None when no slot is null."""
    if arr.null_count == 0:
        return None
    return np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)


def _push_validity(parts: Parts, valid: np.ndarray | None) -> None:
    if valid is None:
        parts.append(NO_NULLS)
    else:
        parts.append(HAS_NULLS)
        parts.append(valid.view(np.uint8))


def _encode(arr: pa.Array, parts: Parts) -> None:
    t = arr.type
    n = len(arr)
    if pa.types.is_null(t):
        _push_validity(parts, np.zeros(n, dtype=bool) if n else None)
    elif pa.types.is_boolean(t):
        valid = validity_mask(arr)
        _push_validity(parts, valid)
        values = pc.fill_null(arr, False) if valid is not None else arr
        parts.append(np.asarray(values.to_numpy(zero_copy_only=False), dtype=bool).view(np.uint8))
    elif pa.types.is_struct(t):
        _push_validity(parts, validity_mask(arr))
        for child in arr.flatten():
            _encode(canonicalize(child), parts)
    elif pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_map(t):
        _encode_list(arr, parts)
    elif pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t):
        _encode_binary(arr, parts)
    else:
        _encode_fixed(arr, parts)


def fixed_view(arr: pa.Array) -> np.ndarray:
    """Zero-copy uint8 view of the value bytes of a fixed-width array."""
    w = arr.type.byte_width
    n = len(arr)
    if n == 0:
        return np.zeros(0, dtype=np.uint8)
    return np.frombuffer(arr.buffers()[1], dtype=np.uint8, count=n * w, offset=arr.offset * w)


_NANOS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


def _nanos128(values: np.ndarray, unit: str) -> np.ndarray:
    """int64 counts of ``unit`` as exact nanoseconds: (n, 16) bytes, 128-bit little-endian two's complement.

    Where every product fits in 64 bits, the low words are made in the output itself and the high words are set from
    the counts' range (zeros for counts all at or after the epoch): no array of its own for either."""
    f = _NANOS[unit]
    v = values.astype(np.int64, copy=False)
    out = np.empty((len(v), 2), dtype="<i8")
    if not len(v):
        return out.view(np.uint8).reshape(0, 16)
    low, high = int(v.min()), int(v.max())
    limit = np.iinfo(np.int64).max // f
    if -limit <= low and high <= limit:  # every count times f fits in 64 bits (any date of years 1678-2261 in ns): the
        np.multiply(v, np.int64(f), out=out[:, 0])  # 128-bit value is the product, sign-extended
        if low >= 0 or high < 0:
            out[:, 1] = 0 if low >= 0 else -1
        else:
            np.right_shift(out[:, 0], np.int64(63), out=out[:, 1])
    else:
        a = v >> np.int64(32)  # v = a * 2**32 + b, a signed, b unsigned
        b = (v & np.int64(0xFFFFFFFF)).view(np.uint64)
        af = a * np.int64(f)  # |a * f| < 2**61
        bf = b * np.uint64(f)  # < 2**62
        lo_high = af.view(np.uint64) << np.uint64(32)
        lo = lo_high + bf
        carry = (lo < lo_high).astype(np.int64)
        out[:, 0] = lo.view(np.int64)
        out[:, 1] = (af >> np.int64(32)) + carry
    return out.view(np.uint8).reshape(len(v), 16)


def fixed_values(arr: pa.Array) -> tuple[np.ndarray, np.ndarray | None]:
    """Canonical bytes of a fixed-width array as an (n, width) uint8 array, and its validity.

    Zero-copy for plain numbers; timestamps and durations become exact 16-byte nanosecond counts;
    a float NaN counts as missing. The bytes of missing slots are left as they are.
    """
    valid = validity_mask(arr)
    t = arr.type
    if pa.types.is_timestamp(t) or pa.types.is_duration(t):
        raw = _nanos128(fixed_view(arr).view(np.int64), t.unit)
        return raw, valid
    w = t.byte_width
    raw = fixed_view(arr)
    if pa.types.is_floating(t) and len(arr):
        nan = np.isnan(raw.view(np.float32 if w == 4 else np.float64))
        if nan.any():
            valid = ~nan if valid is None else valid & ~nan
    return raw.reshape(-1, w), valid


def _encode_fixed(arr: pa.Array, parts: Parts) -> None:
    raw, valid = fixed_values(arr)
    _push_validity(parts, valid)
    if valid is not None:
        raw = raw.copy()
        raw[~valid] = 0
    parts.append(raw.reshape(-1))


def _offsets(arr: pa.Array) -> np.ndarray:
    """The n+1 offsets of a (large) string/binary/list/map array (int32 or int64), offset applied."""
    wide = (pa.types.is_large_string(arr.type) or pa.types.is_large_binary(arr.type)
            or pa.types.is_large_list(arr.type))
    dtype = np.int64 if wide else np.int32
    size = np.dtype(dtype).itemsize
    return np.frombuffer(arr.buffers()[1], dtype=dtype, count=len(arr) + 1, offset=arr.offset * size)


def _lengths(offsets: np.ndarray) -> np.ndarray:
    """Value lengths as int64 from int32 or int64 offsets."""
    return np.diff(offsets).astype(np.int64, copy=False)


def _encode_binary(arr: pa.Array, parts: Parts) -> None:
    if is_text(arr.type):
        check_utf8(arr)
    valid = validity_mask(arr)
    _push_validity(parts, valid)
    if len(arr) == 0:
        parts.append(b"")
        return
    offs = _offsets(arr)
    lengths = _lengths(offs)
    if valid is not None and lengths[~valid].any():
        empty = "" if is_text(arr.type) else b""
        arr = pc.fill_null(arr, pa.scalar(empty, type=arr.type))
        offs = _offsets(arr)
        lengths = _lengths(offs)
    parts.append(lengths)
    data = arr.buffers()[2]
    parts.append(memoryview(data)[int(offs[0]):int(offs[-1])] if data is not None else b"")


def list_children(arr: pa.Array, valid: np.ndarray | None) -> tuple[np.ndarray, pa.Array]:
    """Lengths (0 for a missing list) and the elements of the present lists of a list or map array."""
    offs = _offsets(arr) if len(arr) else np.zeros(1, dtype=np.int64)
    lengths = _lengths(offs)
    child = arr.values.slice(int(offs[0]), int(offs[-1] - offs[0]))
    if valid is not None and lengths[~valid].any():
        child = child.filter(pa.array(np.repeat(valid, lengths)))
        lengths = np.where(valid, lengths, 0)
    return lengths, child


def _encode_list(arr: pa.Array, parts: Parts) -> None:
    valid = validity_mask(arr)
    _push_validity(parts, valid)
    lengths, child = list_children(arr, valid)
    parts.append(lengths)
    _encode(canonicalize(child), parts)
