"""A task reading one file and writing two (one declared, one added through an alias), with the official OpenLineage
provider feeding ProvenanceTransport and the provider's translation of an ``Asset`` failing where tdprov calls it
(run in a subprocess): tdprov notes the provider's names of a try's assets with it, at the start and after execute.

Usage: python ol_provider_untranslatable.py OUT_DIR   (AIRFLOW_HOME, AIRFLOW__OPENLINEAGE__TRANSPORT,
AIRFLOW__TDPROV__STORE set)
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pendulum
from airflow.providers.openlineage.utils import utils as provider_utils
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Asset, AssetAlias

START = pendulum.datetime(2024, 1, 1, tz="UTC")
DAG_ID = "tdprov_provider_untranslatable"


def untranslatable(asset: Any, lineage_context: Any) -> None:
    """The provider's translation, failing (the provider's own hooks import theirs elsewhere: they are unaffected)."""
    raise RuntimeError(f"cannot translate {asset.uri}")


def main(out: Path) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from airflow_dags.harness import run_dag

    from prov_airflow import naming

    assert naming.provider_feeds_bundles(), "the OpenLineage provider is not configured as expected"
    provider_utils.translate_airflow_asset = untranslatable
    source, declared, aliased = out / "source.csv", out / "declared.csv", out / "aliased.csv"
    source.write_text("x\n1\n")
    alias = AssetAlias("tdprov_untranslatable_alias")

    def write(outlet_events: Any = None, **_: Any) -> None:
        declared.write_text("x\n2\n")
        aliased.write_text("x\n3\n")
        outlet_events[alias].add(Asset(aliased.as_uri()))

    with DAG(DAG_ID, start_date=START, schedule=None) as dag:
        PythonOperator(task_id="write", python_callable=write, inlets=[Asset(source.as_uri())],
                       outlets=[Asset(declared.as_uri()), alias])
    run = run_dag(dag, logical_date=START)
    return 0 if run.state == "success" else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
