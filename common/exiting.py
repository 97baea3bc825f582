"""The one wait a process's exit gives tdprov's writes. Each piece that has writes to wait for at exit registers how
(:func:`ends_with`), with a rank; as the interpreter exits, the hook of the highest rank runs, once, whichever piece's
``atexit`` registration Python reaches first: a transport's default settle and the Airflow delivery's drain (in a
process other than a task's, which Airflow ends with ``os._exit``: a script running ``dag.test()``, a scheduler; it
settles the transports within it) would otherwise each wait ``TDPROV_EXIT_TIMEOUT``, one after the other. Imports
nothing heavy: the Airflow listener's process loads it at start."""
from __future__ import annotations

import atexit
import threading
from collections.abc import Callable
from typing import Any

_lock = threading.Lock()
_hooks: dict[int, Callable[[], Any]] = {}  # rank -> how this process's exit waits for its writes
_ran = False

TRANSPORTS = 0  # a transport's settle: every process that writes
AIRFLOW_DELIVERY = 1  # the Airflow delivery's drain (a process other than a task's), which settles the transports


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
