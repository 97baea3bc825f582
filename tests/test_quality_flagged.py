"""Columns a schema flags as personal or confidential never show their values in failure samples."""
from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from prov_common.quality import validate

SECRET = "jane.doe@example.com"


def _schema(flag: str | None) -> pa.DataFrameSchema:
    meta = {flag: True} if flag else None
    return pa.DataFrameSchema(
        {"email": pa.Column(str, pa.Check.str_matches(r"^[a-z]+$"), metadata=meta), "age": pa.Column(int, pa.Check.ge(0), metadata={"personal": False})},
        name="people",
    )


def test_flagged_column_values_are_masked() -> None:
    frame = pd.DataFrame({"email": [SECRET, "ok"], "age": [-1, 3]})
    for flag in ("personal", "confidential"):
        sample = validate(frame, _schema(flag)).failure_sample
        assert SECRET not in sample.to_csv(), flag
        assert "***" in sample.to_csv()
        assert "-1" in sample.to_csv(), "values of unflagged columns stay visible"


def test_unflagged_column_values_are_masked_unless_declared_public() -> None:
    frame = pd.DataFrame({"email": [SECRET], "age": [1]})
    assert SECRET not in validate(frame, _schema(None)).failure_sample.to_csv()  # private by default
    assert SECRET in validate(frame, _schema(None), public_columns=["email"]).failure_sample.to_csv()
    assert SECRET in validate(frame, _schema(None), raw_samples=True).failure_sample.to_csv()
