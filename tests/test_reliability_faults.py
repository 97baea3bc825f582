"""Store faults while pipelines record provenance: 500/503/throttling, timeouts, an unreachable
store (moto's S3 server behind a fault-injecting proxy, and a local folder that cannot be written).

Each test asserts what came out: every run's bundle is in the store exactly once and verifies, the
spool is empty afterwards, emits returned within their time bound.
"""
from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from bundle_support import indexed_runs, run_events
from mount_support import mount
from prov_common.bundle import layout, verify_bundle
from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport
from prov_common.cli import main
from prov_common.errors import StoreUnavailableError
from prov_common.signing import trust_from_settings
from prov_common.store import Outbox, open_store
from prov_common.store.base import Store
from prov_common.store.spool import read_keys
from test_reliability_proxy import FaultProxy, fast_tmp, fault_proxy  # noqa: F401 - fixtures


def _transport(store_uri: str, spool: Path, **options) -> ProvenanceTransport:
    return ProvenanceTransport(ProvenanceConfig(store=store_uri, spool=str(spool), **options))


def _emit_runs(transport: ProvenanceTransport, count: int) -> tuple[list[str], float]:
    """Emit START and COMPLETE of ``count`` runs; (run ids, slowest emit in seconds)."""
    run_ids, slowest = [], 0.0
    for _ in range(count):
        run_id = str(uuid.uuid4())
        for event in run_events(run_id):
            started = time.monotonic()
            transport.emit(event)
            slowest = max(slowest, time.monotonic() - started)
        run_ids.append(run_id)
    return run_ids, slowest


def assert_delivered_once(store_uri: str, run_ids: list[str], direct: str | None = None) -> None:
    """Every run has one index entry and one bundle that verifies; no other bundle exists.

    ``direct``: the S3 server's own endpoint, checked with the store's default bounds and retries: the fault proxy
    and its one attempt per call are for the writes under test, not for this check."""
    with pytest.MonkeyPatch.context() as checker:
        if direct is not None:
            checker.setenv("AWS_ENDPOINT_URL_S3", direct)
            for name in ("TDPROV_STORE_CONNECT_TIMEOUT", "TDPROV_STORE_READ_TIMEOUT", "TDPROV_STORE_MAX_ATTEMPTS"):
                checker.delenv(name, raising=False)
        _assert_delivered_once(store_uri, run_ids)


def _assert_delivered_once(store_uri: str, run_ids: list[str]) -> None:
    store = open_store(store_uri)
    indexed = Counter(indexed_runs(store))
    assert set(indexed) == set(run_ids), f"missing {set(run_ids) - set(indexed)}, unexpected {set(indexed) - set(run_ids)}"
    assert max(indexed.values()) == 1, f"indexed twice: {[r for r, n in indexed.items() if n > 1]}"
    bundles = {k.split("/")[1] for k in store.list(f"{layout.BUNDLES}/")}
    assert bundles == set(run_ids)
    trust = trust_from_settings()
    for run_id in run_ids:
        report = verify_bundle(store, run_id, trust)
        assert report.ok, report.findings


@pytest.mark.parametrize("fault", [("status", 503, "SlowDown"), ("status", 500, "InternalError"),
                                   ("status", 503, "ServiceUnavailable")])
def test_store_failing_during_many_runs_then_flush_and_next_emit_deliver_each_once(
        s3_server, fault_proxy: FaultProxy, fast_tmp: Path, monkeypatch, caplog, capsys, fault) -> None:
    """Runs spooled while the store fails: once it is back, the next emit delivers the oldest ``flush_limit`` spooled
    entries before its own event and leaves the others in the spool, in order; 'tdprov flush' delivers those, and
    every run is in the store once."""
    # SlowDown: 4 runs, 12 entries, two past the 10 an emit delivers from the spool first (the outbox's flush_limit,
    # 100 by default, lowered); the other faults: 5 runs, 15 entries, five past it
    runs = 4 if fault[2] == "SlowDown" else 5
    store_uri = f"s3://{s3_server.create_bucket()}/prov"
    spool = fast_tmp / "spool"
    fault_proxy.fault = lambda method, path: fault
    transport = _transport(store_uri, spool, timeout=5)
    limit = transport.outbox.flush_limit = 10
    with caplog.at_level(logging.WARNING):
        run_ids, slowest = _emit_runs(transport, runs)
    assert slowest < 5  # every emit returns within its own bound (timeout=5); the pipeline is not held up
    assert fault[2] in caplog.text and "spooled" in caplog.text
    written = Outbox(spool).pending()
    assert len(written) == 3 * runs  # START, COMPLETE staged; the bundle
    keys = {path.name: {key for key in read_keys(path) if "{now" not in key} for path in written}  # no index key: chosen as put
    assert fault_proxy.count("forward", "PUT") == 0  # nothing reached the store

    fault_proxy.fault = None  # the store is back: the next emit delivers the oldest `limit` entries first
    late_start, late_complete = run_events(str(uuid.uuid4()))
    transport.emit(late_start)
    transport.close()  # the emit's delivery, done
    left = [path.name for path in Outbox(spool).pending()]
    delivered = [path.name for path in written[:limit]]
    assert left == [path.name for path in written[limit:]], left  # the limit reached: the newest wait, none is lost
    assert len(delivered) + len(left) == len(written)
    in_store = set(open_store(store_uri).list())
    assert set().union(*(keys[name] for name in delivered)) <= in_store
    assert not set().union(*(keys[name] for name in left)) & in_store  # those left were not put, only spooled

    monkeypatch.setenv("TDPROV_SPOOL", str(spool))
    capsys.readouterr()
    assert main(["flush"]) == 0 and Outbox(spool).pending() == []
    assert capsys.readouterr().out.startswith(f"delivered {len(left)} spooled entries ")
    assert main(["flush"]) == 0  # a second flush has nothing to do
    assert capsys.readouterr().out.startswith("delivered 0 spooled entries ")
    transport.emit(late_complete)
    transport.close()
    assert Outbox(spool).pending() == []
    assert_delivered_once(store_uri, [*run_ids, late_start["run"]["runId"]], s3_server.endpoint)


def test_throttling_every_third_request_loses_and_doubles_nothing(s3_server, fault_proxy: FaultProxy,
                                                                  fast_tmp: Path) -> None:
    store_uri = f"s3://{s3_server.create_bucket()}/prov"
    spool = fast_tmp / "spool"
    counter = itertools.count()
    lock = threading.Lock()

    def every_third(method: str, path: str):
        with lock:
            return ("status", 503, "SlowDown") if next(counter) % 3 == 2 else None

    fault_proxy.fault = every_third
    transport = _transport(store_uri, spool, timeout=5)
    run_ids, _ = _emit_runs(transport, 7)  # about 3 throttled requests a run: some 21, the check needs 11
    transport.close()
    assert fault_proxy.count("503") > 10
    fault_proxy.fault = None
    report = Outbox(spool).flush()
    assert report.ok and Outbox(spool).pending() == []
    assert_delivered_once(store_uri, run_ids, s3_server.endpoint)


def test_slow_store_emit_returns_within_its_bound_and_nothing_is_lost(s3_server, fault_proxy: FaultProxy,
                                                                      fast_tmp: Path, monkeypatch) -> None:
    """Each S3 call waits 1.5 s at the proxy (read timeout 0.9 s, then the call still lands in moto 0.6 s later):
    emit gives up waiting after 0.25 s, before any S3 call could have returned or timed out."""
    store_uri = f"s3://{s3_server.create_bucket()}/prov"
    spool = fast_tmp / "spool"
    monkeypatch.setenv("TDPROV_STORE_READ_TIMEOUT", "0.9")
    transport = _transport(store_uri, spool, timeout=0.25)
    warm, _ = _emit_runs(transport, 1)  # imports, key and client made while the store is fine
    transport.close()
    fault_proxy.fault = lambda method, path: ("delay", 1.5)
    run_ids, slowest = _emit_runs(transport, 1)
    assert slowest < 0.85  # below the read timeout: no S3 call had returned or timed out yet
    transport.close()  # waits for the background work: every call timed out, so all of it is spooled
    fault_proxy.fault = None
    assert Outbox(spool).flush().ok
    assert_delivered_once(store_uri, warm + run_ids, s3_server.endpoint)


def test_strict_mode_fails_the_task_on_503(s3_server, fault_proxy: FaultProxy, tmp_path: Path) -> None:
    store_uri = f"s3://{s3_server.create_bucket()}/prov"
    fault_proxy.fault = lambda method, path: ("status", 503, "SlowDown")
    transport = _transport(store_uri, tmp_path / "spool", strict=True, timeout=5)
    with pytest.raises(StoreUnavailableError, match="SlowDown"):
        transport.emit(run_events()[0])
    assert Outbox(tmp_path / "spool").pending() == []


def test_strict_mode_failing_to_list_a_runs_staged_events_says_nothing_was_spooled(
        s3_server, fault_proxy: FaultProxy, tmp_path: Path) -> None:
    """A strict seal whose listing of the run's staged events meets a 503: its error's fix ended "spooled bundles are
    delivered by 'tdprov flush'", though strict mode spooled nothing; it says so, and to retry, as a strict write does."""
    store_uri = f"s3://{s3_server.create_bucket()}/prov"
    transport = _transport(store_uri, tmp_path / "spool", strict=True, timeout=5)
    start, complete = run_events()
    transport.emit(start)
    fault_proxy.fault = lambda method, path: ("status", 503, "SlowDown") if method == "GET" and "list-type" in path else None
    with pytest.raises(StoreUnavailableError) as raised:
        transport.emit(complete)
    assert f"cannot list '{layout.staging_prefix(start['run']['runId'])}'" in raised.value.what, raised.value
    assert raised.value.fix == "nothing was spooled (strict mode): retry when the store is back, or run without strict mode to spool", \
        raised.value.fix
    assert Outbox(tmp_path / "spool").pending() == []


def test_strict_mode_failing_to_write_a_sealed_runs_bundle_again_says_nothing_was_spooled(
        s3_server, fault_proxy: FaultProxy, tmp_path: Path) -> None:
    """A strict seal of a run another writer sealed (a Dagster retry closing an earlier attempt) writes the bundle again
    in place, not through the outbox; a 503 there left the transport with the store's fix "retry later; spooled bundles
    are delivered by 'tdprov flush'", though strict mode spools nothing. Every strict error leaves the transport (emit,
    attach, seal) in strict mode's words, retrying said once."""
    store_uri = f"s3://{s3_server.create_bucket()}/prov"
    start, complete = run_events()
    sealer = _transport(store_uri, tmp_path / "sealer-spool", timeout=5)
    sealer.emit(start)
    assert sealer.emit(complete).status == "written"
    strict = _transport(store_uri, tmp_path / "spool", strict=True, timeout=5)
    fault_proxy.fault = lambda method, path: ("status", 503, "SlowDown") if method == "PUT" and "/bundles/" in path else None
    with pytest.raises(StoreUnavailableError) as raised:
        strict.seal(start["run"]["runId"])
    assert raised.value.what.startswith(f"cannot write '{layout.bundle_prefix(start['run']['runId'])}"), raised.value
    assert raised.value.fix == "nothing was spooled (strict mode): retry when the store is back, or run without strict mode to spool", \
        raised.value.fix
    assert Outbox(tmp_path / "spool").pending() == []


def test_moto_server_stopped_mid_pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real server that stops between runs and comes back on the same port."""
    import boto3
    from moto.server import ThreadedMotoServer

    from conftest import free_port, s3_env

    port = free_port()
    for name, value in s3_env(f"http://127.0.0.1:{port}", tmp_path).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TDPROV_STORE_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("TDPROV_STORE_CONNECT_TIMEOUT", "1")
    bucket = f"lineage-{uuid.uuid4().hex[:12]}"
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1").create_bucket(Bucket=bucket)
    store_uri, spool = f"s3://{bucket}/prov", tmp_path / "spool"
    transport = _transport(store_uri, spool, timeout=5)
    before, _ = _emit_runs(transport, 1)
    server.stop()
    during, slowest = _emit_runs(transport, 2)
    assert slowest < 5 and len(Outbox(spool).pending()) == 6  # within the emit's bound
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        after, _ = _emit_runs(transport, 1)  # the next emit delivers the spool first
        transport.close()
        assert Outbox(spool).pending() == []
        assert_delivered_once(store_uri, before + during + after, f"http://127.0.0.1:{port}")
    finally:
        server.stop()


def test_local_store_on_a_read_only_volume_spools_then_flush_delivers(tmp_path: Path, fast_tmp: Path, caplog) -> None:
    """The store folder is a read-only tmpfs (EROFS) during 3 runs, then writable again."""
    store_dir, spool = tmp_path / "store", fast_tmp / "spool"
    store_dir.mkdir()
    if not mount(["-t", "tmpfs", "-o", "ro,size=4m", "tmpfs", str(store_dir)]):
        pytest.skip("cannot mount a tmpfs here")
    try:
        transport = _transport(str(store_dir), spool, timeout=5)
        with caplog.at_level(logging.WARNING):
            run_ids, _ = _emit_runs(transport, 3)
        transport.close()
        assert "Read-only file system" in caplog.text and "spooled" in caplog.text
        assert len(Outbox(spool).pending()) == 9 and not any(store_dir.iterdir())
        assert mount(["-o", "remount,rw", str(store_dir)])
        report = Outbox(spool).flush()
        assert report.ok and report.delivered == 9
        assert_delivered_once(str(store_dir), run_ids)
    finally:
        import subprocess

        subprocess.run(["umount", str(store_dir)], check=False)


@contextlib.contextmanager
def _tmpfs_store(folder: Path) -> Iterator[Path]:
    """A writable tmpfs mounted on ``folder`` for the block (remounted read-only and back by the test)."""
    folder.mkdir()
    if not mount(["-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)]):
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield folder
    finally:
        import subprocess

        subprocess.run(["umount", str(folder)], check=False)


#: How a tmpfs store is made to refuse writes (``_break_store``), and the error the store then names.
STORE_FAULTS = {"read-only": "Read-only file system", "full": "No space left on device"}


def _break_store(store_dir: Path, fault: str) -> None:
    """Make the tmpfs store refuse writes: remounted read-only (EROFS), or filled to its last byte (ENOSPC)."""
    if fault == "read-only":
        assert mount(["-o", "remount,ro", str(store_dir)])
        return
    descriptor = os.open(store_dir / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(descriptor, bytes(65536))
    except OSError:  # the disk is full
        pass
    finally:
        os.close(descriptor)


def _mend_store(store_dir: Path, fault: str) -> None:
    """Undo :func:`_break_store`."""
    if fault == "read-only":
        assert mount(["-o", "remount,rw", str(store_dir)])
    else:
        (store_dir / "filler").unlink()


def _flush_while_read_only_then_writable(store_dir: Path, spool: Path, entries: int, capsys,
                                         fault: str = "read-only") -> None:
    """``tdprov flush`` on the read-only (or full) store exits 1 and leaves every entry; once writable it delivers them."""
    capsys.readouterr()
    assert main(["flush", "--spool", str(spool)]) == 1
    captured = capsys.readouterr()
    assert f"{entries} left" in captured.out and STORE_FAULTS[fault] in captured.err
    assert len(Outbox(spool).pending()) == entries and not [p for p in spool.iterdir() if ".claim-" in p.name]
    _mend_store(store_dir, fault)
    assert main(["flush", "--spool", str(spool)]) == 0 and Outbox(spool).pending() == []


def test_local_store_turning_read_only_mid_run_spools_the_rest_of_the_run(tmp_path: Path, fast_tmp: Path,
                                                                          caplog, capsys) -> None:
    """START is staged, then the store turns read-only (EROFS) under the run's existing staging folder:
    COMPLETE and the bundle are spooled, never lost, and flushed once the store is writable again."""
    spool = fast_tmp / "spool"
    with _tmpfs_store(tmp_path / "store") as store_dir:
        transport = _transport(str(store_dir), spool, timeout=5)
        run_id = str(uuid.uuid4())
        start, complete = run_events(run_id)
        transport.emit(start)
        assert mount(["-o", "remount,ro", str(store_dir)])
        with caplog.at_level(logging.WARNING):
            result = transport.emit(complete)
        transport.close()
        assert result is not None and result.status == "spooled"
        assert "Read-only file system" in caplog.text and "could not record" not in caplog.text
        assert len(Outbox(spool).pending()) == 2  # the COMPLETE event; the bundle behind it
        _flush_while_read_only_then_writable(store_dir, spool, 2, capsys)
        assert_delivered_once(str(store_dir), [run_id])
        bundle_events = open_store(str(store_dir)).get(f"{layout.BUNDLES}/{run_id}/events.jsonl").splitlines()
        assert [json.loads(line)["eventType"] for line in bundle_events] == ["START", "COMPLETE"]


@pytest.mark.parametrize("fault", sorted(STORE_FAULTS))
def test_dagster_step_whose_store_turns_read_only_or_full_is_spooled_then_flushed(tmp_path: Path, fast_tmp: Path,
                                                                                  caplog, capsys, fault: str) -> None:
    """A real ``materialize``: loading ``a`` stages b's START, then b's body makes the store read-only, or fills its
    disk. Nothing half-written is left in the store; what it could not take is spooled and named."""
    import pandas as pd
    from dagster import DagsterInstance, asset, materialize

    from prov_dagster import ProvenanceIOManager

    spool = fast_tmp / "spool"
    with _tmpfs_store(tmp_path / "store") as store_dir:
        @asset
        def a():  # (no annotations: this module's are strings, which Dagster cannot resolve in a local scope)
            return pd.DataFrame({"x": [1, 2, 3]})

        def staged_runs() -> set[str]:
            return _staged_runs(open_store(str(store_dir)))

        @asset
        def b(a):
            deadline = time.monotonic() + 30  # b's START goes to the store from the transport's thread: wait for it
            while len(staged_runs()) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            _break_store(store_dir, fault)
            return a * 2

        io_manager = ProvenanceIOManager(store=str(store_dir), spool=str(spool), data_root=str(tmp_path / "data"))
        with DagsterInstance.ephemeral() as instance, caplog.at_level(logging.WARNING):
            assert materialize([a, b], instance=instance, resources={"io_manager": io_manager}).success
        assert "could not record" not in caplog.text and "spooled" in caplog.text and STORE_FAULTS[fault] in caplog.text
        assert fault != "full" or "free disk space" in caplog.text
        staged = staged_runs()
        assert len(staged) == 2 and Outbox(spool).pending()  # b's START made it before the store turned
        assert not [p for p in store_dir.rglob("*") if p.name.startswith(".")]  # no temporary file left behind
        entries = len(Outbox(spool).pending())
        _flush_while_read_only_then_writable(store_dir, spool, entries, capsys, fault)
        assert_delivered_once(str(store_dir), sorted(staged))


def test_strict_dagster_step_whose_store_fails_after_its_start_names_the_run_left_staged(tmp_path: Path,
                                                                                          capsys) -> None:
    """A real strict ``materialize``: loading ``a`` stages b's START, then b's body makes the local store unusable (a
    file where its folder was). Step b's error named the store's fault only, though b's run is left staged and unsealed
    (the audit later calls it unfinished); it names the run, that it is left staged, and the seal that ends it, which
    seals the run once the store is back."""
    import pandas as pd
    from dagster import asset

    store_dir, away = tmp_path / "store", tmp_path / "away"

    @asset
    def a():  # (no annotations: this module's are strings, which Dagster cannot resolve in a local scope)
        return pd.DataFrame({"x": [1, 2, 3]})

    @asset
    def b(a):
        assert len(_staged_runs(open_store(str(store_dir)))) == 2  # strict: b's START was staged as its input was loaded
        store_dir.rename(away)
        store_dir.write_bytes(b"")
        return a * 2

    failure, error = _strict_step_failure(tmp_path, store_dir, [a, b])
    store_dir.unlink()
    away.rename(store_dir)
    staged, left = _left_staged(open_store(str(store_dir)))  # a's run is sealed
    assert failure.step_key == "b" and f"run {left} is left staged in the store, not sealed: cannot write" in error
    assert (f"Fix: point the ProvenanceIOManager's 'store' config at a folder (or move {store_dir} away); once the store "
            f"is back, run 'tdprov store seal --force {left}' (provenance_failure_sensor seals it as the run fails)"
            in error), error
    capsys.readouterr()
    assert main(["store", "seal", "--force", left, "--store", str(store_dir)]) == 0, capsys.readouterr()
    assert_delivered_once(str(store_dir), sorted(staged))


def test_strict_dagster_step_whose_store_raises_an_error_not_tdprovs_after_its_start_names_the_run_left_staged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real strict ``materialize``: loading ``a`` stages b's START, then b's body makes the store's writes raise a
    ``ValueError`` (a fault of a backend, not a tdprov error). It was raised as it was, naming neither b's run, left
    staged and unsealed, nor the seal that ends it; it keeps its type, with a note that names both."""
    import pandas as pd
    from dagster import asset

    from prov_common.bundle import transport
    from prov_common.store.local import LocalStore

    class Faulty(LocalStore):
        failing = False

        def put(self, key, data):
            if type(self).failing:
                raise ValueError(f"no room for {key} in the backend's table")
            return super().put(key, data)

    opened = transport.open_store
    monkeypatch.setattr(transport, "open_store", lambda *args, **kwargs: Faulty(opened(*args, **kwargs).root))
    store_dir = tmp_path / "store"

    @asset
    def a():
        return pd.DataFrame({"x": [1, 2, 3]})

    @asset
    def b(a):
        Faulty.failing = True
        return a * 2

    failure, error = _strict_step_failure(tmp_path, store_dir, [a, b])
    staged, left = _left_staged(open_store(str(store_dir)))  # a's run is sealed
    assert failure.step_key == "b" and "ValueError: no room for staging/" in error, error
    assert (f"tdprov: run {left} is left staged in the store, not sealed. Fix: report this error to tdprov's maintainers "
            f"with its traceback; to seal what the store took of the run, run 'tdprov store seal --force {left}' "
            "(provenance_failure_sensor seals it as the run fails)" in error), error
    Faulty.failing = False
    assert main(["store", "seal", "--force", left, "--store", str(store_dir)]) == 0
    assert_delivered_once(str(store_dir), sorted(staged))


def test_strict_dagster_step_whose_declared_upstream_cannot_be_read_after_its_start_names_the_run_left_staged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real strict ``materialize``: loading ``a`` stages b's START, then, as b ends, reading the version of ``c`` (an
    upstream b declares and does not load) from the Dagster instance raises a ``RuntimeError`` (injected). It was raised
    as it was, naming neither b's run, left staged and unsealed, nor the seal that ends it; it keeps its type, with the
    note an event's error gets (the run's failure, in its process, then seals it from what was staged)."""
    import pandas as pd
    from dagster import asset

    from prov_dagster import deps

    def unreadable(*args, **kwargs):
        raise RuntimeError("the instance's event log is locked")

    monkeypatch.setattr(deps, "event_metadata", unreadable)
    store_dir = tmp_path / "store"

    @asset
    def a():
        return pd.DataFrame({"x": [1, 2, 3]})

    @asset
    def c():
        return pd.DataFrame({"y": [1]})

    @asset(deps=[c])
    def b(a):
        return a * 2

    failure, error = _strict_step_failure(tmp_path, store_dir, [a, c, b])
    staged = _staged_runs(open_store(str(store_dir)))
    [left] = [run_id for run_id in staged if f"tdprov: run {run_id} is left staged" in error]
    assert failure.step_key == "b" and "RuntimeError: the instance's event log is locked" in error, error
    assert (f"tdprov: run {left} is left staged in the store, not sealed. Fix: report this error to tdprov's maintainers "
            f"with its traceback; to seal what the store took of the run, run 'tdprov store seal --force {left}' "
            "(provenance_failure_sensor seals it as the run fails)" in error), error
    assert_delivered_once(str(store_dir), sorted(staged))  # the run's failure sealed it in the run's process


def _staged_runs(store: Store) -> set[str]:
    """The runs that have objects staged in ``store``."""
    return {key.split("/")[1] for key in store.list(f"{layout.STAGING}/")}


def _left_staged(store: Store) -> tuple[set[str], str]:
    """The runs staged in ``store`` and the one of them left unsealed (it has no index entry; the others are sealed)."""
    staged = _staged_runs(store)
    [left] = staged - set(indexed_runs(store))
    return staged, left


def _strict_step_failure(tmp_path: Path, store_dir: Path, assets: list) -> tuple:
    """Materialize ``assets`` with a strict ProvenanceIOManager writing to ``store_dir``: the one step failure and its
    error's text."""
    from dagster import DagsterInstance, materialize

    from prov_dagster import ProvenanceIOManager

    io_manager = ProvenanceIOManager(store=str(store_dir), spool=str(tmp_path / "spool"), data_root=str(tmp_path / "data"),
                                     strict=True)
    with DagsterInstance.ephemeral() as instance:
        result = materialize(assets, instance=instance, resources={"io_manager": io_manager}, raise_on_error=False)
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    return failure, failure.step_failure_data.error.to_string()


def _failed_then_sensed(tmp_path: Path, assets: list) -> tuple[set[str], set[str]]:
    """Materialize ``assets`` with a strict ProvenanceIOManager writing to the local store ``tmp_path / "store"``, which
    one of them makes unusable (its folder moved to ``tmp_path / "away"``, a file in its place); put the store back and
    evaluate the failure sensor in this process (strict). The runs staged, and those sealed, before the sensor."""
    from dagster import DagsterInstance, materialize

    from dagster_support import evaluate_failure_sensor
    from prov_dagster import ProvenanceIOManager, ProvenanceResource

    store_dir, away, spool = tmp_path / "store", tmp_path / "away", str(tmp_path / "spool")
    io_manager = ProvenanceIOManager(store=str(store_dir), spool=spool, data_root=str(tmp_path / "data"), strict=True)
    with DagsterInstance.ephemeral() as instance:
        result = materialize(assets, instance=instance, resources={"io_manager": io_manager}, raise_on_error=False)
        store_dir.unlink()
        away.rename(store_dir)
        store = open_store(str(store_dir))
        staged, sealed = _staged_runs(store), set(indexed_runs(store))
        evaluate_failure_sensor(result, instance, ProvenanceResource(store=str(store_dir), spool=spool, strict=True))
    return staged, sealed


def test_strict_failure_sensor_in_the_steps_process_seals_a_run_whose_fail_could_not_be_written(tmp_path: Path) -> None:
    """A real strict ``materialize``: loading ``a`` stages b's START, then b's body makes the local store unusable (a
    file where its folder was) and fails, so the FAIL of b's run cannot be written. The failure sensor evaluated next in
    the same process (a real evaluation, the store back) took b's run for ended and closed nothing, saying nothing: the
    run stayed a START with no end. A run whose end could not be written counts as not ended: the sensor seals it with
    its FAIL."""
    import pandas as pd
    from dagster import asset

    store_dir, away = tmp_path / "store", tmp_path / "away"

    @asset
    def a():
        return pd.DataFrame({"x": [1, 2, 3]})

    @asset
    def b(a):
        store_dir.rename(away)
        store_dir.write_bytes(b"")
        raise ValueError("b broke")

    staged, indexed = _failed_then_sensed(tmp_path, [a, b])
    [left] = staged - indexed  # b's START, and no end
    assert_delivered_once(str(store_dir), sorted(staged))
    sealed = open_store(str(store_dir)).get(layout.bundle_key(left, layout.EVENTS_FILE))
    events = [json.loads(line) for line in sealed.splitlines()]
    assert [e["eventType"] for e in events] == ["START", "FAIL"], events
    assert "b broke" in json.dumps(events[-1]), events[-1]


def test_strict_failure_sensor_seals_a_refused_output_whose_fail_could_not_be_written_with_its_failure_sample(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real strict ``materialize``: loading ``a`` stages b's START, then b's body makes the local store unusable and
    returns a table that fails its schema under the ``fail`` policy, so neither the failure sample of that output nor
    the FAIL naming it can be written. The failure sensor evaluated next in the same process (the store back), once the
    transport no longer holds what it could not write (it remembers the newest ``MAX_PENDING_RUNS`` runs only; none
    here), emitted the FAIL again without the sample, counted as sent by the first try: the bundle named a failure
    sample it did not hold. It holds it now, its FAIL naming the refused output once."""
    import io

    import pandas as pd
    import pandera.pandas as pa
    from dagster import asset

    from prov_common.bundle import read_bundle, transport
    from prov_dagster import provenance_asset

    class Positive(pa.DataFrameModel):
        x: int = pa.Field(ge=0)

    store_dir, away = tmp_path / "store", tmp_path / "away"

    @asset
    def a():
        return pd.DataFrame({"x": [1, 2, 3]})

    @provenance_asset(schema=Positive, quality_policy="fail")
    def b(a):
        store_dir.rename(away)
        store_dir.write_bytes(b"")
        return pd.DataFrame({"x": [1, -2, -3]})

    monkeypatch.setattr(transport, "MAX_PENDING_RUNS", 0)  # as once the process emitted more runs since
    staged, indexed = _failed_then_sensed(tmp_path, [a, b])
    [left] = staged - indexed  # b's START, and no end
    assert_delivered_once(str(store_dir), sorted(staged))
    bundle = read_bundle(open_store(str(store_dir)), left)
    events = [json.loads(line) for line in bundle.files[layout.EVENTS_FILE].splitlines()]
    assert [e["eventType"] for e in events] == ["START", "FAIL"], events
    [output] = events[-1]["outputs"]
    samples = output["facets"]["tdprov_pandera"]["samplesFile"]
    assert samples in bundle.files, sorted(bundle.files)
    assert len(pd.read_parquet(io.BytesIO(bundle.files[samples]))) == output["facets"]["tdprov_pandera"]["failureCount"] == 2


def _sealed_events(store_dir: Path, run_id: str) -> list[dict]:
    """The events of run ``run_id``'s bundle in the local store ``store_dir``."""
    return [json.loads(line) for line in open_store(str(store_dir)).get(layout.bundle_key(run_id, layout.EVENTS_FILE)).splitlines()]


def test_strict_start_that_could_not_be_written_is_sent_again_as_built_by_the_close_that_seals_the_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real strict ``materialize`` whose step b makes the local store unusable (a file where its folder was) before
    its output, so b's START, sent with that output, cannot be written, nor the teardown's FAIL. The failure sensor
    evaluated next in the same process (the store back), once the transport no longer holds what it could not write
    (it remembers the newest ``MAX_PENDING_RUNS`` runs only; none here), sealed a bundle of the FAIL alone: the START,
    counted as sent by its first try, was never sent again. It is sent again as first built (its time Dagster's start
    of the step), so the bundle holds START and FAIL, and verifies (a's run, sealed before, too)."""
    import pandas as pd
    from dagster import asset

    from prov_common.bundle import transport

    store_dir, away = tmp_path / "store", tmp_path / "away"

    @asset
    def a():
        return pd.DataFrame({"x": [1, 2, 3]})

    @asset(deps=[a])  # a written first, b loads nothing: its START goes with its output
    def b():
        store_dir.rename(away)
        store_dir.write_bytes(b"")
        return pd.DataFrame({"x": [1, 2, 3]})

    monkeypatch.setattr(transport, "MAX_PENDING_RUNS", 0)  # as once the process emitted more runs since
    staged, sealed = _failed_then_sensed(tmp_path, [a, b])  # a's run sealed
    assert staged == sealed  # a's: neither b's START nor its FAIL was written
    runs = indexed_runs(open_store(str(store_dir)))
    [run] = set(runs) - sealed
    assert_delivered_once(str(store_dir), runs)
    assert [e["eventType"] for e in _sealed_events(store_dir, run)] == ["START", "FAIL"]


def test_strict_end_of_an_earlier_attempt_that_could_not_be_written_is_the_one_the_failure_sensor_seals(
        tmp_path: Path) -> None:
    """A real strict ``materialize``: b's attempt 0 stages its START, makes the local store unusable and fails; its
    retry closes attempt 0 with a FAIL stamped then, which cannot be written (the retry fails on it). The failure
    sensor evaluated next in the same process (the store back) gave attempt 0 a FAIL of its own, stamped when Dagster
    recorded the attempt's end, while the transport still held the first: the bundle held START, FAIL, FAIL. The end
    first tried is the run's end, sent again as built: START and that FAIL, and every run verifies."""
    import pandas as pd
    from dagster import RetryPolicy, asset

    store_dir, away = tmp_path / "store", tmp_path / "away"

    @asset
    def a():
        return pd.DataFrame({"x": [1, 2, 3]})

    @asset(retry_policy=RetryPolicy(max_retries=1))
    def b(context, a):
        if context.retry_number == 0:
            store_dir.rename(away)
            store_dir.write_bytes(b"")
        raise ValueError("b broke")

    staged, indexed = _failed_then_sensed(tmp_path, [a, b])
    [earlier] = staged - indexed  # attempt 0's START, and no end
    runs = indexed_runs(open_store(str(store_dir)))
    assert len(runs) == 3, runs  # a, b's attempt 0 and its retry
    assert_delivered_once(str(store_dir), runs)
    events = _sealed_events(store_dir, earlier)
    assert [e["eventType"] for e in events] == ["START", "FAIL"], events
    assert "attempt 0 failed; Dagster retried it as attempt 1" in json.dumps(events[-1]), events[-1]


def test_a_strict_end_with_a_failed_output_tried_again_names_that_output_once(tmp_path: Path) -> None:
    """A strict run's FAIL with a failed output (as a refused schema gives) cannot be written (the local store's folder
    is a file for a moment), and the same end (stamped as Dagster recorded it) is tried again once the store is back:
    the output was appended to the run a second time, and the bundle held a FAIL naming it twice beside the FAIL the
    first try left in the transport's memory. The run has one FAIL, naming it once."""
    from datetime import UTC, datetime

    from prov_common.config import Settings
    from prov_dagster.model import DatasetRecord, StepIdentity
    from prov_dagster.recorder import Recorder

    store_dir, away = tmp_path / "store", tmp_path / "away"
    settings = Settings(store=str(store_dir), spool=str(tmp_path / "spool"), strict=True)
    run = Recorder(settings, "dagster://default").step(StepIdentity(str(uuid.uuid4()), "pair_job", "pair"))
    run.input(DatasetRecord(name="raw", digest=None))  # its START staged
    failed, ended = DatasetRecord(name="pair", digest=None), datetime.now(UTC)
    store_dir.rename(away)
    store_dir.write_bytes(b"")
    with pytest.raises(Exception, match="is left staged in the store, not sealed"):
        run.fail(failed_output=failed, error="pair failed its schema", at=ended)
    store_dir.unlink()
    away.rename(store_dir)
    run.fail(failed_output=failed, error="pair failed its schema", at=ended)
    assert_delivered_once(str(store_dir), [run.ol_run_id])
    sealed = open_store(str(store_dir)).get(layout.bundle_key(run.ol_run_id, layout.EVENTS_FILE))
    events = [json.loads(line) for line in sealed.splitlines()]
    assert [e["eventType"] for e in events] == ["START", "FAIL"], events
    assert [o["name"] for o in events[-1]["outputs"]] == ["pair"], events[-1]["outputs"]


def test_a_strict_run_whose_seal_of_its_staged_end_fails_again_is_sealed_by_the_next_close(tmp_path: Path) -> None:
    """A strict run's FAIL is staged and its seal fails (the local store's bundles folder is a file), and so does the
    next close's seal of that staged end: the run was then taken for ended, so a third close, the store back, sealed
    nothing and returned its bundle's location, and the step's next touch started a next part. The run stays open
    until its staged end is sealed: the third close seals it, START and the one FAIL."""
    from prov_common.config import Settings
    from prov_dagster.model import DatasetRecord, StepIdentity
    from prov_dagster.recorder import Recorder

    store_dir = tmp_path / "store"
    recorder = Recorder(Settings(store=str(store_dir), spool=str(tmp_path / "spool"), strict=True), "dagster://default")
    identity = StepIdentity(str(uuid.uuid4()), "pair_job", "pair")
    run = recorder.step(identity)
    run.input(DatasetRecord(name="raw", digest=None))  # its START staged
    (store_dir / "bundles").write_bytes(b"")
    for _ in range(2):  # the FAIL staged, not sealed; then its seal from what is staged
        with pytest.raises(Exception, match=f"run {run.ol_run_id} is not sealed"):
            run.fail(error="pair broke")
        assert recorder.open_run(identity) is run
    (store_dir / "bundles").unlink()
    recorder.step(identity).fail(error="closed again")  # the same run, not a next part
    assert recorder.open_run(identity) is None
    assert_delivered_once(str(store_dir), [run.ol_run_id])
    events = _sealed_events(store_dir, run.ol_run_id)
    assert [e["eventType"] for e in events] == ["START", "FAIL"], events
    assert "pair broke" in json.dumps(events[-1]) and "closed again" not in json.dumps(events), events


def test_strict_dagster_step_whose_end_the_store_will_not_take_names_the_seal_of_what_it_took(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real strict ``materialize`` whose step b writes a table too wide for its COMPLETE to be staged (the bound a seal
    reads lowered to 64 KiB), after its START was: b's error said to seal the run "once the store is back", though the
    store is fine; it says to seal what the store took, which seals b's START."""
    import pandas as pd
    from dagster import asset

    monkeypatch.setattr(layout, "SMALL_OBJECT_LIMIT", 64 << 10)
    store_dir = tmp_path / "store"

    @asset
    def a():
        return pd.DataFrame({"x": [1, 2, 3]})

    @asset
    def b(a):
        return pd.DataFrame({f"column_{n:04d}_" + "w" * 60: a["x"] for n in range(1200)})

    failure, error = _strict_step_failure(tmp_path, store_dir, [a, b])
    staged, left = _left_staged(open_store(str(store_dir)))
    assert failure.step_key == "b" and f"run {left} is left staged in the store, not sealed: the COMPLETE event" in error
    assert (f"; to seal what the store took of the run, run 'tdprov store seal --force {left}' "
            "(provenance_failure_sensor seals it as the run fails)" in error and "once the store is back" not in error), error
    assert main(["store", "seal", "--force", left, "--store", str(store_dir)]) == 0
    assert_delivered_once(str(store_dir), sorted(staged))


def test_strict_failure_sensor_whose_seal_of_a_staged_end_fails_names_the_run_left_staged(
        s3_server, fault_proxy: FaultProxy, tmp_path: Path) -> None:
    """Step b of a real strict ``materialize`` loaded ``a`` (its START staged), then the store began to answer 503 to
    writes of bundles and b failed: its FAIL was staged and not sealed (the teardown's warning). The strict failure
    sensor's closing seals b's run with that FAIL, and the seal fails: its error named the store's fault only; it
    names b's run as left staged, with the seal that ends it, which seals the run once the store is back. Its fix said
    provenance_failure_sensor seals the run, though that sensor's own seal just failed; it names the sensor that does,
    provenance_store_sensor (the run is tagged for it), as the sensor's warning does."""
    from prov_dagster import ProvenanceResource
    from prov_dagster.sensors import close_or_leave

    with _failed_fail_staged(s3_server, fault_proxy, tmp_path) as (instance, dagster_run, store_uri, spool):
        with pytest.raises(StoreUnavailableError) as raised:
            close_or_leave(instance, dagster_run, ProvenanceResource(store=store_uri, spool=spool, strict=True),
                           state="FAIL", sensor_name="provenance_failure_sensor", remembered=False)
        tags = instance.get_run_by_id(dagster_run.run_id).tags
    fault_proxy.fault = None
    store = open_store(store_uri)
    staged, left = _left_staged(store)
    _left_for_the_store_sensor(raised.value, tags, store_uri, s3_server, staged, left)


@pytest.mark.parametrize("state", ["FAIL", "ABORT"])
def test_strict_run_status_sensor_whose_seal_of_a_run_it_made_up_fails_names_provenance_store_sensor(
        s3_server, fault_proxy: FaultProxy, tmp_path: Path, state: str) -> None:
    """Step b of a real strict ``materialize`` failed before it loaded or wrote anything through tdprov: the strict
    failure sensor (a real evaluation) makes its run up, a START and a FAIL, and the store answers 503 to writes of
    bundles, so the FAIL's seal fails with the START staged. Its fix said provenance_failure_sensor seals the run as the
    run fails, though that sensor's own seal just failed; it names provenance_store_sensor, which closes the run (tagged
    for it), as the sensor's seal of a staged end does. ``ABORT``: the canceled-run sensor's closing, an ABORT made up."""
    from dagster import DagsterInstance, asset, materialize

    from prov_dagster import ProvenanceIOManager, ProvenanceResource

    store_uri, spool = f"s3://{s3_server.create_bucket()}/prov", str(tmp_path / "spool")

    @asset
    def b():
        raise ValueError("b broke")

    io_manager = ProvenanceIOManager(store=store_uri, spool=spool, data_root=str(tmp_path / "data"), strict=True)
    with DagsterInstance.ephemeral() as instance:
        result = materialize([b], instance=instance, resources={"io_manager": io_manager}, raise_on_error=False)
        fault_proxy.fault = lambda method, path: ("status", 503, "SlowDown") if method == "PUT" and "/bundles/" in path else None
        provenance = ProvenanceResource(store=store_uri, spool=spool, strict=True)
        with pytest.raises(StoreUnavailableError) as raised:
            _close_as_the_sensor_would(state, result, instance, provenance)
        tags = instance.get_run_by_id(result.run_id).tags
    fault_proxy.fault = None
    staged, left = _left_staged(open_store(store_uri))
    _left_for_the_store_sensor(raised.value, tags, store_uri, s3_server, staged, left)


@pytest.mark.parametrize("state", ["FAIL", "ABORT"])
def test_strict_run_status_sensor_whose_end_of_a_run_its_step_staged_fails_names_the_run_left_staged(
        s3_server, fault_proxy: FaultProxy, tmp_path: Path, state: str) -> None:
    """Step b of a real strict ``materialize`` loaded ``a`` (its START staged), then the store began to answer 503 to
    staged writes and b failed: its FAIL was not staged, its run is a START and no end. The strict failure sensor (a
    real evaluation) ends that run with a FAIL the store does not take either: its error was the store's only, naming
    neither b's run, left staged, nor the seal that ends it; it names both, as for a run the sensor made up.
    ``ABORT``: the canceled-run sensor's closing."""
    from dagster import DagsterInstance, materialize

    from prov_dagster import ProvenanceIOManager, ProvenanceResource, recorder

    store_uri, spool = f"s3://{s3_server.create_bucket()}/prov", str(tmp_path / "spool")
    io_manager = ProvenanceIOManager(store=store_uri, spool=spool, data_root=str(tmp_path / "data"), strict=True)
    with DagsterInstance.ephemeral() as instance:
        result = materialize(_a_then_b_failing_writes_under(fault_proxy, "/staging/"), instance=instance,
                             resources={"io_manager": io_manager}, raise_on_error=False)
        staged, left = _left_staged(open_store(store_uri))  # b's START, and no end
        provenance = ProvenanceResource(store=store_uri, spool=spool, strict=True)
        with pytest.raises(StoreUnavailableError) as raised, pytest.MonkeyPatch.context() as daemon:
            for held in ("_recorders", "_claims", "_configured"):  # the daemon's process: none of the step's recorders
                daemon.setattr(recorder, held, type(getattr(recorder, held))())
            _close_as_the_sensor_would(state, result, instance, provenance)
        tags = instance.get_run_by_id(result.run_id).tags
    fault_proxy.fault = None
    _left_for_the_store_sensor(raised.value, tags, store_uri, s3_server, staged, left)


def _close_as_the_sensor_would(state: str, result, instance, provenance) -> None:  # noqa: ANN001 - Dagster's objects
    """Close the failed ``materialize`` ``result``'s run as the sensor of ``state`` does: ``FAIL``, a real evaluation of
    the failure sensor; ``ABORT``, the canceled-run sensor's closing."""
    from dagster_support import evaluate_failure_sensor
    from prov_dagster.sensors import close_or_leave

    if state == "FAIL":
        evaluate_failure_sensor(result, instance, provenance)
    else:
        close_or_leave(instance, result.dagster_run, provenance, state=state, sensor_name="provenance_canceled_sensor",
                       remembered=False)


def _left_for_the_store_sensor(error: Exception, tags: Mapping[str, str], store_uri: str, s3_server, staged: set[str],  # noqa: ANN001
                               left: str) -> None:
    """``error`` names run ``left`` as left staged, with the seal that ends it and provenance_store_sensor, for which the
    run is tagged (``tags``); that seal, the store back, delivers every staged object (``staged``) once."""
    assert error.what.startswith(f"run {left} is left staged in the store, not sealed: cannot write "), error
    assert error.fix == (
        "nothing was spooled (strict mode): retry when the store is back, or run without strict mode to spool; once the "
        f"store is back, run 'tdprov store seal --force {left}' (provenance_store_sensor seals it at its first tick once "
        "the store answers)"), error.fix
    assert tags["tdprov/closing"] == "left"  # the tag of the runs provenance_store_sensor closes
    assert main(["store", "seal", "--force", left, "--store", store_uri]) == 0
    assert_delivered_once(store_uri, sorted(staged), direct=s3_server.endpoint)


@contextlib.contextmanager
def _failed_fail_staged(s3_server, fault_proxy: FaultProxy, tmp_path: Path) -> Iterator[tuple]:
    """A real strict ``materialize`` whose step b loaded ``a`` (its START staged), then failed as the store began to
    answer 503 to writes of bundles: b's FAIL is staged, not sealed. Yields the instance (open), the failed Dagster run,
    the store's URI and the spool folder; the store still answers 503 to writes of bundles."""
    from dagster import DagsterInstance, materialize

    from prov_dagster import ProvenanceIOManager

    store_uri, spool = f"s3://{s3_server.create_bucket()}/prov", str(tmp_path / "spool")
    io_manager = ProvenanceIOManager(store=store_uri, spool=spool, data_root=str(tmp_path / "data"), strict=True)
    with DagsterInstance.ephemeral() as instance:
        result = materialize(_a_then_b_failing_writes_under(fault_proxy, "/bundles/"), instance=instance,
                             resources={"io_manager": io_manager}, raise_on_error=False)
        yield instance, instance.get_run_by_id(result.run_id), store_uri, spool


def _a_then_b_failing_writes_under(fault_proxy: FaultProxy, under: str) -> list:
    """Assets ``a`` (a small frame) and ``b``, which loads it (its START staged), then has the store answer 503 to
    every PUT of a key under ``under`` (``/staging/``: b's FAIL is not staged; ``/bundles/``: staged, not sealed) and
    fails ("b broke")."""
    import pandas as pd
    from dagster import asset

    @asset
    def a():
        return pd.DataFrame({"x": [1, 2, 3]})

    @asset
    def b(a):
        fault_proxy.fault = lambda method, path: ("status", 503, "SlowDown") if method == "PUT" and under in path else None
        raise ValueError("b broke")

    return [a, b]


def test_strict_failure_sensor_whose_seal_fails_for_no_store_error_names_no_sensor_that_seals_the_run(
        s3_server, fault_proxy: FaultProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As above, but the store is back when the strict failure sensor is evaluated and its seal of b's staged FAIL fails
    for a cause that is not the store's (the bundle cannot be built: a fault injected there). Its fix said
    provenance_store_sensor seals the run at its first tick, though the sensor tags a run for it only on a store's
    error; it says that no sensor seals it, and the command that does."""
    from dagster import DagsterEventType, build_run_status_sensor_context

    from prov_common.bundle import transport
    from prov_common.errors import BadInputError
    from prov_dagster import ProvenanceResource, provenance_failure_sensor

    def unbuildable(*args, **kwargs):
        raise BadInputError("the bundle cannot be built from the staged events.", fix="report it")

    with (_failed_fail_staged(s3_server, fault_proxy, tmp_path) as (instance, dagster_run, store_uri, spool),
          monkeypatch.context() as patched):
        fault_proxy.fault = None
        patched.setattr(transport, "build_bundle", unbuildable)
        [ended] = instance.all_logs(dagster_run.run_id, of_type=DagsterEventType.RUN_FAILURE)
        with build_run_status_sensor_context(
                sensor_name="provenance_failure_sensor", dagster_event=ended.dagster_event, dagster_instance=instance,
                dagster_run=dagster_run,
                resources={"provenance": ProvenanceResource(store=store_uri, spool=spool, strict=True)}) as context:
            with pytest.raises(BadInputError) as raised:
                provenance_failure_sensor(context)
        tags = instance.get_run_by_id(dagster_run.run_id).tags
    store = open_store(store_uri)
    staged, left = _left_staged(store)
    assert raised.value.what.startswith(f"run {left} is left staged in the store, not sealed: the bundle cannot"), raised.value
    assert raised.value.fix == (
        f"report it; to seal what the store took of the run, run 'tdprov store seal --force {left}' (no sensor seals "
        "it: provenance_store_sensor closes only the runs a store's error left)"), raised.value.fix
    assert "tdprov/closing" not in tags  # no tick of provenance_store_sensor closes it
    assert main(["store", "seal", "--force", left, "--store", store_uri]) == 0
    assert_delivered_once(store_uri, sorted(staged), direct=s3_server.endpoint)


def test_strict_retry_whose_store_fails_closing_its_earlier_attempt_says_nothing_was_spooled(
        tmp_path: Path, s3_fault) -> None:
    """A real strict ``materialize`` whose step is retried, the store answering 503 SlowDown: the retry's own check of
    its failed attempt (is it sealed?) failed the step with the store's error as it was, its fix ending "spooled
    bundles are delivered by 'tdprov flush'", though strict mode spools nothing; it ends in strict mode's words."""
    import pandas as pd
    from dagster import DagsterInstance, RetryPolicy, asset, materialize

    from prov_dagster import ProvenanceIOManager

    @asset(retry_policy=RetryPolicy(max_retries=1))
    def flaky(context):
        if context.retry_number == 0:
            raise ValueError("first attempt broke")
        return pd.DataFrame({"x": [1]})

    io_manager = ProvenanceIOManager(store=s3_fault("503 SlowDown"), spool=str(tmp_path / "spool"),
                                     data_root=str(tmp_path / "data"), strict=True)
    with DagsterInstance.ephemeral() as instance:
        result = materialize([flaky], instance=instance, resources={"io_manager": io_manager}, raise_on_error=False)
    [*_, failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    error = failure.step_failure_data.error.to_string()
    assert "cannot check 'bundles/" in error and "503 (Service Unavailable)" in error, error
    assert ("Fix: nothing was spooled (strict mode): retry when the store is back, or run without strict mode to spool"
            in error and "tdprov flush" not in error and "retry later" not in error), error


def _strict_retry_leaving_its_earlier_attempt(s3_server, fault_proxy: FaultProxy, tmp_path: Path, failing: str,
                                              as_apart: Callable[[], None] = lambda: None) -> None:
    """A real strict ``materialize`` whose step loads ``a`` (its START staged) and fails, the store then answering 503 to
    writes under ``failing`` (``bundles``, ``staging``), ``as_apart`` called as it fails: the retry's error names the
    attempt's run left staged, in strict mode's words, with the seal that ends it, and that seal seals it."""
    import pandas as pd
    from dagster import DagsterInstance, RetryPolicy, asset, materialize

    from prov_dagster import ProvenanceIOManager

    store_uri = f"s3://{s3_server.create_bucket()}/prov"

    @asset
    def a():
        return pd.DataFrame({"x": [1, 2, 3]})

    @asset(retry_policy=RetryPolicy(max_retries=1))
    def flaky(context, a):
        if context.retry_number == 0:
            fault_proxy.fault = lambda method, path: ("status", 503, "SlowDown") if method == "PUT" and f"/{failing}/" in path else None
            as_apart()
            raise ValueError("first attempt broke")
        return a

    io_manager = ProvenanceIOManager(store=store_uri, spool=str(tmp_path / "spool"), data_root=str(tmp_path / "data"),
                                     strict=True)
    with DagsterInstance.ephemeral() as instance:
        result = materialize([a, flaky], instance=instance, resources={"io_manager": io_manager}, raise_on_error=False)
    fault_proxy.fault = None
    [*_, failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    error = failure.step_failure_data.error.to_string()
    store = open_store(store_uri)
    staged, left = _left_staged(store)  # the first attempt's run: a's is sealed
    assert f"run {left} is left staged in the store, not sealed: cannot write '{failing}/{left}/" in error, error
    assert ("Fix: nothing was spooled (strict mode): retry when the store is back, or run without strict mode to spool; "
            f"once the store is back, run 'tdprov store seal --force {left}' (provenance_failure_sensor seals it as the run "
            "fails)" in error), error
    assert main(["store", "seal", "--force", left, "--store", store_uri]) == 0
    assert_delivered_once(store_uri, sorted(staged), direct=s3_server.endpoint)


def test_strict_retry_whose_seal_of_its_earlier_attempt_fails_names_that_run_left_staged(
        s3_server, fault_proxy: FaultProxy, tmp_path: Path) -> None:
    """A real strict ``materialize`` whose step loads ``a`` (its START staged) and fails, the store then answering 503 to
    writes of bundles: the retry seals the failed attempt with a FAIL, which is staged and not sealed. The retry's error
    names that attempt's run as left staged, in strict mode's words, with the seal that ends it (regression test: the
    retry closes the attempt as a step ends its own run; :meth:`StepRun.seal_staged`, for an attempt whose end another
    process staged, gives the same words)."""
    _strict_retry_leaving_its_earlier_attempt(s3_server, fault_proxy, tmp_path, "bundles")


def test_strict_retry_in_another_process_whose_fail_of_its_earlier_attempt_fails_names_that_run_left_staged(
        s3_server, fault_proxy: FaultProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real strict ``materialize`` whose step loads ``a`` (its START staged) and fails, the store then answering 503 to
    staged writes, and whose retry runs as in a process of its own (the recorders of the first attempt's process let
    go): the retry finds the attempt's START staged and no end, and its FAIL cannot be written. The retry's error was the
    store's only, naming neither that run, left staged, nor the seal that ends it; it names both, as for an attempt
    closed in its own process."""
    from prov_dagster import recorder

    def as_apart() -> None:  # the retry's process: none of the attempt's recorders
        for held in ("_recorders", "_claims", "_configured"):
            monkeypatch.setattr(recorder, held, type(getattr(recorder, held))())

    _strict_retry_leaving_its_earlier_attempt(s3_server, fault_proxy, tmp_path, "staging", as_apart)


def test_left_staged_names_the_run_and_its_seal_once_and_keeps_a_fix_that_names_a_seal() -> None:
    """The branches the real ``materialize`` above does not take: an error with no fix gets the seal as its fix (worded
    by its cause: a store's, or one the store is not at fault for), and one whose fix names a seal already (a bundle
    folder that holds other bytes) is kept as it was."""
    from prov_common.errors import BadInputError, StoreError
    from prov_dagster.recorder import left_staged, seal_left

    run_id = "0190f2c4-0000-7000-8000-000000000001"
    bare = left_staged(StoreError("cannot write 'x'."), run_id)
    assert bare.what == f"run {run_id} is left staged in the store, not sealed: cannot write 'x'."
    assert bare.fix == f"once the store is back, {seal_left(run_id)}" and str(bare).endswith(seal_left(run_id)), str(bare)
    refused = left_staged(BadInputError("the COMPLETE event is too large."), run_id)  # not the store's: no outage
    assert refused.fix == f"to seal what the store took of the run, {seal_left(run_id)}", refused.fix
    sealed = StoreError("bundles/x holds other bytes.", fix=f"run 'tdprov store seal --force {run_id}' to seal it again")
    assert left_staged(sealed, run_id) is sealed and sealed.what == "bundles/x holds other bytes."
    assert sealed.fix == f"run 'tdprov store seal --force {run_id}' to seal it again"


def test_a_sensors_seal_failing_with_an_oserror_names_no_sensor_that_seals_the_run() -> None:
    """A run-status sensor's seal of a staged end that fails with an ``OSError`` a backend let through (not tdprov's):
    its note said provenance_store_sensor seals the run at its first tick, though the sensor tags a run for that sensor
    only on a StoreError (``close_or_leave``) and did not tag it; it says no sensor seals it, as for any error not the
    store's. A step's words (the default) and a StoreError's are as they were."""
    from prov_common.errors import StoreError
    from prov_dagster.recorder import (FAILURE_SENSOR_SEALS, NO_SENSOR_SEALS, SENSOR_SEALS, STORE_SENSOR_SEALS,
                                       naming_left_staged, seal_left)

    run_id = "0190f2c4-0000-7000-8000-000000000002"
    for error, when, later in ((OSError(28, "No space left on device"), "once the store is back", NO_SENSOR_SEALS),
                               (ValueError("bad"), "to seal what the store took of the run", NO_SENSOR_SEALS)):
        with pytest.raises(type(error)) as raised, naming_left_staged(run_id, True, SENSOR_SEALS):
            raise error
        assert raised.value is error and raised.value.__notes__[-1].endswith(f"{when}, {seal_left(run_id, later)}"), raised.value.__notes__
    with pytest.raises(OSError) as raised, naming_left_staged(run_id, True):  # a step's: the failure sensor seals it
        raise OSError(28, "No space left on device")
    assert raised.value.__notes__[-1].endswith(f"once the store is back, {seal_left(run_id, FAILURE_SENSOR_SEALS)}")
    with pytest.raises(StoreError) as refused, naming_left_staged(run_id, True, SENSOR_SEALS):
        raise StoreError("cannot write 'x'.")
    assert refused.value.fix == f"once the store is back, {seal_left(run_id, STORE_SENSOR_SEALS)}", refused.value.fix
    with pytest.raises(ValueError) as bare, naming_left_staged(run_id, False):  # not staged: raised as it is
        raise ValueError("bad")
    assert not getattr(bare.value, "__notes__", None)


def test_full_disk_for_the_spool_is_loud_and_strict_fails(s3_server, fault_proxy: FaultProxy, tmp_path: Path,
                                                           caplog) -> None:
    """Store down and the spool on a full 64 KiB tmpfs: non-strict emits return and say loudly that
    the run is NOT recorded and why; strict mode raises instead."""
    from prov_common.store import SpoolError

    spool = tmp_path / "tiny"
    spool.mkdir()
    if not mount(["-t", "tmpfs", "-o", "size=64k", "tmpfs", str(spool)]):
        pytest.skip("cannot mount a tmpfs here")
    try:
        fd = os.open(spool / "filler", os.O_WRONLY | os.O_CREAT)  # fill the volume to the last byte
        with contextlib.suppress(OSError):
            while os.write(fd, b"\0" * 512):
                pass
        os.close(fd)
        store_uri = f"s3://{s3_server.create_bucket()}/prov"
        transport = _transport(store_uri, spool, timeout=5)
        _emit_runs(transport, 1)  # warm: imports, key, client
        fault_proxy.fault = lambda method, path: ("status", 503, "SlowDown")
        big = run_events()
        with caplog.at_level(logging.WARNING):
            started = time.monotonic()
            for event in big:
                transport.emit(event)
            assert time.monotonic() - started < 10  # two emits, each within its bound of 5 s
        transport.close()
        assert "NOT recorded" in caplog.text and "free disk space" in caplog.text
        assert Outbox(spool).pending() == []  # no partial entry either
        assert not [p for p in spool.iterdir() if p.name.startswith(".tmp-")]
        strict = _transport(store_uri, spool, timeout=5, strict=True)
        with pytest.raises((SpoolError, StoreUnavailableError)):
            strict.emit(big[0])
    finally:
        import subprocess

        subprocess.run(["umount", str(spool)], check=False)


def test_staging_signs_for_no_store_while_its_identity_cannot_be_had_and_binds_it_once_the_window_passed(
        s3_server, fault_proxy: FaultProxy, fast_tmp: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """The store down as a run starts: its START is signed for no store (the identity cannot be read), warned once, and
    spooled; the store back within STORE_ID_RETRY_SECONDS, the next event is staged for no store too without asking
    the identity again (in an outage every event would wait on one more failing request); once the window has passed
    (the transport's clock moved on), the identity is asked, made and bound: the run's end is signed for it. The run
    seals all three events, and its manifest names the store."""
    import types

    from prov_common.bundle import read_bundle, transport as transport_module
    from prov_common.bundle.events import events_jsonl
    from prov_common.bundle.staged import STAGED_EVENT_TYPE
    from prov_common.bundle.transport import staged_event_key
    from prov_common.store.identity import IDENTITY_KEY, read_identity

    store_uri = f"s3://{s3_server.create_bucket()}/prov"
    run_id = str(uuid.uuid4())
    start, complete = run_events(run_id)
    running = dict(start, eventType="RUNNING", eventTime="2026-03-01T10:00:02.000Z")

    def identity_requests() -> int:
        return sum(1 for _, path, _ in fault_proxy.log if IDENTITY_KEY in path)

    fault_proxy.fault = lambda method, path: ("status", 503, "ServiceUnavailable")
    transport = _transport(store_uri, fast_tmp / "spool", timeout=5)
    with caplog.at_level(logging.WARNING):
        transport.emit(start)
    asked = identity_requests()
    assert asked >= 1 and len(Outbox(fast_tmp / "spool").pending()) == 1
    [warned] = [r.getMessage() for r in caplog.records if "identity of store" in r.getMessage()]
    assert warned.startswith(f"tdprov: cannot read or create the identity of store {store_uri} (cannot read "
                             f"'{IDENTITY_KEY}' in S3 store {store_uri}") and "ServiceUnavailable (injected)" in warned, warned
    assert "this record is written without it" in warned

    fault_proxy.fault = None  # the store is back, within the window: the spooled START is delivered first
    transport.emit(running)
    assert identity_requests() == asked and Outbox(fast_tmp / "spool").pending() == []
    real = time.monotonic
    monkeypatch.setattr(transport_module, "time", types.SimpleNamespace(
        monotonic=lambda: real() + transport_module.STORE_ID_RETRY_SECONDS + 1, sleep=time.sleep))
    assert transport.emit(complete).status == "written"
    transport.close()
    store = open_store(store_uri)
    store_id = read_identity(store).store_id
    types_staged = [json.loads(store.get(staged_event_key(e)))["payloadType"] for e in (start, running, complete)]
    assert types_staged == [STAGED_EVENT_TYPE, STAGED_EVENT_TYPE, f"{STAGED_EVENT_TYPE}; store={store_id}"]
    bundle = read_bundle(store, run_id)
    assert bundle.files["events.jsonl"] == events_jsonl([start, running, complete])
    assert bundle.manifest.store_id == store_id
    assert_delivered_once(store_uri, [run_id], s3_server.endpoint)


CREDENTIALS_REFUSED = "the credentials were refused ({code}). Fix: check the AWS credentials this process uses"


@pytest.mark.parametrize("status, code, said", [(403, "InvalidAccessKeyId", CREDENTIALS_REFUSED),
                                                (403, "SignatureDoesNotMatch", CREDENTIALS_REFUSED),
                                                (400, "ExpiredToken", CREDENTIALS_REFUSED),
                                                (503, "SlowDown", "SlowDown (injected). Fix: retry later")],
                         ids=["unknown-key-id", "wrong-secret", "expired-token", "slow-down"])
@pytest.mark.parametrize("strict", [False, True])
def test_dagster_step_whose_store_refuses_it_mid_run_names_the_cause_and_fix(
        s3_server, fault_proxy: FaultProxy, tmp_path: Path, caplog, capsys, status: int, code: str, said: str,
        strict: bool) -> None:
    """A real ``materialize``: b's START is staged, then S3 refuses the credentials (an unknown key id, a wrong secret,
    an expired session token) or slows down. Refused credentials are named as such, not as missing permissions to grant;
    strict mode fails the step, saying of an outage that nothing was spooled (not that 'tdprov flush' delivers it); without it the
    run goes on, the rest of b's run is spooled, and ``tdprov flush`` delivers it once the store takes it."""
    import pandas as pd
    from dagster import DagsterInstance, asset, materialize

    from prov_dagster import ProvenanceIOManager

    bucket = s3_server.create_bucket()
    store_uri, spool, direct = f"s3://{bucket}/p", tmp_path / "spool", s3_server.client()

    @asset
    def a():
        return pd.DataFrame({"x": [1, 2, 3]})

    def staged_runs() -> set[str]:
        listed = direct.list_objects_v2(Bucket=bucket, Prefix=f"p/{layout.STAGING}/").get("Contents", [])
        return {item["Key"].split("/")[2] for item in listed}

    @asset
    def b(a):
        deadline = time.monotonic() + 30  # b's START goes to the store from the transport's thread: wait for it
        while len(staged_runs()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        fault_proxy.fault = lambda method, path: ("status", status, code)
        return a * 2

    io_manager = ProvenanceIOManager(store=store_uri, spool=str(spool), data_root=str(tmp_path / "data"), strict=strict)
    with DagsterInstance.ephemeral() as instance, caplog.at_level(logging.WARNING):
        result = materialize([a, b], instance=instance, resources={"io_manager": io_manager}, raise_on_error=False)
    fault_proxy.fault = None
    said = said.format(code=code)
    if strict:
        [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        error = failure.step_failure_data.error.to_string()
        if code == "SlowDown":  # an outage: retrying is said once, in strict mode's words
            said = ("SlowDown (injected). Fix: nothing was spooled (strict mode): retry when the store is back, or run "
                    "without strict mode to spool")
        assert failure.step_key == "b" and said in error and "grant s3:GetObject" not in error
        assert "spooled bundles are delivered" not in error and "retry later" not in error
        assert not spool.exists() or not Outbox(spool).pending()
        return
    assert result.success and said in caplog.text and "grant s3:GetObject" not in caplog.text.split(code, 1)[1][:200]
    staged = staged_runs()
    assert len(staged) == 2 and Outbox(spool).pending()  # b's START made it before the credentials were refused
    capsys.readouterr()
    assert main(["flush", "--spool", str(spool)]) == 0 and not Outbox(spool).pending()
    assert_delivered_once(store_uri, sorted(staged), s3_server.endpoint)


@pytest.mark.parametrize("failing, refused", [("staging", False), ("bundles", True)])
def test_strict_step_that_goes_on_after_its_end_could_not_be_written_records_what_follows_in_a_next_part(
        s3_server, fault_proxy: FaultProxy, tmp_path: Path, failing: str, refused: bool) -> None:
    """A real strict ``materialize`` whose step b loads ``a`` (its START staged), then calls ``record()`` while the store
    answers 503 to writes under ``failing`` (``staging``: its COMPLETE is not staged; ``bundles``: staged, not sealed),
    catches the error and, the store back, returns its output (``refused``: one that fails its schema under the
    ``fail`` policy). That output went into the run whose end was kept: a RUNNING after that end, and the end sent again
    as first built, so b's output was in no event of any bundle (a refused one left out of the FAIL, though the step's
    error said it was recorded in the bundle). The kept end is sent again first, as the step records more: b's first
    run is START and that COMPLETE, and its output a next part of its own, as after any ended run."""
    import pandas as pd
    import pandera.pandas as pa
    from dagster import DagsterInstance, materialize

    from prov_common.errors import TdprovError
    from prov_dagster import ProvenanceIOManager, ProvenanceResource, provenance_asset

    class Positive(pa.DataFrameModel):
        x: int = pa.Field(ge=0)

    store_uri, caught = f"s3://{s3_server.create_bucket()}/prov", []
    settings = {"store": store_uri, "spool": str(tmp_path / "spool"), "strict": True}

    @provenance_asset
    def a():
        return pd.DataFrame({"x": [1, 2, 3]})

    @provenance_asset(schema=Positive, quality_policy="fail", required_resource_keys={"provenance"})
    def b(context, a):
        fault_proxy.fault = lambda method, path: ("status", 503, "SlowDown") if method == "PUT" and f"/{failing}/" in path else None
        try:
            context.resources.provenance.record(outputs={"first": a}, context=context)
        except TdprovError as exc:  # the user's code goes on
            caught.append(exc)
        fault_proxy.fault = None
        return a.assign(x=-a.x) if refused else a

    resources = {"io_manager": ProvenanceIOManager(**settings, data_root=str(tmp_path / "data")),
                 "provenance": ProvenanceResource(**settings)}
    with DagsterInstance.ephemeral() as instance:
        result = materialize([a, b], instance=instance, resources=resources, raise_on_error=False)
    assert result.success is not refused and len(caught) == 1, caught
    store = open_store(store_uri)
    runs = indexed_runs(store)
    assert_delivered_once(store_uri, runs, direct=s3_server.endpoint)
    with pytest.MonkeyPatch.context() as direct:
        direct.setenv("AWS_ENDPOINT_URL_S3", s3_server.endpoint)
        sealed = {run: [json.loads(line) for line in open_store(store_uri).get(layout.bundle_key(run, layout.EVENTS_FILE)).splitlines()]
                  for run in runs}
    shown = sorted(([e["eventType"] for e in events], [Path(o["name"]).stem for o in events[-1]["outputs"]])
                   for events in sealed.values())
    assert shown == sorted([(["START", "COMPLETE"], ["a"]), (["START", "COMPLETE"], ["first"]),
                            (["START", "FAIL" if refused else "COMPLETE"], ["b"])]), shown
