"""The Merkle log in a store: leaf batches and signed checkpoints, written once, never rewritten.

Layout (all objects write-once)::

    log/leaves/<first index, 12 digits>.json     {"first": i, "leaves": [leaf, ...]}  (a batch of <= 1000)
    log/checkpoints/<tree size, 12 digits>.json  DSSE envelope of a Checkpoint

There is no "latest" pointer (it would have to be rewritten): the newest checkpoint is the last key
listed. Two auditors appending at the same moment race for the same leaf-batch and checkpoint keys;
the store's conditional write lets one win and the other gets ``ObjectConflictError``, re-reads the
new head and retries, so the log can never fork.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from prov_common.bundle.layout import SMALL_OBJECT_LIMIT, one_run_meant, prefix_hint
from prov_common.canonical_json import canonical_bytes, loads
from prov_common.errors import BadInputError, ObjectConflictError, StoreUnavailableError, TdprovError, VerificationError
from prov_common.signing import SigningKey, TrustStore, open_envelope, sign_envelope
from prov_common.store._base import put_listed
from prov_common.store.base import Store
from prov_common.store.errors import ObjectNotFoundError, UnreadableObjectError
from prov_common.text import counted
from prov_common.tlog import merkle
from prov_common.tlog.model import (
    CHECKPOINT_PAYLOAD_TYPE,
    EMPTY_CHECKPOINT,
    Checkpoint,
    ConsistencyProof,
    InclusionProof,
    LogLeaf,
    sha256_digest,
)

log = logging.getLogger(__name__)

LEAVES_PREFIX = "log/leaves/"
CHECKPOINTS_PREFIX = "log/checkpoints/"
BATCH_LIMIT = 1000
_DIGITS = 12
MAX_RETRIES = 20


class NotLoggedError(BadInputError):
    """A run id that names no run in the log (a typo, or a run no audit has logged yet)."""


FIX_CHANGED = "the store's log was changed: 'tdprov audit' names every problem; restore the log objects from a backup or replica"
FIX_NOT_THE_LOGS = "remove that leaf batch (find out who wrote it: only auditors write under log/), then audit again"
"""The fix of a leaf batch whose leaves are not the log's where it lies (planted inside the log, or copied past its end):
what is wrong is that object, not a log object lost or altered (:data:`FIX_CHANGED`)."""


def _overlapping(key: str, first: int, expected: int) -> VerificationError:
    """The error of a leaf batch at ``key`` that begins at leaf ``first``, before the batch ahead of it ends (``expected``)."""
    return VerificationError(f"log leaf batch '{key}' begins at leaf {first}, inside the batch before it (which holds the leaves "
                             f"up to {expected - 1}): auditors write each leaf once, so it was planted or copied there",
                             fix=FIX_NOT_THE_LOGS)


def _planted(key: str, first: int, expected: int, unread: TdprovError | None = None) -> VerificationError:
    """The error of a leaf batch at ``key`` whose key begins at leaf ``first``, inside the batch ahead of it (which ends at
    ``expected``): planted there, whatever it holds; ``unread``: why it cannot be read either. Named as its ``subject``."""
    exc = _overlapping(key, first, expected)
    if unread is not None:
        exc = VerificationError(f"{exc.what} (it cannot be read either: {unread.what})", exc.fix)
    exc.subject = key
    return exc


def _emptied(key: str) -> VerificationError:
    """The error of the leaf batch at ``key`` that holds no leaves (auditors write no empty batch), naming it as its ``subject``."""
    exc = VerificationError(f"log leaf batch '{key}' holds no leaves: it was emptied", fix=FIX_CHANGED)
    exc.subject = key
    return exc


def leaf_batch_key(first: int) -> str:
    return f"{LEAVES_PREFIX}{first:0{_DIGITS}d}.json"


def checkpoint_key(size: int) -> str:
    return f"{CHECKPOINTS_PREFIX}{size:0{_DIGITS}d}.json"


def _number(key: str, prefix: str) -> int | None:
    stem = key[len(prefix):].removesuffix(".json")
    return int(stem) if stem.isdigit() and len(stem) == _DIGITS else None


def altered_leaf(start: Checkpoint, leaves: Sequence[LogLeaf], index: int, logged: LogLeaf,
                 checkpoints: Sequence[StoredCheckpoint], as_read: Mapping[int, str] | None = None) -> StoredCheckpoint | None:
    """The checkpoint that proves leaf ``index`` of ``leaves`` (the leaves after ``start``, as read) altered in its batch:
    the first one of ``checkpoints`` past that leaf, when the leaves do not hash to its root as read but do with
    ``logged`` (the leaf of the bundle as it is now) in its place. None when no checkpoint tells so.

    ``as_read``: the roots the walk over the log hashed the same leaves to, by checkpoint size (:attr:`LogState.roots`).
    Where it holds that checkpoint's, the leaves are not hashed again as read, and ``logged`` is hashed in from the last
    checkpoint before the leaf whose root they hashed to (its signed frontier stands for the leaves before it)."""
    at = start.size + index
    covering = sorted((c for c in checkpoints if at < c.checkpoint.size <= start.size + len(leaves)), key=lambda c: c.checkpoint.size)
    if not covering:
        return None
    signed = covering[0].checkpoint
    read = as_read or {}
    if read.get(signed.size) == signed.root:
        return None
    begin = max((c.checkpoint for c in checkpoints if start.size < c.checkpoint.size <= at and read.get(c.checkpoint.size) == c.checkpoint.root),
                key=lambda c: c.size, default=start)
    hashes = [x.hash for x in leaves[begin.size - start.size: signed.size - start.size]]

    def root() -> str:
        return merkle.frontier_root(merkle.frontier_append(begin.frontier_bytes, hashes, begin.size)).hex()

    if signed.size not in read and root() == signed.root:
        return None
    hashes[at - begin.size] = logged.hash
    return covering[0] if root() == signed.root else None


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class StoredCheckpoint:
    """A checkpoint as read from the store: the parsed model, its key, and the digest of its bytes."""

    checkpoint: Checkpoint
    key: str
    digest: str
    signer: str = ""


@dataclass
class LogProblem:
    """Something wrong with the log, naming the object."""

    key: str
    what: str
    fix: str = "restore the object from a backup or a replica of the store; stored objects are never rewritten"


@dataclass
class LogSegment:
    """Leaves read after a leaf batch that is missing or cannot be read, beginning at leaf ``first``. ``base``: the
    checkpoint of size ``first`` from whose signed frontier they were hashed to the checkpoints after it; None when no
    checkpoint lets them be (they can be compared with their bundles only)."""

    first: int
    leaves: list[LogLeaf]
    base: Checkpoint | None = None


def _unchecked(lost: tuple[int, str], checkpoints: Sequence[StoredCheckpoint]) -> LogProblem:
    """The problem of ``checkpoints`` that cannot be hashed from the leaves, ``lost`` (the first leaf not hashed, and
    why) coming before them; named by the first of them."""
    at, why = lost
    sizes = ", ".join(str(sc.checkpoint.size) for sc in checkpoints)
    last = checkpoints[-1].checkpoint.size
    return LogProblem(checkpoints[0].key, f"log leaves {at}..{last - 1} could not be checked against checkpoint(s) {sizes}: {why}, "
                      "so those checkpoints cannot be rebuilt from the leaves (the leaves after them are checked from the frontier "
                      "signed into a later checkpoint where a batch begins at one, and each leaf read is compared with its bundle)",
                      "restore the missing or damaged leaf batch from a backup or a replica of the store, then run 'tdprov audit --full' again")


@dataclass
class LogState:
    """What a walk over the log found: leaves, checkpoints, and problems."""

    leaves: list[LogLeaf] = field(default_factory=list)
    checkpoints: list[StoredCheckpoint] = field(default_factory=list)
    problems: list[LogProblem] = field(default_factory=list)
    later: list[LogSegment] = field(default_factory=list)  # leaves read after a missing or unreadable batch, not in ``leaves``
    roots: dict[int, str] = field(default_factory=dict)  # checkpoint size -> the root the leaves as read hash to there
    batch_keys: list[str] = field(default_factory=list)  # the leaf batches' keys the walk listed

    @property
    def head(self) -> StoredCheckpoint | None:
        return self.checkpoints[-1] if self.checkpoints else None


def _encode_batch(first: int, leaves: Sequence[LogLeaf]) -> bytes:
    return canonical_bytes({"first": first, "leaves": [x.to_dict() for x in leaves]})


def _decode_batch(data: bytes, key: str, strict: bool = True) -> tuple[int, list[LogLeaf]]:
    try:
        doc = loads(data)
        first, items = doc["first"], doc["leaves"]
        if not isinstance(first, int) or not isinstance(items, list):
            raise TypeError("'first' or 'leaves' has the wrong type")
    except (ValueError, KeyError, TypeError) as exc:
        raise VerificationError(f"log leaf batch '{key}' is damaged ({exc})", fix="restore it from a backup") from exc
    leaves = [LogLeaf.from_dict(x, f"leaf {first + i} in '{key}'") for i, x in enumerate(items)]
    if strict and _encode_batch(first, leaves) != data:
        raise VerificationError(f"log leaf batch '{key}' is not in canonical form (it was edited)", fix="restore it from a backup")
    return first, leaves


def statement_positions(leaves: Sequence[LogLeaf], first: int = 0) -> dict[str, int]:
    """The statement digest of each leaf -> its leaf index + 1 (``leaves`` start at index ``first``)."""
    return {leaf.statement_digest: first + i + 1 for i, leaf in reversed(list(enumerate(leaves)))}


def empty_log() -> BadInputError:
    """The refusal of a proof from a log no audit has started: there is no checkpoint to prove against."""
    return BadInputError("the log is empty: no audit has run on this store yet.", fix="run 'tdprov audit' first")


class TransparencyLog:
    """Append-only Merkle log of bundles in ``store``; checkpoints verify under ``trust``."""

    def __init__(self, store: Store, trust: TrustStore, *, read_once: bool = False) -> None:
        """``read_once``: read each checkpoint once and keep it, for one operation that asks for the same
        checkpoints several times (an audit); by default every read goes to the store."""
        self.store = store
        self.trust = trust
        self._checkpoints: dict[str, StoredCheckpoint] | None = {} if read_once else None
        self.written: dict[str, str] = {}  # the leaf batches and checkpoints this log's appends wrote: key -> SHA-256 of the bytes
        self.listed: dict[str, str] = {}  # of the leaf batches, the fingerprint the store's listing gives each, where it told it
        self.appended: list[LogLeaf] = []  # of the leaves given to the last append, those its checkpoint logged
        self._spans_checked: set[tuple[int, int]] = set()  # (checkpoint sizes) whose leaves check_batch hashed to the later root

    # -- reading ------------------------------------------------------------------------------
    def checkpoint_keys(self, after: str | None = None) -> list[str]:
        """Checkpoint keys in order of tree size; with ``after``, only those listed after that key."""
        return [k for k in self.store.list(CHECKPOINTS_PREFIX, start_after=after) if _number(k, CHECKPOINTS_PREFIX) is not None]

    def sizes_refusal(self, what: str, fix: str) -> BadInputError:
        """A refusal of checkpoint sizes given by hand: ``what``, fixed by ``fix`` followed by the sizes there are
        (``5, 13, 14``); on a log with no checkpoint, :func:`empty_log` (its fix runs an audit)."""
        sizes = [str(_number(k, CHECKPOINTS_PREFIX)) for k in self.checkpoint_keys()]
        return BadInputError(what, fix=f"{fix}: {', '.join(sizes)}") if sizes else empty_log()

    def read_checkpoint(self, key: str) -> StoredCheckpoint:
        """Read, verify the signature of, and parse the checkpoint at ``key`` (kept with ``read_once``). A failure
        names the checkpoint as its ``subject`` (see :class:`~prov_common.errors.TdprovError`)."""
        if self._checkpoints is not None and key in self._checkpoints:
            return self._checkpoints[key]
        try:
            read = self._read_checkpoint(key)
        except TdprovError as exc:
            exc.subject = exc.subject or key
            raise
        if self._checkpoints is not None:
            self._checkpoints[key] = read
        return read

    def _read_checkpoint(self, key: str) -> StoredCheckpoint:
        data = self.store.get(key, SMALL_OBJECT_LIMIT)
        opened = open_envelope(data, self.trust, CHECKPOINT_PAYLOAD_TYPE, what=f"checkpoint '{key}'",
                               position=_number(key, CHECKPOINTS_PREFIX))  # its size, which it must claim (below)
        cp = Checkpoint.from_payload(opened.payload, f"checkpoint '{key}'")
        if checkpoint_key(cp.size) != key:
            raise VerificationError(f"checkpoint '{key}' claims tree size {cp.size}: it was moved or renamed", fix=FIX_CHANGED)
        return StoredCheckpoint(cp, key, sha256_digest(data), opened.key_id)

    def head(self) -> StoredCheckpoint | None:
        """The newest checkpoint (verified), or None for an empty log."""
        keys = self.checkpoint_keys()
        return self.read_checkpoint(keys[-1]) if keys else None

    def batch_key_of(self, index: int, listed: Sequence[str] = ()) -> str:
        """The key of the leaf batch that holds leaf ``index``: the last one listed that begins at or before it. ``listed``:
        the keys a walk over the log listed from some leaf on (:attr:`LogState.batch_keys`); the folder is listed again
        only when none of them begins at or before ``index``."""
        for keys in (listed, None):
            held = [k for k in (self.store.list(LEAVES_PREFIX) if keys is None else keys)
                    if (first := _number(k, LEAVES_PREFIX)) is not None and first <= index]
            if held:
                return held[-1]
        return leaf_batch_key(index)

    def iter_batches(self, start: int = 0, strict: bool = True) -> Iterator[tuple[str, int, list[LogLeaf]]]:
        """Leaf batches whose first index is ``>= start`` (listing starts there: cost follows what is new).

        ``strict`` also checks that each batch is in canonical form (``verify`` needs it; reading for
        run ids does not, as the tree check finds any change). A batch that is damaged or under another batch's key
        fails with an error naming it as its ``subject`` (see :class:`~prov_common.errors.TdprovError`)."""
        for key in self._batch_keys(start):
            yield key, *self._read_batch(key, strict)

    def _batch_keys(self, start: int) -> list[str]:
        """The keys of the leaf batches whose first index is ``>= start``, as listed."""
        after = leaf_batch_key(start - 1) if start > 0 else None
        return [k for k in self.store.list(LEAVES_PREFIX, start_after=after) if _number(k, LEAVES_PREFIX) is not None]

    def _read_batch(self, key: str, strict: bool = True) -> tuple[int, list[LogLeaf]]:
        """The first index and leaves of the batch at ``key`` (as listed); one damaged, under another batch's key, too large,
        no regular object or gone since it was listed fails with an error naming it as its ``subject``, an error of the
        store itself as it comes."""
        try:
            first, leaves = _decode_batch(self.store.get(key, SMALL_OBJECT_LIMIT), key, strict)
            if leaf_batch_key(first) != key:
                raise self._moved(key, first)
        except ObjectNotFoundError as exc:  # listed, then deleted before this read
            gone = ObjectNotFoundError(f"log leaf batch '{key}' was listed but is gone: it was deleted while the log was read",
                                       fix="restore the deleted leaf batch from a backup or a replica of the store, then run "
                                           "'tdprov audit --full' again")
            gone.subject = key
            raise gone from exc
        except (VerificationError, UnreadableObjectError) as exc:
            exc.subject = exc.subject or key
            raise
        return first, leaves

    def _moved(self, key: str, first: int) -> VerificationError:
        """The error of the leaf batch at ``key`` that claims to begin at leaf ``first``, not where its key says, naming it
        as its ``subject``. Under a key inside the log (before the newest checkpoint that verifies ends) it holds the log's
        leaves away from where the log vouches for them: the log objects are restored (:data:`FIX_CHANGED`). Under a key
        past the log's end no leaf it holds is the log's there (a batch copied or moved there): it is removed
        (:data:`FIX_NOT_THE_LOGS`). A checkpoint listed after that one that does not verify (planted, or altered: the walk
        names it) does not move the end."""
        end, skipped = self._verified_end()
        if (_number(key, LEAVES_PREFIX) or 0) < end:
            exc = VerificationError(f"log leaf batch '{key}' claims first index {first}: it was moved", fix=FIX_CHANGED)
        else:
            newest = "the newest checkpoint that verifies" if skipped else "the newest checkpoint"
            exc = VerificationError(f"log leaf batch '{key}' claims first index {first}: it was copied or moved past the log's end "
                                    f"({newest} covers {counted(end, 'leaf', 'leaves')}), so its leaves are not the log's",
                                    fix=FIX_NOT_THE_LOGS)
        exc.subject = key
        return exc

    def _verified_end(self) -> tuple[int, bool]:
        """The size of the newest checkpoint that verifies, and whether a checkpoint listed after it does not. When none
        verifies (the keys that signed them are not trusted here, say), the size the newest checkpoint's key gives."""
        sizes = [(k, n) for k in self.checkpoint_keys() if (n := _number(k, CHECKPOINTS_PREFIX)) is not None]
        for key, size in reversed(sizes):
            try:
                self.read_checkpoint(key)
            except StoreUnavailableError:
                raise
            except TdprovError:
                continue
            return size, key != sizes[-1][0]
        return (sizes[-1][1] if sizes else 0), False

    def read_leaves(self, start: int = 0, strict: bool = True, end: int | None = None) -> list[LogLeaf]:
        """The leaves from index ``start`` (which must begin a batch) on, checking there are no gaps; with ``end``, only
        those before it: the batches listed after the one that holds leaf ``end - 1`` are not read (what lies past a
        checkpoint, a batch planted or copied there included, is no part of the leaves it covers)."""
        out: list[LogLeaf] = []
        expected = start
        if end is not None and end <= start:
            return out
        for key, first, leaves in self.iter_batches(start, strict):
            if first < expected:
                raise _overlapping(key, first, expected)
            if first != expected:
                raise VerificationError(
                    f"log leaves {expected}..{first - 1} are missing (next batch is '{key}')",
                    fix="restore the deleted leaf batch from a backup",
                )
            out.extend(leaves)
            expected = first + len(leaves)
            if end is not None and expected >= end:
                return out[: end - start]
        return out

    def leaves_from(self, index: int, end: int | None = None) -> list[LogLeaf]:
        """The leaves from ``index`` on (before ``end``, see :meth:`read_leaves`), wherever their batch begins: one
        listing of ``log/leaves/`` and a read of each batch from the one that holds ``index`` (cost follows what came
        after it)."""
        firsts = [n for k in self.store.list(LEAVES_PREFIX) if (n := _number(k, LEAVES_PREFIX)) is not None]
        start = max((f for f in firsts if f <= index), default=0)
        return self.read_leaves(start, end=end)[index - start:]

    def prove_extends(self, old: Checkpoint, head: StoredCheckpoint, read: tuple[int, Sequence[LogLeaf]] | None = None,
                      ) -> tuple[ConsistencyProof, list[LogLeaf]]:
        """RFC 6962 consistency proof that ``head`` extends ``old`` (a checkpoint remembered outside the
        store), built from ``old``'s frontier and the leaves after it, and verified; with those leaves.
        ``read``: the leaves a caller read already from an index on (to ``head``); when they hold every leaf after
        ``old``, they are taken instead of reading the log again (the proof checks them as it checks those read).

        Raises :class:`VerificationError` naming what does not hold: the log is shorter, leaves after
        ``old`` are missing, or the trees are not consistent (history was rewritten).
        """
        new = head.checkpoint
        if new.size < old.size:
            raise VerificationError(f"the log has {new.size} leaves (checkpoint '{head.key}') but a checkpoint of {old.size} leaves was "
                                    "verified before: it was rolled back or checkpoints were deleted", fix=FIX_CHANGED)
        if new.size <= old.size:
            leaves: list[LogLeaf] = []
        elif read is not None and read[0] <= old.size and read[0] + len(read[1]) >= new.size:
            leaves = list(read[1][old.size - read[0]: new.size - read[0]])
        else:
            leaves = self.leaves_from(old.size, new.size)
        if len(leaves) < new.size - old.size:
            raise VerificationError(f"checkpoint '{head.key}' covers {new.size} leaves but the log holds only {old.size + len(leaves)}",
                                    fix=FIX_CHANGED)
        path = merkle.consistency_proof_from_frontier(old.size, old.frontier_bytes, [x.hash for x in leaves]) if old.size else []
        proof = ConsistencyProof(old.size, new.size, old.root, new.root, tuple(h.hex() for h in path))
        if old.size:
            proof.verify()
        return proof, leaves

    def check_batch(self, key: str) -> None:
        """A leaf batch met after it was written: in canonical form at its key, and hashing, with the leaves
        around it, from the frontier of the last checkpoint before it to the root of the first checkpoint
        that covers it. Raises :class:`VerificationError` naming what does not hold (a batch no checkpoint
        covers was written by no auditor that finished). A batch whose key begins inside the batch before it is planted
        there first, as the walk over the log tells it, whether or not it can be read (:func:`_planted`)."""
        firsts = [n for k in self.store.list(LEAVES_PREFIX) if (n := _number(k, LEAVES_PREFIX)) is not None]
        at = _number(key, LEAVES_PREFIX)
        previous = max((f for f in firsts if at is not None and f < at), default=None)
        ends = None
        if previous is not None:  # the batch before it must end where it begins: auditors write each leaf once
            before_key = leaf_batch_key(previous)
            ends = previous + len(_decode_batch(self.store.get(before_key, SMALL_OBJECT_LIMIT), before_key, strict=False)[1])
        try:
            first, leaves = _decode_batch(self.store.get(key, SMALL_OBJECT_LIMIT), key, strict=True)
            if leaf_batch_key(first) != key:
                raise self._moved(key, first)
        except (VerificationError, UnreadableObjectError) as exc:
            if at is not None and ends is not None and ends > at:
                raise _planted(key, at, ends, exc) from exc
            raise
        if ends is not None and ends > first:
            raise _planted(key, first, ends)
        if not leaves:  # auditors write no empty batch: one emptied covers nothing, and would hash to any root
            raise _emptied(key)
        end = first + len(leaves)
        sizes = [n for k in self.checkpoint_keys() if (n := _number(k, CHECKPOINTS_PREFIX)) is not None]
        before = max((s for s in sizes if s <= first), default=0)
        after = min((s for s in sizes if s >= end), default=None)
        if after is None:
            raise VerificationError(f"no checkpoint covers the log leaves {first}..{end - 1} of '{key}': no auditor that finished wrote them",
                                    fix="audit again: an audit that finds leaves after the newest checkpoint checkpoints them when they "
                                        "describe the store's bundles")
        if (before, after) in self._spans_checked:  # every batch between these checkpoints was read and hashed already
            return
        old = self._checkpoint_of_size(before).checkpoint if before else EMPTY_CHECKPOINT
        new = self._checkpoint_of_size(after).checkpoint
        span: list[LogLeaf] = []
        for _key, start, leaves_of in self.iter_batches(max((f for f in firsts if f <= before), default=0)):  # up to `after`, no further
            span.extend(leaves_of[max(0, before - start):])
            if start + len(leaves_of) >= after:
                break
        span = span[: after - before]
        root = merkle.frontier_root(merkle.frontier_append(old.frontier_bytes, [x.hash for x in span], old.size)).hex()
        if len(span) != after - before or root != new.root:
            raise VerificationError(f"the log leaves up to checkpoint {after} do not hash to its root with '{key}' as it is now: "
                                    "the batch was altered", fix=FIX_CHANGED)
        self._spans_checked.add((before, after))

    def readable_leaves(self) -> list[LogLeaf]:
        """Every leaf in a batch that can still be parsed at its own key, skipping gaps and batches that are damaged, too
        large, no regular object, under another batch's key (moved: its leaves are not where the log vouches for them) or
        gone since they were listed (the walk over the log, :meth:`verify`, names each), and batches that begin inside the
        batch read before them (planted inside the log: the walk names each and hashes none of its leaves). Only the keys
        the walk lists are read (a leaf batch's, 12 digits): an object under any other key holds no leaf of the log. An
        error of the store itself (one that cannot be reached) is raised, so that the leaves it holds back are never
        taken for unlogged."""
        out: list[LogLeaf] = []
        expected: int | None = 0  # where the next batch begins, as the walk tells it; unknown after one not read
        for key in self._batch_keys(0):
            try:
                first, leaves = self._read_batch(key, strict=False)
            except (VerificationError, UnreadableObjectError, ObjectNotFoundError):
                expected = None
                continue
            if expected is not None and first < expected:
                continue
            out.extend(leaves)
            expected = first + len(leaves)
        return out

    def logged_statements(self) -> dict[str, int]:
        """Where the log holds each bundle's signed statement: its digest -> leaf index + 1, for the leaves the newest
        checkpoint (verified) covers, which must hash to its root. What decides whether a bundle signed by a retired
        key counts (``TrustStore.logged_at``). Raises :class:`VerificationError` when the leaves do not hash to it."""
        return statement_positions(self.covered_leaves())

    def covered_leaves(self, head: StoredCheckpoint | None = None) -> list[LogLeaf]:
        """The leaves ``head`` (default: the newest checkpoint, verified) covers, in order, checked to hash to its root;
        none when the log has no checkpoint. Raises :class:`VerificationError` when they do not hash to it."""
        head = head or self.head()
        if head is None:
            return []
        leaves = self.read_leaves(strict=False, end=head.checkpoint.size)
        if len(leaves) != head.checkpoint.size or merkle.root_from_hashes([x.hash for x in leaves]).hex() != head.checkpoint.root:
            raise VerificationError(f"the log leaves do not hash to the root of checkpoint '{head.key}'", fix=FIX_CHANGED)
        return leaves

    def last_leaf(self) -> LogLeaf | None:
        """The newest leaf (its index key is the cursor from which to list new bundles). A newest batch that cannot be
        read (damaged, emptied, under another batch's key, gone since it was listed) fails with an error naming it as its
        ``subject``, with the fix."""
        keys = self._batch_keys(0)
        if not keys:
            return None
        leaves = self._read_batch(keys[-1])[1]
        if not leaves:
            raise _emptied(keys[-1])
        return leaves[-1]

    # -- verification -------------------------------------------------------------------------
    def verify(self, *, since: StoredCheckpoint | None = None) -> LogState:
        """Check the checkpoint chain and the tree.

        With ``since`` (a checkpoint whose signature and root were checked before), the chain is read
        and leaves are re-hashed only after it, from its frontier: the cost follows what is new.
        Without it, from the first checkpoint and the first leaf.
        """
        state = LogState()
        previous: StoredCheckpoint | None = since
        earlier: dict[str, StoredCheckpoint] = {since.digest: since} if since else {}
        for key in self.checkpoint_keys(after=since.key if since else None):
            try:
                sc = self.read_checkpoint(key)
            except TdprovError as exc:
                state.problems.append(LogProblem(key, exc.what, exc.fix or LogProblem.fix))
                continue
            cp = sc.checkpoint
            if previous is None and cp.previous is not None and not state.problems:
                state.problems.append(LogProblem(key, f"the first checkpoint in the store names a previous checkpoint {cp.previous}: "
                                                 "earlier checkpoints were deleted"))
            elif previous is not None and cp.previous not in earlier:
                state.problems.append(LogProblem(key, f"checkpoint names previous checkpoint {cp.previous}, which is not in the store "
                                                 f"(the one before it is '{previous.key}', {previous.digest}): the chain is broken"))
            if previous and cp.time < previous.checkpoint.time:
                state.problems.append(LogProblem(key, f"checkpoint time {cp.time} is earlier than its predecessor's {previous.checkpoint.time}: back-dated"))
            state.checkpoints.append(sc)
            earlier[sc.digest] = sc
            previous = sc
        start_cp = since.checkpoint if since else EMPTY_CHECKPOINT
        by_size = {sc.checkpoint.size: sc for sc in state.checkpoints if sc.checkpoint.size > start_cp.size}
        frontier, size = start_cp.frontier_bytes, start_cp.size
        expected: int | None = size  # where the next batch begins; unknown after a batch that cannot be read
        lost: tuple[int, str] | None = None  # since a lost or unreadable batch: the first leaf not hashed, and why
        segment: LogSegment | None = None  # the leaves hashed again from a later checkpoint's frontier, after a loss
        try:
            keys = state.batch_keys = self._batch_keys(start_cp.size)
        except TdprovError as exc:
            state.problems.append(LogProblem(LEAVES_PREFIX, exc.what, exc.fix or LogProblem.fix))
            return state
        for key in keys:
            unread: TdprovError | None = None
            try:
                first, leaves = self._read_batch(key)
            except TdprovError as exc:
                if not exc.subject:  # the store's own error: what comes after cannot be read either
                    state.problems.append(LogProblem(LEAVES_PREFIX, exc.what, exc.fix or LogProblem.fix))
                    return state
                first, leaves, unread = _number(key, LEAVES_PREFIX) or 0, [], exc  # where its key says it begins (listed keys have one)
            if expected is not None and first < expected:  # planted inside the log: named, and the batches around it still checked
                planted = _planted(key, first, expected, unread)
                state.problems.append(LogProblem(key, planted.what, planted.fix or LogProblem.fix))
                continue
            if unread is not None:
                state.problems.append(LogProblem(key, unread.what, unread.fix or LogProblem.fix))
                lost = lost or (size if expected is None else expected, f"the leaf batch '{key}' cannot be read")
                expected, segment = None, None
                continue
            if expected is not None and first > expected:
                state.problems.append(LogProblem(key, f"log leaves {expected}..{first - 1} are missing before '{key}'", "restore the deleted leaf batch"))
                lost = lost or (expected, f"the log leaves {expected}..{first - 1} are missing")
                segment = None
            expected = first + len(leaves)
            if lost is not None:  # hashed again from the frontier signed into a checkpoint this batch holds the leaves after
                resume = min((n for n in by_size if lost[0] < n and first <= n < expected), default=None)
                if resume is None:
                    state.later.append(LogSegment(first, leaves))
                    continue
                base = by_size[resume].checkpoint
                state.problems.append(_unchecked(lost, [by_size.pop(n) for n in sorted(by_size) if n <= resume]))
                if resume > first:
                    state.later.append(LogSegment(first, leaves[: resume - first]))
                frontier, size, lost = base.frontier_bytes, resume, None
                segment = LogSegment(resume, [], base)
                state.later.append(segment)
                leaves = leaves[resume - first:]
            for leaf in leaves:
                frontier = merkle.frontier_append(frontier, [leaf.hash], size)
                size += 1
                sc = by_size.pop(size, None)
                if sc is None:
                    continue
                root = state.roots[size] = merkle.frontier_root(frontier).hex()
                if root != sc.checkpoint.root:
                    state.problems.append(
                        LogProblem(sc.key, f"the {size} log leaves hash to {root} but the checkpoint "
                                   f"says {sc.checkpoint.root}: a leaf or the checkpoint was altered")
                    )
            (segment.leaves if segment else state.leaves).extend(leaves)
        if lost is not None and by_size:
            state.problems.append(_unchecked(lost, [by_size.pop(n) for n in sorted(by_size)]))
        for missing_size, sc in sorted(by_size.items()):
            state.problems.append(LogProblem(sc.key, f"checkpoint covers {missing_size} leaves but the log holds only {size}: leaves were deleted", "restore the deleted leaf batches"))
        return state

    # -- writing ------------------------------------------------------------------------------
    def append(self, leaves: Sequence[LogLeaf], signer: SigningKey, *, time: Callable[[], str] = now_rfc3339,
               known_size: int | None = None, vouch: Callable[[list[LogLeaf]], str | None] | None = None) -> StoredCheckpoint | None:
        """Append ``leaves`` and write a signed checkpoint; returns the new head (the old one if nothing is new).

        The caller passes only leaves not yet logged (bundles listed after :meth:`last_leaf`'s index
        key). Leaves whose index key is already logged after the head (by a writer that stopped before
        its checkpoint, or won a race against this one) are not added twice. When another writer
        wins a race for a key, this one re-reads the log and retries. ``known_size``: the log size
        (a checkpoint's) that the caller chose ``leaves`` against; leaves logged since then by a
        concurrent auditor are not added twice either. ``vouch``: asked about leaves found after the head
        (written by an auditor that stopped before its checkpoint, or by someone who is none): what is wrong
        with them, or None; when something is, nothing is appended (no checkpoint signs leaves nobody checked).
        The leaf batches and the checkpoint written are added to :attr:`written`, with the SHA-256 of their bytes, and the
        leaf batches created to :attr:`listed`, with the fingerprint the store gave each (the checkpoint is the head the
        next reader of the log reads anyway). :attr:`appended` holds those of ``leaves`` that the checkpoint this append
        wrote logged: none when another writer logged them meanwhile (its checkpoint is the head then, not this one's).
        """
        self.appended = []
        start = self.head()
        base = start.checkpoint.size if start else 0
        if known_size is not None:
            base = min(base, known_size)
        for _attempt in range(MAX_RETRIES):
            head = self.head()
            logged = self.read_leaves(base)  # leaves added since this append began, by anyone
            seen = {x.index_key for x in logged} | {x.run_id for x in logged}
            new = [x for x in leaves if x.index_key not in seen and x.run_id not in seen]
            first = base + len(logged)
            head_cp = head.checkpoint if head else EMPTY_CHECKPOINT
            unvouched = logged[head_cp.size - base:]
            if unvouched and vouch is not None and (problem := vouch(unvouched)) is not None:
                raise VerificationError(f"log leaves {head_cp.size}..{head_cp.size + len(unvouched) - 1} after the newest checkpoint "
                                        f"'{head.key if head else 'none'}' are not bundles as logged: {problem}",
                                        fix="remove those leaf batches and find out who wrote them: auditors log only bundles that verify")
            try:
                for i in range(0, len(new), BATCH_LIMIT):
                    batch = _encode_batch(first + i, new[i:i + BATCH_LIMIT])
                    key = leaf_batch_key(first + i)
                    listed = put_listed(self.store, key, batch)[1]
                    self.written[key] = sha256_digest(batch)
                    if listed:  # created, and the store told what its listing gives it
                        self.listed[key] = listed
                added = logged[head_cp.size - base:] + new
                if not added:
                    return head
                cp = head_cp.extend([x.hash for x in added], time=time(), previous=head.digest if head else None, keyid=signer.key_id)
                data = sign_envelope(cp.payload(), CHECKPOINT_PAYLOAD_TYPE, [signer]).to_json()
                self.store.put(checkpoint_key(cp.size), data)
                written = StoredCheckpoint(cp, checkpoint_key(cp.size), sha256_digest(data), signer.key_id)
                self.written[written.key] = written.digest
                given = set(leaves)
                self.appended = [x for x in added if x in given]
                if self._checkpoints is not None:  # what this log wrote is what a read would give
                    self._checkpoints[written.key] = written
                return written
            except ObjectConflictError:
                log.info("another auditor appended to the log at the same time; retrying from the new head")
        raise ObjectConflictError(f"could not append to the log after {MAX_RETRIES} attempts: other writers keep winning", fix="retry the audit later")

    # -- proofs -------------------------------------------------------------------------------
    def inclusion_proof(self, run_id: str, head: StoredCheckpoint | None = None) -> InclusionProof:
        """Proof that the bundle of ``run_id`` (or of the one logged run whose id it begins or ends, 8 characters or more) is in
        the tree of ``head`` (default: the newest checkpoint). :class:`NotLoggedError` when the log holds no such run."""
        head = head or self.head()
        if head is None:
            raise empty_log()
        leaves = self.read_leaves(end=head.checkpoint.size)
        meant = one_run_meant(run_id, (x.run_id for x in leaves), f"the log up to checkpoint {head.checkpoint.size}")
        matches = [i for i, x in enumerate(leaves) if x.run_id == meant]
        if not matches:
            raise NotLoggedError(
                f"run '{run_id}' is not in the log up to checkpoint {head.checkpoint.size}{prefix_hint(run_id)}.",
                fix="check the run id ('tdprov runs'), or run 'tdprov audit' to log bundles written since the last audit",
            )
        index = matches[-1]
        hashes = [x.hash for x in leaves]
        path = merkle.inclusion_proof(index, hashes)
        return InclusionProof(leaves[index], index, head.checkpoint.size, head.checkpoint.root, tuple(h.hex() for h in path))

    def consistency_proof(self, old_size: int, new_size: int) -> ConsistencyProof:
        """Proof that checkpoint ``new_size`` extends checkpoint ``old_size`` (both must exist)."""
        old, new = (self._checkpoint_of_size(s) for s in (old_size, new_size))
        leaves = self.read_leaves(end=new_size)
        if len(leaves) < new_size:
            raise VerificationError(f"the log holds {len(leaves)} leaves, fewer than checkpoint {new_size} covers", fix=FIX_CHANGED)
        path = merkle.consistency_proof(old_size, [x.hash for x in leaves]) if old_size else []
        return ConsistencyProof(old_size, new_size, old.checkpoint.root, new.checkpoint.root, tuple(h.hex() for h in path))

    def _checkpoint_of_size(self, size: int) -> StoredCheckpoint:
        key = checkpoint_key(size)
        if not self.store.exists(key):
            raise self.sizes_refusal(f"there is no checkpoint of tree size {size}.", "use one of the checkpoint sizes")
        return self.read_checkpoint(key)
