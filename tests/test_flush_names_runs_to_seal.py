"""``tdprov flush --store URI`` of events kept for a store setting that could not be opened: the runs they complete
are staged only, and the flush names each with the ``tdprov store seal`` command that makes it a bundle."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bundle_support import run_events
from prov_common.store import open_store


def test_flush_names_each_completed_run_it_left_staged_only_with_its_seal_command(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport
    from prov_common.cli import main

    spool = tmp_path / "spool"
    transport = ProvenanceTransport(ProvenanceConfig(store="gs://bucket/x", spool=str(spool)))
    done = run_events()
    running = run_events()[:1]  # START only: still running, not to be sealed yet
    for event in done + running:
        transport.emit(event)
    transport.close()
    done_id, running_id = done[0]["run"]["runId"], running[0]["run"]["runId"]
    good = tmp_path / "good"
    assert main(["store", "init", str(good)]) == 0
    store_uri = open_store(str(good)).uri
    capsys.readouterr()

    monkeypatch.setenv("TDPROV_SPOOL", str(spool))
    assert main(["flush", "--store", str(good)]) == 0
    out = capsys.readouterr().out
    assert "0 left in" in out
    assert f"run {done_id}: staged only, no bundle; seal it with 'tdprov store seal --store {store_uri} {done_id}'" in out, out
    assert running_id not in out

    assert main(["store", "seal", "--store", store_uri, done_id]) == 0
    assert main(["runs", "--store", store_uri]) == 0
    assert done_id in capsys.readouterr().out
    assert main(["flush", "--store", str(good)]) == 0  # nothing spooled is left: nothing to name
    assert "staged only" not in capsys.readouterr().out


def test_flush_names_the_runs_it_delivered_to_the_store_given_in_place_of_one_that_cannot_be_opened(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """Events spooled in an outage of a store that cannot be opened any more (its path is now a file) are delivered by
    ``tdprov flush --store URI`` to that store; the runs they complete were left unnamed (the seal lines were worked out
    apart from the flush, and only for entries held for a setting that could not be opened)."""
    from prov_common.bundle.transport import staged_event_key
    from prov_common.cli import main
    from prov_common.store import spool

    spool_dir, gone = tmp_path / "spool", tmp_path / "a-file"
    gone.write_text("not a store")
    done = run_events()
    spool.write_entry(spool_dir, spool.SpoolEntry(str(gone), tuple((staged_event_key(e), _signed(e)) for e in done)))
    good = open_store(tmp_path / "good")
    monkeypatch.setenv("TDPROV_SPOOL", str(spool_dir))
    assert main(["flush", "--store", good.uri]) == 0
    out = capsys.readouterr().out
    assert "delivered 1 spooled entry (2 objects, 2 new); 0 left" in out, out
    run_id = done[0]["run"]["runId"]
    assert f"run {run_id}: staged only, no bundle; seal it with 'tdprov store seal --store {good.uri} {run_id}'" in out, out


def test_flush_counts_one_object_as_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """An entry of one staged event is '(1 object, 1 new)'; it read '(1 objects, 1 new)'."""
    from prov_common.bundle.transport import staged_event_key
    from prov_common.canonical_json import canonical_bytes
    from prov_common.cli import main
    from prov_common.store import spool

    spool_dir, store = tmp_path / "spool", open_store(tmp_path / "store")
    start = run_events()[0]  # a START: a run in progress, staged
    spool.write_entry(spool_dir, spool.SpoolEntry(store.uri, ((staged_event_key(start), canonical_bytes(start)),)))
    monkeypatch.setenv("TDPROV_SPOOL", str(spool_dir))
    assert main(["flush", "--store", store.uri]) == 0
    out = capsys.readouterr().out
    assert "delivered 1 spooled entry (1 object, 1 new); 0 left" in out, out


def test_flush_does_not_name_a_run_whose_only_end_is_a_complete_planted_unsigned(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """A run's signed START delivered by a flush, its newest staged event a COMPLETE someone with the store's credentials
    alone put there unsigned: the flush read that event unverified and said to seal the run with 'tdprov store seal',
    which refuses it without --force (the run may still be running). The flush reads it through the seal's trust."""
    from prov_common.bundle.transport import staged_event_key
    from prov_common.canonical_json import canonical_bytes
    from prov_common.cli import main
    from prov_common.store import spool
    from prov_common.w3cprov.identity import iso_z

    spool_dir, store = tmp_path / "spool", open_store(tmp_path / "store")
    now = datetime.now(timezone.utc)  # a run of a moment ago: one with no end may still be running
    start, complete = (dict(e, eventTime=iso_z(now + timedelta(seconds=i))) for i, e in enumerate(run_events()))
    run_id = start["run"]["runId"]
    store.put(staged_event_key(complete), canonical_bytes(complete))  # planted, unsigned
    spool.write_entry(spool_dir, spool.SpoolEntry(store.uri, ((staged_event_key(start), _signed(start)),)))
    monkeypatch.setenv("TDPROV_SPOOL", str(spool_dir))
    assert main(["flush", "--store", store.uri]) == 0
    out = capsys.readouterr().out
    assert "delivered 1 spooled entry (1 object, 1 new); 0 left" in out and run_id not in out, out
    assert main(["store", "seal", "--store", store.uri, run_id]) == 2  # what the flush would have sent the user to
    assert f"run {run_id} may still be running" in capsys.readouterr().err
    signed_end = dict(complete, eventTime=iso_z(now + timedelta(seconds=2)))  # the run's own end, signed, arrives: it is named
    spool.write_entry(spool_dir, spool.SpoolEntry(store.uri, ((staged_event_key(signed_end), _signed(signed_end)),)))
    assert main(["flush", "--store", store.uri]) == 0
    assert f"run {run_id}: staged only, no bundle; seal it with 'tdprov store seal --store {store.uri} {run_id}'" in (
        capsys.readouterr().out)


def _signed(event: dict) -> bytes:
    """``event`` staged as a writer stages it: signed with this process's key."""
    from prov_common.bundle.staged import signed_event
    from prov_common.canonical_json import canonical_bytes
    from prov_common.signing import signing_key_from_settings

    return signed_event(canonical_bytes(event), signing_key_from_settings())


def test_flush_reads_the_seals_trust_once_and_makes_no_signing_key_to_name_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """A flush on a machine with no signing key of its own delivers two runs another writer staged and signed, with
    that writer's key trusted in TDPROV_HOME/trusted_keys/: it names both with their seal command, reading the trusted
    keys once (it read them again for each run), and leaves TDPROV_HOME without a signing key (it made one just to
    name the runs)."""
    from prov_common.bundle.staged import signed_event
    from prov_common.bundle.transport import staged_event_key
    from prov_common.canonical_json import canonical_bytes
    from prov_common.cli import main
    from prov_common.config import default_home
    from prov_common.signing import SigningKey, keyfiles, write_keypair
    from prov_common.store import spool

    writer = tmp_path / "writer.key"
    write_keypair(writer, SigningKey.generate())
    (default_home() / keyfiles.TRUSTED_DIR).mkdir(parents=True)
    (default_home() / keyfiles.TRUSTED_DIR / "writer.pub").write_bytes(keyfiles.public_path_for(writer).read_bytes())
    signer = keyfiles.load_signing_key(writer)
    spool_dir, store = tmp_path / "spool", open_store(tmp_path / "store")
    runs = [run_events(), run_events()]
    spool.write_entry(spool_dir, spool.SpoolEntry(store.uri, tuple(
        (staged_event_key(e), signed_event(canonical_bytes(e), signer)) for events in runs for e in events)))
    reads = []
    trusted = keyfiles._trusted
    monkeypatch.setattr(keyfiles, "_trusted", lambda *a: reads.append(a) or trusted(*a))
    monkeypatch.setenv("TDPROV_SPOOL", str(spool_dir))
    assert main(["flush", "--store", store.uri]) == 0
    out = capsys.readouterr().out
    for events in runs:
        run_id = events[0]["run"]["runId"]
        assert f"run {run_id}: staged only, no bundle; seal it with 'tdprov store seal --store {store.uri} {run_id}'" in out
    assert sorted(p.name for p in default_home().iterdir()) == [keyfiles.TRUSTED_DIR]
    assert len(reads) == 1
