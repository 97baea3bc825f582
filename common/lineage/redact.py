"""Keep secrets out of events: redact values by structure (secret-named keys at any depth, name/value
pairs, JSON text inside strings) and strings by shape (:mod:`.secret_text`).

Cost is linear in the size of the value: every text pattern is bounded, JSON text is parsed once per
level and at most :data:`MAX_JSON_LEVELS` levels deep, and structures deeper than :data:`MAX_DEPTH`
are replaced by a marker instead of being walked.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from prov_common.lineage.secret_text import (
    CONTAINER_SCHEMES,
    REDACTED,
    is_secret_key,
    redact_identity,
    redact_namespace,
    redact_text,
    redact_tokens,
    redact_uri,
)
from prov_common.lineage.validate import MAX_NESTING

__all__ = ["CONTAINER_SCHEMES", "REDACTED", "MAX_DEPTH", "is_secret_key", "redact_identity", "redact_mapping", "redact_namespace",
           "redact_text",
           "redact_tokens", "redact_uri", "redact_value"]

MAX_DEPTH = MAX_NESTING  # nesting of mappings and lists that is walked; deeper parts become TOO_DEEP
MAX_JSON_LEVELS = 3  # JSON text inside a string inside JSON text... parsed this many levels
TOO_DEEP = "*** (nested too deep to inspect)"
# facet fields whose keys are column names (tdprov's content hash, dataQualityMetrics, columnLineage)
_KEYED_BY_COLUMN = frozenset({"columns", "columnMetrics", "fields"})
# a name/value pair ({"name": "DB_PASSWORD", "value": ...}): the name field and the value fields
_NAME_FIELDS = ("name", "key", "Name", "Key", "variable", "var", "env", "parameter", "ParameterKey", "label")
_VALUE_FIELDS = frozenset({"value", "Value", "val", "values", "valueFrom", "secretValue", "stringValue", "data",
                           "default", "defaultValue", "ParameterValue", "content", "text"})
# fields beside which a name field names a pair (OpenLineage tags and execution parameters: key, value,
# description) rather than holding a setting ({"key": "<an encryption key>"})
_PAIR_FIELDS = _VALUE_FIELDS | {"description", "Description"}
# the fields that together name a dataset or a job (an event's datasets and job, a parent run's job, a symlink,
# a column's input field, tdprov's facets): redacted as names, not as free text (see redact_identity)
_IDENTITY_FIELDS = ("namespace", "name")


def redact_value(value: Any) -> Any:
    """A JSON-ready copy of ``value`` with secrets redacted (mappings by key, strings by content)."""
    return _Redactor().value(value, 0)


def redact_mapping(mapping: Mapping[Any, Any]) -> dict[str, Any]:
    """A JSON-ready copy of ``mapping`` in which every value under a secret-looking key (or named by a
    secret-looking ``name``/``key`` sibling) is ``***`` and every other value is redacted recursively."""
    return _Redactor().mapping(mapping, 0)


KEYS_KEPT = 4096  # mapping keys whose answer is kept (:func:`_key_facts`): 1.4 MB of ASCII keys, 4.6 MB at most (4-byte characters)
KEY_KEPT_LENGTH = 256  # the longest key kept (longer keys are judged afresh each time: few, and a bound on the memory)
_KEYS: dict[str, bool] = {}  # a key redaction leaves as it is -> whether it names a secret


def _key_facts(key: str) -> tuple[str, bool]:
    """A mapping key redacted as text, and whether it names a secret (:func:`is_secret_key`). An event's keys are few
    and the same from one event to the next (facet and field names): the answers for up to :data:`KEYS_KEPT` short
    keys that hold nothing to redact are kept (a key that does, a secret by its shape, is never kept)."""
    secret = _KEYS.get(key)
    if secret is not None:
        return key, secret
    name, secret = redact_text(key), is_secret_key(key)
    if name == key and len(key) <= KEY_KEPT_LENGTH:
        if len(_KEYS) >= KEYS_KEPT:
            _KEYS.clear()  # bounded without a lock: each operation is atomic
        _KEYS[key] = secret
    return name, secret


class _Identity(str):
    """The name of a dataset or a job, redacted by :func:`redact_identity`."""


class _Namespace(_Identity):
    """The namespace of a dataset or a job, redacted by :func:`redact_namespace` (as tdprov names its own)."""


class _Redactor:
    """One walk over a value; ``json_level`` counts JSON texts entered through strings."""

    def __init__(self, json_level: int = 0) -> None:
        self.json_level = json_level

    def value(self, value: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            return TOO_DEEP
        if isinstance(value, Mapping):
            return self.mapping(value, depth)
        if isinstance(value, (list, tuple, set, frozenset)):
            items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else list(value)
            if len(items) == 2 and isinstance(items[0], str) and is_secret_key(items[0]) and items[1] not in (None, ""):
                return [items[0], REDACTED]  # a (name, value) pair
            return [self.value(v, depth + 1) for v in items]
        if isinstance(value, _Namespace):
            return redact_namespace(value)
        if isinstance(value, _Identity):
            return redact_identity(value)
        if isinstance(value, str):
            return self.text(value)
        if value is None or isinstance(value, (bool, int, float)):
            return value
        return self.text(str(value))

    def mapping(self, mapping: Mapping[Any, Any], depth: int, *, data_names: bool = False) -> dict[str, Any]:
        """``data_names``: the keys name data (columns), not settings: a column called ``token`` keeps its value.
        The name field of a name/value pair (``{"key": "team", "value": ...}``) keeps its text unless it holds
        a secret by shape; the value fields are redacted when that name looks secret."""
        if depth > MAX_DEPTH:
            return {"***": TOO_DEEP}
        if all(isinstance(mapping.get(f), str) for f in _IDENTITY_FIELDS):
            mapping = {**mapping, "namespace": _Namespace(mapping["namespace"]), "name": _Identity(mapping["name"])}
        named_secret = not data_names and any(isinstance(mapping.get(f), str) and is_secret_key(mapping[f]) for f in _NAME_FIELDS)
        is_pair = not data_names and any(f in mapping for f in _PAIR_FIELDS)
        out: dict[str, Any] = {}
        for key, item in mapping.items():
            name, secret_key = _key_facts(str(key))
            names_pair = is_pair and key in _NAME_FIELDS and isinstance(item, str)  # {"key": "api_key", ...}: redacted by shape only
            if item in (None, ""):
                out[name] = item
            elif not data_names and ((secret_key and not names_pair) or (named_secret and key in _VALUE_FIELDS)):
                out[name] = REDACTED
            elif key in _KEYED_BY_COLUMN and isinstance(item, Mapping) and depth < MAX_DEPTH:
                out[name] = self.mapping(item, depth + 1, data_names=True)
            else:
                out[name] = self.value(item, depth + 1)
        return out

    def text(self, text: str) -> str:
        """A string; JSON text (an object or array, e.g. an Airflow connection's ``extra``), or lines of it
        within other text, is redacted as JSON; the rest by shape."""
        if self.json_level >= MAX_JSON_LEVELS or ("{" not in text and "[" not in text):
            return redact_text(text)
        whole = self.json_text(text)
        if whole is not None:
            return whole
        if "\n" in text:
            lines = text.split("\n")
            text = "\n".join(self.json_text(line) or line for line in lines)
        return redact_text(text)

    def json_text(self, text: str) -> str | None:
        """``text`` redacted as JSON if it is a JSON object or array (unchanged if nothing is secret), else None."""
        stripped = text.strip()
        if stripped[:1] not in ("{", "[") or stripped[-1:] not in ("}", "]"):
            return None
        try:
            parsed = json.loads(stripped)
        except (ValueError, RecursionError):
            return None
        if not isinstance(parsed, (dict, list)):
            return None
        clean = _Redactor(self.json_level + 1).value(parsed, 0)
        return text if clean == parsed else json.dumps(clean, ensure_ascii=False)
