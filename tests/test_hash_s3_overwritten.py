"""An S3 object overwritten while it is hashed, against moto's S3 server on localhost: every read of one hashing
(the table passes, the bytes of a listed shard) is of the one content the first read found, or the hashing says
which object changed; the digests never describe two contents. The SHA-256 of a table object's bytes is taken as
its first pass reads it, so it adds no read.

The overwrite comes from a second client, at a real seam: when tdprov's client is about to send its second
GetObject for the object, the first one having been answered (botocore's ``provide-client-params`` event).
Where the tests say so, tdprov reads through a proxy that drops ``If-Match`` (a server that ignores conditional reads):
the answer's own ETag then tells the other bytes apart.
"""
from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.json as pajson
import pytest

from prov_common.errors import BadInputError
from prov_common.hashing import hash_dataframe, hash_path, hash_shards, hash_table
from prov_common.hashing.file_sha256 import CHUNK
from prov_common.hashing.files import read_table_and_sha256
from prov_common.hashing.remote import s3_client

OLD = pd.DataFrame({"id": [1, 2, 3], "label": ["cat", "dog", "cat"]})
NEW = pd.DataFrame({"id": [1, 2, 3], "label": ["cat", "dog", "EVIL"]})


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def _parquet(frame: pd.DataFrame, tmp_path: Path) -> bytes:
    path = tmp_path / "frame.parquet"
    frame.to_parquet(path)
    return path.read_bytes()


def _two_pass_jsonl(last: str) -> bytes:
    """JSON lines whose column ``x`` holds ints for more than a chunk of lines, then ``last`` (a float): hashed in
    two passes, the second casting every chunk to the type of the whole column."""
    return b"".join(b'{"id": %d, "x": 1}\n' % i for i in range(60_000)) + b'{"id": 60000, "x": %s}\n' % last.encode()


def _jsonl_digest(data: bytes) -> str:
    return hash_table(pajson.read_json(pa.BufferReader(data))).digest


@contextmanager
def overwritten_between_reads(s3_server, bucket: str, key: str, versions: list[bytes]) -> Iterator[list[int]]:
    """While in the block, each GetObject tdprov sends for ``key`` after the first (once the first was answered)
    is preceded by a write of the next of ``versions`` by another client. Yields the count of GetObject calls."""
    writer, answered, lock = s3_server.client(), threading.Event(), threading.Lock()
    calls = [0]
    pending = list(versions)

    def before(params: dict, **_: object) -> None:
        if params.get("Key") != key:
            return
        with lock:
            calls[0] += 1
            first = calls[0] == 1
        if not first:
            answered.wait(10)
            with lock:
                if pending:
                    writer.put_object(Bucket=bucket, Key=key, Body=pending.pop(0))

    def after(**_: object) -> None:
        answered.set()

    events = s3_client().meta.events  # the client tdprov reads data objects through
    events.register("provide-client-params.s3.GetObject", before)
    events.register("after-call.s3.GetObject", after)
    try:
        yield calls
    finally:
        events.unregister("provide-client-params.s3.GetObject", before)
        events.unregister("after-call.s3.GetObject", after)


@contextmanager
def overwritten_before_read(writer, bucket: str, key: str, body: bytes) -> Iterator[None]:
    """Within the block, ``key`` is overwritten with ``body`` (by ``writer``, a second client) right before each read
    of it by tdprov's client: after its listing was answered."""
    def overwrite(params: dict, **_: object) -> None:
        if params.get("Key") == key:
            writer.put_object(Bucket=bucket, Key=key, Body=body)

    events = s3_client().meta.events
    events.register("provide-client-params.s3.GetObject", overwrite)
    try:
        yield
    finally:
        events.unregister("provide-client-params.s3.GetObject", overwrite)


@pytest.fixture(params=["honoured", "ignored"])
def if_match(request: pytest.FixtureRequest, s3_bucket: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """tdprov's reads go to the S3 server (which honours ``If-Match``), or through a proxy that drops it."""
    if request.param == "ignored":
        request.getfixturevalue("s3_ignoring_if_match").point(monkeypatch)
    return request.param


def _digests(read: str, uri: str, fmt: str) -> tuple[str, str | None]:
    """The table digest and the SHA-256 of the bytes, as ``hash_path`` gives them, or of the table and bytes the
    operator's ``read_table_and_sha256`` read."""
    if read == "hash_path":
        found = hash_path(uri, file_sha256=True)
        return found.digest, found.file_sha256
    table, sha256 = read_table_and_sha256(uri, fmt)
    return (hash_table(table) if isinstance(table, pa.Table) else hash_dataframe(table)).digest, sha256


@pytest.mark.parametrize("read", ["hash_path", "read_table_and_sha256"])
def test_an_object_overwritten_between_two_passes_is_hashed_again_whole(s3_server, s3_bucket: str, read: str,
                                                                       if_match: str) -> None:
    """A JSON-lines object whose column types change part way is hashed in two passes (and one read whole is
    checked in a second); a write between the two reads was recorded as the table digest of one content beside
    the SHA-256 of the other. The second read asks for the ETag the first found; S3 refuses it (412), or a server
    that ignores the condition answers the new bytes under their own ETag, which is refused as well, and the
    hashing starts again once, reading the new content."""
    key = "data/events.jsonl"
    old, new = _two_pass_jsonl("1.5"), _two_pass_jsonl("2.5")
    s3_server.client().put_object(Bucket=s3_bucket, Key=key, Body=old)
    with overwritten_between_reads(s3_server, s3_bucket, key, [new]) as calls:
        digest, sha256 = _digests(read, f"s3://{s3_bucket}/{key}", "jsonl")
    assert calls[0] >= 3  # read, refused, then read again whole
    assert digest == _jsonl_digest(new) != _jsonl_digest(old)
    assert sha256 == hashlib.sha256(new).hexdigest()


def _table_object(fmt: str, frame: pd.DataFrame, tmp_path: Path) -> bytes:
    if fmt == "parquet":
        return _parquet(frame, tmp_path)
    if fmt == "csv":
        return _csv(frame)
    return frame.to_json(orient="records", lines=True).encode()


@pytest.mark.parametrize(("read", "fmt"), [("hash_path", "parquet"), ("hash_path", "csv"), ("hash_path", "jsonl"),
                                           ("read_table_and_sha256", "parquet"), ("read_table_and_sha256", "csv")])
def test_a_table_object_is_read_once_for_both_digests(s3_server, s3_bucket: str, tmp_path: Path, read: str,
                                                     fmt: str) -> None:
    """The SHA-256 of a table object's bytes is taken as its one pass reads it: a Parquet object in the copy it is
    spooled into for its reader, a CSV or JSON-lines one as its body streams to the reader. One GET gives the table
    digest (or the table an operator validates) and the SHA-256, so a write after it cannot come between two
    reads (it was read twice, and such a write made the hashing start again). The object spans several chunks of
    the copy, so the SHA-256 is of the chunks in order. (A JSON-lines object read whole is read twice: the
    second read checks what Arrow's reader takes but the hash refuses.)"""
    rows = 200_000 if fmt == "parquet" else 100_000
    old = pd.DataFrame({"id": np.arange(rows), "x": np.random.default_rng(3).random(rows)})
    new = old.assign(x=old["x"] + 1)
    key = f"data/features.{fmt}"
    old_bytes = _table_object(fmt, old, tmp_path)
    assert len(old_bytes) > 2 * CHUNK
    s3_server.client().put_object(Bucket=s3_bucket, Key=key, Body=old_bytes)
    with overwritten_between_reads(s3_server, s3_bucket, key, [_table_object(fmt, new, tmp_path)]) as calls:
        digest, sha256 = _digests(read, f"s3://{s3_bucket}/{key}", fmt)
    assert calls[0] == 1
    local = tmp_path / f"local.{fmt}"
    local.write_bytes(old_bytes)
    assert digest == hash_path(local).digest
    assert sha256 == hashlib.sha256(old_bytes).hexdigest()


def test_an_object_that_keeps_changing_is_refused_naming_it(s3_server, s3_bucket: str) -> None:
    key = "data/events.jsonl"
    s3_server.client().put_object(Bucket=s3_bucket, Key=key, Body=_two_pass_jsonl("1.5"))
    writes = [_two_pass_jsonl("2.5"), _two_pass_jsonl("3.5"), _two_pass_jsonl("4.5")]
    with overwritten_between_reads(s3_server, s3_bucket, key, writes), pytest.raises(BadInputError) as refused:
        hash_path(f"s3://{s3_bucket}/{key}", file_sha256=True)
    assert f"s3://{s3_bucket}/{key}" in str(refused.value)
    assert "changed while it was being hashed" in str(refused.value)
    assert "once writes to it have stopped" in str(refused.value)


def test_a_versioned_object_is_read_at_the_version_the_first_read_found(s3_server, s3_bucket: str) -> None:
    """On a versioned bucket every later read asks for the version the first read found: a write meanwhile
    does not reach the hashing, which describes that version whole."""
    s3_server.client().put_bucket_versioning(Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})
    key = "data/events.jsonl"
    old = _two_pass_jsonl("1.5")
    s3_server.client().put_object(Bucket=s3_bucket, Key=key, Body=old)
    with overwritten_between_reads(s3_server, s3_bucket, key, [_two_pass_jsonl("2.5")]) as calls:
        found = hash_path(f"s3://{s3_bucket}/{key}", file_sha256=True)
    assert calls[0] == 2
    assert found.digest == _jsonl_digest(old)
    assert found.file_sha256 == hashlib.sha256(old).hexdigest()


def test_a_shard_overwritten_after_the_listing_is_not_recorded_under_the_listed_etag(s3_server, s3_bucket: str,
                                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                                   tmp_path: Path, if_match: str) -> None:
    """A shard is read at the ETag the listing found (the shard cache keeps its digest under that ETag): one
    overwritten between the listing and its read is refused naming it, and nothing is cached for it. A server that
    ignores ``If-Match`` answered the new bytes, whose digest was then cached under the listed ETag; the answer's own
    ETag refuses them alike."""
    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "home"))
    writer = s3_server.client()
    for i in range(2):
        writer.put_object(Bucket=s3_bucket, Key=f"corpus/part-{i}.csv", Body=_csv(OLD.assign(id=OLD["id"] + 10 * i)))
    key = "corpus/part-1.csv"
    original = _csv(OLD.assign(id=OLD["id"] + 10))
    with overwritten_before_read(writer, s3_bucket, key, _csv(NEW)), pytest.raises(BadInputError) as refused:
        hash_shards(f"s3://{s3_bucket}/corpus/", scheduler="none")
    assert f"s3://{s3_bucket}/{key}" in str(refused.value) and "changed while it was being hashed" in str(refused.value)
    if if_match == "ignored":
        assert "ignored the condition" in str(refused.value) and "honour conditional reads (If-Match)" in str(refused.value)
    again = hash_shards(f"s3://{s3_bucket}/corpus/", scheduler="none")  # once the writes stopped: the new content
    assert again.shards[1].digest == hash_dataframe(NEW).digest
    writer.put_object(Bucket=s3_bucket, Key=key, Body=original)  # the listed ETag again: no digest of other bytes under it
    assert hash_shards(f"s3://{s3_bucket}/corpus/", scheduler="none").shards[1].digest == hash_dataframe(NEW.assign(
        id=OLD["id"] + 10, label=OLD["label"])).digest


def test_a_shard_listed_with_an_empty_etag_that_keeps_changing_names_the_read_that_found_its_etag(
        s3_server, s3_bucket: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An S3-compatible server that lists a shard with an empty ETag names no bytes to read it at: its first read's
    ETag pins the later passes. One overwritten between two passes was refused at once, saying S3 no longer held the
    bytes with ETag "" that 'its listing named'; it is hashed once more from the start, as an object no listing named
    is, and one that changes again is refused with the ETag the first read found, saying so."""
    from moto.s3.models import FakeKey

    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "home"))
    key = "corpus/events.jsonl"
    old = _two_pass_jsonl("1.5")
    s3_server.client().put_object(Bucket=s3_bucket, Key=key, Body=old)
    etag = FakeKey.etag
    monkeypatch.setattr(FakeKey, "etag", property(lambda k: '""' if k.name == key and k.value == old else etag.fget(k)))
    writes = [_two_pass_jsonl("2.5"), _two_pass_jsonl("3.5"), _two_pass_jsonl("4.5")]
    with overwritten_between_reads(s3_server, s3_bucket, key, writes) as calls, \
            pytest.raises(BadInputError) as refused:
        hash_shards(f"s3://{s3_bucket}/corpus/", scheduler="none", cache=False)
    assert calls[0] == 4  # read, refused; read again whole (the write before it: its first read), refused
    assert str(refused.value) == (
        f"'s3://{s3_bucket}/{key}' changed while it was being hashed: S3 no longer holds the bytes with ETag "
        f"\"{hashlib.md5(writes[1]).hexdigest()}\" that the first read found (overwritten or removed since), so its digests "
        "would describe two contents. Fix: hash it again once writes to it have stopped (writers that put each version "
        "under a new key, or a versioned bucket, never cause this)."), str(refused.value)



def test_tdprov_hash_names_a_shard_a_server_answered_with_other_bytes_than_listed(
        s3_server, s3_bucket: str, s3_ignoring_if_match, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """``tdprov hash`` of a prefix through a server that ignores ``If-Match``, a shard overwritten between the listing
    and its read: exit 2 naming the shard, the ETag listed, the one answered and the fix (it printed the new bytes'
    digest, exit 0)."""
    from prov_common.cli import main

    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "home"))
    s3_ignoring_if_match.point(monkeypatch)
    writer, key = s3_server.client(), "corpus/part-0.csv"
    writer.put_object(Bucket=s3_bucket, Key=key, Body=_csv(OLD))
    with overwritten_before_read(writer, s3_bucket, key, _csv(NEW)):
        code = main(["hash", f"s3://{s3_bucket}/corpus/"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert (f"'s3://{s3_bucket}/{key}' changed while it was being hashed: a read of the bytes with ETag "
            f"\"{hashlib.md5(_csv(OLD)).hexdigest()}\" (If-Match) was answered with bytes with ETag "
            f"\"{hashlib.md5(_csv(NEW)).hexdigest()}\": the endpoint (or a proxy before it) ignored the condition") in err, err
    assert "read through an S3 endpoint (and proxies) that honour conditional reads (If-Match)" in err, err


def test_tdprov_hash_names_a_shard_answered_with_a_weak_etag_and_the_proxy_to_blame(
        s3_server, s3_bucket: str, s3_weakening_etags, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """``tdprov hash`` of a prefix through a proxy that makes S3's ETags weak (as one that compresses answers does): the
    shard, read at its listed ETag, is refused (a weak ETag proves no bytes) naming the weak ETag and a proxy that
    altered the answer, with the fix of that proxy; it said the endpoint ignored If-Match."""
    from prov_common.cli import main
    from prov_common.store.s3 import FIX_WEAK_ETAG

    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "home"))
    key = "corpus/part-0.csv"
    s3_server.client().put_object(Bucket=s3_bucket, Key=key, Body=_csv(OLD))
    s3_weakening_etags.point(monkeypatch)
    code = main(["hash", f"s3://{s3_bucket}/corpus/"])
    err = capsys.readouterr().err
    etag = hashlib.md5(_csv(OLD)).hexdigest()
    assert code == 2, err
    assert (f"'s3://{s3_bucket}/{key}' cannot be read as the bytes hashed: a read of the bytes with ETag \"{etag}\" "
            f"(If-Match) was answered with bytes with the weak ETag W/\"{etag}\", which S3 never gives: a proxy (or CDN) "
            "before the endpoint altered the answer") in err, err
    assert FIX_WEAK_ETAG in err and "ignored the condition" not in err and "honour conditional reads" not in err, err


def test_an_object_read_twice_through_a_proxy_that_weakens_etags_names_the_proxy_not_an_overwrite(
        s3_server, s3_bucket: str, s3_weakening_etags, monkeypatch: pytest.MonkeyPatch) -> None:
    """An object hashed in two passes through a proxy that makes S3's ETags weak: the second read asks for the weak
    ETag the first found, which S3 never matches (412). It was refused as overwritten while hashed, after hashing it
    all once more; it is refused at once naming the weak ETag and the proxy, with that proxy's fix."""
    from prov_common.store.s3 import FIX_WEAK_ETAG

    key, data = "data/events.jsonl", _two_pass_jsonl("1.5")
    s3_server.client().put_object(Bucket=s3_bucket, Key=key, Body=data)
    s3_weakening_etags.point(monkeypatch)
    reads = []
    events = s3_client().meta.events
    count = lambda params, **_: reads.append(params.get("Key"))  # noqa: E731
    events.register("provide-client-params.s3.GetObject", count)
    try:
        with pytest.raises(BadInputError) as info:
            hash_path(f"s3://{s3_bucket}/{key}", file_sha256=True)
    finally:
        events.unregister("provide-client-params.s3.GetObject", count)
    etag = hashlib.md5(data).hexdigest()
    assert info.value.what == (
        f"'s3://{s3_bucket}/{key}' cannot be read again as the bytes hashed: its first read was answered with the weak "
        f"ETag W/\"{etag}\", which S3 never gives: a proxy (or CDN) before the endpoint altered the answer (compressed or "
        "otherwise transformed it), and a later read cannot ask for those bytes by it (If-Match), so they were not "
        "hashed."), info.value.what
    assert info.value.fix == f"{FIX_WEAK_ETAG}; then hash it again" and len(reads) == 2, reads


def test_a_shard_uploaded_in_parts_is_read_at_its_multipart_etag_and_its_digest_reused(
        s3_server, s3_bucket: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, if_match: str) -> None:
    """A shard uploaded in two parts has a multipart ETag (``"<md5 of the parts' md5s>-2"``, no digest of its bytes):
    it is read at that ETag, the answer's ETag taken as the same, its digest is that of the local file, cached under
    it, and taken again with no read."""
    import io

    from boto3.s3.transfer import TransferConfig

    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "home"))
    frame = pd.DataFrame({"id": np.arange(400_000), "label": [f"row-{i % 97}" for i in range(400_000)]})
    local = tmp_path / "part-0.csv"
    local.write_bytes(_csv(frame))
    assert local.stat().st_size > 5 << 20  # two parts of at least 5 MiB but the last, as S3 asks
    parts = TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20)
    s3_server.client().upload_fileobj(io.BytesIO(local.read_bytes()), s3_bucket, "corpus/part-0.csv", Config=parts)
    assert s3_server.client().head_object(Bucket=s3_bucket, Key="corpus/part-0.csv")["ETag"].endswith('-2"')
    reads = []
    events = s3_client().meta.events
    count = lambda params, **_: reads.append(params.get("Key"))  # noqa: E731
    events.register("provide-client-params.s3.GetObject", count)
    try:
        first = hash_shards(f"s3://{s3_bucket}/corpus/", scheduler="none")
        assert reads == ["corpus/part-0.csv"]
        again = hash_shards(f"s3://{s3_bucket}/corpus/", scheduler="none")
    finally:
        events.unregister("provide-client-params.s3.GetObject", count)
    assert reads == ["corpus/part-0.csv"]  # the second hashing took the digest cached under the multipart ETag
    assert first.shards[0].digest == again.shards[0].digest == hash_path(local).digest
