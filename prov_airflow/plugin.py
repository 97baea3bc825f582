"""The Airflow plugin (loaded from the ``airflow.plugins`` entry point): the provenance listener, the
"tdprov bundle" extra link, and the bundles page of a DAG run."""
from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from prov_airflow.links import BundleLink
from prov_airflow.listener import get_listener


class TdprovPlugin(AirflowPlugin):
    """Registers the :class:`~prov_airflow.listener.ProvenanceListener` on schedulers and workers and the
    :class:`~prov_airflow.links.BundleLink` of tdprov's operators."""

    name = "tdprov"
    listeners = [get_listener()]
    operator_extra_links = [BundleLink()]
