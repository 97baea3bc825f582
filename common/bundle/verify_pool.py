"""Verifying many bundles on every core: an ordered map over bundles in worker processes.

``tdprov verify`` and the audit (``tdprov audit --full``) both run it. Verification is CPU-bound
(signatures, digests, re-deriving PROV from the events), so bundles are handed out in chunks to a
:class:`~concurrent.futures.ProcessPoolExecutor`; each worker opens the store and loads the trusted
keys once, and reads each object of its bundles once, as the serial path does. Results come back in
the order of the input, so the findings are the same as verifying one bundle after another.
"""
from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from typing import Any, TypeVar

from prov_common.config import usable_cpus
from prov_common.signing import TrustStore
from prov_common.store.base import Store
from prov_common.store.pinning import pin_listing

T = TypeVar("T")
R = TypeVar("R")

PARALLEL_FROM = 64  # verify in worker processes from this many bundles on
CHUNK = 50  # bundles per task: few round trips, and the results of a chunk are small
BundleTask = Callable[[Store, TrustStore, Any], Any]  # (store, trust, item) -> result; a module-level function
BatchTask = Callable[[Store, TrustStore, list[Any]], Iterable[Any]]  # (store, trust, items) -> their results, in order
Pins = Callable[[list[Any]], Mapping[str, str]]  # items -> the listed fingerprints of the objects they read (key -> tag)

_WORKER: dict[str, Any] = {}
_PR_SET_PDEATHSIG = 1  # prctl(2)


def _end_with_parent(parent: int | None) -> None:
    """Have the kernel end this worker when the process that started it dies (Linux ``PR_SET_PDEATHSIG``): a
    killed ``tdprov verify`` or audit left its workers running, and a forked worker holds what the parent held,
    such as the lock of the auditor's memory, so every later audit by that auditor waited for ever. ``parent``
    None: the worker's parent is a fork server, not the verifying process (nothing to tie it to)."""
    if parent is None:
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: workers end when their next read of the task queue fails
        return
    if os.getppid() != parent:  # the parent died before the signal was asked for
        os._exit(1)


def _start_worker(uri: str, trust: TrustStore, parent: int | None) -> None:
    """End with the parent; open the store and take the trust (keys, retired keys, log positions) once per worker
    process, not once per chunk."""
    from prov_common.store import open_store

    _end_with_parent(parent)
    _WORKER["store"] = open_store(uri)
    _WORKER["trust"] = trust


def _run_chunk(job: tuple[BatchTask, list[Any], Mapping[str, str] | None]) -> list[Any]:
    """A chunk's results, its objects read as the listing that ``pins`` holds showed them (when given)."""
    fn, items, pins = job
    if pins is not None:
        pin_listing(_WORKER["store"], pins)
    return list(fn(_WORKER["store"], _WORKER["trust"], items))


def _each(fn: BundleTask, store: Store, trust: TrustStore, items: list[Any]) -> Iterator[Any]:
    return (fn(store, trust, item) for item in items)


def map_bundles(fn: Callable[[Store, TrustStore, T], R], items: Sequence[T], store: Store, trust: TrustStore, *,
                workers: int | None = None, parallel_from: int | None = None, pins: Pins | None = None) -> Iterator[R]:
    """``fn(store, trust, item)`` for every item, in order; in ``workers`` processes (default: one per
    CPU) when there are at least ``parallel_from`` items (default :data:`PARALLEL_FROM`), else in this process.
    ``pins``: the listed fingerprints of the objects some items read, which a worker's store (opened again from its
    URI) is to read as listed, as ``store`` does (:func:`~prov_common.store.pinning.pin_listing`); each chunk is sent
    those of its own items only, not the whole listing.

    The first item is done here before the workers start: it loads what verification needs (PROV
    serialisers, dataset naming), which forked workers then inherit instead of loading each. Workers
    fork unless this process runs other threads (then they ``spawn``: forking a threaded process is unsafe).
    A daemonic process (a Celery prefork worker's task) may not start processes: it verifies serially.
    """
    return map_batches(partial(_each, fn), items, store, trust, workers=workers, parallel_from=parallel_from, pins=pins)


def map_batches(fn: Callable[[Store, TrustStore, list[T]], Iterable[R]], items: Sequence[T], store: Store,
                trust: TrustStore, *, workers: int | None = None, parallel_from: int | None = None,
                here: Callable[[list[T]], Iterable[R]] | None = None, pins: Pins | None = None) -> Iterator[R]:
    """:func:`map_bundles` of a task that takes a batch of items, so that what they have in common (a listing) is
    done once per batch: ``fn(store, trust, batch)`` gives the batch's results in order. In this process all the items
    are one batch; with workers, the first item is one and each chunk (at most :data:`CHUNK` items) another.
    ``here``: how this process does its batch (default ``fn`` with ``store`` and ``trust``), which, unlike ``fn``, is
    never sent to a worker (it may hold what this process shares with its caller)."""
    workers = workers if workers is not None else usable_cpus()
    here = here or partial(fn, store, trust)
    if multiprocessing.current_process().daemon:  # a daemonic process (a Celery worker's) may not have children
        workers = 1
    if workers <= 1 or len(items) < max(PARALLEL_FROM if parallel_from is None else parallel_from, 2):
        yield from here(list(items))
        return
    yield from here([items[0]])
    rest = list(items[1:])
    size = max(1, min(CHUNK, -(-len(rest) // (workers * 4))))  # at most CHUNK, and a few chunks per worker
    chunks = [(fn, part, None if pins is None else dict(pins(part))) for part in (rest[i:i + size] for i in range(0, len(rest), size))]
    context = multiprocessing.get_context("spawn" if threading.active_count() > 1 else None)
    parent = None if context.get_start_method() == "forkserver" else os.getpid()  # a forkserver's workers are its children
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=(store.uri, trust, parent)) as pool:
        for part in pool.map(_run_chunk, chunks):
            yield from part
