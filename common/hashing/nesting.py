"""How deep the values of an ``object`` column nest, looked at before Arrow reads them.

pyarrow's type inference follows nested lists, tuples, dicts and object arrays by recursion in C: a value some
thousands of levels deep, or one that holds itself (a list appended to itself, a dict that is one of its own values,
directly or through others) and so has no bottom, overflows the C stack and ends the process (a segmentation fault).
The hash takes a few hundred levels at most, so a value deeper than :data:`MAX_LEVELS` is refused before Arrow
reads it. The look goes one level at a time over the whole column, each container once however often it is shared,
so it costs one pass over the items that values hold and nothing on a column of scalars."""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import chain
from typing import Any

import numpy as np

MAX_LEVELS = 1000  # above what the hash recurses through (a few hundred), below what overflows Arrow's stack
_SCALARS = {"string", "bytes", "floating", "integer", "mixed-integer-float", "decimal", "boolean", "datetime",
            "datetime64", "date", "timedelta", "timedelta64", "time", "period", "interval", "empty", "complex"}
"""What ``pandas.api.types.infer_dtype`` calls a column of values none of which holds others."""


def _holders(values: Iterable[Any]) -> list[Any]:
    """The values that hold others (lists, tuples, dicts, object arrays), each once."""
    return list({id(v): v for v in values
                 if isinstance(v, (list, tuple, dict)) or (isinstance(v, np.ndarray) and v.dtype == object)}.values())


def _items(value: Any) -> Iterator[Any]:
    return iter(value.values() if isinstance(value, dict) else value.flat if isinstance(value, np.ndarray) else value)


def nested_deeper(values: Iterable[Any], levels: int = MAX_LEVELS) -> bool:
    """Whether a value of the ``object`` column ``values`` (a pandas Series or Index) nests lists, tuples, dicts or
    object arrays more than ``levels`` deep (one that holds itself nests without end)."""
    from pandas.api.types import infer_dtype

    if infer_dtype(values, skipna=True) in _SCALARS:
        return False
    level = [v for v in values if isinstance(v, (list, tuple, dict)) or (isinstance(v, np.ndarray) and v.dtype == object)]
    for _ in range(levels):
        if not any(issubclass(kind, (list, tuple, dict, np.ndarray)) for kind in set(map(type, _held(level)))):
            return False  # most columns end here, after one pass in C over what their values hold
        level = _holders(_held(level))
    return bool(level)


def _held(holders: list[Any]) -> Iterator[Any]:
    """The items the ``holders`` hold (a dict's values), iterated in C for lists, tuples and dicts."""
    dicts = [h for h in holders if isinstance(h, dict)]
    arrays = [h.flat for h in holders if isinstance(h, np.ndarray)]
    return chain(chain.from_iterable(h for h in holders if not isinstance(h, (dict, np.ndarray))),
                 chain.from_iterable(map(dict.values, dicts)), chain.from_iterable(arrays))


def first_holding_itself(values: Iterable[Any]) -> int | None:
    """The first row of the ``object`` column ``values`` whose value holds itself; None when none does. Walks each
    row's containers without recursion, those found not to hold themselves once."""
    acyclic: set[int] = set()
    return next((row for row, value in enumerate(values) if _holds_itself(value, acyclic)), None)


def _holds_itself(value: Any, acyclic: set[int]) -> bool:
    if not _holders([value]):
        return False
    path, stack = {id(value)}, [(value, _items(value))]
    while stack:
        node, items = stack[-1]
        for item in items:
            if _holders([item]) and id(item) not in acyclic:
                if id(item) in path:
                    return True
                path.add(id(item))
                stack.append((item, _items(item)))
                break
        else:
            stack.pop()
            path.discard(id(node))
            acyclic.add(id(node))
    return False
