"""Training-data records: D&TA JSON and Croissant JSON-LD (parsed as JSON-LD) name sources and transformations."""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
import rdflib

from prov_common.audit import run_audit
from prov_common.cli import main
from prov_common.config import Settings
from prov_common.store import open_store

from test_audit_support import T0, Pipeline, dataset, digest, run_events, seal

RAI = rdflib.Namespace("http://mlcommons.org/croissant/RAI/")
SC = rdflib.Namespace("https://schema.org/")
PROV = rdflib.Namespace("http://www.w3.org/ns/prov#")


@pytest.fixture()
def pipe(tmp_path: Path) -> Pipeline:
    return Pipeline(str(tmp_path / "store"))


def _record(pipe: Pipeline, ref: str, fmt: str, capsys: pytest.CaptureFixture) -> dict:
    assert main(["record", ref, "--format", fmt, "--store", pipe.store.uri]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("audited", [False, True])
def test_dta_record_names_sources_and_runs(pipe: Pipeline, capsys: pytest.CaptureFixture, audited: bool) -> None:
    if audited:  # records come from the audit catalog (with quality) instead of index summaries
        run_audit(pipe.store, Settings.from_env(store=pipe.store.uri), progress=False, report_dir=pipe.store.uri + "-report")
    doc = _record(pipe, "/data/features.parquet", "dta", capsys)
    assert doc["uniqueMetadataIdentifier"] == pipe.features
    assert doc["sourceMetadataForDataset"][0]["datasetTitle"] == "vendor-raw"
    assert doc["sourceMetadataForDataset"][0]["uniqueMetadataIdentifier"] == pipe.raw
    assert doc["licenseToUse"] == ["CC-BY-4.0"] and doc["dataOriginGeography"] == ["DE"]
    assert doc["rangeOfDatesForDataGeneration"] == {"start": "2025-01-01", "end": "2025-03-31"}
    assert [t["runId"] for t in doc["transformations"]] == [pipe.prepare]
    assert doc["lineageComplete"] is True and not [g for g in doc["knownGaps"] if not g.startswith("D&TA required field")]
    assert doc["unknownRequiredFields"] == ["datasetIssuer", "dataProcessingGeography", "dataStorageGeography", "proprietaryData"]
    assert doc["personalData"] == "pseudonymised" and doc["consentDocumentationLocation"] == ["https://acme.example/consent"]
    # the same by digest
    assert _record(pipe, pipe.features, "dta", capsys)["transformations"] == doc["transformations"]
    # read from the verified bundle (or the audit's catalog), not the index entry, which has no start time
    assert doc["transformations"][0]["startedAt"] is not None


def test_croissant_record_parses_as_json_ld(pipe: Pipeline, capsys: pytest.CaptureFixture) -> None:
    doc = _record(pipe, pipe.features, "croissant", capsys)
    graph = rdflib.Graph().parse(data=json.dumps(doc), format="json-ld")
    (me,) = graph.subjects(rdflib.RDF.type, SC.Dataset)
    assert str(graph.value(me, SC.identifier)) == pipe.features
    assert str(graph.value(me, RAI.personalSensitiveInformation)) == "pseudonymised"
    assert "vendor-raw: survey" in str(graph.value(me, RAI.dataCollection))
    assert str(graph.value(me, SC.license)) == "CC-BY-4.0"
    source = graph.value(me, PROV.wasDerivedFrom)
    assert str(graph.value(source, SC.identifier)) == pipe.raw
    assert str(graph.value(me, PROV.wasGeneratedBy)).endswith(f"#run-{pipe.prepare}")


def test_croissant_names_one_generation_with_typed_times_and_merges_with_the_exported_prov(
        pipe: Pipeline, capsys: pytest.CaptureFixture) -> None:
    """The model's record: its one generating run (train) under prov:wasGeneratedBy, the run before it
    (prepare) under prov:wasInfluencedBy, times as xsd:dateTime; merged with 'tdprov export' (plain PROV-O,
    Turtle), the record's version and runs are nodes of the exported lineage (PROV-CONSTRAINTS: one generation)."""
    doc = _record(pipe, pipe.model, "croissant", capsys)
    graph = rdflib.Graph().parse(data=json.dumps(doc), format="json-ld")
    (me,) = graph.subjects(rdflib.RDF.type, SC.Dataset)
    runs = {str(graph.value(r, SC.name)): r for r in graph.subjects(rdflib.RDF.type, PROV.Activity)}
    assert list(graph.objects(me, PROV.wasGeneratedBy)) == [runs["tests/train_model"]]
    assert list(graph.objects(me, PROV.wasInfluencedBy)) == [runs["tests/prepare_features"]]
    for run in runs.values():
        for when in (PROV.startedAtTime, PROV.endedAtTime):
            assert graph.value(run, when).datatype == rdflib.XSD.dateTime
    assert main(["export", "--format", "ttl", "--store", pipe.store.uri]) == 0
    graph.parse(data=capsys.readouterr().out, format="turtle")
    answer = graph.query("""PREFIX prov: <http://www.w3.org/ns/prov#>
        SELECT ?train ?prepare WHERE { ?me prov:wasGeneratedBy ?train . ?train prov:used ?features .
                                       ?features prov:wasGeneratedBy ?prepare }""", initBindings={"me": me})
    assert [(str(a), str(b)) for a, b in answer] == [(str(runs["tests/train_model"]), str(runs["tests/prepare_features"]))]
    generations = graph.query("""PREFIX prov: <http://www.w3.org/ns/prov#>
        SELECT ?e WHERE { ?e prov:wasGeneratedBy ?a, ?b FILTER (?a != ?b) }""")
    assert list(generations) == []


def test_croissant_states_no_start_of_a_run_whose_events_hold_no_start(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A run whose events hold no START (RUNNING then COMPLETE; a lone COMPLETE) has no known start: the exported PROV
    states none (mapping version 5), and neither does the Croissant record merged with it. The record stated the time
    of the run's first event as its prov:startedAtTime (the RUNNING's, the end of a lone COMPLETE), a start the run
    never reported. A run with a START states it in both."""
    store = open_store(str(tmp_path / "store"))
    seal(store, run_events("raw", [], [dataset("/d/raw.csv", digest("raw"))]))
    running = run_events("prep", [dataset("/d/raw.csv", digest("raw"))], [dataset("/d/x.csv", digest("x"))], start=T0 + timedelta(minutes=10))
    running[0]["eventType"], running[0]["eventTime"] = "RUNNING", "2026-05-01T12:13:00Z"
    seal(store, running)
    seal(store, run_events("train_model", [dataset("/d/x.csv", digest("x"))], [dataset("/m/z", digest("z"))],
                           start=T0 + timedelta(minutes=20), job_type="TRAINING")[1:])  # its COMPLETE alone
    assert main(["record", digest("z"), "--format", "croissant", "--no-checksum", "--store", store.uri]) == 0
    record = rdflib.Graph().parse(data=capsys.readouterr().out, format="json-ld")
    assert main(["export", "--format", "ttl", "--store", store.uri]) == 0
    exported = rdflib.Graph().parse(data=capsys.readouterr().out, format="turtle")
    runs = {str(record.value(r, SC.name)).rsplit("/", 1)[1]: r for r in record.subjects(rdflib.RDF.type, PROV.Activity)}
    assert set(runs) == {"raw", "prep", "train_model"}
    for name, run in runs.items():
        for when in (PROV.startedAtTime, PROV.endedAtTime):
            assert set(record.objects(run, when)) == set(exported.objects(run, when)), (name, when)
    assert [str(t) for t in record.objects(runs["raw"], PROV.startedAtTime)] == ["2026-05-01T12:00:00+00:00"]
    assert not [*record.objects(runs["prep"], PROV.startedAtTime), *record.objects(runs["train_model"], PROV.startedAtTime)]


def test_record_gaps_and_bad_input(pipe: Pipeline, capsys: pytest.CaptureFixture) -> None:
    seal(pipe.store, run_events("prep_other", [dataset("/data/unknown.csv", digest("u"))], [dataset("/data/other.parquet", digest("o"))]))
    doc = _record(pipe, "/data/other.parquet", "dta", capsys)
    assert doc["lineageComplete"] is False and any("/data/unknown.csv" in g for g in doc["knownGaps"])
    assert main(["record", "nothing-like-this", "--store", pipe.store.uri]) == 2
    assert "nothing-like-this" in capsys.readouterr().err


def test_a_record_never_names_another_datasets_source_as_its_own(pipe: Pipeline, capsys: pytest.CaptureFixture,
                                                                  tmp_path: Path) -> None:
    """A run read /mirror/raw.csv, holding the bytes registered at /data/raw.csv as 'vendor-raw', and wrote
    /data/m.parquet: the records of the mirror and of what was made from it name their own locations and take no
    licence, issuer or consent from the source matched by content, which they show as that fact; a version whose lineage
    also reads /data/raw.csv takes them from that source, registered where it was read."""
    import mlcroissant as mlc

    seal(pipe.store, run_events("mirror_prep", [dataset("/mirror/raw.csv", pipe.raw)], [dataset("/data/m.parquet", digest("m"))]))
    seal(pipe.store, run_events("both_prep", [dataset("/mirror/raw.csv", pipe.raw), dataset("/data/raw.csv", pipe.raw)],
                                [dataset("/data/both.parquet", digest("both"))]))
    fact = ("equal bytes are registered at /data/raw.csv as 'vendor-raw' (licence CC-BY-4.0, issuer Acme Data), matched by "
            "content only: another dataset, so its licence, issuer, consent and other facts are not this record's")
    for ref in ("/mirror/raw.csv", "/data/m.parquet"):
        doc = _record(pipe, ref, "dta", capsys)
        assert doc["datasetTitle"] == ref and doc["uniqueMetadataIdentifier"] in (pipe.raw, digest("m"))
        assert doc["licenseToUse"] == doc["consentDocumentationLocation"] == doc["datasetIssuer"] == "unknown"
        assert doc["sourceMetadataForDataset"] == doc["source"] == "unknown" and doc["personalData"] == "unknown"
        assert [(m["name"], m["location"], m["uniqueMetadataIdentifier"]) for m in doc["matchedByContent"]] == [
            ("vendor-raw", "/data/raw.csv", pipe.raw)]
        assert [g for g in doc["knownGaps"] if g.startswith("equal bytes")] == [f"{fact} (register the data where the lineage "
                                                                                "read it with tdprov source add to give them)"]
        assert "licenseToUse" in doc["unknownRequiredFields"]
    out = tmp_path / "mirror.croissant.json"
    assert main(["record", "/mirror/raw.csv", "-f", "croissant", "--store", pipe.store.uri, "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["url"] == "file:///mirror/raw.csv" and "license" not in doc and "isBasedOn" not in doc
    assert "rai:personalSensitiveInformation" not in doc and any(g.startswith(fact) for g in doc["rai:dataLimitations"])
    issues = mlc.Dataset(jsonld=str(out)).metadata.ctx.issues
    assert not issues.errors, issues.report()
    graph = rdflib.Graph().parse(data=out.read_text(), format="json-ld")
    (me,) = graph.subjects(rdflib.RDF.type, SC.Dataset)
    (derivation,) = graph.objects(me, PROV.qualifiedDerivation)
    source = graph.value(derivation, PROV.entity)
    assert (me, PROV.wasDerivedFrom, source) in graph and str(graph.value(source, SC.url)) == "file:///data/raw.csv"
    assert graph.value(derivation, rdflib.URIRef("https://github.com/tdprov/tdprov/ns#matchedByContent")).toPython() is True
    # read at its own location too: the source is this lineage's own, whatever else read equal bytes
    doc = _record(pipe, "/data/both.parquet", "dta", capsys)
    assert doc["licenseToUse"] == ["CC-BY-4.0"] and doc["matchedByContent"] == []
    assert doc["consentDocumentationLocation"] == ["https://acme.example/consent"]


def test_the_record_of_a_source_reads_the_records_of_its_version_together(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Two records of one source version ('orders' with a description, 'orders-2' adding the collection start, as
    docs/records.md tells to add a field): the record of the digest took one of them alone, so a field only the other
    sets was 'unknown'. It reads them together as the audit does, named by the first registered."""
    store, data = str(tmp_path / "store"), digest("orders")
    add = ["source", "add", "/data/orders.csv", "--digest", data, "--store", store]
    assert main([*add, "--name", "orders", "--license", "MIT", "--issuer", "Acme", "--description", "one row per order"]) == 0
    assert main([*add, "--name", "orders-2", "--collection-start", "1990-01-01"]) == 0
    capsys.readouterr()
    assert main(["record", data, "--format", "dta", "--store", store, "--no-checksum"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["datasetTitle"] == "orders" and doc["descriptionOfTheDataset"] == "one row per order"
    assert doc["rangeOfDatesForDataGeneration"]["start"] == "1990-01-01" and doc["licenseToUse"] == "MIT"
    assert doc["matchedByContent"] == []


def test_a_dataset_in_namespace_source_is_never_taken_for_the_source_of_its_name(
        pipe: Pipeline, capsys: pytest.CaptureFixture) -> None:
    """A run read /mirror/raw.csv (the bytes of 'vendor-raw', registered at /data/raw.csv: matched by content only) and
    wrote a dataset whose OpenLineage namespace is 'source' and name 'vendor-raw'. Its record took the source's
    licence and consent, a namespace and name being taken for a registered source; it shows the source as equal bytes
    elsewhere, as for any dataset."""
    made = digest("named-like-a-source")
    seal(pipe.store, run_events("named_like_a_source", [dataset("/mirror/raw.csv", pipe.raw)],
                                [dataset("vendor-raw", made, namespace="source")]))
    doc = _record(pipe, made, "dta", capsys)
    assert doc["datasetTitle"] == "source:vendor-raw" and doc["uniqueMetadataIdentifier"] == made
    assert doc["licenseToUse"] == doc["consentDocumentationLocation"] == doc["datasetIssuer"] == "unknown"
    assert [(m["name"], m["location"]) for m in doc["matchedByContent"]] == [("vendor-raw", "/data/raw.csv")]


def test_a_digest_registered_at_two_locations_is_refused_naming_each(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Equal bytes registered as 'a' at /data/a.csv and 'b' at /mirror/b.csv: the record of the digest was the first
    registered's without a word. It is refused (exit 2) naming each source and its LOCATION@DIGEST, which names it."""
    store, data = str(tmp_path / "store"), digest("equal")
    for location, name, licence in (("/data/a.csv", "a", "MIT"), ("/mirror/b.csv", "b", "GPL-3.0")):
        assert main(["source", "add", location, "--digest", data, "--name", name, "--license", licence, "--issuer", "Acme",
                     "--store", store]) == 0
    capsys.readouterr()
    assert main(["record", data, "--store", store, "--no-checksum"]) == 2
    err = capsys.readouterr().err
    assert (f"'{data}' is held by 2 registered sources at different locations (equal bytes in each, which is no lineage "
            "between them): 'a' at /data/a.csv, 'b' at /mirror/b.csv.") in err
    short = data[:len("blake3:") + 12]
    assert f"Fix: name the one meant by its location as LOCATION@DIGEST: '/data/a.csv@{short}', '/mirror/b.csv@{short}'" in err
    assert main(["record", f"/mirror/b.csv@{short}", "--store", store, "--no-checksum"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["datasetTitle"] == "b" and doc["licenseToUse"] == "GPL-3.0"
    assert [(m["name"], m["location"]) for m in doc["matchedByContent"]] == [("a", "/data/a.csv")]


def test_a_location_names_its_one_registered_source_version_and_refuses_several(tmp_path: Path,
                                                                              capsys: pytest.CaptureFixture) -> None:
    """A source registered at /data/v.csv that no recorded run read: 'tdprov record /data/v.csv' and 'tdprov lineage
    /data/v.csv' said 'no dataset or version' (exit 2). With one digest registered there, both answer with that source
    version; with two, both refuse (exit 2) listing each as LOCATION@DIGEST, which each takes."""
    store, first, second = str(tmp_path / "store"), digest("first"), digest("second")
    seal(open_store(store), run_events("other", [], [dataset("/data/out.parquet", digest("out"))]))
    assert main(["source", "add", "/data/v.csv", "--digest", first, "--name", "v", "--license", "MIT", "--issuer", "Acme",
                 "--store", store]) == 0
    capsys.readouterr()
    assert main(["record", "/data/v.csv", "--store", store, "--no-checksum"]) == 0, capsys.readouterr().err
    doc = json.loads(capsys.readouterr().out)
    assert (doc["datasetTitle"], doc["uniqueMetadataIdentifier"], doc["licenseToUse"]) == ("v", first, "MIT")
    assert main(["lineage", "/data/v.csv", "--store", store]) == 0
    assert capsys.readouterr().out == f"/data/v.csv  {first}  [source: v (Acme, MIT)]\n"
    assert main(["source", "add", "/data/v.csv", "--digest", second, "--name", "v-2", "--license", "GPL-3.0",
                 "--issuer", "Acme", "--store", store]) == 0
    capsys.readouterr()
    short = [d[:len("blake3:") + 12] for d in (first, second)]
    for verb in (["record", "--no-checksum"], ["lineage"]):
        assert main([verb[0], "/data/v.csv", *verb[1:], "--store", store]) == 2
        err = capsys.readouterr().err
        assert (f"'/data/v.csv' is the location of 2 registered source versions (a digest each, none of them recorded by "
                f"a run at this location): 'v' {first}, 'v-2' {second}.") in err, err
        assert f"Fix: name the version meant as LOCATION@DIGEST: '/data/v.csv@{short[0]}', '/data/v.csv@{short[1]}'" in err
    assert main(["record", f"/data/v.csv@{short[1]}", "--store", store, "--no-checksum"]) == 0
    assert json.loads(capsys.readouterr().out)["licenseToUse"] == "GPL-3.0"
    assert main(["lineage", f"/data/v.csv@{short[1]}", "--store", store]) == 0
    assert capsys.readouterr().out == f"/data/v.csv  {second}  [source: v-2 (Acme, GPL-3.0)]\n"


def test_a_location_of_several_source_versions_names_equal_bytes_runs_recorded_elsewhere(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Two sources registered at /data/v.csv, a run having read one of their digests at /mirror/v.csv: the refusal of
    /data/v.csv said none of them was recorded by a run, untrue of that digest. It says that no run recorded them at
    this location, and names the dataset a run recorded one of them as."""
    store, first, second = str(tmp_path / "store"), digest("first"), digest("second")
    seal(open_store(store), run_events("copy", [dataset("/mirror/v.csv", first)], [dataset("/data/out.parquet", digest("out"))]))
    for at, name in ((first, "v"), (second, "v-2")):
        assert main(["source", "add", "/data/v.csv", "--digest", at, "--name", name, "--license", "MIT", "--issuer", "Acme",
                     "--store", store]) == 0
    capsys.readouterr()
    for verb in (["record", "--no-checksum"], ["lineage"]):
        assert main([verb[0], "/data/v.csv", *verb[1:], "--store", store]) == 2
        err = capsys.readouterr().err
        assert (f"'/data/v.csv' is the location of 2 registered source versions (a digest each, none of them recorded by "
                f"a run at this location; runs recorded {first} as /mirror/v.csv: equal bytes in another dataset, no "
                f"version of this one): 'v' {first}, 'v-2' {second}.") in err, err


def test_record_names_a_source_record_that_does_not_verify_when_the_lookup_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """'tdprov record' of a location whose one source record does not verify said 'no dataset or version' only, naming
    the record left out only after a lookup that succeeded: it is named before the refusal, as 'tdprov contains' does."""
    store = str(tmp_path / "store")
    seal(open_store(store), run_events("other", [], [dataset("/data/out.parquet", digest("out"))]))
    assert main(["source", "add", "/data/v.csv", "--digest", digest("v"), "--name", "v", "--license", "MIT",
                 "--issuer", "Acme", "--store", store]) == 0
    [record] = (tmp_path / "store" / "sources" / "v").glob("*.json")
    record.write_bytes(record.read_bytes().replace(b'"payload":"ey', b'"payload":"eY'))
    capsys.readouterr()
    assert main(["record", "/data/v.csv", "--store", store, "--no-checksum"]) == 2
    err = capsys.readouterr().err
    assert "tdprov record: left out source record 'sources/v/" in err and "'/data/v.csv' was looked up without it" in err, err
    assert "no dataset or version '/data/v.csv' in the recorded runs" in err, err


def test_a_location_runs_named_without_a_digest_is_its_source_and_the_record_says_they_named_it(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A run read /data/v.csv without a digest, and a source is registered there: 'tdprov record /data/v.csv' is that
    source version (a run that recorded no version gives it none), and its record said nothing of the run. Its gaps
    now say that the location was recorded without a digest, by which run, and how to record one."""
    store, at = str(tmp_path / "store"), digest("v")
    run = seal(open_store(store), run_events("job", [dataset("/data/v.csv", None)], [dataset("/data/out.parquet", digest("out"))]))
    assert main(["source", "add", "/data/v.csv", "--digest", at, "--name", "v", "--license", "MIT", "--issuer", "Acme",
                 "--store", store]) == 0
    capsys.readouterr()
    for fmt, gaps in (("dta", "knownGaps"), ("croissant", "rai:dataLimitations")):
        assert main(["record", "/data/v.csv", "-f", fmt, "--store", store, "--no-checksum"]) == 0, capsys.readouterr().err
        doc = json.loads(capsys.readouterr().out)
        assert doc.get("uniqueMetadataIdentifier", doc.get("identifier")) == at, doc
        assert (f"/data/v.csv is recorded without a content digest (read by run {run}): which version those runs wrote or "
                "read is not recorded, so their lineage does not reach the registered source (have the step that writes "
                "or reads it record its digest: write it through the tdprov IO manager (Dagster) or the provenance "
                "operator/hook (Airflow), then re-run that step)") in doc[gaps], doc[gaps]


def test_source_versions_whose_digests_share_their_first_hex_digits_are_suggested_apart(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Two sources registered at one location whose digests share their first 12 hex digits were both suggested as
    '/data/v.csv@blake3:<those 12>', which is refused again when pasted; each suggestion is lengthened until they
    differ, and each names its version."""
    store = str(tmp_path / "store")
    first, second = "blake3:" + "abcdef012345" + "6" + "0" * 51, "blake3:" + "abcdef012345" + "7" + "0" * 51
    seal(open_store(store), run_events("other", [], [dataset("/data/out.parquet", digest("out"))]))
    for name, data in (("v", first), ("v-2", second)):
        assert main(["source", "add", "/data/v.csv", "--digest", data, "--name", name, "--license", "MIT", "--issuer", "Acme",
                     "--store", store]) == 0
    capsys.readouterr()
    assert main(["lineage", "/data/v.csv", "--store", store]) == 2
    err = capsys.readouterr().err
    assert ("Fix: name the version meant as LOCATION@DIGEST: '/data/v.csv@blake3:abcdef0123456', "
            "'/data/v.csv@blake3:abcdef0123457'") in err, err
    for data in (first, second):
        assert main(["lineage", f"/data/v.csv@{data[:len('blake3:') + 13]}", "--store", store]) == 0
        assert capsys.readouterr().out.startswith(f"/data/v.csv  {data}  [source: ")


def test_a_source_named_by_its_digest_is_shown_by_its_location(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The Croissant record of a source that a digest names showed it as 'source:v' (its description, its citation's
    title), a namespace no dataset has; its citation shows its location, as a dataset read there is shown, and its
    description its title, as the D&TA record's datasetTitle names it."""
    store, data = str(tmp_path / "store"), digest("v bytes")
    assert main(["source", "add", "/data/v.csv", "--digest", data, "--name", "v", "--license", "MIT", "--issuer", "Acme",
                 "--store", store]) == 0
    capsys.readouterr()
    assert main(["record", data, "--format", "croissant", "--store", store, "--no-checksum"]) == 0
    out = capsys.readouterr().out
    doc = json.loads(out)
    assert doc["description"] == f"v version {data}, with its provenance recorded by tdprov"
    assert "title = {/data/v.csv}" in doc["citeAs"] and "{source:v}" not in out and "source:v version" not in out


def test_a_version_made_from_a_source_registered_twice_takes_its_newest_licence(pipe: Pipeline,
                                                                               capsys: pytest.CaptureFixture) -> None:
    """The source of the lineage registered again at its location with another licence: the records of data made from
    it listed both licences (D&TA and Croissant), and a D&TA entry per record, where the source's own record and the
    audit read the records together. They read them together too: the newest licence, one entry per source version."""
    assert main(["source", "add", "/data/raw.csv", "--digest", pipe.raw, "--name", "vendor-raw-2", "--license", "MIT",
                 "--store", pipe.store.uri]) == 0, capsys.readouterr().err
    capsys.readouterr()
    dta = _record(pipe, "/data/features.parquet", "dta", capsys)
    croissant = _record(pipe, "/data/features.parquet", "croissant", capsys)
    assert dta["licenseToUse"] == croissant["license"] == ["MIT"]
    assert [(s["datasetTitle"], s["licenseToUse"]) for s in dta["sourceMetadataForDataset"]] == [("vendor-raw", "MIT")]
    assert dta["consentDocumentationLocation"] == ["https://acme.example/consent"]  # set by the first record only


def test_location_at_digest_names_a_source_registered_where_runs_recorded_other_versions(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A run read /data/v.csv at one digest; a source 'v-new' is registered there at another. 'tdprov record' and
    'tdprov lineage' of /data/v.csv@DIGEST of the source were refused ('has no recorded version at'), the runs'
    versions being looked at before the sources: the source could be named only by its digest alone. They name the
    source version; a digest that is both a run's version there and a source's is the run's version, whose lineage
    reaches the source."""
    store, read, new, made = str(tmp_path / "store"), digest("read"), digest("new"), digest("made")
    seal(open_store(store), run_events("job", [dataset("/data/v.csv", read)], [dataset("/data/out.parquet", made)]))
    for at, name in ((new, "v-new"), (read, "v-read")):
        assert main(["source", "add", "/data/v.csv", "--digest", at, "--name", name, "--license", "MIT", "--issuer", "Acme",
                     "--store", store]) == 0
    capsys.readouterr()
    short = new[:len("blake3:") + 12]
    assert main(["record", f"/data/v.csv@{short}", "--store", store, "--no-checksum"]) == 0, capsys.readouterr().err
    doc = json.loads(capsys.readouterr().out)
    assert (doc["datasetTitle"], doc["uniqueMetadataIdentifier"], doc["transformations"]) == ("v-new", new, [])
    assert main(["lineage", f"/data/v.csv@{short}", "--store", store]) == 0, capsys.readouterr().err
    assert capsys.readouterr().out == f"/data/v.csv  {new}  [source: v-new (Acme, MIT)]\n"
    assert main(["lineage", f"/data/v.csv@{short}", "--all-versions", "--store", store]) == 0
    assert capsys.readouterr().out == f"/data/v.csv  {new}  [source: v-new (Acme, MIT)]\n"
    assert main(["lineage", f"/data/v.csv@{read}", "--downstream", "--store", store]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"/data/v.csv  {read}  [source: v-read (Acme, MIT)]" and "used by job" in out[1], out
    assert main(["record", f"/data/v.csv@{read}", "--store", store, "--no-checksum"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["datasetTitle"], doc["uniqueMetadataIdentifier"], doc["licenseToUse"]) == ("v-read", read, "MIT")
    other = digest("neither")[:len("blake3:") + 12]
    assert main(["record", f"/data/v.csv@{other}", "--store", store, "--no-checksum"]) == 2
    assert f"dataset '/data/v.csv' has no recorded version at '{other}'" in capsys.readouterr().err
