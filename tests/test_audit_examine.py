"""The audit's examination of one bundle: one verification pass, each object read once, and log
leaf digests taken from the bytes that were verified."""
from __future__ import annotations

import hashlib
from pathlib import Path

import blake3

from bundle_support import forge_unsigned_events, raw_delete, raw_put, record_runs, run_events
from counting_store import CountingStore
from prov_common.audit.examine import MISSING, examine_bundle
from prov_common.bundle import build_bundle, layout, list_bundles, write_bundle
from prov_common.signing import SigningKey, TrustStore


def _sealed(tmp_path: Path):
    uri = str(tmp_path / "store")
    key = SigningKey.generate()
    store = CountingStore(uri)
    bundle = build_bundle(run_events(), {"extra/notes.txt": b"notes"}, key)
    write_bundle(store, bundle)
    (summary,) = list(list_bundles(store))
    store.gets.clear()
    return uri, store, bundle, summary, TrustStore.of([key.public])


def test_examine_reads_each_object_once_and_logs_the_verified_digests(tmp_path: Path) -> None:
    uri, store, bundle, summary, trust = _sealed(tmp_path)
    record, leaf = examine_bundle(store, summary, trust)
    assert record.bundle_findings == [] and record.key_id == bundle.key_id and record.started_at
    prefix = f"bundles/{bundle.run_id}/"
    assert set(store.gets.values()) == {1} and len(store.gets) == 5, store.gets  # statement, manifest, events, PROV, indexed
    assert dict(store.ranges) == {f"{prefix}extra/notes.txt": [(0, len(b"notes"))]}  # the attachment: streamed, read once
    assert leaf.manifest_digest == "blake3:" + blake3.blake3((Path(uri) / prefix / "manifest.json").read_bytes()).hexdigest()
    assert leaf.statement_digest == "sha256:" + hashlib.sha256((Path(uri) / prefix / "statement.dsse.json").read_bytes()).hexdigest()
    assert leaf.index_key == summary.cursor


def test_examine_of_a_bundle_without_manifest_still_records_the_run_from_its_events(tmp_path: Path) -> None:
    uri, store, bundle, summary, trust = _sealed(tmp_path)
    raw_delete(uri, f"bundles/{bundle.run_id}/manifest.json")
    record, leaf = examine_bundle(store, summary, trust)
    assert leaf.manifest_digest == MISSING and leaf.statement_digest.startswith("sha256:")
    assert record.started_at == "2026-03-01T10:00:00Z"  # from the events: the index entry has no start time
    assert any(f.object.endswith("manifest.json") and "missing" in f.what for f in record.bundle_findings)


def test_examine_names_a_statement_that_is_gone_and_an_index_entry_that_lies(tmp_path: Path) -> None:
    uri, store, bundle, summary, trust = _sealed(tmp_path)
    raw_delete(uri, f"bundles/{bundle.run_id}/statement.dsse.json")
    raw_put(uri, f"bundles/{bundle.run_id}/manifest.json", bundle.manifest_bytes + b" ")
    record, leaf = examine_bundle(store, summary, trust)
    assert leaf.statement_digest == MISSING
    assert any("the index entry names manifest" in f.what for f in record.bundle_findings), record.bundle_findings


def test_examine_holds_a_forged_events_file_once(tmp_path: Path) -> None:
    """A forged events.jsonl of 30 MB (one line repeated) under an unsigned manifest giving its size and digest: the
    audit records the run from it folded line by line and digests its lines for the staged-events comparison; those
    lines were split into a copy of the file beside it (twice the file held), then it was held once. It is read once,
    in ranged parts, never held whole."""
    import tracemalloc

    uri = str(tmp_path / "store")
    (run_id,) = record_runs(uri, 1)
    data = forge_unsigned_events(uri, run_id, 30_000_000)
    store = CountingStore(uri)
    (summary,) = list(list_bundles(store))
    tracemalloc.start()
    try:
        record, _ = examine_bundle(store, summary, TrustStore.of([]))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < len(data), (peak, len(data))  # verification's and this reading's parts of 8 MiB
    assert record.held_events == {blake3.blake3(line).hexdigest()[:32] for line in set(data.splitlines())}  # its 2 lines
    assert record.state == "COMPLETE" and "unsigned" in {f.what.split(":")[0] for f in record.bundle_findings}
    key = layout.bundle_key(run_id, layout.EVENTS_FILE)  # hashed as a stream by verify, read once here, in parts
    assert store.gets[key] == 0 and sum(size for _, size in store.ranges[key]) == 2 * len(data), store.ranges[key]
