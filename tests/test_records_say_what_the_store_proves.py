"""What a training-data record tells an outsider agrees with what the store proves: a validation that failed on
the lineage is a gap in the record as in the audit, a file's sha256 is the one its run signed, and the record's
names, dates and citation keep apart what they describe. Real Dagster runs, real files, mlcroissant reads."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import pytest
from dagster import DagsterInstance, materialize

from prov_common.cli import main
from prov_dagster import ProvenanceIOManager, provenance_asset


class Orders(pa.DataFrameModel):
    amount: float = pa.Field(ge=10.0)


@provenance_asset(schema=Orders, quality_policy="record")
def orders() -> pd.DataFrame:
    return pd.DataFrame({"amount": [1.0, 20.0, 30.0]})  # one row below 10: the check fails, the step goes on


@provenance_asset(training=True)
def features(orders: pd.DataFrame) -> pd.DataFrame:
    return orders * 2


def _record(store: str, ref: str, fmt: str, capsys: pytest.CaptureFixture, *extra: str) -> dict:
    assert main(["record", ref, "--format", fmt, "--store", store, *extra]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_a_failed_validation_on_the_lineage_is_a_gap_of_the_record_as_of_the_audit(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    store, data = str(tmp_path / "store"), tmp_path / "data"
    monkeypatch.setenv("TDPROV_STORE", store)
    with DagsterInstance.ephemeral() as instance:
        assert materialize([orders, features], instance=instance,
                           resources={"io_manager": ProvenanceIOManager(store=store, data_root=str(data))}).success
    # the orders are a registered source: the lineage is otherwise complete
    assert main(["source", "add", str(data / "orders.parquet"), "--name", "vendor-orders", "--license", "CC-BY-4.0",
                 "--issuer", "Vendor Inc", "--store", store]) == 0
    assert main(["audit", "--store", store]) == 1
    capsys.readouterr()
    report = json.loads(next((tmp_path / "store" / "audit" / "reports").glob("*/report.json")).read_text())
    (section,) = report["trainingData"]
    (failed,) = [g for g in section["article10"]["knownGaps"] if "failed Pandera schema" in g]
    sentence = failed.split("; ", 1)[0] + ")"  # the audit adds its fix inside the parentheses
    assert sentence.endswith("failed Pandera schema Orders (1 failure)") and "orders.parquet@blake3:" in sentence
    for target in ("orders.parquet", "features.parquet"):
        dta = _record(store, str(data / target), "dta", capsys)
        assert dta["lineageComplete"] is False
        assert [g for g in dta["knownGaps"] if "D&TA" not in g] == [sentence]  # the only gap of the lineage
        (check,) = dta["qualityChecks"]
        assert (check["schema"], check["passed"], check["failureCount"]) == ("Orders", False, 1)
        croissant = _record(store, str(data / target), "croissant", capsys)
        assert sentence in croissant["rai:dataLimitations"]
