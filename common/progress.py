"""Progress of long work, on stderr: a tqdm bar, as ``tdprov verify`` and the audit show theirs.

Library calls show none (a pipeline's step logs are no terminal); a verb that reads or writes much turns them on
for what it runs with :func:`on_terminal`, and then a bar is drawn only where stderr is a terminal (never on
stdout, so ``--json`` output stays what it was)."""
from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from tqdm import tqdm

T = TypeVar("T")

_SHOWN: ContextVar[bool] = ContextVar("tdprov_progress_shown", default=False)


class Bar(tqdm):  # type: ignore[type-arg]
    """A tqdm bar without tqdm's monitor thread (which would outlive the verb, and make a pool start workers by
    ``spawn``)."""

    monitor_interval = 0


@contextmanager
def on_terminal() -> Iterator[None]:
    """Within it, :func:`bar` draws on stderr when stderr is a terminal."""
    token = _SHOWN.set(True)
    try:
        yield
    finally:
        _SHOWN.reset(token)


def stream() -> Any:
    """Where a bar draws: stderr, unescaped where the CLI shows its text escaped (a bar's own carriage returns are no
    record's text)."""
    return getattr(sys.stderr, "unescaped", sys.stderr)


def advancing(items: Iterable[T], drawn: Any) -> Iterator[T]:
    """Each of ``items``, advancing ``drawn`` (a bar drawn already, over more than these) by one as each is taken: one
    bar over work done in parts."""
    for item in items:
        yield item
        drawn.update()


def bar(iterable: Iterable[T] | None = None, *, desc: str, unit: str, total: int | None = None) -> Any:
    """A progress bar over ``iterable`` (or one to ``update`` by hand, to ``total``) named ``desc``, counting
    ``unit``; shown only inside :func:`on_terminal` and on a terminal, and gone from the screen when done."""
    return Bar(iterable, total=total, desc=desc, unit=unit, file=stream(), disable=None if _SHOWN.get() else True,
               leave=False)
