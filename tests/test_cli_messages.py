"""What the CLI says when the input is wrong or the result needs words: an empty or mistyped store, a run id
that names no bundle, a relative path or a bare digest, a mistyped option, and the audit's summary line."""
from __future__ import annotations

import argparse
import html
import json
import os
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Callable

import pytest

from bundle_support import record_runs
from test_audit_support import T0, Pipeline, dataset, digest, seal
from test_audit_support import run_events as pipeline_events
from prov_common.cli import main


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


# --- audit of an empty or mistyped store ------------------------------------------------------------

def test_audit_of_an_empty_local_store_is_bad_input_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "newstore"
    assert main(["store", "init", str(store)]) == 0
    capsys.readouterr()
    assert main(["audit", "--store", str(store)]) == 2
    out, err = capsys.readouterr()
    assert f"no runs in {store}: is this the store your pipelines write to?" in err
    assert "Fix: check --store or TDPROV_STORE for a typo" in err
    assert "audit clean" not in out
    assert _files(store) == ["_tdprov/store.json"]  # what init made: no report, no audit record, no log
    assert main(["audit", "--store", str(store), "--report", str(tmp_path / "rep")]) == 2
    assert not (tmp_path / "rep").exists() and _files(store) == ["_tdprov/store.json"]


def test_audit_of_a_mistyped_s3_prefix_is_bad_input_and_writes_nothing(s3_server, s3_store_uri: str,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    record_runs(s3_store_uri, 1)
    typo = s3_store_uri + "d"
    assert main(["audit", "--store", typo, "--quiet"]) == 2
    assert f"no runs in {typo}: is this the store your pipelines write to?" in capsys.readouterr().err
    bucket, _, prefix = typo[len("s3://"):].partition("/")
    listed = s3_server.client().list_objects_v2(Bucket=bucket, Prefix=prefix + "/")
    assert listed.get("KeyCount", 0) == 0  # nothing written under the typo
    assert main(["audit", "--store", s3_store_uri, "--quiet"]) == 1  # the right prefix is audited (its input has no source)
    assert "; log size 1;" in capsys.readouterr().out


def test_accepting_an_empty_s3_prefix_or_one_holding_only_write_probes_is_bad_input(s3_server, s3_store_uri: str,
                                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """'--accept-checkpoint' on an empty prefix passed as audited, and wrote the audit's write probes, after which every
    auditor's first audit of that prefix was clean: both are refused, and nothing is written."""
    from prov_common.store import open_store
    from prov_common.store._base import WRITE_PROBE, WRITE_PROBE_BYTES

    bucket, _, prefix = s3_store_uri[len("s3://"):].partition("/")
    assert main(["audit", "--store", s3_store_uri, "--accept-checkpoint", "--reason", "new store", "--quiet"]) == 2
    assert f"no runs in {s3_store_uri}" in capsys.readouterr().err
    assert s3_server.client().list_objects_v2(Bucket=bucket, Prefix=prefix + "/").get("KeyCount", 0) == 0
    store = open_store(s3_store_uri)
    for where in ("log/", "audit/"):  # what a writing audit's access check leaves behind
        store.put(where + WRITE_PROBE, WRITE_PROBE_BYTES)
    assert main(["audit", "--store", s3_store_uri, "--quiet"]) == 2
    assert f"no runs in {s3_store_uri}" in capsys.readouterr().err
    assert sorted(store.list()) == ["audit/" + WRITE_PROBE, "log/" + WRITE_PROBE]


def test_first_audit_says_so_and_a_log_without_new_runs_still_audits_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "store")
    Pipeline(store)  # two runs, their source registered
    assert main(["audit", "--store", store]) == 0
    out = capsys.readouterr().out
    assert out.startswith("First audit of this store by this auditor (none remembered): every bundle was examined now (2)"), out
    assert "new since the last audit" not in out
    assert main(["audit", "--store", store]) == 0  # a log and no new run: clean, as before
    out = capsys.readouterr().out
    assert out.startswith("Incremental audit: 0 bundles new since the last audit were examined now")
    assert "\naudit clean; log size 2;" in out


def test_a_store_emptied_after_an_audit_is_a_finding_not_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "store"
    Pipeline(str(store))
    assert main(["audit", "--store", str(store), "--quiet"]) == 0
    shutil.rmtree(store)
    store.mkdir()
    assert main(["audit", "--store", str(store), "--quiet", "--report", str(tmp_path / "rep")]) == 1  # the auditor remembers a log
    assert "no runs in" not in capsys.readouterr().err


def test_an_emptied_store_whose_reports_another_auditor_signed_is_refused_naming_their_key(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """An auditor with a fresh TDPROV_HOME and a key of its own, on a store emptied of its records whose audit report
    another auditor signed, was told 'no audit report of it found any', though one is there: it does not verify under
    this auditor's keys. The refusal says so, names the report and why, and the fix: trust that auditor's key; trusted,
    the report tells the deletion."""
    from prov_common.signing.keyfiles import default_key_path, public_path_for

    store = tmp_path / "store"
    Pipeline(str(store))
    assert main(["audit", "--store", str(store), "--quiet"]) == 0
    first = public_path_for(default_key_path())
    [report] = [p.relative_to(store).as_posix() for p in (store / "audit" / "reports").rglob("report.json")]
    for folder in store.iterdir():
        if folder.name != "audit":
            shutil.rmtree(folder)
    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "other-auditor"))
    capsys.readouterr()
    assert main(["audit", "--store", str(store), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "no audit report of it found any" not in err, err
    assert (f"tdprov audit: no runs in {store}, and nothing this auditor can audit: it holds no bundle, no run in progress, "
            "no source record and no audit log, and this auditor remembers none of it; it holds 1 audit report, but none "
            "verifies under the trusted auditor keys, so none can tell whether the store held records (report "
            f"'{report}': audit record 'audit/runs/") in err, err
    assert "signed by untrusted key ed25519:" in err, err
    assert ("Fix: if another auditor audits this store, trust that auditor's key: add its .pub to TDPROV_AUDITOR_KEYS "
            "(else TDPROV_TRUSTED_KEYS), see docs/audit.md, then audit again") in err, err
    monkeypatch.setenv("TDPROV_AUDITOR_KEYS", str(first))
    assert main(["audit", "--store", str(store), "--read-only", "--report", str(tmp_path / "rep")]) == 1
    assert f"[inventory] error: {report}: the store holds no record, but the audit that wrote report '{report}'" in capsys.readouterr().out


def test_an_emptied_store_whose_trusted_report_found_nothing_says_how_many_do_not_verify(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A store emptied of its records holds one report another auditor signed (it found the records) and one of this
    auditor's, written by a job's audit of the emptied store, that found nothing. The refusal said "none verifies under
    the trusted auditor keys", untrue of the second: it counts both, and says which do not verify."""
    from prov_common.audit import run_audit
    from prov_common.store import open_store

    store = tmp_path / "store"
    Pipeline(str(store))
    assert main(["audit", "--store", str(store), "--quiet"]) == 0
    [report] = [p.relative_to(store).as_posix() for p in (store / "audit" / "reports").rglob("report.json")]
    for folder in store.iterdir():
        if folder.name != "audit":
            shutil.rmtree(folder)
    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "other-auditor"))
    run_audit(open_store(str(store)), progress=False)  # a job's audit: an empty store is audited (its report names the other)
    shutil.rmtree(tmp_path / "other-auditor" / "audits")
    capsys.readouterr()
    assert main(["audit", "--store", str(store), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "none verifies" not in err, err
    assert ("this auditor remembers none of it; it holds 2 audit reports, none of those that verify found records in it, and "
            "1 does not verify under the trusted auditor keys, so it cannot tell whether the store held records (report "
            f"'{report}': audit record 'audit/runs/") in err, err
    assert "Fix: if another auditor audits this store, trust that auditor's key" in err, err


def test_an_emptied_store_refused_reads_each_audit_object_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The refusal of an emptied store whose report another auditor signed verified the store's audit reports twice:
    once for the evidence of its emptying, again to name those that do not verify (the audit's signed record read twice).
    Each is read and verified once, and the refusal names it as before."""
    from counting_store import CountingStore
    from prov_common.audit import run_audit
    from prov_common.errors import BadInputError

    store = tmp_path / "store"
    Pipeline(str(store))
    assert main(["audit", "--store", str(store), "--quiet"]) == 0
    for folder in store.iterdir():
        if folder.name != "audit":
            shutil.rmtree(folder)
    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "other-auditor"))
    counted = CountingStore(store)
    with pytest.raises(BadInputError, match="none verifies under the trusted auditor keys"):
        run_audit(counted, progress=False, require_runs=True)
    reads = {key: counted.gets[key] + len(counted.ranges[key]) for key in [*counted.gets, *counted.ranges]}
    audit_reads = {key: n for key, n in reads.items() if key.startswith(("audit/runs/", "audit/reports/"))}
    assert audit_reads and set(audit_reads.values()) == {1}, audit_reads


def test_a_store_holding_only_source_records_is_audited_and_a_forged_one_named(store_uri: str,
                                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """A team that registered its sources and ran no pipeline yet: the audit checked nothing and refused the store as
    empty ('nothing was written to it'), so a forged record planted there was named by 'tdprov source list' only. The
    audit checks the records: clean, then a finding naming the forged one; a mistyped prefix is still refused."""
    from prov_common.signing import SigningKey, sign_envelope
    from prov_common.sources.model import SOURCE_PAYLOAD_TYPE, SourceRecord
    from prov_common.sources.registry import source_key
    from prov_common.store import open_store

    vendor = digest("vendor orders")
    assert main(["source", "add", "/data/orders.csv", "--digest", vendor, "--name", "vendor-orders", "--license", "CC-BY-4.0",
                 "--issuer", "Acme", "--store", store_uri]) == 0
    capsys.readouterr()
    assert main(["audit", "--store", store_uri]) == 0
    out, err = capsys.readouterr()
    assert "no runs in" not in err
    assert "pass  Source records: signed, and personal data with documented consent or legal basis (1 checked)" in out
    assert "\naudit clean; log size 0;" in out

    forged = source_key("vendor-forged", digest("forged"))
    record = SourceRecord(name="vendor-forged", digest=digest("forged"), license="PROPRIETARY-FORGED", issuer="Mallory Ltd")
    open_store(store_uri).put(forged, sign_envelope(record.to_json(), SOURCE_PAYLOAD_TYPE, [SigningKey.generate()]).to_json())
    assert main(["audit", "--store", store_uri]) == 1
    out = capsys.readouterr().out
    assert f"[sources] error: {forged}: source record '{forged}'" in out, out
    assert "\naudit found" in out

    assert main(["audit", "--store", store_uri + "-typo", "--quiet"]) == 2  # a mistyped store is still no clean one
    out, err = capsys.readouterr()  # (a local one does not exist; a prefix holds nothing)
    assert "audit clean" not in out and f"{store_uri}-typo" in err


def test_source_records_deleted_after_an_audit_are_a_finding_not_bad_input(tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """The auditor audited a store holding only a source record; the record was then deleted. The store is not one it
    never audited: the deletion is named (exit 1), not refused as an empty store (exit 2)."""
    store = tmp_path / "store"
    assert main(["source", "add", "/data/orders.csv", "--digest", digest("orders"), "--name", "orders", "--license", "CC0-1.0",
                 "--issuer", "Acme", "--store", str(store)]) == 0
    assert main(["audit", "--store", str(store), "--quiet"]) == 0
    [record] = (store / "sources").rglob("*.json")
    key = record.relative_to(store).as_posix()
    shutil.rmtree(store / "sources")
    capsys.readouterr()
    assert main(["audit", "--store", str(store)]) == 1
    out, err = capsys.readouterr()
    assert "no runs in" not in err
    assert f"[inventory] error: {key}: source record '{key}' is missing: it was deleted" in out, out


def _register_and_audit(store: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """A store holding one source record, audited once; the record's key."""
    assert main(["source", "add", "/data/orders.csv", "--digest", digest("orders"), "--name", "orders", "--license", "CC0-1.0",
                 "--issuer", "Acme", "--store", str(store)]) == 0
    assert main(["audit", "--store", str(store), "--quiet"]) == 0
    capsys.readouterr()
    [record] = (store / "sources").rglob("*.json")
    return record.relative_to(store).as_posix()


def _audited_afresh(store: Path, capsys: pytest.CaptureFixture[str], code: int) -> tuple[str, str]:
    """'tdprov audit' of ``store`` by an auditor with a fresh memory (the same keys), its exit ``code`` checked; what it
    printed (out, err)."""
    shutil.rmtree(Path(os.environ["TDPROV_HOME"]) / "audits")
    capsys.readouterr()
    assert main(["audit", "--store", str(store)]) == code
    return capsys.readouterr()


def test_source_records_deleted_are_found_by_an_auditor_that_remembers_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A store that only ever held a source record, audited, then the record deleted: an auditor with a fresh memory refused
    it as empty or mistyped (exit 2, 'nothing to audit'), though its audit's signed report says it held the record. The
    report is evidence: the deletion is a finding (exit 1)."""
    store = tmp_path / "store"
    _register_and_audit(store, capsys)
    [report] = (store / "audit" / "reports").rglob("report.json")
    shutil.rmtree(store / "sources")
    out, err = _audited_afresh(store, capsys, 1)
    assert "no runs in" not in err
    key = report.relative_to(store).as_posix()
    assert (f"[inventory] error: {key}: the store holds no record, but the audit that wrote report '{key}' found 1 source "
            "record in it: they were deleted since") in out, out


def test_a_resolution_planted_in_an_emptied_store_does_not_hide_its_reports(tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Reports older than the newest resolution were no evidence, and the newest was taken by its key, unverified: whoever
    emptied the store planted one keyed last, and an auditor with a fresh memory refused the store as empty (exit 2, the
    scheduled job passed it). Only a signed acceptance of the log counts: the deletion is still a finding."""
    store = tmp_path / "store"
    _register_and_audit(store, capsys)
    [report] = (store / "audit" / "reports").rglob("report.json")
    shutil.rmtree(store / "sources")
    (store / "audit" / "resolutions").mkdir(parents=True, exist_ok=True)
    (store / "audit" / "resolutions" / "99991231T235959999999Z-ffffffff.json").write_text("{}")
    out, err = _audited_afresh(store, capsys, 1)
    assert "no runs in" not in err
    key = report.relative_to(store).as_posix()
    assert f"the audit that wrote report '{key}' found 1 source record in it: they were deleted since" in out, out


def test_a_resolution_copied_from_another_store_does_not_hide_an_emptied_stores_reports(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Reports copied in from another store are no evidence, but a resolution was taken whatever store it accepted: one
    signed by the same auditor for another store, copied in keyed after this store's reports, hid them, and the emptied
    store was refused as holding nothing to audit. Only an acceptance of this store's log counts."""
    store, other = tmp_path / "store", tmp_path / "other"
    _register_and_audit(store, capsys)
    [report] = (store / "audit" / "reports").rglob("report.json")
    _register_and_audit(other, capsys)
    assert main(["audit", "--store", str(other), "--accept-checkpoint", "--reason", "checked", "--quiet"]) == 0
    shutil.copytree(other / "audit" / "resolutions", store / "audit" / "resolutions")
    shutil.rmtree(store / "sources")
    out, err = _audited_afresh(store, capsys, 1)
    assert "no runs in" not in err, err
    key = report.relative_to(store).as_posix()
    assert f"the audit that wrote report '{key}' found 1 source record in it: they were deleted since" in out, out


def test_an_emptied_store_report_past_the_read_bound_is_hashed_not_read_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A report was verified, hashed, then read again whole (any size, and bytes other than those checked). It is read
    once, to a bound: a signed report past it is hashed in ranged reads, never read whole, and is evidence itself."""
    from prov_common.audit import emptied

    store = tmp_path / "store"
    _register_and_audit(store, capsys)
    [report] = (store / "audit" / "reports").rglob("report.json")
    shutil.rmtree(store / "sources")
    monkeypatch.setattr(emptied, "REPORT_LIMIT", 100)  # the report, a few kilobytes, is past it
    out, _ = _audited_afresh(store, capsys, 1)
    key = report.relative_to(store).as_posix()
    assert (f"the audit that wrote report '{key}' wrote a report larger than 100 bytes, not read further (one of a store "
            "that held no record is a few kilobytes): they were deleted since") in out, out


@pytest.mark.parametrize("bound", [None, 100], ids=["read", "past the read bound"])
def test_a_signed_report_copied_from_another_store_is_no_evidence_of_this_one(
        tmp_path: Path, bound: int | None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A correctly signed report copied in from another store (with its audit's record) made an empty store, never
    written to, a finding of records 'deleted since'. The report names its store: another's is no evidence here. One
    past the read bound, not parsed, was evidence whatever its store: its audit's signed record names the store."""
    from prov_common.audit import emptied

    if bound is not None:
        monkeypatch.setattr(emptied, "REPORT_LIMIT", bound)
    other, store = tmp_path / "other", tmp_path / "store"
    _register_and_audit(other, capsys)
    assert main(["store", "init", str(store)]) == 0
    shutil.copytree(other / "audit", store / "audit")
    out, err = _audited_afresh(store, capsys, 2)
    assert f"no runs in {store}: is this the store your pipelines write to?" in err, err
    assert "deleted since" not in out


def test_a_report_naming_an_emptied_store_is_known_by_its_kind_not_its_words(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A report that named the deletion was recognised by its finding's fix, word for word: with the words changed, an
    auditor that remembers nothing passed over it. The finding has ``kind: emptied`` in the report, and that counts."""
    from prov_common.audit import emptied

    store = tmp_path / "store"
    _register_and_audit(store, capsys)
    shutil.rmtree(store / "sources")
    assert main(["audit", "--store", str(store), "--quiet"]) == 1  # this auditor remembers the record: the finding
    [named] = sorted((store / "audit" / "reports").rglob("report.json"))[-1:]
    said = [f for c in json.loads(named.read_bytes())["checks"] if c["name"] == "inventory" for f in c["findings"]]
    assert [f["kind"] for f in said if "deleted since" in f["what"]] == ["emptied"], said
    monkeypatch.setattr(emptied, "FIX_EMPTIED", "restore the store, in other words")
    out, _ = _audited_afresh(store, capsys, 1)
    key = named.relative_to(store).as_posix()
    assert f"the audit that wrote report '{key}' named records that an earlier audit found in it as deleted" in out, out


def _signed_anew(store: Path, report: Path, change: Callable[[dict], object]) -> None:
    """Rewrite the JSON report ``report`` as ``change`` makes it and sign its audit's record anew, naming the new bytes:
    a report of another shape that the store's auditor key signed."""
    from prov_common.audit.published import PROV_PAYLOAD_TYPE, record_key, report_bytes
    from prov_common.hashing.raw import hash_bytes
    from prov_common.signing import Envelope, default_signing_key, sign_envelope

    old = report.read_bytes()
    new = report_bytes(change(json.loads(old)))  # type: ignore[arg-type]
    report.write_bytes(new)
    record = store / record_key(report.parent.name)
    payload = Envelope.from_json(record.read_bytes()).payload.replace(hash_bytes(old).digest.encode(), hash_bytes(new).digest.encode())
    record.write_bytes(sign_envelope(payload, PROV_PAYLOAD_TYPE, [default_signing_key()]).to_json())


def _without_store_id(store: Path, report: Path) -> None:
    """Rewrite ``report`` and its audit's signed record without the store's id (``storeId``), as an audit wrote them
    before it signed one, signed anew with the store's auditor key."""
    from prov_common.audit.published import PROV_PAYLOAD_TYPE, record_key
    from prov_common.signing import Envelope, default_signing_key, sign_envelope

    record = store / record_key(report.parent.name)
    prov = json.loads(Envelope.from_json(record.read_bytes()).payload)
    assert [attrs.pop("tdprov:storeId") for attrs in prov["activity"].values()]
    record.write_bytes(sign_envelope(json.dumps(prov).encode(), PROV_PAYLOAD_TYPE, [default_signing_key()]).to_json())
    _signed_anew(store, report, lambda r: {k: v for k, v in r.items() if k != "storeId"})


@pytest.mark.parametrize("older", [False, True], ids=["store id signed", "written before it was"])
def test_a_store_moved_and_emptied_is_told_by_the_reports_of_its_own_audits(
        tmp_path: Path, older: bool, capsys: pytest.CaptureFixture[str]) -> None:
    """A store moved to another folder (its identity with it), then emptied: its reports named its old place, and an
    auditor that remembers nothing took them for another store's and refused the store as holding nothing to audit.
    They sign the store's id, by which they are its own wherever it is; one that names no id is judged by its URI."""
    store, moved = tmp_path / "store", tmp_path / "moved"
    _register_and_audit(store, capsys)
    [report] = (store / "audit" / "reports").rglob("report.json")
    if older:
        _without_store_id(store, report)
    shutil.copytree(store, moved)
    shutil.rmtree(moved / "sources")
    out, err = _audited_afresh(moved, capsys, 2 if older else 1)
    if older:  # another store's, by its URI
        assert f"no runs in {moved}: is this the store your pipelines write to?" in err and "deleted since" not in out, (out, err)
    else:
        key = report.relative_to(store).as_posix()
        assert f"the audit that wrote report '{key}' found 1 source record in it: they were deleted since" in out, out


def test_a_moved_stores_acceptance_of_its_emptying_still_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A store emptied, its loss accepted ('--accept-checkpoint'), then moved: the resolution named the old place and was
    taken for another store's, so the reports it closed were evidence of a deletion again. It signs the store's id too."""
    store, moved = tmp_path / "store", tmp_path / "moved"
    _register_and_audit(store, capsys)
    shutil.rmtree(store / "sources")
    assert main(["audit", "--store", str(store), "--accept-checkpoint", "--reason", "sources retired", "--quiet"]) == 0
    [resolution] = (store / "audit" / "resolutions").glob("*.json")
    from prov_common.signing import Envelope

    assert json.loads(Envelope.from_json(resolution.read_bytes()).payload)["storeId"], resolution
    shutil.copytree(store, moved)
    out, err = _audited_afresh(moved, capsys, 2)
    assert f"no runs in {moved}: is this the store your pipelines write to?" in err and "deleted since" not in out, (out, err)


def test_reports_of_a_store_made_before_at_this_uri_are_no_evidence_of_this_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A store removed and another made at its URI (a new identity), then the first one's audit folder copied in: its
    reports name this URI and were evidence that the records of the new, empty store were deleted. They name another
    store's id: none."""
    store, kept = tmp_path / "store", tmp_path / "kept"
    _register_and_audit(store, capsys)
    shutil.copytree(store / "audit", kept)
    shutil.rmtree(store)
    assert main(["store", "init", str(store)]) == 0
    shutil.copytree(kept, store / "audit")
    out, err = _audited_afresh(store, capsys, 2)
    assert f"no runs in {store}: is this the store your pipelines write to?" in err, err
    assert "deleted since" not in out


_REPORT_SHAPES = {
    "summary a list": lambda r: {**r, "summary": [1, 2]},
    "runs a word": lambda r: {**r, "summary": {"runs": "many"}},
    "sources 1e999": lambda r: {**r, "summary": {"sources": float("inf")}},
    "treeSize a word": lambda r: {**r, "summary": {}, "log": {"treeSize": "huge"}},
    "log a list": lambda r: {**r, "summary": {}, "log": [1]},
    "checks a word": lambda r: {**r, "summary": {}, "checks": "inventory"},
    "checks not objects": lambda r: {**r, "summary": {}, "checks": [1, None]},
    "findings not objects": lambda r: {**r, "summary": {}, "checks": [{"name": "inventory", "findings": [1, "x"]}]},
    "findings a word": lambda r: {**r, "summary": {}, "checks": [{"name": "inventory", "findings": "emptied"}]},
    "kind a number": lambda r: {**r, "summary": {}, "checks": [{"name": "inventory", "findings": [{"kind": 5, "fix": []}]}]},
}


@pytest.mark.parametrize("shape", list(_REPORT_SHAPES))
def test_a_signed_report_of_another_shape_is_no_evidence_and_an_older_one_still_is(
        shape: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The newest report of an emptied store, signed but with a field of another shape (a summary that is a list, a count
    that is a word or 1e999, checks or findings that are not lists of objects), failed the audit with an unexpected
    AttributeError, TypeError, ValueError or OverflowError. A field of another shape found nothing: the older report
    that found the source record is the evidence."""
    store = tmp_path / "store"
    _register_and_audit(store, capsys)
    [older] = (store / "audit" / "reports").rglob("report.json")
    assert main(["audit", "--store", str(store), "--quiet"]) == 0
    [newest] = set((store / "audit" / "reports").rglob("report.json")) - {older}
    _signed_anew(store, newest, _REPORT_SHAPES[shape])
    shutil.rmtree(store / "sources")
    out, err = _audited_afresh(store, capsys, 1)
    assert "unexpected" not in err, err
    key = older.relative_to(store).as_posix()
    assert f"the audit that wrote report '{key}' found 1 source record in it: they were deleted since" in out, out


def test_the_header_says_what_the_auditor_remembers_of_a_store_without_a_log(tmp_path: Path,
                                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """An auditor that remembers a store's source records said '(none remembered)' on its second audit of it, then that
    it was its first audit; it is a full audit, since no log is remembered, and says what is."""
    store = tmp_path / "store"
    _register_and_audit(store, capsys)
    assert main(["audit", "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Full audit: this auditor audited this store before but remembers no log of it (it remembers 1 source "
                          "record, and no log), so every bundle was examined now (0), as 'tdprov audit --full' does."), out
    [report] = sorted((store / "audit" / "reports").rglob("report.json"))[-1:]
    written = json.loads(report.read_bytes())
    assert (written["rememberedRecords"], written["firstAudit"], written["mode"]) == ("1 source record", False, "full")
    assert "it remembers 1 source record, and no log" in (report.parent / "report.html").read_text()


def test_an_audit_after_one_of_an_empty_store_is_no_first_audit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A store the Dagster job audited while it held nothing (the auditor remembers auditing it, no log: the next audit
    checks what appears since, not taking it as listed): its next audit, still a full one with no log to continue from,
    said "First audit of this store by this auditor (none remembered)", and its report "firstAudit": true."""
    from test_audit_support import audit

    store = tmp_path / "store"
    store.mkdir()
    first = audit(str(store))  # as the Dagster job and the Airflow operator audit: an empty store is not refused
    assert first.clean and first.first_audit and first.full
    Pipeline(str(store))
    second = audit(str(store), report_dir=str(tmp_path / "report"))
    assert second.clean and not second.first_audit and second.full and second.bundles_examined == 2, second.errors
    written = json.loads((tmp_path / "report" / "report.json").read_bytes())
    assert (written["firstAudit"], written["mode"], "rememberedRecords" in written) == (False, "full", False)
    note = ("Full audit: this auditor audited this store before but remembers no log of it (the store held no record then), "
            "so every bundle was examined now (2), as 'tdprov audit --full' does.")
    assert html.escape(note) in (tmp_path / "report" / "report.html").read_text()
    assert main(["audit", "--store", str(store)]) == 0  # the log remembered now: incremental
    assert capsys.readouterr().out.startswith("Incremental audit: 0 bundles new since the last audit were examined now")


# --- run ids, paths and digests as people type them ---------------------------------------------------

@pytest.mark.parametrize("verb", ["verify", "show", "prove"])
def test_a_run_id_that_names_no_bundle_is_bad_input_and_a_unique_prefix_names_its_run(
        verb: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "store")
    pipe = Pipeline(store)
    assert main(["audit", "--store", store, "--quiet"]) == 0  # prove needs the runs in the log
    capsys.readouterr()
    assert main([verb, "38ac0580", "--store", store]) == 2  # bad input, never "1: a finding"
    out, err = capsys.readouterr()
    assert f"tdprov {verb}: no bundle for run id '38ac0580' in {store}." in err, err
    assert f"Fix: list the runs with 'tdprov runs --store {store}'" in err and "no valid signature" not in out
    assert main([verb, pipe.prepare[:4], "--store", store]) == 2
    assert "(a beginning or ending of a run id needs at least 8 characters)" in capsys.readouterr().err
    assert main([verb, pipe.prepare[:8], "--store", store]) == 0
    assert pipe.prepare in capsys.readouterr().out  # the run the prefix names, by its full id


def test_an_ambiguous_run_id_prefix_is_refused_naming_the_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "store")
    pipe = Pipeline(store)
    twins = [seal(pipe.store, pipeline_events("prepare_again", [dataset(pipe.raw_name, pipe.raw)], [], start=T0,
                                              run_id=f"0190c1d2-7e4f-7a00-9b1e-3f6f3c2a9d1{i}")) for i in (1, 2)]
    capsys.readouterr()
    assert main(["show", "0190c1d2-7e4f", "--store", store]) == 2
    err = capsys.readouterr().err
    assert f"'0190c1d2-7e4f' begins or ends 2 run ids in {store}: {twins[0]}, {twins[1]}." in err, err
    assert "give more characters of the run id" in err
    assert main(["verify", twins[1], "--store", store]) == 0  # the full id


AIRFLOW_SHAPED = ("019ebec6-9d60-7c3a-8e21-4b5f6a7d8e9f",  # UUIDv7s of the task runs of one DAG run: the time field is
                  "019ebec6-9d60-7c3a-9a10-0c1d2e3f4a5b",  # the DAG run's logical date, so they share their first 15
                  "019ebec6-9d60-7d02-b3c4-00006a7d8e9f")  # characters; the first and last share their last 8 too


@pytest.mark.parametrize("verb", ["show", "verify", "prove"])
def test_a_unique_ending_of_a_run_id_names_its_run_when_the_beginnings_are_shared(
        verb: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "store")
    pipe = Pipeline(store)
    for i, run_id in enumerate(AIRFLOW_SHAPED):
        seal(pipe.store, pipeline_events(f"task_{i}", [dataset(pipe.raw_name, pipe.raw)], [], start=T0, run_id=run_id))
    assert main(["audit", "--store", store, "--quiet"]) in (0, 1)  # prove needs the runs in the log
    capsys.readouterr()
    first, second, third = AIRFLOW_SHAPED
    assert main([verb, second[-8:], "--store", store]) == 0  # its last 8 characters name it
    assert second in capsys.readouterr().out
    assert main([verb, first[-12:], "--store", store]) == 0
    assert first in capsys.readouterr().out
    assert main([verb, first[-8:], "--store", store]) == 2  # an ending of two runs
    err = capsys.readouterr().err
    assert f"'{first[-8:]}' begins or ends 2 run ids in " in err and f": {first}, {third}." in err, err
    assert "give more characters of the run id" in err
    assert main([verb, first[:15], "--store", store]) == 2  # the shared beginning
    assert f"'{first[:15]}' begins or ends 3 run ids in " in capsys.readouterr().err
    assert main([verb, second[-7:], "--store", store]) == 2
    assert "(a beginning or ending of a run id needs at least 8 characters)" in capsys.readouterr().err


def test_lineage_takes_a_relative_path_and_bare_digests_under_one_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "raw.csv").write_text("id,amount\n1,2\n")
    store = str(tmp_path / "store")
    pipe = Pipeline(store, tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    assert main(["lineage", "data/raw.csv", "--store", store]) == 0  # as 'tdprov hash data/raw.csv' reads it
    assert capsys.readouterr().out.startswith(f"{tmp_path / 'data' / 'raw.csv'}  {pipe.raw}  [source: vendor-raw")
    hexdigits = pipe.features.split(":", 1)[1]
    for query in (hexdigits, hexdigits[:12], pipe.features[: len("blake3:") + 12]):  # bare hex (all or 12), or blake3: and 12
        assert main(["lineage", query, "--store", store]) == 0, query
        assert capsys.readouterr().out.startswith(f"/data/features.parquet  {pipe.features}\n"), query
    for short in (pipe.features[: len("blake3:") + 8], hexdigits[:8]):  # fewer than 12 hex digits: refused, saying the rule
        assert main(["lineage", short, "--store", store]) == 2, short
        assert "a digest is matched in full or by at least its first 12 hex digits, with or without 'blake3:'" in capsys.readouterr().err
    assert main(["record", hexdigits, "--store", store]) == 0  # the version lookup of the other verbs takes bare hex too
    assert pipe.features in capsys.readouterr().out
    for argv in (["record", hexdigits[:8]], ["checkout", pipe.features[: len("blake3:") + 8], "-o", str(tmp_path / "x.parquet")],
                 ["contains", hexdigits[:8], "--record", "{}"]):  # and says the same rule of a digest too short
        assert main([*argv, "--store", store]) == 2, argv
        err = capsys.readouterr().err
        assert f"no dataset or version '{argv[1]}' in the recorded runs. Fix: a digest is matched in full or by at least its " \
               "first 12 hex digits, with or without 'blake3:'" in err, err


# --- option errors name the verb's help ---------------------------------------------------------------

def _usage_error(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    return exited.value.code


def test_an_unknown_option_is_reported_by_the_verb_with_a_close_match(capsys: pytest.CaptureFixture[str]) -> None:
    assert _usage_error(["audit", "--rehsh"]) == 2
    assert capsys.readouterr().err == ("tdprov audit: error: unrecognized arguments: --rehsh (did you mean --rehash?). "
                                       "Fix: run 'tdprov audit --help' for the options and an example.\n")
    assert _usage_error(["store", "init", "somewhere", "--bogus"]) == 2  # a sub-verb's own parser
    assert "tdprov store init: error: unrecognized arguments: --bogus. Fix: run 'tdprov store init --help'" in capsys.readouterr().err
    assert _usage_error(["show", "a-run-id", "another"]) == 2  # an extra positional: no suggestion
    assert "tdprov show: error: unrecognized arguments: another. Fix: run 'tdprov show --help'" in capsys.readouterr().err
    assert _usage_error(["--bogus"]) == 2  # no verb: the top-level parser
    assert "tdprov: error: unrecognized arguments: --bogus. Fix: run 'tdprov --help'" in capsys.readouterr().err


def test_an_error_of_a_sub_verb_names_the_sub_verb_and_its_help(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "store")
    assert main(["store", "init", store]) == 0
    capsys.readouterr()
    assert main(["store", "seal", "12345678", "--store", store]) == 2
    assert capsys.readouterr().err.startswith(f"tdprov store seal: no staged events or bundle for run id '12345678' in {store}.")
    assert main(["source", "list", "--store", str(tmp_path / "none")]) == 2
    assert capsys.readouterr().err.startswith(f"tdprov source list: store {tmp_path / 'none'} does not exist.")


def _leaf_verbs() -> list[list[str]]:
    """Every verb and sub-verb, as the words that choose it (``["store", "init"]``)."""
    import argparse

    from prov_common.cli import build_parser

    def walk(parser: argparse.ArgumentParser, words: list[str]) -> list[list[str]]:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            return [words]
        return [leaf for name, sub in subs[0].choices.items() for leaf in walk(sub, [*words, name])]

    return walk(build_parser(), [])


def test_an_unknown_option_is_reported_before_a_missing_one(capsys: pytest.CaptureFixture[str]) -> None:
    """A misspelt required option was reported as missing ('the following arguments are required: --name'),
    never as the unknown option it was typed as."""
    assert _usage_error(["source", "add", "data.csv", "--nme", "y"]) == 2
    assert capsys.readouterr().err == ("tdprov source add: error: unrecognized arguments: --nme (did you mean --name?). "
                                       "Fix: run 'tdprov source add --help' for the options and an example.\n")
    assert _usage_error(["record", "x", "--format", "pdf", "--isuer=acme"]) == 2  # before a bad value, too
    assert "unrecognized arguments: --isuer=acme (did you mean --issuer?)" in capsys.readouterr().err
    assert _usage_error(["source", "add", "data.csv", "--license", "--nme"]) == 2  # an option where a value goes
    assert "unrecognized arguments: --nme (did you mean --name?)" in capsys.readouterr().err
    assert _usage_error(["source", "add", "data.csv"]) == 2  # nothing unknown: the missing option as before
    assert "the following arguments are required: --name" in capsys.readouterr().err


def test_every_verb_reports_an_unknown_option_first(capsys: pytest.CaptureFixture[str]) -> None:
    verbs = _leaf_verbs()
    assert ["source", "add"] in verbs and ["store", "init"] in verbs
    for words in verbs:
        assert _usage_error([*words, "--zzqx"]) == 2, words
        err = capsys.readouterr().err
        assert err.startswith(f"tdprov {' '.join(words)}: error: unrecognized arguments: --zzqx"), (words, err)


def _value_options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The options of ``parser`` that take a value (not --help, --json and the like)."""
    return [action for action in parser._actions if action.option_strings and action.nargs != 0]


def _positionals(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The positional arguments of ``parser`` (not its sub-verbs)."""
    return [action for action in parser._actions
            if not action.option_strings and not isinstance(action, argparse._SubParsersAction)]


def test_every_option_given_an_empty_value_is_refused_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """An option typed with an empty value was taken for the option left out: ``tdprov verify --trusted-keys ''`` trusted
    TDPROV_TRUSTED_KEYS, ``tdprov record --issuer ''`` recorded TDPROV_ISSUER, ``tdprov audit --report ''`` wrote into
    the working folder; a positional argument given empty was each verb's to judge (``tdprov store init ''`` said to set
    TDPROV_STORE, ``tdprov store repair ''`` took TDPROV_STORE, ``tdprov show ''`` complained of the store). Every value
    option and every positional argument of every verb (read from the parser, so a new one is covered) refuses an empty
    or blank value, naming it, before anything runs; an unknown option is still named first."""
    from prov_common.cli import build_parser

    monkeypatch.chdir(tmp_path)
    parsers = {" ".join(words): build_parser(words[0]) for words in _leaf_verbs()}
    checked = positionals = 0
    for words in _leaf_verbs():
        parser = parsers[" ".join(words)]
        for name in words:
            parser = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[name]
        for action in _value_options(parser):
            option = max(action.option_strings, key=len)  # named by its long form
            for value, said in (("", "empty"), ("  ", "blank")):
                given = [value] * (action.nargs if isinstance(action.nargs, int) else 1)
                assert main([*words, option, *given]) == 2, (words, option)
                out, err = capsys.readouterr()
                assert out == "" and err.startswith(f"tdprov {' '.join(words)}: {option} is given {said}"), (words, option, err)
                checked += 1
        for action in _positionals(parser):  # one a verb, so it is given first; of several (nargs '+'), any one
            name = action.metavar or action.dest  # named as its usage names it
            for given, said in (([""], "empty"), (["\t "], "blank"), (["x", ""], "empty")):
                if len(given) > 1 and action.nargs not in ("+", "*"):
                    continue
                assert main([*words, *given]) == 2, (words, name)
                out, err = capsys.readouterr()
                assert out == "" and err.startswith(f"tdprov {' '.join(words)}: {name} is given {said}"), (words, name, err)
                positionals += 1
    assert checked > 2 * 80 and positionals > 2 * 14 and sorted(os.listdir(tmp_path)) == []  # nothing written
    assert main(["verify", "--trusted-keys="]) == 2  # the --option= form too
    assert capsys.readouterr().err == ("tdprov verify: --trusted-keys is given empty. Fix: pass a value (PATH), or leave "
                                       "--trusted-keys out to use TDPROV_TRUSTED_KEYS\n")
    assert main(["record", "x", "--issuer", ""]) == 2
    assert capsys.readouterr().err == ("tdprov record: --issuer is given empty. Fix: pass a value, or leave --issuer out "
                                       "for the default (TDPROV_ISSUER)\n")
    assert main(["runs", "--store", ""]) == 2
    assert capsys.readouterr().err == ("tdprov runs: --store is given empty. Fix: pass a value, or leave --store out for "
                                       "the default ($TDPROV_STORE or ./.tdprov)\n")
    assert main(["checkout", "blake3:00", "-o", ""]) == 2  # a required option: no leaving it out
    assert capsys.readouterr().err == "tdprov checkout: --output is given empty. Fix: pass a value (PATH)\n"
    assert main(["show", ""]) == 2  # a required positional argument
    assert capsys.readouterr().err == "tdprov show: RUN_ID is given empty. Fix: pass a value\n"
    assert main(["store", "init", " "]) == 2
    assert capsys.readouterr().err == "tdprov store init: PATH|URI is given blank. Fix: pass a value\n"
    assert main(["store", "repair", "", "--store", str(tmp_path)]) == 2  # one that may be left out: what that gives
    assert capsys.readouterr().err == ("tdprov store repair: uri is given empty. Fix: pass a value, or leave uri out for the "
                                       "default ($TDPROV_STORE or ./.tdprov)\n")
    assert main(["verify", ""]) == 2
    assert capsys.readouterr().err == ("tdprov verify: RUN_ID is given empty. Fix: pass a value, or leave RUN_ID out for the "
                                       "default (all)\n")
    assert main(["prove", "", "--consistency", "1", "2"]) == 2  # was taken for RUN_ID left out
    assert capsys.readouterr().err == ("tdprov prove: RUN_ID is given empty, which is no run id. Fix: pass a run id (its full "
                                       "id or a unique beginning or ending of at least 8 characters), or leave RUN_ID out and "
                                       "give --consistency OLD NEW for a consistency proof\n")
    assert main(["hash", "--", ""]) == 2  # after '--' too
    assert capsys.readouterr().err == "tdprov hash: PATH is given empty. Fix: pass a value\n"
    assert _usage_error(["verify", "--trusted-keys", "", "--bogus"]) == 2  # an unknown option is named first
    assert capsys.readouterr().err.startswith("tdprov verify: error: unrecognized arguments: --bogus. ")


# --- one word for the audit's result in the CLI, the HTML and the JSON -----------------------------------

def test_the_summary_line_says_findings_and_notes_as_the_report_does(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from test_audit_support import digest

    store = str(tmp_path / "store")
    pipe = Pipeline(store)
    seal(pipe.store, pipeline_events("prepare_features", [dataset(pipe.raw_name, pipe.raw)],  # a failed batch nobody used: a note
                                     [dataset("/data/rejected.parquet", digest("rejected"), passed=False, failed=("greater_than(0)",))]))
    assert main(["audit", "--store", store, "--quiet", "--report", str(tmp_path / "r1")]) == 0
    report = json.loads((tmp_path / "r1" / "report.json").read_text())["summary"]
    assert report["clean"] and report["notes"] == 1
    assert capsys.readouterr().out.startswith("audit clean; 1 note; log size 3;")
    assert "No findings; 1 note below" in (tmp_path / "r1" / "report.html").read_text()
    seal(pipe.store, pipeline_events("train_x", [dataset("/x.csv", digest("x"))], []))  # an input with no origin: a finding
    assert main(["audit", "--store", store, "--quiet", "--report", str(tmp_path / "r2")]) == 1
    assert capsys.readouterr().out.startswith("audit found 1 finding; log size 4;")
    assert json.loads((tmp_path / "r2" / "report.json").read_text())["summary"]["findings"] == 1
    assert "1 finding: see Findings" in (tmp_path / "r2" / "report.html").read_text()


def test_the_json_summary_counts_what_each_check_checked_as_the_text_does(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`audit --json` gave each check's pass or skip only, where the text prints "(N checked)": its summary, and the
    report's, carry the same counts."""
    import json
    import re

    store = str(tmp_path / "store")
    Pipeline(store)
    assert main(["audit", "--store", store, "--report", str(tmp_path / "r1")]) == 0
    printed = {title: int(n) for title, n in re.findall(r"^ *(?:pass|fail|skipped)  (.+) \((\d+) checked\)", capsys.readouterr().out, re.M)}
    report = json.loads((tmp_path / "r1" / "report.json").read_text())
    titles = {c["name"]: c["title"] for c in report["checks"]}
    assert report["summary"]["checked"] == {c["name"]: c["checked"] for c in report["checks"]}
    assert {titles[name]: n for name, n in report["summary"]["checked"].items()} == printed and sum(printed.values()) > 0
    assert main(["audit", "--store", store, "--json", "--report", str(tmp_path / "r2")]) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert summary["checked"] == json.loads((tmp_path / "r2" / "report.json").read_text())["summary"]["checked"]
    assert set(summary["checked"]) == set(summary["checks"])


def test_a_misspelt_verb_is_named_with_a_close_match_whatever_options_follow(capsys: pytest.CaptureFixture[str]) -> None:
    """A misspelt verb followed by options blamed the (valid) options, as arguments the top-level parser does not take."""
    assert _usage_error(["audti", "--full"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tdprov: error: argument VERB: invalid choice: 'audti' (did you mean 'audit'?); choose from 'audit', "), err
    assert "--full" not in err and err.endswith(". Fix: run 'tdprov --help' for the options and an example.\n")
    assert _usage_error(["lineag", "x", "--store", "s"]) == 2
    assert "invalid choice: 'lineag' (did you mean 'lineage'?)" in capsys.readouterr().err
    assert _usage_error(["source", "ad", "data.csv", "--name", "v", "--license", "CC0-1.0"]) == 2  # a sub-verb
    assert capsys.readouterr().err.startswith("tdprov source: error: argument {add,list}: invalid choice: 'ad' "
                                              "(did you mean 'add'?); choose from 'add', 'list'. Fix: run 'tdprov source --help'")
    assert _usage_error(["store", "reapir", "--dry-run"]) == 2
    assert "invalid choice: 'reapir' (did you mean 'repair'?)" in capsys.readouterr().err
    assert _usage_error(["zzqx", "--full"]) == 2  # nothing close: the choices alone
    err = capsys.readouterr().err
    assert "invalid choice: 'zzqx'; choose from 'audit', " in err and "did you mean" not in err
    assert _usage_error(["--bogus", "audit"]) == 2  # an unknown option before the verb is still named
    assert "error: unrecognized arguments: --bogus. Fix: run " in capsys.readouterr().err


def test_an_option_value_that_begins_with_a_dash_is_not_taken_for_an_unknown_option(capsys: pytest.CaptureFixture[str]) -> None:
    """A value such as '-- see ticket 5' (argparse takes a word with a space as a value) was said to be unknown."""
    assert _usage_error(["audit", "--accept-finding", "R", "--reason", "-- see ticket 5", "--bogus"]) == 2
    assert capsys.readouterr().err.startswith("tdprov audit: error: unrecognized arguments: --bogus. ")
    assert _usage_error(["source", "add", "data.csv", "--license", "-- see ticket 5"]) == 2  # the missing option, as before
    assert "the following arguments are required: --name" in capsys.readouterr().err
    assert _usage_error(["export", "--since", "-1", "--bogus"]) == 2  # a negative number is a value too
    assert capsys.readouterr().err.startswith("tdprov export: error: unrecognized arguments: --bogus. ")


VERSION_FORMS = ("a dataset name, namespace/name, URI or Dagster asset key (its newest recorded version), a digest (blake3:<64 "
                 "hex>, or its first 12 or more hex digits, with or without 'blake3:'), or DATASET@DIGEST (that dataset's version "
                 "at that digest), as 'tdprov runs' shows them")


def test_a_version_that_names_nothing_is_refused_as_the_help_names_a_version(tmp_path: Path,
                                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A name that is no recorded dataset or version is refused in the same words by every verb that takes one,
    naming the forms that each verb's --help names under one metavar, DATASET|DIGEST (a dataset may be an xcom:// or
    inmemory:// URI, no path: it said PATH@DIGEST). 'contains' and 'checkout' called it VERSION, 'record' and
    'lineage' DATASET|DIGEST; 'record' said "a digest (blake3:...)" where 'lineage' said "with or without 'blake3:'",
    and "in the recorded runs" where 'lineage' said "matching ... in 1 bundle of STORE"."""
    store = str(tmp_path / "store")
    record_runs(store, 1)
    for argv, where in ((["record", "nothing"], ""), (["checkout", "nothing", "-o", str(tmp_path / "out")], ""),
                        (["contains", "nothing", "--record", "{}"], ""), (["lineage", "nothing"], f" of {store} (1 bundle)")):
        assert main([*argv, "--store", store]) == 2
        assert capsys.readouterr().err == (
            f"tdprov {argv[0]}: no dataset or version 'nothing' in the recorded runs{where}. Fix: give {VERSION_FORMS}\n"), argv
        with pytest.raises(SystemExit):
            main([argv[0], "--help"])
        said = " ".join(capsys.readouterr().out.split())
        assert f"--store STORE] DATASET|DIGEST " in said and f"DATASET|DIGEST {VERSION_FORMS}" in said, (argv, said)
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    assert f"--training-record DATASET|DIGEST export the training-data record (D&TA or Croissant RAI) of this dataset " \
           f"version: {VERSION_FORMS}" in " ".join(capsys.readouterr().out.split())


def test_a_digest_prefix_that_begins_no_version_is_refused_alike_by_every_verb_that_takes_one(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A digest prefix that no recorded version's digest begins was refused by 'record', 'contains' and 'checkout'
    saying so, and by 'lineage' as a name of nothing ("no dataset or version ... Fix: give a dataset name, ..."): every
    verb says that no recorded version's digest starts with it, exit 2."""
    store = str(tmp_path / "store")
    record_runs(store, 1)
    prefix = "blake3:" + "0" * 16
    for argv in (["record", prefix], ["contains", prefix, "--record", "{}"],
                 ["checkout", prefix, "-o", str(tmp_path / "out")], ["lineage", prefix]):
        assert main([*argv, "--store", store]) == 2, argv
        assert capsys.readouterr().err == (
            f"tdprov {argv[0]}: no recorded version's digest starts with '{prefix}'. Fix: pass the digest as 'tdprov runs' "
            "or 'tdprov lineage' shows it\n"), argv
    assert not (tmp_path / "out").exists()


def test_a_digest_that_is_not_hex_is_refused_as_no_digest_by_every_verb_that_takes_one(tmp_path: Path,
                                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """'blake3:zz' (letters past f, a mistyped or cut digest) was refused as "no dataset or version matching
    'blake3:zz'", as if it could name a dataset: each verb that takes a digest says it is not one, why, and the rule."""
    store = str(tmp_path / "store")
    record_runs(store, 1)
    rule = ("Fix: give its hex digits (0-9, a-f): a digest is matched in full or by at least its first 12 hex digits, "
            "with or without 'blake3:', as 'tdprov runs' prints them\n")
    said = {"blake3:zz": "'blake3:zz' is not a digest: 'zz' after 'blake3:' is not hex digits (0-9, a-f). ",
            "SHA256:": "'SHA256:' is not a digest: no hex digits (0-9, a-f) follow 'SHA256:'. ",
            "/data/x.csv@blake3:9a8b7c6d5e4g": "'/data/x.csv@blake3:9a8b7c6d5e4g' names no version: after its '@', "
                                               "'9a8b7c6d5e4g' after 'blake3:' is not hex digits (0-9, a-f). "}
    for ref, words in said.items():
        for argv in (["lineage", ref], ["record", ref], ["checkout", ref, "-o", str(tmp_path / "out")],
                     ["contains", ref, "--record", "{}"], ["export", "--training-record", ref]):
            assert main([*argv, "--store", store]) == 2, argv
            assert capsys.readouterr().err == f"tdprov {argv[0]}: {words}{rule}", argv


def test_a_dataset_recorded_only_without_a_digest_is_said_to_have_no_version(tmp_path: Path,
                                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """A dataset that runs recorded, but never with a content digest (another producer's output), is refused as what
    it is, recorded with no version, naming the runs and how to record its digest: record and the other verbs said
    'no dataset or version ... in the recorded runs' of a dataset that 'tdprov lineage' shows."""
    from prov_common.store import open_store

    store = str(tmp_path / "store")
    writer = seal(open_store(store), pipeline_events("train", [], [dataset("/data/model.pkl", None)], start=T0))
    reader = seal(open_store(store), pipeline_events("score", [dataset("/data/model.pkl", None)], [], start=T0 + timedelta(hours=1)))
    assert main(["lineage", "/data/model.pkl", "--store", store]) == 0
    assert "/data/model.pkl" in capsys.readouterr().out
    for argv in (["record", "/data/model.pkl"], ["checkout", "/data/model.pkl", "-o", str(tmp_path / "out")],
                 ["contains", "/data/model.pkl", "--record", "{}"]):
        assert main([*argv, "--store", store]) == 2
        assert capsys.readouterr().err == (
            f"tdprov {argv[0]}: dataset '/data/model.pkl' is recorded (read by run {reader}, written by run {writer}) but "
            "without a content digest, so it has no version to name. Fix: have the step that writes it record its digest "
            "(write it through the tdprov IO manager (Dagster) or the provenance operator/hook (Airflow)), then re-run "
            "that step; data from outside the pipelines gets a digest when registered with 'tdprov source add'; 'tdprov "
            "lineage /data/model.pkl' shows the runs\n"), argv


def test_runs_and_verify_of_a_store_with_no_bundle_say_where_runs_may_be(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """A store created but holding no sealed bundle: 'runs' and 'verify' exit 0 and say on stderr where its runs may
    be (spooled, unsealed, another store); they said 'no bundles in STORE' alone. --json stays machine output."""
    store = str(tmp_path / "store")
    assert main(["store", "init", store]) == 0
    capsys.readouterr()
    told = (f"no bundles in {store}: no run is sealed into this store yet. A run is sealed when it ends; one its pipeline "
            "spooled while the store could not take it is delivered by 'tdprov flush' on that machine, and one that "
            "stopped before sealing is named by 'tdprov audit'. Check that the pipelines write to this store (--store, "
            "TDPROV_STORE; default ./.tdprov)\n")
    for argv in (["runs"], ["verify"], ["verify", "--json"]):
        assert main([*argv, "--store", store]) == 0
        assert capsys.readouterr() == ("", told if argv[0] == "verify" else told.replace(
            "no run is sealed into this store yet", "no run is indexed in this store: none is sealed into it yet, or a "
            "sealed bundle's index entry is missing ('tdprov store repair --dry-run' lists those)")), argv
    assert main(["runs", "--json", "--store", store]) == 0
    assert capsys.readouterr() == ("[]\n", "")


def _one_run_indexed_nowhere(tmp_path: Path) -> tuple[str, str]:
    """A store of one sealed run whose index entry and 'indexed' record are gone (its writer stopped before them)."""
    from bundle_support import record_runs

    store = str(tmp_path / "store")
    (run_id,) = record_runs(store, 1)
    for entry in (tmp_path / "store" / "index").rglob("*.json"):
        entry.unlink()
    (tmp_path / "store" / "bundles" / run_id / "indexed").unlink()
    return store, run_id


def test_runs_of_a_store_whose_one_bundle_has_no_index_entry_does_not_say_none_is_sealed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """'tdprov runs' lists the index only: of a store whose one sealed bundle has no index entry (nor its 'indexed'
    record: its writer stopped before them) it said 'no run is sealed into this store yet'; it now says that no run is
    indexed and what lists such a bundle, while 'verify' lists the bundle."""
    store, run_id = _one_run_indexed_nowhere(tmp_path)
    assert main(["runs", "--store", store]) == 0
    err = capsys.readouterr().err
    assert "no run is sealed" not in err and "no run is indexed in this store" in err
    assert "'tdprov store repair --dry-run' lists those" in err
    assert main(["store", "repair", "--dry-run", "--store", store]) == 1  # a bundle to index: a finding
    assert f"would index   {run_id}" in capsys.readouterr().out


def test_runs_help_says_which_command_names_a_bundle_with_no_index_entry(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """'tdprov runs --help' said that 'tdprov verify' and 'tdprov audit' name a sealed bundle with no index entry, but
    verify lists one whose writer stopped before its 'indexed' record as OK; the help says what each command does."""
    store, run_id = _one_run_indexed_nowhere(tmp_path)
    assert main(["verify", "--store", store]) == 0
    assert capsys.readouterr().out.startswith(f"OK    {run_id}  signed by ")
    with pytest.raises(SystemExit):
        main(["runs", "--help"])
    told = " ".join(capsys.readouterr().out.split())
    assert "'tdprov verify' and 'tdprov audit' name them" not in told
    assert ("a sealed bundle with no index entry is not ('tdprov store repair --dry-run' lists those and 'tdprov "
            "audit' names them; 'tdprov verify' fails one only while its 'indexed' record is there, and lists one whose "
            "writer stopped before that record as OK)") in told, told


def _verify_and_show_tell(store: str, run_id: str, told: str, capsys: pytest.CaptureFixture[str]) -> None:
    """'tdprov verify RUN_ID' (exit 1) and 'tdprov show RUN_ID' (exit 2) of a run with no bundle object both say ``told``."""
    assert main(["verify", run_id, "--store", store]) == 1
    assert capsys.readouterr().err.startswith(f"tdprov verify: {told}")
    assert main(["show", run_id, "--store", store]) == 2
    assert capsys.readouterr().err == f"tdprov show: {told}"


def _told_sealed_then_missing(tmp_path: Path, run_id: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Verify and show of ``run_id`` in the store ``tmp_path/store`` say it was sealed (its one index entry) and its
    bundle is gone, with the fix to restore it."""
    store = str(tmp_path / "store")
    [entry] = [p.relative_to(tmp_path / "store").as_posix() for p in (tmp_path / "store" / "index").rglob(f"*{run_id}.json")]
    told = (f"no object of run {run_id}'s bundle is in {store}: sealed, then missing from the store: its index entry "
            f"({entry}) says its bundle was sealed, but bundles/{run_id}/ holds nothing. Fix: restore the bundle from a "
            "backup or replica of the store; 'tdprov audit' names this deletion and what else is missing\n")
    _verify_and_show_tell(store, run_id, told, capsys)


def test_verify_and_show_of_a_run_whose_index_entry_alone_is_left_say_it_was_sealed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A run whose index entry is all the store holds of it (its bundle and staged events removed): verify and show
    said its bundle may wait in the worker's spool, unlikely since the entry is written after the bundle, because the
    entry was looked for from the oldest staged event and none was left. The entry is found, and they say the run was
    sealed and its bundle is gone (restore it)."""
    import shutil

    from bundle_support import record_runs

    store = str(tmp_path / "store")
    (run_id,) = record_runs(store, 1)
    for folder in ("bundles", "staging"):
        shutil.rmtree(tmp_path / "store" / folder / run_id)
    _told_sealed_then_missing(tmp_path, run_id, capsys)


def test_a_missing_bundle_is_told_by_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """why_missing gave words, and verify chose its fix by the prefix 'not in the store' of them: of a run with nothing
    in the store, verify said "'tdprov audit' checks the store ..." before its own fix, which says it again. It gives a
    kind (sealed, staged, absent) with the words and the fix apart; verify and show say the words and their fix."""
    from prov_common.bundle.missing import why_missing
    from prov_common.cli.verify import missing_error
    from prov_common.store import open_store

    store = str(tmp_path / "store")
    (run_id,) = record_runs(store, 1)
    shutil.rmtree(tmp_path / "store" / "bundles" / run_id)
    opened = open_store(store)
    sealed = why_missing(opened, run_id)
    assert sealed.kind == "sealed" and sealed.said.startswith("sealed, then missing from the store: its index entry")
    assert main(["verify", run_id, "--store", store]) == 1
    assert capsys.readouterr().err.startswith(f"tdprov verify: no object of run {run_id}'s bundle is in {store}: {sealed}\n")
    for entry in (tmp_path / "store" / "index").rglob(f"*{run_id}.json"):
        entry.unlink()
    staged = why_missing(opened, run_id)
    assert staged.kind == "staged" and staged.fix == f"once the task has ended, seal it with 'tdprov store seal {run_id}'"
    assert main(["show", run_id, "--store", store]) == 2
    assert capsys.readouterr().err == f"tdprov show: no object of run {run_id}'s bundle is in {store}: {staged}\n"
    shutil.rmtree(tmp_path / "store" / "staging" / run_id)
    absent = why_missing(opened, run_id)
    assert absent.kind == "absent" and str(absent) == (
        "not in the store: the bundle may wait in the worker's spool ('tdprov flush' on that worker delivers it), or it "
        "was removed. Fix: 'tdprov audit' checks the store for runs that are missing or unsealed")
    assert str(missing_error(opened, run_id)) == (  # verify checks the id: it was typed
        f"no object of run {run_id}'s bundle is in {store}: {absent.said}. Fix: check the id with 'tdprov runs', then "
        "run 'tdprov flush' on that worker, or 'tdprov audit' (a run that was there and is gone is a finding: it names a "
        "logged run that was deleted)")


def test_verify_of_a_sealed_run_whose_bundle_is_gone_does_not_tell_to_run_verify_again(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """'tdprov verify RUN_ID' of a run sealed and since removed told its user to run 'tdprov verify RUN_ID' (what they
    had just run, saying the same) and 'tdprov audit'. Its fix is to restore the bundle, and the audit it names does
    name the deletion."""
    store = str(tmp_path / "store")
    (run_id,) = record_runs(store, 1)
    shutil.rmtree(tmp_path / "store" / "bundles" / run_id)
    assert main(["verify", run_id, "--store", store]) == 1
    told = capsys.readouterr().err.splitlines()[0]
    assert f"'tdprov verify {run_id}'" not in told
    assert told.endswith(" holds nothing. Fix: restore the bundle from a backup or replica of the store; 'tdprov audit' "
                         "names this deletion and what else is missing"), told
    assert main(["audit", "--store", store]) == 1
    assert f"error: bundles/{run_id}/: missing: no bundle objects for this run" in capsys.readouterr().out


def test_verify_of_a_run_whose_index_entry_and_a_staged_attachment_alone_are_left_says_it_was_sealed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A run whose bundle and staged events are removed, its index entry and a staged attachment left: with staged
    objects and no event among them, the index entry was not looked for, and verify and show said the run was not
    sealed (seal it: there is nothing to seal). The entry says it was sealed, as when nothing is staged."""
    from bundle_support import raw_put

    store = str(tmp_path / "store")
    (run_id,) = record_runs(store, 1)
    shutil.rmtree(tmp_path / "store" / "bundles" / run_id)
    for event in (tmp_path / "store" / "staging" / run_id).glob("*.json"):
        event.unlink()
    raw_put(store, f"staging/{run_id}/attachments/report.html", b"<p>report</p>")
    _told_sealed_then_missing(tmp_path, run_id, capsys)


def _only_an_attachment_left(tmp_path: Path, store: str, run_id: str) -> str:
    """``run_id`` with its bundle, staged events and index entry removed, a staged attachment left."""
    from bundle_support import raw_put

    for folder in ("bundles", "staging"):
        shutil.rmtree(tmp_path / "store" / folder / run_id)
    for entry in (tmp_path / "store" / "index").rglob(f"*{run_id}.json"):
        entry.unlink()
    raw_put(store, f"staging/{run_id}/attachments/report.html", b"<p>report</p>")
    return run_id


def test_the_audit_names_a_run_of_which_only_a_staged_attachment_is_left(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """A run of which only a staged attachment is left (no event, no index entry, no bundle) was passed over: the audit
    said it was clean, while 'tdprov verify RUN' said it was not sealed, with nothing to seal it from. The check of runs
    that never ended names it so, with verify's fix: a note while its newest staged object was stored within
    --stale-hours (its events may still come from a spool), an error after."""
    store = str(tmp_path / "store")
    run_id = _only_an_attachment_left(tmp_path, store, record_runs(store, 2)[-1])
    said = (f"staging/{run_id}/: run {run_id} is not sealed, and nothing to seal it from: no event of it is staged, only 1 "
            f"other object under staging/{run_id}/ (staging/{run_id}/attachments/report.html); its events may wait in the "
            "worker's spool, or were removed")
    fix = (f"      fix: run 'tdprov flush' on that worker, then, once the task has ended, 'tdprov store seal {run_id}'; if its "
           f"events were removed, restore staging/{run_id}/ from a backup or replica of the store\n")
    main(["audit", "--store", store, "--report", str(tmp_path / "r1")])
    out = capsys.readouterr().out
    assert f"[unfinished] note: {said} (its newest staged object was stored within 1 day, 0:00:00: its events may still be delivered)\n{fix}" in out, out
    assert main(["audit", "--store", store, "--report", str(tmp_path / "r2"), "--stale-hours", "0"]) == 1
    out = capsys.readouterr().out
    assert f"[unfinished] error: {said}\n{fix}" in out, out
    assert "fail  Runs that started and never ended" in out, out


def test_an_incomplete_bundle_with_only_a_staged_attachment_is_named_incomplete_not_told_to_be_sealed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A run whose bundle folder holds its files but no signed statement (a writer stopped while it wrote it), its staged
    events and index entry gone and a staged attachment left: the audit said "not sealed, and nothing to seal it from"
    and to seal it after a flush, as of a run with no bundle object, while 'tdprov verify' names the bundle incomplete.
    The audit names the folder incomplete too, and the fix moves it aside before a seal."""
    from bundle_support import raw_put
    from prov_common.bundle import layout

    store = str(tmp_path / "store")
    run_id = record_runs(store, 2)[-1]
    folder = tmp_path / "store" / "bundles" / run_id
    (folder / layout.STATEMENT_FILE).unlink()
    (folder / layout.INDEXED_FILE).unlink(missing_ok=True)
    held = len([p for p in folder.rglob("*") if p.is_file()])
    shutil.rmtree(tmp_path / "store" / "staging" / run_id)
    for entry in (tmp_path / "store" / "index").rglob(f"*{run_id}.json"):
        entry.unlink()
    raw_put(store, f"staging/{run_id}/attachments/report.html", b"<p>report</p>")
    assert main(["verify", run_id, "--store", store]) == 1
    assert "the bundle was never sealed (no signed statement: incomplete)" in capsys.readouterr().out
    assert main(["audit", "--store", store, "--report", str(tmp_path / "r"), "--stale-hours", "0"]) == 1
    out = capsys.readouterr().out
    assert "nothing to seal it from" not in out, out
    assert (f"[unfinished] error: staging/{run_id}/: run {run_id} is not sealed: its bundle folder bundles/{run_id}/ holds "
            f"{held} objects and no signed statement (incomplete), and nothing to seal it again from: no event of it is "
            f"staged, only 1 other object under staging/{run_id}/ (staging/{run_id}/attachments/report.html); its events "
            "may wait in the worker's spool, or were removed\n"
            "      fix: run 'tdprov flush' on its worker (it delivers a bundle spooled there); if its events were "
            f"removed, restore staging/{run_id}/ from a backup or replica of the store, move bundles/{run_id}/ aside and "
            f"seal the run ('tdprov store seal {run_id}'); if no writer of this store wrote the folder, find out who did, "
            "and remove it\n") in out, out


def test_a_run_of_which_only_a_staged_attachment_is_left_is_not_told_to_be_sealed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A run whose bundle, staged events and index entry are removed, a staged attachment left: verify and show said its
    events were staged and to seal it with 'tdprov store seal RUN', which refuses it (no event is staged, nothing to
    seal it from). They say that no event is staged, only the attachment, and where its events may be."""
    store = str(tmp_path / "store")
    run_id = _only_an_attachment_left(tmp_path, store, record_runs(store, 1)[0])
    told = (f"no object of run {run_id}'s bundle is in {store}: not sealed, and nothing to seal it from: no event of it "
            f"is staged, only 1 other object under staging/{run_id}/ (staging/{run_id}/attachments/report.html); its "
            f"events may wait in the worker's spool, or were removed. Fix: run 'tdprov flush' on that worker, then, once "
            f"the task has ended, 'tdprov store seal {run_id}'; if its events were removed, restore staging/{run_id}/ "
            "from a backup or replica of the store\n")
    _verify_and_show_tell(store, run_id, told, capsys)
    assert main(["store", "seal", run_id, "--store", store]) == 2  # what the fix names it once its events are staged
    assert capsys.readouterr().err.startswith(f"tdprov store seal: no events are staged for run {run_id} in {store}, "
                                              "so there is nothing to seal it from.")


def test_tdprov_debug_adds_the_traceback_of_a_refusal_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """README: exit 2 is one line naming the thing and the fix, never a traceback, and TDPROV_DEBUG=1 adds it. It was
    added only to an error no verb raised on purpose: a refusal (here, a store that does not exist) stayed one line."""
    store = str(tmp_path / "nope")
    assert main(["runs", "--store", store]) == 2
    quiet = capsys.readouterr().err
    assert "Traceback" not in quiet and quiet.startswith(f"tdprov runs: store {store} does not exist.")
    monkeypatch.setenv("TDPROV_DEBUG", "1")
    assert main(["runs", "--store", store]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):") and "BadInputError: store " in err
    assert err.endswith(quiet)  # the same line last


def test_tdprov_debug_adds_the_traceback_of_a_refusal_of_one_of_several_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """'tdprov hash A B' names a PATH that fails and goes on, as main() reports a failure: TDPROV_DEBUG=1 added the
    traceback of an unexpected error there, but not of a refusal (a JSON-lines line that is null), which stayed one
    line."""
    good, bad = tmp_path / "ok.csv", tmp_path / "bad.jsonl"
    good.write_text("a\n1\n")
    bad.write_text('{"a":1}\nnull\n')
    assert main(["hash", str(good), str(bad)]) == 2
    quiet = capsys.readouterr().err
    assert quiet.startswith(f"tdprov hash: cannot read {str(bad)!r} as jsonl: line 2: is not a JSON object.")
    monkeypatch.setenv("TDPROV_DEBUG", "1")
    assert main(["hash", str(good), str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):") and "BadInputError: cannot read " in err
    assert err.endswith(quiet)  # the same line last


def test_a_json_lines_file_pyarrow_cannot_parse_is_refused_naming_its_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """'tdprov hash' of a JSON-lines file cut inside a line said "as jsonl: JSON parse error: Invalid value. in row 1.":
    pyarrow's full stop stood inside the sentence, and its row counts from 0 within a chunk of lines. The line is named
    as the file numbers it, with the parser's reason, then the fix."""
    bad = tmp_path / "cut.jsonl"
    bad.write_text('{"a":1}\n\n{"a":\n')
    assert main(["hash", str(bad)]) == 2
    assert capsys.readouterr().err == (
        f"tdprov hash: cannot read {str(bad)!r} as jsonl: line 3: not valid JSON (parse error: premature EOF). "
        "Fix: check that the file is valid jsonl, or hash the file's bytes (tdprov hash --bytes).\n")


def test_a_long_word_in_brackets_is_cut_without_its_brackets() -> None:
    """A long word after '(' kept the bracket inside what was cut, counted in its size: '(bundles/r1/ppp… (70,013
    characters))' for a key of 70,012. The brackets stay outside, the size is the word's own."""
    from prov_common.text import cut_long_values

    key = "bundles/r1/" + "p" * 70_001
    assert cut_long_values(f"set aside ({key}): damaged") == f"set aside ({key[:149]}…{'p' * 50} (70,012 characters)): damaged"
    assert cut_long_values(f"(({key}") == f"(({key[:149]}…{'p' * 50} (70,012 characters)"


def test_a_long_argument_is_cut_in_every_refusal_and_its_size_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A 70,000-character argument was echoed whole in the refusal (a 70 KB line) of show, verify, lineage, record,
    hash and export -o, and of argparse's usage errors: it shows 200 characters of it, quoted or not, with its size,
    and the fix is whole."""
    store = tmp_path / "store"
    record_runs(str(store), 1)
    capsys.readouterr()
    long = "a" * 70_000
    word = f"{'a' * 149}…{'a' * 50} (70,000 characters)"
    quoted = f"'{word.replace(' (', chr(39) + ' (')}"
    at = ["--store", str(store)]
    for argv, said in (
        (["show", long, *at], f"tdprov show: run id {quoted} cannot name a bundle. Fix: use the OpenLineage run.runId (a UUID) of the run"),
        (["verify", long, *at], f"tdprov verify: run id {quoted} cannot name a bundle. Fix: use the OpenLineage run.runId (a UUID) of the run"),
        (["lineage", long, *at], f"tdprov lineage: no dataset or version {quoted} in the recorded runs of {store} (1 bundle). "
                                 f"Fix: give {VERSION_FORMS}"),
        (["record", long, *at], f"tdprov record: no dataset or version {quoted} in the recorded runs. Fix: give {VERSION_FORMS}"),
        (["hash", long], f"tdprov hash: cannot use {word}: File name too long. Fix: check the path and its permissions"),
        (["export", "-o", long, *at], f"tdprov export: cannot use {word}: File name too long. Fix: check the path and its permissions"),
        (["show", "x", long, *at], f"tdprov show: error: unrecognized arguments: {word}. Fix: run 'tdprov show --help' for the options "
                              "and an example."),
    ):
        assert (_usage_error(argv) if argv[1] == "x" else main(argv)) == 2
        out, err = capsys.readouterr()
        assert out == "" and err == said + "\n", argv



def test_verify_with_trusted_keys_that_hold_no_key_says_so_not_that_none_are_configured(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A --trusted-keys folder holding no public key trusts nothing, so every bundle fails; the summary said 'no
    trusted keys configured (set TDPROV_TRUSTED_KEYS)', wrong when they are set: it names what was given."""
    store = str(tmp_path / "store")
    Pipeline(store)
    empty = tmp_path / "keys"
    empty.mkdir()
    capsys.readouterr()
    assert main(["verify", "--store", store, "--trusted-keys", str(empty)]) == 1
    err = capsys.readouterr().err
    assert f"no trusted key: the trusted keys named ({empty}, by --trusted-keys or TDPROV_TRUSTED_KEYS) hold no .pub" in err, err
    assert "no trusted keys configured" not in err
