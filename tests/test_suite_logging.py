"""The suite's own logging: no library's log handler holds pytest's capture file, which it could close."""
from __future__ import annotations

import logging.config
import sys

import pytest
from absl import logging as absl_logging  # imported at collection, as the modules that import mlcroissant import it


def test_absl_writes_to_the_process_stderr_not_to_a_capture_file() -> None:
    """absl's handler took the ``sys.stderr`` of its import (pytest's capture file) and closes it when logging is
    configured again under ``capsys`` (tests/conftest.py's ``pytest_runtest_setup``); it writes to ``sys.__stderr__``."""
    assert absl_logging.get_absl_handler().python_handler.stream is sys.__stderr__


def test_configuring_logging_under_capsys_leaves_the_worker_capture_open(request: pytest.FixtureRequest,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """What a Dagster run's set-up does (``dictConfig``, which closes every handler) under ``capsys``: the worker's
    own capture files stay open, and the next test can start."""
    logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})
    capture = request.config.pluginmanager.getplugin("capturemanager")._global_capturing  # noqa: SLF001
    if capture is None:
        pytest.skip("run without output capture (-s): no capture file to close")
    assert not capture.err.tmpfile.closed and not capture.out.tmpfile.closed
