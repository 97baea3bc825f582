"""A setting's warning is said once per process, also across the processes the OpenLineage provider forks for every
event (each would otherwise repeat it in the task's log); a spool warning starts afresh in a forked child (its
output may go to another log). Real ``os.fork``; the child's log is read from a file."""
from __future__ import annotations

import logging
import os
from pathlib import Path

from prov_common.config import WARNED, Settings
from prov_common.store.outbox import SPOOL_WARNED


def _in_child(log_file: Path, work) -> None:
    """Run ``work`` in a forked child whose ``prov_common`` warnings go to ``log_file``."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        handler = logging.FileHandler(log_file)
        logging.getLogger("prov_common").addHandler(handler)
        code = 1  # an exception in ``work`` fails the parent's check of the exit status
        try:
            work()
            code = 0
        finally:
            handler.close()
            os._exit(code)
    assert os.waitpid(pid, 0)[1] == 0


def test_a_settings_warning_is_not_repeated_in_a_forked_child_and_a_spool_one_is(tmp_path: Path, caplog) -> None:
    WARNED.clear()
    env = {"TDPROV_STORE": str(tmp_path / "s"), "TDPROV_STOER": "x"}
    with caplog.at_level(logging.WARNING, logger="prov_common"):
        Settings.from_env(env)
    assert [r.getMessage() for r in caplog.records if "TDPROV_STOER" in r.getMessage()] != []  # said in the parent
    assert SPOOL_WARNED.first("/a/spool/folder")

    child_log = tmp_path / "child.log"
    _in_child(child_log, lambda: (Settings.from_env(env), SPOOL_WARNED.first("/a/spool/folder")
                                  and logging.getLogger("prov_common").warning("spool warned again")))
    said = child_log.read_text()
    assert "TDPROV_STOER" not in said  # the parent said it: not again in a process forked for one event
    assert "spool warned again" in said  # a spool warning starts afresh in the child
    assert not SPOOL_WARNED.first("/a/spool/folder")  # and the parent still knows it
