"""A small training-data pipeline used by the Dagster tests (no tests in this module).

Loaded in-process by the tests and by the ``dagster`` CLI and the multiprocess executor in
subprocesses, so it is configured only through the environment: ``TDPROV_STORE`` (store, data next
to it) and ``TDPROV_TEST_VARIANT`` (changes the raw data).
"""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import fork_env
import pandas as pd
import pandera.pandas as pa
from dagster import (
    AssetIn,
    AssetSelection,
    Definitions,
    StaticPartitionsDefinition,
    asset,
    define_asset_job,
    in_process_executor,
    multiprocess_executor,
)

from prov_dagster import ProvenanceIOManager, pandera_checks, provenance_asset
from prov_dagster.storage import default_data_root

SOURCE = "vendor-orders"


def asset_of(store: object, name: str) -> str:
    """The asset key that a dataset name stands for: its data file under the store's default data root
    (a local path or an S3 key), less the suffix; a dataset elsewhere keeps its name."""
    root = default_data_root(str(store))
    prefix = (root.split("://", 1)[1].partition("/")[2] if root.startswith("s3://") else root).rstrip("/") + "/"
    return name[len(prefix):].removesuffix(".parquet") if name.startswith(prefix) else name


def url_path(url: str) -> Path:
    """The local path a ``file://`` URL (as the Dagster UI shows bundles and reports) points at."""
    parsed = urlparse(url)
    assert parsed.scheme == "file", url
    return Path(url2pathname(parsed.path))


def located(store: object, key: str) -> str:
    """The dataset name (absolute path) of asset ``key`` written by the IO manager next to a local store."""
    return f"{default_data_root(str(store))}/{key}.parquet"
RAW_SCHEMA = pa.DataFrameSchema(
    {
        "order_id": pa.Column(int, pa.Check.ge(0), unique=True),
        "amount": pa.Column(float, pa.Check.ge(0)),
        "country": pa.Column(str, pa.Check.isin(["DE", "FR", "US"])),
    },
    name="RawOrders",
)


@provenance_asset(schema=RAW_SCHEMA, source=SOURCE, owners=["team:ml"], key_prefix=["raw"])
def orders() -> pd.DataFrame:
    variant = int(os.environ.get("TDPROV_TEST_VARIANT", "0"))
    return pd.DataFrame(
        {
            "order_id": [1, 2, 3, 4],
            "amount": [10.0, 20.5, 3.25 + variant, 7.0],
            "country": ["DE", "FR", "US", "DE"],
        }
    )


@asset(key_prefix=["clean"], ins={"orders": AssetIn(key_prefix=["raw"])})
def orders_clean(orders: pd.DataFrame) -> pd.DataFrame:
    return orders[orders["amount"] > 5].reset_index(drop=True)


@asset(ins={"orders_clean": AssetIn(key_prefix=["clean"])})
def features(orders_clean: pd.DataFrame) -> pd.DataFrame:
    out = orders_clean.groupby("country", as_index=False)["amount"].sum()
    return out.rename(columns={"amount": "total"})


regions = StaticPartitionsDefinition(["eu", "us"])


@asset(partitions_def=regions)
def regional(context) -> pd.DataFrame:
    return pd.DataFrame({"region": [context.partition_key] * 3, "value": [1, 2, 3]})


@asset(partitions_def=regions)
def regional_summary(regional: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"region": [regional["region"].iloc[0]], "total": [int(regional["value"].sum())]})


CHAIN = [orders, orders_clean, features]
# One process per step; the fork server preloads the heavy imports so that each step starts fast, and each step takes
# the environment of the test that starts it (tests/fork_env.py).
chain_job = define_asset_job(
    "chain_job",
    selection=AssetSelection.assets(*CHAIN).without_checks(),
    executor_def=multiprocess_executor.configured({"start_method": {"forkserver": {"preload_modules": fork_env.PRELOAD}}}),
)
defs = Definitions(
    assets=[*CHAIN, regional, regional_summary],
    asset_checks=pandera_checks(CHAIN),
    jobs=[chain_job],
    resources={"io_manager": ProvenanceIOManager()},
    executor=in_process_executor,  # the CLI test runs in one process; chain_job has its own executor
)


def get_chain_job():
    """The chain as a multiprocess job (reconstructable from this module in each step's process)."""
    return defs.resolve_job_def("chain_job")
