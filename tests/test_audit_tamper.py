"""Tamper matrix on a local store and on S3 (moto server): every change is found, naming the object.

A test runs on S3 too when what finds the change depends on the store (the rule of tests/test_audit_attacks.py): an
object already listed or logged rewritten at its key, data hashed from the store, an index entry keyed behind an
audit's listing; a deletion, or objects under keys of their own read for the first time, run on the local folder only."""
from __future__ import annotations

import re
import shutil
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest

from prov_common.audit import run_audit
from prov_common.audit.model import CHECK_INVENTORY, CHECK_LOG, CHECK_PROV, CHECK_REHASH, CHECK_SIGNATURES, NOTE
from prov_common.bundle import build_bundle, layout
from prov_common.bundle.storage import deliver_bundle
from prov_common.bundle.events import parse_events_jsonl
from prov_common.config import Settings
from prov_common.audit.rehash import default_hasher
from prov_common.signing import Envelope, SigningKey, default_signing_key, sign_envelope
from prov_common.store.local import LocalStore
from prov_common.tlog.log import checkpoint_key
from prov_common.tlog.model import CHECKPOINT_PAYLOAD_TYPE, Checkpoint

from test_audit_support import T0, Pipeline, dataset, digest, flip_byte, raw_delete, raw_read, raw_write, run_events, seal, audit as _audit


LOCAL_ONLY = pytest.mark.parametrize("store_uri", ["local"], indirect=True)


@pytest.fixture()
def pipe(store_uri: str) -> Pipeline:
    p = Pipeline(store_uri)
    assert _audit(p).clean
    return p


def _found(result, check: str, key: str) -> list:
    return [f for f in result.check(check).errors if f.object == key]


def _flip_signature(uri: str, key: str) -> None:
    data = raw_read(uri, key)
    at = data.index(b'"sig":"') + 12
    raw_write(uri, key, data[:at] + (b"B" if data[at:at + 1] != b"B" else b"C") + data[at + 1:])


def _resign_with_untrusted_key(uri: str, run_id: str) -> None:
    prefix = layout.bundle_prefix(run_id)
    events = parse_events_jsonl(raw_read(uri, prefix + layout.EVENTS_FILE))
    manifest = raw_read(uri, prefix + layout.MANIFEST_FILE)
    sealed = datetime.fromisoformat(re.search(rb'"sealedAt":"([^"]+)"', manifest).group(1).decode().replace("Z", "+00:00"))
    named = re.search(rb'"storeId":"([^"]+)"', manifest)
    forged = build_bundle(events, None, SigningKey.generate(), sealed_at=sealed, store_id=named.group(1).decode() if named else None)
    assert forged.manifest_bytes == manifest
    raw_write(uri, prefix + layout.STATEMENT_FILE, forged.statement_bytes)


def _delete_bundle(pipe: Pipeline, run_id: str) -> None:
    for key in list(pipe.store.list(layout.bundle_prefix(run_id))) + [k for k in pipe.store.list("index/") if run_id in k]:
        raw_delete(pipe.store.uri, key)


def test_tamper_matrix(pipe: Pipeline) -> None:
    """Each victim bundle is changed in one way; one full audit names every changed object."""
    v = [seal(pipe.store, run_events(f"prepare_{i}", [dataset(pipe.raw_name, pipe.raw)], [dataset(f"/data/part{i}.parquet", digest(f"part{i}"))],
                                     start=T0 + timedelta(minutes=i))) for i in range(6)]
    assert _audit(pipe).clean
    uri = pipe.store.uri
    key = lambda i, name: layout.bundle_key(v[i], name)  # noqa: E731
    flip_byte(uri, key(0, layout.EVENTS_FILE))
    flip_byte(uri, key(1, layout.PROV_FILE))
    flip_byte(uri, key(2, layout.MANIFEST_FILE))
    _flip_signature(uri, key(3, layout.STATEMENT_FILE))
    _resign_with_untrusted_key(uri, v[4])
    _delete_bundle(pipe, v[5])
    result = _audit(pipe, full=True)
    shown = [f"{f.check} {f.object} {f.what}" for f in result.errors]
    assert result.exit_code == 1
    assert _found(result, CHECK_SIGNATURES, key(0, layout.EVENTS_FILE)), shown
    assert _found(result, CHECK_PROV, key(1, layout.PROV_FILE)), shown
    assert _found(result, CHECK_SIGNATURES, key(2, layout.MANIFEST_FILE)), shown
    assert _found(result, CHECK_LOG, key(2, layout.MANIFEST_FILE)), shown  # the logged bundle changed
    assert any("bad signature" in f.what for f in _found(result, CHECK_SIGNATURES, key(3, layout.STATEMENT_FILE))), shown
    assert _found(result, CHECK_LOG, key(3, layout.STATEMENT_FILE)), shown
    assert any("untrusted key" in f.what for f in _found(result, CHECK_SIGNATURES, key(4, layout.STATEMENT_FILE))), shown
    assert any("gone" in f.what for f in _found(result, CHECK_LOG, layout.bundle_prefix(v[5]))), shown
    # untouched bundles have no findings
    assert not [f for f in result.errors if f.run_id in (pipe.prepare, pipe.train)]
    # they were clean when logged: only --full re-reads old bundles; the log itself is intact
    assert _audit(pipe).check(CHECK_LOG).errors == []


def test_rewritten_checkpoint(pipe: Pipeline) -> None:
    seal(pipe.store, run_events("train_model", [dataset("/data/features.parquet", pipe.features)], [], start=T0 + timedelta(hours=5), job_type="TRAINING"))
    assert _audit(pipe).clean
    first, second = checkpoint_key(2), checkpoint_key(3)
    cp = Checkpoint.from_payload(Envelope.from_json(raw_read(pipe.store.uri, first)).payload)
    raw_write(pipe.store.uri, first, sign_envelope(replace(cp, time="2020-01-01T00:00:00.000000Z").payload(), CHECKPOINT_PAYLOAD_TYPE,
                                                    [default_signing_key()]).to_json())
    # an incremental audit checks the chain from the checkpoint its state is bound to (3, unchanged) on;
    # --full checks it from the first checkpoint
    assert _audit(pipe).check(CHECK_LOG).errors == []
    result = _audit(pipe, full=True)
    found = _found(result, CHECK_LOG, second)
    assert found and "chain is broken" in found[0].what
    # and a checkpoint whose root was changed
    raw_write(pipe.store.uri, first, sign_envelope(replace(cp, root="00" * 32).payload(), CHECKPOINT_PAYLOAD_TYPE, [default_signing_key()]).to_json())
    assert _found(_audit(pipe, full=True), CHECK_LOG, first)


def test_changed_data_found_by_rehash(store_uri: str, tmp_path: Path) -> None:
    frame = pd.DataFrame({"id": [1, 2, 3], "amount": [9.5, 3.0, 7.25]})
    if store_uri.startswith("s3://"):
        import boto3

        bucket = store_uri[len("s3://"):].split("/")[0]
        location = f"s3://{bucket}/data/features.parquet"
        frame.to_parquet(tmp_path / "f.parquet")
        boto3.client("s3").upload_file(str(tmp_path / "f.parquet"), bucket, "data/features.parquet")
        namespace, name = f"s3://{bucket}", "data/features.parquet"
    else:
        location = str(tmp_path / "features.parquet")
        frame.to_parquet(location)
        namespace, name = "file", location
    version = default_hasher()(location)
    pipe = Pipeline(store_uri)
    seal(pipe.store, run_events("prepare_real", [dataset(pipe.raw_name, pipe.raw)], [dataset(name, version, namespace=namespace)]))
    assert not _found(_audit(pipe, rehash=True), CHECK_REHASH, location)
    frame.loc[1, "amount"] = 3.5
    if store_uri.startswith("s3://"):
        frame.to_parquet(tmp_path / "f.parquet")
        boto3.client("s3").upload_file(str(tmp_path / "f.parquet"), bucket, "data/features.parquet")
    else:
        frame.to_parquet(location)
    result = _audit(pipe, rehash=True)
    found = _found(result, CHECK_REHASH, location)
    assert found and version in found[0].what and result.exit_code == 1


class _DeletingOnRead(LocalStore):
    """The real local store, where the object at ``key`` is deleted the first time it is read, after it was listed (a
    deletion racing the audit, or made by an attacker during it)."""

    def __init__(self, root: str, key: str) -> None:
        super().__init__(Path(root), fsync=False)
        self.doomed: str | None = key

    def get(self, key: str, limit: int | None = None) -> bytes:
        if key == self.doomed:
            self.doomed = None
            raw_delete(str(self.root), key)
        return super().get(key, limit)


@LOCAL_ONLY
def test_a_leaf_batch_deleted_after_the_listing_is_named_and_the_walk_goes_on(pipe: Pipeline) -> None:
    """A leaf batch listed by 'audit --full' and deleted before it is read stopped the walk over the log with the store's
    error ("no object ..."), named by 'log/leaves/' and checking none of the batches after it. It is named by its key,
    as a missing batch is, and the batches after it are still hashed and compared with their bundles."""
    for hours in (6, 7):
        seal(pipe.store, run_events("prepare_more", [dataset(pipe.raw_name, pipe.raw)], [dataset(f"/data/more-{hours}.parquet", digest(f"m{hours}"))],
                                    start=T0 + timedelta(hours=hours)))
        assert _audit(pipe).clean
    assert sorted(pipe.store.list("log/leaves/")) == [f"log/leaves/{n:012d}.json" for n in (0, 2, 3)]
    gone = "log/leaves/000000000002.json"
    result = _audit(_DeletingOnRead(pipe.store.uri, gone), full=True)
    errors = result.check(CHECK_LOG).errors
    named = [f for f in errors if f.object == gone]
    assert named and f"'{gone}'" in named[0].what and "deleted" in named[0].what and "restore" in (named[0].fix or ""), [(f.object, f.what) for f in errors]
    assert not [f for f in errors if f.object == "log/leaves/"], [(f.object, f.what) for f in errors]  # the walk did not stop there
    # checkpoint 3 (over the lost leaf) cannot be rebuilt; the batch after it is hashed from its frontier to checkpoint 4
    assert any(f.object == checkpoint_key(3) and "could not be checked" in f.what for f in errors), [(f.object, f.what) for f in errors]
    assert result.bundles_logged == 1 and result.checkpoint.checkpoint.size == 5  # only the run of the lost batch, again


@LOCAL_ONLY
def test_deleted_leaf_batch_is_found(pipe: Pipeline) -> None:
    seal(pipe.store, run_events("train_model", [dataset("/data/features.parquet", pipe.features)], [], start=T0 + timedelta(hours=6), job_type="TRAINING"))
    assert _audit(pipe).clean
    raw_delete(pipe.store.uri, "log/leaves/000000000000.json")
    # an incremental audit starts from the signed state of the last audit and reads only what is new;
    # --full re-reads the whole log
    assert _audit(pipe).check(CHECK_LOG).errors == []
    result = _audit(pipe, full=True)
    assert any("missing" in f.what or "deleted" in f.what for f in result.check(CHECK_LOG).errors), [f.what for f in result.errors]
    # the bundles whose leaves were deleted are logged again (each note says why); the damage stays a finding in every later full audit
    assert result.bundles_logged == 2 and result.checkpoint.checkpoint.size == 5
    again_logged = [f for f in result.check(CHECK_LOG).findings if "is logged again" in f.what]
    assert len(again_logged) == 2 and all("leaf batch that cannot be read" in f.what for f in again_logged)
    again = _audit(pipe, full=True)
    assert again.bundles_logged == 0 and any("missing" in f.what for f in again.check(CHECK_LOG).errors)


@LOCAL_ONLY
def test_damaged_index_entry_is_a_finding_and_its_bundle_is_still_examined(pipe: Pipeline) -> None:
    """An index entry that is not a bundle summary does not stop the audit: it is named, and the bundle
    (found by the run id in the entry's key) is verified, logged and described from its signed manifest."""
    late = seal(pipe.store, run_events("prepare_late", [dataset(pipe.raw_name, pipe.raw)], [dataset("/data/late.parquet", digest("late"))],
                                       start=T0 + timedelta(hours=2)))
    entry = next(k for k in pipe.store.list(layout.INDEX + "/") if layout.run_id_of_index_key(k) == late)
    raw_write(pipe.store.uri, entry, b"\x00 not a summary")
    result = _audit(pipe)  # incremental: the new entry is read for the first time
    found = _found(result, CHECK_SIGNATURES, entry)
    assert [f.run_id for f in found] == [late] and "is not a bundle summary" in found[0].what and "restore the index entry" in found[0].fix
    assert not [f for f in result.errors if f.object != entry], [f.what for f in result.errors]
    assert result.bundles_examined == 1 and result.bundles_logged == 1
    record = result.index.runs[late]
    assert (record.job_name, record.sealed_at[:4], [d.name for d in record.outputs]) == ("prepare_late", "2026", ["/data/late.parquet"])
    again = _audit(pipe, full=True)  # and the full re-audit names it again, with the log intact
    assert _found(again, CHECK_SIGNATURES, entry) and again.check(CHECK_LOG).errors == []


def test_an_index_entry_deleted_while_the_audit_lists_is_a_finding(tmp_path: Path) -> None:
    """The index is listed, then an entry is gone when the audit reads it (deleted meanwhile): the audit
    names it and still examines and logs its bundle, instead of stopping."""
    from prov_common.store.local import LocalStore

    pipe = Pipeline(str(tmp_path / "store"))
    late = seal(pipe.store, run_events("prepare_late", [dataset(pipe.raw_name, pipe.raw)], [], start=T0 + timedelta(hours=2)))
    entry = next(k for k in pipe.store.list(layout.INDEX + "/") if layout.run_id_of_index_key(k) == late)

    class DeletingStore(LocalStore):
        """Deletes the entry right after a listing of the index shows it (as a concurrent writer would)."""

        def list_info(self, prefix: str = "", *, start_after: str | None = None, tags_for=None):
            infos = list(super().list_info(prefix, start_after=start_after, tags_for=tags_for))
            if prefix == layout.INDEX + "/" and entry in [i.key for i in infos]:
                raw_delete(self.uri, entry)
            return iter(infos)

    result = run_audit(DeletingStore(tmp_path / "store"), Settings.from_env(store=str(tmp_path / "store")), progress=False)
    found = _found(result, CHECK_SIGNATURES, entry)
    assert [f.run_id for f in found] == [late] and "restore the index entry" in found[0].fix
    assert late in result.index.runs and result.bundles_logged == 3


@LOCAL_ONLY
def test_a_run_the_audit_found_forged_is_not_taken_from_its_catalog(pipe: Pipeline, capsys: pytest.CaptureFixture) -> None:
    """An audit catalogues every run it examined, findings and all. A bundle signed by a key nobody trusts is
    found by the audit; its catalog record must not then stand for it in 'tdprov record' or 'contains' (they
    take catalog records as verified), as it does not before the audit."""
    from prov_common.cli import main

    assert _audit(pipe).clean
    forged = seal(pipe.store, run_events("train_model", [dataset("/data/features.parquet", pipe.features)],
                                         [dataset("/models/evil.pkl", digest("evil"))], start=T0 + timedelta(hours=2),
                                         job_type="TRAINING"), SigningKey.generate())
    found = _audit(pipe)
    assert [f for f in found.check(CHECK_SIGNATURES).errors if "untrusted key" in f.what and f.run_id == forged]
    assert main(["record", "/models/evil.pkl", "--store", pipe.store.uri]) == 2
    out, err = capsys.readouterr()
    assert forged not in out and f"left out run {forged}: its bundle does not verify" in err, (out, err)
    # contains reads the version's row set from the bundle of the run that wrote it, whose signature is checked there
    assert main(["contains", digest("evil"), "--record", '{"a": 1}', "--store", pipe.store.uri]) in (1, 2)
    out, err = capsys.readouterr()
    assert out == "" and "untrusted key" in err, (out, err)
    assert main(["record", "/data/features.parquet", "--store", pipe.store.uri]) == 1  # written without the forged run: a finding
    out, err = capsys.readouterr()
    assert pipe.prepare in out and forged not in out and f"left out run {forged}" in err, err


@LOCAL_ONLY
def test_a_catalogued_run_is_judged_by_the_keys_trusted_now(pipe: Pipeline, tmp_path: Path, monkeypatch, capsys) -> None:
    """A run audited before its writer's key was trusted: once the key is trusted it is provenance again (it stayed
    left out, quoting the old finding); a run whose signer is no longer trusted is left out (its record stood)."""
    from prov_common.cli import main
    from prov_common.signing import write_keypair

    other = SigningKey.generate()
    late = seal(pipe.store, run_events("train_late", [dataset("/data/features.parquet", pipe.features)], [dataset("/models/late.pkl", digest("late"))],
                                       start=T0 + timedelta(hours=2), job_type="TRAINING"), other)
    assert not _audit(pipe).clean  # untrusted key: catalogued with its finding
    keys = tmp_path / "trusted"
    keys.mkdir()
    write_keypair(keys / "other.key", other)
    (keys / "own.pub").write_bytes(default_signing_key().public.to_pem())
    monkeypatch.setenv("TDPROV_TRUSTED_KEYS", str(keys))
    assert main(["record", "/models/late.pkl", "--store", pipe.store.uri]) == 0
    assert late in capsys.readouterr().out
    # the pipeline's own key revoked (the catalog still signed by the auditor): its catalogued runs are read again
    from prov_common.audit.recorded import RecordedRuns
    from prov_common.signing import TrustStore

    recorded = RecordedRuns.of(pipe.store, TrustStore.of([other.public]), audit_trust=TrustStore.of([default_signing_key().public]))
    assert {pipe.prepare, late} <= set(recorded.unread)  # both read again: one signer revoked, one found untrusted then
    recorded.read([pipe.prepare, late])
    assert "untrusted key" in recorded.left_out[pipe.prepare] and late in recorded.runs and late not in recorded.left_out


def test_an_index_entry_behind_an_earlier_audits_listing_stays_a_finding_of_full_audits(pipe: Pipeline) -> None:
    """A validly signed bundle whose index entry is keyed an hour before the last audit listed the index (copied in from
    another store that the same key signs, or back-dated): no writer keys an entry behind an audit's listing, and the
    incremental audit names it. '--full' logged it and was clean, and so was every audit after it. It stays a finding
    of every audit, full or not, until a person accepts it ('--full --accept-checkpoint', which logs it)."""
    hour_ago = datetime.now(timezone.utc) - timedelta(hours=1)
    planted = build_bundle(run_events("make_x_elsewhere", [dataset(pipe.raw_name, pipe.raw)], [dataset("/data/x.parquet", digest("x"))],
                                      start=T0 + timedelta(hours=1)), None, pipe.key, sealed_at=hour_ago)
    entry = deliver_bundle(pipe.store, planted, now=hour_ago).index_key
    for result in (_audit(pipe), _audit(pipe, full=True), _audit(pipe), _audit(pipe, full=True)):
        (found,) = _found(result, CHECK_INVENTORY, entry)
        assert found.what == f"run {planted.run_id} is in the index but not in the log", found.what
        assert "'tdprov audit --full --accept-checkpoint --reason TEXT'" in found.fix
        assert result.bundles_logged == 0 and len(result.errors) == 1, [f.what for f in result.errors]
    accepted = _audit(pipe, full=True, accept_checkpoint="its writer stopped before the index entry; redelivered from the spool")
    assert accepted.clean and accepted.bundles_logged == 1, [f.what for f in accepted.errors]
    assert _audit(pipe).clean and _audit(pipe, full=True).clean


def test_a_logged_runs_index_entry_restored_from_a_backup_is_taken_back_by_the_next_audit(tmp_path: Path) -> None:
    """On a local folder, an edited index entry restored from a backup as the finding's fix says (same bytes and
    modification time: 'cp -p') has a new change time, and stayed 'changed' in every audit, --full included, while
    'tdprov verify' was clean; restored after a full audit, in every audit until the next --full. The next audit, which
    verifies the bundle again and finds the entry equal to the signed manifest that the log holds, takes its new
    fingerprint with a note."""
    pipe = Pipeline(str(tmp_path / "store"))
    assert _audit(pipe).clean
    key = next(k for k in pipe.store.list(layout.INDEX + "/") if layout.run_id_of_index_key(k) == pipe.prepare)
    entry, backup = tmp_path / "store" / key, tmp_path / "backup.json"
    shutil.copy2(entry, backup)
    entry.write_bytes(entry.read_bytes().replace(b'"COMPLETE"', b'"FAIL"'))
    (changed,) = _found(_audit(pipe), CHECK_INVENTORY, key)
    assert "changed after it was first listed" in changed.what and "takes back its files, manifest, signed statement, indexed record " \
        "and index entry once they are the objects logged" in changed.fix, changed.fix
    edited = _audit(pipe, full=True)  # an entry that is not the logged one is never taken
    assert _found(edited, CHECK_INVENTORY, key) and _found(edited, CHECK_SIGNATURES, key)
    shutil.copy2(backup, entry)  # cp -p: the same bytes and modification time, a new change time
    taken = _audit(pipe)  # the full audit's finding of the edited entry is carried until the next --full, as any
    assert [f.check for f in taken.errors] == [CHECK_SIGNATURES], [f"{f.check} {f.object}: {f.what}" for f in taken.errors]
    (note,) = [f for f in taken.check(CHECK_INVENTORY).findings if f.object == key]
    assert note.severity == NOTE and "is again the object logged" in note.what
    assert _audit(pipe, full=True).clean and _audit(pipe).clean


def _leaf_of(pipe: Pipeline, run_id: str) -> dict:
    """A leaf naming the bundle of ``run_id`` (its index entry; digests of no bundle), as a batch holds it."""
    entry = next(k for k in pipe.store.list("index/") if k.endswith(f"-{run_id}.json"))
    return {"indexKey": entry, "manifestDigest": "blake3:" + "ab" * 32, "runId": run_id, "statementDigest": "sha256:" + "cd" * 32}


def test_an_object_planted_beside_the_leaf_batches_marks_no_run_as_logged(pipe: Pipeline) -> None:
    """A full audit of a log with a damaged leaf batch took as logged the runs of every object under 'log/leaves/', also
    one under a key that names no batch (the walk over the log never lists it): a run sealed since the last audit, named
    in 'log/leaves/x.json', was never logged (only named as in the index but not in the log, on every audit). Only the
    keys of leaf batches are read: the run is logged, and the planted object is named, as before."""
    import json

    late = seal(pipe.store, run_events("prepare_late", [dataset(pipe.raw_name, pipe.raw)], [dataset("/data/late.parquet", digest("late"))],
                                       start=T0 + timedelta(hours=4)))
    raw_write(pipe.store.uri, "log/leaves/x.json", json.dumps({"first": 0, "leaves": [_leaf_of(pipe, late)]}).encode())
    flip_byte(pipe.store.uri, "log/leaves/000000000000.json")  # the damage that has a full audit read past the walk
    result = _audit(pipe, full=True)
    said = [f"{f.object}: {f.what}" for f in result.errors]
    assert [f for f in result.errors if f.object == "log/leaves/x.json"], said  # the planted object is named
    assert result.bundles_logged == 1 and result.checkpoint.checkpoint.size == 3, (result.bundles_logged, said)
    logged = [x["runId"] for x in json.loads(raw_read(pipe.store.uri, "log/leaves/000000000002.json"))["leaves"]]
    assert logged == [late], logged


@LOCAL_ONLY
def test_a_leaf_batch_planted_inside_the_log_marks_no_run_as_logged(pipe: Pipeline) -> None:
    """A full audit of a log with a problem took as logged the runs of every leaf batch it could parse, also one planted
    at a key inside the log (it begins inside the batch before it, so the walk over the log names it and hashes none of
    its leaves): a run sealed since the last audit, named in that batch, was never logged, where the incremental audit
    logs it. The planted batch is named as before, and the run is logged."""
    import json

    late = seal(pipe.store, run_events("prepare_late", [dataset(pipe.raw_name, pipe.raw)], [dataset("/data/late.parquet", digest("late"))],
                                       start=T0 + timedelta(hours=4)))
    planted = "log/leaves/000000000001.json"  # inside the batch of leaves 0 and 1
    raw_write(pipe.store.uri, planted, json.dumps({"first": 1, "leaves": [_leaf_of(pipe, late)]}).encode())
    result = _audit(pipe, full=True)
    said = [f"{f.object}: {f.what}" for f in result.errors]
    assert [f for f in result.check(CHECK_LOG).errors if f.object == planted], said  # the planted batch is named
    assert result.bundles_logged == 1 and result.checkpoint.checkpoint.size == 3, (result.bundles_logged, said)
    logged = [x["runId"] for x in json.loads(raw_read(pipe.store.uri, "log/leaves/000000000002.json"))["leaves"]]
    assert logged == [late], logged
