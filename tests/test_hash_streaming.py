"""CSV and JSON-lines files are hashed chunk by chunk, with bounded memory and the digest of the whole file.

The reference is the whole-file read (``read_table_file``: ``pandas.read_csv`` / ``pyarrow.json.read_json``)
hashed in memory, and the Parquet file of the same table.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prov_common.errors import BadInputError, UnsupportedTypeError
from prov_common.hashing import hash_dataframe, hash_path, hash_table
from prov_common.hashing.csv_stream import hash_csv_stream, low_memory_rows
from prov_common.hashing.files import read_table_file
from prov_common.hashing.jsonl_stream import CHUNK_BYTES, hash_jsonl_stream, promote
from prov_common.hashing.model import TableDigest

SMALL_BLOCK = 5  # blocks of 5 rows, so chunks of a few rows end inside, on and across block boundaries


def whole(path: Path, fmt: str, csv_dtypes: dict | None = None, **options) -> TableDigest:
    """The digest of the file read whole and hashed in memory."""
    data = read_table_file(path, fmt, csv_dtypes)
    return hash_dataframe(data, **options) if isinstance(data, pd.DataFrame) else hash_table(data, **options)


def assert_same(streamed: TableDigest, expected: TableDigest) -> None:
    assert streamed.digest == expected.digest
    assert streamed.columns == expected.columns and streamed.rows == expected.rows
    assert streamed.bytes == expected.bytes and streamed.blocks == expected.blocks
    if expected.row_digests is not None:
        assert streamed.row_digests.equals(expected.row_digests)


def csv_stream(path: Path, chunk_rows: int | None = None, **options) -> TableDigest | None:
    return hash_csv_stream(lambda: nullcontext(str(path)), options.pop("csv_dtypes", None), chunk_rows=chunk_rows,
                           **options)


def jsonl_stream(path: Path, chunk_bytes: int, **options) -> TableDigest | None:
    return hash_jsonl_stream(lambda: open(path, "rb"), chunk_bytes=chunk_bytes, **options)


# --- CSV -----------------------------------------------------------------------------------------

@pytest.fixture()
def mixed_csv(tmp_path: Path) -> Path:
    n = 53
    df = pd.DataFrame({
        "id": np.arange(n),
        "x": np.where(np.arange(n) % 7 == 3, np.nan, np.arange(n) / 4),
        "s": [None if i % 5 == 0 else f"v{i}" for i in range(n)],
        "flag": [i % 3 == 0 for i in range(n)],
        "n": pd.array([None if i % 4 == 0 else i for i in range(n)], dtype="Int64"),
    })
    path = tmp_path / "mixed.csv"
    df.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("chunk_rows", [1, 3, 5, 7, 64])
@pytest.mark.parametrize("granularity", ["column", "row"])
def test_csv_chunks_hash_like_the_whole_file(mixed_csv, chunk_rows, granularity):
    options = {"granularity": granularity, "block_rows": SMALL_BLOCK}
    assert_same(csv_stream(mixed_csv, chunk_rows, **options), whole(mixed_csv, "csv", **options))
    declared = {"n": "Int64", "id": "int32"}
    assert_same(csv_stream(mixed_csv, chunk_rows, csv_dtypes=declared, **options),
                whole(mixed_csv, "csv", declared, **options))


def test_csv_hash_path_equals_the_whole_read_and_its_parquet(mixed_csv, tmp_path):
    td = hash_path(mixed_csv, granularity="block")
    assert_same(td, whole(mixed_csv, "csv", granularity="block"))
    pd.read_csv(mixed_csv).to_parquet(tmp_path / "same.parquet")
    assert hash_path(tmp_path / "same.parquet").digest == td.digest
    changed = mixed_csv.read_text().replace("v17", "v71")
    (tmp_path / "changed.csv").write_text(changed)
    assert hash_path(tmp_path / "changed.csv").digest != td.digest


def test_csv_with_declared_categories_is_read_whole(mixed_csv):
    assert csv_stream(mixed_csv, 3, csv_dtypes={"s": "category"}) is None
    assert_same(hash_path(mixed_csv, csv_dtypes={"s": "category"}), whole(mixed_csv, "csv", {"s": "category"}))


@pytest.mark.parametrize("text", ["a,b\n", "a,b\n1,x\n", "a,b\nk1,1,x\nk2,2,y\n", "a,a.1,b\n1,2,x\n3,4,\n"],
                         ids=["header only", "one row", "implicit index", "a name like a repeat renamed"])  # a repeat: refused
def test_csv_edge_shapes_hash_like_the_whole_file(tmp_path, text):
    path = tmp_path / "t.csv"
    path.write_text(text)
    assert_same(hash_path(path, granularity="row"), whole(path, "csv", granularity="row"))


PIECE = low_memory_rows(2)  # rows over which pandas infers the dtypes of a 2-column CSV


def two_column_csv(path: Path, first: list[str], rows: int) -> Path:
    """Column a: ``first`` values, then the numbers up to ``rows`` rows; column b: a word."""
    values = first + [str(i) for i in range(len(first), rows)]
    path.write_text("a,b\n" + "".join(f"{v},w{i % 10}\n" for i, v in enumerate(values)))
    return path


def test_pandas_infers_csv_dtypes_over_pieces_of_this_many_rows(tmp_path):
    assert PIECE == 262_144
    path = two_column_csv(tmp_path / "t.csv", [], PIECE + 10)
    lines = path.read_text().splitlines(keepends=True)
    lines[PIECE + 1] = "hello,w\n"  # the first row of the second piece: the pieces are int64 and str
    path.write_text("".join(lines))
    with pytest.warns(pd.errors.DtypeWarning, match="mixed types"):
        df = pd.read_csv(path)
    assert (df["a"].map(type) == int).sum() == PIECE


@pytest.mark.parametrize("late, logical", [("1.5", "float64"), ("", "float64"), ("1e400", "float64")],
                         ids=["a float", "an empty field", "an overflowing float"])
def test_csv_whose_type_changes_after_the_first_piece(tmp_path, late, logical):
    path = two_column_csv(tmp_path / "t.csv", [], PIECE + 100)
    with path.open("a") as f:
        f.write(f"{late},w\n")
    assert pd.read_csv(path, nrows=PIECE)["a"].dtype == np.int64  # the first piece alone is int64
    td = hash_path(path, granularity="block")
    assert td.columns[0].logical_type == logical
    assert_same(td, whole(path, "csv", granularity="block"))
    pd.read_csv(path).to_parquet(tmp_path / "t.parquet")
    assert hash_path(tmp_path / "t.parquet").digest == td.digest


@pytest.mark.filterwarnings("ignore::pandas.errors.DtypeWarning")  # the whole read warns
def test_csv_of_bools_then_an_empty_field(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n" + "".join(f"{i % 2 == 0},w\n" for i in range(PIECE + 3)) + ",w\nTrue,w\n")
    td = hash_path(path, granularity="row")
    assert td.columns[0].logical_type == "bool"
    assert_same(td, whole(path, "csv", granularity="row"))


@pytest.mark.filterwarnings("ignore::pandas.errors.DtypeWarning")  # the whole read warns
def test_csv_of_ints_then_a_word_fails_like_the_whole_read(tmp_path):
    path = two_column_csv(tmp_path / "t.csv", [], PIECE + 5)
    with path.open("a") as f:
        f.write("hello,w\n")
    with pytest.raises(UnsupportedTypeError, match="'a'"):
        whole(path, "csv")
    with pytest.raises(UnsupportedTypeError, match="'a'.*mixed types"):
        hash_path(path)


def test_csv_chunks_follow_the_pieces_pandas_infers_over(tmp_path):
    """A word in the first piece makes the whole piece strings; chunks of another size would not."""
    path = two_column_csv(tmp_path / "t.csv", ["x"], PIECE)
    td = hash_path(path)
    assert td.columns[0].logical_type == "string"
    assert_same(td, whole(path, "csv"))
    with pytest.raises(UnsupportedTypeError, match="mixed types"):  # half pieces: strings, then int64
        csv_stream(path, PIECE // 2)


def test_csv_that_is_not_csv_exits_with_a_clear_error(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text('a,b\n1,"unterminated\n')
    with pytest.raises(BadInputError, match="bad.csv.*as csv"):
        hash_path(path)


# --- JSON lines ------------------------------------------------------------------------------------

def lines(rows: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


JSONL_CASES = {
    "ints then a float": lines([{"a": i} for i in range(20)] + [{"a": 1.5}]),
    "nulls then ints": lines([{"a": None, "b": i} for i in range(20)] + [{"a": 3, "b": 0}]),
    "a field appears": lines([{"a": i} for i in range(20)] + [{"a": 1, "b": "x"}]),
    "a field is missing for a while": lines([{"a": i, "b": "q"} for i in range(9)] + [{"a": 1}] * 20 + [{"b": "z", "a": 2}]),
    "fields in another order": lines([{"a": i, "b": "q"} for i in range(9)] + [{"b": "z", "a": 2}] * 20),
    "timestamps then a string": lines([{"t": "2020-01-01"} for _ in range(20)] + [{"t": "nope"}]),
    "nested values promoted": lines([{"s": {"x": i}, "l": []} for i in range(20)] + [{"s": {"y": "q", "x": 1.5}, "l": [1, 2]}]),
    "big ints become floats": lines([{"a": i} for i in range(20)] + [{"a": 10**20}]),
    "blank lines, no final newline": "\n\n" + lines([{"a": i} for i in range(20)]) + "\n   \n" + '{"a": 2}',
}


@pytest.mark.parametrize("chunk_bytes", [1, 40, 128, 1 << 20])
@pytest.mark.parametrize("case", list(JSONL_CASES))
def test_jsonl_chunks_hash_like_the_whole_file(tmp_path, case, chunk_bytes):
    path = tmp_path / "t.jsonl"
    path.write_text(JSONL_CASES[case])
    options = {"granularity": "row", "block_rows": SMALL_BLOCK}
    assert_same(jsonl_stream(path, chunk_bytes, **options), whole(path, "jsonl", **options))


def test_jsonl_type_change_after_the_first_chunk_through_hash_path(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text(lines([{"id": i, "s": f"v{i}"} for i in range(120_000)]) + lines([{"id": 0.5, "extra": True}]))
    assert path.stat().st_size > 4 * CHUNK_BYTES  # several chunks
    td = hash_path(path, granularity="block")
    assert [(c.name, c.logical_type) for c in td.columns] == [("id", "float64"), ("s", "string"), ("extra", "bool")]
    assert_same(td, whole(path, "jsonl", granularity="block"))
    pq.write_table(read_table_file(path, "jsonl"), tmp_path / "t.parquet")
    assert hash_path(tmp_path / "t.parquet").digest == td.digest


def test_jsonl_field_of_two_json_types_fails_like_the_whole_read(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text(lines([{"a": i} for i in range(20)] + [{"a": "x"}]))
    with pytest.raises(BadInputError, match=r"t\.jsonl': line 21: field /a changed from int to string"):
        whole(path, "jsonl")
    with pytest.raises(BadInputError, match="/a changed from int64 to string"):
        jsonl_stream(path, 40)
    with pytest.raises(BadInputError, match="t.jsonl"):
        hash_path(path)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n  \n")  # no lines: read whole, as before (a table of no columns)
    assert_same(hash_path(empty), whole(empty, "jsonl"))


def test_json_type_promotion_rules():
    assert promote(pa.null(), pa.int64()) == pa.int64()
    assert promote(pa.int64(), pa.float64()) == pa.float64()
    assert promote(pa.timestamp("s"), pa.string()) == pa.string()
    assert promote(pa.list_(pa.null()), pa.list_(pa.int64())) == pa.list_(pa.int64())
    merged = promote(pa.struct([("x", pa.int64())]), pa.struct([("y", pa.bool_()), ("x", pa.float64())]))
    assert merged == pa.struct([("x", pa.float64()), ("y", pa.bool_())])
    with pytest.raises(BadInputError, match="bool"):
        promote(pa.bool_(), pa.int64())


# --- bounded memory --------------------------------------------------------------------------------

# Peak memory the hashing may add, whatever the file's size: about 1.5 times what it adds here (26 MB for a CSV of 4
# columns, its pieces of low_memory_rows(4) rows; 41-43 MB for JSON lines, its chunks of CHUNK_BYTES), so that a file
# twice the cap is far past it and the test writes no more than that: the file read whole holds several times its
# size (a CSV of 88 MB about 130 MB, JSON lines of 138 MB about 350 MB).
CSV_CAP_MB = 40
JSONL_CAP_MB = 64


def file_mb(cap_mb: int) -> int:
    """The size of the file hashed against a cap: twice the cap, and a little more."""
    return 2 * cap_mb + 8

_MEASURE = textwrap.dedent("""
    import json, sys
    from prov_common.hashing import hash_dataframe, hash_path
    from prov_common.hashing.files import read_table_file

    def mb(key):
        for line in open("/proc/self/status"):
            if line.startswith(key):
                return int(line.split()[1]) / 1024

    import pandas  # noqa: F401 - loaded first too: pyarrow loads it on some conversions (booleans to numpy)
    hash_path(sys.argv[2])  # load every module first
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak (VmHWM) to the current resident size
    before = mb("VmRSS:")
    if sys.argv[3] == "whole":  # the file read whole, as a reference: memory grows with the file
        td = hash_dataframe(read_table_file(sys.argv[1], "csv"))
    else:
        td = hash_path(sys.argv[1])
    print(json.dumps({"digest": td.digest, "rows": td.rows, "peakMB": mb("VmHWM:") - before}))
""")


def measure(path: Path, warm_up: Path, how: str = "streamed") -> dict:
    out = subprocess.run([sys.executable, "-c", _MEASURE, str(path), str(warm_up), how], capture_output=True,
                         text=True, check=True, timeout=600)
    return json.loads(out.stdout)


def repeated(path: Path, header: str, body: str, cap_mb: int) -> int:
    """Write ``header`` then ``body`` again and again until the file has ``file_mb(cap_mb)``; the number of copies."""
    copies = -(-file_mb(cap_mb) * 2**20 // len(body.encode()))
    with path.open("w") as f:
        f.write(header)
        for _ in range(copies):
            f.write(body)
    return copies


def block_frame(rows: int) -> pd.DataFrame:
    i = np.arange(rows)
    return pd.DataFrame({"id": i, "x": i / 4, "s": [f"name{k % 997}" for k in i], "flag": i % 3 == 0})


def write_parquet_copies(path: Path, table: pa.Table, copies: int) -> None:
    """``copies`` copies of ``table``, one after the other, in row groups of pyarrow's default size: the
    content digest does not depend on row groups, and one row group per copy made writing and reading
    the reference several times slower."""
    pq.write_table(pa.concat_tables([table] * copies), path)


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="peak memory is read from Linux /proc")
def test_csv_larger_than_the_memory_cap_hashes_in_bounded_memory(tmp_path):
    df = block_frame(65_537)
    copies = repeated(tmp_path / "big.csv", "id,x,s,flag\n", df.to_csv(index=False, header=False), CSV_CAP_MB)
    (tmp_path / "warm.csv").write_text("a,b\n1,x\n")
    table = pa.Table.from_pandas(df, preserve_index=False).replace_schema_metadata(None)
    write_parquet_copies(tmp_path / "big.parquet", table, copies)
    got = measure(tmp_path / "big.csv", tmp_path / "warm.csv")
    assert (tmp_path / "big.csv").stat().st_size >= 2 * CSV_CAP_MB * 2**20
    assert got["rows"] == copies * len(df)
    assert got["digest"] == hash_path(tmp_path / "big.parquet").digest
    assert got["peakMB"] < CSV_CAP_MB, got
    read_whole = measure(tmp_path / "big.csv", tmp_path / "warm.csv", "whole")  # the measure can see O(file)
    assert read_whole["digest"] == got["digest"] and read_whole["peakMB"] > 2 * CSV_CAP_MB, read_whole


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="peak memory is read from Linux /proc")
def test_jsonl_larger_than_the_memory_cap_hashes_in_bounded_memory(tmp_path):
    df = block_frame(30_001)
    df["l"] = [[int(k), int(k) + 1] for k in df["id"]]
    copies = repeated(tmp_path / "big.jsonl", "", df.to_json(orient="records", lines=True), JSONL_CAP_MB)
    (tmp_path / "warm.jsonl").write_text('{"a": 1}\n')
    table = pa.Table.from_pandas(df, preserve_index=False).replace_schema_metadata(None)
    write_parquet_copies(tmp_path / "big.parquet", table, copies)
    got = measure(tmp_path / "big.jsonl", tmp_path / "warm.jsonl")
    assert got["rows"] == copies * len(df)
    assert got["digest"] == hash_path(tmp_path / "big.parquet").digest
    assert (tmp_path / "big.jsonl").stat().st_size >= 2 * JSONL_CAP_MB * 2**20
    assert got["peakMB"] < JSONL_CAP_MB, got
