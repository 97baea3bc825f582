"""OpenLineage dataset and job names (the spec's naming conventions), via openlineage-python's naming classes."""
from __future__ import annotations

import os
from pathlib import Path, PurePath
from urllib.parse import unquote, urlsplit, urlunsplit

from openlineage.client.naming import dataset as ol_naming

from prov_common.errors import BadInputError
from prov_common.lineage.redact import redact_uri

DEFAULT_JOB_NAMESPACE = "tdprov"
"""Job namespace used when none is given (the orchestrators pass their own, e.g. the Airflow instance)."""

# Object stores: namespace "<scheme>://<bucket>", name = object key (no leading slash).
_BUCKET_SCHEMES = {"s3", "s3a", "s3n", "gs", "gcs"}
_LOCAL_HOSTS = {"", "localhost", "127.0.0.1"}
# Databases: name = "database.schema.table" (no leading slash); scheme aliases as the spec spells them.
_TABLE_SCHEMES = {"postgres", "mysql", "trino", "redshift", "sqlserver", "oracle", "db2", "hive", "teradata", "crate"}
_SCHEME_ALIASES = {"postgresql": "postgres", "mssql": "sqlserver", "mariadb": "mysql"}


def dataset_from_uri(uri_or_path: str | os.PathLike[str]) -> tuple[str, str]:
    """``(namespace, name)`` of a dataset at a path or URI, following the OpenLineage naming spec.

    - local path or ``file:///p``: ``("file", "/abs/p")``; ``file://host/p``: ``("file://host", "/p")``
    - ``s3://bucket/key``: ``("s3://bucket", "key")`` (also ``gs://``)
    - any other ``scheme://authority/path``: ``("scheme://authority", "/path")``

    Credentials and query strings never enter the name (signed URLs keep a stable name).
    """
    if isinstance(uri_or_path, PurePath) or "://" not in str(uri_or_path):
        return _local(str(uri_or_path))
    text = redact_uri(str(uri_or_path))
    parts = urlsplit(text)
    scheme, host = parts.scheme.lower(), parts.hostname or ""
    scheme = _SCHEME_ALIASES.get(scheme.split("+", 1)[0], scheme.split("+", 1)[0])
    path = unquote(parts.path)
    if scheme == "file":
        if host in _LOCAL_HOSTS:
            return _local(path)
        naming = ol_naming.RemoteFileSystem(host=host, path=path)
        return naming.get_namespace(), naming.get_name()
    if scheme in _BUCKET_SCHEMES:
        key = path.lstrip("/")
        if not host or not key:
            raise BadInputError(
                f"dataset URI {text!r} needs a bucket and an object key",
                fix=f"write it as {scheme}://<bucket>/<key>",
            )
        if scheme in ("s3", "s3a", "s3n"):
            naming = ol_naming.S3(bucket_name=host, object_key=key)
            return naming.get_namespace(), naming.get_name()
        return ol_naming.GCS(bucket_name=host, object_key=key).get_namespace(), key
    if not host:
        raise BadInputError(f"dataset URI {text!r} has no host", fix="write it as scheme://host[:port]/path")
    authority = host if parts.port is None else f"{host}:{parts.port}"
    if scheme in _TABLE_SCHEMES:
        return f"{scheme}://{authority}", path.strip("/").replace("/", ".")
    return f"{scheme}://{authority}", path or "/"


def clean_namespace(namespace: str) -> str:
    """``namespace`` without any user information (``scheme://user:pw@host`` -> ``scheme://host``)."""
    text = redact_uri(namespace)
    if "://" not in text:
        return text
    parts = urlsplit(text)
    if "@" not in parts.netloc:
        return text
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, parts.query, parts.fragment))


def dataset_uri(namespace: str, name: str) -> str:
    """The URI that a (namespace, name) pair stands for (inverse of :func:`dataset_from_uri`)."""
    if namespace == "file":
        return Path(name).as_uri()
    scheme = namespace.split("://", 1)[0]
    if scheme in _BUCKET_SCHEMES | _TABLE_SCHEMES or not name.startswith("/"):
        return f"{namespace.rstrip('/')}/{name.lstrip('/')}"
    return f"{namespace}{name}"


def _local(path: str) -> tuple[str, str]:
    if not path:
        raise BadInputError("dataset path is empty", fix="pass the path or URI of the dataset")
    naming = ol_naming.LocalFileSystem(path=Path(os.path.abspath(path)).as_posix())
    return naming.get_namespace(), naming.get_name()
