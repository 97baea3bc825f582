"""The auditor's memory: what an auditor verified last, kept outside the store it audits.

Certificate Transparency monitors keep the newest checkpoint they verified, so that a log that was
rolled back, truncated or rewritten cannot pass as a fresh one. One small JSON file per store under
``$TDPROV_HOME/audits/<sha-256 of the store URI, 16 hex>.json`` holds:

- the newest checkpoint this auditor proved consistent (size, root, digest, key, time, frontier), and the run ids of its
  newest leaves (at most ``NEWEST_RUNS``), so that a log rolled back with the whole store, inventory objects included,
  names the runs it lost (``witness.check_extends``);
- the digests of the objects that hold the inventory it expects (``memory_objects.py``: each logged
  run's index key, and the listing fingerprint, size and ETag or a local file's mtime and inode, of
  each object it tracks; for an object it wrote and no listing showed yet, the fingerprint the store gave it as it
  created it, or the SHA-256 of the bytes written where the store told none), so the file does not grow with the
  store;
- open gaps: log findings that stay until a person resolves them (``tdprov audit --accept-checkpoint``);
- the store's identity (``_tdprov/store.json``: its id and the SHA-256 of its bytes), as first seen;
- an S3 store's bucket protection (versioning, Object Lock default retention), as seen, whole, until a weaker one is restored or accepted (``protection.py``);
- the resolutions made, each with who, when, why, the checkpoints before and after, and the SHA-256 of the
  object signed into the store.

The file is the auditor's own: keep it, and copies of its checkpoint (witnesses), out of reach of
the store's writers.
"""
from __future__ import annotations

import contextlib
import fcntl
import getpass
import hashlib
import json
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prov_common.audit.model import Finding, distinct
from prov_common.config import default_home
from prov_common.errors import BadInputError
from prov_common.replace_file import part_file
from prov_common.tlog.log import StoredCheckpoint
from prov_common.tlog.model import Checkpoint, LogLeaf

MEMORY_FORMAT = "https://tdprov.dev/auditor-memory/v2"
LOCK_SUFFIX = ".lock"
GONE_ACCEPTED = "accepted"  # the mark of a remembered store identity whose deletion a person accepted (audit/identity.py)
NEWEST_RUNS = 1000  # run ids of the newest leaves kept with the checkpoint (about 40 kB of the file)


@dataclass(frozen=True)
class KnownCheckpoint:
    """A checkpoint as an auditor remembers it: enough to prove a later log extends it."""

    size: int
    root: str
    digest: str
    key: str = ""
    time: str = ""
    frontier: tuple[str, ...] = ()
    source: str = field(default="", compare=False)  # who kept it, for messages: "witness 'file.json'"

    @classmethod
    def of(cls, sc: StoredCheckpoint) -> "KnownCheckpoint":
        cp = sc.checkpoint
        return cls(cp.size, cp.root, sc.digest, sc.key, cp.time, cp.frontier)

    def checkpoint(self) -> Checkpoint:
        """The tree it names (frontier checked against the root)."""
        cp = Checkpoint(self.size, self.root, self.time, None, self.frontier)
        cp.check_frontier()
        return cp

    def to_dict(self) -> dict[str, Any]:
        return {"size": self.size, "root": self.root, "digest": self.digest, "key": self.key, "time": self.time, "frontier": list(self.frontier)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "KnownCheckpoint":
        return cls(int(raw["size"]), str(raw["root"]), str(raw["digest"]), str(raw.get("key", "")), str(raw.get("time", "")),
                   tuple(raw.get("frontier") or ()))

    def published(self) -> dict[str, Any]:
        """The form reports and witnesses carry: size, root and the digest of the checkpoint object."""
        return {"treeSize": self.size, "rootHash": self.root, "checkpointDigest": self.digest, "checkpoint": self.key}


@dataclass
class AuditorMemory:
    """See the module docstring. ``runs``: run id -> logged index key; ``tags``: key -> fingerprint
    ('' until a listing shows the object; for an object this auditor wrote (a lookup, leaf batch, catalog object,
    audit record or report), the fingerprint the store gave it when it created it, where the store told, else the
    SHA-256 of the bytes written, see ``inventory.WRITTEN``; for a resolution, always the SHA-256); both are loaded from the pinned ``inventory``
    objects (``memory_objects.py``), or from the file itself in the older format (``inline``)."""

    store: str
    checkpoint: KnownCheckpoint | None = None
    runs: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    open: list[Finding] = field(default_factory=list)
    resolutions: list[dict[str, Any]] = field(default_factory=list)
    path: Path | None = None
    inventory: list[dict[str, str]] = field(default_factory=list)  # pinned objects: {"key", "digest"}
    inline: bool = False  # runs and tags came from the file (format v1): the next save moves them to objects
    saved_runs: dict[str, str] = field(default_factory=dict, repr=False)  # as loaded: what is new goes to a segment
    saved_tags: dict[str, str] = field(default_factory=dict, repr=False)
    identity: dict[str, str] | None = None  # the store's identity as first seen: {"storeId", "digest"[, "gone"]} (audit/identity.py)
    protection: dict[str, object] | None = None  # an S3 bucket's versioning and Object Lock, as BucketProtection.to_dict()
    newest_runs: list[str] = field(default_factory=list)  # run ids of the leaves just below checkpoint.size, oldest first
    kept: bool = field(default=False, compare=False)  # loaded from a file: this auditor audited the store before, even while empty

    def move_to(self, head: StoredCheckpoint, leaves: Iterable[LogLeaf]) -> None:
        """Remember ``head``, proved to extend the checkpoint remembered by ``leaves`` (those logged after it, in order)."""
        self.newest_runs = [*(self.newest_runs if self.checkpoint else ()), *(x.run_id for x in leaves)][-NEWEST_RUNS:]
        self.checkpoint = KnownCheckpoint.of(head)

    def to_dict(self) -> dict[str, Any]:
        out = {"format": MEMORY_FORMAT, "store": self.store, "checkpoint": self.checkpoint.to_dict() if self.checkpoint else None,
               "inventory": self.inventory, "open": [f.to_dict() for f in self.open], "resolutions": self.resolutions}
        if self.identity is not None:
            out["storeIdentity"] = self.identity
        if self.protection is not None:
            out["bucketProtection"] = self.protection
        if self.newest_runs:
            out["newestRuns"] = self.newest_runs
        if self.inline:  # kept in the file (a read-only audit cannot write inventory objects): the next writing audit moves them
            out.update(runs=self.runs, tags=self.tags)
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any], path: Path | None = None) -> "AuditorMemory":
        cp = raw.get("checkpoint")
        inline = "runs" in raw or "tags" in raw
        identity = raw.get("storeIdentity")
        return cls(str(raw["store"]), KnownCheckpoint.from_dict(cp) if cp else None, dict(raw.get("runs") or {}),
                   dict(raw.get("tags") or {}), [Finding(**f) for f in raw.get("open") or []], list(raw.get("resolutions") or []), path,
                   [{"key": str(p["key"]), "digest": str(p["digest"])} for p in raw.get("inventory") or []], inline,
                   identity=_identity(identity) if identity else None,
                   protection=dict(raw["bucketProtection"]) if isinstance(raw.get("bucketProtection"), dict) else None,
                   newest_runs=[str(r) for r in raw.get("newestRuns") or ()], kept=True)

    def add_open(self, findings: list[Finding]) -> None:
        """Keep ``findings`` open (once each) until a resolution."""
        self.open = distinct([*self.open, *findings])


def _identity(raw: dict[str, Any]) -> dict[str, str]:
    """The remembered store identity of a memory file: its id, digest and, if a person accepted its deletion, the mark."""
    return {"storeId": str(raw["storeId"]), "digest": str(raw["digest"]), **({"gone": str(raw["gone"])} if "gone" in raw else {})}


def store_id(store_uri: str) -> str:
    """A store's name in the auditor's records: 16 hex of the SHA-256 of its URI."""
    return hashlib.sha256(store_uri.rstrip("/").encode()).hexdigest()[:16]


def memory_path(store_uri: str, home: Path | None = None) -> Path:
    """Where this user's auditor memory of ``store_uri`` lives."""
    return (home or default_home()) / "audits" / f"{store_id(store_uri)}.json"


def load_memory(store_uri: str, path: Path | None = None) -> AuditorMemory:
    """The memory of ``store_uri`` (an empty one when this auditor never audited it)."""
    path = path or memory_path(store_uri)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return AuditorMemory(store_uri, path=path)
    except (OSError, ValueError) as exc:
        raise BadInputError(f"auditor memory '{path}' cannot be read ({exc}).",
                            fix="restore it from a backup; deleting it makes the next audit trust the store as it is now") from exc
    try:
        if not isinstance(raw, dict):
            raise TypeError(f"a JSON {type(raw).__name__}, not an object")
        memory = AuditorMemory.from_dict(raw, path)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BadInputError(f"auditor memory '{path}' is damaged ({exc!r}).", fix="restore it from a backup") from exc
    if memory.store.rstrip("/") != store_uri.rstrip("/"):
        raise BadInputError(f"auditor memory '{path}' belongs to store '{memory.store}', not '{store_uri}'.",
                            fix="point TDPROV_HOME at the home that audits this store")
    return memory


def accepted_gone_id(store_uri: str) -> str | None:
    """The store id this user's auditor remembers of ``store_uri`` when a person accepted the deletion of its identity
    (None: it remembers none, a memory that cannot be read included), by which readers judge the store's records
    while it has none (``prov_common.store.identity``)."""
    try:
        kept = load_memory(store_uri).identity
    except BadInputError:
        return None
    return kept["storeId"] if kept and kept.get("gone") == GONE_ACCEPTED else None


def save_memory(memory: AuditorMemory) -> Path:
    """Write the memory atomically, readable by its owner alone (mode 0600): a crash or a failed write (a full disk)
    leaves the previous file whole and no temporary file beside it."""
    path = memory.path or memory_path(memory.store)
    path.parent.mkdir(parents=True, exist_ok=True)
    with part_file(path, 0o600, lambda tmp: os.replace(tmp, path)) as (_, out):
        out.write(json.dumps(memory.to_dict(), sort_keys=True, separators=(",", ":")).encode("utf-8"))
    memory.path = path
    return path


@contextlib.contextmanager
def memory_lock(path: Path) -> Iterator[None]:
    """Hold the exclusive lock of the memory file at ``path`` (``<path>.lock``, ``flock``) for a whole audit:
    two auditors sharing ``TDPROV_HOME`` take turns, so neither loads a memory that the other is about
    to replace (the file itself is always replaced atomically). The operating system releases the lock
    when a process dies; a second auditor waits, and says so on stderr."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + LOCK_SUFFIX), "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"tdprov: waiting for another audit of this store by this auditor to finish (lock {handle.name})", file=sys.stderr,
                  flush=True)
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def who() -> str:
    """The person a resolution is recorded for."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


__all__ = ["AuditorMemory", "KnownCheckpoint", "NEWEST_RUNS", "load_memory", "memory_lock", "memory_path", "save_memory", "store_id",
           "who"]
