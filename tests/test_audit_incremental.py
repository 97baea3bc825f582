"""Incremental audits cost what is new, not the store: counted reads of a real local store, the signed
audit state they continue from (tampering found), and the same results as a full audit."""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from prov_common.audit.checks import FIX_NO_INPUTS, FIX_ORIGIN
from prov_common.audit.generated import generated_key
from prov_common.audit.model import CHECK_COMPLETENESS, CHECK_INVENTORY, CHECK_LOG, CHECK_QUALITY, CHECK_SIGNATURES, CHECK_UNFINISHED
from prov_common.audit.state import STATE_PAYLOAD_TYPE, AuditState
from prov_common.bundle import layout
from prov_common.bundle.transport import staged_event_key
from prov_common.cli import main
from prov_common.config import Settings
from prov_common.signing import Envelope, SigningKey, default_signing_key, sign_envelope
from prov_common.sources import SourceRecord, register_source
from prov_common.store import open_store
from prov_common.store.local import LocalStore
from prov_common.tlog.log import TransparencyLog, checkpoint_key, leaf_batch_key
from prov_common.tlog.model import CHECKPOINT_PAYLOAD_TYPE, Checkpoint

from bundle_support import signed_staged
from test_audit_support import T0, Pipeline, dataset, digest, flip_byte, not_camel_case, raw_delete, raw_read, raw_write, run_events, seal, seal_chain, audit


class CountingStore(LocalStore):
    """The real local store, counting the objects read and the listings made."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, fsync=False)
        self.reads: Counter[str] = Counter()

    def get(self, key: str, limit: int | None = None) -> bytes:
        self.reads["get " + key.split("/")[0]] += 1
        return super().get(key, limit)

    def exists(self, key: str) -> bool:
        self.reads["exists " + key.split("/")[0]] += 1
        return super().exists(key)

    def list(self, prefix: str = "", *, start_after: str | None = None) -> Iterator[str]:
        self.reads["list " + prefix.split("/")[0]] += 1
        return super().list(prefix, start_after=start_after)


def _audit(store, **kw):
    return audit(store, workers=1, **kw)


def _audit_stopped_before_its_state(store, monkeypatch: pytest.MonkeyPatch) -> None:
    """An audit that stops (KeyboardInterrupt) after its checkpoint and before it writes its state."""
    from prov_common.audit import engine

    with monkeypatch.context() as crashing:
        def stop(*args, **kwargs):
            raise KeyboardInterrupt("the auditor stopped")
        crashing.setattr(engine, "write_state", stop)
        with pytest.raises(KeyboardInterrupt):
            _audit(store)


def test_incremental_audit_reads_grow_with_what_is_new_not_with_the_store(tmp_path: Path) -> None:
    reads = {}
    for size in (10, 30):
        store = CountingStore(tmp_path / f"store-{size}")
        register_source(store, SourceRecord(name="raw", digest=digest("raw"), license="CC0-1.0", issuer="tests"), default_signing_key())
        seal_chain(store, 0, size)
        assert _audit(store).clean
        seal_chain(store, size, 6)
        assert _audit(store).clean
        seal_chain(store, size + 6, 6)
        store.reads.clear()
        result = _audit(store)
        assert result.clean and result.bundles_examined == 6 and result.summary()["runs"] == size + 12, [f.what for f in result.errors]
        reads[size] = dict(store.reads)
    # the same objects for 6 new bundles whether the store holds 10 or 30: nothing old is re-read (not the lookups the audit
    # before wrote either, see the test below)
    assert reads[10] == reads[30], reads
    bundle_reads = reads[30]["get bundles"]
    assert bundle_reads <= 6 * 6, reads  # each new bundle's objects, at most
    assert sum(reads[30].values()) <= 6 * 12 + 30, reads


class _CountsReads:
    """Counts the objects read (``get``) from the store it is mixed into, by key."""

    gets: Counter[str]

    def get(self, key: str, limit: int | None = None) -> bytes:
        self.gets[key] += 1
        return super().get(key, limit)  # type: ignore[misc]


def _counting(uri: str):
    """The real store at ``uri`` (a local folder, or S3 through moto), counting the objects read from it."""
    store = type("Counting", (_CountsReads, type(open_store(uri))), {})(uri)
    store.gets = Counter()
    return store


def test_the_audit_after_a_full_one_reads_no_lookup_it_wrote_and_still_names_one_changed_or_deleted(store_uri: str) -> None:
    store = _counting(store_uri)
    register_source(store, SourceRecord(name="raw", digest=digest("raw"), license="CC0-1.0", issuer="tests"), default_signing_key())
    seal_chain(store, 0, 6)
    assert _audit(store, full=True).clean
    written = list(store.list("audit/generated/"))
    assert len(written) == 6  # one per version the 6 runs generated
    seal_chain(store, 6, 2)
    store.gets.clear()
    result = _audit(store)
    assert result.clean and result.bundles_examined == 2, [f.what for f in result.errors]
    # the audit remembered each lookup it wrote as the store lists it: none is read again to be known
    assert [k for k in store.gets if k in written] == [], sorted(store.gets)
    # changed or deleted after the full audit that wrote them, before any listing showed them: named, on every audit after
    before = set(store.list("audit/generated/"))
    seal_chain(store, 8, 2)
    assert _audit(store, full=True).clean
    flipped, deleted = sorted(set(store.list("audit/generated/")) - before)  # the lookups of the two runs it logged
    flip_byte(store_uri, flipped)
    raw_delete(store_uri, deleted)
    seal_chain(store, 10, 2)
    for _ in range(2):
        store.gets.clear()
        result = _audit(store)
        named = {f.object: f.what for f in result.check(CHECK_INVENTORY).errors}
        assert named.get(flipped, "").startswith(f"audit object '{flipped}' changed after it was first listed"), named
        assert named.get(deleted) == f"audit object '{deleted}' is missing: it was deleted", named
        assert [k for k in store.gets if k in before] == [], sorted(store.gets)


def test_the_next_audit_reads_none_of_the_objects_an_audit_wrote_only_to_compare_them(store_uri: str) -> None:
    """The checkpoint, leaf batch, catalog segment, signed record and reports an incremental audit writes after its listing
    are remembered by the fingerprint the store gave each when it created it: the next audit reads none of them to know
    them (it reads the state it continues from, as it must, and the catalog it loads), and one changed after the audit
    wrote it is still named."""
    store = _counting(store_uri)
    register_source(store, SourceRecord(name="raw", digest=digest("raw"), license="CC0-1.0", issuer="tests"), default_signing_key())
    seal_chain(store, 0, 6)
    assert _audit(store, full=True).clean
    seal_chain(store, 6, 2)
    before = set(store.list(""))
    assert _audit(store).clean
    wrote = set(store.list("")) - before
    kinds = {k.split("/")[1] for k in wrote if k.startswith(("audit/", "log/"))}
    assert {"checkpoints", "leaves", "state", "catalog", "runs", "reports"} <= kinds, sorted(wrote)
    seal_chain(store, 8, 2)
    store.gets.clear()
    result = _audit(store)
    assert result.clean and result.bundles_examined == 2, [f.what for f in result.errors]
    # only what it reads anyway, once each: the log's head, the auditor's inventory, the state it continues from and the
    # catalog segment it loads (not the leaf batch, signed record or reports, read before only to be compared)
    read_back = {k.split("/")[1]: n for k, n in store.gets.items() if k in wrote}
    assert read_back == {"checkpoints": 1, "auditor-inventory": 1, "state": 1, "catalog": 1}, read_back
    # one changed after the audit wrote it, before a listing showed it: named on every audit after
    before = set(store.list(""))
    seal_chain(store, 10, 2)
    assert _audit(store).clean
    [record] = [k for k in set(store.list("audit/runs/")) - before]
    flip_byte(store_uri, record)
    seal_chain(store, 12, 2)
    for _ in range(2):
        named = {f.object: f.what for f in _audit(store).check(CHECK_INVENTORY).errors}
        assert named.get(record, "").startswith(f"audit's signed record '{record}' changed after it was first listed"), named


def test_incremental_audit_results_equal_a_full_audit(tmp_path: Path) -> None:
    """Links broken in one audit and closed in later ones (a later run, a registered source), failing
    data used across audits: the incremental results are the full audit's."""
    pipe = Pipeline(str(tmp_path / "store"))
    orphan, scraped = digest("orphan"), digest("scraped")
    seal(pipe.store, run_events("train_on_scraped", [dataset("/data/scraped.parquet", scraped)], [], start=T0 + timedelta(hours=1), job_type="TRAINING"))
    seal(pipe.store, run_events("validate", [dataset(pipe.raw_name, pipe.raw)], [dataset("/data/bad.parquet", digest("bad"), passed=False, failed=("not_null",))],
                                start=T0 + timedelta(hours=1)))
    assert not _audit(pipe.store).clean
    # the run that generated the scraped data before the training read it is delivered late (a spool), from an
    # input nobody registered yet
    seal(pipe.store, run_events("scrape", [dataset("crawl.jsonl", orphan, namespace="s3://crawl")], [dataset("/data/scraped.parquet", scraped)],
                                start=T0))
    seal(pipe.store, run_events("train_on_bad", [dataset("/data/bad.parquet", digest("bad"))], [], start=T0 + timedelta(hours=2), job_type="TRAINING"))
    second = _audit(pipe.store)
    full = _audit(pipe.store, full=True)
    for name in (CHECK_COMPLETENESS, CHECK_QUALITY):
        assert sorted(f.what for f in second.check(name).findings) == sorted(f.what for f in full.check(name).findings), name
    assert any("crawl.jsonl" in f.what and "training run" in f.what for f in second.check(CHECK_COMPLETENESS).errors)
    assert any("train_on_bad" in f.what for f in second.check(CHECK_QUALITY).errors)
    # registering the source closes the link in the next incremental audit, as in a full one
    register_source(pipe.store, SourceRecord(name="crawl", digest=orphan, license="CC-BY-4.0", issuer="crawler"), pipe.key)
    third, full = _audit(pipe.store), _audit(pipe.store, full=True)
    assert third.check(CHECK_COMPLETENESS).findings == [] == full.check(CHECK_COMPLETENESS).findings
    assert sorted(f.what for f in third.check(CHECK_QUALITY).findings) == sorted(f.what for f in full.check(CHECK_QUALITY).findings)
    assert third.summary()["runs"] == full.summary()["runs"] == len(list(pipe.store.list("index/")))


def _state_key(store) -> str:
    return list(store.list("audit/state/"))[-1]


def test_tampered_state_is_found_and_everything_is_checked_again(tmp_path: Path) -> None:
    pipe = Pipeline(str(tmp_path / "store"))
    assert _audit(pipe.store).clean
    key = _state_key(pipe.store)
    flip_byte(pipe.store.uri, key)
    result = _audit(pipe.store)
    assert any(f.object == key for f in result.check(CHECK_LOG).errors), [f.what for f in result.errors]
    assert result.bundles_examined == 2  # nothing carried from a state that does not verify
    # the damaged state stays a finding (of the inventory: it does not verify), and nothing else is
    third = _audit(pipe.store)
    assert {(f.check, f.object) for f in third.errors} == {(CHECK_INVENTORY, key)}, [f.what for f in third.errors]
    # a state re-signed by a key nobody trusts, claiming nothing is broken
    key = _state_key(pipe.store)
    state = AuditState.from_payload(Envelope.from_json(raw_read(pipe.store.uri, key)).payload)
    forged = sign_envelope(state.payload(), STATE_PAYLOAD_TYPE, [SigningKey.generate()]).to_json()
    raw_write(pipe.store.uri, key, forged)
    result = _audit(pipe.store)
    assert any(f.object == key and "untrusted" in f.what for f in result.check(CHECK_LOG).errors), [f.what for f in result.errors]


def test_an_older_state_copied_under_a_newer_key_is_found(tmp_path: Path) -> None:
    """A validly signed older audit state copied under a key that sorts last (audit/state/zzzzzzzz.json, or the
    next checkpoint size's) was continued from, without a finding: its key must name the checkpoint it holds."""
    pipe = Pipeline(str(tmp_path / "store"))
    assert _audit(pipe.store).clean
    old = _state_key(pipe.store)
    seal(pipe.store, run_events("prepare_more", [dataset(pipe.raw_name, pipe.raw)], [dataset("/data/more.parquet", digest("more"))],
                                start=T0 + timedelta(hours=2)))
    assert _audit(pipe.store).clean
    for copied in ("audit/state/zzzzzzzz.json", "audit/state/999999999999-20990101T000000000000Z-00000000.json"):
        raw_write(pipe.store.uri, copied, raw_read(pipe.store.uri, old))
        result = _audit(pipe.store)
        assert any(f.object == copied and "which its key does not name" in f.what for f in result.errors), [f.what for f in result.errors]
        raw_delete(pipe.store.uri, copied)


def test_state_bound_to_a_rewritten_checkpoint_is_found(tmp_path: Path) -> None:
    pipe = Pipeline(str(tmp_path / "store"))
    assert _audit(pipe.store).clean
    key = checkpoint_key(2)
    cp = Checkpoint.from_payload(Envelope.from_json(raw_read(pipe.store.uri, key)).payload)
    from dataclasses import replace

    raw_write(pipe.store.uri, key, sign_envelope(replace(cp, time="2020-01-01T00:00:00.000000Z").payload(), CHECKPOINT_PAYLOAD_TYPE, [pipe.key]).to_json())
    result = _audit(pipe.store)
    state = _state_key(pipe.store)
    assert any("bound to checkpoint 2" in f.what for f in result.check(CHECK_LOG).errors), [f.what for f in result.errors]
    assert result.bundles_examined == 2 and state


def test_tampered_lookup_object_is_found_and_fails_safe(tmp_path: Path) -> None:
    pipe = Pipeline(str(tmp_path / "store"))
    assert _audit(pipe.store).clean
    key = generated_key("file", "/data/features.parquet", pipe.features)
    flip_byte(pipe.store.uri, key)
    for segment in pipe.store.list("audit/catalog/"):  # with the catalog, the lookups are not needed: it is gone too
        raw_delete(pipe.store.uri, segment)
    seal(pipe.store, run_events("train_again", [dataset("/data/features.parquet", pipe.features)], [], start=T0 + timedelta(hours=4), job_type="TRAINING"))
    result = _audit(pipe.store)
    assert any(f.object == key for f in result.check(CHECK_LOG).errors), [f.what for f in result.errors]
    # the input's origin could not be confirmed: a finding, never a silent pass; --full re-checks from the bundles
    assert any("train_again" in f.what for f in result.check(CHECK_COMPLETENESS).errors)
    assert _audit(pipe.store, full=True).check(CHECK_COMPLETENESS).errors == []


def test_known_runs_reads_only_the_index_entries_of_runs_no_audit_catalogued(tmp_path: Path) -> None:
    from prov_common.audit.catalog import known_runs
    from prov_common.signing import trust_from_settings

    store = CountingStore(tmp_path / "store")
    register_source(store, SourceRecord(name="raw", digest=digest("raw"), license="CC0-1.0", issuer="tests"), default_signing_key())
    seal_chain(store, 0, 8)
    assert _audit(store).clean
    late = seal(store, run_events("prepare", [dataset("/data/raw.csv", digest("raw"))], [], start=T0 + timedelta(hours=9)))
    trust = trust_from_settings(Settings.from_env(store=store.uri))
    store.reads.clear()
    runs = known_runs(store, trust)
    assert len(runs) == 9 and late in runs
    assert store.reads["get index"] == 1, store.reads  # the unaudited run's entry; the 8 catalogued ones are skipped by run id


def test_the_audit_says_what_its_counts_cover(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """An incremental audit's counts continue the earlier audits': its text and HTML say how many bundles
    it examined now and that only --full re-verifies the bundles logged before; a full audit says it
    examined every bundle now."""
    from prov_common.cli import main

    pipe = Pipeline(str(tmp_path / "store"))
    uri = pipe.store.uri
    assert main(["audit", "--store", uri, "--report", str(tmp_path / "r1")]) == 0
    assert main(["audit", "--store", uri, "--report", str(tmp_path / "r2")]) == 0
    out = capsys.readouterr().out.split("audit clean")[1]
    assert "Incremental audit: 0 bundles new since the last audit were examined now" in out and "'tdprov audit --full'" in out
    # which logged bundles it verifies again: also one holding a file its manifest does not list (planted)
    assert "(a logged bundle with a changed, missing or unlisted file is verified again)" in out, out
    assert "Incremental audit: 0 bundles new" in (tmp_path / "r2" / "report.html").read_text()
    assert main(["audit", "--full", "--store", uri, "--report", str(tmp_path / "r3")]) == 0
    assert "Full audit: every bundle was examined now (2)." in capsys.readouterr().out


def test_a_run_that_writes_back_what_it_read_resolves_alike_in_incremental_and_full_audits(tmp_path: Path) -> None:
    """dedupe reads /data/x.parquet and writes it back (logged first); the run that wrote x from a registered source
    before it is delivered late; a training run then reads x. The incremental audit sees every run the catalog
    holds, so it finds what a full audit finds (it reported a gap through dedupe, the first-logged writer)."""
    store = LocalStore(tmp_path / "store")
    raw, x = digest("raw"), digest("x")
    register_source(store, SourceRecord(name="raw", digest=raw, license="CC0-1.0", issuer="t", location="/data/raw.csv"), default_signing_key())
    seal(store, run_events("dedupe", [dataset("/data/x.parquet", x)], [dataset("/data/x.parquet", x)], start=T0 + timedelta(hours=1)))
    _audit(store)
    seal(store, run_events("prepare", [dataset("/data/raw.csv", raw)], [dataset("/data/x.parquet", x)], start=T0))
    _audit(store)
    seal(store, run_events("train", [dataset("/data/x.parquet", x)], [], start=T0 + timedelta(hours=3), job_type="TRAINING"))
    incremental, full = _audit(store), _audit(store, full=True)
    assert [f.what for f in incremental.check(CHECK_COMPLETENESS).findings] == [f.what for f in full.check(CHECK_COMPLETENESS).findings] == []


def test_training_data_made_by_a_run_with_no_recorded_inputs_is_a_gap_until_a_source_explains_it(tmp_path: Path) -> None:
    """A run that records no inputs writes the data a training run reads: no link is broken, yet nothing says where
    the data came from. The completeness check passed while the report said the lineage was not complete to a
    source; now it is a gap of the training run, kept by every incremental audit as by a full one, and closed by
    registering a source with that digest."""
    pipe = Pipeline(str(tmp_path / "store"))
    assert _audit(pipe.store).clean
    made = digest("downloaded")
    fetch = seal(pipe.store, run_events("fetch_vendor_data", [], [dataset("/data/vendor.parquet", made)], start=T0 + timedelta(hours=1)))
    train = seal(pipe.store, run_events("train_on_vendor", [dataset("/data/vendor.parquet", made)], [dataset("/models/v.pkl", digest("v"))],
                                        start=T0 + timedelta(hours=2), job_type="TRAINING"))
    first, full = _audit(pipe.store), _audit(pipe.store, full=True)
    for result in (first, full):
        (gap,) = result.check(CHECK_COMPLETENESS).errors
        assert gap.run_id == train and f"run {fetch} (tests/fetch_vendor_data) made from no recorded input /data/vendor.parquet@{made}" in gap.what, gap.what
        assert gap.fix.startswith("register the data the run made from no recorded input as a source"), gap.fix
    seal(pipe.store, run_events("unrelated", [dataset(pipe.raw_name, pipe.raw)], [dataset("/data/u.parquet", digest("u"))], start=T0 + timedelta(hours=3)))
    later = _audit(pipe.store)
    assert [f.run_id for f in later.check(CHECK_COMPLETENESS).errors] == [train], "the gap was dropped by the next incremental audit"
    register_source(pipe.store, SourceRecord(name="vendor", digest=made, license="CC-BY-4.0", issuer="Acme",
                                             location="/data/vendor.parquet"), pipe.key)
    closed, full = _audit(pipe.store), _audit(pipe.store, full=True)
    assert closed.check(CHECK_COMPLETENESS).findings == [] == full.check(CHECK_COMPLETENESS).findings


def test_a_training_gap_made_from_no_recorded_input_beside_another_gets_its_own_fix(tmp_path: Path) -> None:
    """A training run reads data a run with no recorded inputs made and data made from an input with no origin: the
    first gets the fix of data made from no recorded input, the other the fix of a missing origin (both got the
    latter, which says to record the run that produced it: that run is recorded)."""
    store = LocalStore(tmp_path / "store")
    made, raw = digest("downloaded"), digest("raw")
    seal(store, run_events("fetch_vendor_data", [], [dataset("/data/vendor.parquet", made)], start=T0))
    seal(store, run_events("prepare", [dataset("/data/raw.csv", raw)], [dataset("/data/p.parquet", digest("p"))], start=T0))
    seal(store, run_events("train", [dataset("/data/vendor.parquet", made), dataset("/data/p.parquet", digest("p"))],
                           [], start=T0 + timedelta(hours=1), job_type="TRAINING"))
    for result in (_audit(store), _audit(store, full=True)):
        (gap,) = [f for f in result.check(CHECK_COMPLETENESS).errors if f.what.startswith("training run")]
        assert gap.fix == (f"for /data/vendor.parquet@{made}: {FIX_NO_INPUTS}; for the others: {FIX_ORIGIN}"), gap.fix


def test_an_auditor_that_stopped_before_its_state_makes_no_run_logged_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An audit stopped after its checkpoint and before its state: the next audit takes the leaves after the state's
    checkpoint as logged, but its own state left them out, so the audit after it listed that run as new and logged
    it a second time (every audit clean)."""
    from collections import Counter

    from prov_common.signing import trust_from_settings
    from prov_common.tlog.log import TransparencyLog

    pipe = Pipeline(str(tmp_path / "store"))
    assert _audit(pipe.store).clean
    late = seal(pipe.store, run_events("prepare_late", [dataset(pipe.raw_name, pipe.raw)], [dataset("/data/late.parquet", digest("late"))],
                                       start=T0 + timedelta(hours=3)))
    _audit_stopped_before_its_state(pipe.store, monkeypatch)
    for _ in range(3):
        assert _audit(pipe.store).clean
    leaves = TransparencyLog(pipe.store, trust_from_settings(Settings.from_env(store=pipe.store.uri))).read_leaves()
    assert [run for run, n in Counter(x.run_id for x in leaves).items() if n > 1] == [], "a run was logged twice"
    assert late in {x.run_id for x in leaves}


@pytest.mark.parametrize("logged_by", ["an audit with its state", "an audit that stopped before its state"])
def test_a_logged_run_whose_index_entry_is_deleted_is_told_gone_by_every_audit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                              logged_by: str) -> None:
    """A logged run whose index entry is then deleted: every audit, incremental or full, says that entry is gone. A run
    logged by an audit that stopped before its state is read by the next audit from its leaf, after the state's
    checkpoint; that audit said instead that every field of the entry differs from the bundle's signed manifest and that
    its key id None is not the signer's, and the catalog kept that for the incremental audits after it."""
    pipe = Pipeline(str(tmp_path / "store"))
    assert _audit(pipe.store).clean
    late = seal(pipe.store, run_events("prepare_late", [dataset(pipe.raw_name, pipe.raw)], [dataset("/data/late.parquet", digest("late"))],
                                       start=T0 + timedelta(hours=3)))
    if logged_by == "an audit with its state":
        assert _audit(pipe.store).clean
    else:
        _audit_stopped_before_its_state(pipe.store, monkeypatch)
    entry = next(k for k in pipe.store.list(layout.INDEX + "/") if layout.run_id_of_index_key(k) == late)
    raw_delete(pipe.store.uri, entry)
    gone = (entry, late, f"the index entry '{entry}' of logged run {late} is gone",
            "restore the index entry from a backup or replica: it summarises the bundle's signed manifest, which was examined without it")
    for full in (False, False, True, False):
        result = _audit(pipe.store, full=full)
        found = [(f.object, f.run_id, f.what, f.fix) for f in result.check(CHECK_SIGNATURES).findings]
        assert found == [gone], (full, found)
        assert [f.what for f in result.check(CHECK_INVENTORY).errors] == [f"the index entry of logged run {late} is missing: the run "
                                                                          "vanished from 'tdprov runs'"], full


def _stage(store, event: dict) -> str:
    key = staged_event_key(event)
    store.put(key, signed_staged(event))
    return key


def _unfinished(result) -> dict[str, str]:
    return {f.run_id: f.what for f in result.check(CHECK_UNFINISHED).errors}


def test_late_events_stay_a_finding_of_every_incremental_audit_until_they_are_removed(tmp_path: Path) -> None:
    """Events staged for a sealed run after its sealing are in no bundle. The first audit named them and the next
    incremental one, with the store unchanged, did not (the check asked only about the runs it examined); events
    staged for a run an earlier audit logged were never named by an incremental audit. Both stay findings, as in a
    full audit, until the late events are removed from staging."""
    pipe = Pipeline(str(tmp_path / "store"))
    now = datetime.now(timezone.utc)

    def late(events: list[dict], minutes: int) -> dict:
        return dict(events[1], eventTime=(now + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z"),
                    outputs=[dataset("/data/extra.parquet", digest(f"extra{minutes}"))])

    before = run_events("prepare_a", [dataset(pipe.raw_name, pipe.raw)], [dataset("/data/a.parquet", digest("a"))], start=now - timedelta(hours=1))
    a = seal(pipe.store, before)
    late_a = _stage(pipe.store, late(before, 1))
    assert set(_unfinished(_audit(pipe.store))) == {a}
    assert set(_unfinished(_audit(pipe.store))) == {a}, "the late events were dropped by the next incremental audit"
    after = run_events("prepare_b", [dataset(pipe.raw_name, pipe.raw)], [dataset("/data/b.parquet", digest("b"))], start=now - timedelta(hours=1))
    b = seal(pipe.store, after)
    assert set(_unfinished(_audit(pipe.store))) == {a}
    _stage(pipe.store, late(after, 2))  # staged for a run an earlier audit logged
    for result in (_audit(pipe.store), _audit(pipe.store), _audit(pipe.store, full=True), _audit(pipe.store)):
        found = _unfinished(result)
        assert set(found) == {a, b}, found
        assert "1 event was staged for it after that" in found[b] and "they are in no bundle" in found[b]
    raw_delete(pipe.store.uri, late_a)  # the documented fix: re-run the step, then remove the late events
    assert set(_unfinished(_audit(pipe.store))) == {b} == set(_unfinished(_audit(pipe.store, full=True)))


def test_a_future_dated_event_of_a_sealed_run_is_named_once_as_a_late_event(tmp_path: Path) -> None:
    """An event staged for a sealed run and dated in the future was named twice by every audit: as staged after the
    sealing (in no bundle), and as dated in the future with the fix meant for a run not sealed yet (its staleness).
    It is one finding, the late event's (a sealing dated in the future too dates the index entry in the future, a
    finding of its own)."""
    pipe = Pipeline(str(tmp_path / "store"))
    now = datetime.now(timezone.utc)
    events = run_events("prepare_a", [dataset(pipe.raw_name, pipe.raw)], [dataset("/data/a.parquet", digest("a"))], start=now - timedelta(hours=1))
    a = seal(pipe.store, events)
    _stage(pipe.store, dict(events[1], eventTime=(now + timedelta(days=30)).isoformat().replace("+00:00", "Z"),
                            outputs=[dataset("/data/extra.parquet", digest("extra"))]))
    for result in (_audit(pipe.store), _audit(pipe.store), _audit(pipe.store, full=True)):
        found = [f.what for f in result.check(CHECK_UNFINISHED).findings if f.run_id == a]
        assert len(found) == 1 and "1 event was staged for it after that" in found[0], found


def test_the_staged_events_of_an_unfinished_run_removed_after_an_audit_named_it_stay_a_finding(tmp_path: Path) -> None:
    """A run staged START and COMPLETE and was never sealed; the audit named it. Its staged events are its only
    evidence: removing them made every later audit, --full and verify clean. The audit state keeps the runs it named
    unfinished, so the removal is a finding of every audit until the run is sealed (its events put back and
    'tdprov store seal') or a person accepts the loss."""
    pipe = Pipeline(str(tmp_path / "store"))
    old = datetime.now(timezone.utc) - timedelta(days=3)
    staged: dict[str, dict[str, bytes]] = {}
    for job in ("train_secret_model", "prepare_lost"):
        events = run_events(job, [dataset(pipe.raw_name, pipe.raw)], [dataset(f"/m/{job}", digest(job))], start=old,
                            job_type="TRAINING" if job.startswith("train") else None)
        staged[events[0]["run"]["runId"]] = {k: signed_staged(e) for e, k in ((e, _stage(pipe.store, e)) for e in events)}
    kept, lost = staged
    first = _audit(pipe.store)
    assert set(_unfinished(first)) == {kept, lost} and all("was never sealed" in w for w in _unfinished(first).values())
    for objects in staged.values():
        for key in objects:
            raw_delete(pipe.store.uri, key)
    for result in (_audit(pipe.store), _audit(pipe.store, full=True), _audit(pipe.store)):
        found = {f.run_id: f for f in result.check(CHECK_UNFINISHED).errors}
        assert set(found) == {kept, lost}, [f.what for f in result.errors]
        assert (f"run {kept} was unfinished at audit {first.audit_id}" in found[kept].what
                and "its staged events were removed and no bundle was sealed" in found[kept].what), found[kept].what
        assert "tdprov store seal RUN_ID" in found[kept].fix and "--accept-checkpoint" in found[kept].fix
    for key, data in staged[kept].items():  # put back from a backup, and sealed as the fix says
        raw_write(pipe.store.uri, key, data)
    assert main(["store", "seal", kept, "--store", pipe.store.uri]) == 0
    assert set(_unfinished(_audit(pipe.store))) == {lost}
    accepted = _audit(pipe.store, accept_checkpoint="the worker's disk with run's events was lost")
    assert [c.get("run_id") for c in accepted.resolution["closed"]] == [lost] and not _unfinished(accepted)  # as signed
    closed = accepted.to_dict()["log"]["resolution"]["closed"]  # report.json names them as its findings: 'runId'
    assert [c.get("runId") for c in closed] == [lost] and not not_camel_case(closed), closed
    assert _audit(pipe.store).clean and _audit(pipe.store, full=True).clean


def test_an_older_audit_state_copied_under_a_newer_key_is_a_finding_and_not_continued_from(tmp_path: Path) -> None:
    """Audits of a store with no new bundle write states of the same tree size. An older one, validly signed, copied
    under a later key of that size verified (its key named the size it holds) and was continued from: what the audits
    after it kept was dropped, here the run one named unfinished, whose staged events could then be removed with no
    finding. A state names the key it was written under: the copy is a finding, and the audit continues from the
    newest state under its own key."""
    pipe = Pipeline(str(tmp_path / "store"))
    assert _audit(pipe.store).clean
    [older] = pipe.store.list("audit/state/")
    events = run_events("prepare_lost", [dataset(pipe.raw_name, pipe.raw)], [dataset("/m/lost", digest("lost"))],
                        start=datetime.now(timezone.utc) - timedelta(days=3))
    staged = [_stage(pipe.store, e) for e in events]
    lost = events[0]["run"]["runId"]
    named = _audit(pipe.store)
    assert set(_unfinished(named)) == {lost}
    newest = list(pipe.store.list("audit/state/"))[-1]
    copy = newest.replace("-2", "-3", 1)  # the same tree size, stamped later
    raw_write(pipe.store.uri, copy, raw_read(pipe.store.uri, older))
    for key in staged:
        raw_delete(pipe.store.uri, key)
    result = _audit(pipe.store)
    copied = [f for f in result.errors if f.object == copy]
    assert {f.check for f in copied} == {CHECK_LOG, CHECK_INVENTORY}, [f.what for f in result.errors]
    assert all(f"is the state written as '{older}', copied under another key" in f.what for f in copied)
    # a copy's own fix, in the inventory too, not a forged object's
    assert [f.fix for f in copied] == ["remove the copy and find out who wrote it: the state under the key it names is the "
                                       "audit's (an audit writes its state once, under that key), and audits continue from "
                                       "the newest state under its own key"] * 2, [f.fix for f in copied]
    assert f"run {lost} was unfinished at audit {named.audit_id}" in _unfinished(result)[lost]


def test_a_run_examined_before_the_failing_result_of_what_it_read_is_named_as_its_user(tmp_path: Path) -> None:
    """A training run reads a version that no result says failed, and is audited; the result comes later: a validation
    task checks that version after the fact, and the run that made another version delivers its failing result late
    (a spool). The incremental audits name the training runs as having used failing data, as a full audit does, and
    keep naming them; the failing versions' rows list them as their users (they said "no recorded run used it")."""
    pipe = Pipeline(str(tmp_path / "store"))
    checked, late = digest("checked later"), digest("delivered late")
    seal(pipe.store, run_events("make_checked", [dataset(pipe.raw_name, pipe.raw)], [dataset("/data/checked.parquet", checked)]))
    on_checked = seal(pipe.store, run_events("train_on_checked", [dataset("/data/checked.parquet", checked)], [],
                                             start=T0 + timedelta(hours=1), job_type="TRAINING"))
    on_late = seal(pipe.store, run_events("train_on_late", [dataset("/data/late.parquet", late)], [],
                                          start=T0 + timedelta(hours=1), job_type="TRAINING"))
    first = _audit(pipe.store)
    assert first.check(CHECK_QUALITY).findings == [] and first.check(CHECK_COMPLETENESS).errors  # late.parquet has no origin yet
    checker = seal(pipe.store, run_events("validate_checked", [dataset("/data/checked.parquet", checked, passed=False, failed=("not_null",))],
                                          [], start=T0 + timedelta(hours=2)))
    maker = seal(pipe.store, run_events("make_late", [dataset(pipe.raw_name, pipe.raw)],
                                        [dataset("/data/late.parquet", late, passed=False, failed=("unique",))], start=T0))
    second, full = _audit(pipe.store), _audit(pipe.store, full=True)
    for result in (second, full):
        quality = result.check(CHECK_QUALITY)
        assert sorted(f.run_id for f in quality.errors) == sorted([on_checked, on_late]), [f.what for f in quality.findings]
        assert not [f for f in quality.findings if f.severity == "note"], [f.what for f in quality.findings]
        rows = {r.dataset.name: r for r in result.quality_rows}
        assert (rows["/data/checked.parquet"].recorded_by, rows["/data/checked.parquet"].used_by) == ([checker], [on_checked])
        assert (rows["/data/late.parquet"].recorded_by, rows["/data/late.parquet"].used_by) == ([maker], [on_late])
    assert sorted(f.what for f in second.check(CHECK_QUALITY).findings) == sorted(f.what for f in full.check(CHECK_QUALITY).findings)
    seal(pipe.store, run_events("unrelated", [dataset(pipe.raw_name, pipe.raw)], [dataset("/data/u.parquet", digest("u"))],
                                start=T0 + timedelta(hours=3)))
    third = _audit(pipe.store)
    assert sorted(f.run_id for f in third.check(CHECK_QUALITY).errors) == sorted([on_checked, on_late]), "dropped by the next audit"
    assert {r.dataset.name: r.used_by for r in third.quality_rows if r.failed} == {"/data/checked.parquet": [on_checked],
                                                                                   "/data/late.parquet": [on_late]}


def test_a_logged_bundle_sealed_again_from_staging_is_named_moved_by_both_checks(tmp_path: Path) -> None:
    """A logged run's bundle and index entry deleted and the run sealed again from its staged events ('tdprov store
    seal'): its entry is now at a later key. The incremental audit verifies the bundle again; its signatures check said
    the entry 'is gone' (fix: restore it) while the inventory said it moved: both name where it moved, with one fix."""
    pipe = Pipeline(str(tmp_path / "store"))
    events = run_events("stage_job", [dataset(pipe.raw_name, pipe.raw)], [dataset("/data/st.parquet", digest("st"))],
                        start=T0 + timedelta(hours=5))
    run = events[0]["run"]["runId"]
    for event in events:
        _stage(pipe.store, event)
    assert main(["store", "seal", run, "--store", pipe.store.uri]) == 0
    assert _audit(pipe.store).clean
    [logged] = [k for k in pipe.store.list("index/") if run in k]
    for key in [*pipe.store.list(f"bundles/{run}/"), logged]:
        raw_delete(pipe.store.uri, key)
    assert main(["store", "seal", run, "--store", pipe.store.uri]) == 0
    [moved] = [k for k in pipe.store.list("index/") if run in k]
    assert moved != logged and run in moved

    result = _audit(pipe.store)
    said = {f.check: f for f in result.errors if f.run_id == run and f.object == logged}
    signatures, inventory = said[CHECK_SIGNATURES], said[CHECK_INVENTORY]
    assert signatures.what == (f"the index entry of logged run {run} moved to '{moved}', away from the key the log names: the "
                               "bundle's signed manifest was examined without it"), signatures.what
    assert inventory.what == (f"the index entry of logged run {run} moved to '{moved}': the run was sealed again (its signed "
                              "manifest changed too)")
    assert signatures.fix == inventory.fix == "move the entry back to the key the log names"


def test_a_run_whose_writer_clock_runs_behind_is_named_with_its_cause_and_logged_once_accepted(tmp_path: Path) -> None:
    """A writer whose clock runs an hour behind keys its index entry (and seals) an hour ago, behind what the last audit
    listed: no audit logs it by itself, each names it, and the fix names the clock and the acceptance that logs it."""
    from prov_common.bundle.build import build_bundle
    from prov_common.bundle.storage import deliver_bundle
    from prov_common.store.identity import writer_store_id

    store = LocalStore(tmp_path / "store", fsync=False)
    register_source(store, SourceRecord(name="raw", digest=digest("raw"), license="CC0-1.0", issuer="tests"), default_signing_key())
    now = datetime.now(timezone.utc)
    seal(store, run_events("prepare", [dataset("/data/raw.csv", digest("raw"))], [dataset("/data/f0.parquet", digest("f0"))],
                           start=now - timedelta(minutes=10)))
    assert _audit(store).clean
    behind = now - timedelta(hours=1)  # the lagging machine's clock, for its events, its seal and its index entry
    events = run_events("prepare", [dataset("/data/raw.csv", digest("raw"))], [dataset("/data/f1.parquet", digest("f1"))],
                        start=behind - timedelta(minutes=6))
    bundle = build_bundle(events, None, default_signing_key(), sealed_at=behind, store_id=writer_store_id(store))
    written = deliver_bundle(store, bundle, now=behind)
    for full in (False, True):
        result = _audit(store, full=full)
        found = [f for f in result.errors if f.run_id == bundle.run_id]
        assert [f.what for f in found] == [f"run {bundle.run_id} is in the index but not in the log"], [f.what for f in result.errors]
        assert found[0].object == written.index_key
        assert "its writer's clock ran behind" in found[0].fix and "fix that machine's clock" in found[0].fix, found[0].fix
        assert "tdprov audit --full --accept-checkpoint --reason TEXT" in found[0].fix, found[0].fix
        assert result.summary()["bundlesLogged"] == 0
    assert main(["audit", "--store", store.uri, "--full", "--accept-checkpoint", "--reason", "writer clock an hour behind", "--quiet"]) == 0
    after = _audit(store)
    assert after.clean and after.summary()["runs"] == 2, [f.what for f in after.errors]


def _logged_by_audits_that_stopped(pipe: Pipeline, monkeypatch: pytest.MonkeyPatch, read_only_to: Path | None) -> tuple[TransparencyLog, str, str]:
    """Two runs of ``pipe`` (audited once), each logged in a leaf batch of its own (leaf 2, then leaf 3) by an audit that
    stopped after its checkpoint and before its state; with ``read_only_to``, a read-only audit then has the auditor
    remember the head (its report goes there). The log (a TransparencyLog) and the two run ids."""
    from prov_common.signing import trust_from_settings

    assert _audit(pipe.store).clean
    tlog = TransparencyLog(pipe.store, trust_from_settings(Settings.from_env(store=pipe.store.uri)))
    runs = []
    for name in ("lost", "past"):  # each logged in a leaf batch of its own by an audit that stopped before its state
        runs.append(seal(pipe.store, run_events(f"prepare_{name}", [dataset(pipe.raw_name, pipe.raw)],
                                                [dataset(f"/data/{name}.parquet", digest(name))], start=T0 + timedelta(hours=3))))
        _audit_stopped_before_its_state(pipe.store, monkeypatch)
    lost_run, past_run = runs
    if read_only_to is not None:
        _audit(pipe.store, read_only=True, report_dir=read_only_to)
    batches = {key: [x.run_id for x in leaves] for key, _first, leaves in tlog.iter_batches()}
    assert batches == {leaf_batch_key(0): [pipe.prepare, pipe.train], leaf_batch_key(2): [lost_run], leaf_batch_key(3): [past_run]}, batches
    return tlog, lost_run, past_run


# every case on a local folder; on S3 every case but a truncated batch the auditor remembers the head past: what the
# auditor remembers is of its own home, not of the store, and S3 reads an unreadable batch as it reads any object
@pytest.mark.parametrize(("store_uri", "remembers", "damage"), [
    *(("local", remembers, damage) for remembers in ("head", "older") for damage in ("deleted", "truncated")),
    ("s3", "head", "deleted"), ("s3", "older", "deleted"), ("s3", "older", "truncated"),
], indirect=["store_uri"])
def test_a_run_logged_past_a_lost_leaf_batch_is_never_logged_again_nor_waits_to_be(
        store_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str, remembers: str) -> None:
    """Two audits stopped after their checkpoints and before their states, each logging one run in a batch of its own, and
    the first of those batches lost: the next (incremental) audit continues from the state before them and read the second
    run's leaf past the gap, but took that run for new. Where this auditor remembered the head (a read-only audit moved it
    there), it logged the run a second time; where it remembered an older checkpoint, it named the run among those waiting
    to be logged. Only the run of the lost batch is logged again, and the finding names that batch."""
    pipe = Pipeline(store_uri)
    tlog, lost_run, past_run = _logged_by_audits_that_stopped(pipe, monkeypatch, read_only_to=tmp_path / "read-only" if remembers == "head" else None)
    lost = leaf_batch_key(2)
    if damage == "deleted":
        raw_delete(store_uri, lost)
    else:
        raw_write(store_uri, lost, raw_read(store_uri, lost)[:-5])

    result = _audit(pipe.store)
    named = {(f.object, f.what) for check in result.checks for f in check.findings}
    assert any(key == lost or f"'{lost}'" in what or "log leaves 2..2 are missing" in what for key, what in named), named
    assert not [what for _, what in named if past_run in what], named  # neither logged again nor waiting
    logged = Counter(x.run_id for x in tlog.readable_leaves())
    assert logged[past_run] == 1, logged
    if remembers == "head":
        assert logged[lost_run] == 1 and result.bundles_logged == 1, logged  # the lost run, logged again: its leaf cannot be read
    else:
        assert "1 new bundle not appended to the log" in " ".join(what for _, what in named), named


# every case on a local folder; on S3 the incremental audit of two swapped batches (which audit reads the moved
# batches, and how they moved, is the same code on either backend; S3 reads them as it reads any object)
@pytest.mark.parametrize(("store_uri", "full", "move"), [
    *(pytest.param("local", full, move, id=f"local-{'full' if full else 'incremental'}-{move}")
      for full in (False, True) for move in ("swapped", "moved-down")),
    pytest.param("s3", False, "swapped", id="s3-incremental-swapped"),
], indirect=["store_uri"])
def test_the_runs_of_a_moved_leaf_batch_are_logged_again_by_either_audit(store_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                         full: bool, move: str) -> None:
    """A leaf batch moved to another key (its leaves claim the leaf their old key names): two batches swapped, or one moved
    to the key of leaf 1. The incremental audit logged their runs again, as runs of a lost batch, but 'audit --full' read
    the moved batches for the runs the log holds and took their runs as logged, so the two disagreed. A moved batch is no
    evidence the log vouches for: either audit names it and logs its runs again, once."""
    pipe = Pipeline(store_uri)
    tlog, lost_run, past_run = _logged_by_audits_that_stopped(pipe, monkeypatch, read_only_to=tmp_path / "read-only")
    if move == "swapped":
        first, second = (raw_read(store_uri, leaf_batch_key(n)) for n in (2, 3))
        raw_write(store_uri, leaf_batch_key(2), second)
        raw_write(store_uri, leaf_batch_key(3), first)
        moved, runs = [leaf_batch_key(2), leaf_batch_key(3)], [lost_run, past_run]
    else:
        raw_write(store_uri, leaf_batch_key(1), raw_read(store_uri, leaf_batch_key(2)))
        raw_delete(store_uri, leaf_batch_key(2))
        moved, runs = [leaf_batch_key(1)], [lost_run]

    result = _audit(pipe.store, full=full)
    said = [(f.object, f.what) for check in result.checks for f in check.findings]
    assert all(any(key == batch for key, _ in said) for batch in moved), said
    again = [what for _, what in said if "is logged again" in what]
    assert result.bundles_logged == len(runs) and len(again) == len(runs), (result.bundles_logged, said)
    appended = json.loads(raw_read(store_uri, leaf_batch_key(4)))["leaves"]
    assert sorted(x["runId"] for x in appended) == sorted(runs), appended  # each once
