"""CLI details owned by the shell: `export --training-record` is `record`; the audit prints openable paths."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from prov_common.cli import EXIT_BAD_INPUT, main

from test_audit_support import Pipeline


@pytest.fixture()
def pipe(tmp_path: Path) -> Pipeline:
    return Pipeline(str(tmp_path / "store"))


@pytest.mark.parametrize("fmt", ["dta", "croissant"])
def test_export_training_record_equals_record(pipe: Pipeline, capsys: pytest.CaptureFixture, fmt: str) -> None:
    assert main(["record", pipe.features, "--format", fmt, "--store", pipe.store.uri]) == 0
    expected = json.loads(capsys.readouterr().out)
    assert main(["export", "--training-record", pipe.features, "--format", fmt, "--store", pipe.store.uri]) == 0
    assert json.loads(capsys.readouterr().out) == expected


def test_export_rejects_mixed_formats(pipe: Pipeline, capsys: pytest.CaptureFixture) -> None:
    assert main(["export", "--format", "croissant", "--store", pipe.store.uri]) == EXIT_BAD_INPUT
    assert "--training-record" in capsys.readouterr().err
    assert main(["export", "--training-record", pipe.features, "--format", "ttl", "--store", pipe.store.uri]) == EXIT_BAD_INPUT
    assert "--format dta" in capsys.readouterr().err


def test_audit_prints_the_report_path_inside_a_local_store(pipe: Pipeline, capsys: pytest.CaptureFixture) -> None:
    main(["audit", "--quiet", "--store", pipe.store.uri])
    line = capsys.readouterr().out.strip().splitlines()[-1]
    html = line.split("report: ", 1)[1].split(" (", 1)[0]
    assert Path(html).is_absolute() and Path(html).is_file(), line
    assert Path(html).read_text().lstrip().lower().startswith("<!doctype html")


