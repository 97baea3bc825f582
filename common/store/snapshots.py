"""Data snapshots: content-addressed, write-once copies of dataset versions in the store.

A file's bytes live once under ``objects/blake3/<hex>`` (its file digest). A table (Parquet, CSV,
JSON lines) is recorded by its canonical *table* digest, so ``objects/index/<table hex>.json`` maps
that digest to the object holding the file. ``checkout`` restores the exact bytes for either digest
and verifies them before they replace anything.
"""
from __future__ import annotations

import contextlib
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from prov_common.hashing.raw import blake3_digest
from prov_common.canonical_json import canonical_bytes, loads
from prov_common.errors import BadInputError, ObjectConflictError, VerificationError
from prov_common.store.base import Store
from prov_common.store.errors import ObjectNotFoundError

ALGORITHM = "blake3"
INDEX_FORMAT = "tdprov-snapshot-index/1"
_DIGEST = re.compile(r"(?P<algo>[a-z0-9]+):(?P<hex>[0-9a-f]{64})\Z")


def parse_digest(digest: str) -> str:
    """The hex part of a ``blake3:<64 hex>`` digest; BadInputError otherwise."""
    match = _DIGEST.match(digest.strip().lower()) if isinstance(digest, str) else None
    if match is None or match["algo"] != ALGORITHM:
        raise BadInputError(f"{digest!r} is not a {ALGORITHM} digest.", fix=f"pass a digest like {ALGORITHM}:<64 hex digits>")
    return match["hex"]


def object_key(digest: str) -> str:
    """``objects/blake3/<hex>``: where the bytes with this file digest are kept."""
    return f"objects/{ALGORITHM}/{parse_digest(digest)}"


def index_key(table_digest: str) -> str:
    """``objects/index/<hex>.json``: which object holds the table with this digest."""
    return f"objects/index/{parse_digest(table_digest)}.json"


@dataclass(frozen=True)
class SnapshotIndex:
    """Maps a table digest to the file object that holds the table."""

    table: str
    object: str
    bytes: int
    name: str
    table_format: str

    def to_json(self) -> bytes:
        return canonical_bytes({"format": INDEX_FORMAT, "table": self.table, "object": self.object,
                                "bytes": self.bytes, "name": self.name, "tableFormat": self.table_format})

    @classmethod
    def from_json(cls, data: bytes, key: str) -> "SnapshotIndex":
        try:
            raw = loads(data)
            if raw.get("format") != INDEX_FORMAT:
                raise ValueError(f"format {raw.get('format')!r}")
            return cls(str(raw["table"]), str(raw["object"]), int(raw["bytes"]), str(raw["name"]), str(raw["tableFormat"]))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise VerificationError(f"snapshot index '{key}' is malformed ({exc}).", fix="restore it from a replica") from exc


def snapshot_bytes(store: Store, data: bytes) -> str:
    """Keep ``data`` under its file digest (a no-op if already kept); returns the digest."""
    digest = blake3_digest(data)
    store.put(object_key(digest), data)
    return digest


def snapshot_path(store: Store, path: str | os.PathLike[str], *, table_digest: str | None = None) -> str:
    """Keep the file at ``path`` in the store; returns the digest that names this dataset version.

    For a table file (by suffix: .parquet, .csv, .jsonl) that is its table digest (``table_digest``
    if the caller has just computed it, else computed here) and an index entry points at the bytes;
    for any other file it is the digest of the bytes.
    """
    from prov_common.hashing import hash_path, hash_stream
    from prov_common.hashing.files import table_format

    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"cannot snapshot '{path}': not a readable file.", fix="pass the path of the written dataset file")
    file_digest = _file_digest(path, hash_stream)
    store.put_file(object_key(file_digest.digest), path)
    if _file_digest(path, hash_stream).digest != file_digest.digest:
        raise BadInputError(f"'{path}' changed while it was being snapshotted.", fix="snapshot it after the writer has finished")
    fmt = table_format(path)
    if fmt is None:
        return file_digest.digest
    table = table_digest or hash_path(path).digest
    index = SnapshotIndex(table, file_digest.digest, file_digest.bytes, path.name, fmt)
    with contextlib.suppress(ObjectConflictError):
        # the same table in other bytes (e.g. other compression) is already indexed: either restores it
        store.put(index_key(table), index.to_json())
    return table


def snapshot_uri(store: Store, uri: str, *, table_digest: str | None = None) -> str:
    """:func:`snapshot_path` for a local path, ``file://`` or ``s3://`` URI (an S3 object is fetched once)."""
    import tempfile
    from urllib.parse import unquote, urlsplit

    from prov_common.hashing.remote import S3_SCHEMES, open_s3

    parts = urlsplit(str(uri))
    if parts.scheme not in S3_SCHEMES:
        return snapshot_path(store, unquote(parts.path) if parts.scheme == "file" else uri, table_digest=table_digest)
    with tempfile.TemporaryDirectory(prefix="tdprov-snapshot-") as tmp:
        local = Path(tmp) / (Path(parts.path).name or "object")
        with open_s3(uri) as body, open(local, "wb") as out:
            while chunk := body.read(1 << 20):
                out.write(chunk)
        return snapshot_path(store, local, table_digest=table_digest)


def _file_digest(path: Path, hash_stream):  # type: ignore[no-untyped-def]
    with open(path, "rb") as f:
        return hash_stream(f)


def checkout(store: Store, digest: str, dest: str | os.PathLike[str], *, force: bool = False,
             verify_table: bool = False) -> Path:
    """Restore the bytes recorded as ``digest`` (a file or a table digest) to ``dest``; returns the path.

    ``dest`` may be a folder (the file keeps its recorded name). The bytes are verified against the
    file digest before they replace ``dest``; ``verify_table`` also re-hashes a table.
    """
    from prov_common.hashing import hash_path, hash_stream

    hex_ = parse_digest(digest)
    key, index = object_key(digest), None
    if not store.exists(key):
        ikey = index_key(digest)
        if not store.exists(ikey):
            raise ObjectNotFoundError(
                f"no snapshot of {digest} in {store.describe()}.",
                fix="snapshots exist only for datasets written with snapshots enabled; check the digest with 'tdprov lineage'",
            )
        index = SnapshotIndex.from_json(store.get(ikey), ikey)
        if index.table != f"{ALGORITHM}:{hex_}":
            raise VerificationError(f"snapshot index '{ikey}' names table {index.table}, not {digest}.", fix="restore it from a replica")
        key = object_key(index.object)
    expected = index.object if index else f"{ALGORITHM}:{hex_}"
    target = Path(dest)
    if target.is_dir():
        target = target / (index.name if index else hex_)
    if target.exists() and not force:
        raise BadInputError(f"'{target}' exists.", fix="pass --force to replace it, or choose another -o path")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part{target.suffix}")
    try:
        store.get_file(key, tmp)
        got = _file_digest(tmp, hash_stream).digest
        if got != expected and _retained(store, key, expected, tmp):
            got = expected
        if got != expected:
            raise VerificationError(f"snapshot object '{key}' in {store.describe()} hashes to {got}, not {expected}.",
                                    fix="the stored copy is damaged; restore it from a replica")
        if index is not None and verify_table:
            table = hash_path(tmp).digest
            if table != index.table:
                raise VerificationError(f"restored table hashes to {table}, not {index.table}.", fix="check the hashing options")
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return target


def _retained(store: Store, key: str, expected: str, tmp: Path) -> bool:
    """On a versioned (Object Lock) bucket whose current object was overwritten: write the retained
    version that hashes to ``expected`` to ``tmp``. False when there is none (or no versions)."""
    versions = getattr(store, "retained_versions", None)
    if versions is None:
        return False
    for data in versions(key):
        if blake3_digest(data) == expected:
            tmp.write_bytes(data)
            return True
    return False
