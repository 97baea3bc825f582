"""Helpers for the sharded-dataset pipeline tests: Parquet shards written locally or to an S3 prefix,
one shard changed, the folder's bytes read back, the CLI run in process, a Dask scheduler address that takes no
connection, the folders a version's row-set keys went in."""
from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from prov_common.cli import main

SHARDS = 4
ROWS = 500


def shard_frame(i: int, salt: int = 0) -> pd.DataFrame:
    """Shard ``i`` (``salt`` changes its values, so its bytes and digest)."""
    ids = np.arange(i * ROWS, (i + 1) * ROWS, dtype=np.int64)
    return pd.DataFrame({"id": ids, "text": [f"doc-{n}-{salt}" for n in ids]})


def shard_name(i: int) -> str:
    return f"part-{i:05d}.parquet"


def write_shards(folder: Path, salts: dict[int, int] | None = None) -> None:
    """``SHARDS`` Parquet shards and a ``_SUCCESS`` marker (not a shard) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(SHARDS):
        shard_frame(i, (salts or {}).get(i, 0)).to_parquet(folder / shard_name(i), index=False)
    (folder / "_SUCCESS").write_bytes(b"")


def row_keys_folders(monkeypatch: Any) -> list[Path]:
    """The folders that hashing makes for the row-set keys of a sharded version from now on, as they are made (a spy
    on ``spill_folder``: each is made, used and removed as ever)."""
    from prov_common.hashing import shards

    made: list[Path] = []
    real = shards.spill_folder

    def spied(*args: Any, **kwargs: Any) -> Any:
        folder = real(*args, **kwargs)
        if folder is not None:
            made.append(Path(folder.name))
        return folder

    monkeypatch.setattr(shards, "spill_folder", spied)
    return made


def put_shards(client: Any, bucket: str, prefix: str, salts: dict[int, int] | None = None, *, folder: Path) -> None:
    """The same shards under ``s3://bucket/prefix`` (written to ``folder`` first)."""
    write_shards(folder, salts)
    for path in folder.iterdir():
        client.put_object(Bucket=bucket, Key=prefix + path.name, Body=path.read_bytes())


def shard_bytes(folder: Path) -> dict[str, bytes]:
    """Every shard's bytes by its path below ``folder`` (``_``/``.`` files are not shards)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.startswith(("_", "."))}


def cli(args: list[str], capsys: Any) -> tuple[int, str]:
    """``tdprov ARGS`` in process: exit code and standard output."""
    capsys.readouterr()
    code = main(args)
    return code, capsys.readouterr().out


def tdprov_hash(target: str, capsys: Any) -> dict[str, Any]:
    """``tdprov hash --json --no-cache TARGET``: the sharded record it prints."""
    code, out = cli(["hash", "--json", "--no-cache", target], capsys)
    assert code == 0, out
    return json.loads(out.splitlines()[0])


def stored_objects(store_uri: str) -> list[str]:
    """Keys of the shard objects kept by snapshots (``objects/blake3/*``)."""
    from prov_common.store import open_store

    return sorted(open_store(store_uri).list("objects/blake3/"))


def sealed_outputs(store_uri: str) -> list[dict[str, Any]]:
    """Every output dataset of every COMPLETE event sealed in the store's bundles, oldest bundle first,
    with the event itself under ``"event"``."""
    from prov_common.bundle import list_bundles, read_bundle
    from prov_common.bundle.events import parse_events_jsonl
    from prov_common.store import open_store

    store = open_store(store_uri)
    found = []
    for summary in list_bundles(store):
        for event in parse_events_jsonl(read_bundle(store, summary.run_id).files["events.jsonl"]):
            if event.get("eventType") == "COMPLETE":
                found.extend({**out, "event": event} for out in event.get("outputs", []))
    return found


class DeadScheduler:
    """A ``tcp://127.0.0.1:<port>`` that closes every connection at once (a scheduler that is down behind its
    address): a Dask client mostly fails at once, but retries a reset that comes before its handshake until its
    timeout (tests bound ``shard_engine.CONNECT_TIMEOUT``); ``connections`` counts its tries."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.address = f"tcp://127.0.0.1:{self._socket.getsockname()[1]}"
        self.connections = 0
        self._thread = threading.Thread(target=self._refuse, daemon=True)
        self._thread.start()

    def _refuse(self) -> None:
        while True:
            try:
                conn, _ = self._socket.accept()
            except OSError:  # closed
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._socket.shutdown(socket.SHUT_RDWR)  # wakes the accept() (Linux)
        self._socket.close()
        self._thread.join(timeout=5)


@contextmanager
def dead_scheduler() -> Iterator[DeadScheduler]:
    scheduler = DeadScheduler()
    try:
        yield scheduler
    finally:
        scheduler.close()
