"""Writers on an S3-compatible server that ignores conditional writes (``If-None-Match: *``): write-once rests on
it, so the writer that creates the store's identity checks it, marks the identity when the server accepts a second
create, and every writer of such a store warns once per process (strict mode: refuses to seal).

moto's S3 server honours the condition; behind the fault proxy that drops the ``If-None-Match`` header it is a
server that ignores it.
"""
from __future__ import annotations

import json
import logging
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from bundle_support import run_events
from prov_common.bundle import list_bundles
from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport
from prov_common.errors import StoreError
from prov_common.store import open_store
from prov_common.store.identity import IDENTITY_KEY, ensure_identity, read_identity
from test_reliability_proxy import FaultProxy, fault_proxy  # noqa: F401 - fixtures

NOT_WRITE_ONCE = "ignores the condition of its writes (If-None-Match: *)"


def _emit_run(transport: ProvenanceTransport) -> str:
    run_id = str(uuid.uuid4())
    for event in run_events(run_id):
        transport.emit(event)
    return run_id


def _raw_identity(store_uri: str) -> dict:
    return json.loads(open_store(store_uri).get(IDENTITY_KEY))


def test_a_writer_that_creates_the_identity_on_a_server_ignoring_if_none_match_marks_it_and_warns_once(
        s3_server, fault_proxy: FaultProxy, tmp_path: Path, caplog) -> None:  # noqa: F811
    caplog.set_level(logging.WARNING, logger="prov_common.store.identity")
    fault_proxy.drop_headers = {"if-none-match"}
    store_uri = f"s3://{s3_server.create_bucket()}/p"
    transport = ProvenanceTransport(ProvenanceConfig(store=store_uri, spool=str(tmp_path / "spool")))
    runs = [_emit_run(transport), _emit_run(transport)]

    assert {s.run_id for s in list_bundles(open_store(store_uri))} == set(runs)  # written all the same
    identity = _raw_identity(store_uri)
    assert identity["writeOnce"] == "ignored", identity
    warned = [r.getMessage() for r in caplog.records if NOT_WRITE_ONCE in r.getMessage()]
    assert len(warned) == 1, warned  # once per process, not per run
    assert fault_proxy.endpoint in warned[0] and "If-None-Match: * on PutObject" in warned[0], warned[0]
    assert sorted(open_store(store_uri).list("_tdprov/")) == [IDENTITY_KEY]  # no probe object

    # another process finds the mark and checks again: still ignored, so it warns too
    probe = (f"import logging; logging.basicConfig(); from prov_common.store import open_store; "
             f"from prov_common.store.identity import writer_store_id; print(writer_store_id(open_store({store_uri!r})))")
    child = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert child.returncode == 0 and child.stdout.strip() == identity["storeId"], child.stderr
    assert NOT_WRITE_ONCE in child.stderr, child.stderr


def test_strict_mode_refuses_to_seal_on_a_server_ignoring_if_none_match(
        s3_server, fault_proxy: FaultProxy, tmp_path: Path) -> None:  # noqa: F811
    fault_proxy.drop_headers = {"if-none-match"}
    store_uri = f"s3://{s3_server.create_bucket()}/p"
    transport = ProvenanceTransport(ProvenanceConfig(store=store_uri, spool=str(tmp_path / "spool"), strict=True))
    with pytest.raises(StoreError, match=r"If-None-Match: \*") as info:
        _emit_run(transport)
    assert "TDPROV_STRICT" in (info.value.fix or "") and "tdprov store init" in (info.value.fix or "")
    assert list(list_bundles(open_store(store_uri))) == []


def test_a_server_that_honours_if_none_match_costs_no_object_and_a_fixed_server_is_not_warned_about(
        s3_server, fault_proxy: FaultProxy, tmp_path: Path, caplog) -> None:  # noqa: F811
    caplog.set_level(logging.WARNING, logger="prov_common.store.identity")
    store_uri = f"s3://{s3_server.create_bucket()}/p"
    transport = ProvenanceTransport(ProvenanceConfig(store=store_uri, spool=str(tmp_path / "spool"), strict=True))
    _emit_run(transport)
    assert "writeOnce" not in _raw_identity(store_uri)  # created and checked by the writer: nothing to mark
    assert sorted(open_store(store_uri).list("_tdprov/")) == [IDENTITY_KEY]
    assert not caplog.records

    # a store marked while its server ignored the condition, since fixed: the writer checks again and says nothing
    marked = f"s3://{s3_server.create_bucket()}/p"
    fault_proxy.drop_headers = {"if-none-match"}
    assert ensure_identity(open_store(marked))[0].write_once == "ignored"
    fault_proxy.drop_headers = set()
    caplog.clear()
    _emit_run(ProvenanceTransport(ProvenanceConfig(store=marked, spool=str(tmp_path / "spool3"), strict=True)))
    assert not [r for r in caplog.records if NOT_WRITE_ONCE in r.getMessage()]


def test_a_writer_keeps_the_identity_it_bound_and_what_was_found_of_write_once_when_a_reader_finds_it_gone(
        s3_server, fault_proxy: FaultProxy) -> None:  # noqa: F811
    """A process that bound the store's identity as a writer (found write-once), whose reader then found the identity
    deleted (as foreign_store or a verification does): the writer signs the id it bound, with the verdict found for it,
    and creates no identity on a server that would now ignore the condition (readers' reads never change a writer's)."""
    from prov_common.store.identity import remember, writer_store_id

    store = open_store(f"s3://{s3_server.create_bucket()}/p")
    bound = writer_store_id(store, strict=True)
    assert bound
    store.client.delete_object(Bucket=store.bucket, Key=store.prefix + IDENTITY_KEY)
    remember(store, None)  # as foreign_store does when a record names another id and none is found
    fault_proxy.drop_headers = {"if-none-match"}
    assert writer_store_id(store, strict=True) == bound
    assert read_identity(store) is None


def test_store_init_records_that_the_probe_passed(s3_store_uri: str, capsys) -> None:
    from prov_common.cli import main

    assert main(["store", "init", s3_store_uri]) in (0, 1)  # 1: versioning and Object Lock are off
    identity = read_identity(open_store(s3_store_uri))
    assert identity is not None and identity.write_once == "verified"


def test_store_init_passes_once_the_server_honours_if_none_match_again(s3_server, fault_proxy: FaultProxy) -> None:  # noqa: F811
    from prov_common.cli import main

    store_uri = f"s3://{s3_server.create_bucket()}/p"
    fault_proxy.drop_headers = {"if-none-match"}
    with pytest.raises(StoreError, match="accepted an overwrite"):
        open_store(store_uri).check_write_once()  # the probe object now holds the overwrite
    fault_proxy.drop_headers = set()
    open_store(store_uri).check_write_once()  # the server was fixed: the check passes, not a conflict with that object
    assert main(["store", "init", store_uri]) in (0, 1)
    identity = read_identity(open_store(store_uri))
    assert identity is not None and identity.write_once == "verified"


def test_a_dagster_run_on_a_server_ignoring_if_none_match_succeeds_and_says_so_once(
        s3_server, fault_proxy: FaultProxy, tmp_path: Path, monkeypatch, caplog) -> None:  # noqa: F811
    import pandas as pd
    from dagster import DagsterInstance, asset, materialize

    from prov_dagster import ProvenanceIOManager

    caplog.set_level(logging.WARNING, logger="prov_common.store.identity")
    monkeypatch.setenv("TDPROV_SPOOL", str(tmp_path / "spool"))
    fault_proxy.drop_headers = {"if-none-match"}
    store_uri = f"s3://{s3_server.create_bucket()}/p"

    @asset
    def a():
        return pd.DataFrame({"x": [1, 2, 3]})

    @asset
    def b(a):
        return a * 2

    io_manager = ProvenanceIOManager(store=store_uri, data_root=str(tmp_path / "data"))
    with DagsterInstance.ephemeral() as instance:
        assert materialize([a, b], instance=instance, resources={"io_manager": io_manager}).success
    assert len(list(list_bundles(open_store(store_uri)))) == 2  # both steps recorded
    warned = [r.getMessage() for r in caplog.records if NOT_WRITE_ONCE in r.getMessage()]
    assert len(warned) == 1 and fault_proxy.endpoint in warned[0], warned
