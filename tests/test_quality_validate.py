"""Pandera validation: every failure collected, counts per check, bounded and masked samples, schema digests."""
from __future__ import annotations

import sys

import pandas as pd
import pandera.pandas as pa
import pytest
from pandera.typing import Series

from prov_common.errors import BadInputError
from prov_common.quality import MASK, QualityResult, describe_schema, load_schema, schema_digest, validate


def people_schema(**overrides) -> pa.DataFrameSchema:
    columns = {
        "age": pa.Column(int, pa.Check.in_range(0, 120), metadata={"personal": False}),
        "email": pa.Column(str, pa.Check.str_matches(r"^[^@]+@[^@]+$"), nullable=overrides.pop("email_nullable", False)),
        "score": pa.Column(float, pa.Check.ge(0.0), nullable=True, metadata={"personal": False}),
    }
    return pa.DataFrameSchema(columns, name="People", **overrides)


class Training(pa.DataFrameModel):
    label: Series[int] = pa.Field(isin=[0, 1])
    text: Series[str] = pa.Field(str_length={"min_value": 1})
    weight: Series[float] = pa.Field(gt=0, unique=True)

    @pa.dataframe_check
    def weight_below_ten(cls, df: pd.DataFrame) -> pd.Series:
        return df["weight"] < 10


GOOD_PEOPLE = pd.DataFrame({"age": [30, 41], "email": ["a@x.org", "b@y.org"], "score": [0.5, None]})
BAD_PEOPLE = pd.DataFrame(
    {"age": [30, -1, 200, 7], "email": ["a@x.org", "secret-no-at", None, "d@x.org"], "score": [0.1, -2.0, None, -3.0]}
)


def outcome(result: QualityResult, column: str | None, name: str):
    [found] = [c for c in result.checks if c.column == column and c.name == name]
    return found


def test_schema_pass_lists_every_check_as_passed() -> None:
    result = validate(GOOD_PEOPLE, people_schema())
    assert result.passed and result.failure_count == 0 and result.failure_sample.empty
    assert result.schema_name == "People" and result.rows == 2
    names = {(c.column, c.name) for c in result.checks}
    assert ("age", "in_range(0, 120)") in names and ("email", "not_nullable") in names
    assert all(c.passed and c.status == "pass" and c.failure_count == 0 for c in result.checks)
    assert result.null_counts == {"age": 0, "email": 0, "score": 1}


def test_schema_fail_collects_every_failure_with_counts() -> None:
    result = validate(BAD_PEOPLE, people_schema())
    assert not result.passed
    assert outcome(result, "age", "in_range(0, 120)").failure_count == 2
    assert outcome(result, "email", "not_nullable").failure_count == 1
    assert outcome(result, "email", "str_matches('^[^@]+@[^@]+$')").failure_count == 1
    assert outcome(result, "score", "greater_than_or_equal_to(0.0)").failure_count == 2
    assert outcome(result, "score", "dtype('float64')").passed
    assert result.failure_count == 6 == sum(c.failure_count for c in result.checks)
    assert {c.status for c in result.failed_checks} == {"fail"}


def test_model_class_fail_counts_and_table_level_check() -> None:
    df = pd.DataFrame({"label": [0, 1, 2, 1], "text": ["a", "", "c", "d"], "weight": [1.0, 1.0, 12.0, 3.0]})
    result = validate(df, Training)
    assert result.schema_name == "Training" and not result.passed
    assert outcome(result, "label", "isin([0, 1])").failure_count == 1
    assert outcome(result, "text", "str_length(1, None)").failure_count == 1
    assert outcome(result, "weight", "field_uniqueness").failure_count == 2
    assert outcome(result, None, "weight_below_ten").failure_count == 1
    assert validate(df.iloc[[0, 3]], Training).passed


def test_missing_and_extra_columns_are_named_and_dependent_checks_skipped() -> None:
    df = pd.DataFrame({"label": [0], "weight": [1.0], "extra": [1]})
    result = validate(df, pa.DataFrameSchema(Training.to_schema().columns, strict=True, name="Training"))
    missing = outcome(result, "text", "column_in_dataframe")
    assert not missing.passed and missing.failure_count == 1
    assert outcome(result, "extra", "column_in_schema").failure_count == 1
    skipped = [c for c in result.checks if c.column == "text" and c.name != "column_in_dataframe"]
    assert skipped and all(c.status == "skip" and not c.passed for c in skipped)


def test_failure_sample_is_bounded_spread_over_checks_and_all_text() -> None:
    df = pd.DataFrame({"age": list(range(-500, 0)), "email": ["x@y.z"] * 500, "score": [-1.0] * 500})
    result = validate(df, people_schema(), sample_rows=10)
    assert result.failure_count == 1000
    assert len(result.failure_sample) == 10
    assert set(result.failure_sample["column"]) == {"age", "score"}  # round robin: both checks represented
    assert list(result.failure_sample.columns) == ["schema_context", "column", "check", "check_number", "failure_case", "index",
                                                   "failure_case_digest"]
    assert str(result.failure_sample["failure_case"].dtype) == "string"
    assert len(validate(df, people_schema(), sample_rows=0).failure_sample) == 0


def test_masked_columns_never_show_values() -> None:
    result = validate(BAD_PEOPLE, people_schema(), masked_columns=["email"])
    sample = result.failure_sample
    email_rows = sample[sample["column"] == "email"]
    assert len(email_rows) == 2 and set(email_rows["failure_case"].dropna()) == {MASK}
    assert "secret-no-at" not in sample.to_csv()
    assert "-2.0" in set(sample["failure_case"])  # other columns keep their values
    assert validate(BAD_PEOPLE, people_schema(), masked_columns="email").failure_sample.equals(sample)
    assert "secret-no-at" not in validate(BAD_PEOPLE, people_schema()).failure_sample.to_csv()  # private by default
    unmasked = validate(BAD_PEOPLE, people_schema(), raw_samples=True).failure_sample  # opted in
    assert "secret-no-at" in set(unmasked["failure_case"])


def test_table_level_check_values_masked_when_column_masked() -> None:
    df = pd.DataFrame({"label": [0], "text": ["a"], "weight": [99.0]})
    result = validate(df, Training, masked_columns=["weight"])
    assert "99.0" not in result.failure_sample.to_csv()
    assert "99.0" in validate(df, Training, raw_samples=True).failure_sample.to_csv()
    assert "99.0" in validate(df, Training, public_columns=["weight"]).failure_sample.to_csv()


def test_to_dict_has_no_sample_and_facet_keys() -> None:
    data = validate(BAD_PEOPLE, people_schema()).to_dict()
    assert set(data) == {"schemaName", "schemaDigest", "passed", "failureCount", "rows", "checks"}
    assert data["failureCount"] == 6 and data["passed"] is False
    assert {"name", "column", "passed", "failureCount", "status"} == set(data["checks"][0])


def test_schema_digest_is_stable_and_sensitive() -> None:
    digest = schema_digest(people_schema())
    assert digest.startswith("blake3:") and len(digest) == 7 + 64
    assert digest == schema_digest(people_schema())  # same definition, same digest
    assert digest != schema_digest(people_schema(email_nullable=True))
    assert digest != schema_digest(people_schema(strict=True))
    changed = people_schema()
    changed.columns["age"] = pa.Column(int, pa.Check.in_range(0, 121), name="age")
    assert digest != schema_digest(changed)
    assert validate(GOOD_PEOPLE, people_schema()).schema_digest == digest


def test_schema_digest_covers_custom_check_code() -> None:
    def above_zero(s: pd.Series) -> pd.Series:
        return s > 0

    def above_one(s: pd.Series) -> pd.Series:
        return s > 1

    def make(fn) -> pa.DataFrameSchema:
        return pa.DataFrameSchema({"x": pa.Column(int, pa.Check(fn, name="positive"))})

    described = describe_schema(make(above_zero))["columns"][0]["checks"][0]
    assert described["name"] == "positive" and "s > 0" in described["code"]
    assert schema_digest(make(above_zero)) != schema_digest(make(above_one))
    parsed = pa.DataFrameSchema({"x": pa.Column(int, parsers=[pa.Parser(above_zero, name="p")])})
    assert schema_digest(parsed) != schema_digest(pa.DataFrameSchema({"x": pa.Column(int)}))
    assert schema_digest(Training) == schema_digest(Training.to_schema())


def test_load_schema_import_path(tmp_path, monkeypatch) -> None:
    (tmp_path / "my_schemas.py").write_text(
        "import pandera.pandas as pa\nfrom pandera.typing import Series\n"
        "class Rows(pa.DataFrameModel):\n    x: Series[int] = pa.Field(ge=0)\n"
        "ROWS = pa.DataFrameSchema({'x': pa.Column(int)}, name='ROWS')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert load_schema("my_schemas:Rows").name == "Rows"
    assert load_schema("my_schemas.ROWS").name == "ROWS"
    assert not validate(pd.DataFrame({"x": [-1]}), "my_schemas:Rows").passed
    with pytest.raises(BadInputError, match="no attribute 'Nope'.*Rows"):
        load_schema("my_schemas:Nope")
    with pytest.raises(BadInputError, match="cannot import module 'no_such_mod_tdprov'"):
        load_schema("no_such_mod_tdprov:Rows")
    with pytest.raises(BadInputError, match="pkg.module:SchemaName"):
        load_schema("justaname")
    sys.modules.pop("my_schemas", None)


def test_bad_inputs_get_clear_errors() -> None:
    with pytest.raises(BadInputError, match="needs a pandas DataFrame, got builtins.list"):
        validate([1, 2], people_schema())
    with pytest.raises(BadInputError, match="expected a Pandera DataFrameSchema or DataFrameModel class, got dict"):
        validate(GOOD_PEOPLE, {"age": int})
    with pytest.raises(BadInputError, match="sample_rows"):
        validate(GOOD_PEOPLE, people_schema(), sample_rows=-1)


def test_regex_columns_report_each_matching_column() -> None:
    schema = pa.DataFrameSchema({"num_.+": pa.Column(int, pa.Check.ge(0), regex=True)}, name="Nums")
    result = validate(pd.DataFrame({"num_a": [1, -1], "num_b": [2, 3], "x": [0, 0]}), schema)
    assert outcome(result, "num_a", "greater_than_or_equal_to(0)").failure_count == 1
    assert outcome(result, "num_b", "greater_than_or_equal_to(0)").passed
    none = validate(pd.DataFrame({"x": [1]}), schema)
    assert outcome(none, "num_.+", "no_regex_column_match('num_.+')").status == "fail"
    assert outcome(none, "num_.+", "greater_than_or_equal_to(0)").status == "skip"


def test_checks_pandera_names_alike_on_one_column_are_told_apart_by_number() -> None:
    """Two unnamed checks of one column (both '<lambda>' to Pandera) were one outcome, the failing one, and the passing
    one was never listed; so were two of the table. Each is named by its number among its column's (or the table's)
    checks, Pandera's check_number; a check named apart from the others keeps its name."""
    schema = pa.DataFrameSchema(
        {"x": pa.Column(int, checks=[pa.Check(lambda s: s > 0), pa.Check(lambda s: s < 100), pa.Check.gt(0)]),
         "y": pa.Column(int, pa.Check(lambda s: s > 0))},
        checks=[pa.Check(lambda d: d.x > 0), pa.Check(lambda d: d.x < 100)], name="Bounds")
    result = validate(pd.DataFrame({"x": [1, 500], "y": [1, 1]}), schema)
    assert [(c.column, c.name, c.status, c.failure_count) for c in result.checks] == [
        ("x", "dtype('int64')", "pass", 0), ("x", "not_nullable", "pass", 0),
        ("x", "<lambda>#0", "pass", 0), ("x", "<lambda>#1", "fail", 1), ("x", "greater_than(0)", "pass", 0),
        ("y", "dtype('int64')", "pass", 0), ("y", "not_nullable", "pass", 0), ("y", "<lambda>", "pass", 0),
        (None, "<lambda>#0", "pass", 0), (None, "<lambda>#1", "fail", 1)]
    assert result.failure_count == 2
    both = validate(pd.DataFrame({"x": [-1], "y": [1]}), pa.DataFrameSchema(  # one row failing both table checks
        {"x": pa.Column(int)}, checks=[pa.Check(lambda d: d.x > 0), pa.Check(lambda d: d.x > 5)]))
    assert [(c.name, c.failure_count) for c in both.checks if c.column is None] == [("<lambda>#0", 1), ("<lambda>#1", 1)]


class RejectingParser(pa.DataFrameModel):
    """A parser that rejects the data with a SchemaError, which Pandera raises as it is even when validating lazily."""
    age: int

    @pa.dataframe_parser
    def adults_only(cls, df: pd.DataFrame) -> pd.DataFrame:
        if (df["age"] < 18).any():
            raise pa.errors.SchemaError(None, df, "minors in the table")
        return df

    @pa.dataframe_parser
    def nested(cls, df: pd.DataFrame) -> pd.DataFrame:
        return pa.DataFrameSchema({"age": pa.Column(int, pa.Check.le(120))}).validate(df)  # not lazy: one SchemaError


def test_a_parser_that_raises_schema_error_fails_the_validation_and_no_check_ran() -> None:
    """A SchemaError a parser raises rejects the data: a failed validation (the policy decides), not a schema that
    failed itself; the checks it stopped are listed as not run, never as passed."""
    minors = validate(pd.DataFrame({"age": [30, 7]}), RejectingParser, raw_samples=True)
    assert not minors.passed and minors.failure_count == 1
    assert [(c.column, c.name, c.status) for c in minors.checks] == [
        ("age", "dtype('int64')", "skip"), ("age", "not_nullable", "skip"), (None, "SchemaError", "fail")]
    assert minors.failure_sample["failure_case"].tolist() == ["minors in the table"]
    old = validate(pd.DataFrame({"age": [30, 200]}), RejectingParser, raw_samples=True)
    assert not old.passed and outcome(old, "age", "less_than_or_equal_to(120)").failure_count == 1
    assert old.failure_sample["failure_case"].tolist() == ["200"]


def test_the_failure_text_names_a_check_whose_passed_is_no_boolean_as_of_no_known_outcome() -> None:
    """The failure text of Dagster's pandera check and step and of Airflow's operator listed the checks whose ``passed``
    was falsy: a check recorded with ``"false"`` as text was read as passed and left out. It is named, after the checks
    that failed and before those that could not run."""
    from prov_common.quality.failed import failed_checks_text

    result = {"checks": [{"name": "in_range(0, 9)", "column": "y", "status": "skip", "passed": False},
                         {"name": "not_null", "column": "x", "passed": "false", "failureCount": 2},
                         {"name": "column_in_dataframe", "column": "y", "passed": False, "failureCount": 1},
                         {"name": "unique", "column": "id", "passed": True}]}
    assert failed_checks_text(result) == ("y: column_in_dataframe (1), x: not_null (no known outcome), "
                                          "y: in_range(0, 9) (not run)")
