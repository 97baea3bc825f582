"""RFC 6962 Merkle tree hashing, inclusion and consistency proofs, and their verifiers (no I/O).

Hashing follows RFC 6962 §2.1: ``leaf = SHA-256(0x00 || data)``, ``node = SHA-256(0x01 || left || right)``.
Proofs are built with the §2.1.1/§2.1.2 algorithms and checked with the RFC 9162 §2.1.3.2/§2.1.4.2
verification algorithms. Functions that build take the list of *leaf hashes*, so a caller hashes
each leaf once.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from prov_common.errors import VerificationError

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_from_hashes(hashes: Sequence[bytes]) -> bytes:
    """Merkle tree hash (MTH) of leaves given by their leaf hashes."""
    n = len(hashes)
    if n == 0:
        return EMPTY_ROOT
    return frontier_root(frontier_append([], hashes, 0))


def _subtree(hashes: Sequence[bytes], lo: int, hi: int) -> bytes:
    if hi - lo == 1:
        return hashes[lo]
    k = _split(hi - lo)
    return node_hash(_subtree(hashes, lo, lo + k), _subtree(hashes, lo + k, hi))


def inclusion_proof(index: int, hashes: Sequence[bytes]) -> list[bytes]:
    """Audit path PATH(m, D[n]) for leaf ``index`` in the tree of ``hashes`` (RFC 6962 §2.1.1)."""
    n = len(hashes)
    if not 0 <= index < n:
        raise ValueError(f"leaf index {index} outside a tree of size {n}")
    path: list[bytes] = []
    lo, hi, m = 0, n, index
    while hi - lo > 1:
        k = _split(hi - lo)
        if m < k:
            path.append(_subtree(hashes, lo + k, hi))
            hi = lo + k
        else:
            path.append(_subtree(hashes, lo, lo + k))
            lo, m = lo + k, m - k
    path.reverse()
    return path


def consistency_proof(old_size: int, hashes: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) that the first ``old_size`` leaves are a prefix of ``hashes`` (RFC 6962 §2.1.2)."""
    n = len(hashes)
    if not 0 < old_size <= n:
        raise ValueError(f"old tree size {old_size} must be between 1 and {n}")
    return _consistency_path(old_size, n, lambda lo, hi: _subtree(hashes, lo, hi))


def consistency_proof_from_frontier(old_size: int, old_frontier: Sequence[bytes], new_hashes: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) from what an auditor keeps of the old tree, its frontier, and the leaf hashes
    appended after it (``new_hashes`` are leaves ``old_size`` .. ``n - 1``): no old leaf is read.

    Every node of the proof is either a whole subtree of the old tree's frontier or a subtree of the
    leaves after it (RFC 6962 §2.1.2 never mixes them), so the proof is the one :func:`consistency_proof`
    gives over all ``n`` leaves.
    """
    if len(old_frontier) != bin(old_size).count("1"):
        raise ValueError(f"a frontier of {len(old_frontier)} nodes does not describe a tree of size {old_size}")
    ranges: dict[tuple[int, int], bytes] = {}
    lo = 0
    for bit, node in zip((b for b in range(old_size.bit_length() - 1, -1, -1) if old_size >> b & 1), old_frontier):
        ranges[(lo, lo + (1 << bit))] = node
        lo += 1 << bit

    def node(a: int, b: int) -> bytes:
        if b <= old_size:
            if (a, b) not in ranges:
                raise ValueError(f"subtree {a}..{b} is not a frontier node of a tree of size {old_size}")
            return ranges[(a, b)]
        if a < old_size:
            raise ValueError(f"subtree {a}..{b} spans the old tree's end {old_size}")
        return _subtree(new_hashes, a - old_size, b - old_size)

    n = old_size + len(new_hashes)
    if not 0 < old_size <= n:
        raise ValueError(f"old tree size {old_size} must be between 1 and {n}")
    return _consistency_path(old_size, n, node)


def _consistency_path(old_size: int, n: int, subtree: Callable[[int, int], bytes]) -> list[bytes]:
    """The SUBPROOF recursion of RFC 6962 §2.1.2, unrolled; ``subtree(lo, hi)`` is MTH(D[lo:hi])."""
    proof: list[bytes] = []
    lo, hi, m, complete = 0, n, old_size, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            proof.append(subtree(lo + k, hi))
            hi = lo + k
        else:
            proof.append(subtree(lo, lo + k))
            lo, m, complete = lo + k, m - k, False
    if not complete:
        proof.append(subtree(lo, hi))
    proof.reverse()
    return proof


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Check an inclusion proof of leaf hash ``leaf`` at ``index`` in a tree of ``size`` with ``root``.

    RFC 9162 §2.1.3.2. Raises :class:`VerificationError` if it does not verify.
    """
    if not 0 <= index < size:
        raise VerificationError(f"inclusion proof: leaf index {index} is not below tree size {size}")
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            raise VerificationError("inclusion proof is longer than the tree allows")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("inclusion proof is shorter than the tree requires")
    if r != root:
        raise VerificationError(f"inclusion proof does not lead to root {root.hex()} (got {r.hex()})")


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> None:
    """Check that the tree ``(new_size, new_root)`` extends ``(old_size, old_root)``.

    RFC 9162 §2.1.4.2. Raises :class:`VerificationError` if it does not verify.
    """
    if not 0 < old_size <= new_size:
        raise VerificationError(f"consistency proof: sizes {old_size} -> {new_size} are not increasing")
    if old_size == new_size:
        if proof:
            raise VerificationError("consistency proof between equal sizes must be empty")
        if old_root != new_root:
            raise VerificationError("two checkpoints of the same size have different roots: the log forked")
        return
    if not proof:
        raise VerificationError("consistency proof is empty")
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # exact power of two: the old root is the first node
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise VerificationError("consistency proof is longer than the trees allow")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("consistency proof is shorter than the trees require")
    if fr != old_root:
        raise VerificationError(f"consistency proof does not reproduce the old root {old_root.hex()}")
    if sr != new_root:
        raise VerificationError(f"consistency proof does not reproduce the new root {new_root.hex()}")


# Compact range ("frontier"): the roots of the perfect subtrees along the right edge of the tree,
# largest first. It lets a log append and compute its new root without reading old leaves.


def frontier_append(frontier: Sequence[bytes], hashes: Sequence[bytes], size: int) -> list[bytes]:
    """Frontier of a tree of ``size`` leaves after appending leaf ``hashes``."""
    stack = list(frontier)
    if len(stack) != bin(size).count("1"):
        raise VerificationError(f"frontier has {len(stack)} nodes but a tree of size {size} needs {bin(size).count('1')}")
    for h in hashes:
        node, s = h, size
        while s & 1:
            node = node_hash(stack.pop(), node)
            s >>= 1
        stack.append(node)
        size += 1
    return stack


def frontier_root(frontier: Sequence[bytes]) -> bytes:
    """Root hash of the tree described by its frontier."""
    if not frontier:
        return EMPTY_ROOT
    r = frontier[-1]
    for node in reversed(frontier[:-1]):
        r = node_hash(node, r)
    return r
