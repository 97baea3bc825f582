"""Text that is not UTF-8 is refused on every path (Parquet, JSON lines short and long, CSV, Arrow in memory),
naming the file, the column and the row; the bytes behind a missing value do not count."""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prov_common.cli import main
from prov_common.errors import BadInputError
from prov_common.hashing import hash_path, hash_table
from prov_common.hashing.encode import NotUtf8Error
from prov_common.hashing.jsonl_stream import hash_jsonl_stream

BAD = b"caf\xe9"  # Latin-1, not UTF-8


def _strings(values: list[bytes | None], large: bool = False) -> pa.Array:
    """A string array holding exactly these bytes (Arrow's readers make such arrays without checking)."""
    binary = pa.array(values, pa.large_binary() if large else pa.binary())
    return binary.view(pa.large_string() if large else pa.string())


def _good_then_bad(rows: int, bad_row: int) -> list[bytes | None]:
    return [BAD if i == bad_row else f"v{i}".encode() for i in range(rows)]


def test_parquet_string_column_is_refused_naming_file_column_and_row(tmp_path: Path) -> None:
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"id": list(range(10)), "s": _strings(_good_then_bad(10, 9))}), path, row_group_size=3)
    with pytest.raises(NotUtf8Error) as err:
        hash_path(path, block_rows=4)  # row 9 is in the third block, the fourth row group
    message = str(err.value)
    assert str(path) in message and "column 's'" in message and "row 9" in message and r"b'caf\xe9'" in message
    assert "--bytes" in message and "binary" in message
    assert hash_path(path, as_bytes=True).kind == "file"  # the fix the message gives works


def test_short_and_long_json_lines_are_both_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"a": "ok", "n": 1}\n{"a": "' + BAD + b'", "n": 2}\n')
    with pytest.raises(NotUtf8Error, match=r"bad\.jsonl.*column 'a'.*row 1"):
        hash_path(path)
    with pytest.raises(ValueError, match="line 2: not valid JSON.*UTF8"):  # the long-line parser refuses it too
        hash_jsonl_stream(lambda: path.open("rb"), long_line_bytes=8)


def test_csv_is_refused_as_pandas_refuses_it(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(b"a\nok\n" + BAD + b"\n")
    with pytest.raises(BadInputError, match="bad.csv"):
        hash_path(path)


@pytest.mark.parametrize("large", [False, True])
def test_arrow_table_in_memory_is_refused(large: bool) -> None:
    with pytest.raises(NotUtf8Error, match="column 's' holds text that is not valid UTF-8 \\(row 2: "):
        hash_table(pa.table({"s": _strings([b"a", None, BAD], large)}))


def test_nested_text_is_refused_without_a_row() -> None:
    nested = pa.ListArray.from_arrays(pa.array([0, 1, 3], pa.int32()), _strings([b"a", b"b", BAD]))
    with pytest.raises(NotUtf8Error) as err:
        hash_table(pa.table({"l": nested}))
    assert "column 'l'" in str(err.value) and "row" not in str(err.value).split("Fix:")[0]


def test_bytes_behind_a_missing_value_do_not_count() -> None:
    offsets = pa.array([0, 1, 1 + len(BAD)], pa.int32()).buffers()[1]
    dirty = pa.Array.from_buffers(pa.string(), 2, [pa.py_buffer(b"\x01"), offsets, pa.py_buffer(b"a" + BAD)])
    assert dirty.null_count == 1
    assert hash_table(pa.table({"s": dirty})).digest == hash_table(pa.table({"s": ["a", None]})).digest


def test_binary_columns_hold_any_bytes(tmp_path: Path) -> None:
    path = tmp_path / "bytes.parquet"
    pq.write_table(pa.table({"b": pa.array([BAD, b"\xff"], pa.binary())}), path)
    assert hash_path(path).columns[0].logical_type == "binary"


def test_cli_exits_2_naming_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"s": _strings([BAD])}), path)
    assert main(["hash", str(path)]) == 2
    err = capsys.readouterr().err
    assert "bad.parquet" in err and "column 's'" in err and "not valid UTF-8" in err and "--bytes" in err
