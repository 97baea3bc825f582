"""Event times are RFC 3339 date-times (the OpenLineage schema's ``date-time`` format), compared as instants: what RFC
3339 allows is taken (a leap second too), what it does not is refused naming the field and the fix, and times at the
ends of the calendar give clear errors."""
from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path

import pytest

from bundle_support import event, run_events
from prov_common.bundle import read_bundle, verify_bundle
from prov_common.bundle.build import derive_bundle, statement_for
from prov_common.bundle.model import Bundle
from prov_common.bundle.storage import deliver_bundle
from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport
from prov_common.cli import main
from prov_common.config import Settings
from prov_common.errors import BadInputError
from prov_common.hashing.raw import blake3_digest
from prov_common.lineage import build_run_event, parse_event
from prov_common.signing import INTOTO_PAYLOAD_TYPE, default_signing_key, sign_envelope, trust_from_settings
from prov_common.store import open_store
from prov_common.store.identity import writer_store_id
from prov_common.w3cprov.collect import since_cursor

RUN = str(uuid.uuid4())
GOOD = event(RUN, "START", "2026-03-01T10:00:00Z")


def _with_time(text: str) -> dict:
    changed = copy.deepcopy(GOOD)
    changed["eventTime"] = text
    return changed


@pytest.mark.parametrize("text", [
    "2026-03-01T10:00:00Z", "2026-03-01T15:30:00+05:30", "2026-03-01T02:00:00-08:00", "2026-03-01t10:00:00z",
    "2026-03-01 10:00:00Z", "2026-03-01T10:00:00.5Z", "2026-03-01T10:00:00.123456789+00:00", "2016-12-31T23:59:60Z",
    "2017-01-01T05:29:60+05:30", "0226-03-01T10:00:00Z",
])
def test_rfc3339_date_times_are_taken(text: str) -> None:
    assert parse_event(_with_time(text))["eventTime"] == text


@pytest.mark.parametrize(("text", "why"), [
    ("2026-03-01T10:00:00", "it has no time zone"),
    ("20260301T100000Z", "not RFC 3339"),
    ("2026-W09-7T10:00:00Z", "not RFC 3339"),
    ("2026-03-01T10Z", "not RFC 3339"),
    ("2026-03-01T10:00:00+05:30:15", "not RFC 3339"),
    ("2026-03-01T24:00:00Z", "no date-time of the calendar"),
    ("2026-03-01T10:59:60Z", "only at 23:59:60 UTC"),
    ("9999-12-31T23:59:59-01:00", "no date-time of the calendar"),
])
def test_other_spellings_are_refused_naming_the_field_and_the_fix(text: str, why: str) -> None:
    with pytest.raises(BadInputError) as caught:
        parse_event(_with_time(text))
    assert "field 'eventTime' must be an RFC 3339 date-time" in caught.value.what and why in caught.value.what, caught.value.what
    assert "RFC 3339 with a time zone" in caught.value.fix


def test_the_python_api_checks_event_time_text_as_it_checks_datetimes() -> None:
    with pytest.raises(BadInputError, match="event_time '2026-03-01T10:00:00' is not an RFC 3339 date-time: it has no time zone") as caught:
        build_run_event("START", run_id=RUN, job_name="j", event_time="2026-03-01T10:00:00")
    assert caught.value.what.startswith("event_time") and "UUID" not in caught.value.fix, caught.value
    with pytest.raises(BadInputError, match="is a leap second, which an openlineage-python RunEvent cannot hold"):
        build_run_event("COMPLETE", run_id=RUN, job_name="j", event_time="2016-12-31T23:59:60Z")
    assert build_run_event("START", run_id=RUN, job_name="j", event_time="2026-03-01 10:00:00+05:30").eventTime == "2026-03-01T10:00:00+05:30"


def test_a_leap_second_seals_the_run_and_keeps_its_text(tmp_path: Path) -> None:
    """A COMPLETE at 23:59:60 was refused (non-strict: the run sealed RUNNING, its outputs lost)."""
    store = tmp_path / "store"
    start, end = run_events()
    start["eventTime"], end["eventTime"] = "2016-12-31T23:59:59.5Z", "2016-12-31T23:59:60Z"
    transport = ProvenanceTransport(ProvenanceConfig(store=str(store), strict=True, timeout=30))
    transport.emit(start)
    transport.emit(end)
    run_id = start["run"]["runId"]
    bundle = read_bundle(open_store(str(store)), run_id)
    lines = [json.loads(line) for line in bundle.files["events.jsonl"].splitlines()]
    assert [(e["eventType"], e["eventTime"]) for e in lines] == [("START", "2016-12-31T23:59:59.5Z"), ("COMPLETE", "2016-12-31T23:59:60Z")]
    assert bundle.manifest.state == "COMPLETE" and bundle.manifest.ended_at.startswith("2016-12-31T23:59:59.999999")
    assert verify_bundle(open_store(str(store)), run_id, trust_from_settings(Settings.from_env())).ok


def test_a_bundle_sealed_with_times_without_offset_still_verifies(tmp_path: Path) -> None:
    """Times without offset were taken before event times had to be RFC 3339: the bundles sealed then still verify."""
    store = open_store(str(tmp_path / "store"))
    events = run_events()
    for e in events:
        e["eventTime"] = e["eventTime"].removesuffix("Z")
    signer = default_signing_key()
    # sealed as the writer did then
    d = derive_bundle(events, None, store_id=writer_store_id(store), sealed=True)
    envelope = sign_envelope(statement_for(d.manifest, blake3_digest(d.manifest_bytes)), INTOTO_PAYLOAD_TYPE, [signer])
    deliver_bundle(store, Bundle(d.state.run_id, d.files, d.manifest, d.manifest_bytes, envelope.to_json(), signer.key_id))
    assert verify_bundle(store, d.state.run_id, trust_from_settings(Settings.from_env())).ok
    assert main(["export", "--store", store.uri, "-o", str(tmp_path / "p.json")]) == 0


def test_since_at_the_ends_of_the_calendar(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """--since near year 1 or 9999 was an 'unexpected OverflowError'; one before year 1000 selected nothing."""
    for text in ("0001-01-01T00:00:00+05:30", "9999-12-31T23:00:00-05:00"):
        with pytest.raises(BadInputError, match="is not a date or date-time of years 1 to 9999"):
            since_cursor(text)
    assert since_cursor("0999-01-01") == "index/0999/01/01/09990101T000000000000Z"
    store = tmp_path / "store"
    transport = ProvenanceTransport(ProvenanceConfig(store=str(store), strict=True, timeout=30))
    for e in run_events():
        transport.emit(e)
    assert main(["export", "--store", str(store), "--since", "0999-01-01", "-o", str(tmp_path / "all.json")]) == 0
    assert start_run_id(store) in (tmp_path / "all.json").read_text()
    assert main(["export", "--store", str(store), "--since", "0001-01-01T00:00:00+05:30", "-o", str(tmp_path / "x.json")]) == 2
    assert "unexpected" not in capsys.readouterr().err


def start_run_id(store: Path) -> str:
    """The run id of the one bundle in ``store``."""
    (run_dir,) = (store / "bundles").iterdir()
    return run_dir.name


def test_prov_and_graph_read_an_event_file_with_times_without_offset_as_utc(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A bundle sealed before event times had to be RFC 3339 may hold times without offset; 'tdprov prov' and 'tdprov
    graph' of its events.jsonl refused the whole file, while show, export, verify and lineage read it."""
    events = run_events()
    events[0]["eventTime"] = "2026-03-01T10:00:00"
    file = tmp_path / "events.jsonl"
    file.write_text("".join(json.dumps(e) + "\n" for e in events))
    assert main(["prov", str(file), "-o", str(tmp_path / "p.json")]) == 0
    err = capsys.readouterr().err
    assert err.count("taken as UTC") == 1 and f"{file} line 1 (START" in err and "line 2" not in err, err
    assert "warning: 1 event has an eventTime without time zone, taken as UTC" in err, err
    assert '"prov:startTime":"2026-03-01T10:00:00+00:00"' in (tmp_path / "p.json").read_text()
    assert main(["graph", str(file), "-o", str(tmp_path / "g.dot")]) == 0
    assert "taken as UTC" in capsys.readouterr().err


def test_the_warning_of_many_times_without_offset_counts_those_it_does_not_name(tmp_path: Path,
                                                                                capsys: pytest.CaptureFixture) -> None:
    """The warning named the first five events whose time has no offset and ended in ``...``, where every other list
    in tdprov's messages counts the rest (``and 2 more``)."""
    events = [run_events()[0] for _ in range(7)]
    for at, item in enumerate(events):
        item["eventTime"] = f"2026-03-01T10:00:0{at}"
    file = tmp_path / "events.jsonl"
    file.write_text("".join(json.dumps(e) + "\n" for e in events))
    assert main(["prov", str(file), "-o", str(tmp_path / "p.json")]) == 0
    err = capsys.readouterr().err
    assert "warning: 7 events have an eventTime without time zone, taken as UTC" in err, err
    assert f"{file} line 5 (START run " in err and "line 6" not in err, err
    assert ", 2026-03-01T10:00:04) and 2 more\n" in err and "..." not in err, err


@pytest.mark.parametrize("text, sealed", [("2026-03-01T10:00:00.250+02:00", False), ("2026-03-01T10:00:00.250+02:00", True),
                                          ("2026-03-01T10:00:00", True)])
def test_checking_an_event_reads_its_time_once(text: str, sealed: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Checking a run event to order and fold it read its ``eventTime`` twice: once as the event was checked, again
    for the time that orders it. It is read once, to the same instant (a time without offset read as UTC in a sealed
    event)."""
    from datetime import datetime, timezone

    import prov_common.lineage.validate as validate
    import prov_common.times as times
    from prov_common.w3cprov.events import check_event

    reads: list[str] = []
    for module in (times, validate):
        real = module.rfc3339
        monkeypatch.setattr(module, "rfc3339", lambda value, _real=real: reads.append(value) or _real(value))
    checked = check_event(0, dict(GOOD, eventTime=text), sealed=sealed)
    assert reads == [text]
    assert checked.time == (datetime(2026, 3, 1, 8, 0, 0, 250000, tzinfo=timezone.utc) if "+" in text
                            else datetime(2026, 3, 1, 10, tzinfo=timezone.utc))
