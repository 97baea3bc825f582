"""Two auditors sharing TDPROV_HOME take turns on the auditor's memory of a store (an flock held for the
whole audit): run as real processes, at once, neither loses nor corrupts what the other remembered."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from prov_common.audit.memory import load_memory, memory_lock, memory_path
from prov_common.audit.memory_objects import load_inventory
from prov_common.signing import trust_from_settings
from prov_common.store import open_store
from prov_common.tlog.log import TransparencyLog

from test_audit_support import T0, Pipeline, dataset, run_events, seal


def _audit_process(store: str, report: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "prov_common", "audit", "--quiet", "--store", store, "--report", str(report)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))


def _seal_new(pipe: Pipeline, tag: str, n: int) -> set[str]:
    return {seal(pipe.store, run_events(f"prepare_{tag}_{i}", [dataset(pipe.raw_name, pipe.raw)], [], start=T0 + timedelta(hours=1)))
            for i in range(n)}


def _logged(uri: str) -> tuple[int, set[str]]:
    tlog = TransparencyLog(open_store(uri), trust_from_settings())
    head = tlog.head()
    return head.checkpoint.size, {x.run_id for x in tlog.read_leaves(0)}


def test_two_auditors_at_once_keep_one_whole_memory(tmp_path: Path) -> None:
    uri = str(tmp_path / "store")
    pipe = Pipeline(uri)
    runs = {pipe.prepare, pipe.train}
    for round_ in range(2):  # the first pair makes the memory, the second adds to one both read
        runs |= _seal_new(pipe, f"r{round_}", 3)
        procs = [_audit_process(uri, tmp_path / f"report-{round_}-{n}") for n in range(2)]
        outcomes = [(p.wait(timeout=600), p.stdout.read(), p.stderr.read()) for p in procs]
        assert [code for code, _, _ in outcomes] == [0, 0], outcomes
        size, logged = _logged(uri)
        memory = load_memory(pipe.store.uri)  # parses: never a torn or mixed file
        assert not load_inventory(memory, pipe.store, trust_from_settings())  # its pinned inventory objects are whole
        assert logged == runs and size == len(runs)
        assert memory.checkpoint is not None and memory.checkpoint.size == size, (round_, memory.checkpoint, size)
        assert set(memory.runs) == runs, round_  # every logged run remembered, none lost by the other auditor


def test_a_second_auditor_waits_for_the_first(tmp_path: Path) -> None:
    uri = str(tmp_path / "store")
    pipe = Pipeline(uri)
    path = memory_path(pipe.store.uri)
    with memory_lock(path):  # an audit of this store by this auditor is under way
        proc = _audit_process(uri, tmp_path / "report")
        line = proc.stderr.readline()  # the audit says it waits (EOF here: it did not wait)
        assert "waiting for another audit of this store" in line, (line, proc.stderr.read())
        assert not path.exists()  # and it has not written the memory meanwhile
    assert proc.wait(timeout=600) == 0, proc.stderr.read()
    remembered = json.loads(path.read_text())
    assert remembered["checkpoint"]["size"] == 2 and len(remembered["inventory"]) == 1
