"""Store backend on a local folder: exclusive, atomic creation with temp file + fsync + hard link."""
from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, NamedTuple

from prov_common.errors import ObjectConflictError, StoreError, StoreUnavailableError
from prov_common.regular_file import NotRegularFileError, open_read, regular_stream
from prov_common.store._base import CHUNK, BaseStore, ObjectInfo, Source
from prov_common.store._fs import fsync_dir, no_room_fix
from prov_common.store.errors import NotAFolderError, ObjectNotFoundError, UnreadableObjectError
from prov_common.store.keys import validate_prefix

TMP_PREFIX = ".tmp-"
_FOLDER_FLAGS = os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC | getattr(os, "O_PATH", os.O_RDONLY)
"""How a folder on a key's path is opened: never through a link; ``O_PATH`` (Linux) needs no read permission on it."""
_ROOT_FLAGS = _FOLDER_FLAGS & ~os.O_NOFOLLOW
"""The store's root is opened as its folder, and may be reached through a link."""
_LIST_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
"""How a listing opens a folder on its way: readable, to list it, and never through a link."""
_LIST_ROOT_FLAGS = _LIST_FLAGS & ~os.O_NOFOLLOW
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
_LINK_FIX = "find out who put the link there, remove it and restore what it replaced from a backup or replica of the store"


def _tag(st: os.stat_result) -> str:
    """A file's tag as a listing gives it: modification time, inode and change time (which no user can set)."""
    return f"{st.st_mtime_ns}-{st.st_ino}-{st.st_ctime_ns}"


def _created_tag(fd: int, name: str, written: os.stat_result) -> str | None:
    """The tag (:func:`_tag`) of the file ``name`` in folder ``fd`` that a create just linked there, when it is still the
    file written (``written``: its stat as its bytes were written: the same inode, size and modification time); None
    when it is not (replaced or changed meanwhile: the reader of the tag then knows the object otherwise)."""
    try:
        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
    except OSError:
        return None
    same = (st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns) == (written.st_ino, written.st_dev, written.st_size, written.st_mtime_ns)
    return _tag(st) if same and stat.S_ISREG(st.st_mode) else None


def key_name(name: str) -> str:
    """A file name as a key segment: a name that is not valid UTF-8 (which no S3 key and no key tdprov writes can
    be) is listed with its bytes escaped (``\\xff``), so that it reaches findings and reports as text, never
    as a lone surrogate, and stays an invalid key that no read or delete takes for another file."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(name).decode("utf-8", "backslashreplace")
    return name


class LocalStore(BaseStore):
    """Write-once objects as files under ``root`` (key ``a/b`` is the file ``root/a/b``).

    An object appears only complete: its bytes go to a hidden temporary file in the same folder,
    are fsynced, then hard-linked to the final name, which fails if the name exists, so of two
    writers exactly one wins. Names starting with '.' are never listed. ``fsync=False`` (for
    scratch stores on tmpfs or benchmarks; ``TDPROV_STORE_FSYNC=0``) skips the flushes to disk.
    """

    def __init__(self, root: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.root = Path(root).expanduser().absolute()
        self.fsync = fsync
        self.uri = str(self.root)
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"store path '{self.root}' exists and is not a folder.", fix="point TDPROV_STORE at a folder")

    def describe(self) -> str:
        return f"local folder {self.root}"

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*key.split("/"))

    # -- primitives ---------------------------------------------------------------------------
    def _create(self, key: str, source: Source) -> bool:
        try:
            with self._folder(key, create=True) as fd:
                return self._create_in(fd, key, source)
        except _Blocked as blocked:
            if blocked.target is None:  # a file where a folder of the key should be: a key clash
                raise self._blocked(key, blocked.path) from None
            raise StoreError(f"cannot write '{key}' in {self.describe()}: {blocked}, and tdprov writes only files and "
                             "folders in a store, never through a link.",
                             fix=f"{_LINK_FIX}, then write again ('tdprov flush' delivers what a pipeline spooled)") from None
        except OSError as exc:
            raise self._os_error("write", key, exc) from exc

    def _create_in(self, fd: int, key: str, source: Source) -> bool:
        """:meth:`_create` in the folder ``fd`` that holds ``key``."""
        name = key.rsplit("/", 1)[-1]
        if (there := _there(fd, name)) is not None:
            if stat.S_ISREG(there.st_mode):
                return False
            _refuse_link(fd, name, self._path(key))
        tmp = f"{TMP_PREFIX}{name}-{secrets.token_hex(6)}"
        try:
            with os.fdopen(os.open(tmp, _CREATE_FLAGS, 0o666, dir_fd=fd), "wb") as out, source.open() as stream:
                while chunk := stream.read(CHUNK):
                    out.write(chunk)
                out.flush()
                if self.fsync:
                    os.fsync(out.fileno())
                written = os.fstat(out.fileno())
            try:
                os.link(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)
            except FileExistsError:
                _refuse_link(fd, name, self._path(key))
                if (there := _there(fd, name)) is not None and stat.S_ISDIR(there.st_mode):
                    raise self._shadowed(key) from None
                return False
            with contextlib.suppress(OSError):  # now, not only below: it changes the change time, which the tag holds
                os.unlink(tmp, dir_fd=fd)
            if self.fsync:
                fsync_dir(".", dir_fd=fd)
            source.created_tag = _created_tag(fd, name, written)
            source.created_at = datetime.fromtimestamp(written.st_mtime_ns / 1e9, timezone.utc)
            return True
        finally:
            with contextlib.suppress(OSError):  # never there (ENOENT) or cannot go (EROFS): the real error stands
                os.unlink(tmp, dir_fd=fd)

    @contextlib.contextmanager
    def _open(self, key: str) -> Iterator[BinaryIO]:
        path = self._path(key)
        try:
            with self._folder(key) as fd:
                name = key.rsplit("/", 1)[-1]
                try:
                    stream = regular_stream(open_read(name, path, dir_fd=fd, follow_symlinks=False), path)
                except OSError:
                    _refuse_link(fd, name, path)  # O_NOFOLLOW: a link is refused by the open itself, then named
                    raise
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise self._missing(key) from None
        except _Blocked as blocked:
            if blocked.target is None:  # a file where a folder of the key should be
                raise self._missing(key) from None
            raise UnreadableObjectError(
                f"object '{key}' in {self.describe()} cannot be read: {blocked}, and tdprov writes only files and folders "
                "in a store.", fix=_LINK_FIX) from None
        except NotRegularFileError as exc:  # a named pipe or device would block or feed the reader without end
            raise UnreadableObjectError(f"object '{key}' in {self.describe()} cannot be read: {exc}.",
                             fix="tdprov writes only regular files: find out who put it there, remove it, and restore the "
                                 "object from a backup or replica") from exc
        except OSError as exc:
            raise self._os_error("read", key, exc) from exc
        with stream:
            yield stream

    @contextlib.contextmanager
    def _folder(self, key: str, *, create: bool = False, nearest: bool = False) -> Iterator[int]:
        """A descriptor of the folder that holds ``key``. Each folder below the root is opened by its name in the one
        above it, never through a symbolic link (``O_NOFOLLOW``), so that the check and the open are one step: a link on
        the path is refused, also one put there between a check and a read, and no write lands outside the store (the
        root itself may be reached through a link). ``create``: missing folders are made; ``nearest``: the deepest of
        them that exists. Raises :class:`_Blocked` for a link or a file where a folder should be, else the ``OSError``
        of the open."""
        fd = self._open_root(key, create)
        try:
            path = self.root
            for name in key.split("/")[:-1]:
                path = path / name
                try:
                    inner = _subfolder(fd, name, path, create)
                except FileNotFoundError:
                    if not nearest:
                        raise
                    break
                os.close(fd)
                fd = inner
            yield fd
        finally:
            os.close(fd)

    def _open_root(self, key: str, create: bool) -> int:
        """A descriptor of the store's root (through a link, if it is one); ``create``: made when missing."""
        try:
            return os.open(self.root, _ROOT_FLAGS)
        except FileNotFoundError:
            if not create:
                raise
        except NotADirectoryError as exc:
            if create:
                raise self._blocked(key, self.root) from exc
            raise
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            raise self._blocked(key, self.root) from exc
        return os.open(self.root, _ROOT_FLAGS)

    def _exists(self, key: str) -> bool:
        try:  # an object only a link leads to is not read
            with self._folder(key) as fd:
                there = _there(fd, key.rsplit("/", 1)[-1])
        except (_Blocked, FileNotFoundError, NotADirectoryError):
            return False
        except OSError as exc:
            raise self._os_error("read", key, exc) from exc
        return there is not None and stat.S_ISREG(there.st_mode)

    def _list(self, prefix: str, start_after: str | None) -> Iterator[str]:
        return (key for key, _entry in self._entries(prefix, start_after))

    def _list_info(self, prefix: str, start_after: str | None, tags_for: Callable[[str], bool] | None = None) -> Iterator[ObjectInfo]:
        for key, entry in self._entries(prefix, start_after):
            if tags_for is not None and not tags_for(key):
                yield ObjectInfo(key, -1, "")  # a stat per file is the cost here: only where asked
                continue
            try:
                st = entry.stat(follow_symlinks=False)  # a link's own: a file replaced by a link to a copy is another object
            except FileNotFoundError:
                continue
            yield ObjectInfo(key, st.st_size, _tag(st), datetime.fromtimestamp(st.st_ctime_ns / 1e9, timezone.utc))

    def _entries(self, prefix: str, start_after: str | None) -> Iterator[tuple[str, os.DirEntry]]:
        """The keys from ``prefix`` on (after ``start_after``) with their entries, in S3's lexicographic order, listed by
        folder descriptors (:meth:`_walk`). The walk starts in the deepest folder that the prefix names, so a listing
        never scans the whole tree; that folder is reached as the whole listing reaches it, a link on the way walked
        only as the whole listing walks it (a link it lists as one object lists nothing under it)."""
        base = prefix.rsplit("/", 1)[0] + "/" if "/" in prefix else ""
        try:
            root = os.open(self.root, _LIST_ROOT_FLAGS)
        except (FileNotFoundError, NotADirectoryError):  # no store yet, or no folder (refused when it is written)
            return
        except OSError as exc:
            raise self._os_error("list", base or "/", exc) from exc
        with contextlib.ExitStack() as opened:
            opened.callback(os.close, root)
            st = os.fstat(root)
            top = folder = _Listed(root, os.path.realpath(self.root), frozenset({(st.st_dev, st.st_ino)}), False)
            path = self.root
            for name in base.split("/")[:-1]:
                path = path / name
                try:
                    inner = self._enter(top, folder, name, path, base)
                except _Blocked:  # a file in the store where the listed folder (or one above it) should be
                    if (there := _there(folder.fd, name)) is None or stat.S_ISDIR(there.st_mode) or stat.S_ISLNK(there.st_mode):
                        return  # a link, gone as it was met: changed while listed
                    raise self._not_a_folder(base, path) from None
                if inner is None:
                    return
                folder = inner
                opened.callback(os.close, folder.fd)
            yield from self._walk(top, folder, base, prefix, start_after)

    def _walk(self, top: _Listed, folder: _Listed, rel: str, prefix: str, after: str | None) -> Iterator[tuple[str, os.DirEntry]]:
        """Yield keys under ``folder`` (whose keys start with ``rel``) in S3's lexicographic order; ``top``: the store's
        root.

        Entries of a folder are ordered by name, a sub-folder as ``name/``, which gives the order of
        full keys. A sub-folder whose every key sorts at or before ``after`` is skipped unread, so
        a listing with ``start_after`` costs time in proportion to what comes after it. Each sub-folder is opened by its
        name in the folder's descriptor, never through a link, so that a link swapped in while the listing runs is met
        as a link. A symbolic link to a folder (which tdprov never writes) is listed as the folder it leads to, so that
        the keys under it reach verify and the audit, whose reads refuse it (:meth:`_folder`), when that folder is in
        the store, is not one walked to reach it (a loop) and is not reached through another link (:meth:`_follows`);
        that folder is opened from the store's root down, never through a link. Any other link is listed as one object,
        the link, so that a link to a huge folder, to one outside the store or to links upon links is named, not walked.
        """
        try:
            with os.scandir(folder.fd) as it:
                entries = [(key_name(e.name) + "/" if self._walked(e, folder) else key_name(e.name), e)
                           for e in it if not e.name.startswith(".")]
        except OSError as exc:
            raise self._os_error("list", rel or "/", exc) from exc
        entries.sort(key=lambda item: item[0])
        for name, entry in entries:
            key = rel + name
            if name.endswith("/"):
                if not (key.startswith(prefix) or prefix.startswith(key)):
                    continue
                if after is not None and key <= after and not after.startswith(key):
                    continue  # every key under this folder is <= after
                try:
                    inner = self._enter(top, folder, entry.name, self._path(key[:-1]), key)
                except _Blocked:  # a file now, or no folder of the store: it was listed as a folder
                    continue
                if inner is None:
                    continue
                try:
                    yield from self._walk(top, inner, key, prefix, after if after is not None and after > key else None)
                finally:
                    os.close(inner.fd)
            elif key.startswith(prefix) and (after is None or key > after):
                yield key, entry

    def _enter(self, top: _Listed, folder: _Listed, name: str, path: Path, rel: str) -> _Listed | None:
        """The folder ``name`` (``path``, keys ``rel``) in ``folder`` as the listing walks it: opened by its name,
        never through a link; a link (:meth:`_follows`) opened from ``top`` down as the folder of the store it leads to.
        None when nothing is there to walk (gone, a loop, a link listed as one object); raises :class:`_Blocked` for a
        file."""
        try:
            fd = _subfolder(folder.fd, name, path, False, _LIST_FLAGS)
        except FileNotFoundError:
            return None
        except _Blocked as blocked:
            if blocked.target is None:
                raise
            if folder.linked:  # a link reached through another link: listed as one object
                return None
            real = os.path.join(folder.real, name)
            try:
                os.stat(real)
            except (FileNotFoundError, NotADirectoryError):
                return None
            except OSError as exc:  # a link loop: no folder, and no object either
                raise self._os_error("list", rel, exc) from exc
            real = os.path.realpath(real)
            if not self._inside(real):
                return None
            fd = _open_below(top.fd, os.path.relpath(real, top.real))
            if fd is None:
                return None
            return _Listed.within(folder, fd, real, linked=True)
        except OSError as exc:
            raise self._os_error("list", rel, exc) from exc
        return _Listed.within(folder, fd, os.path.join(folder.real, name), linked=folder.linked)

    def _walked(self, entry: os.DirEntry, folder: _Listed) -> bool:
        """Whether the listing walks ``entry`` of ``folder`` as a folder (see :meth:`_walk`): a folder, or a symbolic
        link that :meth:`_follows`."""
        try:
            if not entry.is_dir():
                return False
        except OSError:  # a link that cannot be followed (to itself, a loop): listed as one object, the link
            return False
        if not entry.is_symlink():
            return True
        try:
            st = entry.stat()
        except OSError:
            return False
        return self._follows(os.path.join(folder.real, entry.name), st, folder.seen, folder.linked)

    def _follows(self, link: str, target: os.stat_result, seen: frozenset[tuple[int, int]], linked: bool) -> bool:
        """Whether the listing walks the symbolic link ``link`` to a folder (``target``: its stat, the link followed) as
        that folder: one of the store, not in ``seen`` (walked to reach it) and not reached through another link."""
        return not linked and (target.st_dev, target.st_ino) not in seen and self._inside(link)

    def _inside(self, path: str) -> bool:
        """Whether ``path``, its links followed, is in the store."""
        root = os.path.realpath(self.root)
        return os.path.commonpath([root, os.path.realpath(path)]) == root

    def check_writable(self, prefix: str) -> None:
        """Create and remove a hidden file in the folder that holds ``prefix`` (or its nearest existing parent in the
        store), reached as a write reaches it (:meth:`_folder`, never through a link): nothing stays, and no folder is
        made."""
        probe = f"{TMP_PREFIX}write-probe-{secrets.token_hex(6)}"
        key = f"{validate_prefix(prefix).strip('/')}/{probe}" if prefix.strip("/") else probe
        try:
            with self._folder(key, nearest=True) as fd:
                os.close(os.open(probe, _CREATE_FLAGS | os.O_NOFOLLOW, 0o600, dir_fd=fd))
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(probe, dir_fd=fd)
        except _Blocked as blocked:
            if blocked.target is None:
                raise StoreError(f"cannot create objects under '{prefix}' in {self.describe()}: {blocked}.",
                                 fix=f"make {blocked.path} a folder writable by this user") from None
            raise StoreError(f"cannot create objects under '{prefix}' in {self.describe()}: {blocked}, and tdprov writes "
                             "only files and folders in a store, never through a link.", fix=_LINK_FIX) from None
        except OSError as exc:
            raise StoreError(f"cannot create objects under '{prefix}' in {self.describe()}: {exc.strerror or exc}.",
                             fix=f"make {self.root} and the folders of '{prefix}' in it writable by this user") from exc

    def refuses_rewrite(self, key: str, data: bytes) -> bool:
        """Hard-link creation refuses existing names on every local file system: nothing to probe."""
        return True

    def check_write_once(self) -> None:
        """Hard-link creation refuses existing names on every local file system: nothing to probe."""
        if not self.root.exists():
            return
        if not os.access(self.root, os.W_OK):
            raise StoreError(f"{self.describe()} is not writable.", fix=f"make {self.root} writable by this user")

    # -- errors -------------------------------------------------------------------------------
    def _missing(self, key: str) -> ObjectNotFoundError:
        return ObjectNotFoundError(f"no object '{key}' in {self.describe()}.",
                                   fix="check the key with 'tdprov runs' or the store listing")

    def _shadowed(self, key: str) -> ObjectConflictError:
        return ObjectConflictError(
            f"key '{key}' clashes with an existing object or folder of the same name in {self.describe()}.",
            fix="do not use a key as both an object and a prefix of other keys",
        )

    def _blocked(self, key: str, folder: Path) -> StoreError:
        """Why ``folder`` cannot be made: a file inside the store is a key clash (a conflict); one at or above the root
        means the store path is no folder, a setup error that the outbox spools past."""
        blocker = next((p for p in (folder, *folder.parents) if p.exists()), None)
        if blocker is None or blocker.is_dir() or self.root in blocker.parents:
            return self._shadowed(key)
        return StoreError(f"cannot write '{key}' in {self.describe()}: {blocker} is not a folder, so the store path "
                          f"'{self.root}' cannot be one.", fix=f"point TDPROV_STORE at a folder (or move {blocker} away)")

    def _not_a_folder(self, rel: str, blocker: Path) -> NotAFolderError:
        """A listing of ``rel`` blocked by ``blocker``, a file inside the store where a folder should be."""
        return NotAFolderError(f"cannot list '{rel}' in {self.describe()}: {blocker} is not a folder, so the objects "
                          f"under it cannot be read.",
                          fix="tdprov writes a folder there: find out who put the file there, move it away and restore the "
                              "folder from a backup or replica of the store")

    def _os_error(self, action: str, key: str, exc: OSError) -> StoreError:
        what = f"cannot {action} '{key}' in {self.describe()}: {exc.strerror or exc}."
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return StoreError(what, fix=f"make {self.root} writable by this user, or point TDPROV_STORE at another folder")
        if (no_room := no_room_fix(exc, f"the volume of {self.root}")) is not None:
            return StoreError(what, fix=no_room)
        if exc.errno == errno.ELOOP:  # a link that leads to itself: no outage, it stays until removed
            return StoreError(what, fix="remove the symbolic link: tdprov writes only files and folders in a store")
        return self._unanswered(StoreUnavailableError(what, fix="check that the folder (or its network mount) is reachable"))


class _Blocked(Exception):
    """A folder on a key's path that is not one: a symbolic link (``target``: where it leads) or a file (``target``
    None)."""

    def __init__(self, path: Path, target: str | None) -> None:
        self.path, self.target = path, target
        super().__init__(f"{path} is a symbolic link (to {target})" if target is not None else f"{path} is not a folder")


def _there(fd: int, name: str) -> os.stat_result | None:
    """What ``name`` in the folder ``fd`` is, a link not followed; None when nothing is there."""
    try:
        return os.stat(name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _refuse_link(fd: int, name: str, path: Path) -> None:
    """Raise :class:`_Blocked` when ``name`` in the folder ``fd`` (``path``) is a symbolic link."""
    try:
        if not stat.S_ISLNK(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
            return
    except OSError:
        return
    try:
        target = os.readlink(name, dir_fd=fd)
    except OSError:
        target = "a target that cannot be read"
    raise _Blocked(path, target)


def _subfolder(fd: int, name: str, path: Path, create: bool, flags: int = _FOLDER_FLAGS) -> int:
    """A descriptor of the folder ``name`` (``path``) in the folder ``fd``, opened with ``flags`` (never through a
    link); ``create``: made when missing."""
    try:
        return os.open(name, flags, dir_fd=fd)
    except FileNotFoundError:
        if not create:
            raise
    except NotADirectoryError:  # O_NOFOLLOW | O_DIRECTORY: a link or a file, told apart only to name it
        _refuse_link(fd, name, path)
        raise _Blocked(path, None) from None
    with contextlib.suppress(FileExistsError):  # made by another writer meanwhile
        os.mkdir(name, dir_fd=fd)
    return _subfolder(fd, name, path, False, flags)


def _open_below(fd: int, rel: str) -> int | None:
    """A readable descriptor of the folder ``rel`` (a relative path with no ``..``) below the folder ``fd``, each
    folder on the way opened by its name in the one above it, never through a link; None when there is none such."""
    inner = os.dup(fd)
    for name in () if rel == "." else rel.split("/"):
        try:
            opened = os.open(name, _LIST_FLAGS, dir_fd=inner)
        except OSError:
            opened = None
        os.close(inner)
        if opened is None:
            return None
        inner = opened
    return inner


class _Listed(NamedTuple):
    """A folder that a listing walks: its descriptor, its path with no link on it (``real``), the folders walked to reach
    it (``seen``, itself included), and whether it was reached through a link."""

    fd: int
    real: str
    seen: frozenset[tuple[int, int]]
    linked: bool

    @classmethod
    def within(cls, outer: _Listed, fd: int, real: str, *, linked: bool) -> _Listed | None:
        """The folder ``fd`` reached from ``outer``; None (``fd`` closed) when it is one walked to reach it: a loop."""
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) in outer.seen:
            os.close(fd)
            return None
        return cls(fd, real, outer.seen | {(st.st_dev, st.st_ino)}, linked)
