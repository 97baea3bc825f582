"""Forward a Dagster step's OpenLineage events to the backends configured the standard openlineage-python way.

``OpenLineageClient()`` reads that configuration itself: ``OPENLINEAGE_URL`` (and ``OPENLINEAGE_API_KEY``,
``OPENLINEAGE_ENDPOINT``), an ``openlineage.yml`` (``OPENLINEAGE_CONFIG``, the working directory or
``~/.openlineage``) or ``OPENLINEAGE__TRANSPORT__...`` variables, any transport including ``composite``.
With none of them there is nothing to forward to (the client's console fallback is not used), and a
configuration that already names tdprov's ``ProvenanceTransport`` is not used either: the IO manager
records into its own store, so the events would be recorded twice. This configuration (with its filters,
facets, tags, dataset reduction and ``OPENLINEAGE_DISABLED``) applies to the forwarded events only, never
to what the store records; one that cannot be read is logged, naming its file, and nothing is forwarded.
A backend that fails is logged and never fails the step: the tdprov store is where provenance must not be lost. Events are forwarded from a
thread of their own (:class:`Forwarder`), after the store has them; teardown waits at most
:data:`FORWARD_WAIT` seconds for a backend that does not answer.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

from openlineage.client import OpenLineageClient
from openlineage.client.transport.composite import CompositeTransport
from openlineage.client.transport.noop import NoopConfig, NoopTransport

from prov_common.bundle.transport import ProvenanceTransport

log = logging.getLogger(__name__)


def forwarding_client() -> OpenLineageClient | None:
    """An ``OpenLineageClient`` over the standard configuration, or ``None`` when none is configured
    (or it is disabled, unreadable, or names tdprov's own transport; the reason is logged)."""
    try:
        config = OpenLineageClient(transport=NoopTransport(NoopConfig())).config  # read without a console fallback
        if not (config.transport and config.transport.get("type")) and not os.environ.get("OPENLINEAGE_URL"):
            return None
        client = OpenLineageClient()
    except Exception as exc:  # noqa: BLE001 - a broken OpenLineage config must not break the pipeline
        log.warning("tdprov: the OpenLineage configuration %s could not be read (%s); nothing is forwarded to other "
                    "backends, the tdprov store records every event. Fix: correct it (openlineage-python's client "
                    "configuration) or set OPENLINEAGE_CONFIG to another file", _config_source(), _reason(exc))
        return None
    if isinstance(client.transport, NoopTransport):  # OPENLINEAGE_DISABLED
        return None
    if any(isinstance(t, ProvenanceTransport) for t in _transports(client.transport)):
        log.warning(
            "tdprov: the OpenLineage configuration names tdprov's ProvenanceTransport; Dagster events are not "
            "forwarded through it (the IO manager records them in its store already). Fix: configure only the "
            "other backends there, or set OPENLINEAGE_CONFIG to a file without it for Dagster"
        )
        return None
    return client


def _config_source() -> str:
    """Where the standard configuration was read from: its file, else the ``OPENLINEAGE__*`` variables."""
    try:
        path = OpenLineageClient._find_yaml_config_path()  # openlineage-python's own search order
    except Exception:  # noqa: BLE001 - only for the message
        path = None
    return f"in {path}" if path else "in the OPENLINEAGE__* environment variables"


def _reason(exc: BaseException) -> str:
    """``exc`` with its cause (openlineage-python says only "Failed to parse OpenLineage config.")."""
    return f"{exc}: {exc.__cause__}" if exc.__cause__ is not None else str(exc)


def forward(client: OpenLineageClient, event: Any) -> None:
    """Emit ``event`` through ``client``; a failure is logged, never raised."""
    try:
        client.emit(event)
    except Exception as exc:  # noqa: BLE001 - another backend failing never breaks the pipeline
        log.warning("tdprov: could not forward OpenLineage event %s of run %s to %s: %s",
                    event.eventType, event.run.runId, client.transport.kind, exc)


FORWARD_WAIT = 10.0  # seconds the IO manager's teardown waits for the other backends, all events together


class Forwarder:
    """The other OpenLineage backends, fed in order from a daemon thread of their own, so that a slow or
    unreachable backend (the client retries each event for seconds) never holds up the tdprov store or
    the step; :meth:`drain` waits a bounded time for what is queued."""

    def __init__(self, client: OpenLineageClient) -> None:
        self.client = client
        self._queue: deque[Any] = deque()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def submit(self, event: Any) -> None:
        """Queue ``event`` for the other backends."""
        with self._changed:
            self._queue.append(event)
            if self._thread is None or not self._thread.is_alive():  # also in a forked process
                self._thread = threading.Thread(target=self._run, name="tdprov-forward", daemon=True)
                self._thread.start()
            self._changed.notify_all()

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._queue:
                    self._changed.wait()
                event = self._queue[0]
            forward(self.client, event)
            with self._changed:
                self._queue.popleft()
                self._changed.notify_all()

    def drain(self, timeout: float = FORWARD_WAIT) -> int:
        """Wait up to ``timeout`` seconds for the queued events to be forwarded; how many are still queued
        (forwarded later if the process lives on; the tdprov store has them all)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._queue and (left := deadline - time.monotonic()) > 0:
                self._changed.wait(left)
            return len(self._queue)


def _transports(transport: Any) -> Iterator[Any]:
    """``transport`` and, for a composite, every transport inside it."""
    yield transport
    if isinstance(transport, CompositeTransport):
        for inner in transport.transports:
            yield from _transports(inner)
