"""The writes a transport has under way (kept from their submission: ``emit`` leaves those that outlive its bound to go
on in the background), the thread that does them (:class:`Worker`, which the process's exit does not wait for), and
what becomes of them as the process ends: waited for, at most a bound, then done again against a store that takes
nothing, so that the outbox spools what they had not written (:meth:`ProvenanceTransport.settle`)."""
from __future__ import annotations

import concurrent.futures
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from prov_common.errors import StoreUnavailableError


STOP_POLL = 0.05  # seconds between two looks at whether a wait should stop early (:func:`wait_for`)


def wait_for(futures: list[concurrent.futures.Future[Any]], timeout: float | None,
             stop: Callable[[], bool] | None = None) -> bool:
    """Wait at most ``timeout`` seconds (None: no bound) for ``futures`` to be done, or until ``stop()`` is true (asked
    every :data:`STOP_POLL` seconds: a store that stopped answering, whose every call waits its own timeout); whether
    ``stop`` ended the wait with work still under way."""
    if stop is None:
        concurrent.futures.wait(futures, timeout=None if timeout is None else max(timeout, 0.0))
        return False
    deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
    while pending := [future for future in futures if not future.done()]:
        if stop():
            return True
        slice_ = STOP_POLL if deadline is None else min(STOP_POLL, deadline - time.monotonic())
        if slice_ <= 0:
            return False
        concurrent.futures.wait(pending, timeout=slice_)
    return False


class Outlived:
    """The background work of one transport: future -> (what it writes, the work and its arguments, to do again)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._work: dict[concurrent.futures.Future[Any], tuple[str, Callable[..., Any], tuple[Any, ...]]] = {}

    def add(self, future: concurrent.futures.Future[Any], name: str, work: Callable[..., Any], args: tuple[Any, ...]) -> None:
        with self._lock:
            self._work[future] = (name, work, args)
        future.add_done_callback(self._done)

    def __bool__(self) -> bool:
        """Whether any of the work is still under way."""
        with self._lock:
            return bool(self._work)

    def _done(self, future: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            self._work.pop(future, None)

    def left_after(self, timeout: float, stop: Callable[[], bool] | None = None
                   ) -> list[tuple[str, Callable[..., Any], tuple[Any, ...], bool]]:
        """Wait at most ``timeout`` seconds for the work, or until ``stop()`` is true (:func:`wait_for`); what is still
        under way then, in the order it was given, and whether it started (that not started yet is cancelled); it is the
        caller's then, no longer kept here."""
        with self._lock:
            futures = list(self._work)
        if not futures:
            return []
        wait_for(futures, timeout, stop)
        with self._lock:  # handed to the caller: forgotten here
            left = [(future, self._work.pop(future)) for future in list(self._work) if not future.done()]
        return [(*work, not future.cancel()) for future, work in left]


class Worker:
    """One daemon thread that runs what is submitted, in order, as a one-thread ``ThreadPoolExecutor``, except that the
    interpreter's exit does not join it: a write a store holds up forever (a hung local mount) kept the process alive.
    What it still does then is waited for a bound and spooled (:func:`~prov_common.bundle.transport.settle_all`)."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[tuple[concurrent.futures.Future[Any], Callable[..., Any], tuple[Any, ...]] | None]
        self._jobs, self._shut, self._lock = queue.SimpleQueue(), False, threading.Lock()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, work: Callable[..., Any], *args: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._lock:  # never queued behind the end of the queue (shutdown), where nothing would run it
            if self._shut:
                raise RuntimeError("cannot schedule new futures after shutdown")
            self._jobs.put((future, work, args))
        return future

    def shutdown(self, wait: bool = True) -> None:
        """Take no more work; ``wait``: until what was submitted is done (else the thread ends once it is)."""
        with self._lock:
            self._shut = True
            self._jobs.put(None)
        if wait:
            self._thread.join()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            future, work, args = job
            if not future.set_running_or_notify_cancel():  # cancelled before it began
                continue
            try:
                future.set_result(work(*args))
            except BaseException as exc:  # noqa: BLE001 - the caller's, as a ThreadPoolExecutor hands it on
                future.set_exception(exc)


class EndingStore:
    """The store as the process ends (or its transport is closed) with work on it left: it takes nothing, as in an outage, so the outbox spools
    what the work writes (``tdprov flush`` delivers it). ``uri`` is the store's, so the entries name it."""

    clock_offset = None
    """No store answers, so none tells its time (:func:`~prov_common.store.latekey.write_time` keys by this machine's)."""
    unanswered_at = None
    """Refused at once, never waited for (:attr:`~prov_common.store._base.BaseStore.unanswered_at`)."""

    def __init__(self, uri: str, waited: float, ending: str) -> None:
        """``ending``: why the store takes nothing now, as its errors say it (the transport's ``_ENDED`` gives them)."""
        self.uri = uri
        self._why = f"{ending} and store {uri} did not finish its writes within {waited:g}s"

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def unavailable(*_: Any, **__: Any) -> Any:
            raise StoreUnavailableError(self._why, fix="run 'tdprov flush' once the store answers")

        return unavailable
