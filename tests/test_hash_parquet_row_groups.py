"""Parquet files are hashed one row group of one column at a time, with the digest of the whole-table read."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prov_common.hashing import hash_dataframe, hash_path, hash_table
from prov_common.hashing.parquet import RowGroupColumns
from prov_common.hashing.table import hash_table_columns
from test_hash_roundtrip import all_dtypes_frame


def _whole_columns_digest(path, **options) -> str:
    """The digest as tdprov computed it before row groups: each column read whole."""
    pf = pq.ParquetFile(path)
    return hash_table_columns(pf.schema_arrow.empty_table(),
                              lambda name: pf.read(columns=[name], use_pandas_metadata=False).column(0),
                              pf.metadata.num_rows, **options).digest


def _tables() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(7)
    n = 200  # 4 row groups of 64 rows, the last partial: blocks of 50 rows start and end inside them
    return {
        "every dtype": pd.concat([all_dtypes_frame().drop(columns=["cat", "ocat"])] * 40, ignore_index=True),
        "with categoricals": pd.concat([all_dtypes_frame()] * 11, ignore_index=True),
        "named index": pd.DataFrame({"x": rng.normal(size=n), "s": rng.choice(["a", "bb", None], n)},
                                    index=pd.Index(np.arange(n) * 3, name="k")),
        "range index not default": pd.DataFrame({"x": np.arange(n)}, index=pd.RangeIndex(5, 5 + 2 * n, 2)),
        "nulls and nested": pd.DataFrame({"l": [[i, None] if i % 3 else None for i in range(n)],
                                          "f": [np.nan if i % 7 == 0 else i / 3 for i in range(n)]}),
    }


@pytest.mark.parametrize("name", list(_tables()))
@pytest.mark.parametrize("row_group_size", [1, 64, 10_000])
def test_row_group_digest_equals_whole_column_and_whole_table_digests(tmp_path, name, row_group_size):
    df = _tables()[name]
    path = tmp_path / "t.parquet"
    df.to_parquet(path, row_group_size=row_group_size)
    block_rows = 50  # blocks start and end inside row groups and span several of them
    expected = hash_table(pq.read_table(path), block_rows=block_rows, granularity="row")
    assert _whole_columns_digest(path, block_rows=block_rows) == expected.digest
    for threads in (1, 2):  # one file, its references computed once, read by one thread and by two
        got = hash_path(path, block_rows=block_rows, threads=threads, granularity="row")
        assert got.digest == expected.digest, f"threads={threads}"
        assert got.column_digests() == expected.column_digests(), f"threads={threads}"
        assert got.blocks == expected.blocks, f"threads={threads}"
        assert got.row_digests.equals(expected.row_digests), f"threads={threads}"
    assert hash_path(path).digest == hash_dataframe(df).digest


def test_each_column_is_read_one_row_group_at_a_time(tmp_path):
    df = pd.DataFrame({"a": np.arange(1_000), "b": np.arange(1_000) * 0.5, "s": [str(i) for i in range(1_000)]})
    path = tmp_path / "t.parquet"
    df.to_parquet(path, row_group_size=128)  # 8 row groups, blocks of 300 rows cross their edges
    pf = pq.ParquetFile(path)
    reader = RowGroupColumns(pf)
    largest: list[int] = []
    block = reader.block

    def watched(name, start, rows):
        out = block(name, start, rows)
        largest.append(len(out))
        return out

    reader.block = watched  # type: ignore[method-assign]
    td = hash_table_columns(pf.schema_arrow.empty_table(), lambda name: pytest.fail(f"{name} read whole"),
                            pf.metadata.num_rows, blocks=reader.reader, block_rows=300, threads=1)
    assert td.digest == hash_dataframe(df, block_rows=300).digest
    assert reader.reads == 3 * 8  # every row group of every column read once, none whole
    assert max(largest) == 300


def test_a_corrupt_row_group_is_bad_input_naming_the_file(tmp_path):
    from prov_common.errors import BadInputError

    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"a": np.arange(10_000)}), path, row_group_size=1_000, compression="none")
    data = bytearray(path.read_bytes())
    data[4:64] = b"\xff" * 60  # the first row group's page header; the footer still reads
    path.write_bytes(bytes(data))
    with pytest.raises(BadInputError, match="t.parquet"):
        hash_path(path)
