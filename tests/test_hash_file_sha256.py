"""Sha256Follower and sha256_of: the SHA-256 of exactly the bytes a writer wrote, taken on their way out."""
from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prov_common.hashing.file_sha256 import Sha256Follower, sha256_of


def test_follower_hashes_a_parquet_file_as_pyarrow_writes_it(tmp_path: Path) -> None:
    table = pa.table({"id": pa.array(range(600_000)), "s": pa.array([f"row {i}" for i in range(600_000)])})
    path = tmp_path / "t.parquet"
    path.touch()
    with Sha256Follower(path) as follower:
        pq.write_table(table, path)  # native writer, truncating the file the follower has open
        digest = follower.writer_done()
    data = path.read_bytes()
    assert len(data) > 2 * (1 << 20)  # several of the follower's reads
    assert digest == hashlib.sha256(data).hexdigest() == sha256_of(path) and follower.size == len(data)


def test_follower_catches_up_with_a_slow_writer_and_reads_the_rest_after_close(tmp_path: Path) -> None:
    path = tmp_path / "slow.bin"
    path.touch()
    pieces = [bytes([i]) * 300_000 for i in range(12)]
    follower = Sha256Follower(path, poll_seconds=0.001)
    with open(path, "wb", buffering=0) as out:
        for piece in pieces:
            out.write(piece)
            time.sleep(0.003)  # the follower reaches the end of the data and waits between pieces
    assert follower.writer_done() == hashlib.sha256(b"".join(pieces)).hexdigest()


def test_follower_refuses_a_file_cut_behind_the_writer_and_leaves_no_thread(tmp_path: Path) -> None:
    path = tmp_path / "cut.bin"
    path.write_bytes(b"x" * 3_000_000)
    before = threading.active_count()
    follower = Sha256Follower(path)
    deadline = time.monotonic() + 30
    while follower.size < 3_000_000 and time.monotonic() < deadline:  # it has read the 3 MB
        time.sleep(0.005)
    with open(path, "r+b") as f:
        f.truncate(1_000)  # changed behind the writer
    with pytest.raises(OSError, match="changed while it was hashed"):
        follower.writer_done()
    assert threading.active_count() == before

    failing = Sha256Follower(path)
    failing.cancel()  # the writer failed: no digest, no thread, the file closed
    assert threading.active_count() == before
