"""Helpers for the store tests: run worker processes and collect what each reports."""
from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from typing import Any


def run_processes(target: Callable[..., None], args: Sequence[tuple[Any, ...]], *, barrier: bool = False,
                  timeout: float = 60) -> list[Any]:
    """Start one forked process per ``args`` tuple, calling ``target(*args, [barrier,] results)``;
    each puts one small outcome on ``results``. Returns the outcomes once every process exited 0."""
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    extra = (ctx.Barrier(len(args)),) if barrier else ()
    procs = [ctx.Process(target=target, args=(*a, *extra, results)) for a in args]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=timeout) for _ in procs]  # drain before join: a full queue blocks exit
    for proc in procs:
        proc.join(timeout)
        assert proc.exitcode == 0, f"worker {proc.pid} exited with {proc.exitcode}"
    return outcomes
