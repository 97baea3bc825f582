"""The steps of the training pipeline, as plain functions on DataFrames."""
from __future__ import annotations

import io
import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd

from example_pipelines.training.schema import CLEAN_FEATURES, FEATURES, column_name

SEED = 7
TEST_FRACTION = 0.25


def ingest(path: str | Path) -> pd.DataFrame:
    """Read the raw source CSV (scikit-learn's layout: a count line, then rows of features + label)."""
    raw = pd.read_csv(path, skiprows=1, header=None)
    raw.columns = [*FEATURES, "target"]
    return raw


def corrupt_batch(raw: pd.DataFrame) -> pd.DataFrame:
    """A realistic bad batch: a unit mix-up (areas in mm² → cm²), a sensor glitch and a re-sent row."""
    bad = raw.copy()
    bad.loc[:9, "mean area"] = bad.loc[:9, "mean area"] / 100.0
    bad.loc[10, "mean radius"] = -1.0
    return pd.concat([bad, bad.iloc[[0]]], ignore_index=True)


def clean(raw: pd.DataFrame) -> pd.DataFrame:
    """Drop incomplete rows, name columns in snake_case, fix types; the result must pass the clean schema."""
    table = raw.dropna().reset_index(drop=True).rename(columns=column_name)
    table["target"] = table["target"].astype("int64")
    return table


def engineer_features(table: pd.DataFrame) -> pd.DataFrame:
    """Standardise the features (z-scores) and add two ratios known to separate the classes."""
    features = table[CLEAN_FEATURES].astype("float64")
    out = (features - features.mean()) / features.std(ddof=0)
    out["area_to_perimeter"] = table["mean_area"] / table["mean_perimeter"]
    out["worst_to_mean_radius"] = table["worst_radius"] / table["mean_radius"]
    out["target"] = table["target"].to_numpy()
    return out


def split(features: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A reproducible train/test split (fixed seed), stratified by the label."""
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(features, test_size=TEST_FRACTION, random_state=SEED, stratify=features["target"])
    return train.reset_index(drop=True), test.reset_index(drop=True)


def train_model(train: pd.DataFrame) -> bytes:
    """Fit a logistic regression; the model is returned as the bytes of its pickle file."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=1000, random_state=SEED)
    model.fit(train.drop(columns="target"), train["target"])
    buffer = io.BytesIO()
    pickle.dump(model, buffer, protocol=5)
    return buffer.getvalue()


def evaluate(model_bytes: bytes, test: pd.DataFrame) -> pd.DataFrame:
    """Accuracy, precision, recall and ROC AUC of the model on the test split, as a one-row table."""
    from sklearn.metrics import accuracy_score, precision_score, recall_score, roc_auc_score

    model = pickle.loads(model_bytes)  # our own model file, written by train_model
    x, y = test.drop(columns="target"), test["target"]
    predicted = model.predict(x)
    return pd.DataFrame(
        {
            "accuracy": [accuracy_score(y, predicted)],
            "precision": [precision_score(y, predicted)],
            "recall": [recall_score(y, predicted)],
            "roc_auc": [roc_auc_score(y, model.predict_proba(x)[:, 1])],
            "test_rows": [len(test)],
        }
    )


def metrics_json(metrics: pd.DataFrame) -> str:
    """The evaluation as JSON, for logs."""
    return json.dumps({k: float(np.asarray(v)[0]) for k, v in metrics.items()}, sort_keys=True)
