"""DataLocation on a local folder: atomic replacement, the SHA-256 of the bytes written, no leftovers."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from prov_dagster import storage
from prov_dagster.storage import DataLocation


def _drain() -> None:
    storage._reclaimer.submit(lambda: None).result()  # one worker: everything submitted before is done


def test_replacing_a_version_keeps_readers_of_the_old_one_and_leaves_no_hidden_files(tmp_path: Path) -> None:
    location = DataLocation(str(tmp_path))
    first = pa.table({"x": pa.array(range(300_000))})
    second = pa.table({"x": pa.array(range(300_000, 0, -1))})
    written = location.write_table("a/t.parquet", first)
    path = tmp_path / "a" / "t.parquet"
    assert written.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    with open(path, "rb") as reader:  # a reader of the old version while it is replaced
        again = location.write_table("a/t.parquet", second)
        assert pq.read_table(reader).equals(first)
    _drain()
    assert again.sha256 == hashlib.sha256(path.read_bytes()).hexdigest() != written.sha256
    assert pq.read_table(path).equals(second)
    assert sorted(p.name for p in path.parent.iterdir()) == ["t.parquet"]


def test_an_old_version_left_by_a_process_that_died_is_removed_by_the_next_write(tmp_path: Path) -> None:
    location = DataLocation(str(tmp_path))
    table = pa.table({"x": [1, 2, 3]})
    location.write_table("t.parquet", table)
    left = tmp_path / ".t.parquet.old"
    os.link(tmp_path / "t.parquet", left)  # what a crash between the rename and the removal leaves
    other = tmp_path / ".u.parquet.old"
    other.write_bytes(b"another file's leftover: not ours to remove")
    location.write_table("t.parquet", table)
    _drain()
    assert not left.exists() and other.exists()
    assert pq.read_table(tmp_path / "t.parquet").equals(table)
