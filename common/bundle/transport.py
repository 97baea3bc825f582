"""``ProvenanceTransport``: an openlineage-python Transport that stages events and seals lineage bundles.

Select it by class path, from any OpenLineage producer::

    OPENLINEAGE__TRANSPORT__TYPE=prov_common.bundle.transport.ProvenanceTransport

or ``transport: {type: prov_common.bundle.transport.ProvenanceTransport, store: s3://bucket/prov}`` in
``openlineage.yml`` (alone or inside a ``composite`` transport). Options left out come from the
``TDPROV_*`` settings, or, in a process whose orchestrator integration keeps tdprov's settings in its own
configuration (the Airflow plugin), from there (:func:`~prov_common.bundle.defaults.set_configuration_defaults`).
Every event is redacted, then staged durably in the store (``staging/<run_id>/...``), so the events of one run may
come from several processes or machines; the run's terminal event (COMPLETE, FAIL, ABORT) gathers the staged
events and attachments and writes the run's one bundle.
"""
from __future__ import annotations

import concurrent.futures
import contextvars
import logging
import os
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attr
from openlineage.client.transport.transport import Config, Transport

from prov_common import mapped
from prov_common.bounded import keep_newest
from prov_common.bundle import layout
from prov_common.bundle.build import attachment_buffer, build_bundle
from prov_common.bundle.defaults import ConfigurationDefaults, configuration_defaults
from prov_common.bundle.defaults import set_configuration_defaults  # noqa: F401 - documented here too
from prov_common.bundle.late import arrived_late, event_type_of, put_arrived
from prov_common.bundle.events import (LATE_EVENT_FIX, RunIdentity, airflow_dag_run_of, dag_run_pair, event_dict,
                                       event_digest, is_terminal, job_of, line_digests, parent_of, run_id_of)
from prov_common.bundle.refusal import (CAUSE_PLACE, CAUSE_RUN, CAUSE_UNREADABLE, STAGED_BYTES_KEPT, STAGED_BYTES_KEPT_PER_RUN,
                                        RefusedStagedError, refusal, run_id_or_none)
from prov_common.bundle.restaged import staged_already
from prov_common.bundle.staged import (MISPLACED_ATTACHMENT_FIX, EventTooLargeError, check_attachment, check_event_size,
                                       signed_attachment, signed_event, trusted_event, unverified_event)
from prov_common.bundle.model import Manifest
from prov_common import exiting
from prov_common.bundle.outlived import EndingStore, Outlived, Worker, wait_for
from prov_common.bundle.storage import (FoundManifest, WriteResult, events_run, listed_file, sealed_manifest, sealed_run_events,
                                        warn_another_run, warn_came_after, write_bundle)
from prov_common.canonical_json import canonical_bytes, canonical_form, loads
from prov_common.config import Settings, exit_timeout, flag, positive_number, unknown_keys
from prov_common.errors import BadInputError, ObjectConflictError, StoreError, StoreUnavailableError, TdprovError
from prov_common.once import Once
from prov_common.scratch import places, scratch_folder
from prov_common.signing import SigningKey, TrustStore, signing_key_from_settings
from prov_common.signing.keyfiles import KEY_VARIABLE, sealing_trust
from prov_common.store import open_store
from prov_common.store.base import Store
from prov_common.store.buffers import Buffer, held_view
from prov_common.store.errors import UnreadableObjectError, name_setting, strict_refix
from prov_common.store.factory import cannot_open
from prov_common.store.identity import writer_store_id
from prov_common.store.outbox import Outbox, writer_spool_dir
from prov_common.text import counted, first_of, noun_for
from prov_common.w3cprov.events import TERMINAL, parse_time
from prov_common.w3cprov.identity import iso_z

if TYPE_CHECKING:  # pragma: no cover - the S3 store loads when a store is on S3
    from prov_common.store.s3 import S3ClientFactory

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0
MAX_PENDING_RUNS = 1000
CLAIM_WAIT_SECONDS = 10.0  # how long a seal waits for its run's events that a flush in another process is delivering
STORE_ID_RETRY_SECONDS = 60.0  # how long staging signs for no store after the store's identity could not be had
SPOOL_SECONDS = 10.0  # how long the work left at a process's end may take to go to the outbox (a local folder)
_OUTLIVED: weakref.WeakSet[ProvenanceTransport] = weakref.WeakSet()  # transports with work left in the background
_FEEDERS: weakref.WeakSet[Any] = weakref.WeakSet()  # what gives transports work (settle_first)
# set in the work settle() does again as a process ends or a transport closes: there is no caller to raise to
_LEFT: contextvars.ContextVar[bool] = contextvars.ContextVar("tdprov_left", default=False)


UNOPENED_WARNED = Once()  # (where the store is set, its value): a store setting that cannot be opened
UNSIGNED_WARNED = Once()  # why a process stages events unsigned (the key it cannot read or make)


@attr.define
class ProvenanceConfig(Config):
    """Options of :class:`ProvenanceTransport`; any left ``None`` falls back to the process's configuration
    defaults (:func:`~prov_common.bundle.defaults.set_configuration_defaults`) when made from an OpenLineage
    configuration, else ``TDPROV_*``.

    store: store URI (folder or ``s3://bucket/prefix``); signing_key: Ed25519 private key file;
    spool: outbox folder; strict: raise to the caller instead of spooling (what a process's end or ``close`` leaves
    under way is spooled all the same, see :meth:`ProvenanceTransport.settle`); timeout: seconds an ``emit`` may take
    before it returns and leaves the work to finish in the background (or to the outbox).
    """

    store: str | None = None
    signing_key: str | None = None
    spool: str | None = None
    strict: bool | None = None
    timeout: float = DEFAULT_TIMEOUT
    defaults: ConfigurationDefaults | None = attr.field(default=None, repr=False)
    store_source: str | None = None  # where ``store`` was set (None: the option, the defaults' source or TDPROV_STORE)
    signing_key_source: str | None = None  # where ``signing_key`` was set, named in the fix of a key that cannot be had
    # why the store must not be opened: the connection that should have named it cannot be read (the Airflow plugin's
    # [tdprov] conn_id); every object is then kept in the outbox, as for a store setting that cannot be opened
    refused: TdprovError | None = attr.field(default=None, eq=False, repr=False)

    @classmethod
    def from_dict(cls, params: dict[str, Any]) -> "ProvenanceConfig":
        unknown_keys(params, ("type", "store", "signing_key", "spool", "strict", "timeout"),
                     "the ProvenanceTransport options")
        strict = params.get("strict")
        timeout = positive_number(params.get("timeout", DEFAULT_TIMEOUT))
        if timeout is None:
            raise BadInputError(f"transport option timeout={params.get('timeout')!r} is not a finite number of seconds "
                                "above 0.", fix="e.g. timeout: 10")
        return cls(
            store=_text(params.get("store")),
            signing_key=_text(params.get("signing_key")),
            spool=_text(params.get("spool")),
            strict=None if strict is None else flag(strict, "transport option 'strict'", default=None),
            timeout=timeout,
            defaults=configuration_defaults(),
        )

    def settings(self) -> Settings:
        """The options given, over the configuration defaults (if any) or ``TDPROV_*``."""
        given = {"store": self.store, "signing_key": self.signing_key, "spool": self.spool, "strict": self.strict}
        if self.defaults is None:
            return Settings.from_env(**given)
        return replace(self.defaults.settings, **{k: v for k, v in given.items() if v is not None})

    def where_store_is_set(self) -> str:
        """Where the store setting comes from, named when it cannot be opened."""
        if self.store_source:
            return self.store_source
        if self.store is not None:
            return "transport option 'store'"
        return self.defaults.store_source if self.defaults is not None else "TDPROV_STORE"

    def where_signing_key_is_set(self) -> str:
        """Where the signing key setting comes from, named when the key cannot be had: :attr:`signing_key_source`, else
        the option, the defaults' source or ``TDPROV_SIGNING_KEY``."""
        if self.signing_key_source:
            return self.signing_key_source
        if self.signing_key is not None:
            return "transport option 'signing_key'"
        return (self.defaults.signing_key_source if self.defaults is not None else None) or KEY_VARIABLE

    def refusal(self) -> TdprovError | None:
        """Why the store must not be opened (:attr:`refused`, or the defaults' when the store is theirs); None: open it."""
        if self.refused is not None or self.defaults is None or self.store is not None:
            return self.refused
        return self.defaults.refused

    def s3_client_factory(self) -> S3ClientFactory | None:
        """The defaults' S3 client factory, when the store is theirs (another store is reached as ``TDPROV_*`` says)."""
        if self.defaults is None or self.settings().store != self.defaults.settings.store:
            return None
        return self.defaults.s3_client_factory


def _text(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _not_too_deep(value: Any) -> bool:
    from prov_common.lineage.validate import check_nesting

    try:
        check_nesting(value, numbers=False)
    except BadInputError:
        return False
    return True


def staged_event_key(event: Mapping[str, Any]) -> str:
    """``staging/<run_id>/<eventTime stamp>-<digest of the event>.json``: the same event twice is one object (an event
    of a run sealed already is staged under another key: see :meth:`ProvenanceTransport._put_late`)."""
    run_id = run_id_of(event)
    moment = parse_time(event.get("eventTime"), f"event (runId {run_id})")
    return f"{layout.staging_prefix(run_id)}{layout.stamp(moment)}-{event_digest(event)}.json"


_SIGNATURES = "attachment-signatures/"  # the signed record of each (prov_common.bundle.staged.signed_attachment)
_SIGNATURE_SUFFIX = ".dsse"


def attachment_key(run_id: str, path: str) -> str:
    return f"{layout.staging_prefix(run_id)}{layout.STAGED_ATTACHMENTS}{layout.check_attachment_path(path)}"


def signature_key(run_id: str, path: str) -> str:
    """Where the signed record of the staged attachment ``path`` of ``run_id`` is staged."""
    return f"{layout.staging_prefix(run_id)}{_SIGNATURES}{layout.check_attachment_path(path)}{_SIGNATURE_SUFFIX}"


def _signature_path(key: str) -> str | None:
    """The path of the attachment whose signed record a staged key holds; None for any other key."""
    parts = layout.staged_parts(key)
    rest = parts[1] if parts else ""
    if rest.startswith(_SIGNATURES) and rest.endswith(_SIGNATURE_SUFFIX):
        return rest[len(_SIGNATURES) : -len(_SIGNATURE_SUFFIX)]
    return None


def _is_attachment(key: str) -> bool:
    return layout.staged_attachment_path(key) is not None


def _staged_attachment(store: Store, key: str, size: int, beside: Path | None = None) -> bytes | memoryview:
    """A staged attachment of ``size`` bytes (-1: not known): read into memory when small; a large one (a row set
    staged by another process) streamed into a file and mapped read-only, so that sealing it reads it a part at a
    time (:func:`mapped.parts`) and never holds it whole. The file is in a hidden folder of ``beside`` (the spool
    folder, on a disk where the temporary folder may be a tmpfs, whose files are memory), else of the temporary
    folder; it goes with the mapping."""
    if size < mapped.PART:
        return store.get(key)
    for within in places(beside):
        try:
            with scratch_folder("tdprov-staged-", within) as folder:
                store.get_file(key, Path(folder) / "attachment")
                data = mapped.file_bytes(Path(folder) / "attachment")
        except OSError:  # no file can be written there (a full disk, a folder of another user): the next place
            continue
        return data if isinstance(data, bytes) else memoryview(data)
    return store.get(key)  # nowhere: read into memory, as before


def _refused_as_sent(key: str, data: bytes, error: BadInputError, attachments: dict[str, bytes]) -> BadInputError:
    """Record the staged object ``key`` refused for its signature (``error``) among the bundle's ``attachments``, with
    the event it holds as sent when it can be read (an unsigned one may be one a tdprov before this staged); ``error``."""
    try:
        event = unverified_event(data)
    except (ValueError, RecursionError):
        event = None
    path, record = refusal(event, error, staged_as=key)
    attachments[path] = record
    return error


def _refused(key: str, error: BadInputError, attachments: dict[str, bytes],
             staged_bytes: bytes | memoryview | None = None, cause: str | None = None) -> BadInputError:
    """Record the staged object ``key`` as refused with ``error`` (for ``cause``, None: the error's) among the bundle's
    ``attachments``, with the ``staged_bytes`` it held when they are kept; ``error``."""
    path, record = refusal(None, error, staged_as=key, staged_bytes=staged_bytes, cause=cause)
    attachments[path] = record
    return error


def _of_one_run(run_id: str, terminal: Mapping[str, Any] | None, read: list[tuple[str, dict[str, Any]]],
                events: list[Any], attachments: dict[str, bytes]) -> list[BadInputError]:
    """Add to ``events`` the staged events ``read`` (key, event) of the run being sealed, and record as refused (among
    ``attachments``) those of another run given the same run id (:class:`RunIdentity`: of another job than the run's,
    that of its ``terminal`` event, else of its earliest; or whose parent run is of another job than the run's parent).
    Such as two Airflow task runs of two DAGs named alike, or a DAG run and a mapped task's try, whose events must not
    be folded into this run's inputs and outputs. Returns the refusals."""
    run = RunIdentity.of(terminal, ((f"staged event {k}", e) for k, e in read))
    refused: list[BadInputError] = []
    for key, event in read:
        if not run.is_other(event):
            events.append(event)
            continue
        error = BadInputError(f"staged event {key} is of another run that was given run id {run_id}: it is "
                              f"{RunIdentity.of(event, ()).named()}, where the run is {run.named()}.", fix=run.fix_for(event))
        path, record = refusal(event, error, staged_as=key, cause=CAUSE_RUN)
        attachments[path] = record
        refused.append(error)
    return refused


class StagedNotSealedError(BadInputError):
    """A run's events are staged but its bundle cannot be sealed in this process (no signing key to be had, or the
    staged events of a run another process started cannot be read)."""


SealedRun = tuple[Manifest, RunIdentity, frozenset[str]]
"""A sealed bundle as :meth:`ProvenanceTransport._sealed_run` reads it: its manifest, the run its events are of, their
digests."""
LATE_NAMED = 10  # events a warning of what came after a sealing names (the rest counted)
LATE_CHECK = "check of the runs this process took for open"  # name_late_events, as a warning names it
ENDING = "as this process ends"  # when settle's warnings say the work was left: the process's exit
CLOSING = "as the transport is closed"  # ... or close()
_ENDED = {ENDING: "the process is ending", CLOSING: "the transport was closed"}  # ... as the ending store's errors say it
BACKGROUND = "it continues in the background"  # what becomes of a call past its bound (:meth:`ProvenanceTransport._bounded`)


@dataclass(frozen=True)
class FoundSealed:
    """A run this process took for open, found sealed by another process (as its terminal event came, or on closing):
    the sealed manifest (None when it cannot be read), the events this process staged that it lacks (described), or
    why that cannot be told; and the sealed run as read (:data:`SealedRun`), for the seal that meets it."""

    manifest: Manifest | None
    lacking: list[str]
    unknown: str | None = None
    sealed: SealedRun | None = None  # as read with it; None when its events were not read or are not all JSON

    def warn(self, run_id: str, terminal: Mapping[str, Any] | None = None, key: str = "", spooled: bool = False) -> None:
        """One warning of what came after the sealing: the events it lacks and ``terminal``, staged as ``key`` (or
        ``spooled``, to be staged when delivered); without ``terminal`` (the transport closed with the run taken for
        open), none when the bundle lacks nothing."""
        last = []
        if terminal is not None:
            staged = "spooled, staged when delivered" if spooled else f"staged as {key}"
            last = [f"its {terminal.get('eventType')} event timed {terminal.get('eventTime')} ({staged})"]
        if self.unknown:
            log.warning("tdprov: run %s was sealed by another process after this one staged its START; %s%s. Fix: %s",
                        run_id, self.unknown, "".join(f"; {e} came after the sealing and is in no bundle" for e in last),
                        LATE_EVENT_FIX)
            return
        came = [*self.lacking, *last]
        if not came:
            return
        log.warning("tdprov: run %s was sealed by another process after this one staged its START: %s came after the "
                    "sealing and %s in no bundle ('tdprov audit' names %s). Fix: %s", run_id,
                    first_of(came, LATE_NAMED, "; "),
                    noun_for(len(came), "is", "are"), noun_for(len(came), "it", "them"), LATE_EVENT_FIX)


class ProvenanceTransport(Transport):
    """Stages OpenLineage run events in the tdprov store and seals each run's signed bundle.

    ``emit`` never raises into the producer unless strict mode is on: failures are logged as warnings
    and the objects go to the outbox; it returns within ``config.timeout`` seconds.
    """

    kind = "tdprov"
    config_class = ProvenanceConfig

    def __init__(self, config: ProvenanceConfig | None = None, *,
                 s3_client_factory: S3ClientFactory | None = None) -> None:
        """``s3_client_factory``: makes the S3 client of an ``s3://`` store (see ``open_store``)."""
        self.config = config or ProvenanceConfig()
        self.settings = self.config.settings()
        self._s3_client_factory = s3_client_factory or self.config.s3_client_factory()
        self._store: Store | None = None
        self._signer: SigningKey | None = None
        self._outbox: Outbox | None = None
        # what this process emitted for runs not sealed yet: the bundle can be built even when the
        # store is down (then it is spooled whole); bounded, oldest runs forgotten first
        self._pending: OrderedDict[str, dict[str, bytes]] = OrderedDict()
        # run id -> sealed: the runs this process sealed (or found sealed) and those whose START it staged, so that an
        # event of such a run needs no store request to tell whether it came after the seal; bounded alike
        self._runs_seen: OrderedDict[str, bool] = OrderedDict()
        self._lock = threading.Lock()
        self._executor: Worker | None = None
        self._outlived = Outlived()  # the writes that outlived emit's bound, for settle()
        self._checking = Outlived()  # the checks of runs taken for open under way (name_late_events), for settle()
        self._pid = os.getpid()
        self._store_id_retry = 0.0  # time.monotonic() before which staging does not ask the store's identity again

    @property
    def _strict(self) -> bool:
        """Whether a failure raises (strict mode) rather than being spooled or warned about; never in the work done
        again as the process ends or the transport closes (:meth:`settle`): its caller was told when it outlived its
        bound, none is left to raise to, and the outbox spools what it writes, as in any mode."""
        return bool(self.settings.strict) and not _LEFT.get()

    # -- resources, opened on first use so that constructing the transport never fails a producer --
    @property
    def store(self) -> Store:
        with self._lock:
            if self._store is None:
                if (refused := self.config.refusal()) is not None:
                    raise BadInputError(refused.what, fix=refused.fix)
                self._store = open_store(settings=self.settings, s3_client_factory=self._s3_client_factory)
            return self._store

    def _open_store(self) -> tuple[Store | None, str]:
        """The store, or ``None`` and why when its setting cannot be opened (an unsupported URI, a file; the reason
        names where the setting comes from) or is refused (:meth:`ProvenanceConfig.refusal`): the caller keeps the objects in the outbox instead. Strict mode raises;
        an unreachable store raises as always (the outbox spools)."""
        try:
            return self.store, ""
        except StoreUnavailableError:
            raise
        except (BadInputError, StoreError) as exc:
            if self._strict:
                raise
            if self.config.refusal() is not None:
                return None, exc.what.rstrip(".")
            return None, cannot_open(self.config.where_store_is_set(), self.settings.store, exc)

    def _hold(self, objects: list[tuple[str, bytes]], run_id: str, why: str) -> None:
        """Keep ``objects`` of ``run_id`` in the outbox while the store setting cannot be opened (``why``); never
        drop them. Warned about once per process for each place and value of the setting (logged at debug level
        after that): every event of every run would repeat it."""
        entry = self.outbox.hold(self.settings.store, objects, why)
        source = self.config.where_store_is_set()
        refused = self.config.refusal()
        fix = refused.fix if refused is not None and refused.fix else f"correct {source}"
        if not UNOPENED_WARNED.first(source, str(self.settings.store)):
            log.debug("tdprov: %s; the objects of run %s are kept in the outbox (%s)", why, run_id, entry)
            return
        log.warning("tdprov: %s; the objects of run %s are kept in the outbox (%s), as are those of every later run "
                    "of this process until it is corrected (warned once per process). Fix: %s, then run "
                    "'tdprov flush --store <store>' and 'tdprov store seal --store <store> RUN_ID' for each run kept "
                    "(this one is %s; 'tdprov audit' names those left unsealed)", why, run_id, entry, fix, run_id)

    @property
    def signer(self) -> SigningKey:
        with self._lock:
            if self._signer is None:
                # the fix of a key that cannot be had names the setting it came from, not always the variable
                self._signer = signing_key_from_settings(self.settings, self.config.where_signing_key_is_set())
            return self._signer

    @property
    def outbox(self) -> Outbox:
        with self._lock:
            if self._outbox is None:
                self._outbox = Outbox(writer_spool_dir(self.settings), arrival=put_arrived, same=staged_already,
                                      setting=self.config.where_store_is_set())
            return self._outbox

    # -- Transport API ------------------------------------------------------------------------
    def emit(self, event: Any, *, read: Mapping[str, bytes] | None = None) -> WriteResult | None:
        """Stage ``event``; on a terminal event, seal the run's bundle (``read``: as for :meth:`seal`). Returns the
        bundle's write result."""
        return self._bounded(self._emit, event, read, what="event")

    def attach(self, run_id: str, name: str, data: Buffer) -> None:
        """Stage an attachment (e.g. ``layout.samples_path(dataset)``) for the bundle of ``run_id``.

        Attach before the run's terminal event is emitted: the bundle is sealed then. A read-only memoryview (a
        row set's, a mapped file's) is staged and sealed in place, not copied: its bytes must not change until the
        run is sealed. A bytearray or writable memoryview is copied, as its owner may change it meanwhile. A signed
        record of its size and digest is staged beside it: a seal takes only attachments a key it trusts so signed.
        """
        attachment_key(layout.check_run_id(run_id), name)  # a bad name is the caller's error, raised here
        data = attachment_buffer(name, data)
        self._bounded(self._put_attachment, run_id, name, held_view(data), what=f"attachment {name}")

    def seal(self, run_id: str, *, accept_unsigned: bool = False, read: Mapping[str, bytes] | None = None) -> WriteResult:
        """Seal ``run_id`` from what is staged (e.g. a run whose terminal event was lost). ``accept_unsigned``: its
        unsigned staged events are sealed too, where they are refused otherwise (staged by a writer that had no signing
        key, or by a tdprov before staged events were signed; but anyone who can write the store may have put them
        there): for a person who knows who staged them. ``read``: staged events of the run the caller has just read
        from the store (key -> bytes as stored), taken as they are rather than read again; checked as any other."""
        try:
            return self._seal(layout.check_run_id(run_id), None, accept_unsigned=accept_unsigned, read=read or {})
        except TdprovError as exc:
            if self._strict:
                self._strict_words(exc)  # in place
            raise

    @staticmethod
    def _strict_words(exc: BaseException) -> None:
        """Give ``exc``, raised out of the transport in strict mode (:meth:`emit`, :meth:`attach`, :meth:`seal`, the
        check of :meth:`name_late_events`), strict mode's words in place: a store's error whose fix says that spooled
        bundles are delivered by 'tdprov flush' says that nothing was spooled instead (:func:`strict_refix`), whichever
        store call raised it (a write, a listing, a read or write of a sealed run's bundle)."""
        if isinstance(exc, TdprovError):
            strict_refix(exc)

    def close(self, timeout: float = -1) -> bool:
        """Finish the work under way within ``timeout`` seconds (negative, OpenLineage's "until done": the exit bound,
        ``TDPROV_EXIT_TIMEOUT``; 0: without waiting, the process's exit waits for it) and, first, within the same bound,
        name what this process staged for a run it still takes for open that another process has sealed since
        (:meth:`name_late_events`). What is still under way then (a store that does not answer, a hung mount) is
        spooled and named as at a process's end (:meth:`settle`): it held the caller, and the process, for good. True
        when everything was done. Strict mode raises the check's error past its bound only after that wait: the writes
        it would have skipped are never lost to it. Once a call of this close's has gone unanswered (the store stopped
        answering), nothing more is waited for: the work still queued would each wait its own timeout (see
        :meth:`settle`)."""
        left: list[str] = []
        try:
            if timeout != 0:
                bound = exit_timeout() if timeout < 0 else timeout
                began = time.monotonic()
                deadline = began + bound
                try:
                    self._check_late(bound, f"close() waited for it and the writes {bound:g}s at most in all, then "
                                            "closed the transport (a check left unfinished is named in a warning)",
                                     stop=self._stopped_answering(began))
                finally:  # strict: raised once the writes (and the check) were waited for
                    left = self.settle(max(deadline - time.monotonic(), 0.0), bound, ending=CLOSING, since=began)
        finally:
            executor, self._executor = self._executor, None
            if executor is not None and self._pid == os.getpid():
                executor.shutdown(wait=False)  # what it still does was waited for within the bound, or spooled and named
        return not left

    def name_late_events(self, timeout: float | None = None) -> None:
        """Ask the store once for each run this process still takes for open (its START staged here, no end seen)
        whether another process sealed it, and warn of the events staged here that its bundle lacks: a process that
        sends no terminal event for such a run said nothing of them (only the audit named them). No request when every
        run whose START was staged here ended here (the normal path); in an outage it stops at the first run the store
        cannot answer for (each request would wait its timeout; the audit names what is left). Bounded as ``emit`` (or
        by ``timeout``, what is left of a caller's bound, when shorter), in the worker thread, after what is under way;
        past its bound, the process's end waits for it as for the writes (:meth:`settle`), so that its warning is given,
        or the check named as left (then, with the runs it leaves and the whole bound: one warning, none as the check's
        own bound passes)."""
        self._check_late(timeout)

    def _check_late(self, timeout: float | None, past: str = BACKGROUND, stop: Callable[[], bool] | None = None) -> None:
        """:meth:`name_late_events`; ``past``: what becomes of a check past its bound, as strict mode's error says;
        ``stop``: see :meth:`_bounded`. No check when no run is taken for open and no write that may take one (a START)
        is under way: it would ask nothing."""
        if self._executor is None or self._pid != os.getpid():  # nothing was staged by this process
            return
        if not self._outlived and not self._taken_for_open():  # in this order: a write done between is seen in both
            return
        try:
            self._bounded(self._name_late_events, what=LATE_CHECK, writes=False, within=timeout, past=past, stop=stop)
        except RuntimeError:  # closed at interpreter exit (atexit): worker threads take no more work; the audit names them
            log.debug("tdprov: the runs this process took for open are not checked at interpreter exit")

    def settle(self, timeout: float, waited: float | None = None, ending: str = ENDING,
               since: float | None = None) -> list[str]:
        """Wait at most ``timeout`` seconds for the writes under way (those that outlived ``emit``'s bound go on in the
        background; others' callers still wait), as a process must before it ends: one that ends with ``os._exit``
        (Airflow's task process) would lose them with it. What is still under way then goes to the outbox, with a warning naming each write: the
        objects a delivery had not put yet as they are, and work that had not reached a delivery is done again
        against a store that takes nothing, so that the outbox spools what it writes (``tdprov flush`` delivers it;
        an object that reached the store meanwhile counts as delivered), in strict mode too (:meth:`_strict`). ``waited``: the seconds the process's bound
        gave its writes in all, named in the warnings (default ``timeout``: a drain before may have used the rest).
        A check of the runs taken for open (:meth:`name_late_events`) is waited for within the same bound, after the
        writes; one still under way then is named with the runs it leaves unchecked (:meth:`_unchecked`). ``ending``:
        when the warnings say it was left (:data:`ENDING`, :data:`CLOSING`). Returns what was left (empty: all written
        and checked).

        The wait ends early once a call to the store has gone unanswered (a timeout, a refused connection: the store's
        :attr:`~prov_common.store._base.BaseStore.unanswered_at`) at ``since`` or after (default: as the settle began):
        the store stopped answering, and each write still queued would wait its own timeout in turn, in an outage as
        long as the bound, so what is left goes to the outbox at once, named as above, the warnings saying how long
        was waited and why. A store that hangs without an error (a hung mount) is waited for the bound, as before."""
        if self._pid != os.getpid():
            return []  # the work of the process that forked this one is not this process's
        began = time.monotonic()
        deadline, since = began + timeout, began if since is None else since
        stopped = self._stopped_answering(since)
        left = self._outlived.left_after(timeout, stopped)
        unchecked = self._unchecked(left, deadline - time.monotonic(), stopped)
        waited = timeout if waited is None else waited
        cut = bool(left or unchecked) and stopped()  # ended early: said with how long it waited and why
        if cut:
            waited = round(time.monotonic() - since, 1)
        if unchecked:
            self._name_unchecked(unchecked, waited, ending)
        checked = [LATE_CHECK] if unchecked else []
        if not left:
            return checked
        uri = self.end(waited, ending)
        names, failed = [name for name, _, _, _ in left], []
        try:
            handed = self.outbox.spool_delivering()
        except StoreError as exc:  # the spool cannot be written either
            handed, failed = {}, [f"{exc.what}"]
        again = [(name, self._again(work, args)) for name, work, args, started in left if not (started and handed)]
        concurrent.futures.wait([future for _, future in again], timeout=SPOOL_SECONDS)
        failed += [name for name, future in again if not future.done() or future.exception() is not None]
        seals = "; ".join(f"the seal of run {run_id} is left to the thread of its {state} event, handed to the outbox as "
                          f"it was being staged: if this process ends first, run 'tdprov store seal --store {uri} "
                          f"{run_id}' after the flush" for state, run_id in self._seals_left(left, handed))
        log.warning("tdprov: %s still under way after %.1fs %s%s (%s): %s. Fix: run 'tdprov flush --store "
                    "%s' once the store answers (a later write on this machine delivers them too); %s",
                    counted(len(names), "write"), waited, ending, f", once store {uri} stopped answering" if cut else "",
                    "; ".join(names), f"handed to the outbox in {self.outbox.spool_dir}" if not failed else
                    f"not all could be spooled ({'; '.join(failed)}): 'tdprov audit' names their runs", uri,
                    seals or "'tdprov flush' names a run whose seal is left, and 'tdprov store seal RUN_ID' seals it")
        return names + checked

    def _seals_left(self, left: list[tuple[str, Any, tuple[Any, ...], bool]],
                    handed: Mapping[Path, tuple[str, ...]]) -> list[tuple[str, str]]:
        """(type, run id) of each terminal event among the writes ``left`` that had begun and whose staging the outbox
        took as it was being put (``handed``: :meth:`~prov_common.store.outbox.Outbox.spool_delivering`): the run's seal
        is done in the thread still held by the store, after that call, so a process that ends first leaves it; not
        when the seal's own objects were being put (they are handed too)."""
        keys = {key for entry in handed.values() for key in entry}
        seals = []
        for _, work, args, started in left:
            if not (started and handed and work == self._emit):
                continue
            try:
                state, run_id = _state_and_run(args[0])
                bundle = layout.bundle_prefix(str(run_id))
            except Exception:  # noqa: BLE001 - naming never fails the producer
                continue
            if state in TERMINAL and not any(key.startswith(bundle) for key in keys):
                seals.append((str(state), str(run_id)))
        return seals

    def _unchecked(self, left: list[tuple[str, Any, tuple[Any, ...], bool]], timeout: float,
                   stop: Callable[[], bool] | None = None) -> list[str]:
        """The runs taken for open that the check of them (:meth:`name_late_events`), waited for at most ``timeout``
        seconds (or until ``stop()``), leaves unchecked: none when it finished, nor those of the writes ``left`` (the
        process's end names and spools them; what of them arrives after a sealing is named when it is delivered)."""
        if not self._checking.left_after(timeout, stop):
            return []
        ending = {_run_of(args) for _, _, args, _ in left}
        return [run_id for run_id in self._taken_for_open() if run_id not in ending]

    def _name_unchecked(self, runs: list[str], waited: float, ending: str = ENDING) -> None:
        """Warn, as the process ends or the transport closes (``ending``) after ``waited`` seconds, that the check of the
        runs it took for open (:meth:`name_late_events`) did not finish for ``runs``: what it staged for such a run that
        another process sealed is named by the audit alone."""
        log.warning("tdprov: the %s (%s) was still under way after %.1fs %s (store %s does not "
                    "answer): events staged here for one of them after another process sealed it are not named here. "
                    "Fix: run 'tdprov audit --store %s' once the store answers: it names the events staged after their "
                    "run was sealed", LATE_CHECK, ", ".join(runs), waited, ending,
                    self._store_uri(), self._store_uri())

    def _stopped_answering(self, since: float) -> Callable[[], bool]:
        """Whether a call to the store has gone unanswered at ``since`` (``time.monotonic()``) or after, asked as
        it is called: the store stopped answering (:attr:`~prov_common.store._base.BaseStore.unanswered_at`; never for
        a store that does not tell)."""
        def stopped() -> bool:
            at = getattr(self._store, "unanswered_at", None)
            return at is not None and at >= since

        return stopped

    def end(self, waited: float, ending: str = ENDING) -> str:
        """From now on, what this process writes through this transport goes to the outbox, as in an outage: the
        process is ending (or, ``ending`` :data:`CLOSING`, the transport was closed), ``waited`` seconds spent on its
        writes (``tdprov flush`` delivers them). The thread held up keeps its work and ends once it is done (never
        waited for here); a new one does the rest. Returns the store's URI."""
        self._worker()  # in a forked child, renewed first
        with self._lock:
            uri, held = self._store_uri(), self._executor
            self._store, self._executor = EndingStore(uri, waited, _ENDED[ending]), None
        if held is not None:
            held.shutdown(wait=False)  # an idle thread per end, in a process that ends many transports, otherwise
        return uri

    def _store_uri(self) -> str:
        """The URI of the store, as opened (else as set)."""
        return str(getattr(self._store, "uri", None) or self.settings.store)

    def _again(self, work: Any, args: tuple[Any, ...]) -> concurrent.futures.Future[Any]:
        """``work(*args)`` in a new worker thread; at interpreter exit, where no thread is started any more, a future
        that failed with the reason."""
        try:
            return self._submit(_left_work, work, *args)
        except RuntimeError as exc:  # "cannot schedule new futures after interpreter shutdown"
            failed: concurrent.futures.Future[Any] = concurrent.futures.Future()
            failed.set_exception(exc)
            return failed

    def _outlive(self, future: concurrent.futures.Future[Any], func: Any, args: tuple[Any, ...], what: str) -> None:
        """Keep ``future`` for :meth:`settle` until it is done (see :func:`settle_all`)."""
        self._outlived.add(future, _named(args, what), func, args)
        _OUTLIVED.add(self)

    # -- work -----------------------------------------------------------------------------------
    def _worker(self) -> Worker:
        """The one worker thread that does the I/O; renewed in a forked child (Airflow and Celery
        fork task processes), where the parent's thread, locks and store clients do not carry over. The process's exit
        waits for its writes ``TDPROV_EXIT_TIMEOUT`` at most (:func:`_settle_at_exit`), not for the thread."""
        if self._pid != os.getpid():
            self._pid, self._lock, self._executor, self._store = os.getpid(), threading.Lock(), None, None
            self._outlived, self._checking = Outlived(), Outlived()  # the parent's background work is not this process's
        if self._executor is None:
            self._executor = Worker("tdprov-transport")
        return self._executor

    def _submit(self, func: Any, *args: Any) -> concurrent.futures.Future[Any]:
        """``func(*args)`` submitted to the worker thread; to the new one when :meth:`end` shut the one taken down
        meanwhile (a write given from another thread as the process ends)."""
        worker = self._worker()
        try:
            return worker.submit(func, *args)
        except RuntimeError:
            if self._executor is worker:
                raise
            return self._worker().submit(func, *args)

    def _bounded(self, func: Any, *args: Any, what: str, writes: bool = True, within: float | None = None,
                 past: str = BACKGROUND, stop: Callable[[], bool] | None = None) -> Any:
        """``func(*args)`` in the worker thread, waited for at most ``config.timeout`` seconds (or ``within``, when
        shorter), or until ``stop()`` is true (:func:`~prov_common.bundle.outlived.wait_for`: the store stopped
        answering); past that it goes on in the background, kept for :meth:`settle`: as a write when it ``writes``,
        else as a check (waited for, not done again). ``past``: what becomes of it then, as the warning (strict: the
        error) says."""
        future = self._submit(func, *args)
        if writes:  # kept from the start: a process may end (settle) while this caller still waits for it
            self._outlive(future, func, args, what)
        else:
            self._checking.add(future, what, func, args)
            _OUTLIVED.add(self)
        bound = self.config.timeout if self.config.timeout > 0 else None
        if within is not None:
            bound = max(within, 0.0) if bound is None else min(bound, max(within, 0.0))
        doing = f"writing the {what}" if writes else f"the {what}"
        stopped = False
        try:  # result() itself waits where it can: it wakes on a cancel (settle), which futures.wait does not see
            stopped = stop is not None and wait_for([future], bound, stop)
            return future.result(timeout=bound if stop is None else 0)
        except concurrent.futures.CancelledError:  # not begun when the process settled: done again into the outbox
            log.debug("tdprov: %s was left %s as this process ends", doing, "to the outbox" if writes else "undone")
        except concurrent.futures.TimeoutError:
            took = f"was left once store {self._store_uri()} stopped answering" if stopped else f"took more than {bound:.3g}s"
            message = f"tdprov: {doing} {took}; {past}"  # 2s, not 1.99962s
            if self._strict:
                raise StoreUnavailableError(message + ".", fix="check that the store is reachable, or raise timeout") from None
            # a check left unfinished is named once, with the runs it leaves and the whole bound, as it is left (settle)
            log.log(logging.WARNING if writes else logging.DEBUG, message)
        except Exception as exc:  # noqa: BLE001 - never break the producer by accident
            self.name_store_setting(exc)
            if self._strict:
                self._strict_words(exc)  # in place
                raise
            if isinstance(exc, StagedNotSealedError):
                log.warning("tdprov: %s; the pipeline continues", exc)
            else:
                log.warning("tdprov: could not record the %s (%s); the pipeline continues", what, exc)
        return None

    def name_store_setting(self, exc: BaseException) -> BaseException:
        """``exc``, a store's error's fix naming the setting this transport's store comes from (:func:`name_setting`)."""
        return name_setting(exc, self.config.where_store_is_set())

    def _put(self, key: str, data: bytes) -> bool:
        """Stage one object through the outbox (spooled if the store is unreachable) and remember it; True when it
        waits in the spool."""
        run_id = key.split("/", 2)[1]
        staged = self._pending.get(run_id, {})
        staged[key] = data
        keep_newest(self._pending, run_id, staged, MAX_PENDING_RUNS)
        store, why = self._open_store()
        if store is None:
            self._hold([(key, data)], run_id, why)
            return True
        return self.outbox.deliver(store, [(key, data)], strict=self._strict).spooled

    def _put_attachment(self, run_id: str, path: str, data: bytes) -> bool:
        """Stage attachment ``path`` of ``run_id`` and, beside it, its signed record (none without a key to be had:
        see :meth:`_signature`); True when either waits in the spool."""
        signature = self._signature(lambda signer: signed_attachment(run_id, path, data, signer, self._store_id()))
        spooled = self._put(attachment_key(run_id, path), data)
        if signature is not None:
            spooled = self._put(signature_key(run_id, path), signature) or spooled
        return spooled

    def _emit(self, event: Any, read: Mapping[str, bytes] | None = None) -> WriteResult | None:
        raw = event_dict(event)
        if "run" not in raw and "eventType" not in raw:
            log.debug("tdprov: ignoring a %s without a run (dataset or job event)", type(event).__name__)
            return None
        from prov_common.lineage.redact import redact_value  # imported on use: the lineage package loads pandas
        from prov_common.lineage.validate import check_nesting, parse_run_event

        store_id = self._store_id()  # signed into the event's envelope, whose size depends on it
        try:  # validated in full before anything is staged; checked for depth before it is walked
            check_nesting(raw)
            redacted, again = canonical_form(redact_value(raw))
            clean = self._prepared(parsed := loads(redacted))
            parse_run_event(clean, facet_schemas=True)
            # canonical once: the redacted event's bytes are the staged ones when they write themselves again unprepared
            data = redacted if again and clean is parsed else canonical_bytes(clean)
            check_event_size(clean, data, store_id)  # never staged larger than its own seal reads
        except BadInputError as exc:
            return self._refuse(raw, exc)
        terminal, run_id = is_terminal(clean), run_id_of(clean)
        late, found = self._after_seal(run_id, clean)
        key, data = staged_event_key(clean), self._signed(data, store_id)
        # read once, for its key and its warning (found sealed here: as read then)
        sealed = found.sealed if found is not None else self._sealed_run(run_id) if late else None
        manifest = found.manifest if found is not None else sealed[0] if sealed is not None else None
        key, spooled = self._put_late(key, data, manifest) if late else (key, self._put(key, data))
        if not terminal:
            if late:  # a terminal event is warned about as it seals again (write_bundle)
                where = ("is spooled (the store cannot take it now) and will be staged when delivered, stamped when it "
                         "arrives" if spooled else f"stays staged as {key}, stamped when it arrived")
                sealed_as = _another_runs(sealed, clean)
                if sealed_as is not None and sealed is not None:
                    log.warning("tdprov: run %s is sealed already as %s; its %s event timed %s is of another run, %s, "
                                "that was given the same run id: it %s, in no bundle (the audit names it). Fix: %s",
                                run_id, sealed_as[0], clean.get("eventType"), clean.get("eventTime"), sealed_as[1], where,
                                sealed[1].fix_for(clean))
                else:
                    log.warning("tdprov: run %s was sealed already: its %s event timed %s arrived after that; it %s, in "
                                "no bundle (the audit names it). Fix: %s", run_id, clean.get("eventType"),
                                clean.get("eventTime"), where, LATE_EVENT_FIX)
            elif clean.get("eventType") == "START":
                self._seen(run_id, sealed=False)
            return None
        if found is not None:  # one warning names all that came after the sealing, its seal again none
            found.warn(run_id, clean, key, spooled)
        return self._seal_ended(run_id, clean, behind=spooled, found=found, read=read, late=late, sealed=sealed)

    def _put_late(self, key: str, data: bytes, manifest: Manifest | None = None) -> tuple[str, bool]:
        """Stage the event ``key`` (``data``) of a run sealed already, keyed as it arrives, after the sealing, and once
        whoever delivers it (:func:`~prov_common.bundle.late.arrived_late`; the sealed ``manifest``, when it was read):
        the key it was put under (its own while it waits in the outbox, whose flush keys it so) and whether it waits
        in the outbox."""
        store, _ = self._open_store()
        late = arrived_late(store, key, data, manifest) if store is not None else None
        if late is None:
            return key, self._put(key, data)
        result = self.outbox.deliver(store, [late], strict=self._strict)
        return (result.late_keys[0] if result.late_keys else key), result.spooled

    def _signed(self, event: bytes, store_id: str | None) -> bytes:
        """The object staged for the event of canonical JSON ``event``: signed with this process's key for store
        ``store_id`` (see :mod:`~prov_common.bundle.staged`); without a key to be had, the event as it is (see
        :meth:`_signature`)."""
        signed = self._signature(lambda signer: signed_event(event, signer, store_id))
        return event if signed is None else signed

    def _store_id(self) -> str | None:
        """The identity this process's writers bound of the store (:func:`writer_store_id`), signed into what it
        stages so that a seal in another store refuses it. None while it cannot be had (a store setting that cannot be
        opened, a store that does not answer, a damaged identity): staged for no store, as before stores were named,
        and not asked again for :data:`STORE_ID_RETRY_SECONDS` (in an outage, every event would wait on one more
        request that fails)."""
        if time.monotonic() < self._store_id_retry:
            return None
        try:
            store, _ = self._open_store()
            store_id = writer_store_id(store, setting=self.config.where_store_is_set()) if store is not None else None
        except StoreError:
            store_id = None
        if store_id is None:
            self._store_id_retry = time.monotonic() + STORE_ID_RETRY_SECONDS
        return store_id

    def _signature(self, sign: Callable[[SigningKey], bytes]) -> bytes | None:
        """What ``sign`` makes with this process's key. Without a key to be had (a signing key that cannot be read, a
        home folder where none can be made), None, warned about: what it was for is staged unsigned, and a seal refuses
        it (kept in the run's bundle under refused/, an attachment named); strict mode raises."""
        try:
            return sign(self.signer)
        except BadInputError as exc:
            if self._strict:
                raise
            if UNSIGNED_WARNED.first(exc.what):
                log.warning("tdprov: staged events and attachments are not signed: %s A seal refuses unsigned ones (each "
                            "kept or named in its run's bundle under refused/). Fix: %s (warned once per process)", exc.what,
                            exc.fix)
            return None

    def _after_seal(self, run_id: str, event: Mapping[str, Any]) -> tuple[bool, FoundSealed | None]:
        """Whether ``event`` of ``run_id`` comes after the run was sealed: it is then staged as arriving now
        (:meth:`_put_late`), so that the audit names it, whatever its own time (the Airflow provider ends a DAG
        run again, timed at its end, when the UI marks it failed after the seal). The runs this process sealed, and the
        non-terminal events of those whose START it staged, are answered from memory; others ask the store whether the
        run's statement is there (False when the store cannot tell now), as does every terminal event of a run not
        sealed here (another process may have sealed it). With it, what was read of a run taken for open and found
        sealed so (:meth:`_found_sealed`; else None)."""
        remembered = self._runs_seen.get(run_id)
        if remembered or (remembered is False and not is_terminal(event)):
            return bool(remembered), None
        store, sealed = self._asked_sealed(run_id)
        if store is None or not sealed:
            return False, None
        found = self._found_sealed(store, run_id) if remembered is False else None  # taken for open: see what came after
        self._seen(run_id, sealed=True)
        return True, found

    def _sealed_run(self, run_id: str, manifest: Manifest | None = None) -> SealedRun | None:
        """The sealed bundle of ``run_id``: its manifest (``manifest``, when read), the run its signed events are of and
        their digests (:func:`~prov_common.bundle.storage.sealed_run_events`); None when none is sealed or it cannot be
        read now. Read for the late events of a sealed run only."""
        store, _ = self._open_store()
        if store is None:
            return None
        try:
            manifest, sealed, held = sealed_run_events(store, run_id, manifest)
        except TdprovError:
            return None
        return None if manifest is None else (manifest, sealed, held)

    def _asked_sealed(self, run_id: str) -> tuple[Store | None, bool]:
        """The store and whether it holds the statement of ``run_id`` (one request); no store when it cannot tell now."""
        try:
            store, _ = self._open_store()
            return (store, store.exists(layout.bundle_key(run_id, layout.STATEMENT_FILE))) if store else (None, False)
        except StoreError:
            return None, False

    def _taken_for_open(self) -> list[str]:
        """The runs whose START this process staged and whose end it has not seen (nor found sealed): in the worker, and
        as the process ends (:meth:`_name_unchecked`)."""
        return [run_id for run_id, sealed in list(self._runs_seen.items()) if not sealed]

    def _name_late_events(self) -> None:
        """:meth:`name_late_events`, in the worker thread."""
        for run_id in self._taken_for_open():
            store, sealed = self._asked_sealed(run_id)
            if store is None:
                return
            if sealed:
                self._found_sealed(store, run_id).warn(run_id)
                self._seen(run_id, sealed=True)

    def _found_sealed(self, store: Store, run_id: str) -> FoundSealed:
        """The run ``run_id``, taken for open (its START staged here, so no store request per event), found sealed by
        another process: its manifest, read once, and each event this process staged for it that the sealed
        ``events.jsonl`` lacks (it came after the sealing, staged under its own time: the audit names it by its digest);
        a bundle that cannot be read now is named so. With it, the sealed run as read (:data:`SealedRun`), so that
        the seal meeting it reads its events no more: their digests are taken unparsed, a line not JSON only leaves
        the run unread."""
        events = self._pending.get(run_id, {})
        staged = {key: parts for key in events if (parts := layout.staged_event_parts(key)) is not None}
        manifest, held, sealed, why = None, None, None, "its manifest cannot be read"
        try:
            manifest = sealed_manifest(store, run_id)
            data = listed_file(store, run_id, manifest, layout.EVENTS_FILE) if manifest and staged else None
            held = None if data is None else line_digests(data)
            sealed = None if data is None or manifest is None else (manifest, events_run(run_id, data), held)
        except TdprovError as exc:
            why = exc.what.rstrip(".")
        if held is None and staged:
            return FoundSealed(manifest, [], f"whether the {counted(len(staged), 'event')} this process staged for it "
                                             f"before {noun_for(len(staged), 'is', 'are')} in its bundle cannot be told "
                                             f"now ({why}): 'tdprov audit' names those that are not")
        lacking = [f"its {event_type_of(events[key])} event timed {iso_z(parts.moment)} (staged as {key})"
                   for key, parts in staged.items() if parts.digest not in (held or ())]
        return FoundSealed(manifest, lacking, sealed=sealed)

    def _seen(self, run_id: str, *, sealed: bool) -> None:
        """Remember that this process staged the START of ``run_id`` (``sealed`` False) or sealed it or found it sealed."""
        keep_newest(self._runs_seen, run_id, sealed, MAX_PENDING_RUNS)

    def _prepared(self, event: dict[str, Any]) -> dict[str, Any]:
        """``event`` as the configuration defaults' ``prepare_event`` reads it (unchanged without one, or when
        it fails: logged, never raised into the producer)."""
        prepare = self.config.defaults.prepare_event if self.config.defaults is not None else None
        if prepare is None:
            return event
        try:
            return loads(canonical_bytes(prepare(event)))
        except Exception as exc:  # noqa: BLE001 - the event is staged as the producer sent it
            log.warning("tdprov: could not prepare an event of run %s (%s: %s); it is staged as sent",
                        run_id_or_none(event), type(exc).__name__, exc)
            return event

    def _refuse(self, raw: Mapping[str, Any], error: BadInputError) -> WriteResult | None:
        """Strict: raise ``error``. Otherwise record the refusal in the run's bundle (if the event names a
        run) and carry on; a refused terminal event still seals what the run staged."""
        if self._strict:
            raise error
        from prov_common.lineage.redact import TOO_DEEP, redact_value

        run_id = run_id_or_none(raw)
        log.warning("tdprov: refused an OpenLineage event%s: %s", f" of run {run_id}" if run_id else "", error)
        if run_id is None:
            return None
        if isinstance(error, EventTooLargeError):  # kept without its largest facets, which the reason names
            kept = error.kept
        else:
            kept = redact_value(raw) if _not_too_deep(raw) else {"event": TOO_DEEP}
        path, data = refusal(kept, error)
        spooled = self._put_attachment(run_id, path, data)
        if not is_terminal(raw):
            return None
        try:
            return self._seal_ended(run_id, None, behind=spooled)
        except BadInputError as exc:  # nothing valid staged yet: the refusal waits for the run's next event
            log.warning("tdprov: run %s cannot be sealed yet (%s)", run_id, exc)
            return None

    def _deliver_spooled(self, prefix: str) -> None:
        """Deliver the staged objects under ``prefix`` (a run's) that wait in the spool, before the run is sealed, however
        many older entries wait before them: a delivery flushes at most the outbox's ``flush_limit`` entries first, so
        the run's START could still wait there as its FAIL was sealed, and arrive after the bundle, in none. An entry a
        flush in another process is delivering is waited for, up to :data:`CLAIM_WAIT_SECONDS`. What the store cannot
        take now stays spooled (the seal goes on with what it can read)."""
        deadline = time.monotonic() + CLAIM_WAIT_SECONDS
        while self.outbox.holds(self.store.uri, under=prefix):
            if self.outbox.flush(self.store, under=prefix).left:
                return  # the store cannot take it now: sealed with what it holds, the rest named by the audit
            if time.monotonic() > deadline:
                log.warning("tdprov: staged events under %s are still being delivered by a flush in another process after "
                            "%.0f s; the run is sealed without them, and the audit names those that arrive later", prefix,
                            CLAIM_WAIT_SECONDS)
                return
            time.sleep(0.05)  # claimed by a flusher that is alive: it puts them, or gives them back

    def _staged(self, run_id: str, read: Mapping[str, bytes]
                ) -> tuple[dict[str, bytes], dict[str, UnreadableObjectError | BadInputError]]:
        """Staged objects of the run: those in the store (from any process; an event among ``read`` not read again)
        and those this process staged; and,
        apart, those that cannot be read (a staged event larger than :data:`layout.SMALL_OBJECT_LIMIT`, which no
        writer stages, something that is no object, such as a named pipe, or a key no writer makes, such as one with a
        ``..`` or hidden segment that S3 holds but the store refuses to read), each to be refused on its own
        without keeping the others out of the bundle (or memory without bound). When the store cannot be read, only
        those this process staged, if its START is among them; else :class:`StagedNotSealedError` (a closer of a run
        another process started, such as Dagster's failure sensor or a retry, would seal a record without what that
        process staged: the run waits, its events staged or spooled, for 'tdprov store seal')."""
        staged = dict(self._pending.get(run_id, {}))
        unreadable: dict[str, UnreadableObjectError | BadInputError] = {}
        try:
            for info in self.store.list_info(layout.staging_prefix(run_id), tags_for=_is_attachment):
                if info.key in staged:
                    continue
                if info.key in read and not _is_attachment(info.key):
                    staged[info.key] = read[info.key]
                    continue
                try:
                    staged[info.key] = (_staged_attachment(self.store, info.key, info.size, self.outbox.spool_dir)
                                        if _is_attachment(info.key)
                                        else self.store.get(info.key, layout.SMALL_OBJECT_LIMIT))
                except (UnreadableObjectError, BadInputError) as exc:  # BadInputError: a key no writer makes ('..')
                    unreadable[info.key] = exc
        except StoreError as exc:
            # strict mode spools nothing: its fix says so as it leaves the transport (_strict_words)
            if self._strict or isinstance(exc, ObjectConflictError):
                raise
            if not any(not _is_attachment(key) and unverified_event(bytes(data)).get("eventType") == "START"
                       for key, data in staged.items()):  # what this process staged: its own envelopes
                raise StagedNotSealedError(
                    f"run {run_id} is not sealed: its staged events cannot be read ({exc.what}), and this process did not "
                    "stage its START, so a record of what it staged alone would leave out what the run staged elsewhere. "
                    "What this process staged waits in the store or the spool.",
                    fix=f"once the store answers, run 'tdprov flush', then 'tdprov store seal {run_id}'") from exc
            log.warning("tdprov: cannot read the staged events of run %s (%s); sealing what this process saw", run_id, exc)
        return staged, unreadable

    @staticmethod
    def _add_staged_event(run_id: str, key: str, data: bytes, trust: TrustStore, events: list[tuple[str, dict[str, Any]]],
                          attachments: dict[str, bytes], *, accept_unsigned: bool = False,
                          store_id: str | None = None, own: bool = False) -> BadInputError | None:
        """A staged event joins ``events`` (with its key) if a key of ``trust`` signed it and it is valid and of this run;
        otherwise (unsigned, signed by a key not trusted, damaged) it is recorded as refused instead of blocking the
        run, with what it holds when that can be read, and the error is returned; ``accept_unsigned``: an unsigned event
        is taken as a signed one is (see :meth:`seal`). It passed the check of the writer
        that staged it, so it is read as a sealed bundle's event is (a time without offset, taken before event times
        had to be RFC 3339, is UTC), but for its standard facets, which are checked against their official schemas as
        a new event's are: a writer older than that check staged them unchecked (one that checked them costs a lookup
        per facet here, the answers being remembered by content). ``own``: this process staged it, and ``data`` is the
        object it holds in memory since :meth:`_emit` checked the event in full, so it is not checked again (its
        signature is; building the bundle checks it as a run event)."""
        from prov_common.lineage.validate import parse_run_event

        try:
            data = trusted_event(data, trust, key, accept_unsigned=accept_unsigned, sealing=run_id, store_id=store_id)
        except BadInputError as error:
            return _refused_as_sent(key, data, error, attachments)
        try:
            event = loads(data) if own else parse_run_event(data, sealed=True, facet_schemas=True)
            if run_id_of(event) != run_id:
                raise BadInputError(f"staged event of run {run_id_of(event)!r} is under run {run_id}.")
        except (BadInputError, RecursionError, ValueError, TypeError, OverflowError) as exc:  # whatever the staged bytes hold
            error = exc if isinstance(exc, BadInputError) else BadInputError(f"staged event cannot be read ({type(exc).__name__}: {exc}).")
            return _refused(key, error, attachments)
        events.append((key, event))
        return None

    @staticmethod
    def _attachment_refused(run_id: str, path: str, key: str, data: bytes, signature: bytes | None, trust: TrustStore, *,
                            accept_unsigned: bool = False, store_id: str | None = None) -> BadInputError | None:
        """Why the staged attachment ``key`` (``path``, holding ``data``, staged in another process) is refused: no
        signed record beside it (``signature``), one no key of ``trust`` signed, or one naming other bytes; None when it
        is taken (``accept_unsigned``: also when it is unsigned, see :meth:`seal`). A refused one is named in the bundle
        (key, size, digest, reason), with its bytes up to :data:`~prov_common.bundle.refusal.STAGED_BYTES_KEPT`; they
        stay where they were staged too. One at a path no writer can attach at (not under an attachment folder, ``..``)
        is refused whatever signs it: taken unsigned, it would stop the seal."""
        try:
            layout.check_attachment_path(path)
        except BadInputError as exc:
            return RefusedStagedError(f"staged attachment {key} is at a path no writer can attach at: {exc.what}",
                                      MISPLACED_ATTACHMENT_FIX, CAUSE_PLACE)
        try:
            check_attachment(run_id, path, key, data, signature, trust, accept_unsigned=accept_unsigned, store_id=store_id)
        except BadInputError as error:
            return error
        return None

    def _seal_ended(self, run_id: str, terminal: Mapping[str, Any] | None, *, behind: bool = False,
                    found: FoundSealed | None = None, read: Mapping[str, bytes] | None = None,
                    late: bool = False, sealed: SealedRun | None = None) -> WriteResult | None:
        """Seal a run whose terminal event was just staged; without a signing key, the error says that the
        events are staged and how to seal them later. With a store setting that cannot be opened, the run's events
        are kept in the outbox and nothing is sealed (the warning of :meth:`_hold` says how to seal it). ``found``: the
        run was found sealed by another process, and what came after the sealing named (:meth:`_found_sealed`);
        ``read``: see :meth:`seal`; ``late``: the run was sealed before ``terminal`` came (:meth:`_after_seal`), so
        its bundle stands and is not built again when it can be read (:meth:`_met_sealed`; ``sealed``: as read)."""
        store, why = self._open_store()
        if store is None:
            log.debug("tdprov: run %s is not sealed: %s; its events are kept in the outbox", run_id, why)
            return None
        try:
            self.signer  # noqa: B018 - loaded (or made) before anything is built
        except BadInputError as exc:
            raise StagedNotSealedError(
                f"run {run_id} is not sealed: {exc.what} Its events are staged unsigned (or spooled, to be staged by "
                "'tdprov flush'), and a seal refuses unsigned events.",
                fix=f"{exc.fix}; then run 'tdprov store seal --accept-unsigned {run_id}' once you know that this process "
                    "alone staged its events") from exc
        if late and not behind and terminal is not None and (met := self._met_sealed(run_id, terminal, found, sealed)):
            return met
        return self._seal(run_id, terminal, behind=behind, found=found, read=read)

    def _met_sealed(self, run_id: str, terminal: Mapping[str, Any], found: FoundSealed | None,
                    sealed: SealedRun | None = None) -> WriteResult | None:
        """The write of the run ``run_id``, sealed before its ``terminal`` event came, that meets its sealed bundle, told
        from the bundle's manifest and events and the names of the run's staged events (one listing), as
        :func:`~prov_common.bundle.storage.write_bundle` tells it of a bundle built again from every staged object: another
        run given the same run id (:class:`RunIdentity`), else the events staged after the sealing (unless ``found``
        named them), counted by the digests their keys name. None when the bundle or the staging cannot be read now
        (the run is then sealed as any other, and its write meets the bundle). ``sealed``: :meth:`_sealed_run`, when read."""
        prefix = layout.staging_prefix(run_id)
        self._deliver_spooled(prefix)
        sealed = sealed or self._sealed_run(run_id, found.manifest if found is not None else None)
        if sealed is None:
            return None
        manifest, identity, held = sealed
        try:
            keys = {*self.store.list(prefix), *self._pending.get(run_id, {})}
        except StoreError:
            return None
        after = {parts.digest for key in keys if (parts := layout.staged_event_parts(key)) is not None} - held
        self._pending.pop(run_id, None)
        self._seen(run_id, sealed=True)
        parent = parent_of(terminal)
        if identity.is_other(terminal):
            warn_another_run(run_id, manifest, (*(job_of(terminal) or ("", "")), parent and parent[0]), len(after),
                             dag_runs=dag_run_pair(identity.dag_run, airflow_dag_run_of(terminal)))
        elif found is None and after:
            warn_came_after(run_id, manifest, len(after))
        else:
            log.info("tdprov: run %s already has its bundle", run_id)
        return WriteResult(run_id, "already-sealed")

    def staging_trust(self, run_id: str) -> TrustStore:
        """The keys whose staged events this process seals: its own and the trusted keys of its settings
        (``TDPROV_TRUSTED_KEYS``, else its home's ``trusted_keys/``; retired keys count for nothing staged), read afresh
        for each seal. A trust setting that cannot be read stops the seal (its events stay staged) rather than refuse
        the events of every other writer."""
        own = self.signer.public  # made if need be: a seal signs with it
        try:
            return sealing_trust(self.settings, own)
        except BadInputError as exc:
            raise StagedNotSealedError(f"run {run_id} is not sealed: the keys it trusts cannot be read: {exc.what} Its "
                                       "events stay staged.", fix=f"{exc.fix}; then run "
                                       f"'tdprov store seal {run_id}'") from exc

    def _seal(self, run_id: str, terminal: Mapping[str, Any] | None, *, behind: bool = False,
              accept_unsigned: bool = False, read: Mapping[str, bytes] | None = None,
              found: FoundSealed | None = None) -> WriteResult:
        """Seal run ``run_id``. ``behind``: its terminal event was just spooled (the store cannot take it now), so the
        run's spooled events wait before it in the spool, to be delivered first, and are not tried again now.
        ``accept_unsigned``, ``read``: see :meth:`seal`; ``found``: see :meth:`_seal_ended`."""
        prefix = layout.staging_prefix(run_id)
        if not behind:
            self._deliver_spooled(prefix)
        events: list[Any] = [terminal] if terminal is not None else []  # never miss its own terminal event
        attachments: dict[str, bytes] = {}
        own = dict(self._pending.get(run_id, {}))  # staged by this process, held in its memory: its own bytes
        staged, unreadable = self._staged(run_id, read or {})
        refused = [_refused(key, BadInputError(f"staged object cannot be read: {exc.what}", fix=exc.fix), attachments,
                            cause=CAUSE_UNREADABLE if isinstance(exc, UnreadableObjectError) else CAUSE_PLACE)
                   for key, exc in unreadable.items()]  # not an UnreadableObjectError: a key no writer makes ('..')
        trust = self.staging_trust(run_id)
        # strict: refuses a store that is not write-once; what was staged for another store is refused
        store_id = writer_store_id(self.store, strict=self._strict, setting=self.config.where_store_is_set())
        signatures = {path: data for key, data in staged.items() if (path := _signature_path(key)) is not None}
        read: list[tuple[str, dict[str, Any]]] = []
        kept = 0  # bytes of refused attachments kept in their records
        for key, data in staged.items():  # every key is under the run's staging prefix
            if (path := layout.staged_attachment_path(key)) is not None:
                if key in own or not (error := self._attachment_refused(run_id, path, key, data, signatures.get(path), trust,
                                                                        accept_unsigned=accept_unsigned, store_id=store_id)):
                    attachments[path] = data
                    continue
                size = memoryview(data).nbytes
                keep = size <= STAGED_BYTES_KEPT and kept + size <= STAGED_BYTES_KEPT_PER_RUN
                kept += size if keep else 0
                refused.append(_refused(key, error, attachments, data if keep else None))
            elif key.endswith(".json") and (error := self._add_staged_event(run_id, key, data, trust, read, attachments,
                                                                                accept_unsigned=accept_unsigned,
                                                                                store_id=store_id, own=own.get(key) == data)):
                refused.append(error)  # an event refused (an attachment's signed record, .dsse, is read with it above)
        refused += _of_one_run(run_id, terminal, read, events, attachments)
        if not events and refused:
            raise BadInputError(
                f"every staged event of run {run_id} was refused ({len(refused)}; the first: {refused[0].what}), so there "
                f"is nothing to seal; they are kept in {self.store.uri.rstrip('/')}/{prefix}.",
                fix="read them there: a run is sealed from at least one valid event (emit the run again, or remove "
                    f"{prefix} once what it holds is kept elsewhere)")
        # staged events were checked by the writer that staged them: their times are read as a sealed bundle's
        bundle = build_bundle(events, attachments, self.signer, store_id=store_id, sealed=True)
        result = write_bundle(self.store, bundle, outbox=self.outbox, strict=self._strict,
                              found=None if found is None else FoundManifest(found.manifest))
        self._pending.pop(run_id, None)
        self._seen(run_id, sealed=True)
        if result.status == "already-sealed":  # this bundle is not the run's (write_bundle said why when it matters)
            log.info("tdprov: run %s already has its bundle", run_id)
        elif refused:  # kept in the bundle (refused/) and named by the audit; said now too, to whoever seals it
            log.warning("tdprov: run %s is sealed without %s %s refused (the first: %s); each is kept "
                        "in its bundle under refused/ with the reason. Fix: read them there ('tdprov show %s' lists them) "
                        "and fix what staged them", run_id, counted(len(refused), 'staged object'),
                        'that was' if len(refused) == 1 else 'that were', refused[0].what, run_id)
        return result


def _left_work(work: Callable[..., Any], *args: Any) -> Any:
    """``work(*args)`` as work left by a process's end or a transport's close (:meth:`ProvenanceTransport._strict`)."""
    token = _LEFT.set(True)
    try:
        return work(*args)
    finally:
        _LEFT.reset(token)


def _named(args: tuple[Any, ...], what: str) -> str:
    """What a bounded call with ``args`` writes, named for a person: the event's type and run, or ``what`` and
    the run of an attachment."""
    if what != "event":
        return f"the {what}" + (f" of run {args[0]}" if args else "")
    try:
        state, run_id = _state_and_run(args[0])
        return f"the {state or 'OTHER'} event of run {run_id}"
    except Exception:  # noqa: BLE001 - naming never fails the producer
        return "an event"


def _run_of(args: tuple[Any, ...]) -> str | None:
    """The run a bounded call with ``args`` writes for: an event's, or the run id an attachment is given with; None
    when it cannot be told."""
    try:
        return args[0] if isinstance(args[0], str) else str(_state_and_run(args[0])[1])
    except Exception:  # noqa: BLE001 - naming never fails the producer
        return None


def _state_and_run(event: Any) -> tuple[Any, Any]:
    """The type (an enum as its value) and run id of ``event``, a dict or an openlineage-python object, read as they
    are: each write is named as it is handed to the worker, where serialising the whole event (``event_dict``) did
    the serialisation ``emit`` does a second time. Raises when the event names no run id."""
    def field(value: Any, name: str) -> Any:
        return value.get(name) if isinstance(value, Mapping) else getattr(value, name, None)

    run_id = field(field(event, "run"), "runId")
    if run_id is None:
        raise ValueError("no run id")
    state = field(event, "eventType")
    return getattr(state, "value", state), run_id


def settle_first(feeder: Any) -> None:
    """Have ``feeder.settle(timeout, waited)`` (it returns what it left) called by :func:`settle_all` before the
    transports settle, within the same bound: what gives them work from a thread of its own (a Dagster recorder's
    deliveries, in an :class:`~prov_common.bundle.outlived.Worker`), whose work is waited for, then named, as a process
    ends. Kept as long as ``feeder`` lives."""
    _FEEDERS.add(feeder)


def settle_all(timeout: float, waited: float | None = None) -> list[str]:
    """:meth:`ProvenanceTransport.settle` for every transport of this process with writes left in the background,
    within ``timeout`` seconds in all (what each left is spooled and named; ``waited``: the process's whole bound,
    named in the warnings, default ``timeout``), after what feeds them work (:func:`settle_first`). Returns what was
    left."""
    deadline, waited, left = time.monotonic() + timeout, timeout if waited is None else waited, []
    for feeder in list(_FEEDERS):
        left += feeder.settle(max(deadline - time.monotonic(), 0.0), waited)
    for transport in list(_OUTLIVED):  # listed after the feeders settled: their last work may have left writes here
        left += transport.settle(max(deadline - time.monotonic(), 0.0), waited)
    return left


def _settle_at_exit() -> None:
    """As the interpreter exits (a Dagster step or run process, a script): the writes still under way get
    ``TDPROV_EXIT_TIMEOUT`` seconds (:func:`~prov_common.config.exit_timeout`, 60 by default), then what is left is
    spooled and named (:func:`settle_all`); the writing thread, held up by a store that does not answer, no longer
    keeps the process alive. The process's only exit wait unless one of a higher rank is given (the Airflow delivery's,
    in a process other than a task's that loads it, :mod:`~prov_common.exiting`)."""
    settle_all(exit_timeout())


exiting.ends_with(exiting.TRANSPORTS, _settle_at_exit)


def _another_runs(sealed: SealedRun | None, event: Mapping[str, Any]) -> tuple[str, str] | None:
    """(the sealed run, the run of ``event``), each as its job and parent run, when ``event``, which came after the
    run was ``sealed`` (:meth:`ProvenanceTransport._sealed_run`), is of another run given the same run id, as sealing
    tells it (:class:`RunIdentity`: another job than the sealed bundle's, or a parent run of another job); None when it
    is not, or the bundle could not be read."""
    if sealed is None or not sealed[1].is_other(event):
        return None
    return f"the run {sealed[1].named()}", RunIdentity.of(event, ()).named()
