"""Importing the integrations loads only what a process needs at that point, so that every Dagster step process,
every Airflow process that loads the plugin and every ``tdprov`` run starts fast; the rest loads on first use.

Each check runs in a fresh interpreter, which names the modules it loaded; cases that begin alike, of one check or of
several, run in children forked from one interpreter that ran their common beginning (importing Dagster or the CLI
once), which loads none of the modules watched.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import prov_common.audit
import prov_common.bundle
import prov_common.quality
import prov_common.rowset
import prov_common.w3cprov
import prov_dagster

# one xdist worker runs this module (scripts/test: --dist loadgroup), so the plugin's interpreter is built once, not once per worker
pytestmark = pytest.mark.xdist_group("test_import_cost")

ROOT = Path(__file__).resolve().parent.parent

# Loaded when used, never by importing the integrations: the audit engine (the audit job, `tdprov audit`), the
# lineage picture, Pandera (an asset with a schema), SQLAlchemy (a read of Dagster's event log), FastAPI (the
# plugin's page, in the API server only), the row-set builder and reader (a dataset recorded at row granularity,
# `tdprov contains`), the readers of table files (a file recorded, JSON lines hashed), the S3 store (a store on S3),
# the data snapshots (a step keeping a copy of its data, the audit reading one) and tqdm (the progress bars of verbs
# and restores).
ROW_SETS_AND_FILES = ("prov_common.rowset.format", "prov_common.rowset.runs", "prov_common.rowset.lookup",
                      "prov_common.hashing.files", "ijson")
DEFERRED = ("prov_common.audit.engine", "prov_common.audit.memory", "prov_common.w3cprov.drawing",
            "prov_common.w3cprov.graph", "pandera", "sqlalchemy", "fastapi", *ROW_SETS_AND_FILES,
            "prov_common.store.s3", "prov_common.store.snapshots", "tqdm")


def loaded(code: str, watched: tuple[str, ...] = DEFERRED, env: dict[str, str] | None = None) -> list[str]:
    """The ``watched`` modules that a fresh interpreter running ``code`` (in ``env``, default this one's) has loaded."""
    return loaded_each("", {"code": (code, {})}, watched, env)["code"]


_FORKED = textwrap.dedent("""
    import gc, json, os, sys
    cases, watched = json.loads(sys.argv[1]), json.loads(sys.argv[2])
    exec(sys.argv[3])  # the beginning every case shares
    print(json.dumps(["", [m for m in watched if m in sys.modules], None]), flush=True)  # what that beginning holds
    gc.freeze()  # every child's: its collections leave it alone (not walking, and so copying, its pages)
    for name, (code, env) in cases.items():
        if os.fork() == 0:  # a child runs the case on from there and names what it then holds and its result
            os.environ.update(env)
            space = dict(globals())  # what the beginning defined
            exec(code, space)
            print(json.dumps([name, [m for m in watched if m in sys.modules], space.get("result")]), flush=True)
            os._exit(0)  # as a forked child ends: no teardown of the heap it shares (a second of CPU here)
        if os.wait()[1]:
            sys.exit(f"case {name!r} failed")
""")

Forked = dict[str, tuple[list[str], Any]]  # for each case, the watched modules it loaded and the ``result`` it set


def run_each(prelude: str, cases: dict[str, tuple[str, dict[str, str]]], watched: tuple[str, ...],
             env: dict[str, str] | None = None) -> Forked:
    """For each named case (its code and the variables it adds to the environment), the ``watched`` modules loaded by
    a fresh interpreter (in ``env``) that runs ``prelude`` and then the case, and the value the case left in its
    ``result``: one interpreter runs ``prelude``, and a child forked from it runs each case, as a fresh interpreter
    running both would, which holds because ``prelude`` loads none of ``watched`` (asserted)."""
    proc = subprocess.run([sys.executable, "-c", _FORKED, json.dumps(cases), json.dumps(watched), prelude],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    found = {name: (modules, result) for name, modules, result in
             (json.loads(line) for line in proc.stdout.splitlines() if line.startswith("["))}
    shared = found.pop("")[0]
    assert shared == [], f"the beginning the cases share already loads {shared}: run them in fresh interpreters"
    return found


def loaded_each(prelude: str, cases: dict[str, tuple[str, dict[str, str]]], watched: tuple[str, ...],
                env: dict[str, str] | None = None) -> dict[str, list[str]]:
    """For each named case, the ``watched`` modules it loaded (``run_each``)."""
    return {name: modules for name, (modules, _) in run_each(prelude, cases, watched, env).items()}


def test_importing_prov_dagster_loads_neither_dagster_nor_the_rest() -> None:
    assert loaded("import prov_dagster", ("dagster", "pandas", *DEFERRED)) == []


PACKAGES = (prov_dagster, prov_common.audit, prov_common.bundle, prov_common.quality, prov_common.rowset, prov_common.w3cprov)
SHADOWED = [("prov_dagster", "definitions"), ("prov_common.w3cprov", "serialize"), ("prov_common.quality", "validate")]
STEP_WATCHED = ("prov_common.rowset.capture", *ROW_SETS_AND_FILES, "prov_common.store.s3", "prov_common.store.snapshots")

_STEP = """
@asset
def cells() -> pd.DataFrame:
    return pd.DataFrame({'x': [1, 2]})
@provenance_asset(granularity=os.environ['GRANULARITY'])
def rows(cells: pd.DataFrame) -> pd.DataFrame:
    return cells
assert materialize([cells, rows], resources={'io_manager': ProvenanceIOManager()}).success
"""

# every public name of PACKAGES imports, and is what the module that defines it holds: the names that are not
_PUBLIC_NAMES = f"""
import importlib
result = []
for name in {[p.__name__ for p in PACKAGES]!r}:
    p = importlib.import_module(name)
    for n in p.__all__:
        exec(f"from {{name}} import {{n}}", {{}})
        if getattr(p, n) is not getattr(importlib.import_module(f"{{name}}.{{p._LAZY[n]}}"), n):
            result.append(f"{{name}}.{{n}}")
"""

# a name of a package that also names its submodule, the submodule imported first: the type and module of the name
_SHADOWED = "".join(f"import {p}.{n}\nfrom {p} import {n}\n" for p, n in SHADOWED) + \
    "result = [f'{type(f).__name__} {getattr(f, \"__module__\", f.__name__)}' for f in (" + ", ".join(n for _, n in SHADOWED) + ")]\n"


@pytest.fixture(scope="module")
def dagster_process(tmp_path_factory: pytest.TempPathFactory) -> Forked:
    """One interpreter that imports pandas and Dagster (seconds of CPU), none of the watched modules, and forks a
    child per case, each as a fresh interpreter would run it: a code location's imports, a step recording a table
    by its columns and one by its rows, every public name imported, and names shadowed by their submodules."""
    root = tmp_path_factory.mktemp("dagster-process")
    prelude = "import os, sys\nimport pandas as pd\nfrom dagster import asset, materialize\n"
    step = "from prov_dagster import ProvenanceIOManager, provenance_asset\n" + _STEP
    cases = {
        "code location": ("from prov_dagster import ProvenanceIOManager, ProvenanceResource, definitions, provenance_asset", {}),
        **{g: (step, {"GRANULARITY": g}) for g in ("column", "row")},
        "public names": (_PUBLIC_NAMES, {}),
        "shadowed": (_SHADOWED, {}),
    }
    env = {**os.environ, "TDPROV_HOME": str(root / "home"), "TDPROV_STORE": str(root / "store")}
    return run_each(prelude, cases, tuple(dict.fromkeys((*DEFERRED, *STEP_WATCHED))), env)


def test_a_code_location_loads_no_audit_engine_drawing_pandera_nor_sqlalchemy(dagster_process: Forked) -> None:
    modules, _ = dagster_process["code location"]
    assert [m for m in DEFERRED if m in modules] == []


def test_a_step_recording_a_table_by_its_columns_loads_no_row_set_nor_file_reader(dagster_process: Forked) -> None:
    """Every step process pays for what recording loads: a table recorded at column granularity (the default) needs
    neither the row-set builder and reader nor the readers of table files; one at row granularity loads the builder.
    Neither loads the S3 store (the store is a local folder) nor the data snapshots (no copy is kept)."""
    found = {g: [m for m in STEP_WATCHED if m in dagster_process[g][0]] for g in ("column", "row")}
    assert found["column"] == ["prov_common.rowset.capture"]
    assert found["row"] == ["prov_common.rowset.capture", "prov_common.rowset.format", "prov_common.rowset.runs"]


# Loaded by an Airflow process on its first event, never by loading the plugin: the OpenLineage transport (and its
# bundle builder), the OpenLineage client (the facets) and the provider's adapter (the task instance model, dill).
AIRFLOW_DEFERRED = ("prov_common.bundle.transport", "prov_common.bundle.build", "openlineage.client",
                    "airflow.providers.openlineage.plugins.adapter", "airflow.models.taskinstance")


# Loaded by no process that only reads a stored DAG back (the API server): tdprov's operators and what they
# import (the task instance model is Airflow's own there).
OPERATOR_MODULES = ("pandas", "prov_airflow.operators.pandera", "prov_airflow.decorators.provenance",
                    *(m for m in AIRFLOW_DEFERRED if m != "airflow.models.taskinstance"))

_DESERIALIZED = textwrap.dedent("""
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.sdk import DAG
    from airflow.serialization.serialized_objects import DagSerialization
    with DAG("stored", schedule=None) as dag:
        EmptyOperator(task_id="plain")
        EmptyOperator(task_id="check")
    data = DagSerialization.to_dict(dag)
    [check] = [t["__var"] for t in data["dag"]["tasks"] if t["__var"]["task_id"] == "check"]
    check.update(task_type="PanderaValidationOperator", _task_module="prov_airflow.operators.pandera")
    stored = DagSerialization.from_dict(data)
    print("result:", json.dumps([[m for m in {watched!r} if m in sys.modules],
                      {{t: [link.name for link in stored.get_task(t).operator_extra_links] for t in ("plain", "check")}}]))
""")

PluginProcess = tuple[list[str], str, Path, list[Any]]  # the watched modules loaded, the transport's store line, the store, the stored DAG's


@pytest.fixture(scope="module")
def plugin_process(tmp_path_factory: pytest.TempPathFactory) -> PluginProcess:
    """One fresh interpreter (importing Airflow costs seconds of CPU) that loads the plugin and names the modules of
    ``DEFERRED`` and ``AIRFLOW_DEFERRED`` it then holds; then reads a stored DAG back, as the API server does, and
    names the modules of ``OPERATOR_MODULES`` it then holds and the extra links of each task (one stored as tdprov's
    Pandera operator); then, ``[tdprov] store`` set, makes a transport and prints where its store is set: the
    watched modules loaded, that line, the store, and what the stored DAG loaded and linked."""
    store = tmp_path_factory.mktemp("plugin-store")
    code = ("import prov_airflow.plugin\n"
            f"import json, os, sys; print('result:', json.dumps([m for m in {(*DEFERRED, *AIRFLOW_DEFERRED)!r} if m in sys.modules]))\n"
            + _DESERIALIZED.format(watched=OPERATOR_MODULES) +
            f"os.environ['AIRFLOW__TDPROV__STORE'] = {str(store)!r}\n"
            "from prov_common.bundle.transport import ProvenanceConfig\n"
            "config = ProvenanceConfig.from_dict({})\nprint('result:', config.where_store_is_set(), config.settings().store)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # Airflow logs to stdout too (a plugin found twice, by the venv's entry point and a build's egg-info in the folder)
    modules, stored, made = [line.removeprefix("result: ") for line in proc.stdout.splitlines() if line.startswith("result: ")]
    return json.loads(modules), made, store, json.loads(stored)


def test_the_airflow_plugin_loads_no_audit_engine_drawing_nor_fastapi(plugin_process: PluginProcess) -> None:
    assert [m for m in plugin_process[0] if m in DEFERRED and m != "sqlalchemy"] == []  # sqlalchemy: Airflow's own


def test_the_airflow_plugin_loads_no_transport_openlineage_client_nor_adapter(plugin_process: PluginProcess) -> None:
    """Every scheduler, API server, DAG processor and task process loads the plugin; the transport's settings are set
    then (from a light module), the rest loads with the first event."""
    modules, made, store, _ = plugin_process
    assert [m for m in modules if m in AIRFLOW_DEFERRED] == []
    assert made == f"[tdprov] store {store}"  # a transport made then takes [tdprov]


def test_a_stored_dag_read_back_loads_no_operator_of_tdprov_nor_pandas(plugin_process: PluginProcess) -> None:
    """The API server reads every DAG it shows back from its stored form (the scheduler reads them without links),
    which matches each task to the plugin's extra link by its operator's name and module: that loads none of tdprov's
    operators (pandas, the OpenLineage client), and a task of the Pandera operator still gets the link."""
    from prov_airflow.links import LINK_NAME

    modules, links = plugin_process[3]
    assert modules == []
    assert links == {"plain": [], "check": [LINK_NAME]}


def _documented_names() -> set[str]:
    """Every name the docs, the README and the example pipelines import from ``prov_dagster``."""
    texts = [p.read_text() for p in [ROOT / "README.md", *ROOT.glob("docs/**/*.md"), *ROOT.glob("example_pipelines/**/*.py")]]
    names: set[str] = set()
    for text in texts:
        for found in re.findall(r"from prov_dagster import (\([^)]*\)|[^\n]+)", text):
            names.update(n.strip() for n in found.strip("()").replace("\n", " ").split(",") if n.strip())
    return names


def test_every_documented_name_is_public() -> None:
    names = _documented_names()
    assert {"definitions", "provenance_asset", "ProvenanceIOManager"} <= names
    assert names <= set(prov_dagster.__all__)


def test_every_public_name_imports(dagster_process: Forked) -> None:
    """``from PACKAGE import NAME`` works for every name of ``__all__`` and gives, in a fresh interpreter, what the
    module that defines it holds."""
    assert dagster_process["public names"][1] == [], "public names that are not what their module defines"


def test_a_name_of_its_submodule_stays_the_function(dagster_process: Forked) -> None:
    """``PACKAGE.NAME`` names a submodule and the function it defines: the function stays the package's name when
    the submodule was imported first."""
    assert dagster_process["shadowed"][1] == [f"function {p}.{n}" for p, n in SHADOWED]


def test_prov_of_events_files_loads_the_facet_schemas_only_for_a_whole_number_version(tmp_path: Path) -> None:
    """'tdprov prov' of an events file checks a version facet against its schema (jsonschema) only where its
    datasetVersion is a whole number, which sealing refuses in a facet naming that schema; events of none load neither."""
    from test_audit_support import dataset, digest, run_events

    events = run_events("prepare", [], [dataset("/data/x.csv", digest("x"))])
    plain = tmp_path / "plain.jsonl"
    plain.write_text("".join(json.dumps(e) + "\n" for e in events))
    numbered = json.loads(json.dumps(events))
    numbered[-1]["outputs"][0]["facets"]["version"] = {
        "_producer": "p", "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/DatasetVersionDatasetFacet.json",
        "datasetVersion": 3}
    whole = tmp_path / "whole.jsonl"
    whole.write_text("".join(json.dumps(e) + "\n" for e in numbered))
    watched = ("prov_common.lineage.facet_schemas", "jsonschema")
    env = {**os.environ, "TDPROV_HOME": str(tmp_path / "home")}
    code = "with open(os.devnull, 'w') as out, contextlib.redirect_stdout(out):\n    assert main(['prov', {!r}]) == 0"
    found = loaded_each("import contextlib, os\nfrom prov_common.cli import main\n",
                        {"plain": (code.format(str(plain)), {}), "whole": (code.format(str(whole)), {})}, watched, env)
    assert found["plain"] == []
    assert found["whole"] == list(watched)
