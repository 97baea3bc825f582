"""Runs as users type them: ``tdprov runs --job`` lists the runs of one job, by its name or as ``runs`` prints it
(``NAMESPACE/NAME``)."""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from prov_common.cli import main
from prov_common.store import open_store
from prov_common.store.base import Store
from test_audit_support import T0, dataset, digest, run_events, seal


def _listed(argv: list[str], capsys: pytest.CaptureFixture) -> list[dict]:
    assert main(argv) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def _seal_job(target: Store, namespace: str, name: str, minutes: int) -> str:
    events = run_events(name, [], [dataset(f"/data/{namespace}-{name}.csv", digest(name))], start=T0 + timedelta(minutes=minutes))
    for event in events:
        event["job"]["namespace"] = namespace
    return seal(target, events)


def test_runs_of_one_job_are_listed_by_its_name_or_namespace_and_name(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    store = str(tmp_path / "store")
    target = open_store(store)
    old = _seal_job(target, "tests", "prepare", 0)
    other = _seal_job(target, "nightly", "prepare", 1)
    newest = _seal_job(target, "tests", "train", 2)
    assert [s["runId"] for s in _listed(["runs", "--json", "--store", store], capsys)] == [newest, other, old]
    assert [s["runId"] for s in _listed(["runs", "--job", "prepare", "--json", "--store", store], capsys)] == [other, old]
    assert [s["runId"] for s in _listed(["runs", "--job", "tests/prepare", "--json", "--store", store], capsys)] == [old]
    # --limit counts the runs of the job: the run sealed last is another job's
    assert main(["runs", "--job", "prepare", "--limit", "1", "--json", "--store", store]) == 0
    captured = capsys.readouterr()
    assert [s["runId"] for s in json.loads(captured.out)] == [other], captured.out
    assert "the 1 run of job 'prepare' sealed last; there are more" in captured.err, captured.err
    assert main(["runs", "--job", "tests/prepare", "--store", store]) == 0
    out = capsys.readouterr().out
    assert old in out and other not in out and newest not in out and "tests/prepare" in out, out
    assert main(["runs", "--job", "prepar", "--store", store]) == 2
    err = capsys.readouterr().err
    assert f"no run of job 'prepar' is indexed in {store}" in err and f"'tdprov runs --store {store}'" in err, err
