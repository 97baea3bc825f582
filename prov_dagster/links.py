"""Links the Dagster UI shows for tdprov locations (bundles, audit reports): something a user can click.

A local path becomes a ``file://`` URL; an ``s3://`` location on AWS becomes its S3 console page, and
on any other S3-compatible endpoint (``AWS_ENDPOINT_URL_S3``) stays an ``s3://`` URI, since there is
no console to point at.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

from dagster import MetadataValue, UrlMetadataValue

CONSOLE = "https://s3.console.aws.amazon.com/s3"
_ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")


def location_url(location: str, environ: Mapping[str, str] | None = None) -> str:
    """The URL of ``location`` (a local path or ``s3://bucket/key``); a trailing ``/`` (a folder) is kept."""
    if location.startswith("s3://"):
        env = os.environ if environ is None else environ
        if any(env.get(name) for name in _ENDPOINT_VARIABLES):
            return location
        bucket, _, key = location[len("s3://"):].partition("/")
        page = "buckets" if not key or key.endswith("/") else "object"
        return f"{CONSOLE}/{page}/{quote(bucket)}?prefix={quote(key)}"
    if "://" in location:
        return location
    url = Path(location).expanduser().absolute().as_uri()
    return url + "/" if location.endswith("/") and not url.endswith("/") else url


def location_link(location: str) -> UrlMetadataValue:
    """``MetadataValue.url`` of :func:`location_url` (a clickable link in the Dagster UI)."""
    return MetadataValue.url(location_url(location))
