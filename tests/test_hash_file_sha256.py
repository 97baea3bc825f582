"""Sha256Writer and Sha256Follower: the SHA-256 of exactly the bytes a writer wrote, taken on their way out."""
from __future__ import annotations

import hashlib
import io
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prov_common.hashing.file_sha256 import Sha256Follower, Sha256Writer, sha256_of


def test_parquet_written_through_the_writer_hashes_like_the_file(tmp_path: Path) -> None:
    table = pa.table({"id": pa.array(range(200_000)), "s": pa.array([f"row {i}" for i in range(200_000)])})
    path = tmp_path / "t.parquet"
    with Sha256Writer(open(path, "wb")) as out:
        pq.write_table(table, out)
    data = path.read_bytes()
    assert out.hexdigest == hashlib.sha256(data).hexdigest() == sha256_of(path) and out.size == len(data)
    assert pq.read_table(path).equals(table)
    buffer = io.BytesIO()
    with Sha256Writer(buffer, close_raw=False) as kept_open:
        kept_open.write(memoryview(b"abc"))  # any bytes-like object
        kept_open.write(bytearray(b"def"))
    assert buffer.getvalue() == b"abcdef" and kept_open.hexdigest == hashlib.sha256(b"abcdef").hexdigest()


def test_the_digest_is_known_only_once_closed_and_a_failed_write_ends_the_thread() -> None:
    writer = Sha256Writer(io.BytesIO())
    writer.write(b"x")
    with pytest.raises(RuntimeError, match="once it is closed"):
        writer.hexdigest
    writer.close()

    class Full(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, data) -> int:
            raise OSError(28, "No space left on device")

    before = threading.active_count()
    with pytest.raises(OSError, match="No space"), Sha256Writer(Full()) as failing:
        failing.write(b"data")
    assert failing.closed and threading.active_count() == before


def test_follower_hashes_a_parquet_file_as_pyarrow_writes_it(tmp_path: Path) -> None:
    table = pa.table({"id": pa.array(range(600_000)), "s": pa.array([f"row {i}" for i in range(600_000)])})
    path = tmp_path / "t.parquet"
    path.touch()
    with Sha256Follower(path) as follower:
        pq.write_table(table, path)  # native writer, truncating the file the follower has open
        digest = follower.writer_done()
    data = path.read_bytes()
    assert len(data) > 2 * (1 << 20)  # several of the follower's reads
    assert digest == hashlib.sha256(data).hexdigest() and follower.size == len(data)


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
