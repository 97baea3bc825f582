"""Pandera schema of the cleaned training table: what a batch must satisfy to train on."""
from __future__ import annotations

import pandera.pandas as pa

FEATURES = [
    "mean radius", "mean texture", "mean perimeter", "mean area", "mean smoothness",
    "mean compactness", "mean concavity", "mean concave points", "mean symmetry",
    "mean fractal dimension", "radius error", "texture error", "perimeter error", "area error",
    "smoothness error", "compactness error", "concavity error", "concave points error",
    "symmetry error", "fractal dimension error", "worst radius", "worst texture",
    "worst perimeter", "worst area", "worst smoothness", "worst compactness", "worst concavity",
    "worst concave points", "worst symmetry", "worst fractal dimension",
]  # fmt: skip



def column_name(feature: str) -> str:
    """The cleaned (snake_case) name of a raw feature column."""
    return feature.replace(" ", "_")


CLEAN_FEATURES = [column_name(name) for name in FEATURES]

CLEAN_SCHEMA = pa.DataFrameSchema(
    {
        **{name: pa.Column(float, pa.Check.ge(0.0), nullable=False) for name in CLEAN_FEATURES},
        "mean_radius": pa.Column(float, pa.Check.in_range(1.0, 50.0), nullable=False),
        "mean_area": pa.Column(float, pa.Check.in_range(10.0, 5000.0), nullable=False),
        "target": pa.Column(int, pa.Check.isin([0, 1]), nullable=False),
    },
    checks=[pa.Check(lambda df: ~df.duplicated(), name="no_duplicate_rows")],
    strict=True,
    name="breast_cancer_clean",
)
