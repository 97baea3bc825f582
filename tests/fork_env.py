"""Fork server children that take the environment of the process that asks for them (no tests in this module).

A process of the ``forkserver`` start method is forked from a fork server, a process started once and kept: it
inherits the environment the fork server started with, not the one of the process that asks for it (as a spawned
process does). The tests' Dagster step processes configure themselves from the environment of their test
(``TDPROV_STORE``, ``TDPROV_HOME``, ``TDPROV_TEST_CRASH``, ...), which each test sets, and a spawned one imports Dagster,
pandas, pyarrow and pandera anew (3-4 s of CPU); from a fork server that preloaded them, it starts at once.

Two sides, one module:

* the test process (:func:`install`, from tests/conftest.py): before each request to its fork server, it writes its
  whole environment to the file named by ``$TESTS_FORK_ENV`` (one per test process) and sends its standard output and
  error with the request; every fork server it starts preloads this module; the server is stopped (and reaped, with
  the CPU of the children it reaped) when the session ends (:func:`stop_server`);
* the fork server (this module in its ``preload_modules``): each child it forks takes those standard output and error
  (a test's ``capfd`` sees what the step process writes) and replaces its environment with the one in that file before
  it reads what to run. The working directory and ``sys.path`` come with multiprocessing's own preparation data, as
  for a spawned process.

Each child of the fork server freezes the heap it inherited (``gc.freeze()``) first: its garbage collections then
leave the server's objects (Dagster's, pandas', ...) alone instead of walking, and so copying, their pages.

A child of a fork server ends with ``os._exit``, as a forked one does: ``atexit`` hooks do not run there, only
multiprocessing's exit finalizers (tdprov's wait for its writes at a process's exit is one of those there).

Preload only third-party modules (:data:`PRELOAD`) with it, never tdprov nor a tests' defs module: they read the
environment at their import, which in a fork server is the environment of the test that started it.
"""
from __future__ import annotations

import gc
import os
import pickle
import tempfile
import time
from multiprocessing import forkserver

VARIABLE = "TESTS_FORK_ENV"  # not a TDPROV_* name: tdprov names unknown TDPROV_* keys
PRELOAD = ["dagster", "pandas", "pyarrow", "pandera.pandas", "numpy", "boto3", __name__]
"""``preload_modules`` of a Dagster multiprocess executor's ``forkserver`` start method in the tests."""

_PATH: str | None = None  # the file of this process's environment, where it asks a fork server for children
_ASKER_PID = os.getppid()  # in a fork server: the process that started it, the one that asks for its children
_serve_one = forkserver._serve_one


def _serve_one_as_asked(child_r: int, fds: list[int], unused_fds: list[int], handlers: dict) -> int:
    """In a child of the fork server: take the asking process's standard output and error (the last two descriptors
    of the request) and the environment it wrote just before it asked, then run what it asks."""
    gc.freeze()  # the server's heap (Dagster, pandas, ...) is inherited: the child's collections leave it alone
    *fds, out, err = fds
    os.dup2(out, 1)
    os.dup2(err, 2)
    os.close(out)
    os.close(err)
    try:
        with open(os.environ[VARIABLE], "rb") as handle:
            asker, environment = pickle.load(handle)
        if asker != _ASKER_PID:
            raise ValueError(f"written by process {asker}, not by {_ASKER_PID}, which started this fork server")
    except (KeyError, OSError, ValueError, pickle.UnpicklingError) as exc:  # never the environment of another test
        os.write(2, f"fork_env: no environment for this child in ${VARIABLE}: {exc!r}\n".encode())
        return 70
    os.environ.clear()
    os.environ.update(environment)
    return _serve_one(child_r, fds, unused_fds, handlers)


forkserver._serve_one = _serve_one_as_asked  # called by name by a fork server's loop only (forkserver.main)


def _write_environment() -> None:
    with open(f"{_PATH}.tmp", "wb") as handle:
        pickle.dump((os.getpid(), dict(os.environ)), handle)
    os.replace(f"{_PATH}.tmp", _PATH)


def install() -> None:
    """Make this process's fork server children take its environment at the time each is asked for: name its file in
    ``$TESTS_FORK_ENV``, preload this module in every fork server it starts, write the file before each request."""
    global _PATH
    _PATH = os.environ[VARIABLE] = os.path.join(tempfile.gettempdir(), f"tests-fork-env-{os.getpid()}.pickle")
    if getattr(forkserver.connect_to_new_process, "writes_environment", False):
        return
    ensure_running = forkserver.ForkServer.ensure_running

    def ensure_running_with_module(self: forkserver.ForkServer) -> None:
        if __name__ not in self._preload_modules:  # it takes effect when the server (re)starts
            self._preload_modules = [*self._preload_modules, __name__]
        # What a (re)started server inherits: where it reads, and this module's folder on its path (before 3.12 a fork
        # server ignores the sys.path it is given, and a module it cannot import is left out without a word)
        os.environ[VARIABLE] = _PATH
        path = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = os.pathsep.join([os.path.dirname(os.path.abspath(__file__)), *([path] if path else [])])
        try:
            ensure_running(self)
        finally:
            if path is None:
                del os.environ["PYTHONPATH"]
            else:
                os.environ["PYTHONPATH"] = path

    def connect_with_environment(fds):  # noqa: ANN001, ANN202 - forkserver.connect_to_new_process's signature
        _write_environment()
        return forkserver._forkserver.connect_to_new_process([*fds, 1, 2])  # the child's stdout and stderr

    # the module's functions are the methods of its one ForkServer, bound at its import: popen_forkserver calls them
    forkserver.ForkServer.ensure_running = ensure_running_with_module
    forkserver.ensure_running = forkserver._forkserver.ensure_running
    connect_with_environment.writes_environment = True
    forkserver.connect_to_new_process = connect_with_environment


def stop_server(timeout: float = 30) -> None:
    """Stop this process's fork server and reap it (with it the CPU of the children it reaped), waiting at most
    ``timeout`` seconds for its children to end; remove the environment file."""
    server = forkserver._forkserver
    with server._lock:
        if server._forkserver_pid is not None:
            os.close(server._forkserver_alive_fd)  # the server ends once no child holds this pipe either
            deadline = time.monotonic() + timeout
            while not os.waitpid(server._forkserver_pid, os.WNOHANG)[0] and time.monotonic() < deadline:
                time.sleep(0.05)
            server._forkserver_pid = server._forkserver_alive_fd = None
            if server._forkserver_address and os.path.exists(server._forkserver_address):
                os.unlink(server._forkserver_address)
            server._forkserver_address = None
    for path in (_PATH, f"{_PATH}.tmp") if _PATH else ():
        if os.path.exists(path):
            os.unlink(path)
