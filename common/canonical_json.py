"""Canonical JSON (RFC 8785): the only form in which tdprov hashes or signs JSON."""
from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import TYPE_CHECKING, Any

import rfc8785

if TYPE_CHECKING:
    from prov_common.errors import BadInputError

INT_LIMIT = 2**53 - 1
"""The largest integer (in magnitude) canonical JSON writes as a number: 2**53 - 1."""
_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)
_ASTRAL = "\U00010000"


def _plain(value: Any) -> bool:
    """True when the C ``json`` encoder writes exactly RFC 8785's bytes for ``value``: only exact
    dict/list/tuple/str/int/bool/None, no floats (ES6 number formatting differs), integers in the
    safe range, and keys without characters beyond U+FFFF (so code-point order is UTF-16 order)."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return -INT_LIMIT <= value <= INT_LIMIT
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or not (key.isascii() or max(key) < _ASTRAL) or not _plain(item):
                return False
        return True
    if kind is list or kind is tuple:
        return all(_plain(item) for item in value)
    return False


def canonical_bytes(value: Any) -> bytes:
    """Serialise ``value`` as RFC 8785 canonical JSON (UTF-8, sorted keys, no whitespace).

    Plain JSON values take the C encoder, whose output is byte-identical for them (same escapes,
    same key order); anything else (floats, big integers, astral keys, lone surrogates) goes
    through ``rfc8785``.
    """
    return canonical_form(value)[0]


def canonical_form(value: Any) -> tuple[bytes, bool]:
    """:func:`canonical_bytes` of ``value``, and whether they are ``value`` parsed (:func:`loads`) written again: so
    for plain JSON values (the C encoder's); not always for one with floats (``1e20`` is written
    ``100000000000000000000``, which parses as an integer too large to write), so a writer of the parsed value writes
    it again."""
    if _plain(value):
        try:
            return _ENCODER.encode(value).encode("utf-8"), True
        except UnicodeEncodeError:
            pass  # a lone surrogate: rfc8785 raises its own error
    try:
        return rfc8785.dumps(value), False
    except rfc8785.CanonicalizationError as exc:
        from prov_common.errors import BadInputError

        raise BadInputError(f"value cannot be written as canonical JSON (RFC 8785): {exc}",
                            fix="keep integers within +/-(2**53 - 1) (write bigger ones as strings), floats finite, text valid Unicode") from exc


MAX_DEPTH = 200  # levels of arrays and objects :func:`loads` reads (tdprov writes at most about a hundred)


class NestingError(ValueError):
    """JSON nested deeper than :data:`MAX_DEPTH` levels: malformed for tdprov, like any other invalid JSON."""


class RepeatedKeyError(ValueError):
    """A JSON object that gives one key more than once (``key``): readers differ on which value it holds."""

    def __init__(self, key: str) -> None:
        super().__init__(f"an object gives the key {key!r} more than once")
        self.key = key

    def refused(self, place: str) -> BadInputError:
        """The refusal of the JSON at ``place`` (``FILE line 3``, ``FILE item 2``, ``OpenLineage event #2``)."""
        from prov_common.errors import BadInputError

        return BadInputError(f"{place} gives the key {self.key!r} more than once in one object: one reader takes its "
                             "first value, another its last, so it is not one record.", fix=_REPEATED_KEY_FIX)


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An ``object_pairs_hook`` for :func:`json.loads`: the object of ``pairs``, or :class:`RepeatedKeyError` for a key
    given twice (Python's reader keeps its last value, another reader, or a signature over the bytes, its first)."""
    value = dict(pairs)
    if len(value) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise RepeatedKeyError(key)
            seen.add(key)
    return value


_REPEATED_KEY_FIX = "write each key of an object once (its producer wrote one twice: only it knows which value it meant)"


def loads(data: bytes | str, *, once: bool = False) -> Any:
    """Parse JSON bytes or text; :class:`ValueError` for invalid JSON, and :class:`NestingError` (also a
    ``ValueError``) for JSON nested more than :data:`MAX_DEPTH` levels, so hostile depth is one malformed
    object, never a ``RecursionError``. ``NaN``, ``Infinity`` and numbers beyond a double (``1e999999``, read as
    infinity) are invalid JSON too: canonical JSON has none, and an infinity stopped readers that count with it.
    ``once``: an object giving a key twice is :class:`RepeatedKeyError` (also a ``ValueError``), as JSON read from
    another producer is checked (what tdprov signs is canonical, so it has none)."""
    try:
        value = json.loads(data, parse_constant=_no_constant, parse_float=_finite_float,
                           object_pairs_hook=unique_keys if once else None)
    except RecursionError:
        raise NestingError(_TOO_DEEP) from None
    except ValueError as exc:
        digits = too_many_digits(exc)
        if digits is None:
            raise
        raise ValueError(_too_long(digits)) from None
    if _openings(data) > MAX_DEPTH and _deeper_than(data, MAX_DEPTH):
        raise NestingError(_TOO_DEEP)
    return value


_INT_DIGITS = re.compile(r"integer string conversion: value has (\d+) digits")


def too_many_digits(exc: BaseException | None) -> int | None:
    """The digits of the integer whose text Python refused to read (past its limit, 4,300), when that is what ``exc``
    says; else None."""
    found = _INT_DIGITS.search(str(exc)) if isinstance(exc, ValueError) else None
    return int(found[1]) if found else None


def json_reason(exc: ValueError) -> str:
    """Why :mod:`json` refused a text, in tdprov's words: Python's own refusal of an integer past the digits it reads
    tells to change a setting of Python."""
    digits = too_many_digits(exc)
    return str(exc) if digits is None else _too_long(digits)


def _too_long(digits: int) -> str:
    return f"an integer of {digits:,} digits is longer than tdprov reads (4,300 digits)"


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number {text[:40]}{'...' if len(text) > 40 else ''} is beyond what a double holds")
    return value


_TOO_DEEP = f"JSON nested more than {MAX_DEPTH} levels of arrays or objects deep"


def _openings(data: bytes | str) -> int:
    """An upper bound of the nesting depth of ``data``: its count of ``[`` and ``{`` (quick, in C)."""
    if isinstance(data, str):
        return data.count("[") + data.count("{")
    return data.count(b"[") + data.count(b"{")


_NOT_STRUCTURE = bytes(set(range(256)) - set(b'"[]{}'))
_TEXTS = re.compile(rb'"[^"]*"')  # a string, once escapes are gone and only quotes and brackets are left
_PAIRS = bytes.maketrans(b"[{]}", b"(())")
_STEP = tuple(1 if byte == ord("(") else -1 for byte in range(256))  # what a bracket adds to the depth
_LEAF_PASSES = 8  # levels of innermost arrays and objects removed in C before the rest is counted one by one


def _deeper_than(data: bytes | str, limit: int) -> bool:
    """True when the JSON text ``data`` (valid: :func:`json.loads` read it) nests arrays and objects more than ``limit``
    levels, told from its brackets outside strings (walking the parsed value instead took as long as the parse, or
    twice as long, for any JSON of more than :data:`MAX_DEPTH` arrays and objects)."""
    if isinstance(data, bytes) and (encoding := json.detect_encoding(data)) not in ("utf-8", "utf-8-sig"):
        data = data.decode(encoding)  # UTF-16 or -32: a character's bytes may be a quote's or bracket's
    text = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    text = text.replace(b"\\\\", b"").replace(b'\\"', b"")  # escapes gone, each quote left opens or closes a string
    # quotes and brackets only; two quotes side by side end one string and start another, or hold an empty one
    brackets = _TEXTS.sub(b"", text.translate(None, _NOT_STRUCTURE).replace(b'""', b"")).translate(_PAIRS)
    removed = 0  # each pass removes every innermost pair, one level (a pair it leaves behind stays to the next)
    while brackets and removed < _LEAF_PASSES:
        brackets, removed = brackets.replace(b"()", b""), removed + 1
    return removed + max(accumulate(map(_STEP.__getitem__, brackets)), default=0) > limit
