"""Data snapshots and ``tdprov checkout``: exact bytes back after the working copy changed."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from prov_common.cli import main
from prov_common.errors import BadInputError, VerificationError
from prov_common.hashing import hash_bytes, hash_dataframe, hash_path
from prov_common.store import ObjectNotFoundError, open_store
from prov_common.store.snapshots import checkout, index_key, object_key, snapshot_bytes, snapshot_path


@pytest.fixture
def parquet(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    df = pd.DataFrame({"id": [1, 2, 3], "text": ["a", "b", None], "label": [0.5, 1.5, 2.5]})
    path = tmp_path / "work" / "train.parquet"
    path.parent.mkdir()
    df.to_parquet(path, index=False)
    return path, df


def test_table_snapshot_restores_exact_bytes_by_table_and_file_digest(store_uri: str, parquet, tmp_path: Path) -> None:
    path, df = parquet
    store = open_store(store_uri)
    original = path.read_bytes()
    digest = snapshot_path(store, path)
    assert digest == hash_dataframe(df).digest == hash_path(path).digest  # the digest lineage records
    file_digest = hash_bytes(original).digest
    assert store.get(object_key(file_digest)) == original
    assert store.exists(index_key(digest))
    assert snapshot_path(store, path) == digest  # deduplicated: the second snapshot is a no-op

    df.assign(label=df.label * 2).to_parquet(path, index=False)  # the working copy moves on
    assert path.read_bytes() != original
    with pytest.raises(BadInputError):
        checkout(store, digest, path)  # will not replace a file unless asked
    assert checkout(store, digest, path, force=True, verify_table=True) == path
    assert path.read_bytes() == original
    out = tmp_path / "restored"
    out.mkdir()
    assert checkout(store, digest, out).read_bytes() == original  # a folder: the recorded name is kept
    assert (out / "train.parquet").exists()
    assert checkout(store, file_digest, tmp_path / "by-file.parquet").read_bytes() == original
    assert sorted(p.name for p in out.iterdir()) == ["train.parquet"]


@pytest.mark.parametrize("name", ["FILE", "train.bin", "train.pq"])
def test_table_restored_to_a_name_of_another_kind_is_verified_as_the_recorded_table(store_uri: str, parquet, tmp_path: Path,
                                                                                   name: str) -> None:
    """``-o FILE``: the restored bytes are checked as the table the snapshot recorded (its file's format), not by
    the suffix the user chose, which would report an intact snapshot as another version's data."""
    path, _df = parquet
    store = open_store(store_uri)
    digest = snapshot_path(store, path)
    assert checkout(store, digest, tmp_path / name).read_bytes() == path.read_bytes()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def test_a_table_snapshotted_in_one_format_is_not_restored_under_the_suffix_of_another(tmp_path: Path, parquet,
                                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """The same table as CSV and as Parquet has one table digest and one snapshot (the first file given): restoring it
    to ``x.csv`` wrote Parquet bytes there and said only "restored"; it is refused, saying the snapshot's format."""
    path, df = parquet
    csv = tmp_path / "work" / "vendor.csv"
    df.to_csv(csv, index=False)
    store = open_store(tmp_path / "store")
    digest = snapshot_path(store, path)
    assert snapshot_path(store, csv) == digest  # the same table: the Parquet file's index entry is kept
    assert main(["checkout", digest, "-o", str(tmp_path / "restored.csv"), "--store", store.uri]) == 2
    err = capsys.readouterr().err
    assert (f"the snapshot of {digest} is a Parquet file (train.parquet, the first file of this table snapshotted); "
            f"'{tmp_path / 'restored.csv'}' ends in .csv") in err, err
    assert "Fix: restore it to a name ending in .parquet or into a folder (it keeps the name train.parquet)" in err
    assert not (tmp_path / "restored.csv").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    with pytest.raises(BadInputError, match="is a Parquet file"):
        checkout(store, digest, tmp_path / "restored.jsonl")
    assert main(["checkout", digest, "-o", str(tmp_path / "restored"), "--store", store.uri]) == 0  # no table suffix
    assert capsys.readouterr().out == f"restored {digest} to {tmp_path / 'restored'} (a Parquet file, as snapshotted: train.parquet)\n"
    assert main(["checkout", digest, "-o", str(tmp_path / "restored.parquet"), "--store", store.uri]) == 0
    assert capsys.readouterr().out == f"restored {digest} to {tmp_path / 'restored.parquet'}\n"
    assert (tmp_path / "restored.parquet").read_bytes() == path.read_bytes()


def test_file_snapshots_and_bytes(store_uri: str, tmp_path: Path) -> None:
    store = open_store(store_uri)
    model = tmp_path / "weights.bin"
    model.write_bytes(b"\x00\x01" * 5000)
    digest = snapshot_path(store, model)
    assert digest == hash_bytes(model.read_bytes()).digest and not list(store.list("objects/index/"))
    assert snapshot_bytes(store, b"tokenizer") == hash_bytes(b"tokenizer").digest
    assert checkout(store, hash_bytes(b"tokenizer").digest, tmp_path / "tok").read_bytes() == b"tokenizer"


def test_damaged_snapshot_is_refused_and_nothing_is_written(store_uri: str, parquet, tmp_path: Path) -> None:
    path, _ = parquet
    store = open_store(store_uri)
    digest = snapshot_path(store, path)
    key = object_key(hash_bytes(path.read_bytes()).digest)
    damaged = bytearray(path.read_bytes())
    damaged[100] ^= 0xFF
    if store_uri.startswith("s3://"):  # someone with raw bucket access overwrites the object
        import boto3

        bucket, prefix = store_uri[5:].split("/", 1)
        boto3.client("s3").put_object(Bucket=bucket, Key=f"{prefix}/{key}", Body=bytes(damaged))
    else:
        (Path(store_uri) / key).write_bytes(bytes(damaged))
    target = tmp_path / "out.parquet"
    with pytest.raises(VerificationError) as info:
        checkout(store, digest, target)
    assert key in str(info.value)
    assert not target.exists() and list(tmp_path.glob(".out.parquet*")) == []


def test_unknown_or_malformed_digest(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s")
    with pytest.raises(ObjectNotFoundError) as info:
        checkout(store, "blake3:" + "0" * 64, tmp_path / "x")
    assert "blake3:" + "0" * 64 in str(info.value)
    assert info.value.fix.startswith(  # it said copies are kept only by writers with snapshots on
        "a copy is kept only by a run that writes the dataset with snapshots on (TDPROV_SNAPSHOT, or snapshot=True on the "
        "asset or task), or by 'tdprov snapshot PATH' while the data still holds these bytes"), info.value.fix
    for bad in ("sha256:" + "0" * 64, "blake3:xyz", "../../etc/passwd", "blake3:" + "0" * 63):
        with pytest.raises(BadInputError):
            checkout(store, bad, tmp_path / "x")


def test_checkout_cli(tmp_path: Path, parquet, capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = parquet
    store = open_store(tmp_path / "store")
    digest = snapshot_path(store, path)
    original = path.read_bytes()
    path.write_bytes(b"changed")
    assert main(["checkout", digest, "-o", str(path), "--store", store.uri]) == 2  # exists, no --force
    assert "--force" in capsys.readouterr().err
    assert main(["checkout", digest, "-o", str(path), "--force", "--store", store.uri]) == 0
    assert path.read_bytes() == original and digest in capsys.readouterr().out
    assert main(["checkout", "blake3:" + "1" * 64, "-o", str(tmp_path / "y"), "--store", store.uri]) == 2
    (tmp_path / "store" / object_key(hash_bytes(original).digest)).write_bytes(b"tampered")
    assert main(["checkout", digest, "-o", str(tmp_path / "z.parquet"), "--store", store.uri]) == 1


@pytest.mark.parametrize("name", ["ABSOLUTE", "../outside.csv", "a/b.csv", "..", ""])
def test_a_snapshot_index_naming_a_path_restores_nothing_outside_the_folder(tmp_path: Path, name: str) -> None:
    """The snapshot index is unsigned (a writer can put one under objects/): a name that is a path must not
    make checkout write outside ``-o`` (it wrote to an absolute path, or up with ``..``)."""
    import json

    name = str(tmp_path / "abs-outside.csv") if name == "ABSOLUTE" else name
    store = open_store(str(tmp_path / "store"))
    evil = tmp_path / "evil.sh"
    evil.write_bytes(b"echo pwned\n")
    obj = snapshot_bytes(store, evil.read_bytes())
    table = "blake3:" + "ab" * 32
    store.put(index_key(table), json.dumps({"bytes": 11, "format": "tdprov-snapshot-index/1", "name": name, "object": obj,
                                            "table": table, "tableFormat": "csv"}).encode())
    out = tmp_path / "deep" / "out"
    out.mkdir(parents=True)
    with pytest.raises(VerificationError, match="is not a plain file name"):
        checkout(store, table, out)
    assert list(out.iterdir()) == [] and not (tmp_path / "deep" / "outside.csv").exists() and not (tmp_path / "abs-outside.csv").exists()


def test_an_index_entry_larger_than_any_tdprov_writes_is_refused_not_read_whole(tmp_path: Path) -> None:
    """The index entry is unsigned: one grown past INDEX_LIMIT is refused, naming it, before checkout holds it in
    memory (it was read whole)."""
    from prov_common.store.errors import ObjectTooLargeError
    from prov_common.store.snapshots import INDEX_LIMIT

    store = open_store(str(tmp_path / "store"))
    table = "blake3:" + "ab" * 32
    (tmp_path / "store" / index_key(table)).parent.mkdir(parents=True, exist_ok=True)
    with open(tmp_path / "store" / index_key(table), "wb") as f:
        f.truncate(INDEX_LIMIT + 1)
    with pytest.raises(ObjectTooLargeError, match=index_key(table)):
        checkout(store, table, tmp_path / "out")
    assert not (tmp_path / "out").exists()
