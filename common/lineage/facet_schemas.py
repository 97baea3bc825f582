"""Standard OpenLineage facets checked against the official facet schemas tdprov ships (``schemas/openlineage``).

A facet is checked when its ``_schemaURL`` names an official facet schema
(``https://openlineage.io/spec/facets/<version>/<Name>.json``) held here in the same major version (a new major
version may change what is required): against it, with the ``uri``, ``date-time`` and ``uuid`` formats asserted as
the OpenLineage test suites assert them. Any other facet (custom, unknown, another major version, deleted with
``_deleted``) is not checked. Each schema is compiled once, on first use; jsonschema is imported then, not before.
A facet whose content was checked before (the same schema facet on each event of a run, and of the job's next
runs) is not checked again: the answers to the last :data:`REMEMBERED` contents are kept by their BLAKE2 digest.
"""
from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

SPEC_DIR = Path(__file__).resolve().parent.parent / "schemas" / "openlineage"
_OFFICIAL = re.compile(r"https://openlineage\.io/spec/facets/(\d+)-\d+-\d+/(\w+)\.json(?:#.*)?\Z")
MESSAGE_LIMIT = 200  # characters of the schema's message (it may repeat the facet's value)
REMEMBERED = 4096  # facet contents whose answer is kept (a digest and the answer each: about 2 MB at most)


@dataclass(frozen=True)
class FacetProblem:
    """Where and how a facet does not follow its official schema: ``field`` is the path inside the facet
    (``run.runId``; empty for the facet itself), ``schema`` the facet schema's name, ``url`` the schema shipped."""

    field: str
    message: str
    schema: str
    url: str


def official_schema(schema_url: object) -> str | None:
    """The name of the official facet schema held here that ``schema_url`` names in its major version, or None."""
    found = _OFFICIAL.match(schema_url) if isinstance(schema_url, str) else None
    if found is None:
        return None
    major, name = found.groups()
    held = _held().get(name)
    return name if held is not None and held[0] == major else None


def facet_problem(facet: Mapping[str, Any]) -> FacetProblem | None:
    """The first way ``facet`` breaks the official schema its ``_schemaURL`` names; None when it follows it or
    cannot be checked (see the module)."""
    name = official_schema(facet.get("_schemaURL"))
    if name is None or facet.get("_deleted") is True:
        return None
    try:
        text = json.dumps(facet, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):  # not JSON (a caller's own objects): checked, not remembered
        return _problem(name, facet)
    key = (name, hashlib.blake2b(text.encode(), digest_size=16).digest())  # ASCII: json.dumps escapes the rest
    with _LOCK:
        if key in _ANSWERS:
            return _ANSWERS[key]
    answer = _problem(name, facet)
    with _LOCK:
        _ANSWERS[key] = answer
        while len(_ANSWERS) > REMEMBERED:
            del _ANSWERS[next(iter(_ANSWERS))]  # the oldest
    return answer


_ANSWERS: dict[tuple[str, bytes], FacetProblem | None] = {}
_LOCK = threading.Lock()


def _problem(name: str, facet: Mapping[str, Any]) -> FacetProblem | None:
    """The first way ``facet`` breaks the facet schema ``name``, or None."""
    validator = _validator(name)
    if validator.is_valid(facet):
        return None
    from jsonschema.exceptions import best_match

    error = best_match(validator.iter_errors(facet))
    message = error.message if len(error.message) <= MESSAGE_LIMIT else error.message[:MESSAGE_LIMIT] + "..."
    return FacetProblem(".".join(str(p) for p in error.absolute_path), message, name, _held()[name][1])


@cache
def _held() -> dict[str, tuple[str, str]]:
    """Name -> (major version, ``$id``) of each official facet schema held here."""
    held: dict[str, tuple[str, str]] = {}
    for path in sorted((SPEC_DIR / "facets").glob("*.json")):
        found = _OFFICIAL.match(json.loads(path.read_text(encoding="utf-8"))["$id"])
        if found is not None and found.group(2) == path.stem:
            held[path.stem] = (found.group(1), found.group(0))
    return held


@cache
def _registry() -> Any:
    """The core spec and every facet schema held here, by ``$id``, to resolve their references offline."""
    from referencing import Registry, Resource

    paths = [SPEC_DIR / "OpenLineage.json", *sorted((SPEC_DIR / "facets").glob("*.json"))]
    schemas = [json.loads(p.read_text(encoding="utf-8")) for p in paths]
    return Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas).crawl()


@cache
def _validator(name: str) -> Any:
    """The compiled validator of the facet schema ``name``, formats asserted."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator({"$ref": f"{_held()[name][1]}#/$defs/{name}"}, registry=_registry(),
                                format_checker=Draft202012Validator.FORMAT_CHECKER)
