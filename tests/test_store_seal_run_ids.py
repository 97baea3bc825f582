"""``tdprov store seal`` takes run ids as ``show``, ``verify`` and ``prove`` do: the full id or a unique beginning or
ending of 8+ characters, resolved against the runs staged in the store as well as those indexed."""
from __future__ import annotations

from pathlib import Path

import pytest

from bundle_support import run_events
from prov_common.store import Outbox, open_store

FIRST = "0190b7a4-2c1e-7cc1-9a4e-5b2f0e8c1d22"
SECOND = "0190b7a4-2c1e-7cc1-9a4e-00000000a001"  # shares its first 23 characters with FIRST


def _staged_only(tmp_path: Path) -> str:
    """A store holding the staged events of two ended runs and no bundle (kept for a store setting that could not
    be opened, then flushed there); its URI."""
    from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport

    spool = tmp_path / "spool"
    transport = ProvenanceTransport(ProvenanceConfig(store="gs://bucket/x", spool=str(spool)))
    for run_id in (FIRST, SECOND):
        for event in run_events(run_id):
            transport.emit(event)
    transport.close()
    store = open_store(str(tmp_path / "good"))
    assert Outbox(spool).flush(store, take_unopened=True).delivered == 4
    assert not list(store.list("bundles/"))
    return store.uri


def test_seal_takes_a_unique_ending_or_beginning_of_a_staged_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from prov_common.cli import main

    uri = _staged_only(tmp_path)
    assert main(["store", "seal", "--store", uri, FIRST[-12:]]) == 0  # staged only: resolved against staging/
    assert capsys.readouterr().out.startswith(f"written        {FIRST}  index/")
    assert main(["store", "seal", "--store", uri, FIRST[-12:]]) == 0  # sealed now: resolved as before
    assert capsys.readouterr().out.strip() == f"already-sealed {FIRST}"
    assert main(["store", "seal", "--store", uri, SECOND[-9:]]) == 0
    assert f"written        {SECOND}" in capsys.readouterr().out
    assert main(["runs", "--store", uri]) == 0
    listed = capsys.readouterr().out
    assert FIRST in listed and SECOND in listed


def test_seal_says_truthfully_when_a_run_id_names_no_run_or_several(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from prov_common.cli import main

    uri = _staged_only(tmp_path)
    assert main(["store", "seal", "--store", uri, "0190b7a4-2c1e"]) == 2  # begins both
    err = capsys.readouterr().err
    assert "'0190b7a4-2c1e' begins or ends 2 run ids" in err and FIRST in err and SECOND in err, err
    assert main(["store", "seal", "--store", uri, "feedfacefeed"]) == 2
    err = capsys.readouterr().err
    assert f"no staged events or bundle for run id 'feedfacefeed' in {uri}" in err and "nothing is staged" not in err, err
    assert "unique beginning or ending of at least 8 characters" in err
    assert not list(open_store(uri).list("bundles/"))  # nothing sealed by a refused command


def test_seal_says_which_staged_event_it_refused(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    """A staged event cut short was refused into the bundle (refused/, named by the audit) while 'tdprov store seal'
    said only 'written': the person sealing the run was not told it lacks an event. The refusal is said, with where it
    is kept."""
    from prov_common.bundle.staged import unverified_event
    from prov_common.cli import main

    uri = _staged_only(tmp_path)
    store = open_store(uri)
    (key,) = [k for k in store.list(f"staging/{FIRST}/")
              if k.endswith(".json") and unverified_event(store.get(k))["eventType"] == "COMPLETE"]
    (Path(uri) / key).write_bytes(store.get(key)[:40])
    assert main(["store", "seal", "--store", uri, FIRST]) == 0
    assert capsys.readouterr().out.startswith(f"written        {FIRST}  index/")
    assert (f"run {FIRST} is sealed without 1 staged object that was refused (the first: staged event {key}: not a DSSE "
            "envelope (JSONDecodeError") in caplog.text and f"'tdprov show {FIRST}' lists them" in caplog.text, caplog.text
    assert any(k.startswith(f"bundles/{FIRST}/refused/") for k in store.list(f"bundles/{FIRST}/"))
