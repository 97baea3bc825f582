"""Run a small DAG with the official OpenLineage provider feeding ProvenanceTransport (run in a subprocess).

Usage: python ol_provider_run.py OUT_DIR   (AIRFLOW_HOME, AIRFLOW__OPENLINEAGE__TRANSPORT, AIRFLOW__TDPROV__STORE set;
with OPENLINEAGE_DISABLED=true the provider is expected to stand aside)
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pandas as pd
import pendulum
from airflow.providers.common.compat.lineage.entities import File
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Asset, AssetAlias

START = pendulum.datetime(2024, 1, 1, tz="UTC")


def main(out: Path) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from airflow_dags.harness import run_dag

    from prov_airflow import naming
    from prov_airflow.operators.pandera import PanderaValidationOperator

    disabled = os.environ.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true"
    assert naming.provider_feeds_bundles() is not disabled, "the OpenLineage provider is not configured as expected"
    raw, doubled = out / "raw.csv", out / "doubled.parquet"
    # the same files as the provider names them otherwise: a lineage File by path ("", "/p") and by file:///p
    # ("file://", "p"), an Asset on file://localhost ("file://localhost", "/p"), and an Asset whose URI escapes its path
    # (Path.as_uri(): "by uri é.csv" as "by%20uri%20%C3%A9.csv", which the provider keeps in its name)
    file_likes = [File(url=str(out / "by_path.csv")), File(url=(out / "by_uri.csv").as_uri()),
                  Asset(f"file://localhost{out / 'on_localhost.csv'}"), Asset((out / "escaped é.csv").as_uri())]
    # an Asset whose URI escapes its path, added at run time through an alias (the provider's COMPLETE names it too)
    alias = AssetAlias("tdprov_with_ol_provider_alias")

    def write(outlet_events=None, **_) -> None:
        pd.DataFrame({"x": [1, 2, 3]}).to_csv(raw, index=False)
        for name in ("by_path", "by_uri", "on_localhost", "escaped é", "aliased é"):
            pd.DataFrame({"name": [name]}).to_csv(out / f"{name}.csv", index=False)
        outlet_events[alias].add(Asset((out / "aliased é.csv").as_uri()))

    def double() -> None:
        pd.read_csv(raw).mul(2).to_parquet(doubled, index=False)

    with DAG("tdprov_with_ol_provider", start_date=START, schedule=None) as dag:
        first = PythonOperator(task_id="write", python_callable=write, outlets=[Asset(raw.as_uri()), *file_likes, alias])
        second = PythonOperator(task_id="double", python_callable=double, inlets=[Asset(raw.as_uri()), *file_likes],
                                outlets=[Asset(doubled.as_uri())])
        check = PanderaValidationOperator(task_id="check", source=str(raw), schema="airflow_dags.schemas:RAW")
        # its failure samples and row set are attached by the listener, its facets naming them come in the provider's end
        warned = PanderaValidationOperator(task_id="check_warned", source=str(raw), schema="airflow_dags.schemas:RAW_SMALL",
                                           on_failure="warn", granularity="row")
        first >> [second, check, warned]
    run = run_dag(dag, logical_date=START)
    return 0 if run.state == "success" else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
