"""Hostile DataFrames through hashing and Pandera validation: every dtype, empty, all-null, huge
strings, mixed objects, odd column names. Each call works (and is deterministic) or raises the
documented ``BadInputError``/``UnsupportedTypeError``; a masked column's values never appear in the
failure sample. Example counts: 250 x ``TDPROV_FUZZ_SCALE`` (hash), 60 x (validate) and 100 x (not a frame).
"""
from __future__ import annotations

import datetime as dt
import decimal
import os
import subprocess
import sys

import dateutil.tz
import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from prov_common.errors import BadInputError
from prov_common.hashing import hash_dataframe
from prov_common.quality.validate import validate

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::RuntimeWarning", "ignore::UserWarning")
SCALE = float(os.environ.get("TDPROV_FUZZ_SCALE", "1"))
FUZZ = dict(deadline=None, suppress_health_check=list(HealthCheck), database=None)

names = st.sampled_from(["a", "", " ", "../x", "\u202e", "é", "e\u0301", "0", "None", "a" * 300]) | st.text(max_size=8)
text = st.text(max_size=20) | st.sampled_from(["x" * 100_000, "\x00", "\ud7ff", "🙂" * 50])


def _column(kind: str, n: int, data: st.DataObject) -> pd.Series:
    draw = data.draw
    if kind == "int":
        return pd.Series(draw(st.lists(st.integers(-2**63, 2**63 - 1), min_size=n, max_size=n)), dtype="int64")
    if kind == "uint8":
        return pd.Series(draw(st.lists(st.integers(0, 255), min_size=n, max_size=n)), dtype="uint8")
    if kind == "Int64":
        return pd.Series(draw(st.lists(st.none() | st.integers(-2**31, 2**31), min_size=n, max_size=n)), dtype="Int64")
    if kind == "float":
        return pd.Series(draw(st.lists(st.floats(), min_size=n, max_size=n)), dtype="float64")
    if kind == "float32":
        return pd.Series(draw(st.lists(st.floats(width=32), min_size=n, max_size=n)), dtype="float32")
    if kind == "bool":
        return pd.Series(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype="bool")
    if kind == "boolean":
        return pd.Series(draw(st.lists(st.none() | st.booleans(), min_size=n, max_size=n)), dtype="boolean")
    if kind == "string":
        return pd.Series(draw(st.lists(st.none() | text, min_size=n, max_size=n)), dtype="string")
    if kind == "object-str":
        return pd.Series(draw(st.lists(text, min_size=n, max_size=n)), dtype=object)
    if kind == "datetime":
        return pd.Series(pd.to_datetime(draw(st.lists(st.none() | st.datetimes(dt.datetime(1900, 1, 1), dt.datetime(2200, 1, 1)), min_size=n, max_size=n))))
    if kind == "datetime-tz":
        return pd.Series(pd.to_datetime(draw(st.lists(st.datetimes(dt.datetime(1970, 1, 1), dt.datetime(2100, 1, 1)), min_size=n, max_size=n)))).dt.tz_localize("Europe/Paris", ambiguous="NaT", nonexistent="NaT")
    if kind == "timedelta":
        return pd.Series(pd.to_timedelta(draw(st.lists(st.integers(-10**12, 10**12), min_size=n, max_size=n)), unit="us"))
    if kind == "category":
        return pd.Series(draw(st.lists(st.none() | st.sampled_from(["a", "b", "c"]), min_size=n, max_size=n)), dtype="category")
    if kind == "all-null":
        return pd.Series([None] * n, dtype=draw(st.sampled_from(["object", "float64", "string", "Int64"])))
    if kind == "bytes":
        return pd.Series(draw(st.lists(st.binary(max_size=10), min_size=n, max_size=n)), dtype=object)
    if kind == "decimal":
        return pd.Series([decimal.Decimal(x) for x in draw(st.lists(st.integers(-10**6, 10**6), min_size=n, max_size=n))], dtype=object)
    if kind == "mixed":
        return pd.Series(draw(st.lists(st.none() | st.integers() | text | st.floats() | st.lists(st.integers(), max_size=2)
                                       | st.dictionaries(st.text(max_size=2), st.integers(), max_size=2), min_size=n, max_size=n)), dtype=object)
    if kind == "complex":
        return pd.Series(np.zeros(n, dtype="complex128"))
    raise AssertionError(kind)


KINDS = ["int", "uint8", "Int64", "float", "float32", "bool", "boolean", "string", "object-str", "datetime", "datetime-tz",
         "timedelta", "category", "all-null", "bytes", "decimal", "mixed", "complex"]


@st.composite
def frames(draw) -> pd.DataFrame:
    data = draw(st.data())
    n = draw(st.sampled_from([0, 1, 2, 3, 7]))
    cols = draw(st.lists(st.sampled_from(KINDS), min_size=0, max_size=4))
    columns = {}
    for i, kind in enumerate(cols):
        columns[draw(names) + ("" if draw(st.booleans()) else str(i))] = _column(kind, n, data)
    df = pd.DataFrame(columns) if columns else pd.DataFrame(index=range(n))
    if draw(st.booleans()) and n:
        df.index = draw(st.sampled_from([pd.Index([f"r{i}" for i in range(n)]), pd.RangeIndex(5, 5 + n), pd.Index(list(range(n))[::-1])]))
    return df


@settings(max_examples=int(250 * SCALE), **FUZZ)
@given(frames())
def test_hash_dataframe_works_deterministically_or_raises_bad_input(df: pd.DataFrame) -> None:
    try:
        digest = hash_dataframe(df)
    except BadInputError as exc:  # UnsupportedTypeError is one
        assert exc.what and exc.fix
        return
    assert digest.digest.startswith("blake3:") and len(digest.digest) == 7 + 64
    again = hash_dataframe(df.copy(deep=True))
    assert again.digest == digest.digest and again.rows == len(df)
    assert set(digest.columns) <= {str(c) for c in df.columns} | set(digest.columns)


SCHEMA = pa.DataFrameSchema({"secret": pa.Column(str, nullable=True), "score": pa.Column(float, pa.Check.in_range(0, 1), nullable=False)},
                            strict=False, coerce=False)


@settings(max_examples=int(60 * SCALE), **FUZZ)
@given(st.lists(st.tuples(st.text(min_size=6, max_size=12, alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ23456789"),
                          st.none() | st.floats(-5, 5) | st.just(float("nan"))), max_size=8), st.integers(0, 5))
def test_validate_masks_flagged_columns_in_samples(rows, sample_rows: int) -> None:
    df = pd.DataFrame({"secret": pd.Series([r[0] for r in rows], dtype="str"), "score": pd.Series([r[1] for r in rows], dtype="float64")})
    result = validate(df, SCHEMA, sample_rows=sample_rows, masked_columns=["secret"])
    sample = result.failure_sample
    rendered = sample.to_csv() if isinstance(sample, pd.DataFrame) else repr(sample)
    assert not any(r[0] in rendered for r in rows)
    bad = sum(1 for r in rows if r[1] is None or r[1] != r[1] or not 0 <= r[1] <= 1)
    assert result.passed == (bad == 0)


@settings(max_examples=int(100 * SCALE), **FUZZ)
@given(st.sampled_from([None, 3, "df", [1, 2], {"a": [1]}, pd.Series([1, 2]), np.zeros(3)]))
def test_not_a_dataframe_is_bad_input(value) -> None:
    with pytest.raises(BadInputError):
        hash_dataframe(value)
    with pytest.raises(BadInputError):
        validate(value, SCHEMA)


def test_object_column_with_an_int_beyond_int64_is_unsupported_not_a_crash() -> None:
    """Found by the fuzzer: pyarrow raised OverflowError out of hash_dataframe."""
    from prov_common.errors import UnsupportedTypeError

    with pytest.raises(UnsupportedTypeError, match="'big'"):
        hash_dataframe(pd.DataFrame({"big": pd.Series([None, 2**63], dtype=object)}))



class _Wordy:
    """A value whose repr is 100,000 characters of words (a class's own __repr__)."""

    def __repr__(self) -> str:
        return "B " * 50_000


def test_a_value_whose_repr_is_huge_is_refused_in_a_short_message_naming_the_column_and_the_type() -> None:
    """pyarrow's refusal holds the offending value's repr, which was put whole into the refusal (100 KB here): it is
    cut to 200 characters, its size named, and the column and the value's type stay."""
    from prov_common.errors import UnsupportedTypeError

    with pytest.raises(UnsupportedTypeError) as err:
        hash_dataframe(pd.DataFrame({"notes": [1, _Wordy()]}))
    assert str(err.value) == (
        "column 'notes' has dtype object holding values of mixed types _Wordy, int, which cannot be hashed: Could not "
        f"convert {'B ' * 74}B…{' B' * 25} (99,999 characters) with type _Wordy: did not recognize Python value type "
        "when inferring an Arrow data type. Fix: convert it to one type, e.g. df['notes'] = df['notes'].astype(str), or "
        "declare its dtype.")


_UTC = dt.timezone.utc


@pytest.mark.parametrize("values, same_digest_as, holds", [
    ([dt.date(2020, 1, 1), dt.datetime(2020, 1, 1, 12, 30)], [dt.date(2020, 1, 1), dt.date(2020, 1, 1)], "dates and date-times"),
    ([dt.datetime(2020, 1, 1), dt.datetime(2020, 1, 1, tzinfo=_UTC)], [dt.datetime(2020, 1, 1)] * 2, "date-times with and without a time zone"),
    ([dt.datetime(2020, 1, 1, tzinfo=_UTC), None, dt.datetime(2020, 1, 1)], [dt.datetime(2020, 1, 1, tzinfo=_UTC), None, dt.datetime(2020, 1, 1, tzinfo=_UTC)],
     "date-times with and without a time zone"),
    ([dt.timedelta(days=1), 5], [dt.timedelta(days=1), dt.timedelta(microseconds=5)], "durations and numbers"),
    ([dt.datetime(2020, 1, 1), 1], [dt.datetime(2020, 1, 1), dt.datetime(1970, 1, 1, 0, 0, 0, 1)], "dates or times and numbers"),
    # pandas' own date-times and durations are read in microseconds, as Python's beside them
    ([pd.Timestamp("2020-01-01 00:00:00.000000001")], [pd.Timestamp("2020-01-01")], "date-times or durations with nanoseconds"),
    ([dt.datetime(2020, 1, 1), None, pd.Timestamp("2020-01-01 00:00:00.000000001", tz="UTC").tz_localize(None)],
     [dt.datetime(2020, 1, 1), None, dt.datetime(2020, 1, 1)], "date-times or durations with nanoseconds"),
    ([[pd.Timestamp("1960-01-01 00:00:00.000000999", tz="UTC"), None]], [[pd.Timestamp("1960-01-01", tz="UTC"), None]],
     "date-times or durations with nanoseconds"),
    ([{"p": pd.Timedelta(1, "ns")}], [{"p": pd.Timedelta(0)}], "date-times or durations with nanoseconds"),
    ([dt.date(2020, 1, 1), None, 0.5], [dt.date(2020, 1, 1), None, dt.date(1970, 1, 1)], "dates or times and numbers"),
    ([dt.time(1), np.int64(1)], [dt.time(1), dt.time(0, 0, 0, 1)], "dates or times and numbers"),
    ([[dt.datetime(2020, 1, 1, tzinfo=_UTC), 0.0]], [[dt.datetime(2020, 1, 1, tzinfo=_UTC), dt.datetime(1970, 1, 1, tzinfo=_UTC)]],
     "dates or times and numbers"),
    ([{"d": [dt.date(2020, 1, 1), 1]}], [{"d": [dt.date(2020, 1, 1), dt.date(1970, 1, 2)]}], "dates or times and numbers"),
    ([b"a", "a"], [b"a", b"a"], "bytes and text"),
    ([{1, 2}, None], [[1, 2], None], "sets"),
    ([{"k": [{1}]}], [{"k": [[1]]}], "sets"),
    ([dt.time(1, tzinfo=dt.timezone(dt.timedelta(hours=5))), None], [dt.time(1), None], "times of day with a time zone"),
    ([1.5, True, None], [1.5, 1.0, None], "numbers and booleans"),
    ([[0.5, False]], [[0.5, 0.0]], "numbers and booleans"),
    ([{"w": 0.5, "k": {"f": [2.5]}}, {"w": 1.0, "k": {"f": [True]}}], [{"w": 0.5, "k": {"f": [2.5]}}, {"w": 1.0, "k": {"f": [1.0]}}],
     "numbers and booleans"),
    ([{"m": 2.5}, {"m": True}], [{"m": 2.5}, {"m": 1.0}], "numbers and booleans"),
    ([pd.Timestamp("2020-01-01", tz="UTC"), pd.Timestamp("2020-01-01", tz="UTC").tz_convert("Europe/Paris")],
     [pd.Timestamp("2020-01-01", tz="UTC")] * 2, "date-times in several time zones"),
    ([dt.datetime(2020, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1))), dt.datetime(2020, 1, 1, tzinfo=_UTC)],
     [dt.datetime(2020, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1)))] * 2, "date-times in several time zones"),
    ([dt.datetime(2020, 1, 1, tzinfo=dateutil.tz.gettz("Europe/Paris")), dt.datetime(2020, 1, 1, tzinfo=_UTC)],
     [dt.datetime(2020, 1, 1, tzinfo=dateutil.tz.gettz("Europe/Paris"))] * 2, "date-times in several time zones"),
    # inside lists and structs, as in a column of their own
    ([[dt.time(1, tzinfo=_UTC)]], [[dt.time(1)]], "times of day with a time zone"),
    ([{"t": dt.time(1)}, {"t": dt.time(1, tzinfo=_UTC)}], [{"t": dt.time(1)}] * 2, "times of day with a time zone"),
    ([[dt.datetime(2020, 1, 1, tzinfo=_UTC), dt.datetime(2020, 1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1)))]],
     [[dt.datetime(2020, 1, 1, tzinfo=_UTC)] * 2], "date-times in several time zones"),
    ([{"t": dt.datetime(2020, 1, 1, tzinfo=_UTC)}, {"t": dt.datetime(2020, 1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1)))}],
     [{"t": dt.datetime(2020, 1, 1, tzinfo=_UTC)}] * 2, "date-times in several time zones"),
    ([[[dt.datetime(2020, 1, 1)], [None, dt.datetime(2020, 1, 1, tzinfo=_UTC)]]], [[[dt.datetime(2020, 1, 1)], [None, dt.datetime(2020, 1, 1)]]],
     "date-times with and without a time zone"),
    ([[dt.date(2020, 1, 1), dt.datetime(2020, 1, 1, 12, 30)]], [[dt.date(2020, 1, 1)] * 2], "dates and date-times"),
    ([[dt.timedelta(days=1), 5]], [[dt.timedelta(days=1), dt.timedelta(microseconds=5)]], "durations and numbers"),
    ([{"b": [b"a", "a"]}], [{"b": [b"a", b"a"]}], "bytes and text"),
    # a boolean among floats where few items are 0.0 or 1.0 (each looked at in its place) and where many are
    ([[0.5] * 20 + [True] + [0.5] * 20, [0.25]], [[0.5] * 20 + [1.0] + [0.5] * 20, [0.25]], "numbers and booleans"),
    ([[None, 0.5, 0.5, 0.5, 0.5, False]], [[None, 0.5, 0.5, 0.5, 0.5, 0.0]], "numbers and booleans"),
    ([None, float("nan"), [0.5] * 5 + [1.0], [0.5] * 5 + [True]], [None, None, [0.5] * 5 + [1.0], [0.5] * 5 + [1.0]],
     "numbers and booleans"),
    ([(0.5, 0.5, 0.5, 0.5, True)], [(0.5, 0.5, 0.5, 0.5, 1.0)], "numbers and booleans"),
    ([np.array([0.5, 0.5, 0.5, 0.5, True], dtype=object)], [np.array([0.5, 0.5, 0.5, 0.5, 1.0])], "numbers and booleans"),
    ([[1.0, 0.0], [0.0, True]], [[1.0, 0.0], [0.0, 1.0]], "numbers and booleans"),
    ([{"w": 0.5}, None, {"x": 1}, {"w": True}], [{"w": 0.5}, None, {"x": 1}, {"w": 1.0}], "numbers and booleans"),
    ([float("nan"), {"w": 0.0}, {"w": False}], [None, {"w": 0.0}, {"w": 0.0}], "numbers and booleans"),
    ([{b"w": 0.5}, {b"w": True}], [{b"w": 0.5}, {b"w": 1.0}], "numbers and booleans"),  # keys as bytes: Arrow reads w
    # dicts keyed by text and by bytes: Arrow looks every dict of a level up by the first one's key kind
    ([{b"w": 1.0}, {"w": 0.5}], [{"w": 1.0}, {"w": None}], "dicts keyed by text and dicts keyed by bytes"),
    ([{"a": 1, b"b": 2}, {"b": 3}], [{"a": 1, "b": None}, {"b": 3}], "dicts keyed by text and dicts keyed by bytes"),
    ([[{"k": {b"x": 1}}], [{"k": {"x": 2}}]], [[{"k": {"x": 1}}], [{"k": {"x": None}}]],
     "dicts keyed by text and dicts keyed by bytes"),
    # ... and every other check where the dicts are keyed by bytes (only floats were looked at)
    ([{b"t": dt.datetime(2020, 1, 1, tzinfo=_UTC)}, {b"t": dt.datetime(2020, 1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1)))}],
     [{b"t": dt.datetime(2020, 1, 1, tzinfo=_UTC)}] * 2, "date-times in several time zones"),
    ([{b"t": dt.datetime(2020, 1, 1)}, {b"t": dt.datetime(2020, 1, 1, tzinfo=_UTC)}], [{b"t": dt.datetime(2020, 1, 1)}] * 2,
     "date-times with and without a time zone"),
    ([{b"d": dt.date(2020, 1, 1)}, {b"d": dt.datetime(2020, 1, 1, 12)}], [{b"d": dt.date(2020, 1, 1)}] * 2, "dates and date-times"),
    ([{b"t": dt.time(1, tzinfo=_UTC)}], [{b"t": dt.time(1)}], "times of day with a time zone"),
    ([{b"p": [dt.timedelta(days=1), 5]}], [{b"p": [dt.timedelta(days=1), dt.timedelta(microseconds=5)]}],
     "durations and numbers"),
    ([{b"b": b"a"}, {b"b": "a"}], [{b"b": b"a"}] * 2, "bytes and text"),
    ([{b"s": {"x", "y"}}], [{b"s": ["x", "y"]}], "sets"),
    ([{b"k": [{b"f": [2.5]}, {b"f": [True]}]}], [{b"k": [{b"f": [2.5]}, {b"f": [1.0]}]}], "numbers and booleans"),
    # ... in lists of lists and of dicts, looked at with what Arrow read of them item by item
    ([[[0.5] * 6, None, [0.5] * 5 + [True]], None, [[0.25]]], [[[0.5] * 6, None, [0.5] * 5 + [1.0]], None, [[0.25]]],
     "numbers and booleans"),
    ([[[1.0, 0.0], [0.0, True]]], [[[1.0, 0.0], [0.0, 1.0]]], "numbers and booleans"),
    ([((0.5,) * 5, (0.5,) * 4 + (True,))], [((0.5,) * 5, (0.5,) * 4 + (1.0,))], "numbers and booleans"),
    ([[{"s": 0.5}, None, {"s": 0.5, "t": "x"}, {"s": False}]], [[{"s": 0.5}, None, {"s": 0.5, "t": "x"}, {"s": 0.0}]],
     "numbers and booleans"),
    ([float("nan"), [{"s": 1.0}], [{"s": True}]], [None, [{"s": 1.0}], [{"s": 1.0}]], "numbers and booleans"),
    ([[[0.5], {1.0, 2.0}]], [[[0.5], [1.0, 2.0]]], "sets"),
    ([[np.array([0.5, 1.0]), np.array([0.5, True], dtype=object)]], [[np.array([0.5, 1.0]), np.array([0.5, 1.0])]],
     "numbers and booleans"),
    # numpy booleans among integers inside lists, tuples, arrays and dicts, at any depth (Arrow read them as 1 or 0)
    ([[2, np.True_]], [[2, 1]], "integers and numpy booleans"),
    ([[None, 2, np.False_], None], [[None, 2, 0], None], "integers and numpy booleans"),
    ([(5, np.True_)], [(5, 1)], "integers and numpy booleans"),
    ([np.array([5, np.True_], dtype=object)], [np.array([5, 1])], "integers and numpy booleans"),
    ([[[2], np.array([True])]], [[[2], [1]]], "integers and numpy booleans"),
    ([[[2, np.False_]]], [[[2, 0]]], "integers and numpy booleans"),
    ([{"n": 2}, {"n": np.True_}], [{"n": 2}, {"n": 1}], "integers and numpy booleans"),
    ([{b"n": 2}, {b"n": np.True_}], [{b"n": 2}, {b"n": 1}], "integers and numpy booleans"),
    ([[{"k": [3, np.True_]}]], [[{"k": [3, 1]}]], "integers and numpy booleans"),
    ([[2] * 30 + [np.True_]], [[2] * 30 + [1]], "integers and numpy booleans"),
    # numpy half floats among integers (Arrow read them as integers, the fraction dropped), at any depth
    ([1, np.float16(2.5)], [1, 2], "integers and numpy half floats"),
    ([[np.float16(0.5), 7, None]], [[0, 7, None]], "integers and numpy half floats"),
    ([{"n": 1}, {"m": 2}, {"n": np.float16(7.5)}], [{"n": 1}, {"m": 2}, {"n": 7}], "integers and numpy half floats"),
    ([[{"s": 3}, {"s": np.float16(3.5)}]], [[{"s": 3}, {"s": 3}]], "integers and numpy half floats"),
    ([[[3, np.float16(9.5)]]], [[[3, 9]]], "integers and numpy half floats"),
    # bytes after text inside lists and structs (Arrow read them as text), where a level holds both
    ([["a", b"b"]], [["a", "b"]], "bytes and text"),
    ([("a", None, b"b")], [("a", None, "b")], "bytes and text"),
    ([{"k": ["a", b"b"], "b": b"0"}], [{"k": ["a", "b"], "b": b"0"}], "bytes and text"),
    ([[["a", b"b"]]], [[["a", "b"]]], "bytes and text"),
])
def test_an_object_column_arrow_would_read_in_another_values_type_is_refused(values: list, same_digest_as: list, holds: str) -> None:
    """pyarrow reads an object column in its first value's type without a word: a date-time among dates lost its
    time, a naive date-time among aware ones was taken as UTC, a date-time of another zone the first one's zone, 5
    among durations was 5 microseconds, text among bytes its bytes, a set the list of its iteration order, True among
    floats 1.0 (at any depth), 01:00+05:00 01:00. Each frame hashed as the other frame beside it."""
    from prov_common.errors import UnsupportedTypeError

    with pytest.raises(UnsupportedTypeError) as refused:
        hash_dataframe(pd.DataFrame({"m": pd.Series(values, dtype=object)}))
    assert f"column 'm' has dtype object holding {holds}" in refused.value.what and refused.value.fix
    hash_dataframe(pd.DataFrame({"m": pd.Series(same_digest_as, dtype=object)}))  # the frame it was taken for still hashes


def test_lists_of_half_floats_are_hashed_not_a_crash() -> None:
    """The look for booleans among floats inside lists asked Arrow which items are 0.0 or 1.0, which it cannot say of
    half floats: ArrowNotImplementedError came out of hash_dataframe for lists of numpy.float16. They are hashed."""
    half = [[np.float16(1.0), np.float16(0.5)], None, [np.float16(0.0)]]
    digest = hash_dataframe(pd.DataFrame({"m": pd.Series(half, dtype=object)})).digest
    other = hash_dataframe(pd.DataFrame({"m": pd.Series([[np.float16(1.0), np.float16(0.25)], None, [np.float16(0.0)]],
                                                          dtype=object)})).digest
    assert digest.startswith("blake3:") and digest != other


@pytest.mark.parametrize("values, digest", [
    (np.eye(4)[np.random.default_rng(3).integers(0, 4, 50)].tolist(), "94ea2bb67cb5a0595c5f3bc610ea0a5ff37bdf9553fe6e7221bc3751a5afe303"),
    ([[0.25] * 30 + [1.0] + [0.5] * 30 + [0.0]] * 3 + [None, [0.75]], "0ceb73b7824648679a5f8b0d112db4a1cbd85a521279157569ac10e3c9ca99ae"),
    ([(0.5, 1.0), None, (0.0, 0.25)], "6322d08f5895e190931ef7b370080547321bdd8f7815e8e5b74a0de3d0c6fd2e"),
    ([np.array([0.5, 1.0]), np.array([0.0, 0.25]), None], "8ac1be0f9932a6306f122a605d0d3b4287673ebefc2b7cc16523eb6745aa83d5"),
    ([{"id": 1, "w": 1.0}, {"id": 2, "w": 0.5}, None, {"id": 3, "w": 0.0}], "9c985325ee84a261e87d482afe0e0661ff45db762efbcfaba7fe73da950436c9"),
    ([[np.float16(1.0), np.float16(0.5)], None, [np.float16(0.0)]], "ebd0eb8d170e6af98fdc52d09dbae6d0d67623aea128d2267c1aa968aeef84b4"),
    ([0.5, 1.0, None, 0.0], "e40c98730474e8a7d51a15ef0cc33020f91e03b59b5889e75c59ed62af17c604"),
    ([[{"label": "a", "score": 1.0}, {"label": "b", "score": 0.25}], None, [{"label": "c", "score": 0.0}, None]],
     "1dade8c19c033839f0d31c5a3ab033434e5ce38e5482bfe953f84cbe0125d57b"),
    ([[[0.5, 1.0], None, [0.0]], None, [[0.25, 0.75]], []], "4fce516c3249b3513d9d6520494f11ef169db83601835c431b316a19a8854476"),
    ([[np.array([0.5, 1.0]), np.array([0.0, 0.25])], None, [np.array([0.75])]],
     "eeb2a0ceb2ab4e0d43f71f4e85cf9fecc08c88e8334e4f92ead2e420fd63b761"),
])
def test_floats_of_0_and_1_in_object_columns_keep_their_digests(values: list, digest: str) -> None:
    """The look for booleans among floats reads only the items Arrow read as 0.0 or 1.0; the digests of object columns
    of such floats (in lists, tuples, arrays and dicts, lists of those, half floats too) are those they had before."""
    assert hash_dataframe(pd.DataFrame({"m": pd.Series(values, dtype=object)})).digest == f"blake3:{digest}"


def test_date_times_of_several_zones_inside_lists_are_refused_with_a_fix_that_works() -> None:
    """The zones of date-times inside lists were not looked at: [[00:00 UTC, 01:00+01:00]] hashed as [[00:00 UTC] * 2].
    The fix given brings them to one zone; nulls inside (None, NaN, NaT) are no naive date-times."""
    from prov_common.errors import UnsupportedTypeError

    paris = dt.datetime(2020, 1, 1, 1, tzinfo=dateutil.tz.gettz("Europe/Paris"))
    utc = dt.datetime(2020, 1, 1, tzinfo=_UTC)
    df = pd.DataFrame({"m": pd.Series([[paris, None, float("nan"), pd.NaT], None, [utc]], dtype=object)})
    with pytest.raises(UnsupportedTypeError) as refused:
        hash_dataframe(df)
    fix = refused.value.fix
    assert fix.startswith("bring the date-times inside to one zone, e.g. for lists df['m'] = df['m'].map(lambda l: "), fix
    code = fix.split("e.g. for lists ", 1)[1].split(", or store", 1)[0]
    exec(code, {"df": df, "pd": pd})
    assert hash_dataframe(df).digest == hash_dataframe(pd.DataFrame({"m": pd.Series([[utc, None, None, None], None, [utc]], dtype=object)})).digest


def test_booleans_among_floats_inside_lists_are_refused_with_a_fix_that_works() -> None:
    """The fix given for booleans among floats inside lists makes them numbers (it said df[c].astype(float), which
    fails on a column of lists)."""
    from prov_common.errors import UnsupportedTypeError

    df = pd.DataFrame({"m": pd.Series([[0.5, False, None], None, [True]], dtype=object)})
    with pytest.raises(UnsupportedTypeError) as refused:
        hash_dataframe(df)
    fix = refused.value.fix
    assert fix.startswith("if the booleans inside stand for numbers, make them numbers, e.g. for lists "), fix
    exec(fix.split("e.g. for lists ", 1)[1].split("; else", 1)[0], {"df": df})
    expected = pd.DataFrame({"m": pd.Series([[0.5, 0.0, None], None, [1.0]], dtype=object)})
    assert hash_dataframe(df).digest == hash_dataframe(expected).digest


def test_dicts_keyed_by_text_and_by_bytes_are_refused_with_a_fix_that_works() -> None:
    """A dict keyed by text after one keyed by bytes was read as nulls ([{b"w": 1.0}, {"w": 0.5}] and the same with
    0.7 had one digest). The fix given keys every dict by text, which hashes as the dicts keyed by text."""
    from prov_common.errors import UnsupportedTypeError

    assert len({hash_dataframe(pd.DataFrame({"m": pd.Series(v, dtype=object)})).digest
                for v in ([{"w": 1.0}, {"w": 0.5}], [{"w": 1.0}, {"w": 0.7}])}) == 2
    df = pd.DataFrame({"m": pd.Series([None, {b"w": 1.0}, {}, {"w": 0.5}], dtype=object)})
    with pytest.raises(UnsupportedTypeError) as refused:
        hash_dataframe(df)
    fix = refused.value.fix
    assert refused.value.what.startswith("column 'm' has dtype object holding dicts keyed by text and dicts keyed by "
                                         "bytes"), refused.value.what
    assert fix.startswith("key every dict by text, e.g. df['m'] = df['m'].map(lambda d: "), fix
    exec(fix.split("e.g. ", 1)[1], {"df": df})
    expected = pd.DataFrame({"m": pd.Series([None, {"w": 1.0}, {}, {"w": 0.5}], dtype=object)})
    assert hash_dataframe(df).digest == hash_dataframe(expected).digest


def test_date_times_with_nanoseconds_are_refused_with_a_fix_that_keeps_them() -> None:
    """pandas.Timestamp values in an object column were read in microseconds, so 00:00:00.000000001 hashed as
    00:00:00. The fix given makes the column one of date-times, which keeps the nanoseconds."""
    from prov_common.errors import UnsupportedTypeError

    stamp = pd.Timestamp("2020-01-01 00:00:00.000000001")
    df = pd.DataFrame({"m": pd.Series([stamp, None], dtype=object)})
    with pytest.raises(UnsupportedTypeError) as refused:
        hash_dataframe(df)
    fix = refused.value.fix
    assert fix.startswith("make it a column of date-times or durations, which keeps them, e.g. df['m'] = "), fix
    exec(fix.split("e.g. ", 1)[1].split(" (", 1)[0], {"df": df, "pd": pd})
    kept = hash_dataframe(df).digest
    assert kept == hash_dataframe(pd.DataFrame({"m": pd.Series([stamp, None], dtype="datetime64[ns]")})).digest
    assert kept != hash_dataframe(pd.DataFrame({"m": pd.Series([stamp.floor("us"), None], dtype="datetime64[ns]")})).digest


def test_a_set_of_text_is_refused_where_its_digest_changed_from_one_process_to_the_next() -> None:
    """A set is read in its iteration order, which for text follows PYTHONHASHSEED: one frame, two digests."""
    code = ("import pandas as pd; from prov_common.hashing import hash_dataframe\n"
            "try: print(hash_dataframe(pd.DataFrame({'m': pd.Series([{'alpha', 'beta', 'gamma', 'delta'}], dtype=object)})).digest)\n"
            "except Exception as exc: print(type(exc).__name__, exc.fix)")
    said = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert said == {"UnsupportedTypeError make them sorted lists, e.g. df['m'] = df['m'].map(sorted)\n"}, said


def test_an_object_column_of_one_kind_with_nulls_hashes_as_its_typed_column() -> None:
    """The refusals above look at present values only: None, NaN and NaT among aware date-times are nulls. UTC spelled
    as datetime.timezone.utc, zoneinfo and pandas' own is one zone."""
    import zoneinfo

    aware = [dt.datetime(2020, 1, 1, tzinfo=_UTC), None, pd.NaT, float("nan"), dt.datetime(2020, 1, 1, tzinfo=zoneinfo.ZoneInfo("UTC")),
             pd.Timestamp("2020-01-01", tz="UTC")]
    typed = pd.Series(aware[:1] + [None] * 3 + aware[:1] * 2, dtype="datetime64[us, UTC]")
    assert hash_dataframe(pd.DataFrame({"t": pd.Series(aware, dtype=object)})).digest == hash_dataframe(pd.DataFrame({"t": typed})).digest


@pytest.mark.parametrize("label", ["\udcff", 2**60, ("a", "\udcff")])
def test_a_column_label_canonical_json_cannot_hold_is_named(label: object) -> None:
    """A label with a lone surrogate or an integer beyond 2**53 was refused as 'value cannot be written as canonical
    JSON', naming neither the column nor what to change."""
    from prov_common.errors import UnsupportedTypeError

    with pytest.raises(UnsupportedTypeError) as refused:
        hash_dataframe(pd.DataFrame([[1]], columns=pd.Index([label], dtype=object, tupleize_cols=False)))
    assert refused.value.what.startswith(f"column label {label!r} has no canonical form: ")
    assert "df.columns = [str(c) for c in df.columns]" in refused.value.fix


def test_text_utf8_cannot_hold_is_refused_naming_its_row_and_a_fix_that_works() -> None:
    """A lone surrogate (what errors='surrogateescape' keeps of an undecodable byte) was refused with the fix 'convert
    it to one type, e.g. .astype(str)', which keeps it; the refusal names the row and gives a fix that hashes."""
    from prov_common.errors import UnsupportedTypeError

    df = pd.DataFrame({"s": pd.Series(["ok", b"caf\xe9".decode("utf-8", "surrogateescape")], dtype=object, index=[7, 3])})
    with pytest.raises(UnsupportedTypeError) as refused:
        hash_dataframe(df)
    assert refused.value.what.startswith("column 's' holds text that is not valid Unicode (row 1: 'caf\\udce9')")
    fix = "df['s'] = df['s'].str.encode('utf-8', 'surrogateescape').str.decode('utf-8', 'replace')"
    assert fix in refused.value.fix
    exec(fix, {"df": df})
    assert list(df["s"]) == ["ok", "caf\ufffd"] and hash_dataframe(df).digest.startswith("blake3:")


def test_text_utf8_cannot_hold_is_named_at_its_row_after_an_empty_string() -> None:
    """An empty string before the lone surrogate was named as the row at fault ('row 0: '''), as it encodes to no bytes."""
    from prov_common.errors import UnsupportedTypeError

    with pytest.raises(UnsupportedTypeError) as refused:
        hash_dataframe(pd.DataFrame({"s": pd.Series(["", "ok", "a\udcff"], dtype=object)}))
    assert refused.value.what.startswith("column 's' holds text that is not valid Unicode (row 2: 'a\\udcff')")


def _numpy_booleans_refused(df: pd.DataFrame) -> str:
    """The fix :func:`hash_dataframe` gives as it refuses column 'c' of ``df``, which holds integers and numpy
    booleans."""
    from prov_common.errors import UnsupportedTypeError

    with pytest.raises(UnsupportedTypeError) as refused:
        hash_dataframe(df)
    assert refused.value.what == ("column 'c' has dtype object holding integers and numpy booleans (a boolean would be read "
                                  "as the number 1 or 0), which cannot be hashed."), refused.value.what
    return refused.value.fix


@pytest.mark.parametrize(("values", "meant"), [([2, np.True_], [2, 1]), ([2, None, np.False_, 7], [2, None, 0, 7])],
                         ids=["true", "false-beside-none"])
def test_numpy_booleans_among_integers_are_refused_with_a_fix_that_works(values: list, meant: list) -> None:
    """Arrow refuses Python's booleans among integers but read numpy's as 1 or 0: [2, np.True_] hashed as [2, 1]. Such
    a column is refused; the fix given makes the booleans numbers, which hashes as those numbers do."""
    df = pd.DataFrame({"c": pd.Series(values, dtype=object)})
    fix = _numpy_booleans_refused(df)
    assert fix.startswith("if the booleans stand for numbers, df['c'] = "), fix
    exec(fix.split("numbers, ", 1)[1].split(";", 1)[0], {"df": df})
    assert hash_dataframe(df).digest == hash_dataframe(pd.DataFrame({"c": pd.Series(meant, dtype="Int64")})).digest


def test_numpy_booleans_among_integers_inside_lists_are_refused_with_a_fix_that_works() -> None:
    """Inside lists a numpy boolean among integers was read as 1 or 0, so [[2, np.True_]] hashed as [[2, 1]]. It is
    refused as in the column's own values; the fix given makes the booleans numbers, which hash as those numbers do;
    numpy booleans beside integers in other fields, or alone in lists, are hashed."""
    df = pd.DataFrame({"c": pd.Series([[2, np.True_, None], None, [np.False_]], dtype=object)})
    fix = _numpy_booleans_refused(df)
    assert fix.startswith("if the booleans inside stand for numbers, make them numbers, e.g. for lists "), fix
    exec(fix.split("e.g. for lists ", 1)[1].split("; else", 1)[0], {"df": df})
    assert hash_dataframe(df).digest == hash_dataframe(pd.DataFrame({"c": pd.Series([[2, 1, None], None, [0]], dtype=object)})).digest
    apart = [{"flag": np.True_, "n": 1}, {"flag": np.False_, "n": 0}]
    assert hash_dataframe(pd.DataFrame({"c": pd.Series(apart, dtype=object)})).digest == hash_dataframe(
        pd.DataFrame({"c": pd.Series([{"flag": True, "n": 1}, {"flag": False, "n": 0}], dtype=object)})).digest
    assert hash_dataframe(pd.DataFrame({"c": pd.Series([[np.True_, np.False_]], dtype=object)})).columns[0].logical_type == "list<bool>"



@pytest.mark.parametrize(("values", "meant"), [
    ([3, np.float16(0.5), None], [3.0, 0.5, None]),
    ([[3, np.float16(0.5)], None], [[3.0, 0.5], None]),
], ids=["column", "in-lists"])
def test_numpy_half_floats_among_integers_are_refused_with_a_fix_that_works(values: list, meant: list) -> None:
    """Arrow read a numpy half float among Python integers as an integer, its fraction dropped: [3, np.float16(0.5)]
    hashed as [3, 0], in the column and inside lists and dicts. Refused; the fix given makes them floats, which hash
    as those floats do. Half floats beside integers in another field are hashed."""
    from prov_common.errors import UnsupportedTypeError

    df = pd.DataFrame({"c": pd.Series(values, dtype=object)})
    with pytest.raises(UnsupportedTypeError) as refused:
        hash_dataframe(df)
    assert refused.value.what == ("column 'c' has dtype object holding integers and numpy half floats (float16: a half float "
                                  "would be read as an integer, its fraction dropped), which cannot be hashed."), refused.value.what
    exec(refused.value.fix.split("e.g. ", 1)[1].removeprefix("for lists "), {"df": df})
    assert hash_dataframe(df).digest == hash_dataframe(pd.DataFrame({"c": pd.Series(meant, dtype=object)})).digest
    apart = pd.DataFrame({"c": pd.Series([{"h": np.float16(0.5), "n": 3}], dtype=object)})
    assert [c.logical_type for c in hash_dataframe(apart).columns] == ['struct<"h": float32, "n": int64>']


@pytest.mark.parametrize(("values", "missing_as"), [
    ([[1], decimal.Decimal("sNaN")], [[1], None]),
    ([{"a": 1}, decimal.Decimal("-sNaN")], [{"a": 1}, None]),
], ids=["beside-lists", "beside-dicts"])
def test_a_signalling_decimal_nan_is_missing_as_a_quiet_one_not_a_crash(values: list, missing_as: list) -> None:
    """pandas raises decimal.InvalidOperation when asked whether a signalling decimal NaN is missing, which came out of
    hash_dataframe for an object column holding one beside lists or dicts. It is missing, as a quiet NaN and a float
    NaN are (Arrow reads both as nulls)."""
    digest = hash_dataframe(pd.DataFrame({"m": pd.Series(values, dtype=object)})).digest
    assert digest == hash_dataframe(pd.DataFrame({"m": pd.Series(missing_as, dtype=object)})).digest


def test_a_column_of_mixed_types_holding_a_signalling_decimal_nan_is_refused_naming_its_types() -> None:
    """The refusal of mixed types leaves out the missing values to name the types: pandas raised
    decimal.InvalidOperation there on a signalling NaN."""
    from prov_common.errors import UnsupportedTypeError

    with pytest.raises(UnsupportedTypeError) as refused:
        hash_dataframe(pd.DataFrame({"m": pd.Series([decimal.Decimal("sNaN"), "x", 2], dtype=object)}))
    assert refused.value.what.startswith("column 'm' has dtype object holding values of mixed types int, str, "), refused.value.what


def test_a_decimal_infinity_is_refused_naming_its_row_with_a_fix_that_works() -> None:
    """A decimal column cannot hold Decimal('Infinity'): pyarrow's refusal said only "'str' object cannot be interpreted
    as an integer". The refusal names the column, the row and the value; the fix given (floats) hashes."""
    from prov_common.errors import UnsupportedTypeError

    df = pd.DataFrame({"m": pd.Series([decimal.Decimal("1.5"), None, decimal.Decimal("-Infinity")], dtype=object, index=[4, 2, 0])})
    with pytest.raises(UnsupportedTypeError) as refused:
        hash_dataframe(df)
    assert refused.value.what == ("column 'm' holds a decimal infinity (row 2: Decimal('-Infinity')), which a decimal column "
                                  "cannot hold."), refused.value.what
    fix = refused.value.fix
    assert fix.startswith("store the column as floats, which hold infinities, e.g. df['m'] = df['m'].astype(float) "), fix
    exec(fix.split("e.g. ", 1)[1].split(" (", 1)[0], {"df": df})
    assert hash_dataframe(df).digest == hash_dataframe(pd.DataFrame({"m": [1.5, None, -np.inf]}, index=[4, 2, 0])).digest
    with pytest.raises(UnsupportedTypeError) as refused:
        hash_dataframe(pd.DataFrame({"m": pd.Series([None, {"p": [decimal.Decimal("Infinity")]}], dtype=object)}))
    assert refused.value.what == ("column 'm' holds a decimal infinity (row 1, inside a list or dict: Decimal('Infinity')), "
                                  "which a decimal column cannot hold."), refused.value.what


@pytest.mark.parametrize(("values", "row", "value", "nested"), [
    ([decimal.Decimal("1.50"), None, decimal.Decimal("-0.00")], 2, "Decimal('-0.00')", False),
    ([decimal.Decimal("-0"), 1], 0, "Decimal('-0')", False),
    ([[decimal.Decimal("0.0")], None, [decimal.Decimal("2"), decimal.Decimal("-0.0")]], 2, "Decimal('-0.0')", True),
    ([{"p": [decimal.Decimal("0")]}, {"p": [decimal.Decimal("1"), decimal.Decimal("-0E+3")]}], 1, "Decimal('-0E+3')", True),
], ids=["column", "beside-ints", "in-lists", "in-dicts-of-lists"])
def test_a_decimal_negative_zero_is_refused_naming_its_row(values: list, row: int, value: str, nested: bool) -> None:
    """Arrow's decimal type has no sign of zero: Decimal('-0.00') was read, and hashed, as Decimal('0.00'), so the two
    columns shared a digest (where float -0.0 and 0.0 are kept apart). The refusal names the column, the row and the
    value; the fix given (zeros made positive) hashes as the zeros."""
    from prov_common.errors import UnsupportedTypeError

    df = pd.DataFrame({"m": pd.Series(values, dtype=object, index=list(range(10, 10 + len(values))))})
    with pytest.raises(UnsupportedTypeError) as refused:
        hash_dataframe(df)
    inside = ", inside a list or dict" if nested else ""
    positive = repr(eval(value, {"Decimal": decimal.Decimal}).copy_abs())
    assert refused.value.what == (f"column 'm' holds a decimal negative zero (row {row}{inside}: {value}), which a decimal "
                                  f"column cannot hold: it would be read, and hashed, as {positive}."), refused.value.what
    if not nested:
        fix = refused.value.fix
        exec(fix.split("sign does not matter, ", 1)[1].split(" (from", 1)[0], {"df": df, "Decimal": decimal.Decimal})
        zeros = [v.copy_abs() if isinstance(v, decimal.Decimal) and v.is_zero() else v for v in values]
        assert hash_dataframe(df).digest == hash_dataframe(pd.DataFrame({"m": pd.Series(zeros, dtype=object,
                                                                                         index=df.index)})).digest


def test_decimal_zeros_keep_their_digests() -> None:
    """Decimal columns without a negative zero, zeros among them, hash as they did."""
    assert hash_dataframe(pd.DataFrame({"m": pd.Series([decimal.Decimal("1.50"), None, decimal.Decimal("0.00")],
                                                       dtype=object)})).digest == \
        "blake3:01261ebbf42967a8f0809ecdd49b28d985b0dd5fb7c6651d31852af66b8ca8fb"
    assert hash_dataframe(pd.DataFrame({"m": pd.Series([None, {"p": [decimal.Decimal("0"), decimal.Decimal("2")]}],
                                                       dtype=object)})).digest == \
        "blake3:dc8ff0432cfae0ed1c307536d46a8847ec0997292e9db4c0ae56868e016cdb50"


_NUMPY_INTS = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]
_numpy_scalars = (st.tuples(st.sampled_from(_NUMPY_INTS), st.integers(0, 127)).map(lambda t: t[0](t[1]))
                  | st.tuples(st.sampled_from([np.float16, np.float32, np.float64]), st.sampled_from([0.0, 0.5, 1.0, 2.5, -3.0]))
                  .map(lambda t: t[0](t[1])) | st.sampled_from([np.True_, np.False_]))
_read_back_scalars = (st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from([0.0, 1.0, 2.5, -0.0, float("nan")])
                      | st.sampled_from(["", "a", b"", b"a"]) | _numpy_scalars
                      | st.sampled_from([decimal.Decimal(x) for x in ("0", "-0", "-0.00", "1.5", "-2", "NaN", "sNaN")]))
_read_back_values = st.recursive(_read_back_scalars, lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner)
                                 | st.dictionaries(st.sampled_from(["a", "b"]), inner, max_size=2), max_leaves=6)


def _as_given(value: object) -> object:
    """``value`` as the hash should tell it apart: each kind of scalar (bool, number, text, bytes) on its own, numbers by
    their value and sign, every null one, lists and tuples alike, a dict's missing key a null (a struct's field)."""
    if isinstance(value, (bool, np.bool_)):
        return "bool", bool(value)
    if isinstance(value, (int, np.integer)):
        value = decimal.Decimal(int(value))
    elif isinstance(value, (float, np.floating)):
        value = decimal.Decimal(float(value))
    if value is None or (isinstance(value, decimal.Decimal) and value.is_nan()):
        return None
    if isinstance(value, decimal.Decimal):
        return "number", value, value.is_signed()
    if isinstance(value, (str, bytes)):
        return type(value).__name__, value
    if isinstance(value, dict):
        return "dict", {k: v for k, v in ((k, _as_given(v)) for k, v in value.items()) if v is not None}
    return "list", [_as_given(v) for v in value]


@settings(max_examples=int(200 * SCALE), **FUZZ)
@given(st.lists(_read_back_values, min_size=1, max_size=4))
@example([[2, np.True_]])
@example([1, np.float16(0.5)])
@example([{"k": ["a", b"b"]}])
@example([[1], decimal.Decimal("sNaN")])
@example([decimal.Decimal("-0.00")])
@example([[decimal.Decimal("1"), decimal.Decimal("-0")]])
def test_an_object_column_is_hashed_as_arrow_reads_it_back_or_refused(values: list) -> None:
    """An object column of mixed Python values (numpy scalars of every width, decimals, text and bytes, at any depth in
    lists, tuples and dicts) is hashed as Arrow reads it: what Arrow reads back must be the values given, or the column
    refused. Arrow read [[2, np.True_]] as [[2, 1]], [1, np.float16(0.5)] as [1, 0] and [["a", b"b"]] as [["a", "b"]]."""
    column = pd.Series(values, dtype=object)
    try:
        hash_dataframe(pd.DataFrame({"m": column}))
    except BadInputError:
        return
    import pyarrow

    assert [_as_given(v) for v in pyarrow.array(column, from_pandas=True).to_pylist()] == [_as_given(v) for v in values]
