"""The wheel users install from: built from the sources the way pip builds it, it holds every package,
the JSON Schemas of the custom facets, the entry points (CLI, Airflow plugin, provider info) and the
licence; and the code imported from the unpacked wheel works (a digest, a facet checked against its
schema), not only the editable checkout."""
from __future__ import annotations

import configparser
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

# one xdist worker runs this module (scripts/test: --dist loadgroup), so the wheel is built once, not once per worker
pytestmark = pytest.mark.xdist_group("test_packaging")

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "setup.py", "README.md", "LICENSE", "common", "prov_dagster", "prov_airflow")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the wheel from a copy of the sources (pip builds in-tree; the checkout stays clean)."""
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(path, src / name)
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)],
                          capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stderr[-2000:]
    (built,) = out.glob("tdprov-*.whl")
    return built


def test_wheel_holds_packages_schemas_entry_points_and_licence(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for package in ("prov_common", "prov_common/hashing", "prov_common/bundle", "prov_common/cli",
                    "prov_dagster", "prov_airflow"):
        assert f"{package}/__init__.py" in names, package
    shipped = {n.removeprefix("prov_common/schemas/") for n in names if n.startswith("prov_common/schemas/")}
    schemas = ROOT / "common" / "schemas"  # tdprov's facet schemas, and the official OpenLineage ones with their licence
    assert shipped == {p.relative_to(schemas).as_posix() for p in schemas.rglob("*") if p.suffix == ".json" or p.name == "LICENSE"}
    assert {"openlineage/LICENSE", "openlineage/OpenLineage.json", "openlineage/facets/ParentRunFacet.json"} <= shipped
    assert "prov_common/py.typed" in names
    dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
    assert f"{dist_info}/licenses/LICENSE" in names
    metadata = zipfile.ZipFile(wheel).read(f"{dist_info}/METADATA").decode()
    assert "License-Expression: Apache-2.0" in metadata
    assert "Provides-Extra: dagster" in metadata and "Provides-Extra: airflow" in metadata
    entry_points = configparser.ConfigParser()
    entry_points.read_string(zipfile.ZipFile(wheel).read(f"{dist_info}/entry_points.txt").decode())
    assert entry_points["console_scripts"]["tdprov"] == "prov_common.cli:run"
    assert entry_points["airflow.plugins"]["tdprov"] == "prov_airflow.plugin:TdprovPlugin"
    assert entry_points["apache_airflow_provider"]["provider_info"] == "prov_airflow.get_provider_info:get_provider_info"


def test_code_from_the_unpacked_wheel_hashes_and_checks_facets(wheel: Path, tmp_path: Path) -> None:
    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(unpacked)
    probe = (
        "import json, pandas as pd, prov_common, prov_dagster, prov_airflow\n"
        "from prov_common.hashing import hash_dataframe\n"
        "from prov_common.lineage.facets import schema_path, schema_url\n"
        "from prov_common.lineage.facet_schemas import facet_problem\n"
        "parent = {'_producer': 'https://p.example', '_schemaURL': 'https://openlineage.io/spec/facets/1-0-1/ParentRunFacet.json',\n"
        "  'run': {'runId': 'x'}, 'job': {'namespace': 'n', 'name': 'j'}}\n"
        "print(json.dumps({'file': prov_common.__file__,\n"
        "  'digest': hash_dataframe(pd.DataFrame({'a': [1, 2]})).digest,\n"
        "  'schema': json.loads(schema_path(schema_url('ContentHashDatasetFacet')).read_text()),\n"
        "  'facet': facet_problem(parent).message}))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env={"PYTHONPATH": str(unpacked), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["file"].startswith(str(unpacked))  # the wheel's copy, not the editable checkout
    import pandas as pd

    from prov_common.hashing import hash_dataframe

    assert seen["digest"] == hash_dataframe(pd.DataFrame({"a": [1, 2]})).digest
    assert "ContentHashDatasetFacet" in seen["schema"]["$defs"]
    assert seen["facet"] == "'x' is not a 'uuid'"  # the official facet schema shipped, its formats asserted
