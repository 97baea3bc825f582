"""LineageBundleTrigger: waits, in the triggerer, for a bundle matching a job / dataset / digest."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from prov_airflow.matching import MAX_LISTING_ERRORS, BundleQuery, BundleWait, found_payload


class LineageBundleTrigger(BaseTrigger):
    """Poll the store every ``poll_interval`` seconds (the listing runs in a thread; the loop never blocks), by the
    rules of :class:`~prov_airflow.matching.BundleWait` (as the sensor pokes).

    Yields ``{"status": "success", "bundle": {...}}`` when a bundle matches, ``{"status": "error", ...}``
    when the store cannot be read ``max_errors`` times in a row.
    """

    def __init__(self, query: dict[str, Any], tdprov_conn_id: str | None = None, poll_interval: float = 30.0,
                 max_errors: int = MAX_LISTING_ERRORS) -> None:
        super().__init__()
        self.query = query
        self.tdprov_conn_id = tdprov_conn_id
        self.poll_interval = poll_interval
        self.max_errors = max_errors

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("prov_airflow.triggers.bundle.LineageBundleTrigger",
                {"query": self.query, "tdprov_conn_id": self.tdprov_conn_id,
                 "poll_interval": self.poll_interval, "max_errors": self.max_errors})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from prov_airflow.hooks.provenance import ProvenanceHook

        wait = BundleWait(BundleQuery(**self.query), self.max_errors)
        hook = ProvenanceHook(self.tdprov_conn_id)
        stores: list[Any] = []

        def connect() -> tuple[Any, Any]:
            if not stores:
                stores.append(hook.get_conn())
            return stores[0], hook.get_trust()  # keys added since count

        while True:
            try:
                summary = await asyncio.to_thread(wait.poll, connect)
            except Exception as exc:  # noqa: BLE001 - max_errors listings in a row failed: the wait fails
                yield TriggerEvent({"status": "error", "message": f"{type(exc).__name__}: {exc}"})
                return
            if summary is not None:
                yield TriggerEvent({"status": "success", "bundle": found_payload(summary)})
                return
            await asyncio.sleep(self.poll_interval)
