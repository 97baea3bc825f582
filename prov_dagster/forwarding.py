"""Forward a Dagster step's OpenLineage events to the backends configured the standard openlineage-python way.

``OpenLineageClient()`` reads that configuration itself: ``OPENLINEAGE_URL`` (and ``OPENLINEAGE_API_KEY``,
``OPENLINEAGE_ENDPOINT``), an ``openlineage.yml`` (``OPENLINEAGE_CONFIG``, the working directory or
``~/.openlineage``) or ``OPENLINEAGE__TRANSPORT__...`` variables, any transport including ``composite``.
With none of them there is nothing to forward to (the client's console fallback is not used), and a
configuration that already names tdprov's ``ProvenanceTransport`` is not used either: the IO manager
records into its own store, so the events would be recorded twice. A backend that fails is logged and
never fails the step: the tdprov store is where provenance must not be lost.
"""
from __future__ import annotations

import logging
import os
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
        log.warning("tdprov: the OpenLineage configuration could not be read (%s); events go to the tdprov store only", exc)
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


def forward(client: OpenLineageClient, event: Any) -> None:
    """Emit ``event`` through ``client``; a failure is logged, never raised."""
    try:
        client.emit(event)
    except Exception as exc:  # noqa: BLE001 - another backend failing never breaks the pipeline
        log.warning("tdprov: could not forward OpenLineage event %s of run %s to %s: %s",
                    event.eventType, event.run.runId, client.transport.kind, exc)


def _transports(transport: Any) -> Iterator[Any]:
    """``transport`` and, for a composite, every transport inside it."""
    yield transport
    if isinstance(transport, CompositeTransport):
        for inner in transport.transports:
            yield from _transports(inner)
