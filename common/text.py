"""Plain-text helpers shared by the CLI and the lineage drawings.

Widths are terminal cells, not characters: a wide (CJK) or full-width character takes two cells, a combining mark none
(:func:`cells`), so columns of names in any script line up. What a person reads of a recorded name (terminal, HTML
report, picture) goes through :func:`visible`: a bidi control or zero-width character in it is shown escaped, so the
name cannot reorder a line or pass for another name."""
from __future__ import annotations

import json
import re
import shlex
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

_CONTROLS = [*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F, *range(0x80, 0xA0)]  # all but tab and newline
_BIDI = [0x061C, 0x200E, 0x200F, 0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_INVISIBLE = [0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF]  # zero-width space, non-joiner, joiner, word joiner, BOM
VISIBLE_ESCAPES = {**{c: f"\\x{c:02x}" for c in _CONTROLS}, **{c: f"\\u{c:04x}" for c in (*_BIDI, *_INVISIBLE)}}


def visible(text: str) -> str:
    """``text`` with control characters (tab and newline aside), bidirectional controls and zero-width characters
    escaped."""
    return text.translate(VISIBLE_ESCAPES)


def char_cells(char: str) -> int:
    """Terminal cells one character takes: 2 for East Asian wide or full-width, 0 for a combining mark, else 1."""
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def cells(text: str) -> int:
    """Terminal cells ``text`` takes on one line (:func:`char_cells` of each character)."""
    return len(text) if text.isascii() else sum(map(char_cells, text))


def padded(text: str, width: int) -> str:
    """``text`` followed by spaces up to ``width`` cells (``str.ljust`` counts characters)."""
    return text + " " * max(0, width - cells(text))


def shortened(text: str, width: int) -> str:
    """``text`` in at most ``width`` cells: a longer one keeps its end (a job's or file's own name), shown cut by a
    leading ``…``."""
    if cells(text) <= width:
        return text
    kept, used = len(text), 1  # the '…' takes one cell
    while kept > 0 and used + char_cells(text[kept - 1]) <= width:
        kept -= 1
        used += char_cells(text[kept])
    return "…" + text[kept:]


def clause(text: str) -> str:
    """``text`` (a message, a sentence) without its closing full stop, to stand in brackets inside another one."""
    return text[:-1] if text.endswith(".") and not text.endswith("..") else text


def noun_for(count: int, noun: str, plural: str | None = None) -> str:
    """``noun`` in the plural (``plural``, else ``noun`` + s) unless ``count`` is one: ``column``, ``columns``."""
    return noun if count == 1 else plural or noun + "s"


def camel_case(name: str) -> str:
    """A snake_case field name as tdprov's JSON names it (``lock_mode`` -> ``lockMode``)."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def camel_keys(fields: Mapping[str, Any]) -> dict[str, Any]:
    """``fields`` with each key named as tdprov's JSON names it (:func:`camel_case`), in their order, values as they
    are: how a record's view, a finding's and the settings' JSON name what their dataclass fields hold."""
    return {camel_case(k): v for k, v in fields.items()}


def job_json(namespace: str | None, name: str) -> dict[str, str | None]:
    """A job as all of tdprov's JSON gives one (``runs``, ``show``, ``lineage``, ``contains``, ``audit`` and its
    report.json, the Airflow page): an object of its namespace (None: a PROV document that does not state it) and
    name, as OpenLineage events give it, never ``namespace/name`` text (docs/cli.md, "Names in JSON")."""
    return {"namespace": namespace, "name": name}


def job_path(namespace: str, name: str) -> str:
    """A run's job as ``namespace/name``: how ``tdprov runs`` shows it and a user types it, and how the audit's findings
    and a refusal of a run id name it (an empty namespace too: ``/name``)."""
    return f"{namespace}/{name}"


def job_text(job: Mapping[str, Any]) -> str:
    """A job of tdprov's JSON (:func:`job_json`) as its tables and lines name it: ``namespace/name``, as ``tdprov runs``
    shows it (:func:`job_path`; its name alone when no namespace is stated)."""
    return job_path(job["namespace"], job["name"]) if job.get("namespace") else str(job["name"])


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``count`` and ``noun``, in the plural (``plural``, else ``noun`` + s) unless one: ``1 run``, ``1,200 runs``."""
    return f"{count:,} {noun_for(count, noun, plural)}"


def first_of(items: Sequence[str], shown: int, sep: str = ", ", *, total: int | None = None) -> str:
    """At most ``shown`` of ``items`` joined by ``sep``, the rest counted (``a, b and 3 more``). ``total``: how many
    there are, when ``items`` holds only the first of them (None: ``len(items)``)."""
    total = len(items) if total is None else total
    more = f" and {total - shown:,} more" if total > shown else ""
    return sep.join(items[:shown]) + more


def pasteable(text: str) -> str:
    """``text`` quoted so that, pasted into a POSIX shell as shown, it is that one argument exactly: in single quotes,
    backslashes as they are, a ``'`` in it as ``'"'"'`` (:func:`shlex.quote`); plain text thus as ``repr`` shows it
    (``'/data/a.csv'``). A text with a character a message cannot show as it is (a control, bidi or zero-width
    character, which :func:`visible` escapes) is shown as ``repr`` shows it."""
    if not text.isprintable():
        return repr(text)
    quoted = shlex.quote(text)
    return quoted if quoted.startswith("'") else f"'{quoted}'"


def shell_word(text: str) -> str:
    """``text`` as one argument of a command shown to paste: as it is where a POSIX shell takes it so (``abc-1``), else
    in single quotes (:func:`pasteable`); one holding a character a message cannot show as it is (a new line, a
    control) in ``$'...'`` with each such character escaped (``$'a\\nb'``), as bash, zsh, ksh and POSIX.1-2024 shells
    read it: never as ``repr`` shows it, whose double quotes a shell expands (``$(...)``). A value given by a store,
    such as an S3 version id, thus never runs as a command of its own."""
    if text and shlex.quote(text) == text:
        return text
    if text.isprintable():
        return pasteable(text)
    return "$'" + "".join(_ansi_c(ch) for ch in text) + "'"


def _ansi_c(ch: str) -> str:
    """``ch`` inside ``$'...'``: a backslash or a quote escaped, a character a message cannot show as UTF-8 bytes
    (``\\n``, ``\\xHH``), any other as it is."""
    if ch in "\\'":
        return "\\" + ch
    if ch.isprintable():
        return ch
    return _ANSI_C.get(ch) or "".join(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogatepass"))


_ANSI_C = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


VALUE_AT_MOST = 200  # characters of a value (quoted, or a word: a path, an argument) shown in a message
_QUOTED = re.compile(r"""(?<![\w'"])b?(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""")
_REPR_CHAR = re.compile(r"\\(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|N\{[^}]*\}|.)|.", re.DOTALL)
_WORD = re.compile(r"\S{%d,}")


def cut(value: str, at_most: int) -> str:
    """``value`` if at most ``at_most`` characters long, else that many of it, its start and its end around a ``…``,
    then its size: ``aaaa…aa (70,000 characters)``."""
    if len(value) <= at_most:
        return value
    tail = at_most // 4
    head = at_most - tail - 1
    return f"{value[:head]}…{value[len(value) - tail:]} ({len(value):,} characters)"


RECORDED_VALUE_AT_MOST = 60  # characters of a recorded value (a field of an event) that a message quotes


def shown_value(value: Any, at_most: int = RECORDED_VALUE_AT_MOST) -> str:
    """A recorded value as a message quotes it: its JSON (``null``, ``5``, ``{"a": 1}``; the repr of what JSON cannot
    write), :func:`cut` to ``at_most`` characters."""
    return cut(json.dumps(value, default=repr), at_most)


def _cut_word(word: str, at_most: int) -> str:
    bare = word.rstrip(".,:;)")  # the punctuation that ends it stays after its size
    inner = bare.lstrip("(")  # and an opening bracket before it, counted in neither
    return bare[:len(bare) - len(inner)] + cut(inner, at_most) + word[len(bare):]


def _cut_quoted(quoted: str, at_most: int) -> str:
    """A quoted value (a repr) cut to ``at_most`` characters of the value: an escape (``\\x1b``, ``\\u202e``) is one
    character, never split."""
    prefix = quoted[:quoted.index(quoted[-1])]  # b for bytes
    chars = _REPR_CHAR.findall(quoted, len(prefix) + 1, len(quoted) - 1)
    if len(chars) <= at_most:
        return quoted
    tail = at_most // 4
    head = at_most - tail - 1
    return f"{prefix}{quoted[-1]}{''.join(chars[:head])}…{''.join(chars[-tail:])}{quoted[-1]} ({len(chars):,} characters)"


def cut_long_values(text: str, at_most: int = VALUE_AT_MOST) -> str:
    """``text`` (a message) with each quoted value, and each other word, longer than ``at_most`` characters cut to that
    length and followed by its size: ``'aaaaaa…aa' (70,000 characters)``. A message that echoed a long argument whole
    was a line of any length."""
    if len(text) <= at_most:
        return text
    words = re.compile(_WORD.pattern % (at_most + 1))
    parts, end = [], 0
    for match in _QUOTED.finditer(text):
        parts += [words.sub(lambda m: _cut_word(m[0], at_most), text[end:match.start()]), _cut_quoted(match[0], at_most)]
        end = match.end()
    return "".join([*parts, words.sub(lambda m: _cut_word(m[0], at_most), text[end:])])
