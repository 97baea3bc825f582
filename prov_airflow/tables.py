"""Read a table (Parquet, CSV, JSON lines) from a path, ``file://`` or ``s3://`` URI, as tdprov hashes it.

The file is read by the reader its digest comes from (:func:`prov_common.hashing.files.read_table_file`),
so what a task validates is the version the file's writer recorded and ``tdprov hash`` prints; the SHA-256 of its
bytes is read beside it (an S3 object's as its one GET streams), so the bundle's statement names the bytes the task read.
"""
from __future__ import annotations

from typing import Any, Union
from urllib.parse import urlsplit

import pandas as pd
import pyarrow as pa
from prov_common.errors import BadInputError, UnsupportedTypeError
from prov_common.hashing.remote import S3_SCHEMES

from prov_airflow.capture import local_path, to_uri

Table = Union[pd.DataFrame, pa.Table]
"""A table as read: an Arrow table (Parquet, JSON lines) or a DataFrame (CSV, XCom)."""


def read_table(path_or_uri: Any) -> tuple[Table, str, str | None]:
    """The table at ``path_or_uri``, its URI and the SHA-256 of the file's bytes (read from the same opening:
    :func:`~prov_common.hashing.files.read_table_and_sha256`); S3 objects are read through boto3 (``AWS_*``
    environment)."""
    from prov_common.hashing.files import read_table_and_sha256, table_format

    uri = to_uri(path_or_uri)
    if uri is None:
        raise BadInputError(f"{path_or_uri!r} is not a path or URI", fix="pass a path, file:// or s3:// URI")
    parts = urlsplit(uri)
    fmt = table_format(parts.path)
    if fmt is None:
        raise UnsupportedTypeError(f"{uri} is not a table this operator reads", fix="use .parquet, .csv or .jsonl, "
                                   "or pass the DataFrame through XCom")
    path = local_path(uri)
    if path is None and parts.scheme not in S3_SCHEMES:
        raise UnsupportedTypeError(f"scheme of {uri} is not supported", fix="use a local path, file:// or s3://")
    if path is not None and not path.exists():
        raise BadInputError(f"table {path} does not exist", fix="check the path, or the task that writes it")
    table, sha256 = read_table_and_sha256(uri if path is None else path, fmt)
    return table, uri, sha256


def as_frame(table: Table) -> pd.DataFrame:
    """``table`` as a pandas DataFrame (an Arrow table converted as ``pandas.read_parquet`` converts it)."""
    return table.to_pandas() if isinstance(table, pa.Table) else table
