"""docs/prov-mapping.md stays true: its worked example is what the code produces, its query runs."""
from __future__ import annotations

import json
import re
from pathlib import Path

import rdflib
import pytest

from prov_common.w3cprov import deserialize, events_to_document, ids, serialize

# prov's RDF serialiser uses an rdflib API that rdflib deprecates; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:Dataset.default_context is deprecated:DeprecationWarning")

DOC = (Path(__file__).resolve().parents[1] / "docs" / "prov-mapping.md").read_text()


def block(language: str, holding: str = "") -> str:
    """The one ``language`` block of the doc that holds ``holding``."""
    found = [b for b in re.findall(rf"```{language}\n(.*?)```", DOC, flags=re.S) if holding in b]
    assert len(found) == 1, f"expected one {language} block holding {holding!r}"
    return found[0]


def test_worked_example_matches_the_code(ol_validator) -> None:
    events = [json.loads(line) for line in block("jsonl").splitlines() if line.strip()]
    for event in events:
        ol_validator.validate_event(event)
    provn = serialize(events_to_document(events), "provn").decode()
    assert provn == block("provn")
    assert deserialize(provn.encode(), "provn") == events_to_document(events)


def test_documented_query_finds_the_failed_version() -> None:
    events = [json.loads(line) for line in block("jsonl").splitlines() if line.strip()]
    graph = rdflib.Graph().parse(data=serialize(events_to_document(events), "ttl"), format="turtle")
    rows = {(str(v).rsplit("#", 1)[1], str(c)) for v, c in graph.query(block("sparql", "dqv:QualityMeasurement"))}
    clean = ids.generation_local("file", "/data/clean.parquet", "blake3:9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d5e4f30211203f4e5d6c7b8a9",
                                 "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")
    assert rows == {(clean, "greater_than_or_equal_to(18)"), (clean, "pandera:People")}
