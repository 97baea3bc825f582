"""Training-data records read by tools tdprov did not write: mlcroissant loads the Croissant record, and the
D&TA record states all 22 fields of the standard (unknowns explicit, unknown required fields as gaps).

Data is real (a CSV source, a Parquet feature table, a pickled model, on disk or in S3), so checksums
and media types are those of real bytes; stores are local folders and S3 buckets on localhost.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import mlcroissant as mlc
from mlcroissant._src.core import constants as mlc_constants
import pandas as pd
import pytest
import rdflib

from prov_common.cli import main
from prov_common.errors import BadInputError
from prov_common.hashing import hash_path, hash_shards
from prov_common.signing import default_signing_key, sign_envelope, trust_from_settings
from prov_common.sources import iter_sources
from prov_common.sources.dta import DTA_KEYS, NOT_APPLICABLE, UNKNOWN, dta_gaps
from prov_common.sources.model import SOURCE_PAYLOAD_TYPE, SourceRecord
from prov_common.sources.registry import source_key
from prov_common.canonical_json import canonical_bytes
from prov_common.store import open_store

from test_audit_support import T0, dataset, digest, run_events, seal

SC = rdflib.Namespace("https://schema.org/")
RAI = rdflib.Namespace("http://mlcommons.org/croissant/RAI/")

ALL_OPTIONS = {
    "--title": "Vendor claims 2025",
    "--description": "insurance claims, one row per claim",
    "--metadata-location": "https://vendor.example/claims/provenance.json",
    "--source-metadata": "https://upstream.example/claims-meta.json",
    "--source": "Regional Insurers Association",
    "--origin-geography": "DE",
    "--issue-date": "2025-04-02",
    "--previous-version-date": "2024-04-01",
    "--collection-start": "2025-01-01",
    "--collection-end": "2025-03-31",
    "--generation-method": "survey",
    "--data-format": "csv",
    "--confidentiality": "confidential",
    "--consent": "https://vendor.example/consent",
    "--privacy-technology": "pseudonymisation",
    "--processing-geography": "FR",
    "--storage-geography": "IE",
    "--license": "CC-BY-4.0",
    "--intended-use": "claims model training",
    "--proprietary-data": "copyright",
    "--personal-data": "pseudonymised",
}
# What each option becomes in the record (lists for repeatable options, media types for formats).
EXPECTED_DTA = {
    "datasetTitle": "Vendor claims 2025",
    "descriptionOfTheDataset": "insurance claims, one row per claim",
    "metadataLocation": "https://vendor.example/claims/provenance.json",
    "sourceMetadataForDataset": ["https://upstream.example/claims-meta.json"],
    "source": "Regional Insurers Association",
    "dataOriginGeography": ["DE"],
    "datasetIssueDate": "2025-04-02",
    "dateOfPreviouslyIssuedVersion": "2024-04-01",
    "rangeOfDatesForDataGeneration": {"start": "2025-01-01", "end": "2025-03-31"},
    "method": "survey",
    "dataFormat": "text/csv",
    "confidentialityClassification": "confidential",
    "consentDocumentationLocation": "https://vendor.example/consent",
    "privacyEnhancingTechnologies": ["pseudonymisation"],
    "dataProcessingGeography": ["FR"],
    "dataStorageGeography": ["IE"],
    "licenseToUse": "CC-BY-4.0",
    "intendedDataUse": "claims model training",
    "proprietaryData": ["copyright"],
    "datasetIssuer": "Acme Data",
    "standardsVersionUsed": "1.0.0",
}


@dataclass
class Trained:
    """Locations (local paths or s3:// URIs) of the source, the features and the model, their local copies and digests."""

    store: str
    raw: str
    features: str
    model: str
    local: Path
    versions: dict[str, str]


def _put(store_uri: str, name: str, local: Path) -> str:
    """Where the pipeline keeps ``name``: next to the local file, or in the store's bucket for an S3 store."""
    if not store_uri.startswith("s3://"):
        return str(local)
    import boto3

    bucket = store_uri[len("s3://"):].split("/", 1)[0]
    boto3.client("s3").put_object(Bucket=bucket, Key=f"data/{name}", Body=local.read_bytes())
    return f"s3://{bucket}/data/{name}"


def _name(location: str) -> tuple[str, str]:
    """OpenLineage namespace and name of a location."""
    if location.startswith("s3://"):
        bucket, key = location[len("s3://"):].split("/", 1)
        return f"s3://{bucket}", key
    return "file", location


def _ds(location: str, version: str) -> dict:
    namespace, name = _name(location)
    return dataset(name, version, namespace=namespace)


def _train(store_uri: str, data: Path, capsys: pytest.CaptureFixture) -> Trained:
    """Register a CSV source with every option, then record prepare (CSV -> Parquet) and train (Parquet -> pickle)."""
    data.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame({"claim": [1, 2, 3], "amount": [10.5, 20.25, 3.0], "large": [False, True, False]})
    (data / "claims.csv").write_text("claim,amount\n1,10.5\n2,20.25\n3,3.0\n")
    frame.to_parquet(data / "features.parquet")
    (data / "model.pkl").write_bytes(pickle.dumps({"weights": [0.1, 0.2]}))
    raw, features, model = (_put(store_uri, f, data / f) for f in ("claims.csv", "features.parquet", "model.pkl"))
    args = ["source", "add", raw, "--name", "vendor-claims", "--issuer", "Acme Data", "--store", store_uri]
    for option, value in ALL_OPTIONS.items():
        args += [option, value]
    assert main(args) == 0
    capsys.readouterr()
    versions = {p: hash_path(p).digest for p in (raw, features, model)}
    seal(open_store(store_uri), run_events("prepare_features", [_ds(raw, versions[raw])], [_ds(features, versions[features])]))
    seal(open_store(store_uri), run_events("train_model", [_ds(features, versions[features])], [_ds(model, versions[model])],
                                           start=T0 + timedelta(hours=1), job_type="TRAINING"))
    return Trained(store_uri, raw, features, model, data, versions)


def _record(store: str, ref: str, fmt: str, capsys: pytest.CaptureFixture, *extra: str) -> dict:
    assert main(["record", ref, "--format", fmt, "--store", store, *extra]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def _croissant_file(tmp_path: Path, store: str, ref: str, capsys: pytest.CaptureFixture, *extra: str) -> Path:
    out = tmp_path / "record.croissant.json"
    assert main(["record", ref, "-f", "croissant", "--store", store, "-o", str(out), *extra]) == 0, capsys.readouterr().err
    return out


def _bytes_at(location: str) -> bytes:
    if location.startswith("s3://"):
        import boto3

        bucket, key = location[len("s3://"):].split("/", 1)
        return boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return Path(location).read_bytes()


def test_mlcroissant_loads_the_model_record(store_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    t = _train(store_uri, tmp_path / "data", capsys)
    model = t.model
    path = _croissant_file(tmp_path, store_uri, t.versions[model], capsys, "--issuer", "Example Org")
    ds = mlc.Dataset(jsonld=str(path))  # raises on any error
    meta = ds.metadata
    assert not meta.ctx.issues.errors, meta.ctx.issues.report()
    assert not [w for w in meta.ctx.issues.warnings if "recommended" in w or "context" in w], meta.ctx.issues.report()
    assert meta.version == f"1.0.0+blake3.{t.versions[model].split(':')[1][:12]}"
    assert meta.date_published.date().isoformat() == (T0 + timedelta(hours=1, minutes=5)).date().isoformat()
    assert "Example Org" in meta.cite_as and t.versions[model] in meta.cite_as
    assert [c.name for c in meta.creators] == ["Example Org"]
    assert meta.license == ["CC-BY-4.0"]
    (obj,) = meta.distribution
    assert obj.sha256 == hashlib.sha256(_bytes_at(model)).hexdigest()
    assert obj.content_url == (model if model.startswith("s3://") else Path(model).as_uri())
    assert obj.encoding_formats == ["application/x-pickle"] and obj.content_size == f"{len(_bytes_at(model))} B"
    assert meta.data_collection == "vendor-claims: survey"
    assert meta.personal_sensitive_information == ["pseudonymised"]
    assert [d.date().isoformat() for d in meta.data_collection_timeframe] == ["2025-01-01", "2025-03-31"]
    assert any("prepare_features" in p for p in meta.data_preprocessing_protocol)
    assert any("train_model" in p for p in meta.data_preprocessing_protocol)
    rai_terms = {str(v) for k, v in vars(mlc_constants).items() if k.startswith("ML_COMMONS_RAI_")}
    doc = json.loads(path.read_text())
    assert {k.replace("rai:", str(RAI)) for k in doc if k.startswith("rai:")} <= rai_terms  # only terms of the RAI vocabulary
    # the record is the only dataset: the source is a PROV entity it was derived from, not a second root
    graph = rdflib.Graph().parse(path, format="json-ld")
    (root,) = graph.subjects(rdflib.RDF.type, SC.Dataset)
    assert str(graph.value(root, SC.identifier)) == t.versions[model]
    source = graph.value(root, rdflib.URIRef("http://www.w3.org/ns/prov#wasDerivedFrom"))
    assert str(graph.value(source, SC.identifier)) == t.versions[t.raw]
    # the D&TA record of the same version locates its metadata by URI in the same store
    bundles = (store_uri if store_uri.startswith("s3://") else Path(store_uri).resolve().as_uri()) + "/bundles/"
    assert _record(store_uri, model, "dta", capsys)["metadataLocation"].startswith(bundles)


def test_croissant_has_no_checksum_for_changed_or_unread_data(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    store = str(tmp_path / "store")
    t = _train(store, tmp_path / "data", capsys)
    features = t.features
    doc = json.loads(_croissant_file(tmp_path, store, features, capsys).read_text())
    (obj,) = doc["distribution"]
    assert obj["encodingFormat"] == ["application/vnd.apache.parquet", "application/x-parquet"]  # the media type, then the name mlcroissant reads
    assert obj["sha256"] == hashlib.sha256(Path(features).read_bytes()).hexdigest()
    assert obj["contentUrl"] == Path(features).as_uri() and doc["version"].startswith("1.0.0+blake3.")
    # the file is rewritten with other rows: its bytes are no longer the recorded version, so no checksum vouches for them
    pd.DataFrame({"claim": [9], "amount": [1.0]}).to_parquet(features)
    path = _croissant_file(tmp_path, store, t.versions[features], capsys)
    doc = json.loads(path.read_text())
    assert "distribution" not in doc
    assert any("no longer hashes to" in limit for limit in doc["rai:dataLimitations"])
    mlc.Dataset(jsonld=str(path))
    doc = json.loads(_croissant_file(tmp_path, store, t.versions[features], capsys, "--no-checksum").read_text())
    assert "distribution" not in doc and any("not read" in limit for limit in doc["rai:dataLimitations"])


def test_dta_record_states_all_22_fields(tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    store = str(tmp_path / "store")
    t = _train(store, tmp_path / "data", capsys)
    model = t.model
    doc = _record(store, model, "dta", capsys)
    assert tuple(doc)[:22] == DTA_KEYS and len(DTA_KEYS) == 22
    assert doc["datasetIssuer"] == UNKNOWN  # never the job namespace
    assert doc["dataFormat"] == "application/x-pickle"
    assert doc["dataProcessingGeography"] == UNKNOWN and doc["dataStorageGeography"] == UNKNOWN
    assert doc["dateOfPreviouslyIssuedVersion"] == NOT_APPLICABLE
    train = doc["transformations"][-1]["runId"]  # the run that generated the model: its bundle is a folder, as on S3
    assert doc["metadataLocation"] == (Path(store).resolve() / "bundles" / train).as_uri() + "/"
    assert doc["unknownRequiredFields"] == ["datasetIssuer", "dataProcessingGeography", "dataStorageGeography"]
    assert sum("D&TA required field" in g for g in doc["knownGaps"]) == 3
    assert [t_["job"] for t_ in doc["transformations"]] == ["tests/prepare_features", "tests/train_model"]
    (src,) = doc["sourceMetadataForDataset"]
    assert {k: src[k] for k in EXPECTED_DTA} == EXPECTED_DTA
    assert doc["proprietaryData"] == ["copyright"] and doc["privacyEnhancingTechnologies"] == ["pseudonymisation"]
    # configured issuer and geographies close the gaps
    monkeypatch.setenv("TDPROV_ISSUER", "Example Org")
    doc = _record(store, model, "dta", capsys, "--processing-geography", "DE", "--storage-geography", "DE")
    assert doc["datasetIssuer"] == "Example Org" and doc["dataStorageGeography"] == ["DE"]
    assert doc["unknownRequiredFields"] == [] and not any("D&TA" in g for g in doc["knownGaps"])
    assert _record(store, model, "dta", capsys, "--issuer", "Other Org")["datasetIssuer"] == "Other Org"


def test_previous_version_and_version_numbers(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    store = str(tmp_path / "store")
    t = _train(store, tmp_path / "data", capsys)
    features = t.features
    first = t.versions[features]
    pd.DataFrame({"claim": [1, 2], "amount": [1.0, 2.0]}).to_parquet(features)
    second = hash_path(features).digest
    seal(open_store(store), run_events("prepare_features", [_ds(t.raw, t.versions[t.raw])], [_ds(features, second)],
                                       start=T0 + timedelta(days=3)))
    newest = _record(store, features, "dta", capsys)
    assert newest["uniqueMetadataIdentifier"] == second
    assert newest["dateOfPreviouslyIssuedVersion"] == T0.date().isoformat()
    assert newest["datasetIssueDate"] == (T0 + timedelta(days=3)).date().isoformat()
    assert _record(store, first, "dta", capsys)["dateOfPreviouslyIssuedVersion"] == NOT_APPLICABLE
    assert _record(store, features, "croissant", capsys)["version"] == f"2.0.0+blake3.{second.split(':')[1][:12]}"
    assert _record(store, first, "croissant", capsys)["version"] == f"1.0.0+blake3.{first.split(':')[1][:12]}"


def test_source_add_options_round_trip_into_the_source_record(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    store = str(tmp_path / "store")
    t = _train(store, tmp_path / "data", capsys)
    raw = t.versions[t.raw]
    doc = _record(store, raw, "dta", capsys)  # the registered source itself: every option as given
    assert {k: doc[k] for k in EXPECTED_DTA} == EXPECTED_DTA
    assert doc["uniqueMetadataIdentifier"] == raw and doc["unknownRequiredFields"] == []
    derived = _record(store, t.features, "dta", capsys)
    (src,) = derived["sourceMetadataForDataset"]
    assert {k: src[k] for k in EXPECTED_DTA} == EXPECTED_DTA
    listed = json.loads((main(["source", "list", "--json", "--store", store]), capsys.readouterr().out)[1])
    assert listed[0]["dataFormat"] == "text/csv" and listed[0]["proprietaryData"] == ["copyright"]
    # without --metadata-location the metadata location is the signed record's URI in the store
    assert main(["source", "add", t.features, "--name", "plain", "--license", "MIT", "--issuer", "I", "--store", store]) == 0
    capsys.readouterr()
    plain = next(s for s in iter_sources(open_store(store), trust_from_settings()) if s.record.name == "plain")
    dta = plain.record.dta(f"file://{Path(store).resolve()}/{plain.key}")
    assert dta["metadataLocation"] == (Path(store).resolve() / plain.key).as_uri()
    assert dta["dataFormat"] == "application/vnd.apache.parquet"
    assert dta["source"] == NOT_APPLICABLE and dta["dateOfPreviouslyIssuedVersion"] == UNKNOWN
    assert [g.split("'")[1] for g in dta_gaps(dta)] == [
        "Description of the dataset", "Data origin geography", "Dataset issue date", "Range of dates for data generation", "Method",
        "Confidentiality classification", "Data processing geography", "Data storage geography", "Intended data use", "Proprietary data"]


@pytest.mark.parametrize(("option", "value", "named"), [
    ("--data-format", "not a format!", "--data-format"),
    ("--previous-version-date", "last spring", "--previous-version-date"),
    ("--proprietary-data", " ", "--proprietary-data"),
    ("--metadata-location", "on the team wiki", "--metadata-location"),
    ("--source-metadata", "vendor.example/meta.json", "--source-metadata"),
])
def test_source_add_rejects_bad_values(tmp_path: Path, capsys: pytest.CaptureFixture, option: str, value: str, named: str) -> None:
    data = tmp_path / "d.csv"
    data.write_text("a\n1\n")
    code = main(["source", "add", str(data), "--name", "s", "--license", "MIT", "--issuer", "I", option, value, "--store", str(tmp_path / "st")])
    assert code == 2
    err = capsys.readouterr().err
    assert named in err and value.strip() in err


def test_old_format_source_record_still_loads_and_verifies(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    store = open_store(str(tmp_path / "store"))
    digest = "blake3:" + "ab" * 32
    old = {"format": "https://tdprov.dev/source-record/v1", "name": "legacy", "digest": digest, "license": "CC0-1.0", "issuer": "Old Co",
           "location": "/data/legacy.csv", "data_format": "csv", "origin_geography": ["US"], "registered_at": "2025-01-01T00:00:00Z"}
    key = source_key("legacy", digest)
    store.put(key, sign_envelope(canonical_bytes(old), SOURCE_PAYLOAD_TYPE, [default_signing_key()]).to_json())
    assert main(["source", "list", "--store", store.uri]) == 0
    assert "legacy" in capsys.readouterr().out
    seal(store, run_events("prep", [dataset("/data/legacy.csv", digest)], [dataset("/data/out.parquet", "blake3:" + "cd" * 32)]))
    doc = _record(store.uri, "/data/out.parquet", "dta", capsys)
    (src,) = doc["sourceMetadataForDataset"]
    assert src["dataFormat"] == "text/csv" and src["dataOriginGeography"] == ["US"]
    assert src["dataStorageGeography"] == UNKNOWN and src["proprietaryData"] == UNKNOWN
    assert src["metadataLocation"] == (Path(store.uri).resolve() / key).as_uri()
    record = SourceRecord.from_dict(old)
    assert record.to_dict() == {k: v for k, v in old.items()}


def test_records_of_a_real_dagster_pipeline(tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """The example Dagster pipeline, materialised for real: its pickled model and its Parquet assets get
    their own media types and checksums, and the source's D&TA fields reach the model's record."""
    from example_pipelines.dagster_training.definitions import defs
    from example_pipelines.paths import model_file
    from example_pipelines.training.source import SOURCE_NAME, source_add_args

    store = str(tmp_path / "store")
    monkeypatch.setenv("TDPROV_STORE", store)
    monkeypatch.setenv("TDPROV_EXAMPLE_DATA", str(tmp_path / "data"))
    assert main([*source_add_args(), "--store", store]) == 0
    result = defs.get_job_def("breast_cancer_training").execute_in_process(raise_on_error=False)
    assert result.success
    capsys.readouterr()
    pickled = model_file("dagster")
    path = _croissant_file(tmp_path, store, pickled.as_uri(), capsys, "--issuer", "Example Org")
    meta = mlc.Dataset(jsonld=str(path)).metadata
    assert not meta.ctx.issues.errors, meta.ctx.issues.report()
    (obj,) = meta.distribution
    assert obj.encoding_formats == ["application/x-pickle"] and obj.content_url == pickled.as_uri()
    assert obj.sha256 == hashlib.sha256(pickled.read_bytes()).hexdigest()
    doc = json.loads(path.read_text())
    assert doc["url"] == pickled.as_uri()  # where the bytes are, not the asset's name
    assert doc["version"].startswith("1.0.0+blake3.") and doc["datePublished"] and "Example Org" in doc["citeAs"]
    dta = _record(store, pickled.as_uri(), "dta", capsys, "--issuer", "Example Org")
    assert dta["dataFormat"] == "application/x-pickle"
    (src,) = dta["sourceMetadataForDataset"]
    assert src["datasetTitle"] == "Breast Cancer Wisconsin (Diagnostic)" and src["dataFormat"] == "text/csv"
    assert src["proprietaryData"] == ["none"] and src["dataStorageGeography"] == ["US"]
    assert [f for f in DTA_KEYS if src[f] == UNKNOWN] == ["dateOfPreviouslyIssuedVersion", "consentDocumentationLocation"]  # conditional
    assert dta_gaps(src) == [] and src["rangeOfDatesForDataGeneration"] == {"start": UNKNOWN, "end": "1995-11-01"}
    assert dta["licenseToUse"] == ["CC-BY-4.0"] and dta["dataOriginGeography"] == ["US"]
    assert {t_["job"].rsplit("/", 1)[-1] for t_ in dta["transformations"]} >= {"model", "train_set", "features", "clean_cells", "raw_cells"}
    # a Parquet asset of the IO manager: named by where its Parquet lives (the asset key is its symlink)
    clean = json.loads(_croissant_file(tmp_path, store, (tmp_path / "store-data" / "clean_cells.parquet").as_uri(), capsys).read_text())
    (obj,) = clean["distribution"]
    assert obj["encodingFormat"] == ["application/vnd.apache.parquet", "application/x-parquet"] and obj["contentUrl"].startswith("file:///")
    assert obj["sha256"] == hashlib.sha256(Path(obj["contentUrl"][len("file://"):]).read_bytes()).hexdigest()
    assert SOURCE_NAME in json.dumps(clean)


def test_source_gaps_hook_names_each_unknown_required_field() -> None:
    from prov_common.sources.gaps import source_gaps

    bare = SourceRecord(name="bare", digest="blake3:" + "01" * 32, license="MIT", issuer="I", location="/d/bare.parquet")
    gaps = source_gaps(bare)
    assert len(gaps) == 10 and all(g.startswith("D&TA required field") for g in gaps)
    assert any("(dataStorageGeography)" in g and "--storage-geography" in g for g in gaps)
    assert not any("metadataLocation" in g or "dataFormat" in g for g in gaps)  # in the store; by its file name
    full = SourceRecord(name="full", digest="blake3:" + "02" * 32, license="MIT", issuer="I", description="d", origin_geography=("DE",),
                        issue_date="2025-01-02", collection_end="2024-12-31", generation_method="survey", data_format="csv",
                        confidentiality="public", processing_geography=("DE",), storage_geography=("DE",), intended_use="u",
                        proprietary_data=("none",))
    assert source_gaps(full, "s3://bucket/prefix") == []
    assert full.dta("s3://bucket/prefix/x")["dataFormat"] == "text/csv"


def test_python_api_builds_both_shapes_without_reading_data(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from prov_common.audit.catalog import known_runs
    from prov_common.audit.lineage import LineageIndex
    from prov_common.sources.training_record import RecordOptions, training_record

    store_uri = str(tmp_path / "store")
    t = _train(store_uri, tmp_path / "data", capsys)
    store, trust = open_store(store_uri), trust_from_settings()
    index = LineageIndex(known_runs(store, trust).values(), [s.record for s in iter_sources(store, trust)])
    options = RecordOptions(store.uri, issuer="API Org", storage_geography=("NL",))
    dta = training_record(index, t.features, "dta", options)
    assert dta["datasetIssuer"] == "API Org" and dta["dataStorageGeography"] == ["NL"] and dta["dataProcessingGeography"] == UNKNOWN
    assert dta["unknownRequiredFields"] == ["dataProcessingGeography"]
    croissant = training_record(index, t.versions[t.features], "croissant", options)
    assert "distribution" not in croissant and any("not read" in x for x in croissant["rai:dataLimitations"])
    assert croissant["creator"] == [{"@type": "sc:Organization", "name": "API Org"}]
    with pytest.raises(BadInputError, match="unknown record format"):
        training_record(index, t.features, "yaml", options)


def _write_shards(store_uri: str, data: Path, kind: str) -> str:
    """Two Parquet shards and a CSV shard (and a ``_SUCCESS`` marker, not a shard) as a local folder, a
    local glob, or an S3 prefix in the store's bucket; returns the location a pipeline names."""
    (data / "part").mkdir(parents=True)
    for i in range(2):
        pd.DataFrame({"a": range(i * 5, i * 5 + 5)}).to_parquet(data / "part" / f"part-{i:05d}.parquet")
    (data / "part" / "extra.csv").write_text("a\n10\n")
    (data / "part" / "_SUCCESS").write_text("")
    if kind == "glob":
        (data / "part" / "notes.txt").write_text("not matched by the glob")
        return str(data / "part" / "*.[cp]*")
    if not store_uri.startswith("s3://"):
        return str(data / "part") + "/"
    import boto3

    bucket = store_uri[len("s3://"):].split("/", 1)[0]
    for f in (data / "part").iterdir():
        boto3.client("s3").put_object(Bucket=bucket, Key=f"data/corpus/{f.name}", Body=f.read_bytes())
    return f"s3://{bucket}/data/corpus/"


@pytest.mark.parametrize("backend, kind", [("local", "folder"), ("local", "glob"), ("s3", "prefix")])
def test_croissant_of_a_sharded_version_lists_every_shard_with_its_sha256(
    backend: str, kind: str, tmp_path: Path, capsys: pytest.CaptureFixture, request: pytest.FixtureRequest
) -> None:
    """A folder, an S3 prefix or a glob of shards is one version; its Croissant record has one FileObject per
    shard (fetchable URL, SHA-256 of its bytes, its own shard digest), which mlcroissant loads and checks."""
    from prov_dagster import ProvenanceResource

    store_uri = str(tmp_path / "store") if backend == "local" else request.getfixturevalue("s3_store_uri")
    location = _write_shards(store_uri, tmp_path / "data", kind)
    version = ProvenanceResource(store=store_uri, dask_scheduler="none").record(outputs={"corpus": location}).data_version.value
    path = _croissant_file(tmp_path, store_uri, version, capsys)
    doc = json.loads(path.read_text())
    assert not any("no checksum" in limit for limit in doc.get("rai:dataLimitations", [])), doc.get("rai:dataLimitations")
    ds = mlc.Dataset(jsonld=str(path))
    assert not ds.metadata.ctx.issues.errors, ds.metadata.ctx.issues.report()
    shards = {"extra.csv": ["text/csv"], "part-00000.parquet": ["application/vnd.apache.parquet", "application/x-parquet"],
              "part-00001.parquet": ["application/vnd.apache.parquet", "application/x-parquet"]}
    objects = {o.name: o for o in ds.metadata.distribution}
    assert set(objects) == set(shards)  # the _SUCCESS marker (and what the glob leaves out) is no shard
    base = location.rstrip("/") + "/" if kind != "glob" else str(tmp_path / "data" / "part") + "/"
    sharded = hash_shards(location)
    for name, obj in objects.items():
        url = base + name
        assert obj.content_url == (url if url.startswith("s3://") else Path(url).as_uri())
        assert obj.sha256 == hashlib.sha256(_bytes_at(url)).hexdigest()
        assert obj.content_size == f"{len(_bytes_at(url))} B" and obj.encoding_formats == shards[name]
    assert {o["name"]: o["identifier"] for o in doc["distribution"]} == {s.path: s.digest for s in sharded.shards}
    assert doc["identifier"] == version == sharded.digest


def test_croissant_of_a_changed_sharded_version_has_no_checksums(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from prov_dagster import ProvenanceResource

    store = str(tmp_path / "store")
    location = _write_shards(store, tmp_path / "data", "folder")
    version = ProvenanceResource(store=store, dask_scheduler="none").record(outputs={"corpus": location}).data_version.value
    (tmp_path / "data" / "part" / "extra.csv").write_text("a\n11\n")  # one shard rewritten after the run
    doc = json.loads(_croissant_file(tmp_path, store, version, capsys).read_text())
    assert "distribution" not in doc
    assert any("no longer hashes to" in limit and "its 3 shards hash to" in limit for limit in doc["rai:dataLimitations"]), doc["rai:dataLimitations"]


def test_croissant_files_have_absolute_ids_under_their_version(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Each FileObject's @id is absolute, under the IRI of its version (the one the exported PROV uses): records
    written to one folder and loaded into one RDF graph keep their files apart (one sha256 per file node), shard
    names with a space or '#' give valid ids mlcroissant loads, and the records join the exported lineage."""
    from prov_dagster import ProvenanceResource

    store, data = str(tmp_path / "store"), tmp_path / "data"
    (data / "corpus").mkdir(parents=True)
    for name, value in (("train", 1), ("test", 2)):
        pd.DataFrame({"a": [value]}).to_parquet(data / f"{name}.parquet")
    for i, name in enumerate(("part 0.parquet", "part#1.parquet")):
        pd.DataFrame({"a": [i]}).to_parquet(data / "corpus" / name)
    recorder = ProvenanceResource(store=store, dask_scheduler="none")
    locations = {"train": str(data / "train.parquet"), "test": str(data / "test.parquet"), "corpus": str(data / "corpus") + "/"}
    for name, location in locations.items():
        recorder.record(outputs={name: location}, job_name=f"make_{name}")
    graph, roots = rdflib.Graph(), {}
    for name, location in locations.items():
        path = tmp_path / "records" / f"{name}.json"
        path.parent.mkdir(exist_ok=True)
        assert main(["record", location, "--format", "croissant", "--store", store, "-o", str(path)]) == 0, capsys.readouterr().err
        ds = mlc.Dataset(jsonld=str(path))
        assert not ds.metadata.ctx.issues.errors, ds.metadata.ctx.issues.report()
        doc = json.loads(path.read_text())
        roots[name] = doc["@id"]
        assert all(f["@id"].startswith(doc["@id"] + "/") for f in doc["distribution"])
        graph.parse(path, format="json-ld")
    corpus = {f["name"]: f["@id"] for f in json.loads((tmp_path / "records" / "corpus.json").read_text())["distribution"]}
    assert corpus == {"part 0.parquet": roots["corpus"] + "/shard/part%200.parquet",
                      "part#1.parquet": roots["corpus"] + "/shard/part%231.parquet"}
    files = set(graph.subjects(rdflib.RDF.type, rdflib.URIRef("http://mlcommons.org/croissant/FileObject")))
    assert len(files) == 4 and all(len(list(graph.objects(f, SC.sha256))) == 1 for f in files)
    for name, root in roots.items():
        assert len(list(graph.objects(rdflib.URIRef(root), SC.distribution))) == (2 if name == "corpus" else 1)
    # the records' versions are the exported PROV's entities, generated by the runs that recorded them
    assert main(["export", "--format", "ttl", "--store", store]) == 0
    exported = rdflib.Graph().parse(data=capsys.readouterr().out, format="turtle")
    generated = rdflib.URIRef("http://www.w3.org/ns/prov#wasGeneratedBy")
    for root in map(rdflib.URIRef, roots.values()):
        assert set(exported.objects(root, generated)) == set(graph.objects(root, generated)) != set()


def test_croissant_of_a_file_whose_name_holds_a_question_mark_and_a_hash(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A local file's '?' and '#' are part of its name: the FileObject has the file's media type (which mlcroissant
    requires), its name as on disk and its file URI. A '?' was taken for a URL's query: no encodingFormat, and the
    name was the URI's escaped last segment."""
    from prov_dagster import ProvenanceResource

    store, location = str(tmp_path / "store"), tmp_path / "data root é #1" / "a#b?c.parquet"
    location.parent.mkdir()
    pd.DataFrame({"a": [1, 2]}).to_parquet(location)
    ProvenanceResource(store=store, dask_scheduler="none").record(outputs={"odd": str(location)})
    ds = mlc.Dataset(jsonld=str(_croissant_file(tmp_path, store, str(location), capsys)))  # raises on any error
    (obj,) = ds.metadata.distribution
    assert (obj.name, obj.content_url, obj.encoding_formats) == ("a#b?c.parquet", location.as_uri(),
                                                                 ["application/vnd.apache.parquet", "application/x-parquet"])
    assert obj.sha256 == hashlib.sha256(location.read_bytes()).hexdigest()
    assert _record(store, str(location), "dta", capsys)["dataFormat"] == "application/vnd.apache.parquet"


def test_croissant_of_a_file_without_an_extension_loads_in_mlcroissant(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A file whose name has no extension (a model's ``weights``) is described as bytes of no known format,
    ``application/octet-stream``, as a shard of no known extension is: Croissant requires every FileObject's
    encodingFormat, and mlcroissant refused the record, whose FileObject had none."""
    from prov_dagster import ProvenanceResource

    store, location = str(tmp_path / "store"), tmp_path / "model.v2" / "weights"
    location.parent.mkdir()
    location.write_bytes(bytes(range(256)))
    ProvenanceResource(store=store, dask_scheduler="none").record(outputs={"weights": str(location)}, job_name="train_model")
    path = _croissant_file(tmp_path, store, str(location), capsys)
    meta = mlc.Dataset(jsonld=str(path)).metadata  # raises on any error
    assert [w for w in meta.ctx.issues.warnings if "schema.org/license" not in w] == []  # no source: no licence known
    (obj,) = meta.distribution
    assert (obj.name, obj.content_url, obj.encoding_formats) == ("weights", location.as_uri(), ["application/octet-stream"])
    assert obj.sha256 == hashlib.sha256(location.read_bytes()).hexdigest()


def test_dta_description_of_a_one_row_dataset_says_one_row(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The D&TA description of a version of one row ends ', 1 row'; it read ', 1 rows'."""
    store = str(tmp_path / "store")
    out = dataset("/data/one.parquet", "blake3:" + "1" * 64)
    out["facets"]["tdprov_contentHash"] = {"_producer": "p", "_schemaURL": "s", "digest": "blake3:" + "1" * 64,
                                           "algorithm": "blake3", "kind": "table", "rows": 1}
    seal(open_store(store), run_events("train_model", [], [out], job_type="TRAINING"))
    main(["record", "/data/one.parquet", "--format", "dta", "--store", store])
    doc = json.loads(capsys.readouterr().out)
    assert doc["descriptionOfTheDataset"] == f"/data/one.parquet version blake3:{'1' * 64}, 1 row"


@pytest.mark.parametrize(("folder", "backend"), [("run?1", "local"), ("run[1]", "local"), ("run*", "local"), ("run?1", "s3")],
                         ids=["run?1-local", "run[1]-local", "run*-local", "run?1-s3"])  # on S3 one wildcard: _list_s3 reads any as one
def test_croissant_of_sharded_data_whose_folder_name_holds_a_wildcard(backend: str, folder: str, tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture, request: pytest.FixtureRequest) -> None:
    """A folder named 'run?1', 'run[1]' or 'run*' (or an S3 prefix ending in '/') is that folder, as a file of such a
    name is that file: its shards are recorded, and mlcroissant loads the record with one FileObject per shard, each
    with the SHA-256 of its bytes. The name was read as a glob, which matches the folder itself (no key) and no file:
    'no shards in ...'."""
    from prov_dagster import ProvenanceResource

    store = str(tmp_path / "store") if backend == "local" else request.getfixturevalue("s3_store_uri")
    local = tmp_path / "data" / folder
    local.mkdir(parents=True)
    for i in range(2):
        pd.DataFrame({"a": [i]}).to_parquet(local / f"part-{i}.parquet")
    location = str(local)
    if backend == "s3":
        location = [_put(store, f"{folder}/part-{i}.parquet", local / f"part-{i}.parquet") for i in range(2)][0].rsplit("/", 1)[0] + "/"
    version = ProvenanceResource(store=store, dask_scheduler="none").record(outputs={"runs": location}).data_version.value
    ds = mlc.Dataset(jsonld=str(_croissant_file(tmp_path, store, version, capsys)))
    assert not ds.metadata.ctx.issues.errors, ds.metadata.ctx.issues.report()
    urls = {f"part-{i}.parquet": (location.rstrip("/") + f"/part-{i}.parquet") for i in range(2)}
    assert {o.name: (o.content_url, o.sha256) for o in ds.metadata.distribution} == {
        name: (url if backend == "s3" else Path(url).as_uri(), hashlib.sha256(_bytes_at(url)).hexdigest())
        for name, url in urls.items()}


def _croissant_issues(path: Path) -> list[str]:
    """mlcroissant's errors and warnings about the record at ``path`` (loading raises on an error)."""
    try:
        issues = mlc.Dataset(jsonld=str(path)).metadata.ctx.issues
    except mlc.ValidationError as exc:
        return [str(exc)]
    return [*issues.errors, *issues.warnings]


def test_source_add_records_a_relative_path_as_the_absolute_path_it_named(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """``tdprov source add data/v.csv`` records where the data is, not where it is from the folder it ran in: read
    from another folder, the source's Croissant record has the file's ``contentUrl`` and mlcroissant loads it."""
    work, store = tmp_path / "work", str(tmp_path / "store")
    (work / "data").mkdir(parents=True)
    (work / "data" / "v #1.csv").write_text("id,amount\n1,9.5\n")
    monkeypatch.chdir(work)
    assert main(["source", "add", "data/v #1.csv", "--name", "v", "--license", "MIT", "--issuer", "V", "--store", store,
                 "--issue-date", "2025-01-02"]) == 0
    record = list(iter_sources(open_store(store), trust_from_settings()))[0].record
    assert record.location == str(work / "data" / "v #1.csv")
    monkeypatch.chdir(tmp_path)
    path = _croissant_file(tmp_path, store, record.digest, capsys)
    (obj,) = json.loads(path.read_text())["distribution"]
    assert obj["contentUrl"] == (work / "data" / "v #1.csv").as_uri()
    assert _croissant_issues(path) == []


def test_croissant_of_a_source_registered_by_a_relative_path_has_no_file_without_a_url(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """A source record written with a relative location (as ``source add`` once wrote them) gives no FileObject,
    which Croissant requires to have a ``contentUrl``, but a limitation naming the location; mlcroissant loads it."""
    store = open_store(str(tmp_path / "store"))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "v.csv").write_text("id,amount\n1,9.5\n")
    digest = hash_path(tmp_path / "data" / "v.csv").digest
    old = SourceRecord(name="v", digest=digest, license="MIT", issuer="V", location="data/v.csv", issue_date="2025-01-02")
    store.put(source_key("v", digest), sign_envelope(old.to_json(), SOURCE_PAYLOAD_TYPE, [default_signing_key()]).to_json())
    monkeypatch.chdir(tmp_path)
    path = _croissant_file(tmp_path, store.uri, digest, capsys)
    doc = json.loads(path.read_text())
    assert "distribution" not in doc
    assert any("'data/v.csv'" in limit and "relative" in limit for limit in doc["rai:dataLimitations"]), doc["rai:dataLimitations"]
    assert _croissant_issues(path) == []


def test_croissant_of_a_source_registered_without_an_issue_date_has_what_croissant_recommends(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A registered source no run wrote, without ``--issue-date``: its version numbers the contents registered under
    its name, its publication date is the day it was first registered, and mlcroissant finds nothing to warn of."""
    store, data = str(tmp_path / "store"), tmp_path / "v.csv"
    digests = []
    for content in ("id,amount\n1,9.5\n", "id,amount\n1,9.5\n2,3.0\n"):  # a changed content is a new digest
        data.write_text(content)
        assert main(["source", "add", str(data), "--name", "v", "--license", "MIT", "--issuer", "Vendor V",
                     "--store", store]) == 0, capsys.readouterr().err
        digests.append(hash_path(data).digest)
    registered = min(r.record.registered_at for r in iter_sources(open_store(store), trust_from_settings()))[:10]
    for digest, number in ((digests[0], 1), (digests[1], 2)):
        path = _croissant_file(tmp_path, store, digest, capsys)
        doc = json.loads(path.read_text())
        short = digest.partition(":")[2][:12]
        assert doc["version"] == f"{number}.0.0+blake3.{short}"
        assert doc["datePublished"] == registered
        assert doc["citeAs"].startswith(f"@misc{{tdprov-{short}-") and f"year = {{{registered[:4]}}}" in doc["citeAs"]
        assert f"version = {{{number}.0.0+blake3.{short}}}" in doc["citeAs"]
        assert _croissant_issues(path) == []
        assert mlc.Dataset(jsonld=str(path)).metadata.version == doc["version"]
    capsys.readouterr()
    assert _record(store, digests[0], "dta", capsys)["datasetIssueDate"] == UNKNOWN  # the issuer's date: still a gap


def test_a_source_name_registered_at_two_locations_numbers_the_contents_of_each_apart(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A source version is a digest at a location: the contents registered under one name at another location are
    another dataset's. They were numbered with this one's, so the first content of /mirror/y.csv was version 2, and
    the second content of /data/x.csv version 3."""
    store = str(tmp_path / "store")
    first, mirror, second = ("blake3:" + c * 64 for c in "abc")
    for location, digest in (("/data/x.csv", first), ("/mirror/y.csv", mirror), ("/data/x.csv", second)):
        assert main(["source", "add", location, "--digest", digest, "--name", "v", "--license", "MIT", "--issuer", "V",
                     "--store", store]) == 0, capsys.readouterr().err
    for digest, number in ((first, 1), (mirror, 1), (second, 2)):
        doc = json.loads(_croissant_file(tmp_path, store, digest, capsys).read_text())
        assert doc["version"] == f"{number}.0.0+blake3.{digest.partition(':')[2][:12]}", digest


SEMVER = r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?"  # semver.org, no pre-release


def test_each_version_of_another_producers_table_has_its_own_citation_key_and_a_semantic_version(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Versions '3' and '4' of a table another producer names, and a version written as a time, have no digest: their
    Croissant records shared the BibTeX key 'tdprov--<name>' and had the version '1.0.0+3.' (an empty build identifier)
    and '1.0.0+2026-05-01T12:00:00Z.', which Semantic Versioning does not allow. Each is named by 12 hex of its
    SHA-256; a digest is named by its own, as before."""
    import re

    store = str(tmp_path / "store")
    for hours, version in enumerate(["3", "4", "2026-05-01T12:00:00Z"]):
        seal(open_store(store), run_events(f"w{hours}", [], [dataset("warehouse/users", version, namespace="s3://lake")],
                                           start=T0 + timedelta(hours=hours)))
    seal(open_store(store), run_events("own", [], [dataset("/data/own.csv", "blake3:" + "ab" * 32)], start=T0 + timedelta(hours=5)))
    keys, versions = [], []
    for ref in ("3", "4", "2026-05-01T12:00:00Z", "/data/own.csv"):
        record = _record(store, ref, "croissant", capsys, "--no-checksum")
        keys.append(record["citeAs"].split("{", 1)[1].split(",", 1)[0])
        versions.append(record["version"])
    tags = [hashlib.sha256(v.encode()).hexdigest()[:12] for v in ("3", "4", "2026-05-01T12:00:00Z")]
    users = hashlib.sha256(b"s3://lake/warehouse/users").hexdigest()[:8]
    assert keys[:3] == [f"tdprov-{tag}-{users}" for tag in tags] and keys[3].startswith("tdprov-" + "ab" * 6 + "-"), keys
    assert versions == [f"{n}.0.0+version.{tag}" for n, tag in zip((1, 2, 3), tags)] + ["1.0.0+blake3." + "ab" * 6], versions
    assert all(re.fullmatch(SEMVER, v) for v in versions), versions


def test_a_digest_written_in_upper_case_hex_is_dated_and_numbered_as_its_version(tmp_path: Path,
                                                                                capsys: pytest.CaptureFixture) -> None:
    """A run wrote sha256:3B06... and the next run wrote the same content as sha256:3b06...: the record of that
    version had no issue date, no Croissant version, no citation (the history compared the text as written), and the
    second write would have been a change of content. It is version 1, issued the day of the first run."""
    store = str(tmp_path / "store")
    hex_ = "3b066804f6d1d077173cfe4d06002e6a61e6f21c2b2e648417962115f1afcd8e"
    for hours, written in enumerate([hex_.upper(), hex_]):
        seal(open_store(store), run_events(f"w{hours}", [], [dataset("/data/own.csv", "sha256:" + written)],
                                           start=T0 + timedelta(days=hours)))
    record = _record(store, "sha256:" + hex_.upper(), "dta", capsys)
    assert (record["datasetIssueDate"], record["dateOfPreviouslyIssuedVersion"]) == ("2026-05-01", NOT_APPLICABLE), record
    croissant = _record(store, "/data/own.csv", "croissant", capsys, "--no-checksum")
    assert croissant["version"] == "1.0.0+sha256." + hex_[:12] and croissant["datePublished"] == "2026-05-01", croissant
    assert croissant["citeAs"].startswith("@misc{tdprov-" + hex_[:12] + "-"), croissant["citeAs"]


def _mlcroissant_rows(path: Path) -> list[dict]:
    """The rows mlcroissant reads through the record at ``path``'s record sets (one per shard of a sharded version),
    one set after another in the record's order, by field name (text decoded), each FileObject mapped to the local
    file its ``contentUrl`` names, as docs/records.md tells a user to."""
    from urllib.parse import unquote, urlparse

    doc = json.loads(path.read_text())
    files = {f["@id"]: unquote(urlparse(f["contentUrl"]).path) for f in doc["distribution"]}
    ds = mlc.Dataset(jsonld=str(path), mapping=files)
    assert not ds.metadata.ctx.issues.errors, ds.metadata.ctx.issues.report()
    rows = []
    for record_set in doc["recordSet"]:
        names = {f["@id"]: f["name"] for f in record_set["field"]}
        rows += [{names[k]: v.decode() if isinstance(v, bytes) else v for k, v in row.items()} for row in ds.records(record_set["@id"])]
    return rows


@pytest.mark.parametrize("suffix", ["parquet", "csv", "jsonl"])
def test_mlcroissant_reads_the_rows_of_the_version_through_its_record_set(suffix: str, tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture) -> None:
    """A Croissant record of a table has a record set whose fields are the version's columns with their types, read
    from its FileObject (a Parquet file's media type also as mlcroissant names it): mlcroissant yields exactly the
    rows written, and refuses the file once its bytes are no longer those of the record's sha256."""
    from prov_dagster import ProvenanceResource

    store, location = str(tmp_path / "store"), tmp_path / "data" / f"t r#1.{suffix}"
    location.parent.mkdir()
    frame = pd.DataFrame({"claim": [1, 2, 3], "amount": [10.5, 20.25, -3.0], "large": [False, True, False],
                          "who": ["a", "b é", "c"]})
    {"parquet": frame.to_parquet, "csv": lambda p: frame.to_csv(p, index=False),
     "jsonl": lambda p: frame.to_json(p, orient="records", lines=True, force_ascii=False)}[suffix](location)
    ProvenanceResource(store=store, dask_scheduler="none").record(outputs={"t": str(location)})
    path = _croissant_file(tmp_path, store, str(location), capsys)
    (record_set,) = json.loads(path.read_text())["recordSet"]
    assert [(f["name"], f["dataType"]) for f in record_set["field"]] == [
        ("claim", "sc:Integer"), ("amount", "sc:Float"), ("large", "sc:Boolean"), ("who", "sc:Text")]
    assert _mlcroissant_rows(path) == frame.to_dict("records")
    location.write_bytes(location.read_bytes() + b"\n")  # other bytes than the sha256 the record names
    with pytest.raises(Exception, match="during the operation Download") as refused:
        _mlcroissant_rows(path)
    assert "Hash of downloaded file" in str(refused.value.__cause__)


def test_a_column_without_a_croissant_data_type_is_named_not_read(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A column whose type has no Croissant data type mlcroissant reads back (bytes) is left out of the record set and
    named in rai:dataLimitations; mlcroissant still reads the other columns' rows."""
    from prov_dagster import ProvenanceResource

    store, location = str(tmp_path / "store"), tmp_path / "t.parquet"
    pd.DataFrame({"id": [1, 2], "blob": [b"\x00", b"\x01"]}).to_parquet(location)
    ProvenanceResource(store=store, dask_scheduler="none").record(outputs={"t": str(location)})
    path = _croissant_file(tmp_path, store, str(location), capsys)
    doc = json.loads(path.read_text())
    assert [f["name"] for f in doc["recordSet"][0]["field"]] == ["id"]
    assert "not in the record set, having no Croissant data type: blob (binary)" in doc["rai:dataLimitations"]
    assert _mlcroissant_rows(path) == [{"id": 1}, {"id": 2}]


def test_index_levels_a_csv_is_read_with_are_named_as_left_out_of_the_record_set(tmp_path: Path,
                                                                                 capsys: pytest.CaptureFixture) -> None:
    """A CSV whose rows hold more values than its header (sklearn's breast_cancer.csv) is read, by tdprov and by
    mlcroissant alike, with the first values as index levels: the record set has the header's columns, and
    rai:dataLimitations names the levels left out (they were left out unsaid)."""
    from prov_dagster import ProvenanceResource

    store, location = str(tmp_path / "store"), tmp_path / "wide.csv"
    location.write_text("a,b\n1,2,3\n4,5,6\n")
    ProvenanceResource(store=store, dask_scheduler="none").record(outputs={"wide": str(location)})
    path = _croissant_file(tmp_path, store, str(location), capsys)
    doc = json.loads(path.read_text())
    assert [f["name"] for f in doc["recordSet"][0]["field"]] == ["a", "b"]
    assert "not in the record set, being index levels as the file is read as a table: __index__:0 (int64)" in doc["rai:dataLimitations"]
    assert _mlcroissant_rows(path) == [{"a": 2, "b": 3}, {"a": 5, "b": 6}]


def _write_table(frame: pd.DataFrame, location: Path) -> None:
    """``frame`` as the Parquet, CSV or JSON lines file ``location`` (by its suffix), without an index."""
    {".parquet": frame.to_parquet, ".csv": lambda p: frame.to_csv(p, index=False),
     ".jsonl": lambda p: frame.to_json(p, orient="records", lines=True, force_ascii=False)}[location.suffix](location)


@pytest.mark.parametrize("cached", [True, False], ids=["digests-cached", "shards-read"])
@pytest.mark.parametrize("suffix", ["parquet", "csv", "jsonl"])
def test_mlcroissant_reads_the_rows_of_every_shard_through_their_record_sets(suffix: str, cached: bool, tmp_path: Path,
                                                                             capsys: pytest.CaptureFixture) -> None:
    """A sharded version whose shards are tables of one format and one schema has a record set per shard, in path
    order, each with the version's columns and types read from its shard's FileObject: mlcroissant yields exactly the
    rows of all shards in path order (shards whose digests the shard-digest cache gave are read for their columns),
    and refuses a shard whose bytes are no longer those of its sha256."""
    from prov_dagster import ProvenanceResource

    store, folder = str(tmp_path / "store"), tmp_path / "data" / "corpus"
    folder.mkdir(parents=True)
    frames = {n: pd.DataFrame({"claim": [2 * n, 2 * n + 1], "amount": [n + 0.5, -1.25], "large": [n > 2, False],
                               "who": [f"é{n}", "b"]}) for n in (2, 10, 1)}
    for n, frame in frames.items():
        _write_table(frame, folder / f"part-{n}.{suffix}")
    (folder / "_SUCCESS").write_text("")
    for shard in folder.iterdir():  # written a while ago: the shard-digest cache keeps no digest of a file just written
        os.utime(shard, (shard.stat().st_mtime - 60, shard.stat().st_mtime - 60))
    ProvenanceResource(store=store, dask_scheduler="none").record(outputs={"corpus": str(folder)})
    cache = Path(os.environ["TDPROV_HOME"]) / "cache" / "shard-digests.sqlite"
    assert cache.is_file()
    if not cached:
        cache.unlink()
    path = _croissant_file(tmp_path, store, str(folder), capsys)
    doc = json.loads(path.read_text())
    order = [f"part-{n}.{suffix}" for n in (1, 10, 2)]  # by code point, as the shard tree orders them
    assert [(rs["name"], rs["@id"]) for rs in doc["recordSet"]] == [
        (name, f"{doc['@id']}/shard/{name}/records") for name in order]
    for record_set, name in zip(doc["recordSet"], order):
        assert [(f["name"], f["dataType"], f["source"]["fileObject"]["@id"]) for f in record_set["field"]] == [
            (column, kind, f"{doc['@id']}/shard/{name}") for column, kind in
            (("claim", "sc:Integer"), ("amount", "sc:Float"), ("large", "sc:Boolean"), ("who", "sc:Text"))]
    assert "rai:dataLimitations" not in doc or not any("record set" in x for x in doc["rai:dataLimitations"])
    assert _mlcroissant_rows(path) == [row for n in (1, 10, 2) for row in frames[n].to_dict("records")]
    shard = folder / f"part-10.{suffix}"
    shard.write_bytes(shard.read_bytes() + b"\n")  # other bytes than the sha256 the record names
    with pytest.raises(Exception, match="during the operation Download") as refused:
        _mlcroissant_rows(path)
    assert f"part-10.{suffix} is not identical" in str(refused.value.__cause__)


@pytest.mark.parametrize("odd, why", [
    ("part-1.parquet", "shard part-1.parquet has other columns than part-0.parquet: (a float64) against (a int64)"),
    ("part-1.csv", "shard part-1.csv is text/csv, shard part-0.parquet application/vnd.apache.parquet"),
    ("part-1.bin", "shard part-1.bin is not a table (Parquet, CSV or JSON lines)"),
])
def test_shards_that_are_not_one_table_have_no_record_set_and_say_why(odd: str, why: str, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture) -> None:
    """Shards of another schema, another format, or no table at all are no one table: the record has a FileObject per
    shard and no record set, and rai:dataLimitations names the first shard unlike the first one."""
    from prov_dagster import ProvenanceResource

    store, folder = str(tmp_path / "store"), tmp_path / "corpus"
    folder.mkdir()
    pd.DataFrame({"a": [1, 2]}).to_parquet(folder / "part-0.parquet")
    if odd.endswith(".bin"):
        (folder / odd).write_bytes(b"\x00\x01")
    else:
        _write_table(pd.DataFrame({"a": [3.5] if odd.endswith(".parquet") else [3]}), folder / odd)
    ProvenanceResource(store=store, dask_scheduler="none").record(outputs={"corpus": str(folder)})
    doc = json.loads(_croissant_file(tmp_path, store, str(folder), capsys).read_text())
    assert "recordSet" not in doc and len(doc["distribution"]) == 2
    assert f"no record set: {why}, and a record set is one table" in doc["rai:dataLimitations"], doc["rai:dataLimitations"]


def test_croissant_and_dta_of_a_source_registered_twice_give_one_licence(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """One source version (one file) registered twice, the second record changing the licence: D&TA took the newest
    record's licence, Croissant listed both, and its description named one record where its name gave the title. Both
    read the records together now: one licence, the newest, and one title; mlcroissant loads the record."""
    store, data = str(tmp_path / "store"), tmp_path / "orders.csv"
    data.write_text("id,amount\n1,9.5\n")
    add = ["source", "add", str(data), "--store", store]
    assert main([*add, "--name", "orders", "--title", "Orders", "--license", "MIT", "--issuer", "Acme",
                 "--intended-use", "training"]) == 0, capsys.readouterr().err
    assert main([*add, "--name", "orders-2", "--license", "Apache-2.0", "--intended-use", "evaluation"]) == 0, capsys.readouterr().err
    digest = hash_path(data).digest
    capsys.readouterr()
    dta = _record(store, digest, "dta", capsys)
    path = _croissant_file(tmp_path, store, digest, capsys)
    doc = json.loads(path.read_text())
    assert dta["licenseToUse"] == "Apache-2.0" and doc["license"] == ["Apache-2.0"]
    assert dta["intendedDataUse"] == "evaluation" and doc["rai:dataUseCases"] == ["evaluation"]
    assert dta["datasetTitle"] == doc["name"] == "Orders" and doc["description"].startswith(f"Orders version {digest},")
    assert _croissant_issues(path) == []
    assert mlc.Dataset(jsonld=str(path)).metadata.license == ["Apache-2.0"]


def test_records_of_every_way_to_name_a_source_are_read_by_outside_tools(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A source read by a run and registered twice at its location with two licences, the same location registered at a
    digest no run read, and a source at a location no run read: the Croissant record of each way to name a source (its
    digest, its LOCATION, LOCATION@DIGEST) and of the data made from it loads in mlcroissant with no error or warning
    and its rows read; each D&TA record states the 22 fields and the gaps the repository's checks find; the PROV
    exported of the store validates against prov.xsd, and in its Turtle every derivation reaches a typed entity."""
    from importlib.resources import files

    from lxml import etree

    store, data = str(tmp_path / "store"), tmp_path / "data"
    data.mkdir()
    raw, unread = data / "raw.csv", data / "unread.csv"
    raw.write_text("id,amount\n1,9.5\n2,3.0\n")
    unread.write_text("a,b\n1,2\n")
    read, other = hash_path(raw).digest, "blake3:" + "1" * 64
    seal(open_store(store), run_events("prepare", [_ds(str(raw), read)], [_ds(str(data / "f.parquet"), digest("f"))]))
    for location, name, extra in ((raw, "raw", ["--license", "CC-BY-4.0", "--issuer", "Acme", "--title", "Raw claims"]),
                                  (raw, "raw-cc0", ["--license", "CC0-1.0", "--issuer", "Mirror"]),
                                  (raw, "raw-old", ["--digest", other, "--license", "MIT", "--issuer", "Acme"]),
                                  (unread, "unread", ["--license", "MIT", "--issuer", "Vendor"])):
        assert main(["source", "add", str(location), "--name", name, *extra, "--store", store]) == 0, capsys.readouterr().err
    capsys.readouterr()
    refs = [read, read[:len("blake3:") + 12], str(raw), f"{raw}@{read}", f"{raw}@{other}", other, str(unread),
            f"{unread}@{hash_path(unread).digest}", str(data / "f.parquet")]
    read_rows = []
    for ref in refs:
        path = _croissant_file(tmp_path, store, ref, capsys)
        doc = json.loads(path.read_text())
        assert _croissant_issues(path) == [], (ref, doc)
        if "distribution" in doc:
            read_rows += [ref] if _mlcroissant_rows(path) else []
        dta = _record(store, ref, "dta", capsys)
        assert tuple(dta)[:22] == DTA_KEYS and set(dta_gaps(dta)) <= set(dta["knownGaps"]), (ref, dta)
    assert read_rows == [read, read[:len("blake3:") + 12], str(raw), f"{raw}@{read}", str(unread), refs[7]]
    xml, ttl = tmp_path / "all.xml", tmp_path / "all.ttl"
    for fmt, out in (("xml", xml), ("ttl", ttl)):
        assert main(["export", "--format", fmt, "-o", str(out), "--store", store]) == 0, capsys.readouterr().err
    schema = etree.XMLSchema(etree.parse(str(files("prov") / "tests" / "schemas" / "prov.xsd")))
    assert schema.validate(etree.parse(str(xml))), schema.error_log
    graph = rdflib.Graph().parse(ttl, format="turtle")
    prov = "PREFIX prov: <http://www.w3.org/ns/prov#>\n"
    derivations = list(graph.query(prov + "SELECT ?a ?b WHERE { ?a prov:wasDerivedFrom ?b }"))
    assert derivations and not list(graph.query(prov + "SELECT ?b WHERE { ?a prov:wasDerivedFrom ?b FILTER NOT EXISTS { ?b a prov:Entity } }"))
    assert not list(graph.query(prov + "SELECT ?e WHERE { { ?e prov:wasGeneratedBy ?x } UNION { ?x prov:used ?e } FILTER NOT EXISTS { ?e a ?t } }"))


def test_records_of_one_source_version_that_disagree_on_licence_and_issuer_are_a_fact_shown(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A file registered as CC-BY-4.0 by Acme, then again (same bytes, same location) as CC0-1.0 by Mirror: the records
    of the source and of data made from it gave CC0-1.0 alone, CC-BY-4.0 (an attribution licence) gone without a word,
    and linked the first record while taking the newest's licence. The newest's licence and issuer are still the ones
    given, linked to the newest record; D&TA's knownGaps and Croissant's rai:dataLimitations say what each record
    states, and outside tools load both records."""
    store, raw = str(tmp_path / "store"), tmp_path / "raw.csv"
    raw.write_text("id,amount\n1,9.5\n")
    read = hash_path(raw).digest
    seal(open_store(store), run_events("prepare", [_ds(str(raw), read)], [_ds(str(tmp_path / "f.parquet"), digest("f"))]))
    for name, licence, issuer in (("raw", "CC-BY-4.0", "Acme"), ("raw-cc0", "CC0-1.0", "Mirror")):
        assert main(["source", "add", str(raw), "--name", name, "--license", licence, "--issuer", issuer,
                     "--store", store]) == 0, capsys.readouterr().err
    capsys.readouterr()
    said = [f"the records of source 'raw' (also recorded as 'raw-cc0') at {raw} ({read}) state other licences: CC0-1.0 by "
            "'raw-cc0', the newest, given here; CC-BY-4.0 by 'raw' (check which applies before use; records are never "
            "rewritten, so each stays stated)",
            f"the records of source 'raw' (also recorded as 'raw-cc0') at {raw} ({read}) state other issuers: Mirror by "
            "'raw-cc0', the newest, given here; Acme by 'raw' (check which applies before use; records are never "
            "rewritten, so each stays stated)"]
    newest = f"{source_key('raw-cc0', read)}"
    for ref in (read, str(tmp_path / "f.parquet")):
        dta = _record(store, ref, "dta", capsys, "--no-checksum")
        assert tuple(dta)[:22] == DTA_KEYS and set(dta_gaps(dta)) <= set(dta["knownGaps"]), dta
        assert [g for g in dta["knownGaps"] if g.startswith("the records of")] == said, dta["knownGaps"]
        assert dta["licenseToUse"] in ("CC0-1.0", ["CC0-1.0"]), dta
        links = [dta["metadataLocation"]] if ref == read else [s["metadataLocation"] for s in dta["sourceMetadataForDataset"]]
        assert len(links) == 1 and links[0].endswith(newest), links
        path = _croissant_file(tmp_path, store, ref, capsys)
        doc = json.loads(path.read_text())
        assert [g for g in doc["rai:dataLimitations"] if g.startswith("the records of")] == said, doc
        assert _croissant_issues(path) == []
        assert mlc.Dataset(jsonld=str(path)).metadata.license == ["CC0-1.0"]


def test_a_source_at_a_dbfs_path_is_recorded_at_that_path_not_in_the_working_folder(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """``source add dbfs:/mnt/v.csv --digest …`` recorded the location ``<cwd>/dbfs:/mnt/v.csv``, a local file, so the
    runs that read the Databricks file ``("dbfs", "/mnt/v.csv")`` did not trace back to it: the URI is kept as given."""
    monkeypatch.chdir(tmp_path)
    store, digest = str(tmp_path / "store"), "blake3:" + "ab" * 32
    assert main(["source", "add", "dbfs:/mnt/v.csv", "--name", "v", "--license", "MIT", "--issuer", "V", "--digest", digest,
                 "--store", store]) == 0, capsys.readouterr().err
    (stored,) = iter_sources(open_store(store), trust_from_settings())
    assert stored.record.location == "dbfs:/mnt/v.csv"
