"""Signed bundles of events of odd shapes through every reader of the CLI.

A key holder (a stolen key, a producer whose staged events were sealed as they came) can sign a bundle whose
events hold any JSON: each is a run's valid events with one field replaced by a value of another shape. ``verify``,
``show --json``, ``export --verified``, ``lineage --json``, ``runs --verified`` and ``audit`` each finish with a verdict
(exit 0, or 1 with a finding naming the bundle), never an "unexpected" error (exit 2), and the store's sound run is
read as usual.

Example count: ``TDPROV_FUZZ_SCALE`` (default 1) multiplies the 20 drawn; at 1 this file runs 22 cases with the two
explicit examples (see docs/reliability.md).
"""
from __future__ import annotations

import copy
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bundle_support import run_events, seal_events_file
from prov_common.bundle.events import events_jsonl
from test_cli_hostile import _sealed_store, _verb

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
SCALE = float(os.environ.get("TDPROV_FUZZ_SCALE", "1"))
FUZZ = dict(deadline=None, suppress_health_check=list(HealthCheck), database=None)

# (event: 0 START, 1 COMPLETE, path of the field replaced); only the COMPLETE event has an output
FIELDS = [(which, path) for which in (0, 1) for path in (
    ("run",), ("run", "runId"), ("run", "facets"), ("run", "facets", "parent"), ("run", "facets", "parent", "run"),
    ("job",), ("job", "name"), ("job", "namespace"), ("eventTime",), ("eventType",), ("inputs",), ("outputs",),
    ("inputs", 0, "namespace"), ("inputs", 0, "name"), ("inputs", 0, "facets"), ("producer",), ("schemaURL",))] + [
    (1, ("outputs", 0, key)) for key in ("namespace", "name", "facets")]
text = st.text(alphabet=st.characters(codec="utf-8"), max_size=8)
scalars = st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | text
WRONG_SHAPES = scalars | st.lists(scalars, max_size=2) | st.dictionaries(text, scalars, max_size=2)
"""Null, a number, a string, a list, an object of the wrong keys: values canonical JSON holds (signed bytes are)."""
PARENT = {"_producer": "p", "_schemaURL": "s", "run": {"runId": "01890000-0000-7000-8000-000000000000"},
          "job": {"namespace": "tests", "name": "upstream"}}


def _replaced(events: list[dict[str, Any]], which: int, path: tuple[Any, ...], value: Any) -> list[dict[str, Any]]:
    """A copy of ``events`` whose event ``which`` holds ``value`` at ``path``."""
    odd = copy.deepcopy(events)
    place = odd[which]
    for key in path[:-1]:
        place = place[key]
    place[path[-1]] = value
    return odd


@settings(max_examples=int(20 * SCALE), **FUZZ)
@given(field=st.sampled_from(FIELDS), value=WRONG_SHAPES)
@example(field=(1, ("eventType",)), value=["COMPLETE"])  # found by this test: unhashable, exit 2 from verify
@example(field=(0, ("eventType",)), value={"a": 1})
def test_a_signed_bundle_of_odd_event_shapes_is_a_verdict_never_a_stop(
        field: tuple[int, tuple[Any, ...]], value: Any, tmp_path_factory: pytest.TempPathFactory,
        capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    here = tmp_path_factory.mktemp("case")
    store, env, run = _sealed_store(here)
    for name, setting in env.items():
        monkeypatch.setenv(name, setting)
    events = run_events()
    for event in events:
        event["run"]["facets"]["parent"] = copy.deepcopy(PARENT)
    bad = seal_events_file(str(store), events, events_jsonl(_replaced(events, *field, value)))
    for argv in (["verify"], ["show", "--json", bad], ["export", "--verified", "-f", "json", "-o", str(here / "p.json")],
                 ["lineage", "--json", "s3://lake/clean/users.parquet"], ["runs", "--verified"], ["audit"]):
        got, said = _verb(argv, capsys, caplog)
        assert got in (0, 1) and "unexpected" not in said, (field, value, argv, got, said)
        if argv == ["verify"]:
            assert f"OK    {run}" in said and (got == 0 or f"bundles/{bad}/" in said), (field, value, said)
