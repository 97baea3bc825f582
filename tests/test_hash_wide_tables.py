"""Wide tables: hashing costs time linear in the number of columns, and the digests stay what they were.

The digests below were computed before the column lookups were made linear; they pin the definition
(docs/content-hash.md) for Parquet (with and without pandas metadata), JSON lines (streamed and on the
long-line path), CSV and in-memory tables, narrow and wide.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prov_common.hashing import hash_dataframe, hash_path, hash_table
from prov_common.hashing.jsonl_stream import hash_jsonl_stream

SHAPES = {"narrow": (5, 300), "wide": (1_500, 3)}  # (columns, rows)


def _value(col: int, row: int) -> object:
    """Column ``col`` cycles through int, float, string (with missing values) and bool."""
    kind = col % 4
    if kind == 0:
        return col * 1_000 + row
    if kind == 1:
        return (col + row) / 4
    if kind == 2:
        return None if (col + row) % 5 == 0 else f"s{col}-{row}"
    return (col + row) % 2 == 0


def _records(columns: int, rows: int) -> list[dict[str, object]]:
    return [{f"c{c}": _value(c, r) for c in range(columns)} for r in range(rows)]


def _frame(columns: int, rows: int) -> pd.DataFrame:
    return pd.DataFrame(_records(columns, rows), columns=[f"c{c}" for c in range(columns)])


def _csv_field(v: object) -> str:
    return "" if v is None else str(v)


def _write(folder: Path, shape: str) -> dict[str, Path]:
    columns, rows = SHAPES[shape]
    records = _records(columns, rows)
    df = _frame(columns, rows)
    paths = {fmt: folder / f"{shape}.{fmt}" for fmt in ("parquet", "csv", "jsonl")}
    df.set_index("c0").to_parquet(paths["parquet"], row_group_size=128)  # pandas metadata: an index column
    paths["arrow.parquet"] = folder / f"{shape}-arrow.parquet"
    pq.write_table(pa.Table.from_pylist(records), paths["arrow.parquet"])  # no pandas metadata
    header = ",".join(f"c{c}" for c in range(columns))
    lines = [",".join(_csv_field(v) for v in rec.values()) for rec in records]
    paths["csv"].write_text("\n".join([header, *lines]) + "\n")
    paths["jsonl"].write_text("".join(json.dumps(rec) + "\n" for rec in records))
    return paths


# (the Parquet file with pandas metadata, whose first column is the index; every other form of the table)
PINNED = {
    "narrow": ("blake3:0336ae4fd02682dacc917fdb78e71d0941c5d2dbcac6531d45c0b1f9d017c0cc",
               "blake3:d522428e0b3d0d7605297e284793a5bf8d566eeb4708fdd780c6a9a28b25b565"),
    "wide": ("blake3:89d09fd845fdd43c7815c6c4f70d845ce03bde861a1f45a8e9ee643ddc65ce3e",
             "blake3:5881caeb223fdd0713f5b7f64b7b27eb6a4d8819ce773967da2296eaf5aaeaaa"),
}
PINNED_REPEATED = "blake3:e3504bff12db956dd275208d0e7d64c1f256b1fd0c9ac7189b36590ab47d2dfe"
PINNED_ROWS = ["4f4209e638825ff5ef73f470ad9c9a65", "90e86fdf48edd0f4bde1ddb55e8b6fe0", "47739b28f4de688511d44645e40cabc7"]


@pytest.mark.parametrize("shape", list(SHAPES))
def test_digests_are_pinned(tmp_path: Path, shape: str) -> None:
    paths = _write(tmp_path, shape)
    columns, rows = SHAPES[shape]
    jsonl = paths["jsonl"]
    indexed, table = PINNED[shape]
    assert hash_path(paths["parquet"]).digest == indexed
    got = {
        "arrow.parquet": hash_path(paths["arrow.parquet"]).digest,
        "csv": hash_path(paths["csv"]).digest,
        "jsonl": hash_path(jsonl).digest,
        "jsonl long-line path": hash_jsonl_stream(lambda: jsonl.open("rb"), long_line_bytes=64).digest,
        "dataframe": hash_dataframe(_frame(columns, rows)).digest,
        "table": hash_table(pa.Table.from_pylist(_records(columns, rows))).digest,
    }
    assert got == dict.fromkeys(got, table)


def test_repeated_names_get_numbered_block_keys() -> None:
    df = pd.DataFrame([[1, 2, 3, 4, 5]], columns=["x", "x#2", "x", "x", "y"])
    td = hash_dataframe(df, granularity="block")
    assert list(td.blocks) == ["x", "x#2", "x#3", "x#4", "y"]
    assert td.digest == PINNED_REPEATED


def test_row_digests_of_a_wide_table_are_pinned() -> None:
    td = hash_dataframe(_frame(*SHAPES["wide"]), granularity="row")
    rows = td.row_digests.column(0).to_pylist()
    assert [bytes(r).hex() for r in rows] == PINNED_ROWS
