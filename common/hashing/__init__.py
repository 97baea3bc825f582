"""Canonical content hashing of tables and files (algorithm: docs/content-hash.md).

>>> from prov_common.hashing import hash_dataframe
>>> hash_dataframe(df).digest        # 'blake3:<64 hex>'
"""
from prov_common.hashing.diff import diff_digests
from prov_common.hashing.files import hash_bytes, hash_path, hash_stream, open_binary, register_opener
from prov_common.hashing.model import ColumnDigest, ContentDigest, DigestDiff, FileDigest, Granularity, TableDigest
from prov_common.hashing.rows import (
    ROW_ALGORITHM,
    contains_record,
    read_row_digests,
    record_positions,
    row_digest_for_record,
    write_row_digests,
)
from prov_common.hashing.table import ALGORITHM, BLOCK_ROWS, hash_dataframe, hash_table

__all__ = [
    "ALGORITHM",
    "BLOCK_ROWS",
    "ROW_ALGORITHM",
    "ColumnDigest",
    "ContentDigest",
    "DigestDiff",
    "FileDigest",
    "Granularity",
    "TableDigest",
    "contains_record",
    "diff_digests",
    "hash_bytes",
    "hash_dataframe",
    "hash_path",
    "hash_stream",
    "hash_table",
    "open_binary",
    "read_row_digests",
    "record_positions",
    "register_opener",
    "row_digest_for_record",
    "write_row_digests",
]
