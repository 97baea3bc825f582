"""The auditor's inventory lives in signed objects of the store, pinned by digest in the small memory file:
deleting or changing one is a finding on every audit until the recorded resolution; a memory file of the
older inline format is moved to objects on its next audit, keeping what it expected."""
from __future__ import annotations

import json

from prov_common.audit.inventory import WRITTEN
from prov_common.audit.memory import load_memory, memory_path
from prov_common.audit.memory_objects import load_inventory
from prov_common.audit.model import CHECK_INVENTORY, CHECK_LOG
from prov_common.signing import trust_from_settings

from test_audit_attacks import Store, _audit, base_fixture, delete_logged_bundle  # noqa: F401 (base_fixture: the fixture 'base')
from test_audit_support import raw_delete, raw_read, raw_write


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
