"""A Dagster step whose store refuses writes: its bundle is spooled, and the materialization says so next to the
``tdprov/bundle`` link (which points at nothing until the spool is delivered) and what delivers it; so does the
``dagster.Failure`` of an output refused under the ``fail`` quality policy, whichever path refused it.

A real ``materialize`` against an S3 store on moto behind the fault proxy that answers every PUT with 503.
"""
import logging
import time
from pathlib import Path

import pytest

from prov_common.bundle import layout
from prov_common.cli import main
from prov_common.store import Outbox, open_store
from test_reliability_proxy import FaultProxy, fault_proxy  # noqa: F401 - fixtures


def _wait_for_spool(spool: Path) -> None:
    deadline = time.monotonic() + 20
    while not Outbox(spool).pending():
        assert time.monotonic() < deadline, "nothing was spooled"
        time.sleep(0.05)


def _metadata(result, key: str) -> dict:
    return next(e.materialization.metadata for e in result.get_asset_materialization_events()
                if e.materialization.asset_key.path[-1] == key)


def test_spooled_bundle_says_it_waits_for_delivery_then_flush_delivers_it(s3_server, fault_proxy: FaultProxy,  # noqa: F811
                                                                          tmp_path: Path, monkeypatch, capsys, caplog) -> None:
    import pandas as pd
    from dagster import DagsterInstance, asset, materialize

    from prov_dagster import ProvenanceIOManager

    caplog.set_level(logging.DEBUG, logger="prov_common.store.identity")
    store_uri = f"s3://{s3_server.create_bucket()}/p"
    spool = tmp_path / "spool"
    monkeypatch.setenv("TDPROV_SPOOL", str(spool))

    @asset
    def a():
        return pd.DataFrame({"x": [1, 2, 3]})

    @asset
    def b(a):
        _wait_for_spool(spool)  # a's records were refused and spooled before b is written
        return a * 2

    io_manager = ProvenanceIOManager(store=store_uri, data_root=str(tmp_path / "data"))
    fault_proxy.fault = lambda method, path: ("status", 503, "SlowDown") if method == "PUT" else None
    with DagsterInstance.ephemeral() as instance:
        result = materialize([a, b], instance=instance, resources={"io_manager": io_manager})
        assert result.success  # the pipeline runs on
        unknown = [r for r in caplog.records if "cannot read or create the identity" in r.getMessage()]
        assert [r.levelname for r in unknown][:1] == ["WARNING"] and len(unknown) >= 2  # each step asked: warned once
        assert [r.levelname for r in unknown][1:] == ["DEBUG"] * (len(unknown) - 1)
        meta = _metadata(result, "b")
        link = str(meta["tdprov/bundle"].value)
        note = meta["tdprov/spooled"].value
        assert str(spool) in note and "tdprov flush" in note and "not at the link yet" in note
        run_id = link.rstrip("/").rsplit("/", 1)[1]
        statement = layout.bundle_key(run_id, layout.STATEMENT_FILE)
        store = open_store(store_uri)
        assert not store.exists(statement)  # the link points at nothing yet, as the note says

        fault_proxy.fault = None
        assert main(["flush"]) == 0
        capsys.readouterr()
        assert store.exists(statement) and not Outbox(spool).pending()

        again = materialize([a], instance=instance, resources={"io_manager": io_manager})
        assert "tdprov/spooled" not in _metadata(again, "a") and "tdprov/bundle" in _metadata(again, "a")


def _slow_bundles(method: str, path: str) -> tuple | None:
    """The events are staged; a bundle's PUT is answered 503 after a pause, so the FAIL event's delivery (staged, then
    sealed) is still under way when the step fails, and ends with the bundle spooled."""
    if method != "PUT" or "/bundles/" not in path:
        return None
    time.sleep(0.5)
    return ("status", 503, "SlowDown")


@pytest.mark.parametrize("path", ["io_manager", "record"])
def test_refused_output_failure_says_its_fail_bundle_is_spooled(s3_server, fault_proxy: FaultProxy,  # noqa: F811
                                                                tmp_path: Path, monkeypatch, path: str) -> None:
    """The ``fail`` policy refuses an output while the store answers slowly with 503: the step's ``Failure`` is raised
    once the FAIL event was delivered (here: spooled), so its metadata says where the record is."""
    import pandas as pd
    import pandera.pandas as pa
    from dagster import DagsterInstance, asset, materialize

    from prov_dagster import ProvenanceIOManager, ProvenanceResource, provenance_asset

    store_uri = f"s3://{s3_server.create_bucket()}/p"
    spool = tmp_path / "spool"
    monkeypatch.setenv("TDPROV_SPOOL", str(spool))
    schema = pa.DataFrameSchema({"x": pa.Column(int, pa.Check.ge(0))}, name="Positive")
    bad = pd.DataFrame({"x": [1, -2, 3]})
    written = tmp_path / "scores.csv"

    if path == "io_manager":
        @provenance_asset(schema=schema, quality_policy="fail", name="scores")
        def scores() -> pd.DataFrame:
            return bad
    else:
        @asset(name="scores", metadata={"pandera_schema": schema, "tdprov/quality_policy": "fail"})
        def scores(context, provenance: ProvenanceResource) -> None:
            bad.to_csv(written, index=False)
            provenance.record(outputs={"scores": str(written)}, context=context)

    resources = {"io_manager": ProvenanceIOManager(store=store_uri, data_root=str(tmp_path / "data")),
                 "provenance": ProvenanceResource(store=store_uri, data_root=str(tmp_path / "data"))}
    fault_proxy.fault = _slow_bundles
    with DagsterInstance.ephemeral() as instance:
        result = materialize([scores], instance=instance, resources=resources, raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    shown = failure.step_failure_data.user_failure_data
    assert "failed Pandera schema 'Positive'" in shown.description
    note = shown.metadata["tdprov/spooled"].value
    assert str(spool) in note and "tdprov flush" in note and "tdprov/bundle" in shown.metadata
    assert Outbox(spool).pending()
