"""What a training-data record tells an outsider agrees with what the store proves: a validation that failed on
the lineage is a gap in the record as in the audit, a file's sha256 is the one its run signed, and the record's
names, dates and citation keep apart what they describe. Real Dagster runs, real files, mlcroissant reads."""
from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import mlcroissant as mlc
import pandas as pd
import pandera.pandas as pa
import pytest
import rdflib
from dagster import DagsterInstance, materialize

from prov_common.cli import main
from prov_dagster import ProvenanceIOManager, provenance_asset
from test_records_standards import _put, _record


class Orders(pa.DataFrameModel):
    amount: float = pa.Field(ge=10.0)


@provenance_asset(schema=Orders, quality_policy="record")
def orders() -> pd.DataFrame:
    return pd.DataFrame({"amount": [1.0, 20.0, 30.0]})  # one row below 10: the check fails, the step goes on


@provenance_asset(training=True)
def features(orders: pd.DataFrame) -> pd.DataFrame:
    return orders * 2


def test_a_failed_validation_on_the_lineage_is_a_gap_of_the_record_as_of_the_audit(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    store, data = str(tmp_path / "store"), tmp_path / "data"
    monkeypatch.setenv("TDPROV_STORE", store)
    with DagsterInstance.ephemeral() as instance:
        assert materialize([orders, features], instance=instance,
                           resources={"io_manager": ProvenanceIOManager(store=store, data_root=str(data))}).success
    # the orders are a registered source: the lineage is otherwise complete
    assert main(["source", "add", str(data / "orders.parquet"), "--name", "vendor-orders", "--license", "CC-BY-4.0",
                 "--issuer", "Vendor Inc", "--store", store]) == 0
    assert main(["audit", "--store", store]) == 1
    capsys.readouterr()
    report = json.loads(next((tmp_path / "store" / "audit" / "reports").glob("*/report.json")).read_text())
    (section,) = report["trainingData"]
    (failed,) = [g for g in section["article10"]["knownGaps"] if "failed Pandera schema" in g]
    sentence = failed.split("; ", 1)[0] + ")"  # the audit adds its fix inside the parentheses
    assert sentence.endswith("failed Pandera schema Orders (1 failure)") and "orders.parquet@blake3:" in sentence
    for target in ("orders.parquet", "features.parquet"):
        dta = _record(store, str(data / target), "dta", capsys)
        assert dta["lineageComplete"] is False
        assert [g for g in dta["knownGaps"] if "D&TA" not in g] == [sentence]  # the only gap of the lineage
        (check,) = dta["qualityChecks"]
        assert (check["schema"], check["passed"], check["failureCount"]) == ("Orders", False, 1)
        croissant = _record(store, str(data / target), "croissant", capsys)
        assert sentence in croissant["rai:dataLimitations"]


def _signed_sha256(store_uri: str, run_id: str) -> str:
    """The sha256 of the one subject of the run's signed statement, read without tdprov's record code."""
    from prov_common.bundle.layout import STATEMENT_FILE, bundle_key
    from prov_common.store import open_store

    envelope = json.loads(open_store(store_uri).get(bundle_key(run_id, STATEMENT_FILE)))
    (subject,) = json.loads(base64.b64decode(envelope["payload"]))["subject"]
    return subject["digest"]["sha256"]


def test_a_file_written_again_with_the_same_table_has_no_sha256_but_the_signed_one(
        store_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The same table written again with other bytes (gzip) is still the version, but its bytes are not those the run
    signed: the FileObject is left out with a limitation naming both sha256 values, and two records of the version
    give its file node one sha256 only."""
    from prov_dagster import ProvenanceResource

    local = tmp_path / "train.parquet"
    pd.DataFrame({"a": range(100), "b": [str(i) for i in range(100)]}).to_parquet(local)
    location = _put(store_uri, local.name, local)
    recorded = ProvenanceResource(store=store_uri, dask_scheduler="none").record(outputs={"train": location}, job_name="writer")
    signed = _signed_sha256(store_uri, recorded.bundle.rstrip("/").rsplit("/", 1)[-1])
    first = _record(store_uri, location, "croissant", capsys)
    assert [f["sha256"] for f in first["distribution"]] == [signed]
    pd.read_parquet(local).to_parquet(local, compression="gzip")  # the same table, other bytes
    location = _put(store_uri, local.name, local)
    second = _record(store_uri, location, "croissant", capsys)
    assert second["identifier"] == first["identifier"] and "distribution" not in second
    (limit,) = [x for x in second["rai:dataLimitations"] if x.startswith("no checksum")]
    assert f"signed sha256 {signed}" in limit and hashlib.sha256(local.read_bytes()).hexdigest() in limit
    graph = rdflib.Graph()
    for doc in (first, second):
        graph.parse(data=json.dumps(doc), format="json-ld")
    sha256 = rdflib.URIRef("https://schema.org/sha256")
    assert {len(set(graph.objects(f, sha256))) for f in set(graph.subjects(sha256, None))} == {1}
    path = tmp_path / "second.json"
    path.write_text(json.dumps(second))
    assert not mlc.Dataset(jsonld=str(path)).metadata.ctx.issues.errors


def test_a_file_replaced_while_it_is_read_has_no_sha256(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Another writer replaces the file right after tdprov found it to be the version: the record gives no sha256 of
    bytes that are not the version, and says why."""
    import prov_common.hashing as hashing
    from prov_dagster import ProvenanceResource

    store, model = str(tmp_path / "store"), tmp_path / "model.bin"
    model.write_bytes(b"version one")
    ProvenanceResource(store=store, dask_scheduler="none").record(outputs={"model": str(model)}, job_name="writer")
    hash_path = hashing.hash_path

    def hash_then_another_writer(*args, **kwargs):
        found = hash_path(*args, **kwargs)
        model.write_bytes(b"another writer's bytes")
        return found

    monkeypatch.setattr(hashing, "hash_path", hash_then_another_writer)
    doc = _record(store, str(model), "croissant", capsys)
    assert "distribution" not in doc
    assert any("changed while it was read" in x for x in doc["rai:dataLimitations"]), doc["rai:dataLimitations"]


def test_croissant_names_the_dataset_with_its_namespace(s3_server, s3_store_uri: str, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture) -> None:
    """Two buckets' ``train.parquet`` are two datasets: each record's ``name`` is its full URI, as everywhere else."""
    from prov_dagster import ProvenanceResource

    local = tmp_path / "train.parquet"
    recorder = ProvenanceResource(store=s3_store_uri, dask_scheduler="none")
    names = set()
    for value in (1, 2):
        pd.DataFrame({"a": [value]}).to_parquet(local)
        bucket = s3_server.create_bucket()
        s3_server.client().put_object(Bucket=bucket, Key="train.parquet", Body=local.read_bytes())
        location = f"s3://{bucket}/train.parquet"
        recorder.record(outputs={"train": location}, job_name=f"make_{value}")
        doc = _record(s3_store_uri, location, "croissant", capsys)
        assert doc["name"] == location == _record(s3_store_uri, location, "dta", capsys)["datasetTitle"]
        names.add(doc["name"])
    assert len(names) == 2


@pytest.mark.parametrize(("given", "missing"), [(("--collection-end", "1995-11-01"), "start"),
                                                (("--collection-start", "1995-11-01"), "end"),
                                                (("--collection-start", "1995-01-01", "--collection-end", "1995-11-01"), None)])
def test_croissant_collection_timeframe_has_both_ends_or_none(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                              given: tuple[str, ...], missing: str | None) -> None:
    """A timeframe with one end unknown is no timeframe (a one-date list reads as a start or one day): the record
    leaves it out and its limitations name the end that is not recorded; mlcroissant loads it as before."""
    from prov_common.hashing import hash_path

    store, data = str(tmp_path / "store"), tmp_path / "cells.csv"
    data.write_text("a\n1\n")
    assert main(["source", "add", str(data), "--name", "cells", "--license", "CC0-1.0", "--issuer", "Lab",
                 "--store", store, *given]) == 0
    capsys.readouterr()
    out = tmp_path / "cells.croissant.json"
    assert main(["record", hash_path(data).digest, "--format", "croissant", "--store", store, "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    meta = mlc.Dataset(jsonld=str(out)).metadata
    assert not meta.ctx.issues.errors and not [w for w in meta.ctx.issues.warnings if "ollection" in w], meta.ctx.issues.report()
    if missing is None:
        assert doc["rai:dataCollectionTimeFrame"] == ["1995-01-01", "1995-11-01"]
        assert not any("timeframe" in x for x in doc.get("rai:dataLimitations", []))
        return
    assert "rai:dataCollectionTimeFrame" not in doc and meta.data_collection_timeframe is None
    (limit,) = [x for x in doc["rai:dataLimitations"] if "timeframe" in x]
    assert f"collection {missing} is not recorded" in limit and "1995-11-01" in limit and f"--collection-{missing}" in limit


def _balanced(text: str) -> bool:
    depth = 0
    for i, c in enumerate(text):
        if c in "{}" and (i == 0 or text[i - 1] != "\\"):
            depth += 1 if c == "{" else -1
            if depth < 0:
                return False
    return depth == 0


def test_cite_as_is_bibtex_that_keeps_the_issuer_whole_and_each_version_apart(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """The issuer is one organisation (double braces: BibTeX never splits it at "and"), LaTeX specials in the title are
    escaped, and two datasets of equal bytes get two keys, so one .bib file holds both."""
    from prov_dagster import ProvenanceResource

    store = str(tmp_path / "store")
    monkeypatch.setenv("TDPROV_ISSUER", "Acme Research & Development GmbH")
    recorder = ProvenanceResource(store=store, dask_scheduler="none")
    files = [tmp_path / "train_v2 50%.csv", tmp_path / "copy#of_train.csv"]
    for f in files:
        f.write_text("x\n1\n")  # equal bytes
        recorder.record(outputs={f.stem: str(f)}, job_name="writer")
    entries = [_record(store, str(f), "croissant", capsys)["citeAs"] for f in files]
    keys = {e.split("{", 1)[1].split(",", 1)[0] for e in entries}
    assert len(keys) == 2
    for entry, f in zip(entries, files):
        assert _balanced(entry), entry
        assert "author = {{Acme Research \\& Development GmbH}}" in entry
        title = entry.split("title = {", 1)[1].split("}, ", 1)[0]
        assert "\\_" in title and (r"\%" in title or r"\#" in title) and not any(
            title[i] in "%#_&" and title[i - 1] != "\\" for i in range(1, len(title)))
        assert f"howpublished = {{\\url{{{f.as_uri()}}}}}" in entry


def test_export_training_record_takes_the_options_of_record_and_refuses_those_of_a_prov_export(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """``export --training-record`` is ``record``: it takes the options its gaps name (and gives the same bytes), and
    refuses ``--since``/``--verified``, which a record does not use; a PROV export refuses the record's options."""
    from prov_dagster import ProvenanceResource

    store, data = str(tmp_path / "store"), tmp_path / "t.csv"
    data.write_text("a\n1\n")
    ProvenanceResource(store=store, dask_scheduler="none").record(outputs={"t": str(data)}, job_name="writer")
    options = ["--issuer", "Acme", "--processing-geography", "DE", "--storage-geography", "FR", "--no-checksum"]
    outputs = []
    for verb in (["record", str(data)], ["export", "--training-record", str(data)]):
        out = tmp_path / f"{verb[0]}.json"
        assert main([*verb, "--format", "croissant", *options, "--store", store, "-o", str(out)]) == 0, capsys.readouterr().err
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    dta = _record(store, str(data), "dta", capsys, *options)
    assert dta["dataProcessingGeography"] == ["DE"] and dta["dataStorageGeography"] == ["FR"] and dta["datasetIssuer"] == "Acme"
    capsys.readouterr()
    assert main(["export", "--training-record", str(data), "--since", "2999-01-01", "--verified", "--store", store]) == 2
    err = capsys.readouterr().err
    assert "--since and --verified do not apply to --training-record" in err and "Fix:" in err
    assert main(["export", "--processing-geography", "DE", "--store", store]) == 2
    assert "--processing-geography is an option of a training-data record" in capsys.readouterr().err


def test_a_dataset_that_returns_to_an_earlier_content_is_a_new_version(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Content A, then B, then A again: the newest record is version 3 (not 1, older than B's 2), issued by the third
    run, after B; the record of B still says it followed A's first issue."""
    from datetime import timedelta

    from prov_common.store import open_store
    from test_audit_support import T0, dataset, digest, run_events, seal

    store = str(tmp_path / "store")
    a, b = digest("content A"), digest("content B")
    runs = [seal(open_store(store), run_events("writer", [], [dataset("/data/t.csv", v)], start=T0 + timedelta(days=day)))
            for day, v in ((0, a), (3, b), (7, a))]
    newest = _record(store, "/data/t.csv", "dta", capsys)
    croissant = _record(store, "/data/t.csv", "croissant", capsys)
    assert newest["uniqueMetadataIdentifier"] == a and croissant["prov:wasGeneratedBy"]["@id"].endswith(runs[2])
    assert croissant["version"] == f"3.0.0+blake3.{a.split(':')[1][:12]}"
    assert newest["datasetIssueDate"] == croissant["datePublished"] == (T0 + timedelta(days=7)).date().isoformat()
    assert newest["dateOfPreviouslyIssuedVersion"] == (T0 + timedelta(days=3)).date().isoformat()
    second = _record(store, f"/data/t.csv@{b}", "croissant", capsys)
    assert second["version"].startswith("2.0.0+") and second["datePublished"] == (T0 + timedelta(days=3)).date().isoformat()
    assert _record(store, f"/data/t.csv@{b}", "dta", capsys)["dateOfPreviouslyIssuedVersion"] == T0.date().isoformat()
