"""Row sets and snapshots from a real Dagster ``materialize``: ``tdprov contains`` answers with a proof,
a lookup reads a few KB by range, and ``tdprov checkout`` brings deleted data back byte for byte
(local store and S3 on moto's server)."""
from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from dagster import DagsterInstance, MaterializeResult, asset, materialize

from prov_common.audit.catalog import known_runs
from prov_common.audit.recorded import RecordedRuns
from prov_common.audit.lineage import LineageIndex
from prov_common.audit.membership import find_row_set
from prov_common.cli import main
from prov_common.config import Settings
from prov_common.errors import BadInputError, VerificationError
from prov_common.hashing import hash_path
from prov_common.rowset import RowProof, prove_record
from prov_common.signing import trust_from_settings
from prov_common.store import open_store
from prov_common.store.snapshots import SnapshotIndex, index_key, object_key
from prov_dagster import ProvenanceIOManager, ProvenanceResource, provenance_asset

from rows_support import contains_cli, count_reads
from test_dagster_defs import located

ROWS = 30_000
FRAME = pd.DataFrame({
    "customer_id": np.arange(ROWS, dtype=np.int64),
    "email": [f"user{i}@example.org" for i in range(ROWS)],
    "score": np.linspace(0.0, 1.0, ROWS),
})
IN = {"customer_id": 1042, "email": "user1042@example.org", "score": float(FRAME.score[1042])}
OUT = {"customer_id": 1042, "email": "user1043@example.org", "score": float(FRAME.score[1042])}
BYTE = {**IN, "email": "user1042@example.orh"}  # the record changed by one byte


@provenance_asset(granularity="row", snapshot=True)
def customers() -> pd.DataFrame:
    return FRAME


@pytest.fixture
def instance() -> Any:
    with DagsterInstance.ephemeral() as inst:
        yield inst


def _materialize(store_uri: str, instance: Any, **io: Any) -> str:
    result = materialize([customers], instance=instance, resources={"io_manager": ProvenanceIOManager(store=store_uri, **io)})
    assert result.success
    (event,) = result.get_asset_materialization_events()
    return str(event.materialization.metadata["tdprov/digest"].value)


def _overwrite(store_uri: str, key: str, data: bytes, s3_server: Any = None) -> None:
    """Replace a stored object behind the store's back (tampering, or an overwrite on a versioned bucket)."""
    if store_uri.startswith("s3://"):
        bucket, _, prefix = store_uri[5:].partition("/")
        s3_server.client().put_object(Bucket=bucket, Key=f"{prefix}/{key}", Body=data)
    else:
        path = Path(store_uri) / key
        path.chmod(0o644)
        path.write_bytes(data)


def test_row_granularity_asset_answers_contains_with_a_proof_and_a_changed_row_set_gives_no_answer(
        store_uri: str, instance: Any, capsys: pytest.CaptureFixture, request: pytest.FixtureRequest) -> None:
    """'contains' answers with a proof that reaches the signed rows root. The row set of the one materialization
    is then changed behind the store's back in three ways in turn, each giving no answer (exit 2, 1 is "not
    contained"):
    one flipped byte: the row proof does not verify (and the bundle's manifest no longer matches);
    its schema with two columns swapped (same length): the schema (how a record becomes a row digest) is not under its
    rows root, and it made 'contains' answer "not contained" for a row that is there, with a proof that verifies. It
    is checked against the signed events' schema facet, naming both;
    cut short after its header and schema, within its fence (a partial copy): it stopped 'contains' with "unexpected
    error: unpack requires a buffer of 16 bytes" and the fix to report a traceback. It is refused as a truncated row
    set, naming it and the bucket whose fence entries are missing, with the fix."""
    digest = _materialize(store_uri, instance)

    assert main(["verify", "--store", store_uri]) == 0  # the bundle with its row set verifies as a whole
    capsys.readouterr()
    code, answer, _ = contains_cli(digest, IN, store_uri, capsys)
    assert code == 0 and answer["contained"] and answer["matches"] == 1
    proof = RowProof.from_dict(answer["proof"])
    key = answer["rowDigests"]
    assert re.fullmatch(r"bundles/[^/]+/rows/customers-[0-9a-f]{16}\.rowset", key)  # readable, one per dataset
    # the root the proof reaches is the one in the signed event of the run (covered by the bundle signature)
    store = open_store(store_uri)
    run_id = answer["rowDigests"].split("/")[1]
    events = store.get(f"bundles/{run_id}/events.jsonl").decode()
    assert proof.computed_root() == proof.rows_root and f'"rowsRoot":"{proof.rows_root}"' in events
    assert proof.rows == ROWS and bytes.fromhex(answer["proof"]["rowDigest"]) in {
        proof.digests[i:i + proof.width] for i in range(0, len(proof.digests), proof.width)}

    for record in (OUT, BYTE):
        code, answer, _ = contains_cli(digest, record, store_uri, capsys)
        assert code == 1 and answer["contained"] is False and answer["matches"] == 0
        RowProof.from_dict(answer["proof"]).check(proof.rows_root)  # a proof of absence verifies as well

    s3_server = request.getfixturevalue("s3_server") if store_uri.startswith("s3://") else None
    original = store.get(key)
    # one flipped byte in the stored row set: the lookup refuses it instead of answering
    flipped = bytearray(original)
    flipped[flipped.index(proof.row_digest) + 7] ^= 0x01
    _overwrite(store_uri, key, bytes(flipped), s3_server)
    code, answer, err = contains_cli(digest, IN, store_uri, capsys)
    assert code == 2 and not answer and "no answer for version" in err and "row proof does not verify" in err, (
        "flipped byte", code, answer, err)
    assert main(["verify", "--store", store_uri]) == 1, "flipped byte"  # the bundle's manifest no longer matches
    capsys.readouterr()

    signed = b'[["customer_id","int64"],["email","string"],["score","float64"]]'
    swapped = b'[["email","string"],["customer_id","int64"],["score","float64"]]'
    assert signed in original and len(signed) == len(swapped)
    _overwrite(store_uri, key, original.replace(signed, swapped), s3_server)
    code, answer, err = contains_cli(digest, IN, store_uri, capsys)
    assert code == 2 and not answer, ("schema swapped", code, answer)
    assert "by the columns [email: string, customer_id: int64, score: float64], its signed events by [customer_id: int64, " \
        in err, ("schema swapped", err)

    _overwrite(store_uri, key, original[:64 + 64 + 8], s3_server)
    code, answer, err = contains_cli(digest, IN, store_uri, capsys)
    assert code == 2 and not answer, ("cut short", code, answer)
    assert re.fullmatch(f"tdprov contains: no answer for version {digest}: row set {re.escape(key)} is truncated \\(it ends "
                        r"within its fence, before the end of bucket \d+\)\. Fix: restore it from a replica\n", err), (
        "cut short", err)


@pytest.mark.parametrize(("schema", "reason"), [
    (b"[1]", "its column 1 is 1, not a [column, type] pair of text"),
    (b'{"customer_id": "int64"}', 'it is {"customer_id": "int64"}, not a list of [column, type] pairs'),
    (b'"customer_id"', 'it is "customer_id", not a list of [column, type] pairs'),
    (b"[null]", "its column 1 is null, not a [column, type] pair of text"),
    (b'[["customer_id","int64"],["email"]]', 'its column 2 is ["email"], not a [column, type] pair of text'),
    (b'[["customer_id","int64","x"]]', 'its column 1 is ["customer_id", "int64", "x"], not a [column, type] pair of text'),
    (b'[["customer_id","int64"],[1,"string"]]', 'its column 2 is [1, "string"], not a [column, type] pair of text'),
])
def test_a_row_set_whose_schema_is_no_list_of_columns_is_a_damaged_row_set(schema: bytes, reason: str, tmp_path: Path,
                                                                           instance: Any, capsys: pytest.CaptureFixture) -> None:
    """A row set whose schema was JSON of another shape than a list of [column, type] pairs (a bad disk, or written
    by hand) stopped 'contains' with "unexpected TypeError" (or ValueError) and the fix to report a traceback: it is a
    damaged row set, named with what its schema holds and the fix, as one whose schema is not JSON is (exit 2)."""
    store_uri = str(tmp_path / "store")
    digest = _materialize(store_uri, instance)
    code, answer, _ = contains_cli(digest, IN, store_uri, capsys)
    key = answer["rowDigests"]
    data = open_store(store_uri).get(key)
    signed = b'[["customer_id","int64"],["email","string"],["score","float64"]]'
    _overwrite(store_uri, key, data.replace(signed, schema.ljust(len(signed))))
    code, answer, err = contains_cli(digest, IN, store_uri, capsys)
    assert code == 2 and not answer, (code, answer)
    assert err == f"tdprov contains: no answer for version {digest}: row set {key} has a malformed schema ({reason}). Fix: restore it from a replica\n", err


@provenance_asset(granularity="row")
def sessions() -> pd.DataFrame:
    return pd.DataFrame({"customer_id": [1, 2, 3], "session": [{"kind": "web", "token": "t1"}, {"kind": "app", "token": "t2"},
                                                                {"kind": "web", "token": "t3"}]})


def test_a_struct_field_named_like_a_secret_does_not_make_the_row_set_look_changed(tmp_path: Path, instance: Any,
                                                                                   capsys: pytest.CaptureFixture) -> None:
    """A struct column with a field named 'token': the events' redaction wrote the schema facet's type as
    'struct<"kind": string, "token": ***', and contains said the row set was changed after sealing (exit 2) for
    every record; a redacted part matches what the row set holds there."""
    store_uri = str(tmp_path / "store")
    result = materialize([sessions], instance=instance, resources={"io_manager": ProvenanceIOManager(store=store_uri)})
    (event,) = result.get_asset_materialization_events()
    digest = str(event.materialization.metadata["tdprov/digest"].value)
    code, answer, err = contains_cli(digest, {"customer_id": 2, "session": {"kind": "app", "token": "t2"}}, store_uri, capsys)
    assert code == 0 and answer["contained"], (code, err)
    code, answer, err = contains_cli(digest, {"customer_id": 9, "session": {"kind": "app", "token": "zz"}}, store_uri, capsys)
    assert code == 1 and answer["contained"] is False, (code, err)


def test_contains_and_checkout_by_asset_key_before_any_audit(tmp_path: Path, instance: Any, capsys: pytest.CaptureFixture) -> None:
    """No audit has catalogued the run: the asset key, kept only in the signed events, is found by reading
    the bundles (the index summaries name the dataset by its location)."""
    store_uri = str(tmp_path / "store")
    digest = _materialize(store_uri, instance)
    assert not list(open_store(store_uri).list("audit/"))
    code, answer, _ = contains_cli("customers", IN, store_uri, capsys)
    assert code == 0 and answer["contained"] and answer["digest"] == digest
    restored = tmp_path / "restored.parquet"
    assert main(["checkout", "customers", "-o", str(restored), "--store", store_uri]) == 0
    assert hash_path(restored).digest == digest
    capsys.readouterr()
    assert main(["checkout", "no_such_asset", "-o", str(tmp_path / "x.parquet"), "--store", store_uri]) == 2
    assert "no dataset or version 'no_such_asset'" in capsys.readouterr().err


def test_an_asset_key_means_its_newest_version_after_an_audit(tmp_path: Path, instance: Any,
                                                             capsys: pytest.CaptureFixture) -> None:
    """An audit catalogued the first run with its asset key; the newer runs are known only by their index
    summaries, which name the dataset by its location. The asset key still means the newest version (not
    the catalogued one): every uncatalogued bundle is read to know it (a key may name several datasets, the
    partitions of an asset), and for the dataset's location only the newest ones."""
    store_uri = str(tmp_path / "store")
    old = _materialize(store_uri, instance)
    assert main(["audit", "--quiet", "--store", store_uri]) == 0

    @provenance_asset
    def orders() -> pd.DataFrame:
        return FRAME.head(10)

    assert materialize([orders], instance=instance, resources={"io_manager": ProvenanceIOManager(store=store_uri)}).success
    later = FRAME.assign(customer_id=FRAME.customer_id + ROWS)

    @provenance_asset(granularity="row", snapshot=True, name="customers")
    def customers_again() -> pd.DataFrame:
        return later

    result = materialize([customers_again], instance=instance, resources={"io_manager": ProvenanceIOManager(store=store_uri)})
    new = str(result.get_asset_materialization_events()[0].materialization.metadata["tdprov/digest"].value)
    assert new != old
    capsys.readouterr()
    code, answer, _ = contains_cli("customers", {**IN, "customer_id": 1042 + ROWS}, store_uri, capsys)
    assert code == 0 and answer["contained"] and answer["digest"] == new  # was: the old version, "not contained"
    restored = tmp_path / "restored.parquet"
    assert main(["checkout", "customers", "-o", str(restored), "--store", store_uri]) == 0
    assert hash_path(restored).digest == new
    assert main(["record", "customers", "--format", "croissant", "--store", store_uri]) == 0
    assert new in capsys.readouterr().out
    store = open_store(store_uri)
    trust = trust_from_settings(Settings.from_env(store=store_uri))
    reads = count_reads(store)
    recorded = RecordedRuns.of(store, trust)
    recorded.read_naming("customers")
    assert len(recorded.runs) == 3 and recorded.index().resolve("customers")[0] == new
    read = {k.split("/")[1] for k in reads if k.startswith("bundles/") and k.endswith("/events.jsonl")}
    assert len(read) == 2 and answer["rowDigests"].split("/")[1] in read  # every uncatalogued run: a key may name several datasets
    reads.clear()
    recorded = RecordedRuns.of(store, trust)
    recorded.read_naming(located(store_uri, "customers"))
    assert recorded.index().resolve(located(store_uri, "customers"))[0] == new
    read = {k.split("/")[1] for k in reads if k.startswith("bundles/") and k.endswith("/events.jsonl")}
    assert read == {answer["rowDigests"].split("/")[1]}  # a location: the newest run's bundle, not the unrelated one's
    reads.clear()
    recorded = RecordedRuns.of(store, trust)
    recorded.read_naming("nothing")
    with pytest.raises(BadInputError, match="no dataset or version 'nothing'"):
        recorded.index().resolve("nothing")
    assert len({k.split("/")[1] for k in reads if k.endswith("/events.jsonl")}) == 2  # every uncatalogued run


FORGED = "00000000-0000-4000-8000-00000000f0f0"


def _forge_newer_entry(store_uri: str, entry: dict[str, Any], **changes: Any) -> None:
    """An index entry added behind tdprov's back (entries are unsigned): a newer run, with no bundle,
    claiming another version of the same dataset (or what ``changes`` say)."""
    forged = {**entry, "outputs": [{**entry["outputs"][0], "version": "blake3:" + "ab" * 32}], "runId": FORGED,
              "endedAt": "2099-01-01T00:00:00.000000Z", "sealedAt": "2099-01-01T00:00:00.100000Z", **changes}
    path = Path(store_uri) / f"index/2099/01/01/20990101T000000100000Z-{FORGED}.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(forged))


@pytest.mark.parametrize("ref", ["customers", "location"])
def test_an_index_entry_without_a_verifying_bundle_is_left_out_and_named(ref: str, tmp_path: Path, instance: Any,
                                                                         capsys: pytest.CaptureFixture) -> None:
    """Every verb that takes a dataset name answers for the newest version a verified bundle records, not
    for a forged index entry's, and names the run it left out, with why, on stderr."""
    store_uri = str(tmp_path / "store")
    digest = _materialize(store_uri, instance)
    store = open_store(store_uri)
    (key,) = store.list("index/")
    entry = json.loads(store.get(key))
    _forge_newer_entry(store_uri, entry)
    ref = entry["outputs"][0]["name"] if ref == "location" else ref
    told = f"left out run {FORGED}: its bundle does not verify (bundles/{FORGED}/: missing"
    capsys.readouterr()

    assert main(["lineage", ref, "--json", "--store", store_uri]) == 1  # a run left out: a finding
    out, err = capsys.readouterr()
    assert [t["version"] for t in json.loads(out)["lineage"]] == [digest] and told in err
    assert main(["lineage", ref, "--store", store_uri]) == 1
    out, err = capsys.readouterr()
    assert out.startswith(f"{entry['outputs'][0]['name']}  {digest}") and FORGED not in out and err.count(told) == 1
    code, answer, err = contains_cli(ref, IN, store_uri, capsys)
    assert code == 2 and answer["contained"] and answer["digest"] == digest and told in err  # an answer, a run left out
    assert main(["record", ref, "--format", "croissant", "--store", store_uri]) == 1  # written without the run: a finding
    out, err = capsys.readouterr()
    assert digest in out and "abababab" not in out and FORGED not in out and told in err
    restored = tmp_path / "restored.parquet"
    assert main(["checkout", ref, "-o", str(restored), "--store", store_uri]) == 1  # restored, a run left out
    assert hash_path(restored).digest == digest and told in capsys.readouterr().err
    assert main(["verify", FORGED, "--store", store_uri]) == 1  # the fix the message gives names the problem
    assert "no bundle objects for this run" in capsys.readouterr().out
    assert main(["audit", "--quiet", "--store", store_uri]) == 1  # and the audit finds it


def test_contains_and_snapshot_list_no_run_that_only_an_index_entry_claims(tmp_path: Path, instance: Any,
                                                                           capsys: pytest.CaptureFixture) -> None:
    """A forged index entry claims a training run that read the version: 'tdprov contains' (who used it,
    which training runs) and 'tdprov snapshot --dataset' (which runs recorded it) do not list it."""
    store_uri = str(tmp_path / "store")
    digest = _materialize(store_uri, instance)
    store = open_store(store_uri)
    (key,) = store.list("index/")
    entry = json.loads(store.get(key))
    used = {k: entry["outputs"][0][k] for k in ("namespace", "name", "version")}
    _forge_newer_entry(store_uri, entry, job={**entry["job"], "name": "train_model"}, inputs=[used],
                       outputs=[{"namespace": "file", "name": "/models/m.pkl", "version": "blake3:" + "cd" * 32}])
    told = f"left out run {FORGED}: its bundle does not verify"
    capsys.readouterr()
    code, answer, err = contains_cli(digest, IN, store_uri, capsys)
    assert code == 2 and answer["contained"] and answer["usedBy"] == [] and answer["trainingRuns"] == [] and told in err
    data = Path(used["name"])
    assert main(["snapshot", str(data), "--dataset", "customers", "--store", store_uri]) == 1  # a run left out
    out, err = capsys.readouterr()
    assert json.loads(out)["runs"] == [entry["runId"]] and told in err


def test_an_altered_index_entry_of_a_sound_bundle_is_read_as_the_bundle_says(tmp_path: Path, instance: Any,
                                                                             capsys: pytest.CaptureFixture) -> None:
    """The index entry of a run whose bundle verifies is edited to claim another version: every verb takes the
    run as its signed bundle says (not left out, not as the entry says) and names the altered entry, each as
    'tdprov VERB:' says what it found (they said 'tdprov:' alone)."""
    store_uri = str(tmp_path / "store")
    digest = _materialize(store_uri, instance)
    store = open_store(store_uri)
    (key,) = store.list("index/")
    entry = json.loads(store.get(key))
    name = entry["outputs"][0]["name"]
    entry["outputs"][0]["version"] = "blake3:" + "ab" * 32
    _overwrite(store_uri, key, json.dumps(entry).encode())
    told = f"run {entry['runId']} is taken as its signed bundle says, not as its index entry does ("
    capsys.readouterr()
    for ref in (name, "customers"):
        assert main(["lineage", ref, "--json", "--store", store_uri]) == 0
        out, err = capsys.readouterr()
        (tree,) = json.loads(out)["lineage"]
        assert tree["version"] == digest and tree["generatedBy"][0]["runId"] == entry["runId"] and f"tdprov lineage: {told}" in err
        code, answer, err = contains_cli(ref, IN, store_uri, capsys)
        assert code == 0 and answer["digest"] == digest and f"tdprov contains: {told}" in err, err
        assert main(["record", ref, "--format", "croissant", "--store", store_uri]) == 0
        out, err = capsys.readouterr()
        assert digest in out and "abababab" not in out and f"tdprov record: {told}" in err


def _materialized_row_set(store_uri: str, instance: Any) -> tuple[Any, Any]:
    """The store and the row set of the version a Dagster asset materialized there (found as a lookup finds it)."""
    digest = _materialize(store_uri, instance)
    settings = Settings.from_env(store=store_uri)
    store, trust = open_store(settings=settings), trust_from_settings(settings)
    index = LineageIndex(known_runs(store, trust).values())
    row_set = find_row_set(store, index, index.resolve(digest)[1], trust)
    assert row_set is not None
    return store, row_set


FORGED_HEADERS = [("schema length", 0xFFFF_FFFF), ("schema length", 200_000), ("bits", 32), ("rows", 1 << 40)]


def test_lookup_reads_a_few_kb_by_range_and_a_forged_row_set_header_is_refused_after_the_first_read(
        store_uri: str, instance: Any, request: pytest.FixtureRequest) -> None:
    """A lookup reads a few KB of the row set by range, never the whole of it.
    A row set whose header was changed (its schema length, or its shape, which the rows root covers) made the
    lookup read on by what it says: a schema length up to 4 GiB read the rest of the file before the schema was
    refused as malformed, 32 bits sent it far past the file's end for its fence. It is refused from the first
    read (4 KiB), naming the row set, the field and the fix, locally and on S3. Each forged header is written over
    the row set of the one materialization in turn."""
    store, row_set = _materialized_row_set(store_uri, instance)
    original = store.get(row_set.key)
    size = len(original)
    counts = count_reads(store)
    proof = prove_record(store, row_set, IN)
    assert proof.contained
    assert 2 <= counts[row_set.key + "#requests"] <= 3 and 4096 < counts[row_set.key] <= 16_384, counts
    assert set(counts) == {row_set.key, row_set.key + "#requests"}  # nothing else is read
    assert size > 20 * counts[row_set.key]  # the row set of 30,000 rows is never read whole
    assert size <= 9 * ROWS + 4096  # 8 bytes per row, plus Merkle paths and fence

    s3_server = request.getfixturevalue("s3_server") if store_uri.startswith("s3://") else None
    for field, value in FORGED_HEADERS:
        case = f"{field} {value:,}"
        data = bytearray(original)
        at = {"schema length": (24, "<I"), "bits": (10, "<B"), "rows": (16, "<Q")}[field]
        struct.pack_into(at[1], data, at[0], value)
        _overwrite(store_uri, row_set.key, bytes(data), s3_server)
        counts.clear()
        with pytest.raises(VerificationError) as caught:
            prove_record(store, row_set, IN)
        if field == "schema length":
            told = (f"row set {row_set.key} gives a schema of {value:,} bytes in its header, where its signed columns "
                    "take 64: its header was changed.")
        else:
            told = f"row set {row_set.key} has a header whose width, bits, rows and tree root ("
        assert str(caught.value).startswith(told) and caught.value.fix == "restore it from a replica", (
            case, str(caught.value))
        assert counts[row_set.key + "#requests"] == 1 and counts[row_set.key] <= 4096, (case, counts)
        assert set(counts) == {row_set.key, row_set.key + "#requests"}, (case, counts)


def test_a_forged_fence_is_refused_by_the_signed_size_before_its_bucket_is_read(
        store_uri: str, instance: Any, request: pytest.FixtureRequest) -> None:
    """A row set whose fence (where each bucket's record starts and ends) was changed made the lookup read whatever
    range it named, up to 64 MiB: a bucket placed past the file's end, in 4 MiB appended after it, read all 4 MiB, one
    ending past the file's signed size read on to its end, one starting at the header read from the file's start,
    before the proof was refused as not verifying. The
    size of the file is signed in the bundle's manifest, and the lookup now refuses a fence entry outside the
    buckets' records (from the end of the fence to that size) before reading the bucket, naming the row set, the
    bucket, the range and the fix, locally and on S3. Each forged fence is written over the row set of the one
    materialization in turn; an honest lookup reads as before."""
    store, row_set = _materialized_row_set(store_uri, instance)
    original = store.get(row_set.key)
    size = len(original)
    assert row_set.size == size  # as the bundle's signed manifest lists it
    counts = count_reads(store)
    proof = prove_record(store, row_set, IN)
    assert proof.contained and 2 <= counts[row_set.key + "#requests"] <= 3 and counts[row_set.key] <= 16_384, counts
    fence_at = 64 + 64  # the header, then the schema of the three signed columns
    at = fence_at + 8 * proof.bucket
    start, stop = struct.unpack_from("<QQ", original, at)
    records = fence_at + 8 * (2**proof.bits + 1)
    assert records <= start < stop <= size

    s3_server = request.getfixturevalue("s3_server") if store_uri.startswith("s3://") else None
    appended = 4 << 20
    forged = [  # (case, the bucket's start and stop, bytes appended to the file)
        ("past the signed size", (size, size + 32 * proof.bits + appended), appended),
        ("its stop past the signed size", (start, size + 8), 0),
        ("into the header", (0, stop), 0),
    ]
    for case, (forged_start, forged_stop), extra in forged:
        data = bytearray(original) + bytes(extra)
        struct.pack_into("<QQ", data, at, forged_start, forged_stop)
        _overwrite(store_uri, row_set.key, bytes(data), s3_server)
        counts.clear()
        with pytest.raises(VerificationError) as caught:
            prove_record(store, row_set, IN)
        told = (f"row set {row_set.key} has a fence that gives bucket {proof.bucket} the bytes {forged_start:,} to "
                f"{forged_stop:,}, outside its buckets' records (bytes {records:,} to {size:,}, the size its signed "
                "manifest lists): its fence was changed.")
        assert str(caught.value) == f"{told} Fix: restore it from a replica" and caught.value.fix == "restore it from a replica", (
            case, str(caught.value))
        assert counts[row_set.key + "#requests"] == 1 and counts[row_set.key] <= 4096, (case, counts)
        assert set(counts) == {row_set.key, row_set.key + "#requests"}, (case, counts)


def test_snapshot_asset_checks_out_byte_identical_after_deletion(store_uri: str, instance: Any, tmp_path: Path,
                                                                  request: pytest.FixtureRequest) -> None:
    digest = _materialize(store_uri, instance)
    store = open_store(store_uri)
    data_uri = f"{store_uri}-data/customers.parquet"
    if store_uri.startswith("s3://"):
        s3 = request.getfixturevalue("s3_server").client()
        bucket, _, key = data_uri[5:].partition("/")
        original = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        s3.delete_object(Bucket=bucket, Key=key)
    else:
        original = Path(data_uri).read_bytes()
        Path(data_uri).unlink()
    restored = tmp_path / "restored.parquet"
    restored.write_bytes(b"in the way")
    assert main(["checkout", digest, "-o", str(restored), "--store", store_uri]) == 2  # never replaced without --force
    restored.unlink()
    assert main(["checkout", digest, "-o", str(restored), "--store", store_uri, "--verify-table"]) == 0
    assert restored.read_bytes() == original and hash_path(restored).digest == digest
    # the same bytes again are stored once: a second run adds no object under objects/
    before = sorted(store.list("objects/"))
    _materialize(store_uri, instance)
    assert sorted(store.list("objects/")) == before


def test_checkout_reads_the_retained_version_of_an_overwritten_snapshot(s3_store_uri: str, s3_server: Any, instance: Any,
                                                                         tmp_path: Path) -> None:
    bucket = s3_store_uri[5:].partition("/")[0]
    s3_server.client().put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    digest = _materialize(s3_store_uri, instance)
    store = open_store(s3_store_uri)
    index = SnapshotIndex.from_json(store.get(index_key(digest)), index_key(digest))
    original = store.get(object_key(index.object))
    _overwrite(s3_store_uri, object_key(index.object), b"overwritten", s3_server)
    restored = tmp_path / "restored.parquet"
    assert main(["checkout", digest, "-o", str(restored), "--store", s3_store_uri]) == 0
    assert restored.read_bytes() == original


def test_overwritten_snapshot_without_versions_is_refused(tmp_path: Path, instance: Any, capsys: pytest.CaptureFixture) -> None:
    store_uri = str(tmp_path / "store")
    digest = _materialize(store_uri, instance)
    store = open_store(store_uri)
    index = SnapshotIndex.from_json(store.get(index_key(digest)), index_key(digest))
    _overwrite(store_uri, object_key(index.object), b"overwritten")
    assert main(["checkout", digest, "-o", str(tmp_path / "x.parquet"), "--store", store_uri]) == 1
    assert "damaged" in capsys.readouterr().err and not (tmp_path / "x.parquet").exists()


def plain_and_reader() -> tuple[Any, Any]:
    """An asset of ten rows and an asset that loads it."""

    @provenance_asset
    def plain() -> pd.DataFrame:
        return FRAME.head(10)

    @asset
    def reader(plain: pd.DataFrame) -> None:
        return None

    return plain, reader


def test_store_setting_snapshots_every_asset_and_mismatch_names_checkout(tmp_path: Path, instance: Any,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    plain, reader = plain_and_reader()

    store_uri = str(tmp_path / "store")
    monkeypatch.setenv("TDPROV_SNAPSHOT", "1")
    result = materialize([plain], instance=instance, resources={"io_manager": ProvenanceIOManager(store=store_uri)})
    digest = str(result.get_asset_materialization_events()[0].materialization.metadata["tdprov/digest"].value)
    assert open_store(store_uri).exists(index_key(digest))
    monkeypatch.delenv("TDPROV_SNAPSHOT")
    path = Path(f"{store_uri}-data/plain.parquet")
    FRAME.head(3).to_parquet(path)  # the data changed behind the pipeline's back
    result = materialize([plain, reader], selection=["reader"], instance=instance, raise_on_error=False,
                         resources={"io_manager": ProvenanceIOManager(store=store_uri)})
    assert not result.success
    text = str(result.get_step_failure_events()[0].event_specific_data.error)
    assert f"tdprov checkout {digest} -o {path.absolute()} --force" in text
    assert main(["checkout", digest, "-o", str(path), "--force", "--store", store_uri]) == 0
    result = materialize([plain, reader], selection=["reader"], instance=instance,
                         resources={"io_manager": ProvenanceIOManager(store=store_uri)})
    assert result.success


def test_mismatch_without_a_snapshot_offers_no_checkout(tmp_path: Path, instance: Any, capsys: pytest.CaptureFixture) -> None:
    """Snapshots are off by default: the fix of a changed upstream file then names re-materializing and turning
    snapshots on, never a 'tdprov checkout' that would fail."""
    plain, reader = plain_and_reader()

    store_uri = str(tmp_path / "store")
    result = materialize([plain], instance=instance, resources={"io_manager": ProvenanceIOManager(store=store_uri)})
    digest = str(result.get_asset_materialization_events()[0].materialization.metadata["tdprov/digest"].value)
    FRAME.head(3).to_parquet(Path(f"{store_uri}-data/plain.parquet"))  # the data changed behind the pipeline's back
    result = materialize([plain, reader], selection=["reader"], instance=instance, raise_on_error=False,
                         resources={"io_manager": ProvenanceIOManager(store=store_uri)})
    assert not result.success
    text = str(result.get_step_failure_events()[0].event_specific_data.error)
    assert f"expected digest {digest}" in text
    assert f"tdprov checkout {digest}" not in text, text  # no command that would fail
    assert (f"Fix: re-materialize the upstream asset (the store holds no snapshot of {digest} to restore; with "
            "snapshots on, provenance_asset(snapshot=True) or TDPROV_SNAPSHOT=1, the next change can be undone with "
            "'tdprov checkout'), or set on_mismatch='warn'") in text, text
    assert main(["checkout", digest, "-o", str(tmp_path / "x.parquet"), "--store", store_uri]) == 2  # as the message says


def test_standalone_verifier_of_the_docs_checks_a_real_proof(tmp_path: Path, instance: Any, capsys: pytest.CaptureFixture) -> None:
    import subprocess
    import sys

    from rows_support import verifier_script

    store_uri = str(tmp_path / "store")
    digest = _materialize(store_uri, instance)
    script = tmp_path / "verify_row_proof.py"
    script.write_text(verifier_script(), encoding="utf-8")
    code, answer, _ = contains_cli(digest, IN, store_uri, capsys)
    assert code == 0
    run_id = answer["rowDigests"].split("/")[1]
    events = [json.loads(line) for line in open_store(store_uri).get(f"bundles/{run_id}/events.jsonl").splitlines()]
    (root,) = {o["facets"]["tdprov_contentHash"]["rowsRoot"] for e in events for o in e.get("outputs", [])
               if o["facets"].get("tdprov_contentHash", {}).get("digest") == digest}

    def verify(doc: dict, expected: str = root) -> tuple[int, str]:
        path = tmp_path / "proof.json"
        path.write_text(json.dumps(doc), encoding="utf-8")
        # -I -S: the standard library only, no site-packages (so no tdprov, no blake3)
        done = subprocess.run([sys.executable, "-I", "-S", str(script), str(path), expected], capture_output=True, text=True)
        return done.returncode, done.stdout

    assert verify(answer) == (0, "OK: contained\n")
    _, absent, _ = contains_cli(digest, BYTE, store_uri, capsys)
    assert verify(absent) == (1, "OK: not contained\n")

    def flipped(doc: dict, field: str, index: int) -> dict:
        proof = json.loads(json.dumps(doc["proof"]))
        value = proof[field][index]
        proof[field][index] = value[:-1] + format(int(value[-1], 16) ^ 1, "x")
        return proof

    for field in ("bucketDigests", "path"):
        code, out = verify(flipped(answer, field, 1))
        assert code == 2 and out.startswith("FAIL")
    assert verify(answer, "sha256:" + "0" * 64)[0] == 2
    assert verify({**answer["proof"], "rows": ROWS + 1})[0] == 2


def test_plain_asset_metadata_asks_for_row_granularity(tmp_path: Path, instance: Any, capsys: pytest.CaptureFixture) -> None:
    from prov_common.errors import BadInputError

    @asset(metadata={"granularity": "row"})
    def small() -> pd.DataFrame:
        return FRAME.head(50)

    store_uri = str(tmp_path / "store")
    result = materialize([small], instance=instance, resources={"io_manager": ProvenanceIOManager(store=store_uri)})
    digest = str(result.get_asset_materialization_events()[0].materialization.metadata["tdprov/digest"].value)
    code, answer, _ = contains_cli(digest, {**IN, "customer_id": 7, "email": "user7@example.org",
                                            "score": float(FRAME.score[7])}, store_uri, capsys)
    assert code == 0 and answer["proof"]["rows"] == 50 and answer["proof"]["bits"] == 0

    @asset(metadata={"granularity": "rows"})
    def wrong() -> pd.DataFrame:
        return FRAME.head(5)

    failed = materialize([wrong], instance=instance, raise_on_error=False,
                         resources={"io_manager": ProvenanceIOManager(store=store_uri)})
    assert not failed.success
    assert "granularity 'rows' of asset 'wrong' is not one of column, row" in str(
        failed.get_step_failure_events()[0].event_specific_data.error)
    for options, name in (({}, "scores_v2"), ({"name": "scores_v3"}, "scores_v3")):
        with pytest.raises(BadInputError, match=f"granularity 'block' of provenance_asset '{name}'"):
            @provenance_asset(granularity="block", **options)
            def scores_v2() -> pd.DataFrame:
                return FRAME
    with pytest.raises(BadInputError, match="quality policy 'blok' of provenance_asset 'scores_v4'"):
        @provenance_asset(quality_policy="blok")
        def scores_v4() -> pd.DataFrame:
            return FRAME


def test_resource_record_snapshots_the_files_an_asset_writes_itself(tmp_path: Path, instance: Any) -> None:
    target = tmp_path / "vendor.csv"

    @asset
    def vendor(context, provenance: ProvenanceResource) -> MaterializeResult:  # noqa: ANN001 - Dagster's context
        FRAME.head(100).to_csv(target, index=False)
        recorded = provenance.record(outputs=str(target), context=context, snapshot=True)
        return MaterializeResult(metadata=recorded.metadata, data_version=recorded.data_version)

    store_uri = str(tmp_path / "store")
    result = materialize([vendor], instance=instance, resources={"provenance": ProvenanceResource(store=store_uri)})
    assert result.success
    digest = hash_path(target).digest
    original = target.read_bytes()
    target.unlink()
    assert main(["checkout", digest, "-o", str(target), "--store", store_uri]) == 0
    assert target.read_bytes() == original


def test_assets_whose_keys_look_alike_each_keep_their_row_set(tmp_path: Path, instance: Any, capsys: pytest.CaptureFixture,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    """Asset keys ``a/b`` and ``a_b`` of one step are two datasets: each gets its own row set in the step's bundle,
    and ``tdprov contains`` answers for each with a proof that verifies."""
    from dagster import AssetKey, AssetOut, Output, multi_asset

    row = {"granularity": "row"}

    @multi_asset(outs={"x": AssetOut(key=AssetKey(["a", "b"]), metadata=row), "y": AssetOut(key=AssetKey("a_b"), metadata=row)})
    def both() -> Any:
        yield Output(pd.DataFrame({"id": [1, 2, 3]}), "x")
        yield Output(pd.DataFrame({"id": [10, 20, 30]}), "y")

    store_uri = str(tmp_path / "store")
    result = materialize([both], instance=instance, resources={"io_manager": ProvenanceIOManager(store=store_uri)})
    assert result.success
    digests = {e.materialization.asset_key.to_user_string(): str(e.materialization.metadata["tdprov/digest"].value)
               for e in result.get_asset_materialization_events()}
    assert "could not record" not in caplog.text
    capsys.readouterr()
    paths = set()
    for key, record in (("a/b", {"id": 2}), ("a_b", {"id": 20})):
        code, answer, err = contains_cli(digests[key], record, store_uri, capsys)
        assert code == 0 and answer["contained"], (key, err)
        RowProof.from_dict(answer["proof"]).check(answer["proof"]["rowsRoot"])
        paths.add(answer["rowDigests"])
    assert len(paths) == 2
    assert main(["verify", "--store", store_uri]) == 0
