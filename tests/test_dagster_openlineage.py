"""Dagster runs' OpenLineage events forwarded to backends configured the standard openlineage-python way
(``OPENLINEAGE_URL``, ``OPENLINEAGE_CONFIG`` with a composite transport), received by a real HTTP server."""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import materialize

import test_dagster_defs as pipeline
from conftest import free_port
from ol_receiver import Receiver
from prov_common.bundle import list_bundles, read_bundle
from prov_common.bundle.events import parse_events_jsonl
from prov_common.store import open_store
from prov_dagster import ProvenanceIOManager

from dagster_support import delivered

STEPS = {"raw__orders", "clean__orders_clean", "features"}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def _drop_aliased_transports() -> None:
    """openlineage-python copies ``OPENLINEAGE_URL`` into ``OPENLINEAGE__TRANSPORT__TRANSPORTS__DEFAULT_HTTP__*``
    variables of the process when a client reads its configuration; left behind, they would add the
    previous test's receiver to the next test's transports."""
    for name in [n for n in os.environ if n.startswith("OPENLINEAGE__")]:
        del os.environ[name]


@pytest.fixture(autouse=True)
def _no_user_openlineage_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Only what a test sets: no OpenLineage variables or openlineage.yml from the machine."""
    for name in ("OPENLINEAGE_URL", "OPENLINEAGE_CONFIG", "OPENLINEAGE_DISABLED", "OPENLINEAGE_API_KEY", "OPENLINEAGE_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    _drop_aliased_transports()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    yield
    _drop_aliased_transports()


def _materialize(store: str) -> dict[str, str]:
    """The chain materialized through the IO manager; the digest each asset's materialization shows, by step."""
    result = materialize(pipeline.CHAIN, resources={"io_manager": ProvenanceIOManager(store=store)})
    assert result.success
    return {e.materialization.asset_key.to_python_identifier(): e.materialization.metadata["tdprov/digest"].value
            for e in result.get_asset_materialization_events()}


def _bundle_events(store: str) -> dict[str, list[dict]]:
    found = {}
    delivered(store)
    for summary in list_bundles(open_store(store)):
        found[summary.job_name] = parse_events_jsonl(read_bundle(open_store(store), summary.run_id).files["events.jsonl"])
    return found


def test_openlineage_url_receives_start_and_complete_with_versions_and_tdprov_facets(
    receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ol_validator
) -> None:
    monkeypatch.setenv("OPENLINEAGE_URL", receiver.url)
    store = str(tmp_path / "store")
    digests = _materialize(store)
    got = receiver.by_step()
    assert receiver.paths == {"/api/v1/lineage"} and len(receiver.events) == 6
    assert set(got) == {(step, state) for step in STEPS for state in ("START", "COMPLETE")}
    for event in receiver.events:
        ol_validator.validate_event(event, custom_schemas=True)  # the spec and tdprov's own facet schemas
    for step, digest in digests.items():
        [output] = got[(step, "COMPLETE")]["outputs"]
        assert output["facets"]["version"]["datasetVersion"] == digest
        assert output["facets"]["tdprov_contentHash"]["digest"] == digest
    assert got[("raw__orders", "COMPLETE")]["outputs"][0]["facets"]["tdprov_pandera"]["passed"] is True
    downstream = got[("clean__orders_clean", "START")]["inputs"]
    assert [i["facets"]["version"]["datasetVersion"] for i in downstream] == [digests["raw__orders"]]
    bundles = _bundle_events(store)  # the store has the same events: forwarding is in addition
    assert set(bundles) == STEPS
    for step, events in bundles.items():
        assert [e["run"]["runId"] for e in events] == [got[(step, s)]["run"]["runId"] for s in ("START", "COMPLETE")]


def test_composite_transport_from_openlineage_config_reaches_every_backend(
    receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log_file = tmp_path / "ol-events.jsonl"
    config = tmp_path / "openlineage.yml"
    config.write_text(json.dumps({"transport": {"type": "composite", "transports": {
        "marquez": {"type": "http", "url": receiver.url},
        "file": {"type": "file", "log_file_path": str(log_file), "append": True},
    }}}))  # YAML is a superset of JSON
    monkeypatch.setenv("OPENLINEAGE_CONFIG", str(config))
    digests = _materialize(str(tmp_path / "store"))
    from_file = [json.loads(line) for line in log_file.read_text().splitlines()]
    for events in (receiver.events, from_file):
        completes = {e["job"]["name"]: e for e in events if e["eventType"] == "COMPLETE"}
        assert {step: e["outputs"][0]["facets"]["version"]["datasetVersion"] for step, e in completes.items()} == digests


def test_an_unreachable_backend_is_logged_and_the_run_and_bundles_are_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    config = tmp_path / "openlineage.yml"  # nothing listens; one quick retry instead of the default five with backoff
    config.write_text(json.dumps({"transport": {"type": "http", "url": f"http://127.0.0.1:{free_port()}",
                                                "retry": {"total": 1, "connect": 1, "backoff_factor": 0.01}}}))
    monkeypatch.setenv("OPENLINEAGE_CONFIG", str(config))
    store = str(tmp_path / "store")
    with caplog.at_level("WARNING", logger="prov_dagster.forwarding"):
        digests = _materialize(store)
    assert len(digests) == 3
    bundles = _bundle_events(store)
    assert {step: [e["eventType"] for e in events] for step, events in bundles.items()} == {s: ["START", "COMPLETE"] for s in STEPS}
    assert sum("could not forward OpenLineage event" in r.getMessage() for r in caplog.records) == 6


def test_a_backend_that_never_answers_holds_up_teardown_a_bounded_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A backend that accepts and never answers: the events reach the tdprov store first and are forwarded
    from a thread of their own; teardown waits FORWARD_WAIT, then says how many are not forwarded yet."""
    import socket
    import threading

    from prov_dagster import recorder as recorder_module

    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(server.accept()[0])  # never answered
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    config = tmp_path / "openlineage.yml"
    config.write_text(json.dumps({"transport": {"type": "http", "url": f"http://127.0.0.1:{server.getsockname()[1]}",
                                                "timeout": 1, "retry": {"total": 0}}}))  # 6 s for the 6 events, each > FORWARD_WAIT
    monkeypatch.setenv("OPENLINEAGE_CONFIG", str(config))
    monkeypatch.setattr(recorder_module, "FORWARD_WAIT", 0.2)
    store = str(tmp_path / "store")
    io_manager = ProvenanceIOManager(store=store)
    with caplog.at_level("WARNING", logger="prov_dagster"):
        assert materialize(pipeline.CHAIN, resources={"io_manager": io_manager}).success
    waited = [r.getMessage() for r in caplog.records if "not yet forwarded" in r.getMessage()]
    assert waited and "the tdprov store has them all" in waited[0]
    bundles = _bundle_events(store)
    assert {step: [e["eventType"] for e in events] for step, events in bundles.items()} == {s: ["START", "COMPLETE"] for s in STEPS}
    # the backend goes away: what is still queued fails at once and is logged, here, not in a later test
    server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(), so that close() really closes the socket
    server.close()
    for conn in held:
        conn.close()
    forwarder = recorder_module.recorder_for(io_manager).forwarder()
    assert forwarder is not None and forwarder.drain(60) == 0


def test_no_configuration_forwards_nothing_and_a_config_naming_tdprov_is_not_used_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from prov_dagster.forwarding import forwarding_client

    assert forwarding_client() is None  # no console fallback: nothing is printed or sent
    store = str(tmp_path / "store")
    config = tmp_path / "openlineage.yml"  # found in the working directory, as openlineage-python looks for it
    config.write_text(json.dumps({"transport": {"type": "composite", "transports": {
        "tdprov": {"type": "prov_common.bundle.transport.ProvenanceTransport", "store": store},
        "console": {"type": "console"},
    }}}))
    with caplog.at_level("WARNING", logger="prov_dagster.forwarding"):
        assert forwarding_client() is None
        _materialize(store)
    assert any("names tdprov's ProvenanceTransport" in r.getMessage() for r in caplog.records)
    assert {step: len(events) for step, events in _bundle_events(store).items()} == {s: 2 for s in STEPS}


def _materialize_strict(store: str, strict: bool) -> dict:
    """The chain through an IO manager in the given failure mode; each materialization's metadata, by step."""
    result = materialize(pipeline.CHAIN, resources={"io_manager": ProvenanceIOManager(store=store, strict=strict)})
    assert result.success
    return {e.materialization.asset_key.to_python_identifier(): e.materialization.metadata
            for e in result.get_asset_materialization_events()}


@pytest.mark.parametrize("strict", [False, True])
def test_openlineage_disabled_turns_forwarding_off_and_every_bundle_is_still_sealed(
    receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, strict: bool
) -> None:
    monkeypatch.setenv("OPENLINEAGE_URL", receiver.url)
    monkeypatch.setenv("OPENLINEAGE_DISABLED", "true")
    store = str(tmp_path / "store")
    metadata = _materialize_strict(store, strict)
    assert receiver.events == []  # forwarding is off
    delivered(store)
    bundles = {s.job_name: s.run_id for s in list_bundles(open_store(store))}
    assert set(bundles) == STEPS
    for step, shown in metadata.items():  # every link names a sealed bundle
        assert "tdprov/not_recorded" not in shown
        assert shown["tdprov/bundle"].value.rstrip("/").rsplit("/", 1)[-1] == bundles[step]


def test_openlineage_yml_settings_shape_only_the_forwarded_events_never_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Filters, environment-variable facets, tags and dataset reduction of the standard configuration are for
    the other backends: the tdprov store records every step exactly as tdprov built its events."""
    forwarded = tmp_path / "forwarded.jsonl"
    config = tmp_path / "openlineage.yml"
    config.write_text(json.dumps({
        "transport": {"type": "file", "log_file_path": str(forwarded), "append": True},
        "filters": [{"type": "exact", "match": "raw__orders"}],
        "facets": {"environment_variables": ["TDPROV_TEST_SECRET"]},
        "tags": {"run": {"team": "dashboards"}},
        "dataset": {"reducing_enabled": True},
    }))
    monkeypatch.setenv("OPENLINEAGE_CONFIG", str(config))
    monkeypatch.setenv("TDPROV_TEST_SECRET", "hunter2")
    store = str(tmp_path / "store")
    _materialize(store)
    sent = [json.loads(line) for line in forwarded.read_text().splitlines()]
    assert {e["job"]["name"] for e in sent} == STEPS - {"raw__orders"}  # the filter applies to forwarding
    for event in sent:
        assert "environmentVariables" in event["run"]["facets"]
        assert {t["key"] for t in event["run"]["facets"]["tags"]["tags"]} == {"team", "openlineage_client_version"}
    bundles = _bundle_events(store)
    assert {step: [e["eventType"] for e in events] for step, events in bundles.items()} == {s: ["START", "COMPLETE"] for s in STEPS}
    for events in bundles.values():
        for sealed in events:
            assert "environmentVariables" not in sealed["run"]["facets"]
            assert "tags" not in sealed["run"]["facets"]  # neither the configured tags nor the client's own


def test_a_broken_openlineage_yml_names_the_file_and_never_costs_the_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    config = tmp_path / "openlineage.yml"
    config.write_text("transport: {type: console}\nfilters:\n  - {typ: exact, match: raw__orders}\n")  # 'typ': a typo
    monkeypatch.setenv("OPENLINEAGE_CONFIG", str(config))
    store = str(tmp_path / "store")
    with caplog.at_level("WARNING", logger="prov_dagster"):
        _materialize_strict(store, strict=True)  # a forwarding setting never fails the step, also in strict mode
    assert {step: len(events) for step, events in _bundle_events(store).items()} == {s: 2 for s in STEPS}
    unread = [r.getMessage() for r in caplog.records if "could not be read" in r.getMessage()]
    assert unread and str(config) in unread[0]


def test_a_strict_recorders_check_past_its_bound_still_waits_for_the_other_backends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A strict recorder's wait (the IO manager's teardown) raised from the transport's check of the runs it took for
    open once the check outlived its bound, which skipped the wait for the other backends after it: an event still
    queued for them (a backend that takes 1 s) was lost with the step's process. The wait now drains them first, then
    raises the check's error."""
    import time
    import uuid

    from prov_common.config import Settings
    from prov_common.errors import StoreUnavailableError
    from prov_common.store.local import LocalStore
    from prov_dagster.model import DatasetRecord, StepIdentity
    from prov_dagster.recorder import Recorder

    slow = Receiver(delay=1.0)
    try:
        monkeypatch.setenv("OPENLINEAGE_URL", slow.url)
        recorder = Recorder(Settings(store=str(tmp_path / "store"), spool=str(tmp_path / "spool"), strict=True),
                            "dagster://default")
        run = recorder.step(StepIdentity(str(uuid.uuid4()), "pair_job", "pair"))
        run.input(DatasetRecord(name="raw", digest=None))  # its START staged: a run taken for open, checked by wait
        recorder.transport().config.timeout = 0.2
        exists = LocalStore.exists
        monkeypatch.setattr(LocalStore, "exists", lambda self, key: time.sleep(1.0) or exists(self, key))  # a slow mount
        with pytest.raises(StoreUnavailableError, match="the check of the runs this process took for open took more"):
            recorder.wait()
        assert [(e["run"]["runId"], e["eventType"]) for e in slow.events] == [(run.ol_run_id, "START")]
    finally:
        slow.close()
