"""Parquet files whose footer says other row counts than their pages hold (for tests of hostile files)."""
from __future__ import annotations

import struct
from collections.abc import Collection


def _i64_field(value: int) -> bytes:
    """A compact-thrift i64 field one id after the previous field, holding ``value`` (zigzag varint)."""
    n, out = (value << 1) ^ (value >> 63), bytearray(b"\x16")
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    return bytes(out + bytes([n]))


def with_row_counts(data: bytes, old: int, new: int, hits: Collection[int] = (0,)) -> bytes:
    """``data`` (a one-column, one-row-group Parquet file of ``old`` rows) with the chosen i64 fields holding
    ``old`` set to ``new``: hit 0 is ``FileMetaData.num_rows``, 1 the column's ``num_values``, 2 ``RowGroup.num_rows``."""
    size = struct.unpack("<I", data[-8:-4])[0]
    pieces = data[len(data) - 8 - size:-8].split(_i64_field(old))
    footer = pieces[0] + b"".join((_i64_field(new) if k in hits else _i64_field(old)) + piece
                                  for k, piece in enumerate(pieces[1:]))
    return data[:len(data) - 8 - size] + footer + struct.pack("<I", len(footer)) + b"PAR1"
