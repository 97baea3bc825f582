"""What the CLI says when the input is wrong or the result needs words: an empty or mistyped store, a run id
that names no bundle, a relative path or a bare digest, a mistyped option, and the audit's summary line."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bundle_support import run_events
from test_audit_support import Pipeline
from prov_common.bundle.transport import ProvenanceConfig, ProvenanceTransport
from prov_common.cli import main


def _record(store_uri: str, count: int) -> list[str]:
    transport = ProvenanceTransport(ProvenanceConfig(store=store_uri, strict=True))
    run_ids = []
    for _ in range(count):
        for e in run_events():
            transport.emit(e)
        run_ids.append(e["run"]["runId"])
    return run_ids


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
    assert _files(store) == []  # no report, no audit record, no log
    assert main(["audit", "--store", str(store), "--report", str(tmp_path / "rep")]) == 2
    assert not (tmp_path / "rep").exists() and _files(store) == []


def test_audit_of_a_mistyped_s3_prefix_is_bad_input_and_writes_nothing(s3_server, s3_store_uri: str,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    _record(s3_store_uri, 1)
    typo = s3_store_uri + "d"
    assert main(["audit", "--store", typo, "--quiet"]) == 2
    assert f"no runs in {typo}: is this the store your pipelines write to?" in capsys.readouterr().err
    bucket, _, prefix = typo[len("s3://"):].partition("/")
    listed = s3_server.client().list_objects_v2(Bucket=bucket, Prefix=prefix + "/")
    assert listed.get("KeyCount", 0) == 0  # nothing written under the typo
    assert main(["audit", "--store", s3_store_uri, "--quiet"]) == 1  # the right prefix is audited (its input has no source)
    assert "; log size 1;" in capsys.readouterr().out


def test_first_audit_says_so_and_a_log_without_new_runs_still_audits_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "store")
    Pipeline(store)  # two runs, their source registered
    assert main(["audit", "--store", store]) == 0
    out = capsys.readouterr().out
    assert out.startswith("First audit of this store by this auditor (none remembered): 2 bundle(s)"), out
    assert "new since the last audit" not in out
    assert main(["audit", "--store", store]) == 0  # a log and no new run: clean, as before
    out = capsys.readouterr().out
    assert out.startswith("Incremental audit: 0 bundle(s) new since the last audit were examined now"), out
    assert "\naudit clean; log size 2;" in out


def test_a_store_emptied_after_an_audit_is_a_finding_not_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "store"
    Pipeline(str(store))
    assert main(["audit", "--store", str(store), "--quiet"]) == 0
    shutil.rmtree(store)
    store.mkdir()
    assert main(["audit", "--store", str(store), "--quiet", "--report", str(tmp_path / "rep")]) == 1  # the auditor remembers a log
    assert "no runs in" not in capsys.readouterr().err
