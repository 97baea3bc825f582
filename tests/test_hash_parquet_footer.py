"""A Parquet file's row count is the sum of its row groups', checked against the footer and the pages read."""
from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from parquet_footer import with_row_counts
from prov_common.cli import main
from prov_common.errors import BadInputError
from prov_common.hashing import hash_path


def _parquet(values: list[int]) -> bytes:
    out = io.BytesIO()
    pq.write_table(pa.table({"a": pa.array(values, pa.int64())}), out)
    return out.getvalue()


def test_the_patch_helper_changes_only_the_counts():
    data = with_row_counts(_parquet(list(range(77))), 77, 10)
    pf = pq.ParquetFile(io.BytesIO(data))
    assert (pf.metadata.num_rows, pf.metadata.row_group(0).num_rows) == (10, 77)
    assert pq.read_table(io.BytesIO(data)).num_rows == 77


def test_a_footer_claiming_fewer_rows_than_its_row_groups_is_refused(tmp_path, capsys):
    clean, poisoned = tmp_path / "clean.parquet", tmp_path / "poisoned.parquet"
    clean.write_bytes(_parquet(list(range(10))))
    poisoned.write_bytes(with_row_counts(_parquet(list(range(10)) + [666] * 67), 77, 10))  # the first 10 rows are clean's
    with pytest.raises(BadInputError, match=r"poisoned\.parquet.*says 10 rows.*77"):
        hash_path(poisoned)
    assert main(["hash", "--diff", str(clean), str(poisoned)]) == 2
    assert "poisoned.parquet" in capsys.readouterr().err


@pytest.mark.parametrize("rows", [100, -5])
def test_a_footer_row_count_that_is_too_large_or_negative_is_refused_naming_the_file(tmp_path, capsys, rows):
    path = tmp_path / "odd.parquet"
    path.write_bytes(with_row_counts(_parquet(list(range(77))), 77, rows))
    with pytest.raises(BadInputError, match=r"odd\.parquet"):
        hash_path(path)
    assert main(["hash", str(path)]) == 2
    err = capsys.readouterr().err
    assert "odd.parquet" in err and "unexpected" not in err


@pytest.mark.parametrize("threads", [1, 2])
def test_a_row_group_holding_other_rows_than_it_says_is_refused(tmp_path, threads):
    path = tmp_path / "short.parquet"
    path.write_bytes(with_row_counts(_parquet(list(range(77))), 77, 100, hits=(0, 2)))  # footer and row group: 100
    assert pq.read_table(path).num_rows == 77
    with pytest.raises(BadInputError, match=r"short\.parquet.*row group 0.*77.*100"):
        hash_path(path, block_rows=10, threads=threads)


def test_a_row_group_count_matching_its_pages_hashes_as_the_whole_read(tmp_path):
    path = tmp_path / "t.parquet"
    path.write_bytes(with_row_counts(_parquet(list(range(77))), 77, 50, hits=(0, 1, 2)))
    from prov_common.hashing import hash_table
    assert hash_path(path, block_rows=16).digest == hash_table(pq.read_table(path), block_rows=16).digest


@pytest.mark.parametrize("claimed", [2**24, 2**40])
def test_a_footer_claiming_a_huge_self_consistent_row_count_allocates_nothing_for_it_at_row_granularity(tmp_path, claimed):
    """Footer, row group and column chunk all claim ``claimed`` rows; the pages hold 77. Row digests are allocated
    as rows are read, so the file is refused once its pages run out, with memory for its 77 rows, not 16 bytes
    per claimed row (2**40 of them would not fit in any machine's memory)."""
    import tracemalloc

    path = tmp_path / "huge.parquet"
    path.write_bytes(with_row_counts(_parquet(list(range(77))), 77, claimed, hits=(0, 1, 2)))
    assert pq.ParquetFile(path).metadata.row_group(0).num_rows == claimed
    tracemalloc.start()
    try:
        with pytest.raises(BadInputError, match=rf"huge\.parquet.*row group 0.*77 rows.*says {claimed}"):
            hash_path(path, granularity="row")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"{peak} bytes traced for a file of 77 rows"


def test_a_footer_claiming_rows_without_columns_is_refused(tmp_path, capsys):
    out = io.BytesIO()
    pq.write_table(pa.table({"a": [1, 2, 3]}).select([]), out)  # pyarrow writes a table without columns with 0 rows
    path = tmp_path / "empty.parquet"
    path.write_bytes(with_row_counts(out.getvalue(), 0, 2**40, hits=(0, 2)))
    meta = pq.ParquetFile(path).metadata
    assert (meta.num_columns, meta.num_rows, meta.row_group(0).num_rows) == (0, 2**40, 2**40)
    for granularity in ("column", "row"):
        with pytest.raises(BadInputError, match=r"empty\.parquet.*says 1099511627776 rows.*no columns"):
            hash_path(path, granularity=granularity)
    assert main(["hash", "--granularity", "row", str(path)]) == 2
    assert "empty.parquet" in capsys.readouterr().err
