"""Empty files (an empty partition) and several PATHs of which some fail.

A 0-byte JSON-lines file is the empty table, as a file of one newline is. A 0-byte CSV has no header, so
``pandas.read_csv`` reads no table from it: it is refused, saying so. ``tdprov hash A B C`` prints the digest of
every PATH it could read and names each one it could not (exit 2), as ``sha256sum`` does."""
from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pyarrow as pa
import pytest

from prov_common.errors import BadInputError
from prov_common.hashing import hash_path, hash_shards, hash_table
from prov_common.hashing.files import read_table_file


@pytest.mark.parametrize("name", ["empty.jsonl", "empty.ndjson"])
def test_an_empty_json_lines_file_is_the_empty_table(tmp_path, name):
    empty, newline = tmp_path / name, tmp_path / f"newline-{name}"
    empty.write_bytes(b"")
    newline.write_bytes(b"\n")
    assert hash_path(empty).digest == hash_path(newline).digest == hash_table(pa.table({})).digest
    assert read_table_file(empty, "jsonl").num_rows == 0


def test_a_folder_with_an_empty_json_lines_partition_hashes(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "part-0.jsonl").write_text('{"a":1}\n')
    (tmp_path / "d" / "part-1.jsonl").write_bytes(b"")
    assert len(hash_shards(str(tmp_path / "d"), cache=False).shards) == 2


@pytest.mark.parametrize("data", [b"", b"\n", b"\n\n"])
def test_a_csv_without_a_header_is_refused_as_pandas_refuses_it(tmp_path, data):
    path = tmp_path / "empty.csv"
    path.write_bytes(data)
    with pytest.raises(pd.errors.EmptyDataError):
        pd.read_csv(path)
    with pytest.raises(BadInputError, match=r"'.*empty\.csv' has no header line"):
        hash_path(path)


def test_several_paths_print_the_good_digests_and_name_the_bad_ones(tmp_path):
    (tmp_path / "good.jsonl").write_text('{"a":1}\n')
    (tmp_path / "also.csv").write_text("a\n1\n")
    (tmp_path / "empty.csv").write_bytes(b"")
    done = subprocess.run([sys.executable, "-m", "prov_common", "hash", "good.jsonl", "empty.csv", "missing.parquet",
                           "also.csv"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert [line.split("  ")[1] for line in lines] == ["good.jsonl", "also.csv"], done.stdout
    assert lines[0].split()[0] == hash_path(tmp_path / "good.jsonl").digest
    errors = done.stderr.splitlines()
    assert len(errors) == 2 and "empty.csv" in errors[0] and "missing.parquet" in errors[1], done.stderr


def test_a_0_byte_parquet_file_is_named_as_empty_with_its_fix(tmp_path, capsys):
    """A 0-byte .parquet (given to 'tdprov hash', or a shard of a folder) was refused with pyarrow's "Parquet file size
    is 0 bytes" and the fix to check that the file is valid parquet: it is named as empty, with the fix to remove it or
    write it again, since an empty table is a Parquet file with a footer."""
    from prov_common.cli import main

    said = ("is empty (0 bytes), not a Parquet file: an empty table is a Parquet file with a footer (its schema). Fix: "
            "remove it, or write it again (a table without rows written as Parquet, such as df.head(0).to_parquet(path), "
            "is read as the empty table), or hash the file's bytes (tdprov hash --bytes).")
    (tmp_path / "d").mkdir()
    pd.DataFrame({"a": [1]}).to_parquet(tmp_path / "d" / "part-0.parquet")
    (tmp_path / "d" / "part-1.parquet").write_bytes(b"")
    with pytest.raises(BadInputError) as refused:
        hash_shards(str(tmp_path / "d"), cache=False)
    assert str(refused.value) == f"{str(tmp_path / 'd' / 'part-1.parquet')!r} {said}"
    assert main(["hash", str(tmp_path / "d" / "part-1.parquet")]) == 2
    assert capsys.readouterr().err == f"tdprov hash: {str(tmp_path / 'd' / 'part-1.parquet')!r} {said}\n"
    pd.DataFrame({"a": [1]}).head(0).to_parquet(tmp_path / "d" / "part-1.parquet")  # the fix it gives
    assert len(hash_shards(str(tmp_path / "d"), cache=False).shards) == 2
