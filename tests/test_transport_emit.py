"""ProvenanceTransport: configured through OpenLineage's own mechanisms, stages events, seals one
verified bundle per run, redacts secrets, and never breaks the producer by accident."""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import dataset_version_dataset

from bundle_support import SETUP_TIMEOUT, all_stored_bytes, dataset, event, indexed_runs, run_events
from prov_common.bundle import list_bundles, read_bundle, recent_bundles, rows_path, samples_path, verify_bundle
from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport, staged_event_key
from prov_common.config import Settings
from prov_common.errors import StoreError
from prov_common.signing import trust_from_settings
from prov_common.store import open_store
from prov_common.store.local import LocalStore

CLASS_PATH = "prov_common.bundle.transport.ProvenanceTransport"


def _ol_event(run_id: str, state: RunState, output_digest: str) -> RunEvent:
    version = dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=output_digest)
    return RunEvent(
        eventType=state,
        eventTime=datetime.now(timezone.utc).isoformat(),
        run=Run(runId=run_id),
        job=Job(namespace="tests", name="env_configured"),
        producer="https://github.com/tdprov/tdprov/tests",
        inputs=[InputDataset(namespace="s3://lake", name="raw/events.parquet")],
        outputs=[OutputDataset(namespace="s3://lake", name="clean/events.parquet", facets={"version": version})],
    )


def test_client_configured_only_by_environment_writes_a_verified_bundle(
    store_uri: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no openlineage.yml around
    monkeypatch.delenv("OPENLINEAGE_CONFIG", raising=False)
    monkeypatch.delenv("OPENLINEAGE_URL", raising=False)
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", CLASS_PATH)
    monkeypatch.setenv("TDPROV_STORE", store_uri)
    client = OpenLineageClient()
    assert isinstance(client.transport, ProvenanceTransport)
    run_id, digest = str(uuid.uuid4()), "blake3:" + "e" * 64
    client.emit(_ol_event(run_id, RunState.START, digest))
    store = open_store(store_uri)
    assert not store.exists(f"bundles/{run_id}/statement.dsse.json")  # only staged so far
    client.emit(_ol_event(run_id, RunState.COMPLETE, digest))
    report = verify_bundle(store, run_id, trust_from_settings(Settings.from_env()))
    assert report.ok, report.findings
    bundle = read_bundle(store, run_id)
    assert [e["eventType"] for e in map(json.loads, bundle.files["events.jsonl"].splitlines())] == ["START", "COMPLETE"]
    assert [(o.uri, o.version) for o in bundle.manifest.outputs] == [("s3://lake/clean/events.parquet", digest)]
    assert [s.run_id for s in recent_bundles(store)] == [run_id]


def test_config_from_dict_and_composite_transport(tmp_path: Path) -> None:
    config = ProvenanceConfig.from_dict({"type": CLASS_PATH, "store": str(tmp_path / "s"), "strict": "true", "timeout": "2.5"})
    assert (config.store, config.strict, config.timeout) == (str(tmp_path / "s"), True, 2.5)
    assert config.settings().strict and config.settings().store == str(tmp_path / "s")
    assert ProvenanceConfig.from_dict({}).settings().store == Settings.from_env().store
    client = OpenLineageClient(config={"transport": {"type": "composite", "transports": {
        "prov": {"type": CLASS_PATH, "store": str(tmp_path / "s")}, "noop": {"type": "noop"}}}})
    run_id = str(uuid.uuid4())
    client.emit(_ol_event(run_id, RunState.START, "blake3:" + "a" * 64))
    client.emit(_ol_event(run_id, RunState.FAIL, "blake3:" + "a" * 64))
    assert open_store(tmp_path / "s").exists(f"bundles/{run_id}/statement.dsse.json")


def _emit_in_own_process(event: dict, results) -> None:
    results.put(ProvenanceTransport().emit(event) is not None)


def test_events_of_one_run_from_two_processes_make_one_bundle(store_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import multiprocessing

    monkeypatch.setenv("TDPROV_STORE", store_uri)
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    start, complete = run_events()
    for e, sealed in ((start, False), (complete, True)):  # e.g. an Airflow scheduler, then a worker
        proc = ctx.Process(target=_emit_in_own_process, args=(e, results))
        proc.start()
        proc.join(60)
        assert proc.exitcode == 0 and results.get(timeout=5) is sealed
    store = open_store(store_uri)
    run_id = start["run"]["runId"]
    assert verify_bundle(store, run_id, trust_from_settings()).ok
    assert read_bundle(store, run_id).manifest.event_count == 2
    assert indexed_runs(store) == [run_id]


def test_attachments_go_into_the_runs_bundle(tmp_path: Path) -> None:
    transport = ProvenanceTransport(ProvenanceConfig(store=str(tmp_path / "s")))
    start, complete = run_events()
    run_id = start["run"]["runId"]
    transport.emit(start)
    transport.attach(run_id, samples_path("s3://lake", "clean/users"), b"PAR1 failing rows PAR1")
    result = transport.emit(complete)
    assert result is not None and result.status == "written"
    store = open_store(tmp_path / "s")
    assert read_bundle(store, run_id).files[samples_path("s3://lake", "clean/users")] == b"PAR1 failing rows PAR1"
    assert verify_bundle(store, run_id, trust_from_settings()).ok
    assert transport.emit(complete).status == "already-sealed"  # a repeated terminal event seals nothing new
    assert len(list(store.list("index/"))) == 1


def test_a_read_only_attachment_is_staged_and_sealed_without_a_copy(store_uri: str) -> None:
    """A row set, a read-only view of the bytearray it was built in (``rowset.build``), is held once: attach, staging
    and sealing read it in place (it was copied into bytes and held so until the seal: +16 MiB here, 87 MB for a
    10-million-row set)."""
    import os
    import tracemalloc

    transport = ProvenanceTransport(ProvenanceConfig(store=store_uri, strict=True))
    for e in run_events():  # modules loaded, key made: what is measured is the attachment
        transport.emit(e)
    start, complete = run_events()
    run_id, path = start["run"]["runId"], rows_path("s3://lake", "clean/users")
    transport.emit(start)
    data = bytearray(os.urandom(16 << 20))
    traced = not store_uri.startswith("s3://")  # the S3 server of the tests runs in this process and keeps the objects
    if traced:
        tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        transport.attach(run_id, path, memoryview(data).toreadonly())  # as row_set_of gives it
        assert transport.emit(complete).status == "written"
        grown = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert not traced or grown < len(data) // 4, f"peak grew by {grown:,} bytes for an attachment of {len(data):,}"
    assert_sealed_with(store_uri, run_id, path, bytes(data))


def assert_sealed_with(store_uri: str, run_id: str, path: str, data: bytes) -> None:
    """The run's bundle holds ``data`` at ``path``, its manifest gives their digest and size, and it verifies."""
    from blake3 import blake3

    store = open_store(store_uri)
    bundle = read_bundle(store, run_id)
    assert bundle.files[path] == data
    entry = bundle.manifest.by_path[path]
    assert (entry.digest, entry.size) == ("blake3:" + blake3(data).hexdigest(), len(data))
    assert verify_bundle(store, run_id, trust_from_settings()).ok


def test_a_mapped_row_set_is_staged_hashed_and_sealed_a_part_at_a_time(store_uri: str, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A row set mapped from its file (as ``row_set_of`` gives it) is staged, hashed for the manifest and written into
    the bundle a part at a time, each part's pages given back once read: the process never holds them all (its peak
    resident size grew by the whole row set, 87 MB for 10 M rows). The bundle holds the same bytes and digests."""
    import os

    import prov_common.bundle.transport as transport_module
    import prov_common.mapped as mapped
    from rows_support import mapped_rows, resident

    monkeypatch.setattr(mapped, "PART", 64 << 10)
    data = os.urandom(8 << 20)
    view = mapped_rows(tmp_path, data)
    transport = ProvenanceTransport(ProvenanceConfig(store=store_uri, strict=True))
    start, complete = run_events()
    run_id, path = start["run"]["runId"], rows_path("s3://lake", "clean/users")
    transport.emit(start)
    held = [resident(view)]
    write_bundle = transport_module.write_bundle

    def after_hashing(*args, **kwargs):  # staged and hashed for the manifest; the bundle is written next
        held.append(resident(view))
        return write_bundle(*args, **kwargs)

    monkeypatch.setattr(transport_module, "write_bundle", after_hashing)
    transport.attach(run_id, path, view)
    assert transport.emit(complete).status == "written"
    held.append(resident(view))
    assert max(held) <= (8 << 20) // 2, f"{held} bytes of a mapped row set of {8 << 20:,} resident"
    assert_sealed_with(store_uri, run_id, path, data)


def test_a_row_set_staged_by_another_process_is_sealed_without_reading_it_into_memory(
        store_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A large attachment staged by another writer (``tdprov store seal`` of its run) is streamed into a temporary
    file and sealed from its mapping a part at a time (it was read whole into memory: 87 MB for a 10-million-row
    set); the bundle holds the same bytes and digests."""
    import os
    import tracemalloc

    import prov_common.mapped as mapped
    from rows_support import mapped_rows

    monkeypatch.setattr(mapped, "PART", 64 << 10)
    size = 16 << 20
    data = os.urandom(size)
    start, complete = run_events()
    run_id, path = start["run"]["runId"], rows_path("s3://lake", "clean/users")
    # what is measured is memory, not time: the upload and the seal of 16 MB (on S3 through the server in this
    # process) took more than the default bound on a loaded machine
    writer = ProvenanceTransport(ProvenanceConfig(store=store_uri, strict=True, timeout=SETUP_TIMEOUT))
    writer.emit(start)
    writer.attach(run_id, path, mapped_rows(tmp_path, data))
    sealer = ProvenanceTransport(ProvenanceConfig(store=store_uri, strict=True, timeout=SETUP_TIMEOUT))
    for e in run_events():  # modules loaded, key made: what is measured is the staged attachment
        sealer.emit(e)
    traced = not store_uri.startswith("s3://")  # the S3 server of the tests runs in this process and keeps the objects
    if traced:
        tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        assert sealer.emit(complete).status == "written"
        grown = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert not traced or grown < size // 4, f"peak grew by {grown:,} bytes to seal an attachment of {size:,}"
    assert_sealed_with(store_uri, run_id, path, data)


def test_a_staged_row_set_is_copied_beside_the_spool_not_into_the_temporary_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the temporary folder is a tmpfs its files are memory: the copy of a row set staged by another writer is
    made in a hidden folder of the spool folder (on its file system) and mapped from there, whatever TMPDIR says; a
    spool folder that cannot be made gives the temporary folder, as before. Both seal the same bytes."""
    import os
    import tempfile

    import prov_common.mapped as mapped
    from prov_common.bundle import transport as transport_module

    monkeypatch.setattr(mapped, "PART", 64 << 10)
    elsewhere = tmp_path / "tmpfs"
    elsewhere.mkdir()
    monkeypatch.setenv("TMPDIR", str(elsewhere))
    monkeypatch.setattr(tempfile, "tempdir", None)  # read again from TMPDIR
    copies: list[Path] = []

    def file_bytes(path: Path):  # where each copy was made, seen as it is mapped
        copies.append(Path(path))
        return real(path)

    real = mapped.file_bytes
    monkeypatch.setattr(transport_module.mapped, "file_bytes", file_bytes)
    (tmp_path / "a-file").write_text("")
    for spool, within in ((tmp_path / "spool", tmp_path / "spool"), (tmp_path / "a-file" / "spool", elsewhere)):
        store = str(tmp_path / f"store-{spool.parent.name}")
        data = os.urandom(1 << 20)
        start, complete = run_events()
        run_id, path = start["run"]["runId"], rows_path("s3://lake", "clean/users")
        writer = ProvenanceTransport(ProvenanceConfig(store=store, spool=str(spool), strict=True))
        writer.emit(start)
        writer.attach(run_id, path, data)
        sealer = ProvenanceTransport(ProvenanceConfig(store=store, spool=str(spool), strict=True))
        assert sealer.emit(complete).status == "written"
        assert copies[-1].parent.parent == within and copies[-1].parent.name.startswith(
            ".tdprov-staged-" if within != elsewhere else "tdprov-staged-")
        assert not copies[-1].parent.exists()  # gone with its mapping
        assert_sealed_with(store, run_id, path, data)
    assert os.listdir(tmp_path / "spool") == []  # nothing left for the outbox


def test_a_bytearray_changed_after_attach_is_sealed_as_attached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The caller's bytearray (writable) is copied at attach: changed after it, and again between the manifest's
    digests and the bundle's write (its other thread, or after an emit that timed out), the bundle holds the bytes
    attached and verifies. Held in place, it was sealed, signed and written with a digest of other bytes."""
    import os

    import prov_common.bundle.transport as transport_module

    transport = ProvenanceTransport(ProvenanceConfig(store=str(tmp_path / "s"), strict=True))
    start, complete = run_events()
    run_id, path = start["run"]["runId"], samples_path("s3://lake", "clean/users")
    transport.emit(start)
    data = bytearray(os.urandom(4096))
    attached = bytes(data)
    transport.attach(run_id, path, data)
    data[0] ^= 1
    write_bundle = transport_module.write_bundle

    def changed_mid_seal(*args, **kwargs):
        data[1] ^= 1
        return write_bundle(*args, **kwargs)

    monkeypatch.setattr(transport_module, "write_bundle", changed_mid_seal)
    assert transport.emit(complete).status == "written"
    data.clear()  # no view of it is held: the caller may resize it
    store = open_store(tmp_path / "s")
    assert read_bundle(store, run_id).files[path] == attached
    assert verify_bundle(store, run_id, trust_from_settings()).ok


def test_a_memoryview_of_any_format_is_attached_as_its_bytes(tmp_path: Path) -> None:
    import numpy as np

    transport = ProvenanceTransport(ProvenanceConfig(store=str(tmp_path / "s"), strict=True))
    start, complete = run_events()
    run_id, path = start["run"]["runId"], rows_path("s3://lake", "clean/users")
    keys = np.arange(1000, dtype=">u8")
    transport.emit(start)
    transport.attach(run_id, path, memoryview(keys))
    transport.emit(complete)
    store = open_store(tmp_path / "s")
    assert read_bundle(store, run_id).files[path] == keys.tobytes()
    assert verify_bundle(store, run_id, trust_from_settings()).ok


def test_secrets_in_dataset_uris_never_reach_the_store(store_uri: str) -> None:
    secrets = ["s3cr3t-Pa55", "AKIAIOSFODNN7EXAMPLE", "tok-9f8e7d6c5b4a", "wJalrXUtnFEMI-K7MDENG"]
    run_id = str(uuid.uuid4())
    inputs = [
        dataset("postgres://etl:s3cr3t-Pa55@db.internal:5432", "warehouse.public.users"),
        dataset("https://data.example.com", "/export.csv?token=tok-9f8e7d6c5b4a&day=1"),
        dataset("s3://lake", "raw/AKIAIOSFODNN7EXAMPLE/users.parquet"),
    ]
    start = event(run_id, "START", "2026-03-01T10:00:00Z", inputs=inputs)
    start["run"]["facets"]["note"] = {"_producer": "x", "_schemaURL": "y", "cmd": "export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI-K7MDENG"}
    transport = ProvenanceTransport(ProvenanceConfig(store=store_uri, strict=True))
    transport.emit(start)
    transport.emit(event(run_id, "COMPLETE", "2026-03-01T10:00:01Z", inputs=inputs))
    store = open_store(store_uri)
    assert verify_bundle(store, run_id, trust_from_settings()).ok
    stored = all_stored_bytes(store_uri)
    assert b"warehouse.public.users" in stored and b"***" in stored  # the datasets are there, redacted
    for secret in secrets:
        assert secret.encode() not in stored, secret


class _SlowStore(LocalStore):
    """A local store whose write of a staged event takes 2 s (its other writes, such as its identity, are as usual)."""

    def put(self, key: str, data: bytes) -> bool:
        if key.startswith("staging/"):
            time.sleep(2.0)
        return super().put(key, data)


def test_emit_never_raises_by_accident_and_is_time_bounded(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    start, complete = run_events()
    lenient = ProvenanceTransport(ProvenanceConfig(store=str(not_a_folder)))
    with caplog.at_level(logging.WARNING):
        assert lenient.emit(start) is None
    assert "kept in the outbox" in caplog.text and str(not_a_folder) in caplog.text  # the event is not lost
    with pytest.raises(StoreError, match="not a folder"):
        ProvenanceTransport(ProvenanceConfig(store=str(not_a_folder), strict=True)).emit(start)

    slow = ProvenanceTransport(ProvenanceConfig(store=str(tmp_path / "slow"), timeout=0.2))
    slow._store = _SlowStore(tmp_path / "slow")
    began = time.monotonic()
    with caplog.at_level(logging.WARNING):
        assert slow.emit(start) is None
    assert time.monotonic() - began < 1.5 and "took more than 0.2s" in caplog.text  # before the write ends (2 s)
    assert slow.close()  # the write finishes in the background, nothing is lost
    assert len(list(open_store(tmp_path / "slow").list("staging/"))) == 1


def test_transport_made_before_a_fork_works_in_the_child_and_after_close(tmp_path: Path) -> None:
    import multiprocessing

    transport = ProvenanceTransport(ProvenanceConfig(store=str(tmp_path / "s"), strict=True, timeout=5))
    first = run_events()
    transport.emit(first[0])  # the parent's worker thread exists now
    second = run_events()

    def child() -> None:
        for e in second:
            transport.emit(e)

    proc = multiprocessing.get_context("fork").Process(target=child)
    proc.start()
    proc.join(30)
    assert proc.exitcode == 0
    transport.close()
    assert transport.emit(first[1]).status == "written"  # usable again after close
    store = open_store(tmp_path / "s")
    assert sorted(s.run_id for s in recent_bundles(store)) == sorted(e[0]["run"]["runId"] for e in (first, second))


def test_stored_events_are_valid_openlineage_and_keep_azure_containers(tmp_path: Path, ol_validator) -> None:
    from prov_common.hashing import FileDigest
    from prov_common.lineage import DatasetRef, build_run_event, collect_run_context

    client = OpenLineageClient(config={"transport": {"type": CLASS_PATH, "store": str(tmp_path / "s")}})
    run_id, ctx = str(uuid.uuid4()), collect_run_context(orchestrator="dagster", owner="team:ml")
    source = DatasetRef.from_uri("abfss://raw@lake01.dfs.core.windows.net/events.parquet")
    model = DatasetRef.from_uri("wasbs://models@blob01.blob.core.windows.net/m.pkl?sig=c2VjcmV0",
                                digest=FileDigest("blake3:" + "5" * 64, 10))
    for state in ("START", "COMPLETE"):
        client.emit(build_run_event(state, run_id=run_id, job_name="train", inputs=[source], outputs=[model], context=ctx))
    bundle = read_bundle(open_store(tmp_path / "s"), run_id)
    stored = [json.loads(line) for line in bundle.files["events.jsonl"].splitlines()]
    assert [e["eventType"] for e in stored] == ["START", "COMPLETE"]
    for sealed in stored:  # as sealed, after the transport's redaction
        ol_validator.validate_event(sealed)
        assert sealed["inputs"][0]["namespace"] == "abfss://raw@lake01.dfs.core.windows.net"
        assert sealed["outputs"][0]["namespace"] == "wasbs://models@blob01.dfs.core.windows.net"
    assert [o.uri for o in bundle.manifest.outputs] == ["wasbs://models@blob01.dfs.core.windows.net/m.pkl"]
    broken = dict(stored[1], eventTime="2026-01-01 00:00")
    with pytest.raises(ol_validator.EventInvalid, match="eventTime"):
        ol_validator.validate_event(broken)


def test_tag_and_parameter_keys_are_sealed_as_sent_and_secret_named_values_are_not(tmp_path: Path, ol_validator) -> None:
    """The standard Tags facets (run, job, dataset) and ExecutionParameters name their pairs in a field called
    ``key``: the name is part of the record and is sealed unchanged; the value of a pair named like a secret
    (``api_key``) and a name that is itself a token are still redacted."""
    from openlineage.client.facet_v2 import execution_parameters_run, tags_dataset, tags_job, tags_run

    token = "ghp_" + "Q7xK2mP9vR4tW8zB3nC6" * 2
    run_facets = {
        "tags": tags_run.TagsRunFacet(tags=[tags_run.TagsRunFacetFields(key="environment", value="prod", source="USER"),
                                            tags_run.TagsRunFacetFields(key="api_key", value="s3cr3t-Pa55", source="USER"),
                                            tags_run.TagsRunFacetFields(key=token, value="1", source="USER")]),
        "executionParameters": execution_parameters_run.ExecutionParametersRunFacet(parameters=[
            execution_parameters_run.ExecutionParameter(key="task.timeout", name="Task timeout", value="300"),
            execution_parameters_run.ExecutionParameter(key="db.password", value="hunter2-Pa55")]),
    }
    job_facets = {"tags": tags_job.TagsJobFacet(tags=[tags_job.TagsJobFacetFields(key="team", value="ml-platform", source="USER")])}
    output = OutputDataset(namespace="s3://lake", name="clean/events.parquet", facets={
        "tags": tags_dataset.TagsDatasetFacet(tags=[tags_dataset.TagsDatasetFacetFields(key="pii", value="none", source="USER")])})
    client = OpenLineageClient(config={"transport": {"type": CLASS_PATH, "store": str(tmp_path / "s")}})
    run_id = str(uuid.uuid4())
    for state in (RunState.START, RunState.COMPLETE):
        client.emit(RunEvent(eventType=state, eventTime=datetime.now(timezone.utc).isoformat(), run=Run(runId=run_id, facets=run_facets),
                             job=Job(namespace="tests", name="tagged", facets=job_facets), outputs=[output],
                             producer="https://github.com/tdprov/tdprov/tests"))
    store = open_store(tmp_path / "s")
    assert verify_bundle(store, run_id, trust_from_settings()).ok
    sealed = json.loads(read_bundle(store, run_id).files["events.jsonl"].splitlines()[-1])
    ol_validator.validate_event(sealed)
    run_tags = {t["key"]: t["value"] for t in sealed["run"]["facets"]["tags"]["tags"] if t["key"] != "openlineage_client_version"}
    assert run_tags == {"environment": "prod", "api_key": "***", "***": "1"}
    assert [(t["key"], t["value"]) for t in sealed["job"]["facets"]["tags"]["tags"]] == [("team", "ml-platform")]
    assert [(t["key"], t["value"]) for t in sealed["outputs"][0]["facets"]["tags"]["tags"]] == [("pii", "none")]
    parameters = sealed["run"]["facets"]["executionParameters"]["parameters"]
    assert [(p["key"], p.get("name"), p["value"]) for p in parameters] == [("task.timeout", "Task timeout", "300"), ("db.password", None, "***")]
    stored = all_stored_bytes(str(tmp_path / "s"))
    for secret in ("s3cr3t-Pa55", "hunter2-Pa55", token):
        assert secret.encode() not in stored, secret


def test_unwritable_home_without_a_key_stages_the_run_and_says_how_to_seal_it(tmp_path: Path, monkeypatch, caplog,
                                                                              capsys) -> None:
    """TDPROV_HOME cannot be written and holds no key yet: the error names the key file and the fix; the transport
    says that the run's events are staged unsigned and how to seal them: ``tdprov store seal`` refuses them (they stay
    staged), and seals them with ``--accept-unsigned`` once a key is set."""
    from mount_support import read_only
    from prov_common.cli import main
    from prov_common.errors import BadInputError
    from prov_common.signing.keyfiles import default_signing_key, write_keypair

    home, store = tmp_path / "home", str(tmp_path / "store")
    home.mkdir()
    monkeypatch.setenv("TDPROV_HOME", str(home))
    run_id = str(uuid.uuid4())
    with read_only(home):
        with pytest.raises(BadInputError) as refused:
            default_signing_key()
        assert str(home / "signing.key") in str(refused.value) and "TDPROV_SIGNING_KEY" in str(refused.value)
        transport = ProvenanceTransport(ProvenanceConfig(store=store, spool=str(tmp_path / "spool")))
        with caplog.at_level(logging.WARNING):
            for item in run_events(run_id):
                assert transport.emit(item) is None
        transport.close()
    assert "could not record" not in caplog.text
    assert f"run {run_id} is not sealed" in caplog.text and "staged" in caplog.text
    assert f"'tdprov store seal --accept-unsigned {run_id}'" in caplog.text and "TDPROV_SIGNING_KEY" in caplog.text
    assert caplog.text.count("staged events and attachments are not signed") == 1  # once per process
    assert list(list_bundles(open_store(store))) == []
    key, _public = write_keypair(tmp_path / "keys" / "signer.key")
    monkeypatch.setenv("TDPROV_SIGNING_KEY", str(key))
    assert main(["store", "seal", run_id, "--store", store]) == 2
    err = capsys.readouterr().err
    assert f"run {run_id} ended with a COMPLETE event staged unsigned (staging/{run_id}/" in err, err
    assert f"'tdprov store seal --accept-unsigned {run_id}'" in err and list(open_store(store).list(f"staging/{run_id}/"))
    assert main(["store", "seal", run_id, "--store", store, "--accept-unsigned"]) == 0
    assert "written" in capsys.readouterr().out
    assert indexed_runs(open_store(store)) == [run_id]


def _sealed_then(store: Path, sealer: str) -> tuple[str, ProvenanceTransport]:
    """A run sealed COMPLETE in ``store``, and the transport of ``sealer`` ('this process' or 'another process')
    that its later events reach."""
    start, complete = run_events()
    sealing = ProvenanceTransport(ProvenanceConfig(store=str(store)))
    sealing.emit(start)
    assert sealing.emit(complete).status == "written"
    late = ProvenanceTransport(ProvenanceConfig(store=str(store))) if sealer == "another process" else sealing
    return start["run"]["runId"], late


@pytest.mark.parametrize("sealer", ["this process", "another process"])
def test_a_non_terminal_event_timed_before_the_seal_that_arrives_after_it_is_named_late(
        tmp_path: Path, sealer: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """A RUNNING event of a sealed run, timed before the sealing, reaches the transport after it: staged as arriving
    then (in no bundle), warned about, and the audit names it as a late event; the bundle stays as it was. The process
    that sealed the run knows it without asking the store; another process asks the store once, as for a terminal event."""
    from datetime import timedelta

    from prov_common.audit.engine import run_audit
    from prov_common.audit.model import CHECK_UNFINISHED
    from prov_common.bundle.layout import parse_stamp
    from prov_common.w3cprov.identity import iso_z

    run_id, late = _sealed_then(tmp_path / "s", sealer)
    asked: list[str] = []
    exists = LocalStore.exists
    monkeypatch.setattr(LocalStore, "exists", lambda self, key: asked.append(key) or exists(self, key))
    before = datetime.now(timezone.utc)
    with caplog.at_level(logging.WARNING, logger="prov_common"):
        late.emit(event(run_id, "RUNNING", "2026-03-01T10:00:03Z"))
        late.emit(event(run_id, "RUNNING", "2026-03-01T10:00:04Z"))
    assert asked == ([] if sealer == "this process" else [f"bundles/{run_id}/statement.dsse.json"])
    store = open_store(tmp_path / "s")
    assert [json.loads(x)["eventType"] for x in read_bundle(store, run_id).files["events.jsonl"].splitlines()] == [
        "START", "COMPLETE"]
    stamps = sorted(parse_stamp(k.rsplit("/", 1)[1].split("-", 1)[0]) for k in store.list(f"staging/{run_id}/")
                    if k.count("/") == 2)  # (not the records of the keys chosen, under delivered-late/)
    assert [iso_z(m) for m in stamps[:2]] == ["2026-03-01T10:00:00Z", "2026-03-01T10:00:05Z"] and min(stamps[2:]) >= before
    assert caplog.text.count(f"run {run_id} was sealed already: its RUNNING event timed 2026-03-01T10:00:0") == 2
    audit = run_audit(store, stale_after=timedelta(0), report_dir=tmp_path / "report", progress=False)
    [finding] = audit.check(CHECK_UNFINISHED).findings
    assert finding.run_id == run_id and "2 events were staged for it after that" in finding.what, finding.what


@pytest.mark.parametrize("sealer", ["this process", "another process"])
def test_a_terminal_event_that_comes_after_the_seal_reads_the_sealed_events_once(
        tmp_path: Path, sealer: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """A FAIL of a run sealed COMPLETE (by this process, or by another whose START this one did not stage) meets the
    sealed bundle: its events.jsonl is read once, for the run it is of and the digests of what came after, and the
    seal meeting the bundle takes them as read; the bundle stands and the event is warned about as late."""
    run_id, late = _sealed_then(tmp_path / "s", sealer)
    asked: list[str] = []
    get = LocalStore.get
    monkeypatch.setattr(LocalStore, "get", lambda self, key, *a, **k: asked.append(key) or get(self, key, *a, **k))
    with caplog.at_level(logging.WARNING, logger="prov_common"):
        result = late.emit(event(run_id, "FAIL", "2026-03-01T10:00:06Z"))
    assert result is not None and result.status == "already-sealed", result
    assert asked.count(f"bundles/{run_id}/events.jsonl") == 1, asked
    assert f"tdprov: run {run_id} was sealed with 2 events before 1 more arrived" in caplog.text, caplog.text
    store = open_store(tmp_path / "s")
    assert [json.loads(x)["eventType"] for x in read_bundle(store, run_id).files["events.jsonl"].splitlines()] == [
        "START", "COMPLETE"]


def test_show_says_how_many_events_arrived_after_the_seal(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A FAIL that reaches the transport after its run was sealed COMPLETE (an Airflow DAG run marked failed then) is
    staged, in no bundle, and named by the audit only: 'tdprov show' read the run as its bundle says, COMPLETE, with no
    word of it. It still shows the sealed bundle, and says how many events arrived after the seal; a run with none says
    nothing of it."""
    from prov_common.cli import main

    start, complete = run_events()
    run_id = start["run"]["runId"]
    other_start, other_complete = run_events()
    transport = ProvenanceTransport(ProvenanceConfig(store=str(tmp_path / "s")))
    for e in (start, complete, other_start, other_complete):
        transport.emit(e)
    transport.emit(event(run_id, "FAIL", "2026-03-01T10:00:06Z"))
    uri = str(tmp_path / "s")
    assert main(["show", run_id, "--store", uri]) == 0
    out = capsys.readouterr().out
    assert f"run {run_id}  job " in out and out.splitlines()[0].endswith("COMPLETE"), out
    assert "\n  1 event arrived after the seal (not in this bundle; see 'tdprov audit')\n" in out, out
    assert main(["show", run_id, "--json", "--store", uri]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["stagedAfterSealing"] == 1 and [e["eventType"] for e in shown["events"]] == ["START", "COMPLETE"], shown
    other = other_start["run"]["runId"]
    assert main(["show", other, "--store", uri]) == 0
    assert "after the seal" not in capsys.readouterr().out
    assert main(["show", other, "--json", "--store", uri]) == 0
    assert json.loads(capsys.readouterr().out)["stagedAfterSealing"] == 0


def test_a_late_event_of_a_run_another_process_sealed_staged_under_its_own_time_is_named_by_every_audit(
        tmp_path: Path, store_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A writer that staged a run's START takes the run for open without asking the store (no request per event), so its
    RUNNING that comes after another process sealed the run is staged under its own time, before the sealing: in no
    bundle. The audit names it by its digest, which the sealed events.jsonl does not hold (its time cannot tell), on
    the audit that first lists it and every audit after; the run's own events, staged as ever, are no finding, and an
    incremental audit with nothing newly staged reads no bundle's events for it (on S3 too: it dates objects by its own
    clock, to the second)."""
    from datetime import timedelta

    from prov_common.audit.engine import run_audit
    from prov_common.audit.model import CHECK_UNFINISHED

    import prov_common.audit.unfinished as unfinished

    start, complete = run_events()
    run_id = start["run"]["runId"]
    writer, sealer = (ProvenanceTransport(ProvenanceConfig(store=store_uri)) for _ in range(2))
    writer.emit(start)
    assert sealer.emit(complete).status == "written"
    time.sleep(1.1 if store_uri.startswith("s3://") else 0)  # (S3 dates objects to the second)
    other = run_events()  # another run, staged later
    for item in other:
        sealer.emit(item)
    store = open_store(store_uri)
    clean = run_audit(store, stale_after=timedelta(0), report_dir=tmp_path / "r0", progress=False)
    assert clean.check(CHECK_UNFINISHED).findings == []
    read: list[str] = []
    get = type(store).get
    monkeypatch.setattr(type(store), "get", lambda self, key, *a, **k: read.append(key) or get(self, key, *a, **k))
    monkeypatch.setattr(unfinished, "LISTED_GRACE", timedelta(0), raising=False)  # (a test stores all within the grace)
    quiet = run_audit(store, stale_after=timedelta(0), report_dir=tmp_path / "quiet", progress=False)
    assert not quiet.full and quiet.check(CHECK_UNFINISHED).findings == []
    assert f"bundles/{run_id}/events.jsonl" not in read
    quiet_read = list(read)
    writer.emit(event(run_id, "RUNNING", "2026-03-01T10:00:03Z"))
    [staged] = [k for k in store.list(f"staging/{run_id}/") if k.count("/") == 2 and k.split("/")[2].startswith("20260301T100003")]
    for n in range(2):  # the audit that first lists the key, and the next one (the run stays compared)
        audit = run_audit(store, stale_after=timedelta(0), report_dir=tmp_path / f"r{n + 1}", progress=False)
        [finding] = audit.check(CHECK_UNFINISHED).findings
        assert finding.run_id == run_id and finding.object == f"staging/{run_id}/", finding
        assert "1 event was staged for it after that" in finding.what and "timed 2026-03-01T10:00:03Z" in finding.what, finding.what
        assert "before the sealing" in finding.what and staged.rsplit("/", 1)[1] in finding.what, finding.what
    assert f"bundles/{other[0]['run']['runId']}/events.jsonl" in quiet_read  # (its newest event is as new as the listing)


def _taken_for_open_then_sealed(uri: str, *also: dict) -> tuple[ProvenanceTransport, ProvenanceTransport, dict]:
    """A writer that staged a run's START (and the events also), the run sealed by another process (the sealer); the
    writer, the sealer and the START."""
    start, complete = run_events()
    writer, sealer = (ProvenanceTransport(ProvenanceConfig(store=uri)) for _ in range(2))
    for item in (start, *also):
        writer.emit(item)
    assert sealer.emit(complete).status == "written"
    return writer, sealer, start


def test_a_writer_that_took_a_run_for_open_names_its_events_the_sealed_bundle_lacks_when_it_learns_of_the_seal(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """A writer that staged a run's START stages its RUNNING under its own time without asking the store (no request per
    event), also after another process sealed the run. When its terminal event asks the store, as it does, and finds the
    run sealed, one warning names each event it staged that the sealed events.jsonl lacks and the terminal event (run,
    type, key, the audit, the fix), not the START the bundle holds (it was followed by a count-only warning of the same
    events, and the manifest was read twice); its RUNNING cost no store request. The sealed events.jsonl is read once,
    for the digests and the run it is of (the seal meeting the bundle read it again)."""
    uri = str(tmp_path / "s")
    writer, _, start = _taken_for_open_then_sealed(uri)
    run_id = start["run"]["runId"]
    asked: list[str] = []
    exists, get = LocalStore.exists, LocalStore.get
    monkeypatch.setattr(LocalStore, "exists", lambda self, key: asked.append(key) or exists(self, key))
    monkeypatch.setattr(LocalStore, "get", lambda self, key, *a, **k: asked.append(key) or get(self, key, *a, **k))
    with caplog.at_level(logging.WARNING, logger="prov_common"):
        writer.emit(event(run_id, "RUNNING", "2026-03-01T10:00:03Z"))
        assert asked == [] and caplog.text == ""  # from memory: no request, nothing known yet
        writer.emit(event(run_id, "FAIL", "2026-03-01T10:00:06Z"))
    staged = list(open_store(uri).list(f"staging/{run_id}/"))
    [running] = [k for k in staged if k.count("/") == 2 and k.split("/")[2].startswith("20260301T100003")]
    [fail] = [k for k in staged if k.count("/") == 2 and not k.split("/")[2].startswith("20260301")]  # keyed as it arrived
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
        f"tdprov: run {run_id} was sealed by another process after this one staged its START: its RUNNING event timed "
        f"2026-03-01T10:00:03Z (staged as {running}); its FAIL event timed 2026-03-01T10:00:06Z (staged as {fail}) came "
        "after the sealing and are in no bundle ('tdprov audit' names them). Fix: a run's events must end with its "
        "terminal event: emit nothing for a run after it (re-run the step to record what came late)"], caplog.text
    assert start["eventTime"] not in caplog.text, caplog.text  # (the START is in the bundle)
    assert asked.count(f"bundles/{run_id}/manifest.json") == 1, asked
    assert asked.count(f"bundles/{run_id}/events.jsonl") == 1, asked


def test_a_writer_that_took_a_run_for_open_names_all_its_events_when_the_sealed_events_are_not_json(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A sealed events.jsonl that is not JSON holds none of the events a writer that took the run for open staged:
    its one warning names them all, the START too, and the terminal event meets the bundle as it stands."""
    uri = str(tmp_path / "s")
    writer, _, start = _taken_for_open_then_sealed(uri)
    run_id = start["run"]["runId"]
    writer.emit(event(run_id, "RUNNING", "2026-03-01T10:00:03Z"))
    sealed = tmp_path / "s" / "bundles" / run_id / "events.jsonl"
    sealed.write_bytes(b"x" * sealed.stat().st_size)  # the size the manifest lists, no JSON
    with caplog.at_level(logging.WARNING, logger="prov_common"):
        result = writer.emit(event(run_id, "FAIL", "2026-03-01T10:00:06Z"))
    assert result is not None and result.status == "already-sealed", result
    [warned] = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warned.startswith(f"tdprov: run {run_id} was sealed by another process after this one staged its START: its "
                             f"START event timed 2026-03-01T10:00:00Z (staged as staging/{run_id}/"), warned
    assert "; its RUNNING event timed 2026-03-01T10:00:03Z (staged as " in warned, warned
    assert "; its FAIL event timed 2026-03-01T10:00:06Z (staged as " in warned, warned
    assert warned.endswith(" came after the sealing and are in no bundle ('tdprov audit' names them). Fix: a run's "
                           "events must end with its terminal event: emit nothing for a run after it (re-run the step "
                           "to record what came late)"), warned
    assert sealed.read_bytes() == b"x" * sealed.stat().st_size  # the bundle stands


def test_a_writer_that_took_a_run_for_open_and_never_ends_it_names_its_late_events_when_closed(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """A writer that staged a run's START, whose RUNNING came after another process sealed the run, and that sends no
    terminal event for it said nothing (only the audit named the event). Closing it (or its name_late_events) asks the
    store once per run it took for open and names what the sealed bundle lacks, in one warning; a run still open costs
    that one request and says nothing, and a writer whose runs all ended here asks nothing."""
    uri = str(tmp_path / "s")
    other = run_events()[0]  # a run still open when the writer closes
    writer, sealer, start = _taken_for_open_then_sealed(uri, other)
    run_id = start["run"]["runId"]
    asked: list[str] = []
    exists = LocalStore.exists
    monkeypatch.setattr(LocalStore, "exists", lambda self, key: asked.append(key) or exists(self, key))
    with caplog.at_level(logging.WARNING, logger="prov_common"):
        writer.emit(event(run_id, "RUNNING", "2026-03-01T10:00:03Z"))
        assert caplog.text == "" and asked == []  # from memory: nothing known yet
        writer.name_late_events()  # (as the Dagster recorder's wait and Airflow's drain do; closing does too)
    assert sorted(asked) == sorted(f"bundles/{r}/statement.dsse.json" for r in (run_id, other["run"]["runId"]))
    [running] = [k for k in open_store(uri).list(f"staging/{run_id}/") if k.split("/")[2].startswith("20260301T100003")]
    assert [r.getMessage() for r in caplog.records] == [
        f"tdprov: run {run_id} was sealed by another process after this one staged its START: its RUNNING event timed "
        f"2026-03-01T10:00:03Z (staged as {running}) came after the sealing and is in no bundle ('tdprov audit' names "
        "it). Fix: a run's events must end with its terminal event: emit nothing for a run after it (re-run the step to "
        "record what came late)"], caplog.text
    caplog.clear()
    asked.clear()
    writer.close()  # told once: the run is remembered sealed now
    assert caplog.text == "" and asked == [f"bundles/{other['run']['runId']}/statement.dsse.json"]
    asked.clear()
    sealer.close()  # it sealed the one run it staged: no request
    assert asked == []


def test_closing_a_writer_in_an_outage_asks_the_store_once_for_the_runs_it_took_for_open(
        s3_fault, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Closing asks about each run still taken for open; in an outage it stops at the first the store cannot answer for
    rather than wait a timeout for each."""
    from prov_common.store.s3 import S3Store

    writer = ProvenanceTransport(ProvenanceConfig(store=s3_fault("closed"), spool=str(tmp_path / "spool")))
    for _ in range(3):
        writer.emit(run_events()[0])
    asked: list[str] = []

    def down(self: S3Store, key: str) -> bool:
        asked.append(key)
        raise StoreError("down")

    monkeypatch.setattr(S3Store, "exists", down)
    writer.close()
    assert len(asked) == 1, asked


def test_a_writer_closed_at_interpreter_exit_with_a_run_taken_for_open_exits_quietly(tmp_path: Path) -> None:
    """Closing the transport at exit (an atexit hook, as a producer may register) checks no run taken for open, since
    worker threads take no more work then: it raised 'cannot schedule new futures after shutdown'."""
    import subprocess
    import sys

    script = ("import atexit, sys; from bundle_support import run_events; "
              "from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport; "
              "t = ProvenanceTransport(ProvenanceConfig(store=sys.argv[1])); t.emit(run_events()[0]); atexit.register(t.close)")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "s")], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).parent)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr


_LATE_CHECK_AT_EXIT = """
import sys, time
from bundle_support import event, run_events
from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport
from prov_common.store.local import LocalStore

start, complete = run_events()
writer, sealer = (ProvenanceTransport(ProvenanceConfig(store=sys.argv[1])) for _ in range(2))
writer.emit(start)
sealer.emit(complete)  # another process seals the run the writer took for open
run_id = start["run"]["runId"]
writer.emit(event(run_id, "RUNNING", "2026-03-01T10:00:03Z"))  # after the sealing: in no bundle
exists = LocalStore.exists
LocalStore.exists = lambda self, key: time.sleep(float(sys.argv[2])) or exists(self, key)  # a slow (or hung) mount
writer.config.timeout = 0.3
writer.name_late_events()  # as the Dagster recorder's wait at a step's teardown does: it outlives its bound
print(run_id, flush=True)
"""


@pytest.mark.parametrize(("slow", "bound"), [(0.5, 8), (600.0, 1)])
def test_a_process_that_ends_while_checking_the_runs_it_took_for_open_waits_for_the_check_or_names_it(
        tmp_path: Path, slow: float, bound: int) -> None:
    """The check of the runs a writer took for open (name_late_events) went on in the background past its bound, and
    the process's exit did not wait for it (it waits only for writes): the writer's event staged after another process
    sealed the run was named by nothing but the audit. The exit now waits for the check within its one bound
    (TDPROV_EXIT_TIMEOUT): a store that answers within it (0.5 s of 8, past the check's own 0.3 s) has the event named;
    one that does not (a hung mount, 600 s of 1) has the check named as left, with its runs and the audit that names
    such events, and the process ends."""
    import subprocess
    import sys

    uri = str(tmp_path / "s")
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-c", _LATE_CHECK_AT_EXIT, uri, str(slow)], capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).parent, env={**os.environ, "TDPROV_EXIT_TIMEOUT": str(bound)})
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert time.monotonic() - began < 60
    run_id = done.stdout.split()[-1]
    if slow < bound:
        [running] = [k for k in open_store(uri).list(f"staging/{run_id}/") if k.split("/")[2].startswith("20260301T100003")]
        assert (f"tdprov: run {run_id} was sealed by another process after this one staged its START: its RUNNING "
                f"event timed 2026-03-01T10:00:03Z (staged as {running}) came after the sealing and is in no bundle"
                in done.stderr), done.stderr[-3000:]
    else:
        assert (f"tdprov: the check of the runs this process took for open ({run_id}) was still under way after {bound:.1f}s "
                f"as this process ends (store {uri} does not answer): events staged here for one of them after another "
                f"process sealed it are not named here. Fix: run 'tdprov audit --store {uri}' once the store answers"
                in done.stderr), done.stderr[-3000:]


_ON_A_HUNG_STORE = """
import sys, time
from openlineage.client import OpenLineageClient
from bundle_support import run_events
from prov_common.bundle import transport
from prov_common.store.local import LocalStore

class Held(LocalStore):  # a hung local mount: a write never ends
    def put(self, key, data):
        time.sleep(600)

transport.open_store = lambda *args, **kwargs: Held(sys.argv[1])
"""

_CLOSED_ON_A_HUNG_STORE = _ON_A_HUNG_STORE + """
for bound in sys.argv[3:]:  # a transport of its own per bound, one after the other in this process
    held = transport.ProvenanceTransport(transport.ProvenanceConfig(store=sys.argv[1], spool=sys.argv[2], timeout=0.2))
    client = OpenLineageClient(transport=held)
    start = run_events()[0]
    held.emit(start)  # goes on in the background past its bound
    began = time.monotonic()
    closed = client.close() if bound == "-1" else client.close(float(bound))
    print(start["run"]["runId"], closed, time.monotonic() - began, flush=True)
"""


def test_closing_a_transport_whose_store_hangs_waits_its_bound_then_spools_and_names_what_is_left(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``close()`` (OpenLineageClient.close, as a script ends) joined the transport's thread with no bound, so a store
    that does not answer (a hung mount) held the process open for good. It waits the caller's bound (1.5 s), or
    TDPROV_EXIT_TIMEOUT (1 s) for OpenLineage's "until done" (-1), then spools and names the write left as a process's
    exit does, and returns False; the process ends, and 'tdprov flush' stages the events. One process closes a
    transport of each kind in turn."""
    import subprocess
    import sys

    from prov_common.cli import main

    store, spool = tmp_path / "s", tmp_path / "spool"
    done = subprocess.run([sys.executable, "-c", _CLOSED_ON_A_HUNG_STORE, str(store), str(spool), "1.5", "-1"],
                          capture_output=True, text=True, timeout=60, cwd=Path(__file__).parent,
                          env={**os.environ, "TDPROV_EXIT_TIMEOUT": "1"})
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
    closes = [line.split() for line in done.stdout.splitlines()]
    warned = [line for line in done.stderr.splitlines() if "still under way" in line]
    assert len(closes) == len(warned) == 2, (done.stdout, warned)
    for (run_id, closed, after), waited, said in zip(closes, (1.5, 1.0), warned, strict=True):
        assert closed == "False" and waited <= float(after) < waited + 3, (waited, done.stdout)
        assert (f"tdprov: 1 write still under way after {waited:.1f}s as the transport is closed (the START event of "
                f"run {run_id}): handed to the outbox in {spool}. Fix: run 'tdprov flush --store {store}'") in said, said
    assert main(["flush", "--store", str(store), "--spool", str(spool)]) == 0, capsys.readouterr()
    staged = [key.split("/")[1] for key in open_store(str(store)).list("staging/") if key.endswith(".json")]
    assert sorted(staged) == sorted(run_id for run_id, _, _ in closes), staged


_STRICT_ENDING_ON_A_HUNG_STORE = _ON_A_HUNG_STORE + """
from prov_common.errors import StoreUnavailableError

strict = transport.ProvenanceTransport(transport.ProvenanceConfig(store=sys.argv[1], spool=sys.argv[2], timeout=0.2,
                                                                  strict=True))
start, complete = run_events()
for event in (start, complete):
    try:
        strict.emit(event)
    except StoreUnavailableError as exc:  # strict: its caller is told, and the write goes on in the background
        print(exc.what, file=sys.stderr, flush=True)
print(start["run"]["runId"], flush=True)
"""


def test_a_strict_transport_spools_and_names_the_writes_a_hung_store_holds_as_its_process_ends(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Strict mode raises to a caller that can still act; the process's end has none. Yet at a strict transport's end
    the writes a store that does not answer held were done again against it strictly, so they raised instead of going
    to the outbox: the run's events were lost ("not all could be spooled"). They are spooled and named as in any mode,
    and 'tdprov flush' stages the events and seals the run."""
    import subprocess
    import sys

    from prov_common.cli import main

    store, spool = tmp_path / "s", tmp_path / "spool"
    done = subprocess.run([sys.executable, "-c", _STRICT_ENDING_ON_A_HUNG_STORE, str(store), str(spool)],
                          capture_output=True, text=True, timeout=60, cwd=Path(__file__).parent,
                          env={**os.environ, "TDPROV_EXIT_TIMEOUT": "1"})
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
    run_id = done.stdout.split()[-1]
    assert done.stderr.count("tdprov: writing the event took more than 0.2s") == 2, done.stderr[-3000:]  # both raised
    [warned] = [line for line in done.stderr.splitlines() if "still under way" in line]
    assert (f"tdprov: 2 writes still under way after 1.0s as this process ends (the START event of run {run_id}; the "
            f"COMPLETE event of run {run_id}): handed to the outbox in {spool}. Fix: run 'tdprov flush --store {store}'"
            in warned), warned
    assert main(["flush", "--store", str(store), "--spool", str(spool)]) == 0, capsys.readouterr()
    sealed = open_store(str(store))
    assert verify_bundle(sealed, run_id, trust_from_settings(Settings.from_env())).ok
    events = read_bundle(sealed, run_id).files["events.jsonl"].splitlines()
    assert [e["eventType"] for e in map(json.loads, events)] == ["START", "COMPLETE"]


def test_closing_a_strict_transport_whose_check_outlives_its_bound_waits_for_its_writes_then_raises(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A strict transport raised from close()'s check of the runs it took for open once the check outlived its bound,
    which skipped the wait for the writes after it and the worker's shutdown: a write the store would have taken within
    close's bound was left to whatever ended the process. close() now waits for the writes (and the check) within its
    bound, then raises the check's error."""
    from bundle_support import strict_on_slow_writes
    from prov_common.errors import StoreUnavailableError

    store, strict = strict_on_slow_writes(tmp_path, monkeypatch, 1.0)  # each write past the bound (0.2 s)
    start = run_events()[0]
    with pytest.raises(StoreUnavailableError):
        strict.emit(start)  # strict: raises past its bound, and the write goes on in the background
    with pytest.raises(StoreUnavailableError, match="the check of the runs this process took for open took more than 0.2s"):
        strict.close(5.0)
    staged = [key for key in open_store(str(store)).list("staging/") if key.endswith(".json")]
    assert [key.split("/")[1] for key in staged] == [start["run"]["runId"]], staged  # written before close raised
    assert strict._executor is None  # the worker was let go


class _HungCheck(LocalStore):
    """A store whose existence checks hang once ``hang`` is set (a mount that stops answering after the writes), 3 s at
    most, or until ``answers`` is set."""

    hang = False

    def __init__(self, root: str) -> None:
        super().__init__(root)
        self.answers = threading.Event()

    def exists(self, key: str) -> bool:
        if self.hang:
            self.answers.wait(3)
        return super().exists(key)


def test_a_check_of_the_runs_taken_for_open_on_a_hung_store_is_named_once_with_its_whole_bound(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A check of the runs taken for open that a hung store held past its bound gave two warnings for one cause: "took
    more than 1s; it continues in the background", then, as the transport closed, the same check named with its run
    and bound. It is named once, when it is left, with the run it leaves unchecked."""
    uri = str(tmp_path / "s")
    transport = ProvenanceTransport(ProvenanceConfig(store=uri))
    transport._store = store = _HungCheck(uri)
    start = run_events()[0]
    transport.emit(start)  # taken for open: its START staged here, no end
    store.hang, worker = True, transport._executor
    with caplog.at_level(logging.DEBUG, logger="prov_common"):
        assert not transport.close(1.0)
    store.answers.set()  # the check left in the background ends here, not inside a later test that patches LocalStore
    worker._thread.join(5)
    assert not worker._thread.is_alive()
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warned) == 1, warned
    assert warned[0].startswith(f"tdprov: the check of the runs this process took for open ({start['run']['runId']}) was "
                                f"still under way after 1.0s as the transport is closed (store {uri} does not answer)")


def test_no_check_is_queued_when_no_run_is_taken_for_open(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """With every run this process started ended here, the check of the runs taken for open asks nothing; queued all
    the same with no time left (a caller's bound spent), it warned "took more than 0s"."""
    transport = ProvenanceTransport(ProvenanceConfig(store=str(tmp_path / "s")))
    for item in run_events():
        transport.emit(item)
    with caplog.at_level(logging.DEBUG, logger="prov_common"):
        transport.name_late_events(0)
        assert transport.close()
    assert "took more than" not in caplog.text and "check of the runs" not in caplog.text, caplog.text


def test_a_strict_transport_closed_mid_process_says_it_was_closed_not_that_the_process_is_ending(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """close() waits for the check of the runs taken for open and the writes within its bound, yet its strict error
    said the check "continues in the background"; and once a write outlived close's bound, a later strict emit was
    refused because "the process is ending", where the process lived on and its user had closed the transport. Both
    now say what happened."""
    from bundle_support import strict_on_slow_writes
    from prov_common.errors import StoreUnavailableError

    store, strict = strict_on_slow_writes(tmp_path, monkeypatch, 1.5)  # each write past the bound (0.2 s) and close's
    start, complete = run_events()
    with pytest.raises(StoreUnavailableError):
        strict.emit(start)
    with pytest.raises(StoreUnavailableError) as closed:
        strict.close(0.5)
    assert closed.value.what == ("tdprov: the check of the runs this process took for open took more than 0.2s; close() "
                                 "waited for it and the writes 0.5s at most in all, then closed the transport (a check "
                                 "left unfinished is named in a warning)."), closed.value.what
    with pytest.raises(StoreUnavailableError) as refused:
        strict.emit(complete)  # the live caller is told why the store takes nothing now
    assert (f"the transport was closed and store {store} did not finish its writes within 0.5s"
            in refused.value.what), refused.value.what
    assert "process is ending" not in refused.value.what


def test_a_writer_that_took_a_run_for_open_says_so_when_the_sealed_bundle_cannot_be_read(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A writer that took a run for open and finds it sealed by another process, whose events.jsonl cannot be read now,
    cannot tell which of its events the bundle lacks: it says so, with why and that the audit names them, in one warning
    with the terminal event that came after the sealing."""
    uri = str(tmp_path / "s")
    writer, _, start = _taken_for_open_then_sealed(uri)
    run_id = start["run"]["runId"]
    writer.emit(event(run_id, "RUNNING", "2026-03-01T10:00:03Z"))
    (tmp_path / "s" / "bundles" / run_id / "events.jsonl").unlink()
    with caplog.at_level(logging.WARNING, logger="prov_common"):
        writer.emit(event(run_id, "FAIL", "2026-03-01T10:00:06Z"))
    said = f"tdprov: run {run_id} was sealed by another process after this one staged its START; whether the 2 events "
    assert said in caplog.text and "are in its bundle cannot be told now (" in caplog.text, caplog.text
    assert f"bundles/{run_id}/events.jsonl" in caplog.text and "'tdprov audit' names those that are not" in caplog.text
    [warned] = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]  # one, the terminal event in it
    assert f"; its FAIL event timed 2026-03-01T10:00:06Z (staged as staging/{run_id}/" in warned, warned


def test_an_audit_that_verifies_a_sealed_run_compares_its_staged_events_with_the_events_it_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The audit that logs a run, and every --full audit, compares the run's staged events with the events.jsonl its
    verification read (each line's digest): the file is read once, not again for the comparison, and a late event staged
    under its own time, before the sealing, is still named by both."""
    from datetime import timedelta

    from prov_common.audit.engine import run_audit
    from prov_common.audit.model import CHECK_UNFINISHED

    uri = str(tmp_path / "store")
    (start, complete), (other_start, other_end) = run_events(), run_events()
    run_id, other = start["run"]["runId"], other_start["run"]["runId"]
    writer, sealer = (ProvenanceTransport(ProvenanceConfig(store=uri)) for _ in range(2))
    writer.emit(start)
    assert sealer.emit(complete).status == "written"
    writer.emit(event(run_id, "RUNNING", "2026-03-01T10:00:03Z"))  # after the sealing, staged under its own time
    for item in (other_start, other_end):
        sealer.emit(item)
    store = open_store(uri)
    read: list[str] = []
    get = type(store).get
    monkeypatch.setattr(type(store), "get", lambda self, key, *a, **k: read.append(key) or get(self, key, *a, **k))
    for n, full in enumerate((False, True)):  # the first audit (it logs both runs), then --full
        read.clear()
        audit = run_audit(store, full=full, stale_after=timedelta(0), report_dir=tmp_path / f"r{n}", progress=False, workers=1)
        [finding] = audit.check(CHECK_UNFINISHED).findings
        assert finding.run_id == run_id and "timed 2026-03-01T10:00:03Z, before the sealing" in finding.what, finding.what
        assert read.count(f"bundles/{other}/events.jsonl") == 1, read


def test_an_audit_with_nothing_newly_staged_compares_no_sealed_run_staged_shortly_before_the_last_listing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Staged events the store dated in the 15 minutes before the newest one an audit listed are compared again by the
    next audit only when that window now shows another key (a write under way as it listed): runs sealed minutes before
    an audit are not compared again by every audit after it while nothing is staged. A late event staged later is named."""
    from datetime import timedelta

    from prov_common.audit.engine import run_audit
    from prov_common.audit.model import CHECK_UNFINISHED

    uri = str(tmp_path / "store")
    (start, complete), (other_start, other_end) = run_events(), run_events()
    run_id, other = start["run"]["runId"], other_start["run"]["runId"]
    writer, sealer = (ProvenanceTransport(ProvenanceConfig(store=uri)) for _ in range(2))
    writer.emit(start)
    for item in (complete, other_start, other_end):
        sealer.emit(item)
    store = open_store(uri)
    assert run_audit(store, stale_after=timedelta(0), report_dir=tmp_path / "r0", progress=False).check(CHECK_UNFINISHED).findings == []
    read: list[str] = []
    get = type(store).get
    monkeypatch.setattr(type(store), "get", lambda self, key, *a, **k: read.append(key) or get(self, key, *a, **k))
    for n in range(2):
        quiet = run_audit(store, stale_after=timedelta(0), report_dir=tmp_path / f"q{n}", progress=False)
        assert not quiet.full and quiet.check(CHECK_UNFINISHED).findings == []
        assert not [k for k in read if k.endswith("/events.jsonl")], read
    writer.emit(event(run_id, "RUNNING", "2026-03-01T10:00:03Z"))  # after the sealing, staged under its own time
    for n in range(2):
        read.clear()
        audit = run_audit(store, stale_after=timedelta(0), report_dir=tmp_path / f"r{n + 1}", progress=False)
        [finding] = audit.check(CHECK_UNFINISHED).findings
        assert finding.run_id == run_id and "timed 2026-03-01T10:00:03Z, before the sealing" in finding.what, finding.what
        assert f"bundles/{other}/events.jsonl" not in read, read
    # an event the store dates inside the window an audit already listed (an S3 put under way as it listed, dated by when
    # it began): that window changed, so its runs are compared again and the event is named
    late = event(other, "RUNNING", "2026-03-01T10:00:04Z")
    key = staged_event_key(late)
    listed = type(store).list_info
    window = min(i.stored for i in listed(store, "staging/", tags_for=lambda _k: True) if i.stored is not None)
    store.put(key, json.dumps(late).encode())

    def dated_before(self, prefix="", **kw):
        for info in listed(self, prefix, **kw):
            yield dataclasses.replace(info, stored=window) if info.key == key and info.stored is not None else info
    monkeypatch.setattr(type(store), "list_info", dated_before)
    audit = run_audit(store, stale_after=timedelta(0), report_dir=tmp_path / "r3", progress=False)
    assert {f.run_id for f in audit.check(CHECK_UNFINISHED).findings} == {run_id, other}, audit.check(CHECK_UNFINISHED).findings


def test_non_terminal_events_of_a_run_this_process_started_ask_the_store_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whether an event comes after its run's seal is asked of the store once for a START (the run is then known
    open here) and once for the terminal event (another process may have sealed the run), never for the events between."""
    asked: list[str] = []
    exists = LocalStore.exists
    monkeypatch.setattr(LocalStore, "exists", lambda self, key: asked.append(key) or exists(self, key))
    transport = ProvenanceTransport(ProvenanceConfig(store=str(tmp_path / "s")))
    start, complete = run_events()
    run_id = start["run"]["runId"]
    statement = f"bundles/{run_id}/statement.dsse.json"
    transport.emit(start)
    assert asked == [statement]
    for second in range(1, 5):
        transport.emit(event(run_id, "RUNNING", f"2026-03-01T10:00:0{second}Z"))
    assert asked == [statement]
    assert transport.emit(complete).status == "written"
    assert asked[:2] == [statement] * 2
    assert read_bundle(open_store(tmp_path / "s"), run_id).manifest.event_count == 6


def test_a_late_event_spooled_in_an_outage_is_warned_about_without_the_key_it_will_not_have(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A RUNNING event of a run this process sealed, emitted while the store cannot take it, waits in the spool under
    its own time: the warning named that key as where it stays staged, 'stamped when it arrived', but the flush stages
    it under the time it is delivered. The warning says that it is spooled and will be staged when delivered."""
    from prov_common.bundle.layout import parse_stamp
    from prov_common.errors import StoreUnavailableError

    uri = str(tmp_path / "s")
    start, complete = run_events()
    run_id = start["run"]["runId"]
    sealing = ProvenanceTransport(ProvenanceConfig(store=uri, spool=str(tmp_path / "spool")))
    sealing.emit(start)
    assert sealing.emit(complete).status == "written"
    with monkeypatch.context() as down, caplog.at_level(logging.WARNING, logger="prov_common"):
        down.setattr(LocalStore, "put", lambda self, key, data: (_ for _ in ()).throw(StoreUnavailableError("down", fix="wait")))
        sealing.emit(event(run_id, "RUNNING", "2026-03-01T10:00:03Z"))
    [warning] = [r.getMessage() for r in caplog.records if "was sealed already" in r.getMessage()]
    assert warning.startswith(f"tdprov: run {run_id} was sealed already: its RUNNING event timed 2026-03-01T10:00:03Z "
                              "arrived after that; it is spooled (the store cannot take it now) and will be staged when "
                              "delivered, stamped when it arrives, in no bundle (the audit names it)."), warning
    assert "20260301T100003" not in warning and "stays staged as" not in warning
    before = datetime.now(timezone.utc)
    assert sealing.outbox.flush(sealing.store).delivered == 1
    store = open_store(uri)
    stamps = sorted(parse_stamp(k.rsplit("/", 1)[1].split("-", 1)[0]) for k in store.list(f"staging/{run_id}/")
                    if k.count("/") == 2)  # START, COMPLETE, and the RUNNING staged when delivered, as warned
    assert len(stamps) == 3 and stamps[-1] >= before, stamps


def test_an_event_sent_again_after_its_runs_seal_is_staged_once_whoever_delivers_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A RUNNING event of a sealed run that the producer sends again (from the spool of an outage, then directly, then
    from another process) was staged once per sending, each stamped when it arrived: the audit counted one late event
    per sending. Every delivery finds the key the first one chose (recorded once under the event's own time and
    digest), so the audit names one late event."""
    from datetime import timedelta

    from prov_common.audit.engine import run_audit
    from prov_common.audit.model import CHECK_UNFINISHED
    from prov_common.errors import StoreUnavailableError

    uri = str(tmp_path / "s")
    start, complete = run_events()
    run_id = start["run"]["runId"]
    sealing = ProvenanceTransport(ProvenanceConfig(store=uri, spool=str(tmp_path / "spool-a")))
    sealing.emit(start)
    assert sealing.emit(complete).status == "written"
    running = event(run_id, "RUNNING", "2026-03-01T10:00:03Z")
    with monkeypatch.context() as down:
        down.setattr(LocalStore, "put", lambda self, key, data: (_ for _ in ()).throw(StoreUnavailableError("down", fix="wait")))
        sealing.emit(running)  # spooled
    assert sealing.outbox.flush(sealing.store).delivered == 1
    store = open_store(uri)
    staged = sorted(k for k in store.list(f"staging/{run_id}/") if k.count("/") == 2)
    assert len(staged) == 3
    sealing.emit(running)
    ProvenanceTransport(ProvenanceConfig(store=uri, spool=str(tmp_path / "spool-b"))).emit(running)
    assert sorted(k for k in store.list(f"staging/{run_id}/") if k.count("/") == 2) == staged
    audit = run_audit(store, stale_after=timedelta(0), report_dir=tmp_path / "report", progress=False)
    [finding] = audit.check(CHECK_UNFINISHED).findings
    assert finding.run_id == run_id and "and 1 event was staged for it after that" in finding.what, finding.what


def test_a_store_error_whose_fix_names_another_store_reads_as_a_sentence_with_the_setting_it_came_from(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A store that refuses a write for its permissions told to "choose another TDPROV_STORE"; a transport whose store
    came from elsewhere put its setting in place of the name, so an IO manager's said "choose another the
    ProvenanceIOManager's 'store' config". The fix points the setting it names at another folder."""
    import errno

    uri = str(tmp_path / "s")
    transport = ProvenanceTransport(ProvenanceConfig(store=uri, strict=True,
                                                     store_source="the ProvenanceIOManager's 'store' config"))

    def refused(self: LocalStore, key: str, source: object) -> bool:
        raise self._os_error("write", key, PermissionError(errno.EACCES, "Permission denied"))

    monkeypatch.setattr(LocalStore, "_create", refused)
    with pytest.raises(StoreError) as raised:
        transport.emit(run_events()[0])
    assert raised.value.fix == (f"make {LocalStore(uri).root} writable by this user, or point the "
                                "ProvenanceIOManager's 'store' config at another folder"), raised.value.fix


def test_a_start_staged_as_the_check_of_the_runs_taken_for_open_is_asked_for_is_checked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check of the runs taken for open is skipped when none is taken and no write is under way; it asked the runs
    first, then the writes, so a START staged between the two (its write under way at the first, done at the second)
    was in neither, and the check of its run was skipped. The writes are asked first."""
    uri = str(tmp_path / "s")
    transport = ProvenanceTransport(ProvenanceConfig(store=uri, timeout=0.1))
    gate = threading.Event()
    created = LocalStore._create

    def held(self: LocalStore, key: str, source: object) -> bool:
        gate.wait(10)
        return created(self, key, source)

    monkeypatch.setattr(LocalStore, "_create", held)
    transport.emit(run_events()[0])  # past its bound: the START's write goes on in the background
    assert transport._outlived
    taken, asked = transport._taken_for_open, []

    def staged_meanwhile() -> list[str]:  # the runs as they were, then the START's write ends
        runs = taken()
        if threading.current_thread() is threading.main_thread() and not gate.is_set():
            gate.set()
            deadline = time.monotonic() + 10
            while transport._outlived and time.monotonic() < deadline:
                time.sleep(0.01)
        return runs

    monkeypatch.setattr(transport, "_taken_for_open", staged_meanwhile)
    monkeypatch.setattr(transport, "_name_late_events", lambda: asked.append(True))
    threading.Timer(0.5, gate.set).start()  # asked for the writes first, the check waits for the START's write
    transport.name_late_events()
    assert transport.settle(5) == []  # waits for the check past its bound (the transport's 0.1 s)
    assert asked == [True]


def test_an_openlineage_python_event_is_serialised_once_as_it_is_emitted_and_its_write_named_as_its_dict(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each write is named as it is handed to the transport's worker (for a settle that finds it under way): the name is
    read from the event's type and run id, not from the whole event serialised a second time, and is the name its
    dict gets."""
    from openlineage.client.serde import Serde

    from prov_common.bundle import transport as core

    serialised = []
    to_dict = Serde.to_dict.__func__

    def counted(cls: type, obj: object) -> object:
        serialised.append(type(obj).__name__)
        return to_dict(cls, obj)
    monkeypatch.setattr(Serde, "to_dict", classmethod(counted))
    store = tmp_path / "store"
    transport = ProvenanceTransport(ProvenanceConfig(store=str(store)))
    run_id, digest = str(uuid.uuid4()), "blake3:" + "c" * 64
    events = [_ol_event(run_id, state, digest) for state in (RunState.START, RunState.COMPLETE)]
    for one in events:
        transport.emit(one)
    assert serialised == ["RunEvent", "RunEvent"]
    assert verify_bundle(open_store(store), run_id, trust_from_settings(Settings.from_env())).ok
    for one in events:
        as_dict = to_dict(Serde, one)
        assert core._named((one,), "event") == core._named((as_dict,), "event") == (
            f"the {as_dict['eventType']} event of run {run_id}")
        assert core._run_of((one,)) == core._run_of((as_dict,)) == run_id
    assert core._named(({"eventType": "START"},), "event") == "an event"


def test_an_emitted_event_is_written_as_canonical_json_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An event was written as canonical JSON twice as it was emitted: once redacted (then parsed back, for a
    ``prepare_event`` to read), once again after its check, to the same bytes. Without a ``prepare_event`` the first
    bytes are staged, when they write themselves again (the staged bytes, and so the bundle, are unchanged)."""
    from prov_common.bundle import transport as core

    written: list[str] = []

    def counting(function):  # noqa: ANN001, ANN202
        def wrapped(value, *args, **kwargs):  # noqa: ANN001, ANN202
            if isinstance(value, dict) and "eventType" in value:
                written.append(value["eventType"])
            return function(value, *args, **kwargs)
        return wrapped
    for name in ("canonical_bytes", "canonical_form"):
        if hasattr(core, name):
            monkeypatch.setattr(core, name, counting(getattr(core, name)))
    store = tmp_path / "store"
    transport = ProvenanceTransport(ProvenanceConfig(store=str(store)))
    run_id, digest = str(uuid.uuid4()), "blake3:" + "d" * 64
    for state in (RunState.START, RunState.COMPLETE):
        transport.emit(_ol_event(run_id, state, digest))
    assert written == ["START", "COMPLETE"], written
    assert verify_bundle(open_store(store), run_id, trust_from_settings(Settings.from_env())).ok
