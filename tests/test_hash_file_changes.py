"""A table file changed while it is hashed gets the digest of one version or an error, never a mix.

CSV and JSON-lines files are hashed in two passes when their types change part-way (dtype inference, then
the cast). A writer may publish a new version between the passes: by renaming it over the path (the
passes must still read the version they started on) or by writing into the file (refused). The file is
changed at a fixed point, just before the second pass opens it, by wrapping the opener the passes use.
"""
from __future__ import annotations

import hashlib
import io
import os
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

from prov_common.errors import BadInputError
from prov_common.hashing import hash_dataframe, hash_path
from prov_common.hashing.csv_stream import hash_csv_stream
from prov_common.hashing import files
from prov_common.hashing.files import _sources
from prov_common.hashing.raw import CHUNK, hash_bytes
from prov_common.hashing.jsonl_stream import hash_jsonl_stream

A_CSV = "a\n" + "".join(f"{i}\n" for i in range(1, 40)) + "0.5\n"  # ints, then a float: float64, in two passes
B_CSV = "a\n" + "".join(f"{i}\n" for i in range(2, 41)) + "7\n"  # all ints: int64
A_JSONL = "".join(f'{{"a": {i}}}\n' for i in range(40)) + '{"a": 0.5}\n'  # int64 promoted to double: two passes
B_JSONL = "".join(f'{{"a": {i + 1}}}\n' for i in range(40)) + '{"a": 7}\n'


def before_pass(opener: Callable, number: int, change: Callable[[], None]) -> Callable:
    """``opener``, with ``change`` made just before the ``number``-th pass opens the file."""
    calls = 0

    def wrapped():
        nonlocal calls
        calls += 1
        if calls == number:
            change()
        return opener()
    return wrapped


def publish(path: Path, text: str) -> Callable[[], None]:
    """A new version written beside ``path`` and renamed over it, as writers publish."""
    def change() -> None:
        fresh = path.with_name(path.name + ".new")
        fresh.write_text(text)
        os.replace(fresh, path)
    return change


def append(path: Path, text: str) -> Callable[[], None]:
    def change() -> None:
        with open(path, "a") as f:
            f.write(text)
    return change


def digest_of(tmp_path: Path, name: str, text: str) -> str:
    (tmp_path / name).write_text(text)
    return hash_path(tmp_path / name).digest


@pytest.mark.parametrize(("fmt", "a", "b"), [("csv", A_CSV, B_CSV), ("jsonl", A_JSONL, B_JSONL)])
def test_every_pass_reads_the_version_it_started_on_when_another_is_renamed_over_it(tmp_path, fmt, a, b) -> None:
    expected, other = digest_of(tmp_path, f"a.{fmt}", a), digest_of(tmp_path, f"b.{fmt}", b)
    path = tmp_path / f"t.{fmt}"
    path.write_text(a)
    with _sources(path) as opener:
        passes = before_pass(opener, 2, publish(path, b))
        td = hash_csv_stream(passes, chunk_rows=8) if fmt == "csv" else hash_jsonl_stream(passes, chunk_bytes=64)
    assert path.read_text() == b  # the new version was published between the passes
    assert td.digest == expected != other
    assert td.schema_fields() == [("a", "float64")]  # A's types with A's rows


@pytest.mark.parametrize(("fmt", "a"), [("csv", A_CSV), ("jsonl", A_JSONL)])
def test_a_file_written_while_it_is_hashed_is_refused(tmp_path, fmt, a) -> None:
    path = tmp_path / f"t.{fmt}"
    path.write_text(a)
    row = "3\n" if fmt == "csv" else '{"a": 3}\n'
    with pytest.raises(BadInputError, match=r"t\.\w+' changed while it was hashed") as caught:
        with _sources(path) as opener:
            passes = before_pass(opener, 2, append(path, row))
            hash_csv_stream(passes, chunk_rows=8) if fmt == "csv" else hash_jsonl_stream(passes, chunk_bytes=64)
    assert "hash it again" in caught.value.fix


def test_the_sha256_and_the_table_digest_are_of_the_same_bytes(tmp_path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(A_CSV)
    td = hash_path(path, file_sha256=True)
    assert td.file_sha256 == hashlib.sha256(A_CSV.encode()).hexdigest()
    assert td.digest == hash_dataframe(pd.read_csv(path)).digest


def rewrite_keeping_times(path: Path, text: str) -> Callable[[], None]:
    """``text`` (as long as what ``path`` holds) written into it in place, then its old modification time set back
    (``rsync -t --inplace``, ``cp -p`` over it): size, modification time and inode are as before."""
    def change() -> None:
        st = path.stat()
        assert len(text.encode()) == st.st_size
        time.sleep(0.02)  # past the file system's timestamp tick, as a writer some time later
        with open(path, "r+b") as f:
            f.write(text.encode())
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    return change


def test_a_file_rewritten_in_place_with_its_old_times_while_it_is_hashed_is_refused(tmp_path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(A_CSV)
    with pytest.raises(BadInputError, match=r"t\.csv' changed while it was hashed"):
        with _sources(path) as opener:
            hash_csv_stream(before_pass(opener, 2, rewrite_keeping_times(path, A_CSV.replace("1", "2"))), chunk_rows=8)


def test_a_file_hashed_as_bytes_written_while_it_is_read_is_refused(tmp_path, monkeypatch) -> None:
    """The bytes of a file that is not a table are read in one pass: a writer that rewrites it after the first
    chunk was read would give the digest of the old first half and the new second half, a content it never had."""
    path = tmp_path / "t.bin"
    old, new = b"a" * (2 * CHUNK), b"b" * (2 * CHUNK)
    path.write_bytes(old)

    class WrittenAfterFirstChunk(io.RawIOBase):
        def __init__(self, source) -> None:
            super().__init__()
            self.source, self.chunks = source, 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            n = self.source.readinto(buffer)
            self.chunks += 1
            if self.chunks == 1:
                time.sleep(0.02)  # past the file system's timestamp tick
                with open(path, "r+b") as f:
                    f.write(new)
            return n

    real = files.hash_stream
    monkeypatch.setattr(files, "hash_stream", lambda f, *a, **k: real(WrittenAfterFirstChunk(f), *a, **k))
    with pytest.raises(BadInputError, match=r"t\.bin' changed while it was hashed") as caught:
        hash_path(path, file_sha256=True)
    assert "hash it again" in caught.value.fix
    monkeypatch.undo()
    assert hash_path(path).digest == hash_bytes(new).digest  # once written, the file is hashed as it is


@pytest.mark.parametrize("name", ["t.bin", "t.csv"])
def test_a_file_whose_status_alone_changes_while_it_is_hashed_is_hashed_once_more(tmp_path, monkeypatch, name) -> None:
    """A chmod (or chown, an extended attribute, a backup tool setting the access time back) moves a file's change
    time and nothing else: the hash refused a file whose bytes never changed. It now reads the file once more from the
    start, as an S3 object overwritten between two reads is; one written into again is refused (above)."""
    path = tmp_path / name
    path.write_text(A_CSV)
    expected = hash_path(path, file_sha256=True)
    real, moved = files.opened_once, []

    @contextmanager
    def chmod_once(f, *args, **kwargs):
        with real(f, *args, **kwargs) as opener:
            if not moved:
                time.sleep(0.02)  # past the file system's timestamp tick
                os.chmod(path, 0o600)
                moved.append(path.stat().st_ctime_ns)
            yield opener

    monkeypatch.setattr(files, "opened_once", chmod_once)
    found = hash_path(path, file_sha256=True)
    assert moved and (found.digest, found.file_sha256) == (expected.digest, expected.file_sha256)
