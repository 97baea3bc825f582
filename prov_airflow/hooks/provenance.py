"""ProvenanceHook: tdprov settings and store from an Airflow connection of type ``tdprov``."""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from airflow.providers.common.compat.sdk import BaseHook

from prov_common.config import Settings
from prov_common.errors import BadInputError

from prov_airflow.settings import resolve_settings

# AWS connection field or extra -> boto3 environment variable.
_AWS_EXTRA_ENV = {
    "region_name": "AWS_DEFAULT_REGION",
    "endpoint_url": "AWS_ENDPOINT_URL_S3",
    "aws_session_token": "AWS_SESSION_TOKEN",
    "profile_name": "AWS_PROFILE",
}


class ProvenanceHook(BaseHook):
    """Settings and store of tdprov from a ``tdprov`` connection, the ``[tdprov]`` section and ``TDPROV_*``.

    Connection: ``host`` is the store URI (a folder or ``s3://bucket/prefix``); ``extra`` may hold
    ``signing_key``, ``trusted_keys`` (list or os.pathsep-separated), ``spool``, ``strict`` and
    ``aws_conn_id`` (an AWS connection whose key, secret, region and ``endpoint_url`` reach S3).
    Without a connection (``tdprov_conn_id=None``, or the default one not defined) the hook uses
    ``[tdprov]`` and the ``TDPROV_*`` environment.
    """

    conn_name_attr = "tdprov_conn_id"
    default_conn_name = "tdprov_default"
    conn_type = "tdprov"
    hook_name = "tdprov provenance store"

    def __init__(self, tdprov_conn_id: str | None = default_conn_name, **overrides: Any) -> None:
        super().__init__()
        self.tdprov_conn_id = tdprov_conn_id
        self.overrides = {k: v for k, v in overrides.items() if v is not None}
        self._extra: dict[str, Any] | None = None
        self._host: str | None = None

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": ["schema", "port", "login", "password"],
            "relabeling": {"host": "Store URI (folder or s3://bucket/prefix)"},
            "placeholders": {
                "host": "s3://lineage-bucket/tdprov",
                "extra": json.dumps({"signing_key": "/secrets/tdprov.key", "trusted_keys": ["/keys/team.pub"],
                                     "spool": "/var/spool/tdprov", "strict": False, "aws_conn_id": "aws_default"}),
            },
        }

    def _load(self) -> tuple[str | None, dict[str, Any]]:
        if self._extra is None:
            self._host, self._extra = None, {}
            if self.tdprov_conn_id:
                try:
                    conn = self.get_connection(self.tdprov_conn_id)
                except Exception:
                    if self.tdprov_conn_id != self.default_conn_name:
                        raise BadInputError(
                            f"Airflow connection {self.tdprov_conn_id!r} (type tdprov) is not defined",
                            fix=f"create it (airflow connections add {self.tdprov_conn_id} --conn-type tdprov "
                                "--conn-host <store URI>) or pass tdprov_conn_id=None to use [tdprov]") from None
                else:
                    self._host = conn.host or None
                    self._extra = conn.extra_dejson or {}
        return self._host, self._extra

    def get_settings(self) -> Settings:
        """The resolved tdprov settings (explicit overrides > connection > [tdprov] > TDPROV_* > defaults)."""
        host, extra = self._load()
        given: dict[str, Any] = {"store": host}
        for name in ("signing_key", "spool"):
            given[name] = extra.get(name) or None
        given["strict"] = extra.get("strict")  # Settings parses the flag and the path list
        given["trusted_keys"] = extra.get("trusted_keys") or None
        given.update(self.overrides)
        return resolve_settings(**given)

    def aws_environment(self) -> dict[str, str]:
        """boto3 environment variables taken from the connection's ``aws_conn_id`` (empty without one)."""
        _, extra = self._load()
        aws_conn_id = extra.get("aws_conn_id")
        if not aws_conn_id:
            return {}
        conn = self.get_connection(aws_conn_id)
        env: dict[str, str] = {}
        if conn.login:
            env["AWS_ACCESS_KEY_ID"] = conn.login
        if conn.password:
            env["AWS_SECRET_ACCESS_KEY"] = conn.password
        for key, var in _AWS_EXTRA_ENV.items():
            value = (conn.extra_dejson or {}).get(key)
            if value:
                env[var] = str(value)
        return env

    @contextmanager
    def environment(self) -> Iterator[None]:
        """Apply the AWS credentials of the connection to ``os.environ`` for the duration of the block."""
        env = self.aws_environment()
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def get_conn(self) -> Any:
        """The tdprov store (``prov_common.store.Store``) these settings point at."""
        from prov_common.store import open_store

        settings = self.get_settings()
        with self.environment():
            return open_store(settings.store, settings=settings)

    def test_connection(self) -> tuple[bool, str]:
        """Airflow UI "Test": list the store."""
        try:
            store = self.get_conn()
            with self.environment():
                next(iter(store.list("")), None)
            return True, f"store {store.uri} is readable"
        except Exception as exc:  # noqa: BLE001 - reported to the UI
            return False, f"{type(exc).__name__}: {exc}"
