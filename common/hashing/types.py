"""Canonical logical types: which Arrow types hash alike, and the type string that names them.

The canonical type of a column decides how its values are encoded; its *logical type string* goes
into the column digest. Types that hold the same values in a different physical form (string vs
large_string, timestamp units, decimal precision, list flavours) share one canonical type.
Integer width is not part of the logical type: every signed width and the unsigned widths up to
32 bits hash as ``int64`` (the type a CSV reads back); ``uint64`` keeps its own type, since its
values may lie beyond int64.
"""
from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc

from prov_common.errors import UnsupportedTypeError

NS = "ns"


def _q(name: str) -> str:
    """A struct field name as a JSON string, so any name is unambiguous inside a type string."""
    return json.dumps(name, ensure_ascii=False)


def canonical_type(t: pa.DataType) -> pa.DataType:
    """The canonical Arrow type whose encoding is hashed for values of type ``t``.

    Dictionary (categorical) types map to the canonical type of their values; the categories and
    ordered flag are named in the logical type string instead (see :func:`logical_type`).
    """
    if pa.types.is_dictionary(t):
        return canonical_type(t.value_type)
    if pa.types.is_integer(t):
        return pa.uint64() if t == pa.uint64() else pa.int64()
    if pa.types.is_null(t) or pa.types.is_boolean(t):
        return t
    if pa.types.is_float16(t):
        return pa.float32()
    if pa.types.is_floating(t):
        return t
    if pa.types.is_decimal(t):
        return pa.decimal256(76, t.scale)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.large_string()
    if (pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t)
            or pa.types.is_fixed_size_binary(t)):
        return pa.large_binary()
    if pa.types.is_date(t):
        return pa.date32()
    if pa.types.is_time(t):
        return pa.time64(NS)
    if pa.types.is_timestamp(t):
        return pa.timestamp(NS, t.tz)
    if pa.types.is_duration(t):
        return pa.duration(NS)
    if pa.types.is_map(t):
        return pa.map_(canonical_type(t.key_type), canonical_type(t.item_type))
    if (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)
            or pa.types.is_list_view(t) or pa.types.is_large_list_view(t)):
        return pa.large_list(canonical_type(t.value_type))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, canonical_type(f.type)) for f in t])
    raise UnsupportedTypeError(f"Arrow type {t} is not supported.")


def logical_type(t: pa.DataType) -> str:
    """The logical type string of Arrow type ``t`` (see docs/content-hash.md, "Logical types")."""
    if pa.types.is_dictionary(t):
        raise ValueError("dictionary types need their categories: use column_logical_type()")
    c = canonical_type(t)
    if pa.types.is_floating(c):
        return f"float{c.bit_width}"
    if pa.types.is_null(c) or pa.types.is_boolean(c) or pa.types.is_integer(c):
        return str(c)
    if pa.types.is_decimal(c):
        return f"decimal(scale={c.scale})"
    if pa.types.is_large_string(c):
        return "string"
    if pa.types.is_large_binary(c):
        return "binary"
    if pa.types.is_date32(c):
        return "date32[day]"
    if pa.types.is_time64(c):
        return "time64[ns]"
    if pa.types.is_timestamp(c):
        return "timestamp[ns]" if c.tz is None else f"timestamp[ns, tz={c.tz}]"
    if pa.types.is_duration(c):
        return "duration[ns]"
    if pa.types.is_map(c):
        return f"map<{logical_type(c.key_type)}, {logical_type(c.item_type)}>"
    if pa.types.is_large_list(c):
        return f"list<{logical_type(c.value_type)}>"
    if pa.types.is_struct(c):
        return "struct<" + ", ".join(f"{_q(f.name)}: {logical_type(f.type)}" for f in c) + ">"
    raise UnsupportedTypeError(f"Arrow type {t} is not supported.")  # pragma: no cover


def _read_as_is(t: pa.DataType) -> bool:
    """Types the encoder reads as they are: either offset width, any time unit, children cast later."""
    return (pa.types.is_struct(t) or pa.types.is_map(t) or pa.types.is_list(t) or pa.types.is_large_list(t)
            or pa.types.is_timestamp(t) or pa.types.is_duration(t)
            or pa.types.is_string(t) or pa.types.is_large_string(t)
            or pa.types.is_binary(t) or pa.types.is_large_binary(t))


def canonicalize(arr: pa.Array) -> pa.Array:
    """Cast one Arrow array (a block) to its canonical type; dictionaries are decoded."""
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    target = canonical_type(arr.type)
    if arr.type == target or _read_as_is(arr.type):
        return arr
    try:
        return pc.cast(arr, target, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise UnsupportedTypeError(
            f"values of type {arr.type} cannot be brought to the canonical type {target}: {exc}",
            fix="cast the column to a supported type first.",
        ) from exc


# --- parsing logical type strings back into canonical Arrow types (for single records) ---

_SIMPLE = {
    "null": pa.null(), "bool": pa.bool_(), "string": pa.large_string(), "binary": pa.large_binary(),
    "date32[day]": pa.date32(), "time64[ns]": pa.time64(NS), "timestamp[ns]": pa.timestamp(NS),
    "duration[ns]": pa.duration(NS), "float32": pa.float32(), "float64": pa.float64(),
    **{f"{s}int{w}": getattr(pa, f"{s}int{w}")() for s in ("", "u") for w in (8, 16, 32, 64)},
}


def parse_logical_type(text: str) -> pa.DataType:
    """The canonical Arrow type named by a logical type string (categories give their value type)."""
    parser = _TypeParser(text)
    t = parser.parse()
    if parser.rest().strip():
        raise UnsupportedTypeError(f"logical type {text!r} has trailing text {parser.rest()!r}.")
    return t


class _TypeParser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def rest(self) -> str:
        return self.text[self.pos:]

    def _skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] == " ":
            self.pos += 1

    def _expect(self, s: str) -> None:
        self._skip()
        if not self.text.startswith(s, self.pos):
            raise UnsupportedTypeError(f"logical type {self.text!r}: expected {s!r} at {self.pos}.")
        self.pos += len(s)

    def _word(self) -> str:
        self._skip()
        start = self.pos
        depth = 0
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == "[":
                depth += 1
            elif ch == "]":
                depth -= 1
            elif depth == 0 and ch in "<>,":
                break
            self.pos += 1
        return self.text[start:self.pos].strip()

    def parse(self) -> pa.DataType:
        word = self._word()
        if word in _SIMPLE:
            return _SIMPLE[word]
        if word.startswith("timestamp[ns, tz=") and word.endswith("]"):
            return pa.timestamp(NS, word[len("timestamp[ns, tz="):-1])
        if word.startswith("decimal(scale=") and word.endswith(")"):
            return pa.decimal256(76, int(word[len("decimal(scale="):-1]))
        if word in ("list", "map", "struct", "category"):
            self._expect("<")
            if word == "list":
                t: pa.DataType = pa.large_list(self.parse())
            elif word == "map":
                k = self.parse()
                self._expect(",")
                t = pa.map_(k, self.parse())
            elif word == "category":
                t = self.parse()
                while self.text[self.pos] != ">":  # skip ", ordered=..., categories=..."
                    self.pos += 1
            else:
                fields = []
                self._skip()
                while not self.text.startswith(">", self.pos):
                    name, end = json.JSONDecoder().raw_decode(self.text, self.pos)
                    self.pos = end
                    self._expect(":")
                    fields.append(pa.field(name, self.parse()))
                    self._skip()
                    if self.text.startswith(",", self.pos):
                        self.pos += 1
                        self._skip()
                t = pa.struct(fields)
            self._expect(">")
            return t
        raise UnsupportedTypeError(f"logical type {self.text!r}: unknown type {word!r}.")
