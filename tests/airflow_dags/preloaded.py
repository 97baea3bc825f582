"""Run the DAG scripts of this folder each in a process forked from one that imported Airflow once.

A test that runs one of these scripts in a subprocess (``python ol_provider_run.py OUT_DIR``, its settings in the
environment) pays Airflow's, pandas' and the providers' imports in it, about 4 s of CPU. :class:`Preloaded` starts one
process (this module, run with ``harness.child_env``, in a session of its own) that imports them and reads no setting of the OpenLineage
provider or of tdprov; each script then runs in a child forked from it, with the environment, working folder and
arguments it would have had as a process of its own, its stdout and stderr captured, and ends as such a process ends
(the interpreter's exit, atexit hooks included). What a script reads from its environment it reads in its own child,
after the fork, as before: only when modules are imported changes. That process also builds the in-process
execution API app once (:func:`_warm`) and freezes what it loaded (``gc.freeze()``) before the first fork: a child's
garbage collections then leave the parent's objects alone instead of walking, and so copying, their pages (about 3 s
of CPU a child).

Protocol (one JSON object a line): the test writes ``{"script", "args", "env", "cwd", "stdout", "stderr"}``; this
process answers ``{"pid"}`` once the child is forked and ``{"returncode"}`` once it ended.
"""
from __future__ import annotations

import gc
import json
import os
import runpy
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


class Preloaded:
    """One preloaded process, serving :meth:`run` (one script at a time) until :meth:`close`."""

    def __init__(self, env: dict[str, str]) -> None:
        self._captured, self._runs, self._env = Path(tempfile.mkdtemp(prefix="tdprov-preloaded-")), 0, env
        self._process = self._start()

    def _start(self) -> subprocess.Popen:
        """The preloaded process, in a session of its own: its children and theirs can be ended with it."""
        return subprocess.Popen([sys.executable, str(Path(__file__).resolve())], env=self._env, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True, start_new_session=True)

    def run(self, script: Path, args: list[str], env: dict[str, str], cwd: Path | None = None,
            timeout: float = 240) -> subprocess.CompletedProcess:
        """Run ``script`` with ``args`` in a forked child, as ``subprocess.run(..., capture_output=True, text=True)``
        would in a process of its own."""
        self._runs += 1
        out, err = (self._captured / f"{self._runs}-{script.stem}.{stream}" for stream in ("stdout", "stderr"))
        request = {"script": str(script), "args": args, "env": env, "cwd": str(cwd or os.getcwd()),
                   "stdout": str(out), "stderr": str(err)}
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        deadline = time.monotonic() + timeout
        try:
            self._answer(deadline, script)["pid"]
            code = self._answer(deadline, script)["returncode"]
        except TimeoutError:
            self._restart()
            raise
        return subprocess.CompletedProcess([script, *args], code, out.read_text(), err.read_text())

    def _restart(self) -> None:
        """End the preloaded process with every process of its session (the script's child, if it was forked yet, and
        whatever that started) and start another, so that no answer owed for a script that outlived its bound is read
        as the next script's (its pid for the next one's, its exit code for the next one's pid)."""
        os.killpg(self._process.pid, signal.SIGKILL)
        self._process.wait(timeout=60)
        for stream in (self._process.stdin, self._process.stdout):
            if stream is not None:
                stream.close()
        self._process = self._start()

    def _answer(self, deadline: float, script: Path) -> dict[str, Any]:
        stream = self._process.stdout
        assert stream is not None
        if not select.select([stream], [], [], max(0.0, deadline - time.monotonic()))[0]:
            raise TimeoutError(f"{script.name} did not end in time in the preloaded process")
        line = stream.readline()
        if not line:
            raise RuntimeError(f"the preloaded process ended (exit {self._process.wait()}) running {script.name}")
        return json.loads(line)

    def close(self) -> None:
        """End the preloaded process (its children have all ended)."""
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait(timeout=60)
        if self._process.stdout is not None:
            self._process.stdout.close()
        shutil.rmtree(self._captured, ignore_errors=True)


def _child(request: dict[str, Any]) -> None:
    """In the forked child: become the script's process, run it, and exit the interpreter with its exit code (the
    inherited ``sys.stdout`` and ``sys.stderr``, flushed before the fork, write to the files put on their descriptors)."""
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    for fd, path, mode in ((0, os.devnull, os.O_RDONLY), (1, request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                           (2, request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)):
        opened = os.open(path, mode, 0o600)
        os.dup2(opened, fd)
        os.close(opened)
    sys.stdin = open(os.devnull)  # noqa: SIM115 - the process's stdin until its end
    sys.argv = [request["script"], *request["args"]]
    sys.path[0] = str(Path(request["script"]).parent)  # as for `python SCRIPT`
    runpy.run_path(request["script"], run_name="__main__")
    sys.exit(0)


_PRELOADED = (  # Airflow's modules a DAG run imports lazily, the OpenLineage provider's and client's, the libraries
    # the scripts and tdprov use; none of tdprov's own (each child imports them, reading its settings as before)
    "pandas", "pandera.pandas", "pendulum", "airflow.sdk", "airflow.providers.standard.operators.python",
    "airflow.providers.common.compat.lineage.entities", "airflow.models", "airflow.models.dagrun",
    "airflow.models.dagbag", "airflow.models.asset", "airflow.serialization.serialized_objects",
    "airflow.dag_processing.collection", "airflow.dag_processing.dagbag", "airflow.sdk.execution_time.supervisor",
    "airflow.sdk.execution_time.task_runner", "airflow.api_fastapi.execution_api.app",
    "airflow.api_fastapi.execution_api.versions", "airflow.api_fastapi.execution_api.routes",
    "airflow.api_fastapi.execution_api.security", "airflow.api_fastapi.common.dagbag", "a2wsgi", "httpx",
    "airflow.api_fastapi.core_api.services.public.dag_run",
    "airflow.providers.openlineage.plugins.listener",
    "airflow.providers.openlineage.plugins.adapter",
    "airflow.providers.openlineage.extractors.manager", "openlineage.client", "prov.model", "rdflib",
    # what a child imported on its first DAG run: pandera's built-in checks (with hypothesis, for its strategies), the
    # Amazon provider's S3 asset converter (boto3), PROV's serializers, pytest (the harness's fixtures)
    "pandera.backends.pandas.builtin_checks", "airflow.providers.amazon.aws.assets.s3", "boto3", "prov.serializers.provn",
    "prov.serializers.provxml", "prov.serializers.provrdf", "pytest",
)


def _warm() -> None:
    """Build what each child's first ``dag.test()`` would build again: the in-process execution API app (its routes
    for the version the task SDK speaks, :mod:`airflow_dags.execution_api`), about 1 s of CPU a child. Only the app
    is built: its event loop, thread and lifespan start in the child, with its first request (the transport), and no
    connection to the metadata DB is opened here (and Airflow's ``settings`` disposes of the pools a forked child
    inherits, ``register_at_fork``)."""
    from airflow_dags.execution_api import serve_latest_version_only

    from airflow.sdk.execution_time.supervisor import in_process_api_server

    serve_latest_version_only()
    in_process_api_server().app  # noqa: B018 - a cached property: built here, once


def _serve() -> None:
    """Import :data:`_PRELOADED` and :func:`_warm` (and check that neither read the OpenLineage provider's settings,
    which a child reads from its own environment), then fork a child per request."""
    import importlib

    sys.path.insert(0, str(HERE.parent))
    for name in _PRELOADED:
        importlib.import_module(name)
    from airflow.providers.openlineage import conf

    def read() -> list[str]:
        return [f.__name__ for f in (conf.is_disabled, conf.transport, conf.config_path)  # cached unless under pytest
                if hasattr(f, "cache_info") and f.cache_info().currsize]

    assert not read(), f"importing {_PRELOADED} read the OpenLineage provider's settings: {read()}"
    _warm()
    assert not read(), f"building the execution API read the OpenLineage provider's settings: {read()}"

    gc.freeze()  # what is loaded and built so far is every child's: its collections do not walk (and copy) it
    answers = sys.stdout
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)  # exits (SystemExit) through the interpreter's end, as the script's process would
        answers.write(json.dumps({"pid": pid}) + "\n")
        answers.flush()
        answers.write(json.dumps({"returncode": os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])}) + "\n")
        answers.flush()


if __name__ == "__main__":
    _serve()
