"""tdprov contains: row-digest membership of a record and the training runs downstream of the version."""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from prov_common.bundle import build_bundle, rows_path
from prov_common.bundle.storage import deliver_bundle
from prov_common.cli import main
from prov_common.hashing import hash_dataframe, write_row_digests
from prov_common.signing import default_signing_key
from prov_common.store import open_store

from test_audit_support import T0, audit, dataset, digest, run_events, seal


def test_contains_record_and_downstream_training(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    store = open_store(str(tmp_path / "store"))
    frame = pd.DataFrame({"customer_id": [1041, 1042, 1043], "email": ["a@x.org", "b@x.org", "c@x.org"]})
    td = hash_dataframe(frame, granularity="row")
    sidecar = write_row_digests(td, tmp_path / "rows.parquet")
    events = run_events("load_customers", [], [dataset("/data/customers.parquet", td.digest)])
    old_form = "rows/data_customers.parquet.rows.parquet"  # as bundles named it before rows_path named the dataset's identity
    deliver_bundle(store, build_bundle(events, {old_form: sidecar.read_bytes()}, default_signing_key()))
    derived = digest("features")
    seal(store, run_events("build_features", [dataset("/data/customers.parquet", td.digest)], [dataset("/data/f.parquet", derived)],
                           start=T0 + timedelta(hours=1)))
    train = seal(store, run_events("train_model", [dataset("/data/f.parquet", derived)], [], start=T0 + timedelta(hours=2)))
    unrelated = seal(store, run_events("train_other", [dataset("/data/g.parquet", digest("g"))], [], start=T0 + timedelta(hours=3)))

    assert main(["contains", td.digest, "--record", json.dumps({"customer_id": 1042, "email": "b@x.org"}), "--json", "--store", store.uri]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["contained"] and answer["rows"] == [1]
    assert [r["runId"] for r in answer["trainingRuns"]] == [train] and unrelated not in json.dumps(answer)
    assert answer["rowDigests"].endswith("/" + old_form)
    assert main(["contains", td.digest, "--record", json.dumps({"customer_id": 1042, "email": "z@x.org"}), "--json", "--store", store.uri]) == 1
    assert json.loads(capsys.readouterr().out)["contained"] is False
    proof_file = tmp_path / "proof.json"  # row digests attached by hand: rows, no proof, and nothing written for --proof
    assert main(["contains", td.digest, "--record", json.dumps({"customer_id": 1042, "email": "b@x.org"}), "--proof", str(proof_file),
                 "--store", store.uri]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("contained\n") and "  rows           1 (row digests attached by hand: no proof)" in out, out
    assert f"training runs  1 run\n    {train}  " in out and unrelated not in out, out
    assert f"no proof written to {proof_file}" in err and not proof_file.exists(), err
    assert main(["contains", derived, "--record", "{}", "--store", store.uri]) == 2
    assert "no row digests" in capsys.readouterr().err
    assert main(["contains", td.digest, "--record", "[1]", "--store", store.uri]) == 2
    capsys.readouterr()
    # a record that leaves out a column, or names one the version lacks, would be "not contained" whatever the data:
    # it is bad input, naming the columns (an erasure request answered "absent" for a row that is there)
    assert main(["contains", td.digest, "--record", json.dumps({"customer_id": 1042}), "--store", store.uri]) == 2
    assert "gives no value for the column 'email' (the version's columns" in capsys.readouterr().err
    assert main(["contains", td.digest, "--record", json.dumps({"customer_id": 1042, "email": "b@x.org", "mail": "b"}),
                 "--store", store.uri]) == 2
    assert "names a column the version does not have: 'mail'" in capsys.readouterr().err
    # a column given twice: one of its values would be the answer's (the last one won, "not contained")
    assert main(["contains", td.digest, "--record", '{"customer_id": 1042, "email": "b@x.org", "email": "z@x.org"}',
                 "--store", store.uri]) == 2
    assert "gives column 'email' more than once" in capsys.readouterr().err
    # NaN is no JSON: Python's parser took it, and it became a null value ("not contained")
    assert main(["contains", td.digest, "--record", '{"customer_id": NaN, "email": "b@x.org"}', "--store", store.uri]) == 2
    assert "--record holds NaN, which is not JSON" in capsys.readouterr().err
    # an integer past the digits Python reads: refused in Python's words ('use sys.set_int_max_str_digits()')
    assert main(["contains", td.digest, "--record", '{"customer_id": ' + "9" * 5000 + ', "email": "b@x.org"}',
                 "--store", store.uri]) == 2
    assert capsys.readouterr().err == ("tdprov contains: --record is not JSON (an integer of 5,000 digits is longer than "
                                       "tdprov reads (4,300 digits)). Fix: pass an object like '{\"id\": 1, \"name\": \"x\"}'\n")
    # a number past the range of a double, which 'tdprov hash' refuses in a JSON-lines file: 1e400 was read as infinity
    for record, shown in (('{"customer_id": 1e400, "email": "b@x.org"}', "1E+400"),
                          ('{"customer_id": 1042, "email": [["b", -1' + "0" * 400 + ']]}', "-1000000000000000000…, 401 digits")):
        assert main(["contains", td.digest, "--record", record, "--store", store.uri]) == 2
        column = "customer_id" if "1e400" in record else "email"
        assert capsys.readouterr().err == (f"tdprov contains: --record column {column!r} has a number too large for a double "
                                           f"({shown}): a double holds at most about 1.8e308. Fix: give the value as the "
                                           "dataset holds it (a number within a double, or a string)\n")


def test_a_record_with_none_of_the_versions_columns_names_them_once(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A record of other columns listed the version's 31 columns twice: as the ones it gives no value for, then as the
    version's columns."""
    store = open_store(str(tmp_path / "store"))
    td = hash_dataframe(pd.DataFrame({f"f{i}": [float(i)] for i in range(31)}), granularity="row")
    sidecar = write_row_digests(td, tmp_path / "rows.parquet")
    events = run_events("load_cells", [], [dataset("/data/cells.parquet", td.digest)])
    deliver_bundle(store, build_bundle(events, {"rows/data_cells.parquet.rows.parquet": sidecar.read_bytes()}, default_signing_key()))
    assert main(["contains", td.digest, "--record", json.dumps({"id": 1, "label": "x"}), "--store", store.uri]) == 2
    columns = ", ".join(f"'f{i}'" for i in range(20)) + " and 11 more"
    assert capsys.readouterr().err == (
        f"tdprov contains: the record gives no value for any of the version's 31 columns: {columns}; names columns the "
        "version does not have: 'id', 'label'. Fix: give a value for every column of the version, null where the value "
        "is missing: a row is matched on all its columns\n")
    assert main(["contains", td.digest, "--record", json.dumps({"f0": 0.0}), "--store", store.uri]) == 2
    err = capsys.readouterr().err  # some given: the version's columns follow, the list to pick the others from
    assert err.startswith("tdprov contains: the record gives no value for the columns 'f1', 'f2', ") and \
        f"(the version's columns: {columns}). Fix:" in err, err


def test_a_refused_record_of_a_wide_version_names_the_first_columns_and_counts_the_rest(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A record of one known and two unknown columns of a version of 200 columns was refused on one line naming the
    199 columns it gives no value for and then all 200 of the version's (about 3,000 characters); each list names
    its first 20 columns and counts the rest."""
    store = open_store(str(tmp_path / "store"))
    td = hash_dataframe(pd.DataFrame({f"c{i:03d}": [i] for i in range(200)}), granularity="row")
    sidecar = write_row_digests(td, tmp_path / "rows.parquet")
    events = run_events("load_wide", [], [dataset("/data/wide.parquet", td.digest)])
    deliver_bundle(store, build_bundle(events, {"rows/data_wide.parquet.rows.parquet": sidecar.read_bytes()}, default_signing_key()))
    unknown = {f"x{i:02d}": i for i in range(30)}
    assert main(["contains", td.digest, "--record", json.dumps({"c000": 0, **unknown}), "--store", store.uri]) == 2

    def first(start: int) -> str:
        return ", ".join(f"'c{i:03d}'" for i in range(start, start + 20))

    assert capsys.readouterr().err == (
        f"tdprov contains: the record gives no value for the columns {first(1)} and 179 more; names columns the version "
        f"does not have: {', '.join(repr(k) for k in list(unknown)[:20])} and 10 more (the version's columns: {first(0)} "
        "and 180 more). Fix: give a value for every column of the version, null where the value is missing: a row is "
        "matched on all its columns\n")


def test_a_catalogued_run_whose_bundle_was_altered_after_the_audit_is_left_out_of_the_answer(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The audit's catalog finds the runs downstream; each one the answer lists is verified from its bundle, as lineage
    and record verify theirs: a training run whose events gained a line after the audit is not listed, and is named.
    The answer is printed, and exits 2 (it exited 0: a script read a clean answer with evidence left out)."""
    store = open_store(str(tmp_path / "store"))
    frame = pd.DataFrame({"customer_id": [1041, 1042]})
    td = hash_dataframe(frame, granularity="row")
    events = run_events("load_customers", [], [dataset("/data/customers.parquet", td.digest)])
    deliver_bundle(store, build_bundle(events, {rows_path("file", "/data/customers.parquet"): write_row_digests(
        td, tmp_path / "rows.parquet").read_bytes()}, default_signing_key()))
    derived = digest("features")
    seal(store, run_events("build_features", [dataset("/data/customers.parquet", td.digest)], [dataset("/data/f.parquet", derived)],
                           start=T0 + timedelta(hours=1)))
    train = seal(store, run_events("train_model", [dataset("/data/f.parquet", derived)], [], start=T0 + timedelta(hours=2)))
    result = audit(store)  # its bundles found sound (the training run's input traces to no source: a gap of the data)
    assert [f.check for f in result.errors] == ["completeness"], [f.what for f in result.errors]
    altered = tmp_path / "store" / "bundles" / train / "events.jsonl"
    altered.write_bytes(altered.read_bytes() + b'{"eventType": "COMPLETE"}\n')
    capsys.readouterr()
    # an answer with a run left out is no clean answer: exit 2, as the help says of bundles that do not verify
    assert main(["contains", td.digest, "--record", json.dumps({"customer_id": 1042}), "--json", "--store", store.uri]) == 2
    out, err = capsys.readouterr()
    assert json.loads(out)["trainingRuns"] == [] and train not in out, out
    assert f"tdprov contains: left out run {train}: its bundle does not verify (bundles/{train}/events.jsonl: " in err, err


@pytest.mark.parametrize("damage", ["prov.json deleted", "indexed record edited"])
def test_an_answer_from_a_bundle_that_does_not_verify_is_said_so(damage: str, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture) -> None:
    """The row digests are checked against their bundle's signed manifest, so they still answer when the rest of that
    bundle is damaged (its prov.json deleted, its indexed record edited); 'contains' said nothing of it and exited 0.
    It says on stderr that the bundle does not verify, and why, and exits 2 (an answer with evidence doubted)."""
    store = open_store(str(tmp_path / "store"))
    frame = pd.DataFrame({"customer_id": [1041, 1042]})
    td = hash_dataframe(frame, granularity="row")
    events = run_events("load_customers", [], [dataset("/data/customers.parquet", td.digest)])
    holder = build_bundle(events, {rows_path("file", "/data/customers.parquet"): write_row_digests(
        td, tmp_path / "rows.parquet").read_bytes()}, default_signing_key())
    deliver_bundle(store, holder)
    record = json.dumps({"customer_id": 1042})
    assert main(["contains", td.digest, "--record", record, "--store", store.uri]) == 0
    assert capsys.readouterr().err == ""
    folder = tmp_path / "store" / "bundles" / holder.run_id
    named = f"index/2026/01/01/20260101T000000000000Z-{holder.run_id}.json"
    if damage == "prov.json deleted":
        (folder / "prov.json").unlink()
    else:
        (folder / "indexed").write_text(named)
    assert main(["contains", td.digest, "--record", record, "--store", store.uri]) == 2
    out, err = capsys.readouterr()
    assert out.startswith("contained\n"), out
    why = {"prov.json deleted": f"bundles/{holder.run_id}/prov.json: missing",
           "indexed record edited": f"{named}: missing: the bundle's recorded index entry is not in the store"}[damage]
    assert err.startswith(f"tdprov contains: the bundle of run {holder.run_id}, which holds the row digests of the answer, "
                          f"does not verify ({why}"), err
    assert f"Fix: 'tdprov verify {holder.run_id}' names every problem" in err, err


def test_a_holder_the_answer_lists_is_verified_once(tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch) -> None:
    """A run that read the version and recorded its row digests is both the run holding the answer's row digests and
    one the answer lists downstream of it: its bundle was verified whole twice (for the list, then as the holder). It
    is verified once. Damaged, it is left out of the list (and holds no answer), verified once too."""
    from prov_common.bundle import verify as verify_module

    store = open_store(str(tmp_path / "store"))
    td = hash_dataframe(pd.DataFrame({"customer_id": [1041, 1042]}), granularity="row")
    seal(store, run_events("load_customers", [], [dataset("/data/customers.parquet", td.digest)]))
    reader = build_bundle(run_events("train_model", [dataset("/data/customers.parquet", td.digest)], [], start=T0 + timedelta(hours=1)),
                          {rows_path("file", "/data/customers.parquet"): write_row_digests(td, tmp_path / "rows.parquet").read_bytes()},
                          default_signing_key())
    deliver_bundle(store, reader)
    checked: list[str] = []
    real = verify_module._check_bundle
    monkeypatch.setattr(verify_module, "_check_bundle", lambda store_, trust, keys, bundle, *rest: (
        checked.append(bundle.report.run_id), real(store_, trust, keys, bundle, *rest))[1])
    record = json.dumps({"customer_id": 1042})
    assert main(["contains", td.digest, "--record", record, "--json", "--store", store.uri]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["rowDigests"].startswith(f"bundles/{reader.run_id}/") and answer["trainingRuns"][0]["runId"] == reader.run_id
    assert checked.count(reader.run_id) == 1, checked
    (tmp_path / "store" / "bundles" / reader.run_id / "prov.json").unlink()  # left out of the list: not the holder then
    checked.clear()
    assert main(["contains", td.digest, "--record", record, "--store", store.uri]) == 2
    assert f"left out run {reader.run_id}: its bundle does not verify (bundles/{reader.run_id}/prov.json: missing" in capsys.readouterr().err
    assert checked.count(reader.run_id) == 1, checked


def test_a_sidecar_changed_after_sealing_gives_no_answer(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A row dropped from a hand-attached sidecar after sealing made 'contains' answer "not contained" (exit 1) for
    a row that is there, and an erasure request would have been closed on it: the sidecar is checked against its
    bundle's signed manifest, and a changed one gives no answer (exit 2), naming the object."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    store = open_store(str(tmp_path / "store"))
    frame = pd.DataFrame({"customer_id": [1041, 1042, 1043], "email": ["a@x.org", "b@x.org", "c@x.org"]})
    td = hash_dataframe(frame, granularity="row")
    sidecar = write_row_digests(td, tmp_path / "rows.parquet")
    events = run_events("load_customers", [], [dataset("/data/customers.parquet", td.digest)])
    bundle = build_bundle(events, {rows_path("file", "/data/customers.parquet"): sidecar.read_bytes()}, default_signing_key())
    deliver_bundle(store, bundle)
    record = json.dumps({"customer_id": 1042, "email": "b@x.org"})
    assert main(["contains", td.digest, "--record", record, "--store", store.uri]) == 0
    capsys.readouterr()
    (key,) = [k for k in store.list("bundles/") if "/rows/" in k]
    table = pq.read_table(tmp_path / "store" / key)
    pq.write_table(table.filter(pa.array([True, False, True])).replace_schema_metadata(table.schema.metadata), tmp_path / "store" / key)
    assert main(["contains", td.digest, "--record", record, "--store", store.uri]) == 2
    out, err = capsys.readouterr()
    assert out == "" and f"no answer for version {td.digest}: {key} is not the file its bundle's manifest names" in err, err
    # put back as sealed: the answer again
    (tmp_path / "store" / key).write_bytes(sidecar.read_bytes())
    assert main(["contains", td.digest, "--record", record, "--store", store.uri]) == 0
    capsys.readouterr()


def test_a_bundle_moved_under_another_runs_folder_gives_no_answer(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The bundle of run A copied over the folder of run B (both wrote the version) was read as B's by 'contains',
    which never compared the run its manifest and statement name with the folder ('tdprov verify' does): it is
    refused as verify refuses it, naming both runs, and gives no answer (exit 2)."""
    import shutil

    store = open_store(str(tmp_path / "store"))
    td = hash_dataframe(pd.DataFrame({"customer_id": [1041, 1042]}), granularity="row")
    sidecar = write_row_digests(td, tmp_path / "rows.parquet").read_bytes()
    events = [run_events("load_customers", [], [dataset("/data/customers.parquet", td.digest)], start=T0 + timedelta(hours=h))
              for h in (0, 1)]
    moved, kept = (build_bundle(e, {rows_path("file", "/data/customers.parquet"): sidecar}, default_signing_key()) for e in events)
    for bundle in (moved, kept):
        deliver_bundle(store, bundle)
    folder = tmp_path / "store" / "bundles"
    shutil.rmtree(folder / kept.run_id)
    shutil.copytree(folder / moved.run_id, folder / kept.run_id)  # A's bytes under B's folder, A's entry and folder gone
    shutil.rmtree(folder / moved.run_id)
    for entry in (tmp_path / "store" / "index").rglob("*.json"):
        if moved.run_id in entry.name:
            entry.unlink()
    record = json.dumps({"customer_id": 1042})
    assert main(["contains", td.digest, "--record", record, "--store", store.uri]) == 2
    out, err = capsys.readouterr()
    assert out == "" and (f"no answer for version {td.digest}: the bundle in bundles/{kept.run_id}/ is of run {moved.run_id}, "
                          f"not {kept.run_id}: it was moved or copied there.") in err, err


def test_contains_of_a_registered_source_no_run_read_names_it(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """'tdprov contains' of a registered source that no recorded run read, by its location, LOCATION@DIGEST or digest,
    said 'no dataset or version' or 'no recorded version's digest', as of a typo. It names the source and why there is
    no answer (no row digests of it recorded) with the fix, exit 2; a location nothing is registered at is as before."""
    store, data = str(tmp_path / "store"), digest("vendor rows")
    seal(open_store(store), run_events("other", [], [dataset("/data/out.parquet", digest("out"))]))
    assert main(["source", "add", "/data/v.csv", "--digest", data, "--name", "v", "--license", "MIT", "--issuer", "Acme",
                 "--store", store]) == 0
    capsys.readouterr()
    for ref in ("/data/v.csv", f"/data/v.csv@{data[:len('blake3:') + 12]}", data):
        assert main(["contains", ref, "--record", '{"id": 1}', "--store", store]) == 2
        err = capsys.readouterr().err
        assert (f"tdprov contains: {ref!r} is the registered source 'v' at /data/v.csv ({data}), which no recorded run "
                "wrote or read: no row digests of it are recorded, so there is no answer. Fix: record a run that reads it "
                "through tdprov at row granularity") in err, err
    assert main(["contains", "/data/w.csv", "--record", '{"id": 1}', "--store", store]) == 2
    assert "no dataset or version '/data/w.csv' in the recorded runs" in capsys.readouterr().err


def test_contains_of_a_digest_recorded_datasets_and_a_source_hold_names_the_datasets(tmp_path: Path,
                                                                                   capsys: pytest.CaptureFixture) -> None:
    """A digest two recorded datasets hold (equal bytes), also registered as a source elsewhere: 'tdprov contains' said
    it was the registered source 'which no recorded run wrote or read', losing the refusal naming the recorded datasets
    (and the DATASET@DIGEST of each). It refuses as 'tdprov record' does, naming the datasets."""
    store, data = str(tmp_path / "store"), digest("vendor rows")
    seal(open_store(store), run_events("split", [], [dataset("/data/a.parquet", data), dataset("/data/b.parquet", data)]))
    assert main(["source", "add", "/data/v.csv", "--digest", data, "--name", "v", "--license", "MIT", "--issuer", "Acme",
                 "--store", store]) == 0
    capsys.readouterr()
    assert main(["contains", data, "--record", '{"id": 1}', "--store", store]) == 2
    err = capsys.readouterr().err
    assert "is held by 2 datasets" in err and "'/data/a.parquet@blake3:" in err, err
    assert "registered source" not in err, err


def test_contains_names_a_source_record_that_does_not_verify(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """'tdprov contains' of a name no recorded run holds looked it up in the source records, leaving out one that does
    not verify without a word: its refusal said 'no dataset or version' only. The record left out is named on stderr."""
    store, data = str(tmp_path / "store"), digest("vendor rows")
    seal(open_store(store), run_events("other", [], [dataset("/data/out.parquet", digest("out"))]))
    assert main(["source", "add", "/data/v.csv", "--digest", data, "--name", "v", "--license", "MIT", "--issuer", "Acme",
                 "--store", store]) == 0
    [record] = (tmp_path / "store" / "sources" / "v").glob("*.json")
    record.write_bytes(record.read_bytes().replace(b'"payload":"ey', b'"payload":"eY'))
    capsys.readouterr()
    assert main(["contains", "/data/v.csv", "--record", '{"id": 1}', "--store", store]) == 2
    err = capsys.readouterr().err
    assert "tdprov contains: left out source record 'sources/v/" in err and "'/data/v.csv' was looked up without it" in err, err
    assert "no dataset or version '/data/v.csv' in the recorded runs" in err, err


@pytest.mark.parametrize("malformed", ["inputs", "entry", "facets", "facet", "file"])
def test_a_signed_event_whose_datasets_are_of_another_shape_gives_the_answer_of_no_row_digests(
        malformed: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A bundle whose signed events hold a dataset entry of another shape, which the seal refuses (inputs that are an
    object, an entry that is text, facets that are a list, a content-hash facet that is text, a rowDigestsFile that is
    a list), signed by a stolen key: 'contains' stopped with "unexpected AttributeError" (or TypeError) and the fix to
    report a traceback. Such an entry records no row set, and the version's answer is that none was recorded."""
    import copy
    import uuid

    from bundle_support import run_events as ol_run_events, seal_events_file

    store = str(tmp_path / "store")
    events = ol_run_events(str(uuid.uuid4()))
    forged = copy.deepcopy(events)
    complete, version = forged[-1], "blake3:" + "2" * 64
    if malformed == "inputs":
        complete["inputs"] = {"namespace": "file", "name": "/data/x"}
    elif malformed == "entry":
        complete["outputs"].insert(0, "s3://lake/clean/users.parquet")
    elif malformed == "facets":
        complete["outputs"][0]["facets"] = [complete["outputs"][0]["facets"]]
    else:  # the version's content-hash facet text, or naming its row set by a list
        complete["outputs"][0]["facets"]["tdprov_contentHash"] = "rows/users.rowset" if malformed == "facet" else {
            "digest": version, "rowsRoot": "sha256:" + "0" * 64, "rowDigestsFile": ["rows/users.rowset"]}
    seal_events_file(store, events, b"".join(json.dumps(e).encode() + b"\n" for e in forged))
    assert main(["contains", version, "--record", "{}", "--store", store]) == 2
    assert capsys.readouterr().err.startswith(f"tdprov contains: no row digests were recorded for version {version}. Fix: ")
