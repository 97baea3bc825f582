"""The one wait a process's exit gives tdprov's writes. Each piece that has writes to wait for at exit registers how
(:func:`ends_with`), with a rank; as the interpreter exits, the hook of the highest rank runs, once, whichever piece's
``atexit`` registration Python reaches first: a transport's default settle and the Airflow delivery's drain (in a
process other than a task's, which Airflow ends with ``os._exit``: a script running ``dag.test()``, a scheduler; it
settles the transports within it) would otherwise each wait ``TDPROV_EXIT_TIMEOUT``, one after the other.

A child multiprocessing starts by fork or from a fork server (Dagster's multiprocess executor with ``start_method:
forkserver``) ends with ``os._exit``, which runs no ``atexit`` hook, once it ran multiprocessing's exit finalizers: the
same wait is one of those there (:func:`_wait_in_forked_child`), still once. A process forked by ``os.fork`` alone that
ends with ``os._exit`` runs neither: nothing can wait there. Imports nothing heavy (``multiprocessing.util``, which
Airflow and Dagster import anyway): the Airflow listener's process loads it at start."""
from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Callable
from typing import Any
from multiprocessing import get_start_method, parent_process, util

_lock = threading.Lock()
_hooks: dict[int, Callable[[], Any]] = {}  # rank -> how this process's exit waits for its writes
_ran = False

TRANSPORTS = 0  # a transport's settle: every process that writes
AIRFLOW_DELIVERY = 1  # the Airflow delivery's drain (a process other than a task's), which settles the transports

FORKED = ("fork", "forkserver")  # the start methods whose children end with os._exit
EXIT_PRIORITY = 0  # among multiprocessing's first exit finalizers, before the child joins children of its own


def ends_with(rank: int, hook: Callable[[], Any]) -> None:
    """Have ``hook`` wait for this process's writes as it exits, unless a hook of a higher rank is given (the last of
    one rank wins); only one runs."""
    with _lock:
        _hooks[rank] = hook


@atexit.register
def _at_exit() -> None:
    """Run the hook of the highest rank, once."""
    global _ran
    with _lock:
        if _ran or not _hooks:
            return
        _ran = True
        hook = _hooks[max(_hooks)]
    hook()


def _wait_in_forked_child(_: object = None) -> None:
    """In a child multiprocessing started by fork or from a fork server: have its exit finalizers, which it runs before
    ``os._exit``, run :func:`_at_exit` (once: ``atexit`` does not run after it). A spawned child exits the interpreter,
    which runs it from ``atexit`` as in any process."""
    if get_start_method(allow_none=True) in FORKED:
        util.Finalize(None, _at_exit, exitpriority=EXIT_PRIORITY)


def _new_lock() -> None:
    global _lock
    _lock = threading.Lock()  # another thread of the parent may have held it as the process forked


os.register_at_fork(after_in_child=_new_lock)
# a child forked after this module's import (by fork or from a fork server that loaded it): run as it starts, after
# multiprocessing cleared the exit finalizers it inherited
util.register_after_fork(_at_exit, _wait_in_forked_child)
if parent_process() is not None:  # imported in a multiprocessing child already started (a Dagster step process)
    _wait_in_forked_child()
