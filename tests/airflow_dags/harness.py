"""Minimal Airflow 3 test harness.

Importing this module (before anything imports ``airflow``) points ``AIRFLOW_HOME`` at a fresh folder for
this process (each pytest-xdist worker gets its own) and loads a migrated SQLite metadata database,
built once per machine and Airflow version under a file lock and copied from there.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

from airflow_dags.execution_api import serve_latest_version_only
from prov_airflow.testing import register_dag  # noqa: F401  (re-exported: tests and the benchmark import it from here; airflow loads on use)

HERE = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent

if "airflow.configuration" in sys.modules and not os.environ.get("TESTS_AIRFLOW_HOME"):
    raise RuntimeError("airflow was imported before tests/airflow_dags/harness.py: Airflow would use another "
                       "AIRFLOW_HOME. Fix: import the harness first in every test module that uses Airflow.")
_CHILD = bool(os.environ.get("TESTS_AIRFLOW_HOME"))  # a subprocess of a test: keep its environment
_HOME = Path(os.environ["TESTS_AIRFLOW_HOME"]) if _CHILD else Path(tempfile.mkdtemp(prefix="tdprov-airflow-home-"))
BASE_ENV = {
    "AIRFLOW_HOME": str(_HOME),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__DAGS_FOLDER": str(_HOME / "dags"),
    "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
}
os.environ.update(BASE_ENV)
for _name in [k for k in os.environ if not _CHILD and k.startswith(("OPENLINEAGE", "AIRFLOW__OPENLINEAGE__",
                                                                  "AIRFLOW__TDPROV__"))]:
    del os.environ[_name]
(_HOME / "dags").mkdir(exist_ok=True)


def _template_db() -> Path:
    """A migrated metadata DB for this Airflow version, built once (file lock shared by xdist workers)."""
    cache = Path(tempfile.gettempdir()) / f"tdprov-airflow-db-{version('apache-airflow-core')}"
    cache.mkdir(exist_ok=True)
    db = cache / "airflow.db"
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not db.exists():
            home = Path(tempfile.mkdtemp(prefix="tdprov-airflow-migrate-"))
            env = {**os.environ, **BASE_ENV, "AIRFLOW_HOME": str(home)}
            subprocess.run([str(VENV_BIN / "airflow"), "db", "migrate"], env=env, check=True,
                           capture_output=True, timeout=300)
            shutil.copyfile(home / "airflow.db", cache / "airflow.db.tmp")
            os.replace(cache / "airflow.db.tmp", db)
            shutil.rmtree(home, ignore_errors=True)
    return db


def prepare_database() -> Path:
    """Copy the migrated template DB into this process's AIRFLOW_HOME (once)."""
    target = _HOME / "airflow.db"
    if not target.exists():
        shutil.copyfile(_template_db(), target)
    return _HOME


def child_env(**extra: str) -> dict[str, str]:
    """Environment of a subprocess that shares this process's AIRFLOW_HOME and metadata DB."""
    return {**os.environ, "TESTS_AIRFLOW_HOME": str(_HOME), **extra}


def tdprov_env(store: Path) -> dict[str, str]:
    """Environment that points the plugin (``[tdprov]``) at ``store``."""
    return {"AIRFLOW__TDPROV__STORE": str(store)}


def bundles_of(store: Path) -> list:
    """Summaries of every sealed bundle in a local store, oldest first."""
    from prov_common.bundle import list_bundles
    from prov_common.store import open_store

    return list(list_bundles(open_store(str(store))))


def events_of(store: Path, run_id: str) -> list[dict]:
    """The OpenLineage events sealed in the bundle of ``run_id``."""
    from prov_common.bundle import read_bundle
    from prov_common.bundle.events import parse_events_jsonl
    from prov_common.store import open_store

    bundle = read_bundle(open_store(str(store)), run_id)
    return parse_events_jsonl(bundle.files["events.jsonl"])


def warm_forked_emitters() -> None:
    """With the OpenLineage provider on, load once in this process what its emitters would each load again: the
    provider forks a process per event, and a fork of a process without the lazily loaded asset converters (the
    Amazon provider's S3 one imports boto3) and PROV serializers (rdflib) imports them anew. Only when modules are
    imported changes."""
    from airflow.providers.openlineage.conf import is_disabled

    if is_disabled():
        return
    from airflow.sdk.plugins_manager import ProvidersManagerTaskRuntime
    from prov.serializers import get

    ProvidersManagerTaskRuntime().initialize_providers_asset_uri_resources()  # imports the asset converters
    get("json")  # loads every PROV serializer


def run_dag(dag, **kwargs):
    """``dag.test()`` of a DAG defined in a test (in a test's subprocess, after :func:`warm_forked_emitters`)."""
    serve_latest_version_only()
    register_dag(dag)
    if _CHILD:
        warm_forked_emitters()
    return dag.test(**kwargs)


def run_and_print_states(dag, **kwargs) -> int:
    """:func:`run_dag`, then the state of each task instance printed as one JSON line (for a test running the DAG in a
    subprocess); 0, the process's exit code."""
    import json

    run = run_dag(dag, **kwargs)
    print(json.dumps({ti.task_id: ti.state for ti in run.get_task_instances()}))
    return 0


def asset_events(dag_id: str, task_id: str | None = None) -> dict[str, dict]:
    """Asset URI -> extra of the asset events of ``dag_id`` (of its task ``task_id`` only, when given), read back from
    the metadata DB."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(select(AssetModel.uri, AssetEvent.extra, AssetEvent.source_task_id)
                               .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
                               .where(AssetEvent.source_dag_id == dag_id)).all()
    rows = [row for row in rows if task_id in (None, row[2])]
    return {uri: {"extra": extra, "task": task} for uri, extra, task in rows}


try:  # fixtures for the test modules (imported there by name)
    import pytest

    @pytest.fixture(scope="module", autouse=True)
    def airflow_db() -> Path:
        """The migrated metadata DB, in place before a module's first test; ``dag.test()``'s execution API built for
        the version its client speaks (:mod:`airflow_dags.execution_api`)."""
        serve_latest_version_only()
        return prepare_database()

    @pytest.fixture()
    def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
        """A fresh local store that the plugin writes to (``[tdprov] store``)."""
        path = tmp_path / "store"
        for key, value in tdprov_env(path).items():
            monkeypatch.setenv(key, value)
        return path
except ImportError:  # used outside pytest (benchmark, subprocess runs)
    pass
