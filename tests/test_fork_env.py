"""The suite's fork server children take the environment of the test that asks for them (tests/fork_env.py)."""
from __future__ import annotations

import multiprocessing
import os
from multiprocessing import forkserver
from pathlib import Path

import pytest

import fork_env


def _report(queue) -> None:  # noqa: ANN001 - a multiprocessing queue
    queue.put((os.environ.get("FORK_ENV_PROBE"), os.environ.get("TDPROV_HOME"), os.getcwd()))


def _child_sees() -> tuple:
    context = multiprocessing.get_context("forkserver")
    queue = context.SimpleQueue()
    child = context.Process(target=_report, args=(queue,))
    child.start()
    seen = queue.get()
    child.join(30)
    assert child.exitcode == 0
    return seen


def test_each_fork_server_child_takes_the_environment_its_test_has_when_it_asks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fork server keeps the environment it started with: every child of the one the test process shares took the
    settings of the test that started it. Each takes the environment (a variable set, changed, removed) and working
    directory the test process has when it asks for it, as a spawned process would."""
    started_here = forkserver._forkserver._forkserver_pid is None
    try:
        for value in ("first", "second", None):
            if value is None:
                monkeypatch.delenv("FORK_ENV_PROBE")
            else:
                monkeypatch.setenv("FORK_ENV_PROBE", value)
            where = tmp_path / (value or "none")
            where.mkdir()
            monkeypatch.chdir(where)
            assert _child_sees() == (value, os.environ["TDPROV_HOME"], str(where))
    finally:
        if started_here:  # a server started with other preloads than a Dagster job's would serve that job's steps
            fork_env.stop_server()
