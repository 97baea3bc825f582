"""Each Dagster step as one OpenLineage run: START on first touch (stamped when Dagster started the step), COMPLETE,
FAIL or ABORT at the end.

The IO manager reports what a step loaded and wrote; the recorder keeps that per (Dagster run, step)
and delivers the events straight to tdprov's ``ProvenanceTransport``, which stages them in the store and
seals a signed bundle per run on the terminal event. The standard openlineage-python configuration
(``openlineage.yml``, ``OPENLINEAGE_*`` variables, ``OPENLINEAGE_DISABLED``) never touches that delivery:
it only configures the other backends the same events are forwarded to (:mod:`prov_dagster.forwarding`).
What a step records is staged as it is recorded (START, then RUNNING events), and the OpenLineage run id of a step is derived from the Dagster run id and step key, so the
run-failure sensor or a retry in another process can close a step that crashed, with what it read and wrote.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
import concurrent.futures
from contextlib import contextmanager
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from dagster import InputContext, OutputContext

from prov_common.bounded import keep_newest
from prov_common.bundle import Attachments, layout
from prov_common.bundle.events import is_terminal, parent_of
from prov_common.bundle.outlived import Worker
from prov_common.bundle.staged import opened_event
from prov_common.bundle.transport import SPOOL_SECONDS, settle_first
from prov_common.config import Settings, exit_timeout
from prov_common.errors import BadInputError, StoreError, StoreUnavailableError, TdprovError
from prov_common.store.errors import (STORE_VARIABLE, ObjectNotFoundError, UnreadableObjectError, name_setting,
                                      strict_refix)
from prov_common.signing.keyfiles import KEY_VARIABLE
from prov_common.store.identity import writer_store_id
from prov_common.text import counted
from prov_common.w3cprov.events import TERMINAL
from prov_dagster import _compat
from prov_dagster.check_results import AssetCheck
from prov_dagster.config import ProvenanceConfig, configured_values
from prov_dagster.deps import NO_DEPS, DeclaredDeps, declared_deps
from prov_dagster.events import step_event
from prov_dagster.forwarding import FORWARD_WAIT, Forwarder, forwarding_client
from prov_dagster.model import BundleStatus, DatasetRecord, Staging, StepIdentity
from prov_dagster.naming import DEFAULT_NAMESPACE, direct_run_id, namespace_uri
from prov_dagster.step_times import step_started
from prov_dagster.transport import bundle_location, make_transport, store_uri

log = logging.getLogger(__name__)
CLOSING_TAG = "tdprov/closing"  # "left": a store did not answer as a step of the run was closed; a later tick closes it
LEFT, CLOSED = "left", "closed"
AFTER_RUN = "after-run"  # a retry could not close an earlier attempt: closed by a tick once the run ended
_UNRESOLVED: Any = object()
ENDED_KEPT = 4096  # ended step runs a recorder remembers (their inputs), so that a later output continues them
CLAIMS_KEPT = 4 * ENDED_KEPT  # OpenLineage run ids of steps this process remembers the recorder of
CLOSED_KEPT = ENDED_KEPT  # earlier attempts a recorder closed and has not yet seen sealed (see Recorder.wait)
# seconds the teardown's check of the runs taken for open gets at least, whatever the deliveries left of the exit bound:
# a check that asks the store nothing (or a store that answers at once) finishes, not 0 s (strict mode: an error)
LATE_CHECK_FLOOR = 0.5
READ_KEPT_BYTES = 64 << 20  # staged events read for seals a recorder keeps in all, newest runs first (Recorder._read_of)


@dataclass
class FailedDeliveries:
    """Deliveries that failed and were not yet reported: how many, and the first and last error (no more is kept, so a
    recorder whose deliveries all fail and that is never waited on does not grow)."""

    count: int = 0
    first: str = ""
    last: str = ""

    def add(self, exc: BaseException) -> None:
        self.last = str(exc) or type(exc).__name__
        self.first = self.first if self.count else self.last
        self.count += 1

    def report(self) -> str | None:
        """The warning that names them (None: none failed)."""
        if self.count <= 1:
            return f"tdprov: could not deliver an OpenLineage event: {self.first}" if self.count else None
        errors = self.first if self.first == self.last else f"the first: {self.first}; the last: {self.last}"
        return f"tdprov: could not deliver {self.count} OpenLineage events: {errors}"


FAILURE_SENSOR_SEALS = "provenance_failure_sensor seals it as the run fails"  # a run a step or a retry left staged
STORE_SENSOR_SEALS = "provenance_store_sensor seals it at its first tick once the store answers"  # one a sensor left
# a run a sensor's seal left for a cause not the store's (a bundle that cannot be built from a staged event): not tagged
NO_SENSOR_SEALS = "no sensor seals it: provenance_store_sensor closes only the runs a store's error left"


@dataclass(frozen=True)
class SealWords:
    """What seals a run its closer left staged and unsealed, in that closer's words (for :func:`seal_left`): after a
    store's error (a :class:`StoreError`), and after any other."""

    store_error: str = FAILURE_SENSOR_SEALS
    other_error: str = FAILURE_SENSOR_SEALS


STEP_SEALS = SealWords()  # a step's or a retry's: the failure sensor seals the run, whatever the error
# a run-status sensor's: it tags the run it could not close for provenance_store_sensor on a store's error only
SENSOR_SEALS = SealWords(STORE_SENSOR_SEALS, NO_SENSOR_SEALS)


def seal_left(ol_run_id: str, later: str = FAILURE_SENSOR_SEALS) -> str:
    """How run ``ol_run_id``, left staged and unsealed (a store that stopped taking it, or an event it will not take),
    is sealed from what the store took; ``later``: what seals it without the command, by the caller that left it
    (:data:`FAILURE_SENSOR_SEALS` for a step or a retry, :data:`STORE_SENSOR_SEALS` for a run-status sensor, which
    tags the run it could not close for ``provenance_store_sensor`` on a store's error, :data:`NO_SENSOR_SEALS` on
    another)."""
    return f"run 'tdprov store seal --force {ol_run_id}' ({later})"


def left_staged(exc: TdprovError, ol_run_id: str, words: SealWords = STEP_SEALS) -> TdprovError:
    """``exc``, raised for run ``ol_run_id`` after its START was staged (strict mode: an event or the seal failed),
    saying that the run is left staged and unsealed, its fix ending in :func:`seal_left` (``words``: its caller's, for
    a store's error or another), worded by the cause: once the store is back (a store's error), or to seal what the
    store took (an event it will not take, such as one too large: the store is fine). One whose fix names a seal
    already (a bundle folder that holds other bytes) is kept as it is."""
    if "tdprov store seal" in (exc.fix or ""):
        return exc
    exc.what = f"run {ol_run_id} is left staged in the store, not sealed: {exc.what}"  # refixed words both anew
    of_store = isinstance(exc, StoreError)
    seal = _seal_when(of_store, ol_run_id, words.store_error if of_store else words.other_error)
    return exc.refixed(f"{exc.fix}; {seal}" if exc.fix else seal)


def left_staged_note(exc: BaseException, ol_run_id: str, words: SealWords = STEP_SEALS) -> str:
    """The note added to ``exc``, an error that is not tdprov's (an ``OSError`` a backend let through, a fault of the
    code), raised for run ``ol_run_id`` after its START was staged (strict mode): its type is kept for the caller, and
    the note names the run left staged and the seal that ends it (:func:`left_staged`'s words, ``words`` alike). Such
    an error is never a :class:`StoreError`, the one a sensor tags its run for ``provenance_store_sensor`` on, so
    ``words.other_error`` says what seals it, an ``OSError``'s too."""
    of_store = isinstance(exc, OSError)
    report = "" if of_store else "report this error to tdprov's maintainers with its traceback; "
    return (f"tdprov: run {ol_run_id} is left staged in the store, not sealed. Fix: {report}"
            f"{_seal_when(of_store, ol_run_id, words.other_error)}")


@contextmanager
def naming_left_staged(ol_run_id: str, staged: bool, words: SealWords = STEP_SEALS) -> Iterator[None]:
    """Raise an error of the block, when run ``ol_run_id`` is ``staged`` (strict mode, after its START was staged),
    naming the run left staged and the seal that ends it: tdprov's in :func:`left_staged`'s words, any other with its
    type kept and :func:`left_staged_note` added (``words``: theirs). Not ``staged``: as it is."""
    try:
        yield
    except TdprovError as exc:
        if not staged:
            raise
        raise left_staged(exc, ol_run_id, words)
    except Exception as exc:  # not tdprov's: raised as it is (its type kept), the run it left staged noted
        if staged:
            exc.add_note(left_staged_note(exc, ol_run_id, words))
        raise


def _seal_when(of_store: bool, ol_run_id: str, later: str) -> str:
    """:func:`seal_left`, saying when: once the store is back (``of_store``: the store's error), else to seal what the
    store took of the run."""
    when = "once the store is back" if of_store else "to seal what the store took of the run"
    return f"{when}, {seal_left(ol_run_id, later)}"


@dataclass(frozen=True)
class Sending:
    """An event of a step run as built, with the attachments that go before it and how many of the run's inputs and
    outputs it carries once sent: one whose delivery raised (strict mode) is sent again as it is, the same bytes."""

    state: str
    event: Any
    attachments: tuple[tuple[str, bytes], ...]
    inputs: int
    outputs: int


@dataclass
class StepRun:
    """What one step loaded and wrote so far, and whether its OpenLineage run has started or ended."""

    recorder: "Recorder"
    identity: StepIdentity
    inputs: list[DatasetRecord] = field(default_factory=list)
    outputs: list[DatasetRecord] = field(default_factory=list)
    handled: set[str] = field(default_factory=set)
    started: bool = False
    ended: bool = False
    training: bool = False  # an asset of this step is marked as training (jobType TRAINING)
    staged_inputs: int = 0  # how many of ``inputs`` an emitted event carries
    staged_outputs: int = 0  # how many of ``outputs`` an emitted event carries (with their attachments)
    upstream: DeclaredDeps | None = None  # the upstream assets the step declares (None: not known yet)
    attached: Attachments = field(default_factory=Attachments)  # the run's attachments so far: one content a path
    started_at: datetime | None = None  # when Dagster started the step: START's time (None: when START is emitted)
    last_time: datetime | None = None  # the time of the latest event emitted: no later event is stamped before it
    checks: list[AssetCheck] = field(default_factory=list)  # the asset checks the step ran (known when its run ends)
    warned: set[str] = field(default_factory=set)  # what warn_once let through in this step
    refused: set[str] = field(default_factory=set)  # assets whose load the IO manager refused (see refused_load)
    start_error: str | None = None  # why the store did not take the START of a refused load (strict: raised with it)
    staged: bool = False  # an event of the run was emitted (strict mode: the store took it, delivered at once)
    # the START, and the end (COMPLETE, FAIL, ABORT), whose delivery raised (strict mode): sent again as first built, so
    # that the run has one of each whoever closes it later in this process (an end so held: not ended)
    unsent_start: Sending | None = None
    unsent_end: Sending | None = None
    end_staged: bool = False  # its end is staged and the seal of it failed (strict mode): a later close seals it

    @property
    def ol_run_id(self) -> str:
        return self.identity.ol_run_id

    def warn_once(self, warn: Callable[[str], None]) -> Callable[[str], None]:
        """``warn``, giving each warning once in this step: the source its assets declare and the masking of their
        failure samples read the same source records, once per output, and would say the same of them (a leading
        'tdprov: ' is not part of what is compared)."""
        def once(message: str) -> None:
            said = message.removeprefix("tdprov: ")
            if said not in self.warned:
                self.warned.add(said)
                warn(message)
        return once

    def input(self, *records: DatasetRecord) -> None:
        """Record dataset versions the step loaded (the exact ones, never "the latest"), staged in one event."""
        self.inputs.extend(records)
        self.stage()

    def refused_load(self, *names: str, read: Sequence[DatasetRecord] = ()) -> None:
        """The IO manager refused to load assets ``names`` (or failed to) after it read the versions ``read`` (the
        refused one's digest is what the data held): the step fails, and its run is started so that it is ended as
        Dagster records the step (FAIL with the refusal). Its inputs name what it read, never the version Dagster
        recorded when the step did not read it (the data held other bytes, or none could be read)."""
        self.refused.update(names)
        self.inputs.extend(read)
        self.start()

    def output(self, record: DatasetRecord, *, output_name: str = "result", expected: tuple[str, ...] | None = ()) -> str:
        """Record a written dataset version; after the last ``expected`` output, complete the run (``None``: the
        step can still work or fail after its outputs, and its run is ended as Dagster records the step).

        Returns the location of the bundle the run is (or, while the output is only staged, will be) sealed in.
        """
        self.outputs.append(record)
        self.handled.add(output_name)
        if expected is not None and set(expected) <= self.handled:
            return self.complete()
        self.stage()
        return self.recorder.bundle_location(self.ol_run_id)

    def no_output(self, *, output_name: str, expected: tuple[str, ...] | None = ()) -> None:
        """An output that carries nothing (``None``); after the last ``expected`` output, completes the run if it
        has started."""
        self.handled.add(output_name)
        if self.started and expected is not None and set(expected) <= self.handled:
            self.complete()

    def complete(self, *, at: datetime | None = None) -> str:
        """Emit COMPLETE, at ``at`` (when Dagster recorded the step's end; None: now); the transport seals the
        bundle. Returns the bundle location."""
        return self._end("COMPLETE", error=None, failed_output=None, at=at)

    def continued(self) -> "StepRun":
        """The next part of this ended run: a run of its own for what the step records after it ended
        (the IO manager's outputs after ``ProvenanceResource.record``), with the inputs the step loaded."""
        return StepRun(self.recorder, replace(self.identity, part=self.identity.part + 1), inputs=list(self.inputs),
                       training=self.training, started_at=datetime.now(UTC))

    def fail(self, *, error: BaseException | str, failed_output: DatasetRecord | None = None,
             at: datetime | None = None, words: SealWords = STEP_SEALS) -> str:
        """Emit FAIL (with the failed output, if any, and the error) at ``at`` (None: now); returns the bundle
        location. Strict mode raises an error after the run's START was staged through :func:`naming_left_staged`
        (``words``: the caller's, as :meth:`seal_staged` takes them)."""
        return self._end("FAIL", error=error, failed_output=failed_output, at=at, words=words)

    def abort(self, *, error: BaseException | str, at: datetime | None = None, words: SealWords = STEP_SEALS) -> str:
        """Emit ABORT (the step was stopped, e.g. its run canceled) with the reason, at ``at`` (None: now); returns
        the bundle location (``words``: as :meth:`fail` takes them)."""
        return self._end("ABORT", error=error, failed_output=None, at=at, words=words)

    def seal_staged(self, words: SealWords = STEP_SEALS) -> str:
        """End the run with the terminal event already staged for it (:meth:`Recorder.staged_end`: an earlier closing
        staged it and the store stopped answering before the seal): sealed from what is staged, so the run has one
        end, whenever it is closed again. Returns the bundle location. Strict mode raises a failed seal through
        :func:`left_staged`, ``words`` saying what seals the run then (the caller's); the run is then not taken for
        ended, so that a later close in this process seals it (never a next part of it, nor a second end)."""
        self.started = self.ended = True
        try:
            # strict mode (sealed at once): what the run staged, its end among it, is left
            with naming_left_staged(self.ol_run_id, True, words):
                self.recorder.seal_staged(self.ol_run_id)
        except Exception:
            self.ended, self.end_staged = False, True
            raise
        self.recorder.forget(self)
        return self.recorder.bundle_location(self.ol_run_id)

    def send_kept_end(self) -> None:
        """Send the end this run kept (strict mode: its delivery or its seal raised) again as first built, or seal it
        from what is staged, before the step records more: what it records then is the run's next part, never an event
        after the end, nor an output no event carries. Raises as the end's first try did when it fails again (the run
        stays open for a later close)."""
        if self.unsent_end is not None:
            self._end(self.unsent_end.state, error=None, failed_output=None)
        elif self.end_staged:
            self.seal_staged()

    def start(self) -> None:
        """Emit START once (with the inputs recorded so far); one whose delivery raised (strict mode) is sent again as
        first built (its time, its inputs) before the run's next event."""
        if not self.started:
            self.started = True
            self._emit("START")
        elif self.unsent_start is not None:
            self._send_again(self.unsent_start)

    def stage(self) -> None:
        """Emit what the step recorded since its last event: START the first time, then RUNNING with the
        inputs loaded since and every output so far. The events are staged in the store, so whoever ends
        the run from there (the failure sensor, a retry in another process) seals them, even when this
        process dies before the step ends."""
        self.start()
        if not self.ended and (len(self.inputs) > self.staged_inputs or len(self.outputs) > self.staged_outputs):
            self._emit("RUNNING")

    def declare(self, step_context: Any | None) -> None:
        """Note the upstream assets that the step running ``step_context`` declares (once; no I/O): those it did
        not load through the IO manager become inputs when its run ends; and, until its START, when Dagster started
        the step (one query of the instance): the time of its START."""
        if self.upstream is None and not self.ended:
            self.upstream = declared_deps(step_context)
        if not self.started and self.started_at is None and step_context is not None:
            self.started_at = step_started(step_context, self.identity)

    def _end(self, state: str, error: BaseException | str | None, failed_output: DatasetRecord | None,
             at: datetime | None = None, words: SealWords = STEP_SEALS) -> str:
        if not self.ended:
            # strict mode raises what it cannot read
            with naming_left_staged(self.ol_run_id, self._left_if_raised(), words):
                self._add_declared()
        self.start()
        if failed_output is not None and self.unsent_end is None and all(o is not failed_output for o in self.outputs):
            self.outputs.append(failed_output)  # once, and never after an end was built: that end is the run's
        if not self.ended:
            if self.unsent_end is not None or self.end_staged:  # an earlier end is the run's: sealed with it, never a second
                with naming_left_staged(self.ol_run_id, self._left_if_raised(), words):
                    staged_end = self.recorder.staged_end(self.identity)
                if staged_end:
                    return self.seal_staged(words)
            self.ended = True
            try:
                if self.unsent_end is not None:  # as first built: the same bytes, whatever this close's state and time
                    self._send_again(self.unsent_end, words)
                else:
                    self._emit(state, error=error, at=at, words=words)
            except Exception:
                # not ended, still staged: a later close in this process (a sensor, a retry) ends it, or names it
                self.ended = False
                raise
            self.recorder.forget(self)
        return self.recorder.bundle_location(self.ol_run_id)

    def _add_declared(self) -> None:
        """Add the declared upstream assets that the step did not load through the IO manager as inputs, in the
        versions Dagster says it used (:mod:`prov_dagster.deps`); the step context is let go."""
        upstream, self.upstream = self.upstream or NO_DEPS, NO_DEPS
        if not upstream.keys:
            return
        try:
            self.inputs.extend(upstream.unloaded(self.inputs, self.refused))
        except Exception as exc:  # noqa: BLE001 - recording never breaks the pipeline by accident
            if self.recorder.settings.strict:
                raise
            log.warning("tdprov: could not read which versions of its upstream assets step %r used from the Dagster "
                        "instance (%s); its run records only what it loaded through the IO manager", self.identity.step_key, exc)

    def _emit(self, state: str, error: BaseException | str | None = None, at: datetime | None = None,
              words: SealWords = STEP_SEALS) -> None:
        """Emit ``state``: a RUNNING event names only the inputs no earlier event named (START and the
        terminal event name them all); the attachments of each output go with the first event naming it that was sent.
        Stamped at ``at`` (START: ``started_at``; None: now), never before an event emitted earlier. Strict mode
        raises an error after an event the store took through :func:`naming_left_staged` (``words``); a START or an end
        that raised is kept, to be sent again as built (:meth:`_send`)."""
        inputs = self.inputs[self.staged_inputs:] if state == "RUNNING" else self.inputs
        attachments: list[tuple[str, bytes]] = []
        new = range(self.staged_outputs, len(self.outputs)) if state != "START" else range(0)
        # strict mode: after an event the store took
        with naming_left_staged(self.ol_run_id, self._left_if_raised(), words):
            for i in new:
                self.outputs[i] = self._attach(self.outputs[i], attachments)
            event = self.recorder.step_event(self, state, inputs=inputs, error=error, event_time=self._stamp(state, at))
            self._send(Sending(state, event, tuple(attachments), len(self.inputs), self.staged_outputs + len(new)))

    def _send_again(self, sending: Sending, words: SealWords = STEP_SEALS) -> None:
        """Send ``sending`` again, as it was built (strict mode: its first delivery raised)."""
        with naming_left_staged(self.ol_run_id, self._left_if_raised(), words):
            self._send(sending)

    def _send(self, sending: Sending) -> None:
        """Deliver ``sending``; a START or an end whose delivery raises is kept (:attr:`unsent_start`,
        :attr:`unsent_end`), so that the run's later events and closes send it again as built rather than one of another
        time, or none (the transport forgets what it could not write past its newest runs)."""
        first, end = sending.state == "START", sending.state in TERMINAL
        try:
            self.recorder.deliver_step(self.ol_run_id, sending.event, sending.attachments, terminal=end)
        except Exception:
            if first or end:
                setattr(self, "unsent_start" if first else "unsent_end", sending)
            raise
        if first or end:
            setattr(self, "unsent_start" if first else "unsent_end", None)
        # counted once sent: an event that failed (strict mode) leaves them to the next, such as its end tried again
        self.staged_inputs = max(self.staged_inputs, sending.inputs)
        self.staged_outputs = max(self.staged_outputs, sending.outputs)
        self.staged = True

    def _left_if_raised(self) -> bool:
        """Whether an error raised now leaves the run staged and unsealed: strict mode (delivered at once), after an
        event the store took."""
        return self.staged and self.recorder.settings.strict

    def _stamp(self, state: str, at: datetime | None) -> datetime:
        """The time of the next ``state`` event: ``at`` (None: now); a START's is ``started_at`` (None: now), no later
        than now; never before the time of the event emitted before it, so the run's events keep their order."""
        now = datetime.now(UTC)
        when = min(self.started_at, now) if state == "START" and self.started_at is not None else at or now
        if self.last_time is not None and when < self.last_time:
            when = self.last_time
        self.last_time = when
        return when

    def _attach(self, record: DatasetRecord, attachments: list[tuple[str, bytes]]) -> DatasetRecord:
        """``record`` with its failure samples and row set added to the run's (and to ``attachments``); one refused
        (another content of this run holds its path) is left out of the record too, so no facet names other bytes."""
        quality, path = record.quality, record.samples_file
        if quality is not None and path is not None:
            data = quality.samples_parquet()
            if self._added(path, data, record):
                attachments.append((path, data))
            else:
                record = replace(record, quality=replace(quality, failure_sample=quality.failure_sample.iloc[0:0]))
        if record.row_set is not None:
            if self._added(record.row_set.path, record.row_set.data, record):
                attachments.append((record.row_set.path, record.row_set.data))
            else:
                record = replace(record, row_set=None)
        return record

    def _added(self, path: str, data: bytes, record: DatasetRecord) -> bool:
        """Whether ``data`` is the run's attachment ``path`` now (refused: a warning, raised in strict mode)."""
        return self.attached.add_or_warn(path, data, *record.dataset, log.warning, strict=self.recorder.settings.strict)


class Recorder:
    """Emits the OpenLineage events of steps to one store, in one namespace."""

    def __init__(self, settings: Settings, namespace: str, store_source: str = STORE_VARIABLE,
                 key_source: str = KEY_VARIABLE) -> None:
        """``store_source``, ``key_source``: the settings ``settings.store`` and ``settings.signing_key`` come from,
        named when the store or the key cannot be used."""
        self.settings = settings
        self.namespace = namespace
        self.store_source = store_source
        self.key_source = key_source
        self._steps: dict[StepIdentity, StepRun] = {}
        self._ended: OrderedDict[StepIdentity, StepRun] = OrderedDict()  # the newest ended runs, by step
        self._lock = threading.Lock()
        self._transport: Any = None
        self._forwarder: Any = _UNRESOLVED
        # a daemon thread: the process's exit waits for its deliveries a bound (settle), a hung store's no longer forever
        self._worker = Worker("tdprov-recorder")
        self._pid = os.getpid()  # the process whose exit waits for these deliveries (settle)
        settle_first(self)
        # deliveries not yet done, each with its work and arguments (named for a person by settle, when left)
        self._pending: dict[Future[None], tuple[Callable[..., None], tuple[Any, ...]]] = {}
        self._failed = FailedDeliveries()  # deliveries done and failed, until wait reports them
        # runs of earlier attempts a retry closed here and not yet seen sealed, each with what tags its Dagster run when
        # the run was not sealed (asked by wait; bounded: see _closed)
        self._closed_earlier: OrderedDict[str, Callable[[], None]] = OrderedDict()
        self._unsealed: OrderedDict[str, None] = OrderedDict()  # runs whose terminal event the transport did not seal
        self._read: OrderedDict[str, dict[str, bytes]] = OrderedDict()  # run -> staged events staged_end read, for the seal
        self._read_bytes = 0  # the bytes of all in _read (added by _keep_read, taken off by _drop_read)
        self._problem: Any = _UNRESOLVED

    def step_for(self, context: OutputContext | InputContext) -> StepRun:
        """The step run of the step executing ``context`` (one outside a run for direct calls)."""
        step_context = _compat.step_context_of(context)
        identity = (_compat.step_identity(step_context) if step_context is not None
                    else StepIdentity(direct_run_id(), None, context.name or "direct"))
        run = self.recording(identity, elsewhere=None if step_context is None else partial(step_namespaces, step_context),
                             left=None if step_context is None else partial(leave_run, step_context))
        run.declare(step_context)
        return run

    def step(self, identity: StepIdentity, elsewhere: Callable[[], Iterable[str]] | None = None,
             left: Callable[[], None] | None = None) -> StepRun:
        """The open run of a step attempt; after its run ended, a run of the attempt's next part (events
        for an ended run would come after its bundle was sealed, and be lost); a run of this recorder's namespace.
        ``elsewhere`` gives the other namespaces the step may have recorded in (:func:`step_namespaces`), asked when a
        retry closes its earlier attempts; ``left`` is called when one of them cannot be closed now (an outage), to
        have it closed later (:func:`leave_run`)."""
        identity = replace(identity, namespace=self.namespace)
        with self._lock:
            run = self._steps.get(identity)
            if run is None:
                ended = self._ended.get(identity)
                run = self._steps[identity] = StepRun(self, identity) if ended is None else ended.continued()
                run.identity = _claimed(run.identity, self)
                fresh = ended is None
            else:
                fresh = False
        if fresh and identity.attempt:
            self._close_earlier_attempts(identity, elsewhere or (lambda: ()), left or (lambda: None))
        return run

    def recording(self, identity: StepIdentity, elsewhere: Callable[[], Iterable[str]] | None = None,
                  left: Callable[[], None] | None = None) -> StepRun:
        """:meth:`step`, for the step to record more in (not to close it): a run that kept its end (strict mode: its
        delivery or its seal raised, and the step went on) sends it again first (:meth:`StepRun.send_kept_end`), so
        what the step records now is the attempt's next part; an end that fails again raises, nothing recorded."""
        run = self.step(identity, elsewhere, left)
        if run.unsent_end is None and not run.end_staged:
            return run
        run.send_kept_end()
        return self.step(identity, elsewhere, left)

    def _close_earlier_attempts(self, identity: StepIdentity, elsewhere: Callable[[], Iterable[str]],
                                left: Callable[[], None]) -> None:
        """A retry means the earlier attempts failed: seal each one that was not closed, with what it staged, in this
        namespace and in each other one where it recorded (``elsewhere``'s, those of this process's recorders of the
        store: a retry that records in one namespace only left the attempt's run of another staged, in no bundle, when
        its step then succeeded); one that failed before it loaded or wrote anything through tdprov, in any namespace,
        is a START and a FAIL of its own in this one (a run per attempt), made up once in the process. One whose state
        the store cannot tell now (an outage) is left as it is, with a warning, and ``left`` is called: recording never
        fails the retry."""
        for attempt in range(identity.attempt):
            earlier = replace(identity, attempt=attempt, part=0)
            error = retried_error(identity.step_key, attempt, identity.attempt)
            try:
                recorded_elsewhere = self._close_elsewhere(earlier, elsewhere, error, left)
                if self._close(earlier, error):
                    self._closed(earlier.ol_run_id, left)
                    continue
                if recorded_elsewhere or not _make_up(earlier):
                    continue  # the attempt is a run of the namespaces it recorded in only
            except TdprovError as exc:
                if self.settings.strict:  # the store's error of this recorder's own reads too: strict mode spools nothing
                    raise strict_refix(exc)
                log.warning("tdprov: cannot tell whether run %s (attempt %d of step %s, which Dagster retried) was "
                            "sealed: %s. It is left as it is, and the Dagster run is tagged %s=%s: once the run ended, "
                            "provenance_store_sensor closes it at its first tick where the store answers; if it stays "
                            "unsealed, 'tdprov audit' names it. Fix: once the store is reachable, 'tdprov store seal "
                            "--force %s' seals it", earlier.ol_run_id, attempt, identity.step_key, exc, CLOSING_TAG, AFTER_RUN,
                            earlier.ol_run_id)
                left()
                continue
            StepRun(self, earlier).fail(error=error)

    def _closed(self, ol_run_id: str, left: Callable[[], None]) -> None:
        """Note that this retry closed the earlier attempt's run ``ol_run_id``: :meth:`wait` calls ``left`` if it was not
        sealed. One seen sealed is let go as its seal is noted, and at most :data:`CLOSED_KEPT` are kept (each ``left``
        holds its step's context): past the bound the oldest is let go once what was emitted so far is delivered, its
        ``left`` called then if it was not sealed (in the delivering thread, a delivery ``wait`` waits for)."""
        with self._lock:
            dropped = keep_newest(self._closed_earlier, ol_run_id, left, CLOSED_KEPT)
        if dropped:
            self._in_order(self._leave_unsealed, dropped)

    def _leave_unsealed(self, closed: Iterable[tuple[str, Callable[[], None]]]) -> None:
        """Call the ``left`` of each closed run that was not sealed (ask once it was delivered)."""
        for ol_run_id, left in closed:
            if self.unsealed(ol_run_id):
                left()

    def _close(self, identity: StepIdentity, error: str) -> bool:
        """Whether step attempt ``identity``, which Dagster retried, recorded in this namespace; its run is sealed with a
        FAIL (``error``) now if it was not: open in this process, or staged (or spooled) in the store. One whose end an
        earlier closing staged and could not seal (the store stopped answering) is sealed with that end, not given a
        second one (:meth:`StepRun.seal_staged`)."""
        with self._lock:
            run = self._steps.get(identity)
            ended = identity in self._ended
        if run is None:
            if ended or self.sealed(identity):
                return True
            staging = self.staging(identity)
            if staging is None:  # its START staged (or spooled), or none
                return False
            run = StepRun(self, identity, started=True, staged=True)  # its START staged: a strict end that fails names it
            if self.staged_end(identity, staging):
                run.seal_staged()
                return True
        if not run.ended:
            run.fail(error=error)
        return True

    def sealed(self, identity: StepIdentity) -> bool:
        """Whether the run of step attempt ``identity`` is sealed: in the store, or by a process of this machine that
        spooled its bundle (the store did not take it then). Such a bundle is the run's record, delivered now when the
        store takes it and else left to the next delivery or 'tdprov flush': sealing the run again would give it a
        second record (another FAIL, or a bundle that conflicts with it when it is delivered)."""
        transport, prefix = self.transport(), layout.bundle_prefix(identity.ol_run_id)
        # the spool first: an entry leaves it (its claim removed) only once the store holds its objects
        if transport.outbox.holds(transport.store.uri, under=prefix):
            transport.outbox.flush(transport.store, under=prefix)  # what the store cannot take waits, as any entry
            return True
        return transport.store.exists(layout.bundle_key(identity.ol_run_id, layout.STATEMENT_FILE))

    def _close_elsewhere(self, identity: StepIdentity, elsewhere: Callable[[], Iterable[str]], error: str,
                         left: Callable[[], None]) -> bool:
        """Whether step attempt ``identity``, which Dagster retried, recorded in another namespace than this recorder's
        (one of ``elsewhere`` or of this process's recorders of the store); each such run is sealed with a FAIL
        (``error``) now if it was not (:meth:`_close`), and delivered before the retry goes on; ``left`` is called when
        one was not sealed (the store stopped answering as it was)."""
        with _recorders_lock:
            mine = {namespace for settings, namespace in _recorders if settings == self.settings}
        recorded = False
        for namespace in sorted({*mine, *map(namespace_uri, elsewhere())} - {self.namespace}):
            closer = recorder_for_namespace(self.settings, namespace)
            other = replace(identity, namespace=namespace)
            if closer._close(other, error):
                recorded = True
                closer.wait()
                if closer.unsealed(other.ol_run_id):
                    left()
        return recorded

    def staging(self, identity: StepIdentity) -> Staging | None:
        """What is staged for the run of step attempt ``identity`` (its START first), as one listing of its staging in
        the store found it, for :meth:`staged_job` and :meth:`staged_end` to read without listing it again; or what
        waits in this machine's spool to be staged there (the store was down when it was delivered; the next delivery
        stages it before its own events). None when nothing is staged."""
        transport, prefix = self.transport(), layout.staging_prefix(identity.ol_run_id)
        # the spool first: an entry leaves it (its claim removed) only once the store holds its objects
        if transport.outbox.holds(transport.store.uri, under=prefix):
            return Staging(None)  # listed once what waits is delivered
        keys = tuple(transport.store.list(prefix))
        return Staging(keys) if keys else None

    def staged_job(self, identity: StepIdentity, staging: Staging | None = None) -> str | None:
        """The job name that the first readable event staged in the store for the run of step attempt ``identity``, and
        signed by a key the seal trusts, names (the job the step ran as), or None when none does. ``staging``: what
        :meth:`staging` just found (its staged events are then not listed again)."""
        return self._first_staged(identity, staging, lambda event: event.get("job", {}).get("name")
                                  if isinstance(event.get("job"), dict) else None)

    def staged_parent_namespace(self, identity: StepIdentity, staging: Staging | None = None) -> str | None:
        """The job namespace of the parent run (the Dagster run) that the first readable event staged for the run of
        step attempt ``identity``, and signed by a key the seal trusts, names (as the step's process named its run), or
        None when none does. ``staging``: as for :meth:`staged_job`."""
        return self._first_staged(identity, staging, lambda event: (parent[1] if (parent := parent_of(event)) else None))

    def _first_staged(self, identity: StepIdentity, staging: Staging | None,
                      pick: Callable[[dict[str, Any]], Any]) -> str | None:
        """The first non-empty text ``pick`` takes from the readable events staged for ``identity``'s run and signed by
        a key the seal trusts (None: none)."""
        read = self._read_of(identity.ol_run_id)  # kept for its seal, as staged_end's
        for event in self._staged_events(identity, read, staging.keys if staging is not None else None):
            found = pick(event)
            if isinstance(found, str) and found:
                return found
        return None

    def staged_end(self, identity: StepIdentity, staging: Staging | None = None) -> bool:
        """Whether a terminal event (COMPLETE, FAIL, ABORT) signed by a key the seal trusts is staged for the run of step
        attempt ``identity``: one that was ended and could not be sealed then (the store stopped answering). What the
        run's events wait for in this machine's spool is delivered first (the seal would deliver it), and they are
        listed then; a store that cannot take it raises. ``staging``: as for :meth:`staged_job`."""
        transport, prefix = self.transport(), layout.staging_prefix(identity.ol_run_id)
        keys = staging.keys if staging is not None else None
        if transport.outbox.holds(transport.store.uri, under=prefix):
            keys, left = None, transport.outbox.flush(transport.store, under=prefix)
            if left.left:
                raise StoreUnavailableError(
                    f"events of run {identity.ol_run_id} wait in the spool {transport.outbox.spool_dir} and the store "
                    f"does not take them now ({'; '.join(left.errors) or 'unavailable'}).",
                    fix="check that the store is reachable; 'tdprov flush' delivers them")
        read = self._read_of(identity.ol_run_id)  # the seal that follows (seal_staged, or the end emitted) reads them no more
        return any(is_terminal(event) for event in self._staged_events(identity, read, keys))

    def _read_of(self, ol_run_id: str) -> dict[str, bytes]:
        """The staged events of run ``ol_run_id`` read so far (key -> bytes as stored, :meth:`staged_job` and
        :meth:`staged_end`), which its seal takes rather than read them again (it checks them as any staged event)."""
        with self._lock:
            if (read := self._read.get(ol_run_id)) is None:
                read = self._read[ol_run_id] = {}
                while len(self._read) > ENDED_KEPT:
                    self._drop_read(next(iter(self._read)))
            return read

    def _keep_read(self, ol_run_id: str, read: dict[str, bytes], key: str, data: bytes) -> None:
        """Add ``key``'s ``data`` to ``read`` (run ``ol_run_id``'s, :meth:`_read_of`), counted while the run's reads are
        kept, and let go of the oldest other runs' reads while all kept pass :data:`READ_KEPT_BYTES` (their seals read
        them again)."""
        with self._lock:
            if key in read:
                return
            read[key] = data
            if self._read.get(ol_run_id) is not read:  # taken for its seal, or let go, meanwhile
                return
            self._read_bytes += len(data)
            while self._read_bytes > READ_KEPT_BYTES:
                oldest = next((run for run, kept in self._read.items() if kept is not read), None)
                if oldest is None:
                    return
                self._drop_read(oldest)

    def _taken_read(self, ol_run_id: str) -> dict[str, bytes] | None:
        """:meth:`_read_of`, let go: for the seal of the run (None: none was read)."""
        with self._lock:
            return self._drop_read(ol_run_id)

    def _drop_read(self, ol_run_id: str) -> dict[str, bytes] | None:
        """Let go of run ``ol_run_id``'s reads, no longer counted (the lock held); returns them (None: none kept)."""
        read = self._read.pop(ol_run_id, None)
        if read is not None:
            self._read_bytes -= sum(map(len, read.values()))
        return read

    def _staged_events(self, identity: StepIdentity, read: dict[str, bytes] | None = None,
                       keys: Iterable[str] | None = None) -> Iterable[dict[str, Any]]:
        """The readable events staged in the store for the run of step attempt ``identity`` and signed by a key the
        seal trusts (attachments, objects that are no JSON object and events no trusted key signed left out); a store
        that does not answer raises. ``read``: each object read is added to it (key -> bytes as stored), and one in it
        is not read again (a staged key's bytes never change). ``keys``: the run's staged keys as just listed (None:
        listed now)."""
        transport = self.transport()
        store, trust = transport.store, transport.staging_trust(identity.ol_run_id)
        store_id = writer_store_id(store)
        for key in keys if keys is not None else store.list(layout.staging_prefix(identity.ol_run_id)):
            parts = layout.staged_parts(key)
            if parts is None or "/" in parts[1]:  # an attachment, not an event
                continue
            try:
                data = read.get(key) if read is not None else None
                if data is None:
                    data = store.get(key, layout.SMALL_OBJECT_LIMIT)
                    if read is not None:
                        self._keep_read(identity.ol_run_id, read, key, data)
                event = json.loads(opened_event(data, trust, key, store_id))
            except (ObjectNotFoundError, UnreadableObjectError, BadInputError, ValueError):  # sealed since, or not ours
                continue
            if isinstance(event, dict):
                yield event

    def open_run(self, identity: StepIdentity) -> StepRun | None:
        """The run of step attempt ``identity`` in this recorder's namespace when it started in this process and has not
        ended (as :meth:`open_steps`; it may hold an end it could not deliver, :attr:`StepRun.unsent_end`), else None."""
        with self._lock:
            run = self._steps.get(replace(identity, namespace=self.namespace))
        return run if run is not None and run.started and not run.ended else None

    def open_steps(self, dagster_run_id: str) -> list[StepRun]:
        """The step runs of Dagster run ``dagster_run_id`` that started in this process and have not ended."""
        with self._lock:
            return [r for r in self._steps.values() if r.identity.dagster_run_id == dagster_run_id and r.started and not r.ended]

    def step_keys(self, dagster_run_id: str) -> set[str]:
        """The keys of the steps of Dagster run ``dagster_run_id`` that this process recorded (open or ended)."""
        with self._lock:
            return {i.step_key for i in (*self._steps, *self._ended) if i.dagster_run_id == dagster_run_id}

    def wrote(self, dagster_run_id: str, assets: Collection[str]) -> bool:
        """Whether a step run of Dagster run ``dagster_run_id`` this recorder recorded (open or ended) wrote a version
        of one of ``assets`` (asset names)."""
        return any(o.namespace is None and o.name in assets for _, o in self.written(dagster_run_id))

    def written(self, dagster_run_id: str) -> list[tuple[str, DatasetRecord]]:
        """(step key, version) of each version the step runs of Dagster run ``dagster_run_id`` this recorder recorded
        (open or ended) wrote."""
        with self._lock:
            runs = [r for r in (*self._steps.values(), *self._ended.values()) if r.identity.dagster_run_id == dagster_run_id]
        return [(r.identity.step_key, o) for r in runs for o in list(r.outputs)]

    def forget(self, run: StepRun) -> None:
        """``run`` ended: the step's next touch starts its next part (remembered for the newest
        :data:`ENDED_KEPT` steps of this process)."""
        step = run.identity.step
        with self._lock:
            self._steps.pop(step, None)
            keep_newest(self._ended, step, run, ENDED_KEPT)

    def step_event(self, run: StepRun, state: str, *, inputs: list[DatasetRecord], error: BaseException | str | None = None,
                   event_time: datetime | None = None) -> Any:
        """The ``state`` event of ``run`` in this recorder's namespace, built now (``inputs`` and what the step has
        written so far; at ``event_time``, None: now)."""
        return step_event(run, state, namespace=self.namespace, inputs=inputs, error=error, event_time=event_time)

    def deliver_step(self, ol_run_id: str, event: Any, attachments: Sequence[tuple[str, bytes]], *, terminal: bool) -> None:
        """Deliver ``event`` of run ``ol_run_id`` (``terminal``: its end, which seals the bundle) in order, in the
        background, after ``attachments`` (bundle path, bytes: failure samples and row sets of its outputs).

        Delivery (staging, sealing, signing, writing the bundle) overlaps the rest of the step; ``wait``
        blocks until all is delivered. In strict mode delivery is synchronous so that its errors fail the step.
        """
        self._in_order(self._deliver, ol_run_id, attachments, event, terminal)

    def _deliver(self, ol_run_id: str, attachments: Sequence[tuple[str, bytes]], event: Any, terminal: bool = False) -> None:
        try:
            for name, data in attachments:  # attachments first: the terminal event seals the bundle
                self.transport().attach(ol_run_id, name, data)
            # as built: no openlineage-python client config (filters, facets, disabling); a terminal event's seal takes
            # the staged events a closer read of the run (staged_end), checking them as it checks any staged event
            transport = self.transport()
            sealed = transport.emit(event, read=self._taken_read(ol_run_id)) if terminal else transport.emit(event)
            if terminal:
                self._note_sealed(ol_run_id, sealed)
        finally:  # the other backends get the event even when the store refused it (strict mode)
            forwarder = self.forwarder()
            if forwarder is not None:
                forwarder.submit(event)

    def seal_staged(self, ol_run_id: str) -> None:
        """Seal run ``ol_run_id`` from what is staged (its terminal event among it), in order after the events emitted
        so far; a store that does not answer leaves it unsealed (:meth:`unsealed`) with a warning (strict: raised)."""
        self._in_order(self._seal_staged, ol_run_id)

    def _in_order(self, work: Callable[..., None], *args: Any) -> None:
        """Do ``work(*args)`` after what was emitted so far: now in strict mode (its errors fail the step), else in the
        background (:meth:`_submit`)."""
        if self.settings.strict:
            work(*args)
        else:
            self._submit(work, *args)

    def _submit(self, work: Callable[..., None], *args: Any) -> None:
        """Deliver ``work(*args)`` in order in the background, kept for :meth:`wait` until it is done (a failed one is
        counted, its error kept if it is the first or the last, until ``wait`` reports them): a recorder never waited on
        keeps no record of what it delivered."""
        self._here()
        with self._lock:
            future = self._worker.submit(work, *args)
            self._pending[future] = (work, args)
        future.add_done_callback(self._delivered)  # outside the lock: a future already done calls back at once

    def _delivered(self, future: Future[None]) -> None:
        with self._lock:
            if future not in self._pending:
                return  # wait took it, and reports it if it failed
            del self._pending[future]
            if not future.cancelled() and (exc := future.exception()) is not None:
                self._failed.add(exc)

    def _seal_staged(self, ol_run_id: str) -> None:
        try:  # what staged_end read of it: not read again
            sealed = self.transport().seal(ol_run_id, read=self._taken_read(ol_run_id))
        except TdprovError as exc:
            self.named(exc)
            if self.settings.strict:
                raise
            log.warning("tdprov: run %s is not sealed: %s Fix: %s", ol_run_id, exc.what,
                        exc.fix or f"once the store answers, run 'tdprov store seal {ol_run_id}'")
            sealed = None
        self._note_sealed(ol_run_id, sealed)

    def _note_sealed(self, ol_run_id: str, sealed: Any) -> None:
        """Note whether the run ``ol_run_id`` ended here was sealed (or spooled whole): None, it was not."""
        with self._lock:
            if sealed is None:  # not sealed, nor spooled whole (the transport said why), or not yet (in the background)
                keep_newest(self._unsealed, ol_run_id, None, ENDED_KEPT)
            else:
                self._unsealed.pop(ol_run_id, None)
                self._closed_earlier.pop(ol_run_id, None)  # sealed: nothing to tag

    def after_delivery(self, action: Callable[[], None]) -> None:
        """Run ``action`` once every event emitted so far is delivered, in the delivering thread (it
        must be quick: it holds up later deliveries); ``wait`` does not wait for it."""
        if self.settings.strict:
            action()
        else:
            self._here()
            self._worker.submit(action)

    def wait(self) -> None:
        """Block until every delivery this recorder was given so far has returned (called when the IO manager is torn
        down). Each returns once the transport wrote its objects or spooled them, or after the transport's bound
        (``timeout``, 10 s): a write that takes longer goes on in the transport's thread in the background, not waited
        for here, and the process waits for it as it ends (at most ``TDPROV_EXIT_TIMEOUT``, then spooled and named:
        Dagster's step and run processes end so), so it is written, or spooled, before the process is gone; an earlier
        attempt's run a retry closed here and that was not sealed (the store stopped answering as it was) has its Dagster
        run tagged, for ``provenance_store_sensor`` to close it once the run ended (:meth:`step`'s ``left``); what was
        staged here for a run another process sealed meanwhile (a sensor, a retry) is named (the transport's
        ``name_late_events``: no store request when every run started here ended here), within what is left of the exit
        bound (``TDPROV_EXIT_TIMEOUT``, counted from the call; half a second at least, ``LATE_CHECK_FLOOR``) when it is
        shorter than the transport's: a store that
        hangs on that check holds the teardown no longer than the process's exit would wait. Strict mode raises that
        check's error past its bound only after the tagging and the wait for the other backends, which it would have
        skipped."""
        deadline = time.monotonic() + exit_timeout()
        self._here()
        with self._lock:  # those that failed before come first: one worker delivers them in order
            pending, self._pending, failed, self._failed = list(self._pending), {}, self._failed, FailedDeliveries()
            closed, self._closed_earlier = list(self._closed_earlier.items()), OrderedDict()
        for future in pending:
            try:
                future.result()
            except Exception as exc:  # noqa: BLE001 - recording never breaks the pipeline by accident
                failed.add(exc)
        if (report := failed.report()) is not None:
            log.warning("%s", report)
        try:
            if self._transport is not None:  # a run whose START was staged here and that another process sealed since
                self._transport.name_late_events(max(deadline - time.monotonic(), LATE_CHECK_FLOOR))
        finally:  # strict: the check's error past its bound is raised once the runs are tagged and the backends drained
            self._leave_unsealed(closed)
            self._drain_forwarder()

    def _here(self) -> None:
        """In a process forked from the one that made this recorder (a worker of a pool a step started), which has
        neither its parent's thread nor a lock it can trust: take a thread and lock of its own and none of the parent's
        deliveries (the parent does and waits for them), so what the child delivers is done, waited for and named."""
        if self._pid != os.getpid():
            self._pid, self._lock, self._worker = os.getpid(), threading.Lock(), Worker("tdprov-recorder")
            self._pending, self._failed = {}, FailedDeliveries()

    def _drain_forwarder(self) -> None:
        """Wait :data:`FORWARD_WAIT` at most for the events queued for the other backends; say how many are left."""
        forwarder = self._forwarder if isinstance(self._forwarder, Forwarder) else None
        if forwarder is not None and (left := forwarder.drain(FORWARD_WAIT)):
            log.warning("tdprov: %s not yet forwarded to %s after %.0f s (the backend does not answer); "
                        "they are sent in the background while this process lives, and the tdprov store has them all",
                        counted(left, 'OpenLineage event'), forwarder.client.transport.kind, FORWARD_WAIT)

    def settle(self, timeout: float, waited: float | None = None) -> list[str]:
        """As the process ends (:func:`~prov_common.bundle.transport.settle_all`, before the transports these deliveries
        give their writes to): wait at most ``timeout`` seconds for the deliveries under way. Those still under way then
        (a store that does not answer holds them up) are named in one warning, with the fix; the deliveries of events
        queued behind them, not begun, are done again in a thread of their own after the transport :meth:`ends
        <prov_common.bundle.transport.ProvenanceTransport.end>`, so that its outbox spools them (``tdprov flush``
        delivers them), as the transport does with its own writes, and named in another. Returns what was left.
        ``waited``: the process's whole bound, named (default ``timeout``). In a forked child (a worker of a
        multiprocessing pool a step started) only the child's own: its parent's are its parent's (:meth:`_here`)."""
        self._here()
        with self._lock:
            pending = dict(self._pending)
        if not pending:
            return []
        concurrent.futures.wait(pending, timeout=max(timeout, 0.0))
        waited = timeout if waited is None else waited
        under_way = [(future, work, args) for future, (work, args) in pending.items() if not future.done()]
        # not begun (cancelled now): an event's delivery is done again into the outbox; a seal from the store is not
        queued = [(work, args) for future, work, args in under_way if work == self._deliver and future.cancel()]
        spooled, failed = self._spool_queued(queued, waited) if queued else ([], [])
        held = [(work, args) for future, work, args in under_way if not future.cancelled()] + failed
        held_named, spooled_named = ([_delivery_named(work, args) for work, args in left] for left in (held, spooled))
        if held:
            runs = sorted({run for _, args in held if (run := _run_of(args)) is not None})
            log.warning("tdprov: %s still under way after %gs as this process ends (store %s does not answer): %s; they "
                        "are not delivered. Fix: once the store answers, %s (provenance_store_sensor closes them once "
                        "their Dagster run ended; a run with nothing staged is not recorded: materialize it again)",
                        counted(len(held), "delivery", "deliveries"), waited, self.settings.store, "; ".join(held_named),
                        "; ".join(f"'tdprov store seal --force {run}'" for run in runs))
        if spooled:
            log.warning("tdprov: %s queued behind them handed to the outbox in %s: %s. Fix: run 'tdprov flush --store %s' "
                        "once the store answers (a later write on this machine delivers them too)",
                        counted(len(spooled), "delivery", "deliveries"), self.transport().outbox.spool_dir,
                        "; ".join(spooled_named), self.settings.store)
        return held_named + spooled_named

    def _spool_queued(self, queued: list[tuple[Callable[..., None], tuple[Any, ...]]],
                      waited: float) -> tuple[list[tuple[Callable[..., None], tuple[Any, ...]]], list[tuple[Callable[..., None], tuple[Any, ...]]]]:
        """Do the deliveries ``queued`` (not begun as the process ends, ``waited`` seconds spent) again, in order, in a
        new thread (the recorder's is held up), against the transport's ending store, which takes nothing: its outbox
        spools what they write. Returns those done and those not (not done within ``SPOOL_SECONDS``, or failed)."""
        try:
            self.transport().end(waited)
        except Exception as exc:  # noqa: BLE001 - the process is ending: named, never raised
            log.debug("tdprov: the transport could not be ended (%s)", exc)
            return [], queued
        try:
            self._worker = Worker("tdprov-recorder")
            again = [(work, args, self._worker.submit(work, *args)) for work, args in queued]
        except RuntimeError as exc:  # no thread starts at interpreter shutdown (Python 3.12+): named as not delivered
            log.debug("tdprov: the queued deliveries could not be run again (%s)", exc)
            return [], queued
        concurrent.futures.wait([future for _, _, future in again], timeout=SPOOL_SECONDS)
        done: list[tuple[Callable[..., None], tuple[Any, ...]]] = []
        failed: list[tuple[Callable[..., None], tuple[Any, ...]]] = []
        for work, args, future in again:
            (done if future.done() and future.exception() is None else failed).append((work, args))
        return done, failed

    def unsealed(self, ol_run_id: str) -> bool:
        """Whether the terminal event of run ``ol_run_id`` that this recorder delivered last was neither sealed nor spooled
        whole by the transport (ask after :meth:`wait`): its staged events could not be read, it timed out, or it was
        refused (the transport's warning says which)."""
        with self._lock:
            return ol_run_id in self._unsealed

    def reopen(self, run: StepRun) -> None:
        """Forget that ``run`` ended here (its terminal event was not sealed, :meth:`unsealed`): the next :meth:`step` of
        its step attempt ends the same run again, not a next part of it."""
        with self._lock:
            if self._ended.get(run.identity.step) is run:
                del self._ended[run.identity.step]
            self._unsealed.pop(run.ol_run_id, None)

    def forwarder(self) -> Forwarder | None:
        """The other backends of the standard OpenLineage configuration (``OPENLINEAGE_URL``, ``openlineage.yml``), if any."""
        with self._lock:
            if self._forwarder is _UNRESOLVED:
                client = forwarding_client()
                self._forwarder = Forwarder(client) if client is not None else None
            return self._forwarder

    def transport(self) -> Any:
        """The core ``ProvenanceTransport`` of this store (made on first use)."""
        if self._transport is None:
            self._transport = make_transport(self.settings, self.store_source, self.key_source)
        return self._transport

    def bundle_location(self, ol_run_id: str) -> str:
        return bundle_location(self.settings, ol_run_id)

    def problem(self) -> str | None:
        """Why no bundle of this recorder can be sealed (its signing key or its store cannot be opened: the same
        for every run), or None; found on first use and remembered. The events are still emitted (staged,
        forwarded): 'tdprov store seal' seals them once the cause is fixed."""
        if self._problem is _UNRESOLVED:
            try:
                self.transport().signer  # noqa: B018 - opened (and kept) now rather than when the first run is sealed
                self.transport().store  # noqa: B018
                self._problem = None
            except Exception as exc:  # noqa: BLE001 - recording never breaks the pipeline by accident
                self._problem = str(self.named(exc)) or type(exc).__name__
        return self._problem

    def named(self, exc: BaseException) -> BaseException:
        """``exc``, a store's error's fix naming the setting this recorder's store comes from (:func:`name_setting`)."""
        return name_setting(exc, self.store_source)

    def status(self) -> BundleStatus:
        """Whether bundles can be sealed now (:meth:`problem`, read once) and, when they can, whether records wait
        in the spool (:meth:`spooled`); what a write's metadata shows of its bundle."""
        problem = self.problem()
        if problem is not None:
            return BundleStatus(problem=problem)
        return BundleStatus(spooled=self.spooled(), store=store_uri(self.settings.store))

    def spooled(self) -> Path | None:
        """The spool folder when records for this recorder's store wait in it (the store was unreachable as they were
        delivered: the next write or 'tdprov flush' delivers them, and a bundle link points at nothing till then),
        else None. Reads only the local spool; says nothing of deliveries still under way. Only when :meth:`problem`
        is None (it opens the store)."""
        transport = self.transport()
        return transport.outbox.spool_dir if transport.outbox.holds(transport.store.uri) else None


_recorders: dict[tuple[Any, str], Recorder] = {}
_recorders_lock = threading.Lock()
_claims: OrderedDict[str, Recorder] = OrderedDict()  # OpenLineage run id of a step -> the recorder whose run it is
_claims_lock = threading.Lock()


_made_up: OrderedDict[StepIdentity, None] = OrderedDict()  # attempts (namespace default) whose run was made up here


_DELIVERIES = {"_seal_staged": "seal", "_leave_unsealed": "tagging of the Dagster runs whose earlier attempts are unsealed"}


def _delivery_named(work: Callable[..., Any], args: tuple[Any, ...]) -> str:
    """What a delivery does, named for a person: 'the FAIL event of run R', 'the seal of run R' (a run's last)."""
    what = _DELIVERIES.get(getattr(work, "__name__", ""), "delivery")
    if (run := _run_of(args)) is None:
        return f"the {what}"
    if len(args) > 2 and (state := getattr(getattr(args[2], "eventType", None), "value", None)) is not None:
        what = f"{state} event"
    return f"the {what} of run {run}"


def _run_of(args: tuple[Any, ...]) -> str | None:
    """The run a delivery of arguments ``args`` is of (its first, a run id), None when it is of no one run."""
    return args[0] if args and isinstance(args[0], str) else None


def _make_up(identity: StepIdentity) -> bool:
    """Whether a run for step attempt ``identity``, which recorded nothing, is to be made up now: the first time this
    process asks, in whichever namespace asks (two recorders of a retry made up one each)."""
    key = replace(identity, namespace=DEFAULT_NAMESPACE, part=0)
    with _claims_lock:
        if key in _made_up:
            return False
        keep_newest(_made_up, key, None, CLAIMS_KEPT)
    return True


def step_namespaces(step_context: Any) -> set[str]:
    """The namespaces the step running ``step_context`` may have recorded in: those of the provenance IO managers and
    resources it requires, and each one its outputs' metadata names in its run (``tdprov/namespace``, any attempt)."""
    from prov_dagster.steps import recorded_namespaces  # steps imports this module

    found = {r.namespace_uri() for r in _compat.required_resources(step_context) if isinstance(r, ProvenanceConfig)}
    try:
        return found | recorded_namespaces(step_context.instance, step_context.run_id).get(step_context.step.key, set())
    except Exception as exc:  # noqa: BLE001 - recording never breaks the pipeline by accident
        log.warning("tdprov: could not read from the Dagster instance which namespaces step %r recorded outputs in (%s); "
                    "a retry closes its earlier attempts by those of its resources only", step_context.step.key, exc)
        return found


def leave_run(step_context: Any) -> None:
    """Tag the Dagster run of ``step_context`` ``tdprov/closing=after-run`` (unless a sensor left it already): a step
    attempt of it was left unclosed (the store did not answer), for ``provenance_store_sensor`` to close once the run
    ended. Never raises (a warning)."""
    try:
        run = step_context.instance.get_run_by_id(step_context.run_id)
        if run is not None and run.tags.get(CLOSING_TAG) != LEFT:
            step_context.instance.add_run_tags(step_context.run_id, {CLOSING_TAG: AFTER_RUN})
    except Exception as exc:  # noqa: BLE001 - recording never breaks the pipeline by accident
        log.warning("tdprov: could not tag Dagster run %s %s=%s (%s); 'tdprov audit' names the runs left unsealed",
                    step_context.run_id, CLOSING_TAG, AFTER_RUN, exc)


def retried_error(step_key: str, attempt: int, retry: int) -> str:
    """The error of the run of attempt ``attempt`` of step ``step_key``, which Dagster retried as attempt ``retry``."""
    return f"step {step_key} attempt {attempt} failed; Dagster retried it as attempt {retry}"


def _claimed(identity: StepIdentity, recorder: Recorder) -> StepIdentity:
    """``identity``, or its first later part whose run id no other recorder of this process holds: a
    ``ProvenanceResource`` configured apart from the IO manager (same store and namespace, other settings) records the
    step through a recorder of its own, in a run of its own (one run id for both sealed one of them with the other's
    events left out)."""
    with _claims_lock:
        while _claims.get(identity.ol_run_id, recorder) is not recorder:
            identity = replace(identity, part=identity.part + 1)
        keep_newest(_claims, identity.ol_run_id, recorder, CLAIMS_KEPT)
    return identity


def recorder_for(config: Any) -> Recorder:
    """The process's recorder for a ``ProvenanceConfig`` (same store and namespace -> same recorder)."""
    return recorder_for_namespace(config.settings(), config.namespace_uri(), config.store_setting(),
                                  config.signing_key_setting())


def recorder_for_namespace(settings: Settings, namespace: str, store_source: str = STORE_VARIABLE,
                           key_source: str = KEY_VARIABLE) -> Recorder:
    """The process's recorder for store ``settings`` and ``dagster://`` ``namespace`` (``store_source``,
    ``key_source``: see :class:`Recorder`; those of the first config that asked for it)."""
    with _recorders_lock:
        recorder = _recorders.get((settings, namespace))
        if recorder is None:
            recorder = _recorders[(settings, namespace)] = Recorder(settings, namespace, store_source, key_source)
        return recorder


def store_recorder(store: str, namespace: str,
                   launched: Mapping[tuple[str, str], Settings] | None = None) -> Recorder | None:
    """The process's recorder on ``store`` (as :func:`~prov_dagster.transport.store_uri` names it) in ``dagster://``
    ``namespace``, with the settings (signing key, spool) of the ``ProvenanceIOManager`` or ``ProvenanceResource``
    configured for that store (one of that namespace first): ``launched`` given, one of those a Dagster run was launched
    with (:func:`launched_settings`: a run-status sensor closing that run), then one set up in this process
    (:func:`configured`: the sensor's own provenance resource), each read for that namespace before any other; None
    when there is none (a recorder another closer opened there with its own key is not one: its key is not that
    store's)."""
    with _recorders_lock:
        kept = [_configured] if launched is None else [launched, _configured]
        settings = next((k[(store, namespace)] for k in kept if (store, namespace) in k), None) or next(
            (s for k in kept for (on, _), s in k.items() if on == store), None)
    return recorder_for_namespace(settings, namespace) if settings is not None else None


CONFIGURED_KEPT = 256  # (store, namespace) pairs whose set-up config this process remembers, the newest set up
_configured: OrderedDict[tuple[str, str], Settings] = OrderedDict()  # (store URI, namespace) -> settings set up here


def configured(config: ProvenanceConfig, *, settings: Settings | None = None) -> None:
    """Note ``config`` (a ``ProvenanceIOManager`` or ``ProvenanceResource``, as set up for a run) as this process's
    for its store and namespace, in place of one noted before: a check's run recorded in that store is signed with its
    key (:func:`store_recorder`). The newest :data:`CONFIGURED_KEPT` store and namespace pairs are kept. ``settings``:
    those ``config`` resolves to, when read already."""
    settings = config.settings() if settings is None else settings
    with _recorders_lock:
        keep_newest(_configured, (store_uri(settings.store), config.namespace_uri()), settings, CONFIGURED_KEPT)


def launched_settings(configs: Iterable[tuple[type, Mapping[str, Any]]]) -> dict[tuple[str, str], Settings]:
    """The settings of each ``ProvenanceConfig`` of ``configs`` (class and config given in code or in a run's config
    at launch, an ``EnvVar`` field as ``{"env": <name>}``: :func:`~prov_dagster._compat.resource_configs`, a code
    location's for one Dagster run) by store URI and namespace, the first of each in order, for
    :func:`store_recorder`; an ``EnvVar`` is read from this process's environment (:func:`configured_values`: unset, the
    field's default, but for the namespace: :class:`~prov_dagster.config.UnreadNamespaceError`), and one whose config
    is refused is left out (it fails where it is set up). Noted nowhere: each run is closed with the
    settings it was launched with, whatever another run was launched with before."""
    found: dict[tuple[str, str], Settings] = {}
    for cls, config in configs:
        if not issubclass(cls, ProvenanceConfig):
            continue
        given = configured_values(config)
        try:
            made = cls(**given)
            settings = made.settings()
        except Exception:  # noqa: BLE001 - a resource that cannot be made is refused where Dagster sets it up
            continue
        found.setdefault((store_uri(settings.store), made.namespace_uri()), settings)
    return found


def asset_recorders(dagster_run_id: str, assets: Collection[str]) -> list[Recorder]:
    """The recorders of this process that recorded a version of one of ``assets`` written in Dagster run
    ``dagster_run_id`` (:meth:`Recorder.wrote`)."""
    with _recorders_lock:
        recorders = list(_recorders.values())
    return [r for r in recorders if r.wrote(dagster_run_id, assets)]


def written_in_run(dagster_run_id: str) -> list[tuple[str, DatasetRecord]]:
    """(step key, version) of each version a step of Dagster run ``dagster_run_id`` wrote, as the recorders of this
    process recorded it (:meth:`Recorder.written`: the steps this process ran)."""
    with _recorders_lock:
        recorders = list(_recorders.values())
    return [written for r in recorders for written in r.written(dagster_run_id)]


def recorded_step_keys(dagster_run_id: str) -> set[str]:
    """The keys of the steps of Dagster run ``dagster_run_id`` that any recorder of this process recorded (in any
    store or namespace)."""
    with _recorders_lock:
        recorders = list(_recorders.values())
    return set().union(*(r.step_keys(dagster_run_id) for r in recorders))
