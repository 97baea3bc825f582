"""The outbox: objects that the store could not take wait in a local spool and are delivered later,
exactly once as seen in the store.

Why exactly once: puts are write-once and idempotent (the same bytes again are a no-op), an entry is
removed only after every one of its puts succeeded, and a flusher claims an entry by renaming it,
so a crash at any point leaves the entry or the stored objects (or both), and redelivery is harmless.
"""
from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from prov_common.config import Settings, default_home
from prov_common.errors import BadInputError, ObjectConflictError, StoreError, StoreUnavailableError
from prov_common.mapped import file_bytes
from prov_common.once import Once
from prov_common.owner import alive
from prov_common.scratch import remove_orphans
from prov_common.store import spool
from prov_common.store.base import Store
from prov_common.store.buffers import byte_view, checked_buffer
from prov_common.store.errors import FIX_STRICT, STORE_VARIABLE, SpoolError, name_setting, strict_refix
from prov_common.store.keys import validate_key
from prov_common.store.latekey import LateKey, put_late
from prov_common.store.location import local_folder
from prov_common.store.same import Same, put_or_same
from prov_common.text import counted

log = logging.getLogger(__name__)

CLAIM = ".claim-"
STALE_CLAIM_SECONDS = 900.0
HOLDS_LOOKS = 3  # listings of the spool :meth:`Outbox.holds` makes at most while its entries move (claimed, given back)
# a listing of the spool folder is taken again only when the folder changed (:meth:`Outbox._listing`), and reused only once
# the folder's last change is this much older than the listing: a file system stamps times at up to 1 s granularity (2 s
# on FAT) and the kernel's clock lags by a tick, so a change stamped within that time of the listing may not change them
SETTLED_NS = 3_000_000_000
FAILED_DIR = "failed"
WHY_SUFFIX = ".why.txt"  # an entry set aside in failed/ has its note beside it, ``<name>.why.txt``
Arrival = Callable[[Store, str, "bytes | memoryview"], "tuple[str, bool] | None"]  # see Outbox
SPOOL_WARNED = Once()  # (spool folder,): one that cannot be listed or written, warned about once per process


def home_spool_dir() -> Path:
    """``<TDPROV_HOME>/spool``: the spool when no setting names one."""
    return (default_home() / "spool").expanduser()


def default_spool_dir(settings: Settings | None = None) -> Path:
    """``settings.spool``, else ``$TDPROV_SPOOL``, else :func:`home_spool_dir`."""
    chosen = settings.spool if settings is not None else None
    given = chosen or os.environ.get("TDPROV_SPOOL")
    if not given:
        return home_spool_dir()
    setting = "TDPROV_SPOOL" if given == (os.environ.get("TDPROV_SPOOL") or "").strip() else "the spool option"
    return Path(local_folder(given, setting)).expanduser()


SPOOL_SETTING_WARNED = Once()  # (refusal,): a spool setting refused, and the home's spool taken, warned about once


def writer_spool_dir(settings: Settings) -> Path:
    """:func:`default_spool_dir` for a writer: a spool setting that names no local folder (``s3://...``) is refused in
    strict mode; otherwise ``<TDPROV_HOME>/spool`` is used instead, with one warning naming the setting, so that the
    setting never keeps a run from a store that can take it, and a run the store cannot take now is still kept."""
    try:
        return default_spool_dir(settings)
    except BadInputError as exc:
        if settings.strict:
            raise
        home = home_spool_dir()
        if SPOOL_SETTING_WARNED.first(exc.what):
            log.warning("tdprov: %s Runs the store cannot take now are spooled in %s instead; deliver them with "
                        "'tdprov flush --spool %s'. Fix: %s", exc.what, home, home, exc.fix)
        return home


@dataclass
class FlushReport:
    """What a flush did. ``left``: entries still spooled because the store is unavailable (``errors`` says why);
    ``failed``: entries set aside as undeliverable (damaged, left unfinished by a writer that was killed, or refused
    by the store as a conflict), each moved to
    ``failed/`` with a note saying why (``set_aside``). ``unfiled``: the reasons no note in ``failed/`` holds (the
    entry could not be moved there, or its note not written), each saying why not; ``stranded``: entries that
    could not be moved there (given back to the spool, where each flush counts them in ``failed`` again).
    ``claimed``: entries this process claimed and could neither deliver, set aside nor give back to the spool
    (also counted in ``left``, and named in ``errors``). ``spool_error``: why the spool folder could not be listed
    or its entries claimed (not writable): the entries stay in it for a later flush (counted in ``left``).
    ``delivered_to``: each delivered entry's store (the one it went to) and the keys its objects were stored under."""

    delivered: int = 0
    objects: int = 0
    written: int = 0
    left: int = 0
    failed: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)
    set_aside: list[str] = field(default_factory=list)
    unfiled: list[str] = field(default_factory=list)
    stranded: int = 0
    claimed: int = 0
    spool_error: SpoolError | None = None
    delivered_to: list[tuple[Store, list[str]]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.left == 0 and self.failed == 0 and self.spool_error is None


@dataclass
class DeliveryResult:
    """What a delivery did: ``delivered`` objects confirmed in the store (``written`` of them new);
    when the store was unavailable, the rest went to ``spool_entry`` and ``error`` says why.
    ``late_keys``: the keys chosen for :class:`LateKey` objects that were delivered."""

    delivered: int = 0
    written: int = 0
    spooled: bool = False
    spool_entry: Path | None = None
    error: str | None = None
    flush: FlushReport | None = None
    late_keys: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.spooled


@dataclass(frozen=True)
class SetAside:
    """An entry in ``<spool>/failed/``: the ``keys`` of its objects (None when its header cannot be read:
    ``unreadable`` says why, naming the entry, as :func:`~prov_common.store.spool.unreadable_header` does) and ``why``,
    its note."""

    path: Path
    keys: list[str] | None
    unreadable: str
    why: str


class Outbox:
    """Delivers batches of objects to a store, spooling what the store cannot take right now. A flush logs each entry
    it sets aside (an error), unless ``log_set_aside`` is False: for a caller that names them itself from the
    report (``tdprov flush``), so each is said once. ``arrival`` puts an object a flush delivers from the spool
    elsewhere when it must be (``(key, created)``; None: put as it is), such as
    :func:`prov_common.bundle.late.put_arrived`. ``same`` tells a write-once conflict with an object that holds the
    same record (:func:`~prov_common.store.same.put_or_same`), which then counts as delivered, such as
    :func:`prov_common.bundle.restaged.staged_already`. ``setting``: where the store it delivers to was set, named in
    the fix of a store's error (:func:`~prov_common.store.errors.name_setting`)."""

    def __init__(self, spool_dir: str | os.PathLike[str] | None = None, *, flush_limit: int = 100,
                 log_set_aside: bool = True, arrival: Arrival | None = None, same: Same | None = None,
                 setting: str = STORE_VARIABLE) -> None:
        self.spool_dir = Path(spool_dir).expanduser() if spool_dir is not None else default_spool_dir()
        self.flush_limit = flush_limit
        self.log_set_aside = log_set_aside
        self.arrival = arrival
        self.same = same
        self.setting = setting
        self._held: set[Path] = set()  # claims this outbox could not give back: every flush counts them until it can
        # an entry's name (claimed or not) -> its store and keys, for the entries of the latest listing :meth:`holds` made:
        # an entry never changes once it has its name, so its header is read once while it waits
        self._targets: dict[str, tuple[str, list[str]]] = {}
        self._targets_lock = threading.Lock()
        self._listed: _Listing | None = None  # the spool folder's latest listing that :meth:`holds` may reuse
        # the batches being put right now (this process's): store URI, the batch, the index of the object being put
        self._delivering: dict[int, tuple[int, str, list[tuple[str, bytes] | LateKey], list[int]]] = {}

    def __repr__(self) -> str:
        return f"Outbox({str(self.spool_dir)!r})"

    # -- deliver ------------------------------------------------------------------------------
    def deliver(self, store: Store, objects: Sequence[tuple[str, bytes] | LateKey], *, strict: bool = False,
                write_ahead: bool = False) -> DeliveryResult:
        """Put ``objects`` in order (the commit object last); if the store is unavailable, spool the
        ones not yet confirmed as one entry and return a result that says so (``strict`` raises).

        A :class:`LateKey` object gets its key when it is written (now, or at the flush that
        delivers it from the spool), recorded once in the store so that redelivery cannot make a
        second copy. Older spool entries for this store are flushed first, so deliveries keep their order
        (when the spool folder cannot be written, they wait there and the batch goes to the store directly).
        ``write_ahead`` spools the batch *before* the first put and removes the entry once all puts
        succeeded, so even a crash in the middle of the puts leaves the entry (at the cost of one
        spool write per delivery). A conflicting object raises :class:`ObjectConflictError`; a spool
        that cannot be written raises :class:`SpoolError` (nothing is recorded then: log it loudly
        or fail the task).
        """
        batch = [o if isinstance(o, LateKey) else (validate_key(o[0]), _as_bytes(*o)) for o in objects]
        result = DeliveryResult()
        if self._has_backlog(store.uri):
            result.flush = self.flush(store, limit=self.flush_limit)
            if result.flush.spool_error is not None:  # the store may well take the batch: never lose it to the spool
                level = logging.WARNING if SPOOL_WARNED.first(str(self.spool_dir)) else logging.DEBUG  # not at every event
                log.log(level, "tdprov: %s; this delivery goes to the store directly", result.flush.spool_error)
            elif result.flush.left:
                cause = f"store {store.uri} is still unavailable (backlog: {result.flush.errors[-1]})"
                return self._spool_or_raise(store, batch, 0, result, strict, cause=cause)
        ahead = spool.write_entry(self.spool_dir, spool.SpoolEntry(store.uri, tuple(batch))) if write_ahead else None
        at = [0]
        self._delivering[id(at)] = (os.getpid(), store.uri, batch, at)
        try:
            return self._put_batch(store, batch, at, ahead, result, strict)
        finally:
            self._delivering.pop(id(at), None)

    def _put_batch(self, store: Store, batch: list[tuple[str, bytes] | LateKey], at: list[int], ahead: Path | None,
                   result: DeliveryResult, strict: bool) -> DeliveryResult:
        """:meth:`deliver`'s puts, in order; ``at[0]``: the index of the object being put (see :meth:`spool_delivering`)."""
        for index, obj in enumerate(batch):
            at[0] = index
            try:
                key, created = _put(store, obj, same=self.same)
            except StoreError as exc:
                name_setting(exc, self.setting)
                if ahead is not None and (strict or isinstance(exc, ObjectConflictError)):
                    _remove(ahead)
                if isinstance(exc, ObjectConflictError):
                    raise
                if strict:
                    raise strict_refix(exc)
                if ahead is not None:
                    result.spool_entry, result.spooled, result.error = ahead, True, str(exc)
                    log.warning("tdprov: %s; the objects stay spooled in %s", exc, ahead)
                    return result
                return self._spool_or_raise(store, batch, index, result, strict, cause=str(exc))
            result.delivered += 1
            result.written += int(created)
            if isinstance(obj, LateKey):
                result.late_keys.append(key)
        if ahead is not None:
            _remove(ahead)  # (a flusher may have taken it meanwhile: then it re-puts, harmlessly)
        return result

    def spool_delivering(self) -> dict[Path, tuple[str, ...]]:
        """Spool what the deliveries under way in this process have not put yet (from the object being put on), one
        entry each, as a process that cannot wait for them any longer must before it ends: the flush
        that delivers them takes an object that reached the store meanwhile as delivered (written once). The spool
        entries, in the order the deliveries began, each with the keys of the objects it holds (a late key's record)."""
        entries = {}
        for key, (pid, uri, batch, at) in list(self._delivering.items()):
            if pid == os.getpid() and self._delivering.pop(key, None) is not None:
                rest = tuple(batch[at[0]:])
                entries[spool.write_entry(self.spool_dir, spool.SpoolEntry(uri, rest))] = tuple(map(_key_of, rest))
        return entries

    def _spool_or_raise(self, store: Store, batch: list[tuple[str, bytes] | LateKey], start: int, result: DeliveryResult,
                        strict: bool, cause: str) -> DeliveryResult:
        if strict:
            raise StoreUnavailableError(cause, fix=FIX_STRICT)
        rest = tuple(batch[start:])
        try:
            result.spool_entry = spool.write_entry(self.spool_dir, spool.SpoolEntry(store=store.uri, objects=rest))
        except SpoolError as exc:  # nothing is recorded: why the store did not take them belongs in the error too
            said, _, store_fix = cause.partition(" Fix: ")
            if said.count("(") > said.count(")"):  # a backlog's cause, its error in brackets: "(backlog: ... Fix: ...)"
                said, store_fix = f"{said.rstrip().removesuffix('.')})", store_fix.removesuffix(")")
            raise SpoolError(f"{exc.what} The store did not take them: {said}",
                             fix=f"{exc.fix}; and the store: {store_fix}" if store_fix else exc.fix) from exc
        result.spooled, result.error = True, cause
        log.warning("tdprov: %s; spooled %s (%s) to %s, to be delivered by the next write or 'tdprov flush'",
                    cause, counted(len(rest), 'object'), _named(rest), result.spool_entry)
        return result

    def hold(self, store_uri: str, objects: Sequence[tuple[str, bytes]], unopened: str) -> Path:
        """Spool ``objects`` for a store that cannot be opened (``unopened``: why): kept until ``tdprov flush --store
        URI`` delivers them to the store the setting should have named. A spool that cannot be written raises
        :class:`SpoolError`."""
        batch = tuple((validate_key(key), _as_bytes(key, data)) for key, data in objects)
        return spool.write_entry(self.spool_dir, spool.SpoolEntry(store_uri, batch, unopened=unopened))

    # -- flush --------------------------------------------------------------------------------
    def flush(self, store: Store | None = None, *, limit: int | None = None,
              opener: Callable[[str], Store] | None = None, take_unopened: bool = False,
              under: str | None = None) -> FlushReport:
        """Deliver spooled entries oldest first; an entry is removed only once all its puts succeeded.

        With ``store``, only entries for that store are delivered (and, with ``take_unopened``, those spooled because
        their store setting could not be opened, :meth:`hold`, and those whose store cannot be opened now: ``tdprov
        flush --store``); without, each entry goes to the store it names (opened with ``opener``, default
        :func:`open_store`, once per flush; an entry whose store cannot be opened waits, counted in ``left`` and named
        in ``errors`` with the fix, while the other entries are delivered). With ``under``, only entries (redirected ones too) holding an
        object whose key starts with it (a run's staged events, before the run is sealed). Stops at the first
        entry that meets an unavailable store (it and later ones stay, counted in ``left``). A spool folder that
        cannot be listed or written never raises: ``spool_error`` says so, and its entries stay (counted in ``left``).
        Working folders a killed process left in the spool folder go (:func:`~prov_common.scratch.remove_orphans`).
        """
        report = FlushReport()
        for claimed in sorted(self._held):
            self._unclaim(claimed)
        targets = _Targets({} if store is None else {store.uri: store}, opener)
        try:
            listed = spool.listing(self.spool_dir)  # once: the claims given back join the entries it lists
            remove_orphans(self.spool_dir, listed)  # working folders of processes killed while they used them
            released = self._release_stale_claims(listed)
            self._set_aside_unfinished(report, listed)
            entries = sorted(dict.fromkeys(spool.pending(self.spool_dir, [*listed, *released])), key=lambda p: p.name)
        except OSError as exc:
            report.spool_error = _unusable_spool(self.spool_dir, exc)
            self._count_held(report)
            return report
        for position, path in enumerate(entries):
            if limit is not None and report.delivered >= limit:
                break
            try:
                target_uri, unopened, keys = spool.read_target(path)
            except FileNotFoundError:
                report.skipped += 1  # another flusher took it
                continue
            except (OSError, ValueError, KeyError) as exc:
                self._set_aside(path, report, spool.unreadable_header(path.name, exc))
                continue
            if under is not None and not any(key.startswith(under) for key in keys):
                report.skipped += 1  # on every path, a redirected entry's too
                continue
            redirect = store is not None and take_unopened and (
                unopened or (target_uri != store.uri and targets.cannot_open(target_uri)))
            if redirect:
                target_uri = store.uri  # the store the wrong setting should have named, or where its store is now
            elif store is not None and target_uri != store.uri:
                report.skipped += 1
                continue
            claimed = path.with_name(f"{path.name}{CLAIM}{os.getpid()}-{time.time_ns()}")
            try:
                os.rename(path, claimed)
            except FileNotFoundError:
                report.skipped += 1
                continue
            except OSError as exc:  # the folder is not writable: no entry can be claimed, all stay for a later flush
                report.spool_error = _unusable_spool(self.spool_dir, exc)
                report.left += len(entries) - position
                break
            try:
                outcome = self._deliver_claimed(claimed, path, target_uri, targets, report)
            except BaseException:
                self._unclaim(claimed)  # (an interrupt): it waits for the next flush
                raise
            if outcome == "unopened":
                report.left += 1
                continue
            if outcome == "unavailable":
                report.left += len(entries) - position - (claimed in self._held)  # this one and those after it still
                break  # wait (one that could not be given back is counted with the claims held, below)
        self._count_held(report)
        return report

    def _unclaim(self, claimed: Path) -> bool:
        """Give a claimed entry back to the spool; one that cannot be is remembered and counted by every flush
        (:meth:`_count_held`) until it is given back. True when it is back (or gone: delivered by another flusher)."""
        try:
            os.rename(claimed, claimed.with_name(claimed.name.partition(CLAIM)[0]))
        except FileNotFoundError:
            pass
        except OSError as exc:
            self._held.add(claimed)
            log.error("tdprov: cannot give spool entry %s back to the spool (%s); it is not delivered", claimed, exc)
            return False
        self._held.discard(claimed)
        return True

    def _count_held(self, report: FlushReport) -> None:
        """Count and name the entries this outbox holds claimed but could not give back, in ``left``."""
        held = sorted(p for p in self._held if p.exists())
        self._held = set(held)
        if held:
            report.claimed = len(held)
            report.left += len(held)
            report.errors.append(
                f"{len(held)} spool entr{'y' if len(held) == 1 else 'ies'} claimed by this process could not be given back "
                f"to the spool and {'is' if len(held) == 1 else 'are'} not delivered: {', '.join(p.name for p in held)}. "
                f"Fix: make {self.spool_dir} writable; the next flush gives {'it' if len(held) == 1 else 'them'} back "
                f"(any flush once the claim is {STALE_CLAIM_SECONDS:.0f} s old)")

    def _deliver_claimed(self, claimed: Path, original: Path, target_uri: str, targets: "_Targets",
                         report: FlushReport) -> str:
        try:
            entry = spool.decode(file_bytes(claimed), original.name)  # a large entry mapped, read a part at a time
        except (OSError, ValueError, KeyError) as exc:
            self._set_aside(claimed, report, f"spool entry {original.name} is damaged: {exc}")
            return "failed"
        try:
            target = targets.open(target_uri)
            if target is None:  # a wrong setting, or a store since removed: it waits, the other entries go on
                self._unclaim(claimed)
                report.errors.append(f"spool entry {original.name} waits: its store {target_uri!r} cannot be opened "
                                     f"({targets.why(target_uri)}). Fix: run 'tdprov flush --store URI' with the store "
                                     "it belongs in (the one its setting should have named, or where that store is now) "
                                     "to deliver it there")
                return "unopened"
            puts = [_put(target, obj, self.arrival, self.same) for obj in entry.objects]
        except ObjectConflictError as exc:
            self._set_aside(claimed, report, f"spool entry {original.name}: {exc}")
            return "failed"
        except StoreError as exc:
            self._unclaim(claimed)  # it waits for the next flush
            report.errors.append(str(name_setting(exc, self.setting)))
            return "unavailable"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(claimed)
        report.delivered += 1
        report.objects += len(entry.objects)
        report.written += sum(created for _, created in puts)
        report.delivered_to.append((target, [key for key, _ in puts]))
        return "delivered"

    @property
    def failed_dir(self) -> Path:
        """Where entries that can never be delivered are set aside, each with its note."""
        return self.spool_dir / FAILED_DIR

    def _set_aside(self, path: Path, report: FlushReport, why: str) -> None:
        """Move an entry that can never be delivered to ``failed/`` with a note, and report it."""
        failed = self.failed_dir
        moved = False
        try:
            failed.mkdir(exist_ok=True, mode=0o700)
            name = path.name.split(CLAIM)[0].removeprefix(spool.UNFINISHED)
            os.rename(path, failed / name)
            moved = True
            (failed / f"{name}{WHY_SUFFIX}").write_text(why + "\n")
        except OSError as exc:
            why += f" (could not move it to {failed}: {exc}"
            if not moved:  # never left claimed: each flush counts it in ``failed`` again, until failed/ can take it
                why += "; it stays in the spool" if self._unclaim(path) else "; it stays claimed by this process"
            why += ")"
            report.unfiled.append(why)
            report.stranded += not moved
        report.failed += 1
        report.set_aside.append(why)
        if self.log_set_aside:
            log.error("tdprov: %s", why)

    def set_aside_entries(self, store_uri: str | None = None) -> list[SetAside]:
        """The entries set aside in ``failed/`` (those for ``store_uri`` and those whose header cannot be read,
        when given), oldest first, each with its note."""
        found = []
        for path in spool.pending(self.failed_dir):
            keys, unreadable = None, ""
            try:
                entry_store, keys = spool.read_store_and_keys(path)  # one read of its header for both
                if store_uri is not None and entry_store != store_uri:
                    continue
            except (OSError, ValueError, KeyError, TypeError) as exc:
                unreadable = spool.unreadable_header(path.name, exc)
            try:
                why = path.with_name(path.name + WHY_SUFFIX).read_text(errors="replace").strip()
            except OSError:
                why = f"(no {WHY_SUFFIX} note)"
            found.append(SetAside(path, keys, unreadable, why))
        return found

    @staticmethod
    def _claims(listed: list[Path]) -> list[Path]:
        """Entries claimed by a flush, among ``listed`` (the spool's :func:`spool.listing`)."""
        return [p for p in listed if CLAIM in p.name and not p.name.startswith(".")]

    def _release_stale_claims(self, listed: list[Path]) -> list[Path]:
        """Give back entries claimed (among ``listed``) by a flusher that died (or has held them too long); the entries
        given back."""
        released = []
        for claimed in self._claims(listed):
            original, _, tail = claimed.name.partition(CLAIM)
            try:
                pid, started = (int(x) for x in tail.split("-"))
            except ValueError:
                continue
            if alive(pid) and time.time_ns() - started < STALE_CLAIM_SECONDS * 1e9:
                continue
            if self._unclaim(claimed) and (back := claimed.with_name(original)).exists():  # (not taken by another flusher)
                released.append(back)
        return released

    @staticmethod
    def _unfinished(listed: list[Path]) -> list[tuple[Path, int]]:
        """The entries among ``listed`` whose writer stopped (killed) before it finished them, each with its writer's
        pid."""
        return [(path, pid) for path, pid in spool.unfinished(listed) if not alive(pid)]

    def _set_aside_unfinished(self, report: FlushReport, listed: list[Path]) -> None:
        """Set aside each entry (among ``listed``) whose writer stopped before it finished it: never delivered (its bytes
        are partial), and named, as its objects are recorded nowhere."""
        for path, pid in self._unfinished(listed):
            try:
                keys = ", ".join(spool.read_keys(path)[:3]) or "none"
            except (OSError, ValueError, KeyError):
                keys = "its header is incomplete too"
            self._set_aside(path, report, f"spool entry {path.name[len(spool.UNFINISHED):]} is incomplete: the process "
                                          f"that wrote it (pid {pid}) stopped before the entry was whole, so its objects "
                                          f"are not recorded (keys: {keys}). Fix: run again what wrote them")

    def _has_backlog(self, store_uri: str) -> bool:
        """Whether the spool holds what a delivery to ``store_uri`` must flush first: an entry for it (claimed or not,
        :meth:`holds`), an entry whose header cannot be read or one a killed writer left unfinished (``.tmp-``), which
        the flush sets aside; True when the folder cannot be listed (the flush says why). Entries of other stores wait
        for their own (a flush to this one only skips them). From the folder's kept listing (:meth:`_listing`): a
        listing and a header read per entry at every delivery cost about 50 ms with 2,000 entries of another store."""
        try:
            listed = self._listing()
        except OSError:
            return True
        return bool(self._unfinished(listed.unfinished)) or self._holds(store_uri, None, True, listed)

    def pending(self) -> list[Path]:
        """Entries waiting in the spool, oldest first."""
        return spool.pending(self.spool_dir)

    def waiting_stores(self) -> tuple[dict[str, int], dict[str, int]]:
        """How many entries wait in the spool (claimed or not) for each store, by URI, most first, read in one pass: those
        a flush delivers to the store they name, and those spooled because their store could not be opened
        (:meth:`hold`: only ``tdprov flush --store`` delivers them); an entry whose header cannot be read (a flush sets
        it aside) is left out."""
        named: dict[str, int] = {}
        held: dict[str, int] = {}
        for path in self._listing().waiting:
            try:
                entry_store, unopened, _ = spool.read_target(path)
            except (OSError, ValueError, KeyError):  # delivered since the listing, or unreadable
                continue
            counts = held if unopened else named
            counts[entry_store] = counts.get(entry_store, 0) + 1

        def most_first(counts: dict[str, int]) -> dict[str, int]:
            return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))

        return most_first(named), most_first(held)

    def claimed(self) -> list[Path]:
        """Entries a flush (of this process or another) has claimed and not delivered yet, oldest first."""
        return self._claims(spool.listing(self.spool_dir))

    def holds(self, store_uri: str, *, under: str | None = None) -> bool:
        """Whether an entry for ``store_uri`` waits in the spool (with ``under``: one holding an object whose key starts
        with it); reads only the spool's entry headers. An entry a flush has claimed and not yet delivered (in this
        process or another, or left claimed by a flusher that was killed) waits too: it is in the store only once its
        claim is gone, so asking the spool before the store misses no entry on its way. False when the spool folder
        cannot be listed (a flush names why): a write asks, and the answer never stops it. Each entry's header is read
        once while it waits; the folder is listed again, and the answer worked out again, only once it changed
        (:meth:`_listing`)."""
        return self._holds(store_uri, under, False)

    def _holds(self, store_uri: str, under: str | None, unreadable: bool, listed: "_Listing | None" = None) -> bool:
        """:meth:`holds` (first from ``listed``, when given); with ``unreadable``, an entry whose header cannot be read
        holds too (:meth:`_has_backlog`)."""
        for _ in range(HOLDS_LOOKS):
            if listed is None:
                try:
                    listed = self._listing()
                except OSError:
                    return False
            asked = (store_uri, under, unreadable)
            if (known := listed.answers.get(asked)) is not None:
                return known
            moved = unread = False
            for path in listed.waiting:
                try:
                    entry_store, keys = self._target(path)
                except FileNotFoundError:  # claimed, given back or delivered since the listing: looked for again
                    moved = True
                    continue
                except (OSError, ValueError, KeyError) as exc:  # unreadable (a flush sets it aside)
                    if unreadable:
                        return True
                    unread = unread or not isinstance(exc, (ValueError, KeyError))  # perhaps readable when asked again
                    continue
                if entry_store == store_uri and (under is None or any(key.startswith(under) for key in keys)):
                    listed.answers[asked] = True  # (an entry's header never changes: it goes with its name)
                    return True
            if not moved:
                if not unread:
                    listed.answers[asked] = False
                return False
            with self._targets_lock:
                self._listed = None
            listed = None
        return False

    def _listing(self) -> "_Listing":
        """The spool folder's listing: the one taken last while the folder's device, inode and modification time are as
        they were then (one ``stat``), else a new one (an OSError when the folder cannot be listed). Every entry
        written, claimed, given back, delivered or set aside changes the folder's modification time; a listing is kept
        for reuse only when the folder's last change is :data:`SETTLED_NS` older than it, so that a change in the same
        clock tick, stamped with the same time, is never missed."""
        try:
            st = os.stat(self.spool_dir)
            stamp: tuple[int, int, int] | None = (st.st_dev, st.st_ino, st.st_mtime_ns)
        except OSError:
            stamp = None
        with self._targets_lock:
            if stamp is not None and self._listed is not None and self._listed.stamp == stamp:
                return self._listed
        listed_at = time.time_ns()
        listed = spool.listing(self.spool_dir)  # after the stat: a change between them only makes the next call list again
        settled = stamp is not None and listed_at - stamp[2] >= SETTLED_NS
        listing = _Listing(stamp if settled else None, [*spool.pending(self.spool_dir, listed), *self._claims(listed)],
                           [path for path, _ in spool.unfinished(listed)])
        with self._targets_lock:  # those no longer listed are let go
            self._targets = {n: t for n in map(_unclaimed_name, listed) if (t := self._targets.get(n)) is not None}
            self._listed = listing
        return listing

    def _target(self, path: Path) -> tuple[str, list[str]]:
        """The store and keys of entry ``path`` (:func:`spool.read_store_and_keys`), its header read once while it waits."""
        name = _unclaimed_name(path)
        with self._targets_lock:
            target = self._targets.get(name)
        if target is None:
            target = spool.read_store_and_keys(path)  # one read of its header for both
            with self._targets_lock:
                self._targets[name] = target
        return target


@dataclass
class _Listing:
    """A listing of the spool folder (:meth:`Outbox._listing`): the entries ``waiting`` in it (claimed or not), those
    being written or left ``unfinished`` (``.tmp-``: whether the writer still runs is asked at each use), the folder's
    ``stamp`` (device, inode, modification time) when it may be reused (None: it may not), and the answers of
    :meth:`Outbox.holds` worked out from it (``(store, under, unreadable)`` -> held)."""

    stamp: tuple[int, int, int] | None
    waiting: list[Path]
    unfinished: list[Path]
    answers: dict[tuple[str, str | None, bool], bool] = field(default_factory=dict)


def _unclaimed_name(path: Path) -> str:
    """The name of spool entry ``path`` before a flush claimed it (its own name when not claimed)."""
    return path.name.partition(CLAIM)[0]


class _Targets:
    """The stores a flush delivers to, each opened once (``opener``, default :func:`open_store`); those that cannot
    be opened are remembered with why."""

    def __init__(self, stores: dict[str, Store], opener: Callable[[str], Store] | None) -> None:
        self._stores = stores
        self._opener = opener
        self._unopened: dict[str, str] = {}

    def open(self, uri: str) -> Store | None:
        """The store ``uri`` names; None when it cannot be opened (:meth:`why`). An unavailable store raises
        :class:`StoreUnavailableError`."""
        if uri in self._stores:
            return self._stores[uri]
        if uri in self._unopened:
            return None
        from prov_common.store.factory import open_store

        try:
            self._stores[uri] = (self._opener or open_store)(uri)
        except StoreUnavailableError:
            raise
        except (BadInputError, StoreError) as exc:
            self._unopened[uri] = exc.what.rstrip(".")
            return None
        return self._stores[uri]

    def cannot_open(self, uri: str) -> bool:
        """Whether the store ``uri`` names cannot be opened (an unavailable one can: it waits for it)."""
        try:
            return self.open(uri) is None
        except StoreUnavailableError:
            return False

    def why(self, uri: str) -> str:
        return self._unopened.get(uri, "")


def _put(store: Store, obj: tuple[str, bytes] | LateKey, arrival: Arrival | None = None,
         same: Same | None = None) -> tuple[str, bool]:
    """Put one object: ``(key, created)``; a :class:`LateKey` gets (or reuses) its delivery-time key, another
    object is put by ``arrival`` when it says so (see :class:`Outbox`); a conflict ``same`` takes is no error.

    An ``OSError`` that a backend let through untranslated is a store that cannot take the object now
    (:class:`StoreUnavailableError`), so the object is spooled or left in the spool, never lost."""
    try:
        if isinstance(obj, LateKey):
            return put_late(store, obj, same=same)
        key, data = obj
        if arrival is not None and (put := arrival(store, key, data)) is not None:
            return put
        return key, put_or_same(store, key, data, same)
    except OSError as exc:
        raise StoreUnavailableError(f"cannot write '{_key_of(obj)}' to {store.describe()}: {exc}.",
                                    fix="check that the store is reachable and writable, then run 'tdprov flush'") from exc


def _key_of(obj: tuple[str, bytes] | LateKey) -> str:
    return obj.record if isinstance(obj, LateKey) else obj[0]


def _named(objects: Sequence[tuple[str, bytes] | LateKey]) -> str:
    """The objects of a batch as a log names them: the first key, and how many more."""
    first = f"'{_key_of(objects[0])}'" if objects else "none"
    return first + (f" and {len(objects) - 1} more" if len(objects) > 1 else "")


def _unusable_spool(folder: Path, exc: OSError) -> SpoolError:
    """The error of a spool folder whose entries cannot be listed or claimed (renamed) by this user."""
    return SpoolError(f"cannot claim the entries of spool folder {folder}: {exc.strerror or exc}; they stay there, "
                      "not delivered, until a flush can claim them.",
                      fix=f"make {folder} readable and writable by the user running tdprov, then run 'tdprov flush'")


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _as_bytes(key: str, data: object) -> bytes | memoryview:
    """``data`` as :func:`~prov_common.store.buffers.byte_view` gives it (a bytearray is not copied)."""
    return byte_view(checked_buffer(data, f"object '{key}'", "encode it before delivering it"))


__all__ = ["Outbox", "DeliveryResult", "FlushReport", "LateKey", "SpoolError", "default_spool_dir"]
