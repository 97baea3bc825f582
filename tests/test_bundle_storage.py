"""Writing, reading and listing bundles on both backends: write-once, one bundle per run, time index."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bundle_support import run_events
from prov_common.bundle import build_bundle, list_bundles, read_bundle, recent_bundles, rewind_cursor, write_bundle
from prov_common.bundle.storage import deliver_bundle
from prov_common.signing import SigningKey, TrustStore
from prov_common.bundle import verify_bundle
from prov_common.store import ObjectNotFoundError, open_store

T0 = datetime(2026, 3, 1, 10, 1, tzinfo=timezone.utc)


def _bundle(key: SigningKey, sealed_at: datetime = T0, run_id: str | None = None):
    return build_bundle(run_events(run_id), {}, key, sealed_at=sealed_at)


def test_rewrite_is_a_no_op_and_read_returns_the_bytes(store_uri: str) -> None:
    store, key = open_store(store_uri), SigningKey.generate()
    bundle = _bundle(key)
    first = write_bundle(store, bundle)
    assert write_bundle(store, bundle) == first  # retry: same index entry, nothing new
    assert [k for k in store.list("index/")] == [first.index_key]
    back = read_bundle(store, bundle.run_id)
    assert (back.files, back.manifest_bytes, back.statement_bytes, back.key_id) == (
        bundle.files, bundle.manifest_bytes, bundle.statement_bytes, key.key_id)


def test_second_sealing_of_a_run_keeps_exactly_one_bundle(store_uri: str) -> None:
    store, key, other_key = open_store(store_uri), SigningKey.generate(), SigningKey.generate()
    first = _bundle(key)
    run_id = first.run_id
    later = _bundle(other_key, T0 + timedelta(seconds=3), run_id)  # a racing terminal event elsewhere
    assert write_bundle(store, first).status == "written"
    assert write_bundle(store, later).status == "already-sealed"
    assert store.get(f"bundles/{run_id}/manifest.json") == first.manifest_bytes
    assert len(list(store.list("index/"))) == 1
    assert verify_bundle(store, run_id, TrustStore.of([key.public])).ok


def test_a_conflict_in_a_bundle_folder_with_no_statement_is_not_already_sealed(store_uri: str, tmp_path,
                                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A file of another writer in the run's bundle folder and no statement (that writer stopped half way): both ways of
    writing said "already-sealed" and dropped this bundle, though the run has none. They refuse, naming the folder."""
    from prov_common.bundle import storage
    from prov_common.errors import ObjectConflictError
    from prov_common.store import Outbox

    monkeypatch.setattr(storage, "SEALING_WAIT", 0.1)
    store, bundle = open_store(store_uri), _bundle(SigningKey.generate())
    store.put(f"bundles/{bundle.run_id}/events.jsonl", b"half of another sealing\n")
    for write in (lambda: deliver_bundle(store, bundle), lambda: write_bundle(store, bundle, outbox=Outbox(tmp_path / "spool"))):
        with pytest.raises(ObjectConflictError) as info:
            write()
        what = str(info.value)
        assert what.startswith(f"run {bundle.run_id} is not sealed, but its bundle folder bundles/{bundle.run_id}/ already "
                               f"holds other bytes (object 'bundles/{bundle.run_id}/events.jsonl' already exists in "), what
        assert what.endswith(f"'tdprov verify {bundle.run_id}' still names the bundle incomplete, the writer that began it "
                             f"stopped: move bundles/{bundle.run_id}/ aside and seal the run again with 'tdprov store seal "
                             f"{bundle.run_id}' (its events stay staged)"), what
    assert list(store.list("index/")) == [] and not store.exists(f"bundles/{bundle.run_id}/statement.dsse.json")


def test_a_sealing_that_meets_another_writer_between_its_manifest_and_statement_waits_for_it(store_uri: str) -> None:
    """Two terminal events racing: the loser that meets the winner's manifest before its statement is written still
    gets "already-sealed" once the statement comes, not a refusal."""
    import threading

    from prov_common.bundle.storage import bundle_objects

    store, key = open_store(store_uri), SigningKey.generate()
    first = _bundle(key)
    later = _bundle(key, T0 + timedelta(seconds=3), first.run_id)
    *objects, (statement, data) = bundle_objects(first)
    for k, v in objects:
        store.put(k, v)
    timer = threading.Timer(0.3, store.put, (statement, data))
    timer.start()
    assert deliver_bundle(store, later).status == "already-sealed"
    timer.join()
    assert store.get(f"bundles/{first.run_id}/manifest.json") == first.manifest_bytes


def test_a_sealing_through_the_outbox_that_meets_another_runs_bundle_names_it(store_uri: str, tmp_path,
                                                                              caplog: pytest.LogCaptureFixture) -> None:
    """Two runs given one run id sealing at once, through the outbox (as the transport writes): the loser found no
    statement before its first put, met the winner's files and then its statement. It said only "already sealed by
    another writer" (at info), where a write straight to the store warns that another run was given the run id."""
    import threading
    import uuid

    from prov_common.bundle.storage import bundle_objects
    from prov_common.store import Outbox

    def of_parent(parent: str, sealed_at: datetime, count: int = 2):
        events = run_events(run_id)[-count:]
        for e in events:
            e["run"]["facets"] = {"parent": {"_producer": "https://example.com", "_schemaURL": "https://example.com",
                                             "run": {"runId": parent}, "job": {"namespace": "tests", "name": "etl"}}}
        return build_bundle(events, {}, key, sealed_at=sealed_at)

    store, key, run_id = open_store(store_uri), SigningKey.generate(), str(uuid.uuid4())
    first_parent, second_parent = str(uuid.uuid4()), str(uuid.uuid4())
    first, later = of_parent(first_parent, T0), of_parent(second_parent, T0 + timedelta(seconds=3), count=1)
    *objects, (statement, data) = bundle_objects(first)
    for k, v in objects:
        store.put(k, v)
    timer = threading.Timer(0.3, store.put, (statement, data))
    timer.start()
    with caplog.at_level("WARNING"):
        assert write_bundle(store, later, outbox=Outbox(tmp_path / "spool")).status == "already-sealed"
    timer.join()
    assert (f"run {run_id} is sealed already as the run of job tests/train_features with parent run {first_parent}; "
            f"another run, of job tests/train_features with parent run {second_parent}, was given the same run id, so its "
            f"1 event is in no bundle (it stays staged under staging/{run_id}/)") in caplog.text
    assert store.get(f"bundles/{run_id}/manifest.json") == first.manifest_bytes


def test_events_that_came_after_the_seal_are_counted_in_words(tmp_path, caplog: pytest.LogCaptureFixture) -> None:
    """A sealing of a run sealed already that holds 1,000 events more than its bundle warns of them in the plural,
    their count grouped as every count in a message is ("1000 more" before)."""
    from bundle_support import event

    store, key = open_store(str(tmp_path / "store")), SigningKey.generate()
    first = _bundle(key)
    start, complete = run_events(first.run_id)
    running = [event(first.run_id, "RUNNING", f"2026-03-01T10:00:{n // 1000 + 1:02d}.{n % 1000:03d}Z") for n in range(1000)]
    later = build_bundle([start, *running, complete], {}, key, sealed_at=T0 + timedelta(seconds=3))
    assert write_bundle(store, first).status == "written"
    with caplog.at_level("WARNING"):
        assert write_bundle(store, later).status == "already-sealed"
    assert (f"run {first.run_id} was sealed with 2 events before 1,000 more arrived; they stay staged under "
            f"staging/{first.run_id}/ and are in no bundle.") in caplog.text


def test_crash_before_index_is_completed_by_redelivery_once(store_uri: str) -> None:
    store, key = open_store(store_uri), SigningKey.generate()
    bundle = _bundle(key)
    for path, data in bundle.files.items():
        store.put(f"bundles/{bundle.run_id}/{path}", data)
    store.put(f"bundles/{bundle.run_id}/manifest.json", bundle.manifest_bytes)
    store.put(f"bundles/{bundle.run_id}/statement.dsse.json", bundle.statement_bytes)
    assert list(store.list("index/")) == []
    result = write_bundle(store, bundle)
    assert list(store.list("index/")) == [result.index_key]
    assert write_bundle(store, bundle).index_key == result.index_key


def test_cursor_listing_returns_exactly_the_new_bundles(store_uri: str) -> None:
    store, key = open_store(store_uri), SigningKey.generate()
    day = datetime(2026, 5, 30, 23, 59, 59, tzinfo=timezone.utc)
    written = [deliver_bundle(store, _bundle(key), now=day + timedelta(seconds=i)) for i in range(3)]
    seen = list(list_bundles(store))
    assert [s.run_id for s in seen] == [w.run_id for w in written]  # oldest first, across a month boundary
    cursor = seen[-1].cursor
    assert list(list_bundles(store, since_cursor=cursor)) == []
    new = deliver_bundle(store, _bundle(key), now=day + timedelta(days=40))
    assert [s.run_id for s in list_bundles(store, since_cursor=cursor)] == [new.run_id]
    assert [s.run_id for s in list_bundles(store, since_cursor=rewind_cursor(cursor, 1.5))] == [written[-2].run_id, written[-1].run_id, new.run_id]
    summary = seen[0]
    assert summary.state == "COMPLETE" and summary.key_id == key.key_id
    assert [o.uri for o in summary.outputs] == ["s3://lake/clean/users.parquet"]


def test_recent_bundles_newest_first_with_limit(store_uri: str) -> None:
    store, key = open_store(store_uri), SigningKey.generate()
    now = datetime(2026, 6, 15, 12, tzinfo=timezone.utc)
    moments = [now - timedelta(days=d) for d in (400, 95, 31, 1, 0)] + [now - timedelta(seconds=5)]
    written = {deliver_bundle(store, _bundle(key), now=m).run_id: m for m in moments}
    newest_first = [r for r, _ in sorted(written.items(), key=lambda item: item[1], reverse=True)]
    assert [s.run_id for s in recent_bundles(store, now=now)] == newest_first
    assert [s.run_id for s in recent_bundles(store, limit=2, now=now)] == newest_first[:2]
    # objects under index/ that are no entry (the S3 console's "Create folder", a stray object sorting first) are
    # the audit's to name; the listing goes on past them (it stopped with "not in the index layout")
    from test_audit_support import raw_write

    raw_write(store_uri, "index/0 stray", b"")
    if store_uri.startswith("s3://"):
        raw_write(store_uri, "index/2025/", b"")
    assert [s.run_id for s in recent_bundles(store, now=now)] == newest_first
    assert list(recent_bundles(open_store(store_uri + "-empty"), now=now)) == []


def test_reading_an_unsealed_run_says_so(store_uri: str) -> None:
    store, key = open_store(store_uri), SigningKey.generate()
    bundle = _bundle(key)
    store.put(f"bundles/{bundle.run_id}/manifest.json", bundle.manifest_bytes)
    with pytest.raises(ObjectNotFoundError, match="incomplete"):
        read_bundle(store, bundle.run_id)
    with pytest.raises(ObjectNotFoundError, match="no such bundle"):
        read_bundle(store, "nope")


def test_index_watch_takes_every_key_once_and_remembers_a_bounded_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """The watch re-lists SETTLE_SECONDS back from the newest key not dated in the future, takes each run once, never
    moves its window back, and past MAX_REMEMBERED keys shortens its window instead of forgetting what it took."""
    from prov_common.bundle import IndexWatch, layout, watch

    now = datetime(2026, 5, 1, 12, tzinfo=timezone.utc)

    def key(seconds: float, run: str) -> str:
        return f"{layout.index_cursor(now + timedelta(seconds=seconds))}-{run}.json"

    first = IndexWatch().after([key(-1, "a"), key(3600, "future")], now)
    assert first.start == layout.rewind_cursor(key(-1, "a"), layout.SETTLE_SECONDS)  # the future key does not move it
    assert list(first.unseen([key(-1, "a"), key(-30, "late"), key(3600, "future"), key(-2, "late")])) == [key(-30, "late")]
    again = IndexWatch.parse(first.to_text())
    assert again == first and again.after([], now) == first
    assert IndexWatch.parse(key(-1, "a")) == IndexWatch(key(-1, "a"))  # the older cursor: a bare key
    assert first.after([key(-600, "old")], now).start == first.start  # never moves back

    passing = first.after([], now, [key(-2, "copy")])  # a key passed over (not its run's own entry) is not asked again
    assert passing.passed == (key(-2, "copy"),) and IndexWatch.parse(passing.to_text()) == passing
    assert list(passing.unseen([key(-2, "copy")], own=lambda k: pytest.fail(f"asked again about {k}"))) == []
    assert passing.after([key(400, "b")], now + timedelta(seconds=500)).passed == ()  # until the window leaves it

    monkeypatch.setattr(watch, "MAX_REMEMBERED", 3)
    full = IndexWatch().after([key(-s, f"r{s}") for s in range(5)], now, [key(-s, f"c{s}") for s in range(5)])
    assert full.seen == tuple(sorted(key(-s, f"r{s}") for s in range(3))) and full.start == key(-3, "r3")
    assert full.passed == tuple(sorted(key(-s, f"c{s}") for s in range(3)))


@pytest.mark.parametrize("indexed", ["kept", "deleted"])
def test_the_index_watch_takes_an_entry_copied_after_its_window_for_a_copy(store_uri: str, indexed: str,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    """An index entry copied under a new key once the watch's window has passed the run's own entry (its indexed record
    kept, or deleted too) was taken as a new run (the Dagster sensor asked for an audit of it): by the rule 'tdprov verify'
    names it by, it is no new run; each listing that meets it names it, and the runs after it are taken as before."""
    from bundle_support import raw_delete, raw_put
    from prov_common.bundle import IndexWatch, layout, watch_index
    from prov_common.bundle.verify_runs import verify_runs
    from prov_common.store.identity import writer_store_id

    store, key = open_store(store_uri), SigningKey.generate()

    def delivered(at: datetime):
        return deliver_bundle(store, build_bundle(run_events(), {}, key, sealed_at=at, store_id=writer_store_id(store)), now=at)

    first = delivered(T0)
    new, watch = watch_index(store, IndexWatch(), now=T0 + timedelta(seconds=1))
    assert new == [first.index_key]
    later = T0 + timedelta(hours=1)
    second = delivered(later)
    new, watch = watch_index(store, watch, now=later + timedelta(seconds=1))
    assert new == [second.index_key] and first.index_key not in watch.seen  # the first entry left the window
    copy = layout.index_key_template(first.run_id).format(now=later + timedelta(seconds=2))
    raw_put(store_uri, copy, store.get(first.index_key))
    if indexed == "deleted":
        raw_delete(store_uri, f"bundles/{first.run_id}/indexed")
    third = delivered(later + timedelta(seconds=3))
    caplog.clear()
    new, watch = watch_index(store, watch, now=later + timedelta(seconds=4))
    assert new == [third.index_key], new
    why = (f"the bundle's indexed record names {first.index_key}, not this entry" if indexed == "kept"
           else "the bundle's indexed record, which names its index entry, is gone")
    assert [r.getMessage() for r in caplog.records if copy in r.getMessage()] == [
        f"tdprov: index entry {copy} is not the entry of run {first.run_id} ({why}): a run is indexed once, so it was copied "
        f"or moved, and it is not taken as a new run. Fix: run 'tdprov verify {first.run_id}' (it names the entry) and remove "
        "the entry"]
    assert watch_index(store, watch, now=later + timedelta(seconds=5))[0] == []
    reports = {r.run_id: r for r in verify_runs(store, TrustStore.of([key.public]), workers=1)}
    assert copy in {f.key for f in reports[first.run_id].findings}, reports[first.run_id].findings


def test_the_index_watch_takes_no_run_for_an_index_entry_whose_name_does_not_parse(store_uri: str,
                                                                                    caplog: pytest.LogCaptureFixture) -> None:
    """A copy of a run's entry at 'notastamp-<run>.json' was taken as a new run '-4751-...' cut from its name at a fixed
    width (the Dagster sensor asked for an audit of it): it names no run, so it is passed over and named once."""
    from bundle_support import raw_put
    from prov_common.bundle import IndexWatch, watch_index

    store = open_store(store_uri)
    bundle = _bundle(SigningKey.generate())
    first = write_bundle(store, bundle)
    planted = f"{first.index_key.rsplit('/', 1)[0]}/notastamp-{bundle.run_id}.json"
    raw_put(store_uri, planted, store.get(first.index_key))
    caplog.clear()
    new, watch = watch_index(store, IndexWatch(), now=T0 + timedelta(seconds=1))
    assert new == [first.index_key] and watch.passed == (planted,), (new, watch)
    assert [r.getMessage() for r in caplog.records if planted in r.getMessage()] == [
        f"tdprov: index entry '{planted}' has a name that does not parse as <stamp>-<run id>.json: tdprov wrote no such "
        "entry: it names no run, and it is not taken as a new run. Fix: remove it and find out who wrote it; see 'tdprov verify'"]
    assert watch_index(store, watch, now=T0 + timedelta(seconds=2))[0] == []


def test_the_run_id_of_an_index_key_is_what_follows_its_stamp() -> None:
    """A key whose stamp has a year of 1-3 digits (written unpadded) lost the first characters of its run id, cut at the
    width of a 4-digit stamp, and its cursor did not rewind; a name with no stamp gave a run id cut from it."""
    from prov_common.bundle import layout

    assert layout.run_id_of_index_key("index/999/12/31/9991231T235959000000Z-run-1.json") == "run-1"
    assert layout.rewind_cursor("index/999/12/31/9991231T235959000000Z-run-1.json", 59) == "index/0999/12/31/09991231T235900000000Z"
    assert layout.run_id_of_index_key("index/2026/12/06/20261206T000000000000Z-run-1.json") == "run-1"
    for name in ("notastamp-run-1.json", "x.json", "20261206T000000000000Z.json", "20261206T000000000000Z-run-1"):
        assert layout.run_id_of_index_key(f"index/2026/12/06/{name}") == "", name
        assert not layout.index_name_parses(f"index/2026/12/06/{name}"), name


def test_a_bundle_folder_that_is_a_link_is_never_written_through(tmp_path, caplog: pytest.LogCaptureFixture) -> None:
    """A run's bundle folder made, before the run seals, a symbolic link to a folder outside the store: the bundle was
    written there, and each later read of it was refused (a link). The write is refused naming the key, the link and
    the fix; through the outbox (as pipelines write) the bundle is spooled, never lost, and delivered once the link is
    gone."""
    from prov_common.errors import StoreError
    from prov_common.store import Outbox

    key = SigningKey.generate()
    bundle, root, outside = _bundle(key), tmp_path / "store", tmp_path / "outside"
    store = open_store(str(root))
    assert write_bundle(store, _bundle(key)).status == "written"  # another run's: bundles/ is there
    outside.mkdir()
    link = root / "bundles" / bundle.run_id
    link.symlink_to(outside)
    first = f"bundles/{bundle.run_id}/events.jsonl"
    refusal = (f"cannot write '{first}' in local folder {root}: {link} is a symbolic link (to {outside}), and tdprov "
               "writes only files and folders in a store, never through a link. Fix: find out who put the link there, "
               "remove it and restore what it replaced from a backup or replica of the store, then write again ('tdprov "
               "flush' delivers what a pipeline spooled)")
    with pytest.raises(StoreError) as caught:
        deliver_bundle(store, bundle)
    assert str(caught.value) == refusal
    outbox = Outbox(tmp_path / "spool")
    with caplog.at_level("WARNING"):
        assert write_bundle(store, bundle, outbox=outbox).status == "spooled"
    assert refusal in caplog.text
    assert list(outside.iterdir()) == [] and len(list(store.list("index/"))) == 1
    link.unlink()
    report = outbox.flush(store)
    assert (report.delivered, report.left, report.failed) == (1, 0, 0)
    assert read_bundle(store, bundle.run_id).manifest_bytes == bundle.manifest_bytes
    assert verify_bundle(store, bundle.run_id, TrustStore.of([key.public])).ok


def test_a_sealing_of_the_sealed_events_again_reads_not_the_sealed_events(tmp_path, caplog: pytest.LogCaptureFixture) -> None:
    """A run whose events name an Airflow DAG run, sealed again from the very events sealed (its terminal event delivered
    twice, a spooled copy sealed at another time), met the sealed bundle at its manifest and read the sealed
    events.jsonl to tell whether another DAG run at its logical date was given its run id. The events are those the
    sealed manifest lists by digest: nothing is read. A bundle of another DAG run at that run id is still told apart."""
    import uuid

    from counting_store import CountingStore

    def of_dag_run(dag_run: str, sealed_at: datetime):
        events = run_events(run_id)
        for e in events:
            e["run"]["facets"] = {"airflow": {"_producer": "https://example.com", "_schemaURL": "https://example.com",
                                              "dag": {"dag_id": "etl"}, "dagRun": {"dag_id": "etl", "run_id": dag_run}}}
        return build_bundle(events, {}, key, sealed_at=sealed_at)

    store, key, run_id = CountingStore(tmp_path / "store"), SigningKey.generate(), str(uuid.uuid4())
    events = f"bundles/{run_id}/events.jsonl"
    first = of_dag_run("manual__1", T0)
    assert write_bundle(store, first).status == "written"
    store.gets.clear()
    with caplog.at_level("WARNING"):
        assert write_bundle(store, first).status == "written"  # the same bytes again: no conflict, nothing to tell
        assert write_bundle(store, of_dag_run("manual__1", T0 + timedelta(seconds=3))).status == "already-sealed"
    assert store.gets[events] == 0 and caplog.text == "", (store.gets, caplog.text)
    store.gets.clear()
    with caplog.at_level("WARNING"):
        assert write_bundle(store, of_dag_run("manual__2", T0 + timedelta(seconds=6))).status == "already-sealed"
    assert (store.gets[events], store.gets[f"bundles/{run_id}/manifest.json"]) == (1, 1), store.gets  # each read once
    assert (f"run {run_id} is sealed already as the run of job tests/train_features with no parent run in Airflow DAG run "
            "manual__1; another run, of job tests/train_features with no parent run in Airflow DAG run manual__2, was given "
            "the same run id") in caplog.text, caplog.text
