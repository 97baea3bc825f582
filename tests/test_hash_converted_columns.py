"""A DataFrame hashed beside the Arrow table made of it (``hash_dataframe(df, arrow=...)``, as the IO manager's write
hashes it) gives the digest of the frame hashed alone: its date-time and duration columns are taken from the table
as Arrow converted them, not converted a second time, and a table that does not hold them as that conversion does
(another unit, a field named otherwise, a name used twice) is not taken from."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from dagster import AssetIn, DagsterInstance, asset, materialize

from prov_common.hashing import hash_dataframe, hash_path
from prov_common.hashing.columns import dataframe_sources
from prov_dagster import ProvenanceIOManager

pytest_plugins = ["dagster_support"]


def _frame(rows: int = 50) -> pd.DataFrame:
    """Date-times of every unit, durations, each with missing values, beside numbers and text."""
    rng = np.random.default_rng(3)
    seconds = rng.integers(-2_000_000_000, 2_000_000_000, size=rows)
    frame = pd.DataFrame({unit: pd.Series(seconds.astype(f"datetime64[{unit}]") if unit == "s" else
                                          (seconds * 1000).astype("datetime64[ms]").astype(f"datetime64[{unit}]"))
                          for unit in ("s", "ms", "us", "ns")})
    frame["took"] = pd.to_timedelta(rng.integers(0, 10**9, size=rows), unit="us")
    frame.loc[::7, ["s", "ns", "took"]] = pd.NaT
    frame["n"] = np.arange(rows)
    frame["label"] = pd.Series(rng.choice(["a", "b"], size=rows), dtype="string")
    return frame


def _chunked(df: pd.DataFrame) -> pa.Table:
    """``pa.Table.from_pandas(df)`` in chunks that cross the blocks of 8 rows."""
    return pa.concat_tables([pa.Table.from_pandas(df.iloc[:13]), pa.Table.from_pandas(df.iloc[13:])])


@pytest.mark.parametrize("granularity", ["column", "row"])
@pytest.mark.parametrize("make", [pa.Table.from_pandas, _chunked])
def test_a_frame_hashed_beside_its_table_gives_its_own_digest(granularity: str,
                                                              make: Callable[[pd.DataFrame], pa.Table]) -> None:
    df = _frame()
    for frame in (df, df.set_index("ns", drop=False), df.set_index(["s", "n"])):  # index levels named as columns too
        alone = hash_dataframe(frame, granularity=granularity, block_rows=8)
        beside = hash_dataframe(frame, granularity=granularity, block_rows=8, arrow=make(frame))
        assert beside == alone
        assert beside.digest == alone.digest and beside.blocks == alone.blocks
        if granularity == "row":
            assert beside.row_digests.equals(alone.row_digests)


def test_date_times_are_taken_from_the_table_as_converted() -> None:
    df = _frame()
    table = pa.Table.from_pandas(df)
    sources = {s.label: s for s in dataframe_sources(df, table)}
    for name in ("s", "ms", "us", "ns", "took"):  # the table's own buffers: not converted again
        block = sources[name].block(0, 10)
        assert block.buffers()[1].address == table.column(name).chunk(0).buffers()[1].address
    assert sources["n"].numbers is not None  # plain numbers keep their faster path from numpy


def test_a_table_that_does_not_hold_the_column_as_converted_is_not_taken_from() -> None:
    df = _frame()
    expected = hash_dataframe(df).digest
    other_unit = pa.Table.from_pandas(df.astype({"ns": "datetime64[us]"}))
    renamed = pa.Table.from_pandas(df.rename(columns={"ns": "other", "us": "ns"}))  # field 'ns' holds other values
    twice = pa.Table.from_pandas(df.set_index(df["ns"].rename("ns")))  # 'ns' names the index level and the column
    shorter = pa.Table.from_pandas(df.iloc[:10])
    for table in (other_unit, twice, shorter):
        assert hash_dataframe(df, arrow=table).digest == expected
    with_fields = {s.label: s for s in dataframe_sources(df, renamed)}
    assert with_fields["ns"].block(0, 5).type == pa.timestamp("ns")  # its own values, as numpy converts them
    assert hash_dataframe(df.set_index(df["ns"].rename("ns")), arrow=twice) == hash_dataframe(df.set_index(df["ns"].rename("ns")))


@pytest.mark.parametrize("granularity", ["column", "row"])
def test_the_io_manager_records_the_digest_of_the_frame_and_of_its_file(store: Path, instance: DagsterInstance,
                                                                         granularity: str) -> None:
    df = _frame(200_000)

    @asset(metadata={"tdprov/granularity": granularity})
    def times() -> pd.DataFrame:
        return df

    @asset(ins={"times": AssetIn()})
    def later(times: pd.DataFrame) -> pd.DataFrame:
        pd.testing.assert_frame_equal(times, df.astype({"s": "datetime64[ms]"}))  # Parquet keeps seconds as milliseconds
        return times.head(1)

    result = materialize([times, later], instance=instance, resources={"io_manager": ProvenanceIOManager()})
    assert result.success  # the load's check found the digest recorded
    recorded = result.asset_materializations_for_node("times")[0].metadata["tdprov/digest"].value
    assert recorded == hash_dataframe(df).digest
    (data,) = store.parent.rglob("times.parquet")
    assert hash_path(str(data)).digest == recorded
