"""Whatever a producer sends, conversion either works or fails with BadInputError; never another exception."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prov_common.errors import BadInputError
from prov_common.w3cprov import FORMATS, events_to_document, lineage_graph, serialize

# prov's RDF serialiser uses an rdflib API that rdflib deprecates; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:Dataset.default_context is deprecated:DeprecationWarning")

EVENTS = Path(__file__).parent / "data" / "ol_events"
SAMPLE = [json.loads(line) for p in sorted(EVENTS.glob("*.jsonl")) for line in p.read_text().splitlines() if line.strip()]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)


def _paths(value, prefix=()):
    """Every (container path, key) in a JSON value."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield prefix, key
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield prefix, index
            yield from _paths(item, (*prefix, index))


def _at(value, path):
    for key in path:
        value = value[key]
    return value


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_events_convert_or_fail_cleanly(data) -> None:
    events = copy.deepcopy(SAMPLE)
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(events) - 1))
        path, key = data.draw(st.sampled_from(list(_paths(events[index]))))
        container = _at(events[index], path)
        if data.draw(st.booleans()) and isinstance(container, dict):
            del container[key]
        else:
            container[key] = data.draw(json_values)
    try:
        document = events_to_document(events)
    except BadInputError as exc:
        assert exc.fix and "event #" in str(exc) or "no OpenLineage" in str(exc)
        return
    lineage_graph(document)
    for fmt in FORMATS:
        assert serialize(document, fmt)


def test_text_that_xml_cannot_hold_is_replaced() -> None:
    from xml.etree import ElementTree

    from prov_common.w3cprov import deserialize, render_svg

    events = copy.deepcopy(SAMPLE[:2])
    events[1]["outputs"][0]["name"] = "bad\x01name\ud800"
    events[1]["run"]["facets"]["errorMessage"] = {"message": "x\x00y"}
    document = events_to_document(events)
    for fmt in FORMATS:
        assert deserialize(serialize(document, fmt), fmt) == document
    assert "bad\ufffdname\ufffd" in serialize(document, "provn").decode()
    ElementTree.fromstring(render_svg(lineage_graph(document)))


@pytest.mark.parametrize("status", [[], {"x": 1}, 3, None])
def test_test_facet_with_a_non_text_status_converts(status) -> None:
    event = copy.deepcopy(next(e for e in SAMPLE if e.get("eventType") == "COMPLETE"))
    event["run"].setdefault("facets", {})["test"] = {
        "_producer": "https://example.com", "_schemaURL": "https://example.com/s.json",
        "tests": [{"name": "rows_positive", "status": status}],
    }
    document = events_to_document([event])
    assert b"rows_positive" in serialize(document, "json")
