"""A catalog object (segment or summary) belongs to the log of the store it is in: one an auditor signed for
another store (or prefix), copied in by someone who can write the store but holds no key, is a finding and is
never taken as this store's provenance (audit report, ``tdprov record``, the audit's checks); a catalog write
that meets such an object is a finding too, and the runs it held still reach the report. On a local folder and
on S3 (moto), with the same auditor key for both stores. As in tests/test_audit_attacks.py, a test runs on S3 too when
the store can change what is found (an object planted at a key an audit writes); catalog objects of an older tdprov,
another store's summary copied in under a key no audit here writes, and what readers make of a catalogued run whose
bundle, events or index entry changed since (listed and read the same way from both stores) are tried on the local
folder only."""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from prov_common.audit import catalog
from prov_common.audit.model import CHECK_INVENTORY, CHECK_LOG
from prov_common.cli import main
from prov_common.store import open_store

from test_audit_support import T0, Pipeline, dataset, digest, raw_delete, raw_read, raw_write, run_events, seal, audit as _audit


LOCAL_ONLY = pytest.mark.parametrize("store_uri", ["local"], indirect=True)  # see the module's docstring


def _other_store(uri: str, runs: int) -> tuple[str, list[str]]:
    """Another store (the next prefix, or folder) under the same auditor: ``runs`` staging runs, audited one at a time."""
    other = uri + "-b"
    store = open_store(other)
    sealed = []
    for i in range(runs):
        sealed.append(seal(store, run_events(f"staging_job_{i}", [], [dataset(f"/staging/out{i}.parquet", digest(f"b{i}"))],
                                             start=T0 + timedelta(hours=i))))
        assert _audit(other).exit_code == 0
    return other, sealed


def _shown(result) -> list[str]:
    return [f"{f.check} {f.object}: {f.what}" for f in result.errors]


def _named(result, key: str) -> list:
    return [f for f in result.errors if f.check in (CHECK_LOG, CHECK_INVENTORY) and f.object == key]


def _record_run(uri: str, name: str, capsys: pytest.CaptureFixture) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["record", name, "--store", uri])
    return code, capsys.readouterr().out


def test_a_catalog_summary_of_another_store_is_a_finding_and_not_its_provenance(store_uri: str, monkeypatch, capsys) -> None:
    monkeypatch.setattr(catalog, "COMPACT_AFTER", 1)  # a summary after every second audit
    pipe = Pipeline(store_uri)
    assert _audit(store_uri).clean
    other, b_runs = _other_store(store_uri, 2)
    summary = list(open_store(other).list(catalog.SUMMARY_PREFIX))[-1]
    raw_write(store_uri, summary, raw_read(other, summary))
    for full in (False, False, True):  # found, still found, and by --full
        result = _audit(store_uri, full=full)
        assert result.exit_code == 1 and _named(result, summary), (full, _shown(result))
        listed = {r["runId"] for r in result.runs_listed()}
        assert {pipe.prepare, pipe.train} <= listed and not listed & set(b_runs), listed
    code, out = _record_run(store_uri, "/staging/out1.parquet", capsys)  # another store's dataset: no record of it here
    assert code != 0 or not set(b_runs) & set(out.split('"')), out
    code, out = _record_run(store_uri, "/models/churn.pkl", capsys)
    assert code == 0 and pipe.train in out, out


def test_a_catalog_segment_of_another_store_is_a_finding_and_the_run_logged_there_is_still_reported(store_uri: str, capsys) -> None:
    pipe = Pipeline(store_uri)
    assert _audit(store_uri).clean  # log size 2
    other, b_runs = _other_store(store_uri, 3)
    segment = catalog.catalog_key(3)  # the next segment this store's audit will write
    raw_write(store_uri, segment, raw_read(other, segment))
    found = _audit(store_uri)
    assert found.exit_code == 1 and _named(found, segment), _shown(found)
    new = seal(pipe.store, run_events("prepare_more", [dataset(pipe.raw_name, pipe.raw)], [dataset("/data/more.parquet", digest("more"))],
                                      start=T0 + timedelta(hours=2)))
    for attempt in ("logged", "next audit", "full"):
        result = _audit(store_uri, full=attempt == "full")
        assert result.checkpoint.checkpoint.size == 3
        conflict = [f for f in result.errors if f.object == segment]
        assert result.exit_code == 1 and conflict, (attempt, _shown(result))
        listed = {r["runId"] for r in result.runs_listed()}
        assert {pipe.prepare, pipe.train, new} <= listed and not listed & set(b_runs), (attempt, listed)
    code, out = _record_run(store_uri, "/staging/out2.parquet", capsys)
    assert code != 0 or b_runs[2] not in out, out
    code, out = _record_run(store_uri, "/data/more.parquet", capsys)
    assert code == 0 and new in out, out


@contextmanager
def _catalogued_as_before(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Within: catalog and lookup objects are written as tdprov wrote them before (no checkpoint root, no pins in the
    audit state)."""
    monkeypatch.setattr(catalog, "COMPACT_AFTER", 1)
    from prov_common.audit import generated, state

    with pytest.MonkeyPatch.context() as older:
        older.setattr(catalog, "written_at", lambda head: {"checkpointSize": head.checkpoint.size}, raising=False)
        older.setattr(generated, "written_at", lambda head: {}, raising=False)
        older.setattr(state.AuditState, "catalog", property(lambda self: {}, lambda self, value: None), raising=False)
        yield


def _audited_one_run_at_a_time(store_uri: str) -> tuple[Pipeline, list[str]]:
    """A pipeline's runs and three more, each audited: the pipeline and the three run ids."""
    pipe = Pipeline(store_uri)
    assert _audit(store_uri).clean
    extra = [seal(pipe.store, run_events(f"prepare_{i}", [dataset(pipe.raw_name, pipe.raw)],
                                         [dataset(f"/data/x{i}.parquet", digest(f"x{i}"))], start=T0 + timedelta(hours=2 + i)))
             for i in range(3)]
    for _ in extra:
        assert _audit(store_uri).clean
    return pipe, extra


def _written_before_they_named_their_checkpoint(store_uri: str) -> None:
    """Every catalog object in the store names no checkpoint root."""
    before = list(open_store(store_uri).list(catalog.SUMMARY_PREFIX)) + list(open_store(store_uri).list(catalog.CATALOG_PREFIX))
    assert before and all("checkpointRoot" not in raw_read(store_uri, k).decode() for k in before)


@LOCAL_ONLY
def test_catalogs_written_before_they_named_their_checkpoint_are_read_and_another_stores_are_not(store_uri: str, monkeypatch,
                                                                                                 tmp_path: Path) -> None:
    """Catalog objects of an older tdprov (no checkpoint root) still give the report every run once the auditor's
    memory, or for an auditor with none the log's leaves, show their runs are this log's; an older object of another
    store is a finding."""
    with _catalogued_as_before(monkeypatch):
        pipe, extra = _audited_one_run_at_a_time(store_uri)
        other, b_runs = _other_store(store_uri, 3)
    _written_before_they_named_their_checkpoint(store_uri)
    ephemeral = _audit(store_uri, memory_path=tmp_path / "ephemeral" / "memory.json")  # an auditor with no memory (a CI
    assert ephemeral.clean, _shown(ephemeral)  # runner), same keys: older objects and lookups are checked against the log
    upgraded = _audit(store_uri)
    assert upgraded.clean, _shown(upgraded)
    assert {pipe.prepare, pipe.train, *extra} <= {r["runId"] for r in upgraded.runs_listed()}
    summary = list(open_store(other).list(catalog.SUMMARY_PREFIX))[-1]
    copied = f"{catalog.SUMMARY_PREFIX}{99:012d}-ffffffff.json"
    raw_write(store_uri, copied, raw_read(other, summary))
    for _ in ("found", "still found"):
        result = _audit(store_uri)
        assert result.exit_code == 1 and _named(result, copied), _shown(result)
        listed = {r["runId"] for r in result.runs_listed()}
        assert {pipe.prepare, pipe.train, *extra} <= listed and not listed & set(b_runs), listed


@LOCAL_ONLY
def test_an_auditor_that_remembers_its_checkpoint_and_no_run_reads_older_catalogs_by_the_logs_leaves(store_uri: str, monkeypatch,
                                                                                                       tmp_path: Path) -> None:
    """An auditor whose memory keeps its checkpoint and no logged run (no inventory object: it continues from the
    store's audit state, an incremental audit) has no runs of its own to tell whether a catalog object written before
    such objects named their checkpoint's root is this log's: it takes the runs from the log's leaves, so each such
    object, whose runs are all logged here, is read, and the report lists every run."""
    with _catalogued_as_before(monkeypatch):
        pipe, extra = _audited_one_run_at_a_time(store_uri)
    _written_before_they_named_their_checkpoint(store_uri)
    memory = tmp_path / "checkpoint-only" / "memory.json"
    assert _audit(store_uri, memory_path=memory).clean  # its first audit (a full one)
    kept = json.loads(memory.read_text())
    assert kept["checkpoint"] and kept.pop("inventory")
    memory.write_text(json.dumps(kept))
    result = _audit(store_uri, memory_path=memory)
    assert not result.full and result.clean, _shown(result)
    assert {pipe.prepare, pipe.train, *extra} <= {r["runId"] for r in result.runs_listed()}


def test_a_summary_copied_under_another_size_is_a_finding(tmp_path: Path, monkeypatch) -> None:
    """A summary of this store moved to a key naming another checkpoint is not the summary of that checkpoint."""
    monkeypatch.setattr(catalog, "COMPACT_AFTER", 1)
    uri = str(tmp_path / "store")
    pipe = Pipeline(uri)
    for i in range(3):
        seal(pipe.store, run_events(f"prepare_{i}", [], [dataset(f"/data/y{i}.parquet", digest(f"y{i}"))], start=T0 + timedelta(hours=2 + i)))
        assert _audit(uri).clean
    summary = list(pipe.store.list(catalog.SUMMARY_PREFIX))[0]
    moved = f"{catalog.SUMMARY_PREFIX}{99:012d}-{summary.rsplit('-', 1)[1]}"
    raw_write(uri, moved, raw_read(uri, summary))
    result = _audit(uri)
    assert result.exit_code == 1 and _named(result, moved), _shown(result)
    assert {pipe.prepare, pipe.train} <= {r["runId"] for r in result.runs_listed()}  # from the catalog objects that bind


def _audited_then_prepare_deleted(store_uri: str) -> Pipeline:
    """The example pipeline, audited clean, then its prepare run deleted whole (its bundle and its index entry)."""
    pipe = Pipeline(store_uri)
    assert _audit(store_uri).clean
    store = open_store(store_uri)
    for key in [*store.list(f"bundles/{pipe.prepare}/"), *(k for k in store.list("index/") if pipe.prepare in k)]:
        raw_delete(store_uri, key)
    return pipe


def _gone_named(run_id: str) -> str:
    """How a reader names a run the audit's catalog vouches for whose bundle is gone."""
    return (f"left out run {run_id}: it could not be read (bundles/{run_id}/statement.dsse.json: its bundle is gone, "
            "though an audit catalogued it (deleted since, or the store was copied back to an earlier state))")


@LOCAL_ONLY
def test_a_record_leaves_out_a_catalogued_run_whose_bundle_is_gone(store_uri: str, capsys) -> None:
    """The catalog says what an audit found of a bundle, not that it is still there: a run whose bundle (and index entry)
    was deleted after an audit catalogued it is named and left out of a record, which exits non-zero."""
    pipe = _audited_then_prepare_deleted(store_uri)
    capsys.readouterr()
    code = main(["record", "/models/churn.pkl", "--store", store_uri])
    out, err = capsys.readouterr()
    assert code == 1, (out, err)
    assert pipe.prepare not in out and pipe.train in out, out
    assert _gone_named(pipe.prepare) in err, err


@LOCAL_ONLY
def test_a_lineage_names_a_catalogued_run_whose_bundle_is_gone(store_uri: str, capsys) -> None:
    """As a record does, a lineage checks that a run the audit's catalog vouches for still has its bundle: the version a
    run deleted whole (bundle and index entry) wrote is not shown as an origin, the run is named, and lineage exits 1."""
    pipe = _audited_then_prepare_deleted(store_uri)
    capsys.readouterr()
    code = main(["lineage", "/data/features.parquet", "--store", store_uri])
    out, err = capsys.readouterr()
    assert code == 1, (out, err)
    assert out.startswith(f"/data/features.parquet  {pipe.features}  [generated by run {pipe.prepare}, left out: it could "
                          "not be read]"), out
    assert _gone_named(pipe.prepare) in err, err


@LOCAL_ONLY
def test_a_record_verifies_each_catalogued_bundle_it_cites_as_a_lineage_does(store_uri: str, capsys) -> None:
    """The catalog finds a run; it does not vouch for its bytes now: a line appended to the events of a run an audit found
    sound is named by record, export --training-record and lineage alike (one check), each exits 1, and the record written
    leaves the run out (it cited the altered bundle, exit 0)."""
    pipe = Pipeline(store_uri)
    assert _audit(store_uri).clean
    events = f"bundles/{pipe.prepare}/events.jsonl"
    raw_write(store_uri, events, raw_read(store_uri, events) + b'{"eventType": "COMPLETE"}\n')
    said = {}
    for verb, argv in [("lineage", ["lineage", "/data/features.parquet"]), ("record", ["record", "/models/churn.pkl"]),
                       ("export", ["export", "--training-record", "/models/churn.pkl", "--format", "croissant"])]:
        capsys.readouterr()
        code = main([*argv, "--store", store_uri])
        out, err = capsys.readouterr()
        assert code == 1, (verb, out, err)
        [said[verb]] = [line.removeprefix(f"tdprov {verb}: ") for line in err.splitlines() if pipe.prepare in line and "left out run" in line]
        if verb != "lineage":
            assert pipe.prepare not in out and pipe.train in out and pipe.features in out, out
    assert said["lineage"] == said["record"] == said["export"], said
    assert said["record"].startswith(f"left out run {pipe.prepare}: its bundle does not verify ({events}: "), said


@LOCAL_ONLY
def test_a_lineage_and_a_record_name_a_catalogued_run_whose_index_entry_alone_is_gone(store_uri: str, capsys) -> None:
    """Only the index entry of a run the audit's catalog vouches for is deleted (its bundle stays): lineage and record
    name the entry the audit catalogued, as verify does, by the check that finds a deleted bundle, and exit 1; the
    version the run made is no origin."""
    pipe = Pipeline(store_uri)
    assert _audit(store_uri).clean
    [entry] = [k for k in open_store(store_uri).list("index/") if pipe.prepare in k]
    raw_delete(store_uri, entry)
    named = (f"left out run {pipe.prepare}: it could not be read ({entry}: the bundle's recorded index entry is not in "
             "the store, though an audit catalogued it (deleted since, or the store was copied back to an earlier state))")
    capsys.readouterr()
    assert main(["verify", pipe.prepare, "--store", store_uri]) == 1
    assert f"{entry}: missing: the bundle's recorded index entry is not in the store" in capsys.readouterr().out
    code = main(["lineage", "/data/features.parquet", "--store", store_uri])
    out, err = capsys.readouterr()
    assert code == 1, (out, err)
    assert out.startswith(f"/data/features.parquet  {pipe.features}  [generated by run {pipe.prepare}, left out: it could "
                          "not be read]"), out
    assert named in err, err
    code, out = _record_run(store_uri, "/models/churn.pkl", capsys)
    assert code == 1 and pipe.prepare not in out and pipe.train in out, out


@LOCAL_ONLY
def test_a_catalog_object_larger_than_a_small_object_is_read_whole_only_as_its_state_pinned_it(store_uri: str, monkeypatch) -> None:
    """Catalog objects (a summary holds every run record of the store) are read no further than layout.SMALL_OBJECT_LIMIT
    (lowered here to 64 bytes) unless they hash, read in ranged parts, to the digest the newest audit state pinned: a
    segment grown past the bound is named larger than it, never read whole, and its run is still reported."""
    from prov_common.bundle import layout
    from prov_common.signing import trust_from_settings

    Pipeline(store_uri)
    assert _audit(store_uri).clean
    store = open_store(store_uri)
    segment = list(store.list(catalog.CATALOG_PREFIX))[-1]
    monkeypatch.setattr(layout, "SMALL_OBJECT_LIMIT", 64)
    read = catalog.load_catalog(store, trust_from_settings())
    assert not read.problems and read.runs and segment in read.digests, [p.what for p in read.problems]
    raw_write(store_uri, segment, raw_read(store_uri, segment) + b" " * 100)
    grown = catalog.load_catalog(store, trust_from_settings())
    assert [p.object for p in grown.problems] == [segment], [p.what for p in grown.problems]
    assert f"object '{segment}' in {store.describe()} is larger than 64 bytes" in grown.problems[0].what, grown.problems[0].what
