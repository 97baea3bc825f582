"""The example training pipeline as Dagster assets (``dagster dev -m example_pipelines.dagster_training``)."""
from example_pipelines.dagster_training.definitions import defs

__all__ = ["defs"]
