"""Spool entries: one file per undelivered batch of objects, written atomically.

Format (``tdprov-spool/1``): one line of JSON naming the target store and each object's key, size
and BLAKE3 digest, then the objects' bytes back to back. An object whose key is chosen at delivery
(:class:`LateKey`) has its key template in ``key`` and ``late: {record, notBefore}``. The digests let a flush refuse an entry
damaged on disk instead of delivering wrong bytes.
"""
from __future__ import annotations

import contextlib
import json
import mmap
import os
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from prov_common import canonical_json
from prov_common.hashing.raw import blake3_digest
from prov_common.mapped import parts
from prov_common.store._fs import fsync_dir, no_room_fix
from prov_common.store.errors import SpoolError
from prov_common.store.keys import validate_key
from prov_common.store.latekey import LateKey
from prov_common.text import counted

FORMAT = "tdprov-spool/1"
SUFFIX = ".spool"
UNFINISHED = ".tmp-"  # an entry being written: ``.tmp-<its name>``, renamed to its name once whole


@dataclass(frozen=True)
class SpoolEntry:
    """A batch of objects waiting for ``store``, to be put in order. ``unopened``: why ``store`` could not be
    opened when the batch was spooled (a wrong store setting): ``tdprov flush --store URI`` delivers it to URI."""

    store: str
    objects: tuple[tuple[str, bytes] | LateKey, ...]
    created: str = ""
    unopened: str = ""


def _item(obj: tuple[str, bytes] | LateKey) -> tuple[str, bytes]:
    return (obj.template, obj.data) if isinstance(obj, LateKey) else obj


def _header_item(obj: tuple[str, bytes] | LateKey) -> dict:
    key, data = _item(obj)
    item = {"key": key, "bytes": len(data), "digest": blake3_digest(data)}
    if isinstance(obj, LateKey):
        item["late"] = {"record": obj.record, "notBefore": obj.not_before}
    return item


def entry_name() -> str:
    """A new entry's file name; names sort in creation order (nanosecond clock, then pid)."""
    return f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(4)}{SUFFIX}"


def _header_line(entry: SpoolEntry) -> bytes:
    """The first line of an entry; its objects' bytes follow it back to back (:func:`write_entry`)."""
    header = {
        "format": FORMAT,
        "store": entry.store,
        "created": entry.created or datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        "objects": [_header_item(o) for o in entry.objects],
    }
    if entry.unopened:
        header["unopened"] = entry.unopened
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode() + b"\n"


def decode(raw: bytes | mmap.mmap, name: str) -> SpoolEntry:
    """Parse an entry; raises ValueError naming what is damaged (bytes that do not match their digest, a key no store
    takes). Its objects are views of ``raw`` (its bytes, or the
    entry's file mapped: :func:`~prov_common.mapped.file_bytes`), not copies."""
    end = raw.find(b"\n")
    if end < 0:
        raise ValueError(f"spool entry {name} has no header line")
    header = _parse_header(raw[:end], name)
    body = memoryview(raw)[end + 1:]
    if header.get("format") != FORMAT:
        raise ValueError(f"spool entry {name} has format {header.get('format')!r}, expected {FORMAT}")
    objects, offset = [], 0
    for item in header["objects"]:
        data = body[offset : offset + item["bytes"]]
        offset += item["bytes"]
        if blake3_digest(data) != item["digest"]:
            raise ValueError(f"spool entry {name}: bytes of '{item['key']}' do not match their digest")
        late = item.get("late")
        try:  # a key no store takes (an entry edited by hand) makes the entry damaged, before any of it is put
            if late:
                objects.append(LateKey(item["key"], data, str(late["record"]), str(late.get("notBefore") or "")))
            else:
                objects.append((validate_key(item["key"]), data))
        except (LookupError, AttributeError, ValueError) as exc:  # also a template str.format cannot fill
            raise ValueError(f"spool entry {name}: {getattr(exc, 'what', None) or exc}") from exc
    if offset != len(body):
        raise ValueError(f"spool entry {name} has {len(body) - offset} unexpected trailing bytes")
    return SpoolEntry(store=str(header["store"]), objects=tuple(objects), created=str(header.get("created", "")),
                      unopened=str(header.get("unopened") or ""))


def read_target(path: Path) -> tuple[str, str, list[str]]:
    """The store URI an entry is meant for, why that store could not be opened when it was spooled ('' for an
    outage) and the keys (or key templates) of its objects, reading only its header once."""
    header = _header(path)
    return str(header["store"]), str(header.get("unopened") or ""), [str(item["key"]) for item in header["objects"]]


def read_keys(path: Path) -> list[str]:
    """The keys (or key templates) of an entry's objects, reading only its header."""
    return read_store_and_keys(path)[1]


def read_store_and_keys(path: Path) -> tuple[str, list[str]]:
    """The store URI an entry is meant for and the keys (or key templates) of its objects, reading its header once
    (:func:`read_target` without why its store could not be opened)."""
    store, _, keys = read_target(path)
    return store, keys


def _header(path: Path) -> dict:
    with open(path, "rb") as f:
        return _parse_header(f.readline(), path.name)


def _parse_header(line: bytes, name: str) -> dict:
    """The header line of entry ``name``: a ValueError naming the entry when it is not JSON or not of the shape
    :func:`write_entry` writes, so that a damaged entry is set aside like one whose bytes do not match, never a stop
    of the flush (a TypeError of a list where an object belongs, a RecursionError of a header nested without bound)."""
    try:
        header = canonical_json.loads(line)
    except ValueError as exc:
        raise ValueError(f"spool entry {name} {_not_json(line, exc)}") from None
    items = header.get("objects") if isinstance(header, dict) else None
    if not isinstance(header, dict) or not isinstance(header.get("store"), str) or not isinstance(items, list):
        raise ValueError(f"spool entry {name} has a header that is not a spool entry's")
    for item in items:
        if not (isinstance(item, dict) and isinstance(item.get("key"), str) and isinstance(item.get("digest"), str)
                and type(item.get("bytes")) is int and item["bytes"] >= 0
                and (not item.get("late") or isinstance(item["late"], dict) and "record" in item["late"])):
            raise ValueError(f"spool entry {name} lists an object that is not a key, size and digest: {str(item)[:100]}")
    return header


def _not_json(line: bytes, exc: ValueError) -> str:
    """What is wrong with an entry whose header ``line`` is not JSON (``exc``, the parser's error), in plain words: the
    entry is empty, cut short within its header line, or the line is not JSON at a line and column."""
    if not line:
        return "is empty (0 bytes)"
    decoded = exc if isinstance(exc, json.JSONDecodeError) else None
    if decoded is not None and not line.endswith(b"\n") and (
            decoded.msg.startswith("Unterminated string") or decoded.pos >= len(decoded.doc.rstrip())):
        return f"is cut short: it ends within its header line, after {counted(len(line), 'byte')}"
    if decoded is not None:
        return f"has a header line that is not JSON, at line 1 column {decoded.colno}"
    return f"has a header line that is not JSON ({exc})"


UNREADABLE_FIX = ("so its objects are recorded nowhere and it names none. Fix: run again what wrote them; restore the entry "
                  "from a backup that holds it whole")


def unreadable_header(name: str, exc: Exception) -> str:
    """Why entry ``name`` cannot be delivered when its header cannot be read (``exc``, as :func:`read_target` raises
    it), naming the entry once, with the fix: what a flush notes beside it when it sets it aside. A file that cannot
    be read at all (an OSError: its permissions, its disk, a folder where an entry belongs) may be whole: its fix is
    to make it readable and deliver it again."""
    if isinstance(exc, OSError):
        return (f"spool entry {name} cannot be read ({exc.strerror or exc}). Fix: make it a file this user can read "
                "(its permissions, the disk it is on), then move it out of failed/ back into the spool folder and run "
                "'tdprov flush' again")
    if isinstance(exc, ValueError):  # damaged: it names the entry and says what is wrong
        return f"{exc}, {UNREADABLE_FIX}"
    return f"spool entry {name} has a header that is not a spool entry's ({type(exc).__name__}: {exc}), {UNREADABLE_FIX}"


def _named(entry: SpoolEntry) -> str:
    """The keys of ``entry``'s objects, the first three of them, as its errors name them."""
    return f"{', '.join(_item(o)[0] for o in entry.objects[:3])}{', ...' if len(entry.objects) > 3 else ''}"


def write_entry(folder: Path, entry: SpoolEntry) -> Path:
    """Write ``entry`` atomically into ``folder`` (temp file, fsync, rename, folder fsync); SpoolError if impossible,
    or when the folder's fsync fails after the rename (the entry is there, perhaps not durable)."""
    final = folder / entry_name()
    tmp = folder / f"{UNFINISHED}{final.name}"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(_header_line(entry))
            for obj in entry.objects:  # each as it is held: never joined into one copy of them all
                for part in parts(_item(obj)[1]):  # a mapped row set's pages given back as written
                    out.write(part)
            out.flush()
            os.fsync(out.fileno())
        os.rename(tmp, final)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        fix = no_room_fix(exc, "that volume") or "make the folder writable or set TDPROV_SPOOL to a writable folder"
        raise SpoolError(
            f"cannot write the spool entry for {counted(len(entry.objects), 'object')} to {folder}: {exc.strerror or exc}; "
            f"they are NOT recorded ({_named(entry)}).",
            fix=fix,
        ) from exc
    try:
        fsync_dir(folder)
    except OSError as exc:  # the entry has its name: it is spooled, but the name may never reach the disk
        raise SpoolError(
            f"spool entry {final} holds {counted(len(entry.objects), 'object')} ({_named(entry)}), but the sync of "
            f"spool folder {folder} failed: {exc.strerror or exc}; the entry may not survive a crash or power loss, "
            "and 'tdprov flush' delivers it if it does.",
            fix=f"check the disk of {folder} (the kernel log names the I/O error) or set TDPROV_SPOOL to a folder on "
                "another disk; run 'tdprov flush' now to deliver the entry once the store answers",
        ) from exc
    return final


def listing(folder: Path) -> list[Path]:
    """What ``folder`` holds, by name (nothing when it does not exist): one listing that :func:`pending`,
    :func:`unfinished` and the outbox's claims each filter."""
    try:
        return sorted(folder.iterdir(), key=lambda p: p.name)
    except (FileNotFoundError, NotADirectoryError):
        return []


def pending(folder: Path, listed: list[Path] | None = None) -> list[Path]:
    """Entries waiting in ``folder`` (among ``listed``, its :func:`listing`, when given), oldest first."""
    return [p for p in (listing(folder) if listed is None else listed) if p.name.endswith(SUFFIX) and not p.name.startswith(".")]


def unfinished(listed: list[Path]) -> list[tuple[Path, int]]:
    """Entries among ``listed`` (a spool folder's :func:`listing`) still being written, or left unfinished by a writer
    that stopped (killed) before renaming them, oldest first, each with its writer's pid (from its name,
    :func:`entry_name`)."""
    found = []
    for path in listed:
        parts = path.name[len(UNFINISHED):].split("-")
        if path.name.startswith(UNFINISHED) and path.name.endswith(SUFFIX) and len(parts) == 3 and parts[1].isdigit():
            found.append((path, int(parts[1])))
    return found
