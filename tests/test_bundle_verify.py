"""Verifying stored bundles on both backends: every tampering is found and the object is named. A case that differs
from another only in what verify makes of what it reads (which index entries a run has, whether events are parsed) runs
on the local folder, its S3 reads, listings and deletes being those of a case kept on S3."""
from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from bundle_support import raw_delete, raw_put, run_events
from prov_common.bundle import Bundle, build_bundle, samples_path, verify_bundle, write_bundle
from prov_common.bundle.build import statement_for
from prov_common.bundle.model import FileEntry, Manifest, blake3_digest
from prov_common.canonical_json import canonical_bytes, loads
from prov_common.signing import INTOTO_PAYLOAD_TYPE, Envelope, Signature, SigningKey, TrustStore, sign_envelope
from prov_common.store import open_store
from prov_common.store.identity import writer_store_id

SEALED = datetime(2026, 3, 1, 10, 1, tzinfo=timezone.utc)
SAMPLES = samples_path("s3://lake", "clean/users")


@pytest.fixture
def signed(store_uri: str):
    """A stored bundle with an attachment, its signing key and the trust that accepts it."""
    key = SigningKey.generate()
    bundle = build_bundle(run_events(), {SAMPLES: b"PAR1 samples PAR1"}, key, sealed_at=SEALED)
    store = open_store(store_uri)
    assert write_bundle(store, bundle).status == "written"
    return store, bundle, TrustStore.of([key.public])


def _problems(report) -> list[tuple[str, str]]:
    return sorted((f.key, f.problem) for f in report.findings)


def test_intact_bundle_verifies_and_names_its_key(signed) -> None:
    store, bundle, trust = signed
    report = verify_bundle(store, bundle.run_id, trust)
    assert report.ok, report.findings
    assert report.key_id == bundle.key_id and report.checked == 6  # 4 files, statement, index record


@pytest.mark.parametrize("path", ["events.jsonl", "prov.json", SAMPLES, "manifest.json", "statement.dsse.json"])
def test_flipped_byte_in_any_file_is_found_and_named(signed, store_uri: str, path: str) -> None:
    store, bundle, trust = signed
    key = f"bundles/{bundle.run_id}/{path}"
    data = bytearray(store.get(key))
    data[len(data) // 2] ^= 0x01
    raw_put(store_uri, key, bytes(data))
    report = verify_bundle(store, bundle.run_id, trust)
    assert not report.ok
    assert key in {f.key for f in report.findings}, report.findings
    problems = {f.problem for f in report.findings if f.key == key}
    if path == "statement.dsse.json":
        assert problems & {"bad signature", "malformed"}
    else:
        assert "digest mismatch" in problems


@pytest.mark.parametrize("path", ["events.jsonl", "prov.json"])
def test_a_grown_events_or_prov_file_is_a_digest_mismatch_naming_the_listed_size(signed, store_uri: str, path: str) -> None:
    """Bytes appended to the events or the PROV document: they are read no further than the size the manifest lists, and
    the finding was 'unreadable: ... is larger than N bytes.', where a file cut short or of other bytes of that size is a
    digest mismatch: it is one as well (not the file sealed), naming the size the manifest lists."""
    store, bundle, trust = signed
    key = f"bundles/{bundle.run_id}/{path}"
    listed = next(f.size for f in bundle.manifest.files if f.path == path)
    raw_put(store_uri, key, store.get(key) + b"\n")
    report = verify_bundle(store, bundle.run_id, trust)
    assert [(f.key, f.problem, f.reason) for f in report.findings] == [
        (key, "digest mismatch", f"more bytes than the {listed:,} the manifest says it holds (not read further)")]
    assert report.checked == 6


def test_deleted_manifest_entry_is_found(signed, store_uri: str) -> None:
    store, bundle, trust = signed
    manifest = loads(bundle.manifest_bytes)
    manifest["files"] = [f for f in manifest["files"] if f["path"] != SAMPLES]
    raw_put(store_uri, f"bundles/{bundle.run_id}/manifest.json", canonical_bytes(manifest))
    problems = _problems(verify_bundle(store, bundle.run_id, trust))
    prefix = f"bundles/{bundle.run_id}/"
    assert (prefix + "manifest.json", "digest mismatch") in problems
    assert (prefix + SAMPLES, "unlisted object") in problems


def test_deleted_file_is_missing(signed, store_uri: str) -> None:
    store, bundle, trust = signed
    raw_delete(store_uri, f"bundles/{bundle.run_id}/prov.json")
    assert _problems(verify_bundle(store, bundle.run_id, trust)) == [(f"bundles/{bundle.run_id}/prov.json", "missing")]


def test_untrusted_key_fails_and_names_the_signer(signed) -> None:
    store, bundle, _ = signed
    report = verify_bundle(store, bundle.run_id, TrustStore.of([SigningKey.generate().public]))
    assert not report.ok and report.key_id is None
    assert _problems(report) == [(f"bundles/{bundle.run_id}/statement.dsse.json", "untrusted key")]
    assert bundle.key_id in report.findings[0].reason and report.claimed_key_ids == (bundle.key_id,)
    assert not verify_bundle(store, bundle.run_id, TrustStore()).ok


def _restamp(bundle: Bundle, *, files: dict[str, bytes] | None = None, signers=None) -> Bundle:
    """The bundle with other file bytes, a manifest that matches them, and a statement signed by ``signers``."""
    files = files or bundle.files
    m = bundle.manifest
    manifest = Manifest(**{**m.__dict__, "files": tuple(FileEntry(p, blake3_digest(d), len(d)) for p, d in sorted(files.items()))})
    payload = statement_for(manifest, blake3_digest(manifest.to_json()))
    envelope = sign_envelope(payload, INTOTO_PAYLOAD_TYPE, signers) if signers else Envelope(payload, INTOTO_PAYLOAD_TYPE, ())
    return Bundle(bundle.run_id, files, manifest, manifest.to_json(), envelope.to_json(), "")


def test_unsigned_bundle_fails(store_uri: str) -> None:
    key = SigningKey.generate()
    unsigned = _restamp(build_bundle(run_events(), {}, key, sealed_at=SEALED))
    store = open_store(store_uri)
    write_bundle(store, unsigned)
    report = verify_bundle(store, unsigned.run_id, TrustStore.of([key.public]))
    assert _problems(report) == [(f"bundles/{unsigned.run_id}/statement.dsse.json", "unsigned")]
    assert not report.ok


@pytest.mark.parametrize("store_uri,signer", [("local", "none"), ("local", "untrusted"), ("local", "the statement of the bundle before"),
                                              ("s3", "none")], indirect=["store_uri"],
                         ids=["local-none", "local-untrusted", "local-the statement of the bundle before", "s3-none"])
def test_events_under_a_manifest_no_trusted_signature_names_are_never_parsed(store_uri: str, signer: str, monkeypatch) -> None:
    """A forged events.jsonl (one event line repeated) under a manifest giving its own digest and size, unsigned, signed
    by a key not trusted, or beside the statement of the manifest before: verify parsed the whole file to rebuild the
    bundle (130,000 repeats, 139 MB, cost 950 MB and 46 s) though the manifest already fails. It is named by that
    failure alone, and the events are not parsed."""
    from prov_common.bundle import verify as verify_module

    key = SigningKey.generate()
    good = build_bundle(run_events(), {}, key, sealed_at=SEALED)
    repeated = {**good.files, "events.jsonl": good.files["events.jsonl"].splitlines(keepends=True)[0] * 1000}
    forged = _restamp(good, files=repeated, signers={"none": None, "the statement of the bundle before": None,
                                                     "untrusted": [SigningKey.generate()]}[signer])
    if signer == "the statement of the bundle before":
        forged = replace(forged, statement_bytes=good.statement_bytes)
    write_bundle(open_store(store_uri), forged)
    parsed, real_parse = [], verify_module.parse_events_jsonl
    monkeypatch.setattr(verify_module, "parse_events_jsonl", lambda data, name: parsed.append(name) or real_parse(data, name))
    report = verify_bundle(open_store(store_uri), forged.run_id, TrustStore.of([key.public]))
    prefix = f"bundles/{forged.run_id}/"
    expected = {"none": [(prefix + "statement.dsse.json", "unsigned")],
                "untrusted": [(prefix + "statement.dsse.json", "untrusted key")],
                "the statement of the bundle before": [(prefix + "manifest.json", "digest mismatch")]}[signer]
    assert parsed == [] and _problems(report) == expected, report.findings


def test_prov_that_does_not_follow_from_events_is_found_even_when_signed(store_uri: str) -> None:
    key = SigningKey.generate()
    good = build_bundle(run_events(), {}, key, sealed_at=SEALED)
    other = build_bundle(run_events(), {}, key, sealed_at=SEALED)  # another run's PROV
    forged = _restamp(good, files={**good.files, "prov.json": other.files["prov.json"]}, signers=[key])
    store = open_store(store_uri)
    write_bundle(store, forged)
    report = verify_bundle(store, forged.run_id, TrustStore.of([key.public]))
    assert _problems(report) == [(f"bundles/{forged.run_id}/prov.json", "inconsistent")]
    assert report.key_id == key.key_id and not report.ok


def test_manifest_summary_that_lies_about_outputs_is_found(store_uri: str) -> None:
    key = SigningKey.generate()
    good = build_bundle(run_events(), {}, key, sealed_at=SEALED)
    lying = Manifest(**{**good.manifest.__dict__, "state": "COMPLETE", "outputs": ()})
    payload = statement_for(lying, blake3_digest(lying.to_json()))
    forged = Bundle(good.run_id, good.files, lying, lying.to_json(), sign_envelope(payload, INTOTO_PAYLOAD_TYPE, [key]).to_json(), key.key_id)
    store = open_store(store_uri)
    write_bundle(store, forged)
    findings = verify_bundle(store, forged.run_id, TrustStore.of([key.public])).findings
    assert [(f.problem, "outputs" in f.reason) for f in findings] == [("inconsistent", True)]


def test_incomplete_and_absent_bundles_never_pass(store_uri: str) -> None:
    key = SigningKey.generate()
    bundle = build_bundle(run_events(), {}, key, sealed_at=SEALED)
    store = open_store(store_uri)
    for path, data in bundle.files.items():
        store.put(f"bundles/{bundle.run_id}/{path}", data)
    store.put(f"bundles/{bundle.run_id}/manifest.json", bundle.manifest_bytes)
    report = verify_bundle(store, bundle.run_id, TrustStore.of([key.public]))
    assert _problems(report) == [(f"bundles/{bundle.run_id}/statement.dsse.json", "missing")] and not report.ok
    absent = str(uuid.uuid4())
    assert _problems(verify_bundle(store, absent, TrustStore.of([key.public]))) == [(f"bundles/{absent}/", "missing")]


def test_index_entry_must_summarise_the_bundle(signed, store_uri: str) -> None:
    store, bundle, trust = signed
    [key] = list(store.list("index/"))
    assert verify_bundle(store, bundle.run_id, trust, [key]).ok
    summary = loads(store.get(key))
    summary["state"] = "FAIL"
    raw_put(store_uri, key, canonical_bytes(summary))
    report = verify_bundle(store, bundle.run_id, trust, [key])
    assert _problems(report) == [(key, "inconsistent")] and "state" in report.findings[0].reason


def test_whitespace_added_to_the_envelope_is_found(signed, store_uri: str) -> None:
    """The payload and signatures survive JSON whitespace; the changed bytes must not."""
    store, bundle, trust = signed
    key = f"bundles/{bundle.run_id}/statement.dsse.json"
    raw_put(store_uri, key, b"\t" + store.get(key))
    report = verify_bundle(store, bundle.run_id, trust)
    assert not report.ok
    assert (key, "altered") in _problems(report)


@pytest.mark.parametrize("added", ["garbage after", "garbage before", "untrusted key before"])
def test_a_signature_added_to_the_envelope_is_found(signed, store_uri: str, added: str) -> None:
    """A bundle is sealed with one signature. One added beside it (garbage under the trusted key id, before or after
    it, or a valid one by a key not trusted) leaves the trusted signature valid, and verify took the bundle as sealed
    (securesystemslib's DSSE check, with a threshold of one, accepts the one by another key); verify names the stored
    statement as altered, with the keys."""
    store, bundle, trust = signed
    key = f"bundles/{bundle.run_id}/statement.dsse.json"
    envelope = Envelope.from_json(store.get(key))
    other = SigningKey.generate()
    extra = (sign_envelope(envelope.payload, envelope.payload_type, [other]).signatures[0] if added == "untrusted key before"
             else Signature(bundle.key_id, b"\x00" * 64))
    sigs = (*envelope.signatures, extra) if added == "garbage after" else (extra, *envelope.signatures)
    raw_put(store_uri, key, replace(envelope, signatures=sigs).to_json())
    report = verify_bundle(store, bundle.run_id, trust)
    assert _problems(report) == [(key, "altered")], report.findings
    assert report.key_id == bundle.key_id
    assert report.findings[0].reason == (
        f"it holds 2 signatures where tdprov signs with one: beside the valid signature by {bundle.key_id}, the one "
        f"by {extra.keyid} was added after signing; restore it from a backup or replica of the store")


def test_building_and_verifying_fold_the_events_once_and_hash_each_file_once(signed, monkeypatch) -> None:
    """The events are folded into a run state once, and no bytes are hashed twice, when building
    and when verifying (the manifest's entries and digest are reused, not recomputed)."""
    import collections

    from prov_common.bundle import build as build_module
    from prov_common.bundle import verify as verify_module
    from prov_common.w3cprov import event_lines as lines_module
    from prov_common.w3cprov import events as events_module

    store, bundle, trust = signed
    folds, hashed = [], collections.Counter()
    real_fold, real_hash = events_module.fold_ordered, build_module.blake3_digest
    for module in (events_module, lines_module):  # folded whole (building), or line by line (verifying)
        monkeypatch.setattr(module, "fold_ordered", lambda checked, *rest: folds.append(1) or real_fold(checked, *rest))
    for module in (build_module, verify_module):
        monkeypatch.setattr(module, "blake3_digest", lambda data: hashed.update([bytes(data)]) or real_hash(data))

    rebuilt = build_bundle(run_events(bundle.run_id), {SAMPLES: b"PAR1 samples PAR1"}, SigningKey.generate(), sealed_at=SEALED)
    assert len(folds) == 1 and set(hashed.values()) == {1} and len(hashed) == 4  # 3 files and the manifest
    folds.clear(), hashed.clear()

    streamed, real_stored = collections.Counter(), verify_module.hash_stored
    monkeypatch.setattr(verify_module, "hash_stored", lambda store_, key, **kw: streamed.update([key]) or real_stored(store_, key, **kw))
    report = verify_bundle(store, bundle.run_id, trust, [store.get(f"bundles/{bundle.run_id}/indexed").decode()])
    assert report.ok, report.findings
    assert len(folds) == 1 and set(hashed.values()) == {1}
    assert set(hashed) == {*(d for p, d in bundle.files.items() if p != SAMPLES), bundle.manifest_bytes}
    assert streamed == {f"bundles/{bundle.run_id}/{SAMPLES}": 1}  # the attachment: one streamed pass
    assert rebuilt.files == bundle.files


def test_verify_runs_all_since_or_named(store_uri: str) -> None:
    from prov_common.bundle.verify_runs import verify_runs

    key = SigningKey.generate()
    store, trust = open_store(store_uri), TrustStore.of([key.public])
    first = build_bundle(run_events(), {}, key, sealed_at=SEALED)
    write_bundle(store, first)
    between = datetime.now(timezone.utc)
    second = build_bundle(run_events(), {}, key, sealed_at=SEALED)
    write_bundle(store, second)
    everything = verify_runs(store, trust)
    assert len(everything) == 2 and all(r.ok and r.checked == 6 for r in everything)  # 5 objects and the index entry
    assert [r.run_id for r in verify_runs(store, trust, since=between)] == [second.run_id]
    named = list(verify_runs(store, trust, [second.run_id, second.run_id]))
    assert [(r.run_id, r.ok, r.checked) for r in named] == [(second.run_id, True, 6)]  # and the index entry its record names


def test_a_named_run_is_verified_reading_each_object_once(tmp_path) -> None:
    """Verifying a run by its id (its index not listed) reads its ``indexed`` record once, to check it and to
    find the entry it names; an entry altered, or the record naming another run's, is still found."""
    from counting_store import CountingStore

    from prov_common.bundle.verify_runs import verify_runs

    key = SigningKey.generate()
    store, trust = CountingStore(tmp_path / "store"), TrustStore.of([key.public])
    bundle = build_bundle(run_events(), {}, key, sealed_at=SEALED)
    write_bundle(store, bundle)
    store.gets.clear()
    (report,) = verify_runs(store, trust, [bundle.run_id], workers=1)
    assert report.ok and report.checked == 6 and set(store.gets.values()) == {1}, store.gets
    [entry] = store.list("index/")
    summary = loads(store.get(entry))
    summary["state"] = "FAIL"
    raw_put(str(tmp_path / "store"), entry, canonical_bytes(summary))
    (report,) = verify_runs(store, trust, [bundle.run_id], workers=1)
    assert _problems(report) == [(entry, "inconsistent")]
    raw_put(str(tmp_path / "store"), f"bundles/{bundle.run_id}/indexed", entry.replace(bundle.run_id, str(uuid.uuid4())).encode())
    (report,) = verify_runs(store, trust, [bundle.run_id], workers=1)
    assert _problems(report) == [(f"bundles/{bundle.run_id}/indexed", "inconsistent")]


def test_a_run_folder_linked_to_a_copy_outside_the_store_is_named_unreadable(tmp_path) -> None:
    """A local run's folder replaced by a symbolic link to a copy outside the store is listed as one object, so nothing is
    listed under it: verify said 'no bundle objects for this run' (and the CLI 'check the id'), where it named the link
    before such links were listed as one object. It names the link, as a read refuses it."""
    import shutil

    key = SigningKey.generate()
    bundle = build_bundle(run_events(), {}, key, sealed_at=SEALED)
    root = tmp_path / "store"
    store = open_store(str(root))
    assert write_bundle(store, bundle).status == "written"
    folder, copy = root / "bundles" / bundle.run_id, tmp_path / "copy"
    shutil.move(folder, copy)
    folder.symlink_to(copy)
    report = verify_bundle(store, bundle.run_id, TrustStore.of([key.public]))
    assert _problems(report) == [(f"bundles/{bundle.run_id}/manifest.json", "unreadable")] and not report.ok
    assert report.findings[0].reason == (f"object 'bundles/{bundle.run_id}/manifest.json' in local folder {root} cannot be "
                                         f"read: {folder} is a symbolic link (to {copy}), and tdprov writes only files and "
                                         "folders in a store.")


def _airflow_try(try_number: int, map_index: int) -> list[dict]:
    """:func:`run_events` of a mapped Airflow task's try: each event with the provider's ``airflow`` run facet."""
    events = run_events()
    for e in events:
        e["run"].setdefault("facets", {})["airflow"] = {"taskInstance": {"try_number": try_number, "map_index": map_index, "pool": "p"}}
    return events


def _signed_manifest(good: Bundle, key: SigningKey, **fields) -> Bundle:
    manifest = replace(good.manifest, **fields)
    payload = statement_for(manifest, blake3_digest(manifest.to_json()))
    return Bundle(good.run_id, good.files, manifest, manifest.to_json(), sign_envelope(payload, INTOTO_PAYLOAD_TYPE, [key]).to_json(),
                  key.key_id)


def test_an_airflow_try_and_map_index_are_signed_in_the_manifest_and_checked_in_the_index_entry(store_uri: str) -> None:
    """'tdprov runs' reads only index entries, which held no try number nor map index, so a mapped task's runs looked
    alike there. The manifest (signed) and the index entry now hold them; an entry that names another try is
    inconsistent, and a manifest or entry written before they were recorded verifies."""
    key = SigningKey.generate()
    trust = TrustStore.of([key.public])
    store = open_store(store_uri)
    good = build_bundle(_airflow_try(2, 3), {}, key, sealed_at=SEALED)
    assert loads(good.manifest_bytes)["taskInstance"] == {"try_number": 2, "map_index": 3}
    write_bundle(store, good)
    [entry] = list(store.list("index/"))
    summary = loads(store.get(entry))
    assert summary["taskInstance"] == {"try_number": 2, "map_index": 3}
    assert verify_bundle(store, good.run_id, trust, [entry]).ok
    raw_put(store_uri, entry, canonical_bytes({**summary, "taskInstance": {"try_number": 1, "map_index": 3}}))
    report = verify_bundle(store, good.run_id, trust, [entry])
    assert _problems(report) == [(entry, "inconsistent")] and "taskInstance" in report.findings[0].reason
    # an entry without it: a manifest that holds one was sealed by a tdprov whose entries hold it, so it was taken out
    # ('tdprov runs' showed the mapped try as '-', no task instance, and verify, runs --verified and every audit passed)
    raw_put(store_uri, entry, canonical_bytes({k: v for k, v in summary.items() if k != "taskInstance"}))
    report = verify_bundle(store, good.run_id, trust, [entry])
    assert [(f.key, f.problem, f.reason) for f in report.findings] == [
        (entry, "inconsistent", "index entry fields taskInstance differ from the bundle's manifest")]

    older = _signed_manifest(build_bundle(_airflow_try(1, 0), {}, key, sealed_at=SEALED), key, task_instance=None)
    write_bundle(store, older)
    assert "taskInstance" not in loads(older.manifest_bytes) and verify_bundle(store, older.run_id, trust).ok
    lying = _signed_manifest(build_bundle(_airflow_try(1, 0), {}, key, sealed_at=SEALED), key,
                             task_instance={"try_number": 2, "map_index": 0})
    write_bundle(store, lying)
    report = verify_bundle(store, lying.run_id, trust)
    assert _problems(report) == [(f"bundles/{lying.run_id}/manifest.json", "inconsistent")] and "taskInstance" in report.findings[0].reason


def _mapped_step(key: str) -> list[dict]:
    """:func:`run_events` of the step of mapping key ``key`` of a mapped Dagster op: ``tdprov_runContext.mappingKey``."""
    events = run_events()
    for e in events:
        e["run"].setdefault("facets", {})["tdprov_runContext"] = {"mappingKey": key}
    return events


def test_a_mapping_key_is_signed_in_the_manifest_and_checked_in_the_index_entry(store_uri: str) -> None:
    """The index entry held no mapping key, so 'tdprov runs' showed the runs of a mapped Dagster op's work[a] and
    work[b] alike. The manifest (signed) and the entry now hold it, as an Airflow try's taskInstance: an entry naming
    another key, or none, is inconsistent, and a manifest sealed before it was recorded verifies."""
    key = SigningKey.generate()
    trust = TrustStore.of([key.public])
    store = open_store(store_uri)
    good = build_bundle(_mapped_step("a"), {}, key, sealed_at=SEALED)
    assert loads(good.manifest_bytes)["mappingKey"] == "a"
    write_bundle(store, good)
    [entry] = list(store.list("index/"))
    summary = loads(store.get(entry))
    assert summary["mappingKey"] == "a" and verify_bundle(store, good.run_id, trust, [entry]).ok
    for altered in ({**summary, "mappingKey": "b"}, {k: v for k, v in summary.items() if k != "mappingKey"}):
        raw_put(store_uri, entry, canonical_bytes(altered))
        report = verify_bundle(store, good.run_id, trust, [entry])
        assert [(f.key, f.problem, f.reason) for f in report.findings] == [
            (entry, "inconsistent", "index entry fields mappingKey differ from the bundle's manifest")]

    older = _signed_manifest(build_bundle(_mapped_step("c"), {}, key, sealed_at=SEALED), key, mapping_key=None)
    write_bundle(store, older)
    assert "mappingKey" not in loads(older.manifest_bytes) and verify_bundle(store, older.run_id, trust).ok
    lying = _signed_manifest(build_bundle(_mapped_step("d"), {}, key, sealed_at=SEALED), key, mapping_key="e")
    write_bundle(store, lying)
    report = verify_bundle(store, lying.run_id, trust)
    assert _problems(report) == [(f"bundles/{lying.run_id}/manifest.json", "inconsistent")] and "mappingKey" in report.findings[0].reason


@pytest.mark.parametrize("names_store", [False, True], ids=["sealed-before-store-ids", "naming-its-store"])
def test_an_index_entry_without_the_start_is_altered_when_its_manifest_names_its_store(store_uri: str, names_store: bool) -> None:
    """Entries held the run's start before manifests named their store, so the entry of a manifest that names its store
    and holds no startedAt had it taken out (lineage then resolved the run's reads by its end, and verify and every
    audit passed); one of a manifest sealed before stores had an identity may have been written without it."""
    key = SigningKey.generate()
    store = open_store(store_uri)
    bundle = build_bundle(run_events(), {}, key, sealed_at=SEALED, store_id=writer_store_id(store) if names_store else None)
    write_bundle(store, bundle)
    [entry] = list(store.list("index/"))
    summary = loads(store.get(entry))
    assert "startedAt" in summary
    raw_put(store_uri, entry, canonical_bytes({k: v for k, v in summary.items() if k != "startedAt"}))
    report = verify_bundle(store, bundle.run_id, TrustStore.of([key.public]), [entry])
    assert [(f.key, f.problem, f.reason) for f in report.findings] == ([] if not names_store else [
        (entry, "inconsistent", "index entry fields startedAt differ from the bundle's manifest")])


def test_an_index_entry_that_names_another_signer_is_inconsistent(signed, store_uri: str) -> None:
    """An index entry's keyId (the signer 'tdprov runs --json' shows) was never compared with the key whose signature
    on the statement verified: an entry naming another key verified clean."""
    store, bundle, trust = signed
    [entry] = list(store.list("index/"))
    summary = loads(store.get(entry))
    assert summary["keyId"] == bundle.key_id
    other = SigningKey.generate().key_id
    raw_put(store_uri, entry, canonical_bytes({**summary, "keyId": other}))
    report = verify_bundle(store, bundle.run_id, trust, [entry])
    assert [(f.key, f.problem, f.reason) for f in report.findings] == [  # the signer: no field of the manifest
        (entry, "inconsistent", f"index entry keyId '{other}' is not the key that signed the bundle's statement ({bundle.key_id})")]


@pytest.mark.parametrize("store_uri,indexed", [("local", "kept"), ("local", "deleted"), ("s3", "deleted")], indirect=["store_uri"],
                         ids=["local-kept", "local-deleted", "s3-deleted"])
def test_a_copied_index_entry_and_a_deleted_indexed_record_are_named(store_uri: str, indexed: str) -> None:
    """A run is indexed once, under the key its bundle's indexed record names: an entry copied under a key a minute later
    (with the record deleted, or not) verified clean, and 'tdprov runs' listed the run twice."""
    from datetime import timedelta

    from prov_common.bundle import layout
    from prov_common.bundle.storage import recent_bundles
    from prov_common.bundle.verify_runs import verify_runs

    key = SigningKey.generate()
    store = open_store(store_uri)
    bundle = build_bundle(run_events(), {}, key, sealed_at=SEALED, store_id=writer_store_id(store))
    write_bundle(store, bundle)
    [entry] = list(store.list("index/"))
    folder, name = entry.rsplit("/", 1)
    copy = f"{folder}/{layout.stamp(layout.parse_stamp(name[:22]) + timedelta(minutes=1))}{name[22:]}"
    raw_put(store_uri, copy, store.get(entry))
    record = f"bundles/{bundle.run_id}/indexed"
    if indexed == "deleted":
        raw_delete(store_uri, record)
    [report] = list(verify_runs(store, TrustStore.of([key.public]), workers=1))
    said = "names none" if indexed == "deleted" else f"names {entry}, not this one"
    copied = f"one of 2 index entries of run {bundle.run_id} (the bundle's indexed record {said}): a run is indexed once, so an entry was copied or moved"
    assert sorted((f.key, f.problem, f.reason) for f in report.findings) == sorted([
        *([(record, "missing", "the bundle's indexed record, which names its index entry, is gone though the run has 2 index entries")]
          if indexed == "deleted" else []),
        *((k, "inconsistent", copied) for k in ([entry, copy] if indexed == "deleted" else [copy]))])
    assert [s.run_id for s in recent_bundles(store)] == [bundle.run_id]  # 'tdprov runs' lists the run once


@pytest.mark.parametrize("store_uri,indexed", [("local", "yes"), ("local", "not yet"), ("s3", "yes")], indirect=["store_uri"],
                         ids=["local-yes", "local-not yet", "s3-yes"])
def test_a_deleted_indexed_record_is_named_when_the_run_is_named(store_uri: str, indexed: str, capsys) -> None:
    """'tdprov verify RUN_ID' (the index not listed) names an indexed record deleted while the run has an index entry, as
    the whole-index verify does (a manifest that names its store): it verified clean. A run sealed and not indexed yet
    (its entry still to be delivered) has neither, and is no finding of its bundle."""
    from prov_common.bundle.storage import bundle_objects
    from prov_common.bundle.verify_runs import verify_runs
    from prov_common.cli import main
    from prov_common.signing import default_signing_key

    key = default_signing_key()  # the CLI trusts it
    store, trust = open_store(store_uri), TrustStore.of([key.public])
    bundle = build_bundle(run_events(), {}, key, sealed_at=SEALED, store_id=writer_store_id(store))
    if indexed == "yes":
        write_bundle(store, bundle)
        [entry] = list(store.list("index/"))
        raw_delete(store_uri, f"bundles/{bundle.run_id}/indexed")
    else:
        for object_key, data in bundle_objects(bundle):
            store.put(object_key, data)
    [report] = list(verify_runs(store, trust, [bundle.run_id], workers=1))
    assert [(f.key, f.problem, f.reason) for f in report.findings] == ([(
        f"bundles/{bundle.run_id}/indexed", "missing",
        "the bundle's indexed record, which names its index entry, is gone though the run has an index entry")]
        if indexed == "yes" else []), report.findings
    capsys.readouterr()
    code = main(["verify", bundle.run_id, "--store", store_uri])
    out, err = capsys.readouterr()
    assert code == (1 if indexed == "yes" else 0), (out, err)
    if indexed == "yes":
        assert f"bundles/{bundle.run_id}/indexed" in out + err and entry not in out + err, (out, err)


def test_an_oldest_first_listing_takes_a_run_indexed_twice_once(store_uri: str, caplog) -> None:
    """list_bundles (what export, graph and the Airflow sensor read) lists a run once, by its first entry, as 'tdprov runs'
    does by its newest, and names the other: an entry copied under a key a minute later was listed as a second run, and
    the export's summaries took the copy for the run."""
    import logging
    from datetime import timedelta

    from prov_common.bundle import layout
    from prov_common.bundle.storage import list_bundles, recent_bundles
    from prov_common.w3cprov.collect import summaries

    store = open_store(store_uri)
    bundle = build_bundle(run_events(), {}, SigningKey.generate(), sealed_at=SEALED, store_id=writer_store_id(store))
    write_bundle(store, bundle)
    [entry] = list(store.list("index/"))
    folder, name = entry.rsplit("/", 1)
    copy = f"{folder}/{layout.stamp(layout.parse_stamp(name[:22]) + timedelta(minutes=1))}{name[22:]}"
    raw_put(store_uri, copy, store.get(entry))
    with caplog.at_level(logging.WARNING, logger="prov_common"):
        assert [(s.run_id, s.cursor) for s in list_bundles(store)] == [(bundle.run_id, entry)]
    assert [r.getMessage() for r in caplog.records if r.name.startswith("prov_common")] == [
        f"tdprov: index entry {copy} is a second entry of run {bundle.run_id} (listed by {entry}): left out of this listing. "
        f"Fix: run 'tdprov verify {bundle.run_id}' (it names the entry its bundle does not record) and remove that entry"]
    assert [s.cursor for s in summaries(store)] == [entry]
    assert [(s.run_id, s.cursor) for s in recent_bundles(store)] == [(bundle.run_id, copy)]  # newest first: its newest entry


@pytest.mark.parametrize("store_uri,original", [("local", "kept"), ("local", "deleted"), ("s3", "deleted")], indirect=["store_uri"],
                         ids=["local-kept", "local-deleted", "s3-deleted"])
def test_an_entry_copied_before_the_sealing_is_found_when_the_run_is_named(store_uri: str, original: str, capsys) -> None:
    """With the indexed record deleted, 'tdprov verify RUN_ID' finds the run's entries as the whole-index verify does,
    whatever their keys: a copy keyed before the run was sealed (where no writer keys one) was not listed, so with the
    original entry deleted too verify RUN_ID exited 0, and with it kept the copy went unnamed."""
    from datetime import timedelta

    from prov_common.bundle import layout
    from prov_common.bundle.verify_runs import verify_runs
    from prov_common.cli import main
    from prov_common.signing import default_signing_key

    key = default_signing_key()  # the CLI trusts it
    store, trust = open_store(store_uri), TrustStore.of([key.public])
    bundle = build_bundle(run_events(), {}, key, sealed_at=SEALED, store_id=writer_store_id(store))
    write_bundle(store, bundle)
    [entry] = list(store.list("index/"))
    copy = layout.index_key_template(bundle.run_id).format(now=SEALED - timedelta(days=1))
    raw_put(store_uri, copy, store.get(entry))
    raw_delete(store_uri, f"bundles/{bundle.run_id}/indexed")
    if original == "deleted":
        raw_delete(store_uri, entry)
    whole = {(f.key, f.problem, f.reason) for f in next(iter(verify_runs(store, trust, workers=1))).findings}
    named = {(f.key, f.problem, f.reason) for f in next(iter(verify_runs(store, trust, [bundle.run_id], workers=1))).findings}
    assert named == whole and f"bundles/{bundle.run_id}/indexed" in {k for k, _, _ in named}, (named, whole)
    assert copy in {k for k, _, _ in named} or original == "deleted", named
    capsys.readouterr()
    assert main(["verify", bundle.run_id, "--store", store_uri]) == 1
    out = capsys.readouterr().out
    assert f"bundles/{bundle.run_id}/indexed: missing" in out and (original == "deleted" or f"{copy}: inconsistent" in out), out


def test_an_entry_moved_before_the_sealing_is_named_with_its_record_rewritten(store_uri: str) -> None:
    """An index entry moved to a key dated before its run was sealed, its indexed record rewritten to name it, verified
    clean: listings that follow the index from a cursor (the sensors, an incremental audit) never look back there, so the
    run went unseen by them. No writer keys an entry before the sealing, so verify names it, the run named or not."""
    from datetime import timedelta

    from prov_common.bundle import layout
    from prov_common.bundle.verify_runs import verify_runs

    key = SigningKey.generate()
    store, trust = open_store(store_uri), TrustStore.of([key.public])
    bundle = build_bundle(run_events(), {}, key, sealed_at=SEALED, store_id=writer_store_id(store))
    write_bundle(store, bundle)
    [entry] = list(store.list("index/"))
    moved = layout.index_key_template(bundle.run_id).format(now=SEALED - timedelta(microseconds=1))
    raw_put(store_uri, moved, store.get(entry))
    raw_delete(store_uri, entry)
    raw_put(store_uri, f"bundles/{bundle.run_id}/indexed", moved.encode())
    said = [(moved, "inconsistent", "keyed before its run was sealed (2026-03-01T10:01:00Z): tdprov keys an entry when it delivers "
                                    "it, never before the sealing, so it was moved or copied there, where listings that follow "
                                    "the index from a cursor (sensors, incremental audits) no longer look")]
    for named in (None, [bundle.run_id]):
        [report] = list(verify_runs(store, trust, named, workers=1))
        assert [(f.key, f.problem, f.reason) for f in report.findings] == said, (named, report.findings)


@pytest.mark.parametrize("layout", ["lone CR between lines", "CRLF", "blank line", "no final newline", "swapped",
                                    "repeated", "spaced"])
def test_events_a_trusted_key_signed_not_as_a_bundle_writes_them_are_named(tmp_path, layout: str) -> None:
    """Events of one run signed by a trusted key, the lines of each event as a bundle writes them but the file not so
    (the fast path folding them line by line must not take them): 'not canonical JSON lines in eventTime order'."""
    key = SigningKey.generate()
    good = build_bundle(run_events(), {}, key, sealed_at=SEALED)
    first, second = good.files["events.jsonl"].splitlines(keepends=True)
    events = {"lone CR between lines": first[:-1] + b"\r" + second, "CRLF": first[:-1] + b"\r\n" + second,
              "blank line": first + b"\n" + second, "no final newline": first + second[:-1], "swapped": second + first,
              "repeated": first + first + second, "spaced": first[:-1] + b" \n" + second}[layout]
    forged = _restamp(good, files={**good.files, "events.jsonl": events}, signers=[key])
    store = open_store(str(tmp_path / "store"))
    write_bundle(store, forged)
    report = verify_bundle(store, forged.run_id, TrustStore.of([key.public]))
    assert _problems(report) == [(f"bundles/{forged.run_id}/events.jsonl", "inconsistent")], report.findings
    assert "not canonical JSON lines" in report.findings[0].reason


def test_verify_of_named_runs_lists_the_index_once(tmp_path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """'tdprov verify RUN1 RUN2 ...' listed the whole index once per named run whose indexed record is gone, and once more
    (from its oldest staged event) per run whose bundle is gone, to say it was sealed: 5 of each, 10 listings. The named
    runs' entries come from one listing, shared by the verification and by what it says of the missing runs."""
    import shutil

    from bundle_support import record_runs
    from counting_store import CountingStore
    from prov_common.bundle import layout
    from prov_common.cli import main

    uri = str(tmp_path / "store")
    runs = record_runs(uri, 10)  # sealed from staged events, which stay
    gone, unrecorded = runs[:5], runs[5:]
    for run_id in gone:
        shutil.rmtree(tmp_path / "store" / layout.bundle_prefix(run_id))
    for run_id in unrecorded:
        raw_delete(uri, layout.bundle_key(run_id, layout.INDEXED_FILE))
    counting = CountingStore(uri)
    monkeypatch.setattr("prov_common.cli.verify.open_store", lambda **_: counting)
    capsys.readouterr()
    assert main(["verify", *runs, "--store", uri]) == 1
    out, err = capsys.readouterr()
    assert counting.lists[f"{layout.INDEX}/"] == 1, counting.lists
    for run_id in gone:
        assert f"no object of run {run_id}'s bundle is in {uri}: sealed, then missing from the store" in err, err
    for run_id in unrecorded:
        assert (f"{layout.bundle_key(run_id, layout.INDEXED_FILE)}: missing: the bundle's indexed record, which names its "
                "index entry, is gone though the run has an index entry") in out, out


def test_verify_of_a_run_left_only_in_the_index_lists_the_index_once(tmp_path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """'tdprov verify RUN' of a run whose bundle and staged events are gone, its index entry left, listed the whole index
    twice: once to find the id among the indexed runs, once more to find the run's entries and say it was sealed. The
    listing that found the id is the one the verification and its words take the entries from."""
    import shutil

    from bundle_support import record_runs
    from counting_store import CountingStore
    from prov_common.bundle import layout
    from prov_common.cli import main

    uri = str(tmp_path / "store")
    run_id, kept = record_runs(uri, 2)
    for prefix in (layout.bundle_prefix(run_id), layout.staging_prefix(run_id)):
        shutil.rmtree(tmp_path / "store" / prefix)
    counting = CountingStore(uri)
    monkeypatch.setattr("prov_common.cli.verify.open_store", lambda **_: counting)
    capsys.readouterr()
    assert main(["verify", run_id[-12:], kept, "--store", uri]) == 1  # one typed by its ending: found in the index
    out, err = capsys.readouterr()
    assert counting.lists[f"{layout.INDEX}/"] == 1, counting.lists
    assert f"no object of run {run_id}'s bundle is in {uri}: sealed, then missing from the store" in err, err
    assert out.startswith(f"FAIL  {run_id}") and f"OK    {kept}" in out, out


@pytest.mark.parametrize("written,returned", [(True, False), (False, False), (True, True)],
                         ids=["as written", "out of order", "a raw return at its end"])
def test_verify_of_a_trusted_bundle_never_holds_its_events_whole(tmp_path, monkeypatch, written: bool,
                                                                 returned: bool) -> None:
    """Verifying a bundle a trusted key signed read its events.jsonl with one get and kept it (177 MB of events held
    about three times over: the file, by the audit's digests of its lines and the sensor's run, and the events parsed
    whole and written again when they are not as a bundle is written). Events larger than one ranged part (lowered here
    to 100 bytes) are hashed as a stream, folded or parsed from ranged parts of that size, with the same findings; the
    audit's digests of their lines are taken as the fold reads them (they were read again in parts for them): after
    the hashing pass the file is read once more (as written), or twice (out of order: folded, then parsed whole)."""
    from counting_store import CountingStore

    from bundle_support import seal_events_file
    from prov_common.audit.examine import examine_checked
    from prov_common.bundle import layout, list_bundles, storage
    from prov_common.bundle.events import events_jsonl, line_digests, order_events
    from prov_common.signing import default_signing_key

    monkeypatch.setattr(storage, "LINES_CHUNK", 100)
    events = order_events(run_events())
    data = events_jsonl(events if written else events[::-1])
    if returned:  # a last line ending '\r\n' (signed so, not as tdprov writes): the fold stops before it
        data = data[:-1] + b"\r\n"
    store = CountingStore(tmp_path / "store")
    run_id = seal_events_file(str(tmp_path / "store"), events, data)
    key = f"bundles/{run_id}/{layout.EVENTS_FILE}"
    store.gets.clear()
    record, _, checked = examine_checked(store, next(iter(list_bundles(store))), TrustStore.of([default_signing_key().public]))
    expected = [] if written and not returned else [(key, "inconsistent")]
    assert _problems(checked.report) == expected and checked.derived is not None, checked.report.findings
    assert layout.EVENTS_FILE not in checked.objects and key not in store.gets, store.gets
    hashed, *parts = store.ranges[key]
    assert hashed == (0, len(data)) and 0 < max(n for _, n in parts) <= 100  # one streamed pass, then parts
    assert returned or sum(n for _, n in parts) == (1 if written else 2) * len(data), parts
    assert record.held_events == line_digests(data)  # every line's, not those read before the fold stopped


@pytest.mark.parametrize("change", ["replaced", "deleted", "replaced after the fold's parts"])
def test_events_changed_between_their_hash_and_their_fold_are_named(tmp_path, monkeypatch, change: str) -> None:
    """Events larger than a part are hashed, then read again in parts to be folded: a file replaced (or deleted) in
    between is named (digest mismatch, or missing, while verifying), never folded into the run as if it were the file
    hashed. The lines the fold did not keep parsed (past 8 MiB of them, none here) are read again to be folded after
    the parts were checked against the digest: a file replaced then (another name of the same length) was folded from
    its new bytes, its signed PROV and manifest named as not what the events give; those lines are checked as read
    first."""
    from counting_store import CountingStore

    from bundle_support import seal_events_file
    from prov_common.bundle import layout, storage
    from prov_common.bundle.events import events_jsonl, order_events
    from prov_common.bundle.verify import verify_and_derive
    from prov_common.signing import default_signing_key
    from prov_common.w3cprov import event_lines

    monkeypatch.setattr(storage, "LINES_CHUNK", 100)
    monkeypatch.setattr(event_lines, "KEPT_BYTES", 0)  # no line kept parsed: every one read again to be folded
    events = order_events(run_events())
    data = events_jsonl(events)
    late = change.endswith("the fold's parts")
    other = (data.replace(b"clean/users.parquet", b"clean/users.parqueX") if late  # the same size: the parts pass
             else events_jsonl(events[:-1]))  # as a bundle is written, another file
    assert other != data and (len(other) == len(data)) == late
    store_uri = str(tmp_path / "store")
    run_id = seal_events_file(store_uri, events, data)
    key = f"bundles/{run_id}/{layout.EVENTS_FILE}"

    class ChangingStore(CountingStore):
        """Replaces (or deletes) the events once the hashing pass has read them, or the fold's last part."""

        def get_range(self, name: str, start: int, length: int) -> bytes:
            read = super().get_range(name, start, length)
            if name == key and (start + len(read) == len(data) and len(self.ranges[key]) > 1 if late
                                else self.ranges[key] == [(0, len(data))]):
                if change == "deleted":
                    raw_delete(store_uri, key)
                else:
                    raw_put(store_uri, key, other)
            return read

    store = ChangingStore(store_uri)
    checked = verify_and_derive(store, run_id, TrustStore.of([default_signing_key().public]))
    assert store.ranges[key][0] == (0, len(data))  # hashed in one pass, then changed before it is read again
    assert checked.derived is None, checked.derived
    problem, words = (("missing", "vanished while verifying") if change == "deleted"
                      else ("digest mismatch", "changed while verifying"))
    assert _problems(checked.report) == [(key, problem)], checked.report.findings
    assert words in checked.report.findings[0].reason, checked.report.findings
