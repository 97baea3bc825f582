"""``open_store``: the store named by a URI or by the settings."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

from prov_common.config import Settings
from prov_common.errors import BadInputError, TdprovError
from prov_common.store.base import Store
from prov_common.store.location import local_store_path, parse_location

if TYPE_CHECKING:  # pragma: no cover - the S3 store loads when a store is on S3
    from prov_common.store.s3 import S3ClientFactory

__all__ = ["open_store", "local_store_path", "cannot_open"]


def cannot_open(where: str, uri: str | None, exc: TdprovError) -> str:
    """Why a store setting cannot be opened, naming where it is set: ``<where> = '<uri>' cannot be opened: <why>``."""
    return f"{where} = {uri!r} cannot be opened: {exc.what.rstrip('.')}"


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
    location = parse_location(uri)
    if location.is_s3:
        from prov_common.store.s3 import S3Store

        return S3Store(location.uri, client_factory=s3_client_factory)
    from prov_common.store.local import LocalStore

    fsync = os.environ.get("TDPROV_STORE_FSYNC", "1").strip().lower() not in ("0", "false", "no", "off")
    return LocalStore(location.uri, fsync=fsync)
