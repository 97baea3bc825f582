"""End a task process as Airflow's supervisor ends it, with a seal still being written (run in a subprocess).

Usage: python task_process_exit.py RUN_ID[,RUN_ID...] SECONDS [open]   (the test's AIRFLOW_HOME through
``harness.child_env``, AIRFLOW__TDPROV__STORE and ``[tdprov] spool`` set). The process forks, and its child runs through
Airflow's own ``supervisor._fork_main`` (which ends it with ``os._exit`` once the atexit functions registered after the
fork ran): the listener's background delivery takes each run's START and COMPLETE, one run after the other, to a store
whose index writes (a seal's last) sleep SECONDS, past the transport's bound (0.5 s here), and the task runner's
``before_stopping`` hook is called as ``task_runner.main`` calls it (the only end of delivery: the listener's module
is imported before the fork, so its exit hook is not run). ``open``: only each run's START is delivered (the runs are
taken for open), the transport's bound left at its own (10 s), and once they are delivered the store's answer whether a
run is sealed (the check ``before_stopping`` makes) takes SECONDS. The child prints ``stopping at <time>`` as it calls
``before_stopping``, the parent ``ended at <time>`` once the child is gone. Exit code: the child's.
"""
from __future__ import annotations

import itertools
import os
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


def main(run_ids: str, seconds: float, taken_for_open: bool = False) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from airflow_dags import harness  # noqa: F401 - this AIRFLOW_HOME
    from airflow.sdk.execution_time.supervisor import _fork_main
    from prov_airflow import delivery  # noqa: F401 - loaded before the fork, as by a worker that loaded the plugin:
    # _fork_main runs only the atexit functions registered after the fork, so only before_stopping finishes delivery

    requests, _ = socket.socketpair()
    out, _out = socket.socketpair()
    err, _err = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        _fork_main(requests, out, err, 0, lambda: _task(run_ids, seconds, taken_for_open))
    for sock, name in ((_out, "stdout"), (_err, "stderr")):  # what the child wrote, passed on as the supervisor does
        sock.setblocking(False)
    _, status = os.waitpid(pid, 0)
    print(f"ended at {time.time()}", flush=True)
    for sock, stream in ((_out, sys.stdout), (_err, sys.stderr)):
        try:
            while chunk := sock.recv(65536):
                stream.write(chunk.decode(errors="replace"))
        except BlockingIOError:
            pass
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], float(sys.argv[2]), sys.argv[3:] == ["open"]))
