"""The Merkle log in a store: append, checkpoint chain, proofs, races and tampering."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from prov_common.canonical_json import canonical_bytes
from prov_common.errors import BadInputError, StoreUnavailableError, VerificationError
from prov_common.signing import SigningKey, TrustStore
from prov_common.store.local import LocalStore
from prov_common.tlog import merkle
from prov_common.bundle.layout import SMALL_OBJECT_LIMIT
from prov_common.tlog.log import LEAVES_PREFIX, TransparencyLog, altered_leaf, checkpoint_key, leaf_batch_key
from prov_common.tlog.model import EMPTY_CHECKPOINT, LogLeaf

from test_tlog_merkle import ref_mth, ref_path  # the independent reference implementation


def _leaves(a: int, b: int) -> list[LogLeaf]:
    return [LogLeaf(f"run-{i}", f"blake3:{i:064x}", f"sha256:{i:064x}", f"bundles/run-{i:04d}") for i in range(a, b)]


@pytest.fixture()
def key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture()
def tlog(tmp_path: Path, key: SigningKey) -> TransparencyLog:
    return TransparencyLog(LocalStore(tmp_path / "store"), TrustStore.of([key.public]))


def _grow(tlog: TransparencyLog, key: SigningKey, *steps: int) -> list[LogLeaf]:
    all_leaves: list[LogLeaf] = []
    for n in steps:
        batch = _leaves(len(all_leaves), len(all_leaves) + n)
        tlog.append(batch, key)
        all_leaves += batch
    return all_leaves


def test_append_checkpoints_chain_and_proofs(tlog: TransparencyLog, key: SigningKey) -> None:
    leaves = _grow(tlog, key, 3, 5, 1)
    state = tlog.verify()
    assert state.problems == []
    assert [c.checkpoint.size for c in state.checkpoints] == [3, 8, 9]
    assert state.checkpoints[1].checkpoint.previous == state.checkpoints[0].digest
    head = tlog.head()
    assert head is not None and head.checkpoint.root_bytes == ref_mth([x.to_bytes() for x in leaves])
    # inclusion proof of run-4 against the newest checkpoint, checked with the reference
    proof = tlog.inclusion_proof("run-4")
    proof.verify()
    assert [bytes.fromhex(h) for h in proof.path] == ref_path(4, [x.to_bytes() for x in leaves])
    # consistency 3 -> 9
    cons = tlog.consistency_proof(3, 9)
    cons.verify()
    merkle.verify_consistency(3, 9, bytes.fromhex(cons.old_root), head.checkpoint.root_bytes, [bytes.fromhex(h) for h in cons.path])
    # nothing new: no new checkpoint
    assert tlog.append([], key) == head
    assert tlog.last_leaf() == leaves[-1]
    with pytest.raises(BadInputError, match="run-99"):
        tlog.inclusion_proof("run-99")
    with pytest.raises(BadInputError, match="checkpoint sizes: 3, 8, 9"):
        tlog.consistency_proof(4, 9)


def test_incremental_verify_reads_only_new_leaves(tlog: TransparencyLog, key: SigningKey) -> None:
    tlog.append(_leaves(0, 4), key)
    first = tlog.head()
    tlog.append(_leaves(4, 8), key)
    tlog.append(_leaves(8, 10), key)
    state = tlog.verify(since=first)
    assert state.problems == [] and [x.run_id for x in state.leaves] == [f"run-{i}" for i in range(4, 10)]
    # an old leaf batch altered: incremental verification trusts the signed frontier; --full finds it
    path = Path(tlog.store.uri) / leaf_batch_key(0)
    path.write_bytes(path.read_bytes().replace(b"run-1", b"run-7"))
    assert tlog.verify(since=first).problems == []
    assert any("altered" in p.what for p in tlog.verify().problems)


def test_race_between_two_auditors_cannot_fork(tmp_path: Path, key: SigningKey) -> None:
    store = LocalStore(tmp_path / "s")
    a = TransparencyLog(store, TrustStore.of([key.public]))
    b = TransparencyLog(store, TrustStore.of([key.public]))
    a.append(_leaves(0, 2), key)
    # auditor A writes its leaves but stops before its checkpoint (simulated by writing the batch alone)
    from prov_common.tlog.log import _encode_batch

    store.put(leaf_batch_key(2), _encode_batch(2, _leaves(2, 4)))
    # auditor B appends an overlapping set: A's pending leaves are adopted, not duplicated
    head = b.append(_leaves(2, 6), key)
    assert head is not None and head.checkpoint.size == 6
    state = b.verify()
    assert state.problems == [] and [x.run_id for x in state.leaves] == [f"run-{i}" for i in range(6)]


def test_tampering_is_found(tlog: TransparencyLog, key: SigningKey, tmp_path: Path) -> None:
    _grow(tlog, key, 3, 4, 2)
    root = Path(tlog.store.uri)
    # 1) a flipped byte in a leaf batch
    leaf_file = root / leaf_batch_key(3)
    original = leaf_file.read_bytes()
    leaf_file.write_bytes(original.replace(b"run-4", b"run-X"))
    problems = tlog.verify().problems
    assert any(p.key == checkpoint_key(7) and "altered" in p.what for p in problems), problems
    leaf_file.write_bytes(original)
    # 2) a deleted leaf batch
    os.unlink(leaf_file)
    problems = tlog.verify().problems
    assert any("missing" in p.what or "deleted" in p.what for p in problems), problems
    leaf_file.write_bytes(original)
    # 3) a rewritten checkpoint signed by the trusted key (new time): the next one no longer chains to it
    cp_file = root / checkpoint_key(3)
    saved = cp_file.read_bytes()
    os.unlink(cp_file)
    other = TransparencyLog(tlog.store, tlog.trust)
    from prov_common.signing import sign_envelope
    from prov_common.tlog.model import CHECKPOINT_PAYLOAD_TYPE, Checkpoint
    from dataclasses import replace

    cp = Checkpoint.from_payload(__import__("prov_common.signing", fromlist=["Envelope"]).Envelope.from_json(saved).payload)
    cp_file.write_bytes(sign_envelope(replace(cp, time="2020-01-01T00:00:00Z").payload(), CHECKPOINT_PAYLOAD_TYPE, [key]).to_json())
    problems = other.verify().problems
    assert any(p.key == checkpoint_key(7) and "chain is broken" in p.what for p in problems), problems
    # 4) a checkpoint signed by an untrusted key
    cp_file.write_bytes(sign_envelope(cp.payload(), CHECKPOINT_PAYLOAD_TYPE, [SigningKey.generate()]).to_json())
    problems = other.verify().problems
    assert any(p.key == checkpoint_key(3) and "untrusted" in p.what for p in problems), problems
    # 5) a flipped byte in a checkpoint signature
    cp_file.write_bytes(saved.replace(b'"sig":"', b'"sig":"A', 1)[:-3] + saved[-2:])
    with pytest.raises(VerificationError):
        other.read_checkpoint(checkpoint_key(3))
    cp_file.write_bytes(saved)
    assert other.verify().problems == []


@pytest.mark.parametrize("frontier", [[1], [None], [["ab"]]], ids=["number", "null", "list"])
def test_a_signed_checkpoint_whose_frontier_holds_no_text_is_named_not_raised(tlog: TransparencyLog, key: SigningKey,
                                                                               frontier: list) -> None:
    """A checkpoint signed by a trusted key (a stolen one, or a retired one at a size before its cut-off) whose frontier
    holds a number, null or a list where hex belongs raised TypeError out of every read of the log, so one such object
    stopped every audit and proof. It is a damaged checkpoint, named with the fix, as a frontier of other text is."""
    from prov_common.signing import sign_envelope
    from prov_common.tlog.model import CHECKPOINT_PAYLOAD_TYPE, LOG_ORIGIN

    _grow(tlog, key, 2)
    payload = {"size": 3, "root": "00" * 32, "time": "2030-01-01T00:00:00Z", "previous": tlog.head().digest,
               "frontier": frontier, "keyid": key.key_id, "origin": LOG_ORIGIN}
    (Path(tlog.store.uri) / checkpoint_key(3)).write_bytes(
        sign_envelope(json.dumps(payload).encode(), CHECKPOINT_PAYLOAD_TYPE, [key]).to_json())
    with pytest.raises(VerificationError) as caught:
        tlog.head()
    assert caught.value.what == "checkpoint of size 3: root or frontier is not hex" and caught.value.subject == checkpoint_key(3)
    assert "restore it from a backup" in caught.value.fix
    assert [(p.key, p.what) for p in tlog.verify().problems] == [(checkpoint_key(3), "checkpoint of size 3: root or frontier is not hex")]


def test_the_log_after_a_lost_or_damaged_batch_is_still_checked(tlog: TransparencyLog, key: SigningKey) -> None:
    """A batch that cannot be read (or is gone) stopped the walk: no later batch was hashed to its checkpoint, so a leaf
    edited there went unnamed. The walk goes on from the frontier signed into the checkpoint a later batch begins at,
    names the checkpoints the lost leaves leave unchecked, and keeps the later leaves (with their index) to compare."""
    _grow(tlog, key, 3, 4, 2)  # batches 0, 3, 7; checkpoints 3, 7, 9
    root = Path(tlog.store.uri)
    damaged, later = root / leaf_batch_key(3), root / leaf_batch_key(7)
    saved = damaged.read_bytes()
    damaged.write_bytes(saved[:-2])
    later.write_bytes(later.read_bytes().replace(b"run-8", b"run-Y"))
    state = tlog.verify()
    named = {p.key: p.what for p in state.problems}
    assert "is damaged" in named[leaf_batch_key(3)], named
    assert named[checkpoint_key(7)].startswith("log leaves 3..6 could not be checked against checkpoint(s) 7: "
                                               f"the leaf batch '{leaf_batch_key(3)}' cannot be read"), named
    assert "a leaf or the checkpoint was altered" in named[checkpoint_key(9)], named
    assert [x.run_id for x in state.leaves] == ["run-0", "run-1", "run-2"]
    assert [(s.first, s.base and s.base.size, [x.run_id for x in s.leaves]) for s in state.later] == [(7, 7, ["run-7", "run-Y"])]
    # no checkpoint where a later batch begins (the one of size 7 gone too): the later leaves are kept to compare, unchecked
    damaged.unlink()
    (root / checkpoint_key(7)).unlink()
    state = tlog.verify()
    named = {p.key: p.what for p in state.problems}
    assert named[leaf_batch_key(7)] == f"log leaves 3..6 are missing before '{leaf_batch_key(7)}'", named
    assert named[checkpoint_key(9)].startswith("log leaves 3..8 could not be checked against checkpoint(s) 9: the log leaves 3..6 "
                                               "are missing"), named
    assert [(s.first, s.base, [x.run_id for x in s.leaves]) for s in state.later] == [(7, None, ["run-7", "run-Y"])]


@pytest.mark.parametrize("unread", ["too large", "no regular object"])
def test_a_batch_too_large_or_no_regular_object_is_named_and_the_log_after_it_still_checked(
        tlog: TransparencyLog, key: SigningKey, unread: str) -> None:
    """A batch too large to be a batch, or a named pipe at its key: the store's refusal carried no subject, so the walk
    named the folder log/leaves/ and stopped there, and a leaf edited in a later batch went unnamed. The batch is named
    by its key and the log after it is checked, as after a batch that is damaged."""
    _grow(tlog, key, 3, 4, 2)  # batches 0, 3, 7; checkpoints 3, 7, 9
    root = Path(tlog.store.uri)
    lost, later = root / leaf_batch_key(3), root / leaf_batch_key(7)
    later.write_bytes(later.read_bytes().replace(b"run-8", b"run-Y"))
    lost.unlink()
    if unread == "too large":
        with lost.open("wb") as f:
            f.truncate(SMALL_OBJECT_LIMIT + 1)
    else:
        os.mkfifo(lost)
    state = tlog.verify()
    named = {p.key: p.what for p in state.problems}
    assert LEAVES_PREFIX not in named, named
    assert f"'{leaf_batch_key(3)}'" in named[leaf_batch_key(3)], named
    assert named[checkpoint_key(7)].startswith("log leaves 3..6 could not be checked against checkpoint(s) 7: "
                                               f"the leaf batch '{leaf_batch_key(3)}' cannot be read"), named
    assert "a leaf or the checkpoint was altered" in named[checkpoint_key(9)], named
    assert [(s.first, [x.run_id for x in s.leaves]) for s in state.later] == [(7, ["run-7", "run-Y"])]


@pytest.mark.parametrize("junk", ["damaged", "too large", "claims another first index"])
def test_an_unreadable_batch_planted_inside_the_hashed_leaves_is_named_and_the_log_still_checked(
        tlog: TransparencyLog, key: SigningKey, junk: str) -> None:
    """Junk at the key of leaf 5, inside batch 3 (leaves 3..6), which was hashed already: it was taken for a lost batch,
    so batch 7 was not hashed on from the running frontier and checkpoint 9 was named as not checked against leaves
    "7..8". Its key tells it begins inside the leaves hashed: it is named as planted there, and nothing else is."""
    _grow(tlog, key, 3, 4, 2)  # batches 0, 3, 7; checkpoints 3, 7, 9
    planted = Path(tlog.store.uri) / leaf_batch_key(5)
    if junk == "damaged":
        planted.write_bytes(b'{"first": 5, "leaves": [')
    elif junk == "too large":
        with planted.open("wb") as f:
            f.truncate(SMALL_OBJECT_LIMIT + 1)
    else:
        planted.write_bytes((Path(tlog.store.uri) / leaf_batch_key(7)).read_bytes())
    state = tlog.verify()
    [(named, what)] = [(p.key, p.what) for p in state.problems]
    assert named == leaf_batch_key(5) and what.startswith(f"log leaf batch '{leaf_batch_key(5)}' begins at leaf 5, inside the "
                                                          "batch before it (which holds the leaves up to 6)"), what
    assert "it cannot be read either" in what, what
    assert [x.run_id for x in state.leaves] == [f"run-{i}" for i in range(9)] and state.later == []


def test_a_leaf_altered_in_its_batch_is_told_from_what_the_walk_read(tlog: TransparencyLog, key: SigningKey,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Telling a leaf altered in its batch hashed every leaf from the walk's start to the checkpoint after it twice, and
    finding its batch listed the whole of log/leaves/, for each changed bundle, though the walk over the log had hashed
    those leaves and listed those keys. With what the walk read (its roots and keys) the leaves as read are not hashed
    again, the leaf is hashed in from the last checkpoint before it whose root they hashed to, and nothing is listed."""
    leaves = _grow(tlog, key, 3, 4, 2, 5)  # batches 0, 3, 7, 9; checkpoints 3, 7, 9, 14
    batch = Path(tlog.store.uri) / leaf_batch_key(7)
    batch.write_bytes(batch.read_bytes().replace(leaves[8].manifest_digest.encode(), f"blake3:{99:064x}".encode()))
    state = tlog.verify()
    assert [p.key for p in state.problems] == [checkpoint_key(9), checkpoint_key(14)], state.problems
    hashed: list[int] = []
    append, listing = merkle.frontier_append, tlog.store.list
    monkeypatch.setattr(merkle, "frontier_append", lambda f, hashes, size: hashed.append(len(hashes)) or append(f, hashes, size))
    monkeypatch.setattr(tlog.store, "list", lambda *a, **kw: pytest.fail(f"listed {a}"))
    for as_read in (None, state.roots):
        hashed.clear()
        signed = altered_leaf(EMPTY_CHECKPOINT, state.leaves, 8, leaves[8], state.checkpoints, as_read)
        assert signed is not None and signed.key == checkpoint_key(9)
        assert hashed == ([9, 9] if as_read is None else [2]), hashed  # leaves 7..8, from checkpoint 7's signed frontier
        assert altered_leaf(EMPTY_CHECKPOINT, state.leaves, 10, leaves[10], state.checkpoints, as_read) is None
    assert tlog.batch_key_of(8, state.batch_keys) == leaf_batch_key(7)
    monkeypatch.setattr(tlog.store, "list", listing)
    assert tlog.batch_key_of(8) == leaf_batch_key(7)


@pytest.mark.parametrize("damage", ["emptied", "moved"])
def test_the_newest_leaf_of_a_batch_that_cannot_be_read_is_refused_naming_the_batch(tlog: TransparencyLog, key: SigningKey,
                                                                                   damage: str) -> None:
    """The newest batch emptied (an IndexError, naming nothing) or put under a later key (its last leaf taken for the
    newest of the log): refused naming the batch by its key, with the fix, as the walk over the log names it."""
    _grow(tlog, key, 3, 4)  # batches 0, 3; checkpoints 3, 7
    root = Path(tlog.store.uri)
    newest = leaf_batch_key(3)
    if damage == "emptied":
        (root / newest).write_bytes(canonical_bytes({"first": 3, "leaves": []}))
    else:
        newest = leaf_batch_key(9)
        (root / newest).write_bytes((root / leaf_batch_key(3)).read_bytes())
    with pytest.raises(VerificationError) as refused:
        tlog.last_leaf()
    assert refused.value.subject == newest and f"log leaf batch '{newest}'" in refused.value.what, refused.value.what
    assert ("emptied" if damage == "emptied" else "moved") in refused.value.what and refused.value.fix, refused.value.fix


class _Unavailable(LocalStore):
    """The real local store, where reading ``key`` fails as a store that cannot be reached fails."""

    def __init__(self, root: Path, key: str) -> None:
        super().__init__(root)
        self.unavailable = key

    def get(self, key: str, limit: int | None = None) -> bytes:
        if key == self.unavailable:
            raise StoreUnavailableError(f"{self.describe()} did not answer reading '{key}'.", fix="retry later")
        return super().get(key, limit)


def test_the_readable_leaves_skip_damaged_batches_but_not_a_store_that_cannot_be_reached(tlog: TransparencyLog,
                                                                                         key: SigningKey) -> None:
    """The leaves a full audit takes as logged past a damaged batch (so as never to log them twice) left out a batch the
    store did not answer for, as if it were damaged, so that its runs were taken for never logged. A damaged batch is
    still skipped (the walk over the log names it); the store's error is raised, as the walk raises it."""
    _grow(tlog, key, 3, 4, 2)  # batches 0, 3, 7
    root = Path(tlog.store.uri)
    (root / leaf_batch_key(0)).write_bytes(b'{"first": 0, "leaves": [')
    assert [x.run_id for x in tlog.readable_leaves()] == [f"run-{i}" for i in range(3, 9)]
    unanswered = TransparencyLog(_Unavailable(root, leaf_batch_key(3)), tlog.trust)
    with pytest.raises(StoreUnavailableError, match=leaf_batch_key(3)):
        unanswered.readable_leaves()
