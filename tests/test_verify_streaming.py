"""Verification hashes a large attachment (a row set) in ranged reads of a bounded size, one pass,
on both backends, with the same result as before; a changed byte anywhere in it is still found."""
from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from blake3 import blake3

from bundle_support import raw_put, run_events
from prov_common.bundle import build_bundle, rows_path, verify_bundle, write_bundle
from prov_common.bundle.storage import more_than_listed
from prov_common.bundle.verify import ATTACHMENT_CHUNK
from prov_common.signing import SigningKey, TrustStore
from prov_common.store import Store, open_store

ROWS = rows_path("s3://lake", "clean/users")
SIZE = 2 * ATTACHMENT_CHUNK + 12_345  # two whole chunks and a partial one


class RecordingStore:
    """A real store, every read recorded: (method, key, offset, bytes returned)."""

    def __init__(self, store: Store) -> None:
        self.store, self.reads = store, []

    def get(self, key: str, limit: int | None = None) -> bytes:
        data = self.store.get(key, limit)
        self.reads.append(("get", key, 0, len(data)))
        return data

    def get_range(self, key: str, start: int, length: int) -> bytes:
        data = self.store.get_range(key, start, length)
        self.reads.append(("get_range", key, start, len(data)))
        return data

    def list(self, prefix: str = "", *, start_after: str | None = None) -> Iterator[str]:
        return self.store.list(prefix, start_after=start_after)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


@pytest.fixture
def sealed(store_uri: str):
    """A stored bundle whose row set is larger than two read chunks (incompressible bytes)."""
    key = SigningKey.generate()
    rows = os.urandom(SIZE)
    bundle = build_bundle(run_events(), {ROWS: rows}, key, sealed_at=datetime(2026, 3, 1, 10, 1, tzinfo=timezone.utc))
    store = open_store(store_uri)
    assert write_bundle(store, bundle).status == "written"
    return store, bundle, rows, TrustStore.of([key.public])


def test_large_attachment_is_hashed_in_bounded_ranged_reads(sealed) -> None:
    store, bundle, rows, trust = sealed
    recording = RecordingStore(store)
    report = verify_bundle(recording, bundle.run_id, trust)
    assert report.ok, report.findings
    assert report.to_dict() == verify_bundle(store, bundle.run_id, trust).to_dict()
    key = f"bundles/{bundle.run_id}/{ROWS}"
    of_rows = [r for r in recording.reads if r[1] == key]
    assert all(method == "get_range" for method, *_ in of_rows), "the row set was read whole"
    assert max(n for *_, n in of_rows) == ATTACHMENT_CHUNK  # no read larger than a chunk
    offsets = [start for _, _, start, _ in of_rows]
    assert offsets == sorted(set(offsets)) and offsets[0] == 0, "not one front-to-back pass"
    assert [start + n for _, _, start, n in of_rows[:-1]] == offsets[1:], "gaps or overlaps between reads"
    assert sum(n for *_, n in of_rows) == SIZE == len(rows)
    assert len(of_rows) == 3  # 2 whole chunks and the partial one, which ends the object: no read past the end
    small = {k.rsplit("/", 1)[-1] for method, k, *_ in recording.reads if method == "get"}
    assert small == {"statement.dsse.json", "manifest.json", "events.jsonl", "prov.json", "indexed"}


@pytest.mark.parametrize("where", ["middle", "last byte", "one byte more"])
def test_changed_row_set_is_found_with_its_real_digest(sealed, store_uri: str, where: str) -> None:
    store, bundle, rows, trust = sealed
    key = f"bundles/{bundle.run_id}/{ROWS}"
    changed = bytearray(rows)
    if where == "one byte more":
        changed.append(0)
    else:
        changed[SIZE // 2 if where == "middle" else SIZE - 1] ^= 0x01
    raw_put(store_uri, key, bytes(changed))
    recording = RecordingStore(store)
    report = verify_bundle(recording, bundle.run_id, trust)
    assert [(f.key, f.problem) for f in report.findings] == [(key, "digest mismatch")]
    assert max(n for _, k, _, n in recording.reads if k == key) <= ATTACHMENT_CHUNK
    if where == "one byte more":  # more bytes than listed are not the file sealed: read no further than one past it
        assert report.findings[0].reason == more_than_listed(SIZE)
        assert sum(n for _, k, _, n in recording.reads if k == key) <= SIZE + 1
        return
    # the digest named is that of the whole changed object, computed here by the blake3 package itself
    assert f"bytes hash to blake3:{blake3(bytes(changed)).hexdigest()} ({len(changed)} bytes)" in report.findings[0].reason
    assert f"manifest says blake3:{blake3(rows).hexdigest()} ({SIZE} bytes)" in report.findings[0].reason
