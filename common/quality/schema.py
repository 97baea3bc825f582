"""Resolve Pandera schemas and give each a stable digest."""
from __future__ import annotations

import importlib
import inspect
import math
from typing import Any

import blake3
import pandera.pandas as pa

from prov_common.canonical_json import canonical_bytes
from prov_common.errors import BadInputError

SchemaLike = pa.DataFrameSchema | type[pa.DataFrameModel] | str


def load_schema(obj: Any) -> pa.DataFrameSchema:
    """Return a ``DataFrameSchema`` from a schema, a ``DataFrameModel`` class or a ``"pkg.module:Name"`` path."""
    if isinstance(obj, str):
        obj = _import_object(obj)
    if isinstance(obj, pa.DataFrameSchema):
        return obj
    if isinstance(obj, type) and issubclass(obj, pa.DataFrameModel):
        return obj.to_schema()
    if isinstance(obj, pa.DataFrameModel):
        return type(obj).to_schema()
    raise BadInputError(
        f"expected a Pandera DataFrameSchema or DataFrameModel class, got {type(obj).__name__} ({obj!r:.80})",
        fix="pass a pandera.pandas.DataFrameSchema, a DataFrameModel subclass, or its import path 'pkg.module:Name'",
    )


def _import_object(path: str) -> Any:
    module_name, sep, attr_path = path.partition(":")
    if not sep:
        module_name, _, attr_path = path.rpartition(".")
    if not module_name or not attr_path:
        raise BadInputError(
            f"schema path {path!r} does not name a module and an object",
            fix="write it as 'pkg.module:SchemaName'",
        )
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise BadInputError(
            f"cannot import module {module_name!r} of schema path {path!r}: {exc}",
            fix="check the spelling and that the module is importable (installed or on PYTHONPATH)",
        ) from exc
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise BadInputError(
                f"module {module_name!r} has no attribute {attr_path!r} (schema path {path!r})",
                fix=f"check the name after ':'; the module defines: {', '.join(_public_names(module_name))}",
            ) from exc
    return obj


def _public_names(module_name: str) -> list[str]:
    module = importlib.import_module(module_name)
    return sorted(n for n in vars(module) if not n.startswith("_"))[:20]


def schema_name(schema: pa.DataFrameSchema) -> str:
    """The schema's name (a DataFrameModel's class name), or ``DataFrameSchema`` when unnamed."""
    return str(schema.name) if schema.name else "DataFrameSchema"


def describe_schema(schema: pa.DataFrameSchema) -> dict[str, Any]:
    """A JSON-ready description of everything that decides what the schema accepts.

    Built-in checks are described by their statistics; custom checks also by the source text of
    their function, so that changing a check's body changes the schema digest.
    """
    return {
        "name": schema.name,
        "dtype": _dtype(schema),
        "coerce": bool(schema.coerce),
        "strict": _jsonable(schema.strict),
        "ordered": bool(schema.ordered),
        "unique": _jsonable(schema.unique),
        "uniqueColumnNames": bool(schema.unique_column_names),
        "addMissingColumns": bool(schema.add_missing_columns),
        "columns": [_describe_component(col) for col in schema.columns.values()],
        "index": _describe_index(schema.index),
        "checks": [_describe_check(c) for c in schema.checks],
        "parsers": [_describe_parser(p) for p in schema.parsers or ()],
    }


def schema_digest(schema: SchemaLike) -> str:
    """``blake3:<hex>`` of the RFC 8785 canonical JSON of :func:`describe_schema`."""
    description = describe_schema(load_schema(schema))
    return "blake3:" + blake3.blake3(canonical_bytes(description)).hexdigest()


def _describe_index(index: Any) -> Any:
    if index is None:
        return None
    if isinstance(index, pa.MultiIndex):
        return {
            "levels": [_describe_component(level) for level in index.indexes],
            "coerce": bool(index.coerce),
            "strict": _jsonable(index.strict),
            "ordered": bool(index.ordered),
            "unique": _jsonable(index.unique),
        }
    return _describe_component(index)


def _describe_component(component: Any) -> dict[str, Any]:
    return {
        "name": _jsonable(component.name),
        "dtype": _dtype(component),
        "nullable": bool(getattr(component, "nullable", False)),
        "unique": bool(getattr(component, "unique", False)),
        "coerce": bool(component.coerce),
        "required": bool(getattr(component, "required", True)),
        "regex": bool(getattr(component, "regex", False)),
        "checks": [_describe_check(c) for c in component.checks],
        "parsers": [_describe_parser(p) for p in getattr(component, "parsers", None) or ()],
    }


def _describe_check(check: Any) -> dict[str, Any]:
    described = {
        "name": check.name,
        "error": check.error,
        "statistics": _jsonable(check.statistics or {}),
        "elementWise": bool(check.element_wise),
        "ignoreNa": bool(check.ignore_na),
        "groupby": _jsonable(check.groupby) if not callable(check.groupby) else _source(check.groupby),
        "raiseWarning": bool(check.raise_warning),
    }
    if not check.statistics:
        described["code"] = _source(check._check_fn)
    return described


def _describe_parser(parser: Any) -> dict[str, Any]:
    """Parsers change the data before the checks run, so they are part of what the schema accepts."""
    return {"name": parser.name, "elementWise": bool(parser.element_wise), "code": _source(parser._parser_fn)}


def _source(fn: Any) -> str:
    fn = getattr(fn, "func", fn)  # functools.partial (DataFrameModel checks)
    fn = getattr(fn, "__func__", fn)  # bound classmethod
    try:
        return inspect.getsource(fn).strip()
    except (OSError, TypeError):
        return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def _dtype(component: Any) -> str | None:
    return None if component.dtype is None else str(component.dtype)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_jsonable(v) for v in value), key=repr)
    pattern = getattr(value, "pattern", None)
    if isinstance(pattern, str):
        return pattern
    return str(value)
