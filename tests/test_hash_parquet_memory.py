"""A Parquet row group is decoded a batch at a time: memory does not grow with the rows its writer put in it."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prov_common.hashing import hash_path, hash_table

_PEAK = """
import json, sys
import pyarrow as pa
from prov_common.hashing import hash_path
d = hash_path(sys.argv[1], threads=int(sys.argv[2]))
print(json.dumps({"digest": d.digest, "peak": pa.default_memory_pool().max_memory()}))
"""


@pytest.mark.parametrize("threads", [1, 2])
def test_one_large_row_group_is_hashed_within_a_few_blocks_of_memory(tmp_path, threads):
    path = tmp_path / "one_group.parquet"
    rows = 4_000_000  # 32 MB of int64 in one row group, a file of a few KB
    pq.write_table(pa.table({"a": np.zeros(rows, dtype=np.int64)}), path, row_group_size=rows, compression="zstd")
    assert path.stat().st_size < 100_000
    out = subprocess.run([sys.executable, "-c", _PEAK, str(path), str(threads)], capture_output=True, text=True,
                         check=True)
    got = json.loads(out.stdout)
    assert got["digest"] == hash_table(pq.read_table(path)).digest
    assert got["peak"] < 8 << 20, f"{got['peak']:,} bytes of Arrow memory for a 32 MB row group"


@pytest.mark.parametrize("threads", [1, 2])
def test_blocks_cut_from_batches_of_large_row_groups_give_the_whole_read_digests(tmp_path, threads):
    rng = np.random.default_rng(3)
    n = 30_000
    table = pa.table({"i": rng.integers(0, 1 << 40, n), "s": pa.array([f"v{k % 37}" if k % 11 else None for k in range(n)]),
                      "l": pa.array([[k, None] if k % 5 else None for k in range(n)])})
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=12_345)
    expected = hash_table(table, block_rows=1_000, granularity="row")
    got = hash_path(path, block_rows=1_000, threads=threads, granularity="row")
    assert got.digest == expected.digest and got.blocks == expected.blocks
    assert got.row_digests.equals(expected.row_digests)
