"""LineageBundleTrigger: waits, in the triggerer, for a bundle matching a job / dataset / digest."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from prov_airflow.matching import BundleQuery, find_bundle, found_payload


class LineageBundleTrigger(BaseTrigger):
    """Poll the store every ``poll_interval`` seconds (the listing runs in a thread; the loop never blocks).

    Yields ``{"status": "success", "bundle": {...}}`` when a bundle matches, ``{"status": "error", ...}``
    when the store cannot be read ``max_errors`` times in a row.
    """

    def __init__(self, query: dict[str, Any], tdprov_conn_id: str | None = None, poll_interval: float = 30.0,
                 max_errors: int = 5) -> None:
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

        from prov_common.signing import trust_from_settings

        query = BundleQuery(**self.query)
        errors = 0
        hook = ProvenanceHook(self.tdprov_conn_id)
        store = None
        told: set[tuple[str, str]] = set()  # a forged match is warned of once, not at every poll
        while True:
            try:
                if store is None:
                    store = await asyncio.to_thread(hook.get_conn)
                trust = await asyncio.to_thread(lambda: trust_from_settings(hook.get_settings()))  # keys added since count
                summary = await asyncio.to_thread(find_bundle, store, query, trust, told)
                errors = 0
            except Exception as exc:  # noqa: BLE001 - reported as an event after max_errors
                errors += 1
                self.log.warning("tdprov: cannot list bundles (%s/%s): %s", errors, self.max_errors, exc)
                if errors >= self.max_errors:
                    yield TriggerEvent({"status": "error", "message": f"{type(exc).__name__}: {exc}"})
                    return
                summary = None
            if summary is not None:
                yield TriggerEvent({"status": "success", "bundle": found_payload(summary)})
                return
            await asyncio.sleep(self.poll_interval)
