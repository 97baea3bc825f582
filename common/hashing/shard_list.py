"""Listing the shards of a dataset version: a local folder, a glob of local paths, an S3 prefix (``s3://bucket/prefix/``)
or an S3 glob. Files and keys whose name, or a folder's, starts with ``.`` or ``_`` are not shards (``_SUCCESS``,
``_common_metadata``, ``.crc`` files, as Spark and Hive write them); every other file is one. Also when a local
folder or glob last changed (:func:`local_changed_at`) and what it holds (:func:`local_state`).
"""
from __future__ import annotations

import errno
import glob
import logging
import os
import stat
from collections.abc import Iterator, Sequence
from fnmatch import fnmatchcase
from pathlib import Path
from urllib.parse import unquote

from prov_common.errors import BadInputError
from prov_common.file_uri import home_hint
from prov_common.hashing.remote import (S3_SCHEMES, doubled_slash_refusal, is_s3_object, s3_client, s3_key, s3_version,
                                        single_slashed, versioned_uri)
from prov_common.hashing.shard_model import LocalState, ShardRef
from prov_common.once import Once
from prov_common.regular_file import kind_of
from prov_common.text import counted

log = logging.getLogger(__name__)
TWO_READINGS_WARNED = Once(inherited=True)  # (name, first match, matches): a glob is listed again on every hash; its two readings are named once per process

_WILDCARDS = frozenset("*?[")


def is_s3(target: str) -> bool:
    """True when ``target`` is an ``s3://`` (or ``s3a://``) URI."""
    return target.split("://", 1)[0].lower() in S3_SCHEMES and "://" in target


def has_wildcard(target: str) -> bool:
    """True when ``target`` is a glob pattern."""
    return any(c in _WILDCARDS for c in target)


def _local_glob(target: str) -> bool:
    """True when the local ``target`` is a glob: it holds a wildcard and is no folder (a folder named ``q?`` or
    ``run[1]`` is that folder, as a file of such a name is that file)."""
    return has_wildcard(target) and not os.path.isdir(target)


def is_sharded(target: str) -> bool:
    """True when ``target`` names a sharded dataset: a local folder, an S3 URI ending in ``/``, or a glob
    (a file or object whose name holds ``*``, ``?`` or ``[`` is a file)."""
    if is_s3(target):  # ?versionId= is one object
        return target.endswith("/") or (has_wildcard(target) and s3_version(target) is None and not is_s3_object(target))
    return os.path.isdir(target) or (has_wildcard(target) and not os.path.isfile(target))


def _hidden(relpath: str) -> bool:
    return any(part[:1] in (".", "_") for part in relpath.split("/"))


def local_ref(path: str, relpath: str = "") -> ShardRef:
    """The local file at ``path`` as it is now (``relpath``: its path in the dataset): its size and its stamp,
    the modification time, inode and change time that any write moves. Raises ``OSError`` when it cannot be read."""
    return stat_ref(path, relpath, os.stat(path))


def _shard_ref(path: str, relpath: str) -> ShardRef:
    """The listed shard at ``path``, which must be (or a symbolic link must lead to) a regular file: a named pipe,
    device or socket would block its reader forever or feed it without end; a link to nothing (or round a loop of
    links) is refused naming it, not taken for a file that is not there (an outlet not written). So is a name that is
    not UTF-8 (Latin-1 bytes, read as lone surrogates): its path is part of the dataset digest as UTF-8 text."""
    try:
        relpath.encode()
    except UnicodeEncodeError:
        raise BadInputError(f"shard {os.fsencode(path)!r} is named with bytes that are not UTF-8, and a shard's path is "
                            "part of the dataset's digest as UTF-8 text, so it cannot be a shard.",
                            fix="rename it in UTF-8 (e.g. convmv -f latin1 -t utf-8 --notest, if it is Latin-1), give it "
                                "a name starting with '.' or '_', or name the shards with a glob that leaves it out.") from None
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.ELOOP) or not os.path.islink(path):
            raise  # gone since it was listed, or unreadable: as any file
        raise _dead_link(path, "to nothing" if exc.errno == errno.ENOENT else "round a loop of links") from exc
    if not stat.S_ISREG(st.st_mode):
        raise BadInputError(f"{path!r} is {kind_of(st.st_mode)}, not a regular file, so it cannot be a shard.",
                            fix="move it out of the dataset's folder, give it a name starting with '.' or '_', "
                                "or name the shards with a glob that leaves it out.")
    return stat_ref(path, relpath, st)


def _dead_link(path: str, leads: str) -> BadInputError:
    try:
        named = f" ({os.readlink(path)!r})"
    except OSError:  # removed since
        named = ""
    return BadInputError(f"{path!r} is a symbolic link that leads {leads}{named}, so it cannot be a shard.",
                         fix="remove the link or restore what it names, give it a name starting with '.' or '_', "
                             "or name the shards with a glob that leaves it out.")


def stat_ref(path: str, relpath: str, st: os.stat_result) -> ShardRef:
    """The local file at ``path`` (``relpath`` in the dataset) of status ``st``: its size and stamp (the change time
    too: a rewrite in place that puts the modification time back still moves it)."""
    return ShardRef(os.path.abspath(path), relpath, st.st_size, f"{st.st_mtime_ns}:{st.st_ino}:{st.st_ctime_ns}", st.st_mtime_ns)


def _ctime(ref: ShardRef) -> float:
    """A local shard's change time (epoch seconds), from the stamp :func:`local_ref` gave it."""
    return int(ref.stamp.rsplit(":", 1)[1]) / 1e9


def _literal_prefix(pattern: str) -> str:
    """The part of a glob before the path component holding its first wildcard (with its trailing ``/``)."""
    first = min(i for i, c in enumerate(pattern) if c in _WILDCARDS)
    return pattern[:pattern.rfind("/", 0, first) + 1]


def _warn_two_readings(target: str, first_match: str, matches: int) -> None:
    if TWO_READINGS_WARNED.first(target, first_match, str(matches)):
        log.warning("tdprov: nothing is named %r, so the name is read as a glob, which matches %s (%s%s). "
                    "A name that holds '[' is the file or object of that name when it exists: to mean it, write it before "
                    "it is read; to mean a glob, give the pattern a '*' or '?'",
                    target, counted(matches, 'other name'), first_match, ", ..." if matches > 1 else "")


def _warn_if_file_name(target: str, literal_exists: bool, relpaths: Sequence[str]) -> None:
    """Warn when ``target``, a glob made only of bracket expressions (``x[1].parquet``), reads like a file name:
    no file or object has that name and the glob matches others."""
    if relpaths and not literal_exists and "[" in target and not any(c in "*?" for c in target):
        _warn_two_readings(target, relpaths[0], len(relpaths))


def _list_local(target: str) -> list[ShardRef]:
    if _local_glob(target):
        base = _literal_prefix(target) or "./"
        if "**" in target:  # glob follows links to folders, loops too: refuse a loop first, as the folder form does
            for _ in _walk(base, hidden="."):
                pass
        found = [p for p in glob.glob(target, recursive=True) if not os.path.isdir(p)]
        refs = [(p, Path(os.path.relpath(p, base)).as_posix()) for p in found]
        _warn_if_file_name(target, os.path.lexists(target), sorted(rel for _, rel in refs))
    else:
        refs = []
        for folder, files in _walk(target):
            for name in files:
                path = os.path.join(folder, name)
                refs.append((path, Path(os.path.relpath(path, target)).as_posix()))
    return [_shard_ref(p, rel) for p, rel in refs if not _hidden(rel)]


def _walk(target: str, hidden: str = "._") -> Iterator[tuple[str, list[str]]]:
    """The folder ``target`` and those below it whose name does not start with a character of ``hidden``, each with
    the names of its files. Symbolic links to folders are followed (as a glob and ``pyarrow.dataset`` follow them);
    one that leads back to a folder above it is a ``BadInputError`` naming both (its files would be listed without
    end), whose fix offers the names that ``hidden`` skips. Two links to one folder list its files under both paths,
    as a glob does. A folder that cannot be listed raises its ``OSError``."""
    above: dict[str, dict[tuple[int, int], str]] = {}  # folder -> the folders from target down to it, by identity
    for folder, dirs, files in os.walk(target, followlinks=True, onerror=_unlistable):
        st = os.stat(folder)
        chain = above.pop(folder, {})
        key = (st.st_dev, st.st_ino)
        if key in chain:
            raise BadInputError(f"{folder!r} leads back to the folder {chain[key]!r} through a symbolic link, so its "
                                "files would be listed without end.",
                                fix=f"remove the link, give it a name starting with {' or '.join(map(repr, hidden))}, "
                                    "or name the shards with a glob that leaves it out.")
        chain = {**chain, key: folder}
        dirs[:] = [d for d in dirs if d[:1] not in hidden]
        for d in dirs:
            above[os.path.join(folder, d)] = chain
        yield folder, files


def _unlistable(error: OSError) -> None:
    """A folder among the shards that cannot be listed (no permission) is an error, as an unreadable shard is: its
    shards would be left out of the version. One gone since its parent was listed holds no shards any more."""
    if not isinstance(error, FileNotFoundError):
        raise error


def _local_folders(target: str) -> list[str]:
    """The folders whose entries a local folder or glob ``target`` lists: the folder and those below it that are
    not hidden, or every folder matching a leading part of the glob, from the part before its first wildcard."""
    if not _local_glob(target):
        return [folder for folder, _ in _walk(target)]
    base = _literal_prefix(target)
    parts = target[len(base):].split("/")[:-1]
    found = [base or "./"]
    for depth in range(1, len(parts) + 1):
        found += [p for p in glob.glob(base + "/".join(parts[:depth]), recursive=True) if os.path.isdir(p)]
    return found


def local_changed_at(target: str, shards: Sequence[ShardRef]) -> float:
    """When the local folder or glob ``target`` with ``shards`` (as :func:`list_shards` gave them) last changed, in
    epoch seconds: the latest status-change time (``st_ctime``) of its shards and of the folders it lists (a
    removed or added shard changes its folder, not the shards beside it). Raises ``OSError`` when one is gone."""
    return max(os.stat(path).st_ctime for path in [ref.location for ref in shards] + _local_folders(target))


def local_state(target: str, shards: Sequence[ShardRef] | None = None) -> LocalState:
    """What the local file, folder or glob ``target`` holds now (empty when nothing is there). ``shards``: those
    of a folder or glob as :func:`list_shards` gave them (default: listed now). Raises ``OSError`` when it
    cannot be read."""
    if shards is None:
        try:
            shards = _list_local(target) if is_sharded(target) else [local_ref(target)]
        except FileNotFoundError:
            shards = []
    return LocalState(frozenset((ref.path, ref.size, ref.stamp) for ref in shards),
                      max((_ctime(ref) for ref in shards), default=None))


def _list_s3(target: str) -> list[ShardRef]:
    scheme, rest = target.split("://", 1)
    bucket, _, key_part = rest.partition("/")
    pattern = key_part if has_wildcard(key_part) and not key_part.endswith("/") else None  # a prefix is a prefix
    prefix = _literal_prefix(key_part) if pattern is not None else key_part
    if not bucket:
        raise BadInputError(f"{target!r} names no bucket.", fix="write it as s3://bucket/prefix/")
    refs = []
    literal_exists = False
    try:
        pages = s3_client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for page in pages:
            for obj in page.get("Contents", []):
                key = obj["Key"]
                literal_exists = literal_exists or key == key_part
                relpath = key[len(prefix):]
                if key.endswith("/") or _hidden(relpath) or (pattern is not None and not fnmatchcase(key, pattern)):
                    continue
                refs.append(ShardRef(f"{scheme}://{bucket}/{key}", relpath, int(obj["Size"]),
                                     "etag:" + obj["ETag"].strip('"')))
    except BadInputError:
        raise
    except Exception as exc:  # botocore's errors: no such bucket, denied, endpoint down
        from prov_common.store.s3 import refused_fix

        raise BadInputError(f"cannot list {target}: {exc}",
                            fix=refused_fix(exc, f"grant these credentials s3:ListBucket on bucket {bucket!r}")
                            or "check the bucket, the prefix, the credentials and AWS_ENDPOINT_URL_S3.") from exc
    if pattern is not None:
        _warn_if_file_name(target, literal_exists, sorted(ref.path for ref in refs))
    return refs


def _check_key_segments(target: str) -> None:
    """Refuse the S3 prefix or glob ``target``, under which nothing was listed, when its key holds '//', which S3 keeps
    as written (``s3://b/x//shards/`` lists other keys than ``s3://b/x/shards/``); a key that begins with '/' is refused
    by :func:`~prov_common.hashing.remote.s3_key`, which names the leading '/'."""
    if "//" in s3_key(target):
        raise doubled_slash_refusal(f"no shards in {target!r}", single_slashed(target))


def list_shards(target: str) -> list[ShardRef]:
    """The shards of ``target`` (a folder, a glob, ``s3://bucket/prefix/`` or an S3 glob), sorted by path."""
    refs = _list_s3(target) if is_s3(target) else _list_local(target)
    if not refs and is_s3(target) and "?versionId=" in target:
        key, _, after = target.partition("?versionId=")
        if not after:  # s3fs, Airflow's ObjectStoragePath among its users, reads the object's newest version
            raise BadInputError(
                f"{target!r} ends in '?versionId=' with no version id, which names no version of {key}: read as a glob "
                "of keys, no key matches.",
                fix=f"to hash a version, write {key}?versionId=<id>; to hash the object as it is now, write {key}")
        raw = [c for c in "/=" if c in after]
        if raw and not any(c in after for c in "&*?["):  # one id, written with characters its URI must encode
            raise BadInputError(
                f"{target!r} names version id {after!r} with {' and '.join(map(repr, raw))} not percent-encoded: an id "
                "after '?versionId=' must be percent-encoded, so this one was read as a glob of keys, and no key matches.",
                fix=f"write {versioned_uri(key, unquote(after))}")  # a part already encoded (%2F) is not encoded twice
        raise BadInputError(
            f"{target!r} holds more than a version id after '?versionId=' ({after!r}): S3's version of an object is "
            "named by '?versionId=<id>' at the end of its URI, so this one was read as a glob of keys, and no key matches.",
            fix=f"to hash a version, write {key}?versionId=<id> with nothing after the id (an id holding '/', '&' or "
                "'=' percent-encoded: %2F, %26, %3D); to hash an object whose key holds '?', name its key as written")
    if not refs and is_s3(target):
        _check_key_segments(target)
    if not refs:
        raise BadInputError(f"no shards in {target!r}.",
                            fix=home_hint(target, "name a folder, an s3://bucket/prefix/ or a glob that holds data files "
                                                  "(names starting with '.' or '_' are skipped)."))
    return sorted(refs, key=lambda r: r.path)
