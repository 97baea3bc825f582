"""Helpers for the bundle and transport tests: small OpenLineage events, and raw access to stored
objects that bypasses write-once (to tamper with a bundle the way an attacker or a bad disk would)."""
from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import boto3

from prov_common import PRODUCER as TDPROV_PRODUCER
from prov_common.store.s3 import parse_s3_uri

PRODUCER = "https://github.com/tdprov/tdprov/tests"
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"


def version_facet(digest: str) -> dict[str, Any]:
    """The ``version`` facet tdprov writes of a dataset it hashed (its own producer: a content digest it vouches for)."""
    return {
        "_producer": TDPROV_PRODUCER,
        "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet",
        "datasetVersion": digest,
    }


def dataset(namespace: str, name: str, digest: str | None = None) -> dict[str, Any]:
    return {"namespace": namespace, "name": name, "facets": {"version": version_facet(digest)} if digest else {}}


def event(
    run_id: str,
    event_type: str,
    time: str,
    *,
    inputs: list[dict[str, Any]] | None = None,
    outputs: list[dict[str, Any]] | None = None,
    job: str = "train_features",
) -> dict[str, Any]:
    return {
        "eventType": event_type,
        "eventTime": time,
        "producer": PRODUCER,
        "schemaURL": SCHEMA_URL,
        "run": {"runId": run_id, "facets": {}},
        "job": {"namespace": "tests", "name": job, "facets": {}},
        "inputs": inputs or [],
        "outputs": outputs or [],
    }


def run_events(run_id: str | None = None, *, terminal: str = "COMPLETE") -> list[dict[str, Any]]:
    """START and a terminal event of one run that reads one raw table and writes one clean table."""
    run_id = run_id or str(uuid.uuid4())
    raw = dataset("s3://lake", "raw/users.parquet", "blake3:" + "1" * 64)
    clean = dataset("s3://lake", "clean/users.parquet", "blake3:" + "2" * 64)
    return [
        event(run_id, "START", "2026-03-01T10:00:00.000Z", inputs=[raw]),
        event(run_id, terminal, "2026-03-01T10:00:05.000Z", inputs=[raw], outputs=[clean]),
    ]


SETUP_TIMEOUT = 120.0
"""The write bound of a transport that only sets a test up (:func:`record_runs`): the first emit opens the store (on
S3, a boto3 client, served by moto in the test's own process) and the signing key, and a seal writes a dozen objects,
which on a loaded CI machine (2 CPUs, load 37) took 10 s, the default bound, and failed the strict emit of tests that
never test the bound (as did the 16 MB seal of a test of its memory). Tests of the bound give their own ``timeout``."""


def record_runs(store_uri: str, count: int, **config: Any) -> list[str]:
    """Seal ``count`` runs of :func:`run_events` into ``store_uri`` through a strict transport (bound
    :data:`SETUP_TIMEOUT` unless ``config`` gives a ``timeout``); their run ids."""
    from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport

    config.setdefault("timeout", SETUP_TIMEOUT)
    transport = ProvenanceTransport(ProvenanceConfig(store=store_uri, strict=True, **config))
    run_ids = []
    for _ in range(count):
        for e in run_events():
            transport.emit(e)
        run_ids.append(e["run"]["runId"])
    return run_ids


def forge_unsigned_events(store_uri: str, run_id: str, size: int) -> bytes:
    """Replace the events of run ``run_id``'s sealed bundle by about ``size`` bytes of its events (its first line, then
    its second repeated), under a manifest giving their digest and size and an unsigned statement naming it (anyone can
    plant such a bundle: no trusted key vouches for it); the forged events."""
    from prov_common.bundle import layout
    from prov_common.store import open_store

    lines = open_store(store_uri).get(layout.bundle_key(run_id, layout.EVENTS_FILE)).splitlines(keepends=True)
    return forge_unsigned(store_uri, run_id, layout.EVENTS_FILE, lines[0] + lines[1] * (size // len(lines[1])))


def forge_unsigned_prov(store_uri: str, run_id: str, size: int) -> tuple[bytes, int]:
    """Replace the prov.json of run ``run_id``'s sealed bundle by its document with about ``size`` bytes of entities
    (each with a 1,000-character attribute), as :func:`forge_unsigned` plants it; the forged file and its entities."""
    from prov_common.bundle import layout
    from prov_common.store import open_store

    document = json.loads(open_store(store_uri).get(layout.bundle_key(run_id, layout.PROV_FILE)))
    count, pad = size // 1_024, "x" * 1_000
    entities = ",".join(f'"tdprov:forged{i}":{{"tdprov:pad":"{pad}"}}' for i in range(count))
    head = json.dumps({k: v for k, v in document.items() if k != "entity"})[:-1]
    return forge_unsigned(store_uri, run_id, layout.PROV_FILE, f'{head},"entity":{{{entities}}}}}'.encode()), count


def forge_unsigned(store_uri: str, run_id: str, path: str, data: bytes) -> bytes:
    """Replace file ``path`` of run ``run_id``'s sealed bundle by ``data``, under a manifest giving its digest and size
    and an unsigned statement naming it (anyone can plant such a bundle: no trusted key vouches for it); ``data``."""
    from prov_common.bundle import layout
    from prov_common.bundle.build import statement_for
    from prov_common.bundle.model import FileEntry, Manifest
    from prov_common.hashing.raw import blake3_digest
    from prov_common.signing import INTOTO_PAYLOAD_TYPE, Envelope
    from prov_common.store import open_store

    prefix, store = layout.bundle_prefix(run_id), open_store(store_uri)
    m = Manifest.from_json(store.get(prefix + layout.MANIFEST_FILE), "manifest.json")
    manifest = Manifest(**{**m.__dict__, "files": tuple(FileEntry(f.path, blake3_digest(data), len(data))
                                                        if f.path == path else f for f in m.files)})
    unsigned = Envelope(statement_for(manifest, blake3_digest(manifest.to_json())), INTOTO_PAYLOAD_TYPE, ())
    for name, content in ((path, data), (layout.MANIFEST_FILE, manifest.to_json()), (layout.STATEMENT_FILE, unsigned.to_json())):
        raw_put(store_uri, prefix + name, content)
    return data


def _s3(uri: str) -> tuple[Any, str, str]:
    bucket, prefix = parse_s3_uri(uri)
    return boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL_S3"], region_name="us-east-1"), bucket, prefix


def raw_put(store_uri: str, key: str, data: bytes) -> None:
    """Overwrite an object in place, bypassing write-once."""
    if store_uri.startswith("s3://"):
        client, bucket, prefix = _s3(store_uri)
        client.put_object(Bucket=bucket, Key=prefix + key, Body=data)
    else:
        path = Path(store_uri, *key.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        path.write_bytes(data)


def raw_delete(store_uri: str, key: str) -> None:
    if store_uri.startswith("s3://"):
        client, bucket, prefix = _s3(store_uri)
        client.delete_object(Bucket=bucket, Key=prefix + key)
    else:
        Path(store_uri, *key.split("/")).unlink()


def all_stored_bytes(store_uri: str) -> bytes:
    """Every byte stored under the store (S3: the whole bucket), concatenated with key names."""
    if store_uri.startswith("s3://"):
        client, bucket, _ = _s3(store_uri)
        out = []
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                out.append(item["Key"].encode() + b"\n" + client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
        return b"\n".join(out)
    root = Path(store_uri)
    return b"\n".join(str(p).encode() + b"\n" + p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def indexed_runs(store: Any) -> list[str]:
    """The run id of every index entry of ``store``, oldest first: a run indexed twice is there twice (list_bundles lists
    it once), so a test that a run is indexed once can fail."""
    from prov_common.bundle import index_keys, layout

    return [layout.run_id_of_index_key(key) or key for key in index_keys(store)]


def signed_staged(data: bytes | dict[str, Any], key: Any = None) -> bytes:
    """``data`` (an event, or the bytes to stage as one) as a writer stages it: signed by ``key``, by default this
    test's own signing key (``TDPROV_HOME``), which every seal of the test trusts."""
    from prov_common.bundle.staged import signed_event
    from prov_common.canonical_json import canonical_bytes
    from prov_common.signing import default_signing_key

    return signed_event(data if isinstance(data, bytes) else canonical_bytes(data), key or default_signing_key())


def seal_events_file(store_uri: str, events: list[dict[str, Any]], data: bytes) -> str:
    """Seal the run of ``events`` into ``store_uri`` signed by this process's key (trusted where the same home reads
    it), its ``events.jsonl`` replaced by ``data`` (as a stolen key, or a producer whose staged events were sealed as
    they came, could sign it); its run id."""
    from dataclasses import replace

    from prov_common.bundle import Bundle, build_bundle, layout
    from prov_common.bundle.build import statement_for
    from prov_common.bundle.model import FileEntry, blake3_digest
    from prov_common.bundle.storage import write_bundle
    from prov_common.signing import INTOTO_PAYLOAD_TYPE, default_signing_key, sign_envelope
    from prov_common.store import open_store
    from prov_common.store.identity import writer_store_id

    opened, key = open_store(store_uri), default_signing_key()
    sound = build_bundle(events, {}, key, store_id=writer_store_id(opened))
    files = {**sound.files, layout.EVENTS_FILE: data}
    manifest = replace(sound.manifest, files=tuple(FileEntry(p, blake3_digest(d), len(d)) for p, d in sorted(files.items())))
    manifest_bytes = manifest.to_json()
    statement = sign_envelope(statement_for(manifest, blake3_digest(manifest_bytes)), INTOTO_PAYLOAD_TYPE, [key]).to_json()
    write_bundle(opened, Bundle(sound.run_id, files, manifest, manifest_bytes, statement, key.key_id))
    return sound.run_id


def strict_on_slow_writes(tmp_path: Path, monkeypatch: Any, put_seconds: float) -> tuple[Path, Any]:
    """A strict transport (bound 0.2 s) on a local store at ``tmp_path/"store"`` whose every write takes
    ``put_seconds`` (a slow mount): the store folder and the transport."""
    import time

    from prov_common.bundle import transport
    from prov_common.store.local import LocalStore

    class Slow(LocalStore):
        def put(self, key, data):  # noqa: ANN001, ANN202 - LocalStore's signature
            time.sleep(put_seconds)
            return super().put(key, data)

    store = tmp_path / "store"
    monkeypatch.setattr(transport, "open_store", lambda *args, **kwargs: Slow(str(store)))
    return store, transport.ProvenanceTransport(transport.ProvenanceConfig(
        store=str(store), spool=str(tmp_path / "spool"), timeout=0.2, strict=True))
