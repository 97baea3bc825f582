"""Background delivery of the listener's events, so that staging and sealing overlap with the task.

One daemon thread per process delivers in submission order (a run's START is staged before its
terminal event seals the bundle). The task runner's ``before_stopping`` hook drains the queue with a
bounded wait (``[tdprov] flush_timeout``), then waits, within the same bound, for the writes the transport went on
with in the background once they outlived its own bound (Airflow ends a task process with ``os._exit``, which would
lose them); whatever is not delivered by then is spooled by the transport with a warning naming it, or stays staged in
the store, and is reported by the audit rather than lost silently.
"""
from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from prov_common.text import counted

log = logging.getLogger(__name__)


class Delivery:
    """A FIFO of delivery jobs run by one daemon thread; jobs never raise out of it."""

    def __init__(self) -> None:
        self._jobs: queue.Queue[tuple[str, Callable[[], Any]]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, what: str, job: Callable[[], Any]) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._work, name="tdprov-delivery", daemon=True)
                self._thread.start()
        self._jobs.put((what, job))

    def _work(self) -> None:
        while True:
            what, job = self._jobs.get()
            try:
                job()
            except Exception as exc:  # noqa: BLE001 - the transport spools; nothing may escape
                log.warning("tdprov: could not deliver %s (%s: %s)", what, type(exc).__name__, exc)
            finally:
                self._jobs.task_done()

    def drain(self, timeout: float) -> bool:
        """Wait until every submitted job ran, at most ``timeout`` seconds; True when drained."""
        done = threading.Event()

        def wait() -> None:
            self._jobs.join()
            done.set()

        threading.Thread(target=wait, name="tdprov-drain", daemon=True).start()
        if not done.wait(max(timeout, 0.0)):
            log.warning("tdprov: %s not delivered after %ss; they are staged or spooled and the "
                        "audit reports unsealed runs. Fix: check the store, or raise [tdprov] flush_timeout.",
                        counted(self._jobs.unfinished_tasks, 'event'), timeout)
            return False
        return True


DELIVERY = Delivery()


def finish(timeout: float, *, name_late: bool = True) -> bool:
    """At a process's end, ``timeout`` seconds in all: drain :data:`DELIVERY`; drained, have the transports name what
    they staged for runs taken for open that another process sealed (``emitter.name_late_events``, ``name_late``: the
    ``before_stopping`` hook; at interpreter exit the transports' worker threads take no more work); then wait for the
    writes the transports left in the background (:func:`~prov_common.bundle.transport.settle_all`: what is left then
    is spooled and named, as Airflow ends a task process with ``os._exit``). True when everything was written."""
    from prov_airflow.emitter import name_late_events
    from prov_common.bundle.transport import settle_all

    deadline = time.monotonic() + timeout
    drained = DELIVERY.drain(timeout)
    if drained and name_late:
        name_late_events()
    return not settle_all(deadline - time.monotonic()) and drained


@atexit.register
def _drain_at_exit() -> None:
    from prov_airflow.settings import conf_number

    finish(conf_number("flush_timeout"), name_late=False)
