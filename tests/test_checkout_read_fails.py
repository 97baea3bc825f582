"""A ``tdprov checkout`` whose read of the version fails partway (an object gone from a local store, an S3 server that
stops) names what failed and the fix, and leaves every file it would have replaced as it was: nothing partial."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prov_common.cli import main
from prov_common.store import open_store
from prov_common.store.snapshots import FIX_CHECKOUT_AGAIN, FIX_SNAPSHOT_GONE, SnapshotSet, index_key

from shards_support import SHARDS, cli, shard_bytes, shard_name, write_shards


def _edited(folder: Path) -> dict[str, bytes]:
    """The user's own copies of every shard, edited, as a checkout with --force would replace them."""
    for i in range(SHARDS):
        (folder / shard_name(i)).write_bytes(f"local edit {i}".encode())
    return shard_bytes(folder)


def _objects_in_order(store_uri: str, digest: str) -> list[str]:
    """The object keys of the version's files, in the order checkout reads them."""
    store = open_store(store_uri)
    files = SnapshotSet.from_json(store.get(index_key(digest)), index_key(digest)).files
    return [f"objects/{o.replace(':', '/')}" for _, o, _ in files]


def test_a_checkout_whose_object_is_gone_partway_names_it_and_replaces_nothing(tmp_path: Path, capsys: Any) -> None:
    folder, store = tmp_path / "shards", tmp_path / "store"
    write_shards(folder)
    store.mkdir()
    code, out = cli(["snapshot", str(folder), "--store", str(store)], capsys)
    assert code == 0, out
    digest = json.loads(out)["digest"]
    before = _edited(folder)
    last = _objects_in_order(str(store), digest)[-1]  # read after every other file is downloaded
    (store / last).unlink()
    capsys.readouterr()
    code = main(["checkout", digest, "-o", str(folder), "--store", str(store), "--force"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    assert err.startswith(f"tdprov checkout: no object '{last}' in local folder {store}. Fix: {FIX_SNAPSHOT_GONE}"), err
    assert shard_bytes(folder) == before  # no shard replaced, though all but one were read
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")], list(folder.iterdir())


def test_a_checkout_whose_s3_server_stopped_names_it_and_replaces_nothing(tmp_path: Path, capsys: Any,
                                                                               monkeypatch: Any) -> None:
    from moto.server import ThreadedMotoServer
    import boto3

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                        "AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ENDPOINT_URL_S3": f"http://{host}:{port}",
                        "AWS_MAX_ATTEMPTS": "1"}.items():  # the S3 variable first: the session's S3 server may have set it
        monkeypatch.setenv(name, value)
    boto3.client("s3").create_bucket(Bucket="lake")
    store = "s3://lake/prov"
    folder = tmp_path / "shards"
    write_shards(folder)
    code, out = cli(["snapshot", str(folder), "--store", store], capsys)
    assert code == 0, out
    digest = json.loads(out)["digest"]
    before = _edited(folder)

    server.stop()  # between the snapshot and its checkout
    # and nothing answers at the endpoint (a stopped moto server's open connections can still serve a request or two)
    from conftest import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{free_port()}")
    capsys.readouterr()
    code = main(["checkout", digest, "-o", str(folder), "--store", store, "--force"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    assert "tdprov checkout: cannot check 'objects/" in err and "in S3 store s3://lake/prov" in err, err
    assert err.rstrip().endswith(f"; {FIX_CHECKOUT_AGAIN}") and "tdprov flush" not in err, err  # nothing was spooled
    assert shard_bytes(folder) == before
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")], list(folder.iterdir())
