"""Read a table (Parquet, CSV, JSON lines) from a path, ``file://`` or ``s3://`` URI into pandas."""
from __future__ import annotations

import io
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
from prov_common.errors import BadInputError, UnsupportedTypeError
from prov_common.hashing.remote import open_s3

from prov_airflow.capture import local_path, to_uri

_READERS = {
    ".parquet": pd.read_parquet, ".pq": pd.read_parquet,
    ".csv": pd.read_csv,
    ".jsonl": lambda src: pd.read_json(src, lines=True), ".ndjson": lambda src: pd.read_json(src, lines=True),
}


def read_table(path_or_uri: Any) -> tuple[pd.DataFrame, str]:
    """The table at ``path_or_uri`` and its URI; S3 objects are read through boto3 (``AWS_*`` environment)."""
    uri = to_uri(path_or_uri)
    if uri is None:
        raise BadInputError(f"{path_or_uri!r} is not a path or URI", fix="pass a path, file:// or s3:// URI")
    parts = urlsplit(uri)
    suffix = PurePosixPath(parts.path).suffix.lower()
    reader = _READERS.get(suffix)
    if reader is None:
        raise UnsupportedTypeError(f"{uri} is not a table this operator reads (suffix {suffix or 'none'!r})",
                                   fix="use .parquet, .csv or .jsonl, or pass the DataFrame through XCom")
    path = local_path(uri)
    if path is not None:
        if not path.exists():
            raise BadInputError(f"table {path} does not exist", fix="check the path, or the task that writes it")
        return reader(path), uri
    if parts.scheme in ("s3", "s3a"):
        with open_s3(uri) as body:
            return reader(io.BytesIO(body.read())), uri
    raise UnsupportedTypeError(f"scheme of {uri} is not supported", fix="use a local path, file:// or s3://")
