"""``tdprov snapshot FOLDER`` keeps a sharded version shard by shard (unchanged shards once across
versions) under the digest ``tdprov hash`` prints, and ``tdprov checkout`` restores the folder."""
from __future__ import annotations

import io
import json
import os
import sys
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from prov_common.cli import main
from prov_common.errors import BadInputError
from prov_common.hashing import hash_shards
from prov_common.store import open_store
from prov_common.store.shard_snapshots import snapshot_shards

from shards_support import SHARDS, cli, shard_bytes, shard_frame, shard_name, stored_objects, tdprov_hash, write_shards


def _snapshot(target: str, store: str, capsys: Any) -> str:
    if "://" not in store:
        Path(store).mkdir(exist_ok=True)  # the CLI opens an existing local store only
    code, out = cli(["snapshot", target, "--store", store], capsys)
    assert code == 0, out
    return json.loads(out)["digest"]


def test_snapshot_two_versions_stores_shared_shards_once(tmp_path: Path, store_uri: str, capsys: Any) -> None:
    folder = tmp_path / "corpus"
    write_shards(folder / "train")  # shards in a subfolder keep their relative paths
    first = _snapshot(str(folder), store_uri, capsys)
    assert first == tdprov_hash(str(folder), capsys)["digest"]
    assert len(stored_objects(store_uri)) == SHARDS
    v1 = shard_bytes(folder)

    shard_frame(0, salt=3).to_parquet(folder / "train" / shard_name(0), index=False)
    second = _snapshot(folder.as_uri(), store_uri, capsys)  # a file:// URI names the same folder
    assert second != first and second == tdprov_hash(str(folder), capsys)["digest"]
    assert len(stored_objects(store_uri)) == SHARDS + 1
    assert _snapshot(str(folder), store_uri, capsys) == second and len(stored_objects(store_uri)) == SHARDS + 1
    v2 = shard_bytes(folder)

    shutil.rmtree(folder)
    for digest, expected in ((first, v1), (second, v2)):
        out = tmp_path / digest[7:15]
        assert cli(["checkout", digest, "-o", str(out), "--store", store_uri], capsys)[0] == 0
        assert shard_bytes(out) == expected and sorted(expected) == [f"train/{shard_name(i)}" for i in range(SHARDS)]


def test_checkout_refuses_to_overwrite_a_shard(tmp_path: Path, capsys: Any) -> None:
    folder, store = tmp_path / "shards", str(tmp_path / "store")
    write_shards(folder)
    digest = _snapshot(str(folder), store, capsys)
    (folder / shard_name(1)).write_bytes(b"local edit")
    code = cli(["checkout", digest, "-o", str(folder), "--store", store], capsys)[0]
    assert code == 2 and (folder / shard_name(1)).read_bytes() == b"local edit"
    assert cli(["checkout", digest, "-o", str(folder), "--store", store, "--force"], capsys)[0] == 0
    assert tdprov_hash(str(folder), capsys)["digest"] == digest


def test_empty_folder_is_bad_input_in_one_line(tmp_path: Path, capsys: Any) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "store").mkdir()
    capsys.readouterr()
    from prov_common.cli import main

    assert main(["snapshot", str(tmp_path / "empty"), "--store", str(tmp_path / "store")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no shards in" in err and "Traceback" not in err


def test_shards_changed_after_hashing_are_not_indexed(tmp_path: Path) -> None:
    folder, store = tmp_path / "shards", open_store(str(tmp_path / "store"))
    write_shards(folder)
    version = hash_shards(str(folder), cache=False, scheduler="none")
    shard_frame(9).to_parquet(folder / shard_name(9), index=False)  # a shard added after the hash
    with pytest.raises(BadInputError, match="changed after they were hashed"):
        snapshot_shards(store, version)
    assert not list(store.list("objects/index/"))


def test_checkout_checks_restored_shards_against_the_version(tmp_path: Path, capsys: Any) -> None:
    from prov_common.store.snapshots import SnapshotSet, index_key

    folder, store = tmp_path / "shards", str(tmp_path / "store")
    write_shards(folder)
    digest = _snapshot(str(folder), store, capsys)
    out = tmp_path / "good"
    assert cli(["checkout", digest, "-o", str(out), "--store", store, "--verify-table"], capsys)[0] == 0
    assert shard_bytes(out) == shard_bytes(folder)

    # an index whose objects are all genuine but whose paths are swapped: each file verifies, the version does not
    index = Path(store) / index_key(digest)
    kept = SnapshotSet.from_json(index.read_bytes(), index_key(digest))
    (a, oa, ba), (b, ob, bb), *rest = kept.files
    index.chmod(0o644)
    index.write_bytes(SnapshotSet(digest, ((a, ob, bb), (b, oa, ba), *rest)).to_json())
    assert cli(["checkout", digest, "-o", str(tmp_path / "checked"), "--store", store], capsys)[0] == 1
    assert not (tmp_path / "checked").exists()  # refused before the first shard is written
    assert cli(["checkout", digest, "-o", str(tmp_path / "unchecked"), "--store", store, "--no-verify-table"], capsys)[0] == 0


class _Terminal(io.StringIO):
    """A stderr that is a terminal."""

    def isatty(self) -> bool:
        return True


def test_a_record_of_a_sharded_version_shows_progress_on_stderr_of_a_terminal(tmp_path: Path, monkeypatch: Any,
                                                                             capsys: Any) -> None:
    """'tdprov record' of a sharded version reads every shard for its SHA-256 (the Croissant record's checksums): a
    bar on a terminal's stderr, as 'tdprov hash' shows; it showed nothing until done."""
    from prov_dagster import ProvenanceResource

    folder, store = tmp_path / "shards", str(tmp_path / "store")
    write_shards(folder)
    version = ProvenanceResource(store=store, dask_scheduler="none").record(outputs={"corpus": str(folder)}).data_version.value
    monkeypatch.setattr(sys, "stderr", terminal := _Terminal())
    code, out = cli(["record", version, "-f", "croissant", "--store", store], capsys)
    assert code == 0 and len(json.loads(out)["distribution"]) == SHARDS
    assert f"hashing shards:   0%|          | 0/{SHARDS} [" in terminal.getvalue()


def test_source_add_of_a_sharded_folder_records_the_version_a_pipeline_records_with_progress(tmp_path: Path,
                                                                                             monkeypatch: Any,
                                                                                             capsys: Any) -> None:
    """'tdprov source add' of a sharded folder was refused ("Is a directory. Fix: check the path and its permissions"),
    though it "hashes the data the way pipelines do": it records the version a pipeline records for the folder, its
    rows and the shards' bytes, with a bar on a terminal's stderr as 'tdprov hash' shows, and checks the columns named
    personal against the shards'."""
    from prov_dagster import ProvenanceResource

    folder, store = tmp_path / "shards", str(tmp_path / "store")
    write_shards(folder)
    version = ProvenanceResource(store=str(tmp_path / "other"), dask_scheduler="none").record(
        outputs={"corpus": str(folder)}).data_version.value
    add = ["source", "add", str(folder), "--name", "corpus", "--license", "CC0-1.0", "--issuer", "Acme", "--store", store]
    monkeypatch.setenv("TDPROV_DASK_SCHEDULER", "none")
    monkeypatch.setattr(sys, "stderr", terminal := _Terminal())
    assert cli([*add, "--personal-columns", "id,email"], capsys)[0] == 2
    assert f"--personal-columns names 'email', not a column of {folder} (columns: id, text)." in terminal.getvalue()
    terminal.truncate(0)
    terminal.seek(0)
    assert cli([*add, "--personal-columns", "text"], capsys)[0] == 0, terminal.getvalue()
    assert f"hashing shards:   0%|          | 0/{SHARDS} [" in terminal.getvalue()
    [record] = json.loads(cli(["source", "list", "--json", "--store", store], capsys)[1])
    shards = [p for p in folder.iterdir() if p.name != "_SUCCESS"]
    assert (record["digest"], record["bytes"]) == (version, sum(p.stat().st_size for p in shards)), record
    assert record["rows"] == sum(len(pd.read_parquet(p)) for p in shards)
    assert record["dataFormat"] == "application/vnd.apache.parquet", record  # the shards' (the folder's name has none)


def test_hash_snapshot_and_checkout_of_shards_show_progress_on_stderr_of_a_terminal(tmp_path: Path, monkeypatch: Any,
                                                                                    capsys: Any) -> None:
    """A sharded dataset is hashed, stored and restored shard by shard with a bar on a terminal's stderr; they showed
    nothing until done. Standard output (JSON) holds no bar, nor does a stderr that is not a terminal."""
    folder, store = tmp_path / "shards", tmp_path / "store"
    write_shards(folder)
    store.mkdir()
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    code, out = cli(["hash", "--json", "--no-cache", "--scheduler", "none", str(folder)], capsys)
    assert code == 0 and json.loads(out)["shardCount"] == SHARDS
    assert f"hashing shards:   0%|          | 0/{SHARDS} [" in terminal.getvalue()
    code, out = cli(["snapshot", str(folder), "--store", str(store)], capsys)
    digest = json.loads(out)["digest"]
    assert f"storing shards:   0%|          | 0/{SHARDS} [" in terminal.getvalue()
    assert cli(["checkout", digest, "-o", str(tmp_path / "out"), "--store", str(store)], capsys)[0] == 0
    assert f"restoring files:   0%|          | 0/{SHARDS} [" in terminal.getvalue()
    assert f"hashing restored shards:   0%|          | 0/{SHARDS} [" in terminal.getvalue()
    for shard in folder.iterdir():  # written a minute ago: old enough for the shard-digest cache to keep
        os.utime(shard, (shard.stat().st_mtime - 60, shard.stat().st_mtime - 60))
    for hashing in ("every shard", "none: each is cached"):
        terminal.truncate(0)
        terminal.seek(0)
        assert cli(["hash", "--scheduler", "none", str(folder)], capsys)[0] == 0
        assert ("hashing shards" in terminal.getvalue()) == (hashing == "every shard"), (hashing, terminal.getvalue())
    monkeypatch.undo()
    capsys.readouterr()
    assert main(["hash", "--no-cache", "--scheduler", "none", str(folder)]) == 0
    assert capsys.readouterr().err == ""
