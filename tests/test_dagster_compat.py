"""The one Dagster internal prov_dagster relies on: the step context's data version setter.

If a Dagster release breaks this, these tests fail loudly: the IO manager could no longer make the
content digest the data version of assets that are not declared with ``provenance_asset``.
"""
from __future__ import annotations

import json

import pandas as pd
import pytest
from dagster import (AssetKey, AssetOut, DataVersion, IOManager, Output, OutputContext, asset, build_output_context, graph_asset,
                     materialize, multi_asset, op)

from prov_dagster import _compat


class _VersioningIOManager(IOManager):
    seen: list[tuple] = []

    def handle_output(self, context: OutputContext, obj: object) -> None:
        assert _compat.set_output_data_version(context, context.asset_key, "blake3:" + "ab" * 32)
        self.seen.append((_compat.expected_outputs(context, lambda other: other is self), _compat.run_context(context)))

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


def test_the_io_manager_records_an_output_of_a_context_built_for_a_direct_call(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A context from ``build_output_context`` holds no asset spec (nor tags): the IO manager records the table
    all the same, as a step of its own, and reads no training mark (``_compat.asset_tags`` is None)."""
    from prov_dagster import ProvenanceIOManager

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TDPROV_STORE", str(tmp_path / "store"))
    context = build_output_context(asset_key=AssetKey("x"), name="result")
    assert _compat.asset_tags(context) is None
    from prov_dagster.recorder import recorder_for

    manager = ProvenanceIOManager()
    manager.handle_output(context, pd.DataFrame({"a": [1]}))
    recorder_for(manager).wait()  # the run's bundle is sealed by the delivery thread
    [events] = (tmp_path / "store" / "bundles").glob("*/events.jsonl")
    outputs = [d for line in events.read_text().splitlines() for d in json.loads(line).get("outputs", [])]
    assert outputs and {d["name"] for d in outputs} == {str(tmp_path / "store-data" / "x.parquet")}, outputs


def test_missing_setter_raises_a_clear_compat_error(monkeypatch: pytest.MonkeyPatch) -> None:
    class _NoSetter:
        pass

    context = build_output_context(asset_key=AssetKey("x"))
    monkeypatch.setattr(context, "_step_context", _NoSetter(), raising=False)
    with pytest.raises(_compat.DagsterCompatError, match="set_data_version is gone"):
        _compat.set_output_data_version(context, AssetKey("x"), "blake3:00")
    assert DataVersion("x").value == "x"


class _GraphIOManager(IOManager):
    """Keeps values in memory; notes what prov_dagster reads of a graph asset's steps."""

    values: dict[tuple, object] = {}
    upstream: list[tuple[str, ...]] = []

    def handle_output(self, context: OutputContext, obj: object) -> None:
        self.values[tuple(context.get_identifier())] = obj
        if context.has_asset_key:
            self.upstream.append(_compat.graph_steps_upstream(context))

    def load_input(self, context: object) -> object:
        _compat.set_loaded_input_metadata(context, {"tdprov/read": {"inside_graph": _compat.inside_graph(context)}})
        return self.values.get(tuple(context.get_identifier())) if not context.has_asset_key else pd.DataFrame({"a": [1]})


@op
def _first(upstream: pd.DataFrame) -> pd.DataFrame:
    return upstream


@op
def _second(df: pd.DataFrame) -> pd.DataFrame:
    return df


@graph_asset
def two_ops(versioned_by_io_manager: pd.DataFrame) -> pd.DataFrame:
    return _second(_first(versioned_by_io_manager))


def test_a_graph_assets_steps_and_the_metadata_of_a_loaded_input() -> None:
    """The ops of a graph asset the asset depends on, and metadata on LOADED_INPUT with no asset observation."""
    result = materialize([versioned_by_io_manager, two_ops], resources={"io_manager": _GraphIOManager()},
                         selection=["two_ops"])
    assert _GraphIOManager.upstream == [("two_ops._first",)]
    loaded = {e.step_key: e.event_specific_data.metadata["tdprov/read"].value
              for e in result.all_events if e.event_type_value == "LOADED_INPUT"}
    assert loaded == {"two_ops._first": {"inside_graph": True}, "two_ops._second": {"inside_graph": True}}, (
        "Dagster no longer puts the metadata prov_dagster gives on the LOADED_INPUT event; update prov_dagster/_compat.py")
    assert not [e for e in result.all_events if e.event_type_value == "ASSET_OBSERVATION"]


@multi_asset(outs={"g1": AssetOut(), "g2": AssetOut()})
def _yields_its_outputs():  # noqa: ANN202 - a generator multi-asset
    yield Output(pd.DataFrame({"a": [1]}), output_name="g1")
    yield Output(pd.DataFrame({"a": [2]}), output_name="g2")


def test_a_returning_and_a_generator_compute_function_are_told_apart() -> None:
    """A generator step can work after its last output, so its run is ended at teardown: prov_dagster reads the
    user's function from the op's compute_fn (``decorated_fn``)."""
    assert _compat._returns(versioned_by_io_manager.op.compute_fn), (  # noqa: SLF001
        "DecoratedOpFunction.decorated_fn is gone in this Dagster release; every step's run would be ended at teardown: "
        "update prov_dagster/_compat.py")
    assert not _compat._returns(_yields_its_outputs.op.compute_fn)  # noqa: SLF001
