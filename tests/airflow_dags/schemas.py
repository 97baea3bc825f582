"""Pandera schemas the Airflow tests refer to by import path."""
from __future__ import annotations

import pandera.pandas as pa

FEATURES = pa.DataFrameSchema(
    {
        "id": pa.Column(int, pa.Check.ge(0), unique=True),
        "x": pa.Column(float, pa.Check.in_range(0.0, 10.0)),
    },
    name="features",
)

RAW = pa.DataFrameSchema({"x": pa.Column(int, pa.Check.ge(0))}, name="raw")
RAW_SMALL = pa.DataFrameSchema({"x": pa.Column(int, pa.Check.le(1))}, name="raw_small")  # raw.csv's 2 and 3 fail it

EVENTS = pa.DataFrameSchema(
    {
        "user_id": pa.Column(str, pa.Check.str_length(3, 3)),
        "score": pa.Column(float, nullable=True),
    },
    name="events",
)
