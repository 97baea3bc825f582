"""Over a gap the audit appends nothing; its message says what is true: which new bundles wait, or nothing
more when none does (it never claims a failed append that was not tried)."""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from prov_common.audit.model import CHECK_INVENTORY, CHECK_LOG, CHECK_SIGNATURES
from prov_common.bundle import layout
from prov_common.store.local import LocalStore
from prov_common.tlog.log import CHECKPOINTS_PREFIX, LEAVES_PREFIX

from test_audit_attacks import base_fixture  # noqa: F401 (the fixture 'base')
from test_audit_attacks import Store, _audit, delete_newest_checkpoint, inject_leaf_batch_after_the_head, on
from test_audit_support import T0, dataset, digest, run_events, seal


def _other_auditor(s: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A whole audit of ``s`` by another auditor (its own memory, the same key)."""
    from prov_common.signing.keyfiles import default_key_path

    with monkeypatch.context() as as_other:
        as_other.setenv("TDPROV_SIGNING_KEY", str(default_key_path()))
        as_other.setenv("TDPROV_HOME", str(tmp_path / "other"))
        return _audit(s.pipe.store.uri)


def test_blocked_log_names_only_the_bundles_that_wait(tmp_path: Path) -> None:
    s = Store(str(tmp_path / "store"))
    delete_newest_checkpoint(s)
    heads = s.keys(CHECKPOINTS_PREFIX)

    idle = _audit(s.pipe)
    said = [f.what for f in idle.check(CHECK_LOG).errors]
    assert idle.exit_code == 1 and any("rolled back" in w for w in said), said
    assert not [w for w in said if "append" in w or "wait" in w], said  # nothing was waiting, nothing was tried

    late = seal(s.pipe.store, run_events("prepare_late", [dataset(s.pipe.raw_name, s.pipe.raw)], [], start=T0 + timedelta(hours=4)))
    busy = _audit(s.pipe)
    said = [f.what for f in busy.check(CHECK_LOG).errors]
    waiting = [w for w in said if "new bundle not appended" in w]
    assert len(waiting) == 1 and waiting[0].startswith(f"1 new bundle not appended to the log (run {late}): "), said  # named, not only counted
    assert not [w for w in said if "could not append" in w], said
    assert s.keys(CHECKPOINTS_PREFIX) == heads  # and indeed nothing was appended


@pytest.mark.parametrize("how", ["blocked", "read-only", "append-failed"])
def test_bundles_logged_counts_only_the_leaves_appended(tmp_path: Path, how: str) -> None:
    """'bundlesLogged' (report.json, the HTML report) said 2 when neither new bundle was appended: over a gap, in a
    read-only audit, or when the append failed. It counts the bundles appended, and a finding says why the others were not."""
    s = Store(str(tmp_path / "store"))
    if how == "blocked":
        delete_newest_checkpoint(s)
    elif how == "append-failed":
        inject_leaf_batch_after_the_head(s)
    for name in ("late", "later"):
        seal(s.pipe.store, run_events(f"prepare_{name}", [dataset(s.pipe.raw_name, s.pipe.raw)],
                                      [dataset(f"/data/{name}.parquet", digest(name))], start=T0 + timedelta(hours=4)))
    heads, batches = s.keys(CHECKPOINTS_PREFIX), s.keys(LEAVES_PREFIX)
    options = {"read_only": True, "report_dir": tmp_path / "report"} if how == "read-only" else {}
    result = _audit(s.pipe, **options)
    assert s.keys(CHECKPOINTS_PREFIX) == heads and s.keys(LEAVES_PREFIX) == batches  # nothing was appended
    report = json.loads(Path(result.location(result.report_json)).read_bytes())
    assert result.bundles_logged == 0 and report["summary"]["bundlesLogged"] == 0, (result.bundles_logged, report["summary"])
    told = {"blocked": "2 new bundles not appended to the log", "read-only": "2 bundles not yet logged",
            "append-failed": "could not append 2 new bundles to the log"}[how]
    said = [f.what for f in result.check(CHECK_LOG).findings] + [result.check(CHECK_LOG).detail or ""]
    assert any(told in w for w in said), said


def test_bundles_logged_counts_none_that_another_auditor_logged_meanwhile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another auditor that logs the two new bundles while this audit examines them: this audit's append finds them
    logged and appends neither (the log holds each once), but 'bundlesLogged' said 2. It counts the bundles this audit
    appended: none."""
    import os

    s = Store(str(tmp_path / "store"))
    late = [seal(s.pipe.store, run_events(f"prepare_{name}", [dataset(s.pipe.raw_name, s.pipe.raw)],
                                          [dataset(f"/data/{name}.parquet", digest(name))], start=T0 + timedelta(hours=4)))
            for name in ("late", "later")]
    other: list = []

    class Racing(LocalStore):
        """The store as this audit reads it: the first read of a new bundle waits for another auditor's whole audit."""

        def get(self, key: str, limit: int | None = None) -> bytes:
            if not other and any(key.startswith(f"bundles/{run}/") for run in late):
                other.append(_other_auditor(s, tmp_path, monkeypatch))
            return super().get(key, limit)

    home, batches = os.environ["TDPROV_HOME"], s.keys(LEAVES_PREFIX)
    result = _audit(Racing(Path(s.pipe.store.uri)))
    assert os.environ["TDPROV_HOME"] == home and other and other[0].bundles_logged == 2, other
    added = [key for key in s.keys(LEAVES_PREFIX) if key not in batches]
    assert len(added) == 1 and sorted(x["runId"] for x in json.loads(s.pipe.store.get(added[0]))["leaves"]) == sorted(late), added
    report = json.loads(Path(result.location(result.report_json)).read_bytes())
    assert result.bundles_logged == 0 and report["summary"]["bundlesLogged"] == 0, (result.bundles_logged, report["summary"])


def test_a_run_another_auditor_logged_meanwhile_whose_index_entry_is_gone_is_told_gone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run sealed after this audit listed the index (so not among the bundles it examines first), logged by another
    auditor meanwhile, and whose index entry is deleted before this audit reads it: this audit examines it from the
    log's leaf after its append, and said that every field of the entry differs from the bundle's signed manifest and
    that its key id None is not the signer's. It says the entry is gone, with the fix to restore it."""
    s = Store(str(tmp_path / "store"))
    late = seal(s.pipe.store, run_events("prepare_late", [dataset(s.pipe.raw_name, s.pipe.raw)], [], start=T0 + timedelta(hours=4)))
    deleted: list[tuple[str, str]] = []  # the run sealed meanwhile, and its index entry

    class Racing(LocalStore):
        """The store as this audit reads it: before it lists the bundles (the index listed already), a run is sealed,
        another auditor logs it and the new run, and its index entry is deleted."""

        def list_info(self, prefix: str = "", *, start_after: str | None = None, tags_for=None):
            if prefix == layout.BUNDLES + "/" and not deleted:
                run = seal(s.pipe.store, run_events("prepare_meanwhile", [dataset(s.pipe.raw_name, s.pipe.raw)], [],
                                                    start=T0 + timedelta(hours=5)))
                assert _other_auditor(s, tmp_path, monkeypatch).bundles_logged == 2
                deleted.append((run, s.index_key(run)))
                s.delete(s.index_key(run))
            return super().list_info(prefix, start_after=start_after, tags_for=tags_for)

    result = _audit(Racing(Path(s.pipe.store.uri)))
    ((run, entry),) = deleted
    assert [(f.object, f.run_id, f.what, f.fix) for f in result.check(CHECK_SIGNATURES).findings] == [
        (entry, run, f"the index entry '{entry}' of logged run {run} is gone",
         "restore the index entry from a backup or replica: it summarises the bundle's signed manifest, which was examined without it")]
    assert late in result.index.runs and run in result.index.runs and result.bundles_logged == 0



def _logged_meanwhile_after_the_listing(s: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, then_delete: bool,
                                       count: int = 1, meanwhile: list[str] | None = None, **options: Any):
    """An audit of ``s`` (a new run sealed before it; ``options`` go to it) during which, once it has listed bundles/ and
    reads the new run's bundle, ``count`` other runs are sealed and another auditor logs them all (the bundle of the last
    then deleted, ``then_delete``): this audit's result, the runs sealed meanwhile (added to ``meanwhile`` as they are
    sealed), and the keys of their objects this audit read through its store (not a worker's)."""
    late = seal(s.pipe.store, run_events("prepare_late", [dataset(s.pipe.raw_name, s.pipe.raw)], [], start=T0 + timedelta(hours=4)))
    meanwhile = [] if meanwhile is None else meanwhile
    read: list[str] = []

    class Racing(type(s.pipe.store)):  # type: ignore[misc]
        """The store as this audit reads it: its first read of the new bundle (bundles/ listed already) waits for the runs
        sealed then and another auditor's whole audit."""

        def get(self, key: str, limit: int | None = None) -> bytes:
            if not meanwhile and key.startswith(layout.bundle_prefix(late)):
                for i in range(count):
                    meanwhile.append(seal(s.pipe.store, run_events("prepare_meanwhile", [dataset(s.pipe.raw_name, s.pipe.raw)], [],
                                                                   start=T0 + timedelta(hours=5, minutes=i))))
                assert _other_auditor(s, tmp_path, monkeypatch).bundles_logged == count + 1
                if then_delete:
                    s.delete(*s.keys(layout.bundle_prefix(meanwhile[-1])))
            if any(key.startswith(layout.bundle_prefix(run)) or key.endswith(f"-{run}.json") for run in meanwhile):
                read.append(key)
            return super().get(key, limit)

    result = _audit(Racing(s.pipe.store.uri), **options)
    return result, meanwhile, read


@on("local", "s3")
def test_a_run_sealed_after_the_listing_and_logged_meanwhile_by_another_auditor_is_not_missing(
        base: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run sealed after this audit listed bundles/, which another auditor logs while this audit runs: this audit
    examines it from the log's leaf, and the listing of bundles/ it kept for its readers hid the run's files, so it said
    "missing: no bundle objects for this run" and that the bundle of the logged run was gone from the store, though
    nothing was deleted. It lists the run's objects as they are now, finds the bundle sound, and so does the next audit."""
    result, [run], _ = _logged_meanwhile_after_the_listing(base, tmp_path, monkeypatch, then_delete=False)
    assert not result.errors, [(f.check, f.object, f.what) for f in result.errors]
    assert run in result.index.runs and result.bundles_logged == 0
    after = _audit(base.pipe)
    assert after.clean, [(f.check, f.object, f.what) for f in after.errors]


@on("local", "s3")
def test_a_run_logged_meanwhile_by_another_auditor_whose_bundle_is_then_deleted_is_missing(
        base: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same run, its bundle deleted after the other auditor logged it and before this audit reads it: this audit
    names the bundle missing and gone, and so does the next."""
    result, [run], _ = _logged_meanwhile_after_the_listing(base, tmp_path, monkeypatch, then_delete=True)
    prefix = layout.bundle_prefix(run)
    said = [(f.check, f.object, f.what) for f in result.errors if f.run_id == run]
    assert said == [(CHECK_SIGNATURES, prefix, "missing: no bundle objects for this run"),
                    (CHECK_INVENTORY, prefix, f"the bundle of logged run {run} is gone from the store")], said
    after = [(f.check, f.object, f.what) for f in _audit(base.pipe).errors]
    assert after == [(CHECK_INVENTORY, prefix, f"the bundle of logged run {run} is gone from the store")], after


@on("local", "s3")
@pytest.mark.parametrize("pooled", [False, True], ids=["here", "workers"])
def test_runs_logged_meanwhile_by_another_auditor_are_found_alike_in_worker_processes(
        base: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pooled: bool) -> None:
    """Three runs sealed after this audit listed bundles/ and logged by another auditor meanwhile, the bundle of the last
    then deleted; with ``pooled`` this audit examines them in worker processes (here from 2 runs on), each
    worker opening the store again and reading the objects as this audit listed them after its listing (the chunk's
    pins). Either way the two sound runs have no finding, the deleted bundle is missing and gone, and the next audit
    names it gone alone."""
    from prov_common.audit import engine

    if pooled:
        monkeypatch.setattr(engine, "PARALLEL_FROM", 2)
    result, runs, read = _logged_meanwhile_after_the_listing(base, tmp_path, monkeypatch, then_delete=True, count=3, workers=2)
    prefix = layout.bundle_prefix(runs[-1])
    assert [(f.check, f.object, f.what) for f in result.errors] == [
        (CHECK_SIGNATURES, prefix, "missing: no bundle objects for this run"),
        (CHECK_INVENTORY, prefix, f"the bundle of logged run {runs[-1]} is gone from the store")], result.errors
    assert all(run in result.index.runs for run in runs[:-1]) and result.bundles_logged == 0
    # the first run is examined here; the others by the workers, which read through a store of their own
    assert {run for run in runs if any(run in key for key in read)} == ({runs[0]} if pooled else set(runs)), read
    after = [(f.check, f.object, f.what) for f in _audit(base.pipe).errors]
    assert after == [(CHECK_INVENTORY, prefix, f"the bundle of logged run {runs[-1]} is gone from the store")], after


@on("s3")
def test_a_run_logged_meanwhile_whose_objects_are_listed_with_no_etag_is_noted(
        base: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run sealed after this audit listed bundles/ and logged by another auditor meanwhile, on an S3-compatible server
    that lists its bundle's objects with an empty ETag (and every other object with one): this audit lists the run's
    objects after its append and reads them as they are when read, not at the bytes listed, but its note of the objects
    listed with no ETag was made from its first listing, which held none, so it said nothing. The note names them."""
    from moto.s3.models import FakeKey

    from prov_common.audit.model import NOTE
    from prov_common.store import open_store

    meanwhile: list[str] = []
    etag = FakeKey.etag
    monkeypatch.setattr(FakeKey, "etag", property(
        lambda k: '""' if any(f"/{layout.bundle_prefix(run)}" in f"/{k.name}" for run in meanwhile) else etag.fget(k)))
    result, [run], _ = _logged_meanwhile_after_the_listing(base, tmp_path, monkeypatch, then_delete=False, meanwhile=meanwhile)
    assert not result.errors, [(f.check, f.object, f.what) for f in result.errors]
    noted = [f for f in result.check(CHECK_INVENTORY).findings if f.severity == NOTE and "listed with no ETag" in f.what]
    bundle = base.keys(layout.bundle_prefix(run))
    assert [(f.object, sorted(f.items)) for f in noted] == [(base.uri, bundle)], [f.what for f in noted]
    assert noted[0].what.startswith(f"{len(bundle)} objects ({layout.bundle_prefix(run)}") and \
        f") listed with no ETag by {open_store(base.uri).describe()}: each is read as it is when read" in noted[0].what, noted[0].what
