"""in-toto subjects that generic verifiers match: the sha256 of each written file's bytes, with the
canonical table digest under its own name (docs/bundles.md, "Subjects"), checked with securesystemslib
and in-toto-attestation; bundles written before digest sets still verify."""
from __future__ import annotations

import base64
import json
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
from blake3 import blake3
from dagster import AssetIn, DagsterInstance, MaterializeResult, asset, materialize
from securesystemslib.exceptions import VerificationError as SslibVerificationError

from bundle_support import dataset, event
from intoto_support import file_sha256, subjects_matching, verified_statement
from prov_common.bundle import build_bundle, list_bundles, read_bundle, verify_bundle
from prov_common.bundle.build import derive_bundle, statement_for
from prov_common.bundle.model import Bundle
from prov_common.bundle.storage import deliver_bundle
from prov_common.bundle.events import parse_events_jsonl
from prov_common.cli import main as cli_main
from prov_common.config import Settings
from prov_common.hashing import hash_path
from prov_common.hashing.raw import blake3_digest
from prov_common.signing import INTOTO_PAYLOAD_TYPE, PublicKey, SigningKey, TrustStore, sign_envelope, signing_key_from_settings, trust_from_settings
from prov_common.store import open_store
from prov_dagster import ProvenanceIOManager, ProvenanceResource, provenance_asset

SEALED = datetime(2026, 3, 1, 10, 1, tzinfo=timezone.utc)
OLD = Path(__file__).parent / "data" / "bundle_digests_v1"  # written by tdprov before digest sets
TABLE_HEX, BYTES_HEX, SHA_A, SHA_B = "2" * 64, "4" * 64, "a" * 64, "b" * 64


def _hashed(namespace: str, name: str, digest_hex: str, kind: str, sha256: str | None) -> dict[str, Any]:
    out = dataset(namespace, name, "blake3:" + digest_hex)
    out["facets"]["tdprov_contentHash"] = {"digest": "blake3:" + digest_hex, "algorithm": "blake3", "kind": kind, "bytes": 10,
                                           **({"fileSha256": sha256} if sha256 else {})}
    return out


def _statement(bundle_bytes: bytes) -> dict[str, Any]:
    return json.loads(base64.b64decode(json.loads(bundle_bytes)["payload"]))


def test_subjects_carry_sha256_of_the_bytes_and_the_table_digest_under_its_own_name() -> None:
    key = SigningKey.generate()
    run_id = "0190c0de-0000-7000-8000-0000000000aa"
    outputs = [_hashed("s3://lake", "clean/users.parquet", TABLE_HEX, "table", SHA_A),
               _hashed("s3://lake", "model.bin", BYTES_HEX, "file", SHA_B),
               _hashed("s3://lake", "frame", "5" * 64, "table", None)]  # a DataFrame in memory: no file
    inputs = [_hashed("s3://lake", "raw/users.csv", "1" * 64, "table", "c" * 64)]
    events = [event(run_id, "START", "2026-03-01T10:00:00Z", inputs=inputs),
              event(run_id, "COMPLETE", "2026-03-01T10:00:05Z", inputs=inputs, outputs=outputs)]
    bundle = build_bundle(events, None, key, sealed_at=SEALED)

    statement = verified_statement(bundle.statement_bytes, key.public.to_pem())
    digests = {s["name"]: s["digest"] for s in statement["subject"]}
    assert digests == {
        "s3://lake/clean/users.parquet": {"sha256": SHA_A, "tdprovTable-blake3": TABLE_HEX},
        "s3://lake/model.bin": {"sha256": SHA_B, "blake3": BYTES_HEX},  # a digest of bytes keeps its own name
        "s3://lake/frame": {"tdprovTable-blake3": "5" * 64},
    }
    assert [s["name"] for s in subjects_matching(statement, SHA_A)] == ["s3://lake/clean/users.parquet"]
    assert statement["predicate"]["inputs"] == [{"name": "s3://lake/raw/users.csv",
                                                 "digest": {"sha256": "c" * 64, "tdprovTable-blake3": "1" * 64},
                                                 "annotations": {"namespace": "s3://lake", "name": "raw/users.csv"}}]
    assert bundle.manifest.digest_sets == "tdprov-digests/2"  # version 3 gives these the same DigestSets

    # the independent verifier refuses a changed statement and a key it was not given
    envelope = json.loads(bundle.statement_bytes)
    changed = json.dumps({**statement, "subject": [{"name": "x", "digest": {"sha256": SHA_B}}]}).encode()
    envelope["payload"] = base64.b64encode(changed).decode()
    with pytest.raises(SslibVerificationError):
        verified_statement(json.dumps(envelope).encode(), key.public.to_pem())
    with pytest.raises(SslibVerificationError):
        verified_statement(bundle.statement_bytes, SigningKey.generate().public.to_pem())


def test_a_subject_with_a_sha256_that_is_not_hex_gets_none() -> None:
    run_id = "0190c0de-0000-7000-8000-0000000000ab"
    out = _hashed("file", "/d/x.parquet", TABLE_HEX, "table", "not-a-digest")
    bundle = build_bundle([event(run_id, "COMPLETE", "2026-03-01T10:00:05Z", outputs=[out])], None, SigningKey.generate(),
                          sealed_at=SEALED)
    assert _statement(bundle.statement_bytes)["subject"][0]["digest"] == {"tdprovTable-blake3": TABLE_HEX}


@pytest.fixture
def old_store(tmp_path: Path) -> tuple[Path, PublicKey]:
    shutil.copytree(OLD / "store", tmp_path / "store")
    return tmp_path / "store", PublicKey.from_pem((OLD / "signer.pub").read_bytes())


def test_a_bundle_written_before_digest_sets_still_verifies(old_store: tuple[Path, PublicKey]) -> None:
    path, public = old_store
    store = open_store(str(path))
    [summary] = list(list_bundles(store))
    report = verify_bundle(store, summary.run_id, TrustStore.of([public]))
    assert report.ok, report.findings
    bundle = read_bundle(store, summary.run_id)
    assert bundle.manifest.digest_sets is None and b"digestSets" not in bundle.manifest_bytes
    statement = verified_statement(bundle.statement_bytes, public.to_pem())
    assert statement["subject"] == [{"name": "s3://lake/clean/users.parquet", "digest": {"blake3": TABLE_HEX}}]
    assert set(statement["predicate"]["manifest"]["digest"]) == {"blake3"}

    # and still as strictly: a changed event is found
    events = path / "bundles" / summary.run_id / "events.jsonl"
    events.write_bytes(events.read_bytes().replace(b"old_job", b"new_job"))
    problems = {(f.key.rsplit("/", 1)[-1], f.problem) for f in verify_bundle(store, summary.run_id, TrustStore.of([public])).findings}
    assert ("events.jsonl", "digest mismatch") in problems


def test_files_the_content_hash_transformer_hashes_are_matched_by_their_sha256(tmp_path: Path) -> None:
    """Another producer's events enriched in flight (``ContentHashTransformer`` in front of the tdprov transport)
    name each file's bytes by their SHA-256, a table's and a plain file's alike (they had only the content digest)."""
    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState

    store = tmp_path / "store"
    raw, model = tmp_path / "raw.parquet", tmp_path / "model.bin"
    pd.DataFrame({"id": [1, 2, 3]}).to_parquet(raw, index=False)
    model.write_bytes(b"\x00weights\xff")
    client = OpenLineageClient(config={"transport": {
        "type": "transform", "transformer_class": "prov_common.lineage.enrich.ContentHashTransformer",
        "transport": {"type": "prov_common.bundle.transport.ProvenanceTransport", "store": str(store)}}})
    run, job = Run(runId="018cc251-f400-7e09-851b-637cdaa232ad"), Job(namespace="other", name="producer.fit")
    for state, time_ in ((RunState.START, "2026-03-01T10:00:00Z"), (RunState.COMPLETE, "2026-03-01T10:00:05Z")):
        client.emit(RunEvent(eventType=state, eventTime=time_, run=run, job=job, producer="https://example.invalid/p",
                             inputs=[InputDataset(namespace="file", name=str(raw))],
                             outputs=[OutputDataset(namespace="file", name=str(model))]))

    settings = Settings.from_env(store=str(store))
    opened = open_store(str(store))
    [summary] = list(list_bundles(opened))
    statement = verified_statement(read_bundle(opened, summary.run_id).statement_bytes,
                                   signing_key_from_settings(settings).public.to_pem())
    [read] = statement["predicate"]["inputs"]
    assert read["digest"] == {"sha256": file_sha256(raw), "tdprovTable-blake3": hash_path(raw).digest.split(":", 1)[1]}
    [subject] = subjects_matching(statement, file_sha256(model))
    assert subject["digest"] == {"sha256": file_sha256(model), "blake3": hash_path(model).digest.split(":", 1)[1]}

# --- Dagster: the Parquet file the IO manager wrote ----------------------------------------------------

@asset
def table() -> pd.DataFrame:
    return pd.DataFrame({"id": range(50), "x": [i / 4 for i in range(50)], "s": [f"r{i}" for i in range(50)]})


@asset(ins={"table": AssetIn()})
def doubled(table: pd.DataFrame) -> pd.DataFrame:
    return table.assign(x=table["x"] * 2)


def test_dagster_outputs_are_matched_by_the_sha256_of_the_parquet_file(tmp_path: Path, monkeypatch, ol_validator) -> None:
    store_path = tmp_path / "store"
    monkeypatch.setenv("TDPROV_STORE", str(store_path))
    with DagsterInstance.ephemeral() as instance:
        result = materialize([table, doubled], instance=instance, resources={"io_manager": ProvenanceIOManager()})
    assert result.success
    files = {p.stem: p for p in (tmp_path / "store-data").rglob("*.parquet")}
    assert set(files) == {"table", "doubled"}
    public = signing_key_from_settings(Settings.from_env()).public.to_pem()
    store = open_store(str(store_path))
    statements = {}
    for summary in list_bundles(store):
        assert verify_bundle(store, summary.run_id, trust_from_settings(Settings.from_env())).ok
        bundle = read_bundle(store, summary.run_id)
        statements[summary.run_id] = verified_statement(bundle.statement_bytes, public)
        for event_ in parse_events_jsonl(bundle.files["events.jsonl"]):
            ol_validator.validate_event(event_)  # fileSha256 is in the facet's JSON Schema

    for name, path in files.items():
        sha = file_sha256(path)
        matched = [s for st in statements.values() for s in subjects_matching(st, sha)]
        assert len(matched) == 1, f"{name}: {sha} among {[st['subject'] for st in statements.values()]}"
        assert matched[0]["digest"]["tdprovTable-blake3"] == hash_path(path).digest.split(":", 1)[1]
    # the downstream step read the exact bytes written upstream: its input names their sha256
    inputs = [i for st in statements.values() for i in st["predicate"]["inputs"]]
    assert [i["digest"]["sha256"] for i in inputs] == [file_sha256(files["table"])]

    # the same table in other bytes (another compression) keeps its table digest but no longer matches
    before = file_sha256(files["table"])
    pq.write_table(pq.read_table(files["table"]), files["table"], compression="gzip")
    assert hash_path(files["table"]).digest.split(":", 1)[1] == matched_table_digest(statements, before)
    assert not any(subjects_matching(st, file_sha256(files["table"])) for st in statements.values())


def matched_table_digest(statements: dict[str, dict[str, Any]], sha: str) -> str:
    [subject] = [s for st in statements.values() for s in subjects_matching(st, sha)]
    return subject["digest"]["tdprovTable-blake3"]


def test_two_datasets_of_one_uri_are_told_apart_by_their_namespace_and_name(tmp_path: Path, monkeypatch) -> None:
    """The DataFrames ``x`` and ``/x`` are the datasets (``inmemory://``, ``x``) and (``inmemory://``, ``/x``), whose URIs
    are both ``inmemory://x``: each subject and output carries its (namespace, name) in its annotations."""
    monkeypatch.setenv("TDPROV_STORE", str(tmp_path / "store"))
    frames = {"x": pd.DataFrame({"v": [1, 2, 3]}), "/x": pd.DataFrame({"v": [7, 8, 9, 10]})}
    done = ProvenanceResource(dask_scheduler="none").record(outputs=frames, job_name="two_of_one_uri")
    store, settings = open_store(str(tmp_path / "store")), Settings.from_env()
    [summary] = list(list_bundles(store))
    assert verify_bundle(store, summary.run_id, trust_from_settings(settings)).ok
    statement = verified_statement(read_bundle(store, summary.run_id).statement_bytes,
                                   signing_key_from_settings(settings).public.to_pem())

    expected = {("inmemory://", name): done.digests[name].split(":", 1)[1] for name in frames}
    for descriptors in (statement["subject"], statement["predicate"]["outputs"]):
        assert [d["name"] for d in descriptors] == ["inmemory://x", "inmemory://x"]  # the URI: one for both
        told = {(d["annotations"]["namespace"], d["annotations"]["name"]): d["digest"]["tdprovTable-blake3"] for d in descriptors}
        assert told == expected


def _sealed_with_digest_sets(events: list[dict[str, Any]], key: SigningKey, digest_sets: str) -> Bundle:
    """A bundle as a writer of that digest-set version sealed it."""
    d = derive_bundle(events, None, sealed_at=SEALED, digest_sets=digest_sets)
    envelope = sign_envelope(statement_for(d.manifest, blake3_digest(d.manifest_bytes)), INTOTO_PAYLOAD_TYPE, [key])
    return Bundle(d.state.run_id, d.files, d.manifest, d.manifest_bytes, envelope.to_json(), key.key_id)


def test_an_unknown_digest_set_version_is_refused_before_the_events_are_read(tmp_path: Path) -> None:
    """derive_written folded a sealed events.jsonl to its end before it checked the manifest's digest-set version, and
    verification then parsed the file whole too, before refusing a version this tdprov does not know. The version is
    refused first: a file whose line 3 is no event is not read, and the finding names the version, not the line."""
    from dataclasses import replace

    from prov_common.bundle.build import derive_written
    from prov_common.bundle.model import FileEntry
    from prov_common.errors import BadInputError
    from prov_common.w3cprov.mapping import PROV_MAPPING

    unknown, refused = "tdprov-digests/99", "digest sets 'tdprov-digests/99' are not known to this version of tdprov"
    with pytest.raises(BadInputError, match=f"^{refused} "):
        derive_written(b"[1]\n", "events.jsonl", sealed_at=SEALED, hashed=(), digest_sets=unknown, prov_mapping=PROV_MAPPING,
                       local_names=True, versions_apart=True)
    key, run_id = SigningKey.generate(), "0190c0de-0000-7000-8000-0000000000ad"
    sound = _sealed_with_digest_sets([event(run_id, "START", "2026-03-01T10:00:00Z"),
                                      event(run_id, "COMPLETE", "2026-03-01T10:00:05Z")], key, "tdprov-digests/2")
    files = {**sound.files, "events.jsonl": bytes(sound.files["events.jsonl"]) + b"[1]\n"}
    manifest = replace(sound.manifest, digest_sets=unknown,
                       files=tuple(FileEntry(p, blake3_digest(d), len(d)) for p, d in sorted(files.items())))
    manifest_bytes = manifest.to_json()  # signed as a later tdprov would: its statement names these bytes
    statement = statement_for(replace(manifest, digest_sets=sound.manifest.digest_sets), blake3_digest(manifest_bytes))
    envelope = sign_envelope(statement, INTOTO_PAYLOAD_TYPE, [key])
    store = open_store(str(tmp_path / "store"))
    deliver_bundle(store, Bundle(run_id, files, manifest, manifest_bytes, envelope.to_json(), key.key_id))
    report = verify_bundle(store, run_id, TrustStore.of([key.public]))
    events = [(f.problem, f.reason) for f in report.findings if f.key.endswith("/events.jsonl")]
    assert len(events) == 1 and events[0][0] == "malformed" and events[0][1].startswith(refused), report.findings


def test_a_version_in_toto_would_refuse_as_a_digest_is_named_as_a_version(tmp_path: Path) -> None:
    """A datasetVersion "sha256:<16 bytes>" or "v:0x1f" is a version, not a digest: in-toto's
    validator refuses a statement whose sha256 is not 32 bytes of hex, so the statement names such a version in its
    annotations, and the manifest records digest sets 3 (a bundle whose DigestSets version 2 gives alike records 2).
    Bundles sealed under digest sets 2, which took both for digests, still verify."""
    key = SigningKey.generate()
    run_id = "0190c0de-0000-7000-8000-0000000000ac"
    outputs = [dataset("s3://lake", "short.csv", "sha256:" + "AB" * 16), dataset("s3://lake", "hex.csv", "v:0x1f"),
               dataset("s3://lake", "full.csv", "SHA256:" + "CD" * 32)]
    events = [event(run_id, "COMPLETE", "2026-03-01T10:00:05Z", inputs=[dataset("s3://lake", "in.csv", "md5:abc")], outputs=outputs)]
    bundle = build_bundle(events, None, key, sealed_at=SEALED)
    assert bundle.manifest.digest_sets == "tdprov-digests/3"
    statement = verified_statement(bundle.statement_bytes, key.public.to_pem())
    assert statement["subject"] == [{"name": "s3://lake/full.csv", "digest": {"sha256": "cd" * 32},
                                     "annotations": {"namespace": "s3://lake", "name": "full.csv"}}]
    assert {o["annotations"]["name"]: o.get("digest") or o["annotations"]["version"] for o in statement["predicate"]["outputs"]} == {
        "short.csv": "sha256:" + "AB" * 16, "hex.csv": "v:0x1f", "full.csv": {"sha256": "cd" * 32}}
    assert statement["predicate"]["inputs"][0]["annotations"]["version"] == "md5:abc"

    old = _sealed_with_digest_sets(events, key, "tdprov-digests/2")
    assert {s["name"]: s["digest"] for s in _statement(old.statement_bytes)["subject"]}["s3://lake/short.csv"] == {"sha256": "ab" * 16}
    with pytest.raises(AssertionError, match="sha256"):
        verified_statement(old.statement_bytes, key.public.to_pem())
    store = open_store(str(tmp_path / "store"))
    deliver_bundle(store, old)
    report = verify_bundle(store, run_id, TrustStore.of([key.public]))
    assert report.ok, report.findings


def test_a_version_named_by_an_algorithm_in_toto_spells_in_mixed_case_keeps_its_spelling(tmp_path: Path) -> None:
    """Another producer's datasetVersion "gitCommit:<40 hex>" is the DigestSet {"gitCommit": ...}, the key in-toto's spec
    names (it was "gitcommit", which no verifier reads as a commit); the manifest records digest sets 5, and a bundle
    sealed under digest sets 4, which gave "gitcommit", still verifies."""
    key = SigningKey.generate()
    run_id = "0190c0de-0000-7000-8000-0000000000ad"
    commit = "ab" * 20
    events = [event(run_id, "COMPLETE", "2026-03-01T10:00:05Z", outputs=[dataset("git://repo", "data", "gitCommit:" + commit.upper())])]
    bundle = build_bundle(events, None, key, sealed_at=SEALED)
    assert bundle.manifest.digest_sets == "tdprov-digests/5"
    statement = verified_statement(bundle.statement_bytes, key.public.to_pem())
    assert [s["digest"] for s in statement["subject"]] == [{"gitCommit": commit}]
    assert [o["digest"] for o in statement["predicate"]["outputs"]] == [{"gitCommit": commit}]

    old = _sealed_with_digest_sets(events, key, "tdprov-digests/4")
    assert [s["digest"] for s in _statement(old.statement_bytes)["subject"]] == [{"gitcommit": commit}]
    store = open_store(str(tmp_path / "store"))
    deliver_bundle(store, old)
    report = verify_bundle(store, run_id, TrustStore.of([key.public]))
    assert report.ok, report.findings


@pytest.mark.parametrize("algorithm, size", [("gitCommit", 32), ("dirHash", 20)])
def test_a_mixed_case_algorithm_of_another_size_than_in_toto_reads_is_named_as_a_version(algorithm: str, size: int) -> None:
    """in-toto's validator reads gitCommit as 20 bytes and dirHash as 32: a version "gitCommit:<32 bytes>" (a SHA-256
    repository's commit) is named in the annotations, not given as a DigestSet in-toto refuses."""
    key = SigningKey.generate()
    version = f"{algorithm}:" + "cd" * size
    events = [event("0190c0de-0000-7000-8000-0000000000ae", "COMPLETE", "2026-03-01T10:00:05Z",
                    outputs=[dataset("git://repo", "data", version)])]
    bundle = build_bundle(events, None, key, sealed_at=SEALED)
    statement = verified_statement(bundle.statement_bytes, key.public.to_pem())
    assert [o.get("digest") for o in statement["predicate"]["outputs"]] == [None]
    assert statement["predicate"]["outputs"][0]["annotations"]["version"] == version


# --- Dagster: a declared source, named by what its source record says of its digest --------------------------------

def _from_source(source: str, read: Path) -> Any:
    @provenance_asset(source=source, name=f"from_{source}")
    def from_source() -> pd.DataFrame:
        return pd.read_csv(read)
    return from_source


def test_a_declared_source_is_named_by_the_kind_of_digest_its_record_holds(tmp_path: Path, monkeypatch, ol_validator) -> None:
    """A source registered from a CSV file holds the CSV's table digest, which is no hash of its bytes: the statement
    names it ``tdprovTable-blake3``, never ``blake3`` (b3sum of the file would not match). One registered from other
    bytes is their ``blake3``. One registered with ``--digest`` says neither: the statement names it as a version, and
    only that bundle records digest sets 4; a bundle sealed under version 3, which took it for bytes, still verifies."""
    monkeypatch.setenv("TDPROV_STORE", str(tmp_path / "store"))
    cells, weights = tmp_path / "breast_cancer.csv", tmp_path / "weights.bin"
    cells.write_text("radius,label\n1.5,M\n2.25,B\n")
    weights.write_bytes(b"\x00weights\xff")
    table_hex = hash_path(cells).digest.split(":", 1)[1]
    for name, path, more in (("cells", cells, []), ("weights", weights, []), ("unsaid", cells, ["--digest", hash_path(cells).digest])):
        assert cli_main(["source", "add", str(path), "--name", name, "--license", "CC0-1.0", "--issuer", "Clinic", *more]) == 0
    with DagsterInstance.ephemeral() as instance:
        result = materialize([_from_source(s, cells) for s in ("cells", "weights", "unsaid")], instance=instance,
                             resources={"io_manager": ProvenanceIOManager()})
    assert result.success
    settings = Settings.from_env()
    store, public = open_store(str(tmp_path / "store")), signing_key_from_settings(settings).public.to_pem()
    read, digest_sets = {}, {}
    for summary in list_bundles(store):
        assert verify_bundle(store, summary.run_id, trust_from_settings(settings)).ok
        bundle = read_bundle(store, summary.run_id)
        for event_ in parse_events_jsonl(bundle.files["events.jsonl"]):
            ol_validator.validate_event(event_, custom_schemas=True)  # the source's tdprov_contentHash, by its schema too
        [source] = verified_statement(bundle.statement_bytes, public)["predicate"]["inputs"]
        read[summary.job_name], digest_sets[summary.job_name] = source, bundle.manifest.digest_sets

    assert read["from_cells"]["digest"] == {"tdprovTable-blake3": table_hex}  # b3sum breast_cancer.csv is another digest
    assert blake3(cells.read_bytes()).hexdigest() != table_hex
    assert read["from_weights"]["digest"] == {"blake3": blake3(weights.read_bytes()).hexdigest()}
    assert "digest" not in read["from_unsaid"] and read["from_unsaid"]["annotations"]["version"] == "blake3:" + table_hex
    assert digest_sets == {"from_cells": "tdprov-digests/2", "from_weights": "tdprov-digests/2", "from_unsaid": "tdprov-digests/4"}

    [unsaid] = [s for s in list_bundles(store) if s.job_name == "from_unsaid"]
    events = parse_events_jsonl(read_bundle(store, unsaid.run_id).files["events.jsonl"])
    key = SigningKey.generate()
    old = _sealed_with_digest_sets(events, key, "tdprov-digests/3")  # as tdprov before digest sets 4 sealed it
    assert _statement(old.statement_bytes)["predicate"]["inputs"][0]["digest"] == {"blake3": table_hex}
    other = open_store(str(tmp_path / "other"))
    deliver_bundle(other, old)
    report = verify_bundle(other, unsaid.run_id, TrustStore.of([key.public]))
    assert report.ok, report.findings


def test_an_upstream_the_step_reads_itself_is_named_by_the_kind_of_digest_its_metadata_records(tmp_path: Path, monkeypatch) -> None:
    """An upstream of ``deps=[...]`` is recorded by the digest its materialization's metadata holds: the Parquet file
    the IO manager wrote by its table digest (``tdprovTable-blake3``, not ``blake3``: b3sum of the file is another
    digest), a file recorded with ``record()`` by the BLAKE3 of its bytes."""
    monkeypatch.setenv("TDPROV_STORE", str(tmp_path / "store"))
    weights = tmp_path / "weights.bin"

    @asset
    def rows() -> pd.DataFrame:
        return pd.DataFrame({"id": [1, 2, 3]})

    @asset
    def model(context, provenance: ProvenanceResource) -> MaterializeResult:
        weights.write_bytes(b"\x01weights\xfe")
        done = provenance.record(outputs={"model": str(weights)}, context=context)
        return MaterializeResult(metadata=done.metadata, data_version=done.data_version)

    @asset(deps=[rows, model])
    def report() -> pd.DataFrame:
        return pd.DataFrame({"n": [len(pd.read_parquet(next((tmp_path / "store-data").rglob("rows.parquet"))))]})

    with DagsterInstance.ephemeral() as instance:
        result = materialize([rows, model, report], instance=instance,
                             resources={"io_manager": ProvenanceIOManager(), "provenance": ProvenanceResource()})
    assert result.success
    settings = Settings.from_env()
    store, public = open_store(str(tmp_path / "store")), signing_key_from_settings(settings).public.to_pem()
    [summary] = [s for s in list_bundles(store) if s.job_name == "report"]
    assert verify_bundle(store, summary.run_id, trust_from_settings(settings)).ok
    statement = verified_statement(read_bundle(store, summary.run_id).statement_bytes, public)
    parquet = next((tmp_path / "store-data").rglob("rows.parquet"))
    read = {Path(i["annotations"]["name"]).name: i["digest"] for i in statement["predicate"]["inputs"]}
    assert read == {"rows.parquet": {"tdprovTable-blake3": hash_path(parquet).digest.split(":", 1)[1]},
                    "weights.bin": {"blake3": blake3(weights.read_bytes()).hexdigest()}}
    assert blake3(parquet.read_bytes()).hexdigest() != read["rows.parquet"]["tdprovTable-blake3"]


def test_a_dataset_written_at_two_versions_is_two_subjects_an_outside_verifier_takes() -> None:
    """A run that wrote one file, then wrote it again (mapping 6 keeps both versions), signs two subjects of one
    name: in-toto's validator takes the statement, and each file's SHA-256 matches the subject of its own version."""
    key = SigningKey.generate()
    run_id = "0190c0de-0000-7000-8000-0000000000ab"
    first, second = (_hashed("s3://lake", "clean/users.parquet", hex_, "table", sha) for hex_, sha in ((TABLE_HEX, SHA_A), (BYTES_HEX, SHA_B)))
    events = [event(run_id, "START", "2026-03-01T10:00:00Z"),
              event(run_id, "RUNNING", "2026-03-01T10:00:02Z", outputs=[first]),
              event(run_id, "COMPLETE", "2026-03-01T10:00:05Z", outputs=[second])]
    bundle = build_bundle(events, None, key, sealed_at=SEALED)
    statement = verified_statement(bundle.statement_bytes, key.public.to_pem())
    assert sorted(s["digest"]["tdprovTable-blake3"] for s in statement["subject"]) == sorted([TABLE_HEX, BYTES_HEX])
    assert {s["name"] for s in statement["subject"]} == {"s3://lake/clean/users.parquet"}
    assert [s["digest"]["tdprovTable-blake3"] for s in subjects_matching(statement, SHA_B)] == [BYTES_HEX]
