"""Helpers for the store tests: run worker processes and collect what each reports."""
from __future__ import annotations

import multiprocessing
import os
import signal
import stat
from collections.abc import Callable, Sequence
from pathlib import Path
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


def folder_fsync_fails(monkeypatch: Any, code: int, *, spared: Path | None = None, only: Path | None = None) -> list[str]:
    """Make ``os.fsync`` of a folder fail with ``code`` (``monkeypatch``: pytest's): of every folder but ``spared``, or
    of the folder ``only`` alone; a file's works as before. The names of the folders it failed for."""
    failed, real_fsync = [], os.fsync

    def fails(st: os.stat_result) -> bool:
        if only is not None:
            return os.path.samestat(st, os.stat(only))
        return spared is None or not os.path.samestat(st, os.stat(spared))

    def fsync(fd: int) -> None:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode) and fails(st):
            failed.append(os.readlink(f"/proc/self/fd/{fd}"))
            raise OSError(code, os.strerror(code))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return failed


def flush_killed(spool_dir: str | os.PathLike[str], store_uri: str, before: Callable[[str], bool]) -> int | None:
    """Run a flush of ``spool_dir`` into ``store_uri`` in a forked process that is killed (SIGKILL) as it is about to
    do what ``before`` accepts: ``put <key>`` for each object it puts, ``release <entry>`` as it removes an entry it
    delivered; the process's exit code (-9 when it was killed)."""
    def step(what: str) -> None:
        if before(what):
            os.kill(os.getpid(), signal.SIGKILL)

    proc = flush_in_process(spool_dir, store_uri, step)
    proc.join(60)
    return proc.exitcode


def flush_in_process(spool_dir: str | os.PathLike[str], store_uri: str, step: Callable[[str], None]) -> Any:
    """A forked process (started) that flushes ``spool_dir`` into ``store_uri`` and calls ``step`` (in it) as it is
    about to do each of its steps: ``put <key>``, ``release <entry>`` (see :func:`flush_killed`)."""
    proc = multiprocessing.get_context("fork").Process(target=_flush_with, args=(str(spool_dir), store_uri, step))
    proc.start()
    return proc


def _flush_with(spool_dir: str, store_uri: str, step: Callable[[str], None]) -> None:
    from prov_common.store import Outbox, open_store
    from prov_common.store.outbox import CLAIM

    store = open_store(store_uri)
    put, unlink = store.put, os.unlink

    def put_after_step(key: str, data: Any) -> bool:
        step(f"put {key}")
        return put(key, data)

    def unlink_after_step(path: Any, *args: Any, **kwargs: Any) -> None:
        if CLAIM in os.fspath(path):
            step(f"release {os.path.basename(os.fspath(path)).partition(CLAIM)[0]}")
        unlink(path, *args, **kwargs)

    store.put = put_after_step  # type: ignore[method-assign]
    os.unlink = unlink_after_step  # this process only
    Outbox(spool_dir).flush(store)
    os._exit(0)
