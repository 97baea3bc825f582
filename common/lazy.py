"""Packages whose names load on first use: importing the package (or one light part) loads nothing heavy."""
from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable, Mapping
from typing import Any


def lazy_names(package: str, names: Mapping[str, str], namespace: dict[str, Any]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``names`` maps each public name to the submodule that
    defines it; a name is imported on first use and kept in ``namespace`` (the package's globals).

    A name that is also its submodule's name (``serialize`` of ``w3cprov.serialize``) stays the public object:
    importing a submodule sets the package's attribute of its name to the module, which ``from package import
    name`` would then give."""
    shadowed = frozenset(name for name, module in names.items() if name == module)
    if shadowed:
        sys.modules[package].__class__ = _keeping(shadowed)

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value
        return value

    return __getattr__


def _keeping(shadowed: frozenset[str]) -> type[types.ModuleType]:
    """A module type whose attributes named in ``shadowed`` take, when set to a submodule, its object of that name."""

    class Package(types.ModuleType):
        def __setattr__(self, name: str, value: Any) -> None:
            if name in shadowed and isinstance(value, types.ModuleType):
                value = getattr(value, name)
            super().__setattr__(name, value)

    return Package
