"""Building a bundle in memory: deterministic bytes, manifest, in-toto statement, attachments."""
from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import datetime, timezone

import blake3
import pytest

from bundle_support import dataset, event, run_events
from prov_common.bundle import BundleBuilder, Manifest, build_bundle, rows_path, samples_path
from prov_common.canonical_json import canonical_bytes, loads
from prov_common.errors import BadInputError
from prov_common.signing import SigningKey, TrustStore, verify_envelope
from prov_common.signing.dsse import Envelope
from prov_common.w3cprov import events_to_document, serialize

SEALED = datetime(2026, 3, 1, 10, 1, tzinfo=timezone.utc)


def test_bundle_files_manifest_and_statement() -> None:
    key = SigningKey.generate()
    events = run_events()
    run_id = events[0]["run"]["runId"]
    bundle = build_bundle(list(reversed(events)), {samples_path("s3://lake", "clean/users"): b"PAR1"}, key, sealed_at=SEALED)

    lines = bundle.files["events.jsonl"].splitlines()
    assert [loads(line)["eventType"] for line in lines] == ["START", "COMPLETE"]  # sorted by eventTime
    assert lines == [canonical_bytes(e) for e in events]
    assert bundle.files["prov.json"] == serialize(events_to_document(events), "json")
    assert set(bundle.files) == {"events.jsonl", "prov.json", samples_path("s3://lake", "clean/users")}

    manifest = loads(bundle.manifest_bytes)
    assert bundle.manifest_bytes == canonical_bytes(manifest)
    assert manifest["runId"] == run_id and manifest["state"] == "COMPLETE"
    assert manifest["sealedAt"] == "2026-03-01T10:01:00Z" and manifest["endedAt"] == "2026-03-01T10:00:05Z"
    assert [(f["path"], f["size"]) for f in manifest["files"]] == sorted((p, len(d)) for p, d in bundle.files.items())
    for entry in manifest["files"]:
        assert entry["digest"] == "blake3:" + blake3.blake3(bundle.files[entry["path"]]).hexdigest()
    assert Manifest.from_json(bundle.manifest_bytes) == bundle.manifest

    envelope = loads(bundle.statement_bytes)
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    assert envelope["signatures"][0]["keyid"] == key.key_id
    statement = loads(base64.b64decode(envelope["payload"]))
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["subject"] == [{"name": "s3://lake/clean/users.parquet", "digest": {"blake3": "2" * 64},
                                     "annotations": {"namespace": "s3://lake", "name": "clean/users.parquet"}}]
    assert statement["predicateType"] == "https://tdprov.dev/lineage-bundle/v1"
    predicate = statement["predicate"]
    assert predicate["runId"] == run_id and predicate["job"] == {"namespace": "tests", "name": "train_features"}
    assert predicate["inputs"] == [{"name": "s3://lake/raw/users.parquet", "digest": {"blake3": "1" * 64},
                                    "annotations": {"namespace": "s3://lake", "name": "raw/users.parquet"}}]
    assert predicate["manifest"] == {"name": "manifest.json", "digest": {"blake3": blake3.blake3(bundle.manifest_bytes).hexdigest(),
                                                                         "sha256": hashlib.sha256(bundle.manifest_bytes).hexdigest()}}
    assert verify_envelope(Envelope.from_json(bundle.statement_bytes), TrustStore.of([key.public])) == key.key_id


def test_same_input_same_bytes_and_duplicates_collapse() -> None:
    key = SigningKey.generate()
    events = run_events()
    a = build_bundle(events, {}, key, sealed_at=SEALED)
    b = build_bundle([events[1], events[0], dict(events[0])], {}, key, sealed_at=SEALED)
    assert (a.files, a.manifest_bytes, a.statement_bytes) == (b.files, b.manifest_bytes, b.statement_bytes)
    assert a.manifest.event_count == 2


def test_run_without_hashed_outputs_is_attested_through_its_manifest() -> None:
    run_id = str(uuid.uuid4())
    events = [event(run_id, "START", "2026-03-01T10:00:00Z"), event(run_id, "FAIL", "2026-03-01T10:00:01Z",
              outputs=[dataset("file", "/tmp/out.csv")])]
    bundle = build_bundle(events, None, SigningKey.generate(), sealed_at=SEALED)
    statement = loads(base64.b64decode(loads(bundle.statement_bytes)["payload"]))
    assert statement["subject"] == [{"name": f"bundles/{run_id}/manifest.json", "digest": {
        "blake3": blake3.blake3(bundle.manifest_bytes).hexdigest(), "sha256": hashlib.sha256(bundle.manifest_bytes).hexdigest()}}]
    assert statement["predicate"]["state"] == "FAIL"
    assert statement["predicate"]["outputs"] == [{"name": "file:///tmp/out.csv",
                                                  "annotations": {"namespace": "file", "name": "/tmp/out.csv", "version": None}}]


def test_builder_collects_events_and_attachments() -> None:
    key = SigningKey.generate()
    events = run_events()
    builder = BundleBuilder(key)
    for e in events:
        builder.add_event(e)
    builder.attach(rows_path("s3://lake", "clean/users"), b"rows")
    bundle = builder.build(sealed_at=SEALED)
    assert bundle.files[rows_path("s3://lake", "clean/users")] == b"rows"
    assert bundle == build_bundle(events, {rows_path("s3://lake", "clean/users"): b"rows"}, key, sealed_at=SEALED)


def test_bad_inputs_are_named() -> None:
    key = SigningKey.generate()
    with pytest.raises(BadInputError, match="events of 2 runs"):
        build_bundle(run_events() + run_events(), {}, key)
    with pytest.raises(BadInputError, match="no events"):
        build_bundle([], {}, key)
    with pytest.raises(BadInputError, match="eventTime"):
        build_bundle([{**run_events()[0], "eventTime": "yesterday"}], {}, key)
    for name in ("manifest.json", "quality", "../x", "quality/../../x", "other/x.parquet"):
        with pytest.raises(BadInputError):
            build_bundle(run_events(), {name: b"x"}, key)
    with pytest.raises(BadInputError, match="not bytes"):
        build_bundle(run_events(), {"quality/x.parquet": "text"}, key)  # type: ignore[dict-item]
    with pytest.raises(BadInputError, match="field 'run.runId' must be a UUID, got 'a/b'"):
        build_bundle(run_events("a/b"), {}, key)


@pytest.mark.parametrize(("field", "value", "named"), [("run", None, "field 'run' is missing"),
                                                       ("eventType", ["COMPLETE"], "field 'eventType' must be a non-empty string")])
def test_an_event_of_another_shape_is_named_before_it_is_ordered(field: str, value: object, named: str) -> None:
    """Ordering a run's events read ``run.runId`` and ranked ``eventType`` of an unchecked event, so a ``run`` that is
    null or an ``eventType`` that is a list stopped build_bundle (and verify) with an AttributeError or TypeError."""
    events = run_events()
    events[1][field] = value
    with pytest.raises(BadInputError, match=f"OpenLineage event #1 .*: {named}"):
        build_bundle(events, {}, SigningKey.generate())


def test_a_mapped_row_set_is_hashed_a_part_at_a_time_into_the_same_bundle(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The manifest's digest of a row set mapped from its file is taken a part at a time (``mapped.PART``), each
    part's pages given back once hashed, never the whole view in one call; the bundle's bytes, manifest and
    signed statement are those of the same row set given as bytes."""
    import os

    import prov_common.hashing.raw as raw
    import prov_common.mapped as mapped
    from rows_support import mapped_rows, resident

    monkeypatch.setattr(mapped, "PART", 64 << 10)
    data = os.urandom((8 << 20) + 12345)
    view = mapped_rows(tmp_path, data)
    hashed: list[tuple[int, int]] = []  # (bytes given to the hasher, bytes of the row set resident then)

    class Hasher:
        AUTO = blake3.blake3.AUTO

        def __init__(self, data: bytes = b"", **options) -> None:
            self._h = blake3.blake3(**options)
            self.update(data)

        def update(self, part) -> None:
            if isinstance(part, memoryview) and part.obj is view.obj:  # the row set's, not the bundle's other files
                hashed.append((len(part), resident(view)))
            self._h.update(part)

        def digest(self) -> bytes:
            return self._h.digest()

    key, path, events = SigningKey.generate(), rows_path("s3://lake", "clean/users"), run_events()
    as_bytes = build_bundle(events, {path: data}, key, sealed_at=SEALED)
    monkeypatch.setattr(raw, "blake3", Hasher)
    mapped_bundle = build_bundle(events, {path: view}, key, sealed_at=SEALED)
    assert [size for size, _ in hashed] == [64 << 10] * 128 + [12345]
    # never the whole row set resident: the part hashed now and what the system maps around it (a large folio)
    assert max(held for _, held in [*hashed, (0, resident(view))]) <= (8 << 20) // 2, hashed
    assert (mapped_bundle.manifest_bytes, mapped_bundle.statement_bytes) == (as_bytes.manifest_bytes, as_bytes.statement_bytes)
    assert {p: bytes(d) for p, d in mapped_bundle.files.items()} == {p: bytes(d) for p, d in as_bytes.files.items()}


def test_a_seal_checks_each_event_once(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sealing a run checked each event twice: once to order the events and again to fold them into the run's PROV
    (40,004 checks for a run of 20,002 events, about half the seal's CPU). A run sealed through the transport checks
    each of its events once, and its bundle holds the same events and PROV."""
    import prov_common.bundle.events as bundle_events
    import prov_common.w3cprov.event_lines as event_lines
    import prov_common.w3cprov.events as w3c_events

    checked: list[str] = []
    for module in (bundle_events, w3c_events, event_lines):
        real = module.check_event
        monkeypatch.setattr(module, "check_event", lambda index, event, *, _real=real, **options:
                            checked.append(event["eventType"]) or _real(index, event, **options))
    _seal_here_each_checked_once(tmp_path, checked)


def test_a_seal_does_not_check_again_the_events_this_process_staged(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sealing a run checked each event this process had staged against the facet schemas again as it read it back,
    though the process had checked it before staging it (two such checks of each event of a run sealed where it ran).
    An event whose bytes the process holds since that check is taken without it (an event read from the store is
    checked: see test_transport_refusal.py), and the bundle holds the same events and PROV."""
    import prov_common.lineage.validate as validate

    checked: list[str] = []
    real = validate.parse_run_event

    def counted(event, **options):  # noqa: ANN001, ANN202
        if options.get("facet_schemas"):
            checked.append((event if isinstance(event, dict) else loads(event))["eventType"])
        return real(event, **options)

    monkeypatch.setattr(validate, "parse_run_event", counted)
    _seal_here_each_checked_once(tmp_path, checked)


def _seal_here_each_checked_once(tmp_path, checked: list[str]) -> None:  # noqa: ANN001
    """Emit a run's START, RUNNING and COMPLETE through a strict transport (sealed where it ran), then assert that
    ``checked`` (filled by the caller's counting wrapper) names each event once and that the bundle holds the events
    and PROV of the three, byte for byte."""
    from prov_common.bundle import read_bundle
    from prov_common.bundle.events import events_jsonl
    from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport
    from prov_common.store import open_store

    start, complete = run_events()
    running = {**start, "eventType": "RUNNING", "eventTime": "2026-03-01T10:00:02.000Z"}
    transport = ProvenanceTransport(ProvenanceConfig(store=str(tmp_path / "store"), strict=True))
    for e in (start, running, complete):
        transport.emit(e)
    assert sorted(checked) == ["COMPLETE", "RUNNING", "START"], checked
    files = read_bundle(open_store(str(tmp_path / "store")), start["run"]["runId"]).files
    assert files["events.jsonl"] == events_jsonl([start, running, complete])
    assert files["prov.json"] == serialize(events_to_document([start, running, complete]), "json")


def test_a_bundle_writes_each_events_canonical_json_once() -> None:
    """Building a bundle wrote each event's canonical JSON twice: to read it back before it was ordered, and again for
    ``events.jsonl``. It is written once and kept for the file, but for an event whose floats do not come back as
    they were (``1e20`` reads back as an integer too large to write: refused as before), written again from what was
    read back; the file is the same."""
    import prov_common.bundle.events as bundle_events
    from prov_common.bundle.events import events_jsonl

    start, complete = run_events()
    floats = {**complete, "run": {**complete["run"], "facets": {"x": {"_producer": "p", "_schemaURL": "https://p/s.json",
                                                                      "half": 1.5, "two": 2.0}}}}
    written: list[str] = []

    def counted(real):  # noqa: ANN001, ANN202 - a wrapper of either writer of canonical JSON
        return lambda value: (written.append(value["eventType"]) if "eventType" in value else None) or real(value)

    with pytest.MonkeyPatch.context() as patch:
        for name in ("canonical_form", "canonical_bytes"):
            if hasattr(bundle_events, name):
                patch.setattr(bundle_events, name, counted(getattr(bundle_events, name)))
        plain = build_bundle([complete, start], None, SigningKey.generate(), sealed_at=SEALED)
        assert sorted(written) == ["COMPLETE", "START"], written
        with_floats = build_bundle([floats, start], None, SigningKey.generate(), sealed_at=SEALED)
    assert plain.files["events.jsonl"] == events_jsonl([start, complete])
    assert with_floats.files["events.jsonl"] == events_jsonl([start, loads(canonical_bytes(floats))])
    assert b'{"_producer":"p","_schemaURL":"https://p/s.json","half":1.5,"two":2}' in with_floats.files["events.jsonl"]
    floats["run"]["facets"]["x"]["two"] = 1e20
    with pytest.raises(BadInputError, match="100000000000000000000 exceeds safe integer domain"):
        build_bundle([floats, start], None, SigningKey.generate(), sealed_at=SEALED)
