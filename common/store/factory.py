"""``open_store``: the store named by a URI or by the settings."""
from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit

from prov_common.config import Settings
from prov_common.errors import BadInputError
from prov_common.file_uri import is_local_host
from prov_common.store.base import Store
from prov_common.store.s3 import S3ClientFactory


def open_store(uri: str | os.PathLike[str] | None = None, settings: Settings | None = None, *,
               s3_client_factory: S3ClientFactory | None = None) -> Store:
    """Open a store: a local folder (path or ``file://`` URI) or ``s3://bucket/prefix``.

    ``uri`` wins over ``settings.store``, which defaults to ``$TDPROV_STORE`` or ``./.tdprov``.
    S3 uses the standard AWS environment (``AWS_ENDPOINT_URL_S3``, ``AWS_PROFILE``, ``AWS_REGION``),
    or the client that ``s3_client_factory(botocore_config)`` makes (an orchestrator's AWS session);
    ``TDPROV_STORE_FSYNC=0`` turns off the local store's flushes to disk (scratch stores only).
    """
    if uri is None:
        uri = (settings or Settings.from_env()).store
    uri = os.fspath(uri)
    if not isinstance(uri, str) or not uri.strip():
        raise BadInputError("store URI is empty.", fix="set TDPROV_STORE to a folder or s3://bucket/prefix")
    scheme = urlsplit(uri).scheme.lower() if "://" in uri else ""
    if scheme == "s3":
        from prov_common.store.s3 import S3Store

        return S3Store(uri, client_factory=s3_client_factory)
    if scheme == "file":
        uri = local_store_path(uri)
    elif scheme:
        raise BadInputError(
            f"store URI '{uri}' has the unsupported scheme '{scheme}'.",
            fix="use a folder path, file:///path or s3://bucket/prefix (S3-compatible services via AWS_ENDPOINT_URL_S3)",
        )
    from prov_common.store.local import LocalStore

    fsync = os.environ.get("TDPROV_STORE_FSYNC", "1").strip().lower() not in ("0", "false", "no", "off")
    return LocalStore(uri, fsync=fsync)


def local_store_path(uri: str, what: str = "store URI") -> str:
    """The folder a ``file://`` URI names (a plain path as it is): never a remote host, never empty
    (``file://`` alone would be the current folder, wherever the process happens to run). ``what``
    names the URI in errors (a store's, a data root's)."""
    if not uri.lower().startswith("file://"):
        return uri
    parts = urlsplit(uri)
    if not is_local_host(parts.netloc):
        raise BadInputError(f"{what} '{uri}' names a remote host.", fix="use file:///absolute/path or a plain path")
    path = unquote(parts.path)
    if not path:
        raise BadInputError(f"{what} '{uri}' names no folder.", fix="use file:///absolute/path or a plain path")
    return path
