"""A malformed event is refused before anything is staged and never poisons the run's other events.

Strict: ``emit`` raises :class:`BadInputError` naming the field and stages nothing. Otherwise the
refusal (reason, fix, the redacted event) is recorded in the run's bundle under ``refused/`` and the
run's valid events are sealed, signed and verified as usual.
"""
from __future__ import annotations

import json
import logging
import shutil
import uuid
from pathlib import Path

import pytest

from bundle_support import raw_put, run_events, signed_staged
from prov_common.bundle import read_bundle, verify_bundle
from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport, staged_event_key
from prov_common.canonical_json import canonical_bytes
from prov_common.config import Settings
from prov_common.errors import BadInputError
from prov_common.signing import trust_from_settings
from prov_common.store import open_store


def _transport(store: Path, strict: bool = False) -> ProvenanceTransport:
    return ProvenanceTransport(ProvenanceConfig(store=str(store), strict=strict, timeout=30))


def _refusals(store: Path, run_id: str) -> list[dict]:
    files = read_bundle(open_store(str(store)), run_id).files
    return [json.loads(data) for path, data in sorted(files.items()) if path.startswith("refused/")]


def _event_types(store: Path, run_id: str) -> list[str]:
    events = read_bundle(open_store(str(store)), run_id).files["events.jsonl"]
    return [json.loads(line)["eventType"] for line in events.splitlines()]


def _verified(store: Path, run_id: str) -> None:
    report = verify_bundle(open_store(str(store)), run_id, trust_from_settings(Settings.from_env()))
    assert report.ok, report.findings


def _nested(levels: int) -> dict:
    deep: dict = {"leaf": "AKIAPLANTEDNESTED777"}
    for _ in range(levels):
        deep = {"x": [deep]}
    return deep


def _malformed(kind: str, start: dict) -> dict:
    bad = json.loads(json.dumps(start))
    if kind == "outputs not a list":
        bad["outputs"] = {"namespace": "s3://lake", "name": "x"}
    elif kind == "unknown eventType":
        bad["eventType"] = "STARTED"
    elif kind == "900 levels":
        bad["run"]["facets"]["deep"] = _nested(900)
    elif kind == "facet not an object":
        bad["job"]["facets"]["sql"] = "SELECT 1"
    elif kind == "time past year 9999":
        bad["eventTime"] = "9999-12-31T23:59:59-01:00"
    elif kind == "infinite number":
        bad["run"]["facets"]["x"] = {"_producer": "p", "_schemaURL": "https://x.invalid/s.json", "v": float("inf")}
    elif kind == "parent run id not a UUID":
        bad["run"]["facets"]["parent"] = dict(_parent(), run={"runId": "x"})
    elif kind == "schema field without a name":
        bad["inputs"][0]["facets"]["schema"] = {"_producer": PRODUCER, "_schemaURL": f"{FACETS}/1-1-1/SchemaDatasetFacet.json",
                                                "fields": [{"name": "id", "type": "int"}, {"type": "string"}]}
    elif kind == "whole-number version":
        bad["inputs"][0]["facets"]["version"] = {"_producer": PRODUCER, "datasetVersion": 3,
                                                 "_schemaURL": f"{FACETS}/1-0-1/DatasetVersionDatasetFacet.json"}
    return bad


FACETS = "https://openlineage.io/spec/facets"
PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.40.0/integration/spark"


def _parent(url: str = f"{FACETS}/1-0-1/ParentRunFacet.json#/$defs/ParentRunFacet") -> dict:
    """A ParentRunFacet as another producer sends it (``_schemaURL`` of an older version of the schema)."""
    return {"_producer": PRODUCER, "_schemaURL": url, "run": {"runId": "0195f1a6-5b7e-7c1a-9d3e-2f4a5b6c7d8e"},
            "job": {"namespace": "spark", "name": "nightly"}}


KINDS = ["outputs not a list", "unknown eventType", "900 levels", "facet not an object", "time past year 9999", "infinite number",
         "parent run id not a UUID", "schema field without a name", "whole-number version"]
REASONS = {"outputs not a list": "field 'outputs' must be a list", "unknown eventType": "'STARTED', not one of",
           "900 levels": "nested more than 100 levels", "facet not an object": "field 'job.facets.sql' must be an object",
           "time past year 9999": "field 'eventTime' must be an RFC 3339 date-time", "infinite number": "which JSON cannot write",
           "parent run id not a UUID": "field 'run.facets.parent.run.runId' does not follow the ParentRunFacet facet schema "
                                       f"({FACETS}/1-2-0/ParentRunFacet.json): 'x' is not a 'uuid'",
           "schema field without a name": "field 'inputs.0.facets.schema.fields.1' does not follow the SchemaDatasetFacet "
                                          "facet schema",
           "whole-number version": "field 'inputs.0.facets.version.datasetVersion' does not follow the "
                                   "DatasetVersionDatasetFacet facet schema"}


@pytest.mark.parametrize("kind", KINDS)
def test_malformed_start_then_valid_complete_seals_a_bundle_recording_the_refusal(
        kind: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, ol_validator) -> None:
    store = tmp_path / "store"
    run_id = str(uuid.uuid4())
    start, complete = run_events(run_id)
    transport = _transport(store)
    with caplog.at_level(logging.WARNING):
        assert transport.emit(_malformed(kind, start)) is None
        assert not list(open_store(str(store)).list(f"staging/{run_id}/2"))  # no event staged
        result = transport.emit(complete)
    transport.close()
    assert result is not None
    _verified(store, run_id)
    assert _event_types(store, run_id) == ["COMPLETE"]  # the valid event, and only it
    for line in read_bundle(open_store(str(store)), run_id).files["events.jsonl"].splitlines():
        ol_validator.validate_event(json.loads(line))
    [refused] = _refusals(store, run_id)
    assert REASONS[kind] in refused["reason"] and refused["fix"]
    if kind == "infinite number":  # JSON cannot hold the event: the record keeps the reason
        assert refused["event"] is None
    else:
        assert refused["event"]["run"]["runId"] == run_id if kind != "900 levels" else "too deep" in json.dumps(refused)
    assert "AKIAPLANTEDNESTED777" not in json.dumps(refused)
    assert REASONS[kind] in caplog.text and run_id in caplog.text


@pytest.mark.parametrize("kind", KINDS)
def test_strict_emit_refuses_with_a_named_field_and_stages_nothing(kind: str, tmp_path: Path) -> None:
    store = tmp_path / "store"
    run_id = str(uuid.uuid4())
    start, complete = run_events(run_id)
    transport = _transport(store, strict=True)
    with pytest.raises(BadInputError) as raised:
        transport.emit(_malformed(kind, start))
    assert REASONS[kind] in str(raised.value) and raised.value.fix
    assert not (store / "staging").exists() or not list((store / "staging").rglob("*.json"))
    transport.emit(complete)  # the run is not blocked
    transport.close()
    _verified(store, run_id)
    assert _event_types(store, run_id) == ["COMPLETE"] and _refusals(store, run_id) == []


def test_a_facet_refused_by_its_schema_names_the_fix(tmp_path: Path) -> None:
    start, _ = run_events()
    with pytest.raises(BadInputError) as raised:
        _transport(tmp_path / "store", strict=True).emit(_malformed("schema field without a name", start))
    assert "'name' is a required property" in raised.value.what
    assert raised.value.fix == "make the producer send facet 'inputs.0.facets.schema' as SchemaDatasetFacet defines it, or drop the facet"


def test_facets_tdprov_cannot_check_or_that_follow_their_schema_are_sealed_as_sent(tmp_path: Path, ol_validator) -> None:
    """Custom facets, a schema tdprov does not hold (another major version, another site) and a deleted facet are
    not checked; standard facets that follow their official schema pass. The run is sealed with them unchanged."""
    store = tmp_path / "store"
    run_id = str(uuid.uuid4())
    start, complete = run_events(run_id)
    facets = {
        "parent": _parent(),
        "nominalTime": {"_producer": PRODUCER, "_schemaURL": f"{FACETS}/1-0-0/NominalTimeRunFacet.json",
                        "nominalStartTime": "2026-03-01T10:00:00Z"},
        "spark_version": {"_producer": PRODUCER, "_schemaURL": "https://example.org/spark/SparkVersionFacet.json", "run": 7},
        "newer": dict(_parent(f"{FACETS}/2-0-0/ParentRunFacet.json"), run={"runId": "not checked"}),
        "elsewhere": dict(_parent("https://example.org/facets/1-0-0/ParentRunFacet.json"), run={"runId": "x"}),
        "errorMessage": {"_producer": PRODUCER, "_schemaURL": f"{FACETS}/1-0-1/ErrorMessageRunFacet.json", "_deleted": True},
    }
    start["run"]["facets"] = facets
    transport = _transport(store, strict=True)
    transport.emit(start)
    transport.emit(complete)
    transport.close()
    _verified(store, run_id)
    sealed = [json.loads(line) for line in read_bundle(open_store(str(store)), run_id).files["events.jsonl"].splitlines()]
    assert [e["eventType"] for e in sealed] == ["START", "COMPLETE"] and sealed[0]["run"]["facets"] == facets
    assert _refusals(store, run_id) == []
    ol_validator.validate_event({**sealed[0], "run": {**sealed[0]["run"], "facets": {k: facets[k] for k in ("parent", "nominalTime")}}})


def test_a_refused_terminal_event_still_seals_what_the_run_staged(tmp_path: Path) -> None:
    store = tmp_path / "store"
    run_id = str(uuid.uuid4())
    start, complete = run_events(run_id)
    complete["outputs"] = "clean/users.parquet"
    transport = _transport(store)
    transport.emit(start)
    transport.emit(complete)
    transport.close()
    _verified(store, run_id)
    assert _event_types(store, run_id) == ["START"]
    assert [r["eventType"] for r in _refusals(store, run_id)] == ["COMPLETE"]


def _audited(store: Path, tmp_path: Path, name: str, full: bool = False, accept: str | None = None):
    from prov_common.audit import run_audit

    return run_audit(open_store(str(store)), Settings.from_env(store=str(store)), report_dir=tmp_path / name, progress=False,
                     full=full, **({"accept_findings": [accept], "reason": "planted by a test"} if accept else {}))


def _unfinished(store: Path, tmp_path: Path, run_id: str, name: str) -> list:
    from prov_common.audit.model import CHECK_UNFINISHED

    return [f for f in _audited(store, tmp_path, name).check(CHECK_UNFINISHED).findings if f.run_id == run_id]


def _started_with_a_malformed_end(store: Path) -> tuple[str, dict, dict, ProvenanceTransport]:
    """A run whose START a transport of ``store`` staged, and its COMPLETE (not sent) naming an output with an empty
    namespace, which the seal refuses: the run id, both events and the transport."""
    run_id = str(uuid.uuid4())
    start, complete = run_events(run_id)
    complete["outputs"] = [{"namespace": "", "name": "/data/users.parquet"}]
    transport = _transport(store)
    transport.emit(start)
    return run_id, start, complete, transport


def _ended_malformed_with_an_unsigned_event_planted(store: Path) -> str:
    """The id of a run whose end is malformed (:func:`_started_with_a_malformed_end`), with an unsigned RUNNING planted
    in its staging before that end is emitted, so that its seal refuses both."""
    run_id, start, complete, transport = _started_with_a_malformed_end(store)
    planted = dict(start, eventType="RUNNING", eventTime="2026-03-01T10:00:01.000Z")
    raw_put(str(store), staged_event_key(planted), canonical_bytes(planted))
    transport.emit(complete)
    transport.close()
    return run_id


def test_the_audit_names_a_run_sealed_without_its_refused_terminal_event(tmp_path: Path) -> None:
    """The run's end was refused, so its bundle was sealed with what it staged: an error naming the run and its
    refused events, on the audit that examines the bundle and on the next (incremental) one."""
    store = tmp_path / "store"
    run_id, _, complete, transport = _started_with_a_malformed_end(store)
    transport.emit(complete)
    transport.close()
    for name in ("first", "again"):
        (found,) = _unfinished(store, tmp_path, run_id, name)
        assert found.severity == "error" and found.object.startswith(f"bundles/{run_id}/refused/")
        assert "sealed without its terminal event (recorded as RUNNING)" in found.what
        assert "1 staged object of it was refused, and its end" in found.what and "refused/" in found.fix


def test_a_run_without_its_end_holding_a_planted_event_has_two_errors_each_accepted_under_its_own_key(tmp_path: Path) -> None:
    """A run whose refused end left it sealed without one, and into whose staging an unsigned event was planted, has
    two errors: its missing end and the planted event (which was no finding at all). One acceptance of the run covers
    both, each under its own key, so that an acceptance recorded for the missing end alone does not cover the planted
    one."""
    from prov_common.audit.accepted import end_key, unended_key

    store = tmp_path / "store"
    run_id = _ended_malformed_with_an_unsigned_event_planted(store)
    found = _unfinished(store, tmp_path, run_id, "first")
    assert sorted(f.severity for f in found) == ["error", "error"]
    ended, sown = sorted(found, key=lambda f: "holds" in f.what)
    assert "sealed without its terminal event" in ended.what and "holds 1 staged object that its seal refused" in sown.what
    assert (end_key(ended), end_key(sown)) == (unended_key(run_id), ("planted", run_id))
    result = _audited(store, tmp_path, "accepted", accept=run_id[:8])
    assert not [f for f in result.check("unfinished").findings if f.run_id == run_id and f.severity == "error"]
    assert [c for a in result.accepted for c in a["covers"] if c[0] != "input"] == [["unended", run_id], ["planted", run_id]]
    assert not [f for f in _audited(store, tmp_path, "after").errors if f.run_id == run_id]


def test_a_combined_refusal_file_planted_in_a_sealed_bundle_does_not_count(tmp_path: Path) -> None:
    """A ``refused/combined-999-<hex>.jsonl`` planted in the bundle of a run sealed without its refused end made every
    later audit say "1,000 staged objects of it were refused" (counted from the listing's names, as the audit that
    read the manifest was not this one). The bundle holding a file no audit saw is verified again, and the count is
    its signed manifest's: 1, on plain and full audits, while the planted file is named as such."""
    from prov_common.audit.model import CHECK_UNFINISHED

    store = tmp_path / "store"
    run_id, _, complete, transport = _started_with_a_malformed_end(store)
    transport.emit(complete)
    transport.close()
    (first,) = _unfinished(store, tmp_path, run_id, "first")
    planted = f"bundles/{run_id}/refused/combined-999-{'ab' * 16}.jsonl"
    raw_put(str(store), planted, b'{"reason": "planted"}\n')
    for name, full in (("planted", False), ("again", False), ("full", True)):
        result = _audited(store, tmp_path, name, full=full)
        (found,) = [f for f in result.check(CHECK_UNFINISHED).findings if f.run_id == run_id]
        assert (found.object, found.what) == (first.object, first.what), (name, found.what)
        assert "was sealed without its terminal event (recorded as RUNNING): 1 staged object of it was refused" in found.what
        assert [f for f in result.errors if f.object == planted or planted in f.items], name


def test_a_combined_refusal_file_planted_before_the_first_audit_after_an_upgrade_does_not_count(tmp_path: Path) -> None:
    """An auditor memory kept by a tdprov that fingerprinted only a bundle's manifest, signed statement and indexed
    record: the first audit after the upgrade took the bundle's other files as listed now, so a ``refused/combined-999-
    <hex>.jsonl`` planted before it was taken for one of the bundle's files (never verified again) and counted: "1,000
    staged objects of it were refused". The files taken are those its signed manifest lists: the planted one is a file
    no audit saw there, the bundle is verified again, and the count stays 1."""
    from prov_common.audit.inventory import bundle_files
    from prov_common.audit.memory import load_memory, memory_path
    from prov_common.audit.memory_objects import load_inventory
    from prov_common.audit.model import CHECK_UNFINISHED

    store = tmp_path / "store"
    run_id, _, complete, transport = _started_with_a_malformed_end(store)
    transport.emit(complete)
    transport.close()
    (first,) = _unfinished(store, tmp_path, run_id, "first")
    path, uri = memory_path(str(store)), open_store(str(store)).uri
    memory = load_memory(uri)
    assert not load_inventory(memory, open_store(str(store)), trust_from_settings())
    files = set(bundle_files(memory.tags)[run_id])
    assert files and all(k.startswith(f"bundles/{run_id}/") for k in files)
    older = json.loads(path.read_text())  # as the earlier tdprov kept it: the run, not its files
    older.update(format="https://tdprov.dev/auditor-memory/v1", runs=memory.runs,
                 tags={k: v for k, v in memory.tags.items() if k not in files})
    del older["inventory"]
    path.write_text(json.dumps(older))
    planted = f"bundles/{run_id}/refused/combined-999-{'ab' * 16}.jsonl"
    raw_put(str(store), planted, b'{"reason": "planted"}\n')
    for name in ("upgraded", "again"):
        result = _audited(store, tmp_path, name)
        (found,) = [f for f in result.check(CHECK_UNFINISHED).findings if f.run_id == run_id]
        assert (found.object, found.what) == (first.object, first.what), (name, found.what)
        assert [f for f in result.errors if f.object == planted or planted in f.items], name


def test_the_audit_notes_refused_events_of_a_run_that_ended_on_every_audit(tmp_path: Path) -> None:
    """A run that ended with a malformed event refused is a note (no signature matter), which stands as the run's
    record never changes: named by every audit, as the audit state carries the other findings of a bundle, once each
    also when a file planted in the bundle has it verified again. It was named by the audit that examined the bundle,
    then by none, then again by each audit that verified the bundle again."""
    store = tmp_path / "store"
    run_id = str(uuid.uuid4())
    start, complete = run_events(run_id)
    transport = _transport(store)
    transport.emit(dict(start, outputs=7))
    transport.emit(complete)
    transport.close()
    (first,) = _unfinished(store, tmp_path, run_id, "report")
    assert first.severity == "note" and "ended COMPLETE, and 1 staged object of it was refused: it is not" in first.what
    assert _unfinished(store, tmp_path, run_id, "again") == [first]
    raw_put(str(store), f"bundles/{run_id}/extra/planted.txt", b"planted")
    for name in ("planted", "planted-again"):
        assert _unfinished(store, tmp_path, run_id, name) == [first], name


def test_an_unsigned_event_planted_in_a_run_that_ends_fails_the_audit(tmp_path: Path) -> None:
    """An event planted unsigned into an open run is refused at the seal as unsigned, and the run then ends: the audit
    passed with a note ("ended COMPLETE, and 1 staged object of it was refused"). A refusal for a signature is evidence
    that someone who can write staging/ put it there: an error naming the run, the object and why, with the fix of
    finding who, read from the signed bundle's refused/ record, on the audit that examines the bundle and on later
    ones (carried in the audit state), until a person accepts it."""
    from prov_common.audit.model import CHECK_UNFINISHED

    store = tmp_path / "store"
    run_id = str(uuid.uuid4())
    start, complete = run_events(run_id)
    transport = _transport(store)
    transport.emit(start)
    planted = dict(start, eventType="RUNNING", eventTime="2026-03-01T10:00:01.000Z")
    key = staged_event_key(planted)
    raw_put(str(store), key, canonical_bytes(planted))
    transport.emit(complete)
    transport.close()
    [record] = _refusals(store, run_id)
    assert "is unsigned" in record["reason"]
    [refused] = [f"bundles/{run_id}/{p}" for p in read_bundle(open_store(str(store)), run_id).manifest.by_path if p.startswith("refused/")]
    for name in ("first", "again"):
        result = _audited(store, tmp_path, name)
        (found,) = [f for f in result.check(CHECK_UNFINISHED).findings if f.run_id == run_id]
        assert found.severity == "error" and found in result.errors and result.exit_code == 1, name
        assert result.check(CHECK_UNFINISHED).status == "fail", name
        assert found.object == refused
        assert found.what == (f"run {run_id} (tests/train_features) holds 1 staged object that its seal refused for its "
                              f"signature or place, which no writer the seal trusts staged for the run: staged event {key} is "
                              "unsigned: no writer holding a trusted key staged it"), name
        assert "find who can write staging/, and take those credentials away" in found.fix
        assert "--accept-finding RUN_ID" in found.fix
    accepted = _audited(store, tmp_path, "accepted", accept=run_id)
    assert not [f for f in accepted.check(CHECK_UNFINISHED).findings if f.run_id == run_id]
    assert not [f for f in _audited(store, tmp_path, "after").check(CHECK_UNFINISHED).findings if f.run_id == run_id]


def _planted_run(store: Path, malformed: int = 0, pad: int = 0) -> tuple[str, str]:
    """A run that emits START, ``malformed`` refused events (each with ``pad`` more bytes of a facet), an unsigned event
    planted into its staging, then COMPLETE: (run id, the planted object's key)."""
    run_id = str(uuid.uuid4())
    start, complete = run_events(run_id)
    transport = _transport(store)
    transport.emit(start)
    for i in range(malformed):
        transport.emit(dict(start, outputs=i, run=dict(start["run"], facets={"pad": {"text": "x" * pad}})))
    planted = dict(start, eventType="RUNNING", eventTime="2026-03-01T10:00:01.000Z")
    key = staged_event_key(planted)
    raw_put(str(store), key, canonical_bytes(planted))
    transport.emit(complete)
    transport.close()
    return run_id, key


def _planted_error(store: Path, tmp_path: Path, run_id: str, key: str, name: str = "report") -> None:
    """Assert that the audit fails on the unsigned event planted at ``key`` of run ``run_id``, named with its reason."""
    from prov_common.audit.model import CHECK_UNFINISHED

    result = _audited(store, tmp_path, name)
    found = [f for f in result.check(CHECK_UNFINISHED).findings if f.run_id == run_id]
    assert len(found) == 1, [(f.object, f.what[:300]) for f in found]
    (found,) = found
    assert found.severity == "error" and result.exit_code == 1, found
    assert found.what == (f"run {run_id} (tests/train_features) holds 1 staged object that its seal refused for its "
                          f"signature or place, which no writer the seal trusts staged for the run: staged event {key} is "
                          "unsigned: no writer holding a trusted key staged it")


def test_a_refusal_record_says_its_cause_and_the_audit_goes_by_it_not_by_the_fix_text(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A refusal record says why in a machine-readable word (``cause``): the audit told an object refused for its
    signature by the exact text of its fix, so a reworded fix turned a planted event back into a note and the audit
    passed. A record written before ``cause`` is still told by its fix, whose texts stay as those records hold them."""
    import hashlib

    from prov_common.bundle import refusal, staged

    worded = staged.UNSIGNED_FIX
    monkeypatch.setattr(staged, "UNSIGNED_FIX", "the same fix, in other words")
    store = tmp_path / "store"
    run_id, key = _planted_run(store, malformed=1)
    records = _refusals(store, run_id)
    assert sorted((r.get("stagedAs") or r["eventType"], r["cause"]) for r in records) == sorted(
        [("START", "malformed"), (key, "signature")])
    assert next(r for r in records if r.get("stagedAs") == key)["fix"] == "the same fix, in other words"
    _planted_error(store, tmp_path, run_id, key)
    older = tmp_path / "older"  # as a tdprov before 'cause' wrote the records: the fix tells them
    monkeypatch.setattr(staged, "UNSIGNED_FIX", worded)
    monkeypatch.setattr(refusal, "canonical_bytes", lambda record: canonical_bytes({k: v for k, v in record.items()
                                                                                   if k != "cause"}))
    run_id, key = _planted_run(older, malformed=1)
    assert all("cause" not in r for r in _refusals(older, run_id))
    _planted_error(older, tmp_path, run_id, key, "older")
    texts = hashlib.sha256("\n".join(sorted(staged.SIGNATURE_FIXES)).encode()).hexdigest()
    assert texts == "20a97a81ff9f262f1ee1920afb0622ac4cb0255d0e408587a6ba51fc9470746d", (  # with OTHER_STORE_FIX
        "records sealed before 'cause' hold these texts: reword none of them (keep the old text beside a new one)")


def test_an_object_planted_among_more_than_ten_malformed_refusals_fails_the_audit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The audit read the records of only the first ten refused/ files: a run with eleven malformed events of its own
    and an unsigned event planted, sorted after them, got a note and the audit passed. Records are read up to a bound in
    bytes (unended.REFUSED_READ_LIMIT), and files past it are counted in the finding."""
    from prov_common.audit import unended

    store = tmp_path / "store"
    run_id, key = _planted_run(store, malformed=11)
    paths = sorted(p for p in read_bundle(open_store(str(store)), run_id).files if p.startswith("refused/"))
    assert len(paths) == 12 and [r.get("stagedAs") for r in _refusals(store, run_id)][-1] == key  # sorted last
    _planted_error(store, tmp_path, run_id, key)
    monkeypatch.setattr(unended, "REFUSED_READ_LIMIT", 11 * max(len(d) for p, d in read_bundle(
        open_store(str(store)), run_id).files.items() if p.startswith("refused/") and "stagedAs" not in json.loads(d)))
    (note,) = [f for f in _audited(store, tmp_path, "bounded", full=True).check("unfinished").findings if f.run_id == run_id]
    assert note.severity == "note" and note.what.endswith("they are not in its record (the records of 1 refused/ file "
                                                          "were not read)"), note.what


def test_an_object_planted_in_a_combined_refusal_file_larger_than_a_small_object_fails_the_audit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run with more refusals than a manifest lists files keeps them in one refused/combined-<count>-<digest>.jsonl;
    the audit did not read one larger than layout.SMALL_OBJECT_LIMIT (both lowered here), so an unsigned event planted
    among them was a note. It is read a line at a time, by the size the manifest lists."""
    from prov_common.bundle import layout, model

    monkeypatch.setattr(model, "MANIFEST_FILES_MAX", 20)
    store = tmp_path / "store"
    run_id, key = _planted_run(store, malformed=24, pad=4000)
    [(path, data)] = [(p, d) for p, d in read_bundle(open_store(str(store)), run_id).files.items() if p.startswith("refused/")]
    assert path.startswith("refused/combined-25-") and len(data) > LOWERED
    shutil.rmtree(store / "staging" / run_id)  # cleaned once sealed: staged objects the audit would read by the bound
    monkeypatch.setattr(layout, "SMALL_OBJECT_LIMIT", LOWERED)
    _planted_error(store, tmp_path, run_id, key)


def test_the_staged_objects_a_large_combined_refusal_file_holds_are_not_named_as_in_no_bundle(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The audit looked for a sealed run's staged objects in the records of its refused/ files read no further than
    layout.SMALL_OBJECT_LIMIT (both bounds lowered here): with a combined file larger than that, each refusal a writer
    staged was named "in no bundle (staged after the sealing)" and an event the seal refused as the run's late event.
    The files the manifest lists are read a line at a time; only the planted event's error is left."""
    from prov_common.bundle import layout, model

    monkeypatch.setattr(model, "MANIFEST_FILES_MAX", 20)
    store = tmp_path / "store"
    run_id, key = _planted_run(store, malformed=24, pad=4000)
    staged = [k for k in open_store(str(store)).list(f"staging/{run_id}/attachments/refused/")]
    assert len(staged) == 24
    monkeypatch.setattr(layout, "SMALL_OBJECT_LIMIT", LOWERED)
    _planted_error(store, tmp_path, run_id, key)


def _sealed_with_a_running_to_come(store: Path) -> tuple[str, dict]:
    """A run sealed in ``store`` by one writer (START, COMPLETE): its id, and a RUNNING of it timed before the sealing,
    not staged (a test stages it after the sealing)."""
    run_id = str(uuid.uuid4())
    start, complete = run_events(run_id)
    transport = _transport(store)
    transport.emit(start)
    transport.emit(complete)
    transport.close()
    return run_id, dict(start, eventType="RUNNING", eventTime="2026-03-01T10:00:01.000Z")


def test_a_file_planted_under_a_sealed_bundles_refused_folder_does_not_hide_a_late_event(tmp_path: Path) -> None:
    """A signed RUNNING of a sealed run staged after the sealing, timed before it, is a late event the audit names. A
    refused/ file planted in the bundle naming it (``stagedAs``) hid it: the audit took the records of the files its
    listing showed. It reads those the sealed manifest lists."""
    store = tmp_path / "store"
    run_id, late = _sealed_with_a_running_to_come(store)
    key = staged_event_key(late)
    raw_put(str(store), key, signed_staged(late))
    raw_put(str(store), f"bundles/{run_id}/refused/planted.json", canonical_bytes({"stagedAs": key}))
    found = [f for f in _unfinished(store, tmp_path, run_id, "report") if f.object == f"staging/{run_id}/"]
    assert len(found) == 1 and found[0].severity == "error", found
    assert "and 1 event was staged for it after that (timed 2026-03-01T10:00:01Z, before the sealing" in found[0].what


def test_the_audit_reads_a_sealed_runs_manifest_once_to_judge_its_late_events_and_attachments(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sealed run with an event staged after the sealing, timed before it, and an attachment staged after it: the
    audit compares the event with the bundle's events and refused/ records, reads the parent the sealed run names, and
    asks refused/ about the attachment, all from one read of the manifest (it read it three times, refused/ twice)."""
    from prov_common.audit import unfinished
    from prov_common.audit.model import CHECK_UNFINISHED

    store = tmp_path / "store"
    run_id, late = _sealed_with_a_running_to_come(store)
    raw_put(str(store), staged_event_key(late), signed_staged(late))
    raw_put(str(store), f"staging/{run_id}/attachments/late.txt", b"late")
    read: list[str] = []
    real = unfinished.sealed_manifest
    monkeypatch.setattr(unfinished, "sealed_manifest", lambda s, r: read.append(r) or real(s, r))
    found = [f for f in _audited(store, tmp_path, "report").check(CHECK_UNFINISHED).findings if f.run_id == run_id]
    assert [f.object for f in found] == [f"staging/{run_id}/", f"staging/{run_id}/attachments/"], found
    assert "and 1 event was staged for it after that (timed 2026-03-01T10:00:01Z, before the sealing" in found[0].what
    assert f"1 attachment staged for it is in no bundle (staged after the sealing): staging/{run_id}/attachments/late.txt" in found[1].what
    assert read.count(run_id) == 1, read


def test_a_refused_file_changed_to_deep_nesting_does_not_stop_the_audit(tmp_path: Path) -> None:
    """The audit reads a sealed run's refused/ records to tell a staged event its bundle lacks from one its seal refused.
    A listed refused/ file whose line was changed to JSON nested deeper than Python parses (someone who can write the
    store) stopped the audit with a RecursionError; the line is no record, the late event is named and verification
    names the changed file."""
    from prov_common.audit.model import CHECK_UNFINISHED

    store = tmp_path / "store"
    run_id, planted = _planted_run(store)
    (listed,) = (store / "bundles" / run_id / "refused").iterdir()
    start, _ = run_events(run_id)
    late = dict(start, eventType="RUNNING", eventTime="2026-03-01T10:00:02.000Z")
    key = staged_event_key(late)
    raw_put(str(store), key, signed_staged(late))
    listed.write_bytes(b"[" * 200_000 + b"\n")
    result = _audited(store, tmp_path, "report")
    found = [f for f in result.check(CHECK_UNFINISHED).findings if f.object == f"staging/{run_id}/"]
    # the planted event's record of refusal is gone with the change: it is in no bundle, as the late one
    assert len(found) == 1 and found[0].severity == "error", found
    assert "2 events were staged for it after that (until 2026-03-01T10:00:02Z; 2 of them timed before the sealing" in found[0].what
    assert all(k.rsplit("/", 1)[1] in found[0].what for k in (planted, key)), found[0].what
    assert any(f"bundles/{run_id}/refused/" in f.object for c in result.checks for f in c.findings if f.severity == "error")


def test_a_damaged_staged_event_does_not_block_the_run(tmp_path: Path) -> None:
    """An object in staging that is not a valid event (an older writer, a bad disk) is recorded as refused."""
    store = tmp_path / "store"
    run_id = str(uuid.uuid4())
    start, complete = run_events(run_id)
    bad_start = dict(start, outputs=7)
    raw_put(str(store), f"staging/{run_id}/20260301T100000000000Z-bad.json", signed_staged(json.dumps(bad_start).encode()))
    raw_put(str(store), f"staging/{run_id}/20260301T100001000000Z-broken.json", signed_staged(b"{not json"))
    raw_put(str(store), f"staging/{run_id}/20260301T100002000000Z-huge.json", signed_staged(json.dumps(start).replace('"runId"', '"x": 1e999, "runId"', 1).encode()))
    raw_put(str(store), f"staging/{run_id}/20260301T100003000000Z-late.json", signed_staged(json.dumps(dict(start, eventTime="9999-12-31T23:59:59-01:00")).encode()))
    transport = _transport(store)
    transport.emit(complete)
    transport.close()
    _verified(store, run_id)
    assert _event_types(store, run_id) == ["COMPLETE"]
    refused = _refusals(store, run_id)
    assert sorted(r["stagedAs"].rsplit("-", 1)[1] for r in refused) == ["bad.json", "broken.json", "huge.json", "late.json"]
    assert any("'outputs' must be a list" in r["reason"] for r in refused)
    assert any("not valid JSON" in r["reason"] for r in refused)


def test_a_staged_event_whose_standard_facet_breaks_its_schema_is_refused_at_seal(tmp_path: Path) -> None:
    """An event a writer staged before standard facets were checked against their official schemas (a parent run id
    that is no UUID) is refused when the run is sealed, with the reason, as a new event is when emitted; it was sealed
    into the run's record."""
    store = tmp_path / "store"
    run_id = str(uuid.uuid4())
    start, complete = run_events(run_id)
    raw_put(str(store), f"staging/{run_id}/20260301T100000000000Z-old.json",
            signed_staged(json.dumps(_malformed("parent run id not a UUID", start)).encode()))
    transport = _transport(store)
    transport.emit(complete)
    transport.close()
    _verified(store, run_id)
    assert _event_types(store, run_id) == ["COMPLETE"]
    [refused] = _refusals(store, run_id)
    assert refused["stagedAs"].endswith("-old.json") and REASONS["parent run id not a UUID"] in refused["reason"]


def test_an_event_planted_beside_the_events_this_process_staged_is_checked_at_seal(tmp_path: Path) -> None:
    """A seal takes the events this process staged without checking them again, by the bytes it holds of them; an
    event planted in the run's staging meanwhile is read from the store and checked, though signed with this
    process's own key: its standard facet that breaks its schema refuses it, and the run is sealed without it."""
    store = tmp_path / "store"
    run_id = str(uuid.uuid4())
    start, complete = run_events(run_id)
    running = _malformed("parent run id not a UUID", dict(start, eventType="RUNNING", eventTime="2026-03-01T10:00:01.000Z"))
    transport = _transport(store)
    transport.emit(start)
    raw_put(str(store), f"staging/{run_id}/20260301T100001000000Z-planted.json", signed_staged(running))
    transport.emit(complete)
    transport.close()
    _verified(store, run_id)
    assert _event_types(store, run_id) == ["START", "COMPLETE"]
    [refused] = _refusals(store, run_id)
    assert refused["stagedAs"].endswith("-planted.json") and REASONS["parent run id not a UUID"] in refused["reason"]


def test_a_staged_object_too_large_or_no_object_is_refused_alone(tmp_path: Path) -> None:
    """A staged event larger than any bundle object tdprov reads whole (a writer never stages one: it would read
    it without bound when sealing), and a named pipe planted in staging (reading it would block), are each refused
    by key; the run's other staged events are still sealed."""
    import os

    from prov_common.bundle import layout

    store = tmp_path / "store"
    run_id = str(uuid.uuid4())
    start, complete = run_events(run_id)
    raw_put(str(store), f"staging/{run_id}/20260301T100000000000Z-start.json", signed_staged(start))
    start["run"]["facets"]["padding"] = {"_producer": "https://example.com/p", "_schemaURL": "https://example.com/s#/$defs/P",
                                         "text": "x" * layout.SMALL_OBJECT_LIMIT}
    raw_put(str(store), f"staging/{run_id}/20260301T100001000000Z-huge.json", json.dumps(start).encode())
    del start
    os.mkfifo(store / "staging" / run_id / "20260301T100002000000Z-pipe.json")
    transport = _transport(store)
    transport.emit(complete)
    transport.close()
    _verified(store, run_id)
    assert _event_types(store, run_id) == ["START", "COMPLETE"]
    refused = {r["stagedAs"].rsplit("-", 1)[1]: r for r in _refusals(store, run_id)}
    assert sorted(refused) == ["huge.json", "pipe.json"]
    assert f"larger than {layout.SMALL_OBJECT_LIMIT:,} bytes" in refused["huge.json"]["reason"]
    assert refused["pipe.json"]["reason"].startswith("staged object cannot be read: ") and refused["pipe.json"]["fix"]


LOWERED = 64 << 10  # SMALL_OBJECT_LIMIT in the tests below: events of about 48 kB stand for events of about 48 MiB
A_STORE_ID = str(uuid.uuid4())  # the writers' stores below have ids as tdprov makes them: of a UUID's length


def _padded(event: dict, size: int) -> dict:
    """``event`` with a run facet ``padding`` that makes its canonical JSON ``size`` bytes, beside a smaller ``notes``."""
    facet = {"_producer": PRODUCER, "_schemaURL": "https://example.com/s.json#/$defs/P"}
    event["run"]["facets"]["notes"] = dict(facet, text="n" * 2000)
    event["run"]["facets"]["padding"] = dict(facet, text="")
    event["run"]["facets"]["padding"]["text"] = "x" * (size - len(canonical_bytes(event)))
    assert len(canonical_bytes(event)) == size
    return event


@pytest.mark.parametrize("strict", [False, True])
def test_an_event_larger_than_its_seal_reads_is_refused_at_emit_and_never_staged(
        strict: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """An event whose signed envelope would pass the bound a seal reads a staged event by (layout.SMALL_OBJECT_LIMIT,
    lowered here) was staged, then refused by its own seal as unreadable. It is refused at emit, as a malformed event is:
    strict, the error names the run, the event type, its size, the bound and its largest facets, with the fix, and nothing
    is staged; otherwise that refusal is kept in the run's bundle (the event without its largest facet) and the run's
    other events are sealed."""
    from bundle_support import version_facet

    from prov_common.bundle import layout
    from prov_common.bundle.staged import staged_event_limit

    assert staged_event_limit(A_STORE_ID) == 50_331_414  # at the 64 MiB a seal reads (docs/bundles.md)
    monkeypatch.setattr(layout, "SMALL_OBJECT_LIMIT", LOWERED)
    limit = staged_event_limit(A_STORE_ID)
    assert limit == (LOWERED - 312) // 4 * 3 == 48918  # an envelope holds 312 bytes beside the payload's base64
    store = tmp_path / "store"
    run_id = str(uuid.uuid4())
    start, complete = run_events(run_id)
    big = _padded(start, limit + 1)
    facets = big["run"]["facets"]
    padding, notes, version = (len(canonical_bytes(f)) for f in (facets["padding"], facets["notes"], version_facet("blake3:" + "1" * 64)))
    said = (f"the START event of run {run_id} is {limit + 1:,} bytes of JSON, more than a staged event may hold ({limit:,} "
            f"bytes: its signed envelope must fit the {LOWERED:,} bytes a seal reads); its largest: run.facets.padding "
            f"({padding:,} bytes), run.facets.notes ({notes:,} bytes), inputs.0.facets.version ({version} bytes) (of 3 facets).")
    if strict:
        with pytest.raises(BadInputError) as raised:
            _transport(store, strict=True).emit(big)
        assert raised.value.what == said
        assert "attach it to the run's bundle (ProvenanceTransport.attach(run_id, 'extra/<name>', data))" in raised.value.fix
        assert not (store / "staging").exists()
        return
    transport = _transport(store)
    with caplog.at_level(logging.WARNING):
        assert transport.emit(big) is None
        assert not [k for k in open_store(str(store)).list(f"staging/{run_id}/") if "/attachment" not in k]  # no event
        assert transport.emit(complete).status == "written"
    transport.close()
    _verified(store, run_id)
    assert _event_types(store, run_id) == ["COMPLETE"]
    [refused] = _refusals(store, run_id)
    assert refused["reason"] == said and "(ProvenanceTransport.attach(run_id, 'extra/<name>', data))" in refused["fix"]
    assert refused["eventType"] == "START" and refused["event"]["run"]["runId"] == run_id
    assert refused["event"]["run"]["facets"]["padding"] == f"*** (left out: {padding:,} bytes, see the reason)"
    assert refused["event"]["run"]["facets"]["notes"]["text"] == "n" * 2000  # what fits is kept
    assert said in caplog.text and "staged object cannot be read" not in caplog.text


def test_an_event_too_large_without_any_facet_is_kept_without_its_datasets(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Datasets without facets past the bound: the refusal says so and keeps the event without its datasets."""
    from bundle_support import dataset

    from prov_common.bundle import layout

    monkeypatch.setattr(layout, "SMALL_OBJECT_LIMIT", LOWERED)
    store = tmp_path / "store"
    run_id = str(uuid.uuid4())
    start, complete = run_events(run_id)
    start["inputs"] = [dataset("s3://lake", f"raw/part-{i:05d}.parquet") for i in range(1000)]
    transport = _transport(store)
    assert transport.emit(start) is None and transport.emit(complete).status == "written"
    transport.close()
    assert _event_types(store, run_id) == ["COMPLETE"]
    [refused] = _refusals(store, run_id)
    size = len(canonical_bytes(start))
    assert refused["reason"].startswith(f"the START event of run {run_id} is {size:,} bytes of JSON, more than a staged "
                                        "event may hold (48,918 bytes")
    assert refused["reason"].endswith("; it has no facets.") and refused["eventType"] == "START"
    inputs = len(canonical_bytes(start["inputs"]))
    assert refused["event"] == dict(start, inputs=f"*** (left out: {inputs:,} bytes, see the reason)")


def test_an_event_at_the_bound_is_staged_and_sealed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bound is the largest event whose envelope a seal reads: one exactly at it is staged, read and sealed."""
    from prov_common.bundle import layout
    from prov_common.bundle.staged import staged_event_limit

    monkeypatch.setattr(layout, "SMALL_OBJECT_LIMIT", LOWERED)
    store = tmp_path / "store"
    run_id = str(uuid.uuid4())
    start, complete = run_events(run_id)
    at_bound = _padded(start, staged_event_limit(A_STORE_ID))
    transport = _transport(store, strict=True)
    transport.emit(at_bound)
    [staged] = [k for k in open_store(str(store)).list(f"staging/{run_id}/") if "/attachment" not in k]
    assert LOWERED - 3 <= len(open_store(str(store)).get(staged)) <= LOWERED
    _transport(store, strict=True).emit(complete)  # another process seals it: it reads the START from the store
    transport.close()
    _verified(store, run_id)
    assert _event_types(store, run_id) == ["START", "COMPLETE"] and not _refusals(store, run_id)
    assert json.loads(read_bundle(open_store(str(store)), run_id).files["events.jsonl"].splitlines()[0]) == at_bound


@pytest.mark.parametrize("bound", [LOWERED, LOWERED + 1, LOWERED + 2, LOWERED + 3])
def test_the_staged_event_bound_is_the_largest_whose_envelope_fits(bound: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Derived from SMALL_OBJECT_LIMIT alone, whatever it is modulo 4: an event at the bound makes an envelope a seal
    reads, one byte more one it refuses (signed for a store, whose id is a UUID, as writers sign it)."""
    from prov_common.bundle import layout
    from prov_common.bundle.staged import signed_event, staged_event_limit
    from prov_common.signing import default_signing_key

    monkeypatch.setattr(layout, "SMALL_OBJECT_LIMIT", bound)
    for store_id in (A_STORE_ID, None, "s" * 500):  # a UUID as tdprov makes them, none (an outage), one written by hand
        limit = staged_event_limit(store_id)
        signed = [len(signed_event(b"x" * size, default_signing_key(), store_id)) for size in (limit, limit + 1)]
        assert signed[0] <= bound < signed[1], store_id


def test_the_staged_event_bound_leaves_room_for_a_longer_store_id_written_by_hand(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A store whose _tdprov/store.json was written by hand with an id longer than a UUID: the bound left room for a
    UUID alone, so an event within it but whose envelope, naming that id, passed what a seal reads was staged and then
    refused by the seal of another process as unreadable, the event lost. The writer bounds the event by the envelope
    it makes for the store id it signs in: one byte more than that bound is refused at emit, its refusal kept in the
    run's bundle; one at it is staged and sealed."""
    from prov_common.bundle import layout
    from prov_common.bundle.staged import staged_event_limit
    from prov_common.store.identity import IDENTITY_FORMAT

    monkeypatch.setattr(layout, "SMALL_OBJECT_LIMIT", LOWERED)
    store = tmp_path / "store"
    store_id = "prod-training-lake-" + "x" * 181  # 200 characters
    raw_put(str(store), "_tdprov/store.json", canonical_bytes({"format": IDENTITY_FORMAT, "storeId": store_id,
                                                               "createdAt": "2026-03-01T09:00:00.000000Z"}))
    limit = staged_event_limit(store_id)
    assert limit == staged_event_limit(A_STORE_ID) - (200 - 36) // 4 * 3 == 48795
    run_id = str(uuid.uuid4())
    start, complete = run_events(run_id)
    running = dict(start, eventType="RUNNING", eventTime="2026-03-01T10:00:01.000Z", run=json.loads(json.dumps(start["run"])))
    over = _padded(running, limit + 1)
    at_bound = _padded(start, limit)
    transport = _transport(store)
    with caplog.at_level(logging.WARNING):
        assert transport.emit(at_bound) is None and transport.emit(over) is None
        assert _transport(store).emit(complete).status == "written"  # another process seals: it reads them from the store
    transport.close()
    _verified(store, run_id)
    assert _event_types(store, run_id) == ["START", "COMPLETE"]
    [refused] = _refusals(store, run_id)
    assert refused["reason"].startswith(f"the RUNNING event of run {run_id} is {limit + 1:,} bytes of JSON, more than a "
                                        f"staged event may hold ({limit:,} bytes: its signed envelope must fit the "
                                        f"{LOWERED:,} bytes a seal reads)"), refused["reason"]
    assert "staged object cannot be read" not in caplog.text


def test_events_of_a_sealed_run_are_named_by_the_transport_and_the_audit(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A producer that emits for a run after its terminal event: the run keeps the bundle it was sealed
    with (write-once), and the late events, staged but in no bundle, are not lost silently: the transport
    warns naming the run, and the audit's unfinished-runs check reports them."""
    from datetime import datetime, timedelta, timezone

    from bundle_support import dataset, event

    from prov_common.audit import run_audit
    from prov_common.audit.model import CHECK_UNFINISHED
    from prov_common.store import open_store

    store = str(tmp_path / "store")
    transport = ProvenanceTransport(ProvenanceConfig(store=store))
    run_id = str(uuid.uuid4())
    now = datetime.now(timezone.utc)
    stamp = lambda delta: (now + timedelta(seconds=delta)).isoformat().replace("+00:00", "Z")  # noqa: E731
    assert transport.emit(event(run_id, "START", stamp(-2))) is None
    assert transport.emit(event(run_id, "COMPLETE", stamp(-1))).status == "written"
    late = event(run_id, "COMPLETE", stamp(5), outputs=[dataset("file", "/data/late.parquet", "blake3:" + "1" * 64)])
    with caplog.at_level("WARNING", logger="prov_common.bundle.storage"):
        assert transport.emit(late).status == "already-sealed"
    assert (f"run {run_id} was sealed with 2 events before 1 more arrived; it stays staged under staging/{run_id}/ and is in "
            "no bundle.") in caplog.text
    assert read_bundle(open_store(store), run_id).manifest.event_count == 2  # the sealed bundle is as it was
    result = run_audit(open_store(store), Settings.from_env(store=store), report_dir=tmp_path / "report", progress=False)
    (found,) = [f for f in result.check(CHECK_UNFINISHED).findings if f.run_id == run_id]
    assert found.severity == "error" and "1 event was staged for it after that" in found.what and "in no bundle" in found.what


@pytest.mark.parametrize("run_id", ["{0190c1d2-7e4f-7a00-9b1e-3f6f3c2a9d11}", "{0190c1d27e4f7a009b1e3f6f3c2a9d11}"])
def test_a_run_id_that_names_no_bundle_is_refused_naming_the_field(tmp_path: Path, run_id: str) -> None:
    """Python's UUID() takes braces, which cannot name a bundle: the event is refused at the field, not accepted
    and then dropped where the run id names the bundle."""
    start, _ = run_events(str(uuid.uuid4()))
    start["run"]["runId"] = run_id
    with pytest.raises(BadInputError, match="field 'run.runId' must be a UUID"):
        _transport(tmp_path / "store", strict=True).emit(start)


@pytest.mark.parametrize("form", ["urn:uuid:{}", "{hex}", "{{{}}}"])
def test_a_run_id_the_spec_does_not_call_a_uuid_is_refused_and_never_sealed(tmp_path: Path, form: str) -> None:
    """Python's UUID() also takes ``urn:uuid:...`` and 32 hex digits without hyphens, which the OpenLineage schema's
    ``uuid`` format refuses: such events were sealed and signed into bundles no spec validator accepts, and one run
    sent in two forms became two bundles. They are refused at the field, naming the form to use."""
    run_id = str(uuid.uuid4())
    start, complete = run_events(run_id)
    other = form.format(run_id, hex=uuid.UUID(run_id).hex)
    transport = _transport(tmp_path / "store")
    for event in (start, complete):
        event["run"]["runId"] = other
        assert transport.emit(event) is None
    transport.close()
    assert not list(open_store(str(tmp_path / "store")).list("bundles/"))
    start["run"]["runId"] = other
    with pytest.raises(BadInputError, match=r"field 'run.runId' must be a UUID, got .* written as 8-4-4-4-12 hex digits"):
        _transport(tmp_path / "strict", strict=True).emit(start)


def _child_event(run_id: str, parent: tuple[str, str], event_type: str, time: str, **datasets: list) -> dict:
    """An event of task run ``run_id`` whose parent is ``parent`` (run id, job name: the DAG run), as Airflow's are."""
    from bundle_support import event

    child = event(run_id, event_type, time, job="etl.daily.load", **datasets)
    child["run"]["facets"]["parent"] = {
        "_producer": "https://github.com/tdprov/tdprov/tests",
        "_schemaURL": "https://openlineage.io/spec/facets/1-1-0/ParentRunFacet.json#/$defs/ParentRunFacet",
        "run": {"runId": parent[0]}, "job": {"namespace": "tests", "name": parent[1]}}
    return child


def test_events_of_another_run_given_the_same_run_id_are_not_folded_into_its_bundle(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Two runs of two parents with one run id (Airflow's task 'load' of DAG 'etl.daily' and task 'daily.load' of DAG
    'etl' at one logical date): the second's START, staged while the first ran, was sealed into the first's bundle, which
    then said the first task read the second's input. It is refused (kept under refused/ with the reason and the fix),
    and the second's end is named as a run given the same run id, not as events that came late."""
    from bundle_support import dataset

    store = str(tmp_path / "store")
    transport = ProvenanceTransport(ProvenanceConfig(store=store))
    run_id = str(uuid.uuid4())
    first, second = (str(uuid.uuid4()), "etl.daily"), (str(uuid.uuid4()), "etl")
    mine = dataset("file", "/data/one.csv", "blake3:" + "1" * 64)
    theirs = dataset("file", "/data/two.csv", "blake3:" + "2" * 64)
    out = dataset("file", "/data/one.out", "blake3:" + "3" * 64)
    transport.emit(_child_event(run_id, first, "START", "2026-03-01T10:00:00.000Z", inputs=[mine]))
    transport.emit(_child_event(run_id, second, "START", "2026-03-01T10:00:01.000Z", inputs=[theirs]))
    with caplog.at_level("WARNING"):
        assert transport.emit(_child_event(run_id, first, "COMPLETE", "2026-03-01T10:00:02.000Z",
                                           inputs=[mine], outputs=[out])).status == "written"
    bundle = read_bundle(open_store(store), run_id)
    assert [(i.name, i.version) for i in bundle.manifest.inputs] == [("/data/one.csv", "blake3:" + "1" * 64)]
    assert bundle.manifest.event_count == 2 and bundle.manifest.parent_run_id == first[0]
    (refused,) = _refusals(Path(store), run_id)
    assert refused["event"]["inputs"][0]["name"] == "/data/two.csv"
    assert refused["reason"].endswith(f"is of another run that was given run id {run_id}: it is of job tests/etl.daily.load "
                                      f"with parent run {second[0]} of job tests/etl, where the run is of job "
                                      f"tests/etl.daily.load with parent run {first[0]} of job tests/etl.daily.")
    assert "rename a DAG or task group" in refused["fix"]
    assert "sealed without 1 staged object that was refused" in caplog.text
    _verified(Path(store), run_id)

    caplog.clear()
    with caplog.at_level("WARNING"):
        assert transport.emit(_child_event(run_id, second, "COMPLETE", "2026-03-01T10:00:03.000Z",
                                           inputs=[theirs])).status == "already-sealed"
    assert (f"run {run_id} is sealed already as the run of job tests/etl.daily.load with parent run {first[0]}; another "
            f"run, of job tests/etl.daily.load with parent run {second[0]}, was given the same run id, so its 2 events are in no "
            f"bundle (they stay staged under staging/{run_id}/)") in caplog.text
    assert "more arrived" not in caplog.text and "sealed without" not in caplog.text
    assert read_bundle(open_store(store), run_id).manifest.event_count == 2  # the first run's bundle, as it was


def test_a_start_of_another_run_given_the_same_run_id_after_the_seal_is_named_another_runs(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Task 'load' of DAG 'etl.daily' ran and was sealed, then task 'daily.load' of DAG 'etl' started at the same
    logical date (one run id, as Airflow runs two DAGs one after the other): its START was warned of as an event of the
    sealed run that came late, with the fix 're-run the step to record what came late', which gives the same run id
    again. It is named as another run's given the same run id, with the fix to rename a DAG or task group; a late event
    whose parent is of the sealed run's parent job (a DAG run cleared while its task ran) stays a late event."""
    store = str(tmp_path / "store")
    transport = ProvenanceTransport(ProvenanceConfig(store=store))
    run_id, first, second = str(uuid.uuid4()), (str(uuid.uuid4()), "etl.daily"), (str(uuid.uuid4()), "etl")
    transport.emit(_child_event(run_id, first, "START", "2026-03-01T10:00:00.000Z"))
    assert transport.emit(_child_event(run_id, first, "COMPLETE", "2026-03-01T10:00:02.000Z")).status == "written"
    with caplog.at_level("WARNING"):
        assert transport.emit(_child_event(run_id, second, "START", "2026-03-01T10:00:03.000Z")) is None
    [warned] = [r.getMessage() for r in caplog.records if run_id in r.getMessage()]
    assert warned.startswith(
        f"tdprov: run {run_id} is sealed already as the run of job tests/etl.daily.load with parent run {first[0]} of "
        f"job tests/etl.daily; its START event timed 2026-03-01T10:00:03.000Z is of another run, of job "
        f"tests/etl.daily.load with parent run {second[0]} of job tests/etl, that was given the same run id: it stays "
        f"staged as staging/{run_id}/"), warned
    assert warned.endswith("in no bundle (the audit names it). Fix: give each run its own run id. Airflow (and its "
                           "OpenLineage provider) makes a task run's job name and run id from '<dag_id>.<task_id>' and its "
                           "logical date, try and map index, so task 'c' of DAG 'a.b' and task 'b.c' (task 'c' of task "
                           "group 'b') of DAG 'a' are one job, and one run at one logical date: rename a DAG or task "
                           "group so that no task's '<dag_id>.<task_id>' is another's; a DAG run's run id is made from "
                           "'<dag_id>.<clear number>', so DAG 'a.b.1' and mapped task 'b' of DAG 'a' share one too (try 1, "
                           "map index 0): rename a DAG whose id ends in '.<number>'"), warned

    caplog.clear()
    with caplog.at_level("WARNING"):
        transport.emit(_child_event(run_id, (str(uuid.uuid4()), "etl.daily"), "RUNNING", "2026-03-01T10:00:04.000Z"))
    [late] = [r.getMessage() for r in caplog.records if run_id in r.getMessage()]
    assert late.startswith(f"tdprov: run {run_id} was sealed already: its RUNNING event timed") and "re-run the step" in late


def test_a_late_event_of_a_sealed_run_reads_its_manifest_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A non-terminal event of a run this process sealed is staged after the sealing, and is named another run's or a
    late one by the sealed events: the manifest was read for the first, then again for the second. It is read once."""
    from counting_store import CountingStore
    from prov_common.bundle import layout

    store = str(tmp_path / "store")
    transport = ProvenanceTransport(ProvenanceConfig(store=store))
    run_id, parent = str(uuid.uuid4()), (str(uuid.uuid4()), "etl.daily")
    transport.emit(_child_event(run_id, parent, "START", "2026-03-01T10:00:00.000Z"))
    assert transport.emit(_child_event(run_id, parent, "COMPLETE", "2026-03-01T10:00:02.000Z")).status == "written"
    counting = transport._store = CountingStore(store)
    with caplog.at_level("WARNING"):
        assert transport.emit(_child_event(run_id, (str(uuid.uuid4()), "etl"), "START", "2026-03-01T10:00:03.000Z")) is None
    [warned] = [r.getMessage() for r in caplog.records if run_id in r.getMessage()]
    assert "that was given the same run id" in warned, warned
    manifest = layout.bundle_key(run_id, layout.MANIFEST_FILE)
    assert counting.gets[manifest] == 1, dict(counting.gets)


@pytest.mark.parametrize("other", [False, True], ids=["late", "another-run"])
def test_a_late_end_of_a_run_sealed_elsewhere_reads_no_staged_object(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, other: bool) -> None:
    """A terminal event of a run another process sealed built the run's bundle again from its staging, reading every
    staged object, only for its write to meet the sealed bundle. The bundle's manifest and events and the staging's
    names tell it: no staged object is read, and the warning is the same (events that came after the sealing, or
    another run given the same run id, counted)."""
    from counting_store import CountingStore
    from prov_common.bundle import layout

    store = str(tmp_path / "store")
    sealer, writer = (ProvenanceTransport(ProvenanceConfig(store=store)) for _ in range(2))
    run_id, parent = str(uuid.uuid4()), (str(uuid.uuid4()), "etl.daily")
    late_parent = (str(uuid.uuid4()), "etl") if other else parent
    for second in range(20):  # a run of many staged events
        sealer.emit(_child_event(run_id, parent, "RUNNING" if second else "START", f"2026-03-01T10:00:{second:02d}.000Z"))
    assert sealer.emit(_child_event(run_id, parent, "COMPLETE", "2026-03-01T10:00:30.000Z")).status == "written"
    writer.emit(_child_event(run_id, late_parent, "START", "2026-03-01T10:00:31.000Z"))
    counting = writer._store = CountingStore(store)
    with caplog.at_level("WARNING"):
        assert writer.emit(_child_event(run_id, late_parent, "FAIL", "2026-03-01T10:00:32.000Z")).status == "already-sealed"
    staged = {key: n for key, n in counting.gets.items() if key.startswith(layout.staging_prefix(run_id))}
    assert staged == {}, staged
    if other:
        assert (f"run {run_id} is sealed already as the run of job tests/etl.daily.load with parent run {parent[0]}; "
                f"another run, of job tests/etl.daily.load with parent run {late_parent[0]}, was given the same run id, "
                f"so its 2 events are in no bundle (they stay staged under staging/{run_id}/)") in caplog.text
    else:
        assert (f"run {run_id} was sealed with 21 events before 2 more arrived; they stay staged under "
                f"staging/{run_id}/ and are in no bundle.") in caplog.text
    assert read_bundle(open_store(store), run_id).manifest.event_count == 21


def test_a_dag_run_and_a_mapped_task_given_one_run_id_are_two_runs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The DAG run of Airflow DAG 'etl.load.1' (clear 0) and try 1 of mapped task 'load' of DAG 'etl' (map index 0)
    have one run id ('<ns>.etl.load.1.0' both). The DAG run's events name no parent, so the task's START, staged while
    the DAG run ran, was sealed into the DAG run's bundle with its input. Events of another job than the run's are
    another run's: refused (kept under refused/, with the fix), and either run's events after the seal are warned of
    as another run's, not as late events of the sealed one."""
    from bundle_support import dataset, event

    store = str(tmp_path / "store")
    transport = ProvenanceTransport(ProvenanceConfig(store=store))
    run_id, dag_run = str(uuid.uuid4()), str(uuid.uuid4())
    theirs = dataset("file", "/data/two.csv", "blake3:" + "2" * 64)
    transport.emit(event(run_id, "START", "2026-03-01T10:00:00.000Z", job="etl.load.1"))
    task = _child_event(run_id, (dag_run, "etl"), "START", "2026-03-01T10:00:01.000Z", inputs=[theirs])
    task["job"]["name"] = "etl.load"
    transport.emit(task)
    with caplog.at_level("WARNING"):
        assert transport.emit(event(run_id, "COMPLETE", "2026-03-01T10:00:02.000Z", job="etl.load.1")).status == "written"
    bundle = read_bundle(open_store(store), run_id)
    assert (bundle.manifest.job_name, bundle.manifest.event_count, bundle.manifest.inputs) == ("etl.load.1", 2, ())
    (refused,) = _refusals(Path(store), run_id)
    assert refused["event"]["inputs"][0]["name"] == "/data/two.csv" and refused["cause"] == "run", refused
    assert refused["reason"].endswith(f"is of another run that was given run id {run_id}: it is of job tests/etl.load with "
                                      f"parent run {dag_run} of job tests/etl, where the run is of job tests/etl.load.1 "
                                      "with no parent run."), refused["reason"]
    assert "DAG 'a.b.1' and mapped task 'b' of DAG 'a' share one too" in refused["fix"]
    _verified(Path(store), run_id)

    caplog.clear()
    end = _child_event(run_id, (dag_run, "etl"), "COMPLETE", "2026-03-01T10:00:03.000Z", inputs=[theirs])
    end["job"]["name"] = "etl.load"
    with caplog.at_level("WARNING"):
        assert transport.emit(end).status == "already-sealed"
    assert (f"run {run_id} is sealed already as the run of job tests/etl.load.1 with no parent run; another run, of job "
            f"tests/etl.load with parent run {dag_run}, was given the same run id, so its 2 events are in no bundle "
            f"(they stay staged under staging/{run_id}/)") in caplog.text, caplog.text
    assert "more arrived" not in caplog.text and "re-run the step" not in caplog.text
    assert read_bundle(open_store(store), run_id).manifest.event_count == 2


@pytest.mark.parametrize("parent", [True, False], ids=["one-parent", "no-parent"])
def test_a_run_whose_job_is_renamed_as_it_goes_is_one_run(tmp_path: Path, parent: bool) -> None:
    """Some producers rename a run's job as it goes (OpenLineage Spark appends its output's name to the job of an
    action: START 'app.execute_insert', COMPLETE 'app.execute_insert.warehouse_orders'). Under one parent run, or with
    none on either side, that is one run: its events are sealed together, none refused as another run's."""
    from bundle_support import dataset, event

    store = str(tmp_path / "store")
    transport = ProvenanceTransport(ProvenanceConfig(store=store))
    run_id, app = str(uuid.uuid4()), str(uuid.uuid4())
    read = dataset("file", "/data/in.csv", "blake3:" + "3" * 64)

    def named(event_type: str, time: str, job: str) -> dict:
        made = (_child_event(run_id, (app, "app"), event_type, time, inputs=[read]) if parent
                else event(run_id, event_type, time, job=job, inputs=[read]))
        made["job"]["name"] = job
        return made
    transport.emit(named("START", "2026-03-01T10:00:00.000Z", "app.execute_insert"))
    assert transport.emit(named("COMPLETE", "2026-03-01T10:00:02.000Z",
                                "app.execute_insert.warehouse_orders")).status == "written"
    bundle = read_bundle(open_store(store), run_id)
    assert (bundle.manifest.job_name, bundle.manifest.event_count) == ("app.execute_insert.warehouse_orders", 2)
    assert _refusals(Path(store), run_id) == []
    _verified(Path(store), run_id)


def test_a_job_renamed_under_one_parent_by_a_writer_that_meets_the_seal_is_the_run_s_own(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """One writer seals a run whose job a producer renamed as it went (START 'app.execute_insert', COMPLETE
    'app.execute_insert.orders', one parent run); another process ends it under the job's first name: the write that
    meets the sealed bundle and the audit take it for the run's own late end, as sealing does, not for another run
    given the same run id (the job alone made it 'another run's' there)."""
    from bundle_support import dataset

    store = tmp_path / "store"
    writer, sealer = (ProvenanceTransport(ProvenanceConfig(store=str(store))) for _ in range(2))
    run_id, app = str(uuid.uuid4()), str(uuid.uuid4())
    read = dataset("file", "/data/in.csv", "blake3:" + "4" * 64)

    def named(event_type: str, time: str, job: str) -> dict:
        made = _child_event(run_id, (app, "app"), event_type, time, inputs=[read])
        made["job"]["name"] = job
        return made
    sealer.emit(named("START", "2026-03-01T10:00:00.000Z", "app.execute_insert"))
    assert sealer.emit(named("COMPLETE", "2026-03-01T10:00:02.000Z", "app.execute_insert.orders")).status == "written"
    with caplog.at_level("WARNING"):
        assert writer.emit(named("FAIL", "2026-03-01T10:00:03.000Z", "app.execute_insert")).status == "already-sealed"
    assert "same run id" not in caplog.text, caplog.text
    said = " ".join(f.what for f in _audited(store, tmp_path, "audit").findings if f.run_id == run_id)
    assert "another run" not in said and "after that" in said, said


def test_a_task_s_event_after_a_dag_run_given_its_run_id_was_sealed_is_named_another_runs(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """DAG 'etl.load.1' ran and was sealed, then mapped task 'load' of DAG 'etl' (try 1, map index 0) started at the same
    logical date, one run id: its START (the DAG run named no parent) was warned of as a late event of the DAG run, with
    're-run the step'. It is named as another run's, by its job."""
    from bundle_support import event

    store = str(tmp_path / "store")
    transport = ProvenanceTransport(ProvenanceConfig(store=store))
    run_id, dag_run = str(uuid.uuid4()), str(uuid.uuid4())
    assert transport.emit(event(run_id, "COMPLETE", "2026-03-01T10:00:02.000Z", job="etl.load.1")).status == "written"
    task = _child_event(run_id, (dag_run, "etl"), "START", "2026-03-01T10:00:03.000Z")
    task["job"]["name"] = "etl.load"
    with caplog.at_level("WARNING"):
        assert transport.emit(task) is None
    [warned] = [r.getMessage() for r in caplog.records if run_id in r.getMessage()]
    assert warned.startswith(f"tdprov: run {run_id} is sealed already as the run of job tests/etl.load.1 with no parent "
                             "run; its START event timed 2026-03-01T10:00:03.000Z is of another run, of job tests/etl.load "
                             f"with parent run {dag_run} of job tests/etl, that was given the same run id"), warned
    assert "re-run the step" not in warned and "rename a DAG whose id ends in '.<number>'" in warned


def test_an_event_whose_parent_is_another_run_of_the_same_job_stays_in_the_run(tmp_path: Path) -> None:
    """A parent of the same job at another run id (an Airflow DAG run cleared while its task ran: the scheduler's end
    of the try names the DAG run's new clear number) is not another run given this run id: the START stays."""
    from bundle_support import dataset

    store = str(tmp_path / "store")
    transport = ProvenanceTransport(ProvenanceConfig(store=store))
    run_id, read = str(uuid.uuid4()), dataset("file", "/data/one.csv", "blake3:" + "1" * 64)
    transport.emit(_child_event(run_id, (str(uuid.uuid4()), "etl"), "START", "2026-03-01T10:00:00.000Z", inputs=[read]))
    assert transport.emit(_child_event(run_id, (str(uuid.uuid4()), "etl"), "FAIL", "2026-03-01T10:00:02.000Z")).status == "written"
    bundle = read_bundle(open_store(store), run_id)
    assert bundle.manifest.event_count == 2 and [i.name for i in bundle.manifest.inputs] == ["/data/one.csv"]
    assert not _refusals(Path(store), run_id)


def test_a_late_event_of_a_run_whose_dag_run_was_cleared_is_not_named_another_run(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A run sealed by its end, whose parent is the DAG run's new clear number, then gets a late end naming the parent it
    began with (the same job): sealing keeps both parents as one run, but the write that met the sealed bundle compared
    parent run ids alone and warned that another run was given the run id, with the fix to rename a DAG or task group.
    It is named as events that came after the seal."""
    store = str(tmp_path / "store")
    transport = ProvenanceTransport(ProvenanceConfig(store=store))
    from datetime import datetime, timedelta, timezone

    def at(seconds: float) -> str:  # now and then: the audit names events staged with times after the sealing
        return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    run_id, before, after = str(uuid.uuid4()), (str(uuid.uuid4()), "etl"), (str(uuid.uuid4()), "etl")
    transport.emit(_child_event(run_id, before, "START", at(-20)))
    assert transport.emit(_child_event(run_id, after, "FAIL", at(-10))).status == "written"
    with caplog.at_level("WARNING"):
        assert transport.emit(_child_event(run_id, before, "FAIL", at(1))).status == "already-sealed"
    assert f"run {run_id} was sealed with 2 events before 1 more arrived" in caplog.text
    assert "was given the same run id" not in caplog.text

    from prov_common.audit import run_audit
    from prov_common.audit.model import CHECK_UNFINISHED

    audit = run_audit(open_store(store), Settings.from_env(store=store), report_dir=tmp_path / "report", progress=False)
    (found,) = [f for f in audit.check(CHECK_UNFINISHED).findings if f.run_id == run_id]  # the audit tells it alike
    assert "event was staged for it after that" in found.what and "another run" not in found.what, found.what


def test_a_late_event_of_a_cleared_dag_run_is_not_named_another_run_when_its_sealed_events_pass_the_small_object_bound(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The audit tells a late event of a cleared DAG run from another run's by the parents its sealed events name: it
    read the bundle's events.jsonl no further than layout.SMALL_OBJECT_LIMIT (lowered here), so a run of events each
    under the bound a writer stages, together past it, read as no event, and its late event was named another run's
    with the fix to rename a DAG. The events are read by the size the bundle's manifest gives, as 'tdprov verify' reads them."""
    from datetime import datetime, timedelta, timezone

    from prov_common.audit import run_audit
    from prov_common.audit.model import CHECK_UNFINISHED
    from prov_common.bundle import layout
    from prov_common.bundle.staged import staged_event_limit

    def at(seconds: float) -> str:
        return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    monkeypatch.setattr(layout, "SMALL_OBJECT_LIMIT", LOWERED)
    store = str(tmp_path / "store")
    transport = ProvenanceTransport(ProvenanceConfig(store=store, strict=True))
    run_id, before, after = str(uuid.uuid4()), (str(uuid.uuid4()), "etl"), (str(uuid.uuid4()), "etl")
    size = staged_event_limit(A_STORE_ID) - 1000
    transport.emit(_padded(_child_event(run_id, before, "START", at(-20)), size))
    assert transport.emit(_padded(_child_event(run_id, after, "FAIL", at(-10)), size)).status == "written"
    assert len(read_bundle(open_store(store), run_id).files["events.jsonl"]) > LOWERED  # read by its manifest's size
    assert transport.emit(_child_event(run_id, before, "FAIL", at(1))).status == "already-sealed"
    transport.close()
    audit = run_audit(open_store(store), Settings.from_env(store=store), report_dir=tmp_path / "report", progress=False)
    (found,) = [f for f in audit.check(CHECK_UNFINISHED).findings if f.run_id == run_id]
    assert "1 event was staged for it after that" in found.what and "another run" not in found.what, found.what
    assert "rename a DAG or task group" not in found.fix


def test_a_late_event_planted_unsigned_is_not_named_another_runs(tmp_path: Path) -> None:
    """After a run is sealed, an unsigned event naming another parent run is planted under its staging: the audit names
    it as an event staged after the sealing (with the fix of finding who staged it), not as another run given the
    same run id with the fix of renaming a DAG, which the planted parent alone would say. A signed one still is."""
    from datetime import datetime, timedelta, timezone

    from prov_common.audit import run_audit
    from prov_common.audit.model import CHECK_UNFINISHED

    def at(seconds: float) -> str:
        return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    found = {}
    for signed in (False, True):
        store = str(tmp_path / f"store-{signed}")
        run_id, parent, other = str(uuid.uuid4()), (str(uuid.uuid4()), "etl"), (str(uuid.uuid4()), "etl")
        transport = ProvenanceTransport(ProvenanceConfig(store=store))
        transport.emit(_child_event(run_id, parent, "START", at(-20)))
        assert transport.emit(_child_event(run_id, parent, "COMPLETE", at(-10))).status == "written"
        transport.close()
        late = _child_event(run_id, other, "COMPLETE", at(1))
        raw_put(store, staged_event_key(late), signed_staged(late) if signed else canonical_bytes(late))
        audit = run_audit(open_store(store), Settings.from_env(store=store), report_dir=tmp_path / f"report-{signed}",
                          progress=False)
        (found[signed],) = [f for f in audit.check(CHECK_UNFINISHED).findings if f.run_id == run_id]
        assert (f"run {run_id} was sealed at" in found[signed].what and "1 event" in found[signed].what
                and f"whose parent is run {other[0]}" in found[signed].what) is signed, found[signed].what
    assert "1 event was staged for it after that" in found[False].what
    assert "rename a DAG or task group" not in found[False].fix and "rename a DAG or task group" in found[True].fix


def test_a_late_event_of_another_parent_that_no_sealed_line_holds_is_parsed_with_the_sealed_events_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A signed event of another parent run staged under the run's id, timed before its sealing, matches no line of the
    sealed events.jsonl: the audit parsed those events to compare digests, then again to tell whether they name its
    parent. They are parsed once, and the event is named another run's, with the fix of renaming a DAG."""
    from datetime import datetime, timedelta, timezone

    import prov_common.audit.unfinished as unfinished
    from prov_common.audit import run_audit
    from prov_common.audit.model import CHECK_UNFINISHED

    def at(seconds: float) -> str:
        return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    store = str(tmp_path / "store")
    run_id, parent, other = str(uuid.uuid4()), (str(uuid.uuid4()), "etl"), (str(uuid.uuid4()), "etl")
    transport = ProvenanceTransport(ProvenanceConfig(store=store))
    transport.emit(_child_event(run_id, parent, "START", at(-20)))
    assert transport.emit(_child_event(run_id, parent, "COMPLETE", at(-10))).status == "written"
    transport.close()
    late = _child_event(run_id, other, "START", at(-15))  # before the sealing: no line of the bundle holds it
    raw_put(store, staged_event_key(late), signed_staged(late))
    parsed: list[int] = []
    parse = unfinished.parse_events_jsonl
    monkeypatch.setattr(unfinished, "parse_events_jsonl", lambda data, *a, **k: parsed.append(len(data)) or parse(data, *a, **k))
    audit = run_audit(open_store(store), Settings.from_env(store=store), report_dir=tmp_path / "report", progress=False)
    (found,) = [f for f in audit.check(CHECK_UNFINISHED).findings if f.run_id == run_id]
    assert f"whose parent is run {other[0]}" in found.what and ", before the sealing, staged by a writer" in found.what, found.what
    assert "rename a DAG or task group" in found.fix
    assert parsed == [len(read_bundle(open_store(store), run_id).files["events.jsonl"])], parsed


def _records(run_id: str, count: int) -> dict[str, bytes]:
    """``count`` distinct refusal records of run ``run_id``, by bundle path (one made by the writer, numbered)."""
    from datetime import datetime, timezone

    from prov_common.bundle.refusal import refusal

    path, data = refusal({"run": {"runId": run_id}, "outputs": 7}, BadInputError("field 'outputs' must be a list."),
                         received_at=datetime(2026, 3, 1, tzinfo=timezone.utc))
    return {f"refused/{i:06d}-{path[-37:]}": data.replace(b'"outputs":7', b'"outputs":%d' % i) for i in range(count)}


def test_more_refused_events_than_a_bundle_lists_files_are_sealed_in_one_file_readers_accept(tmp_path: Path) -> None:
    """100,001 refused events (a file each) sealed a bundle whose manifest every reader calls malformed (more than
    MANIFEST_FILES_MAX files): the run's record was lost in effect. Past the bound they are kept in one file, one
    record a line, none dropped, and the bundle verifies."""
    from prov_common.bundle import build_bundle
    from prov_common.bundle.model import MANIFEST_FILES_MAX
    from prov_common.bundle.storage import write_bundle

    run_id = str(uuid.uuid4())
    records = _records(run_id, MANIFEST_FILES_MAX + 1)
    store = tmp_path / "store"
    signer = _transport(store).signer
    assert write_bundle(open_store(str(store)), build_bundle(run_events(run_id), records, signer)).status == "written"
    _verified(store, run_id)
    files = read_bundle(open_store(str(store)), run_id).files
    [(path, lines)] = [(p, d) for p, d in files.items() if p.startswith("refused/")]
    assert path.startswith(f"refused/combined-{MANIFEST_FILES_MAX + 1}-") and path.endswith(".jsonl")
    assert lines == b"".join(records[p] + b"\n" for p in sorted(records))
    assert len(files) == 3


def test_refused_events_past_the_bound_are_combined_by_the_transport_seal_and_counted_by_the_audit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The transport's seal of a run with more refused events than the bound allows (lowered here: staging 100,001
    takes long) keeps them in one file, each record whole, and the audit counts them, not the file."""
    from prov_common.bundle import model

    monkeypatch.setattr(model, "MANIFEST_FILES_MAX", 20)
    store = tmp_path / "store"
    run_id = str(uuid.uuid4())
    start, complete = run_events(run_id)
    transport = _transport(store)
    for i in range(25):
        transport.emit(dict(start, outputs=i))
    assert transport.emit(complete).status == "written"
    transport.close()
    _verified(store, run_id)
    files = read_bundle(open_store(str(store)), run_id).files
    assert sorted(files)[:2] == ["events.jsonl", "prov.json"] and len(files) == 3
    combined = files[sorted(files)[2]]
    assert sorted(files)[2].startswith("refused/combined-25-")
    records = [json.loads(line) for line in combined.splitlines()]
    assert sorted(r["event"]["outputs"] for r in records) == list(range(25))
    assert all("field 'outputs' must be a list" in r["reason"] for r in records)
    (found,) = _unfinished(store, tmp_path, run_id, "report")
    assert "ended COMPLETE, and 25 staged objects of it were refused: they are not" in found.what
    assert found.object == f"bundles/{run_id}/{sorted(files)[2]}" and "combined-<count>-<digest>.jsonl" in found.fix


def test_a_run_with_more_attachments_than_a_bundle_holds_is_not_sealed_and_says_how_to_seal_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """More attachments than a bundle readers accept holds: nothing is written (a bundle every reader called malformed
    was), the run stays staged, the warning (strict: the error) names the run, the count, the bound and the fix, and
    the fix seals it."""
    from bundle_support import raw_delete

    from prov_common.bundle import model

    monkeypatch.setattr(model, "MANIFEST_FILES_MAX", 20)
    store = tmp_path / "store"
    run_id = str(uuid.uuid4())
    start, complete = run_events(run_id)
    transport = _transport(store)
    for i in range(19):  # with events.jsonl and prov.json: 21 files
        transport.attach(run_id, f"extra/{i:02d}.txt", b"%d" % i)
    transport.emit(start)
    said = (f"run {run_id} has 19 attachments, more than a bundle holds (18 beside its events and PROV; readers call a "
            "manifest listing more than 20 files malformed), so it is not sealed and nothing of it is written")
    with caplog.at_level(logging.WARNING):
        assert transport.emit(complete) is None
    assert said in caplog.text and f"then run 'tdprov store seal {run_id}'" in caplog.text
    with pytest.raises(BadInputError, match="remove the attachments past the bound there") as raised:
        _transport(store, strict=True).seal(run_id)
    assert said in raised.value.what
    assert not list(open_store(str(store)).list(f"bundles/{run_id}"))
    staged = list(open_store(str(store)).list(f"staging/{run_id}/"))
    assert len(staged) == 40 and sum("/attachment-signatures/" in k for k in staged) == 19  # each with its signed record
    transport.close()
    raw_delete(str(store), f"staging/{run_id}/attachments/extra/18.txt")
    assert _transport(store).seal(run_id).status == "written"  # as 'tdprov store seal' does, from what is staged
    _verified(store, run_id)
    assert len(read_bundle(open_store(str(store)), run_id).files) == 20


@pytest.mark.parametrize("refused", [True, False])
def test_the_writer_bounds_a_bundle_by_the_constant_readers_bound_a_manifest_by(
        refused: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """One constant bounds both (the tests above lower it): at the bound a bundle is sealed as it is and read; one file
    past it, which readers refuse, the writer combines the refusals or refuses the bundle."""
    from dataclasses import replace

    from prov_common.bundle import Manifest, build_bundle, model
    from prov_common.signing import SigningKey

    monkeypatch.setattr(model, "MANIFEST_FILES_MAX", 5)
    run_id = str(uuid.uuid4())
    files = _records(run_id, 4) if refused else {f"extra/{i}": b"x" for i in range(4)}
    at_bound = build_bundle(run_events(run_id), dict(list(files.items())[:3]), SigningKey.generate())
    assert len(Manifest.from_json(at_bound.manifest_bytes).files) == 5 and len(at_bound.files) == 5
    one_more = replace(at_bound.manifest, files=(*at_bound.manifest.files, at_bound.manifest.files[-1]))
    with pytest.raises(ValueError, match=r"it lists 6 files, more than a bundle tdprov writes holds \(5\)"):
        Manifest.from_json(one_more.to_json())
    if not refused:
        with pytest.raises(BadInputError, match=f"run {run_id} has 4 attachments, more than a bundle holds \\(3 beside"):
            build_bundle(run_events(run_id), files, SigningKey.generate())
        return
    past = build_bundle(run_events(run_id), files, SigningKey.generate())
    assert [f.path.split("-", 2)[:2] for f in Manifest.from_json(past.manifest_bytes).files] == [
        ["events.jsonl"], ["prov.json"], ["refused/combined", "4"]]


def test_the_planted_error_an_audit_state_carries_keeps_its_own_key_when_its_fix_is_reworded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The audit state carries the error of a run holding a planted event to the next audits, which told it from the
    run's missing end by its fix text: with that text reworded since the state was written, it was keyed as the missing
    end, so an acceptance of the run filed both under ``["unended", RUN]`` and one recorded for the missing end alone
    covered it. The state keeps each finding's kind beside it (``findingKinds``); a state without them (an older
    tdprov's) is told apart by the text."""
    from prov_common.audit import accepted, unended

    store = tmp_path / "store"
    run_id = _ended_malformed_with_an_unsigned_event_planted(store)
    first = [f.what for f in _audited(store, tmp_path, "first").errors if f.run_id == run_id and f.check == "unfinished"]
    assert sum("holds 1 staged object that its seal refused" in w for w in first) == 1 and len(first) == 2, first
    reworded = "find who can write staging/ (reworded)"
    monkeypatch.setattr(unended, "FIX_PLANTED", reworded)
    monkeypatch.setattr(accepted, "PLANTED_FIXES", (reworded,))
    result = _audited(store, tmp_path, "accepted", accept=run_id[:8])
    assert [c for a in result.accepted for c in a["covers"] if c[0] != "input"] == [["unended", run_id], ["planted", run_id]]
    assert not [f for f in result.errors if f.run_id == run_id]


def test_an_audit_state_keeps_the_kind_of_each_finding_beside_it_and_one_without_is_read_by_the_text(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The unfinished errors of a run keep their kind through the audit state, apart from the findings an older tdprov
    reads (``findingKinds``); the findings of a state written before them are keyed by their fix text, the one audits
    write now or the one they wrote before it said what a refused/ entry of a large attachment holds."""
    from prov_common.audit import accepted, unended
    from prov_common.audit.accepted import end_key, unended_key
    from prov_common.audit.model import CHECK_UNFINISHED, Finding
    from prov_common.audit.state import CheckState

    run_id = str(uuid.uuid4())
    sown = Finding(CHECK_UNFINISHED, f"bundles/{run_id}/refused/a.json", "holds 1 staged object", unended.FIX_PLANTED,
                   run_id=run_id, kind=unended.PLANTED)
    ended = Finding(CHECK_UNFINISHED, f"bundles/{run_id}/refused/b.json", "was sealed without", unended.FIX_REFUSED,
                    run_id=run_id, kind=unended.UNENDED)
    saved = json.loads(json.dumps(CheckState(findings=[ended, sown]).to_dict()))
    assert saved["findingKinds"] == {"0": "unended", "1": "planted"}
    assert all("kind" not in f for f in saved["findings"])  # as an older tdprov reads them (Finding(**f))
    older = dict(saved)
    del older["findingKinds"]
    assert [end_key(f) for f in CheckState.from_dict(older).findings] == [unended_key(run_id), ("planted", run_id)]
    written_before = ("someone who can write the store's staging/ put them into the run's staging, where no writer of the "
                      "run staged them: find who can write staging/, and take those credentials away (each refused/ entry "
                      "holds the object as staged and why it was refused; the run's record holds none of them); if a writer "
                      "of yours signed one with a key the sealer did not trust, trust that key (TDPROV_TRUSTED_KEYS) for the "
                      "next runs; once checked, 'tdprov audit --accept-finding RUN_ID --reason TEXT' accepts this finding "
                      "(recorded)")
    assert written_before != unended.FIX_PLANTED
    older["findings"] = [{**f, "fix": written_before} if f["fix"] == unended.FIX_PLANTED else f for f in older["findings"]]
    assert [end_key(f) for f in CheckState.from_dict(older).findings] == [unended_key(run_id), ("planted", run_id)]
    monkeypatch.setattr(accepted, "PLANTED_FIXES", ("reworded",))
    assert [end_key(f) for f in CheckState.from_dict(saved).findings] == [unended_key(run_id), ("planted", run_id)]
