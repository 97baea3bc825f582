"""Output piped into a reader that stopped reading (``tdprov lineage ... | head``): not an error.

A ``BrokenPipeError`` is that case only when standard output is a pipe whose reading end is closed; one from
anything else (a socket, a subprocess, a FIFO given as ``-o``) is a failure like any other. :func:`main` may run in
a long-running process (a test, a notebook, a scheduler), so nothing here closes a stream the process goes on using:
the dead pipe's descriptor is pointed at ``/dev/null``, where what is still buffered for it goes.
"""
from __future__ import annotations

import os
import select
import stat
import sys


def stdout_reader_gone() -> bool:
    """Whether standard output is a pipe that no process reads any more."""
    try:
        fd = sys.stdout.fileno()
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return False
        poller = select.poll()
    except (AttributeError, OSError, ValueError):  # no descriptor (captured in memory), closed, or no poll(2)
        return False
    poller.register(fd, 0)  # POLLERR (no reader) is reported whatever events are asked for
    return any(events & select.POLLERR for _, events in poller.poll(0))


def silence_stdout() -> None:
    """Point standard output's descriptor at ``/dev/null``, so that what is still buffered for a pipe nobody reads
    is dropped there, at the next flush, instead of raising ``BrokenPipeError`` again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)
