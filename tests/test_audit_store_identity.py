"""Store identity, on a local store and on S3 (moto): prod and dev share one writer key (the per-user default key),
and someone who can write prod but holds no key copies a dev bundle, or a dev source record, that closes a broken
link of a prod training run. Both name dev's store id in what they sign, so the audits, ``verify`` and a memoryless
auditor find them; records written before stores had an identity are still taken; and the store's own identity
object, once an audit saw it, cannot be replaced or deleted unnoticed.

As in tests/test_audit_attacks.py, a test runs on S3 too when the store decides what is found (the identity object,
created with a conditional write, then replaced or deleted); a record copied in under a key of its own is found from its
signed bytes, the same on both stores, and is tried on the local folder only (but for a person's resolution copied
in, which an audit adopts from the store's listing: on both). So is each verb run in a process that read
the identity before (verify, show, lineage, record, contains, store repair): what it reads afresh is one object, read as
any is; a verb's read of an identity replaced on S3 is tried by the audits and by the verify run beside a writer. And
so are a store's own staged events judged by the id its auditor saw once the identity is deleted: the deletion on S3 is
tried by the test of a replaced or deleted identity."""
from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Container
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from prov_common.audit.memory import memory_path
from prov_common.audit.model import CHECK_COMPLETENESS, CHECK_INVENTORY, CHECK_SIGNATURES, CHECK_SOURCES
from prov_common.bundle import build_bundle, layout
from prov_common.bundle.storage import deliver_bundle
from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport
from prov_common.bundle.verify import OTHER_STORE
from prov_common.bundle.verify_runs import verify_runs
from prov_common.config import Settings
from prov_common.signing import Envelope, default_signing_key, sign_envelope, trust_from_settings
from prov_common.sources import SourceRecord, register_source
from prov_common.sources.model import SOURCE_PAYLOAD_TYPE
from prov_common.sources.registry import source_key
from prov_common.store import open_store
from prov_common.store.identity import IDENTITY_KEY, ensure_identity, read_identity, writer_store_id

from counting_store import CountingStore
from test_audit_support import (T0, Pipeline, dataset, digest, forget_identities, raw_delete, raw_read, raw_write, run_events, seal,
                                audit as _audit)
from test_reliability_proxy import FaultProxy, fault_proxy  # noqa: F401 - fixtures

X = digest("x")


LOCAL_ONLY = pytest.mark.parametrize("store_uri", ["local"], indirect=True)  # see the module's docstring


def _errors(result, check: str) -> list:
    return [f for f in result.check(check).errors]


def _dev_uri(prod_uri: str) -> str:
    """Another store on the same backend: a sibling folder, or another prefix of the bucket."""
    return prod_uri.rsplit("/", 1)[0] + "/dev"


def _copy(src: str, dst: str, keys: list[str]) -> None:
    for key in keys:
        raw_write(dst, key, raw_read(src, key))


def _prod_with_broken_link(uri: str) -> tuple[Pipeline, str]:
    """A prod store whose training run read /d/x@X, which no prod run generated: a completeness finding."""
    pipe = Pipeline(uri)
    train = seal(pipe.store, run_events("train_on_x", [dataset("/d/x", X)], [], start=T0 + timedelta(hours=5), job_type="TRAINING"))
    first = _audit(pipe.store)
    assert [f.run_id for f in _errors(first, CHECK_COMPLETENESS)] == [train]
    return pipe, train


def _other_store(result, run_id: str) -> list:
    return [f for f in _errors(result, CHECK_SIGNATURES) if f.run_id == run_id and f.what.startswith(OTHER_STORE)]


@LOCAL_ONLY
def test_a_bundle_copied_from_another_store_with_the_same_key_is_found(store_uri: str) -> None:
    """The dev run that 'generated' /d/x@X, copied with its index entry: every audit, --full, a memoryless auditor
    and verify name it as another store's; readers do not take it as this store's."""
    pipe, _train = _prod_with_broken_link(store_uri)
    dev = open_store(_dev_uri(store_uri))
    made = seal(dev, run_events("make_x_in_dev", [dataset(pipe.raw_name, pipe.raw)], [dataset("/d/x", X)], start=T0 + timedelta(hours=1)))
    assert writer_store_id(dev) != writer_store_id(pipe.store)
    _copy(dev.uri, store_uri, [*dev.list(layout.bundle_prefix(made)), *(k for k in dev.list("index/") if made in k)])

    for result in (_audit(pipe.store), _audit(pipe.store), _audit(pipe.store, full=True), _audit(pipe.store)):
        found = _other_store(result, made)
        assert found and f"not this store {writer_store_id(pipe.store)}" in found[0].what, [f.what for f in result.errors]
        assert found[0].object == layout.bundle_key(made, layout.MANIFEST_FILE) and "signing key of its own" in found[0].fix
    memory_path(store_uri).unlink()  # an auditor that never saw this store
    assert _other_store(_audit(pipe.store, full=True), made)

    settings = Settings.from_env(store=store_uri)
    reports = {r.run_id: r for r in verify_runs(pipe.store, trust_from_settings(settings), workers=1)}
    assert [f.problem for f in reports[made].findings] == [OTHER_STORE]
    assert all(r.ok for run_id, r in reports.items() if run_id != made)

    from prov_common.audit.recorded import RecordedRuns

    recorded = RecordedRuns.of(pipe.store, trust_from_settings(settings))
    recorded.read([made])
    assert made not in recorded.runs and OTHER_STORE in recorded.left_out[made]


@LOCAL_ONLY
def test_a_source_record_copied_from_another_store_is_found(store_uri: str) -> None:
    """A dev source record of /d/x@X: a sources finding of the incremental and the full audit, and no origin here."""
    pipe, train = _prod_with_broken_link(store_uri)
    dev = open_store(_dev_uri(store_uri))
    register_source(dev, SourceRecord(name="whatever", digest=X, license="CC0-1.0", issuer="dev", location="/d/x", personal_data="none"),
                    default_signing_key())
    key = source_key("whatever", X)
    _copy(dev.uri, store_uri, [key])
    for result in (_audit(pipe.store), _audit(pipe.store, full=True), _audit(pipe.store)):
        sources = [f for f in _errors(result, CHECK_SOURCES) if f.object == key]
        assert sources and f"signed for store {writer_store_id(dev)}" in sources[0].what, [f.what for f in result.errors]
        assert [f.run_id for f in _errors(result, CHECK_COMPLETENESS)] == [train]  # the link stays broken


def test_records_written_before_stores_had_an_identity_are_still_taken(store_uri: str) -> None:
    """A store whose bundles and source record name no store (written before): clean, and the audit writes no
    identity; the first writer that names one creates it, and the store stays clean."""
    store = open_store(store_uri)
    key = default_signing_key()
    record = SourceRecord(name="vendor-x", digest=X, license="CC0-1.0", issuer="Acme", location="/d/x", personal_data="none",
                          registered_at="2025-01-01T00:00:00Z")
    store.put(source_key(record.name, record.digest), sign_envelope(record.to_json(), SOURCE_PAYLOAD_TYPE, [key]).to_json())
    for events in (run_events("prepare", [dataset("/d/x", X)], [dataset("/d/y", digest("y"))]),
                   run_events("train_model", [dataset("/d/y", digest("y"))], [], start=T0 + timedelta(hours=1), job_type="TRAINING")):
        bundle = build_bundle(events, None, key)
        assert bundle.manifest.store_id is None and b"storeId" not in bundle.manifest_bytes
        deliver_bundle(store, bundle)
    assert _audit(store).clean and _audit(store, full=True).clean
    assert read_identity(store) is None
    seal(store, run_events("train_model", [dataset("/d/y", digest("y"))], [], start=T0 + timedelta(hours=2), job_type="TRAINING"))
    assert read_identity(store) is not None
    assert _audit(store).clean and _audit(store, full=True).clean
    settings = Settings.from_env(store=store_uri)
    assert all(r.ok for r in verify_runs(store, trust_from_settings(settings), workers=1))


def _audit_objects(uri: str, since: Container[str] = ()) -> list[str]:
    """The keys of the audits' signed records and reports in the store at ``uri``, but those of ``since``."""
    from prov_common.audit.published import REPORTS_PREFIX, RUNS_PREFIX

    store = open_store(uri)
    return [k for prefix in (RUNS_PREFIX, REPORTS_PREFIX) for k in store.list(prefix) if k not in since]


def test_a_store_copied_to_another_place_keeps_its_audit_records(store_uri: str) -> None:
    """A store copied to another place (a folder, a prefix), audited there afresh, then its audit records synced again
    from the old place: each named the old URI, and every one was 'another store's', with the fix to remove the record
    and its reports. Records and reports sign the store's id beside its URI, and a store is known by its id wherever it
    is now."""
    from prov_common.audit.published import FIX_OTHER_STORE, RUNS_PREFIX, audited_store

    seal(open_store(store_uri), run_events("prepare", [], [dataset("/d/y", digest("y"))]))
    moved = store_uri.rsplit("/", 1)[0] + "/moved"
    _copy(store_uri, moved, list(open_store(store_uri).list()))
    assert _audit(moved).clean
    before = _audit_objects(moved)
    assert _audit(store_uri).clean  # a last audit at the old place, synced after it
    _copy(store_uri, moved, _audit_objects(store_uri, before))
    found = _audit(moved)
    assert found.clean and not [f for f in found.errors if f.fix == FIX_OTHER_STORE], [f"{f.object}: {f.what}" for f in found.errors]
    store_id = read_identity(open_store(moved)).store_id
    record = max(key for key in _audit_objects(moved, before) if key.startswith(RUNS_PREFIX))  # the last audit's, at the new place
    assert audited_store(Envelope.from_json(raw_read(moved, record)).payload) == (moved, store_id)
    report = json.loads(raw_read(moved, f"audit/reports/{record[len(RUNS_PREFIX):].removesuffix('.prov.dsse.json')}/report.json"))
    assert (report["store"], report["storeId"]) == (moved, store_id)


@LOCAL_ONLY
def test_an_audit_record_of_a_store_made_before_at_this_uri_is_another_stores(store_uri: str) -> None:
    """A store removed and made again at the same URI (a new identity), then the first store's audit records copied
    in: they name this URI, and passed as this store's. They name another store's id: a finding, with the fix."""
    from prov_common.audit.published import FIX_OTHER_STORE, RUNS_PREFIX

    seal(open_store(store_uri), run_events("prepare", [], [dataset("/d/y", digest("y"))]))
    assert _audit(store_uri).clean
    first = {key: raw_read(store_uri, key) for key in _audit_objects(store_uri)}
    was = read_identity(open_store(store_uri)).store_id
    shutil.rmtree(store_uri)
    forget_identities(store_uri)
    shutil.rmtree(Path(os.environ["TDPROV_HOME"]) / "audits")  # an auditor that never saw the first store (the same keys)
    seal(open_store(store_uri), run_events("prepare", [], [dataset("/d/z", digest("z"))]))
    now = read_identity(open_store(store_uri)).store_id
    assert now != was and _audit(store_uri).clean
    for key, data in first.items():
        raw_write(store_uri, key, data)
    found = _audit(store_uri)
    named = [f for f in found.check(CHECK_INVENTORY).errors if f.object in first]
    [record] = [key for key in first if key.startswith(RUNS_PREFIX)]
    assert [f.object for f in named] == [record] and named[0].fix == FIX_OTHER_STORE, [f"{f.object}: {f.what}" for f in found.errors]
    assert (f"is the record of an audit of another store ({store_uri}, store id {was}), not of this store ({store_uri}, store id "
            f"{now})") in named[0].what, named[0].what


def test_a_replaced_or_deleted_store_identity_is_a_lasting_finding(store_uri: str) -> None:
    """dev's identity copied over prod's (which would make dev's records pass here), then deleted: each is an
    inventory finding of every audit until a person accepts it."""
    pipe = Pipeline(store_uri)
    dev = open_store(_dev_uri(store_uri))
    ensure_identity(dev)
    assert _audit(pipe.store).clean
    mine = raw_read(store_uri, IDENTITY_KEY)
    raw_write(store_uri, IDENTITY_KEY, raw_read(dev.uri, IDENTITY_KEY))
    for result in (_audit(pipe.store), _audit(pipe.store)):
        found = [f for f in _errors(result, CHECK_INVENTORY) if f.object == IDENTITY_KEY]
        assert found and "was replaced" in found[0].what, [f.what for f in result.errors]
    full = _audit(pipe.store, full=True)  # prod's own bundles name prod's id: none is this store's now
    assert {f.run_id for f in _errors(full, CHECK_SIGNATURES) if f.what.startswith(OTHER_STORE)} == {pipe.prepare, pipe.train}
    raw_delete(store_uri, IDENTITY_KEY)
    gone = [f for f in _errors(_audit(pipe.store), CHECK_INVENTORY) if f.object == IDENTITY_KEY]
    assert gone and "is gone" in gone[0].what
    raw_write(store_uri, IDENTITY_KEY, mine)  # restored from a backup
    assert not [f for f in _errors(_audit(pipe.store, full=True), CHECK_INVENTORY) if f.object == IDENTITY_KEY]
    raw_write(store_uri, IDENTITY_KEY, raw_read(dev.uri, IDENTITY_KEY))
    accepted = _audit(pipe.store, accept_checkpoint="the store was re-initialised on purpose")
    assert IDENTITY_KEY in {f["object"] for f in accepted.resolution["closed"]}
    assert not [f for f in _errors(_audit(pipe.store), CHECK_INVENTORY) if f.object == IDENTITY_KEY]


def _hostile_identity(path: Path, form: str) -> None:
    """Write ``form`` of a hostile store identity at ``path``."""
    if form == "sparse 4 GiB":
        with open(path, "r+b") as f:
            f.truncate(4 << 30)
        return
    held = json.loads(path.read_bytes())
    data = {"not JSON": b"not json", "nested": b"[" * 30_000 + b"]" * 30_000,
            "id a list": json.dumps({**held, "storeId": [held["storeId"]]}).encode(),
            "id of controls": json.dumps({**held, "storeId": "../x\n\u202eclean\x1b[2J"}).encode()}[form]
    path.write_bytes(data)


@LOCAL_ONLY
@pytest.mark.parametrize("form", ["sparse 4 GiB", "not JSON", "nested", "id a list", "id of controls"])
def test_a_hostile_store_identity_is_an_inventory_finding_read_bounded(store_uri: str, form: str) -> None:
    """_tdprov/store.json replaced by one hostile object (grown sparse to 4 GiB, not JSON, nested 30,000 deep, a storeId
    that is a list, or one of a path, a new line, a bidi control and an escape sequence): the audit reads at most 64 KiB
    of it and names it with the fix to restore it, no store error or traceback; the id is quoted escaped."""
    import tracemalloc

    from prov_common.cli._terminal import one_line

    pipe = Pipeline(store_uri)
    assert _audit(pipe.store).clean
    _hostile_identity(Path(store_uri) / IDENTITY_KEY, form)
    tracemalloc.start()
    try:
        result = _audit(pipe.store)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    [found] = [f for f in _errors(result, CHECK_INVENTORY) if f.object == IDENTITY_KEY]
    assert result.exit_code == 1 and f"restore {IDENTITY_KEY} from a backup" in found.fix and peak < 64 << 20, (found.what, peak)
    assert ("not a store identity" in found.what) != (form == "id of controls"), found.what
    if form == "id of controls":
        assert "the store's identity is now ../x\\n\\u202eclean\\x1b[2J, not " in one_line(found.what), found.what


def _stage_unsealed_runs(pipe: Pipeline, store_uri: str, ids: dict[str, str]) -> dict[str, str]:
    """Stage, for each ``name: store_id`` of ``ids``, the START and COMPLETE of a run of job ``<name>_job`` signed by
    ``pipe``'s key for that store id, never sealed; the run id of each name."""
    from prov_common.bundle.staged import signed_event
    from prov_common.bundle.transport import staged_event_key
    from prov_common.canonical_json import canonical_bytes

    runs = {}
    for name, store_id in ids.items():
        events = run_events(f"{name}_job", [], [], start=T0 + timedelta(hours=2))
        for item in events:
            raw_write(store_uri, staged_event_key(item), signed_event(canonical_bytes(item), pipe.key, store_id))
        runs[name] = events[0]["run"]["runId"]
    return runs


def _unsealed_said(runs: dict[str, str]) -> dict[str, str]:
    """What the unfinished check says of the runs of :func:`_stage_unsealed_runs` when the store's own run (``own``) is
    told from the copy of another store's (``copied``)."""
    return {runs["own"]: (f"run {runs['own']} staged its COMPLETE event at 2026-05-01T14:05:00Z and was never sealed: its "
                          "bundle was not stored (it may wait in the writer's spool ('tdprov flush' on that machine), or the "
                          "writer could not sign it)"),
            runs["copied"]: f"run {runs['copied']} staged events until 2026-05-01T14:05:00Z and never ended"}


@LOCAL_ONLY
def test_a_store_whose_identity_is_deleted_still_reads_its_own_staged_events_by_the_id_the_auditor_saw(store_uri: str) -> None:
    """A run of prod staged its START and COMPLETE, signed for prod, and was not sealed; beside it a run copied from
    dev's staging (signed for dev). With prod's identity deleted, the audit took prod's own events as another store's
    (the run "staged events ... and never ended" beside "the store's identity ... is gone"): it compares them with the id
    this auditor saw before, so prod's run still "was never sealed" and dev's copy still never ended; so it does when
    the identity object is damaged (copies were then taken as prod's own)."""
    from prov_common.audit.model import CHECK_UNFINISHED

    pipe = Pipeline(store_uri)
    dev = open_store(_dev_uri(store_uri))
    assert _audit(pipe.store).clean  # the auditor sees prod's identity
    ids = {"own": read_identity(pipe.store).store_id, "copied": ensure_identity(dev)[0].store_id}
    runs = _stage_unsealed_runs(pipe, store_uri, ids)
    raw_delete(store_uri, IDENTITY_KEY)
    # deleted, then damaged (no identity can be read: copies were taken as the store's own)
    for damaged, audits in ((False, (_audit(pipe.store), _audit(pipe.store, full=True))),
                            (True, (raw_write(store_uri, IDENTITY_KEY, b"{not json"), _audit(pipe.store))[1:])):
        for result in audits:
            found = [f for f in _errors(result, CHECK_INVENTORY) if f.object == IDENTITY_KEY]
            assert found and ("is gone" in found[0].what) != damaged, [f.what for f in found]
            said = {f.run_id: f.what for f in _errors(result, CHECK_UNFINISHED)}
            expected = _unsealed_said(runs)
            assert said[runs["own"]] == expected[runs["own"]], damaged
            assert said[runs["copied"]] == expected[runs["copied"]]
    assert raw_read(store_uri, IDENTITY_KEY) == b"{not json"  # the audit writes no identity


@LOCAL_ONLY
def test_accepting_a_deleted_store_identity_keeps_the_id_the_auditor_saw_for_the_store_s_own_staged_events(store_uri: str) -> None:
    """A person accepts prod's deleted identity (``--accept-checkpoint``): the auditor forgot the id it had seen, so the
    next audits took the store as one with none, and a run prod staged later, signed for prod, as another store's copy
    ("staged events ... and never ended"). The id stays remembered: prod's run "was never sealed", dev's copy still
    never ended, the deletion is no finding again, and the identity restored from a backup is taken as it was."""
    from prov_common.audit.model import CHECK_UNFINISHED

    pipe = Pipeline(store_uri)
    dev = open_store(_dev_uri(store_uri))
    assert _audit(pipe.store).clean  # the auditor sees prod's identity
    mine = raw_read(store_uri, IDENTITY_KEY)
    ids = {"own": read_identity(pipe.store).store_id, "copied": ensure_identity(dev)[0].store_id}
    raw_delete(store_uri, IDENTITY_KEY)
    accepted = _audit(pipe.store, accept_checkpoint="the identity was lost; restoring it later")
    assert IDENTITY_KEY in {f["object"] for f in accepted.resolution["closed"]}
    runs = _stage_unsealed_runs(pipe, store_uri, ids)
    for result in (_audit(pipe.store), _audit(pipe.store, full=True)):
        assert not [f for f in _errors(result, CHECK_INVENTORY) if f.object == IDENTITY_KEY]
        said = {f.run_id: f.what for f in _errors(result, CHECK_UNFINISHED)}
        assert said == _unsealed_said(runs)
    raw_write(store_uri, IDENTITY_KEY, mine)  # restored from a backup: taken as the identity it was
    assert not [f for f in _errors(_audit(pipe.store), CHECK_INVENTORY) if f.object == IDENTITY_KEY]
    raw_write(store_uri, IDENTITY_KEY, raw_read(dev.uri, IDENTITY_KEY))  # and replaced after that: found
    found = [f for f in _errors(_audit(pipe.store), CHECK_INVENTORY) if f.object == IDENTITY_KEY]
    assert found and "was replaced" in found[0].what, [f.what for f in found]


@LOCAL_ONLY
def test_an_identity_made_again_after_its_deletion_was_accepted_is_named_with_the_way_back(store_uri: str,
                                                                                          capsys: pytest.CaptureFixture) -> None:
    """A person accepts the deleted identity; the next writer finds none and creates one with a new random id. The audit
    said "was replaced" with the fix of accepting it once it holds the id it had, which a writer cannot give it: it names
    what happened and the way back (accepting the new id would make every earlier record another store's), and
    'tdprov store init --store-id' makes the identity again with the id remembered, refused while another is there. The
    deletion's own fix names that command, before any writer runs."""
    from prov_common.cli import main

    pipe = Pipeline(store_uri)
    assert _audit(pipe.store).clean
    was = read_identity(pipe.store).store_id
    raw_delete(store_uri, IDENTITY_KEY)
    [gone] = [f for f in _errors(_audit(pipe.store), CHECK_INVENTORY) if f.object == IDENTITY_KEY]
    assert gone.fix == (f"restore {IDENTITY_KEY} from a backup or replica of the store, or, with none, make it again with the id "
                        f"it had: 'tdprov store init {pipe.store.uri} --store-id {was}', before a writer finds none and creates one "
                        "with a new id; then audit with '--accept-checkpoint --reason TEXT'. Accepting the deletion alone ends this "
                        "finding, and this auditor's audits and 'tdprov verify' then judge records by the id it remembers, but "
                        "the next writer that finds no identity creates one with a new id, by which every earlier record reads "
                        "as another store's")
    _audit(pipe.store, accept_checkpoint="the identity was lost")
    new = ensure_identity(pipe.store)[0].store_id  # what the next writer does: it finds none
    assert new != was
    [found] = [f for f in _errors(_audit(pipe.store), CHECK_INVENTORY) if f.object == IDENTITY_KEY]
    assert found.what == (f"the store's identity is now {new}, not {was} as this auditor saw before: after its deletion was "
                          f"accepted, {IDENTITY_KEY} was made again with a new id (by a writer that found none, or 'tdprov store "
                          f"init') or put there from another store; this store's records name {was}")
    assert found.fix == ("do not accept it: every bundle and source record signed before would then read as another store's. "
                         f"Stop the store's writers (each keeps the id it read), put back the identity with id {was}: from a "
                         f"backup or replica, or with none, remove {IDENTITY_KEY} and run 'tdprov store init {pipe.store.uri} "
                         f"--store-id {was}'; start the writers again, then audit with '--accept-checkpoint --reason TEXT'. Runs "
                         "sealed under the new id meanwhile name it: 'tdprov verify' and full audits name each as another "
                         "store's ('other store: signed for store ...'), and no acceptance ends that (their bundles removed are "
                         "findings of their own: 'gone'), so note their run ids now ('tdprov verify' lists them), to tell them "
                         "from copies of another store's")
    capsys.readouterr()
    assert main(["store", "init", store_uri, "--store-id", was]) == 2  # the new one is there: never replaced
    assert f"{IDENTITY_KEY} already holds store id {new}, not {was}" in capsys.readouterr().err
    raw_delete(store_uri, IDENTITY_KEY)
    assert main(["store", "init", store_uri, "--store-id", was.upper()]) == 0
    assert f"store id: {was} (created, {IDENTITY_KEY})" in capsys.readouterr().out
    assert read_identity(pipe.store).store_id == was
    [rewritten] = [f for f in _errors(_audit(pipe.store), CHECK_INVENTORY) if f.object == IDENTITY_KEY]
    assert f"{IDENTITY_KEY} was rewritten (store id {was} kept, other bytes)" in rewritten.what
    assert _audit(pipe.store, accept_checkpoint="made again with the id it had").resolution["closed"]
    assert _audit(pipe.store).clean and _audit(pipe.store, full=True).clean


def test_writers_create_one_identity_with_a_conditional_create(store_uri: str) -> None:
    """Writers racing on a store without identity all get the one object that won the conditional create."""
    store = open_store(store_uri)
    found: list[str] = []
    threads = [threading.Thread(target=lambda: found.append(ensure_identity(open_store(store_uri))[0].store_id)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(found)) == 1 and read_identity(store).store_id == found[0]
    assert ensure_identity(store) == (read_identity(store), False)


def test_the_transport_signs_the_store_id_into_each_bundle_and_reads_it_once(tmp_path: Path) -> None:
    """A transport's bundles (Dagster, Airflow, tdprov store seal) name the store; the identity is read once per process."""
    uri = str(tmp_path / "store")
    transport = ProvenanceTransport(ProvenanceConfig(store=uri, strict=True))
    sealed = []
    for i in range(2):
        for event in run_events(f"step{i}", [], [dataset(f"/d/{i}", digest(str(i)))], start=T0 + timedelta(minutes=i)):
            result = transport.emit(event)
        sealed.append(result.run_id)
    identity = read_identity(open_store(uri))
    for run_id in sealed:
        manifest = raw_read(uri, layout.bundle_key(run_id, layout.MANIFEST_FILE))
        assert f'"storeId":"{identity.store_id}"'.encode() in manifest
    counting = CountingStore(tmp_path / "other")
    for i in range(3):
        seal(counting, run_events(f"step{i}", [], [dataset(f"/e/{i}", digest(str(i)))]))
    assert counting.gets[IDENTITY_KEY] == 1


def test_store_init_creates_the_identity_once(tmp_path: Path, s3_store_uri: str, capsys: pytest.CaptureFixture) -> None:
    from prov_common.cli import main
    from prov_common.cli.store import init_s3

    local = str(tmp_path / "store")
    assert main(["store", "init", local]) == 0
    made = read_identity(open_store(local))
    assert made is not None and f"store id: {made.store_id} (created" in capsys.readouterr().out
    assert main(["store", "init", local]) == 0 and read_identity(open_store(local)) == made
    first = init_s3(s3_store_uri)
    assert first.store_id and any("store id" in c for c in first.changed)
    again = init_s3(s3_store_uri)
    assert again.store_id == first.store_id and not any("store id" in c for c in again.changed)


def test_a_source_registered_now_names_the_store(store_uri: str) -> None:
    store = open_store(store_uri)
    stored = register_source(store, SourceRecord(name="s", digest=X, license="CC0-1.0", issuer="Acme", personal_data="none"),
                             default_signing_key())
    assert stored.record.store_id == read_identity(store).store_id
    assert replace(stored.record, store_id=None).to_json() != stored.record.to_json()


NOT_WRITE_ONCE = "If-None-Match: *"


def _not_write_once(result) -> list:
    return [f for f in _errors(result, CHECK_INVENTORY) if f.object == IDENTITY_KEY and NOT_WRITE_ONCE in f.what]


def test_a_store_whose_identity_was_made_on_a_server_ignoring_if_none_match_is_a_finding_until_store_init_checks_it(
        s3_server, fault_proxy: FaultProxy, tmp_path: Path) -> None:  # noqa: F811
    """Its first writer marked the identity "writeOnce": "ignored": every audit (incremental, --full, read-only, one that
    accepts the log) says that the store's objects are not write-once, naming the store, its endpoint and the fix, until
    'tdprov store init' finds the server honouring the condition; not before, even once the server is fixed."""
    from prov_common.cli import main

    fault_proxy.drop_headers = {"if-none-match"}
    store_uri = f"s3://{s3_server.create_bucket()}/p"
    pipe = Pipeline(store_uri)
    marked = read_identity(pipe.store)
    assert marked is not None and marked.write_once == "ignored"
    audits = (_audit(pipe.store), _audit(pipe.store, full=True), _audit(pipe.store, read_only=True, report_dir=tmp_path / "r"),
              _audit(pipe.store, accept_checkpoint="the store was moved on purpose"))
    for result in audits:
        found = _not_write_once(result)
        assert len(found) == 1 and not result.clean, [f.what for f in result.errors]
        assert fault_proxy.endpoint in found[0].what and "overwritten" in found[0].what, found[0].what
        assert f"tdprov store init {store_uri}" in found[0].fix and "If-None-Match: * on PutObject" in found[0].fix
    assert main(["store", "init", store_uri]) == 1  # the server still ignores it: the probe fails, nothing is recorded
    assert _not_write_once(_audit(pipe.store))

    fault_proxy.drop_headers = set()  # the server is fixed: nothing has checked it yet
    assert _not_write_once(_audit(pipe.store))
    assert main(["store", "init", store_uri]) in (0, 1)  # 1: versioning and Object Lock are off
    assert main(["store", "init", store_uri]) in (0, 1)  # repeatable
    assert read_identity(pipe.store) == marked  # the identity is written once: what was found then stays on record
    for result in (_audit(pipe.store), _audit(pipe.store, full=True)):
        assert result.clean, [f.what for f in result.errors]


def test_a_record_that_the_store_is_write_once_counts_only_for_the_identity_it_names(tmp_path: Path, capsys) -> None:
    """A marked identity with a record under its key that names another one: the finding stays, and 'tdprov store
    init' says which object to remove; once it is gone, init records the check and the finding ends."""
    from prov_common.cli import main
    from prov_common.store.identity import StoreIdentity
    from prov_common.store.write_once import verified_key

    uri = str(tmp_path / "store")
    store = open_store(uri)
    store.put(IDENTITY_KEY, replace(StoreIdentity.new(), write_once="ignored").to_json())  # as copied from a marked store
    key = verified_key(read_identity(store))
    raw_write(uri, key, b'{"format":"https://tdprov.dev/store-write-once-verified/v1","storeId":"another"}')
    assert _not_write_once(_audit(store))
    assert main(["store", "init", uri]) != 0 and key in capsys.readouterr().err
    raw_delete(uri, key)
    assert main(["store", "init", uri]) == 0 and "write-once verified since" in capsys.readouterr().out
    assert not _not_write_once(_audit(store))


@LOCAL_ONLY
def test_verify_in_a_process_that_read_the_identity_before_reads_it_as_it_is_now(store_uri: str, capsys) -> None:
    """A long-running process (a Dagster daemon, a sensor) wrote to the store, then verifies it after its identity
    object was damaged, then replaced with another store's: verify (and the audit) judge by the object as it is now,
    as a fresh 'tdprov verify' does, not by the copy read before."""
    from prov_common.cli import main

    pipe = Pipeline(store_uri)
    assert main(["verify", "--store", store_uri]) == 0
    mine = raw_read(store_uri, IDENTITY_KEY)
    raw_write(store_uri, IDENTITY_KEY, mine[: len(mine) // 2])  # truncated
    capsys.readouterr()
    assert main(["verify", "--store", store_uri]) == 1
    assert "this store's identity cannot be read" in capsys.readouterr().out
    dev = open_store(_dev_uri(store_uri))
    ensure_identity(dev)
    raw_write(store_uri, IDENTITY_KEY, raw_read(dev.uri, IDENTITY_KEY))
    reports = {r.run_id: r for r in verify_runs(pipe.store, trust_from_settings(Settings.from_env(store=store_uri)), workers=1)}
    assert {run for run, r in reports.items() if any(f.problem == OTHER_STORE for f in r.findings)} == {pipe.prepare, pipe.train}
    assert {f.run_id for f in _errors(_audit(pipe.store, full=True), CHECK_SIGNATURES) if f.what.startswith(OTHER_STORE)} == {pipe.prepare, pipe.train}
    raw_write(store_uri, IDENTITY_KEY, mine)  # restored from a backup
    assert main(["verify", "--store", store_uri]) == 0



def _replace_identity(store_uri: str) -> str:
    """Copy another store's (dev's) identity over ``store_uri``'s; dev's id."""
    dev = open_store(_dev_uri(store_uri))
    dev_id = ensure_identity(dev)[0].store_id
    raw_write(store_uri, IDENTITY_KEY, raw_read(dev.uri, IDENTITY_KEY))
    return dev_id


def _rows_bundle(store, tmp_path: Path, *, row_set: bool = False) -> tuple[str, str, list[str]]:
    """Seal into ``store`` a run that wrote /data/customers.parquet with its row digests attached (``row_set``: as
    its row set, whose root the events sign, as pipelines record it); its run id, the version's digest, and the
    arguments of 'tdprov contains' that ask for a row of it."""
    import json

    import pandas as pd

    from prov_common.hashing import hash_dataframe, write_row_digests
    from prov_common.lineage.facet_names import CONTENT_HASH
    from prov_common.rowset import row_set_of

    rows = hash_dataframe(pd.DataFrame({"customer_id": [1041, 1042], "email": ["a@x.org", "b@x.org"]}), granularity="row")
    output = dataset("/data/customers.parquet", rows.digest)
    if row_set:
        built = row_set_of(rows, "file", "/data/customers.parquet")
        output["facets"][CONTENT_HASH] = {"_producer": "tests", "_schemaURL": "https://example.invalid/ContentHash.json",
                                          "digest": rows.digest, "rowDigestsFile": built.path, "rowsRoot": built.root}
        attached = {built.path: bytes(built.data)}
    else:
        attached = {layout.rows_path("file", "/data/customers.parquet"): write_row_digests(rows, tmp_path / "rows.parquet").read_bytes()}
    bundle = build_bundle(run_events("load_customers", [], [output]), attached, default_signing_key(), store_id=writer_store_id(store))
    deliver_bundle(store, bundle)
    return bundle.run_id, rows.digest, ["contains", rows.digest, "--record", json.dumps({"customer_id": 1042, "email": "b@x.org"}),
                                        "--store", store.uri]


@LOCAL_ONLY
@pytest.mark.parametrize("row_set", [False, True], ids=["sidecar", "row set"])
def test_contains_takes_no_row_digests_from_a_bundle_copied_from_another_store(store_uri: str, row_set: bool, tmp_path: Path,
                                                                              capsys) -> None:
    """A dev bundle that recorded the row digests of a version (a row set, or a sidecar attached by hand), copied with
    its index entry into prod (one writer key for both): contains gives no answer from it (exit 2), as verify fails
    it, not 'contained' by rows prod never recorded."""
    from prov_common.cli import main

    prod_id = writer_store_id(open_store(store_uri))
    dev = open_store(_dev_uri(store_uri))
    made, version, contains = _rows_bundle(dev, tmp_path, row_set=row_set)
    assert main([*contains[:-1], dev.uri]) == 0
    assert ("attached by hand" in capsys.readouterr().out) is not row_set
    _copy(dev.uri, store_uri, [*dev.list(layout.bundle_prefix(made)), *(k for k in dev.list("index/") if made in k)])
    capsys.readouterr()
    assert main([*contains[:-1], store_uri]) == 2
    out, err = capsys.readouterr()
    assert out == "" and f"no answer for version {version}: bundle {made} is signed for store {writer_store_id(dev)}, not this store {prod_id}" in err, err


@LOCAL_ONLY
def test_show_in_a_process_that_read_the_identity_before_reads_it_as_it_is_now(store_uri: str, capsys) -> None:
    """'tdprov show' through main() in a process that wrote the store (a daemon, a library caller of the CLI): after
    _tdprov/store.json was truncated, then replaced with another store's, the run fails as in a new process, not
    verified by the copy read before; restored, it verifies again."""
    from prov_common.cli import main

    pipe = Pipeline(store_uri)
    prod_id, mine = writer_store_id(pipe.store), raw_read(store_uri, IDENTITY_KEY)
    raw_write(store_uri, IDENTITY_KEY, mine[: len(mine) // 2])  # truncated
    capsys.readouterr()
    assert main(["show", pipe.train, "--store", store_uri]) == 1
    assert "this store's identity cannot be read" in capsys.readouterr().out
    dev_id = _replace_identity(store_uri)
    assert main(["show", pipe.train, "--store", store_uri]) == 1
    assert f"{OTHER_STORE}: signed for store {prod_id}, not this store {dev_id}" in capsys.readouterr().out
    raw_write(store_uri, IDENTITY_KEY, mine)  # restored from a backup
    assert main(["show", pipe.train, "--store", store_uri]) == 0



@LOCAL_ONLY
def test_lineage_record_and_contains_in_a_process_that_read_the_identity_before_read_it_as_it_is_now(
        store_uri: str, tmp_path: Path, capsys) -> None:
    """lineage, record and contains through main() in a process that wrote the store, after its _tdprov/store.json
    was replaced with another store's: the store's own source record, and the bundle of row digests, signed for the id
    the process read before, are left out as another store's (as in a new process), not taken by the copy read before.
    The runs of /d/y name no store (sealed before stores had an identity), so that record and lineage are still made."""
    from prov_common.cli import main

    store, key = open_store(store_uri), default_signing_key()
    register_source(store, SourceRecord(name="vendor-x", digest=X, license="CC0-1.0", issuer="Acme", location="/d/x",
                                        personal_data="none"), key)
    prod_id = writer_store_id(store)
    for events in (run_events("prepare", [dataset("/d/x", X)], [dataset("/d/y", digest("y"))]),
                   run_events("train_model", [dataset("/d/y", digest("y"))], [], start=T0 + timedelta(hours=1), job_type="TRAINING")):
        deliver_bundle(store, build_bundle(events, None, key))
    _, rows, contains = _rows_bundle(store, tmp_path)
    train = seal(store, run_events("train_on_customers", [dataset("/data/customers.parquet", rows)], [],
                                   start=T0 + timedelta(hours=2), job_type="TRAINING"))
    assert main(contains) == 0
    assert train in capsys.readouterr().out
    assert main(["lineage", "/d/y", "--store", store_uri]) == 0
    assert main(["record", "/d/y", "--no-checksum", "--store", store_uri]) == 0
    assert '"vendor-x"' in capsys.readouterr().out
    foreign = f"signed for store {prod_id}, not this store {_replace_identity(store_uri)}"
    left_out = f"left out source record '{source_key('vendor-x', X)}' is {foreign}"
    assert main(["lineage", "/d/y", "--store", store_uri]) == 1
    out, err = capsys.readouterr()
    assert left_out in err and "vendor-x" not in out, err
    assert main(["record", "/d/y", "--no-checksum", "--store", store_uri]) == 1
    out, err = capsys.readouterr()
    assert left_out in err and "vendor-x" not in out, err
    assert main(contains) == 2  # no answer: its row digests are in a bundle of another store now
    out, err = capsys.readouterr()
    assert f"{OTHER_STORE}: {foreign}" in err and out == "", err


@LOCAL_ONLY
def test_store_repair_in_a_process_that_read_the_identity_before_reads_it_as_it_is_now(store_uri: str, capsys) -> None:
    """'tdprov store repair' through main() in a process that wrote the store, after its _tdprov/store.json was
    replaced with another store's: the unindexed bundle, signed for the id read before, is another store's (as in a
    new process) and left unindexed, not indexed by the copy read before."""
    from prov_common.cli import main

    pipe = Pipeline(store_uri)
    prod_id = writer_store_id(pipe.store)
    (entry,) = [k for k in pipe.store.list("index/") if layout.run_id_of_index_key(k) == pipe.train]
    raw_delete(store_uri, entry)  # its writer stopped before the index entry
    foreign = f"signed for store {prod_id}, not this store {_replace_identity(store_uri)}"
    capsys.readouterr()
    assert main(["store", "repair", store_uri]) == 1
    out = capsys.readouterr().out
    assert f"NOT VERIFIED  {pipe.train}  (not indexed)" in out and f"{OTHER_STORE}: {foreign}" in out, out
    assert not [k for k in pipe.store.list("index/") if layout.run_id_of_index_key(k) == pipe.train]


def test_a_writer_signs_with_the_identity_it_opened_the_store_with_whatever_a_verb_of_its_process_read_since(
        store_uri: str, capsys) -> None:
    """A process that writes and runs verbs through main() (a worker whose code calls one, the Airflow API server):
    after _tdprov/store.json was replaced with another store's, the verb judges by the object as it is now, and the
    writer's next bundle still names the identity it opened the store with, as a writer that ran no verb signs; the
    replaced identity is not taken up by chance, and the bundle is then another store's to every reader."""
    from prov_common.cli import main

    transport = ProvenanceTransport(ProvenanceConfig(store=store_uri))
    sealed, prod_id = [], ""  # prod_id: the identity the first seal bound
    for i, when in enumerate((T0, T0 + timedelta(hours=1))):
        if i:
            dev_id = _replace_identity(store_uri)
            capsys.readouterr()
            assert main(["verify", "--store", store_uri]) == 1  # the verb reads the identity afresh: dev's now
            assert f"{OTHER_STORE}: signed for store {prod_id}, not this store {dev_id}" in capsys.readouterr().out
        for event in run_events(f"step{i}", [], [dataset(f"/d/{i}", digest(str(i)))], start=when):
            result = transport.emit(event)
        sealed.append(result.run_id)
        if not i:
            prod_id = read_identity(open_store(store_uri)).store_id
    manifest = raw_read(store_uri, layout.bundle_key(sealed[1], layout.MANIFEST_FILE))
    assert f'"storeId":"{prod_id}"'.encode() in manifest and dev_id.encode() not in manifest
    capsys.readouterr()
    assert main(["verify", sealed[1], "--store", store_uri]) == 1
    assert f"{OTHER_STORE}: signed for store {prod_id}, not this store {dev_id}" in capsys.readouterr().out


@LOCAL_ONLY
def test_after_a_deleted_identity_is_accepted_verify_and_the_full_audit_judge_records_by_the_id_remembered(
        store_uri: str, capsys: pytest.CaptureFixture) -> None:
    """A person accepts prod's deleted identity: the full audit and 'tdprov verify' took every bundle and the source
    record signed for prod as another store's (this store has no identity) until it was restored. They judge by the id
    the auditor remembers: prod's records are its own, a bundle and a source record copied from dev are still dev's."""
    from prov_common.cli import main

    pipe = Pipeline(store_uri)
    dev = open_store(_dev_uri(store_uri))
    assert _audit(pipe.store).clean
    was = read_identity(pipe.store).store_id
    made = seal(dev, run_events("make_x_in_dev", [dataset(pipe.raw_name, pipe.raw)], [dataset("/d/x", X)], start=T0 + timedelta(hours=1)))
    register_source(dev, SourceRecord(name="whatever", digest=X, license="CC0-1.0", issuer="dev", location="/d/x", personal_data="none"),
                    default_signing_key())
    raw_delete(store_uri, IDENTITY_KEY)
    _audit(pipe.store, accept_checkpoint="the identity was lost; restoring it later")
    assert _audit(pipe.store, full=True).clean
    capsys.readouterr()
    assert main(["verify", "--store", store_uri]) == 0, capsys.readouterr()
    capsys.readouterr()
    _copy(dev.uri, store_uri, [*dev.list(layout.bundle_prefix(made)), *(k for k in dev.list("index/") if made in k),
                               source_key("whatever", X)])
    full = _audit(pipe.store, full=True)
    [copied] = _other_store(full, made)
    assert copied.what == (f"{OTHER_STORE}: signed for store {writer_store_id(dev)}, not this store {was} (the id its "
                           f"auditor saw; {IDENTITY_KEY} is gone or cannot be read): copied from another store?")
    assert {f.run_id for f in full.errors if f.check == CHECK_SIGNATURES} == {made}
    assert [f.object for f in _errors(full, CHECK_SOURCES)] == [source_key("whatever", X)]
    assert main(["verify", "--store", store_uri]) == 1
    assert made in capsys.readouterr().out


def test_a_resolution_copied_from_another_store_is_named_as_closing_nothing(store_uri: str) -> None:
    """A person's signed resolution of dev's log (--accept-checkpoint, its storeId dev's), copied into prod, where the
    same auditor key signs: it verified and was taken into prod's inventory without a word, though it closes nothing
    there. It is an inventory finding naming both stores, with the fix to remove it, on every audit until it is."""
    from prov_common.audit.resolve import FIX_OTHER_STORE, RESOLUTIONS_PREFIX

    pipe = Pipeline(store_uri)
    dev = Pipeline(_dev_uri(store_uri))
    assert _audit(pipe.store).clean and _audit(dev.store).clean
    accepted = _audit(dev.store, accept_checkpoint="dev's log as it is now")
    key = accepted.resolution["key"]
    dev_id, prod_id = (read_identity(p.store).store_id for p in (dev, pipe))
    assert key.startswith(RESOLUTIONS_PREFIX) and accepted.resolution["storeId"] == dev_id != prod_id
    _copy(dev.store.uri, pipe.store.uri, [key])
    for full in (False, False, True):
        found = _audit(pipe.store, full=full)
        named = [f for f in found.check(CHECK_INVENTORY).errors if f.object == key]
        assert [f.object for f in found.errors] == [key] and named[0].fix == FIX_OTHER_STORE, (
            full, [f"{f.object}: {f.what}" for f in found.errors])
        assert (f"resolution '{key}' is a resolution of another store ({dev.store.uri}, store id {dev_id}), not of this store "
                f"({pipe.store.uri}, store id {prod_id}): it was copied from that store and closes nothing here") in named[0].what
    raw_delete(pipe.store.uri, key)
    assert _audit(pipe.store).clean
