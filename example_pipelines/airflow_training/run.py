"""Run the example DAG once with ``dag.test()`` (no scheduler, no webserver), tdprov plugin loaded.

``python -m example_pipelines.airflow_training.run``. Uses ``$AIRFLOW_HOME`` when set, else a
private one under ``./.example-data/airflow-home`` with a SQLite metadata database that is migrated
on first use. The plugin writes to ``$TDPROV_STORE`` (default ``./.tdprov``).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from example_pipelines.paths import example_data_dir
from prov_airflow.testing import register_dag


def prepare_airflow_home() -> Path:
    """Point Airflow at a home with a migrated metadata DB (before ``airflow`` is imported)."""
    home = Path(os.environ.get("AIRFLOW_HOME") or example_data_dir("airflow-home"))
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": os.environ.get("AIRFLOW__CORE__DAGS_FOLDER") or str(home / "dags"),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING"),
        }
    )
    Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).mkdir(parents=True, exist_ok=True)
    if not (home / "airflow.db").exists():
        print(f"migrating the Airflow metadata database in {home} ...", file=sys.stderr)
        _migrate()
    return home


def _migrate() -> None:
    """``airflow db migrate`` in this process (Airflow is imported here, after its settings are in the
    environment), sparing a second interpreter that imports Airflow again."""
    from airflow.utils import db
    from airflow.utils.providers_configuration_loader import providers_configuration_loaded

    providers_configuration_loaded(db.upgradedb)()


def main() -> int:
    """Run the DAG once; exit 0 when the DAG run succeeded."""
    prepare_airflow_home()
    from example_pipelines.airflow_training.breast_cancer_training import START, dag

    register_dag(dag)
    run = dag.test(logical_date=START.add(seconds=int.from_bytes(os.urandom(3), "big")))
    print(f"Airflow DAG run {run.run_id}: {run.state}", file=sys.stderr)
    return 0 if run.state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
