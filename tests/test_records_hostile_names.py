"""Datasets and jobs with hostile but legal names, read by tools tdprov did not write: each run's events validate
against the official OpenLineage schemas with format checking, the exported PROV parses in rdflib and plain PROV-O
SPARQL finds one entity per (namespace, name, digest), the Croissant record of each version loads in mlcroissant, and
securesystemslib verifies each bundle's DSSE envelope. Names are compared as recorded (docs/prov-mapping.md: NFC and
NFD, case and percent-encoding make two datasets); a local path is named with its '..' taken away (docs/events.md)."""
from __future__ import annotations

import json
import unicodedata
import uuid
from datetime import timedelta
from pathlib import Path

import mlcroissant as mlc
import pytest
import rdflib

from intoto_support import verified_statement
from ol_validate import validate_event
from prov_common.audit.catalog import known_runs
from prov_common.audit.lineage import LineageIndex
from prov_common.bundle import read_bundle
from prov_common.cli import main
from prov_common.hashing import hash_bytes
from prov_common.lineage import DatasetRef, build_run_event, event_to_dict
from prov_common.signing import default_signing_key, trust_from_settings
from prov_common.sources.training_record import RecordOptions, training_record
from prov_common.store import open_store
from test_audit_support import T0, seal

CAFE = "/data/café.csv"
LONG = "features/" + "x" * 2_000 + ".parquet"
# case id -> the datasets one run writes and the next reads (namespace, name), and the job name of both
CASES = {
    "spaces": ([("file", "/data/raw data/a b.csv")], "train model v2"),
    "hash-question-percent": ([("file", "/data/q?x=1#top.csv"), ("s3://lake", "raw/100%.parquet"),
                               ("s3://lake", "raw%2Fusers.parquet"), ("s3://lake", "raw/users.parquet")], "job #1?%2F"),
    "nfc-nfd": ([("file", unicodedata.normalize("NFC", CAFE)), ("file", unicodedata.normalize("NFD", CAFE))],
                unicodedata.normalize("NFD", "café")),
    "rtl-emoji": ([("file", "/data/\u200fabc\u202etxt.exe"), ("s3://lake", "🚀/模型.parquet")], "\u202ejob 🚀"),
    "url-name": ([("file", "https://vendor.example/a.csv?v=1#x"), ("https://vendor.example", "dl/a b.csv"),
                  ("s3://lake", "HTTPS://vendor.example/a?"), ("HTTPS://vendor.example", "dl/a b.csv")],
                 "https://ci.example/job?id=1"),
    "long": ([("s3://lake", LONG)], "j" * 2_000),
    "case": ([("file", "/data/A.csv"), ("file", "/data/a.csv"), ("s3://Lake", "x"), ("s3://lake", "x")], "Job"),
    "dot-segments": ([("file", "/data/../etc/x.csv"), ("s3://lake", "raw/../x.parquet"), ("s3://lake", "raw/./a//b.parquet")],
                     "../job"),
    "newlines": ([("s3://lake", "a\nb.parquet"), ("s3://la\nke", "ab.parquet"), ("s3://lake", "ab.parquet"),
                  ("https://vendor.example", "dl/a\tb.csv"), (" https://vendor.example", "dl/ab.csv")], "train\nmodel"),
    "namespaces": ([("s3://a", "x.parquet"), ("s3://b", "x.parquet")], "train"),
}
RECORDED = {("file", "/data/../etc/x.csv"): ("file", "/etc/x.csv")}  # a local path loses its '..' (docs/events.md)
PREFIXES = "PREFIX prov: <http://www.w3.org/ns/prov#>\nPREFIX tdprov: <https://github.com/tdprov/tdprov/ns#>\n"


def _run(job: str, minute: int, *, inputs: tuple[DatasetRef, ...] = (), outputs: tuple[DatasetRef, ...] = ()) -> list[dict]:
    """START and COMPLETE of one run of ``job`` built through the Python API, each valid against the OpenLineage schemas."""
    run_id, events = str(uuid.uuid4()), []
    for state, at in (("START", minute), ("COMPLETE", minute + 1)):
        event = event_to_dict(build_run_event(state, run_id=run_id, job_name=job, inputs=inputs,
                                              outputs=outputs if state == "COMPLETE" else (), event_time=T0 + timedelta(minutes=at)))
        validate_event(event)
        events.append(event)
    return events


def _per_version(graph: rdflib.Graph, pattern: str) -> dict[tuple[str, str, str], int]:
    """How many entities ``pattern`` (of ``?e``) finds per (namespace, name, digest), in plain PROV-O."""
    rows = graph.query(PREFIXES + "SELECT ?ns ?name ?d (COUNT(DISTINCT ?e) AS ?n) WHERE { " + pattern
                       + " . ?e a prov:Entity ; tdprov:namespace ?ns ; tdprov:name ?name ; tdprov:digest ?d } GROUP BY ?ns ?name ?d")
    return {(str(ns), str(name), str(d)): int(n) for ns, name, d, n in rows}


@pytest.mark.parametrize("case", CASES)
def test_hostile_names_are_read_alike_by_independent_tools(case: str, tmp_path: Path) -> None:
    """Every dataset is recorded as named, apart from every other (the two namespaces of one name, NFC and NFD, a
    namespace with a line break and without); a reader's input is one read version and one generation per dataset."""
    names, job = CASES[case]
    written = tuple(DatasetRef(ns, name, hash_bytes(f"{case} {i}".encode())) for i, (ns, name) in enumerate(names))
    model = DatasetRef("file", str(tmp_path / "model.bin"), hash_bytes(case.encode()))
    store_uri = str(tmp_path / "store")
    store, key = open_store(store_uri), default_signing_key()
    runs = [seal(store, _run(job, 0, outputs=written)), seal(store, _run(job + " reader", 5, inputs=written, outputs=(model,)))]

    versions = {(*RECORDED.get((r.namespace, r.name), (r.namespace, r.name)), r.digest.digest): 1 for r in written}
    assert len(versions) == len(names)
    ttl = tmp_path / "store.ttl"
    assert main(["export", "--format", "ttl", "-o", str(ttl), "--store", store_uri]) == 0
    graph = rdflib.Graph().parse(ttl, format="turtle")
    assert _per_version(graph, "?reader prov:used ?e FILTER NOT EXISTS { ?e prov:wasGeneratedBy ?any }") == versions
    assert _per_version(graph, "?reader prov:used ?e . ?e prov:wasGeneratedBy ?writer") == versions
    assert _per_version(graph, "?e prov:wasGeneratedBy ?run") == {**versions, ("file", model.name, model.digest.digest): 1}

    index = LineageIndex(known_runs(store, trust_from_settings()).values(), [])
    for digest in [*(d for *_, d in versions), model.digest.digest]:
        path = tmp_path / "record.json"
        path.write_text(json.dumps(training_record(index, digest, "croissant", RecordOptions(store.uri))))
        issues = mlc.Dataset(jsonld=str(path)).metadata.ctx.issues
        # no source is registered, so no licence is known: the one warning Croissant gives of that
        assert not issues.errors and [w for w in issues.warnings if "schema.org/license" not in w] == [], (digest, issues.report())

    statements = [verified_statement(read_bundle(store, run).statement_bytes, key.public.to_pem()) for run in runs]
    assert [s["predicate"]["runId"] for s in statements] == runs
    assert len({subject["name"] for subject in statements[0]["subject"]}) == len(names)  # one subject per dataset written
