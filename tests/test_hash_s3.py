"""One ``s3://`` reader for ``hash_path`` (prov_common.hashing.remote), against moto's S3 server on localhost:
an object hashes to the digest of the same local file, from the CLI, the Dagster resource and storage,
and the Airflow listener's capture; boto3 clients are reused per endpoint and credentials."""
from __future__ import annotations

import hashlib

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from prov_common.cli import main
from prov_common.hashing import hash_dataframe, hash_path
from prov_common.hashing.remote import open_s3, s3_client, s3_object_size, split_s3_uri, versioned_uri
from prov_common.errors import BadInputError

FRAME = pd.DataFrame({"id": [1, 2, 3], "name": ["a", "b", None], "score": [0.5, -0.0, float("nan")]})


@pytest.fixture
def objects(s3_server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """The same bytes as local files and as S3 objects: Parquet (spooled, readers seek), CSV, and a plain file."""
    s3_server.point(monkeypatch)
    bucket = s3_server.create_bucket()
    FRAME.to_parquet(tmp_path / "t.parquet")
    FRAME.to_csv(tmp_path / "t.csv", index=False)
    (tmp_path / "notes.txt").write_bytes(b"not a table\n" * 1000)
    found = {}
    for name in ("t.parquet", "t.csv", "notes.txt"):
        s3_server.client().put_object(Bucket=bucket, Key=f"data/{name}", Body=(tmp_path / name).read_bytes())
        found[name] = (tmp_path / name, f"s3://{bucket}/data/{name}")
    return found


def test_s3_object_hashes_like_the_local_file(objects: dict[str, tuple[Path, str]]) -> None:
    for local, uri in objects.values():
        remote, here = hash_path(uri), hash_path(local)
        assert (remote.kind, remote.digest, remote.bytes) == (here.kind, here.digest, here.bytes), uri
        assert hash_path(uri.replace("s3://", "s3a://")).digest == here.digest
    assert hash_path(objects["t.parquet"][1]).digest == hash_dataframe(FRAME).digest
    assert s3_object_size(objects["notes.txt"][1]) == 12000


def test_a_changed_object_gets_another_digest(objects: dict[str, tuple[Path, str]], s3_server) -> None:
    local, uri = objects["t.csv"]
    bucket, key = split_s3_uri(uri)
    s3_server.client().put_object(Bucket=bucket, Key=key, Body=local.read_bytes().replace(b"0.5", b"0.6"))
    assert hash_path(uri).digest != hash_path(local).digest


def test_cli_hash_of_s3_uri(objects: dict[str, tuple[Path, str]], capsys: pytest.CaptureFixture[str]) -> None:
    local, uri = objects["t.parquet"]
    assert main(["hash", uri, str(local)]) == 0
    (remote_digest, _), (local_digest, _) = (line.split("  ") for line in capsys.readouterr().out.splitlines())
    assert remote_digest == local_digest


def test_airflow_capture_hashes_s3_like_the_local_file(objects: dict[str, tuple[Path, str]]) -> None:
    from prov_airflow.capture import hash_one
    from prov_airflow.settings import ListenerLimits

    for local, uri in objects.values():
        capture = hash_one(uri, ListenerLimits(), 30.0)
        assert capture.status == "hashed", capture.message
        assert capture.digest.digest == hash_path(local).digest
        bucket, key = split_s3_uri(uri)  # the SHA-256 of the object's bytes, for the in-toto subjects
        assert capture.digest.file_sha256 == hashlib.sha256(s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()).hexdigest()
    big = hash_one(objects["notes.txt"][1], ListenerLimits(max_bytes=100), 30.0)
    assert big.status == "too_large" and "12000 bytes" in big.message
    gone = hash_one(objects["notes.txt"][1] + ".gone", ListenerLimits(), 30.0)
    assert gone.status == "missing"


def _s3_shards(s3_server, bucket: str, tmp_path: Path) -> Path:
    """Three Parquet shards under ``corpus/`` of ``bucket``, and their copies in a local folder (returned)."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    for i in range(3):
        FRAME.assign(id=FRAME["id"] + 10 * i).to_parquet(folder / f"part-{i}.parquet")
        s3_server.client().put_object(Bucket=bucket, Key=f"corpus/part-{i}.parquet", Body=(folder / f"part-{i}.parquet").read_bytes())
    return folder


@contextmanager
def _listings() -> Iterator[list[str]]:
    """The prefix of each ListObjectsV2 sent within the block by the client tdprov lists data through."""
    listings: list[str] = []

    def count(params: dict, **_: object) -> None:
        listings.append(params["Prefix"])

    events = s3_client().meta.events
    events.register("provide-client-params.s3.ListObjectsV2", count)
    try:
        yield listings
    finally:
        events.unregister("provide-client-params.s3.ListObjectsV2", count)


def test_airflow_capture_lists_a_sharded_prefix_once(s3_server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The listener's size check and the hashing share one listing of an S3 prefix of shards (it was listed twice)."""
    from prov_airflow.capture import hash_one
    from prov_airflow.settings import ListenerLimits
    from prov_common.hashing.shards import hash_shards

    s3_server.point(monkeypatch)
    bucket = s3_server.create_bucket()
    folder = _s3_shards(s3_server, bucket, tmp_path)
    with _listings() as listings:
        capture = hash_one(f"s3://{bucket}/corpus/", ListenerLimits(), 30.0)
        too_large = hash_one(f"s3://{bucket}/corpus/", ListenerLimits(max_bytes=100), 30.0)
    assert capture.status == "hashed", capture.message
    assert capture.digest.digest == hash_shards(str(folder), cache=False, scheduler="none").digest
    assert too_large.status == "too_large" and "above [tdprov] max_bytes=100" in too_large.message
    assert listings == ["corpus/", "corpus/"]  # one listing per capture


def test_shards_hashed_here_when_the_scheduler_is_unreachable_are_listed_once(s3_server, monkeypatch: pytest.MonkeyPatch,
                                                                              tmp_path: Path) -> None:
    """A sharded S3 prefix whose Dask scheduler takes no connection is hashed on this machine from the listing
    the first try made (as ProvenanceResource.record hashes it); it was listed again for the second try."""
    from prov_common.hashing import shard_engine
    from prov_common.hashing.shards import hash_shards
    from prov_common.hashing.targets import hash_dataset_here_if_unreachable

    s3_server.point(monkeypatch)
    bucket = s3_server.create_bucket()
    folder = _s3_shards(s3_server, bucket, tmp_path)
    address = "tcp://127.0.0.1:1"  # took no connection just now: refused at once, without a connection timeout
    monkeypatch.setitem(shard_engine._unreachable, address, (time.monotonic(), "connection refused"))
    warnings: list[str] = []
    with _listings() as listings:
        found = hash_dataset_here_if_unreachable(f"s3://{bucket}/corpus/", scheduler=address, setting="dask_scheduler",
                                                 warn=warnings.append, cache=False)
    assert listings == ["corpus/"]
    assert found.digest == hash_shards(str(folder), cache=False, scheduler="none").digest
    assert len(warnings) == 1 and f"dask_scheduler {address!r} cannot be reached" in warnings[0]


def test_a_client_given_for_a_block_reads_the_data_and_keeps_shards_off_dask(s3_server, monkeypatch: pytest.MonkeyPatch,
                                                                            tmp_path: Path) -> None:
    """``s3_clients_from``: objects, listings and the SHA-256 read in a helper thread go through the given
    client, not the AWS environment (which here reaches nothing); shards are hashed in this process, since
    Dask workers would not have that client."""
    from conftest import free_port

    from prov_common.hashing.remote import s3_clients_from
    from prov_common.hashing.shards import hash_shards

    bucket, folder = s3_server.create_bucket(), tmp_path / "corpus"
    folder.mkdir()
    for i in range(2):
        FRAME.assign(id=FRAME["id"] + 10 * i).to_csv(folder / f"part-{i}.csv", index=False)
        s3_server.client().put_object(Bucket=bucket, Key=f"corpus/part-{i}.csv", Body=(folder / f"part-{i}.csv").read_bytes())
    s3_server.point(monkeypatch)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(BadInputError):
        hash_shards(f"s3://{bucket}/corpus/", scheduler="none", cache=False)  # the environment reaches nothing
    made = []
    with s3_clients_from(lambda: made.append(1) or s3_server.client()):
        sharded = hash_shards(f"s3://{bucket}/corpus/", scheduler="local", cache=False)
        single = hash_path(f"s3://{bucket}/corpus/part-0.csv", file_sha256=True)
    assert sharded.digest == hash_shards(str(folder), cache=False, scheduler="none").digest and sharded.engine == "in-process"
    assert single.digest == hash_path(folder / "part-0.csv").digest
    assert single.file_sha256 == hashlib.sha256((folder / "part-0.csv").read_bytes()).hexdigest()
    assert made == [1]  # one client, made on first use


def test_dagster_resource_and_storage_read_s3_like_local(objects: dict[str, tuple[Path, str]], tmp_path: Path, s3_server) -> None:
    from prov_dagster import ProvenanceResource
    from prov_dagster.storage import DataLocation

    local, uri = objects["t.csv"]
    recorded = ProvenanceResource(store=str(tmp_path / "store")).record(inputs=[uri], outputs={"features/x": FRAME}, job_name="train")
    assert hash_path(local).digest in recorded.digests.values()
    location = DataLocation(f"s3://{s3_server.create_bucket()}/assets")
    written = location.write_table("features/x.parquet", pa.Table.from_pandas(FRAME, preserve_index=False))
    assert hash_path(written.uri).digest == hash_dataframe(FRAME).digest
    bucket, _, key = written.uri[len("s3://"):].partition("/")
    stored = s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
    assert written.sha256 == hashlib.sha256(stored).hexdigest()  # hashed on the way out, as the object holds it
    loaded = location.read_table("features/x.parquet")
    assert loaded.table.to_pandas().equals(FRAME) and loaded.sha256 == written.sha256


def test_one_client_per_endpoint_and_credentials(s3_server, monkeypatch: pytest.MonkeyPatch) -> None:
    s3_server.point(monkeypatch)
    first = s3_client()
    assert s3_client() is first
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
    other = s3_client()
    assert other is not first and other.meta.endpoint_url == "http://127.0.0.1:9"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "someone-else")
    assert s3_client() is not other
    s3_server.point(monkeypatch)
    assert s3_client() is first
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # a forked task process: its own client, never the parent's pooled connections
        os.write(write, b"own" if s3_client() is not first else b"shared")
        os._exit(0)
    os.waitpid(child, 0)
    assert os.read(read, 16) == b"own"


def test_bad_s3_uris_name_the_uri() -> None:
    for uri in ("s3://bucket-only", "s3://", "https://bucket/key"):
        with pytest.raises(BadInputError, match="is not an S3 object URI"):
            open_s3(uri)


def test_an_s3_key_with_percent_escapes_is_named_as_the_object_it_reads(objects: dict[str, tuple[Path, str]], tmp_path: Path,
                                                                        s3_server) -> None:
    """``s3://b/x%20y.csv`` is the object whose key is ``x%20y.csv`` (the store takes the key as written), not
    ``x y.csv``: a recording names the dataset after the object it hashed, so two objects are two datasets."""
    from prov_dagster import ProvenanceResource

    from prov_common.lineage.naming import dataset_from_uri, dataset_uri

    local, uri = objects["t.csv"]
    bucket, _ = split_s3_uri(uri)
    client = s3_server.client()
    client.put_object(Bucket=bucket, Key="data/x%20y.csv", Body=local.read_bytes())
    client.put_object(Bucket=bucket, Key="data/x y.csv", Body=b"id\n7\n")
    escaped = f"s3://{bucket}/data/x%20y.csv"
    recorded = ProvenanceResource(store=str(tmp_path / "store")).record(outputs=[escaped], job_name="write")
    assert recorded.digests == {"data/x%20y.csv": hash_path(local).digest}
    namespace, name = dataset_from_uri(escaped)
    assert hash_path(dataset_uri(namespace, name)).digest == hash_path(local).digest  # the name leads back to that object
    assert dataset_from_uri(f"s3://{bucket}/data/x y.csv") != (namespace, name)


def test_an_s3_uri_with_a_version_id_is_that_version_of_one_object(objects: dict[str, tuple[Path, str]], tmp_path: Path,
                                                                   s3_server) -> None:
    """``s3://b/k?versionId=V`` (S3's own form, kept in an Airflow Asset URI) is version V of one object, not a
    glob: the hashing reads that version (an older one too), the listener records it, and the dataset is
    the object itself (one identity, whatever the version)."""
    from prov_airflow.capture import hash_one
    from prov_airflow.settings import ListenerLimits

    from prov_common.lineage.naming import dataset_from_uri

    local, uri = objects["t.csv"]
    bucket, _ = split_s3_uri(uri)
    client = s3_server.client()
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    first = client.put_object(Bucket=bucket, Key="data/labels.csv", Body=local.read_bytes())["VersionId"]
    client.put_object(Bucket=bucket, Key="data/labels.csv", Body=b"id,name,score\n9,z,1.0\n")
    older = f"s3://{bucket}/data/labels.csv?versionId={first}"
    assert hash_path(older).digest == hash_path(local).digest != hash_path(f"s3://{bucket}/data/labels.csv").digest
    capture = hash_one(older, ListenerLimits(), 30.0)
    assert capture.status == "hashed", capture.message
    assert capture.digest.digest == hash_path(local).digest
    assert dataset_from_uri(older) == dataset_from_uri(f"s3://{bucket}/data/labels.csv") == (f"s3://{bucket}", "data/labels.csv")
    from prov_common.hashing.shard_list import is_sharded

    assert is_sharded(f"s3://{bucket}/data/t.?sv") and not is_sharded(older)  # a '?' elsewhere is still a wildcard


def test_an_s3_uri_with_more_than_a_version_id_after_its_version_query_is_named_as_such(
        objects: dict[str, tuple[Path, str]], s3_server, capsys: pytest.CaptureFixture) -> None:
    """``s3://b/k?versionId=V&x=1`` names no version (``?versionId=<id>`` ends the URI): read as a glob of keys, it
    was refused as holding 'no shards', which named the wrong problem; the refusal names the query and how to write
    the version. A version id holding '&' or '=' is written percent-encoded."""
    _, uri = objects["t.csv"]
    bucket, _ = split_s3_uri(uri)
    client = s3_server.client()
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    version = client.put_object(Bucket=bucket, Key="data/v.csv", Body=b"id\n1\n")["VersionId"]
    capsys.readouterr()
    assert main(["hash", f"s3://{bucket}/data/v.csv?versionId={version}&x=1"]) == 2
    err = capsys.readouterr().err
    assert "no shards" not in err, err
    assert (f"'s3://{bucket}/data/v.csv?versionId={version}&x=1' holds more than a version id after '?versionId=' "
            f"({version + '&x=1'!r})") in err, err
    assert f"write s3://{bucket}/data/v.csv?versionId=<id> with nothing after the id" in err, err
    assert main(["hash", f"s3://{bucket}/data/v.csv?versionId={version}"]) == 0


def test_an_s3_key_that_begins_with_a_slash_is_refused_not_taken_for_another_object(objects: dict[str, tuple[Path, str]],
                                                                                    s3_server, tmp_path: Path) -> None:
    """``s3://b//y.csv`` is the object ``/y.csv``; dataset names drop that ``/``, so it would be named (and was
    hashed) as ``y.csv``, another object: it is refused, naming the URI and the fix."""
    from prov_common.lineage.naming import dataset_from_uri

    local, uri = objects["t.csv"]
    bucket, _ = split_s3_uri(uri)
    client = s3_server.client()
    client.put_object(Bucket=bucket, Key="/y.csv", Body=b"id\n1\n")
    client.put_object(Bucket=bucket, Key="y.csv", Body=b"id\n2\n")
    slashed = f"s3://{bucket}//y.csv"
    for read in (hash_path, dataset_from_uri, open_s3):
        with pytest.raises(BadInputError, match=r"begins with '/'.*Fix: write s3://<bucket>/y\.csv") as info:
            read(slashed)
        assert slashed in str(info.value)
    assert main(["hash", slashed]) == 2
    (tmp_path / "y.csv").write_bytes(b"id\n2\n")
    assert hash_path(f"s3://{bucket}/y.csv").digest == hash_path(tmp_path / "y.csv").digest  # the object without '/' reads


def test_an_s3_prefix_with_an_empty_name_under_which_nothing_is_listed_names_the_slashes(
        objects: dict[str, tuple[Path, str]], s3_server, capsys: pytest.CaptureFixture) -> None:
    """``s3://b/x//shards/`` (shards at ``x/shards/``) said only "no shards in ...", and ``s3://b//shards/`` too, where
    ``s3://b//y.csv`` is refused naming its leading '/': both name the empty name and the prefix meant. A prefix holding
    '//' whose keys do hold it is hashed as written, as S3 keeps it."""
    bucket, _ = split_s3_uri(objects["t.csv"][1])
    client = s3_server.client()
    for key in ("x/shards/part-0.csv", "shards/part-0.csv", "y//shards/part-0.csv"):
        client.put_object(Bucket=bucket, Key=key, Body=b"id\n1\n")
    capsys.readouterr()
    assert main(["hash", f"s3://{bucket}/x//shards/"]) == 2
    assert capsys.readouterr().err == (
        f"tdprov hash: no shards in 's3://{bucket}/x//shards/': its key holds '//', which S3 takes as written. Fix: write "
        f"s3://{bucket}/x/shards/ if that is meant (one '/' between names)\n")
    assert main(["hash", f"s3://{bucket}/x//shards/*.csv"]) == 2
    assert f"Fix: write s3://{bucket}/x/shards/*.csv if that is meant" in capsys.readouterr().err
    assert main(["hash", f"s3://{bucket}//shards/"]) == 2
    assert capsys.readouterr().err.startswith(f"tdprov hash: 's3://{bucket}//shards/' names an S3 key that begins with '/'")
    assert main(["hash", f"s3://{bucket}/x/shards/", f"s3://{bucket}/y//shards/"]) == 0
    (first, _), (second, _) = (line.split("  ") for line in capsys.readouterr().out.splitlines())
    assert first == second  # the same one shard, each under the prefix its key holds


def _versioned_object(objects: dict[str, tuple[Path, str]], s3_server, key: str) -> str:  # noqa: ANN001 - the fixture
    """The objects' bucket, versioning enabled, with a small CSV put at ``key``."""
    bucket, _ = split_s3_uri(objects["t.csv"][1])
    client = s3_server.client()
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    client.put_object(Bucket=bucket, Key=key, Body=b"id\n1\n")
    return bucket


def test_an_s3_version_id_holding_a_slash_unencoded_is_named_as_such(objects: dict[str, tuple[Path, str]], s3_server,
                                                                     capsys: pytest.CaptureFixture) -> None:
    """``s3://b/k?versionId=a/b`` was refused as holding 'more than a version id', though it holds one id, written
    with a '/' its URI must percent-encode: the refusal says so and gives the URI with the id encoded."""
    bucket = _versioned_object(objects, s3_server, "data/v.csv")
    capsys.readouterr()
    assert main(["hash", f"s3://{bucket}/data/v.csv?versionId=a/b="]) == 2
    err = capsys.readouterr().err
    assert "more than a version id" not in err and "no shards" not in err, err
    assert (f"'s3://{bucket}/data/v.csv?versionId=a/b=' names version id 'a/b=' with '/' and '=' not percent-encoded: an id "
            "after '?versionId=' must be percent-encoded") in err, err
    assert f"Fix: write s3://{bucket}/data/v.csv?versionId=a%2Fb%3D" in err, err


def test_the_fix_for_an_s3_version_id_partly_encoded_encodes_the_rest_only(objects: dict[str, tuple[Path, str]], s3_server,
                                                                           capsys: pytest.CaptureFixture) -> None:
    """``?versionId=a%2Fb/c`` (one '/' encoded, one not) names the id ``a/b/c``: the URI the refusal gives encodes the
    raw '/' and keeps ``%2F``, rather than encoding its '%' again (``a%252Fb%2Fc``, the id ``a%2Fb/c``)."""
    _, uri = objects["t.csv"]
    bucket, _ = split_s3_uri(uri)
    capsys.readouterr()
    assert main(["hash", f"s3://{bucket}/data/v.csv?versionId=a%2Fb/c"]) == 2
    err = capsys.readouterr().err
    assert f"Fix: write s3://{bucket}/data/v.csv?versionId=a%2Fb%2Fc" in err, err


def test_an_s3_uri_ending_in_an_empty_version_query_is_named_as_such(objects: dict[str, tuple[Path, str]], s3_server,
                                                                     capsys: pytest.CaptureFixture) -> None:
    """``s3://b/k?versionId=`` (an Airflow ``ObjectStoragePath`` written so: s3fs reads the newest object) names no
    version: it was refused as holding 'more than a version id' (''), which it does not; the refusal says the id is
    empty and gives both URIs that name something, the version and the object. The listener's capture says the same."""
    from prov_airflow.capture import _object_storage_uri, hash_one
    from prov_airflow.settings import ListenerLimits

    _, uri = objects["t.csv"]
    bucket, _ = split_s3_uri(uri)
    empty = _object_storage_uri("s3", f"{bucket}/data/t.csv?versionId=")
    assert empty == f"{uri}?versionId="
    capsys.readouterr()
    assert main(["hash", empty]) == 2
    err = capsys.readouterr().err
    assert "more than a version id" not in err, err
    assert f"{empty!r} ends in '?versionId=' with no version id, which names no version of {uri}:" in err, err
    assert f"Fix: to hash a version, write {uri}?versionId=<id>; to hash the object as it is now, write {uri}\n" in err, err
    capture = hash_one(empty, ListenerLimits(), 30.0)
    assert capture.status == "error" and "ends in '?versionId=' with no version id" in capture.message, capture.message


def test_an_s3_object_that_is_not_there_is_named_with_the_fix(objects: dict[str, tuple[Path, str]], s3_server,
                                                              tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """An object not in its bucket (or a bucket that does not exist) was reported as an 'unexpected NoSuchKey' to
    report with its traceback; the refusal says what S3 lacks, as a local path's does, and gives the URI meant: a
    prefix named without its '/', or a key written with '//'. The listener's capture still calls it missing."""
    from prov_airflow.capture import hash_one
    from prov_airflow.settings import ListenerLimits

    _, uri = objects["t.csv"]
    bucket, _ = split_s3_uri(uri)

    def refusal(target: str) -> str:
        capsys.readouterr()
        assert main(["hash", target]) == 2
        err = capsys.readouterr().err
        assert "unexpected" not in err and "TDPROV_DEBUG" not in err, err
        return err

    assert (f"cannot read 's3://{bucket}/data/nope.csv': bucket '{bucket}' holds no object 'data/nope.csv'. "
            "Fix: check the key; a prefix of objects is hashed with a URI that ends in '/'\n") in refusal(f"s3://{bucket}/data/nope.csv")
    assert (f"bucket '{bucket}' holds no object 'data', but keys under 'data/'. Fix: to hash them as one sharded "
            f"dataset, end the URI with '/': s3://{bucket}/data/\n") in refusal(f"s3://{bucket}/data")
    assert (f"bucket '{bucket}' holds no object 'x//data': its key holds '//', which S3 takes as written. "
            f"Fix: write s3://{bucket}/x/data if that is meant") in refusal(f"s3://{bucket}/x//data")
    s3_server.client().put_object(Bucket=bucket, Key="x/data/t.csv", Body=b"id\n1\n")
    assert f"Fix: write s3://{bucket}/x/data/ if that is meant" in refusal(f"s3://{bucket}/x//data")
    assert f"Fix: write s3://{bucket}/x/data/t.csv if that is meant" in refusal(f"s3://{bucket}/x//data/t.csv")
    assert ("cannot read 's3://no-such-bucket-here/t.parquet': S3 has no bucket 'no-such-bucket-here'. "
            "Fix: check the bucket name") in refusal("s3://no-such-bucket-here/t.parquet")
    assert f"cannot read '{tmp_path / 'nope.csv'}': No such file or directory." in refusal(str(tmp_path / "nope.csv"))
    gone = hash_one(f"s3://{bucket}/data/nope.csv", ListenerLimits(), 30.0)
    assert gone.status == "missing", gone.message


def test_an_s3_version_that_does_not_exist_is_named_with_the_listing_of_its_versions(
        objects: dict[str, tuple[Path, str]], s3_server, capsys: pytest.CaptureFixture) -> None:
    """``s3://b/k.csv?versionId=NOPE`` (no such version: S3 answers NoSuchVersion) was refused as 'S3 request failed:
    ... NoSuchVersion ...' with a fix to check the bucket name and credentials; the refusal names the object and the
    version, and the fix lists the object's versions."""
    bucket = _versioned_object(objects, s3_server, "k.csv")
    capsys.readouterr()
    assert main(["hash", f"s3://{bucket}/k.csv?versionId=NOPE"]) == 2
    err = capsys.readouterr().err
    assert err == (f"tdprov hash: cannot read 's3://{bucket}/k.csv?versionId=NOPE': bucket '{bucket}' holds no version 'NOPE' "
                   f"of object 'k.csv'. Fix: list the object's versions with 'aws s3api list-object-versions --bucket {bucket} "
                   f"--prefix k.csv' and give one of their VersionId values, or s3://{bucket}/k.csv for the object as it is now\n"), err


def _corpus_listed_with(s3_server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, count: int,  # noqa: ANN001 - the fixture
                        etags: dict[str, str]) -> str:
    """A new bucket of ``count`` small CSV shards under ``corpus/`` that the S3 server lists (and answers) with the
    ETags ``etags`` gives by key, the others as S3 makes them; TDPROV_HOME and the S3 endpoint set for the test."""
    from moto.s3.models import FakeKey

    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "home"))
    s3_server.point(monkeypatch)
    bucket = s3_server.create_bucket()
    for i in range(count):
        s3_server.client().put_object(Bucket=bucket, Key=f"corpus/part-{i}.csv", Body=f"id\n{i}\n".encode())
    etag = FakeKey.etag
    monkeypatch.setattr(FakeKey, "etag", property(lambda k: etags.get(k.name) or etag.fget(k)))
    return bucket


def test_a_shard_listed_with_an_etag_holding_a_new_line_is_named_with_the_fix(s3_server, monkeypatch: pytest.MonkeyPatch,
                                                                             tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """An S3-compatible server that lists a shard with an ETag holding a new line: reading the shard at that ETag
    (If-Match) raised the HTTP client's error, which named neither the shard nor a fix. The shard is named with the
    ETag listed and the fix, as the audit names such an object."""
    bucket = _corpus_listed_with(s3_server, monkeypatch, tmp_path, 2, {"corpus/part-1.csv": '"a\nb"'})
    capsys.readouterr()
    assert main(["hash", f"s3://{bucket}/corpus/"]) == 2
    err = capsys.readouterr().err
    assert err == (f"tdprov hash: 's3://{bucket}/corpus/part-1.csv' was listed with an ETag no request can ask for ('a\\nb'): "
                   f"the S3 endpoint {s3_server.endpoint} gave it characters an HTTP header cannot hold, so its bytes cannot be "
                   "read as they were listed. Fix: check what answers at the S3 endpoint (S3 gives each object an ETag of "
                   "printable ASCII), then hash it again\n"), err


def test_shards_listed_with_an_empty_etag_are_named_and_read_every_time(s3_server, monkeypatch: pytest.MonkeyPatch,
                                                                        tmp_path: Path) -> None:
    """An S3-compatible server that lists a shard with an empty ETag: the shard was read as it was when read, without
    a word, and its digest was cached under the stamp 'etag:', so bytes of the same size put in its place took the
    digest of the bytes read before. The hashing names such shards in a warning on stderr, reads them every time and
    keeps no digest of theirs."""
    import json
    import sqlite3
    import subprocess
    import sys

    from prov_common.hashing.shard_cache import default_cache_path
    from prov_common.hashing.shards import ShardOptions, hash_shards

    bucket = _corpus_listed_with(s3_server, monkeypatch, tmp_path, 3, {"corpus/part-1.csv": '""', "corpus/part-2.csv": '""'})
    prefix = f"s3://{bucket}/corpus/"
    done = subprocess.run([sys.executable, "-m", "prov_common", "hash", prefix], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr == (f"tdprov: 2 shards of {prefix} (part-1.csv, part-2.csv) listed with no ETag: each is read as it "
                           "is when read, not at the bytes listed, so its digest cannot be tied to the listing, and none is "
                           "taken from the shard digest cache. Fix: check what answers at the S3 endpoint (S3 gives every "
                           "object an ETag), then hash it again\n"), done.stderr
    first = hash_shards(prefix, scheduler="none", cache=False)
    assert done.stdout.split()[0] == first.digest
    with sqlite3.connect(default_cache_path()) as db:
        assert [row[0] for row in db.execute("SELECT location FROM shard_digests")] == [f"{prefix}part-0.csv"]
        db.execute("INSERT INTO shard_digests VALUES (?, ?, ?, ?, ?)",  # as an earlier tdprov kept it
                   (f"{prefix}part-2.csv", ShardOptions().key(), 5, "etag:", json.dumps(first.shards[2].to_dict())))
    db.close()
    s3_server.client().put_object(Bucket=bucket, Key="corpus/part-1.csv", Body=b"id\n7\n")  # the same size
    s3_server.client().put_object(Bucket=bucket, Key="corpus/part-2.csv", Body=b"id\n8\n")
    again = hash_shards(prefix, scheduler="none")
    assert again.read == ("part-1.csv", "part-2.csv")
    assert again.digest == hash_shards(prefix, scheduler="none", cache=False).digest


@pytest.mark.parametrize("code", ["InvalidAccessKeyId", "AccessDenied"])
def test_a_refused_read_or_listing_gives_the_fix_of_its_cause(s3_fault, capsys: pytest.CaptureFixture[str], code: str) -> None:
    """A read or listing S3 refused for its credentials gave the general fix ('check the bucket name, AWS_ENDPOINT_URL_S3
    and your credentials'), and a read refused AccessDenied (a class botocore makes of the code) was called an unexpected
    error to report with its traceback; each now gives the fix the store's reads give its cause."""
    from prov_common.store.s3 import FIX_CREDENTIALS

    uri = s3_fault(f"403 {code}")
    for target, permission, refused in ((f"{uri}/data.csv", "s3:GetObject on the object", f"GetObject was refused with {code}."),
                                        (f"{uri}/shards/", "s3:ListBucket on bucket", f"An error occurred ({code})")):
        assert main(["hash", target]) == 2
        err = capsys.readouterr().err
        fix = FIX_CREDENTIALS if code == "InvalidAccessKeyId" else f"grant these credentials {permission}"
        assert refused in err and f"Fix: {fix}" in err and "unexpected" not in err, err


def test_a_refused_read_of_a_version_names_its_permission(objects: dict[str, tuple[Path, str]], s3_server, s3_refusing_version_reads,
                                                          monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A read of one version of an object (``?versionId=``) refused for want of s3:GetObjectVersion, which S3 grants
    apart from s3:GetObject, was told in botocore's words with the fix to grant s3:GetObject, which the credentials
    had. tdprov hash and tdprov snapshot name the object, the request refused and s3:GetObjectVersion; the object as
    it is now is read as before."""
    bucket = _versioned_object(objects, s3_server, "data/v.csv")
    version = s3_server.client().head_object(Bucket=bucket, Key="data/v.csv")["VersionId"]
    uri = versioned_uri(f"s3://{bucket}/data/v.csv", version)
    (tmp_path / "store").mkdir()
    s3_refusing_version_reads.point(monkeypatch)
    capsys.readouterr()
    for argv in (["hash", uri], ["snapshot", uri, "--store", str(tmp_path / "store")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"cannot read {uri!r}: GetObject was refused with AccessDenied. Fix: grant these credentials " \
               "s3:GetObjectVersion on the object (and s3:ListBucket on its bucket" in err, (argv, err)
    assert main(["hash", f"s3://{bucket}/data/v.csv"]) == 0, capsys.readouterr().err


def test_a_refusal_reaching_the_command_line_names_the_permission_of_its_request(s3_server, s3_refusing_version_reads) -> None:
    """Botocore's refusal of a request that no verb names itself was given the fix to grant s3:GetObject on the object,
    whatever the request: a listing refused is now told to grant s3:ListBucket on the bucket, from the one table of
    the permission each request needs."""
    from botocore.exceptions import ClientError

    from prov_common.refusals import as_bad_input

    bucket = s3_server.create_bucket()
    with pytest.raises(ClientError) as refused:
        s3_refusing_version_reads.client().list_objects_v2(Bucket=bucket)
    assert as_bad_input(refused.value).fix == "grant these credentials s3:ListBucket on the bucket"


def test_a_refusal_of_a_request_no_table_names_names_that_request_not_another_permission(
        s3_server, s3_refusing_version_reads) -> None:
    """S3's refusal of a request the table of permissions does not name (GetObjectTagging, here of one version) was told
    to grant s3:GetObject on the bucket: a permission of another request, on the wrong resource, that the credentials
    may well hold already. It now names the request refused and where its permission is listed, and names no other."""
    from botocore.exceptions import ClientError

    from prov_common.refusals import as_bad_input

    bucket = s3_server.create_bucket()
    with pytest.raises(ClientError) as refused:
        s3_refusing_version_reads.client().get_object_tagging(Bucket=bucket, Key="k", VersionId="v1")
    assert refused.value.operation_name == "GetObjectTagging"
    assert as_bad_input(refused.value).fix == ("grant these credentials the permission S3 requires for GetObjectTagging "
                                               "(the Service Authorization Reference for Amazon S3 names it)")


def test_a_bucket_setting_refusal_of_a_request_no_table_names_names_that_request_not_a_permission(
        s3_server, s3_refusing_version_reads) -> None:
    """The fix of S3's refusal of a request about a bucket's protection (the versioning and Object Lock that 'tdprov
    store init' and the audit read) gave a request the table of permissions does not name as a permission, with templates
    said to hold it ('grant GetObjectTagging on arn:aws:s3:::BUCKET to these credentials (the auditor's and the admin's
    templates in docs/iam/ have it)'), where a dataset's read names the request refused and where its permission is
    listed. Both now say it one way; the fixes of the requests the table names are unchanged."""
    from botocore.exceptions import ClientError

    from prov_common.store.protection import lock_change_refused, versioning_refused

    bucket = s3_server.create_bucket()
    with pytest.raises(ClientError) as refused:
        s3_refusing_version_reads.client().get_object_tagging(Bucket=bucket, Key="k", VersionId="v1")
    unlisted = ("grant these credentials the permission S3 requires for GetObjectTagging "
                "(the Service Authorization Reference for Amazon S3 names it)")
    error = versioning_refused(refused.value, bucket, f"cannot read the versioning of bucket '{bucket}'")
    assert error is not None and error.fix == unlisted, error
    assert lock_change_refused(refused.value, bucket) == (
        f"could not set Object Lock on '{bucket}': GetObjectTagging was refused with AccessDenied: {unlisted}")
