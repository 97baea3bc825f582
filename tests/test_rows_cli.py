"""``tdprov snapshot PATH --dataset``, and ``checkout``/``contains`` given a dataset name, on a version
made by a real Dagster ``materialize``."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from dagster import DagsterInstance, materialize

from prov_common.cli import main
from prov_common.store import open_store
from prov_dagster import ProvenanceIOManager, provenance_asset

from rows_support import contains_cli, verifier_script

FRAME = pd.DataFrame({"id": range(2_000), "name": [f"n{i}" for i in range(2_000)]})


@provenance_asset(granularity="row")
def orders() -> pd.DataFrame:
    return FRAME


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[str, str, Path]:
    """(store, version digest, data file) of one materialisation, without snapshots."""
    store = str(tmp_path / "store")
    with DagsterInstance.ephemeral() as instance:
        result = materialize([orders], instance=instance, resources={"io_manager": ProvenanceIOManager(store=store)})
    assert result.success
    digest = str(result.get_asset_materialization_events()[0].materialization.metadata["tdprov/digest"].value)
    return store, digest, tmp_path / "store-data" / "orders.parquet"


def _snapshot(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, list[dict[str, Any]], str]:
    code = main(["snapshot", *args])
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


def test_snapshot_verb_then_checkout_by_dataset_name(recorded: tuple[str, str, Path], capsys: pytest.CaptureFixture) -> None:
    store, digest, data = recorded
    assert not any(open_store(store).list("objects/"))  # snapshots were off
    code, lines, _ = _snapshot(capsys, str(data), "--dataset", str(data), "--store", store)
    assert code == 0 and lines[0]["digest"] == digest and lines[0]["recorded"] is True and len(lines[0]["runs"]) == 1
    objects = sorted(open_store(store).list("objects/"))
    assert len(objects) == 2  # the bytes and the index from the table digest to them
    assert _snapshot(capsys, str(data), "--store", store)[0] == 0 and sorted(open_store(store).list("objects/")) == objects

    original = data.read_bytes()
    data.unlink()
    assert main(["checkout", str(data), "-o", str(data), "--store", store]) == 0  # the dataset, by its location
    assert data.read_bytes() == original and capsys.readouterr().out.startswith(f"restored {digest} to ")
    code, answer, _ = contains_cli(str(data), {"id": 5, "name": "n5"}, store, capsys)
    assert code == 0 and answer["digest"] == digest and answer["contained"]


def test_snapshot_of_another_file_is_not_a_recorded_version(recorded: tuple[str, str, Path], tmp_path: Path,
                                                             capsys: pytest.CaptureFixture) -> None:
    store, digest, data = recorded
    other = tmp_path / "other.parquet"
    FRAME.head(5).to_parquet(other)
    code, lines, _ = _snapshot(capsys, str(other), "--dataset", str(data), "--store", store)
    assert code == 1 and lines[0]["recorded"] is False and lines[0]["digest"] != digest
    code, lines, err = _snapshot(capsys, str(tmp_path / "missing.parquet"), "--store", store)
    assert code == 2 and not lines and len(err.strip().splitlines()) == 1 and "missing.parquet" in err
    assert main(["checkout", "no-such-dataset", "-o", str(tmp_path / "x"), "--store", store]) == 2
    assert "no dataset or version 'no-such-dataset'" in capsys.readouterr().err
    code, lines, err = _snapshot(capsys, str(other), "--dataset", str(data) + "x", "--store", store)  # a typo in --dataset
    assert code == 2 and not lines and f"no recorded run names a dataset '{data}x'" in err, err


def test_snapshot_and_checkout_exit_1_when_a_run_is_left_out(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The run that wrote the version is left out (its events altered after sealing) while a reader still vouches for
    the digest: 'snapshot --dataset' said "recorded" and exited 0, and 'checkout DATASET' restored the version its
    newest verified run names and exited 0, where 'lineage' and 'record' exit 1 in the same case (a run left out is a
    finding). Both still do their work, name the run left out, and exit 1."""
    from bundle_support import raw_put
    from prov_common.hashing.files import hash_path
    from test_audit_support import T0, dataset, run_events, seal

    uri = str(tmp_path / "store")
    store = open_store(uri)
    data = tmp_path / "clean.csv"
    data.write_text("a,b\n1,x\n2,y\n")
    version = hash_path(data).digest
    made = seal(store, run_events("prepare", [], [dataset(str(data), version)]))
    seal(store, run_events("train", [dataset(str(data), version)], [dataset("/m/model", None)], start=T0 + dt.timedelta(hours=1)))
    assert _snapshot(capsys, str(data), "--dataset", str(data), "--store", uri)[0] == 0  # every run verifies
    events = Path(uri, "bundles", made, "events.jsonl")
    raw_put(uri, f"bundles/{made}/events.jsonl", events.read_bytes() + b" ")
    code, lines, err = _snapshot(capsys, str(data), "--dataset", str(data), "--store", uri)
    assert lines[0]["recorded"] is True and len(lines[0]["runs"]) == 1  # the reader vouches for the digest
    assert code == 1 and f"tdprov snapshot: left out run {made}: its bundle does not verify (" in err, (code, err)
    data.unlink()
    assert main(["checkout", str(data), "-o", str(data), "--store", uri]) == 1
    out, err = capsys.readouterr()
    assert out.startswith(f"restored {version} to ") and data.read_text() == "a,b\n1,x\n2,y\n"
    assert f"tdprov checkout: left out run {made}: its bundle does not verify (" in err, err


def test_a_version_of_several_files_checks_out_into_a_folder(store_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Checkout is generic over a list of files (shards): each is restored byte for byte, or none is."""
    from prov_common.hashing import hash_shards
    from prov_common.store.snapshots import snapshot_files

    shards = tmp_path / "shards"
    (shards / "part=1").mkdir(parents=True)
    FRAME.head(10).to_parquet(shards / "part-0.parquet")
    FRAME.tail(10).to_parquet(shards / "part=1" / "part-1.parquet")
    (shards / "part=1" / "same.parquet").write_bytes((shards / "part-0.parquet").read_bytes())
    originals = {p.relative_to(shards).as_posix(): p.read_bytes() for p in shards.rglob("*") if p.is_file()}
    version = hash_shards(str(shards), cache=False, scheduler="none").digest  # the digest lineage records for the version
    store = open_store(store_uri)
    kept = snapshot_files(store, version, shards)
    assert [f[0] for f in kept.files] == sorted(originals)
    assert len([k for k in store.list("objects/blake3/")]) == 2  # the identical shard is stored once

    restored = tmp_path / "restored"
    assert main(["checkout", version, "-o", str(restored), "--store", store_uri]) == 0
    assert {p.relative_to(restored).as_posix(): p.read_bytes() for p in restored.rglob("*") if p.is_file()} == originals
    capsys.readouterr()
    (restored / "part-0.parquet").write_bytes(b"changed")
    assert main(["checkout", version, "-o", str(restored), "--store", store_uri]) == 2  # nothing replaced without --force
    assert (restored / "part-0.parquet").read_bytes() == b"changed"
    assert main(["checkout", version, "-o", str(restored), "--force", "--store", store_uri]) == 0
    assert (restored / "part-0.parquet").read_bytes() == originals["part-0.parquet"]


def test_contains_answers_a_person_in_a_few_lines_and_writes_the_proof_to_a_file(recorded: tuple[str, str, Path], tmp_path: Path,
                                                                                 capsys: pytest.CaptureFixture) -> None:
    """The text answer printed every digest of the proof's bucket (hundreds of lines for a few thousand rows); it is
    the answer, the version, the proof's size and that it verified, and the runs. --proof FILE writes the proof, which
    the check in docs/verification.md verifies; --json keeps the whole answer."""
    store, digest, data = recorded
    assert main(["contains", str(data), "--record", json.dumps({"id": 5, "name": "n5"}), "--store", store]) == 0
    out = capsys.readouterr().out
    code, answer, _ = contains_cli(str(data), {"id": 5, "name": "n5"}, store, capsys)
    proof = answer["proof"]
    assert code == 0 and len(proof["bucketDigests"]) > 20  # --json: the whole proof
    lines = out.splitlines()
    assert len(lines) <= 12 and lines[0] == "contained (1 matching row digest)", out
    assert digest in lines[1] and f"verified against the signed rows root {proof['rowsRoot']}" in out, out
    assert f"({len(proof['bucketDigests'])} digests)" in out and "--proof FILE" in out and "--json" in out, out
    assert not any(d in out for d in proof["bucketDigests"]), out
    assert "used by        0 runs" in out, out

    target = tmp_path / "proof.json"
    assert main(["contains", str(data), "--record", json.dumps({"id": 5, "name": "x"}), "--proof", str(target), "--store", store]) == 1
    out = capsys.readouterr().out
    assert out.startswith("not contained\n") and f"written to {target}" in out, out
    written = json.loads(target.read_text())
    assert written["format"] == "tdprov-row-proof/1" and written["rowsRoot"] == proof["rowsRoot"] and not written["contained"]
    assert f"{len(target.read_bytes()):,} bytes" in out, out
    script = tmp_path / "verify_row_proof.py"
    script.write_text(verifier_script())
    checked = subprocess.run([sys.executable, str(script), str(target), proof["rowsRoot"]], capture_output=True, text=True)
    assert checked.returncode == 1 and checked.stdout.strip() == "OK: not contained", checked
    with pytest.raises(SystemExit) as refused:  # an option's bad value: argparse's exit 2
        main(["contains", str(data), "--record", "{}", "--proof", "-", "--store", store])
    assert refused.value.code == 2
    assert "the proof is written to a file" in capsys.readouterr().err
    for where in ("nodir/p.json", str(tmp_path)):  # said as for 'export -o', never argparse's name for the check
        assert main(["contains", str(data), "--record", "{}", "--proof", where, "--store", store]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"tdprov contains: proof file {where}") and "invalid" not in err, err
        assert ("Fix: create the folder first" if where.startswith("nodir") else "Fix: give a file name inside it") in err, err


def test_contains_refuses_a_record_value_its_column_would_read_as_another(recorded: tuple[str, str, Path],
                                                                          capsys: pytest.CaptureFixture) -> None:
    """``{"id": 5.5}`` was read as the integer 5 and answered "contained" with a proof of the row holding 5."""
    store, _, data = recorded
    assert main(["contains", str(data), "--record", json.dumps({"id": 5.5, "name": "n5"}), "--store", store]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "field 'id': value 5.5 is not of logical type int64: it would be read as 5, which is another value." in captured.err
    assert main(["contains", str(data), "--record", json.dumps({"id": 5.0, "name": "n5"}), "--store", store]) == 0


TIMES = pd.DataFrame({"id": [1, 2],
                      "day": [dt.date(2024, 1, 1), dt.date(2024, 1, 2)],
                      "at": pd.to_datetime(["2024-01-01T12:00:00.123456789Z", "2024-01-02T12:00:00.000000000Z"]),
                      "local": pd.to_datetime(["2024-01-01T08:00:00", "2024-01-02T08:00:00"]),
                      "clock": [dt.time(8, 30), dt.time(9, 15, 0, 500_000)],
                      "took": pd.to_timedelta(["1 days 02:00:00", "0.5s"])})


@provenance_asset(granularity="row")
def timed() -> pd.DataFrame:
    return TIMES


def test_contains_takes_dates_times_and_durations_as_iso_8601_text(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """JSON has no date type: ``{"at": "2024-01-01T12:00:00Z"}`` was refused ("not of logical type timestamp[ns,
    tz=UTC]"), so no row of a table with a date-time column could be looked up. ISO-8601 text names the value: the row
    holding it is contained, one holding another is not; a zoned column needs the offset, a zone-less one none."""
    store = str(tmp_path / "store")
    with DagsterInstance.ephemeral() as instance:
        result = materialize([timed], instance=instance, resources={"io_manager": ProvenanceIOManager(store=store)})
    assert result.success
    data = str(tmp_path / "store-data" / "timed.parquet")
    first = {"id": 1, "day": "2024-01-01", "at": "2024-01-01T14:00:00.123456789+02:00", "local": "2024-01-01T08:00:00",
             "clock": "08:30", "took": "P1DT2H"}
    second = {"id": 2, "day": "2024-01-02", "at": "2024-01-02T12:00:00Z", "local": "2024-01-02 08:00",
              "clock": "09:15:00.5", "took": "PT0.5S"}
    for record in (first, second):
        code, answer, err = contains_cli(data, record, store, capsys)
        assert (code, answer.get("contained"), answer.get("matches")) == (0, True, 1), err
    for column, other in (("day", "2024-01-02"), ("at", "2024-01-01T12:00:00.123456788Z"), ("local", "2024-01-01T08:00:01"),
                          ("clock", "08:30:00.000000001"), ("took", "P1DT2H0M1S")):
        code, answer, err = contains_cli(data, {**first, column: other}, store, capsys)
        assert (code, answer.get("contained")) == (1, False), (column, err)
    for column, written, reason in (
            ("at", "2024-01-01T12:00:00.123456789", "the column has a time zone (UTC), so the date-time needs its offset: "
                                                    "2024-01-01T12:00:00.123456789Z for UTC"),
            ("local", "2024-01-01T08:00:00Z", "the column has no time zone, so the date-time takes no offset: "
                                              "2024-01-01T08:00:00, as the column holds it"),
            ("day", "2024-01-01T00:00", "a date is written YYYY-MM-DD (2024-01-31)"),
            ("took", "P1M", "years, months and weeks are no fixed length")):
        code, answer, err = contains_cli(data, {**first, column: written}, store, capsys)
        assert code == 2 and answer == {} and f"field {column!r}: value {written!r} is not of logical type" in err, err
        assert reason in err, err
