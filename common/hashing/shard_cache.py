"""Recorded shard digests, so that re-hashing a sharded dataset reads only the shards that changed.

A digest is reused when the shard's location, size and stamp are the ones it was recorded with: the
modification time in nanoseconds and the inode for a local file, the ETag for an S3 object, and the
hashing options (docs/content-hash.md, "Sharded datasets", says when this is safe). An S3 shard listed with an
empty ETag has no stamp that names its bytes: it is read every time, and its digest is not kept. The cache is a
SQLite file per user, ``$TDPROV_HOME/cache/shard-digests.sqlite``; losing it only costs a full read. So does a cache
that cannot be used (damaged, not a file, in a folder this user cannot write): it is skipped with a warning, once
per process, and every shard is read; a recorded digest that cannot be read is not taken.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path

from prov_common.config import default_home
from prov_common.hashing.shard_model import ShardDigest, ShardRef
from prov_common.once import Once

log = logging.getLogger(__name__)
UNUSABLE_WARNED = Once()  # (cache path,): a cache that cannot be used, warned about once per process

RACY_NS = 2_000_000_000  # a file modified this recently may change again within one timestamp tick: not cached
_BATCH = 500  # locations per query (SQLite allows 999 parameters by default)
_SCHEMA = """CREATE TABLE IF NOT EXISTS shard_digests (
    location TEXT NOT NULL, options TEXT NOT NULL, size INTEGER NOT NULL, stamp TEXT NOT NULL, record TEXT NOT NULL,
    PRIMARY KEY (location, options))"""


def default_cache_path() -> Path:
    """``$TDPROV_HOME/cache/shard-digests.sqlite``."""
    return default_home() / "cache" / "shard-digests.sqlite"


class ShardCache:
    """Shard digests by (location, hashing options), valid while size and stamp stay the same."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_cache_path()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=30)
        db.execute(_SCHEMA)
        return db

    def lookup(self, refs: Iterable[ShardRef], options: str) -> dict[str, ShardDigest]:
        """Location -> recorded digest, for the shards whose size and stamp did not change (none of a shard listed
        with an empty ETag, which a cache of an earlier tdprov may hold)."""
        wanted = {r.location: r for r in refs if not r.unpinned}
        found: dict[str, ShardDigest] = {}
        if not wanted:
            return found
        locations = list(wanted)
        try:
            if not self.path.exists():  # a folder on its way this user cannot search: PermissionError
                return found
            with closing(self._connect()) as db:
                for i in range(0, len(locations), _BATCH):
                    batch = locations[i:i + _BATCH]
                    rows = db.execute("SELECT location, size, stamp, record FROM shard_digests WHERE options = ? AND "
                                      f"location IN ({', '.join('?' * len(batch))})", (options, *batch))
                    for location, size, stamp, record in rows:
                        ref = wanted.get(location)
                        if ref is not None and ref.size == size and ref.stamp == stamp:
                            if (digest := _recorded(record, ref)) is not None:
                                found[location] = digest
        except (sqlite3.Error, OSError) as exc:
            self._unusable(exc)
            return {}
        return found

    def record(self, done: Iterable[tuple[ShardRef, ShardDigest]], options: str, started_ns: int) -> int:
        """Keep the digests of shards read; local files modified within :data:`RACY_NS` of ``started_ns``
        (when listing began), and S3 shards listed with an empty ETag, are left out. Returns how many were kept."""
        rows = [(ref.location, options, ref.size, ref.stamp, json.dumps(d.to_dict(), sort_keys=True))
                for ref, d in done if not ref.unpinned and (ref.mtime_ns is None or ref.mtime_ns < started_ns - RACY_NS)]
        if rows:
            try:
                with closing(self._connect()) as db, db:
                    db.executemany("INSERT OR REPLACE INTO shard_digests VALUES (?, ?, ?, ?, ?)", rows)
            except (sqlite3.Error, OSError) as exc:
                self._unusable(exc)
                return 0
        return len(rows)

    def _unusable(self, exc: Exception) -> None:
        if UNUSABLE_WARNED.first(str(self.path)):
            log.warning("tdprov: the shard digest cache %s cannot be used (%s: %s); every shard is read in full. Fix: "
                        "remove it (it is made again), or set TDPROV_HOME to a folder this user can write",
                        self.path, type(exc).__name__, exc)


def _recorded(record: object, ref: ShardRef) -> ShardDigest | None:
    """The digest recorded for ``ref``, or None when the record cannot be read (the shard is then read again)."""
    try:
        return ShardDigest.from_dict({**json.loads(record), "path": ref.path})  # type: ignore[arg-type]
    except (ValueError, TypeError, KeyError):
        return None


def now_ns() -> int:
    """The wall clock in nanoseconds (what file modification times are compared with)."""
    return time.time_ns()
