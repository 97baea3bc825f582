"""A graph-backed asset (no tests in this module): ``features`` is two ops built from the asset ``raw``.

Loaded by tests/test_dagster_graph_assets.py in-process and in the processes Dagster starts for each
step, so it is configured only through the environment: ``TDPROV_STORE`` (store, data next to it),
``TDPROV_TEST_OPS_DIR`` (where the ``ops`` IO manager pickles the op output between the two steps) and
``TDPROV_TEST_FAIL_FEATURE`` (``add_feature`` raises while it is set: a run to re-execute from failure).
"""
from __future__ import annotations

import os

import fork_env
import pandas as pd
from dagster import (
    Definitions,
    FilesystemIOManager,
    Out,
    asset,
    define_asset_job,
    graph_asset,
    multiprocess_executor,
    op,
)

from prov_dagster import ProvenanceIOManager


@asset
def raw() -> pd.DataFrame:
    return pd.DataFrame({"x": [1, 2, 3], "email": ["a@x.io", "b@x.io", "c@x.io"]})


@op(out=Out(io_manager_key="ops"))
def clean_rows(raw: pd.DataFrame) -> pd.DataFrame:
    return raw[raw.x > 1]


@op
def add_feature(df: pd.DataFrame) -> pd.DataFrame:
    if os.environ.get("TDPROV_TEST_FAIL_FEATURE"):
        raise RuntimeError("add_feature lost its connection")
    return df.assign(y=df.x * 2)


@graph_asset
def features(raw: pd.DataFrame) -> pd.DataFrame:
    return add_feature(clean_rows(raw))


# one process per step, forked from the test process's fork server with the environment of the test that starts the
# run (tests/fork_env.py)
graph_job = define_asset_job("graph_job", selection=["raw", "features"], executor_def=multiprocess_executor.configured(
    {"start_method": {"forkserver": {"preload_modules": fork_env.PRELOAD}}}))
defs = Definitions(assets=[raw, features], jobs=[graph_job],
                   resources={"io_manager": ProvenanceIOManager(),
                              "ops": FilesystemIOManager(base_dir=os.environ.get("TDPROV_TEST_OPS_DIR", "ops"))})


def get_graph_job():
    """``raw`` and the graph asset ``features`` as a multiprocess job."""
    return defs.resolve_job_def("graph_job")
