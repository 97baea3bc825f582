"""Which runs the audit treats as model training (their inputs get EU AI Act sections)."""
from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("job", "job_type", "training"),
    [
        ("train_model", None, True),
        ("breast_cancer_training.train_model", "TASK", True),
        ("dagster://default/model", None, True),
        ("fit_ranker", None, True),
        ("breast_cancer_training.train_set", "TASK", False),
        ("breast_cancer_training.evaluate", None, False),
        ("train_test_split", None, False),
        ("features", "TRAINING", True),
        ("breast_cancer_training", "DAG", False),  # the DAG-level run: its tasks are the runs
        ("breast_cancer_training", None, True),
    ],
)
def test_which_runs_train_a_model(job: str, job_type: str | None, training: bool) -> None:
    from prov_common.audit.model import RunRecord

    record = RunRecord.from_dict({"run_id": "r", "job_namespace": "ns", "job_name": job, "state": "COMPLETE",
                                  "started_at": None, "ended_at": None, "sealed_at": "", "index_key": "", "manifest_digest": "",
                                  "job_type": job_type})
    assert record.is_training is training
