"""The suite's OpenLineage validator checks formats (uri, date-time, uuid), and needs nothing beside the clone."""
from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import ol_validate

TESTS = Path(__file__).resolve().parent
SPEC = TESTS.parent / "common" / "schemas" / "openlineage"
FACETS = "https://openlineage.io/spec/facets"

GOOD = {
    "eventType": "COMPLETE",
    "eventTime": "2026-03-01T12:00:00.123456+00:00",
    "producer": "https://example.org/producer",
    "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
    "run": {"runId": "0195f1a6-5b7e-7c1a-9d3e-2f4a5b6c7d8e", "facets": {}},
    "job": {
        "namespace": "airflow-prod",
        "name": "etl.load",
        "facets": {
            "sourceCodeLocation": {
                "_producer": "https://example.org/producer",
                "_schemaURL": f"{FACETS}/1-0-1/SourceCodeLocationJobFacet.json#/$defs/SourceCodeLocationJobFacet",
                "type": "git",
                "url": "https://git.example.org/team/etl.git",
                "version": "0" * 40,
            }
        },
    },
    "inputs": [{"namespace": "s3://raw", "name": "orders.csv", "facets": {}}],
    "outputs": [],
}


def test_the_spec_copy_is_complete_and_carries_its_licence() -> None:
    assert "Apache License" in (SPEC / "LICENSE").read_text()
    facets = {p.stem for p in (SPEC / "facets").glob("*.json")}
    assert {"SourceCodeLocationJobFacet", "SymlinksDatasetFacet", "DatasetVersionDatasetFacet", "ParentRunFacet"} <= facets
    assert json.loads((SPEC / "OpenLineage.json").read_text())["$id"] == ol_validate.CORE_ID


OUTSIDE = re.compile(r"""\.\./shared|/\s*["']shared["']|["']shared["']\s*/|/work/""")


def test_no_test_reads_outside_the_clone() -> None:
    offenders = [str(p.relative_to(TESTS)) for p in TESTS.rglob("*.py") if p != Path(__file__).resolve() and OUTSIDE.search(p.read_text())]
    assert offenders == []
    assert OUTSIDE.search('SPEC = REPO.parent / "shared" / "openlineage-spec"')  # the check can fail


def test_a_valid_event_passes() -> None:
    assert ol_validate.event_problems(GOOD) == []


@pytest.mark.parametrize(
    ("where", "mutate"),
    [
        ("sourceCodeLocation/url", lambda e: e["job"]["facets"]["sourceCodeLocation"].update(url="/srv/repos/etl")),
        ("sourceCodeLocation: _schemaURL", lambda e: e["job"]["facets"]["sourceCodeLocation"].update(_schemaURL="SourceCodeLocationJobFacet.json")),
        ("RunEvent/schemaURL", lambda e: e.update(schemaURL="OpenLineage.json#/$defs/RunEvent")),
        ("RunEvent/producer", lambda e: e.update(producer="my producer")),
        ("RunEvent/eventTime", lambda e: e.update(eventTime="2026-03-01 12:00")),
        ("RunEvent/eventTime", lambda e: e.update(eventTime="2026-03-01T12:00:00")),  # RFC 3339 needs an offset
        ("RunEvent/run/runId", lambda e: e["run"].update(runId="run-1")),
    ],
)
def test_formats_are_checked(where: str, mutate) -> None:
    event = copy.deepcopy(GOOD)
    mutate(event)
    problems = ol_validate.event_problems(event)
    assert any(p.startswith(where) or where in p for p in problems), problems
    with pytest.raises(ol_validate.EventInvalid):
        ol_validate.validate_event(event)


def test_custom_facets_are_checked_against_tdprov_schemas() -> None:
    from prov_common.hashing import FileDigest
    from prov_common.lineage import DatasetRef, build_run_event, event_to_dict

    event = event_to_dict(build_run_event(
        "COMPLETE", run_id=GOOD["run"]["runId"], job_name="j",
        outputs=[DatasetRef("s3://b", "m.bin", digest=FileDigest("blake3:" + "4" * 64, 9))],
    ))
    assert ol_validate.event_problems(event, custom_schemas=True) == []
    event["outputs"][0]["facets"]["tdprov_contentHash"]["kind"] = "blob"
    assert ol_validate.event_problems(event) == []  # the spec alone does not know tdprov's facets
    assert any("tdprov_contentHash" in p and "blob" in p for p in ol_validate.event_problems(event, custom_schemas=True))


def test_cli_runs_from_a_plain_clone(tmp_path: Path) -> None:
    bad = copy.deepcopy(GOOD)
    bad["eventTime"] = "yesterday"
    (tmp_path / "events.jsonl").write_text(json.dumps(GOOD) + "\n" + json.dumps(bad) + "\n")
    done = subprocess.run([sys.executable, str(TESTS / "ol_validate.py"), str(tmp_path)], capture_output=True, text=True, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 valid, 1 invalid" in done.stdout and "events.jsonl:2" in done.stdout and "eventTime" in done.stdout
