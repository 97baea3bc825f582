"""Builders shared by the audit tests: OpenLineage run events, sealed bundles in a store, raw tampering.

(No tests here; the audit test modules import these helpers.)
"""
from __future__ import annotations

import copy
import os
import re
import shutil
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Generic, TypeVar

from prov_common import PRODUCER
from prov_common.bundle import build_bundle
from prov_common.bundle.storage import deliver_bundle
from prov_common.signing import SigningKey, default_signing_key
from prov_common.sources import SourceRecord, register_source
from prov_common.store import identity, open_store
from prov_common.store.base import Store
from prov_common.store.identity import writer_store_id

SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)


def digest(tag: str) -> str:
    import blake3

    return "blake3:" + blake3.blake3(tag.encode()).hexdigest()


def dataset(name: str, version: str | None, *, namespace: str = "file", passed: bool | None = None, failed: tuple[str, ...] = ()) -> dict[str, Any]:
    facets: dict[str, Any] = {}
    if version:
        facets["version"] = {"_producer": PRODUCER, "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json",
                             "datasetVersion": version}
    if passed is not None:
        facets["tdprov_pandera"] = {"_producer": PRODUCER, "_schemaURL": "https://example.invalid/PanderaDatasetFacet.json",
                                    "schemaName": f"{name}_schema", "schemaDigest": digest(name), "passed": passed,
                                    "failureCount": len(failed) * 3,
                                    "checks": [{"name": c, "column": "amount", "passed": False, "failureCount": 3} for c in failed]}
    return {"namespace": namespace, "name": name, "facets": facets}


def run_events(job: str, inputs: list[dict], outputs: list[dict], *, start: datetime = T0, run_id: str | None = None,
               job_type: str | None = None, end_type: str | None = "COMPLETE", minutes: int = 5) -> list[dict[str, Any]]:
    run_id = run_id or str(uuid.uuid4())
    job_facets = {"jobType": {"_producer": PRODUCER, "_schemaURL": "https://openlineage.io/spec/facets/2-0-3/JobTypeJobFacet.json",
                              "processingType": "BATCH", "integration": "DAGSTER", "jobType": job_type}} if job_type else {}

    def ev(kind: str, moment: datetime, with_outputs: bool) -> dict[str, Any]:
        return {"eventType": kind, "eventTime": moment.isoformat().replace("+00:00", "Z"), "producer": PRODUCER, "schemaURL": SCHEMA_URL,
                "run": {"runId": run_id, "facets": {}}, "job": {"namespace": "tests", "name": job, "facets": job_facets},
                "inputs": inputs, "outputs": outputs if with_outputs else []}

    events = [ev("START", start, False)]
    if end_type:
        events.append(ev(end_type, start + timedelta(minutes=minutes), True))
    return events


def seal(store: Store, events: list[dict], key: SigningKey | None = None) -> str:
    """Seal a run as the transport does: signed for the store's identity."""
    bundle = build_bundle(events, None, key or default_signing_key(), store_id=writer_store_id(store))
    deliver_bundle(store, bundle)
    return bundle.run_id



def audit(store: Any, **kw: Any) -> Any:
    """``run_audit`` of ``store`` (a Store, its URI, or anything with a ``.store``) under the settings of that store,
    with no progress bar; ``kw`` go to ``run_audit``."""
    from prov_common.audit import run_audit
    from prov_common.config import Settings

    store = getattr(store, "store", store)
    store = open_store(store) if isinstance(store, str) else store
    return run_audit(store, Settings.from_env(store=store.uri), progress=False, **kw)


def seal_chain(store: Store, first: int, count: int) -> None:
    """Seal runs ``first`` .. ``first + count - 1``: even ones prepare ``/data/f<i>.parquet`` from ``/data/raw.csv``,
    odd ones train ``/m/<i>`` on the one before (a minute apart from :data:`T0`)."""
    for i in range(first, first + count):
        start = T0 + timedelta(minutes=i)
        if i % 2 == 0:
            seal(store, run_events("prepare", [dataset("/data/raw.csv", digest("raw"))], [dataset(f"/data/f{i}.parquet", digest(f"f{i}"))], start=start))
        else:
            seal(store, run_events("train_model", [dataset(f"/data/f{i - 1}.parquet", digest(f"f{i - 1}"))], [dataset(f"/m/{i}", digest(f"m{i}"))],
                                   start=start, job_type="TRAINING"))

NAMED_BY_DATA = {"prefix", "columns", "columnTypes", "extra"}
"""Keys of tdprov's JSON whose keys are not tdprov's names (docs/cli.md, "Names in JSON"): PROV-JSON's namespace
prefixes, the data's column names ('hash --json') and a source's extra fields, named by its issuer."""


def not_camel_case(doc: Any, where: str = "") -> list[str]:
    """Where parsed JSON ``doc`` names a field other than in camelCase, as tdprov's JSON names all of its own; a key
    holding ':' or starting '@' is a term of a vocabulary (``prov:type``, ``@id``) or a PROV-JSON id, ``$`` a PROV-JSON
    literal's value, and the keys under :data:`NAMED_BY_DATA` are the data's."""
    found: list[str] = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            if not (re.fullmatch(r"[a-z][a-zA-Z0-9]*", key) or ":" in key or key.startswith("@") or key == "$"):
                found.append(f"{where}.{key}")
            if key not in NAMED_BY_DATA:
                found += not_camel_case(value, f"{where}.{key}")
    elif isinstance(doc, list):
        for value in doc:
            found += not_camel_case(value, f"{where}[]")
    return sorted(set(found))


def text_jobs(doc: Any, where: str = "") -> list[str]:
    """Where parsed JSON ``doc`` gives a job other than as ``{"namespace": ..., "name": ...}``, the one shape of a job in
    all of tdprov's JSON (docs/cli.md, "Names in JSON"): a field ``job`` or ``...Job`` that is not such an object (an
    OpenLineage event's job, with its facets, is one), or a ``jobNamespace`` or ``jobName`` beside it. The keys under
    :data:`NAMED_BY_DATA` are the data's."""
    found: list[str] = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key in ("jobNamespace", "jobName"):
                found.append(f"{where}.{key}")
            elif re.fullmatch(r"job|[a-z][a-zA-Z0-9]*Job", key) and not (
                    isinstance(value, dict) and isinstance(value.get("namespace"), str) and isinstance(value.get("name"), str)):
                found.append(f"{where}.{key}")
            elif key not in NAMED_BY_DATA:
                found += text_jobs(value, f"{where}.{key}")
    elif isinstance(doc, list):
        for value in doc:
            found += text_jobs(value, f"{where}[]")
    return sorted(set(found))


class Pipeline:
    """A small training pipeline: registered source -> prepare -> train; run ids and versions by name."""

    def __init__(self, store_uri: str, data_dir: Path | None = None) -> None:
        self.store = open_store(store_uri)
        self.key = default_signing_key()
        self.raw, self.features, self.model = digest("raw"), digest("features"), digest("model")
        self.raw_name = str(data_dir / "raw.csv") if data_dir else "/data/raw.csv"
        register_source(self.store, SourceRecord(name="vendor-raw", digest=self.raw, license="CC-BY-4.0", issuer="Acme Data",
                                                 location=self.raw_name, origin_geography=("DE",), generation_method="survey",
                                                 collection_start="2025-01-01", collection_end="2025-03-31", personal_data="pseudonymised",
                                                 confidentiality="internal", consent="https://acme.example/consent", intended_use="churn model"),
                        self.key)
        self.prepare = seal(self.store, run_events("prepare_features", [dataset(self.raw_name, self.raw)],
                                                   [dataset("/data/features.parquet", self.features, passed=True)]))
        self.train = seal(self.store, run_events("train_model", [dataset("/data/features.parquet", self.features)],
                                                 [dataset("/models/churn.pkl", self.model)], start=T0 + timedelta(hours=1), job_type="TRAINING"))

    def reopened(self) -> "Pipeline":
        """This pipeline with its store opened again and the signing key of TDPROV_HOME as it now is."""
        pipe = copy.copy(self)
        pipe.store, pipe.key = open_store(self.store.uri), default_signing_key()
        return pipe


# --- raw access that bypasses the write-once store (what an attacker or an accident would do) -----------

def _s3(uri: str):
    bucket, _, prefix = uri[len("s3://"):].partition("/")
    return _client(), bucket, (prefix.rstrip("/") + "/") if prefix else ""


def _client():
    """The S3 client for the AWS environment as it now is (one per environment: making a client takes a while)."""
    return _client_for(tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_"))))


@lru_cache(maxsize=8)
def _client_for(environment: tuple[tuple[str, str], ...]):
    import boto3

    return boto3.session.Session().client("s3")


def raw_read(uri: str, key: str) -> bytes:
    if uri.startswith("s3://"):
        client, bucket, prefix = _s3(uri)
        return client.get_object(Bucket=bucket, Key=prefix + key)["Body"].read()
    return (Path(uri) / key).read_bytes()


def raw_write(uri: str, key: str, data: bytes) -> None:
    if uri.startswith("s3://"):
        client, bucket, prefix = _s3(uri)
        client.put_object(Bucket=bucket, Key=prefix + key, Body=data)
    else:
        (Path(uri) / key).parent.mkdir(parents=True, exist_ok=True)
        (Path(uri) / key).write_bytes(data)


def raw_delete(uri: str, key: str) -> None:
    if uri.startswith("s3://"):
        client, bucket, prefix = _s3(uri)
        client.delete_object(Bucket=bucket, Key=prefix + key)
    else:
        (Path(uri) / key).unlink()


def bucket_listing(client, bucket: str) -> dict[str, tuple[int, str]]:
    """Every object of S3 bucket ``bucket``: key -> (size, ETag), what a store's listing fingerprints."""
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {o["Key"]: (o["Size"], o["ETag"]) for page in pages for o in page.get("Contents", ())}


def copy_bucket(source: str, target: str) -> None:
    """Make S3 bucket ``target`` hold exactly the objects of bucket ``source``: each object of ``target`` that ``source``
    does not hold with the same size and ETag is deleted, and each object of ``source`` that ``target`` then lacks is
    copied server-side, which keeps its bytes and ETag (checked), so a listing of ``target`` fingerprints them as in
    ``source`` (a listing's fingerprint is the size and ETag; objects left in place are those bytes already)."""
    from concurrent.futures import ThreadPoolExecutor

    client = _client()
    have, wanted = bucket_listing(client, target), bucket_listing(client, source)
    stale = [{"Key": key} for key, tag in have.items() if wanted.get(key) != tag]
    for i in range(0, len(stale), 1000):
        client.delete_objects(Bucket=target, Delete={"Objects": stale[i:i + 1000], "Quiet": True})
    missing = [key for key, tag in wanted.items() if have.get(key) != tag]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: client.copy_object(Bucket=target, Key=key, CopySource={"Bucket": source, "Key": key}), missing))
    copied = bucket_listing(client, target)
    assert copied == wanted, f"bucket {target} is not a copy of {source}: {set(copied.items()) ^ set(wanted.items())}"


def forget_identities(uri_prefix: str) -> None:
    """Forget the identity this process's readers and writers know of each store whose URI starts with ``uri_prefix``:
    as for a new store made there."""
    for cache in (identity._known, identity._bound):
        for uri in [u for u in cache if u.startswith(uri_prefix)]:
            del cache[uri]


T = TypeVar("T")


class S3Snapshot(Generic[T]):
    """A store on S3 that ``build(uri)`` fills once per test process, put back for each test that asks.

    The auditor's memory and inventory objects name the store's URI, so each copy is put back at the same URI: the
    bucket is emptied (a test's other stores, ``URI-other``, with it) and refilled with server-side copies of the
    objects the build left (their bytes and ETags, which the memory fingerprints); the test's TDPROV_HOME receives the
    build's home (signing key, memory); the identity this process knows of the store is the one copied. (A local folder
    is built afresh: a copied file has a new inode and change time, which the memory's fingerprints hold.)"""

    def __init__(self, server: Any, folder: Path, build: Callable[[str], T]) -> None:
        self.server, self.folder, self.build = server, folder, build
        self.built: T | None = None
        self.identity: identity.StoreIdentity | None = None
        self.bucket = self.snapshot = ""  # the store's bucket, and the bucket that keeps the objects as built

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/prefix"

    def restore(self, home: Path) -> T:
        """Put the built store back at :attr:`uri` and its home in ``home``; what ``build`` returned."""
        if self.built is None:
            self._build()
        copy_bucket(self.snapshot, self.bucket)
        shutil.copytree(self.folder / "home", home, dirs_exist_ok=True)
        forget_identities(f"s3://{self.bucket}/")
        identity.remember(open_store(self.uri), self.identity)
        assert self.built is not None
        return self.built

    def _build(self) -> None:
        import pytest

        self.bucket, self.snapshot = self.server.create_bucket(), self.server.create_bucket()
        with pytest.MonkeyPatch.context() as build:
            build.setenv("TDPROV_HOME", str(self.folder / "home"))
            built = self.build(self.uri)
        self.identity = identity.read_identity(open_store(self.uri))
        copy_bucket(self.bucket, self.snapshot)
        self.built = built


def flip_byte(uri: str, key: str, at: float = 0.5) -> None:
    data = bytearray(raw_read(uri, key))
    i = int(len(data) * at)
    data[i] ^= 0x01
    raw_write(uri, key, bytes(data))
