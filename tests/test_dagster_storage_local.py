"""DataLocation on a local folder: atomic replacement, the SHA-256 of the bytes written, no leftovers."""
from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import asset, materialize

from prov_common.bundle import list_bundles
from prov_common.store import open_store
from prov_dagster import ProvenanceIOManager, storage
from prov_dagster.storage import DataLocation


def _drain() -> None:
    storage.free_replaced()
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


def test_io_manager_frees_the_replaced_version_only_after_the_bundle_is_sealed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Freeing the old version is disk work that can hold up the store's writes: it comes after sealing."""
    store = tmp_path / "store"
    freed: list[tuple[str, int]] = []  # (name freed by the reclaimer, bundles sealed at that moment)
    unlink = storage._unlink_quietly

    def watching(path: Path) -> None:
        if threading.current_thread().name.startswith("tdprov-reclaim"):  # not a dead process's leftover
            freed.append((path.name, sum(1 for _ in list_bundles(open_store(str(store))))))
        unlink(path)

    monkeypatch.setattr(storage, "_unlink_quietly", watching)
    manager = ProvenanceIOManager(store=str(store))
    for version in range(2):
        @asset(name="table")
        def table() -> pd.DataFrame:
            return pd.DataFrame({"x": range(version, version + 50_000)})

        assert materialize([table], resources={"io_manager": manager}).success
    _drain()
    data = tmp_path / "store-data"
    assert sorted(p.name for p in data.iterdir()) == ["table.parquet", "table.parquet.tdprov.json"]
    # the second run replaced both files; each old version went once the second bundle was sealed
    assert sorted(freed) == [(".table.parquet.old", 2), (".table.parquet.tdprov.json.old", 2)]
    assert pd.read_parquet(data / "table.parquet")["x"].tolist() == list(range(1, 50_001))


def test_a_write_refused_before_it_takes_the_files_place_leaves_the_previous_version(store_uri: str) -> None:
    """``before_replace`` raising (the IO manager's hashing refused the frame) writes nothing: the previous version
    stays, in a folder with no temporary file left, and on S3 alike."""
    location = DataLocation(store_uri + "-data")
    first = pa.table({"x": [1, 2]})
    location.write_table("t.parquet", first)

    def refused() -> None:
        raise ValueError("refused by the hashing")

    with pytest.raises(ValueError, match="refused by the hashing"):
        location.write_table("t.parquet", pa.table({"x": [3]}), before_replace=refused)
    assert location.read_table("t.parquet").table.equals(first)
    if not location.is_s3:
        assert [p.name for p in Path(store_uri + "-data").iterdir()] == ["t.parquet"]
