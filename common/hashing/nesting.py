"""How deep the values of an ``object`` column nest, looked at before Arrow reads them.

pyarrow's type inference follows nested lists, tuples, dicts and object arrays by recursion in C: a value some
thousands of levels deep, or one that holds itself (a list appended to itself, a dict that is one of its own values,
directly or through others) and so has no bottom, overflows the C stack and ends the process (a segmentation fault).
The hash takes a few hundred levels at most, so a value deeper than :data:`MAX_LEVELS` is refused before Arrow
reads it. The look goes one level at a time over the whole column, each container once however often it is shared,
so it costs one pass over the items that values hold and nothing on a column of scalars."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from typing import Any, NamedTuple

import numpy as np

MAX_LEVELS = 1000  # above what the hash recurses through (a few hundred), below what overflows Arrow's stack
_SCALARS = {"string", "bytes", "floating", "integer", "mixed-integer-float", "decimal", "boolean", "datetime",
            "datetime64", "date", "timedelta", "timedelta64", "time", "period", "interval", "empty", "complex"}
"""What ``pandas.api.types.infer_dtype`` calls a column of values none of which holds others."""


def _is_holder(value: Any) -> bool:
    """Whether ``value`` holds others: a list, tuple, dict or object array."""
    return isinstance(value, (list, tuple, dict)) or (isinstance(value, np.ndarray) and value.dtype == object)


def _items(value: Any) -> Iterator[Any]:
    return iter(value.values() if isinstance(value, dict) else value.flat if isinstance(value, np.ndarray) else value)


class Nesting(NamedTuple):
    """How the values of an ``object`` column nest: ``levels`` of lists, tuples, dicts or object arrays (0 for a
    column of scalars, 1 for lists of scalars, ``MAX_LEVELS + 1`` for deeper, or a value that holds itself), and
    whether a list or dict below the rows' own values is held more than once (``repeats``): only then may a value
    stand for more items than it holds (:func:`first_expanded`)."""

    levels: int
    repeats: bool
    datetime64_beside_ints: bool = False
    numpy_bools: bool = False  # a numpy boolean (or an array of them) below the rows' own values
    numpy_halves: bool = False  # a numpy half float (float16) below the rows' own values
    text_and_bytes: bool = False  # text and bytes at one level below the rows' own values
    inferred: str = ""  # what pandas' infer_dtype calls the rows' own values


def _array_kinds(kinds: set[type], items: Callable[[], Iterable[Any]]) -> frozenset[str]:
    """The dtype kinds of the numpy arrays among ``items()`` (one level's values, of types ``kinds``): ``items`` is
    called only where the level holds an array."""
    if np.ndarray not in kinds:
        return frozenset()
    return frozenset(v.dtype.kind for v in items() if isinstance(v, np.ndarray))


def _datetime64_beside_ints(kinds: set[type], arrays: frozenset[str]) -> bool:
    """Whether one level's values (of types ``kinds``, holding arrays of the dtype kinds ``arrays``) mix numpy
    ``datetime64`` scalars, or arrays, with numpy integers or booleans, which pyarrow's inference does not refuse but
    crashes on (a segmentation fault) when a date-time comes first."""
    if np.datetime64 in kinds and any(issubclass(k, (np.integer, np.bool_)) for k in kinds):
        return True
    return "M" in arrays and not arrays.isdisjoint("iub")


def nesting(values: Iterable[Any], levels: int = MAX_LEVELS) -> Nesting:
    """How the values of the ``object`` column ``values`` (a pandas Series or Index) nest, looked at one level at a
    time (at most ``levels``) over the whole column, each container once."""
    from pandas.api.types import infer_dtype

    inferred = infer_dtype(values, skipna=True)
    if inferred in _SCALARS:
        return Nesting(0, False, inferred=inferred)
    if inferred.startswith("mixed"):
        kinds = set(map(type, values))
        mixed = _datetime64_beside_ints(kinds, _array_kinds(kinds, lambda: values))
    else:
        mixed = False
    level = [v for v in values if _is_holder(v)]
    below: set[int] = set()  # the containers seen below the rows' values, while none repeats
    repeats = bools = halves = texts = False
    for depth in range(1, levels + 1):
        kinds = set(map(type, _held(level)))
        arrays = _array_kinds(kinds, lambda: _held(level))  # noqa: B023 (called at once)
        mixed = mixed or _datetime64_beside_ints(kinds, arrays)
        bools = bools or np.bool_ in kinds or "b" in arrays  # Arrow reads one among integers as 1 or 0
        halves = halves or np.float16 in kinds  # Arrow reads one among integers as an integer, its fraction dropped
        texts = texts or (any(issubclass(k, str) for k in kinds) and any(issubclass(k, bytes) for k in kinds))
        if not any(issubclass(kind, (list, tuple, dict, np.ndarray)) for kind in kinds):
            # most columns end here, after one pass in C
            return Nesting(depth if level else 0, repeats, mixed, bools, halves, texts, inferred)
        held = [v for v in _held(level)  # _is_holder written out: a call per item would cost more than the test
                if isinstance(v, (list, tuple, dict)) or (isinstance(v, np.ndarray) and v.dtype == object)]
        once = {id(v): v for v in held}
        if not repeats:
            repeats = len(once) < len(held) or not below.isdisjoint(once)
            below.update(once)
        level = list(once.values())
    return Nesting(levels + 1 if level else levels, repeats, mixed, bools, halves, texts, inferred)


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


class Held(NamedTuple):
    """A value found in an ``object`` column: its ``row``, and whether it is inside a list, tuple, dict or object
    array there (``nested``) rather than the row's value itself."""

    row: int
    value: Any
    nested: bool


def first_holding(values: Iterable[Any], found: Callable[[Any], bool]) -> Held | None:
    """The first value of the ``object`` column ``values``, or held in one at any depth, that is no list, tuple, dict
    or object array and for which ``found`` is true; None when none is. Each container is walked once, without
    recursion (the values must not hold themselves: :func:`first_holding_itself`)."""
    seen: set[int] = set()
    for row, value in enumerate(values):
        todo = [value]
        while todo:
            item = todo.pop()
            if not _is_holder(item):
                if found(item):
                    return Held(row, item, item is not value)
            elif id(item) not in seen:
                seen.add(id(item))
                todo.extend(_items(item))
    return None


def _holds_itself(value: Any, acyclic: set[int]) -> bool:
    if not _is_holder(value):
        return False
    path, stack = {id(value)}, [(value, _items(value))]
    while stack:
        node, items = stack[-1]
        for item in items:
            if _is_holder(item) and id(item) not in acyclic:
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


EXPANDED_AT_MOST = 10_000_000  # items a value may stand for (counted with its shared lists and dicts repeated) ...
EXPANSION_AT_MOST = 1_000  # ... when that is this many times the items it holds
_COUNTED_UP_TO = 1 << 63  # an expanded count stops growing here


@dataclass(frozen=True)
class Expanded:
    """A value that repeats its own lists and dicts: ``row``, the items it stands for (``items``, at most
    ``_COUNTED_UP_TO``) and those it holds (each list or dict once)."""

    row: int
    items: int
    held: int

    @property
    def shown_items(self) -> str:
        return f"over {self.items - 1:,}" if self.items >= _COUNTED_UP_TO else f"{self.items:,}"


def first_expanded(values: Iterable[Any]) -> Expanded | None:
    """The first row of the ``object`` column ``values`` whose value stands for more than :data:`EXPANDED_AT_MOST`
    items, and :data:`EXPANSION_AT_MOST` times those it holds, once its shared lists and dicts are repeated where
    they are held (``s = [s, s]`` sixty times holds 120 items and stands for 2**61, which Arrow would make); None when
    none does. Each list or dict is counted once, however often it is held, and its values must not hold themselves
    (:func:`first_holding_itself`)."""
    counts: dict[int, int] = {}
    for row, value in enumerate(values):
        if _is_holder(value) and (items := _expanded(value, counts)) > EXPANDED_AT_MOST:
            held = _held_once(value)
            if items > EXPANSION_AT_MOST * held:
                return Expanded(row, items, held)
    return None


def _expanded(value: Any, counts: dict[int, int]) -> int:
    """The items ``value`` stands for, its held lists and dicts expanded (``counts``: those of each container counted
    so far, by id), without recursion."""
    stack = [(value, _items(value), 0)]
    while stack:
        node, items, total = stack.pop()
        for item in items:
            if not _is_holder(item):
                total += 1
            elif id(item) in counts:
                total = min(total + 1 + counts[id(item)], _COUNTED_UP_TO)
            else:
                stack += [(node, items, total + 1), (item, _items(item), 0)]
                break
        else:
            counts[id(node)] = total
            if stack:
                parent, items, above = stack.pop()
                stack.append((parent, items, min(above + total, _COUNTED_UP_TO)))
    return counts[id(value)]


def _held_once(value: Any) -> int:
    """The items ``value`` holds, each list or dict among them counted once however often it is held."""
    seen, todo, held = {id(value)}, [value], 0
    while todo:
        for item in _items(todo.pop()):
            held += 1
            if _is_holder(item) and id(item) not in seen:
                seen.add(id(item))
                todo.append(item)
    return held
