"""Damaged bundle files through verification: flipped, inserted, deleted and truncated bytes and
whole files replaced by hostile JSON, in every file of a bundle. ``verify_bundle`` never raises;
it names the damaged object; the other run's bundle still verifies. 250 x ``TDPROV_FUZZ_SCALE`` cases.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Iterator

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bundle_support import run_events
from prov_common.bundle import build_bundle, verify_bundle, write_bundle
from prov_common.bundle.storage import bundle_objects
from prov_common.signing import SigningKey, TrustStore
from prov_common.store._base import BaseStore, Source

SCALE = float(os.environ.get("TDPROV_FUZZ_SCALE", "1"))


class MemoryStore(BaseStore):
    """A write-once store in a dict (the fuzzer needs thousands of stores per second)."""

    uri = "memory://fuzz"

    def __init__(self, objects: dict[str, bytes] | None = None) -> None:
        self.objects = dict(objects or {})

    def describe(self) -> str:
        return "memory store"

    def _create(self, key: str, source: Source) -> bool:
        if key in self.objects:
            return False
        with source.open() as stream:
            self.objects[key] = stream.read()
        return True

    @contextlib.contextmanager
    def _open(self, key: str) -> Iterator[io.BytesIO]:
        from prov_common.store.errors import ObjectNotFoundError

        if key not in self.objects:
            raise ObjectNotFoundError(f"no object '{key}'", fix="-")
        yield io.BytesIO(self.objects[key])

    def _exists(self, key: str) -> bool:
        return key in self.objects

    def _list(self, prefix: str, start_after: str | None):
        return iter(sorted(k for k in self.objects if k.startswith(prefix) and (start_after is None or k > start_after)))


SIGNER = SigningKey.generate()
TRUST = TrustStore()
TRUST.add(SIGNER.public)
TARGET, OTHER = run_events(), run_events()
TARGET_ID, OTHER_ID = TARGET[0]["run"]["runId"], OTHER[0]["run"]["runId"]
BASE = MemoryStore()
write_bundle(BASE, build_bundle(TARGET, {"quality/clean.samples.parquet": b"PAR1 fake samples PAR1"}, SIGNER))
write_bundle(BASE, build_bundle(OTHER, {}, SIGNER))
FILES = [k for k, _ in bundle_objects(build_bundle(TARGET, {"quality/clean.samples.parquet": b"x"}, SIGNER))]
hostile_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                            lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=10), c, max_size=3), max_leaves=10)


def _damage(data: bytes, draw) -> bytes:
    kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "json", "empty", "duplicate"]))
    if kind == "json":
        return json.dumps(draw(hostile_json)).encode()
    if kind == "empty":
        return b""
    if kind == "duplicate":
        return data + data
    if not data:
        return b"x"
    at = draw(st.integers(0, len(data) - 1))
    if kind == "flip":
        return data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1:]
    if kind == "insert":
        return data[:at] + draw(st.binary(min_size=1, max_size=4)) + data[at:]
    if kind == "delete":
        return data[:at] + data[at + 1:]
    return data[:at]


@settings(max_examples=int(250 * SCALE), deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(st.data())
def test_damaged_bundle_files_are_named_and_nothing_else_is_affected(data) -> None:
    store = MemoryStore(BASE.objects)
    key = data.draw(st.sampled_from([k for k in FILES if k in store.objects]))
    damaged = _damage(store.objects[key], data.draw)
    if data.draw(st.integers(0, 9)) == 0:
        del store.objects[key]
    elif damaged == store.objects[key]:
        return
    else:
        store.objects[key] = damaged
    report = verify_bundle(store, TARGET_ID, TRUST)
    assert not report.ok
    named = {f.key for f in report.findings}
    assert key in named or any(k.endswith(("manifest.json", "statement.dsse.json")) for k in named), (key, report.findings)
    assert verify_bundle(store, OTHER_ID, TRUST).ok


def test_untouched_bundle_verifies() -> None:
    assert verify_bundle(MemoryStore(BASE.objects), TARGET_ID, TRUST).ok
