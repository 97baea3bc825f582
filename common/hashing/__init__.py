"""Canonical content hashing of tables and files (algorithm: docs/content-hash.md).

>>> from prov_common.hashing import hash_dataframe
>>> hash_dataframe(df).digest        # 'blake3:<64 hex>'

Names are loaded on first use, so that importing the model (or this package) does not load pandas
and pyarrow: Airflow loads the tdprov plugin in every component, and the outbox only hashes bytes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from prov_common.hashing.model import ColumnDigest, ContentDigest, DigestDiff, FileDigest, Granularity, TableDigest
from prov_common.hashing.shard_model import ShardDigest, ShardedDigest, ShardsDiff
from prov_common.lazy import lazy_names

_LAZY = {
    "diff_digests": "diff",
    "hash_bytes": "raw",
    "hash_path": "files",
    "hash_shards": "shards",
    "diff_shards": "shards",
    "is_sharded": "shard_list",
    "hash_stream": "raw",
    "open_binary": "files",
    "register_opener": "files",
    "ROW_ALGORITHM": "rows",
    "contains_record": "rows",
    "read_row_digests": "rows",
    "record_positions": "rows",
    "row_digest_for_record": "rows",
    "write_row_digests": "rows",
    "ALGORITHM": "raw",
    "BLOCK_ROWS": "table",
    "hash_dataframe": "table",
    "hash_table": "table",
}

if TYPE_CHECKING:  # pragma: no cover
    from prov_common.hashing.diff import diff_digests
    from prov_common.hashing.files import hash_path, open_binary, register_opener
    from prov_common.hashing.shard_list import is_sharded
    from prov_common.hashing.shards import diff_shards, hash_shards
    from prov_common.hashing.raw import ALGORITHM, hash_bytes, hash_stream
    from prov_common.hashing.rows import (
        ROW_ALGORITHM,
        contains_record,
        read_row_digests,
        record_positions,
        row_digest_for_record,
        write_row_digests,
    )
    from prov_common.hashing.table import BLOCK_ROWS, hash_dataframe, hash_table


__getattr__ = lazy_names(__name__, _LAZY, globals())
__all__ = sorted(["ColumnDigest", "ContentDigest", "DigestDiff", "FileDigest", "Granularity", "TableDigest",
                  "ShardDigest", "ShardedDigest", "ShardsDiff", *_LAZY])
