"""Witness places the auditor writes (``--remember-in``, ``TDPROV_WITNESS``): another folder or bucket keeps
the newest verified checkpoint; a rolled-back store is found against it even after ``TDPROV_HOME`` (the
auditor's memory) is wiped, the place is not moved over the gap, and only the recorded resolution resets it.

On a local folder and on S3 the auditor writes and reads its places; a record planted in a place under a key of its own
(forged, or replayed under a later key) is found from the listed keys and its signed bytes, the same on both stores,
and is tried on the local folder only (the rule of tests/test_audit_attacks.py)."""
from __future__ import annotations

import base64
import hashlib
import json
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from prov_common.audit.memory import memory_path, store_id
from prov_common.audit.model import CHECK_LOG
from prov_common.audit.remember import WITNESS_PAYLOAD_TYPE
from prov_common.signing import SigningKey, default_signing_key, sign_envelope
from prov_common.signing.keyfiles import write_keypair
from prov_common.tlog.log import CHECKPOINTS_PREFIX

from test_audit_attacks import Store, _audit, roll_back
from test_audit_support import raw_read, raw_write


LOCAL_ONLY = pytest.mark.parametrize("store_uri", ["local"], indirect=True)  # see the module's docstring


@pytest.fixture
def place_uri(store_uri: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A witness place on the same backend as the store: another folder, or another bucket."""
    if store_uri.startswith("s3://"):
        return f"s3://{request.getfixturevalue('s3_server').create_bucket()}/witness"
    return str(tmp_path / "witness-place")


def _keys_outside_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The auditor's (and writers') key kept outside TDPROV_HOME, so that the home can be wiped."""
    key = tmp_path / "keys" / "auditor.key"
    write_keypair(key, default_signing_key())
    monkeypatch.setenv("TDPROV_SIGNING_KEY", str(key))


def _wipe_home() -> None:
    import os

    home = Path(os.environ["TDPROV_HOME"])
    shutil.rmtree(home)
    home.mkdir()


def _records(place: str, audited: str) -> list[tuple[str, dict]]:
    """The witness records in ``place``, read and decoded without tdprov (boto3 or the file system,
    base64, json), each signature checked with ``cryptography`` against the auditor's public key."""
    prefix = f"witness/{store_id(audited)}/"
    if place.startswith("s3://"):
        import boto3

        bucket, _, root = place[5:].partition("/")
        client = boto3.client("s3")
        keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix=f"{root}/{prefix}").get("Contents", [])]
        raw = [(k, client.get_object(Bucket=bucket, Key=k)["Body"].read()) for k in keys]
    else:
        raw = [(str(p), p.read_bytes()) for p in sorted((Path(place) / prefix).glob("*.json"))]
    import os

    public = serialization.load_pem_public_key(Path(os.environ["TDPROV_SIGNING_KEY"] + ".pub").read_bytes())
    assert isinstance(public, Ed25519PublicKey)
    out = []
    for key, data in raw:
        envelope = json.loads(data)
        payload = base64.b64decode(envelope["payload"])
        kind = envelope["payloadType"].encode()
        pae = b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)
        public.verify(base64.b64decode(envelope["signatures"][0]["sig"]), pae)  # raises when it does not verify
        assert envelope["payloadType"] == WITNESS_PAYLOAD_TYPE
        out.append((key, json.loads(payload)))
    return out


def test_witness_place_catches_a_roll_back_after_the_home_is_wiped(store_uri: str, place_uri: str, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    _keys_outside_home(tmp_path, monkeypatch)
    s = Store(store_uri)
    monkeypatch.setenv("TDPROV_WITNESS", place_uri)  # the setting; --remember-in adds more
    kept = _audit(s.pipe)
    assert kept.clean, [f.what for f in kept.errors]
    records = _records(place_uri, s.pipe.store.uri)
    head_bytes = raw_read(store_uri, s.newest(CHECKPOINTS_PREFIX))
    assert len(records) == 1 and records[0][1]["checkpoint"]["treeSize"] == 4
    assert records[0][1]["checkpoint"]["checkpointDigest"] == "sha256:" + hashlib.sha256(head_bytes).hexdigest()
    assert records[0][1]["store"] == s.pipe.store.uri
    assert _audit(s.pipe).clean and len(_records(place_uri, s.pipe.store.uri)) == 1  # nothing new: no new record

    roll_back(s)
    for attempt in ("found", "still found"):
        _wipe_home()  # the auditor's memory is gone: only the witness place remembers
        result = _audit(s.pipe)
        found = [f for f in result.check(CHECK_LOG).errors if "witness store" in f.what and "rolled back" in f.what]
        assert result.exit_code == 1 and found, (attempt, [f.what for f in result.errors])
        assert found[0].what.startswith("the store's log has 3 leaves") and place_uri.rstrip("/") in found[0].what
        assert result.published_checkpoint() is None
        assert [r["checkpoint"]["treeSize"] for _, r in _records(place_uri, s.pipe.store.uri)] == [4]  # not moved over the gap

    # the recorded resolution resets the place; the log goes on from the store as it is
    from prov_common.cli import main

    monkeypatch.delenv("TDPROV_WITNESS")
    code = main(["audit", "--quiet", "--store", store_uri, "--report", str(tmp_path / "r"), "--remember-in", place_uri,
                 "--accept-checkpoint", "--reason", "rolled back by the incident of 2026-05-02"])
    assert code == 0
    records = _records(place_uri, s.pipe.store.uri)
    assert [r["checkpoint"]["treeSize"] for _, r in records] == [4, 3]
    resolution = json.loads(base64.b64decode(json.loads(raw_read(store_uri, s.keys("audit/resolutions/")[0]))["payload"]))
    assert resolution["witnessesReset"] and place_uri.rstrip("/") in resolution["witnessesReset"][0]
    assert _audit(s.pipe, remember_in=[place_uri]).clean


@LOCAL_ONLY
def test_a_forged_witness_record_is_a_finding(store_uri: str, place_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only an auditor moves a witness: a newer record signed by another key (say, naming the rolled-back
    checkpoint) does not verify, and the audit says so instead of trusting it."""
    _keys_outside_home(tmp_path, monkeypatch)
    s = Store(store_uri)
    assert _audit(s.pipe, remember_in=[place_uri]).clean
    key, record = _records(place_uri, s.pipe.store.uri)[-1]
    forged = dict(record, checkpoint=dict(record["checkpoint"], treeSize=3))
    envelope = sign_envelope(json.dumps(forged).encode(), WITNESS_PAYLOAD_TYPE, [SigningKey.generate()]).to_json()
    name = f"witness/{store_id(s.pipe.store.uri)}/99991231T000000000000Z-000000000003-forged00.json"
    raw_write(place_uri, name, envelope)
    result = _audit(s.pipe, remember_in=[place_uri])
    found = [f for f in result.check(CHECK_LOG).errors if "does not verify" in f.what and "witness" in f.what]
    assert result.exit_code == 1 and found, [f.what for f in result.errors]


def test_witness_setting_takes_several_places() -> None:
    from prov_common.config import Settings

    settings = Settings.from_env(environ={"TDPROV_WITNESS": "/srv/w1, s3://audit-bucket/w ,/srv/w2"})
    assert settings.witnesses == ("/srv/w1", "s3://audit-bucket/w", "/srv/w2")
    assert Settings.from_env(environ={}).witnesses == () and Settings.from_env(environ={}, witnesses="/a,/b").witnesses == ("/a", "/b")


def test_the_audited_store_cannot_witness_itself(tmp_path: Path, capsys) -> None:
    from prov_common.cli import main

    store = tmp_path / "store"
    main(["store", "init", str(store)])
    capsys.readouterr()
    assert main(["audit", "--store", str(store), "--remember-in", str(store)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot witness its own log" in err[0], err
    for bad, said in (("", "--remember-in is given empty"), ("ftp://host/witness", "witness place 'ftp://host/witness'")):
        assert main(["audit", "--store", str(store), "--remember-in", bad]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and said in err[0] and "--remember-in" in err[0], err


def test_the_audited_store_reached_by_another_path_cannot_witness_itself(tmp_path: Path, capsys) -> None:
    """The store's folder mounted at a second path and given as its witness place: the URIs differ, so the place was
    taken and the store kept its own checkpoint as its witness. The place holds the store's identity: refused, exit 2."""
    import subprocess

    from prov_common.cli import main
    from prov_common.store import open_store
    from mount_support import mount
    from test_audit_support import dataset, digest, run_events, seal

    store, other = tmp_path / "store", tmp_path / "mounted"
    main(["store", "init", str(store)])
    seal(open_store(str(store)), run_events("prepare", [], [dataset("/d/x.parquet", digest("x"))]))
    other.mkdir()
    if not mount(["--bind", str(store), str(other)]):
        pytest.skip("cannot mount here")
    try:
        capsys.readouterr()
        assert main(["audit", "--store", str(store), "--remember-in", str(other)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"witness place '{other}' is the audited store itself" in err[0], err
        assert not list(open_store(str(store)).list("witness/"))
    finally:
        subprocess.run(["umount", str(other)], check=False)


def test_a_place_whose_identity_cannot_be_read_is_taken_by_its_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A witness place whose identity the auditor may not read (access denied: a StoreError) stopped the audit as it
    opened its places, where an unreadable place is a finding of the log check (read_place); it is now judged by its URI,
    as a place that holds no identity is, and the store's own folder is refused still."""
    from prov_common.audit import remember
    from prov_common.errors import StoreError
    from prov_common.signing import TrustStore
    from prov_common.store import open_store

    def denied(place: object) -> None:
        raise StoreError("reading _tdprov/store.json: access denied (AccessDenied).")

    store = open_store(str(tmp_path / "store"))
    monkeypatch.setattr(remember, "read_identity", denied)
    key = default_signing_key()
    places = remember.open_places([str(tmp_path / "place")], store, key, TrustStore.of([key.public]), "a-store-id")
    assert len(places) == 1, places
    with pytest.raises(Exception, match="is the audited store itself"):
        remember.open_places([str(tmp_path / "store")], store, key, TrustStore.of([key.public]), "a-store-id")


def test_accepting_an_emptied_store_resets_the_places(tmp_path: Path) -> None:
    """Everything deleted: the place keeps the gap until a person accepts the empty store; then it holds the
    empty log and later audits are clean."""
    from test_audit_support import digest, run_events, dataset, seal
    from prov_common.audit import run_audit
    from prov_common.config import Settings
    from prov_common.store import open_store

    uri, place = str(tmp_path / "store"), str(tmp_path / "place")
    store = open_store(uri)
    seal(store, run_events("prepare", [], [dataset("/d/x.parquet", digest("x"))]))

    def audit(**kw):
        return run_audit(store, Settings.from_env(store=uri), progress=False, remember_in=[place], **kw)

    assert audit().clean
    shutil.rmtree(uri)
    Path(uri).mkdir()
    memory_path(store.uri).unlink()  # the auditor's memory is lost too: only the place remembers
    assert audit().exit_code == 1
    accepted = audit(accept_checkpoint="store emptied on purpose")
    assert accepted.resolution["witnessesReset"]
    kept = [json.loads(base64.b64decode(json.loads(p.read_bytes())["payload"]))["checkpoint"]
            for p in sorted((Path(place) / "witness").rglob("*.json"))]
    assert [k["treeSize"] for k in kept] == [1, 0]
    assert audit().clean


@LOCAL_ONLY
def test_an_older_witness_record_copied_under_a_later_key_is_a_finding(store_uri: str, place_uri: str, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The key of a witness record is not signed: an older record (validly signed, of a smaller checkpoint) copied
    under a key that sorts last would pass for the newest, and a roll back to it went unnoticed; the key must be
    the one the record's signed time, size and audit give."""
    _keys_outside_home(tmp_path, monkeypatch)
    s = Store(store_uri)
    first = _audit(s.pipe, remember_in=[place_uri])
    assert first.clean
    (old_key, _), = _records(place_uri, s.pipe.store.uri)
    # one more run and audit: the place moves on to a larger checkpoint
    from test_audit_support import T0, dataset, digest, run_events, seal

    seal(s.pipe.store, run_events("prepare_more", [], [dataset("/data/more.parquet", digest("more"))], start=T0))
    assert _audit(s.pipe, remember_in=[place_uri]).clean
    roll_back(s)
    _wipe_home()
    folder = f"witness/{store_id(s.pipe.store.uri)}/"
    old_name = old_key.rsplit("/", 1)[1]
    raw_write(place_uri, f"{folder}99991231T235959999999Z-{old_name.rsplit('-', 2)[1]}-replayed.json", raw_read(place_uri, folder + old_name))
    result = _audit(s.pipe, remember_in=[place_uri])
    found = [f for f in result.check(CHECK_LOG).errors if "copied under a later key" in f.what]
    assert result.exit_code == 1 and found, [f.what for f in result.errors]


@LOCAL_ONLY
def test_a_witness_record_grown_sparse_is_read_no_further_than_a_small_object(store_uri: str, place_uri: str, tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The newest witness record grown (sparse) to 256 MiB was read whole by every audit that remembers in its place: it
    is read no further than layout.SMALL_OBJECT_LIMIT, and the audit names it."""
    import os
    import tracemalloc

    from prov_common.audit.remember import StoreWitness
    from prov_common.signing import trust_from_settings
    from prov_common.store import open_store
    from prov_common.store.errors import ObjectTooLargeError

    _keys_outside_home(tmp_path, monkeypatch)
    s = Store(store_uri)
    assert _audit(s.pipe, remember_in=[place_uri]).clean
    path = Path(_records(place_uri, s.pipe.store.uri)[-1][0])
    key = path.relative_to(place_uri).as_posix()
    os.truncate(path, 256 << 20)
    witness = StoreWitness(open_store(place_uri), s.pipe.store.uri, default_signing_key(), trust_from_settings())
    tracemalloc.start()
    try:
        with pytest.raises(ObjectTooLargeError, match=f"object '{key}' in local folder .* is larger than {64 << 20:,} bytes"):
            witness.read()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100 << 20, peak
    result = _audit(s.pipe, remember_in=[place_uri])
    assert [f for f in result.check(CHECK_LOG).errors if f"{key}' in local folder" in f.what], [f.what for f in result.errors]
