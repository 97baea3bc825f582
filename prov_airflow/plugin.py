"""The Airflow plugin (loaded from the ``airflow.plugins`` entry point): the provenance listener, the
"tdprov bundle" extra link, and the bundles page of a DAG run; and the settings (``[tdprov]``, its connection)
of the ``ProvenanceTransport`` that the OpenLineage provider makes from its configuration."""
from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from prov_common.bundle.defaults import set_configuration_defaults

from prov_airflow.emitter import configuration_defaults
from prov_airflow.links import BundleLink
from prov_airflow.listener import get_listener
from prov_airflow.ui.app import RUN_ROUTE, URL_PREFIX, LazyApp

# the OpenLineage provider's ProvenanceTransport ([openlineage] transport) takes the listener's settings
set_configuration_defaults(configuration_defaults)


class TdprovPlugin(AirflowPlugin):
    """Registers the :class:`~prov_airflow.listener.ProvenanceListener` on schedulers and workers, the
    :class:`~prov_airflow.links.BundleLink` of tdprov's operators, and the bundles page of a DAG run (a
    FastAPI app in the API server, shown as the "tdprov bundles" tab of every DAG run)."""

    name = "tdprov"
    listeners = [get_listener()]
    operator_extra_links = [BundleLink()]
    fastapi_apps = [{"app": LazyApp(), "url_prefix": URL_PREFIX, "name": "tdprov lineage bundles"}]
    external_views = [
        {
            "name": "tdprov bundles",  # a tab of every DAG run: its bundles and their verification
            "href": URL_PREFIX + RUN_ROUTE.format(dag_id="{DAG_ID}", run_id="{RUN_ID}"),
            "destination": "dag_run",
            "url_route": "tdprov-bundles",
        },
        {
            "name": "tdprov bundles",  # Browse menu: recent DAG runs, each linking to its bundles
            "href": URL_PREFIX + "/",
            "destination": "nav",
            "category": "browse",
            "url_route": "tdprov",
        },
    ]
