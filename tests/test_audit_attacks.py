"""The attack table of docs/threat-model.md, on a local store and on S3 (moto): an attacker with write
access to the store and no signing key changes it behind the auditor's back. The auditor's memory is
in place (TDPROV_HOME is kept across the audits of a test). Every row is a finding in the audit the
table names, naming the object, and is still one on the next audit.

Which attacks also run on S3: the audit is the same code on both stores; what a store adds is its metadata and its
writes. So an attack runs on S3 as well as on a local folder when what finds it depends on them:

* an object that audits have listed or written is rewritten (or rewritten and put back) at its own key: it is found
  by comparing the listing's fingerprint with the auditor's memory (S3: the ETag; a local file: its modification
  time, inode and change time) or the bytes the auditor pinned when it wrote the object; or
* an object is planted at the key the next audit writes (a leaf batch, a catalog segment): the audit's conditional
  write is refused (S3: ``If-None-Match: *``; a local folder: a hard link that fails when the name exists).

An attack that only deletes objects, or adds objects under keys of their own, is found from the keys a listing
gives and from the objects' bytes and signatures, read the same way on both stores: it runs on the local folder
only. (The stores' listings, ``start_after`` included, are the subject of tests/test_store_backends.py, on both.)"""
from __future__ import annotations

import base64
import contextlib
import copy
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Container, Iterable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from prov_common.audit import run_audit
from prov_common.audit.memory import memory_path
from prov_common.audit.model import (CHECK_INVENTORY, CHECK_LOG, CHECK_PROV, CHECK_SIGNATURES, CHECK_SOURCES, CHECK_UNFINISHED,
                                      Finding)
from prov_common.bundle import layout
from prov_common.bundle.layout import SMALL_OBJECT_LIMIT
from prov_common.bundle.storage import recent_bundles
from prov_common.config import Settings
from prov_common.signing import Envelope, Signature, SigningKey, default_signing_key, sign_envelope
from prov_common.store import open_store
from prov_common.tlog.log import CHECKPOINTS_PREFIX, FIX_CHANGED, FIX_NOT_THE_LOGS, LEAVES_PREFIX
from prov_common.tlog.model import sha256_digest
from prov_common.w3cprov.identity import iso_z
from prov_common.hashing.raw import blake3_digest

from test_audit_support import (T0, Pipeline, S3Snapshot, _s3, dataset, digest, flip_byte, raw_delete, raw_read, raw_write, run_events,
                                seal)
from test_audit_support import audit as _audit


class Store:
    """A store with two pipelines' runs and three audits (the auditor remembers the newest checkpoint)."""

    def __init__(self, uri: str) -> None:
        self.pipe = Pipeline(uri)
        self.uri = uri
        assert _audit(self.pipe).clean
        self.extra = seal(self.pipe.store, run_events("prepare_extra", [dataset(self.pipe.raw_name, self.pipe.raw)],
                                                     [dataset("/data/extra.parquet", digest("extra"))], start=T0 + timedelta(hours=2)))
        assert _audit(self.pipe).clean
        self.last = seal(self.pipe.store, run_events("prepare_last", [dataset(self.pipe.raw_name, self.pipe.raw)],
                                                    [dataset("/data/last.parquet", digest("last"))], start=T0 + timedelta(hours=3)))
        third = _audit(self.pipe)
        assert third.clean and third.checkpoint.checkpoint.size == 4, [f.what for f in third.errors]

    @classmethod
    def restored(cls, template: "Store") -> "Store":
        """The Store ``template`` describes, for its URI as it now is (its objects and the auditor's home put back)."""
        s = copy.copy(template)
        s.pipe = template.pipe.reopened()
        return s

    def keys(self, prefix: str) -> list[str]:
        return list(self.pipe.store.list(prefix))

    def index_key(self, run_id: str) -> str:
        return next(k for k in self.keys("index/") if k.endswith(f"-{run_id}.json"))

    def delete(self, *keys: str) -> None:
        for key in keys:
            raw_delete(self.uri, key)

    def delete_run(self, run_id: str) -> None:
        self.delete(*self.keys(layout.bundle_prefix(run_id)), self.index_key(run_id))

    def newest(self, prefix: str) -> str:
        return self.keys(prefix)[-1]


_S3_BASES: dict[str, S3Snapshot[Store]] = {}  # S3 endpoint -> its base state, for this test process (other modules use the fixture too)


BOTH, LOCAL = ("local", "s3"), ("local",)  # the stores a test runs on: see the module's docstring


def on(*stores: str) -> pytest.MarkDecorator:
    """Run the test with a ``base`` on each of ``stores``."""
    return pytest.mark.parametrize("base", stores, indirect=True)


def store_cases(argname: str, cases: dict[str, object], s3_too: Container[str]) -> pytest.MarkDecorator:
    """Parametrize ``base`` and ``argname`` together: each case (id -> value) on the local folder, and also on S3 when
    its id is in ``s3_too``."""
    params = [pytest.param(store, value, id=f"{store}-{name}") for name, value in cases.items()
              for store in (BOTH if name in s3_too else LOCAL)]
    return pytest.mark.parametrize(("base", argname), params, indirect=["base"])


@pytest.fixture(name="base", params=BOTH)
def base_fixture(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    """A :class:`Store` of its own for each test, on a local folder (built) and on S3 (a copy of the base state); a test
    of this module names its stores (:func:`on`, :func:`store_cases`)."""
    if request.param == "local":
        return Store(str(tmp_path / "store"))
    server = request.getfixturevalue("s3_server")
    for name, value in server.env.items():
        monkeypatch.setenv(name, value)
    if server.endpoint not in _S3_BASES:
        _S3_BASES[server.endpoint] = S3Snapshot(server, request.getfixturevalue("tmp_path_factory").mktemp("s3-base"), Store)
    return Store.restored(_S3_BASES[server.endpoint].restore(Path(os.environ["TDPROV_HOME"])))


def _later_key(key: str, seconds: int) -> str:
    """The same run's index key, stamped ``seconds`` later."""
    folder, name = key.rsplit("/", 1)
    moment = layout.parse_stamp(name[:22]) + timedelta(seconds=seconds)
    return f"{folder}/{layout.stamp(moment)}{name[22:]}"


# --- the attacks: each changes the store and says what must be found, and by which audit ------------------------------

def roll_back(s: Store) -> tuple[str, str, str]:
    newest = s.newest(CHECKPOINTS_PREFIX)
    states = s.keys("audit/state/" + newest.rsplit("/", 1)[1].removesuffix(".json"))  # every state bound to it
    s.delete(newest, s.newest(LEAVES_PREFIX), *states, s.newest("audit/catalog/"))
    s.delete_run(s.last)
    return "default", CHECK_LOG, ("rolled back or its newest checkpoints were deleted; it no longer holds the leaves of 1 run logged "
                                  f"after leaf 3: {s.last}")


def delete_newest_checkpoint(s: Store) -> tuple[str, str, str]:
    s.delete(s.newest(CHECKPOINTS_PREFIX))
    return "default", CHECK_LOG, "rolled back"


def delete_logged_bundle(s: Store) -> tuple[str, str, str]:
    s.delete(*s.keys(layout.bundle_prefix(s.extra)))
    return "default", CHECK_INVENTORY, f"the bundle of logged run {s.extra} is gone"


def copy_under_new_run_id(s: Store) -> tuple[str, str, str]:
    new = str(uuid.uuid4())
    for key in s.keys(layout.bundle_prefix(s.extra)):
        raw_write(s.uri, key.replace(s.extra, new), raw_read(s.uri, key))
    index = s.index_key(s.extra)
    raw_write(s.uri, index.replace(s.extra, new), raw_read(s.uri, index))
    return "default", CHECK_INVENTORY, f"run {new}"


def edit_index_state(s: Store) -> tuple[str, str, str]:
    key = s.index_key(s.extra)
    data = raw_read(s.uri, key)
    assert b'"state":"COMPLETE"' in data
    raw_write(s.uri, key, data.replace(b'"state":"COMPLETE"', b'"state":"FAIL"'))
    return "default", CHECK_INVENTORY, f"the index entry of logged run {s.extra} changed"


def _rewrite_a_new_index_entry(s: Store, change: Callable[[dict], dict]) -> None:
    """A run sealed after the last audit, its index entry rewritten by ``change`` before any audit listed it."""
    run_id = seal(s.pipe.store, run_events("prepare_rewritten", [dataset(s.pipe.raw_name, s.pipe.raw)], [], start=T0 + timedelta(hours=4)))
    key = s.index_key(run_id)
    raw_write(s.uri, key, json.dumps(change(json.loads(raw_read(s.uri, key)))).encode())


def take_the_start_out_of_an_index_entry_no_audit_listed(s: Store) -> tuple[str, str, str]:
    """The entry rewritten without startedAt (as entries were written before they held the start): lineage then resolved
    the run's reads by its end, and every audit was clean, as it took the entry for an older one. Its manifest names its
    store, so the tdprov that sealed it wrote entries that hold the start."""
    _rewrite_a_new_index_entry(s, lambda entry: {k: v for k, v in entry.items() if k != "startedAt"})
    return "default", CHECK_SIGNATURES, "index entry fields startedAt differ from the bundle's signed manifest"


def name_another_signer_in_an_index_entry_no_audit_listed(s: Store) -> tuple[str, str, str]:
    """The entry's keyId (the signer 'tdprov runs --json' shows, also with --verified) rewritten to another key's: it was
    never compared with the key whose signature verified, so verify and every audit were clean."""
    _rewrite_a_new_index_entry(s, lambda entry: {**entry, "keyId": "ed25519:" + "0" * 64})
    return "default", CHECK_SIGNATURES, f"index entry keyId 'ed25519:{'0' * 64}' is not the key that signed the bundle's statement ({s.pipe.key.key_id})"


def edit_index_state_in_place_keeping_its_times(s: Store) -> tuple[str, str, str]:
    """The same edit at the same size, written in place with the modification time put back: on a local
    folder the size, mtime and inode are as before (only the change time, which no user can set, moves)."""
    key = s.index_key(s.extra)
    data = raw_read(s.uri, key)
    edited = data.replace(b'"state":"COMPLETE"', b'"state":"ABORTED "')
    assert len(edited) == len(data) and edited != data
    if s.uri.startswith("s3://"):
        raw_write(s.uri, key, edited)
    else:
        path = Path(s.uri) / key
        before = path.stat()
        time.sleep(0.01)
        with open(path, "r+b") as out:
            out.write(edited)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        after = path.stat()
        assert (after.st_size, after.st_mtime_ns, after.st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)
    return "default", CHECK_INVENTORY, f"the index entry of logged run {s.extra} changed"


def edit_logged_prov_document(s: Store) -> tuple[str, str, str]:
    """A logged bundle's prov.json rewritten (one word, the same size): a new ETag, locally a new modification time."""
    key = layout.bundle_key(s.extra, layout.PROV_FILE)
    raw_write(s.uri, key, raw_read(s.uri, key).replace(b'"COMPLETE"', b'"COMPLEXE"', 1))
    return "default", CHECK_INVENTORY, f"the file '{layout.PROV_FILE}' of logged run {s.extra} changed"


def edit_logged_events_in_place_keeping_their_times(s: Store) -> tuple[str, str, str]:
    """A logged bundle's events.jsonl edited in place at the same size, its modification time put back (locally)."""
    key = layout.bundle_key(s.extra, layout.EVENTS_FILE)
    edited = raw_read(s.uri, key).replace(b'"COMPLETE"', b'"COMPLEXE"', 1)
    if s.uri.startswith("s3://"):
        raw_write(s.uri, key, edited)
    else:
        path = Path(s.uri) / key
        before = path.stat()
        with open(path, "r+b") as out:
            out.write(edited)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    return "default", CHECK_SIGNATURES, "digest mismatch"


def delete_index_entry_and_marker(s: Store) -> tuple[str, str, str]:
    s.delete(s.index_key(s.extra), layout.bundle_key(s.extra, layout.INDEXED_FILE))
    return "default", CHECK_INVENTORY, f"the index entry of logged run {s.extra} is missing"


def move_index_entry_later(s: Store) -> tuple[str, str, str]:
    key = s.index_key(s.extra)
    raw_write(s.uri, _later_key(key, 3600), raw_read(s.uri, key))
    s.delete(key)
    return "default", CHECK_INVENTORY, f"the index entry of logged run {s.extra} moved"


def _delete_first_audit_object(s: Store, prefix: str) -> tuple[str, str, str]:
    key = s.keys(prefix)[0]
    s.delete(key)
    return "default", CHECK_INVENTORY, f"audit object '{key}' is missing"


def delete_audit_state(s: Store) -> tuple[str, str, str]:
    return _delete_first_audit_object(s, "audit/state/")


def delete_lookup_object(s: Store) -> tuple[str, str, str]:
    return _delete_first_audit_object(s, "audit/generated/")


def delete_catalog(s: Store) -> tuple[str, str, str]:
    return _delete_first_audit_object(s, "audit/catalog/")


def truncate_leaf_batch(s: Store) -> tuple[str, str, str]:
    key = s.keys(LEAVES_PREFIX)[0]
    data = raw_read(s.uri, key)
    raw_write(s.uri, key, data[: data.rindex(b',{"indexKey"')] + b"]}")
    return "default", CHECK_INVENTORY, f"leaf batch '{key}' changed"


def truncate_newest_leaf_batch(s: Store) -> tuple[str, str, str]:
    """The batch the last audit wrote after its listing: the auditor remembered the fingerprint the store gave it when it
    created it (it was named as written by no auditor, with the fix to remove it, not to restore it)."""
    key = s.newest(LEAVES_PREFIX)
    data = raw_read(s.uri, key)
    raw_write(s.uri, key, data[: data.rindex(b',{"indexKey"')] + b"]}" if b',{"indexKey"' in data else b'{"first":3,"leaves":[]}')
    return "default", CHECK_INVENTORY, f"leaf batch '{key}' changed after it was first listed"


def replace_newest_catalog_with_an_older_one(s: Store) -> tuple[str, str, str]:
    """A validly signed older segment copied over the one the last audit wrote: its runs would drop out of re-hash."""
    older, newest = s.keys("audit/catalog/")[-2:]
    raw_write(s.uri, newest, raw_read(s.uri, older))
    return "default", CHECK_INVENTORY, f"audit object '{newest}' changed after it was first listed"


def copy_another_stores_catalog_segment(s: Store) -> tuple[str, str, str]:
    """A segment the same auditor signed for another prefix, copied under the key of the next segment this store's
    audit writes: its runs would stand for this store's, and the next audit's own segment was silently not written."""
    other = s.uri + "-other"
    for i in range(5):
        seal(open_store(other), run_events(f"staging_{i}", [], [dataset(f"/staging/{i}.parquet", digest(f"s{i}"))], start=T0 + timedelta(hours=i)))
    assert run_audit(open_store(other), Settings.from_env(store=other), progress=False).clean
    key = "audit/catalog/000000000005.json"
    raw_write(s.uri, key, raw_read(other, key))
    return "default", CHECK_INVENTORY, "another store's"


def copy_another_stores_lookup_object(s: Store) -> tuple[str, str, str]:
    """A lookup object the same auditor signed for another prefix, copied in: its run would be the origin of the version
    it names here, though this store's log does not hold that run."""
    from prov_common.audit.generated import generated_key

    other = s.uri + "-other"
    seal(open_store(other), run_events("staging_features", [], [dataset("/data/features.parquet", digest("staged"))]))
    assert run_audit(open_store(other), Settings.from_env(store=other), progress=False).clean
    key = generated_key("file", "/data/features.parquet", digest("staged"))
    raw_write(s.uri, key, raw_read(other, key))
    return "default", CHECK_INVENTORY, "another store's"


def copy_another_stores_newer_checkpoint(s: Store) -> tuple[str, str, str]:
    """A checkpoint the same auditor signed for another store, whose log is longer, copied in under its own key (one this
    store's log has not reached): it would stand for leaves this store's log does not hold."""
    other = s.uri + "-other"
    for i in range(6):
        seal(open_store(other), run_events(f"staging_{i}", [], [dataset(f"/staging/{i}.parquet", digest(f"s{i}"))],
                                           start=T0 + timedelta(hours=i)))
    assert run_audit(open_store(other), Settings.from_env(store=other), progress=False).clean
    key = "log/checkpoints/000000000006.json"
    raw_write(s.uri, key, raw_read(other, key))
    return "default", CHECK_LOG, f"checkpoint '{key}' covers 6 leaves but the log holds only"


def replace_a_source_record_with_another_stores(s: Store) -> tuple[str, str, str]:
    """This store's source record replaced, at its key, by the record of the same source (name and digest) that the same
    writer key signed for another store: a valid signature, another store's record."""
    from prov_common.sources import SourceRecord, register_source
    from prov_common.store.identity import writer_store_id

    other = open_store(s.uri + "-other")
    key = register_source(other, SourceRecord(name="vendor-raw", digest=s.pipe.raw, license="CC0-1.0", issuer="Elsewhere"), s.pipe.key).key
    assert key in s.keys("sources/")
    raw_write(s.uri, key, raw_read(other.uri, key))
    return "default", CHECK_SOURCES, f"source record '{key}' is signed for store {writer_store_id(other)}, not this store"


def _lookup_of(name: str, tag: str) -> str:
    from prov_common.audit.generated import generated_key

    return generated_key("file", name, digest(tag))


def flip_lookup_object_the_last_audit_wrote(s: Store) -> tuple[str, str, str]:
    """The lookup object the last audit wrote after its listing, changed before the next listing: the auditor remembered
    the fingerprint the store gave it when it created it, as it remembers a listed object."""
    key = _lookup_of("/data/last.parquet", "last")
    flip_byte(s.uri, key)
    return "default", CHECK_INVENTORY, f"audit object '{key}' changed after it was first listed"


def flip_lookup_object_the_last_audit_wrote_full(s: Store) -> tuple[str, str, str]:
    flip_lookup_object_the_last_audit_wrote(s)
    return "full", CHECK_INVENTORY, "changed after it was first listed"


def copy_a_lookup_object_over_the_one_the_last_audit_wrote(s: Store) -> tuple[str, str, str]:
    """An older lookup object of this store (validly signed, of this log) copied under the key of the version the last
    audit wrote the lookup of."""
    key = _lookup_of("/data/last.parquet", "last")
    raw_write(s.uri, key, raw_read(s.uri, _lookup_of("/data/extra.parquet", "extra")))
    return "default", CHECK_INVENTORY, f"audit object '{key}' changed after it was first listed"


def inject_leaf_batch_after_the_head(s: Store) -> tuple[str, str, str]:
    """A batch after the newest checkpoint naming a run that does not exist: no checkpoint signs it."""
    size = int(s.newest(CHECKPOINTS_PREFIX).rsplit("/", 1)[1].removesuffix(".json"))
    leaf = {"indexKey": f"index/2026/05/01/20260501T120000000000Z-{uuid.uuid4()}.json", "manifestDigest": "blake3:" + "ab" * 32,
            "runId": str(uuid.uuid4()), "statementDigest": "sha256:" + "cd" * 32}
    leaf["indexKey"] = leaf["indexKey"].rsplit("-", 5)[0] + f"-{leaf['runId']}.json"
    raw_write(s.uri, f"{LEAVES_PREFIX}{size:012d}.json", json.dumps({"first": size, "leaves": [leaf]}, separators=(",", ":")).encode())
    return "default", CHECK_LOG, "are not bundles as logged"


def plant_a_leaf_batch_inside_the_log(s: Store) -> tuple[str, str, str]:
    """A batch at a key inside the first batch, holding a copy of that batch's second leaf: every tree check passed, as
    the leaves up to each checkpoint were read from the real batch, so the default audit took it and was clean."""
    first = s.keys(LEAVES_PREFIX)[0]
    batch = json.loads(raw_read(s.uri, first))
    assert batch["first"] == 0 and len(batch["leaves"]) == 2
    raw_write(s.uri, f"{LEAVES_PREFIX}{1:012d}.json", json.dumps({"first": 1, "leaves": batch["leaves"][1:]}, separators=(",", ":")).encode())
    return "default", CHECK_INVENTORY, (f"log leaf batch '{LEAVES_PREFIX}{1:012d}.json' begins at leaf 1, inside the batch before it "
                                        "(which holds the leaves up to 1): auditors write each leaf once, so it was planted or copied there")


def plant_a_leaf_batch_inside_the_log_full(s: Store) -> tuple[str, str, str]:
    """The same, found by --full's walk of the leaves: it said leaves '2..0' were missing and the later checkpoints'
    leaves deleted."""
    words = plant_a_leaf_batch_inside_the_log(s)[2]
    return "full", CHECK_LOG, words


def truncate_leaf_batch_full(s: Store) -> tuple[str, str, str]:
    truncate_leaf_batch(s)
    return "full", CHECK_LOG, "missing"


def delete_first_checkpoint(s: Store) -> tuple[str, str, str]:
    key = s.keys(CHECKPOINTS_PREFIX)[0]
    s.delete(key)
    return "default", CHECK_INVENTORY, f"checkpoint '{key}' is missing"


def forge_state(s: Store) -> tuple[str, str, str]:
    newest = s.newest("audit/state/")
    forged = newest.replace("audit/state/0000", "audit/state/0009")
    envelope = sign_envelope(b'{"checkpoint":{"size":9000}}', "application/vnd.tdprov.audit-state+json", [SigningKey.generate()])
    raw_write(s.uri, forged, envelope.to_json())
    return "default", CHECK_INVENTORY, f"'{forged}' appeared or was replaced since the last audit and does not verify"


def copy_an_older_state_under_a_later_key_of_its_size(s: Store) -> tuple[str, str, str]:
    """An audit with nothing new writes a state of the tree size the last one did; the older of the two, validly signed,
    copied under a later key of that size would be continued from, dropping what the newer one kept."""
    assert _audit(s.pipe).clean
    older, newest = s.keys("audit/state/")[-2:]
    assert older[:25] == newest[:25], (older, newest)  # the same tree size
    copy = newest.replace("-2", "-3", 1)  # stamped later
    raw_write(s.uri, copy, raw_read(s.uri, older))
    return "default", CHECK_INVENTORY, f"'{copy}' appeared or was replaced since the last audit and does not verify: audit state"


def wipe_log_and_audit(s: Store) -> tuple[str, str, str]:
    s.delete(*s.keys("log/"), *s.keys("audit/"))
    s.delete_run(s.extra)
    return "default", CHECK_LOG, "the log was deleted"


def _copy_bundle_folder(s: Store, run_id: str, to: str) -> str:
    """The bundle of ``run_id`` copied to the folder of run id ``to``, with no index entry: what no audit examines."""
    for key in s.keys(layout.bundle_prefix(run_id)):
        raw_write(s.uri, key.replace(run_id, to, 1), raw_read(s.uri, key))
    return (f"a sealed bundle that no index entry names, so that no audit examines it, does not verify: manifest.json: "
            f"inconsistent: manifest is for run {run_id}, not {to}")


def copy_bundle_under_new_run_id_without_index_entry(s: Store) -> tuple[str, str, str]:
    return "default", CHECK_INVENTORY, _copy_bundle_folder(s, s.extra, str(uuid.uuid4()))


def copy_bundle_under_new_run_id_whose_indexed_record_names_no_key(s: Store) -> tuple[str, str, str]:
    """The same, its ``indexed`` record rewritten to name an entry of the new run id at a key no store can hold: the
    audit stopped on it (the key was asked for before it was checked)."""
    new = str(uuid.uuid4())
    words = _copy_bundle_folder(s, s.extra, new)
    raw_write(s.uri, layout.bundle_key(new, layout.INDEXED_FILE), f"index/../20260101T000000000000Z-{new}.json".encode())
    return "default", CHECK_INVENTORY, words


def copy_bundle_under_upper_case_run_id_full(s: Store) -> tuple[str, str, str]:
    return "full", CHECK_INVENTORY, _copy_bundle_folder(s, s.last, s.last.upper())


def _plant_unsealed_folder(s: Store, files: tuple[str, ...]) -> tuple[str, str]:
    """The bundle files ``files`` of a logged run copied into the folder of a new run id, with no statement, no index entry
    and no staged event: 'tdprov verify' named it incomplete and every audit, default or --full, was clean."""
    new = str(uuid.uuid4())
    for name in files:
        raw_write(s.uri, layout.bundle_key(new, name), raw_read(s.uri, layout.bundle_key(s.extra, name)))
    return CHECK_UNFINISHED, (f"bundle folder {layout.bundle_prefix(new)} holds no signed statement and no index entry or staged "
                              "event names its run: it was never sealed, and no audit examines it")


def plant_unsealed_folder_with_a_manifest(s: Store) -> tuple[str, str, str]:
    return "default", *_plant_unsealed_folder(s, (layout.MANIFEST_FILE,))


def plant_unsealed_folder_with_events_full(s: Store) -> tuple[str, str, str]:
    return "full", *_plant_unsealed_folder(s, (layout.EVENTS_FILE,))


def copy_a_bundle_under_a_name_that_is_no_run_id(s: Store) -> tuple[str, str, str]:
    """A bundle's statement and manifest copied into a folder whose name is no run id, with no index entry: the audit
    stopped on it (no bundle of such a name can be verified)."""
    for name in (layout.MANIFEST_FILE, layout.STATEMENT_FILE):
        raw_write(s.uri, f"bundles/0 stray/{name}", raw_read(s.uri, layout.bundle_key(s.extra, name)))
    return "default", CHECK_INVENTORY, "bundle folder 'bundles/0 stray/' names no run ('0 stray' is not a run id): tdprov wrote no such folder"


def link_a_new_run_id_to_a_logged_bundle(s: Store) -> tuple[str, str, str]:
    """A local folder 'bundles/<new run id>' that is a symbolic link to a logged run's folder: the listing walked the
    logged folder once, under the name that sorts first, so the link was listed by neither verify nor the audit (or
    hid the logged run in its place)."""
    new = "0" + str(uuid.uuid4())[1:]  # sorts before the logged run's folder
    (Path(s.uri) / layout.bundle_prefix(new)).symlink_to(s.extra)
    return "default", CHECK_INVENTORY, (f"a sealed bundle that no index entry names, so that no audit examines it, does not verify: "
                                        f"statement.dsse.json: unreadable: object 'bundles/{new}/statement.dsse.json' in local folder "
                                        f"{s.uri} cannot be read: {s.uri}/bundles/{new} is a symbolic link (to {s.extra})")


def link_a_new_runs_file_to_a_copy_outside_the_store(s: Store) -> tuple[str, str, str]:
    """A file of a run no audit logged yet, replaced by a symbolic link to an identical copy outside the store (which
    whoever can write there may change at will): the bundle verified and was logged."""
    run_id = seal(s.pipe.store, run_events("prepare_linked", [dataset(s.pipe.raw_name, s.pipe.raw)], [], start=T0 + timedelta(hours=4)))
    path = Path(s.uri) / layout.bundle_key(run_id, layout.PROV_FILE)
    copy = Path(s.uri).parent / "outside-prov.json"
    copy.write_bytes(path.read_bytes())
    path.unlink()
    path.symlink_to(copy)
    return "default", CHECK_PROV, f"{path} is a symbolic link (to {copy}), and tdprov writes only files and folders in a store"


def link_a_new_run_id_to_a_copy_outside_the_store(s: Store) -> tuple[str, str, str]:
    """A local folder 'bundles/<new run id>' that is a symbolic link to a copy of a logged run's bundle outside the store
    (a link to '/' alike): the listing walked the folder it leads to as part of the store (all of '/'). It is listed as
    one object, the link, which no read goes through, and named as an object where the run's folder belongs."""
    new = str(uuid.uuid4())
    copy = Path(s.uri).parent / "outside-bundle"
    shutil.copytree(Path(s.uri) / layout.bundle_prefix(s.extra), copy)
    (Path(s.uri) / layout.BUNDLES / new).symlink_to(copy)
    return "default", CHECK_UNFINISHED, _object_in_place(new)


def _object_in_place(run_id: str) -> str:
    """The audit's finding of an object where run ``run_id``'s bundle folder belongs, with no index entry."""
    return (f"object bundles/{run_id} is where run {run_id}'s bundle folder belongs, and no index entry or staged event names "
            "its run: tdprov writes a folder of the bundle's files there, never an object, and no audit examines it")


def add_a_signature_to_a_source_record_no_audit_saw(s: Store) -> tuple[str, str, str]:
    """A source record registered after the last audit, with a garbage signature added beside its valid one: it was taken
    as it was (the bundles' check of one signature and canonical bytes was theirs only)."""
    from prov_common.sources import SourceRecord, register_source

    key = register_source(s.pipe.store, SourceRecord(name="vendor-late", digest=digest("late"), license="CC0-1.0", issuer="Acme"), s.pipe.key).key
    envelope = Envelope.from_json(raw_read(s.uri, key))
    raw_write(s.uri, key, replace(envelope, signatures=(*envelope.signatures, Signature("x", b"\x00" * 64))).to_json())
    return "default", CHECK_SOURCES, (f"source record '{key}': it holds 2 signatures where tdprov signs with one: beside the valid "
                                      f"signature by {s.pipe.key.key_id}, the one by x was added after signing")


ATTACKS: list[Callable[[Store], tuple[str, str, str]]] = [
    roll_back, delete_newest_checkpoint, delete_logged_bundle, copy_under_new_run_id, edit_index_state,
    take_the_start_out_of_an_index_entry_no_audit_listed, name_another_signer_in_an_index_entry_no_audit_listed,
    edit_index_state_in_place_keeping_its_times, edit_logged_prov_document, edit_logged_events_in_place_keeping_their_times,
    delete_index_entry_and_marker,
    move_index_entry_later, delete_audit_state, delete_lookup_object, delete_catalog, truncate_leaf_batch, truncate_leaf_batch_full,
    truncate_newest_leaf_batch, replace_newest_catalog_with_an_older_one, copy_another_stores_catalog_segment, copy_another_stores_lookup_object,
    copy_another_stores_newer_checkpoint, replace_a_source_record_with_another_stores,
    flip_lookup_object_the_last_audit_wrote, flip_lookup_object_the_last_audit_wrote_full, copy_a_lookup_object_over_the_one_the_last_audit_wrote,
    inject_leaf_batch_after_the_head,
    delete_first_checkpoint,
    forge_state, copy_an_older_state_under_a_later_key_of_its_size, wipe_log_and_audit, copy_bundle_under_new_run_id_without_index_entry, copy_bundle_under_upper_case_run_id_full,
    copy_bundle_under_new_run_id_whose_indexed_record_names_no_key,
    plant_a_leaf_batch_inside_the_log, plant_a_leaf_batch_inside_the_log_full, add_a_signature_to_a_source_record_no_audit_saw,
    plant_unsealed_folder_with_a_manifest, plant_unsealed_folder_with_events_full, copy_a_bundle_under_a_name_that_is_no_run_id,
    link_a_new_run_id_to_a_logged_bundle, link_a_new_runs_file_to_a_copy_outside_the_store,
    link_a_new_run_id_to_a_copy_outside_the_store,
]


S3_ATTACKS = {a.__name__ for a in (  # an object rewritten at its key, or planted at the key the next audit writes
    edit_index_state, edit_index_state_in_place_keeping_its_times, edit_logged_prov_document,
    edit_logged_events_in_place_keeping_their_times, truncate_leaf_batch, truncate_newest_leaf_batch,
    replace_newest_catalog_with_an_older_one, copy_another_stores_catalog_segment, replace_a_source_record_with_another_stores,
    flip_lookup_object_the_last_audit_wrote, copy_a_lookup_object_over_the_one_the_last_audit_wrote,
    inject_leaf_batch_after_the_head,
)}  # local only: flip_lookup_object_the_last_audit_wrote_full (--full finds it by the same comparison of fingerprints,
# run on S3 above) and truncate_leaf_batch_full (its rewrite on S3 is truncate_leaf_batch's; the --full walk naming it
# is the same code on both)


@store_cases("attack", {a.__name__: a for a in ATTACKS}, S3_ATTACKS)
def test_attack_is_found_and_stays_found(base: Store, attack: Callable[[Store], tuple[str, str, str]]) -> None:
    s = base
    mode, check, words = attack(s)
    size_before = len(s.keys(CHECKPOINTS_PREFIX))  # as the attack left them (it may delete some, or plant one)
    for attempt in ("found", "still found"):
        # a new run arrives meanwhile: an audit over a gap must not log it under a checkpoint that skips the gap
        seal(s.pipe.store, run_events(f"prepare_after_{attempt.replace(' ', '_')}", [dataset(s.pipe.raw_name, s.pipe.raw)], [],
                                      start=T0 + timedelta(hours=4)))
        result = _audit(s.pipe, full=mode == "full")
        shown = [f"{f.check} {f.object}: {f.what}" for f in result.errors]
        assert result.exit_code == 1, (attempt, shown)
        assert [f for f in result.check(check).errors if words in f.what], (attempt, words, shown)
    if check == CHECK_LOG and mode == "default":  # a gap: no checkpoint was written over it
        assert len(s.keys(CHECKPOINTS_PREFIX)) <= size_before or attack is wipe_log_and_audit


@on(*BOTH)
def test_an_object_directly_under_bundles_is_named_an_object_not_a_folder(base: Store) -> None:
    """An object planted directly under bundles/ was named as a bundle folder ("bundle folder bundles/RUN/ holds no
    signed statement", "bundle folder 'bundles/x/' names no run"): it is an object, named by its key. In a bucket the
    same name can also be a folder holding objects: each is named."""
    s = base
    new = str(uuid.uuid4())
    raw_write(s.uri, f"bundles/{new}", b"{}")
    raw_write(s.uri, "bundles/0 stray", b"{}")
    expected = {(CHECK_UNFINISHED, f"bundles/{new}", _object_in_place(new)),
                (CHECK_INVENTORY, "bundles/0 stray", "object 'bundles/0 stray' names no run ('0 stray' is not a run id): tdprov "
                                                     "wrote no such object")}
    if s.uri.startswith("s3://"):  # beside a folder of the same name
        raw_write(s.uri, layout.bundle_key(new, layout.MANIFEST_FILE), raw_read(s.uri, layout.bundle_key(s.extra, layout.MANIFEST_FILE)))
        raw_write(s.uri, "bundles/0 stray/x.json", b"{}")
        expected |= {(CHECK_UNFINISHED, f"bundles/{new}/", f"bundle folder bundles/{new}/ holds no signed statement and no index "
                                                          "entry or staged event names its run: it was never sealed, and no audit examines it"),
                     (CHECK_INVENTORY, "bundles/0 stray/", "bundle folder 'bundles/0 stray/' names no run ('0 stray' is not a run id): "
                                                           "tdprov wrote no such folder")}
    result = _audit(s.pipe)
    assert {(f.check, f.object, f.what) for f in result.errors if f.object.startswith(("bundles/0 stray", f"bundles/{new}"))} == expected


@on("s3")
def test_an_object_planted_where_a_logged_runs_folder_belongs_is_found_on_s3(base: Store) -> None:
    """A bucket can hold an object 'bundles/RUN' beside the objects under 'bundles/RUN/' (a local folder cannot): the
    audit verified the logged run's bundle again, as a key of its was new, and found nothing, as verify looked for the
    object only when the folder listed none. Every audit names it."""
    s = base
    planted = layout.bundle_prefix(s.extra)[:-1]
    raw_write(s.uri, planted, b"{}")
    for _ in range(2):
        result = _audit(s.pipe)
        named = [f"{f.check} {f.what}" for f in result.errors if f.object == planted]
        assert named and all(f"an object where run {s.extra}'s bundle folder belongs: tdprov writes a folder of the bundle's "
                             "files there, never an object" in what for what in named), [f"{f.object}: {f.what}" for f in result.errors]
        assert result.exit_code == 1


@on(*LOCAL)
def test_a_file_planted_in_a_logged_bundle_is_found_by_every_audit_until_removed(base: Store) -> None:
    """A file the bundle's signed manifest does not list, put in a logged bundle (failure samples of an output it has none
    for): 'tdprov verify' and --full named it, the default audit was clean, as the inventory tracks the files it saw when the
    run was logged. A file in a logged bundle that no audit saw there has the bundle verified again, which names it. Removed
    after --full named it, it stayed a finding until the next --full (what --full found is carried by the audits after it):
    the default audit verifies the bundle again and drops it."""
    s = base
    planted = layout.bundle_key(s.last, layout.samples_path("file", "/data/last.parquet", version=digest("last")))
    raw_write(s.uri, planted, b"PAR1 rows that were never checked")
    for full in (False, False, True):
        found = _audit(s.pipe, full=full)
        shown = [f"{f.check} {f.object}: {f.what} / {f.fix}" for f in found.errors]
        [named] = [f for f in found.errors if f.object == planted]
        assert (named.check, named.what) == (CHECK_SIGNATURES, "unlisted object: in the bundle's prefix but not in its manifest"), shown
        assert named.fix.startswith("find out who wrote the object and remove it"), shown
    raw_delete(s.uri, planted)  # the default audit verifies the bundle again: the finding --full carried is dropped, with a note
    notes = []
    for full in (False, False, True):
        after = _audit(s.pipe, full=full)
        assert after.clean, [f"{f.check} {f.object}: {f.what} / {f.fix}" for f in after.errors]
        notes.append([f.what for f in after.check(CHECK_INVENTORY).findings if f.object == planted])
    assert notes == [[f"the file '{planted}' planted in the bundle of logged run {s.last}, named by an earlier audit, is gone; the "
                      "bundle was verified again and holds only what its signed manifest lists"], [], []], notes


@on(*BOTH)  # restored on S3: the same bytes have the ETag listed before; on a local folder, a new change time
def test_a_file_found_missing_by_full_and_restored_since_is_dropped_by_the_next_audit(base: Store) -> None:
    """Two logged runs' prov.json deleted, named missing by --full: one restored after, it stayed a finding of every
    default audit until the next --full (what --full found is carried by the audits after it). The default audit sees it
    listed again, verifies its bundle again and drops the finding, with a note saying it was restored; the one still
    missing stays."""
    s = base
    back, still = (layout.bundle_key(run, layout.PROV_FILE) for run in (s.extra, s.last))
    sealed = raw_read(s.uri, back)
    for key in (back, still):
        raw_delete(s.uri, key)
    found = _audit(s.pipe, full=True)
    assert [f.object for f in found.check(CHECK_PROV).errors] == [back, still], [f"{f.object}: {f.what}" for f in found.errors]
    raw_write(s.uri, back, sealed)
    notes = []
    for _ in range(2):
        after = _audit(s.pipe)
        shown = [f"{f.check} {f.object}: {f.what}" for f in after.errors]
        assert [(f.object, f.what) for f in after.check(CHECK_PROV).errors] == [
            (still, "missing: the object is listed but not in the store")], shown
        assert not [f for f in after.errors if f.object == back], shown
        notes.append([f.what for f in after.check(CHECK_INVENTORY).findings if f.object == back and f.severity == "note"])
    assert notes[0][-1:] == [f"the object '{back}' of logged run {s.extra} that an earlier audit found missing is restored: the "
                             "bundle was verified again and each has the digest its signed manifest names"], notes
    assert not [n for n in notes[1] if "found missing" in n], notes


@on(*BOTH)
def test_a_bundle_found_missing_whole_by_full_and_restored_since_is_dropped_by_the_next_audit(base: Store) -> None:
    """Two logged runs' bundles deleted whole, named missing by --full under their folder (never listed): one restored
    after, it stayed a finding of every default audit until the next --full. The default audit sees its files listed
    again, verifies the bundle again and drops the finding, with a note saying it was restored; the one still gone stays."""
    s = base
    back, still = (layout.bundle_prefix(run) for run in (s.extra, s.last))
    sealed = {key: raw_read(s.uri, key) for key in s.keys(back)}
    s.delete(*sealed, *s.keys(still))
    found = _audit(s.pipe, full=True)
    gone = "missing: no bundle objects for this run"
    assert [(f.check, f.what) for f in found.errors if f.object == back] == [
        (CHECK_SIGNATURES, gone), (CHECK_LOG, f"the bundle of run {s.extra} (log leaf 2) is gone from the store"),
        (CHECK_INVENTORY, f"the bundle of logged run {s.extra} is gone from the store")], [f"{f.object}: {f.what}" for f in found.errors]
    for key, data in sealed.items():
        raw_write(s.uri, key, data)
    notes = []
    for _ in range(2):
        after = _audit(s.pipe)
        shown = [f"{f.check} {f.object}: {f.what}" for f in after.errors]
        assert [(f.check, f.what) for f in after.errors if f.object == still] == [
            (CHECK_SIGNATURES, gone), (CHECK_INVENTORY, f"the bundle of logged run {s.last} is gone from the store")], shown
        # on a local folder the restored files have a new change time: taken back, the bundle being the one logged
        assert not [f.what for f in after.errors if f.object.startswith(back)], shown
        notes.append([f.what for f in after.check(CHECK_INVENTORY).findings if f.object == back and f.severity == "note"])
    assert notes[0][-1:] == [f"the bundle of logged run {s.extra} that an earlier audit found missing whole is "
                             "restored: the bundle was verified again and each file has the digest its signed manifest names"], notes
    assert not [n for n in notes[1] if "found missing" in n], notes


@on(*LOCAL)
def test_a_bundle_found_missing_whole_and_restored_with_other_bytes_stays_a_finding(base: Store) -> None:
    """A logged bundle deleted whole, named missing by --full, then restored with its PROV document altered: the default
    audit dropped the finding, as no object was missing, with a note that each file has the digest its signed manifest
    names, beside the digest mismatch it named. The finding stays, beside the mismatch, and no note says it is restored."""
    s = base
    back = layout.bundle_prefix(s.extra)
    sealed = {key: raw_read(s.uri, key) for key in s.keys(back)}
    s.delete(*sealed)
    gone = "missing: no bundle objects for this run"
    assert (CHECK_SIGNATURES, gone) in [(f.check, f.what) for f in _audit(s.pipe, full=True).errors if f.object == back]
    for key, data in sealed.items():
        raw_write(s.uri, key, data)
    prov = layout.bundle_key(s.extra, layout.PROV_FILE)
    flip_byte(s.uri, prov)
    after = _audit(s.pipe)
    shown = [f"{f.check} {f.object}: {f.what}" for f in after.errors]
    assert (CHECK_SIGNATURES, gone) in [(f.check, f.what) for f in after.errors if f.object == back], shown
    assert [f for f in after.check(CHECK_PROV).errors if f.object == prov and f.what.startswith("digest mismatch")], shown
    assert not [f for f in after.check(CHECK_INVENTORY).findings if "found missing whole is restored" in f.what], shown


@on(*LOCAL)
def test_a_file_planted_in_a_bundle_that_fails_for_another_reason_is_dropped_once_removed(base: Store) -> None:
    """A bundle logged with a file planted in it and its PROV document altered: the planted file, removed, stayed a finding
    of every default audit until --full (the audit that logged the run carried it, and only a bundle that verified again
    dropped it). The default audit verifies the bundle again and drops the planted file with a note; the altered PROV
    document stays named."""
    s = base
    run = seal(s.pipe.store, run_events("prepare_bad", [dataset(s.pipe.raw_name, s.pipe.raw)],
                                        [dataset("/data/bad.parquet", digest("bad"))], start=T0 + timedelta(hours=4)))
    prov = layout.bundle_key(run, layout.PROV_FILE)
    planted = layout.bundle_key(run, "extra.txt")
    flip_byte(s.uri, prov)
    raw_write(s.uri, planted, b"planted")
    first = _audit(s.pipe)
    assert {(f.check, f.object) for f in first.errors if f.run_id == run} == {(CHECK_SIGNATURES, planted), (CHECK_PROV, prov)}
    raw_delete(s.uri, planted)
    named, notes = [], []
    for full in (False, False, True):
        after = _audit(s.pipe, full=full)
        named.append(sorted((f.check, f.object) for f in after.errors if f.run_id == run))
        notes.append([f.what for f in after.check(CHECK_INVENTORY).findings if f.object == planted])
    assert named == [[(CHECK_PROV, prov)]] * 3, named
    assert notes == [[f"the file '{planted}' planted in the bundle of logged run {run}, named by an earlier audit, is gone; the "
                      "bundle was verified again and holds only what its signed manifest lists"], [], []], notes


@on(*LOCAL)
def test_files_planted_in_a_logged_bundle_are_one_finding_of_the_bundle_until_removed(base: Store) -> None:
    """Each file planted in a bundle was a finding of its own, on every audit: thousands for a bundle thousands were
    planted in. More than ten are one finding of the bundle naming ten and counting the rest (every key in its items,
    as the audit that verifies the bundle gives it), found by every audit until they are removed, then dropped with one
    note."""
    s = base
    prefix = layout.bundle_prefix(s.last)
    planted = [f"{prefix}extra/p{i:02d}" for i in range(12)]
    for key in planted:
        raw_write(s.uri, key, b"planted")
    named = (f"unlisted object: 12 files of the bundle ({', '.join(f'extra/p{i:02d}' for i in range(10))} and 2 more); "
             "extra/p00: in the bundle's prefix but not in its manifest")
    for full in (False, False, True, False):
        found = _audit(s.pipe, full=full)
        shown = [f"{f.check} {f.object}: {f.what} / {f.fix}" for f in found.errors]
        [one] = [f for f in found.errors if f.run_id == s.last]
        assert (one.check, one.object, one.what) == (CHECK_SIGNATURES, prefix, named), shown
        assert one.fix.startswith("find out who wrote the object and remove it"), shown
        assert list(one.items) == planted, (full, shown)  # an audit that carries it from the state too
    for key in planted:
        raw_delete(s.uri, key)
    notes = []
    for full in (False, False, True):
        after = _audit(s.pipe, full=full)
        assert after.clean, [f"{f.check} {f.object}: {f.what} / {f.fix}" for f in after.errors]
        notes.append([f.what for f in after.check(CHECK_INVENTORY).findings if f.run_id == s.last])
    assert notes == [[f"the 12 files planted in the bundle of logged run {s.last}, named by an earlier audit, are gone; the "
                      "bundle was verified again and holds only what its signed manifest lists"], [], []], notes


@on(*LOCAL)
def test_a_folded_finding_carried_from_an_earlier_audit_keeps_its_items_in_the_report(
        base: Store, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """The folded finding of files planted in a logged bundle, carried from the audit state by a plain audit after
    'audit --full', lost its items (report.json listed none): the state keeps them, at most ITEMS_KEPT of a finding
    (here lowered to 11), whose text counts them all, so that the state does not grow with the files planted."""
    from prov_common.audit import model
    from prov_common.cli import main

    s = base
    prefix = layout.bundle_prefix(s.last)
    planted = [f"{prefix}extra/p{i:02d}" for i in range(12)]
    for key in planted:
        raw_write(s.uri, key, b"planted")
    monkeypatch.setattr(model, "ITEMS_KEPT", 11)
    listed = []
    for n, flags in enumerate((["--full"], [])):
        assert main(["audit", *flags, "--store", s.uri, "--report", str(tmp_path / f"r{n}")]) == 1
        report = json.loads((tmp_path / f"r{n}" / "report.json").read_text())
        [one] = [f for check in report["checks"] for f in check["findings"] if f["object"] == prefix]
        assert one["what"].startswith("unlisted object: 12 files of the bundle ("), one
        listed.append(one.get("items"))
    capsys.readouterr()
    assert listed == [planted, planted[:11]], listed


def _audited_with_twelve_files_planted(base: Store, monkeypatch: pytest.MonkeyPatch) -> tuple[str, list[str]]:
    """A run sealed in ``base`` whose bundle holds 12 planted files when an audit first examines it, with at most 11 items
    kept of a folded finding (``ITEMS_KEPT`` lowered): its run id and the planted keys."""
    from prov_common.audit import model

    s = base
    run_id = seal(s.pipe.store, run_events("prepare_more", [dataset(s.pipe.raw_name, s.pipe.raw)],
                                           [dataset("/data/more.parquet", digest("more"))], start=T0 + timedelta(hours=4)))
    prefix = layout.bundle_prefix(run_id)
    planted = [f"{prefix}extra/p{i:02d}" for i in range(12)]
    for key in planted:
        raw_write(s.uri, key, b"planted")
    monkeypatch.setattr(model, "ITEMS_KEPT", 11)
    assert not _audit(s.pipe).clean
    return run_id, planted


def _folded_with_eleven_items(findings: Iterable[Finding], prefix: str, planted: list[str]) -> None:
    """Assert that ``findings`` hold one folded finding of the bundle at ``prefix`` naming its 12 planted files, with the
    first 11 of ``planted`` as its items."""
    [one] = [f for f in findings if f.object == prefix]
    assert one.what.startswith("unlisted object: 12 files of the bundle (extra/p00, "), one.what
    assert list(one.items) == planted[:11], one.items


@on(*LOCAL)
def test_a_folded_finding_keeps_its_items_in_the_catalog_record(base: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The run records of the audit catalog dropped their findings' items, as the audit state did: a run whose bundle
    holds 12 planted files when an audit first examines it is catalogued with the folded finding and its items, at
    most ITEMS_KEPT (here lowered to 11), kept beside the records (which an older tdprov reads as before)."""
    from prov_common.audit.catalog import load_catalog
    from prov_common.signing import trust_from_settings

    run_id, planted = _audited_with_twelve_files_planted(base, monkeypatch)
    s, prefix = base, layout.bundle_prefix(run_id)
    record = load_catalog(s.pipe.store, trust_from_settings(Settings.from_env(store=s.uri))).runs[run_id]
    _folded_with_eleven_items(record.bundle_findings, prefix, planted)


@on(*LOCAL)
def test_a_folded_finding_keeps_its_items_in_the_lookup_of_the_version_its_run_generated(
        base: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lookup objects under audit/generated/ dropped their records' findings' items, as the catalog did: the run
    whose bundle holds 12 planted files when an audit first examines it is kept in the lookup of the version it
    generated with the folded finding and its items, at most ITEMS_KEPT (here lowered to 11), beside the record."""
    from prov_common.audit.catalog import Binding
    from prov_common.audit.generated import generated_key, read_lookup
    from prov_common.signing import trust_from_settings

    run_id, planted = _audited_with_twelve_files_planted(base, monkeypatch)
    s, prefix = base, layout.bundle_prefix(run_id)
    record = read_lookup(s.pipe.store, generated_key("file", "/data/more.parquet", digest("more")),
                         Binding.of(s.pipe.store, trust_from_settings(Settings.from_env(store=s.uri))))
    assert record.run_id == run_id
    _folded_with_eleven_items(record.bundle_findings, prefix, planted)


@on(*BOTH)
def test_a_changed_checkpoint_is_named_once_and_not_blamed_on_what_it_covers(base: Store) -> None:
    """The checkpoint the last audit wrote, changed before the next listing: it is the finding (once in the log check,
    once in the inventory), not the leaf batch and catalog segment read through it, which nobody changed; restored, the
    store is clean again and those objects are taken. The auditor pinned the bytes it wrote, so the inventory names it as
    not the object this auditor wrote, with the fix to restore it (it said 'appeared or was replaced ... and does not
    verify' with the fix to remove it, which leaves the log without its newest checkpoint)."""
    s = base
    key = s.newest(CHECKPOINTS_PREFIX)
    good = raw_read(s.uri, key)
    flip_byte(s.uri, key)
    for full in (False, False, True):
        result = _audit(s.pipe, full=full)
        shown = [f"{f.check} {f.object}: {f.what}" for f in result.errors]
        log = [(f.object, f.what) for f in result.check(CHECK_LOG).errors]
        assert log and len(log) == len(set(log)) and {o for o, _ in log} == {key}, shown
        [listed] = result.check(CHECK_INVENTORY).errors
        assert listed.what.startswith(f"checkpoint '{key}' is not the object this auditor wrote"), shown
        assert listed.fix.startswith("restore the object from a backup or replica of the store"), listed.fix
    raw_write(s.uri, key, good)
    assert _audit(s.pipe).clean
    truncate_newest_leaf_batch(s)  # taken while the checkpoint was restored: now a known object that changed
    again = _audit(s.pipe)
    assert [f for f in again.check(CHECK_INVENTORY).errors if f.object == s.newest(LEAVES_PREFIX) and "changed after it was first listed" in f.what], \
        [f"{f.check} {f.object}: {f.what}" for f in again.errors]


def test_a_leaf_edited_in_its_batch_is_named_and_the_bundle_it_logs_is_not_blamed(base: Store) -> None:
    """The newest leaf batch, its leaf's manifest digest edited: the full audit found that the leaves do not hash to the
    checkpoint and then named the bundle of that leaf as "not the one logged" (manifest.json changed), with the fix to
    restore a bundle nobody changed. With the bundle as it is in the leaf's place the leaves hash to the signed
    checkpoint, so the leaf batch is what changed: it is named, with the fix to restore it, and the bundle is not."""
    s = base
    batch = s.newest(LEAVES_PREFIX)
    good = raw_read(s.uri, batch)
    [leaf] = json.loads(good)["leaves"]
    digest_at = good.index(leaf["manifestDigest"].encode()) + len("blake3:")
    raw_write(s.uri, batch, good[:digest_at] + (b"0" if good[digest_at:digest_at + 1] != b"0" else b"1") + good[digest_at + 1:])
    for _ in ("found", "still found"):
        result = _audit(s.pipe, full=True)
        shown = [f"{f.check} {f.object}: {f.what}" for f in result.errors]
        assert not [f for f in result.errors if f.object.startswith(layout.bundle_prefix(leaf["runId"]))], shown
        [named] = [f for f in result.check(CHECK_LOG).errors if f.object == batch]
        assert f"leaf 3 (run {leaf['runId']})" in named.what and "the bundle is as logged" in named.what, shown
        assert named.fix.startswith("restore the leaf batch"), named.fix
    raw_write(s.uri, batch, good)
    assert not [f for f in _audit(s.pipe, full=True).check(CHECK_LOG).errors if f.object == batch]


@on(*LOCAL)
def test_an_incremental_audit_names_a_changed_bundle_by_its_leaf_index_in_the_log(base: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run logged as leaf 4 by an auditor that stopped before saving its state, its bundle's manifest then changed:
    the next incremental audit reads the log from the state's checkpoint (4 leaves) and named the bundle "not the one
    logged as leaf 0", counting from the first leaf it read; it is leaf 4 of the log."""
    from prov_common.audit import engine

    s = base
    run = seal(s.pipe.store, run_events("prepare_more", [dataset(s.pipe.raw_name, s.pipe.raw)],
                                        [dataset("/data/more.parquet", digest("more"))], start=T0 + timedelta(hours=4)))

    def stop(*_args: Any, **_kw: Any) -> None:
        raise KeyboardInterrupt("the auditor stopped before saving its state")

    with monkeypatch.context() as m:
        m.setattr(engine, "write_state", stop)
        with pytest.raises(KeyboardInterrupt):
            _audit(s.pipe)
    assert json.loads(raw_read(s.uri, s.newest(LEAVES_PREFIX)))["first"] == 4
    flip_byte(s.uri, layout.bundle_key(run, "manifest.json"))
    result = _audit(s.pipe)
    shown = [f"{f.check} {f.object}: {f.what}" for f in result.errors]
    named = [f.what for f in result.check(CHECK_LOG).errors if f.run_id == run and "not the one logged" in f.what]
    assert len(named) == 1 and f"the bundle of run {run} is not the one logged as leaf 4: manifest.json changed" in named[0], shown


@on(*LOCAL)
def test_an_incremental_audit_counts_only_the_leaves_after_a_lost_batch_it_compared(base: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two runs logged as leaves 4 and 5 by auditors that stopped before saving their state, the batch of leaf 4 then
    damaged and the index entry of run 5 deleted: the next incremental audit reads leaf 5 after the lost batch, and its
    log check counted it as checked whether it compared it with its bundle or not. It counts the checkpoints it read and
    the leaves it compared: leaf 5 is logged, so its run is examined (from the leaf, its index entry gone, which the
    finding on it names) and the leaf compared with its bundle."""
    from prov_common.audit import engine

    s = base

    def stop(*_args: Any, **_kw: Any) -> None:
        raise KeyboardInterrupt("the auditor stopped before saving its state")

    for n in (4, 5):
        seal(s.pipe.store, run_events(f"prepare_more_{n}", [dataset(s.pipe.raw_name, s.pipe.raw)],
                                      [dataset(f"/data/more{n}.parquet", digest(f"more{n}"))], start=T0 + timedelta(hours=n)))
        with monkeypatch.context() as m:
            m.setattr(engine, "write_state", stop)
            with pytest.raises(KeyboardInterrupt):
                _audit(s.pipe)
    lost, later = s.keys(LEAVES_PREFIX)[-2:]
    assert (json.loads(raw_read(s.uri, lost))["first"], json.loads(raw_read(s.uri, later))["first"]) == (4, 5)
    [leaf] = json.loads(raw_read(s.uri, later))["leaves"]
    raw_write(s.uri, lost, raw_read(s.uri, lost)[:-2])
    raw_delete(s.uri, leaf["indexKey"])
    result = _audit(s.pipe)
    shown = [f"{f.check} {f.object}: {f.what}" for f in result.errors]
    assert "could not be checked" in {f.object: f.what for f in result.check(CHECK_LOG).errors}.get(s.keys(CHECKPOINTS_PREFIX)[-2], ""), shown
    # the checkpoints read (the state's and the two after it), and leaf 5, compared with its bundle
    assert result.check(CHECK_LOG).checked == 4, shown
    assert any(f.object == leaf["indexKey"] and f.run_id == leaf["runId"] for f in result.errors), shown  # examined: its entry is gone


@on(*LOCAL)
@pytest.mark.parametrize("damage", ["swap", "garble"])
def test_a_moved_or_damaged_leaf_batch_is_the_object_of_the_full_audits_finding(base: Store, damage: str) -> None:
    """Two leaf batches swapped (each under the other's key), or one made unreadable as JSON: the full audit's log
    finding named the folder 'log/leaves/' as its object, though its text names the batch; it names the batch."""
    s = base
    older, newer = s.keys(LEAVES_PREFIX)[-2:]
    a, b = raw_read(s.uri, older), raw_read(s.uri, newer)
    if damage == "swap":
        raw_write(s.uri, older, b)
        raw_write(s.uri, newer, a)
    else:
        raw_write(s.uri, older, a[:-2])
    result = _audit(s.pipe, full=True)
    shown = [f"{f.check} {f.object}: {f.what}" for f in result.errors]
    assert [f for f in result.check(CHECK_LOG).errors if f.object == older and f"'{older}'" in f.what], shown
    assert not [f for f in result.errors if f.object == LEAVES_PREFIX], shown
    if damage == "swap":  # under a key inside the log: its leaves are the log's, at the other key (copied past the end: removed)
        assert {(f.what, f.fix) for f in result.check(CHECK_LOG).errors if f.object == older} == {(
            f"log leaf batch '{older}' claims first index {json.loads(b)['first']}: it was moved", FIX_CHANGED)}, shown


def _copy_a_leaf_batch_past_the_logs_end(s: Store) -> tuple[str, str, str]:
    """A fifth run logged, then the second leaf batch (leaves 2 on) copied to a key past the log's end: its key, what the
    audit says of it and the fix."""
    seal(s.pipe.store, run_events("prepare_more", [dataset(s.pipe.raw_name, s.pipe.raw)], [], start=T0 + timedelta(hours=4)))
    assert _audit(s.pipe).checkpoint.checkpoint.size == 5
    second = s.keys(LEAVES_PREFIX)[1]
    assert json.loads(raw_read(s.uri, second))["first"] == 2
    moved = f"{LEAVES_PREFIX}{9:012d}.json"
    raw_write(s.uri, moved, raw_read(s.uri, second))
    return (moved, f"log leaf batch '{moved}' claims first index 2: it was copied or moved past the log's end (the newest "
                   "checkpoint covers 5 leaves), so its leaves are not the log's",
            "remove that leaf batch (find out who wrote it: only auditors write under log/), then audit again")


def _copied_past_the_end(moved: str, claims: str, fix: str, waiting: str = "") -> list[tuple[str, str, str, str]]:
    """The findings of every audit of a log with the leaf batch ``moved`` copied past its end, ``waiting`` the new
    bundles the append it stops leaves out, as named (" 1 new bundle to the log (run R)"; none: ""): each with the one
    fix for that batch (the log check's said to restore the log objects from a backup or replica, the inventory's to
    remove it). The refused append's finding is the batch's as its text is (it was the folder 'log/')."""
    return [(CHECK_LOG, moved, claims, fix), (CHECK_LOG, moved, f"could not append{waiting or ' to the log'}: {claims}", fix),
            (CHECK_INVENTORY, moved, f"'{moved}' appeared or was replaced since the last audit and does not verify: {claims}", fix)]


@on(*LOCAL)
def test_a_leaf_batch_copied_past_the_logs_end_is_named_and_nothing_else_is_blamed(base: Store, monkeypatch: pytest.MonkeyPatch,
                                                                                   capsys: pytest.CaptureFixture) -> None:
    """A leaf batch copied to a key past the log's end: each audit names it (moved, and the append it stops), and only it,
    whether this auditor or another one audited last. An auditor whose checkpoint was older than the head (another auditor
    of the store had logged a run since) read the leaves from its checkpoint on to the end of the listing to prove the
    head extends it, met the copy past the head, and named the head as not consistent with its checkpoint (a gap, with
    the fix to accept the loss), though no leaf the head covers had changed; 'tdprov prove' of a logged run, and of the
    head's consistency with an earlier checkpoint, refused for the copy too."""
    s = base
    behind = Path(os.environ["TDPROV_HOME"]).with_name("auditor-behind")
    shutil.copytree(os.environ["TDPROV_HOME"], behind)  # the same keys, and the memory of checkpoint 4
    moved, claims, fix = _copy_a_leaf_batch_past_the_logs_end(s)
    expected = _copied_past_the_end(moved, claims, fix)
    for home in (os.environ["TDPROV_HOME"], str(behind)):
        monkeypatch.setenv("TDPROV_HOME", home)
        for full in (False, True, False):
            result = _audit(s.pipe, full=full)
            found = [(f.check, f.object, f.what, f.fix) for f in result.errors]
            assert result.exit_code == 1 and found == expected, (home, full, found)
            assert len(s.keys(CHECKPOINTS_PREFIX)) == 4 and s.keys(LEAVES_PREFIX)[-1] == moved, (home, full)
    # the proofs against the checkpoints read no leaf past them either
    from prov_common.cli import main

    assert main(["prove", s.last, "--store", s.uri]) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["treeSize"] == 5
    assert main(["prove", "--consistency", "4", "5", "--store", s.uri]) == 0, capsys.readouterr().err


@on(*LOCAL)
@pytest.mark.parametrize("count", [1, 4])
def test_a_run_waiting_behind_a_leaf_batch_copied_past_the_logs_end_is_not_blamed(base: Store, count: int) -> None:
    """Runs sealed while a leaf batch copied past the log's end stops every append wait behind it: the log check names
    the append that failed, how many new bundles it leaves out and which runs (the first three, the rest counted: it
    counted them only), and no other finding names a run (one was named "in the index but not in the log", with the fix
    for a back-dated entry, as though the append had logged what was listed). Once the copy is removed, the next audit
    logs them with no finding."""
    s = base
    moved, claims, fix = _copy_a_leaf_batch_past_the_logs_end(s)
    waiting = [seal(s.pipe.store, run_events(f"prepare_waiting_{i}", [dataset(s.pipe.raw_name, s.pipe.raw)],
                                             [dataset(f"/data/waiting_{i}.parquet", digest(f"waiting_{i}"))],
                                             start=T0 + timedelta(hours=5 + i))) for i in range(count)]
    named = (f" 1 new bundle to the log (run {waiting[0]})" if count == 1 else
             f" 4 new bundles to the log (runs {waiting[0]}, {waiting[1]}, {waiting[2]} and 1 more)")
    expected = _copied_past_the_end(moved, claims, fix, named)
    for full in (False, True, False):
        result = _audit(s.pipe, full=full)
        found = [(f.check, f.object, f.what, f.fix) for f in result.errors]
        assert result.exit_code == 1 and found == expected, (full, found)
        assert not [f for f in result.findings if f.run_id in waiting or f.object in waiting], (full, found)
        assert result.bundles_logged == 0 and result.checkpoint.checkpoint.size == 5, full
    s.delete(moved)
    for full in (False, True):
        result = _audit(s.pipe, full=full)
        assert not result.findings, (full, [(f.check, f.object, f.what) for f in result.findings])
        assert result.checkpoint.checkpoint.size == 5 + count and result.bundles_logged == (0 if full else count), full
    assert [x["runId"] for x in json.loads(raw_read(s.uri, s.newest(LEAVES_PREFIX)))["leaves"][-count:]] == waiting


@pytest.mark.parametrize(("base", "damage", "edit"), [  # on S3, each damage and each edit once at least: the walk is the same code
    pytest.param(store, damage, edit, id=f"{store}-{damage}-{edit}") for damage in ("garble", "delete", "oversize") for edit in ("bundle", "leaf")
    for store in BOTH if (store, damage, edit) not in {("s3", "garble", "leaf"), ("s3", "oversize", "bundle")}], indirect=["base"])
def test_a_damaged_early_leaf_batch_does_not_hide_an_edit_after_it(base: Store, damage: str, edit: str) -> None:
    """The first leaf batch made unreadable (damaged, or larger than any batch) or deleted, and then the newest run's bundle changed (or its leaf edited in
    the newest batch): the full audit named the first batch and checked nothing after it, so the later edit went
    unnamed. The later batches are checked from the signed frontier of the checkpoint they begin at, and against their
    bundles; what could not be checked (the checkpoint over the lost leaves) is named too."""
    s = base
    first, newest = s.keys(LEAVES_PREFIX)[0], s.newest(LEAVES_PREFIX)
    covering = s.keys(CHECKPOINTS_PREFIX)[0]  # the checkpoint of the first audit, over the first batch's leaves only
    if damage == "garble":
        raw_write(s.uri, first, raw_read(s.uri, first)[:-2])
    elif damage == "oversize":
        raw_write(s.uri, first, b" " * (SMALL_OBJECT_LIMIT + 1))
    else:
        s.delete(first)
    if edit == "bundle":
        flip_byte(s.uri, layout.bundle_key(s.last, "manifest.json"))
    else:
        good = raw_read(s.uri, newest)
        [leaf] = json.loads(good)["leaves"]
        at = good.index(leaf["manifestDigest"].encode()) + len("blake3:")
        raw_write(s.uri, newest, good[:at] + (b"0" if good[at:at + 1] != b"0" else b"1") + good[at + 1:])
    result = _audit(s.pipe, full=True)
    shown = [f"{f.check} {f.object}: {f.what}" for f in result.errors]
    found = {f.object: f.what for f in result.check(CHECK_LOG).errors}
    if damage == "garble":
        assert f"log leaf batch '{first}' is damaged" in found.get(first, ""), shown
    elif damage == "oversize":
        assert f"object '{first}'" in found.get(first, "") and "is larger than" in found[first], shown
        assert LEAVES_PREFIX not in found, shown
    else:
        assert "log leaves 0..1 are missing" in found.get(s.keys(LEAVES_PREFIX)[0], ""), shown
    assert "could not be checked" in found.get(covering, "") and "log leaves 0..1" in found[covering], shown
    if edit == "bundle":
        assert (f"the bundle of run {s.last} is not the one logged as leaf 3: manifest.json changed"
                in found.get(layout.bundle_key(s.last, "manifest.json"), "")), shown
    else:
        assert f"log leaf 3 (run {s.last}) was altered in its leaf batch" in found.get(newest, ""), shown


def test_an_unreadable_batch_planted_inside_the_log_is_named_so_and_the_log_after_it_is_checked(base: Store) -> None:
    """A damaged batch at a key inside the first batch (leaf 1 of 0..1): the full audit took it for a lost batch, so
    the batches after it were not hashed on from the leaves before it and their checkpoints were named as not checked
    against the leaves. Its key tells it begins inside the leaves hashed: it is named as planted there, and the log
    after it is checked as it is."""
    s = base
    planted = f"{LEAVES_PREFIX}{1:012d}.json"
    raw_write(s.uri, planted, b'{"first": 1, "leaves": [')
    result = _audit(s.pipe, full=True)
    shown = [f"{f.check} {f.object}: {f.what}" for f in result.errors]
    found = {f.object: f.what for f in result.check(CHECK_LOG).errors}
    assert found.get(planted, "").startswith(f"log leaf batch '{planted}' begins at leaf 1, inside the batch before it"), shown
    assert "it cannot be read either" in found[planted], shown
    assert not [w for w in found.values() if "could not be checked" in w], shown


@on(*LOCAL)
def test_a_leaf_batch_planted_inside_the_log_has_one_fix(base: Store) -> None:
    """A batch planted at a key inside the log: the walk over the log told to remove that leaf batch, the inventory to
    remove the object, in other words with another reason. Each finding naming it has the one fix."""
    s = base
    plant_a_leaf_batch_inside_the_log(s)
    planted = f"{LEAVES_PREFIX}{1:012d}.json"
    for full in (False, True):
        result = _audit(s.pipe, full=full)
        found = [(f.check, f.fix) for f in result.errors if f.object == planted]
        assert CHECK_INVENTORY in dict(found) and (CHECK_LOG in dict(found)) == full, (full, found)
        assert {fix for _, fix in found} == {FIX_NOT_THE_LOGS}, (full, found)



@on(*LOCAL)
@pytest.mark.parametrize("how", ["not canonical", "another first leaf"])
def test_a_leaf_batch_planted_inside_the_log_that_does_not_read_has_one_fix(base: Store, how: str) -> None:
    """A batch planted at a key inside the log that is not in canonical form, or that claims another first leaf than its
    key's: the walk over the log told it planted, with the fix to remove that leaf batch, the inventory told it edited or
    moved, with its own words to remove the object. The inventory tells it planted too, in the walk's words."""
    s = base
    leaves = json.loads(raw_read(s.uri, s.keys(LEAVES_PREFIX)[0]))["leaves"]
    planted = f"{LEAVES_PREFIX}{1:012d}.json"
    raw_write(s.uri, planted, json.dumps({"first": 1, "leaves": leaves[1:]}, indent=1).encode() if how == "not canonical"
              else json.dumps({"first": 3, "leaves": leaves[1:]}, separators=(",", ":")).encode())
    for full in (False, True):
        result = _audit(s.pipe, full=full)
        found = {f.check: (f.what, f.fix) for f in result.errors if f.object == planted}
        shown = [(f.check, f.object, f.what, f.fix) for f in result.errors]
        assert CHECK_INVENTORY in found and (CHECK_LOG in found) == full, (full, shown)
        assert {fix for _, fix in found.values()} == {FIX_NOT_THE_LOGS}, (full, shown)
        what = found[CHECK_INVENTORY][0]
        assert what.startswith(f"'{planted}' appeared or was replaced since the last audit and does not verify: log leaf batch "
                               f"'{planted}' begins at leaf 1, inside the batch before it"), (full, shown)
        assert not full or what.endswith(f"does not verify: {found[CHECK_LOG][0]}"), (full, shown)


@on(*LOCAL)
def test_a_deleted_newest_checkpoint_is_named_and_what_the_auditor_wrote_under_it_is_not_called_forged(base: Store) -> None:
    """The checkpoint the last audit wrote, deleted: the leaf batch it covered, which that auditor wrote, was named as written
    by no auditor, with the fix to remove it (the only record of the leaves the lost checkpoint signed); the audit state
    bound to it was named by the store's bare "no object" error, with the fix "check the key with 'tdprov runs'". The batch
    holds the bytes the auditor wrote and is taken; the state's finding names the lost checkpoint and the fix of the gap."""
    s = base
    state, batch = s.newest("audit/state/"), s.newest(LEAVES_PREFIX)
    delete_newest_checkpoint(s)
    for _ in ("found", "still found"):
        found = _audit(s.pipe)
        shown = [f"{f.check} {f.object}: {f.what} / {f.fix}" for f in found.errors]
        assert not [f for f in found.errors if f.object == batch or "remove the object" in f.fix or f.what.startswith("no object")], shown
        [bound] = [f for f in found.check(CHECK_LOG).errors if state in f.what]
        assert bound.object == "log/checkpoints/000000000004.json", shown
        assert "is bound to checkpoint 4, which the store no longer holds" in bound.what and "--accept-checkpoint" in bound.fix, shown


@on(*LOCAL)
def test_a_catalog_segment_of_runs_the_log_lost_is_not_called_another_stores(base: Store) -> None:
    """The newest checkpoint and leaf batch deleted: the catalog segment the last audit wrote names a run the log no longer
    holds. It was called another store's object, with the fix to remove it: the record of the run the log lost. The finding
    says that the log lost the run, or that the object is another store's, and to keep it if the log was rolled back."""
    s = base
    segment = s.newest("audit/catalog/")
    s.delete(s.newest(CHECKPOINTS_PREFIX), s.newest(LEAVES_PREFIX))
    found = _audit(s.pipe)
    shown = [f"{f.check} {f.object}: {f.what} / {f.fix}" for f in found.errors]
    [named] = [f for f in found.check(CHECK_LOG).errors if f.object == segment]
    assert f"was written at checkpoint 4, which this log no longer has, and names run {s.last}" in named.what, shown
    assert named.fix.startswith("if this store's log was rolled back, keep the object"), shown


@on(*BOTH)
def test_a_lookup_object_restored_to_the_bytes_the_auditor_wrote_is_taken_as_any_audit_object(base: Store) -> None:
    """A lookup object changed after the audit that wrote it, before any listing showed it, is a finding against the
    fingerprint the store gave it when it was created, until it holds the bytes the auditor wrote again where the
    fingerprint is of the bytes (S3's ETag); on a local folder the restored file has a new change time, so a person takes it
    back, as any restored audit object (--accept-checkpoint). A later change is one against the fingerprint taken."""
    s = base
    key = _lookup_of("/data/last.parquet", "last")
    good = raw_read(s.uri, key)
    flip_byte(s.uri, key)
    assert [f for f in _audit(s.pipe).check(CHECK_INVENTORY).errors if f.object == key and "changed after it was first listed" in f.what]
    raw_write(s.uri, key, good)
    if not s.uri.startswith("s3://"):
        [still] = [f for f in _audit(s.pipe).check(CHECK_INVENTORY).errors if f.object == key]
        assert "--accept-checkpoint" in still.fix, still
        _audit(s.pipe, accept_checkpoint="lookup object restored from a backup")
    assert _audit(s.pipe).clean
    flip_byte(s.uri, key)
    again = _audit(s.pipe)
    assert [f for f in again.check(CHECK_INVENTORY).errors if f.object == key and "changed after it was first listed" in f.what], \
        [f"{f.check} {f.object}: {f.what}" for f in again.errors]


@on(*LOCAL)
def test_accepting_the_checkpoint_is_recorded_and_closes_the_gap(base: Store) -> None:
    s = base
    delete_newest_checkpoint(s)
    assert _audit(s.pipe).exit_code == 1
    with pytest.raises(Exception, match="needs a reason"):
        _audit(s.pipe, accept_checkpoint=" ")
    result = _audit(s.pipe, accept_checkpoint="checkpoint 4 lost in an incident; leaves re-checked")
    record = result.resolution
    assert record and record["before"]["treeSize"] == 4 and record["after"]["treeSize"] == 3 and record["closed"]
    assert record["key"] in s.keys("audit/resolutions/")
    assert not [f for f in result.check(CHECK_LOG).errors if "rolled back" in f.what], [f.what for f in result.errors]
    # the log goes on from the accepted checkpoint; later audits are clean
    assert result.checkpoint.checkpoint.size > 3
    after = _audit(s.pipe)
    assert after.clean, [f.what for f in after.errors]


@on(*LOCAL)
def test_audit_json_publishes_the_checkpoint_and_a_witness_catches_a_roll_back(base: Store, tmp_path, capsys) -> None:
    """``tdprov audit --json`` prints the checkpoint; kept elsewhere it is a witness that a fresh auditor
    (no memory of its own) checks with ``--witness``: a rolled-back log is a finding."""
    from prov_common.cli import main

    s = base
    assert main(["audit", "--json", "--store", s.uri, "--report", str(tmp_path / "r")]) == 0
    published = json.loads(capsys.readouterr().out)
    head = s.pipe.store.get(s.newest(CHECKPOINTS_PREFIX))
    assert published["checkpoint"]["treeSize"] == 4 and published["checkpoint"]["checkpointDigest"] == sha256_digest(head)
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["log"]["checkpointDigest"] == published["checkpoint"]["checkpointDigest"]
    witness = tmp_path / "witness.json"
    witness.write_text(json.dumps(published))
    roll_back(s)
    memory_path(s.pipe.store.uri).unlink()  # an auditor that never saw this store (same keys)
    code = main(["audit", "--json", "--store", s.uri, "--report", str(tmp_path / "r2")])  # trusts on first use
    assert code == 0, capsys.readouterr().out
    capsys.readouterr()
    assert main(["audit", "--json", "--store", s.uri, "--report", str(tmp_path / "r3"), "--witness", str(witness)]) == 1
    found = json.loads(capsys.readouterr().out)["findings"]
    assert any("witness" in f["what"] and "rolled back" in f["what"] for f in found), found


@on(*LOCAL)
def test_full_audit_compares_every_index_entry_with_its_signed_manifest(base: Store) -> None:
    """Without the auditor's memory (a fresh auditor), --full still finds an edited index entry from the bytes."""
    s = base
    edit_index_state(s)
    memory_path(s.pipe.store.uri).unlink()
    result = _audit(s.pipe, full=True)
    found = [f for f in result.check(CHECK_SIGNATURES).errors if f.object == s.index_key(s.extra)]
    assert found and "state" in found[0].what, [f.what for f in result.errors]


@pytest.mark.parametrize("rewrite_record", [False, True], ids=["entry-moved", "entry-and-indexed-record-moved"])
@on(*LOCAL)
def test_an_index_entry_dated_in_the_future_is_found_and_later_runs_are_still_logged(base: Store, rewrite_record: bool) -> None:
    """A run not yet audited has its index entry moved to 2099 (and its ``indexed`` record rewritten to name it):
    the audit names the entry; the audits after it still examine and log the runs sealed later, so deleting one
    of them is found (the listing cursor had jumped to 2099 and every later run went unlogged)."""
    s = base
    fresh = seal(s.pipe.store, run_events("prepare_fresh", [], [dataset("/data/fresh.parquet", digest("fresh"))], start=T0 + timedelta(hours=4)))
    key = s.index_key(fresh)
    future = f"index/2099/01/01/20990101T000000000000Z-{fresh}.json"
    raw_write(s.uri, future, raw_read(s.uri, key))
    s.delete(key)
    if rewrite_record:
        raw_write(s.uri, layout.bundle_key(fresh, layout.INDEXED_FILE), future.encode())
    found = _audit(s.pipe)
    shown = [f"{f.check} {f.object}: {f.what}" for f in found.errors]
    assert [f for f in found.check(CHECK_INVENTORY).errors if f.object == future and "dated in the future" in f.what], shown
    assert bool([f for f in found.errors if "moved or copied" in f.what]) is not rewrite_record, shown
    assert [r.run_id for r in recent_bundles(s.pipe.store, limit=1)] == [fresh]  # tdprov runs shows it (it listed from today back)
    genuine = seal(s.pipe.store, run_events("prepare_genuine", [], [dataset("/data/genuine.parquet", digest("genuine"))],
                                            start=T0 + timedelta(hours=5)))
    later = _audit(s.pipe)
    assert later.bundles_examined == 1 and later.bundles_logged == 1, (later.bundles_examined, later.bundles_logged)
    assert [f for f in later.check(CHECK_INVENTORY).errors if f.object == future and "dated in the future" in f.what], \
        "only the audit that examined the run named the entry"
    s.delete_run(genuine)
    gone = _audit(s.pipe)
    assert [f for f in gone.check(CHECK_INVENTORY).errors if f"the bundle of logged run {genuine} is gone" in f.what], \
        [f.what for f in gone.errors]


@on(*LOCAL)
def test_a_key_that_names_no_run_is_a_finding_not_a_stop(base: Store, capsys: pytest.CaptureFixture) -> None:
    """A writer puts an index entry and a bundle folder under names that are no run id ('0 stray'): verify and
    the audit name them and go on with every real bundle (they stopped with exit 2, examining nothing)."""
    from prov_common.cli import main

    s = base
    entry = s.index_key(s.extra)
    stray_entry = entry.rsplit("/", 1)[0] + "/20990101T000000000000Z-0 stray.json"
    raw_write(s.uri, stray_entry, raw_read(s.uri, entry))
    raw_write(s.uri, "bundles/0 stray/manifest.json", b"{}")
    result = _audit(s.pipe)
    shown = [f"{f.check} {f.object}: {f.what}" for f in result.errors]
    assert [f for f in result.check(CHECK_INVENTORY).errors if f.object == stray_entry and "names no run" in f.what], shown
    assert [f for f in result.check(CHECK_INVENTORY).errors if f.object == "bundles/0 stray/" and "names no run" in f.what], shown
    assert main(["verify", "--store", s.uri]) == 1
    out = capsys.readouterr().out
    assert "bundles/0 stray/: malformed: '0 stray' is not a run id" in out
    assert sum(line.startswith("OK ") for line in out.splitlines()) == len(s.keys("index/")) - 1, out
    assert _audit(s.pipe, full=True).exit_code == 1


@on(*LOCAL)
def test_a_key_that_names_no_run_is_a_finding_not_a_stop_in_worker_processes(base: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stray index entry above where the audit examines bundles in worker processes (here from 2 on): the listed
    fingerprints sent with each chunk were looked up by the run id its key names, which cannot name a bundle folder,
    and the audit stopped (BadInputError) instead of naming it."""
    from prov_common.audit import engine

    monkeypatch.setattr(engine, "PARALLEL_FROM", 2)
    s = base
    for i in range(3):  # new bundles beside the stray entry: examined by workers, the stray one last
        seal(s.pipe.store, run_events(f"prepare_pooled_{i}", [dataset(s.pipe.raw_name, s.pipe.raw)], [],
                                      start=T0 + timedelta(hours=4, minutes=i)))
    entry = s.index_key(s.extra)
    stray_entry = entry.rsplit("/", 1)[0] + "/20990101T000000000000Z-0 stray.json"
    raw_write(s.uri, stray_entry, raw_read(s.uri, entry))
    result = _audit(s.pipe, workers=2)
    shown = [f"{f.check} {f.object}: {f.what}" for f in result.errors]
    assert [f for f in result.check(CHECK_INVENTORY).errors if f.object == stray_entry and "names no run" in f.what], shown


def test_a_witness_is_compared_by_its_root_too_and_may_leave_out_the_digest(tmp_path) -> None:
    """A published {treeSize, rootHash} is a witness (it was refused for lacking checkpointDigest); a witness whose
    root differs from the stored checkpoint's is a finding (only the digest was compared), whose fix asks whether
    the witness is of this store."""
    s = Store(str(tmp_path / "store"))
    head = s.pipe.store.get(s.newest(CHECKPOINTS_PREFIX))
    from prov_common.signing import Envelope
    from prov_common.tlog.model import Checkpoint

    cp = Checkpoint.from_payload(Envelope.from_json(head).payload)
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps({"treeSize": cp.size, "rootHash": cp.root}))
    bad.write_text(json.dumps({"treeSize": cp.size, "rootHash": "00" * 32, "checkpointDigest": sha256_digest(head)}))
    assert _audit(s.pipe, witnesses=[str(good)]).clean
    found = _audit(s.pipe, witnesses=[str(bad)])
    (gap,) = [f for f in found.check(CHECK_LOG).errors if "bad.json" in f.what]
    assert f"its root was {'00' * 32}" in gap.what and "check that the witness is of this store" in gap.fix


def test_a_published_report_edited_to_an_empty_log_is_refused_as_a_witness(tmp_path, capsys) -> None:
    """A report the audit published, edited to give tree size 0 (or a negative one) beside the checkpoint it names:
    as a witness it checked nothing (size 0 is the empty log, which every log extends), and the audit was clean,
    exit 0; a negative size was named as a checkpoint '-00000000003' deleted from the store. Each is refused naming
    the witness, exit 2. A report edited all the way to the empty log's (size 0, no root, no checkpoint, no digest) was
    taken as a genuine one's twin: it is checked against the digest its audit signed (audit/runs/), so it is refused as
    edited too, as it is with that record gone; a genuine report of the empty log is still taken, re-indented too, and
    so is one an older tdprov wrote indented (reports are now compact), whose record names the indented bytes."""
    from prov_common.cli import main

    s = Store(str(tmp_path / "store"))
    [report] = [k for k in s.keys("audit/reports/") if k.endswith("report.json")][-1:]
    published = json.loads(raw_read(s.uri, report))
    assert published["log"]["treeSize"] == 4
    edits = {"zero": {"treeSize": 0}, "negative": {"treeSize": -3}}
    for name, edit in edits.items():
        (tmp_path / f"{name}.json").write_text(json.dumps({**published, "log": {**published["log"], **edit}}))
        capsys.readouterr()
        assert main(["audit", "--store", s.uri, "--quiet", "--witness", str(tmp_path / f"{name}.json")]) == 2, name
        err = capsys.readouterr().err
        assert (f"witness '{tmp_path / name}.json' gives tree size {edit['treeSize']} beside the checkpoint "
                f"'{published['log']['checkpoint']}'") in err, err
        assert "pass the report or checkpoint as the audit published it" in err, err
    empty = {**published, "log": {**published["log"], "treeSize": 0, "rootHash": None, "checkpoint": None, "checkpointDigest": None}}
    (tmp_path / "empty.json").write_text(json.dumps(empty))
    capsys.readouterr()
    assert main(["audit", "--store", s.uri, "--quiet", "--witness", str(tmp_path / "empty.json")]) == 2
    err = capsys.readouterr().err
    assert (f"witness '{tmp_path / 'empty.json'}' gives the empty log (tree size 0), but audit {published['auditId']} signed "
            "another report: it was edited and would check nothing") in err, err
    [record] = [k for k in s.keys("audit/runs/") if published["auditId"] in k]
    raw_delete(s.uri, record)
    assert main(["audit", "--store", s.uri, "--quiet", "--witness", str(tmp_path / "empty.json")]) == 2
    err = capsys.readouterr().err
    assert (f"witness '{tmp_path / 'empty.json'}' gives the empty log (tree size 0), but the store holds no signed record of "
            f"audit {published['auditId']} that vouches for it") in err, err

    (tmp_path / "fresh").mkdir()  # a genuine report of the empty log: the first audit of a store, before its first run
    fresh = open_store(str(tmp_path / "fresh"))
    _audit(fresh)
    [genuine] = [k for k in fresh.list("audit/reports/") if k.endswith("report.json")]
    report = json.loads(raw_read(fresh.uri, genuine))
    assert report["log"]["treeSize"] == 0
    (tmp_path / "genuine.json").write_text(json.dumps(report))  # published re-indented: the same report
    Pipeline(fresh.uri)
    assert main(["audit", "--store", fresh.uri, "--quiet", "--witness", str(tmp_path / "genuine.json")]) == 0

    # a report of the empty log as an older tdprov wrote it, indented: its audit's record names those bytes' digest
    from prov_common.audit.published import PROV_PAYLOAD_TYPE
    from prov_common.audit.witness import read_witness
    from prov_common.signing.keyfiles import auditor_trust_from_settings

    [record] = [k for k in fresh.list("audit/runs/") if report["auditId"] in k]
    older = (json.dumps(report, indent=2, sort_keys=True) + "\n").encode()
    payload = Envelope.from_json(raw_read(fresh.uri, record)).payload
    signed = payload.replace(blake3_digest(raw_read(fresh.uri, genuine)).encode(), blake3_digest(older).encode())
    assert signed != payload
    raw_write(fresh.uri, record, sign_envelope(signed, PROV_PAYLOAD_TYPE, [default_signing_key()]).to_json())
    assert read_witness(str(tmp_path / "genuine.json"), fresh, auditor_trust_from_settings(), report.get("storeId")).size == 0


def test_another_stores_report_of_the_empty_log_is_refused_as_a_witness_with_its_record_copied_in(tmp_path, capsys) -> None:
    """A genuine report of the empty log of another store, given as a witness with the signed record of its audit (the
    same auditor key) copied into this store: that record vouched for it, so the witness was taken (checking nothing,
    of another store). A record that names another store vouches for nothing here: the witness is refused, exit 2,
    naming the record, the store it names and the fix."""
    from prov_common.audit.published import FIX_OTHER_STORE, RUNS_PREFIX
    from prov_common.cli import main

    this, other = (open_store(str(tmp_path / name)) for name in ("this", "other"))
    for store in (this, other):
        (tmp_path / Path(store.uri).name).mkdir(exist_ok=True)
        _audit(store)
    [report] = [k for k in other.list("audit/reports/") if k.endswith("report.json")]
    [record] = other.list(RUNS_PREFIX)
    raw_write(this.uri, record, raw_read(other.uri, record))
    (tmp_path / "witness.json").write_bytes(raw_read(other.uri, report))
    Pipeline(this.uri)  # this store holds runs: its audit is not refused for holding none
    capsys.readouterr()
    assert main(["audit", "--store", this.uri, "--quiet", "--witness", str(tmp_path / "witness.json")]) == 2
    err = capsys.readouterr().err
    assert (f"witness '{tmp_path / 'witness.json'}' gives the empty log (tree size 0), but '{record}' is the record of an "
            f"audit of another store ({other.uri}), not of this store ({this.uri})") in err, err
    assert FIX_OTHER_STORE in err, err


def test_a_moved_stores_own_report_of_the_empty_log_is_taken_as_a_witness(tmp_path, capsys) -> None:
    """A store audited while its log was empty, then moved to another folder (its identity with it): its own report of
    the empty log, given as a witness, was refused there as another store's (its record names the old path). The record
    names the store's id, by which it vouches for the report wherever the store is now."""
    from prov_common.cli import main

    old, moved = tmp_path / "old", tmp_path / "moved"
    assert main(["store", "init", str(old)]) == 0
    _audit(open_store(str(old)))
    [report] = (old / "audit" / "reports").rglob("report.json")
    shutil.copytree(old, moved)
    Pipeline(str(moved))  # the moved store holds runs: its audit is not refused for holding none
    capsys.readouterr()
    assert main(["audit", "--store", str(moved), "--quiet", "--witness", str(report)]) == 0, capsys.readouterr().err


def test_a_witness_larger_than_its_bound_is_refused_unread(tmp_path: Path, s3_bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A witness (file or s3:// object) was read whole: a 1 GiB report.json planted as the witness cost that much
    memory. One larger than WITNESS_LIMIT (scaled down here) is refused naming the witness and the fix, having read no
    more than the bound; one within it is read; a file that is no regular file is refused, never opened for reading."""
    from prov_common.audit import witness
    from prov_common.errors import BadInputError

    monkeypatch.setattr(witness, "WITNESS_LIMIT", 4096)
    small = json.dumps({"log": {"treeSize": 3, "rootHash": "ab" * 32}, "padding": "x" * 3000}).encode()
    large = json.dumps({"log": {"treeSize": 3, "rootHash": "ab" * 32}, "padding": "x" * 5000}).encode()
    bucket = open_store(f"s3://{s3_bucket}")
    for name, data in (("small.json", small), ("large.json", large)):
        (tmp_path / name).write_bytes(data)
        bucket.put(name, data)
    for where in (str(tmp_path), f"file://{tmp_path}", f"s3://{s3_bucket}"):
        assert witness.read_witness(f"{where}/small.json").size == 3, where
        with pytest.raises(BadInputError) as refused:
            witness.read_witness(f"{where}/large.json")
        assert refused.value.what.startswith(f"witness '{where}/large.json' is larger than 4,096 bytes, the most a witness is read to"), refused.value.what
        assert "pass the checkpoint alone ('tdprov audit --json' output" in refused.value.fix, refused.value.fix
    os.mkfifo(tmp_path / "pipe.json")
    (tmp_path / "zero.json").symlink_to("/dev/zero")
    for name, kind in (("pipe.json", "a named pipe"), ("zero.json", "a device")):
        with pytest.raises(BadInputError, match=f"witness '{tmp_path}/{name}' is {kind}, not a regular file"):
            witness.read_witness(str(tmp_path / name))


def test_one_audit_with_the_wrong_trusted_key_leaves_no_lasting_gap(tmp_path, monkeypatch) -> None:
    """An audit run once with a key that did not sign the log finds that its checkpoints do not verify; it must not
    record 'the log was deleted' as a gap that every later audit with the right key repeats. (A writing audit whose
    own key is not trusted then is refused before it writes anything; a read-only one runs.)"""
    from prov_common.errors import BadInputError
    from prov_common.signing import write_keypair

    s = Store(str(tmp_path / "store"))
    other = tmp_path / "other.key"
    write_keypair(other, SigningKey.generate())
    monkeypatch.setenv("TDPROV_TRUSTED_KEYS", f"{other}.pub")
    with pytest.raises(BadInputError, match="later audits would call what it writes untrusted"):
        _audit(s.pipe)
    wrong = _audit(s.pipe, read_only=True, report_dir=tmp_path / "wrong")
    assert wrong.exit_code == 1 and not [f for f in wrong.errors if "was deleted" in f.what], [f.what for f in wrong.errors]
    monkeypatch.delenv("TDPROV_TRUSTED_KEYS")
    right = _audit(s.pipe)
    assert right.clean, [f.what for f in right.errors]


def test_an_accepted_checkpoint_is_shown_in_the_text_and_the_report(tmp_path, capsys, monkeypatch) -> None:
    """A person overriding tamper evidence is what an auditor must see: the summary line and the HTML report name
    the acceptance, its reason and what it closed (only the JSON had it); what it closed at most MAX_FINDINGS_SHOWN
    rows, as the findings table (it listed every one), counting the rest."""
    from html import unescape

    import prov_common.audit.html as html_module
    from prov_common.cli import main

    s = Store(str(tmp_path / "store"))
    delete_newest_checkpoint(s)
    assert _audit(s.pipe).exit_code == 1
    reason = "checkpoint 4 lost in the incident of 2026-05-02"
    main(["audit", "--store", s.uri, "--report", str(tmp_path / "r"), "--accept-checkpoint", "--reason", reason])  # the state bound
    # to the deleted checkpoint is still a finding of this audit
    out = capsys.readouterr().out
    assert f"accepted the store's log as it is, closing 1 finding: {reason!r}" in out, out
    html = (tmp_path / "r" / "report.html").read_text()
    assert "Accepted by a person" in html and reason in html and "rolled back" in html
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    report["log"]["resolution"]["closed"] *= 3  # the page of a resolution that closed three findings
    monkeypatch.setattr(html_module, "MAX_FINDINGS_SHOWN", 2)
    section = unescape(html_module.render_html(report, "")).split("<h2>Accepted by a person</h2>", 1)[1].split("</section>", 1)[0]
    assert section.count("<tr><td>") == 2 and "closing 3 findings" in section, section
    assert ("2 of 3 findings shown; the other 1 are not shown here: report.json lists all 3 (the <code>closed</code> "
            "findings of its <code>log</code>'s <code>resolution</code>)") in section, section


def test_with_auditor_keys_a_writers_key_cannot_forge_what_audits_write(tmp_path, monkeypatch) -> None:
    """Writers and the auditor hold keys apart, both trusted (TDPROV_TRUSTED_KEYS). A holder of the writer's key
    writes an audit state that drops the open findings: with TDPROV_AUDITOR_KEYS naming the auditor's key it does
    not count, and the finding stays (without it, every trusted key was accepted for every kind of object)."""
    from prov_common.audit.state import STATE_PAYLOAD_TYPE
    from prov_common.canonical_json import canonical_bytes, loads
    from prov_common.signing import Envelope, default_signing_key, write_keypair

    writer = default_signing_key()
    keys = tmp_path / "keys"
    (keys / "trusted").mkdir(parents=True)
    write_keypair(keys / "auditor.key")
    (keys / "trusted" / "writer.pub").write_bytes(writer.public.to_pem())
    (keys / "trusted" / "auditor.pub").write_bytes((keys / "auditor.key.pub").read_bytes())
    monkeypatch.setenv("TDPROV_SIGNING_KEY", str(keys / "auditor.key"))
    monkeypatch.setenv("TDPROV_TRUSTED_KEYS", str(keys / "trusted"))
    monkeypatch.setenv("TDPROV_AUDITOR_KEYS", str(keys / "auditor.key.pub"))
    pipe = Pipeline(str(tmp_path / "store"))
    seal(pipe.store, run_events("train_other", [dataset("/data/unknown.parquet", digest("unknown"))], [], start=T0 + timedelta(hours=2),
                                job_type="TRAINING"), writer)
    assert _audit(pipe).exit_code == 1 and _audit(pipe).exit_code == 1
    newest = list(pipe.store.list("audit/state/"))[-1]
    state = loads(Envelope.from_json(raw_read(pipe.store.uri, newest)).payload)
    state["checks"]["broken"], state["checks"]["gaps"], state["checks"]["findings"] = [], [], []
    forged = newest.rsplit("-", 2)[0] + "-99991231T235959999999Z-zzzzzzzz.json"
    raw_write(pipe.store.uri, forged, sign_envelope(canonical_bytes(state), STATE_PAYLOAD_TYPE, [writer]).to_json())
    for _ in ("found", "still found"):
        result = _audit(pipe)
        shown = [f"{f.check} {f.object}: {f.what}" for f in result.errors]
        assert any(f.object == forged and "untrusted key" in f.what for f in result.check(CHECK_LOG).errors), shown
        assert any("unknown.parquet" in f.what for f in result.errors), shown  # the finding the forgery dropped stays


def test_a_writer_clock_ahead_within_the_skew_does_not_move_the_listing_past_the_audit(tmp_path) -> None:
    """An entry keyed 14 minutes ahead (a writer's fast clock, inside CLOCK_SKEW, so no finding) moved the next
    audit's listing past runs sealed right after this audit: they went unexamined, unlogged, deletable."""
    s = Store(str(tmp_path / "store"))
    fast = seal(s.pipe.store, run_events("prepare_fast", [], [dataset("/data/fast.parquet", digest("fast"))], start=T0 + timedelta(hours=4)))
    key = s.index_key(fast)
    ahead = _later_key(key, 14 * 60)
    raw_write(s.uri, ahead, raw_read(s.uri, key))
    s.delete(key)
    raw_write(s.uri, layout.bundle_key(fast, layout.INDEXED_FILE), ahead.encode())
    first = _audit(s.pipe)
    assert not [f for f in first.errors if "dated in the future" in f.what], [f.what for f in first.errors]
    genuine = seal(s.pipe.store, run_events("prepare_genuine", [], [dataset("/data/genuine.parquet", digest("genuine"))],
                                            start=T0 + timedelta(hours=5)))
    later = _audit(s.pipe)
    assert later.bundles_logged == 1 and genuine in {x for x in later.examined}, (later.bundles_examined, later.bundles_logged)


def test_an_audit_that_cannot_read_the_log_keeps_the_lost_inventory_a_gap(tmp_path) -> None:
    """The auditor's inventory objects are deleted and, for one audit, a garbage newest checkpoint is planted: that
    audit cannot read the log and must not save a memory without the lost objects (the next audits were clean)."""
    from prov_common.audit.memory_objects import COMPACT_AFTER

    s = Store(str(tmp_path / "store"))
    while len(json.loads(memory_path(s.pipe.store.uri).read_text())["inventory"]) <= COMPACT_AFTER:  # a summary is due next
        assert _audit(s.pipe).clean
    s.delete(*s.keys("audit/auditor-inventory/"))
    s.delete_run(s.extra)
    garbage = "log/checkpoints/000000000999.json"
    raw_write(s.uri, garbage, b"not a checkpoint")
    assert _audit(s.pipe).exit_code == 1
    s.delete(garbage)
    for _ in ("found", "still found"):
        result = _audit(s.pipe)
        assert [f for f in result.errors if "auditor-inventory" in f.object], [f"{f.object}: {f.what}" for f in result.errors]
        assert result.exit_code == 1


@pytest.mark.parametrize("full", [False, True], ids=["incremental", "full"])
@on(*LOCAL)
def test_an_index_entry_of_a_run_never_sealed_is_a_finding_never_a_leaf(base: Store, full: bool) -> None:
    """An index entry planted for a run id with no bundle: the audit names it and signs no leaf for it ('audit
    --full' logged {manifest: missing}, and from then on every audit said the bundle of that logged run was gone,
    a run that never existed with a place in the append-only log); later audits still name it."""
    import uuid

    s = base
    ghost = str(uuid.uuid4())
    entry = s.index_key(s.extra)
    planted = entry.rsplit("/", 1)[0] + f"/{entry.rsplit('/', 1)[1].split('-', 1)[0]}-{ghost}.json"
    raw_write(s.uri, planted, raw_read(s.uri, entry).replace(s.extra.encode(), ghost.encode()))
    before = len(s.keys("log/leaves/"))
    found = _audit(s.pipe, full=full)
    shown = [f"{f.check} {f.object}: {f.what}" for f in found.errors]
    assert found.bundles_logged == 0 and [f for f in found.errors if f.run_id == ghost], shown
    assert len(s.keys("log/leaves/")) == before, "a leaf was signed for a run with no bundle"
    again = _audit(s.pipe, full=True)
    assert [f for f in again.errors if f.run_id == ghost] and not [f for f in again.errors if "is gone from the store" in f.what], \
        [f.what for f in again.errors]


@store_cases("attack", {a: a for a in ["report-page-replaced", "report-deleted", "audit-record-deleted", "source-record-deleted"]},
             {"report-page-replaced"})
def test_reports_audit_records_and_source_records_are_in_the_inventory(base: Store, attack: str) -> None:
    """A report page rewritten to say "Clean", a report or an audit's signed record deleted, a registered source
    record deleted: every audit passed them (not listed), and the deleted source only '--full' found. Each is a
    finding of the next audit; the page is checked against the digest its audit's signed record now gives."""
    from prov_common.audit.published import REPORTS_PREFIX, RUNS_PREFIX, signed_digests
    from prov_common.signing import Envelope
    from prov_common.sources.registry import SOURCES_PREFIX

    s = base
    page = [k for k in s.keys(REPORTS_PREFIX) if k.endswith("report.html")][0]  # the first audit's: listed by the second
    record = s.keys(RUNS_PREFIX)[0]
    assert blake3_digest(raw_read(s.uri, page)) in signed_digests(Envelope.from_json(raw_read(s.uri, record)).payload).values()
    target = {"report-page-replaced": page, "report-deleted": page.replace("report.html", "report.json"),
              "audit-record-deleted": record, "source-record-deleted": s.keys(SOURCES_PREFIX)[0]}[attack]
    if attack == "report-page-replaced":
        raw_write(s.uri, page, b"<html><h1>Clean</h1> 0 findings</html>")
    else:
        s.delete(target)
    found = _audit(s.pipe)
    named = [f.what for f in found.check(CHECK_INVENTORY).errors if f.object == target]
    assert named, [f"{f.object}: {f.what}" for f in found.errors]
    kind = {"report-page-replaced": "audit report", "report-deleted": "audit report", "audit-record-deleted": "audit's signed record",
            "source-record-deleted": "source record"}[attack]
    assert named[0].startswith(f"{kind} '{target}'"), named


@on(*BOTH)
def test_a_report_that_is_not_what_its_audit_signed_is_not_adopted(base: Store) -> None:
    """A report page replaced before the next audit first listed it (the auditor wrote it after its listing) is
    a finding: the auditor that wrote it compares it with the bytes it wrote; an auditor that did not (its memory as
    it was before that audit) adopts a report only when its audit's signed record names its digest."""
    from prov_common.audit.published import REPORTS_PREFIX

    s = base
    memory = memory_path(s.uri)
    before = memory.read_bytes()
    fresh = seal(s.pipe.store, run_events("prepare_fresh", [], [dataset("/data/fresh.parquet", digest("fresh"))], start=T0 + timedelta(hours=4)))
    assert _audit(s.pipe).clean and fresh
    page = [k for k in s.keys(REPORTS_PREFIX) if k.endswith("report.html")][-1]
    raw_write(s.uri, page, b"<html><h1>Clean</h1></html>")
    for words in ("changed after it was first listed", "is not the one its audit signed"):
        found = _audit(s.pipe)
        assert [f for f in found.check(CHECK_INVENTORY).errors if f.object == page and words in f.what], \
            (words, [f"{f.object}: {f.what}" for f in found.errors])
        memory.write_bytes(before)  # the memory of an auditor that did not write the page


@on(*LOCAL)
def test_a_report_planted_with_a_copied_record_or_beside_a_report_dir_audit_is_a_finding(base: Store, tmp_path) -> None:
    """A "Clean" report planted under a new audit's name with a real signed record copied beside it, and a page
    planted in the folder of an audit that wrote its report elsewhere (--report DIR): both were adopted (a key its
    record does not name was taken as it is). The copied record is named, not the report checked against it, which is
    not taken either: once the record is removed, the report is named."""
    from prov_common.audit.published import REPORTS_PREFIX, RUNS_PREFIX

    s = base
    assert _audit(s.pipe, report_dir=tmp_path / "elsewhere").clean
    elsewhere = f"{REPORTS_PREFIX}{s.newest(RUNS_PREFIX)[len(RUNS_PREFIX):].removesuffix('.prov.dsse.json')}/report.html"
    forged = "20991231T235959000000Z-00000000-0000-4000-8000-000000000000"
    planted = [f"{REPORTS_PREFIX}{forged}/report.html", f"{RUNS_PREFIX}{forged}.prov.dsse.json", elsewhere]
    raw_write(s.uri, planted[0], b"<html><h1>Clean</h1></html>")
    raw_write(s.uri, planted[1], raw_read(s.uri, s.keys(RUNS_PREFIX)[0]))
    raw_write(s.uri, planted[2], b"<html><h1>Clean</h1></html>")
    for full in (False, True):
        found = _audit(s.pipe, full=full)
        named = {f.object for f in found.check(CHECK_INVENTORY).errors}
        assert set(planted[1:]) <= named and planted[0] not in named, (full, [f"{f.object}: {f.what}" for f in found.errors])
    s.delete(planted[1])
    found = _audit(s.pipe)
    assert {f.object for f in found.check(CHECK_INVENTORY).errors} == {planted[0], planted[2]}, [f"{f.object}: {f.what}" for f in found.errors]


def test_another_stores_audit_reports_and_records_copied_in_are_a_finding(store_uri: str) -> None:
    """Another store's audit reports, with the signed records of their audits (the same auditor key), copied into this
    store: every audit, '--full' too, was clean, and the store showed another store's clean reports as its own. Each
    record names the store its audit was made for: one that names another store is named, with that store and the fix;
    the reports checked against it are not taken (nor named apart from it)."""
    from prov_common.audit.published import FIX_OTHER_STORE, REPORTS_PREFIX, RUNS_PREFIX
    from prov_common.store.identity import read_identity

    other = store_uri + "-other"
    for uri in (store_uri, other):
        seal(open_store(uri), run_events("staging", [], [dataset("/staging/0.parquet", digest(uri))]))
        assert _audit(uri).clean
    copied = [*open_store(other).list(REPORTS_PREFIX), *open_store(other).list(RUNS_PREFIX)]
    for key in copied:
        raw_write(store_uri, key, raw_read(other, key))
    ids = {uri: read_identity(open_store(uri)).store_id for uri in (store_uri, other)}  # told apart by them
    record = next(k for k in copied if k.startswith(RUNS_PREFIX))
    for full in (False, True):  # found, and still found by --full
        found = _audit(store_uri, full=full)
        named = [f for f in found.check(CHECK_INVENTORY).errors if f.object in copied]
        assert found.exit_code == 1 and [f.object for f in named] == [record], (full, [f"{f.object}: {f.what}" for f in found.errors])
        assert (f"'{record}' is the record of an audit of another store ({other}, store id {ids[other]}), not of this store "
                f"({store_uri}, store id {ids[store_uri]}): it and the reports it names were copied from that store.") in named[0].what, \
            named[0].what
        assert named[0].fix == FIX_OTHER_STORE


def _logged_file_under_a_delete_marker(store_uri: str, name: str = layout.PROV_FILE) -> tuple[Any, str, str, str, str]:
    """A run sealed in the S3 store ``store_uri`` and audited, then its bucket versioned and the run's prov.json (or its
    file ``name``) deleted without a version id (a delete marker hides its bytes): the client, bucket and prefix, the
    file's key and the marker's version id."""
    run_id = seal(open_store(store_uri), run_events("prepare", [], [dataset("/data/x.parquet", digest("x"))]))
    assert _audit(store_uri).clean
    client, bucket, prefix = _s3(store_uri)
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    key = layout.bundle_key(run_id, name)
    deleted = client.delete_object(Bucket=bucket, Key=prefix + key)
    assert deleted["DeleteMarker"], deleted
    return client, bucket, prefix, key, deleted["VersionId"]


@pytest.mark.parametrize("store_uri", ["s3"], indirect=True)  # a bucket of its own: versioning stays on once enabled
def test_a_delete_marker_on_a_logged_file_of_a_versioned_bucket_is_found(store_uri: str) -> None:
    """On a versioned bucket, a logged run's prov.json deleted without a version id: its bytes stay as an older version
    under a delete marker, and neither a listing nor a read finds it. Every audit, '--full' too, names it missing, as a
    deletion (the inventory, by the listing), and so does verify."""
    from prov_common.cli import main

    client, bucket, prefix, key, _ = _logged_file_under_a_delete_marker(store_uri)
    assert main(["verify", "--store", store_uri]) == 1
    for full in (False, True):
        found = _audit(store_uri, full=full)
        assert found.exit_code == 1 and [f for f in found.check(CHECK_INVENTORY).errors if f.object == key and "is missing" in f.what], \
            (full, [f"{f.object}: {f.what}" for f in found.errors])


@pytest.mark.parametrize("store_uri", ["s3"], indirect=True)  # a bucket of its own: versioning stays on once enabled
def test_a_delete_marker_on_a_logged_file_is_named_with_the_version_that_removing_it_restores(
        store_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a versioned bucket, a logged run's prov.json hidden by a delete marker: the inventory's fix said to restore it
    from a backup, though removing the marker restores it. The fix names the marker's version id and the version it
    restores; past the number of missing objects an audit asks about (a store emptied of thousands), the fix is as
    before."""
    from prov_common.audit import inventory
    from prov_common.store import markers

    client, bucket, prefix, key, marker = _logged_file_under_a_delete_marker(store_uri)
    kept = client.list_object_versions(Bucket=bucket, Prefix=prefix + key)["Versions"][0]["VersionId"]
    found = _audit(store_uri)
    named = [f for f in found.check(CHECK_INVENTORY).errors if f.object == key]
    assert [f.fix for f in named] == [
        f"a delete marker (version id '{marker}') hides the object on this versioned bucket: remove the marker, which makes version "
        f"'{kept}' the object again, with its sealed bytes and ETag; then audit again. The marker is removed by: aws s3api "
        f"delete-object --bucket {bucket} --key {prefix}{key} --version-id {marker}"], [f"{f.object}: {f.what} / {f.fix}" for f in found.errors]
    monkeypatch.setattr(markers, "MARKERS_ASKED", 0)
    found = _audit(store_uri)
    assert [f.fix for f in found.check(CHECK_INVENTORY).errors if f.object == key] == [inventory.FIX_RESTORE], found.errors


@pytest.mark.parametrize("store_uri", ["s3"], indirect=True)  # a bucket of its own: versioning stays on once enabled
def test_a_logged_file_under_two_delete_markers_is_named_with_both(store_uri: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A logged run's prov.json deleted twice without a version id: S3 puts a second delete marker over the first. The
    fix named the newest marker alone and said removing it makes the sealed version the object again, but the marker
    under it still hid the object. It names every marker over the version, newest first, and a command for each."""
    from prov_common.cli import main

    client, bucket, prefix, key, first = _logged_file_under_a_delete_marker(store_uri)
    second = client.delete_object(Bucket=bucket, Key=prefix + key)["VersionId"]
    [version] = client.list_object_versions(Bucket=bucket, Prefix=prefix + key)["Versions"]
    kept = version["VersionId"]
    def removal(then: str) -> str:
        return (f"2 delete markers (version ids '{second}', '{first}') hide the object on this versioned bucket: remove "
                f"them, which makes version '{kept}' the object again, with its sealed bytes and ETag; then {then}. The "
                f"markers are removed by: aws s3api delete-object --bucket {bucket} --key {prefix}{key} --version-id "
                f"{second} && aws s3api delete-object --bucket {bucket} --key {prefix}{key} --version-id {first}")
    assert [f.fix for f in _audit(store_uri).check(CHECK_INVENTORY).errors if f.object == key] == [removal("audit again")]
    capsys.readouterr()
    assert main(["verify", "--store", store_uri]) == 1
    assert removal("verify again") in capsys.readouterr().out
    fix = removal("audit again")
    for command in fix.partition("removed by: ")[2].split(" && "):  # as pasted: the sealed version is the object again
        words = command.split()
        client.delete_object(Bucket=words[4], Key=words[6], VersionId=words[8])
    assert client.head_object(Bucket=bucket, Key=prefix + key)["ETag"] == version["ETag"]
    assert _audit(store_uri).clean


@pytest.mark.parametrize("store_uri", ["s3"], indirect=True)  # a bucket of its own: versioning stays on once enabled
def test_a_logged_file_overwritten_then_hidden_by_a_delete_marker_is_named_with_its_sealed_version(store_uri: str) -> None:
    """A logged run's prov.json overwritten (an unconditional put, where the endpoint takes one) and then deleted
    without a version id: the version under the delete marker is the forgery, the sealed bytes a version under it.
    The audit's fix said removing the marker makes the forgery 'the object again, with its sealed bytes and ETag'. It
    names the version that holds the bytes the audit first listed, and copies it back, as removing the marker would
    not restore it."""
    client, bucket, prefix, key, _ = _logged_file_under_a_delete_marker(store_uri)
    [sealed] = client.list_object_versions(Bucket=bucket, Prefix=prefix + key)["Versions"]
    client.delete_object(Bucket=bucket, Key=prefix + key, VersionId=client.list_object_versions(
        Bucket=bucket, Prefix=prefix + key)["DeleteMarkers"][0]["VersionId"])  # the object again, then forged and hidden
    forged = client.put_object(Bucket=bucket, Key=prefix + key, Body=b"forged")["VersionId"]
    marker = client.delete_object(Bucket=bucket, Key=prefix + key)["VersionId"]
    [fix] = [f.fix for f in _audit(store_uri).check(CHECK_INVENTORY).errors if f.object == key]
    assert fix == (
        f"a delete marker (version id '{marker}') hides the object on this versioned bucket, and the version under it "
        f"('{forged}') is not the one first listed (ETag {sealed['ETag']}): version '{sealed['VersionId']}' holds "
        f"those bytes; copy it back as the object, then audit again. It is copied back by: aws s3api copy-object --bucket "
        f"{bucket} --key {prefix}{key} --copy-source '{bucket}/{prefix}{key}?versionId={sealed['VersionId']}'"), fix
    source = fix.partition("--copy-source ")[2].strip("'")
    client.copy_object(Bucket=bucket, Key=prefix + key, CopySource=source)  # as pasted: the listed bytes are the object again
    assert _audit(store_uri).clean


def test_a_hidden_object_whose_listed_bytes_no_version_keeps_is_named_so() -> None:
    """The version under a delete marker is not the one first listed, and no version kept has its ETag: removing the
    marker would restore other bytes, so the fix is to restore them from a backup."""
    from prov_common.store.markers import DeleteMarkers
    from prov_common.store.s3 import S3Store

    class Client:
        def list_object_versions(self, **_: object) -> dict:
            return {"DeleteMarkers": [{"Key": "p/k", "VersionId": "m", "IsLatest": True, "LastModified": 2}],
                    "Versions": [{"Key": "p/k", "VersionId": "v", "ETag": '"bad"', "LastModified": 1}]}

    markers = DeleteMarkers(S3Store("s3://bucket/p", client=Client()))
    assert markers.fix("k", "then audit again", "sealed") == (
        "a delete marker (version id 'm') hides the object on this versioned bucket, and the version under it ('v') is not "
        'the one first listed (ETag "sealed"), and no version kept holds those bytes: restore them from a backup or '
        "replica of the store; then audit again")
    assert markers.fix("k", "then audit again", "bad").startswith("a delete marker (version id 'm') hides the object on "
                                                                  "this versioned bucket: remove the marker, which makes version 'v'")


def test_a_hidden_object_whose_versions_one_listing_does_not_show_is_not_said_lost(
        s3_store_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fix's one listing of a hidden object's versions stops at :data:`~prov_common.store.s3.MARKER_LISTING`
    entries (lowered here to 2): an object deleted that often without a version id (or overwritten that often before)
    was said to have no earlier version kept, or none with the bytes first listed, while its sealed version was past
    the listing. The fix now says the versions are past the listing and how to list them and copy one back."""
    from prov_common.store import s3
    from prov_common.store.markers import DeleteMarkers

    store = s3.S3Store(s3_store_uri)
    client, bucket, full = store.client, store.bucket, store.prefix + "k"
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    sealed = client.put_object(Bucket=bucket, Key=full, Body=b"sealed")["ETag"]
    for _ in range(3):  # three markers over the sealed version: a listing of two shows none of the versions
        client.delete_object(Bucket=bucket, Key=full)
    monkeypatch.setattr(s3, "MARKER_LISTING", 2)
    listing = f"aws s3api list-object-versions --bucket {bucket} --prefix {full}"
    fix = DeleteMarkers(store).fix("k", "then audit again")
    assert fix is not None and fix.startswith("at least 2 delete markers (version ids ") and "no earlier version" not in fix, fix
    assert (f"hide the object on this versioned bucket, and the versions under them are past what one listing of the key shows: "
            f"find the version under the delete markers in the listing of all of them ({listing}) and copy it back as the "
            f"object (aws s3api copy-object --bucket {bucket} --key {full} --copy-source '{bucket}/{full}?versionId=' followed by "
            "its version id), or restore it from a backup or replica of the store; then audit again") in fix, fix
    client.delete_object(Bucket=bucket, Key=full, VersionId=client.list_object_versions(Bucket=bucket, Prefix=full)["DeleteMarkers"][0]["VersionId"])
    client.put_object(Bucket=bucket, Key=full, Body=b"forged")
    client.delete_object(Bucket=bucket, Key=full)  # a marker over the forgery: a listing of two shows no other version
    fix = DeleteMarkers(store).fix("k", "then audit again", sealed)
    assert fix is not None and "no version kept" not in fix and (
        f"and no version of those one listing of the key shows has the ETag first listed ({sealed}): find the version with "
        f"that ETag in the listing of all of them ({listing})") in fix, fix


@pytest.mark.parametrize("page", [
    {"DeleteMarkers": [{"Key": "p/k", "IsLatest": True}]},  # no version id
    {"DeleteMarkers": [{"VersionId": "m", "IsLatest": True}]},  # no key
    {"DeleteMarkers": [{"Key": "p/k", "VersionId": ["m"], "IsLatest": True}]},
    {"DeleteMarkers": [{"Key": "p/k", "VersionId": "m", "IsLatest": True}], "Versions": [{"Key": "p/k", "VersionId": "v"}]},
    {"DeleteMarkers": [{"Key": "p/k", "VersionId": "m", "IsLatest": True}],
     "Versions": [{"Key": "p/k", "VersionId": "v", "LastModified": 1}, {"Key": "p/k", "VersionId": "w", "LastModified": "x"}]},
    {"DeleteMarkers": 7},
])
def test_a_delete_marker_listed_without_its_fields_names_no_marker_and_stops_nothing(page: dict) -> None:
    """A server's ListObjectVersions answer whose entry lacks a field or has one of another type: reading it raised
    (a KeyError, a TypeError) out of 'tdprov verify' and the audit, which ask only for a finding's words; the store
    tells no marker, and the fix stays to restore from a backup."""
    from prov_common.store.markers import DeleteMarkers
    from prov_common.store.s3 import S3Store

    class Client:
        def list_object_versions(self, **_: object) -> dict:
            return page

    store = S3Store("s3://bucket/p", client=Client())
    assert store.delete_marker("k") is None
    assert DeleteMarkers(store).fix("k", "then verify again") is None


@pytest.mark.parametrize("store_uri", ["s3"], indirect=True)  # a bucket of its own: versioning stays on once enabled
@pytest.mark.parametrize("version_id", ["x; touch pwned\nid", "x'; touch pwned $(touch pwned)\nid"])
def test_a_delete_marker_whose_version_id_is_shell_text_is_named_quoted(
        store_uri: str, version_id: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An S3-compatible server that gives a delete marker the version id "x; touch pwned" and a new line: the fix's
    command put it in as it was, so pasting it ran a second command. Each value of the command is quoted as a shell
    takes it, and the version id in the sentence is shown escaped, on one line. One holding a quote too was put in
    as ``repr`` shows it, in double quotes, in which a shell runs ``$(...)``: it is in ``$'...'``, which bash takes as
    the version id itself, running nothing."""
    import subprocess

    from moto.s3.models import FakeDeleteMarker

    client, bucket, prefix, key, _ = _logged_file_under_a_delete_marker(store_uri)
    monkeypatch.setattr(FakeDeleteMarker, "version_id", property(lambda _: version_id))  # as listed: no header holds it
    [fix] = [f.fix for f in _audit(store_uri).check(CHECK_INVENTORY).errors if f.object == key]
    assert f"(version id {version_id!r})" in fix and "\n" not in fix, fix
    pasted = fix.partition("--version-id ")[2]
    assert pasted.startswith("$'x") and pasted.endswith("\\nid'"), fix
    (here := tmp_path / "pasted").mkdir()
    taken = subprocess.run(["bash", "-c", f"printf %s {pasted}"], cwd=here, capture_output=True, text=True, check=True)
    assert taken.stdout == version_id and not list(here.iterdir()), (taken.stdout, list(here.iterdir()))


@pytest.mark.parametrize("store_uri", ["s3"], indirect=True)  # a bucket of its own: versioning stays on once enabled
def test_verify_names_the_delete_marker_hiding_a_missing_file_as_the_audit_does(
        store_uri: str, capsys: pytest.CaptureFixture[str]) -> None:
    """On a versioned bucket, a run's prov.json hidden by a delete marker: the audit's inventory named the marker, but
    'tdprov verify' and the audit's own verification of the bundle (the PROV check, which a --full audit carries) said
    only that it is missing, to restore from a backup. Both name the marker, its version id and the version that
    removing it restores."""
    from prov_common.audit.model import CHECK_PROV
    from prov_common.cli import main

    client, bucket, prefix, key, marker = _logged_file_under_a_delete_marker(store_uri)
    run_id = key.split("/")[1]  # bundles/RUN_ID/prov.json
    kept = client.list_object_versions(Bucket=bucket, Prefix=prefix + key)["Versions"][0]["VersionId"]
    def removal(then: str) -> str:
        return (f"a delete marker (version id '{marker}') hides the object on this versioned bucket: remove the marker, "
                f"which makes version '{kept}' the object again, with its sealed bytes and ETag; then {then}. The marker is "
                f"removed by: aws s3api delete-object --bucket {bucket} --key {prefix}{key} --version-id {marker}")
    capsys.readouterr()
    assert main(["verify", "--store", store_uri]) == 1
    assert f"      {key}: missing: the object is listed but not in the store; {removal('verify again')}\n" in capsys.readouterr().out
    assert main(["verify", "--json", run_id, "--store", store_uri]) == 1
    assert json.loads(capsys.readouterr().out)["findings"] == [
        {"key": key, "problem": "missing", "reason": f"the object is listed but not in the store; {removal('verify again')}"}]
    found = _audit(store_uri, full=True)
    assert [f.fix for f in found.check(CHECK_PROV).errors if f.object == key] == [removal("audit again")], \
        [f"{f.object}: {f.what} / {f.fix}" for f in found.errors]


@pytest.mark.parametrize("store_uri", ["s3"], indirect=True)  # a bucket of its own: versioning stays on once enabled
@pytest.mark.parametrize("name", [layout.PROV_FILE, layout.MANIFEST_FILE])
def test_verify_names_the_sealed_version_of_a_file_overwritten_then_hidden_by_a_delete_marker(
        store_uri: str, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A run's prov.json (or manifest) overwritten and then deleted without a version id: the version under the delete
    marker is the forgery. 'tdprov verify' said removing the marker makes it 'the object again, with its sealed bytes
    and ETag'. It reads the versions kept and names the one whose bytes hash to the digest the manifest lists (the
    signed statement, for the manifest), with the command that copies it back; once copied back and hidden again, the
    marker's removal; and with no version holding those bytes, says so."""
    from prov_common.cli import main

    client, bucket, prefix, key, first = _logged_file_under_a_delete_marker(store_uri, name)
    run_id = key.split("/")[1]
    [sealed] = client.list_object_versions(Bucket=bucket, Prefix=prefix + key)["Versions"]
    sealed_digest = blake3_digest(client.get_object(Bucket=bucket, Key=prefix + key, VersionId=sealed["VersionId"])["Body"].read())
    client.delete_object(Bucket=bucket, Key=prefix + key, VersionId=first)  # the object again, then forged and hidden
    forged = client.put_object(Bucket=bucket, Key=prefix + key, Body=b"forged")["VersionId"]
    marker = client.delete_object(Bucket=bucket, Key=prefix + key)["VersionId"]

    def reason() -> str:
        capsys.readouterr()
        assert main(["verify", "--json", run_id, "--store", store_uri]) == 1
        [found] = [f["reason"] for f in json.loads(capsys.readouterr().out)["findings"] if f["key"] == key]
        return found.partition("the object is listed but not in the store; ")[2]

    fix = reason()
    assert fix == (
        f"a delete marker (version id '{marker}') hides the object on this versioned bucket, and the version under it "
        f"('{forged}') does not hold the bytes sealed ({sealed_digest}): version '{sealed['VersionId']}' holds them; copy "
        f"it back as the object, then verify again. It is copied back by: aws s3api copy-object --bucket {bucket} --key "
        f"{prefix}{key} --copy-source '{bucket}/{prefix}{key}?versionId={sealed['VersionId']}'"), fix
    client.copy_object(Bucket=bucket, Key=prefix + key, CopySource=fix.partition("--copy-source ")[2].strip("'"))
    assert main(["verify", run_id, "--store", store_uri]) == 0  # as pasted: the sealed bytes are the object again
    copied = client.head_object(Bucket=bucket, Key=prefix + key)["VersionId"]  # hidden again: the copy is under it
    again = client.delete_object(Bucket=bucket, Key=prefix + key)["VersionId"]
    fix = reason()  # the first marker too where it has the copy's time (the listing's): removing it changes nothing else
    assert f"which makes version '{copied}' the object again, with its sealed bytes and ETag; then verify again" in fix, fix
    for version in (copied, sealed["VersionId"]):  # no version keeps the sealed bytes: the forgery is under the markers
        client.delete_object(Bucket=bucket, Key=prefix + key, VersionId=version)
    fix = reason()
    assert fix.startswith(f"2 delete markers (version ids '{again}', ") and fix.endswith(
        f") hide the object on this versioned bucket, and the version under them ('{forged}') does not hold the bytes "
        f"sealed ({sealed_digest}), and no version kept holds them: restore them from a backup or replica of the store; "
        f"then verify again"), fix


@pytest.mark.parametrize("store_uri", ["s3"], indirect=True)  # a bucket of its own: versioning stays on once enabled
def test_verify_names_no_version_by_the_digest_of_a_manifest_no_trusted_statement_vouches_for(
        store_uri: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A forged manifest (the signed statement names another) lists prov.json with the digest of a forgery put under a
    delete marker: that digest is no sealed one, and verify does not name the forgery's version as holding the bytes
    sealed, to copy back."""
    from prov_common.cli import main

    client, bucket, prefix, key, first = _logged_file_under_a_delete_marker(store_uri)
    run_id = key.split("/")[1]
    client.delete_object(Bucket=bucket, Key=prefix + key, VersionId=first)  # the object again
    forgery, junk = b"forged prov", b"other bytes"
    manifest_key = prefix + layout.bundle_key(run_id, layout.MANIFEST_FILE)
    manifest = json.loads(client.get_object(Bucket=bucket, Key=manifest_key)["Body"].read())
    [entry] = [f for f in manifest["files"] if f["path"] == layout.PROV_FILE]
    entry.update(digest=blake3_digest(forgery), size=len(forgery))
    client.put_object(Bucket=bucket, Key=manifest_key, Body=json.dumps(manifest).encode())
    forged = client.put_object(Bucket=bucket, Key=prefix + key, Body=forgery)["VersionId"]
    client.put_object(Bucket=bucket, Key=prefix + key, Body=junk)
    client.delete_object(Bucket=bucket, Key=prefix + key)
    capsys.readouterr()
    assert main(["verify", "--json", run_id, "--store", store_uri]) == 1
    [reason] = [f["reason"] for f in json.loads(capsys.readouterr().out)["findings"] if f["key"] == key]
    assert "delete marker" in reason and forged not in reason and "holds them" not in reason, reason


@pytest.mark.parametrize("store_uri", ["s3"], indirect=True)  # a bucket of its own: versioning stays on once enabled
def test_verify_says_removing_the_marker_over_a_signed_statement_makes_the_version_under_it_checked(
        store_uri: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A run's signed statement hidden by a delete marker: nothing verify holds names its digest, yet the fix said
    removing the marker makes the version under it the object again 'with its sealed bytes and ETag', also when that
    version is a forgery. It says that removing it makes that version current (the newest of those kept, when there are
    several) and that verify then checks its signature; removed as pasted over a forgery, verify fails it."""
    from prov_common.cli import main

    client, bucket, prefix, key, first = _logged_file_under_a_delete_marker(store_uri, layout.STATEMENT_FILE)
    run_id = key.split("/")[1]
    [sealed] = client.list_object_versions(Bucket=bucket, Prefix=prefix + key)["Versions"]

    def reason() -> str:
        capsys.readouterr()
        assert main(["verify", "--json", run_id, "--store", store_uri]) == 1
        [found] = [f["reason"] for f in json.loads(capsys.readouterr().out)["findings"] if f["key"] == key]
        return found.partition("; ")[2]

    removed = f"The marker is removed by: aws s3api delete-object --bucket {bucket} --key {prefix}{key} --version-id"
    assert reason() == (
        f"a delete marker (version id '{first}') hides the object on this versioned bucket: remove the marker, which makes "
        f"version '{sealed['VersionId']}' the object again; then verify again, which checks the signature of the version "
        f"made current (a forgery fails it). {removed} {first}")
    client.delete_object(Bucket=bucket, Key=prefix + key, VersionId=first)  # the object again, then forged and hidden
    envelope = json.loads(client.get_object(Bucket=bucket, Key=prefix + key)["Body"].read())
    envelope["signatures"][0]["sig"] = base64.b64encode(bytes(64)).decode()  # a statement signed by no one
    forged = client.put_object(Bucket=bucket, Key=prefix + key, Body=json.dumps(envelope).encode())["VersionId"]
    marker = client.delete_object(Bucket=bucket, Key=prefix + key)["VersionId"]
    fix = reason()
    assert fix == (
        f"a delete marker (version id '{marker}') hides the object on this versioned bucket: remove the marker, which makes "
        f"version '{forged}' (the newest of the 2 versions kept) the object again; then verify again, which checks the "
        f"signature of the version made current (a forgery fails it). {removed} {marker}"), fix
    client.delete_object(Bucket=bucket, Key=prefix + key, VersionId=fix.rpartition(" ")[2])  # as pasted
    capsys.readouterr()
    assert main(["verify", "--json", run_id, "--store", store_uri]) == 1
    assert [f["problem"] for f in json.loads(capsys.readouterr().out)["findings"] if f["key"] == key] == ["bad signature"]


@pytest.mark.parametrize("store_uri", ["s3"], indirect=True)  # a bucket of its own: versioning stays on once enabled
def test_the_versions_read_for_the_sealed_bytes_under_a_delete_marker_are_bounded(store_uri: str) -> None:
    """The versions kept under a delete marker read to find the sealed bytes are those of the size sealed (a forgery of
    another size is not read), at most VERSIONS_READ of them: past those the fix says none of them holds the bytes and
    gives the command that lists all of them, not that the bytes are lost."""
    from prov_common.store.markers import VERSIONS_READ, DeleteMarkers

    client, bucket, prefix = _s3(store_uri)
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    key, body = "k.json", b"sealed"
    sealed = client.put_object(Bucket=bucket, Key=prefix + key, Body=body)["VersionId"]
    for i in range(VERSIONS_READ - 1):
        client.put_object(Bucket=bucket, Key=prefix + key, Body=f"f{i:05d}".encode())  # as long as the sealed bytes
    client.put_object(Bucket=bucket, Key=prefix + key, Body=b"a longer forgery")
    client.delete_object(Bucket=bucket, Key=prefix + key)
    fix = DeleteMarkers(open_store(store_uri)).fix(key, "then verify again", sealed=(blake3_digest(body), len(body)))
    assert f": version '{sealed}' holds them; copy it back as the object, then verify again." in (fix or ""), fix
    client.put_object(Bucket=bucket, Key=prefix + key, Body=b"f99999")  # one more of that size: the sealed one is past
    client.delete_object(Bucket=bucket, Key=prefix + key)
    fix = DeleteMarkers(open_store(store_uri)).fix(key, "then verify again", sealed=(blake3_digest(body), len(body)))
    assert fix is not None and fix.endswith(
        f", and none of the {VERSIONS_READ} versions read holds them: find the version with those bytes among all of them "
        f"(aws s3api list-object-versions --bucket {bucket} --prefix {prefix}{key}) and copy it back as the object (aws "
        f"s3api copy-object --bucket {bucket} --key {prefix}{key} --copy-source '{bucket}/{prefix}{key}?versionId=' followed "
        f"by its version id), or restore them from a backup or replica of the store; then verify again"), fix


def test_no_version_of_the_sealed_size_among_those_one_listing_shows_is_said_so(
        s3_store_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A forgery under a delete marker and the sealed version past what one listing of the key shows (lowered here to
    2 entries), no version listed being of the size sealed: none was read, and the fix said that none of the 0
    versions read holds the bytes. It says that no version listed is of their size, with the command that lists them
    all."""
    from prov_common.store import s3
    from prov_common.store.markers import DeleteMarkers

    store = s3.S3Store(s3_store_uri)
    client, bucket, full = store.client, store.bucket, store.prefix + "k"
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    client.put_object(Bucket=bucket, Key=full, Body=b"sealed")
    forged = client.put_object(Bucket=bucket, Key=full, Body=b"a longer forgery")["VersionId"]
    client.delete_object(Bucket=bucket, Key=full)
    monkeypatch.setattr(s3, "MARKER_LISTING", 2)  # the marker and the forgery: the sealed version is past the listing
    fix = DeleteMarkers(store).fix("k", "then verify again", sealed=(blake3_digest(b"sealed"), 6))
    assert fix is not None and fix.endswith(
        f"the version under it ('{forged}') does not hold the bytes sealed ({blake3_digest(b'sealed')}), and no version "
        "of those one listing of the key shows is of their size (6 bytes): find the version with those bytes among all "
        f"of them (aws s3api list-object-versions --bucket {bucket} --prefix {full}) and copy it back as the object (aws "
        f"s3api copy-object --bucket {bucket} --key {full} --copy-source '{bucket}/{full}?versionId=' followed by its "
        "version id), or restore them from a backup or replica of the store; then verify again"), fix


@pytest.mark.parametrize("store_uri", ["local"], indirect=True)  # objects added under keys of their own (the module's rule)
def test_another_stores_audit_record_copied_into_a_store_audited_while_empty_is_a_finding(store_uri: str) -> None:
    """A store audited once while it held nothing (no log, no run: the auditor remembers neither), then another store's
    audit record and reports copied in: the next audit took them as a first audit takes what it lists, and was clean.
    The auditor audited the store before: the record is another store's, named with the fix on every audit, and its
    reports are not taken."""
    from prov_common.audit.published import FIX_OTHER_STORE, REPORTS_PREFIX, RUNS_PREFIX

    os.makedirs(store_uri)
    assert _audit(store_uri).clean
    other = store_uri + "-other"
    seal(open_store(other), run_events("staging", [], [dataset("/staging/0.parquet", digest("s"))]))
    assert _audit(other).clean
    copied = [*open_store(other).list(REPORTS_PREFIX), *open_store(other).list(RUNS_PREFIX)]
    for key in copied:
        raw_write(store_uri, key, raw_read(other, key))
    record = next(k for k in copied if k.startswith(RUNS_PREFIX))
    for _ in range(2):  # found, and still found by the audit after
        found = _audit(store_uri)
        named = [f for f in found.check(CHECK_INVENTORY).errors if f.object in copied]
        assert found.exit_code == 1 and [(f.object, f.fix) for f in named] == [(record, FIX_OTHER_STORE)], \
            [f"{f.object}: {f.what}" for f in found.errors]
        assert (f"'{record}' is the record of an audit of another store ({other}), not of this store ({store_uri})") in named[0].what


@on(*LOCAL)
def test_a_published_report_grown_sparse_is_hashed_in_ranged_parts_not_read_whole(base: Store) -> None:
    """A report its audit signed, grown (sparse) to 256 MiB: checking it against its signed record read it whole to hash
    it. It is hashed in ranged parts (as verify hashes attachments), and named as not the one its audit signed."""
    import tracemalloc

    from prov_common.audit.published import REPORTS_PREFIX, check_report
    from prov_common.errors import VerificationError
    from prov_common.signing import trust_from_settings

    s = base
    report = [k for k in s.keys(REPORTS_PREFIX) if k.endswith("/report.json")][-1]
    check_report(s.pipe.store, trust_from_settings(), report)
    os.truncate(Path(s.uri) / report, 256 << 20)
    tracemalloc.start()
    try:
        with pytest.raises(VerificationError, match=f"report '{report}' is not the one its audit signed"):
            check_report(s.pipe.store, trust_from_settings(), report)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 << 20, peak


@on(*LOCAL)
@pytest.mark.parametrize("prefix", ["audit/runs/", "audit/generated/", "audit/resolutions/"])
def test_an_audit_record_lookup_or_resolution_grown_sparse_is_read_no_further_than_a_small_object(base: Store, prefix: str) -> None:
    """An audit's signed record, a lookup of who generated a version or a signed resolution, grown (sparse) to 256 MiB:
    each was read whole. Each is read no further than layout.SMALL_OBJECT_LIMIT and refused naming it."""
    import tracemalloc

    from prov_common.audit.catalog import Binding
    from prov_common.audit.generated import read_lookup
    from prov_common.audit.published import check_record
    from prov_common.audit.resolve import check_resolution
    from prov_common.signing import trust_from_settings
    from prov_common.store.errors import ObjectTooLargeError

    s = base
    if prefix == "audit/resolutions/":
        _audit(s.pipe, accept_checkpoint="the store as it is now")
    key, trust = s.newest(prefix), trust_from_settings()
    read = {"audit/runs/": lambda: check_record(s.pipe.store, trust, key),
            "audit/generated/": lambda: read_lookup(s.pipe.store, key, Binding.of(s.pipe.store, trust)),
            "audit/resolutions/": lambda: check_resolution(s.pipe.store, trust, key)}[prefix]
    read()
    os.truncate(Path(s.uri) / key, 256 << 20)
    tracemalloc.start()
    try:
        with pytest.raises(ObjectTooLargeError, match=f"object '{key}' in local folder .* is larger than {64 << 20:,} bytes"):
            read()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100 << 20, peak


@on(*LOCAL)
def test_an_auditor_stopped_while_publishing_leaves_no_lasting_finding(base: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """An auditor stopped after writing its reports and before its signed record left reports that every later
    audit named as not verified ('find out who wrote it'): the record is written first."""
    from prov_common.audit.published import REPORTS_PREFIX

    s = base
    real_put = type(s.pipe.store).put_listed

    def stopping(store, key, data, *args, **kwargs):
        if key.startswith(REPORTS_PREFIX) and key.endswith("report.html"):
            raise KeyboardInterrupt("the auditor stopped")
        return real_put(store, key, data, *args, **kwargs)

    with monkeypatch.context() as stopped:
        stopped.setattr(type(s.pipe.store), "put_listed", stopping)
        with pytest.raises(KeyboardInterrupt):
            _audit(s.pipe)
    for full in (False, False, True):
        again = _audit(s.pipe, full=full)
        assert not [f for f in again.errors if f.object.startswith(REPORTS_PREFIX)], [f"{f.object}: {f.what}" for f in again.errors]


def _accepted_resolution(s: Store) -> str:
    """A run that read 'vendor-orders' before it was registered, its completeness findings accepted by a person: the key
    of the signed resolution (written after the accepting audit's listing)."""
    early = seal(s.pipe.store, run_events("early_orders", [dataset("vendor-orders", None, namespace="tdprov://sources")],
                                          [dataset("/data/orders.parquet", digest("orders"))], start=T0 + timedelta(hours=4)))
    assert _audit(s.pipe).exit_code == 1
    accepting = _audit(s.pipe, accept_findings=[early], reason="run before vendor-orders was registered; checked by its owner")
    assert accepting.clean, [f"{f.object}: {f.what}" for f in accepting.errors]
    [entry] = accepting.accepted
    return entry["key"]


@store_cases("attack", {a: a for a in ["deleted", "flipped", "flipped-before-listed", "copied-under-another-run",
                                      "copied-under-another-audit", "forged"]},
             {"flipped", "flipped-before-listed"})
def test_signed_resolutions_are_in_the_inventory(base: Store, attack: str) -> None:
    """A person's signed acceptance (``audit/resolutions/``) deleted, changed (after the next audit listed it, or before:
    the auditor pinned what it wrote), copied under a key naming another run or another audit (the record names the audit
    that wrote it), or forged under a new key: the verdict
    uses the audit state's copy, and no audit named the object. Each is an inventory finding naming it, on every audit."""
    from prov_common.audit.resolve import RESOLUTIONS_PREFIX

    s = base
    key = _accepted_resolution(s)
    if attack != "flipped-before-listed":
        assert _audit(s.pipe).clean  # lists it
    name = key[len(RESOLUTIONS_PREFIX):]
    target = {"copied-under-another-run": f"{RESOLUTIONS_PREFIX}{name[:31]}{s.extra}.json",
              "copied-under-another-audit": f"{RESOLUTIONS_PREFIX}{name[:23]}{'f' * 8}{name[31:]}",
              "forged": f"{RESOLUTIONS_PREFIX}{name[:22]}-00000000.json"}.get(attack, key)
    if attack == "deleted":
        s.delete(key)
    elif attack in ("flipped", "flipped-before-listed"):
        flip_byte(s.uri, key)
    elif attack.startswith("copied-under-another"):
        raw_write(s.uri, target, raw_read(s.uri, key))
    else:
        record = {"acceptedAt": "2026-05-01T12:00:00Z", "by": "mallory", "reason": "accepted", "store": s.uri, "closed": []}
        raw_write(s.uri, target, sign_envelope(json.dumps(record).encode(), "application/vnd.tdprov.audit-resolution+json",
                                               [SigningKey.generate()]).to_json())
    words = {"deleted": "signed resolution", "flipped": "signed resolution", "flipped-before-listed": "not the object this auditor wrote"}
    for full in (False, False, True):
        found = _audit(s.pipe, full=full)
        shown = [f"{f.check} {f.object}: {f.what}" for f in found.errors]
        named = [f.what for f in found.check(CHECK_INVENTORY).errors if f.object == target]
        assert found.exit_code == 1 and named, (full, shown)
        assert words.get(attack, "does not verify") in named[0], (full, shown)



@on(*BOTH)
def test_a_changed_audit_record_is_named_alone_and_a_changed_report_is_its_own_finding(base: Store) -> None:
    """The signed record the last audit wrote (after its listing), changed before the next listing: it is the finding,
    once, not also the two reports checked against it, which nobody changed; restored, the store is clean and the
    reports are taken (on a local folder the restored file has a new change time: a person takes it back with
    --accept-checkpoint). A report that really changed is still named itself."""
    from prov_common.audit.published import REPORTS_PREFIX, RUNS_PREFIX, report_folder

    s = base
    record = s.newest(RUNS_PREFIX)
    good = raw_read(s.uri, record)
    flip_byte(s.uri, record)
    for full in (False, False, True):
        found = _audit(s.pipe, full=full)
        shown = [f"{f.check} {f.object}: {f.what}" for f in found.errors]
        assert [f.object for f in found.errors] == [record], shown
    raw_write(s.uri, record, good)
    if not s.uri.startswith("s3://"):
        [still] = _audit(s.pipe).errors
        assert still.object == record and "--accept-checkpoint" in still.fix, still
        _audit(s.pipe, accept_checkpoint="record restored from a backup")
    assert _audit(s.pipe).clean
    name = s.newest(RUNS_PREFIX)[len(RUNS_PREFIX):].removesuffix(".prov.dsse.json")
    report = f"{report_folder(name)}report.json"
    assert report in s.keys(REPORTS_PREFIX)
    flip_byte(s.uri, report)
    for _ in range(2):
        found = _audit(s.pipe)
        assert [f.object for f in found.errors] == [report], [f"{f.check} {f.object}: {f.what}" for f in found.errors]


@on(*BOTH)
def test_a_report_changed_with_its_audit_record_is_named_on_its_own(base: Store) -> None:
    """The last audit's signed record and its JSON report, both changed before the next listing: the report was checked
    only against the record, which failed, so the change to the report was named by no audit until the record was
    restored. The auditor remembered the fingerprint the store gave each it published: each is named, and the report stays
    named once the record is put back (on a local folder the record too, its restored file having a new change time)."""
    from prov_common.audit.published import RUNS_PREFIX, report_folder

    s = base
    record = s.newest(RUNS_PREFIX)
    report = f"{report_folder(record[len(RUNS_PREFIX):].removesuffix('.prov.dsse.json'))}report.json"
    good = raw_read(s.uri, record)
    flip_byte(s.uri, record)
    flip_byte(s.uri, report)
    for full in (False, False, True):
        found = _audit(s.pipe, full=full)
        named = {f.object: f.what for f in found.check(CHECK_INVENTORY).errors}
        assert set(named) == {record, report}, (full, [f"{f.check} {f.object}: {f.what}" for f in found.errors])
        assert "changed after it was first listed" in named[report], named[report]
    raw_write(s.uri, record, good)
    found = _audit(s.pipe)
    still = [report] if s.uri.startswith("s3://") else sorted([record, report])
    assert sorted(f.object for f in found.errors) == still, [f"{f.check} {f.object}: {f.what}" for f in found.errors]


@on(*LOCAL)
def test_a_deleted_index_entry_is_named_as_gone_not_by_the_stores_error(base: Store) -> None:
    """The signatures finding for a logged run whose index entry was deleted read the store's bare error ("no object
    'index/...' in local folder ..."); it says which entry of which run is gone, beside its fix."""
    s = base
    key = s.index_key(s.extra)
    delete_index_entry_and_marker(s)
    result = _audit(s.pipe)
    shown = [f"{f.check} {f.object}: {f.what}" for f in result.errors]
    assert [f for f in result.check(CHECK_SIGNATURES).errors if f.what == f"the index entry '{key}' of logged run {s.extra} is gone"], shown
    assert not [line for line in shown if "no object" in line], shown


@on(*LOCAL)
def test_a_sealed_bundle_whose_index_entry_is_gone_before_any_audit_is_named(base: Store) -> None:
    """A run sealed after the last audit, whose index entry is deleted (no event of it staged: the unfinished-runs check
    did not see it), was examined by no audit, and every audit was clean. It verifies, so it is named as not indexed: a
    note while it was sealed within --stale-hours (its writer may be writing the entry), an error after."""
    s = base
    run_id = seal(s.pipe.store, run_events("prepare_unindexed", [dataset(s.pipe.raw_name, s.pipe.raw)], [], start=T0 + timedelta(hours=4)))
    s.delete(s.index_key(run_id))
    what = f"run {run_id} has a sealed bundle that is not in the index: audits and listings do not see it"
    for stale_after, severity in ((timedelta(hours=24), "note"), (timedelta(0), "error")):
        result = _audit(s.pipe, stale_after=stale_after)
        named = [(f.object, f.what, f.severity) for f in result.check(CHECK_UNFINISHED).findings if f.run_id == run_id]
        assert named == [(layout.bundle_prefix(run_id), what, severity)], [f"{f.check} {f.object}: {f.what}" for f in result.findings]


@on(*BOTH)
def test_a_late_flush_of_an_old_run_s_bundle_is_a_note_while_it_is_written(base: Store) -> None:
    """A bundle that waited in a spool for days, its first files delivered and not yet its manifest: the audit named the
    folder an error, by its events' old dates, while the flush was writing it. Its first object was stored within the
    grace (by the store's clock) and its events are of its run: a note, and an error once the grace is over (a folder
    planted with the run's events hides no longer); a folder holding another run's events is an error at once."""
    from prov_common.audit.unfinished import WRITING_GRACE
    from prov_common.bundle import build_bundle
    from prov_common.bundle.storage import bundle_objects
    from prov_common.store.identity import writer_store_id

    s = base
    old = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=3)
    bundle = build_bundle(run_events("prepare_late", [dataset(s.pipe.raw_name, s.pipe.raw)], [], start=old), None, s.pipe.key,
                          store_id=writer_store_id(s.pipe.store))
    stray = str(uuid.uuid4())  # the same files under another run's folder
    for key, data in bundle_objects(bundle)[:2]:  # events.jsonl and prov.json: the manifest and statement come next
        s.pipe.store.put(key, data)
        s.pipe.store.put(key.replace(bundle.run_id, stray), data)
    prefix = layout.bundle_prefix(bundle.run_id)
    what = (f"bundle folder {prefix} holds no signed statement and no index entry or staged event names its run: it was never "
            "sealed, and no audit examines it")
    for later, severity in ((timedelta(0), "note"), (WRITING_GRACE + timedelta(minutes=1), "error")):
        result = _audit(s.pipe, now=datetime.now(timezone.utc) + later)
        named = {f.run_id: f for f in result.check(CHECK_UNFINISHED).findings if f.run_id in (bundle.run_id, stray)}
        assert named[stray].severity == "error" and named[stray].what.endswith("no audit examines it"), named[stray]
        found = named[bundle.run_id]
        assert (found.object, found.severity) == (prefix, severity), [f"{f.check} {f.object}: {f.what}" for f in result.findings]
        if severity == "note":
            assert found.what.startswith(f"{what} (its first object was stored at ") and found.what.endswith(
                f", within {WRITING_GRACE}: a writer may be writing it)"), found.what
        else:
            assert found.what == what
        assert result.exit_code == 1


@on(*LOCAL)
def test_an_unsealed_bundle_folder_is_a_note_while_a_writer_may_be_putting_its_files(base: Store) -> None:
    """A bundle folder holding a run's events but no manifest or statement, with no staged event or index entry (a
    writer putting the bundle's files, or one that stopped there), is a note while its newest event is dated within
    --stale-hours, an error after; with its manifest too (its writer puts the statement right after it) an error."""
    from prov_common.bundle import build_bundle
    from prov_common.bundle.storage import bundle_objects
    from prov_common.store.identity import writer_store_id

    s = base
    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=10)
    bundle = build_bundle(run_events("prepare_now", [dataset(s.pipe.raw_name, s.pipe.raw)], [], start=start), None, s.pipe.key,
                          store_id=writer_store_id(s.pipe.store))
    objects = dict(bundle_objects(bundle))
    events = layout.bundle_key(bundle.run_id, layout.EVENTS_FILE)
    s.pipe.store.put(events, objects[events])
    prefix = layout.bundle_prefix(bundle.run_id)
    what = (f"bundle folder {prefix} holds no signed statement and no index entry or staged event names its run: it was never "
            "sealed, and no audit examines it")
    newest = iso_z(start + timedelta(minutes=5))
    for stale_after, severity, words, manifest in (
            (timedelta(hours=24), "note", f"{what} (its newest event is dated {newest}, within 1 day, 0:00:00: a writer may be writing it)", False),
            (timedelta(0), "error", what, False), (timedelta(hours=24), "error", what, True)):
        if manifest:
            manifest_key = layout.bundle_key(bundle.run_id, layout.MANIFEST_FILE)
            s.pipe.store.put(manifest_key, objects[manifest_key])
        result = _audit(s.pipe, stale_after=stale_after)
        named = [(f.object, f.what, f.severity) for f in result.check(CHECK_UNFINISHED).findings if f.run_id == bundle.run_id]
        assert named == [(prefix, words, severity)], [f"{f.check} {f.object}: {f.what}" for f in result.findings]
        assert result.exit_code == (0 if severity == "note" else 1)


@on(*LOCAL)
def test_an_unsealed_bundle_folder_whose_events_pass_the_small_object_bound_is_named_so(
        base: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bundle folder holding only its run's events.jsonl, larger than layout.SMALL_OBJECT_LIMIT (lowered here: events
    each under the bound a writer stages, together past it). With no manifest to give its size the audit reads it no
    further than that bound: it took such a file for one of no event, and its finding said nothing of why the folder's
    newest event and run were not judged. It names the file and the bound. Like any folder with no manifest whose first
    object the store took within the writing grace (a seal may be putting its files), it is a note until the grace is
    over, then an error: it was an error at once."""
    from prov_common.audit.unfinished import WRITING_GRACE
    from prov_common.bundle import build_bundle
    from prov_common.bundle.storage import bundle_objects
    from prov_common.store.identity import writer_store_id

    s = base
    lowered = 64 << 10
    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=10)
    events = run_events("prepare_big", [dataset(s.pipe.raw_name, s.pipe.raw)], [], start=start)
    for event in events:
        event["run"]["facets"]["padding"] = {"_producer": "https://example.com/p", "_schemaURL": "https://example.com/s#/$defs/P",
                                             "text": "x" * (lowered // 2)}
    bundle = build_bundle(events, None, s.pipe.key, store_id=writer_store_id(s.pipe.store))
    key = layout.bundle_key(bundle.run_id, layout.EVENTS_FILE)
    assert len(dict(bundle_objects(bundle))[key]) > lowered
    s.pipe.store.put(key, dict(bundle_objects(bundle))[key])
    monkeypatch.setattr(layout, "SMALL_OBJECT_LIMIT", lowered)
    prefix = layout.bundle_prefix(bundle.run_id)
    what = (f"bundle folder {prefix} holds no signed statement and no index entry or staged event names its run: it was "
            "never sealed, and no audit examines it")
    unread = (" (its events.jsonl is larger than 65,536 bytes, which the audit reads at most with no manifest to give its "
              "size: the times and run of its events are not known)")
    for later, severity in ((timedelta(0), "note"), (WRITING_GRACE + timedelta(minutes=1), "error")):
        result = _audit(s.pipe, stale_after=timedelta(hours=24), now=datetime.now(timezone.utc) + later)
        [found] = [f for f in result.check(CHECK_UNFINISHED).findings if f.run_id == bundle.run_id]
        assert (found.object, found.severity) == (prefix, severity), [f"{f.check} {f.object}: {f.what}" for f in result.findings]
        if severity == "note":
            assert found.what.startswith(f"{what} (its first object was stored at ") and found.what.endswith(
                f", within {WRITING_GRACE}: a writer may be writing it){unread}"), found.what
        else:
            assert found.what == what + unread
        assert result.exit_code == (0 if severity == "note" else 1)


@on(*LOCAL)
def test_an_unsealed_bundle_folder_written_again_stays_a_note_no_longer_than_since_an_audit_first_named_it(base: Store) -> None:
    """A folder planted with its run's events, re-dated (or stored again) before each audit, was a note forever: its
    newest event, and the first object the store took, were always recent. Both count from no later than when an audit
    first named the folder (the audit state keeps it), so it is an error once --stale-hours have passed since then."""
    from prov_common.bundle import build_bundle
    from prov_common.bundle.storage import bundle_objects
    from prov_common.store.identity import writer_store_id

    s = base
    now = datetime.now(timezone.utc).replace(microsecond=0)
    stale_after = timedelta(hours=1)
    run_id = str(uuid.uuid4())
    prefix = layout.bundle_prefix(run_id)
    what = (f"bundle folder {prefix} holds no signed statement and no index entry or staged event names its run: it was never "
            "sealed, and no audit examines it")
    for later, severity in ((timedelta(0), "note"), (timedelta(hours=2), "error")):
        start = now + later - timedelta(minutes=10)  # events re-dated before each audit, the folder written again
        bundle = build_bundle(run_events("prepare_planted", [dataset(s.pipe.raw_name, s.pipe.raw)], [], start=start, run_id=run_id),
                              None, s.pipe.key, store_id=writer_store_id(s.pipe.store))
        events = layout.bundle_key(run_id, layout.EVENTS_FILE)
        raw_write(s.uri, events, dict(bundle_objects(bundle))[events])
        # a new run is logged, so that the audit writes its state
        seal(s.pipe.store, run_events(f"prepare_{severity}", [dataset(s.pipe.raw_name, s.pipe.raw)], [], start=T0 + timedelta(hours=4)))
        result = _audit(s.pipe, now=now + later, stale_after=stale_after)
        named = [(f.object, f.severity) for f in result.check(CHECK_UNFINISHED).findings if f.run_id == run_id]
        assert named == [(prefix, severity)], [f"{f.check} {f.object}: {f.what}" for f in result.findings]
        found = next(f for f in result.check(CHECK_UNFINISHED).findings if f.run_id == run_id)
        assert found.what == (what if severity == "error" else
                              f"{what} (its newest event is dated {iso_z(start + timedelta(minutes=5))}, within 1:00:00: a writer "
                              "may be writing it)")
        assert result.exit_code == (0 if severity == "note" else 1)


def test_an_unsealed_bundle_folder_written_again_in_a_store_with_no_log_stays_a_note_no_longer_than_since_first_named(
        tmp_path: Path) -> None:
    """As above, in a store where no run was ever logged (so no audit appends a checkpoint): the audit state is bound
    to a checkpoint, so none was written and every audit took the folder for new."""
    from prov_common.bundle import build_bundle
    from prov_common.bundle.storage import bundle_objects
    from prov_common.store.identity import writer_store_id

    store = open_store(str(tmp_path / "store"))
    now = datetime.now(timezone.utc).replace(microsecond=0)
    stale_after = timedelta(hours=1)
    run_id = str(uuid.uuid4())
    prefix = layout.bundle_prefix(run_id)
    for later, severity in ((timedelta(0), "note"), (timedelta(hours=2), "error")):
        start = now + later - timedelta(minutes=10)  # events re-dated before each audit, the folder written again
        bundle = build_bundle(run_events("prepare_planted", [dataset("/data/raw.csv", digest("raw"))], [], start=start, run_id=run_id),
                              None, default_signing_key(), store_id=writer_store_id(store))
        events = layout.bundle_key(run_id, layout.EVENTS_FILE)
        raw_write(store.uri, events, dict(bundle_objects(bundle))[events])
        result = _audit(store, now=now + later, stale_after=stale_after)
        named = [(f.check, f.object, f.severity) for f in result.findings]  # the state kept: no finding of its own
        assert named == [(CHECK_UNFINISHED, prefix, severity)], [f"{f.check} {f.object}: {f.what}" for f in result.findings]
        assert result.exit_code == (0 if severity == "note" else 1)
    # kept in a state bound to no checkpoint (the log is still empty), written when what it keeps changed: once
    assert [k[:len("audit/state/000000000000-")] for k in store.list("audit/state/")] == ["audit/state/000000000000-"]
    # a run logged later: the audit goes on from that state as from none, the folder still an error
    seal(store, run_events("prepare_later", [dataset("/data/raw.csv", digest("raw"))], [], start=now))
    result = _audit(store, now=now + timedelta(hours=3), stale_after=stale_after)
    errors = [(f.check, f.object) for f in result.errors if f.check != "completeness"]  # raw.csv: no registered source
    assert errors == [(CHECK_UNFINISHED, prefix)], [f"{f.check} {f.object}: {f.what}" for f in result.findings]
    assert result.checkpoint.checkpoint.size == 1


@contextlib.contextmanager
def _put_back_after_listing(uri: str, key: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[bytes]:
    """The bundle file ``key`` of the store at ``uri`` forged (its run's COMPLETE made COMPLEXE); within the block, each
    audit's listing puts the sealed bytes back right after it has listed the forgery's fingerprint. Yields the forgery."""
    from prov_common.audit import inventory

    sealed = raw_read(uri, key)
    forged = sealed.replace(b'"COMPLETE"', b'"COMPLEXE"', 1)
    raw_write(uri, key, forged)
    listed = inventory.Listing.take
    take = listed.__func__

    def listed_then_swapped(cls: type, store: object, *indexed: object) -> object:
        listing = take(cls, store, *indexed)
        raw_write(uri, key, sealed)
        return listing

    monkeypatch.setattr(inventory.Listing, "take", classmethod(listed_then_swapped))
    try:
        yield forged
    finally:
        monkeypatch.setattr(inventory.Listing, "take", listed)


@on(*BOTH)
def test_a_file_swapped_between_the_audits_listing_and_its_read_is_found_once_put_back(
        base: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new run's prov.json is forged; right after the audit lists the store (the forgery's fingerprint), the sealed
    bytes are put back for the audit to read, and the forgery once it has read them. The audit remembered the listed
    fingerprint of bytes it never verified: on S3 (whose ETag is the bytes' MD5) the forgery put back had it again, and
    every later default audit was clean. A local file put back has a new change time."""
    s = base
    run = seal(s.pipe.store, run_events("prepare_swapped", [dataset(s.pipe.raw_name, s.pipe.raw)], [], start=T0 + timedelta(hours=4)))
    key = layout.bundle_key(run, layout.PROV_FILE)
    with _put_back_after_listing(s.uri, key, monkeypatch) as forged:
        first = _audit(s.pipe)
    if s.uri.startswith("s3://"):  # read at the listed ETag: the swap itself is named
        assert [f for f in first.errors if f.object == key and "changed after it was listed" in f.what], [f.what for f in first.errors]
    raw_write(s.uri, key, forged)
    for attempt in ("found", "still found"):
        result = _audit(s.pipe)
        shown = [f"{f.check} {f.object}: {f.what}" for f in result.errors]
        assert result.exit_code == 1, (attempt, [f.what for f in first.findings], shown)
        assert [f for f in result.errors if f.object == key], (attempt, shown)


@on("s3")
def test_a_file_swapped_between_the_listing_and_a_workers_read_is_found(base: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The swap above where the audit examines new bundles in worker processes (many bundles; here from 2 on): each
    worker opens the store again from its URI, and read the key as it then was, not at its listed ETag, so the
    forgery's listed fingerprint was remembered as verified."""
    from prov_common.audit import engine

    monkeypatch.setattr(engine, "PARALLEL_FROM", 2)
    s = base
    runs = [seal(s.pipe.store, run_events(f"prepare_pooled_{i}", [dataset(s.pipe.raw_name, s.pipe.raw)], [],
                                          start=T0 + timedelta(hours=4, minutes=i))) for i in range(3)]
    key = layout.bundle_key(runs[-1], layout.PROV_FILE)  # the last entry: examined by a worker
    assert max(map(s.index_key, runs)) == s.index_key(runs[-1])
    with _put_back_after_listing(s.uri, key, monkeypatch) as forged:
        first = _audit(s.pipe, workers=2)
    shown = [f"{f.check} {f.object}: {f.what}" for f in first.findings]
    assert first.bundles_examined == 3, shown
    assert [f for f in first.errors if f.object == key and "changed after it was listed" in f.what], shown
    raw_write(s.uri, key, forged)
    result = _audit(s.pipe, workers=2)
    assert result.exit_code == 1 and [f for f in result.errors if f.object == key], [f.what for f in result.errors]


@on("s3")
def test_a_file_swapped_between_the_listing_and_its_read_is_found_where_the_endpoint_ignores_if_match(
        base: Store, s3_ignoring_if_match, monkeypatch: pytest.MonkeyPatch) -> None:
    """The swap above through an endpoint that ignores ``If-Match`` (a proxy that drops it): the read at the listed
    ETag was answered with the sealed bytes, which verified, and the forgery's listed fingerprint was remembered as
    theirs, so every later default audit was clean. The answer's ETag is not the one listed: the file is named, saying
    so, and the forgery put back is found by every later audit."""
    s = base
    run = seal(s.pipe.store, run_events("prepare_swapped", [dataset(s.pipe.raw_name, s.pipe.raw)], [], start=T0 + timedelta(hours=4)))
    key = layout.bundle_key(run, layout.PROV_FILE)
    s3_ignoring_if_match.point(monkeypatch)  # every audit below reads through it
    with _put_back_after_listing(s.uri, key, monkeypatch) as forged:
        first = _audit(s.uri)
    named = [f for f in first.errors if f.object == key and "changed after it was listed" in f.what]
    assert named, [f"{f.object}: {f.what}" for f in first.errors]
    assert f"'{key}' changed after it was listed in {open_store(s.uri).describe()}: a read of the bytes with ETag \"" in named[0].what
    assert "ignored the condition, which would have refused the read" in named[0].what, named[0].what
    raw_write(s.uri, key, forged)
    for attempt in ("found", "still found"):
        result = _audit(s.uri)
        assert result.exit_code == 1 and [f for f in result.errors if f.object == key], (attempt, [f.what for f in result.errors])


@on("s3")
def test_a_file_read_through_an_endpoint_that_ignores_if_match_is_named_with_the_fix_of_that_endpoint(
        base: Store, s3_ignoring_if_match, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The swap above, audited by 'tdprov audit': its finding said the file was altered after the run was sealed and
    to restore it from a backup, though the store held the sealed bytes and the endpoint ignored If-Match. The
    finding carries the fix of the error that named it, in the text report, --json and report.html alike."""
    from prov_common.cli import main
    from prov_common.store.s3 import FIX_HONOUR_IF_MATCH

    s = base
    run = seal(s.pipe.store, run_events("prepare_swapped", [dataset(s.pipe.raw_name, s.pipe.raw)], [], start=T0 + timedelta(hours=4)))
    key = layout.bundle_key(run, layout.PROV_FILE)
    fix = f"{FIX_HONOUR_IF_MATCH}; the next audit verifies it again"
    s3_ignoring_if_match.point(monkeypatch)
    capsys.readouterr()
    with _put_back_after_listing(s.uri, key, monkeypatch):
        assert main(["audit", "--json", "--store", s.uri, "--report", str(tmp_path / "r")]) == 1
        found = [f for f in json.loads(capsys.readouterr().out)["findings"] if f["object"] == key]
        assert main(["audit", "--store", s.uri, "--report", str(tmp_path / "r2")]) == 1
        text = capsys.readouterr().out
    assert [f["fix"] for f in found] == [fix] and "changed after it was listed" in found[0]["what"], found
    assert f"fix: {fix}" in text and "the object was altered after the run was sealed" not in text, text
    html = (tmp_path / "r" / "report.html").read_text()
    assert fix in html and "the object was altered after the run was sealed" not in html


@on("s3")
def test_a_file_read_at_its_listed_etag_and_answered_with_no_etag_is_named(
        base: Store, s3_answering_pinned_reads_without_etag, monkeypatch: pytest.MonkeyPatch) -> None:
    """An endpoint (or a proxy before it) that answers a read at the listed ETag (If-Match) with bytes that carry no
    ETag: nothing tells them from others, so a new run's signed statement and manifest read so are each named as one
    that cannot be read as it was listed, with the fix to read through an endpoint that honours If-Match, and the run is
    not logged from them: the next audit through S3 itself verifies and logs it, clean."""
    from prov_common.store.s3 import FIX_HONOUR_IF_MATCH

    s = base
    run = seal(s.pipe.store, run_events("prepare_unanswered", [dataset(s.pipe.raw_name, s.pipe.raw)], [], start=T0 + timedelta(hours=4)))
    with monkeypatch.context() as proxied:
        s3_answering_pinned_reads_without_etag.point(proxied)
        result = _audit(s.uri)
    unread = {f.object: f for f in result.errors if f.what.startswith("unreadable: ")}
    assert sorted(unread) == [layout.bundle_key(run, layout.MANIFEST_FILE), layout.bundle_key(run, layout.STATEMENT_FILE)], (
        [f"{f.object}: {f.what}" for f in result.errors])
    for key, found in unread.items():
        assert found.what.startswith(f"unreadable: '{key}' cannot be read as it was listed in S3 store "), found.what
        assert "was answered with bytes given no ETag, so they cannot be told from others" in found.what, found.what
        assert found.fix == f"{FIX_HONOUR_IF_MATCH}; the next audit verifies it again", found.fix
    again = _audit(s.uri)
    assert again.clean, [f"{f.object}: {f.what}" for f in again.errors]


@on("s3")
def test_a_file_uploaded_in_parts_is_read_at_its_multipart_etag(base: Store) -> None:
    """A new run's files put again, before an audit listed them, with the same bytes in multipart uploads: each has an
    ETag of the parts (``"<digest>-1"``), no MD5 of its bytes. Each is read at that ETag, the answer's taken as the
    same, and the audits are clean."""
    import io

    from boto3.s3.transfer import TransferConfig

    s = base
    run = seal(s.pipe.store, run_events("prepare_parts", [dataset(s.pipe.raw_name, s.pipe.raw)], [], start=T0 + timedelta(hours=4)))
    client, bucket, prefix = _s3(s.uri)
    keys = s.keys(layout.bundle_prefix(run))
    for key in keys:
        data = raw_read(s.uri, key)
        client.upload_fileobj(io.BytesIO(data), bucket, prefix + key, Config=TransferConfig(multipart_threshold=1))
        assert client.head_object(Bucket=bucket, Key=prefix + key)["ETag"].endswith('-1"'), key
    for attempt in ("examined", "again"):
        result = _audit(s.pipe)
        assert result.clean, (attempt, [f"{f.object}: {f.what}" for f in result.errors])
    assert result.bundles_examined == 0 and len(keys) >= 3


@pytest.mark.parametrize("store_uri", ["s3"], indirect=True)
def test_an_etag_listed_with_a_new_line_is_an_unreadable_object_not_an_outage(store_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An S3-compatible server that lists a logged file with an ETag holding a new line: reading it at that ETag
    (If-Match) raised the HTTP client's error as an outage, with the fix to check the network, and stopped the audit.
    The file is named as unreadable at the ETag listed, with the fix, and the audit goes on."""
    from moto.s3.models import FakeKey

    run_id = seal(open_store(store_uri), run_events("prepare", [], [dataset("/data/x.parquet", digest("x"))]))
    assert _audit(store_uri).clean
    key = layout.bundle_key(run_id, layout.PROV_FILE)
    etag = FakeKey.etag
    monkeypatch.setattr(FakeKey, "etag", property(lambda k: '"a\nb"' if k.name.endswith(key) else etag.fget(k)))
    found = _audit(store_uri)
    named = [f for f in found.errors if f.object == key and "unreadable" in f.what]
    assert found.exit_code == 1 and named, [f"{f.object}: {f.what}" for f in found.errors]
    assert "was listed with an ETag no request can ask for ('a\\nb')" in named[0].what, named[0].what


@pytest.mark.parametrize("store_uri", ["s3"], indirect=True)
def test_an_object_listed_with_an_empty_etag_is_noted_as_read_unpinned(store_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An S3-compatible server that lists a logged file with an empty ETag: the audit read it as it was when read, not
    at the bytes listed, and remembered its size alone as its fingerprint, without a word. The audit notes it (not a
    finding), naming the file and the fix."""
    from moto.s3.models import FakeKey

    from prov_common.audit.model import CHECK_INVENTORY, NOTE

    run_id = seal(open_store(store_uri), run_events("prepare", [], [dataset("/data/x.parquet", digest("x"))]))
    assert _audit(store_uri).clean
    key = layout.bundle_key(run_id, layout.PROV_FILE)
    etag = FakeKey.etag
    monkeypatch.setattr(FakeKey, "etag", property(lambda k: '""' if k.name.endswith(key) else etag.fget(k)))
    found = _audit(store_uri)
    noted = [f for f in found.check(CHECK_INVENTORY).findings if f.severity == NOTE and "no ETag" in f.what]
    assert found.exit_code == 0 and [(f.object, f.items) for f in noted] == [(key, (key,))], \
        [f"{f.object}: {f.what}" for f in found.check(CHECK_INVENTORY).findings]
    assert noted[0].what == (f"1 object ({key}) listed with no ETag by {open_store(store_uri).describe()}: each is read as it is "
                             "when read, not at the bytes listed, and its fingerprint is its size alone, so bytes of the same "
                             "size put in its place are not seen as a change until a full audit verifies it"), noted[0].what


def _logged_in_parts_then_forged_and_hidden(store_uri: str, names: tuple[str, ...]) -> tuple[Any, str, str, dict[str, tuple[str, dict]]]:
    """A run sealed in the S3 store ``store_uri`` for each of ``names``, each of its files put again with the same bytes in
    a multipart upload (an ETag of the parts, no MD5 of its bytes) before an audit listed it, then audited; the bucket
    versioned and, in each run, the file of its name overwritten with other bytes and deleted without a version id. The
    client, bucket, prefix, and by name the file's key and the listed entry of its sealed version."""
    import io

    from boto3.s3.transfer import TransferConfig

    client, bucket, prefix = _s3(store_uri)
    run_ids = {name: seal(open_store(store_uri), run_events("prepare", [], [dataset(f"/data/x{i}.parquet", digest(f"x{i}"))]))
               for i, name in enumerate(names)}
    for run_id in run_ids.values():
        for key in list(open_store(store_uri).list(layout.bundle_prefix(run_id))):
            client.upload_fileobj(io.BytesIO(raw_read(store_uri, key)), bucket, prefix + key, Config=TransferConfig(multipart_threshold=1))
    assert _audit(store_uri).clean
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    hidden = {}
    for name, run_id in run_ids.items():
        key = layout.bundle_key(run_id, name)
        [sealed] = client.list_object_versions(Bucket=bucket, Prefix=prefix + key)["Versions"]
        assert sealed["ETag"].endswith('-1"'), (name, sealed)
        client.put_object(Bucket=bucket, Key=prefix + key, Body=b"forged")
        client.delete_object(Bucket=bucket, Key=prefix + key)
        hidden[name] = key, sealed
    return client, bucket, prefix, hidden


@pytest.mark.parametrize("store_uri", ["s3"], indirect=True)  # a bucket of its own: versioning stays on once enabled
def test_a_logged_file_copied_back_from_its_kept_version_with_a_new_etag_is_taken_back(store_uri: str) -> None:
    """A logged run's manifest (signed statement, indexed record: one run each, in one bucket and one set of audits),
    uploaded in parts, overwritten and hidden by a delete marker, copied back from its kept version as the audit's fix
    says: the copy has the same bytes and another ETag (an MD5 of the bytes, not of the parts), and stayed 'changed after
    it was first listed' in every audit until --full. The next audit verifies the bundle again, finds it the one the log
    holds and takes the new ETag, with a note; a copy of the forged version stays a finding."""
    client, bucket, prefix, hidden = _logged_in_parts_then_forged_and_hidden(
        store_uri, (layout.MANIFEST_FILE, layout.STATEMENT_FILE, layout.INDEXED_FILE))
    fixes = {f.object: f.fix for f in _audit(store_uri).check(CHECK_INVENTORY).errors}
    sources = {}
    for name, (key, sealed) in hidden.items():
        source = fixes.get(key, "").partition("--copy-source ")[2].strip("'")
        assert source == f"{bucket}/{prefix}{key}?versionId={sealed['VersionId']}", (name, fixes)
        sources[name] = source
        forged = client.list_object_versions(Bucket=bucket, Prefix=prefix + key)["Versions"][0]["VersionId"]
        # (moto keeps the parts' checksum on a copy unless asked for one of the whole object, and then fails the reads)
        client.copy_object(Bucket=bucket, Key=prefix + key, CopySource=f"{bucket}/{prefix}{key}?versionId={forged}", ChecksumAlgorithm="CRC32")
    for _ in range(2):  # another version's bytes are never taken
        found = _audit(store_uri)
        for name, (key, _sealed) in hidden.items():
            assert [f for f in found.check(CHECK_INVENTORY).errors if f.object == key and "changed after it was first listed" in f.what], \
                (name, [f"{f.object}: {f.what}" for f in found.errors])
    copied = {}
    for name, (key, sealed) in hidden.items():
        client.copy_object(Bucket=bucket, Key=prefix + key, CopySource=sources[name], ChecksumAlgorithm="CRC32")
        copied[name] = client.head_object(Bucket=bucket, Key=prefix + key)["ETag"]
        assert copied[name] != sealed["ETag"] and not copied[name].endswith('-1"'), (name, copied[name], sealed["ETag"])
    found = _audit(store_uri)
    assert found.clean, [f"{f.object}: {f.what}" for f in found.errors]
    for name, (key, sealed) in hidden.items():
        [note] = [f for f in found.check(CHECK_INVENTORY).findings if f.object == key]
        assert note.severity == "note" and note.what.endswith(
            f"was rewritten (size:tag {sealed['Size']}:{sealed['ETag'].strip(chr(34))} -> {sealed['Size']}:{copied[name].strip(chr(34))}) "
            "and is again the object logged (checked against the log and the signed manifest by this audit): its new fingerprint is "
            "taken"), (name, note.what)
    again = _audit(store_uri)
    assert again.clean and not [f for f in again.findings if f.object in {key for key, _ in hidden.values()}], \
        [f"{f.object}: {f.what}" for f in again.findings]



@on(*LOCAL)
@pytest.mark.parametrize("forged", ["junk", "another checkpoint"])
def test_a_checkpoint_planted_ahead_does_not_make_a_leaf_batch_copied_past_the_end_read_as_moved(base: Store, forged: str) -> None:
    """A leaf batch copied past the log's end, and an object planted under a checkpoint key far ahead (junk, or the bytes of
    the newest checkpoint): the log's end was the newest checkpoint listed, the planted one, so the copy read as moved
    inside the log, with the fix to restore the log objects. The end is the newest checkpoint that verifies: the copy is
    told as copied past it, with the fix to remove it, and the planted checkpoint has its own findings."""
    s = base
    moved, _claims, fix = _copy_a_leaf_batch_past_the_logs_end(s)
    ahead = f"{CHECKPOINTS_PREFIX}{100:012d}.json"
    raw_write(s.uri, ahead, b"junk" if forged == "junk" else raw_read(s.uri, s.newest(CHECKPOINTS_PREFIX)))
    claims = (f"log leaf batch '{moved}' claims first index 2: it was copied or moved past the log's end (the newest checkpoint "
              "that verifies covers 5 leaves), so its leaves are not the log's")
    for full in (False, True):
        result = _audit(s.pipe, full=full)
        shown = [(f.check, f.object, f.what, f.fix) for f in result.errors]
        assert [(f.check, f.what, f.fix) for f in result.errors if f.object == moved] == [
            (CHECK_LOG, claims, fix),
            (CHECK_INVENTORY, f"'{moved}' appeared or was replaced since the last audit and does not verify: {claims}", fix)], (full, shown)
        assert {f.check for f in result.errors if f.object == ahead} == {CHECK_LOG, CHECK_INVENTORY}, (full, shown)
