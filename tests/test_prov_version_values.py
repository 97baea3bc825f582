"""A ``version`` facet whose ``datasetVersion`` is blank or neither text nor a whole number (an object, a list, a decimal, a
boolean, null: any producer can send one) gives no version; ``tdprov prov`` and ``tdprov graph`` say so, naming the
file, the line and the field, where they said nothing."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from prov_common.cli import main

RUN = "018cc251-f400-7e09-851b-637cdaa232ae"


def _dataset(name: str, version: Any) -> dict[str, Any]:
    return {"namespace": "s3://b", "name": name, "facets": {"version": {
        "_producer": "https://example.invalid/p", "datasetVersion": version,
        "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet"}}}


def _events(tmp_path: Path) -> Path:
    """A START and a COMPLETE of one run: an input whose version is an object, an output whose version is a decimal,
    and an input whose version is a whole number (read as its text, as always)."""
    common = {"producer": "https://example.invalid/p", "run": {"runId": RUN}, "job": {"namespace": "default", "name": "x.t"},
              "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"}
    start = {**common, "eventType": "START", "eventTime": "2026-01-01T00:00:00Z"}
    complete = {**common, "eventType": "COMPLETE", "eventTime": "2026-01-01T00:00:01Z",
                "inputs": [_dataset("in", {"id": 7}), _dataset("delta", 3)], "outputs": [_dataset("out", 1.5)]}
    file = tmp_path / "events.jsonl"
    file.write_text(json.dumps(start) + "\n" + json.dumps(complete) + "\n")
    return file


def test_prov_names_a_dataset_version_that_is_no_text(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    file = _events(tmp_path)
    assert main(["prov", str(file), "-f", "provn", "-o", str(tmp_path / "p.provn")]) == 0
    err = capsys.readouterr().err
    assert ("tdprov prov: warning: 2 datasets have a version facet whose datasetVersion is blank or neither a string nor a "
            f'whole number, so they are stated without that version: {file} line 2 inputs.0.facets.version.datasetVersion is '
            f'{{"id": 7}}, {file} line 2 outputs.0.facets.version.datasetVersion is 1.5. Fix: ') in err, err
    assert "send datasetVersion as a string" in err, err
    provn = (tmp_path / "p.provn").read_text()
    assert 'tdprov:version="3"' in provn  # a whole number is the version it names, as before
    assert provn.count("tdprov:DatasetVersion") == 1, provn


def test_graph_names_a_dataset_version_that_is_no_text(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    file = _events(tmp_path)
    assert main(["graph", str(file), "-o", str(tmp_path / "g.dot")]) == 0
    err = capsys.readouterr().err
    assert err.count("tdprov graph: warning: 2 datasets have a version facet whose datasetVersion") == 1, err
    assert f'{file} line 2 inputs.0.facets.version.datasetVersion is {{"id": 7}}' in err, err


def test_text_and_whole_number_versions_are_not_named(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Text, and a whole number in a version facet that names no official schema (which sealing takes as it is)."""
    file = tmp_path / "events.jsonl"
    own = _dataset("b", 2)
    own["facets"]["version"]["_schemaURL"] = "https://example.invalid/VersionFacet.json"
    event = {"producer": "https://example.invalid/p", "run": {"runId": RUN}, "job": {"namespace": "default", "name": "x.t"},
             "eventType": "COMPLETE", "eventTime": "2026-01-01T00:00:01Z",
             "inputs": [_dataset("a", "v1"), own], "outputs": []}
    file.write_text(json.dumps(event) + "\n")
    assert main(["prov", str(file), "-o", str(tmp_path / "p.json")]) == 0
    assert "warning" not in capsys.readouterr().err


@pytest.mark.parametrize("verb", ["prov", "graph"])
def test_a_whole_number_version_that_sealing_refuses_is_named(tmp_path: Path, capsys: pytest.CaptureFixture, verb: str) -> None:
    """A whole-number ``datasetVersion`` in a facet that names the official DatasetVersionDatasetFacet schema, which asks
    for a string, was taken as version "3" without a word, where sealing a bundle refuses the event for it: both now
    name it, ``tdprov prov`` and ``tdprov graph`` by file, line and field, with the fix; the version it writes is
    unchanged."""
    file = _events(tmp_path)
    out = tmp_path / ("p.json" if verb == "prov" else "g.dot")
    assert main([verb, str(file), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert (f"tdprov {verb}: warning: 1 dataset has a version facet that names the DatasetVersionDatasetFacet schema with "
            "a whole-number datasetVersion, stated here as that number's text, which sealing a bundle refuses (the schema "
            f"asks for a string): {file} line 2 inputs.1.facets.version.datasetVersion is 3. Fix: make the producer send "
            'datasetVersion as a string (3 as "3"), as the OpenLineage DatasetVersionDatasetFacet defines it') in err, err
    if verb == "prov":
        assert '"tdprov:version":"3"' in out.read_text()  # the version it writes, as before


@pytest.mark.parametrize(("blank", "shown"), [("", '""'), ("  ", '" "')])  # a warning's runs of blanks print as one
def test_prov_names_a_blank_dataset_version(tmp_path: Path, capsys: pytest.CaptureFixture, blank: str, shown: str) -> None:
    """A blank ``datasetVersion`` gives no version, as one that is no text does, but ``tdprov prov`` said nothing of it."""
    file = tmp_path / "events.jsonl"
    event = {"producer": "https://example.invalid/p", "run": {"runId": RUN}, "job": {"namespace": "default", "name": "x.t"},
             "eventType": "COMPLETE", "eventTime": "2026-01-01T00:00:01Z",
             "inputs": [_dataset("a", blank), _dataset("b", "v1")], "outputs": []}
    file.write_text(json.dumps(event) + "\n")
    assert main(["prov", str(file), "-f", "provn", "-o", str(tmp_path / "p.provn")]) == 0
    err = capsys.readouterr().err
    assert ("tdprov prov: warning: 1 dataset has a version facet whose datasetVersion is blank or neither a string nor a "
            f"whole number, so it is stated without that version: {file} inputs.0.facets.version.datasetVersion "
            f"is {shown}. Fix: ") in err, err
    assert (tmp_path / "p.provn").read_text().count("tdprov:DatasetVersion") == 1  # v1 alone
