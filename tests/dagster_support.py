"""Fixtures of the Dagster tests that run assets against a local store: the store folder (``TDPROV_STORE``) and an
ephemeral Dagster instance. Import them into a test module to use them."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterInstance


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store folder of the test's own, set as ``TDPROV_STORE``."""
    path = tmp_path / "store"
    monkeypatch.setenv("TDPROV_STORE", str(path))
    return path


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    """An ephemeral Dagster instance."""
    with DagsterInstance.ephemeral() as inst:
        yield inst


def run_failure(result: Any) -> str:
    """The text of the errors a run that did not succeed reported."""
    errors = [getattr(ev.event_specific_data, "error", None) for ev in result.all_events]
    return " ".join(error.to_string() for error in errors if error is not None)
