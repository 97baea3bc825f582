"""Where shards are hashed: in this process, or on Dask (``dask.distributed``), a LocalCluster or a
running scheduler. Dask is imported only when it is used (``pip install 'tdprov[scale]'``).

The scheduler is chosen by ``scheduler`` or else ``$TDPROV_DASK_SCHEDULER``: ``tcp://host:8786`` (any
address a ``distributed.Client`` takes) for a running cluster, ``local`` for a LocalCluster on this
machine, ``none`` for this process; unset, a LocalCluster is started when at least
:data:`LOCAL_CLUSTER_MIN_SHARDS` shards and :data:`LOCAL_CLUSTER_MIN_BYTES` are to be read, the machine
has more than one CPU and Dask is installed (else this process).

An address that took no connection is remembered by the process for :data:`UNREACHABLE_FOR_SECONDS`: until then
it is not tried again (:class:`SchedulerUnreachableError` at once), so that a step with many sharded datasets
waits :data:`CONNECT_TIMEOUT` once, and a scheduler that comes back is used again after that.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from prov_common.errors import BadInputError
from prov_common.config import unset, usable_cpus

T = TypeVar("T")
R = TypeVar("R")

ENV = "TDPROV_DASK_SCHEDULER"
LOCAL_CLUSTER_MIN_SHARDS = 64
LOCAL_CLUSTER_MIN_BYTES = 512 << 20  # below this, starting worker processes costs more than it saves
CONNECT_TIMEOUT = "20s"
UNREACHABLE_FOR_SECONDS = 300.0  # an address that took no connection is not tried again before this is over

_unreachable: dict[str, tuple[float, str]] = {}  # address -> (time.monotonic() it took no connection, why)


class SchedulerUnreachableError(BadInputError):
    """A Dask scheduler address that took no connection within :data:`CONNECT_TIMEOUT` (or did so less than
    :data:`UNREACHABLE_FOR_SECONDS` ago). ``what`` and ``fix`` replace the message of the CLI's ``--scheduler``."""

    def __init__(self, address: str, reason: str, *, what: str | None = None, fix: str | None = None) -> None:
        self.address, self.reason = address, reason
        super().__init__(what or f"cannot reach the Dask scheduler {address}: {reason}",
                         fix=fix or f"start it (dask scheduler), or choose another with --scheduler / {ENV}.")


def resolve_scheduler(scheduler: str | None, shards: int, size: int) -> str:
    """``none``, ``local`` or a scheduler address, from the argument, the environment or the default rule
    (``shards`` shards of ``size`` bytes in all are to be read). An argument that is
    :func:`~prov_common.config.unset` (blank) is not given: the environment applies."""
    given = not unset(scheduler)
    chosen = (scheduler if given else (os.environ.get(ENV) or "")).strip()
    if not chosen or chosen.lower() == "auto":
        worth_it = shards >= LOCAL_CLUSTER_MIN_SHARDS and size >= LOCAL_CLUSTER_MIN_BYTES and usable_cpus() > 1
        return "local" if worth_it and importlib.util.find_spec("distributed") is not None else "none"
    return check_scheduler(chosen, "Dask scheduler" if given else ENV)


def check_scheduler(scheduler: str, setting: str = "Dask scheduler") -> str:
    """``scheduler`` (``auto``, ``none``, ``local`` in any case, or an address such as ``tcp://host:8786``), with
    the names in lower case; anything else is a :class:`BadInputError` naming ``setting``."""
    chosen = scheduler.strip()
    if chosen.lower() in ("auto", "none", "local"):
        return chosen.lower()
    if "://" not in chosen:
        raise BadInputError(f"{setting} {chosen!r} is not an address.",
                            fix="give tcp://host:8786 (a running scheduler), 'local' (a LocalCluster) or 'none'.")
    return chosen


# Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which also turns off glibc's dynamic
# mmap threshold: every buffer of 128 KiB or more is then mapped and unmapped each time, and hashing a
# shard (row groups, per-row hashes) took 1.4x (column) to 1.8x (row granularity) as long as in one
# process (benchmarks/results/shards.md). tdprov's LocalCluster workers start without it.
WORKER_CONFIG = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}


@contextmanager
def local_cluster(workers: int) -> Iterator[Any]:
    """A Dask LocalCluster of ``workers`` single-threaded worker processes as tdprov starts one (see
    :data:`WORKER_CONFIG`), closed on leaving. The nanny writes its workers' settings
    (``OMP_NUM_THREADS=1``, ``PYTHONHASHSEED``, ...) into this process's environment to spawn them; they
    are taken out again, so that what the pipeline starts afterwards does not inherit them. What the pipeline itself
    sets while the cluster runs stays: on leaving, only the keys the nanny wrote are put back."""
    import dask

    distributed = _distributed()
    environ = dict(os.environ)
    nannys: set[str] | None = None  # the keys the nanny wrote, once the cluster is up
    try:
        with dask.config.set(WORKER_CONFIG), \
                distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                         dashboard_address=None, silence_logs=logging.CRITICAL) as cluster:
            nannys = _restore_environ(environ)
            yield cluster
    finally:
        _restore_environ(environ, nannys)


def _restore_environ(saved: dict[str, str], keys: set[str] | None = None) -> set[str]:
    """Undo what was set in ``os.environ`` since ``saved`` was taken (only the keys that differ; of those, only
    ``keys`` when given); returns the keys put back."""
    changed = {k for k in set(os.environ) | set(saved) if os.environ.get(k) != saved.get(k)}
    if keys is not None:
        changed &= keys
    for key in changed:
        if key in saved:
            os.environ[key] = saved[key]
        else:
            del os.environ[key]
    return changed


def _distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise BadInputError("hashing shards on Dask needs dask.distributed, which is not installed.",
                            fix="pip install 'tdprov[scale]', or hash in this process (--scheduler none).") from exc
    return distributed


def run_map(fn: Callable[[T], R], items: Sequence[T], scheduler: str, workers: int | None = None,
            done: Callable[[T], None] | None = None) -> tuple[list[R], str]:
    """``[fn(item) for item in items]`` in order, where ``scheduler`` says (see :func:`resolve_scheduler`);
    also returns a description of the engine. ``workers``: LocalCluster worker processes (default: one per CPU).
    ``done``: told each item as its result comes in (on Dask, in the order they finish), for a progress bar."""
    if scheduler == "none" or not items:
        return [_told(fn(item), item, done) for item in items], "in-process"
    distributed = _distributed()
    if scheduler == "local":
        n = workers or usable_cpus()
        with local_cluster(n) as cluster, distributed.Client(cluster) as client:
            return _gather(distributed, client, fn, items, done), f"dask LocalCluster ({n} worker{'s' if n != 1 else ''})"
    with _connect(distributed, scheduler) as client:
        return _gather(distributed, client, fn, items, done), f"dask {scheduler}"


def _told(result: R, item: T, done: Callable[[T], None] | None) -> R:
    if done is not None:
        done(item)
    return result


def _connect(distributed: Any, scheduler: str) -> Any:
    """A ``distributed.Client`` of the scheduler at ``scheduler``; :class:`SchedulerUnreachableError` when it takes
    no connection, at once when it took none less than :data:`UNREACHABLE_FOR_SECONDS` ago."""
    found = _unreachable.get(scheduler)
    if found is not None:
        ago = time.monotonic() - found[0]
        if ago < UNREACHABLE_FOR_SECONDS:
            raise SchedulerUnreachableError(
                scheduler, f"it took no connection {ago:.0f} s ago: {found[1]}; not tried again before "
                           f"{UNREACHABLE_FOR_SECONDS:.0f} s have passed")
    try:
        client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as exc:
        _unreachable[scheduler] = (time.monotonic(), str(exc))
        raise SchedulerUnreachableError(scheduler, str(exc)) from exc
    _unreachable.pop(scheduler, None)
    return client


def _gather(distributed: Any, client: Any, fn: Callable[[T], R], items: Sequence[T], done: Callable[[T], None] | None) -> list[R]:
    """The results of ``fn`` over ``items`` on ``client``'s cluster, in order; ``done`` is told each item as its task
    finishes (Dask's ``as_completed``; a task that failed is told too, and ``gather`` then raises its error)."""
    futures = client.map(fn, items, pure=False)
    if done is not None:
        item_of = {future.key: item for future, item in zip(futures, items, strict=True)}
        for future in distributed.as_completed(futures):
            done(item_of[future.key])
    return list(client.gather(futures))
