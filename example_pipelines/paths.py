"""Where the examples keep files that are not assets (the model file): ``$TDPROV_EXAMPLE_DATA``."""
from __future__ import annotations

import os
from pathlib import Path


def example_data_dir(orchestrator: str) -> Path:
    """A folder for ``orchestrator``'s example files (default ``./.example-data/<orchestrator>``)."""
    root = Path(os.environ.get("TDPROV_EXAMPLE_DATA") or ".example-data").absolute()
    folder = root / orchestrator
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def model_file(orchestrator: str) -> Path:
    """The trained model file of ``orchestrator``'s pipeline (an output dataset of its own)."""
    return example_data_dir(orchestrator) / "model.pkl"
