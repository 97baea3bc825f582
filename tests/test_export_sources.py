"""``tdprov export`` names each origin's registered source in plain PROV, under real Dagster ``materialize`` runs:
its licence and issuer are reached from a training run's output with plain PROV-O SPARQL, the source node joins the
Croissant record's, every PROV format round-trips through the ``prov`` library, and a source record that does not
verify never appears."""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import rdflib
from dagster import DagsterInstance, MaterializeResult, asset, materialize
from lxml import etree

from test_prov_formats import _prov_xsd
from prov_common.bundle import list_bundles
from prov_common.canonical_json import canonical_bytes, loads
from prov_common.cli import main
from prov_common.hashing import hash_path
from prov_common.signing import SigningKey, sign_envelope
from prov_common.sources.model import SOURCE_PAYLOAD_TYPE, SourceRecord
from prov_common.sources.registry import source_key
from prov_common.store import open_store
from prov_common.w3cprov import FORMATS, deserialize
from prov_common.w3cprov.ids import TDPROV
from prov_dagster import ProvenanceIOManager, ProvenanceResource

# prov's RDF serialiser uses an rdflib API that rdflib deprecates; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:Dataset.default_context is deprecated:DeprecationWarning")

PREFIXES = """
PREFIX prov: <http://www.w3.org/ns/prov#>
PREFIX dct: <http://purl.org/dc/terms/>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>
PREFIX tdprov: <https://github.com/tdprov/tdprov/ns#>
"""


@dataclass
class Pipeline:
    store: Path
    vendor: Path
    digest: str
    model: Path
    model_run: str


def _tampered(envelope: bytes) -> bytes:
    """The envelope with its payload's licence changed and its signature kept."""
    env = json.loads(envelope)
    payload = loads(base64.b64decode(env["payload"]))
    env["payload"] = base64.b64encode(canonical_bytes({**payload, "license": "TAMPERED-1.0"})).decode()
    return json.dumps(env).encode()


def _build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Pipeline:
    """A registered vendor file read by ``orders``; ``mirror`` reads a copy of its bytes elsewhere (matched by content);
    ``model`` (a training asset) is made from ``orders``. Two more records of the vendor's digest do not verify: one
    signed by an untrusted key, one whose bytes were changed after signing."""
    store = tmp_path / "store"
    monkeypatch.setenv("TDPROV_STORE", str(store))
    vendor, copy = tmp_path / "vendor.csv", tmp_path / "elsewhere" / "copy.csv"
    vendor.write_text("order,amount\n1,10.5\n2,20.25\n")
    copy.parent.mkdir()
    copy.write_bytes(vendor.read_bytes())
    assert main(["source", "add", str(vendor), "--name", "vendor-orders", "--license", "CC-BY-4.0", "--issuer", "Vendor Inc"]) == 0
    assert main(["source", "add", str(vendor), "--name", "vendor-tampered", "--license", "CC0-1.0", "--issuer", "Vendor Inc"]) == 0
    digest = hash_path(str(vendor)).digest
    kept = open_store(str(store))
    tampered = store / source_key("vendor-tampered", digest)  # changed on disk: the store writes an object once
    tampered.write_bytes(_tampered(tampered.read_bytes()))
    forged = SourceRecord(name="vendor-forged", digest=digest, license="PROPRIETARY-FORGED", issuer="Mallory Ltd", location=str(vendor))
    kept.put(source_key("vendor-forged", digest), sign_envelope(forged.to_json(), SOURCE_PAYLOAD_TYPE, [SigningKey.generate()]).to_json())
    orders_path, mirror_path, model = tmp_path / "orders.parquet", tmp_path / "mirror.parquet", tmp_path / "model.bin"

    def recorded(context: Any, provenance: ProvenanceResource, read: Path, out: Path) -> MaterializeResult:
        pd.read_csv(read).to_parquet(out)
        done = provenance.record(inputs=str(read), outputs={context.asset_key.to_user_string(): str(out)}, context=context)
        return MaterializeResult(metadata=done.metadata, data_version=done.data_version)

    @asset
    def orders(context, provenance: ProvenanceResource) -> MaterializeResult:  # noqa: ANN001
        return recorded(context, provenance, vendor, orders_path)

    @asset
    def mirror(context, provenance: ProvenanceResource) -> MaterializeResult:  # noqa: ANN001
        return recorded(context, provenance, copy, mirror_path)

    @asset(tags={"tdprov/training": "true"}, deps=[orders])
    def trained(context, provenance: ProvenanceResource) -> MaterializeResult:  # noqa: ANN001
        model.write_bytes(str(float(pd.read_parquet(orders_path).amount.sum())).encode())
        done = provenance.record(outputs={"model": str(model)}, context=context)
        return MaterializeResult(metadata=done.metadata, data_version=done.data_version)

    with DagsterInstance.ephemeral() as instance:
        result = materialize([orders, mirror, trained], instance=instance,
                             resources={"io_manager": ProvenanceIOManager(), "provenance": ProvenanceResource()})
    assert result.success
    [model_run] = [s.run_id for s in list_bundles(kept) if s.job_name == "trained"]
    return Pipeline(store, vendor, digest, model, model_run)


@pytest.fixture(scope="module")
def _built_once(tmp_path_factory: pytest.TempPathFactory) -> tuple[Pipeline, str]:
    """The pipeline (:func:`_build`) and the home that wrote it, built once per module."""
    home = tmp_path_factory.mktemp("export-home")
    with pytest.MonkeyPatch.context() as build:
        build.setenv("TDPROV_HOME", str(home))
        return _build(tmp_path_factory.mktemp("export"), build), str(home)


@pytest.fixture
def pipeline(_built_once: tuple[Pipeline, str], monkeypatch: pytest.MonkeyPatch) -> Pipeline:
    """The pipeline built once (:func:`_built_once`), with its home and store, for tests that only read its store."""
    built, home = _built_once
    monkeypatch.setenv("TDPROV_HOME", home)
    monkeypatch.setenv("TDPROV_STORE", str(built.store))
    return built


def _export(p: Pipeline, fmt: str, capsys: pytest.CaptureFixture) -> tuple[bytes, str, int]:
    """The export in ``fmt``, its stderr and its exit code."""
    out = p.store.parent / f"all.{fmt}"
    code = main(["export", "--format", fmt, "-o", str(out)])
    return out.read_bytes(), capsys.readouterr().err, code


def _graph(p: Pipeline, capsys: pytest.CaptureFixture) -> rdflib.Graph:
    graph = rdflib.Graph()
    graph.parse(data=_export(p, "ttl", capsys)[0], format="turtle")
    return graph


def _iri(p: Pipeline, name: str) -> str:
    return f"urn:tdprov:source:{name}:{p.digest}"


def test_sparql_reaches_the_licence_and_issuer_from_the_training_runs_output(pipeline: Pipeline, capsys: pytest.CaptureFixture) -> None:
    graph = _graph(pipeline, capsys)
    run = TDPROV[f"run-{pipeline.model_run}"].uri
    found = {tuple(map(str, row)) for row in graph.query(PREFIXES + f"""
        SELECT ?source ?licence ?issuer ?where ?record WHERE {{
          ?model prov:wasGeneratedBy <{run}> ; prov:wasDerivedFrom+ ?source .
          ?source dct:license ?licence ; prov:atLocation ?where ; rdfs:seeAlso ?record ;
                  prov:wasAttributedTo [ a prov:Organization ; rdfs:label ?issuer ] .
        }}""")}
    record = (pipeline.store.resolve() / source_key("vendor-orders", pipeline.digest)).as_uri()
    assert found == {(_iri(pipeline, "vendor-orders"), "CC-BY-4.0", "Vendor Inc", pipeline.vendor.as_uri(), record)}


def test_an_origin_matched_only_by_content_is_marked_so(pipeline: Pipeline, capsys: pytest.CaptureFixture) -> None:
    graph = _graph(pipeline, capsys)
    rows = {(Path(str(name)).name, str(source), bool(marked)) for name, source, marked in graph.query(PREFIXES + """
        SELECT ?name ?source (BOUND(?m) AS ?marked) WHERE {
          ?origin prov:wasDerivedFrom ?source ; tdprov:dataset/tdprov:name ?name . ?source a tdprov:RegisteredSource .
          OPTIONAL { ?origin prov:qualifiedDerivation [ prov:entity ?source ; tdprov:matchedByContent ?m ] }
        }""")}
    assert rows == {("vendor.csv", _iri(pipeline, "vendor-orders"), False), ("copy.csv", _iri(pipeline, "vendor-orders"), True)}


def test_the_source_node_joins_the_croissant_record(pipeline: Pipeline, capsys: pytest.CaptureFixture) -> None:
    graph = _graph(pipeline, capsys)
    croissant = pipeline.store.parent / "model.croissant.json"
    assert main(["record", str(pipeline.model), "--format", "croissant", "-o", str(croissant)]) == 1  # the damaged records named
    capsys.readouterr()
    graph.parse(croissant, format="json-ld")
    rows = {tuple(map(str, row)) for row in graph.query(PREFIXES + """
        PREFIX schema: <https://schema.org/>
        SELECT ?dataset ?source ?licence WHERE {
          ?dataset a schema:Dataset ; prov:wasDerivedFrom ?source .   # the Croissant record's statement
          ?source dct:license ?licence .                                # the PROV export's statement
          ?dataset prov:wasGeneratedBy/prov:used ?read .                # both documents name the same nodes
        }""")}
    assert {(source, licence) for _, source, licence in rows} == {(_iri(pipeline, "vendor-orders"), "CC-BY-4.0")}
    assert {dataset for dataset, _, _ in rows} == {json.loads(croissant.read_text())["@id"]}


def test_every_format_round_trips_through_the_prov_library(pipeline: Pipeline, capsys: pytest.CaptureFixture) -> None:
    exported = {fmt: _export(pipeline, fmt, capsys)[0] for fmt in FORMATS}
    documents = {fmt: deserialize(data, fmt) for fmt, data in exported.items()}
    assert all(doc == documents["json"] for doc in documents.values())
    named = [r.identifier.uri for r in documents["json"].get_records() if r.identifier is not None]
    assert [iri for iri in named if iri.startswith("urn:tdprov:source:")] == [_iri(pipeline, "vendor-orders")]
    schema = _prov_xsd()
    assert schema.validate(etree.fromstring(exported["xml"])), schema.error_log


def test_a_source_record_that_does_not_verify_is_absent(pipeline: Pipeline, capsys: pytest.CaptureFixture) -> None:
    for fmt in FORMATS:
        data, err, code = _export(pipeline, fmt, capsys)
        for absent in ("vendor-forged", "Mallory", "PROPRIETARY-FORGED", "vendor-tampered", "TAMPERED-1.0", "CC0-1.0"):
            assert absent.encode() not in data, (fmt, absent)
        assert b"vendor-orders" in data and b"CC-BY-4.0" in data
        assert code == 1 and "tdprov export: left out" in err and "vendor-forged" in err and "vendor-tampered" in err, err


def test_an_s3_source_is_located_by_a_uri_that_names_its_key(s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture) -> None:
    """An S3 key is literal: its space, ``#``, ``?``, ``%`` and non-ASCII letters are percent-encoded in
    ``prov:atLocation``, so the URI names that object (as written, ``#1.csv`` was a fragment and ``?x=1`` a query)."""
    import boto3
    from rfc3986_validator import validate_rfc3986

    from prov_common.hashing.remote import s3_version, versioned_uri

    monkeypatch.setenv("TDPROV_STORE", str(tmp_path / "store"))
    keys = {"raw/with space #1.csv": "raw/with%20space%20%231.csv", "raw/ü?x=1&y%2F.csv": "raw/%C3%BC%3Fx=1&y%252F.csv"}
    for i, key in enumerate(keys):
        boto3.client("s3").put_object(Bucket=s3_bucket, Key=key, Body=f"a,b\n{i},x\n".encode())
        assert main(["source", "add", f"s3://{s3_bucket}/{key}", "--name", f"vendor-{i}", "--license", "CC0-1.0", "--issuer", "V"]) == 0
    boto3.client("s3").put_object(Bucket=s3_bucket, Key="raw/copy.csv", Body=b"a,b\n7,x\n")  # its source is matched by content
    done = ProvenanceResource().record(inputs=[f"s3://{s3_bucket}/{key}" for key in [*keys, "raw/copy.csv"]],
                                       outputs={"m": pd.DataFrame({"a": [1]})})
    versioned = f"s3://{s3_bucket}/raw/v #2.csv?versionId=3HL4kqtJ+rmSpX"  # S3's own query names a version of the object
    assert main(["source", "add", versioned, "--name", "vendor-v", "--license", "CC0-1.0", "--issuer", "V",
                 "--digest", done.digests["raw/copy.csv"]]) == 0
    keys[versioned] = "raw/v%20%232.csv?versionId=3HL4kqtJ%2BrmSpX"
    aws = "3/L4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo="  # an id as AWS gives them: '/', '+', '='
    assert main(["source", "add", versioned_uri(f"s3://{s3_bucket}/raw/v #2.csv", aws), "--name", "vendor-aws", "--license",
                 "CC0-1.0", "--issuer", "V", "--digest", done.digests["raw/copy.csv"]]) == 0
    keys["aws"] = "raw/v%20%232.csv?versionId=3%2FL4kqtJlcpXroDTDmJ%2BrmSpXd3dIbrHY%2BMTRCxf3vjVBH40Nr8X8gdRQBpUMLUo%3D"
    capsys.readouterr()
    assert main(["export", "--format", "ttl", "-o", str(tmp_path / "all.ttl")]) == 0
    graph = rdflib.Graph().parse(tmp_path / "all.ttl", format="turtle")
    where = {str(w) for (w,) in graph.query(PREFIXES + "SELECT ?w WHERE { ?s a tdprov:RegisteredSource ; prov:atLocation ?w }")}
    assert where == {f"s3://{s3_bucket}/{encoded}" for encoded in keys.values()}
    assert all(validate_rfc3986(w, rule="URI") for w in where)
    assert s3_version(f"s3://{s3_bucket}/{keys['aws']}") == aws  # the IRI rdflib read names that version


def test_a_source_location_is_a_prov_o_location_node(pipeline: Pipeline, capsys: pytest.CaptureFixture) -> None:
    """PROV-O declares ``prov:atLocation`` an object property whose range is ``prov:Location``, as every PROV-O
    property but the times and ``prov:value``: the Turtle states where a source was registered as an IRI typed
    ``prov:Location`` (the ``prov`` library writes PROV-DM's location as an ``xsd:anyURI`` literal), never a literal."""
    graph = _graph(pipeline, capsys)
    prov = rdflib.Namespace("http://www.w3.org/ns/prov#")
    datatype = {prov[name] for name in ("atTime", "startedAtTime", "endedAtTime", "generatedAtTime", "invalidatedAtTime", "value")}
    literals = {(str(p), str(o)) for _, p, o in graph
                if str(p).startswith(str(prov)) and p not in datatype and isinstance(o, rdflib.Literal)}
    assert literals == set()
    vendor = rdflib.URIRef(pipeline.vendor.as_uri())
    assert set(graph.objects(rdflib.URIRef(_iri(pipeline, "vendor-orders")), prov.atLocation)) == {vendor}
    assert (vendor, rdflib.RDF.type, prov.Location) in graph


def test_a_source_record_is_an_rdfs_see_also_resource(pipeline: Pipeline, capsys: pytest.CaptureFixture) -> None:
    """RDFS gives ``rdfs:seeAlso`` resources: the Turtle names a source's signed record by its IRI, which a plain
    query requiring an IRI finds (the ``prov`` library wrote it as an ``xsd:anyURI`` literal). Reading it back:
    test_every_format_round_trips_through_the_prov_library."""
    graph = _graph(pipeline, capsys)
    found = {str(r) for (r,) in graph.query(PREFIXES + f"""
        SELECT ?record WHERE {{ <{_iri(pipeline, "vendor-orders")}> rdfs:seeAlso ?record . FILTER isIRI(?record) }}""")}
    assert found == {(pipeline.store.resolve() / source_key("vendor-orders", pipeline.digest)).as_uri()}
    assert not [o for o in graph.objects(None, rdflib.RDFS.seeAlso) if isinstance(o, rdflib.Literal)]


def test_sources_of_one_digest_at_two_locations_are_two(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture) -> None:
    """Two sources registered for equal bytes at two locations are two: each origin read at its location is derived
    from its own, neither matched by content. A source at an origin's own location names it alone (docs/prov-mapping.md:
    "registered at that location with that digest, else ... matched by content"), so the other, at a location no run
    read, names no origin and is not stated, as any source no run read; ``tdprov source list`` still names both."""
    monkeypatch.setenv("TDPROV_STORE", str(tmp_path / "store"))
    here, there = tmp_path / "x" / "vendor.csv", tmp_path / "y" / "copy.csv"
    for path in (here, there):
        path.parent.mkdir()
        path.write_text("a,b\n1,2\n")
    digest = hash_path(str(here)).digest
    assert main(["source", "add", str(here), "--name", "vendor-x", "--license", "CC0-1.0", "--issuer", "V"]) == 0
    assert main(["source", "add", str(there), "--name", "vendor-y", "--license", "CC-BY-4.0", "--issuer", "W"]) == 0
    ProvenanceResource().record(inputs=[str(there)], outputs={"m": pd.DataFrame({"a": [1]})})

    def derivations() -> set[tuple[str, str, bool]]:
        capsys.readouterr()
        assert main(["export", "--format", "ttl", "-o", str(tmp_path / "all.ttl")]) == 0
        graph = rdflib.Graph().parse(tmp_path / "all.ttl", format="turtle")
        return {(Path(str(name)).name, str(source), bool(marked)) for name, source, marked in graph.query(PREFIXES + """
            SELECT ?name ?source (BOUND(?m) AS ?marked) WHERE {
              ?origin prov:wasDerivedFrom ?source ; tdprov:dataset/tdprov:name ?name . ?source a tdprov:RegisteredSource .
              OPTIONAL { ?origin prov:qualifiedDerivation [ prov:entity ?source ; tdprov:matchedByContent ?m ] }
            }""")}

    assert derivations() == {("copy.csv", f"urn:tdprov:source:vendor-y:{digest}", False)}
    capsys.readouterr()
    assert main(["source", "list"]) == 0
    assert {line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]} == {"vendor-x", "vendor-y"}
    ProvenanceResource().record(inputs=[str(here)], outputs={"n": pd.DataFrame({"a": [2]})})
    assert derivations() == {("copy.csv", f"urn:tdprov:source:vendor-y:{digest}", False),
                             ("vendor.csv", f"urn:tdprov:source:vendor-x:{digest}", False)}
