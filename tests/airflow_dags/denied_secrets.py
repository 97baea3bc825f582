"""A secrets backend that denies access to the tdprov connections, as a vault whose policy refuses the worker's role
does (``AirflowSecretsBackendAccessDenied``: Airflow looks in no other backend)."""
from __future__ import annotations

from airflow.sdk.exceptions import AirflowSecretsBackendAccessDenied
from airflow.secrets import BaseSecretsBackend


class DeniedBackend(BaseSecretsBackend):
    def get_conn_value(self, conn_id: str) -> str | None:
        if conn_id.startswith("tdprov"):
            raise AirflowSecretsBackendAccessDenied(f"policy denies reading {conn_id}")
        return None
