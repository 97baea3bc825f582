"""An auditor with read access only: ``tdprov audit --read-only --report DIR`` checks the store as it is and writes
nothing into it; a writing audit on a store it cannot write, or with a key whose audit objects would not count, is
refused before it does the work; and an auditor without the team's key is told so once, up front."""
from __future__ import annotations

import hashlib
import os
import json
import re
from datetime import timedelta
from pathlib import Path

import pytest

from mount_support import read_only
from test_audit_support import T0, Pipeline, dataset, run_events, seal
from prov_common.audit import run_audit
from prov_common.audit.memory import memory_path
from prov_common.audit.publish import PROV_PAYLOAD_TYPE
from prov_common.cli import main
from prov_common.config import Settings
from prov_common.errors import BadInputError
from prov_common.signing import default_signing_key, load_public_key, open_envelope
from prov_common.signing.keyfiles import default_key_path, public_path_for
from prov_common.signing.trust import TrustStore
from prov_common.store import open_store


def snapshot(uri: str) -> dict[str, str]:
    """Every object of the store with the SHA-256 of its bytes."""
    store = open_store(uri)
    return {key: hashlib.sha256(store.get(key)).hexdigest() for key in store.list("")}


class Team:
    """A team's store: a source, two runs, audited (a log of 2) by the team, then one more run sealed since."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, uri: str | None = None) -> None:
        self.home = tmp_path / "team-home"
        self.home.mkdir()
        monkeypatch.setenv("TDPROV_HOME", str(self.home))
        self.uri = uri or str(tmp_path / "store")
        self.pipe = Pipeline(self.uri)
        self.key = default_signing_key()
        self.pub = public_path_for(default_key_path(self.home))
        assert run_audit(self.pipe.store, Settings.from_env(store=self.uri), progress=False).clean
        self.late = seal(self.pipe.store, run_events("prepare_more", [dataset(self.pipe.raw_name, self.pipe.raw)],
                                                     [dataset("/data/more.parquet", self.pipe.features)], start=T0 + timedelta(hours=2)))

    def audit(self, monkeypatch: pytest.MonkeyPatch):
        monkeypatch.setenv("TDPROV_HOME", str(self.home))
        monkeypatch.delenv("TDPROV_TRUSTED_KEYS", raising=False)
        monkeypatch.delenv("TDPROV_AUDITOR_KEYS", raising=False)
        return run_audit(open_store(self.uri), Settings.from_env(store=self.uri), progress=False)


def outside_auditor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, team: Team, name: str = "auditor") -> Path:
    """An auditor of another party: a home of its own, trusting the team's public key."""
    home = tmp_path / f"{name}-home"
    home.mkdir()
    monkeypatch.setenv("TDPROV_HOME", str(home))
    monkeypatch.setenv("TDPROV_TRUSTED_KEYS", str(team.pub))
    return home


def test_read_only_audit_writes_nothing_into_the_store_and_its_report_and_record_to_dir(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    team = Team(tmp_path, monkeypatch)
    home = outside_auditor(tmp_path, monkeypatch, team)
    before = snapshot(team.uri)
    capsys.readouterr()

    report = tmp_path / "report"
    assert main(["audit", "--read-only", "--report", str(report), "--store", team.uri]) == 0
    out = capsys.readouterr().out
    assert "1 bundle not yet logged: examined, not logged (read-only audit)" in out, out
    assert "\naudit clean; log size 2;" in out  # the log as it is: the store's newest checkpoint
    assert snapshot(team.uri) == before  # no checkpoint, state, catalog, lookup, inventory, record or report
    assert sorted(p.name for p in report.iterdir()) == ["audit.prov.dsse.json", "report.html", "report.json"]
    # the audit's signed record names the report in DIR, signed with this auditor's own key
    own = TrustStore()
    own.add(load_public_key(public_path_for(default_key_path(home))))
    record = open_envelope((report / "audit.prov.dsse.json").read_bytes(), own, PROV_PAYLOAD_TYPE).payload
    assert str(report / "report.json").encode() in record
    assert json.loads((report / "report.json").read_text())["readOnly"] is True
    # the auditor's memory (TDPROV_HOME) keeps the checkpoint it verified
    remembered = json.loads(memory_path(team.uri, home).read_text())
    assert remembered["checkpoint"]["size"] == 2

    # again: clean, and still nothing written; then the team's audit logs the new run and stays clean
    assert main(["audit", "--read-only", "--report", str(tmp_path / "report2"), "--store", team.uri]) == 0
    assert snapshot(team.uri) == before
    again = team.audit(monkeypatch)
    assert again.clean, [f.what for f in again.errors]
    assert again.checkpoint.checkpoint.size == 3
    # the outside auditor follows the log from what it remembered
    outside_auditor(tmp_path, monkeypatch, team, "auditor-again").rmdir()  # (only to reset the environment)
    monkeypatch.setenv("TDPROV_HOME", str(home))
    capsys.readouterr()
    assert main(["audit", "--read-only", "--report", str(tmp_path / "report3"), "--store", team.uri]) == 0
    out = capsys.readouterr().out
    assert "not yet logged" not in out and "\naudit clean; log size 3;" in out
    assert json.loads(memory_path(team.uri, home).read_text())["checkpoint"]["size"] == 3


def test_read_only_audit_finds_a_rolled_back_log_against_its_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    team = Team(tmp_path, monkeypatch)
    team.audit(monkeypatch)  # log of 3
    outside_auditor(tmp_path, monkeypatch, team)
    settings = Settings.from_env(store=team.uri)
    first = run_audit(open_store(team.uri), settings, read_only=True, report_dir=tmp_path / "r1", progress=False)
    assert first.clean and first.checkpoint.checkpoint.size == 3
    (Path(team.uri) / "log" / "checkpoints" / f"{3:012d}.json").unlink()  # roll the log back to 2
    before = snapshot(team.uri)
    second = run_audit(open_store(team.uri), settings, read_only=True, report_dir=tmp_path / "r2", progress=False)
    assert not second.clean and any(f.check == "log" for f in second.errors), [f.what for f in second.errors]
    assert snapshot(team.uri) == before


def test_read_only_needs_report_and_refuses_accept_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    team = Team(tmp_path, monkeypatch)
    outside_auditor(tmp_path, monkeypatch, team)
    before = snapshot(team.uri)
    capsys.readouterr()
    assert main(["audit", "--read-only", "--store", team.uri]) == 2
    err = capsys.readouterr().err
    assert "--read-only" in err and "--report DIR" in err
    assert main(["audit", "--read-only", "--report", str(tmp_path / "r"), "--accept-checkpoint", "--reason", "x",
                 "--store", team.uri]) == 2
    assert "--accept-checkpoint" in capsys.readouterr().err
    with pytest.raises(BadInputError, match="report_dir"):
        run_audit(open_store(team.uri), Settings.from_env(store=team.uri), read_only=True, progress=False)
    assert snapshot(team.uri) == before


def test_a_store_the_audit_cannot_write_is_refused_before_the_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """A store whose ``audit/`` cannot be written (a read-only mount as root, which writes through chmod)."""
    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "home"))
    uri = str(tmp_path / "store")
    Pipeline(uri)
    (Path(uri) / "audit").mkdir()
    before = snapshot(uri)
    capsys.readouterr()
    with read_only(Path(uri) / "audit"):
        assert main(["audit", "--store", uri]) == 2
    out, err = capsys.readouterr()
    assert out == ""  # nothing was examined or printed before the refusal
    assert f"cannot write to the store {uri}" in err, err
    assert "log/ and audit/" in err and "--read-only --report DIR" in err and "docs/iam/tdprov-auditor.json" in err
    assert snapshot(uri) == before and not (Path(uri) / "log").exists()
    # the read-only audit of the same store works
    assert main(["audit", "--read-only", "--report", str(tmp_path / "r"), "--store", uri]) == 0
    assert snapshot(uri) == before


def test_a_writing_audit_with_a_key_whose_objects_would_not_count_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                             capsys: pytest.CaptureFixture[str]) -> None:
    team = Team(tmp_path, monkeypatch)
    home = outside_auditor(tmp_path, monkeypatch, team)
    own = default_signing_key()
    before = snapshot(team.uri)
    capsys.readouterr()
    assert main(["audit", "--report", str(tmp_path / "r"), "--store", team.uri]) == 2
    out, err = capsys.readouterr()
    assert out == "" and not (tmp_path / "r").exists()
    assert own.key_id in err and "later audits would call what it writes untrusted" in err, err
    assert "TDPROV_AUDITOR_KEYS" in err and "TDPROV_SIGNING_KEY" in err and "--read-only --report DIR" in err
    assert snapshot(team.uri) == before
    # with its key among the auditor keys (and the team's), the audit writes and its second audit is clean
    monkeypatch.setenv("TDPROV_AUDITOR_KEYS", os.pathsep.join([str(team.pub), str(public_path_for(default_key_path(home)))]))
    assert main(["audit", "--quiet", "--report", str(tmp_path / "r1"), "--store", team.uri]) == 0, capsys.readouterr()
    assert main(["audit", "--quiet", "--report", str(tmp_path / "r2"), "--store", team.uri]) == 0, capsys.readouterr()


def test_untrusted_signer_is_named_once_and_completeness_points_at_the_unverified_source(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    team = Team(tmp_path, monkeypatch)
    monkeypatch.setenv("TDPROV_HOME", str(tmp_path / "stranger"))  # no TDPROV_TRUSTED_KEYS: the team's key is not trusted
    capsys.readouterr()
    report = tmp_path / "report"
    assert main(["audit", "--read-only", "--report", str(report), "--store", team.uri]) == 1
    out = capsys.readouterr().out
    line = (f"3 bundles are signed by key {team.key.key_id}, which is not trusted here; if you trust it, add its public key "
            "to TDPROV_TRUSTED_KEYS")
    assert out.splitlines()[0] == line, out
    fixes = re.findall(r"\[completeness\] error: .*\n      fix: (.*)", out)
    assert fixes and all(f.startswith("a source record names this digest but does not verify: see the sources check") for f in fixes), fixes
    assert "register the origin" not in out
    assert line in (report / "report.html").read_text()


def test_an_auditor_that_also_audits_read_only_keeps_one_inventory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The team's auditor, between its writing audits, audits read-only: its inventory moves into the memory file and
    back into the store's objects, and every audit stays clean (nothing forgotten, nothing reported twice)."""
    team = Team(tmp_path, monkeypatch)
    settings = Settings.from_env(store=team.uri)
    path = memory_path(team.uri, team.home)
    assert "runs" not in json.loads(path.read_text()) and json.loads(path.read_text())["inventory"]
    read_only = run_audit(open_store(team.uri), settings, read_only=True, report_dir=tmp_path / "r", progress=False)
    assert read_only.clean, [f.what for f in read_only.errors]
    kept = json.loads(path.read_text())
    assert kept["inventory"] == [] and team.pipe.prepare in kept["runs"] and team.late not in kept["runs"]
    for _ in ("logs the late run", "and again"):
        writing = team.audit(monkeypatch)
        assert writing.clean, [f.what for f in writing.errors]
    saved = json.loads(path.read_text())
    assert "runs" not in saved and saved["inventory"] and writing.checkpoint.checkpoint.size == 3


def test_a_read_only_store_refuses_a_write_through_put_listed(tmp_path: Path) -> None:
    """A read-only audit's store refused put, put_file and check_writable, but put_listed (the write that tells the
    object's fingerprint) went through to the store: it is refused alike, and nothing is written."""
    from prov_common.audit.access import ReadOnlyStore
    from prov_common.errors import StoreError
    from prov_common.store import open_store

    store = ReadOnlyStore(open_store(str(tmp_path / "store")))
    with pytest.raises(StoreError, match="a read-only audit writes nothing"):
        store.put_listed("audit/x.json", b"{}")
    assert not (tmp_path / "store" / "audit").exists()
