"""The same store suite on both backends: a local folder and S3 (moto's server on localhost)."""
from __future__ import annotations

import pytest

from prov_common.errors import BadInputError, ObjectConflictError
from prov_common.store import ObjectNotFoundError, Store, open_store


def test_put_is_write_once_idempotent_and_refuses_conflicts(store_uri: str) -> None:
    store = open_store(store_uri)
    assert isinstance(store, Store)
    assert store.put("runs/r1/manifest.json", b'{"a":1}') is True
    assert store.put("runs/r1/manifest.json", b'{"a":1}') is False  # same bytes: no-op
    with pytest.raises(ObjectConflictError) as info:
        store.put("runs/r1/manifest.json", b'{"a":2}')
    assert "runs/r1/manifest.json" in str(info.value)
    assert store.get("runs/r1/manifest.json") == b'{"a":1}'  # unchanged
    assert store.exists("runs/r1/manifest.json")
    assert not store.exists("runs/r1/other.json")


def test_longer_or_shorter_bytes_are_conflicts(store_uri: str) -> None:
    store = open_store(store_uri)
    store.put("k", b"abc")
    for other in (b"ab", b"abcd", b""):
        with pytest.raises(ObjectConflictError):
            store.put("k", other)
    store.put("empty", b"")
    assert store.get("empty") == b""
    assert store.put("empty", b"") is False


def test_missing_object_names_key_and_store(store_uri: str, tmp_path) -> None:
    store = open_store(store_uri)
    with pytest.raises(ObjectNotFoundError) as info:
        store.get("runs/nope/manifest.json")
    assert "runs/nope/manifest.json" in str(info.value) and store.uri.split("/")[-1] in str(info.value)
    with pytest.raises(ObjectNotFoundError):
        store.get_file("runs/nope", tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "key",
    ["../escape", "a/../../b", "/abs/path", "a//b", "a/./b", "a\\..\\b", "a/", "", ".hidden", "a/.tmp-x",
     "a/b c", "a/\x00b", "ü/x", "a/..", "..", "C:\\windows"],
)
def test_unsafe_keys_are_refused(store_uri: str, key: str, tmp_path) -> None:
    store = open_store(store_uri)
    with pytest.raises(BadInputError):
        store.put(key, b"x")
    with pytest.raises(BadInputError):
        store.get(key)
    with pytest.raises(BadInputError):
        store.put_file(key, tmp_path / "whatever")
    assert list(store.list()) == []
    if not store_uri.startswith("s3://"):
        assert not (tmp_path / "escape").exists() and not (tmp_path / "b").exists()


def test_listing_is_lexicographic_and_start_after_returns_exactly_new_keys(store_uri: str) -> None:
    store = open_store(store_uri)
    keys = ["runs/2026/01/a", "runs/2026/01/b", "runs/2026/02/a", "runs/2026-x", "runs/2027/01/z",
            "runs/20/x", "objects/blake3/ff", "a-b", "a/b", "a+c", "runs/2026/010"]
    for key in keys:
        store.put(key, key.encode())
    assert list(store.list()) == sorted(keys)
    assert list(store.list("runs/")) == sorted(k for k in keys if k.startswith("runs/"))
    assert list(store.list("runs/2026")) == sorted(k for k in keys if k.startswith("runs/2026"))
    for after in ["runs/2026/01/a", "runs/2026/01", "runs/2026/01/", "runs/2026/01/zzz", "runs/2026", "runs/2026-", "", "a",
                  "zzz", "runs/2026/02/a"]:
        expected = sorted(k for k in keys if k.startswith("runs/") and k > after)
        assert list(store.list("runs/", start_after=after or None)) == expected, after
    # new keys after a checkpoint are exactly what a second listing returns
    last = list(store.list("runs/"))[-1]
    store.put("runs/2028/01/new1", b"n1")
    store.put("runs/2028/01/new2", b"n2")
    assert list(store.list("runs/", start_after=last)) == ["runs/2028/01/new1", "runs/2028/01/new2"]


def test_put_file_and_get_file_stream_bytes(store_uri: str, tmp_path) -> None:
    data = bytes(range(256)) * 9000  # > 2 MiB, several chunks
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    store = open_store(store_uri)
    assert store.put_file("objects/big", src) is True
    assert store.put_file("objects/big", src) is False
    src.write_bytes(data[:-1] + b"\x00")
    with pytest.raises(ObjectConflictError):
        store.put_file("objects/big", src)
    out = tmp_path / "sub" / "restored.bin"
    store.get_file("objects/big", out)
    assert out.read_bytes() == data
    assert [p.name for p in out.parent.iterdir()] == ["restored.bin"]  # no temp file left behind


def test_open_store_reopens_its_own_uri(store_uri: str) -> None:
    store = open_store(store_uri)
    store.put("x/y", b"1")
    again = open_store(store.uri)
    assert again.get("x/y") == b"1"
    assert store.describe() and store.uri.split("/")[-1] in store.describe()


@pytest.mark.parametrize("authority", ["", "localhost", "LOCALHOST", "127.0.0.1"])
def test_a_file_uri_on_this_machine_is_the_folder_it_names(tmp_path, authority: str) -> None:
    """``file://localhost/p`` and ``file://127.0.0.1/p`` name this machine's folder (as the dataset naming and
    the hashing take them); ``file://otherhost/p`` is refused, never read as a local folder."""
    folder = tmp_path / "my store"
    open_store(str(folder)).put("x/y", b"1")
    uri = f"file://{authority}{folder.as_posix().replace(' ', '%20')}"
    assert open_store(uri).get("x/y") == b"1"
    with pytest.raises(BadInputError, match="names a remote host"):
        open_store(f"file://otherhost{folder.as_posix()}")


def test_a_get_under_a_limit_reads_the_object_not_a_buffer_of_the_limit(store_uri: str) -> None:
    """A get under a size limit (each staged event is read under 64 MiB) reads what the object holds, in parts:
    one ``read(limit + 1)`` allocated a buffer of the whole limit for every small object. A larger object is still
    read whole, and one past the limit is refused naming it."""
    import tracemalloc

    from prov_common.store.errors import ObjectTooLargeError

    store = open_store(store_uri)
    small, large = b'{"eventType": "START"}', bytes(range(256)) * 12_000
    store.put("staging/small.json", small)
    store.put("staging/large.json", large)
    store.get("staging/small.json")  # the S3 client's first call loads its models
    tracemalloc.start()
    try:
        assert store.get("staging/small.json", 64 << 20) == small
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # (the local S3 server runs in this process, and its allocations count too: a few MB)
    assert peak < 16 << 20, f"a get of {len(small)} bytes under a 64 MiB limit allocated {peak:,} bytes"
    assert store.get("staging/large.json", len(large)) == large
    with pytest.raises(ObjectTooLargeError, match="staging/large.json"):
        store.get("staging/large.json", len(large) - 1)


def test_put_listed_gives_the_fingerprint_the_listing_gives_the_object_it_created(store_uri: str) -> None:
    """What an audit remembers of a lookup object it wrote, unread: the fingerprint the next listing shows while the
    object holds those bytes; nothing when the call created nothing (the key held the bytes already)."""
    store = open_store(store_uri)
    created, listed = store.put_listed("audit/generated/a.json", b'{"a":1}')
    [info] = store.list_info("audit/generated/", tags_for=lambda key: True)
    assert created and listed == info.fingerprint and listed.startswith("7:"), (listed, info)
    assert store.put_listed("audit/generated/a.json", b'{"a":1}') == (False, None)
    with pytest.raises(ObjectConflictError):
        store.put_listed("audit/generated/a.json", b'{"a":2}')
    [again] = store.list_info("audit/generated/", tags_for=lambda key: True)
    assert again.fingerprint == listed
