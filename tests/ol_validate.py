"""OpenLineage event validation for the test suite, with JSON Schema format checking.

Validates against the official spec schemas tdprov ships in ``common/schemas/openlineage`` (so a plain clone
needs nothing beside it):

* the event against ``OpenLineage.json`` (``RunEvent``; ``DatasetEvent`` / ``JobEvent`` when it has
  no ``eventType`` and no ``run``);
* every standard facet against its own facet schema, matched by the file name in its ``_schemaURL``
  whatever the version in that URL;
* every custom facet: an object whose ``_producer`` and ``_schemaURL`` are URIs; with
  ``custom_schemas=True`` also each tdprov facet against the JSON Schema the package ships for it.

``format`` is asserted, not just annotated: ``uri``, ``date-time`` and ``uuid`` values must be what
they claim (RFC 3986, RFC 3339, RFC 4122). Importing this module fails when jsonschema cannot check
those formats here (tdprov's dependencies bring ``rfc3986-validator`` and ``rfc3339-validator``).

Usage: ``validate_event(event_dict)`` raises :class:`EventInvalid`; ``event_problems`` lists them;
``python tests/ol_validate.py FILE_OR_FOLDER ...`` checks ``.json`` / ``.jsonl`` files (exit 1 on any invalid).
"""
from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

SPEC_DIR = Path(__file__).resolve().parents[1] / "common" / "schemas" / "openlineage"
CORE_ID = json.loads((SPEC_DIR / "OpenLineage.json").read_text())["$id"]
FORMATS = ("uri", "date-time", "uuid")

FORMAT_CHECKER: FormatChecker = Draft202012Validator.FORMAT_CHECKER
_missing = [name for name in FORMATS if name not in FORMAT_CHECKER.checkers]
if _missing:
    raise ImportError(
        f"jsonschema cannot check the formats {_missing} here; "
        "install tdprov's dependencies (pip install -e .: rfc3986-validator, rfc3339-validator)"
    )


class EventInvalid(ValueError):
    """An event that does not follow the OpenLineage spec; the message lists every problem."""


def _package_schemas() -> dict[str, dict]:
    """tdprov's own facet schemas, by their ``$id`` (empty when the package is not importable)."""
    try:
        import prov_common
    except ImportError:
        return {}
    folder = Path(prov_common.__file__).resolve().parent / "schemas"
    schemas = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    return {s["$id"]: s for s in schemas}


@cache
def _registry() -> tuple[Registry, dict[str, str], frozenset[str]]:
    """The schema registry, facet file stem -> ``$id`` of the standard facets, and the custom schema ids."""
    resources: list[tuple[str, Resource]] = []
    facet_ids: dict[str, str] = {}
    for path in [SPEC_DIR / "OpenLineage.json", *sorted((SPEC_DIR / "facets").glob("*.json"))]:
        schema = json.loads(path.read_text())
        resources.append((schema["$id"], Resource.from_contents(schema)))
        if path.parent.name == "facets":
            facet_ids[path.stem] = schema["$id"]
    custom = _package_schemas()
    resources += [(sid, Resource.from_contents(schema)) for sid, schema in custom.items()]
    return Registry().with_resources(resources), facet_ids, frozenset(custom)


def _validator(ref: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": ref}, registry=_registry()[0], format_checker=FORMAT_CHECKER)


def _problems(validator: Draft202012Validator, instance: object, where: str = "") -> list[str]:
    return [f"{where}/{'/'.join(str(p) for p in err.absolute_path)}: {err.message}" for err in validator.iter_errors(instance)]


def _errors(ref: str, instance: object, where: str) -> list[str]:
    return _problems(_validator(ref), instance, where)


def schema_problems(schema: dict, instance: object) -> list[str]:
    """Problems of ``instance`` against ``schema`` (such as another producer's facet schema, whose ``$ref`` names the
    core spec), with the spec's schemas to resolve its references and formats checked."""
    return _problems(Draft202012Validator(schema, registry=_registry()[0], format_checker=FORMAT_CHECKER), instance)


def is_uri(value: object) -> bool:
    """True for an absolute URI (RFC 3986), as the ``uri`` format demands."""
    return isinstance(value, str) and FORMAT_CHECKER.conforms(value, "uri")


def _facet_schema_ref(url: str, custom_schemas: bool) -> str | None:
    """The schema a facet's ``_schemaURL`` names: a standard facet file, or (``custom_schemas``) one of tdprov's."""
    _, facet_ids, custom_ids = _registry()
    document, _, pointer = url.partition("#")
    if custom_schemas and document in custom_ids:
        return url if pointer else document
    stem = Path(urlsplit(document).path).stem
    if stem in facet_ids:
        return f"{facet_ids[stem]}#/$defs/{stem}"
    return None


def _facet_problems(where: str, facets: object, custom_schemas: bool) -> list[str]:
    if facets is None:
        return []
    if not isinstance(facets, dict):
        return [f"{where}: facets must be an object"]
    problems: list[str] = []
    for key, facet in facets.items():
        spot = f"{where}.{key}"
        if not isinstance(facet, dict):
            problems.append(f"{spot}: a facet must be an object")
            continue
        if facet.get("_deleted") is True:
            continue
        for field in ("_producer", "_schemaURL"):
            if not is_uri(facet.get(field)):
                problems.append(f"{spot}: {field} must be an absolute URI, got {facet.get(field)!r}")
        ref = _facet_schema_ref(str(facet.get("_schemaURL", "")), custom_schemas)
        if ref is not None:
            problems += _errors(ref, facet, spot)
    return problems


def event_kind(event: dict) -> str:
    """``RunEvent``, ``DatasetEvent`` or ``JobEvent``, as the spec tells them apart."""
    if "eventType" in event or "run" in event:
        return "RunEvent"
    return "DatasetEvent" if "dataset" in event else "JobEvent"


def event_problems(event: object, custom_schemas: bool = False) -> list[str]:
    """Every problem found in one event (empty: valid); ``custom_schemas`` checks tdprov's facets too."""
    if not isinstance(event, dict):
        return ["an event must be a JSON object"]
    kind = event_kind(event)
    problems = _errors(f"{CORE_ID}#/$defs/{kind}", event, kind)
    run, job = event.get("run") or {}, event.get("job") or {}
    if isinstance(run, dict):
        problems += _facet_problems("run.facets", run.get("facets"), custom_schemas)
    if isinstance(job, dict):
        problems += _facet_problems("job.facets", job.get("facets"), custom_schemas)
    if isinstance(event.get("dataset"), dict):
        problems += _facet_problems("dataset.facets", event["dataset"].get("facets"), custom_schemas)
    for side, extra in (("inputs", "inputFacets"), ("outputs", "outputFacets")):
        for i, ds in enumerate(event.get(side) or []):
            if isinstance(ds, dict):
                problems += _facet_problems(f"{side}[{i}].facets", ds.get("facets"), custom_schemas)
                problems += _facet_problems(f"{side}[{i}].{extra}", ds.get(extra), custom_schemas)
    return problems


def validate_event(event: object, custom_schemas: bool = False) -> None:
    """Raise :class:`EventInvalid` listing every problem of ``event`` (see :func:`event_problems`)."""
    problems = event_problems(event, custom_schemas)
    if problems:
        raise EventInvalid("; ".join(problems))


def events_in(path: Path) -> Iterator[tuple[str, object]]:
    """``(where, event)`` for every event in a ``.json`` (one event or a list) or ``.jsonl`` file, or a folder of them."""
    if path.is_dir():
        for child in sorted(path.rglob("*")):
            if child.suffix in (".json", ".jsonl") and child.is_file():
                yield from events_in(child)
        return
    text = path.read_text()
    if path.suffix == ".jsonl":
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                yield f"{path}:{n}", json.loads(line)
        return
    data = json.loads(text)
    for n, event in enumerate(data if isinstance(data, list) else [data], 1):
        yield f"{path}#{n}", event


def main(argv: list[str]) -> int:
    """Check every event in the given files or folders; print the problems; 1 when any is invalid or none was found."""
    if not argv:
        print(__doc__)
        return 2
    checked = bad = 0
    for arg in argv:
        for where, event in events_in(Path(arg)):
            checked += 1
            problems = event_problems(event)
            if problems:
                bad += 1
                print(f"INVALID {where}")
                for problem in problems:
                    print(f"  - {problem}")
    print(f"{checked - bad} valid, {bad} invalid")
    return 1 if bad or not checked else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
