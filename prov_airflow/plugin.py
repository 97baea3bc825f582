"""The Airflow plugin that registers the provenance listener (loaded from the ``airflow.plugins`` entry point)."""
from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from prov_airflow.listener import get_listener


class TdprovPlugin(AirflowPlugin):
    """Registers :class:`~prov_airflow.listener.ProvenanceListener` on schedulers and workers."""

    name = "tdprov"
    listeners = [get_listener()]
