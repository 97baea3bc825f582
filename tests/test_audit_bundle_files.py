"""Every file a logged bundle's signed manifest lists is in the store inventory: a logged bundle's ``events.jsonl`` or
``prov.json`` rewritten after it was logged (a new ETag on S3; a new modification or change time on a local folder) is
verified again by the default, incremental audit, and is a finding when it no longer verifies, on every audit until it
is restored. An auditor with no memory of the store (a fresh ``TDPROV_HOME``) has nothing of its own to continue from:
its first audit examines every bundle, and finds such a bundle too. Real stores (a local folder and S3 on moto), real
audits, no mocks."""
from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from prov_common.audit import run_audit
from prov_common.audit.memory import load_memory, save_memory
from prov_common.audit.memory_objects import load_inventory, save_inventory
from prov_common.audit.model import CHECK_INVENTORY, CHECK_PROV, CHECK_SIGNATURES, NOTE
from prov_common.bundle import layout
from prov_common.cli import main
from prov_common.config import Settings
from prov_common.signing import auditor_trust_from_settings
from prov_common.store import open_store

from test_audit_support import T0, Pipeline, S3Snapshot, dataset, digest, flip_byte, raw_read, raw_write, run_events, seal, audit as _audit


def _shown(result) -> list[str]:
    return [f"{f.check} {f.object}: {f.what}" for f in result.errors]


def _logged(uri: str) -> tuple[Pipeline, str]:
    """A store with two runs and a third, each logged by an audit of its own: the third is the one tampered with."""
    pipe = Pipeline(uri)
    assert _audit(pipe).clean
    run = seal(pipe.store, run_events("prepare_extra", [dataset(pipe.raw_name, pipe.raw)],
                                      [dataset("/data/extra.parquet", digest("extra"))], start=T0 + timedelta(hours=2)))
    result = _audit(pipe)
    assert result.clean and result.bundles_logged == 1, _shown(result)
    return pipe, run


Logged = tuple[str, Pipeline, str]  # a store's URI, its pipeline and the run tampered with
_S3_LOGGED: dict[str, S3Snapshot[tuple[Pipeline, str]]] = {}  # S3 endpoint -> the store _logged builds, for this test process


@pytest.fixture(params=["local", "s3"])
def logged(request: pytest.FixtureRequest, tmp_path: Path) -> Logged:
    """The store of :func:`_logged` and its pipeline and third run: built on a local folder, and on S3 a copy of the one
    built once (see :class:`S3Snapshot`)."""
    if request.param == "local":
        uri = str(tmp_path / "store")
        return (uri, *_logged(uri))
    server = request.getfixturevalue("s3_server")
    monkeypatch = request.getfixturevalue("monkeypatch")
    server.point(monkeypatch)
    if server.endpoint not in _S3_LOGGED:
        _S3_LOGGED[server.endpoint] = S3Snapshot(server, request.getfixturevalue("tmp_path_factory").mktemp("s3-logged"), _logged)
    snapshot = _S3_LOGGED[server.endpoint]
    pipe, run = snapshot.restore(Path(os.environ["TDPROV_HOME"]))
    return snapshot.uri, pipe.reopened(), run


def _edit_word(uri: str, key: str) -> None:
    """One word changed, at the same size: written anew (a new ETag; locally a new modification and change time)."""
    data = raw_read(uri, key)
    assert b'"COMPLETE"' in data
    raw_write(uri, key, data.replace(b'"COMPLETE"', b'"COMPLEXE"', 1))


@pytest.mark.parametrize("name", [layout.PROV_FILE, layout.EVENTS_FILE])
def test_a_rewritten_bundle_file_is_verified_again_by_the_default_audit_and_stays_found(logged: Logged, name: str) -> None:
    store_uri, pipe, run = logged
    key = layout.bundle_key(run, name)
    _edit_word(store_uri, key)
    for attempt in ("found", "still found"):
        result = _audit(pipe)
        shown = _shown(result)
        assert result.exit_code == 1, (attempt, shown)
        assert [f for f in result.check(CHECK_INVENTORY).errors if f.object == key and f"logged run {run} changed" in f.what], (attempt, shown)
        bundle_check = CHECK_PROV if name == layout.PROV_FILE else CHECK_SIGNATURES
        assert [f for f in result.check(bundle_check).errors if f.object == key and f.run_id == run], (attempt, shown)
        assert result.bundles_examined == 0  # verified again, not examined as new
    assert main(["verify", "--store", store_uri]) == 1  # verify agrees


def test_a_rewrite_in_place_with_the_modification_time_put_back_is_found_by_the_change_time(tmp_path: Path) -> None:
    uri = str(tmp_path / "store")
    pipe, run = _logged(uri)
    path = Path(uri) / layout.bundle_key(run, layout.EVENTS_FILE)
    before = path.stat()
    data = path.read_bytes()
    with open(path, "r+b") as out:
        out.write(data.replace(b'"COMPLETE"', b'"COMPLEXE"', 1))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns, path.stat().st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)
    result = _audit(pipe)
    assert result.exit_code == 1 and [f for f in result.check(CHECK_SIGNATURES).errors if f.run_id == run], _shown(result)


def test_a_flipped_byte_in_a_file_of_a_logged_bundle_is_found(logged: Logged) -> None:
    store_uri, pipe, run = logged
    flip_byte(store_uri, layout.bundle_key(run, layout.PROV_FILE))
    result = _audit(pipe)
    assert result.exit_code == 1 and [f for f in result.check(CHECK_PROV).errors if f.run_id == run], _shown(result)


def test_a_file_rewritten_with_its_own_bytes_verifies_again_and_its_new_fingerprint_is_taken(logged: Logged) -> None:
    """Restored from a backup (the same bytes; locally a new change time): verified again, a note, then clean."""
    store_uri, pipe, run = logged
    key = layout.bundle_key(run, layout.PROV_FILE)
    _edit_word(store_uri, key)
    assert _audit(pipe).exit_code == 1
    original = raw_read(store_uri, key).replace(b'"COMPLEXE"', b'"COMPLETE"', 1)
    raw_write(store_uri, key, original)
    restored = _audit(pipe)
    assert restored.clean, _shown(restored)
    notes = [f for f in restored.check(CHECK_INVENTORY).findings if f.object == key and f.severity == NOTE]
    if not store_uri.startswith("s3://"):  # on S3 the same bytes have the same ETag: nothing changed to note
        assert notes and "verified again" in notes[0].what, [f.what for f in restored.findings]
    after = _audit(pipe)
    assert after.clean and not after.findings, [f.what for f in after.findings]


def test_an_inventory_from_before_bundle_files_were_tracked_records_them_on_the_first_audit(logged: Logged) -> None:
    """The auditor's inventory as an earlier tdprov wrote it (each logged run's manifest, statement and indexed record only):
    the first audit after the upgrade records the other files' fingerprints as listed; from then on a rewrite is found."""
    store_uri, pipe, run = logged
    settings = Settings.from_env(store=store_uri)
    memory = load_memory(pipe.store.uri)
    assert not load_inventory(memory, pipe.store, auditor_trust_from_settings(settings))
    kept = tuple("/" + name for name in (layout.MANIFEST_FILE, layout.STATEMENT_FILE, layout.INDEXED_FILE))
    older = {k: t for k, t in memory.tags.items() if not k.startswith(layout.BUNDLES + "/") or k.endswith(kept)}
    assert layout.bundle_key(run, layout.PROV_FILE) in memory.tags and len(older) < len(memory.tags)
    memory.tags = older
    from datetime import datetime, timezone

    from prov_common.signing import signing_key_from_settings

    save_inventory(memory, pipe.store, signing_key_from_settings(settings), now=datetime.now(timezone.utc), audit_id="0ld1nv3n")
    save_memory(memory)
    upgraded = _audit(pipe)
    assert upgraded.clean and not upgraded.findings, _shown(upgraded)
    assert "recorded now" in upgraded.check(CHECK_INVENTORY).detail, upgraded.check(CHECK_INVENTORY).detail
    again = load_memory(pipe.store.uri)
    load_inventory(again, pipe.store, auditor_trust_from_settings(settings))
    assert layout.bundle_key(run, layout.PROV_FILE) in again.tags
    _edit_word(store_uri, layout.bundle_key(run, layout.PROV_FILE))
    found = _audit(pipe)
    assert found.exit_code == 1 and [f for f in found.check(CHECK_PROV).errors if f.run_id == run], _shown(found)


def test_a_memory_of_the_older_inline_format_still_reads(tmp_path: Path) -> None:
    """A memory file that holds the inventory itself (what a read-only audit keeps), without bundle files: read, and
    the files recorded."""
    uri = str(tmp_path / "store")
    pipe, run = _logged(uri)
    settings = Settings.from_env(store=uri)
    memory = load_memory(pipe.store.uri)
    load_inventory(memory, pipe.store, auditor_trust_from_settings(settings))
    memory.tags = {k: t for k, t in memory.tags.items() if not k.endswith(("/" + layout.PROV_FILE, "/" + layout.EVENTS_FILE))}
    memory.inventory, memory.inline = [], True
    save_memory(memory)
    assert _audit(pipe).clean
    _edit_word(uri, layout.bundle_key(run, layout.EVENTS_FILE))
    assert _audit(pipe).exit_code == 1


# --- an auditor with no memory of the store ------------------------------------------------------------------------

def test_an_auditor_with_no_memory_examines_every_bundle_on_its_first_audit(logged: Logged, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """The team audits; a logged bundle's events are edited; an outside auditor (its own TDPROV_HOME, the team's public
    key) audits read-only: it does not continue from the team's signed state, it examines every bundle and finds it."""
    from prov_common.signing.keyfiles import default_key_path, public_path_for

    team_home = Path(os.environ["TDPROV_HOME"])
    store_uri, pipe, run = logged
    _edit_word(store_uri, layout.bundle_key(run, layout.EVENTS_FILE))
    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "outside-auditor"))
    monkeypatch.setenv("TDPROV_TRUSTED_KEYS", str(public_path_for(default_key_path(team_home))))
    code = main(["audit", "--store", store_uri, "--read-only", "--report", str(tmp_path / "acme")])
    out = capsys.readouterr().out
    assert code == 1, out
    assert out.startswith("First audit of this store by this auditor (none remembered): every bundle was examined now (3)"), out
    assert "fail  Signatures and manifests (3 checked)" in out, out
    assert load_memory(store_uri).checkpoint is not None
    # its next audit continues from its own memory: the bundle that did not verify is verified again, and found again
    assert main(["audit", "--store", store_uri, "--read-only", "--report", str(tmp_path / "acme-2")]) == 1
    out = capsys.readouterr().out
    assert out.startswith("Incremental audit: 0 bundles new") and "fail  Signatures and manifests" in out, out


def test_a_fresh_auditor_of_a_clean_store_is_clean_and_its_next_audit_is_incremental(tmp_path: Path,
                                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from prov_common.signing.keyfiles import default_key_path, public_path_for

    uri = str(tmp_path / "store")
    team_home = Path(os.environ["TDPROV_HOME"])
    _logged(uri)
    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "ci-runner"))
    monkeypatch.setenv("TDPROV_TRUSTED_KEYS", str(public_path_for(default_key_path(team_home))))
    first = run_audit(open_store(uri), Settings.from_env(store=uri), progress=False, read_only=True, report_dir=tmp_path / "r1")
    assert first.clean and first.first_audit and first.full and first.bundles_examined == 3, (first.bundles_examined, _shown(first))
    second = run_audit(open_store(uri), Settings.from_env(store=uri), progress=False, read_only=True, report_dir=tmp_path / "r2")
    assert second.clean and not second.first_audit and not second.full and second.bundles_examined == 0, _shown(second)


def test_the_inventory_counts_one_logged_run_as_one(tmp_path: Path) -> None:
    """The inventory's detail says '1 logged run expected'; it said '1 logged runs expected'."""
    store = open_store(str(tmp_path / "store"))
    seal(store, run_events("prepare", [], [dataset("/data/f.parquet", digest("f"))]))
    detail = _audit(store).check(CHECK_INVENTORY).detail
    assert detail.endswith(" listing requests; 1 logged run expected"), detail
