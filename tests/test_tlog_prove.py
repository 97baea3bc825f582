"""`tdprov prove` output checked by the standalone verifier published in docs/verification.md."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from prov_common.cli import main
from prov_common.signing import Envelope, default_signing_key, sign_envelope, trust_from_settings
from prov_common.signing.keyfiles import default_key_path, public_path_for
from prov_common.store import open_store
from prov_common.tlog.log import TransparencyLog
from prov_common.tlog.model import LogLeaf

DOC = Path(__file__).resolve().parents[1] / "docs" / "verification.md"


@pytest.fixture()
def verifier(tmp_path: Path) -> Path:
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert code, "docs/verification.md lost its verifier snippet"
    path = tmp_path / "verify_proof.py"
    path.write_text(code.group(1))
    return path


@pytest.fixture()
def store_dir(tmp_path: Path) -> str:
    key = default_signing_key()
    tlog = TransparencyLog(open_store(str(tmp_path / "store")), trust_from_settings())
    for lo, hi in ((0, 5), (5, 13), (13, 14)):
        tlog.append([LogLeaf(f"run-{i}", f"blake3:{i:064x}", f"sha256:{i:064x}", f"index/run-{i:03d}") for i in range(lo, hi)], key)
    return str(tmp_path / "store")


def _run_verifier(verifier: Path, proof: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(proof))
    pub = public_path_for(default_key_path())
    return subprocess.run([sys.executable, str(verifier), str(path), str(pub)], capture_output=True, text=True)


def test_inclusion_proof_verifies_offline(store_dir: str, verifier: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["prove", "run-7", "--store", store_dir]) == 0
    proof = json.loads(capsys.readouterr().out)
    assert proof["treeSize"] == 14 and proof["leafIndex"] == 7
    assert _run_verifier(verifier, proof, tmp_path).stdout.strip() == "OK"
    bad = dict(proof, inclusionPath=[proof["inclusionPath"][0][:-1] + "0"] + proof["inclusionPath"][1:])
    if bad["inclusionPath"] != proof["inclusionPath"]:
        assert "FAIL" in _run_verifier(verifier, bad, tmp_path).stderr
    other = dict(proof, leafIndex=6)
    assert "FAIL" in _run_verifier(verifier, other, tmp_path).stderr
    forged = json.loads(json.dumps(proof))
    forged["checkpoint"]["envelope"]["payload"] = forged["checkpoint"]["envelope"]["payload"][:-4] + "AAAA"
    assert "signature" in _run_verifier(verifier, forged, tmp_path).stderr


def test_consistency_proof_verifies_offline(store_dir: str, verifier: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    for old, new in ((5, 13), (5, 14), (13, 14), (14, 14)):
        assert main(["prove", "--consistency", str(old), str(new), "--store", store_dir]) == 0
        proof = json.loads(capsys.readouterr().out)
        assert _run_verifier(verifier, proof, tmp_path).stdout.strip() == "OK"
    proof["oldCheckpoint"], proof["consistencyPath"] = json.loads(json.dumps(proof["oldCheckpoint"])), []
    assert main(["prove", "--consistency", "5", "14", "--store", store_dir]) == 0
    proof = json.loads(capsys.readouterr().out)
    proof["consistencyPath"] = proof["consistencyPath"][1:]
    assert "FAIL" in _run_verifier(verifier, proof, tmp_path).stderr


def test_prove_bad_input(store_dir: str, capsys: pytest.CaptureFixture) -> None:
    assert main(["prove", "no-such-run", "--store", store_dir]) == 2
    assert "no-such-run" in capsys.readouterr().err
    assert main(["prove", "--consistency", "3", "14", "--store", store_dir]) == 2
    assert "5, 13, 14" in capsys.readouterr().err
    assert main(["prove", "--store", store_dir]) == 2


@pytest.mark.parametrize("old, new", [(14, 5), (0, 14)])
def test_prove_names_the_checkpoint_sizes_for_sizes_out_of_order(store_dir: str, capsys: pytest.CaptureFixture, old: int, new: int) -> None:
    """OLD above NEW (or 0) is refused naming the sizes to give: its fix said to list the checkpoints with 'tdprov
    audit' output, which prints only the newest size (and appends to the log)."""
    assert main(["prove", "--consistency", str(old), str(new), "--store", store_dir]) == 2
    err = capsys.readouterr().err
    assert err == (f"tdprov prove: --consistency {old} {new}: OLD must be at least 1 and not above NEW. "
                   "Fix: give two of the checkpoint sizes, the smaller first: 5, 13, 14\n"), err


@pytest.mark.parametrize("sizes", [("1", "1"), ("2", "1")])
def test_a_consistency_proof_before_any_audit_says_to_audit(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                            sizes: tuple[str, str]) -> None:
    """A store whose runs no audit has logged has no checkpoint: --consistency is refused as a run's proof is, telling
    to audit; it said to use one of the checkpoint sizes 'none'."""
    from bundle_support import record_runs

    store = str(tmp_path / "store")
    record_runs(store, 1)
    assert main(["prove", "--consistency", *sizes, "--store", store]) == 2
    assert capsys.readouterr().err == ("tdprov prove: the log is empty: no audit has run on this store yet. "
                                       "Fix: run 'tdprov audit' first\n")


def test_prove_on_a_changed_log_says_what_to_do(store_dir: str, capsys: pytest.CaptureFixture) -> None:
    """A leaf batch changed to claim another first index: prove refuses (exit 1) and tells to audit and restore (its fix
    was "run 'tdprov prove --help' for the options")."""
    batch = sorted((Path(store_dir) / "log" / "leaves").iterdir())[1]
    batch.chmod(0o644)
    from prov_common.canonical_json import canonical_bytes

    doc = json.loads(batch.read_text())
    batch.write_bytes(canonical_bytes({**doc, "first": doc["first"] + 1}))
    assert main(["prove", "run-7", "--store", store_dir]) == 1
    err = capsys.readouterr().err
    assert "claims first index 6: it was moved" in err and "'tdprov audit' names every problem" in err and "--help" not in err, err


def test_the_offline_verifier_refuses_another_kind_of_object_signed_by_the_auditor(store_dir: str, verifier: Path, tmp_path: Path,
                                                                                  capsys: pytest.CaptureFixture) -> None:
    """The auditor's key signs audit states, catalogs, witness records and more beside checkpoints; DSSE binds the payload
    type into what is signed so that one kind is not taken for another. The published verifier did not look at it: the
    checkpoint's payload signed as another type passed as the checkpoint."""
    assert main(["prove", "run-7", "--store", store_dir]) == 0
    proof = json.loads(capsys.readouterr().out)
    stored = Envelope.from_json(json.dumps(proof["checkpoint"]["envelope"]).encode())
    other_type = "application/vnd.tdprov.audit-witness+json"
    proof["checkpoint"]["envelope"] = json.loads(sign_envelope(stored.payload, other_type, [default_signing_key()]).to_json())
    done = _run_verifier(verifier, proof, tmp_path)
    assert (done.stdout, done.stderr.strip()) == ("", f"FAIL: the envelope is not a checkpoint (payload type '{other_type}')")


def test_the_offline_verifier_refuses_a_checkpoint_with_a_signature_added(store_dir: str, verifier: Path, tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture) -> None:
    """A checkpoint is signed with one signature, as tdprov's own check and the bundle check of docs/bundles.md say; the
    published verifier took any that verified among several, so a signature added beside it passed."""
    assert main(["prove", "run-7", "--store", store_dir]) == 0
    proof = json.loads(capsys.readouterr().out)
    envelope = proof["checkpoint"]["envelope"]
    envelope["signatures"] = [{"keyid": "x", "sig": "AAAA"}, *envelope["signatures"]]
    done = _run_verifier(verifier, proof, tmp_path)
    assert (done.stdout, done.stderr.strip()) == ("", "FAIL: 2 signatures: a checkpoint is signed with one, any other was added")


def test_a_checkpoint_grown_after_it_was_verified_is_refused_not_read_whole(store_dir: str) -> None:
    """The proof document reads the newest checkpoint again after the proof was verified against it: a checkpoint
    grown (sparse) past the small-object bound in between is refused naming it, never read whole into memory."""
    import os

    from prov_common.bundle.layout import SMALL_OBJECT_LIMIT
    from prov_common.store.errors import ObjectTooLargeError
    from prov_common.store.local import LocalStore
    from prov_common.tlog.log import checkpoint_key
    from prov_common.tlog.proofs import inclusion_document

    grown = checkpoint_key(14)

    class GrowsAfterFirstRead(LocalStore):
        """A real local store whose newest checkpoint is grown once it has been read (and verified) once."""

        def get(self, key: str, limit: int | None = None) -> bytes:
            data = super().get(key, limit)
            if key == grown and not os.path.getsize(Path(store_dir) / grown) > SMALL_OBJECT_LIMIT:
                os.truncate(Path(store_dir) / grown, SMALL_OBJECT_LIMIT + 1)
            return data

    tlog = TransparencyLog(GrowsAfterFirstRead(store_dir), trust_from_settings())
    with pytest.raises(ObjectTooLargeError) as refused:
        inclusion_document(tlog, "run-7")
    assert f"'{grown}' in local folder {store_dir} is larger than {SMALL_OBJECT_LIMIT:,} bytes" in str(refused.value)
