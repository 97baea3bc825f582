"""Audit speed without loosening: the fast canonical JSON path writes exactly RFC 8785's bytes, and the
audit's worker processes fork from a warm parent instead of spawning (a spawned worker re-imports
everything; tqdm's monitor thread used to force spawn)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from prov_common.canonical_json import canonical_bytes

_SCALARS = st.none() | st.booleans() | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1) | st.text()
_VALUES = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=5),
                       max_leaves=25)


def _outcome(fn, value):
    """The bytes, or "error" when ``fn`` refuses the value (the error class may be tdprov's own)."""
    try:
        return fn(value)
    except Exception:  # noqa: BLE001 - only whether it refuses is compared
        return "error"


@settings(max_examples=400, deadline=None)
@given(_VALUES)
def test_canonical_bytes_equal_rfc8785(value) -> None:
    assert canonical_bytes(value) == rfc8785.dumps(value)


@pytest.mark.parametrize("value", [
    "\x00\x08\x09\x0a\x0c\x0d\x1f\x7f\"\\/\u2028\u2029\ud7ff\ue000\uffff\U0001f600",
    {"\ue000": 1, "\U0001f600": 2, "a": [1, True, None, ()], "": {}},  # astral keys sort by UTF-16 code units
    [2**53 - 1, -(2**53) + 1], [2**53], {"x": 1.5, "y": 1e21, "z": -0.0}, ["\ud800"], {1: "a"}, {"a": {1, 2}},
])
def test_canonical_bytes_edge_cases_match_rfc8785(value) -> None:
    assert _outcome(canonical_bytes, value) == _outcome(rfc8785.dumps, value)


_SCRIPT = textwrap.dedent("""
    import json, multiprocessing, sys, threading
    from datetime import datetime, timedelta, timezone
    from prov_common.audit import engine, run_audit
    from prov_common.bundle import verify_pool
    from prov_common.bundle import build_bundle
    from prov_common.bundle.storage import deliver_bundle
    from prov_common.config import Settings
    from prov_common.signing import default_signing_key
    from prov_common.store import open_store
    sys.path.insert(0, sys.argv[2])
    from test_audit_support import dataset, digest, run_events

    store, key = open_store(sys.argv[1]), default_signing_key()
    for i in range(6):
        events = run_events(f"job{i}", [dataset("/data/raw.csv", digest("raw"))], [dataset(f"/data/o{i}.parquet", digest(str(i)))])
        deliver_bundle(store, build_bundle(events, None, key))
    methods = []
    real = multiprocessing.get_context
    def spy(method=None):
        context = real(method)
        methods.append(context.get_start_method())
        return context
    verify_pool.multiprocessing.get_context = spy
    engine.PARALLEL_FROM = 2
    result = run_audit(store, Settings.from_env(store=store.uri), full=True, report_dir=sys.argv[1] + "-report", progress=False, workers=2)
    print(json.dumps({"methods": methods, "examined": result.bundles_examined, "bundle_findings": sum(len(r.bundle_findings) for r in result.index.runs.values()),
                      "threads": [t.name for t in threading.enumerate()]}))
""")


def test_audit_workers_fork_from_a_warm_parent(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-c", _SCRIPT, str(tmp_path / "store"), str(Path(__file__).parent)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["bundle_findings"] == 0 and seen["examined"] == 6
    assert seen["methods"] == ["fork"]
    assert "tqdm_monitor" not in seen["threads"]
