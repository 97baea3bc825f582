"""The Arrow schema ``pyarrow.json.read_json`` would infer for a JSON-lines file, found from parser events.

A :class:`Node` per position in the data (a top-level field, a field of a struct, the items of a list)
holds the kind the values seen there agree on, with ``pyarrow.json``'s rules: null takes the other kind,
integers and decimals make ``double`` (so do integers beyond 64 bits), strings that are all ISO 8601
timestamps to the second make ``timestamp[s]``, struct fields in order of first appearance. Anything
else that disagrees is refused with the message of :func:`~prov_common.hashing.jsonl_stream.promote`.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

import pyarrow as pa
import pyarrow.json as pajson

from prov_common.errors import BadInputError
from prov_common.text import shortened, visible
from prov_common.hashing.jsonl_events import (FIX_DEEP, FIX_LARGE, FIX_OBJECT, FIX_TWICE, Event, JsonLineError, TooLarge,
                                              too_large)
from prov_common.hashing.bytes_fix import OR_HASH_BYTES

INT64 = (-(1 << 63), (1 << 63) - 1)
MAX_DEPTH = 256  # nesting levels: deeper values are refused (hashing recurses once per level)
_ENDS, _KEY_CELLS = 3, 24  # a long path is named by its first and last keys, each at most this long


class TooDeep(ValueError):
    """A value nested deeper than :data:`MAX_DEPTH` levels."""


class Twice(ValueError):
    """An object that holds one field twice (Arrow refuses it)."""


_STAMP = re.compile(r"\d{4}-\d\d-\d\d([T ]\d\d(:\d\d(:\d\d)?)?)?(Z|[+-]\d\d(:?\d\d)?)?")
_CHECK_BATCH = 4096
_TYPES = {"null": pa.null(), "bool": pa.bool_(), "int": pa.int64(), "double": pa.float64(),
          "string": pa.string(), "timestamp": pa.timestamp("s")}


def type_change(where: str, before: object, after: object) -> BadInputError:
    """The error for a field whose JSON type changes between values."""
    return BadInputError(f"field {where or '/'} changed from {before} to {after} between lines.",
                         fix=f"give the field one JSON type in every line, {OR_HASH_BYTES}.")


def read_strings(values: list[str | None], as_stamps: bool = False) -> pa.Array:
    """``values`` read by ``pyarrow.json`` as one field: its inferred type, or ``timestamp[s]`` declared."""
    text = "".join('{"v":' + json.dumps(v) + "}\n" for v in values).encode()
    options = pajson.ParseOptions(explicit_schema=pa.schema([pa.field("v", pa.timestamp("s"))])) if as_stamps else None
    return pajson.read_json(pa.BufferReader(text), read_options=pajson.ReadOptions(block_size=len(text) + 1),
                            parse_options=options).column(0).combine_chunks()


def stamps_parse(values: list[str]) -> bool:
    """True when ``pyarrow.json`` reads every one of ``values`` as a ``timestamp[s]``."""
    return pa.types.is_timestamp(read_strings(values).type)  # type: ignore[arg-type]


@dataclass
class Node:
    """One position in the data and the kind its values agree on."""

    key: str  # the field's name (``"[]"``: a list's items; ``""``: the rows)
    depth: int = 0
    parent: Node | None = field(default=None, repr=False, compare=False)
    kind: str = "null"  # null bool int double string timestamp list struct
    fields: dict[str, Node] = field(default_factory=dict)  # struct fields, or {"[]": items} of a list
    pending: list[str] = field(default_factory=list)  # strings not yet checked as timestamps

    def child(self, name: str) -> Node:
        """The node of a struct field (or ``"[]"``: a list's items), made on first sight."""
        node = self.fields.get(name)
        if node is None:
            if self.depth >= MAX_DEPTH:
                raise TooDeep(f"is nested deeper than {MAX_DEPTH} levels (level {self.depth + 1} at "
                              f"{self.short_path(name)}).")
            node = self.fields[name] = Node(name, self.depth + 1, self)
        return node

    def keys(self) -> list[str]:
        """The keys from the rows down to this node."""
        keys, node = [], self
        while node.parent is not None:
            keys.append(node.key)
            node = node.parent
        return keys[::-1]

    @property
    def path(self) -> str:
        """The node's path, its keys joined by ``/`` (``/a/[]/b``)."""
        return "".join(f"/{key}" for key in self.keys())

    def short_path(self, name: str) -> str:
        """The path of this node's field ``name`` as a person reads it in a message: a deep one by its first and
        last few keys (``/a/b/c/…/x/y/z``), each key at most a few words long and shown with control characters
        escaped."""
        keys = [shortened(visible(key), _KEY_CELLS) for key in (*self.keys(), name)]
        if len(keys) > 2 * _ENDS + 1:
            keys = [*keys[:_ENDS], "…", *keys[-_ENDS:]]
        return "".join(f"/{key}" for key in keys)

    def arrow_type(self) -> pa.DataType:
        """The Arrow type ``pyarrow.json`` gives the values seen here."""
        if self.kind == "list":
            return pa.list_(self.child("[]").arrow_type())
        if self.kind == "struct":
            return pa.struct([pa.field(name, node.arrow_type()) for name, node in self.fields.items()])
        return _TYPES[self.kind]

    def see(self, kind: str) -> None:
        """Fold the kind of one more value into the node's kind."""
        if kind == self.kind or kind == "null":
            return
        if self.kind == "null":
            self.kind = kind
        elif {kind, self.kind} == {"int", "double"}:
            self.kind = "double"
        elif {kind, self.kind} == {"timestamp", "string"}:
            self.kind, self.pending = "string", []
        else:
            raise type_change(self.path, self.kind, kind)

    def see_string(self, value: str) -> None:
        """Fold one string: a timestamp candidate is checked in batches by ``pyarrow.json`` itself.

        Arrow infers ``timestamp[s]`` only for ISO 8601 text to the second (at most 25 characters with
        an offset), so a string over 40 characters is a string without asking."""
        if self.kind == "string":
            return
        if len(value) > 40 or not _STAMP.fullmatch(value):
            self.see("string")
            return
        self.see("timestamp")
        if self.kind == "timestamp":
            self.pending.append(value)
            if len(self.pending) >= _CHECK_BATCH:
                self.settle()

    def settle(self) -> None:
        """Check the strings still pending, here and below."""
        if self.pending:
            if not stamps_parse(self.pending):
                self.kind = "string"
            self.pending = []
        for node in self.fields.values():
            node.settle()


def number_kind(value: int | Decimal) -> str:
    """``int`` for an integer that fits 64 bits, else ``double``, as ``pyarrow.json`` reads it (a larger integer is a
    double); a number past the double's range is refused (:class:`TooLarge`): Arrow reads such an integer as
    ``inf``, so that any two would share a digest, and refuses one with a fraction or exponent."""
    if isinstance(value, int):
        if INT64[0] <= value <= INT64[1]:
            return "int"
        value = Decimal(value)  # no limit on its digits, as str(int) has
    if math.isinf(float(value)):
        raise too_large(str(value))
    return "double"


def _value(node: Node, event: str, value: object, events: Iterator[Event]) -> None:
    if event == "start_map":
        node.see("struct")
        seen: set[str] = set()
        for kind, key in events:
            if kind == "end_map":
                return
            if key in seen:
                raise Twice(f"field {node.path}/{key} appears twice in one object.")
            seen.add(key)  # type: ignore[arg-type]
            _value(node.child(key), *next(events), events)  # type: ignore[arg-type]
    elif event == "start_array":
        node.see("list")
        items = node.child("[]")
        for item in events:
            if item[0] == "end_array":
                return
            _value(items, *item, events)
    elif event == "string":
        if isinstance(value, str):
            node.see_string(value)
        else:  # a LongString: far over the length of any timestamp Arrow infers
            node.see("string")
    elif event == "number":
        node.see(number_kind(value))  # type: ignore[arg-type]
    elif event == "boolean":
        node.see("bool")
    else:
        node.see("null")


def read_row(root: Node, line: int, events: Iterator[Event]) -> bool:
    """Fold one line's value into ``root`` (the rows' struct); False for a blank line."""
    first = next(events, None)
    if first is None:
        return False
    if first[0] != "start_map":
        raise JsonLineError(line, "is not a JSON object.", FIX_OBJECT)
    try:
        _value(root, first[0], first[1], events)
    except RecursionError as exc:
        raise JsonLineError(line, "is nested too deeply.") from exc
    except JsonLineError:
        raise
    except TooDeep as exc:
        raise JsonLineError(line, str(exc), FIX_DEEP) from exc
    except TooLarge as exc:
        raise JsonLineError(line, str(exc), FIX_LARGE) from exc
    except Twice as exc:
        raise JsonLineError(line, str(exc), FIX_TWICE) from exc
    except BadInputError as exc:
        raise BadInputError(f"line {line}: {exc.what}", fix=exc.fix) from exc
    except ValueError as exc:
        raise JsonLineError(line, str(exc)) from exc
    return True
