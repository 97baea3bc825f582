"""End a task process as Airflow's supervisor ends it, with a seal still being written (run in a subprocess).

Usage: python task_process_exit.py RESULTS CASES   (the test's AIRFLOW_HOME through ``harness.child_env``). CASES is
a JSON list of cases, each ``{"run_ids": "RUN_ID[,RUN_ID...]", "seconds": SECONDS, "open": bool, "timeout": SECONDS,
"env": {...}}`` (``env``: AIRFLOW__TDPROV__STORE, ``[tdprov] spool`` and the settings of the case, set in its child
only). Airflow is imported once; for each case in turn the process forks, and its child runs through
Airflow's own ``supervisor._fork_main`` (which ends it with ``os._exit`` once the atexit functions registered after the
fork ran): the listener's background delivery takes each run's START and COMPLETE, one run after the other, to a store
whose index writes (a seal's last) sleep SECONDS, past the transport's bound (0.5 s here), and the task runner's
``before_stopping`` hook is called as ``task_runner.main`` calls it (the only end of delivery: the listener's module
is imported before the fork, so its exit hook is not run). ``open``: only each run's START is delivered (the runs are
taken for open), the transport's bound left at its own (10 s), and once they are delivered the store's answer whether a
run is sealed (the check ``before_stopping`` makes) takes SECONDS. The child prints ``stopping at <time>`` as it calls
``before_stopping``, the parent ``ended at <time>`` once the child is gone (a child still there after the case's
``timeout`` is killed). RESULTS gets a JSON list, one entry a case: ``{"returncode", "stdout", "stderr"}``, the child's
exit code (None when it was killed) and what it wrote, the parent's ``ended at`` line first in ``stdout``. What the
parent loaded is frozen (``gc.freeze()``) before the forks: a child's collections leave it alone.
"""
from __future__ import annotations

import gc
import itertools
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path


def _task(run_ids: str, seconds: float, taken_for_open: bool) -> None:
    import attr
    from openlineage.client.event_v2 import Job, Run, RunEvent, RunState

    from airflow.listeners.listener import get_listener_manager
    from airflow.sdk.execution_time.task_runner import TaskRunnerMarker
    from prov_airflow.delivery import DELIVERY
    from prov_airflow.emitter import emit, listener_transport
    from prov_common.bundle import transport as core
    from prov_common.store.local import LocalStore

    class SlowIndex(LocalStore):
        asked_slowly = False

        def put(self, key, data):  # noqa: ANN001, ANN202 - LocalStore's signature
            if key.startswith("index/"):
                time.sleep(seconds)
            return super().put(key, data)

        def exists(self, key):  # noqa: ANN001, ANN202 - LocalStore's signature
            if SlowIndex.asked_slowly:
                time.sleep(seconds)
            return super().exists(key)

    opened = core.open_store
    core.open_store = lambda *a, **k: SlowIndex(opened(*a, **k).root)
    transport, listeners = listener_transport(), get_listener_manager()  # loaded first: the bound starts at the last event
    if not taken_for_open:
        transport.config = attr.evolve(transport.config, timeout=0.5)
    states = (RunState.START,) if taken_for_open else (RunState.START, RunState.COMPLETE)
    for run_id, state in itertools.product(run_ids.split(","), states):
        event = RunEvent(eventType=state, eventTime="2026-01-01T00:00:00Z", run=Run(runId=run_id),
                         job=Job(namespace="ns", name="exiting.task"), producer="https://example.org/p")
        DELIVERY.submit(f"{state.value} event of run {run_id}", lambda event=event: emit(event, transport=transport))
    if taken_for_open:
        assert DELIVERY.drain(60)
        SlowIndex.asked_slowly = True
    print(f"stopping at {time.time()}", flush=True)
    listeners.hook.before_stopping(component=TaskRunnerMarker())


def _case(run_ids: str, seconds: float, taken_for_open: bool, timeout: float, env: dict[str, str]) -> dict:
    """Run one case in a forked child, as Airflow's supervisor runs a task: its exit code and what it wrote."""
    from airflow.sdk.execution_time.supervisor import _fork_main

    requests, _ = socket.socketpair()
    out, _out = socket.socketpair()
    err, _err = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        os.environ.update(env)  # this case's settings, read first in the child
        _fork_main(requests, out, err, 0, lambda: _task(run_ids, seconds, taken_for_open))
    for sock in (_out, _err):  # what the child wrote, passed on as the supervisor does
        sock.setblocking(False)
    deadline, status = time.monotonic() + timeout, None
    while status is None:
        done, raw = os.waitpid(pid, os.WNOHANG)
        if done:
            status = raw
        elif time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            status = os.waitpid(pid, 0)[1]
        else:
            time.sleep(0.05)
    ended = f"ended at {time.time()}\n"
    said = []
    for sock in (_out, _err):
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk.decode(errors="replace"))
        except BlockingIOError:
            pass
        said.append("".join(chunks))
    for sock in (requests, out, err, _out, _err):
        sock.close()
    code = None if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL else os.waitstatus_to_exitcode(status)
    return {"returncode": code, "stdout": ended + said[0], "stderr": said[1]}


def main(results: str, cases: list[dict]) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from airflow_dags import harness  # noqa: F401 - this AIRFLOW_HOME
    from airflow.sdk.execution_time import supervisor  # noqa: F401 - imported once, before the forks
    from prov_airflow import delivery  # noqa: F401 - loaded before the fork, as by a worker that loaded the plugin:
    # _fork_main runs only the atexit functions registered after the fork, so only before_stopping finishes delivery
    gc.freeze()  # what is loaded is every child's: their collections leave it alone (not walking, and so copying, it)

    Path(results).write_text(json.dumps([_case(c["run_ids"], float(c["seconds"]), bool(c.get("open")),
                                               float(c["timeout"]), c["env"]) for c in cases]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], json.loads(sys.argv[2])))
