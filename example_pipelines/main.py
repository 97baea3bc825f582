"""The main job: both example training pipelines on the default store, then verify and audit.

``python -m example_pipelines.main [--store URI]``:
1. registers the source dataset (its digest and Data & Trust Alliance record fields);
2. runs the Dagster pipeline (``ProvenanceIOManager``, Pandera asset checks) in process;
3. runs the Airflow DAG with ``dag.test()`` in a child process (the tdprov plugin loaded);
4. verifies every bundle and audits the store (HTML + JSON report), saying why that audit is incremental (the DAG's
   audit task audited the store first);
5. prints where the report is and the lineage tree of each trained model.
Exits non-zero when a pipeline fails or the audit has findings.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from prov_common.cli import main as tdprov
from prov_common.config import Settings
from prov_common.signing import trust_from_settings
from prov_common.sources import find_source, iter_sources
from prov_common.store import open_store

from example_pipelines.audit_scope import audit_reports, incremental_reason
from example_pipelines.paths import model_file
from example_pipelines.training.source import SOURCE_NAME, source_add_args


def _step(title: str) -> None:
    print(f"\n== {title}", file=sys.stderr, flush=True)


def register_source(settings: Settings) -> None:
    """Register the source once; later runs find it by name and digest."""
    known = find_source(list(iter_sources(open_store(settings=settings), trust_from_settings(settings))), SOURCE_NAME)
    if known:
        print(f"source {SOURCE_NAME!r} already registered", file=sys.stderr)
        return
    if tdprov([*source_add_args(), "--store", settings.store]) != 0:
        raise SystemExit("registering the source failed")


def run_dagster() -> None:
    """Materialise every asset of the Dagster example in process."""
    from example_pipelines.dagster_training.definitions import defs

    result = defs.resolve_job_def("breast_cancer_training").execute_in_process(raise_on_error=False)
    if not result.success:
        raise SystemExit("the Dagster pipeline failed; see the log above")


def run_airflow() -> None:
    """Run the Airflow DAG once in a child process (Airflow reads its settings at import)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path.cwd()), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-m", "example_pipelines.airflow_training.run"], env=env)
    if proc.returncode != 0:
        raise SystemExit("the Airflow pipeline failed; see the log above")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run both example training pipelines, then verify and audit.")
    parser.add_argument("--store", default=None, help="store URI (default: $TDPROV_STORE or ./.tdprov)")
    args = parser.parse_args(argv)
    settings = Settings.from_env(store=args.store)
    os.environ["TDPROV_STORE"] = settings.store  # the Dagster IO manager and the Airflow plugin read it
    started = time.monotonic()

    _step(f"registering the source in {settings.store}")
    register_source(settings)
    _step("Dagster: materialising the training assets")
    run_dagster()
    _step("Airflow: dag.test() of breast_cancer_training")
    airflow = datetime.now(timezone.utc)
    run_airflow()
    airflow_window = (airflow, datetime.now(timezone.utc))
    _step("tdprov verify")
    verified = tdprov(["verify", "--store", settings.store])
    _step("tdprov audit")
    audited = tdprov(["audit", "--store", settings.store])
    reports = audit_reports(open_store(settings=settings))
    reason = incremental_reason(next(reports, {}), reports, airflow_window)
    if reason:
        print(reason)
    _step("lineage of the Dagster model")
    tdprov(["lineage", model_file("dagster").as_uri(), "--store", settings.store])  # datasets are named by location
    _step("lineage of the Airflow model")
    tdprov(["lineage", model_file("airflow").as_uri(), "--store", settings.store])
    print(f"\ndone in {time.monotonic() - started:.0f} s; store: {settings.store}", file=sys.stderr)
    return max(verified, audited)


if __name__ == "__main__":
    sys.exit(main())
