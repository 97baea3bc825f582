"""Leave the process with the verb's exit code and nothing running.

Native libraries (Arrow's thread pools, BLAKE3's workers) keep threads that the interpreter does not
join; when the interpreter finalises while one of them is still busy, the C++ runtime may abort the
process ("terminate called without an active exception", exit 134) and a script that relies on exit
0/1/2 breaks. The console command therefore waits for tdprov's own worker threads, flushes output and
logs, and ends the process with ``os._exit`` so that no native thread outlives the interpreter's work.
"""
from __future__ import annotations

import logging
import os
import sys
import threading

JOIN_SECONDS = 30.0


def exit_now(code: int) -> None:
    """Join tdprov's worker threads (bounded), flush stdout, stderr and logging, then end the process."""
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join(JOIN_SECONDS)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or a broken pipe: nothing more can be written
            pass
    os._exit(code)
