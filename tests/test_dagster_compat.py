"""The one Dagster internal prov_dagster relies on: the step context's data version setter.

If a Dagster release breaks this, these tests fail loudly: the IO manager could no longer make the
content digest the data version of assets that are not declared with ``provenance_asset``.
"""
from __future__ import annotations

import pandas as pd
import pytest
from dagster import AssetKey, DataVersion, IOManager, OutputContext, asset, build_output_context, materialize

from prov_dagster import _compat


class _VersioningIOManager(IOManager):
    seen: list[tuple] = []

    def handle_output(self, context: OutputContext, obj: object) -> None:
        assert _compat.set_output_data_version(context, context.asset_key, "blake3:" + "ab" * 32)
        self.seen.append((_compat.expected_outputs(context), _compat.run_context(context)))

    def load_input(self, context: object) -> object:
        return None


@asset
def versioned_by_io_manager() -> pd.DataFrame:
    return pd.DataFrame({"a": [1]})


def test_set_data_version_inside_handle_output_becomes_the_materialization_data_version() -> None:
    result = materialize([versioned_by_io_manager], resources={"io_manager": _VersioningIOManager()})
    [mat] = [e.materialization for e in result.get_asset_materialization_events()]
    assert mat.tags["dagster/data_version"] == "blake3:" + "ab" * 32, (
        "Dagster no longer takes the data version set on the step context inside handle_output; "
        "update prov_dagster/_compat.py for this Dagster release"
    )
    assert mat.tags.get("dagster/data_version_is_user_provided") == "true"
    [(expected, (run_id, job_name, step_key, attempt))] = _VersioningIOManager.seen
    assert expected == ("result",) and run_id == result.run_id
    assert (job_name, step_key, attempt) == ("__ephemeral_asset_job__", "versioned_by_io_manager", 0)


def test_set_data_version_outside_a_run_reports_false_instead_of_failing() -> None:
    context = build_output_context(asset_key=AssetKey("x"))
    assert _compat.set_output_data_version(context, AssetKey("x"), "blake3:00") is False
    assert _compat.run_context(context) is None


def test_missing_setter_raises_a_clear_compat_error(monkeypatch: pytest.MonkeyPatch) -> None:
    class _NoSetter:
        pass

    context = build_output_context(asset_key=AssetKey("x"))
    monkeypatch.setattr(context, "_step_context", _NoSetter(), raising=False)
    with pytest.raises(_compat.DagsterCompatError, match="set_data_version is gone"):
        _compat.set_output_data_version(context, AssetKey("x"), "blake3:00")
    assert DataVersion("x").value == "x"
