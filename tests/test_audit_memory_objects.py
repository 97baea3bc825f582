"""The auditor's inventory lives in signed objects of the store, pinned by digest in the small memory file:
deleting or changing one is a finding on every audit until the recorded resolution; a memory file of the
older inline format is moved to objects on its next audit, keeping what it expected. The memory file keeps the run ids of
the newest leaves itself, so a rollback of the whole store, these objects with it, still names the runs lost."""
from __future__ import annotations

import json
import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from prov_common.audit import memory
from prov_common.audit.inventory import WRITTEN
from prov_common.audit.memory import load_memory, memory_path
from prov_common.audit.memory_objects import load_inventory
from prov_common.audit.model import CHECK_INVENTORY, CHECK_LOG
from prov_common.signing import default_signing_key, trust_from_settings, write_keypair
from prov_common.signing.keyfiles import default_key_path, public_path_for

from test_audit_attacks import Store, _audit, base_fixture, delete_logged_bundle  # noqa: F401 (base_fixture: the fixture 'base')
from test_audit_support import T0, Pipeline, dataset, digest, raw_delete, raw_read, raw_write, run_events, seal


def _pins(s: Store) -> list[dict]:
    return json.loads(memory_path(s.pipe.store.uri).read_text())["inventory"]


def test_a_deleted_or_changed_inventory_object_stays_a_finding(base: Store) -> None:
    s = base
    pins = _pins(s)
    assert pins and all(p["key"].startswith("audit/auditor-inventory/") for p in pins)
    raw_write(s.uri, pins[-1]["key"], raw_read(s.uri, pins[-1]["key"]) + b" ")
    raw_delete(s.uri, pins[0]["key"])
    for attempt in ("found", "still found"):
        result = _audit(s.pipe)
        said = [f.what for f in result.check(CHECK_LOG).errors if "inventory object cannot be used" in f.what]
        assert result.exit_code == 1 and len(said) == 2, (attempt, [f.what for f in result.errors])
    accepted = _audit(s.pipe, accept_checkpoint="inventory objects lost with the 2026-05-02 restore")
    assert not [f for f in accepted.check(CHECK_LOG).errors if "inventory object" in f.what]
    assert _audit(s.pipe).clean


def test_an_inline_memory_moves_to_objects_and_keeps_what_it_expected(base: Store) -> None:
    s = base
    path = memory_path(s.pipe.store.uri)
    memory = load_memory(s.pipe.store.uri)
    assert not load_inventory(memory, s.pipe.store, trust_from_settings())
    older = json.loads(path.read_text())
    older.update(format="https://tdprov.dev/auditor-memory/v1", runs=memory.runs, tags=memory.tags)
    del older["inventory"]
    path.write_text(json.dumps(older))
    delete_logged_bundle(s)  # found from the expectations the older file held
    result = _audit(s.pipe)
    assert [f for f in result.check(CHECK_INVENTORY).errors if f"the bundle of logged run {s.extra} is gone" in f.what]
    now = json.loads(path.read_text())
    assert "runs" not in now and "tags" not in now and len(now["inventory"]) == 1
    moved = load_memory(s.pipe.store.uri)
    assert not load_inventory(moved, s.pipe.store, trust_from_settings()) and moved.runs == memory.runs


def test_local_fingerprints_remembered_before_the_change_time_are_refreshed_then_catch_an_edit(tmp_path) -> None:
    """A memory written before local fingerprints held the change time (``size:mtime-inode``) is not a
    wall of 'changed' findings: the audit takes the listed fingerprints that extend them. From then on an
    in-place edit that restores the modification time is found."""
    from test_audit_attacks import edit_index_state_in_place_keeping_its_times

    s = Store(str(tmp_path / "store"))
    path = memory_path(s.pipe.store.uri)
    memory = load_memory(s.pipe.store.uri)
    assert not load_inventory(memory, s.pipe.store, trust_from_settings())
    listed = {k: v for k, v in memory.tags.items() if v and not v.startswith(WRITTEN)}  # not the lookups the last audit wrote
    assert listed and all(v.count("-") == 2 for v in listed.values())  # size:mtime-inode-ctime
    older = json.loads(path.read_text())
    older.update(format="https://tdprov.dev/auditor-memory/v1", runs=memory.runs,
                 tags={k: v.rsplit("-", 1)[0] if v else v for k, v in memory.tags.items()})
    del older["inventory"]
    path.write_text(json.dumps(older))
    assert _audit(s.pipe).clean
    refreshed = load_memory(s.pipe.store.uri)
    assert not load_inventory(refreshed, s.pipe.store, trust_from_settings())
    assert {k: refreshed.tags[k] for k in listed} == listed
    _, check, words = edit_index_state_in_place_keeping_its_times(s)
    assert [f for f in _audit(s.pipe).check(check).errors if words in f.what]


def test_a_damaged_memory_file_is_one_line_naming_it(tmp_path, capsys) -> None:
    """Whatever JSON replaced the auditor's memory (a list, a string, wrong types), the audit stops with
    one line naming the file and the fix, exit 2, and leaves the file as it found it."""
    from prov_common.cli import main

    s = Store(str(tmp_path / "store"))
    path = memory_path(s.pipe.store.uri)
    for damaged in ("[]", '"str"', "7", '{"store": ["x"], "checkpoint": 5}', "{not json"):
        path.write_text(damaged)
        capsys.readouterr()
        assert main(["audit", "--quiet", "--store", s.pipe.store.uri]) == 2, damaged
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and f"auditor memory '{path}'" in err and "restore it from a backup" in err, (damaged, err)
        assert "unexpected" not in err and path.read_text() == damaged


def _roll_back_whole_store(tmp_path, count: int) -> tuple[Pipeline, list[str]]:
    """A local store audited, copied aside, ``count`` runs recorded and audited, then every object put back as copied:
    the inventory segment of the second audit goes back with the log. The run ids recorded after the copy."""
    uri = str(tmp_path / "store")
    pipe = Pipeline(uri)
    assert _audit(pipe).clean
    shutil.copytree(uri, tmp_path / "copy")
    later = [seal(pipe.store, run_events(f"late_{i}", [dataset(pipe.raw_name, pipe.raw)],
                                         [dataset(f"/data/late{i}.parquet", digest(f"late{i}"))], start=T0 + timedelta(hours=2 + i)))
             for i in range(count)]
    assert _audit(pipe).checkpoint.checkpoint.size == 2 + count
    shutil.rmtree(uri)
    shutil.copytree(tmp_path / "copy", uri)
    return pipe, later


def _rolled_back(result) -> list:
    return [f for f in result.check(CHECK_LOG).errors if "the log was rolled back" in f.what]


def test_a_whole_store_rolled_back_names_the_runs_its_log_lost(tmp_path) -> None:
    """The run ids of the newest leaves are kept in the memory file, outside the store: the rollback finding names the runs
    recorded after the copy, on every audit until a person accepts the loss, and the signed resolution keeps their names."""
    pipe, later = _roll_back_whole_store(tmp_path, 2)
    for attempt in ("found", "still found"):
        result = _audit(pipe)
        said = _rolled_back(result)
        assert len(said) == 1 and said[0].object == "log/checkpoints/000000000002.json", (attempt, [f.what for f in result.errors])
        assert said[0].what.endswith(f"it no longer holds the leaves of 2 runs logged after leaf 2: {later[0]}, {later[1]}"), said[0].what
        assert said[0].fix.startswith("restore the store (its log/ and audit/, and the bundles and index entries of the runs named) from a "
                                      "backup or replica taken after checkpoint 4"), said[0].fix
    accepted = _audit(pipe, accept_checkpoint="restored from the copy of the first audit")
    assert any(later[1] in f["what"] for f in accepted.resolution["closed"]), accepted.resolution["closed"]
    assert load_memory(pipe.store.uri).newest_runs == [pipe.prepare, pipe.train]  # re-taken from the log as it is


def test_a_rollback_beyond_the_runs_remembered_says_how_many_it_lost(tmp_path, monkeypatch) -> None:
    """The memory keeps the run ids of at most NEWEST_RUNS leaves: a log cut back further names how many it lost and the
    newest it knows."""
    monkeypatch.setattr(memory, "NEWEST_RUNS", 2)
    pipe, later = _roll_back_whole_store(tmp_path, 3)
    assert load_memory(pipe.store.uri).newest_runs == later[1:]
    said = _rolled_back(_audit(pipe))
    assert len(said) == 1 and said[0].what.endswith(
        f"it no longer holds the leaves of 3 runs logged after leaf 2, of which this auditor's memory names the newest 2: "
        f"{later[1]}, {later[2]}"), said


def _rolled_back_then_logged_by_another(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, new_runs: int) -> tuple[Pipeline, list[str]]:
    """A store rolled back by two runs (``_roll_back_whole_store``), then ``new_runs`` runs logged by a second auditor
    with no memory of it (its own home and key); the first auditor's home is set again."""
    home = tmp_path / "home-a"
    monkeypatch.setenv("TDPROV_HOME", str(home))
    writer = default_signing_key()  # the first auditor's key signs the runs too
    write_keypair(tmp_path / "b.key")
    monkeypatch.setenv("TDPROV_TRUSTED_KEYS", str(public_path_for(default_key_path())))
    monkeypatch.setenv("TDPROV_AUDITOR_KEYS", os.pathsep.join([str(public_path_for(default_key_path())), str(tmp_path / "b.key.pub")]))
    pipe, later = _roll_back_whole_store(tmp_path, 2)
    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "home-b"))
    monkeypatch.setenv("TDPROV_SIGNING_KEY", str(tmp_path / "b.key"))
    for i in range(new_runs):
        seal(pipe.store, run_events(f"new_{i}", [dataset(pipe.raw_name, pipe.raw)], [dataset(f"/data/new{i}.parquet", digest(f"new{i}"))],
                                    start=T0 + timedelta(hours=5 + i)), writer)
    assert _audit(pipe).checkpoint.checkpoint.size == 2 + new_runs
    monkeypatch.setenv("TDPROV_HOME", str(home))
    monkeypatch.delenv("TDPROV_SIGNING_KEY")
    return pipe, later


def test_a_whole_store_rolled_back_and_extended_by_another_auditor_names_the_runs_its_log_lost(tmp_path, monkeypatch) -> None:
    """After the rollback a second auditor, with no memory of the store, logs two new runs: the log is as long as before,
    and its checkpoint of that size is another. The first auditor names the runs that the log no longer holds."""
    pipe, later = _rolled_back_then_logged_by_another(tmp_path, monkeypatch, 2)
    for attempt in ("found", "still found"):
        said = [f for f in _audit(pipe).check(CHECK_LOG).errors if f.object == "log/checkpoints/000000000004.json"]
        assert len(said) == 1 and "checkpoint 4 is not the one this auditor verified" in said[0].what, (attempt, said)
        assert said[0].what.endswith(f"; of the 4 runs logged as leaves 1 to 4, the log no longer holds 2: {later[0]}, {later[1]}"), said
        assert said[0].fix.startswith("restore the store (its log/ and audit/, and the bundles and index entries of the runs named)"), said


def test_a_whole_store_rolled_back_and_extended_short_of_its_size_names_every_run_its_log_lost(tmp_path, monkeypatch) -> None:
    """After the rollback a second auditor logs one new run: the log has 3 leaves where the first auditor verified 4. Leaf 3
    is now that run, so both runs recorded after the copy are lost, not only the one past the log's end."""
    pipe, later = _rolled_back_then_logged_by_another(tmp_path, monkeypatch, 1)
    said = _rolled_back(_audit(pipe))
    assert len(said) == 1 and said[0].what.endswith(
        f"; of the 4 runs logged as leaves 1 to 4, the log no longer holds 2: {later[0]}, {later[1]}"), said


def test_an_inventory_object_larger_than_a_small_object_is_read_whole_only_as_pinned(base: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inventory objects are read no further than layout.SMALL_OBJECT_LIMIT (lowered here to 64 bytes), unless they hash,
    read in ranged parts, to the digest this auditor pinned (a large store's summary may pass the bound): one grown past
    it is named larger than the bound, never read whole."""
    from prov_common.bundle import layout

    s = base
    monkeypatch.setattr(layout, "SMALL_OBJECT_LIMIT", 64)
    pins = _pins(s)
    memory = load_memory(s.pipe.store.uri)
    found = load_inventory(memory, s.pipe.store, trust_from_settings())
    assert not found and memory.runs, [p.what for p in found]  # larger than 64 bytes, as pinned
    raw_write(s.uri, pins[0]["key"], raw_read(s.uri, pins[0]["key"]) + b" " * 100)
    problems = load_inventory(load_memory(s.pipe.store.uri), s.pipe.store, trust_from_settings())
    assert [p.object for p in problems] == [pins[0]["key"]], problems
    assert f"object '{pins[0]['key']}' in {s.pipe.store.describe()} is larger than 64 bytes" in problems[0].what, problems[0].what
