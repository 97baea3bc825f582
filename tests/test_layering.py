"""The library does not depend on the command line: only ``prov_common.cli`` and the entry point import from it."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"common": "prov_common", "prov_dagster": "prov_dagster", "prov_airflow": "prov_airflow"}


def _cli_imports(path: Path) -> list[str]:
    """The ``prov_common.cli`` modules ``path`` imports (at its top or inside a function), as ``line: module``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
        found += [f"{node.lineno}: {name}" for name in names if name == "prov_common.cli" or name.startswith("prov_common.cli.")]
    return found


def test_no_library_module_imports_the_cli() -> None:
    offenders = {
        f"{PACKAGES[folder]}/{path.relative_to(ROOT / folder)}": found
        for folder in PACKAGES if (ROOT / folder).is_dir()
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path.relative_to(ROOT / folder).parts[0] != "cli" and path.relative_to(ROOT / folder) != Path("__main__.py")
        if (found := _cli_imports(path))
    }
    assert offenders == {}
