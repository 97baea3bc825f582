"""A CSV whose rows hold one field more than its header (R's ``write.table``: row names first, with no header
for them): ``pandas.read_csv`` makes that first field the index, and the streamed digest must be the one of
that whole-file read, also when the row names are consecutive numbers (a ``RangeIndex``)."""
from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import pandas as pd
import pytest

from prov_common.hashing import hash_dataframe, hash_path
from prov_common.hashing.csv_stream import hash_csv_stream


def write(path: Path, names: list[int]) -> Path:
    path.write_text("a,b\n" + "".join(f"{n},x{i},e{i % 3}\n" for i, n in enumerate(names)))
    return path


def whole(path: Path, **options) -> str:
    return hash_dataframe(pd.read_csv(path), **options).digest


def test_consecutive_row_names_are_hashed_as_the_index(tmp_path):
    a = write(tmp_path / "rA.csv", [1001, 1002])
    b = write(tmp_path / "rB.csv", [5001, 5002])
    assert hash_path(a).digest == whole(a)
    assert hash_path(b).digest == whole(b)
    assert hash_path(a).digest != hash_path(b).digest


@pytest.mark.parametrize("names", [
    list(range(10)),  # row numbers from 0: pandas' default index, which the digest leaves out
    list(range(1, 11)),  # R's row names
    list(range(5, 10)) + list(range(5)),  # the second chunk's names are its own row numbers
    list(range(5)) + list(range(100, 105)),  # the first chunk's names are its row numbers, the second's not
    list(range(5)) + [9, 3, 7, 1, 0],
], ids=["from 0", "from 1", "second chunk looks default", "first chunk looks default", "unordered after"])
@pytest.mark.parametrize("granularity", ["column", "row"])
def test_row_names_read_in_chunks_hash_like_the_whole_file(tmp_path, names, granularity):
    path = write(tmp_path / "t.csv", names)
    streamed = hash_csv_stream(lambda: nullcontext(str(path)), chunk_rows=5, granularity=granularity, block_rows=3)
    expected = hash_dataframe(pd.read_csv(path), granularity=granularity, block_rows=3)
    assert streamed.digest == expected.digest
    assert streamed.columns == expected.columns and streamed.rows == expected.rows
    if granularity == "row":
        assert streamed.row_digests.equals(expected.row_digests)
