"""Links the Dagster UI shows for tdprov locations (bundles, audit reports): something a user can click.

A local path becomes a ``file://`` URL; an ``s3://`` location on AWS becomes its S3 console page, and
on any other S3-compatible endpoint (``AWS_ENDPOINT_URL_S3``, or ``endpoint_url`` in the AWS config file: where the
store's S3 client sends its requests) stays an ``s3://`` URI, since there is no console to point at.
"""
from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote, urlsplit

from dagster import MetadataValue, UrlMetadataValue

CONSOLE = "https://s3.console.aws.amazon.com/s3"
_ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
_CLIENT_ENDPOINT_VARIABLES = (*_ENDPOINT_VARIABLES, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
                              "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CONFIG_FILE")
"""What decides where a fresh S3 client sends its requests, besides the AWS config file's bytes."""


def location_url(location: str, environ: Mapping[str, str] | None = None) -> str:
    """The URL of ``location`` (a local path or ``s3://bucket/key``); a trailing ``/`` (a folder) is kept."""
    if location.startswith("s3://"):
        if not _on_aws(environ):
            return location
        bucket, _, key = location[len("s3://"):].partition("/")
        page = "buckets" if not key or key.endswith("/") else "object"
        return f"{CONSOLE}/{page}/{quote(bucket)}?prefix={quote(key)}"
    if "://" in location:
        return location
    url = Path(location).expanduser().absolute().as_uri()
    return url + "/" if location.endswith("/") and not url.endswith("/") else url


def _on_aws(environ: Mapping[str, str] | None) -> bool:
    """Whether S3 requests go to AWS: with ``environ`` given, whether it sets no endpoint; else whether the endpoint of
    an S3 client made as the store makes one (the environment and the AWS config file) is AWS's. A client that cannot be
    made is not taken for AWS (the location stays an ``s3://`` URI: never a link to a bucket that may be another's)."""
    if environ is not None:
        return not any(environ.get(name) for name in _ENDPOINT_VARIABLES)
    config = os.environ.get("AWS_CONFIG_FILE") or os.path.join("~", ".aws", "config")
    try:
        config_bytes = Path(config).expanduser().read_bytes()
    except OSError:
        config_bytes = b""
    return _endpoint_on_aws(tuple(os.environ.get(name) for name in _CLIENT_ENDPOINT_VARIABLES), config_bytes)


@functools.lru_cache(maxsize=8)
def _endpoint_on_aws(variables: tuple[str | None, ...], config: bytes) -> bool:
    """Whether a fresh S3 client's endpoint is AWS's, made once per process for each environment (``variables``) and
    AWS config file (``config``): making a client takes tens of milliseconds, and every output's link asks."""
    from prov_common.store.s3 import fresh_s3_client

    try:
        endpoint = fresh_s3_client().meta.endpoint_url
    except Exception:  # noqa: BLE001 - a link is never a reason for a step to fail
        return False
    host = urlsplit(endpoint or "").hostname or ""
    return host == "amazonaws.com" or host.endswith(".amazonaws.com")


def location_link(location: str) -> UrlMetadataValue:
    """``MetadataValue.url`` of :func:`location_url` (a clickable link in the Dagster UI)."""
    return MetadataValue.url(location_url(location))
