"""Text that is not UTF-8 is refused on every path (Parquet, JSON lines short and long, CSV, Arrow in memory),
naming the file, the column and the row; the bytes behind a missing value do not count."""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prov_common.cli import main
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
    with pytest.raises(NotUtf8Error, match="bad.csv"):
        hash_path(path)


def test_csv_refusal_names_the_line_byte_column_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes(b"id,name\n1,cafe\n2," + BAD + b"\n")
    with pytest.raises(NotUtf8Error) as err:
        hash_path(path)
    message = str(err.value)
    assert str(path) in message and "column 'name'" in message and "line 3" in message
    assert "byte offset 20" in message and r"b'caf\xe9'" in message  # the offset of \xe9 in the file
    assert "UTF-8" in message and "iconv" in message and "--bytes" in message and "codec" not in message
    assert hash_path(path, as_bytes=True).kind == "file"  # the fix the message gives works


def test_csv_refusal_in_a_quoted_multi_line_field_gives_line_and_byte(tmp_path: Path) -> None:
    path = tmp_path / "multi.csv"
    path.write_bytes(b'id,note\n1,"two\nlines ' + BAD + b'"\n')
    with pytest.raises(NotUtf8Error) as err:
        hash_path(path)
    message = str(err.value)
    assert "line 3" in message and "byte offset 24" in message and "column" not in message.split("Fix:")[0]


def test_csv_refusal_in_the_header(tmp_path: Path) -> None:
    path = tmp_path / "head.csv"
    path.write_bytes(b"id," + BAD + b"\n1,2\n")
    with pytest.raises(NotUtf8Error, match=r"the header holds text that is not valid UTF-8 \(line 1, byte offset 6"):
        hash_path(path)


def test_airflow_table_reader_names_the_line_too(tmp_path: Path) -> None:
    from prov_common.hashing.files import read_table_file

    path = tmp_path / "latin.csv"
    path.write_bytes(b"id,name\n1," + BAD + b"\n")
    with pytest.raises(NotUtf8Error, match=r"latin\.csv.*column 'name'.*line 2"):
        read_table_file(path, "csv")


def test_cli_names_the_csv_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes(b"id,name\n1," + BAD + b"\n")
    assert main(["hash", str(path)]) == 2
    err = capsys.readouterr().err
    assert "latin.csv" in err and "column 'name'" in err and "line 2" in err and "UTF-8" in err


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


@pytest.mark.parametrize("piece", [1, 2, 3, 5, 64])
def test_csv_bad_byte_is_found_wherever_the_reads_split_the_file(piece: int, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from prov_common.hashing import csv_utf8

    monkeypatch.setattr(csv_utf8, "READ_BYTES", piece)
    data = 'id,"n"\n1,"é\n€"\n2,'.encode() + BAD + b"\n"
    spot = csv_utf8.find_not_utf8(io.BytesIO(data))
    assert spot is not None and spot.offset == data.index(b"\xe9") and spot.line == 4 and spot.starts_record
    assert spot.line_bytes == b"2," + BAD and spot.in_line == 5
    assert csv_utf8.find_not_utf8(io.BytesIO(data[:-6] + "€".encode()[:2])).offset == len(data) - 6  # cut short
    assert csv_utf8.find_not_utf8(io.BytesIO(data[:-6])) is None
