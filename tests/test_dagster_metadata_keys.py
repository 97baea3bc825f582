"""``tdprov/*`` asset metadata keys: a misspelt key is named (real ``materialize``); ``tdprov/granularity`` is read
as ``granularity``."""
from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest
from dagster import DagsterInstance, asset, materialize

from prov_common.bundle import list_bundles, read_bundle
from prov_common.store import open_store
from prov_dagster import ProvenanceIOManager

from dagster_support import delivered


def _materialize(tmp_path: Path, metadata: dict[str, object]) -> list:
    @asset(metadata=metadata)
    def people() -> pd.DataFrame:
        return pd.DataFrame({"id": [1, 2], "x": [0.5, 1.5]})

    store = tmp_path / "store"
    io_manager = ProvenanceIOManager(store=str(store), data_root=str(tmp_path / "data"))
    with DagsterInstance.ephemeral() as instance:
        assert materialize([people], instance=instance, resources={"io_manager": io_manager}).success
    delivered(store)
    return [read_bundle(open_store(str(store)), s.run_id) for s in list_bundles(open_store(str(store)))]


def test_a_misspelt_metadata_key_is_named(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        _materialize(tmp_path, {"tdprov/quality_polcy": "record", "owner_note": "not ours"})
    assert "unknown key 'tdprov/quality_polcy' in the metadata of asset 'people' (did you mean 'tdprov/quality_policy'?)" \
        in caplog.text
    assert "owner_note" not in caplog.text  # keys outside tdprov/ are the user's


@pytest.mark.parametrize("key", ["granularity", "tdprov/granularity"])
def test_granularity_is_read_with_or_without_the_prefix(tmp_path: Path, key: str) -> None:
    [bundle] = _materialize(tmp_path, {key: "row"})
    assert any("rows" in name for name in bundle.files), sorted(bundle.files)
