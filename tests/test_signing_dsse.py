"""DSSE envelopes and in-toto statements: PAE bytes, signing, tampering, trust."""
from __future__ import annotations

import base64
import hashlib
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from prov_common.canonical_json import loads
from prov_common.errors import BadInputError, VerificationError
from prov_common.signing.dsse import ENVELOPE_PROBLEMS
from prov_common.signing import (
    INTOTO_PAYLOAD_TYPE,
    Envelope,
    EnvelopeError,
    Signature,
    SigningKey,
    Statement,
    Subject,
    TrustStore,
    digest_map,
    make_statement,
    open_envelope,
    pae,
    sign_envelope,
    verify_envelope,
)


def test_pae_matches_dsse_spec_vector() -> None:
    # The worked example of the DSSE protocol document.
    assert pae("http://example.com/HelloWorld", b"hello world") == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"


def test_pae_counts_bytes_not_characters() -> None:
    assert pae("t\u00e9", "\u00e9".encode()) == b"DSSEv1 3 t\xc3\xa9 2 \xc3\xa9"
    assert pae("t", b"") == b"DSSEv1 1 t 0 "


def test_key_id_is_sha256_of_raw_public_key() -> None:
    key = SigningKey.generate()
    raw = key.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert key.key_id == "ed25519:" + hashlib.sha256(raw).hexdigest()
    assert key.public.key_id == key.key_id


def test_envelope_round_trip_and_signature_over_pae() -> None:
    key = SigningKey.generate()
    env = sign_envelope(b'{"a":1}', INTOTO_PAYLOAD_TYPE, [key])
    raw = loads(env.to_json())
    assert raw["payloadType"] == INTOTO_PAYLOAD_TYPE
    assert base64.b64decode(raw["payload"]) == b'{"a":1}'
    sig = base64.b64decode(raw["signatures"][0]["sig"])
    key.key.public_key().verify(sig, b"DSSEv1 28 application/vnd.in-toto+json 7 {\"a\":1}")
    parsed = Envelope.from_json(env.to_json())
    assert parsed == env
    assert verify_envelope(parsed, TrustStore.of([key.public])) == key.key_id


def test_changed_payload_is_a_bad_signature() -> None:
    key = SigningKey.generate()
    env = sign_envelope(b'{"a":1}', INTOTO_PAYLOAD_TYPE, [key])
    forged = Envelope(b'{"a":2}', env.payload_type, env.signatures)
    with pytest.raises(VerificationError, match="bad signature by " + key.key_id):
        verify_envelope(forged, TrustStore.of([key.public]))
    retyped = Envelope(env.payload, "application/json", env.signatures)
    with pytest.raises(VerificationError, match="bad signature"):
        verify_envelope(retyped, TrustStore.of([key.public]))


def test_untrusted_and_unsigned_never_pass() -> None:
    key, other = SigningKey.generate(), SigningKey.generate()
    env = sign_envelope(b"{}", INTOTO_PAYLOAD_TYPE, [key])
    with pytest.raises(VerificationError, match=f"untrusted key {key.key_id}, not among the 1 trusted key\\. "):
        verify_envelope(env, TrustStore.of([other.public]))
    with pytest.raises(VerificationError, match="not among the 2 trusted keys\\. "):
        verify_envelope(env, TrustStore.of([other.public, SigningKey.generate().public]))
    with pytest.raises(VerificationError, match="unsigned"):
        verify_envelope(Envelope(b"{}", INTOTO_PAYLOAD_TYPE, ()), TrustStore.of([key.public]))
    # a signature copied under a trusted key id is still rejected
    stolen = Envelope(env.payload, env.payload_type, (type(env.signatures[0])(other.key_id, env.signatures[0].sig),))
    with pytest.raises(VerificationError, match="bad signature"):
        verify_envelope(stolen, TrustStore.of([other.public]))


def test_malformed_envelope_is_named() -> None:
    with pytest.raises(BadInputError, match="statement.dsse.json is not a DSSE envelope"):
        Envelope.from_json(b'{"payload": "!!", "signatures": []}', "statement.dsse.json")


def test_statement_is_canonical_in_toto_v1() -> None:
    subj = [Subject("s3://b/z.parquet", {"blake3": "ab"}), Subject("file:/a.csv", {"blake3": "cd"})]
    st = make_statement(subj, "https://tdprov.dev/lineage-bundle/v1", {"runId": "r1"})
    data = st.to_json()
    assert data.startswith(b'{"_type":"https://in-toto.io/Statement/v1","predicate":{"runId":"r1"}')
    assert [s["name"] for s in loads(data)["subject"]] == ["file:/a.csv", "s3://b/z.parquet"]
    assert Statement.from_json(data) == st
    with pytest.raises(BadInputError, match="at least one subject"):
        make_statement([], "x", {})
    with pytest.raises(BadInputError, match="not an in-toto Statement"):
        Statement.from_json(b'{"_type": "other"}')


def test_digest_map() -> None:
    assert digest_map("blake3:ABcd") == {"blake3": "abcd"}
    assert digest_map("not-a-digest") is None
    assert digest_map("v:12x") is None


CHECKPOINT_TYPE = "application/vnd.tdprov.checkpoint+json"


def test_open_envelope_returns_the_verified_payload_and_signer() -> None:
    key = SigningKey.generate()
    data = sign_envelope(b'{"size":3}', CHECKPOINT_TYPE, [key]).to_json()
    opened = open_envelope(data, TrustStore.of([key.public]), CHECKPOINT_TYPE, what="checkpoint 'c/3.json'")
    assert (opened.payload, opened.key_id) == (b'{"size":3}', key.key_id)
    assert opened.envelope.to_json() == data


@pytest.mark.parametrize("case", ["malformed", "unsigned", "bad signature", "untrusted key", "wrong payload type"])
def test_open_envelope_names_the_object_the_problem_and_the_fix(case: str) -> None:
    key, other = SigningKey.generate(), SigningKey.generate()
    env = sign_envelope(b'{"size":3}', CHECKPOINT_TYPE, [key])
    data, trust, expected = {
        "malformed": (b'{"payload": "!!"}', TrustStore.of([key.public]), CHECKPOINT_TYPE),
        "unsigned": (Envelope(env.payload, CHECKPOINT_TYPE, ()).to_json(), TrustStore.of([key.public]), CHECKPOINT_TYPE),
        "bad signature": (Envelope(b'{"size":4}', CHECKPOINT_TYPE, env.signatures).to_json(), TrustStore.of([key.public]), CHECKPOINT_TYPE),
        "untrusted key": (env.to_json(), TrustStore.of([other.public]), CHECKPOINT_TYPE),
        "wrong payload type": (env.to_json(), TrustStore.of([key.public]), INTOTO_PAYLOAD_TYPE),
    }[case]
    with pytest.raises(EnvelopeError) as caught:
        open_envelope(data, trust, expected, what="checkpoint 'c/3.json'")
    error = caught.value
    assert isinstance(error, VerificationError) and error.problem == case and error.problem in ENVELOPE_PROBLEMS
    assert error.what.startswith("checkpoint 'c/3.json': ") and error.reason in error.what and error.fix
    assert (error.envelope is None) == (case == "malformed")
    if case in ("bad signature", "untrusted key"):
        assert key.key_id in error.what
    if case == "wrong payload type":
        assert CHECKPOINT_TYPE in error.what and INTOTO_PAYLOAD_TYPE in error.what


@pytest.mark.parametrize("named", ["", "ed25519:" + "0" * 64, "other trusted key", "retired key"])
def test_a_signature_whose_key_id_was_changed_is_named_altered_not_untrusted(named: str) -> None:
    """The key id is an unsigned hint: changed (erased, made up, another trusted key's or a retired key's), the signature
    still verifies under the key that made it. It was called 'untrusted key' (or 'bad signature' by the other key, the
    retired key too, with the fix to restore it as changed bytes), with the fix to trust a key that does not exist; it is
    named as altered, with the key that signed, which the error and a bundle's report hold as ``key_id``."""
    key, other, lost = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()
    trust = TrustStore.of([key.public, other.public])
    trust.retire(lost.public, 5)
    env = sign_envelope(b'{"size":3}', CHECKPOINT_TYPE, [key])
    keyid = {"other trusted key": other.key_id, "retired key": lost.key_id}.get(named, named)
    renamed = Envelope(env.payload, env.payload_type, (Signature(keyid, env.signatures[0].sig),))
    with pytest.raises(EnvelopeError) as caught:
        open_envelope(renamed.to_json(), trust, CHECKPOINT_TYPE, what="checkpoint 'c/3.json'", position=3)
    error = caught.value
    assert (error.problem, error.fix) == ("altered", "restore it from a trusted copy") and error.problem in ENVELOPE_PROBLEMS
    assert error.what == (f"checkpoint 'c/3.json': the signature names key {keyid or '<no keyid>'} but was made by trusted key "
                          f"{key.key_id}: its key id was changed after it was signed.")
    assert error.key_id == key.key_id


@pytest.mark.parametrize("also_trusted", [False, True])
@pytest.mark.parametrize("named", ["", "ed25519:" + "0" * 64, "another trusted key", "another retired key"])
def test_a_retired_keys_signature_whose_key_id_was_changed_is_judged_by_the_keys_cut_off(named: str, also_trusted: bool) -> None:
    """Whoever holds a lost, retired key and signs with it after its cut-off can change the key id of the signature: it
    was then named 'untrusted key', with the fix to trust the signer's key, or (the key still listed as trusted too, or
    the id another retired key's) 'altered' or 'bad signature', with the fix to restore the object from a trusted copy,
    not as the retired key's forgery to remove. It is judged as the retired key's, by its own cut-off, not that of a
    retired key it names: after its cut-off a 'retired key' finding, before it an altered key id. Before it the
    signature counts, but the envelope is not the one the log holds (relabelled with a current key's id, it passes a
    retired key's object off as that key's): it is named altered, by the retired key, not a trusted one, and its cut-off,
    which the error holds as ``key_id``."""
    lost, kept, also_lost = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()
    trust = TrustStore.of([kept.public, *([lost.public] if also_trusted else [])])
    trust.retire(lost.public, 5)
    trust.retire(also_lost.public, 20)  # whose cut-off would pass the signature at log size 9
    env = sign_envelope(b'{"size":3}', CHECKPOINT_TYPE, [lost])
    named = {"another trusted key": kept.key_id, "another retired key": also_lost.key_id}.get(named, named)
    renamed = Envelope(env.payload, env.payload_type, (Signature(named, env.signatures[0].sig),)).to_json()
    with pytest.raises(EnvelopeError) as caught:
        open_envelope(renamed, trust, CHECKPOINT_TYPE, what="checkpoint 'c/9.json'", position=9)
    error = caught.value
    assert error.problem == "retired key" and "TDPROV_RETIRED_KEYS" in error.fix, (error.what, error.fix)
    assert error.what.startswith(f"checkpoint 'c/9.json': signed by retired key {lost.key_id} after its cut-off at log size 5")
    with pytest.raises(EnvelopeError) as caught:
        open_envelope(renamed, trust, CHECKPOINT_TYPE, what="checkpoint 'c/3.json'", position=3)
    assert (caught.value.problem, caught.value.fix) == ("altered", "restore it from a trusted copy")
    assert caught.value.what == (f"checkpoint 'c/3.json': the signature names key {named or '<no keyid>'} but was made by "
                                 f"retired key {lost.key_id} before its cut-off at log size 5 (the log fixed it at log size 3): "
                                 "its key id was changed after it was signed.")
    assert caught.value.key_id == lost.key_id
    logged = trust.logged_at({"sha256:" + hashlib.sha256(env.to_json()).hexdigest(): 3})  # as signed, where the log holds it
    with pytest.raises(EnvelopeError) as caught:
        open_envelope(renamed, logged, CHECKPOINT_TYPE, what="statement")
    assert caught.value.problem == "altered", caught.value.what
    with pytest.raises(EnvelopeError) as caught:
        open_envelope(renamed, trust, CHECKPOINT_TYPE, what="statement")
    assert caught.value.problem == "retired key" and "(the log does not hold it)" in caught.value.what


DOCS = Path(__file__).resolve().parents[1] / "docs"


def _doc_snippet(doc: str, after: str) -> str:
    """The first ```python block of ``docs/<doc>`` after the text ``after``."""
    code = re.search(r"```python\n(.*?)```", (DOCS / doc).read_text().split(after, 1)[1], re.S)
    assert code, f"docs/{doc} lost its snippet after {after!r}"
    return code.group(1)


@pytest.mark.parametrize("change", ["sound", "signed as a checkpoint", "a signature by another key added",
                                    "a garbage signature before the valid one"])
@pytest.mark.parametrize("doc", ["bundles.md", "walkthrough.md"])
def test_the_docs_offline_signature_checks_follow_dsse(tmp_path: Path, doc: str, change: str) -> None:
    """The signature checks docs/bundles.md and docs/walkthrough.md give for use without tdprov read the first signature
    only and not the payload type: a statement's payload signed by the same key as a checkpoint passed, and so did one
    with a signature added after the valid one (which tdprov names as altered). They check the type first, as DSSE asks,
    and that the envelope holds the one signature a bundle is sealed with."""
    key = SigningKey.generate()
    (tmp_path / "team.key.pub").write_bytes(key.public.to_pem())
    payload = make_statement([Subject("clean.parquet", {"sha256": "ab" * 32})], "https://example.com/p", {"runId": "r"}).to_json()
    envelope = sign_envelope(payload, "application/vnd.tdprov.checkpoint+json" if change == "signed as a checkpoint"
                             else INTOTO_PAYLOAD_TYPE, [key])
    if change == "a signature by another key added":
        envelope = Envelope(payload, envelope.payload_type,
                            (*envelope.signatures, *sign_envelope(payload, INTOTO_PAYLOAD_TYPE, [SigningKey.generate()]).signatures))
    elif change == "a garbage signature before the valid one":
        envelope = Envelope(payload, envelope.payload_type, (Signature(key.key_id, b"\0" * 64), *envelope.signatures))
    (tmp_path / "statement.dsse.json").write_bytes(envelope.to_json())
    script = tmp_path / "check.py"
    script.write_text(_doc_snippet(doc, "To check a signature without tdprov" if doc == "bundles.md" else "`dsse_check.py`:"))
    done = subprocess.run([sys.executable, str(script), "statement.dsse.json", "team.key.pub"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    if change == "sound":
        assert done.returncode == 0 and done.stdout.startswith("signature OK"), done.stdout + done.stderr
    else:
        assert done.returncode == 1 and done.stderr.strip() == (
            "signed as 'application/vnd.tdprov.checkpoint+json', not as an in-toto statement" if change == "signed as a checkpoint"
            else "2 signatures: a bundle is sealed with one, any other was added"), done.stdout + done.stderr
