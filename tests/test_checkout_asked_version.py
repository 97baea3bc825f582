"""``tdprov checkout DIGEST`` gives back the version DIGEST or nothing: the snapshot index under ``objects/index/`` is
unsigned, so anyone who can write the store (no key needed) can point it at another intact object. Checkout
re-hashes what it restored against the digest asked for, before anything is written."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from prov_common.cli import main
from prov_common.hashing import hash_path
from prov_common.store import open_store
from prov_common.store.snapshots import (SnapshotIndex, SnapshotSet, index_key, object_key, snapshot_bytes, snapshot_files,
                                         snapshot_path)


def _overwrite(store_uri: str, key: str, data: bytes) -> None:
    """Write ``key`` as someone with raw write access to the store would (no key, no tdprov)."""
    if store_uri.startswith("s3://"):
        import boto3

        bucket, prefix = store_uri[5:].split("/", 1)
        boto3.client("s3").put_object(Bucket=bucket, Key=f"{prefix}/{key}", Body=data)
    else:
        path = Path(store_uri) / key
        path.chmod(0o644)
        path.write_bytes(data)


def _versioned(store_uri: str) -> tuple[Any, str, str]:
    """Turn versioning on for the bucket of the S3 store ``store_uri``: a boto3 client, the bucket and the store's prefix."""
    import boto3

    bucket, prefix = store_uri[5:].split("/", 1)
    client = boto3.client("s3")
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return client, bucket, prefix


def _frames(tmp_path: Path) -> tuple[Path, Path]:
    good, other = tmp_path / "work" / "good.parquet", tmp_path / "work" / "other.parquet"
    good.parent.mkdir()
    pd.DataFrame({"id": [1, 2, 3]}).to_parquet(good, index=False)
    pd.DataFrame({"id": [666]}).to_parquet(other, index=False)
    return good, other


def _checkout(digest: str, out: Path, store_uri: str, capsys: Any, *extra: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["checkout", digest, "-o", str(out), "--store", store_uri, *extra])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_an_index_pointed_at_another_table_restores_nothing(store_uri: str, tmp_path: Path, capsys: Any) -> None:
    good, other = _frames(tmp_path)
    store = open_store(store_uri)
    digest, other_digest = snapshot_path(store, good), snapshot_path(store, other)
    kept = SnapshotIndex.from_json(store.get(index_key(digest)), index_key(digest))
    swapped = SnapshotIndex.from_json(store.get(index_key(other_digest)), index_key(other_digest)).object
    _overwrite(store_uri, index_key(digest), SnapshotIndex(digest, swapped, kept.bytes, kept.name, kept.table_format).to_json())

    out = tmp_path / "out"
    out.mkdir()
    code, said = _checkout(digest, out / "restored.parquet", store_uri, capsys)
    assert code == 1, said
    assert other_digest in said and digest in said and "replica" in said  # what was found, what was asked, the fix
    assert list(out.iterdir()) == []  # nothing written, no temporary file left
    code, said = _checkout(digest, out / "restored.parquet", store_uri, capsys, "--verify-table")  # the old flag still works
    assert code == 1 and list(out.iterdir()) == []
    working = good.read_bytes()
    code, said = _checkout(digest, good, store_uri, capsys, "--force")  # the fix a digest mismatch offers
    assert code == 1 and good.read_bytes() == working and sorted(p.name for p in good.parent.iterdir()) == ["good.parquet", "other.parquet"]


def test_a_set_index_pointed_at_another_shard_restores_nothing(store_uri: str, tmp_path: Path, capsys: Any) -> None:
    folder = tmp_path / "corpus"
    folder.mkdir()
    for i in range(2):
        pd.DataFrame({"id": [2 * i, 2 * i + 1]}).to_parquet(folder / f"part-{i}.parquet", index=False)
    _, other = _frames(tmp_path)
    store = open_store(store_uri)
    from prov_common.hashing import hash_shards

    version = hash_shards(str(folder), cache=False, scheduler="none").digest
    kept = snapshot_files(store, version, folder)
    other_object = SnapshotIndex.from_json(store.get(index_key(snapshot_path(store, other))), "x").object
    (a, oa, ba), (b, _, _) = kept.files
    _overwrite(store_uri, index_key(version), SnapshotSet(version, ((a, oa, ba), (b, other_object, other.stat().st_size))).to_json())

    out = tmp_path / "out"
    code, said = _checkout(version, out, store_uri, capsys)
    assert code == 1, said
    assert version in said and "replica" in said
    assert not out.exists() or list(out.rglob("*")) == []  # not even the genuine shard is written

    # every object genuine, paths swapped: each file verifies, the version does not
    _overwrite(store_uri, index_key(version), SnapshotSet(version, ((a, kept.files[1][1], kept.files[1][2]), (b, oa, ba))).to_json())
    code, said = _checkout(version, out, store_uri, capsys)
    assert code == 1 and (not out.exists() or list(out.rglob("*")) == [])


@pytest.mark.parametrize("field, value, said", [
    ("object", "../../etc/passwd", "object '../../etc/passwd' is not a blake3 digest"),
    ("object", "blake3:" + "0" * 63 + "/", "object 'blake3:" + "0" * 63 + "/' is not a blake3 digest"),
    ("tableFormat", "../x", "tableFormat '../x' is none of parquet, csv, jsonl"),
    ("name", "n" * 3000, f"name '{'n' * 40}'… (3,000 bytes) is longer than a file name can be (255 bytes)"),
    ("name", "名" * 100, f"name '{'名' * 40}'… (300 bytes) is longer than a file name can be (255 bytes)"),  # 100 characters
])
def test_an_index_entry_naming_no_object_or_format_is_a_malformed_entry(field: str, value: str, said: str, tmp_path: Path,
                                                                       capsys: Any) -> None:
    """An index entry whose object is no digest was refused as if the user had given it ("'../../etc/passwd' is not a
    blake3 digest. Fix: pass a digest like ...", exit 2), and one whose tableFormat was made up was told as "a ../x
    file", and one whose name no file system holds (3,000 characters, or 100 CJK characters: 300 bytes) was told as
    "cannot use OUT/nnn...: File name too long. Fix: check the path", blaming -o: each is a malformed snapshot index named by its key (exit 1), with nothing written."""
    good, _ = _frames(tmp_path)
    store_uri = str(tmp_path / "store")
    store = open_store(store_uri)
    digest = snapshot_path(store, good)
    index = json.loads(store.get(index_key(digest)))
    index[field] = value
    _overwrite(store_uri, index_key(digest), json.dumps(index).encode())
    out = tmp_path / "out"
    out.mkdir()
    code, told = _checkout(digest, out, store_uri, capsys)  # into a folder: the file takes the index entry's name
    assert code == 1 and f"snapshot index '{index_key(digest)}' is malformed ({said}" in told and "pass a digest" not in told, told
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("path, said", [
    ("a/" + "n" * 3000 + "/x.parquet",
     f"path 'a/{'n' * 38}'… has a part '{'n' * 40}'… (3,000 bytes) is longer than a file name can be (255 bytes))"),
    ("a/" + "é" * 128 + "/x.parquet",  # 128 characters, 256 bytes
     f"path 'a/{'é' * 38}'… has a part '{'é' * 40}'… (256 bytes) is longer than a file name can be (255 bytes))"),
    ("../x.parquet", "path '../x.parquet' is not a relative path inside the version's folder)"),
])
def test_a_set_index_path_no_folder_holds_is_a_malformed_entry(path: str, said: str, tmp_path: Path, capsys: Any) -> None:
    """A path of a sharded version's index entry with a part longer than a file name can be was told as "cannot use
    OUT/a/nnn...: File name too long. Fix: check the path" (exit 2), blaming -o, and one leaving the folder carried its
    own full stop and fix inside the brackets: each is a malformed snapshot index named by its key (exit 1)."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    for i in range(2):
        pd.DataFrame({"id": [2 * i, 2 * i + 1]}).to_parquet(folder / f"part-{i}.parquet", index=False)
    store_uri = str(tmp_path / "store")
    store = open_store(store_uri)
    from prov_common.hashing import hash_shards

    version = hash_shards(str(folder), cache=False, scheduler="none").digest
    snapshot_files(store, version, folder)
    index = json.loads(store.get(index_key(version)))
    index["files"][0]["path"] = path
    _overwrite(store_uri, index_key(version), json.dumps(index).encode())
    out = tmp_path / "out"
    code, told = _checkout(version, out, store_uri, capsys)
    assert code == 1 and f"snapshot index '{index_key(version)}' is malformed ({said}. Fix: restore it from a replica" in told, told
    assert not out.exists() or list(out.rglob("*")) == []


def test_the_genuine_versions_still_restore(store_uri: str, tmp_path: Path, capsys: Any) -> None:
    good, _ = _frames(tmp_path)
    store = open_store(store_uri)
    digest = snapshot_path(store, good)
    code, said = _checkout(digest, tmp_path / "back.parquet", store_uri, capsys)
    assert code == 0, said
    assert hash_path(tmp_path / "back.parquet").digest == digest and (tmp_path / "back.parquet").read_bytes() == good.read_bytes()


def test_a_digest_two_datasets_hold_restores_with_or_without_its_algorithm(tmp_path: Path, capsys: Any) -> None:
    """The help takes a digest's first 12 hex digits 'with or without blake3:': with it, a version two datasets hold
    was restored (a snapshot is of bytes, whichever dataset held them); without it, the same digest was refused as
    naming two datasets."""
    import uuid

    from bundle_support import dataset, event
    from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport

    good, _ = _frames(tmp_path)
    store_uri = str(tmp_path / "store")
    digest = snapshot_path(open_store(store_uri), good)
    run_id = str(uuid.uuid4())
    transport = ProvenanceTransport(ProvenanceConfig(store=store_uri, strict=True))
    transport.emit(event(run_id, "START", "2026-03-01T10:00:00Z"))
    transport.emit(event(run_id, "COMPLETE", "2026-03-01T10:00:01Z",
                         outputs=[dataset("file", str(good), digest), dataset("inmemory://", "copy", digest)]))
    for ref in (digest[:19], digest[7:19], digest[7:]):
        out = tmp_path / f"back-{len(ref)}-{ref[0]}.parquet"
        code, said = _checkout(ref, out, store_uri, capsys)
        assert code == 0 and said == f"restored {digest} to {out}\n", (ref, said)
        assert hash_path(out).digest == digest


def test_a_registered_source_version_is_named_as_lineage_names_it(tmp_path: Path, capsys: Any) -> None:
    """A source registered (and snapshotted) at good.parquet where a run recorded the dataset at another digest:
    'tdprov lineage' names it by its short digest and by LOCATION@DIGEST, where 'tdprov checkout' said 'no recorded
    version's digest starts with' and 'has no recorded version at' (exit 2). Checkout restores it by either, as it
    does by the whole digest; the dataset alone still means the run's version."""
    from test_audit_support import dataset, digest as some_digest, run_events, seal

    good, _ = _frames(tmp_path)
    store_uri = str(tmp_path / "store")
    digest = snapshot_path(open_store(store_uri), good)
    seal(open_store(store_uri), run_events("job", [dataset(str(good), some_digest("older"))], []))
    assert main(["source", "add", str(good), "--name", "good", "--license", "MIT", "--issuer", "Acme", "--store", store_uri]) == 0
    short = digest[:len("blake3:") + 12]
    assert main(["lineage", f"{good}@{short}", "--store", store_uri]) == 0
    for ref in (short, f"{good}@{short}"):
        out = tmp_path / f"back-{len(ref)}.parquet"
        code, said = _checkout(ref, out, store_uri, capsys)
        assert code == 0 and said == f"restored {digest} to {out}\n", (ref, said)
        assert out.read_bytes() == good.read_bytes()
    code, said = _checkout(str(good), tmp_path / "run.parquet", store_uri, capsys)
    assert code == 2 and f"no snapshot of {some_digest('older')}" in said, said


def test_a_source_record_that_does_not_verify_is_named_and_makes_checkout_exit_1(tmp_path: Path, capsys: Any) -> None:
    """Checkout of a short digest reads the registered sources, as lineage does: a source record that does not verify
    is left out, named on stderr, and the checkout (the version restored) exits 1, a finding; no test took that path."""
    good, _ = _frames(tmp_path)
    store_uri = str(tmp_path / "store")
    digest = snapshot_path(open_store(store_uri), good)
    for name in ("good", "altered"):
        assert main(["source", "add", str(good), "--name", name, "--license", "MIT", "--issuer", "Acme",
                     "--store", store_uri]) == 0
    [altered] = (tmp_path / "store" / "sources" / "altered").glob("*.json")
    altered.write_bytes(altered.read_bytes().replace(b'"payload":"ey', b'"payload":"eY'))
    out = tmp_path / "back.parquet"
    code, said = _checkout(digest[:len("blake3:") + 12], out, store_uri, capsys)
    assert code == 1 and f"restored {digest} to {out}" in said, said
    assert "tdprov checkout: left out source record 'sources/altered/" in said and "the version was found without it" in said, said
    assert out.read_bytes() == good.read_bytes()


def test_a_source_record_that_does_not_verify_is_named_when_the_lookup_is_refused(tmp_path: Path, capsys: Any) -> None:
    """Checkout of a location whose one source record does not verify was refused ('no dataset or version') without a
    word of that record, which checkout named only after a lookup that succeeded: it is named before the refusal, as
    'tdprov contains' names it."""
    good, _ = _frames(tmp_path)
    store_uri = str(tmp_path / "store")
    snapshot_path(open_store(store_uri), good)
    assert main(["source", "add", str(good), "--name", "altered", "--license", "MIT", "--issuer", "Acme",
                 "--store", store_uri]) == 0
    [altered] = (tmp_path / "store" / "sources" / "altered").glob("*.json")
    altered.write_bytes(altered.read_bytes().replace(b'"payload":"ey', b'"payload":"eY'))
    code, said = _checkout(str(good), tmp_path / "back.parquet", store_uri, capsys)
    assert code == 2 and "tdprov checkout: left out source record 'sources/altered/" in said, said
    assert f"'{good}' was looked up without it" in said and "no dataset or version" in said, said
    assert not (tmp_path / "back.parquet").exists()


def test_no_verify_table_is_the_documented_escape(tmp_path: Path, capsys: Any) -> None:
    good, other = _frames(tmp_path)
    store_uri = str(tmp_path / "store")
    store = open_store(store_uri)
    digest, other_digest = snapshot_path(store, good), snapshot_path(store, other)
    index = json.loads(store.get(index_key(digest)))
    index["object"] = json.loads(store.get(index_key(other_digest)))["object"]
    _overwrite(store_uri, index_key(digest), json.dumps(index).encode())
    code, _ = _checkout(digest, tmp_path / "unchecked.parquet", store_uri, capsys, "--no-verify-table")
    assert code == 0 and hash_path(tmp_path / "unchecked.parquet").digest == other_digest  # what the flag trusts: the index


def test_checkout_help_names_its_argument_as_it_is_written(capsys: Any) -> None:
    """The help's exit codes speak of the argument as DATASET|DIGEST, its name in the usage line: it said 'no snapshot
    of DIGEST', a name the command has nowhere else (and 'VERSION', where the other verbs said 'DATASET|DIGEST')."""
    with pytest.raises(SystemExit) as done:
        main(["checkout", "--help"])
    assert done.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "[--store STORE] DATASET|DIGEST Write the bytes that were snapshotted as DATASET|DIGEST to PATH" in out
    assert "2 if there is no snapshot of DATASET|DIGEST, PATH exists" in out
    assert "VERSION" not in out


def test_a_snapshot_hidden_by_a_delete_marker_restores_the_version_kept_under_it(s3_store_uri: str, tmp_path: Path,
                                                                                  capsys: Any) -> None:
    """On a versioned (Object Lock) bucket, a snapshot's object deleted without a version id, which Object Lock does not
    refuse: a delete marker hides it and its bytes stay as the version under it. Checkout read the version kept of an
    overwritten object, but took a hidden one as gone: 'no object', to check the key with 'tdprov runs' (a table), and
    'no snapshot' of a file's digest. Both restore the version kept whose bytes hash to the digest; one hidden with no
    such version is named so; an index entry hidden so is named with its marker and the fix that removes it."""
    client, bucket, prefix = _versioned(s3_store_uri)
    good, _ = _frames(tmp_path)
    store = open_store(s3_store_uri)
    table = snapshot_path(store, good)
    file_digest = snapshot_bytes(store, b"kept bytes\n")
    replaced = snapshot_bytes(store, b"replaced, then deleted\n")  # a forgery over it: the version kept that hashes is read
    lost = snapshot_bytes(store, b"lost\n")  # its bytes deleted (no Object Lock here), a forgery put and hidden
    [version] = client.list_object_versions(Bucket=bucket, Prefix=f"{prefix}/{object_key(lost)}")["Versions"]
    client.delete_object(Bucket=bucket, Key=f"{prefix}/{object_key(lost)}", VersionId=version["VersionId"])
    for key in (object_key(replaced), object_key(lost)):
        _overwrite(s3_store_uri, key, b"forged\n")
    hidden = [object_key(SnapshotIndex.from_json(store.get(index_key(table)), index_key(table)).object),
              object_key(file_digest), object_key(replaced), object_key(lost)]
    for key in hidden:
        client.delete_object(Bucket=bucket, Key=f"{prefix}/{key}")
    for digest, name, data in ((table, "back.parquet", good.read_bytes()), (file_digest, "back.bin", b"kept bytes\n"),
                               (replaced, "replaced.bin", b"replaced, then deleted\n")):
        code, said = _checkout(digest, tmp_path / name, s3_store_uri, capsys)
        assert code == 0 and (tmp_path / name).read_bytes() == data, said
    code, said = _checkout(lost, tmp_path / "lost.bin", s3_store_uri, capsys)
    assert code == 1 and not (tmp_path / "lost.bin").exists(), said
    assert (f"snapshot object '{hidden[3]}' in {store.describe()} is hidden by a delete marker and no version kept under it "
            f"hashes to {lost}. Fix: the stored copy is damaged; restore it from a replica") in said, said
    marker = client.delete_object(Bucket=bucket, Key=f"{prefix}/{index_key(table)}")["VersionId"]
    code, said = _checkout(table, tmp_path / "again.parquet", s3_store_uri, capsys)
    assert code == 2 and (f"the snapshot index '{index_key(table)}' of {table} in {store.describe()} is hidden by a delete "
                          f"marker. Fix: a delete marker (version id '{marker}') hides the object on this versioned bucket: "
                          "remove the marker") in said and "then check out again" in said, said


def test_the_kept_version_of_an_overwritten_object_is_hashed_as_it_streams(s3_store_uri: str, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Checkout of an object overwritten on a versioned (Object Lock) bucket read each version kept whole into memory,
    so whoever can put versions (or a large snapshot overwritten a few times) made it use memory in proportion to them:
    each version is now hashed as it streams to the file, one chunk of the store's reads at a time."""
    from prov_common.store import _base
    from prov_common.store.snapshots import checkout

    _versioned(s3_store_uri)
    store = open_store(s3_store_uri)
    kept = bytes(range(256)) * 1024  # 256 KiB
    digest = snapshot_bytes(store, kept)
    for n in (2, 3):  # larger forgeries over it, the newest first to be read
        _overwrite(s3_store_uri, object_key(digest), b"forged " * (40_000 * n))
    reads: list[int] = []

    class Counted:
        def __init__(self, body: Any) -> None:
            self._body = body

        def read(self, n: int | None = None) -> bytes:
            data = self._body.read(n)
            reads.append(len(data))
            return data

        def close(self) -> None:
            self._body.close()

    def count_reads(parsed: dict, **_: Any) -> None:
        parsed["Body"] = Counted(parsed["Body"])

    store.client.meta.events.register("after-call.s3.GetObject", count_reads)
    monkeypatch.setattr(_base, "CHUNK", 64 << 10)
    out = checkout(store, digest, tmp_path / "back.bin")
    assert out.read_bytes() == kept and sorted(p.name for p in tmp_path.iterdir()) == ["back.bin"]
    assert sum(reads) >= len(kept) + 2 * 280_000 and max(reads) <= 64 << 10, max(reads)  # every version read, a chunk a time


def test_checkout_of_a_key_overwritten_many_times_reads_a_bounded_number_of_versions(
        s3_store_uri: str, tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Checkout of a snapshot object overwritten on a versioned bucket listed every version of the key and read each
    until one hashed to the digest: a key overwritten 10,000 times cost 10,000 reads. Versions of the size sealed
    (a table's index and a set of files name it) are read first, newest first, at most VERSIONS_READ of them, from one
    listing of the key's versions; when none of those holds the bytes, the error names what was left unread and how to
    find the version among all of them."""
    from prov_common.store.markers import VERSIONS_READ
    from prov_common.store.s3 import MARKER_LISTING

    client, bucket, prefix = _versioned(s3_store_uri)
    good, _ = _frames(tmp_path)
    store = open_store(s3_store_uri)
    table = snapshot_path(store, good)
    table_key = object_key(SnapshotIndex.from_json(store.get(index_key(table)), index_key(table)).object)
    file_digest = snapshot_bytes(store, b"kept bytes\n")
    overwrites = VERSIONS_READ + 15
    for i in range(overwrites):  # forgeries of another size over the table, of the same size over the file
        _overwrite(s3_store_uri, table_key, b"forged %d\n" % i * 3)
        _overwrite(s3_store_uri, object_key(file_digest), b"forged %03d\n" % i)
    asked: list[str] = []

    def count(model: Any, params: dict, **_: Any) -> None:
        asked.append(model.name + ("@version" if params.get("VersionId") else ""))

    from prov_common.store import s3

    client_of = s3.fresh_s3_client
    monkeypatch.setattr(s3, "fresh_s3_client", lambda config: _registered(client_of(config), count))  # the CLI's store's client
    code, said = _checkout(table, tmp_path / "back.parquet", s3_store_uri, capsys)
    assert code == 0 and (tmp_path / "back.parquet").read_bytes() == good.read_bytes(), said
    assert asked.count("GetObject@version") == 1 and asked.count("ListObjectVersions") == 1, asked
    asked.clear()
    code, said = _checkout(file_digest, tmp_path / "back.bin", s3_store_uri, capsys)
    assert code == 1 and not (tmp_path / "back.bin").exists(), said
    assert asked.count("GetObject@version") == VERSIONS_READ and asked.count("ListObjectVersions") == 1, asked
    said = " ".join(said.split())
    assert (f"snapshot object '{object_key(file_digest)}' in {store.describe()} hashes to" in said
            and f"none of the {VERSIONS_READ} newest versions kept that were read hashes to {file_digest} "
                f"({overwrites - VERSIONS_READ} more were not read)" in said), said
    assert f"aws s3api list-object-versions --bucket {bucket} --prefix {prefix}/{object_key(file_digest)}" in said, said
    for i in range(MARKER_LISTING):  # more versions than one listing shows: the error says so, the requests stay as many
        _overwrite(s3_store_uri, object_key(file_digest), b"forged %03d\n" % i)
    asked.clear()
    code, said = _checkout(file_digest, tmp_path / "back.bin", s3_store_uri, capsys)
    assert code == 1 and asked.count("GetObject@version") == VERSIONS_READ and asked.count("ListObjectVersions") == 1, asked
    assert (f"({MARKER_LISTING - 1 - VERSIONS_READ} more listed and those past one listing of the key were not read)"
            in " ".join(said.split())), said


def _registered(client: Any, handler: Any) -> Any:
    client.meta.events.register("before-parameter-build.s3", handler)
    return client
