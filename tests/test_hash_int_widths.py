"""Integer width is not part of the logical type: an intN frame, its Parquet file and its CSV read back
give one digest (docs/content-hash.md §2), and a different value still gives another."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prov_common.hashing import hash_dataframe, hash_path, hash_table

WIDTHS = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32"]
BLOCK = 16  # small blocks, so frames of a few dozen rows span several


@st.composite
def int_frames(draw: st.DrawFn) -> tuple[pd.DataFrame, str]:
    """A frame with one integer column of a random width (values in its range) and a float column."""
    dtype = draw(st.sampled_from(WIDTHS))
    info = np.iinfo(dtype)
    n = draw(st.integers(1, 60))
    values = draw(st.lists(st.integers(int(info.min), int(info.max)), min_size=n, max_size=n))
    quarters = draw(st.lists(st.integers(-10**6, 10**6), min_size=n, max_size=n))  # floats a CSV keeps as floats
    return pd.DataFrame({"v": np.array(values, dtype=dtype), "f": np.array(quarters) + 0.25}), dtype


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=int_frames())
def test_an_int_frame_its_parquet_and_its_csv_hash_alike(tmp_path_factory, drawn):
    df, dtype = drawn
    folder = tmp_path_factory.mktemp("widths")
    parquet, csv = folder / "t.parquet", folder / "t.csv"
    df.to_parquet(parquet)
    df.to_csv(csv, index=False)
    assert pq.read_schema(parquet).field("v").type == pa.from_numpy_dtype(np.dtype(dtype))  # the width is stored
    assert pd.read_csv(csv).dtypes["v"] == np.int64  # and the CSV cannot carry it

    frame = hash_dataframe(df, granularity="row", block_rows=BLOCK)
    as_int64 = hash_dataframe(df.astype({"v": "int64"}), block_rows=BLOCK)
    nullable = hash_dataframe(df.astype({"v": dtype.capitalize().replace("Ui", "UI")}), block_rows=BLOCK)
    arrow = hash_table(pa.table({"v": pa.array(df["v"].to_numpy()), "f": df["f"].to_numpy()}), block_rows=BLOCK)
    on_disk = [hash_path(p, block_rows=BLOCK) for p in (parquet, csv)]
    assert {frame.digest, as_int64.digest, nullable.digest, arrow.digest, *(d.digest for d in on_disk)} == {frame.digest}
    assert frame.columns[0].logical_type == "int64" and all(d.columns[0].logical_type == "int64" for d in on_disk)

    changed = df.copy()
    info = np.iinfo(dtype)
    first = int(changed.loc[0, "v"])
    changed.loc[0, "v"] = first + 1 if first < info.max else first - 1
    assert hash_dataframe(changed, block_rows=BLOCK).digest != frame.digest


@pytest.mark.parametrize("dtype", WIDTHS)
def test_widened_numpy_fast_path_equals_the_arrow_path_and_the_row_digests(dtype):
    # narrow numpy ints skip Arrow and are widened block by block; the general path casts Arrow arrays
    values = (np.arange(3 * BLOCK + 5) % 100).astype(dtype)
    values[BLOCK + 2] = 7 if np.iinfo(dtype).min == 0 else -7
    fast = hash_dataframe(pd.DataFrame({"v": values}), granularity="row", block_rows=BLOCK)
    general = hash_table(pa.table({"v": pa.array(values)}), granularity="row", block_rows=BLOCK)
    wide = hash_dataframe(pd.DataFrame({"v": values.astype(np.int64)}), granularity="row", block_rows=BLOCK)
    assert fast.digest == general.digest == wide.digest and fast.bytes == wide.bytes
    assert fast.row_digests.equals(wide.row_digests)


def test_uint64_is_its_own_type_and_values_beyond_int64_still_hash(tmp_path):
    small = pd.DataFrame({"v": np.array([1, 2, 3], dtype=np.uint64)})
    assert hash_dataframe(small).columns[0].logical_type == "uint64"
    assert hash_dataframe(small).digest != hash_dataframe(small.astype("int64")).digest
    big = pd.DataFrame({"v": np.array([1, 2**63, 2**64 - 1], dtype=np.uint64)})
    big.to_csv(tmp_path / "big.csv", index=False)
    big.to_parquet(tmp_path / "big.parquet")
    # pandas reads a CSV column as uint64 when a value is beyond int64: then the CSV carries the type
    assert hash_path(tmp_path / "big.csv").digest == hash_path(tmp_path / "big.parquet").digest == hash_dataframe(big).digest
    # and the CSV of small uint64 values reads back as int64: declare the type to match
    small.to_csv(tmp_path / "small.csv", index=False)
    assert hash_path(tmp_path / "small.csv", csv_dtypes={"v": "uint64"}).digest == hash_dataframe(small).digest
