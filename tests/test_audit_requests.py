"""What one incremental audit of an S3 store asks of it, counted on the store's own client (moto, real boto3): each
prefix listed once until the audit writes there, so the requests follow what is new, and a listing taken before a
write never hides that write from a reader after it."""
from __future__ import annotations

import collections
import os
from datetime import timedelta

import pytest

from prov_common.errors import ObjectConflictError
from prov_common.store import open_store

from counting_store import CountingStore
from test_audit_support import T0, Pipeline, audit, dataset, raw_write, run_events, seal

NEW = 3  # runs sealed before each audit


def _counted(store) -> collections.Counter[str]:
    calls: collections.Counter[str] = collections.Counter()
    store.client.meta.events.register("before-call.s3", lambda model, **_: calls.update([model.name]))
    return calls


def _backend_listings(store) -> collections.Counter[str]:
    """The listings ``store`` asks its backend for from now on, counted by prefix (what the memo did not answer)."""
    listings: collections.Counter[str] = collections.Counter()
    backend = store._list_info

    def counted(prefix, start_after, tags_for=None):
        listings[prefix] += 1
        return backend(prefix, start_after, tags_for)

    store._list_info = counted
    return listings


def _seal_new(pipe: Pipeline, store, audit_number: int) -> None:
    for i in range(NEW):
        seal(store, run_events(f"prepare_{audit_number}_{i}", [dataset(pipe.raw_name, pipe.raw)],
                               [dataset(f"/d/{audit_number}-{i}.parquet", None)], start=T0 + timedelta(minutes=10 * audit_number + i)))


def test_an_incremental_audit_lists_each_prefix_once(s3_store_uri: str) -> None:
    """Measured: 81 requests of them 29 listings before (the log's checkpoints and leaves, the state, catalog and index
    listed again by each reader), then 67 and 15, 11 of them the inventory's one listing of each prefix; then 65 (the
    state and catalog segment the audit before wrote read once, not again by the inventory); 63 and 14 (the log's
    new leaves listed and read once, not again to prove the log extends the auditor's checkpoint); 61 and 12 now (what
    the audit created, its catalog segment and leaf batch, added to the kept listing: audit/catalog/ and log/leaves/ are
    not listed again); 63 with the bucket's versioning and Object Lock configuration read once each, to compare with what
    the auditor saw before; then two reads fewer: the lookup objects the audit before wrote are not read again; then two
    reads fewer again: the write probes of log/ and audit/, refused as existing, are not read back."""
    pipe = Pipeline(s3_store_uri)
    store = open_store(s3_store_uri)
    calls = _counted(store)
    counts = []
    for n in range(3):
        _seal_new(pipe, store, n)
        calls.clear()
        result = audit(store)
        assert result.clean and result.bundles_examined == NEW + 2 * (n == 0), [f.what for f in result.errors]
        counts.append(dict(calls))
    later = counts[1:]
    # the same work for the same news, whatever the store holds, but one catalog segment and one segment of the auditor's
    # inventory more (each read until a summary covers it, at most 8 of each)
    assert later[0] == {**later[1], "GetObject": later[1]["GetObject"] - 2}, counts
    assert later[0]["ListObjectsV2"] <= 12, later[0]
    assert sum(later[0].values()) <= 59, later[0]
    assert later[0]["GetBucketVersioning"] == later[0]["GetObjectLockConfiguration"] == 1, later[0]
    assert later[0].get("HeadObject", 0) <= NEW, later[0]  # one per new bundle (an object where its folder belongs)


def test_a_later_audits_write_probes_are_one_put_each_and_read_nothing(s3_store_uri: str) -> None:
    """Each audit checks it may create objects under log/ and audit/ by putting their write probes: after the first
    audit each probe was a PutObject refused as existing (412) and a GetObject comparing its bytes. The 412 already
    proves the access (S3 refuses a put without permission before it looks at the object): one request a prefix, and
    no probe read, in the check and in a whole audit."""
    from prov_common.audit.access import require_write_access
    from prov_common.store._base import WRITE_PROBE

    Pipeline(s3_store_uri)
    store = open_store(s3_store_uri)
    assert audit(store).clean  # creates log/write-probe and audit/write-probe
    asked: list[tuple[str, str]] = []
    store.client.meta.events.register("before-parameter-build.s3", lambda model, params, **_: asked.append((model.name, params.get("Key", ""))))
    require_write_access(store)
    assert [name for name, _ in asked] == ["PutObject", "PutObject"], asked
    asked.clear()
    assert audit(store).clean
    probes = [(name, key.rsplit("/", 2)[-2]) for name, key in asked if key.endswith("/" + WRITE_PROBE)]
    assert probes == [("PutObject", "log"), ("PutObject", "audit")], probes
    with pytest.raises(ObjectConflictError):  # a real write is still compared with what the key holds
        store.put("log/" + WRITE_PROBE, b"other bytes")


@pytest.mark.parametrize("store_kind", ["local", "s3"])
def test_a_kept_listing_never_hides_a_write(store_kind: str, tmp_path, request: pytest.FixtureRequest) -> None:
    """Within one job's listing memo: a later listing of the same keys asks the store nothing; a write through the
    store (made, or refused with other bytes) is seen by the next listing; one refused for the same bytes keeps it. An
    object the store's create-if-absent made is added to the kept listing (a listing of keys alone then: one asking for
    sizes lists again); one another writer made meanwhile refuses this store's write of its key, which forgets it."""
    uri = str(tmp_path / "store") if store_kind == "local" else request.getfixturevalue("s3_store_uri")
    store = open_store(uri)
    store.put("log/a", b"a")
    listings = _backend_listings(store)
    with store.memo_listings():
        assert list(store.list("log/")) == ["log/a"]
        assert list(store.list("log/")) == ["log/a"] and list(store.list("log/a")) == ["log/a"]
        assert listings == {"log/": 1}
        assert store.put("log/a", b"a") is False  # the same bytes again: the kept listing still tells the truth
        assert list(store.list("log/")) == ["log/a"] and listings == {"log/": 1}
        store.put("log/b", b"b")  # created: in the kept listing, no request
        assert list(store.list("log/")) == ["log/a", "log/b"] and list(store.list("log/", start_after="log/a")) == ["log/b"]
        assert listings == {"log/": 1}
        assert [(i.key, i.size) for i in store.list_info("log/")] == [("log/a", 1), ("log/b", 1)] and listings == {"log/": 2}
        raw = open_store(uri)  # another writer: the store's own writes alone forget what was listed
        raw.put("log/c", b"c")
        with pytest.raises(ObjectConflictError):
            store.put("log/c", b"other")  # refused: it holds other bytes, which the kept listing does not show
        assert list(store.list("log/")) == ["log/a", "log/b", "log/c"] and listings == {"log/": 3}
    assert store._memo is None  # after the job nothing is kept: the next one lists again


@pytest.mark.parametrize("sealed_at", ["bundles/", "index/", "log/"])
def test_a_run_sealed_while_the_audit_lists_the_store_is_no_finding(sealed_at: str, tmp_path) -> None:
    """A run sealed by another writer just as the audit's first listing reaches ``sealed_at``: with bundles/ listed
    before index/, its index entry was listed and its files were not, and the listing memo handed that listing to the
    run's verification, so the audit named it "missing: no bundle objects" and "in the index but not in the log". It
    is examined and logged now, or left for the next audit, which is clean either way."""
    uri = str(tmp_path / "store")
    pipe = Pipeline(uri)
    store, writer = open_store(uri), open_store(uri)
    assert audit(store).clean
    backend, sealed = store._list_info, []

    def listing(prefix, start_after, tags_for=None):
        if prefix == sealed_at and not sealed:
            sealed.append(seal(writer, run_events("prepare_late", [dataset(pipe.raw_name, pipe.raw)],
                                                  [dataset("/d/late.parquet", None)], start=T0 + timedelta(hours=3))))
        return backend(prefix, start_after, tags_for)

    store._list_info = listing
    during = audit(store)
    store._list_info = backend
    after = audit(store)
    assert sealed and during.clean and after.clean, [f"{f.object}: {f.what}" for f in (*during.errors, *after.errors)]


def test_the_inventory_lists_the_index_first_and_holds_no_listing_whole() -> None:
    """The inventory lists index/ before bundles/ (a run sealed in between is then seen whole or not at all); it did so
    by reading the index's listing whole into a list first: every listed object held at once (about 0.5 KB each, on top
    of what the inventory keeps), which the listing memo's bound no longer holds for a large store. Each object is let
    go as the next is read now."""
    import weakref

    from prov_common.audit.inventory import LISTED_PREFIXES, Listing
    from prov_common.store._base import ObjectInfo

    asked, alive = [], []

    class Store:
        def list_info(self, prefix, *, start_after=None, tags_for=None):
            asked.append(prefix)
            for i in range(50 if prefix in ("index/", "bundles/") else 0):
                if len(alive) > 2:  # the one before the last yielded is no longer held by the reader
                    assert alive[-2]() is None, f"{prefix}: {len(alive)} objects read, the earlier ones all held"
                info = ObjectInfo(f"{prefix}2026/01/01/{i:04d}.json", 1, "t")
                alive.append(weakref.ref(info))
                yield info
            alive.clear()

    listing = Listing.take(Store())
    assert asked == list(LISTED_PREFIXES) and asked[:2] == ["index/", "bundles/"]
    assert len(listing.tags) == 100


def test_a_kept_listing_answers_a_folder_of_it_as_the_store_would(tmp_path) -> None:
    """A listing of a folder (after a key, or not) answered from a kept listing of the whole prefix holds what the
    store lists there, found by bisection in an ordered listing (a scan of every kept key made each bundle's folder
    listing in an audit cost what the store holds), and by a scan in one a server gave out of order."""
    from prov_common.store._base import ObjectInfo
    from prov_common.store.listing_memo import ListingMemo

    keys = sorted(f"bundles/{run}/{name}" for run in ("a", "a-b", "a0", "b", "bb") for name in ("m", "p.json", "x/y"))
    cases = [(p, after) for p in ("bundles/", "bundles/a", "bundles/a/", "bundles/a-", "bundles/b/", "bundles/c/", "bundles/bb/x")
             for after in (None, "bundles/", "bundles/a/m", "bundles/a0/x/y", "bundles/b", "bundles/zz")]
    for listed in (keys, keys[::-1]):
        memo = ListingMemo()
        memo.keep("bundles/", None, None, [ObjectInfo(k, 1, "t") for k in listed], memo.started())
        for prefix, after in cases:
            expected = [k for k in listed if k.startswith(prefix) and (after is None or k > after)]
            assert [i.key for i in memo.answer(prefix, after, None)] == expected, (prefix, after)


def test_a_listing_read_after_the_job_asks_the_store(tmp_path) -> None:
    """A listing asked for within a job's memo and read after it ended failed an assertion (the memo gone); it is
    answered by the store, with what was written since."""
    store = open_store(str(tmp_path / "store"))
    store.put("log/a", b"a")
    with store.memo_listings():
        assert list(store.list("log/")) == ["log/a"]
        later, later_info = store.list("log/"), store.list_info("log/")
    store.put("log/b", b"b")
    assert list(later) == ["log/a", "log/b"] and [i.key for i in later_info] == ["log/a", "log/b"]


def test_a_local_listing_of_keys_stats_no_file_and_a_listing_of_sizes_has_every_size(tmp_path) -> None:
    """On a local folder, within a job's memo: a listing of keys alone asked the folder for every file's size and tag
    (a stat each, which a listing of keys never cost); and a listing asking for every size (``tags_for`` None) was
    answered from a kept one that had only some (size -1 for the others)."""
    store = open_store(str(tmp_path / "store"))
    for key in ("log/a", "log/b"):
        store.put(key, b"x")
    asked, backend = [], store._list_info

    def spied(prefix, start_after, tags_for=None):
        asked.append(tags_for)
        return backend(prefix, start_after, tags_for)

    store._list_info = spied
    with store.memo_listings():
        assert list(store.list("log/")) == ["log/a", "log/b"]
        assert asked[0] is not None and not asked[0]("log/a")  # no size or tag asked for: no stat
        assert [(i.key, i.size) for i in store.list_info("log/")] == [("log/a", 1), ("log/b", 1)]
    with store.memo_listings():
        assert [i.size for i in store.list_info("log/", tags_for=lambda key: key == "log/a")] == [1, -1]
        assert [(i.key, i.size) for i in store.list_info("log/")] == [("log/a", 1), ("log/b", 1)]


def test_a_listing_too_large_to_keep_is_listed_again_and_the_memo_stays_bounded(tmp_path, monkeypatch) -> None:
    """The memo kept every listing of the audit whole (about 0.5 KB an object: gigabytes for a store of millions of
    objects); a listing over MAX_KEPT_OBJECTS is not kept (nor held while read), nor one that would take the memo past
    MAX_MEMO_OBJECTS: each is listed again when asked for again, as without a memo, and gives the same keys."""
    from prov_common.store import listing_memo

    monkeypatch.setattr(listing_memo, "MAX_KEPT_OBJECTS", 3)
    monkeypatch.setattr(listing_memo, "MAX_MEMO_OBJECTS", 5)
    store = open_store(str(tmp_path / "store"))
    for key in ("big/1", "big/2", "big/3", "big/4", "a/1", "a/2", "a/3", "b/1", "b/2", "b/3"):
        store.put(key, b"x")
    listings = _backend_listings(store)
    with store.memo_listings():
        for prefix in ("big/", "a/", "b/"):
            first, again = list(store.list(prefix)), list(store.list(prefix))
            assert first == again == [f"{prefix}{i}" for i in range(1, 4 + (prefix == "big/"))]
        assert listings == {"big/": 2, "a/": 1, "b/": 2}  # big/: over 3 objects; b/: a/'s 3 and its 3 are over 5
        assert sum(len(kept.infos) for kept in store._memo._kept.values()) <= 5


def test_a_prefix_too_large_to_keep_is_listed_in_full_once_an_audit(tmp_path, monkeypatch) -> None:
    """The audit's first listing of the store (``Listing.first``, which fills the memo for the readers before the
    inventory) read every prefix in full, the inventory then listing again each one the memo could not keep: a large
    store's bundles and index listed twice an audit. The first listing reads such a prefix no further than the bound."""
    from prov_common.store import listing_memo

    uri = str(tmp_path / "store")
    Pipeline(uri)
    store = open_store(uri)
    files = sum(1 for _ in store.list("bundles/"))
    monkeypatch.setattr(listing_memo, "MAX_KEPT_OBJECTS", 3)
    yielded: collections.Counter[str] = collections.Counter()
    backend = store._list_info

    def counted(prefix, start_after, tags_for=None):
        for info in backend(prefix, start_after, tags_for):
            yielded[prefix] += 1
            yield info

    store._list_info = counted
    assert files > 4 and audit(store).clean
    assert yielded["bundles/"] <= files + 4, (yielded["bundles/"], files)  # once in full, and the bound's 4 objects


def test_a_prefix_too_large_to_keep_is_listed_by_one_request_per_page_an_audit(s3_store_uri: str, monkeypatch) -> None:
    """The audit's first listing read up to the bound's objects of bundles/ (20,001 of a store of 10,000 bundles: 21
    requests), which no reader before the inventory lists, only for the memo, which cannot keep them; the inventory then
    listed bundles/ again in full. bundles/ is listed by the inventory alone now: one request a page, in a full audit and
    an incremental one (measured on the inventory's listing of 2,500 bundles holding 22,500 keys: 23 requests of
    bundles/, 44 before)."""
    from prov_common.store import listing_memo

    pipe = Pipeline(s3_store_uri)
    store = open_store(s3_store_uri)
    assert sum(1 for _ in store.list("bundles/")) > 4
    monkeypatch.setattr(listing_memo, "MAX_KEPT_OBJECTS", 3)
    asked: list[str] = []
    store.client.meta.events.register("before-parameter-build.s3.ListObjectsV2", lambda params, **_: asked.append(params.get("Prefix", "")))
    for n in range(2):  # full (this auditor's first), then incremental
        _seal_new(pipe, store, n)
        asked.clear()
        result = audit(store)
        assert result.clean and result.full == (n == 0), [f.what for f in result.errors]
        assert sum(p.endswith("/bundles/") for p in asked) == 1, asked


def test_an_index_too_large_to_keep_is_listed_once_an_audit(s3_store_uri: str, monkeypatch) -> None:
    """An index the memo cannot keep was listed three times an audit: up to the bound by the first listing, in full (or
    its new entries) by the planning step, and in full again by the inventory (at 20,000+ runs: 21 requests, then one a
    page twice). The first listing lists it once, in full, before bundles/, and the planning step and the inventory
    take its keys from that: one listing of index/, in a full audit, an incremental one, and a first audit that accepts
    the store's log with ``require_runs`` (which also took the inventory's listing twice: bundles/ listed twice). Measured
    with the bound lowered to 1: index/ listed 3 times in a full and an incremental audit and 4 times in the accepting
    one (38, 21 and 20 listings of the store in all now, 40, 23 and 24 before)."""
    from prov_common.store import listing_memo

    pipe = Pipeline(s3_store_uri)
    store = open_store(s3_store_uri)
    asked: list[str] = []
    store.client.meta.events.register("before-parameter-build.s3.ListObjectsV2", lambda params, **_: asked.append(params.get("Prefix", "")))
    monkeypatch.setattr(listing_memo, "MAX_KEPT_OBJECTS", 1)
    _seal_new(pipe, store, 0)
    assert sum(1 for _ in store.list("index/")) > 2
    asked.clear()
    accepted = audit(store, accept_checkpoint="a first audit of a store with runs and no log", require_runs=True)
    assert accepted.clean and accepted.full, [f.what for f in accepted.errors]
    assert [sum(p.endswith(f"/{folder}/") for p in asked) for folder in ("index", "bundles")] == [1, 1], asked
    for n in range(1, 3):  # incremental, then full
        _seal_new(pipe, store, n)
        asked.clear()
        result = audit(store, full=n == 2)
        assert result.clean and result.full == (n == 2) and result.bundles_examined, [f.what for f in result.errors]
        assert [sum(p.endswith(f"/{folder}/") for p in asked) for folder in ("index", "bundles")] == [1, 1], asked


def _third_audit_counted(tmp_path) -> CountingStore:
    """A local store counting what its third audit (incremental, :data:`NEW` runs new) reads and lists."""
    uri = str(tmp_path / "store")
    pipe, store = Pipeline(uri), CountingStore(tmp_path / "store")
    for n in range(3):
        _seal_new(pipe, store, n)
        store.gets.clear()
        store.lists.clear()
        assert audit(store).clean
    return store


def test_an_incremental_audit_reads_the_state_and_catalog_it_continues_from_once(tmp_path) -> None:
    """The audit state and catalog segment the audit before wrote were read to continue from them, and read again by the
    inventory to compare them with the bytes that audit wrote; the digests of the bytes read first are compared now."""
    store = _third_audit_counted(tmp_path)
    continued = {k: n for k, n in store.gets.items() if k.startswith(("audit/state/", "audit/catalog/"))}
    assert any(k.startswith("audit/state/") for k in continued) and set(continued.values()) == {1}, continued



def test_a_state_replaced_after_the_audit_read_it_is_still_named(tmp_path, monkeypatch) -> None:
    """The inventory takes the digest of the state as the audit read it only where it lists the state as listed before
    that read: one replaced after the read, in a store whose states are too many for the listing memo to keep (listed
    again by the inventory), is read again and named, as before."""
    from prov_common.store import listing_memo

    uri = str(tmp_path / "store")
    pipe, store = Pipeline(uri), CountingStore(tmp_path / "store")
    for n in range(2):
        _seal_new(pipe, store, n)
        assert audit(store).clean
    _seal_new(pipe, store, 2)
    monkeypatch.setattr(listing_memo, "MAX_KEPT_OBJECTS", 1)
    state, get, replaced = list(store.list("audit/state/"))[-1], store.get, []

    def replacing(key: str, limit: int | None = None) -> bytes:
        data = get(key, limit)
        if key == state and not replaced:
            replaced.append(raw_write(uri, key, data + b"\n"))
        return data

    store.get = replacing
    result = audit(store)
    assert replaced and [f.object for f in result.errors if "is not the object this auditor wrote" in f.what] == [state], \
        [f"{f.object}: {f.what}" for f in result.errors]


def test_an_incremental_audit_lists_the_logs_leaves_once_and_reads_each_batch_once(tmp_path) -> None:
    """After appending, the audit read the leaves logged since the state (a listing of log/leaves/ from there) and, to prove
    the log extends this auditor's checkpoint, listed log/leaves/ whole and read the same batches again; the proof takes
    the leaves read first when they hold every leaf after that checkpoint. The listing of log/ taken first, with the
    batch the audit created added, answers the listing of log/leaves/ after the append: log/ is listed once."""
    store = _third_audit_counted(tmp_path)
    batches = {k: n for k, n in store.gets.items() if k.startswith("log/leaves/")}
    assert sum(n for p, n in store.lists.items() if p.startswith("log/")) == 1, store.lists
    assert batches and set(batches.values()) == {1}, (store.lists, batches)


def test_an_incremental_audit_lists_the_catalog_once(tmp_path) -> None:
    """The audit wrote its catalog segment, which forgot the listing of audit/catalog/ taken first, and read the catalog
    after it by listing audit/catalog/ again; the segment it created is added to the kept listing now, and read from it."""
    store = _third_audit_counted(tmp_path)
    assert store.lists["audit/catalog/"] == 1, store.lists
    segments = list(open_store(str(tmp_path / "store")).list("audit/catalog/"))
    assert len(segments) == 3 and {k: store.gets[k] for k in segments} == dict.fromkeys(segments, 1), store.gets  # its own too


def test_a_segment_another_auditor_wrote_at_the_audits_key_is_read(tmp_path, monkeypatch) -> None:
    """Another auditor that writes the segment of the same checkpoint after this audit listed audit/catalog/ refuses
    this audit's conditional write of it: the kept listing is forgotten, audit/catalog/ listed again, and the other's
    segment read (it holds the runs) by this audit, which is clean, as the next one is."""
    from prov_common.signing.keyfiles import default_key_path

    uri = str(tmp_path / "store")
    pipe, store = Pipeline(uri), CountingStore(tmp_path / "store")
    assert audit(store).clean
    _seal_new(pipe, store, 0)
    home, put, other, tried = os.environ["TDPROV_HOME"], store.put_listed, [], []

    def racing(key: str, data) -> tuple[bool, str | None]:
        if key.startswith("audit/catalog/") and not other:
            tried.append(key)
            with monkeypatch.context() as as_other:  # another auditor (its own memory, the same key), done first
                as_other.setenv("TDPROV_SIGNING_KEY", str(default_key_path()))
                as_other.setenv("TDPROV_HOME", str(tmp_path / "other"))
                other.append((audit(open_store(uri)), list(open_store(uri).list("audit/catalog/"))))
            assert os.environ["TDPROV_HOME"] == home
        return put(key, data)

    store.put_listed = racing
    store.lists.clear()
    result = audit(store)
    [(theirs, segments)] = other
    assert theirs.clean and result.clean, [f.what for f in (*theirs.errors, *result.errors)]
    assert tried == segments[-1:] and store.gets[tried[0]] >= 1 and store.lists["audit/catalog/"] == 2, (tried, segments, store.gets, store.lists)
    store.put_listed = put
    assert audit(store).clean



def test_an_endpoint_listing_no_etag_takes_the_audits_own_objects_as_written(s3_listing_without_etags, monkeypatch) -> None:
    """An S3-compatible endpoint whose listings give no ETag (its PutObject answers one): the audit remembered each
    object it wrote (leaf batch, catalog segment, lookup objects, signed record, reports) by the ETag its PutObject
    answered, which no listing shows, so the next audit named each as changed after it was first listed, on every audit.
    Each is remembered by the SHA-256 of its bytes instead: the next audit reads it once and then knows it by its listed
    size. Every audit is clean, reads each object the audit before wrote at most once, and asks what an audit of S3
    asks (test_an_incremental_audit_lists_each_prefix_once): two reads more each audit, as its catalog and inventory grow."""
    from prov_common.audit.model import CHECK_INVENTORY, NOTE

    s3_listing_without_etags.point(monkeypatch)
    uri = f"s3://{s3_listing_without_etags.create_bucket()}/prefix"
    pipe = Pipeline(uri)
    store = open_store(uri)
    calls = _counted(store)
    asked: list[tuple[str, str]] = []
    store.client.meta.events.register("before-parameter-build.s3",
                                      lambda model, params, **_: asked.append((model.name, params.get("Key", "").removeprefix("prefix/"))))
    counts, wrote = [], set()
    for n in range(4):
        _seal_new(pipe, store, n)
        calls.clear()
        asked.clear()
        result = audit(store)
        assert result.clean, (n, [f"{f.object}: {f.what}" for f in result.errors])
        inventory = result.check(CHECK_INVENTORY).findings
        assert [f.severity for f in inventory if "listed with no ETag by" in f.what] == [NOTE], [f.what for f in inventory]
        reads = collections.Counter(key for name, key in asked if name == "GetObject")
        assert all(reads[key] <= 1 for key in wrote), (n, {key: reads[key] for key in wrote})
        wrote = {key for name, key in asked if name == "PutObject" and not key.endswith("write-probe")}
        counts.append(dict(calls))
    assert counts[2] == {**counts[3], "GetObject": counts[3]["GetObject"] - 2}, counts
