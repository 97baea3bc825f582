"""Data snapshots: content-addressed, write-once copies of dataset versions in the store.

A file's bytes live once under ``objects/blake3/<hex>`` (its file digest). A table (Parquet, CSV,
JSON lines) is recorded by its canonical *table* digest, so ``objects/index/<table hex>.json`` maps
that digest to the object holding the file. ``checkout`` restores the exact bytes for either digest
and verifies them before they replace anything.
"""
from __future__ import annotations

import contextlib
import itertools
import os
import re
import secrets
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prov_common.hashing.raw import blake3_digest
from prov_common.canonical_json import canonical_bytes, loads
from prov_common.errors import BadInputError, ObjectConflictError, StoreUnavailableError, VerificationError
from prov_common.regular_file import kind_of
from prov_common.store.base import Store
from prov_common.store.errors import ObjectNotFoundError, outage_refix

if TYPE_CHECKING:
    from prov_common.store.s3 import DeleteMarker, KeptVersions, SealedVersion

ALGORITHM = "blake3"
INDEX_FORMAT = "tdprov-snapshot-index/1"
SET_FORMAT = "tdprov-snapshot-set/1"
OBJECT_PREFIX = f"objects/{ALGORITHM}/"  # + <hex>: the bytes with this file digest
INDEX_PREFIX = "objects/index/"  # + <hex>.json: the index entry of a table or of a version of several files
INDEX_LIMIT = 64 << 20  # the largest index entry read: a table's is a few hundred bytes, a set's one line per file
_HEX = "[0-9a-f]{64}"
_DIGEST = re.compile(rf"(?P<algo>[a-z0-9]+):(?P<hex>{_HEX})\Z")
_KEPT_OBJECT = re.compile(rf"(?:{re.escape(OBJECT_PREFIX)}{_HEX}|{re.escape(INDEX_PREFIX)}{_HEX}\.json)\Z")


def parse_digest(digest: str) -> str:
    """The hex part of a ``blake3:<64 hex>`` digest; BadInputError otherwise."""
    match = _DIGEST.match(digest.strip().lower()) if isinstance(digest, str) else None
    if match is None or match["algo"] != ALGORITHM:
        raise BadInputError(f"{digest!r} is not a {ALGORITHM} digest.", fix=f"pass a digest like {ALGORITHM}:<64 hex digits>")
    return match["hex"]


def object_key(digest: str) -> str:
    """``objects/blake3/<hex>``: where the bytes with this file digest are kept."""
    return f"{OBJECT_PREFIX}{parse_digest(digest)}"


def index_key(table_digest: str) -> str:
    """``objects/index/<hex>.json``: which object holds the table with this digest."""
    return f"{INDEX_PREFIX}{parse_digest(table_digest)}.json"


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
        return _parsed(data, key, INDEX_FORMAT, lambda raw: cls(
            str(raw["table"]), _object_digest(raw["object"]), int(raw["bytes"]), _file_name(str(raw["name"])),
            _table_format(raw["tableFormat"])))


def _parsed(data: bytes, key: str, fmt: str, build: Callable[[dict[str, Any]], Any]) -> Any:
    """``build`` applied to the index entry ``data`` of format ``fmt``; any defect is a VerificationError."""
    try:
        raw = loads(data)
        if raw.get("format") != fmt:
            raise ValueError(f"format {raw.get('format')!r}")
        return build(raw)
    except (ValueError, KeyError, TypeError, AttributeError, BadInputError) as exc:
        raise VerificationError(f"snapshot index '{key}' is malformed ({exc}).", fix="restore it from a replica") from exc


@dataclass(frozen=True)
class KeptSnapshot:
    """What a writer kept of one dataset version: ``version`` (the digest lineage records), ``object`` (the key whose
    bytes :func:`checkout` reads first: a file's or table's bytes under ``objects/blake3/``, or a sharded version's
    index entry) and its size in ``bytes``. Recorded in the version's ``tdprov_contentHash`` facet (``snapshot``)."""

    version: str
    object: str
    bytes: int

    def to_facet(self) -> dict[str, Any]:
        """The ``snapshot`` member of the ``tdprov_contentHash`` facet."""
        return {"object": self.object, "bytes": self.bytes}

    @staticmethod
    def read_facet(raw: Any) -> tuple[str, int] | None:
        """The ``object`` and ``bytes`` a ``snapshot`` member (:meth:`to_facet`) records, or None when ``raw`` is none
        or is not one tdprov writes (an object key of another shape, a size that is no count of bytes)."""
        if not isinstance(raw, dict) or not isinstance(raw.get("object"), str) or not _KEPT_OBJECT.match(raw["object"]):
            return None
        size = raw.get("bytes")
        return (raw["object"], size) if type(size) is int and size >= 0 else None


def has_snapshot(store: Store, digest: str) -> bool:
    """Whether ``store`` holds a snapshot that :func:`checkout` can restore as ``digest`` (a table or sharded version's
    index entry, or a file's bytes); False for a digest that is not BLAKE3 (no snapshot is kept under one)."""
    try:
        keys = (index_key(digest), object_key(digest))
    except BadInputError:
        return False
    return any(store.exists(key) for key in keys)


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
    return keep_path(store, path, table_digest=table_digest).version


def keep_path(store: Store, path: str | os.PathLike[str], *, table_digest: str | None = None) -> KeptSnapshot:
    """:func:`snapshot_path`, returning what was kept: for a table, the object its index entry names (the bytes
    indexed first, when the same table was kept before in other bytes)."""
    from prov_common.hashing import hash_path
    from prov_common.hashing.files import table_format

    path = Path(path)
    file_digest = _keep_file(store, path)
    fmt = table_format(path)
    if fmt is None:
        return KeptSnapshot(file_digest.digest, object_key(file_digest.digest), file_digest.bytes)
    table = table_digest or hash_path(path).digest
    index, key = SnapshotIndex(table, file_digest.digest, file_digest.bytes, path.name, fmt), index_key(table)
    try:
        store.put(key, index.to_json())
    except ObjectConflictError:  # the same table in other bytes (e.g. other compression) is already indexed: either restores it
        index = SnapshotIndex.from_json(store.get(key, INDEX_LIMIT), key)
    return KeptSnapshot(table, object_key(index.object), index.bytes)


def keep_uri(store: Store, uri: str, *, table_digest: str | None = None) -> KeptSnapshot:
    """:func:`keep_path` for a local path, ``file://`` or ``s3://`` URI (an S3 object is fetched once)."""
    with local_copy(uri) as path:
        return keep_path(store, path, table_digest=table_digest)


@contextlib.contextmanager
def local_copy(uri: str) -> Iterator[Path]:
    """The local path of ``uri`` (a path or ``file://`` URI); an ``s3://`` object is fetched to a temporary
    file, removed on exit, that keeps the object's name."""
    import tempfile
    from urllib.parse import unquote, urlsplit

    from prov_common.hashing.remote import S3_SCHEMES, open_s3, split_s3_uri

    parts = urlsplit(str(uri))
    if parts.scheme not in S3_SCHEMES:
        yield Path(unquote(parts.path) if parts.scheme == "file" else uri)
        return
    with tempfile.TemporaryDirectory(prefix="tdprov-snapshot-") as tmp:
        local = Path(tmp) / (Path(split_s3_uri(uri)[1]).name or "object")
        with open_s3(uri) as body, open(local, "wb") as out:
            while chunk := body.read(1 << 20):
                out.write(chunk)
        yield local


def _keep_file(store: Store, path: Path) -> Any:
    """Store the bytes of ``path`` under their file digest (once); returns that ``FileDigest``."""
    from prov_common.hashing import hash_stream

    if not path.is_file():
        raise BadInputError(f"cannot snapshot '{path}': not a readable file.", fix="pass the path of the written dataset file")
    file_digest = _file_digest(path, hash_stream)
    store.put_file(object_key(file_digest.digest), path)
    if _file_digest(path, hash_stream).digest != file_digest.digest:
        raise BadInputError(f"'{path}' changed while it was being snapshotted.", fix="snapshot it after the writer has finished")
    return file_digest


@dataclass(frozen=True)
class SnapshotSet:
    """Maps the digest of a version made of several files (e.g. shards) to each file's object."""

    version: str
    files: tuple[tuple[str, str, int], ...]  # (path relative to the version's folder, file digest, bytes)

    def to_json(self) -> bytes:
        return canonical_bytes({"format": SET_FORMAT, "version": self.version,
                                "files": [{"path": p, "object": o, "bytes": b} for p, o, b in self.files]})

    @staticmethod
    def is_set(data: bytes) -> bool:
        try:
            return loads(data).get("format") == SET_FORMAT
        except (ValueError, AttributeError):
            return False

    @classmethod
    def from_json(cls, data: bytes, key: str) -> "SnapshotSet":
        return _parsed(data, key, SET_FORMAT, lambda raw: cls(str(raw["version"]), tuple(
            (_relative(str(f["path"])), _object_digest(f["object"]), int(f["bytes"])) for f in raw["files"])))


def _object_digest(value: Any) -> str:
    """The file digest an index entry names its object by (the index is unsigned: anything else is no entry tdprov
    wrote, not a digest the user gave)."""
    if not isinstance(value, str) or _DIGEST.match(value) is None or not value.startswith(f"{ALGORITHM}:"):
        raise ValueError(f"object {str(value)[:100]!r} is not a {ALGORITHM} digest")
    return value


def _table_format(value: Any) -> str:
    if value not in FORMAT_NAMES:
        raise ValueError(f"tableFormat {str(value)[:100]!r} is none of {', '.join(FORMAT_NAMES)}")
    return value


FILE_NAME_MAX = 255
"""Bytes at most in a file name, in UTF-8, as the file systems checkout writes to hold it (ext4, XFS, APFS): 100 CJK
characters are 300 bytes, which no such folder holds."""


def _fits(name: str, what: str) -> str:
    """``name``, one file name, unless it is longer than a file name can be: no file system checkout writes to holds
    it, so it was never a snapshotted file's (ValueError naming it as ``what``)."""
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > FILE_NAME_MAX:
        raise ValueError(f"{what} {name[:40]!r}… ({size:,} bytes) is longer than a file name can be ({FILE_NAME_MAX} bytes)")
    return name


def _file_name(name: str) -> str:
    """A plain file name (the index is unsigned: a name with a folder in it would restore outside ``-o``, and one
    no file system holds was never a snapshotted file's)."""
    if name in ("", ".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise ValueError(f"name {name[:100]!r} is not a plain file name")
    return _fits(name, "name")


def _relative(path: str) -> str:
    """A relative ``/``-separated path that stays inside the checkout folder, each part a name a file can have (the
    index is unsigned); ValueError otherwise."""
    parts = path.split("/")
    if not path or path.startswith("/") or "\0" in path or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"path {path[:100]!r} is not a relative path inside the version's folder")
    for part in parts:
        _fits(part, f"path {path[:40]!r}… has a part")
    return path


def _given_relative(path: str) -> str:
    """:func:`_relative` of a path a writer gives: a defect is bad input."""
    try:
        return _relative(path)
    except ValueError as exc:
        raise BadInputError(f"cannot snapshot: {exc}.", fix="name files below the folder") from None


def snapshot_files(store: Store, version: str, root: str | os.PathLike[str],
                   paths: list[str | os.PathLike[str]] | None = None) -> SnapshotSet:
    """Keep every file of a version made of several files (the shards under ``root``; all files below it
    when ``paths`` is None) and index them under ``version``, the digest lineage records for it: their sharded
    dataset digest (as ``tdprov hash`` gives the folder), which ``checkout`` checks them against.

    Unchanged files are stored once; ``checkout(store, version, folder)`` restores them all."""
    parse_digest(version)
    base = Path(root)
    chosen = [Path(p) for p in paths] if paths is not None else [p for p in base.rglob("*") if p.is_file()]
    files = []
    for path in sorted(chosen):
        try:
            below = path.relative_to(base).as_posix()
        except ValueError:
            raise BadInputError(f"'{path}' is not below '{base}'.", fix="pass the files of the version's folder") from None
        files.append((_given_relative(below), *keep_set_file(store, path)))
    snapshot = SnapshotSet(version, tuple(files))
    keep_set(store, snapshot)
    return snapshot


def keep_set_file(store: Store, path: Path) -> tuple[str, int]:
    """Store one file of a version of several files (once); returns its file digest and bytes."""
    kept = _keep_file(store, path)
    return kept.digest, kept.bytes


def keep_set(store: Store, snapshot: SnapshotSet) -> KeptSnapshot:
    """Index the files of ``snapshot`` (already kept) under its version digest; returns what was kept: the version's
    index entry (the one written first, when the same version was indexed before) and its size."""
    parse_digest(snapshot.version)
    for rel, _, _ in snapshot.files:
        _given_relative(rel)
    key, data = index_key(snapshot.version), snapshot.to_json()
    try:
        store.put(key, data)
    except ObjectConflictError:  # the same version indexed before: either set restores it
        data = store.get(key, INDEX_LIMIT)
    return KeptSnapshot(snapshot.version, key, len(data))


def _file_digest(path: Path, hash_stream):  # type: ignore[no-untyped-def]
    with open(path, "rb") as f:
        return hash_stream(f)


def checkout(store: Store, digest: str, dest: str | os.PathLike[str], *, force: bool = False,
             verify_table: bool = True, note: Callable[[str], None] | None = None) -> Path:
    """Restore the bytes recorded as ``digest`` (a file, a table, or a version of several files) to ``dest``;
    returns the path.

    ``dest`` may be a folder (the file keeps its recorded name); a version of several files is always
    restored into the folder ``dest``, each file at its recorded relative path. Every file is downloaded next
    to its target and verified against its file digest; a table is then re-hashed, and the shards of a version
    of several files hashed as a sharded dataset, and checked against ``digest`` itself (the snapshot index that
    maps it to objects is unsigned). Only then does anything replace a file: on any failure nothing is written.
    ``verify_table=False`` skips that re-hash and trusts the index (for data too large to hash twice).
    ``note``, when given, is told the :func:`format_note` of a table restored under a name that ends otherwise.
    A store that stops answering, or an object of the version gone from it, is an error naming the object and the fix
    (:data:`FIX_CHECKOUT_AGAIN`, :data:`FIX_SNAPSHOT_GONE`), nothing written.
    """
    try:
        return _checkout(store, digest, dest, force, verify_table, note)
    except StoreUnavailableError as exc:  # a read is never spooled: the fix says what to do instead
        raise outage_refix(exc, FIX_CHECKOUT_AGAIN) from None


def _checkout(store: Store, digest: str, dest: str | os.PathLike[str], force: bool, verify_table: bool,
              note: Callable[[str], None] | None) -> Path:
    """:func:`checkout`, whose store may stop answering at any read."""
    hex_ = parse_digest(digest)
    asked = f"{ALGORITHM}:{hex_}"
    ikey = index_key(digest)
    if store.exists(object_key(digest)) or (not store.exists(ikey) and _hidden(store, object_key(digest)) is not None):
        target = Path(dest) / hex_ if Path(dest).is_dir() else Path(dest)
        _refuse_existing([target], force)
        with _staged(store, [(object_key(digest), asked, target, None)]) as staged:
            _commit(staged)
        return target
    if not store.exists(ikey):
        if (marker := _hidden(store, ikey)) is not None:
            raise ObjectNotFoundError(f"the snapshot index '{ikey}' of {digest} in {store.describe()} is hidden by a delete marker.",
                                      fix=marker.fix("then check out again"))
        raise ObjectNotFoundError(
            f"no snapshot of {digest} in {store.describe()}.",
            fix=("a copy is kept only by a run that writes the dataset with snapshots on (TDPROV_SNAPSHOT, or snapshot=True "
                 "on the asset or task), or by 'tdprov snapshot PATH' while the data still holds these bytes; check the "
                 "digest with 'tdprov lineage'"),
        )
    data = store.get(ikey, INDEX_LIMIT)
    if SnapshotSet.is_set(data):
        files = SnapshotSet.from_json(data, ikey)
        if files.version != asked:
            raise VerificationError(f"snapshot index '{ikey}' names version {files.version}, not {digest}.", fix="restore it from a replica")
        root = Path(dest)
        _refuse_existing([root / rel for rel, _, _ in files.files], force)
        with _staged(store, [(object_key(o), o, root / rel, size) for rel, o, size in files.files]) as staged:
            if verify_table:
                from prov_common.store.shard_snapshots import check_restored_shards

                check_restored_shards(files, {rel: tmp for (rel, _, _), (tmp, _) in zip(files.files, staged)},
                                      _not_this_version(store, ikey))
            _commit(staged)
        return root
    index = SnapshotIndex.from_json(data, ikey)
    if index.table != asked:
        raise VerificationError(f"snapshot index '{ikey}' names table {index.table}, not {digest}.", fix="restore it from a replica")
    target = Path(dest) / index.name if Path(dest).is_dir() else Path(dest)
    _refuse_other_format(index, target)
    _refuse_existing([target], force)
    with _staged(store, [(object_key(index.object), index.object, target, index.bytes)], suffix=Path(index.name).suffix) as staged:
        if verify_table:  # hashed as the table it was recorded as (its suffix), whatever the name it is restored to
            _check_table(staged[0][0], asked, _not_this_version(store, ikey))
        _commit(staged)
    if note is not None and (said := format_note(index, target)):
        note(said)
    return target


FORMAT_NAMES = {"parquet": "Parquet", "csv": "CSV", "jsonl": "JSON-lines"}
"""How a table format is said to a user."""


def format_note(index: SnapshotIndex, target: Path) -> str:
    """`` (a Parquet file, as snapshotted: raw.parquet)`` when ``target``'s name does not end as the snapshot's does,
    else ``""``: the bytes restored are the snapshot's, whatever the name they were restored to."""
    if target.suffix.lower() == Path(index.name).suffix.lower():
        return ""
    return f" (a {FORMAT_NAMES.get(index.table_format, index.table_format)} file, as snapshotted: {index.name})"


def _refuse_other_format(index: SnapshotIndex, target: Path) -> None:
    """A table is restored in the format it was snapshotted in (one table digest stands for the same table as
    CSV, Parquet or JSON lines, and the store keeps the first file given): never under a name that says another."""
    from prov_common.hashing.files import table_format

    named = table_format(target.name)
    if named is None or named == index.table_format:
        return
    recorded = FORMAT_NAMES.get(index.table_format, index.table_format)
    raise BadInputError(
        f"the snapshot of {index.table} is a {recorded} file ({index.name}, the first file of this table snapshotted); "
        f"'{target}' ends in {target.suffix}, the suffix of a {FORMAT_NAMES[named]} file.",
        fix=f"restore it to a name ending in {Path(index.name).suffix} or into a folder (it keeps the name {index.name}), "
            f"and convert it to {FORMAT_NAMES[named]} if you need that")


NOT_THIS_VERSION = "restore the index entry from a replica, or snapshot the version again from a copy you trust"

FIX_SNAPSHOT_GONE = ("the store no longer holds this file of the snapshot (removed by hand or by a lifecycle rule): "
                     "restore the object from a replica or a backup, or snapshot the version again from a copy that "
                     "holds it ('tdprov snapshot PATH'), then check out again; nothing was written")
"""The fix of a checkout that found one of the version's objects gone (no delete marker hides it)."""

FIX_CHECKOUT_AGAIN = "check out again once the store answers; nothing was written"
"""How the fix of a checkout the store stopped answering ends (a read is never spooled)."""


def _not_this_version(store: Store, ikey: str) -> str:
    """Why a restored version that does not hash to the digest asked for was refused."""
    return (f"the snapshot index '{ikey}' in {store.describe()} (unsigned) names another version's data, edited or "
            "damaged; nothing was written")


def _check_table(path: Path, asked: str, why: str) -> None:
    """The table file at ``path`` has the table digest ``asked``; a VerificationError naming the one found otherwise."""
    from prov_common.hashing import hash_path

    found = hash_path(path).digest
    if found != asked:
        raise VerificationError(f"the table restored as {asked} hashes to {found}: {why}.", fix=NOT_THIS_VERSION)


def _refuse_existing(targets: list[Path], force: bool) -> None:
    """Nothing is replaced without ``force``, a symbolic link included (one that leads nowhere or to itself too: the
    link is replaced, never written through), and nothing but a file or a link even with it (a named pipe or a device,
    such as ``/dev/null``, would be replaced by a file): checked for every file before the first is written."""
    for target in targets:
        try:
            mode = os.lstat(target).st_mode
        except (FileNotFoundError, NotADirectoryError):
            continue
        if not force:
            link = " (a symbolic link: --force replaces the link, not what it leads to)" if stat.S_ISLNK(mode) else ""
            raise BadInputError(f"'{target}' exists{link}.", fix="pass --force to replace it, or choose another -o path")
        if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
            raise BadInputError(f"'{target}' is {kind_of(mode)}, not a file: --force replaces only a file or a symbolic "
                                "link.", fix="choose another -o path")


@contextlib.contextmanager
def _staged(store: Store, items: list[tuple[str, str, Path, int | None]], *,
            suffix: str | None = None) -> Iterator[list[tuple[Path, Path]]]:
    """Download each ``(key, file digest, target, size recorded or None)`` next to its target and verify its bytes (else
    read a retained version that verifies, :func:`_retained`); yields ``(temporary file, target)`` pairs for
    :func:`_commit`. The temporary files end in ``suffix`` (default: their target's), which says how a table among them
    is hashed. Temporary files left (all of them on any failure) are removed on exit."""
    from prov_common.progress import bar  # tqdm: a restore's bar, never a step's

    staged: list[tuple[Path, Path]] = []
    made: list[Path] = []
    try:
        for key, expected, target, size in bar(items, desc="restoring files", unit="file"):
            made += _make_folder(target.parent)
            tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part{target.suffix if suffix is None else suffix}")
            staged.append((tmp, target))
            _download(store, key, expected, tmp, size)
        yield staged
    finally:
        for tmp, _ in staged:
            with contextlib.suppress(OSError):  # gone once replaced; a cleanup that fails must not hide the real error
                os.unlink(tmp)
        for folder in reversed(made):  # the folders made here for a version that was refused
            with contextlib.suppress(OSError):
                folder.rmdir()


def _commit(staged: list[tuple[Path, Path]]) -> None:
    """Replace every target by its verified temporary file (each atomically)."""
    for tmp, target in staged:
        os.replace(tmp, target)


def _make_folder(folder: Path) -> list[Path]:
    """Make ``folder`` and its missing parents; returns those made, outermost first."""
    missing = list(itertools.takewhile(lambda f: not f.exists(), (folder, *folder.parents)))[::-1]
    folder.mkdir(parents=True, exist_ok=True)
    return missing


def _download(store: Store, key: str, expected: str, tmp: Path, size: int | None) -> None:
    """Write ``key`` to ``tmp`` and verify it hashes to ``expected`` (else read a retained version that does, of
    ``size`` when known: :func:`_retained`)."""
    from prov_common.hashing import hash_stream

    try:
        store.get_file(key, tmp)
    except ObjectNotFoundError as exc:  # a delete marker may hide it: its bytes are then kept as a version under the marker
        if (marker := _hidden(store, key)) is None:
            raise exc.refixed(FIX_SNAPSHOT_GONE) from None
        found = _retained(store, key, expected, tmp, size, marker)
        if found is None or found.version is None:
            unread = _unread(found, marker)
            raise VerificationError(f"snapshot object '{key}' in {store.describe()} is hidden by a delete marker"
                                    f"{unread or ' and no version kept under it hashes to ' + expected}.",
                                    fix=_damaged(marker, unread)) from None
        return
    got = _file_digest(tmp, hash_stream).digest
    if got == expected:
        return
    kept = _kept(store, key)
    found = _retained(store, key, expected, tmp, size, kept)
    if found is None or found.version is None:
        unread = "" if kept is None else _unread(found, kept)
        raise VerificationError(f"snapshot object '{key}' in {store.describe()} hashes to {got}, not {expected}{unread}.",
                                fix=_damaged(kept, unread))


def _hidden(store: Store, key: str) -> "DeleteMarker | None":
    """The delete marker that hides ``key`` on a versioned S3 bucket; None when none does or the store cannot tell."""
    find = getattr(store, "delete_marker", None)
    return None if find is None else find(key)


def _kept(store: Store, key: str) -> "KeptVersions | None":
    """The versions of ``key`` one listing shows kept on a versioned S3 bucket; None when the store keeps none."""
    listing = getattr(store, "kept_versions", None)
    return None if listing is None else listing(key)


def _retained(store: Store, key: str, expected: str, tmp: Path, size: int | None,
              kept: "DeleteMarker | KeptVersions | None") -> "SealedVersion | None":
    """On a versioned (Object Lock) bucket whose object ``key`` was overwritten or hidden by a delete marker, ``kept``
    listing the versions kept (:func:`_kept`, the marker's): write to ``tmp`` the one that hashes to ``expected``, read
    as verify reads them (:func:`~prov_common.store.markers.read_for`: those of ``size`` alone, newest first, at most
    :data:`~prov_common.store.markers.VERSIONS_READ`), each hashed as it streams into ``tmp`` a chunk at a time, so
    neither its size nor how many versions there are sets the memory or the reads. Which was found and how many were
    read; None when the store keeps no versions."""
    from prov_common.store.markers import read_for

    versions = getattr(store, "retained_versions", None)
    if versions is None or kept is None:
        return None
    return read_for(kept, versions, key, expected, size, into=tmp)


def _unread(found: "SealedVersion | None", kept: "DeleteMarker | KeptVersions") -> str:
    """What a search of the versions ``kept`` left unread, counted ("" when it read all those that could hold the bytes)."""
    if found is None or found.complete:
        return ""
    sized = "" if found.size is None else f" of its size ({found.size:,} bytes)"
    left = sum(1 for _, _, listed in kept.kept if found.size is None or listed is None or listed == found.size) - found.read
    more = f"{left} more were" if kept.complete else f"{left} more listed and those past one listing of the key were"
    return f", and none of the {found.read} newest versions kept{sized} that were read hashes to {found.digest} ({more} not read)"


def _damaged(kept: "DeleteMarker | KeptVersions | None", unread: str) -> str:
    """The fix of a snapshot object whose bytes were not found: past the versions read (``unread``), find them among all
    those kept; else restore them from a replica."""
    if not unread or kept is None:
        return "the stored copy is damaged; restore it from a replica"
    from prov_common.store.s3 import KeptVersions

    every = KeptVersions(kept.bucket, kept.key, kept.kept, kept.complete)
    return f"find the version with those bytes among all of them {every.find_and_copy('then check out again')}"
