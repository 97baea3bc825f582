"""The PROV mapping version travels in the manifest: PROV of the current mapping is re-derived and
compared byte for byte; PROV of another version is noted, and still checked for digest and syntax."""
from __future__ import annotations

import json
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from prov.model import PROV

from bundle_support import run_events
from prov_common.audit.examine import examine_bundle
from prov_common.audit.model import CHECK_PROV, NOTE
from prov_common.bundle import Bundle, build_bundle, layout, verify_bundle
from prov_common.bundle.build import statement_for
from prov_common.bundle.model import FileEntry, blake3_digest
from prov_common.bundle.storage import deliver_bundle
from prov_common.errors import BadInputError
from prov_common.signing import INTOTO_PAYLOAD_TYPE, SigningKey, TrustStore, sign_envelope
from prov_common.store import open_store
from prov_common.w3cprov import events_to_document, serialize
from prov_common.w3cprov.collect import store_document
from prov_common.w3cprov.links import link_runs
from prov_common.w3cprov.mapping import PROV_MAPPING

KEY = SigningKey.generate()
TRUST = TrustStore.of([KEY.public])


def _resealed(bundle: Bundle, prov: bytes | None, mapping: str | None) -> Bundle:
    """The bundle signed again with another prov.json and mapping version (as another tdprov version would write it)."""
    files = dict(bundle.files)
    if prov is not None:
        files[layout.PROV_FILE] = prov
    manifest = replace(bundle.manifest, prov_mapping=mapping,
                       files=tuple(FileEntry(p, blake3_digest(d), len(d)) for p, d in sorted(files.items())))
    manifest_bytes = manifest.to_json()
    statement = sign_envelope(statement_for(manifest, blake3_digest(manifest_bytes)), INTOTO_PAYLOAD_TYPE, [KEY]).to_json()
    return Bundle(bundle.run_id, files, manifest, manifest_bytes, statement, KEY.key_id)


def _stored(tmp_path: Path, bundle: Bundle):
    store = open_store(str(tmp_path / "store"))
    deliver_bundle(store, bundle)
    return store


def _other_prov(events: list[dict]) -> bytes:
    """Valid PROV-JSON that differs from what the current mapping gives (as an older mapping might have written)."""
    raw = json.loads(serialize(events_to_document(events), "json"))
    raw["entity"]["tdprov:extra-entity"] = {"prov:label": "written by another mapping"}
    return json.dumps(raw, indent=1).encode()


def test_new_bundles_record_the_current_mapping(tmp_path: Path) -> None:
    bundle = build_bundle(run_events(), None, KEY)
    assert json.loads(bundle.manifest_bytes)["provMapping"] == PROV_MAPPING == "tdprov-prov/9"
    report = verify_bundle(_stored(tmp_path, bundle), bundle.run_id, TRUST)
    assert report.ok and report.notes == []


def test_bundles_of_the_first_mapping_keep_verifying_and_export_with_the_current_one(tmp_path: Path) -> None:
    """Bundles sealed before dataset identity (mapping v1, or no mapping recorded) verify, with a note,
    and the merged export derives their PROV again from their signed events."""
    events = run_events()
    for n, mapping in enumerate(("tdprov-prov/1", None)):
        old = _resealed(build_bundle(events, None, KEY), _other_prov(events), mapping)
        store = _stored(tmp_path / str(n), old)
        report = verify_bundle(store, old.run_id, TRUST)
        assert report.ok, report.findings
        assert [n.problem for n in report.notes] == ["not re-derived"]
        exported = serialize(store_document(store), "json")
        assert b"extra-entity" not in exported
        assert exported == serialize(link_runs(events_to_document(events)), "json")


@pytest.mark.parametrize("mapping", ["tdprov-prov/4", PROV_MAPPING], ids=["4", "current"])
def test_current_mapping_is_re_derived_byte_for_byte(tmp_path: Path, mapping: str | None) -> None:
    events = run_events()
    bundle = build_bundle(events, None, KEY)
    legacy = _resealed(bundle, serialize(events_to_document(events, mapping), "json"), mapping)  # the bytes that mapping gives
    assert ("provMapping" in json.loads(legacy.manifest_bytes)) == (mapping is not None)
    assert verify_bundle(_stored(tmp_path / "a", legacy), bundle.run_id, TRUST).ok
    forged = _resealed(bundle, _other_prov(events), mapping)  # signed, listed, but not what the events give
    report = verify_bundle(_stored(tmp_path / "b", forged), bundle.run_id, TRUST)
    assert [(f.key, f.problem) for f in report.findings] == [(layout.bundle_key(bundle.run_id, layout.PROV_FILE), "inconsistent")]


def test_other_mapping_is_noted_not_re_derived(tmp_path: Path) -> None:
    events = run_events()
    bundle = _resealed(build_bundle(events, None, KEY), _other_prov(events), "tdprov-prov/0")
    store = _stored(tmp_path, bundle)
    report = verify_bundle(store, bundle.run_id, TRUST)
    prov_key = layout.bundle_key(bundle.run_id, layout.PROV_FILE)
    assert report.ok, report.findings
    assert [(n.key, n.problem) for n in report.notes] == [(prov_key, "not re-derived")]
    assert "tdprov-prov/0" in report.notes[0].reason
    # the audit shows it as a note, which does not fail the audit
    summary = bundle.summary
    entry = store.get(layout.bundle_key(bundle.run_id, layout.INDEXED_FILE)).decode()  # the entry its indexed record names
    record, _ = examine_bundle(store, replace(summary, cursor=entry), TRUST)
    assert [(f.check, f.object, f.severity) for f in record.bundle_findings] == [(CHECK_PROV, prov_key, NOTE)]


def test_other_mapping_still_checks_digest_and_syntax(tmp_path: Path) -> None:
    events = run_events()
    run_id = events[0]["run"]["runId"]
    prov_key = layout.bundle_key(run_id, layout.PROV_FILE)
    broken = _resealed(build_bundle(events, None, KEY), b'{"entity": [1, 2', "tdprov-prov/0")
    report = verify_bundle(_stored(tmp_path / "a", broken), run_id, TRUST)
    assert [(f.key, f.problem) for f in report.findings] == [(prov_key, "malformed")]
    good = _resealed(build_bundle(events, None, KEY), _other_prov(events), "tdprov-prov/0")
    store = _stored(tmp_path / "b", good)
    path = tmp_path / "b" / "store" / prov_key
    path.chmod(0o600)
    path.write_bytes(path.read_bytes().replace(b"another mapping", b"someone else!!!"))
    report = verify_bundle(store, run_id, TRUST)
    assert [(f.key, f.problem) for f in report.findings] == [(prov_key, "digest mismatch")]


def _sharded_row_events() -> list[dict]:
    """A run that writes a sharded version at row granularity: the content facet fields mapping 3 adds."""
    events = run_events()
    digest = events[1]["outputs"][0]["facets"]["version"]["datasetVersion"]
    events[1]["outputs"][0]["facets"]["tdprov_contentHash"] = {
        "_producer": "https://github.com/tdprov/tdprov", "_schemaURL": "https://example.org/ContentHashDatasetFacet.json",
        "digest": digest, "algorithm": "blake3", "kind": "shards", "bytes": 4096, "rows": 1000, "shardCount": 12,
        "granularity": "row", "rowsRoot": "sha256:" + "3" * 64, "fileSha256": None}
    return events


SHARDS_OF_VERSIONS = """
PREFIX prov: <http://www.w3.org/ns/prov#>
PREFIX tdprov: <https://tdprov.dev/ns/prov#>
SELECT ?version ?shards ?root WHERE {
  ?version prov:wasGeneratedBy ?run ; tdprov:shardCount ?shards ; tdprov:rowsRoot ?root .
}"""


@pytest.mark.filterwarnings("ignore:Dataset.default_context is deprecated:DeprecationWarning")
def test_mapping_3_states_shard_count_and_row_root_for_plain_prov_o_readers() -> None:
    import rdflib

    from prov_common.w3cprov import ids

    events = _sharded_row_events()
    ttl = serialize(events_to_document(events), "ttl")
    query = SHARDS_OF_VERSIONS.replace("https://tdprov.dev/ns/prov#", str(ids.TDPROV.uri))
    rows = [(str(v).rsplit("#", 1)[-1], int(s), str(r)) for v, s, r in rdflib.Graph().parse(data=ttl, format="turtle").query(query)]
    written = ids.generation_local("s3://lake", "clean/users.parquet", "blake3:" + "2" * 64, events[0]["run"]["runId"])
    assert rows == [(written, 12, "sha256:" + "3" * 64)]
    older = serialize(events_to_document(events, "tdprov-prov/2"), "json")
    assert b"shardCount" not in older and b"rowsRoot" not in older
    with pytest.raises(BadInputError, match="'tdprov-prov/1' is not one this version of tdprov derives"):
        events_to_document(events, "tdprov-prov/1")


def test_bundles_of_mapping_2_are_re_derived_by_mapping_2(tmp_path: Path) -> None:
    """A bundle sealed by mapping 2 keeps its PROV bytes (without the fields mapping 3 adds) and verifies
    byte for byte, with no note; the same bytes labelled mapping 3 are inconsistent, and so are mapping 3
    bytes labelled 2."""
    events = _sharded_row_events()
    bundle = build_bundle(events, None, KEY)
    current, older = bundle.files[layout.PROV_FILE], serialize(events_to_document(events, "tdprov-prov/2"), "json")
    assert b'"tdprov:shardCount":{"$":"12"' in current and current != older
    prov_key = layout.bundle_key(bundle.run_id, layout.PROV_FILE)
    for n, (prov, mapping, findings) in enumerate([(older, "tdprov-prov/2", []), (current, PROV_MAPPING, []),
                                                    (older, PROV_MAPPING, [(prov_key, "inconsistent")]),
                                                    (current, "tdprov-prov/2", [(prov_key, "inconsistent")])]):
        report = verify_bundle(_stored(tmp_path / str(n), _resealed(bundle, prov, mapping)), bundle.run_id, TRUST)
        assert [(f.key, f.problem) for f in report.findings] == findings and report.notes == [], (mapping, report.findings)
    # the merged export states mapping 3 for the older bundle too (derived again from its events)
    exported = serialize(store_document(_stored(tmp_path / "x", _resealed(bundle, older, "tdprov-prov/2"))), "json")
    assert b'"tdprov:shardCount":{"$":"12"' in exported


@pytest.mark.parametrize("value", [-4, True, 4.0, "4", None])
def test_a_count_that_is_not_a_whole_number_is_not_shown_as_one(value) -> None:
    """Any producer can send the content-hash facet: a shard count that is negative, a boolean, a float or
    text is stated in PROV as sent (mapping 3 states integers only) but never shown as a count."""
    from prov_common.w3cprov.events import fold_runs
    from prov_common.w3cprov.graph import lineage_graph

    events = _sharded_row_events()
    events[1]["outputs"][0]["facets"]["tdprov_contentHash"]["shardCount"] = value
    (run,) = fold_runs(events)
    assert run.outputs[0].count("shardCount") is None and run.outputs[0].count("rows") == 1000
    shards = {n.shards for n in lineage_graph(events_to_document(events)).nodes.values() if n.kind == "version"}
    assert shards == {None}


def test_a_run_of_many_inputs_and_outputs_states_its_derivations_as_a_count(tmp_path: Path) -> None:
    """101 inputs by 101 outputs: one wasDerivedFrom per pair grew as their product (800 by 800: 640,000 relations,
    2.5 GB in the pipeline's process); mapping 4 states the count on the activity. A bundle of mapping 3 (pair by
    pair) still verifies, re-derived byte for byte."""
    from test_audit_support import dataset, digest
    from test_audit_support import run_events as many_events

    events = many_events("fan", [dataset(f"/in/{i}.parquet", digest(f"i{i}")) for i in range(101)],
                         [dataset(f"/out/{i}.parquet", digest(f"o{i}")) for i in range(100)] + [dataset("/in/0.parquet", digest("i0"))])
    bundle = build_bundle(events, None, KEY)
    prov = json.loads(bundle.files[layout.PROV_FILE])
    assert "wasDerivedFrom" not in prov
    (activity,) = [a for a in prov["activity"].values() if "tdprov:derivations" in a]
    assert activity["tdprov:derivations"] == {"$": str(101 * 101 - 1), "type": "xsd:int"}  # one input passed through
    assert verify_bundle(_stored(tmp_path / "new", bundle), bundle.run_id, TRUST).ok
    older = _resealed(bundle, serialize(events_to_document(events, "tdprov-prov/3"), "json"), "tdprov-prov/3")
    assert len(json.loads(older.files[layout.PROV_FILE])["wasDerivedFrom"]) == 101 * 101 - 1
    report = verify_bundle(_stored(tmp_path / "old", older), older.run_id, TRUST)
    assert report.ok and report.notes == [], (report.findings, report.notes)


def test_a_bundle_sealed_before_local_names_were_folded_still_verifies(tmp_path: Path) -> None:
    """Mapping 4 names a local file as tdprov does whatever the producer wrote (file://localhost, /data//x); a
    bundle of mapping 3 recorded those names as given, and is re-derived so (every such old bundle failed)."""
    from prov_common.bundle.build import derive_bundle

    events = run_events()
    for event in events:
        for side in ("inputs", "outputs"):
            for d in event.get(side) or ():
                d["namespace"], d["name"] = "file://localhost", "/data//" + d["name"].rsplit("/", 1)[-1]
    old = derive_bundle(events, None, prov_mapping="tdprov-prov/3", local_names=False)
    assert {(d.namespace, d.name.startswith("/data//")) for d in old.manifest.outputs} == {("file://localhost", True)}
    manifest = replace(old.manifest, prov_mapping="tdprov-prov/3")
    manifest_bytes = manifest.to_json()
    statement = sign_envelope(statement_for(manifest, blake3_digest(manifest_bytes)), INTOTO_PAYLOAD_TYPE, [KEY]).to_json()
    bundle = Bundle(manifest.run_id, old.files, manifest, manifest_bytes, statement, KEY.key_id)
    report = verify_bundle(_stored(tmp_path, bundle), bundle.run_id, TRUST)
    assert report.ok and report.notes == [], (report.findings, report.notes)
    new = build_bundle(events, None, KEY)  # sealed now: the local file's own name
    assert {(d.namespace, d.name.startswith("/data/") and "//" not in d.name) for d in new.manifest.outputs} == {("file", True)}


DATASETS = """
PREFIX prov: <http://www.w3.org/ns/prov#>
PREFIX tdprov: <https://github.com/tdprov/tdprov/ns#>
SELECT ?dataset ?namespace ?name WHERE { ?dataset a tdprov:Dataset ; tdprov:namespace ?namespace ; tdprov:name ?name . }"""


def _newline_runs() -> list[list[dict]]:
    """Two runs writing two datasets whose namespace and name differ only in where a newline falls (same bytes)."""
    from test_audit_support import dataset, digest
    from test_audit_support import run_events as runs

    same = digest("same bytes")
    return [runs("w.one", [], [dataset("\nq", same, namespace="s3://lake")]),
            runs("w.two", [], [dataset("q", same, namespace="s3://lake\n")])]


@pytest.mark.filterwarnings("ignore:Dataset.default_context is deprecated:DeprecationWarning")
def test_datasets_told_apart_only_by_a_newline_are_two_entities(tmp_path: Path) -> None:
    """("s3://lake", "\\nq") and ("s3://lake\\n", "q") are two datasets: mapping 5 names them apart (mappings 2 to 4
    hashed the fields newline-joined, so they were one entity), and every id of their runs is theirs alone. A bundle
    of mapping 4 keeps its bytes and verifies; the merged export derives it again by mapping 5."""
    import rdflib

    from prov_common.cli import main
    from test_audit_support import seal

    uri = str(tmp_path / "store")
    store = open_store(uri)
    one, two = _newline_runs()
    seal(store, one)
    older = build_bundle(two, None, KEY)
    legacy = serialize(events_to_document(two, "tdprov-prov/4"), "json")
    assert legacy != older.files[layout.PROV_FILE]
    older = _resealed(older, legacy, "tdprov-prov/4")
    deliver_bundle(store, older)
    report = verify_bundle(store, older.run_id, TRUST)
    assert report.ok and report.notes == [], (report.findings, report.notes)
    mislabelled = _resealed(older, legacy, PROV_MAPPING)  # mapping 4 bytes are not what mapping 5 gives
    report = verify_bundle(_stored(tmp_path / "x", mislabelled), older.run_id, TRUST)
    assert [f.problem for f in report.findings] == ["inconsistent"]

    out = tmp_path / "all.ttl"
    assert main(["export", "--format", "ttl", "--store", uri, "-o", str(out)]) == 0
    rows = [tuple(map(str, row)) for row in rdflib.Graph().parse(out).query(DATASETS)]
    assert sorted((ns, name) for _, ns, name in rows) == [("s3://lake", "\nq"), ("s3://lake\n", "q")]
    assert len({entity for entity, _, _ in rows}) == 2
    both = events_to_document(one + two)
    assert len(both.get_records()) == len(events_to_document(one).get_records()) + len(events_to_document(two).get_records())
    merged = events_to_document(one + two, "tdprov-prov/4")  # what mapping 4 made of them: the datasets merged
    assert len(merged.get_records()) < len(both.get_records())


def test_a_digest_version_is_never_a_hashed_version_of_another_dataset() -> None:
    """A digest whose algorithm is 16 hex digits: its ``<algo>-<hex>`` read as the ``<h16>-<h16>`` ending of the hashed
    version of a dataset whose name ends in the first one's identifier; mapping 5 hashes such a digest too."""
    from prov_common.w3cprov import ids

    first = ("s3://lake", "a")
    name = "a-" + ids.short_hash(*first)
    namespace = next(ns for ns in (f"s3://lake/{n}" for n in range(64)) if ids.short_hash(ns, name)[0].isalpha())
    version = f"{ids.short_hash(namespace, name)}:{ids.short_hash(namespace, name, '41')}"
    assert ids.version_local(*first, version, legacy=True) == ids.version_local(namespace, name, "41", legacy=True)
    assert ids.version_local(*first, version) != ids.version_local(namespace, name, "41")
    digest = "blake3:" + "2" * 64
    assert ids.version_local(*first, digest) == ids.version_local(*first, digest, legacy=True) == f"{ids.dataset_local(*first).replace('dataset-', 'version-')}-blake3-{'2' * 64}"


@pytest.mark.filterwarnings("ignore:Dataset.default_context is deprecated:DeprecationWarning")
def test_a_run_no_agent_is_named_for_states_no_association_from_mapping_5() -> None:
    """Events that name no engine, user or owner: PROV-O's qualified Association needs an agent, so mapping 5 states
    none (the run names its job by ``tdprov:job``, and the job at its code version by ``tdprov:plan``); mapping 4
    keeps its ``wasAssociatedWith(run, -, plan)``."""
    import rdflib

    events = run_events()
    events[0]["run"]["facets"] = {"tdprov_runContext": {"_producer": "https://x", "_schemaURL": "https://x/c.json", "gitCommit": "abc1234"}}
    assert "wasAssociatedWith(" in serialize(events_to_document(events, "tdprov-prov/4"), "provn").decode()
    document = events_to_document(events)
    assert "wasAssociatedWith(" not in serialize(document, "provn").decode()
    graph = rdflib.Graph().parse(data=serialize(document, "ttl"), format="turtle")
    prefixes = "PREFIX prov: <http://www.w3.org/ns/prov#>\nPREFIX tdprov: <https://github.com/tdprov/tdprov/ns#>\n"
    assert not list(graph.query(prefixes + "SELECT ?q WHERE { ?q a prov:Association FILTER NOT EXISTS { ?q prov:agent ?a } }"))
    rows = list(graph.query(prefixes + "SELECT ?job ?version WHERE { ?run a prov:Activity ; tdprov:job ?job ; tdprov:plan ?plan . "
                                       "?plan prov:specializationOf ?job ; tdprov:codeVersion ?version }"))
    assert [str(version) for _, version in rows] == ["abc1234"], rows


def test_a_run_without_a_start_event_states_no_start_time_from_mapping_5() -> None:
    """A run whose events hold no START (an Airflow DAG run under dag.test(), which never tells listeners it runs;
    another producer's lone COMPLETE) has no known start: mapping 5 states no ``prov:startTime`` rather than the
    time of its earliest event (its end, for a lone COMPLETE); mappings 2 to 4 keep that time. A reader of the PROV
    then reads at the run's end, as it did."""
    from prov_common.w3cprov import lineage_graph

    start, end = run_events()
    running = {**start, "eventType": "RUNNING", "eventTime": "2026-03-01T10:00:02.000Z"}
    for events, earliest in (([running, end], "2026-03-01T10:00:02"), ([end], "2026-03-01T10:00:05")):
        (activity,) = (r for r in events_to_document(events).get_records() if r.get_type().localpart == "Activity")
        assert activity.get_startTime() is None and activity.get_endTime().isoformat().startswith("2026-03-01T10:00:05")
        (legacy,) = (r for r in events_to_document(events, "tdprov-prov/4").get_records() if r.get_type().localpart == "Activity")
        assert legacy.get_startTime().isoformat().startswith(earliest)
        (run,) = (n for n in lineage_graph(events_to_document(events)).nodes.values() if n.kind == "run")
        assert run.started is None and run.ended == "2026-03-01T10:00:05Z"
    (activity,) = (r for r in events_to_document([start, end]).get_records() if r.get_type().localpart == "Activity")
    assert activity.get_startTime().isoformat().startswith("2026-03-01T10:00:00")


def _read_twice() -> list[dict]:
    """A run whose START names ``raw`` as another producer does (no version, a schema facet) and whose COMPLETE names
    it at two digests (read, then read again after it changed)."""
    from bundle_support import dataset, event

    run_id = str(uuid.uuid4())
    bare = dataset("s3://lake", "raw/users.parquet", None)
    bare["facets"] = {"schema": {"_producer": "p", "_schemaURL": "s", "fields": [{"name": "id"}]}}
    first, second = (dataset("s3://lake", "raw/users.parquet", "blake3:" + c * 64) for c in "12")
    return [event(run_id, "START", "2026-03-01T10:00:00Z", inputs=[bare]),
            event(run_id, "COMPLETE", "2026-03-01T10:00:05Z", inputs=[second, first])]


def test_a_dataset_named_at_two_versions_is_two_inputs_each_with_what_no_version_named() -> None:
    """From mapping 6 every version a run's events name is an input of its own (``used`` twice); facets of an entry
    that names no version apply to each. Mapping 5 and before folded them into one, at the version named last."""
    from prov_common.w3cprov.events import fold_runs, folds_versions_apart

    events = _read_twice()
    [run] = fold_runs(events)
    assert [(d.name, d.version, d.facet("schema")["fields"]) for d in run.inputs] == [
        ("raw/users.parquet", "blake3:" + c * 64, [{"name": "id"}]) for c in "12"]
    [before] = fold_runs(events, versions_apart=False)
    assert [d.version for d in before.inputs] == ["blake3:" + "1" * 64]  # the one named last in the COMPLETE
    assert (folds_versions_apart("tdprov-prov/5"), folds_versions_apart(PROV_MAPPING)) == (False, True)
    used = json.loads(serialize(events_to_document(events), "json"))["used"]
    assert sorted(u["prov:entity"].rsplit("-", 1)[-1] for u in used.values()) == ["1" * 64, "2" * 64]
    events[1]["inputs"].append(dict(events[1]["inputs"][0], facets={"version": {"_producer": "p", "_schemaURL": "s",
                                                                               "datasetVersion": "blake3:" + "A" * 64}}))
    events[1]["inputs"][0]["facets"]["version"]["datasetVersion"] = "blake3:" + "a" * 64
    [run] = fold_runs(events)  # a digest's hex in either case is one version
    assert [d.version for d in run.inputs] == ["blake3:" + "1" * 64, "blake3:" + "A" * 64]


def test_a_bundle_of_mapping_5_that_kept_one_version_still_verifies_and_exports_both(tmp_path: Path) -> None:
    """A bundle sealed under mapping 5 from events naming a dataset at two versions (its manifest and PROV name the
    one named last) is re-derived as mapping 5 folded it; the export derives it by this mapping: both reads."""
    from prov_common.bundle.build import derive_bundle

    events = _read_twice()
    old = derive_bundle(events, None, prov_mapping="tdprov-prov/5", versions_apart=False)
    assert [i.version for i in old.manifest.inputs] == ["blake3:" + "1" * 64]
    envelope = sign_envelope(statement_for(old.manifest, blake3_digest(old.manifest_bytes)), INTOTO_PAYLOAD_TYPE, [KEY])
    store = _stored(tmp_path, Bundle(old.state.run_id, old.files, old.manifest, old.manifest_bytes, envelope.to_json(), KEY.key_id))
    report = verify_bundle(store, old.state.run_id, TRUST)
    assert report.ok and report.notes == [], report.findings
    exported = json.loads(serialize(store_document(store), "json"))["used"]
    assert sorted(u["prov:entity"].rsplit("-", 1)[-1] for u in exported.values()) == ["1" * 64, "2" * 64]


def test_the_audits_record_of_a_bundle_it_cannot_verify_folds_as_its_mapping_did() -> None:
    """A bundle whose verification gives no derivation is recorded from its events: folded as the current mapping
    folds them, a mapping-5 bundle got both versions there while its manifest and index entry name one."""
    from prov_common.audit.examine import record_from_events
    from prov_common.bundle.model import BundleSummary

    events = _read_twice()
    summary = BundleSummary(events[0]["run"]["runId"], "", "", "COMPLETE", None, "", (), ())
    lines = "".join(json.dumps(e) + "\n" for e in events).encode()
    versions = {mapping: [d.version for d in record_from_events(lines, "events.jsonl", summary, "blake3:" + "0" * 64, None,
                                                                mapping).inputs]
                for mapping in ("tdprov-prov/5", None)}
    assert versions == {"tdprov-prov/5": ["blake3:" + "1" * 64], None: ["blake3:" + c * 64 for c in "12"]}


def _measured(events: list[dict], mapping: str) -> set[tuple[object, ...]]:
    """(check, status, value, description) of each quality measurement ``mapping`` derives from ``events``."""
    from prov_common.w3cprov.ids import DQV, TDPROV

    def first(record, name):
        values = list(record.get_attribute(name))
        return values[0] if values else None

    doc = events_to_document(events, mapping)
    return {(str(first(r, DQV["isMeasurementOf"])).split("-")[1], first(r, TDPROV["status"]), first(r, DQV["value"]),
             first(r, TDPROV["description"]))
            for r in doc.get_records() if DQV["QualityMeasurement"] in r.get_attribute(PROV["type"])}


def test_mapping_7_tells_a_check_that_raised_from_one_that_failed_and_mapping_6_derives_as_before() -> None:
    """An assertion whose params.status is 'error' (a Dagster asset check that raised): no value from mapping 7 on; a
    bundle of mapping 6 holding one is re-derived as mapping 6 stated it (its success), so it still verifies."""
    events = run_events()
    raised = {"assertion": "crashes", "name": "crashes", "success": False, "description": "ValueError: broke",
              "params": {"status": "error"}}
    failed = {"assertion": "non_negative", "name": "non_negative", "success": False, "params": {"status": "fail"}}
    events[-1]["inputs"][0]["inputFacets"] = {"dataQualityAssertions": {
        "_producer": "https://github.com/tdprov/tdprov",
        "_schemaURL": "https://openlineage.io/spec/facets/1-1-0/DataQualityAssertionsDatasetFacet.json#/$defs/DataQualityAssertionsDatasetFacet",
        "assertions": [raised, failed]}}
    assert _measured(events, PROV_MAPPING) == {("crashes", "error", None, "ValueError: broke"),
                                               ("non_negative", "fail", False, None)}
    assert _measured(events, "tdprov-prov/6") == {("crashes", "fail", False, None), ("non_negative", "fail", False, None)}


def test_mapping_8_keeps_a_test_apart_from_a_pandera_check_of_its_name_and_mapping_7_derives_as_before() -> None:
    """Two tests of one name and column on one output, a Pandera check's (naming its schema) and an asset check's: two
    measurements from mapping 8 on, the Pandera one stating its schema; mapping 7 kept the first only, and a bundle of
    mapping 7 is re-derived so (it still verifies)."""
    events = run_events()
    output = events[-1]["outputs"][0]["name"]
    tests = [{"name": f"{output}:not_null", "status": "pass", "params": {"dataset": output, "schema": "Rows"}},
             {"name": f"{output}:not_null", "status": "fail", "params": {"dataset": output}, "description": "mine"}]
    events[-1]["run"]["facets"]["test"] = {"_producer": "https://github.com/tdprov/tdprov", "tests": tests,
        "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/TestRunFacet.json#/$defs/TestRunFacet"}
    from prov_common.w3cprov.ids import DQV, TDPROV

    def measured(mapping: str) -> list[tuple[object, ...]]:
        doc = events_to_document(events, mapping)
        return sorted((str(r.identifier), *(next(iter(r.get_attribute(a)), None) for a in (TDPROV["status"], TDPROV["schemaName"])))
                      for r in doc.get_records() if DQV["QualityMeasurement"] in r.get_attribute(PROV["type"])
                      and next(iter(r.get_attribute(TDPROV["source"]))) == "test")

    (failed, *_), (passed, *_) = found = sorted(measured(PROV_MAPPING), key=lambda m: m[1] == "pass")
    assert passed != failed and [m[1:] for m in found] == [("fail", None), ("pass", "Rows")]
    [(_, status, schema)] = measured("tdprov-prov/7")
    assert (status, schema) == ("pass", None)


def test_the_events_a_bundle_of_an_older_mapping_is_drawn_from_are_those_its_manifest_lists(tmp_path: Path) -> None:
    """The PROV of a bundle of an older mapping is derived from its events for 'tdprov lineage' and 'export', read
    unchecked: events replaced after its verification read them (or before it) were drawn, though the manifest that was
    verified lists others. They are checked against the manifest's digest as they are read: such a bundle is left out."""
    from prov_common.errors import VerificationError
    from prov_common.w3cprov.collect import bundle_document

    bundle = _resealed(build_bundle(run_events(), None, KEY), None, "tdprov-prov/4")
    store = _stored(tmp_path, bundle)
    assert bundle_document(store, bundle.run_id).get_records()  # derived from the events the manifest lists
    events = tmp_path / "store" / layout.bundle_key(bundle.run_id, layout.EVENTS_FILE)
    job = bundle.manifest.job_name.encode()
    events.write_bytes(events.read_bytes().replace(job, b"x" * len(job)))  # as many bytes, another job
    with pytest.raises(VerificationError) as caught:
        bundle_document(store, bundle.run_id)
    assert layout.EVENTS_FILE in caught.value.what, caught.value.what


def test_a_prov_json_that_is_not_the_file_its_manifest_lists_is_left_out_of_the_export(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """'tdprov export' without --verified drew a bundle's prov.json as it found it: one edited after sealing (a run's job
    renamed, at the same size) was exported unremarked, though the digest its manifest lists, read for it, says otherwise
    (the events of an older mapping were checked so). It is checked against that digest: the run is left out and named."""
    from prov_common.cli import main
    from prov_common.errors import VerificationError
    from prov_common.w3cprov.collect import bundle_document

    bundle = build_bundle(run_events(), None, KEY)
    other = build_bundle(run_events(), None, KEY)
    store = _stored(tmp_path, bundle)
    deliver_bundle(store, other)
    prov = tmp_path / "store" / layout.bundle_key(bundle.run_id, layout.PROV_FILE)
    job = bundle.manifest.job_name.encode()
    assert job in prov.read_bytes()
    prov.write_bytes(prov.read_bytes().replace(job, b"x" * len(job)))  # as many bytes, another job
    with pytest.raises(VerificationError) as caught:
        bundle_document(store, bundle.run_id)
    assert caught.value.what == f"bundles/{bundle.run_id}/prov.json is not the file its bundle's manifest names.", caught.value.what
    out = tmp_path / "export.json"
    assert main(["export", "--store", str(tmp_path / "store"), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"left out run {bundle.run_id}: " in err and f"bundles/{bundle.run_id}/prov.json is not the file" in err, err
    assert other.run_id in out.read_text() and bundle.run_id not in out.read_text() and "x" * len(job) not in out.read_text()
