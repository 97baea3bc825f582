"""Background delivery of the listener's events, so that staging and sealing overlap with the task.

One daemon thread per process delivers in submission order (a run's START is staged before its
terminal event seals the bundle). The task runner's ``before_stopping`` hook drains the queue with a
bounded wait (``[tdprov] flush_timeout``), then waits, within the same bound, for the writes the transport went on
with in the background once they outlived its own bound (Airflow ends a task process with ``os._exit``, which would
lose them); whatever is not delivered by then, and the jobs still in the queue, go to the outbox with a warning naming
them (``tdprov flush`` delivers them), or stay staged in the store, and are reported by the audit rather than lost
silently. Any other process that loads it (a script running ``dag.test()``, a scheduler) waits the same way as the
interpreter exits, within ``TDPROV_EXIT_TIMEOUT``: the exit bound of every process but a task's.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from prov_common import exiting
from prov_common.config import exit_timeout
from prov_common.text import counted

log = logging.getLogger(__name__)
TASK_BOUND = "[tdprov] flush_timeout"  # the setting that bounds a task process's end (before_stopping)


class Delivery:
    """A FIFO of delivery jobs run by one daemon thread; jobs never raise out of it."""

    def __init__(self) -> None:
        self._forget()
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        """An empty queue: a new one's, and a forked child's (a worker a scheduler forks, whose exit drains this
        queue): the jobs queued are its parent's, which delivers them; the child starts with none, and a lock no thread
        of the parent holds."""
        self._jobs: deque[tuple[str, Callable[[], Any]]] = deque()
        self._thread: threading.Thread | None = None
        self._lock = threading.Condition()  # the thread takes each job under it
        self._busy = False  # a job taken is running
        self._held = False  # a drain ran out: no job is taken until take_waiting

    def submit(self, what: str, job: Callable[[], Any]) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="tdprov-delivery", daemon=True)
                self._thread.start()
            self._jobs.append((what, job))
            self._lock.notify_all()

    def _work(self) -> None:
        while True:
            with self._lock:
                self._lock.wait_for(lambda: self._jobs and not self._held)
                what, job = self._jobs.popleft()
                self._busy = True
            try:
                _run(what, job)
            finally:
                with self._lock:
                    self._busy = False
                    self._lock.notify_all()

    def drain(self, timeout: float) -> bool:
        """Wait until every submitted job ran, at most ``timeout`` seconds; True when drained. Not drained, the thread
        takes no job from then until :meth:`take_waiting` (one it took before may still run)."""
        with self._lock:
            drained = self._lock.wait_for(lambda: not self._jobs and not self._busy, max(timeout, 0.0))
            self._held = not drained
            return drained

    def take_waiting(self) -> list[tuple[str, Callable[[], Any]]]:
        """The jobs not begun yet, in submission order, taken out of the queue: the caller's to run (after a drain that
        ran out, the thread has begun none since)."""
        with self._lock:
            taken, self._held = list(self._jobs), False
            self._jobs.clear()
            return taken


def _run(what: str, job: Callable[[], Any]) -> bool:
    """Run one delivery job; what it raises is logged, never raised. False when it raised."""
    try:
        job()
    except Exception as exc:  # noqa: BLE001 - the transport spools; nothing may escape
        log.warning("tdprov: could not deliver %s (%s: %s)", what, type(exc).__name__, exc)
        return False
    return True


def spool_waiting(jobs: list[tuple[str, Callable[[], Any]]], waited: float, bound: str = TASK_BOUND) -> None:
    """Run ``jobs``, left in the queue when the process's bound (``waited`` seconds, the setting ``bound``) was spent,
    against stores that take nothing (:func:`~prov_airflow.emitter.end_transports`), so the outbox spools each as it is;
    one warning names them and the flush that delivers them (Airflow ends a task process with ``os._exit``, which would
    lose them)."""
    from prov_airflow.emitter import end_transports

    places = end_transports(waited)
    failed = [what for what, job in jobs if not _run(what, job)]
    spools = ", ".join(sorted({spool for _, spool in places})) or "[tdprov] spool"
    log.warning("tdprov: %s not delivered within %s (%gs) as this process ends (%s): %s. Fix: run "
                "'tdprov flush --store %s' once the store answers (a later write on this machine delivers them too); "
                "'tdprov flush' names a run whose seal is left, and 'tdprov store seal RUN_ID' seals it",
                counted(len(jobs), "event"), bound, waited, "; ".join(what for what, _ in jobs),
                f"handed to the outbox in {spools}" if not failed else
                f"not all could be spooled ({'; '.join(failed)}): 'tdprov audit' names their runs",
                ", ".join(sorted({uri for uri, _ in places})) or "<store>")


DELIVERY = Delivery()


def finish(timeout: float, *, name_late: bool = True, bound: str = TASK_BOUND) -> bool:
    """At a process's end, ``timeout`` seconds in all: drain :data:`DELIVERY`; drained, have the transports name what
    they staged for runs taken for open that another process sealed, within what is left of the bound
    (``emitter.name_late_events``, ``name_late``: the ``before_stopping`` hook; at interpreter exit the transports'
    worker threads take no more work); then wait for the writes the transports left in the background
    (:func:`~prov_common.bundle.transport.settle_all`: what is left then is spooled and named, as Airflow ends a task
    process with ``os._exit``); the jobs the drain left in the queue are spooled and named last (:func:`spool_waiting`,
    naming the setting ``bound``). True when everything was written."""
    from prov_airflow.emitter import name_late_events
    from prov_common.bundle.transport import settle_all

    deadline = time.monotonic() + timeout
    drained = DELIVERY.drain(timeout)
    waiting = [] if drained else DELIVERY.take_waiting()
    if drained and name_late:  # within the bound: the transport's own (10 s) outlasted a shorter flush_timeout
        name_late_events(deadline - time.monotonic())
    settled = not settle_all(deadline - time.monotonic(), timeout)
    if waiting:
        spool_waiting(waiting, timeout, bound)
    return settled and drained


def _drain_at_exit() -> None:
    """As the interpreter exits (a process other than a task's, which Airflow ends with ``os._exit`` after
    ``before_stopping``: a script running ``dag.test()``, a scheduler): :func:`finish` within ``TDPROV_EXIT_TIMEOUT``,
    the exit bound of every such process, the process's one exit wait (it settles the transports' writes within it;
    their own exit wait is not run after it: one bound in all)."""
    finish(exit_timeout(), name_late=False, bound="TDPROV_EXIT_TIMEOUT")


exiting.ends_with(exiting.AIRFLOW_DELIVERY, _drain_at_exit)
