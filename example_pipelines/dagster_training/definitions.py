"""Breast-cancer classifier training as provenance-aware Dagster assets.

raw_cells (from the registered source) → clean_cells (Pandera, blocking, recorded at row granularity) →
features → train_set / test_set → model (a file, recorded by ``ProvenanceResource``) → evaluation. Everything goes through
``prov_dagster.definitions``: the ``ProvenanceIOManager``, the Pandera asset checks, the sensors and
the daily audit schedule.
"""

import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult, asset, define_asset_job

from example_pipelines.paths import model_file
from example_pipelines.training import steps
from example_pipelines.training.schema import CLEAN_SCHEMA
from example_pipelines.training.source import SOURCE_NAME, source_file
from prov_dagster import ProvenanceResource, definitions, provenance_asset

OWNERS = ["team:ml-platform"]
GROUP = "breast_cancer_training"


@provenance_asset(source=SOURCE_NAME, owners=OWNERS, group_name=GROUP)
def raw_cells() -> pd.DataFrame:
    """The raw measurements, read from the source CSV that ships with scikit-learn."""
    return steps.ingest(source_file())


@provenance_asset(schema=CLEAN_SCHEMA, quality_policy="block", granularity="row", owners=OWNERS, group_name=GROUP)
def clean_cells(raw_cells: pd.DataFrame) -> pd.DataFrame:
    """Complete, typed rows; a batch that breaks the clean schema stops everything downstream.

    Recorded at row granularity: ``tdprov contains clean_cells --record JSON`` answers whether a row was in
    it, with a proof."""
    return steps.clean(raw_cells)


@provenance_asset(owners=OWNERS, group_name=GROUP)
def features(clean_cells: pd.DataFrame) -> pd.DataFrame:
    """Standardised features plus two ratios."""
    return steps.engineer_features(clean_cells)


@provenance_asset(owners=OWNERS, group_name=GROUP)
def train_set(features: pd.DataFrame) -> pd.DataFrame:
    """The training split (fixed seed, stratified)."""
    return steps.split(features)[0]


@provenance_asset(owners=OWNERS, group_name=GROUP)
def test_set(features: pd.DataFrame) -> pd.DataFrame:
    """The held-out split (fixed seed, stratified)."""
    return steps.split(features)[1]


@asset(owners=OWNERS, group_name=GROUP, tags={"tdprov/training": "true"})
def model(context: AssetExecutionContext, provenance: ProvenanceResource, train_set: pd.DataFrame) -> MaterializeResult:
    """The trained classifier, a pickle file recorded as an output dataset with its byte digest."""
    path = model_file("dagster")
    path.write_bytes(steps.train_model(train_set))
    recorded = provenance.record(outputs={"model": str(path)}, context=context)
    return MaterializeResult(data_version=recorded.data_version, metadata=recorded.metadata)


@asset(deps=[model], owners=OWNERS, group_name=GROUP)
def evaluation(context: AssetExecutionContext, provenance: ProvenanceResource, test_set: pd.DataFrame) -> MaterializeResult:
    """Accuracy, precision, recall and ROC AUC of the model on the test split."""
    path = model_file("dagster")
    metrics = steps.evaluate(path.read_bytes(), test_set)
    context.log.info("evaluation: %s", steps.metrics_json(metrics))
    recorded = provenance.record(inputs={"model": str(path)}, outputs={"evaluation": metrics}, context=context)
    return MaterializeResult(data_version=recorded.data_version, metadata=recorded.metadata)


ASSETS = [raw_cells, clean_cells, features, train_set, test_set, model, evaluation]
training_job = define_asset_job("breast_cancer_training", selection=ASSETS)

defs = definitions(ASSETS, jobs=[training_job])
