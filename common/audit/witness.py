"""Checkpoints kept outside the store: prove the store's log still extends them.

The auditor's memory and any witness (a report, ``tdprov audit --json`` output, a file or object
holding a published checkpoint) name a checkpoint: tree size, root and the digest of the checkpoint
object. The store's log must still hold that checkpoint unchanged and extend it (RFC 6962
consistency proof from the checkpoint's frontier to the newest checkpoint); anything else is a gap.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prov_common.audit.memory import KnownCheckpoint
from prov_common.audit.model import CHECK_LOG, Finding
from prov_common.audit.published import FIX_OTHER_STORE, RECORD_SUFFIX, RUNS_PREFIX, check_record, report_forms, signed_digests
from prov_common.canonical_json import loads
from prov_common.errors import BadInputError, StoreUnavailableError, TdprovError
from prov_common.hashing.raw import blake3_digest
from prov_common.regular_file import NotRegularFileError, read_regular
from prov_common.signing import TrustStore
from prov_common.store.base import Store
from prov_common.store.errors import ObjectNotFoundError, ObjectTooLargeError
from prov_common.tlog.log import StoredCheckpoint, TransparencyLog, checkpoint_key
from prov_common.tlog.merkle import EMPTY_ROOT
from prov_common.text import counted
from prov_common.tlog.model import LogLeaf

FIX_GAP = ("restore the deleted or changed log objects from a backup or replica, then audit again; if the loss is understood "
           "and accepted, record it with 'tdprov audit --accept-checkpoint --reason TEXT'")
WITNESS_LIMIT = 1 << 30  # bytes at most read of a witness: a report of 16,000 bundles is about 64 MiB
FIX_UNREADABLE = "pass a readable witness file or s3:// object"
FIX_WITNESS = ("check that the witness is of this store (and that the store and this auditor's memory were not rolled back together); "
               "restore the log from a backup if it is, or, if the witness is wrong, record that with "
               "'tdprov audit --accept-checkpoint --reason TEXT'")


def check_extends(known: KnownCheckpoint, tlog: TransparencyLog, head: StoredCheckpoint | None, who: str,
                  fix: str | None = None, *, newest_runs: Sequence[str] = ()) -> tuple[list[Finding], list[LogLeaf]]:
    """Findings when the store's log does not extend ``known`` (``who`` kept it; ``fix`` says what to do, None:
    :data:`FIX_GAP`, or where the records of the runs it names are, :func:`_fix_lost`), and the
    leaves after it when it does. A checkpoint known without its digest (a published ``treeSize`` and
    ``rootHash``) is compared by its root. ``newest_runs``: the run ids of the newest leaves of ``known`` that ``who``
    kept (the auditor's memory): a finding names those the log no longer holds."""
    if known.size == 0:
        return [], []
    problem, leaves = _not_extended(known, tlog, head, who)
    if problem is None:
        return [], leaves
    where, what = problem
    lost = _lost(known.size, tlog, head, list(newest_runs)[-known.size:])  # at most one per leaf, whatever a memory file holds
    return [Finding(CHECK_LOG, where, what + lost, fix or (_fix_lost(known.size) if lost else FIX_GAP))], []


def _not_extended(known: KnownCheckpoint, tlog: TransparencyLog, head: StoredCheckpoint | None,
                  who: str) -> tuple[tuple[str, str] | None, list[LogLeaf]]:
    """The object and what is wrong when the store's log does not extend ``known``, else None and the leaves after it."""
    where = checkpoint_key(known.size)
    if head is None:
        return ("log/checkpoints/", f"the store's log is empty, but {who} verified checkpoint {known.size} (root {known.root}): "
                "the log was deleted"), []
    if head.checkpoint.size < known.size:
        return (head.key, f"the store's log has {head.checkpoint.size} leaves, but {who} verified checkpoint {known.size} "
                f"(root {known.root}): the log was rolled back or its newest checkpoints were deleted"), []
    try:
        stored = tlog.read_checkpoint(where)
    except ObjectNotFoundError:
        return (where, f"checkpoint {known.size} that {who} verified ({known.digest}) is missing from the store: it was deleted"), []
    except StoreUnavailableError:
        raise
    except TdprovError as exc:
        return (where, f"checkpoint {known.size} that {who} verified does not verify now: {exc.what}"), []
    if known.digest and stored.digest != known.digest:
        return (where, f"checkpoint {known.size} is not the one {who} verified: its digest was {known.digest}, "
                f"it is now {stored.digest}"), []
    if known.root and stored.checkpoint.root != known.root:
        return (where, f"checkpoint {known.size} is not the one {who} verified: its root was {known.root}, "
                f"it is now {stored.checkpoint.root}"), []
    frontier = known if known.frontier else KnownCheckpoint.of(stored)
    try:
        _proof, leaves = tlog.prove_extends(frontier.checkpoint(), head)
    except StoreUnavailableError:
        raise
    except TdprovError as exc:
        return (head.key, f"the store's log is not consistent with checkpoint {known.size} that {who} verified: {exc.what}"), []
    return None, leaves


def _lost(size: int, tlog: TransparencyLog, head: StoredCheckpoint | None, newest_runs: Sequence[str]) -> str:
    """What the store's log no longer holds of ``newest_runs``, the runs of the leaves just below ``size`` ('' for nothing
    known): those its leaves from the first of them to its newest checkpoint do not hold. A log only cut back lost those
    past its end (:func:`_past_end`); one cut back and extended again, to ``size`` or short of it, may hold other runs there."""
    kept = head.checkpoint.size if head is not None else 0
    if not newest_runs:
        return ""
    first = size - len(newest_runs)
    try:
        held = {x.run_id for x in tlog.leaves_from(first, kept)} if kept > first else set()
    except StoreUnavailableError:
        raise
    except TdprovError:  # the leaves cannot be read either: the finding says what is wrong, and what lies past the log's end
        return _past_end(newest_runs, size, kept) if kept < size else ""
    gone = [r for r in newest_runs if r not in held]
    if kept < size and gone == list(newest_runs)[max(0, len(newest_runs) - (size - kept)):]:
        return _past_end(newest_runs, size, kept)
    if not gone:
        return ""
    return (f"; of the {counted(len(newest_runs), 'run')} logged as leaves {first + 1} to {size}, the log no longer holds {len(gone)}: "
            f"{', '.join(gone)}")


def _past_end(newest_runs: Sequence[str], size: int, kept: int) -> str:
    """What a log cut back from ``size`` leaves to ``kept`` lost, of the run ids of its newest leaves (``newest_runs``):
    every run when they reach back that far, else how many and the newest of them ('' when none is known)."""
    lost = size - kept
    named = list(newest_runs)[max(0, len(newest_runs) - lost):]
    if not named:
        return ""
    if len(named) == lost:
        return f"; it no longer holds the leaves of {counted(lost, 'run')} logged after leaf {kept}: {', '.join(named)}"
    return (f"; it no longer holds the leaves of {lost} runs logged after leaf {kept}, of which this auditor's memory names the "
            f"newest {len(named)}: {', '.join(named)}")


def _fix_lost(size: int) -> str:
    """The fix of a gap that names runs lost from the log: their records are in a copy of the store taken after ``size``."""
    return (f"restore the store (its log/ and audit/, and the bundles and index entries of the runs named) from a backup or replica "
            f"taken after checkpoint {size}, then audit again; if the loss is understood and accepted, record it with "
            "'tdprov audit --accept-checkpoint --reason TEXT'")


def read_witness(spec: str, store: Store | None = None, trust: TrustStore | None = None, store_id: str | None = None) -> KnownCheckpoint:
    """A published checkpoint from a file or an object URI (``s3://bucket/key``): an audit report,
    ``tdprov audit --json`` output, or ``{"treeSize", "rootHash", "checkpointDigest"}``; one larger than
    :data:`WITNESS_LIMIT`, or a file that is no regular file, is refused before more of it is read. A report of the
    empty log is taken only as its audit's signed record in ``store`` (verified with ``trust``, and of ``store``, whose
    id is ``store_id``) vouches for it (:func:`_vouched_empty`)."""
    if spec.startswith("s3://"):
        from prov_common.store import open_store

        folder, _, name = spec.rstrip("/").rpartition("/")
        try:
            data = open_store(folder).get(name, WITNESS_LIMIT)
        except ObjectTooLargeError as exc:
            raise _too_large(spec) from exc
        except TdprovError as exc:
            raise BadInputError(f"witness '{spec}' cannot be read: {exc.what}", fix=FIX_UNREADABLE) from exc
    else:
        try:
            data = read_regular(spec.removeprefix("file://"), WITNESS_LIMIT)
        except NotRegularFileError as exc:
            if exc.kind is None:
                raise _too_large(spec) from exc
            raise BadInputError(f"witness '{spec}' is {exc.kind}, not a regular file.", fix=FIX_UNREADABLE) from exc
        except OSError as exc:
            raise BadInputError(f"witness '{spec}' cannot be read ({exc.strerror}).", fix=FIX_UNREADABLE) from exc
    try:
        doc = loads(data)
    except ValueError as exc:
        raise BadInputError(f"witness '{spec}' is not JSON ({exc}).", fix="pass an audit report or 'tdprov audit --json' output") from exc
    known = published_checkpoint(doc, f"witness '{spec}'")
    if known.size == 0 and store is not None and trust is not None and isinstance(doc, dict) and isinstance(doc.get("log"), dict):
        _vouched_empty(doc, spec, store, trust, store_id)
    return known


def _vouched_empty(report: dict[str, Any], spec: str, store: Store, trust: TrustStore, store_id: str | None) -> None:
    """Refuse a report of the empty log (tree size 0, which every log extends, so it checks nothing) that the signed
    record of its audit in ``store`` does not name (by the digest of the report as the audit wrote it, compact or, by an
    older audit, indented, whatever its indentation now): a report edited all the way to the empty log's (no root,
    checkpoint or digest) reads the same as a genuine one otherwise. A record of an audit of another store (copied in with its report) vouches for nothing here
    (:func:`~prov_common.audit.published.check_record`'s ``this_store``, judged by ``store_id``, the store's)."""
    audit_id = str(report.get("auditId"))
    what = f"witness '{spec}' gives the empty log (tree size 0)"
    fix = ("pass the report as the audit published it, with its signed record (audit/runs/) in the store, and find out who "
           "edited it; a report of the empty log checks nothing, so one can be left out")
    keys = [k for k in store.list(RUNS_PREFIX) if k.endswith(f"-{audit_id}{RECORD_SUFFIX}")]
    if not keys:
        raise BadInputError(f"{what}, but the store holds no signed record of audit {audit_id} that vouches for it: a report "
                            "edited to the empty log's reads the same, and would check nothing.", fix=fix)
    try:
        signed = signed_digests(check_record(store, trust, keys[0], this_store=True, store_id=store_id))
    except TdprovError as exc:
        if exc.fix == FIX_OTHER_STORE:
            raise BadInputError(f"{what}, but {exc.what.removesuffix('.')}: its report checks nothing of this store.",
                                fix=f"pass a report of an audit of this store; {FIX_OTHER_STORE}") from exc
        raise BadInputError(f"{what}, but the signed record of audit {audit_id} does not verify ({exc.what}).", fix=fix) from exc
    if not any(blake3_digest(form) in signed.values() for form in report_forms(report)):
        raise BadInputError(f"{what}, but audit {audit_id} signed another report: it was edited and would check nothing.", fix=fix)


def _too_large(spec: str) -> BadInputError:
    """The refusal of a witness larger than :data:`WITNESS_LIMIT`."""
    return BadInputError(f"witness '{spec}' is larger than {WITNESS_LIMIT:,} bytes, the most a witness is read to (an audit "
                         "report of about 250,000 bundles): it is not read.",
                         fix="pass the checkpoint alone ('tdprov audit --json' output, or {treeSize, rootHash, checkpointDigest} "
                             "from the report's 'log'), or check what was put at that place")


def published_checkpoint(doc: Any, what: str) -> KnownCheckpoint:
    """The checkpoint in a report (``log``), in ``--json`` output (``checkpoint``) or on its own
    (``{treeSize, rootHash, checkpointDigest}``; ``checkpointDigest`` may be left out), as orchestrators publish it."""
    try:
        for name in ("checkpoint", "log"):
            if isinstance(doc.get(name), dict):
                doc = doc[name]
                break
        known = KnownCheckpoint(int(doc["treeSize"]), str(doc["rootHash"]), str(doc.get("checkpointDigest") or ""),
                                str(doc.get("checkpoint") or ""), source=what)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise BadInputError(f"{what} holds no checkpoint ({exc!r}).",
                            fix="pass an audit report, 'tdprov audit --json' output or a {treeSize, rootHash, checkpointDigest} object") from exc
    return _checked_size(known)


def _checked_size(known: KnownCheckpoint) -> KnownCheckpoint:
    """``known``, refused when no log has its size (a negative one), or when it gives the empty log's (0), which every
    log extends, beside a checkpoint, a digest or a root of one: an edited report or witness, which would check
    nothing."""
    root = known.root if known.root not in ("", "None", EMPTY_ROOT.hex()) else ""
    beside = (f"the checkpoint '{known.key}'" if known.key else f"the checkpoint digest {known.digest}" if known.digest
              else f"the root hash {root}" if root else "")
    if known.size > 0 or (known.size == 0 and not beside):
        return known
    raise BadInputError(f"{known.source} gives tree size {known.size}{f' beside {beside}' if beside else ''}: no log "
                        f"{'has that size' if known.size < 0 else 'of size 0 (empty) has a checkpoint'}, so it was edited "
                        "and would check nothing.",
                        fix="pass the report or checkpoint as the audit published it (its 'log', or '--json' output's "
                            "'checkpoint'), and find out who edited it")


__all__ = ["FIX_GAP", "FIX_WITNESS", "WITNESS_LIMIT", "check_extends", "published_checkpoint", "read_witness"]
