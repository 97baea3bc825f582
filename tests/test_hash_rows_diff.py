"""Block and row granularity, diffs, and record membership through the row-digest sidecar."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from prov_common.errors import BadInputError
from prov_common.hashing import (
    contains_record,
    diff_digests,
    hash_dataframe,
    read_row_digests,
    record_positions,
    row_digest_for_record,
    write_row_digests,
)
from prov_common.hashing.rows import digests_matrix

B = 4


def frame(n=10):
    return pd.DataFrame({"id": np.arange(n), "x": np.arange(n) / 3, "s": [f"r{i}" for i in range(n)],
                         "l": [[i, i + 1] for i in range(n)]})


def test_granularity_keeps_what_it_says():
    df = frame()
    t = hash_dataframe(df, granularity="table")
    c = hash_dataframe(df)
    b = hash_dataframe(df, granularity="block", block_rows=B)
    r = hash_dataframe(df, granularity="row", block_rows=B)
    assert t.digest == c.digest and t.blocks is None and c.blocks is None and c.row_digests is None
    assert b.blocks is not None and len(b.blocks["x"]) == 3 and b.row_digests is None
    assert r.row_digests.num_rows == 10 and r.blocks == b.blocks
    assert b.digest == r.digest != c.digest  # block_rows is part of the algorithm


def test_diff_names_changed_columns_and_row_blocks():
    df = frame(10)
    changed = df.copy()
    changed.loc[5, "x"] = 9.0
    a = hash_dataframe(df, granularity="block", block_rows=B)
    b = hash_dataframe(changed, granularity="block", block_rows=B)
    d = diff_digests(a, b)
    assert not d.same and d.changed_columns == ("x",) and d.row_detail == "blocks"
    assert d.changed_row_ranges == ((4, 8),) and d.changed_row_count == 4
    assert any("changed columns: x" in line for line in d.summary())
    assert diff_digests(a, a).same and diff_digests(a, a).summary() == []


def test_diff_with_row_digests_gives_exact_rows_and_schema_changes():
    df = frame(10)
    other = df.copy()
    other.loc[2, "s"] = "changed"
    other.loc[7, "id"] = -1
    other = other.rename(columns={"l": "lists"})
    other["new"] = 1
    a = hash_dataframe(df, granularity="row", block_rows=B)
    b = hash_dataframe(other, granularity="row", block_rows=B)
    d = diff_digests(a, b)
    assert d.changed_columns == ("id", "s")
    assert d.added_columns == ("lists", "new") and d.removed_columns == ("l",)
    assert d.row_detail == "rows"
    # row digests cover every column in order; renaming l changes no values, adding 'new' changes every row
    assert d.changed_row_ranges == ((0, 10),)
    same_cols = hash_dataframe(df.assign(s=other["s"]), granularity="row", block_rows=B)
    assert diff_digests(a, same_cols).changed_row_ranges == ((2, 3),)


def test_diff_of_different_lengths_and_types():
    a = hash_dataframe(frame(6), granularity="block", block_rows=B)
    b = hash_dataframe(frame(9), granularity="block", block_rows=B)
    d = diff_digests(a, b)
    assert (d.rows_a, d.rows_b) == (6, 9) and d.changed_row_ranges == ((4, 9),)
    assert d.changed_columns == ("id", "x", "s", "l")
    c = hash_dataframe(frame(6).astype({"id": "float64"}))
    assert diff_digests(hash_dataframe(frame(6)), c).type_changes == {"id": ("int64", "float64")}
    assert diff_digests(hash_dataframe(frame(6)), hash_dataframe(frame(6).astype({"id": "int32"}))).same
    unknown = diff_digests(hash_dataframe(frame(6)), hash_dataframe(frame(7)))
    assert unknown.row_detail == "none" and "row ranges unknown" in unknown.summary()[-1]


def test_row_digests_match_single_records_and_answer_membership(tmp_path):
    df = frame(10)
    df["f"] = [np.nan if i % 3 == 0 else i / 7 for i in range(10)]
    df["n"] = pd.Series([None if i % 2 else i for i in range(10)], dtype="Int64")
    td = hash_dataframe(df, granularity="row", block_rows=B)
    m = digests_matrix(td.row_digests)
    assert len({bytes(r) for r in m}) == 10
    for i in range(10):
        rec = df.iloc[i].to_dict()
        assert row_digest_for_record(rec, td.schema_fields()) == bytes(m[i])
    path = write_row_digests(td, tmp_path / "rows.parquet")
    assert pq.ParquetFile(path).metadata.num_rows == 10
    assert path.stat().st_size < 10 * 16 + 2000  # compact: 16 bytes a row plus footer
    side = read_row_digests(path)
    assert contains_record(path, df.iloc[3].to_dict())
    assert record_positions(side, df.iloc[8].to_dict()) == [8]
    missing = df.iloc[3].to_dict() | {"s": "not there"}
    assert not contains_record(side, missing)
    with pytest.raises(BadInputError, match="no row digests"):
        write_row_digests(hash_dataframe(df), tmp_path / "x.parquet")
    (tmp_path / "junk.parquet").write_bytes(b"junk")
    with pytest.raises(BadInputError, match="sidecar"):
        read_row_digests(tmp_path / "junk.parquet")


def test_a_record_of_a_version_that_names_a_column_twice_is_refused_not_answered_absent(tmp_path):
    """A record gives one value per name; with the column 'a' twice its value stood for both, so a row whose two 'a'
    differ (here every row) was "not contained"."""
    df = pd.DataFrame([[1, 2, "x"], [3, 4, "y"]], columns=["a", "a", "s"])
    side = read_row_digests(write_row_digests(hash_dataframe(df, granularity="row"), tmp_path / "rows.parquet"))
    for lookup in (contains_record, record_positions):
        with pytest.raises(BadInputError) as refused:
            lookup(side, df.iloc[0].to_dict())
        assert refused.value.what == ("the version has the column 'a' more than once, so a record, which gives one value per "
                                      "name, cannot name one of its rows.")
        assert "give the columns distinct names" in refused.value.fix


def test_a_refused_record_names_one_column_in_the_singular_and_several_in_the_plural(tmp_path):
    """The refusals said "column(s)" whatever the count."""
    df = pd.DataFrame([[1, 2, "x"]], columns=["a", "b", "s"])
    side = read_row_digests(write_row_digests(hash_dataframe(df, granularity="row"), tmp_path / "rows.parquet"))
    with pytest.raises(BadInputError) as several:
        contains_record(side, {"s": "x", "c": 1, "d": 2})
    assert several.value.what == ("the record gives no value for the columns 'a', 'b'; names columns the version does not have: "
                                  "'c', 'd' (the version's columns: 'a', 'b', 's').")
    with pytest.raises(BadInputError) as one:
        contains_record(side, {"a": 1, "b": 2, "c": 1})
    assert one.value.what == ("the record gives no value for the column 's'; names a column the version does not have: 'c' "
                              "(the version's columns: 'a', 'b', 's').")
    twice = pd.DataFrame([[1, 2, 3, 4]], columns=["a", "a", "b", "b"])
    side = read_row_digests(write_row_digests(hash_dataframe(twice, granularity="row"), tmp_path / "twice.parquet"))
    with pytest.raises(BadInputError, match="^the version has the columns 'a', 'b' more than once, so a record"):
        contains_record(side, twice.iloc[0].to_dict())


def test_row_digests_are_layout_independent_and_threads_agree():
    df = pd.DataFrame({"a": np.arange(300_000) % 1000, "s": pd.Series(np.arange(300_000) % 7).astype(str)})
    one = hash_dataframe(df, granularity="row", threads=1)
    two = hash_dataframe(df.astype({"s": object}), granularity="row", threads=2)
    assert one.digest == two.digest
    assert one.row_digests.equals(two.row_digests)


def test_row_digest_of_nested_and_typed_values():
    import datetime as dt
    import decimal
    df = pd.DataFrame({
        "t": pd.to_datetime(["2020-01-01", None]).tz_localize("UTC"),
        "d": [decimal.Decimal("1.5"), None],
        "st": [{"a": 1, "b": [1, 2]}, None],
        "day": [dt.date(2020, 1, 1), dt.date(2020, 1, 2)],
        "c": pd.Categorical(["x", None]),
    })
    td = hash_dataframe(df, granularity="row")
    m = digests_matrix(td.row_digests)
    for i in range(2):
        assert row_digest_for_record(df.iloc[i].to_dict(), td.schema_fields()) == bytes(m[i])


def test_each_block_is_prepared_once_for_both_lanes(monkeypatch):
    """Row digests canonicalise every block (and every nested child) once, not once per 128-bit lane."""
    from prov_common.hashing import rows

    calls = []
    real = rows.canonicalize
    monkeypatch.setattr(rows, "canonicalize", lambda arr: calls.append(arr.type) or real(arr))
    df = frame(2 * B)
    df["st"] = [{"p": i, "q": str(i)} for i in range(2 * B)]
    td = hash_dataframe(df, granularity="row", block_rows=B)
    # id, x, s, l + its child, st + its two fields: 8 arrays per block, 2 blocks
    assert len(calls) == 16
    assert td.row_digests.num_rows == 2 * B


def test_a_record_value_the_hashing_would_not_read_as_given_is_refused_not_taken_as_another_row():
    """The lookup read a record's value in the column's type, changing it where the hashing refuses the value: a
    decimal negative zero (refused in a column) was the row holding zero, 1.5 the integer 1, a date-time the date
    (its time dropped), a number the date that many days after 1970, True the float 1.0, text the bytes of a binary
    column. Each is now refused naming the field; values the column's type holds as given still match."""
    from decimal import Decimal

    df = pd.DataFrame({"d": [Decimal("0.00")], "l": [[Decimal("0.0")]], "i": [1], "day": [pd.Timestamp("2024-01-01").date()],
                       "f": [1.0], "b": [b"a"]})
    td = hash_dataframe(df, granularity="row")
    fields = td.schema_fields()
    row = df.iloc[0].to_dict()
    assert row_digest_for_record(row, fields) == bytes(digests_matrix(td.row_digests)[0])
    assert row_digest_for_record(row | {"d": 0, "i": 1.0, "f": 1}, fields) == bytes(digests_matrix(td.row_digests)[0])
    with pytest.raises(BadInputError, match="^column 'd' holds a decimal negative zero"):
        hash_dataframe(df.assign(d=[Decimal("-0.00")]))
    for field, value, read in (("d", Decimal("-0.00"), "Decimal('0.00')"), ("l", [Decimal("-0.0")], "[Decimal('0.0')]"),
                               ("i", 1.5, "1"), ("day", pd.Timestamp("2024-01-01 12:00").to_pydatetime(),
                                                 "datetime.date(2024, 1, 1)"),
                               ("day", 19723, "datetime.date(2024, 1, 1)"), ("f", True, "1.0"), ("b", "a", "b'a'")):
        with pytest.raises(BadInputError) as refused:
            row_digest_for_record(row | {field: value}, fields)
        logical = dict(fields)[field]
        assert refused.value.what == (f"field {field!r}: value {value!r} is not of logical type {logical}: it would be read "
                                      f"as {read}, which is another value.")
        assert refused.value.fix == "give the value in the column's type."
    with pytest.raises(BadInputError) as far:  # a date no Python date holds
        row_digest_for_record(row | {"day": 100_000_000}, fields)
    assert far.value.what.startswith("field 'day': value 100000000 is not of logical type date32[day]: it would be read as "
                                     "a value Python cannot hold (")


def test_a_record_date_time_read_in_a_zone_it_does_not_name_or_a_number_read_as_a_time_is_refused():
    """A date-time without a time zone was read as UTC in a column with one (11:00 was the row shown as 12:00 in
    Paris), one with a zone had it dropped in a column without (13:00+01:00 was the row holding 12:00), and a number
    was read as nanoseconds; the hashing refuses date-times with and without a zone, and numbers, among date-times."""
    import datetime as dt

    df = pd.DataFrame({"paris": pd.to_datetime(["2024-01-01 12:00"]).tz_localize("Europe/Paris"),
                       "naive": pd.to_datetime(["2024-01-01 12:00"]), "took": pd.to_timedelta(["1s"])})
    td = hash_dataframe(df, granularity="row")
    fields, first = td.schema_fields(), bytes(digests_matrix(td.row_digests)[0])
    row = df.iloc[0].to_dict()
    utc = dt.timezone.utc
    assert row_digest_for_record(row, fields) == first
    assert row_digest_for_record(row | {"paris": dt.datetime(2024, 1, 1, 11, tzinfo=utc), "naive": np.datetime64("2024-01-01T12:00:00"),
                                        "took": np.timedelta64(1, "s")}, fields) == first
    for field, value in (("paris", dt.datetime(2024, 1, 1, 11)),
                         ("naive", dt.datetime(2024, 1, 1, 13, tzinfo=dt.timezone(dt.timedelta(hours=1)))),
                         ("naive", 1704110400000000000), ("took", 1_000_000_000)):
        with pytest.raises(BadInputError) as refused:
            row_digest_for_record(row | {field: value}, fields)
        assert refused.value.what.startswith(f"field {field!r}: value {value!r} is not of logical type "
                                             f"{dict(fields)[field]}: it would be read as "), refused.value.what
    with pytest.raises(BadInputError) as paris:
        row_digest_for_record(row | {"paris": dt.datetime(2024, 1, 1, 11)}, fields)
    assert paris.value.what.endswith("it would be read as Timestamp('2024-01-01 12:00:00+0100', tz='Europe/Paris'), which is "
                                     "another value."), paris.value.what


def test_a_record_of_none_of_one_columns_names_it_as_the_only_one() -> None:
    """A record that gives no value for a one-column version was told 'no value for any of the version's 1 column'."""
    with pytest.raises(BadInputError) as refused:
        row_digest_for_record({"x": 1}, [("a", "int64")])
    assert refused.value.what == ("the record gives no value for the version's only column, 'a'; names a column the "
                                  "version does not have: 'x'."), refused.value.what
