"""A bundle delivered late from the spool must appear to cursor readers that have already moved on:
its index key is chosen when the flush writes it, recorded once, so redelivery adds no second entry."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from conftest import free_port
from prov_common.audit import run_audit
from prov_common.bundle import build_bundle, layout, list_bundles, verify_bundle, write_bundle
from prov_common.bundle.storage import deliver_bundle
from prov_common.config import Settings
from prov_common.signing import default_signing_key, trust_from_settings
from prov_common.store import Outbox, open_store
from test_audit_support import dataset, digest, run_events


def _bundle(job: str, sealed_at: datetime):
    events = run_events(job, [dataset("/data/raw.csv", digest("raw"))], [dataset(f"/data/{job}.parquet", digest(job))],
                        start=sealed_at - timedelta(minutes=10))
    return build_bundle(events, None, default_signing_key(), sealed_at=sealed_at)


def _index_keys(store, run_id: str) -> list[str]:
    return [k for k in store.list(f"{layout.INDEX}/") if layout.run_id_of_index_key(k) == run_id]


@pytest.fixture
def unreachable(s3_store_uri: str, monkeypatch: pytest.MonkeyPatch):
    """The same store as seen by a writer whose network to it is down (a closed port)."""
    monkeypatch.setenv("TDPROV_STORE_MAX_ATTEMPTS", "1")
    live = open_store(s3_store_uri)
    with monkeypatch.context() as m:
        m.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{free_port()}")
        down = open_store(s3_store_uri)
    assert down.uri == live.uri
    return live, down


def test_late_bundle_reaches_cursor_readers_and_incremental_audit_once(unreachable, tmp_path: Path) -> None:
    live, down = unreachable
    spool = tmp_path / "spool"
    settings = Settings.from_env(store=live.uri)
    now = datetime.now(timezone.utc)
    # an hour ago a writer sealed run `late` while its store was unreachable: it went to the spool
    late = _bundle("late", now - timedelta(hours=1))
    assert write_bundle(down, late, outbox=Outbox(spool), now=now - timedelta(hours=1)).status == "spooled"
    assert [k for k in live.list("") if late.run_id in k] == []
    # meanwhile other writers went on, and readers (a sensor, an audit) moved their cursors past them
    on_time = _bundle("on_time", now)
    assert deliver_bundle(live, on_time).status == "written"
    seen = list(list_bundles(live))
    assert [s.run_id for s in seen] == [on_time.run_id]
    cursor = seen[-1].cursor
    first = run_audit(live, settings, report_dir=tmp_path / "r1", progress=False)
    assert first.bundles_examined == 1 and first.checkpoint.checkpoint.size == 1

    # the store is back; the flush delivers the bundle and indexes it now, after every cursor
    spooled = Outbox(spool).pending()
    assert len(spooled) == 1
    saved = spooled[0].read_bytes()
    report = Outbox(spool).flush(live)
    assert report.ok and report.delivered == 1
    [index_key] = _index_keys(live, late.run_id)
    assert index_key > cursor
    assert live.get(layout.bundle_key(late.run_id, layout.INDEXED_FILE)) == index_key.encode()
    assert [s.run_id for s in list_bundles(live, since_cursor=cursor)] == [late.run_id]
    assert verify_bundle(live, late.run_id, trust_from_settings(settings), [index_key]).ok

    # a crash after the puts and before the entry was removed: the next flush re-delivers it
    spooled[0].write_bytes(saved)
    again = Outbox(spool).flush(live)
    assert again.ok and again.delivered == 1 and again.written == 0
    assert _index_keys(live, late.run_id) == [index_key]
    assert [s.run_id for s in list_bundles(live, since_cursor=cursor)] == [late.run_id]

    # the incremental audit examines the late bundle (and notes that it arrived late)
    second = run_audit(live, settings, report_dir=tmp_path / "r2", progress=False)
    assert second.bundles_examined == 1 and second.bundles_logged == 1 and second.checkpoint.checkpoint.size == 2
    assert late.run_id in second.index.runs
    assert any(late.run_id in f.what and "late" in f.what for c in second.checks for f in c.findings)


def test_index_record_pins_the_key_across_writers(tmp_path: Path) -> None:
    """The same bundle delivered twice (spool and a direct retry) keeps one index entry, and a record
    that names another run's key is found by verify."""
    store = open_store(str(tmp_path / "store"))
    bundle = _bundle("twice", datetime(2026, 5, 1, 12, tzinfo=timezone.utc))
    first = deliver_bundle(store, bundle, now=datetime(2026, 5, 1, 12, 1, tzinfo=timezone.utc))
    retry = deliver_bundle(store, bundle, now=datetime(2026, 5, 2, 9, tzinfo=timezone.utc))
    assert retry.index_key == first.index_key and _index_keys(store, bundle.run_id) == [first.index_key]
    trust = trust_from_settings(Settings.from_env(store=store.uri))
    assert verify_bundle(store, bundle.run_id, trust, [first.index_key]).ok
    record = tmp_path / "store" / layout.bundle_key(bundle.run_id, layout.INDEXED_FILE)
    record.chmod(0o600)
    record.write_text(first.index_key.replace(bundle.run_id, "0" * 8))
    problems = [(f.key, f.problem) for f in verify_bundle(store, bundle.run_id, trust, [first.index_key]).findings]
    assert problems == [(layout.bundle_key(bundle.run_id, layout.INDEXED_FILE), "inconsistent")]
