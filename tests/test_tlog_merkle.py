"""RFC 6962 Merkle log: roots, proofs and verifiers checked against a plain recursive reference."""
from __future__ import annotations

import hashlib

import pytest

from prov_common.errors import VerificationError
from prov_common.tlog import merkle
from prov_common.tlog.model import Checkpoint, EMPTY_CHECKPOINT, LogLeaf

SIZES = range(1, 41)


# --- independent reference, written straight from the RFC 6962 definitions -------------------------

def _h(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return _h(b"")
    if len(leaves) == 1:
        return _h(b"\x00" + leaves[0])
    k = _k(len(leaves))
    return _h(b"\x01" + ref_mth(leaves[:k]) + ref_mth(leaves[k:]))


def ref_path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) == 1:
        return []
    k = _k(len(leaves))
    if m < k:
        return ref_path(m, leaves[:k]) + [ref_mth(leaves[k:])]
    return ref_path(m - k, leaves[k:]) + [ref_mth(leaves[:k])]


def ref_subproof(m: int, leaves: list[bytes], b: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if b else [ref_mth(leaves)]
    k = _k(n)
    if m <= k:
        return ref_subproof(m, leaves[:k], b) + [ref_mth(leaves[k:])]
    return ref_subproof(m - k, leaves[k:], False) + [ref_mth(leaves[:k])]


def ref_root_from_path(m: int, n: int, leaf_h: bytes, path: list[bytes]) -> bytes:
    """Rebuild the root from a leaf hash and its audit path, walking the tree shape."""
    if n == 1:
        assert not path
        return leaf_h
    k = _k(n)
    if m < k:
        return _h(b"\x01" + ref_root_from_path(m, k, leaf_h, path[:-1]) + path[-1])
    return _h(b"\x01" + path[-1] + ref_root_from_path(m - k, n - k, leaf_h, path[:-1]))


def ref_roots_from_consistency(m: int, n: int, proof: list[bytes], old_root: bytes, b: bool = True) -> tuple[bytes, bytes]:
    """Rebuild (old root, new root) from a consistency proof, walking the tree shape."""
    if m == n:
        if b:
            assert not proof
            return old_root, old_root
        assert len(proof) == 1
        return proof[0], proof[0]
    k = _k(n)
    if m <= k:
        o, w = ref_roots_from_consistency(m, k, proof[:-1], old_root, b)
        return o, _h(b"\x01" + w + proof[-1])
    o, w = ref_roots_from_consistency(m - k, n - k, proof[:-1], old_root, False)
    return _h(b"\x01" + proof[-1] + o), _h(b"\x01" + proof[-1] + w)


def _leaves(n: int) -> list[bytes]:
    return [f"leaf-{i}".encode() for i in range(n)]


def _flip(proof: list[bytes], i: int) -> list[bytes]:
    bad = list(proof)
    bad[i] = bytes([bad[i][0] ^ 1]) + bad[i][1:]
    return bad


# --- tests -------------------------------------------------------------------------------------------

def test_hashing_matches_rfc6962_prefixes() -> None:
    assert merkle.leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert merkle.node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()
    assert merkle.root_from_hashes([]) == hashlib.sha256(b"").digest()


@pytest.mark.parametrize("n", SIZES)
def test_root_and_inclusion_proofs(n: int) -> None:
    leaves = _leaves(n)
    hashes = [merkle.leaf_hash(x) for x in leaves]
    root = merkle.root_from_hashes(hashes)
    assert root == ref_mth(leaves)
    for m in range(n):
        proof = merkle.inclusion_proof(m, hashes)
        assert proof == ref_path(m, leaves)
        assert ref_root_from_path(m, n, hashes[m], proof) == root
        merkle.verify_inclusion(hashes[m], m, n, proof, root)
        with pytest.raises(VerificationError):
            merkle.verify_inclusion(merkle.leaf_hash(b"other"), m, n, proof, root)
        for i in range(len(proof)):
            with pytest.raises(VerificationError):
                merkle.verify_inclusion(hashes[m], m, n, _flip(proof, i), root)
        with pytest.raises(VerificationError):
            merkle.verify_inclusion(hashes[m], m, n, proof + [root], root)
        if proof:
            with pytest.raises(VerificationError):
                merkle.verify_inclusion(hashes[m], m, n, proof[:-1], root)
        if n > 1:
            with pytest.raises(VerificationError):
                merkle.verify_inclusion(hashes[m], (m + 1) % n, n, proof, root)
    with pytest.raises(VerificationError):
        merkle.verify_inclusion(hashes[0], n, n, [], root)


@pytest.mark.parametrize("n", SIZES)
def test_consistency_proofs(n: int) -> None:
    leaves = _leaves(n)
    hashes = [merkle.leaf_hash(x) for x in leaves]
    new_root = merkle.root_from_hashes(hashes)
    for m in range(1, n + 1):
        old_root = ref_mth(leaves[:m])
        proof = merkle.consistency_proof(m, hashes)
        assert proof == ref_subproof(m, leaves, True)
        assert ref_roots_from_consistency(m, n, proof, old_root) == (old_root, new_root)
        merkle.verify_consistency(m, n, old_root, new_root, proof)
        for i in range(len(proof)):
            with pytest.raises(VerificationError):
                merkle.verify_consistency(m, n, old_root, new_root, _flip(proof, i))
        if m < n:
            with pytest.raises(VerificationError):
                merkle.verify_consistency(m, n, _flip([old_root], 0)[0], new_root, proof)
            with pytest.raises(VerificationError):
                merkle.verify_consistency(m, n, old_root, _flip([new_root], 0)[0], proof)
            with pytest.raises(VerificationError):
                merkle.verify_consistency(m, n, old_root, new_root, [])
            # a forked log: same old prefix size but different later leaves
            forked = hashes[:m] + [merkle.leaf_hash(b"forged")] * (n - m)
            with pytest.raises(VerificationError):
                merkle.verify_consistency(m, n, ref_mth(leaves[:m][:-1] + [b"x"]), merkle.root_from_hashes(forked), merkle.consistency_proof(m, forked))


@pytest.mark.parametrize("n", SIZES)
def test_frontier_appends_match_full_root(n: int) -> None:
    hashes = [merkle.leaf_hash(x) for x in _leaves(n)]
    for split in range(n + 1):
        frontier = merkle.frontier_append([], hashes[:split], 0)
        frontier = merkle.frontier_append(frontier, hashes[split:], split)
        assert merkle.frontier_root(frontier) == ref_mth(_leaves(n))


def test_checkpoint_extend_and_tamper() -> None:
    leaves = [LogLeaf(f"run-{i}", f"blake3:{i:064x}", f"sha256:{i:064x}", f"bundles/{i}") for i in range(7)]
    cp1 = EMPTY_CHECKPOINT.extend([x.hash for x in leaves[:3]], time="2026-01-01T00:00:00Z", previous="", keyid="k")
    cp2 = cp1.extend([x.hash for x in leaves[3:]], time="2026-01-02T00:00:00Z", previous="sha256:ab", keyid="k")
    assert cp2.size == 7 and cp2.root_bytes == ref_mth([x.to_bytes() for x in leaves])
    assert Checkpoint.from_payload(cp2.payload()) == cp2
    assert LogLeaf.from_bytes(leaves[2].to_bytes()) == leaves[2]
    altered = cp2.payload().replace(cp2.root.encode(), cp1.root.encode() + b"0" * (len(cp2.root) - len(cp1.root)))
    with pytest.raises(VerificationError, match="frontier does not hash to its root"):
        Checkpoint.from_payload(altered)
    with pytest.raises(VerificationError, match="canonical"):
        LogLeaf.from_bytes(leaves[2].to_bytes() + b" ")


def test_consistency_proof_from_a_remembered_frontier_equals_the_full_one() -> None:
    """An auditor that kept only a checkpoint's frontier builds the same RFC 6962 proof from the leaves after it,
    and the proof fails against a log whose history was rewritten."""
    from prov_common.tlog import merkle as m

    for n in range(1, 40):
        hashes = [m.leaf_hash(f"leaf {i}".encode()) for i in range(n)]
        for old in range(1, n + 1):
            frontier = m.frontier_append([], hashes[:old], 0)
            proof = m.consistency_proof_from_frontier(old, frontier, hashes[old:])
            assert proof == m.consistency_proof(old, hashes)
            m.verify_consistency(old, n, m.root_from_hashes(hashes[:old]), m.root_from_hashes(hashes), proof)
    hashes = [m.leaf_hash(f"leaf {i}".encode()) for i in range(9)]
    rewritten = hashes[:2] + [m.leaf_hash(b"forged")] + hashes[3:]
    proof = m.consistency_proof_from_frontier(5, m.frontier_append([], hashes[:5], 0), rewritten[5:])
    with pytest.raises(VerificationError):
        m.verify_consistency(5, 9, m.root_from_hashes(hashes[:5]), m.root_from_hashes(rewritten), proof)
