"""Every reader of a signed object (bundle statement, checkpoint, source record) opens it the same way:
a validly signed object of another kind in its place is refused, and each failure names the object."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bundle_support import raw_put, run_events
from prov_common.bundle import build_bundle, verify_bundle, write_bundle
from prov_common.signing import Envelope, EnvelopeError, Signature, SigningKey, TrustStore, sign_envelope
from prov_common.sources import SourceRecord, read_source, register_source
from prov_common.sources.model import SOURCE_PAYLOAD_TYPE
from prov_common.store import open_store
from prov_common.tlog.log import TransparencyLog, checkpoint_key
from prov_common.tlog.model import CHECKPOINT_PAYLOAD_TYPE, LogLeaf

DIGEST = "blake3:" + "cd" * 32


@pytest.fixture
def signed_objects(tmp_path: Path):
    """A store holding one of each signed object, all signed by one trusted key."""
    uri = str(tmp_path / "store")
    store, key = open_store(uri), SigningKey.generate()
    trust = TrustStore.of([key.public])
    bundle = build_bundle(run_events(), {}, key)
    write_bundle(store, bundle)
    source = register_source(store, SourceRecord(name="vendor", digest=DIGEST, license="CC0-1.0", issuer="Acme"), key)
    tlog = TransparencyLog(store, trust)
    tlog.append([LogLeaf("run-0", "blake3:" + "0" * 64, "sha256:" + "0" * 64, "index/run-0")], key)
    keys = {"statement": f"bundles/{bundle.run_id}/statement.dsse.json", "checkpoint": checkpoint_key(1), "source": source.key}
    return uri, store, key, trust, bundle.run_id, tlog, keys


def _swap(uri: str, store, key: str, payload_type: str, signer: SigningKey) -> None:
    """Re-sign the object at ``key`` unchanged, but under another payload type."""
    envelope = Envelope.from_json(store.get(key))
    raw_put(uri, key, sign_envelope(envelope.payload, payload_type, [signer]).to_json())


def test_a_bundle_statement_signed_as_another_kind_of_object_fails(signed_objects) -> None:
    uri, store, key, trust, run_id, _, keys = signed_objects
    assert verify_bundle(store, run_id, trust).ok
    _swap(uri, store, keys["statement"], CHECKPOINT_PAYLOAD_TYPE, key)
    report = verify_bundle(store, run_id, trust)
    assert [(f.key, f.problem) for f in report.findings] == [(keys["statement"], "wrong payload type")]
    assert CHECKPOINT_PAYLOAD_TYPE in report.findings[0].reason and not report.ok


def test_a_checkpoint_signed_as_a_source_record_fails(signed_objects) -> None:
    uri, store, key, _, _, tlog, keys = signed_objects
    tlog.read_checkpoint(keys["checkpoint"])
    _swap(uri, store, keys["checkpoint"], SOURCE_PAYLOAD_TYPE, key)
    with pytest.raises(EnvelopeError, match=f"checkpoint '{keys['checkpoint']}': payload type") as caught:
        tlog.read_checkpoint(keys["checkpoint"])
    assert caught.value.problem == "wrong payload type"
    assert any(p.key == keys["checkpoint"] and "payload type" in p.what for p in tlog.verify().problems)


def test_a_source_record_signed_as_a_checkpoint_fails(signed_objects) -> None:
    uri, store, key, trust, _, _, keys = signed_objects
    read_source(store, keys["source"], trust)
    _swap(uri, store, keys["source"], CHECKPOINT_PAYLOAD_TYPE, key)
    with pytest.raises(EnvelopeError, match=f"source record '{keys['source']}': payload type") as caught:
        read_source(store, keys["source"], trust)
    assert caught.value.problem == "wrong payload type"


@pytest.mark.parametrize("kind", ["checkpoint", "source"])
def test_every_reader_names_a_damaged_or_unsigned_object(signed_objects, kind: str) -> None:
    uri, store, key, trust, _, tlog, keys = signed_objects
    read = {"checkpoint": tlog.read_checkpoint, "source": lambda k: read_source(store, k, trust)}[kind]
    original = store.get(keys[kind])
    raw_put(uri, keys[kind], b"not json")
    with pytest.raises(EnvelopeError, match="not a DSSE envelope") as caught:
        read(keys[kind])
    assert caught.value.problem == "malformed" and keys[kind] in caught.value.what
    envelope = Envelope.from_json(original)
    raw_put(uri, keys[kind], Envelope(envelope.payload, envelope.payload_type, ()).to_json())
    with pytest.raises(EnvelopeError, match="unsigned") as caught:
        read(keys[kind])
    assert keys[kind] in caught.value.what and caught.value.fix


@pytest.mark.parametrize("change", ["garbage signature after", "untrusted signature before", "whitespace"])
@pytest.mark.parametrize("kind", ["checkpoint", "source"])
def test_every_reader_names_bytes_changed_around_a_valid_signature(signed_objects, kind: str, change: str) -> None:
    """tdprov signs each object with one key and writes its canonical envelope. A signature added beside the valid one, or
    whitespace, leaves that signature valid: a source record or checkpoint so changed was taken as it was (a bundle
    statement was not). Every reader names it as altered, with the key whose signature verifies."""
    uri, store, key, trust, _, tlog, keys = signed_objects
    read = {"checkpoint": tlog.read_checkpoint, "source": lambda k: read_source(store, k, trust)}[kind]
    envelope = Envelope.from_json(store.get(keys[kind]))
    extra = (Signature(key.key_id, b"\x00" * 64) if change == "garbage signature after"
             else sign_envelope(envelope.payload, envelope.payload_type, [SigningKey.generate()]).signatures[0])
    changed = (b"\t" + envelope.to_json() if change == "whitespace"
               else replace(envelope, signatures=(*envelope.signatures, extra) if change.endswith("after") else (extra, *envelope.signatures)).to_json())
    raw_put(uri, keys[kind], changed)
    with pytest.raises(EnvelopeError) as caught:
        read(keys[kind])
    assert (caught.value.problem, caught.value.key_id) == ("altered", key.key_id)
    assert caught.value.what == f"{'checkpoint' if kind == 'checkpoint' else 'source record'} '{keys[kind]}': " + (
        "its bytes are not the canonical envelope that was written." if change == "whitespace" else
        f"it holds 2 signatures where tdprov signs with one: beside the valid signature by {key.key_id}, the one by "
        f"{extra.keyid} was added after signing.")
    assert caught.value.fix == "restore it from a backup or replica of the store"
