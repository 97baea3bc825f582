"""Sha256Writer: the SHA-256 of exactly the bytes a writer wrote, taken on their way out."""
from __future__ import annotations

import hashlib
import io
import threading
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prov_common.hashing.file_sha256 import Sha256Writer, sha256_of


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
