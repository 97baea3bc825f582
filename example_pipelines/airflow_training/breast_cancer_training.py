"""Breast-cancer classifier training as an Airflow 3 DAG, recorded by the tdprov plugin.

Capture needs no change to the DAG: the plugin's listener hashes every task's ``inlets`` and
``outlets`` where they live and seals a signed bundle per task run and per DAG run. On top of that
the DAG uses what a listener cannot see: the Pandera operator (clean table), ``@task.provenance``
(DataFrames passed through XCom), the bundle sensor and the audit operator.
"""
from __future__ import annotations

import pandas as pd
import pendulum
from airflow.sdk import DAG, Asset, task

from example_pipelines.paths import example_data_dir, model_file
from example_pipelines.training import steps
from example_pipelines.training.schema import CLEAN_SCHEMA
from example_pipelines.training.source import source_file
from prov_airflow.decorators.provenance import provenance_task
from prov_airflow.operators.audit import ProvenanceAuditOperator
from prov_airflow.operators.pandera import PanderaValidationOperator
from prov_airflow.sensors.bundle import LineageBundleSensor

DAG_ID = "breast_cancer_training"
START = pendulum.datetime(2026, 1, 1, tz="UTC")
DATA = example_data_dir("airflow")
SOURCE = Asset(source_file().as_uri())
RAW = Asset((DATA / "raw_cells.parquet").as_uri())
CLEAN = Asset((DATA / "clean_cells.parquet").as_uri(), extra={"tdprov": {"granularity": "row"}})  # its row set: `tdprov contains`
MODEL = Asset(model_file("airflow").as_uri())


def _path(asset: Asset) -> str:
    return asset.uri.removeprefix("file://")


with DAG(DAG_ID, start_date=START, schedule=None, catchup=False, tags=["tdprov", "example"]) as dag:

    @task(inlets=[SOURCE], outlets=[RAW])
    def ingest() -> None:
        """Read the source CSV shipped with scikit-learn; write the raw table."""
        steps.ingest(source_file()).to_parquet(_path(RAW), index=False)

    @task(inlets=[RAW], outlets=[CLEAN])
    def clean() -> None:
        """Complete, typed, snake_case rows."""
        steps.clean(pd.read_parquet(_path(RAW))).to_parquet(_path(CLEAN), index=False)

    validate_clean = PanderaValidationOperator(
        task_id="validate_clean", source=_path(CLEAN), schema=CLEAN_SCHEMA, on_failure="fail"
    )

    @provenance_task(inlets=[CLEAN])
    def features() -> pd.DataFrame:
        """Standardised features plus two ratios (handed on through XCom)."""
        return steps.engineer_features(pd.read_parquet(_path(CLEAN)))

    @provenance_task
    def train_set(table: pd.DataFrame) -> pd.DataFrame:
        """The training split (fixed seed, stratified)."""
        return steps.split(table)[0]

    @provenance_task
    def test_set(table: pd.DataFrame) -> pd.DataFrame:
        """The held-out split."""
        return steps.split(table)[1]

    @provenance_task(outlets=[MODEL], training=True)
    def train_model(train: pd.DataFrame) -> None:
        """Fit the classifier and write the model file (an outlet: hashed by its bytes)."""
        with open(_path(MODEL), "wb") as out:
            out.write(steps.train_model(train))

    @provenance_task(inlets=[MODEL])
    def evaluate(test: pd.DataFrame) -> pd.DataFrame:
        """Accuracy, precision, recall and ROC AUC on the test split."""
        with open(_path(MODEL), "rb") as handle:
            return steps.evaluate(handle.read(), test)

    bundle_sealed = LineageBundleSensor(
        task_id="bundle_sealed", job=f"{DAG_ID}.train_model", state="COMPLETE", poke_interval=1, timeout=120
    )
    audit = ProvenanceAuditOperator(task_id="audit")

    table = features()
    trained = train_model(train_set(table))
    ingest() >> clean() >> validate_clean >> table
    trained >> evaluate(test_set(table))
    trained >> bundle_sealed >> audit
