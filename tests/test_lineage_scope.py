"""`tdprov lineage` of one dataset on an audited store reads the index entries of the runs the audit's signed catalog
connects to it, not every entry: the same answer as reading them all, the runs sealed since the audit always read,
and a forged entry still left out. Reads are counted through the store API, on a local folder and on S3 (moto)."""
from __future__ import annotations

import io
import json
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import prov_common.cli.lineage as lineage_cli
from prov_common.audit import run_audit
from prov_common.audit.scope import LineageScope
from prov_common.bundle.model import BundleSummary
from prov_common.cli import main
from prov_common.config import Settings
from prov_common.signing import default_signing_key
from prov_common.sources import SourceRecord, register_source
from prov_common.store import open_store

from test_audit_support import T0, dataset, digest, raw_read, raw_write, run_events, seal, seal_chain

# one xdist worker runs this module (scripts/test: --dist loadgroup), so each backend's shared store is built once, not once per worker
pytestmark = pytest.mark.xdist_group("test_lineage_scope")

RUNS = 20  # the store the reading tests share: runs 0..19 catalogued, 20 and 21 sealed after the audit
OWN_RUNS = 6  # a store a test changes: runs 0..5 catalogued, 6 and 7 sealed after the audit
OWN_F = f"/data/f{OWN_RUNS - 2}.parquet"  # of that store, the newest version a catalogued run prepared (trained on by m/5)


def _audited(store_uri: str, runs: int = RUNS) -> str:
    """``runs`` runs an audit catalogued, then two runs sealed after it (not in the catalog)."""
    store = open_store(store_uri)
    register_source(store, SourceRecord(name="raw", digest=digest("raw"), license="CC0-1.0", issuer="tests"), default_signing_key())
    seal_chain(store, 0, runs)
    assert run_audit(store, Settings.from_env(store=store_uri), progress=False, workers=1).clean
    seal_chain(store, runs, 2)
    return store_uri


@pytest.fixture
def audited(tmp_path: Path) -> str:
    """An audited store of the test's own (:func:`_audited`, ``OWN_RUNS`` runs) on a local folder, for tests that change
    it: what they change (an entry forged, altered or added, an indexed record deleted) is read from S3 as any object
    is, which the tests of the store built once (:func:`shared`) read there."""
    return _audited(str(tmp_path / "store"), OWN_RUNS)


@pytest.fixture(scope="module", params=["local", "s3"])
def _built_once(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """An audited store (:func:`_audited`) and the home that wrote it, built once per module and backend."""
    home = tmp_path_factory.mktemp("scope-home")
    if request.param == "local":
        uri = str(tmp_path_factory.mktemp("scope") / "store")
    else:
        uri = f"s3://{request.getfixturevalue('s3_server').create_bucket()}/prefix"
    with pytest.MonkeyPatch.context() as build:
        build.setenv("TDPROV_HOME", str(home))
        return _audited(uri), str(home)


@pytest.fixture
def shared(_built_once: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """The audited store built once (:func:`_built_once`), with its home, for tests that only read it."""
    uri, home = _built_once
    monkeypatch.setenv("TDPROV_HOME", home)
    return uri


def _lineage(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], uri: str, *args: str,
             every: bool = False, verb: Any = lineage_cli, code: int = 0) -> tuple[str, str, int]:
    """stdout, stderr and the index entries read of ``tdprov lineage ARGS``, which exits ``code`` (1: it leaves out a
    run); ``every``: as before, reading every entry."""
    reads: Counter[str] = Counter()
    real_open = verb.open_store

    def counted_store(*a: Any, **kw: Any) -> Any:
        store = real_open(*a, **kw)
        get = store.get

        def counted_get(key: str, limit: int | None = None) -> bytes:
            reads[key.split("/", 1)[0]] += 1
            return get(key, limit)

        store.get = counted_get
        return store

    with monkeypatch.context() as patch:
        patch.setattr(verb, "open_store", counted_store)
        if every:
            patch.setattr(LineageScope, "reaching", lambda *a, **kw: None)
        assert main([verb.__name__.rsplit(".", 1)[-1], *args, "--store", uri]) == code
    out, err = capsys.readouterr()
    return out, err, reads["index"]


CASES = [("/data/f10.parquet",), ("/data/f10.parquet", "--downstream"), ("/m/11",), ("--all-versions", "/data/f10.parquet"),
         (f"/data/f{RUNS}.parquet",), (f"/data/f{RUNS}.parquet", "--downstream"), (f"/m/{RUNS + 1}",),
         ("/data/raw.csv", "--downstream", "--depth", "1"), ("--json", "/m/11"), ("--checks", "/m/11"), (digest("f10")[:19],)]
ON_S3 = [("/data/f10.parquet", "--downstream"), (f"/data/f{RUNS}.parquet",)]  # a catalogued run's readers, a run sealed since


def test_lineage_reads_the_entries_the_catalog_connects_and_every_uncatalogued_one(
        shared: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Each case of :data:`CASES` (on S3, of :data:`ON_S3`), run on one store: the same tree and notes as reading every
    entry, and (but downstream of raw.csv, read by RUNS / 2 runs, and --checks, which reads every reader) no more entries
    read than the two runs sealed since the audit and the few the lineage shows."""
    for args in ON_S3 if shared.startswith("s3://") else CASES:
        before, before_err, every = _lineage(monkeypatch, capsys, shared, *args, every=True)
        after, after_err, scoped = _lineage(monkeypatch, capsys, shared, *args)
        assert (after, after_err) == (before, before_err), args
        assert every == RUNS + 2, (args, every)
        if "/data/raw.csv" not in args and "--checks" not in args:
            assert scoped <= 2 + 3, (args, scoped)


def _reads_by_key(store: Any, ranges: bool = False) -> Counter[str]:
    """The objects read from ``store`` from now on, counted by key: on S3 the GetObject requests its client sends, whole
    or ranged; on a local folder its whole reads, and with ``ranges`` its ranged reads too."""
    reads: Counter[str] = Counter()
    if store.uri.startswith("s3://"):
        store.client.meta.events.register("before-parameter-build.s3.GetObject", lambda params, **_: reads.update([params["Key"]]))
        return reads
    get, get_range = store.get, store.get_range

    def counted_get(key: str, limit: int | None = None) -> bytes:
        reads[key] += 1
        return get(key, limit)

    def counted_range(key: str, start: int, length: int) -> bytes:
        reads[key] += 1
        return get_range(key, start, length)

    store.get = counted_get
    if ranges:
        store.get_range = counted_range
    return reads


def _verb_reads(monkeypatch: pytest.MonkeyPatch, verb: Any, *args: str, ranges: bool = False) -> Counter[str]:
    """The objects ``tdprov ARGS`` (exit 0) reads from the store it opens through ``verb``'s ``open_store``, counted
    by key (:func:`_reads_by_key`)."""
    counted: list[Counter[str]] = []
    real_open = verb.open_store

    def counted_store(*a: Any, **kw: Any) -> Any:
        store = real_open(*a, **kw)
        counted.append(_reads_by_key(store, ranges))
        return store

    with monkeypatch.context() as patch:
        patch.setattr(verb, "open_store", counted_store)
        assert main(list(args)) == 0
    [reads] = counted
    return reads


@pytest.mark.parametrize("every", [True, False], ids=["every entry", "the catalog's"])
def test_lineage_with_checks_reads_each_bundle_object_once(
        shared: str, every: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """'tdprov lineage --checks' read the statement, manifest and PROV of each run unchecked to build the tree, then again
    to verify them: of a store of 40 runs on S3, 283 GetObject requests reading every entry and 207 the entries the
    catalog connects, 66 of each repeats (22 bundles, 3 objects). Each object is now read once and verified as read
    (217 and 141 there)."""
    with monkeypatch.context() as patch:
        if every:
            patch.setattr(LineageScope, "reaching", lambda *a, **kw: None)
        reads = _verb_reads(monkeypatch, lineage_cli, "lineage", "--checks", "/m/11", "--store", shared)
    assert "/m/11" in capsys.readouterr().out
    # the runs shown and the readers of their versions: every prepare run (RUNS / 2 catalogued, one sealed after) and m/11's
    assert sum(k.endswith("/prov.json") for k in reads) >= RUNS // 2 + 2, sorted(reads)
    assert {k: n for k, n in reads.items() if n > 1} == {}


def _seal_of_mapping(store: Any, events: list[dict], mapping: str) -> str:
    """Seal a run as a tdprov of PROV mapping ``mapping`` sealed it (its ``prov.json`` of that mapping, which the current
    one derives again from the events): signed for the store's identity."""
    from prov_common.bundle import Bundle
    from prov_common.bundle.build import derive_bundle, statement_for
    from prov_common.bundle.model import blake3_digest
    from prov_common.bundle.storage import deliver_bundle
    from prov_common.signing import INTOTO_PAYLOAD_TYPE, sign_envelope
    from prov_common.store.identity import writer_store_id

    key = default_signing_key()
    derived = derive_bundle(events, None, prov_mapping=mapping, store_id=writer_store_id(store))
    envelope = sign_envelope(statement_for(derived.manifest, blake3_digest(derived.manifest_bytes)), INTOTO_PAYLOAD_TYPE, [key])
    deliver_bundle(store, Bundle(derived.state.run_id, derived.files, derived.manifest, derived.manifest_bytes,
                                 envelope.to_json(), key.key_id))
    return derived.state.run_id


@pytest.mark.parametrize("store_uri", ["local", "s3"], indirect=True)
def test_lineage_with_checks_reads_the_events_of_an_older_mapping_once(
        store_uri: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A run sealed under PROV mapping 4 has its PROV derived again from its events: 'tdprov lineage --checks' read its
    events.jsonl in ranged parts to draw the tree, then whole to verify the bundle (20 reads of three runs, on S3
    GetObject requests, one of them a repeat). The tree now reads events that verification reads whole the same way,
    held, and verification takes those bytes: each object is read once (19)."""
    from prov_common.bundle.layout import EVENTS_FILE, bundle_key

    store = open_store(store_uri)
    seal_chain(store, 0, 2)
    run = _seal_of_mapping(store, run_events("train_model", [dataset("/data/f0.parquet", digest("f0"))],
                                             [dataset("/m/9", digest("m9"))]), "tdprov-prov/4")
    reads = _verb_reads(monkeypatch, lineage_cli, "lineage", "--checks", "/m/9", "--store", store_uri, ranges=True)
    out = capsys.readouterr().out
    assert f"run {run}" in out and "/data/f0.parquet" in out and "/data/raw.csv" in out, out
    assert reads[f"{'prefix/' if store_uri.startswith('s3://') else ''}{bundle_key(run, EVENTS_FILE)}"] == 1, sorted(reads.items())
    assert {k: n for k, n in reads.items() if n > 1} == {}
    assert sum(reads.values()) == 19, sorted(reads.items())


@pytest.mark.parametrize("store_uri", ["local", "s3"], indirect=True)
def test_record_export_verified_and_show_read_each_bundle_object_once(
        store_uri: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Of four runs, 'tdprov export --verified' verified each bundle, then read its statement, manifest and PROV again to
    export it (37 reads, on S3 GetObject requests, 12 of them repeats), and a Croissant 'tdprov record' verified the run
    that made the version again to find the SHA-256 it signed (25 reads, 5 repeats, then 22 reads, its events and its
    indexed record read twice). Those objects are now read once and what is exported or recorded is what was verified:
    25 and 20 reads, the record's SHA-256 taken from the manifest verified. 'tdprov show' reads each object of the
    bundle once (7)."""
    import prov_common.cli.export as export_cli
    import prov_common.cli.record as record_cli
    import prov_common.cli.show as show_cli
    from prov_common.bundle.layout import is_read_whole, run_id_of_index_key
    from prov_common.bundle.storage import index_keys

    store = open_store(store_uri)
    seal_chain(store, 0, 4)
    assert main(["export", "--store", store_uri]) == 0
    plain = capsys.readouterr().out
    exported = _verb_reads(monkeypatch, export_cli, "export", "--verified", "--store", store_uri)
    assert capsys.readouterr().out == plain  # the same PROV, from the bytes verified
    recorded = _verb_reads(monkeypatch, record_cli, "record", "/m/3", "--format", "croissant", "--store", store_uri)
    assert "/m/3" in capsys.readouterr().out
    run_id = run_id_of_index_key(max(index_keys(store)))
    shown = _verb_reads(monkeypatch, show_cli, "show", run_id, "--store", store_uri)
    assert run_id in capsys.readouterr().out
    for reads, count in ((exported, 25), (recorded, 20), (shown, 7)):
        assert {k: n for k, n in reads.items() if n > 1 and is_read_whole(k.removeprefix("prefix/"))} == {}
        assert sum(reads.values()) == count, sorted(reads.items())
    assert {k: n for k, n in recorded.items() if n > 1} == {}  # nor the events, nor the indexed record


def test_a_forged_entry_is_still_left_out_and_a_run_sealed_after_the_audit_still_shown(
        audited: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    forged = BundleSummary(run_id="00000000-0000-4000-8000-00000000f00d", job_namespace="default", job_name="prepare",
                           state="COMPLETE", ended_at="2026-05-01T18:00:00Z", sealed_at="2026-05-01T18:00:00Z",
                           outputs=(), inputs=())
    data = forged.to_dict()
    data["outputs"] = [{"namespace": "file", "name": OWN_F, "version": digest("forged")}]
    from prov_common.canonical_json import canonical_bytes

    raw_write(audited, f"index/2026/05/01/20260501T180000000000Z-{forged.run_id}.json", canonical_bytes(data))
    before = _lineage(monkeypatch, capsys, audited, OWN_F, every=True, code=1)
    after = _lineage(monkeypatch, capsys, audited, OWN_F, code=1)  # a run left out is a finding
    assert after[:2] == before[:2]
    assert digest(f"f{OWN_RUNS - 2}") in after[0] and digest("forged") not in after[0]
    assert f"left out run {forged.run_id}" in after[1]
    out = _lineage(monkeypatch, capsys, audited, f"/m/{OWN_RUNS + 1}")[0]
    assert f"/data/f{OWN_RUNS}.parquet" in out and "prepare" in out  # both runs sealed after the audit


@pytest.mark.parametrize("run", ["catalogued", "sealed after the audit"])
def test_a_deleted_indexed_record_leaves_the_run_out_with_no_read_more(
        audited: str, run: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A bundle whose indexed record was deleted while the run has an index entry fails 'tdprov verify' (exit 1), but
    'tdprov lineage' of the dataset it generated showed the run sound (exit 0): the run is left out and named, the
    record's absence read from the bundle's listing verification makes anyway (no more reads of the index)."""
    from bundle_support import raw_delete

    from prov_common.bundle.storage import index_keys
    from prov_common.canonical_json import loads

    store = open_store(audited)
    made = OWN_F if run == 'catalogued' else f"/data/f{OWN_RUNS}.parquet"
    [run_id] = [loads(store.get(k))["runId"] for k in index_keys(store)
                if [o["name"] for o in loads(store.get(k))["outputs"]] == [made]]
    clean = _lineage(monkeypatch, capsys, audited, made)
    raw_delete(audited, f"bundles/{run_id}/indexed")
    out, err, reads = _lineage(monkeypatch, capsys, audited, made, code=1)
    assert reads == clean[2] and f"[generated by run {run_id}, left out: its bundle does not verify]" in out, (reads, clean[2], out)
    assert (f"left out run {run_id}: its bundle does not verify (bundles/{run_id}/indexed: missing: the bundle's indexed "
            "record, which names its index entry, is gone though the run has an index entry)") in err, err


def test_an_altered_entry_the_lineage_does_not_reach_changes_nothing_shown(
        audited: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A catalogued run's entry altered after the audit to claim a newer version of :data:`OWN_F`: reading every entry took
    the run as its sound bundle says (not making it); the catalog says so without reading the entry. Same tree."""
    from prov_common.bundle.storage import index_keys
    from prov_common.canonical_json import canonical_bytes, loads

    store = open_store(audited)
    key = [k for k in index_keys(store) if loads(store.get(k))["job"]["name"] == "train_model"][-2]  # m/5, newer than f4
    entry = loads(store.get(key))
    newer = {"namespace": "file", "name": OWN_F, "version": digest("newer"), "digest": {"blake3": digest("newer")[7:]}}
    entry["outputs"] = [*entry["outputs"], newer]
    raw_write(audited, key, canonical_bytes(entry))
    before = _lineage(monkeypatch, capsys, audited, OWN_F, every=True)
    after = _lineage(monkeypatch, capsys, audited, OWN_F)
    assert after[0] == before[0] and digest(f"f{OWN_RUNS - 2}") in after[0] and digest("newer") not in after[0]
    assert "taken as its signed bundle says" in before[1]  # 'tdprov audit' reports the altered entry


def test_record_of_an_audited_dataset_reads_the_entries_of_the_runs_it_verifies_only(
        shared: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    """A record verifies the bundle of the run that made its version, found by the index entry the audit catalogued, and
    reads the two entries sealed after the audit: never the entries of the catalogued runs that only read /data/raw.csv
    or /data/f10.parquet and recorded no result on it (the catalog says so; the record cites nothing of theirs)."""
    import prov_common.cli.record as record_cli

    _, _, read = _lineage(monkeypatch, capsys, shared, "/data/f10.parquet", "-o", str(tmp_path / "r.json"), verb=record_cli)
    assert read <= 1 + 2, read


def _readers_audited(store_uri: str) -> dict[str, str]:
    """A run preparing /data/f.parquet from /data/raw.csv that validated raw.csv (passed), and runs that only read
    raw.csv: two recording that result alike, one none, two a failed validation alike; all audited. Run ids by name."""
    store = open_store(store_uri)
    raw = digest("raw")
    passed, failed = dataset("/data/raw.csv", raw, passed=True), dataset("/data/raw.csv", raw, passed=False, failed=("positive",))
    runs = {"prepare": seal(store, run_events("prepare", [passed], [dataset("/data/f.parquet", digest("f"))]))}
    readers = [("alike1", passed), ("alike2", passed), ("none", dataset("/data/raw.csv", raw)), ("failed1", failed), ("failed2", failed)]
    for n, (name, use) in enumerate(readers, 1):
        runs[name] = seal(store, run_events(f"read_{name}", [use], [], start=T0 + timedelta(minutes=n)))
    result = run_audit(store, Settings.from_env(store=store_uri), progress=False, workers=1)  # findings: the failed validation
    assert {r["runId"] for r in result.runs_listed()} == set(runs.values())
    return runs


def _record(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], uri: str, code: int) -> tuple[str, str, set[str]]:
    """stdout and stderr of ``tdprov record /data/f.parquet``, which exits ``code``, and the runs whose bundles it verified."""
    import prov_common.audit.recorded as recorded

    verified: set[str] = set()
    real = recorded.check_runs

    def counted(store: Any, trust: Any, summaries: Any, desc: Any = None) -> Any:
        verified.update(s.run_id for s in summaries)
        return real(store, trust, summaries, desc)

    capsys.readouterr()
    with monkeypatch.context() as patch:
        patch.setattr(recorded, "check_runs", counted)
        assert main(["record", "/data/f.parquet", "--no-checksum", "--store", uri]) == code
    out, err = capsys.readouterr()
    return out, err, verified


def _alter(uri: str, run_id: str) -> tuple[str, bytes]:
    """Append a line to the events of ``run_id``'s bundle; its events key and sound bytes."""
    events = f"bundles/{run_id}/events.jsonl"
    sound = raw_read(uri, events)
    raw_write(uri, events, sound + b'{"eventType": "COMPLETE"}\n')
    return events, sound


@pytest.mark.parametrize("store_uri", ["local"], indirect=True)
def test_a_record_verifies_the_catalogued_readers_whose_results_it_cites_and_finds_each_altered(
        store_uri: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Of the catalogued runs that only read a version on the lineage, a record verifies one for each result their catalog
    records hold that no verified bundle holds (one of the two failed validations alike), not those that recorded none or
    the result the prepare run's verified bundle holds too: the same record. A cited bundle altered after the audit is
    still found (named, left out, exit 1), and a reader holding its result alike is verified in its place; one the record
    cites nothing of changes nothing it says."""
    runs = _readers_audited(store_uri)
    out, err, verified = _record(monkeypatch, capsys, store_uri, 0)
    [cited] = verified - {runs["prepare"]}
    assert cited in (runs["failed1"], runs["failed2"]), (runs, verified)
    record = json.loads(out)
    assert sorted((q["schema"], q["passed"]) for q in record["qualityChecks"]) == [
        ("/data/raw.csv_schema", False), ("/data/raw.csv_schema", True)], record["qualityChecks"]
    for name in ("alike1", "none"):  # bundles the record cites nothing of
        _alter(store_uri, runs[name])
    assert _record(monkeypatch, capsys, store_uri, 0)[:2] == (out, err)
    events, _ = _alter(store_uri, cited)
    altered, said, checked = _record(monkeypatch, capsys, store_uri, 1)
    assert f"left out run {cited}: its bundle does not verify ({events}: " in said, said
    other = runs["failed1"] if cited == runs["failed2"] else runs["failed2"]
    assert checked == {runs["prepare"], cited, other}, (runs, checked)
    assert json.loads(altered)["qualityChecks"] == record["qualityChecks"]  # the other run's alike result, verified
    events, _ = _alter(store_uri, runs["prepare"])  # the run that made the version: named, and there is no record
    said = _record(monkeypatch, capsys, store_uri, 2)[1]
    assert f"left out run {runs['prepare']}: its bundle does not verify ({events}: " in said, said


@pytest.mark.parametrize("store_uri", ["local"], indirect=True)
def test_a_forged_entry_writing_the_dataset_earlier_does_not_date_or_number_its_version(
        store_uri: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A record numbers a version by the contents runs gave its dataset and dates the one before: an index entry (unsigned,
    no bundle) claiming a run wrote /data/f.parquet in 2020 made the record say the version before was issued then, exit
    0. The run is read, left out and named; the record says what the signed bundles say."""
    runs = _readers_audited(store_uri)
    out = json.loads(_record(monkeypatch, capsys, store_uri, 0)[0])
    assert out["dateOfPreviouslyIssuedVersion"] == "not applicable", out
    forged = BundleSummary(run_id="00000000-0000-4000-8000-00000000f00d", job_namespace="default", job_name="prepare",
                           state="COMPLETE", ended_at="2020-01-01T00:00:00Z", sealed_at="2020-01-01T00:00:00Z", outputs=(), inputs=())
    data = forged.to_dict()
    data["outputs"] = [{"namespace": "file", "name": "/data/f.parquet", "version": digest("older")}]
    from prov_common.canonical_json import canonical_bytes

    raw_write(store_uri, f"index/2020/01/01/20200101T000000000000Z-{forged.run_id}.json", canonical_bytes(data))
    after, said, verified = _record(monkeypatch, capsys, store_uri, 1)
    assert json.loads(after) == out, after
    assert forged.run_id in verified and runs["prepare"] in verified, verified
    assert f"left out run {forged.run_id}: its bundle does not verify" in said, said


def test_a_dataset_recorded_without_a_version_has_its_lineage_told(
        audited: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A dataset a run recorded with no version (a table the provider named, no digest): its lineage, up and down, is
    the one reading every entry gives, not an unexpected error."""
    store = open_store(audited)
    seal(store, run_events("export", [], [dataset("/data/unversioned.csv", None)], start=T0 + timedelta(hours=5)))
    seal(store, run_events("load", [dataset("/data/unversioned.csv", None)], [], start=T0 + timedelta(hours=6)))
    for direction, job in (((), "export"), (("--downstream",), "load")):
        before = _lineage(monkeypatch, capsys, audited, "/data/unversioned.csv", *direction, every=True)
        after = _lineage(monkeypatch, capsys, audited, "/data/unversioned.csv", *direction)
        assert after[:2] == before[:2]
        assert "(no version)" in after[0] and job in after[0]


def test_export_verified_holds_the_bytes_of_one_batch_at_a_time(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """'tdprov export --verified' verified every bundle first and held each one's statement, manifest and PROV until the
    merged document was built: the bytes held grew with the store (18 objects of six runs). It now verifies and exports
    the runs in batches, releasing each batch's bytes once its PROV is merged: at most a batch's objects are held (6 in
    batches of two runs), the same PROV is exported, each object still read once."""
    import prov_common.cli.export as export_cli
    from prov_common.bundle.layout import is_read_whole
    from prov_common.store.held_reads import HeldReads

    uri = str(tmp_path / "store")
    seal_chain(open_store(uri), 0, 6)
    assert main(["export", "--store", uri]) == 0
    plain = capsys.readouterr().out
    most: list[int] = [0]

    class Watched(HeldReads):
        def get(self, key: str, limit: int | None = None) -> bytes:
            data = super().get(key, limit)
            most[0] = max(most[0], len(self.held))
            return data

    monkeypatch.setattr(export_cli, "bundle_reads_held", lambda store: Watched(store, is_read_whole))
    monkeypatch.setattr(export_cli, "EXPORT_BATCH", 2, raising=False)
    reads = _verb_reads(monkeypatch, export_cli, "export", "--verified", "--store", uri)
    assert capsys.readouterr().out == plain
    assert most[0] == 2 * 3, most[0]  # two runs' statement, manifest and PROV
    assert {k: n for k, n in reads.items() if n > 1 and is_read_whole(k)} == {}
    assert sum(is_read_whole(k) for k in reads) == 6 * 3


class _Terminal(io.StringIO):
    """A stderr that is a terminal."""

    def isatty(self) -> bool:
        return True


def test_export_verified_draws_one_bar_over_all_its_batches(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """'tdprov export --verified' drew a new 'verifying bundles' bar, then a 'reading bundles' bar, for each batch of
    runs it verifies (256 each): a store of 1,000 runs showed eight bars, each counting from 0 to its batch's size, and no
    bar said how far the export was. It draws one bar over the whole export, counting every run verified (five runs, all
    listed, in batches of two), gone from the screen when done; the PROV exported is the same."""
    import sys

    import prov_common.cli.export as export_cli

    uri = str(tmp_path / "store")
    seal_chain(open_store(uri), 0, 5)
    assert main(["export", "--verified", "--store", uri]) == 0
    plain = capsys.readouterr().out
    monkeypatch.setattr(export_cli, "EXPORT_BATCH", 2, raising=False)
    monkeypatch.setattr(sys, "stderr", terminal := _Terminal())
    assert main(["export", "--verified", "--store", uri]) == 0
    assert capsys.readouterr().out == plain
    drawn = terminal.getvalue()
    assert "verifying bundles: " in drawn and "reading bundles" not in drawn, drawn
    totals = {part.split("[", 1)[0].rsplit("/", 1)[1].strip() for part in drawn.split("\r") if "verifying bundles: " in part}
    assert totals == {"5"}, drawn  # one bar, of all five runs: never one of a batch
    assert "| 0/5 [" in drawn, drawn
    assert drawn.rpartition("\r")[2].strip() == "", drawn  # gone from the screen when done


def test_runs_verified_draws_one_bar_over_the_whole_listing(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """'tdprov runs --verified' drew a new 'verifying runs' bar for each batch of runs it verifies (256 each), each
    counting from 0 to its batch's size, under a 'reading the index' bar: a store of 1,000 runs showed four bars one
    after another. It draws one 'verifying runs' bar over the whole listing (five runs, all listed, in batches of two),
    counting every run verified, without a total (the index is read as it goes), gone from the screen when done; the runs listed
    are the same."""
    import sys

    import prov_common.cli.runs as runs_cli

    uri = str(tmp_path / "store")
    seal_chain(open_store(uri), 0, 5)
    assert main(["runs", "--verified", "--limit", "0", "--store", uri]) == 0
    plain = capsys.readouterr().out
    monkeypatch.setattr(runs_cli, "VERIFY_BATCH", 2)
    monkeypatch.setattr(sys, "stderr", terminal := _Terminal())
    assert main(["runs", "--verified", "--limit", "0", "--store", uri]) == 0
    assert capsys.readouterr().out == plain
    drawn = terminal.getvalue()
    parts = [part for part in drawn.split("\r") if part.strip()]
    assert parts and all(part.startswith("verifying runs: ") for part in parts), drawn  # one bar, no other
    assert all("/" not in part.split("[", 1)[0] for part in parts), drawn  # no total: never one of a batch
    assert parts[0].startswith("verifying runs: 0run ["), drawn
    assert drawn.rpartition("\r")[2].strip() == "", drawn  # gone from the screen when done


def test_reading_bundles_bar_is_drawn_by_a_verb_not_a_library_call(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The 'reading bundles' bar of the PROV documents of a store was drawn wherever stderr was a terminal, a library
    call's too (store_document in a notebook or a pipeline's step), where every other bar is drawn only by a verb that
    turns bars on (prov_common.progress.on_terminal). A library call now draws none; 'tdprov export' and 'tdprov
    lineage --checks' on a terminal draw it as before, gone from the screen when done."""
    import sys

    from prov_common.w3cprov.collect import store_document
    from prov_common.w3cprov.serialize import serialize

    uri = str(tmp_path / "store")
    seal_chain(open_store(uri), 0, 3)
    monkeypatch.setattr(sys, "stderr", terminal := _Terminal())
    exported = serialize(store_document(open_store(uri)), "json")
    assert terminal.getvalue() == ""  # a library call: no bar
    assert main(["export", "--store", uri]) == 0
    assert capsys.readouterr().out.encode() == exported
    drawn = terminal.getvalue()
    assert "reading bundles:   0%|" in drawn and "| 0/3 [" in drawn, drawn
    assert drawn.rpartition("\r")[2].strip() == "", drawn
    monkeypatch.setattr(sys, "stderr", terminal := _Terminal())
    main(["lineage", "/m/1", "--checks", "--store", uri])
    assert "reading bundles:   0%|" in terminal.getvalue(), terminal.getvalue()


def test_verifying_the_runs_shown_bar_is_drawn_by_lineage_not_a_library_call(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """check_runs given a bar's name drew that bar wherever stderr was a terminal, a library call's too, by a rule of
    its own, where every other bar is drawn only by a verb that turns bars on (prov_common.progress.on_terminal). A
    library call now draws none and finds the same; 'tdprov lineage' on a terminal draws 'verifying the runs shown' as
    before, gone from the screen when done."""
    import sys

    from prov_common.audit.recorded import check_runs
    from prov_common.audit.scope import LineageScope
    from prov_common.bundle.trust import bundle_trust

    uri = str(tmp_path / "store")
    seal_chain(open_store(uri), 0, 3)
    store = open_store(uri)
    trust = bundle_trust(Settings.from_env(store=uri), store)
    summaries = LineageScope.of(store, trust).every()
    assert len(summaries) == 3
    monkeypatch.setattr(sys, "stderr", terminal := _Terminal())
    checked = check_runs(store, trust, summaries, "verifying the runs shown")
    assert terminal.getvalue() == ""  # a library call: no bar
    assert sorted(checked.sound) == sorted(s.run_id for s in summaries) and not checked.left_out
    assert main(["lineage", "/m/1", "--store", uri]) == 0
    drawn = terminal.getvalue()
    assert "verifying the runs shown:   0%|" in drawn, drawn
    assert drawn.rpartition("\r")[2].strip() == "", drawn  # gone from the screen when done
