"""The audit state: what one audit hands to the next, so that an incremental audit reads only what is new.

One signed, write-once object per audit, ``audit/state/<tree size, 12 digits>-<time>-<audit>.json``
(DSSE, payload type below), bound to the checkpoint it was computed at (tree size, root and the
digest of the checkpoint's bytes). It holds each check's open results (findings that stay, broken
links and training gaps that a later run or source can still close, failing dataset versions, staged runs
named with no bundle in the index, whose removal stays a finding, and the completeness findings a person accepted), the
counts of what was checked, the run ids logged near the newest index key (the listing window
that the next audit re-reads), and the SHA-256 of the catalog objects the audit read or wrote (each of
this log, so that the next audit and the catalog's readers need not read their checkpoints again). The
next incremental audit verifies the signature and the binding, then starts from it; a state that does
not verify is a finding and the audit re-checks everything.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from prov_common.audit.catalog import Written
from prov_common.audit.model import (CHECK_LOG, DatasetUse, Finding, QualityRow, failed_in, items_field, kinds_apart, with_items,
                                     with_kinds)
from prov_common.audit.witness import FIX_GAP
from prov_common.bundle.layout import SMALL_OBJECT_LIMIT
from prov_common.canonical_json import canonical_bytes, loads
from prov_common.errors import ObjectConflictError, TdprovError, VerificationError
from prov_common.signing import SigningKey, TrustStore, open_envelope, sign_envelope
from prov_common.store.base import Store
from prov_common.store.errors import ObjectNotFoundError
from prov_common.tlog.log import StoredCheckpoint, TransparencyLog, checkpoint_key
from prov_common.tlog.model import EMPTY_CHECKPOINT, sha256_digest
from prov_common.w3cprov.identity import version_key

STATE_PREFIX = "audit/state/"
STATE_PAYLOAD_TYPE = "application/vnd.tdprov.audit-state+json"
FIX_STATE = "nothing is lost: this audit re-checked every bundle; find out who wrote the object (audit state is written once)"


def state_key(size: int, stamp: str, audit_id: str) -> str:
    return f"{STATE_PREFIX}{size:012d}-{stamp}-{audit_id[:8]}.json"


@dataclass(frozen=True)
class OpenLink:
    """An input with no origin yet (no recorded run generated its version, no source has its digest)."""

    run_id: str
    job: str
    index_key: str
    dataset: DatasetUse
    reason: str
    training: bool = False  # the run trains: once its input is generated, the links upstream of it are its gaps
    read_at: str | None = None  # when the run read it (a generation after that is not its origin); None in older states

    def to_dict(self) -> dict[str, Any]:
        out = {"runId": self.run_id, "job": self.job, "indexKey": self.index_key, "dataset": self.dataset.to_dict(), "reason": self.reason,
               "training": self.training}
        return out if self.read_at is None else {**out, "readAt": self.read_at}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "OpenLink":
        return cls(raw["runId"], raw["job"], raw["indexKey"], DatasetUse.from_dict(raw["dataset"]), raw["reason"], bool(raw["training"]),
                   raw.get("readAt"))

    @property
    def ident(self) -> tuple[str, str, str, str]:
        """The link: the run and the version it read, (namespace, name, digest), never how that prints (two datasets
        can print alike)."""
        return self.run_id, *version_key(self.dataset.namespace, self.dataset.name, self.dataset.version)

    @property
    def printed_ident(self) -> tuple[str, str, str]:
        """The link as acceptances recorded before :attr:`ident` named it: the run, how the dataset prints and the
        version as recorded."""
        return self.run_id, self.dataset.uri, self.dataset.version or ""


@dataclass(frozen=True)
class TrainingGap:
    """A broken link upstream of a training run's input."""

    run_id: str
    job: str
    input_label: str
    link: OpenLink

    def to_dict(self) -> dict[str, Any]:
        return {"runId": self.run_id, "job": self.job, "input": self.input_label, "link": self.link.to_dict()}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "TrainingGap":
        return cls(raw["runId"], raw["job"], raw["input"], OpenLink.from_dict(raw["link"]))

    @property
    def made_nothing(self) -> bool:
        """Whether this is the gap of a training run that recorded neither inputs nor outputs: its link names, with no
        version, a stand-in for the run (its job's namespace and name, which may be a dataset's too), no dataset."""
        return self.link.run_id == self.run_id and not self.link.dataset.version


@dataclass(frozen=True)
class UnsealedRun:
    """A run the unfinished check named as staged with no bundle in the index, and the audit that first named it: kept
    until its bundle is in the index, so that removing its staged events (the only evidence of it) stays a finding."""

    run_id: str
    audit_id: str
    reported_at: str  # when that audit started (ISO 8601)

    def to_dict(self) -> dict[str, str]:
        return {"runId": self.run_id, "auditId": self.audit_id, "reportedAt": self.reported_at}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "UnsealedRun":
        return cls(str(raw["runId"]), str(raw["auditId"]), str(raw["reportedAt"]))


@dataclass(frozen=True)
class StagedSeen:
    """How far an audit compared the staged events of sealed runs with their bundles, so that the next one compares only
    what is new: ``through``, the newest time the store gave a staged event it listed (by the store's clock; None: none
    listed said), ``runs``, the sealed runs whose staging held events their bundle lacks (compared again by every
    audit, so that their finding stays), and ``window``, a digest of the keys of the staged events it listed that the
    store dated in the grace before ``through`` (None: not taken, as by an older tdprov): while the next listing shows
    the same there, only events dated after ``through`` are new."""

    through: str | None = None
    runs: tuple[str, ...] = ()
    window: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"through": self.through, "runs": list(self.runs), **({"window": self.window} if self.window else {})}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "StagedSeen":
        through, window = raw.get("through"), raw.get("window")
        return cls(None if through is None else str(through), tuple(str(r) for r in raw.get("runs") or ()),
                   window if isinstance(window, str) else None)


@dataclass(frozen=True)
class AcceptedRun:
    """A person's acceptance of the completeness findings that name a run (``tdprov audit --accept-finding RUN_ID
    --reason TEXT``): who, when, why, the signed record in the store (``key``), and what it covers: the keys of the open
    links and training gaps it was given for (:func:`prov_common.audit.accepted.item_key`), with the findings as they
    read then. A finding about the run that is not among them is not covered."""

    run_id: str
    reason: str
    by: str
    signer: str
    accepted_at: str
    key: str
    covers: tuple[tuple[str, ...], ...]
    findings: tuple[Finding, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"runId": self.run_id, "reason": self.reason, "by": self.by, "signer": self.signer, "acceptedAt": self.accepted_at,
                "key": self.key, "covers": [list(c) for c in self.covers], "findings": [f.to_dict() for f in self.findings]}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "AcceptedRun":
        return cls(str(raw["runId"]), str(raw["reason"]), str(raw["by"]), str(raw["signer"]), str(raw["acceptedAt"]), str(raw["key"]),
                   tuple(tuple(str(p) for p in c) for c in raw["covers"]), tuple(Finding(**f) for f in raw.get("findings") or ()))


@dataclass
class CheckState:
    """The checks' results so far, in the form the next audit continues from."""

    runs: int = 0
    training_runs: int = 0
    checked: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)  # results that stay: bundle verification, use of failing data
    broken: list[OpenLink] = field(default_factory=list)
    gaps: list[TrainingGap] = field(default_factory=list)
    failing: list[QualityRow] = field(default_factory=list)
    passed_versions: int = 0
    unsealed: list[UnsealedRun] = field(default_factory=list)  # staged runs with no indexed bundle, as first reported
    accepted: list[AcceptedRun] = field(default_factory=list)  # completeness findings a person accepted, per run
    folders: list[UnsealedRun] = field(default_factory=list)  # unsealed bundle folders no index entry names, as first reported
    staged: StagedSeen | None = None  # None: no audit compared staged events with their bundles yet (older states)

    def datasets(self) -> list[DatasetUse]:
        """The datasets the open results name (their broken links', training gaps' and failing versions')."""
        return [*(x.dataset for x in self.broken), *(g.link.dataset for g in self.gaps if not g.made_nothing),
                *(r.dataset for r in self.failing)]

    def to_dict(self) -> dict[str, Any]:
        return {"runs": self.runs, "trainingRuns": self.training_runs, "checked": self.checked,
                "findings": [f.to_dict() for f in self.findings],
                **items_field(self.findings),
                **({"findingKinds": kinds} if (kinds := kinds_apart(self.findings)) else {}), "broken": [x.to_dict() for x in self.broken],
                "gaps": [x.to_dict() for x in self.gaps], "failing": [x.to_state() for x in self.failing],
                "passedVersions": self.passed_versions, "unsealed": [x.to_dict() for x in self.unsealed],
                "accepted": [x.to_dict() for x in self.accepted],
                **({"unsealedFolders": [x.to_dict() for x in self.folders]} if self.folders else {}),
                **({"staged": self.staged.to_dict()} if self.staged is not None else {})}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "CheckState":
        return cls(int(raw["runs"]), int(raw["trainingRuns"]), {str(k): int(v) for k, v in raw["checked"].items()},
                   with_kinds(with_items([Finding(**f) for f in raw["findings"]], raw.get("findingItems")), raw.get("findingKinds")),
                   [OpenLink.from_dict(x) for x in raw["broken"]],
                   [TrainingGap.from_dict(x) for x in raw["gaps"]], [QualityRow.from_state(x) for x in raw["failing"]],
                   int(raw["passedVersions"]), [UnsealedRun.from_dict(x) for x in raw.get("unsealed") or ()],  # none in older states
                   [AcceptedRun.from_dict(x) for x in raw.get("accepted") or ()],
                   [UnsealedRun.from_dict(x) for x in raw.get("unsealedFolders") or ()],  # none in older states
                   StagedSeen.from_dict(raw["staged"]) if raw.get("staged") is not None else None)


@dataclass
class AuditState:
    """A :class:`CheckState` bound to the checkpoint it covers, with the listing window for the next audit."""

    checkpoint_size: int
    checkpoint_root: str
    checkpoint_digest: str
    checks: CheckState
    last_index_key: str | None = None
    recent: list[tuple[str, str]] = field(default_factory=list)  # (index key, run id) logged after the next listing cursor
    previous: str | None = None  # the state this one continued from
    catalog: dict[str, str] = field(default_factory=dict)  # catalog object key -> SHA-256 of its bytes, each of this log
    key: str | None = None  # the key it was written under (None: written before states named it)

    def payload(self) -> bytes:
        return canonical_bytes({"checkpoint": {"size": self.checkpoint_size, "root": self.checkpoint_root, "digest": self.checkpoint_digest},
                                "checks": self.checks.to_dict(), "lastIndexKey": self.last_index_key,
                                "recent": [list(x) for x in self.recent], "previous": self.previous, "catalog": self.catalog,
                                **({"key": self.key} if self.key is not None else {})})

    @classmethod
    def from_payload(cls, data: bytes) -> "AuditState":
        raw = loads(data)
        cp = raw["checkpoint"]
        return cls(int(cp["size"]), str(cp["root"]), str(cp["digest"]), CheckState.from_dict(raw["checks"]), raw["lastIndexKey"],
                   [(str(k), str(r)) for k, r in raw["recent"]], raw["previous"],
                   {str(k): str(v) for k, v in (raw.get("catalog") or {}).items()},  # states before catalog pins have none
                   None if raw.get("key") is None else str(raw["key"]))  # states before keys were named have none


@dataclass
class LoadedState:
    """The newest audit state and the checkpoint it is bound to; ``problems`` when it did not verify; ``digest``: the
    SHA-256 of the state's bytes as read (None when none were read), so that no later reader of the audit reads it again."""

    state: AuditState | None = None
    key: str | None = None
    checkpoint: StoredCheckpoint | None = None
    problems: list[Finding] = field(default_factory=list)
    digest: str | None = None


class CopiedStateError(VerificationError):
    """A signed audit state under another key than the one it was written under: a copy."""


FIX_COPIED = ("remove the copy and find out who wrote it: the state under the key it names is the audit's (an audit writes "
              "its state once, under that key), and audits continue from the newest state under its own key")


def read_state(store: Store, trust: TrustStore, key: str, data: bytes | None = None) -> AuditState:
    """The signed audit state under ``key``, which must name the checkpoint size it holds and, when it names one, be the
    key it was written under (an older state copied under a newer key would be continued from, re-examining or skipping
    what came after it, or dropping what later audits kept: :class:`CopiedStateError`); ``data``: its bytes, when the
    caller read them."""
    data = store.get(key, SMALL_OBJECT_LIMIT) if data is None else data
    state = AuditState.from_payload(open_envelope(data, trust, STATE_PAYLOAD_TYPE, what=f"audit state '{key}'",
                                                  position=lambda payload: AuditState.from_payload(payload).checkpoint_size).payload)
    if not key[len(STATE_PREFIX):].startswith(f"{state.checkpoint_size:012d}-"):
        raise VerificationError(f"audit state '{key}' holds the state at checkpoint {state.checkpoint_size}, which its key does not "
                                "name: a state copied under another key.", fix=FIX_STATE)
    if state.key is not None and state.key != key:
        raise CopiedStateError(f"audit state '{key}' is the state written as '{state.key}', copied under another key: continued "
                               "from, it would drop what the audits after it kept (runs named unfinished, findings, acceptances)",
                               fix=FIX_COPIED)
    return state


def load_state(store: Store, tlog: TransparencyLog, trust: TrustStore) -> LoadedState:
    """The newest state, verified: signed by a trusted key and bound to a checkpoint in the store (or, a state written
    while the log was empty, to none: ``checkpoint`` is None). A newer state that is a copy of another under a key it was
    not written under (:class:`CopiedStateError`) is a finding, and the newest state under its own key is loaded."""
    copies: list[Finding] = []
    for key in reversed(list(store.list(STATE_PREFIX))):
        loaded = _load(store, tlog, trust, key)
        if not isinstance(loaded, CopiedStateError):
            loaded.problems[:0] = copies
            return loaded
        copies.append(Finding(CHECK_LOG, key, loaded.what, loaded.fix))
    return LoadedState(problems=copies)


def _load(store: Store, tlog: TransparencyLog, trust: TrustStore, key: str) -> LoadedState | CopiedStateError:
    """The state under ``key`` as :func:`load_state` loads it, or the error of a copy."""
    what = f"audit state '{key}'"
    try:
        data = store.get(key, SMALL_OBJECT_LIMIT)
        state = read_state(store, trust, key, data)
        digest = sha256_digest(data)
        if state.checkpoint_size == 0:  # written while the log was empty: bound to no checkpoint
            if (state.checkpoint_root, state.checkpoint_digest) != (EMPTY_CHECKPOINT.root, ""):
                raise VerificationError(f"{what} is bound to checkpoint 0, but names the root {state.checkpoint_root} and digest "
                                        f"{state.checkpoint_digest!r} of a checkpoint an empty log has not", fix=FIX_STATE)
            return LoadedState(state, key, None, digest=digest)
        bound = checkpoint_key(state.checkpoint_size)
        try:
            cp = tlog.read_checkpoint(bound)
        except ObjectNotFoundError:
            return LoadedState(key=key, problems=[Finding(CHECK_LOG, bound, f"{what} is bound to checkpoint {state.checkpoint_size}, "
                                                          "which the store no longer holds: this audit "
                                                          "re-checked every bundle instead of continuing from it", FIX_GAP)])
        if (cp.digest, cp.checkpoint.root) != (state.checkpoint_digest, state.checkpoint_root):
            return LoadedState(key=key, problems=[Finding(CHECK_LOG, key, f"{what} is bound to checkpoint {state.checkpoint_size} with digest "
                                                          f"{state.checkpoint_digest}, but that checkpoint is now {cp.digest}", FIX_STATE)])
    except CopiedStateError as exc:
        return exc
    except (TdprovError, KeyError, TypeError, ValueError, IndexError) as exc:
        detail = exc.what if isinstance(exc, TdprovError) else f"{what} is damaged ({exc!r})"
        blamed = failed_in(key, exc)  # the checkpoint it is bound to, when that is what fails
        fix = FIX_STATE if blamed == key or not isinstance(exc, TdprovError) else exc.fix or FIX_STATE
        return LoadedState(key=key, problems=[Finding(CHECK_LOG, blamed, detail, fix)])
    return LoadedState(state, key, cp, digest=digest)


def write_state(store: Store, key: str, state: AuditState, signer: SigningKey) -> Written | None:
    """Write ``state`` signed under ``key``, with the SHA-256 of the bytes written; None if the key is taken."""
    try:
        return Written.put(store, key, sign_envelope(replace(state, key=key).payload(), STATE_PAYLOAD_TYPE, [signer]).to_json(),
                           listed=False)
    except ObjectConflictError:
        return None


__all__ = ["AcceptedRun", "AuditState", "CheckState", "CopiedStateError", "LoadedState", "OpenLink", "StagedSeen", "TrainingGap", "UnsealedRun", "load_state", "state_key",
           "write_state"]
